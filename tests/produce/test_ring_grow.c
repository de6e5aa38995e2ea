/*
 * test_ring_grow.c — rings that grow on a burst and the first span on a thread, through the
 * public API (src/produce/ring.c, thread.c; README "Memory"): a burst larger than ring_bytes
 * loses nothing (the ring grows, counted in ring_grown); at ring_max_bytes events are dropped
 * and counted as before; a grown ring goes back to ring_bytes after a second of keeping up and
 * when its thread's state is recycled; many threads grow at once; ring pages are committed as
 * they are written, not at registration; weft_thread_register registers ahead of the first
 * span and commits what it writes; the export thread keeps ready thread states and, once they
 * ran out, makes them again as threads keep taking them, without a flush tick, and stops
 * looking a second after the last take.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"
#include "runtime.h"
#include "thread.h"
#include "weft/weft.h"
#include "weft_test.h"

static void spans(int n)
{
    for (int k = 0; k < n; k++) {
        weft_span s = weft_span_begin("burst", WEFT_TYPE_CUSTOM);
        weft_span_set_i64(s, WEFT_METADATA, "k", k);
        weft_span_end(s);
    }
}

static void *burst_thread(void *p)
{
    spans(*(int *)p);
    return NULL;
}

static uint32_t slots_in_use(weft__ring *r)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < WEFT__RING_SLOTS; i++)
        n += atomic_load(&r->slot_[i].buf) != NULL;
    return n;
}

/* Pages of [p, p + bytes) that are resident. */
static size_t resident(const void *p, size_t bytes)
{
    size_t pages = (bytes + 4095) / 4096;
    unsigned char *vec = malloc(pages);
    cr_assert_not_null(vec);
    cr_assert_eq(mincore((void *)((uintptr_t)p & ~(uintptr_t)4095), bytes, vec), 0);
    size_t n = 0;
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    free(vec);
    return n;
}

Test(ring_grow, a_burst_larger_than_the_ring_loses_nothing)
{
    /* 50,000 spans (~5 MiB of events) from one thread into a 64 KiB ring: the producer is
     * ~20x faster than the export thread, so the ring must grow. */
    weft_config c = {.ring_bytes = 64u << 10};
    cr_assert_eq(wt_init_memory(&c), 0);
    spans(50000);
    cr_assert_eq(weft_shutdown(30000), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.dropped_ring, 0, "%llu events dropped", (unsigned long long)st.dropped_ring);
    cr_expect_gt(st.ring_grown, 0, "the ring never grew");
    cr_expect_eq(st.started, 50000);
    cr_expect_eq(st.exported, 50000);
    cr_expect_eq(st.internal_errors, 0);
}

Test(ring_grow, the_ceiling_drops_and_counts_without_a_crash)
{
    /* No timer: nothing drains but high-water wake-ups; 4 KiB may grow twice, to 16 KiB. */
    weft_config c = {.ring_bytes = 4096, .ring_max_bytes = 16384, .flush_interval_ms = 3600000};
    cr_assert_eq(wt_init_memory(&c), 0);
    spans(20000);
    int rc = weft_shutdown(30000);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.ring_grown, 2, "4 -> 8 -> 16 KiB, then no further");
    cr_expect_gt(st.dropped_ring, 0, "the ceiling was never reached");
    cr_expect_gt(st.dropped_ring_spans, 0);
    cr_expect_eq(st.exported + st.dropped_ring_spans, st.started, "exported %llu + lost %llu != %llu",
                 (unsigned long long)st.exported, (unsigned long long)st.dropped_ring_spans,
                 (unsigned long long)st.started);
    cr_expect_eq(rc, WEFT_EEXPORT);
    cr_expect_eq(st.internal_errors, 0);
}

Test(ring_grow, a_grown_ring_shrinks_back_after_keeping_up_for_a_second)
{
    weft_config c = {.ring_bytes = 64u << 10, .flush_interval_ms = 50};
    cr_assert_eq(wt_init_memory(&c), 0);
    spans(50000);
    cr_assert_eq(weft_flush(30000), 0);
    weft__thread *t = weft__tls;
    cr_assert_not_null(t);
    cr_assert_gt(t->ring.cap, 64u << 10, "grown by the burst");
    /* Idle for longer than WEFT__RING_CALM_NS: the export thread asks, the producer's next
     * event moves it back to a ring of ring_bytes. */
    struct timespec ts = {1, 500000000};
    nanosleep(&ts, NULL);
    spans(1);
    cr_assert_eq(t->ring.cap, 64u << 10, "back to ring_bytes");
    cr_assert_eq(weft_flush(30000), 0);
    cr_assert_eq(slots_in_use(&t->ring), 1, "the grown buffer was unmapped once read");
    spans(10);
    cr_assert_eq(weft_shutdown(30000), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.dropped_ring, 0);
    cr_expect_eq(st.exported, 50011);
}

