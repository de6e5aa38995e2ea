/*
 * json_shrink.c — cutting a JSON text's longest strings to fit a limit (see json_shrink.h).
 *
 * One pass finds the string values (a string is a key when ':' follows it) longer than the
 * floor and decodes them once; then a binary search on the cap C re-writes the text, copying
 * everything else byte for byte and writing each long string through weft__json_str with
 * max_bytes C (which cuts at a character boundary and appends the marker). The written size
 * never decreases as C grows, so the search finds the largest C that fits.
 */
#include "json_shrink.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"

typedef struct str {
    size_t at, end; /* the literal, quotes included: in[at..end) */
    char *text;     /* decoded content (owned) */
    size_t len;
} str;

static size_t put_utf8(char *o, uint32_t c)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | c >> 6);
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | c >> 12);
        o[1] = (char)(0x80 | (c >> 6 & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | c >> 18);
    o[1] = (char)(0x80 | (c >> 12 & 0x3F));
    o[2] = (char)(0x80 | (c >> 6 & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

static int hex4(const char *p, const char *end, uint32_t *v)
{
    if (end - p < 4)
        return 0;
    uint32_t x = 0;
    for (int k = 0; k < 4; k++) {
        char c = p[k];
        x <<= 4;
        if (c >= '0' && c <= '9')
            x |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            x |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            x |= (uint32_t)(c - 'A' + 10);
        else
            return 0;
    }
    *v = x;
    return 1;
}

/* Decodes the content of the literal in[at..end) (quotes included) into a new buffer. */
static char *decode(const char *in, size_t at, size_t end, size_t *out_len)
{
    const char *p = in + at + 1, *e = in + end - 1;
    char *o = malloc((size_t)(e - p) + 1), *w = o;
    if (!o)
        return NULL;
    while (p < e) {
        if (*p != '\\') {
            *w++ = *p++;
            continue;
        }
        p++;
        char c = p < e ? *p++ : 0;
        uint32_t u;
        switch (c) {
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u':
            if (!hex4(p, e, &u)) {
                free(o);
                return NULL;
            }
            p += 4;
            if (u >= 0xD800 && u <= 0xDBFF && e - p >= 6 && p[0] == '\\' && p[1] == 'u') {
                uint32_t lo;
                if (hex4(p + 2, e, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                    u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                    p += 6;
                }
            }
            if (u >= 0xD800 && u <= 0xDFFF)
                u = 0xFFFD; /* a lone surrogate */
            /* \u escapes take 6 bytes of input for at most 3 of output (or 12 for 4). */
            w += put_utf8(w, u);
            break;
        default: *w++ = c; break; /* '"', '\\', '/' */
        }
    }
    *out_len = (size_t)(w - o);
    return o;
}

/* Finds the string values with more than `floor` bytes of literal; false when the text cannot
 * be walked or memory is short. */
static bool find_long(const char *in, size_t len, size_t floor, str **out, size_t *n_out)
{
    str *v = NULL;
    size_t n = 0, cap = 0;
    for (size_t k = 0; k < len; k++) {
        if (in[k] != '"')
            continue;
        size_t at = k++;
        while (k < len && in[k] != '"')
            k += in[k] == '\\' ? 2 : 1;
        if (k >= len)
            goto bad;
        size_t end = k + 1, q = end;
        while (q < len && (in[q] == ' ' || in[q] == '\n' || in[q] == '\r' || in[q] == '\t'))
            q++;
        if ((q < len && in[q] == ':') || end - at - 2 <= floor)
            continue; /* a key, or short */
        if (n == cap) {
            str *nv = weft__grow(v, &cap, sizeof *nv, 8);
            if (!nv)
                goto bad;
            v = nv;
        }
        v[n].at = at;
        v[n].end = end;
        v[n].text = decode(in, at, end, &v[n].len);
        if (!v[n].text)
            goto bad;
        n++;
    }
    *out = v;
    *n_out = n;
    return true;
bad:
    for (size_t x = 0; x < n; x++)
        free(v[x].text);
    free(v);
    return false;
}

/* Writes the text with every long string cut to cap bytes of content; returns its size. */
static size_t write_capped(weft__buf *out, const char *in, size_t len, const str *v, size_t n, size_t cap)
{
    size_t start = out->len, from = 0;
    for (size_t x = 0; x < n; x++) {
        weft__buf_append(out, in + from, v[x].at - from);
        if (v[x].len > cap)
            weft__json_str(out, v[x].text, v[x].len, cap);
        else
            weft__buf_append(out, in + v[x].at, v[x].end - v[x].at);
        from = v[x].end;
    }
    weft__buf_append(out, in + from, len - from);
    return out->len - start;
}

bool weft__json_shrink(weft__buf *out, const char *in, size_t len, size_t target)
{
    if (len <= target) {
        weft__buf_append(out, in, len);
        return !out->oom;
    }
    str *v;
    size_t n;
    if (!find_long(in, len, WEFT__JSON_SHRINK_MIN, &v, &n))
        return false;
    size_t start = out->len;
    size_t lo = WEFT__JSON_SHRINK_MIN, hi = 0;
    for (size_t x = 0; x < n; x++)
        if (v[x].len > hi)
            hi = v[x].len;
    bool ok = false;
    if (n > 0) {
        /* Invariant: cap lo fits (checked first), cap hi + 1 does not (the whole text). */
        size_t got = write_capped(out, in, len, v, n, lo);
        out->len = start;
        if (!out->oom && got <= target) {
            ok = true;
            while (lo < hi) {
                size_t mid = lo + (hi - lo + 1) / 2;
                got = write_capped(out, in, len, v, n, mid);
                out->len = start;
                if (out->oom)
                    break;
                if (got <= target)
                    lo = mid;
                else
                    hi = mid - 1;
            }
            write_capped(out, in, len, v, n, lo);
            ok = !out->oom;
        }
    }
    if (!ok) {
        out->len = start;
        out->oom = false;
    }
    for (size_t x = 0; x < n; x++)
        free(v[x].text);
    free(v);
    return ok;
}
