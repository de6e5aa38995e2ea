/*
 * cmd_stratix.c — `weft stratix upload|list|get|delete|sources` (DESIGN.md section 12): a front
 * end over the LayerLens Stratix client (weft/stratix.h). The client is configured from
 * LAYERLENS_STRATIX_API_KEY, LAYERLENS_STRATIX_BASE_URL (and _ORGANIZATION_ID / _PROJECT_ID),
 * plus the CLI's WEFT_CA_BUNDLE, WEFT_CONNECT_TIMEOUT_MS, WEFT_REQUEST_TIMEOUT_MS and
 * WEFT_CLI_MAX_RETRIES. The key is never printed.
 *
 *   upload   every file is checked first (exists, .json/.jsonl, at most 50 MB): one bad file
 *            refuses the whole command before any request. Then each file is uploaded with
 *            weft_stratix_upload_async: a progress bar on a terminal (stderr), plain lines
 *            otherwise; the created trace ids on stdout, one per line (--json: one object per
 *            file {filename, bytes, trace_ids}).
 *   list     one page of traces: a table, or with --json the TracesResponse
 *            {traces, count, total_count}.
 *   get      one trace: fields and its document, or with --json the trace object.
 *   delete   deletes one trace.
 *   sources  the project's trace sources, one per line, or with --json a JSON array.
 *
 * Single-threaded (the upload job runs its own thread inside the library).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "weft/job.h"
#include "weft/stratix.h"

static const char help[] =
    "Usage: weft stratix COMMAND [ARGS...]\n"
    "\n"
    "LayerLens Stratix traces (evaluated by its judges):\n"
    "  upload FILE...        upload .json / .jsonl trace files (at most 50 MB each)\n"
    "  list [filters]        one page of traces (--page, --page-size, --source, --judge-id,\n"
    "                        --status, --time-range, --search, --sort-by, --sort-order)\n"
    "  get ID                one trace\n"
    "  delete ID             delete one trace\n"
    "  sources               the project's trace sources\n"
    "Each takes --json for machine-readable output and --help.\n"
    "\n"
    "Configuration: LAYERLENS_STRATIX_API_KEY (required), LAYERLENS_STRATIX_BASE_URL (default\n"
    WEFT_STRATIX_DEFAULT_BASE_URL "), LAYERLENS_STRATIX_ORGANIZATION_ID and\n"
    "LAYERLENS_STRATIX_PROJECT_ID (default: resolved from GET /organizations).\n"
    "Exit status: 0 done, 1 failed, 2 usage.\n";

static const char help_upload[] =
    "Usage: weft stratix upload [--json] FILE...\n"
    "\n"
    "Uploads each FILE (.json or .jsonl, at most 50 MB; `weft convert IN --to stratix OUT`\n"
    "writes them) to Stratix in its three steps: request an upload URL, PUT the file, create\n"
    "the traces. Every file is checked before anything is sent. The created trace ids are\n"
    "printed on stdout, one per line; --json prints one object per file:\n"
    "{\"filename\", \"bytes\", \"trace_ids\"}.\n"
    "Progress: a bar on a terminal, plain lines otherwise (stderr).\n"
    "Exit status: 0 every file uploaded, 1 a file was refused or an upload failed, 2 usage.\n";

static const char help_list[] =
    "Usage: weft stratix list [--page N] [--page-size N] [--source S] [--judge-id J]\n"
    "                         [--status S] [--time-range 7d] [--search T] [--sort-by F]\n"
    "                         [--sort-order asc|desc] [--json]\n"
    "\n"
    "One page of the project's traces, with their evaluations.\n"
    "  --page N           page from 1 (default 1)\n"
    "  --page-size N      traces per page, 1..500 (default 100)\n"
    "  --source S         traces of a source (see `weft stratix sources`)\n"
    "  --judge-id J       traces evaluated by judge J\n"
    "  --status S         evaluation status (e.g. evaluated, not_evaluated, passed, failed)\n"
    "  --time-range R     created in the last R (e.g. 24h, 7d)\n"
    "  --search T         text to search for\n"
    "  --sort-by F        e.g. created_at (default), filename\n"
    "  --sort-order O     asc or desc (default desc)\n"
    "  --json             the TracesResponse {traces, count, total_count}\n"
    "Exit status: 0 done, 1 failed, 2 usage.\n";

static const char help_get[] =
    "Usage: weft stratix get [--json] ID\n"
    "\n"
    "One trace: its fields and its document (--json: the trace object).\n"
    "Exit status: 0 done, 1 failed (no such trace, the server), 2 usage.\n";

static const char help_delete[] =
    "Usage: weft stratix delete ID\n"
    "\n"
    "Deletes one trace.\n"
    "Exit status: 0 deleted, 1 failed (no such trace, the server), 2 usage.\n";

static const char help_sources[] =
    "Usage: weft stratix sources [--json]\n"
    "\n"
    "The project's trace sources, one per line (--json: a JSON array of strings).\n"
    "Exit status: 0 done, 1 failed, 2 usage.\n";

/* ---- client and errors --------------------------------------------------------------------- */

