/*
 * test_receiver.c — tests of the in-process SGP receiver (tests/support/receiver.c), driven with
 * plain libcurl easy requests so a receiver bug cannot hide behind one in weft's exporter.
 *
 * Each test starts its own receiver on 127.0.0.1 (ephemeral port) and stops it at the end; each
 * server rule is checked with a request that passes and one that breaks it, and each fault with
 * the answer it injects and the recovery after it.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "receiver.h"

#define KEY "test-key-1"
#define TRACE_A "aaaaaaaa-0000-4000-8000-000000000001"
#define TRACE_B "bbbbbbbb-0000-4000-8000-000000000002"
#define START "2026-11-22T00:08:00.123456Z"
#define END "2026-11-22T00:08:01.000001Z"

static void suite_init(void)
{
    /* Before any thread: curl_global_init is not safe to race. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

TestSuite(receiver, .init = suite_init);

/* ---- an HTTP client --------------------------------------------------------------------- */

typedef struct resp {
    CURLcode rc;
    long status;
    char *body;
    size_t len;
    char retry_after[128];
    char retry_after_ms[32];
    char content_type[64];
} resp;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    size_t k = size * n;
    char *b = realloc(r->body, r->len + k + 1);
    if (!b)
        return 0;
    memcpy(b + r->len, p, k);
    r->body = b;
    r->len += k;
    b[r->len] = '\0';
    return k;
}

/* Keeps the value of a response header named `name` (case-insensitive) in out. */
static void grab_header(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (n <= nl || strncasecmp(line, name, nl) || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    const char *end = line + n;
    while (v < end && *v == ' ')
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t len = (size_t)(end - v) < outlen - 1 ? (size_t)(end - v) : outlen - 1;
    memcpy(out, v, len);
    out[len] = '\0';
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    size_t k = size * n;
    grab_header(p, k, "Retry-After", r->retry_after, sizeof r->retry_after);
    grab_header(p, k, "retry-after-ms", r->retry_after_ms, sizeof r->retry_after_ms);
    grab_header(p, k, "Content-Type", r->content_type, sizeof r->content_type);
    return k;
}

/* One request on handle h (NULL: a fresh handle). headers: NULL-terminated, or NULL for the
 * defaults (the API key and JSON content type). */
static resp call_on(CURL *h, weft_rx *rx, const char *method, const char *path, const char *body,
                    size_t len, const char *const *headers)
{
    resp r = {0};
    bool own = !h;
    if (own)
        h = curl_easy_init();
    cr_assert_not_null(h);
    char url[256];
    snprintf(url, sizeof url, "%s%s", weft_rx_url(rx), path);
    static const char *const defaults[] = {"x-api-key: " KEY, "Content-Type: application/json",
                                           NULL};
    struct curl_slist *hl = NULL;
    for (const char *const *p = headers ? headers : defaults; *p; p++)
        hl = curl_slist_append(hl, *p);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    r.rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    if (own)
        curl_easy_cleanup(h);
    return r;
}

static resp call(weft_rx *rx, const char *method, const char *path, const char *body,
                 const char *const *headers)
{
    return call_on(NULL, rx, method, path, body, body ? strlen(body) : 0, headers);
}

static resp put_raw(weft_rx *rx, const char *body)
{
    return call(rx, "PUT", WEFT_RX_PATH, body, NULL);
}

/* PUTs root (taken) as JSON. */
static resp put_json(weft_rx *rx, json_t *root)
{
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    cr_assert_not_null(text);
    resp r = put_raw(rx, text);
    free(text);
    return r;
}

static void resp_free(resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* The status of a request whose response is not otherwise looked at. */
static long put_status(weft_rx *rx, json_t *root)
{
    resp r = put_json(rx, root);
    cr_assert_eq(r.rc, CURLE_OK, "curl: %s", curl_easy_strerror(r.rc));
    resp_free(&r);
    return r.status;
}

/* ---- building batches ------------------------------------------------------------------- */

static const char *uuid(char buf[37], unsigned n)
{
    snprintf(buf, 37, "%08x-0000-4000-8000-%012x", n, n);
    return buf;
}

/* A valid item; completed adds end_timestamp. */
static json_t *item(const char *trace, const char *id, const char *parent, bool completed)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:{}, s:{}, s:{}}", "id", id,
                          "trace_id", trace, "name", "retrieve", "type", "KB_RETRIEVAL", "status",
                          "SUCCESS", "start_timestamp", START, "input", "output", "metadata");
    cr_assert_not_null(o);
    if (parent)
        json_object_set_new(o, "parent_id", json_string(parent));
    if (completed)
        json_object_set_new(o, "end_timestamp", json_string(END));
    return o;
}

/* {"items":[...]} of the NULL-terminated items (taken). */
static json_t *batch(json_t *first, ...)
{
    json_t *items = json_array();
    va_list ap;
    va_start(ap, first);
    for (json_t *it = first; it; it = va_arg(ap, json_t *))
        json_array_append_new(items, it);
    va_end(ap);
    return json_pack("{s:o}", "items", items);
}

/* A batch of one item with `key` set to value (taken; NULL deletes the key). */
static json_t *one_with(const char *id, const char *key, json_t *value)
{
    json_t *it = item(TRACE_A, id, NULL, true);
    if (value)
        json_object_set_new(it, key, value);
    else
        json_object_del(it, key);
    return batch(it, NULL);
}

static weft_rx *start(void)
{
    weft_rx *rx = weft_rx_start(&(weft_rx_opts){.api_key = KEY});
    cr_assert_not_null(rx);
    return rx;
}

static bool detail_has(weft_rx *rx, const char *needle)
{
    char d[600];
    weft_rx_last_detail(rx, d, sizeof d);
    return strstr(d, needle) != NULL;
}

/* ---- the happy path ----------------------------------------------------------------------- */

Test(receiver, listens_on_loopback_with_an_ephemeral_port)
{
    weft_rx *rx = start();
    char want[64];
    snprintf(want, sizeof want, "http://127.0.0.1:%u", weft_rx_port(rx));
    cr_assert_str_eq(weft_rx_url(rx), want);
    cr_assert_neq(weft_rx_port(rx), 0);
    weft_rx_stop(rx);
}

