/*
 * otlp.h — span records to OTLP/HTTP protobuf (OpenTelemetry protocol, opentelemetry-proto
 * v1), through the code protoc-c generates from proto/. A codec: no I/O. Export thread only
 * (tests call it from their own thread, one at a time).
 *
 * Each record is encoded once as one `Span` message (weft__otlp_encode_span, the
 * WEFT__ENC_OTLP encoding), its wire bytes written by hand (otlp_span.c, otlp_value.c: speed;
 * tests/fuzz/fuzz_otlp_span.c checks them against protobuf-c's packer byte for byte); a
 * request body is those bytes wrapped in ResourceSpans / ScopeSpans with the process's
 * resource and weft's scope, packed once by protobuf-c (weft__otlp_frame in place;
 * weft__otlp_request, with protobuf-c packing the spans as already-encoded `spans` fields), so
 * no span is encoded twice.
 *
 * Mapping (README, "Send to an OpenTelemetry collector"): trace and span ids are the W3C ids
 * SGP receives as obs_trace_id / obs_span_id; the parent is the local parent or the remote
 * one (weft_span_begin_remote); times are Unix nanoseconds; ERROR status carries
 * metadata.error.message; span kind SERVER for a span joined to a remote parent, CLIENT for
 * COMPLETION and EXTERNAL_ENDPOINT, INTERNAL otherwise; every input/output/metadata key is an
 * attribute "input.<key>" / "output.<key>" / "metadata.<key>" (objects as key-value lists,
 * arrays as arrays); GenAI semantic-convention attributes (WEFT__OTLP_SEMCONV_VERSION) are
 * added from the RAG, generation, usage and message fields; metadata.events, when it holds
 * only events as weft_span_add_event writes them, becomes Span.events (name, time, attributes)
 * instead of an attribute.
 */
#ifndef WEFT_OTLP_H
#define WEFT_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "encode.h"
#include "record.h"

/* The OpenTelemetry semantic conventions release whose GenAI attributes weft writes. */
#define WEFT__OTLP_SEMCONV_VERSION "1.41.0"
#define WEFT__OTLP_SCHEMA_URL "https://opentelemetry.io/schemas/" WEFT__OTLP_SEMCONV_VERSION

/* Appends r's item to b: one complete ScopeSpans `spans` field — its tag, the Span's length
 * as a varint, the packed Span — so that items laid end to end are a valid run of that
 * repeated field and go into a request without being decoded or copied. Returns WEFT__JSON_*
 * flags (repairs made); on memory shortage b->oom is set. */
unsigned weft__otlp_encode_span(weft__buf *b, const weft__rec *r, const weft__encode_opts *o);

/* The Span inside one item (its first bytes): false when the length prefix is malformed or
 * longer than len. */
bool weft__otlp_item_span(const char *item, size_t len, const uint8_t **span, size_t *span_len);

/* The resource every request carries: service.name, the telemetry.sdk.* attributes, and the
 * user's resource attributes. Owned by its creator; built once (weft__otlp_resource_new). */
typedef struct weft__otlp_resource weft__otlp_resource;

/* service_name: OTEL_SERVICE_NAME (NULL or "": service.name from attributes, else
 * "unknown_service"); attributes: OTEL_RESOURCE_ATTRIBUTES, "k=v,k2=v2" with
 * percent-encoded values (NULL: none). A malformed member is skipped and counted in
 * *n_bad (may be NULL). NULL when memory is short. */
weft__otlp_resource *weft__otlp_resource_new(const char *service_name, const char *attributes, size_t *n_bad);
void weft__otlp_resource_free(weft__otlp_resource *res);
/* The service.name the resource carries (static for its lifetime). */
const char *weft__otlp_resource_service(const weft__otlp_resource *res);

/* Appends to out one ExportTraceServiceRequest holding the items in items[0..len) (any
 * number laid end to end, as weft__otlp_encode_span wrote them) under res and the weft scope.
 * False when memory is short or an item is malformed (out unchanged). */
bool weft__otlp_request(weft__buf *out, const weft__otlp_resource *res, const char *items, size_t len);

/* The request body for a slice of items as three pieces, for a sender that sends the slice in
 * place: prefix (written to prefix, returned length, at most weft__otlp_frame_prefix_len(res,
 * slice_len) bytes: a few tags and lengths and the scope), the slice, and the suffix (the
 * resource; written to suffix when non-NULL, its length to *suffix_len, the same for every
 * slice). prefix + slice + suffix decodes as the request weft__otlp_request builds. */
size_t weft__otlp_frame_prefix_len(const weft__otlp_resource *res, size_t slice_len);
size_t weft__otlp_frame_suffix_len(const weft__otlp_resource *res);
size_t weft__otlp_frame(const weft__otlp_resource *res, size_t slice_len, uint8_t *prefix, uint8_t *suffix,
                        size_t *suffix_len);

/* Appends the gzip (RFC 1952) form of in[0..n) to out. False on a zlib or memory failure. */
bool weft__otlp_gzip(weft__buf *out, const void *in, size_t n);
/* The same for the concatenation of count pieces in[k][0..n[k]) (a request's prefix, items and
 * suffix), read in place. */
bool weft__otlp_gzipv(weft__buf *out, const void *const *in, const size_t *n, size_t count);

/* Reads an ExportTraceServiceResponse body: *rejected gets partial_success.rejected_spans
 * (0 when absent) and msg its error_message (NUL-terminated, cut to msg_len - 1; "" when
 * absent). An empty body is a full success. False when the body does not decode. */
bool weft__otlp_response_parse(const void *body, size_t len, int64_t *rejected, char *msg, size_t msg_len);

#endif