static int open_client(const char *cmd, weft_stratix_client **out)
{
    weft_sgp_options so;
    cli_sgp_options(&so); /* the CLI's shared transport settings */
    weft_stratix_opts o = {.ca_bundle = so.ca_bundle,
                           .connect_timeout_ms = so.connect_timeout_ms,
                           .request_timeout_ms = so.request_timeout_ms,
                           .max_retries = so.max_retries};
    weft_stratix_error e = {0};
    int rc = weft_stratix_client_new(out, &o, &e);
    if (rc == 0)
        return CLI_OK;
    cli_err(cmd, "%s", e.message[0] ? e.message : weft_strerror(rc));
    if (rc == WEFT_EINSECURE)
        cli_err(cmd, "use https:// in LAYERLENS_STRATIX_BASE_URL (plain http only to a loopback host)");
    return CLI_FAIL;
}

/* A failed call: the client's message and a hint on what to do. Returns CLI_FAIL. */
static int stratix_fail(const char *cmd, int rc, const weft_stratix_error *e, const char *id)
{
    cli_err(cmd, "%s", e->message[0] ? e->message : weft_strerror(rc));
    int st = e->http_status;
    if (st == 401 || st == 403)
        cli_err(cmd, "the server refused the credentials: check LAYERLENS_STRATIX_API_KEY");
    else if (st == 404 && id)
        cli_err(cmd, "no trace '%s' in this project", id);
    else if (rc == WEFT_EIO)
        cli_err(cmd, "is the server up, and is LAYERLENS_STRATIX_BASE_URL right? `weft doctor` checks");
    return CLI_FAIL;
}

/* Parses the options every subcommand shares (--help, --json) and its own; see each caller. */
static int parse(const char *cmd, int argc, char **argv, const struct option *opts, const char *helptext,
                 bool *json, int (*own)(int c, const char *arg, void *ctx), void *ctx)
{
    int c;
    while ((c = cli_getopt(cmd, argc, argv, "hj", opts)) != -1) {
        if (c == 'h') {
            fputs(helptext, stdout);
            return -1;
        }
        if (c == 'j') {
            *json = true;
            continue;
        }
        if (c == '?' || !own)
            return CLI_USAGE;
        int rc = own(c, optarg, ctx);
        if (rc)
            return rc;
    }
    return CLI_OK;
}