Test(ring_grow, a_recycled_state_keeps_only_a_ring_of_ring_bytes)
{
    weft_config c = {.ring_bytes = 64u << 10, .flush_interval_ms = 3600000};
    cr_assert_eq(wt_init_memory(&c), 0);
    int n = 50000;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, burst_thread, &n), 0);
    pthread_join(th, NULL);
    cr_assert_eq(weft_flush(30000), 0); /* drained, then recycled */
    pthread_mutex_lock(&weft__rt.reg_lock);
    int states = 0;
    for (weft__thread *s = weft__rt.free_threads; s; s = s->next_free) {
        if (!s->ring.buf)
            continue;
        states++;
        cr_expect_eq(s->ring.cap, 64u << 10, "a kept ring is back to ring_bytes");
        cr_expect_eq(slots_in_use(&s->ring), 1);
    }
    pthread_mutex_unlock(&weft__rt.reg_lock);
    cr_expect_gt(states, 0);
    cr_assert_eq(weft_shutdown(30000), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_gt(st.ring_grown, 0);
    cr_expect_eq(st.dropped_ring, 0);
    cr_expect_eq(st.exported, 50000);
}

Test(ring_grow, many_threads_grow_at_once)
{
    enum { N = 6, EACH = 20000 };
    weft_config c = {.ring_bytes = 16u << 10};
    cr_assert_eq(wt_init_memory(&c), 0);
    pthread_t th[N];
    int n = EACH;
    for (int k = 0; k < N; k++)
        cr_assert_eq(pthread_create(&th[k], NULL, burst_thread, &n), 0);
    for (int k = 0; k < N; k++)
        pthread_join(th[k], NULL);
    cr_assert_eq(weft_shutdown(60000), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.dropped_ring, 0, "%llu events dropped", (unsigned long long)st.dropped_ring);
    cr_expect_geq(st.ring_grown, N, "every ring grew");
    cr_expect_eq(st.exported, N * EACH);
    cr_expect_eq(st.internal_errors, 0);
    cr_expect_eq(weft__ring_allocated(), 0, "every buffer unmapped at shutdown");
}

static void *first_span_lazily(void *p)
{
    size_t *res = p;
    spans(1);
    weft__thread *t = weft__tls;
    res[0] = t ? resident(t->ring.buf, t->ring.cap) : SIZE_MAX;
    res[1] = t ? t->ring.cap : 0;
    return NULL;
}

Test(ring_grow, a_big_ring_commits_only_what_is_written)
{
    weft_config c = {.ring_bytes = 64u << 20};
    cr_assert_eq(wt_init_memory(&c), 0);
    for (int k = 0; k < 4; k++) { /* the ready states first, then new ones */
        size_t res[2];
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, first_span_lazily, res), 0);
        pthread_join(th, NULL);
        cr_expect_eq(res[1], 64u << 20);
        cr_expect_leq(res[0], 2 * WEFT__RING_TOUCH / 4096, "%zu of 16384 pages resident after one span",
                      res[0]);
    }
    cr_assert_eq(weft_shutdown(30000), 0);
}

static void *register_then_span(void *p)
{
    int *rc = p;
    rc[0] = weft_thread_register();
    weft__thread *t = weft__tls;
    rc[1] = t && resident(t->ring.buf + (t->ring.wpos & t->ring.mask), 4096) == 1;
    rc[2] = t && resident(&t->stack[0], sizeof(t->stack[0])) == 1 && resident(&t->ended[0], 8) == 1;
    weft_stats st;
    weft_get_stats(&st);
    rc[3] = (int)st.threads;
    rc[4] = weft_thread_register(); /* again: harmless */
    spans(3);
    weft_get_stats(&st);
    rc[5] = (int)st.threads;
    return NULL;
}

Test(ring_grow, register_ahead_then_the_first_span)
{
    cr_assert_eq(weft_thread_register(), WEFT_ENOTINIT, "before weft_init");
    weft_config c = {.ring_bytes = 64u << 20};
    cr_assert_eq(wt_init_memory(&c), 0);
    int rc[6];
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, register_then_span, rc), 0);
    pthread_join(th, NULL);
    cr_expect_eq(rc[0], 0);
    cr_expect(rc[1], "the ring page the first span writes is committed");
    cr_expect(rc[2], "the first context entry and its ended mark are committed");
    cr_expect_eq(rc[3], 1, "registered");
    cr_expect_eq(rc[4], 0);
    cr_expect_eq(rc[5], 1, "the spans did not register the thread again");
    cr_assert_eq(weft_shutdown(30000), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.exported, 3);
    cr_expect_eq(weft_thread_register(), WEFT_ENOTINIT, "after weft_shutdown");
}

Test(ring_grow, register_is_refused_while_tracing_is_disabled)
{
    weft_config c = {.disabled = true};
    cr_assert_eq(wt_init_memory(&c), 0);
    cr_expect_eq(weft_thread_register(), WEFT_ENOTINIT);
    cr_assert_eq(weft_shutdown(1000), 0);
}

static void *first_span_state(void *p)
{
    spans(1);
    *(weft__thread **)p = weft__tls;
    return NULL;
}

