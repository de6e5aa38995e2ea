/*
 * test_otlp_span.c — the hand-written Span writer (src/codec/otlp_span.c, otlp_value.c,
 * pb_wire.h) against hand-written expected bytes: a whole small span, each kind of attribute
 * value, repeated and empty JSON keys, the JSON jansson refuses, deep nesting, lengths that
 * need two and three bytes; metadata.events as Span.events; and byte-for-byte agreement with
 * the reference encoder it replaced (tests/support/otlp_ref.c) on records of every shape.
 * tests/codec/test_otlp.c checks the mapping through protobuf-c's decoder; tests/fuzz/
 * fuzz_otlp_span.c compares the two encoders on arbitrary records.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "otlp.h"
#include "otlp_ref.h"
#include "pb_wire.h"

#include "opentelemetry/proto/trace/v1/trace.pb-c.h"

typedef Opentelemetry__Proto__Trace__V1__Span pb_span;
#define AVC(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x

static weft__rec *new_rec(const char *name, uint32_t type)
{
    weft__rec *r = malloc(sizeof *r);
    weft__rec_init(r);
    r->trace = 0x0102030405060708ull;
    r->id = 0x2122232425262728ull;
    r->type = type;
    r->start_ns = 1;
    r->end_ns = 2;
    weft__buf_append(&r->name, name, strlen(name));
    return r;
}

static void free_rec(weft__rec *r)
{
    weft__rec_fini(r);
    free(r);
}

static void set(weft__rec *r, weft_section sec, const char *key, const char *json)
{
    weft__rec_set(r, sec, key, strlen(key), json, strlen(json));
}

static void append(weft__rec *r, weft_section sec, const char *key, const char *json)
{
    weft__rec_append(r, sec, key, strlen(key), json, strlen(json));
}

static const weft__encode_opts opts = {.salt = 0x1112131415161718ull};

/* r's item from the writer, asserted to be one item that the reference writes identically. */
static void encode(const weft__rec *r, weft__buf *b)
{
    weft__buf_init(b);
    weft__otlp_encode_span(b, r, &opts);
    cr_assert_not(b->oom);
    weft__buf ref;
    weft__buf_init(&ref);
    weft_otlp_ref_encode_span(&ref, r, &opts);
    cr_assert_eq(b->len, ref.len, "writer %zu bytes, reference %zu", b->len, ref.len);
    cr_assert_eq(memcmp(b->data, ref.data, b->len), 0, "the writer's bytes are the reference's");
    weft__buf_fini(&ref);
}

static bool contains(const weft__buf *b, const void *want, size_t n)
{
    return n <= b->len && memmem(b->data, b->len, want, n) != NULL;
}

#define EXPECT_HAS(b, lit) cr_expect(contains((b), (lit), sizeof(lit) - 1), "missing bytes " #lit)

static pb_span *unpack(const weft__buf *b)
{
    const uint8_t *sp;
    size_t sl;
    cr_assert(weft__otlp_item_span(b->data, b->len, &sp, &sl));
    cr_assert_eq(sp + sl, (const uint8_t *)b->data + b->len);
    pb_span *s = opentelemetry__proto__trace__v1__span__unpack(NULL, sl, sp);
    cr_assert_not_null(s);
    return s;
}

static const Opentelemetry__Proto__Common__V1__AnyValue *attr(const pb_span *s, const char *key)
{
    for (size_t i = 0; i < s->n_attributes; i++)
        if (strcmp(s->attributes[i]->key, key) == 0)
            return s->attributes[i]->value;
    return NULL;
}