/* ---- JSON of results ----------------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *trace_json(const weft_stratix_trace *t, bool with_evals)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", str_or_null(t->id));
    json_object_set_new(o, "organization_id", str_or_null(t->organization_id));
    json_object_set_new(o, "project_id", str_or_null(t->project_id));
    json_object_set_new(o, "created_at", str_or_null(t->created_at));
    json_object_set_new(o, "filename", str_or_null(t->filename));
    json_t *d = t->data ? json_loads(t->data, JSON_DECODE_ANY, NULL) : NULL;
    json_object_set_new(o, "data", d ? d : json_object());
    json_object_set_new(o, "input", str_or_null(t->input));
    json_object_set_new(o, "integration_id", str_or_null(t->integration_id));
    if (with_evals) {
        json_object_set_new(o, "evaluations_count", json_integer(t->evaluations_count));
        json_t *a = json_array();
        for (size_t i = 0; i < t->n_last_evaluations; i++) {
            const weft_stratix_evaluation_summary *s = &t->last_evaluations[i];
            json_t *e = json_object();
            json_object_set_new(e, "judge_id", str_or_null(s->judge_id));
            json_object_set_new(e, "judge_name", str_or_null(s->judge_name));
            json_object_set_new(e, "judge_version", s->has_judge_version ? json_integer(s->judge_version) : json_null());
            json_object_set_new(e, "created_at", str_or_null(s->created_at));
            json_object_set_new(e, "passed", s->passed < 0 ? json_null() : json_boolean(s->passed));
            json_array_append_new(a, e);
        }
        json_object_set_new(o, "last_evaluations", a);
    }
    return o;
}

static void print_json(json_t *v, size_t flags)
{
    char *t = json_dumps(v, flags | JSON_ENCODE_ANY);
    if (t) {
        fputs(t, stdout);
        fputc('\n', stdout);
    }
    free(t);
    json_decref(v);
}

/* ---- upload -------------------------------------------------------------------------------- */

typedef struct progress {
    bool tty;
    int width;
    const char *file;
    double t0, last_line;
    uint64_t last_bytes;
} progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_progress(const weft_job_info *info, void *user)
{
    progress *p = user;
    double t = now_s(), el = t - p->t0;
    uint64_t cur = info->current_item, tot = info->total_items;
    double frac = tot ? (double)cur / (double)tot : 0;
    bool final = info->state >= WEFT_JOB_COMPLETED;
    char db[32], tb[32], bps[32];
    cli_fmt_bytes(db, sizeof db, (double)cur);
    cli_fmt_bytes(tb, sizeof tb, (double)tot);
    cli_fmt_bytes(bps, sizeof bps, el > 0 ? (double)cur / el : 0);
    const char *phase = info->state == WEFT_JOB_PROCESSING ? "creating traces" : "uploading";
    if (p->tty) {
        char text[320];
        snprintf(text, sizeof text, " %3.0f%%  %s/%s  %s/s  %s  %s", frac * 100, db, tb, bps, phase, p->file);
        int bar = p->width - (int)cli_text_width(text) - 3;
        if (bar > 40)
            bar = 40;
        fputc('\r', stderr);
        if (bar >= 10) {
            int fill = (int)(frac * bar + 0.5);
            fputc('[', stderr);
            for (int i = 0; i < bar; i++)
                fputs(i < fill ? (cli_utf8() ? "█" : "#") : (cli_utf8() ? "░" : "."), stderr);
            fputc(']', stderr);
        }
        fputs(text, stderr);
        fputs("\033[K", stderr);
        if (final)
            fputc('\n', stderr);
        fflush(stderr);
        return;
    }
    /* Plain lines: at most one every 2 s while bytes move; the summary line follows the end. */
    if (final || cur == p->last_bytes || t - p->last_line < 2.0)
        return;
    fprintf(stderr, "weft stratix upload: %s: %s/%s (%.0f%%), %s\n", p->file, db, tb, frac * 100, phase);
    p->last_line = t;
    p->last_bytes = cur;
}

/* A file upload would refuse: missing, unreadable, not .json/.jsonl, or bigger than 50 MB. */
static bool check_file(const char *cmd, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        cli_err(cmd, "%s: %s", path, strerror(errno));
        return false;
    }
    if (!S_ISREG(st.st_mode)) {
        cli_err(cmd, "%s: not a regular file", path);
        return false;
    }
    size_t n = strlen(path);
    bool json = n > 5 && !strcmp(path + n - 5, ".json"), jsonl = n > 6 && !strcmp(path + n - 6, ".jsonl");
    if (!json && !jsonl) {
        cli_err(cmd, "%s: Stratix takes .json or .jsonl files", path);
        return false;
    }
    if ((unsigned long long)st.st_size > WEFT_STRATIX_MAX_UPLOAD_BYTES) {
        char b[32];
        cli_fmt_bytes(b, sizeof b, (double)st.st_size);
        cli_err(cmd, "%s: %s is more than the 50 MB (52,428,800 bytes) Stratix takes per file", path, b);
        return false;
    }
    return true;
}

