/*
 * test_otlp.c — src/codec/otlp.c: records built by hand, encoded, then decoded with the code
 * protoc-c generated from proto/ and checked field by field (ids, parent, trace state, flags,
 * times, kind, status, attributes of every JSON type, the GenAI attributes); the request
 * wrapper with its resource and scope; gzip; the response reader.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "otlp.h"
#include "weft/version.h"

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_value;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;

#define AVC(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x

static void set(weft__rec *r, weft_section sec, const char *key, const char *json)
{
    weft__rec_set(r, sec, key, strlen(key), json, strlen(json));
}

static void append(weft__rec *r, weft_section sec, const char *key, const char *json)
{
    weft__rec_append(r, sec, key, strlen(key), json, strlen(json));
}

static weft__rec *new_rec(const char *name, uint32_t type)
{
    weft__rec *r = malloc(sizeof *r);
    weft__rec_init(r);
    r->trace = 0x4bf92f3577b34da6ull;
    r->id = 0x00f067aa0ba902b7ull;
    r->type = type;
    r->start_ns = 1764547200123456789ull;
    r->end_ns = 1764547200223456789ull;
    weft__buf_append(&r->name, name, strlen(name));
    return r;
}

static void free_rec(weft__rec *r)
{
    weft__rec_fini(r);
    free(r);
}

/* Encodes r and decodes the result (asserted to decode). */
static pb_span *roundtrip(const weft__rec *r, uint64_t salt)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__encode_opts o = {0};
    o.salt = salt;
    weft__otlp_encode_span(&b, r, &o);
    cr_assert_not(b.oom);
    const uint8_t *sp;
    size_t sl;
    cr_assert(weft__otlp_item_span(b.data, b.len, &sp, &sl));
    cr_assert_eq(sp + sl, (const uint8_t *)b.data + b.len, "one item is its length prefix and the Span");
    pb_span *s = opentelemetry__proto__trace__v1__span__unpack(NULL, sl, sp);
    cr_assert_not_null(s, "the bytes decode as a Span");
    weft__buf_fini(&b);
    return s;
}

static void hex(const ProtobufCBinaryData *d, char *out)
{
    static const char x[] = "0123456789abcdef";
    for (size_t i = 0; i < d->len; i++) {
        out[2 * i] = x[d->data[i] >> 4];
        out[2 * i + 1] = x[d->data[i] & 15];
    }
    out[2 * d->len] = '\0';
}

static const pb_value *attr(const pb_span *s, const char *key)
{
    for (size_t i = 0; i < s->n_attributes; i++)
        if (strcmp(s->attributes[i]->key, key) == 0)
            return s->attributes[i]->value;
    return NULL;
}

static size_t attr_count(const pb_span *s, const char *key)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n_attributes; i++)
        n += strcmp(s->attributes[i]->key, key) == 0;
    return n;
}

static const pb_value *kv_get(const pb_value *v, const char *key)
{
    cr_assert_eq(v->value_case, AVC(KVLIST_VALUE));
    for (size_t i = 0; i < v->kvlist_value->n_values; i++)
        if (strcmp(v->kvlist_value->values[i]->key, key) == 0)
            return v->kvlist_value->values[i]->value;
    return NULL;
}

static void expect_str(const pb_value *v, const char *want)
{
    cr_assert_not_null(v, "missing value, wanted \"%s\"", want);
    cr_assert_eq(v->value_case, AVC(STRING_VALUE), "wanted the string \"%s\"", want);
    cr_expect_str_eq(v->string_value, want);
}

