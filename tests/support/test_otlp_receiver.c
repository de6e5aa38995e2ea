/*
 * test_otlp_receiver.c — the loopback OTLP/HTTP receiver itself (otlp_receiver.c), driven by
 * libcurl with requests packed by the generated protobuf-c code: decoding, storage with
 * resource and scope, gzip, refusals, and each injected fault. The exporter's tests rely on it.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <string.h>
#include <zlib.h>

#include "otlp_receiver.h"

typedef struct answer {
    long status;
    char retry_after[64];
    uint8_t body[1024];
    size_t len;
} answer;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    answer *a = ud;
    size_t k = sz * n;
    if (a->len + k <= sizeof a->body) {
        memcpy(a->body + a->len, p, k);
        a->len += k;
    }
    return k;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    answer *a = ud;
    size_t k = sz * n;
    if (k > 13 && strncasecmp(p, "Retry-After: ", 13) == 0) {
        size_t m = k - 13;
        while (m && (p[13 + m - 1] == '\r' || p[13 + m - 1] == '\n'))
            m--;
        snprintf(a->retry_after, sizeof a->retry_after, "%.*s", (int)m, p + 13);
    }
    return k;
}

/* POSTs body to url + path; returns the curl result (CURLE_OK when an answer came). */
static CURLcode post(const char *url, const char *path, const char *type, const char *encoding, const void *body,
                     size_t len, answer *a)
{
    memset(a, 0, sizeof *a);
    char full[256], ct[128], ce[64];
    snprintf(full, sizeof full, "%s%s", url, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    snprintf(ct, sizeof ct, "Content-Type: %s", type);
    h = curl_slist_append(h, ct);
    if (encoding) {
        snprintf(ce, sizeof ce, "Content-Encoding: %s", encoding);
        h = curl_slist_append(h, ce);
    }
    h = curl_slist_append(h, "X-Test: yes");
    curl_easy_setopt(c, CURLOPT_URL, full);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
}

/* A request of n spans named s0.., with a service.name resource and a scope. */
static uint8_t *pack_request(size_t n, size_t *len)
{
    static uint8_t tid[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
    static uint8_t sid[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
    Opentelemetry__Proto__Common__V1__AnyValue sv = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    sv.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    sv.string_value = "checkout";
    Opentelemetry__Proto__Common__V1__KeyValue kv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    kv.key = "service.name";
    kv.value = &sv;
    Opentelemetry__Proto__Common__V1__KeyValue *kvs[1] = {&kv};
    Opentelemetry__Proto__Resource__V1__Resource res = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    res.attributes = kvs;
    res.n_attributes = 1;
    Opentelemetry__Proto__Common__V1__InstrumentationScope scope = OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    scope.name = "test";
    scope.version = "1.2.3";
    Opentelemetry__Proto__Trace__V1__Span spans[8];
    Opentelemetry__Proto__Trace__V1__Span *sp[8];
    char names[8][8];
    cr_assert(n <= 8);
    for (size_t i = 0; i < n; i++) {
        opentelemetry__proto__trace__v1__span__init(&spans[i]);
        snprintf(names[i], sizeof names[i], "s%zu", i);
        spans[i].name = names[i];
        spans[i].trace_id.data = tid;
        spans[i].trace_id.len = 16;
        spans[i].span_id.data = sid;
        spans[i].span_id.len = 8;
        spans[i].start_time_unix_nano = 1000 + i;
        spans[i].end_time_unix_nano = 2000 + i;
        sp[i] = &spans[i];
    }
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ss.scope = &scope;
    ss.spans = sp;
    ss.n_spans = n;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp[1] = {&ss};
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    rs.resource = &res;
    rs.scope_spans = ssp;
    rs.n_scope_spans = 1;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp[1] = {&rs};
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.resource_spans = rsp;
    req.n_resource_spans = 1;
    *len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&req);
    uint8_t *out = malloc(*len);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, out);
    return out;
}

static Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *unpack_answer(const answer *a)
{
    return opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(NULL, a->len, a->body);
}

Test(otlp_receiver, stores_each_span_with_its_resource_and_scope)
{
    weft_orx *rx = weft_orx_start();
    cr_assert_not_null(rx);
    size_t len;
    uint8_t *body = pack_request(3, &len);
    answer a;
    cr_assert_eq(post(weft_orx_url(rx), WEFT_ORX_PATH, "application/x-protobuf", NULL, body, len, &a), CURLE_OK);
    cr_expect_eq(a.status, 200);
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *resp = unpack_answer(&a);
    cr_assert_not_null(resp, "the answer is an ExportTraceServiceResponse");
    cr_expect_null(resp->partial_success);
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(resp, NULL);
    cr_expect_eq(weft_orx_span_count(rx), 3);
    weft_orx_span s;
    cr_assert(weft_orx_find(rx, "s1", &s));
    char hex[33];
    weft_orx_hex(&s.span->trace_id, hex);
    cr_expect_str_eq(hex, "4bf92f3577b34da6a3ce929d0e0e4736");
    weft_orx_hex(&s.span->span_id, hex);
    cr_expect_str_eq(hex, "00f067aa0ba902b7");
    cr_expect_eq(s.span->start_time_unix_nano, 1001);
    cr_expect_eq(s.span->end_time_unix_nano, 2001);
    cr_assert_not_null(s.resource);
    const weft_orx_pb_value *v = weft_orx_attr(s.resource->attributes, s.resource->n_attributes, "service.name");
    cr_assert_not_null(v);
    cr_expect_str_eq(v->string_value, "checkout");
    cr_assert_not_null(s.scope);
    cr_expect_str_eq(s.scope->name, "test");
    cr_expect_str_eq(s.scope->version, "1.2.3");
    weft_orx_span_free(&s);
    cr_expect_not(weft_orx_find(rx, "s9", &s));
    char h[16];
    cr_expect(weft_orx_last_header(rx, "x-test", h, sizeof h));
    cr_expect_str_eq(h, "yes");
    free(body);
    weft_orx_stop(rx);
}

Test(otlp_receiver, inflates_gzip_bodies)
{
    weft_orx *rx = weft_orx_start();
    size_t len;
    uint8_t *body = pack_request(2, &len);
    uint8_t gz[4096];
    z_stream z;
    memset(&z, 0, sizeof z);
    cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = body;
    z.avail_in = (uInt)len;
    z.next_out = gz;
    z.avail_out = sizeof gz;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t gzlen = sizeof gz - z.avail_out;
    deflateEnd(&z);
    answer a;
    cr_assert_eq(post(weft_orx_url(rx), WEFT_ORX_PATH, "application/x-protobuf", "gzip", gz, gzlen, &a), CURLE_OK);
    cr_expect_eq(a.status, 200);
    cr_expect_eq(weft_orx_span_count(rx), 2);
    cr_expect_eq(weft_orx_gzip_requests(rx), 1);
    /* A gzip header on a body that is not gzip is refused. */
    cr_assert_eq(post(weft_orx_url(rx), WEFT_ORX_PATH, "application/x-protobuf", "gzip", body, len, &a), CURLE_OK);
    cr_expect_eq(a.status, 400);
    free(body);
    weft_orx_stop(rx);
}

Test(otlp_receiver, refuses_other_paths_methods_types_and_undecodable_bodies)
{
    weft_orx *rx = weft_orx_start();
    size_t len;
    uint8_t *body = pack_request(1, &len);
    answer a;
    post(weft_orx_url(rx), "/v1/logs", "application/x-protobuf", NULL, body, len, &a);
    cr_expect_eq(a.status, 404);
    post(weft_orx_url(rx), WEFT_ORX_PATH, "application/json", NULL, "{}", 2, &a);
    cr_expect_eq(a.status, 415);
    /* A field 1 of wire type 2 claiming more bytes than follow. */
    static const uint8_t bad[] = {0x0a, 0x7f, 0x01};
    post(weft_orx_url(rx), WEFT_ORX_PATH, "application/x-protobuf", NULL, bad, sizeof bad, &a);
    cr_expect_eq(a.status, 400);
    cr_expect_eq(weft_orx_span_count(rx), 0);
    cr_expect_eq(weft_orx_requests(rx), 3);
    free(body);
    weft_orx_stop(rx);
}

Test(otlp_receiver, injects_statuses_with_retry_after_then_recovers)
{
    weft_orx *rx = weft_orx_start();
    size_t len;
    uint8_t *body = pack_request(1, &len);
    answer a;
    weft_orx_fail_next(rx, 503, 1, "2");
    post(weft_orx_url(rx), WEFT_ORX_PATH, "application/x-protobuf", NULL, body, len, &a);
    cr_expect_eq(a.status, 503);
    cr_expect_str_eq(a.retry_after, "2");
    weft_orx_fail_next(rx, 429, 1, NULL);
    post(weft_orx_url(rx), WEFT_ORX_PATH, "application/x-protobuf", NULL, body, len, &a);
    cr_expect_eq(a.status, 429);
    cr_expect_str_eq(a.retry_after, "");
    weft_orx_fail_next(rx, 400, 1, NULL);
    post(weft_orx_url(rx), WEFT_ORX_PATH, "application/x-protobuf", NULL, body, len, &a);
    cr_expect_eq(a.status, 400);
    cr_expect_eq(weft_orx_span_count(rx), 0, "a faulted request stores nothing");
    post(weft_orx_url(rx), WEFT_ORX_PATH, "application/x-protobuf", NULL, body, len, &a);
    cr_expect_eq(a.status, 200);
    cr_expect_eq(weft_orx_span_count(rx), 1);
    cr_expect_eq(weft_orx_status_count(rx, 503), 1);
    cr_expect_eq(weft_orx_status_count(rx, 429), 1);
    cr_expect_eq(weft_orx_status_count(rx, 200), 1);
    free(body);
    weft_orx_stop(rx);
}

Test(otlp_receiver, answers_partial_success_and_keeps_only_the_accepted_spans)
{
    weft_orx *rx = weft_orx_start();
    size_t len;
    uint8_t *body = pack_request(5, &len);
    answer a;
    weft_orx_partial_next(rx, 1, 2, "2 spans had no name");
    post(weft_orx_url(rx), WEFT_ORX_PATH, "application/x-protobuf", NULL, body, len, &a);
    cr_expect_eq(a.status, 200);
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *resp = unpack_answer(&a);
    cr_assert_not_null(resp);
    cr_assert_not_null(resp->partial_success);
    cr_expect_eq(resp->partial_success->rejected_spans, 2);
    cr_expect_str_eq(resp->partial_success->error_message, "2 spans had no name");
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(resp, NULL);
    cr_expect_eq(weft_orx_span_count(rx), 3);
    free(body);
    weft_orx_stop(rx);
}

Test(otlp_receiver, drops_connections_on_demand)
{
    weft_orx *rx = weft_orx_start();
    size_t len;
    uint8_t *body = pack_request(1, &len);
    answer a;
    weft_orx_drop_next(rx, 1);
    CURLcode rc = post(weft_orx_url(rx), WEFT_ORX_PATH, "application/x-protobuf", NULL, body, len, &a);
    cr_expect_neq(rc, CURLE_OK, "the connection closes unanswered");
    cr_expect_eq(weft_orx_status_count(rx, 0), 1);
    cr_expect_eq(weft_orx_span_count(rx), 0);
    post(weft_orx_url(rx), WEFT_ORX_PATH, "application/x-protobuf", NULL, body, len, &a);
    cr_expect_eq(a.status, 200);
    free(body);
    weft_orx_stop(rx);
}