static int sx_upload(int argc, char **argv)
{
    const char *cmd = "stratix upload";
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool json = false;
    int rc = parse(cmd, argc, argv, opts, help_upload, &json, NULL, NULL);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    char **files = argv + optind;
    int n = argc - optind;
    if (n == 0)
        return cli_usage(cmd, "no files given");
    for (int i = 0; i < n; i++)
        if (!check_file(cmd, files[i]))
            return CLI_FAIL;
    weft_stratix_client *client;
    if ((rc = open_client(cmd, &client)))
        return rc;
    progress p = {.tty = cli_isatty(stderr), .width = cli_term_width(stderr)};
    int ret = CLI_OK, done = 0;
    size_t traces = 0;
    double t0 = now_s();
    for (int i = 0; i < n && ret == CLI_OK; i++) {
        weft_stratix_error e = {0};
        weft_job *job;
        int jrc = weft_stratix_upload_async(client, files[i], &job, &e);
        if (jrc) {
            ret = stratix_fail(cmd, jrc, &e, NULL);
            break;
        }
        p.file = files[i];
        p.t0 = p.last_line = now_s();
        p.last_bytes = 0;
        jrc = weft_job_wait(job, p.tty ? 0.1 : 0.5, -1, on_progress, &p);
        const weft_stratix_upload_result *res = NULL;
        if (jrc == 0)
            jrc = weft_stratix_upload_job_result(job, &res);
        if (jrc != 0 || !res) {
            weft_job_info info;
            weft_job_status(job, &info);
            cli_err(cmd, "%s: %s", files[i], info.error[0] ? info.error : weft_strerror(jrc));
            /* The status as the client wrote it ("HTTP 401"), not any "401" (a port number). */
            if (strstr(info.error, "HTTP 401") || strstr(info.error, "HTTP 403"))
                cli_err(cmd, "the server refused the credentials: check LAYERLENS_STRATIX_API_KEY");
            else if (jrc == WEFT_EIO)
                cli_err(cmd, "is the server up, and is LAYERLENS_STRATIX_BASE_URL right? `weft doctor` checks");
            ret = CLI_FAIL;
        } else {
            if (json) {
                json_t *o = json_object(), *ids = json_array();
                json_object_set_new(o, "filename", json_string(res->filename));
                json_object_set_new(o, "bytes", json_integer((json_int_t)res->bytes));
                for (size_t k = 0; k < res->n_trace_ids; k++)
                    json_array_append_new(ids, json_string(res->trace_ids[k]));
                json_object_set_new(o, "trace_ids", ids);
                print_json(o, JSON_COMPACT);
            } else {
                for (size_t k = 0; k < res->n_trace_ids; k++)
                    printf("%s\n", res->trace_ids[k]);
            }
            char b[32];
            cli_fmt_bytes(b, sizeof b, (double)res->bytes);
            fprintf(stderr, "weft stratix upload: %s: %s sent, %zu trace%s created\n", files[i], b, res->n_trace_ids,
                    res->n_trace_ids == 1 ? "" : "s");
            traces += res->n_trace_ids;
            done++;
        }
        weft_job_free(job);
    }
    char el[32];
    cli_fmt_ms(el, sizeof el, (now_s() - t0) * 1000);
    fprintf(stderr, "weft stratix upload: %d of %d file%s uploaded, %zu trace%s created (%s)\n", done, n,
            n == 1 ? "" : "s", traces, traces == 1 ? "" : "s", el);
    weft_stratix_client_free(client);
    return ret;
}

/* ---- list ---------------------------------------------------------------------------------- */

