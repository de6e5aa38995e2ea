/*
 * otlp_value.c — JSON text and jansson values to AnyValue wire bytes (see otlp_value.h for the
 * mapping). The JSON reader is a recursive descent that accepts exactly what jansson's parser
 * accepts with JSON_DECODE_ANY | JSON_ALLOW_NUL (its limits: int64 integers, finite doubles,
 * no NUL in keys, 2048 levels; valid UTF-8; paired surrogate escapes), so that a value takes
 * the same path it took when jansson read it, and writes the AnyValue as it reads: nested
 * messages get their length once their body is written (pb_wire.h). Every pointer is borrowed
 * for the call.
 */
#include "otlp_value.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "pb_wire.h"
#include "stratix_doc.h"

/* AnyValue fields (common.proto) and the repeated fields holding values. */
#define T_STRING WEFT__PB_TAG(1, WEFT__PB_LEN)
#define T_BOOL WEFT__PB_TAG(2, WEFT__PB_VARINT)
#define T_INT WEFT__PB_TAG(3, WEFT__PB_VARINT)
#define T_DOUBLE WEFT__PB_TAG(4, WEFT__PB_I64)
#define T_ARRAY WEFT__PB_TAG(5, WEFT__PB_LEN)
#define T_KVLIST WEFT__PB_TAG(6, WEFT__PB_LEN)
#define T_VALUES WEFT__PB_TAG(1, WEFT__PB_LEN) /* ArrayValue.values, KeyValueList.values */
#define T_KEY WEFT__PB_TAG(1, WEFT__PB_LEN)    /* KeyValue.key */
#define T_VALUE WEFT__PB_TAG(2, WEFT__PB_LEN)  /* KeyValue.value */
/* Span.Event fields (trace.proto). */
#define T_EV_TIME WEFT__PB_TAG(1, WEFT__PB_I64)
#define T_EV_NAME WEFT__PB_TAG(2, WEFT__PB_LEN)
#define T_EV_ATTR WEFT__PB_TAG(3, WEFT__PB_LEN)

#define JANSSON_MAX_DEPTH 2048 /* jansson's JSON_PARSER_MAX_DEPTH: values nested deeper fail */
#define MAX_KEYS 32            /* members of one object checked for repeats here; more: jansson */
#define LOAD_FLAGS (JSON_DECODE_ANY | JSON_ALLOW_NUL)

/* ---- reading JSON as jansson does ---------------------------------------------------------------- */

static inline WEFT__ALWAYS_INLINE const char *skip_ws(const char *p, const char *end)
{
    /* Most JSON weft reads is minified: one test for "no whitespace here". */
    if (__builtin_expect(p < end && (unsigned char)*p > ' ', 1))
        return p;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int hex4(const char *p, const char *end)
{
    if (end - p < 4)
        return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

#define S_ESCAPES 1u /* the string has escapes: its text is not its value */
#define S_NUL 2u     /* one of them is \u0000 */

/* The string literal whose content starts at p (just after the opening quote): returns the
 * position after the closing quote, or NULL when jansson would refuse it (a control character,
 * a bad escape, an unpaired surrogate, invalid UTF-8). *flags gets S_* bits. */
static const char *str_scan(const char *p, const char *end, unsigned *flags)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    for (;;) {
        /* Eight bytes at a time to the first that needs a look: a control byte, '"', '\\' or
         * one >= 0x80 (the lowest flag of each has-byte test is exact, so is their union's). */
        for (;;) {
#if defined(__SSE2__)
            if (end - p >= 16) {
                /* Signed "less than 0x20" also catches bytes >= 0x80. */
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
                __m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
                                           _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                                                        _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
                unsigned mask = (unsigned)_mm_movemask_epi8(bad);
                if (!mask) {
                    p += 16;
                    continue;
                }
                p += __builtin_ctz(mask);
                break;
            }
#endif
            if (end - p >= 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
                uint64_t m = (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs) | w) & highs;
                if (!m) {
                    p += 8;
                    continue;
                }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                p += __builtin_ctzll(m) >> 3;
                break;
#endif
            }
            while (p < end && (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x80 && *p != '"' && *p != '\\')
                p++;
            break;
        }
        if (p >= end)
            return NULL;
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c >= 0x80) {
            const char *q = p + 1;
            while (q < end && (unsigned char)*q >= 0x80)
                q++;
            if (!weft__utf8_valid(p, (size_t)(q - p)))
                return NULL;
            p = q;
            continue;
        }
        if (c != '\\') {
            p++;
            continue;
        }
        *flags |= S_ESCAPES;
        if (++p >= end)
            return NULL;
        switch (*p) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            p++;
            break;
        case 'u': {
            int u = hex4(p + 1, end);
            if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
                return NULL;
            p += 5;
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (end - p < 2 || p[0] != '\\' || p[1] != 'u')
                    return NULL;
                int lo = hex4(p + 2, end);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return NULL;
                p += 6;
            }
            if (u == 0)
                *flags |= S_NUL;
            break;
        }
        default:
            return NULL;
        }
    }
}

