/*
 * traceparent.h — the W3C Trace Context headers (https://www.w3.org/TR/trace-context/):
 * `traceparent` parsed and written, `tracestate` validated. A pure codec: no I/O, no state,
 * no allocation; any thread.
 *
 * traceparent = version "-" trace-id "-" parent-id "-" trace-flags, lower-case hex only:
 *  - version 00: exactly 55 characters; version ff is invalid; any other version (a future
 *    one) is read as version 00's four fields and may carry more fields after a "-" at
 *    position 55, which are ignored (the specification's rule for higher versions);
 *  - an all-zero trace-id or parent-id is invalid;
 *  - optional whitespace (space, tab) around the whole value is ignored, as an HTTP parser
 *    strips it from a header value.
 * weft always writes version 00.
 *
 * tracestate = list of at most 32 members "key=value" separated by "," with optional
 * whitespace around each ","; empty members are allowed and not counted. key is a simple key
 * (lcalpha, then up to 255 of lcalpha, digits, "_-*\/") or tenant@system (tenant: lcalpha or
 * digit then up to 240 more; system: lcalpha then up to 13 more). value: 1 to 256 printable
 * ASCII characters other than "," and "=", the last not a space. A key repeated makes the
 * whole header invalid (discarding it is what the specification allows). A valid header is
 * kept verbatim.
 */
#ifndef WEFT_TRACEPARENT_H
#define WEFT_TRACEPARENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEFT__TRACEPARENT_LEN 55      /* "00-" 32 "-" 16 "-" 2 */
#define WEFT__TRACESTATE_MAX_MEMBERS 32

typedef struct weft__traceparent {
    uint64_t trace_hi, trace_lo; /* the 128-bit trace-id, most significant half first */
    uint64_t span_id;            /* parent-id: the caller's span */
    uint8_t version;             /* as received; 0 when written by weft */
    uint8_t flags;               /* trace-flags; bit 0 (0x01) is "sampled" */
} weft__traceparent;

#define WEFT__TRACEPARENT_SAMPLED 0x01u

/* Parses s[0..len). Returns true and fills *out when the header is valid (rules above);
 * false (out untouched) otherwise. s may be NULL when len is 0. */
bool weft__traceparent_parse(const char *s, size_t len, weft__traceparent *out);

/* Writes the version-00 text of tp (its version field is ignored) into out: 55 characters
 * and a NUL, so out has room for WEFT__TRACEPARENT_LEN + 1 bytes. Returns 55. */
size_t weft__traceparent_format(char *out, const weft__traceparent *tp);

/* True when s[0..len) is a valid tracestate value (rules above; an empty or all-whitespace
 * value is not: there is nothing to keep). *members (may be NULL) gets the member count. */
bool weft__tracestate_valid(const char *s, size_t len, size_t *members);

#endif
