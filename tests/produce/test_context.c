/*
 * test_context.c — the context stack of src/produce/span.c: head sampling never changes the
 * shape of what is kept, deep nesting keeps every parent, weft_span_activate / weft_scope_end
 * on pool threads, weft_span_get_ids against the exported record, and handles that are
 * forged, from another process or of an exited thread (run under ASan+UBSan in CI).
 *
 * Sampling is steered per trace by setting the runtime's threshold between begins (a trace is
 * kept when its random id is below weft__rt.hot.sample_below), so every case is exact.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime.h"
#include "thread.h"
#include "weft_test.h"

static void sample_none(void) { weft__rt.hot.sample_below = 0; }
static void sample_all(void) { weft__rt.hot.sample_below = UINT64_MAX; }

static weft_stats stats(void)
{
    weft_stats s;
    weft_get_stats(&s);
    return s;
}

static bool same_span(weft_span a, weft_span b) { return a.id == b.id && a.trace == b.trace; }

/* After a sampled-out trace, the thread must be back at no current span: a new kept trace is
 * a root and nothing of the dropped trace was recorded. */
static void assert_only_kept(json_t *recs, const char *const *kept, size_t n)
{
    cr_assert_eq(json_array_size(recs), n, "%zu records, expected %zu", json_array_size(recs), n);
    for (size_t i = 0; i < n; i++)
        cr_assert_not_null(wt_find(recs, kept[i]), "%s missing", kept[i]);
}

Test(context, a_sampled_out_begin_child_ended_before_its_siblings_leaves_the_root_current)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    sample_none();
    weft_span root = weft_span_begin("dropped root", WEFT_TYPE_TRACER);
    weft_span kid = weft_span_begin_child(root, "dropped kid", WEFT_TYPE_CUSTOM);
    weft_span_end(kid); /* used to pop the root off the stack */
    cr_assert(same_span(weft_current_span(), root), "the sampled-out root stays current");
    sample_all(); /* a new trace begun now would be kept: none may begin */
    weft_span step = weft_span_begin("dropped step", WEFT_TYPE_CUSTOM);
    cr_assert_not(weft_span_is_valid(step), "a child of a sampled-out root is sampled out");
    weft_span_end(step);
    weft_span_end(root);
    cr_assert_eq(weft_current_span().id, 0);
    weft_span next = weft_span_begin("next trace", WEFT_TYPE_TRACER);
    weft_span_end(next);
    json_t *recs = wt_records_after_shutdown();
    const char *kept[] = {"next trace"};
    assert_only_kept(recs, kept, 1);
    wt_assert_parent(recs, "next trace", NULL);
    json_decref(recs);
    cr_assert_eq(stats().noop_calls, 0);
}

Test(context, a_sampled_out_begin_child_ended_after_its_children_leaves_the_root_current)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    sample_none();
    weft_span root = weft_span_begin("dropped root", WEFT_TYPE_TRACER);
    weft_span kid = weft_span_begin_child(root, "dropped kid", WEFT_TYPE_CUSTOM);
    weft_span grandkid = weft_span_begin_child(kid, "dropped grandkid", WEFT_TYPE_CUSTOM);
    sample_all();
    weft_span a = weft_span_begin("dropped a", WEFT_TYPE_CUSTOM); /* child of root */
    weft_span b = weft_span_begin("dropped b", WEFT_TYPE_CUSTOM); /* child of a */
    cr_assert(same_span(weft_current_span(), b));
    weft_span_end(b);
    weft_span_end(grandkid);
    weft_span_end(kid);
    cr_assert(same_span(weft_current_span(), a), "ending kid and grandkid left a current");
    weft_span_end(a);
    cr_assert(same_span(weft_current_span(), root));
    weft_span_end(root);
    weft_span next = weft_span_begin("next trace", WEFT_TYPE_TRACER);
    weft_span inner = weft_span_begin("next inner", WEFT_TYPE_CUSTOM);
    weft_span_end(inner);
    weft_span_end(next);
    json_t *recs = wt_records_after_shutdown();
    const char *kept[] = {"next trace", "next inner"};
    assert_only_kept(recs, kept, 2);
    wt_assert_parent(recs, "next trace", NULL);
    wt_assert_parent(recs, "next inner", "next trace");
    json_decref(recs);
    weft_stats st = stats();
    cr_assert_eq(st.noop_calls, 0);
    cr_assert_eq(st.sampled_out, 1, "one sampling decision, for the one dropped root");
}

