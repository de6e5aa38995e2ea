/*
 * buf.h — a growable byte buffer, the one container the export side writes into.
 *
 * Owns: data (heap, freed by weft__buf_fini). A failed growth sets oom and turns every later
 * append into a no-op, so writers check once at the end instead of after each piece.
 * Not thread-safe; used only on the export thread and in tests.
 */
#ifndef WEFT_BUF_H
#define WEFT_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct weft__buf {
    char *data;
    size_t len, cap;
    bool oom;
} weft__buf;

void weft__buf_init(weft__buf *b);
void weft__buf_fini(weft__buf *b);
/* Makes room for `extra` more bytes; false (and oom set) when the heap says no. */
bool weft__buf_grow(weft__buf *b, size_t extra);

/* Growth for the other arrays of the tree (v of *cap elements of elem bytes, full): the array
 * reallocated to twice the capacity (first when it is 0), *cap updated. NULL when the heap says
 * no or the size would overflow; v and *cap are then as they were (v still the caller's). */
void *weft__grow(void *v, size_t *cap, size_t elem, size_t first);

static inline bool weft__buf_reserve(weft__buf *b, size_t extra)
{
    return (b->cap - b->len >= extra) ? true : weft__buf_grow(b, extra);
}

/* memcpy for a length known only at run time. Most keys, names and values on the export
 * side are under 17 bytes: two overlapping moves from the ends copy them without the call into
 * libc (a constant n folds to one branch). */
static inline void weft__copy(char *d, const void *src, size_t n)
{
    const char *s = (const char *)src;
    if (n > 16) {
        memcpy(d, s, n);
    } else if (n >= 8) {
        uint64_t x, y;
        memcpy(&x, s, 8);
        memcpy(&y, s + n - 8, 8);
        memcpy(d, &x, 8);
        memcpy(d + n - 8, &y, 8);
    } else if (n >= 4) {
        uint32_t x, y;
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        memcpy(d, &x, 4);
        memcpy(d + n - 4, &y, 4);
    } else if (n > 0) {
        char x = s[0], y = s[n / 2], z = s[n - 1];
        d[0] = x;
        d[n / 2] = y;
        d[n - 1] = z;
    }
}

static inline void weft__buf_append(weft__buf *b, const void *p, size_t n)
{
    if (n == 0 || !weft__buf_reserve(b, n))
        return;
    weft__copy(b->data + b->len, p, n);
    b->len += n;
}

static inline void weft__buf_putc(weft__buf *b, char c)
{
    if (!weft__buf_reserve(b, 1))
        return;
    b->data[b->len++] = c;
}

#define weft__buf_lit(b, lit) weft__buf_append((b), "" lit "", sizeof(lit) - 1)

static inline void weft__buf_reset(weft__buf *b)
{
    b->len = 0;
    b->oom = false;
}

#endif
