/*
 * traceparent.c — the W3C traceparent / tracestate codec (see traceparent.h for the grammar).
 * Pure functions over the caller's bytes.
 */
#include "traceparent.h"

#include <string.h>

static inline bool ows(char c) { return c == ' ' || c == '\t'; }

/* Value of a lower-case hex digit, or -1 (upper case is not HEXDIGLC: invalid). */
static inline int hexlc(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* n (<= 16) lower-case hex digits at s into *v. */
static bool hex_n(const char *s, size_t n, uint64_t *v)
{
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        int d = hexlc(s[i]);
        if (d < 0)
            return false;
        x = (x << 4) | (uint64_t)d;
    }
    *v = x;
    return true;
}

bool weft__traceparent_parse(const char *s, size_t len, weft__traceparent *out)
{
    if (!s)
        return false;
    while (len && ows(s[0]))
        s++, len--;
    while (len && ows(s[len - 1]))
        len--;
    if (len < WEFT__TRACEPARENT_LEN)
        return false;
    uint64_t version, hi, lo, span, flags;
    if (!hex_n(s, 2, &version) || version == 0xff || s[2] != '-')
        return false;
    /* Version 00 is exactly 55 characters; a later version may add fields after a '-'. */
    if (version == 0 ? len != WEFT__TRACEPARENT_LEN : (len > WEFT__TRACEPARENT_LEN && s[55] != '-'))
        return false;
    if (!hex_n(s + 3, 16, &hi) || !hex_n(s + 19, 16, &lo) || s[35] != '-')
        return false;
    if (!hex_n(s + 36, 16, &span) || s[52] != '-' || !hex_n(s + 53, 2, &flags))
        return false;
    if ((hi | lo) == 0 || span == 0)
        return false;
    out->trace_hi = hi;
    out->trace_lo = lo;
    out->span_id = span;
    out->version = (uint8_t)version;
    out->flags = (uint8_t)flags;
    return true;
}

static char *put_hex(char *o, uint64_t v, int digits)
{
    static const char d[] = "0123456789abcdef";
    for (int i = digits - 1; i >= 0; i--) {
        o[i] = d[v & 15];
        v >>= 4;
    }
    return o + digits;
}

size_t weft__traceparent_format(char *out, const weft__traceparent *tp)
{
    char *o = out;
    *o++ = '0';
    *o++ = '0';
    *o++ = '-';
    o = put_hex(o, tp->trace_hi, 16);
    o = put_hex(o, tp->trace_lo, 16);
    *o++ = '-';
    o = put_hex(o, tp->span_id, 16);
    *o++ = '-';
    o = put_hex(o, tp->flags, 2);
    *o = '\0';
    return WEFT__TRACEPARENT_LEN;
}

/* ---- tracestate ----------------------------------------------------------------------- */

static inline bool lcalpha(char c) { return c >= 'a' && c <= 'z'; }
static inline bool digit(char c) { return c >= '0' && c <= '9'; }
static inline bool key_char(char c)
{
    return lcalpha(c) || digit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}
/* nblk-chr: printable ASCII except ',' and '='. */
static inline bool value_char(char c)
{
    unsigned char u = (unsigned char)c;
    return u >= 0x21 && u <= 0x7e && c != ',' && c != '=';
}

static bool key_valid(const char *k, size_t n)
{
    const char *at = memchr(k, '@', n);
    if (!at) {
        /* simple-key: lcalpha 0*255(key chars) */
        if (n < 1 || n > 256 || !lcalpha(k[0]))
            return false;
        for (size_t i = 1; i < n; i++)
            if (!key_char(k[i]))
                return false;
        return true;
    }
    /* tenant-id "@" system-id: (lcalpha / DIGIT) 0*240(...) "@" lcalpha 0*13(...) */
    size_t tn = (size_t)(at - k), sn = n - tn - 1;
    if (tn < 1 || tn > 241 || sn < 1 || sn > 14)
        return false;
    if (!lcalpha(k[0]) && !digit(k[0]))
        return false;
    for (size_t i = 1; i < tn; i++)
        if (!key_char(k[i]))
            return false;
    if (!lcalpha(at[1]))
        return false;
    for (size_t i = 1; i < sn; i++)
        if (!key_char(at[1 + i]))
            return false;
    return true;
}

static bool value_valid(const char *v, size_t n)
{
    /* 0*255(chr) nblk-chr, chr = SP / nblk-chr */
    if (n < 1 || n > 256 || !value_char(v[n - 1]))
        return false;
    for (size_t i = 0; i + 1 < n; i++)
        if (v[i] != ' ' && !value_char(v[i]))
            return false;
    return true;
}

bool weft__tracestate_valid(const char *s, size_t len, size_t *members)
{
    struct {
        const char *k;
        size_t n;
    } keys[WEFT__TRACESTATE_MAX_MEMBERS];
    size_t count = 0;
    if (!s)
        return false;
    size_t i = 0;
    while (i <= len) {
        /* One list member: from i to the next ',' (or the end), whitespace around it trimmed. */
        const char *comma = memchr(s + i, ',', len - i);
        size_t end = comma ? (size_t)(comma - s) : len;
        size_t a = i, b = end;
        while (a < b && ows(s[a]))
            a++;
        while (b > a && ows(s[b - 1]))
            b--;
        if (a < b) {
            const char *eq = memchr(s + a, '=', b - a);
            if (!eq)
                return false;
            size_t kn = (size_t)(eq - (s + a));
            if (!key_valid(s + a, kn) || !value_valid(eq + 1, b - a - kn - 1))
                return false;
            if (count == WEFT__TRACESTATE_MAX_MEMBERS)
                return false; /* a 33rd member: the whole header is discarded */
            for (size_t j = 0; j < count; j++)
                if (keys[j].n == kn && memcmp(keys[j].k, s + a, kn) == 0)
                    return false;
            keys[count].k = s + a;
            keys[count].n = kn;
            count++;
        }
        if (!comma)
            break;
        i = end + 1;
    }
    if (members)
        *members = count;
    return count > 0;
}
