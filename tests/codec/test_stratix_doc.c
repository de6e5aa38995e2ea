/*
 * test_stratix_doc.c — the Stratix trace document codec (src/codec/stratix_doc.c), against
 * hand-written expected text.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "json_value.h"
#include "stratix_doc.h"
#include "weft/weft.h"

/* Parses a JSON array of items (the test's input, as weft's JSONL lines would be) and writes
 * the document; asserts success. Returns a heap string. */
static char *doc_of(const char *items_json, weft__stratix_doc_info *info)
{
    json_error_t e;
    json_t *arr = json_loads(items_json, JSON_ALLOW_NUL, &e);
    cr_assert_not_null(arr, "test input: %s", e.text);
    char *out = NULL;
    int rc = weft__stratix_doc_text(arr, &out, info);
    cr_assert_eq(rc, 0, "%s", info && info->error ? info->error : "");
    json_decref(arr);
    /* Whatever it holds, the document is one JSON object. */
    json_t *back = json_loads(out, JSON_ALLOW_NUL, NULL);
    cr_assert(json_is_object(back), "not JSON: %s", out);
    json_decref(back);
    return out;
}

static int doc_rc(const char *items_json, weft__stratix_doc_info *info)
{
    json_t *arr = json_loads(items_json, 0, NULL);
    cr_assert_not_null(arr);
    char *out = NULL;
    int rc = weft__stratix_doc_text(arr, &out, info);
    cr_assert_null(out);
    json_decref(arr);
    return rc;
}

#define T "aaaaaaaa-0000-4000-8000-000000000001"