static void *end_on_thread(void *p)
{
    weft_span_end(*(weft_span *)p);
    return NULL;
}

typedef struct kid_job {
    weft_span parent, kid;
} kid_job;

static void *begin_child_and_end_on_thread(void *p)
{
    kid_job *j = p;
    j->kid = weft_span_begin_child(j->parent, "dropped kid elsewhere", WEFT_TYPE_CUSTOM);
    weft_span step = weft_span_begin("dropped step elsewhere", WEFT_TYPE_CUSTOM); /* a root here */
    weft_span_end(step);
    weft_span_end(j->kid);
    return NULL;
}

static void end_elsewhere(weft_span *s)
{
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, end_on_thread, s), 0);
    pthread_join(t, NULL);
}

Test(context, sampled_out_spans_ended_on_another_thread_leave_both_stacks_right)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    sample_none();
    weft_span root = weft_span_begin("dropped root", WEFT_TYPE_TRACER);
    weft_span kid = weft_span_begin_child(root, "dropped kid", WEFT_TYPE_CUSTOM);
    weft_span a = weft_span_begin("dropped a", WEFT_TYPE_CUSTOM);
    end_elsewhere(&kid); /* before a, the child begun after it, ends */
    cr_assert(same_span(weft_current_span(), a));
    /* A begin_child of the sampled-out root made and ended on another thread. */
    kid_job j = {root, {0, 0, 0, 0, 0}};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, begin_child_and_end_on_thread, &j), 0);
    pthread_join(t, NULL);
    cr_assert(same_span(weft_current_span(), a));
    end_elsewhere(&a); /* a, current here, ends on another thread: popped at the next call */
    cr_assert(same_span(weft_current_span(), root));
    sample_all();
    end_elsewhere(&root);
    cr_assert_eq(weft_current_span().id, 0, "the root ended elsewhere stops being current");
    weft_span next = weft_span_begin("next trace", WEFT_TYPE_TRACER);
    weft_span_end(next);
    json_t *recs = wt_records_after_shutdown();
    /* "dropped step elsewhere" was begun while sampling dropped every trace. */
    const char *kept[] = {"next trace"};
    assert_only_kept(recs, kept, 1);
    wt_assert_parent(recs, "next trace", NULL);
    json_decref(recs);
    cr_assert_eq(stats().noop_calls, 0);
}

Test(context, half_sampled_traces_never_split_into_roots_of_their_own)
{
    weft_config c = {.sample_ratio = 0.5};
    cr_assert_eq(wt_init_memory(&c), 0);
    for (int i = 0; i < 400; i++) {
        weft_span root = weft_span_begin("root", WEFT_TYPE_TRACER);
        weft_span kid = weft_span_begin_child(root, "kid", WEFT_TYPE_CUSTOM);
        weft_span step = weft_span_begin("step", WEFT_TYPE_CUSTOM);
        weft_span_end(kid);
        weft_span inner = weft_span_begin("inner", WEFT_TYPE_CUSTOM);
        weft_span_end(inner);
        weft_span_end(step);
        weft_span_end(root);
    }
    json_t *recs = wt_records_after_shutdown();
    size_t i;
    json_t *r;
    size_t roots = 0;
    json_array_foreach(recs, i, r)
    {
        bool is_root = json_object_get(r, "parent_id") == NULL;
        bool named_root = strcmp(wt_str(r, "name"), "root") == 0;
        cr_assert_eq(is_root, named_root, "%s recorded %s a root", wt_str(r, "name"), is_root ? "as" : "not as");
        roots += is_root;
    }
    cr_assert_eq(wt_count(recs, "kid"), roots);
    cr_assert_eq(wt_count(recs, "step"), roots);
    cr_assert_eq(wt_count(recs, "inner"), roots);
    json_decref(recs);
    cr_assert_eq(stats().sampled_out + roots, 400);
}

