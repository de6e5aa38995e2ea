/*
 * test_discard.c — the discard exporter encodes every record and drops the bytes; `none`
 * selects no exporter and encodes nothing. A span name that is not UTF-8 is repaired only by
 * the encoder, so repaired_utf8 tells whether encoding happened.
 */
#include <criterion/criterion.h>

#include "weft/weft.h"

static weft_stats run(const char *exporters)
{
    weft_config c = {.exporters = exporters, .no_atexit = true, .flush_interval_ms = 10};
    cr_assert_eq(weft_init(&c), 0);
    for (int i = 0; i < 100; i++) {
        weft_span s = weft_span_begin("bad \xff name", WEFT_TYPE_CUSTOM);
        weft_span_end(s);
    }
    cr_assert_eq(weft_flush(5000), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(weft_shutdown(5000), 0);
    return st;
}

Test(discard, encodes_every_record_and_counts_it_exported)
{
    weft_stats st = run("discard");
    cr_assert_eq(st.ended, 100);
    cr_assert_eq(st.exported, 100);
    cr_assert_eq(st.repaired_utf8, 100, "each name was repaired by the SGP item encoder");
    cr_assert_eq(st.dropped_export, 0);
}

Test(discard, none_encodes_nothing)
{
    weft_stats st = run("none");
    cr_assert_eq(st.ended, 100);
    cr_assert_eq(st.repaired_utf8, 0, "with no exporter no record is encoded");
}
