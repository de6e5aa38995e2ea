/*
 * test_summary.c — per-trace summaries (src/summary.c): the table on hand-built records (every
 * counter, orphans, late spans, many traces at once), then end to end with spans ending on
 * several threads.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "record.h"
#include "redact.h"
#include "runtime.h"
#include "summary.h"
#include "weft_test.h"

/* ---- unit harness -------------------------------------------------------------------- */

static weft__rec *mk(uint64_t trace, uint64_t id, uint64_t parent, weft_span_type type)
{
    weft__rec *r = malloc(sizeof *r);
    weft__rec_init(r);
    r->trace = trace;
    r->id = id;
    r->parent = parent;
    r->type = (uint32_t)type;
    r->start_ns = 1000000000ull + id;
    return r;
}

static void drop(weft__rec *r)
{
    weft__rec_fini(r);
    free(r);
}

static void end_at(weft__rec *r, uint64_t ns) { r->end_ns = ns; }

static void usage(weft__rec *r, int64_t in, int64_t out, bool has_cost, double cost)
{
    r->has_usage = true;
    r->input_tokens = in;
    r->output_tokens = out;
    r->has_cost = has_cost;
    r->cost_usd = cost;
}

typedef struct found {
    json_t *summary;
    int n;
} found;

static void find_summary(void *ctx, weft_section sec, const char *key, size_t key_len, const char *json,
                         size_t json_len, int kind)
{
    found *f = ctx;
    if (sec == WEFT_METADATA && key_len == 13 && memcmp(key, "trace_summary", 13) == 0) {
        json_error_t err;
        json_decref(f->summary);
        f->summary = json_loadb(json, json_len, 0, &err);
        cr_assert(f->summary, "trace_summary is not valid JSON: %s", err.text);
        f->n++;
    }
}

/* The trace_summary written into root (new reference). */
static json_t *summary_of(const weft__rec *root)
{
    found f = {NULL, 0};
    weft__rec_foreach(root, find_summary, &f);
    cr_assert_eq(f.n, 1, "exactly one trace_summary");
    return f.summary;
}

static int64_t ival(json_t *s, const char *k)
{
    json_t *v = json_object_get(s, k);
    cr_assert(json_is_integer(v), "%s is not an integer", k);
    return json_integer_value(v);
}

static double dval(json_t *s, const char *k)
{
    json_t *v = json_object_get(s, k);
    cr_assert(json_is_number(v), "%s is not a number", k);
    return json_number_value(v);
}

static const char *sval(json_t *s, const char *k)
{
    json_t *v = json_object_get(s, k);
    cr_assert(json_is_string(v), "%s is not a string", k);
    return json_string_value(v);
}

/* What the assembler's resolver answers (weft__summary_root_fn): here, the root each test
 * names, or NULL for a root not in sight. */
static const weft__rec *root_is(void *ctx, const weft__rec *r)
{
    (void)r;
    return ctx;
}

static weft__buf scratch;
static weft__summaries *S;

static void setup(void)
{
    weft__buf_init(&scratch);
    S = weft__summaries_new();
    cr_assert(S);
}

static void span_end(const weft__rec *r, const weft__rec *root)
{
    weft__summary_span_end(S, r, root_is, (void *)root);
}

static void teardown(void)
{
    weft__summaries_free(S);
    weft__buf_fini(&scratch);
}

/* ---- unit tests ---------------------------------------------------------------------- */

