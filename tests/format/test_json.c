/*
 * test_json.c — src/json.c against hand-written expected bytes, every output also parsed by
 * jansson (and by weft's own validator) to prove it is JSON, plus randomised cross-checks
 * against a slow reference encoder written here independently of json.c.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "weft_test.h"

/* ---- helpers -------------------------------------------------------------------------------- */

#define FFFD "\xEF\xBF\xBD"
#define ELLIPSIS "\xE2\x80\xA6"

static void expect_str_n(const char *in, size_t in_len, size_t max, const char *want,
                         size_t want_len, unsigned want_flags)
{
    weft__buf b;
    weft__buf_init(&b);
    unsigned f = weft__json_str(&b, in, in_len, max);
    cr_assert(!b.oom);
    cr_assert(b.len == want_len && memcmp(b.data, want, want_len) == 0,
              "input [%s] max %zu:\n got  [%s]\n want [%s]", wt_show(in, in_len), max,
              wt_show(b.data, b.len), wt_show(want, want_len));
    cr_assert_eq(f, want_flags, "input [%s]: flags %u, want %u", wt_show(in, in_len), f, want_flags);
    json_t *v = wt_must_parse(b.data, b.len);
    cr_assert(json_is_string(v));
    json_decref(v);
    weft__buf_fini(&b);
}

#define EXPECT_STR(in, max, want, flags)                                                       \
    expect_str_n((in), sizeof(in) - 1, (max), (want), sizeof(want) - 1, (flags))

/* ---- a reference encoder, slow and written from the definitions --------------------------- */

/* Code point of the n-byte sequence p[0..n), or -1 when it is not well-formed (wrong lead or
 * continuation bits, overlong, surrogate, above U+10FFFF). */
static long ref_decode(const unsigned char *p, int n)
{
    static const unsigned char mask[5] = {0, 0, 0xE0, 0xF0, 0xF8};
    static const unsigned char tag[5] = {0, 0, 0xC0, 0xE0, 0xF0};
    static const long min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if ((p[0] & mask[n]) != tag[n])
        return -1;
    long cp = p[0] & (unsigned char)~mask[n];
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return -1;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    return cp;
}

static int ref_len_from_lead(unsigned c)
{
    if ((c & 0xE0) == 0xC0)
        return 2;
    if ((c & 0xF0) == 0xE0)
        return 3;
    if ((c & 0xF8) == 0xF0)
        return 4;
    return 0;
}

/* True when p[0..k) begins some well-formed n-byte sequence: the code points it could start
 * form one block, so filling the rest with the smallest or largest continuation finds one. */
static bool ref_prefix_ok(const unsigned char *p, int k, int n)
{
    unsigned char t[4];
    for (int fill = 0; fill < 2; fill++) {
        memcpy(t, p, (size_t)k);
        for (int i = k; i < n; i++)
            t[i] = fill ? 0xBF : 0x80;
        if (ref_decode(t, n) >= 0)
            return true;
    }
    return false;
}

/* Same meaning as json.c's utf8_seq: n > 0 valid, -k maximal invalid subpart. */
static int ref_seq(const unsigned char *p, size_t avail)
{
    int n = ref_len_from_lead(p[0]);
    if (n == 0)
        return -1;
    if (avail >= (size_t)n && ref_decode(p, n) >= 0)
        return n;
    int k = 1;
    while (k + 1 < n && (size_t)(k + 1) <= avail && ref_prefix_ok(p, k + 1, n))
        k++;
    return -k;
}

static size_t ref_json_str(char *out, const char *s, size_t len, size_t max)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t budget = max ? max : (size_t)-1, k = 0, i = 0;
    out[k++] = '"';
    while (i < len) {
        unsigned c = p[i];
        int n = 1;
        size_t content = 1;
        if (c == 0) {
            n = -1;
            content = 3;
        } else if (c >= 0x80) {
            n = ref_seq(p + i, len - i);
            content = n > 0 ? (size_t)n : 3;
        }
        if (content > budget) {
            k += (size_t)sprintf(out + k, ELLIPSIS "[truncated %zu bytes]", len - i);
            break;
        }
        budget -= content;
        if (n < 0) {
            memcpy(out + k, FFFD, 3);
            k += 3;
            i += (size_t)-n;
        } else if (c >= 0x80) {
            memcpy(out + k, p + i, (size_t)n);
            k += (size_t)n;
            i += (size_t)n;
        } else {
            if (c == '"' || c == '\\') {
                out[k++] = '\\';
                out[k++] = (char)c;
            } else if (c == '\n') {
                k += (size_t)sprintf(out + k, "\\n");
            } else if (c == '\r') {
                k += (size_t)sprintf(out + k, "\\r");
            } else if (c == '\t') {
                k += (size_t)sprintf(out + k, "\\t");
            } else if (c == '\b') {
                k += (size_t)sprintf(out + k, "\\b");
            } else if (c == '\f') {
                k += (size_t)sprintf(out + k, "\\f");
            } else if (c < 0x20) {
                k += (size_t)sprintf(out + k, "\\u%04x", c);
            } else {
                out[k++] = (char)c;
            }
            i++;
        }
    }
    out[k++] = '"';
    return k;
}

/* Pieces the random strings are made of: each kind of character and of invalid input. */
#define PIECE(lit) {(lit), sizeof(lit) - 1}
static const struct piece {
    const char *s;
    size_t n;
} pieces[] = {
    PIECE("a"), PIECE("b"), PIECE("Z"), PIECE(" "), PIECE("/"), PIECE("\x7f"), PIECE("\""),
    PIECE("\\"), PIECE("\n"), PIECE("\t"), PIECE("\x01"), PIECE("\x1f"), PIECE("\0"),
    PIECE("\xC3\xA9"), PIECE("\xE2\x82\xAC"), PIECE("\xF0\x9D\x84\x9E"), PIECE("\xEF\xBF\xBF"),
    PIECE("\xF4\x8F\xBF\xBF"), PIECE("\x80"), PIECE("\xBF"), PIECE("\xC0"), PIECE("\xC1"),
    PIECE("\xC2"), PIECE("\xE0"), PIECE("\xE0\xA0"), PIECE("\xE0\x9F"), PIECE("\xED"),
    PIECE("\xED\xA0"), PIECE("\xED\x9F"), PIECE("\xF0"), PIECE("\xF0\x90"), PIECE("\xF0\x90\x80"),
    PIECE("\xF0\x8F"), PIECE("\xF4"), PIECE("\xF4\x90"), PIECE("\xF5"), PIECE("\xFE"), PIECE("\xFF"),
    PIECE("hello world, plain ascii run "), PIECE("0123456789abcdef"),
};
#define N_PIECES (sizeof pieces / sizeof pieces[0])

/* Deterministic generator, so a failure reproduces. */
static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static size_t random_string(char *out, size_t max_len, uint64_t *rng)
{
    size_t target = (size_t)(rng_next(rng) % (max_len + 1)), k = 0;
    while (k < target) {
        size_t i = (size_t)(rng_next(rng) % N_PIECES);
        if (k + pieces[i].n > max_len)
            break;
        memcpy(out + k, pieces[i].s, pieces[i].n);
        k += pieces[i].n;
    }
    return k;
}

