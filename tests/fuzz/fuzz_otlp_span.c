/*
 * fuzz_otlp_span.c — libFuzzer target for the hand-written OTLP Span writer
 * (src/codec/otlp_span.c, otlp_value.c). The input drives the building of one span record: ids,
 * times, type, status, usage, trace context, a name of arbitrary bytes (no NUL: the assembler
 * repairs names), then a run of attribute operations — set a string (repaired as the assembler
 * does), an integer, a double of any bits, a boolean, a JSON value; append; remove — on keys
 * from a small set (so keys repeat and the GenAI and event keys are hit) or of arbitrary bytes.
 * JSON values are generated from the input: strings with every kind of escape (\u0000 and
 * surrogate pairs too), integers in and out of int64, doubles that overflow or underflow,
 * arrays and objects with repeated keys (also spelled with escapes), more than 32 members,
 * nesting past 32 levels, whitespace; span events as weft_span_add_event writes them (valid
 * timestamps or not); or the input's bytes as they are when they are valid JSON.
 *
 * The record is encoded by the hand writer and by the reference encoder (the protobuf-c one
 * weft used before, tests/support/otlp_ref.c). Beyond "no crash, no UB", it checks:
 *  - both return the same flags and neither runs out of memory;
 *  - the writer's item is one ScopeSpans.spans field and its Span unpacks with protobuf-c's
 *    generated unpacker;
 *  - the bytes are the reference's, byte for byte (a root's trace summary, written from its
 *    numbers, against the reference's reading of its JSON text); where a JSON string held \u0000 (which
 *    protobuf-c's packer cuts at the NUL and the writer keeps), the unpacked message packed
 *    again by protobuf-c is the reference's bytes.
 *
 *   ./fuzz_otlp_span -max_total_time=60 /tmp/corpus_otlp_span ../tests/fuzz/corpus/otlp_span
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "json.h"
#include "otlp.h"
#include "otlp_ref.h"
#include "record.h"

#include "opentelemetry/proto/trace/v1/trace.pb-c.h"

typedef struct gen {
    rd *in;
    weft__buf *out;
    bool nul; /* a \u0000 was written into a string */
} gen;

static void lit(gen *g, const char *s) { weft__buf_append(g->out, s, strlen(s)); }

static void ws(gen *g)
{
    static const char *const w[] = {"", "", "", " ", "\n\t", "\r "};
    lit(g, w[u8(g->in) % 6]);
}

static void gen_string(gen *g)
{
    static const char *const pieces[] = {
        "a", "bc", "name", "timestamp", "attributes", "role", "content", "x y", "\\\"", "\\\\", "\\/", "\\n",
        "\\t", "\\b\\f\\r", "\\u00e9", "\\u0061", "\\u0000", "\\ud83d\\ude00", "\xc3\xa9", "\xe2\x82\xac",
        "\xf0\x9f\x98\x80", "0123456789abcdef", "\\u001f", "\\u20AC",
    };
    lit(g, "\"");
    unsigned n = u8(g->in) % 6;
    for (unsigned i = 0; i < n; i++) {
        unsigned k = u8(g->in) % (sizeof pieces / sizeof pieces[0]);
        if (k == 16)
            g->nul = true;
        lit(g, pieces[k]);
    }
    lit(g, "\"");
}

