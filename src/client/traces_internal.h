/*
 * traces_internal.h — what the files of the trace queries share: building the models from
 * the span items of one trace (traces_build.c), the checks behind eval_available
 * (traces_eval.c) and small jansson helpers. Any thread; no shared state.
 */
#ifndef WEFT_CLIENT_TRACES_INTERNAL_H
#define WEFT_CLIENT_TRACES_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "weft/traces.h"

/* Builds the full result of trace_id from items (a JSON array of SGP span items of that
 * trace, borrowed; duplicates by id allowed). 0, WEFT_ENOTFOUND (no items) or WEFT_ENOMEM. */
int weft__trace_build(const char *trace_id, const json_t *items, weft_trace_full_result **out);

/* True when some check of weft_trace_evaluate applies to t (TraceRecord.eval_available). */
bool weft__trace_eval_available(const weft_trace_full_result *t);

/* ISO 8601 text ("2026-12-01T19:29:48.229171Z", offsets allowed) to µs since the epoch. */
bool weft__iso_to_us(const char *s, int64_t *us);

/* Keeps one item per span id of arr (a JSON array, modified in place): the one with an
 * end_timestamp, else the later one. */
void weft__items_dedupe(json_t *arr);

/* strdup that passes NULL through. */
char *weft__dupz(const char *s);
/* Compact JSON text of v (any value), malloc'd; NULL when out of memory. */
char *weft__json_text(const json_t *v);
/* The string member k of o, or NULL. */
const char *weft__jstr(const json_t *o, const char *k);

#endif
