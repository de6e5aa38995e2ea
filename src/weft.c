/*
 * weft.c — the library's lifecycle (weft_init, weft_flush, weft_shutdown), statistics, error
 * strings, logging, and the runtime struct itself: the one piece of global mutable state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "exporter.h"
#include "redact.h"
#include "runtime.h"
#include "thread.h"
#include "worker.h"

weft__runtime weft__rt = {.reg_lock = PTHREAD_MUTEX_INITIALIZER};

WEFT_API const char *weft_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define WEFT_STRERROR_CASE_(name, code, msg) \
    case code:                               \
        return msg;
        WEFT_ERRNO_MAP(WEFT_STRERROR_CASE_)
#undef WEFT_STRERROR_CASE_
    default:
        return "unknown error";
    }
}

WEFT_API const char *weft_span_type_name(weft_span_type type)
{
    static const char *const names[] = {
#define WEFT_TYPE_NAME_(name) #name,
        WEFT_SPAN_TYPE_MAP(WEFT_TYPE_NAME_)
#undef WEFT_TYPE_NAME_
    };
    return ((unsigned)type < WEFT_TYPE_COUNT_) ? names[type] : "CUSTOM";
}

void weft__logv(const weft__cfg *cfg, weft_log_level level, const char *fmt, va_list ap)
{
    if (level > cfg->log_level)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (cfg->log) {
        cfg->log(cfg->log_user, level, msg);
        return;
    }
    static const char *const names[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "weft: %s: %s\n", names[level <= WEFT_LOG_DEBUG ? level : 0], msg);
}

void weft__log(weft_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    weft__logv(&weft__rt.cfg, level, fmt, ap);
    va_end(ap);
}

void weft__internal_error(const char *what)
{
    weft__stat_add(internal_errors, 1);
    atomic_store_explicit(&weft__rt.hot.enabled, 0, memory_order_relaxed);
    if (atomic_exchange(&weft__rt.logged_internal, 1) == 0)
        weft__log(WEFT_LOG_ERROR, "internal error, tracing turned off: %s", what);
}

static void at_exit(void)
{
    if (weft__rt.initialized && !weft__rt.forked_child)
        weft_shutdown(5000);
}

WEFT_API int weft_init(const weft_config *cfg)
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

WEFT_API int weft_shutdown(uint32_t timeout_ms)
{
    if (!weft__rt.initialized)
        return 0;
    atomic_store(&weft__rt.hot.enabled, 0);
    int rc = weft__worker_stop(timeout_ms);
    /* Keep the producer-side counters readable after the thread states are freed. */
    uint64_t a, b, c, d;
    weft__threads_sum(&a, &b, &c, &d);
    weft__threads_fini();
    weft__redact_free(weft__rt.redact);
    weft__rt.redact = NULL;
    weft__buf_fini(&weft__rt.redact_scratch);
    weft__rt.retired_started = a;
    weft__rt.retired_noop = b;
    weft__rt.retired_sampled_out = c;
    weft__rt.retired_dropped_ring = d;
    weft__rt.initialized = 0;
    return rc;
}

WEFT_API void weft_get_stats(weft_stats *out)
{
    memset(out, 0, sizeof(*out));
#define WEFT_STAT_COPY_(f) out->f = weft__stat_get(f);
    WEFT__STATS_MAP(WEFT_STAT_COPY_)
#undef WEFT_STAT_COPY_
    uint64_t started, noop, sampled, dropped;
    if (weft__rt.initialized) {
        weft__threads_sum(&started, &noop, &sampled, &dropped);
    } else {
        started = weft__rt.retired_started;
        noop = weft__rt.retired_noop;
        sampled = weft__rt.retired_sampled_out;
        dropped = weft__rt.retired_dropped_ring;
    }
    out->started += started;
    out->noop_calls += noop;
    out->sampled_out += sampled;
    out->dropped_ring += dropped;
}
