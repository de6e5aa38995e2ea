/*
 * test_ring.c — the per-thread byte ring on its own (src/produce/ring.c): reserve, commit and
 * drain order, the PAD that fills the end before a wrap (also when it is a single word), the
 * high-water wake-up, drops when full, the guard against an impossible size, and
 * reset. No weft_init: the ring needs no runtime, and the wake target is a counter here.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/mman.h>

#include "ring.h"
#include "runtime.h"
#include "wake.h"

#define CAP 4096u

typedef struct seen {
    uint64_t span[256];
    uint32_t size[256];
    size_t n;
} seen;

static void record(void *ctx, const weft__ev *ev)
{
    seen *s = ctx;
    cr_assert_lt(s->n, 256);
    s->span[s->n] = ev->span;
    s->size[s->n] = ev->size;
    s->n++;
}

/* Appends one STATUS event of size bytes about span, its payload filled with a pattern.
 * False when the ring refused it. */
static bool put(weft__ring *r, uint32_t size, uint64_t span)
{
    char *p = weft__ring_reserve(r, size);
    if (!p)
        return false;
    memset(p, (int)(span & 0xff), size);
    weft__ev *ev = (weft__ev *)p;
    ev->size = size;
    ev->kind = WEFT__EV_STATUS;
    ev->aux = 0;
    ev->span = span;
    weft__ring_commit(r, size);
    return true;
}

static uint64_t dropped(weft__ring *r) { return atomic_load(&r->dropped); }

static int wakes;
static void count_wake(weft__wake_target *t)
{
    (void)t;
    wakes++;
}
static weft__wake_target counter = {count_wake};

Test(ring, drains_committed_events_in_commit_order)
{
    weft__ring r;
    cr_assert(weft__ring_init(&r, CAP));
    static const uint32_t sizes[] = {16, 24, 64, 16, 200, 32, 16, 8 * 40};
    size_t n = sizeof sizes / sizeof sizes[0];
    for (size_t i = 0; i < n; i++)
        cr_assert(put(&r, sizes[i], 100 + i));
    seen s = {0};
    cr_assert_eq(weft__ring_drain(&r, record, &s), n);
    cr_assert_eq(s.n, n);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(s.span[i], 100 + i, "event %zu out of order", i);
        cr_assert_eq(s.size[i], sizes[i]);
    }
    cr_assert_eq(atomic_load(&r.tail), atomic_load(&r.head), "drain frees everything it read");
    s.n = 0;
    cr_assert_eq(weft__ring_drain(&r, record, &s), 0, "nothing is delivered twice");
    cr_assert_eq(dropped(&r), 0);
    weft__ring_fini(&r);
}

Test(ring, does_not_drain_a_reserved_event_before_its_commit)
{
    weft__ring r;
    cr_assert(weft__ring_init(&r, CAP));
    weft__ev *ev = weft__ring_reserve(&r, 16);
    cr_assert_not_null(ev);
    *ev = (weft__ev){.size = 16, .kind = WEFT__EV_STATUS, .span = 7};
    seen s = {0};
    cr_assert_eq(weft__ring_drain(&r, record, &s), 0);
    weft__ring_commit(&r, 16);
    cr_assert_eq(weft__ring_drain(&r, record, &s), 1);
    cr_assert_eq(s.span[0], 7);
    weft__ring_fini(&r);
}

Test(ring, wraps_around_with_a_pad_the_consumer_skips)
{
    weft__ring r;
    cr_assert(weft__ring_init(&r, CAP));
    cr_assert_eq(r.max_event, CAP / 4);
    seen s = {0};
    for (uint64_t i = 0; i < 4; i++)
        cr_assert(put(&r, 1000, i + 1));
    cr_assert_eq(weft__ring_drain(&r, record, &s), 4);
    /* 4000 bytes used: a 1000-byte event does not fit before the end (4096), so a 96-byte
     * PAD fills the rest and the event starts at offset 0. */
    char *p = weft__ring_reserve(&r, 1000);
    cr_assert_eq(p, r.buf, "the event after the wrap starts at the beginning");
    cr_assert(put(&r, 1000, 5));
    cr_assert(put(&r, 16, 6));
    s.n = 0;
    cr_assert_eq(weft__ring_drain(&r, record, &s), 2, "the PAD is not an event");
    cr_assert_eq(s.span[0], 5);
    cr_assert_eq(s.span[1], 6);
    cr_assert_eq(atomic_load(&r.tail), 4000u + 96u + 1000u + 16u);
    cr_assert_eq(dropped(&r), 0);
    weft__ring_fini(&r);
}

