/*
 * test_cli.c — the `weft` program (tools/) end to end: each test runs the built binary
 * (WEFT_CLI_PATH, from CMake) with posix_spawn, or on a pseudo-terminal with forkpty, against
 * the loopback SGP receiver running in the test process, and checks its exit status, its
 * output and what the receiver got. Traces are recorded with weft's own API into JSONL files
 * (tests/client/scenario.h). Errors covered: the server down, 401, malformed input files, a
 * missing file, usage errors.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <pty.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../client/scenario.h"
#include "receiver.h"
#include "stratix_doc.h"
#include "stratix_receiver.h"
#include "weft/stratix.h"
#include "weft/traces.h"
#include "weft/weft.h"

#ifndef WEFT_CLI_PATH
#error "WEFT_CLI_PATH must name the built weft program"
#endif

#define KEY "cli-secret-key-7f3a9"

extern char **environ;

static char dir[64];
static weft_rx *rx;

static int rm_one(const char *p, const struct stat *st, int f, struct FTW *w)
{
    (void)st, (void)f, (void)w;
    return remove(p);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/weft-cli-XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    rx = weft_rx_start(&(weft_rx_opts){.api_key = KEY});
    cr_assert(rx);
}

static void teardown(void)
{
    weft_rx_stop(rx);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);

static char *path_in(const char *name)
{
    char *p;
    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = 0;
    fclose(f);
    return b;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
}

/* ---- running the program ------------------------------------------------------------------- */

typedef struct run {
    int status; /* exit status; 128 + signal when killed */
    char *out, *err;
} run;

static void run_free(run *r)
{
    free(r->out);
    free(r->err);
}

/* The environment of a run: this process's, without the variables the program reads, then
 * extra (NULL-terminated; may be NULL), then defaults (no retries: a down server fails fast). */
static char **make_env(const char *const *extra)
{
    size_t n = 0;
    for (char **e = environ; *e; e++)
        n++;
    size_t ne = 0;
    for (const char *const *x = extra; x && *x; x++)
        ne++;
    char **env = calloc(n + ne + 4, sizeof *env);
    size_t o = 0;
    for (char **e = environ; *e; e++) {
        if (!strncmp(*e, "SGP_", 4) || !strncmp(*e, "WEFT_", 5) || !strncmp(*e, "NO_COLOR=", 9) ||
            !strncmp(*e, "COLUMNS=", 8) || !strncmp(*e, "LC_ALL=", 7) || !strncmp(*e, "LANG=", 5) ||
            !strncmp(*e, "DISABLE_SCALE", 13) || !strncmp(*e, "LAYERLENS_", 10))
            continue;
        env[o++] = *e;
    }
    bool has_retries = false, has_locale = false;
    for (const char *const *x = extra; x && *x; x++) {
        env[o++] = (char *)*x;
        has_retries |= !strncmp(*x, "WEFT_CLI_MAX_RETRIES=", 21);
        has_locale |= !strncmp(*x, "LC_ALL=", 7);
    }
    if (!has_retries)
        env[o++] = "WEFT_CLI_MAX_RETRIES=0";
    if (!has_locale)
        env[o++] = "LC_ALL=C.UTF-8";
    return env;
}

static run run_v(const char *const *env_extra, const char *const *args)
{
    char *outp = path_in("stdout.txt"), *errp = path_in("stderr.txt");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, outp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, errp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    size_t na = 0;
    while (args[na])
        na++;
    char **argv = calloc(na + 2, sizeof *argv);
    argv[0] = WEFT_CLI_PATH;
    for (size_t i = 0; i < na; i++)
        argv[i + 1] = (char *)args[i];
    char **env = make_env(env_extra);
    pid_t pid;
    int rc = posix_spawn(&pid, WEFT_CLI_PATH, &fa, NULL, argv, env);
    cr_assert_eq(rc, 0, "spawn %s: %s", WEFT_CLI_PATH, strerror(rc));
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    posix_spawn_file_actions_destroy(&fa);
    run r = {.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st)};
    r.out = slurp(outp);
    r.err = slurp(errp);
    free(argv);
    free(env);
    free(outp), free(errp);
    return r;
}

/* weft ARGS... (NULL-terminated) with env_extra. */
static run weft(const char *const *env_extra, ...)
{
    const char *args[64];
    size_t n = 0;
    va_list ap;
    va_start(ap, env_extra);
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 63)
        args[n++] = a;
    va_end(ap);
    args[n] = NULL;
    return run_v(env_extra, args);
}

/* The same on a pseudo-terminal of `cols` columns: stdout and stderr both go to it. */
static run weft_pty(const char *const *env_extra, unsigned short cols, const char *const *args)
{
    size_t na = 0;
    while (args[na])
        na++;
    char **argv = calloc(na + 2, sizeof *argv);
    argv[0] = WEFT_CLI_PATH;
    for (size_t i = 0; i < na; i++)
        argv[i + 1] = (char *)args[i];
    char **env = make_env(env_extra);
    struct winsize ws = {.ws_row = 40, .ws_col = cols};
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, &ws);
    cr_assert(pid >= 0, "forkpty: %s", strerror(errno));
    if (pid == 0) {
        execve(WEFT_CLI_PATH, argv, env);
        _exit(127);
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (len + 4096 > cap)
            buf = realloc(buf, cap *= 2);
        ssize_t k = read(master, buf + len, 4096);
        if (k <= 0)
            break; /* EIO once the child has closed the terminal */
        len += (size_t)k;
    }
    buf[len] = 0;
    close(master);
    int st;
    waitpid(pid, &st, 0);
    free(argv);
    free(env);
    return (run){.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), .out = buf, .err = strdup("")};
}

static const char **sgp_env(weft_rx *r, const char *key)
{
    static char url[128], k[128];
    static const char *env[3];
    snprintf(url, sizeof url, "SGP_CLIENT_BASE_URL=%s", weft_rx_url(r));
    snprintf(k, sizeof k, "SGP_API_KEY=%s", key);
    env[0] = url;
    env[1] = k;
    env[2] = NULL;
    return env;
}