Test(otlp, writes_the_w3c_ids_parent_state_flags_times_and_kind)
{
    weft__rec *r = new_rec("handler", WEFT_TYPE_TRACER);
    r->remote_trace = true;
    r->trace_lo = 0xa3ce929d0e0e4736ull;
    r->remote_parent = 0x1122334455667788ull;
    weft__buf_append(&r->tracestate, "rojo=00f067aa0ba902b7", 21);
    pb_span *s = roundtrip(r, 42);
    char h[33];
    hex(&s->trace_id, h);
    cr_expect_str_eq(h, "4bf92f3577b34da6a3ce929d0e0e4736");
    hex(&s->span_id, h);
    cr_expect_str_eq(h, "00f067aa0ba902b7");
    hex(&s->parent_span_id, h);
    cr_expect_str_eq(h, "1122334455667788");
    cr_expect_str_eq(s->trace_state, "rojo=00f067aa0ba902b7");
    cr_expect_eq(s->flags, 0x301u, "sampled, parent known to be remote");
    cr_expect_str_eq(s->name, "handler");
    cr_expect_eq(s->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
    cr_expect_eq(s->start_time_unix_nano, 1764547200123456789ull);
    cr_expect_eq(s->end_time_unix_nano, 1764547200223456789ull);
    cr_expect_null(s->status, "SUCCESS is OTLP's unset status");
    expect_str(attr(s, "weft.span.type"), "TRACER");
    expect_str(attr(s, "weft.span.status"), "SUCCESS");
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    free_rec(r);
}

Test(otlp, a_local_trace_uses_the_salt_as_the_low_half_and_a_local_parent)
{
    weft__rec *r = new_rec("child", WEFT_TYPE_EXTERNAL_ENDPOINT);
    r->parent = 0x0102030405060708ull;
    pb_span *s = roundtrip(r, 0xa3ce929d0e0e4736ull);
    char h[33];
    hex(&s->trace_id, h);
    cr_expect_str_eq(h, "4bf92f3577b34da6a3ce929d0e0e4736");
    hex(&s->parent_span_id, h);
    cr_expect_str_eq(h, "0102030405060708");
    cr_expect_eq(s->flags, 0x101u);
    cr_expect_str_eq(s->trace_state, "");
    cr_expect_eq(s->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT);
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    /* A root has no parent id at all. */
    r->parent = 0;
    r->type = WEFT_TYPE_CUSTOM;
    s = roundtrip(r, 1);
    cr_expect_eq(s->parent_span_id.len, 0);
    cr_expect_eq(s->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL);
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    free_rec(r);
}

Test(otlp, an_error_status_carries_its_message)
{
    weft__rec *r = new_rec("call", WEFT_TYPE_CUSTOM);
    r->status = WEFT_STATUS_ERROR;
    set(r, WEFT_METADATA, "error", "{\"type\":\"Timeout\",\"message\":\"upstream took 30 s\"}");
    pb_span *s = roundtrip(r, 1);
    cr_assert_not_null(s->status);
    cr_expect_eq(s->status->code, OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
    cr_expect_str_eq(s->status->message, "upstream took 30 s");
    expect_str(kv_get(attr(s, "metadata.error"), "type"), "Timeout");
    expect_str(attr(s, "weft.span.status"), "ERROR");
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    free_rec(r);
}

Test(otlp, flattens_each_section_key_with_its_json_type)
{
    weft__rec *r = new_rec("s", WEFT_TYPE_CUSTOM);
    set(r, WEFT_INPUT, "text", "\"caf\\u00e9 \\\"q\\\"\"");
    weft__rec_set_str(r, WEFT_INPUT, "typed_str", 9, "plain", 5);
    weft__rec_set_i64(r, WEFT_INPUT, "typed_i64", 9, -7);
    weft__rec_set_f64(r, WEFT_INPUT, "typed_f64", 9, 1.5);
    weft__rec_set_bool(r, WEFT_INPUT, "typed_bool", 10, true);
    set(r, WEFT_INPUT, "count", "-42");
    set(r, WEFT_INPUT, "big", "9223372036854775807");
    set(r, WEFT_OUTPUT, "ratio", "0.25");
    set(r, WEFT_OUTPUT, "exp", "1e3");
    set(r, WEFT_OUTPUT, "ok", "true");
    set(r, WEFT_OUTPUT, "no", "false");
    set(r, WEFT_OUTPUT, "nothing", "null");
    set(r, WEFT_METADATA, "nested", "{\"a\":[1,2.5,{\"b\":true}],\"c\":\"d\"}");
    set(r, WEFT_METADATA, "twice", "1");
    set(r, WEFT_METADATA, "twice", "2");
    set(r, WEFT_METADATA, "gone", "1");
    weft__rec_remove(r, WEFT_METADATA, "gone", 4);
    append(r, WEFT_OUTPUT, "steps", "\"one\"");
    append(r, WEFT_OUTPUT, "steps", "\"two\"");
    pb_span *s = roundtrip(r, 1);
    expect_str(attr(s, "input.text"), "caf\xc3\xa9 \"q\"");
    expect_str(attr(s, "input.typed_str"), "plain");
    const pb_value *t = attr(s, "input.typed_i64");
    cr_assert(t && t->value_case == AVC(INT_VALUE) && t->int_value == -7);
    t = attr(s, "input.typed_f64");
    cr_assert(t && t->value_case == AVC(DOUBLE_VALUE) && t->double_value == 1.5);
    t = attr(s, "input.typed_bool");
    cr_assert(t && t->value_case == AVC(BOOL_VALUE) && t->bool_value);
    const pb_value *v = attr(s, "input.count");
    cr_assert(v && v->value_case == AVC(INT_VALUE));
    cr_expect_eq(v->int_value, -42);
    v = attr(s, "input.big");
    cr_assert(v && v->value_case == AVC(INT_VALUE));
    cr_expect_eq(v->int_value, INT64_MAX);
    v = attr(s, "output.ratio");
    cr_assert(v && v->value_case == AVC(DOUBLE_VALUE));
    cr_expect_eq(v->double_value, 0.25);
    v = attr(s, "output.exp");
    cr_assert(v && v->value_case == AVC(DOUBLE_VALUE));
    cr_expect_eq(v->double_value, 1000.0);
    v = attr(s, "output.ok");
    cr_assert(v && v->value_case == AVC(BOOL_VALUE) && v->bool_value);
    v = attr(s, "output.no");
    cr_assert(v && v->value_case == AVC(BOOL_VALUE) && !v->bool_value);
    v = attr(s, "output.nothing");
    cr_assert(v && v->value_case == AVC(_NOT_SET), "null is an empty AnyValue");
    v = attr(s, "metadata.nested");
    const pb_value *arr = kv_get(v, "a");
    cr_assert(arr && arr->value_case == AVC(ARRAY_VALUE) && arr->array_value->n_values == 3);
    cr_expect_eq(arr->array_value->values[0]->int_value, 1);
    cr_expect_eq(arr->array_value->values[1]->double_value, 2.5);
    const pb_value *b = kv_get(arr->array_value->values[2], "b");
    cr_assert(b && b->value_case == AVC(BOOL_VALUE) && b->bool_value);
    expect_str(kv_get(v, "c"), "d");
    cr_expect_eq(attr_count(s, "metadata.twice"), 1, "a key set twice is one attribute");
    cr_expect_eq(attr(s, "metadata.twice")->int_value, 2);
    cr_expect_null(attr(s, "metadata.gone"));
    v = attr(s, "output.steps");
    cr_assert(v && v->value_case == AVC(ARRAY_VALUE) && v->array_value->n_values == 2);
    expect_str(v->array_value->values[1], "two");
    cr_expect_eq(attr_count(s, "output.steps"), 1);
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    free_rec(r);
}

Test(otlp, repairs_invalid_utf8_in_keys_and_names)
{
    weft__rec *r = new_rec("bad\xff" "name", WEFT_TYPE_CUSTOM);
    set(r, WEFT_INPUT, "k\xfe", "1");
    weft__buf b;
    weft__buf_init(&b);
    weft__encode_opts o = {0};
    unsigned f = weft__otlp_encode_span(&b, r, &o);
    cr_expect(f & WEFT__JSON_REPAIRED);
    const uint8_t *sp;
    size_t sl;
    cr_assert(weft__otlp_item_span(b.data, b.len, &sp, &sl));
    pb_span *s = opentelemetry__proto__trace__v1__span__unpack(NULL, sl, sp);
    cr_assert_not_null(s);
    cr_expect_str_eq(s->name, "bad\xef\xbf\xbdname");
    cr_expect_not_null(attr(s, "input.k\xef\xbf\xbd"));
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    weft__buf_fini(&b);
    free_rec(r);
}

Test(otlp, maps_generation_usage_and_messages_to_genai_attributes)
{
    weft__rec *r = new_rec("llm", WEFT_TYPE_COMPLETION);
    r->has_usage = true;
    r->input_tokens = 812;
    r->output_tokens = 64;
    set(r, WEFT_METADATA, "model", "\"gpt-4o-mini\"");
    append(r, WEFT_INPUT, "messages", "{\"role\":\"system\",\"content\":\"Be brief.\"}");
    append(r, WEFT_INPUT, "messages", "{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"call_1\"}");
    append(r, WEFT_OUTPUT, "messages", "{\"role\":\"assistant\",\"content\":\"The answer is 42.\",\"name\":\"bot\"}");
    pb_span *s = roundtrip(r, 1);
    expect_str(attr(s, "gen_ai.operation.name"), "chat");
    expect_str(attr(s, "gen_ai.request.model"), "gpt-4o-mini");
    cr_expect_eq(attr(s, "gen_ai.usage.input_tokens")->int_value, 812);
    cr_expect_eq(attr(s, "gen_ai.usage.output_tokens")->int_value, 64);
    const pb_value *in = attr(s, "gen_ai.input.messages");
    cr_assert(in && in->value_case == AVC(ARRAY_VALUE) && in->array_value->n_values == 2);
    const pb_value *m0 = in->array_value->values[0];
    expect_str(kv_get(m0, "role"), "system");
    const pb_value *parts = kv_get(m0, "parts");
    cr_assert(parts && parts->value_case == AVC(ARRAY_VALUE) && parts->array_value->n_values == 1);
    expect_str(kv_get(parts->array_value->values[0], "type"), "text");
    expect_str(kv_get(parts->array_value->values[0], "content"), "Be brief.");
    const pb_value *p1 = kv_get(in->array_value->values[1], "parts")->array_value->values[0];
    expect_str(kv_get(p1, "type"), "tool_call_response");
    expect_str(kv_get(p1, "id"), "call_1");
    expect_str(kv_get(p1, "response"), "42");
    const pb_value *out = attr(s, "gen_ai.output.messages");
    cr_assert(out && out->array_value->n_values == 1);
    expect_str(kv_get(out->array_value->values[0], "role"), "assistant");
    expect_str(kv_get(out->array_value->values[0], "name"), "bot");
    /* The weft fields stay beside them. */
    cr_expect_not_null(attr(s, "input.messages"));
    expect_str(attr(s, "metadata.model"), "gpt-4o-mini");
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    free_rec(r);
}

Test(otlp, maps_retrieval_to_genai_attributes)
{
    weft__rec *r = new_rec("retrieve", WEFT_TYPE_KB_RETRIEVAL);
    weft__rec_set_str(r, WEFT_INPUT, "query", 5, "what is weft", 12);
    weft__rec_set_i64(r, WEFT_INPUT, "top_k", 5, 5);
    set(r, WEFT_OUTPUT, "hits",
        "[{\"doc_id\":\"d1\",\"rank\":1,\"score\":0.9},{\"doc_id\":\"d2\",\"rank\":2,\"score\":1}]");
    pb_span *s = roundtrip(r, 1);
    expect_str(attr(s, "gen_ai.operation.name"), "retrieval");
    expect_str(attr(s, "gen_ai.retrieval.query.text"), "what is weft");
    const pb_value *k = attr(s, "gen_ai.request.top_k");
    cr_assert(k && k->value_case == AVC(DOUBLE_VALUE));
    cr_expect_eq(k->double_value, 5.0);
    const pb_value *d = attr(s, "gen_ai.retrieval.documents");
    cr_assert(d && d->value_case == AVC(ARRAY_VALUE) && d->array_value->n_values == 2);
    expect_str(kv_get(d->array_value->values[0], "id"), "d1");
    const pb_value *sc = kv_get(d->array_value->values[1], "score");
    cr_assert(sc && sc->value_case == AVC(DOUBLE_VALUE), "scores are doubles");
    cr_expect_eq(sc->double_value, 1.0);
    cr_expect_null(attr(s, "gen_ai.request.model"));
    cr_expect_null(attr(s, "gen_ai.usage.input_tokens"));
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    free_rec(r);
}

Test(otlp, a_request_wraps_the_spans_in_the_resource_and_scope)
{
    size_t bad = 99;
    weft__otlp_resource *res =
        weft__otlp_resource_new("checkout", "deployment.environment=prod, team=a%2Cb%20c,broken,=x,k=%zz", &bad);
    cr_assert_not_null(res);
    cr_expect_eq(bad, 3);
    cr_expect_str_eq(weft__otlp_resource_service(res), "checkout");
    weft__rec *r1 = new_rec("one", WEFT_TYPE_CUSTOM), *r2 = new_rec("two", WEFT_TYPE_CUSTOM);
    r2->id = 77;
    weft__buf b;
    weft__buf_init(&b);
    weft__encode_opts o = {0};
    weft__otlp_encode_span(&b, r1, &o);
    weft__otlp_encode_span(&b, r2, &o);
    weft__buf req;
    weft__buf_init(&req);
    cr_assert(weft__otlp_request(&req, res, b.data, b.len));
    cr_expect_not(weft__otlp_request(&req, res, b.data, b.len - 1), "a cut item is refused");
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *q =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, req.len,
                                                                                          (const uint8_t *)req.data);
    cr_assert_not_null(q);
    cr_assert_eq(q->n_resource_spans, 1);
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = q->resource_spans[0];
    cr_assert_not_null(rs->resource);
    pb_kv **ra = rs->resource->attributes;
    cr_assert_eq(rs->resource->n_attributes, 5);
    cr_expect_str_eq(ra[0]->key, "service.name");
    expect_str(ra[0]->value, "checkout");
    cr_expect_str_eq(ra[1]->key, "telemetry.sdk.name");
    expect_str(ra[1]->value, "weft");
    cr_expect_str_eq(ra[2]->key, "telemetry.sdk.version");
    expect_str(ra[2]->value, WEFT_VERSION_STRING);
    cr_expect_str_eq(ra[3]->key, "deployment.environment");
    expect_str(ra[3]->value, "prod");
    cr_expect_str_eq(ra[4]->key, "team");
    expect_str(ra[4]->value, "a,b c");
    cr_assert_eq(rs->n_scope_spans, 1);
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[0];
    cr_expect_str_eq(ss->scope->name, "weft");
    cr_expect_str_eq(ss->scope->version, WEFT_VERSION_STRING);
    cr_expect_str_eq(ss->schema_url, "https://opentelemetry.io/schemas/" WEFT__OTLP_SEMCONV_VERSION);
    cr_assert_eq(ss->n_spans, 2, "the pre-encoded spans decode as ScopeSpans.spans");
    cr_expect_str_eq(ss->spans[0]->name, "one");
    cr_expect_str_eq(ss->spans[1]->name, "two");
    char h[17];
    hex(&ss->spans[1]->span_id, h);
    cr_expect_str_eq(h, "000000000000004d");
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(q, NULL);
    /* The same request as prefix + the slice in place + suffix. */
    uint8_t prefix[256], suffix[512];
    size_t slen = 0, plen = weft__otlp_frame(res, b.len, prefix, suffix, &slen);
    cr_assert_leq(plen, weft__otlp_frame_prefix_len(res, b.len));
    weft__buf framed;
    weft__buf_init(&framed);
    weft__buf_append(&framed, prefix, plen);
    weft__buf_append(&framed, b.data, b.len);
    weft__buf_append(&framed, suffix, slen);
    q = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, framed.len,
                                                                                         (const uint8_t *)framed.data);
    cr_assert_not_null(q, "prefix + slice + suffix decodes");
    cr_assert_eq(q->n_resource_spans, 1);
    cr_expect_eq(q->resource_spans[0]->resource->n_attributes, 5);
    cr_expect_str_eq(q->resource_spans[0]->resource->attributes[4]->value->string_value, "a,b c");
    cr_assert_eq(q->resource_spans[0]->n_scope_spans, 1);
    cr_expect_str_eq(q->resource_spans[0]->scope_spans[0]->scope->name, "weft");
    cr_expect_str_eq(q->resource_spans[0]->scope_spans[0]->schema_url, WEFT__OTLP_SCHEMA_URL);
    cr_assert_eq(q->resource_spans[0]->scope_spans[0]->n_spans, 2);
    cr_expect_str_eq(q->resource_spans[0]->scope_spans[0]->spans[1]->name, "two");
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(q, NULL);
    weft__buf_fini(&framed);
    weft__buf_fini(&req);
    weft__buf_fini(&b);
    free_rec(r1);
    free_rec(r2);
    weft__otlp_resource_free(res);
}

