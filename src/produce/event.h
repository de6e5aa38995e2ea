/*
 * event.h — the fixed-layout binary records a producer thread appends to its ring and the
 * export thread decodes (DESIGN.md section 1, Encodings). Plain structs copied in, plus the
 * bytes of any copied string right after them; no msgpack here (it measured ~80 ns per span,
 * the plain copy ~28 ns).
 *
 * Invariants: every event starts with weft__ev; size counts the header and is a multiple of 8,
 * so every header in the ring is 8-byte aligned; a WEFT__EV_PAD event only fills the tail of
 * the ring before a wrap, a WEFT__EV_SWITCH only ends a buffer the ring has left. Strings in
 * payloads are length-prefixed, never NUL-terminated.
 */
#ifndef WEFT_EVENT_H
#define WEFT_EVENT_H

#include <stdint.h>

enum weft__ev_kind {
    WEFT__EV_PAD = 0,       /* filler up to the end of the ring */
    WEFT__EV_BEGIN = 1,     /* weft__ev_begin, then the name when not by site pointer */
    WEFT__EV_END = 2,       /* weft__ev_end */
    WEFT__EV_ATTR = 3,      /* weft__ev_attr, key bytes, value bytes; aux = section */
    WEFT__EV_STATUS = 4,    /* aux = weft_status */
    WEFT__EV_ERROR = 5,     /* weft__ev_error, type bytes, message bytes */
    WEFT__EV_FIELD = 6,     /* aux = weft__field; payload: uint32 len, bytes */
    WEFT__EV_SWITCH = 7,    /* ring.h: the ring goes on in buffer slot `aux` (16 bytes; span =
                               that buffer's size); read by the ring, never by the assembler */
    /* Kinds from here on carry payloads decoded by src/rag.c (weft__rag_apply). */
    WEFT__EV_RETRIEVAL = 16,
    WEFT__EV_GENERATION = 17,
    WEFT__EV_USAGE = 18,
    WEFT__EV_MESSAGE = 19,  /* aux = section */
    /* An LLM call made with libcurl (weft/curl.h): payloads in llm_event.h, decoded by
     * src/assemble/llm_http.c (weft__llm_apply). */
    WEFT__EV_LLM_REQUEST = 20,
    WEFT__EV_LLM_RESPONSE = 21,
    /* Payloads in rag_event.h, decoded by src/assemble/rag_map.c (weft__rag_apply_timed). */
    WEFT__EV_TRACE_INFO = 22, /* weft_span_set_trace_info */
    WEFT__EV_SPAN_EVENT = 23, /* weft_span_add_event */
};

/* Attribute value types (weft__ev_attr.vtype). */
enum weft__vtype {
    WEFT__V_STR = 1,
    WEFT__V_I64 = 2,
    WEFT__V_F64 = 3,
    WEFT__V_BOOL = 4,
    WEFT__V_JSON = 5,    /* JSON text, validated on the export thread */
    WEFT__V_MSGPACK = 6, /* one msgpack object, transcoded on the export thread */
};

/* weft__ev_begin.flags and weft__ev_attr.flags */
#define WEFT__EVF_SITE 1u      /* begin: the name is a static weft_site pointer */
/* begin, in a trace that came from another process (weft_span_begin_remote): blocks between
 * the struct and the name, in this order, only when their flag is set:
 *   TRACE_LO: uint64 weft_span.trace_lo (the W3C trace id's low half XOR the salt);
 *   REMOTE:   uint32 tracestate length, uint32 0, the tracestate bytes; the
 *             event's parent is then the remote span's id (the record is a local root). */
#define WEFT__EVF_TRACE_LO 2u
#define WEFT__EVF_REMOTE 4u
#define WEFT__EVF_TRUNCATED 1u /* attr: the producer cut the value to fit the ring */

/* Per-span id fields (WEFT__EV_FIELD aux). */
enum weft__field { WEFT__F_GROUP_ID = 0, WEFT__F_VARIANT_ID = 1, WEFT__F_INTERACTION_ID = 2 };

typedef struct weft__ev {
    uint32_t size; /* bytes of this event, header included, multiple of 8 */
    uint16_t kind; /* enum weft__ev_kind */
    uint16_t aux;  /* kind-specific small value */
    uint64_t span; /* span id the event is about */
} weft__ev;

typedef struct weft__ev_begin {
    weft__ev h;
    uint64_t trace, parent; /* parent 0: a trace root */
    uint64_t ticks;         /* weft__clock_ticks() at begin */
    uint32_t type, flags;
    uint32_t name_len;      /* bytes after this struct, or the site's name_len */
    uint32_t reserved;
    const struct weft_site *site; /* static, when flags & WEFT__EVF_SITE */
} weft__ev_begin;

typedef struct weft__ev_end {
    weft__ev h;
    uint64_t ticks;
} weft__ev_end;

typedef struct weft__ev_attr {
    weft__ev h;
    uint32_t key_len;
    uint32_t val_len;  /* bytes after the key for STR/JSON/MSGPACK; 0 for scalars */
    uint8_t vtype, flags, reserved[6];
    uint64_t orig_len; /* STR: caller's length before any producer-side cut */
    union {
        int64_t i;
        double f;
        uint64_t b;
    } v;
} weft__ev_attr;

typedef struct weft__ev_error {
    weft__ev h;
    uint32_t type_len, msg_len; /* bytes after this struct: type, then message */
} weft__ev_error;

static inline uint32_t weft__ev_round(uint64_t n) { return (uint32_t)((n + 7u) & ~(uint64_t)7u); }

#endif
