/*
 * test_traces.c — trace queries over local files (src/client/traces_*.c): the JSONL file of a
 * real weft run (weft_init with the jsonl exporter in a temp directory, a RAG trace, shutdown,
 * then query), the same spans as a Stratix JSONL file and in a spool directory, paging, the
 * root metadata keys the models read, and the JSON form of every model.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "receiver.h"
#include "scenario.h"
#include "weft/traces.h"
#include "weft/weft.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static char dir[64];
static char jsonl[128];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/weft-traces-XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    snprintf(jsonl, sizeof jsonl, "%s/run.jsonl", dir);
}

static int rm_one(const char *p, const struct stat *st, int f, struct FTW *w)
{
    (void)st, (void)f, (void)w;
    return remove(p);
}

static void remove_dir(void) { nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS); }

TestSuite(traces, .init = make_dir, .fini = remove_dir);

/* One weft run with the jsonl exporter writing to path; fn records the spans. */
static void run_to_jsonl(const char *path, void (*fn)(void))
{
    weft_config c = {0};
    c.exporters = "jsonl";
    c.jsonl_path = path;
    c.no_atexit = true;
    c.flush_interval_ms = 20;
    cr_assert_eq(weft_init(&c), 0);
    fn();
    cr_assert_eq(weft_shutdown(5000), 0);
    weft_stats s;
    weft_get_stats(&s);
    cr_assert_eq(s.dropped_ring + s.dropped_export + s.dropped_open, 0);
}

static void one_rag_trace(void) { sc_record_rag_trace("Why a ring per thread?", true); }

/* Every line of a JSONL file, parsed. */
static json_t *read_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s: %s", path, strerror(errno));
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *v = json_loads(line, 0, NULL);
        cr_assert(v, "a line of %s does not parse", path);
        json_array_append_new(arr, v);
    }
    free(line);
    fclose(f);
    return arr;
}

static json_t *root_of(json_t *items)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        if (!json_object_get(it, "parent_id"))
            return it;
    }
    cr_assert_fail("no root among the items");
    return NULL;
}

static weft_trace_source *open1(const char *path)
{
    weft_trace_source *src = NULL;
    cr_assert_eq(weft_trace_source_open_files(&path, 1, &src), 0);
    return src;
}

static weft_trace_full_result *get_only_trace(weft_trace_source *src)
{
    weft_trace_list_response *l = NULL;
    cr_assert_eq(weft_traces_list(src, NULL, &l), 0);
    cr_assert_eq(l->total, 1);
    cr_assert_eq(l->n_traces, 1);
    weft_trace_full_result *t = NULL;
    cr_assert_eq(weft_traces_get(src, l->traces[0].trace_id, &t), 0);
    weft_trace_list_response_free(l);
    return t;
}

static double num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    cr_assert(json_is_number(v), "%s is not a number", k);
    return json_number_value(v);
}

/* The summary against the root's metadata.trace_summary, field by field. */
static void expect_summary_is_roots(const weft_trace_summary *s, json_t *root)
{
    json_t *ts = json_object_get(json_object_get(root, "metadata"), "trace_summary");
    cr_assert(json_is_object(ts), "the root carries no trace_summary");
    cr_expect_str_eq(s->trace_id, json_string_value(json_object_get(root, "trace_id")));
    cr_expect_eq(s->duration_ms, num(ts, "duration_ms"));
    cr_expect_eq(s->span_count, (int64_t)num(ts, "span_count"));
    cr_expect_eq(s->llm_calls, (int64_t)num(ts, "llm_calls"));
    cr_expect_eq(s->retrieval_calls, (int64_t)num(ts, "retrieval_calls"));
    cr_expect_eq(s->tool_calls, (int64_t)num(ts, "tool_calls"));
    cr_expect_eq(s->input_tokens, (int64_t)num(ts, "input_tokens"));
    cr_expect_eq(s->output_tokens, (int64_t)num(ts, "output_tokens"));
    cr_expect_eq(s->total_tokens, (int64_t)num(ts, "total_tokens"));
    cr_expect(s->has_total_cost);
    cr_expect_eq(s->total_cost, num(ts, "total_cost"));
    cr_expect_str_eq(s->status, json_string_value(json_object_get(ts, "status")));
}

