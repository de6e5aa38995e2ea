/*
 * bench_pass.c — the export thread's cost per span against the size of what it finds in the
 * rings when it wakes (DESIGN.md section 8: "cost per span flat in the size of a drain pass").
 *
 * Method: for each ring size, one producer thread fills the ring to 40 % (below the high-water
 * mark, with no timer, so the export thread does not look until asked), then calls
 * weft_flush(0) and waits. While it waits only the export thread runs, so the process's CPU
 * time over the flush is the export thread's cost of draining, assembling and encoding that
 * backlog (SGP item JSON, exporter discard). Spans come in 10-span traces, each non-root span
 * with three 16-byte string attributes (one of the section 8 shapes). Repeated until 2,000,000
 * spans went through for each size; median of the repetitions' ns per span. The ratio of the
 * largest backlog's cost to the smallest's is the figure: 1.0 is flat. A run that dropped any
 * event reports nothing.
 *
 * Run: ./build/bench/bench_pass
 */
#include <stdint.h>
#include <string.h>

#include "bench_common.h"
#include "weft/weft.h"

#define TOTAL 2000000
#define MAX_REPS 200
#define SPAN_BYTES 290 /* ring bytes of one span of this shape, on average (begin, three attributes, end) */

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Median export-thread ns per span with backlogs of `spans` spans in a ring of ring_bytes;
 * negative when events were dropped. */
static double measure(uint64_t ring_bytes, uint64_t spans, int *reps_out)
{
    weft_config c = {.exporters = "discard", .no_atexit = true, .ring_bytes = ring_bytes,
                     .flush_interval_ms = 3600000, .max_open_spans = 2000000};
    if (weft_init(&c) != 0)
        return -1;
    double v[MAX_REPS];
    int reps = 0;
    for (uint64_t done = 0; done < TOTAL && reps < MAX_REPS; done += spans) {
        bench_fill(spans, 10, 3, NULL); /* the shape of bench_common.h */
        double t0 = cpu_ns();
        weft_flush(0);
        v[reps++] = (cpu_ns() - t0) / (double)spans;
    }
    weft_stats st;
    weft_get_stats(&st);
    weft_shutdown(10000);
    *reps_out = reps;
    if (st.dropped_ring || st.dropped_open || st.ended != st.started)
        return -1;
    return bench_median(v, reps);
}

int main(void)
{
    static const uint64_t rings[] = {1u << 20, 16u << 20, 64u << 20, 512u << 20};
    double first = 0, worst = 0;
    printf("export thread per span against the backlog one wake-up finds (SGP item, discard)\n");
    for (size_t i = 0; i < sizeof rings / sizeof rings[0]; i++) {
        uint64_t spans = rings[i] * 4 / 10 / SPAN_BYTES / 10 * 10;
        int reps = 0;
        double ns = measure(rings[i], spans, &reps);
        char label[96];
        snprintf(label, sizeof label, "  ring %4llu MiB, %8llu spans a pass (%d passes)",
                 (unsigned long long)(rings[i] >> 20), (unsigned long long)spans, reps);
        if (ns < 0) {
            printf("%-58s events were dropped: no figure\n", label);
            return 1;
        }
        printf("%-58s %12.1f ns/span\n", label, ns);
        if (i == 0)
            first = ns;
        double ratio = ns / first;
        if (ratio > worst)
            worst = ratio;
    }
    bench_report("largest backlog's cost per span / smallest's", worst, "x", 1.2, 1);
    return 0;
}
