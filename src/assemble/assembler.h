/*
 * assembler.h — turns the events drained from every ring into span records (export thread).
 *
 * Ordering across rings: a span may begin on one thread and get attributes or its end on
 * others, so the export thread can see a later event before an earlier one that sits in a
 * ring it read first. The assembler therefore works in rounds (one pass over every ring):
 * an event for a span it does not know yet is parked and retried after the next round, and a
 * span that ended is emitted only after the next round, when everything that happened before
 * its end has been read (every ring's snapshot in round k+1 is later than all of round k's).
 *
 * Memory: open spans live in a table bounded by max_open_spans; records are pooled.
 */
#ifndef WEFT_ASSEMBLER_H
#define WEFT_ASSEMBLER_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "clock.h"
#include "event.h"
#include "record.h"
#include "summary.h"

/* Receives each finished record: completed (end_ns set), in progress (end_ns 0), or still
 * open at shutdown (final_open). The record is only valid during the call. */
typedef void (*weft__emit_fn)(void *ctx, weft__rec *r, bool final_open);

typedef struct weft__asm_slot {
    uint64_t id;     /* 0: empty; TOMB: deleted */
    weft__rec *rec;
} weft__asm_slot;

typedef struct weft__asm_open {
    weft__rec *rec;
    uint64_t id, due_ns;
} weft__asm_open;

typedef struct weft__recvec {
    weft__rec **v;
    size_t n, cap;
} weft__recvec;

typedef struct weft__asm {
    weft__asm_slot *tab; /* open-addressing table of open spans, power-of-two capacity */
    uint64_t last_id;    /* one-entry cache of the last lookup: a span's events mostly come */
    weft__rec *last_rec; /* in a row (begin, attributes, end on one thread) */
    size_t cap, count, tombs, max_open;
    weft__recvec pool;          /* recycled records */
    weft__recvec ended_prev;    /* ended during the previous round: emitted after this one */
    weft__recvec ended_cur;
    weft__buf parked_prev, parked_cur; /* copies of events for spans not known yet */
    weft__asm_open *fifo;       /* spans to upsert in progress, in begin order (ring buffer) */
    size_t fifo_head, fifo_n, fifo_cap;
    int64_t inprogress_after_ms; /* -1: never */
    bool want_inprogress;
    weft__clock *clock;
    weft__summaries *summaries;
    weft__buf scratch;
    weft__emit_fn emit;
    void *emit_ctx;
    uint64_t max_attr_bytes;
} weft__asm;

int weft__asm_init(weft__asm *a, weft__clock *clock, weft__emit_fn emit, void *ctx);
void weft__asm_fini(weft__asm *a);
/* One event from a ring (the weft__ring_fn of weft__ring_drain; ctx is the weft__asm). */
void weft__asm_event(void *a, const weft__ev *ev);
/* After a pass over every ring: retry parked events, emit what ended a round ago, and upsert
 * in progress what has been open for inprogress_after_ms. now_ns: Unix time. */
void weft__asm_round_end(weft__asm *a, uint64_t now_ns);
/* Shutdown: emit everything still ended or open (open spans as final_open records). */
void weft__asm_finish(weft__asm *a);

#endif
