/*
 * test_stdout.c — the stdout exporter (exporters/stdout.c) with standard output captured
 * through a pipe (dup2 onto fd 1; a reader thread empties the pipe so the export thread never
 * blocks on it): one line per finished span in the documented format, ids that match the SGP
 * item's, a parent column, a name that cannot break the line, in-progress upserts left out
 * and spans open at shutdown shown as "open".
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "weft/weft.h"
#include "weft_test.h"

/* ---- capture -------------------------------------------------------------------------- */

typedef struct capture {
    int pipe[2], saved;
    pthread_t reader;
    weft__buf text;
} capture;

static void *reader(void *p)
{
    capture *c = p;
    char chunk[4096];
    ssize_t n;
    while ((n = read(c->pipe[0], chunk, sizeof chunk)) > 0)
        weft__buf_append(&c->text, chunk, (size_t)n);
    return NULL;
}

static void capture_start(capture *c)
{
    weft__buf_init(&c->text);
    cr_assert_eq(pipe(c->pipe), 0);
    fflush(stdout);
    c->saved = dup(STDOUT_FILENO);
    cr_assert_geq(c->saved, 0);
    cr_assert_eq(dup2(c->pipe[1], STDOUT_FILENO), STDOUT_FILENO);
    close(c->pipe[1]);
    cr_assert_eq(pthread_create(&c->reader, NULL, reader, c), 0);
}

/* Restores stdout and returns what was written (NUL-terminated, owned by c). */
static const char *capture_stop(capture *c)
{
    fflush(stdout);
    cr_assert_eq(dup2(c->saved, STDOUT_FILENO), STDOUT_FILENO); /* closes the pipe's last writer */
    close(c->saved);
    pthread_join(c->reader, NULL);
    close(c->pipe[0]);
    weft__buf_putc(&c->text, 0);
    return c->text.data;
}

/* ---- lines ---------------------------------------------------------------------------- */

typedef struct line {
    char trace[9], span[9], parent[9], type[32], status[16], dur[16];
    char name[256]; /* the JSON string as printed */
} line;

#define LINE_RE                                                                                    \
    "^weft ([0-9a-f]{8}) ([0-9a-f]{8}) ([0-9a-f]{8}|- {7}) ([A-Z_]+) +(SUCCESS|ERROR|CANCELED) +" \
    "( *[0-9]+\\.[0-9]{3} ms| {8}open) (\".*\")$"

static size_t parse_lines(const char *text, line *out, size_t max)
{
    regex_t re;
    cr_assert_eq(regcomp(&re, LINE_RE, REG_EXTENDED), 0);
    size_t n = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        cr_assert_not_null(nl, "the last line has no newline: %s", p);
        char buf[512];
        size_t len = (size_t)(nl - p);
        cr_assert_lt(len, sizeof buf);
        memcpy(buf, p, len);
        buf[len] = 0;
        regmatch_t m[8];
        cr_assert_eq(regexec(&re, buf, 8, m, 0), 0, "not in the documented format: [%s]", buf);
        cr_assert_lt(n, max);
        line *l = &out[n++];
        char *dst[] = {l->trace, l->span, l->parent, l->type, l->status, l->dur, l->name};
        size_t cap[] = {9, 9, 9, 32, 16, 16, 256};
        for (int k = 0; k < 7; k++)
            snprintf(dst[k], cap[k], "%.*s", (int)(m[k + 1].rm_eo - m[k + 1].rm_so), buf + m[k + 1].rm_so);
        p = nl + 1;
    }
    regfree(&re);
    return n;
}

/* The printed name decoded from its JSON string. */
static const char *name_of(const line *l)
{
    static char out[256];
    json_error_t err;
    json_t *s = json_loads(l->name, JSON_DECODE_ANY, &err);
    cr_assert(json_is_string(s), "the name is not a JSON string: %s", l->name);
    snprintf(out, sizeof out, "%s", json_string_value(s));
    json_decref(s);
    return out;
}

static const line *find(const line *ls, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(name_of(&ls[i]), name) == 0)
            return &ls[i];
    return NULL;
}

static weft_stats stats(void)
{
    weft_stats s;
    weft_get_stats(&s);
    return s;
}

/* ---- tests ---------------------------------------------------------------------------- */

