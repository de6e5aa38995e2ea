/*
 * test_record.c — a span record's typed attribute values (src/assemble/record.c): what an
 * encoder walks, how strings are made valid and cut, and the JSON view tests and filters get.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "json.h"
#include "record.h"

Test(record, keeps_each_value_with_its_type_for_the_encoders)
{
    weft__rec r;
    weft__rec_init(&r);
    weft__rec_set_str(&r, WEFT_INPUT, "q", 1, "hello", 5);
    weft__rec_set_i64(&r, WEFT_INPUT, "k", 1, 42);
    weft__rec_set_f64(&r, WEFT_OUTPUT, "s", 1, 0.5);
    weft__rec_set_bool(&r, WEFT_OUTPUT, "b", 1, true);
    weft__rec_set(&r, WEFT_METADATA, "o", 1, "{\"a\":1}", 7);
    int want[] = {WEFT__VAL_STR, WEFT__VAL_I64, WEFT__VAL_F64, WEFT__VAL_BOOL, WEFT__VAL_JSON};
    size_t pos = 0, n = 0;
    weft__rec_entry e;
    while (weft__rec_next(&r, &pos, &e)) {
        cr_assert_lt(n, 5);
        cr_assert_eq(e.vtype, want[n], "entry %zu has type %d", n, e.vtype);
        n++;
    }
    cr_assert_eq(n, 5);
    cr_assert_eq(r.n_attrs, 5);
    pos = 0;
    weft__rec_next(&r, &pos, &e);
    cr_assert(e.val_len == 5 && memcmp(e.val, "hello", 5) == 0, "a string is its text, not JSON");
    weft__rec_next(&r, &pos, &e);
    int64_t v;
    memcpy(&v, e.val, sizeof v);
    cr_assert_eq(v, 42, "an integer is its binary value");
    weft__rec_fini(&r);
}

Test(record, gives_every_value_as_json_through_get)
{
    weft__rec r;
    weft__rec_init(&r);
    weft__buf view;
    weft__buf_init(&view);
    weft__rec_set_str(&r, WEFT_INPUT, "q", 1, "say \"hi\"", 8);
    weft__rec_set_f64(&r, WEFT_OUTPUT, "s", 1, 0.25);
    weft__rec_set_bool(&r, WEFT_OUTPUT, "b", 1, false);
    size_t len;
    const char *j = weft__rec_get(&r, WEFT_INPUT, "q", 1, &len, &view);
    cr_assert(j && len == 12 && memcmp(j, "\"say \\\"hi\\\"\"", 12) == 0, "got %.*s", (int)len, j);
    j = weft__rec_get(&r, WEFT_OUTPUT, "s", 1, &len, &view);
    cr_assert(j && len == 4 && memcmp(j, "0.25", 4) == 0);
    j = weft__rec_get(&r, WEFT_OUTPUT, "b", 1, &len, &view);
    cr_assert(j && len == 5 && memcmp(j, "false", 5) == 0);
    cr_assert_null(weft__rec_get(&r, WEFT_METADATA, "q", 1, &len, &view), "keys are per section");
    weft__buf_fini(&view);
    weft__rec_fini(&r);
}

Test(record, makes_text_valid_utf8_and_marks_what_a_cut_left_out)
{
    weft__buf b;
    weft__buf_init(&b);
    unsigned f = weft__rec_text(&b, "ok", 2, 2, 0);
    cr_assert_eq(f, 0);
    cr_assert(b.len == 2 && memcmp(b.data, "ok", 2) == 0);

    f = weft__rec_text(&b, "a\xff" "b", 3, 3, 0);
    cr_assert_eq(f, WEFT__JSON_REPAIRED);
    cr_assert(b.len == 5 && memcmp(b.data, "a\xEF\xBF\xBD" "b", 5) == 0);

    f = weft__rec_text(&b, "abcdef", 6, 6, 4);
    cr_assert_eq(f, WEFT__JSON_TRUNCATED);
    cr_assert_str_eq((weft__buf_putc(&b, 0), b.data), "abcd\xE2\x80\xA6[truncated 2 bytes]");

    /* The producer kept 4 of 10 bytes and split "é" (C3 A9) after its first byte. */
    f = weft__rec_text(&b, "abc\xC3", 4, 10, 0);
    cr_assert_eq(f, WEFT__JSON_TRUNCATED, "a split character is dropped, not repaired");
    cr_assert_str_eq((weft__buf_putc(&b, 0), b.data), "abc\xE2\x80\xA6[truncated 7 bytes]");
    cr_assert(weft__utf8_valid(b.data, b.len - 1));
    weft__buf_fini(&b);
}