#define DEEP 10000

Test(context, ten_thousand_nested_spans_each_keep_their_parent)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    static weft_span s[DEEP];
    char name[32];
    for (int d = 0; d < DEEP; d++) {
        snprintf(name, sizeof name, "d%d", d);
        s[d] = weft_span_begin(name, WEFT_TYPE_CUSTOM);
    }
    for (int d = DEEP - 1; d >= 0; d--) {
        cr_assert(same_span(weft_current_span(), s[d]), "depth %d is not current", d);
        weft_span_end(s[d]);
    }
    cr_assert_eq(weft_current_span().id, 0);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), DEEP);
    /* id of each depth, then every parent checked in one pass. */
    static char ids[DEEP][40];
    size_t i;
    json_t *r;
    json_array_foreach(recs, i, r)
    {
        int d = atoi(wt_str(r, "name") + 1);
        snprintf(ids[d], sizeof ids[d], "%s", wt_str(r, "id"));
    }
    json_array_foreach(recs, i, r)
    {
        int d = atoi(wt_str(r, "name") + 1);
        if (d == 0)
            cr_assert_null(json_object_get(r, "parent_id"));
        else
            cr_assert_str_eq(wt_str(r, "parent_id"), ids[d - 1], "depth %d has the wrong parent", d);
    }
    json_decref(recs);
    cr_assert_eq(stats().dropped_depth, 0);
}

/* WEFT__STACK_MAX (65,535) is the documented limit: a begin deeper records nothing, is
 * counted, and what is recorded keeps its right parent. */
Test(context, past_the_depth_limit_spans_are_counted_and_no_parent_is_wrong)
{
    weft_config c = {.max_open_spans = 200000, .ring_bytes = 64u << 20};
    cr_assert_eq(wt_init_memory(&c), 0);
    const int limit = 65535;
    weft_span *s = calloc(limit + 2, sizeof *s);
    for (int d = 0; d < limit + 2; d++)
        s[d] = weft_span_begin(d < limit ? "in" : "past", WEFT_TYPE_CUSTOM);
    cr_assert(weft_span_is_valid(s[limit - 1]));
    cr_assert_not(weft_span_is_valid(s[limit]));
    cr_assert_not(weft_span_is_valid(s[limit + 1]));
    weft_span kid = weft_span_begin_child(s[limit - 1], "child of the deepest", WEFT_TYPE_CUSTOM);
    cr_assert(weft_span_is_valid(kid), "begin_child needs no stack entry");
    weft_span_end(kid);
    for (int d = limit + 1; d >= 0; d--)
        weft_span_end(s[d]);
    cr_assert_eq(weft_current_span().id, 0);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(wt_count(recs, "past"), 0);
    cr_assert_eq(wt_count(recs, "in"), (size_t)limit);
    cr_assert_not_null(wt_find(recs, "child of the deepest"));
    json_decref(recs);
    cr_assert_eq(stats().dropped_depth, 2);
    cr_assert_eq(stats().noop_calls, 0);
    free(s);
}

/* ---- activate / scope_end ---------------------------------------------------------- */

typedef struct pool_job {
    weft_span request;
    uint64_t noop_before, noop_after;
} pool_job;

