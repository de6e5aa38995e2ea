/*
 * ring.h — the per-thread single-producer/single-consumer byte ring (the hot path's only
 * container). Reserve and commit are inline; everything else is in ring.c.
 *
 * Invariants: only the owning thread writes `head` and the producer fields; only the export
 * thread writes `tail`. head and tail count bytes since creation (never wrap in practice:
 * 2^64 bytes); the byte at position p lives at buf[p & mask]. An event never straddles the
 * end of the buffer: when it would, a PAD event fills the rest and the event starts at 0.
 * The producer publishes with a release store of head; the consumer frees space with a
 * release store of tail. Producer and consumer fields sit on separate cache lines.
 */
#ifndef WEFT_RING_H
#define WEFT_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "event.h"

#define WEFT__CACHELINE 64

typedef struct weft__ring {
    /* Producer line: written by the owning thread only. */
    _Alignas(WEFT__CACHELINE) _Atomic uint64_t head; /* published end of committed events */
    uint64_t wpos;        /* producer's private write position (>= head) */
    uint64_t tail_cache;  /* producer's last view of tail */
    _Atomic uint64_t dropped; /* events dropped because the ring was full (consumer reads) */
    _Atomic uint64_t dropped_spans; /* spans whose begin or end event was among them (span.c
                                       counts, once per span; owner writes, anyone reads) */
    uint64_t wake_at;     /* producer: next write position at which to look at the fill level
                             (so a lagging consumer costs one tail read per 1/8 ring, not one
                             per event) */
    /* Read-only after init. */
    _Alignas(WEFT__CACHELINE) char *buf;
    uint64_t cap, mask;
    uint64_t hwm;         /* bytes in use that wake the export thread early */
    uint32_t max_event;   /* largest event accepted (cap / 4) */
    /* Consumer line. */
    _Alignas(WEFT__CACHELINE) _Atomic uint64_t tail;
    _Atomic uint32_t wake_pending; /* set by the producer when it signals high water (rare);
                                      cleared by the consumer after each drain, so it lives
                                      here, not on the producer's line */
} weft__ring;

/* Ring buffers allocated and not yet freed, process-wide (for tests: memory held by rings is
 * this times the ring size). */
uint64_t weft__ring_allocated(void);

/* cap: a power of two >= 4096. Returns false when the allocation fails. */
bool weft__ring_init(weft__ring *r, uint64_t cap);
void weft__ring_fini(weft__ring *r);
/* Forgets all content (only while no producer and no consumer use the ring). */
void weft__ring_reset(weft__ring *r);

/* Slow path of reserve: reloads tail, writes a PAD when wrapping; NULL when full (counted). */
void *weft__ring_reserve_slow(weft__ring *r, uint32_t size);
/* Slow path of commit: asks the export thread to drain early (once until it has). */
void weft__ring_wake(weft__ring *r);

/* Returns room for `size` bytes (a multiple of 8, <= max_event) or NULL when the ring is
 * full; the event is dropped and counted. Producer thread only. */
static inline void *weft__ring_reserve(weft__ring *r, uint32_t size)
{
    uint64_t pos = r->wpos;
    uint64_t off = pos & r->mask;
    if (__builtin_expect(off + size <= r->cap && pos + size - r->tail_cache <= r->cap, 1))
        return r->buf + off;
    return weft__ring_reserve_slow(r, size);
}

/* Publishes the event reserved last. Producer thread only. */
static inline void weft__ring_commit(weft__ring *r, uint32_t size)
{
    uint64_t pos = r->wpos + size;
    r->wpos = pos;
    atomic_store_explicit(&r->head, pos, memory_order_release);
    if (__builtin_expect(pos >= r->wake_at, 0))
        weft__ring_wake(r);
}

/* Consumer: calls fn on each committed event (PAD skipped) and frees the space. Returns the
 * number of events consumed. */
typedef void (*weft__ring_fn)(void *ctx, const weft__ev *ev);
uint64_t weft__ring_drain(weft__ring *r, weft__ring_fn fn, void *ctx);
/* The same, stopping at the first event that starts max_bytes or more past the tail it found,
 * so one call reads a bounded slice (the export thread's working set stays small whatever the
 * ring holds). The rest stays in the ring for the next call. */
uint64_t weft__ring_drain_max(weft__ring *r, weft__ring_fn fn, void *ctx, uint64_t max_bytes);

#endif
