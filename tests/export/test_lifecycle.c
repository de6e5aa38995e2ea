/*
 * test_lifecycle.c — init, flush and shutdown ordering, the default JSONL exporter, disabling
 * through the environment, head sampling, and fork().
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "weft/weft.h"
#include "weft_test.h"

Test(lifecycle, flush_exports_everything_ended_before_it)
{
    weft_config c = {.flush_interval_ms = 3600000}; /* only flush can move spans */
    cr_assert_eq(wt_init_memory(&c), 0);
    for (int round = 1; round <= 3; round++) {
        for (int i = 0; i < 100; i++) {
            weft_span s = weft_span_begin("flushed", WEFT_TYPE_CUSTOM);
            weft_span_end(s);
        }
        json_t *recs = wt_records();
        cr_assert_eq(wt_count(recs, "flushed"), (size_t)round * 100);
        json_decref(recs);
    }
    cr_assert_eq(weft_shutdown(1000), 0);
}

Test(lifecycle, init_twice_is_refused_and_shutdown_exports_open_spans)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    cr_assert_eq(wt_init_memory(NULL), WEFT_EALREADY);
    weft_span open = weft_span_begin("still open", WEFT_TYPE_CUSTOM);
    (void)open;
    json_t *recs = wt_records_after_shutdown();
    json_t *r = wt_find(recs, "still open");
    cr_assert_not_null(r, "an open span is exported as it stands at shutdown");
    cr_assert_null(json_object_get(r, "end_timestamp"));
    json_decref(recs);
    cr_assert_eq(weft_shutdown(1000), 0);
}

Test(lifecycle, the_default_exporter_writes_sgp_items_as_jsonl)
{
    char dir[] = "/tmp/weft-jsonl-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/traces.jsonl", dir);
    setenv("WEFT_JSONL_PATH", path, 1);
    unsetenv("SGP_API_KEY");
    unsetenv("WEFT_EXPORTER");
    weft_config c = {.no_atexit = true};
    cr_assert_eq(weft_init(&c), 0);
    weft_span s = weft_span_begin("to file", WEFT_TYPE_COMPLETION);
    weft_span_set_str(s, WEFT_OUTPUT, "answer", "42");
    weft_span_end(s);
    cr_assert_eq(weft_shutdown(5000), 0);
    unsetenv("WEFT_JSONL_PATH");
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600, "traces carry prompts: the file is private");
    FILE *f = fopen(path, "r");
    char line[4096];
    cr_assert_not_null(fgets(line, sizeof line, f));
    json_error_t err;
    json_t *it = json_loads(line, 0, &err);
    cr_assert_not_null(it, "%s", err.text);
    wt_check_item(it);
    cr_assert_str_eq(wt_str(it, "name"), "to file");
    cr_assert_str_eq(wt_str(json_object_get(it, "output"), "answer"), "42");
    cr_assert_null(fgets(line, sizeof line, f), "one span, one line");
    fclose(f);
    json_decref(it);
    unlink(path);
    rmdir(dir);
}

Test(lifecycle, disable_scale_tracing_makes_every_call_a_noop)
{
    setenv("DISABLE_SCALE_TRACING", "1", 1);
    cr_assert_eq(wt_init_memory(NULL), 0);
    unsetenv("DISABLE_SCALE_TRACING");
    weft_span s = weft_span_begin("nothing", WEFT_TYPE_CUSTOM);
    cr_assert_not(weft_span_is_valid(s));
    weft_span_set_str(s, WEFT_INPUT, "k", "v");
    weft_span_end(s);
    cr_assert_eq(weft_flush(100), 0);
    cr_assert_eq(weft_shutdown(100), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.started, 0);
    cr_assert_eq(st.noop_calls, 0, "disabled calls are not misuse");
}