/* Decodes the content p[0..q) of a string str_scan accepted into o (room for q - p bytes:
 * no escape decodes longer than it is written); returns the bytes written. */
static size_t str_decode(char *o, const char *p, const char *q)
{
    char *start = o;
    while (p < q) {
        const char *bs = memchr(p, '\\', (size_t)(q - p));
        size_t run = bs ? (size_t)(bs - p) : (size_t)(q - p);
        memcpy(o, p, run);
        o += run;
        p += run;
        if (!bs)
            break;
        char c = p[1];
        p += 2;
        switch (c) {
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            uint32_t u = (uint32_t)hex4(p, q);
            p += 4;
            if (u >= 0xD800 && u <= 0xDBFF) {
                uint32_t lo = (uint32_t)hex4(p + 2, q);
                p += 6;
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (u < 0x80) {
                *o++ = (char)u;
            } else if (u < 0x800) {
                *o++ = (char)(0xC0 | (u >> 6));
                *o++ = (char)(0x80 | (u & 0x3F));
            } else if (u < 0x10000) {
                *o++ = (char)(0xE0 | (u >> 12));
                *o++ = (char)(0x80 | ((u >> 6) & 0x3F));
                *o++ = (char)(0x80 | (u & 0x3F));
            } else {
                *o++ = (char)(0xF0 | (u >> 18));
                *o++ = (char)(0x80 | ((u >> 12) & 0x3F));
                *o++ = (char)(0x80 | ((u >> 6) & 0x3F));
                *o++ = (char)(0x80 | (u & 0x3F));
            }
            break;
        }
        default: /* '"', '\\', '/' */
            *o++ = c;
        }
    }
    return (size_t)(o - start);
}

/* Appends a string field (tag) holding the decoded literal content p[0..q); returns the
 * length of the string written. */
static inline size_t put_str_field(weft__buf *b, uint8_t tag, const char *p, const char *q, unsigned flags)
{
    size_t raw = (size_t)(q - p);
    if (!(flags & S_ESCAPES) && raw < 0x80) { /* most keys and short values: one length byte */
        if (!weft__buf_reserve(b, 2 + raw))
            return 0;
        uint8_t *o = weft__pb_at(b);
        o[0] = tag;
        o[1] = (uint8_t)raw;
        weft__copy((char *)o + 2, p, raw);
        b->len += 2 + raw;
        return raw;
    }
    if (!(flags & S_ESCAPES)) {
        weft__pb_bytes(b, tag, p, raw);
        return raw;
    }
    size_t guess = weft__pb_varint_len(raw);
    size_t at = weft__pb_open(b, tag, guess);
    if (at == SIZE_MAX || !weft__buf_reserve(b, raw))
        return 0;
    size_t n = str_decode(b->data + b->len, p, q);
    b->len += n;
    weft__pb_close(b, at, guess);
    return n;
}

/* The number at p: its end, or NULL when it is not one by JSON's grammar. */
static const char *num_scan(const char *p, const char *end, bool *real)
{
    *real = false;
    if (p < end && *p == '-')
        p++;
    if (p >= end)
        return NULL;
    if (*p == '0') {
        p++;
    } else if (*p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    } else {
        return NULL;
    }
    if (p < end && *p == '.') {
        const char *d = ++p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return NULL;
        *real = true;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        const char *d = p;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return NULL;
        *real = true;
    }
    return p;
}

