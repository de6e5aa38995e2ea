/*
 * test_abi.c — a program built against an older weft.h keeps working with this libweft (issue 8
 * item 7): weft_config and weft_stats of an older, shorter layout, copied here field for field,
 * are read and written only as far as they reach. Guard bytes after them (non-zero, so a read
 * would turn into garbage pointers and counts) must come back untouched. Also: the exported
 * weft_init / weft_get_stats of binaries built before the sized calls, and a newer, longer
 * struct that sets a field this library does not know.
 */
#include <criterion/criterion.h>
#include <stddef.h>
#include <string.h>

#include "weft/weft.h"
#include "weft_test.h"

#define GUARD 0xA5

/* weft_stats as weft 0.1 laid it out: everything before dropped_ring_spans. */
typedef struct stats_0_1 {
    uint64_t started, ended, exported, dropped_ring, dropped_export, retried, spooled, replayed,
        dropped_open, dropped_queue, rejected, sampled_out, noop_calls, truncated_attrs,
        repaired_utf8, invalid_json, inprogress_sent, batches, requests, threads, open_spans,
        queued, internal_errors, dropped_no_slot, filtered, redacted, spool_written, spool_errors,
        spool_corrupt_records, spool_bad_files;
} stats_0_1;

/* An older weft_config: the fields up to retry_window_ms (prices, redaction and the filter
 * came later in this imagined history). */
typedef struct config_old {
    const char *exporters, *sgp_api_key, *sgp_account_id, *sgp_base_url, *jsonl_path;
    uint32_t flush_interval_ms, max_batch_spans;
    uint64_t max_batch_bytes, ring_bytes, max_attr_bytes;
    int32_t inprogress_after_ms;
    uint64_t max_queue_bytes;
    const char *spool_dir;
    uint64_t spool_max_bytes;
    double sample_ratio;
    bool disabled, no_atexit;
    weft_log_fn log;
    void *log_user;
    weft_log_level log_level;
    uint32_t max_open_spans, max_threads;
    const char *group_id, *application_variant_id, *application_interaction_id, *ca_bundle;
    uint32_t max_inflight, connect_timeout_ms, request_timeout_ms, retry_window_ms;
} config_old;

/* The layouts really are prefixes of today's. */
_Static_assert(sizeof(stats_0_1) == offsetof(weft_stats, dropped_ring_spans), "stats 0.1 layout");
_Static_assert(offsetof(config_old, retry_window_ms) == offsetof(weft_config, retry_window_ms),
               "config layout");

static bool guard_intact(const unsigned char *g, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (g[k] != GUARD)
            return false;
    return true;
}

static void some_spans(int n)
{
    for (int k = 0; k < n; k++) {
        weft_span s = weft_span_begin("abi", WEFT_TYPE_CUSTOM);
        weft_span_set_str(s, WEFT_INPUT, "api_key", "redact me");
        weft_span_end(s);
    }
}

Test(abi, an_older_stats_struct_is_filled_only_as_far_as_it_reaches)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    some_spans(3);
    cr_assert_eq(weft_shutdown(5000), 0);
    struct {
        stats_0_1 s;
        unsigned char guard[64];
    } b;
    memset(&b, GUARD, sizeof b);
    weft_get_stats_sized((weft_stats *)(void *)&b.s, sizeof b.s);
    cr_expect(guard_intact(b.guard, sizeof b.guard), "written past the caller's struct");
    cr_expect_eq(b.s.exported, 3);
    cr_expect_eq(b.s.spool_bad_files, 0);
    /* A binary built before weft_get_stats_sized calls the exported weft_get_stats. */
    memset(&b, GUARD, sizeof b);
    (weft_get_stats)((weft_stats *)(void *)&b.s);
    cr_expect(guard_intact(b.guard, sizeof b.guard), "weft_get_stats wrote past the 0.1 struct");
    cr_expect_eq(b.s.started, 3);
}

Test(abi, a_newer_stats_struct_gets_zeros_for_fields_this_library_lacks)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    some_spans(2);
    cr_assert_eq(weft_shutdown(5000), 0);
    struct {
        weft_stats s;
        uint64_t later[4];
    } b;
    memset(&b, GUARD, sizeof b);
    weft_get_stats_sized(&b.s, sizeof b);
    cr_expect_eq(b.s.exported, 2);
    for (int k = 0; k < 4; k++)
        cr_expect_eq(b.later[k], 0);
}

