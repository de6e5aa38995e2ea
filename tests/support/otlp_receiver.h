/*
 * otlp_receiver.h — an in-process OTLP/HTTP trace receiver (an OpenTelemetry collector's
 * `POST /v1/traces`, protobuf bodies) for the otlp exporter's tests and benches.
 *
 * It listens on 127.0.0.1 only, on an ephemeral port; accepts `Content-Type:
 * application/x-protobuf` bodies, gzip-compressed ones too (`Content-Encoding: gzip`); decodes
 * each with the code protoc-c generated from proto/ and stores every span with the resource
 * and scope it came under; answers an ExportTraceServiceResponse. Faults on demand: any
 * status with Retry-After (503, 429, 400, ...), partial success (rejected_spans and
 * error_message), dropped connections. Bodies it cannot decode are answered 400, other content
 * types 415, other paths 404, other methods 405.
 *
 * Threading: every function may be called from any thread while the receiver runs; the state
 * sits behind one mutex. weft_orx_stop must not race other calls on the same receiver. No
 * global state: several receivers may run at once.
 *
 * Pointers: arguments are borrowed (copied when kept) unless said otherwise.
 */
#ifndef WEFT_TEST_OTLP_RECEIVER_H
#define WEFT_TEST_OTLP_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#ifdef __cplusplus
extern "C" {
#endif

#define WEFT_ORX_PATH "/v1/traces"

typedef struct weft_orx weft_orx;

typedef Opentelemetry__Proto__Trace__V1__Span weft_orx_pb_span;
typedef Opentelemetry__Proto__Common__V1__AnyValue weft_orx_pb_value;
typedef Opentelemetry__Proto__Common__V1__KeyValue weft_orx_pb_kv;

/* Starts a receiver on 127.0.0.1 with an ephemeral port; NULL when it cannot (logged to
 * stderr). Free with weft_orx_stop (NULL is fine). */
weft_orx *weft_orx_start(void);
void weft_orx_stop(weft_orx *rx);

/* "http://127.0.0.1:PORT" (OTEL_EXPORTER_OTLP_ENDPOINT), no trailing slash; static for the
 * receiver's lifetime. */
const char *weft_orx_url(const weft_orx *rx);

/* ---- what was received ---------------------------------------------------------------------- */

/* Spans stored (every accepted span, repeats included: OTLP has no upsert). */
size_t weft_orx_span_count(weft_orx *rx);
/* Requests that reached the handler, faulted and dropped ones included. */
size_t weft_orx_requests(weft_orx *rx);
/* Answers sent with this status; 0 counts connections dropped on purpose. */
size_t weft_orx_status_count(weft_orx *rx, int status);
/* Requests that came gzip-compressed and inflated cleanly. */
size_t weft_orx_gzip_requests(weft_orx *rx);

/* One stored span, decoded afresh for the caller (owned: weft_orx_span_free), with the
 * resource and instrumentation scope of the ResourceSpans / ScopeSpans it arrived in (NULL
 * when the request had none). */
typedef struct weft_orx_span {
    weft_orx_pb_span *span;
    Opentelemetry__Proto__Resource__V1__Resource *resource;
    Opentelemetry__Proto__Common__V1__InstrumentationScope *scope;
} weft_orx_span;

/* The i-th stored span in arrival order; false when i is out of range. */
bool weft_orx_get(weft_orx *rx, size_t i, weft_orx_span *out);
/* The first stored span named name; false when none. */
bool weft_orx_find(weft_orx *rx, const char *name, weft_orx_span *out);
void weft_orx_span_free(weft_orx_span *s);

/* The attribute key among n attributes, or NULL (borrowed from them). */
const weft_orx_pb_value *weft_orx_attr(weft_orx_pb_kv *const *attrs, size_t n, const char *key);
/* Lower-case hex of an id's bytes into out (2 * len + 1 bytes); "" for an empty id. */
void weft_orx_hex(const ProtobufCBinaryData *id, char *out);

/* Copies the value of request header `name` (case-insensitive) of the last request into out
 * (NUL-terminated, cut to outlen - 1). False when absent (out is "") or cut. */
bool weft_orx_last_header(weft_orx *rx, const char *name, char *out, size_t outlen);

/* The body of the last request that decoded as an ExportTraceServiceRequest: its bytes on the
 * wire (compressed when it came gzip-encoded) and decoded (inflated). 0 and 0 before any. */
void weft_orx_last_body_len(weft_orx *rx, size_t *wire, size_t *decoded);

/* Forgets stored spans, counters, headers and faults. */
void weft_orx_reset(weft_orx *rx);

/* ---- faults (for requests whose body completes after the call) ------------------------------ */

/* The next count requests are answered status (body: a short text), with a Retry-After
 * header when retry_after is non-NULL. Nothing of them is stored. count <= 0 cancels. */
void weft_orx_fail_next(weft_orx *rx, int status, int count, const char *retry_after);
/* The next count requests are answered 200 with partial_success {rejected_spans, message};
 * the last `rejected` spans of each such request are not stored. */
void weft_orx_partial_next(weft_orx *rx, int count, int64_t rejected, const char *message);
/* The next count requests have their connection closed unanswered once the body is read. */
void weft_orx_drop_next(weft_orx *rx, int count);

#ifdef __cplusplus
}
#endif

#endif
