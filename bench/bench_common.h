/*
 * bench_common.h — timing helpers shared by the bench programs: a monotonic clock, medians,
 * the line format "figure  value  budget  verdict" every bench prints, CPU clocks of the
 * threads weft starts (the export thread), and the span shapes of DESIGN.md section 8 that
 * the export-thread benches feed it (bench_consumer, bench_pass).
 */
#ifndef WEFT_BENCH_COMMON_H
#define WEFT_BENCH_COMMON_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "weft/weft.h"

static inline double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline double bench_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), bench_cmp_double);
    return (n % 2) ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* le: lower is better (budget is a ceiling); otherwise a floor. */
static inline void bench_report(const char *figure, double value, const char *unit, double budget, int le)
{
    int ok = le ? value <= budget : value >= budget;
    printf("%-58s %12.2f %-8s budget %s %10.2f  %s\n", figure, value, unit, le ? "<=" : ">=", budget,
           ok ? "ok" : "MISS");
}

/* A figure DESIGN.md sets no budget for, in the same columns. */
static inline void bench_report_nobudget(const char *figure, double value, const char *unit)
{
    printf("%-58s %12.2f %-8s (no budget)\n", figure, value, unit);
}

static inline double bench_cpu_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return -1;
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* --- CPU time of threads weft started -------------------------------------------------
 * The export thread is created inside weft_init and weft does not hand out its pthread_t, so
 * the benches find it as the kernel thread ids that appear in /proc/self/task across
 * weft_init, and read each one's CPU clock by its id: Linux's per-thread CPU clock id is
 * (~tid << 3) | 6 (CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD), the value glibc's
 * pthread_getcpuclockid builds. That clock counts only time the thread ran, so it is the
 * export thread's cost whatever else the shared VM runs (wall time is not). */

#define BENCH_MAX_TIDS 64

typedef struct bench_tids {
    int n;
    long tid[BENCH_MAX_TIDS];
} bench_tids;

/* The process's threads now. */
static inline void bench_tids_list(bench_tids *t)
{
    t->n = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && t->n < BENCH_MAX_TIDS) {
        char *end;
        long id = strtol(e->d_name, &end, 10);
        if (end != e->d_name && *end == '\0')
            t->tid[t->n++] = id;
    }
    closedir(d);
}

/* Leaves in `after` only the threads that were not in `before`. */
static inline void bench_tids_new(bench_tids *after, const bench_tids *before)
{
    int k = 0;
    for (int i = 0; i < after->n; i++) {
        int old = 0;
        for (int j = 0; j < before->n && !old; j++)
            old = before->tid[j] == after->tid[i];
        if (!old)
            after->tid[k++] = after->tid[i];
    }
    after->n = k;
}

static inline clockid_t bench_tid_cpuclock(long tid)
{
    return (clockid_t)((~(unsigned)tid << 3) | 6u);
}

/* CPU nanoseconds the threads in t have run, summed; negative when a clock cannot be read
 * (a thread exited). */
static inline double bench_tids_cpu_ns(const bench_tids *t)
{
    double sum = 0;
    for (int i = 0; i < t->n; i++) {
        double v = bench_cpu_ns(bench_tid_cpuclock(t->tid[i]));
        if (v < 0)
            return -1;
        sum += v;
    }
    return sum;
}

/* --- span shapes ------------------------------------------------------------------------
 * Traces of `per_trace` spans (a root and per_trace - 1 children; a single-span trace when 1).
 * The attributes go on every non-root span, or on the root of a single-span trace: n_attrs
 * string attributes cycling through input, metadata and output, with 16-byte values, or
 * every value `big` when it is not NULL. The first three are the keys and values bench_pass
 * and bench_export_cg have always used. */

#define BENCH_MAX_ATTRS 20

static const char *const bench_attr_keys[BENCH_MAX_ATTRS] = {
    "model", "user", "answer", "k03", "k04", "k05", "k06", "k07", "k08", "k09",
    "k10",   "k11",  "k12",    "k13", "k14", "k15", "k16", "k17", "k18", "k19"};
static const char *const bench_attr_values[BENCH_MAX_ATTRS] = {
    "gpt-4o-mini-2024", "u-1234567890abcd", "sixteen bytes ok", "value-03-abcdefg", "value-04-abcdefg",
    "value-05-abcdefg", "value-06-abcdefg", "value-07-abcdefg", "value-08-abcdefg", "value-09-abcdefg",
    "value-10-abcdefg", "value-11-abcdefg", "value-12-abcdefg", "value-13-abcdefg", "value-14-abcdefg",
    "value-15-abcdefg", "value-16-abcdefg", "value-17-abcdefg", "value-18-abcdefg", "value-19-abcdefg"};

static inline void bench_set_attrs(weft_span s, int n_attrs, const char *big)
{
    static const weft_section secs[3] = {WEFT_INPUT, WEFT_METADATA, WEFT_OUTPUT};
    for (int a = 0; a < n_attrs && a < BENCH_MAX_ATTRS; a++)
        weft_span_set_str(s, secs[a % 3], bench_attr_keys[a], big ? big : bench_attr_values[a]);
}

/* Makes `spans` spans (rounded down to whole traces) on the calling thread. */
static inline void bench_fill(uint64_t spans, int per_trace, int n_attrs, const char *big)
{
    for (uint64_t n = 0; n + (uint64_t)per_trace <= spans; n += (uint64_t)per_trace) {
        WEFT_SPAN_BEGIN(root, "request", WEFT_TYPE_TRACER);
        if (per_trace == 1)
            bench_set_attrs(root, n_attrs, big);
        for (int i = 0; i < per_trace - 1; i++) {
            WEFT_SPAN_BEGIN(s, "generate", WEFT_TYPE_COMPLETION);
            bench_set_attrs(s, n_attrs, big);
            WEFT_SPAN_END(s);
        }
        WEFT_SPAN_END(root);
    }
}

#endif
