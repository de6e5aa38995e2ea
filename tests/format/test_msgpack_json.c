/*
 * test_msgpack_json.c — src/msgpack_json.c: every msgpack type, packed with msgpack-c's own
 * packer, against hand-written JSON; every output parsed by jansson; malformed input rejected
 * with the buffer left as it was; random trees compared value for value with jansson.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "weft_test.h"
#include "msgpack_json.h"

/* ---- helpers -------------------------------------------------------------------------------- */

#define FFFD "\xEF\xBF\xBD"
#define ELLIPSIS "\xE2\x80\xA6"

/* A packer writing into an sbuffer; each test packs one value and then calls expect_json. */
typedef struct packed {
    msgpack_sbuffer sb;
    msgpack_packer pk;
} packed;

static void packed_init(packed *p)
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer_init(&p->pk, &p->sb, msgpack_sbuffer_write);
}

static void packed_fini(packed *p)
{
    msgpack_sbuffer_destroy(&p->sb);
}


/* Transcodes data after a prefix already in the buffer, checks the prefix is kept and the
 * rest is exactly `want` and valid JSON. */
static void expect_json_n(const void *data, size_t len, size_t max_str, const char *want,
                          size_t want_len)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__buf_lit(&b, "prefix:");
    cr_assert(weft__msgpack_to_json(&b, data, len, max_str), "rejected [%s]", wt_show(data, len));
    cr_assert(!b.oom);
    cr_assert(memcmp(b.data, "prefix:", 7) == 0);
    const char *got = b.data + 7;
    size_t got_len = b.len - 7;
    cr_assert(got_len == want_len && memcmp(got, want, want_len) == 0,
              "\n got  [%s]\n want [%s]", wt_show(got, got_len), wt_show(want, want_len));
    json_decref(wt_must_parse(got, got_len));
    weft__buf_fini(&b);
}

static void expect_packed(packed *p, const char *want)
{
    expect_json_n(p->sb.data, p->sb.size, 0, want, strlen(want));
    msgpack_sbuffer_clear(&p->sb);
}

static void expect_rejected(const void *data, size_t len)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__buf_lit(&b, "prefix:");
    cr_assert_not(weft__msgpack_to_json(&b, data, len, 0), "accepted [%s]", wt_show(data, len));
    cr_assert_eq(b.len, 7);
    cr_assert(memcmp(b.data, "prefix:", 7) == 0);
    weft__buf_fini(&b);
}

#define EXPECT_REJECTED(lit) expect_rejected((lit), sizeof(lit) - 1)

/* ---- scalars -------------------------------------------------------------------------------- */

Test(msgpack_json, transcodes_nil_and_booleans)
{
    packed p;
    packed_init(&p);
    msgpack_pack_nil(&p.pk);
    expect_packed(&p, "null");
    msgpack_pack_true(&p.pk);
    expect_packed(&p, "true");
    msgpack_pack_false(&p.pk);
    expect_packed(&p, "false");
    packed_fini(&p);
}

Test(msgpack_json, transcodes_integers_of_every_width)
{
    packed p;
    packed_init(&p);
    msgpack_pack_uint8(&p.pk, 0); /* positive fixint */
    expect_packed(&p, "0");
    msgpack_pack_uint8(&p.pk, 127);
    expect_packed(&p, "127");
    msgpack_pack_fix_uint8(&p.pk, 200);
    expect_packed(&p, "200");
    msgpack_pack_fix_uint16(&p.pk, 60000);
    expect_packed(&p, "60000");
    msgpack_pack_fix_uint32(&p.pk, 4000000000u);
    expect_packed(&p, "4000000000");
    msgpack_pack_fix_uint64(&p.pk, UINT64_MAX);
    expect_packed(&p, "18446744073709551615");
    msgpack_pack_fix_uint64(&p.pk, 1);
    expect_packed(&p, "1");
    msgpack_pack_int8(&p.pk, -1); /* negative fixint */
    expect_packed(&p, "-1");
    msgpack_pack_int8(&p.pk, -32);
    expect_packed(&p, "-32");
    msgpack_pack_fix_int8(&p.pk, -100);
    expect_packed(&p, "-100");
    msgpack_pack_fix_int16(&p.pk, -30000);
    expect_packed(&p, "-30000");
    msgpack_pack_fix_int32(&p.pk, INT32_MIN);
    expect_packed(&p, "-2147483648");
    msgpack_pack_fix_int64(&p.pk, INT64_MIN);
    expect_packed(&p, "-9223372036854775808");
    msgpack_pack_fix_int64(&p.pk, INT64_MAX);
    expect_packed(&p, "9223372036854775807");
    msgpack_pack_fix_int8(&p.pk, 5); /* signed encodings of non-negative values */
    expect_packed(&p, "5");
    packed_fini(&p);
}