/* ---- the JSONL file of a real run --------------------------------------------------------- */

Test(traces, a_jsonl_file_of_a_real_run_gives_the_summary_its_root_carried)
{
    run_to_jsonl(jsonl, one_rag_trace);
    json_t *items = read_lines(jsonl);
    cr_assert_eq(json_array_size(items), 4);
    weft_trace_source *src = open1(jsonl);
    weft_trace_full_result *t = get_only_trace(src);
    expect_summary_is_roots(&t->summary, root_of(items));
    /* And the values themselves, as the scenario made them. */
    const weft_trace_summary *s = &t->summary;
    cr_expect_eq(s->span_count, 4);
    cr_expect_eq(s->llm_calls, 1);
    cr_expect_eq(s->retrieval_calls, 1);
    cr_expect_eq(s->tool_calls, 1);
    cr_expect_eq(s->input_tokens, 100);
    cr_expect_eq(s->output_tokens, 20);
    cr_expect_eq(s->total_tokens, 120);
    cr_expect(fabs(s->total_cost - 0.0025) < 1e-12);
    cr_expect_str_eq(s->status, "ERROR");
    cr_expect_eq(s->message_count, 3);
    cr_expect_str_eq(s->project_id, "proj-7");
    cr_assert_eq(s->n_tags, 2);
    cr_expect_str_eq(s->tags[0], "beta");
    cr_expect_str_eq(s->tags[1], "eu");
    json_t *cf = json_loads(s->custom_fields, 0, NULL);
    cr_expect_str_eq(json_string_value(json_object_get(cf, "tier")), "gold");
    cr_expect_eq(json_integer_value(json_object_get(cf, "seats")), 12);
    json_decref(cf);
    weft_trace_full_result_free(t);
    weft_trace_source_free(src);
    json_decref(items);
}

Test(traces, a_record_reads_project_session_and_app_from_root_metadata)
{
    run_to_jsonl(jsonl, one_rag_trace);
    json_t *items = read_lines(jsonl);
    json_t *root = root_of(items);
    weft_trace_source *src = open1(jsonl);
    weft_trace_list_response *l = NULL;
    cr_assert_eq(weft_traces_list(src, NULL, &l), 0);
    cr_assert_eq(l->n_traces, 1);
    const weft_trace_record *r = &l->traces[0];
    cr_expect_str_eq(r->trace_id, json_string_value(json_object_get(root, "trace_id")));
    cr_expect_str_eq(r->project_id, "proj-7");
    cr_expect_str_eq(r->project_name, "Support bot");
    cr_expect_str_eq(r->session_id, "sess-42");
    cr_expect_str_eq(r->app_name, "helpdesk");
    cr_expect_str_eq(r->status, "ERROR");
    cr_expect_eq(r->llm_calls, 1);
    cr_expect_eq(r->tool_calls, 1);
    cr_expect_eq(r->total_tokens, 120);
    cr_expect(r->has_total_cost);
    cr_expect_eq(r->duration_ms,
                 num(json_object_get(json_object_get(root, "metadata"), "trace_summary"), "duration_ms"));
    cr_expect_str_eq(r->input_preview, "Why a ring per thread?");
    cr_expect_str_eq(r->output_preview, SC_ANSWER);
    cr_expect(r->eval_available);
    cr_expect_str_eq(r->created_at, json_string_value(json_object_get(root, "start_timestamp")));
    cr_expect_eq(l->page, 1);
    cr_expect_eq(l->page_size, 50);
    weft_trace_overview o = weft_trace_record_overview(r);
    cr_expect_eq(o.trace_id, r->trace_id);
    cr_expect_eq(o.llm_calls, 1);
    weft_trace_list_response_free(l);
    weft_trace_source_free(src);
    json_decref(items);
}

