/*
 * test_batch.c — the memory of a batch (src/deliver/batch.c): items pushed after their bytes,
 * slices per encoding with the separators between items and none after the last, only the
 * encodings in the mask, growth past the first capacity, completed items counted apart from
 * in-progress ones, reset keeping the memory, and the unwind of an item whose bytes ran out
 * of memory. (weft__batch_done, the release side, is the worker's: tests/export/test_worker.c.)
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "batch.h"

#define SGP WEFT__ENC_SGP_JSON
#define TXT WEFT__ENC_TEXT_LINE
#define BOTH ((1u << SGP) | (1u << TXT))

/* Writes one item's bytes in each encoding of the batch, then pushes it. */
static bool add(weft__batch *b, const char *sgp, const char *txt, bool in_progress)
{
    if (b->enc_mask & (1u << SGP))
        weft__buf_append(&b->enc[SGP].bytes, sgp, strlen(sgp));
    if (b->enc_mask & (1u << TXT))
        weft__buf_append(&b->enc[TXT].bytes, txt, strlen(txt));
    weft__batch_item it = {.id = b->n + 1, .in_progress = in_progress};
    return weft__batch_push(b, &it);
}

static void expect_slice(const weft__batch *b, weft__encoding e, size_t i, size_t j, const char *want)
{
    size_t len;
    const char *p = weft__batch_slice(b, e, i, j, &len);
    cr_assert_eq(len, strlen(want), "[%zu,%zu) of %s: %zu bytes, want %zu", i, j, weft__encodings[e].name, len,
                 strlen(want));
    cr_assert_eq(memcmp(p, want, len), 0, "[%zu,%zu): %.*s, want %s", i, j, (int)len, p, want);
}

Test(batch, slices_items_with_the_separators_between_them_per_encoding)
{
    weft__batch *b = weft__batch_new(BOTH);
    cr_assert_not_null(b);
    cr_assert(add(b, "{\"a\":1}", "line one", false));
    cr_assert(add(b, "{\"b\":22}", "line two", false));
    cr_assert(add(b, "{\"c\":333}", "line three", false));
    cr_assert_eq(b->n, 3);
    expect_slice(b, SGP, 0, 3, "{\"a\":1},{\"b\":22},{\"c\":333}");
    expect_slice(b, SGP, 1, 2, "{\"b\":22}");
    expect_slice(b, SGP, 1, 3, "{\"b\":22},{\"c\":333}");
    expect_slice(b, SGP, 2, 2, "");
    expect_slice(b, TXT, 0, 3, "line one\nline two\nline three");
    expect_slice(b, TXT, 0, 1, "line one");
    size_t len;
    const char *p = weft__batch_item_bytes(b, TXT, 2, &len);
    cr_assert_eq(len, 10);
    cr_assert_eq(memcmp(p, "line three", 10), 0);
    cr_assert_eq(weft__batch_bytes(b, SGP), strlen("{\"a\":1},{\"b\":22},{\"c\":333},"),
                 "every item is followed by its separator in the buffer");
    cr_assert_eq(weft__batch_bytes(b, TXT), strlen("line one\nline two\nline three\n"));
    cr_assert_eq(b->items[1].id, 2, "the item's fields are copied in");
    weft__batch_free(b);
}

Test(batch, holds_only_the_encodings_in_its_mask)
{
    weft__batch *b = weft__batch_new(1u << TXT);
    cr_assert_not_null(b);
    cr_assert_eq(b->enc_mask, 1u << TXT);
    cr_assert_null(b->enc[SGP].off, "an encoding not in the mask has no offsets");
    cr_assert(add(b, "ignored", "only line", false));
    cr_assert_eq(weft__batch_bytes(b, SGP), 0);
    expect_slice(b, TXT, 0, 1, "only line");
    weft__batch_free(b);
    b = weft__batch_new(0xffu);
    cr_assert_not_null(b);
    cr_assert_eq(b->enc_mask, (1u << WEFT__ENC_COUNT) - 1, "bits of unknown encodings are dropped");
    weft__batch_free(b);
}

Test(batch, grows_past_its_first_capacity_keeping_every_offset)
{
    weft__batch *b = weft__batch_new(BOTH);
    cr_assert_not_null(b);
    size_t first_cap = b->cap;
    enum { N = 1500 };
    char s[32], t[32];
    for (int i = 0; i < N; i++) {
        snprintf(s, sizeof s, "{\"i\":%d}", i);
        snprintf(t, sizeof t, "item %d", i);
        cr_assert(add(b, s, t, false));
    }
    cr_assert_eq(b->n, N);
    cr_assert_gt(b->cap, first_cap);
    cr_assert_geq(b->cap, N);
    for (int i = 0; i < N; i++) {
        snprintf(s, sizeof s, "{\"i\":%d}", i);
        snprintf(t, sizeof t, "item %d", i);
        expect_slice(b, SGP, (size_t)i, (size_t)i + 1, s);
        expect_slice(b, TXT, (size_t)i, (size_t)i + 1, t);
        cr_assert_eq(b->items[i].id, (uint64_t)i + 1);
    }
    size_t len;
    const char *p = weft__batch_slice(b, SGP, N - 2, N, &len);
    snprintf(s, sizeof s, "{\"i\":%d},{\"i\":%d}", N - 2, N - 1);
    cr_assert_eq(len, strlen(s));
    cr_assert_eq(memcmp(p, s, len), 0);
    weft__batch_free(b);
}