/* ---- strings: escaping ------------------------------------------------------------------------ */

Test(json, escapes_every_control_character)
{
    static const char *const want[32] = {
        NULL,       "\\u0001", "\\u0002", "\\u0003", "\\u0004", "\\u0005", "\\u0006", "\\u0007",
        "\\b",      "\\t",     "\\n",     "\\u000b", "\\f",     "\\r",     "\\u000e", "\\u000f",
        "\\u0010", "\\u0011", "\\u0012", "\\u0013", "\\u0014", "\\u0015", "\\u0016", "\\u0017",
        "\\u0018", "\\u0019", "\\u001a", "\\u001b", "\\u001c", "\\u001d", "\\u001e", "\\u001f",
    };
    for (int c = 1; c < 32; c++) {
        char in[3] = {'x', (char)c, 'y'};
        char expect[16];
        int n = snprintf(expect, sizeof expect, "\"x%sy\"", want[c]);
        expect_str_n(in, 3, 0, expect, (size_t)n, 0);

        /* and jansson reads the escape back as the same byte */
        weft__buf b;
        weft__buf_init(&b);
        weft__json_str(&b, in, 3, 0);
        json_t *v = wt_must_parse(b.data, b.len);
        cr_assert_eq(json_string_length(v), 3);
        cr_assert_eq(json_string_value(v)[1], (char)c);
        json_decref(v);
        weft__buf_fini(&b);
    }
}

Test(json, escapes_quote_and_backslash)
{
    EXPECT_STR("a\"b\\c", 0, "\"a\\\"b\\\\c\"", 0);
    EXPECT_STR("\"\"\\\\", 0, "\"\\\"\\\"\\\\\\\\\"", 0);
}

Test(json, leaves_slash_and_del_as_they_are)
{
    EXPECT_STR("a/b\x7f", 0, "\"a/b\x7f\"", 0);
}

Test(json, writes_empty_string_as_two_quotes)
{
    EXPECT_STR("", 0, "\"\"", 0);
    EXPECT_STR("", 5, "\"\"", 0);
}

Test(json, takes_a_null_pointer_with_zero_length)
{
    /* msgpack-c hands out NULL for empty strings */
    weft__buf b;
    weft__buf_init(&b);
    cr_assert_eq(weft__json_str(&b, NULL, 0, 0), 0);
    cr_assert_eq(weft__json_str(&b, NULL, 0, 4), 0);
    cr_assert_eq(b.len, 4);
    cr_assert(memcmp(b.data, "\"\"\"\"", 4) == 0);
    cr_assert(weft__utf8_valid(NULL, 0));
    cr_assert_eq(weft__utf8_count(NULL, 0), 0);
    cr_assert_eq(weft__utf8_prefix_chars(NULL, 0, 3), 0);
    cr_assert_eq(weft__utf8_cut(NULL, 0, 3), 0);
    cr_assert_not(weft__json_valid(NULL, 0));
    cr_assert_not(weft__json_valid_object(NULL, 0));
    weft__buf_fini(&b);
}

Test(json, passes_valid_multibyte_utf8_through_unchanged)
{
    EXPECT_STR("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9D\x84\x9E \xEF\xBF\xBF \xF4\x8F\xBF\xBF \xC2\x80", 0,
               "\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9D\x84\x9E \xEF\xBF\xBF \xF4\x8F\xBF\xBF \xC2\x80\"",
               0);
    /* boundaries of the valid ranges: U+0080, U+07FF, U+0800, U+D7FF, U+E000, U+10000 */
    EXPECT_STR("\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xF0\x90\x80\x80", 0,
               "\"\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xF0\x90\x80\x80\"", 0);
}

Test(json, finds_special_bytes_at_every_offset_of_a_long_run)
{
    /* The writer copies eight plain bytes at a time: put each special byte at each offset of
     * runs of every length around that width. */
    static const char specials[] = {'"', '\\', '\n', 0x01, 0x1f, 0x00, (char)0x80, (char)0xC3};
    char in[64], want[512], in_buf[64];
    for (size_t len = 1; len <= 40; len++) {
        for (size_t at = 0; at < len; at++) {
            for (size_t s = 0; s < sizeof specials; s++) {
                memset(in_buf, 'q', len);
                in_buf[at] = specials[s];
                memcpy(in, in_buf, len);
                size_t wl = ref_json_str(want, in, len, 0);
                unsigned flags = (specials[s] == 0 || (unsigned char)specials[s] >= 0x80)
                                     ? WEFT__JSON_REPAIRED
                                     : 0;
                expect_str_n(in, len, 0, want, wl, flags);
            }
        }
    }
}

/* ---- strings: UTF-8 repair -------------------------------------------------------------------- */

Test(json, repairs_lone_continuation_bytes_one_replacement_each)
{
    EXPECT_STR("\x80", 0, "\"" FFFD "\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("a\x80\xBF" "b", 0, "\"a" FFFD FFFD "b\"", WEFT__JSON_REPAIRED);
}

Test(json, repairs_truncated_sequence_with_one_replacement)
{
    EXPECT_STR("\xC3", 0, "\"" FFFD "\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("\xE2\x82", 0, "\"" FFFD "\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("\xE2\x82" "A", 0, "\"" FFFD "A\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("\xF0\x9F\x98", 0, "\"" FFFD "\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("\xF0\x9F\x98" "A", 0, "\"" FFFD "A\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("\xF0\x9F" "\xC3\xA9", 0, "\"" FFFD "\xC3\xA9\"", WEFT__JSON_REPAIRED);
}

Test(json, repairs_overlong_encodings)
{
    /* C0/C1 can only start overlongs; E0 80..9F and F0 80..8F likewise: no byte of them can
     * start a valid sequence, so each is its own maximal subpart. */
    EXPECT_STR("\xC0\xAF", 0, "\"" FFFD FFFD "\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("\xC1\xBF", 0, "\"" FFFD FFFD "\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("\xE0\x80\xAF", 0, "\"" FFFD FFFD FFFD "\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("\xE0\x9F\xBF", 0, "\"" FFFD FFFD FFFD "\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("\xF0\x80\x80\xAF", 0, "\"" FFFD FFFD FFFD FFFD "\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("\xF0\x8F\xBF\xBF", 0, "\"" FFFD FFFD FFFD FFFD "\"", WEFT__JSON_REPAIRED);
}

Test(json, repairs_encoded_surrogates)
{
    EXPECT_STR("\xED\xA0\x80", 0, "\"" FFFD FFFD FFFD "\"", WEFT__JSON_REPAIRED);   /* U+D800 */
    EXPECT_STR("\xED\xBF\xBF", 0, "\"" FFFD FFFD FFFD "\"", WEFT__JSON_REPAIRED);   /* U+DFFF */
    EXPECT_STR("\xED\xA0\xBD\xED\xB8\x80", 0, "\"" FFFD FFFD FFFD FFFD FFFD FFFD "\"",
               WEFT__JSON_REPAIRED); /* CESU-8 pair */
}

