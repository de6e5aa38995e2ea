/*
 * record.h — an assembled span on the export side: everything its events said, ready to be
 * encoded as one SGP span item (DESIGN.md section 4). Lives in the assembler's open-span table
 * from its begin event until it has been encoded after its end.
 *
 * Attributes are kept as a packed list of entries in `attrs`, each [header][key][value], where
 * the value is typed (WEFT__VAL_*), so that every encoder walks the same (type, key, value)
 * triples and none re-parses another's format: a string is its text (valid UTF-8, already cut
 * and marked when too long), numbers and booleans their binary value, and nested values
 * (objects and arrays: hits, citations, messages, a caller's JSON) valid JSON text. Setting a
 * key twice appends a second entry; the encoder keeps the last one. Entries marked append are
 * gathered, in order, into one array under their key (chat messages); a remove entry hides the
 * key. Values pass through the configured redaction on the way in (redact.h). Export thread
 * only.
 */
#ifndef WEFT_RECORD_H
#define WEFT_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "summary_text.h"
#include "weft/weft.h"

typedef struct weft__rec {
    uint64_t trace, id, parent; /* parent 0: a trace root */
    uint64_t start_ns, end_ns;  /* unix ns; end_ns 0 while in progress */
    uint32_t type, status;
    uint32_t n_attrs;
    bool has_error;
    bool needs_retrieval_latency;  /* retrieval latency_ms to fill from the duration at end */
    bool needs_generation_latency; /* generation_latency_ms likewise */
    bool announced;                /* an in-progress record has been emitted */
    /* Token usage and cost, summed over weft_span_set_usage calls (trace summaries). */
    bool has_usage, has_cost;
    int64_t input_tokens, output_tokens;
    double cost_usd;
    /* Trace context from another process (weft_span_begin_remote; README, "Trace context
     * across processes"). remote_trace: the W3C trace id is trace : trace_lo; otherwise it is
     * trace : the process's salt (weft__rec_trace_lo gives the low half either way).
     * remote_parent: the parent span's id in the other process, on the span begun with the
     * header (parent is then 0: the record is this process's root of the trace). */
    bool remote_trace;
    uint64_t trace_lo;
    uint64_t remote_parent;
    /* What the encoders may skip, kept as entries are added: one bit per (section, key)
     * hash, and whether two entries may share a key (a bit already set) or any entry is a
     * remove. When repeats is false no key needs de-duplicating. */
    uint64_t key_bits;
    bool repeats;
    /* Each section's entries chained through their headers' next (record.h below): the offset
     * of the first entry + 1 (0: none) and of the last. */
    uint32_t sec_first[3], sec_last[3];
    bool has_summary; /* summary below holds the root's trace summary */
    /* The buffers and the summary last (from name on), so that weft__rec_reset zeroes the
     * fields before them in one go, keeps the buffers' memory, and leaves summary, read only
     * while has_summary is set. */
    weft__buf name;       /* repaired UTF-8 text, never empty once begun */
    weft__buf attrs;      /* packed entries, see weft__rec_set */
    weft__buf fields[3];  /* group_id, application_variant_id,
                             application_interaction_id (raw bytes; empty: unset) */
    weft__buf tracestate; /* the valid tracestate received with the header, verbatim */
    /* A root's trace summary, kept as numbers (summary_text.h): it stands for the entry
     * metadata.trace_summary = weft__summary_json(summary), after every other entry. It is
     * only ever set when no other entry has that key (weft__summary_root_end otherwise stores
     * the text as an entry), and any later change to the record through the filter API turns
     * it into that entry first (weft__rec_summary_to_entry), so the rules for keys hold as if
     * it were one. Encoders write it after the metadata entries; weft__rec_foreach, _get and
     * _has show it as the entry. */
    weft__summary_val summary;
} weft__rec;

/* The low half of r's W3C trace id, given the process's salt. */
static inline uint64_t weft__rec_trace_lo(const weft__rec *r, uint64_t salt)
{
    return r->remote_trace ? r->trace_lo : salt;
}

/* The parent id the backends link r to: the local parent, else the remote one (0: none). */
static inline uint64_t weft__rec_parent(const weft__rec *r) { return r->parent ? r->parent : r->remote_parent; }

void weft__rec_init(weft__rec *r);
void weft__rec_fini(weft__rec *r);
/* Clears a record for reuse, keeping its buffers' memory. */
void weft__rec_reset(weft__rec *r);

/* Value types of an entry. */
#define WEFT__VAL_JSON 0 /* valid JSON text (an object or array, or any JSON value) */
#define WEFT__VAL_STR 1  /* text: valid UTF-8 without NUL */
#define WEFT__VAL_I64 2  /* int64_t, native byte order */
#define WEFT__VAL_F64 3  /* double, native byte order */
#define WEFT__VAL_BOOL 4 /* one byte, 0 or 1 */

/* Sets section.key to a JSON value. key: raw bytes (repaired when encoded); json: valid JSON
 * text (the caller guarantees it; weft__json_* writers do). Both copied. */
void weft__rec_set(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *json,
                   size_t json_len);
/* Like weft__rec_set for objects weft writes itself with fixed keys (trace summaries): only
 * the top-level key goes through redaction. */
