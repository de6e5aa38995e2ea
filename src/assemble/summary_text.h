/*
 * summary_text.h — a trace summary as numbers (what weft__summary_root_end works out for a
 * root), and the one writer of its JSON text, metadata.trace_summary's value (DESIGN.md
 * section 5). A root's record carries the numbers (record.h, has_summary) rather than the
 * text, so that each encoder writes the summary in its own form without reading another's:
 * the SGP item writes this text straight into the batch, and OTLP its KeyValueList straight
 * from the numbers, which used to mean parsing the text back. No state but the caller's
 * cache. Export thread only.
 */
#ifndef WEFT_SUMMARY_TEXT_H
#define WEFT_SUMMARY_TEXT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

/* What a trace's spans add up to, but for the cost. */
typedef struct weft__summary_counts {
    uint32_t spans, llm, retrieval, tool;
    int64_t input_tokens, output_tokens;
} weft__summary_counts;

typedef struct weft__summary_val {
    weft__summary_counts n;
    uint64_t duration_ns; /* the root's end - start (0 when the clock went back) */
    double cost;          /* total_cost, when has_cost */
    bool has_cost, error; /* error: some span of the trace failed */
} weft__summary_val;

/* The key the summary is written under, in the metadata section. */
#define WEFT__SUMMARY_KEY "trace_summary"
#define WEFT__SUMMARY_KEY_LEN 13

/* total_tokens: input + output, saturating. */
int64_t weft__summary_total_tokens(const weft__summary_val *v);

/* The last text written after duration_ms and what it depended on: traces of one shape (a
 * service's requests) share it, so the next one copies it instead of writing seven numbers
 * again. The writer's; zero-initialised. */
#define WEFT__SUMMARY_TAIL_MAX 384u /* 7 fields with 20-digit numbers, a cost, the status */
typedef struct weft__summary_cache {
    weft__summary_counts n;
    uint64_t cost_bits; /* the double's bits (0 without a cost): the same bits, the same text */
    bool has_cost, error;
    size_t len; /* 0: nothing kept */
    char tail[WEFT__SUMMARY_TAIL_MAX];
} weft__summary_cache;

/* Appends the summary's JSON object, {"duration_ms":…,"status":"…"}, to b. cache: the
 * writer's, or NULL. The same bytes with or without it. */
void weft__summary_json(weft__buf *b, const weft__summary_val *v, weft__summary_cache *cache);

#endif