Test(json, repairs_code_points_above_10ffff)
{
    EXPECT_STR("\xF4\x90\x80\x80", 0, "\"" FFFD FFFD FFFD FFFD "\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("\xF5\x80\x80\x80", 0, "\"" FFFD FFFD FFFD FFFD "\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("\xF7\xBF\xBF\xBF", 0, "\"" FFFD FFFD FFFD FFFD "\"", WEFT__JSON_REPAIRED);
}

Test(json, repairs_fe_and_ff_bytes)
{
    EXPECT_STR("\xFE", 0, "\"" FFFD "\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("a\xFF\xFE" "b", 0, "\"a" FFFD FFFD "b\"", WEFT__JSON_REPAIRED);
}

Test(json, repairs_nul_inside_a_string)
{
    EXPECT_STR("a\0b", 0, "\"a" FFFD "b\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("\0", 0, "\"" FFFD "\"", WEFT__JSON_REPAIRED);
}

Test(json, follows_the_unicode_example_of_maximal_subparts)
{
    /* The Unicode standard's example (§3.9, U+FFFD substitution of maximal subparts):
     * 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 → a FFFD FFFD FFFD b FFFD c FFFD FFFD d */
    EXPECT_STR("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64", 0,
               "\"a" FFFD FFFD FFFD "b" FFFD "c" FFFD FFFD "d\"", WEFT__JSON_REPAIRED);
}

/* ---- strings: truncation ---------------------------------------------------------------------- */

Test(json, truncates_at_max_bytes_with_the_marker)
{
    EXPECT_STR("hello world", 5, "\"hello" ELLIPSIS "[truncated 6 bytes]\"", WEFT__JSON_TRUNCATED);
    EXPECT_STR("hello", 1, "\"h" ELLIPSIS "[truncated 4 bytes]\"", WEFT__JSON_TRUNCATED);
}

Test(json, does_not_truncate_content_that_fits_exactly)
{
    EXPECT_STR("hello", 5, "\"hello\"", 0);
    EXPECT_STR("hello", 6, "\"hello\"", 0);
    EXPECT_STR("\xE2\x82\xAC\xE2\x82\xAC", 6, "\"\xE2\x82\xAC\xE2\x82\xAC\"", 0);
}

Test(json, never_splits_a_multibyte_character_when_truncating)
{
    EXPECT_STR("a\xC3\xA9", 2, "\"a" ELLIPSIS "[truncated 2 bytes]\"", WEFT__JSON_TRUNCATED);
    EXPECT_STR("\xE2\x82\xAC\xE2\x82\xAC", 4, "\"\xE2\x82\xAC" ELLIPSIS "[truncated 3 bytes]\"",
               WEFT__JSON_TRUNCATED);
    EXPECT_STR("\xE2\x82\xAC\xE2\x82\xAC", 5, "\"\xE2\x82\xAC" ELLIPSIS "[truncated 3 bytes]\"",
               WEFT__JSON_TRUNCATED);
    EXPECT_STR("\xF0\x9D\x84\x9E", 3, "\"" ELLIPSIS "[truncated 4 bytes]\"", WEFT__JSON_TRUNCATED);
}

Test(json, counts_content_before_escaping_against_max_bytes)
{
    /* max_bytes limits the text kept, not its JSON spelling: three newlines are three bytes. */
    EXPECT_STR("\n\n\n", 3, "\"\\n\\n\\n\"", 0);
    EXPECT_STR("\n\n\n", 2, "\"\\n\\n" ELLIPSIS "[truncated 1 bytes]\"", WEFT__JSON_TRUNCATED);
}

Test(json, counts_repaired_content_against_max_bytes)
{
    /* each U+FFFD is three bytes of content, though it replaced one */
    EXPECT_STR("\xFF\xFF", 3, "\"" FFFD ELLIPSIS "[truncated 1 bytes]\"",
               WEFT__JSON_REPAIRED | WEFT__JSON_TRUNCATED);
    EXPECT_STR("\xFF\xFF", 5, "\"" FFFD ELLIPSIS "[truncated 1 bytes]\"",
               WEFT__JSON_REPAIRED | WEFT__JSON_TRUNCATED);
    EXPECT_STR("\xFF\xFF", 6, "\"" FFFD FFFD "\"", WEFT__JSON_REPAIRED);
    EXPECT_STR("ab\xFF", 4, "\"ab" ELLIPSIS "[truncated 1 bytes]\"", WEFT__JSON_TRUNCATED);
}

Test(json, truncates_a_long_string_across_internal_chunks)
{
    size_t len = 100000, max = 65536;
    char *in = malloc(len);
    memset(in, 'x', len);
    weft__buf b;
    weft__buf_init(&b);
    unsigned f = weft__json_str(&b, in, len, max);
    static const char marker[] = ELLIPSIS "[truncated 34464 bytes]\"";
    cr_assert_eq(f, WEFT__JSON_TRUNCATED);
    cr_assert_eq(b.len, 1 + max + sizeof marker - 1);
    cr_assert_eq(b.data[0], '"');
    for (size_t i = 0; i < max; i++)
        cr_assert_eq(b.data[1 + i], 'x');
    cr_assert(memcmp(b.data + 1 + max, marker, sizeof marker - 1) == 0);
    json_decref(wt_must_parse(b.data, b.len));
    weft__buf_fini(&b);
    free(in);
}

Test(json, matches_the_reference_encoder_on_random_strings)
{
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    enum { MAXLEN = 300 };
    char in[MAXLEN], want[MAXLEN * 6 + 64];
    weft__buf b;
    weft__buf_init(&b);
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = random_string(in, MAXLEN, &rng);
        size_t max = (iter & 1) ? 0 : (size_t)(rng_next(&rng) % (len + 8));
        size_t wl = ref_json_str(want, in, len, max);
        weft__buf_reset(&b);
        weft__json_str(&b, in, len, max);
        cr_assert(b.len == wl && memcmp(b.data, want, wl) == 0,
                  "iter %d input [%s] max %zu:\n got  [%s]\n want [%s]", iter, wt_show(in, len), max,
                  wt_show(b.data, b.len), wt_show(want, wl));
        json_decref(wt_must_parse(b.data, b.len));
    }
    weft__buf_fini(&b);
}

Test(json, matches_the_reference_encoder_on_long_strings)
{
    /* Long enough to cross the writer's 16 KiB reservation chunks with characters straddling
     * the chunk edges. */
    uint64_t rng = 12345;
    enum { MAXLEN = 70000 };
    char *in = malloc(MAXLEN), *want = malloc(MAXLEN * 6 + 64);
    weft__buf b;
    weft__buf_init(&b);
    for (int iter = 0; iter < 40; iter++) {
        size_t len = random_string(in, MAXLEN, &rng);
        size_t max = (iter % 3 == 0) ? 0 : (size_t)(rng_next(&rng) % (len + 8));
        size_t wl = ref_json_str(want, in, len, max);
        weft__buf_reset(&b);
        weft__json_str(&b, in, len, max);
        cr_assert(b.len == wl && memcmp(b.data, want, wl) == 0, "iter %d len %zu max %zu", iter,
                  len, max);
        json_decref(wt_must_parse(b.data, b.len));
    }
    weft__buf_fini(&b);
    free(in);
    free(want);
}

