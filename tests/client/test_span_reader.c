/*
 * test_span_reader.c — src/client/span_reader.c: the span items it hands out of each input
 * layout (JSONL, a JSON array, an {"items":[...]} object, a spool directory), in file order,
 * with entries that expand to several items (an items object, a Stratix trace document) giving
 * every one of their items wherever they stand, spool records included.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "span_reader.h"
#include "spool_format.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/weft-sr-XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
}

static int rm_one(const char *p, const struct stat *st, int f, struct FTW *w)
{
    (void)st, (void)f, (void)w;
    return remove(p);
}

static void remove_dir(void) { nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS); }

TestSuite(span_reader, .init = make_dir, .fini = remove_dir);

static void write_file(const char *name, const void *p, size_t n)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert(f, "fopen %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(p, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

/* A spool file in dir holding one span record per entry of jsons, in order. */
static void write_spool(const char *name, const char *const *jsons, size_t n)
{
    weft__buf b;
    weft__buf_init(&b);
    unsigned char hdr[WEFT__SPOOL_HEADER_LEN];
    weft__spool_header(hdr);
    weft__buf_append(&b, hdr, sizeof hdr);
    for (size_t i = 0; i < n; i++)
        weft__spool_put_span(&b, i + 1, 1, i + 1, 0, 0, jsons[i], strlen(jsons[i]));
    cr_assert(!b.oom);
    write_file(name, b.data, b.len);
    weft__buf_fini(&b);
}

/* Reads path to the end: the ids of the items, space-separated, in the order handed out, and
 * the number of bad entries. Then checks that the end stays the end. */
static void read_ids(const char *path, char *ids, size_t cap, unsigned *bad)
{
    weft__span_reader *r;
    cr_assert_eq(weft__span_reader_open(path, &r), 0, "open %s", path);
    ids[0] = '\0';
    *bad = 0;
    weft__sr_event ev;
    weft__sr_status st;
    unsigned guard = 0;
    while ((st = weft__span_reader_next(r, &ev)) != WEFT__SR_END) {
        cr_assert(++guard < 1000, "the reader does not end");
        cr_assert_neq(st, WEFT__SR_IOERR, "%s", ev.message);
        if (st == WEFT__SR_BAD) {
            (*bad)++;
            continue;
        }
        const char *id = json_string_value(json_object_get(ev.item, "id"));
        cr_assert(id);
        size_t l = strlen(ids);
        snprintf(ids + l, cap - l, "%s%s", l ? " " : "", id);
        json_decref(ev.item);
    }
    st = weft__span_reader_next(r, &ev);
    json_decref(ev.item);
    weft__span_reader_free(r);
    cr_expect_eq(st, WEFT__SR_END, "END again after the end (read so far: \"%s\")", ids);
}

#define ITEM(id) "{\"id\":\"" id "\",\"trace_id\":\"t\"}"

/* ---- spool directories ------------------------------------------------------------------- */

Test(span_reader, a_spool_record_holding_an_items_object_gives_every_item_before_the_next_record)
{
    const char *recs[] = {ITEM("a"), "{\"items\":[" ITEM("b1") "," ITEM("b2") "," ITEM("b3") "]}", ITEM("c")};
    write_spool("weft-1-1-0.spool", recs, 3);
    char ids[256];
    unsigned bad;
    read_ids(dir, ids, sizeof ids, &bad);
    cr_assert_str_eq(ids, "a b1 b2 b3 c");
    cr_assert_eq(bad, 0);
}

Test(span_reader, a_multi_item_spool_record_last_in_its_file_keeps_its_items_before_the_next_file)
{
    const char *first[] = {ITEM("a"), "{\"items\":[" ITEM("b1") "," ITEM("b2") "]}"};
    const char *second[] = {ITEM("c")};
    write_spool("weft-1-1-0.spool", first, 2);
    write_spool("weft-1-1-1.spool", second, 1);
    char ids[256];
    unsigned bad;
    read_ids(dir, ids, sizeof ids, &bad);
    cr_assert_str_eq(ids, "a b1 b2 c");
    cr_assert_eq(bad, 0);
}

Test(span_reader, a_stratix_document_as_the_last_spool_record_gives_all_its_spans)
{
    const char *recs[] = {ITEM("a"),
                          "{\"trace_id\":\"t2\",\"name\":\"doc\",\"spans\":["
                          "{\"span_id\":\"r\",\"name\":\"root\"},"
                          "{\"span_id\":\"k1\",\"parent_span_id\":\"r\"},"
                          "{\"span_id\":\"k2\",\"parent_span_id\":\"r\"}]}"};
    write_spool("weft-1-1-0.spool", recs, 2);
    char ids[256];
    unsigned bad;
    read_ids(dir, ids, sizeof ids, &bad);
    cr_assert_str_eq(ids, "a r k1 k2");
    cr_assert_eq(bad, 0);
}