Test(otlp_span, writes_a_small_span_exactly)
{
    weft__rec *r = new_rec("op", WEFT_TYPE_CUSTOM);
    weft__buf b;
    encode(r, &b);
    static const char want[] =
        "\x12\x75"                                                             /* spans, 117 bytes */
        "\x0a\x10\x01\x02\x03\x04\x05\x06\x07\x08\x11\x12\x13\x14\x15\x16\x17\x18" /* trace_id */
        "\x12\x08\x21\x22\x23\x24\x25\x26\x27\x28"                             /* span_id */
        "\x2a\x02" "op"                                                        /* name */
        "\x30\x01"                                                             /* kind INTERNAL */
        "\x39\x01\x00\x00\x00\x00\x00\x00\x00"                                 /* start */
        "\x41\x02\x00\x00\x00\x00\x00\x00\x00"                                 /* end */
        "\x4a\x1a\x0a\x0e" "weft.span.type" "\x12\x08\x0a\x06" "CUSTOM"       /* attributes */
        "\x4a\x1d\x0a\x10" "weft.span.status" "\x12\x09\x0a\x07" "SUCCESS"
        "\x85\x01\x01\x01\x00\x00"; /* flags: sampled, parent known not remote */
    cr_assert_eq(b.len, sizeof want - 1);
    cr_expect_eq(memcmp(b.data, want, b.len), 0);
    weft__buf_fini(&b);
    free_rec(r);
}

