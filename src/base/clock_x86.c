/*
 * clock_x86.c — x86-64 tick source: rdtsc when CPUID says the TSC is invariant (runs at a
 * constant rate in every P/C-state, leaf 0x80000007 EDX bit 8), else CLOCK_MONOTONIC.
 * The rate is measured against CLOCK_MONOTONIC: a 1 ms first window at init, then refined
 * over the whole time since init by the export thread, so the error shrinks as weft runs.
 */
#include <cpuid.h>

#include "clock.h"

static int tsc_invariant(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(0x80000000u, &a, &b, &c, &d) || a < 0x80000007u)
        return 0;
    __get_cpuid(0x80000007u, &a, &b, &c, &d);
    return (d >> 8) & 1;
}

static uint64_t unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void weft__clock_init(weft__clock *c)
{
    c->use_tsc = tsc_invariant();
    c->mono0_ns = weft__clock_mono_ns();
    c->unix0_ns = unix_ns();
    if (!c->use_tsc) {
        c->t0 = c->mono0_ns;
        c->ns_per_tick = 1.0;
        return;
    }
    c->t0 = __rdtsc();
    uint64_t m1, t1;
    do {
        m1 = weft__clock_mono_ns();
        t1 = __rdtsc();
    } while (m1 - c->mono0_ns < 1000000u);
    c->ns_per_tick = (double)(m1 - c->mono0_ns) / (double)(t1 - c->t0);
}

void weft__clock_refine(weft__clock *c)
{
    if (!c->use_tsc)
        return;
    uint64_t m = weft__clock_mono_ns();
    uint64_t t = __rdtsc();
    if (m - c->mono0_ns < 50000000u || t <= c->t0)
        return; /* under 50 ms the first estimate is as good as a new one */
    c->ns_per_tick = (double)(m - c->mono0_ns) / (double)(t - c->t0);
}