Test(receiver, stores_every_span_of_a_valid_batch_and_echoes_them)
{
    weft_rx *rx = start();
    char a[37], b[37];
    uuid(a, 1);
    uuid(b, 2);
    resp r = put_json(rx, batch(item(TRACE_A, a, NULL, true), item(TRACE_A, b, a, false), NULL));
    cr_assert_eq(r.rc, CURLE_OK);
    cr_assert_eq(r.status, 200, "%ld: %s", r.status, r.body);
    cr_assert_str_eq(r.content_type, "application/json");
    json_t *reply = json_loads(r.body, 0, NULL);
    cr_assert_eq(json_array_size(json_object_get(reply, "items")), 2);
    json_decref(reply);
    resp_free(&r);

    cr_assert_eq(weft_rx_count(rx), 2);
    cr_assert_eq(weft_rx_completed(rx), 1);
    cr_assert_eq(weft_rx_upserts(rx), 2);
    cr_assert_eq(weft_rx_requests(rx), 1);
    cr_assert_eq(weft_rx_status_count(rx, 200), 1);
    cr_assert_eq(weft_rx_max_items_seen(rx), 2);
    json_t *got = weft_rx_get(rx, TRACE_A, b);
    cr_assert_not_null(got);
    cr_assert_str_eq(json_string_value(json_object_get(got, "parent_id")), a);
    json_decref(got);
    cr_assert_null(weft_rx_get(rx, TRACE_B, a));
    weft_rx_stop(rx);
}

Test(receiver, records_the_headers_of_the_last_request)
{
    weft_rx *rx = start();
    char a[37];
    const char *const h[] = {"x-api-key: " KEY, "Content-Type: application/json",
                             "x-selected-account-id: acct-42", "User-Agent: weft/0.1 test",
                             NULL};
    json_t *root = batch(item(TRACE_A, uuid(a, 1), NULL, true), NULL);
    char *text = json_dumps(root, 0);
    json_decref(root);
    resp r = call(rx, "PUT", WEFT_RX_PATH, text, h);
    free(text);
    cr_assert_eq(r.status, 200);
    resp_free(&r);

    char v[64];
    cr_assert(weft_rx_last_header(rx, "X-Selected-Account-Id", v, sizeof v));
    cr_assert_str_eq(v, "acct-42");
    cr_assert(weft_rx_last_header(rx, "user-agent", v, sizeof v));
    cr_assert_str_eq(v, "weft/0.1 test");
    cr_assert(weft_rx_last_header(rx, "content-type", v, sizeof v));
    cr_assert_str_eq(v, "application/json");
    cr_assert_not(weft_rx_last_header(rx, "x-not-sent", v, sizeof v));
    cr_assert_str_eq(v, "");
    char tiny[4];
    cr_assert_not(weft_rx_last_header(rx, "user-agent", tiny, sizeof tiny));
    cr_assert_str_eq(tiny, "wef");
    weft_rx_stop(rx);
}

typedef struct tally {
    size_t spans, upserts, completed;
} tally;

static void count_span(const json_t *it, size_t upserts, bool completed, void *ud)
{
    tally *t = ud;
    cr_assert(json_is_object(it));
    t->spans++;
    t->upserts += upserts;
    t->completed += completed;
}

Test(receiver, foreach_visits_every_span_with_its_upsert_count)
{
    weft_rx *rx = start();
    char a[37], b[37];
    uuid(a, 1);
    uuid(b, 2);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, a, NULL, false), NULL)), 200);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, a, NULL, true), item(TRACE_B, b, NULL, false),
                                      NULL)),
                 200);
    tally t = {0};
    weft_rx_foreach(rx, count_span, &t);
    cr_assert_eq(t.spans, 2);
    cr_assert_eq(t.upserts, 3);
    cr_assert_eq(t.completed, 1);
    cr_assert_eq(weft_rx_span_upserts(rx, TRACE_A, a), 2);
    cr_assert_eq(weft_rx_span_upserts(rx, TRACE_A, b), 0);
    weft_rx_stop(rx);
}

Test(receiver, treats_post_like_put_and_answers_404_elsewhere)
{
    weft_rx *rx = start();
    char a[37];
    json_t *root = batch(item(TRACE_A, uuid(a, 1), NULL, true), NULL);
    char *text = json_dumps(root, 0);
    json_decref(root);
    resp r = call(rx, "POST", WEFT_RX_PATH, text, NULL);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    r = call(rx, "PUT", "/v5/spans", text, NULL);
    cr_assert_eq(r.status, 404);
    resp_free(&r);
    r = call(rx, "GET", WEFT_RX_PATH, NULL, NULL);
    cr_assert_eq(r.status, 404);
    resp_free(&r);
    r = call(rx, "DELETE", WEFT_RX_PATH, NULL, NULL);
    cr_assert_eq(r.status, 404);
    resp_free(&r);
    free(text);
    cr_assert_eq(weft_rx_status_count(rx, 404), 3);
    cr_assert_eq(weft_rx_requests(rx), 4);
    cr_assert_eq(weft_rx_count(rx), 1);
    weft_rx_stop(rx);
}

/* ---- authentication ----------------------------------------------------------------------- */

Test(receiver, answers_401_without_the_api_key)
{
    weft_rx *rx = start();
    const char *const none[] = {"Content-Type: application/json", NULL};
    resp r = call(rx, "PUT", WEFT_RX_PATH, "{\"items\":[]}", none);
    cr_assert_eq(r.status, 401);
    json_t *j = json_loads(r.body, 0, NULL);
    cr_assert(json_is_string(json_object_get(j, "detail")));
    json_decref(j);
    resp_free(&r);
    cr_assert_eq(weft_rx_status_count(rx, 401), 1);
    weft_rx_stop(rx);
}

Test(receiver, answers_401_to_a_wrong_api_key)
{
    weft_rx *rx = start();
    const char *const wrong[] = {"x-api-key: not-the-key", NULL};
    resp r = call(rx, "PUT", WEFT_RX_PATH, "{\"items\":[]}", wrong);
    cr_assert_eq(r.status, 401);
    resp_free(&r);
    r = put_raw(rx, "{\"items\":[]}");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    weft_rx_stop(rx);
}

Test(receiver, checks_no_key_when_none_is_configured)
{
    weft_rx *rx = weft_rx_start(NULL);
    cr_assert_not_null(rx);
    const char *const none[] = {NULL};
    resp r = call(rx, "PUT", WEFT_RX_PATH, "{\"items\":[]}", none);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    weft_rx_stop(rx);
}

/* ---- body shape --------------------------------------------------------------------------- */

Test(receiver, rejects_a_body_that_is_not_json_with_400)
{
    weft_rx *rx = start();
    resp r = put_raw(rx, "{\"items\":[");
    cr_assert_eq(r.status, 400);
    resp_free(&r);
    r = put_raw(rx, "");
    cr_assert_eq(r.status, 400);
    resp_free(&r);
    r = put_raw(rx, "{\"items\":[]}");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    weft_rx_stop(rx);
}

