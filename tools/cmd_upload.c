/*
 * cmd_upload.c — `weft upload FILE...`: the files' span items to SGP with
 * weft_job_upload_spans (job.h), which streams them (memory holds one batch). While the job
 * runs, a progress bar on a terminal (stderr), plain lines otherwise; at the end the entries
 * that were not delivered, with file and line, and a summary. Exit 1 when anything was not
 * delivered.
 */
#include <dirent.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "weft/job.h"

static const char help[] =
    "Usage: weft upload [--batch-size N] FILE...\n"
    "\n"
    "Sends the span items of each FILE to SGP with upsert_batch (PUT /v5/spans/batch): JSONL\n"
    "(the jsonl exporter's output), a JSON array of items, {\"items\": [...]}, or a spool\n"
    "directory. Files are streamed: memory holds one batch. Entries that are not span items\n"
    "are reported with their line and skipped; items the server rejects are reported with its\n"
    "detail; the rest is delivered.\n"
    "\n"
    "  --batch-size N   items per request, 1..1000 (default 1000)\n"
    "\n"
    "Progress: a bar on a terminal (spans, bytes, rate, time left), plain lines otherwise.\n"
    "Configuration: SGP_API_KEY, SGP_ACCOUNT_ID, SGP_CLIENT_BASE_URL.\n"
    "Exit status: 0 every item delivered, 1 something was not (or the server failed), 2 usage.\n";

typedef struct progress {
    bool tty;
    double total_bytes;
    double t0;
    double last_line;   /* plain mode: when the last line was printed */
    uint64_t last_item; /* plain mode: items at the last line */
    int width;
    bool drawn;
} progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes of a path: a file's size, or the sum of a spool directory's files. */
static double path_bytes(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return (double)st.st_size;
    double sum = 0;
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
            sum += (double)st.st_size;
    }
    closedir(d);
    return sum;
}

static void fmt_eta(char *b, size_t n, double s)
{
    if (s < 0 || s > 359999)
        snprintf(b, n, "--:--");
    else if (s >= 3600)
        snprintf(b, n, "%d:%02d:%02d", (int)s / 3600, ((int)s / 60) % 60, (int)s % 60);
    else
        snprintf(b, n, "%d:%02d", (int)s / 60, (int)s % 60);
}

static void on_progress(const weft_job_info *info, void *user)
{
    progress *p = user;
    double t = now_s(), el = t - p->t0;
    uint64_t cur = info->current_item, tot = info->total_items;
    double frac = tot ? (double)cur / (double)tot : 0;
    /* Bytes are estimated as the answered fraction of the input's size: the job counts
     * entries, and entries are read in file order. */
    double done_b = p->total_bytes * frac;
    char cs[32], ts[32], db[32], tb[32], rate[32], eta[16];
    cli_fmt_int(cs, sizeof cs, (int64_t)cur);
    cli_fmt_int(ts, sizeof ts, (int64_t)tot);
    cli_fmt_bytes(db, sizeof db, done_b);
    cli_fmt_bytes(tb, sizeof tb, p->total_bytes);
    double sps = el > 0 ? (double)cur / el : 0;
    if (el > 0)
        snprintf(rate, sizeof rate, "%.0f spans/s", sps);
    else
        snprintf(rate, sizeof rate, "- spans/s");
    fmt_eta(eta, sizeof eta, sps > 0 && tot ? (double)(tot - cur) / sps : -1);
    bool final = info->state >= WEFT_JOB_COMPLETED;
    if (p->tty) {
        char text[320];
        char bps[32];
        cli_fmt_bytes(bps, sizeof bps, el > 0 ? done_b / el : 0);
        snprintf(text, sizeof text, " %3.0f%%  %s/%s spans  %s/%s  %s  %s/s  ETA %s", frac * 100, cs, ts, db, tb, rate,
                 bps, eta);
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
        p->drawn = true;
        if (final)
            fputc('\n', stderr);
        fflush(stderr);
        return;
    }
    /* Plain lines: at most one every 2 s, and only when something moved; the summary follows
     * the job's end, so the final snapshot is not printed. */
    if (final || !tot || cur == p->last_item || t - p->last_line < 2.0)
        return;
    fprintf(stderr, "weft upload: %s/%s spans (%.0f%%), %s/%s, %s, ETA %s\n", cs, ts, frac * 100, db, tb, rate, eta);
    p->last_line = t;
    p->last_item = cur;
}

