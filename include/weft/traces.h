/*
 * traces.h — trace queries and evaluations over a *source* of spans (DESIGN.md section 11):
 * local files (the jsonl exporter's output, a Stratix JSONL file, JSON files of span items, a
 * spool directory) or SGP (through weft_sgp_spans_search). Results are the trace models of
 * LLM-evaluation SDKs with their field names exactly: TraceRecord, TraceListResponse,
 * TraceOverview, TraceSummary, TraceMessage, TraceSpan, TraceFullResult, TraceEvalStep.
 * README.md, "Trace queries, evaluations and jobs", says where every field comes from.
 *
 * Independent of the tracer: nothing here needs weft_init.
 *
 * Threading: a source is used by one thread at a time (calls on one source must not overlap);
 * different sources are independent. Results belong to the caller and may be read from any
 * thread.
 *
 * Ownership: every result is heap memory *owned by the caller*, freed with the free function
 * named beside its type (free(NULL)-style: NULL is fine). Every char * inside a result is owned
 * by the result, NUL-terminated, and NULL where the model says "not available" (written as
 * JSON null). Fields documented as "JSON text" hold compact JSON of the type named. Pointer
 * arguments are *borrowed* (read during the call) unless a comment says otherwise.
 *
 * Return codes: 0, or WEFT_EINVAL (bad argument), WEFT_ENOMEM, WEFT_EIO (a file cannot be read),
 * WEFT_ENOTFOUND (no span of that trace in the source), or, for SGP sources, the codes of
 * weft_sgp_spans_search (sgp.h).
 */
#ifndef WEFT_TRACES_H
#define WEFT_TRACES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/weft.h"