Test(receiver, rejects_a_body_without_an_items_array_with_400)
{
    weft_rx *rx = start();
    static const char *const bad[] = {"{}", "[]", "{\"items\":{}}", "{\"spans\":[]}", "42"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        resp r = put_raw(rx, bad[i]);
        cr_assert_eq(r.status, 400, "%s -> %ld", bad[i], r.status);
        resp_free(&r);
    }
    weft_rx_stop(rx);
}

static json_t *many(unsigned n, const char *trace)
{
    json_t *items = json_array();
    char id[37];
    for (unsigned i = 0; i < n; i++)
        json_array_append_new(items, item(trace, uuid(id, i + 1), NULL, true));
    return json_pack("{s:o}", "items", items);
}

Test(receiver, accepts_a_batch_of_exactly_1000_items)
{
    weft_rx *rx = start();
    cr_assert_eq(put_status(rx, many(1000, TRACE_A)), 200);
    cr_assert_eq(weft_rx_count(rx), 1000);
    cr_assert_eq(weft_rx_max_items_seen(rx), 1000);
    weft_rx_stop(rx);
}

Test(receiver, rejects_batch_over_1000_items)
{
    weft_rx *rx = start();
    cr_assert_eq(put_status(rx, many(1001, TRACE_A)), 422);
    cr_assert_eq(weft_rx_count(rx), 0);
    cr_assert_eq(weft_rx_max_items_seen(rx), 1001);
    cr_assert(detail_has(rx, "1001"));
    weft_rx_stop(rx);
}

Test(receiver, rejects_a_whole_batch_when_one_item_is_bad)
{
    weft_rx *rx = start();
    char a[37], b[37];
    json_t *bad = item(TRACE_A, uuid(b, 2), NULL, true);
    json_object_set_new(bad, "name", json_string(""));
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, uuid(a, 1), NULL, true), bad, NULL)), 422);
    cr_assert_eq(weft_rx_count(rx), 0);
    cr_assert_eq(weft_rx_upserts(rx), 0);
    cr_assert(detail_has(rx, b), "the detail names the offending item");
    cr_assert(detail_has(rx, "items[1]"));
    weft_rx_stop(rx);
}

/* ---- id fields ---------------------------------------------------------------------------- */

Test(receiver, rejects_an_item_without_id_or_trace_id_with_400)
{
    weft_rx *rx = start();
    char a[37];
    cr_assert_eq(put_status(rx, one_with(uuid(a, 1), "id", NULL)), 400);
    cr_assert(detail_has(rx, "items[0]"));
    cr_assert_eq(put_status(rx, one_with(a, "trace_id", NULL)), 400);
    cr_assert(detail_has(rx, a));
    cr_assert_eq(put_status(rx, one_with(a, "id", json_integer(7))), 400);
    cr_assert_eq(put_status(rx, one_with(a, "trace_id", json_integer(7))), 400);
    cr_assert_eq(weft_rx_count(rx), 0);
    cr_assert_eq(put_status(rx, one_with(a, "trace_id", json_string(TRACE_A))), 200);
    weft_rx_stop(rx);
}

Test(receiver, rejects_a_nul_in_an_id_field_with_400)
{
    weft_rx *rx = start();
    char a[37];
    uuid(a, 1);
    char body[512];
    snprintf(body, sizeof body,
             "{\"items\":[{\"id\":\"ab\\u0000cd\",\"trace_id\":\"%s\",\"name\":\"n\","
             "\"start_timestamp\":\"%s\"}]}",
             TRACE_A, START);
    resp r = put_raw(rx, body);
    cr_assert_eq(r.status, 400);
    resp_free(&r);
    cr_assert(detail_has(rx, "NUL"));
    json_t *nul_parent = json_stringn("x\0y", 3);
    cr_assert_eq(put_status(rx, one_with(a, "parent_id", nul_parent)), 400);
    cr_assert_eq(put_status(rx, one_with(a, "group_id", json_stringn("g\0", 2))), 400);
    /* A NUL elsewhere is not an id rule. */
    json_t *b = one_with(a, "input", json_pack("{s:s%}", "text", "a\0b", (size_t)3));
    cr_assert_eq(put_status(rx, b), 200);
    weft_rx_stop(rx);
}

Test(receiver, rejects_invalid_utf8_naming_the_item_with_400)
{
    weft_rx *rx = start();
    char good[37];
    uuid(good, 1);
    char body[512];
    snprintf(body, sizeof body,
             "{\"items\":[{\"id\":\"%s\",\"trace_id\":\"%s\",\"name\":\"n\",\"start_timestamp\":"
             "\"%s\"},{\"id\":\"bad-\xC3\x28\",\"trace_id\":\"%s\",\"name\":\"n\","
             "\"start_timestamp\":\"%s\"}]}",
             good, TRACE_A, START, TRACE_A, START);
    resp r = put_raw(rx, body);
    cr_assert_eq(r.status, 400);
    resp_free(&r);
    cr_assert(detail_has(rx, "items[1]"));
    cr_assert(detail_has(rx, "UTF-8"));
    cr_assert_eq(weft_rx_count(rx), 0);
    /* A surrogate encoded in UTF-8 (ED A0 80) is not valid either. */
    snprintf(body, sizeof body,
             "{\"items\":[{\"id\":\"%s\",\"trace_id\":\"%s\",\"name\":\"\xED\xA0\x80\","
             "\"start_timestamp\":\"%s\"}]}",
             good, TRACE_A, START);
    r = put_raw(rx, body);
    cr_assert_eq(r.status, 400);
    resp_free(&r);
    /* Multi-byte UTF-8 is fine. */
    snprintf(body, sizeof body,
             "{\"items\":[{\"id\":\"%s\",\"trace_id\":\"%s\",\"name\":\"r\xC3\xA9sum\xC3\xA9 "
             "\xF0\x9F\x94\x8D\",\"start_timestamp\":\"%s\"}]}",
             good, TRACE_A, START);
    r = put_raw(rx, body);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    weft_rx_stop(rx);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

Test(receiver, limits_id_fields_to_256_bytes)
{
    weft_rx *rx = start();
    char *ok = repeat('a', 256), *over = repeat('b', 257);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, ok, NULL, true), NULL)), 200);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, over, NULL, true), NULL)), 400);
    cr_assert(detail_has(rx, "257"));
    char a[37];
    cr_assert_eq(put_status(rx, one_with(uuid(a, 1), "parent_id", json_string(over))), 400);
    cr_assert_eq(put_status(rx, one_with(a, "group_id", json_string(over))), 400);
    cr_assert_eq(put_status(rx, one_with(a, "group_id", json_string(ok))), 200);
    free(ok);
    free(over);
    weft_rx_stop(rx);
}