int cmd_upload(int argc, char **argv)
{
    static const struct option opts[] = {
        {"batch-size", required_argument, NULL, 'b'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    uint32_t batch = 0;
    int c;
    while ((c = cli_getopt("upload", argc, argv, "+hb:", opts)) != -1) {
        switch (c) {
        case 'h':
            fputs(help, stdout);
            return CLI_OK;
        case 'b':
            if (!cli_parse_u32(optarg, 1, 1000, &batch))
                return cli_usage("upload", "--batch-size must be a number from 1 to 1000 (got '%s')", optarg);
            break;
        default:
            return CLI_USAGE;
        }
    }
    char **files = argv + optind;
    int n = argc - optind;
    if (n == 0)
        return cli_usage("upload", "no files given");
    int rc = cli_check_paths("upload", files, n);
    if (rc)
        return rc;
    weft_sgp_client *client;
    if ((rc = cli_sgp_client("upload", &client)))
        return rc;

    progress p = {.tty = cli_isatty(stderr), .t0 = now_s(), .width = cli_term_width(stderr)};
    p.last_line = p.t0;
    for (int i = 0; i < n; i++)
        p.total_bytes += path_bytes(files[i]);

    weft_job *job;
    weft_upload_opts uo = {.batch_size = batch};
    int jrc = weft_job_upload_spans(client, (const char *const *)files, (size_t)n, &uo, &job);
    if (jrc) {
        cli_err("upload", "cannot start the upload: %s", weft_strerror(jrc));
        weft_sgp_client_free(client);
        return CLI_FAIL;
    }
    jrc = weft_job_wait(job, p.tty ? 0.1 : 0.5, -1, on_progress, &p);
    const weft_job_output *out = NULL;
    weft_job_result(job, &out);
    weft_job_info info;
    weft_job_status(job, &info);

    double el = now_s() - p.t0;

    for (size_t i = 0; out && i < out->n_problems; i++) {
        const weft_job_problem *pr = &out->problems[i];
        /* The job's messages start with "line N: "; print FILE:LINE: and the rest. */
        const char *m = pr->message;
        if (!strncmp(m, "line ", 5)) {
            const char *colon = strstr(m, ": ");
            if (colon)
                m = colon + 2;
        }
        if (pr->line)
            fprintf(stderr, "%s:%llu: %s\n", pr->file, (unsigned long long)pr->line, m);
        else
            fprintf(stderr, "%s: %s\n", pr->file, m);
    }
    uint64_t failed = out ? out->items_failed : 0, delivered = out ? out->items_delivered : 0,
             total = out ? out->items_total : 0;
    if (info.total_items > total) /* a failed job stops before reading everything */
        total = info.total_items;
    if (out && failed > out->n_problems)
        fprintf(stderr, "... and %llu more not delivered (only the first %zu are listed)\n",
                (unsigned long long)(failed - out->n_problems), out->n_problems);
    char ds[32], ts[32], fs[32], bs[32], el_s[32];
    cli_fmt_int(ds, sizeof ds, (int64_t)delivered);
    cli_fmt_int(ts, sizeof ts, (int64_t)total);
    cli_fmt_int(fs, sizeof fs, (int64_t)failed);
    cli_fmt_bytes(bs, sizeof bs, p.total_bytes);
    cli_fmt_ms(el_s, sizeof el_s, el * 1000);
    fprintf(stderr, "weft upload: %s of %s spans delivered to %s (%s in %d file%s, %s)", ds, ts,
            weft_sgp_client_base_url(client), bs, n, n == 1 ? "" : "s", el_s);
    if (failed)
        fprintf(stderr, "; %s not delivered", fs);
    fputc('\n', stderr);
    int ret = CLI_OK;
    if (jrc != 0) {
        cli_err("upload", "the upload %s: %s", jrc == WEFT_ECANCELED ? "was cancelled" : "failed",
                info.error[0] ? info.error : weft_strerror(jrc));
        if (strstr(info.error, "HTTP 401") || strstr(info.error, "HTTP 403"))
            cli_err("upload", "the server refused the credentials: check SGP_API_KEY and SGP_ACCOUNT_ID");
        else if (jrc == WEFT_EIO || strstr(info.error, "connect") || strstr(info.error, "Could not"))
            cli_err("upload", "is the server up, and is SGP_CLIENT_BASE_URL right? `weft doctor` checks");
        ret = CLI_FAIL;
    } else if (failed) {
        ret = CLI_FAIL;
    }
    weft_job_free(job);
    weft_sgp_client_free(client);
    return ret;
}
