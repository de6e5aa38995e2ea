/*
 * test_sgp_client.c — the synchronous SGP spans client (include/weft/sgp.h) against the
 * in-process receiver (tests/support/receiver.h) on 127.0.0.1: every method, every search
 * filter, cursor paging both ways, the retry rules (transient failures retried, Retry-After
 * honoured, permanent ones not), broken answers, the API-key URL rule, configuration from the
 * environment, and a round trip from weft's own SGP exporter back through search.
 *
 * No test calls weft_init except the round trip: the client must work without it. No
 * duration is asserted.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "receiver.h"
#include "weft/sgp.h"
#include "weft/weft.h"

#define KEY "client-test-key"
#define TRACE_A "0d6f2a7e-0000-4000-8000-00000000000a"
#define TRACE_B "0d6f2a7e-0000-4000-8000-00000000000b"
#define TRACE_C "0d6f2a7e-0000-4000-8000-00000000000c"

/* ---- setup ---------------------------------------------------------------------------------- */

static weft_rx *rx_start(void)
{
    weft_rx_opts o = {.api_key = KEY};
    weft_rx *rx = weft_rx_start(&o);
    cr_assert(rx, "receiver did not start");
    return rx;
}

static weft_sgp_client *client_for(weft_rx *rx, int max_retries)
{
    weft_sgp_options o = {
        .api_key = KEY,
        .account_id = "acct-7",
        .base_url = weft_rx_url(rx),
        .max_retries = max_retries,
        .max_retry_wait_ms = 5000,
    };
    weft_sgp_client *c = NULL;
    weft_sgp_error e;
    cr_assert_eq(weft_sgp_client_new(&o, &c, &e), 0, "%s", e.message);
    cr_assert(c);
    return c;
}

static char *ts(int sec)
{
    char *s = NULL;
    cr_assert(asprintf(&s, "2026-03-01T10:00:%02d.000000Z", sec) > 0);
    return s;
}

/* An upsert item as weft's exporter would send one. Taken by the caller (json_decref). */
static json_t *item(const char *trace, const char *id, const char *parent, const char *name,
                    int start_sec)
{
    char *s = ts(start_sec), *e = ts(start_sec + 1);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{},s:{},s:{}}", "id", id, "trace_id",
                          trace, "name", name, "type", "CUSTOM", "status", "SUCCESS",
                          "start_timestamp", s, "end_timestamp", e, "input", "output",
                          "metadata");
    free(s);
    free(e);
    if (parent)
        json_object_set_new(o, "parent_id", json_string(parent));
    return o;
}

static void put(weft_rx *rx, json_t *items)
{
    weft_sgp_client *c = client_for(rx, 0);
    size_t n = json_array_size(items);
    char **texts = calloc(n, sizeof *texts);
    for (size_t i = 0; i < n; i++)
        texts[i] = json_dumps(json_array_get(items, i), JSON_COMPACT);
    weft_sgp_error e;
    int rc = weft_sgp_spans_upsert_batch_json(c, (const char *const *)texts, n, NULL, &e);
    cr_assert_eq(rc, 0, "upsert: %s / %s", e.message, e.detail);
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    json_decref(items);
    weft_sgp_client_free(c);
}

/*
 * Twelve spans over three traces, each differing in the fields the filters read:
 *   s01..s04 in TRACE_A (s01 root; s02, s03 its children; s04 child of s03),
 *   s05..s08 in TRACE_B (s05 root), s09..s12 in TRACE_C (s09 root).
 */
static void load_fixture(weft_rx *rx)
{
    json_t *items = json_array();
    const struct {
        const char *trace, *id, *parent, *name, *status, *type, *group, *variant, *text;
        const char *meta_env;
    } f[] = {
        {TRACE_A, "s01", NULL, "agent", "SUCCESS", "AGENT_WORKFLOW", "g1", "v1", "plan a trip", "prod"},
        {TRACE_A, "s02", "s01", "retrieve", "SUCCESS", "KB_RETRIEVAL", "g1", "v1", "Paris hotels", "prod"},
        {TRACE_A, "s03", "s01", "generate", "ERROR", "COMPLETION", "g1", "v1", "answer", "prod"},
        {TRACE_A, "s04", "s03", "tool", "SUCCESS", "CODE_EXECUTION", "g1", "v1", "python", "prod"},
        {TRACE_B, "s05", NULL, "agent", "SUCCESS", "AGENT_WORKFLOW", "g2", "v2", "book a flight", "dev"},
        {TRACE_B, "s06", "s05", "retrieve", "CANCELED", "KB_RETRIEVAL", "g2", "v2", "Lisbon", "dev"},
        {TRACE_B, "s07", "s05", "generate", "SUCCESS", "COMPLETION", "g2", "v2", "reply", "dev"},
        {TRACE_B, "s08", "s05", "guard", "SUCCESS", "GUARDRAIL", "g2", "v2", "check", "dev"},
        {TRACE_C, "s09", NULL, "agent", "ERROR", "AGENT_WORKFLOW", "g3", "v3", "summarise", "prod"},
        {TRACE_C, "s10", "s09", "retrieve", "SUCCESS", "KB_RETRIEVAL", "g3", "v3", "PARIS museums", "prod"},
        {TRACE_C, "s11", "s09", "generate", "SUCCESS", "COMPLETION", "g3", "v3", "done", "prod"},
        {TRACE_C, "s12", "s09", "rerank", "SUCCESS", "RERANKING", "g3", "v3", "order", "dev"},
    };
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        json_t *o = item(f[i].trace, f[i].id, f[i].parent, f[i].name, (int)i * 2);
        json_object_set_new(o, "status", json_string(f[i].status));
        json_object_set_new(o, "type", json_string(f[i].type));
        json_object_set_new(o, "group_id", json_string(f[i].group));
        json_object_set_new(o, "application_variant_id", json_string(f[i].variant));
        json_object_set_new(o, "input", json_pack("{s:s}", "query", f[i].text));
        json_object_set_new(o, "metadata", json_pack("{s:s,s:i}", "env", f[i].meta_env, "n", (int)i % 2));
        json_array_append_new(items, o);
    }
    put(rx, items);
}

/* The ids of a page, comma-separated, in the page's order. */
static char *ids_of(const weft_sgp_span_list *l)
{
    size_t cap = 16 + l->n * 8;
    char *s = calloc(1, cap);
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            strcat(s, ",");
        strncat(s, l->items[i].id, cap - strlen(s) - 1);
    }
    return s;
}

