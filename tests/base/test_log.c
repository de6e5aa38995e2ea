/*
 * test_log.c — the leaf every stage calls (src/base/log.c): log lines filtered by level and
 * given to the callback, or written to stderr as "weft: <level>: <message>"; long messages
 * cut, not overflowed; internal errors counted, logged once and turning tracing off; the
 * names of span types; the wake call reaching the registered target only.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log_capture.h"
#include "runtime.h"
#include "wake.h"

static weft__cfg cfg_with(weft_log_fn fn, weft_log_level level)
{
    weft__cfg c;
    memset(&c, 0, sizeof c);
    c.log = fn;
    c.log_level = level;
    return c;
}

static void logc(const weft__cfg *c, weft_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logc(const weft__cfg *c, weft_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    weft__logv(c, level, fmt, ap);
    va_end(ap);
}

static int levels[8], calls;
static char last[2048];
static void *last_user;
static void keep(void *user, weft_log_level level, const char *msg)
{
    last_user = user;
    levels[calls++ & 7] = level;
    snprintf(last, sizeof last, "%s", msg);
}

Test(log, gives_the_callback_what_is_at_or_below_the_level)
{
    weft__cfg c = cfg_with(keep, WEFT_LOG_WARN);
    int token;
    c.log_user = &token;
    logc(&c, WEFT_LOG_ERROR, "error %d", 1);
    logc(&c, WEFT_LOG_WARN, "warn %s", "two");
    logc(&c, WEFT_LOG_INFO, "info");
    logc(&c, WEFT_LOG_DEBUG, "debug");
    cr_assert_eq(calls, 2);
    cr_assert_eq(levels[0], WEFT_LOG_ERROR);
    cr_assert_eq(levels[1], WEFT_LOG_WARN);
    cr_assert_str_eq(last, "warn two", "the message is formatted");
    cr_assert_eq(last_user, &token, "log_user is passed through");
    c.log_level = WEFT_LOG_DEBUG;
    logc(&c, WEFT_LOG_DEBUG, "now %s", "shown");
    cr_assert_eq(calls, 3);
    cr_assert_str_eq(last, "now shown");
}

Test(log, cuts_a_long_message_instead_of_overflowing)
{
    weft__cfg c = cfg_with(keep, WEFT_LOG_DEBUG);
    char big[3000];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = 0;
    logc(&c, WEFT_LOG_ERROR, "%s", big);
    cr_assert_eq(calls, 1);
    cr_assert_eq(strlen(last), 1023);
    cr_assert_eq(strspn(last, "m"), 1023);
}

Test(log, without_a_callback_writes_prefixed_lines_to_stderr)
{
    char path[] = "/tmp/weft-log-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    cr_assert_geq(saved, 0);
    cr_assert_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
    weft__cfg c = cfg_with(NULL, WEFT_LOG_INFO);
    logc(&c, WEFT_LOG_ERROR, "disk %s", "full");
    logc(&c, WEFT_LOG_WARN, "slow");
    logc(&c, WEFT_LOG_INFO, "started");
    logc(&c, WEFT_LOG_DEBUG, "hidden");
    fflush(stderr);
    cr_assert_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
    close(saved);
    char text[256] = {0};
    cr_assert_geq(pread(fd, text, sizeof text - 1, 0), 0);
    close(fd);
    unlink(path);
    cr_assert_str_eq(text, "weft: error: disk full\nweft: warning: slow\nweft: info: started\n");
}

Test(log, counts_an_internal_error_logs_it_once_and_turns_tracing_off)
{
    weft__rt.cfg.log = wt_log_capture;
    weft__rt.cfg.log_level = WEFT_LOG_WARN;
    wt_log_reset();
    atomic_store(&weft__rt.hot.enabled, 1);
    weft__internal_error("first thing");
    weft__internal_error("second thing");
    weft__internal_error("third thing");
    cr_assert_eq(weft__stat_get(internal_errors), 3);
    cr_assert_eq(atomic_load(&weft__rt.hot.enabled), 0);
    cr_assert_eq(wt_log_count("internal error, tracing turned off: first thing"), 1);
    cr_assert_eq(wt_log_count("internal error"), 1, "one log line, not one per error");
    weft__rt.cfg.log = NULL;
}

Test(log, names_every_span_type_and_calls_out_of_range_custom)
{
    cr_assert_str_eq(weft_span_type_name(WEFT_TYPE_TEXT_INPUT), "TEXT_INPUT");
    cr_assert_str_eq(weft_span_type_name(WEFT_TYPE_COMPLETION), "COMPLETION");
    cr_assert_str_eq(weft_span_type_name(WEFT_TYPE_STANDALONE), "STANDALONE");
    for (int t = 0; t < WEFT_TYPE_COUNT_; t++) {
        const char *n = weft_span_type_name((weft_span_type)t);
        cr_assert_gt(strlen(n), 0);
        cr_assert_eq(strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_"), strlen(n), "%s", n);
        for (int u = 0; u < t; u++)
            cr_assert_str_neq(n, weft_span_type_name((weft_span_type)u), "two types named %s", n);
    }
    cr_assert_str_eq(weft_span_type_name(WEFT_TYPE_COUNT_), "CUSTOM");
    cr_assert_str_eq(weft_span_type_name((weft_span_type)-1), "CUSTOM");
}

Test(log, strerror_gives_success_and_an_unknown_code_its_own_text)
{
    cr_assert_str_eq(weft_strerror(0), "success");
    cr_assert_str_eq(weft_strerror(-12345), "unknown error");
    cr_assert_str_neq(weft_strerror(WEFT_ECONFIG), "unknown error");
}

static int hits;
static void hit(weft__wake_target *t)
{
    (void)t;
    hits++;
}

Test(log, wake_reaches_the_registered_target_only_until_it_is_cleared)
{
    weft__wake(); /* nothing registered: a no-op */
    weft__wake_target t = {hit};
    weft__wake_set(&t);
    weft__wake();
    weft__wake();
    cr_assert_eq(hits, 2);
    weft__wake_set(NULL);
    weft__wake();
    cr_assert_eq(hits, 2);
}
