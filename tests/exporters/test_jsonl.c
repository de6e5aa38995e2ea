/*
 * test_jsonl.c — the JSONL file exporter (exporters/jsonl.c): what it opens. A regular file
 * gets every completed span and the startup line names it; a symbolic link planted at the path,
 * a FIFO (with or without a reader), a device and a directory are refused at weft_init with an
 * error naming WEFT_JSONL_PATH and the path, and nothing is written through them.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log_capture.h"
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
