/*
 * json.c — weft's JSON writer (strings, numbers, ids, timestamps), UTF-8 repair and counting,
 * and a validating JSON scanner. The contract is in json.h.
 *
 * Owns nothing: every function reads its arguments and appends to the caller's weft__buf, with
 * no state kept between calls and no I/O. Invariants:
 *   - whatever bytes come in, what is appended is valid UTF-8 and exactly one JSON value
 *     (unless the buffer ran out of memory, which the caller sees in b->oom);
 *   - weft__json_str reserves its worst case for a chunk of input before writing it (6 output
 *     bytes per input byte, the size of "\u00XX"), so its inner loops write through a raw
 *     pointer without a bounds check per byte;
 *   - "one character" means one valid UTF-8 sequence or, for invalid input, what json.h says:
 *     one maximal invalid subpart in the writer (it becomes one U+FFFD), one byte in the
 *     weft__utf8_* helpers.
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* json.h: "nesting at most 256 deep". */
#define JSON_MAX_DEPTH 256

/* Input bytes handled per reservation in weft__json_str: big enough that the reserve check
 * vanishes in the cost, small enough that a 1 MiB attribute does not make the batch buffer
 * reserve 6 MiB at once. */
#define STR_CHUNK 16384

static const char hex_digits[16] = "0123456789abcdef";

/* "00".."99": integers and timestamps are written two digits per division. */
static const char digit_pairs[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

/* 1 for the bytes a JSON string can carry as they are: printable ASCII but '"' and '\\'.
 * Bytes 0x80 and up are 0 (left to the UTF-8 check). */
static const unsigned char plain_byte[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
};

static const char replacement_char[3] = {(char)0xEF, (char)0xBF, (char)0xBD}; /* U+FFFD */

/* ---- UTF-8 ---------------------------------------------------------------------------------- */

/* Looks at the sequence starting at p (p < end, *p >= 0x80). Returns n > 0 when p[0..n) is one
 * well-formed code point; otherwise -k, k >= 1 being the length of the maximal invalid subpart
 * (the longest prefix that could still have begun a well-formed sequence, or 1). The ranges are
 * Table 3-7 of the Unicode standard: they exclude overlongs (C0, C1, E0 80..9F, F0 80..8F),
 * surrogates (ED A0..BF) and code points above U+10FFFF (F4 90.., F5..FF). */
static inline int utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    unsigned lo = 0x80, hi = 0xBF;
    int n;
    if (c < 0xC2)
        return -1; /* a continuation byte, or the overlong leads C0/C1 */
    if (c < 0xE0) {
        n = 2;
    } else if (c < 0xF0) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c < 0xF5) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return -1;
    }
    size_t avail = (size_t)(end - p);
    if (avail < 2 || p[1] < lo || p[1] > hi)
        return -1;
    for (int k = 2; k < n; k++)
        if ((size_t)k >= avail || (p[k] & 0xC0) != 0x80)
            return -k;
    return n;
}

/* Bytes of the character at p as the weft__utf8_* helpers count: a valid sequence, or one
 * invalid byte. */
static inline size_t char_len(const unsigned char *p, const unsigned char *end)
{
    if (*p < 0x80)
        return 1;
    int n = utf8_seq(p, end);
    return n > 0 ? (size_t)n : 1;
}

size_t weft__utf8_cut(const char *s, size_t len, size_t max_bytes)
{
    if (len <= max_bytes)
        return len;
    /* A sequence is at most 4 bytes and only a valid one can straddle max_bytes: look back at
     * most 3 bytes for a lead whose sequence runs past the cut. A lead byte is never a
     * continuation, so no earlier character can contain it: the answer is O(1) whatever the
     * length. */
    const unsigned char *u = (const unsigned char *)s, *end = u + len;
    size_t back = max_bytes < 3 ? max_bytes : 3;
    for (size_t k = 1; k <= back; k++) {
        size_t q = max_bytes - k;
        if (u[q] < 0xC2)
            continue;
        int n = utf8_seq(u + q, end);
        if (n > 0 && q + (size_t)n > max_bytes)
            return q;
    }
    return max_bytes;
}

size_t weft__utf8_prefix_chars(const char *s, size_t len, size_t nchars)
{
    if (len == 0)
        return 0; /* s may be NULL: no pointer arithmetic on it */
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (nchars > 0 && p < end) {
        p += char_len(p, end);
        nchars--;
    }
    return (size_t)(p - (const unsigned char *)s);
}

size_t weft__utf8_count(const char *s, size_t len)
{
    if (len == 0)
        return 0;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    size_t n = 0;
    while (p < end) {
        p += char_len(p, end);
        n++;
    }
    return n;
}

/* Word-at-a-time tests (eight bytes per step). "Any byte < n" and "any zero byte" are the
 * classic exact bit tricks (exact as to whether any byte matches, which is all we ask). */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