Test(summary, counts_every_kind_of_span_tokens_and_cost, .init = setup, .fini = teardown)
{
    weft__rec *root = mk(7, 1, 0, WEFT_TYPE_TRACER);
    weft__summary_root_begin(S, root);
    static const weft_span_type types[] = {
        WEFT_TYPE_COMPLETION,    WEFT_TYPE_COMPLETION,     WEFT_TYPE_KB_RETRIEVAL,  WEFT_TYPE_DOCUMENT_SEARCH,
        WEFT_TYPE_FILE_RETRIEVAL, WEFT_TYPE_CODE_EXECUTION, WEFT_TYPE_EXTERNAL_ENDPOINT, WEFT_TYPE_CUSTOM,
        WEFT_TYPE_RERANKING,
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        weft__rec *c = mk(7, 10 + i, 1, types[i]);
        if (types[i] == WEFT_TYPE_COMPLETION)
            usage(c, 100, 20, true, 0.25);
        if (types[i] == WEFT_TYPE_CUSTOM)
            c->status = WEFT_STATUS_CANCELED; /* not a failure */
        end_at(c, 1500000000ull);
        span_end(c, root);
        drop(c);
    }
    usage(root, 1, 2, false, 0);
    end_at(root, root->start_ns + 2500000ull);
    weft__summary_root_end(S, root, &scratch);

    json_t *s = summary_of(root);
    cr_assert_float_eq(dval(s, "duration_ms"), 2.5, 1e-9);
    cr_assert_eq(ival(s, "span_count"), 10, "nine children and the root");
    cr_assert_eq(ival(s, "llm_calls"), 2);
    cr_assert_eq(ival(s, "retrieval_calls"), 3);
    cr_assert_eq(ival(s, "tool_calls"), 2);
    cr_assert_eq(ival(s, "input_tokens"), 201);
    cr_assert_eq(ival(s, "output_tokens"), 42);
    cr_assert_eq(ival(s, "total_tokens"), 243);
    cr_assert_float_eq(dval(s, "total_cost"), 0.5, 1e-12);
    cr_assert_str_eq(sval(s, "status"), "SUCCESS");
    cr_assert_eq(json_object_size(s), 10);
    json_decref(s);
    drop(root);
}

Test(summary, counts_the_root_itself_and_omits_an_unknown_cost, .init = setup, .fini = teardown)
{
    weft__rec *root = mk(9, 1, 0, WEFT_TYPE_COMPLETION);
    weft__summary_root_begin(S, root);
    usage(root, 5, 6, false, 0);
    end_at(root, root->start_ns);
    weft__summary_root_end(S, root, &scratch);
    json_t *s = summary_of(root);
    cr_assert_eq(ival(s, "span_count"), 1);
    cr_assert_eq(ival(s, "llm_calls"), 1);
    cr_assert_eq(ival(s, "total_tokens"), 11);
    cr_assert_null(json_object_get(s, "total_cost"), "no span had a cost");
    cr_assert_eq(dval(s, "duration_ms"), 0.0);
    json_decref(s);
    drop(root);
}

Test(summary, reports_error_when_any_span_failed, .init = setup, .fini = teardown)
{
    weft__rec *root = mk(3, 1, 0, WEFT_TYPE_TRACER);
    weft__summary_root_begin(S, root);
    weft__rec *c = mk(3, 2, 1, WEFT_TYPE_CODE_EXECUTION);
    c->status = WEFT_STATUS_ERROR;
    end_at(c, 1100000000ull);
    span_end(c, root);
    end_at(root, 1200000000ull);
    weft__summary_root_end(S, root, &scratch);
    json_t *s = summary_of(root);
    cr_assert_str_eq(sval(s, "status"), "ERROR");
    json_decref(s);
    drop(c);
    drop(root);

    /* The root's own failure counts too. */
    root = mk(4, 1, 0, WEFT_TYPE_TRACER);
    weft__summary_root_begin(S, root);
    root->status = WEFT_STATUS_ERROR;
    end_at(root, 1200000000ull);
    weft__summary_root_end(S, root, &scratch);
    s = summary_of(root);
    cr_assert_str_eq(sval(s, "status"), "ERROR");
    json_decref(s);
    drop(root);
}

