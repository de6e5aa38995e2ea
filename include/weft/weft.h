/*
 * weft.h — the public C API of weft, an in-process tracer for programs that call LLMs.
 *
 * A program wraps its retrieval, generation, tool and agent steps in spans. Every call on a
 * span appends one small fixed-layout event to the calling thread's own ring buffer (no lock,
 * no heap allocation after the thread's first span, no system call, never blocks); a background
 * thread started by weft_init drains the rings, assembles complete spans and exports them in
 * batches (SGP upsert_batch, a JSONL file, stdout).
 *
 * Threading: every function here may be called from any thread once weft_init has returned,
 * except weft_init and weft_shutdown themselves, which must not race each other. Calls made
 * before weft_init, after weft_shutdown, or while tracing is disabled are cheap no-ops.
 *
 * Pointers: unless a comment says otherwise every pointer argument is *borrowed*: weft reads it
 * during the call (copying what it keeps) and never frees or keeps it.
 *
 * Defining WEFT_NO_TRACING before including this header turns every span call and macro into
 * an empty inline function, so instrumentation compiles away.
 */
#ifndef WEFT_WEFT_H
#define WEFT_WEFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(WEFT_STATIC)
#define WEFT_API
#elif defined(__GNUC__)
#define WEFT_API __attribute__((visibility("default")))
#else
#define WEFT_API
#endif

/* ---------------------------------------------------------------------------------------
 * Errors. Fallible calls return 0 or one of these negative codes; weft_strerror names each.
 * -------------------------------------------------------------------------------------- */
#define WEFT_ERRNO_MAP(XX)                                                               \
    XX(EINVAL, -1, "invalid argument")                                                   \
    XX(ENOMEM, -2, "out of memory")                                                      \
    XX(ETIMEDOUT, -3, "timed out before everything was exported")                        \
    XX(ENOTINIT, -4, "weft is not initialised")                                          \
    XX(EALREADY, -5, "weft is already initialised")                                      \
    XX(EDISABLED, -6, "tracing is disabled")                                             \
    XX(EIO, -7, "input/output error")                                                    \
    XX(ECONFIG, -8, "invalid configuration")                                             \
    XX(EINSECURE, -9, "refusing to send an API key over plain HTTP to a non-loopback host") \
    XX(ETHREAD, -10, "could not start the export thread")                                \
    XX(EEXPORT, -11, "some spans could not be delivered")                                \
    XX(EHTTP, -12, "the server answered with an HTTP error status")                      \
    XX(ENOTSUP, -13, "not supported by the server (HTTP 501)")                           \
    XX(EPROTO, -14, "the server's answer is not what the API documents")                 \
    XX(ENOTFOUND, -15, "not found")                                                      \
    XX(ECANCELED, -16, "cancelled")

typedef enum weft_errno {
    WEFT_OK = 0,
#define WEFT_ERRNO_ENUM_(name, code, msg) WEFT_##name = (code),
    WEFT_ERRNO_MAP(WEFT_ERRNO_ENUM_)
#undef WEFT_ERRNO_ENUM_
} weft_errno;

#ifndef WEFT_NO_TRACING /* notrace.h has stand-ins that need no libweft */
/* A constant, static string for every int (unknown codes get "unknown error"). */
WEFT_API const char *weft_strerror(int err);
#endif

/* ---------------------------------------------------------------------------------------
 * Span vocabulary
 * -------------------------------------------------------------------------------------- */

/* The 25 SGP span types, in the API's order; weft_span_type_name gives the wire string. */
#define WEFT_SPAN_TYPE_MAP(XX)                                                           \
    XX(TEXT_INPUT) XX(TEXT_OUTPUT) XX(COMPLETION_INPUT) XX(COMPLETION) XX(KB_RETRIEVAL)   \
    XX(KB_INPUT) XX(RERANKING) XX(EXTERNAL_ENDPOINT) XX(PROMPT_ENGINEERING)               \
    XX(DOCUMENT_INPUT) XX(MAP_REDUCE) XX(DOCUMENT_SEARCH) XX(DOCUMENT_PROMPT) XX(CUSTOM)  \
    XX(CODE_EXECUTION) XX(DATA_MANIPULATION) XX(EVALUATION) XX(FILE_RETRIEVAL)            \
    XX(KB_ADD_CHUNK) XX(KB_MANAGEMENT) XX(GUARDRAIL) XX(TRACER) XX(AGENT_TRACER)          \
    XX(AGENT_WORKFLOW) XX(STANDALONE)

typedef enum weft_span_type {
#define WEFT_SPAN_TYPE_ENUM_(name) WEFT_TYPE_##name,
    WEFT_SPAN_TYPE_MAP(WEFT_SPAN_TYPE_ENUM_)
#undef WEFT_SPAN_TYPE_ENUM_
    WEFT_TYPE_COUNT_
} weft_span_type;

#ifndef WEFT_NO_TRACING
/* "COMPLETION" for WEFT_TYPE_COMPLETION, ...; "CUSTOM" for out-of-range values. Static string. */
WEFT_API const char *weft_span_type_name(weft_span_type type);
#endif

