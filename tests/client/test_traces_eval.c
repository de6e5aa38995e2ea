/*
 * test_traces_eval.c — weft_trace_evaluate's checks (src/client/traces_eval.c), each against a
 * table of traces built from span items, with the score its README formula gives and the
 * status; the summary computed when a root carries none (src/summary.c's rules); and
 * eval_available.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "traces_internal.h"
#include "weft/traces.h"

/* Items of one trace "t": a root R (0..100 ms) and the children given, as JSON text of an
 * array of {name, type, status?, input?, output?, metadata?, end?}. */
static json_t *items_of(const char *children_json)
{
    json_error_t err;
    json_t *kids = json_loads(children_json, 0, &err);
    cr_assert(kids, "bad table JSON: %s (%s)", children_json, err.text);
    json_t *items = json_array();
    json_array_append_new(items, json_pack("{s:s s:s s:s s:s s:s s:s s:{} s:{} s:{}}", "id", "root", "trace_id", "t",
                                           "name", "R", "type", "AGENT_WORKFLOW", "start_timestamp",
                                           "2026-01-01T00:00:00.000000Z", "end_timestamp",
                                           "2026-01-01T00:00:00.100000Z", "input", "output", "metadata"));
    size_t i;
    json_t *k;
    json_array_foreach(kids, i, k) {
        char id[32];
        snprintf(id, sizeof id, "s%zu", i);
        json_t *it = json_deep_copy(k);
        json_object_set_new(it, "id", json_string(id));
        json_object_set_new(it, "trace_id", json_string("t"));
        json_object_set_new(it, "parent_id", json_string("root"));
        if (!json_object_get(it, "type"))
            json_object_set_new(it, "type", json_string("CUSTOM"));
        json_object_set_new(it, "start_timestamp", json_string("2026-01-01T00:00:00.010000Z"));
        if (!json_is_false(json_object_get(it, "end")))
            json_object_set_new(it, "end_timestamp", json_string("2026-01-01T00:00:00.020000Z"));
        json_object_del(it, "end");
        json_array_append_new(items, it);
    }
    json_decref(kids);
    return items;
}

static weft_trace_full_result *build(const char *children_json)
{
    json_t *items = items_of(children_json);
    weft_trace_full_result *t = NULL;
    cr_assert_eq(weft__trace_build("t", items, &t), 0);
    json_decref(items);
    return t;
}

typedef struct eval_case {
    const char *what;
    const char *children;  /* JSON array */
    weft_trace_eval_opts opts;
    const char *metric;
    size_t row;            /* which row of that metric */
    double score;
    const char *status;
} eval_case;

#define RET(hits, extra_in) \
    "{\"name\":\"ret\",\"type\":\"KB_RETRIEVAL\",\"input\":{" extra_in "},\"output\":{\"hits\":" hits "}}"
#define GEN(cits, fc)                                                                                     \
    "{\"name\":\"gen\",\"type\":\"COMPLETION\",\"input\":{\"messages\":[{\"role\":\"user\",\"content\":\"q?\"}]}," \
    "\"output\":{\"answer\":\"a.\",\"citations\":" cits fc "}}"
#define FC(complete, refusal) ",\"format_check\":{\"is_complete\":" complete ",\"refusal\":" refusal "}"
#define HITS3 "[{\"doc_id\":\"a\",\"score\":0.9},{\"doc_id\":\"b\",\"score\":0.6},{\"doc_id\":\"c\",\"score\":0.3}]"