Test(ring, skips_a_pad_of_a_single_word)
{
    weft__ring r;
    cr_assert(weft__ring_init(&r, CAP));
    seen s = {0};
    /* Fill to offset 4088 (4 x 1016 + 24), draining as we go: 8 bytes are left at the end. */
    for (uint64_t i = 0; i < 4; i++) {
        cr_assert(put(&r, 1016, i + 1));
        cr_assert_eq(weft__ring_drain(&r, record, &s), 1);
    }
    cr_assert(put(&r, 24, 5));
    cr_assert_eq(weft__ring_drain(&r, record, &s), 1);
    cr_assert_eq(r.wpos & r.mask, 4088u);
    cr_assert(put(&r, 16, 6));
    cr_assert(put(&r, 16, 7));
    cr_assert_eq(weft__ring_drain(&r, record, &s), 2);
    cr_assert_eq(s.n, 7);
    for (size_t i = 0; i < s.n; i++)
        cr_assert_eq(s.span[i], i + 1);
    cr_assert_eq(atomic_load(&r.tail), 4096u + 32u, "the 8-byte PAD was stepped over");
    cr_assert_eq(weft__rt.stats.internal_errors, 0, "an 8-byte PAD is not an impossible size");
    weft__ring_fini(&r);
}

Test(ring, drops_and_counts_when_full)
{
    weft__ring r;
    cr_assert(weft__ring_init(&r, CAP));
    for (uint64_t i = 0; i < 4; i++)
        cr_assert(put(&r, 1024, i + 1));
    cr_assert_not(put(&r, 16, 5), "a full ring refuses");
    cr_assert_not(put(&r, 8 * 3, 6));
    cr_assert_eq(dropped(&r), 2);
    seen s = {0};
    cr_assert_eq(weft__ring_drain(&r, record, &s), 4, "what was in the ring is intact");
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(s.span[i], i + 1);
    cr_assert(put(&r, 16, 7), "room again once drained");
    cr_assert_eq(dropped(&r), 2);
    weft__ring_fini(&r);
}

Test(ring, wakes_the_export_thread_once_at_high_water_until_drained)
{
    weft__ring r;
    cr_assert(weft__ring_init(&r, CAP));
    cr_assert_eq(r.hwm, CAP / 2);
    weft__wake_set(&counter);
    uint64_t span = 1;
    /* 7 x 256 = 1792 bytes: under high water (2048). */
    for (int i = 0; i < 7; i++)
        cr_assert(put(&r, 256, span++));
    cr_assert_eq(wakes, 0);
    cr_assert(put(&r, 256, span++)); /* 2048: at high water */
    cr_assert_eq(wakes, 1);
    cr_assert_eq(atomic_load(&r.wake_pending), 1);
    for (int i = 0; i < 7; i++) /* up to 3840: still above, one wake is pending */
        cr_assert(put(&r, 256, span++));
    cr_assert_eq(wakes, 1, "a pending wake is not repeated");
    seen s = {0};
    cr_assert_eq(weft__ring_drain(&r, record, &s), 15);
    cr_assert_eq(atomic_load(&r.wake_pending), 0, "drain clears the pending wake");
    /* Empty again: the next wake comes only when the fill passes high water again. */
    for (int i = 0; i < 7; i++)
        cr_assert(put(&r, 256, span++));
    cr_assert_eq(wakes, 1);
    for (int i = 0; i < 2; i++)
        cr_assert(put(&r, 256, span++));
    cr_assert_eq(wakes, 2);
    weft__wake_set(NULL);
    cr_assert_eq(dropped(&r), 0);
    weft__ring_fini(&r);
}

Test(ring, a_full_ring_asks_for_a_drain)
{
    weft__ring r;
    cr_assert(weft__ring_init(&r, CAP));
    weft__wake_set(&counter);
    for (uint64_t i = 0; i < 4; i++)
        cr_assert(put(&r, 1024, i + 1));
    int before = wakes;
    seen s = {0};
    cr_assert_eq(weft__ring_drain(&r, record, &s), 4); /* clears wake_pending */
    for (uint64_t i = 0; i < 4; i++)
        cr_assert(put(&r, 1024, i + 10));
    int at_full = wakes;
    cr_assert_geq(at_full, before + 1, "passing high water again woke the export thread");
    atomic_store(&r.wake_pending, 0); /* as if the consumer ran but read nothing */
    cr_assert_not(put(&r, 16, 20));
    cr_assert_eq(wakes, at_full + 1, "a refused reserve wakes the export thread");
    cr_assert_eq(dropped(&r), 1);
    weft__wake_set(NULL);
    weft__ring_fini(&r);
}