Test(msgpack_json, transcodes_float32_and_float64)
{
    packed p;
    packed_init(&p);
    msgpack_pack_double(&p.pk, 0.1);
    expect_packed(&p, "0.1");
    msgpack_pack_float(&p.pk, 1.5f);
    expect_packed(&p, "1.5");
    msgpack_pack_float(&p.pk, 0.1f); /* the float's exact value, widened */
    expect_packed(&p, "0.10000000149011612");
    msgpack_pack_double(&p.pk, 3.0);
    expect_packed(&p, "3");
    msgpack_pack_double(&p.pk, -0.0);
    expect_packed(&p, "-0.0");
    msgpack_pack_double(&p.pk, 1e300);
    expect_packed(&p, "1e+300");
    packed_fini(&p);
}

Test(msgpack_json, writes_nan_and_infinities_as_null)
{
    packed p;
    packed_init(&p);
    msgpack_pack_double(&p.pk, NAN);
    expect_packed(&p, "null");
    msgpack_pack_double(&p.pk, -INFINITY);
    expect_packed(&p, "null");
    msgpack_pack_float(&p.pk, INFINITY);
    expect_packed(&p, "null");
    msgpack_pack_float(&p.pk, NAN);
    expect_packed(&p, "null");
    packed_fini(&p);
}

Test(msgpack_json, transcodes_strings_of_every_width_through_the_json_writer)
{
    packed p;
    packed_init(&p);
    msgpack_pack_str_with_body(&p.pk, "", 0); /* msgpack-c unpacks it as (NULL, 0) */
    expect_packed(&p, "\"\"");
    msgpack_pack_map(&p.pk, 1);
    msgpack_pack_str_with_body(&p.pk, "", 0);
    msgpack_pack_str_with_body(&p.pk, "", 0);
    expect_packed(&p, "{\"\":\"\"}");
    msgpack_pack_str_with_body(&p.pk, "he said \"hi\"\n", 13);
    expect_packed(&p, "\"he said \\\"hi\\\"\\n\"");
    msgpack_pack_str_with_body(&p.pk, "caf\xC3\xA9", 5);
    expect_packed(&p, "\"caf\xC3\xA9\"");

    /* fixstr (< 32), str8, str16, str32 */
    static char big[70000], want[70003];
    memset(big, 'x', sizeof big);
    size_t sizes[] = {31, 32, 255, 256, 65535, 65536, 70000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        msgpack_pack_str_with_body(&p.pk, big, sizes[i]);
        want[0] = '"';
        memset(want + 1, 'x', sizes[i]);
        want[sizes[i] + 1] = '"';
        expect_json_n(p.sb.data, p.sb.size, 0, want, sizes[i] + 2);
        msgpack_sbuffer_clear(&p.sb);
    }
    packed_fini(&p);
}

Test(msgpack_json, repairs_invalid_utf8_and_nul_in_strings)
{
    packed p;
    packed_init(&p);
    msgpack_pack_str_with_body(&p.pk, "a\xFF" "b\0c\xED\xA0\x80", 8);
    expect_packed(&p, "\"a" FFFD "b" FFFD "c" FFFD FFFD FFFD "\"");
    packed_fini(&p);
}

