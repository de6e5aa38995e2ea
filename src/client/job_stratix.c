/*
 * job_stratix.c — weft_stratix_upload_async: weft_stratix_upload on a job thread (job.h). The
 * upload's progress callback is the job's: it moves current_item by the bytes sent, switches
 * the job to `processing` for step 3, and answers a cancel by stopping the upload.
 *
 * Owns: the job's argument (the path's copy; the client is borrowed) and, once the body has
 * run, the upload result, which the job keeps (weft__job_set_result) until weft_job_free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "job_internal.h"
#include "stratix_internal.h"

#define JOB_TYPE "stratix_upload"

typedef struct up_arg {
    weft_stratix_client *c;
    char *path;
    weft_job *job;
    uint64_t sent; /* bytes reported to the job so far */
} up_arg;

static void arg_free(void *p)
{
    up_arg *a = p;
    if (a) {
        free(a->path);
        free(a);
    }
}

static void result_free(void *p)
{
    weft_stratix_upload_result_free(p);
}

static bool on_progress(void *user, weft_stratix_step step, uint64_t sent, uint64_t total)
{
    up_arg *a = user;
    if (step == WEFT_STRATIX_STEP_PRESIGN)
        weft__job_set_total(a->job, total);
    if (sent > a->sent) {
        weft__job_advance(a->job, sent - a->sent, 0, 0);
        a->sent = sent;
    }
    if (step == WEFT_STRATIX_STEP_CREATE)
        weft__job_set_state(a->job, WEFT_JOB_PROCESSING);
    return !weft__job_cancelled(a->job);
}

static int body(weft_job *job, void *p)
{
    up_arg *a = p;
    a->job = job;
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    int rc = weft_stratix_upload(a->c, a->path, on_progress, a, &res, &err);
    if (rc < 0) {
        weft__job_fail(job, "%s", err.message);
        return rc;
    }
    weft__job_set_result(job, res, result_free);
    return 0;
}

int weft_stratix_upload_async(weft_stratix_client *c, const char *path, weft_job **out, weft_stratix_error *err)
{
    if (out)
        *out = NULL;
    if (c == NULL || out == NULL) {
        if (err) {
            memset(err, 0, sizeof *err);
            err->code = WEFT_EINVAL;
            snprintf(err->message, sizeof err->message, "weft_stratix_upload_async: client and out are required");
        }
        return WEFT_EINVAL;
    }
    int rc = weft__stratix_check_file(path, err);
    if (rc < 0)
        return rc;
    up_arg *a = calloc(1, sizeof *a);
    if (a == NULL || (a->path = strdup(path)) == NULL) {
        free(a);
        return WEFT_ENOMEM;
    }
    a->c = c;
    return weft__job_start(JOB_TYPE, body, a, arg_free, out);
}

int weft_stratix_upload_job_result(weft_job *job, const weft_stratix_upload_result **out)
{
    if (out)
        *out = NULL;
    if (job == NULL || strcmp(weft_job_type(job), JOB_TYPE) != 0)
        return WEFT_EINVAL;
    int rc = weft_job_result(job, NULL);
    if (rc == 0 && out)
        *out = weft__job_wait_result(job);
    return rc;
}