static json_t *item_named(json_t *items, const char *name)
{
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        if (!strcmp(json_string_value(json_object_get(it, "name")), name))
            return it;
    }
    cr_assert_fail("no span named %s", name);
    return NULL;
}

Test(traces, messages_spans_retrievals_diagnostics_and_tree_come_from_the_spans)
{
    run_to_jsonl(jsonl, one_rag_trace);
    json_t *items = read_lines(jsonl);
    json_t *gen = item_named(items, "generate"), *tool = item_named(items, "lookup order");
    weft_trace_source *src = open1(jsonl);
    weft_trace_full_result *t = get_only_trace(src);

    /* Messages: input ones at the span's start, output ones at its end. */
    cr_assert_eq(t->n_messages, 3);
    cr_expect_str_eq(t->messages[0].role, "system");
    cr_expect_str_eq(t->messages[1].role, "user");
    cr_expect_str_eq(t->messages[1].content, "Why a ring per thread?");
    cr_expect_str_eq(t->messages[2].role, "assistant");
    cr_expect_str_eq(t->messages[2].content, SC_ANSWER);
    cr_expect_str_eq(t->messages[0].timestamp, json_string_value(json_object_get(gen, "start_timestamp")));
    cr_expect_str_eq(t->messages[2].timestamp, json_string_value(json_object_get(gen, "end_timestamp")));
    cr_expect_str_eq(t->messages[2].tool_calls, "[]");
    cr_expect_null(t->messages[2].tool_call_id);

    /* Spans, in start order, the root first. */
    cr_assert_eq(t->n_spans, 4);
    cr_expect_str_eq(t->spans[0].name, "answer question");
    cr_expect_null(t->spans[0].parent_span_id);
    cr_expect_str_eq(t->spans[0].kind, "AGENT_WORKFLOW");
    for (size_t i = 1; i < 4; i++)
        cr_expect_str_eq(t->spans[i].parent_span_id, t->spans[0].span_id);
    const weft_trace_span *ts = &t->spans[3];
    cr_expect_str_eq(ts->name, "lookup order");
    cr_expect_str_eq(ts->span_id, json_string_value(json_object_get(tool, "id")));
    cr_expect_str_eq(ts->status, "ERROR");
    cr_expect(ts->has_duration);
    json_t *attr = json_loads(ts->attributes, 0, NULL);
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(attr, "input"), "order")), "A-1");
    cr_expect(json_is_string(json_object_get(attr, "obs_span_id")));
    json_decref(attr);

    /* The retrieval step with its hits. */
    cr_assert_eq(t->n_retrievals, 1);
    const weft_trace_retrieval *q = &t->retrievals[0];
    cr_expect_str_eq(q->query, "Why a ring per thread?");
    cr_expect_str_eq(q->retriever, "vectordb");
    cr_expect_str_eq(q->embedding_model, "e5-small");
    cr_expect_eq(q->top_k, 4);
    cr_expect(q->has_similarity_threshold);
    cr_expect_eq(q->similarity_threshold, 0.5);
    cr_assert_eq(q->n_hits, 3);
    cr_expect_str_eq(q->hits[0].doc_id, "doc-a");
    cr_expect_eq(q->hits[0].rank, 1);
    cr_expect_eq(q->hits[0].score, 0.9);
    cr_expect(q->hits[0].has_span);
    cr_expect_eq(q->hits[0].span_end, 40);
    cr_expect_str_eq(q->hits[1].snippet_preview, "A full ring drops and counts.");
    cr_expect_str_eq(q->hits[1].metadata, "{\"source\":\"kb\"}");

    /* Diagnostics: the failed tool; nothing in progress, cut or missing. */
    cr_assert_eq(t->diagnostics.n_errors, 1);
    cr_expect_str_eq(t->diagnostics.errors[0].name, "lookup order");
    cr_expect_str_eq(t->diagnostics.errors[0].message, "Timeout: the order service timed out");
    cr_expect_eq(t->diagnostics.n_in_progress, 0);
    cr_expect_eq(t->diagnostics.n_truncations, 0);
    cr_expect_eq(t->diagnostics.n_dropped, 0);

    /* The tree: the root and its three children. */
    cr_assert_eq(t->n_execution_tree, 1);
    cr_expect_eq(t->execution_tree[0].span, 0);
    cr_expect_eq(t->execution_tree[0].n_children, 3);

    json_t *meta = json_loads(t->metadata, 0, NULL);
    cr_expect(json_is_object(json_object_get(meta, "trace_summary")));
    json_decref(meta);
    weft_trace_full_result_free(t);
    weft_trace_source_free(src);
    json_decref(items);
}