Test(batch, counts_completed_items_apart_from_in_progress_ones)
{
    weft__batch *b = weft__batch_new(1u << SGP);
    cr_assert_not_null(b);
    static const bool prog[] = {false, true, false, false, true, true, false};
    for (size_t i = 0; i < sizeof prog; i++)
        cr_assert(add(b, "{}", "", prog[i]));
    cr_assert_eq(b->n_complete, 4);
    cr_assert_eq(weft__batch_count_complete(b, 0, b->n), 4);
    cr_assert_eq(weft__batch_count_complete(b, 1, 2), 0);
    cr_assert_eq(weft__batch_count_complete(b, 1, 4), 2);
    cr_assert_eq(weft__batch_count_complete(b, 4, 7), 1);
    cr_assert_eq(weft__batch_count_complete(b, 3, 3), 0);
    weft__batch_free(b);
}

Test(batch, reset_empties_it_and_keeps_its_memory)
{
    weft__batch *b = weft__batch_new(BOTH);
    cr_assert_not_null(b);
    for (int i = 0; i < 100; i++)
        cr_assert(add(b, "{\"x\":\"some bytes\"}", "a text line", i % 2));
    b->refs = 2;
    b->dropped = 3;
    b->seq = 9;
    char *data = b->enc[SGP].bytes.data;
    size_t bytes_cap = b->enc[SGP].bytes.cap, cap = b->cap;
    weft__batch_reset(b);
    cr_assert_eq(b->n, 0);
    cr_assert_eq(b->n_complete, 0);
    cr_assert_eq(b->refs, 0);
    cr_assert_eq(b->dropped, 0);
    cr_assert_eq(b->seq, 0);
    cr_assert_eq(weft__batch_bytes(b, SGP), 0);
    cr_assert_eq(weft__batch_bytes(b, TXT), 0);
    cr_assert_eq(b->enc[SGP].bytes.data, data, "the buffer is kept");
    cr_assert_eq(b->enc[SGP].bytes.cap, bytes_cap);
    cr_assert_eq(b->cap, cap);
    cr_assert(add(b, "{\"new\":1}", "new", false));
    expect_slice(b, SGP, 0, 1, "{\"new\":1}");
    expect_slice(b, TXT, 0, 1, "new");
    cr_assert_eq(b->n_complete, 1);
    weft__batch_free(b);
}

Test(batch, unwinds_an_item_whose_bytes_ran_out_of_memory_from_every_encoding)
{
    weft__batch *b = weft__batch_new(BOTH);
    cr_assert_not_null(b);
    cr_assert(add(b, "{\"kept\":1}", "kept", false));
    size_t sgp0 = weft__batch_bytes(b, SGP), txt0 = weft__batch_bytes(b, TXT);
    /* The next item's bytes are half written when the text buffer fails to grow. */
    weft__buf_append(&b->enc[SGP].bytes, "{\"lost\":", 8);
    weft__buf_append(&b->enc[TXT].bytes, "lo", 2);
    b->enc[TXT].bytes.oom = true;
    weft__batch_item it = {.id = 99};
    cr_assert_not(weft__batch_push(b, &it));
    cr_assert_eq(b->n, 1);
    cr_assert_eq(b->n_complete, 1);
    cr_assert_eq(weft__batch_bytes(b, SGP), sgp0, "the SGP bytes of the failed item are taken back too");
    cr_assert_eq(weft__batch_bytes(b, TXT), txt0);
    cr_assert_not(b->enc[TXT].bytes.oom, "the buffer is usable again");
    cr_assert(add(b, "{\"next\":2}", "next", false));
    expect_slice(b, SGP, 0, 2, "{\"kept\":1},{\"next\":2}");
    expect_slice(b, TXT, 0, 2, "kept\nnext");
    weft__batch_free(b);
}

Test(batch, holds_items_with_no_encoding_at_all_and_frees_null)
{
    weft__batch_free(NULL);
    weft__batch *b = weft__batch_new(0);
    cr_assert_not_null(b, "a batch with no encoding still holds items (exporter none)");
    weft__batch_item it = {.id = 1};
    cr_assert(weft__batch_push(b, &it));
    cr_assert_eq(b->n, 1);
    weft__batch_free(b);
}
