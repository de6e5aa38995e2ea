/*
 * batch.c — memory of a batch (see batch.h). The release side, which feeds statistics and
 * weft_flush, belongs to the worker (weft__batch_done in worker.c).
 */
#include "batch.h"

#include <stdlib.h>

/* The encodings of b, lowest first: one iteration per set bit of enc_mask. */
#define FOR_EACH_ENC(b, e)                                                                  \
    for (unsigned m_ = (b)->enc_mask, e; m_ && (e = (unsigned)__builtin_ctz(m_), 1); m_ &= m_ - 1)

weft__batch *weft__batch_new(unsigned enc_mask)
{
    weft__batch *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->enc_mask = enc_mask & ((1u << WEFT__ENC_COUNT) - 1);
    b->cap = 64;
    b->items = malloc(b->cap * sizeof(*b->items));
    bool ok = b->items != NULL;
    FOR_EACH_ENC(b, e) {
        weft__buf_init(&b->enc[e].bytes);
        b->enc[e].off = malloc((b->cap + 1) * sizeof(size_t));
        if (b->enc[e].off)
            b->enc[e].off[0] = 0;
        else
            ok = false;
    }
    if (!ok) {
        weft__batch_free(b);
        return NULL;
    }
    return b;
}

void weft__batch_free(weft__batch *b)
{
    if (!b)
        return;
    FOR_EACH_ENC(b, e) {
        weft__buf_fini(&b->enc[e].bytes);
        free(b->enc[e].off);
    }
    free(b->items);
    free(b);
}

void weft__batch_reset(weft__batch *b)
{
    FOR_EACH_ENC(b, e) {
        weft__buf_reset(&b->enc[e].bytes);
        b->enc[e].off[0] = 0;
    }
    b->n = b->n_complete = 0;
    b->refs = 0;
    b->dropped = 0;
    b->seq = 0;
    b->next = NULL;
}

/* Takes back what was written for an item that could not be added. */
static bool unwind(weft__batch *b)
{
    FOR_EACH_ENC(b, e) {
        b->enc[e].bytes.len = b->enc[e].off[b->n];
        b->enc[e].bytes.oom = false;
    }
    return false;
}

bool weft__batch_push_slow(weft__batch *b, const weft__batch_item *it)
{
    if (b->n == b->cap) {
        size_t cap = b->cap * 2;
        FOR_EACH_ENC(b, e) {
            size_t *off = realloc(b->enc[e].off, (cap + 1) * sizeof(*off));
            if (!off)
                return unwind(b);
            b->enc[e].off = off;
        }
        weft__batch_item *items = realloc(b->items, cap * sizeof(*items));
        if (!items)
            return unwind(b);
        b->items = items;
        b->cap = cap;
    }
    FOR_EACH_ENC(b, e) {
        char sep = weft__encodings[e].sep;
        if (sep)
            weft__buf_putc(&b->enc[e].bytes, sep);
        if (b->enc[e].bytes.oom)
            return unwind(b);
    }
    b->items[b->n] = *it;
    b->n++;
    FOR_EACH_ENC(b, e)
        b->enc[e].off[b->n] = b->enc[e].bytes.len;
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