Test(receiver, limits_trace_id_to_38_bytes)
{
    weft_rx *rx = start();
    char a[37];
    char *t38 = repeat('t', 38), *t39 = repeat('t', 39);
    cr_assert_eq(put_status(rx, batch(item(t38, uuid(a, 1), NULL, true), NULL)), 200);
    cr_assert_eq(put_status(rx, batch(item(t39, uuid(a, 2), NULL, true), NULL)), 400);
    cr_assert(detail_has(rx, a));
    free(t38);
    free(t39);
    weft_rx_stop(rx);
}

/* ---- other fields ------------------------------------------------------------------------- */

Test(receiver, requires_a_non_empty_name)
{
    weft_rx *rx = start();
    char a[37];
    uuid(a, 1);
    cr_assert_eq(put_status(rx, one_with(a, "name", json_string(""))), 422);
    cr_assert_eq(put_status(rx, one_with(a, "name", NULL)), 422);
    cr_assert_eq(put_status(rx, one_with(a, "name", json_integer(3))), 422);
    cr_assert_eq(put_status(rx, one_with(a, "name", json_string("x"))), 200);
    weft_rx_stop(rx);
}

Test(receiver, accepts_the_25_span_types_and_rejects_others_with_422)
{
    static const char *const types[] = {
        "TEXT_INPUT", "TEXT_OUTPUT", "COMPLETION_INPUT", "COMPLETION", "KB_RETRIEVAL",
        "KB_INPUT", "RERANKING", "EXTERNAL_ENDPOINT", "PROMPT_ENGINEERING", "DOCUMENT_INPUT",
        "MAP_REDUCE", "DOCUMENT_SEARCH", "DOCUMENT_PROMPT", "CUSTOM", "CODE_EXECUTION",
        "DATA_MANIPULATION", "EVALUATION", "FILE_RETRIEVAL", "KB_ADD_CHUNK", "KB_MANAGEMENT",
        "GUARDRAIL", "TRACER", "AGENT_TRACER", "AGENT_WORKFLOW", "STANDALONE",
    };
    cr_assert_eq(sizeof types / sizeof *types, 25);
    weft_rx *rx = start();
    json_t *items = json_array();
    char id[37];
    for (unsigned i = 0; i < 25; i++) {
        json_t *it = item(TRACE_A, uuid(id, i + 1), NULL, true);
        json_object_set_new(it, "type", json_string(types[i]));
        json_array_append_new(items, it);
    }
    cr_assert_eq(put_status(rx, json_pack("{s:o}", "items", items)), 200);
    cr_assert_eq(weft_rx_count(rx), 25);
    cr_assert_eq(put_status(rx, one_with(id, "type", json_string("completion"))), 422);
    cr_assert_eq(put_status(rx, one_with(id, "type", json_string("LLM"))), 422);
    cr_assert_eq(put_status(rx, one_with(id, "type", json_integer(1))), 422);
    cr_assert(detail_has(rx, "type"));
    weft_rx_stop(rx);
}

Test(receiver, accepts_the_three_statuses_and_rejects_others_with_422)
{
    weft_rx *rx = start();
    char a[37];
    uuid(a, 1);
    cr_assert_eq(put_status(rx, one_with(a, "status", json_string("SUCCESS"))), 200);
    cr_assert_eq(put_status(rx, one_with(a, "status", json_string("ERROR"))), 200);
    cr_assert_eq(put_status(rx, one_with(a, "status", json_string("CANCELED"))), 200);
    cr_assert_eq(put_status(rx, one_with(a, "status", NULL)), 200);
    cr_assert_eq(put_status(rx, one_with(a, "status", json_string("CANCELLED"))), 422);
    cr_assert_eq(put_status(rx, one_with(a, "status", json_string("OK"))), 422);
    weft_rx_stop(rx);
}

Test(receiver, requires_an_iso_8601_start_timestamp)
{
    weft_rx *rx = start();
    char a[37];
    uuid(a, 1);
    static const char *const good[] = {
        "2026-11-22T00:08:00.123456Z", "2026-11-22T00:08:00Z",      "2026-11-22T00:08:00",
        "2026-11-22T00:08:00.1+02:00", "2026-11-22 00:08:00-0130", "2024-02-29T23:59:59.999999999Z",
    };
    static const char *const bad[] = {
        "2026-11-22",           "22/11/2026 00:08",      "2026-13-01T00:00:00Z",
        "2026-02-29T00:00:00Z", "2026-11-22T24:00:00Z",  "2026-11-22T00:08:00.Z",
        "2026-11-22T00:08:00Q", "2026-11-22T00:08:00+2", "",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        json_t *b = one_with(a, "start_timestamp", json_string(good[i]));
        json_object_del(json_array_get(json_object_get(b, "items"), 0), "end_timestamp");
        cr_assert_eq(put_status(rx, b), 200, "%s", good[i]);
    }
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(put_status(rx, one_with(a, "start_timestamp", json_string(bad[i]))), 422,
                     "%s", bad[i]);
    cr_assert_eq(put_status(rx, one_with(a, "start_timestamp", NULL)), 422);
    cr_assert_eq(put_status(rx, one_with(a, "start_timestamp", json_integer(0))), 422);
    cr_assert_eq(put_status(rx, one_with(a, "end_timestamp", json_string("soon"))), 422);
    weft_rx_stop(rx);
}

Test(receiver, rejects_an_end_before_the_start_with_422)
{
    weft_rx *rx = start();
    char a[37];
    uuid(a, 1);
    cr_assert_eq(put_status(rx, one_with(a, "end_timestamp", json_string(START))), 200,
                 "end == start is fine");
    cr_assert_eq(put_status(rx, one_with(a, "end_timestamp",
                                         json_string("2026-11-22T00:08:00.123455Z"))),
                 422);
    cr_assert(detail_has(rx, "end_timestamp"));
    /* 01:08:00.5+01:00 is 00:08:00.5Z: after the start, though it reads earlier in UTC hours. */
    cr_assert_eq(put_status(rx, one_with(a, "end_timestamp",
                                         json_string("2026-11-22T01:08:00.5+01:00"))),
                 200);
    cr_assert_eq(put_status(rx, one_with(a, "end_timestamp",
                                         json_string("2026-11-22T00:08:00.5+01:00"))),
                 422);
    cr_assert_eq(put_status(rx, one_with(a, "end_timestamp", json_null())), 200);
    weft_rx_stop(rx);
}

Test(receiver, requires_input_output_and_metadata_to_be_objects)
{
    weft_rx *rx = start();
    char a[37];
    uuid(a, 1);
    static const char *const keys[] = {"input", "output", "metadata"};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(put_status(rx, one_with(a, keys[i], json_string("text"))), 422);
        cr_assert(detail_has(rx, keys[i]));
        cr_assert_eq(put_status(rx, one_with(a, keys[i], json_pack("[i]", 1))), 422);
        cr_assert_eq(put_status(rx, one_with(a, keys[i], json_pack("{s:i}", "k", 1))), 200);
        cr_assert_eq(put_status(rx, one_with(a, keys[i], NULL)), 200);
    }
    weft_rx_stop(rx);
}