static const eval_case cases[] = {
    /* citation_grounding = grounded / citations */
    {"all citations retrieved", "[" RET(HITS3, "") "," GEN("[{\"doc_id\":\"a\"},{\"doc_id\":\"b\"}]", "") "]", {0, 0},
     "citation_grounding", 0, 1.0, "passed"},
    {"one of three not retrieved", "[" RET(HITS3, "") "," GEN("[{\"doc_id\":\"a\"},{\"doc_id\":\"z\"},{\"doc_id\":\"c\"}]", "") "]",
     {0, 0}, "citation_grounding", 0, 2.0 / 3.0, "failed"},
    {"citations but no retrieval", "[" GEN("[{\"doc_id\":\"a\"}]", "") "]", {0, 0}, "citation_grounding", 0, 0.0, "failed"},
    {"no citations anywhere", "[" RET(HITS3, "") "]", {0, 0}, "citation_grounding", 0, 0.0, "skipped"},
    /* answer_completeness and refusal from format_check */
    {"complete answer", "[" GEN("[]", FC("true", "false")) "]", {0, 0}, "answer_completeness", 0, 1.0, "passed"},
    {"cut-off answer", "[" GEN("[]", FC("false", "false")) "]", {0, 0}, "answer_completeness", 0, 0.0, "failed"},
    {"no format check", "[" RET(HITS3, "") "]", {0, 0}, "answer_completeness", 0, 0.0, "skipped"},
    {"no refusal", "[" GEN("[]", FC("true", "false")) "]", {0, 0}, "refusal", 0, 1.0, "passed"},
    {"a refusal", "[" GEN("[]", FC("true", "true")) "]", {0, 0}, "refusal", 0, 0.0, "failed"},
    /* retrieval_coverage = min(good, top_k) / top_k, or good / n */
    {"3 hits for top_k 3", "[" RET(HITS3, "\"top_k\":3") "]", {0, 0}, "retrieval_coverage", 0, 1.0, "passed"},
    {"3 hits for top_k 5", "[" RET(HITS3, "\"top_k\":5") "]", {0, 0}, "retrieval_coverage", 0, 0.6, "failed"},
    {"3 hits for top_k 2", "[" RET(HITS3, "\"top_k\":2") "]", {0, 0}, "retrieval_coverage", 0, 1.0, "passed"},
    {"2 of 3 at threshold 0.5, top_k 3", "[" RET(HITS3, "\"top_k\":3,\"similarity_threshold\":0.5") "]", {0, 0},
     "retrieval_coverage", 0, 2.0 / 3.0, "failed"},
    {"threshold equal to a score counts", "[" RET(HITS3, "\"top_k\":2,\"similarity_threshold\":0.6") "]", {0, 0},
     "retrieval_coverage", 0, 1.0, "passed"},
    {"no top_k, 1 of 3 at threshold 0.8", "[" RET(HITS3, "\"similarity_threshold\":0.8") "]", {0, 0},
     "retrieval_coverage", 0, 1.0 / 3.0, "failed"},
    {"no hits, no top_k", "[" RET("[]", "") "]", {0, 0}, "retrieval_coverage", 0, 0.0, "failed"},
    {"second retrieval step", "[" RET(HITS3, "\"top_k\":3") "," RET("[]", "\"top_k\":4") "]", {0, 0},
     "retrieval_coverage", 1, 0.0, "failed"},
    {"no retrieval", "[" GEN("[]", FC("true", "false")) "]", {0, 0}, "retrieval_coverage", 0, 0.0, "skipped"},
    /* failed_spans = 1 - errors / spans */
    {"nothing failed", "[{\"name\":\"x\"}]", {0, 0}, "failed_spans", 0, 1.0, "passed"},
    {"one of four failed", "[{\"name\":\"x\"},{\"name\":\"y\",\"status\":\"ERROR\"},{\"name\":\"z\"}]", {0, 0},
     "failed_spans", 0, 0.75, "failed"},
    /* latency: 100 ms root; 1 within budget, else budget / duration */
    {"within the latency budget", "[]", {.latency_budget_ms = 250}, "latency", 0, 1.0, "passed"},
    {"at the latency budget", "[]", {.latency_budget_ms = 100}, "latency", 0, 1.0, "passed"},
    {"over the latency budget", "[]", {.latency_budget_ms = 40}, "latency", 0, 0.4, "failed"},
    {"no latency budget", "[]", {0, 0}, "latency", 0, 0.0, "skipped"},
    /* cost: summed metadata.cost_usd */
    {"within the cost budget", "[{\"name\":\"g\",\"metadata\":{\"cost_usd\":0.002}}]", {.cost_budget_usd = 0.01},
     "cost", 0, 1.0, "passed"},
    {"over the cost budget", "[{\"name\":\"g\",\"metadata\":{\"cost_usd\":0.004}},{\"name\":\"h\",\"metadata\":{\"cost_usd\":0.004}}]",
     {.cost_budget_usd = 0.002}, "cost", 0, 0.25, "failed"},
    {"no cost recorded", "[{\"name\":\"g\"}]", {.cost_budget_usd = 0.01}, "cost", 0, 0.0, "skipped"},
};