/* Runs q and checks the ids found, in order. */
static void expect_ids(weft_sgp_client *c, const weft_sgp_search *q, const char *want)
{
    weft_sgp_span_list *l = NULL;
    weft_sgp_error e;
    int rc = weft_sgp_spans_search(c, q, &l, &e);
    cr_assert_eq(rc, 0, "search: %s / %s", e.message, e.detail);
    char *got = ids_of(l);
    cr_expect_str_eq(got, want);
    free(got);
    weft_sgp_span_list_free(l);
}

#define LIST(...) (const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)

/* ---- writing and reading one span ------------------------------------------------------- */

Test(sgp_client, creates_a_span_and_retrieves_it_with_every_field)
{
    weft_rx *rx = rx_start();
    weft_sgp_client *c = client_for(rx, 0);
    weft_sgp_span in = {
        .id = "c1",
        .name = "answer",
        .trace_id = TRACE_A,
        .group_id = "grp",
        .start_timestamp = "2026-03-01T10:00:00.000001Z",
        .end_timestamp = "2026-03-01T10:00:02.5Z",
        .application_variant_id = "var-1",
        .application_interaction_id = "int-1",
        .input_json = "{\"q\":\"why\"}",
        .output_json = "{\"answer\":\"because\"}",
        .metadata_json = "{\"model\":\"m\",\"n\":3}",
        .expected_json = "{\"answer\":\"because\"}",
        .status = "ERROR",
        .type = "COMPLETION",
        .obs_trace_id = "0123456789abcdef0123456789abcdef",
        .obs_span_id = "0123456789abcdef",
        .extra_json = "{\"input_tokens\":12,\"output_tokens\":34,\"custom\":{\"k\":[1,2]}}",
    };
    weft_sgp_span *out = NULL;
    weft_sgp_error e;
    cr_assert_eq(weft_sgp_spans_create(c, &in, &out, &e), 0, "%s / %s", e.message, e.detail);
    cr_assert_eq(e.code, 0);
    cr_expect_eq(e.http_status, 200);
    cr_expect_eq(e.attempts, 1);
    cr_expect_str_eq(out->id, "c1");
    weft_sgp_span_free(out);

    char hv[64];
    cr_expect(weft_rx_last_header(rx, "x-api-key", hv, sizeof hv));
    cr_expect_str_eq(hv, KEY);

    weft_sgp_span *s = NULL;
    cr_assert_eq(weft_sgp_spans_retrieve(c, "c1", &s, &e), 0, "%s", e.message);
    cr_expect_str_eq(s->id, "c1");
    cr_expect_str_eq(s->account_id, "acct-7"); /* from x-selected-account-id */
    cr_expect_str_eq(s->name, "answer");
    cr_expect_str_eq(s->trace_id, TRACE_A);
    cr_expect_null(s->parent_id);
    cr_expect_str_eq(s->group_id, "grp");
    cr_expect_str_eq(s->start_timestamp, "2026-03-01T10:00:00.000001Z");
    cr_expect_str_eq(s->end_timestamp, "2026-03-01T10:00:02.5Z");
    cr_expect_null(s->application_id);
    cr_expect_str_eq(s->application_variant_id, "var-1");
    cr_expect_str_eq(s->application_interaction_id, "int-1");
    cr_expect_str_eq(s->input_json, "{\"q\":\"why\"}");
    cr_expect_str_eq(s->output_json, "{\"answer\":\"because\"}");
    cr_expect_str_eq(s->metadata_json, "{\"model\":\"m\",\"n\":3}");
    cr_expect_str_eq(s->expected_json, "{\"answer\":\"because\"}");
    cr_expect_str_eq(s->status, "ERROR");
    cr_expect_str_eq(s->type, "COMPLETION");
    cr_expect_str_eq(s->created_by_id, "rx-service-account");
    cr_expect_str_eq(s->created_by_type, "service_account");
    cr_expect_null(s->created_by_user_id);
    cr_expect_str_eq(s->obs_trace_id, "0123456789abcdef0123456789abcdef");
    cr_expect_str_eq(s->obs_span_id, "0123456789abcdef");
    cr_expect(s->has_input_tokens);
    cr_expect_eq(s->input_tokens, 12);
    cr_expect(s->has_output_tokens);
    cr_expect_eq(s->output_tokens, 34);
    cr_expect_str_eq(s->extra_json, "{\"custom\":{\"k\":[1,2]}}");
    json_t *whole = json_loads(s->json, 0, NULL);
    cr_assert(whole);
    cr_expect_str_eq(json_string_value(json_object_get(whole, "object")), "span");
    cr_expect_eq(json_integer_value(json_object_get(whole, "input_tokens")), 12);
    json_decref(whole);
    weft_sgp_span_free(s);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, keeps_unknown_fields_and_reads_a_span_with_fields_absent)
{
    weft_rx *rx = rx_start();
    weft_sgp_client *c = client_for(rx, 0);
    weft_sgp_span *s = NULL;
    weft_sgp_error e;
    cr_assert_eq(weft_sgp_spans_create_json(c,
                                            "{\"name\":\"bare\",\"trace_id\":\"" TRACE_B "\","
                                            "\"start_timestamp\":\"2026-03-01T10:00:00Z\","
                                            "\"future_field\":true,\"created_by_user_id\":\"u9\"}",
                                            &s, &e),
                 0, "%s / %s", e.message, e.detail);
    cr_assert(s->id && strlen(s->id) == 36, "the server did not pick an id");
    cr_expect_null(s->end_timestamp);
    cr_expect_null(s->input_json);
    cr_expect_null(s->group_id);
    cr_expect_not(s->has_input_tokens);
    cr_expect_str_eq(s->created_by_user_id, "u9");
    cr_expect_str_eq(s->extra_json, "{\"future_field\":true}");
    weft_sgp_span_free(s);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, creates_and_upserts_batches)
{
    weft_rx *rx = rx_start();
    weft_sgp_client *c = client_for(rx, 0);
    weft_sgp_span spans[3] = {
        {.id = "b1", .name = "root", .trace_id = TRACE_A, .start_timestamp = "2026-03-01T10:00:00Z"},
        {.id = "b2", .name = "kid", .trace_id = TRACE_A, .parent_id = "b1",
         .start_timestamp = "2026-03-01T10:00:01Z", .end_timestamp = "2026-03-01T10:00:02Z"},
        {.id = "b3", .name = "kid2", .trace_id = TRACE_A, .parent_id = "b1",
         .start_timestamp = "2026-03-01T10:00:01Z"},
    };
    weft_sgp_span_list *l = NULL;
    weft_sgp_error e;
    cr_assert_eq(weft_sgp_spans_batch(c, spans, 3, &l, &e), 0, "%s / %s", e.message, e.detail);
    cr_expect_eq(l->n, 3);
    cr_expect_str_eq(l->items[1].parent_id, "b1");
    weft_sgp_span_list_free(l);
    cr_expect_eq(weft_rx_count(rx), 3);
    cr_expect_eq(weft_rx_completed(rx), 1);

    /* The upsert replaces b1 and b3 whole: now completed. */
    spans[0].end_timestamp = "2026-03-01T10:00:05Z";
    spans[2].end_timestamp = "2026-03-01T10:00:03Z";
    spans[2].output_json = "{\"ok\":true}";
    weft_sgp_span up[2] = {spans[0], spans[2]};
    cr_assert_eq(weft_sgp_spans_upsert_batch(c, up, 2, &l, &e), 0, "%s", e.message);
    cr_expect_eq(l->n, 2);
    weft_sgp_span_list_free(l);
    cr_expect_eq(weft_rx_count(rx), 3);
    cr_expect_eq(weft_rx_completed(rx), 3);
    weft_sgp_span *s;
    cr_assert_eq(weft_sgp_spans_retrieve(c, "b3", &s, &e), 0);
    cr_expect_str_eq(s->output_json, "{\"ok\":true}");
    cr_expect_str_eq(s->end_timestamp, "2026-03-01T10:00:03Z");
    weft_sgp_span_free(s);

    const char *texts[] = {"{\"id\":\"b4\",\"name\":\"j\",\"trace_id\":\"" TRACE_B "\","
                           "\"start_timestamp\":\"2026-03-01T10:00:00Z\"}"};
    cr_assert_eq(weft_sgp_spans_batch_json(c, texts, 1, NULL, &e), 0, "%s", e.message);
    cr_expect_eq(weft_rx_count(rx), 4);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, refuses_bad_input_before_sending_anything)
{
    weft_rx *rx = rx_start();
    weft_sgp_client *c = client_for(rx, 0);
    weft_sgp_error e;
    const char *texts[] = {"{\"id\":\"x\"}", "[1,2]", "{}"};
    cr_expect_eq(weft_sgp_spans_upsert_batch_json(c, texts, 3, NULL, &e), WEFT_EINVAL);
    cr_expect_eq(e.item_index, 1);
    const char *bad_json[] = {"{\"id\":"};
    cr_expect_eq(weft_sgp_spans_batch_json(c, bad_json, 1, NULL, &e), WEFT_EINVAL);
    cr_expect_eq(e.item_index, 0);
    weft_sgp_span s = {.name = "n", .trace_id = TRACE_A, .start_timestamp = "2026-03-01T10:00:00Z",
                       .metadata_json = "[]"};
    cr_expect_eq(weft_sgp_spans_create(c, &s, NULL, &e), WEFT_EINVAL);
    cr_expect(strstr(e.message, "metadata_json"), "%s", e.message);
    weft_sgp_span missing = {.name = "n"};
    cr_expect_eq(weft_sgp_spans_create(c, &missing, NULL, &e), WEFT_EINVAL);
    cr_expect_eq(weft_sgp_spans_upsert_batch(c, &s, 0, NULL, &e), WEFT_EINVAL);
    cr_expect_eq(weft_sgp_spans_upsert_batch(c, &s, 1001, NULL, &e), WEFT_EINVAL);
    cr_expect_eq(weft_sgp_spans_retrieve(c, "", NULL, &e), WEFT_EINVAL);
    cr_expect_eq(weft_rx_requests(rx), 0, "a request was made");
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, updates_the_mutable_fields)
{
    weft_rx *rx = rx_start();
    json_t *items = json_array();
    json_t *it = item(TRACE_A, "u1", NULL, "before", 0);
    json_object_del(it, "end_timestamp");
    json_array_append_new(items, it);
    put(rx, items);
    weft_sgp_client *c = client_for(rx, 0);
    weft_sgp_span_update upd = {.name = "after",
                                .end_timestamp = "2026-03-01T10:00:09Z",
                                .output_json = "{\"text\":\"done\"}",
                                .metadata_json = "{\"k\":1}",
                                .status = "CANCELED"};
    weft_sgp_span *s = NULL;
    weft_sgp_error e;
    cr_assert_eq(weft_sgp_spans_update(c, "u1", &upd, &s, &e), 0, "%s / %s", e.message, e.detail);
    cr_expect_str_eq(s->name, "after");
    cr_expect_str_eq(s->end_timestamp, "2026-03-01T10:00:09Z");
    cr_expect_str_eq(s->output_json, "{\"text\":\"done\"}");
    cr_expect_str_eq(s->metadata_json, "{\"k\":1}");
    cr_expect_str_eq(s->status, "CANCELED");
    weft_sgp_span_free(s);
    cr_expect_eq(weft_rx_completed(rx), 1);
    /* Only the given fields change. */
    weft_sgp_span_update only = {.name = "again"};
    cr_assert_eq(weft_sgp_spans_update(c, "u1", &only, &s, &e), 0);
    cr_expect_str_eq(s->name, "again");
    cr_expect_str_eq(s->status, "CANCELED");
    weft_sgp_span_free(s);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, reports_a_501_on_update_as_not_supported)
{
    weft_rx *rx = rx_start();
    json_t *items = json_array();
    json_array_append_new(items, item(TRACE_A, "u1", NULL, "x", 0));
    put(rx, items);
    weft_rx_set_patch_unsupported(rx, true);
    weft_sgp_client *c = client_for(rx, 3);
    weft_sgp_span_update upd = {.name = "y"};
    weft_sgp_span *s = (weft_sgp_span *)1;
    weft_sgp_error e;
    cr_expect_eq(weft_sgp_spans_update(c, "u1", &upd, &s, &e), WEFT_ENOTSUP);
    cr_expect_null(s);
    cr_expect_eq(e.code, WEFT_ENOTSUP);
    cr_expect_eq(e.http_status, 501);
    cr_expect_eq(e.attempts, 1, "a 501 was retried");
    cr_expect(strstr(e.detail, "upsert-only"), "%s", e.detail);
    cr_expect_eq(weft_rx_status_count(rx, 501), 1);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, answers_404_with_the_server_detail_for_an_unknown_span)
{
    weft_rx *rx = rx_start();
    weft_sgp_client *c = client_for(rx, 3);
    weft_sgp_span *s = NULL;
    weft_sgp_error e;
    cr_expect_eq(weft_sgp_spans_retrieve(c, "no such span?", &s, &e), WEFT_EHTTP);
    cr_expect_null(s);
    cr_expect_eq(e.http_status, 404);
    cr_expect_str_eq(e.detail, "Span not found");
    cr_expect_eq(e.attempts, 1);
    cr_expect(strstr(e.message, "HTTP 404"), "%s", e.message);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

/* ---- search: every filter ------------------------------------------------------------------- */

Test(sgp_client, searches_with_each_list_filter)
{
    weft_rx *rx = rx_start();
    load_fixture(rx);
    weft_sgp_client *c = client_for(rx, 0);
    expect_ids(c, NULL, "s01,s02,s03,s04,s05,s06,s07,s08,s09,s10,s11,s12");
    expect_ids(c, &(weft_sgp_search){.trace_ids = LIST(TRACE_B)}, "s05,s06,s07,s08");
    expect_ids(c, &(weft_sgp_search){.trace_ids = LIST(TRACE_A, TRACE_C)},
               "s01,s02,s03,s04,s09,s10,s11,s12");
    expect_ids(c, &(weft_sgp_search){.span_ids = LIST("s03", "s11", "nope")}, "s03,s11");
    expect_ids(c, &(weft_sgp_search){.names = LIST("retrieve", "rerank")}, "s02,s06,s10,s12");
    expect_ids(c, &(weft_sgp_search){.statuses = LIST("ERROR")}, "s03,s09");
    expect_ids(c, &(weft_sgp_search){.statuses = LIST("CANCELED", "ERROR")}, "s03,s06,s09");
    expect_ids(c, &(weft_sgp_search){.types = LIST("KB_RETRIEVAL", "GUARDRAIL")}, "s02,s06,s08,s10");
    expect_ids(c, &(weft_sgp_search){.application_variant_ids = LIST("v2")}, "s05,s06,s07,s08");
    expect_ids(c, &(weft_sgp_search){.excluded_span_ids = LIST("s01", "s02", "s03", "s04", "s12")},
               "s05,s06,s07,s08,s09,s10,s11");
    expect_ids(c, &(weft_sgp_search){.excluded_trace_ids = LIST(TRACE_A, TRACE_B)},
               "s09,s10,s11,s12");
    /* Texts are matched in input and output, any of them, ignoring case. */
    expect_ids(c, &(weft_sgp_search){.search_texts = LIST("paris")}, "s02,s10");
    expect_ids(c, &(weft_sgp_search){.search_texts = LIST("lisbon", "flight")}, "s05,s06");
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, searches_with_each_single_filter_and_combines_them)
{
    weft_rx *rx = rx_start();
    load_fixture(rx);
    weft_sgp_client *c = client_for(rx, 0);
    expect_ids(c, &(weft_sgp_search){.group_id = "g3"}, "s09,s10,s11,s12");
    expect_ids(c, &(weft_sgp_search){.parents_only = true}, "s01,s05,s09");
    expect_ids(c, &(weft_sgp_search){.extra_metadata_json = "{\"env\":\"dev\"}"},
               "s05,s06,s07,s08,s12");
    expect_ids(c, &(weft_sgp_search){.extra_metadata_json = "{\"env\":\"prod\",\"n\":1}"},
               "s02,s04,s10");
    /* start_timestamp of sN is 10:00:(2N-2); both bounds inclusive. */
    expect_ids(c, &(weft_sgp_search){.from_ts = "2026-03-01T10:00:14Z"}, "s08,s09,s10,s11,s12");
    expect_ids(c, &(weft_sgp_search){.to_ts = "2026-03-01T10:00:04Z"}, "s01,s02,s03");
    expect_ids(c,
               &(weft_sgp_search){.from_ts = "2026-03-01T10:00:04Z",
                                  .to_ts = "2026-03-01T10:00:08Z"},
               "s03,s04,s05");
    /* Filters combine: all must hold. */
    expect_ids(c,
               &(weft_sgp_search){.names = LIST("generate", "agent"), .statuses = LIST("SUCCESS"),
                                  .excluded_trace_ids = LIST(TRACE_C)},
               "s01,s05,s07");
    expect_ids(c, &(weft_sgp_search){.parents_only = true, .group_id = "g2"}, "s05");
    expect_ids(c, &(weft_sgp_search){.sort_order = WEFT_SGP_SORT_DESC, .trace_ids = LIST(TRACE_A)},
               "s04,s03,s02,s01");
    expect_ids(c,
               &(weft_sgp_search){.sort_order = WEFT_SGP_SORT_ASC, .sort_by = "start_timestamp",
                                  .limit = 2},
               "s01,s02");
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, sends_a_limit_and_refuses_one_out_of_range)
{
    weft_rx *rx = rx_start();
    load_fixture(rx);
    weft_sgp_client *c = client_for(rx, 0);
    weft_sgp_span_list *l = NULL;
    weft_sgp_error e;
    cr_assert_eq(weft_sgp_spans_search(c, &(weft_sgp_search){.limit = 5}, &l, &e), 0);
    cr_expect_eq(l->n, 5);
    cr_expect(l->has_more);
    cr_expect_eq(l->limit, 5);
    cr_expect_eq(l->total, 12);
    weft_sgp_span_list_free(l);
    cr_assert_eq(weft_sgp_spans_search(c, &(weft_sgp_search){.limit = 1000}, &l, &e), 0);
    cr_expect_eq(l->n, 12);
    cr_expect_not(l->has_more);
    weft_sgp_span_list_free(l);
    cr_assert_eq(weft_sgp_spans_search(c, &(weft_sgp_search){0}, &l, &e), 0);
    cr_expect_eq(l->limit, 100, "the default limit is 100");
    weft_sgp_span_list_free(l);
    size_t before = weft_rx_requests(rx);
    int bad[] = {-1, 1001, 100000};
    for (size_t i = 0; i < 3; i++) {
        l = (weft_sgp_span_list *)1;
        cr_expect_eq(weft_sgp_spans_search(c, &(weft_sgp_search){.limit = bad[i]}, &l, &e),
                     WEFT_EINVAL);
        cr_expect_null(l);
        cr_expect(strstr(e.message, "between 1 and 1000"), "%s", e.message);
        weft_sgp_span_iter *it = (weft_sgp_span_iter *)1;
        cr_expect_eq(weft_sgp_spans_iter_new(c, &(weft_sgp_search){.limit = bad[i]},
                                             WEFT_SGP_FORWARD, &it, &e),
                     WEFT_EINVAL);
        cr_expect_null(it);
    }
    cr_expect_eq(weft_sgp_spans_search(c, &(weft_sgp_search){.extra_metadata_json = "[1]"}, &l, &e),
                 WEFT_EINVAL);
    cr_expect_eq(weft_rx_requests(rx), before, "an invalid search was sent");
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, reports_a_422_with_the_server_detail)
{
    weft_rx *rx = rx_start();
    weft_sgp_client *c = client_for(rx, 3);
    weft_sgp_span_list *l = NULL;
    weft_sgp_error e;
    cr_expect_eq(weft_sgp_spans_search(c, &(weft_sgp_search){.types = LIST("NOT_A_TYPE")}, &l, &e),
                 WEFT_EHTTP);
    cr_expect_eq(e.http_status, 422);
    cr_expect(strstr(e.detail, "'NOT_A_TYPE' is not a span type"), "%s", e.detail);
    cr_expect_eq(e.attempts, 1);
    cr_expect_eq(weft_sgp_spans_search(c,
                                       &(weft_sgp_search){.from_ts = "2026-03-02T00:00:00Z",
                                                          .to_ts = "2026-03-01T00:00:00Z"},
                                       &l, &e),
                 WEFT_EHTTP);
    cr_expect_str_eq(e.detail, "from_ts is after to_ts");
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

/* ---- paging --------------------------------------------------------------------------------- */

/* 23 spans, one second apart, all in TRACE_C: p00..p22. */
static void load_pages(weft_rx *rx)
{
    json_t *items = json_array();
    for (int i = 0; i < 23; i++) {
        char id[8];
        snprintf(id, sizeof id, "p%02d", i);
        json_t *o = item(TRACE_C, id, NULL, "page", 0);
        char start[40];
        snprintf(start, sizeof start, "2026-03-01T11:%02d:00Z", i);
        json_object_set_new(o, "start_timestamp", json_string(start));
        json_object_del(o, "end_timestamp");
        json_array_append_new(items, o);
    }
    put(rx, items);
}

Test(sgp_client, walks_more_than_three_pages_forward_then_back_by_cursor)
{
    weft_rx *rx = rx_start();
    load_pages(rx);
    weft_sgp_client *c = client_for(rx, 0);
    weft_sgp_search q = {.limit = 5};
    weft_sgp_span_iter *it = NULL;
    weft_sgp_error e;
    cr_assert_eq(weft_sgp_spans_iter_new(c, &q, WEFT_SGP_FORWARD, &it, &e), 0, "%s", e.message);
    const weft_sgp_span *s;
    int rc, n = 0;
    char last[8] = "";
    while ((rc = weft_sgp_spans_iter_next(it, &s, &e)) == 1) {
        char want[16];
        snprintf(want, sizeof want, "p%02d", n++);
        cr_expect_str_eq(s->id, want);
        snprintf(last, sizeof last, "%s", s->id);
    }
    cr_expect_eq(rc, 0, "%s", e.message);
    cr_expect_eq(n, 23);
    cr_expect_eq(weft_sgp_spans_iter_pages(it), 5);
    cr_expect_eq(weft_sgp_spans_iter_next(it, &s, &e), 0, "the walk did not stay ended");
    weft_sgp_spans_iter_free(it);

    /* Back from the last span: every other span, in reverse, five pages of at most 5. */
    q.ending_before = last;
    cr_assert_eq(weft_sgp_spans_iter_new(c, &q, WEFT_SGP_BACKWARD, &it, &e), 0, "%s", e.message);
    n = 22;
    while ((rc = weft_sgp_spans_iter_next(it, &s, &e)) == 1) {
        char want[16];
        snprintf(want, sizeof want, "p%02d", --n);
        cr_expect_str_eq(s->id, want);
    }
    cr_expect_eq(rc, 0, "%s", e.message);
    cr_expect_eq(n, 0);
    cr_expect_eq(weft_sgp_spans_iter_pages(it), 5);
    weft_sgp_spans_iter_free(it);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, hands_out_whole_pages_in_both_directions_with_filters_and_desc_order)
{
    weft_rx *rx = rx_start();
    load_pages(rx);
    load_fixture(rx);
    weft_sgp_client *c = client_for(rx, 0);
    /* Only the page spans, newest first, 4 per page: 6 pages (4,4,4,4,4,3). */
    weft_sgp_search q = {.limit = 4, .sort_order = WEFT_SGP_SORT_DESC, .names = LIST("page")};
    weft_sgp_span_iter *it = NULL;
    weft_sgp_error e;
    cr_assert_eq(weft_sgp_spans_iter_new(c, &q, WEFT_SGP_FORWARD, &it, &e), 0);
    const weft_sgp_span_list *page;
    size_t sizes[8], np = 0;
    char first_of_last_page[8] = "";
    int rc;
    while ((rc = weft_sgp_spans_iter_next_page(it, &page, &e)) == 1) {
        cr_assert_lt(np, 8);
        sizes[np++] = page->n;
        snprintf(first_of_last_page, sizeof first_of_last_page, "%s", page->items[0].id);
        for (size_t i = 1; i < page->n; i++)
            cr_expect_gt(strcmp(page->items[i - 1].id, page->items[i].id), 0, "not descending");
    }
    cr_expect_eq(rc, 0);
    cr_expect_eq(np, 6);
    for (size_t i = 0; i < 5; i++)
        cr_expect_eq(sizes[i], 4);
    cr_expect_eq(sizes[5], 3);
    cr_expect_str_eq(first_of_last_page, "p02");
    weft_sgp_spans_iter_free(it);

    /* Backward from p02 (newest first): the pages before it, p03.. p22, last page first. */
    q.ending_before = "p02";
    cr_assert_eq(weft_sgp_spans_iter_new(c, &q, WEFT_SGP_BACKWARD, &it, &e), 0);
    np = 0;
    char *pages[8];
    while ((rc = weft_sgp_spans_iter_next_page(it, &page, &e)) == 1)
        pages[np++] = ids_of(page);
    cr_expect_eq(rc, 0);
    cr_assert_eq(np, 5);
    cr_expect_str_eq(pages[0], "p06,p05,p04,p03");
    cr_expect_str_eq(pages[4], "p22,p21,p20,p19");
    for (size_t i = 0; i < np; i++)
        free(pages[i]);
    weft_sgp_spans_iter_free(it);

    /* A single page from a cursor, forward. */
    expect_ids(c, &(weft_sgp_search){.limit = 3, .starting_after = "p10", .names = LIST("page")},
               "p11,p12,p13");
    expect_ids(c, &(weft_sgp_search){.limit = 3, .ending_before = "p10", .names = LIST("page")},
               "p07,p08,p09");
    /* The iterator wants its own cursor kind. */
    cr_expect_eq(weft_sgp_spans_iter_new(c, &(weft_sgp_search){0}, WEFT_SGP_BACKWARD, &it, &e),
                 WEFT_EINVAL);
    cr_expect_eq(weft_sgp_spans_iter_new(c, &(weft_sgp_search){.ending_before = "p1"},
                                         WEFT_SGP_FORWARD, &it, &e),
                 WEFT_EINVAL);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, keeps_its_place_when_a_page_fails)
{
    weft_rx *rx = rx_start();
    load_pages(rx);
    weft_sgp_client *c = client_for(rx, -1); /* no retries: the failure reaches the caller */
    weft_sgp_span_iter *it = NULL;
    weft_sgp_error e;
    cr_assert_eq(weft_sgp_spans_iter_new(c, &(weft_sgp_search){.limit = 10}, WEFT_SGP_FORWARD,
                                         &it, &e),
                 0);
    const weft_sgp_span_list *page;
    cr_assert_eq(weft_sgp_spans_iter_next_page(it, &page, &e), 1);
    cr_expect_str_eq(page->items[0].id, "p00");
    weft_rx_fail_next(rx, 503, 1, NULL);
    cr_expect_eq(weft_sgp_spans_iter_next_page(it, &page, &e), WEFT_EHTTP);
    cr_expect_eq(e.http_status, 503);
    cr_assert_eq(weft_sgp_spans_iter_next_page(it, &page, &e), 1, "%s", e.message);
    cr_expect_str_eq(page->items[0].id, "p10");
    cr_assert_eq(weft_sgp_spans_iter_next_page(it, &page, &e), 1);
    cr_expect_eq(page->n, 3);
    cr_expect_eq(weft_sgp_spans_iter_next_page(it, &page, &e), 0);
    weft_sgp_spans_iter_free(it);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

/* ---- retries -------------------------------------------------------------------------------- */

static int simple_search(weft_sgp_client *c, weft_sgp_error *e)
{
    weft_sgp_span_list *l = NULL;
    int rc = weft_sgp_spans_search(c, NULL, &l, e);
    weft_sgp_span_list_free(l);
    return rc;
}

Test(sgp_client, retries_a_503_with_retry_after_then_succeeds)
{
    weft_rx *rx = rx_start();
    weft_sgp_client *c = client_for(rx, 4);
    weft_rx_fail_next(rx, 503, 2, "1");
    weft_sgp_error e;
    cr_expect_eq(simple_search(c, &e), 0, "%s", e.message);
    cr_expect_eq(e.attempts, 3);
    cr_expect_eq(e.http_status, 200);
    cr_expect_eq(weft_rx_status_count(rx, 503), 2);
    /* An HTTP date two seconds ahead, and retry-after-ms. */
    char date[64];
    time_t t = time(NULL) + 2;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    weft_rx_fail_next(rx, 503, 1, date);
    cr_expect_eq(simple_search(c, &e), 0, "%s", e.message);
    cr_expect_eq(e.attempts, 2);
    weft_rx_set_retry_after_ms(rx, 40);
    weft_rx_fail_next(rx, 500, 1, NULL);
    cr_expect_eq(simple_search(c, &e), 0, "%s", e.message);
    cr_expect_eq(e.attempts, 2);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, retries_a_429_and_408_honouring_retry_after)
{
    weft_rx *rx = rx_start();
    weft_sgp_client *c = client_for(rx, 4);
    weft_rx_fail_next(rx, 429, 1, "1");
    weft_sgp_error e;
    cr_expect_eq(simple_search(c, &e), 0, "%s", e.message);
    cr_expect_eq(e.attempts, 2);
    cr_expect_eq(weft_rx_status_count(rx, 429), 1);
    weft_rx_fail_next(rx, 408, 1, "0");
    cr_expect_eq(simple_search(c, &e), 0, "%s", e.message);
    cr_expect_eq(e.attempts, 2);
    /* A wait longer than max_retry_wait_ms (5 s here) is not waited: the call fails at once. */
    weft_rx_fail_next(rx, 429, 1, "120");
    cr_expect_eq(simple_search(c, &e), WEFT_EHTTP);
    cr_expect_eq(e.http_status, 429);
    cr_expect_eq(e.attempts, 1);
    cr_expect_eq(e.retry_after_ms, 120000);
    cr_expect_str_eq(e.detail, "injected fault");
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, gives_up_after_max_retries_with_the_last_detail)
{
    weft_rx *rx = rx_start();
    weft_sgp_client *c = client_for(rx, 2);
    weft_rx_fail_next(rx, 502, 10, "0");
    weft_sgp_error e;
    cr_expect_eq(simple_search(c, &e), WEFT_EHTTP);
    cr_expect_eq(e.http_status, 502);
    cr_expect_eq(e.attempts, 3);
    cr_expect_str_eq(e.detail, "injected fault");
    cr_expect_eq(weft_rx_requests(rx), 3);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, never_retries_a_permanent_failure)
{
    weft_rx *rx = rx_start();
    weft_sgp_client *c = client_for(rx, 4);
    int statuses[] = {400, 401, 403, 404, 409, 413, 422};
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) {
        weft_rx_reset(rx);
        weft_rx_fail_next(rx, statuses[i], 5, "0");
        weft_sgp_error e;
        cr_expect_eq(simple_search(c, &e), WEFT_EHTTP);
        cr_expect_eq(e.http_status, statuses[i]);
        cr_expect_eq(e.attempts, 1, "%d was retried", statuses[i]);
        cr_expect_eq(weft_rx_requests(rx), 1);
        cr_expect_str_eq(e.detail, "injected fault");
    }
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, sends_the_key_and_reports_a_refused_one)
{
    weft_rx *rx = rx_start();
    weft_sgp_options o = {.api_key = "wrong", .base_url = weft_rx_url(rx), .max_retries = 3};
    weft_sgp_client *c = NULL;
    weft_sgp_error e;
    cr_assert_eq(weft_sgp_client_new(&o, &c, &e), 0);
    cr_expect_eq(simple_search(c, &e), WEFT_EHTTP);
    cr_expect_eq(e.http_status, 401);
    cr_expect_str_eq(e.detail, "invalid API key");
    cr_expect_eq(e.attempts, 1);
    cr_expect_null(strstr(e.message, "wrong"), "the key reached the message");
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, retries_a_connection_closed_mid_answer)
{
    weft_rx *rx = rx_start();
    weft_sgp_client *c = client_for(rx, 3);
    weft_rx_cut_next(rx, 1);
    weft_sgp_error e;
    cr_expect_eq(simple_search(c, &e), 0, "%s", e.message);
    cr_expect_eq(e.attempts, 2);
    cr_expect_eq(weft_rx_status_count(rx, 0), 1);
    /* Closed before any answer: on a kept-alive connection libcurl may resend once itself,
     * so only the outcome and the drop are checked. */
    weft_rx_drop_next(rx, 1);
    cr_expect_eq(simple_search(c, &e), 0, "%s", e.message);
    cr_expect_eq(weft_rx_status_count(rx, 0), 2);
    weft_sgp_client_free(c);

    c = client_for(rx, -1);
    weft_rx_cut_next(rx, 1);
    cr_expect_eq(simple_search(c, &e), WEFT_EIO);
    cr_expect_eq(e.http_status, 0);
    cr_expect_eq(e.attempts, 1);
    cr_expect(strstr(e.message, "connection broken"), "%s", e.message);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, reports_a_refused_connection_and_a_timeout_as_io_errors)
{
    weft_sgp_options o = {.api_key = KEY, .base_url = "http://127.0.0.1:1", .max_retries = 1};
    weft_sgp_client *c = NULL;
    weft_sgp_error e;
    cr_assert_eq(weft_sgp_client_new(&o, &c, &e), 0);
    cr_expect_eq(simple_search(c, &e), WEFT_EIO);
    cr_expect_eq(e.attempts, 2, "a refused connection was not retried");
    cr_expect_eq(e.http_status, 0);
    cr_expect(strstr(e.message, "cannot connect"), "%s", e.message);
    weft_sgp_client_free(c);

    weft_rx *rx = rx_start();
    weft_rx_set_delay_ms(rx, 3000);
    weft_sgp_options slow = {.api_key = KEY, .base_url = weft_rx_url(rx), .max_retries = -1,
                             .request_timeout_ms = 200};
    cr_assert_eq(weft_sgp_client_new(&slow, &c, &e), 0);
    cr_expect_eq(simple_search(c, &e), WEFT_EIO);
    cr_expect(strstr(e.message, "timed out"), "%s", e.message);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

Test(sgp_client, reports_a_malformed_json_answer_clearly)
{
    weft_rx *rx = rx_start();
    load_fixture(rx);
    weft_sgp_client *c = client_for(rx, 3);
    weft_sgp_error e;
    weft_rx_malformed_next(rx, 1);
    weft_sgp_span_list *l = (weft_sgp_span_list *)1;
    cr_expect_eq(weft_sgp_spans_search(c, NULL, &l, &e), WEFT_EPROTO);
    cr_expect_null(l);
    cr_expect_eq(e.http_status, 200);
    cr_expect_eq(e.attempts, 1);
    cr_expect(strstr(e.message, "not JSON"), "%s", e.message);
    weft_rx_malformed_next(rx, 1);
    weft_sgp_span *s = (weft_sgp_span *)1;
    cr_expect_eq(weft_sgp_spans_retrieve(c, "s01", &s, &e), WEFT_EPROTO);
    cr_expect_null(s);
    weft_rx_malformed_next(rx, 1);
    weft_sgp_span_iter *it;
    cr_assert_eq(weft_sgp_spans_iter_new(c, NULL, WEFT_SGP_FORWARD, &it, &e), 0);
    const weft_sgp_span *sp;
    cr_expect_eq(weft_sgp_spans_iter_next(it, &sp, &e), WEFT_EPROTO);
    cr_expect_eq(weft_sgp_spans_iter_next(it, &sp, &e), 1, "the walk did not resume");
    cr_expect_str_eq(sp->id, "s01");
    weft_sgp_spans_iter_free(it);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

/* ---- configuration and the key rule --------------------------------------------------------- */

Test(sgp_client, refuses_the_key_over_plain_http_to_a_host_that_is_not_loopback)
{
    /* Nothing listens anywhere here: a refusal must come before any connection. */
    const char *refused[] = {"http://example.com", "http://10.0.0.1:8080/", "http://[::2]:80",
                             "http://127.0.0.1.example.com", "http://localhost@example.com",
                             "HTTP://api.egp.scale.com"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        weft_sgp_options o = {.api_key = KEY, .base_url = refused[i]};
        weft_sgp_client *c = (weft_sgp_client *)1;
        weft_sgp_error e;
        cr_expect_eq(weft_sgp_client_new(&o, &c, &e), WEFT_EINSECURE, "%s was accepted",
                     refused[i]);
        cr_expect_null(c);
        cr_expect_null(strstr(e.message, KEY));
    }
    /* From the environment too. */
    setenv("SGP_API_KEY", KEY, 1);
    setenv("SGP_CLIENT_BASE_URL", "http://192.0.2.1", 1);
    weft_sgp_client *c = NULL;
    cr_expect_eq(weft_sgp_client_new(NULL, &c, NULL), WEFT_EINSECURE);
    cr_expect_null(c);
    unsetenv("SGP_CLIENT_BASE_URL");
    unsetenv("SGP_API_KEY");
    /* Allowed: https anywhere, plain http to loopback, and any http without a key. */
    const char *ok[] = {"https://example.com", "http://127.0.0.1:9", "http://localhost:9",
                        "http://[::1]:9"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        weft_sgp_options o = {.api_key = KEY, .base_url = ok[i]};
        cr_expect_eq(weft_sgp_client_new(&o, &c, NULL), 0, "%s was refused", ok[i]);
        weft_sgp_client_free(c);
    }
    weft_sgp_options nokey = {.api_key = "", .base_url = "http://example.com"};
    cr_expect_eq(weft_sgp_client_new(&nokey, &c, NULL), 0);
    weft_sgp_client_free(c);
    weft_sgp_options bad = {.base_url = "ftp://example.com"};
    cr_expect_eq(weft_sgp_client_new(&bad, &c, NULL), WEFT_ECONFIG);
    weft_sgp_options inj = {.api_key = "k\r\nX-Evil: 1", .base_url = "https://example.com"};
    cr_expect_eq(weft_sgp_client_new(&inj, &c, NULL), WEFT_ECONFIG);
}

Test(sgp_client, takes_its_configuration_from_the_environment)
{
    weft_rx *rx = rx_start();
    unsetenv("SGP_CLIENT_BASE_URL");
    weft_sgp_client *c = NULL;
    cr_assert_eq(weft_sgp_client_new(NULL, &c, NULL), 0);
    cr_expect_str_eq(weft_sgp_client_base_url(c), WEFT_SGP_DEFAULT_BASE_URL);
    weft_sgp_client_free(c);

    char base[80];
    snprintf(base, sizeof base, "%s/", weft_rx_url(rx));
    setenv("SGP_API_KEY", KEY, 1);
    setenv("SGP_ACCOUNT_ID", "acct-env", 1);
    setenv("SGP_CLIENT_BASE_URL", base, 1);
    /* A proxy in the environment must not see a plain-http request carrying the key. */
    setenv("http_proxy", "http://127.0.0.1:9", 1);
    setenv("HTTP_PROXY", "http://127.0.0.1:9", 1);
    cr_assert_eq(weft_sgp_client_new(NULL, &c, NULL), 0);
    cr_expect_str_eq(weft_sgp_client_base_url(c), weft_rx_url(rx), "a trailing '/' was kept");
    weft_sgp_span in = {.id = "e1", .name = "n", .trace_id = TRACE_A,
                        .start_timestamp = "2026-03-01T10:00:00Z"};
    weft_sgp_span *s = NULL;
    weft_sgp_error e;
    cr_expect_eq(weft_sgp_spans_create(c, &in, &s, &e), 0, "%s", e.message);
    if (s)
        cr_expect_str_eq(s->account_id, "acct-env");
    weft_sgp_span_free(s);
    char hv[64];
    cr_expect(weft_rx_last_header(rx, "x-api-key", hv, sizeof hv));
    cr_expect_str_eq(hv, KEY);
    cr_expect(weft_rx_last_header(rx, "user-agent", hv, sizeof hv));
    cr_expect_str_eq(hv, "weft/" WEFT_VERSION_STRING);
    weft_sgp_client_free(c);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("SGP_API_KEY");
    unsetenv("SGP_ACCOUNT_ID");
    unsetenv("SGP_CLIENT_BASE_URL");
    weft_rx_stop(rx);
}

/* ---- threads -------------------------------------------------------------------------------- */

typedef struct worker_arg {
    weft_sgp_client *c;
    int n;
    int failures;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    for (int i = 0; i < 25; i++) {
        char id[32];
        snprintf(id, sizeof id, "t%d-%d", a->n, i);
        weft_sgp_span in = {.id = id, .name = "w", .trace_id = TRACE_B,
                            .start_timestamp = "2026-03-01T10:00:00Z"};
        weft_sgp_span *s = NULL;
        if (weft_sgp_spans_create(a->c, &in, NULL, NULL) != 0 ||
            weft_sgp_spans_retrieve(a->c, id, &s, NULL) != 0 || strcmp(s->id, id))
            a->failures++;
        weft_sgp_span_free(s);
    }
    return NULL;
}

Test(sgp_client, serves_several_threads_on_one_client)
{
    weft_rx *rx = rx_start();
    weft_sgp_client *c = client_for(rx, 2);
    pthread_t th[4];
    worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg){c, i, 0};
        pthread_create(&th[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(args[i].failures, 0);
    }
    cr_expect_eq(weft_rx_count(rx), 100);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}

/* ---- the round trip ------------------------------------------------------------------------- */

Test(sgp_client, finds_the_spans_weft_exported_again_by_search)
{
    weft_rx *rx = rx_start();
    setenv("SGP_CLIENT_BASE_URL", weft_rx_url(rx), 1);
    setenv("SGP_API_KEY", KEY, 1);
    weft_config cfg = {.exporters = "sgp", .no_atexit = true, .flush_interval_ms = 20};
    cr_assert_eq(weft_init(&cfg), 0);
    weft_span root = weft_span_begin("roundtrip-root", WEFT_TYPE_AGENT_WORKFLOW);
    weft_span_set_str(root, WEFT_INPUT, "question", "where are my spans?");
    weft_span kid = weft_span_begin_child(root, "roundtrip-kid", WEFT_TYPE_COMPLETION);
    weft_span_set_i64(kid, WEFT_METADATA, "attempt", 7);
    weft_span_set_status(kid, WEFT_STATUS_ERROR);
    weft_span_end(kid);
    weft_span_end(root);
    cr_assert_eq(weft_shutdown(10000), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.exported, 2);
    unsetenv("SGP_CLIENT_BASE_URL");
    unsetenv("SGP_API_KEY");

    weft_sgp_client *c = client_for(rx, 0);
    weft_sgp_span_list *l = NULL;
    weft_sgp_error e;
    cr_assert_eq(weft_sgp_spans_search(c,
                                       &(weft_sgp_search){.names = LIST("roundtrip-root"),
                                                          .parents_only = true},
                                       &l, &e),
                 0, "%s", e.message);
    cr_assert_eq(l->n, 1);
    char *trace = strdup(l->items[0].trace_id), *root_id = strdup(l->items[0].id);
    cr_expect_str_eq(l->items[0].type, "AGENT_WORKFLOW");
    cr_expect(strstr(l->items[0].input_json, "where are my spans?"), "%s", l->items[0].input_json);
    cr_expect(l->items[0].obs_trace_id && strlen(l->items[0].obs_trace_id) == 32);
    cr_expect(l->items[0].metadata_json && strstr(l->items[0].metadata_json, "trace_summary"));
    weft_sgp_span_list_free(l);

    /* Every span of the trace, through the iterator. */
    weft_sgp_span_iter *it;
    cr_assert_eq(weft_sgp_spans_iter_new(c,
                                         &(weft_sgp_search){.trace_ids = (const char *const[]){trace},
                                                            .n_trace_ids = 1,
                                                            .limit = 1},
                                         WEFT_SGP_FORWARD, &it, &e),
                 0);
    const weft_sgp_span *s;
    int n = 0, kids = 0;
    while (weft_sgp_spans_iter_next(it, &s, &e) == 1) {
        n++;
        cr_expect_str_eq(s->trace_id, trace);
        if (!strcmp(s->name, "roundtrip-kid")) {
            kids++;
            cr_expect_str_eq(s->parent_id, root_id);
            cr_expect_str_eq(s->status, "ERROR");
            cr_expect(strstr(s->metadata_json, "\"attempt\":7"), "%s", s->metadata_json);
            cr_expect(s->end_timestamp);
        }
    }
    cr_expect_eq(n, 2);
    cr_expect_eq(kids, 1);
    cr_expect_eq(weft_sgp_spans_iter_pages(it), 2);
    weft_sgp_spans_iter_free(it);
    free(trace);
    free(root_id);
    weft_sgp_client_free(c);
    weft_rx_stop(rx);
}