/* ---- parents ------------------------------------------------------------------------------ */

Test(receiver, rejects_a_span_that_is_its_own_parent_with_409)
{
    weft_rx *rx = start();
    char a[37];
    uuid(a, 1);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, a, a, true), NULL)), 409);
    cr_assert(detail_has(rx, a));
    cr_assert_eq(weft_rx_count(rx), 0);
    weft_rx_stop(rx);
}

Test(receiver, accepts_a_parent_it_has_never_seen)
{
    weft_rx *rx = start();
    char a[37], p[37];
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, uuid(a, 1), uuid(p, 99), true), NULL)), 200);
    weft_rx_stop(rx);
}

Test(receiver, rejects_a_parent_in_another_trace_with_409)
{
    weft_rx *rx = start();
    char p[37], c[37];
    uuid(p, 1);
    uuid(c, 2);
    /* Parent in the same batch, other trace. */
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, p, NULL, false), item(TRACE_B, c, p, true),
                                      NULL)),
                 409);
    cr_assert(detail_has(rx, c));
    cr_assert_eq(weft_rx_count(rx), 0);
    /* Parent stored earlier, other trace. */
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, p, NULL, false), NULL)), 200);
    cr_assert_eq(put_status(rx, batch(item(TRACE_B, c, p, true), NULL)), 409);
    /* Same trace: fine, stored or in the batch. */
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, c, p, true), NULL)), 200);
    cr_assert_eq(weft_rx_count(rx), 2);
    weft_rx_stop(rx);
}

Test(receiver, rejects_a_parent_cycle_with_409)
{
    weft_rx *rx = start();
    char a[37], b[37], c[37];
    uuid(a, 1);
    uuid(b, 2);
    uuid(c, 3);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, a, c, true), item(TRACE_A, b, a, true),
                                      item(TRACE_A, c, b, true), NULL)),
                 409);
    cr_assert(detail_has(rx, "cycle"));
    cr_assert_eq(weft_rx_count(rx), 0);
    /* A chain is fine. */
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, b, a, true), item(TRACE_A, c, b, true),
                                      item(TRACE_A, a, NULL, true), NULL)),
                 200);
    /* Re-parenting the root under its grandchild closes a loop through stored spans. */
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, a, c, true), NULL)), 409);
    weft_rx_stop(rx);
}

/* ---- upsert ------------------------------------------------------------------------------- */

Test(receiver, keeps_a_completed_span_over_an_in_progress_one_sent_later)
{
    weft_rx *rx = start();
    char a[37];
    uuid(a, 1);
    json_t *done = item(TRACE_A, a, NULL, true);
    json_object_set_new(done, "name", json_string("final"));
    cr_assert_eq(put_status(rx, batch(done, NULL)), 200);
    json_t *live = item(TRACE_A, a, NULL, false);
    json_object_set_new(live, "name", json_string("live"));
    resp r = put_json(rx, batch(live, NULL));
    cr_assert_eq(r.status, 200);
    json_t *reply = json_loads(r.body, 0, NULL);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(reply, "items"), 0),
                                          "name")),
        "final", "the echo shows what the server kept");
    json_decref(reply);
    resp_free(&r);

    json_t *got = weft_rx_get(rx, TRACE_A, a);
    cr_assert_str_eq(json_string_value(json_object_get(got, "name")), "final");
    cr_assert_str_eq(json_string_value(json_object_get(got, "end_timestamp")), END);
    json_decref(got);
    cr_assert_eq(weft_rx_count(rx), 1);
    cr_assert_eq(weft_rx_completed(rx), 1);
    cr_assert_eq(weft_rx_upserts(rx), 2);
    cr_assert_eq(weft_rx_span_upserts(rx, TRACE_A, a), 2);
    weft_rx_stop(rx);
}

Test(receiver, lets_a_later_upsert_win_otherwise)
{
    weft_rx *rx = start();
    char a[37];
    uuid(a, 1);
    json_t *v1 = item(TRACE_A, a, NULL, false);
    json_object_set_new(v1, "name", json_string("v1"));
    json_t *v2 = item(TRACE_A, a, NULL, false);
    json_object_set_new(v2, "name", json_string("v2"));
    json_t *v3 = item(TRACE_A, a, NULL, true);
    json_object_set_new(v3, "name", json_string("v3"));
    json_t *v4 = item(TRACE_A, a, NULL, true);
    json_object_set_new(v4, "name", json_string("v4"));
    static const char *const want[] = {"v1", "v2", "v3", "v4"};
    json_t *vs[] = {v1, v2, v3, v4};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(put_status(rx, batch(vs[i], NULL)), 200);
        json_t *got = weft_rx_get(rx, TRACE_A, a);
        cr_assert_str_eq(json_string_value(json_object_get(got, "name")), want[i]);
        json_decref(got);
        cr_assert_eq(weft_rx_completed(rx), i >= 2 ? 1u : 0u);
    }
    cr_assert_eq(weft_rx_count(rx), 1);
    weft_rx_stop(rx);
}

Test(receiver, keys_spans_by_trace_and_id)
{
    weft_rx *rx = start();
    char a[37];
    uuid(a, 1);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, a, NULL, true), item(TRACE_B, a, NULL, false),
                                      NULL)),
                 200);
    cr_assert_eq(weft_rx_count(rx), 2);
    cr_assert_eq(weft_rx_completed(rx), 1);
    weft_rx_stop(rx);
}

/* ---- faults ------------------------------------------------------------------------------- */

Test(receiver, fail_next_answers_the_given_status_with_retry_after_then_recovers)
{
    weft_rx *rx = start();
    char a[37];
    uuid(a, 1);
    static const int statuses[] = {503, 429, 408, 500, 401, 403};
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++) {
        weft_rx_fail_next(rx, statuses[i], 2, "1");
        for (int k = 0; k < 2; k++) {
            resp r = put_json(rx, batch(item(TRACE_A, a, NULL, true), NULL));
            cr_assert_eq(r.status, statuses[i]);
            cr_assert_str_eq(r.retry_after, "1");
            cr_assert_str_eq(r.retry_after_ms, "");
            resp_free(&r);
        }
        cr_assert_eq(weft_rx_count(rx), 0);
        cr_assert_eq(weft_rx_status_count(rx, statuses[i]), 2);
    }
    weft_rx_fail_next(rx, 503, 1, "Wed, 21 Oct 2037 07:28:00 GMT");
    resp r = put_json(rx, batch(item(TRACE_A, a, NULL, true), NULL));
    cr_assert_eq(r.status, 503);
    cr_assert_str_eq(r.retry_after, "Wed, 21 Oct 2037 07:28:00 GMT");
    resp_free(&r);
    weft_rx_fail_next(rx, 500, 1, NULL);
    r = put_json(rx, batch(item(TRACE_A, a, NULL, true), NULL));
    cr_assert_eq(r.status, 500);
    cr_assert_str_eq(r.retry_after, "");
    resp_free(&r);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, a, NULL, true), NULL)), 200);
    cr_assert_eq(weft_rx_count(rx), 1);
    cr_assert_eq(weft_rx_requests(rx), 15);
    weft_rx_stop(rx);
}