Test(otlp, service_name_comes_from_the_attributes_or_defaults)
{
    weft__otlp_resource *res = weft__otlp_resource_new(NULL, "service.name=from-attrs", NULL);
    cr_expect_str_eq(weft__otlp_resource_service(res), "from-attrs");
    weft__otlp_resource_free(res);
    res = weft__otlp_resource_new("env-wins", "service.name=from-attrs", NULL);
    cr_expect_str_eq(weft__otlp_resource_service(res), "env-wins");
    weft__otlp_resource_free(res);
    res = weft__otlp_resource_new("", NULL, NULL);
    cr_expect_str_eq(weft__otlp_resource_service(res), "unknown_service");
    weft__otlp_resource_free(res);
}

Test(otlp, gzip_bodies_inflate_to_the_request)
{
    const char text[] = "a protobuf body would go here, repeated repeated repeated repeated";
    weft__buf gz;
    weft__buf_init(&gz);
    cr_assert(weft__otlp_gzip(&gz, text, sizeof text));
    cr_expect_eq((unsigned char)gz.data[0], 0x1f);
    cr_expect_eq((unsigned char)gz.data[1], 0x8b);
    char out[256];
    z_stream z;
    memset(&z, 0, sizeof z);
    cr_assert_eq(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    z.next_in = (Bytef *)gz.data;
    z.avail_in = (uInt)gz.len;
    z.next_out = (Bytef *)out;
    z.avail_out = sizeof out;
    cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    cr_expect_eq(sizeof out - z.avail_out, sizeof text);
    cr_expect_eq(memcmp(out, text, sizeof text), 0);
    inflateEnd(&z);
    weft__buf_fini(&gz);
}

Test(otlp, reads_partial_success_from_a_response)
{
    Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
    ps.rejected_spans = 3;
    ps.error_message = "3 spans too old\n";
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse resp =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
    resp.partial_success = &ps;
    uint8_t buf[128];
    size_t n = opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(&resp, buf);
    int64_t rej = -1;
    char msg[64];
    cr_assert(weft__otlp_response_parse(buf, n, &rej, msg, sizeof msg));
    cr_expect_eq(rej, 3);
    cr_expect_str_eq(msg, "3 spans too old?", "control characters do not reach the log");
    cr_assert(weft__otlp_response_parse(NULL, 0, &rej, msg, sizeof msg));
    cr_expect_eq(rej, 0);
    cr_expect_str_eq(msg, "");
    static const uint8_t garbage[] = {0x0a, 0x7f, 0x01};
    cr_expect_not(weft__otlp_response_parse(garbage, sizeof garbage, &rej, msg, sizeof msg));
}

Test(otlp, gzip_of_pieces_inflates_to_their_concatenation)
{
    /* A prefix, an empty piece, 300 KiB of varied bytes and a suffix: one gzip stream. */
    size_t big = 300u << 10;
    char *mid = malloc(big);
    cr_assert(mid);
    uint32_t x = 12345;
    for (size_t i = 0; i < big; i++) {
        x = x * 1103515245u + 12345u;
        mid[i] = (char)(i % 7 ? 'a' + (x >> 24) % 5 : (x >> 16));
    }
    const void *in[4] = {"prefix", "", mid, "suffix"};
    size_t n[4] = {6, 0, big, 6};
    weft__buf gz;
    weft__buf_init(&gz);
    weft__buf_append(&gz, "keep", 4); /* appended after what out held */
    cr_assert(weft__otlp_gzipv(&gz, in, n, 4));
    cr_expect_eq(memcmp(gz.data, "keep", 4), 0);
    size_t want = 6 + big + 6;
    char *out = malloc(want + 16);
    cr_assert(out);
    z_stream z;
    memset(&z, 0, sizeof z);
    cr_assert_eq(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
    z.next_in = (Bytef *)gz.data + 4;
    z.avail_in = (uInt)(gz.len - 4);
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)(want + 16);
    cr_assert_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
    cr_expect_eq(z.total_out, want);
    cr_expect_eq(memcmp(out, "prefix", 6), 0);
    cr_expect_eq(memcmp(out + 6, mid, big), 0);
    cr_expect_eq(memcmp(out + 6 + big, "suffix", 6), 0);
    inflateEnd(&z);
    free(out);
    free(mid);
    weft__buf_fini(&gz);
}