/* A base URL where nothing listens: a receiver's, after it stopped. */
static const char **down_env(void)
{
    static char url[128];
    static const char *env[3] = {NULL, "SGP_API_KEY=" KEY, NULL};
    weft_rx *tmp = weft_rx_start(NULL);
    snprintf(url, sizeof url, "SGP_CLIENT_BASE_URL=%s", weft_rx_url(tmp));
    weft_rx_stop(tmp);
    env[0] = url;
    return env;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

static size_t count_str(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* ---- fixtures ------------------------------------------------------------------------------ */

/* Records traces with weft's jsonl exporter into path: two RAG traces (the second's tool call
 * fails) and `small` one-span traces. */
static void record(const char *path, int small)
{
    weft_config c = {0};
    c.exporters = "jsonl";
    c.jsonl_path = path;
    c.no_atexit = true;
    c.flush_interval_ms = 20;
    c.inprogress_after_ms = WEFT_INPROGRESS_NEVER;
    cr_assert_eq(weft_init(&c), 0);
    sc_record_rag_trace("Why a ring per thread?", false);
    usleep(2000);
    sc_record_rag_trace("How are drops counted? </script><b id=\"injected\">x</b>", true);
    for (int i = 0; i < small; i++) {
        usleep(1000);
        sc_record_small_trace(i);
    }
    cr_assert_eq(weft_shutdown(10000), 0);
}

/* The trace ids of a file, newest first, through the library. */
static char *newest_trace(const char *path, char **second)
{
    weft_trace_source *src;
    const char *p = path;
    cr_assert_eq(weft_trace_source_open_files(&p, 1, &src), 0);
    weft_trace_list_response *l;
    cr_assert_eq(weft_traces_list(src, NULL, &l), 0);
    cr_assert_geq(l->n_traces, 1);
    char *id = strdup(l->traces[0].trace_id);
    if (second)
        *second = l->n_traces > 1 ? strdup(l->traces[1].trace_id) : NULL;
    weft_trace_list_response_free(l);
    weft_trace_source_free(src);
    return id;
}

/* `n` simple span items of one trace, as JSONL lines (line i+1 holds span i). */
static char *items_jsonl(int n, const char *trace)
{
    size_t cap = (size_t)n * 256 + 1, o = 0;
    char *b = malloc(cap);
    b[0] = 0;
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(b + o, cap - o,
                              "{\"id\":\"span-%03d\",\"trace_id\":\"%s\",%s\"name\":\"step %d\",\"type\":\"CUSTOM\","
                              "\"start_timestamp\":\"2025-01-01T00:00:%02d.000000Z\",\"end_timestamp\":"
                              "\"2025-01-01T00:00:%02d.500000Z\",\"metadata\":{\"env\":\"%s\"}}\n",
                              i, trace, i ? "\"parent_id\":\"span-000\"," : "", i, i, i, i % 2 ? "prod" : "dev");
    return b;
}

/* ---- help and usage ------------------------------------------------------------------------ */

Test(cli, prints_help_for_the_program_and_every_subcommand_and_exits_0)
{
    run r = weft(NULL, "--help", NULL);
    cr_expect_eq(r.status, 0);
    for (const char *c = "upload\0spans search\0traces list\0eval\0view\0convert\0doctor\0"; *c; c += strlen(c) + 1)
        cr_expect(strstr(r.out, c), "the help names %s", c);
    run_free(&r);
    const char *cmds[][3] = {{"upload", "--help"},       {"spans", "search", "--help"}, {"spans", "get", "--help"},
                             {"traces", "list", "--help"}, {"traces", "get", "--help"}, {"eval", "--help"},
                             {"view", "--help"},          {"convert", "--help"},        {"doctor", "--help"}};
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        const char *args[4] = {cmds[i][0], cmds[i][1], cmds[i][2], NULL};
        run h = run_v(NULL, args);
        cr_expect_eq(h.status, 0, "%s %s --help: %d", cmds[i][0], cmds[i][1], h.status);
        char want[64];
        snprintf(want, sizeof want, "Usage: weft %s", cmds[i][0]);
        cr_expect(strstr(h.out, want), "%s %s: %s", cmds[i][0], cmds[i][1], h.out);
        run_free(&h);
    }
}

Test(cli, exits_2_on_usage_errors_with_a_message)
{
    char *f = path_in("t.jsonl");
    write_file(f, "");
    struct {
        const char *args[6];
        const char *says;
    } cases[] = {
        {{NULL}, "Usage"},
        {{"frobnicate", NULL}, "unknown command"},
        {{"traces", "list", "--bogus", f, NULL}, "unknown option '--bogus'"},
        {{"traces", "list", NULL}, "no input"},
        {{"traces", "list", "--page-size", "0", f, NULL}, "--page-size"},
        {{"spans", "search", "--limit", "5000", NULL}, "--limit"},
        {{"spans", "search", "--sort", "sideways", NULL}, "--sort"},
        {{"spans", "search", "--from", "yesterday", NULL}, "ISO 8601"},
        {{"spans", "search", "--meta", "novalue", NULL}, "KEY=VALUE"},
        {{"spans", "search", "--group-id", "a", "--group-id", NULL}, "needs a value"},
        {{"spans", "get", NULL}, "no span id"},
        {{"convert", f, "--to", "xml", NULL}, "--to must be"},
        {{"convert", f, NULL}, "--to"},
        {{"upload", NULL}, "no files"},
        {{"traces", "list", "--sgp", f, NULL}, "not both"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        run r = run_v(NULL, cases[i].args);
        cr_expect_eq(r.status, 2, "case %zu (%s): status %d, stderr %s", i, cases[i].says, r.status, r.err);
        cr_expect(strstr(r.err, cases[i].says), "case %zu: '%s' not in: %s", i, cases[i].says, r.err);
        run_free(&r);
    }
    free(f);
}

/* ---- upload -------------------------------------------------------------------------------- */

Test(cli, upload_delivers_every_span_of_a_jsonl_file_and_sums_up)
{
    char *f = path_in("run.jsonl");
    record(f, 3);
    run r = weft(sgp_env(rx, KEY), "upload", f, NULL);
    cr_expect_eq(r.status, 0, "stderr: %s", r.err);
    cr_expect_eq(weft_rx_completed(rx), 11); /* 2 × 4 + 3 */
    cr_expect(strstr(r.err, "11 of 11 spans delivered to http://127.0.0.1:"), "%s", r.err);
    cr_expect(!strstr(r.err, KEY), "the key is never printed");
    cr_expect(!strchr(r.err, '\r'), "no progress bar when stderr is not a terminal");
    run_free(&r);
    free(f);
}

Test(cli, upload_reports_malformed_lines_with_their_numbers_delivers_the_rest_and_exits_1)
{
    char *f = path_in("bad.jsonl");
    char *lines = items_jsonl(5, "trace-bad");
    /* Lines 2 and 4 broken: the spans of lines 1, 3, 5, 6 and 7 get through. */
    char *p2 = strchr(lines, '\n') + 1;
    char *p3 = strchr(p2, '\n') + 1;
    char *p4 = strchr(p3, '\n') + 1;
    char *p5 = strchr(p4, '\n') + 1;
    FILE *o = fopen(f, "w");
    fwrite(lines, 1, (size_t)(p2 - lines), o);
    fputs("{\"id\": \"cut short\n", o);
    fwrite(p3, 1, (size_t)(p4 - p3), o);
    fputs("[1, 2, 3]\n", o);
    fputs(p5, o);
    fclose(o);
    run r = weft(sgp_env(rx, KEY), "upload", f, NULL);
    cr_expect_eq(r.status, 1, "status %d: %s", r.status, r.err);
    char want2[256], want4[256];
    snprintf(want2, sizeof want2, "%s:2: ", f);
    snprintf(want4, sizeof want4, "%s:4: ", f);
    cr_expect(strstr(r.err, want2), "line 2 named: %s", r.err);
    cr_expect(strstr(r.err, want4), "line 4 named: %s", r.err);
    cr_expect(strstr(r.err, "3 of 5 spans delivered"), "%s", r.err);
    cr_expect(strstr(r.err, "2 not delivered"), "%s", r.err);
    cr_expect_eq(weft_rx_count(rx), 3);
    run_free(&r);
    free(lines), free(f);
}

Test(cli, upload_fails_with_1_when_the_server_is_down)
{
    char *f = path_in("run.jsonl");
    char *lines = items_jsonl(3, "trace-down");
    write_file(f, lines);
    run r = weft(down_env(), "upload", f, NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "failed"), "%s", r.err);
    cr_expect(strstr(r.err, "is the server up"), "%s", r.err);
    cr_expect(strstr(r.err, "0 of 3 spans delivered"), "%s", r.err);
    run_free(&r);
    free(lines), free(f);
}

Test(cli, upload_fails_with_1_on_a_401_and_says_to_check_the_key)
{
    char *f = path_in("run.jsonl");
    char *lines = items_jsonl(3, "trace-401");
    write_file(f, lines);
    run r = weft(sgp_env(rx, "wrong-key"), "upload", f, NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "HTTP 401"), "%s", r.err);
    cr_expect(strstr(r.err, "SGP_API_KEY"), "%s", r.err);
    cr_expect_eq(weft_rx_count(rx), 0);
    run_free(&r);
    free(lines), free(f);
}

Test(cli, upload_of_a_missing_file_fails_before_anything_is_sent)
{
    char *f = path_in("run.jsonl"), *missing = path_in("nope.jsonl");
    char *lines = items_jsonl(2, "trace-m");
    write_file(f, lines);
    run r = weft(sgp_env(rx, KEY), "upload", f, missing, NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "nope.jsonl: No such file or directory"), "%s", r.err);
    cr_expect_eq(weft_rx_requests(rx), 0);
    run_free(&r);
    free(lines), free(f), free(missing);
}

Test(cli, upload_draws_a_progress_bar_on_a_terminal)
{
    char *f = path_in("big.jsonl");
    char *lines = items_jsonl(60, "trace-tty");
    write_file(f, lines);
    weft_rx_set_delay_ms(rx, 150); /* 6 batches of 10: the bar is drawn while they go */
    const char *args[] = {"upload", "--batch-size", "10", f, NULL};
    run r = weft_pty(sgp_env(rx, KEY), 100, args);
    cr_expect_eq(r.status, 0, "%s", r.out);
    cr_expect(strchr(r.out, '\r'), "the bar redraws in place: %s", r.out);
    cr_expect(strstr(r.out, "spans/s"), "%s", r.out);
    cr_expect(strstr(r.out, "ETA"), "%s", r.out);
    cr_expect(strstr(r.out, "/60 spans"), "%s", r.out);
    cr_expect(strstr(r.out, "60 of 60 spans delivered"), "%s", r.out);
    cr_expect_eq(weft_rx_count(rx), 60);
    run_free(&r);
    free(lines), free(f);
}

