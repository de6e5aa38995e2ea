/*
 * stratix_receiver.h — an in-process stand-in for LayerLens Stratix's traces API, for the
 * Stratix client's and exporter's tests: libmicrohttpd on 127.0.0.1, ephemeral port.
 *
 * Serves, under {url}/api/v1 (weft_srx_base_url):
 *   GET  /organizations                                   the key's organization (or a list)
 *   GET  /organizations/{org}/projects                    its projects
 *   POST /organizations/{org}/projects/{p}/traces/upload  {filename, type, size} -> {url, ...}
 *   PUT  {url}/upload-target/{token}                      the presigned target; stores the bytes
 *   POST /organizations/{org}/projects/{p}/traces         {filename} -> [trace ids]
 *   GET  .../traces/{id}, DELETE .../traces/{id}, GET .../traces/sources
 *   GET  .../traces?page&page_size&source&judge_id&status&time_range&search&sort_by&sort_order
 * Every API answer is wrapped as {"status": "success", "data": ...} (unless opts.unwrapped);
 * errors are {"status": "error", "message": "..."} with a 4xx/5xx status.
 *
 * Server rules (the API's, as far as its SDK shows them; the rest is this stand-in's own and
 * documented here): x-api-key must match (401); size at most 50 MiB and type
 * application/json or application/jsonl (400); the PUT must carry that Content-Type (403, as a
 * presigned S3 URL signed for it would) and exactly `size` bytes (400); creating traces parses
 * the uploaded file — a .jsonl file one JSON object per non-empty line, a .json file one object
 * or an array of objects — and stores one trace per document (400 naming the line otherwise).
 * get_many filters: source equal; judge_id among the trace's evaluations; status "evaluated",
 * "not_evaluated", "passed" (every latest evaluation passed), "failed" (one failed); time_range
 * "<N>h", "<N>d" or "<N>w" back from now by created_at; search a case-insensitive substring of
 * id, filename, input or the data's text; sort_by created_at (default), filename or id;
 * sort_order desc (default) or asc; page from 1, page_size 1..500 (400 otherwise).
 *
 * Threading: every function may be called from any thread while the receiver runs; state sits
 * behind one mutex. weft_srx_stop must not race other calls on the same receiver.
 * Pointers: borrowed (copied when kept) unless said otherwise.
 */
#ifndef WEFT_TEST_STRATIX_RECEIVER_H
#define WEFT_TEST_STRATIX_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_srx weft_srx;

/* What a request was, for counting and fault injection. */
typedef enum weft_srx_kind {
    WEFT_SRX_ANY = 0, /* every request (counting); any request (faults) */
    WEFT_SRX_ORGS,
    WEFT_SRX_PROJECTS,
    WEFT_SRX_PRESIGN, /* upload step 1 */
    WEFT_SRX_PUT,     /* upload step 2 */
    WEFT_SRX_CREATE,  /* upload step 3 */
    WEFT_SRX_GET,
    WEFT_SRX_LIST,
    WEFT_SRX_DELETE,
    WEFT_SRX_SOURCES,
    WEFT_SRX_OTHER,
    WEFT_SRX_KIND_COUNT_
} weft_srx_kind;

typedef struct weft_srx_opts {
    const char *api_key;    /* required x-api-key; NULL: "test-key" */
    const char *org_id;     /* NULL: "org-1" */
    const char *project_id; /* NULL: "proj-1" */
    bool orgs_as_list;      /* GET /organizations answers a list (an empty org first) */
    bool projects_apart;    /* the organization lists no projects: GET .../projects must be asked */
    bool unwrapped;         /* answers without the {status, data} wrapper */
    /* The presigned URL's origin: NULL: the receiver's own ("http://127.0.0.1:PORT");
     * "localhost": http://localhost:PORT (the same server, another origin). */
    const char *presign_host;
} weft_srx_opts;

/* Starts the receiver; NULL when it cannot (logged to stderr). opts may be NULL. */
weft_srx *weft_srx_start(const weft_srx_opts *opts);
void weft_srx_stop(weft_srx *s);

/* "http://127.0.0.1:PORT/api/v1", static for the receiver's lifetime. */
const char *weft_srx_base_url(const weft_srx *s);

/* Requests of a kind received (faulted and refused ones included). */
size_t weft_srx_count(weft_srx *s, weft_srx_kind kind);

/* The value of header `name` on the last request of `kind` (as weft_rx_last_header): true when
 * present and fit whole. */
bool weft_srx_last_header(weft_srx *s, weft_srx_kind kind, const char *name, char *out, size_t outlen);

/*
 * The next `count` requests of `kind` are answered `status` with {"status":"error","message":
 * message} (NULL: "injected fault") and a Retry-After of retry_after when non-NULL. status 0
 * closes the connection unanswered instead. count <= 0 cancels.
 */
void weft_srx_fail(weft_srx *s, weft_srx_kind kind, int status, int count, const char *message,
                   const char *retry_after);

/* Stored traces. */
size_t weft_srx_trace_count(weft_srx *s);

/* A deep copy of the stored trace `id` (the receiver's record: API fields plus "source" and
 * "evaluations"), or NULL. The caller json_decrefs it. */
json_t *weft_srx_trace(weft_srx *s, const char *id);

/*
 * Stores a trace directly (for get_many's tests). rec (borrowed) is an object with any of: id
 * (default generated), created_at (default now), filename, data (object), input, source
 * (default "upload"), integration_id, evaluations ([{judge_id, judge_name, judge_version,
 * created_at, passed}], latest last). Returns the trace id (static for the receiver's lifetime)
 * or NULL on a bad record.
 */
const char *weft_srx_seed(weft_srx *s, const json_t *rec);

/* The bytes of the last successful PUT (heap copy the caller frees; *len set), or NULL. */
char *weft_srx_last_upload(weft_srx *s, size_t *len);

#ifdef __cplusplus
}
#endif

#endif
