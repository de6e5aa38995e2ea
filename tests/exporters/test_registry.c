/*
 * test_registry.c — the table of exporters (exporters/registry.c): every name found in any
 * case and nothing else, one kept slot each, the list of names for messages, and the parsing
 * of WEFT_EXPORTER lists: table order, duplicates selected once, "none" selecting nothing,
 * unknown words and empty lists refused with the bad word; weft_init refuses them too.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "log_capture.h"
#include "registry.h"
#include "runtime.h"
#include "weft/weft.h"

static const char *const names[] = {"jsonl", "stdout", "memory", "sgp", "otlp", "discard", "discard_otlp", "stratix"};
#define N_NAMES (sizeof names / sizeof names[0])

Test(registry, finds_every_exporter_by_its_name_in_any_case)
{
    for (size_t i = 0; i < N_NAMES; i++) {
        const weft__exporter_ops *ops = weft__exporter_find(names[i], strlen(names[i]));
        cr_assert_not_null(ops, "%s not found", names[i]);
        cr_assert_str_eq(ops->name, names[i]);
        char up[16];
        size_t n = strlen(names[i]);
        for (size_t k = 0; k <= n; k++)
            up[k] = (char)(names[i][k] >= 'a' && names[i][k] <= 'z' ? names[i][k] - 32 : names[i][k]);
        cr_assert_eq(weft__exporter_find(up, n), ops, "%s", up);
        cr_assert_not_null(ops->open);
        cr_assert_not_null(ops->submit);
        cr_assert_not_null(ops->drain);
        cr_assert_not_null(ops->close);
    }
    cr_assert_eq(weft__exporter_find("memory", 6)->encoding, WEFT__ENC_SGP_JSON);
    cr_assert_eq(weft__exporter_find("stdout", 6)->encoding, WEFT__ENC_TEXT_LINE);
    cr_assert(weft__exporter_find("sgp", 3)->wants_inprogress);
    cr_assert_not(weft__exporter_find("jsonl", 5)->wants_inprogress);
}

Test(registry, finds_nothing_for_a_prefix_a_longer_word_or_none)
{
    cr_assert_null(weft__exporter_find("json", 4));
    cr_assert_null(weft__exporter_find("jsonlx", 6));
    cr_assert_null(weft__exporter_find("jsonl", 4), "only the first len bytes count");
    cr_assert_null(weft__exporter_find("none", 4), "none is no exporter");
    cr_assert_null(weft__exporter_find("", 0));
    cr_assert_not_null(weft__exporter_find("sgp,jsonl", 3), "the word ends at len");
}

Test(registry, gives_each_exporter_its_own_kept_slot)
{
    bool used[WEFT__KEPT_SLOTS] = {false};
    for (size_t i = 0; i < N_NAMES; i++) {
        size_t k = weft__exporter_index(weft__exporter_find(names[i], strlen(names[i])));
        cr_assert_lt(k, WEFT__KEPT_SLOTS);
        cr_assert_not(used[k], "%s shares slot %zu", names[i], k);
        used[k] = true;
    }
}

Test(registry, lists_every_name_and_none_for_messages)
{
    char buf[128];
    weft__exporter_names(buf, sizeof buf);
    cr_assert_str_eq(buf, "jsonl, stdout, memory, sgp, otlp, discard, discard_otlp, stratix, none");
    char small[12];
    memset(small, 'x', sizeof small);
    weft__exporter_names(small, sizeof small);
    cr_assert_lt(strlen(small), sizeof small, "always NUL-terminated");
    cr_assert_eq(strncmp(small, "jsonl, stdout", strlen(small)), 0, "a prefix of the list: %s", small);
}

static int sel(const char *list, const weft__exporter_ops **out, const char **bad, size_t *bad_len)
{
    *bad = NULL;
    *bad_len = 99;
    return weft__exporters_select(list, out, bad, bad_len);
}

Test(registry, selects_a_list_in_table_order_each_once)
{
    const weft__exporter_ops *out[WEFT__MAX_EXPORTERS];
    const char *bad;
    size_t bad_len;
    cr_assert_eq(sel("memory,jsonl memory, JSONL,,Memory", out, &bad, &bad_len), 2);
    cr_assert_str_eq(out[0]->name, "jsonl", "table order, not list order");
    cr_assert_str_eq(out[1]->name, "memory");
    cr_assert_null(bad, "nothing refused");
    cr_assert_eq(sel("stratix discard_otlp discard otlp sgp stdout jsonl memory", out, &bad, &bad_len), (int)N_NAMES);
    for (size_t i = 0; i < N_NAMES; i++)
        cr_assert_str_eq(out[i]->name, names[i]);
    cr_assert_eq(sel("  sgp  ", NULL, &bad, &bad_len), 1, "out may be NULL to count");
}

Test(registry, refuses_an_unknown_word_and_names_it)
{
    const weft__exporter_ops *out[WEFT__MAX_EXPORTERS];
    const char *bad;
    size_t bad_len;
    const char *list = "jsonl,bogus,memory";
    cr_assert_eq(sel(list, out, &bad, &bad_len), -1);
    cr_assert_eq(bad, list + 6);
    cr_assert_eq(bad_len, 5);
    cr_assert_eq(sel("memory zipkin", out, &bad, &bad_len), -1);
    cr_assert_eq(bad_len, 6);
    cr_assert_eq(strncmp(bad, "zipkin", 6), 0);
    cr_assert_eq(sel("nonesuch", out, &bad, &bad_len), -1);
    cr_assert_eq(bad_len, 8);
}

Test(registry, refuses_a_list_with_no_word)
{
    const char *bad;
    size_t bad_len;
    cr_assert_eq(sel("", NULL, &bad, &bad_len), -1);
    cr_assert_eq(bad_len, 0);
    cr_assert_not_null(bad);
    cr_assert_eq(sel(" , ,, ", NULL, &bad, &bad_len), -1);
    cr_assert_eq(bad_len, 0);
    cr_assert_eq(sel(NULL, NULL, &bad, &bad_len), -1);
    cr_assert_eq(bad_len, 0);
    cr_assert_str_eq(bad, "");
}

Test(registry, none_selects_nothing)
{
    const weft__exporter_ops *out[WEFT__MAX_EXPORTERS];
    const char *bad;
    size_t bad_len;
    cr_assert_eq(sel("none", out, &bad, &bad_len), 0);
    cr_assert_eq(sel("NONE", out, &bad, &bad_len), 0);
    cr_assert_eq(sel("none,memory", out, &bad, &bad_len), 1, "none beside others adds nothing");
    cr_assert_str_eq(out[0]->name, "memory");
}

Test(registry, weft_init_refuses_an_unknown_exporter_and_logs_the_word)
{
    wt_log_reset();
    weft_config c = {.exporters = "memory,bogus", .no_atexit = true, .log = wt_log_capture};
    cr_assert_eq(weft_init(&c), WEFT_ECONFIG);
    cr_assert_eq(wt_log_count("weft_config.exporters='memory,bogus': names an unknown exporter 'bogus'"), 1,
                 "the message names the setting, quotes the list and the word");
    c.exporters = "none";
    cr_assert_eq(weft_init(&c), 0);
    weft_span s = weft_span_begin("nowhere", WEFT_TYPE_CUSTOM);
    weft_span_end(s);
    cr_assert_eq(weft_shutdown(5000), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.ended, 1);
    cr_assert_eq(st.batches, 1, "with no exporter the batch is released at once");
    cr_assert_eq(st.exported, 1);
    cr_assert_eq(st.internal_errors, 0);
}
