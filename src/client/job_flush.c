/*
 * job_flush.c — weft_flush_async: weft_flush on a job thread, in slices of SLICE_MS so that a
 * cancel is seen within one slice (job.h). Each slice waits for everything ended before it
 * began, a superset of what the first one waited for, so the job completes only once all that
 * ended before weft_flush_async was called is exported.
 */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "job_internal.h"

#define SLICE_MS 200u

typedef struct flush_arg {
    uint32_t timeout_ms;
} flush_arg;

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int flush_body(weft_job *job, void *p)
{
    flush_arg *a = p;
    weft__job_set_total(job, 1);
    weft__job_set_state(job, WEFT_JOB_PROCESSING);
    uint64_t deadline = a->timeout_ms ? mono_ms() + a->timeout_ms : 0;
    int rc;
    for (;;) {
        uint32_t slice = SLICE_MS;
        if (deadline) {
            uint64_t now = mono_ms();
            if (now >= deadline) {
                rc = WEFT_ETIMEDOUT;
                break;
            }
            if (deadline - now < slice)
                slice = (uint32_t)(deadline - now);
        }
        rc = weft_flush(slice ? slice : 1);
        if (rc != WEFT_ETIMEDOUT || weft__job_cancelled(job))
            break;
    }
    weft__job_set_flush_result(job, rc);
    if (rc == 0)
        weft__job_advance(job, 1, 0, 0);
    else
        weft__job_fail(job, "weft_flush: %s", weft_strerror(rc));
    return rc;
}

int weft_flush_async(uint32_t timeout_ms, weft_job **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    flush_arg *a = malloc(sizeof *a);
    if (!a)
        return WEFT_ENOMEM;
    a->timeout_ms = timeout_ms;
    return weft__job_start("flush", flush_body, a, free, out);
}