/* ---- spans --------------------------------------------------------------------------------- */

static void upload_items(int n, const char *trace)
{
    char *f = path_in("seed.jsonl");
    char *lines = items_jsonl(n, trace);
    write_file(f, lines);
    run r = weft(sgp_env(rx, KEY), "upload", f, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    run_free(&r);
    free(lines), free(f);
}

Test(cli, spans_search_prints_one_sgp_span_object_per_line_with_json)
{
    upload_items(5, "trace-s");
    run r = weft(sgp_env(rx, KEY), "spans", "search", "--trace-id", "trace-s", "--json", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(count_lines(r.out), 5);
    char *line = strtok(r.out, "\n");
    int i = 0;
    while (line) {
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        cr_assert(j, "line %d is JSON: %s", i, je.text);
        const char *id = json_string_value(json_object_get(j, "id"));
        cr_expect_str_eq(json_string_value(json_object_get(j, "object")), "span");
        json_t *stored = weft_rx_get(rx, "trace-s", id);
        cr_expect(stored, "%s was stored", id);
        cr_expect_str_eq(json_string_value(json_object_get(j, "name")),
                         json_string_value(json_object_get(stored, "name")));
        json_decref(stored);
        json_decref(j);
        line = strtok(NULL, "\n");
        i++;
    }
    run_free(&r);
}

Test(cli, spans_search_filters_any_of_a_repeated_flag_and_all_of_different_ones)
{
    upload_items(5, "trace-f");
    upload_items(2, "trace-g");
    run r = weft(sgp_env(rx, KEY), "spans", "search", "--span-id", "span-001", "--span-id", "span-003", "--trace-id",
                 "trace-f", "--json", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(count_lines(r.out), 2);
    cr_expect(strstr(r.out, "\"span-001\"") && strstr(r.out, "\"span-003\""));
    run_free(&r);
    r = weft(sgp_env(rx, KEY), "spans", "search", "--meta", "env=prod", "--trace-id", "trace-f", "--json", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(count_lines(r.out), 2, "spans 1 and 3 have env=prod: %s", r.out);
    run_free(&r);
    r = weft(sgp_env(rx, KEY), "spans", "search", "--parents-only", "--json", NULL);
    cr_expect_eq(count_lines(r.out), 2, "one root per trace: %s", r.out);
    run_free(&r);
    r = weft(sgp_env(rx, KEY), "spans", "search", "--exclude-trace", "trace-f", "--name", "step 1", "--json", NULL);
    cr_expect_eq(count_lines(r.out), 1);
    cr_expect(strstr(r.out, "trace-g"));
    run_free(&r);
}

Test(cli, spans_search_shows_one_page_or_every_page_with_all)
{
    upload_items(7, "trace-p");
    run r = weft(sgp_env(rx, KEY), "spans", "search", "--limit", "3", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "SPAN ID"), "a table: %s", r.out);
    cr_expect_eq(count_str(r.out, "trace-p"), 3);
    cr_expect(strstr(r.out, "3 spans of 7 (more: --all for every page)"), "%s", r.out);
    run_free(&r);
    size_t before = weft_rx_requests(rx);
    r = weft(sgp_env(rx, KEY), "spans", "search", "--limit", "3", "--all", "--sort", "desc", "--json", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(count_lines(r.out), 7);
    cr_expect_eq(weft_rx_requests(rx) - before, 3, "pages of 3, 3 and 1");
    /* Newest first with --sort desc. */
    cr_expect_lt(strstr(r.out, "span-006") - r.out, strstr(r.out, "span-000") - r.out);
    run_free(&r);
}

Test(cli, spans_get_prints_a_span_and_fails_with_1_on_an_unknown_id)
{
    upload_items(2, "trace-get");
    run r = weft(sgp_env(rx, KEY), "spans", "get", "span-001", NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "trace_id         trace-get"), "%s", r.out);
    cr_expect(strstr(r.out, "\"env\": \"prod\""), "metadata pretty-printed: %s", r.out);
    run_free(&r);
    r = weft(sgp_env(rx, KEY), "spans", "get", "span-001", "--json", NULL);
    cr_expect_eq(r.status, 0);
    json_t *j = json_loads(r.out, 0, NULL);
    cr_expect_str_eq(json_string_value(json_object_get(j, "parent_id")), "span-000");
    json_decref(j);
    run_free(&r);
    r = weft(sgp_env(rx, KEY), "spans", "get", "no-such-span", NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "404"), "%s", r.err);
    run_free(&r);
}

Test(cli, spans_commands_fail_with_1_when_the_server_is_down_or_refuses_the_key)
{
    run r = weft(down_env(), "spans", "search", NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "is the server up"), "%s", r.err);
    run_free(&r);
    r = weft(sgp_env(rx, "wrong"), "spans", "search", NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "401") && strstr(r.err, "SGP_API_KEY"), "%s", r.err);
    run_free(&r);
    r = weft(sgp_env(rx, "wrong"), "spans", "get", "x", "--json", NULL);
    cr_expect_eq(r.status, 1);
    cr_expect_str_empty(r.out);
    run_free(&r);
}

/* ---- traces -------------------------------------------------------------------------------- */

Test(cli, traces_list_json_is_the_trace_list_response_of_the_library)
{
    char *f = path_in("run.jsonl");
    record(f, 4);
    run r = weft(NULL, "traces", "list", f, "--page", "2", "--page-size", "2", "--json", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *p = f;
    weft_trace_source *src;
    cr_assert_eq(weft_trace_source_open_files(&p, 1, &src), 0);
    weft_trace_list_response *l;
    cr_assert_eq(weft_traces_list(src, &(weft_trace_list_opts){.page = 2, .page_size = 2}, &l), 0);
    char *want = weft_trace_list_response_to_json(l);
    cr_expect_eq(count_lines(r.out), 1);
    r.out[strcspn(r.out, "\n")] = 0;
    cr_expect_str_eq(r.out, want);
    json_t *j = json_loads(r.out, 0, NULL);
    cr_expect_eq(json_integer_value(json_object_get(j, "total")), 6);
    cr_expect_eq(json_array_size(json_object_get(j, "traces")), 2);
    json_decref(j);
    free(want);
    weft_trace_list_response_free(l);
    weft_trace_source_free(src);
    run_free(&r);
    r = weft(NULL, "traces", "list", f, NULL);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "TRACE ID"), "%s", r.out);
    cr_expect(strstr(r.out, "Why a ring per thread?"), "%s", r.out);
    cr_expect(strstr(r.out, "page 1 of 1, 6 traces"), "%s", r.out);
    run_free(&r);
    free(f);
}

Test(cli, traces_list_and_get_read_sgp_the_same_as_the_file)
{
    char *f = path_in("run.jsonl");
    record(f, 1);
    run up = weft(sgp_env(rx, KEY), "upload", f, NULL);
    cr_assert_eq(up.status, 0, "%s", up.err);
    run_free(&up);
    run a = weft(NULL, "traces", "list", f, "--json", NULL);
    run b = weft(sgp_env(rx, KEY), "traces", "list", "--sgp", "--json", NULL);
    cr_assert_eq(b.status, 0, "%s", b.err);
    cr_expect_str_eq(a.out, b.out);
    run_free(&a), run_free(&b);
    char *id = newest_trace(f, NULL);
    a = weft(NULL, "traces", "get", id, f, "--json", NULL);
    b = weft(sgp_env(rx, KEY), "traces", "get", id, "--sgp", "--json", NULL);
    cr_assert_eq(b.status, 0, "%s", b.err);
    cr_expect_str_eq(a.out, b.out);
    run_free(&a), run_free(&b);
    b = weft(down_env(), "traces", "list", "--sgp", NULL);
    cr_expect_eq(b.status, 1);
    run_free(&b);
    b = weft(sgp_env(rx, "wrong"), "traces", "list", "--sgp", NULL);
    cr_expect_eq(b.status, 1);
    cr_expect(strstr(b.err, "SGP_API_KEY"), "%s", b.err);
    run_free(&b);
    free(id), free(f);
}