typedef enum weft_status {
    WEFT_STATUS_SUCCESS = 0, /* the default: a span nobody set a status on succeeded */
    WEFT_STATUS_ERROR = 1,
    WEFT_STATUS_CANCELED = 2
} weft_status;

/* The three JSON objects of a span record. */
typedef enum weft_section { WEFT_INPUT = 0, WEFT_OUTPUT = 1, WEFT_METADATA = 2 } weft_section;

/* A span handle: a small value with the ids inside, never a pointer. The zero value (what
 * begin returns while tracing is off or before weft_init) is accepted by every call and
 * ignored. Copy it freely, across threads too. Fields are private: every call checks them
 * before it writes anything, so a handle that is stale, forged, uninitialised or from another
 * process is a counted no-op (weft_stats.noop_calls), never a write out of bounds. */
typedef struct weft_span {
    uint64_t trace;    /* private: high 64 bits of the W3C trace id */
    uint64_t id;       /* private: the span id (the W3C span id); 0 for the zero span */
    uint32_t home;     /* private: slot of the thread whose context stack holds it << 16, and depth */
    uint32_t flags;    /* private: WEFT__SPAN_* below */
    uint64_t trace_lo; /* private: low 64 bits of the W3C trace id XOR the process's salt; 0
                          for every trace begun in this process (weft_span_begin_remote) */
} weft_span;

#define WEFT__SPAN_SAMPLED_OUT 1u /* private: part of a trace that head sampling dropped */
#define WEFT__SPAN_OFF 2u         /* private: nothing to do, not even at end (begun while tracing
                                     was disabled, or a sampled-out span on no context stack) */
#define WEFT__SPAN_LOST 4u        /* private: its begin was dropped (ring full); counted */

/* What weft_span_activate returns: the handle of one entry on the calling thread's context
 * stack, for weft_scope_end. A small value; fields are private. */
typedef struct weft_scope {
    uint64_t key;   /* private: the entry's token; 0 for the zero scope */
    uint32_t home;  /* private: slot << 16 | depth of the entry */
    uint32_t flags; /* private: WEFT__SPAN_OFF when tracing was off */
} weft_scope;

/* A span's ids as text, NUL-terminated, exactly as the SGP exporter writes them (DESIGN.md
 * section 4): trace_id and span_id are the record's trace_id and id (lowercase canonical UUID);
 * w3c_trace_id (32 lowercase hex) and w3c_span_id (16) are its obs_trace_id and obs_span_id. */
typedef struct weft_ids {
    char trace_id[37];
    char span_id[37];
    char w3c_trace_id[33];
    char w3c_span_id[17];
} weft_ids;

/* Static description of a span call site, emitted by WEFT_SPAN_BEGIN; private. */
typedef struct weft_site {
    const char *name; /* static: a string literal */
    uint32_t name_len;
    uint32_t type;
} weft_site;

/* ---------------------------------------------------------------------------------------
 * RAG and LLM types (DESIGN.md section 5 says where each field lands in the record). A
 * zero-initialised field means "not given" and is omitted, except where a has_ flag rules.
 * -------------------------------------------------------------------------------------- */
/* has_ flags added after the first release sit in padding the struct already had (its size
 * and every older field's offset are unchanged, so arrays built by older programs still line
 * up). Older programs leave them false: their values are sent as before. */
typedef struct weft_document_hit {
    const char *doc_id; /* required */
    int32_t rank;       /* sent when has_rank or when not 0 */
    double score;       /* always sent (the DocumentHit model requires it), 0.0 included */
    bool has_span;
    bool has_rank;      /* rank is the caller's value even when 0 */
    int64_t span_start, span_end; /* character range in the document */
    const char *snippet;          /* weft keeps the first 200 characters: snippet_preview */
    const char *metadata_json;    /* a JSON object as text */
} weft_document_hit;

typedef struct weft_retrieval_info {
    const char *retriever; /* "vectordb", "bm25", "api", "hybrid" */
    const char *embedding_model;
    int32_t chunk_size, chunk_overlap, top_k;
    bool has_similarity_threshold;
    double similarity_threshold;
    const char *query;
    const weft_document_hit *hits;
    size_t n_hits;
    double latency_ms; /* 0: taken from the span's own duration */
} weft_retrieval_info;

typedef struct weft_citation {
    const char *doc_id;
    bool has_span;
    bool has_confidence, has_relevance_score; /* the value is the caller's even when 0.0 */
    int64_t span_start, span_end;
    double confidence, relevance_score; /* each sent when its has_ flag is set or it is not 0 */
} weft_citation;

/* A caller's own format check. The three booleans are sent as given. length_tokens,
 * length_chars and citation_count: with has_counts set they are sent as given, 0 included;
 * without it each one left 0 is computed from the answer and citations (a 0 never goes out
 * as if measured). language: NULL omits it; format_type: NULL computes it. */
