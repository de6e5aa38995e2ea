/*
 * ring.c — slow paths of the per-thread ring (see ring.h for the layout and invariants):
 * buffers (lazy mappings), the full/wrap case of reserve and growth, the high-water wake-up,
 * pages committed ahead of the producer, shrinking, and the consumer's drain.
 *
 * Memory: a buffer is an anonymous MAP_NORESERVE mapping with huge pages refused (a huge page
 * would make the first touch zero 2 MiB). Nothing is committed when a ring is made: a thread's
 * first events fault in only the pages they write (the registration paths may commit the
 * first pages ahead, thread.c). Past the first WEFT__RING_TOUCH bytes the producer commits
 * the next WEFT__RING_TOUCH bytes with one madvise(MADV_POPULATE_WRITE) from its slow path,
 * so it takes one system call per 64 KiB of the first lap instead of sixteen page faults on
 * the hot path; after the first lap every page is resident and nothing more is done. Where
 * the kernel lacks MADV_POPULATE_WRITE (before 5.14) the pages simply fault in as written.
 */
#include "ring.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "runtime.h"
#include "wake.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define PAGE 4096u

/* Buffers mapped and not unmapped (weft__ring_allocated). */
static _Atomic uint64_t allocated;

uint64_t weft__ring_allocated(void) { return atomic_load_explicit(&allocated, memory_order_relaxed); }

static char *map_buf(uint64_t cap)
{
    void *m = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    (void)madvise(m, cap, MADV_NOHUGEPAGE); /* advice only: a kernel without THP refuses it */
    atomic_fetch_add_explicit(&allocated, 1, memory_order_relaxed);
    return m;
}

static void unmap_buf(char *b, uint64_t cap)
{
    munmap(b, cap);
    atomic_fetch_sub_explicit(&allocated, 1, memory_order_relaxed);
}

/* A buffer that may still grow keeps room for the SWITCH that leaves it. */
static uint64_t lim_of(const weft__ring *r, uint64_t cap)
{
    return cap < r->max_cap ? cap - WEFT__RING_SWITCH_ROOM : cap;
}

/* The producer goes on in slot i from position pos (an empty buffer). */
static void use_buf(weft__ring *r, uint32_t i, uint64_t pos)
{
    r->buf = atomic_load_explicit(&r->slot_[i].buf, memory_order_relaxed);
    r->cap = r->slot_[i].cap;
    r->mask = r->cap - 1;
    r->lim = lim_of(r, r->cap);
    r->slot = i;
    r->start = pos;
    r->tail_cache = pos;
    r->touched = pos;
    r->lap_end = pos + r->cap;
}

/* Commits the pages of positions [touched, upto) that the first lap has not reached. */
static void touch_to(weft__ring *r, uint64_t upto)
{
    if (upto > r->lap_end)
        upto = r->lap_end;
    if (upto <= r->touched)
        return;
    uint64_t a = r->touched & ~(uint64_t)(PAGE - 1);
    uint64_t b = (upto + PAGE - 1) & ~(uint64_t)(PAGE - 1);
    while (a < b) {
        uint64_t off = a & r->mask;
        uint64_t n = b - a;
        if (off + n > r->cap)
            n = r->cap - off;
        if (madvise(r->buf + off, n, MADV_POPULATE_WRITE) != 0) {
            r->touched = r->lap_end; /* not supported here: pages fault in as written */
            return;
        }
        a += n;
    }
    r->touched = upto;
}

void weft__ring_touch(weft__ring *r, uint64_t bytes)
{
    /* From wpos, even below `touched`: the first WEFT__RING_TOUCH bytes of a ring are left to
     * fault in as written, and the registration paths want them committed. */
    uint64_t was = r->touched;
    if (r->wpos < r->lap_end && r->wpos < r->touched) /* past the first lap all are resident */
        r->touched = r->wpos;
    touch_to(r, r->wpos + bytes);
    if (r->touched < was)
        r->touched = was;
    /* And write each of those pages once from user space: on a VM with shadow page tables
     * the first user access to a page the kernel populated is a hidden exit to the
     * hypervisor (measured 5-50 us), which would otherwise land on the first span. Only
     * bytes at or past wpos are written: nothing the consumer may read. */
    uint64_t end = r->wpos + bytes < r->lap_end ? r->wpos + bytes : r->lap_end;
    for (uint64_t p = r->wpos; p < end; p = (p | (PAGE - 1)) + 1)
        ((volatile char *)r->buf)[p & r->mask] = 0;
}

