/*
 * test_otlp.c — the otlp exporter through the whole library to the loopback OTLP/HTTP receiver
 * (tests/support/otlp_receiver.h): configuration by the OTEL_* variables, every field of what
 * arrives decoded with the generated code, the same W3C ids in SGP and OTLP when both are
 * selected, OTLP's retry rules (503 and 429 with Retry-After, a dropped connection), 400 and
 * partial success counted as rejected and logged, gzip bodies (OTEL_EXPORTER_OTLP_COMPRESSION)
 * intact and smaller on the wire, span events as OTLP Span.events, and header secrets kept off
 * plain http to other hosts. Every test ends with weft_shutdown and a stats check.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log_capture.h"
#include "otlp_receiver.h"
#include "receiver.h"
#include "weft/weft.h"

#define AVC(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x

static weft_config cfg(const char *exporters)
{
    weft_config c = {0};
    c.exporters = exporters;
    c.flush_interval_ms = 20;
    c.no_atexit = true;
    c.log = wt_log_capture;
    c.log_level = WEFT_LOG_INFO;
    c.inprogress_after_ms = WEFT_INPROGRESS_NEVER;
    c.retry_window_ms = 60000;
    c.ring_bytes = 16u << 20;
    return c;
}

static weft_orx *start_with_env(void)
{
    weft_orx *rx = weft_orx_start();
    cr_assert_not_null(rx);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", weft_orx_url(rx), 1);
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    unsetenv("OTEL_EXPORTER_OTLP_COMPRESSION");
    unsetenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION");
    setenv("OTEL_SERVICE_NAME", "checkout", 1);
    setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test,team=search%20ranking", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-team-key=s3cr3t%21,x-tenant=acme", 1);
    return rx;
}

static void hexid(const ProtobufCBinaryData *d, char *out) { weft_orx_hex(d, out); }

static const weft_orx_pb_value *attr(const weft_orx_span *s, const char *key)
{
    return weft_orx_attr(s->span->attributes, s->span->n_attributes, key);
}

static void find(weft_orx *rx, const char *name, weft_orx_span *out)
{
    cr_assert(weft_orx_find(rx, name, out), "\"%s\" did not arrive", name);
}

Test(otlp_exporter, sends_every_field_of_every_span)
{
    weft_orx *rx = start_with_env();
    weft_config c = cfg("otlp");
    cr_assert_eq(weft_init(&c), 0);
    weft_span root = weft_span_begin("answer", WEFT_TYPE_AGENT_WORKFLOW);
    weft_span llm = weft_span_begin("llm call", WEFT_TYPE_COMPLETION);
    weft_usage u = {.model = "gpt-4o-mini", .input_tokens = 120, .output_tokens = 30};
    weft_span_set_usage(llm, &u);
    weft_message m = {.role = "user", .content = "What is weft?"};
    weft_span_add_message(llm, WEFT_INPUT, &m);
    weft_span_set_str(llm, WEFT_INPUT, "prompt", "p1");
    weft_span_set_i64(llm, WEFT_OUTPUT, "n", 3);
    const char *cfg_json = "{\"t\":0.5,\"stop\":[\"\\n\"]}";
    weft_span_set_json(llm, WEFT_METADATA, "cfg", cfg_json, strlen(cfg_json));
    weft_span_set_error(llm, "RateLimit", "slow down");
    char tp_root[56], tp_llm[56];
    weft_traceparent_format(root, tp_root, sizeof tp_root);
    weft_traceparent_format(llm, tp_llm, sizeof tp_llm);
    weft_span_end(llm);
    weft_span_end(root);
    cr_assert_eq(weft_shutdown(20000), 0);
    cr_assert_eq(weft_orx_span_count(rx), 2);

    char ct[64], team[64];
    cr_expect(weft_orx_last_header(rx, "content-type", ct, sizeof ct));
    cr_expect_str_eq(ct, "application/x-protobuf");
    cr_expect(weft_orx_last_header(rx, "x-team-key", team, sizeof team));
    cr_expect_str_eq(team, "s3cr3t!", "header values are percent-decoded");
    cr_expect(weft_orx_last_header(rx, "x-tenant", team, sizeof team));
    cr_expect_str_eq(team, "acme");

    weft_orx_span r, l;
    find(rx, "answer", &r);
    find(rx, "llm call", &l);
    char h[33];
    hexid(&r.span->trace_id, h);
    cr_expect_eq(strncmp(h, tp_root + 3, 32), 0, "trace id %s, header %s", h, tp_root);
    hexid(&r.span->span_id, h);
    cr_expect_eq(strncmp(h, tp_root + 36, 16), 0);
    cr_expect_eq(r.span->parent_span_id.len, 0);
    hexid(&l.span->trace_id, h);
    cr_expect_eq(strncmp(h, tp_llm + 3, 32), 0);
    hexid(&l.span->span_id, h);
    cr_expect_eq(strncmp(h, tp_llm + 36, 16), 0);
    hexid(&l.span->parent_span_id, h);
    cr_expect_eq(strncmp(h, tp_root + 36, 16), 0, "the child's parent is the root");
    cr_expect_gt(l.span->start_time_unix_nano, UINT64_C(1600000000) * 1000000000u);
    cr_expect_geq(l.span->end_time_unix_nano, l.span->start_time_unix_nano);
    cr_expect_geq(r.span->end_time_unix_nano, l.span->end_time_unix_nano);
    cr_expect_eq(l.span->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
    cr_expect_eq(r.span->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL);
    cr_assert_not_null(l.span->status);
    cr_expect_eq(l.span->status->code, OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
    cr_expect_str_eq(l.span->status->message, "slow down");
    cr_expect_null(r.span->status);
    /* Attributes. */
    cr_expect_str_eq(attr(&l, "input.prompt")->string_value, "p1");
    cr_expect_eq(attr(&l, "output.n")->int_value, 3);
    const weft_orx_pb_value *cv = attr(&l, "metadata.cfg");
    cr_assert(cv && cv->value_case == AVC(KVLIST_VALUE));
    cr_expect_str_eq(attr(&l, "gen_ai.operation.name")->string_value, "chat");
    cr_expect_str_eq(attr(&l, "gen_ai.request.model")->string_value, "gpt-4o-mini");
    cr_expect_eq(attr(&l, "gen_ai.usage.input_tokens")->int_value, 120);
    cr_expect_eq(attr(&l, "gen_ai.usage.output_tokens")->int_value, 30);
    const weft_orx_pb_value *msgs = attr(&l, "gen_ai.input.messages");
    cr_assert(msgs && msgs->value_case == AVC(ARRAY_VALUE) && msgs->array_value->n_values == 1);
    cr_expect_str_eq(attr(&r, "gen_ai.operation.name")->string_value, "invoke_agent");
    cr_expect_str_eq(attr(&r, "weft.span.type")->string_value, "AGENT_WORKFLOW");
    /* Resource and scope. */
    cr_assert_not_null(l.resource);
    const weft_orx_pb_value *sn = weft_orx_attr(l.resource->attributes, l.resource->n_attributes, "service.name");
    cr_assert_not_null(sn);
    cr_expect_str_eq(sn->string_value, "checkout");
    const weft_orx_pb_value *tm = weft_orx_attr(l.resource->attributes, l.resource->n_attributes, "team");
    cr_assert_not_null(tm);
    cr_expect_str_eq(tm->string_value, "search ranking");
    cr_assert_not_null(l.scope);
    cr_expect_str_eq(l.scope->name, "weft");
    cr_expect_str_eq(l.scope->version, WEFT_VERSION_STRING);
    weft_orx_span_free(&r);
    weft_orx_span_free(&l);
    cr_expect_eq(wt_log_count("s3cr3t"), 0, "a header value never reaches the log");
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.exported, 2);
    cr_expect_eq(st.dropped_export, 0);
    cr_expect_eq(st.rejected, 0);
    weft_orx_stop(rx);
}

