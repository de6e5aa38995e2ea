/*
 * sgp.h — a synchronous client for the spans resource of Scale's GenAI Platform (SGP):
 * create (POST /v5/spans), batch (POST /v5/spans/batch), upsert_batch (PUT /v5/spans/batch),
 * retrieve (GET /v5/spans/{id}), update (PATCH /v5/spans/{id}) and search
 * (POST /v5/spans/search) with every filter the API documents, plus an iterator that walks the
 * pages of a search by cursor in either direction (DESIGN.md section 11).
 *
 * Independent of the tracer: nothing here needs weft_init, and a client works the same before,
 * during and after a weft_init/weft_shutdown pair.
 *
 * Threading: a weft_sgp_client is thread-safe. Any number of threads may call any method on one
 * client at the same time (each call uses its own connection, taken from a pool the client
 * keeps so connections are reused). weft_sgp_client_free must not race other calls on the
 * same client. Results (spans, lists) and iterators belong to the caller and are not shared
 * by the client; an iterator is used by one thread at a time.
 *
 * Calls block the calling thread until the answer (or the last retry) arrives: at most
 * (max_retries + 1) × request_timeout_ms plus the waits between attempts.
 *
 * Errors: every fallible call returns 0 or a negative WEFT_E* code (weft.h, weft_strerror) and,
 * when `err` is non-NULL, fills *err (always, also on success: code 0, http_status of the
 * answer). The codes:
 *   WEFT_EINVAL     bad argument (limit outside 1..1000, an item that is not a JSON object,
 *                   NULL where a value is required); no request was made
 *   WEFT_EINSECURE  an API key and a plain http:// base URL to a host that is not loopback;
 *                   refused when the client is created, before anything connects
 *   WEFT_ECONFIG    a base URL that is not http:// or https://, control bytes in the key or account
 *   WEFT_ENOMEM     out of memory
 *   WEFT_EHTTP      the server answered with an HTTP error status (err->http_status, with the
 *                   server's `detail` text in err->detail)
 *   WEFT_ENOTSUP    the server answered 501 Not Implemented: PATCH on an account served by the
 *                   upsert-only tracing service (use weft_sgp_spans_upsert_batch instead)
 *   WEFT_EPROTO     a 2xx answer whose body is not the JSON the API documents
 *   WEFT_EIO        no usable answer: connection refused, name lookup failed, reset or closed
 *                   mid-answer, TLS failure, timeout (err->message says which)
 *
 * Retries (the exporter's rules, DESIGN.md section 7): connect errors, timeouts, a connection
 * reset or closed mid-answer, 408, 429 and 5xx other than 501 are retried up to max_retries
 * times, waiting full-jitter exponential backoff (base 500 ms, cap 30 s) or, when the server
 * sends them, retry-after-ms or Retry-After (seconds or an HTTP date), which take precedence.
 * A server wait longer than max_retry_wait_ms is not waited: the call fails at once with the
 * answer's error and err->retry_after_ms set. 400, 401, 403, 404, 409, 413, 422, 501 and every
 * other status are permanent and never retried. create and batch (POST) are retried like the
 * rest; a create whose answer was lost may then meet 409 for an id the first attempt stored.
 *
 * Secrets: the API key is sent only over https://, or over plain http:// to a loopback host
 * (127.0.0.0/8, ::1, localhost), and then never through a proxy. It is never logged or put in
 * any error text.
 *
 * Pointers: unless a comment says otherwise every pointer argument is *borrowed* (read during
 * the call, copied when kept). Every result a call hands out through an out-parameter is
 * *owned by the caller* and freed with the free function named beside it; every char * inside
 * a result is owned by that result (freed with it), NUL-terminated, and NULL when the server
 * sent no such field (or sent null). JSON values are exposed as compact JSON text.
 */
#ifndef WEFT_SGP_H
#define WEFT_SGP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/weft.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors -------------------------------------------------------------------------------- */

#define WEFT_SGP_DETAIL_MAX 1024
#define WEFT_SGP_MESSAGE_MAX 256

/* What went wrong, filled by every call that takes one (caller-allocated; no free needed). */
typedef struct weft_sgp_error {
    int code;                 /* the call's return value: 0 or a WEFT_E* code */
    int http_status;          /* status of the last answer; 0 when none arrived */
    unsigned attempts;        /* requests made (1 + retries); 0 when none was made */
    uint64_t retry_after_ms;  /* the last answer's server-requested wait (0: none) */
    long item_index;          /* WEFT_EINVAL on an item of a batch: its index; else -1 */
    /* The server's `detail` (a string's text; any other JSON value as JSON text; else the
     * start of the body), printable ASCII, cut to fit; "" when none. */
    char detail[WEFT_SGP_DETAIL_MAX];
    /* One line in weft's words: what failed and why ("POST /v5/spans/search: HTTP 422",
     * "limit must be between 1 and 1000 (got 0)", curl's words for a transport error). */
    char message[WEFT_SGP_MESSAGE_MAX];
} weft_sgp_error;