Test(json, round_trips_valid_utf8_through_jansson_unchanged)
{
    uint64_t rng = 777;
    char in[400];
    weft__buf b;
    weft__buf_init(&b);
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = random_string(in, sizeof in, &rng);
        if (!weft__utf8_valid(in, len))
            continue;
        weft__buf_reset(&b);
        cr_assert_eq(weft__json_str(&b, in, len, 0), 0);
        json_t *v = wt_must_parse(b.data, b.len);
        cr_assert_eq(json_string_length(v), len);
        cr_assert(memcmp(json_string_value(v), in, len) == 0);
        json_decref(v);
    }
    weft__buf_fini(&b);
}

/* ---- integers, doubles, booleans ------------------------------------------------------------- */

static void expect_i64(int64_t v, const char *want)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__json_i64(&b, v);
    cr_assert(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0, "got [%.*s] want [%s]",
              (int)b.len, b.data, want);
    json_decref(wt_must_parse(b.data, b.len));
    weft__buf_fini(&b);
}

static void expect_u64(uint64_t v, const char *want)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__json_u64(&b, v);
    cr_assert(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0, "got [%.*s] want [%s]",
              (int)b.len, b.data, want);
    json_decref(wt_must_parse(b.data, b.len));
    weft__buf_fini(&b);
}

Test(json, writes_i64_extremes_and_small_values)
{
    expect_i64(0, "0");
    expect_i64(7, "7");
    expect_i64(-1, "-1");
    expect_i64(10, "10");
    expect_i64(-99, "-99");
    expect_i64(100, "100");
    expect_i64(INT64_MAX, "9223372036854775807");
    expect_i64(INT64_MIN, "-9223372036854775808");
}

Test(json, writes_u64_extremes)
{
    expect_u64(0, "0");
    expect_u64(1000000, "1000000");
    expect_u64(UINT64_MAX, "18446744073709551615");
}

Test(json, writes_random_integers_as_printf_does)
{
    uint64_t rng = 99;
    char want[32];
    weft__buf b;
    weft__buf_init(&b);
    for (int i = 0; i < 100000; i++) {
        uint64_t u = rng_next(&rng) >> (rng_next(&rng) % 64);
        weft__buf_reset(&b);
        weft__json_u64(&b, u);
        int n = snprintf(want, sizeof want, "%llu", (unsigned long long)u);
        cr_assert(b.len == (size_t)n && memcmp(b.data, want, b.len) == 0);
        int64_t s = (int64_t)u * ((i & 1) ? -1 : 1);
        weft__buf_reset(&b);
        weft__json_i64(&b, s);
        n = snprintf(want, sizeof want, "%lld", (long long)s);
        cr_assert(b.len == (size_t)n && memcmp(b.data, want, b.len) == 0);
    }
    weft__buf_fini(&b);
}

/* Writes v, checks the text is JSON and reads back to the very same bits. */
static void check_f64_round_trip(double v)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__json_f64(&b, v);
    char text[64];
    cr_assert(b.len < sizeof text);
    memcpy(text, b.data, b.len);
    text[b.len] = 0;
    json_decref(wt_must_parse(text, b.len));
    double back = strtod(text, NULL);
    uint64_t a, c;
    memcpy(&a, &v, 8);
    memcpy(&c, &back, 8);
    cr_assert_eq(a, c, "%.17g written as [%s] reads back as %.17g", v, text, back);
    weft__buf_fini(&b);
}

static void expect_f64(double v, const char *want)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__json_f64(&b, v);
    cr_assert(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0, "%.17g: got [%.*s] want [%s]",
              v, (int)b.len, b.data, want);
    json_decref(wt_must_parse(b.data, b.len));
    weft__buf_fini(&b);
    if (isfinite(v))
        check_f64_round_trip(v);
}

Test(json, writes_shortest_round_tripping_doubles)
{
    expect_f64(0.1, "0.1");
    expect_f64(-2.5, "-2.5");
    expect_f64(1e300, "1e+300");
    expect_f64(5e-324, "4.94065645841247e-324"); /* 15 digits already read back as 5e-324 */
    expect_f64(0.1 + 0.2, "0.30000000000000004");
    expect_f64(1.0 / 3.0, "0.3333333333333333");
    expect_f64(2.2250738585072014e-308, "2.2250738585072014e-308"); /* needs all 17 */
    expect_f64(1.7976931348623157e308, "1.7976931348623157e+308");
    expect_f64(123456.789, "123456.789");
}

Test(json, writes_integral_doubles_as_integers)
{
    expect_f64(3.0, "3");
    expect_f64(-3.0, "-3");
    expect_f64(0.0, "0");
    expect_f64(1e15, "1000000000000000");
    expect_f64(9007199254740991.0, "9007199254740991");
    /* 2^53 and beyond go through %g, still integers in value and valid JSON */
    expect_f64(9007199254740992.0, "9007199254740992");
    expect_f64(1e21, "1e+21");
}

Test(json, keeps_the_sign_of_negative_zero)
{
    expect_f64(-0.0, "-0.0");
}

Test(json, writes_nan_and_infinities_as_null)
{
    expect_f64(NAN, "null");
    expect_f64(-NAN, "null");
    expect_f64(INFINITY, "null");
    expect_f64(-INFINITY, "null");
}