Test(otlp_exporter, span_events_arrive_as_otlp_events)
{
    weft_orx *rx = start_with_env();
    weft_config c = cfg("otlp");
    cr_assert_eq(weft_init(&c), 0);
    struct timespec t0;
    clock_gettime(CLOCK_REALTIME, &t0);
    weft_span s = weft_span_begin("stream", WEFT_TYPE_COMPLETION);
    weft_span_add_event(s, "first_token", NULL);
    weft_span_add_event(s, "retry", "{\"attempt\":2,\"why\":\"503\"}");
    weft_span_end(s);
    cr_assert_eq(weft_shutdown(20000), 0);
    weft_orx_span o;
    find(rx, "stream", &o);
    cr_assert_eq(o.span->n_events, 2);
    const Opentelemetry__Proto__Trace__V1__Span__Event *e0 = o.span->events[0], *e1 = o.span->events[1];
    cr_expect_str_eq(e0->name, "first_token");
    cr_expect_eq(e0->n_attributes, 0);
    cr_expect_str_eq(e1->name, "retry");
    cr_assert_eq(e1->n_attributes, 2);
    cr_expect_str_eq(e1->attributes[0]->key, "attempt");
    cr_expect_eq(e1->attributes[0]->value->int_value, 2);
    cr_expect_str_eq(e1->attributes[1]->value->string_value, "503");
    /* Times to the microsecond the event's timestamp keeps, inside the span. */
    uint64_t t0_ns = (uint64_t)t0.tv_sec * 1000000000u + (uint64_t)t0.tv_nsec;
    cr_expect_geq(e0->time_unix_nano + 1000, o.span->start_time_unix_nano);
    cr_expect_leq(e0->time_unix_nano, e1->time_unix_nano);
    cr_expect_leq(e1->time_unix_nano, o.span->end_time_unix_nano);
    cr_expect_geq(e0->time_unix_nano + 1000, t0_ns);
    cr_expect_eq(e0->time_unix_nano % 1000, 0);
    cr_expect_null(attr(&o, "metadata.events"), "the events are not sent twice");
    weft_orx_span_free(&o);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.exported, 1);
    cr_expect_eq(st.dropped_export, 0);
    weft_orx_stop(rx);
}

