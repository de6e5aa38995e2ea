/*
 * log.c — the leaf every stage may call: the runtime struct itself (the one piece of global
 * mutable state), logging through the configured callback, internal errors (STYLE.md 10) and
 * the constant strings of the public enums. Depends on nothing but base/.
 */
#include <stdio.h>
#include <string.h>

#include "runtime.h"
#include "wake.h"

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


void weft__wake_set(weft__wake_target *target)
{
    atomic_store_explicit(&weft__rt.wake, target, memory_order_release);
}

void weft__wake(void)
{
    weft__wake_target *t = atomic_load_explicit(&weft__rt.wake, memory_order_acquire);
    if (t)
        t->fn(t);
}
