/*
 * test_encode.c — the SGP span item encoder (src/codec/encode.c), whole items compared with
 * the expected text byte for byte: field order, ids, timestamps, typed values, sections,
 * repeated keys, appended arrays, in-progress items and the configured id fields.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "encode.h"
#include "record.h"

/* A record with fixed ids and times: trace 0x1111…, span 0x2222…, 2026-11-22T00:08:00.5Z for
 * 1.25 ms. */
static void fixed(weft__rec *r, uint64_t parent)
{
    weft__rec_init(r);
    r->trace = 0x1111111111111111u;
    r->id = 0x2222222222222222u;
    r->parent = parent;
    r->start_ns = 1795306080500000000u;
    r->end_ns = r->start_ns + 1250000u;
    r->type = WEFT_TYPE_COMPLETION;
    r->status = WEFT_STATUS_SUCCESS;
    weft__buf_append(&r->name, "answer", 6);
}

static const weft__encode_opts opts = {.salt = 0xabcdef0123456789u};

static void expect(const weft__rec *r, const weft__encode_opts *o, const char *want)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__encode_span(&b, r, o);
    cr_assert_not(b.oom);
    cr_assert_eq(b.len, strlen(want), "length %zu, want %zu:\n got %.*s\nwant %s", b.len, strlen(want),
                 (int)b.len, b.data, want);
    cr_assert(memcmp(b.data, want, b.len) == 0, "\n got %.*s\nwant %s", (int)b.len, b.data, want);
    weft__buf_fini(&b);
}

#define IDS "{\"id\":\"22222222-2222-4222-abcd-ef0123456789\",\"trace_id\":\"11111111-1111-4111-abcd-ef0123456789\""
#define TIMES "\"start_timestamp\":\"2026-11-22T00:08:00.500000Z\",\"end_timestamp\":\"2026-11-22T00:08:00.501250Z\""
#define W3C ",\"obs_trace_id\":\"1111111111111111abcdef0123456789\",\"obs_span_id\":\"2222222222222222\""

Test(encode, writes_a_root_with_empty_sections_in_the_documented_field_order)
{
    weft__rec r;
    fixed(&r, 0);
    expect(&r, &opts,
           IDS ",\"name\":\"answer\",\"type\":\"COMPLETION\",\"status\":\"SUCCESS\"," TIMES
               ",\"input\":{},\"output\":{},\"metadata\":{}" W3C "}");
    weft__rec_fini(&r);
}

Test(encode, writes_typed_values_as_json_and_nested_values_as_given)
{
    weft__rec r;
    fixed(&r, 0x3333333333333333u);
    r.status = WEFT_STATUS_ERROR;
    weft__rec_set_str(&r, WEFT_INPUT, "question", 8, "why \"so\"?\n", 10);
    weft__rec_set_i64(&r, WEFT_INPUT, "top_k", 5, -3);
    weft__rec_set_f64(&r, WEFT_OUTPUT, "score", 5, 0.25);
    weft__rec_set_bool(&r, WEFT_OUTPUT, "ok", 2, false);
    weft__rec_set(&r, WEFT_METADATA, "hits", 4, "[{\"doc_id\":\"a\"}]", 16);
    expect(&r, &opts,
           IDS ",\"parent_id\":\"33333333-3333-4333-abcd-ef0123456789\",\"name\":\"answer\",\"type\":\"COMPLETION\","
               "\"status\":\"ERROR\"," TIMES
               ",\"input\":{\"question\":\"why \\\"so\\\"?\\n\",\"top_k\":-3},\"output\":{\"score\":0.25,\"ok\":false},"
               "\"metadata\":{\"hits\":[{\"doc_id\":\"a\"}]}" W3C "}");
    weft__rec_fini(&r);
}

Test(encode, keeps_the_last_set_of_a_key_and_gathers_appends_into_one_array)
{
    weft__rec r;
    fixed(&r, 0);
    weft__rec_set_i64(&r, WEFT_METADATA, "n", 1, 1);
    weft__rec_append(&r, WEFT_INPUT, "messages", 8, "{\"role\":\"user\"}", 15);
    weft__rec_set_i64(&r, WEFT_METADATA, "n", 1, 2);
    weft__rec_append(&r, WEFT_INPUT, "messages", 8, "{\"role\":\"tool\"}", 15);
    weft__rec_set_str(&r, WEFT_METADATA, "gone", 4, "x", 1);
    weft__rec_remove(&r, WEFT_METADATA, "gone", 4);
    expect(&r, &opts,
           IDS ",\"name\":\"answer\",\"type\":\"COMPLETION\",\"status\":\"SUCCESS\"," TIMES
               ",\"input\":{\"messages\":[{\"role\":\"user\"},{\"role\":\"tool\"}]},\"output\":{},"
               "\"metadata\":{\"n\":2}" W3C "}");
    weft__rec_fini(&r);
}

