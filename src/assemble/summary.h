/*
 * summary.h — per-trace summaries (DESIGN.md section 5): when a root span ends, its
 * metadata.trace_summary holds duration_ms, span_count, llm_calls, retrieval_calls, tool_calls,
 * input/output/total tokens, total_cost and status, over the root and every span of the trace
 * that ended before it, on any thread.
 *
 * An entry exists only for a trace one of whose non-root spans has ended: from that span's end
 * to the root's end. A trace of one span (most traffic, often) costs no table work at all. An
 * entry knows its root when the ending span could name it (the assembler walks the span's
 * parents); otherwise it is *pending* (the root's begin was not read yet: it may begin on a
 * thread drained later) until the root begins and adopts it. Pending entries are bounded (4096,
 * forgotten after 10 s idle). Memory is bounded by the traces with open roots and ended
 * children, plus the pending ones. Export thread only.
 */
#ifndef WEFT_SUMMARY_H
#define WEFT_SUMMARY_H

#include <stdint.h>

#include "buf.h"
#include "record.h"

typedef struct weft__summaries weft__summaries;

weft__summaries *weft__summaries_new(void);
void weft__summaries_free(weft__summaries *s);
/* A root span began (r->parent == 0): adopts the trace's pending entry, if any. */
void weft__summary_root_begin(weft__summaries *s, const weft__rec *root);
/* The open root record of r's trace, or NULL when it is not in sight. */
typedef const weft__rec *(*weft__summary_root_fn)(void *ctx, const weft__rec *r);
/* A non-root span of some trace ended (r->end_ns set): counted in its trace's entry, which is
 * made on the trace's first such span, with root_of(ctx, r) as its root (called only then).
 * Ignored once its root has ended. */
void weft__summary_span_end(weft__summaries *s, const weft__rec *r, weft__summary_root_fn root_of, void *ctx);
/* The root ended: sets its metadata.trace_summary (weft__rec_set_summary), counting the root
 * itself, and forgets the trace. scratch: for the summary's text when it must be stored as one. */
void weft__summary_root_end(weft__summaries *s, weft__rec *root, weft__buf *scratch);
/* The root was dropped without ending (open-span table overflow, shutdown): forget it. */
void weft__summary_forget(weft__summaries *s, uint64_t trace);
/* A hint that trace's entry is about to be used: its table slot is fetched into the cache. */
void weft__summary_prefetch(const weft__summaries *s, uint64_t trace);

#endif
