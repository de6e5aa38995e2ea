/*
 * test_thread.c — the registry of producer threads (src/produce/thread.c): a thread registers
 * on its first span and only then, its state sits in its slot, an exited thread's state is
 * reused once the export thread has drained it, its counters are folded into the statistics
 * when it is recycled (so the reuse loses none), and a new weft_init starts a new generation.
 * (tests/produce/test_threads.c runs the many-thread scenarios.)
 */
#include <criterion/criterion.h>
#include <pthread.h>

#include "runtime.h"
#include "thread.h"
#include "weft/weft.h"
#include "weft_test.h"

static weft_stats stats(void)
{
    weft_stats s;
    weft_get_stats(&s);
    return s;
}

typedef struct job {
    int spans, noops;
    weft__thread *state; /* out: the state the thread ran on */
    uint32_t slot;
} job;

static void *run(void *p)
{
    job *j = p;
    for (int i = 0; i < j->spans; i++) {
        weft_span s = weft_span_begin("worker span", WEFT_TYPE_CUSTOM);
        weft_span_end(s);
    }
    for (int i = 0; i < j->noops; i++)
        weft_span_end((weft_span){0});
    j->state = weft__tls;
    j->slot = weft__tls ? weft__tls->slot : UINT32_MAX;
    return NULL;
}

static void run_thread(job *j)
{
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, run, j), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
}

Test(thread, registers_a_thread_on_its_first_span_only)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    cr_assert_eq(stats().threads, 0, "init registers no thread");
    cr_assert_null(weft__tls);
    weft_span a = weft_span_begin("first", WEFT_TYPE_CUSTOM);
    weft__thread *t = weft__tls;
    cr_assert_not_null(t);
    cr_assert_eq(weft__tls_gen, weft__rt.gen);
    cr_assert_lt(t->slot, weft__rt.n_slots);
    cr_assert_eq(atomic_load(&weft__rt.slots[t->slot]), t, "the state sits in its slot");
    cr_assert_eq(t->depth, 1, "the span is current");
    weft_span b = weft_span_begin("second", WEFT_TYPE_CUSTOM);
    weft_span_end(b);
    weft_span_end(a);
    cr_assert_eq(weft__tls, t, "a later span finds the same state");
    cr_assert_eq(t->depth, 0);
    cr_assert_eq(stats().threads, 1);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 2);
    json_decref(recs);
    weft_stats st = stats();
    cr_assert_eq(st.threads, 1);
    cr_assert_eq(st.started, 2);
    cr_assert_eq(st.ended, 2);
    cr_assert_eq(st.exported, 2);
    cr_assert_eq(st.internal_errors, 0);
}

Test(thread, gives_each_live_thread_its_own_slot)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span s = weft_span_begin("main", WEFT_TYPE_CUSTOM);
    weft_span_end(s);
    job j = {.spans = 1};
    run_thread(&j);
    cr_assert_not_null(j.state);
    cr_assert_neq(j.state, weft__tls, "the main thread is still alive: its state is not shared");
    cr_assert_neq(j.slot, weft__tls->slot);
    cr_assert_eq(weft_shutdown(5000), 0);
    weft_stats st = stats();
    cr_assert_eq(st.threads, 2);
    cr_assert_eq(st.started, 2);
    cr_assert_eq(st.exported, 2);
    cr_assert_eq(st.dropped_no_slot, 0);
}

Test(thread, reuses_the_slot_and_state_of_an_exited_thread_once_drained)
{
    weft_config c = {.max_threads = 1, .flush_interval_ms = 3600000}; /* only flush drains */
    cr_assert_eq(wt_init_memory(&c), 0);
    job a = {.spans = 3};
    run_thread(&a);
    cr_assert_not_null(a.state);
    /* The flush drains the exited thread's ring and recycles its state. */
    cr_assert_eq(weft_flush(10000), 0);
    job b = {.spans = 2};
    run_thread(&b);
    cr_assert_eq(b.state, a.state, "the drained state is reused, not a new allocation");
    cr_assert_eq(b.slot, a.slot);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(wt_count(recs, "worker span"), 5);
    json_decref(recs);
    weft_stats st = stats();
    cr_assert_eq(st.threads, 2);
    cr_assert_eq(st.dropped_no_slot, 0, "the one slot was free again for the second thread");
    cr_assert_eq(st.started, 5);
    cr_assert_eq(st.exported, 5);
}