/* json.h's recipe done the slow way: the first of %.15g, %.16g, %.17g that reads back. */
static size_t ref_f64(char *out, size_t size, double v)
{
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(out, size, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    return (size_t)n;
}

/* Non-integral doubles must come out exactly as the recipe says, whichever path wrote them. */
static void check_f64_against_recipe(double v)
{
    if (!isfinite(v) || v == floor(v))
        return;
    char want[64];
    size_t n = ref_f64(want, sizeof want, v);
    weft__buf b;
    weft__buf_init(&b);
    weft__json_f64(&b, v);
    cr_assert(b.len == n && memcmp(b.data, want, n) == 0, "%.17g: got [%.*s] want [%s]", v,
              (int)b.len, b.data, want);
    weft__buf_fini(&b);
}

Test(json, writes_short_decimals_as_the_printf_recipe_would)
{
    static const char *const texts[] = {
        "0.873", "12.5", "0.0001", "0.00012", "0.000999", "1e-4", "99999999999999.9",
        "12345678901234.5", "0.123456789", "0.1234567891", "123456.000001", "-0.5", "-7.25",
        "0.30000000000000004", "1.1", "2.675", "1.005", "0.7", "1e-5", "0.00009999",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        double v = strtod(texts[i], NULL);
        check_f64_against_recipe(v);
        check_f64_round_trip(v);
    }
    uint64_t rng = 2718;
    for (int i = 0; i < 200000; i++) {
        /* r / 10^k with r of up to 16 digits and k up to 12, through text like a parser */
        char text[64];
        uint64_t r = rng_next(&rng) % 10000000000000000ull >> (rng_next(&rng) % 50);
        int k = (int)(rng_next(&rng) % 13);
        snprintf(text, sizeof text, "%s%llue-%d", (i & 1) ? "-" : "", (unsigned long long)r, k);
        double v = strtod(text, NULL);
        check_f64_against_recipe(v);
        check_f64_round_trip(v);
    }
}

Test(json, round_trips_many_doubles_bit_for_bit)
{
    static const double fixed[] = {
        0.1, 0.2, 0.3, 1e300, -1e300, 5e-324, -5e-324, 1e-310, 2.2250738585072009e-308,
        1.7976931348623157e308, 4.35, 0.1 + 0.7, 1.0 / 3, 2.0 / 3, 3.141592653589793,
        2.718281828459045, 1e22, 1e23, 9007199254740993.0, 18446744073709551616.0, 0.5, 1.5,
        123.456, 1e-7, 6.02214076e23, 299792458.0, -1.0 / 7,
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        check_f64_round_trip(fixed[i]);
    uint64_t rng = 4242;
    for (int i = 0; i < 100000; i++) {
        uint64_t bits = rng_next(&rng);
        double v;
        memcpy(&v, &bits, 8);
        if (!isfinite(v))
            continue;
        check_f64_round_trip(v);
        check_f64_against_recipe(v);
    }
    for (int i = 0; i < 20000; i++) {
        /* decimal-looking values, the kind scores and latencies are */
        double v = (double)(int64_t)(rng_next(&rng) % 2000000 - 1000000) / 1000.0;
        check_f64_round_trip(v);
        check_f64_against_recipe(v);
    }
}

Test(json, writes_a_point_not_a_comma_whatever_the_locale)
{
    static const char *const locales[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
                                          "fr_FR.utf8", "ru_RU.UTF-8"};
    const char *got = NULL;
    for (size_t i = 0; i < sizeof locales / sizeof locales[0] && !got; i++)
        got = setlocale(LC_NUMERIC, locales[i]);
    if (!got)
        cr_skip_test("no locale with a comma decimal point is installed");
    expect_f64(0.1, "0.1");
    expect_f64(-1234.5678, "-1234.5678");
    setlocale(LC_NUMERIC, "C");
}

Test(json, writes_booleans)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__json_bool(&b, true);
    weft__buf_putc(&b, ' ');
    weft__json_bool(&b, false);
    cr_assert_eq(b.len, 10);
    cr_assert(memcmp(b.data, "true false", 10) == 0);
    weft__buf_fini(&b);
}

/* ---- validation ------------------------------------------------------------------------------ */

static void expect_valid(const char *s, size_t len, bool want, bool jansson_too)
{
    cr_assert_eq(weft__json_valid(s, len), want, "weft__json_valid([%s]) should be %s",
                 wt_show(s, len), want ? "true" : "false");
    if (!jansson_too)
        return;
    json_error_t err;
    json_t *v = json_loadb(s, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    cr_assert_eq(v != NULL, want, "jansson disagrees on [%s] (%s)", wt_show(s, len),
                 v ? "accepts" : err.text);
    json_decref(v);
}

#define VALID(lit) expect_valid((lit), sizeof(lit) - 1, true, true)
#define INVALID(lit) expect_valid((lit), sizeof(lit) - 1, false, true)

Test(json, accepts_valid_documents)
{
    VALID("{}");
    VALID("[]");
    VALID(" \t\r\n{ \"a\" : [ 1 , 2.5 , -0 , 1e10 , 1E-2 , 0.5e+3 ] } \n");
    VALID("0");
    VALID("-0");
    VALID("-0.0e0");
    VALID("123");
    VALID("\"\"");
    VALID("\"plain\"");
    VALID("true");
    VALID("false");
    VALID("null");
    VALID("[true,false,null,{},[],\"\"]");
    VALID("{\"a\":{\"b\":{\"c\":[1,{\"d\":null}]}},\"e\":\"f\"}");
    VALID("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\u00E9\"");
    VALID("\"\\u0000\"");          /* escaped NUL is JSON (jansson needs JSON_ALLOW_NUL) */
    VALID("\"\\ud83d\\ude00\"");    /* a surrogate pair */
    VALID("\"\\uD834\\uDD1E\"");
    VALID("\"caf\xC3\xA9 \xF0\x9D\x84\x9E\"");
    VALID("\"\x7f\"");
    VALID("{\"\":\"\"}");
    VALID("[[[[[]]]]]");
}

Test(json, rejects_invalid_documents)
{
    INVALID("");
    INVALID("   ");
    INVALID("{");
    INVALID("}");
    INVALID("[1,]");
    INVALID("[,1]");
    INVALID("[1 2]");
    INVALID("{\"a\"}");
    INVALID("{\"a\":}");
    INVALID("{\"a\":1,}");
    INVALID("{1:2}");
    INVALID("{a:1}");
    INVALID("[\"a\":1]");
    INVALID("{\"a\":1]");
    INVALID("[1}");
    INVALID("01");
    INVALID("-");
    INVALID("-a");
    INVALID("1.");
    INVALID(".5");
    INVALID("+1");
    INVALID("1e");
    INVALID("1e+");
    INVALID("0x10");
    INVALID("NaN");
    INVALID("Infinity");
    INVALID("tru");
    INVALID("nul");
    INVALID("True");
    INVALID("'a'");
    INVALID("\"abc");
    INVALID("\"\\\"");
    INVALID("\"\\x\"");
    INVALID("\"\\u12\"");
    INVALID("\"\\u12g4\"");
    INVALID("\"\\U0041\"");
    INVALID("\"a\nb\"");        /* raw control character */
    INVALID("\"a\tb\"");
    INVALID("\"a\0b\"");        /* raw NUL */
    INVALID("\"\x80\"");        /* invalid UTF-8 inside a string */
    INVALID("\"\xC0\xAF\"");
    INVALID("\"\xED\xA0\x80\"");
    INVALID("\"\xF4\x90\x80\x80\"");
    INVALID("\"\xE2\x82\"");
    INVALID("\"\xFF\"");
    INVALID("\xC3\xA9");        /* non-ASCII outside a string */
    INVALID("{}x");             /* trailing garbage */
    INVALID("{} {}");
    INVALID("1 2");
    INVALID("nullx");
    INVALID("[1]]");
}

Test(json, rejects_unpaired_surrogate_escapes)
{
    /* RFC 8259 §8.2 allows them syntactically but they name no character; weft treats them as
     * invalid (so does jansson). */
    INVALID("\"\\ud800\"");
    INVALID("\"\\uDBFF\"");
    INVALID("\"\\udc00\"");
    INVALID("\"\\ude00\\ud83d\"");     /* reversed pair */
    INVALID("\"\\ud800\\u0041\"");     /* high followed by a non-surrogate */
    INVALID("\"\\ud800\\ud800\"");     /* two highs */
    INVALID("\"\\ud800x\"");
    INVALID("\"\\ud800\\\"");
}

static void nested(char *out, size_t depth, bool objects)
{
    size_t k = 0;
    for (size_t i = 0; i < depth; i++) {
        if (objects) {
            memcpy(out + k, "{\"k\":", 5);
            k += 5;
        } else {
            out[k++] = '[';
        }
    }
    out[k++] = '1';
    for (size_t i = 0; i < depth; i++)
        out[k++] = objects ? '}' : ']';
    out[k] = 0;
}

Test(json, allows_nesting_256_deep_and_rejects_257)
{
    static char doc[8192];
    for (int objects = 0; objects < 2; objects++) {
        nested(doc, 256, objects);
        expect_valid(doc, strlen(doc), true, true);
        /* jansson allows 2048 levels, so only weft's answer is checked past 256 */
        nested(doc, 257, objects);
        expect_valid(doc, strlen(doc), false, false);
        nested(doc, 1000, objects);
        expect_valid(doc, strlen(doc), false, false);
    }
    /* and depth that comes back down does not accumulate */
    char flat[4 * 300 + 3];
    size_t k = 0;
    flat[k++] = '[';
    for (int i = 0; i < 300; i++) {
        memcpy(flat + k, "[],", 3);
        k += 3;
    }
    flat[k - 1] = ']';
    expect_valid(flat, k, true, true);
}

Test(json, accepts_numbers_jansson_cannot_hold)
{
    /* RFC 8259 sets no range; jansson reports overflow, which is a limit, not a syntax error. */
    expect_valid("1e400", 5, true, false);
    expect_valid("123456789012345678901234567890", 30, true, false);
}

Test(json, valid_object_wants_an_object_at_top_level)
{
    cr_assert(weft__json_valid_object("{}", 2));
    cr_assert(weft__json_valid_object(" {\"a\":[1]} ", 11));
    cr_assert_not(weft__json_valid_object("[]", 2));
    cr_assert_not(weft__json_valid_object("1", 1));
    cr_assert_not(weft__json_valid_object("\"{}\"", 4));
    cr_assert_not(weft__json_valid_object("{", 1));
    cr_assert_not(weft__json_valid_object("{}{}", 4));
    cr_assert_not(weft__json_valid_object("", 0));
}

Test(json, validates_everything_the_writer_produces)
{
    uint64_t rng = 31337;
    char in[200];
    weft__buf b;
    weft__buf_init(&b);
    for (int iter = 0; iter < 5000; iter++) {
        weft__buf_reset(&b);
        weft__buf_putc(&b, '{');
        size_t len = random_string(in, sizeof in, &rng);
        weft__json_str(&b, in, len, 50);
        weft__buf_putc(&b, ':');
        weft__buf_putc(&b, '[');
        weft__json_str(&b, in, len, 0);
        weft__buf_putc(&b, ',');
        weft__json_i64(&b, (int64_t)rng_next(&rng));
        weft__buf_putc(&b, ',');
        uint64_t bits = rng_next(&rng);
        double d;
        memcpy(&d, &bits, 8);
        weft__json_f64(&b, d);
        weft__buf_putc(&b, ']');
        weft__buf_putc(&b, '}');
        cr_assert(weft__json_valid_object(b.data, b.len), "[%s]", wt_show(b.data, b.len));
        json_decref(wt_must_parse(b.data, b.len));
    }
    weft__buf_fini(&b);
}

/* ---- UTF-8 helpers ---------------------------------------------------------------------------- */

Test(utf8, cut_never_splits_a_valid_sequence)
{
    cr_assert_eq(weft__utf8_cut("a\xC3\xA9", 3, 2), 1);
    cr_assert_eq(weft__utf8_cut("a\xC3\xA9", 3, 3), 3);
    cr_assert_eq(weft__utf8_cut("a\xC3\xA9", 3, 10), 3);
    cr_assert_eq(weft__utf8_cut("\xE2\x82\xAC", 3, 0), 0);
    cr_assert_eq(weft__utf8_cut("\xE2\x82\xAC", 3, 1), 0);
    cr_assert_eq(weft__utf8_cut("\xE2\x82\xAC", 3, 2), 0);
    cr_assert_eq(weft__utf8_cut("\xE2\x82\xAC" "x", 4, 3), 3);
    for (size_t m = 0; m < 4; m++)
        cr_assert_eq(weft__utf8_cut("\xF0\x9D\x84\x9E" "x", 5, m), 0);
    cr_assert_eq(weft__utf8_cut("\xF0\x9D\x84\x9E" "x", 5, 4), 4);
    cr_assert_eq(weft__utf8_cut("abcdef", 6, 4), 4);
}

Test(utf8, cut_may_fall_between_invalid_bytes)
{
    /* an invalid byte is a character of its own */
    cr_assert_eq(weft__utf8_cut("\xFF\xFF\xFF", 3, 1), 1);
    cr_assert_eq(weft__utf8_cut("\xE2\x82" "A", 3, 1), 1);   /* truncated sequence: 2 chars */
    cr_assert_eq(weft__utf8_cut("\x80\x80\x80\x80", 4, 2), 2);
    cr_assert_eq(weft__utf8_cut("\xED\xA0\x80", 3, 2), 2);   /* surrogate: 3 invalid bytes */
}

Test(utf8, cut_agrees_with_a_forward_walk_on_random_input)
{
    uint64_t rng = 5;
    char in[200];
    for (int iter = 0; iter < 5000; iter++) {
        size_t len = random_string(in, sizeof in, &rng);
        for (size_t max = 0; max <= len + 1; max++) {
            /* longest prefix of whole characters, characters found by prefix_chars */
            size_t best = 0;
            for (size_t n = 1;; n++) {
                size_t p = weft__utf8_prefix_chars(in, len, n);
                if (p > max || p == best)
                    break;
                best = p;
            }
            cr_assert_eq(weft__utf8_cut(in, len, max), best, "[%s] max %zu", wt_show(in, len), max);
        }
    }
}

Test(utf8, prefix_chars_counts_whole_characters)
{
    static const char s[] = "a\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E" "b";
    size_t len = sizeof s - 1;
    cr_assert_eq(weft__utf8_prefix_chars(s, len, 0), 0);
    cr_assert_eq(weft__utf8_prefix_chars(s, len, 1), 1);
    cr_assert_eq(weft__utf8_prefix_chars(s, len, 2), 3);
    cr_assert_eq(weft__utf8_prefix_chars(s, len, 3), 6);
    cr_assert_eq(weft__utf8_prefix_chars(s, len, 4), 10);
    cr_assert_eq(weft__utf8_prefix_chars(s, len, 5), 11);
    cr_assert_eq(weft__utf8_prefix_chars(s, len, 200), 11);
    cr_assert_eq(weft__utf8_prefix_chars("\xFF\xC3\xA9", 3, 1), 1);
    cr_assert_eq(weft__utf8_prefix_chars("\xFF\xC3\xA9", 3, 2), 3);
}

Test(utf8, count_counts_each_invalid_byte_as_one_character)
{
    cr_assert_eq(weft__utf8_count("", 0), 0);
    cr_assert_eq(weft__utf8_count("abc", 3), 3);
    cr_assert_eq(weft__utf8_count("a\xC3\xA9\xE2\x82\xAC\xF0\x9D\x84\x9E", 10), 4);
    /* json.h: on raw input an invalid byte counts as one character, so a truncated sequence
     * counts per byte (the JSON writer, by contrast, gives it one U+FFFD) */
    cr_assert_eq(weft__utf8_count("\xE2\x82" "A", 3), 3);
    cr_assert_eq(weft__utf8_count("\xED\xA0\x80", 3), 3);
    cr_assert_eq(weft__utf8_count("\xFF\xFE", 2), 2);
    cr_assert_eq(weft__utf8_count("a\0b", 3), 3);
}

Test(utf8, valid_rejects_every_kind_of_invalid_input_and_nul)
{
    cr_assert(weft__utf8_valid("", 0));
    cr_assert(weft__utf8_valid("plain ascii text that is long", 29));
    cr_assert(weft__utf8_valid("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9D\x84\x9E \xF4\x8F\xBF\xBF", 19));
    static const char *const bad[] = {
        "\x80", "\xBF", "\xC3", "\xE2\x82", "\xF0\x9F\x98", "\xC0\xAF", "\xC1\xBF",
        "\xE0\x80\xAF", "\xF0\x80\x80\xAF", "\xED\xA0\x80", "\xED\xBF\xBF", "\xF4\x90\x80\x80",
        "\xF5\x80\x80\x80", "\xFE", "\xFF",
    };
    char buf[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t n = strlen(bad[i]);
        cr_assert_not(weft__utf8_valid(bad[i], n), "[%s]", wt_show(bad[i], n));
        /* and at every offset inside a long ASCII run (the word-at-a-time path) */
        for (size_t at = 0; at + n <= 40; at++) {
            memset(buf, 'a', 40);
            memcpy(buf + at, bad[i], n);
            cr_assert_not(weft__utf8_valid(buf, 40), "[%s]", wt_show(buf, 40));
        }
    }
    for (size_t at = 0; at < 40; at++) {
        memset(buf, 'a', 40);
        buf[at] = 0;
        cr_assert_not(weft__utf8_valid(buf, 40));
    }
}

Test(utf8, valid_agrees_with_jansson)
{
    uint64_t rng = 8;
    char in[100];
    for (int iter = 0; iter < 20000; iter++) {
        size_t len = random_string(in, sizeof in, &rng);
        json_t *s = json_stringn(in, len); /* jansson checks UTF-8, allows NUL */
        bool want = s != NULL && memchr(in, 0, len) == NULL;
        json_decref(s);
        cr_assert_eq(weft__utf8_valid(in, len), want, "[%s]", wt_show(in, len));
    }
}

/* ---- ids and timestamps ------------------------------------------------------------------------ */

/* The fixed-format writers into a buffer, as the encoder uses them (one reservation). */
static void put_hex64(weft__buf *b, uint64_t v)
{
    cr_assert(weft__buf_reserve(b, WEFT__JSON_HEX64_LEN));
    b->len = (size_t)(weft__json_hex64_at(b->data + b->len, v) - b->data);
}

static void put_hex128(weft__buf *b, uint64_t hi, uint64_t lo)
{
    cr_assert(weft__buf_reserve(b, WEFT__JSON_HEX128_LEN));
    b->len = (size_t)(weft__json_hex128_at(b->data + b->len, hi, lo) - b->data);
}

static void put_timestamp(weft__buf *b, uint64_t ns)
{
    cr_assert(weft__buf_reserve(b, WEFT__JSON_TIMESTAMP_LEN));
    b->len = (size_t)(weft__json_timestamp_at(b->data + b->len, ns) - b->data);
}

static void put_timestamp_cached(weft__buf *b, uint64_t ns, weft__ts_cache *c)
{
    cr_assert(weft__buf_reserve(b, WEFT__JSON_TIMESTAMP_LEN));
    b->len = (size_t)(weft__json_timestamp_cached_at(b->data + b->len, ns, c) - b->data);
}

static void expect_text(weft__buf *b, const char *want)
{
    cr_assert(b->len == strlen(want) && memcmp(b->data, want, b->len) == 0,
              "got [%.*s] want [%s]", (int)b->len, b->data, want);
    json_decref(wt_must_parse(b->data, b->len));
    weft__buf_reset(b);
}

Test(ids, uuid_forces_version_4_and_rfc4122_variant)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__json_uuid(&b, 0, 0);
    expect_text(&b, "\"00000000-0000-4000-8000-000000000000\"");
    weft__json_uuid(&b, UINT64_MAX, UINT64_MAX);
    expect_text(&b, "\"ffffffff-ffff-4fff-bfff-ffffffffffff\"");
    weft__json_uuid(&b, 0x0123456789abcdefull, 0xfedcba9876543210ull);
    expect_text(&b, "\"01234567-89ab-4def-bedc-ba9876543210\"");

    uint64_t rng = 1;
    for (int i = 0; i < 1000; i++) {
        uint64_t hi = rng_next(&rng), lo = rng_next(&rng);
        weft__json_uuid(&b, hi, lo);
        cr_assert_eq(b.len, 38);
        char want[40];
        hi = (hi & ~0xF000ull) | 0x4000ull;
        lo = (lo & ~(3ull << 62)) | (2ull << 62);
        snprintf(want, sizeof want, "\"%08llx-%04llx-%04llx-%04llx-%012llx\"", (unsigned long long)(hi >> 32),
                 (unsigned long long)(hi >> 16 & 0xFFFF), (unsigned long long)(hi & 0xFFFF),
                 (unsigned long long)(lo >> 48), (unsigned long long)(lo & 0xFFFFFFFFFFFFull));
        cr_assert_eq(memcmp(b.data, want, 38), 0, "got [%.38s] want [%s]", b.data, want);
        const char *u = b.data + 1;
        for (int k = 0; k < 36; k++) {
            if (k == 8 || k == 13 || k == 18 || k == 23)
                cr_assert_eq(u[k], '-');
            else
                cr_assert(strchr("0123456789abcdef", u[k]) != NULL && u[k] != 0);
        }
        cr_assert_eq(u[14], '4');
        cr_assert(strchr("89ab", u[19]) != NULL && u[19] != 0);
        weft__buf_reset(&b);
    }
    weft__buf_fini(&b);
}

Test(ids, hex_writes_16_lowercase_digits_per_word)
{
    weft__buf b;
    weft__buf_init(&b);
    put_hex64(&b, 0);
    expect_text(&b, "\"0000000000000000\"");
    put_hex64(&b, 0x00f067aa0ba902b7ull);
    expect_text(&b, "\"00f067aa0ba902b7\"");
    put_hex64(&b, UINT64_MAX);
    expect_text(&b, "\"ffffffffffffffff\"");
    put_hex128(&b, 0x4bf92f3577b34da6ull, 0xa3ce929d0e0e4736ull);
    expect_text(&b, "\"4bf92f3577b34da6a3ce929d0e0e4736\"");
    put_hex128(&b, 0, 1);
    expect_text(&b, "\"00000000000000000000000000000001\"");
    /* every nibble value in every position, against printf */
    uint64_t rng = 7;
    for (int i = 0; i < 2000; i++) {
        uint64_t hi = rng_next(&rng), lo = i < 16 ? 0x1111111111111111ull * (uint64_t)i : rng_next(&rng);
        char want[64];
        snprintf(want, sizeof want, "\"%016llx\"", (unsigned long long)lo);
        put_hex64(&b, lo);
        expect_text(&b, want);
        snprintf(want, sizeof want, "\"%016llx%016llx\"", (unsigned long long)hi, (unsigned long long)lo);
        put_hex128(&b, hi, lo);
        expect_text(&b, want);
    }
    weft__buf_fini(&b);
}

#define NS(s) ((uint64_t)(s) * 1000000000ull)

Test(time, writes_known_instants)
{
    weft__buf b;
    weft__buf_init(&b);
    put_timestamp(&b, 0);
    expect_text(&b, "\"1970-01-01T00:00:00.000000Z\"");
    put_timestamp(&b, NS(1709210096) + 789012345);
    expect_text(&b, "\"2024-02-29T12:34:56.789012Z\"");
    put_timestamp(&b, NS(951868800));
    expect_text(&b, "\"2000-03-01T00:00:00.000000Z\"");
    put_timestamp(&b, NS(951868799));
    expect_text(&b, "\"2000-02-29T23:59:59.000000Z\"");
    put_timestamp(&b, NS(946684799) + 999999999);
    expect_text(&b, "\"1999-12-31T23:59:59.999999Z\"");
    put_timestamp(&b, NS(4107542399));
    expect_text(&b, "\"2100-02-28T23:59:59.000000Z\""); /* 2100 is not a leap year */
    put_timestamp(&b, NS(4107542400));
    expect_text(&b, "\"2100-03-01T00:00:00.000000Z\"");
    put_timestamp(&b, NS(1795306080) + 123456000);
    expect_text(&b, "\"2026-11-22T00:08:00.123456Z\""); /* json.h's example */
    put_timestamp(&b, UINT64_MAX);
    expect_text(&b, "\"2554-07-21T23:34:33.709551Z\"");
    weft__buf_fini(&b);
}

Test(time, truncates_to_the_microsecond_never_rounds)
{
    weft__buf b;
    weft__buf_init(&b);
    put_timestamp(&b, 999);
    expect_text(&b, "\"1970-01-01T00:00:00.000000Z\"");
    put_timestamp(&b, 999999);
    expect_text(&b, "\"1970-01-01T00:00:00.000999Z\"");
    put_timestamp(&b, 999999999);
    expect_text(&b, "\"1970-01-01T00:00:00.999999Z\"");
    put_timestamp(&b, NS(59) + 999999999);
    expect_text(&b, "\"1970-01-01T00:00:59.999999Z\"");
    weft__buf_fini(&b);
}

/* The slow, trusted way: libc's gmtime_r and printf. */
static void gmtime_text(char *out, size_t size, uint64_t ns)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, size, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06uZ\"", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (unsigned)(ns % 1000000000 / 1000));
}