Test(span_reader, a_bad_item_inside_a_multi_item_spool_record_is_reported_and_the_rest_read)
{
    const char *recs[] = {"{\"items\":[" ITEM("b1") ",{\"id\":\"no-trace\"}," ITEM("b3") "]}", ITEM("c")};
    write_spool("weft-1-1-0.spool", recs, 2);
    char ids[256];
    unsigned bad;
    read_ids(dir, ids, sizeof ids, &bad);
    cr_assert_str_eq(ids, "b1 b3 c");
    cr_assert_eq(bad, 1);
}

Test(span_reader, spool_counts_every_item_of_a_multi_item_record)
{
    const char *recs[] = {ITEM("a"), "{\"items\":[" ITEM("b1") "," ITEM("b2") "," ITEM("b3") "]}"};
    write_spool("weft-1-1-0.spool", recs, 2);
    uint64_t n = 0;
    cr_assert_eq(weft__span_reader_count(dir, &n), 0);
    cr_assert_eq(n, 4);
}

/* ---- files -------------------------------------------------------------------------------- */

Test(span_reader, jsonl_lines_expand_items_objects_and_stratix_documents_in_place)
{
    const char text[] = ITEM("a") "\n"
                        "{\"items\":[" ITEM("b1") "," ITEM("b2") "]}\n"
                        "\n"
                        "{\"trace_id\":\"t2\",\"spans\":[{\"span_id\":\"r\"},{\"span_id\":\"k\",\"parent_span_id\":\"r\"}]}\n"
                        ITEM("c") "\n";
    write_file("run.jsonl", text, sizeof text - 1);
    char path[160], ids[256];
    snprintf(path, sizeof path, "%s/run.jsonl", dir);
    unsigned bad;
    read_ids(path, ids, sizeof ids, &bad);
    cr_assert_str_eq(ids, "a b1 b2 r k c");
    cr_assert_eq(bad, 0);
}

Test(span_reader, a_json_array_gives_its_elements_in_order_and_reports_the_one_that_is_not_an_item)
{
    const char text[] = "[\n  " ITEM("a") ",\n  42,\n  " ITEM("b") "\n]\n";
    write_file("run.json", text, sizeof text - 1);
    char path[160], ids[256];
    snprintf(path, sizeof path, "%s/run.json", dir);
    unsigned bad;
    read_ids(path, ids, sizeof ids, &bad);
    cr_assert_str_eq(ids, "a b");
    cr_assert_eq(bad, 1);
}

Test(span_reader, a_pretty_printed_items_object_gives_its_items_after_other_members)
{
    const char text[] = "{\n  \"meta\": {\"items\": [1]},\n  \"items\": [\n    " ITEM("a") ",\n    " ITEM("b")
                        "\n  ]\n}\n";
    write_file("run.json", text, sizeof text - 1);
    char path[160], ids[256];
    snprintf(path, sizeof path, "%s/run.json", dir);
    unsigned bad;
    read_ids(path, ids, sizeof ids, &bad);
    cr_assert_str_eq(ids, "a b");
    cr_assert_eq(bad, 0);
}

/* ---- Stratix documents -------------------------------------------------------------------- */

Test(span_reader, a_stratix_document_without_a_root_span_gets_one_from_its_top_level)
{
    json_t *doc = json_loads("{\"trace_id\":\"t9\",\"name\":\"top\",\"start_time\":\"2026-01-01T00:00:00Z\","
                             "\"input\":{\"q\":1},\"group_id\":\"g\",\"spans\":[{\"span_id\":\"a\","
                             "\"parent_span_id\":\"r0\",\"kind\":\"LLM\",\"end_time\":\"2026-01-01T00:00:01Z\","
                             "\"group_id\":\"g2\"}]}",
                             0, NULL);
    cr_assert(doc);
    json_t *out = json_array();
    weft__stratix_doc_items(doc, out);
    cr_assert_eq(json_array_size(out), 2);
    char *root = json_dumps(json_array_get(out, 0), JSON_COMPACT);
    char *span = json_dumps(json_array_get(out, 1), JSON_COMPACT);
    cr_expect_str_eq(root, "{\"id\":\"t9\",\"trace_id\":\"t9\",\"name\":\"top\",\"type\":\"TRACER\","
                           "\"start_timestamp\":\"2026-01-01T00:00:00Z\",\"input\":{\"q\":1},\"output\":{},"
                           "\"metadata\":{}}");
    cr_expect_str_eq(span, "{\"id\":\"a\",\"trace_id\":\"t9\",\"parent_id\":\"r0\",\"type\":\"LLM\","
                           "\"end_timestamp\":\"2026-01-01T00:00:01Z\",\"input\":{},\"output\":{},"
                           "\"metadata\":{},\"group_id\":\"g2\"}");
    free(root);
    free(span);
    json_decref(out);
    json_decref(doc);
}
