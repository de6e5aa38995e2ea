/*
 * bench_hotpath_cpp.cpp — the C++ layer's cost on spans that record nothing (DESIGN.md
 * section 8: any call while tracing is disabled or the trace is sampled out, C and C++,
 * <= 2 ns): weft::Span's methods test the quiet mark inline (weft/quiet.h), so a setter on such
 * a span makes no call into the library. Also the C++ begin+end and +1 attribute of a kept
 * span next to the C figures of bench_hotpath.
 *
 * Method: median over 15 runs of 200,000 iterations. Run: ./build/bench/bench_hotpath_cpp
 */
#include <cstdint>
#include <string_view>

#include <unistd.h>

#include "bench_common.h"
#include "weft/weft.hpp"

#define N 200000
#define RUNS 15

/* The span is reloaded before each call, as in a program that got it from elsewhere: without
 * this the compiler folds the ten tests into one (or hoists it out of the loop), which is
 * what real code gets for consecutive calls but would not measure one call. */
#define RELOAD(s) __asm__ volatile("" : : "r"(&(s)) : "memory")

/* Setters of every kind on one span: 10 calls. */
static void setters(weft::Span &s, int i)
{
    weft_usage u{};
    u.model = "m";
    weft_message m{};
    m.role = "user";
    m.content = "hi";
    RELOAD(s);
    s.set(WEFT_INPUT, "model", "gpt-4o-mini");
    RELOAD(s);
    s.set(WEFT_METADATA, "n", i);
    RELOAD(s);
    s.set(WEFT_METADATA, "size", (size_t)i);
    RELOAD(s);
    s.set(WEFT_METADATA, "ratio", 0.5);
    RELOAD(s);
    s.set(WEFT_METADATA, "ok", true);
    RELOAD(s);
    s.set(WEFT_INPUT, "q", std::string_view("question"));
    RELOAD(s);
    s.usage(u);
    RELOAD(s);
    s.status(WEFT_STATUS_SUCCESS);
    RELOAD(s);
    s.group_id("g");
    RELOAD(s);
    s.message(WEFT_INPUT, m);
}

#define SETTER_CALLS 10

static double quiet_setters(weft::Span &s)
{
    double v[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = bench_now_ns();
        for (int i = 0; i < N; i++)
            setters(s, i);
        v[r] = (bench_now_ns() - t0) / N / SETTER_CALLS;
    }
    return bench_median(v, RUNS);
}

/* begin (constructor), one attribute, end (destructor): three calls. */
static double scoped(int attrs)
{
    double v[RUNS];
    for (int r = 0; r < RUNS; r++) {
        weft_flush(0);
        double t0 = bench_now_ns();
        for (int i = 0; i < N; i++) {
            weft::Span s("generate", WEFT_TYPE_COMPLETION);
            if (attrs)
                s.set(WEFT_INPUT, "model", "gpt-4o-mini");
        }
        v[r] = (bench_now_ns() - t0) / N;
    }
    return bench_median(v, RUNS);
}

int main()
{
    printf("weft %s hot path, C++ layer, %ld CPUs\n", WEFT_VERSION_STRING, sysconf(_SC_NPROCESSORS_ONLN));
    weft_config c{};
    c.exporters = "none";
    c.ring_bytes = 64u << 20;
    c.no_atexit = true;
    if (weft_init(&c) != 0)
        return 1;
    scoped(1);
    double bare = scoped(0), one = scoped(1);
    weft_shutdown(10000);
    printf("%-58s %12.2f ns/span (C: bench_hotpath)\n", "C++ weft::Span begin+end", bare);
    printf("%-58s %12.2f ns/span\n", "C++ weft::Span begin + 1 string attribute + end", one);

    weft_config cs{};
    cs.exporters = "none";
    cs.sample_ratio = 1e-18;
    cs.no_atexit = true;
    weft_init(&cs);
    {
        weft::Span root("request", WEFT_TYPE_TRACER);
        double so = quiet_setters(root);
        bench_report("C++ setter on a sampled-out span (10 kinds)", so, "ns/call", 2, 1);
    }
    double so_span = scoped(1) / 3;
    bench_report("C++ sampled-out root each time (begin, set, end)", so_span, "ns/call", 2, 1);
    weft_shutdown(10000);

    weft_config cd{};
    cd.disabled = true;
    cd.no_atexit = true;
    weft_init(&cd);
    {
        weft::Span off("off", WEFT_TYPE_CUSTOM);
        double d = quiet_setters(off);
        bench_report("C++ setter while tracing is disabled (10 kinds)", d, "ns/call", 2, 1);
    }
    double d_span = scoped(1) / 3;
    bench_report("C++ span while disabled (begin, set, end)", d_span, "ns/call", 2, 1);
    weft_shutdown(0);
    return 0;
}
