/*
 * buf.c — growth for weft__buf and for plain arrays (see buf.h). Doubling keeps appends
 * amortised O(1).
 */
#include "buf.h"

#include <stdlib.h>

void weft__buf_init(weft__buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = false;
}

void weft__buf_fini(weft__buf *b)
{
    free(b->data);
    weft__buf_init(b);
}

bool weft__buf_grow(weft__buf *b, size_t extra)
{
    if (b->oom)
        return false;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return false;
    }
    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void *weft__grow(void *v, size_t *cap, size_t elem, size_t first)
{
    size_t nc = *cap ? *cap : first;
    if (*cap) {
        if (*cap > SIZE_MAX / 2)
            return NULL;
        nc = *cap * 2;
    }
    if (elem && nc > SIZE_MAX / elem)
        return NULL;
    void *p = realloc(v, nc * elem);
    if (p)
        *cap = nc;
    return p;
}
