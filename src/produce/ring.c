/*
 * ring.c — slow paths of the per-thread ring (see ring.h for the layout and invariants):
 * allocation, the full/wrap case of reserve, the high-water wake-up and the consumer's drain.
 */
#include "ring.h"

#include <stdlib.h>

#include "runtime.h"
#include "wake.h"

/* Buffers allocated and not freed (weft__ring_allocated). */
static _Atomic uint64_t allocated;

uint64_t weft__ring_allocated(void) { return atomic_load_explicit(&allocated, memory_order_relaxed); }

bool weft__ring_init(weft__ring *r, uint64_t cap)
{
    memset(r, 0, sizeof(*r));
    r->buf = aligned_alloc(64, cap);
    if (!r->buf)
        return false;
    atomic_fetch_add_explicit(&allocated, 1, memory_order_relaxed);
    /* Touch every page now, at registration, so no first-touch page fault lands on the hot
     * path later (a 4 KiB fault costs microseconds). */
    memset(r->buf, 0, cap);
    r->cap = cap;
    r->mask = cap - 1;
    r->hwm = cap / 2; /* wake the export thread when half full: it drains ~2M events/s, so
                         a 1 MiB ring has ~6 ms of headroom at 1 M spans/s */
    r->max_event = (uint32_t)(cap / 4);
    r->wake_at = r->hwm;
    return true;
}

void weft__ring_fini(weft__ring *r)
{
    if (r->buf)
        atomic_fetch_sub_explicit(&allocated, 1, memory_order_relaxed);
    free(r->buf);
    r->buf = NULL;
}

void weft__ring_reset(weft__ring *r)
{
    atomic_store_explicit(&r->head, 0, memory_order_relaxed);
    atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
    atomic_store_explicit(&r->wake_pending, 0, memory_order_relaxed);
    r->wpos = 0;
    r->tail_cache = 0;
    r->wake_at = r->hwm;
}

static void *drop(weft__ring *r)
{
    /* Only the owner writes `dropped`: a plain load+store, no locked instruction. */
    atomic_store_explicit(&r->dropped, atomic_load_explicit(&r->dropped, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return NULL;
}

void *weft__ring_reserve_slow(weft__ring *r, uint32_t size)
{
    if (size > r->max_event)
        return drop(r);
    uint64_t pos = r->wpos;
    uint64_t off = pos & r->mask;
    uint64_t pad = (off + size > r->cap) ? r->cap - off : 0;
    if (pos + pad + size - r->tail_cache > r->cap) {
        r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
        if (pos + pad + size - r->tail_cache > r->cap) {
            weft__ring_wake(r);
            return drop(r);
        }
    }
    if (pad) {
        /* pad may be only 8 bytes: write size and kind, never the rest of a header. */
        weft__ev *p = (weft__ev *)(r->buf + off);
        p->size = (uint32_t)pad;
        p->kind = WEFT__EV_PAD;
        /* The pad is published together with the event that follows it. */
        r->wpos = pos + pad;
    }
    return r->buf + (r->wpos & r->mask);
}

void weft__ring_wake(weft__ring *r)
{
    r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (r->wpos - r->tail_cache < r->hwm) {
        r->wake_at = r->tail_cache + r->hwm;
        return;
    }
    r->wake_at = r->wpos + r->cap / 8;
    if (atomic_load_explicit(&r->wake_pending, memory_order_relaxed))
        return;
    atomic_store_explicit(&r->wake_pending, 1, memory_order_relaxed);
    weft__wake();
}

uint64_t weft__ring_drain(weft__ring *r, weft__ring_fn fn, void *ctx)
{
    return weft__ring_drain_max(r, fn, ctx, UINT64_MAX);
}

uint64_t weft__ring_drain_max(weft__ring *r, weft__ring_fn fn, void *ctx, uint64_t max_bytes)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    /* Events that start before stop are read (one may end past it). */
    uint64_t stop = head - tail > max_bytes ? tail + max_bytes : head;
    uint64_t n = 0;
    while (tail < stop) {
        const weft__ev *ev = (const weft__ev *)(r->buf + (tail & r->mask));
        /* A PAD may be a single 8-byte word (only size and kind are written). */
        uint32_t min = ev->kind == WEFT__EV_PAD ? 8u : (uint32_t)sizeof(weft__ev);
        if (ev->size < min || ev->size > head - tail || (ev->size & 7u)) {
            /* A corrupt size would walk the consumer off the ring: give the ring up. */
            weft__internal_error("ring event with an impossible size");
            tail = head;
            break;
        }
        if (ev->kind != WEFT__EV_PAD) {
            fn(ctx, ev);
            n++;
        }
        tail += ev->size;
    }
    atomic_store_explicit(&r->tail, tail, memory_order_release);
    atomic_store_explicit(&r->wake_pending, 0, memory_order_relaxed);
    return n;
}