static void *pool_worker(void *p)
{
    pool_job *j = p;
    weft_scope outer = weft_span_activate(j->request);
    cr_assert(same_span(weft_current_span(), j->request));
    weft_span a = weft_span_begin("a", WEFT_TYPE_CUSTOM);          /* child of request */
    weft_span b = weft_span_begin("b", WEFT_TYPE_CUSTOM);          /* child of a */
    weft_span_end(b);
    weft_scope inner = weft_span_activate(j->request);             /* nested scope */
    weft_span c = weft_span_begin("c", WEFT_TYPE_CUSTOM);          /* child of request */
    weft_scope_end(outer);                                          /* out of order: no-op */
    weft_scope_end(inner);                                          /* c still open: no-op */
    weft_span_end(c);
    weft_span d = weft_span_begin("d", WEFT_TYPE_CUSTOM);          /* inner is still open */
    weft_span_end(d);
    weft_scope_end(inner);
    cr_assert(same_span(weft_current_span(), a), "ending inner restored a");
    weft_span e = weft_span_begin("e", WEFT_TYPE_CUSTOM);          /* child of a */
    weft_span_end(e);
    weft_span_end(a);
    cr_assert(same_span(weft_current_span(), j->request));
    weft_scope_end(outer);
    cr_assert_eq(weft_current_span().id, 0, "the pool thread is back at no span");
    weft_span f = weft_span_begin("f", WEFT_TYPE_TRACER);          /* a root of its own */
    weft_span_end(f);
    weft_scope_end(outer);                                          /* twice: no-op */
    return NULL;
}

Test(context, a_pool_thread_joins_a_trace_and_out_of_order_scope_ends_are_counted)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    pool_job j = {weft_span_begin("request", WEFT_TYPE_TRACER), 0, 0};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, pool_worker, &j), 0);
    pthread_join(t, NULL);
    cr_assert(same_span(weft_current_span(), j.request), "the request thread's stack is its own");
    weft_span_end(j.request);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 7);
    wt_assert_parent(recs, "request", NULL);
    wt_assert_parent(recs, "a", "request");
    wt_assert_parent(recs, "b", "a");
    wt_assert_parent(recs, "c", "request");
    wt_assert_parent(recs, "d", "request");
    wt_assert_parent(recs, "e", "a");
    wt_assert_parent(recs, "f", NULL);
    json_decref(recs);
    cr_assert_eq(stats().noop_calls, 3, "three scope ends out of order or twice");
}

static void *end_scope_here(void *p)
{
    weft_scope_end(*(weft_scope *)p);
    return NULL;
}

Test(context, a_scope_outlives_its_span_and_cannot_end_on_another_thread)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span parent = weft_span_begin_child((weft_span){0, 0, 0, 0, 0}, "parent", WEFT_TYPE_TRACER);
    weft_scope sc = weft_span_activate(parent);
    weft_span_end(parent); /* ending the span does not end the scope */
    cr_assert(same_span(weft_current_span(), parent));
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, end_scope_here, &sc), 0);
    pthread_join(t, NULL);
    cr_assert(same_span(weft_current_span(), parent), "a scope ends on its own thread only");
    weft_scope_end(sc);
    cr_assert_eq(weft_current_span().id, 0);
    /* The zero span opens a scope of no span: spans begin as roots in it. */
    weft_span outer = weft_span_begin("outer", WEFT_TYPE_TRACER);
    weft_scope none = weft_span_activate((weft_span){0, 0, 0, 0, 0});
    weft_span loose = weft_span_begin("loose", WEFT_TYPE_TRACER);
    weft_span_end(loose);
    weft_scope_end(none);
    cr_assert(same_span(weft_current_span(), outer));
    weft_span_end(outer);
    json_t *recs = wt_records_after_shutdown();
    wt_assert_parent(recs, "loose", NULL);
    json_decref(recs);
    cr_assert_eq(stats().noop_calls, 1, "the scope end on another thread");
}

