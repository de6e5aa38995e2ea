/*
 * runtime.h — the one runtime struct (weft__rt): resolved configuration, the hot read-only
 * flags the producers test, the thread registry, statistics and the export thread's handle.
 * It is the only global mutable state in weft.
 *
 * Threading: `hot` is written only by weft_init/weft_shutdown/fork handlers and read by every
 * producer; stats are relaxed atomics (any thread reads, the export thread or an exporter
 * writes); the registry is guarded by reg_lock; everything under `worker` belongs to the export
 * thread.
 */
#ifndef WEFT_RUNTIME_H
#define WEFT_RUNTIME_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "weft/weft.h"

struct weft__thread;
struct weft__worker;

/* Slots of exporter_kept: at least as many as the registry lists (checked there). */
#define WEFT__KEPT_SLOTS 16

/* Statistic fields of weft_stats, in one list, so the atomic mirror cannot drift from it. */
#define WEFT__STATS_MAP(XX)                                                                  \
    XX(started) XX(ended) XX(exported) XX(dropped_ring) XX(dropped_export) XX(retried)      \
    XX(spooled) XX(replayed) XX(dropped_open) XX(dropped_queue) XX(rejected) XX(sampled_out) \
    XX(noop_calls) XX(truncated_attrs) XX(repaired_utf8) XX(invalid_json) XX(inprogress_sent) \
    XX(batches) XX(requests) XX(threads) XX(open_spans) XX(queued) XX(internal_errors)          \
    XX(dropped_no_slot) XX(filtered) XX(redacted) XX(spool_written) XX(spool_errors)          \
    XX(spool_corrupt_records) XX(spool_bad_files) XX(dropped_ring_spans) XX(dropped_depth) XX(incomplete_traces) XX(bad_traceparent) \
    XX(ring_grown)

typedef struct weft__stats_atomic {
#define WEFT__STAT_FIELD_(f) _Atomic uint64_t f;
    WEFT__STATS_MAP(WEFT__STAT_FIELD_)
#undef WEFT__STAT_FIELD_
} weft__stats_atomic;

typedef struct weft__runtime {
    /* Read by every producer call; written only while no producer can be inside weft. On a
     * cache line of its own: the export thread writes the statistics on every span, and a
     * producer reading a field beside them would pay a cache miss per call. */
    _Alignas(64) struct {
        _Atomic int enabled;     /* 1: tracing on */
        int use_tsc;             /* clock: rdtsc (1) or clock_gettime (0) */
        uint64_t sample_below;   /* keep a trace when its random 64-bit id < this (UINT64_MAX: all) */
        uint64_t max_attr_bytes;
        uint64_t ring_bytes;
        uint64_t ring_max_bytes; /* growth ceiling of a ring (ring.h) */
    } hot;
    uint32_t gen; /* incremented by every weft_init (stale TLS detection); read by producers,
                     so it sits on hot's line, before the statistics' */
    _Alignas(64) weft__stats_atomic stats;
    _Alignas(64) weft__cfg cfg;
    int initialized;             /* weft_init succeeded and weft_shutdown has not run */
    int forked_child;            /* this process is a fork() child of a traced process */
    int atexit_registered;       /* weft_shutdown is registered with atexit (once a process) */
    uint64_t salt_hi;            /* random per process: high half of trace ids and UUIDs */
    _Atomic int logged_internal; /* one log line for internal errors */

    /* Thread registry (thread.c). */
    pthread_mutex_t reg_lock;
    struct weft__thread *_Atomic *slots; /* cfg.max_threads entries; NULL: free. Written under
                                            reg_lock, read by the export thread without it */
    uint32_t n_slots;
    _Atomic uint32_t slots_hi;   /* 1 + the highest slot used since init: how far the export
                                    thread looks */
    struct weft__thread *free_threads; /* drained, exited thread states ready for reuse */
    uint32_t n_free_rings;       /* how many of them still hold a ring buffer */
    _Atomic bool ready_low;      /* a registering thread took a ready state or found none: the
                                    export thread makes more at its next wake (thread.c) */
    /* Counters of recycled thread states, folded in when their thread exited. */
    uint64_t retired_started, retired_noop, retired_sampled_out, retired_dropped_ring;
    uint64_t retired_dropped_ring_spans;

    struct weft__worker *worker; /* the export thread (worker.c) */
    struct weft__wake_target *_Atomic wake; /* what weft__wake calls (wake.h); NULL: none */
    struct weft__redact *redact; /* compiled redaction patterns, NULL: off (export thread) */
    weft__buf redact_scratch;    /* the redacting rewriter's output (export thread) */
    weft__buf record_view;       /* weft_record_get's JSON of a typed value (export thread) */
    /* What an exporter keeps across weft_shutdown, one slot per exporter of the registry
     * (registry.c gives the index): the memory exporter keeps its records there so tests can
     * read them after shutdown. Owned by that exporter. */
    void *exporter_kept[WEFT__KEPT_SLOTS];
} weft__runtime;

extern weft__runtime weft__rt;

#define weft__stat_add(field, n) \
    atomic_fetch_add_explicit(&weft__rt.stats.field, (uint64_t)(n), memory_order_relaxed)
#define weft__stat_sub(field, n) \
    atomic_fetch_sub_explicit(&weft__rt.stats.field, (uint64_t)(n), memory_order_relaxed)
#define weft__stat_get(field) atomic_load_explicit(&weft__rt.stats.field, memory_order_relaxed)

/* Logging through the configured callback (printf format). Never pass an API key. */
void weft__log(weft_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same through the callback and level of a configuration being loaded. */
void weft__logv(const weft__cfg *cfg, weft_log_level level, const char *fmt, va_list ap);
/* An internal inconsistency: counted, logged once, tracing turned off (STYLE.md 10). */
void weft__internal_error(const char *what);


#endif
