/*
 * stratix.h — a synchronous client for the `traces` resource of LayerLens Stratix, the platform
 * that evaluates uploaded traces with judges: upload (JSON or JSONL files, at most 50 MB), get,
 * get_many (filters and paging), delete and get_sources.
 *
 * Usable without weft_init: a client is a plain object the caller creates and frees. Every call
 * blocks the calling thread until the API has answered (or the retries are spent).
 *
 * Threading: one client may be used from any number of threads at once; each request runs on
 * its own libcurl handle, and the organization and project resolved on first use are resolved
 * once under a lock. weft_stratix_client_free must not race other calls on the same client.
 *
 * Pointers: every pointer argument is *borrowed* (read during the call, copied when kept) unless
 * its comment says otherwise. Results are heap objects the caller *takes* and frees with the
 * matching _free function (each accepts NULL); every string inside a result is owned by it.
 *
 * Errors: fallible calls return 0 or a negative WEFT_E* code (weft.h), and fill the optional
 * weft_stratix_error (may be NULL) with the HTTP status, the upload step that failed and one
 * printable line saying why. The API key is never part of any message. The codes:
 *   WEFT_EINVAL     bad argument or a file upload refuses (type, size, unreadable); nothing sent
 *   WEFT_ECONFIG    no API key, a base URL that is not http(s), control bytes in the key or ids
 *   WEFT_EINSECURE  plain http:// to a host that is not loopback (the base URL, or the upload URL)
 *   WEFT_EHTTP      the server answered an HTTP error status (err->http_status; 404: no such
 *                   trace), after the retries allowed for it
 *   WEFT_EPROTO     a 2xx answer that is not the JSON the API documents
 *   WEFT_EIO        no usable answer: connection refused, reset, timeout, TLS failure
 *   WEFT_ECANCELED  the upload's progress callback asked to stop
 *   WEFT_ENOMEM     out of memory
 *
 * Security: the key is sent in `x-api-key`, only over https://, or over http:// to a loopback
 * host (then never through a proxy). The presigned upload URL gets the key only when it has the
 * same origin as the base URL. Redirects are never followed. TLS verification is always on.
 */
#ifndef WEFT_STRATIX_H
#define WEFT_STRATIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/weft.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The API's default base URL. */
#define WEFT_STRATIX_DEFAULT_BASE_URL "https://api.layerlens.ai/api/v1"
/* 50 MB (50 * 1024 * 1024 bytes, as the Stratix SDK counts it): the largest file upload takes. */
#define WEFT_STRATIX_MAX_UPLOAD_BYTES (50ull * 1024 * 1024)
/* get_many paging: default and largest page size. */
#define WEFT_STRATIX_DEFAULT_PAGE_SIZE 100
#define WEFT_STRATIX_MAX_PAGE_SIZE 500

typedef struct weft_stratix_client weft_stratix_client;
struct weft_job; /* weft/job.h */

/* Client options. NULL or a zeroed struct means: everything from the environment or defaults. */
typedef struct weft_stratix_opts {
    const char *api_key;         /* NULL: LAYERLENS_STRATIX_API_KEY (required one way or the other) */
    const char *base_url;        /* NULL: LAYERLENS_STRATIX_BASE_URL, else WEFT_STRATIX_DEFAULT_BASE_URL */
    const char *organization_id; /* NULL: LAYERLENS_STRATIX_ORGANIZATION_ID, else GET /organizations */
    const char *project_id;      /* NULL: LAYERLENS_STRATIX_PROJECT_ID, else the organization's first project */
    const char *ca_bundle;       /* CA file for TLS; NULL: the system's */
    uint32_t connect_timeout_ms; /* 0: 10000 */
    uint32_t request_timeout_ms; /* one attempt of one request; 0: 600000 (the SDK's 10 minutes) */
    int max_retries;             /* retries of a transient failure; 0: 2 (the SDK's default); < 0: none */
    uint32_t max_retry_wait_ms;  /* longest wait before a retry, Retry-After included; a server asking
                                    for more ends the retries; 0: 30000 */
} weft_stratix_opts;

/* Which of the three steps of an upload failed (0 outside uploads). */
typedef enum weft_stratix_step {
    WEFT_STRATIX_STEP_NONE = 0,
    WEFT_STRATIX_STEP_PRESIGN = 1, /* POST .../traces/upload {filename, type, size} -> url */
    WEFT_STRATIX_STEP_PUT = 2,     /* PUT the file's bytes to the presigned url */
    WEFT_STRATIX_STEP_CREATE = 3   /* POST .../traces {filename} -> trace ids */
} weft_stratix_step;