/* ---- client -------------------------------------------------------------------------------- */

/* https://api.egp.scale.com: SGP_CLIENT_BASE_URL's default, as in the SGP SDKs. */
#define WEFT_SGP_DEFAULT_BASE_URL "https://api.egp.scale.com"

/* 1..1000, default 100: the API's range for `limit`. */
#define WEFT_SGP_LIMIT_DEFAULT 100
#define WEFT_SGP_LIMIT_MAX 1000

/*
 * Client options. A zeroed struct (or NULL) means: everything from the environment, then the
 * defaults. A NULL string field falls back to its environment variable, then to its default;
 * a zero number field means its default. New fields are only ever appended.
 */
typedef struct weft_sgp_options {
    const char *api_key;         /* x-api-key; NULL: SGP_API_KEY; unset: no key is sent */
    const char *account_id;      /* x-selected-account-id; NULL: SGP_ACCOUNT_ID; unset: none */
    const char *base_url;        /* NULL: SGP_CLIENT_BASE_URL, else WEFT_SGP_DEFAULT_BASE_URL;
                                    a trailing '/' is ignored */
    const char *ca_bundle;       /* PEM CA file replacing the system's; NULL: the system's.
                                    TLS peer and host verification are always on */
    uint32_t connect_timeout_ms; /* 0: 10000 */
    uint32_t request_timeout_ms; /* one attempt, connect included; 0: 60000 */
    int32_t max_retries;         /* retries after the first attempt; 0: 4; < 0: none */
    uint32_t max_retry_wait_ms;  /* longest server-requested wait honoured; 0: 60000 */
    const char *user_agent;      /* NULL: "weft/<version>" */
} weft_sgp_options;

typedef struct weft_sgp_client weft_sgp_client;

/*
 * Creates a client. opts may be NULL (environment and defaults). Checks the base URL against
 * the key rule above (WEFT_EINSECURE / WEFT_ECONFIG) without connecting anywhere. On success
 * *out is the new client (free with weft_sgp_client_free); on failure *out is NULL.
 * err may be NULL. Thread-safe; initialises libcurl once per process.
 */
WEFT_API int weft_sgp_client_new(const weft_sgp_options *opts, weft_sgp_client **out,
                                 weft_sgp_error *err);

/* Frees the client and closes its connections. NULL is fine. Must not race other calls on it. */
WEFT_API void weft_sgp_client_free(weft_sgp_client *c);

/* The base URL in use, without a trailing '/'. Static for the client's lifetime. */
WEFT_API const char *weft_sgp_client_base_url(const weft_sgp_client *c);

/* ---- spans --------------------------------------------------------------------------------- */

/*
 * A span as the API returns it (the Span model of the SGP SDKs). As a result, every field is
 * owned by the span; as an input (create, batch, upsert_batch) every field is borrowed and
 * NULL / false means "not sent". The *_json fields hold compact JSON text (an object, except
 * where noted); timestamps are the ISO 8601 text the server sent.
 */
typedef struct weft_sgp_span {
    char *id;
    char *account_id;                 /* result only */
    char *name;
    char *trace_id;
    char *parent_id;                  /* NULL on a root */
    char *group_id;
    char *start_timestamp;
    char *end_timestamp;              /* NULL while in progress */
    char *application_id;             /* filled when a server sends it (not in the v5 Span) */
    char *application_variant_id;
    char *application_interaction_id;
    char *input_json;
    char *output_json;
    char *metadata_json;
    char *expected_json;
    char *status;                     /* "SUCCESS", "ERROR", "CANCELED" */
    char *type;                       /* one of the 25 span types (weft_span_type_name) */
    char *created_by_id;              /* created_by.id; result only */
    char *created_by_type;            /* created_by.type: "user" or "service_account" */
    char *created_by_user_id;         /* older servers' created_by_user_id; result only */
    char *obs_trace_id;               /* W3C trace id (32 hex) weft sends for OpenTelemetry */
    char *obs_span_id;                /* W3C span id (16 hex) */
    bool has_input_tokens;            /* input_tokens: prompt tokens reported at ingest */
    int64_t input_tokens;
    bool has_output_tokens;           /* output_tokens: completion tokens reported at ingest */
    int64_t output_tokens;
    /* Every member of the server's object not mapped above, as one JSON object text; NULL
     * when there are none. As an input, its members are sent too. */
    char *extra_json;
    /* The whole object as the server sent it (compact JSON); result only. */
    char *json;
} weft_sgp_span;