Test(msgpack_json, cuts_strings_at_max_str_bytes)
{
    packed p;
    packed_init(&p);
    msgpack_pack_array(&p.pk, 2);
    msgpack_pack_str_with_body(&p.pk, "hello world", 11);
    msgpack_pack_str_with_body(&p.pk, "\xE2\x82\xAC\xE2\x82\xAC", 6);
    static const char want[] =
        "[\"hello" ELLIPSIS "[truncated 6 bytes]\",\"\xE2\x82\xAC" ELLIPSIS "[truncated 3 bytes]\"]";
    expect_json_n(p.sb.data, p.sb.size, 5, want, sizeof want - 1);
    packed_fini(&p);
}

Test(msgpack_json, writes_bin_as_base64)
{
    packed p;
    packed_init(&p);
    msgpack_pack_bin_with_body(&p.pk, "", 0);
    expect_packed(&p, "\"\"");
    msgpack_pack_bin_with_body(&p.pk, "\x00\x01\xFE\xFF", 4);
    expect_packed(&p, "\"AAH+/w==\"");
    msgpack_pack_bin_with_body(&p.pk, "foobar", 6);
    expect_packed(&p, "\"Zm9vYmFy\"");
    /* bin16 */
    static unsigned char big[300];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)i;
    msgpack_pack_bin_with_body(&p.pk, big, sizeof big);
    weft__buf want;
    weft__buf_init(&want);
    weft__json_base64(&want, big, sizeof big);
    expect_json_n(p.sb.data, p.sb.size, 0, want.data, want.len);
    weft__buf_fini(&want);
    packed_fini(&p);
}

Test(msgpack_json, writes_ext_data_as_base64_without_its_type)
{
    packed p;
    packed_init(&p);
    msgpack_pack_ext_with_body(&p.pk, "A", 1, 5); /* fixext1 */
    expect_packed(&p, "\"QQ==\"");
    msgpack_pack_ext_with_body(&p.pk, "AB", 2, -3); /* fixext2 */
    expect_packed(&p, "\"QUI=\"");
    msgpack_pack_ext_with_body(&p.pk, "ABCD", 4, 1); /* fixext4 */
    expect_packed(&p, "\"QUJDRA==\"");
    msgpack_pack_ext_with_body(&p.pk, "ABCDEFGH", 8, 1); /* fixext8 */
    expect_packed(&p, "\"QUJDREVGR0g=\"");
    msgpack_pack_ext_with_body(&p.pk, "ABCDEFGHIJKLMNOP", 16, 1); /* fixext16 */
    expect_packed(&p, "\"QUJDREVGR0hJSktMTU5PUA==\"");
    msgpack_pack_ext_with_body(&p.pk, "foo", 3, 7); /* ext8 */
    expect_packed(&p, "\"Zm9v\"");
    msgpack_pack_ext_with_body(&p.pk, "", 0, 7); /* ext8, empty */
    expect_packed(&p, "\"\"");
    packed_fini(&p);
}

/* ---- containers ----------------------------------------------------------------------------- */

