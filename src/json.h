/*
 * json.h — the JSON writer, UTF-8 repair and validation, and the fixed-format text weft puts on
 * the wire (UUIDs, W3C ids, ISO 8601 timestamps). A codec: no I/O, no global state, no
 * allocation except growth of the caller's weft__buf. Used on the export thread only.
 *
 * Everything written here is valid JSON and valid UTF-8 whatever bytes come in: invalid UTF-8
 * sequences (including overlongs, surrogates and code points above U+10FFFF) and NUL bytes are
 * replaced by U+FFFD, one replacement per maximal invalid subpart (Unicode's recommended
 * practice, as in WHATWG's decoder).
 */
#ifndef WEFT_JSON_H
#define WEFT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Flags returned by weft__json_str. */
#define WEFT__JSON_REPAIRED 1u  /* invalid UTF-8 or NUL replaced by U+FFFD */
#define WEFT__JSON_TRUNCATED 2u /* content cut at max_bytes and marked */

/* Writes s[0..len) as a JSON string literal, quotes included. Escapes '"', '\\' and control
 * characters (\n \r \t \b \f, others \u00XX); repairs invalid UTF-8 and NUL (see above).
 * max_bytes > 0: when the repaired content is longer than max_bytes, it is cut at the last
 * character boundary at or before max_bytes and "…[truncated N bytes]" is appended, N being
 * the number of input bytes left out. Returns a mask of WEFT__JSON_* flags. */
unsigned weft__json_str(weft__buf *b, const char *s, size_t len, size_t max_bytes);

void weft__json_i64(weft__buf *b, int64_t v);
void weft__json_u64(weft__buf *b, uint64_t v);
/* Shortest text that reads back as the same double ("%.17g" at worst, never locale-dependent);
 * NaN and infinities are written as null. */
void weft__json_f64(weft__buf *b, double v);
void weft__json_bool(weft__buf *b, bool v);
/* A duration given in nanoseconds as milliseconds with up to six decimals, trailing zeros
 * dropped ("12.5", "0.000123", "3"): exact, and no floating-point formatting. */
void weft__json_ms(weft__buf *b, uint64_t ns);

/* True when s[0..len) is exactly one RFC 8259 JSON value (surrounding whitespace allowed),
 * valid UTF-8 throughout, nesting at most 256 deep. */
bool weft__json_valid(const char *s, size_t len);
/* True when s[0..len) is valid JSON whose top-level value is an object. */
bool weft__json_valid_object(const char *s, size_t len);

/* Appends the valid JSON text s[0..len) without whitespace outside strings, so a value never
 * breaks a JSON Lines record (pretty-printed input has newlines). */
void weft__json_minify(weft__buf *b, const char *s, size_t len);

/* UTF-8 helpers (on raw, possibly invalid input; an invalid byte counts as one character). */
size_t weft__utf8_cut(const char *s, size_t len, size_t max_bytes); /* longest prefix <= max_bytes
                                                                        not splitting a sequence */
size_t weft__utf8_prefix_chars(const char *s, size_t len, size_t nchars); /* bytes of the first
                                                                             nchars characters */
size_t weft__utf8_count(const char *s, size_t len);                      /* characters */
bool weft__utf8_valid(const char *s, size_t len); /* valid UTF-8 and no NUL */

/* Fixed-format text, quotes included. */
/* 36-char lowercase canonical UUID of the 128-bit value hi:lo, version 4 and RFC 4122 variant
 * bits forced (so 6 bits of the value do not show). */
void weft__json_uuid(weft__buf *b, uint64_t hi, uint64_t lo);
/* Lowercase hex, 16 digits per word: W3C span id (one word) and trace id (hi, lo). */
void weft__json_hex64(weft__buf *b, uint64_t v);
void weft__json_hex128(weft__buf *b, uint64_t hi, uint64_t lo);
/* ISO 8601 UTC with microseconds: "2026-11-22T00:08:00.123456Z"; unix_ns since the epoch. */
void weft__json_timestamp(weft__buf *b, uint64_t unix_ns);

/* The same with the text up to the seconds remembered for the last second written: spans
 * stream out in time order, so most timestamps share their second with the one before.
 * The cache is the caller's (zero-initialised; one per writer thread). */
typedef struct weft__ts_cache {
    uint64_t sec;   /* second the text is for; 0 with text[0] == 0: empty */
    char text[21];  /* "\"2026-11-22T00:08:00." */
} weft__ts_cache;
void weft__json_timestamp_cached(weft__buf *b, uint64_t unix_ns, weft__ts_cache *c);

#endif
