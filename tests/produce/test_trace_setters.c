/*
 * test_trace_setters.c — weft_span_set_trace_info, weft_span_add_event and weft_message's
 * tool_calls_json / timestamp_us end to end: set on a real weft run with the jsonl exporter in
 * a temp directory, then read back with the trace queries (weft_traces_list / _get).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weft/traces.h"
#include "weft/weft.h"

static char dir[64];
static char jsonl[128];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/weft-tsetters-XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    snprintf(jsonl, sizeof jsonl, "%s/run.jsonl", dir);
}

static int rm_one(const char *p, const struct stat *st, int f, struct FTW *w)
{
    (void)st, (void)f, (void)w;
    return remove(p);
}

static void remove_dir(void) { nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS); }

TestSuite(trace_setters, .init = make_dir, .fini = remove_dir);

static char trace_id[37];

static void run(void (*fn)(void))
{
    weft_config c = {0};
    c.exporters = "jsonl";
    c.jsonl_path = jsonl;
    c.no_atexit = true;
    c.flush_interval_ms = 20;
    cr_assert_eq(weft_init(&c), 0);
    fn();
    cr_assert_eq(weft_shutdown(5000), 0);
}

static weft_trace_full_result *get_trace(weft_trace_source **src)
{
    const char *paths[] = {jsonl};
    cr_assert_eq(weft_trace_source_open_files(paths, 1, src), 0);
    weft_trace_full_result *r = NULL;
    cr_assert_eq(weft_traces_get(*src, trace_id, &r), 0);
    return r;
}

static void with_trace_info(void)
{
    weft_span root = weft_span_begin("chat", WEFT_TYPE_AGENT_WORKFLOW);
    weft_ids ids;
    cr_assert_eq(weft_span_get_ids(root, &ids), 0);
    memcpy(trace_id, ids.trace_id, sizeof trace_id);
    const char *tags[] = {"beta", NULL, "has,comma"};
    weft_trace_info info = {.project_id = "proj-7",
                            .project_name = "Support bot",
                            .session_id = "sess-42",
                            .app_name = "helpdesk",
                            .tags = tags,
                            .n_tags = 3,
                            .custom_fields_json = "{ \"tier\": \"gold\", \"n\": 3 }"};
    weft_span_set_trace_info(root, &info);
    weft_span_end(root);
}

Test(trace_setters, trace_info_lands_in_the_root_keys_the_queries_read)
{
    run(with_trace_info);
    weft_trace_source *src;
    weft_trace_full_result *r = get_trace(&src);
    cr_expect_eq(r->summary.n_tags, 2);
    cr_expect_str_eq(r->summary.tags[0], "beta");
    cr_expect_str_eq(r->summary.tags[1], "has,comma");
    cr_expect_str_eq(r->summary.project_id, "proj-7");
    json_t *cf = json_loads(r->summary.custom_fields, 0, NULL);
    cr_assert(cf);
    cr_expect_str_eq(json_string_value(json_object_get(cf, "tier")), "gold");
    cr_expect_eq(json_integer_value(json_object_get(cf, "n")), 3);
    json_decref(cf);
    weft_trace_full_result_free(r);

    weft_trace_list_response *l = NULL;
    cr_assert_eq(weft_traces_list(src, NULL, &l), 0);
    cr_assert_eq(l->n_traces, 1);
    cr_expect_str_eq(l->traces[0].project_id, "proj-7");
    cr_expect_str_eq(l->traces[0].project_name, "Support bot");
    cr_expect_str_eq(l->traces[0].session_id, "sess-42");
    cr_expect_str_eq(l->traces[0].app_name, "helpdesk");
    weft_trace_list_response_free(l);
    weft_trace_source_free(src);
}

static void bad_custom_fields(void)
{
    weft_span root = weft_span_begin("chat", WEFT_TYPE_AGENT_WORKFLOW);
    weft_ids ids;
    cr_assert_eq(weft_span_get_ids(root, &ids), 0);
    memcpy(trace_id, ids.trace_id, sizeof trace_id);
    weft_trace_info info = {.project_id = "p", .custom_fields_json = "[1, 2]"};
    weft_span_set_trace_info(root, &info);
    weft_span_set_trace_info(root, NULL);
    weft_span_end(root);
}

Test(trace_setters, custom_fields_that_are_not_an_object_are_left_out_and_counted)
{
    run(bad_custom_fields);
    weft_stats s;
    weft_get_stats(&s);
    cr_expect_eq(s.invalid_json, 1);
    cr_expect_geq(s.noop_calls, 1);
    weft_trace_source *src;
    weft_trace_full_result *r = get_trace(&src);
    cr_expect_str_eq(r->summary.custom_fields, "{}");
    cr_expect_eq(r->summary.n_tags, 0);
    cr_expect_str_eq(r->summary.project_id, "p");
    weft_trace_full_result_free(r);
    weft_trace_source_free(src);
}

static void with_events(void)
{
    weft_span root = weft_span_begin("llm", WEFT_TYPE_COMPLETION);
    weft_ids ids;
    cr_assert_eq(weft_span_get_ids(root, &ids), 0);
    memcpy(trace_id, ids.trace_id, sizeof trace_id);
    weft_span_add_event(root, "first_token", "{\"chunk\": 1}");
    weft_span_add_event(root, "done", NULL);
    weft_span_add_event(root, "odd", "not json");
    weft_span_add_event(root, NULL, "{}");
    weft_span_end(root);
}

Test(trace_setters, span_events_are_timestamped_inside_the_span_and_read_as_trace_span_events)
{
    run(with_events);
    weft_stats s;
    weft_get_stats(&s);
    cr_expect_eq(s.invalid_json, 1);
    weft_trace_source *src;
    weft_trace_full_result *r = get_trace(&src);
    cr_assert_eq(r->n_spans, 1);
    json_t *ev = json_loads(r->spans[0].events, 0, NULL);
    cr_assert(json_is_array(ev), "%s", r->spans[0].events);
    cr_assert_eq(json_array_size(ev), 3);
    const char *names[] = {"first_token", "done", "odd"};
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(ev, i);
        cr_expect_str_eq(json_string_value(json_object_get(e, "name")), names[i]);
        const char *ts = json_string_value(json_object_get(e, "timestamp"));
        cr_assert(ts);
        /* ISO 8601 with microseconds, like the span's own: same width, so text order is time order. */
        cr_expect_eq(strlen(ts), strlen(r->spans[0].start_time));
        cr_expect_geq(strcmp(ts, r->spans[0].start_time), 0, "%s before %s", ts, r->spans[0].start_time);
        cr_expect_leq(strcmp(ts, r->spans[0].end_time), 0, "%s after %s", ts, r->spans[0].end_time);
    }
    cr_expect_eq(json_integer_value(json_object_get(json_object_get(json_array_get(ev, 0), "attributes"), "chunk")), 1);
    cr_expect_eq(json_object_size(json_object_get(json_array_get(ev, 1), "attributes")), 0);
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(ev, 2), "attributes")), "not json");
    json_decref(ev);
    weft_trace_full_result_free(r);
    weft_trace_source_free(src);
}