Test(msgpack_json, transcodes_arrays_and_maps)
{
    packed p;
    packed_init(&p);
    msgpack_pack_array(&p.pk, 0);
    expect_packed(&p, "[]");
    msgpack_pack_map(&p.pk, 0);
    expect_packed(&p, "{}");

    msgpack_pack_map(&p.pk, 3);
    msgpack_pack_str_with_body(&p.pk, "name", 4);
    msgpack_pack_str_with_body(&p.pk, "retrieve", 8);
    msgpack_pack_str_with_body(&p.pk, "hits", 4);
    msgpack_pack_array(&p.pk, 2);
    msgpack_pack_map(&p.pk, 1);
    msgpack_pack_str_with_body(&p.pk, "score", 5);
    msgpack_pack_double(&p.pk, 0.5);
    msgpack_pack_nil(&p.pk);
    msgpack_pack_str_with_body(&p.pk, "k\"", 2);
    msgpack_pack_array(&p.pk, 3);
    msgpack_pack_true(&p.pk);
    msgpack_pack_int64(&p.pk, -7);
    msgpack_pack_array(&p.pk, 0);
    expect_packed(&p, "{\"name\":\"retrieve\",\"hits\":[{\"score\":0.5},null],\"k\\\"\":[true,-7,[]]}");

    /* array16 and map16 */
    msgpack_pack_array(&p.pk, 20);
    for (int i = 0; i < 20; i++)
        msgpack_pack_int(&p.pk, i);
    expect_packed(&p, "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19]");
    msgpack_pack_map(&p.pk, 16);
    for (int i = 0; i < 16; i++) {
        char k[4];
        snprintf(k, sizeof k, "%c", 'a' + i);
        msgpack_pack_str_with_body(&p.pk, k, 1);
        msgpack_pack_int(&p.pk, i);
    }
    expect_packed(&p, "{\"a\":0,\"b\":1,\"c\":2,\"d\":3,\"e\":4,\"f\":5,\"g\":6,\"h\":7,\"i\":8,"
                      "\"j\":9,\"k\":10,\"l\":11,\"m\":12,\"n\":13,\"o\":14,\"p\":15}");
    packed_fini(&p);
}

Test(msgpack_json, writes_non_string_keys_as_their_json_text_in_a_string)
{
    packed p;
    packed_init(&p);
    msgpack_pack_map(&p.pk, 9);
    msgpack_pack_int(&p.pk, 1);
    msgpack_pack_str_with_body(&p.pk, "one", 3);
    msgpack_pack_int(&p.pk, -5);
    msgpack_pack_nil(&p.pk);
    msgpack_pack_nil(&p.pk);
    msgpack_pack_int(&p.pk, 0);
    msgpack_pack_true(&p.pk);
    msgpack_pack_int(&p.pk, 1);
    msgpack_pack_double(&p.pk, 1.5);
    msgpack_pack_int(&p.pk, 2);
    msgpack_pack_double(&p.pk, NAN);
    msgpack_pack_int(&p.pk, 3);
    /* an array key: its JSON text, escaped as a string */
    msgpack_pack_array(&p.pk, 2);
    msgpack_pack_int(&p.pk, 1);
    msgpack_pack_str_with_body(&p.pk, "a", 1);
    msgpack_pack_int(&p.pk, 4);
    /* a map key with a non-string key of its own */
    msgpack_pack_map(&p.pk, 1);
    msgpack_pack_int(&p.pk, 7);
    msgpack_pack_false(&p.pk);
    msgpack_pack_int(&p.pk, 5);
    /* a bin key */
    msgpack_pack_bin_with_body(&p.pk, "\x01", 1);
    msgpack_pack_int(&p.pk, 6);
    expect_packed(&p, "{\"1\":\"one\",\"-5\":null,\"null\":0,\"true\":1,\"1.5\":2,\"null\":3,"
                      "\"[1,\\\"a\\\"]\":4,\"{\\\"7\\\":false}\":5,\"\\\"AQ==\\\"\":6}");
    packed_fini(&p);
}

static void pack_nested(packed *p, int depth, bool maps)
{
    for (int i = 0; i < depth; i++) {
        if (maps) {
            msgpack_pack_map(&p->pk, 1);
            msgpack_pack_str_with_body(&p->pk, "k", 1);
        } else {
            msgpack_pack_array(&p->pk, 1);
        }
    }
    msgpack_pack_int(&p->pk, 1);
}

Test(msgpack_json, allows_32_levels_of_nesting_and_rejects_33)
{
    /* msgpack_json.h says 256, but libmsgpackc's C unpacker has a fixed 32-entry stack
     * (MSGPACK_EMBED_STACK_SIZE, compiled into the library): 32 is the real limit. */
    for (int maps = 0; maps < 2; maps++) {
        packed p;
        packed_init(&p);
        pack_nested(&p, 32, maps);
        weft__buf b;
        weft__buf_init(&b);
        cr_assert(weft__msgpack_to_json(&b, p.sb.data, p.sb.size, 0));
        json_decref(wt_must_parse(b.data, b.len));
        weft__buf_fini(&b);
        msgpack_sbuffer_clear(&p.sb);

        pack_nested(&p, 33, maps);
        expect_rejected(p.sb.data, p.sb.size);
        msgpack_sbuffer_clear(&p.sb);

        /* an empty container at depth 33 counts too (msgpack-c fails it as well) */
        pack_nested(&p, 32, maps);
        p.sb.size--; /* drop the innermost 1 ... */
        msgpack_pack_array(&p.pk, 0); /* ... for [] */
        expect_rejected(p.sb.data, p.sb.size);
        packed_fini(&p);
    }
}

