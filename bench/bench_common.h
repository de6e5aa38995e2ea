/*
 * bench_common.h — timing helpers shared by the bench programs: a monotonic clock, medians,
 * and the line format "figure  value  budget  verdict" every bench prints.
 */
#ifndef WEFT_BENCH_COMMON_H
#define WEFT_BENCH_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

#endif
