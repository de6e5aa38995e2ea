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
    struct weft__id_cache *ids; /* the writer's id text cache, or NULL */
    weft__summary_cache *summary; /* the writer's trace summary text cache, or NULL */
} weft__encode_opts;

/* The UUID text of the last trace and of the last parent written: the spans of a trace go out
 * together and siblings one after another, so most items repeat both. The writer's
 * (zero-initialised, one per writer thread; a zero id is never cached). */
typedef struct weft__id_cache {
    uint64_t trace, trace_lo, parent, parent_lo;
    char trace_uuid[WEFT__JSON_UUID_LEN], parent_uuid[WEFT__JSON_UUID_LEN];
} weft__id_cache;

/* Appends the item for r to b; in progress when r->end_ns == 0. Returns WEFT__JSON_* flags
 * (repairs and truncations made while encoding, for the statistics). */
unsigned weft__encode_span(weft__buf *b, const weft__rec *r, const weft__encode_opts *o);

#endif