static int list_opt(int c, const char *arg, void *ctx)
{
    weft_stratix_query *q = ctx;
    const char *cmd = "stratix list";
    uint32_t v;
    switch (c) {
    case 'p':
        if (!cli_parse_u32(arg, 1, 1000000000, &v))
            return cli_usage(cmd, "--page must be a number from 1 (got '%s')", arg);
        q->page = (int)v;
        return 0;
    case 'P':
        if (!cli_parse_u32(arg, 1, WEFT_STRATIX_MAX_PAGE_SIZE, &v))
            return cli_usage(cmd, "--page-size must be a number from 1 to 500 (got '%s')", arg);
        q->page_size = (int)v;
        return 0;
    case 's': q->source = arg; return 0;
    case 'J': q->judge_id = arg; return 0;
    case 'S': q->status = arg; return 0;
    case 't': q->time_range = arg; return 0;
    case 'q': q->search = arg; return 0;
    case 'b': q->sort_by = arg; return 0;
    case 'o':
        if (strcmp(arg, "asc") && strcmp(arg, "desc"))
            return cli_usage(cmd, "--sort-order must be asc or desc (got '%s')", arg);
        q->sort_order = arg;
        return 0;
    }
    return CLI_USAGE;
}

static void eval_summary(char *b, size_t n, const weft_stratix_trace *t)
{
    size_t pass = 0, fail = 0;
    for (size_t i = 0; i < t->n_last_evaluations; i++) {
        pass += t->last_evaluations[i].passed == 1;
        fail += t->last_evaluations[i].passed == 0;
    }
    if (!t->n_last_evaluations)
        snprintf(b, n, "-");
    else
        snprintf(b, n, "%zu passed, %zu failed", pass, fail);
}