Test(stratix_doc, a_three_span_trace_becomes_one_document_with_the_root_at_top_level)
{
    /* Items in export order (children end first), as the JSONL exporter writes them. */
    const char *in =
        "[{\"id\":\"s-ret\",\"trace_id\":\"" T "\",\"parent_id\":\"s-root\",\"name\":\"retrieve\","
        "\"type\":\"KB_RETRIEVAL\",\"status\":\"SUCCESS\",\"start_timestamp\":\"2026-11-22T00:08:00.100000Z\","
        "\"end_timestamp\":\"2026-11-22T00:08:00.250500Z\",\"input\":{\"query\":\"capital of France\",\"top_k\":3},"
        "\"output\":{\"hits\":[{\"doc_id\":\"d1\",\"score\":0.1}]},\"metadata\":{},\"obs_trace_id\":\"0123\","
        "\"obs_span_id\":\"0001\"},"
        "{\"id\":\"s-gen\",\"trace_id\":\"" T "\",\"parent_id\":\"s-root\",\"name\":\"generate\","
        "\"type\":\"COMPLETION\",\"status\":\"ERROR\",\"start_timestamp\":\"2026-11-22T00:08:00.300000Z\","
        "\"end_timestamp\":\"2026-11-22T00:08:01.300000Z\",\"input\":{},\"output\":{\"answer\":\"Paris\"},"
        "\"metadata\":{\"model_used\":\"m-1\"},\"obs_trace_id\":\"0123\",\"obs_span_id\":\"0002\"},"
        "{\"id\":\"s-root\",\"trace_id\":\"" T "\",\"name\":\"ask\",\"type\":\"AGENT_WORKFLOW\","
        "\"status\":\"SUCCESS\",\"start_timestamp\":\"2026-11-22T00:08:00.000000Z\","
        "\"end_timestamp\":\"2026-11-22T00:08:01.500000Z\",\"input\":{\"question\":\"capital?\"},"
        "\"output\":{\"answer\":\"Paris\"},\"metadata\":{\"user\":\"u1\",\"trace_summary\":{\"duration_ms\":1500,"
        "\"span_count\":3,\"llm_calls\":1,\"retrieval_calls\":1,\"tool_calls\":0,\"status\":\"ERROR\"}},"
        "\"obs_trace_id\":\"0123\",\"obs_span_id\":\"0000\",\"group_id\":\"g-7\"}]";
    const char *want =
        "{\"trace_id\":\"" T "\",\"name\":\"ask\",\"input\":{\"question\":\"capital?\"},"
        "\"output\":{\"answer\":\"Paris\"},"
        "\"metadata\":{\"trace_summary\":{\"duration_ms\":1500,\"span_count\":3,\"llm_calls\":1,"
        "\"retrieval_calls\":1,\"tool_calls\":0,\"status\":\"ERROR\"},\"obs_trace_id\":\"0123\",\"group_id\":\"g-7\"},"
        "\"start_time\":\"2026-11-22T00:08:00.000000Z\",\"end_time\":\"2026-11-22T00:08:01.500000Z\","
        "\"duration_ms\":1500,\"spans\":["
        "{\"id\":\"s-root\",\"parent_id\":null,\"name\":\"ask\",\"type\":\"AGENT_WORKFLOW\",\"status\":\"SUCCESS\","
        "\"start_time\":\"2026-11-22T00:08:00.000000Z\",\"end_time\":\"2026-11-22T00:08:01.500000Z\","
        "\"duration_ms\":1500,\"input\":{\"question\":\"capital?\"},\"output\":{\"answer\":\"Paris\"},"
        "\"metadata\":{\"user\":\"u1\",\"trace_summary\":{\"duration_ms\":1500,\"span_count\":3,\"llm_calls\":1,"
        "\"retrieval_calls\":1,\"tool_calls\":0,\"status\":\"ERROR\"}},\"trace_id\":\"" T "\","
        "\"obs_trace_id\":\"0123\",\"obs_span_id\":\"0000\",\"group_id\":\"g-7\"},"
        "{\"id\":\"s-ret\",\"parent_id\":\"s-root\",\"name\":\"retrieve\",\"type\":\"KB_RETRIEVAL\","
        "\"status\":\"SUCCESS\",\"start_time\":\"2026-11-22T00:08:00.100000Z\","
        "\"end_time\":\"2026-11-22T00:08:00.250500Z\",\"duration_ms\":150.5,"
        "\"input\":{\"query\":\"capital of France\",\"top_k\":3},\"output\":{\"hits\":[{\"doc_id\":\"d1\","
        "\"score\":0.1}]},\"metadata\":{},\"trace_id\":\"" T "\",\"obs_trace_id\":\"0123\",\"obs_span_id\":\"0001\"},"
        "{\"id\":\"s-gen\",\"parent_id\":\"s-root\",\"name\":\"generate\",\"type\":\"COMPLETION\","
        "\"status\":\"ERROR\",\"start_time\":\"2026-11-22T00:08:00.300000Z\","
        "\"end_time\":\"2026-11-22T00:08:01.300000Z\",\"duration_ms\":1000,\"input\":{},"
        "\"output\":{\"answer\":\"Paris\"},\"metadata\":{\"model_used\":\"m-1\"},\"trace_id\":\"" T "\","
        "\"obs_trace_id\":\"0123\",\"obs_span_id\":\"0002\"}]}";
    weft__stratix_doc_info info;
    char *out = doc_of(in, &info);
    cr_assert_str_eq(out, want);
    cr_assert_eq(info.spans, 3);
    cr_assert_eq(info.duplicates, 0);
    cr_assert_eq(info.detached, 0);
    free(out);
}

Test(stratix_doc, writes_parents_before_children_ordered_by_start_then_id)
{
    const char *in = "[{\"id\":\"c2\",\"trace_id\":\"t\",\"parent_id\":\"b\",\"start_timestamp\":\"2026-01-01T00:00:03Z\"},"
                     "{\"id\":\"b\",\"trace_id\":\"t\",\"parent_id\":\"r\",\"start_timestamp\":\"2026-01-01T00:00:02Z\"},"
                     "{\"id\":\"a\",\"trace_id\":\"t\",\"parent_id\":\"r\",\"start_timestamp\":\"2026-01-01T00:00:02Z\"},"
                     "{\"id\":\"c1\",\"trace_id\":\"t\",\"parent_id\":\"b\",\"start_timestamp\":\"2026-01-01T00:00:03Z\"},"
                     "{\"id\":\"r\",\"trace_id\":\"t\",\"start_timestamp\":\"2026-01-01T00:00:01Z\"}]";
    char *out = doc_of(in, NULL);
    json_t *d = json_loads(out, 0, NULL);
    json_t *spans = json_object_get(d, "spans");
    const char *order[] = {"r", "a", "b", "c1", "c2"};
    cr_assert_eq(json_array_size(spans), 5);
    for (size_t i = 0; i < 5; i++)
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(spans, i), "id")), order[i]);
    /* No end anywhere: end_time and durations are null, name and status too when absent. */
    cr_assert(json_is_null(json_object_get(d, "end_time")));
    cr_assert(json_is_null(json_object_get(d, "duration_ms")));
    cr_assert(json_is_null(json_object_get(d, "name")));
    cr_assert_str_eq(json_string_value(json_object_get(d, "start_time")), "2026-01-01T00:00:01Z");
    cr_assert(json_is_null(json_object_get(json_array_get(spans, 1), "end_time")));
    json_decref(d);
    free(out);
}

