/*
 * summary.h — per-trace summaries (DESIGN.md section 5): when a root span ends, its
 * metadata.trace_summary holds duration_ms, span_count, llm_calls, retrieval_calls, tool_calls,
 * input/output/total tokens, total_cost and status, over the root and every span of the trace
 * that ended before it, on any thread. An entry exists from the root's begin to its end, so
 * memory is bounded by the number of open roots, plus pending entries for spans whose end was
 * read before their root's begin (the root may begin on a thread drained later): at most 4096,
 * forgotten after 10 s. Export thread only.
 */
#ifndef WEFT_SUMMARY_H
#define WEFT_SUMMARY_H

#include <stdint.h>

#include "buf.h"
#include "record.h"

typedef struct weft__summaries weft__summaries;

weft__summaries *weft__summaries_new(void);
void weft__summaries_free(weft__summaries *s);
/* A root span began (r->parent == 0). */
void weft__summary_root_begin(weft__summaries *s, const weft__rec *root);
/* A non-root span of some trace ended (r->end_ns set); kept pending while its root is
 * unknown (see above), ignored once its root has ended. */
void weft__summary_span_end(weft__summaries *s, const weft__rec *r);
/* The root ended: writes metadata.trace_summary into root (counting the root itself) and
 * forgets the trace. */
void weft__summary_root_end(weft__summaries *s, weft__rec *root, weft__buf *scratch);
/* The root was dropped without ending (open-span table overflow, shutdown): forget it. */
void weft__summary_forget(weft__summaries *s, uint64_t trace);
/* A hint that trace's entry is about to be used: its table slot is fetched into the cache. */
void weft__summary_prefetch(const weft__summaries *s, uint64_t trace);

#endif