static inline uint64_t load64(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

static inline bool word_has_zero(uint64_t w)
{
    return ((w - ONES) & ~w & HIGHS) != 0;
}

static inline bool byte_is_plain(unsigned c)
{
    return plain_byte[c & 0xFF] != 0;
}

bool weft__utf8_valid(const char *s, size_t len)
{
    if (len == 0)
        return true;
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        while (end - p >= 8) {
            uint64_t w = load64(p);
            if ((w & HIGHS) || word_has_zero(w))
                break;
            p += 8;
        }
        if (p >= end)
            break;
        unsigned c = *p;
        if (c == 0)
            return false;
        if (c < 0x80) {
            p++;
            continue;
        }
        int n = utf8_seq(p, end);
        if (n <= 0)
            return false;
        p += n;
    }
    return true;
}

bool weft__utf8_repair(weft__buf *b, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len, *run = p;
    bool repaired = false;
    while (p < end) {
        unsigned c = *p;
        if (c != 0 && c < 0x80) {
            p++;
            continue;
        }
        int n = c ? utf8_seq(p, end) : -1;
        if (n > 0) {
            p += n;
            continue;
        }
        /* NUL or the maximal invalid subpart: one U+FFFD, as weft__json_str writes it. */
        weft__buf_append(b, (const char *)run, (size_t)(p - run));
        weft__buf_append(b, replacement_char, 3);
        p += -n;
        run = p;
        repaired = true;
    }
    weft__buf_append(b, (const char *)run, (size_t)(p - run));
    return repaired;
}

/* ---- strings -------------------------------------------------------------------------------- */

/* Writes the escape for an ASCII byte that is not plain (control, '"', '\\'; never NUL, which
 * is repaired instead); returns the bytes written (2 or 6). */
static inline size_t put_escape(char *o, unsigned c)
{
    o[0] = '\\';
    switch (c) {
    case '"': o[1] = '"'; return 2;
    case '\\': o[1] = '\\'; return 2;
    case '\b': o[1] = 'b'; return 2;
    case '\f': o[1] = 'f'; return 2;
    case '\n': o[1] = 'n'; return 2;
    case '\r': o[1] = 'r'; return 2;
    case '\t': o[1] = 't'; return 2;
    default:
        o[1] = 'u';
        o[2] = '0';
        o[3] = '0';
        o[4] = hex_digits[c >> 4];
        o[5] = hex_digits[c & 15];
        return 6;
    }
}

/* Digits of v, written backwards ending at `end`; returns the first digit. */
static inline char *u64_text(char *end, uint64_t v)
{
    char *p = end;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, digit_pairs + 2 * r, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, digit_pairs + 2 * v, 2);
    } else {
        *--p = (char)('0' + v);
    }
    return p;
}

/* "…[truncated N bytes]", the marker json.h promises after cut content. */
static void put_truncation_marker(weft__buf *b, size_t left_out)
{
    static const char head[] = "\xE2\x80\xA6[truncated ";
    static const char tail[] = " bytes]";
    char tmp[sizeof head + 20 + sizeof tail];
    char digits[20];
    char *d = u64_text(digits + sizeof digits, left_out);
    size_t nd = (size_t)(digits + sizeof digits - d);
    size_t n = 0;
    memcpy(tmp, head, sizeof head - 1);
    n += sizeof head - 1;
    memcpy(tmp + n, d, nd);
    n += nd;
    memcpy(tmp + n, tail, sizeof tail - 1);
    n += sizeof tail - 1;
    weft__buf_append(b, tmp, n);
}

/* The general case of weft__json_str (json.h), which handles short plain strings inline: any
 * length, escapes, repairs and the cut at max_bytes. */
unsigned weft__json_str_any(weft__buf *b, const char *s, size_t len, size_t max_bytes)
{
    if (len == 0) {
        /* s may be NULL (msgpack-c gives NULL for an empty str): no pointer arithmetic on it */
        weft__buf_lit(b, "\"\"");
        return 0;
    }
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    /* Content bytes (after repair, before escaping) still allowed. */
    size_t budget = max_bytes ? max_bytes : SIZE_MAX;
    unsigned flags = 0;

    weft__buf_putc(b, '"');
    while (p < end) {
        size_t chunk = (size_t)(end - p) < STR_CHUNK ? (size_t)(end - p) : STR_CHUNK;
        /* +32: a character begun before `stop` may run 3 bytes past it (4 output bytes). */
        if (!weft__buf_reserve(b, chunk * 6 + 32))
            return flags;
        char *o = b->data + b->len;
        const unsigned char *stop = p + chunk;
        while (p < stop) {
            while (stop - p >= 8 && budget >= 8) {
                uint64_t w = load64(p);
                if (!weft__json_plain64(w))
                    break;
                memcpy(o, p, 8);
                o += 8;
                p += 8;
                budget -= 8;
            }
            if (stop - p >= 4 && budget >= 4) {
                uint32_t w;
                memcpy(&w, p, 4);
                if (weft__json_plain32(w)) {
                    memcpy(o, p, 4);
                    o += 4;
                    p += 4;
                    budget -= 4;
                }
            }
            while (p < stop && budget > 0 && byte_is_plain(*p)) {
                *o++ = (char)*p++;
                budget--;
            }
            if (p >= stop)
                break;

            unsigned c = *p;
            int n = 1; /* bytes of input this character takes (negative: invalid) */
            size_t out = 1; /* bytes of repaired content it gives */
            if (c == 0) {
                n = -1;
                out = 3;
            } else if (c >= 0x80) {
                n = utf8_seq(p, end);
                out = n > 0 ? (size_t)n : 3;
            }
            if (out > budget) {
                b->len = (size_t)(o - b->data);
                put_truncation_marker(b, (size_t)(end - p));
                weft__buf_putc(b, '"');
                return flags | WEFT__JSON_TRUNCATED;
            }
            budget -= out;
            if (n < 0) {
                memcpy(o, replacement_char, 3);
                o += 3;
                p += -n;
                flags |= WEFT__JSON_REPAIRED;
            } else if (c < 0x80) {
                o += put_escape(o, c);
                p++;
            } else {
                memcpy(o, p, (size_t)n);
                o += n;
                p += n;
            }
        }
        b->len = (size_t)(o - b->data);
    }
    weft__buf_putc(b, '"');
    return flags;
}