Test(summary, counts_spans_drained_before_their_roots_begin, .init = setup, .fini = teardown)
{
    /* Another thread's ring was drained first: its spans arrive before the root's begin. */
    weft__rec *c1 = mk(11, 2, 1, WEFT_TYPE_COMPLETION), *c2 = mk(11, 3, 2, WEFT_TYPE_KB_RETRIEVAL);
    usage(c1, 10, 1, false, 0);
    end_at(c1, 1100000000ull);
    end_at(c2, 1100000001ull);
    span_end(c1, NULL);
    span_end(c2, NULL);
    weft__rec *root = mk(11, 1, 0, WEFT_TYPE_TRACER);
    weft__summary_root_begin(S, root);
    end_at(root, 1200000000ull);
    weft__summary_root_end(S, root, &scratch);
    json_t *s = summary_of(root);
    cr_assert_eq(ival(s, "span_count"), 3);
    cr_assert_eq(ival(s, "llm_calls"), 1);
    cr_assert_eq(ival(s, "retrieval_calls"), 1);
    cr_assert_eq(ival(s, "input_tokens"), 10);
    json_decref(s);
    drop(c1);
    drop(c2);
    drop(root);
}

Test(summary, leaves_out_spans_that_ended_after_the_root, .init = setup, .fini = teardown)
{
    weft__rec *root = mk(12, 1, 0, WEFT_TYPE_TRACER);
    weft__summary_root_begin(S, root);
    end_at(root, 1200000000ull); /* the root's end is known, its record not yet finalised */
    weft__rec *late = mk(12, 2, 1, WEFT_TYPE_COMPLETION);
    end_at(late, 1300000000ull);
    span_end(late, root);
    weft__rec *early = mk(12, 3, 1, WEFT_TYPE_COMPLETION);
    end_at(early, 1200000000ull); /* the same instant counts */
    span_end(early, root);
    weft__summary_root_end(S, root, &scratch);
    json_t *s = summary_of(root);
    cr_assert_eq(ival(s, "span_count"), 2);
    cr_assert_eq(ival(s, "llm_calls"), 1);
    json_decref(s);

    /* A span of that trace ending even later opens an orphan that nothing adopts; harmless. */
    weft__rec *later = mk(12, 4, 1, WEFT_TYPE_COMPLETION);
    end_at(later, 1400000000ull);
    span_end(later, NULL);
    drop(late);
    drop(early);
    drop(later);
    drop(root);
}

Test(summary, keeps_traces_apart_and_forgets_dropped_roots, .init = setup, .fini = teardown)
{
    weft__rec *a = mk(21, 1, 0, WEFT_TYPE_TRACER), *b = mk(22, 2, 0, WEFT_TYPE_TRACER);
    weft__summary_root_begin(S, a);
    weft__summary_root_begin(S, b);
    weft__rec *ca = mk(21, 3, 1, WEFT_TYPE_COMPLETION), *cb = mk(22, 4, 2, WEFT_TYPE_KB_RETRIEVAL);
    end_at(ca, 1100000000ull);
    end_at(cb, 1100000000ull);
    span_end(ca, a);
    span_end(cb, b);
    weft__summary_forget(S, 22);
    end_at(a, 1200000000ull);
    end_at(b, 1200000000ull);
    weft__summary_root_end(S, a, &scratch);
    weft__summary_root_end(S, b, &scratch); /* forgotten: the root alone */
    json_t *sa = summary_of(a), *sb = summary_of(b);
    cr_assert_eq(ival(sa, "span_count"), 2);
    cr_assert_eq(ival(sa, "llm_calls"), 1);
    cr_assert_eq(ival(sa, "retrieval_calls"), 0);
    cr_assert_eq(ival(sb, "span_count"), 1);
    cr_assert_eq(ival(sb, "retrieval_calls"), 0);
    json_decref(sa);
    json_decref(sb);
    drop(a);
    drop(b);
    drop(ca);
    drop(cb);
}

