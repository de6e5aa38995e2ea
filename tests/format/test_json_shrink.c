/*
 * test_json_shrink.c — src/format/json_shrink.c: a JSON text cut to a byte limit by its longest
 * string values, compared with expected bytes.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_shrink.h"

static char *shrink(const char *in, size_t target, bool *ok)
{
    weft__buf b;
    weft__buf_init(&b);
    *ok = weft__json_shrink(&b, in, strlen(in), target);
    weft__buf_putc(&b, '\0');
    return b.data;
}

Test(json_shrink, copies_a_text_already_within_the_limit)
{
    bool ok;
    char *out = shrink("{\"a\":\"b\"}", 100, &ok);
    cr_expect(ok);
    cr_expect_str_eq(out, "{\"a\":\"b\"}");
    free(out);
}

Test(json_shrink, cuts_the_longest_value_and_marks_it_leaving_keys_and_short_values)
{
    char in[400];
    char big[301];
    memset(big, 'x', 300);
    big[300] = '\0';
    snprintf(in, sizeof in, "{\"id\":\"abc\",\"input\":{\"payload\":\"%s\"},\"n\":1}", big);
    bool ok;
    char *out = shrink(in, 150, &ok);
    cr_assert(ok);
    cr_expect_leq(strlen(out), 150);
    /* The cap is the largest that fits: 150 - 53 bytes around the value - the marker. */
    const char *want_head = "{\"id\":\"abc\",\"input\":{\"payload\":\"xxxx";
    cr_expect(strncmp(out, want_head, strlen(want_head)) == 0, "%s", out);
    cr_expect(strstr(out, "\xE2\x80\xA6[truncated ") != NULL, "%s", out);
    cr_expect(strstr(out, " bytes]\"},\"n\":1}") != NULL, "%s", out);
    free(out);
}

Test(json_shrink, decodes_escapes_before_cutting_so_the_result_stays_valid)
{
    char in[1000] = "{\"k\":\"";
    for (int i = 0; i < 100; i++)
        strcat(in, "\\n\\u00e9");
    strcat(in, "\"}");
    bool ok;
    char *out = shrink(in, 200, &ok);
    cr_assert(ok);
    cr_expect_leq(strlen(out), 200);
    cr_expect(strncmp(out, "{\"k\":\"\\n\xC3\xA9\\n", 11) == 0, "%s", out);
    cr_expect(strstr(out, "[truncated ") != NULL);
    free(out);
}

Test(json_shrink, refuses_when_even_the_floor_does_not_fit)
{
    char in[300];
    char big[201];
    memset(big, 'y', 200);
    big[200] = '\0';
    snprintf(in, sizeof in, "{\"a\":\"%s\"}", big);
    weft__buf b;
    weft__buf_init(&b);
    cr_expect_not(weft__json_shrink(&b, in, strlen(in), 40));
    cr_expect_eq(b.len, 0, "the output was not left as it was");
    weft__buf_fini(&b);
}