/* ---- paging ------------------------------------------------------------------------------ */

static void seven_small_traces(void)
{
    for (int i = 0; i < 7; i++) {
        sc_record_small_trace(i);
        usleep(2000); /* distinct start times: the order of the list is by created_at */
    }
}

Test(traces, lists_newest_first_in_pages_with_the_total)
{
    run_to_jsonl(jsonl, seven_small_traces);
    weft_trace_source *src = open1(jsonl);
    const char *expect[7] = {"6", "5", "4", "3", "2", "1", "0"};
    size_t seen = 0;
    for (uint32_t page = 1; page <= 4; page++) {
        weft_trace_list_opts o = {.page = page, .page_size = 3};
        weft_trace_list_response *l = NULL;
        cr_assert_eq(weft_traces_list(src, &o, &l), 0);
        cr_expect_eq(l->total, 7);
        cr_expect_eq(l->page, page);
        cr_expect_eq(l->page_size, 3);
        cr_expect_eq(l->n_traces, page < 3 ? 3 : page == 3 ? 1 : 0);
        for (size_t i = 0; i < l->n_traces; i++, seen++) {
            char want[16];
            snprintf(want, sizeof want, "{\"i\":%s}", expect[seen]);
            cr_expect_str_eq(l->traces[i].input_preview, want);
            cr_expect_not(l->traces[i].eval_available, "a span with nothing to evaluate");
            cr_expect_str_eq(l->traces[i].status, "SUCCESS");
        }
        weft_trace_list_response_free(l);
    }
    cr_expect_eq(seen, 7);
    weft_trace_list_opts big = {.page_size = 1001};
    weft_trace_list_response *l = NULL;
    cr_expect_eq(weft_traces_list(src, &big, &l), WEFT_EINVAL);
    cr_expect_null(l);
    weft_trace_source_free(src);
}

/* ---- the JSON of every model --------------------------------------------------------------- */

static void expect_keys(const char *text, const char *const *keys, size_t n)
{
    cr_assert(text, "no JSON written");
    json_error_t err;
    json_t *o = json_loads(text, 0, &err);
    cr_assert(json_is_object(o), "not a JSON object: %s (%s)", text, err.text);
    cr_expect_eq(json_object_size(o), n, "%s has %zu members, the model %zu", text, json_object_size(o), n);
    size_t i = 0;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (i < n)
            cr_expect_str_eq(k, keys[i], "member %zu is %s, the model's %s", i, k, keys[i]);
        i++;
    }
    json_decref(o);
}

#define KEYS(...) (const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *)