static void gen_number(gen *g)
{
    static const char *const nums[] = {
        "0", "-0", "7", "-42", "123456789012345678", "-999999999999999999", "9223372036854775807",
        "-9223372036854775808", "9223372036854775808", "-9223372036854775809", "99999999999999999999",
        "0.5", "-0.0", "1e3", "1E-2", "2.5e+10", "1e400", "-1e400", "1.5e-400", "0.1", "3.141592653589793",
        "1234567890123456789012345678901234567890123456789012345678901234567890",
        "0.000000000000000000000000000000000000000000000000000000000000000001",
    };
    unsigned k = u8(g->in) % (sizeof nums / sizeof nums[0] + 4);
    if (k < sizeof nums / sizeof nums[0]) {
        lit(g, nums[k]);
        return;
    }
    /* A number of random digits: sign, integer part, fraction, exponent (the fast path for
     * short decimals must round as strtod does). */
    char t[80];
    size_t n = 0;
    unsigned shape = u8(g->in);
    if (shape & 1)
        t[n++] = '-';
    unsigned id = 1 + u8(g->in) % 18, fd = shape & 2 ? 1 + u8(g->in) % 20 : 0;
    for (unsigned i = 0; i < id; i++) {
        unsigned c = u8(g->in) % 10;
        t[n++] = (char)('0' + (i == 0 && id > 1 && c == 0 ? 1 : c));
    }
    if (fd) {
        t[n++] = '.';
        for (unsigned i = 0; i < fd; i++)
            t[n++] = (char)('0' + u8(g->in) % 10);
    }
    if (shape & 4) {
        n += (size_t)snprintf(t + n, sizeof t - n, "e%s%u", shape & 8 ? "-" : (shape & 16 ? "+" : ""),
                              u8(g->in) % 40);
    } else if (!fd) {
        t[n++] = '.';
        t[n++] = '5';
    }
    t[n] = '\0';
    lit(g, t);
}

static void gen_value(gen *g, int depth);

static void gen_key(gen *g)
{
    static const char *const keys[] = {"\"a\"", "\"\\u0061\"", "\"b\"", "\"\"", "\"name\"", "\"timestamp\"",
                                       "\"attributes\"", "\"k\\u0000\"", "\"role\"", "\"content\"",
                                       "\"tool_call_id\"", "\"doc_id\"", "\"score\"", "\"message\""};
    unsigned k = u8(g->in) % 15;
    if (k == 14)
        gen_string(g);
    else
        lit(g, keys[k]);
}

static void gen_container(gen *g, bool obj, int depth)
{
    unsigned n = u8(g->in);
    n = n >= 250 ? 30 + (n - 250) * 2 : n % 5; /* sometimes more than 32 members */
    lit(g, obj ? "{" : "[");
    ws(g);
    for (unsigned i = 0; i < n && g->in->n; i++) {
        if (i) {
            lit(g, ",");
            ws(g);
        }
        if (obj) {
            gen_key(g);
            ws(g);
            lit(g, ":");
            ws(g);
        }
        gen_value(g, depth + 1);
        ws(g);
    }
    lit(g, obj ? "}" : "]");
}

static void gen_value(gen *g, int depth)
{
    unsigned k = u8(g->in) % (depth > 40 ? 4 : 8);
    switch (k) {
    case 0:
        gen_string(g);
        break;
    case 1:
        gen_number(g);
        break;
    case 2: {
        static const char *const w[] = {"true", "false", "null"};
        lit(g, w[u8(g->in) % 3]);
        break;
    }
    case 3:
        gen_number(g);
        break;
    case 4:
    case 5:
        gen_container(g, k == 5, depth);
        break;
    case 6: { /* deep: past WEFT__OTLP_MAX_DEPTH */
        unsigned levels = 28 + u8(g->in) % 12;
        for (unsigned i = 0; i < levels; i++)
            lit(g, i % 3 == 2 ? "{\"d\":" : "[");
        gen_value(g, depth + 41);
        for (unsigned i = levels; i-- > 0;)
            lit(g, i % 3 == 2 ? "}" : "]");
        break;
    }
    default:
        gen_container(g, true, depth);
    }
}

/* A span event as weft_span_add_event writes it, or one that is not quite. */
static void gen_event(gen *g)
{
    static const char *const ts[] = {"\"2026-12-01T22:37:52.703111Z\"", "\"2026-12-01T22:37:52Z\"",
                                     "\"1970-01-01T00:00:00.000000Z\"", "\"2026-13-01T00:00:00Z\"",
                                     "\"yesterday\"", "\"2026-12-01T22:37:52.703111+00:00\"", "12"};
    unsigned shape = u8(g->in);
    lit(g, "{\"name\":");
    if (shape & 1)
        gen_string(g);
    else
        lit(g, "\"first_token\"");
    lit(g, ",\"timestamp\":");
    lit(g, ts[u8(g->in) % 7]);
    if (shape & 2) {
        lit(g, ",\"attributes\":");
        if (shape & 4)
            gen_value(g, 0);
        else
            gen_container(g, true, 0);
    }
    if ((shape & 0x18) == 0x18)
        lit(g, ",\"extra\":1");
    lit(g, "}");
}

