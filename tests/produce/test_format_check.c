/*
 * test_format_check.c — the computed format check (src/format_check.c) on a table of answers:
 * refusals, truncated answers, JSON, markdown, citation markers with and without given
 * citations, multi-byte text. Each row states every field the rules compute.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "format_check.h"

typedef struct row {
    const char *what;
    const char *answer;
    size_t n_cit;        /* citations given: doc ids from cit_ids */
    bool truncated;
    bool complete, refusal;
    int32_t chars, tokens, citations;
    const char *type;
} row;

static const weft_citation three_cits[] = {
    {.doc_id = "doc-a"},
    {.doc_id = "doc-b"},
    {.doc_id = "guide.md"},
};

/* tokens = ceil(ascii / 4) + non-ascii characters (format_check.h). */
static const row rows[] = {
    {"plain sentence", "The capital of France is Paris.", 0, false, true, false, 31, 8, 0, "text"},
    {"sentence cut mid-way", "The process has three steps: first, you", 0, false, false, false, 39, 10, 0,
     "text"},
    {"flagged truncated although it ends well", "All done.", 0, true, false, false, 9, 3, 0, "text"},
    {"empty answer", "", 0, false, false, false, 0, 0, 0, "text"},
    {"only whitespace", "  \n\t ", 0, false, false, false, 5, 2, 0, "text"},
    {"refusal with apology", "I'm sorry, but I can't help with that request.", 0, false, true, true, 46, 12, 0,
     "text"},
    {"refusal with a typographic apostrophe", "I can\xE2\x80\x99t answer that", 0, false, false, true, 19, 6,
     0, "text"},
    {"refusal as an AI", "As an AI language model, I have no opinions.", 0, false, true, true, 44, 11, 0,
     "text"},
    {"refusal in upper case", "  I CANNOT PROVIDE medical advice.", 0, false, true, true, 34, 9, 0, "text"},
    {"no refusal when 'AI can't' is not 'I can't'", "AI can't help being fast.", 0, false, true, false, 25, 7,
     0, "text"},
    {"JSON object", "{\"answer\": \"42\", \"sources\": [\"doc-1\"]}", 0, false, true, false, 38, 10, 0, "json"},
    {"JSON array with whitespace is not scanned for markers", "\n [1, 2, 3]\n", 0, false, true, false, 12, 3, 0,
     "json"},
    {"broken JSON is text", "{\"answer\": \"42\"", 0, false, false, false, 15, 4, 0, "text"},
    {"markdown heading and list ending without punctuation", "# Steps\n\n- mix\n- bake", 0, false, false, false,
     21, 6, 0, "markdown"},
    {"markdown numbered list ending a sentence", "Do this:\n1. Mix.\n2. Bake.", 0, false, true, false, 25, 7, 0,
     "markdown"},
    {"closed code fence", "Use:\n```c\nint x = a[1];\n```", 0, false, true, false, 27, 7, 0, "markdown"},
    {"unclosed code fence", "Use:\n```c\nint x;", 0, false, false, false, 16, 4, 0, "markdown"},
    {"strong emphasis after a period", "**Done.**", 0, false, true, false, 9, 3, 0, "markdown"},
    {"strong emphasis without a period", "Status: **done**", 0, false, false, false, 16, 4, 0, "markdown"},
    {"link text is not a marker", "See [the guide](https://example.com/g).", 0, false, true, false, 39, 10, 0,
     "markdown"},
    {"inline code hides a marker", "Index with `arr[0]` here.", 0, false, true, false, 25, 7, 0, "markdown"},
    {"numeric markers without citations", "Paris [1] is large [2], old [1].", 0, false, true, false, 32, 8, 2,
     "text"},
    {"numeric markers matching the citations given", "Paris [1] is large [2][3].", 3, false, true, false, 26,
     7, 3, "text"},
    {"markers beyond the citations given", "See [1, 4] and [^5].", 3, false, true, false, 20, 5, 5, "text"},
    {"doc-id markers, repeated", "See [doc-7] and [kb_12], also [doc-7].", 0, false, true, false, 38, 10, 2,
     "text"},
    {"doc-id marker naming a citation given", "See [doc-b] and [guide.md].", 3, false, true, false, 27, 7, 3,
     "text"},
    {"words in brackets are not markers", "Tick [x] and [note], [e.g.] too.", 0, false, true, false, 32, 8, 0,
     "text"},
    {"Japanese sentence", "\xE6\x9D\xB1\xE4\xBA\xAC\xE3\x81\xAF\xE9\xA6\x96\xE9\x83\xBD\xE3\x81\xA7\xE3\x81\x99"
                          "\xE3\x80\x82",
     0, false, true, false, 8, 8, 0, "text"},
    {"accented Latin", "\xC3\x87" "a marche tr\xC3\xA8s bien.", 0, false, true, false, 20, 7, 0, "text"},
    {"emoji then exclamation", "Great job \xF0\x9F\x8E\x89!", 0, false, true, false, 12, 4, 0, "text"},
    {"Chinese full stop inside a quote", "\xE2\x80\x9C\xE5\xA5\xBD\xE3\x80\x82\xE2\x80\x9D", 0, false, true,
     false, 4, 4, 0, "text"},
    {"invalid bytes count one character each", "\xFF\xFE ok.", 0, false, true, false, 6, 3, 0, "text"},
};