static void with_messages(void)
{
    weft_span root = weft_span_begin("llm", WEFT_TYPE_COMPLETION);
    weft_ids ids;
    cr_assert_eq(weft_span_get_ids(root, &ids), 0);
    memcpy(trace_id, ids.trace_id, sizeof trace_id);
    weft_message u = {.role = "user", .content = "weather?", .timestamp_us = 1764633600123456};
    weft_span_add_message(root, WEFT_INPUT, &u);
    weft_message a = {.role = "assistant",
                      .tool_calls_json = "[{\"id\": \"c1\", \"type\": \"function\", \"function\": "
                                         "{\"name\": \"get_weather\", \"arguments\": \"{}\"}}]"};
    weft_span_add_message(root, WEFT_OUTPUT, &a);
    weft_message bad = {.role = "tool", .content = "sunny", .tool_call_id = "c1", .tool_calls_json = "{}"};
    weft_span_add_message(root, WEFT_OUTPUT, &bad);
    weft_span_end(root);
}

Test(trace_setters, message_tool_calls_and_timestamps_reach_trace_messages)
{
    run(with_messages);
    weft_stats s;
    weft_get_stats(&s);
    cr_expect_eq(s.invalid_json, 1); /* "{}" is not an array */
    weft_trace_source *src;
    weft_trace_full_result *r = get_trace(&src);
    cr_assert_eq(r->n_messages, 3);
    cr_expect_str_eq(r->messages[0].timestamp, "2025-12-02T00:00:00.123456Z");
    cr_expect_str_eq(r->messages[0].tool_calls, "[]");
    json_t *calls = json_loads(r->messages[1].tool_calls, 0, NULL);
    cr_assert(json_is_array(calls));
    cr_expect_str_eq(json_string_value(json_object_get(json_array_get(calls, 0), "id")), "c1");
    json_decref(calls);
    cr_expect_str_eq(r->messages[1].timestamp, r->spans[0].end_time); /* none given: the span's */
    cr_expect_str_eq(r->messages[2].tool_calls, "[]");
    cr_expect_str_eq(r->messages[2].tool_call_id, "c1");
    weft_trace_full_result_free(r);
    weft_trace_source_free(src);
}