Test(lifecycle, head_sampling_keeps_or_drops_whole_traces)
{
    weft_config c = {.sample_ratio = 0.5};
    cr_assert_eq(wt_init_memory(&c), 0);
    for (int i = 0; i < 2000; i++) {
        weft_span r = weft_span_begin("root", WEFT_TYPE_TRACER);
        weft_span k = weft_span_begin("kid", WEFT_TYPE_CUSTOM);
        weft_span_set_str(k, WEFT_INPUT, "x", "y");
        weft_span_end(k);
        weft_span_end(r);
    }
    json_t *recs = wt_records_after_shutdown();
    size_t roots = wt_count(recs, "root"), kids = wt_count(recs, "kid");
    cr_assert_eq(roots, kids, "children follow their root's sampling decision");
    cr_assert(roots > 800 && roots < 1200, "about half the traces kept: %zu", roots);
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.sampled_out + roots, 2000);
    cr_assert_eq(st.noop_calls, 0, "calls on sampled-out spans are not misuse");
}

/* In a fork() child: shutdown and init give a working tracer that exports one span. 0, or
 * the step that failed (2 re-init, 3 flush, 4 not exported, 5 shutdown). */
static int child_traces_again(void)
{
    if (weft_shutdown(100) != 0 || wt_init_memory(NULL) != 0)
        return 2;
    weft_span again = weft_span_begin("child traced", WEFT_TYPE_CUSTOM);
    weft_span_end(again);
    if (weft_flush(5000) != 0)
        return 3;
    weft_stats st;
    weft_get_stats(&st);
    if (st.exported != 1)
        return 4;
    return weft_shutdown(5000) == 0 ? 0 : 5;
}

Test(lifecycle, a_forked_child_has_a_disabled_tracer_until_it_starts_again)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span before = weft_span_begin("parent before fork", WEFT_TYPE_CUSTOM);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* Child: calls are harmless no-ops; shutdown and init give a working tracer. */
        weft_span s = weft_span_begin("child disabled", WEFT_TYPE_CUSTOM);
        weft_span_end(s);
        weft_span_end(before);
        if (weft_span_is_valid(s) || weft_flush(100) != WEFT_EDISABLED)
            _exit(1);
        _exit(child_traces_again());
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "child crashed");
    cr_assert_eq(WEXITSTATUS(status), 0, "child failed at step %d", WEXITSTATUS(status));
    /* The parent goes on as if nothing happened. */
    weft_span_end(before);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_not_null(wt_find(recs, "parent before fork"));
    cr_assert_null(wt_find(recs, "child disabled"));
    json_decref(recs);
}

struct busy_tracer {
    atomic_int stop;
    atomic_int bursts;
};

static void *trace_until_stopped(void *p)
{
    struct busy_tracer *b = p;
    /* Bursts with pauses: fast enough to keep the export thread busy, slow enough for a
     * sanitizer build's export thread to keep up. */
    while (!atomic_load(&b->stop)) {
        for (int i = 0; i < 20; i++) {
            weft_span s = weft_span_begin("busy", WEFT_TYPE_CUSTOM);
            weft_span_set_str(s, WEFT_INPUT, "question", "a value the export thread copies");
            weft_span_end(s);
        }
        atomic_fetch_add(&b->bursts, 1);
        nanosleep(&(struct timespec){.tv_nsec = 200000}, NULL);
    }
    return NULL;
}

/* The export thread is encoding and allocating while the program forks: the child's new
 * tracer must not inherit a lock the parent's export thread held (the loop thread parks for
 * the fork). Each child re-inits, traces and flushes; a hang is caught by the flush timeout. */
Test(lifecycle, forks_while_another_thread_traces_leave_every_child_a_working_tracer)
{
    weft_config c = {.flush_interval_ms = 1};
    cr_assert_eq(wt_init_memory(&c), 0);
    struct busy_tracer b = {0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, trace_until_stopped, &b), 0);
    /* Not while the thread is starting: a sanitizer's thread start allocates, and the
     * sanitizer's allocator is not fork-safe (that is the test's thread, not weft's). */
    while (atomic_load(&b.bursts) < 10)
        sched_yield();
    for (int i = 0; i < 30; i++) {
        fflush(NULL);
        pid_t pid = fork();
        cr_assert_neq(pid, -1);
        if (pid == 0)
            _exit(child_traces_again());
        int status;
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status), "child %d crashed", i);
        cr_assert_eq(WEXITSTATUS(status), 0, "child %d failed at step %d", i, WEXITSTATUS(status));
    }
    atomic_store(&b.stop, 1);
    pthread_join(t, NULL);
    cr_assert_eq(weft_flush(5000), 0, "the parent's export thread went on after every fork");
    weft_stats st;
    weft_get_stats(&st);
    cr_assert(st.exported > 0);
    cr_assert_eq(st.exported, st.started, "nothing lost to the forks");
    cr_assert_eq(weft_shutdown(5000), 0);
}

