/*
 * job_internal.h — what a job body (job_upload.c, job_flush.c) sees of the job machinery in
 * job.c. A body runs on the job's own thread and reports through these calls, each of which
 * takes the job's mutex briefly.
 */
#ifndef WEFT_CLIENT_JOB_INTERNAL_H
#define WEFT_CLIENT_JOB_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "weft/job.h"

/* The body: returns 0 (completed) or a negative code (failed; weft__job_fail may have said
 * why). A cancelled job's return value is ignored. */
typedef int (*weft__job_body)(weft_job *job, void *arg);
/* Frees arg after the body has run (or when the job never started). */
typedef void (*weft__job_arg_free)(void *arg);

/* Creates the job and starts its thread. 0, WEFT_ENOMEM or WEFT_ETHREAD (arg is freed). */
int weft__job_start(const char *type, weft__job_body body, void *arg, weft__job_arg_free arg_free, weft_job **out);

void weft__job_set_state(weft_job *job, weft_job_state state); /* running or processing */
void weft__job_set_total(weft_job *job, uint64_t total);
void weft__job_advance(weft_job *job, uint64_t items, uint64_t delivered, uint64_t failed);
void weft__job_problem(weft_job *job, const char *file, uint64_t line, const char *message);
void weft__job_fail(weft_job *job, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void weft__job_set_flush_result(weft_job *job, int rc);
bool weft__job_cancelled(weft_job *job);

/* A typed result for a job-specific accessor (weft_stratix_upload_job_result): taken, freed
 * with result_free by weft_job_free (or when replaced). */
void weft__job_set_result(weft_job *job, void *result, weft__job_arg_free result_free);
/* Blocks until the job is final, then returns its typed result (NULL when none was set). The
 * pointer is the job's, valid until weft_job_free. */
void *weft__job_wait_result(weft_job *job);

#endif