Test(stdout_exporter, prints_one_line_per_finished_span_in_the_documented_format)
{
    capture cap;
    capture_start(&cap);
    weft_config c = {.exporters = "stdout,memory"};
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span root = weft_span_begin("plan trip", WEFT_TYPE_AGENT_WORKFLOW);
    weft_span a = weft_span_begin("search flights", WEFT_TYPE_EXTERNAL_ENDPOINT);
    weft_span_set_error(a, "timeout", "no answer");
    weft_span_end(a);
    weft_span b = weft_span_begin("book", WEFT_TYPE_COMPLETION);
    weft_span_set_status(b, WEFT_STATUS_CANCELED);
    weft_span_end(b);
    weft_span_end(root);
    int rc = weft_shutdown(5000);
    const char *text = capture_stop(&cap);
    cr_assert_eq(rc, 0);
    line ls[16];
    size_t n = parse_lines(text, ls, 16);
    cr_assert_eq(n, 3, "%s", text);
    const line *lr = find(ls, n, "plan trip"), *la = find(ls, n, "search flights"), *lb = find(ls, n, "book");
    cr_assert(lr && la && lb, "%s", text);
    cr_assert_str_eq(lr->parent, "-       ", "a root has no parent");
    cr_assert_str_eq(la->parent, lr->span);
    cr_assert_str_eq(lb->parent, lr->span);
    cr_assert_str_eq(la->trace, lr->trace);
    cr_assert_str_eq(lb->trace, lr->trace);
    cr_assert_str_eq(lr->type, "AGENT_WORKFLOW");
    cr_assert_str_eq(la->type, "EXTERNAL_ENDPOINT");
    cr_assert_str_eq(lr->status, "SUCCESS");
    cr_assert_str_eq(la->status, "ERROR");
    cr_assert_str_eq(lb->status, "CANCELED");
    cr_assert_not_null(strstr(lr->dur, " ms"));
    /* The short ids are the first 8 hex digits of the SGP item's ids. */
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 3);
    json_t *ir = wt_find(recs, "plan trip"), *ia = wt_find(recs, "search flights");
    cr_assert_eq(strncmp(wt_str(ir, "id"), lr->span, 8), 0, "%s vs %s", wt_str(ir, "id"), lr->span);
    cr_assert_eq(strncmp(wt_str(ir, "trace_id"), lr->trace, 8), 0);
    cr_assert_eq(strncmp(wt_str(ia, "id"), la->span, 8), 0);
    json_decref(recs);
    weft__buf_fini(&cap.text);
    weft_stats st = stats();
    cr_assert_eq(st.exported, 3);
    cr_assert_eq(st.ended, 3);
}

Test(stdout_exporter, prints_a_name_as_its_json_string_so_it_cannot_break_the_line)
{
    capture cap;
    capture_start(&cap);
    weft_config c = {.exporters = "stdout"};
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span s = weft_span_begin("two\nlines \"quoted\" \xff", WEFT_TYPE_CUSTOM);
    weft_span_end(s);
    int rc = weft_shutdown(5000);
    const char *text = capture_stop(&cap);
    cr_assert_eq(rc, 0);
    line ls[4];
    cr_assert_eq(parse_lines(text, ls, 4), 1, "one span, one line: %s", text);
    cr_assert_str_eq(ls[0].name, "\"two\\nlines \\\"quoted\\\" \xef\xbf\xbd\"");
    cr_assert_str_eq(name_of(&ls[0]), "two\nlines \"quoted\" \xef\xbf\xbd");
    weft__buf_fini(&cap.text);
    weft_stats st = stats();
    cr_assert_eq(st.repaired_utf8, 1);
    cr_assert_eq(st.exported, 1);
}

Test(stdout_exporter, shows_a_span_open_at_shutdown_as_open_and_skips_in_progress_upserts)
{
    capture cap;
    capture_start(&cap);
    weft_config c = {.exporters = "stdout", .inprogress_after_ms = WEFT_INPROGRESS_NOW};
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span open = weft_span_begin("open at exit", WEFT_TYPE_CUSTOM);
    (void)open;
    weft_span done = weft_span_begin("done", WEFT_TYPE_CUSTOM);
    weft_span_end(done);
    cr_assert_eq(weft_flush(5000), 0);
    int rc = weft_shutdown(5000);
    const char *text = capture_stop(&cap);
    cr_assert_eq(rc, 0);
    line ls[8];
    size_t n = parse_lines(text, ls, 8);
    cr_assert_eq(n, 2, "%s", text);
    const line *lo = find(ls, n, "open at exit"), *ld = find(ls, n, "done");
    cr_assert(lo && ld, "%s", text);
    cr_assert_str_eq(lo->dur, "        open");
    cr_assert_str_eq(ld->parent, lo->span, "done began while the open span was current");
    weft__buf_fini(&cap.text);
    weft_stats st = stats();
    cr_assert_eq(st.ended, 1);
    cr_assert_eq(st.exported, 1);
    cr_assert_eq(st.inprogress_sent, 0, "stdout wants no in-progress records");
}