typedef struct weft_format_check {
    bool is_complete, refusal, contains_citations;
    bool has_counts; /* the three counts below are measured values, 0 included */
    int32_t length_tokens, length_chars, citation_count;
    const char *language, *format_type;
} weft_format_check;

typedef struct weft_generation_info {
    const char *answer; /* required */
    const weft_citation *citations;
    size_t n_citations;
    const weft_format_check *format_check; /* NULL: weft computes one from answer and citations */
    const char *model_used, *prompt_template;
    int32_t context_length;
    double generation_latency_ms; /* 0: taken from the span's own duration */
    const char *const *reasoning_trace;
    size_t n_reasoning;
} weft_generation_info;

/* Token usage and cost of one LLM call, into metadata (model, input_tokens, output_tokens,
 * total_tokens, cost_usd) and summed per trace. cost: when has_cost is false and the model is
 * in the configured price table, weft computes it. */
typedef struct weft_usage {
    const char *model;
    int64_t input_tokens, output_tokens;
    bool has_cost;
    double cost_usd;
} weft_usage;
/* One chat message appended to input.messages or output.messages (sec WEFT_INPUT/WEFT_OUTPUT).
 * role: "system", "user", "assistant" or "tool"; name and tool_call_id may be NULL.
 * The last two fields were appended after 0.2.0 (a zero-initialised struct leaves them off):
 * tool_calls_json, a JSON array as text (OpenAI's tool_calls shape), becomes the message's
 * "tool_calls" member (text that is not a JSON array is left out and counted in
 * weft_stats.invalid_json); timestamp_us, Unix microseconds, becomes its "timestamp" member
 * (ISO 8601); 0 leaves it off (readers then use the span's timestamps). */
typedef struct weft_message {
    const char *role, *content, *name, *tool_call_id;
    const char *tool_calls_json;
    int64_t timestamp_us;
} weft_message;

/* What a trace is about, set on its root span (weft_span_set_trace_info): each non-NULL field
 * becomes the root metadata key the trace queries read (weft/traces.h; README, "Where each
 * field comes from"): project_id, project_name, session_id, app_name (strings), tags (an array
 * of strings; NULL entries are skipped) and custom_fields (a JSON object as text; anything else
 * is left out and counted in weft_stats.invalid_json). */
typedef struct weft_trace_info {
    const char *project_id, *project_name, *session_id, *app_name;
    const char *const *tags;
    size_t n_tags;
    const char *custom_fields_json;
} weft_trace_info;
/* ---------------------------------------------------------------------------------------
 * Configuration. A zero field means its default; each comment names the environment variable
 * read by weft_init when the field is zero, then the default. New fields are only appended.
 * Strings are copied by weft_init (borrowed for the duration of the call).
 * -------------------------------------------------------------------------------------- */
typedef enum weft_log_level {
    WEFT_LOG_ERROR = 0,
    WEFT_LOG_WARN = 1,
    WEFT_LOG_INFO = 2,
    WEFT_LOG_DEBUG = 3
} weft_log_level;

/* Called on the export thread (or in weft_init for configuration problems); msg is borrowed
 * for the call. Never receives an API key. */
typedef void (*weft_log_fn)(void *user, weft_log_level level, const char *msg);

/* USD per million tokens for one model: the price table behind computed cost. */
typedef struct weft_model_price {
    const char *model; /* exact model name as given to weft_span_set_usage */
    double input_usd_per_mtok, output_usd_per_mtok;
} weft_model_price;

/* A finished span on its way out, as weft_config.filter sees it (opaque; see weft_record_*). */
typedef struct weft_record weft_record;
/* Returns false to drop the record. Runs on the export thread; must not call weft_flush. */
typedef bool (*weft_filter_fn)(void *user, weft_record *rec);

#define WEFT_INPROGRESS_NOW (-2)   /* inprogress_after_ms: upsert open spans at once */
#define WEFT_INPROGRESS_NEVER (-1) /* inprogress_after_ms: never upsert open spans */