/* ---- numbers and literals ------------------------------------------------------------------- */

void weft__json_u64(weft__buf *b, uint64_t v)
{
    char tmp[20];
    char *p = u64_text(tmp + sizeof tmp, v);
    weft__buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

void weft__json_i64(weft__buf *b, int64_t v)
{
    char tmp[21];
    /* 0 - (uint64_t)v: the magnitude of INT64_MIN without signed overflow. */
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    char *p = u64_text(tmp + sizeof tmp, mag);
    if (v < 0)
        *--p = '-';
    weft__buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

/* Powers of ten up to 10^22 are exact doubles; the fast path below needs 10^1..10^9. */
static const double exact_pow10[10] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

/* Fast path for values with a short decimal form, which is what scores and latencies mostly
 * are (0.873, 12.5): snprintf + strtod cost ~400 ns, this ~20. Finds the least k <= 9 with
 * |v| = r / 10^k, r an integer below 10^15, and writes r with the point k digits from the
 * right. The test r / 10^k == |v| is exact: both operands are exact doubles, so IEEE division
 * rounds the true quotient r·10^-k once, just as strtod rounds that decimal text — the text
 * reads back as v. It is also what "%.15g" would print, so the two paths never disagree: in
 * [1e-4, 1e14) %g uses plain notation, and a round-tripping text of at most 15 significant
 * digits is the 15-digit rounding of v (one ulp is far below half a unit of the 15th digit),
 * with its trailing zeros stripped — r has none, or a smaller k would have matched.
 * Returns false (nothing written) when v has no such form. */
static bool put_short_decimal(weft__buf *b, double v)
{
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e14))
        return false;
    for (int k = 1; k <= 9; k++) {
        double m = a * exact_pow10[k];
        if (m >= 1e15)
            return false;
        double r = floor(m + 0.5);
        if (r / exact_pow10[k] != a)
            continue;
        char tmp[40];
        char *end = tmp + sizeof tmp;
        char *d = u64_text(end, (uint64_t)r);
        size_t nd = (size_t)(end - d);
        char out[48];
        size_t n = 0;
        if (v < 0)
            out[n++] = '-';
        if (nd <= (size_t)k) {
            /* 0.000ddd */
            out[n++] = '0';
            out[n++] = '.';
            for (size_t z = nd; z < (size_t)k; z++)
                out[n++] = '0';
            memcpy(out + n, d, nd);
            n += nd;
        } else {
            memcpy(out + n, d, nd - (size_t)k);
            n += nd - (size_t)k;
            out[n++] = '.';
            memcpy(out + n, end - k, (size_t)k);
            n += (size_t)k;
        }
        weft__buf_append(b, out, n);
        return true;
    }
    return false;
}

void weft__json_f64(weft__buf *b, double v)
{
    if (!isfinite(v)) {
        weft__buf_lit(b, "null");
        return;
    }
    if (v == 0) {
        /* "-0.0", not "-0": parsers that read "-0" as an integer would lose the sign. */
        if (signbit(v))
            weft__buf_lit(b, "-0.0");
        else
            weft__buf_lit(b, "0");
        return;
    }
    /* 2^53: every integer below it is exact in a double, so its decimal form reads back to the
     * same value; the check on magnitude comes first so the cast is always defined. */
    if (fabs(v) < 9007199254740992.0 && v == (double)(int64_t)v) {
        weft__json_i64(b, (int64_t)v);
        return;
    }
    if (put_short_decimal(b, v))
        return;
    /* Shortest of 15, 16, 17 significant digits that reads back the same (17 always does). The
     * round-trip check runs on snprintf's own text, so strtod and snprintf agree on the decimal
     * point whatever the locale; only then is the point normalised to '.'. */
    char tmp[48];
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (prec == 17 || strtod(tmp, NULL) == v)
            break;
    }
    if (n <= 0 || (size_t)n >= sizeof tmp)
        return; /* cannot happen: %.17g of a finite double is at most 24 bytes */
    /* A locale's decimal point may be ',' or even several bytes: anything that is not a digit,
     * sign or exponent mark is the point, and becomes a single '.'. */
    char out[48];
    size_t k = 0;
    bool in_point = false;
    for (int i = 0; i < n; i++) {
        char c = tmp[i];
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e' || c == 'E') {
            out[k++] = c;
            in_point = false;
        } else if (!in_point) {
            out[k++] = '.';
            in_point = true;
        }
    }
    weft__buf_append(b, out, k);
}