Test(otlp_span, writes_parent_trace_state_status_and_no_zero_times)
{
    weft__rec *r = new_rec("op", WEFT_TYPE_COMPLETION);
    r->remote_parent = 0x3132333435363738ull;
    r->start_ns = r->end_ns = 0;
    r->status = WEFT_STATUS_ERROR;
    weft__buf_append(&r->tracestate, "k=v", 3);
    set(r, WEFT_METADATA, "error", "{\"message\":\"boom\"}");
    weft__buf b;
    encode(r, &b);
    EXPECT_HAS(&b, "\x1a\x03k=v\x22\x08\x31\x32\x33\x34\x35\x36\x37\x38\x2a\x02op\x30\x02\x4a");
    /* Status { message "boom", code ERROR } right before flags 0x301 (parent remote). */
    EXPECT_HAS(&b, "\x7a\x08\x12\x04" "boom" "\x18\x02\x85\x01\x01\x03\x00\x00");
    pb_span *s = unpack(&b);
    cr_expect_eq(s->start_time_unix_nano, 0);
    cr_expect_eq(s->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    weft__buf_fini(&b);
    free_rec(r);
}

Test(otlp_span, writes_each_kind_of_value)
{
    weft__rec *r = new_rec("op", WEFT_TYPE_CUSTOM);
    weft__rec_set_str(r, WEFT_INPUT, "s", 1, "v", 1);
    weft__rec_set_i64(r, WEFT_OUTPUT, "i", 1, -1);
    weft__rec_set_f64(r, WEFT_OUTPUT, "d", 1, 2.5);
    weft__rec_set_bool(r, WEFT_OUTPUT, "b", 1, false);
    set(r, WEFT_METADATA, "j", "{\"a\":1,\"\":true,\"a\":[2.5,null]}");
    set(r, WEFT_METADATA, "e", "");
    append(r, WEFT_INPUT, "m", "1");
    append(r, WEFT_INPUT, "m", "\"x\"");
    weft__buf b;
    encode(r, &b);
    EXPECT_HAS(&b, "\x4a\x0e\x0a\x07" "input.s" "\x12\x03\x0a\x01v");
    /* -1 as a varint takes ten bytes. */
    EXPECT_HAS(&b, "\x4a\x17\x0a\x08" "output.i" "\x12\x0b\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01");
    EXPECT_HAS(&b, "\x4a\x15\x0a\x08" "output.d" "\x12\x09\x21\x00\x00\x00\x00\x00\x00\x04\x40");
    /* false is written: a oneof member has presence. */
    EXPECT_HAS(&b, "\x4a\x0e\x0a\x08" "output.b" "\x12\x02\x10\x00");
    /* The repeated key keeps its first place and its last value; the empty key is left out. */
    EXPECT_HAS(&b, "\x4a\x2c\x0a\x0a" "metadata.j" "\x12\x1e\x32\x1c"
                   "\x0a\x14\x0a\x01" "a" "\x12\x0f\x2a\x0d\x0a\x09\x21\x00\x00\x00\x00\x00\x00\x04\x40\x0a\x00"
                   "\x0a\x04\x12\x02\x10\x01");
    EXPECT_HAS(&b, "\x4a\x0e\x0a\x0a" "metadata.e" "\x12\x00"); /* "" is the empty AnyValue */
    /* Appends gathered into one array. */
    EXPECT_HAS(&b, "\x4a\x16\x0a\x07" "input.m" "\x12\x0b\x2a\x09\x0a\x02\x18\x01\x0a\x03\x0a\x01x");
    weft__buf_fini(&b);
    free_rec(r);
}

Test(otlp_span, reads_json_as_jansson_did)
{
    weft__rec *r = new_rec("op", WEFT_TYPE_CUSTOM);
    set(r, WEFT_INPUT, "big", "99999999999999999999");      /* a top-level number: strtod */
    set(r, WEFT_INPUT, "nbig", "[99999999999999999999]");   /* nested: jansson refused it */
    set(r, WEFT_INPUT, "inf", "1e999");                     /* a top-level double: infinity */
    set(r, WEFT_INPUT, "ninf", "[1e999]");                  /* nested: refused */
    set(r, WEFT_INPUT, "nulkey", "{\"a\\u0000\":1}");        /* refused: NUL in a key */
    set(r, WEFT_INPUT, "nul", "\"a\\u0000b\"");              /* kept, NUL and all */
    set(r, WEFT_INPUT, "esc", " \"\\u00e9\\ud83d\\ude00\\n\" ");
    weft__buf b;
    weft__buf_init(&b);
    weft__otlp_encode_span(&b, r, &opts);
    cr_assert_not(b.oom);
    EXPECT_HAS(&b, "\x0a\x09" "input.big" "\x12\x09\x21\x40\x8c\xb5\x78\x1d\xaf\x15\x44");
    EXPECT_HAS(&b, "\x0a\x0a" "input.nbig" "\x12\x18\x0a\x16" "[99999999999999999999]");
    EXPECT_HAS(&b, "\x0a\x09" "input.inf" "\x12\x09\x21\x00\x00\x00\x00\x00\x00\xf0\x7f");
    EXPECT_HAS(&b, "\x0a\x0a" "input.ninf" "\x12\x09\x0a\x07" "[1e999]");
    EXPECT_HAS(&b, "\x0a\x0c" "input.nulkey" "\x12\x0f\x0a\x0d" "{\"a\\u0000\":1}");
    EXPECT_HAS(&b, "\x0a\x09" "input.nul" "\x12\x05\x0a\x03" "a\0b");
    EXPECT_HAS(&b, "\x0a\x09" "input.esc" "\x12\x09\x0a\x07" "\xc3\xa9\xf0\x9f\x98\x80\n");
    /* Apart from the NUL, which protobuf-c's packer cut, the reference agrees. */
    weft__buf ref;
    weft__buf_init(&ref);
    weft_otlp_ref_encode_span(&ref, r, &opts);
    cr_expect_eq(b.len, ref.len + 2);
    EXPECT_HAS(&ref, "\x0a\x09" "input.nul" "\x12\x03\x0a\x01" "a");
    weft__buf_fini(&ref);
    weft__buf_fini(&b);
    free_rec(r);
}

Test(otlp_span, writes_values_nested_past_32_levels_as_their_text)
{
    weft__rec *r = new_rec("op", WEFT_TYPE_CUSTOM);
    /* 34 arrays: the one at depth 32 (its top is 0) and what it holds become the text "[[1]]". */
    char deep[80] = "";
    for (int i = 0; i < 34; i++)
        strcat(deep, "[");
    strcat(deep, "1");
    for (int i = 0; i < 34; i++)
        strcat(deep, "]");
    set(r, WEFT_METADATA, "deep", deep);
    /* 40 members: past the writer's own repeated-key check, jansson's order and values. */
    char many[400] = "{";
    for (int i = 0; i < 40; i++)
        sprintf(many + strlen(many), "%s\"k%d\":%d", i ? "," : "", i % 37, i);
    strcat(many, "}");
    set(r, WEFT_METADATA, "many", many);
    weft__buf b;
    encode(r, &b);
    EXPECT_HAS(&b, "\x0a\x05" "[[1]]");
    pb_span *s = unpack(&b);
    const Opentelemetry__Proto__Common__V1__AnyValue *v = attr(s, "metadata.deep");
    for (int i = 0; i < 32; i++) {
        cr_assert(v && v->value_case == AVC(ARRAY_VALUE) && v->array_value->n_values == 1);
        v = v->array_value->values[0];
    }
    cr_assert_eq(v->value_case, AVC(STRING_VALUE));
    cr_expect_str_eq(v->string_value, "[[1]]");
    v = attr(s, "metadata.many");
    cr_assert(v && v->value_case == AVC(KVLIST_VALUE));
    cr_assert_eq(v->kvlist_value->n_values, 37, "k0, k1 and k2 given twice");
    cr_expect_str_eq(v->kvlist_value->values[0]->key, "k0");
    cr_expect_eq(v->kvlist_value->values[0]->value->int_value, 37, "the last value of a repeated key");
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    weft__buf_fini(&b);
    free_rec(r);
}

Test(otlp_span, lengths_take_as_many_bytes_as_they_need)
{
    weft__rec *r = new_rec("op", WEFT_TYPE_CUSTOM);
    char v200[201], json[400];
    memset(v200, 'x', 200);
    v200[200] = '\0';
    weft__rec_set_str(r, WEFT_INPUT, "s", 1, v200, 200);
    /* A JSON string of 300 bytes of text that decodes to 150: its length is written after. */
    strcpy(json, "\"");
    for (int i = 0; i < 50; i++)
        strcat(json, "\\u00e9a");
    strcat(json, "\"");
    set(r, WEFT_INPUT, "j", json);
    weft__buf b;
    encode(r, &b);
    /* 200 bytes: the string's length is two bytes (0xc8 0x01), so are the value's and KeyValue's. */
    EXPECT_HAS(&b, "\x4a\xd7\x01\x0a\x07" "input.s" "\x12\xcb\x01\x0a\xc8\x01" "xxxx");
    EXPECT_HAS(&b, "\x0a\x07" "input.j" "\x12\x99\x01\x0a\x96\x01\xc3\xa9" "a");
    cr_expect_eq((uint8_t)b.data[1] & 0x80, 0x80, "the span's length takes two bytes");
    weft__buf_fini(&b);
    /* A span over 16 KiB: three bytes of length. */
    char *big = malloc(20000);
    memset(big, 'y', 20000);
    weft__rec_set_str(r, WEFT_OUTPUT, "big", 3, big, 20000);
    free(big);
    encode(r, &b);
    const uint8_t *sp;
    size_t sl;
    cr_assert(weft__otlp_item_span(b.data, b.len, &sp, &sl));
    cr_expect_eq(sp - (const uint8_t *)b.data, 4, "tag and three bytes");
    cr_expect_gt(sl, 20000);
    weft__buf_fini(&b);
    free_rec(r);
}

Test(otlp_span, pb_close_moves_a_body_whose_length_needs_fewer_bytes)
{
    weft__buf b;
    weft__buf_init(&b);
    size_t at = weft__pb_open(&b, 0x12, 3);
    weft__buf_append(&b, "abc", 3);
    cr_assert(weft__pb_close(&b, at, 3));
    cr_assert_eq(b.len, 5);
    cr_expect_eq(memcmp(b.data, "\x12\x03" "abc", 5), 0);
    cr_expect_eq(weft__pb_varint_len(0), 1);
    cr_expect_eq(weft__pb_varint_len(127), 1);
    cr_expect_eq(weft__pb_varint_len(128), 2);
    cr_expect_eq(weft__pb_varint_len(16383), 2);
    cr_expect_eq(weft__pb_varint_len(16384), 3);
    cr_expect_eq(weft__pb_varint_len(UINT64_MAX), 10);
    weft__buf_fini(&b);
}

/* What weft_span_add_event appends (src/assemble/rag_map.c). */
static const char ev1[] = "{\"name\":\"first_token\",\"timestamp\":\"2026-12-01T22:37:52.703111Z\",\"attributes\":{}}";
static const char ev2[] = "{\"name\":\"retry\",\"timestamp\":\"2026-12-01T22:37:53.000001Z\","
                          "\"attributes\":{\"attempt\":2,\"why\":\"503\",\"cfg\":{\"t\":0.5}}}";

Test(otlp_span, span_events_become_otlp_events)
{
    weft__rec *r = new_rec("op", WEFT_TYPE_COMPLETION);
    weft__rec_set_str(r, WEFT_METADATA, "user", 4, "u", 1);
    append(r, WEFT_METADATA, "events", ev1);
    append(r, WEFT_METADATA, "events", ev2);
    weft__buf b;
    encode(r, &b);
    /* Event { time_unix_nano, name } for the first: 1796164672703111000 ns. */
    EXPECT_HAS(&b, "\x5a\x16\x09\x58\x1f\x93\xda\x40\x42\xed\x18\x12\x0b" "first_token");
    pb_span *s = unpack(&b);
    cr_expect_null(attr(s, "metadata.events"), "the events are not an attribute as well");
    cr_expect_not_null(attr(s, "metadata.user"));
    cr_assert_eq(s->n_events, 2);
    cr_expect_eq(s->events[0]->time_unix_nano, UINT64_C(1796164672703111000));
    cr_expect_str_eq(s->events[0]->name, "first_token");
    cr_expect_eq(s->events[0]->n_attributes, 0);
    cr_expect_eq(s->events[1]->time_unix_nano, UINT64_C(1796164673000001000));
    cr_expect_str_eq(s->events[1]->name, "retry");
    cr_assert_eq(s->events[1]->n_attributes, 3);
    cr_expect_str_eq(s->events[1]->attributes[0]->key, "attempt");
    cr_expect_eq(s->events[1]->attributes[0]->value->int_value, 2);
    cr_expect_str_eq(s->events[1]->attributes[1]->value->string_value, "503");
    cr_expect_eq(s->events[1]->attributes[2]->value->value_case, AVC(KVLIST_VALUE));
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    weft__buf_fini(&b);
    free_rec(r);
}

Test(otlp_span, an_events_array_set_by_the_caller_maps_the_same)
{
    weft__rec *r = new_rec("op", WEFT_TYPE_CUSTOM);
    char arr[512];
    snprintf(arr, sizeof arr, "[%s, %s]", ev2, ev1);
    set(r, WEFT_METADATA, "events", arr);
    weft__buf b;
    encode(r, &b);
    pb_span *s = unpack(&b);
    cr_assert_eq(s->n_events, 2);
    cr_expect_str_eq(s->events[0]->name, "retry");
    cr_expect_str_eq(s->events[1]->name, "first_token");
    cr_expect_null(attr(s, "metadata.events"));
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    weft__buf_fini(&b);
    free_rec(r);
}

Test(otlp_span, events_that_are_not_all_events_stay_an_attribute)
{
    static const char *const not_events[] = {
        "{\"name\":\"x\",\"timestamp\":\"yesterday\"}",                    /* not ISO 8601 */
        "{\"name\":\"x\"}",                                                 /* no time */
        "{\"name\":1,\"timestamp\":\"2026-12-01T22:37:52Z\"}",              /* a name that is not text */
        "{\"name\":\"x\",\"timestamp\":\"2026-12-01T22:37:52Z\",\"attributes\":\"text\"}",
        "{\"name\":\"x\",\"timestamp\":\"2026-12-01T22:37:52Z\",\"level\":3}", /* another member */
        "[1]",
    };
    for (size_t i = 0; i < sizeof not_events / sizeof not_events[0]; i++) {
        weft__rec *r = new_rec("op", WEFT_TYPE_CUSTOM);
        append(r, WEFT_METADATA, "events", ev1);
        append(r, WEFT_METADATA, "events", not_events[i]);
        weft__buf b;
        encode(r, &b);
        pb_span *s = unpack(&b);
        cr_expect_eq(s->n_events, 0, "case %zu", i);
        const Opentelemetry__Proto__Common__V1__AnyValue *v = attr(s, "metadata.events");
        cr_assert(v && v->value_case == AVC(ARRAY_VALUE) && v->array_value->n_values == 2, "case %zu", i);
        opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
        weft__buf_fini(&b);
        free_rec(r);
    }
    /* metadata.events set to something else than an array. */
    weft__rec *r = new_rec("op", WEFT_TYPE_CUSTOM);
    weft__rec_set_str(r, WEFT_METADATA, "events", 6, "none", 4);
    weft__buf b;
    encode(r, &b);
    pb_span *s = unpack(&b);
    cr_expect_eq(s->n_events, 0);
    cr_expect_str_eq(attr(s, "metadata.events")->string_value, "none");
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    weft__buf_fini(&b);
    free_rec(r);
}

Test(otlp_span, agrees_with_the_reference_on_the_mapping_s_records)
{
    /* The records of tests/codec/test_otlp.c and more: GenAI fields, repeats, removes,
     * repairs, a record with more than 32 entries. */
    weft__rec *r = new_rec("llm\xff", WEFT_TYPE_COMPLETION);
    r->parent = 5;
    r->has_usage = true;
    r->input_tokens = 812;
    r->output_tokens = -3;
    r->status = 7;
    set(r, WEFT_METADATA, "model", "\"gpt-4o-mini\"");
    set(r, WEFT_METADATA, "model_used", "\"other\"");
    append(r, WEFT_INPUT, "messages", "{\"role\":\"system\",\"content\":\"Be brief.\"}");
    append(r, WEFT_INPUT, "messages", "{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"call_1\"}");
    set(r, WEFT_OUTPUT, "messages", "[{\"role\":\"assistant\",\"content\":\"ok\",\"name\":\"bot\"}]");
    weft__rec_set_str(r, WEFT_INPUT, "query", 5, "what is weft", 12);
    set(r, WEFT_INPUT, "top_k", " 5 ");
    set(r, WEFT_OUTPUT, "hits", "[{\"doc_id\":\"d1\",\"rank\":1,\"score\":0.9},{\"doc_id\":\"d2\",\"score\":1}]");
    set(r, WEFT_METADATA, "error", "{\"type\":\"Timeout\",\"message\":\"upstream took 30 s\"}");
    set(r, WEFT_METADATA, "twice", "1");
    set(r, WEFT_METADATA, "twice", "2");
    set(r, WEFT_METADATA, "gone", "1");
    weft__rec_remove(r, WEFT_METADATA, "gone", 4);
    set(r, WEFT_INPUT, "k\xfe", "1");
    weft__buf b;
    encode(r, &b);
    weft__buf_fini(&b);
    for (int i = 0; i < 40; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%d", i % 33);
        weft__rec_set_i64(r, (weft_section)(i % 3), k, strlen(k), i);
        if (i % 5 == 0)
            append(r, WEFT_OUTPUT, "log", "{\"i\":1}");
    }
    encode(r, &b);
    pb_span *s = unpack(&b);
    cr_expect_str_eq(s->name, "llm\xef\xbf\xbd");
    cr_expect_not_null(attr(s, "gen_ai.request.top_k"));
    cr_expect_str_eq(attr(s, "gen_ai.request.model")->string_value, "gpt-4o-mini");
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    weft__buf_fini(&b);
    free_rec(r);
}

Test(otlp_span, doubles_read_without_strtod_are_strtod_s)
{
    /* Short decimals take the exact fast path, the rest strtod; both must be what jansson
     * (strtod) read, top-level and nested. */
    static const char *const nums[] = {"0.1", "0.3", "-0.0", "0.066246", "123456789012345e-22", "999999999999999e22",
                                       "1e22", "1e23", "1.5e-7", "8.98846567431158e307", "4.9e-324",
                                       "2.2250738585072014e-308", "1.7976931348623157e308", "0.000000000000000000000001",
                                       "7.0e0", "12345.678901234", "1234567890123456.5"};
    weft__rec *r = new_rec("op", WEFT_TYPE_CUSTOM);
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
        char key[16], arr[64];
        snprintf(key, sizeof key, "n%zu", i);
        set(r, WEFT_INPUT, key, nums[i]);
        snprintf(arr, sizeof arr, "[%s]", nums[i]);
        set(r, WEFT_OUTPUT, key, arr);
    }
    weft__buf b;
    encode(r, &b);
    pb_span *s = unpack(&b);
    const Opentelemetry__Proto__Common__V1__AnyValue *v = attr(s, "input.n3");
    cr_assert(v && v->value_case == AVC(DOUBLE_VALUE));
    cr_expect_eq(v->double_value, strtod("0.066246", NULL));
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    weft__buf_fini(&b);
    free_rec(r);
}

