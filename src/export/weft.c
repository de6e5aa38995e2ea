/*
 * weft.c — the library's lifecycle (weft_init, weft_flush, weft_shutdown) and statistics. It
 * sits above every stage: it loads the configuration, registers the thread table, starts the
 * export thread and, at shutdown, gathers what the stages counted.
 */
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
    weft__buf_fini(&weft__rt.record_view);
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
