/*
 * test_span.c — the span API end to end through the in-memory exporter: records, nesting and
 * parent links on one and several threads, context rules, misuse, attributes and repairs.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <string.h>

#include "weft/weft.h"
#include "weft_test.h"

static void stats(weft_stats *s) { weft_get_stats(s); }

Test(span, begin_end_produces_one_complete_record)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span s = weft_span_begin("answer question", WEFT_TYPE_COMPLETION);
    cr_assert(weft_span_is_valid(s));
    weft_span_end(s);
    json_t *recs = wt_records();
    cr_assert_eq(json_array_size(recs), 1);
    json_t *r = json_array_get(recs, 0);
    cr_assert_str_eq(wt_str(r, "name"), "answer question");
    cr_assert_str_eq(wt_str(r, "type"), "COMPLETION");
    cr_assert_str_eq(wt_str(r, "status"), "SUCCESS");
    cr_assert_null(json_object_get(r, "parent_id"), "a span begun with no current span is a root");
    cr_assert_not_null(wt_str(r, "end_timestamp"));
    cr_assert_eq(json_object_size(json_object_get(r, "input")), 0);
    /* W3C ids derive from weft's ids: the span id is the UUID's first 16 hex digits but for
     * the version nibble. */
    const char *id = wt_str(r, "id"), *obs = wt_str(r, "obs_span_id");
    cr_assert_eq(strncmp(id, obs, 8), 0);
    json_decref(recs);
    cr_assert_eq(weft_shutdown(1000), 0);
    weft_stats st;
    stats(&st);
    cr_assert_eq(st.started, 1);
    cr_assert_eq(st.ended, 1);
    cr_assert_eq(st.exported, 1);
    cr_assert_eq(st.internal_errors, 0);
}

Test(span, nested_begins_link_parents_within_one_trace)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span a = weft_span_begin("agent", WEFT_TYPE_AGENT_WORKFLOW);
    weft_span b = weft_span_begin("retrieve", WEFT_TYPE_KB_RETRIEVAL);
    weft_span c = weft_span_begin("embed", WEFT_TYPE_CUSTOM);
    weft_span_end(c);
    weft_span d = weft_span_begin("rerank", WEFT_TYPE_RERANKING);
    weft_span_end(d);
    weft_span_end(b);
    weft_span e = weft_span_begin("generate", WEFT_TYPE_COMPLETION);
    weft_span_end(e);
    weft_span_end(a);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 5);
    json_t *ra = wt_find(recs, "agent"), *rb = wt_find(recs, "retrieve"), *rc = wt_find(recs, "embed"),
           *rd = wt_find(recs, "rerank"), *re = wt_find(recs, "generate");
    cr_assert_str_eq(wt_str(rb, "parent_id"), wt_str(ra, "id"));
    cr_assert_str_eq(wt_str(rc, "parent_id"), wt_str(rb, "id"));
    cr_assert_str_eq(wt_str(rd, "parent_id"), wt_str(rb, "id"));
    cr_assert_str_eq(wt_str(re, "parent_id"), wt_str(ra, "id"));
    size_t i;
    json_t *it;
    json_array_foreach(recs, i, it) cr_assert_str_eq(wt_str(it, "trace_id"), wt_str(ra, "trace_id"));
    json_decref(recs);
}

Test(span, current_span_follows_begin_and_end)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    cr_assert_not(weft_span_is_valid(weft_current_span()));
    weft_span a = weft_span_begin("a", WEFT_TYPE_CUSTOM);
    cr_assert_eq(weft_current_span().id, a.id);
    weft_span b = weft_span_begin("b", WEFT_TYPE_CUSTOM);
    cr_assert_eq(weft_current_span().id, b.id);
    weft_span_end(b);
    cr_assert_eq(weft_current_span().id, a.id);
    weft_span_end(a);
    cr_assert_not(weft_span_is_valid(weft_current_span()));
    cr_assert_eq(weft_shutdown(1000), 0);
}

