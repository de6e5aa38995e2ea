/*
 * assembler.h — turns the events drained from every ring into span records (export thread).
 *
 * Ordering across rings: a span may begin on one thread and get attributes or its end on
 * others, so the export thread can see a later event before an earlier one that sits in a
 * ring it read first. The assembler therefore works in rounds (one pass over every ring, each
 * ring read up to a bounded slice): every ended span and every event for a span it does not
 * know yet is tagged with the round it was read in and the ring (source) it came from. An
 * item of round k from source B is final once every other ring has been read up to a head it
 * had after round k (then everything that happened before the item has been read): ended
 * spans are emitted then, and a parked event whose span is still unknown then is counted as a
 * no-op. The worker tells the assembler how far the rings are read (weft__asm_frontier); the
 * item's own ring needs no wait, since a ring is read in order.
 *
 * Memory: open spans live in a table bounded by max_open_spans; records are pooled. What one
 * round holds is bounded by the slice the worker reads from each ring, so the working set of
 * the export thread does not grow with the size of the rings (a 64 MiB ring is read in many
 * short rounds, not in one long one).
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
    uint64_t id;     /* 0: empty */
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

/* An ended span waiting for the rounds after its end (see above). */
typedef struct weft__asm_ended {
    weft__rec *rec;
    uint64_t round;
    uint32_t src;
} weft__asm_ended;

typedef struct weft__endedvec {
    weft__asm_ended *v;
    size_t n, cap;
} weft__endedvec;

/* How far the worker has read the rings, after a round: every ring other than min_src has been
 * read past a head it had in round `min` or later, and min_src past one of round `min2`
 * (min2 >= min; min_src UINT32_MAX and min2 == min when no one ring lags alone). An item of
 * round k from source B is final when k < (B == min_src ? min2 : min). */
typedef struct weft__asm_frontier {
    uint64_t min, min2;
    uint32_t min_src;
} weft__asm_frontier;

typedef struct weft__asm {
    weft__asm_slot *tab; /* open-addressing table of open spans, power-of-two capacity */
    uint64_t last_id;    /* one-entry cache of the last lookup: a span's events mostly come */
    weft__rec *last_rec; /* in a row (begin, attributes, end on one thread) */
    size_t cap, count, max_open;
    weft__recvec pool;          /* recycled records */
    uint64_t round;             /* the round being read (items read now are tagged with it) */
    uint32_t src;               /* the ring being read (weft__asm_source) */
    weft__endedvec ended;       /* ended, not final yet; in round order */
    weft__buf parked, reparked; /* events for spans not known yet, each after a park_tag */
    weft__recvec final;         /* scratch of round_end: the ended spans it emits */
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
/* The ring the next events come from (any small number naming it; 0 unless told). */
static inline void weft__asm_source(weft__asm *a, uint32_t src) { a->src = src; }
/* One event from a ring (the weft__ring_fn of weft__ring_drain; ctx is the weft__asm). */
void weft__asm_event(void *a, const weft__ev *ev);
/* After a pass over the rings that read every ring up to a head it had in this round: retry
 * parked events, emit what ended in earlier rounds, and upsert in progress what has been open
 * for inprogress_after_ms. now_ns: Unix time. */
void weft__asm_round_end(weft__asm *a, uint64_t now_ns);
/* The same after a pass that may have read some rings only in part: f says how far. */
void weft__asm_round_end_at(weft__asm *a, uint64_t now_ns, const weft__asm_frontier *f);
/* Items (ended spans and parked events) not final yet. */
static inline size_t weft__asm_waiting(const weft__asm *a) { return a->ended.n + (a->parked.len != 0); }
/* Shutdown: emit everything still ended or open (open spans as final_open records). */
void weft__asm_finish(weft__asm *a);

#endif