/* Frees a span a call returned (its fields and the struct). NULL is fine. */
WEFT_API void weft_sgp_span_free(weft_sgp_span *span);

/* A page of spans (batch, upsert_batch and search answers). */
typedef struct weft_sgp_span_list {
    weft_sgp_span *items;             /* n items, owned by the list */
    size_t n;
    bool has_more;                    /* search: more spans lie beyond this page, in the
                                         direction it was fetched */
    int64_t total;                    /* the server's `total` (SGP may send 0: not computed) */
    int32_t limit;                    /* the server's `limit` */
} weft_sgp_span_list;

/* Frees a list a call returned (every span in it, then the list). NULL is fine. */
WEFT_API void weft_sgp_span_list_free(weft_sgp_span_list *list);

/* ---- writing spans ------------------------------------------------------------------------- */

/*
 * POST /v5/spans: creates one span. Sent: id, name, trace_id, parent_id, group_id, timestamps,
 * input/output/metadata/expected (each must be a JSON object text), status, type,
 * application_variant_id, application_interaction_id, obs ids and the members of extra_json;
 * the result-only fields are ignored. name, trace_id and start_timestamp are required
 * (WEFT_EINVAL otherwise; the server may refuse more). *out: the span the server stored
 * (free with weft_sgp_span_free); out may be NULL to discard it.
 */
WEFT_API int weft_sgp_spans_create(weft_sgp_client *c, const weft_sgp_span *span,
                                   weft_sgp_span **out, weft_sgp_error *err);

/* POST /v5/spans/batch: creates n spans (1..1000) in one request; fields as for create.
 * *out: the stored spans (free with weft_sgp_span_list_free); out may be NULL. */
WEFT_API int weft_sgp_spans_batch(weft_sgp_client *c, const weft_sgp_span *spans, size_t n,
                                  weft_sgp_span_list **out, weft_sgp_error *err);

/* PUT /v5/spans/batch: creates or replaces n spans (1..1000), keyed by (trace_id, id); an
 * upsert replaces the whole span. Fields as for create. */
WEFT_API int weft_sgp_spans_upsert_batch(weft_sgp_client *c, const weft_sgp_span *spans,
                                         size_t n, weft_sgp_span_list **out,
                                         weft_sgp_error *err);

/*
 * The same three with each item given as JSON text of one span object (for instance a line of
 * weft's JSONL output), sent as it is. An item that is not a JSON object fails the call with
 * WEFT_EINVAL and err->item_index set, before anything is sent.
 */
WEFT_API int weft_sgp_spans_create_json(weft_sgp_client *c, const char *span_json,
                                        weft_sgp_span **out, weft_sgp_error *err);
WEFT_API int weft_sgp_spans_batch_json(weft_sgp_client *c, const char *const *items_json,
                                       size_t n, weft_sgp_span_list **out, weft_sgp_error *err);
WEFT_API int weft_sgp_spans_upsert_batch_json(weft_sgp_client *c, const char *const *items_json,
                                              size_t n, weft_sgp_span_list **out,
                                              weft_sgp_error *err);

/* The mutable fields of PATCH /v5/spans/{id}; NULL leaves a field unchanged. */
typedef struct weft_sgp_span_update {
    const char *name;
    const char *end_timestamp;
    const char *output_json;          /* a JSON object text */
    const char *metadata_json;        /* a JSON object text */
    const char *status;               /* "SUCCESS", "ERROR", "CANCELED" */
} weft_sgp_span_update;

/*
 * PATCH /v5/spans/{span_id}. WEFT_ENOTSUP (http_status 501) on accounts served by the
 * upsert-only tracing service, which has no partial update: use upsert_batch there.
 * *out: the updated span; out may be NULL.
 */
WEFT_API int weft_sgp_spans_update(weft_sgp_client *c, const char *span_id,
                                   const weft_sgp_span_update *upd, weft_sgp_span **out,
                                   weft_sgp_error *err);

/* ---- reading spans ------------------------------------------------------------------------- */

/* GET /v5/spans/{span_id}. An unknown id: WEFT_EHTTP with http_status 404. */
WEFT_API int weft_sgp_spans_retrieve(weft_sgp_client *c, const char *span_id,
                                     weft_sgp_span **out, weft_sgp_error *err);