typedef struct sgp_found {
    json_t *a, *b;
} sgp_found;

static void sgp_collect(const json_t *item, size_t upserts, bool completed, void *ud)
{
    (void)upserts;
    sgp_found *f = ud;
    const char *n = json_string_value(json_object_get(item, "name"));
    if (!completed || !n)
        return;
    if (strcmp(n, "parent") == 0)
        f->a = json_incref((json_t *)item);
    if (strcmp(n, "child") == 0)
        f->b = json_incref((json_t *)item);
}

static void expect_same_ids(json_t *sgp, const weft_orx_span *o)
{
    char h[33];
    hexid(&o->span->trace_id, h);
    cr_expect_str_eq(h, json_string_value(json_object_get(sgp, "obs_trace_id")));
    hexid(&o->span->span_id, h);
    cr_expect_str_eq(h, json_string_value(json_object_get(sgp, "obs_span_id")));
}

Test(otlp_exporter, a_span_sent_to_sgp_and_otlp_carries_the_same_w3c_ids)
{
    weft_orx *orx = start_with_env();
    weft_rx_opts ro = {.api_key = "k"};
    weft_rx *srx = weft_rx_start(&ro);
    cr_assert_not_null(srx);
    weft_config c = cfg("sgp,otlp");
    c.sgp_base_url = weft_rx_url(srx);
    c.sgp_api_key = "k";
    cr_assert_eq(weft_init(&c), 0);
    weft_span p = weft_span_begin_remote("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "rojo=1",
                                         "parent", WEFT_TYPE_TRACER);
    weft_span ch = weft_span_begin("child", WEFT_TYPE_CUSTOM);
    weft_span_end(ch);
    weft_span_end(p);
    cr_assert_eq(weft_shutdown(20000), 0);
    sgp_found f = {0};
    weft_rx_foreach(srx, sgp_collect, &f);
    cr_assert(f.a && f.b);
    weft_orx_span oa, ob;
    find(orx, "parent", &oa);
    find(orx, "child", &ob);
    expect_same_ids(f.a, &oa);
    expect_same_ids(f.b, &ob);
    char h[17];
    hexid(&oa.span->parent_span_id, h);
    cr_expect_str_eq(h, "00f067aa0ba902b7", "the remote parent");
    cr_expect_str_eq(oa.span->trace_state, "rojo=1");
    cr_expect_eq(oa.span->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
    cr_expect_eq(oa.span->flags & 0x300u, 0x300u, "the parent is remote");
    hexid(&ob.span->parent_span_id, h);
    cr_expect_str_eq(h, json_string_value(json_object_get(f.a, "obs_span_id")));
    weft_orx_span_free(&oa);
    weft_orx_span_free(&ob);
    json_decref(f.a);
    json_decref(f.b);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.exported, 2);
    cr_expect_eq(st.dropped_export, 0);
    weft_rx_stop(srx);
    weft_orx_stop(orx);
}