/* The next position at which the producer looks again, given the tail it just read: the
 * high-water level, or (while the consumer lags) every eighth of the initial size; and
 * before the committed pages run out. */
static uint64_t next_check(const weft__ring *r, uint64_t tail)
{
    uint64_t next = r->wpos - tail < r->hwm ? tail + r->hwm : r->wpos + r->hwm / 4;
    if (r->touched < r->lap_end && r->touched - WEFT__RING_TOUCH / 2 < next)
        next = r->touched - WEFT__RING_TOUCH / 2;
    return next;
}

bool weft__ring_init_grow(weft__ring *r, uint64_t cap, uint64_t max_cap)
{
    memset(r, 0, sizeof(*r));
    r->base_cap = cap;
    r->max_cap = max_cap > cap ? max_cap : cap;
    r->hwm = cap / 2; /* wake the export thread when half of the initial size is in use: it
                         drains ~2M events/s, so a 1 MiB ring has ~6 ms of headroom at
                         1 M spans/s before it grows */
    r->max_event = (uint32_t)(cap / 4);
    char *b = map_buf(cap);
    if (!b)
        return false;
    r->slot_[0].cap = cap;
    atomic_store_explicit(&r->slot_[0].buf, b, memory_order_relaxed);
    use_buf(r, 0, 0);
    /* The first pages fault in as the first events write them (committing them here would be
     * the registration's cost, and a thread may never write that far). */
    r->touched = WEFT__RING_TOUCH < r->lap_end ? WEFT__RING_TOUCH : r->lap_end;
    r->cbuf = b;
    r->cmask = cap - 1;
    r->cslot = 0;
    atomic_store_explicit(&r->wake_at, next_check(r, 0), memory_order_relaxed);
    return true;
}

bool weft__ring_init(weft__ring *r, uint64_t cap) { return weft__ring_init_grow(r, cap, cap); }

void weft__ring_fini(weft__ring *r)
{
    for (uint32_t i = 0; i < WEFT__RING_SLOTS; i++) {
        char *b = atomic_load_explicit(&r->slot_[i].buf, memory_order_relaxed);
        if (b)
            unmap_buf(b, r->slot_[i].cap);
        atomic_store_explicit(&r->slot_[i].buf, NULL, memory_order_relaxed);
    }
    r->buf = r->cbuf = NULL;
}

bool weft__ring_reset(weft__ring *r)
{
    /* Keep the producer's buffer when it has the initial size (its pages are resident). */
    uint32_t keep = (r->buf && r->cap == r->base_cap) ? r->slot : WEFT__RING_SLOTS;
    bool lapped = keep < WEFT__RING_SLOTS && r->touched >= r->lap_end;
    for (uint32_t i = 0; i < WEFT__RING_SLOTS; i++) {
        char *b = atomic_load_explicit(&r->slot_[i].buf, memory_order_relaxed);
        if (b && i != keep) {
            unmap_buf(b, r->slot_[i].cap);
            atomic_store_explicit(&r->slot_[i].buf, NULL, memory_order_relaxed);
        }
    }
    r->buf = r->cbuf = NULL;
    if (keep == WEFT__RING_SLOTS) {
        char *b = map_buf(r->base_cap);
        if (!b)
            return false;
        keep = 0;
        r->slot_[0].cap = r->base_cap;
        atomic_store_explicit(&r->slot_[0].buf, b, memory_order_relaxed);
    }
    atomic_store_explicit(&r->head, 0, memory_order_relaxed);
    atomic_store_explicit(&r->tail, 0, memory_order_relaxed);
    atomic_store_explicit(&r->wake_pending, 0, memory_order_relaxed);
    atomic_store_explicit(&r->shrink_req, 0, memory_order_relaxed);
    r->wpos = 0;
    use_buf(r, keep, 0);
    if (lapped)
        r->touched = r->lap_end;
    else
        r->touched = WEFT__RING_TOUCH < r->lap_end ? WEFT__RING_TOUCH : r->lap_end;
    r->cbuf = r->buf;
    r->cmask = r->mask;
    r->cslot = keep;
    r->calm_since = 0;
    atomic_store_explicit(&r->wake_at, next_check(r, 0), memory_order_relaxed);
    return true;
}

