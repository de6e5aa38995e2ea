/*
 * exporter.h — the one small interface between the export thread and an exporter. An exporter
 * is one file plus one static const weft__exporter_ops table; the worker never names one.
 *
 * Threading: every op runs on the export thread (the libuv loop thread), except open, which
 * runs on the thread calling weft_init before the loop thread starts (so it may set up loop
 * handles but must not wait for the loop). An exporter may use the loop (timers, polls, curl
 * multi) and must never block it.
 *
 * Lifecycle: open once after the loop exists; submit any number of batches (each ends in
 * exactly one weft__batch_done call by this exporter, now or later); at shutdown, drain is
 * called until it reports done or its deadline passes; then close frees.
 *
 * An HTTP exporter leaves all of that to the delivery engine (src/deliver/engine.h): its ops
 * forward to weft__engine_submit / _drain / _free, and the engine makes the one
 * weft__batch_done call per batch.
 *
 * The exporters weft knows are listed once, in registry.c; configuration validates
 * WEFT_EXPORTER against that list and the worker opens what it selects.
 */
#ifndef WEFT_EXPORTER_H
#define WEFT_EXPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "encoding.h"

struct uv_loop_s;
struct weft__runtime;

typedef struct weft__exporter weft__exporter;

typedef struct weft__exporter_ops {
    const char *name;      /* the WEFT_EXPORTER word that selects it */
    weft__encoding encoding; /* the bytes it reads from each batch (encoding.h) */
    bool wants_inprogress; /* receives in-progress records (SGP); others get completed only */
    /* Returns 0 or a negative WEFT_E* code (weft_init fails with it). May set ex->state. */
    int (*open)(weft__exporter *ex);
    /* Takes a reference to the batch (already counted in refs by the worker). */
    void (*submit)(weft__exporter *ex, weft__batch *b);
    /* Shutdown: called repeatedly on the loop until it returns true (done) or the deadline
     * (uv_now ms) passes; after the deadline it must finish at once, counting undelivered
     * records in weft_stats.dropped_export. */
    bool (*drain)(weft__exporter *ex, uint64_t deadline_ms);
    void (*close)(weft__exporter *ex);
} weft__exporter_ops;

struct weft__exporter {
    const weft__exporter_ops *ops;
    struct weft__runtime *rt;  /* borrowed */
    struct uv_loop_s *loop;    /* borrowed: the export thread's loop */
    void *state;               /* owned by the exporter, freed in close */
};

#endif