Test(context, a_sampled_out_span_activated_elsewhere_keeps_its_children_out)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    sample_none();
    weft_span root = weft_span_begin_child((weft_span){0, 0, 0, 0, 0}, "dropped", WEFT_TYPE_TRACER);
    sample_all();
    weft_scope sc = weft_span_activate(root);
    weft_span kid = weft_span_begin("dropped kid", WEFT_TYPE_CUSTOM);
    cr_assert_not(weft_span_is_valid(kid));
    weft_scope_end(sc); /* kid still open: out of order */
    weft_span_end(kid);
    weft_scope_end(sc);
    weft_span_end(root);
    weft_span next = weft_span_begin("kept", WEFT_TYPE_TRACER);
    weft_span_end(next);
    json_t *recs = wt_records_after_shutdown();
    const char *kept[] = {"kept"};
    assert_only_kept(recs, kept, 1);
    json_decref(recs);
    cr_assert_eq(stats().noop_calls, 1);
}

/* ---- ids -------------------------------------------------------------------------- */

Test(context, get_ids_match_the_exported_record)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_ids ids;
    weft_span zero = {0, 0, 0, 0, 0};
    cr_assert_eq(weft_span_get_ids(zero, &ids), WEFT_EINVAL);
    weft_span root = weft_span_begin("root", WEFT_TYPE_TRACER);
    weft_span kid = weft_span_begin("kid", WEFT_TYPE_CUSTOM);
    weft_ids r, k;
    cr_assert_eq(weft_span_get_ids(root, &r), 0);
    cr_assert_eq(weft_span_get_ids(kid, &k), 0);
    cr_assert_eq(weft_span_get_ids(kid, NULL), WEFT_EINVAL);
    weft_span_end(kid);
    weft_span_end(root);
    json_t *recs = wt_records_after_shutdown();
    json_t *rr = wt_find(recs, "root"), *kr = wt_find(recs, "kid");
    cr_assert_str_eq(r.span_id, wt_str(rr, "id"));
    cr_assert_str_eq(r.trace_id, wt_str(rr, "trace_id"));
    cr_assert_str_eq(r.w3c_trace_id, wt_str(rr, "obs_trace_id"));
    cr_assert_str_eq(r.w3c_span_id, wt_str(rr, "obs_span_id"));
    cr_assert_str_eq(k.span_id, wt_str(kr, "id"));
    cr_assert_str_eq(k.trace_id, wt_str(kr, "trace_id"));
    cr_assert_str_eq(k.w3c_trace_id, wt_str(kr, "obs_trace_id"));
    cr_assert_str_eq(k.w3c_span_id, wt_str(kr, "obs_span_id"));
    cr_assert_eq(strlen(k.w3c_trace_id), 32);
    cr_assert_eq(strlen(k.w3c_span_id), 16);
    cr_assert_eq(strlen(k.span_id), 36);
    json_decref(recs);
}

/* ---- handles that are not what they claim ------------------------------------------ */

static const weft_usage usage = {"gpt-4o-mini", 10, 5, false, 0};
static const weft_message msg = {.role = "user", .content = "hi"};
static const weft_document_hit hit = {.doc_id = "d1", .score = 0.5};
static const weft_citation cit = {.doc_id = "d1"};

/* Every setter, its ids, an activate with its scope end, and end (twice). */
static void every_call(weft_span s)
{
    weft_span_set_status(s, WEFT_STATUS_ERROR);
    weft_span_set_error(s, "E", "m");
    weft_span_set_error(s, NULL, NULL);
    weft_span_set_str(s, WEFT_INPUT, "k", "v");
    weft_span_set_strn(s, WEFT_INPUT, "k", "v", 1);
    weft_span_set_i64(s, WEFT_OUTPUT, "i", 1);
    weft_span_set_f64(s, WEFT_OUTPUT, "f", 1.5);
    weft_span_set_bool(s, WEFT_METADATA, "b", true);
    weft_span_set_json(s, WEFT_METADATA, "j", "{}", 2);
    weft_span_set_msgpack(s, WEFT_METADATA, "m", "\x01", 1);
    weft_span_set_group_id(s, "g");
    weft_span_set_application_variant_id(s, "v");
    weft_span_set_application_interaction_id(s, "i");
    weft_span_set_usage(s, &usage);
    weft_span_add_message(s, WEFT_INPUT, &msg);
    weft_retrieval_info ri = {.query = "q", .hits = &hit, .n_hits = 1};
    weft_span_set_retrieval(s, &ri);
    weft_generation_info gi = {.answer = "a", .citations = &cit, .n_citations = 1};
    weft_span_set_generation(s, &gi);
    weft_ids ids;
    (void)weft_span_get_ids(s, &ids);
    weft_scope sc = weft_span_activate(s);
    weft_scope_end(sc);
    weft_span_end(s);
    (weft_span_end)(s); /* the library function itself, whatever the inline test said */
}

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