Test(traces_eval, every_check_gives_the_score_of_its_formula)
{
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const eval_case *k = &cases[c];
        weft_trace_full_result *t = build(k->children);
        weft_trace_eval_step *steps;
        size_t n;
        cr_assert_eq(weft_trace_evaluate(t, &k->opts, &steps, &n), 0);
        size_t seen = 0;
        const weft_trace_eval_step *row = NULL;
        for (size_t i = 0; i < n; i++) {
            if (strcmp(steps[i].metric, k->metric) == 0 && seen++ == k->row)
                row = &steps[i];
        }
        cr_assert(row, "%s: no row %zu of %s", k->what, k->row, k->metric);
        cr_expect(fabs(row->score - k->score) < 1e-9, "%s: %s scored %g, the formula %g", k->what, k->metric,
                  row->score, k->score);
        cr_expect_str_eq(row->status, k->status, "%s: %s is %s (%s)", k->what, k->metric, row->status,
                         row->explanation);
        cr_expect(row->explanation && *row->explanation, "%s: no explanation", k->what);
        weft_trace_eval_steps_free(steps, n);
        weft_trace_full_result_free(t);
    }
}

Test(traces_eval, rows_carry_the_question_the_answer_and_the_evidence)
{
    weft_trace_full_result *t =
        build("[" RET(HITS3, "\"query\":\"which?\",\"top_k\":3") "," GEN("[{\"doc_id\":\"a\"},{\"doc_id\":\"z\"}]", "") "]");
    weft_trace_eval_step *steps;
    size_t n;
    cr_assert_eq(weft_trace_evaluate(t, NULL, &steps, &n), 0);
    /* Rows in the order of the metric list: grounding, completeness, refusal, coverage,
     * failed_spans, latency, cost. */
    const char *order[] = {"citation_grounding", "answer_completeness", "refusal", "retrieval_coverage",
                           "failed_spans", "latency", "cost"};
    cr_assert_eq(n, 7);
    for (size_t i = 0; i < n; i++)
        cr_expect_str_eq(steps[i].metric, order[i]);
    cr_expect_str_eq(steps[0].input_text, "q?");
    cr_expect_str_eq(steps[0].output_text, "a.");
    cr_expect_str_eq(steps[0].context, "retrieved: a, b, c");
    cr_expect(strstr(steps[0].explanation, "1 of 2 citations") && strstr(steps[0].explanation, "not retrieved: z"),
              "%s", steps[0].explanation);
    cr_expect_str_eq(steps[3].input_text, "which?");
    cr_expect_str_eq(steps[3].context, "a (0.9), b (0.6), c (0.3)");
    weft_trace_eval_steps_free(steps, n);
    weft_trace_full_result_free(t);
}

Test(traces_eval, eval_available_says_whether_a_content_check_applies)
{
    static const struct {
        const char *children;
        bool available;
    } table[] = {
        {"[]", false},
        {"[{\"name\":\"x\",\"status\":\"ERROR\"}]", false},
        {"[" RET("[]", "") "]", true},
        {"[{\"name\":\"s\",\"type\":\"DOCUMENT_SEARCH\"}]", true},
        {"[" GEN("[]", FC("true", "false")) "]", true},
        {"[" GEN("[{\"doc_id\":\"a\"}]", "") "]", true},
        {"[" GEN("[]", "") "]", false},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        weft_trace_full_result *t = build(table[i].children);
        weft_trace_record *r;
        cr_assert_eq(weft_trace_record_from_full(t, &r), 0);
        cr_expect_eq(r->eval_available, table[i].available, "%s", table[i].children);
        /* And it agrees with evaluate: some content row is not skipped. */
        weft_trace_eval_step *steps;
        size_t n;
        cr_assert_eq(weft_trace_evaluate(t, NULL, &steps, &n), 0);
        bool any = false;
        for (size_t k = 0; k < n; k++)
            any |= strcmp(steps[k].status, "skipped") && strcmp(steps[k].metric, "failed_spans") &&
                   strcmp(steps[k].metric, "latency") && strcmp(steps[k].metric, "cost");
        cr_expect_eq(any, table[i].available, "%s", table[i].children);
        weft_trace_eval_steps_free(steps, n);
        weft_trace_record_free(r);
        weft_trace_full_result_free(t);
    }
}

