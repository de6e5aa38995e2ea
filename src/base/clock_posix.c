/*
 * clock_posix.c — tick source for machines without rdtsc: CLOCK_MONOTONIC nanoseconds, so a
 * tick is a nanosecond and no calibration is needed.
 */
#include "clock.h"

void weft__clock_init(weft__clock *c)
{
    struct timespec ts;
    c->use_tsc = 0;
    c->mono0_ns = weft__clock_mono_ns();
    clock_gettime(CLOCK_REALTIME, &ts);
    c->unix0_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    c->t0 = c->mono0_ns;
    c->ns_per_tick = 1.0;
}

void weft__clock_refine(weft__clock *c) { (void)c; }