Test(format_check, computes_every_field_for_each_row_of_the_table)
{
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row *r = &rows[i];
        weft_format_check fc;
        memset(&fc, 0x5a, sizeof fc);
        weft__format_check_compute(&fc, r->answer, strlen(r->answer), r->n_cit ? three_cits : NULL, r->n_cit,
                                   r->truncated);
        cr_expect_eq(fc.is_complete, r->complete, "[%s] is_complete %d", r->what, fc.is_complete);
        cr_expect_eq(fc.refusal, r->refusal, "[%s] refusal %d", r->what, fc.refusal);
        cr_expect_eq(fc.length_chars, r->chars, "[%s] length_chars %d", r->what, fc.length_chars);
        cr_expect_eq(fc.length_tokens, r->tokens, "[%s] length_tokens %d", r->what, fc.length_tokens);
        cr_expect_eq(fc.citation_count, r->citations, "[%s] citation_count %d", r->what, fc.citation_count);
        cr_expect_eq(fc.contains_citations, r->citations > 0, "[%s] contains_citations", r->what);
        cr_expect_str_eq(fc.format_type, r->type, "[%s] format_type %s", r->what, fc.format_type);
        cr_expect_null(fc.language, "[%s] language is never computed", r->what);
    }
}

Test(format_check, counts_given_citations_even_without_markers)
{
    weft_format_check fc;
    const char *a = "Paris is the capital.";
    weft__format_check_compute(&fc, a, strlen(a), three_cits, 3, false);
    cr_assert_eq(fc.citation_count, 3);
    cr_assert(fc.contains_citations);
}

Test(format_check, treats_a_null_answer_as_empty)
{
    weft_format_check fc;
    weft__format_check_compute(&fc, NULL, 0, NULL, 0, false);
    cr_assert_eq(fc.length_chars, 0);
    cr_assert_not(fc.is_complete);
    cr_assert_str_eq(fc.format_type, "text");
}

Test(format_check, looks_for_refusals_only_in_the_opening_window)
{
    char buf[WEFT__FC_REFUSAL_WINDOW + 64];
    memset(buf, 'a', sizeof buf);
    buf[0] = 'A';
    memcpy(buf + WEFT__FC_REFUSAL_WINDOW + 8, " as an AI", 9);
    buf[sizeof buf - 1] = '.';
    cr_assert_not(weft__format_check_refusal(buf, sizeof buf));
    memcpy(buf + 40, " as an AI", 9);
    cr_assert(weft__format_check_refusal(buf, sizeof buf));
}

Test(format_check, knows_every_documented_refusal_phrase)
{
    for (const char *const *p = weft__format_check_refusal_phrases; *p; p++) {
        char a[128];
        snprintf(a, sizeof a, "Well, %s do that.", *p);
        cr_expect(weft__format_check_refusal(a, strlen(a)), "%s", *p);
        /* Upper case too. */
        for (char *c = a; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 32);
        cr_expect(weft__format_check_refusal(a, strlen(a)), "upper %s", *p);
    }
}

Test(format_check, de_duplicates_markers_up_to_the_table_size_then_counts_each_new_one)
{
    /* WEFT__FC_MAX_DISTINCT + 10 distinct markers, each twice. */
    static char buf[64 * 1024];
    size_t n = 0;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < WEFT__FC_MAX_DISTINCT + 10; i++)
            n += (size_t)snprintf(buf + n, sizeof buf - n, "x [d-%d] ", i);
    int32_t count = weft__format_check_markers(buf, n, NULL, 0);
    /* First round: all distinct. Second round: the first 256 are known, the last 10 count again. */
    cr_assert_eq(count, WEFT__FC_MAX_DISTINCT + 10 + 10);
}

Test(format_check, rejects_overlong_marker_ids)
{
    char buf[128];
    memset(buf, '7', sizeof buf);
    buf[0] = '[';
    buf[WEFT__FC_MAX_ID + 1] = ']';
    cr_assert_eq(weft__format_check_markers(buf, WEFT__FC_MAX_ID + 2, NULL, 0), 1);
    buf[WEFT__FC_MAX_ID + 1] = '7';
    buf[WEFT__FC_MAX_ID + 2] = ']';
    cr_assert_eq(weft__format_check_markers(buf, WEFT__FC_MAX_ID + 3, NULL, 0), 0);
}

Test(format_check, does_not_read_past_the_given_length)
{
    /* The answer is not NUL-terminated where the length ends. */
    const char a[] = "Done. [1] extra";
    cr_assert(weft__format_check_complete(a, 5, false));
    cr_assert_eq(weft__format_check_markers(a, 8, NULL, 0), 0);
    cr_assert_eq(weft__format_check_markers(a, 9, NULL, 0), 1);
}
