/*
 * rag_event.h — the producer-side encoders of the RAG and LLM events (WEFT__EV_RETRIEVAL,
 * _GENERATION, _USAGE, _MESSAGE), split in plan and write so the setters in rag.c can reserve
 * exactly the right room in the ring, and tests can build events in a buffer of their own.
 *
 * Payload layouts (all fields native-endian, read back with memcpy; produce/rag_set.c writes
 * them and assemble/rag_map.c reads them, so the layout may change with it):
 *
 *   string    u32 flags (1: present, 2: cut), u32 len, [u64 original length when cut], bytes
 *   RETRIEVAL u32 flags (1: has_similarity_threshold), i32 chunk_size, chunk_overlap, top_k,
 *             f64 similarity_threshold, latency_ms, u32 hits kept, u32 hits left out,
 *             string retriever, embedding_model, query; then per hit:
 *             u32 flags (1: has_span, 2: rank given), i32 rank, f64 score, i64 span_start, span_end,
 *             string doc_id, snippet (already its 200-character preview), metadata_json
 *   GENERATION u32 flags (1: format check carried; 2 is_complete, 4 refusal,
 *             8 contains_citations, bits 4-5 computed format type, 64 zero counts of the
 *             caller's check are unset: compute them), i32 context_length, f64 generation_latency_ms,
 *             i32 length_tokens, length_chars, citation_count, u32 citations kept,
 *             u32 citations left out, u32 reasoning kept, u32 reasoning left out, u32 zero,
 *             string answer, model_used, prompt_template, language, format_type; then per
 *             citation: u32 flags (1: has_span, 2: confidence given, 4: relevance_score
 *             given), u32 zero, i64 span_start, span_end,
 *             f64 confidence, relevance_score, string doc_id; then reasoning strings
 *   USAGE     u32 flags (1: has_cost), u32 zero, i64 input_tokens, output_tokens, f64 cost_usd,
 *             string model
 *   MESSAGE   (aux = section) u32 role (enum weft__role), u32 flags (1: has timestamp),
 *             i64 timestamp_us, string content, name, tool_call_id, tool_calls_json
 *   TRACE_INFO u32 tags kept, u32 tags left out, string project_id, project_name, session_id,
 *             app_name, custom_fields_json, then each tag kept as a string
 *   SPAN_EVENT u64 ticks (weft__clock_ticks at the call), string name, attributes_json
 *
 * The payload length is rounded up to a multiple of 8 and the padding zeroed.
 *
 * Fitting: an event carries at most max_payload bytes (weft__event_max_payload()). When the
 * whole struct does not fit, the longest strings are cut (at a UTF-8 boundary) to one common
 * cap, the largest that fits, and marked cut with their original length; when even the fixed
 * part does not fit, trailing hits / citations / reasoning steps are left out and counted in
 * the event. (The smallest ring, 4 KiB, allows ~1000-byte payloads; below ~256 bytes even an
 * empty struct may not fit, and p->len then exceeds max_payload so the reserve refuses it and
 * counts the drop.) A generation whose answer is cut carries a format check computed on the whole
 * answer, so the check describes what the model said, not what fitted.
 *
 * Threading: pure functions (no allocation, no lock, no system call); any thread.
 */
#ifndef WEFT_RAG_EVENT_H
#define WEFT_RAG_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/weft.h"

/* Chat roles, in the order of their wire names. */
enum weft__role { WEFT__ROLE_SYSTEM = 0, WEFT__ROLE_USER = 1, WEFT__ROLE_ASSISTANT = 2, WEFT__ROLE_TOOL = 3 };

/* 200: snippet_preview keeps the first 200 characters of a hit's snippet (DESIGN.md 3). */
#define WEFT__SNIPPET_CHARS 200

/* String lengths the plan remembers for the write (64: a 20-hit retrieval's strings). */
#define WEFT__RAG_LENS 64

typedef struct weft__rag_plan {
    size_t len;          /* payload bytes, a multiple of 8 */
    size_t str_cap;      /* longest string kept, bytes (SIZE_MAX: nothing cut) */
    size_t n_items;      /* hits or citations kept */
    size_t n_items2;     /* reasoning steps kept */
    uint32_t cuts;       /* strings cut plus items left out (for weft_stats.truncated_attrs) */
    bool fc_computed;    /* generation: fc below was computed on the whole answer */
    weft_format_check fc;
    bool lens_valid;     /* lens holds the uncapped walk's string lengths */
    uint32_t lens[WEFT__RAG_LENS];
} weft__rag_plan;

/* Each plan function checks the caller's struct for misuse (NULL struct, NULL answer, NULL
 * doc_id, NULL array with a count, unknown role, negative token counts) and returns false for
 * it; otherwise it fills *p for max_payload and returns true. */
bool weft__rag_plan_retrieval(weft__rag_plan *p, const weft_retrieval_info *info, size_t max_payload);
bool weft__rag_plan_generation(weft__rag_plan *p, const weft_generation_info *info, size_t max_payload);
bool weft__rag_plan_usage(weft__rag_plan *p, const weft_usage *usage, size_t max_payload);
bool weft__rag_plan_message(weft__rag_plan *p, const weft_message *msg, size_t max_payload);

/* Writes the payload planned by p (exactly p->len bytes) into dst, 8-byte aligned. */
void weft__rag_write_retrieval(void *dst, const weft_retrieval_info *info, const weft__rag_plan *p);
void weft__rag_write_generation(void *dst, const weft_generation_info *info, const weft__rag_plan *p);
void weft__rag_write_usage(void *dst, const weft_usage *usage, const weft__rag_plan *p);
void weft__rag_write_message(void *dst, const weft_message *msg, const weft__rag_plan *p);

/* The role's enum value, or -1 for NULL and unknown names. */
int weft__rag_role(const char *role);

/* Flag bits of the payloads above, written by the setters (rag_set.c) and read by the
 * export thread (assemble/rag_map.c). */
#define STR_PRESENT 1u
#define STR_CUT 2u

#define MSG_HAS_TIMESTAMP 1u

#define RET_HAS_THRESHOLD 1u
#define HIT_HAS_SPAN 1u
#define HIT_HAS_RANK 2u
#define CIT_HAS_SPAN 1u
#define CIT_HAS_CONFIDENCE 2u
#define CIT_HAS_RELEVANCE 4u
#define USAGE_HAS_COST 1u
#define GEN_HAS_FC 1u
#define GEN_FC_COMPLETE 2u
#define GEN_FC_REFUSAL 4u
#define GEN_FC_CITES 8u
/* Computed format types travel as a code in bits 4-5 instead of a string, so that a format
 * check computed on the producer does not change the event's size. */
#define GEN_FC_TYPE_SHIFT 4
#define GEN_FC_TYPE_MASK (3u << GEN_FC_TYPE_SHIFT)
/* The caller's format check left has_counts false and some count 0: the export thread
 * computes those from the answer (weft.h, weft_format_check). */
#define GEN_FC_COUNTS_UNSET 64u

/* The roles of weft_message (enum weft__role order) and the computed format types (the codes
 * of GEN_FC_TYPE_MASK), as both halves name them. */
static const char *const weft__rag_role_names[] = {"system", "user", "assistant", "tool"};
static const char *const weft__rag_fc_type_names[] = {NULL, "json", "markdown", "text"};

#endif