Test(ring, gives_up_a_ring_with_an_impossible_event_size_as_an_internal_error)
{
    weft__ring r;
    cr_assert(weft__ring_init(&r, CAP));
    cr_assert(put(&r, 16, 1));
    weft__ev *ev = weft__ring_reserve(&r, 32);
    cr_assert_not_null(ev);
    *ev = (weft__ev){.size = 12, .kind = WEFT__EV_STATUS, .span = 2}; /* not a multiple of 8 */
    weft__ring_commit(&r, 32);
    cr_assert(put(&r, 16, 3));
    atomic_store(&weft__rt.hot.enabled, 1);
    weft__rt.cfg.log_level = WEFT_LOG_ERROR;
    seen s = {0};
    cr_assert_eq(weft__ring_drain(&r, record, &s), 1, "only the event before the bad one");
    cr_assert_eq(s.span[0], 1);
    cr_assert_eq(atomic_load(&r.tail), atomic_load(&r.head), "the rest of the ring is given up");
    cr_assert_eq(weft__rt.stats.internal_errors, 1);
    cr_assert_eq(atomic_load(&weft__rt.hot.enabled), 0, "tracing is turned off");
    weft__ring_fini(&r);
}

Test(ring, reset_forgets_all_content)
{
    weft__ring r;
    cr_assert(weft__ring_init(&r, CAP));
    for (uint64_t i = 0; i < 5; i++)
        cr_assert(put(&r, 512, i + 1));
    weft__ring_reset(&r);
    seen s = {0};
    cr_assert_eq(weft__ring_drain(&r, record, &s), 0);
    cr_assert_eq(weft__ring_reserve(&r, 16), r.buf, "writing starts over at the beginning");
    for (uint64_t i = 0; i < 4; i++)
        cr_assert(put(&r, 1024, i + 1), "the whole capacity is free again");
    cr_assert_eq(weft__ring_drain(&r, record, &s), 4);
    weft__ring_fini(&r);
}

/* ---- growth (ring.h: a full ring moves to a buffer twice as big, up to max_cap) ---------- */

typedef struct in_order {
    uint64_t next; /* span id expected next */
    uint64_t n;
} in_order;

static void check_order(void *ctx, const weft__ev *ev)
{
    in_order *o = ctx;
    cr_assert_eq(ev->kind, WEFT__EV_STATUS, "a SWITCH or PAD reached the caller");
    cr_assert_eq(ev->span, o->next, "event %llu out of order", (unsigned long long)o->n);
    o->next++;
    o->n++;
}

static uint32_t slots_in_use(weft__ring *r)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < WEFT__RING_SLOTS; i++)
        n += atomic_load(&r->slot_[i].buf) != NULL;
    return n;
}

Test(ring, grows_instead_of_dropping_and_the_consumer_follows_in_order)
{
    weft__ring r;
    cr_assert(weft__ring_init_grow(&r, CAP, 4 * CAP));
    uint64_t grown0 = weft__rt.stats.ring_grown;
    uint64_t before = weft__ring_allocated();
    /* 14 KiB without a drain: more than the 4 KiB it starts with, less than the 16 KiB ceiling
     * (each buffer that may grow keeps 24 bytes for its SWITCH). */
    uint64_t span = 1;
    for (int i = 0; i < 14 * 1024 / 64; i++)
        cr_assert(put(&r, 64, span++), "event %d refused", i);
    cr_assert_eq(dropped(&r), 0);
    cr_assert_eq(r.cap, 4 * CAP, "doubled twice");
    cr_assert_eq(weft__rt.stats.ring_grown - grown0, 2);
    cr_assert_eq(slots_in_use(&r), 3, "the old buffers stay until the consumer has left them");
    cr_assert_eq(weft__ring_allocated(), before + 2);
    in_order o = {1, 0};
    cr_assert_eq(weft__ring_drain(&r, check_order, &o), span - 1);
    cr_assert_eq(o.n, span - 1);
    cr_assert_eq(atomic_load(&r.tail), atomic_load(&r.head));
    cr_assert_eq(slots_in_use(&r), 1, "buffers read past their SWITCH are unmapped");
    cr_assert_eq(weft__ring_allocated(), before);
    cr_assert_eq(r.cbuf, r.buf, "the consumer reads the producer's buffer");
    weft__ring_fini(&r);
    cr_assert_eq(weft__ring_allocated(), before - 1);
}

Test(ring, drops_and_counts_at_the_ceiling)
{
    weft__ring r;
    cr_assert(weft__ring_init_grow(&r, CAP, 2 * CAP));
    uint64_t span = 1, ok = 0, refused = 0;
    for (int i = 0; i < 300; i++) {
        if (put(&r, 64, span))
            ok++, span++;
        else
            refused++;
    }
    cr_assert_eq(r.cap, 2 * CAP, "grown to the ceiling, not past it");
    cr_assert_gt(refused, 0);
    cr_assert_eq(dropped(&r), refused, "every refused event is counted");
    in_order o = {1, 0};
    cr_assert_eq(weft__ring_drain(&r, check_order, &o), ok, "what was accepted is intact");
    cr_assert(put(&r, 64, span), "room again once drained");
    weft__ring_fini(&r);
}

