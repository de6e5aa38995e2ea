/*
 * test_traceparent.c — src/format/traceparent.c against the cases of the W3C trace-context
 * test suite (w3c/trace-context test/test.py: versions, lengths, illegal characters, case,
 * all-zero ids, future versions with extra fields, whitespace; tracestate member grammar,
 * key and value limits, duplicates, 32 members), written here as expected outcomes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "traceparent.h"

#define TID "12345678901234567890123456789012"
#define PID "1234567890123456"

static bool parse(const char *s, weft__traceparent *tp) { return weft__traceparent_parse(s, strlen(s), tp); }

static void expect_invalid(const char *s)
{
    weft__traceparent tp = {1, 2, 3, 4, 5};
    cr_expect_not(parse(s, &tp), "accepted \"%s\"", s);
    cr_expect(tp.trace_hi == 1 && tp.span_id == 3, "output written for a rejected header");
}

static void expect_valid(const char *s, uint8_t version, uint8_t flags)
{
    weft__traceparent tp;
    cr_assert(parse(s, &tp), "rejected \"%s\"", s);
    cr_expect_eq(tp.trace_hi, 0x1234567890123456ull);
    cr_expect_eq(tp.trace_lo, 0x7890123456789012ull);
    cr_expect_eq(tp.span_id, 0x1234567890123456ull);
    cr_expect_eq(tp.version, version);
    cr_expect_eq(tp.flags, flags);
}

Test(traceparent, reads_version_00_with_its_ids_and_flags)
{
    expect_valid("00-" TID "-" PID "-01", 0, 1);
    expect_valid("00-" TID "-" PID "-00", 0, 0);
    expect_valid("00-" TID "-" PID "-ff", 0, 0xff);
}

Test(traceparent, rejects_version_00_with_anything_after_the_flags)
{
    expect_invalid("00-" TID "-" PID "-01.");
    expect_invalid("00-" TID "-" PID "-01-what-the-future-will-be-like");
}

Test(traceparent, reads_a_future_version_and_ignores_its_extra_fields)
{
    expect_valid("cc-" TID "-" PID "-01", 0xcc, 1);
    expect_valid("cc-" TID "-" PID "-01-what-the-future-will-be-like", 0xcc, 1);
    expect_invalid("cc-" TID "-" PID "-01.what-the-future-will-be-like");
}

Test(traceparent, rejects_version_ff)
{
    expect_invalid("ff-" TID "-" PID "-01");
}

Test(traceparent, rejects_illegal_or_misplaced_characters_in_every_field)
{
    expect_invalid(".0-" TID "-" PID "-01");
    expect_invalid("0.-" TID "-" PID "-01");
    expect_invalid("00-.2345678901234567890123456789012-" PID "-01");
    expect_invalid("00-1234567890123456789012345678901.-" PID "-01");
    expect_invalid("00-" TID "-.234567890123456-01");
    expect_invalid("00-" TID "-123456789012345.-01");
    expect_invalid("00-" TID "-" PID "-.0");
    expect_invalid("00-" TID "-" PID "-0.");
    expect_invalid("00_" TID "-" PID "-01");
    expect_invalid("00-" TID "_" PID "-01");
    expect_invalid("00-" TID "-" PID "_01");
}

Test(traceparent, rejects_upper_case_hex)
{
    expect_invalid("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01");
    expect_invalid("00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01");
    expect_invalid("0A-" TID "-" PID "-01");
    expect_invalid("00-" TID "-" PID "-0A");
}

Test(traceparent, rejects_fields_too_long_or_too_short)
{
    expect_invalid("000-" TID "-" PID "-01");
    expect_invalid("0000-" TID "-" PID "-01");
    expect_invalid("0-" TID "-" PID "-01");
    expect_invalid("00-123456789012345678901234567890123-" PID "-01");
    expect_invalid("00-1234567890123456789012345678901-" PID "-01");
    expect_invalid("00-" TID "-12345678901234567-01");
    expect_invalid("00-" TID "-123456789012345-01");
    expect_invalid("00-" TID "-" PID "-001");
    expect_invalid("00-" TID "-" PID "-1");
    expect_invalid("");
    expect_invalid("00");
    cr_expect_not(weft__traceparent_parse(NULL, 0, &(weft__traceparent){0}));
}

Test(traceparent, rejects_all_zero_trace_or_parent_ids)
{
    expect_invalid("00-00000000000000000000000000000000-" PID "-01");
    expect_invalid("00-" TID "-0000000000000000-01");
    /* Half a zero trace id is still an id. */
    weft__traceparent tp;
    cr_expect(parse("00-00000000000000000000000000000001-" PID "-01", &tp));
    cr_expect(parse("00-10000000000000000000000000000000-" PID "-01", &tp));
}

