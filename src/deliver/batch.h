/*
 * batch.h — a batch of encoded span records handed to the exporters. Each record is written
 * once per encoding in use (encoding.h), by the export thread, into that encoding's buffer;
 * exporters send slices of it without copying (the SGP body is `{"items":[` + a slice + `]}`,
 * the JSONL file gets each item and a newline).
 *
 * Layout, per encoding e in enc_mask: item i is enc[e].bytes.data[off[i] .. off[i+1]) less
 * the encoding's separator byte at its end (when it has one), so items i..j-1 with their
 * separators between them are one contiguous slice. Ownership: reference-counted; each exporter
 * that receives a batch calls weft__batch_done once when it is finished with it (delivered,
 * dropped or spooled). Export thread only.
 */
#ifndef WEFT_BATCH_H
#define WEFT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "encoding.h"

typedef struct weft__batch_item {
    uint64_t trace, id, parent; /* for logs, spool keys and the stdout exporter */
    uint64_t start_ns, end_ns;
    uint32_t type, status;
    bool in_progress;    /* no end_timestamp: an in-progress upsert */
    bool final_open;     /* still open at shutdown: exported as it stands (every exporter) */
} weft__batch_item;

/* One encoding's bytes of every item. */
typedef struct weft__batch_enc {
    weft__buf bytes;
    size_t *off;         /* n + 1 offsets; NULL when the encoding is not in the batch */
} weft__batch_enc;

typedef struct weft__batch {
    uint64_t seq;        /* creation order; weft_flush waits for every seq <= its target */
    unsigned enc_mask;   /* encodings written: bit e for weft__encoding e */
    weft__batch_enc enc[WEFT__ENC_COUNT];
    weft__batch_item *items;
    size_t n, cap;
    size_t n_complete;   /* items with an end_timestamp */
    int refs;
    uint64_t dropped;    /* completed items some exporter gave up on (weft__batch_done) */
    struct weft__batch *next; /* the worker's list of live batches */
} weft__batch;

/* Bytes of items [i, j) in encoding e, the separators between them included and the last
 * one left out (for SGP JSON: a comma-separated array body, no brackets). e must be in the
 * batch's enc_mask. */
static inline const char *weft__batch_slice(const weft__batch *b, weft__encoding e, size_t i, size_t j,
                                            size_t *len)
{
    const weft__batch_enc *x = &b->enc[e];
    *len = (j > i) ? x->off[j] - x->off[i] - (weft__encodings[e].sep != 0) : 0;
    return x->bytes.data + x->off[i];
}

/* Item i alone. */
static inline const char *weft__batch_item_bytes(const weft__batch *b, weft__encoding e, size_t i, size_t *len)
{
    return weft__batch_slice(b, e, i, i + 1, len);
}

/* All bytes written in encoding e (the batch's size as that encoding's exporters see it). */
static inline size_t weft__batch_bytes(const weft__batch *b, weft__encoding e) { return b->enc[e].bytes.len; }

/* A new empty batch holding the encodings in enc_mask (pooled by the worker); NULL when
 * memory is short. */
weft__batch *weft__batch_new(unsigned enc_mask);
void weft__batch_free(weft__batch *b);
/* Empties a batch for reuse, keeping its buffers (a batch's JSON grows to about a megabyte:
 * reusing it saves a dozen reallocations and copies per batch). */
void weft__batch_reset(weft__batch *b);
/* Appends the item just written at the end of every encoding's bytes (the caller wrote each
 * after its last offset); adds the separators and offsets. False when memory is short (the
 * item is removed from every encoding). Inline for the common case, a batch with room in
 * its arrays and its buffers; weft__batch_push_slow does the rest. */
bool weft__batch_push_slow(weft__batch *b, const weft__batch_item *it);
static inline bool weft__batch_push(weft__batch *b, const weft__batch_item *it)
{
    if (__builtin_expect(b->n == b->cap, 0))
        return weft__batch_push_slow(b, it);
    for (unsigned m = b->enc_mask; m; m &= m - 1) {
        weft__batch_enc *x = &b->enc[__builtin_ctz(m)];
        if (__builtin_expect(x->bytes.oom || x->bytes.len + 1 > x->bytes.cap, 0))
            return weft__batch_push_slow(b, it);
    }
    b->items[b->n] = *it;
    b->n++;
    for (unsigned m = b->enc_mask; m; m &= m - 1) {
        unsigned e = (unsigned)__builtin_ctz(m);
        weft__batch_enc *x = &b->enc[e];
        char sep = weft__encodings[e].sep;
        if (sep)
            x->bytes.data[x->bytes.len++] = sep;
        x->off[b->n] = x->bytes.len;
    }
    b->n_complete += !it->in_progress;
    return true;
}

/* Completed items among [i, j). */
size_t weft__batch_count_complete(const weft__batch *b, size_t i, size_t j);

/* An exporter is finished with the batch; dropped_complete of its completed items were not
 * delivered (counted in weft_stats.dropped_export by the exporter itself). */
void weft__batch_done(weft__batch *b, size_t dropped_complete);

#endif
