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

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Flags returned by weft__json_str. */
#define WEFT__JSON_REPAIRED 1u  /* invalid UTF-8 or NUL replaced by U+FFFD */
#define WEFT__JSON_TRUNCATED 2u /* content cut at max_bytes and marked */

/* Writes s[0..len) as a JSON string literal, quotes included. Escapes '"', '\\' and control
 * characters (\n \r \t \b \f, others \u00XX); repairs invalid UTF-8 and NUL (see above).
 * max_bytes > 0: when the repaired content is longer than max_bytes, it is cut at the last
 * character boundary at or before max_bytes and "…[truncated N bytes]" is appended, N being
 * the number of input bytes left out. Returns a mask of WEFT__JSON_* flags. */
static inline unsigned weft__json_str(weft__buf *b, const char *s, size_t len, size_t max_bytes);
/* The same, out of line, for every input; weft__json_str handles short plain strings inline
 * (below) and calls this for the rest. */
unsigned weft__json_str_any(weft__buf *b, const char *s, size_t len, size_t max_bytes);

/* True when none of the bytes of w (in any order) needs attention in a JSON string: control,
 * '"', '\\', or >= 0x80 (left to the UTF-8 check). Word-at-a-time tests for a byte below 0x20
 * or equal to one of two values, ORed with the bytes' own high bits. */