/* ---- malformed input ------------------------------------------------------------------------ */

static void pack_sample(packed *p)
{
    msgpack_pack_map(&p->pk, 4);
    msgpack_pack_str_with_body(&p->pk, "s", 1);
    msgpack_pack_str_with_body(&p->pk, "a string of forty bytes, more or less..", 39);
    msgpack_pack_str_with_body(&p->pk, "n", 1);
    msgpack_pack_array(&p->pk, 5);
    msgpack_pack_fix_uint64(&p->pk, 1);
    msgpack_pack_fix_int32(&p->pk, -2);
    msgpack_pack_double(&p->pk, 0.25);
    msgpack_pack_float(&p->pk, 2.0f);
    msgpack_pack_nil(&p->pk);
    msgpack_pack_int(&p->pk, 9);
    msgpack_pack_bin_with_body(&p->pk, "bytes", 5);
    msgpack_pack_str_with_body(&p->pk, "e", 1);
    msgpack_pack_ext_with_body(&p->pk, "xyz", 3, 1);
}

Test(msgpack_json, rejects_every_truncation_of_a_valid_object)
{
    packed p;
    packed_init(&p);
    pack_sample(&p);
    for (size_t len = 0; len < p.sb.size; len++)
        expect_rejected(p.sb.data, len);
    expect_json_n(p.sb.data, p.sb.size, 0,
                  "{\"s\":\"a string of forty bytes, more or less..\",\"n\":[1,-2,0.25,2,null],"
                  "\"9\":\"Ynl0ZXM=\",\"e\":\"eHl6\"}",
                  strlen("{\"s\":\"a string of forty bytes, more or less..\",\"n\":[1,-2,0.25,2,"
                         "null],\"9\":\"Ynl0ZXM=\",\"e\":\"eHl6\"}"));
    packed_fini(&p);
}

Test(msgpack_json, rejects_trailing_bytes_and_a_second_object)
{
    packed p;
    packed_init(&p);
    pack_sample(&p);
    msgpack_pack_nil(&p.pk);
    expect_rejected(p.sb.data, p.sb.size);
    packed_fini(&p);
    EXPECT_REJECTED("\xC0\xC0");
    EXPECT_REJECTED("\x01\x02");
    EXPECT_REJECTED("\x90\x00"); /* [] then 0 */
}

Test(msgpack_json, rejects_garbage_and_the_never_used_byte)
{
    expect_rejected("", 0);
    EXPECT_REJECTED("\xC1");
    EXPECT_REJECTED("\x91\xC1");
    EXPECT_REJECTED("\x81\xC1\x01");
    EXPECT_REJECTED("\x92\x01"); /* array of 2 with 1 element */
    EXPECT_REJECTED("\x81\x01"); /* map missing its value */
    EXPECT_REJECTED("\xA5" "abc"); /* fixstr longer than the data */
    EXPECT_REJECTED("\xCB\x00\x00"); /* float64 cut short */
    EXPECT_REJECTED("\xD8\x01\x02"); /* fixext16 cut short */
}