Test(abi, an_older_config_struct_is_read_only_as_far_as_it_reaches)
{
    struct {
        config_old c;
        unsigned char guard[128]; /* where prices, redact_keys and filter sit today */
    } b;
    memset(&b, GUARD, sizeof b);
    memset(&b.c, 0, sizeof b.c);
    b.c.exporters = "memory";
    b.c.no_atexit = true;
    b.c.flush_interval_ms = 20;
    cr_assert_eq(weft_init_sized((const weft_config *)(const void *)&b.c, sizeof b.c), 0);
    some_spans(2);
    json_t *recs = wt_records_after_shutdown();
    cr_expect_eq(wt_count(recs, "abi"), 2);
    /* The fields past the struct took their defaults: redaction is on with its patterns. */
    json_t *r = wt_find(recs, "abi");
    cr_assert(r);
    cr_expect_str_eq(wt_str(json_object_get(r, "input"), "api_key"), "[REDACTED]");
    json_decref(recs);
    cr_expect(guard_intact(b.guard, sizeof b.guard), "weft_init wrote past the caller's struct");
}

Test(abi, the_exported_weft_init_reads_the_0_1_layout)
{
    struct {
        weft_config c;
        unsigned char guard[64];
    } b;
    memset(&b, GUARD, sizeof b);
    memset(&b.c, 0, sizeof b.c);
    b.c.exporters = "memory";
    b.c.no_atexit = true;
    cr_assert_eq((weft_init)(&b.c), 0);
    some_spans(1);
    cr_expect_eq(weft_shutdown(5000), 0);
    cr_expect(guard_intact(b.guard, sizeof b.guard));
}

Test(abi, a_newer_config_setting_an_unknown_field_is_refused)
{
    struct {
        weft_config c;
        uint64_t later[2];
    } b;
    memset(&b, 0, sizeof b);
    b.c.exporters = "memory";
    b.c.no_atexit = true;
    cr_assert_eq(weft_init_sized(&b.c, sizeof b), 0, "zero fields past ours mean their defaults");
    cr_assert_eq(weft_shutdown(1000), 0);
    b.later[1] = 7;
    cr_expect_eq(weft_init_sized(&b.c, sizeof b), WEFT_ECONFIG);
    cr_expect_eq(weft_init_sized(&b.c, 4), WEFT_EINVAL);
}

/* The inline wrappers of the weft.h before the quiet region (0.2.0): setters and ends tested
 * the handle's flags only, and every begin and every other end called the library. A program
 * built with them runs against this library's region: it must get the same records and counts
 * as a program built with today's header. */
static void old_end(weft_span s)
{
    if (!((uint32_t)(s.flags - 2u) < 2u)) /* 0.2.0's WEFT__SPAN_GONE_ */
        (weft_span_end)(s);
}

static void old_set(weft_span s, const char *k)
{
    if (!((uint32_t)(s.flags - 1u) < 7u)) /* 0.2.0's WEFT__SPAN_QUIET_ */
        (weft_span_set_str)(s, WEFT_INPUT, k, "v");
}

Test(abi, a_program_built_with_the_older_inline_wrappers_keeps_its_traces_right)
{
    weft_config c = {.sample_ratio = 0.5};
    cr_assert_eq(wt_init_memory(&c), 0);
    int kept_roots = 0;
    for (int i = 0; i < 200; i++) {
        weft_span root = (weft_span_begin)("root", WEFT_TYPE_TRACER);
        kept_roots += weft_span_is_valid(root);
        weft_span a = (weft_span_begin)("a", WEFT_TYPE_CUSTOM);
        old_set(a, "k");
        weft_span b = (weft_span_begin)("b", WEFT_TYPE_CUSTOM);
        weft_span o = (weft_span_begin_child)(b, "o", WEFT_TYPE_CUSTOM);
        cr_assert_eq(weft_span_is_valid(a), weft_span_is_valid(root));
        cr_assert_eq(weft_span_is_valid(o), weft_span_is_valid(root));
        old_end(o);
        old_end(a); /* out of order: b stays current */
        cr_assert(weft_current_span().id == b.id);
        old_end(b); /* pops b and a */
        cr_assert(weft_current_span().id == root.id);
        old_end(b); /* twice: counted, kept or not */
        old_end(root);
        cr_assert_eq(weft_current_span().id, 0);
    }
    cr_assert(kept_roots > 0 && kept_roots < 200, "%d of 200 roots kept", kept_roots);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), (size_t)kept_roots * 4);
    cr_assert_eq(wt_count(recs, "root"), (size_t)kept_roots);
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.noop_calls, 200, "one second end per trace");
    cr_assert_eq(st.sampled_out, (uint64_t)(200 - kept_roots));
}
