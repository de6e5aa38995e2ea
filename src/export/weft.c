/*
 * weft.c — the library's lifecycle (weft_init, weft_flush, weft_shutdown) and statistics. It
 * sits above every stage: it loads the configuration, registers the thread table, starts the
 * export thread and, at shutdown, gathers what the stages counted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "redact.h"
#include "runtime.h"
#include "thread.h"
#include "worker.h"

/* The structs as weft 0.1 laid them out: what binaries built before weft_init_sized and
 * weft_get_stats_sized existed pass to weft_init and weft_get_stats. Fixed forever. */
#define CONFIG_SIZE_0_1 (offsetof(weft_config, filter_user) + sizeof(void *))
#define STATS_SIZE_0_1 (offsetof(weft_stats, spool_bad_files) + sizeof(uint64_t))
/* The smallest struct that means anything: up to the first field. */
#define CONFIG_SIZE_MIN (offsetof(weft_config, exporters) + sizeof(const char *))

static void at_exit(void)
{
    if (weft__rt.initialized && !weft__rt.forked_child)
        weft_shutdown(5000);
}

static int init(const weft_config *cfg);

/* Logs through the log callback of a caller's struct before any configuration is loaded. */
static void early_log(const weft_config *cfg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void early_log(const weft_config *cfg, const char *fmt, ...)
{
    weft__cfg c;
    memset(&c, 0, sizeof c);
    c.log = cfg->log;
    c.log_user = cfg->log_user;
    c.log_level = WEFT_LOG_WARN;
    va_list ap;
    va_start(ap, fmt);
    weft__logv(&c, WEFT_LOG_ERROR, fmt, ap);
    va_end(ap);
}

WEFT_API int weft_init_sized(const weft_config *cfg, size_t cfg_size)
{
    if (!cfg)
        return init(NULL);
    if (cfg_size < CONFIG_SIZE_MIN)
        return WEFT_EINVAL;
    /* Only the caller's bytes are read; the fields after them keep their zero defaults. */
    weft_config full;
    memset(&full, 0, sizeof full);
    memcpy(&full, cfg, cfg_size < sizeof full ? cfg_size : sizeof full);
    for (size_t k = sizeof full; k < cfg_size; k++) {
        if (((const unsigned char *)cfg)[k] != 0) {
            early_log(&full, "weft_config sets fields this libweft %s does not know (the program "
                             "was built against a newer weft.h); refusing to guess",
                      WEFT_VERSION_STRING);
            return WEFT_ECONFIG;
        }
    }
    return init(&full);
}

WEFT_API int(weft_init)(const weft_config *cfg) { return weft_init_sized(cfg, CONFIG_SIZE_0_1); }

static int init(const weft_config *cfg)
{
    if (weft__rt.initialized)
        return WEFT_EALREADY;
    weft__cfg_free(&weft__rt.cfg);
    memset(&weft__rt.stats, 0, sizeof(weft__rt.stats));
    int rc = weft__cfg_load(&weft__rt.cfg, cfg);
    if (rc < 0)
        return rc;
    atomic_store(&weft__rt.logged_internal, 0);
    weft__rt.forked_child = 0;
    weft__rt.gen++;
    if (weft__rt.cfg.disabled) {
        atomic_store(&weft__rt.hot.enabled, 0);
        return 0;
    }
    weft__rt.hot.ring_bytes = weft__rt.cfg.ring_bytes;
    weft__rt.hot.ring_max_bytes = weft__rt.cfg.ring_max_bytes;
    weft__rt.hot.max_attr_bytes = weft__rt.cfg.max_attr_bytes;
    double r = weft__rt.cfg.sample_ratio;
    weft__rt.hot.sample_below = r >= 1.0 ? UINT64_MAX : (uint64_t)(r * 18446744073709551616.0);
    if (getrandom(&weft__rt.salt_hi, sizeof weft__rt.salt_hi, 0) != sizeof weft__rt.salt_hi)
        weft__rt.salt_hi = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15u ^ (uint64_t)getpid();
    weft__redact_free(weft__rt.redact);
    weft__rt.redact = NULL;
    if (weft__rt.cfg.n_redact_keys) {
        weft__rt.redact = weft__redact_new((const char *const *)weft__rt.cfg.redact_keys,
                                           weft__rt.cfg.n_redact_keys);
        if (!weft__rt.redact)
            return WEFT_ENOMEM;
    }
    rc = weft__threads_init();
    if (rc < 0)
        return rc;
    rc = weft__worker_start();
    if (rc < 0) {
        weft__threads_fini();
        return rc;
    }
    weft__rt.initialized = 1;
    atomic_store(&weft__rt.hot.enabled, 1);
    if (weft__cfg_has_exporter(&weft__rt.cfg, "none"))
        weft__log(WEFT_LOG_INFO, "exporter none: spans are assembled and counted, sent nowhere");
    if (!weft__rt.cfg.no_atexit && !weft__rt.atexit_registered) {
        atexit(at_exit);
        weft__rt.atexit_registered = 1;
    }
    return 0;
}

WEFT_API int weft_flush(uint32_t timeout_ms)
{
    if (!weft__rt.initialized)
        return weft__rt.cfg.disabled ? 0 : WEFT_ENOTINIT;
    if (weft__rt.forked_child)
        return WEFT_EDISABLED;
    return weft__worker_flush(timeout_ms);
}

/* Completed spans of this run that were not delivered, wherever they were lost. */
static uint64_t spans_lost(const weft__producer_counts *p)
{
    return weft__stat_get(dropped_export) + weft__stat_get(dropped_queue) +
           weft__stat_get(dropped_open) + p->dropped_ring_spans;
}

WEFT_API int weft_shutdown(uint32_t timeout_ms)
{
    if (!weft__rt.initialized)
        return 0;
    atomic_store(&weft__rt.hot.enabled, 0);
    int rc = weft__worker_stop(timeout_ms);
    /* Keep the producer-side counters readable after the thread states are freed. */
    weft__producer_counts p;
    weft__threads_sum(&p);
    weft__threads_fini();
    weft__redact_free(weft__rt.redact);
    weft__rt.redact = NULL;
    weft__buf_fini(&weft__rt.redact_scratch);
    weft__buf_fini(&weft__rt.record_view);
    weft__rt.retired_started = p.started;
    weft__rt.retired_noop = p.noop;
    weft__rt.retired_sampled_out = p.sampled_out;
    weft__rt.retired_dropped_ring = p.dropped_ring;
    weft__rt.retired_dropped_ring_spans = p.dropped_ring_spans;
    weft__rt.initialized = 0;
    /* Any completed span of the run that was not delivered, not only those lost here. */
    if (rc == 0 && spans_lost(&p) > 0)
        rc = WEFT_EEXPORT;
    return rc;
}

WEFT_API void weft_get_stats_sized(weft_stats *out, size_t out_size)
{
    weft_stats full;
    memset(&full, 0, sizeof full);
#define WEFT_STAT_COPY_(f) full.f = weft__stat_get(f);
    WEFT__STATS_MAP(WEFT_STAT_COPY_)
#undef WEFT_STAT_COPY_
    weft__producer_counts p;
    if (weft__rt.initialized) {
        weft__threads_sum(&p);
    } else {
        p = (weft__producer_counts){weft__rt.retired_started, weft__rt.retired_noop,
                                    weft__rt.retired_sampled_out, weft__rt.retired_dropped_ring,
                                    weft__rt.retired_dropped_ring_spans};
    }
    full.started += p.started;
    full.noop_calls += p.noop;
    full.sampled_out += p.sampled_out;
    full.dropped_ring += p.dropped_ring;
    full.dropped_ring_spans += p.dropped_ring_spans;
    /* Exactly the caller's bytes: a shorter (older) struct gets its prefix, a longer (newer)
     * one zeros for the fields this library does not have. */
    if (!out)
        return;
    size_t n = out_size < sizeof full ? out_size : sizeof full;
    memcpy(out, &full, n);
    if (out_size > n)
        memset((unsigned char *)out + n, 0, out_size - n);
}

WEFT_API void(weft_get_stats)(weft_stats *out) { weft_get_stats_sized(out, STATS_SIZE_0_1); }