Test(thread, a_thread_with_no_free_slot_is_dropped_and_counted)
{
    weft_config c = {.max_threads = 1, .flush_interval_ms = 3600000};
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span s = weft_span_begin("main holds the slot", WEFT_TYPE_CUSTOM);
    job j = {.spans = 2};
    run_thread(&j);
    cr_assert_null(j.state, "no slot: the thread was not registered");
    weft_span_end(s);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 1);
    json_decref(recs);
    weft_stats st = stats();
    cr_assert_eq(st.threads, 1);
    cr_assert_eq(st.dropped_no_slot, 4, "two begins and two ends found no slot");
    cr_assert_eq(st.started, 1);
    cr_assert_eq(st.exported, 1);
}

Test(thread, folds_the_counters_of_a_recycled_state_into_the_statistics)
{
    weft_config c = {.max_threads = 1, .flush_interval_ms = 3600000};
    cr_assert_eq(wt_init_memory(&c), 0);
    job a = {.spans = 3, .noops = 2};
    run_thread(&a);
    cr_assert_eq(weft_flush(10000), 0);
    weft_stats mid = stats();
    cr_assert_eq(mid.started, 3, "the exited thread's counters are still counted");
    cr_assert_eq(mid.noop_calls, 2);
    job b = {.spans = 4, .noops = 1};
    run_thread(&b);
    cr_assert_eq(b.state, a.state, "the second thread ran on the recycled state");
    /* The state's own counter is not read here: once b's thread has exited, the export thread
     * may recycle the state and fold its counters at any moment. The totals tell the same: a
     * reused state that did not start at zero would count a's 3 spans twice (10). */
    weft_stats live = stats();
    cr_assert_eq(live.started, 7, "a reused state starts its counters at zero");
    cr_assert_eq(live.noop_calls, 3);
    cr_assert_eq(weft_shutdown(5000), 0);
    weft_stats st = stats();
    cr_assert_eq(st.started, 7, "kept after the states are freed");
    cr_assert_eq(st.noop_calls, 3);
    cr_assert_eq(st.ended, 7);
    cr_assert_eq(st.exported, 7);
    cr_assert_eq(st.threads, 2);
}

Test(thread, counts_sampled_out_traces_per_thread_and_folds_them_in)
{
    weft_config c = {.max_threads = 1, .flush_interval_ms = 3600000, .sample_ratio = 1e-12};
    cr_assert_eq(wt_init_memory(&c), 0);
    job a = {.spans = 10};
    run_thread(&a);
    cr_assert_eq(weft_flush(10000), 0);
    job b = {.spans = 5};
    run_thread(&b);
    cr_assert_eq(weft_shutdown(5000), 0);
    weft_stats st = stats();
    cr_assert_eq(st.sampled_out, 15, "every root was sampled out (ratio 1e-12)");
    cr_assert_eq(st.started, 0);
    cr_assert_eq(st.exported, 0);
    cr_assert_eq(st.noop_calls, 0, "calls on sampled-out spans are not no-ops");
}

Test(thread, a_new_init_registers_the_thread_again)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span s = weft_span_begin("first run", WEFT_TYPE_CUSTOM);
    weft_span_end(s);
    uint32_t gen = weft__tls_gen;
    cr_assert_eq(weft_shutdown(5000), 0);
    cr_assert_null(weft__tls, "shutdown forgets the calling thread's state");
    cr_assert_eq(wt_init_memory(NULL), 0);
    cr_assert_eq(stats().threads, 0);
    s = weft_span_begin("second run", WEFT_TYPE_CUSTOM);
    weft_span_end(s);
    cr_assert_not_null(weft__tls);
    cr_assert_eq(weft__tls_gen, gen + 1);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 1);
    cr_assert_not_null(wt_find(recs, "second run"));
    json_decref(recs);
    weft_stats st = stats();
    cr_assert_eq(st.threads, 1);
    cr_assert_eq(st.started, 1);
    cr_assert_eq(st.exported, 1);
}