/* s[0..n) NUL-terminated in small (64 bytes) or on the heap; NULL when memory is short. */
static char *cstr(char *small, const char *s, size_t n)
{
    char *t = n < 64 ? small : malloc(n + 1);
    if (t) {
        memcpy(t, s, n);
        t[n] = '\0';
    }
    return t;
}

/* strtod whatever the process's locale: the decimal point made the locale's, as jansson's
 * jsonp_strtod does. t is modified. */
static double c_strtod(char *t, char **end)
{
    char point = localeconv()->decimal_point[0];
    if (point != '.') {
        char *dot = strchr(t, '.');
        if (dot)
            *dot = point;
    }
    return strtod(t, end);
}

/* The integer text p[0..n) (JSON's grammar) as jansson reads it: false when it is outside
 * int64 (jansson: "too big integer"). */
static bool int_of(const char *p, size_t n, int64_t *v)
{
    bool neg = *p == '-';
    if (n - neg <= 18) { /* 18 digits cannot overflow */
        uint64_t x = 0;
        for (size_t i = neg; i < n; i++)
            x = x * 10 + (uint64_t)(p[i] - '0');
        *v = neg ? -(int64_t)x : (int64_t)x;
        return true;
    }
    char small[64], *t = cstr(small, p, n);
    if (!t)
        return false;
    errno = 0;
    long long x = strtoll(t, NULL, 10);
    bool ok = errno == 0;
    if (t != small)
        free(t);
    *v = (int64_t)x;
    return ok;
}

/* The number text p[0..n) (JSON's grammar) as a double without strtod, when that is exact:
 * at most 15 significant digits (an integer a double holds exactly) scaled by a power of ten
 * up to 22 (exact too), so that the one multiplication or division rounds to the double
 * nearest the text, which is what strtod returns (Clinger's fast path). False otherwise. */
static bool fast_real(const char *p, size_t n, double *v)
{
    static const double pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                     1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    const char *end = p + n;
    bool neg = *p == '-';
    p += neg;
    uint64_t m = 0;
    int digits = 0, scale = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++) {
        if (m || *p != '0')
            digits++;
        m = m * 10 + (uint64_t)(*p - '0');
        if (digits > 15)
            return false;
    }
    if (p < end && *p == '.') {
        for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
            if (m || *p != '0')
                digits++;
            m = m * 10 + (uint64_t)(*p - '0');
            scale--;
            if (digits > 15)
                return false;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = p < end && *p == '-';
        p += p < end && (*p == '-' || *p == '+');
        int e = 0;
        for (; p < end && *p >= '0' && *p <= '9'; p++) {
            e = e * 10 + (*p - '0');
            if (e > 1000)
                return false;
        }
        scale += eneg ? -e : e;
    }
    if (p != end || scale < -22 || scale > 22)
        return false;
    double d = (double)m;
    d = scale < 0 ? d / pow10[-scale] : d * pow10[scale];
    *v = neg ? -d : d;
    return true;
}

