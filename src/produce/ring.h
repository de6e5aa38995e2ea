/*
 * ring.h — the per-thread single-producer/single-consumer byte ring (the hot path's only
 * container). Reserve and commit are inline; everything else is in ring.c.
 *
 * Positions: head and tail count bytes since the ring was created (never wrap in practice:
 * 2^64 bytes), across every buffer the ring has used. The ring's memory is one buffer at a
 * time for the producer, mapped lazily (ring.c: MAP_NORESERVE, pages committed as they are
 * written or a little ahead, never at registration). A buffer holds the positions from its
 * `start` on, the byte at position p at buf[p & mask]. An event never straddles the end of a
 * buffer: when it would, a PAD event fills the rest and the event starts at offset 0.
 *
 * Growth (issue 11 item 3): when an event does not fit and the buffer is smaller than
 * max_cap, the producer maps a buffer twice as big into a free entry of slot[], writes a
 * SWITCH event naming that entry at the end of what it wrote, and goes on in the new buffer
 * (no lock, no wait: one mmap on the rare full event). The consumer reads the old buffer up to
 * the SWITCH, unmaps it, frees its entry and reads on in the new one: positions go on, so the
 * export thread's progress marks (worker.c) need not know. To keep room for the SWITCH, a
 * buffer that may still grow accepts events only up to `lim` = cap - WEFT__RING_SWITCH_ROOM.
 * Shrinking is the same move to a buffer of base_cap: the consumer asks for it (shrink_req)
 * once the ring has stayed below high water for WEFT__RING_CALM_NS, the producer does it on
 * its next call. A ring whose max_cap is its cap behaves exactly as a fixed ring.
 *
 * Ownership: only the owning thread writes head and the producer fields; only the export
 * thread writes tail and the consumer fields. slot[i].buf goes from NULL to a buffer on the
 * producer (published by the release store of head that publishes the SWITCH) and back to
 * NULL on the consumer, after it unmapped it (release; the producer reads it with acquire
 * before reusing the entry). wake_at is the producer's, but the consumer may store 0 into it
 * to bring the producer into the slow path (a shrink request); a lost request is repeated.
 */
#ifndef WEFT_RING_H
#define WEFT_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "event.h"

#define WEFT__CACHELINE 64
#define WEFT__RING_SLOTS 16u          /* buffers a ring may hold at once (in use + draining) */
#define WEFT__RING_SWITCH_ROOM 24u    /* a SWITCH (16 bytes) after a PAD of one word */
#define WEFT__RING_TOUCH (64u << 10)  /* pages committed ahead of the producer, per step */
#define WEFT__RING_CALM_NS 1000000000u /* below high water this long: shrink back */

typedef struct weft__ring_slot {
    _Atomic(char *) buf; /* NULL: free */
    uint64_t cap;        /* written by the producer before buf is published */
} weft__ring_slot;

typedef struct weft__ring {
    /* Producer line: written by the owning thread only (wake_at: see above). */
    _Alignas(WEFT__CACHELINE) _Atomic uint64_t head; /* published end of committed events */
    uint64_t wpos;        /* producer's private write position (>= head) */
    uint64_t tail_cache;  /* producer's last view of tail, raised to `start` (the buffer
                             holds nothing older) */
    _Atomic uint64_t dropped; /* events dropped because the ring was full (consumer reads) */
    _Atomic uint64_t dropped_spans; /* spans whose begin or end event was among them (span.c
                                       counts, once per span; owner writes, anyone reads) */
    _Atomic uint64_t wake_at; /* producer: next write position at which to look at the fill
                                 level, commit pages ahead or act on a shrink request (so a
                                 lagging consumer costs one tail read per 1/8 ring, not one
                                 per event) */
    /* The producer's buffer: owner-only, changed by a switch. */
    _Alignas(WEFT__CACHELINE) char *buf;
    uint64_t cap, mask;
    uint64_t lim;         /* most bytes in use (cap, or less the SWITCH room while it may grow) */
    uint64_t start;       /* first position this buffer holds */
    uint64_t touched;     /* pages are committed up to this position (first lap only) */
    uint64_t lap_end;     /* start + cap: past it every page has been written once */
    uint32_t slot;        /* entry of slot[] holding buf */
    uint32_t max_event;   /* largest event accepted (base_cap / 4), read-only after init */
    /* Read-only after init. */
    _Alignas(WEFT__CACHELINE) uint64_t base_cap, max_cap;
    uint64_t hwm;         /* bytes in use that wake the export thread early (base_cap / 2) */
    /* Consumer line. */
    _Alignas(WEFT__CACHELINE) _Atomic uint64_t tail;
    _Atomic uint32_t wake_pending; /* set by the producer when it signals high water (rare);
                                      cleared by the consumer after each drain, so it lives
                                      here, not on the producer's line */
    _Atomic uint32_t shrink_req;   /* consumer asks, producer clears */
    char *cbuf;                    /* the buffer the consumer reads, its mask and slot */
    uint64_t cmask;
    uint32_t cslot;
    uint64_t calm_since;           /* consumer: since when the ring has been below high water
                                      in a grown buffer (0: not yet looked) */
    /* Buffers: the producer's, and any the consumer has not finished reading. */
    _Alignas(WEFT__CACHELINE) weft__ring_slot slot_[WEFT__RING_SLOTS];
} weft__ring;

