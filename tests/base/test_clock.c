/*
 * test_clock.c — the tick source and its conversion to wall-clock time (src/base/clock_x86.c
 * or clock_posix.c, whichever the build chose; clock.h): ticks read now map to the wall clock
 * read around them, later ticks never map earlier, a corrupt tick value is clamped instead of
 * overflowing, and the calibration is left alone inside its first 50 ms.
 */
#include <criterion/criterion.h>
#include <time.h>

#include "clock.h"
#include "runtime.h"

static uint64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

Test(clock, maps_ticks_read_now_to_the_wall_clock_around_them)
{
    weft__clock c;
    weft__clock_init(&c);
    weft__rt.hot.use_tsc = c.use_tsc;
    cr_assert_gt(c.ns_per_tick, 0.0);
    if (!c.use_tsc) {
        cr_assert_eq(c.ns_per_tick, 1.0, "monotonic ticks are nanoseconds");
        cr_assert_eq(c.t0, c.mono0_ns);
    }
    for (int i = 0; i < 100; i++) {
        uint64_t before = realtime_ns();
        uint64_t t = weft__clock_ticks();
        uint64_t after = realtime_ns();
        uint64_t u = weft__clock_to_unix_ns(&c, t);
        /* The calibration's first window is 1 ms: allow it a 0.1 % rate error over the few
         * milliseconds since init, and the anchor's two clock reads. */
        uint64_t slack = 5000000u;
        cr_assert_geq(u + slack, before, "%llu ns before the wall clock", (unsigned long long)(before - u));
        cr_assert_leq(u, after + slack, "%llu ns after the wall clock", (unsigned long long)(u - after));
    }
}

Test(clock, never_maps_a_later_tick_to_an_earlier_time)
{
    weft__clock c;
    weft__clock_init(&c);
    weft__rt.hot.use_tsc = c.use_tsc;
    uint64_t prev = 0;
    for (int i = 0; i < 100000; i++) {
        uint64_t u = weft__clock_to_unix_ns(&c, weft__clock_ticks());
        cr_assert_geq(u, prev, "step %d went back", i);
        prev = u;
    }
}

Test(clock, clamps_a_corrupt_tick_value_instead_of_overflowing)
{
    weft__clock c = {.use_tsc = 1, .t0 = 1000000000000u, .unix0_ns = 5000, .ns_per_tick = 1.0};
    cr_assert_eq(weft__clock_to_unix_ns(&c, 0), 0, "long before the epoch: 0");
    cr_assert_eq(weft__clock_to_unix_ns(&c, c.t0 - 5000), 0);
    cr_assert_eq(weft__clock_to_unix_ns(&c, c.t0 - 4999), 1);
    cr_assert_eq(weft__clock_to_unix_ns(&c, c.t0 + 7), 5007);
    cr_assert_eq(weft__clock_to_unix_ns(&c, c.t0 + (UINT64_C(1) << 63) - 1), 5000 + UINT64_C(9000000000000000000),
                 "far in the future: clamped");
    c.ns_per_tick = 0.5;
    cr_assert_eq(weft__clock_to_unix_ns(&c, c.t0 + 1000), 5500);
}

Test(clock, refine_leaves_the_first_estimate_alone_within_50_ms)
{
    weft__clock c;
    weft__clock_init(&c);
    double rate = c.ns_per_tick;
    c.mono0_ns = weft__clock_mono_ns(); /* as if init had just run */
    weft__clock_refine(&c);
    cr_assert_eq(c.ns_per_tick, rate);
    weft__clock m = {.use_tsc = 0, .t0 = 1, .unix0_ns = 2, .mono0_ns = 0, .ns_per_tick = 1.0};
    weft__clock_refine(&m);
    cr_assert_eq(m.ns_per_tick, 1.0, "the monotonic source needs no calibration");
    cr_assert_eq(m.t0, 1);
}