Test(msgpack_json, rejects_huge_declared_lengths_without_allocating_them)
{
    /* Headers claiming 2^32-1 elements or bytes with nothing after them: msgpack-c would
     * allocate ~96 GiB for the array before noticing; the pre-scan refuses first. */
    EXPECT_REJECTED("\xDD\xFF\xFF\xFF\xFF");
    EXPECT_REJECTED("\xDF\xFF\xFF\xFF\xFF");
    EXPECT_REJECTED("\xDB\xFF\xFF\xFF\xFF" "abc");
    EXPECT_REJECTED("\xC6\xFF\xFF\xFF\xFF" "abc");
    EXPECT_REJECTED("\xC9\xFF\xFF\xFF\xFF\x01" "abc");
    EXPECT_REJECTED("\x91\xDD\x7F\xFF\xFF\xFF\x00");
    /* a map whose count fits the bytes as elements but not as key/value pairs */
    EXPECT_REJECTED("\x82\x01\x02\x03");
}

/* ---- base64 --------------------------------------------------------------------------------- */

Test(msgpack_json, base64_matches_rfc4648_test_vectors)
{
    static const char *const in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const want[] = {"\"\"",         "\"Zg==\"",     "\"Zm8=\"",
                                       "\"Zm9v\"",     "\"Zm9vYg==\"", "\"Zm9vYmE=\"",
                                       "\"Zm9vYmFy\""};
    weft__buf b;
    weft__buf_init(&b);
    for (size_t i = 0; i < 7; i++) {
        weft__buf_reset(&b);
        weft__json_base64(&b, in[i], strlen(in[i]));
        cr_assert(b.len == strlen(want[i]) && memcmp(b.data, want[i], b.len) == 0,
                  "got [%.*s] want [%s]", (int)b.len, b.data, want[i]);
        json_decref(wt_must_parse(b.data, b.len));
    }
    weft__buf_fini(&b);
}

/* ---- random trees --------------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Packs a random value and builds the json_t it should read back as (numbers as reals, to
 * match parsing with JSON_DECODE_INT_AS_REAL; strings valid UTF-8, keys distinct strings). */
static json_t *pack_random(packed *p, uint64_t *rng, int depth)
{
    static const char *const words[] = {"", "a", "caf\xC3\xA9", "q\"uote", "back\\slash",
                                        "line\nbreak", "\xF0\x9D\x84\x9E", "tab\t"};
    unsigned kind = (unsigned)(rng_next(rng) % (depth < 6 ? 9 : 7));
    switch (kind) {
    case 0:
        msgpack_pack_nil(&p->pk);
        return json_null();
    case 1: {
        bool v = rng_next(rng) & 1;
        v ? msgpack_pack_true(&p->pk) : msgpack_pack_false(&p->pk);
        return json_boolean(v);
    }
    case 2: {
        uint64_t u = rng_next(rng) >> (rng_next(rng) % 64);
        msgpack_pack_uint64(&p->pk, u);
        return json_real((double)u);
    }
    case 3: {
        int64_t i = -(int64_t)(rng_next(rng) >> (1 + rng_next(rng) % 63));
        msgpack_pack_int64(&p->pk, i);
        return json_real((double)i);
    }
    case 4: {
        double d = (double)(int64_t)(rng_next(rng) % 2000001) / 1024.0 - 976.0;
        msgpack_pack_double(&p->pk, d);
        return json_real(d);
    }
    case 5: {
        float f = (float)(rng_next(rng) % 100000) / 64.0f;
        msgpack_pack_float(&p->pk, f);
        return json_real((double)f);
    }
    case 6: {
        const char *w = words[rng_next(rng) % 8];
        msgpack_pack_str_with_body(&p->pk, w, strlen(w));
        return json_string(w);
    }
    case 7: {
        size_t n = (size_t)(rng_next(rng) % 5);
        msgpack_pack_array(&p->pk, n);
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, pack_random(p, rng, depth + 1));
        return a;
    }
    default: {
        size_t n = (size_t)(rng_next(rng) % 5);
        msgpack_pack_map(&p->pk, n);
        json_t *o = json_object();
        for (size_t i = 0; i < n; i++) {
            char key[16];
            snprintf(key, sizeof key, "k%zu", i);
            msgpack_pack_str_with_body(&p->pk, key, strlen(key));
            json_object_set_new(o, key, pack_random(p, rng, depth + 1));
        }
        return o;
    }
    }
}