Test(traces_eval, a_summary_without_trace_summary_follows_the_rules_of_summary_c)
{
    weft_trace_full_result *t = build(
        "[{\"name\":\"g\",\"type\":\"COMPLETION\",\"metadata\":{\"input_tokens\":10,\"output_tokens\":5,\"cost_usd\":0.5}},"
        "{\"name\":\"g2\",\"type\":\"COMPLETION\",\"metadata\":{\"input_tokens\":1,\"output_tokens\":2}},"
        "{\"name\":\"r\",\"type\":\"FILE_RETRIEVAL\"},{\"name\":\"c\",\"type\":\"EXTERNAL_ENDPOINT\",\"status\":\"ERROR\"},"
        "{\"name\":\"open\",\"end\":false},"
        "{\"name\":\"m\",\"input\":{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]},"
        "\"output\":{\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\"}]}]}},"
        "{\"name\":\"m2\",\"input\":{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
        "{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"c1\",\"timestamp\":\"2026-01-01T00:00:00.015Z\"}]}}]");
    const weft_trace_summary *s = &t->summary;
    cr_expect_eq(s->span_count, 8);
    cr_expect_eq(s->llm_calls, 2);
    cr_expect_eq(s->retrieval_calls, 1);
    cr_expect_eq(s->tool_calls, 1);
    cr_expect_eq(s->input_tokens, 11);
    cr_expect_eq(s->output_tokens, 7);
    cr_expect_eq(s->total_tokens, 18);
    cr_expect(s->has_total_cost);
    cr_expect_eq(s->total_cost, 0.5);
    cr_expect_str_eq(s->status, "ERROR");
    cr_expect_eq(s->duration_ms, 100.0);
    /* Messages: the repeated user turn once; the tool call and the tool answer kept. */
    cr_assert_eq(s->message_count, 3);
    cr_expect_str_eq(t->messages[1].tool_calls, "[{\"id\":\"c1\"}]");
    cr_expect_null(t->messages[1].content);
    cr_expect_str_eq(t->messages[2].tool_call_id, "c1");
    cr_expect_str_eq(t->messages[2].timestamp, "2026-01-01T00:00:00.015Z");
    cr_expect_eq(t->diagnostics.n_in_progress, 1);
    cr_expect_str_eq(t->diagnostics.in_progress[0].name, "open");
    weft_trace_full_result_free(t);
}

Test(traces_eval, diagnostics_find_cut_values_and_missing_parents)
{
    json_t *items = items_of("[{\"name\":\"cut\",\"output\":{\"answer\":\"abc\xe2\x80\xa6[truncated 77 bytes]\",\"hits_dropped\":3}}]");
    json_array_append_new(items, json_pack("{s:s s:s s:s s:s s:s s:s}", "id", "orphan", "trace_id", "t", "parent_id",
                                           "gone", "name", "lost child", "type", "CUSTOM", "start_timestamp",
                                           "2026-01-01T00:00:00.050000Z"));
    weft_trace_full_result *t = NULL;
    cr_assert_eq(weft__trace_build("t", items, &t), 0);
    cr_assert_eq(t->diagnostics.n_truncations, 2);
    cr_expect(strstr(t->diagnostics.truncations[0].message, "output.answer") &&
                  strstr(t->diagnostics.truncations[0].message, "77 bytes"),
              "%s", t->diagnostics.truncations[0].message);
    cr_expect(strstr(t->diagnostics.truncations[1].message, "hits_dropped"));
    cr_assert_eq(t->diagnostics.n_dropped, 1);
    cr_expect_str_eq(t->diagnostics.dropped[0].span_id, "orphan");
    /* The orphan is a top node of its own after the root. */
    cr_assert_eq(t->n_execution_tree, 2);
    cr_expect_str_eq(t->spans[t->execution_tree[1].span].span_id, "orphan");
    weft_trace_full_result_free(t);
    json_decref(items);
}