Test(lifecycle, strerror_names_every_code)
{
    cr_assert_str_eq(weft_strerror(0), "success");
    cr_assert_str_eq(weft_strerror(WEFT_ETIMEDOUT), "timed out before everything was exported");
    cr_assert_str_eq(weft_strerror(-9999), "unknown error");
    for (int e = -1; e >= WEFT_EEXPORT; e--)
        cr_assert_str_neq(weft_strerror(e), "unknown error");
}

static void *end_it(void *p)
{
    weft_span_end(*(weft_span *)p);
    return NULL;
}

Test(lifecycle, sampled_out_traces_nest_and_end_anywhere_without_sticking)
{
    weft_config c = {.sample_ratio = 1e-18}; /* every trace sampled out */
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span root = weft_span_begin("root", WEFT_TYPE_TRACER);
    cr_assert_not(weft_span_is_valid(root));
    weft_span a = weft_span_begin("a", WEFT_TYPE_CUSTOM);
    weft_span b = weft_span_begin("b", WEFT_TYPE_CUSTOM);
    weft_span_set_str(b, WEFT_INPUT, "k", "v");
    weft_span_end(b);
    weft_span_end(a);
    /* The sampled-out root ends on another thread: this thread must not stay inside it. */
    pthread_t t;
    pthread_create(&t, NULL, end_it, &root);
    pthread_join(t, NULL);
    weft_span next = weft_span_begin("next root", WEFT_TYPE_TRACER);
    weft_span_end(next);
    cr_assert_eq(weft_shutdown(1000), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.sampled_out, 2, "two roots, two sampling decisions: %llu", (unsigned long long)st.sampled_out);
    cr_assert_eq(st.started, 0);
    cr_assert_eq(st.noop_calls, 0);
}

static weft_span calls_counted(weft_span s, int *n)
{
    (*n)++;
    return s;
}

/* weft.h's inline wrappers: a call on a span begun while disabled makes no call into the
 * library, each argument is evaluated once, and the exported functions stay reachable by
 * pointer and by parenthesised name. */
Test(lifecycle, inline_wrappers_keep_the_exported_functions_and_evaluate_once)
{
    weft_config off = {.disabled = true};
    cr_assert_eq(wt_init_memory(&off), 0);
    int n = 0;
    WEFT_SPAN_BEGIN(quiet, "quiet", WEFT_TYPE_CUSTOM);
    cr_assert_not(weft_span_is_valid(quiet));
    weft_span_set_str(calls_counted(quiet, &n), WEFT_INPUT, "k", "v");
    weft_span_set_i64(calls_counted(quiet, &n), WEFT_OUTPUT, "n", 1);
    weft_span_end(calls_counted(quiet, &n));
    cr_assert_eq(n, 3, "an argument was evaluated %d times for 3 calls", n);
    (weft_span_end)(quiet); /* the function itself: tracing is off, nothing happens */
    cr_assert_eq(weft_shutdown(100), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.started, 0);
    cr_assert_eq(st.noop_calls, 0);

    cr_assert_eq(wt_init_memory(NULL), 0);
    void (*set_str)(weft_span, weft_section, const char *, const char *) = weft_span_set_str;
    void (*end)(weft_span) = weft_span_end;
    weft_span s = weft_span_begin("by pointer", WEFT_TYPE_CUSTOM);
    set_str(s, WEFT_INPUT, "via", "pointer");
    (weft_span_set_i64)(s, WEFT_OUTPUT, "via_name", 7);
    weft_span_set_bool(calls_counted(s, &n), WEFT_METADATA, "wrapped", true);
    cr_assert_eq(n, 4);
    end(s);
    json_t *recs = wt_records_after_shutdown();
    json_t *r = wt_find(recs, "by pointer");
    cr_assert_not_null(r);
    cr_assert_str_eq(wt_str(json_object_get(r, "input"), "via"), "pointer");
    cr_assert_eq(json_integer_value(wt_path(r, "output.via_name")), 7);
    cr_assert(json_is_true(wt_path(r, "metadata.wrapped")));
    json_decref(recs);
}
