/*
 * receiver.h — an in-process HTTP receiver that imitates Scale GenAI Platform's span ingestion
 * endpoint (`PUT /v5/spans/batch`, upsert_batch) for weft's delivery tests and benches.
 *
 * It listens on 127.0.0.1 only, on an ephemeral port, enforces the server rules of DESIGN.md
 * section 4 (a rejected batch stores nothing), stores accepted spans keyed by (trace_id, id) with
 * the server's upsert rule (a completed span is kept over an in-progress one), and injects faults
 * on demand (status codes with Retry-After, outages, 413, poisoned spans, slow answers, dropped
 * connections, a rate cap).
 *
 * Threading: every function may be called from any thread while the receiver runs, including
 * while requests are being served; the receiver's state sits behind one mutex. weft_rx_stop must
 * not race any other call on the same receiver. There is no global state, so several receivers
 * may run at once.
 *
 * Pointers: every pointer argument is *borrowed* (copied when kept) unless said otherwise.
 */
#ifndef WEFT_TEST_RECEIVER_H
#define WEFT_TEST_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The endpoint path, appended to weft_rx_url() by clients. */
#define WEFT_RX_PATH "/v5/spans/batch"

/*
 * The rest of the spans resource (for the read-side clients), on stored spans:
 *  - POST /v5/spans: create one span (validated as a batch item; an id is generated when
 *    absent; 409 when (trace_id, id) is stored already); answers the stored span.
 *  - POST /v5/spans/batch: as PUT (create or replace), for the exporter's tests' sake.
 *  - GET /v5/spans/{id}: the stored span with that id (any trace), else 404 "Span not found".
 *  - PATCH /v5/spans/{id}: name, end_timestamp, output, metadata, status (any other member:
 *    422); 501 while weft_rx_set_patch_unsupported is on.
 *  - POST /v5/spans/search: query limit (1..1000, default 100), sort_order (asc, desc),
 *    sort_by (start_timestamp only), from_ts / to_ts (start_timestamp within, inclusive;
 *    from after to: 422), starting_after / ending_before (a stored span id; keyset paging on
 *    (start_timestamp, trace_id, id)); body filters application_variant_ids,
 *    excluded_span_ids, excluded_trace_ids, extra_metadata (metadata members equal), group_id,
 *    names, parents_only, search_texts (case-insensitive substring of any string inside input
 *    or output), span_ids, statuses (an absent status is SUCCESS), trace_ids, types; an
 *    unknown filter or a wrong type is 422. Answers {object:"list", items, limit, total
 *    (every match), has_more (more beyond the page in its direction)}.
 * Answered spans carry "object":"span", "account_id" (the request's x-selected-account-id,
 * else WEFT_RX_ACCOUNT) and a "created_by" identity unless the stored item has them.
 */
#define WEFT_RX_SPANS_PATH "/v5/spans"
#define WEFT_RX_SEARCH_PATH "/v5/spans/search"
#define WEFT_RX_ACCOUNT "rx-account"
#define WEFT_RX_SEARCH_DEFAULT_LIMIT 100

/* 1000: the API's limit on items per request; one more is answered 422. */
#define WEFT_RX_MAX_ITEMS 1000

/* Bodies above this are always answered 413, whatever weft_rx_set_max_body says (256 MiB). */
#define WEFT_RX_HARD_MAX_BODY ((size_t)256 << 20)

typedef struct weft_rx weft_rx;

/* Start options; NULL or a zeroed struct means: no API key check, store spans, no body limit. */
typedef struct weft_rx_opts {
    const char *api_key; /* when set, x-api-key must equal it, else 401; copied */
    bool discard;        /* count items with a byte scan, store nothing, answer {"items":[]} */
    size_t max_body;     /* initial weft_rx_set_max_body value; 0: only the hard limit */
    /* Both set: serve HTTPS with this certificate and private key (PEM text; copied), and
     * weft_rx_url starts with https://. The certificate must name 127.0.0.1 for a client that
     * verifies it. */
    const char *tls_cert_pem, *tls_key_pem;
} weft_rx_opts;

/*
 * Starts a receiver on 127.0.0.1 with an ephemeral port. opts is borrowed (NULL: defaults).
 * Returns NULL when the server cannot start (logged to stderr). Free with weft_rx_stop.
 */
weft_rx *weft_rx_start(const weft_rx_opts *opts);

/* Stops the server (waking any delayed answer), then frees everything. NULL is fine. */
void weft_rx_stop(weft_rx *rx);

/* Base URL "http://127.0.0.1:PORT" (https:// when serving TLS), no trailing slash; static for
 * the receiver's lifetime. */
const char *weft_rx_url(const weft_rx *rx);

/* The bound port. */
unsigned weft_rx_port(const weft_rx *rx);

/* ---- what was received ------------------------------------------------------------------- */

/* Distinct stored spans (distinct (trace_id, id) keys). */
size_t weft_rx_count(weft_rx *rx);

/* Stored spans that are completed (carry a non-null end_timestamp). */
size_t weft_rx_completed(weft_rx *rx);

/*
 * A deep copy of the stored item for (trace_id, id), or NULL when absent. The caller owns the
 * returned reference (json_decref it).
 */
json_t *weft_rx_get(weft_rx *rx, const char *trace_id, const char *id);

/* How many times (trace_id, id) was accepted (0 when never), counting kept-over upserts. */
size_t weft_rx_span_upserts(weft_rx *rx, const char *trace_id, const char *id);