void weft__rec_set_trusted(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *json,
                           size_t json_len);
/* Typed values. s: valid UTF-8 without NUL (weft__rec_text makes it so); copied. */
void weft__rec_set_str(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *s, size_t len);
void weft__rec_set_i64(weft__rec *r, weft_section sec, const char *key, size_t key_len, int64_t v);
void weft__rec_set_f64(weft__rec *r, weft_section sec, const char *key, size_t key_len, double v);
void weft__rec_set_bool(weft__rec *r, weft_section sec, const char *key, size_t key_len, bool v);

/* Makes a string value of s[0..len) in out (reset first): invalid UTF-8 and NUL replaced by
 * U+FFFD, then cut at max_bytes (0: no limit) on a character boundary, and marked
 * "…[truncated N bytes]" when cut here or when orig_len (the caller's length, before the
 * producer cut it) exceeds len. Returns WEFT__JSON_REPAIRED / WEFT__JSON_TRUNCATED flags. */
unsigned weft__rec_text(weft__buf *out, const char *s, size_t len, uint64_t orig_len, size_t max_bytes);

/* Appends a JSON value to the array section.key (e.g. input.messages). */
void weft__rec_append(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *json,
                      size_t json_len);
/* Removes section.key (a later set brings it back). */
void weft__rec_remove(weft__rec *r, weft_section sec, const char *key, size_t key_len);
/* The last set of section.key as JSON text, or NULL (unset, removed, or only appended).
 * A typed value is written as JSON into view (reset first), which the result then points into. */
const char *weft__rec_get(const weft__rec *r, weft_section sec, const char *key, size_t key_len,
                          size_t *json_len, weft__buf *view);

/* True when section.key has been set (by set or append). */
bool weft__rec_has(const weft__rec *r, weft_section sec, const char *key, size_t key_len);

/* Sets metadata.trace_summary on a root to the summary v, its last entry: kept as numbers
 * (has_summary) when no entry has that key and redaction leaves the key be, else stored as an
 * entry of its text, through redaction. scratch: the caller's, for that text. */
void weft__rec_set_summary(weft__rec *r, const weft__summary_val *v, weft__buf *scratch);
/* The entry r->summary stands for, stored as an entry (has_summary cleared); nothing when
 * has_summary is false. Before any change to a record that may already carry its summary. */
void weft__rec_summary_to_entry(weft__rec *r);

/* Entry kinds seen by weft__rec_foreach. */
#define WEFT__ENT_SET 0
#define WEFT__ENT_APPEND 1
#define WEFT__ENT_REMOVE 2

/* Walks the entries in order: for each, fn(ctx, sec, key, key_len, json, json_len, kind), the
 * value written as JSON text whatever its type (for tests and the filter API; encoders use
 * weft__rec_next). */
typedef void (*weft__rec_attr_fn)(void *ctx, weft_section sec, const char *key, size_t key_len,
                                  const char *json, size_t json_len, int kind);
void weft__rec_foreach(const weft__rec *r, weft__rec_attr_fn fn, void *ctx);

/* Entry flags, known when the entry is copied in: the bytes can go into a JSON string as
 * they are (ASCII from 0x20 up, other than '"' and '\\'), so a JSON encoder writes them between
 * quotes without an escape scan. Only short text is checked (1 to 16 bytes); longer text is
 * left unmarked and scanned by the encoder as before. */
#define WEFT__ENTF_KEY_PLAIN 1u
#define WEFT__ENTF_VAL_PLAIN 2u /* a WEFT__VAL_STR value */

/* The layout of one entry in attrs: this header, then key_len bytes of key, then val_len
 * bytes of value. next: the offset of the next entry of the same section (0: none, as the
 * first entry of all is at 0), so that a writer walks one section without reading the others'. */
typedef struct weft__rec_hdr {
    uint8_t sec, kind, vtype, flags;
    uint32_t key_len, val_len, next;
} weft__rec_hdr;

typedef struct weft__rec_entry {
    weft_section sec;
    int kind;  /* WEFT__ENT_* */
    int vtype; /* WEFT__VAL_* */
    unsigned flags; /* WEFT__ENTF_* */
    const char *key, *val;
    size_t key_len, val_len;
} weft__rec_entry;

/* The value of e as JSON text, appended to b. Returns WEFT__JSON_* flags. */
unsigned weft__rec_value_json(weft__buf *b, const weft__rec_entry *e);

/* The same walk without a callback, for the encoder: the entry at *pos into e and *pos moved
 * past it; false after the last. Start with *pos = 0. */
static inline bool weft__rec_next(const weft__rec *r, size_t *pos, weft__rec_entry *e)
{
    if (*pos + sizeof(weft__rec_hdr) > r->attrs.len)
        return false;
    weft__rec_hdr h;
    memcpy(&h, r->attrs.data + *pos, sizeof h);
    e->sec = (weft_section)h.sec;
    e->kind = h.kind;
    e->vtype = h.vtype;
    e->flags = h.flags;
    e->key = r->attrs.data + *pos + sizeof h;
    e->key_len = h.key_len;
    e->val = e->key + h.key_len;
    e->val_len = h.val_len;
    *pos += sizeof h + h.key_len + h.val_len;
    return true;
}

#endif
