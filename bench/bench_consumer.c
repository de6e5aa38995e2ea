/*
 * bench_consumer.c — the export thread's throughput (DESIGN.md section 8: >= 2,000,000
 * spans/s on one core for drain + assemble + JSON encode).
 *
 * Method: one producer thread makes spans as fast as it can with the default settings (1 MiB
 * ring, so the export thread is woken at high water and drains in steady state, as in a real
 * program); exporter "discard" has each record encoded as the SGP item and releases each batch at once. The export thread's CPU time
 * is the process's CPU time less the producer thread's own (CLOCK_THREAD_CPUTIME_ID), and the
 * figure is spans assembled and encoded per CPU-second of the export thread. Each span has
 * two short string attributes and an integer, like a typical LLM step. Median of 5 runs of
 * 2,000,000 spans, once with the SGP item encoding (discard) and once with the OTLP Span
 * encoding (discard_otlp), each in its own weft_init. Run: ./build/bench/bench_consumer
 */
#include <stdint.h>
#include <sys/resource.h>

#include "bench_common.h"
#include "weft/weft.h"

#define N 2000000
#define RUNS 5

static double cpu_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Spans assembled and encoded per CPU-second of the export thread, median of RUNS, with
 * exporter `exporter` (discard: SGP JSON; discard_otlp: OTLP protobuf). */
static double measure(const char *exporter, weft_stats *out)
{
    weft_config c = {.exporters = exporter, .no_atexit = true};
    if (weft_init(&c) != 0)
        return 0;
    double v[RUNS];
    uint64_t ended0 = 0;
    for (int r = 0; r < RUNS; r++) {
        double proc0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID), self0 = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
        WEFT_SPAN_BEGIN(root, "request", WEFT_TYPE_TRACER);
        for (int i = 0; i < N - 1; i++) {
            WEFT_SPAN_BEGIN(s, "generate", WEFT_TYPE_COMPLETION);
            weft_span_set_str(s, WEFT_INPUT, "model", "gpt-4o-mini");
            weft_span_set_str(s, WEFT_METADATA, "user", "u-1234");
            weft_span_set_i64(s, WEFT_OUTPUT, "tokens", i);
            WEFT_SPAN_END(s);
        }
        WEFT_SPAN_END(root);
        double self = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - self0;
        weft_flush(0);
        double consumer = cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - proc0 - self;
        weft_stats st;
        weft_get_stats(&st);
        v[r] = (double)(st.ended - ended0) / (consumer / 1e9);
        ended0 = st.ended;
    }
    weft_get_stats(out);
    weft_shutdown(10000);
    return bench_median(v, RUNS);
}

int main(void)
{
    weft_stats st;
    double sgp = measure("discard", &st);
    bench_report("export thread: drain + assemble + JSON encode", sgp, "spans/s", 2000000, 0);
    printf("%-58s %llu / %llu / %llu\n", "  spans started / ended / events dropped in the ring",
           (unsigned long long)st.started, (unsigned long long)st.ended, (unsigned long long)st.dropped_ring);
    double otlp = measure("discard_otlp", &st);
    bench_report("export thread: drain + assemble + OTLP protobuf encode", otlp, "spans/s", 0, 0);
    printf("%-58s %llu / %llu / %llu\n", "  spans started / ended / events dropped in the ring",
           (unsigned long long)st.started, (unsigned long long)st.ended, (unsigned long long)st.dropped_ring);
    printf("%-58s %.0f ns (sgp) / %.0f ns (otlp)\n", "  export-thread CPU per span", sgp > 0 ? 1e9 / sgp : 0,
           otlp > 0 ? 1e9 / otlp : 0);
    return 0;
}
