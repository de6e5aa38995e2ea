/*
 * fuzz_ring_events.c — the ring event decoder (the assembler) on arbitrary bytes: the input is
 * laid into a ring as if a producer had written it, drained, assembled over two rounds and
 * finished, and every record that comes out is encoded and must parse with jansson. Event
 * sizes and inner lengths that do not fit must be caught (weft turns itself off, counted),
 * never read out of bounds. Begin events naming a static call site carry a pointer into the
 * producer's own memory, which the decoder trusts by design; the harness clears that flag.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "assembler.h"
#include "encode.h"
#include "json.h"
#include "ring.h"
#include "runtime.h"

static weft__buf out;

static void emit(void *ctx, weft__rec *r, bool final_open)
{
    (void)ctx;
    (void)final_open;
    weft__encode_opts o = {.salt = 42};
    weft__buf_reset(&out);
    weft__encode_span(&out, r, &o);
    json_error_t err;
    /* INT_AS_REAL: JSON integers past 2^63 (a msgpack uint64) are valid; jansson refuses
     * them as integers. */
    json_t *j = json_loadb(out.data, out.len, JSON_DECODE_INT_AS_REAL, &err);
    if (!j) {
        fprintf(stderr, "not JSON (%s at %d): %.*s\n", err.text, err.position, (int)out.len, out.data);
        abort();
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        weft__cfg_load(&weft__rt.cfg, NULL);
        weft__rt.cfg.log_level = WEFT_LOG_ERROR;
        weft__rt.cfg.log = NULL;
        weft__buf_init(&out);
        ready = 1;
    }
    weft__ring r;
    if (!weft__ring_init(&r, 1u << 16))
        return 0;
    size_t n = size & ~(size_t)7;
    if (n > r.cap)
        n = r.cap;
    memcpy(r.buf, data, n);
    /* Clear the static-site flag of every would-be begin event along the walk. */
    for (size_t off = 0; off + sizeof(weft__ev) <= n;) {
        weft__ev *ev = (weft__ev *)(r.buf + off);
        if (ev->kind == WEFT__EV_BEGIN && off + sizeof(weft__ev_begin) <= r.cap)
            ((weft__ev_begin *)ev)->flags &= ~WEFT__EVF_SITE;
        if (ev->size < 8 || (ev->size & 7))
            break;
        off += ev->size;
    }
    atomic_store(&r.head, n);
    weft__clock clock = {.use_tsc = 0, .t0 = 0, .unix0_ns = 1700000000000000000ull, .ns_per_tick = 1.0};
    weft__asm a;
    if (weft__asm_init(&a, &clock, emit, NULL) == 0) {
        a.want_inprogress = data[0] & 1;
        a.inprogress_after_ms = 0;
        weft__ring_drain(&r, weft__asm_event, &a);
        weft__asm_round_end(&a, UINT64_MAX / 2);
        weft__asm_finish(&a);
        weft__asm_fini(&a);
    }
    weft__ring_fini(&r);
    atomic_store(&weft__rt.hot.enabled, 1); /* an internal error turned it off: next input */
    atomic_store(&weft__rt.logged_internal, 1);
    return 0;
}