typedef struct weft_config {
    const char *exporters;      /* WEFT_EXPORTER: "sgp", "jsonl", "stdout", "none", comma list;
                                   default "sgp" when an API key is set, else "jsonl" */
    const char *sgp_api_key;    /* SGP_API_KEY; never logged */
    const char *sgp_account_id; /* SGP_ACCOUNT_ID */
    const char *sgp_base_url;   /* SGP_CLIENT_BASE_URL; "https://api.egp.scale.com" */
    const char *jsonl_path;     /* WEFT_JSONL_PATH; "weft-traces.jsonl" */
    uint32_t flush_interval_ms; /* WEFT_FLUSH_INTERVAL_MS; 1000 */
    uint32_t max_batch_spans;   /* WEFT_MAX_BATCH_SPANS; 1000 (the API's limit, also the cap) */
    uint64_t max_batch_bytes;   /* WEFT_MAX_BATCH_BYTES; 4 MiB */
    uint64_t ring_bytes;        /* WEFT_RING_BYTES; 1 MiB per producing thread (power of two):
                                   the initial ring; it grows up to ring_max_bytes (below) */
    uint64_t max_attr_bytes;    /* WEFT_MAX_ATTR_BYTES; 1 MiB */
    int32_t inprogress_after_ms; /* WEFT_INPROGRESS_AFTER_MS; 1000; WEFT_INPROGRESS_NOW or
                                    WEFT_INPROGRESS_NEVER (environment: 0 and -1) */
    uint64_t max_queue_bytes;   /* WEFT_MAX_QUEUE_BYTES; 64 MiB */
    const char *spool_dir;      /* WEFT_SPOOL_DIR; off */
    uint64_t spool_max_bytes;   /* WEFT_SPOOL_MAX_BYTES; 256 MiB */
    double sample_ratio;        /* WEFT_SAMPLE_RATIO; 1.0 (kept fraction of traces, (0, 1]) */
    bool disabled;              /* DISABLE_SCALE_TRACING / WEFT_DISABLED set: every call a no-op */
    bool no_atexit;             /* true: do not register weft_shutdown with atexit */
    weft_log_fn log;            /* NULL: warnings and errors go to stderr, prefixed "weft: " */
    void *log_user;             /* passed to log, borrowed for weft's lifetime */
    weft_log_level log_level;   /* WEFT_LOG_LEVEL (error, warn, info, debug); warn */
    uint32_t max_open_spans;    /* WEFT_MAX_OPEN_SPANS; 1,000,000 open spans tracked at once */
    uint32_t max_threads;       /* WEFT_MAX_THREADS; 4096 producer threads alive at once */
    const char *group_id;                   /* WEFT_GROUP_ID: group_id on every span */
    const char *application_variant_id;     /* WEFT_APPLICATION_VARIANT_ID */
    const char *application_interaction_id; /* WEFT_APPLICATION_INTERACTION_ID */
    const char *ca_bundle;      /* WEFT_CA_BUNDLE: CA file for TLS verification; system default */
    uint32_t max_inflight;      /* WEFT_MAX_INFLIGHT; 4 HTTP requests in flight per exporter */
    uint32_t connect_timeout_ms; /* WEFT_CONNECT_TIMEOUT_MS; 5000 */
    uint32_t request_timeout_ms; /* WEFT_REQUEST_TIMEOUT_MS; 30000 */
    uint32_t retry_window_ms;   /* WEFT_RETRY_WINDOW_MS; 300000: how long a batch is retried */
    const weft_model_price *prices; /* price table for computed cost (copied); none */
    size_t n_prices;
    /* Redaction (README, "Redaction"): keys matching one of these case-insensitive glob
     * patterns ('*' and '?') have their value replaced by "[REDACTED]", at any depth of a JSON
     * or msgpack value too. NULL: WEFT_REDACT_KEYS (comma list), else the defaults
     * (WEFT_REDACT_DEFAULTS); an empty list (n_redact_keys 0, redact_keys non-NULL) or
     * WEFT_REDACT_KEYS=none turns redaction off. Copied. */
    const char *const *redact_keys;
    size_t n_redact_keys;
    /* Called on the export thread for every record before it is encoded; may read and
     * rewrite it (weft_record_*), returns false to drop it (counted in `filtered`). */
    weft_filter_fn filter;
    void *filter_user; /* borrowed for weft's lifetime */
    /* WEFT_CAPTURE_CONTENT=0 (or false/no/off): spans made by weft/curl.h record no prompt or
     * completion text, only roles, sizes and counts (a call's weft_llm_call.content wins). */
    bool no_capture_content;
    /* The stratix exporter (README, "Send to LayerLens Stratix"): one JSON document per
     * completed trace, appended to JSONL files in stratix_dir that are uploaded to Stratix's
     * traces API when they reach stratix_max_file_bytes or stratix_max_file_age_ms, and at
     * weft_flush / weft_shutdown. Strings copied; the key is never logged. */
    const char *stratix_api_key;         /* LAYERLENS_STRATIX_API_KEY (required by the exporter) */
    const char *stratix_base_url;        /* LAYERLENS_STRATIX_BASE_URL; "https://api.layerlens.ai/api/v1" */
    const char *stratix_organization_id; /* LAYERLENS_STRATIX_ORGANIZATION_ID; resolved from the API */
    const char *stratix_project_id;      /* LAYERLENS_STRATIX_PROJECT_ID; the organization's first */
    const char *stratix_dir;             /* WEFT_STRATIX_DIR; "$TMPDIR/weft-stratix-<uid>" (TMPDIR
                                            unset: /tmp), made mode 0700 and checked to be ours */
    uint64_t stratix_max_file_bytes;     /* WEFT_STRATIX_MAX_FILE_BYTES; 8 MiB; at most 50,000,000
                                            (every file stays below this size) */
    uint32_t stratix_max_file_age_ms;    /* WEFT_STRATIX_MAX_FILE_AGE_MS; 30000 (from its first trace) */
    uint32_t stratix_grace_ms;           /* WEFT_STRATIX_GRACE_MS; 5000: how long a trace is held
                                            after its root ends for spans that end later */
    /* WEFT_RING_MAX_BYTES; 256 MiB: how far one thread's ring may grow (a power of two, at
     * least ring_bytes; ring_bytes itself turns growth off). A ring starts at ring_bytes, with
     * no page committed until it is written; when a burst fills it, the thread goes on in a
     * ring twice as big (counted in weft_stats.ring_grown) instead of dropping events, and
     * goes back to ring_bytes once the export thread has kept up for about a second (or when
     * the thread exits). Events are dropped (dropped_ring) only when a ring this big is full. */
    uint64_t ring_max_bytes;
} weft_config;

