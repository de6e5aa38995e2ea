/*
 * batch.h — a batch of encoded span records handed to the exporters. The JSON of every record
 * is written once, by the export thread, into `json`; exporters send slices of it without
 * copying (the SGP body is `{"items":[` + a slice + `]}`, the JSONL file gets each item and a
 * newline).
 *
 * Layout: item i is json.data[off[i] .. off[i+1]-1), followed by one ',' byte, so the items
 * i..j-1 as a JSON array body are json.data[off[i] .. off[j]-1). Ownership: reference-counted;
 * each exporter that receives a batch calls weft__batch_done once when it is finished with it
 * (delivered, dropped or spooled). Export thread only.
 */
#ifndef WEFT_BATCH_H
#define WEFT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct weft__batch_item {
    uint64_t trace, id, parent; /* for logs, spool keys and the stdout exporter */
    uint64_t start_ns, end_ns;
    uint32_t type, status;
    bool in_progress;    /* no end_timestamp: an in-progress upsert */
    bool final_open;     /* still open at shutdown: exported as it stands (every exporter) */
} weft__batch_item;

typedef struct weft__batch {
    uint64_t seq;        /* creation order; weft_flush waits for every seq <= its target */
    weft__buf json;
    size_t *off;         /* n + 1 offsets */
    weft__batch_item *items;
    size_t n, cap;
    size_t n_complete;   /* items with an end_timestamp */
    int refs;
    uint64_t dropped;    /* completed items some exporter gave up on (weft__batch_done) */
    struct weft__batch *next; /* the worker's list of live batches */
} weft__batch;

/* Bytes of items [i, j) as a comma-separated JSON array body (no brackets). */
static inline const char *weft__batch_slice(const weft__batch *b, size_t i, size_t j, size_t *len)
{
    *len = (j > i) ? b->off[j] - b->off[i] - 1 : 0;
    return b->json.data + b->off[i];
}

/* Item i alone. */
static inline const char *weft__batch_item_json(const weft__batch *b, size_t i, size_t *len)
{
    return weft__batch_slice(b, i, i + 1, len);
}

/* A new empty batch (pooled by the worker); NULL when memory is short. */
weft__batch *weft__batch_new(void);
void weft__batch_free(weft__batch *b);
/* Empties a batch for reuse, keeping its buffers (a batch's JSON grows to about a megabyte:
 * reusing it saves a dozen reallocations and copies per batch). */
void weft__batch_reset(weft__batch *b);
/* Appends the item just written at the end of json (the caller wrote it after the last
 * offset); adds the separator and the offset. False when memory is short (item removed). */
bool weft__batch_push(weft__batch *b, const weft__batch_item *it);

/* Completed items among [i, j). */
size_t weft__batch_count_complete(const weft__batch *b, size_t i, size_t j);

/* An exporter is finished with the batch; dropped_complete of its completed items were not
 * delivered (counted in weft_stats.dropped_export by the exporter itself). */
void weft__batch_done(weft__batch *b, size_t dropped_complete);

#endif