Test(stratix_doc, keeps_the_completed_record_of_a_span_over_an_in_progress_one)
{
    const char *in = "[{\"id\":\"r\",\"trace_id\":\"t\",\"name\":\"done\",\"start_timestamp\":\"2026-01-01T00:00:00Z\","
                     "\"end_timestamp\":\"2026-01-01T00:00:02Z\"},"
                     "{\"id\":\"r\",\"trace_id\":\"t\",\"name\":\"in progress\",\"start_timestamp\":\"2026-01-01T00:00:00Z\"},"
                     "{\"id\":\"k\",\"trace_id\":\"t\",\"parent_id\":\"r\",\"name\":\"first\"},"
                     "{\"id\":\"k\",\"trace_id\":\"t\",\"parent_id\":\"r\",\"name\":\"second\"}]";
    weft__stratix_doc_info info;
    char *out = doc_of(in, &info);
    cr_assert_eq(info.duplicates, 2);
    cr_assert_eq(info.spans, 2);
    cr_assert_not_null(strstr(out, "\"name\":\"done\""), "%s", out);
    cr_assert_null(strstr(out, "in progress"), "%s", out);
    cr_assert_not_null(strstr(out, "\"name\":\"second\""), "the later of two equal records wins: %s", out);
    cr_assert_not_null(strstr(out, "\"duration_ms\":2000,\"spans\""), "%s", out);
    free(out);
}

Test(stratix_doc, a_trace_continued_from_another_process_keeps_its_remote_parent)
{
    const char *in = "[{\"id\":\"local-child\",\"trace_id\":\"t\",\"parent_id\":\"local-root\",\"name\":\"c\"},"
                     "{\"id\":\"local-root\",\"trace_id\":\"t\",\"parent_id\":\"remote\",\"name\":\"handler\"}]";
    weft__stratix_doc_info info;
    char *out = doc_of(in, &info);
    const char head[] = "{\"trace_id\":\"t\",\"name\":\"handler\",\"input\":{},\"output\":{},\"metadata\":{},";
    cr_assert_eq(strncmp(out, head, sizeof head - 1), 0, "%s", out);
    cr_assert_not_null(strstr(out, "\"spans\":[{\"id\":\"local-root\",\"parent_id\":\"remote\""), "%s", out);
    cr_assert_eq(info.detached, 0);
    free(out);
}

Test(stratix_doc, spans_outside_the_roots_tree_follow_it_and_are_counted)
{
    const char *in = "[{\"id\":\"r\",\"trace_id\":\"t\",\"start_timestamp\":\"2026-01-01T00:00:00Z\","
                     "\"end_timestamp\":\"2026-01-01T00:00:01Z\"},"
                     "{\"id\":\"o2\",\"trace_id\":\"t\",\"parent_id\":\"o1\"},"
                     "{\"id\":\"o1\",\"trace_id\":\"t\",\"parent_id\":\"lost\",\"start_timestamp\":\"2026-01-01T00:00:05Z\"}]";
    weft__stratix_doc_info info;
    char *out = doc_of(in, &info);
    cr_assert_eq(info.spans, 3);
    cr_assert_eq(info.detached, 2);
    const char *r = strstr(out, "{\"id\":\"r\""), *o1 = strstr(out, "{\"id\":\"o1\""), *o2 = strstr(out, "{\"id\":\"o2\"");
    cr_assert(r && o1 && o2 && r < o1 && o1 < o2, "%s", out);
    free(out);
}