/* What went wrong, for the caller to print or inspect. Caller-owned; nothing to free. */
typedef struct weft_stratix_error {
    int code;               /* the call's return code */
    int http_status;        /* status of the last answer; 0 when none arrived (or none was sent) */
    weft_stratix_step step; /* for uploads: the step that failed */
    unsigned attempts;      /* requests made for the failing operation, retries included */
    bool sent;              /* whether any request was sent at all */
    char message[512];      /* one printable line: what failed and why (server's message included) */
} weft_stratix_error;

/* The static name of a step ("request an upload URL", "PUT the file", "create the traces"). */
WEFT_API const char *weft_stratix_step_name(weft_stratix_step step);

/*
 * Creates a client. Sends nothing: the organization and project, when not configured, are
 * resolved by the first call that needs them. Returns 0 and sets *out; WEFT_ECONFIG (no API key,
 * a base URL that is not http(s), control characters in the key or ids), WEFT_EINSECURE (plain
 * http:// to a host that is not loopback), WEFT_ENOMEM, WEFT_EINVAL (out NULL).
 */
WEFT_API int weft_stratix_client_new(weft_stratix_client **out, const weft_stratix_opts *opts,
                                     weft_stratix_error *err);

/* Frees the client (the key's copy is cleared first). NULL is fine. */
WEFT_API void weft_stratix_client_free(weft_stratix_client *c);

/*
 * The organization and project the client works in, resolving them when needed:
 * GET /organizations (the key's organization, or the first of a list that has projects), then
 * its `projects`, or GET /organizations/{org}/projects when the answer does not list them; the
 * first project is used. *org / *project (either may be NULL) point into the client (static for
 * its lifetime). Returns 0, WEFT_EHTTP / WEFT_EIO (the API failed), WEFT_EPROTO (it named no
 * organization or project; err says which) or WEFT_ENOMEM.
 */
WEFT_API int weft_stratix_client_ids(weft_stratix_client *c, const char **org, const char **project,
                                     weft_stratix_error *err);

/* ---- upload -------------------------------------------------------------------------------- */

/* The trace ids created by one upload. Free with weft_stratix_upload_result_free. */
typedef struct weft_stratix_upload_result {
    char **trace_ids;
    size_t n_trace_ids;
    char *filename; /* the name the file was uploaded as (its base name) */
    uint64_t bytes; /* bytes sent in step 2 */
} weft_stratix_upload_result;

/* Upload progress: step 1..3, and in step 2 the bytes sent of the file's size. Runs on the
 * calling thread; returning false cancels the upload (it then fails with WEFT_ECANCELED). */
typedef bool (*weft_stratix_progress_fn)(void *user, weft_stratix_step step, uint64_t sent, uint64_t total);

/*
 * Uploads the file at path (a .json or .jsonl file of at most WEFT_STRATIX_MAX_UPLOAD_BYTES)
 * in the API's three steps. The file's name, type and size are checked before any request is
 * sent: a missing or unreadable file, another extension or a bigger file returns WEFT_EINVAL
 * with err->sent false. The size sent in step 1 is the size of the file as opened, and exactly
 * that many bytes are sent in step 2. on_progress may be NULL.
 * Returns 0 and sets *out (taken); WEFT_EHTTP, WEFT_EIO or WEFT_EPROTO when a step failed
 * (err->step says which and err->message why: "upload step N of 3 (...) failed: ...", with the
 * HTTP status and the server's message, or the transport error), WEFT_EINSECURE when the upload
 * URL is plain http:// to a host that is not loopback, WEFT_ECANCELED, plus the codes of
 * weft_stratix_client_ids.
 * Retries: steps 1 and 2 on 408, 429, 5xx and transport errors; step 3, which is not
 * idempotent, only where the server cannot have created anything (connection refused, 429, 503).
 */
WEFT_API int weft_stratix_upload(weft_stratix_client *c, const char *path,
                                 weft_stratix_progress_fn on_progress, void *user,
                                 weft_stratix_upload_result **out, weft_stratix_error *err);

WEFT_API void weft_stratix_upload_result_free(weft_stratix_upload_result *r);

/*
 * The same upload as a job (weft/job.h) of type "stratix_upload", on a thread of its own. The
 * file is checked first, on the calling thread (WEFT_EINVAL, err says why, no job). The job's
 * total_items and current_item count the file's bytes (current_item: bytes sent in step 2);
 * it is `running` through steps 1 and 2 and `processing` in step 3; weft_job_cancel stops it at
 * the next progress point (the start of step 1 or 3, or during the PUT), and the job's error
 * holds err->message when a step fails. c is borrowed: it must outlive the job. Returns 0 and
 * *out (free with weft_job_free), WEFT_EINVAL, WEFT_ENOMEM or WEFT_ETHREAD.
 */