typedef enum weft_sgp_sort_order {
    WEFT_SGP_SORT_DEFAULT = 0,        /* not sent: the server's default (ascending) */
    WEFT_SGP_SORT_ASC = 1,
    WEFT_SGP_SORT_DESC = 2
} weft_sgp_sort_order;

/*
 * A search. Zero / NULL fields are not sent. A list filter holds any of its values; different
 * filters must all hold. Strings are borrowed for the call (the iterator copies them).
 */
typedef struct weft_sgp_search {
    /* query parameters */
    const char *from_ts;              /* ISO 8601: spans starting at or after */
    const char *to_ts;                /* ISO 8601: spans starting at or before */
    int32_t limit;                    /* 0: 100; else 1..1000 (WEFT_EINVAL outside) */
    weft_sgp_sort_order sort_order;
    const char *sort_by;              /* e.g. "start_timestamp"; NULL: the server's */
    const char *starting_after;       /* cursor: the page after this span id */
    const char *ending_before;        /* cursor: the page before this span id */
    /* body filters */
    const char *const *application_variant_ids; size_t n_application_variant_ids;
    const char *const *excluded_span_ids;       size_t n_excluded_span_ids;
    const char *const *excluded_trace_ids;      size_t n_excluded_trace_ids;
    const char *extra_metadata_json;  /* JSON object: metadata members that must be equal */
    const char *group_id;
    const char *const *names;                   size_t n_names;
    bool parents_only;                /* only spans without a parent_id */
    const char *const *search_texts;            size_t n_search_texts;  /* in input/output */
    const char *const *span_ids;                size_t n_span_ids;
    const char *const *statuses;                size_t n_statuses;
    const char *const *trace_ids;               size_t n_trace_ids;
    const char *const *types;                   size_t n_types;
} weft_sgp_search;

/*
 * POST /v5/spans/search: one page. q may be NULL (no filter, default limit). *out: the page
 * (free with weft_sgp_span_list_free).
 */
WEFT_API int weft_sgp_spans_search(weft_sgp_client *c, const weft_sgp_search *q,
                                   weft_sgp_span_list **out, weft_sgp_error *err);

typedef enum weft_sgp_direction {
    /* From q->starting_after (or the first span) to the last; pages are fetched with
     * starting_after = the id of the last span of the page before. */
    WEFT_SGP_FORWARD = 0,
    /* From q->ending_before (required: the span to walk back from) to the first; pages are
     * fetched with ending_before = the id of the first span of the page before. */
    WEFT_SGP_BACKWARD = 1
} weft_sgp_direction;

typedef struct weft_sgp_span_iter weft_sgp_span_iter;

/*
 * An iterator over every span a search matches, page by page. Copies q (NULL: no filter);
 * makes no request yet. WEFT_EINVAL for a bad limit, or BACKWARD without ending_before.
 * The client must outlive the iterator. Free with weft_sgp_spans_iter_free.
 */
WEFT_API int weft_sgp_spans_iter_new(weft_sgp_client *c, const weft_sgp_search *q,
                                     weft_sgp_direction dir, weft_sgp_span_iter **out,
                                     weft_sgp_error *err);

/*
 * Fetches the next page: 1 and *page set (borrowed: valid until the next call on the iterator
 * or its free; the page's spans are in the server's order), 0 when every page was seen
 * (*page NULL), or a negative code (the iterator stays where it was, so the call may be
 * repeated). Pages are fetched while the server says has_more; an empty page ends the walk.
 */
WEFT_API int weft_sgp_spans_iter_next_page(weft_sgp_span_iter *it,
                                           const weft_sgp_span_list **page,
                                           weft_sgp_error *err);

/*
 * The next span, fetching pages as needed: 1 and *span set (borrowed as above), 0 at the end,
 * or a negative code. FORWARD yields spans in the search's order, BACKWARD in reverse.
 * Do not mix with iter_next_page on one iterator.
 */
WEFT_API int weft_sgp_spans_iter_next(weft_sgp_span_iter *it, const weft_sgp_span **span,
                                      weft_sgp_error *err);

/* Requests made by the iterator so far (pages fetched, retries not counted). */
WEFT_API size_t weft_sgp_spans_iter_pages(const weft_sgp_span_iter *it);

/* Frees the iterator and the page it holds. NULL is fine. */
WEFT_API void weft_sgp_spans_iter_free(weft_sgp_span_iter *it);

#ifdef __cplusplus
}
#endif

#endif