void weft__json_bool(weft__buf *b, bool v)
{
    if (v)
        weft__buf_lit(b, "true");
    else
        weft__buf_lit(b, "false");
}

/* ---- ids and timestamps --------------------------------------------------------------------- */

/* Hex digits are made 16 or 32 at a time, never through a table: ids are three UUIDs and two
 * hex fields per span, the largest fixed cost of encoding one. hex_of() gives the 32 digits of
 * hi then lo as two 16-byte blocks. */
#if defined(__SSE2__)
typedef struct hex32 {
    uint64_t w[4]; /* the digits in memory order: w[0..1] those of hi, w[2..3] those of lo */
} hex32;

static inline hex32 hex_of(uint64_t hi, uint64_t lo)
{
    /* The 16 bytes in memory order, most significant first; each byte's two nibbles
     * interleaved high then low; each nibble n to '0' + n, or 'a' + n - 10 where n > 9. */
    __m128i in = _mm_set_epi64x((long long)__builtin_bswap64(lo), (long long)__builtin_bswap64(hi));
    const __m128i low4 = _mm_set1_epi8(0x0f);
    __m128i hn = _mm_and_si128(_mm_srli_epi16(in, 4), low4);
    __m128i ln = _mm_and_si128(in, low4);
    __m128i d0 = _mm_unpacklo_epi8(hn, ln), d1 = _mm_unpackhi_epi8(hn, ln);
    const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9), gap = _mm_set1_epi8('a' - '0' - 10);
    d0 = _mm_add_epi8(_mm_add_epi8(d0, zero), _mm_and_si128(_mm_cmpgt_epi8(d0, nine), gap));
    d1 = _mm_add_epi8(_mm_add_epi8(d1, zero), _mm_and_si128(_mm_cmpgt_epi8(d1, nine), gap));
    hex32 h;
    _mm_storeu_si128((__m128i *)(void *)&h.w[0], d0);
    _mm_storeu_si128((__m128i *)(void *)&h.w[2], d1);
    return h;
}
#else
typedef struct hex32 {
    uint64_t w[4];
} hex32;

/* The 8 digits of v as 8 bytes in memory order: nibbles spread one per byte (highest in the
 * highest byte), '0' added, 'a' - '0' - 10 more where the nibble is 10 or more (nibble + 6
 * carries into bit 4 exactly then), and bytes swapped for little-endian memory. */
