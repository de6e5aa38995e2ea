/*
 * test_threads.c — many producer threads: thread churn (thousands of short-lived threads,
 * nothing lost, states reused), spans nested per thread under one shared root, and ring
 * overflow (dropped and counted, nothing corrupted).
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "weft/weft.h"
#include "weft_test.h"

#define CHURN_THREADS 2000
#define SPANS_PER_THREAD 10

static void *short_lived(void *p)
{
    weft_span parent = *(weft_span *)p;
    weft_span s = weft_span_begin_child(parent, "churn", WEFT_TYPE_CUSTOM);
    weft_span_end(s);
    for (int i = 1; i < SPANS_PER_THREAD; i++) {
        weft_span c = weft_span_begin("churn", WEFT_TYPE_CUSTOM);
        weft_span_set_i64(c, WEFT_INPUT, "i", i);
        weft_span_end(c);
    }
    return NULL;
}

Test(threads, thousands_of_short_lived_threads_lose_nothing)
{
    weft_config c = {.max_threads = 64};
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span root = weft_span_begin("root", WEFT_TYPE_TRACER);
    for (int i = 0; i < CHURN_THREADS; i += 16) {
        pthread_t t[16];
        for (int k = 0; k < 16; k++)
            cr_assert_eq(pthread_create(&t[k], NULL, short_lived, &root), 0);
        for (int k = 0; k < 16; k++)
            pthread_join(t[k], NULL);
        /* 64 slots, 16 threads a batch: the export thread recycles exited threads' states
         * at its next pass; flush makes that pass now. */
        cr_assert_eq(weft_flush(10000), 0);
    }
    weft_span_end(root);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(wt_count(recs, "churn"), CHURN_THREADS * SPANS_PER_THREAD);
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.threads, CHURN_THREADS + 1, "each thread registered once: %llu",
                 (unsigned long long)st.threads);
    cr_assert_eq(st.exported, CHURN_THREADS * SPANS_PER_THREAD + 1);
    cr_assert_eq(st.dropped_ring + st.dropped_open + st.dropped_export + st.dropped_no_slot, 0);
}

typedef struct worker_arg {
    weft_span root;
    int n;
} worker_arg;

static void *nest_under(void *p)
{
    worker_arg *w = p;
    for (int i = 0; i < w->n; i++) {
        weft_span a = weft_span_begin_child(w->root, "task", WEFT_TYPE_AGENT_WORKFLOW);
        weft_span_end(a); /* a begin_child span is never current, ending it anywhere is fine */
        weft_span step = weft_span_begin("step", WEFT_TYPE_CUSTOM);
        weft_span leaf = weft_span_begin("leaf", WEFT_TYPE_COMPLETION);
        weft_span_end(leaf);
        weft_span_end(step);
    }
    return NULL;
}

Test(threads, spans_nest_per_thread_while_threads_share_a_root)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span root = weft_span_begin("root", WEFT_TYPE_TRACER);
    worker_arg w = {root, 500};
    pthread_t t[4];
    for (int k = 0; k < 4; k++)
        pthread_create(&t[k], NULL, nest_under, &w);
    for (int k = 0; k < 4; k++)
        pthread_join(t[k], NULL);
    weft_span_end(root);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 1 + 4 * 500 * 3);
    /* Every leaf's parent is a step, every step is a root of its own trace (the worker
     * threads had no current span), every task is under the shared root. */
    json_t *ids = json_object();
    size_t i;
    json_t *it;
    json_array_foreach(recs, i, it) json_object_set(ids, wt_str(it, "id"), it);
    const char *root_id = wt_str(wt_find(recs, "root"), "id");
    json_array_foreach(recs, i, it)
    {
        const char *name = wt_str(it, "name");
        const char *parent = wt_str(it, "parent_id");
        if (!strcmp(name, "task"))
            cr_assert_str_eq(parent, root_id);
        else if (!strcmp(name, "step"))
            cr_assert_null(parent);
        else if (!strcmp(name, "leaf")) {
            json_t *p = json_object_get(ids, parent);
            cr_assert_not_null(p);
            cr_assert_str_eq(wt_str(p, "name"), "step");
            cr_assert_str_eq(wt_str(p, "trace_id"), wt_str(it, "trace_id"));
        }
    }
    json_decref(ids);
    json_decref(recs);
}

Test(threads, a_full_ring_drops_and_counts_without_corruption)
{
    /* A 4 KiB ring and no early drain: most events of a burst cannot fit. */
    weft_config c = {.ring_bytes = 4096, .ring_max_bytes = 4096, .flush_interval_ms = 3600000};
    cr_assert_eq(wt_init_memory(&c), 0);
    for (int i = 0; i < 5000; i++) {
        weft_span s = weft_span_begin("burst", WEFT_TYPE_CUSTOM);
        weft_span_set_str(s, WEFT_INPUT, "payload", "0123456789abcdef0123456789abcdef");
        weft_span_end(s);
    }
    json_t *recs = wt_records_after_shutdown_rc(WEFT_EEXPORT); /* spans were lost */
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_gt(st.dropped_ring, 0, "the burst must overflow a 4 KiB ring");
    cr_assert_eq(st.internal_errors, 0);
    /* Whatever arrived is whole: complete records, with their attribute unless that event
     * was the one dropped. */
    size_t i;
    json_t *it;
    json_array_foreach(recs, i, it)
    {
        cr_assert_str_eq(wt_str(it, "name"), "burst");
        const char *p = wt_str(json_object_get(it, "input"), "payload");
        if (p)
            cr_assert_str_eq(p, "0123456789abcdef0123456789abcdef");
    }
    cr_assert_gt(json_array_size(recs), 0);
    json_decref(recs);
}

/* All 12 stay alive until every one has begun: an exited thread's slot is taken over at
 * once, so only threads alive together can run out of slots. */
static pthread_barrier_t all_begun;

static void *one_span(void *p)
{
    weft_span s = weft_span_begin("crowded", WEFT_TYPE_CUSTOM);
    *(bool *)p = weft_span_is_valid(s);
    pthread_barrier_wait(&all_begun);
    weft_span_end(s);
    return NULL;
}

Test(threads, more_live_threads_than_slots_are_counted_not_lost_silently)
{
    weft_config c = {.max_threads = 4, .flush_interval_ms = 3600000};
    cr_assert_eq(wt_init_memory(&c), 0);
    pthread_t t[12];
    bool got[12];
    pthread_barrier_init(&all_begun, NULL, 12);
    for (int k = 0; k < 12; k++)
        pthread_create(&t[k], NULL, one_span, &got[k]);
    for (int k = 0; k < 12; k++)
        pthread_join(t[k], NULL);
    size_t valid = 0;
    for (int k = 0; k < 12; k++)
        valid += got[k];
    json_t *recs = wt_records_after_shutdown();
    weft_stats st;
    weft_get_stats(&st);
    /* A thread whose begin found no slot had that call dropped and counted; every span that
     * was begun is exported. */
    cr_assert_eq(wt_count(recs, "crowded"), valid);
    cr_assert_geq(st.dropped_no_slot, 12 - valid);
    cr_assert_lt(valid, 12, "4 slots for 12 live threads: some begins must fail");
    json_decref(recs);
}