Test(span, begin_child_leaves_the_current_span_alone)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span a = weft_span_begin("a", WEFT_TYPE_CUSTOM);
    weft_span c = weft_span_begin_child(a, "handed off", WEFT_TYPE_CODE_EXECUTION);
    cr_assert_eq(weft_current_span().id, a.id);
    weft_span_end(c);
    weft_span_end(a);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_str_eq(wt_str(wt_find(recs, "handed off"), "parent_id"), wt_str(wt_find(recs, "a"), "id"));
    json_decref(recs);
}

typedef struct handoff {
    weft_span parent; /* in: begun on the main thread */
    weft_span made;   /* out: a child begun on the worker thread */
    weft_span current_seen;
} handoff;

static void *end_elsewhere(void *p)
{
    handoff *h = p;
    weft_span_end(h->parent); /* a span begun on the main thread, ended here */
    return NULL;
}

Test(span, a_span_ended_on_another_thread_stops_being_current_at_home)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span root = weft_span_begin("root", WEFT_TYPE_TRACER);
    weft_span moved = weft_span_begin("moved", WEFT_TYPE_CUSTOM);
    handoff h = {.parent = moved};
    pthread_t t;
    pthread_create(&t, NULL, end_elsewhere, &h);
    pthread_join(t, NULL);
    /* The next begin on the home thread no longer nests under the span that ended elsewhere. */
    weft_span next = weft_span_begin("next", WEFT_TYPE_CUSTOM);
    weft_span_end(next);
    cr_assert_eq(weft_current_span().id, root.id);
    weft_span_end(root);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 3);
    cr_assert_str_eq(wt_str(wt_find(recs, "next"), "parent_id"), wt_str(wt_find(recs, "root"), "id"));
    cr_assert_str_eq(wt_str(wt_find(recs, "moved"), "parent_id"), wt_str(wt_find(recs, "root"), "id"));
    cr_assert_not_null(wt_str(wt_find(recs, "moved"), "end_timestamp"));
    json_decref(recs);
}

static void *child_elsewhere(void *p)
{
    handoff *h = p;
    h->made = weft_span_begin_child(h->parent, "tool call", WEFT_TYPE_CODE_EXECUTION);
    weft_span_set_str(h->made, WEFT_INPUT, "cmd", "ls");
    weft_span inner = weft_span_begin_child(h->made, "inner", WEFT_TYPE_CUSTOM);
    h->current_seen = weft_current_span();
    weft_span_end(inner);
    /* h->made is ended by the main thread. */
    return NULL;
}

Test(span, explicit_parents_link_spans_across_threads)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span root = weft_span_begin("root", WEFT_TYPE_TRACER);
    handoff h = {.parent = root};
    pthread_t t;
    pthread_create(&t, NULL, child_elsewhere, &h);
    pthread_join(t, NULL);
    cr_assert_not(weft_span_is_valid(h.current_seen), "begin_child never makes a span current");
    weft_span_set_i64(h.made, WEFT_OUTPUT, "exit", 0);
    weft_span_end(h.made);
    weft_span_end(root);
    json_t *recs = wt_records_after_shutdown();
    json_t *tool = wt_find(recs, "tool call"), *inner = wt_find(recs, "inner"), *r = wt_find(recs, "root");
    cr_assert_str_eq(wt_str(tool, "parent_id"), wt_str(r, "id"));
    cr_assert_str_eq(wt_str(inner, "parent_id"), wt_str(tool, "id"));
    cr_assert_str_eq(wt_str(tool, "trace_id"), wt_str(r, "trace_id"));
    cr_assert_str_eq(wt_str(wt_path(tool, "input"), "cmd"), "ls");
    cr_assert_eq(json_integer_value(wt_path(tool, "output.exit")), 0);
    cr_assert_not_null(wt_path(tool, "output.exit"));
    json_decref(recs);
}

