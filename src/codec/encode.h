/*
 * encode.h — one assembled span record to one SGP span item (DESIGN.md section 4), the JSON
 * object every exporter sends or writes. A codec: no I/O. Export thread only.
 */
#ifndef WEFT_ENCODE_H
#define WEFT_ENCODE_H

#include "buf.h"
#include "json.h"
#include "record.h"

typedef struct weft__encode_opts {
    uint64_t salt;              /* per-process random half of every UUID and W3C trace id */
    const char *group_id, *variant_id, *interaction_id; /* configured defaults, or NULL */
    weft__ts_cache *ts;         /* the writer's timestamp cache, or NULL */
} weft__encode_opts;

/* Appends the item for r to b; in progress when r->end_ns == 0. Returns WEFT__JSON_* flags
 * (repairs and truncations made while encoding, for the statistics). */
unsigned weft__encode_span(weft__buf *b, const weft__rec *r, const weft__encode_opts *o);

#endif