static void make_spans(int n)
{
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        weft_span_end(weft_span_begin(name, WEFT_TYPE_CUSTOM));
    }
}

Test(otlp_exporter, retries_503_and_429_honouring_retry_after_then_delivers)
{
    weft_orx *rx = start_with_env();
    weft_orx_fail_next(rx, 503, 1, "1");
    weft_config c = cfg("otlp");
    cr_assert_eq(weft_init(&c), 0);
    make_spans(5);
    cr_assert_eq(weft_flush(30000), 0);
    weft_orx_fail_next(rx, 429, 1, "1");
    make_spans(3);
    cr_assert_eq(weft_shutdown(30000), 0);
    cr_expect_eq(weft_orx_span_count(rx), 8);
    cr_expect_eq(weft_orx_status_count(rx, 503), 1);
    cr_expect_eq(weft_orx_status_count(rx, 429), 1);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_geq(st.retried, 2);
    cr_expect_eq(st.exported, 8);
    cr_expect_eq(st.dropped_export, 0);
    weft_orx_stop(rx);
}

Test(otlp_exporter, a_dropped_connection_is_retried)
{
    weft_orx *rx = start_with_env();
    weft_orx_drop_next(rx, 1);
    weft_config c = cfg("otlp");
    cr_assert_eq(weft_init(&c), 0);
    make_spans(4);
    cr_assert_eq(weft_shutdown(30000), 0);
    cr_expect_eq(weft_orx_span_count(rx), 4);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_geq(st.retried, 1);
    cr_expect_eq(st.exported, 4);
    weft_orx_stop(rx);
}

Test(otlp_exporter, a_400_is_not_retried_and_counts_every_span_rejected)
{
    weft_orx *rx = start_with_env();
    weft_orx_fail_next(rx, 400, 1000, NULL);
    weft_config c = cfg("otlp");
    cr_assert_eq(weft_init(&c), 0);
    make_spans(3);
    weft_shutdown(30000);
    cr_expect_eq(weft_orx_span_count(rx), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.rejected, 3);
    cr_expect_eq(st.dropped_export, 3);
    cr_expect_eq(st.exported, 0);
    cr_expect_eq(weft_orx_status_count(rx, 503), 0);
    weft_orx_stop(rx);
}

Test(otlp_exporter, partial_success_is_logged_and_counted_not_retried)
{
    weft_orx *rx = start_with_env();
    weft_orx_partial_next(rx, 1, 2, "2 spans had timestamps from the future");
    weft_config c = cfg("otlp");
    cr_assert_eq(weft_init(&c), 0);
    make_spans(5);
    cr_assert_eq(weft_flush(30000), WEFT_EEXPORT);
    weft_shutdown(30000);
    cr_expect_eq(weft_orx_span_count(rx), 3);
    cr_expect_eq(weft_orx_requests(rx), 1, "a partial success is not retried");
    cr_expect_geq(wt_log_count("OTLP collector accepted 3 of 5 spans of a request: 2 spans had timestamps from the future"), 1,
                  "log count %zu", wt_log_count("2 spans had timestamps from the future"));
    /* The engine's own line reads the message out of the protobuf answer, not its raw bytes. */
    cr_expect_eq(wt_log_count("OTLP accepted part of a request: 2 span records refused (2 spans had timestamps from the future)"), 1);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.rejected, 2);
    cr_expect_eq(st.dropped_export, 2);
    cr_expect_eq(st.exported, 3);
    weft_orx_stop(rx);
}