Test(encode, leaves_end_timestamp_out_of_an_in_progress_item_and_writes_configured_id_fields)
{
    weft__rec r;
    fixed(&r, 0);
    r.end_ns = 0;
    weft__buf_append(&r.fields[0], "grp", 3);
    weft__encode_opts o = opts;
    o.group_id = "ignored: the span's own wins";
    o.variant_id = "v1";
    expect(&r, &o,
           IDS ",\"name\":\"answer\",\"type\":\"COMPLETION\",\"status\":\"SUCCESS\","
               "\"start_timestamp\":\"2026-11-22T00:08:00.500000Z\",\"input\":{},\"output\":{},\"metadata\":{}" W3C
               ",\"group_id\":\"grp\",\"application_variant_id\":\"v1\"}");
    weft__rec_fini(&r);
}

Test(encode, names_an_unnamed_span_and_repairs_a_name_that_is_not_utf8)
{
    weft__rec r;
    fixed(&r, 0);
    weft__buf_reset(&r.name);
    expect(&r, &opts,
           IDS ",\"name\":\"unnamed\",\"type\":\"COMPLETION\",\"status\":\"SUCCESS\"," TIMES
               ",\"input\":{},\"output\":{},\"metadata\":{}" W3C "}");
    weft__buf_append(&r.name, "a\xff", 2);
    expect(&r, &opts,
           IDS ",\"name\":\"a\xEF\xBF\xBD\",\"type\":\"COMPLETION\",\"status\":\"SUCCESS\"," TIMES
               ",\"input\":{},\"output\":{},\"metadata\":{}" W3C "}");
    weft__rec_fini(&r);
}

Test(encode, marks_short_plain_text_when_added_and_leaves_the_rest_to_the_escape_scan)
{
    weft__rec r;
    fixed(&r, 0);
    weft__rec_set_str(&r, WEFT_INPUT, "model", 5, "gpt-4o-mini-2024", 16);   /* both plain */
    weft__rec_set_str(&r, WEFT_INPUT, "k\"q", 3, "line\nbreak", 10);         /* neither */
    weft__rec_set_str(&r, WEFT_INPUT, "long", 4, "seventeen bytes!!", 17);   /* value too long to mark */
    weft__rec_set_i64(&r, WEFT_INPUT, "n", 1, 7);                            /* key plain, typed value */
    const unsigned want[] = {WEFT__ENTF_KEY_PLAIN | WEFT__ENTF_VAL_PLAIN, 0, WEFT__ENTF_KEY_PLAIN,
                             WEFT__ENTF_KEY_PLAIN};
    size_t pos = 0, i = 0;
    weft__rec_entry e;
    while (weft__rec_next(&r, &pos, &e))
        cr_expect_eq(e.flags, want[i++], "entry %zu: flags %u", i - 1, e.flags);
    cr_assert_eq(i, 4);
    cr_assert_not(r.repeats);
    weft__rec_fini(&r);
}

Test(encode, copies_plain_entries_and_escapes_the_others_when_every_key_is_distinct)
{
    weft__rec r;
    fixed(&r, 0);
    weft__rec_set_str(&r, WEFT_INPUT, "model", 5, "gpt-4o-mini-2024", 16);
    weft__rec_set_str(&r, WEFT_INPUT, "k\"q", 3, "line\nbreak", 10);
    weft__rec_set_str(&r, WEFT_INPUT, "long", 4, "seventeen bytes!!", 17);
    weft__rec_set_str(&r, WEFT_INPUT, "", 0, "", 0);
    weft__rec_set_str(&r, WEFT_OUTPUT, "t", 1, "tab\there", 8);
    weft__rec_append(&r, WEFT_OUTPUT, "messages", 8, "{\"role\":\"user\"}", 15);
    weft__rec_set_bool(&r, WEFT_METADATA, "ok", 2, true);
    weft__rec_set_str(&r, WEFT_METADATA, "sixteen-byte-key", 16, "\xc3\xa9t\xc3\xa9", 5);
    cr_assert_not(r.repeats);
    const char *want = IDS ",\"name\":\"answer\",\"type\":\"COMPLETION\",\"status\":\"SUCCESS\"," TIMES
        ",\"input\":{\"model\":\"gpt-4o-mini-2024\",\"k\\\"q\":\"line\\nbreak\",\"long\":\"seventeen bytes!!\","
        "\"\":\"\"},\"output\":{\"t\":\"tab\\there\",\"messages\":[{\"role\":\"user\"}]},"
        "\"metadata\":{\"ok\":true,\"sixteen-byte-key\":\"\xc3\xa9t\xc3\xa9\"}" W3C "}";
    expect(&r, &opts, want);
    /* The same record through the writer that de-duplicates keys: the same bytes. */
    r.repeats = true;
    expect(&r, &opts, want);
    weft__rec_fini(&r);
}