Test(summary, stays_right_with_thousands_of_traces_open_and_closing_in_any_order, .init = setup,
     .fini = teardown)
{
    enum { N = 5000 };
    weft__rec **roots = calloc(N, sizeof *roots);
    /* Small consecutive trace ids collide in the probe sequence: good for backward shifts. */
    for (int i = 0; i < N; i++) {
        roots[i] = mk((uint64_t)i + 1, 1, 0, WEFT_TYPE_TRACER);
        weft__summary_root_begin(S, roots[i]);
    }
    for (int i = 0; i < N; i++) {
        int children = i % 5;
        for (int k = 0; k < children; k++) {
            weft__rec *c = mk((uint64_t)i + 1, 2 + (uint64_t)k, 1, WEFT_TYPE_COMPLETION);
            usage(c, i, k, false, 0);
            end_at(c, 1100000000ull);
            span_end(c, roots[i]);
            drop(c);
        }
    }
    /* End roots in a scrambled order (a stride coprime to N). */
    for (int j = 0; j < N; j++) {
        int i = (int)(((long)j * 2987) % N);
        end_at(roots[i], 1200000000ull);
        weft__summary_root_end(S, roots[i], &scratch);
        json_t *s = summary_of(roots[i]);
        int children = i % 5;
        cr_assert_eq(ival(s, "span_count"), 1 + children, "trace %d", i + 1);
        cr_assert_eq(ival(s, "llm_calls"), children);
        cr_assert_eq(ival(s, "input_tokens"), (int64_t)i * children);
        cr_assert_eq(ival(s, "output_tokens"), (int64_t)children * (children - 1) / 2);
        json_decref(s);
        drop(roots[i]);
    }
    free(roots);
}

Test(summary, bounds_orphans_and_sweeps_the_stale_ones, .init = setup, .fini = teardown)
{
    /* 10000 spans whose roots never come, each of its own trace, an hour apart in end time:
     * the sweep keeps memory bounded and a fresh orphan is still adopted. */
    for (uint64_t i = 0; i < 10000; i++) {
        weft__rec *c = mk(100000 + i, 2, 1, WEFT_TYPE_COMPLETION);
        end_at(c, 1000000000ull + i * 3600ull * 1000000000ull);
        span_end(c, NULL);
        drop(c);
    }
    uint64_t now = 1000000000ull + 10000ull * 3600ull * 1000000000ull;
    weft__rec *c = mk(5, 2, 1, WEFT_TYPE_COMPLETION);
    end_at(c, now);
    span_end(c, NULL);
    weft__rec *root = mk(5, 1, 0, WEFT_TYPE_TRACER);
    weft__summary_root_begin(S, root);
    end_at(root, now + 1);
    weft__summary_root_end(S, root, &scratch);
    json_t *s = summary_of(root);
    cr_assert_eq(ival(s, "span_count"), 2);
    json_decref(s);
    drop(c);
    drop(root);
}

Test(summary, counts_a_span_whose_parents_had_already_left, .init = setup, .fini = teardown)
{
    /* The root began, but the ending span's parent was finalised before it ended, so its root
     * could not be named: the entry waits, and the root's end still counts it. */
    weft__rec *root = mk(31, 1, 0, WEFT_TYPE_TRACER);
    weft__summary_root_begin(S, root);
    weft__rec *c = mk(31, 3, 2, WEFT_TYPE_COMPLETION);
    end_at(c, 1100000000ull);
    span_end(c, NULL);
    end_at(root, 1200000000ull);
    weft__summary_root_end(S, root, &scratch);
    json_t *s = summary_of(root);
    cr_assert_eq(ival(s, "span_count"), 2);
    cr_assert_eq(ival(s, "llm_calls"), 1);
    json_decref(s);
    /* and the trace is forgotten: a new root of another trace is alone */
    weft__rec *other = mk(32, 5, 0, WEFT_TYPE_TRACER);
    weft__summary_root_begin(S, other);
    end_at(other, 1300000000ull);
    weft__summary_root_end(S, other, &scratch);
    json_t *o = summary_of(other);
    cr_assert_eq(ival(o, "span_count"), 1);
    json_decref(o);
    drop(c);
    drop(root);
    drop(other);
}

/* ---- end to end ---------------------------------------------------------------------- */

typedef struct worker_arg {
    weft_span root;
    int index;
} worker_arg;

enum { THREADS = 4, PER_THREAD = 25 };

/* Each thread ends PER_THREAD spans of the root's trace: one completion with usage, one
 * retrieval, one tool call, and plain spans; thread 2's tool call fails. */