/* The states on the free list that hold a ring (the ready ones), up to max, into out. */
static int ready_states(weft__thread **out, int max)
{
    int n = 0;
    pthread_mutex_lock(&weft__rt.reg_lock);
    for (weft__thread *s = weft__rt.free_threads; s && n < max; s = s->next_free)
        if (s->ring.buf)
            out[n++] = s;
    pthread_mutex_unlock(&weft__rt.reg_lock);
    return n;
}

Test(ring_grow, the_export_thread_keeps_ready_states_that_new_threads_take)
{
    weft_config c = {.ring_bytes = 1u << 20, .flush_interval_ms = 20};
    cr_assert_eq(wt_init_memory(&c), 0);
    struct timespec ts = {0, 100000000};
    nanosleep(&ts, NULL); /* a few timer ticks */
    weft__thread *ready[8];
    int n = ready_states(ready, 8);
    pthread_mutex_lock(&weft__rt.reg_lock);
    for (int i = 0; i < n; i++) {
        weft__thread *s = ready[i];
        cr_expect_eq(resident(&s->stack[0], sizeof(s->stack[0])), 1, "first context entry written");
        cr_expect_eq(resident(&s->ended[0], 8), 1, "its ended mark written");
        cr_expect_eq(resident(s->ring.buf, WEFT__RING_TOUCH), WEFT__RING_TOUCH / 4096,
                     "the ring's first 64 KiB committed");
    }
    pthread_mutex_unlock(&weft__rt.reg_lock);
    cr_assert_eq(n, 2, "%d ready states", n);
    weft__thread *got = NULL;
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, first_span_state, &got), 0);
    pthread_join(th, NULL);
    cr_expect(got == ready[0] || got == ready[1], "the new thread took a ready state");
    cr_assert_eq(weft_shutdown(30000), 0);
}

/* Takes a state on its first span, then stays alive (so no later thread can take its state
 * over) until the gate opens. */
typedef struct held {
    pthread_mutex_t *gate;
    weft__thread *state;
    int _Atomic done;
} held;

static void *span_and_hold(void *p)
{
    held *h = p;
    spans(1);
    h->state = weft__tls;
    atomic_store(&h->done, 1);
    pthread_mutex_lock(h->gate);
    pthread_mutex_unlock(h->gate);
    return NULL;
}

/* Waits up to 5 s for `want` ready states; how many there were at the end. */
static int wait_ready(int want, weft__thread **out)
{
    int n = 0;
    for (int i = 0; i < 500 && (n = ready_states(out, 8)) < want; i++) {
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    return n;
}

/* Starts a thread that takes a state on its first span and holds it; its state. */
static weft__thread *start_holder(held *h, pthread_t *th, pthread_mutex_t *gate)
{
    *h = (held){.gate = gate};
    cr_assert_eq(pthread_create(th, NULL, span_and_hold, h), 0);
    while (!atomic_load(&h->done))
        sched_yield();
    return h->state;
}

Test(ring_grow, once_the_ready_states_run_out_threads_that_follow_find_them_made_again)
{
    /* An hour between flush ticks: only the thread that found no ready state can have the
     * pool made again, by waking the export thread, which then keeps it whole. */
    weft_config c = {.ring_bytes = 1u << 20, .flush_interval_ms = 3600000};
    cr_assert_eq(wt_init_memory(&c), 0);
    weft__thread *ready[8];
    cr_assert_eq(wait_ready(2, ready), 2, "the ready states made at start");
    pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&gate);
    held h[8];
    pthread_t th[8];
    weft__thread *first[2] = {ready[0], ready[1]};
    for (int k = 0; k < 2; k++) {
        weft__thread *got = start_holder(&h[k], &th[k], &gate);
        cr_expect(got == first[0] || got == first[1], "thread %d took a ready state", k);
    }
    weft__thread *own = start_holder(&h[2], &th[2], &gate);
    cr_expect(own != first[0] && own != first[1], "the third made a state of its own");
    for (int k = 3; k < 8; k++) {
        int n = wait_ready(2, ready);
        cr_expect_eq(n, 2, "before thread %d: %d ready states", k, n);
        weft__thread *got = start_holder(&h[k], &th[k], &gate);
        cr_expect(n == 2 && (got == ready[0] || got == ready[1]), "thread %d took a ready state", k);
    }
    /* A second with no state taken ends the polling: a take now (which wakes nobody) is
     * not made good until something else wakes the export thread. */
    struct timespec quiet = {2, 500000000};
    nanosleep(&quiet, NULL);
    cr_assert_eq(wait_ready(2, ready), 2);
    held late;
    pthread_t late_th;
    weft__thread *got = start_holder(&late, &late_th, &gate);
    cr_expect(got == ready[0] || got == ready[1], "the late thread took a ready state");
    struct timespec settle = {0, 300000000};
    nanosleep(&settle, NULL);
    int n = ready_states(ready, 8);
    cr_expect_eq(n, 1, "%d ready states 300 ms after a take once the polling stopped", n);
    pthread_mutex_unlock(&gate);
    for (int k = 0; k < 8; k++)
        pthread_join(th[k], NULL);
    pthread_join(late_th, NULL);
    cr_assert_eq(weft_shutdown(30000), 0);
}