static int sx_list(int argc, char **argv)
{
    const char *cmd = "stratix list";
    static const struct option opts[] = {{"page", required_argument, NULL, 'p'},
                                         {"page-size", required_argument, NULL, 'P'},
                                         {"source", required_argument, NULL, 's'},
                                         {"judge-id", required_argument, NULL, 'J'},
                                         {"status", required_argument, NULL, 'S'},
                                         {"time-range", required_argument, NULL, 't'},
                                         {"search", required_argument, NULL, 'q'},
                                         {"sort-by", required_argument, NULL, 'b'},
                                         {"sort-order", required_argument, NULL, 'o'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool json = false;
    weft_stratix_query q = {0};
    int rc = parse(cmd, argc, argv, opts, help_list, &json, list_opt, &q);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    weft_stratix_client *client;
    if ((rc = open_client(cmd, &client)))
        return rc;
    weft_stratix_traces *page = NULL;
    weft_stratix_error e = {0};
    int lrc = weft_stratix_get_many(client, &q, &page, &e);
    if (lrc) {
        rc = stratix_fail(cmd, lrc, &e, NULL);
        weft_stratix_client_free(client);
        return rc;
    }
    if (json) {
        json_t *o = json_object(), *a = json_array();
        for (size_t i = 0; i < page->n_traces; i++)
            json_array_append_new(a, trace_json(&page->traces[i], true));
        json_object_set_new(o, "traces", a);
        json_object_set_new(o, "count", json_integer(page->count));
        json_object_set_new(o, "total_count", json_integer(page->total_count));
        print_json(o, JSON_COMPACT);
    } else {
        static const char *const header[] = {"ID", "CREATED", "FILENAME", "EVALS", "LAST EVALUATIONS"};
        static const bool right[] = {false, false, false, true, false};
        cli_table t;
        cli_table_init(&t, 5, header, right);
        for (size_t i = 0; i < page->n_traces; i++) {
            const weft_stratix_trace *tr = &page->traces[i];
            char ev[32], last[64];
            snprintf(ev, sizeof ev, "%lld", (long long)tr->evaluations_count);
            eval_summary(last, sizeof last, tr);
            const char *cells[] = {tr->id, tr->created_at, tr->filename, ev, last};
            cli_table_add(&t, cells);
        }
        cli_table_print(&t, stdout);
        cli_table_free(&t);
        printf("page %d: %lld trace%s of %lld\n", q.page ? q.page : 1, (long long)page->count,
               page->count == 1 ? "" : "s", (long long)page->total_count);
    }
    weft_stratix_traces_free(page);
    weft_stratix_client_free(client);
    return CLI_OK;
}

/* ---- get, delete, sources ------------------------------------------------------------------ */

static int one_id(const char *cmd, int argc, char **argv, const char **id)
{
    if (argc - optind != 1)
        return cli_usage(cmd, argc == optind ? "no trace id given" : "give one trace id (got %d arguments)",
                         argc - optind);
    *id = argv[optind];
    if (!**id)
        return cli_usage(cmd, "the trace id is empty");
    return CLI_OK;
}

static int sx_get(int argc, char **argv)
{
    const char *cmd = "stratix get", *id = NULL;
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool json = false;
    int rc = parse(cmd, argc, argv, opts, help_get, &json, NULL, NULL);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if ((rc = one_id(cmd, argc, argv, &id)))
        return rc;
    weft_stratix_client *client;
    if ((rc = open_client(cmd, &client)))
        return rc;
    weft_stratix_trace *t = NULL;
    weft_stratix_error e = {0};
    int grc = weft_stratix_get(client, id, &t, &e);
    if (grc) {
        rc = stratix_fail(cmd, grc, &e, id);
        weft_stratix_client_free(client);
        return rc;
    }
    if (json) {
        print_json(trace_json(t, false), JSON_COMPACT);
    } else {
        printf("%-16s %s\n", "id", t->id ? t->id : "-");
        printf("%-16s %s\n", "created_at", t->created_at ? t->created_at : "-");
        printf("%-16s %s\n", "filename", t->filename ? t->filename : "-");
        printf("%-16s %s\n", "organization_id", t->organization_id ? t->organization_id : "-");
        printf("%-16s %s\n", "project_id", t->project_id ? t->project_id : "-");
        printf("%-16s %s\n", "integration_id", t->integration_id ? t->integration_id : "-");
        printf("%-16s %s\n", "input", t->input ? t->input : "-");
        json_t *d = t->data ? json_loads(t->data, JSON_DECODE_ANY, NULL) : NULL;
        printf("data\n");
        if (d)
            print_json(d, JSON_INDENT(2));
        else
            printf("%s\n", t->data ? t->data : "{}");
    }
    weft_stratix_trace_free(t);
    weft_stratix_client_free(client);
    return CLI_OK;
}

static int sx_delete(int argc, char **argv)
{
    const char *cmd = "stratix delete", *id = NULL;
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool json = false;
    int rc = parse(cmd, argc, argv, opts, help_delete, &json, NULL, NULL);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if ((rc = one_id(cmd, argc, argv, &id)))
        return rc;
    weft_stratix_client *client;
    if ((rc = open_client(cmd, &client)))
        return rc;
    weft_stratix_error e = {0};
    int drc = weft_stratix_delete(client, id, &e);
    if (drc)
        rc = stratix_fail(cmd, drc, &e, id);
    else
        fprintf(stderr, "weft stratix delete: trace %s deleted\n", id);
    weft_stratix_client_free(client);
    return rc;
}

static int sx_sources(int argc, char **argv)
{
    const char *cmd = "stratix sources";
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool json = false;
    int rc = parse(cmd, argc, argv, opts, help_sources, &json, NULL, NULL);
    if (rc)
        return rc < 0 ? CLI_OK : rc;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    weft_stratix_client *client;
    if ((rc = open_client(cmd, &client)))
        return rc;
    weft_stratix_sources *s = NULL;
    weft_stratix_error e = {0};
    int src = weft_stratix_get_sources(client, &s, &e);
    if (src) {
        rc = stratix_fail(cmd, src, &e, NULL);
        weft_stratix_client_free(client);
        return rc;
    }
    if (json) {
        json_t *a = json_array();
        for (size_t i = 0; i < s->n_sources; i++)
            json_array_append_new(a, json_string(s->sources[i]));
        print_json(a, JSON_COMPACT);
    } else {
        for (size_t i = 0; i < s->n_sources; i++)
            printf("%s\n", s->sources[i]);
    }
    weft_stratix_sources_free(s);
    weft_stratix_client_free(client);
    return CLI_OK;
}

int cmd_stratix(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("stratix", "give a command: upload, list, get, delete or sources");
    const char *c = argv[1];
    if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) {
        fputs(help, stdout);
        return CLI_OK;
    }
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } subs[] = {{"upload", sx_upload}, {"list", sx_list}, {"get", sx_get}, {"delete", sx_delete}, {"sources", sx_sources}};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (!strcmp(c, subs[i].name))
            return subs[i].run(argc - 1, argv + 1);
    return cli_usage("stratix", "unknown command '%s' (upload, list, get, delete, sources)", c);
}