Test(time, agrees_with_gmtime_across_six_centuries)
{
    weft__buf b;
    weft__buf_init(&b);
    uint64_t rng = 2024;
    char want[96];
    /* every day boundary for the first 400 years (one full Gregorian cycle), then random
     * instants up to 2^64 ns */
    for (uint64_t day = 0; day < 146097 + 400; day++) {
        uint64_t secs = day * 86400 + (rng_next(&rng) % 86400);
        uint64_t ns = NS(secs) + rng_next(&rng) % 1000000000;
        gmtime_text(want, sizeof want, ns);
        weft__buf_reset(&b);
        put_timestamp(&b, ns);
        cr_assert(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0,
                  "ns %llu: got [%.*s] want [%s]", (unsigned long long)ns, (int)b.len, b.data,
                  want);
    }
    for (int i = 0; i < 100000; i++) {
        uint64_t ns = rng_next(&rng);
        gmtime_text(want, sizeof want, ns);
        weft__buf_reset(&b);
        put_timestamp(&b, ns);
        cr_assert(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0,
                  "ns %llu: got [%.*s] want [%s]", (unsigned long long)ns, (int)b.len, b.data,
                  want);
    }
    weft__buf_fini(&b);
}

Test(json, cached_timestamps_match_the_uncached_writer)
{
    weft__ts_cache c = {0};
    weft__buf a, b;
    weft__buf_init(&a);
    weft__buf_init(&b);
    /* Same second twice, the next second, a jump back, and the epoch itself. */
    uint64_t t[] = {1795307012123456789ull, 1795307012999999999ull, 1795307013000000001ull,
                    1700000000000000000ull, 0, 999999999ull, 1795307013000001000ull};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        weft__buf_reset(&a);
        weft__buf_reset(&b);
        put_timestamp(&a, t[i]);
        put_timestamp_cached(&b, t[i], &c);
        cr_assert_eq(a.len, b.len);
        cr_assert_eq(memcmp(a.data, b.data, a.len), 0, "%.*s vs %.*s", (int)a.len, a.data, (int)b.len, b.data);
    }
    weft__buf_fini(&a);
    weft__buf_fini(&b);
}