static void *worker(void *p)
{
    worker_arg *a = p;
    for (int k = 0; k < PER_THREAD; k++) {
        weft_span_type t = k == 0 ? WEFT_TYPE_COMPLETION
                         : k == 1 ? WEFT_TYPE_DOCUMENT_SEARCH
                         : k == 2 ? WEFT_TYPE_EXTERNAL_ENDPOINT
                                  : WEFT_TYPE_CUSTOM;
        weft_span s = weft_span_begin_child(a->root, "work", t);
        if (t == WEFT_TYPE_COMPLETION) {
            weft_usage u = {.model = "m", .input_tokens = 100, .output_tokens = 10, .has_cost = true,
                            .cost_usd = 0.01};
            weft_span_set_usage(s, &u);
        }
        if (t == WEFT_TYPE_EXTERNAL_ENDPOINT && a->index == 2)
            weft_span_set_error(s, "timeout", "tool did not answer");
        weft_span_end(s);
    }
    return NULL;
}

Test(summary_e2e, sums_spans_that_ended_on_several_threads)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span root = weft_span_begin("request", WEFT_TYPE_AGENT_WORKFLOW);
    pthread_t th[THREADS];
    worker_arg args[THREADS];
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg){root, i};
        cr_assert_eq(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    weft_span_end(root);

    json_t *recs = wt_records_after_shutdown();
    json_t *r = wt_find(recs, "request");
    cr_assert(r);
    json_t *s = wt_path(r, "metadata.trace_summary");
    cr_assert(json_is_object(s), "the root carries a trace_summary");
    cr_assert_eq(ival(s, "span_count"), 1 + THREADS * PER_THREAD);
    cr_assert_eq(ival(s, "llm_calls"), THREADS);
    cr_assert_eq(ival(s, "retrieval_calls"), THREADS);
    cr_assert_eq(ival(s, "tool_calls"), THREADS);
    cr_assert_eq(ival(s, "input_tokens"), 100 * THREADS);
    cr_assert_eq(ival(s, "output_tokens"), 10 * THREADS);
    cr_assert_eq(ival(s, "total_tokens"), 110 * THREADS);
    cr_assert_float_eq(dval(s, "total_cost"), 0.01 * THREADS, 1e-12);
    cr_assert_str_eq(sval(s, "status"), "ERROR");
    /* The root's own duration (to the ns; its timestamps carry microseconds). */
    cr_assert_float_eq(dval(s, "duration_ms"), wt_span_ms(r), 0.001, "duration_ms %f, timestamps %f",
                       dval(s, "duration_ms"), wt_span_ms(r));
    cr_assert_eq(wt_count(recs, "work"), THREADS * PER_THREAD);
    /* Only roots carry a summary. */
    json_t *w = wt_find(recs, "work");
    cr_assert_null(wt_path(w, "metadata.trace_summary"));
    json_decref(recs);

    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.dropped_ring, 0);
    cr_assert_eq(st.internal_errors, 0);
}

Test(summary_e2e, leaves_out_a_span_that_ends_after_its_root)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span root = weft_span_begin("short-root", WEFT_TYPE_TRACER);
    weft_span inside = weft_span_begin_child(root, "inside", WEFT_TYPE_COMPLETION);
    weft_span late = weft_span_begin_child(root, "late", WEFT_TYPE_COMPLETION);
    weft_span_end(inside);
    weft_span_end(root);
    weft_span_end(late);
    json_t *recs = wt_records_after_shutdown();
    json_t *s = wt_path(wt_find(recs, "short-root"), "metadata.trace_summary");
    cr_assert(s);
    cr_assert_eq(ival(s, "span_count"), 2);
    cr_assert_eq(ival(s, "llm_calls"), 1);
    cr_assert_str_eq(sval(s, "status"), "SUCCESS");
    cr_assert(wt_find(recs, "late"), "the late span itself is still exported");
    json_decref(recs);
}