Test(traceparent, ignores_whitespace_around_the_value)
{
    expect_valid(" 00-" TID "-" PID "-01", 0, 1);
    expect_valid("\t00-" TID "-" PID "-01", 0, 1);
    expect_valid("00-" TID "-" PID "-01 ", 0, 1);
    expect_valid("00-" TID "-" PID "-01\t", 0, 1);
    expect_valid("\t 00-" TID "-" PID "-01 \t", 0, 1);
    expect_invalid("00-" TID " -" PID "-01");
}

Test(traceparent, stops_at_the_given_length_not_at_a_nul)
{
    const char s[] = "00-" TID "-" PID "-01-and-more";
    weft__traceparent tp;
    cr_expect(weft__traceparent_parse(s, 55, &tp));
    cr_expect_not(weft__traceparent_parse(s, 54, &tp));
}

Test(traceparent, writes_version_00_that_reads_back)
{
    weft__traceparent tp = {0x4bf92f3577b34da6ull, 0xa3ce929d0e0e4736ull, 0x00f067aa0ba902b7ull, 7, 1};
    char out[WEFT__TRACEPARENT_LEN + 1];
    memset(out, 'x', sizeof out);
    cr_assert_eq(weft__traceparent_format(out, &tp), 55);
    cr_expect_str_eq(out, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    weft__traceparent back;
    cr_assert(parse(out, &back));
    cr_expect(back.trace_hi == tp.trace_hi && back.trace_lo == tp.trace_lo && back.span_id == tp.span_id);
    cr_expect_eq(back.version, 0);
    cr_expect_eq(back.flags, 1);
    /* A future version received is written as 00 with the same ids. */
    cr_assert(parse("cc-" TID "-" PID "-01-extra", &back));
    weft__traceparent_format(out, &back);
    cr_expect_str_eq(out, "00-" TID "-" PID "-01");
}

/* ---- tracestate --------------------------------------------------------------------------- */

static bool ts_valid(const char *s, size_t *n) { return weft__tracestate_valid(s, strlen(s), n); }

Test(tracestate, accepts_members_with_whitespace_and_empty_members)
{
    size_t n = 0;
    cr_expect(ts_valid("foo=1", &n) && n == 1);
    cr_expect(ts_valid("foo=1,bar=2", &n) && n == 2);
    cr_expect(ts_valid("foo=1 \t , \t bar=2, \t baz=3", &n) && n == 3);
    cr_expect(ts_valid("foo=1\t \t,\t \tbar=2,\t \tbaz=3", &n) && n == 3);
    cr_expect(ts_valid(" foo=1", &n) && n == 1);
    cr_expect(ts_valid("\t foo=1 \t", &n) && n == 1);
    cr_expect(ts_valid("foo=1,,bar=2", &n) && n == 2);
    cr_expect(ts_valid("foo=1,", &n) && n == 1);
    cr_expect(ts_valid("foo=1,bar=2,rojo=1,congo=2,baz=3", &n) && n == 5);
}

Test(tracestate, rejects_an_empty_value)
{
    cr_expect_not(ts_valid("", NULL));
    cr_expect_not(ts_valid(" \t ", NULL));
    cr_expect_not(ts_valid(",", NULL));
    cr_expect_not(weft__tracestate_valid(NULL, 0, NULL));
}

Test(tracestate, accepts_every_allowed_character)
{
    char key[64], keyv[80], value[128], member[256];
    strcpy(key, "abcdefghijklmnopqrstuvwxyz0123456789_-*/");
    snprintf(keyv, sizeof keyv, "%s@a-z0-9_-*/", key);
    size_t v = 0;
    for (int c = 0x20; c <= 0x7e; c++)
        if (c != 0x2c && c != 0x3d)
            value[v++] = (char)c;
    value[v] = '\0';
    snprintf(member, sizeof member, "%s=%s", key, value);
    cr_expect(ts_valid(member, NULL), "%s", member);
    snprintf(member, sizeof member, "%s=%s", keyv, value);
    cr_expect(ts_valid(member, NULL), "%s", member);
}

Test(tracestate, rejects_illegal_keys)
{
    cr_expect_not(ts_valid("foo =1", NULL));
    cr_expect_not(ts_valid("FOO=1", NULL));
    cr_expect_not(ts_valid("foo.bar=1", NULL));
    cr_expect_not(ts_valid("1foo=1", NULL)); /* a simple key starts with a letter */
    cr_expect(ts_valid("1foo@bar=1", NULL)); /* a tenant may start with a digit */
    cr_expect_not(ts_valid("=1", NULL));
    cr_expect_not(ts_valid("foo", NULL));
}

Test(tracestate, rejects_illegal_vendor_formats)
{
    cr_expect_not(ts_valid("foo@=1,bar=2", NULL));
    cr_expect_not(ts_valid("@foo=1,bar=2", NULL));
    cr_expect_not(ts_valid("foo@@bar=1,bar=2", NULL));
    cr_expect_not(ts_valid("foo@bar@baz=1,bar=2", NULL));
    cr_expect_not(ts_valid("foo@1bar=1", NULL)); /* a system id starts with a letter */
}

Test(tracestate, rejects_illegal_values)
{
    cr_expect_not(ts_valid("foo=bar=baz", NULL));
    cr_expect_not(ts_valid("foo=,bar=3", NULL));
    cr_expect_not(ts_valid("foo=a\x7f", NULL));
    cr_expect_not(ts_valid("foo=caf\xc3\xa9", NULL));
    cr_expect(ts_valid("foo=a b", NULL)); /* inner spaces are allowed */
}

Test(tracestate, rejects_a_repeated_key)
{
    cr_expect_not(ts_valid("foo=1,foo=1", NULL));
    cr_expect_not(ts_valid("foo=1,foo=2", NULL));
    cr_expect(ts_valid("foo=1,foo@x=2", NULL));
}

static void members(char *out, size_t cap, int n)
{
    size_t at = 0;
    out[0] = '\0';
    for (int i = 1; i <= n; i++)
        at += (size_t)snprintf(out + at, cap - at, "%sbar%02d=%02d", i > 1 ? "," : "", i, i);
}

Test(tracestate, keeps_32_members_and_rejects_33)
{
    char s[512];
    size_t n = 0;
    members(s, sizeof s, 32);
    cr_expect(ts_valid(s, &n) && n == 32, "%s", s);
    members(s, sizeof s, 33);
    cr_expect_not(ts_valid(s, NULL));
}

Test(tracestate, holds_keys_and_values_to_their_length_limits)
{
    char s[700];
    memset(s, 'z', 256);
    strcpy(s + 256, "=1");
    cr_expect(ts_valid(s, NULL));
    memset(s, 'z', 257);
    strcpy(s + 257, "=1");
    cr_expect_not(ts_valid(s, NULL));
    memset(s, 't', 241);
    s[241] = '@';
    memset(s + 242, 'v', 14);
    strcpy(s + 256, "=1");
    cr_expect(ts_valid(s, NULL));
    memset(s, 't', 242);
    strcpy(s + 242, "@v=1");
    cr_expect_not(ts_valid(s, NULL));
    strcpy(s, "t@");
    memset(s + 2, 'v', 15);
    strcpy(s + 17, "=1");
    cr_expect_not(ts_valid(s, NULL));
    /* Values: 256 characters, not 257. */
    strcpy(s, "foo=");
    memset(s + 4, 'x', 256);
    s[260] = '\0';
    cr_expect(ts_valid(s, NULL));
    memset(s + 4, 'x', 257);
    s[261] = '\0';
    cr_expect_not(ts_valid(s, NULL));
    /* Whitespace after a value is the list's optional whitespace, not part of the value. */
    cr_expect(ts_valid("foo=1 ", NULL));
}