Test(stratix_doc, a_cycle_is_written_once_without_hanging)
{
    const char *in = "[{\"id\":\"a\",\"trace_id\":\"t\",\"parent_id\":\"b\",\"start_timestamp\":\"2026-01-01T00:00:01Z\"},"
                     "{\"id\":\"b\",\"trace_id\":\"t\",\"parent_id\":\"a\",\"start_timestamp\":\"2026-01-01T00:00:02Z\"},"
                     "{\"id\":\"s\",\"trace_id\":\"t\",\"parent_id\":\"s\",\"start_timestamp\":\"2026-01-01T00:00:03Z\"}]";
    weft__stratix_doc_info info;
    char *out = doc_of(in, &info);
    cr_assert_eq(info.spans, 3);
    /* "s" is its own parent, so it counts as the root; a and b follow. */
    cr_assert_not_null(strstr(out, "\"spans\":[{\"id\":\"s\""), "%s", out);
    cr_assert_not_null(strstr(out, "{\"id\":\"a\""), "%s", out);
    cr_assert_not_null(strstr(out, "{\"id\":\"b\""), "%s", out);
    free(out);
}

Test(stratix_doc, an_unended_root_takes_the_latest_end_of_its_spans)
{
    const char *in = "[{\"id\":\"r\",\"trace_id\":\"t\",\"start_timestamp\":\"2026-01-01T00:00:00.5Z\"},"
                     "{\"id\":\"c\",\"trace_id\":\"t\",\"parent_id\":\"r\",\"start_timestamp\":\"2026-01-01T00:00:01Z\","
                     "\"end_timestamp\":\"2026-01-01T00:00:01.000123456+00:00\"}]";
    char *out = doc_of(in, NULL);
    cr_assert_not_null(strstr(out, "\"start_time\":\"2026-01-01T00:00:00.5Z\","
                                   "\"end_time\":\"2026-01-01T00:00:01.000123456+00:00\",\"duration_ms\":500.123456,"),
                       "%s", out);
    free(out);
}

Test(stratix_doc, keeps_numbers_and_repairs_text_exactly)
{
    const char *in = "[{\"id\":\"r\",\"trace_id\":\"t\",\"input\":{\"p\":0.1,\"big\":12345678901234,\"neg\":-2.5e-7,"
                     "\"s\":\"caf\\u00e9 \\u0000 \\ud83d\\ude00\",\"n\":null,\"b\":[true,false]},\"output\":null}]";
    char *out = doc_of(in, NULL);
    cr_assert_not_null(strstr(out, "\"input\":{\"p\":0.1,\"big\":12345678901234,\"neg\":-2.5e-07,"
                                   "\"s\":\"caf\xc3\xa9 \xef\xbf\xbd \xf0\x9f\x98\x80\",\"n\":null,\"b\":[true,false]},"
                                   "\"output\":{}"),
                       "%s", out);
    free(out);
}

Test(stratix_doc, a_deep_chain_of_spans_is_written_in_order)
{
    /* 50000 levels: the walk uses its own stack, not the C stack. */
    const size_t depth = 50000;
    json_t *arr = json_array();
    for (size_t i = 0; i < depth; i++) {
        char id[32], parent[32];
        snprintf(id, sizeof id, "s%06zu", i);
        snprintf(parent, sizeof parent, "s%06zu", i - 1);
        json_t *it = json_pack("{s:s, s:s}", "id", id, "trace_id", "t");
        if (i)
            json_object_set_new(it, "parent_id", json_string(parent));
        json_array_insert_new(arr, 0, it); /* deepest first */
    }
    char *out = NULL;
    weft__stratix_doc_info info;
    cr_assert_eq(weft__stratix_doc_text(arr, &out, &info), 0);
    cr_assert_eq(info.spans, depth);
    json_t *d = json_loads(out, 0, NULL);
    json_t *spans = json_object_get(d, "spans");
    cr_assert_eq(json_array_size(spans), depth);
    for (size_t i = 0; i < depth; i += 997) {
        char id[32];
        snprintf(id, sizeof id, "s%06zu", i);
        cr_assert_str_eq(json_string_value(json_object_get(json_array_get(spans, i), "id")), id);
    }
    json_decref(d);
    json_decref(arr);
    free(out);
}

