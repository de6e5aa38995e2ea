/*
 * traces_source.h — the inside of a weft_trace_source: an ops table per kind of source
 * (local files in traces_source.c, SGP in traces_sgp.c). One thread at a time per source.
 */
#ifndef WEFT_CLIENT_TRACES_SOURCE_H
#define WEFT_CLIENT_TRACES_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "weft/traces.h"

/* One trace of a list: its record (NULL when it could not be built) and sort key. */
typedef struct weft__trace_row {
    char *trace_id;
    weft_trace_record *record;
    int64_t created_us;
} weft__trace_row;

typedef struct weft__trace_source_ops {
    /* Every trace, newest first (kept by the source: borrowed). Sources that page on the
     * server set `page` instead and leave rows NULL. */
    int (*rows)(weft_trace_source *src, weft__trace_row **rows, size_t *n);
    int (*get)(weft_trace_source *src, const char *trace_id, weft_trace_full_result **out);
    void (*free)(weft_trace_source *src); /* frees what the kind owns, not the struct */
    /* Optional: fills traces, n_traces and total of out for one page. */
    int (*page)(weft_trace_source *src, uint32_t page, uint32_t size, weft_trace_list_response *out);
} weft__trace_source_ops;

struct weft_trace_source {
    const weft__trace_source_ops *ops;
    uint64_t skipped;  /* entries that were not span items */
    char *first_skip;  /* the first one's message */
};

void weft__trace_rows_sort(weft__trace_row *rows, size_t n);
void weft__trace_rows_free(weft__trace_row *rows, size_t n);

#endif