static void gen_json(gen *g)
{
    unsigned k = u8(g->in) % 8;
    if (k == 0) { /* the input as it is, when it is valid JSON */
        const uint8_t *p;
        size_t n = take(g->in, 64, &p);
        if (weft__json_valid((const char *)p, n)) {
            weft__buf_append(g->out, p, n);
            if (memmem(p, n, "\\u0000", 6))
                g->nul = true;
            return;
        }
        gen_value(g, 0);
    } else if (k == 1) {
        gen_event(g);
    } else if (k == 2) {
        lit(g, "[");
        for (unsigned i = 0, n = u8(g->in) % 4; i < n; i++) {
            if (i)
                lit(g, ",");
            gen_event(g);
        }
        lit(g, "]");
    } else {
        gen_value(g, 0);
    }
}

static const char *const key_names[] = {"model", "model_used", "messages", "query", "top_k", "hits",
                                        "error", "events", "user", "a", ""};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rd in = {data, size};
    weft__rec r;
    weft__rec_init(&r);
    r.trace = u64(&in);
    r.id = u64(&in);
    unsigned shape = u8(&in);
    r.parent = shape & 1 ? u64(&in) : 0;
    r.start_ns = shape & 2 ? u64(&in) : 0;
    r.end_ns = shape & 4 ? u64(&in) : 0;
    r.type = u8(&in) % 30;
    r.status = u8(&in) % 4;
    if (shape & 8) {
        r.has_usage = true;
        r.input_tokens = (int64_t)u64(&in);
        r.output_tokens = (int64_t)u64(&in);
    }
    if (shape & 16) {
        r.remote_trace = true;
        r.trace_lo = u64(&in);
    }
    if (shape & 32) {
        r.remote_parent = u64(&in);
        const uint8_t *ts;
        size_t n = take(&in, 40, &ts);
        for (size_t i = 0; i < n; i++)
            weft__buf_putc(&r.tracestate, (char)(0x20 + ts[i] % 0x5f));
    }
    const uint8_t *name;
    size_t name_len = take(&in, 40, &name);
    for (size_t i = 0; i < name_len; i++)
        weft__buf_putc(&r.name, name[i] ? (char)name[i] : 'x');

    weft__buf json, text;
    weft__buf_init(&json);
    weft__buf_init(&text);
    bool nul = false;
    for (unsigned op = 0, n_ops = u8(&in) % 16; op < n_ops && in.n; op++) {
        unsigned what = u8(&in), kk = u8(&in);
        weft_section sec = (weft_section)(what >> 4) % 3;
        const char *key;
        size_t key_len;
        if (kk < 200) {
            key = key_names[kk % (sizeof key_names / sizeof key_names[0])];
            key_len = strlen(key);
        } else {
            const uint8_t *k;
            key_len = take(&in, 20, &k);
            key = (const char *)k;
        }
        switch (what % 8) {
        case 0: {
            const uint8_t *s;
            size_t n = take(&in, 48, &s);
            weft__rec_text(&text, (const char *)s, n, n, 0);
            weft__rec_set_str(&r, sec, key, key_len, text.data ? text.data : "", text.len);
            break;
        }
        case 1:
            weft__rec_set_i64(&r, sec, key, key_len, (int64_t)u64(&in));
            break;
        case 2: {
            uint64_t bits = u64(&in);
            double d;
            memcpy(&d, &bits, 8);
            weft__rec_set_f64(&r, sec, key, key_len, d);
            break;
        }
        case 3:
            weft__rec_set_bool(&r, sec, key, key_len, u8(&in) & 1);
            break;
        case 4:
        case 5: {
            weft__buf_reset(&json);
            gen g = {&in, &json, false};
            gen_json(&g);
            nul |= g.nul;
            if (json.oom || !weft__json_valid(json.data, json.len))
                break; /* the record's contract: valid JSON text */
            if (what % 8 == 4)
                weft__rec_set(&r, sec, key, key_len, json.data, json.len);
            else
                weft__rec_append(&r, sec, key, key_len, json.data, json.len);
            break;
        }
        case 6:
            weft__rec_remove(&r, sec, key, key_len);
            break;
        default: { /* an empty JSON value, which the reader maps to an empty AnyValue */
            weft__rec_set(&r, sec, key, key_len, "", 0);
            break;
        }
        }
    }

    if (shape & 64) {
        /* A root's trace summary (record.h), with numbers near and past the edges its direct
         * KeyValueList keeps to (2^53 ns, 18-digit counts, costs that are integers, tiny,
         * huge, -0, NaN or infinite). */
        weft__summary_val v;
        memset(&v, 0, sizeof v);
        unsigned m = u8(&in);
        v.duration_ns = m & 1 ? u64(&in) : m & 2 ? (u64(&in) % 100000) * 1000000u : u64(&in) % 10000000000u;
        v.n.spans = (uint32_t)u64(&in);
        v.n.llm = u8(&in);
        v.n.retrieval = m & 4 ? (uint32_t)u64(&in) : u8(&in);
        v.n.tool = u8(&in);
        v.n.input_tokens = m & 8 ? (int64_t)u64(&in) : (int64_t)(u64(&in) % 100000);
        v.n.output_tokens = m & 16 ? (int64_t)u64(&in) : (int64_t)(u64(&in) % 100000);
        v.has_cost = m & 32;
        if (m & 64) {
            uint64_t bits = u64(&in);
            memcpy(&v.cost, &bits, 8);
        } else {
            v.cost = (double)(int64_t)(u64(&in) % 2000001 - 1000000) / (double)(1u << (u8(&in) % 24));
        }
        v.error = m & 128;
        weft__buf scratch;
        weft__buf_init(&scratch);
        weft__rec_set_summary(&r, &v, &scratch);
        weft__buf_fini(&scratch);
    }

    weft__encode_opts o = {0};
    o.salt = u64(&in);
    weft__buf mine, ref;
    weft__buf_init(&mine);
    weft__buf_init(&ref);
    unsigned f1 = weft__otlp_encode_span(&mine, &r, &o);
    unsigned f2 = weft_otlp_ref_encode_span(&ref, &r, &o);
    CHECK(!mine.oom && !ref.oom);
    CHECK(f1 == f2);
    const uint8_t *sp;
    size_t sl;
    CHECK(weft__otlp_item_span(mine.data, mine.len, &sp, &sl));
    CHECK(sp + sl == (const uint8_t *)mine.data + mine.len);
    Opentelemetry__Proto__Trace__V1__Span *s = opentelemetry__proto__trace__v1__span__unpack(NULL, sl, sp);
    CHECK(s != NULL);
    bool same = mine.len == ref.len && memcmp(mine.data, ref.data, mine.len) == 0;
    if (!same) {
        /* Only a NUL in a string may tell them apart: protobuf-c's view of the writer's Span
         * (strings end at a NUL) must pack to the reference's bytes. */
        CHECK(nul);
        const uint8_t *rsp;
        size_t rsl;
        CHECK(weft__otlp_item_span(ref.data, ref.len, &rsp, &rsl));
        size_t n = opentelemetry__proto__trace__v1__span__get_packed_size(s);
        uint8_t *again = malloc(n ? n : 1);
        CHECK(again != NULL);
        CHECK(opentelemetry__proto__trace__v1__span__pack(s, again) == n);
        CHECK(n == rsl && memcmp(again, rsp, n) == 0);
        free(again);
    }
    opentelemetry__proto__trace__v1__span__free_unpacked(s, NULL);
    weft__buf_fini(&mine);
    weft__buf_fini(&ref);
    weft__buf_fini(&json);
    weft__buf_fini(&text);
    weft__rec_fini(&r);
    return 0;
}
