/*
 * test_memory.c — the in-memory exporter the other suites read through (exporters/memory.c):
 * nothing to read before it ever ran, every record kept as one JSON line after shutdown and
 * until the next weft_init empties it, clear forgetting, and the lines equal to the SGP items.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "buf.h"
#include "memory.h"
#include "weft/weft.h"
#include "weft_test.h"

static size_t snapshot_lines(void)
{
    weft__buf b;
    weft__buf_init(&b);
    cr_assert(weft__memory_snapshot(&b));
    size_t n = 0;
    for (size_t i = 0; i < b.len; i++)
        n += b.data[i] == '\n';
    weft__buf_fini(&b);
    return n;
}

static void make(const char *name, int n)
{
    for (int i = 0; i < n; i++) {
        weft_span s = weft_span_begin(name, WEFT_TYPE_CUSTOM);
        weft_span_end(s);
    }
}

Test(memory, has_nothing_to_read_before_it_ever_ran)
{
    weft__buf b;
    weft__buf_init(&b);
    cr_assert_not(weft__memory_snapshot(&b));
    cr_assert_eq(b.len, 0);
    weft__memory_clear(); /* harmless */
    weft__buf_fini(&b);
}

Test(memory, keeps_records_after_shutdown_until_the_next_init)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    make("first run", 4);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(wt_count(recs, "first run"), 4);
    json_decref(recs);
    cr_assert_eq(snapshot_lines(), 4, "still readable after shutdown");
    cr_assert_eq(wt_init_memory(NULL), 0);
    cr_assert_eq(snapshot_lines(), 0, "a new init starts empty");
    make("second run", 2);
    recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 2);
    cr_assert_eq(wt_count(recs, "second run"), 2);
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.exported, 2);
    cr_assert_eq(st.internal_errors, 0);
}

Test(memory, clear_forgets_what_was_received)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    make("before", 3);
    cr_assert_eq(weft_flush(10000), 0);
    cr_assert_eq(snapshot_lines(), 3);
    weft__memory_clear();
    cr_assert_eq(snapshot_lines(), 0);
    make("after", 1);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 1);
    cr_assert_not_null(wt_find(recs, "after"));
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.exported, 4, "clearing the sink is not a loss");
}
