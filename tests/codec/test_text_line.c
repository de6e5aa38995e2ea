/*
 * test_text_line.c — the stdout exporter's line (src/codec/text_line.c), whole lines compared
 * with the expected text: ids as the first 8 hex digits of the SGP UUIDs, "-" for a root,
 * padded type and status, duration in ms or "open", the name as its JSON string.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "text_line.h"

static void fixed(weft__rec *r, uint64_t parent)
{
    weft__rec_init(r);
    r->trace = 0x0123456789abcdefu;
    r->id = 0xfedcba9876543210u;
    r->parent = parent;
    r->start_ns = 1795306080500000000u;
    r->end_ns = r->start_ns + 1250000u; /* 1.25 ms */
    r->type = WEFT_TYPE_COMPLETION;
    r->status = WEFT_STATUS_SUCCESS;
    weft__buf_append(&r->name, "answer", 6);
}

static void expect(const weft__rec *r, const char *want, unsigned want_flags)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__buf_lit(&b, "prefix|"); /* appends: what was there stays */
    weft__encode_opts o = {0};
    unsigned f = weft__encode_text_line(&b, r, &o);
    cr_assert_not(b.oom);
    cr_assert_eq(f, want_flags);
    cr_assert_geq(b.len, 7);
    cr_assert_eq(memcmp(b.data, "prefix|", 7), 0);
    size_t n = b.len - 7;
    cr_assert_eq(n, strlen(want), "\n got [%.*s]\nwant [%s]", (int)n, b.data + 7, want);
    cr_assert(memcmp(b.data + 7, want, n) == 0, "\n got [%.*s]\nwant [%s]", (int)n, b.data + 7, want);
    weft__buf_fini(&b);
}

Test(text_line, writes_a_finished_root_in_the_documented_columns)
{
    weft__rec r;
    fixed(&r, 0);
    expect(&r, "weft 01234567 fedcba98 -        COMPLETION         SUCCESS      1.250 ms \"answer\"", 0);
    weft__rec_fini(&r);
}

Test(text_line, names_the_parent_and_the_status)
{
    weft__rec r;
    fixed(&r, 0x00c0ffee12345678u);
    r.type = WEFT_TYPE_KB_RETRIEVAL;
    r.status = WEFT_STATUS_ERROR;
    r.end_ns = r.start_ns + 12345678901u; /* 12.3 s */
    expect(&r, "weft 01234567 fedcba98 00c0ffee KB_RETRIEVAL       ERROR    12345.679 ms \"answer\"", 0);
    r.status = WEFT_STATUS_CANCELED;
    r.type = WEFT_TYPE_AGENT_WORKFLOW;
    r.end_ns = r.start_ns;
    expect(&r, "weft 01234567 fedcba98 00c0ffee AGENT_WORKFLOW     CANCELED     0.000 ms \"answer\"", 0);
    weft__rec_fini(&r);
}

Test(text_line, shows_an_open_span_as_open)
{
    weft__rec r;
    fixed(&r, 0);
    r.end_ns = 0;
    expect(&r, "weft 01234567 fedcba98 -        COMPLETION         SUCCESS          open \"answer\"", 0);
    weft__rec_fini(&r);
}

Test(text_line, writes_out_of_range_values_as_their_documented_fallbacks)
{
    weft__rec r;
    fixed(&r, 0);
    r.type = 1000;
    r.status = 9;
    expect(&r, "weft 01234567 fedcba98 -        CUSTOM             ERROR        1.250 ms \"answer\"", 0);
    weft__rec_fini(&r);
}

Test(text_line, escapes_and_repairs_the_name_so_it_cannot_break_the_line)
{
    weft__rec r;
    fixed(&r, 0);
    weft__buf_reset(&r.name);
    weft__buf_lit(&r.name, "two\nlines \"q\" \xff");
    expect(&r,
           "weft 01234567 fedcba98 -        COMPLETION         SUCCESS      1.250 ms \"two\\nlines \\\"q\\\" "
           "\xef\xbf\xbd\"",
           WEFT__JSON_REPAIRED);
    weft__buf_reset(&r.name);
    expect(&r, "weft 01234567 fedcba98 -        COMPLETION         SUCCESS      1.250 ms \"unnamed\"", 0);
    weft__rec_fini(&r);
}
