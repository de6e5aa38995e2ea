/*
 * test_thread_rings.c — the producer thread registry (src/produce/thread.c): rings follow the live
 * threads. 2,000 short-lived threads, at most 50 alive at once, hold at most 50 rings while
 * they run (a new thread takes over an exited thread's state), and once the export thread has
 * drained them only a few recycled rings stay allocated. Counted with weft__ring_allocated, the
 * registry's own count of ring buffers, not with RSS; every span still arrives.
 */
#include <criterion/criterion.h>
#include <pthread.h>

#include "ring.h"
#include "weft/weft.h"
#include "weft_test.h"

#define WAVE 50
#define WAVES 40

static void *short_lived(void *arg)
{
    (void)arg;
    for (int k = 0; k < 5; k++) {
        weft_span s = weft_span_begin("short-lived", WEFT_TYPE_CUSTOM);
        weft_span_set_i64(s, WEFT_METADATA, "k", k);
        weft_span_end(s);
    }
    return NULL;
}

Test(thread_rings, rings_of_exited_threads_are_reused_or_released)
{
    /* No timer drain: only thread exits and flushes make the export thread look at rings. */
    weft_config c = {.ring_bytes = 64u << 10, .flush_interval_ms = 3600000};
    cr_assert_eq(wt_init_memory(&c), 0);
    uint64_t most = 0;
    for (int w = 0; w < WAVES; w++) {
        pthread_t t[WAVE];
        for (int k = 0; k < WAVE; k++)
            cr_assert_eq(pthread_create(&t[k], NULL, short_lived, NULL), 0);
        for (int k = 0; k < WAVE; k++)
            pthread_join(t[k], NULL); /* joined: its exit handlers have run */
        uint64_t now = weft__ring_allocated();
        most = now > most ? now : most;
    }
    cr_expect_leq(most, WAVE, "%llu rings for at most %d live threads", (unsigned long long)most, WAVE);
    cr_expect_eq(weft_flush(30000), 0);
    /* Drained and recycled: a handful keep their buffer for the next threads. */
    cr_expect_leq(weft__ring_allocated(), 4, "%llu rings after every thread exited",
                  (unsigned long long)weft__ring_allocated());
    cr_expect_eq(weft_shutdown(10000), 0);
    cr_expect_eq(weft__ring_allocated(), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.threads, WAVE * WAVES);
    cr_expect_eq(st.exported, WAVE * WAVES * 5);
    cr_expect_eq(st.dropped_ring + st.dropped_no_slot, 0, "%llu events dropped in rings, %llu calls without a slot",
                 (unsigned long long)st.dropped_ring, (unsigned long long)st.dropped_no_slot);
}

Test(thread_rings, a_recycled_state_without_a_ring_gets_a_new_one)
{
    weft_config c = {.ring_bytes = 64u << 10, .flush_interval_ms = 3600000};
    cr_assert_eq(wt_init_memory(&c), 0);
    for (int round = 0; round < 3; round++) {
        pthread_t t[WAVE];
        for (int k = 0; k < WAVE; k++)
            cr_assert_eq(pthread_create(&t[k], NULL, short_lived, NULL), 0);
        for (int k = 0; k < WAVE; k++)
            pthread_join(t[k], NULL);
        cr_expect_eq(weft_flush(30000), 0); /* every state recycled, most without a ring */
        cr_expect_leq(weft__ring_allocated(), 4);
    }
    cr_expect_eq(weft_shutdown(10000), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.exported, 3 * WAVE * 5);
    cr_expect_eq(st.dropped_ring + st.dropped_no_slot, 0);
}