Test(span, double_end_and_zero_span_calls_are_counted_noops)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span s = weft_span_begin("once", WEFT_TYPE_CUSTOM);
    weft_span_end(s);
    weft_span_end(s);
    weft_span zero = {0, 0, 0, 0, 0};
    weft_span_end(zero);
    weft_span_set_str(zero, WEFT_INPUT, "k", "v");
    weft_span_set_status(zero, WEFT_STATUS_ERROR);
    json_t *recs = wt_records();
    /* A set on the span long after it ended is dropped too. */
    weft_span_set_str(s, WEFT_INPUT, "late", "v");
    json_decref(wt_records());
    cr_assert_eq(json_array_size(recs), 1);
    json_decref(recs);
    cr_assert_eq(weft_shutdown(1000), 0);
    weft_stats st;
    stats(&st);
    cr_assert_eq(st.exported, 1);
    cr_assert_eq(st.noop_calls, 5, "second end, three zero-span calls, late set: got %llu",
                 (unsigned long long)st.noop_calls);
}

Test(span, calls_before_init_and_after_shutdown_do_nothing)
{
    weft_span s = weft_span_begin("before", WEFT_TYPE_CUSTOM);
    cr_assert_not(weft_span_is_valid(s));
    weft_span_set_str(s, WEFT_INPUT, "k", "v");
    weft_span_end(s);
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span live = weft_span_begin("live", WEFT_TYPE_CUSTOM);
    cr_assert_eq(weft_shutdown(1000), 0);
    cr_assert_eq(weft_shutdown(1000), 0, "shutdown twice is fine");
    weft_span_end(live);
    weft_span after = weft_span_begin("after", WEFT_TYPE_CUSTOM);
    cr_assert_not(weft_span_is_valid(after));
    cr_assert_eq(weft_flush(10), WEFT_ENOTINIT);
}

Test(span, attributes_land_in_their_sections_and_the_last_set_wins)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span s = weft_span_begin("attrs", WEFT_TYPE_CUSTOM);
    weft_span_set_str(s, WEFT_INPUT, "question", "what is weft?");
    weft_span_set_strn(s, WEFT_INPUT, "prefix", "abcdef", 3);
    weft_span_set_i64(s, WEFT_OUTPUT, "tokens", INT64_MIN);
    weft_span_set_f64(s, WEFT_OUTPUT, "score", 0.125);
    weft_span_set_f64(s, WEFT_OUTPUT, "nan", NAN);
    weft_span_set_bool(s, WEFT_METADATA, "cached", true);
    weft_span_set_str(s, WEFT_METADATA, "model", "old");
    weft_span_set_str(s, WEFT_METADATA, "model", "new");
    weft_span_set_str(s, WEFT_METADATA, "nothing", NULL);
    weft_span_set_json(s, WEFT_OUTPUT, "doc", " {\"a\":[1,2,{\"b\":null}]} ", 24);
    weft_span_set_json(s, WEFT_OUTPUT, "bad", "{nope", 5);
    weft_span_end(s);
    json_t *recs = wt_records_after_shutdown();
    json_t *r = json_array_get(recs, 0);
    cr_assert_str_eq(wt_str(json_object_get(r, "input"), "question"), "what is weft?");
    cr_assert_str_eq(wt_str(json_object_get(r, "input"), "prefix"), "abc");
    cr_assert_eq(json_integer_value(wt_path(r, "output.tokens")), INT64_MIN);
    cr_assert_float_eq(json_real_value(wt_path(r, "output.score")), 0.125, 1e-12);
    cr_assert(json_is_null(wt_path(r, "output.nan")));
    cr_assert(json_is_true(wt_path(r, "metadata.cached")));
    cr_assert_str_eq(wt_str(json_object_get(r, "metadata"), "model"), "new");
    cr_assert_str_eq(wt_str(json_object_get(r, "metadata"), "nothing"), "");
    cr_assert(json_is_array(wt_path(r, "output.doc.a")));
    cr_assert_str_eq(wt_str(json_object_get(r, "output"), "bad"), "{nope");
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.invalid_json, 1);
}