/* The real text p[0..n) as jansson reads it: false when it overflows a double. */
static bool real_of(const char *p, size_t n, double *v)
{
    if (fast_real(p, n, v))
        return true;
    char small[64], *t = cstr(small, p, n);
    if (!t)
        return false;
    errno = 0;
    double d = c_strtod(t, NULL);
    bool ok = !((d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE);
    if (t != small)
        free(t);
    *v = d;
    return ok;
}

static const char *lit(const char *p, const char *end, const char *word, size_t n)
{
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

/* The end of the JSON value at p (whitespace before it skipped, none after), or NULL when
 * jansson would refuse it. jdepth: jansson's depth of this value (the top is 1). */
static const char *check(const char *p, const char *end, int jdepth)
{
    p = skip_ws(p, end);
    if (p >= end || jdepth > JANSSON_MAX_DEPTH)
        return NULL;
    unsigned f = 0;
    switch (*p) {
    case '"':
        return str_scan(p + 1, end, &f);
    case 't':
        return lit(p, end, "true", 4);
    case 'f':
        return lit(p, end, "false", 5);
    case 'n':
        return lit(p, end, "null", 4);
    case '[':
    case '{': {
        bool obj = *p == '{';
        char close = obj ? '}' : ']';
        p = skip_ws(p + 1, end);
        if (p < end && *p == close)
            return p + 1;
        for (;;) {
            if (obj) {
                f = 0;
                if (p >= end || *p != '"' || !(p = str_scan(p + 1, end, &f)) || (f & S_NUL))
                    return NULL;
                p = skip_ws(p, end);
                if (p >= end || *p != ':')
                    return NULL;
                p++;
            }
            if (!(p = check(p, end, jdepth + 1)))
                return NULL;
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p = skip_ws(p + 1, end);
                continue;
            }
            return p < end && *p == close ? p + 1 : NULL;
        }
    }
    default: {
        bool real;
        const char *q = num_scan(p, end, &real);
        int64_t i;
        double d;
        if (!q || !(real ? real_of(p, (size_t)(q - p), &d) : int_of(p, (size_t)(q - p), &i)))
            return NULL;
        return q;
    }
    }
}

bool weft__otlp_json_ok(const char *s, size_t n)
{
    const char *q = check(s, s + n, 1);
    return q && skip_ws(q, s + n) == s + n;
}

/* ---- AnyValue from jansson's tree ------------------------------------------------------------------ */

static void put_int(weft__buf *b, int64_t i)
{
    if (!weft__buf_reserve(b, 1 + WEFT__PB_VARINT_MAX))
        return;
    uint8_t *o = weft__pb_at(b);
    o[0] = T_INT;
    b->len += 1 + weft__pb_put_varint(o + 1, (uint64_t)i);
}

static void put_double(weft__buf *b, double d)
{
    if (!weft__buf_reserve(b, 9))
        return;
    uint8_t *o = weft__pb_at(b);
    uint64_t bits;
    memcpy(&bits, &d, 8);
    o[0] = T_DOUBLE;
    weft__pb_put_le64(o + 1, bits);
    b->len += 9;
}

static void put_bool(weft__buf *b, bool v)
{
    if (!weft__buf_reserve(b, 2))
        return;
    b->data[b->len] = (char)T_BOOL;
    b->data[b->len + 1] = (char)v;
    b->len += 2;
}

void weft__otlp_value_str(weft__buf *b, const char *s, size_t n) { weft__pb_bytes(b, T_STRING, s, n); }

/* A container too deep to nest: its compact JSON text, as jansson writes it. */
static void put_dump(weft__buf *b, const json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text) {
        b->oom = true;
        return;
    }
    weft__pb_bytes(b, T_STRING, text, strlen(text));
    free(text);
}

/* One KeyValue field: tag, then key (left out when empty: proto3) and value. */
static void jansson_kv(weft__buf *b, uint8_t tag, const char *k, size_t klen, const json_t *v, int depth)
{
    size_t kv = weft__pb_open(b, tag, 1);
    if (klen)
        weft__pb_bytes(b, T_KEY, k, klen);
    size_t at = weft__pb_open(b, T_VALUE, 1);
    weft__otlp_value_jansson(b, v, depth);
    weft__pb_close(b, at, 1);
    weft__pb_close(b, kv, 1);
}

static void jansson_members(weft__buf *b, uint8_t tag, const json_t *obj, int depth)
{
    const char *k;
    size_t klen;
    json_t *el;
    json_object_keylen_foreach((json_t *)obj, k, klen, el) jansson_kv(b, tag, k, klen, el, depth);
}

void weft__otlp_value_jansson(weft__buf *b, const json_t *j, int depth)
{
    switch (json_typeof(j)) {
    case JSON_STRING:
        weft__pb_bytes(b, T_STRING, json_string_value(j), json_string_length(j));
        return;
    case JSON_INTEGER:
        put_int(b, (int64_t)json_integer_value(j));
        return;
    case JSON_REAL:
        put_double(b, json_real_value(j));
        return;
    case JSON_TRUE:
    case JSON_FALSE:
        put_bool(b, json_is_true(j));
        return;
    case JSON_NULL:
        return; /* an empty AnyValue: OTLP's null */
    case JSON_ARRAY:
    case JSON_OBJECT:
        break;
    }
    if (depth >= WEFT__OTLP_MAX_DEPTH) {
        put_dump(b, j);
        return;
    }
    if (json_is_array(j)) {
        size_t at = weft__pb_open(b, T_ARRAY, 1);
        size_t i;
        json_t *el;
        json_array_foreach(j, i, el)
        {
            size_t e = weft__pb_open(b, T_VALUES, 1);
            weft__otlp_value_jansson(b, el, depth + 1);
            weft__pb_close(b, e, 1);
        }
        weft__pb_close(b, at, 1);
        return;
    }
    size_t at = weft__pb_open(b, T_KVLIST, 1);
    jansson_members(b, T_VALUES, j, depth + 1);
    weft__pb_close(b, at, 1);
}