Test(traces, every_model_is_written_as_json_with_exactly_its_field_names)
{
    run_to_jsonl(jsonl, one_rag_trace);
    weft_trace_source *src = open1(jsonl);
    weft_trace_list_response *l = NULL;
    cr_assert_eq(weft_traces_list(src, NULL, &l), 0);
    weft_trace_full_result *t = NULL;
    cr_assert_eq(weft_traces_get(src, l->traces[0].trace_id, &t), 0);
    char *s;
    expect_keys(s = weft_trace_list_response_to_json(l), KEYS("traces", "total", "page", "page_size"));
    free(s);
    expect_keys(s = weft_trace_record_to_json(&l->traces[0]),
                KEYS("trace_id", "project_id", "status", "session_id", "project_name", "app_name", "duration_ms",
                     "total_cost", "total_tokens", "llm_calls", "tool_calls", "input_preview", "output_preview",
                     "eval_available", "created_at"));
    free(s);
    weft_trace_overview o = weft_trace_record_overview(&l->traces[0]);
    expect_keys(s = weft_trace_overview_to_json(&o),
                KEYS("trace_id", "status", "duration_ms", "total_cost", "llm_calls", "tool_calls"));
    free(s);
    expect_keys(s = weft_trace_summary_to_json(&t->summary),
                KEYS("trace_id", "project_id", "status", "duration_ms", "total_cost", "total_tokens",
                     "input_tokens", "output_tokens", "llm_calls", "tool_calls", "retrieval_calls",
                     "message_count", "span_count", "tags", "custom_fields"));
    free(s);
    expect_keys(s = weft_trace_message_to_json(&t->messages[0]),
                KEYS("role", "content", "timestamp", "tool_calls", "tool_call_id", "name"));
    free(s);
    expect_keys(s = weft_trace_span_to_json(&t->spans[0]),
                KEYS("span_id", "name", "kind", "parent_span_id", "start_time", "end_time", "duration_ms",
                     "status", "attributes", "events"));
    free(s);
    expect_keys(s = weft_trace_full_result_to_json(t),
                KEYS("trace_id", "metadata", "summary", "messages", "spans", "retrievals", "diagnostics",
                     "execution_tree"));
    /* The summary in the full result is the root's trace_summary, numbers included. */
    json_t *full = json_loads(s, 0, NULL);
    json_t *sum = json_object_get(full, "summary");
    json_t *ts = json_object_get(json_object_get(full, "metadata"), "trace_summary");
    const char *k;
    json_t *v;
    json_object_foreach(ts, k, v) {
        cr_expect(json_equal(json_object_get(sum, k), v) ||
                      (json_is_number(v) && json_number_value(json_object_get(sum, k)) == json_number_value(v)),
                  "summary.%s differs from trace_summary.%s", k, k);
    }
    cr_expect_eq(json_array_size(json_object_get(full, "execution_tree")), 1);
    cr_expect_eq(json_array_size(json_object_get(json_object_get(full, "diagnostics"), "errors")), 1);
    json_decref(full);
    free(s);
    weft_trace_eval_step *steps;
    size_t n;
    cr_assert_eq(weft_trace_evaluate(t, NULL, &steps, &n), 0);
    cr_assert_gt(n, 0);
    expect_keys(s = weft_trace_eval_step_to_json(&steps[0], NULL),
                KEYS("metric", "score", "explanation", "status", "input_text", "output_text", "context"));
    free(s);
    expect_keys(s = weft_trace_eval_step_to_json(&steps[0], t->trace_id),
                KEYS("trace_id", "metric", "score", "explanation", "status", "input_text", "output_text",
                     "context"));
    free(s);
    weft_trace_eval_steps_free(steps, n);
    weft_trace_full_result_free(t);
    weft_trace_list_response_free(l);
    weft_trace_source_free(src);
}

/* ---- the same spans in other files --------------------------------------------------------- */

/* A Stratix trace document made from the items of one trace (section 12's shape, span fields
 * under the Stratix names). */
static json_t *stratix_doc(json_t *items)
{
    json_t *root = root_of(items);
    json_t *spans = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        json_t *s = json_pack("{s:O s:O s:O s:O s:O s:O s:O s:O s:O}", "span_id", json_object_get(it, "id"),
                              "name", json_object_get(it, "name"), "kind", json_object_get(it, "type"), "status",
                              json_object_get(it, "status"), "start_time", json_object_get(it, "start_timestamp"),
                              "end_time", json_object_get(it, "end_timestamp"), "input",
                              json_object_get(it, "input"), "output", json_object_get(it, "output"), "metadata",
                              json_object_get(it, "metadata"));
        if (json_object_get(it, "parent_id"))
            json_object_set(s, "parent_span_id", json_object_get(it, "parent_id"));
        json_array_append_new(spans, s);
    }
    return json_pack("{s:O s:O s:O s:O s:O s:O s:O s:f s:o}", "trace_id", json_object_get(root, "trace_id"), "name",
                     json_object_get(root, "name"), "input", json_object_get(root, "input"), "output",
                     json_object_get(root, "output"), "metadata", json_object_get(root, "metadata"), "start_time",
                     json_object_get(root, "start_timestamp"), "end_time", json_object_get(root, "end_timestamp"),
                     "duration_ms", 1.0, "spans", spans);
}