Test(cli, traces_get_json_is_the_full_result_and_the_table_shows_the_tree)
{
    char *f = path_in("run.jsonl");
    record(f, 0);
    char *older;
    char *id = newest_trace(f, &older);
    run r = weft(NULL, "traces", "get", id, f, "--json", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    const char *p = f;
    weft_trace_source *src;
    cr_assert_eq(weft_trace_source_open_files(&p, 1, &src), 0);
    weft_trace_full_result *t;
    cr_assert_eq(weft_traces_get(src, id, &t), 0);
    char *want = weft_trace_full_result_to_json(t);
    r.out[strcspn(r.out, "\n")] = 0;
    cr_expect_str_eq(r.out, want);
    free(want);
    weft_trace_full_result_free(t);
    weft_trace_source_free(src);
    run_free(&r);
    r = weft(NULL, "traces", "get", id, f, NULL);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "answer question"), "%s", r.out);
    cr_expect(strstr(r.out, "  retrieve"), "children indented: %s", r.out);
    cr_expect(strstr(r.out, "the order service timed out"), "the failed tool in diagnostics: %s", r.out);
    cr_expect(strstr(r.out, "doc-a"), "retrieval hits: %s", r.out);
    run_free(&r);
    r = weft(NULL, "traces", "get", "no-such-trace", f, NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "trace no-such-trace: no span of it"), "%s", r.err);
    run_free(&r);
    free(id), free(older), free(f);
}

Test(cli, traces_commands_fail_with_1_on_a_missing_file_and_warn_on_malformed_lines)
{
    char *missing = path_in("missing.jsonl");
    run r = weft(NULL, "traces", "list", missing, NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "missing.jsonl: No such file or directory"), "%s", r.err);
    run_free(&r);
    char *f = path_in("mixed.jsonl");
    char *lines = items_jsonl(3, "trace-mx");
    FILE *o = fopen(f, "w");
    fputs("not json at all\n", o);
    fputs(lines, o);
    fclose(o);
    r = weft(NULL, "traces", "list", f, NULL);
    cr_expect_eq(r.status, 0, "what could be read is listed");
    cr_expect(strstr(r.err, "1 entry was not span items and skipped (first: "), "%s", r.err);
    cr_expect(strstr(r.err, "mixed.jsonl: line 1: malformed JSON"), "%s", r.err);
    cr_expect(strstr(r.out, "trace-mx"), "%s", r.out);
    run_free(&r);
    free(lines), free(f), free(missing);
}

/* ---- eval ---------------------------------------------------------------------------------- */

Test(cli, eval_json_prints_each_step_with_its_trace_id)
{
    char *f = path_in("run.jsonl");
    record(f, 0);
    char *older;
    char *id = newest_trace(f, &older);
    run r = weft(NULL, "eval", f, "--json", "--latency-budget", "10000", NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    /* The library's rows for both traces, in the order listed. */
    const char *p = f;
    weft_trace_source *src;
    cr_assert_eq(weft_trace_source_open_files(&p, 1, &src), 0);
    size_t want_lines = 0;
    const char *ids[2] = {id, older};
    char *expect = calloc(1, 1);
    for (int k = 0; k < 2; k++) {
        weft_trace_full_result *t;
        cr_assert_eq(weft_traces_get(src, ids[k], &t), 0);
        weft_trace_eval_step *st;
        size_t n;
        cr_assert_eq(weft_trace_evaluate(t, &(weft_trace_eval_opts){.latency_budget_ms = 10000}, &st, &n), 0);
        for (size_t i = 0; i < n; i++) {
            char *j = weft_trace_eval_step_to_json(&st[i], ids[k]);
            expect = realloc(expect, strlen(expect) + strlen(j) + 2);
            strcat(expect, j);
            strcat(expect, "\n");
            free(j);
        }
        want_lines += n;
        weft_trace_eval_steps_free(st, n);
        weft_trace_full_result_free(t);
    }
    weft_trace_source_free(src);
    cr_expect_eq(count_lines(r.out), want_lines);
    cr_expect_str_eq(r.out, expect);
    cr_expect(strstr(r.out, "{\"trace_id\":\""), "%s", r.out);
    free(expect);
    run_free(&r);
    r = weft(NULL, "eval", f, "--trace", older, NULL);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "citation_grounding"), "%s", r.out);
    cr_expect(strstr(r.out, "failed_spans") && strstr(r.out, "failed"), "%s", r.out);
    cr_expect(strstr(r.out, "1 trace: "), "%s", r.out);
    run_free(&r);
    r = weft(NULL, "eval", f, "--trace", "nope", NULL);
    cr_expect_eq(r.status, 1);
    run_free(&r);
    free(id), free(older), free(f);
}

/* ---- view ---------------------------------------------------------------------------------- */

Test(cli, view_draws_one_line_per_span_with_errors_marked_and_no_colour_when_piped)
{
    char *f = path_in("run.jsonl");
    record(f, 0);
    char *older;
    char *id = newest_trace(f, &older);
    run r = weft(NULL, "view", f, "--trace", id, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(!strchr(r.out, '\033'), "no escape codes when piped: %s", r.out);
    cr_expect(strstr(r.out, id));
    const char *names[] = {"answer question", "retrieve", "generate", "lookup order"};
    for (int i = 0; i < 4; i++)
        cr_expect_eq(count_str(r.out, names[i]), 1, "%s once: %s", names[i], r.out);
    cr_expect(strstr(r.out, "├─ retrieve"), "the tree: %s", r.out);
    cr_expect(strstr(r.out, "└─ lookup order"), "%s", r.out);
    cr_expect(strstr(r.out, "█"), "bars: %s", r.out);
    cr_expect(strstr(r.out, "ERR"), "the failed tool call is marked: %s", r.out);
    cr_expect(strstr(r.out, "120"), "the generation's tokens: %s", r.out);
    cr_expect(strstr(r.out, "$0.0025"), "its cost: %s", r.out);
    cr_expect(strstr(r.out, "4 spans drawn, 1 failed"), "%s", r.out);
    /* Each line within the default width of 100 columns. */
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n")) {
        size_t w = 0;
        for (char *c = line; *c; c++)
            w += ((unsigned char)*c & 0xC0) != 0x80;
        cr_expect_leq(w, 100, "%zu columns: %s", w, line);
    }
    run_free(&r);
    free(id), free(older), free(f);
}

Test(cli, view_draws_in_ascii_without_a_utf8_locale)
{
    char *f = path_in("run.jsonl");
    record(f, 0);
    const char *env[] = {"LC_ALL=C", NULL};
    run r = weft(env, "view", f, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "|- retrieve") && strstr(r.out, "`- "), "%s", r.out);
    cr_expect(strstr(r.out, "#") && strstr(r.out, "ERROR"), "%s", r.out);
    for (const char *c = r.out; *c; c++)
        cr_assert(!((unsigned char)*c & 0x80), "ASCII only: %s", r.out);
    run_free(&r);
    free(f);
}

Test(cli, view_fits_the_width_of_columns_and_of_the_terminal)
{
    char *f = path_in("run.jsonl");
    record(f, 0);
    const char *env[] = {"COLUMNS=64", NULL};
    run r = weft(env, "view", f, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    size_t lines = 0;
    for (char *line = strtok(r.out, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        size_t w = 0;
        for (char *c = line; *c; c++)
            w += ((unsigned char)*c & 0xC0) != 0x80;
        if (lines > 0) /* the summary line may run longer */
            cr_expect_leq(w, 64, "%zu columns: %s", w, line);
    }
    cr_expect_geq(lines, 6);
    run_free(&r);
    /* On a terminal of 72 columns: colour, and lines within 72 columns once escapes are out. */
    const char *args[] = {"view", f, NULL};
    r = weft_pty(NULL, 72, args);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "\033[3"), "colour on a terminal: %s", r.out);
    char *plain = malloc(strlen(r.out) + 1), *o = plain;
    for (char *c = r.out; *c; c++) {
        if (*c == '\033') {
            while (*c && *c != 'm')
                c++;
            continue;
        }
        if (*c != '\r')
            *o++ = *c;
    }
    *o = 0;
    int n = 0;
    for (char *line = strtok(plain, "\n"); line; line = strtok(NULL, "\n"), n++) {
        size_t w = 0;
        for (char *c = line; *c; c++)
            w += ((unsigned char)*c & 0xC0) != 0x80;
        if (n > 0 && strstr(line, "│"))
            cr_expect_leq(w, 72, "%zu columns: %s", w, line);
    }
    free(plain);
    run_free(&r);
    const char *nc[] = {"NO_COLOR=1", NULL};
    r = weft_pty(nc, 72, args);
    cr_expect_eq(r.status, 0);
    cr_expect(!strstr(r.out, "\033["), "NO_COLOR: %s", r.out);
    run_free(&r);
    free(f);
}

