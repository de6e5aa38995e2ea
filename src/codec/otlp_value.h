/*
 * otlp_value.h — JSON to OTLP AnyValue wire bytes (opentelemetry.proto.common.v1), written
 * straight into a weft__buf, for the hand-written Span writer (otlp_span.c). A codec: no I/O,
 * no state. Export thread only.
 *
 * A value becomes exactly the AnyValue protobuf-c's packer wrote when weft parsed it with
 * jansson and built the message from jansson's tree (tests/support/otlp_ref.c keeps that
 * encoder; tests/fuzz/fuzz_otlp_span.c compares the two): strings, int64 integers, doubles,
 * booleans, null as an empty AnyValue, arrays as ArrayValue, objects as KeyValueList with their
 * members in order (a key given twice keeps its first place and its last value, an empty key
 * is a KeyValue without key), and arrays or objects nested WEFT__OTLP_MAX_DEPTH deep or deeper
 * as their compact JSON text (jansson's json_dumps). Text jansson would refuse — an integer
 * outside int64, a number that overflows a double, "\u0000" in a key, more than 2048 levels —
 * becomes the string of the text as it is, as before. A string holding "\u0000" keeps the NUL
 * (protobuf-c's packer stopped at it).
 *
 * Only the shapes jansson is still used for (deep values, repeated keys, more than 32 members
 * in an object) go through jansson here; the rest is read in one pass.
 */
#ifndef WEFT_OTLP_VALUE_H
#define WEFT_OTLP_VALUE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Arrays and objects at this depth (a record value's top is 0) become their JSON text. */
#define WEFT__OTLP_MAX_DEPTH 32

/* Appends the content of the AnyValue for a record's JSON value text s[0..n) (WEFT__VAL_JSON):
 * "" is the empty AnyValue; true, false and null are recognised by their first byte and
 * length, and a number of up to 63 bytes is read with strtoll, else strtod (so an integer
 * too big for int64 is a double, and 1e999 is infinity); anything else as above. On memory
 * shortage b->oom is set. */
void weft__otlp_value_json(weft__buf *b, const char *s, size_t n);

/* The same for a jansson value at depth `depth` (the GenAI attributes weft builds). */
void weft__otlp_value_jansson(weft__buf *b, const json_t *j, int depth);

/* Appends the string AnyValue of s[0..n) (bytes as given). */
void weft__otlp_value_str(weft__buf *b, const char *s, size_t n);

/* Whether s[0..n) is one JSON value jansson would read (JSON_DECODE_ANY | JSON_ALLOW_NUL). */
bool weft__otlp_json_ok(const char *s, size_t n);

/* Walks the JSON array text s[0..n) (checked with weft__otlp_json_ok): *pos starts at 0; each
 * call gives the next element's text; false after the last, or when s is not an array. */
bool weft__otlp_json_next(const char *s, size_t n, size_t *pos, const char **el, size_t *el_len);

/* A span event as weft_span_add_event writes it into metadata.events: a JSON object with a
 * string "name", an ISO 8601 "timestamp" (stratix_doc.h's reader) and optionally an object
 * "attributes", and no other member. With b NULL, whether s[0..n) is one (tmp: scratch).
 * Else appends the Span.Event message body: time_unix_nano, name, attributes. */
bool weft__otlp_event_json(weft__buf *b, const char *s, size_t n, weft__buf *tmp);

#endif