Test(receiver, sends_retry_after_ms_when_asked)
{
    weft_rx *rx = start();
    weft_rx_set_retry_after_ms(rx, 250);
    weft_rx_fail_next(rx, 429, 1, NULL);
    resp r = put_raw(rx, "{\"items\":[]}");
    cr_assert_eq(r.status, 429);
    cr_assert_str_eq(r.retry_after_ms, "250");
    cr_assert_str_eq(r.retry_after, "");
    resp_free(&r);
    r = put_raw(rx, "{\"items\":[]}");
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.retry_after_ms, "", "only fault answers carry it");
    resp_free(&r);
    weft_rx_stop(rx);
}

Test(receiver, answers_503_during_an_outage)
{
    weft_rx *rx = start();
    char a[37];
    uuid(a, 1);
    weft_rx_set_outage(rx, true);
    resp r = put_json(rx, batch(item(TRACE_A, a, NULL, true), NULL));
    cr_assert_eq(r.status, 503);
    cr_assert_str_eq(r.retry_after, "");
    resp_free(&r);
    weft_rx_set_outage_retry_after(rx, "2");
    for (int i = 0; i < 3; i++) {
        r = put_json(rx, batch(item(TRACE_A, a, NULL, true), NULL));
        cr_assert_eq(r.status, 503);
        cr_assert_str_eq(r.retry_after, "2");
        resp_free(&r);
    }
    cr_assert_eq(weft_rx_count(rx), 0);
    weft_rx_set_outage(rx, false);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, a, NULL, true), NULL)), 200);
    cr_assert_eq(weft_rx_status_count(rx, 503), 4);
    weft_rx_stop(rx);
}

Test(receiver, answers_413_to_a_body_over_the_limit_and_keeps_the_connection)
{
    weft_rx *rx = start();
    weft_rx_set_max_body(rx, 2000);
    CURL *h = curl_easy_init();
    json_t *root = many(20, TRACE_A);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    cr_assert_gt(strlen(text), 2000);
    const char *const no_expect[] = {"x-api-key: " KEY, "Expect:", NULL};
    resp r = call_on(h, rx, "PUT", WEFT_RX_PATH, text, strlen(text), no_expect);
    cr_assert_eq(r.rc, CURLE_OK);
    cr_assert_eq(r.status, 413);
    resp_free(&r);
    cr_assert_eq(weft_rx_count(rx), 0);
    /* The same connection then carries a small batch. */
    r = call_on(h, rx, "PUT", WEFT_RX_PATH, "{\"items\":[]}", 12, no_expect);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    long connects = -1;
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    cr_assert_eq(connects, 0, "the 413 did not cost the connection");
    weft_rx_set_max_body(rx, 0);
    r = call_on(h, rx, "PUT", WEFT_RX_PATH, text, strlen(text), no_expect);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    cr_assert_eq(weft_rx_count(rx), 20);
    curl_easy_cleanup(h);
    free(text);
    weft_rx_stop(rx);
}

Test(receiver, refuses_an_announced_oversized_body_before_it_is_sent)
{
    weft_rx *rx = start();
    weft_rx_set_max_body(rx, 1000);
    size_t n = 4 << 20;
    char *big = repeat(' ', n);
    memcpy(big, "{\"items\":[]}", 12);
    const char *const expect[] = {"x-api-key: " KEY, "Expect: 100-continue", NULL};
    resp r = call_on(NULL, rx, "PUT", WEFT_RX_PATH, big, n, expect);
    cr_assert_eq(r.rc, CURLE_OK, "%s", curl_easy_strerror(r.rc));
    cr_assert_eq(r.status, 413);
    resp_free(&r);
    cr_assert_eq(weft_rx_status_count(rx, 413), 1);
    cr_assert_lt(weft_rx_max_body_seen(rx), n, "the body was not read");
    free(big);
    weft_rx_stop(rx);
}

Test(receiver, rejects_a_batch_holding_a_poisoned_span_with_422)
{
    weft_rx *rx = start();
    char a[37], b[37], c[37];
    uuid(a, 1);
    uuid(b, 2);
    uuid(c, 3);
    weft_rx_poison(rx, b);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, a, NULL, true), item(TRACE_A, b, NULL, true),
                                      NULL)),
                 422);
    cr_assert(detail_has(rx, b));
    cr_assert_eq(weft_rx_count(rx), 0, "the whole batch is rejected");
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, a, NULL, true), item(TRACE_A, c, NULL, true),
                                      NULL)),
                 200);
    weft_rx_poison(rx, NULL);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, b, NULL, true), NULL)), 200);
    cr_assert_eq(weft_rx_count(rx), 3);
    weft_rx_stop(rx);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

Test(receiver, delays_every_answer_when_slowed)
{
    /* A lower bound only: the wait is guaranteed, so this cannot flake on a slow machine. */
    weft_rx *rx = start();
    weft_rx_set_delay_ms(rx, 200);
    int64_t t0 = now_ms();
    resp r = put_raw(rx, "{\"items\":[]}");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    cr_assert_geq(now_ms() - t0, 200);
    weft_rx_set_delay_ms(rx, 0);
    r = put_raw(rx, "{\"items\":[]}");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    weft_rx_stop(rx);
}

static void *put_in_thread(void *arg)
{
    resp *r = malloc(sizeof *r);
    *r = put_raw(arg, "{\"items\":[]}");
    return r;
}

Test(receiver, stop_cuts_a_delayed_answer_short, .timeout = 60)
{
    weft_rx *rx = start();
    weft_rx_set_delay_ms(rx, 10u * 60 * 1000);
    pthread_t t;
    pthread_create(&t, NULL, put_in_thread, rx);
    while (weft_rx_requests(rx) == 0)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    weft_rx_stop(rx); /* would block for ten minutes (and time out) if the wait ignored it */
    void *ret;
    pthread_join(t, &ret);
    resp *r = ret;
    resp_free(r);
    free(r);
}