Test(otlp_span, a_root_s_summary_from_its_numbers_is_the_key_value_list_its_text_reads_into)
{
    /* Durations on and off whole milliseconds and around 2^53 ns; counts up to and past 18
     * digits, negative too; costs integral, tiny, huge, -0, NaN and infinite. Each root's
     * summary, written from its numbers, against the same summary stored as its JSON text
     * (weft__rec_summary_to_entry), which the writer reads through otlp_value.c. */
    static const uint64_t durs[] = {0, 1, 999999, 1000000, 2500000, 123456789, 86400000000000ull,
                                    (1ull << 53) - 1, 1ull << 53, UINT64_MAX};
    static const int64_t toks[] = {0, 7, -3, 999999999999999999, 1000000000000000000, -999999999999999999,
                                   INT64_MAX, INT64_MIN};
    static const double costs[] = {0.0, -0.0, 0.25, 1e-7, 3.0, -2.0, 1.0 / 3.0, 9007199254740991.0,
                                   9007199254740994.0, 1e300, -1e-300, 0.1 + 0.2, NAN, INFINITY};
    uint64_t x = 0x243f6a8885a308d3ull;
    for (int i = 0; i < 3000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        weft__summary_val v;
        memset(&v, 0, sizeof v);
        v.duration_ns = i % 3 ? durs[x % 10] : x >> 20;
        v.n.spans = (uint32_t)(x >> 8);
        v.n.llm = (uint32_t)(x >> 40) % 5;
        v.n.retrieval = i & 1 ? UINT32_MAX : 2;
        v.n.tool = (uint32_t)(x >> 50) % 3;
        v.n.input_tokens = toks[(x >> 12) % 8];
        v.n.output_tokens = toks[(x >> 16) % 8];
        v.has_cost = (x >> 20) & 1;
        v.cost = costs[(x >> 24) % 14];
        v.error = (x >> 30) & 1;
        weft__rec *direct = new_rec("root", WEFT_TYPE_AGENT_WORKFLOW), *text = new_rec("root", WEFT_TYPE_AGENT_WORKFLOW);
        set(direct, WEFT_METADATA, "user", "\"u\"");
        set(text, WEFT_METADATA, "user", "\"u\"");
        direct->has_summary = text->has_summary = true;
        direct->summary = text->summary = v;
        weft__rec_summary_to_entry(text);
        cr_assert_not(text->has_summary);
        weft__buf a, b;
        encode(direct, &a); /* against the reference too */
        encode(text, &b);
        cr_assert(a.len == b.len && memcmp(a.data, b.data, a.len) == 0,
                  "case %d: duration %llu ns, tokens %lld/%lld, cost %g (%d): %zu bytes against %zu", i,
                  (unsigned long long)v.duration_ns, (long long)v.n.input_tokens, (long long)v.n.output_tokens,
                  v.cost, v.has_cost, a.len, b.len);
        weft__buf_fini(&a);
        weft__buf_fini(&b);
        free_rec(direct);
        free_rec(text);
    }
}