Test(cli, view_html_writes_one_page_with_the_trace_escaped_inside_it)
{
    char *f = path_in("run.jsonl"), *html = path_in("trace.html");
    record(f, 0);
    char *older;
    char *id = newest_trace(f, &older);
    /* The newest trace: the one whose question holds the markup. */
    run r = weft(NULL, "view", f, "--trace", id, "--html", html, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *page = slurp(html);
    cr_assert(page);
    cr_expect(strstr(page, "<script type=\"application/json\" id=\"weft-data\">"));
    /* The question holds "</script><b id=...>": inside the data it is escaped. */
    cr_expect(strstr(page, "\\u003cb id=\\\"injected\\\"\\u003e"), "escaped");
    cr_expect(!strstr(page, "<b id=\"injected\">"), "never raw");
    cr_expect_eq(count_str(page, "</script>"), 2, "the data's and the code's closing tags only");
    cr_expect(!strstr(page, "src=\"http") && !strstr(page, "href=\"http") && !strstr(page, "fetch("),
              "no network");
    /* The data parses back as the trace. */
    char *a = strstr(page, "id=\"weft-data\">") + strlen("id=\"weft-data\">");
    char *b = strstr(a, "</script>");
    *b = 0;
    json_error_t je;
    json_t *d = json_loads(a, 0, &je);
    cr_assert(d, "%s", je.text);
    json_t *t = json_object_get(d, "trace");
    cr_expect_str_eq(json_string_value(json_object_get(t, "trace_id")), id);
    cr_expect_eq(json_array_size(json_object_get(d, "rows")), 4);
    cr_expect_eq(json_array_size(json_object_get(t, "spans")), 4);
    json_decref(d);
    free(page);
    run_free(&r);
    r = weft(NULL, "view", f, "--html", "/nonexistent-dir/x.html", NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "cannot be written"), "%s", r.err);
    run_free(&r);
    r = weft(NULL, "view", f, "--trace", "nope", NULL);
    cr_expect_eq(r.status, 1);
    run_free(&r);
    free(id), free(older), free(f), free(html);
}

Test(cli, view_reads_sgp_and_fails_with_1_when_the_server_is_down)
{
    char *f = path_in("run.jsonl");
    record(f, 0);
    run up = weft(sgp_env(rx, KEY), "upload", f, NULL);
    cr_assert_eq(up.status, 0, "%s", up.err);
    run_free(&up);
    run a = weft(NULL, "view", f, NULL);
    run b = weft(sgp_env(rx, KEY), "view", "--sgp", NULL);
    cr_expect_eq(b.status, 0, "%s", b.err);
    cr_expect_str_eq(a.out, b.out);
    run_free(&a), run_free(&b);
    b = weft(down_env(), "view", "--sgp", NULL);
    cr_expect_eq(b.status, 1);
    run_free(&b);
    free(f);
}

/* ---- convert ------------------------------------------------------------------------------- */