Test(receiver, drops_the_next_connections_without_an_answer)
{
    weft_rx *rx = start();
    char a[37];
    uuid(a, 1);
    weft_rx_drop_next(rx, 2);
    for (int i = 0; i < 2; i++) {
        resp r = put_json(rx, batch(item(TRACE_A, a, NULL, true), NULL));
        cr_assert_eq(r.rc, CURLE_GOT_NOTHING, "%s", curl_easy_strerror(r.rc));
        resp_free(&r);
    }
    cr_assert_eq(weft_rx_count(rx), 0);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, a, NULL, true), NULL)), 200);
    cr_assert_eq(weft_rx_status_count(rx, 0), 2);
    cr_assert_eq(weft_rx_requests(rx), 3);
    weft_rx_stop(rx);
}

Test(receiver, answers_429_beyond_its_capacity)
{
    weft_rx *rx = start();
    weft_rx_set_capacity(rx, 10);
    cr_assert_eq(put_status(rx, many(8, TRACE_A)), 200);
    /* Both requests fall in one one-second window: 8 + 8 is over 10. */
    resp r = put_json(rx, many(8, TRACE_B));
    cr_assert_eq(r.status, 429);
    cr_assert_str_eq(r.retry_after, "1");
    resp_free(&r);
    weft_rx_set_capacity(rx, 0);
    cr_assert_eq(put_status(rx, many(8, TRACE_B)), 200);
    cr_assert_eq(weft_rx_count(rx), 16);
    weft_rx_stop(rx);
}

Test(receiver, lets_one_oversized_batch_through_per_window)
{
    weft_rx *rx = start();
    weft_rx_set_capacity(rx, 5);
    cr_assert_eq(put_status(rx, many(8, TRACE_A)), 200);
    cr_assert_eq(put_status(rx, many(1, TRACE_B)), 429);
    weft_rx_stop(rx);
}

/* ---- state -------------------------------------------------------------------------------- */

Test(receiver, reset_forgets_spans_counters_and_faults)
{
    weft_rx *rx = start();
    char a[37];
    uuid(a, 1);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, a, NULL, true), NULL)), 200);
    weft_rx_set_outage(rx, true);
    weft_rx_poison(rx, a);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, a, NULL, true), NULL)), 503);
    weft_rx_reset(rx);
    cr_assert_eq(weft_rx_count(rx), 0);
    cr_assert_eq(weft_rx_requests(rx), 0);
    cr_assert_eq(weft_rx_upserts(rx), 0);
    cr_assert_eq(weft_rx_status_count(rx, 503), 0);
    char d[8];
    cr_assert_not(weft_rx_last_detail(rx, d, sizeof d));
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, a, NULL, true), NULL)), 200);
    cr_assert_eq(weft_rx_count(rx), 1);
    weft_rx_stop(rx);
}

Test(receiver, accepts_a_body_of_tens_of_megabytes)
{
    weft_rx *rx = start();
    json_t *root = many(1000, TRACE_A);
    char *blob = repeat('x', 20000);
    json_t *items = json_object_get(root, "items");
    for (size_t i = 0; i < json_array_size(items); i++)
        json_object_set_new(json_object_get(json_array_get(items, i), "input"), "text",
                            json_string(blob));
    free(blob);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    size_t len = strlen(text);
    cr_assert_gt(len, 20000000);
    resp r = call_on(NULL, rx, "PUT", WEFT_RX_PATH, text, len, NULL);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    free(text);
    cr_assert_eq(weft_rx_count(rx), 1000);
    cr_assert_eq(weft_rx_max_body_seen(rx), len);
    weft_rx_stop(rx);
}

/* ---- concurrency -------------------------------------------------------------------------- */

#define CLIENTS 4
#define PER_CLIENT 25

typedef struct client {
    weft_rx *rx;
    unsigned n;
    int ok;
    long connects;
} client;

static void *client_run(void *arg)
{
    client *c = arg;
    CURL *h = curl_easy_init();
    char id[37], trace[37];
    snprintf(trace, sizeof trace, "cccccccc-0000-4000-8000-%012u", c->n);
    for (unsigned i = 0; i < PER_CLIENT; i++) {
        json_t *root = batch(item(trace, uuid(id, c->n * 1000 + i), NULL, i % 2), NULL);
        char *text = json_dumps(root, 0);
        json_decref(root);
        resp r = call_on(h, c->rx, "PUT", WEFT_RX_PATH, text, strlen(text), NULL);
        c->ok += r.rc == CURLE_OK && r.status == 200;
        resp_free(&r);
        free(text);
    }
    curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &c->connects);
    curl_easy_cleanup(h);
    return NULL;
}

Test(receiver, serves_several_keep_alive_connections_at_once)
{
    weft_rx *rx = start();
    weft_rx_set_delay_ms(rx, 5); /* keeps the connections overlapping */
    client cs[CLIENTS];
    pthread_t t[CLIENTS];
    for (unsigned i = 0; i < CLIENTS; i++) {
        cs[i] = (client){.rx = rx, .n = i + 1};
        pthread_create(&t[i], NULL, client_run, &cs[i]);
    }
    for (unsigned i = 0; i < CLIENTS; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(cs[i].ok, PER_CLIENT);
        cr_assert_eq(cs[i].connects, 0, "the last request reused the connection");
    }
    cr_assert_eq(weft_rx_count(rx), CLIENTS * PER_CLIENT);
    cr_assert_eq(weft_rx_requests(rx), CLIENTS * PER_CLIENT);
    weft_rx_stop(rx);
}

/* ---- discard mode ------------------------------------------------------------------------- */

Test(receiver, counts_items_without_storing_them_in_discard_mode)
{
    weft_rx *rx = weft_rx_start(&(weft_rx_opts){.api_key = KEY, .discard = true});
    cr_assert_not_null(rx);
    resp r = put_json(rx, many(300, TRACE_A));
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "{\"items\":[]}");
    resp_free(&r);
    /* Braces, brackets and an "items" key inside strings and nested values are not items. */
    r = put_raw(rx, "{\"meta\":{\"items\":[{},{}]},\"items\":[{\"id\":\"{[\\\"items\\\":[{\","
                    "\"input\":{\"items\":[{}]}},{\"a\":[{},{}]},\n {}],\"x\":\"items\"}");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    cr_assert_eq(weft_rx_upserts(rx), 303);
    cr_assert_eq(weft_rx_count(rx), 0);
    cr_assert_eq(weft_rx_max_items_seen(rx), 300);

    cr_assert_eq(put_status(rx, many(1001, TRACE_A)), 422);
    r = put_raw(rx, "{\"spans\":[{}]}");
    cr_assert_eq(r.status, 400);
    resp_free(&r);
    const char *const none[] = {NULL};
    r = call(rx, "PUT", WEFT_RX_PATH, "{\"items\":[{}]}", none);
    cr_assert_eq(r.status, 401);
    resp_free(&r);
    cr_assert_eq(weft_rx_upserts(rx), 303);
    cr_assert_eq(weft_rx_requests(rx), 5);
    weft_rx_stop(rx);
}

