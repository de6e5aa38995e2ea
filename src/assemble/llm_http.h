/*
 * llm_http.h — the export-side half of weft/curl.h: reads the request and response bytes an
 * LLM call left in the ring (llm_event.h) with jansson and maps them onto the span record
 * (README, "Automatic spans for libcurl LLM calls", has the table). Export thread only.
 */
#ifndef WEFT_LLM_HTTP_H
#define WEFT_LLM_HTTP_H

#include "buf.h"
#include "clock.h"
#include "event.h"
#include "record.h"

/* Applies a WEFT__EV_LLM_REQUEST or WEFT__EV_LLM_RESPONSE event to r. clock converts the
 * event's ticks into durations (NULL: ticks are nanoseconds). scratch: a buffer the caller
 * owns (contents undefined afterwards). A malformed event is an internal error, as for the
 * other ring events. */
void weft__llm_apply(weft__rec *r, const weft__ev *ev, const weft__clock *clock, weft__buf *scratch);

#endif