static void expect_same_trace(const weft_trace_full_result *a, const weft_trace_full_result *b)
{
    char *x = weft_trace_full_result_to_json(a), *y = weft_trace_full_result_to_json(b);
    cr_assert(x && y);
    cr_expect_str_eq(x, y);
    free(x);
    free(y);
}

Test(traces, a_stratix_jsonl_file_of_the_same_run_gives_the_same_trace)
{
    run_to_jsonl(jsonl, one_rag_trace);
    json_t *items = read_lines(jsonl);
    char stratix[160];
    snprintf(stratix, sizeof stratix, "%s/stratix.jsonl", dir);
    json_t *doc = stratix_doc(items);
    FILE *f = fopen(stratix, "w");
    cr_assert(f);
    char *line = json_dumps(doc, JSON_COMPACT);
    fprintf(f, "%s\n", line);
    fclose(f);
    free(line);
    weft_trace_source *a = open1(jsonl), *b = open1(stratix);
    weft_trace_full_result *ta = get_only_trace(a), *tb = get_only_trace(b);
    /* Stratix spans carry no obs ids: compare everything but the attributes' extra members. */
    cr_expect_eq(ta->n_spans, tb->n_spans);
    for (size_t i = 0; i < ta->n_spans && i < tb->n_spans; i++) {
        cr_expect_str_eq(ta->spans[i].span_id, tb->spans[i].span_id);
        cr_expect_str_eq(ta->spans[i].kind, tb->spans[i].kind);
        free(tb->spans[i].attributes);
        tb->spans[i].attributes = strdup(ta->spans[i].attributes);
    }
    expect_same_trace(ta, tb);
    weft_trace_full_result_free(ta);
    weft_trace_full_result_free(tb);
    weft_trace_source_free(a);
    weft_trace_source_free(b);
    json_decref(doc);
    json_decref(items);
}

Test(traces, a_spool_directory_left_by_a_run_with_sgp_down_gives_the_same_trace, .timeout = 60)
{
    char spool[160];
    snprintf(spool, sizeof spool, "%s/spool", dir);
    weft_rx *rx = weft_rx_start(NULL);
    cr_assert(rx);
    weft_rx_set_outage(rx, true);
    weft_rx_set_retry_after_ms(rx, 100);
    weft_config c = {0};
    c.exporters = "sgp,jsonl";
    c.jsonl_path = jsonl;
    c.sgp_base_url = weft_rx_url(rx);
    c.sgp_api_key = "k";
    c.spool_dir = spool;
    c.no_atexit = true;
    c.flush_interval_ms = 20;
    c.inprogress_after_ms = WEFT_INPROGRESS_NEVER;
    cr_assert_eq(weft_init(&c), 0);
    one_rag_trace();
    int rc = weft_shutdown(1000);
    cr_expect(rc == 0 || rc == WEFT_ETIMEDOUT || rc == WEFT_EEXPORT, "shutdown: %d", rc);
    weft_rx_stop(rx);
    weft_trace_source *a = open1(jsonl), *b = open1(spool);
    weft_trace_full_result *ta = get_only_trace(a), *tb = get_only_trace(b);
    expect_same_trace(ta, tb);
    weft_trace_full_result_free(ta);
    weft_trace_full_result_free(tb);
    weft_trace_source_free(a);
    weft_trace_source_free(b);
}

/* ---- bad input --------------------------------------------------------------------------- */