Test(otlp_exporter, the_traces_endpoint_is_used_as_given)
{
    weft_orx *rx = start_with_env();
    char url[128];
    snprintf(url, sizeof url, "%s/v1/traces", weft_orx_url(rx));
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url, 1);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1", 1);
    weft_config c = cfg("otlp");
    cr_assert_eq(weft_init(&c), 0);
    make_spans(2);
    cr_assert_eq(weft_shutdown(20000), 0);
    cr_expect_eq(weft_orx_span_count(rx), 2);
    weft_orx_stop(rx);
}

Test(otlp_exporter, header_secrets_never_go_over_plain_http_to_another_host)
{
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.example:4318", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=s3cr3t", 1);
    weft_config c = cfg("otlp");
    cr_expect_eq(weft_init(&c), WEFT_EINSECURE);
    cr_expect_eq(wt_log_count("s3cr3t"), 0);
    /* Without headers there is no secret: plain http to a collector is allowed (nothing is
     * sent: no span is made). */
    unsetenv("OTEL_EXPORTER_OTLP_HEADERS");
    cr_expect_eq(weft_init(&c), 0);
    cr_expect_eq(weft_shutdown(5000), 0);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector.example", 1);
    cr_expect_eq(weft_init(&c), WEFT_ECONFIG);
}

/* ---- gzip (OTEL_EXPORTER_OTLP_COMPRESSION) ---------------------------------------------------- */

/* n spans with a long, repetitive input each: a body that compresses well. */
static void make_big_spans(int n)
{
    char text[2048];
    for (size_t i = 0; i + 1 < sizeof text; i++)
        text[i] = "the quick brown fox jumps over the lazy dog "[i % 44];
    text[sizeof text - 1] = '\0';
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", i);
        weft_span s = weft_span_begin(name, WEFT_TYPE_COMPLETION);
        weft_span_set_str(s, WEFT_INPUT, "prompt", text);
        weft_span_set_i64(s, WEFT_OUTPUT, "i", i);
        weft_span_end(s);
    }
}

/* Every span g0..g(n-1) arrived once, its fields intact. */
static void expect_big_spans(weft_orx *rx, int n)
{
    cr_expect_eq(weft_orx_span_count(rx), (size_t)n);
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "g%d", i);
        weft_orx_span s;
        find(rx, name, &s);
        const weft_orx_pb_value *out = NULL;
        for (size_t k = 0; k < s.span->n_attributes; k++)
            if (strstr(s.span->attributes[k]->key, "output"))
                out = s.span->attributes[k]->value;
        cr_expect_not_null(out, "%s lost its output", name);
        size_t long_values = 0;
        for (size_t k = 0; k < s.span->n_attributes; k++) {
            const weft_orx_pb_value *v = s.span->attributes[k]->value;
            if (v && v->value_case == AVC(STRING_VALUE) && strlen(v->string_value) == 2047 &&
                strncmp(v->string_value, "the quick brown fox", 19) == 0)
                long_values++;
        }
        cr_expect_geq(long_values, 1, "%s lost its 2047-byte input", name);
        weft_orx_span_free(&s);
    }
}

Test(otlp_exporter, gzip_bodies_arrive_intact_with_content_encoding_and_smaller)
{
    weft_orx *rx = start_with_env();
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
    weft_config c = cfg("otlp");
    cr_assert_eq(weft_init(&c), 0);
    make_big_spans(200);
    cr_assert_eq(weft_shutdown(30000), 0);
    expect_big_spans(rx, 200);
    size_t requests = weft_orx_requests(rx);
    cr_expect_geq(requests, 1);
    cr_expect_eq(weft_orx_gzip_requests(rx), requests, "%zu of %zu requests gzip", weft_orx_gzip_requests(rx),
                 requests);
    char enc[32];
    cr_expect(weft_orx_last_header(rx, "Content-Encoding", enc, sizeof enc));
    cr_expect_str_eq(enc, "gzip");
    size_t wire, decoded;
    weft_orx_last_body_len(rx, &wire, &decoded);
    cr_expect_gt(decoded, 50000, "a large batch: %zu bytes", decoded);
    cr_expect_lt(wire * 4, decoded, "gzip sent %zu bytes for %zu", wire, decoded);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.exported, 200);
    cr_expect_eq(st.dropped_export, 0);
    weft_orx_stop(rx);
}