/* The default redaction patterns. */
#define WEFT_REDACT_DEFAULTS                                                              \
    "*api_key*", "*apikey*", "*api-key*", "authorization", "*password*", "*passwd*",     \
        "*secret*", "token", "*_token", "*-token", "*cookie*", "*credential*"

/* Counters since weft_init. Every span that is not exported is counted in one drop field
 * (a span lost in its ring is counted in dropped_ring_spans; dropped_ring counts the events).
 * New fields are only appended (see "ABI" below). */
typedef struct weft_stats {
    uint64_t started;          /* spans begun (sampled-in) */
    uint64_t ended;            /* spans whose end the export thread has assembled */
    uint64_t exported;         /* completed span records acknowledged by every exporter */
    uint64_t dropped_ring;     /* events dropped because a thread's ring was full */
    uint64_t dropped_export;   /* span records an exporter gave up on (retries, limits) */
    uint64_t retried;          /* requests retried */
    uint64_t spooled;          /* span records the exporter could not deliver, kept in the disk
                                  spool for replay instead of being dropped */
    uint64_t replayed;         /* span records replayed from the disk spool and delivered */
    uint64_t dropped_open;     /* spans lost because the open-span table was full */
    uint64_t dropped_queue;    /* records dropped because the export queue was over its limit */
    uint64_t rejected;         /* records the server rejected (400/409/422) */
    uint64_t sampled_out;      /* traces not kept by head sampling */
    uint64_t noop_calls;       /* calls on the zero span, an ended span or an unknown span */
    uint64_t truncated_attrs;  /* attribute values cut at max_attr_bytes (or the ring's limit) */
    uint64_t repaired_utf8;    /* strings whose invalid UTF-8 or NUL bytes were repaired */
    uint64_t invalid_json;     /* JSON/msgpack values kept as strings because they did not parse */
    uint64_t inprogress_sent;  /* in-progress (not yet ended) records handed to exporters */
    uint64_t batches;          /* batches handed to exporters */
    uint64_t requests;         /* HTTP requests sent */
    uint64_t threads;          /* producer threads registered since init */
    uint64_t open_spans;       /* spans open right now (begun, not ended) on the export side */
    uint64_t queued;           /* records held by exporters, not yet acknowledged */
    uint64_t internal_errors;  /* internal inconsistencies (tracing turned off; logged once) */
    uint64_t dropped_no_slot;  /* calls dropped: max_threads producer threads were registered and
                                  none had exited and been drained yet */
    uint64_t filtered;         /* records the filter callback dropped */
    uint64_t redacted;         /* values replaced by "[REDACTED]" */
    uint64_t spool_written;    /* completed span records written to the disk spool before sending */
    uint64_t spool_errors;     /* spool I/O failures (full disk, read-only or unusable directory):
                                  each logged once per episode; delivery went on without it */
    uint64_t spool_corrupt_records; /* damaged spool records skipped on replay (bad CRC, torn
                                       last record, unreadable rest of a file) */
    uint64_t spool_bad_files;  /* files in the spool directory that are not readable spool files
                                  (foreign, other format version, cut before the header) */
    /* --- appended in 0.2 --- */
    uint64_t dropped_ring_spans; /* spans lost because a thread's ring was full: their begin
                                    or their end event was dropped (each span counted once) */
    uint64_t dropped_depth;    /* spans not recorded because they were begun 65,535 levels deep
                                  on one thread (with everything begun under them) */
    uint64_t incomplete_traces; /* traces the stratix exporter sent without some of their spans:
                                   spans that ended more than stratix_grace_ms after the root
                                   was sent (each such span is counted in dropped_export), or a
                                   trace written without its root because memory ran short */
    uint64_t bad_traceparent;  /* weft_span_begin_remote calls given a malformed traceparent
                                  (each started a new trace instead) */
    uint64_t ring_grown;       /* times a thread's ring was full and doubled instead of dropping
                                  (up to ring_max_bytes) */
} weft_stats;

