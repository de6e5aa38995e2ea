/*
 * engine.h — the delivery engine: everything DESIGN.md section 7 asks of an HTTP exporter,
 * written once. An exporter hands the engine a protocol description (weft__engine_proto: what
 * differs between wire protocols — path, method, framing, item limit, how to read an answer)
 * and the engine owns the rest: jobs cut from batches, backoff with full jitter and
 * Retry-After / retry-after-ms, 413 splits with a shrinking byte budget, rejection isolation
 * (drop exactly the items the server names; bisect when it names none), the 401/403 pause with
 * one probe every 30 s, the queue limit, the disk spool hand-off and replay, and the shutdown
 * drain. It is the one place that decides how a batch of an HTTP exporter ends: it alone calls
 * weft__batch_done (or weft__batch_free, for the batches replay reads back from the spool).
 *
 * An HTTP exporter is then: a static const weft__engine_proto, an open op that checks its
 * configuration and calls weft__engine_new, and ops that forward submit/drain/close to
 * weft__engine_submit / weft__engine_drain / weft__engine_free (exporters/sgp.c is the model).
 *
 * Threading: weft__engine_new runs on the thread calling weft_init (before the export thread
 * starts; it only sets up loop handles); every other function, and every callback of the
 * protocol description, runs on the export thread (the loop's thread). Nothing blocks.
 *
 * Statistics (weft_stats): requests, retried, rejected, spooled, replayed, queued,
 * dropped_export, dropped_queue. Each completed record of a submitted batch that is not
 * delivered is counted in exactly one of dropped_export (with rejected when the server refused
 * it) or dropped_queue, or in spooled when the disk spool keeps it.
 */
#ifndef WEFT_ENGINE_H
#define WEFT_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "config.h"
#include "encoding.h"
#include "http.h"
#include "retry.h"

struct uv_loop_s;

typedef struct weft__engine weft__engine;

/* Framing bytes around one request's slice are at most this long each. 512: OTLP's suffix is
 * the packed resource (service.name, telemetry.sdk.*, the user's OTEL_RESOURCE_ATTRIBUTES:
 * about 100 bytes with a short service name) and its prefix holds the scope and schema URL
 * (about 70); SGP's framing is 12 bytes. */
#define WEFT__ENGINE_FRAME_MAX 512

/* The bytes a request body carries before and after its items' slice. */
typedef struct weft__engine_frame {
    char prefix[WEFT__ENGINE_FRAME_MAX];
    size_t prefix_len;
    char suffix[WEFT__ENGINE_FRAME_MAX];
    size_t suffix_len;
} weft__engine_frame;

/* Most item indices a rejection reader may report for one request. */
#define WEFT__ENGINE_MAX_NAMED 1000

/*
 * A wire protocol, as the engine needs to know it. Static: the engine keeps the pointer for its
 * whole life. Every callback receives the ctx given in weft__engine_opts and borrows every
 * pointer it is passed for the duration of the call only. Callbacks are pure as far as the
 * engine is concerned: no I/O, no calls back into the engine.
 */
