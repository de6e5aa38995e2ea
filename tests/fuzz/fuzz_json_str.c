/*
 * fuzz_json_str.c — libFuzzer target for weft__json_str and the weft__utf8_* helpers.
 *
 * Input: the first byte picks max_bytes (below 128: no limit; else 1..128, so truncation is
 * exercised constantly), the rest is the string. Every output must parse with jansson as one
 * string, be accepted by weft__json_valid, carry no NUL, and say what happened: valid UTF-8
 * in (jansson's own UTF-8 check is the oracle) comes back byte for byte, or cut exactly where
 * weft__utf8_cut says with the marker naming the bytes left out. Any mismatch aborts.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t max = data[0] < 128 ? 0 : (size_t)data[0] - 127;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;

    weft__buf b;
    weft__buf_init(&b);
    unsigned flags = weft__json_str(&b, s, len, max);
    CHECK(!b.oom);

    json_error_t err;
    json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY, &err);
    CHECK(v != NULL);
    CHECK(json_is_string(v));
    CHECK(weft__json_valid(b.data, b.len));
    const char *out = json_string_value(v);
    size_t out_len = json_string_length(v);
    CHECK(memchr(out, 0, out_len) == NULL);

    /* jansson's UTF-8 check, plus "no NUL", is weft__utf8_valid's definition */
    json_t *probe = json_stringn(s, len);
    bool valid = probe != NULL && memchr(s, 0, len) == NULL;
    json_decref(probe);
    CHECK(weft__utf8_valid(s, len) == valid);
    /* valid input has nothing to repair; invalid input is repaired unless the cut came first */
    CHECK(!valid || !(flags & WEFT__JSON_REPAIRED));
    if (!valid && !(flags & WEFT__JSON_TRUNCATED))
        CHECK(flags & WEFT__JSON_REPAIRED);

    static const char ellipsis[] = "\xE2\x80\xA6[truncated ";
    if (flags & WEFT__JSON_TRUNCATED) {
        CHECK(max > 0);
        /* content, then "…[truncated N bytes]" */
        const char *m = NULL;
        for (size_t i = out_len; i-- > 0;)
            if (out_len - i >= sizeof ellipsis - 1 &&
                memcmp(out + i, ellipsis, sizeof ellipsis - 1) == 0) {
                m = out + i;
                break;
            }
        CHECK(m != NULL);
        size_t content = (size_t)(m - out);
        CHECK(content <= max);
        char tail[64];
        unsigned long long left_out = 0;
        CHECK(sscanf(m + sizeof ellipsis - 1, "%llu bytes%63s", &left_out, tail) == 2);
        CHECK(strcmp(tail, "]") == 0);
        CHECK(left_out > 0 && left_out <= len);
        if (valid) {
            size_t kept = len - (size_t)left_out;
            CHECK(kept == weft__utf8_cut(s, len, max));
            CHECK(content == kept && memcmp(out, s, kept) == 0);
        }
    } else {
        if (max)
            CHECK(out_len <= max);
        if (valid)
            CHECK(out_len == len && memcmp(out, s, len) == 0);
    }
    json_decref(v);

    /* the helpers agree with one another */
    size_t cut = weft__utf8_cut(s, len, max);
    if (len <= max)
        CHECK(cut == len);
    else
        CHECK(cut <= max);
    size_t chars = weft__utf8_count(s, len);
    CHECK(weft__utf8_prefix_chars(s, len, chars) == len);
    CHECK(chars == 0 || weft__utf8_prefix_chars(s, len, chars - 1) < len);
    size_t cut_chars = weft__utf8_count(s, cut);
    CHECK(weft__utf8_prefix_chars(s, len, cut_chars) == cut);

    /* weft__utf8_repair repairs exactly as the writer does: its output is valid, changed only
     * when the input was not, and written as JSON it gives the writer's own text. */
    weft__buf r, rj, sj;
    weft__buf_init(&r);
    weft__buf_init(&rj);
    weft__buf_init(&sj);
    bool repaired = weft__utf8_repair(&r, s, len);
    CHECK(!r.oom);
    CHECK(weft__utf8_valid(r.data ? r.data : "", r.len));
    CHECK(repaired == !valid);
    CHECK(repaired || (r.len == len && memcmp(r.data ? r.data : "", s, len) == 0));
    weft__json_str(&rj, r.data ? r.data : "", r.len, 0);
    weft__json_str(&sj, s, len, 0);
    CHECK(rj.len == sj.len && memcmp(rj.data, sj.data, sj.len) == 0);
    weft__buf_fini(&r);
    weft__buf_fini(&rj);
    weft__buf_fini(&sj);

    weft__buf_fini(&b);
    return 0;
}