Test(stratix_doc, refuses_inputs_that_are_not_one_trace_of_span_items)
{
    weft__stratix_doc_info info;
    cr_assert_eq(doc_rc("[]", &info), WEFT_EINVAL);
    cr_assert_not_null(strstr(info.error, "at least one span"));
    cr_assert_eq(doc_rc("[{\"id\":\"a\",\"trace_id\":\"t1\"},{\"id\":\"b\",\"trace_id\":\"t2\"}]", &info), WEFT_EINVAL);
    cr_assert_not_null(strstr(info.error, "more than one trace"));
    cr_assert_eq(doc_rc("[{\"id\":\"a\"}]", &info), WEFT_EINVAL);
    cr_assert_eq(doc_rc("[{\"id\":7,\"trace_id\":\"t\"}]", &info), WEFT_EINVAL);
    cr_assert_eq(doc_rc("[\"not an object\"]", &info), WEFT_EINVAL);
    cr_assert_eq(doc_rc("[{\"id\":\"a\",\"trace_id\":\"t\",\"parent_id\":5}]", &info), WEFT_EINVAL);
    cr_assert_not_null(strstr(info.error, "parent_id"));
    cr_assert_eq(doc_rc("{\"id\":\"a\"}", &info), WEFT_EINVAL);

    /* The buffer form leaves the caller's buffer as it was. */
    weft__buf b;
    weft__buf_init(&b);
    weft__buf_lit(&b, "kept");
    json_t *bad = json_pack("{s:s}", "id", "x");
    const json_t *items[] = {bad};
    cr_assert_eq(weft__stratix_doc_write(&b, items, 1, &info), WEFT_EINVAL);
    cr_assert_eq(b.len, 4);
    json_decref(bad);
    weft__buf_fini(&b);
}

Test(stratix_doc, reads_iso_8601_utc_timestamps)
{
    uint64_t ns = 0;
    cr_assert(weft__stratix_doc_time_ns("1970-01-01T00:00:00Z", &ns));
    cr_assert_eq(ns, 0);
    cr_assert(weft__stratix_doc_time_ns("2026-11-22T00:08:00.123456Z", &ns));
    cr_assert_eq(ns, 1795306080123456000ull);
    cr_assert(weft__stratix_doc_time_ns("2024-02-29T23:59:59.999999999+00:00", &ns));
    cr_assert_eq(ns, 1709251199999999999ull);
    cr_assert_not(weft__stratix_doc_time_ns("2023-02-29T00:00:00Z", &ns));
    cr_assert_not(weft__stratix_doc_time_ns("2026-11-22T00:08:00", &ns));
    cr_assert_not(weft__stratix_doc_time_ns("2026-11-22T00:08:00.Z", &ns));
    cr_assert_not(weft__stratix_doc_time_ns("2026-11-22T24:00:00Z", &ns));
    cr_assert_not(weft__stratix_doc_time_ns("2026-11-22T00:08:00+01:00", &ns));
    cr_assert_not(weft__stratix_doc_time_ns("1969-12-31T23:59:59Z", &ns));
    cr_assert_not(weft__stratix_doc_time_ns(NULL, &ns));
}

Test(stratix_doc, json_values_are_written_compact_with_shortest_reals)
{
    json_t *v = json_loads("{\"a\":[1,2.5,0.30000000000000004,1e300],\"b\":{\"c\":\"x\\ny\"},\"d\":false}", 0, NULL);
    char *t = weft__json_value_text(v);
    cr_assert_str_eq(t, "{\"a\":[1,2.5,0.30000000000000004,1e+300],\"b\":{\"c\":\"x\\ny\"},\"d\":false}");
    free(t);
    json_decref(v);
    t = weft__json_value_text(NULL);
    cr_assert_str_eq(t, "null");
    free(t);
}