Test(cli, convert_turns_a_spool_directory_into_jsonl_keeping_one_record_per_span)
{
    char *spool = path_in("spool"), *out = path_in("out.jsonl");
    weft_rx *down = weft_rx_start(NULL);
    weft_rx_set_outage(down, true);
    weft_rx_set_retry_after_ms(down, 100);
    weft_config c = {0};
    c.exporters = "sgp";
    c.sgp_base_url = weft_rx_url(down);
    c.sgp_api_key = "x";
    c.spool_dir = spool;
    c.no_atexit = true;
    c.flush_interval_ms = 20;
    c.inprogress_after_ms = WEFT_INPROGRESS_NEVER;
    cr_assert_eq(weft_init(&c), 0);
    sc_record_rag_trace("spooled", false);
    (void)weft_shutdown(1000);
    weft_rx_stop(down);
    run r = weft(NULL, "convert", spool, "--to", "jsonl", out, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *text = slurp(out);
    cr_expect_eq(count_lines(text), 4, "%s", text);
    cr_expect(strstr(r.err, "4 spans written"), "%s", r.err);
    free(text);
    run_free(&r);
    /* The file reads as the same trace as the spool. */
    run a = weft(NULL, "traces", "list", spool, "--json", NULL);
    run b = weft(NULL, "traces", "list", out, "--json", NULL);
    cr_expect_str_eq(a.out, b.out);
    run_free(&a), run_free(&b);
    free(spool), free(out);
}

Test(cli, convert_keeps_the_completed_record_of_a_span_found_twice)
{
    char *in = path_in("dup.jsonl"), *out = path_in("out.jsonl");
    write_file(in, "{\"id\":\"s1\",\"trace_id\":\"t\",\"name\":\"done\",\"start_timestamp\":\"2025-01-01T00:00:00Z\","
                   "\"end_timestamp\":\"2025-01-01T00:00:01Z\"}\n"
                   "{\"id\":\"s1\",\"trace_id\":\"t\",\"name\":\"open\",\"start_timestamp\":\"2025-01-01T00:00:00Z\"}\n"
                   "{\"id\":\"s2\",\"trace_id\":\"t\",\"name\":\"first\",\"parent_id\":\"s1\"}\n"
                   "{\"id\":\"s2\",\"trace_id\":\"t\",\"name\":\"later\",\"parent_id\":\"s1\"}\n");
    run r = weft(NULL, "convert", in, "--to", "jsonl", out, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *text = slurp(out);
    cr_expect_eq(count_lines(text), 2);
    cr_expect(strstr(text, "\"done\"") && strstr(text, "\"later\""), "%s", text);
    cr_expect(!strstr(text, "\"open\"") && !strstr(text, "\"first\""), "%s", text);
    free(text);
    run_free(&r);
    free(in), free(out);
}

Test(cli, convert_to_chrome_writes_trace_events_perfetto_opens)
{
    char *f = path_in("run.jsonl"), *out = path_in("trace.json");
    record(f, 1);
    run r = weft(NULL, "convert", f, "--to", "chrome", out, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    json_error_t je;
    json_t *d = json_load_file(out, 0, &je);
    cr_assert(d, "valid JSON: %s (line %d)", je.text, je.line);
    json_t *ev = json_object_get(d, "traceEvents");
    size_t x = 0, m = 0;
    json_t *pids = json_object();
    for (size_t i = 0; i < json_array_size(ev); i++) {
        json_t *e = json_array_get(ev, i);
        const char *ph = json_string_value(json_object_get(e, "ph"));
        cr_assert(ph);
        if (!strcmp(ph, "M")) {
            m++;
            cr_expect_str_eq(json_string_value(json_object_get(e, "name")), "process_name");
            continue;
        }
        cr_expect_str_eq(ph, "X");
        x++;
        json_t *ts = json_object_get(e, "ts"), *dur = json_object_get(e, "dur");
        cr_expect(json_is_number(ts) && json_number_value(ts) > 1.6e15, "ts in µs since the epoch");
        cr_expect(json_is_number(dur) && json_number_value(dur) >= 0);
        json_t *args = json_object_get(e, "args");
        const char *tid = json_string_value(json_object_get(args, "trace_id"));
        cr_assert(tid && json_object_get(args, "id"));
        json_int_t pid = json_integer_value(json_object_get(e, "pid"));
        json_t *seen = json_object_get(pids, tid);
        if (seen)
            cr_expect_eq(json_integer_value(seen), pid, "one pid per trace");
        else
            json_object_set_new(pids, tid, json_integer(pid));
        cr_expect_eq(json_integer_value(json_object_get(e, "tid")), pid);
    }
    cr_expect_eq(x, 9);
    cr_expect_eq(m, 3);
    cr_expect_eq(json_object_size(pids), 3);
    json_decref(pids);
    json_decref(d);
    run_free(&r);
    free(f), free(out);
}

Test(cli, convert_to_stratix_writes_one_trace_document_per_line)
{
    char *f = path_in("run.jsonl"), *out = path_in("stratix.jsonl");
    record(f, 2);
    run r = weft(NULL, "convert", f, "--to", "stratix", out, NULL);
    cr_assert_eq(r.status, 0, "%s", r.err);
    char *text = slurp(out);
    cr_expect_eq(count_lines(text), 4, "one document per trace");
    size_t spans = 0, rag = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *d = json_loads(line, 0, NULL);
        cr_assert(d);
        json_t *sp = json_object_get(d, "spans");
        spans += json_array_size(sp);
        cr_expect(json_is_string(json_object_get(d, "trace_id")));
        cr_expect(json_is_number(json_object_get(d, "duration_ms")));
        json_t *first = json_array_get(sp, 0);
        cr_expect(json_is_null(json_object_get(first, "parent_id")), "the root first");
        cr_expect(json_object_get(first, "start_time") && !json_object_get(first, "start_timestamp"));
        if (json_array_size(sp) == 4) {
            rag++;
            cr_expect_str_eq(json_string_value(json_object_get(d, "name")), "answer question");
            cr_expect(json_object_get(json_object_get(d, "metadata"), "trace_summary"));
            cr_expect(json_object_get(json_object_get(d, "output"), "answer"));
        }
        json_decref(d);
    }
    cr_expect_eq(spans, 10);
    cr_expect_eq(rag, 2);
    /* Each line is byte for byte the document the stratix exporter's codec writes for the
     * trace's items (grouped from the input file, in its order). */
    free(text);
    text = slurp(out);
    char *in = slurp(f);
    json_t *groups = json_object();
    for (char *line = strtok(in, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *it = json_loads(line, 0, NULL);
        cr_assert(it);
        const char *tid = json_string_value(json_object_get(it, "trace_id"));
        if (!json_object_get(groups, tid))
            json_object_set_new(groups, tid, json_array());
        json_array_append_new(json_object_get(groups, tid), it);
    }
    size_t checked = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *d = json_loads(line, 0, NULL);
        json_t *items = json_object_get(groups, json_string_value(json_object_get(d, "trace_id")));
        cr_assert(items);
        char *want = NULL;
        cr_assert_eq(weft__stratix_doc_text(items, &want, NULL), 0);
        cr_expect_str_eq(line, want, "the exporter's document");
        free(want);
        json_decref(d);
        checked++;
    }
    cr_expect_eq(checked, 4);
    json_decref(groups);
    free(in);
    /* What the trace queries read back from the documents is the same list. */
    run a = weft(NULL, "traces", "list", f, "--json", NULL);
    run b = weft(NULL, "traces", "list", out, "--json", NULL);
    json_t *ja = json_loads(a.out, 0, NULL), *jb = json_loads(b.out, 0, NULL);
    cr_expect_eq(json_integer_value(json_object_get(ja, "total")), json_integer_value(json_object_get(jb, "total")));
    json_decref(ja), json_decref(jb);
    run_free(&a), run_free(&b);
    free(text);
    run_free(&r);
    free(f), free(out);
}

Test(cli, convert_reports_malformed_lines_and_a_missing_input_with_1)
{
    char *in = path_in("bad.jsonl"), *out = path_in("out.jsonl"), *missing = path_in("absent.jsonl");
    char *lines = items_jsonl(2, "t-bad");
    char *both = NULL;
    cr_assert(asprintf(&both, "%s{oops\n", lines) > 0);
    write_file(in, both);
    run r = weft(NULL, "convert", in, "--to", "jsonl", out, NULL);
    cr_expect_eq(r.status, 1);
    char want[256];
    snprintf(want, sizeof want, "%s:3: ", in);
    cr_expect(strstr(r.err, want), "%s", r.err);
    char *text = slurp(out);
    cr_expect_eq(count_lines(text), 2, "the good lines are converted");
    free(text);
    run_free(&r);
    r = weft(NULL, "convert", missing, "--to", "chrome", out, NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "absent.jsonl: No such file"), "%s", r.err);
    run_free(&r);
    free(lines), free(both), free(in), free(out), free(missing);
}

/* ---- doctor -------------------------------------------------------------------------------- */

Test(cli, doctor_checks_sgp_and_never_prints_the_key)
{
    char *jl = path_in("traces.jsonl");
    char jenv[256];
    snprintf(jenv, sizeof jenv, "WEFT_JSONL_PATH=%s", jl);
    const char **se = sgp_env(rx, KEY);
    char *sp = path_in("spool"), spenv[256];
    snprintf(spenv, sizeof spenv, "WEFT_SPOOL_DIR=%s", sp);
    const char *env[] = {se[0], se[1], "WEFT_EXPORTER=sgp,jsonl", jenv, spenv, NULL};
    run r = weft(env, "doctor", NULL);
    cr_expect_eq(r.status, 0, "%s%s", r.out, r.err);
    cr_expect(strstr(r.out, "SGP_API_KEY                  set (hidden)"), "%s", r.out);
    cr_expect(strstr(r.out, "ok    dns"), "%s", r.out);
    cr_expect(strstr(r.out, "ok    connect"), "%s", r.out);
    cr_expect(strstr(r.out, "ok    auth"), "%s", r.out);
    cr_expect(strstr(r.out, "ok    file"), "the jsonl path: %s", r.out);
    cr_expect(strstr(r.out, "ok    directory"), "the spool: %s", r.out);
    cr_expect(!strstr(r.out, KEY) && !strstr(r.err, KEY), "the key is never printed");
    cr_expect_geq(weft_rx_requests(rx), 1, "auth was a real request");
    run_free(&r);
    free(jl), free(sp);
}

Test(cli, doctor_fails_with_1_and_says_what_to_do_on_401_down_and_insecure_urls)
{
    run r = weft(sgp_env(rx, "not-the-key"), "doctor", NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.out, "FAIL  auth") && strstr(r.out, "HTTP 401") && strstr(r.out, "check SGP_API_KEY"),
              "%s", r.out);
    cr_expect(!strstr(r.out, "not-the-key"));
    run_free(&r);
    r = weft(down_env(), "doctor", NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.out, "FAIL  connect") && strstr(r.out, "is the server up"), "%s", r.out);
    run_free(&r);
    const char *insecure[] = {"SGP_CLIENT_BASE_URL=http://sgp.example.com", "SGP_API_KEY=" KEY, NULL};
    r = weft(insecure, "doctor", NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.out, "FAIL  url") && strstr(r.out, "use https://"), "%s", r.out);
    cr_expect(!strstr(r.out, KEY));
    run_free(&r);
    const char *badval[] = {"WEFT_FLUSH_INTERVAL_MS=soon", "WEFT_JSONL_PATH=/nonexistent-dir/t.jsonl", NULL};
    r = weft(badval, "doctor", NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.out, "FAIL  value") && strstr(r.out, "WEFT_FLUSH_INTERVAL_MS"), "%s", r.out);
    cr_expect(strstr(r.out, "FAIL  file") && strstr(r.out, "WEFT_JSONL_PATH"), "%s", r.out);
    cr_expect(strstr(r.out, "SGP: not configured"), "%s", r.out);
    run_free(&r);
}

/* ---- stratix ------------------------------------------------------------------------------- */

#define SXKEY "sx-secret-key-41c2"

static const char **sx_env(weft_srx *s, const char *key)
{
    static char url[160], k[128];
    static const char *env[3];
    snprintf(url, sizeof url, "LAYERLENS_STRATIX_BASE_URL=%s", weft_srx_base_url(s));
    snprintf(k, sizeof k, "LAYERLENS_STRATIX_API_KEY=%s", key);
    env[0] = url, env[1] = k, env[2] = NULL;
    return env;
}