/*
 * Called once per stored span with the item (borrowed for the call only: json_incref to keep it,
 * never modify it), the number of upserts of that key, and whether it is completed.
 */
typedef void (*weft_rx_each_fn)(const json_t *item, size_t upserts, bool completed, void *ud);

/*
 * Calls fn for every stored span, in no particular order, on a snapshot taken under the lock;
 * fn runs without the lock held, so it may call other weft_rx_* functions.
 */
void weft_rx_foreach(weft_rx *rx, weft_rx_each_fn fn, void *ud);

/* Items accepted in 200 answers, repeats included; in discard mode, the items counted. */
size_t weft_rx_upserts(weft_rx *rx);

/*
 * Spans whose first stored copy arrived while their parent (parent_id, same trace_id) was not
 * stored: neither by an earlier request nor earlier in the same request's items (a batch is
 * stored in item order). Roots never count; a span counts at most once.
 */
size_t weft_rx_children_before_parent(weft_rx *rx);

/* Every request that reached the handler, rejected, faulted and dropped ones included. */
size_t weft_rx_requests(weft_rx *rx);

/* Answers sent with this status; status 0 counts connections dropped on purpose. */
size_t weft_rx_status_count(weft_rx *rx, int status);

/* The most items seen in one request (any answer) and the largest body received, in bytes. */
size_t weft_rx_max_items_seen(weft_rx *rx);
size_t weft_rx_max_body_seen(weft_rx *rx);

/*
 * Copies the value of request header `name` (case-insensitive) of the last request received
 * into out (NUL-terminated, truncated to outlen - 1 bytes). Returns true when the header was
 * present and fit whole; false when absent (out is then "") or truncated.
 */
bool weft_rx_last_header(weft_rx *rx, const char *name, char *out, size_t outlen);

/*
 * Copies the "detail" of the last non-2xx answer into out (as weft_rx_last_header). Returns
 * false when none was sent since start or reset.
 */
bool weft_rx_last_detail(weft_rx *rx, char *out, size_t outlen);

/* Forgets stored spans, counters, recorded headers and every injected fault: as just started. */
void weft_rx_reset(weft_rx *rx);

/* ---- fault injection (each takes effect for requests whose body completes after the call) - */

/*
 * The next `count` requests are answered `status` with {"detail":"injected fault"} and, when
 * retry_after is non-NULL, a Retry-After header with that text ("1", an HTTP-date, ...).
 * count <= 0 cancels a pending failure.
 */
void weft_rx_fail_next(weft_rx *rx, int status, int count, const char *retry_after);

/* When ms > 0, injected failures and outage answers also carry `retry-after-ms: <ms>`. */
void weft_rx_set_retry_after_ms(weft_rx *rx, unsigned ms);

/* While on, every request is answered 503 (with the outage Retry-After, when set). */
void weft_rx_set_outage(weft_rx *rx, bool on);

/* Retry-After text sent with outage answers; NULL: none. */
void weft_rx_set_outage_retry_after(weft_rx *rx, const char *retry_after);

/*
 * Bodies longer than `bytes` are answered 413 without being parsed (0: only the hard limit).
 * A request announcing a larger Content-Length with Expect: 100-continue is refused before its
 * body is sent; otherwise the body is read and thrown away, so the connection stays usable.
 */
void weft_rx_set_max_body(weft_rx *rx, size_t bytes);

/*
 * Any batch holding an item whose id is span_id is answered 422 naming it, and nothing of it is
 * stored (the real API rejects the whole batch). Several ids may be poisoned; NULL clears all.
 */
void weft_rx_poison(weft_rx *rx, const char *span_id);

/*
 * When on, a batch holding poisoned spans is answered 422 with FastAPI's validation-error list
 * naming every one of them by position, as SGP's OpenAPI declares for 422:
 * {"detail":[{"type":"value_error","loc":["body","items",I,"id"],"msg":"...","input":ID},...]}.
 * Off (the default): {"detail":"items[I] (id '...'): ... (poisoned span)"}, naming the first.
 */
void weft_rx_set_list_rejections(weft_rx *rx, bool on);

/* Every answer waits `ms` first (a slow server); 0: none. weft_rx_stop cuts the wait short. */
void weft_rx_set_delay_ms(weft_rx *rx, unsigned ms);

/* The next `count` requests have their connection closed once the body is read, unanswered. */
void weft_rx_drop_next(weft_rx *rx, int count);

/*
 * When spans_per_sec > 0, a request whose items would take the current one-second window past
 * it is answered 429 with Retry-After: 1 (the first request of a window always passes, so one
 * oversized batch cannot starve). 0: no cap.
 */
void weft_rx_set_capacity(weft_rx *rx, unsigned spans_per_sec);

/* While on, PATCH /v5/spans/{id} is answered 501, as on accounts served by the upsert-only
 * tracing service. */
void weft_rx_set_patch_unsupported(weft_rx *rx, bool on);

/* The next `count` requests (any route) are answered 200 with a well-framed body that is JSON
 * cut short (not parseable). */
void weft_rx_malformed_next(weft_rx *rx, int count);

/* The next `count` requests get a 200 status line, headers announcing a whole body, half of
 * it, and then the connection is closed (counted as status 0, like a drop). */
void weft_rx_cut_next(weft_rx *rx, int count);

#ifdef __cplusplus
}
#endif

#endif