/* ---- AnyValue from JSON text, in one pass ------------------------------------------------------------- */

typedef struct reader {
    weft__buf *b;
    const char *end;
    int jbase; /* jansson's depth of a value at depth 0, minus 1 */
} reader;

static const char *value(reader *x, const char *p, int depth);

/* What jansson is still used for: the array or object at p, at depth `depth`, read by jansson
 * and written from its tree — as its members (KeyValue fields with tag) when `members`, else
 * as the AnyValue of a container too deep to nest. Its end, or NULL when jansson would refuse
 * it. */
static const char *by_jansson(reader *x, const char *p, int depth, bool members, uint8_t tag)
{
    const char *q = check(p, x->end, depth + 1 + x->jbase);
    if (!q)
        return NULL;
    json_t *j = json_loadb(p, (size_t)(q - p), LOAD_FLAGS, NULL);
    if (!j) {
        x->b->oom = true; /* check() agreed, so only memory can be short */
        return q;
    }
    if (members)
        jansson_members(x->b, tag, j, depth + 1);
    else
        put_dump(x->b, j);
    json_decref(j);
    return q;
}

/* The members of the object at p ('{', at depth `depth`) as KeyValue fields with tag. A key
 * given twice, or more than MAX_KEYS members, hand the object to jansson (which keeps a
 * repeated key's first place and last value). */
static const char *members(reader *x, const char *p, int depth, uint8_t tag)
{
    weft__buf *b = x->b;
    const char *start = p, *end = x->end;
    size_t mark = b->len;
    /* Where each member's key is in b (offset, length), to find a key given twice. */
    size_t key_at[MAX_KEYS], key_len[MAX_KEYS];
    size_t nk = 0;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return p + 1;
    for (;;) {
        unsigned f = 0;
        const char *k = p + 1, *q;
        if (p >= end || *p != '"' || !(q = str_scan(k, end, &f)) || (f & S_NUL))
            return NULL;
        if (nk == MAX_KEYS) {
            b->len = mark;
            return by_jansson(x, start, depth, true, tag);
        }
        size_t kv = weft__pb_open(b, tag, 1);
        size_t kl = q - 1 > k ? put_str_field(b, T_KEY, k, q - 1, f) : 0;
        if (b->oom)
            return q; /* the caller sees oom */
        /* The key: after the tag and length of its field, at the start of kv's body. */
        size_t ko = kv + 1 + (kl ? 1 + weft__pb_varint_len(kl) : 0);
        for (size_t i = 0; i < nk; i++) {
            if (key_len[i] == kl && memcmp(b->data + key_at[i], b->data + ko, kl) == 0) {
                b->len = mark;
                return by_jansson(x, start, depth, true, tag);
            }
        }
        p = skip_ws(q, end);
        if (p >= end || *p != ':')
            return NULL;
        size_t at = weft__pb_open(b, T_VALUE, 1);
        if (!(p = value(x, p + 1, depth + 1)))
            return NULL;
        weft__pb_close(b, at, 1);
        /* kv's length takes varint_len(body) bytes where one was left: the key moves by the
         * difference. */
        size_t body = b->len - kv - 1;
        weft__pb_close(b, kv, 1);
        if (b->oom)
            return p;
        key_at[nk] = ko + weft__pb_varint_len(body) - 1;
        key_len[nk] = kl;
        nk++;
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        return p < end && *p == '}' ? p + 1 : NULL;
    }
}

/* The AnyValue content of the JSON value at p, at depth `depth`: its end, or NULL when jansson
 * would refuse the text (the caller writes the whole value as its text). */