Test(context, forged_handles_of_random_bytes_are_counted_noops_through_every_call)
{
    weft_config c = {.ring_bytes = 16u << 20};
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span mine = weft_span_begin("mine", WEFT_TYPE_TRACER);
    for (int i = 0; i < 2000; i++) {
        weft_span f;
        uint64_t w[4] = {next_rand(), next_rand(), next_rand(), next_rand()};
        _Static_assert(sizeof f <= sizeof w, "a forged handle is made of random words");
        memcpy(&f, w, sizeof f);
        if (i % 4 == 1)
            f.flags = 0; /* known flags, random home */
        if (i % 4 == 2) {
            f.flags = 0; /* this thread's slot, a depth that exists, a wrong id */
            f.home = (mine.home & 0xffff0000u) | (uint32_t)(i % 3);
        }
        if (i % 4 == 3)
            f.home = 0xfffeu | (f.home & 0xffff0000u); /* the deepest entry of some slot */
        every_call(f);
        cr_assert(same_span(weft_current_span(), mine), "forged handle %d changed the stack", i);
    }
    weft_span_set_str(mine, WEFT_INPUT, "still", "works");
    weft_span_end(mine);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 1, "nothing but mine was recorded");
    cr_assert_str_eq(wt_str(wt_path(wt_find(recs, "mine"), "input"), "still"), "works");
    json_decref(recs);
    weft_stats st = stats();
    cr_assert_geq(st.noop_calls, 2000 * 19, "every forged call is counted: %llu", (unsigned long long)st.noop_calls);
    cr_assert_eq(st.internal_errors, 0);
}

Test(context, a_span_handle_from_another_process_is_a_counted_noop)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span mine = weft_span_begin("mine", WEFT_TYPE_TRACER);
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        /* A traced process of its own (after fork a child starts over with shutdown + init). */
        weft_shutdown(100);
        if (wt_init_memory(NULL) != 0)
            _exit(1);
        weft_span v[3];
        v[0] = weft_span_begin("theirs", WEFT_TYPE_TRACER);
        v[1] = weft_span_begin("theirs inner", WEFT_TYPE_CUSTOM);
        v[2] = weft_span_begin_child(v[0], "theirs child", WEFT_TYPE_CUSTOM);
        if (write(fd[1], v, sizeof v) != (ssize_t)sizeof v)
            _exit(2);
        _exit(0);
    }
    weft_span theirs[3];
    cr_assert_eq(read(fd[0], theirs, sizeof theirs), (ssize_t)sizeof theirs);
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert_eq(WEFT__HOME_SLOT(theirs[1].home), WEFT__HOME_SLOT(mine.home),
                 "the child's main thread has slot 0 too: the handle names this thread's stack");
    for (int i = 0; i < 3; i++) {
        every_call(theirs[i]);
        cr_assert(same_span(weft_current_span(), mine));
    }
    weft_span_end(mine);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 1);
    cr_assert_not_null(wt_find(recs, "mine"));
    json_decref(recs);
    cr_assert_geq(stats().noop_calls, 3 * 19);
}

typedef struct exit_job {
    weft_span s;
} exit_job;

static void *begin_and_exit(void *p)
{
    ((exit_job *)p)->s = weft_span_begin("of an exited thread", WEFT_TYPE_CUSTOM);
    return NULL; /* exits with the span open and current on its own stack */
}

typedef struct holder {
    pthread_barrier_t *bar;
    weft_span held, kid_parent_check;
    bool parent_ok;
} holder;