Test(msgpack_json, reads_back_as_the_same_value_for_random_trees)
{
    uint64_t rng = 0xC0FFEE;
    weft__buf b;
    weft__buf_init(&b);
    for (int iter = 0; iter < 3000; iter++) {
        packed p;
        packed_init(&p);
        json_t *want = pack_random(&p, &rng, 0);
        weft__buf_reset(&b);
        cr_assert(weft__msgpack_to_json(&b, p.sb.data, p.sb.size, 0));
        json_t *got = wt_must_parse(b.data, b.len);
        cr_assert(json_equal(got, want), "iter %d: [%s]", iter, wt_show(b.data, b.len));
        json_decref(got);
        json_decref(want);
        packed_fini(&p);
    }
    weft__buf_fini(&b);
}

/* Packs `levels` maps, each the only key of the one around it, ending in the key "a\"b" and
 * one nil value per map. */
static void pack_nested_keys(msgpack_packer *pk, int levels)
{
    for (int i = 0; i < levels; i++)
        msgpack_pack_map(pk, 1);
    msgpack_pack_str(pk, 3);
    msgpack_pack_str_body(pk, "a\"b", 3);
    for (int i = 0; i < levels; i++)
        msgpack_pack_nil(pk);
}

/* A map key that is a container is quoted, so its escapes double per level of such keys: 30
 * levels would be ~2^30 times the input (found by fuzz_msgpack_json running out of memory).
 * Keys nest at most three containers deep; a deeper one fails, whatever the string limit. */
Test(msgpack_json, container_keys_nest_at_most_three_deep)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    weft__buf b;
    weft__buf_init(&b);
    for (int levels = 30; levels >= 5; levels -= 25) {
        msgpack_sbuffer_clear(&sb);
        pack_nested_keys(&pk, levels);
        cr_assert_not(weft__msgpack_to_json(&b, sb.data, sb.size, 0), "%d levels", levels);
        cr_assert_not(weft__msgpack_to_json(&b, sb.data, sb.size, 2), "%d levels", levels);
        cr_assert_eq(b.len, 0);
        cr_assert_not(b.oom);
    }
    /* Four maps: the outermost is the value, the other three are keys within keys. */
    msgpack_sbuffer_clear(&sb);
    pack_nested_keys(&pk, 4);
    cr_assert(weft__msgpack_to_json(&b, sb.data, sb.size, 0));
    cr_assert(weft__msgpack_to_json(&b, sb.data, sb.size, 0)); /* the same twice: no state */
    cr_assert_eq(b.len % 2, 0);
    b.len /= 2;
    cr_assert_eq(memcmp(b.data, b.data + b.len, b.len), 0);
    /* Unwrap it: each object's only key is the JSON text of the next object. */
    json_t *obj = wt_must_parse(b.data, b.len);
    for (int level = 0; level < 3; level++) {
        cr_assert(json_is_object(obj) && json_object_size(obj) == 1, "level %d", level);
        const char *key = json_object_iter_key(json_object_iter(obj));
        cr_assert(json_is_null(json_object_get(obj, key)));
        json_t *inner = wt_must_parse(key, strlen(key));
        json_decref(obj);
        obj = inner;
    }
    cr_assert(json_is_null(json_object_get(obj, "a\"b")), "innermost key lost");
    json_decref(obj);
    /* Five maps: one level too many. */
    msgpack_sbuffer_clear(&sb);
    pack_nested_keys(&pk, 5);
    b.len = 0;
    cr_assert_not(weft__msgpack_to_json(&b, sb.data, sb.size, 0));
    /* Two levels are an honest value and go through. */
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "k", 1);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_nil(&pk);
    cr_assert(weft__msgpack_to_json(&b, sb.data, sb.size, 0));
    cr_assert_eq(b.len, strlen("{\"{\\\"k\\\":1}\":null}"));
    cr_assert_eq(memcmp(b.data, "{\"{\\\"k\\\":1}\":null}", b.len), 0, "%.*s", (int)b.len, b.data);
    weft__buf_fini(&b);
    msgpack_sbuffer_destroy(&sb);
}
