/*
 * producer.h — the producer-side entry for span calls that live outside span.c (the RAG and
 * LLM setters in rag_set.c): reserve an event on the calling thread's ring, fill it, commit.
 * No lock, no allocation (after the thread's first span), never blocks.
 */
#ifndef WEFT_PRODUCER_H
#define WEFT_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "ring.h"
#include "weft/weft.h"

typedef struct weft__evw {
    weft__ring *ring;
    uint32_t size;
} weft__evw;

/* Reserves an event of `kind`/`aux` about `span` with payload_len bytes after the weft__ev
 * header (the header is filled in). Returns the payload (8-byte aligned) or NULL when the
 * span is the zero or a sampled-out span, tracing is off, the payload is larger than
 * weft__event_max_payload(), or the ring is full (each counted). A non-NULL return must be
 * followed by weft__event_commit(w) on the same thread before any other weft call. */
void *weft__event_reserve(weft__evw *w, weft_span span, unsigned kind, unsigned aux, size_t payload_len);

static inline void weft__event_commit(weft__evw *w) { weft__ring_commit(w->ring, w->size); }

/* The largest payload an event can carry (a quarter of the ring, less the header). */
size_t weft__event_max_payload(void);

#endif