static const char *value(reader *x, const char *p, int depth)
{
    weft__buf *b = x->b;
    const char *end = x->end;
    p = skip_ws(p, end);
    if (p >= end)
        return NULL;
    switch (*p) {
    case '"': {
        unsigned f = 0;
        const char *q = str_scan(p + 1, end, &f);
        if (q)
            put_str_field(b, T_STRING, p + 1, q - 1, f);
        return q;
    }
    case 't':
    case 'f': {
        bool t = *p == 't';
        const char *q = t ? lit(p, end, "true", 4) : lit(p, end, "false", 5);
        if (q)
            put_bool(b, t);
        return q;
    }
    case 'n':
        return lit(p, end, "null", 4);
    case '[': {
        if (depth >= WEFT__OTLP_MAX_DEPTH)
            return by_jansson(x, p, depth, false, 0);
        size_t at = weft__pb_open(b, T_ARRAY, 1);
        p = skip_ws(p + 1, end);
        if (p < end && *p == ']') {
            weft__pb_close(b, at, 1);
            return p + 1;
        }
        for (;;) {
            size_t e = weft__pb_open(b, T_VALUES, 1);
            if (!(p = value(x, p, depth + 1)))
                return NULL;
            weft__pb_close(b, e, 1);
            p = skip_ws(p, end);
            if (p < end && *p == ',') {
                p++;
                continue;
            }
            if (p < end && *p == ']')
                break;
            return NULL;
        }
        weft__pb_close(b, at, 1);
        return p + 1;
    }
    case '{': {
        if (depth >= WEFT__OTLP_MAX_DEPTH)
            return by_jansson(x, p, depth, false, 0);
        size_t at = weft__pb_open(b, T_KVLIST, 1);
        if (!(p = members(x, p, depth, T_VALUES)))
            return NULL;
        weft__pb_close(b, at, 1);
        return p;
    }
    default: {
        /* The common integer, read as it is scanned: up to 18 digits cannot overflow. */
        const char *d0 = p + (*p == '-'), *q = d0;
        uint64_t u = 0;
        while (q < end && (unsigned)(*q - '0') < 10 && q - d0 < 19)
            u = u * 10 + (uint64_t)(*q++ - '0');
        size_t nd = (size_t)(q - d0);
        if (nd >= 1 && nd <= 18 && !(nd > 1 && *d0 == '0') &&
            (q == end || (*q != '.' && *q != 'e' && *q != 'E' && (unsigned)(*q - '0') >= 10))) {
            put_int(b, *p == '-' ? -(int64_t)u : (int64_t)u);
            return q;
        }
        bool real;
        q = num_scan(p, end, &real);
        if (!q)
            return NULL;
        if (real) {
            double d;
            if (!real_of(p, (size_t)(q - p), &d))
                return NULL;
            put_double(b, d);
        } else {
            int64_t i;
            if (!int_of(p, (size_t)(q - p), &i))
                return NULL;
            put_int(b, i);
        }
        return q;
    }
    }
}

/* A record value's top: a number read as strtoll, else strtod, read it (otlp_value.h). */
static bool top_number(weft__buf *b, const char *s, size_t n)
{
    bool neg = s[0] == '-';
    size_t d = neg;
    while (d < n && s[d] >= '0' && s[d] <= '9')
        d++;
    if (d == n && n - neg >= 1 && n - neg <= 18) {
        int64_t i;
        int_of(s, n, &i);
        put_int(b, i);
        return true;
    }
    char t[64];
    memcpy(t, s, n);
    t[n] = '\0';
    char *e;
    if (!memchr(s, '.', n) && !memchr(s, 'e', n) && !memchr(s, 'E', n)) {
        errno = 0;
        long long i = strtoll(t, &e, 10);
        if (*e == '\0' && errno == 0) {
            put_int(b, (int64_t)i);
            return true;
        }
    }
    bool real;
    double v;
    if (num_scan(s, s + n, &real) == s + n && fast_real(s, n, &v)) {
        put_double(b, v);
        return true;
    }
    v = c_strtod(t, &e);
    if (*e != '\0')
        return false;
    put_double(b, v);
    return true;
}