static void *hold_a_span(void *p)
{
    holder *h = p;
    h->held = weft_span_begin("held", WEFT_TYPE_TRACER);
    pthread_barrier_wait(h->bar); /* the main thread now ends the exited thread's span */
    pthread_barrier_wait(h->bar);
    h->parent_ok = same_span(weft_current_span(), h->held);
    weft_span kid = weft_span_begin("under held", WEFT_TYPE_CUSTOM);
    weft_span_end(kid);
    weft_span_end(h->held);
    return NULL;
}

Test(context, a_span_of_an_exited_thread_ends_without_touching_the_slots_next_owner)
{
    weft_config c = {.max_threads = 2}; /* the next thread gets the exited one's state back */
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span mine = weft_span_begin("mine", WEFT_TYPE_TRACER);
    exit_job j;
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, begin_and_exit, &j), 0);
    pthread_join(t, NULL);
    /* Wait until the export thread has drained and recycled the exited thread's state. */
    uint32_t slot = WEFT__HOME_SLOT(j.s.home);
    for (int i = 0; i < 500 && atomic_load(&weft__rt.slots[slot]); i++) {
        weft_flush(1000);
        usleep(10000);
    }
    cr_assert_null(atomic_load(&weft__rt.slots[slot]), "the exited thread's state was never recycled");
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, 2);
    holder h = {&bar, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 0}, false};
    cr_assert_eq(pthread_create(&t, NULL, hold_a_span, &h), 0);
    pthread_barrier_wait(&bar);
    cr_assert_eq(WEFT__HOME_SLOT(h.held.home), WEFT__HOME_SLOT(j.s.home), "the slot was reused");
    every_call(j.s); /* a real, still open span: its setters count, its end ends it */
    pthread_barrier_wait(&bar);
    pthread_join(t, NULL);
    pthread_barrier_destroy(&bar);
    cr_assert(h.parent_ok, "the slot's new owner kept its current span");
    cr_assert(same_span(weft_current_span(), mine));
    weft_span_end(mine);
    json_t *recs = wt_records_after_shutdown();
    wt_assert_parent(recs, "under held", "held");
    json_t *orphan = wt_find(recs, "of an exited thread");
    cr_assert_not_null(orphan);
    cr_assert_not_null(json_object_get(orphan, "end_timestamp"));
    cr_assert_str_eq(wt_str(orphan, "status"), "ERROR");
    json_decref(recs);
}

/* ---- attributes ------------------------------------------------------------------- */

Test(context, a_hundred_thousand_attributes_on_one_span_arrive_within_the_shutdown_timeout)
{
    weft_config c = {.ring_bytes = 64u << 20, .max_batch_bytes = 64u << 20};
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span s = weft_span_begin("wide", WEFT_TYPE_CUSTOM);
    char key[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        weft_span_set_i64(s, WEFT_METADATA, key, i);
    }
    weft_span_set_i64(s, WEFT_METADATA, "k7", -7); /* a repeated key: the last set wins */
    weft_span_end(s);
    weft_span other = weft_span_begin("other", WEFT_TYPE_CUSTOM);
    weft_span_end(other);
    int rc = weft_shutdown(2000);
    cr_assert_eq(rc, 0, "weft_shutdown(2000): %s", weft_strerror(rc));
    json_t *recs = wt_records_after_shutdown(); /* already shut down: parses what went out */
    json_t *w = wt_find(recs, "wide");
    cr_assert_not_null(w, "the wide span arrived");
    cr_assert_not_null(wt_find(recs, "other"), "the span after it arrived");
    json_t *md = json_object_get(w, "metadata");
    cr_assert_not_null(json_object_get(md, "trace_summary"), "a root: its summary is in metadata too");
    cr_assert_eq(json_object_size(md), 100001, "%zu keys", json_object_size(md));
    cr_assert_eq(json_integer_value(json_object_get(md, "k7")), -7);
    cr_assert_eq(json_integer_value(json_object_get(md, "k99999")), 99999);
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.dropped_ring, 0);
}