Test(receiver, counts_items_split_across_many_reads_in_discard_mode)
{
    weft_rx *rx = weft_rx_start(&(weft_rx_opts){.discard = true});
    cr_assert_not_null(rx);
    json_t *root = many(1000, TRACE_A);
    char *blob = repeat('{', 3000); /* braces inside strings, across read boundaries */
    json_t *items = json_object_get(root, "items");
    for (size_t i = 0; i < json_array_size(items); i++)
        json_object_set_new(json_array_get(items, i), "name", json_string(blob));
    free(blob);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    for (int i = 0; i < 3; i++) {
        resp r = call_on(NULL, rx, "PUT", WEFT_RX_PATH, text, strlen(text), NULL);
        cr_assert_eq(r.status, 200);
        resp_free(&r);
    }
    free(text);
    cr_assert_eq(weft_rx_upserts(rx), 3000);
    cr_assert_eq(weft_rx_max_items_seen(rx), 1000);
    weft_rx_stop(rx);
}

Test(receiver, applies_faults_in_discard_mode_too)
{
    weft_rx *rx = weft_rx_start(&(weft_rx_opts){.discard = true});
    cr_assert_not_null(rx);
    weft_rx_fail_next(rx, 503, 1, "1");
    resp r = put_raw(rx, "{\"items\":[{}]}");
    cr_assert_eq(r.status, 503);
    resp_free(&r);
    r = put_raw(rx, "{\"items\":[{}]}");
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    cr_assert_eq(weft_rx_upserts(rx), 1);
    weft_rx_stop(rx);
}

/* ---- faults and queries racing the handlers (run under ThreadSanitizer too) ------------- */

typedef struct racer {
    weft_rx *rx;
    unsigned n;
    unsigned accepted, refused, failed;
} racer;

static void *racer_run(void *arg)
{
    racer *c = arg;
    CURL *h = curl_easy_init();
    char id[37], trace[37];
    snprintf(trace, sizeof trace, "dddddddd-0000-4000-8000-%012u", c->n);
    for (unsigned i = 0; i < PER_CLIENT; i++) {
        json_t *items = json_array();
        for (unsigned k = 0; k < 10; k++)
            json_array_append_new(items, item(trace, uuid(id, c->n * 100000 + i * 10 + k), NULL,
                                              k % 2));
        json_t *root = json_pack("{s:o}", "items", items);
        char *text = json_dumps(root, 0);
        json_decref(root);
        resp r = call_on(h, c->rx, "PUT", WEFT_RX_PATH, text, strlen(text), NULL);
        if (r.rc != CURLE_OK)
            c->failed++;
        else if (r.status == 200)
            c->accepted++;
        else
            c->refused++;
        resp_free(&r);
        free(text);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static void touch_span(const json_t *it, size_t upserts, bool completed, void *ud)
{
    (void)upserts;
    (void)completed;
    *(size_t *)ud += json_object_size(it) > 0;
}

Test(receiver, changes_faults_and_answers_queries_while_serving)
{
    weft_rx *rx = start();
    racer cs[CLIENTS];
    pthread_t t[CLIENTS];
    for (unsigned i = 0; i < CLIENTS; i++) {
        cs[i] = (racer){.rx = rx, .n = i + 1};
        pthread_create(&t[i], NULL, racer_run, &cs[i]);
    }
    char buf[128], id[37];
    for (unsigned round = 0; weft_rx_requests(rx) < CLIENTS * PER_CLIENT - CLIENTS; round++) {
        weft_rx_set_outage(rx, round % 7 == 3);
        weft_rx_fail_next(rx, 503, round % 3 == 0, "1");
        weft_rx_poison(rx, round % 5 == 0 ? uuid(id, 1 * 100000 + round % PER_CLIENT * 10) : NULL);
        weft_rx_set_retry_after_ms(rx, round % 2 ? 100 : 0);
        weft_rx_set_delay_ms(rx, round % 4 == 1);
        size_t seen = 0;
        weft_rx_foreach(rx, touch_span, &seen);
        cr_assert_leq(seen, weft_rx_upserts(rx));
        json_decref(weft_rx_get(rx, "dddddddd-0000-4000-8000-000000000001", id));
        weft_rx_last_header(rx, "user-agent", buf, sizeof buf);
        weft_rx_last_detail(rx, buf, sizeof buf);
        (void)weft_rx_completed(rx);
        (void)weft_rx_status_count(rx, 503);
        nanosleep(&(struct timespec){0, 2000000}, NULL);
    }
    unsigned accepted = 0, answered = 0;
    for (unsigned i = 0; i < CLIENTS; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(cs[i].failed, 0);
        accepted += cs[i].accepted;
        answered += cs[i].accepted + cs[i].refused;
    }
    cr_assert_eq(weft_rx_requests(rx), CLIENTS * PER_CLIENT);
    cr_assert_eq(weft_rx_status_count(rx, 200), accepted);
    cr_assert_eq(weft_rx_count(rx), accepted * 10u, "every accepted batch held 10 new spans");
    cr_assert_eq(weft_rx_completed(rx), accepted * 5u);
    size_t statuses = 0;
    for (int s = 0; s < 600; s++)
        statuses += weft_rx_status_count(rx, s);
    cr_assert_eq(statuses, answered);
    weft_rx_stop(rx);
}

Test(receiver, keeps_details_valid_json_when_quoting_clipped_non_ascii_ids)
{
    weft_rx *rx = start();
    /* 60 x U+20AC (3 bytes each): the detail clips ids at 80 bytes, inside a character. */
    char parent[181] = "", child[37];
    for (int i = 0; i < 60; i++)
        strcat(parent, "\xE2\x82\xAC");
    uuid(child, 2);
    cr_assert_eq(put_status(rx, batch(item(TRACE_A, parent, NULL, false), NULL)), 200);
    resp r = put_json(rx, batch(item(TRACE_B, child, parent, true), NULL));
    cr_assert_eq(r.rc, CURLE_OK);
    cr_assert_eq(r.status, 409);
    json_t *j = json_loads(r.body, 0, NULL);
    cr_assert(json_is_string(json_object_get(j, "detail")), "%s", r.body);
    json_decref(j);
    resp_free(&r);
    weft_rx_stop(rx);
}