static void sx_seed(weft_srx *s, const char *id, const char *source, const char *judge, bool passed)
{
    json_t *rec = json_pack("{s:s, s:s, s:s, s:{s:s}}", "id", id, "source", source, "filename", "f.jsonl", "data",
                            "trace_id", id);
    if (judge)
        json_object_set_new(rec, "evaluations",
                            json_pack("[{s:s, s:s, s:i, s:b}]", "judge_id", judge, "judge_name", "J", "judge_version", 1,
                                      "passed", passed));
    cr_assert(weft_srx_seed(s, rec));
    json_decref(rec);
}

Test(cli, stratix_upload_sends_converted_documents_and_prints_the_trace_ids)
{
    weft_srx *s = weft_srx_start(&(weft_srx_opts){.api_key = SXKEY});
    cr_assert(s);
    char *f = path_in("run.jsonl"), *out = path_in("docs.jsonl");
    record(f, 1);
    run c = weft(NULL, "convert", f, "--to", "stratix", out, NULL);
    cr_assert_eq(c.status, 0, "%s", c.err);
    run r = weft(sx_env(s, SXKEY), "stratix", "upload", out, NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(count_lines(r.out), 3, "one trace id per document: %s", r.out);
    cr_expect_eq(weft_srx_trace_count(s), 3);
    cr_expect(strstr(r.err, "1 of 1 file uploaded, 3 traces created"), "%s", r.err);
    cr_expect(!strstr(r.err, "\r"), "no bar when stderr is not a terminal");
    cr_expect(!strstr(r.out, SXKEY) && !strstr(r.err, SXKEY));
    char *text = slurp(out);
    size_t len;
    char *sent = weft_srx_last_upload(s, &len);
    cr_expect(sent && len == strlen(text) && !memcmp(sent, text, len), "the file's bytes were PUT");
    free(sent);
    /* --json: one object per file. */
    run_free(&r);
    r = weft(sx_env(s, SXKEY), "stratix", "upload", "--json", out, NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    json_t *o = json_loads(r.out, 0, NULL);
    cr_assert(o, "%s", r.out);
    cr_expect_str_eq(json_string_value(json_object_get(o, "filename")), "docs.jsonl");
    cr_expect_eq(json_integer_value(json_object_get(o, "bytes")), (json_int_t)strlen(text));
    cr_expect_eq(json_array_size(json_object_get(o, "trace_ids")), 3);
    json_decref(o);
    /* On a terminal: a progress bar. */
    const char *args[] = {"stratix", "upload", out, NULL};
    run p = weft_pty(sx_env(s, SXKEY), 100, args);
    cr_expect_eq(p.status, 0, "%s", p.out);
    cr_expect(strstr(p.out, "100%") && strstr(p.out, "\r["), "%s", p.out);
    run_free(&p), run_free(&r), run_free(&c);
    free(text), free(f), free(out);
    weft_srx_stop(s);
}

Test(cli, stratix_upload_refuses_a_missing_a_wrong_or_a_too_big_file_before_any_request)
{
    weft_srx *s = weft_srx_start(&(weft_srx_opts){.api_key = SXKEY});
    cr_assert(s);
    char *ok = path_in("ok.jsonl"), *big = path_in("big.jsonl"), *txt = path_in("notes.txt"),
         *missing = path_in("absent.jsonl");
    write_file(ok, "{\"trace_id\":\"t\"}\n");
    write_file(txt, "x");
    FILE *fb = fopen(big, "w");
    cr_assert(fb);
    cr_assert_eq(ftruncate(fileno(fb), (off_t)WEFT_STRATIX_MAX_UPLOAD_BYTES + 1), 0);
    fclose(fb);
    struct {
        const char *file, *says;
    } cases[] = {{missing, "No such file"}, {big, "more than the 50 MB"}, {txt, ".json or .jsonl"}};
    for (size_t i = 0; i < 3; i++) {
        run r = weft(sx_env(s, SXKEY), "stratix", "upload", ok, cases[i].file, NULL);
        cr_expect_eq(r.status, 1, "case %zu: %s", i, r.err);
        cr_expect(strstr(r.err, cases[i].says), "case %zu: %s", i, r.err);
        run_free(&r);
    }
    cr_expect_eq(weft_srx_count(s, WEFT_SRX_ANY), 0, "nothing was sent, not even the good file");
    free(ok), free(big), free(txt), free(missing);
    weft_srx_stop(s);
}

Test(cli, stratix_commands_fail_with_1_when_the_server_is_down_or_refuses_the_key)
{
    weft_srx *s = weft_srx_start(&(weft_srx_opts){.api_key = SXKEY});
    cr_assert(s);
    char *ok = path_in("ok.jsonl");
    write_file(ok, "{\"trace_id\":\"t\"}\n");
    const char *subs[][3] = {{"list", NULL}, {"get", "x"}, {"delete", "x"}, {"sources", NULL}, {"upload", ok}};
    for (size_t i = 0; i < 5; i++) {
        const char *args[] = {"stratix", subs[i][0], subs[i][1], NULL};
        run r = run_v(sx_env(s, "wrong-key"), args);
        cr_expect_eq(r.status, 1, "%s: %s", subs[i][0], r.err);
        cr_expect(strstr(r.err, "check LAYERLENS_STRATIX_API_KEY"), "%s: %s", subs[i][0], r.err);
        cr_expect(!strstr(r.err, "wrong-key") && !strstr(r.out, "wrong-key"));
        run_free(&r);
    }
    char down[160];
    snprintf(down, sizeof down, "LAYERLENS_STRATIX_BASE_URL=%s", weft_srx_base_url(s));
    weft_srx_stop(s);
    const char *denv[] = {down, "LAYERLENS_STRATIX_API_KEY=" SXKEY, NULL};
    for (size_t i = 0; i < 5; i++) {
        const char *args[] = {"stratix", subs[i][0], subs[i][1], NULL};
        run r = run_v(denv, args);
        cr_expect_eq(r.status, 1, "%s: %s", subs[i][0], r.err);
        cr_expect(strstr(r.err, "is the server up"), "%s: %s", subs[i][0], r.err);
        run_free(&r);
    }
    run r = weft(NULL, "stratix", "list", NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "LAYERLENS_STRATIX_API_KEY"), "no key: %s", r.err);
    run_free(&r);
    free(ok);
}

/* A loopback port with "403" in its number that nothing listens on (bound, then closed), or 0. */
static int closed_port_named_403(void)
{
    for (int port = 40300; port < 40400; port++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
            return 0;
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return 0;
}

Test(cli, stratix_upload_to_a_server_that_is_down_says_so_whatever_digits_its_port_has)
{
    /* The hint once came from "401"/"403" anywhere in the error, so a refused connection to
     * port 403xx read as refused credentials. */
    int port = closed_port_named_403();
    cr_assert(port, "no free loopback port in 40300..40399");
    char *ok = path_in("ok.jsonl");
    write_file(ok, "{\"trace_id\":\"t\"}\n");
    char base[96];
    snprintf(base, sizeof base, "LAYERLENS_STRATIX_BASE_URL=http://127.0.0.1:%d", port);
    const char *env[] = {base, "LAYERLENS_STRATIX_API_KEY=" SXKEY, NULL};
    const char *args[] = {"stratix", "upload", ok, NULL};
    run r = run_v(env, args);
    cr_expect_eq(r.status, 1, "%s", r.err);
    cr_expect(strstr(r.err, "is the server up"), "%s", r.err);
    cr_expect(!strstr(r.err, "refused the credentials"), "%s", r.err);
    run_free(&r);
    free(ok);
}

Test(cli, stratix_list_json_is_the_traces_response_and_filters_reach_the_server)
{
    weft_srx *s = weft_srx_start(&(weft_srx_opts){.api_key = SXKEY});
    cr_assert(s);
    sx_seed(s, "tr-a", "upload", "judge-1", true);
    sx_seed(s, "tr-b", "upload", "judge-2", false);
    sx_seed(s, "tr-c", "sdk", NULL, false);
    run r = weft(sx_env(s, SXKEY), "stratix", "list", "--json", NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    json_t *o = json_loads(r.out, 0, NULL);
    cr_assert(o, "%s", r.out);
    cr_expect_eq(json_object_size(o), 3);
    cr_expect_eq(json_array_size(json_object_get(o, "traces")), 3);
    cr_expect_eq(json_integer_value(json_object_get(o, "count")), 3);
    cr_expect_eq(json_integer_value(json_object_get(o, "total_count")), 3);
    json_t *t0 = json_array_get(json_object_get(o, "traces"), 0);
    cr_expect(json_object_get(t0, "evaluations_count") && json_is_array(json_object_get(t0, "last_evaluations")));
    json_decref(o);
    run_free(&r);
    struct {
        const char *args[8];
        const char *ids; /* expected ids in order, space-separated */
        int total;
    } cases[] = {
        {{"--source", "sdk", NULL}, "tr-c", 1},
        {{"--judge-id", "judge-2", NULL}, "tr-b", 1},
        {{"--status", "passed", NULL}, "tr-a", 1},
        {{"--search", "TR-B", NULL}, "tr-b", 1},
        {{"--sort-by", "id", "--sort-order", "asc", NULL}, "tr-a tr-b tr-c", 3},
        {{"--sort-by", "id", "--sort-order", "asc", "--page", "2", "--page-size", "2"}, "tr-c", 3},
        {{"--time-range", "7d", "--sort-by", "id", "--sort-order", "desc", NULL}, "tr-c tr-b tr-a", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[12] = {"stratix", "list", "--json"};
        size_t n = 3;
        for (size_t k = 0; k < 8 && cases[i].args[k]; k++)
            args[n++] = cases[i].args[k];
        args[n] = NULL;
        run l = run_v(sx_env(s, SXKEY), args);
        cr_expect_eq(l.status, 0, "case %zu: %s", i, l.err);
        json_t *j = json_loads(l.out, 0, NULL);
        cr_assert(j, "case %zu: %s", i, l.out);
        char got[128] = "";
        json_t *tr;
        size_t k;
        json_array_foreach(json_object_get(j, "traces"), k, tr)
        {
            if (k)
                strcat(got, " ");
            strcat(got, json_string_value(json_object_get(tr, "id")));
        }
        cr_expect_str_eq(got, cases[i].ids, "case %zu", i);
        cr_expect_eq(json_integer_value(json_object_get(j, "total_count")), cases[i].total, "case %zu", i);
        json_decref(j);
        run_free(&l);
    }
    /* The table for people. */
    r = weft(sx_env(s, SXKEY), "stratix", "list", "--sort-by", "id", "--sort-order", "asc", NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect(strstr(r.out, "ID") && strstr(r.out, "LAST EVALUATIONS"), "%s", r.out);
    cr_expect(strstr(r.out, "1 passed, 0 failed") && strstr(r.out, "0 passed, 1 failed"), "%s", r.out);
    cr_expect(strstr(r.out, "page 1: 3 traces of 3"), "%s", r.out);
    cr_expect(strstr(r.out, "tr-a") < strstr(r.out, "tr-b"));
    run_free(&r);
    /* A time range the server does not know: 1; a bad sort order or page size: 2, nothing sent. */
    r = weft(sx_env(s, SXKEY), "stratix", "list", "--time-range", "forever", NULL);
    cr_expect_eq(r.status, 1, "%s", r.err);
    run_free(&r);
    size_t before = weft_srx_count(s, WEFT_SRX_LIST);
    r = weft(sx_env(s, SXKEY), "stratix", "list", "--sort-order", "up", NULL);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "--sort-order"), "%s", r.err);
    run_free(&r);
    r = weft(sx_env(s, SXKEY), "stratix", "list", "--page-size", "501", NULL);
    cr_expect_eq(r.status, 2);
    cr_expect(strstr(r.err, "--page-size"), "%s", r.err);
    run_free(&r);
    cr_expect_eq(weft_srx_count(s, WEFT_SRX_LIST), before);
    weft_srx_stop(s);
}

Test(cli, stratix_get_delete_and_sources_and_a_missing_trace_fails_with_1)
{
    weft_srx *s = weft_srx_start(&(weft_srx_opts){.api_key = SXKEY});
    cr_assert(s);
    sx_seed(s, "tr-a", "upload", NULL, false);
    sx_seed(s, "tr-b", "sdk", NULL, false);
    run r = weft(sx_env(s, SXKEY), "stratix", "get", "tr-a", "--json", NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    json_t *o = json_loads(r.out, 0, NULL);
    cr_assert(o, "%s", r.out);
    cr_expect_str_eq(json_string_value(json_object_get(o, "id")), "tr-a");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(o, "data"), "trace_id")), "tr-a");
    json_decref(o);
    run_free(&r);
    r = weft(sx_env(s, SXKEY), "stratix", "get", "tr-a", NULL);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "filename         f.jsonl") && strstr(r.out, "\"trace_id\": \"tr-a\""), "%s", r.out);
    run_free(&r);
    r = weft(sx_env(s, SXKEY), "stratix", "sources", "--json", NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    o = json_loads(r.out, 0, NULL);
    cr_assert(json_is_array(o), "%s", r.out);
    cr_expect_eq(json_array_size(o), 2);
    json_decref(o);
    run_free(&r);
    r = weft(sx_env(s, SXKEY), "stratix", "sources", NULL);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "sdk\n") && strstr(r.out, "upload\n"), "%s", r.out);
    run_free(&r);
    r = weft(sx_env(s, SXKEY), "stratix", "delete", "tr-a", NULL);
    cr_expect_eq(r.status, 0, "%s", r.err);
    cr_expect_eq(weft_srx_trace_count(s), 1);
    run_free(&r);
    r = weft(sx_env(s, SXKEY), "stratix", "get", "tr-a", NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.err, "no trace 'tr-a'"), "%s", r.err);
    run_free(&r);
    r = weft(sx_env(s, SXKEY), "stratix", "delete", "tr-a", NULL);
    cr_expect_eq(r.status, 1);
    run_free(&r);
    weft_srx_stop(s);
}