WEFT_API int weft_stratix_upload_async(weft_stratix_client *c, const char *path, struct weft_job **out,
                                       weft_stratix_error *err);

/*
 * Blocks until an upload job is final. Returns what weft_job_result returns (0 when completed);
 * on 0 sets *out to the trace ids (owned by the job: valid until weft_job_free), else *out is
 * NULL. WEFT_EINVAL when job is not a "stratix_upload" job.
 */
WEFT_API int weft_stratix_upload_job_result(struct weft_job *job, const weft_stratix_upload_result **out);

/* ---- traces -------------------------------------------------------------------------------- */

/* One of a trace's latest evaluations. */
typedef struct weft_stratix_evaluation_summary {
    char *judge_id;
    char *judge_name;    /* NULL when absent */
    int64_t judge_version;
    bool has_judge_version;
    char *created_at;    /* ISO 8601; NULL when absent */
    int passed;          /* 1 passed, 0 failed, -1 unknown (absent or null) */
} weft_stratix_evaluation_summary;

/* A trace (Trace / TraceWithEvaluations of the API). Free with weft_stratix_trace_free when it
 * came from weft_stratix_get; traces inside a weft_stratix_traces belong to it. */
typedef struct weft_stratix_trace {
    char *id;
    char *organization_id;
    char *project_id;
    char *created_at;     /* ISO 8601 */
    char *filename;       /* NULL when absent */
    char *data;           /* the trace document as compact JSON text; "{}" when absent */
    char *input;          /* NULL when absent */
    char *integration_id; /* NULL when absent */
    int64_t evaluations_count;                          /* get_many only; 0 otherwise */
    weft_stratix_evaluation_summary *last_evaluations; /* get_many only */
    size_t n_last_evaluations;
} weft_stratix_trace;

/*
 * Fetches one trace: GET .../traces/{id}. Returns 0 and sets *out (taken); WEFT_EINVAL (id NULL
 * or empty), WEFT_EHTTP (err->http_status 404 when there is no such trace), WEFT_EIO,
 * WEFT_EPROTO, WEFT_ENOMEM.
 */
WEFT_API int weft_stratix_get(weft_stratix_client *c, const char *id, weft_stratix_trace **out,
                              weft_stratix_error *err);

WEFT_API void weft_stratix_trace_free(weft_stratix_trace *t);

/* get_many's query. Zero / NULL fields are not sent (the server's defaults apply). */
typedef struct weft_stratix_query {
    int page;               /* 1-based; 0: 1 */
    int page_size;          /* 1..500; 0: 100 */
    const char *source;     /* e.g. "upload" */
    const char *judge_id;
    const char *status;     /* evaluation status */
    const char *time_range; /* e.g. "7d", "24h" */
    const char *search;
    const char *sort_by;    /* e.g. "created_at" */
    const char *sort_order; /* "asc" or "desc" */
} weft_stratix_query;

/* One page of traces (TracesResponse). */
typedef struct weft_stratix_traces {
    weft_stratix_trace *traces;
    size_t n_traces;
    int64_t count;       /* traces in this page */
    int64_t total_count; /* traces matching the query */
} weft_stratix_traces;

/*
 * Lists traces: GET .../traces?page=&page_size=&source=... q may be NULL (first page of 100).
 * Returns 0 and sets *out (taken); WEFT_EINVAL (page < 0, page_size < 0 or > 500, sort_order
 * other than asc/desc; nothing sent), WEFT_EHTTP (the server refused the query, e.g. a
 * time_range it does not know), WEFT_EIO, WEFT_EPROTO, WEFT_ENOMEM.
 */
WEFT_API int weft_stratix_get_many(weft_stratix_client *c, const weft_stratix_query *q,
                                   weft_stratix_traces **out, weft_stratix_error *err);

WEFT_API void weft_stratix_traces_free(weft_stratix_traces *p);

/* Deletes a trace: DELETE .../traces/{id}. Returns 0, WEFT_EINVAL, WEFT_EHTTP (404: no such
 * trace), WEFT_EIO. */
WEFT_API int weft_stratix_delete(weft_stratix_client *c, const char *id, weft_stratix_error *err);

/* The project's trace sources. */
typedef struct weft_stratix_sources {
    char **sources;
    size_t n_sources;
} weft_stratix_sources;

/* GET .../traces/sources. Returns 0 and sets *out (taken); WEFT_EHTTP, WEFT_EIO, WEFT_EPROTO,
 * WEFT_ENOMEM. */
WEFT_API int weft_stratix_get_sources(weft_stratix_client *c, weft_stratix_sources **out,
                                      weft_stratix_error *err);

WEFT_API void weft_stratix_sources_free(weft_stratix_sources *s);

#ifdef __cplusplus
}
#endif

#endif