Test(ring, the_switch_fits_when_one_word_is_left_before_the_end)
{
    weft__ring r;
    cr_assert(weft__ring_init_grow(&r, CAP, 2 * CAP));
    /* One 16-byte event read, then 4072 bytes (all a ring that may grow accepts: 4096 less 24
     * for its SWITCH) up to offset 4088, 8 bytes before the end. The next event must grow the
     * ring: its SWITCH goes after a one-word PAD, at offset 0. */
    in_order o = {1, 0};
    uint64_t span = 1;
    cr_assert(put(&r, 16, span++));
    weft__ring_drain(&r, check_order, &o);
    for (int i = 0; i < 3; i++)
        cr_assert(put(&r, 1024, span++));
    cr_assert(put(&r, 1000, span++));
    cr_assert_eq(r.wpos & r.mask, 4088u);
    cr_assert_eq(r.cap, CAP, "not grown yet");
    cr_assert(put(&r, 16, span++));
    cr_assert_eq(r.cap, 2 * CAP, "grown");
    cr_assert_eq(weft__ring_drain(&r, check_order, &o), 5);
    cr_assert_eq(o.next, span);
    cr_assert_eq(weft__rt.stats.internal_errors, 0);
    weft__ring_fini(&r);
}

Test(ring, shrinks_back_when_the_consumer_asks_after_keeping_up)
{
    weft__ring r;
    cr_assert(weft__ring_init_grow(&r, CAP, 8 * CAP));
    uint64_t span = 1;
    for (int i = 0; i < 200; i++)
        cr_assert(put(&r, 64, span++));
    cr_assert_gt(r.cap, CAP);
    in_order o = {1, 0};
    uint64_t t0 = 1000000000u;
    weft__ring_drain(&r, check_order, &o);
    weft__ring_consumer_tick(&r, t0);
    cr_assert_eq(atomic_load(&r.shrink_req), 0, "not yet: it has just caught up");
    weft__ring_consumer_tick(&r, t0 + WEFT__RING_CALM_NS / 2);
    cr_assert_eq(atomic_load(&r.shrink_req), 0);
    weft__ring_consumer_tick(&r, t0 + WEFT__RING_CALM_NS);
    cr_assert_eq(atomic_load(&r.shrink_req), 1, "a second below high water: shrink");
    cr_assert(put(&r, 64, span++)); /* the producer acts on its next event */
    cr_assert_eq(r.cap, CAP, "back to the initial size");
    cr_assert_eq(atomic_load(&r.shrink_req), 0);
    cr_assert(put(&r, 64, span++));
    cr_assert_eq(weft__ring_drain(&r, check_order, &o), 2);
    cr_assert_eq(o.next, span);
    cr_assert_eq(slots_in_use(&r), 1, "the grown buffer is gone");
    weft__ring_fini(&r);
}

Test(ring, a_consumer_behind_keeps_the_ring_grown)
{
    weft__ring r;
    cr_assert(weft__ring_init_grow(&r, CAP, 8 * CAP));
    uint64_t span = 1;
    for (int i = 0; i < 200; i++)
        cr_assert(put(&r, 64, span++));
    /* Over high water (2 KiB) the whole time: no shrink request however long it lasts. */
    for (uint64_t k = 1; k <= 5; k++)
        weft__ring_consumer_tick(&r, k * WEFT__RING_CALM_NS);
    cr_assert_eq(atomic_load(&r.shrink_req), 0);
    in_order o = {1, 0};
    cr_assert_eq(weft__ring_drain(&r, check_order, &o), 200);
    weft__ring_fini(&r);
}

Test(ring, commits_no_page_when_made_and_pages_ahead_as_it_is_written)
{
    weft__ring r;
    uint64_t cap = 64u << 20;
    cr_assert(weft__ring_init_grow(&r, cap, cap));
    unsigned char vec[64];
    cr_assert_eq(mincore(r.buf, 64 * 4096, vec), 0);
    int resident = 0;
    for (int i = 0; i < 64; i++)
        resident += vec[i] & 1;
    cr_assert_eq(resident, 0, "%d pages committed by init", resident);
    /* Write 100 KiB: the first 64 KiB fault in as written, the next are committed ahead. */
    uint64_t span = 1;
    for (int i = 0; i < 100 * 1024 / 64; i++)
        cr_assert(put(&r, 64, span++));
    cr_assert_eq(mincore(r.buf, 64 * 4096, vec), 0);
    resident = 0;
    for (int i = 0; i < 64; i++)
        resident += vec[i] & 1;
    cr_assert_geq(resident, 100 / 4, "the pages written are there");
    cr_assert_leq(resident, (100 + 64) / 4 + 1, "%d pages: no more than 64 KiB ahead", resident);
    weft__ring_fini(&r);
}
