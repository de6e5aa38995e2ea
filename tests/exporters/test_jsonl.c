/*
 * test_jsonl.c — the JSONL file exporter (exporters/jsonl.c): what it opens. A regular file
 * gets every completed span and the startup line names it; a symbolic link planted at the path,
 * a FIFO (with or without a reader), a device and a directory are refused at weft_init with an
 * error naming WEFT_JSONL_PATH and the path, and nothing is written through them.
 *
 * And what the file holds: one SGP span item per line, each parsed back with jansson and
 * checked field by field; runs append to the file; in-progress upserts other exporters receive
 * are left out while spans open at shutdown are written; a path that cannot be opened fails
 * weft_init with WEFT_EIO; a write that fails drops and counts the records and is logged once.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log_capture.h"
#include "receiver.h"
#include "weft_test.h"
#include "weft/weft.h"

typedef struct tdir {
    char path[256];
} tdir;

static void tdir_make(tdir *d)
{
    snprintf(d->path, sizeof d->path, "/tmp/weft-jsonl-XXXXXX");
    cr_assert(mkdtemp(d->path));
}

static void tdir_remove(tdir *d)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->path);
    cr_assert_eq(system(cmd), 0);
}

static int init_jsonl(const char *path)
{
    wt_log_reset();
    weft_config c = {.exporters = "jsonl",
                     .jsonl_path = path,
                     .no_atexit = true,
                     .flush_interval_ms = 20,
                     .log = wt_log_capture,
                     .log_level = WEFT_LOG_INFO};
    return weft_init(&c);
}

static off_t file_size(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    return st.st_size;
}

Test(jsonl, writes_a_regular_file_and_names_it_at_start)
{
    tdir d;
    tdir_make(&d);
    char path[300];
    snprintf(path, sizeof path, "%s/traces.jsonl", d.path);
    cr_assert_eq(init_jsonl(path), 0);
    char line[400];
    snprintf(line, sizeof line, "exporter jsonl: appending completed spans to %s", path);
    cr_expect_eq(wt_log_count(line), 1);
    for (int k = 0; k < 3; k++) {
        weft_span s = weft_span_begin("to-file", WEFT_TYPE_CUSTOM);
        weft_span_end(s);
    }
    cr_expect_eq(weft_shutdown(5000), 0);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    int lines = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        lines += ch == '\n';
    fclose(f);
    cr_expect_eq(lines, 3);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600);
    tdir_remove(&d);
}

Test(jsonl, refuses_a_planted_symbolic_link)
{
    tdir d;
    tdir_make(&d);
    char target[300], link[300];
    snprintf(target, sizeof target, "%s/victim", d.path);
    snprintf(link, sizeof link, "%s/traces.jsonl", d.path);
    FILE *f = fopen(target, "w");
    cr_assert(f);
    fputs("precious\n", f);
    fclose(f);
    cr_assert_eq(symlink(target, link), 0);
    cr_expect_eq(init_jsonl(link), WEFT_EIO);
    char want[400];
    snprintf(want, sizeof want, "WEFT_JSONL_PATH='%s': is a symbolic link", link);
    cr_expect_eq(wt_log_count(want), 1);
    cr_expect_eq(file_size(target), 9, "the link's target was written to");
    weft_shutdown(1000);
    tdir_remove(&d);
}

Test(jsonl, refuses_a_fifo_with_no_reader_without_hanging)
{
    tdir d;
    tdir_make(&d);
    char path[300];
    snprintf(path, sizeof path, "%s/traces.jsonl", d.path);
    cr_assert_eq(mkfifo(path, 0600), 0);
    cr_expect_eq(init_jsonl(path), WEFT_EIO); /* the base tree blocks here forever */
    char want[400];
    snprintf(want, sizeof want, "WEFT_JSONL_PATH='%s': is a FIFO or socket with no reader", path);
    cr_expect_eq(wt_log_count(want), 1);
    weft_shutdown(1000);
    tdir_remove(&d);
}

Test(jsonl, refuses_a_fifo_that_has_a_reader)
{
    tdir d;
    tdir_make(&d);
    char path[300];
    snprintf(path, sizeof path, "%s/traces.jsonl", d.path);
    cr_assert_eq(mkfifo(path, 0600), 0);
    int rd = open(path, O_RDONLY | O_NONBLOCK);
    cr_assert_geq(rd, 0);
    cr_expect_eq(init_jsonl(path), WEFT_EIO);
    char want[400];
    snprintf(want, sizeof want, "WEFT_JSONL_PATH='%s': a FIFO; traces go to a regular file only", path);
    cr_expect_eq(wt_log_count(want), 1);
    char buf[16];
    cr_expect_eq(read(rd, buf, sizeof buf), 0, "something was written into the FIFO");
    close(rd);
    weft_shutdown(1000);
    tdir_remove(&d);
}

