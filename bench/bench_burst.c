/*
 * bench_burst.c — a burst of 1,000,000 spans (one short string attribute each) from one
 * thread as fast as it can, default settings (DESIGN.md section 8, "bursts": nothing dropped).
 * Prints the producer's time per span, the time until the export thread has assembled all of
 * them (weft_flush), the events dropped in the ring (budget 0), how often the ring grew, and
 * the process's memory high-water (VmHWM) with its growth over the bench.
 *
 * Method: RUNS bursts, each in its own weft_init/weft_shutdown (exporter "none": spans are
 * assembled and counted, sent nowhere); medians of the times, the sum of the drops. A time is
 * only reported from runs that dropped nothing. Run: ./build/bench/bench_burst
 * Built against a weft without growth (ring_max_bytes, ring_grown), compile with
 * -DWEFT_BENCH_NO_GROWTH.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bench_common.h"
#include "weft/weft.h"

#define SPANS 1000000
#define RUNS 3

/* A field of /proc/self/status in KiB (VmHWM, VmRSS), 0 if unreadable. */
static unsigned long long status_kib(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long v = 0;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            sscanf(line + n + 1, "%llu", &v);
            break;
        }
    fclose(f);
    return v;
}

int main(void)
{
    double produce[RUNS], drain[RUNS];
    unsigned long long dropped = 0, grown = 0, hwm0 = status_kib("VmHWM");
    for (int r = 0; r < RUNS; r++) {
        weft_config c = {.exporters = "none", .no_atexit = true};
        if (weft_init(&c) != 0) {
            fprintf(stderr, "weft_init failed\n");
            return 1;
        }
        weft_span warm = weft_span_begin("warm", WEFT_TYPE_CUSTOM); /* registers the thread */
        weft_span_end(warm);
        weft_flush(0);
        double t0 = bench_now_ns();
        for (int i = 0; i < SPANS; i++) {
            WEFT_SPAN_BEGIN(s, "burst", WEFT_TYPE_COMPLETION);
            weft_span_set_str(s, WEFT_INPUT, "model", "gpt-4o-mini");
            WEFT_SPAN_END(s);
        }
        double t1 = bench_now_ns();
        weft_flush(0);
        double t2 = bench_now_ns();
        weft_stats st;
        weft_get_stats(&st);
        dropped += st.dropped_ring;
#ifndef WEFT_BENCH_NO_GROWTH
        grown += st.ring_grown;
#endif
        produce[r] = (t1 - t0) / SPANS;
        drain[r] = (t2 - t0) / 1e6;
        weft_shutdown(10000);
    }
    printf("burst of %d spans from one thread, default settings, %d runs\n", SPANS, RUNS);
    bench_report("events dropped in the ring (all runs)", (double)dropped, "events", 0, 1);
    if (dropped == 0) {
        printf("%-58s %12.2f ns/span (median)\n", "  producer time per span during the burst", bench_median(produce, RUNS));
        printf("%-58s %12.1f ms (median)\n", "  burst start to everything assembled (weft_flush)", bench_median(drain, RUNS));
    } else {
        printf("  (no time reported: the runs dropped events)\n");
    }
#ifndef WEFT_BENCH_NO_GROWTH
    printf("%-58s %12.1f per run\n", "  ring growths (ring_grown)", (double)grown / RUNS);
#endif
    unsigned long long hwm = status_kib("VmHWM");
    printf("%-58s %12.1f MiB (%.1f MiB over the bench's start)\n", "  memory high-water of the process (VmHWM)",
           hwm / 1024.0, (hwm - hwm0) / 1024.0);
    return 0;
}