#ifdef __cplusplus
extern "C" {
#endif

struct weft_sgp_client;

/* ---- models -------------------------------------------------------------------------------- */

/* TraceRecord: one line of a trace list. */
typedef struct weft_trace_record {
    char *trace_id;
    char *project_id;     /* root metadata.project_id; NULL when not set */
    char *status;         /* "SUCCESS", "ERROR" or "IN_PROGRESS" (see TraceSummary.status) */
    char *session_id;     /* root metadata.session_id; NULL when not set */
    char *project_name;   /* root metadata.project_name; NULL when not set */
    char *app_name;       /* root metadata.app_name; NULL when not set */
    double duration_ms;
    double total_cost;    /* USD; 0 and has_total_cost false when no span carried a cost */
    bool has_total_cost;  /* false: written as JSON null */
    int64_t total_tokens;
    int64_t llm_calls;
    int64_t tool_calls;
    char *input_preview;  /* first 200 characters of the root's input (see README); NULL: none */
    char *output_preview; /* the same for the root's output */
    bool eval_available;  /* weft_trace_evaluate has a check that applies (not only skipped rows) */
    char *created_at;     /* the root's start_timestamp, ISO 8601 UTC */
} weft_trace_record;

/* TraceListResponse: one page of traces, newest first (created_at descending). */
typedef struct weft_trace_list_response {
    weft_trace_record *traces; /* n_traces records, owned */
    size_t n_traces;
    uint64_t total;            /* traces in the source */
    uint32_t page;             /* 1-based */
    uint32_t page_size;
} weft_trace_list_response;

/* TraceOverview: the short form of a record (its strings borrowed from the record). */
typedef struct weft_trace_overview {
    const char *trace_id;
    const char *status;
    double duration_ms;
    double total_cost;
    bool has_total_cost;
    int64_t llm_calls;
    int64_t tool_calls;
} weft_trace_overview;

/* TraceSummary. Equal to the root span's metadata.trace_summary when it has one (src/summary.c
 * wrote it when the root ended); computed from the spans by the same rules otherwise. */
typedef struct weft_trace_summary {
    char *trace_id;
    char *project_id;       /* root metadata.project_id; NULL when not set */
    char *status;           /* trace_summary.status ("SUCCESS", "ERROR"); "IN_PROGRESS" while the
                               root has no end_timestamp (or no root was found) */
    double duration_ms;
    double total_cost;
    bool has_total_cost;    /* false: no cost recorded (JSON null) */
    int64_t total_tokens;
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t llm_calls;
    int64_t tool_calls;
    int64_t retrieval_calls;
    int64_t message_count;  /* messages (TraceFullResult.messages) */
    int64_t span_count;
    char **tags;            /* root metadata.tags (array of strings, or one comma-separated
                               string); n_tags strings, owned */
    size_t n_tags;
    char *custom_fields;    /* JSON text, object: root metadata.custom_fields; "{}" when none */
} weft_trace_summary;

/* TraceMessage: a chat message of the trace, in order. */
typedef struct weft_trace_message {
    char *role;
    char *content;        /* NULL: none (e.g. an assistant turn made only of tool calls) */
    char *timestamp;      /* ISO 8601 (see README for its source) */
    char *tool_calls;     /* JSON text, array: the message's tool_calls; "[]" when none */
    char *tool_call_id;   /* NULL when none */
    char *name;           /* NULL when none */
} weft_trace_message;

/* TraceSpan: one span of the trace. */
typedef struct weft_trace_span {
    char *span_id;
    char *name;
    char *kind;            /* the SGP span type ("COMPLETION", "KB_RETRIEVAL", ...) */
    char *parent_span_id;  /* NULL on the root */
    char *start_time;      /* ISO 8601 */
    char *end_time;        /* NULL while in progress */
    double duration_ms;    /* 0 and has_duration false while in progress */
    bool has_duration;
    char *status;          /* "SUCCESS", "ERROR", "CANCELED" */
    char *attributes;      /* JSON text, object: {"input", "output", "metadata"} and the item's
                              other fields (group_id, application ids, obs ids) */
    char *events;          /* JSON text, array: metadata.events when it is an array; "[]" */
} weft_trace_span;

/* One document a retrieval step returned (the DocumentHit of DESIGN.md section 5). */
typedef struct weft_trace_hit {
    char *doc_id;
    int32_t rank;         /* 0 when not given */
    double score;
    bool has_span;
    int64_t span_start, span_end;
    char *snippet_preview; /* NULL when none */
    char *metadata;        /* JSON text, object; NULL when none */
} weft_trace_hit;

/* A retrieval step: a span with output.hits, or of type KB_RETRIEVAL, DOCUMENT_SEARCH or
 * FILE_RETRIEVAL. */
typedef struct weft_trace_retrieval {
    char *span_id;
    char *name;
    char *query;              /* input.query; NULL when none */
    char *retriever;          /* metadata.retriever */
    char *embedding_model;    /* metadata.embedding_model */
    int32_t top_k;            /* input.top_k; 0 when not given */
    bool has_similarity_threshold;
    double similarity_threshold; /* input.similarity_threshold */
    double latency_ms;        /* metadata.latency_ms, else the span's duration */
    weft_trace_hit *hits;     /* n_hits, owned, in output.hits order */
    size_t n_hits;
    int64_t hits_dropped;     /* output.hits_dropped: hits weft could not fit */
} weft_trace_retrieval;

/* One finding of the diagnostics. */
typedef struct weft_trace_problem {
    char *span_id;   /* NULL for a finding about the whole trace */
    char *name;      /* the span's name; NULL with span_id */
    char *message;
} weft_trace_problem;

typedef struct weft_trace_diagnostics {
    weft_trace_problem *errors;      /* spans with status ERROR, with metadata.error's text */
    size_t n_errors;
    weft_trace_problem *in_progress; /* spans without end_timestamp */
    size_t n_in_progress;
    weft_trace_problem *truncations; /* values cut by weft ("…[truncated N bytes]" markers,
                                        hits_dropped, citations_dropped, reasoning_dropped) */
    size_t n_truncations;
    weft_trace_problem *dropped;     /* spans missing: a parent_id not in the trace, or fewer
                                        spans than trace_summary.span_count */
    size_t n_dropped;
} weft_trace_diagnostics;

/* A node of the execution tree: a span (index into TraceFullResult.spans) and its children,
 * in start order. */
typedef struct weft_trace_node {
    size_t span;
    struct weft_trace_node *children;
    size_t n_children;
} weft_trace_node;

/* TraceFullResult: everything about one trace. */
typedef struct weft_trace_full_result {
    char *trace_id;
    char *metadata;                   /* JSON text, object: the root span's metadata; "{}" */
    weft_trace_summary summary;
    weft_trace_message *messages;     /* n_messages, owned, in order */
    size_t n_messages;
    weft_trace_span *spans;           /* n_spans, owned, by start_time (ties: span_id) */
    size_t n_spans;
    weft_trace_retrieval *retrievals; /* n_retrievals, owned, by start_time */
    size_t n_retrievals;
    weft_trace_diagnostics diagnostics;
    weft_trace_node *execution_tree;  /* n_execution_tree top nodes: the root first, then spans
                                         whose parent is missing; owned */
    size_t n_execution_tree;
} weft_trace_full_result;

/* ---- sources ------------------------------------------------------------------------------- */

typedef struct weft_trace_source weft_trace_source;

/*
 * A source over local files: each path a JSONL file (jsonl exporter items, Stratix trace
 * documents, or both), a JSON array of items, a JSON object {"items":[...]}, or a spool
 * directory. paths (borrowed, copied) are read at the first query, entirely, into memory
 * (about five times their size in jansson objects); spans appearing twice (a spool's
 * in-progress record and its completed one) are kept once, the completed one first, else the
 * last read. Returns 0, WEFT_EINVAL (no paths) or WEFT_ENOMEM; a file that cannot be read is
 * reported by the first query (WEFT_EIO).
 */
WEFT_API int weft_trace_source_open_files(const char *const *paths, size_t n_paths, weft_trace_source **out);

/*
 * A source over SGP through client (borrowed: it must outlive the source). Traces are listed
 * from root spans (search parents_only, every page); a trace's spans are fetched by trace_ids.
 */
WEFT_API int weft_trace_source_open_sgp(struct weft_sgp_client *client, weft_trace_source **out);

/* Frees the source. NULL is fine. */
WEFT_API void weft_trace_source_free(weft_trace_source *src);

/* Entries of a local source that were not span items (malformed lines, damaged spool
 * records), counted by the last load; 0 for SGP sources. The first such message, or NULL
 * (static for the source's lifetime). */
WEFT_API uint64_t weft_trace_source_skipped(const weft_trace_source *src, const char **first_message);

typedef struct weft_trace_list_opts {
    uint32_t page;      /* 1-based; 0: 1 */
    uint32_t page_size; /* 0: 50; at most 1000 (WEFT_EINVAL above) */
} weft_trace_list_opts;

/* One page of traces, newest first. opts may be NULL (page 1, 50 per page). A page past the
 * end is empty with the right total. *out: free with weft_trace_list_response_free. */
WEFT_API int weft_traces_list(weft_trace_source *src, const weft_trace_list_opts *opts,
                              weft_trace_list_response **out);

/* Everything about the trace trace_id. WEFT_ENOTFOUND when no span of it is in the source.
 * *out: free with weft_trace_full_result_free. */
WEFT_API int weft_traces_get(weft_trace_source *src, const char *trace_id, weft_trace_full_result **out);

WEFT_API void weft_trace_list_response_free(weft_trace_list_response *r);
WEFT_API void weft_trace_full_result_free(weft_trace_full_result *r);

/* The record of a trace from its full result (what weft_traces_list would say about it).
 * *out: free with weft_trace_record_free. */
WEFT_API int weft_trace_record_from_full(const weft_trace_full_result *t, weft_trace_record **out);
WEFT_API void weft_trace_record_free(weft_trace_record *r);

/* The overview of a record; its strings are borrowed from r. */
WEFT_API weft_trace_overview weft_trace_record_overview(const weft_trace_record *r);

/* ---- evaluations --------------------------------------------------------------------------- */

/* TraceEvalStep: one deterministic check of a trace (formulas in README). */
typedef struct weft_trace_eval_step {
    char *metric;      /* "citation_grounding", "answer_completeness", "refusal",
                          "retrieval_coverage", "failed_spans", "latency", "cost" */
    double score;      /* 0..1; 0 (JSON null) when skipped */
    char *explanation; /* one sentence with the numbers behind the score */
    char *status;      /* "passed", "failed" or "skipped" (the check does not apply) */
    char *input_text;  /* what the step was given (query, question); NULL when none */
    char *output_text; /* what it produced (answer); NULL when none */
    char *context;     /* the evidence: retrieved doc_ids, hit scores, failed span names, ...;
                          NULL when none */
} weft_trace_eval_step;

typedef struct weft_trace_eval_opts {
    double latency_budget_ms; /* > 0: the latency check compares duration_ms with it */
    double cost_budget_usd;   /* > 0: the cost check compares total_cost with it */
} weft_trace_eval_opts;

/*
 * Runs every check on t (opts may be NULL: no budgets). *steps: n rows, in the order of the
 * metric list above, one row per step checked (a generation span, a retrieval span) or one
 * skipped row when a check has nothing to look at. Free with weft_trace_eval_steps_free.
 */
WEFT_API int weft_trace_evaluate(const weft_trace_full_result *t, const weft_trace_eval_opts *opts,
                                 weft_trace_eval_step **steps, size_t *n);
WEFT_API void weft_trace_eval_steps_free(weft_trace_eval_step *steps, size_t n);

/* ---- JSON ---------------------------------------------------------------------------------- */

/*
 * Each model as one compact JSON object (no newline) with exactly the model's field names, in
 * the order above; NULL strings and absent costs as null, JSON-text fields embedded as JSON.
 * Returns a malloc'd NUL-terminated string (the caller frees it with free()), NULL when out
 * of memory.
 */
WEFT_API char *weft_trace_record_to_json(const weft_trace_record *r);
WEFT_API char *weft_trace_list_response_to_json(const weft_trace_list_response *r);
WEFT_API char *weft_trace_overview_to_json(const weft_trace_overview *o);
WEFT_API char *weft_trace_summary_to_json(const weft_trace_summary *s);
WEFT_API char *weft_trace_message_to_json(const weft_trace_message *m);
WEFT_API char *weft_trace_span_to_json(const weft_trace_span *s);
/* TraceFullResult: retrievals as [{span_id, name, query, retriever, embedding_model, top_k,
 * similarity_threshold, latency_ms, hits: [{doc_id, rank, score, span, snippet_preview,
 * metadata}], hits_dropped}], diagnostics as {errors, in_progress, truncations, dropped} of
 * [{span_id, name, message}], execution_tree as [{span_id, name, kind, status, duration_ms,
 * children: [...]}]. */
WEFT_API char *weft_trace_full_result_to_json(const weft_trace_full_result *t);
/* trace_id may be NULL; when given, a "trace_id" member is added first (the CLI's eval). */
WEFT_API char *weft_trace_eval_step_to_json(const weft_trace_eval_step *s, const char *trace_id);

#ifdef __cplusplus
}
#endif

#endif
