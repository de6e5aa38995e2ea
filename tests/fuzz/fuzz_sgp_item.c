/*
 * fuzz_sgp_item.c — libFuzzer target for the SGP item encoder's fast paths (src/codec/encode.c)
 * against the paths they stand in for, byte for byte:
 *  - sections written straight from a record whose keys are all distinct, with entries marked
 *    plain copied without an escape scan (write_distinct), against the gathering writer that
 *    finds each key's winner (forced by setting the record's repeats flag);
 *  - a root's trace summary kept as numbers (record.h), written through the writer's cache of
 *    its text, against the same summary stored as an entry of its text;
 *  - trace and parent UUIDs from the writer's cache and W3C ids read off the UUIDs, against
 *    no cache (two records encoded in a row, sharing trace and parent or not);
 *  - weft__json_timestamp_cached_at against weft__json_timestamp_at;
 *  - weft__json_hex64/128_of_uuid_at against weft__json_hex64/128_at, weft__json_plain_short
 *    against weft__json_str's output, weft__json_u64/i64/ms_at against weft__json_u64/i64/ms.
 * The input drives the record: ids, times, then attribute operations (set a string repaired as
 * the assembler does, integers, doubles of any bits, booleans, JSON values, appends, removes)
 * on keys from a small set (so keys repeat) or of arbitrary bytes (escapes, invalid UTF-8).
 *
 *   ./fuzz_sgp_item -max_total_time=60 /tmp/corpus_sgp_item ../tests/fuzz/corpus/sgp_item
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "encode.h"
#include "fuzz_check.h"
#include "fuzz_input.h"
#include "json.h"
#include "record.h"

static const char *const key_names[] = {"model", "user", "answer", "a", "ab", "", "k\"q", "tab\t",
                                        "\xc3\xa9t\xc3\xa9", "sixteen-byte-key", "seventeen-byte-ky",
                                        "back\\slash", "messages"};
static const char *const json_values[] = {"null", "true", "[1,2,3]", "{\"a\":\"b\\n\"}", "\"s\"", "-0.5",
                                          "{\"password\":\"x\"}", "[]", "{}"};

static void build(rd *in, weft__rec *r, weft__buf *text)
{
    weft__rec_init(r);
    unsigned shape = u8(in);
    r->trace = shape & 64 ? 0 : u64(in) % 4; /* few values: consecutive records share them */
    r->id = u64(in);
    r->parent = shape & 1 ? u64(in) % 4 : 0;
    r->start_ns = shape & 2 ? u64(in) : 1795306080500000000u;
    r->end_ns = shape & 4 ? u64(in) : 0;
    r->type = u8(in) % 30;
    r->status = u8(in) % 4;
    if (shape & 16) {
        r->remote_trace = true;
        r->trace_lo = u64(in) % 3;
    }
    if (shape & 32)
        r->remote_parent = u64(in);
    weft__buf_append(&r->name, "span", 4);
    for (unsigned op = 0, n_ops = u8(in) % 12; op < n_ops && in->n; op++) {
        unsigned what = u8(in), kk = u8(in);
        weft_section sec = (weft_section)((what >> 4) % 3);
        const char *key;
        size_t key_len;
        if (kk < 200) {
            key = key_names[kk % (sizeof key_names / sizeof key_names[0])];
            key_len = strlen(key);
        } else {
            const uint8_t *k;
            key_len = take(in, 20, &k);
            key = (const char *)k;
        }
        switch (what % 8) {
        case 0:
        case 1: {
            const uint8_t *s;
            size_t n = take(in, 24, &s);
            weft__rec_text(text, (const char *)s, n, n, 0);
            weft__rec_set_str(r, sec, key, key_len, text->data ? text->data : "", text->len);
            break;
        }
        case 2:
            weft__rec_set_i64(r, sec, key, key_len, (int64_t)u64(in));
            break;
        case 3: {
            uint64_t bits = u64(in);
            double d;
            memcpy(&d, &bits, 8);
            weft__rec_set_f64(r, sec, key, key_len, d);
            break;
        }
        case 4:
            weft__rec_set_bool(r, sec, key, key_len, u8(in) & 1);
            break;
        case 5:
        case 6: {
            const char *j = json_values[u8(in) % (sizeof json_values / sizeof json_values[0])];
            if (what % 8 == 5)
                weft__rec_set(r, sec, key, key_len, j, strlen(j));
            else
                weft__rec_append(r, sec, key, key_len, j, strlen(j));
            break;
        }
        default:
            weft__rec_remove(r, sec, key, key_len);
            break;
        }
    }
    if (shape & 8) {
        /* A root's summary, shapes repeating often enough for the writer's cache to hit. */
        weft__summary_val v;
        memset(&v, 0, sizeof v);
        unsigned m = u8(in);
        v.duration_ns = m & 1 ? u64(in) : (u64(in) % 4) * 1000000u + (m & 2 ? 123 : 0);
        v.n.spans = 1 + (m >> 2) % 3;
        v.n.llm = (m >> 4) & 1;
        v.n.input_tokens = m & 32 ? (int64_t)u64(in) : 10;
        v.n.output_tokens = 5;
        v.has_cost = m & 64;
        uint64_t bits = m & 1 ? u64(in) : 0x3fd0000000000000u; /* any bits, or 0.25 */
        memcpy(&v.cost, &bits, 8);
        v.error = m & 128;
        weft__buf scratch;
        weft__buf_init(&scratch);
        weft__rec_set_summary(r, &v, &scratch);
        weft__buf_fini(&scratch);
    }
}

