/*
 * job.h — async job handles (DESIGN.md section 11), the model LLM-evaluation SDKs use: a job
 * runs on a thread of its own; its handle says where it is (status, progress, times, error),
 * can be waited on with a progress callback and a timeout, cancelled, and asked for its result.
 *
 * Jobs: weft_job_upload_spans (span files to SGP through weft_sgp_spans_upsert_batch, in
 * batches of at most 1000 items) and weft_flush_async (weft_flush on a job thread).
 *
 * Life of a job: queued (created, its thread not started yet) -> running (reading input and
 * sending) -> processing (input all read; the last request in flight; a flush job waits here)
 * -> completed | failed | cancelled. The last three are final.
 *
 * Threading: every function may be called from any thread, at the same time as others on the
 * same job, except weft_job_free, which must not race any other call on that job.
 *
 * Pointers: arguments are *borrowed* (copied when kept) unless a comment says otherwise.
 */
#ifndef WEFT_JOB_H
#define WEFT_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/weft.h"

#ifdef __cplusplus
extern "C" {
#endif

struct weft_sgp_client;

typedef struct weft_job weft_job;

typedef enum weft_job_state {
    WEFT_JOB_QUEUED = 0,
    WEFT_JOB_RUNNING,
    WEFT_JOB_PROCESSING,
    WEFT_JOB_COMPLETED,
    WEFT_JOB_FAILED,
    WEFT_JOB_CANCELLED
} weft_job_state;

/* "queued", "running", "processing", "completed", "failed", "cancelled"; static. Unknown
 * values: "failed". */
WEFT_API const char *weft_job_state_name(weft_job_state state);

/* A snapshot of a job (caller-allocated; no free needed). */
typedef struct weft_job_info {
    char job_id[40];          /* UUID text */
    char job_type[16];        /* "upload", "flush" */
    weft_job_state state;
    const char *status;       /* static: weft_job_state_name(state) */
    double progress_percent;  /* 0..100: current_item / total_items (100 once completed) */
    uint64_t current_item;    /* items handled so far (delivered, rejected or malformed) */
    uint64_t total_items;     /* items in the input (counted before sending); 0 while unknown */
    char started_at[32];      /* ISO 8601 UTC with microseconds; "" while queued */
    char finished_at[32];     /* "" until final */
    char error[512];          /* why the job failed (or what was cancelled); "" when none */
} weft_job_info;

/* The job's id and type: static for the job's lifetime. */
WEFT_API const char *weft_job_id(const weft_job *job);
WEFT_API const char *weft_job_type(const weft_job *job);

/* Fills *out. Returns 0, or WEFT_EINVAL for a NULL argument. */
WEFT_API int weft_job_status(const weft_job *job, weft_job_info *out);

/* queued, running or processing. */
WEFT_API bool weft_job_is_running(const weft_job *job);
WEFT_API bool weft_job_is_completed(const weft_job *job);
WEFT_API bool weft_job_is_failed(const weft_job *job);

/* Asks the job to stop: a queued job never starts, a running one stops before its next item
 * (a request already in flight is answered first). Returns 0 when the request was made,
 * WEFT_EINVAL when the job had already finished (its state is kept). Does not wait. */
WEFT_API int weft_job_cancel(weft_job *job);

/* One input entry that was not delivered. */
typedef struct weft_job_problem {
    const char *file;   /* the input file (or spool file) */
    uint64_t line;      /* 1-based line the entry starts on (spool: record number); 0: none */
    const char *message; /* what is wrong: the parser's words, or the server's status and detail */
} weft_job_problem;

/* What a finished job did. Owned by the job: valid until weft_job_free. */
typedef struct weft_job_output {
    uint64_t items_total;     /* entries read */
    uint64_t items_delivered; /* upload: items the server accepted */
    uint64_t items_failed;    /* upload: malformed entries and items the server rejected */
    const weft_job_problem *problems; /* the first 1000 of them, in input order per file */
    size_t n_problems;
    int flush_result;         /* flush: what weft_flush returned */
} weft_job_output;

/*
 * Blocks until the job is final. Returns 0 (completed), WEFT_ECANCELED (cancelled), or the
 * job's error code (failed: WEFT_EIO, WEFT_EHTTP, ... as the error text says). *out (may be
 * NULL) is set in every case, with what was done before the end.
 */
WEFT_API int weft_job_result(weft_job *job, const weft_job_output **out);

/* Called by weft_job_wait on the waiting thread with a snapshot (borrowed for the call). */
typedef void (*weft_job_progress_fn)(const weft_job_info *info, void *user);

/*
 * Waits for the job to finish, calling on_progress (may be NULL) every poll_interval_s
 * (<= 0: 2.0 seconds) and once more when it is final. timeout_s < 0: no limit. Returns what
 * weft_job_result would, or WEFT_ETIMEDOUT when timeout_s passed first (the job goes on).
 * Returns early the moment the job becomes final.
 */
WEFT_API int weft_job_wait(weft_job *job, double poll_interval_s, double timeout_s,
                           weft_job_progress_fn on_progress, void *user);

/* Cancels the job if it is still running, waits for its thread, frees everything. NULL ok. */
WEFT_API void weft_job_free(weft_job *job);

/* The snapshot as JSON {job_id, job_type, status, progress_percent, current_item, total_items,
 * started_at, finished_at, error} (times and error null when empty). malloc'd; free(). */
WEFT_API char *weft_job_info_to_json(const weft_job_info *info);

/* ---- jobs ---------------------------------------------------------------------------------- */

typedef struct weft_upload_opts {
    uint32_t batch_size; /* items per upsert_batch request; 0: 1000 (the API's limit, also the cap) */
} weft_upload_opts;

/*
 * Uploads the span items of paths (each a JSONL file, a JSON array of items, a JSON object
 * {"items":[...]} or a spool directory) to SGP with weft_sgp_spans_upsert_batch, streaming
 * (memory does not grow with the files). Entries that are not span items are reported with
 * their line and skipped; a batch the server rejects (400, 409, 422) is halved until the
 * rejected items are found, which are reported with their line and the server's detail, and
 * the rest is delivered. Any other failure (the server unreachable or failing after the
 * client's retries) fails the job. The job completes when every well-formed entry got an
 * answer (check items_failed). client is borrowed: it must outlive the job. Returns 0 and
 * *out, WEFT_EINVAL or WEFT_ENOMEM / WEFT_ETHREAD.
 */
WEFT_API int weft_job_upload_spans(struct weft_sgp_client *client, const char *const *paths, size_t n_paths,
                                   const weft_upload_opts *opts, weft_job **out);

/*
 * weft_flush(timeout_ms) on a job thread (timeout_ms 0: no limit), waited in slices of 200 ms
 * so that a cancel takes effect within one. Completed when weft_flush returned 0; failed with
 * its code otherwise (WEFT_ETIMEDOUT, WEFT_ENOTINIT, WEFT_EEXPORT); output.flush_result holds it.
 */
WEFT_API int weft_flush_async(uint32_t timeout_ms, weft_job **out);

#ifdef __cplusplus
}
#endif

#endif
