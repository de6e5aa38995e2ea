/*
 * batch.c — memory of a batch (see batch.h). The release side, which feeds statistics and
 * weft_flush, belongs to the worker (weft__batch_done in worker.c).
 */
#include "batch.h"

#include <stdlib.h>

weft__batch *weft__batch_new(void)
{
    weft__batch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    weft__buf_init(&b->json);
    b->cap = 64;
    b->off = malloc((b->cap + 1) * sizeof(*b->off));
    b->items = malloc(b->cap * sizeof(*b->items));
    if (!b->off || !b->items) {
        weft__batch_free(b);
        return NULL;
    }
    b->off[0] = 0;
    return b;
}

void weft__batch_free(weft__batch *b)
{
    if (!b)
        return;
    weft__buf_fini(&b->json);
    free(b->off);
    free(b->items);
    free(b);
}

void weft__batch_reset(weft__batch *b)
{
    weft__buf_reset(&b->json);
    b->n = b->n_complete = 0;
    b->off[0] = 0;
    b->refs = 0;
    b->dropped = 0;
    b->seq = 0;
    b->next = NULL;
}

bool weft__batch_push(weft__batch *b, const weft__batch_item *it)
{
    if (b->n == b->cap) {
        size_t cap = b->cap * 2;
        size_t *off = realloc(b->off, (cap + 1) * sizeof(*off));
        if (off)
            b->off = off;
        weft__batch_item *items = off ? realloc(b->items, cap * sizeof(*items)) : NULL;
        if (!items) {
            b->json.len = b->off[b->n];
            return false;
        }
        b->items = items;
        b->cap = cap;
    }
    weft__buf_putc(&b->json, ',');
    if (b->json.oom) {
        b->json.len = b->off[b->n];
        b->json.oom = false;
        return false;
    }
    b->items[b->n] = *it;
    b->off[++b->n] = b->json.len;
    if (!it->in_progress)
        b->n_complete++;
    return true;
}

size_t weft__batch_count_complete(const weft__batch *b, size_t i, size_t j)
{
    size_t n = 0;
    for (size_t k = i; k < j; k++)
        n += !b->items[k].in_progress;
    return n;
}