typedef struct weft__engine_proto {
    const char *name;         /* for log lines: "SGP" */
    weft__encoding encoding;  /* the batch bytes a request carries (and the spool keeps) */
    uint32_t max_items;       /* items per request (the API's limit); 0: no limit */
    /* Fills f with the bytes before and after a slice of slice_len bytes (OTLP's prefix holds
     * length fields that depend on it). Called to size requests as well as to send them, so
     * the lengths must depend on slice_len alone. */
    void (*frame)(void *ctx, size_t slice_len, weft__engine_frame *f);
    /* The verdict for an answer; NULL: weft__retry_classify (DESIGN.md section 7's table). */
    weft__verdict (*classify)(void *ctx, const weft__http_result *r);
    /*
     * A rejection (verdict BISECT) of a request of n_items items: writes to out (room for cap)
     * the positions, 0-based in the request body, of the items the server names as the ones
     * it refuses, and returns how many (any order, repeats allowed; positions >= n_items are
     * ignored). 0: the answer names none, and the engine bisects. NULL: never names any.
     */
    size_t (*rejected)(void *ctx, const weft__http_result *r, size_t n_items, uint32_t *out, size_t cap);
    /* A 2xx of a request of n_items items that accepted only part of it (OTLP's
     * partial_success): returns how many items the server says it refused (counted in
     * rejected), 0 when it took them all. NULL: a 2xx takes everything. */
    size_t (*partial)(void *ctx, const weft__http_result *r, size_t n_items);
    /*
     * One item alone is over the server's limit (a 413 of a request holding only it): appends
     * to out (empty on entry, the engine's) a copy of item[0..len) of at most target bytes with
     * its largest values cut and marked as max_attr_bytes marks them, and returns true; false
     * when it cannot get that small (the engine then drops the item as rejected). NULL: items
     * are never cut.
     */
    bool (*shrink)(void *ctx, const char *item, size_t len, size_t target, weft__buf *out);
    /* Writes the ids of an item as the server knows them, for log lines (NUL-terminated, at
     * most 47 characters each). NULL: the 64-bit ids in hex. */
    void (*ids)(void *ctx, const weft__batch_item *it, char id[48], char trace[48]);
    /*
     * Transforms a request body, compression say: called once for each attempt (retries
     * included), with the parts of the body as framed (prefix, items, suffix). Appends the body
     * to send to out (empty on entry, the engine's: it lives until the attempt's answer or
     * cancellation), sets *content_encoding to the token of its "Content-Encoding" header
     * (static, "gzip") and returns true; false sends the parts as they are (what the hook
     * should do when it fails). Sizes (the byte budget, 413 halving) stay those of the parts.
     * NULL: bodies go as framed.
     */
    bool (*encode_body)(void *ctx, const weft__http_part *parts, size_t n_parts, weft__buf *out,
                        const char **content_encoding);
    /* Writes the server's own words of an answer (NUL-terminated, printable, at most cap
     * bytes, "" for none) for log lines: OTLP's partial_success.error_message out of a
     * protobuf body. NULL: weft__retry_detail of the body (text or JSON). */
    void (*detail)(void *ctx, const weft__http_result *r, char *out, size_t cap);
    /* Appended to the log line of a 401/403 pause: "check SGP_API_KEY and SGP_ACCOUNT_ID". */
    const char *credentials_hint;
} weft__engine_proto;

/* What weft__engine_new needs besides the protocol. Every pointer is borrowed for the call
 * unless said otherwise. */
typedef struct weft__engine_opts {
    const weft__engine_proto *proto; /* static (kept) */
    void *ctx;                       /* passed to the proto's callbacks; kept, the exporter's
                                        to free after weft__engine_free */
    const weft__cfg *cfg;            /* kept: the runtime's configuration, outlives the engine */
    const char *url;                 /* the endpoint, copied */
    const char *method;              /* "PUT" or "POST"; NULL: PUT */
    const char *const *headers;      /* "Name: value" lines, copied (they may hold secrets: the
                                        caller clears its copies) */
    size_t n_headers;
    const char *user_agent;          /* copied; NULL: none */
} weft__engine_opts;

/*
 * Creates an engine on loop (borrowed; it must outlive the engine's handles) with the limits of
 * cfg (max_inflight, max_batch_bytes, max_batch_spans for replay, max_queue_bytes,
 * retry_window_ms, spool_dir / spool_max_bytes, ca_bundle and the timeouts). Opens the disk
 * spool when spool_dir is set (problems turn the spool off, logged, never the engine). Returns
 * 0, WEFT_ENOMEM or WEFT_EIO (libcurl did not start). weft_init's thread.
 */
int weft__engine_new(weft__engine **out, struct uv_loop_s *loop, const weft__engine_opts *o);

/* Takes b (a reference the worker counted for this exporter): it ends in exactly one
 * weft__batch_done, now or later. */
void weft__engine_submit(weft__engine *e, weft__batch *b);

/* The exporter's drain op: true once nothing is held; at or after deadline_ms (uv_now) it
 * cancels what is left and gives it up (to the spool, or counted in dropped_export). */
bool weft__engine_drain(weft__engine *e, uint64_t deadline_ms);

/* Gives up whatever is held, closes the spool and the HTTP client and frees the engine (its uv
 * handles close asynchronously: the loop must run again before it closes). NULL is fine. */
void weft__engine_free(weft__engine *e);

#endif