Test(span, errors_set_status_and_metadata)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span s = weft_span_begin("fails", WEFT_TYPE_EXTERNAL_ENDPOINT);
    weft_span_set_error(s, "TimeoutError", "upstream took 30 s");
    weft_span_end(s);
    weft_span c = weft_span_begin("canceled", WEFT_TYPE_CUSTOM);
    weft_span_set_status(c, WEFT_STATUS_CANCELED);
    weft_span_end(c);
    json_t *recs = wt_records_after_shutdown();
    json_t *r = wt_find(recs, "fails");
    cr_assert_str_eq(wt_str(r, "status"), "ERROR");
    cr_assert_str_eq(wt_str(wt_path(r, "metadata.error"), "type"), "TimeoutError");
    cr_assert_str_eq(wt_str(wt_path(r, "metadata.error"), "message"), "upstream took 30 s");
    cr_assert_str_eq(wt_str(wt_find(recs, "canceled"), "status"), "CANCELED");
    json_decref(recs);
}

Test(span, invalid_utf8_and_nul_are_repaired_into_valid_json)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span s = weft_span_begin("bad \xff\xfe name \xc3", WEFT_TYPE_CUSTOM);
    weft_span_set_strn(s, WEFT_INPUT, "nul", "a\0b", 3);
    weft_span_set_str(s, WEFT_INPUT, "k\xe2\x82", "\xed\xa0\x80surrogate");
    weft_span_set_str(s, WEFT_INPUT, "ctl", "line\n\ttab\x01");
    weft_span_end(s);
    weft_span e = weft_span_begin("", WEFT_TYPE_CUSTOM);
    weft_span_end(e);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 2);
    cr_assert_not_null(wt_find(recs, "unnamed"), "an empty name becomes \"unnamed\"");
    json_t *r = NULL;
    size_t i;
    json_t *it;
    json_array_foreach(recs, i, it) if (strcmp(wt_str(it, "name"), "unnamed")) r = it;
    cr_assert_str_eq(wt_str(r, "name"), "bad \xef\xbf\xbd\xef\xbf\xbd name \xef\xbf\xbd");
    json_t *nul = wt_path(r, "input.nul");
    cr_assert_eq(json_string_length(nul), 5);
    cr_assert_eq(memcmp(json_string_value(nul), "a\xef\xbf\xbd" "b", 5), 0);
    cr_assert_str_eq(wt_str(wt_path(r, "input"), "ctl"), "line\n\ttab\x01");
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_geq(st.repaired_utf8, 3);
}

Test(span, values_over_max_attr_bytes_are_cut_and_marked)
{
    weft_config c = {.max_attr_bytes = 100};
    cr_assert_eq(wt_init_memory(&c), 0);
    char big[1000];
    for (int i = 0; i < 999; i += 3)
        memcpy(big + i, "\xe2\x82\xac", 3); /* "€": three bytes, so a cut could split one */
    big[999] = 0;
    weft_span s = weft_span_begin("big", WEFT_TYPE_CUSTOM);
    weft_span_set_str(s, WEFT_OUTPUT, "text", big);
    weft_span_set_str(s, WEFT_OUTPUT, "small", "fits");
    weft_span_end(s);
    json_t *recs = wt_records_after_shutdown();
    const char *v = wt_str(wt_path(json_array_get(recs, 0), "output"), "text");
    cr_assert_not_null(v);
    /* 99 bytes = 33 whole characters kept, then the marker. */
    char want[200];
    snprintf(want, sizeof want, "%.*s\xe2\x80\xa6[truncated %d bytes]", 99, big, 999 - 99);
    cr_assert_str_eq(v, want);
    cr_assert_str_eq(wt_str(wt_path(json_array_get(recs, 0), "output"), "small"), "fits");
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.truncated_attrs, 1);
}