Test(otlp_exporter, without_the_variable_bodies_go_uncompressed)
{
    weft_orx *rx = start_with_env();
    weft_config c = cfg("otlp");
    cr_assert_eq(weft_init(&c), 0);
    make_big_spans(20);
    cr_assert_eq(weft_shutdown(30000), 0);
    expect_big_spans(rx, 20);
    cr_expect_eq(weft_orx_gzip_requests(rx), 0);
    char enc[32];
    cr_expect_not(weft_orx_last_header(rx, "Content-Encoding", enc, sizeof enc), "Content-Encoding: %s", enc);
    size_t wire, decoded;
    weft_orx_last_body_len(rx, &wire, &decoded);
    cr_expect_gt(wire, 0);
    cr_expect_eq(wire, decoded);
    weft_orx_stop(rx);
}

Test(otlp_exporter, the_traces_compression_variable_wins_over_the_general_one)
{
    weft_orx *rx = start_with_env();
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none", 1);
    weft_config c = cfg("otlp");
    cr_assert_eq(weft_init(&c), 0);
    make_big_spans(5);
    cr_assert_eq(weft_flush(30000), 0);
    cr_assert_eq(weft_shutdown(30000), 0);
    cr_expect_eq(weft_orx_span_count(rx), 5);
    cr_expect_eq(weft_orx_gzip_requests(rx), 0);
    weft_orx_reset(rx);
    unsetenv("OTEL_EXPORTER_OTLP_COMPRESSION");
    setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "GZIP", 1);
    cr_assert_eq(weft_init(&c), 0);
    make_big_spans(5);
    cr_assert_eq(weft_shutdown(30000), 0);
    expect_big_spans(rx, 5);
    cr_expect_geq(weft_orx_gzip_requests(rx), 1);
    cr_expect_eq(weft_orx_gzip_requests(rx), weft_orx_requests(rx));
    weft_orx_stop(rx);
}

Test(otlp_exporter, a_gzip_body_retried_after_503_and_a_dropped_connection_arrives_intact)
{
    weft_orx *rx = start_with_env();
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
    weft_orx_fail_next(rx, 503, 1, "1");
    weft_config c = cfg("otlp");
    cr_assert_eq(weft_init(&c), 0);
    make_big_spans(50);
    cr_assert_eq(weft_flush(30000), 0);
    weft_orx_drop_next(rx, 1);
    weft_span s = weft_span_begin("after", WEFT_TYPE_CUSTOM);
    weft_span_end(s);
    cr_assert_eq(weft_shutdown(30000), 0);
    cr_expect_eq(weft_orx_span_count(rx), 51);
    weft_orx_span one;
    find(rx, "g49", &one);
    weft_orx_span_free(&one);
    find(rx, "after", &one);
    weft_orx_span_free(&one);
    cr_expect_eq(weft_orx_status_count(rx, 503), 1);
    cr_expect_eq(weft_orx_status_count(rx, 400), 0, "a body the receiver could not inflate");
    cr_expect_eq(weft_orx_gzip_requests(rx), weft_orx_status_count(rx, 200));
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(weft_orx_status_count(rx, 0), 1, "the connection was dropped once");
    /* The 503 is the engine's retry (a fresh gzip body); the dropped connection may be resent
     * by libcurl itself on a reused connection (the same body re-read), uncounted. */
    cr_expect_geq(st.retried, 1, "retried %llu", (unsigned long long)st.retried);
    cr_expect_eq(st.exported, 51);
    weft_orx_stop(rx);
}

Test(otlp_exporter, an_unknown_compression_is_warned_about_and_bodies_go_uncompressed)
{
    weft_orx *rx = start_with_env();
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd", 1);
    weft_config c = cfg("otlp");
    cr_assert_eq(weft_init(&c), 0);
    cr_expect_eq(wt_log_count("OTEL_EXPORTER_OTLP_COMPRESSION: unknown value"), 1);
    make_big_spans(3);
    cr_assert_eq(weft_shutdown(30000), 0);
    cr_expect_eq(weft_orx_span_count(rx), 3);
    cr_expect_eq(weft_orx_gzip_requests(rx), 0);
    weft_orx_stop(rx);
}