static inline uint64_t hex8(uint32_t v)
{
    uint64_t x = v;
    x = ((x & 0xFFFF0000u) << 16) | (x & 0xFFFFu);
    x = ((x & 0x0000FF000000FF00ull) << 8) | (x & 0x000000FF000000FFull);
    x = ((x & 0x00F000F000F000F0ull) << 4) | (x & 0x000F000F000F000Full);
    uint64_t letters = ((x + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull;
    x += 0x3030303030303030ull + letters * 0x27;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return x;
#else
    return __builtin_bswap64(x);
#endif
}

static inline hex32 hex_of(uint64_t hi, uint64_t lo)
{
    hex32 h = {{hex8((uint32_t)(hi >> 32)), hex8((uint32_t)hi), hex8((uint32_t)(lo >> 32)), hex8((uint32_t)lo)}};
    return h;
}
#endif

/* The fixed-size writers below build their text in place in the buffer: assembling it in a
 * local array first and copying costs more than the digits themselves (the wide copy cannot be
 * forwarded from the narrow stores that built it). */

char *weft__json_uuid_at(char *o, uint64_t hi, uint64_t lo)
{
    /* RFC 4122 §4.4: version 4 in the top nibble of byte 6, variant 10 in the top bits of
     * byte 8. */
    hi = (hi & ~0xF000ull) | 0x4000ull;
    lo = (lo & ~(3ull << 62)) | (2ull << 62);
    /* xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx: hi's 16 digits split 8-4-4, lo's 4-12. */
    hex32 h = hex_of(hi, lo);
    const char *d = (const char *)h.w;
    o[0] = '"';
    memcpy(o + 1, d, 8);
    o[9] = '-';
    memcpy(o + 10, d + 8, 4);
    o[14] = '-';
    memcpy(o + 15, d + 12, 4);
    o[19] = '-';
    memcpy(o + 20, d + 16, 4);
    o[24] = '-';
    memcpy(o + 25, d + 20, 12);
    o[37] = '"';
    return o + WEFT__JSON_UUID_LEN;
}

char *weft__json_hex64_at(char *o, uint64_t v)
{
    hex32 h = hex_of(0, v);
    o[0] = '"';
    memcpy(o + 1, &h.w[2], 16);
    o[17] = '"';
    return o + WEFT__JSON_HEX64_LEN;
}

char *weft__json_hex128_at(char *o, uint64_t hi, uint64_t lo)
{
    hex32 h = hex_of(hi, lo);
    o[0] = '"';
    memcpy(o + 1, h.w, 32);
    o[33] = '"';
    return o + WEFT__JSON_HEX128_LEN;
}

/* The UUID's digits are at 1..9, 10..14, 15..19, 20..24 and 25..37 (json.h); digit 12 of hi
 * (text index 15) holds the version and digit 0 of lo (text index 20) the variant. */
char *weft__json_hex64_of_uuid_at(char *o, const char *uuid, uint64_t hi)
{
    o[0] = '"';
    memcpy(o + 1, uuid + 1, 8);
    memcpy(o + 9, uuid + 10, 4);
    memcpy(o + 13, uuid + 15, 4);
    o[13] = hex_digits[(hi >> 12) & 15];
    o[17] = '"';
    return o + WEFT__JSON_HEX64_LEN;
}

char *weft__json_hex128_of_uuid_at(char *o, const char *uuid, uint64_t hi, uint64_t lo)
{
    weft__json_hex64_of_uuid_at(o, uuid, hi);
    memcpy(o + 17, uuid + 20, 4);
    o[17] = hex_digits[lo >> 60];
    memcpy(o + 21, uuid + 25, 12);
    o[33] = '"';
    return o + WEFT__JSON_HEX128_LEN;
}

void weft__json_uuid(weft__buf *b, uint64_t hi, uint64_t lo)
{
    if (weft__buf_reserve(b, WEFT__JSON_UUID_LEN))
        b->len = (size_t)(weft__json_uuid_at(b->data + b->len, hi, lo) - b->data);
}

static inline void put2(char *o, unsigned v)
{
    memcpy(o, digit_pairs + 2 * v, 2);
}

char *weft__json_timestamp_at(char *t, uint64_t unix_ns)
{
    uint64_t secs = unix_ns / 1000000000u;
    unsigned us = (unsigned)(unix_ns % 1000000000u / 1000u); /* truncated, never rounded up */
    uint64_t days = secs / 86400u;
    unsigned sod = (unsigned)(secs % 86400u);

    /* Calendar date from a day count without gmtime (Howard Hinnant's civil_from_days, for
     * days >= 0 only, which an unsigned input guarantees). Count years from 1 March so that
     * the leap day, when there is one, is the last day of the year; then a 400-year era is
     * always 146097 days, the year of the era follows from the day of the era after taking
     * out the era's leap days, and the month follows from the day of the year with the
     * 153-days-per-5-months pattern March..July, August..December. */
    uint64_t z = days + 719468u; /* days from 0000-03-01 to 1970-01-01 */
    uint64_t era = z / 146097u;
    unsigned doe = (unsigned)(z - era * 146097u);                             /* [0, 146096] */
    unsigned yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u; /* [0, 399] */
    unsigned doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);               /* [0, 365] */
    unsigned mp = (5u * doy + 2u) / 153u;                                     /* 0 = March */
    unsigned day = doy - (153u * mp + 2u) / 5u + 1u;
    unsigned month = mp < 10u ? mp + 3u : mp - 9u;
    unsigned year = (unsigned)(era * 400u) + yoe + (month <= 2u);

    /* 2^64 ns is in the year 2554: always four digits. */
    t[0] = '"';
    put2(t + 1, year / 100u);
    put2(t + 3, year % 100u);
    t[5] = '-';
    put2(t + 6, month);
    t[8] = '-';
    put2(t + 9, day);
    t[11] = 'T';
    put2(t + 12, sod / 3600u);
    t[14] = ':';
    put2(t + 15, sod / 60u % 60u);
    t[17] = ':';
    put2(t + 18, sod % 60u);
    t[20] = '.';
    put2(t + 21, us / 10000u);
    put2(t + 23, us / 100u % 100u);
    put2(t + 25, us % 100u);
    t[27] = 'Z';
    t[28] = '"';
    return t + WEFT__JSON_TIMESTAMP_LEN;
}

/* ---- validation ----------------------------------------------------------------------------- */

static inline size_t skip_ws(const unsigned char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
        i++;
    return i;
}

/* Value of the 4 hex digits at s[i..i+4), or -1. */
static long hex4(const unsigned char *s, size_t len, size_t i)
{
    if (i > len || len - i < 4)
        return -1;
    long v = 0;
    for (size_t k = i; k < i + 4; k++) {
        unsigned c = s[k];
        int d;
        if (c >= '0' && c <= '9')
            d = (int)(c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (int)((c | 0x20) - 'a' + 10);
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* s[*pos] is '"'. On success *pos is just past the closing quote.
 * RFC 8259 §8.2 leaves unpaired surrogate escapes ("\ud800") to the parser; weft rejects them
 * because they name no character (and jansson, which checks weft's output, rejects them too). */
static bool scan_string(const unsigned char *s, size_t len, size_t *pos)
{
    size_t i = *pos + 1;
    for (;;) {
        while (i < len && byte_is_plain(s[i]))
            i++;
        if (i >= len)
            return false;
        unsigned c = s[i];
        if (c == '"') {
            *pos = i + 1;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c >= 0x80) {
            int n = utf8_seq(s + i, s + len);
            if (n <= 0)
                return false;
            i += (size_t)n;
            continue;
        }
        /* backslash */
        if (++i >= len)
            return false;
        switch (s[i]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            i++;
            break;
        case 'u': {
            long u = hex4(s, len, i + 1);
            if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
                return false;
            i += 5;
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (len - i < 2 || s[i] != '\\' || s[i + 1] != 'u')
                    return false;
                long lo = hex4(s, len, i + 2);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return false;
                i += 6;
            }
            break;
        }
        default:
            return false;
        }
    }
}

static inline bool is_digit(unsigned c)
{
    return c >= '0' && c <= '9';
}

static bool scan_number(const unsigned char *s, size_t len, size_t *pos)
{
    size_t i = *pos;
    if (i < len && s[i] == '-')
        i++;
    if (i >= len)
        return false;
    if (s[i] == '0') {
        i++;
    } else if (s[i] >= '1' && s[i] <= '9') {
        while (i < len && is_digit(s[i]))
            i++;
    } else {
        return false;
    }
    if (i < len && s[i] == '.') {
        size_t d = ++i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == d)
            return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == d)
            return false;
    }
    *pos = i;
    return true;
}

static bool scan_literal(const unsigned char *s, size_t len, size_t *pos, const char *lit,
                         size_t n)
{
    if (len - *pos < n || memcmp(s + *pos, lit, n) != 0)
        return false;
    *pos += n;
    return true;
}

/* An iterative scanner: `open` records, per nesting level, whether it is an object or an array,
 * so depth costs 256 bytes of stack rather than 256 recursive frames. */
bool weft__json_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned char open[JSON_MAX_DEPTH];
    size_t depth = 0, i = 0;

value:
    i = skip_ws(s, i, len);
    if (i >= len)
        return false;
    switch (s[i]) {
    case '{':
    case '[': {
        unsigned char close = s[i] == '{' ? '}' : ']';
        if (depth == JSON_MAX_DEPTH)
            return false;
        open[depth++] = close;
        i = skip_ws(s, i + 1, len);
        if (i < len && s[i] == close) { /* empty */
            depth--;
            i++;
            goto after_value;
        }
        if (close == '}')
            goto key;
        goto value;
    }
    case '"':
        if (!scan_string(s, len, &i))
            return false;
        goto after_value;
    case 't':
        if (!scan_literal(s, len, &i, "true", 4))
            return false;
        goto after_value;
    case 'f':
        if (!scan_literal(s, len, &i, "false", 5))
            return false;
        goto after_value;
    case 'n':
        if (!scan_literal(s, len, &i, "null", 4))
            return false;
        goto after_value;
    default:
        if (!scan_number(s, len, &i))
            return false;
        goto after_value;
    }

key: /* whitespace already skipped */
    if (i >= len || s[i] != '"' || !scan_string(s, len, &i))
        return false;
    i = skip_ws(s, i, len);
    if (i >= len || s[i] != ':')
        return false;
    i++;
    goto value;

after_value:
    i = skip_ws(s, i, len);
    if (depth == 0)
        return i == len;
    if (i >= len)
        return false;
    if (s[i] == ',') {
        i = skip_ws(s, i + 1, len);
        if (open[depth - 1] == '}')
            goto key;
        goto value;
    }
    if (s[i] == open[depth - 1]) {
        depth--;
        i++;
        goto after_value;
    }
    return false;
}

bool weft__json_valid_object(const char *s, size_t len)
{
    size_t i = skip_ws((const unsigned char *)s, 0, len);
    return i < len && s[i] == '{' && weft__json_valid(s, len);
}

void weft__json_minify(weft__buf *b, const char *s, size_t len)
{
    if (len == 0 || !weft__buf_reserve(b, len))
        return;
    bool in_str = false, esc = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
        } else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            continue;
        } else if (c == '"') {
            in_str = true;
        }
        b->data[b->len++] = c;
    }
}