Test(json, writes_durations_as_exact_milliseconds)
{
    struct {
        uint64_t ns;
        const char *text;
    } t[] = {
        {0, "0"},
        {1, "0.000001"},
        {10, "0.00001"},
        {123000, "0.123"},
        {3000000, "3"},
        {12500000, "12.5"},
        {1234567891, "1234.567891"},
        {999999999, "999.999999"},
        {UINT64_MAX, "18446744073709.551615"},
    };
    weft__buf b;
    weft__buf_init(&b);
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        weft__buf_reset(&b);
        weft__json_ms(&b, t[i].ns);
        cr_assert(b.len == strlen(t[i].text) && memcmp(b.data, t[i].text, b.len) == 0, "%llu ns: got [%.*s] want [%s]",
                  (unsigned long long)t[i].ns, (int)b.len, b.data, t[i].text);
    }
    /* every sub-millisecond remainder reads back as the number it stands for */
    uint64_t rng = 11;
    for (int i = 0; i < 20000; i++) {
        uint64_t ns = rng_next(&rng) % 100000000000ull;
        weft__buf_reset(&b);
        weft__json_ms(&b, ns);
        char want[64];
        int n = snprintf(want, sizeof want, "%llu.%06llu", (unsigned long long)(ns / 1000000),
                         (unsigned long long)(ns % 1000000));
        while (want[n - 1] == '0')
            n--;
        if (want[n - 1] == '.')
            n--;
        cr_assert(b.len == (size_t)n && memcmp(b.data, want, b.len) == 0, "%llu ns: got [%.*s] want [%.*s]",
                  (unsigned long long)ns, (int)b.len, b.data, n, want);
    }
    weft__buf_fini(&b);
}