Test(summary_e2e, gives_each_of_several_traces_its_own_summary)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    for (int t = 0; t < 3; t++) {
        weft_span root = weft_span_begin(t == 0 ? "t0" : t == 1 ? "t1" : "t2", WEFT_TYPE_TRACER);
        for (int k = 0; k <= t; k++) {
            weft_span c = weft_span_begin("llm", WEFT_TYPE_COMPLETION);
            weft_span_end(c);
        }
        weft_span_end(root);
    }
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(ival(wt_path(wt_find(recs, "t0"), "metadata.trace_summary"), "llm_calls"), 1);
    cr_assert_eq(ival(wt_path(wt_find(recs, "t1"), "metadata.trace_summary"), "llm_calls"), 2);
    cr_assert_eq(ival(wt_path(wt_find(recs, "t2"), "metadata.trace_summary"), "llm_calls"), 3);
    json_decref(recs);
}

/* ---- the last summary's tail, kept for the next root of the same shape ------------------- */

typedef struct raw_text {
    char text[1024];
    size_t len;
} raw_text;

static void raw_summary(void *ctx, weft_section sec, const char *key, size_t key_len, const char *json,
                        size_t json_len, int kind)
{
    (void)kind;
    raw_text *t = ctx;
    if (sec == WEFT_METADATA && key_len == 13 && memcmp(key, "trace_summary", 13) == 0 && json_len < sizeof t->text) {
        memcpy(t->text, json, json_len);
        t->len = json_len;
    }
}

/* One single-span root of the given shape through table s; its trace_summary text in *out. */
static void root_alone(weft__summaries *s, uint64_t trace, weft_span_type type, int64_t in, int64_t out_tokens,
                       int cost_kind, bool failed, uint64_t dur_ns, raw_text *out)
{
    weft__rec *root = mk(trace, 1, 0, type);
    weft__summary_root_begin(s, root);
    if (in || out_tokens || cost_kind)
        usage(root, in, out_tokens, cost_kind != 0, cost_kind == 1 ? 0.25 : cost_kind == 2 ? 1e-7 : 0);
    if (failed)
        root->status = WEFT_STATUS_ERROR;
    end_at(root, root->start_ns + dur_ns);
    weft__summary_root_end(s, root, &scratch);
    memset(out, 0, sizeof *out);
    weft__rec_foreach(root, raw_summary, out);
    cr_assert(out->len > 0, "a trace_summary");
    drop(root);
}

Test(summary, a_root_of_the_last_shape_gets_the_same_text_as_from_a_fresh_table, .init = setup, .fini = teardown)
{
    /* Shapes repeat, change by one field, and come back; each text must be byte for byte what
     * a table with nothing kept writes. */
    static const weft_span_type types[] = {WEFT_TYPE_TRACER, WEFT_TYPE_COMPLETION, WEFT_TYPE_KB_RETRIEVAL,
                                           WEFT_TYPE_CODE_EXECUTION};
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 2000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int shape = (x >> 8) % 4 < 3 ? 0 : (int)((x >> 16) % 64); /* mostly one shape */
        weft_span_type type = types[shape & 3];
        int64_t in = (shape >> 2) & 1 ? 120 : 0, out_tokens = (shape >> 2) & 1 ? 7 : 0;
        int cost_kind = ((shape >> 3) & 3) % 3;
        bool failed = (shape >> 5) & 1;
        uint64_t dur = (x >> 24) % 5000000000ull;
        raw_text warm, cold;
        root_alone(S, 100 + (uint64_t)i, type, in, out_tokens, cost_kind, failed, dur, &warm);
        weft__summaries *fresh = weft__summaries_new();
        cr_assert(fresh);
        root_alone(fresh, 100 + (uint64_t)i, type, in, out_tokens, cost_kind, failed, dur, &cold);
        weft__summaries_free(fresh);
        cr_assert_eq(warm.len, cold.len, "root %d: %.*s against %.*s", i, (int)warm.len, warm.text, (int)cold.len,
                     cold.text);
        cr_assert_eq(memcmp(warm.text, cold.text, warm.len), 0, "root %d: %.*s against %.*s", i, (int)warm.len,
                     warm.text, (int)cold.len, cold.text);
    }
}