void weft__json_ms(weft__buf *b, uint64_t ns)
{
    /* One text for both: weft__json_ms_at, into room for the widest. */
    if (!weft__buf_reserve(b, WEFT__JSON_MS_MAX))
        return;
    b->len = (size_t)(weft__json_ms_at(b->data + b->len, ns) - b->data);
}

char *weft__json_u64_at_any(char *o, uint64_t v)
{
    char tmp[20];
    char *p = u64_text(tmp + sizeof tmp, v);
    size_t n = (size_t)(tmp + sizeof tmp - p);
    memcpy(o, p, n);
    return o + n;
}

char *weft__json_ms_at(char *o, uint64_t ns)
{
    o = weft__json_u64_at(o, ns / 1000000u);
    uint32_t frac = (uint32_t)(ns % 1000000u);
    if (frac == 0)
        return o;
    /* Written whole, then the trailing zeros taken back: weft__json_ms's text. */
    o[0] = '.';
    put2(o + 1, frac / 10000u);
    put2(o + 3, frac / 100u % 100u);
    put2(o + 5, frac % 100u);
    int n = 7;
    while (o[n - 1] == '0')
        n--;
    return o + n;
}

/* "000Z".."999Z": a timestamp's microseconds are two lookups here, the second one writing the
 * 'Z' after them. */