Test(jsonl, refuses_a_device_and_a_directory)
{
    cr_expect_eq(init_jsonl("/dev/null"), WEFT_EIO);
    cr_expect_eq(wt_log_count("WEFT_JSONL_PATH='/dev/null': a device; traces go to a regular file only"), 1);
    weft_shutdown(1000);
    tdir d;
    tdir_make(&d);
    cr_expect_eq(init_jsonl(d.path), WEFT_EIO);
    char want[400];
    snprintf(want, sizeof want, "WEFT_JSONL_PATH='%s'", d.path);
    cr_expect_eq(wt_log_count(want), 1);
    weft_shutdown(1000);
    tdir_remove(&d);
}

/* ---- what the file holds ---------------------------------------------------------------- */

typedef struct tmpfile_ {
    char dir[64], path[128];
} tmpfile_;

static void tmp_make(tmpfile_ *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/weft-jsonl-XXXXXX");
    cr_assert_not_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/traces.jsonl", t->dir);
}

static void tmp_remove(tmpfile_ *t)
{
    unlink(t->path);
    rmdir(t->dir);
}

static weft_stats stats(void)
{
    weft_stats s;
    weft_get_stats(&s);
    return s;
}

/* Every line of the file parsed (asserted valid JSON and a well-formed item). New ref. */
static json_t *read_items(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        cr_assert_eq(line[n - 1], '\n', "every item ends its line");
        json_error_t err;
        json_t *it = json_loadb(line, (size_t)n - 1, JSON_REJECT_DUPLICATES, &err);
        cr_assert_not_null(it, "not JSON (%s): %s", err.text, line);
        cr_assert(json_is_object(it));
        wt_check_item(it);
        json_array_append_new(arr, it);
    }
    free(line);
    fclose(f);
    return arr;
}

static void run(const char *path, const char *prefix, int n)
{
    weft_config c = {.exporters = "jsonl", .jsonl_path = path};
    cr_assert_eq(wt_init_memory(&c), 0);
    char name[64];
    weft_span root = weft_span_begin(prefix, WEFT_TYPE_AGENT_WORKFLOW);
    for (int i = 0; i < n - 1; i++) {
        snprintf(name, sizeof name, "%s-%d", prefix, i);
        weft_span s = weft_span_begin(name, WEFT_TYPE_COMPLETION);
        weft_span_set_i64(s, WEFT_METADATA, "index", i);
        weft_span_set_str(s, WEFT_OUTPUT, "text", "two\nlines");
        weft_span_end(s);
    }
    weft_span_end(root);
    cr_assert_eq(weft_shutdown(5000), 0);
}