Test(summary, a_root_after_one_of_another_shape_counts_its_own_trace, .init = setup, .fini = teardown)
{
    raw_text t;
    root_alone(S, 1, WEFT_TYPE_COMPLETION, 10, 5, 1, false, 1000000, &t);
    root_alone(S, 2, WEFT_TYPE_COMPLETION, 10, 5, 1, false, 3000000, &t); /* same shape: kept tail */
    json_error_t err;
    json_t *s = json_loadb(t.text, t.len, 0, &err);
    cr_assert(s, "%s", err.text);
    cr_assert_float_eq(dval(s, "duration_ms"), 3.0, 1e-9, "its own duration, not the last one's");
    cr_assert_eq(ival(s, "total_tokens"), 15);
    cr_assert_float_eq(dval(s, "total_cost"), 0.25, 1e-12);
    json_decref(s);
    root_alone(S, 3, WEFT_TYPE_TRACER, 0, 0, 0, true, 2000000, &t); /* another shape */
    s = json_loadb(t.text, t.len, 0, &err);
    cr_assert(s, "%s", err.text);
    cr_assert_eq(ival(s, "llm_calls"), 0);
    cr_assert_eq(ival(s, "total_tokens"), 0);
    cr_assert_null(json_object_get(s, "total_cost"));
    cr_assert_str_eq(sval(s, "status"), "ERROR");
    json_decref(s);
}

/* ---- the summary as the root's last metadata entry (record.h) ------------------------ */

typedef struct seen {
    char keys[8][32];
    int n;
} seen;

static void list_metadata(void *ctx, weft_section sec, const char *key, size_t key_len, const char *json,
                          size_t json_len, int kind)
{
    (void)json;
    (void)json_len;
    (void)kind;
    seen *s = ctx;
    if (sec == WEFT_METADATA && s->n < 8 && key_len < 32) {
        memcpy(s->keys[s->n], key, key_len);
        s->keys[s->n][key_len] = '\0';
        s->n++;
    }
}

/* The root's SGP item's metadata object (new reference). */
static json_t *item_metadata(const weft__rec *r)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__encode_opts o = {.salt = 7};
    weft__encode_span(&b, r, &o);
    cr_assert_not(b.oom);
    json_error_t err;
    json_t *item = json_loadb(b.data, b.len, 0, &err);
    cr_assert(item, "%s: %.*s", err.text, (int)b.len, b.data);
    json_t *md = json_incref(json_object_get(item, "metadata"));
    json_decref(item);
    weft__buf_fini(&b);
    cr_assert(json_is_object(md));
    return md;
}

Test(summary, a_root_keeps_its_summary_as_numbers_and_shows_it_as_its_last_metadata_entry, .init = setup,
     .fini = teardown)
{
    weft__rec *root = mk(1, 1, 0, WEFT_TYPE_TRACER);
    weft__rec_set_i64(root, WEFT_METADATA, "a", 1, 1);
    weft__rec_set_i64(root, WEFT_INPUT, "q", 1, 2);
    end_at(root, root->start_ns + 2500000);
    weft__summary_root_end(S, root, &scratch);
    cr_assert(root->has_summary, "no other entry of the key: kept as numbers");
    cr_assert_eq(root->summary.duration_ns, 2500000);

    seen s = {.n = 0};
    weft__rec_foreach(root, list_metadata, &s);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.keys[0], "a");
    cr_assert_str_eq(s.keys[1], "trace_summary", "the summary comes after the root's own entries");
    cr_assert(weft__rec_has(root, WEFT_METADATA, "trace_summary", 13));
    cr_assert_not(weft__rec_has(root, WEFT_INPUT, "trace_summary", 13), "metadata only");

    weft__buf view, want;
    weft__buf_init(&view);
    weft__buf_init(&want);
    weft__summary_json(&want, &root->summary, NULL);
    size_t len;
    const char *got = weft__rec_get(root, WEFT_METADATA, "trace_summary", 13, &len, &view);
    cr_assert(got && len == want.len && memcmp(got, want.data, len) == 0, "get gives the summary's text");

    json_t *md = item_metadata(root);
    cr_assert_eq(json_object_size(md), 2);
    json_t *ts = json_object_get(md, "trace_summary");
    cr_assert_eq(ival(ts, "span_count"), 1);
    cr_assert_float_eq(dval(ts, "duration_ms"), 2.5, 1e-12);
    json_decref(md);
    weft__buf_fini(&view);
    weft__buf_fini(&want);
    drop(root);
}

