/*
 * discard.c — an exporter that has every record encoded as the SGP item (`discard`) or as the
 * OTLP Span (`discard_otlp`) and then drops the bytes, counting each batch as exported. For measuring what weft costs up to the wire
 * (drain, assemble, encode) with no network in the way — the counterpart of the "exporter that
 * drops" used when comparing with other tracers (DESIGN.md section 8). `none`, by contrast,
 * selects no exporter, and then nothing is encoded at all.
 */
#include "exporter.h"

static int discard_open(weft__exporter *ex) { return 0; }

static void discard_submit(weft__exporter *ex, weft__batch *b) { weft__batch_done(b, 0); }

static bool discard_drain(weft__exporter *ex, uint64_t deadline) { return true; }
static void discard_close(weft__exporter *ex) {}

const weft__exporter_ops weft__exporter_discard = {
    .name = "discard",
    .encoding = WEFT__ENC_SGP_JSON,
    .wants_inprogress = false,
    .open = discard_open,
    .submit = discard_submit,
    .drain = discard_drain,
    .close = discard_close,
};

/* The same with the otlp exporter's encoding, so the export thread's cost per span can be
 * measured for OTLP protobuf beside SGP JSON (bench/bench_consumer.c). */
const weft__exporter_ops weft__exporter_discard_otlp = {
    .name = "discard_otlp",
    .encoding = WEFT__ENC_OTLP,
    .wants_inprogress = false,
    .open = discard_open,
    .submit = discard_submit,
    .drain = discard_drain,
    .close = discard_close,
};