static const char three_digits[4001] =
    "000Z001Z002Z003Z004Z005Z006Z007Z008Z009Z"
    "010Z011Z012Z013Z014Z015Z016Z017Z018Z019Z"
    "020Z021Z022Z023Z024Z025Z026Z027Z028Z029Z"
    "030Z031Z032Z033Z034Z035Z036Z037Z038Z039Z"
    "040Z041Z042Z043Z044Z045Z046Z047Z048Z049Z"
    "050Z051Z052Z053Z054Z055Z056Z057Z058Z059Z"
    "060Z061Z062Z063Z064Z065Z066Z067Z068Z069Z"
    "070Z071Z072Z073Z074Z075Z076Z077Z078Z079Z"
    "080Z081Z082Z083Z084Z085Z086Z087Z088Z089Z"
    "090Z091Z092Z093Z094Z095Z096Z097Z098Z099Z"
    "100Z101Z102Z103Z104Z105Z106Z107Z108Z109Z"
    "110Z111Z112Z113Z114Z115Z116Z117Z118Z119Z"
    "120Z121Z122Z123Z124Z125Z126Z127Z128Z129Z"
    "130Z131Z132Z133Z134Z135Z136Z137Z138Z139Z"
    "140Z141Z142Z143Z144Z145Z146Z147Z148Z149Z"
    "150Z151Z152Z153Z154Z155Z156Z157Z158Z159Z"
    "160Z161Z162Z163Z164Z165Z166Z167Z168Z169Z"
    "170Z171Z172Z173Z174Z175Z176Z177Z178Z179Z"
    "180Z181Z182Z183Z184Z185Z186Z187Z188Z189Z"
    "190Z191Z192Z193Z194Z195Z196Z197Z198Z199Z"
    "200Z201Z202Z203Z204Z205Z206Z207Z208Z209Z"
    "210Z211Z212Z213Z214Z215Z216Z217Z218Z219Z"
    "220Z221Z222Z223Z224Z225Z226Z227Z228Z229Z"
    "230Z231Z232Z233Z234Z235Z236Z237Z238Z239Z"
    "240Z241Z242Z243Z244Z245Z246Z247Z248Z249Z"
    "250Z251Z252Z253Z254Z255Z256Z257Z258Z259Z"
    "260Z261Z262Z263Z264Z265Z266Z267Z268Z269Z"
    "270Z271Z272Z273Z274Z275Z276Z277Z278Z279Z"
    "280Z281Z282Z283Z284Z285Z286Z287Z288Z289Z"
    "290Z291Z292Z293Z294Z295Z296Z297Z298Z299Z"
    "300Z301Z302Z303Z304Z305Z306Z307Z308Z309Z"
    "310Z311Z312Z313Z314Z315Z316Z317Z318Z319Z"
    "320Z321Z322Z323Z324Z325Z326Z327Z328Z329Z"
    "330Z331Z332Z333Z334Z335Z336Z337Z338Z339Z"
    "340Z341Z342Z343Z344Z345Z346Z347Z348Z349Z"
    "350Z351Z352Z353Z354Z355Z356Z357Z358Z359Z"
    "360Z361Z362Z363Z364Z365Z366Z367Z368Z369Z"
    "370Z371Z372Z373Z374Z375Z376Z377Z378Z379Z"
    "380Z381Z382Z383Z384Z385Z386Z387Z388Z389Z"
    "390Z391Z392Z393Z394Z395Z396Z397Z398Z399Z"
    "400Z401Z402Z403Z404Z405Z406Z407Z408Z409Z"
    "410Z411Z412Z413Z414Z415Z416Z417Z418Z419Z"
    "420Z421Z422Z423Z424Z425Z426Z427Z428Z429Z"
    "430Z431Z432Z433Z434Z435Z436Z437Z438Z439Z"
    "440Z441Z442Z443Z444Z445Z446Z447Z448Z449Z"
    "450Z451Z452Z453Z454Z455Z456Z457Z458Z459Z"
    "460Z461Z462Z463Z464Z465Z466Z467Z468Z469Z"
    "470Z471Z472Z473Z474Z475Z476Z477Z478Z479Z"
    "480Z481Z482Z483Z484Z485Z486Z487Z488Z489Z"
    "490Z491Z492Z493Z494Z495Z496Z497Z498Z499Z"
    "500Z501Z502Z503Z504Z505Z506Z507Z508Z509Z"
    "510Z511Z512Z513Z514Z515Z516Z517Z518Z519Z"
    "520Z521Z522Z523Z524Z525Z526Z527Z528Z529Z"
    "530Z531Z532Z533Z534Z535Z536Z537Z538Z539Z"
    "540Z541Z542Z543Z544Z545Z546Z547Z548Z549Z"
    "550Z551Z552Z553Z554Z555Z556Z557Z558Z559Z"
    "560Z561Z562Z563Z564Z565Z566Z567Z568Z569Z"
    "570Z571Z572Z573Z574Z575Z576Z577Z578Z579Z"
    "580Z581Z582Z583Z584Z585Z586Z587Z588Z589Z"
    "590Z591Z592Z593Z594Z595Z596Z597Z598Z599Z"
    "600Z601Z602Z603Z604Z605Z606Z607Z608Z609Z"
    "610Z611Z612Z613Z614Z615Z616Z617Z618Z619Z"
    "620Z621Z622Z623Z624Z625Z626Z627Z628Z629Z"
    "630Z631Z632Z633Z634Z635Z636Z637Z638Z639Z"
    "640Z641Z642Z643Z644Z645Z646Z647Z648Z649Z"
    "650Z651Z652Z653Z654Z655Z656Z657Z658Z659Z"
    "660Z661Z662Z663Z664Z665Z666Z667Z668Z669Z"
    "670Z671Z672Z673Z674Z675Z676Z677Z678Z679Z"
    "680Z681Z682Z683Z684Z685Z686Z687Z688Z689Z"
    "690Z691Z692Z693Z694Z695Z696Z697Z698Z699Z"
    "700Z701Z702Z703Z704Z705Z706Z707Z708Z709Z"
    "710Z711Z712Z713Z714Z715Z716Z717Z718Z719Z"
    "720Z721Z722Z723Z724Z725Z726Z727Z728Z729Z"
    "730Z731Z732Z733Z734Z735Z736Z737Z738Z739Z"
    "740Z741Z742Z743Z744Z745Z746Z747Z748Z749Z"
    "750Z751Z752Z753Z754Z755Z756Z757Z758Z759Z"
    "760Z761Z762Z763Z764Z765Z766Z767Z768Z769Z"
    "770Z771Z772Z773Z774Z775Z776Z777Z778Z779Z"
    "780Z781Z782Z783Z784Z785Z786Z787Z788Z789Z"
    "790Z791Z792Z793Z794Z795Z796Z797Z798Z799Z"
    "800Z801Z802Z803Z804Z805Z806Z807Z808Z809Z"
    "810Z811Z812Z813Z814Z815Z816Z817Z818Z819Z"
    "820Z821Z822Z823Z824Z825Z826Z827Z828Z829Z"
    "830Z831Z832Z833Z834Z835Z836Z837Z838Z839Z"
    "840Z841Z842Z843Z844Z845Z846Z847Z848Z849Z"
    "850Z851Z852Z853Z854Z855Z856Z857Z858Z859Z"
    "860Z861Z862Z863Z864Z865Z866Z867Z868Z869Z"
    "870Z871Z872Z873Z874Z875Z876Z877Z878Z879Z"
    "880Z881Z882Z883Z884Z885Z886Z887Z888Z889Z"
    "890Z891Z892Z893Z894Z895Z896Z897Z898Z899Z"
    "900Z901Z902Z903Z904Z905Z906Z907Z908Z909Z"
    "910Z911Z912Z913Z914Z915Z916Z917Z918Z919Z"
    "920Z921Z922Z923Z924Z925Z926Z927Z928Z929Z"
    "930Z931Z932Z933Z934Z935Z936Z937Z938Z939Z"
    "940Z941Z942Z943Z944Z945Z946Z947Z948Z949Z"
    "950Z951Z952Z953Z954Z955Z956Z957Z958Z959Z"
    "960Z961Z962Z963Z964Z965Z966Z967Z968Z969Z"
    "970Z971Z972Z973Z974Z975Z976Z977Z978Z979Z"
    "980Z981Z982Z983Z984Z985Z986Z987Z988Z989Z"
    "990Z991Z992Z993Z994Z995Z996Z997Z998Z999Z";

char *weft__json_timestamp_cached_at(char *t, uint64_t unix_ns, weft__ts_cache *c)
{
    uint64_t sec = unix_ns / 1000000000u;
    if (__builtin_expect(c->text[0] == 0 || c->sec != sec, 0)) {
        char *end = weft__json_timestamp_at(t, unix_ns);
        memcpy(c->text, t, 21);
        c->sec = sec;
        return end;
    }
    memcpy(t, c->text, 21);
    unsigned us = (unsigned)(unix_ns - sec * 1000000000u) / 1000u; /* truncated, never rounded up */
    unsigned ms = us / 1000u;
    memcpy(t + 21, three_digits + 4 * ms, 4);
    memcpy(t + 24, three_digits + 4 * (us - ms * 1000u), 4);
    t[28] = '"';
    return t + WEFT__JSON_TIMESTAMP_LEN;
}