Test(summary, a_root_s_own_trace_summary_entry_gives_way_to_weft_s, .init = setup, .fini = teardown)
{
    weft__rec *root = mk(2, 1, 0, WEFT_TYPE_TRACER);
    weft__rec_set(root, WEFT_METADATA, "trace_summary", 13, "\"mine\"", 6);
    end_at(root, root->start_ns + 1000000);
    weft__summary_root_end(S, root, &scratch);
    cr_assert_not(root->has_summary, "another entry of the key: the summary is stored as an entry after it");
    json_t *md = item_metadata(root);
    cr_assert_eq(json_object_size(md), 1, "one trace_summary");
    cr_assert_eq(ival(json_object_get(md, "trace_summary"), "span_count"), 1, "weft's, the later set");
    json_decref(md);
    drop(root);
}

Test(summary, a_redacted_trace_summary_key_is_redacted, .init = setup, .fini = teardown)
{
    const char *pats[] = {"TRACE_*"};
    weft__rt.redact = weft__redact_new(pats, 1);
    cr_assert(weft__rt.redact);
    weft__rec *root = mk(3, 1, 0, WEFT_TYPE_TRACER);
    end_at(root, root->start_ns + 1000000);
    weft__summary_root_end(S, root, &scratch);
    weft__redact_free(weft__rt.redact);
    weft__rt.redact = NULL;
    cr_assert_not(root->has_summary);
    json_t *md = item_metadata(root);
    cr_assert_str_eq(json_string_value(json_object_get(md, "trace_summary")), "[REDACTED]");
    json_decref(md);
    drop(root);
}

Test(summary, a_filter_s_changes_to_a_root_apply_as_if_its_summary_were_an_entry, .init = setup,
     .fini = teardown)
{
    /* Another key: set after the summary, so it follows it; the summary stays. */
    weft__rec *root = mk(4, 1, 0, WEFT_TYPE_TRACER);
    end_at(root, root->start_ns + 1000000);
    weft__summary_root_end(S, root, &scratch);
    cr_assert(root->has_summary);
    size_t len;
    const char *text = weft_record_get((weft_record *)root, WEFT_METADATA, "trace_summary", &len);
    cr_assert(text && len > 2 && text[0] == '{', "the filter reads the summary");
    weft_record_set_str((weft_record *)root, WEFT_METADATA, "x", "y");
    seen s = {.n = 0};
    weft__rec_foreach(root, list_metadata, &s);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.keys[0], "trace_summary");
    cr_assert_str_eq(s.keys[1], "x");
    json_t *md = item_metadata(root);
    cr_assert_eq(ival(json_object_get(md, "trace_summary"), "span_count"), 1);
    cr_assert_str_eq(json_string_value(json_object_get(md, "x")), "y");
    json_decref(md);
    drop(root);

    /* The key itself: removed, then set again by the filter. */
    root = mk(5, 1, 0, WEFT_TYPE_TRACER);
    end_at(root, root->start_ns + 1000000);
    weft__summary_root_end(S, root, &scratch);
    weft_record_remove((weft_record *)root, WEFT_METADATA, "trace_summary");
    md = item_metadata(root);
    cr_assert_null(json_object_get(md, "trace_summary"), "removed by the filter");
    json_decref(md);
    cr_assert_null(weft_record_get((weft_record *)root, WEFT_METADATA, "trace_summary", &len));
    weft_record_set_json((weft_record *)root, WEFT_METADATA, "trace_summary", "{\"k\":1}", 7);
    md = item_metadata(root);
    cr_assert_eq(ival(json_object_get(md, "trace_summary"), "k"), 1, "the filter's own value");
    cr_assert_eq(json_object_size(md), 1);
    json_decref(md);
    drop(root);
}