Test(span, macros_record_literal_names_and_scoped_spans_end_at_scope_exit)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    WEFT_SPAN_BEGIN(outer, "outer literal", WEFT_TYPE_TRACER);
    for (int i = 0; i < 3; i++) {
        WEFT_SPAN_SCOPED(step, "scoped step", WEFT_TYPE_CUSTOM);
        weft_span_set_i64(step, WEFT_INPUT, "i", i);
        if (i == 1)
            continue; /* leaves the scope early: still ended */
    }
    WEFT_SPAN_END(outer);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(wt_count(recs, "scoped step"), 3);
    json_t *o = wt_find(recs, "outer literal");
    cr_assert_str_eq(wt_str(o, "type"), "TRACER");
    cr_assert_str_eq(wt_str(wt_find(recs, "scoped step"), "parent_id"), wt_str(o, "id"));
    json_decref(recs);
}

Test(span, per_span_and_configured_ids_are_sent)
{
    weft_config c = {.group_id = "grp-1", .application_variant_id = "variant-a"};
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span s = weft_span_begin("ids", WEFT_TYPE_CUSTOM);
    weft_span_set_group_id(s, "grp-override");
    weft_span_set_application_interaction_id(s, "interaction-7");
    weft_span_end(s);
    weft_span t = weft_span_begin("defaults", WEFT_TYPE_CUSTOM);
    weft_span_end(t);
    json_t *recs = wt_records_after_shutdown();
    json_t *r = wt_find(recs, "ids"), *d = wt_find(recs, "defaults");
    cr_assert_str_eq(wt_str(r, "group_id"), "grp-override");
    cr_assert_str_eq(wt_str(r, "application_variant_id"), "variant-a");
    cr_assert_str_eq(wt_str(r, "application_interaction_id"), "interaction-7");
    cr_assert_str_eq(wt_str(d, "group_id"), "grp-1");
    cr_assert_null(json_object_get(d, "application_interaction_id"));
    json_decref(recs);
}

Test(span, every_span_type_has_its_wire_name)
{
    cr_assert_str_eq(weft_span_type_name(WEFT_TYPE_TEXT_INPUT), "TEXT_INPUT");
    cr_assert_str_eq(weft_span_type_name(WEFT_TYPE_KB_RETRIEVAL), "KB_RETRIEVAL");
    cr_assert_str_eq(weft_span_type_name(WEFT_TYPE_STANDALONE), "STANDALONE");
    cr_assert_eq(WEFT_TYPE_COUNT_, 25);
    cr_assert_str_eq(weft_span_type_name((weft_span_type)99), "CUSTOM");
}

Test(span, pretty_printed_json_values_stay_on_one_line)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span s = weft_span_begin("pretty", WEFT_TYPE_CUSTOM);
    const char *pretty = "{\n  \"a\": 1,\n  \"b\": [ \"x y\", \"\\n\" ]\n}\n";
    weft_span_set_json(s, WEFT_OUTPUT, "doc", pretty, strlen(pretty));
    weft_span_end(s);
    /* wt_records_after_shutdown parses line by line: a raw newline would fail it. */
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 1);
    json_t *doc = wt_path(json_array_get(recs, 0), "output.doc");
    cr_assert_eq(json_integer_value(json_object_get(doc, "a")), 1);
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(doc, "b"), 0)), "x y");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(doc, "b"), 1)), "\n");
    json_decref(recs);
}

Test(span, id_fields_are_cut_to_256_bytes_between_escapes)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    char raw[300];
    for (int i = 0; i < 299; i++)
        raw[i] = (i % 7 == 0) ? '\x01' : (i % 5 == 0 ? '"' : 'g'); /* escapes of 6 and 2 bytes */
    raw[299] = 0;
    weft_span s = weft_span_begin("ids", WEFT_TYPE_CUSTOM);
    weft_span_set_group_id(s, raw);
    weft_span_end(s);
    json_t *recs = wt_records_after_shutdown(); /* parses every line: a split escape fails */
    const char *g = wt_str(json_array_get(recs, 0), "group_id");
    cr_assert_not_null(g);
    cr_assert_gt(strlen(g), 0);
    cr_assert_leq(strlen(g), 256);
    cr_assert_eq(strncmp(g, raw, strlen(g)), 0, "a prefix of the value, whole characters only");
    json_decref(recs);
}