Test(encode, repairs_a_key_that_is_not_utf8_on_the_distinct_path_and_says_so)
{
    weft__rec r;
    fixed(&r, 0);
    weft__rec_set_i64(&r, WEFT_METADATA, "k\xff", 2, 1);
    cr_assert_not(r.repeats);
    weft__buf b;
    weft__buf_init(&b);
    unsigned f = weft__encode_span(&b, &r, &opts);
    cr_assert_eq(f, WEFT__JSON_REPAIRED);
    static const char want[] = "\"metadata\":{\"k\xEF\xBF\xBD\":1}";
    cr_assert_not_null(memmem(b.data, b.len, want, sizeof want - 1));
    weft__buf_fini(&b);
    weft__rec_fini(&r);
}

Test(encode, knows_a_repeated_or_removed_key_when_it_is_added)
{
    weft__rec r;
    fixed(&r, 0);
    weft__rec_set_i64(&r, WEFT_INPUT, "n", 1, 1);
    weft__rec_set_i64(&r, WEFT_OUTPUT, "n", 1, 1); /* same key, another section */
    cr_assert_not(r.repeats);
    weft__rec_set_i64(&r, WEFT_INPUT, "n", 1, 2);
    cr_assert(r.repeats);
    weft__rec_reset(&r);
    cr_assert_not(r.repeats);
    weft__rec_remove(&r, WEFT_INPUT, "gone", 4);
    cr_assert(r.repeats);
    weft__rec_fini(&r);
}

Test(encode, writes_the_same_ids_through_the_writers_cache_of_trace_and_parent_text)
{
    weft__ts_cache ts = {0};
    weft__id_cache ids = {0};
    weft__encode_opts o = opts;
    o.ts = &ts;
    o.ids = &ids;
    const char *child = IDS ",\"parent_id\":\"33333333-3333-4333-abcd-ef0123456789\",\"name\":\"answer\","
                            "\"type\":\"COMPLETION\",\"status\":\"SUCCESS\"," TIMES
                            ",\"input\":{},\"output\":{},\"metadata\":{}" W3C "}";
    weft__rec r;
    fixed(&r, 0x3333333333333333u);
    expect(&r, &o, child); /* fills the cache */
    expect(&r, &o, child); /* read from it */
    r.parent = 0x4444444444444444u;
    expect(&r, &o,
           IDS ",\"parent_id\":\"44444444-4444-4444-abcd-ef0123456789\",\"name\":\"answer\","
               "\"type\":\"COMPLETION\",\"status\":\"SUCCESS\"," TIMES ",\"input\":{},\"output\":{},\"metadata\":{}" W3C "}");
    r.trace = 0x5555555555555555u;
    r.parent = 0;
    expect(&r, &o,
           "{\"id\":\"22222222-2222-4222-abcd-ef0123456789\",\"trace_id\":\"55555555-5555-4555-abcd-ef0123456789\""
           ",\"name\":\"answer\",\"type\":\"COMPLETION\",\"status\":\"SUCCESS\"," TIMES
           ",\"input\":{},\"output\":{},\"metadata\":{},\"obs_trace_id\":\"5555555555555555abcdef0123456789\","
           "\"obs_span_id\":\"2222222222222222\"}");
    weft__rec_fini(&r);
}

/* A summary of a shape picked by x (mostly one shape, sometimes another by one field). */
static weft__summary_val shape_of(uint64_t x)
{
    int shape = (x >> 8) % 4 < 3 ? 0 : (int)((x >> 16) % 64);
    weft__summary_val v;
    memset(&v, 0, sizeof v);
    v.n.spans = 1 + (uint32_t)(shape & 3);
    v.n.llm = (uint32_t)(shape & 1);
    v.n.input_tokens = (shape >> 2) & 1 ? 120 : 0;
    v.n.output_tokens = (shape >> 2) & 1 ? 7 : 0;
    int cost = ((shape >> 3) & 3) % 3;
    v.has_cost = cost != 0;
    v.cost = cost == 1 ? 0.25 : 1e-7;
    v.error = (shape >> 5) & 1;
    v.duration_ns = (x >> 24) % 5000000000ull;
    return v;
}