/* ---------------------------------------------------------------------------------------
 * ABI. weft_config and weft_stats only ever grow at the end, and the library is told how big
 * the caller's struct is: weft_init and weft_get_stats below are macros that pass
 * sizeof(weft_config) / sizeof(weft_stats) as the caller's header has them to
 * weft_init_sized / weft_get_stats_sized. A program built against an older weft.h hands a newer
 * libweft a shorter struct: the library reads and writes only the first cfg_size / out_size
 * bytes, and fields past them take their defaults (config) or are not written (stats). A
 * program built against a newer weft.h on an older libweft is refused with WEFT_ECONFIG if it
 * sets a field that library does not know (those bytes must be zero); stats fields the older
 * library does not know are written as 0. Binaries built before the sized calls existed call
 * the exported functions weft_init / weft_get_stats, which take the struct as weft 0.1 laid it
 * out (up to filter_user / spool_bad_files). `(weft_init)(cfg)` still reaches that function.
 * weft_span itself grew in 0.2 (trace_lo, for traces joined from another process); before 1.0
 * the library's soname carries the minor version (libweft.so.0.2), so a program built against
 * 0.1 is refused by the loader rather than run with the wrong span layout.
 * -------------------------------------------------------------------------------------- */

#ifndef WEFT_NO_TRACING

/* ---------------------------------------------------------------------------------------
 * Lifecycle
 * -------------------------------------------------------------------------------------- */

/* Starts weft: reads cfg (NULL: all defaults) and the environment, opens the exporters and
 * starts the export thread. Returns 0, WEFT_EALREADY, WEFT_ECONFIG, WEFT_EINSECURE, WEFT_ENOMEM,
 * WEFT_EIO (exporter could not open) or WEFT_ETHREAD. When tracing is disabled by configuration
 * it returns 0 and every later call is a no-op. Not thread-safe against weft_shutdown. */
WEFT_API int weft_init(const weft_config *cfg);
/* weft_init for a struct of cfg_size bytes (sizeof(weft_config) of the caller's weft.h); the
 * macro weft_init calls it. Returns what weft_init returns; WEFT_EINVAL when cfg_size is too
 * small to hold the first field; WEFT_ECONFIG when bytes past this library's weft_config are
 * not zero (logged). */
WEFT_API int weft_init_sized(const weft_config *cfg, size_t cfg_size);
#define weft_init(cfg) weft_init_sized((cfg), sizeof(weft_config))

/* Waits until every span ended (on any thread) before the call has been exported. Returns 0,
 * WEFT_ETIMEDOUT, WEFT_ENOTINIT or WEFT_EEXPORT (an exporter dropped some). timeout_ms 0: wait
 * without limit. Must not be called from a log callback. */
WEFT_API int weft_flush(uint32_t timeout_ms);

/* Flushes (within timeout_ms; 0: no limit), stops the export thread and frees everything. Spans
 * still open are exported as they stand. Returns 0, WEFT_ETIMEDOUT or WEFT_EEXPORT when spans
 * could not be delivered (weft_get_stats, read before the next weft_init, says how many).
 * Safe to call twice; calls on spans afterwards are no-ops. */
WEFT_API int weft_shutdown(uint32_t timeout_ms);

/* Fills *out with the counters (consistent per field, not across fields). Works after
 * shutdown too: the last values stay until the next weft_init. */
WEFT_API void weft_get_stats(weft_stats *out);
/* weft_get_stats into a struct of out_size bytes (the macro weft_get_stats passes
 * sizeof(weft_stats)): writes exactly out_size bytes, fields this library does not know as 0. */
WEFT_API void weft_get_stats_sized(weft_stats *out, size_t out_size);
#define weft_get_stats(out) weft_get_stats_sized((out), sizeof(weft_stats))

/* Registers the calling thread ahead of its first span (optional): takes its thread state and
 * ring, and commits the pages its first spans will write, so that a thread-per-request server
 * pays none of that inside a request. A thread that never calls it is registered by its first
 * span instead (README, "Memory"). Calling it again is harmless. Returns 0, WEFT_ENOTINIT
 * (before weft_init, after weft_shutdown or while tracing is off), or WEFT_ENOMEM when no
 * state could be had (max_threads threads are registered: counted in dropped_no_slot). */
WEFT_API int weft_thread_register(void);

/* ---------------------------------------------------------------------------------------
 * Spans (hot path: no lock, no allocation after the thread's first span, never blocks)
 * -------------------------------------------------------------------------------------- */

/* Begins a span whose parent is the calling thread's current span (none: a trace root) and
 * makes it current until it ends. name: borrowed, copied (invalid UTF-8 repaired, "" becomes
 * "unnamed"). */
WEFT_API weft_span weft_span_begin(const char *name, weft_span_type type);

/* Begins a span under an explicit parent without touching any thread's current span: for work
 * handed to another thread, a callback or an event loop. A zero parent makes a trace root. */
WEFT_API weft_span weft_span_begin_child(weft_span parent, const char *name, weft_span_type type);

/* Ends a span, on any thread. A second end, or an end on the zero span, is a counted no-op. */
WEFT_API void weft_span_end(weft_span span);

/* The calling thread's current span, or the zero span. Inside a sampled-out trace it is that
 * trace's (sampled-out) span, so work begun under it stays out of the kept traces. */