static void *drop(weft__ring *r)
{
    /* Only the owner writes `dropped`: a plain load+store, no locked instruction. */
    atomic_store_explicit(&r->dropped, atomic_load_explicit(&r->dropped, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    return NULL;
}

/* Moves the producer to a new, empty buffer of cap bytes: maps it into a free slot, ends the
 * current buffer with a SWITCH naming that slot (after a one-word PAD when only 8 bytes are
 * left before the end) and publishes it. The caller has checked that WEFT__RING_SWITCH_ROOM
 * bytes are free. False (nothing changed) when every slot is taken or mapping fails. */
static bool switch_buf(weft__ring *r, uint64_t cap)
{
    uint32_t i = WEFT__RING_SLOTS;
    for (uint32_t k = 1; k < WEFT__RING_SLOTS; k++) {
        uint32_t j = (r->slot + k) % WEFT__RING_SLOTS;
        if (!atomic_load_explicit(&r->slot_[j].buf, memory_order_acquire)) {
            i = j;
            break;
        }
    }
    if (i == WEFT__RING_SLOTS)
        return false; /* the consumer is that many buffers behind */
    char *b = map_buf(cap);
    if (!b)
        return false;
    r->slot_[i].cap = cap;
    atomic_store_explicit(&r->slot_[i].buf, b, memory_order_relaxed); /* published by head */
    uint64_t pos = r->wpos;
    uint64_t off = pos & r->mask;
    if (r->cap - off < 16) {
        weft__ev *p = (weft__ev *)(r->buf + off);
        p->size = (uint32_t)(r->cap - off);
        p->kind = WEFT__EV_PAD;
        pos += r->cap - off;
        off = 0;
    }
    weft__ev *e = (weft__ev *)(r->buf + off);
    e->size = 16;
    e->kind = WEFT__EV_SWITCH;
    e->aux = (uint16_t)i;
    e->span = cap;
    pos += 16;
    r->wpos = pos;
    atomic_store_explicit(&r->head, pos, memory_order_release);
    use_buf(r, i, pos);
    touch_to(r, pos + WEFT__RING_TOUCH);
    return true;
}

void *weft__ring_reserve_slow(weft__ring *r, uint32_t size)
{
    if (size > r->max_event)
        return drop(r);
    for (;;) {
        uint64_t pos = r->wpos;
        uint64_t off = pos & r->mask;
        uint64_t pad = (off + size > r->cap) ? r->cap - off : 0;
        if (pos + pad + size - r->tail_cache > r->lim) {
            uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
            r->tail_cache = tail > r->start ? tail : r->start;
            if (pos + pad + size - r->tail_cache > r->lim) {
                if (r->cap < r->max_cap && switch_buf(r, r->cap * 2)) {
                    /* Grown instead of dropping. A pending shrink request is void; the
                     * commit of this event wakes the export thread (the old buffer is full). */
                    weft__stat_add(ring_grown, 1);
                    atomic_store_explicit(&r->shrink_req, 0, memory_order_relaxed);
                    atomic_store_explicit(&r->wake_at, 0, memory_order_relaxed);
                    continue; /* an event <= max_event fits the empty buffer */
                }
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
}

void weft__ring_wake(weft__ring *r)
{
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    r->tail_cache = tail > r->start ? tail : r->start;
    if (__builtin_expect(atomic_load_explicit(&r->shrink_req, memory_order_relaxed) != 0, 0)) {
        atomic_store_explicit(&r->shrink_req, 0, memory_order_relaxed);
        /* The export thread has kept up for a while: back to the initial size (when the
         * SWITCH fits; otherwise it asks again later). */
        if (r->cap > r->base_cap && r->wpos - r->tail_cache + WEFT__RING_SWITCH_ROOM <= r->cap)
            (void)switch_buf(r, r->base_cap);
    }
    if (r->touched < r->lap_end && r->wpos + WEFT__RING_TOUCH / 2 >= r->touched)
        touch_to(r, r->wpos + WEFT__RING_TOUCH);
    if (r->wpos - tail >= r->hwm && !atomic_load_explicit(&r->wake_pending, memory_order_relaxed)) {
        atomic_store_explicit(&r->wake_pending, 1, memory_order_relaxed);
        weft__wake();
    }
    atomic_store_explicit(&r->wake_at, next_check(r, tail), memory_order_relaxed);
}

uint64_t weft__ring_drain(weft__ring *r, weft__ring_fn fn, void *ctx)
{
    return weft__ring_drain_max(r, fn, ctx, UINT64_MAX);
}

/* Consumer: the SWITCH ev ends the buffer being read; go on in the one it names and unmap
 * this one. False when ev names no buffer the producer published. */
static bool next_buf(weft__ring *r, const weft__ev *ev)
{
    uint32_t i = ev->aux;
    uint64_t cap = ev->span;
    if (ev->size != 16 || i >= WEFT__RING_SLOTS || i == r->cslot)
        return false;
    char *b = atomic_load_explicit(&r->slot_[i].buf, memory_order_acquire);
    if (!b || r->slot_[i].cap != cap)
        return false;
    uint32_t old = r->cslot;
    unmap_buf(r->cbuf, r->slot_[old].cap); /* ev lived there: not read after this */
    atomic_store_explicit(&r->slot_[old].buf, NULL, memory_order_release);
    r->cbuf = b;
    r->cmask = cap - 1;
    r->cslot = i;
    r->calm_since = 0;
    return true;
}

uint64_t weft__ring_drain_max(weft__ring *r, weft__ring_fn fn, void *ctx, uint64_t max_bytes)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    /* Events that start before stop are read (one may end past it). */
    uint64_t stop = head - tail > max_bytes ? tail + max_bytes : head;
    uint64_t n = 0;
    while (tail < stop) {
        const weft__ev *ev = (const weft__ev *)(r->cbuf + (tail & r->cmask));
        /* A PAD may be a single 8-byte word (only size and kind are written). */
        uint32_t kind = ev->kind, size = ev->size; /* ev is gone once a SWITCH unmapped it */
        uint32_t min = kind == WEFT__EV_PAD ? 8u : (uint32_t)sizeof(weft__ev);
        if (size < min || size > head - tail || (size & 7u) ||
            (kind == WEFT__EV_SWITCH && !next_buf(r, ev))) {
            /* A corrupt size would walk the consumer off the ring: give the ring up. */
            weft__internal_error("ring event with an impossible size");
            tail = head;
            break;
        }
        if (kind != WEFT__EV_PAD && kind != WEFT__EV_SWITCH) {
            fn(ctx, ev);
            n++;
        }
        tail += size;
    }
    atomic_store_explicit(&r->tail, tail, memory_order_release);
    atomic_store_explicit(&r->wake_pending, 0, memory_order_relaxed);
    return n;
}

void weft__ring_consumer_tick(weft__ring *r, uint64_t now_ns)
{
    if (r->cmask + 1 <= r->base_cap) {
        r->calm_since = 0;
        return;
    }
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (head - tail >= r->hwm || r->calm_since == 0) {
        r->calm_since = now_ns;
        return;
    }
    if (now_ns - r->calm_since < WEFT__RING_CALM_NS)
        return;
    /* Kept up for a while in a grown buffer: the producer shrinks on its next event (wake_at
     * 0 brings it into weft__ring_wake). Asked again a period later if nothing happened. */
    atomic_store_explicit(&r->shrink_req, 1, memory_order_relaxed);
    atomic_store_explicit(&r->wake_at, 0, memory_order_relaxed);
    r->calm_since = now_ns;
}