Test(jsonl, writes_one_sgp_item_per_line)
{
    tmpfile_ t;
    tmp_make(&t);
    run(t.path, "job", 20);
    json_t *items = read_items(t.path);
    cr_assert_eq(json_array_size(items), 20);
    json_t *root = wt_find(items, "job");
    cr_assert_not_null(root);
    cr_assert_null(json_object_get(root, "parent_id"));
    char name[32];
    for (int i = 0; i < 19; i++) {
        snprintf(name, sizeof name, "job-%d", i);
        json_t *it = wt_find(items, name);
        cr_assert_not_null(it, "%s missing", name);
        cr_assert_str_eq(wt_str(it, "type"), "COMPLETION");
        cr_assert_str_eq(wt_str(it, "parent_id"), wt_str(root, "id"));
        cr_assert_str_eq(wt_str(it, "trace_id"), wt_str(root, "trace_id"));
        cr_assert_eq(json_integer_value(wt_path(it, "metadata.index")), i);
        cr_assert_str_eq(json_string_value(wt_path(it, "output.text")), "two\nlines",
                         "a newline in a value is escaped, not a line break");
    }
    json_decref(items);
    struct stat st;
    cr_assert_eq(stat(t.path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600);
    tmp_remove(&t);
    weft_stats s = stats();
    cr_assert_eq(s.exported, 20);
    cr_assert_eq(s.dropped_export, 0);
}

Test(jsonl, appends_across_runs)
{
    tmpfile_ t;
    tmp_make(&t);
    run(t.path, "first", 5);
    run(t.path, "second", 7);
    json_t *items = read_items(t.path);
    cr_assert_eq(json_array_size(items), 12, "the second run appended to the first");
    cr_assert_not_null(wt_find(items, "first"));
    cr_assert_not_null(wt_find(items, "first-3"));
    cr_assert_not_null(wt_find(items, "second-5"));
    /* The first run's lines come first. */
    for (size_t i = 0; i < 5; i++)
        cr_assert_eq(strncmp(wt_str(json_array_get(items, i), "name"), "first", 5), 0);
    json_decref(items);
    tmp_remove(&t);
    cr_assert_eq(stats().exported, 7, "statistics restart with each weft_init");
}

Test(jsonl, writes_a_span_open_at_shutdown_as_it_stands)
{
    tmpfile_ t;
    tmp_make(&t);
    weft_config c = {.exporters = "jsonl", .jsonl_path = t.path};
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span open = weft_span_begin("never ended", WEFT_TYPE_CUSTOM);
    weft_span_set_str(open, WEFT_INPUT, "q", "?");
    cr_assert_eq(weft_shutdown(5000), 0);
    json_t *items = read_items(t.path);
    cr_assert_eq(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    cr_assert_str_eq(wt_str(it, "name"), "never ended");
    cr_assert_null(json_object_get(it, "end_timestamp"));
    cr_assert_str_eq(json_string_value(wt_path(it, "input.q")), "?");
    json_decref(items);
    tmp_remove(&t);
    weft_stats s = stats();
    cr_assert_eq(s.ended, 0);
    cr_assert_eq(s.exported, 0, "an open span is written but is not a completed export");
    cr_assert_eq(s.dropped_export, 0);
}

Test(jsonl, leaves_out_the_in_progress_upserts_another_exporter_receives)
{
    weft_rx_opts o = {.api_key = "test-key"};
    weft_rx *rx = weft_rx_start(&o);
    cr_assert_not_null(rx);
    tmpfile_ t;
    tmp_make(&t);
    weft_config c = {.exporters = "jsonl,sgp",
                     .jsonl_path = t.path,
                     .sgp_base_url = weft_rx_url(rx),
                     .sgp_api_key = "test-key",
                     .sgp_account_id = "acct-1",
                     .inprogress_after_ms = WEFT_INPROGRESS_NOW,
                     .log = wt_log_capture};
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span s = weft_span_begin("long call", WEFT_TYPE_COMPLETION);
    cr_assert_eq(weft_flush(10000), 0); /* the in-progress upsert goes out */
    cr_assert_eq(stats().inprogress_sent, 1);
    weft_span_end(s);
    cr_assert_eq(weft_shutdown(10000), 0);
    json_t *items = read_items(t.path);
    cr_assert_eq(json_array_size(items), 1, "only the completed record is in the file");
    json_t *it = json_array_get(items, 0);
    cr_assert_not_null(json_object_get(it, "end_timestamp"));
    cr_assert_eq(weft_rx_span_upserts(rx, wt_str(it, "trace_id"), wt_str(it, "id")), 2,
                 "the SGP receiver got the in-progress upsert and the completed one");
    json_decref(items);
    weft_rx_stop(rx);
    tmp_remove(&t);
    weft_stats st = stats();
    cr_assert_eq(st.exported, 1);
    cr_assert_eq(st.inprogress_sent, 1);
    cr_assert_eq(st.dropped_export, 0);
}

Test(jsonl, a_path_that_cannot_be_opened_fails_init_with_eio)
{
    wt_log_reset();
    weft_config c = {.exporters = "jsonl", .jsonl_path = "/nonexistent-weft-dir/traces.jsonl",
                     .log = wt_log_capture};
    cr_assert_eq(wt_init_memory(&c), WEFT_EIO);
    cr_assert_eq(wt_log_count("WEFT_JSONL_PATH='/nonexistent-weft-dir/traces.jsonl': cannot open for traces"), 1);
    cr_assert_eq(weft_shutdown(100), 0);
    cr_assert_eq(stats().exported, 0);
}

Test(jsonl, a_failed_write_drops_and_counts_the_records_and_logs_once)
{
    /* A full disk, stood in for by a file size limit: devices such as /dev/full are refused at
     * open (a regular file only), so the limit makes every write past the header fail with
     * EFBIG (SIGXFSZ ignored, as the signal would end the process). */
    tmpfile_ t;
    tmp_make(&t);
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {0, 0};
    getrlimit(RLIMIT_FSIZE, &rl);
    rl.rlim_cur = 0;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    wt_log_reset();
    weft_config c = {.exporters = "jsonl", .jsonl_path = t.path, .log = wt_log_capture,
                     .flush_interval_ms = 3600000};
    cr_assert_eq(wt_init_memory(&c), 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 10; i++) {
            weft_span s = weft_span_begin("lost", WEFT_TYPE_CUSTOM);
            weft_span_end(s);
        }
        cr_assert_eq(weft_flush(10000), WEFT_EEXPORT, "flush says some records were dropped");
    }
    cr_assert_eq(weft_shutdown(5000), WEFT_EEXPORT, "the run lost its records");
    char want[300];
    snprintf(want, sizeof want, "writing %s failed", t.path);
    cr_assert_eq(wt_log_count(want), 1, "logged once, not per batch");
    weft_stats st = stats();
    cr_assert_eq(st.ended, 20);
    cr_assert_eq(st.exported, 0);
    cr_assert_eq(st.dropped_export, 20);
    tmp_remove(&t);
}