/* Ring buffers mapped and not yet unmapped, process-wide (for tests: rings are counted by
 * their buffers; a growing ring briefly holds two or more). */
uint64_t weft__ring_allocated(void);

/* cap: a power of two >= 4096; max_cap: cap or a larger power of two (the growth ceiling).
 * Maps the first buffer without committing any page. Returns false when mapping fails. */
bool weft__ring_init_grow(weft__ring *r, uint64_t cap, uint64_t max_cap);
/* A ring that never grows (max_cap == cap). */
bool weft__ring_init(weft__ring *r, uint64_t cap);
void weft__ring_fini(weft__ring *r);
/* Forgets all content and goes back to one buffer of base_cap (only while no producer and no
 * consumer use the ring). False when a new buffer could not be mapped (the ring then has
 * none: weft__ring_fini and init again). */
bool weft__ring_reset(weft__ring *r);
/* Commits the pages of the next `bytes` bytes the producer will write (one madvise; the
 * registration paths call it so that the first events fault nothing). */
void weft__ring_touch(weft__ring *r, uint64_t bytes);

/* Slow path of reserve: reloads tail, grows the ring or writes a PAD when wrapping; NULL when
 * full at the ceiling (counted). */
void *weft__ring_reserve_slow(weft__ring *r, uint32_t size);
/* Slow path of commit: asks the export thread to drain early (once until it has), commits
 * pages ahead, shrinks on request. */
void weft__ring_wake(weft__ring *r);

/* Returns room for `size` bytes (a multiple of 8, <= max_event) or NULL when the ring is
 * full; the event is dropped and counted. Producer thread only. */
static inline void *weft__ring_reserve(weft__ring *r, uint32_t size)
{
    uint64_t pos = r->wpos;
    uint64_t off = pos & r->mask;
    if (__builtin_expect(off + size <= r->cap && pos + size - r->tail_cache <= r->lim, 1))
        return r->buf + off;
    return weft__ring_reserve_slow(r, size);
}

/* Publishes the event reserved last. Producer thread only. */
static inline void weft__ring_commit(weft__ring *r, uint32_t size)
{
    uint64_t pos = r->wpos + size;
    r->wpos = pos;
    atomic_store_explicit(&r->head, pos, memory_order_release);
    if (__builtin_expect(pos >= atomic_load_explicit(&r->wake_at, memory_order_relaxed), 0))
        weft__ring_wake(r);
}

/* Consumer: calls fn on each committed event (PAD and SWITCH skipped; a SWITCH moves to the
 * next buffer and unmaps the old one) and frees the space. Returns the number of events
 * consumed. */
typedef void (*weft__ring_fn)(void *ctx, const weft__ev *ev);
uint64_t weft__ring_drain(weft__ring *r, weft__ring_fn fn, void *ctx);
/* The same, stopping at the first event that starts max_bytes or more past the tail it found,
 * so one call reads a bounded slice (the export thread's working set stays small whatever the
 * ring holds). The rest stays in the ring for the next call. */
uint64_t weft__ring_drain_max(weft__ring *r, weft__ring_fn fn, void *ctx, uint64_t max_bytes);
/* Consumer, after a drain: asks the producer to shrink back to base_cap once the ring has been
 * below high water in a grown buffer for WEFT__RING_CALM_NS (now_ns: any monotonic clock). */
void weft__ring_consumer_tick(weft__ring *r, uint64_t now_ns);

#endif
