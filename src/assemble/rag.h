/*
 * rag.h — the RAG and LLM vocabulary on the export side (DESIGN.md section 5), rag_map.c. The
 * setters on the calling thread (produce/rag_set.c) serialise the caller's structs into one
 * ring event each; the calls below decode those events into the record's input/output/metadata
 * entries. Export thread only.
 */
#ifndef WEFT_RAG_H
#define WEFT_RAG_H

#include "buf.h"
#include "clock.h"
#include "event.h"
#include "record.h"

/* Applies one event of kind >= WEFT__EV_RETRIEVAL to r. scratch: a buffer the caller owns,
 * reused between calls (contents undefined afterwards). */
void weft__rag_apply(weft__rec *r, const weft__ev *ev, weft__buf *scratch);

/* Applies a WEFT__EV_TRACE_INFO or WEFT__EV_SPAN_EVENT event to r (export thread); clock
 * turns the event's ticks into Unix time. */
void weft__rag_apply_timed(weft__rec *r, const weft__ev *ev, const weft__clock *clock, weft__buf *scratch);

/* Called when r has ended (end_ns set), before it is encoded: fills latencies that were left
 * to the span's duration. */
void weft__rag_on_end(weft__rec *r, weft__buf *scratch);

#endif