/* A record whose summary is kept as numbers against the same record with it stored as the
 * entry of its text (weft__rec_summary_to_entry changes r: so last). */
static void compare_summary(weft__rec *r, weft__encode_opts *fast, const weft__encode_opts *ref)
{
    if (!r->has_summary)
        return;
    weft__buf a, b;
    weft__buf_init(&a);
    weft__buf_init(&b);
    unsigned fa = weft__encode_span(&a, r, fast);
    weft__rec_summary_to_entry(r);
    CHECK(!r->has_summary);
    unsigned fb = weft__encode_span(&b, r, ref);
    CHECK(!a.oom && !b.oom);
    CHECK(fa == fb);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
        fprintf(stderr, "numbers %.*s\ntext    %.*s\n", (int)a.len, a.data, (int)b.len, b.data);
        CHECK(!"the summary kept as numbers differs from its entry");
    }
    weft__buf_fini(&a);
    weft__buf_fini(&b);
}

/* The record encoded by the fast paths (with ids, as the worker does) and by the reference
 * ones (gathering writer, no id cache): the same bytes and flags. */
static void compare(const weft__rec *r, weft__encode_opts *fast, const weft__encode_opts *ref)
{
    weft__buf a, b;
    weft__buf_init(&a);
    weft__buf_init(&b);
    unsigned fa = weft__encode_span(&a, r, fast);
    weft__rec slow = *r; /* shares r's buffers; read only */
    slow.repeats = true;
    unsigned fb = weft__encode_span(&b, &slow, ref);
    CHECK(!a.oom && !b.oom);
    CHECK(fa == fb);
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0) {
        fprintf(stderr, "fast %.*s\nref  %.*s\n", (int)a.len, a.data, (int)b.len, b.data);
        CHECK(!"the fast item differs from the reference");
    }
    weft__buf_fini(&a);
    weft__buf_fini(&b);
}

static void check_text(rd *in)
{
    uint64_t hi = u64(in), lo = u64(in);
    char uuid[WEFT__JSON_UUID_LEN], x[WEFT__JSON_HEX128_LEN], y[WEFT__JSON_HEX128_LEN];
    weft__json_uuid_at(uuid, hi, lo);
    CHECK(weft__json_hex64_of_uuid_at(x, uuid, hi) == x + WEFT__JSON_HEX64_LEN);
    weft__json_hex64_at(y, hi);
    CHECK(memcmp(x, y, WEFT__JSON_HEX64_LEN) == 0);
    CHECK(weft__json_hex128_of_uuid_at(x, uuid, hi, lo) == x + WEFT__JSON_HEX128_LEN);
    weft__json_hex128_at(y, hi, lo);
    CHECK(memcmp(x, y, WEFT__JSON_HEX128_LEN) == 0);

    /* Timestamps through the cache (a miss, then a hit in the same second) and without. */
    weft__ts_cache tc = {0};
    uint64_t ns = u64(in);
    for (int k = 0; k < 2; k++, ns = ns - ns % 1000000000u + u64(in) % 1000000000u) {
        char ta[WEFT__JSON_TIMESTAMP_LEN], tb[WEFT__JSON_TIMESTAMP_LEN];
        CHECK(weft__json_timestamp_cached_at(ta, ns, &tc) == ta + WEFT__JSON_TIMESTAMP_LEN);
        weft__json_timestamp_at(tb, ns);
        CHECK(memcmp(ta, tb, WEFT__JSON_TIMESTAMP_LEN) == 0);
    }

    weft__buf b;
    weft__buf_init(&b);
    const uint8_t *s;
    size_t n = take(in, 20, &s);
    if (weft__json_plain_short((const char *)s, n)) {
        weft__json_str(&b, (const char *)s, n, 0);
        CHECK(b.len == n + 2 && memcmp(b.data + 1, s, n) == 0);
    }
    char t[64];
    uint64_t v = u64(in) >> (u8(in) % 64);
    weft__buf_reset(&b);
    weft__json_u64(&b, v);
    CHECK((size_t)(weft__json_u64_at(t, v) - t) == b.len && memcmp(t, b.data, b.len) == 0);
    weft__buf_reset(&b);
    weft__json_i64(&b, (int64_t)v);
    CHECK((size_t)(weft__json_i64_at(t, (int64_t)v) - t) == b.len && memcmp(t, b.data, b.len) == 0);
    CHECK(b.len <= WEFT__JSON_I64_MAX);
    weft__buf_reset(&b);
    weft__json_ms(&b, v);
    CHECK((size_t)(weft__json_ms_at(t, v) - t) == b.len && memcmp(t, b.data, b.len) == 0);
    CHECK(b.len <= WEFT__JSON_MS_MAX);
    weft__buf_fini(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rd in = {data, size};
    check_text(&in);
    weft__buf text;
    weft__buf_init(&text);
    weft__ts_cache ts = {0};
    weft__id_cache ids = {0};
    weft__summary_cache summary;
    memset(&summary, 0, sizeof summary);
    weft__encode_opts fast = {.salt = u64(&in) % 3, .ts = &ts, .ids = &ids, .summary = &summary};
    weft__encode_opts ref = {.salt = fast.salt};
    /* Two records in a row, so that the second meets the caches the first filled. */
    for (int k = 0; k < 2; k++) {
        weft__rec r;
        build(&in, &r, &text);
        compare(&r, &fast, &ref);
        compare_summary(&r, &fast, &ref);
        weft__rec_fini(&r);
    }
    weft__buf_fini(&text);
    return 0;
}
