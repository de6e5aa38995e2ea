/*
 * job_upload.c — weft_job_upload_spans (job.h): span files to SGP through
 * weft_sgp_spans_upsert_batch_json. Each file is read twice with span_reader.c, once to count
 * its entries (total_items) and once to send them, so memory holds one batch (at most 1000
 * item texts) whatever the size of the files. A batch the server rejects as a whole (400, 409,
 * 413, 422) is halved until the rejected items are isolated; those are reported with their
 * line and the server's detail, the rest delivered. Any other error stops the job (failed).
 *
 * Runs on the job's thread; the client is thread-safe (sgp.h) and borrowed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_internal.h"
#include "span_reader.h"
#include "weft/sgp.h"

#define BATCH_MAX 1000u /* the API's limit on items per request */

typedef struct upload_arg {
    weft_sgp_client *client;
    char **paths;
    size_t n_paths;
    uint32_t batch_size;
} upload_arg;

typedef struct batch {
    char *text[BATCH_MAX];
    uint64_t line[BATCH_MAX];
    size_t n;
    char *file; /* the file the batch's items come from (owned) */
} batch;

static void upload_arg_free(void *p)
{
    upload_arg *a = p;
    if (!a)
        return;
    for (size_t i = 0; i < a->n_paths; i++)
        free(a->paths[i]);
    free(a->paths);
    free(a);
}

static bool rejects_items(const weft_sgp_error *e)
{
    return e->code == WEFT_EHTTP && (e->http_status == 400 || e->http_status == 409 || e->http_status == 413 ||
                                     e->http_status == 422);
}

/* Sends items [i, j) of b; 0, or the code that stops the job. */
static int send_range(weft_job *job, upload_arg *a, batch *b, size_t i, size_t j)
{
    if (i >= j)
        return 0;
    weft_sgp_error err;
    int rc = weft_sgp_spans_upsert_batch_json(a->client, (const char *const *)&b->text[i], j - i, NULL, &err);
    if (rc == 0) {
        weft__job_advance(job, j - i, j - i, 0);
        return 0;
    }
    if (rc == WEFT_EINVAL && err.item_index >= 0 && (size_t)err.item_index < j - i) {
        size_t bad = i + (size_t)err.item_index;
        char m[WEFT_SGP_MESSAGE_MAX + 32];
        snprintf(m, sizeof m, "line %llu: %s", (unsigned long long)b->line[bad], err.message);
        weft__job_problem(job, b->file, b->line[bad], m);
        weft__job_advance(job, 1, 0, 1);
        int r = send_range(job, a, b, i, bad);
        return r ? r : send_range(job, a, b, bad + 1, j);
    }
    if (rejects_items(&err)) {
        if (j - i == 1) {
            char m[WEFT_SGP_DETAIL_MAX + 64];
            snprintf(m, sizeof m, "line %llu: rejected by the server: HTTP %d%s%s", (unsigned long long)b->line[i],
                     err.http_status, err.detail[0] ? ": " : "", err.detail);
            weft__job_problem(job, b->file, b->line[i], m);
            weft__job_advance(job, 1, 0, 1);
            return 0;
        }
        if (weft__job_cancelled(job))
            return WEFT_ECANCELED;
        size_t mid = i + (j - i) / 2;
        int r = send_range(job, a, b, i, mid);
        return r ? r : send_range(job, a, b, mid, j);
    }
    weft__job_fail(job, "%s: upload of lines %llu..%llu failed: %s%s%s", b->file, (unsigned long long)b->line[i],
                   (unsigned long long)b->line[j - 1], err.message, err.detail[0] ? ": " : "", err.detail);
    return rc;
}

static int flush_batch(weft_job *job, upload_arg *a, batch *b)
{
    int rc = send_range(job, a, b, 0, b->n);
    for (size_t i = 0; i < b->n; i++)
        free(b->text[i]);
    b->n = 0;
    free(b->file);
    b->file = NULL;
    return rc;
}

static int upload_body(weft_job *job, void *p)
{
    upload_arg *a = p;
    uint64_t total = 0;
    for (size_t i = 0; i < a->n_paths; i++) {
        uint64_t n;
        if (weft__span_reader_count(a->paths[i], &n) != 0) {
            weft__job_fail(job, "%s: cannot be read", a->paths[i]);
            return WEFT_EIO;
        }
        total += n;
        if (weft__job_cancelled(job))
            return WEFT_ECANCELED;
    }
    weft__job_set_total(job, total);
    batch *b = calloc(1, sizeof *b);
    if (!b)
        return WEFT_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < a->n_paths && !rc; i++) {
        weft__span_reader *r;
        if (weft__span_reader_open(a->paths[i], &r) != 0) {
            weft__job_fail(job, "%s: cannot be read", a->paths[i]);
            rc = WEFT_EIO;
            break;
        }
        weft__sr_event ev;
        weft__sr_status st;
        while (!rc && (st = weft__span_reader_next(r, &ev)) != WEFT__SR_END) {
            if (weft__job_cancelled(job)) {
                json_decref(ev.item);
                rc = WEFT_ECANCELED;
                break;
            }
            if (st == WEFT__SR_IOERR) {
                weft__job_fail(job, "%s", ev.message);
                rc = WEFT_EIO;
                break;
            }
            if (st == WEFT__SR_BAD) {
                weft__job_problem(job, ev.file, ev.line, ev.message);
                weft__job_advance(job, 1, 0, 1);
                continue;
            }
            /* A batch holds items of one file (problems name their file). */
            if (b->n && (b->n == a->batch_size || strcmp(b->file, ev.file) != 0))
                rc = flush_batch(job, a, b);
            char *text = json_dumps(ev.item, JSON_COMPACT);
            json_decref(ev.item);
            if (!text) {
                rc = WEFT_ENOMEM;
                break;
            }
            if (rc) {
                free(text);
                break;
            }
            if (!b->n && !(b->file = strdup(ev.file))) {
                free(text);
                rc = WEFT_ENOMEM;
                break;
            }
            b->text[b->n] = text;
            b->line[b->n++] = ev.line;
        }
        weft__span_reader_free(r);
        if (!rc && b->n) {
            if (i + 1 == a->n_paths)
                weft__job_set_state(job, WEFT_JOB_PROCESSING);
            rc = flush_batch(job, a, b);
        }
    }
    for (size_t i = 0; i < b->n; i++)
        free(b->text[i]);
    free(b->file);
    free(b);
    return rc;
}

int weft_job_upload_spans(weft_sgp_client *client, const char *const *paths, size_t n_paths,
                          const weft_upload_opts *opts, weft_job **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    if (!client || !paths || !n_paths)
        return WEFT_EINVAL;
    uint32_t bs = opts && opts->batch_size ? opts->batch_size : BATCH_MAX;
    if (bs > BATCH_MAX)
        return WEFT_EINVAL;
    upload_arg *a = calloc(1, sizeof *a);
    if (!a)
        return WEFT_ENOMEM;
    a->client = client;
    a->batch_size = bs;
    a->paths = calloc(n_paths, sizeof *a->paths);
    if (!a->paths) {
        free(a);
        return WEFT_ENOMEM;
    }
    for (size_t i = 0; i < n_paths; i++) {
        if (!paths[i] || !(a->paths[a->n_paths] = strdup(paths[i]))) {
            int rc = paths[i] ? WEFT_ENOMEM : WEFT_EINVAL;
            upload_arg_free(a);
            return rc;
        }
        a->n_paths++;
    }
    return weft__job_start("upload", upload_body, a, upload_arg_free, out);
}