Test(traces, malformed_lines_are_skipped_counted_and_named)
{
    run_to_jsonl(jsonl, one_rag_trace);
    FILE *f = fopen(jsonl, "a");
    fprintf(f, "{not json\n[1,2]\n{\"id\":\"x\"}\n");
    fclose(f);
    weft_trace_source *src = open1(jsonl);
    weft_trace_full_result *t = get_only_trace(src);
    cr_expect_eq(t->n_spans, 4);
    const char *first = NULL;
    cr_expect_eq(weft_trace_source_skipped(src, &first), 3);
    cr_assert(first);
    cr_expect(strstr(first, "line 5: malformed JSON"), "%s", first);
    weft_trace_full_result_free(t);
    weft_trace_source_free(src);
}

Test(traces, unknown_traces_missing_files_and_bad_arguments_are_errors)
{
    run_to_jsonl(jsonl, one_rag_trace);
    weft_trace_source *src = open1(jsonl);
    weft_trace_full_result *t = (void *)1;
    cr_expect_eq(weft_traces_get(src, "no-such-trace", &t), WEFT_ENOTFOUND);
    cr_expect_null(t);
    cr_expect_eq(weft_traces_get(src, NULL, &t), WEFT_EINVAL);
    cr_expect_eq(weft_traces_get(src, "", &t), WEFT_EINVAL);
    weft_trace_source_free(src);

    const char *missing = "/nonexistent/weft.jsonl";
    src = open1(missing);
    weft_trace_list_response *l = NULL;
    cr_expect_eq(weft_traces_list(src, NULL, &l), WEFT_EIO);
    cr_expect_null(l);
    weft_trace_source_free(src);

    weft_trace_source *none = NULL;
    cr_expect_eq(weft_trace_source_open_files(NULL, 0, &none), WEFT_EINVAL);
    cr_expect_eq(weft_traces_list(NULL, NULL, &l), WEFT_EINVAL);
    weft_trace_source_free(NULL);
    weft_trace_full_result_free(NULL);
    weft_trace_list_response_free(NULL);
}

Test(traces, a_root_without_trace_summary_gets_the_same_summary_computed)
{
    run_to_jsonl(jsonl, one_rag_trace);
    json_t *items = read_lines(jsonl);
    json_t *root = root_of(items);
    json_t *ts = json_deep_copy(json_object_get(json_object_get(root, "metadata"), "trace_summary"));
    json_object_del(json_object_get(root, "metadata"), "trace_summary");
    char bare[160];
    snprintf(bare, sizeof bare, "%s/bare.jsonl", dir);
    FILE *f = fopen(bare, "w");
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        char *line = json_dumps(it, JSON_COMPACT);
        fprintf(f, "%s\n", line);
        free(line);
    }
    fclose(f);
    weft_trace_source *src = open1(bare);
    weft_trace_full_result *t = get_only_trace(src);
    const weft_trace_summary *s = &t->summary;
    cr_expect_eq(s->span_count, (int64_t)num(ts, "span_count"));
    cr_expect_eq(s->llm_calls, (int64_t)num(ts, "llm_calls"));
    cr_expect_eq(s->retrieval_calls, (int64_t)num(ts, "retrieval_calls"));
    cr_expect_eq(s->tool_calls, (int64_t)num(ts, "tool_calls"));
    cr_expect_eq(s->input_tokens, (int64_t)num(ts, "input_tokens"));
    cr_expect_eq(s->output_tokens, (int64_t)num(ts, "output_tokens"));
    cr_expect_eq(s->total_tokens, (int64_t)num(ts, "total_tokens"));
    cr_expect_eq(s->total_cost, num(ts, "total_cost"));
    cr_expect_str_eq(s->status, json_string_value(json_object_get(ts, "status")));
    /* Timestamps carry microseconds; trace_summary's duration nanoseconds. */
    cr_expect(fabs(s->duration_ms - num(ts, "duration_ms")) <= 0.002, "%f vs %f", s->duration_ms,
              num(ts, "duration_ms"));
    weft_trace_full_result_free(t);
    weft_trace_source_free(src);
    json_decref(ts);
    json_decref(items);
}