WEFT_API weft_span weft_current_span(void);

/* Makes span the calling thread's current span until the scope ends: spans begun with
 * weft_span_begin meanwhile are its children. For a thread pool, a callback or library code
 * joining the caller's trace; span may have been begun on any thread (and may end on any
 * thread, the scope stays open until weft_scope_end). Scopes nest with each other and with
 * weft_span_begin. The zero span opens a scope in which spans begin as trace roots. Never
 * allocates after the thread's first span. */
WEFT_API weft_scope weft_span_activate(weft_span span);

/* Ends a scope on the thread that opened it, restoring what was current before. Only the
 * innermost open scope or span of the thread can end this way: a scope ended out of order (a
 * scope or span begun after it still open), twice, on another thread, or the zero scope is a
 * counted no-op (noop_calls) and the stack stays as it was. */
WEFT_API void weft_scope_end(weft_scope scope);

/* Fills *out with span's ids as text (weft_ids). Returns 0; WEFT_EINVAL for the zero span, a
 * forged handle or out NULL; WEFT_ENOTINIT before weft_init. A sampled-out span has ids too
 * (nothing is exported under them). Any thread; out is borrowed. */
WEFT_API int weft_span_get_ids(weft_span span, weft_ids *out);
/* ---------------------------------------------------------------------------------------
 * Trace context across processes (W3C Trace Context; README, "Trace context across
 * processes"). Any thread.
 * -------------------------------------------------------------------------------------- */

/* Begins a span whose parent is the remote span named by a W3C `traceparent` header value
 * (e.g. "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01") and makes it current, like
 * weft_span_begin. The span joins the remote trace: its W3C trace id is the header's, and
 * every backend links it to the remote parent (SGP parent_id, OTLP parent_span_id). The
 * sampled flag is honoured: flags without bit 0 give a span that records nothing (like a
 * trace dropped by head sampling), bit 0 set records it whatever sample_ratio says.
 * traceparent NULL or "" starts a new trace root; a malformed one (bad or ff version,
 * upper-case hex, all-zero ids, wrong lengths) does too and is counted in
 * weft_stats.bad_traceparent. tracestate (may be NULL): kept verbatim on the span (OTLP
 * trace_state) when valid and at most 1024 bytes, otherwise ignored. All strings borrowed. */
WEFT_API weft_span weft_span_begin_remote(const char *traceparent, const char *tracestate, const char *name,
                                          weft_span_type type);

/* The traceparent header value naming span as a parent: "00-<32 hex>-<16 hex>-<2 hex>",
 * flags 01 (sampled) or 00 (a span of a trace that is not recorded), NUL-terminated into buf
 * (borrowed, len >= 56). Returns 55, or WEFT_EINVAL for the zero span, a NULL buf or a len
 * too small (buf then holds "" when len > 0). */
WEFT_API int weft_traceparent_format(weft_span span, char *buf, size_t len);

/* The same as a whole header line, "traceparent: 00-...", into buf (len >= 69): for
 * curl_slist_append or any HTTP client's header list. Returns 68 or WEFT_EINVAL. See also
 * weft/curl_traceparent.h. */
WEFT_API int weft_traceparent_header(weft_span span, char *buf, size_t len);

/* True when calls on span are recorded: not the zero span and not in a sampled-out trace
 * (it may still have ended). Use it to skip work that only feeds attributes. */
static inline bool weft_span_is_valid(weft_span span) { return span.id != 0 && span.flags == 0; }

WEFT_API void weft_span_set_status(weft_span span, weft_status status);
/* Sets status ERROR and metadata.error = {"type": type, "message": message} (either may be NULL). */
WEFT_API void weft_span_set_error(weft_span span, const char *type, const char *message);

/* Attributes: key and value borrowed and copied. Setting a key twice keeps the last value.
 * Values longer than max_attr_bytes are cut at a character boundary and end in
 * "…[truncated N bytes]"; invalid UTF-8 and NUL bytes become U+FFFD. */
WEFT_API void weft_span_set_str(weft_span span, weft_section sec, const char *key, const char *value);
WEFT_API void weft_span_set_strn(weft_span span, weft_section sec, const char *key, const char *value,
                                 size_t len);
WEFT_API void weft_span_set_i64(weft_span span, weft_section sec, const char *key, int64_t value);
/* NaN and infinities are sent as null (JSON has no spelling for them). */
WEFT_API void weft_span_set_f64(weft_span span, weft_section sec, const char *key, double value);
WEFT_API void weft_span_set_bool(weft_span span, weft_section sec, const char *key, bool value);

/* Any nested value, packed by the caller with msgpack-c (one msgpack object of len bytes),
 * copied into the ring and transcoded to JSON on the export thread. Bytes that do not decode
 * are kept as a base64 string under the key and counted in invalid_json. */
WEFT_API void weft_span_set_msgpack(weft_span span, weft_section sec, const char *key, const void *msgpack,
                                    size_t len);