Test(encode, writes_a_root_s_summary_after_its_metadata_the_same_through_the_writers_cache)
{
    weft__rec r;
    fixed(&r, 0);
    r.has_summary = true;
    r.summary.n.spans = 3;
    r.summary.n.llm = 1;
    r.summary.n.input_tokens = 10;
    r.summary.n.output_tokens = 5;
    r.summary.duration_ns = 1250000;
    r.summary.has_cost = true;
    r.summary.cost = 0.25;
    const char *summary = "\"trace_summary\":{\"duration_ms\":1.25,\"span_count\":3,\"llm_calls\":1,"
                          "\"retrieval_calls\":0,\"tool_calls\":0,\"input_tokens\":10,\"output_tokens\":5,"
                          "\"total_tokens\":15,\"total_cost\":0.25,\"status\":\"SUCCESS\"}";
    char want[2048];
    snprintf(want, sizeof want,
             "{\"id\":\"22222222-2222-4222-abcd-ef0123456789\",\"trace_id\":\"11111111-1111-4111-abcd-ef0123456789\""
             ",\"name\":\"answer\",\"type\":\"COMPLETION\",\"status\":\"SUCCESS\"," TIMES
             ",\"input\":{},\"output\":{},\"metadata\":{%s},\"obs_trace_id\":\"1111111111111111abcdef0123456789\","
             "\"obs_span_id\":\"2222222222222222\"}",
             summary);
    expect(&r, &opts, want); /* alone in its section */
    weft__rec_set_str(&r, WEFT_METADATA, "user", 4, "u-1", 3);
    snprintf(want, sizeof want,
             "{\"id\":\"22222222-2222-4222-abcd-ef0123456789\",\"trace_id\":\"11111111-1111-4111-abcd-ef0123456789\""
             ",\"name\":\"answer\",\"type\":\"COMPLETION\",\"status\":\"SUCCESS\"," TIMES
             ",\"input\":{},\"output\":{},\"metadata\":{\"user\":\"u-1\",%s},\"obs_trace_id\":"
             "\"1111111111111111abcdef0123456789\",\"obs_span_id\":\"2222222222222222\"}",
             summary);
    expect(&r, &opts, want); /* after the section's entries */
    weft__rec_set_str(&r, WEFT_METADATA, "user", 4, "u-2", 3);
    cr_assert(r.repeats);
    snprintf(want, sizeof want,
             "{\"id\":\"22222222-2222-4222-abcd-ef0123456789\",\"trace_id\":\"11111111-1111-4111-abcd-ef0123456789\""
             ",\"name\":\"answer\",\"type\":\"COMPLETION\",\"status\":\"SUCCESS\"," TIMES
             ",\"input\":{},\"output\":{},\"metadata\":{\"user\":\"u-2\",%s},\"obs_trace_id\":"
             "\"1111111111111111abcdef0123456789\",\"obs_span_id\":\"2222222222222222\"}",
             summary);
    expect(&r, &opts, want); /* and by the writer that de-duplicates keys */
    weft__rec_fini(&r);

    /* Shapes repeat, change by one field and come back: through one writer's cache each item
     * is byte for byte what a writer with nothing kept gives. */
    weft__summary_cache cache;
    memset(&cache, 0, sizeof cache);
    weft__encode_opts warm = opts;
    warm.summary = &cache;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    weft__buf a, b;
    weft__buf_init(&a);
    weft__buf_init(&b);
    for (int i = 0; i < 2000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        fixed(&r, 0);
        r.has_summary = true;
        r.summary = shape_of(x);
        weft__buf_reset(&a);
        weft__buf_reset(&b);
        weft__encode_span(&a, &r, &warm);
        weft__encode_span(&b, &r, &opts);
        cr_assert(!a.oom && !b.oom);
        cr_assert(a.len == b.len && memcmp(a.data, b.data, a.len) == 0, "root %d:\n%.*s\nagainst\n%.*s", i,
                  (int)a.len, a.data, (int)b.len, b.data);
        weft__rec_fini(&r);
    }
    weft__buf_fini(&a);
    weft__buf_fini(&b);
}