void weft__otlp_value_json(weft__buf *b, const char *s, size_t n)
{
    if (n == 0)
        return;
    char c = s[0];
    if (c == 't' && n == 4) {
        put_bool(b, true);
        return;
    }
    if (c == 'f' && n == 5) {
        put_bool(b, false);
        return;
    }
    if (c == 'n' && n == 4)
        return;
    if ((c == '-' || (c >= '0' && c <= '9')) && n < 64 && top_number(b, s, n))
        return;
    size_t mark = b->len;
    reader x = {b, s + n, 0};
    const char *q = value(&x, s, 0);
    if (b->oom || (q && skip_ws(q, s + n) == s + n))
        return;
    b->len = mark; /* not JSON jansson reads: the text itself */
    weft__pb_bytes(b, T_STRING, s, n);
}

bool weft__otlp_json_next(const char *s, size_t n, size_t *pos, const char **el, size_t *el_len)
{
    const char *end = s + n, *p = skip_ws(s + *pos, end);
    if (*pos == 0) {
        if (p >= end || *p != '[')
            return false;
        p = skip_ws(p + 1, end);
        if (p < end && *p == ']')
            return false;
    } else {
        if (p >= end || *p != ',')
            return false;
        p = skip_ws(p + 1, end);
    }
    const char *q = check(p, end, 2);
    if (!q)
        return false;
    *el = p;
    *el_len = (size_t)(q - p);
    *pos = (size_t)(q - s);
    return true;
}

/* ---- span events ------------------------------------------------------------------------------------------ */

bool weft__otlp_event_json(weft__buf *b, const char *s, size_t n, weft__buf *tmp)
{
    const char *end = s + n, *p = skip_ws(s, end);
    if (p >= end || *p != '{' || !weft__otlp_json_ok(s, n))
        return false;
    /* The text is valid: walk its members without re-checking. The last of a repeated member
     * counts, as in jansson's object. */
    const char *name = NULL, *ts = NULL, *attrs = NULL, *name_end = NULL, *ts_end = NULL, *attrs_end = NULL;
    p = skip_ws(p + 1, end);
    while (*p != '}') {
        unsigned f = 0;
        const char *k = p + 1, *q = str_scan(k, end, &f);
        char key[16];
        size_t kl = (size_t)(q - 1 - k);
        if (kl > sizeof key) /* decoded it is no longer, and longer than every name here */
            return false;
        kl = str_decode(key, k, q - 1);
        p = skip_ws(skip_ws(q, end) + 1, end); /* past ':' */
        const char *ve = check(p, end, 2);
        if (kl == 4 && memcmp(key, "name", 4) == 0)
            name = p, name_end = ve;
        else if (kl == 9 && memcmp(key, "timestamp", 9) == 0)
            ts = p, ts_end = ve;
        else if (kl == 10 && memcmp(key, "attributes", 10) == 0)
            attrs = p, attrs_end = ve;
        else
            return false; /* another member */
        p = skip_ws(ve, end);
        if (*p == ',')
            p = skip_ws(p + 1, end);
    }
    if (!name || *name != '"' || !ts || *ts != '"' || (attrs && *attrs != '{'))
        return false;
    unsigned name_f = 0, ts_f = 0;
    str_scan(name + 1, end, &name_f);
    str_scan(ts + 1, end, &ts_f);
    weft__buf_reset(tmp);
    if (!weft__buf_reserve(tmp, (size_t)(ts_end - ts)))
        return false;
    tmp->len = str_decode(tmp->data, ts + 1, ts_end - 1);
    tmp->data[tmp->len] = '\0';
    uint64_t ns;
    if (!weft__stratix_doc_time_ns(tmp->data, &ns))
        return false;
    if (!b)
        return true;
    if (ns && weft__buf_reserve(b, 9)) {
        uint8_t *o = weft__pb_at(b);
        o[0] = T_EV_TIME;
        weft__pb_put_le64(o + 1, ns);
        b->len += 9;
    }
    if (name_end - 1 > name + 1)
        put_str_field(b, T_EV_NAME, name + 1, name_end - 1, name_f);
    if (attrs) {
        reader x = {b, attrs_end, 2}; /* the object is a member of the event for jansson */
        members(&x, attrs, -1, T_EV_ATTR);
    }
    return true;
}