static inline bool weft__json_plain64(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = w ^ (ones * '"');
    uint64_t bs = w ^ (ones * '\\');
    uint64_t t = ((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | w;
    return (t & highs) == 0;
}

/* The same on four bytes: the upper half is filled with plain letters. */
static inline bool weft__json_plain32(uint32_t w)
{
    return weft__json_plain64((uint64_t)w | 0x6161616100000000ull);
}

/* True when none of the 16 bytes of the words x and y needs attention in a JSON string; with
 * SSE2, three compares on one vector: signed "less than 0x20" also catches bytes >= 0x80. */
static inline bool weft__json_plain_pair(uint64_t x, uint64_t y)
{
#if defined(__SSE2__)
    __m128i v = _mm_set_epi64x((long long)y, (long long)x);
    __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                               _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                            _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
    return _mm_movemask_epi8(bad) == 0;
#else
    return weft__json_plain64(x) && weft__json_plain64(y);
#endif
}

/* Keys, names and most values are 4 to 16 plain bytes: two overlapping loads from the ends
 * check every byte and two overlapping stores copy them, inline, with no loop and no call. */
#if defined(__GNUC__)
#define WEFT__ALWAYS_INLINE __attribute__((always_inline))
#else
#define WEFT__ALWAYS_INLINE
#endif

/* The 4 to 16 bytes of s as two words that overlap when len < 16 (together they hold every
 * byte), loaded from its two ends. */
static inline WEFT__ALWAYS_INLINE void weft__load_ends(const char *s, size_t len, uint64_t *x, uint64_t *y)
{
    if (len >= 8) {
        memcpy(x, s, 8);
        memcpy(y, s + len - 8, 8);
    } else {
        uint32_t x4, y4;
        memcpy(&x4, s, 4);
        memcpy(&y4, s + len - 4, 4);
        *x = (uint64_t)y4 << 32 | x4;
        *y = *x;
    }
}

/* True when s[0..len) is 0 to 16 bytes that a JSON string carries as they are (see
 * weft__json_plain64); false for anything longer, which is left to weft__json_str's scan. */
static inline WEFT__ALWAYS_INLINE bool weft__json_plain_short(const char *s, size_t len)
{
    if (len >= 4) {
        if (len > 16)
            return false;
        uint64_t x, y;
        weft__load_ends(s, len, &x, &y);
        return weft__json_plain_pair(x, y);
    }
    if (len == 0)
        return true;
    /* 1 to 3 bytes: the first, middle and last are all of them. */
    uint32_t w = (uint32_t)(unsigned char)s[0] | (uint32_t)(unsigned char)s[len / 2] << 8 |
                 (uint32_t)(unsigned char)s[len - 1] << 16 | 0x61000000u;
    return weft__json_plain32(w);
}

/* Always inlined: a call costs as much as the work for a 6-byte key. */
static inline WEFT__ALWAYS_INLINE unsigned weft__json_str(weft__buf *b, const char *s, size_t len,
                                                          size_t max_bytes)
{
    if (len < 4 || len > 16 || (max_bytes && len > max_bytes))
        return weft__json_str_any(b, s, len, max_bytes);
    uint64_t x, y;
    weft__load_ends(s, len, &x, &y);
    if (!weft__json_plain_pair(x, y))
        return weft__json_str_any(b, s, len, max_bytes);
    if (!weft__buf_reserve(b, len + 2))
        return 0;
    char *o = b->data + b->len;
    o[0] = '"';
    weft__copy(o + 1, s, len);
    o[len + 1] = '"';
    b->len += len + 2;
    return 0;
}

void weft__json_i64(weft__buf *b, int64_t v);
void weft__json_u64(weft__buf *b, uint64_t v);
/* Shortest text that reads back as the same double ("%.17g" at worst, never locale-dependent);
 * NaN and infinities are written as null. */
void weft__json_f64(weft__buf *b, double v);
void weft__json_bool(weft__buf *b, bool v);
/* A duration given in nanoseconds as milliseconds with up to six decimals, trailing zeros
 * dropped ("12.5", "0.000123", "3"): exact, and no floating-point formatting. */
void weft__json_ms(weft__buf *b, uint64_t ns);

/* The same numbers written _at a pointer with room for them (the end is returned), so that a
 * writer of fixed keys reserves once: at most WEFT__JSON_U64_MAX, WEFT__JSON_I64_MAX and
 * WEFT__JSON_MS_MAX bytes. Counts below 10, most of those in a trace summary, stay inline. */
#define WEFT__JSON_U64_MAX 20
#define WEFT__JSON_I64_MAX 20
#define WEFT__JSON_MS_MAX 21 /* 14 integer digits (2^64 ns), the point and six decimals */
char *weft__json_u64_at_any(char *o, uint64_t v);
char *weft__json_ms_at(char *o, uint64_t ns);
static inline char *weft__json_u64_at(char *o, uint64_t v)
{
    if (v < 10) {
        *o = (char)('0' + v);
        return o + 1;
    }
    return weft__json_u64_at_any(o, v);
}
static inline char *weft__json_i64_at(char *o, int64_t v)
{
    if (v < 0) {
        *o++ = '-';
        /* 0 - (uint64_t)v: the magnitude of INT64_MIN without signed overflow. */
        return weft__json_u64_at(o, 0 - (uint64_t)v);
    }
    return weft__json_u64_at(o, (uint64_t)v);
}

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
/* Appends s[0..len) to b with NUL and every maximal invalid subpart replaced by U+FFFD, exactly
 * as weft__json_str repairs (so escaping the result gives weft__json_str's text). True when
 * anything was replaced. */
bool weft__utf8_repair(weft__buf *b, const char *s, size_t len);

/* weft__utf8_valid with the common case inline: 4 to 16 ASCII bytes without NUL, checked with
 * two overlapping loads and no loop or call (attribute values on the export thread). */
static inline WEFT__ALWAYS_INLINE bool weft__utf8_valid_inline(const char *s, size_t len)
{
    if (len < 4 || len > 16)
        return weft__utf8_valid(s, len);
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t x, y;
    weft__load_ends(s, len, &x, &y);
    /* No byte with its high bit set, and no zero byte (the classic has-zero test). */
    if (((x | y) & highs) == 0 && (((x - ones) & ~x) & highs) == 0 && (((y - ones) & ~y) & highs) == 0)
        return true;
    return weft__utf8_valid(s, len);
}

/* Fixed-format text, quotes included, always exactly this many bytes, written _at a pointer
 * with room for it (the end is returned), so that a caller reserves once for several; the
 * UUID also into a buffer. */
#define WEFT__JSON_UUID_LEN 38
#define WEFT__JSON_HEX64_LEN 18
#define WEFT__JSON_HEX128_LEN 34
#define WEFT__JSON_TIMESTAMP_LEN 29
/* 36-char lowercase canonical UUID of the 128-bit value hi:lo, version 4 and RFC 4122 variant
 * bits forced (so 6 bits of the value do not show). */
void weft__json_uuid(weft__buf *b, uint64_t hi, uint64_t lo);
char *weft__json_uuid_at(char *o, uint64_t hi, uint64_t lo);
/* The W3C ids' text read off a UUID weft__json_uuid_at wrote for hi:lo (uuid points at its
 * opening quote): the same bytes as weft__json_hex64_at(o, hi) and weft__json_hex128_at(o, hi,
 * lo), by copying the digits and putting back the nibbles the UUID's version and variant bits
 * replaced, instead of converting the words again. */
char *weft__json_hex64_of_uuid_at(char *o, const char *uuid, uint64_t hi);
char *weft__json_hex128_of_uuid_at(char *o, const char *uuid, uint64_t hi, uint64_t lo);
/* Lowercase hex, 16 digits per word: W3C span id (one word) and trace id (hi, lo). */
char *weft__json_hex64_at(char *o, uint64_t v);
char *weft__json_hex128_at(char *o, uint64_t hi, uint64_t lo);
/* ISO 8601 UTC with microseconds: "2026-11-22T00:08:00.123456Z"; unix_ns since the epoch. */
char *weft__json_timestamp_at(char *o, uint64_t unix_ns);

/* The same with the text up to the seconds remembered for the last second written: spans
 * stream out in time order, so most timestamps share their second with the one before.
 * The cache is the caller's (zero-initialised; one per writer thread). */
typedef struct weft__ts_cache {
    uint64_t sec;   /* second the text is for; 0 with text[0] == 0: empty */
    char text[21];  /* "\"2026-11-22T00:08:00." */
} weft__ts_cache;
char *weft__json_timestamp_cached_at(char *o, uint64_t unix_ns, weft__ts_cache *c);

#endif