Test(cli, stratix_help_and_usage_errors)
{
    const char *subs[] = {"upload", "list", "get", "delete", "sources"};
    for (size_t i = 0; i < 5; i++) {
        run h = weft(NULL, "stratix", subs[i], "--help", NULL);
        cr_expect_eq(h.status, 0);
        char want[64];
        snprintf(want, sizeof want, "Usage: weft stratix %s", subs[i]);
        cr_expect(strstr(h.out, want), "%s", h.out);
        run_free(&h);
    }
    run r = weft(NULL, "stratix", "--help", NULL);
    cr_expect_eq(r.status, 0);
    cr_expect(strstr(r.out, "LAYERLENS_STRATIX_API_KEY"));
    run_free(&r);
    const char *bad[][3] = {{"frob", NULL}, {"get", NULL}, {"delete", "a"}, {"upload", NULL}, {"list", "--bogus"}};
    bad[2][2] = "b";
    for (size_t i = 0; i < 5; i++) {
        const char *args[] = {"stratix", bad[i][0], bad[i][1], bad[i][2], NULL};
        run u = run_v(NULL, args);
        cr_expect_eq(u.status, 2, "%s: %s", bad[i][0], u.err);
        run_free(&u);
    }
    r = weft(NULL, "stratix", NULL);
    cr_expect_eq(r.status, 2);
    run_free(&r);
}

Test(cli, doctor_probes_stratix_when_its_key_is_set)
{
    weft_srx *s = weft_srx_start(&(weft_srx_opts){.api_key = SXKEY});
    cr_assert(s);
    run r = weft(sx_env(s, SXKEY), "doctor", NULL);
    cr_expect_eq(r.status, 0, "%s", r.out);
    cr_expect(strstr(r.out, "LAYERLENS_STRATIX_API_KEY    set (hidden)"), "%s", r.out);
    cr_expect(strstr(r.out, "ok    auth       GET /organizations: organization org-1, project proj-1"), "%s", r.out);
    cr_expect(!strstr(r.out, SXKEY));
    run_free(&r);
    r = weft(sx_env(s, "wrong"), "doctor", NULL);
    cr_expect_eq(r.status, 1);
    cr_expect(strstr(r.out, "FAIL  auth") && strstr(r.out, "check LAYERLENS_STRATIX_API_KEY"), "%s", r.out);
    run_free(&r);
    weft_srx_stop(s);
}