/* A JSON value given as text, validated on the export thread; invalid text is kept as a
 * string and counted in invalid_json. */
WEFT_API void weft_span_set_json(weft_span span, weft_section sec, const char *key, const char *json,
                                 size_t len);

/* Per-span ids of DESIGN.md section 4 (override the configured ones). */
WEFT_API void weft_span_set_group_id(weft_span span, const char *group_id);
WEFT_API void weft_span_set_application_variant_id(weft_span span, const char *id);
WEFT_API void weft_span_set_application_interaction_id(weft_span span, const char *id);

/* See weft_usage. */
WEFT_API void weft_span_set_usage(weft_span span, const weft_usage *usage);

/* See weft_message. */
WEFT_API void weft_span_add_message(weft_span span, weft_section sec, const weft_message *msg);

/* See weft_trace_info. Meant for the trace's root (the queries read the root's metadata); on
 * another span the keys land in that span's metadata. info and what it points to are borrowed
 * and copied into the ring (one event; long strings are cut as for the RAG setters). info NULL,
 * or tags NULL with n_tags > 0: a counted no-op. Setting a field twice keeps the last value. */
WEFT_API void weft_span_set_trace_info(weft_span root, const weft_trace_info *info);

/* Records a span event: something that happened at one instant inside the span (for example
 * "first_token"). The time is read on the calling thread with the clock of begin and end. On
 * export it is appended to metadata.events as {"name", "timestamp" (ISO 8601), "attributes"}:
 * attributes_json is a JSON object as text (NULL: {}; anything else is kept as a string and
 * counted in weft_stats.invalid_json). name NULL: a counted no-op. Strings borrowed, copied. */
WEFT_API void weft_span_add_event(weft_span span, const char *name, const char *attributes_json);

/* RAG steps: info and everything it points to are borrowed and copied into the ring. */
WEFT_API void weft_span_set_retrieval(weft_span span, const weft_retrieval_info *info);
WEFT_API void weft_span_set_generation(weft_span span, const weft_generation_info *info);

/* ---------------------------------------------------------------------------------------
 * Records, as weft_config.filter sees them (export thread, during the callback only). Strings
 * returned are borrowed until the next call on the record; JSON given is copied (invalid
 * JSON is stored as a string and counted in invalid_json).
 * -------------------------------------------------------------------------------------- */
WEFT_API const char *weft_record_name(const weft_record *r, size_t *len);
WEFT_API weft_span_type weft_record_type(const weft_record *r);
WEFT_API weft_status weft_record_status(const weft_record *r);
WEFT_API bool weft_record_in_progress(const weft_record *r); /* no end_timestamp */
WEFT_API bool weft_record_is_root(const weft_record *r);
/* JSON text of section.key (NULL when unset; arrays of appended values are not visible). */
WEFT_API const char *weft_record_get(const weft_record *r, weft_section sec, const char *key, size_t *len);
WEFT_API void weft_record_set_json(weft_record *r, weft_section sec, const char *key, const char *json,
                                   size_t len);
WEFT_API void weft_record_set_str(weft_record *r, weft_section sec, const char *key, const char *value);
WEFT_API void weft_record_remove(weft_record *r, weft_section sec, const char *key);
WEFT_API void weft_record_set_name(weft_record *r, const char *name);

/* ---------------------------------------------------------------------------------------
 * Macros: the fastest path for literal names. WEFT_SPAN_BEGIN declares `weft_span var` and
 * records the name by pointer through a static call-site record. No hidden return.
 * -------------------------------------------------------------------------------------- */
WEFT_API weft_span weft__span_begin_site(const weft_site *site);

/* Calls that record nothing return inline, in the caller's code (weft/quiet.h); the macros
 * below expand to those wrappers. */
#include "weft/quiet.h"

#define WEFT_SPAN_BEGIN(var, name, type)                                                 \
    static const weft_site var##_weft_site_ = {"" name "", (uint32_t)(sizeof(name) - 1),  \
                                               (uint32_t)(type)};                         \
    weft_span var = weft__span_begin_site(&var##_weft_site_)

#define WEFT_SPAN_END(var) weft_span_end(var)

#if defined(__GNUC__) && !defined(__cplusplus)
/* GNU C: a span that ends when `var` goes out of scope (return, break, goto included). */
static inline void weft__span_scope_end_(weft_span *s)
{
    if (!(s->flags & WEFT__SPAN_OFF))
        weft_span_end(*s);
}
#define WEFT_SPAN_SCOPED(var, name, type)                                                \
    static const weft_site var##_weft_site_ = {"" name "", (uint32_t)(sizeof(name) - 1),  \
                                               (uint32_t)(type)};                         \
    weft_span var __attribute__((cleanup(weft__span_scope_end_))) =                       \
        weft__span_begin_site(&var##_weft_site_)
#endif


#else /* WEFT_NO_TRACING */
#include "weft/notrace.h"
#endif

#ifdef __cplusplus
}
#endif

#endif /* WEFT_WEFT_H */
