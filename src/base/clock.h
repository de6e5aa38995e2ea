/*
 * clock.h — timestamps for the hot path and their conversion to wall-clock time.
 *
 * The producer reads raw ticks (weft__clock_ticks: rdtsc where the TSC is invariant, about
 * 10-13 ns on the project's VMs, else CLOCK_MONOTONIC in ns, about 26-32 ns); the export thread
 * turns ticks into Unix nanoseconds with a calibration it refines as it runs. The build picks
 * clock_x86.c or clock_posix.c (CMakeLists.txt), not #ifdefs through the core.
 */
#ifndef WEFT_CLOCK_H
#define WEFT_CLOCK_H

#include <stdint.h>
#include <time.h>

#include "runtime.h"

#if defined(WEFT_CLOCK_X86)
#include <x86intrin.h>
static inline uint64_t weft__clock_raw(void) { return __rdtsc(); }
#else
static inline uint64_t weft__clock_raw(void) { return 0; }
#endif

static inline uint64_t weft__clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Hot path: the raw tick source chosen at weft_init (weft__rt.hot.use_tsc). */
static inline uint64_t weft__clock_ticks(void)
{
    if (__builtin_expect(weft__rt.hot.use_tsc, 1))
        return weft__clock_raw();
    return weft__clock_mono_ns();
}

/* Calibration, owned by the export thread after weft_init. */
typedef struct weft__clock {
    int use_tsc;
    uint64_t t0;          /* ticks at the anchor */
    uint64_t unix0_ns;    /* wall clock at the anchor */
    uint64_t mono0_ns;    /* monotonic clock at the anchor */
    double ns_per_tick;   /* 1.0 for the monotonic source */
} weft__clock;

/* Decides the tick source (invariant TSC or not) and anchors the calibration; takes about a
 * millisecond when the TSC is used, to get a first estimate of its rate. */
void weft__clock_init(weft__clock *c);
/* Refines the tick rate against CLOCK_MONOTONIC; call now and then on the export thread. */
void weft__clock_refine(weft__clock *c);
/* Unix ns for a tick value. */
static inline uint64_t weft__clock_to_unix_ns(const weft__clock *c, uint64_t ticks)
{
    double d = (double)(int64_t)(ticks - c->t0) * c->ns_per_tick;
    /* Clamped: a tick value from a corrupt event must not overflow the conversion (ticks
     * from the clock are centuries inside these bounds). */
    if (d <= -(double)c->unix0_ns)
        return 0;
    if (d >= 9.0e18)
        d = 9.0e18;
    int64_t off = (int64_t)d;
    return c->unix0_ns + (uint64_t)off;
}

#endif
