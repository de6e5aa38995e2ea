/*
 * bench_export_cg.c — a fixed workload for counting the export thread's instructions with
 * callgrind, which counts the same for the same binary whatever else the machine is doing
 * (the wall-clock benches here are only as good as the machine is quiet).
 *
 *   valgrind --tool=callgrind --separate-threads=yes ./build/bench/bench_export_cg [EXPORTER TRACES SPANS [ATTRS]]
 *
 * Defaults: exporter discard (every record encoded as the SGP item, then dropped), 4,000 traces
 * of 50 spans, each non-root span with three 16-byte string attributes. With ATTRS (0 to 3),
 * every span, the root included, gets that many of those attributes instead: the shapes of
 * the export budget (DESIGN.md section 8) are `discard 200000 1 1` (single-span traces with
 * one attribute) and `discard 20000 10 3` (10-span traces, three 16-byte attributes). The export thread is
 * the second thread's file (callgrind.out.PID-02); its "summary" line divided by the span
 * count is the figure. A 256 MiB ring keeps the whole run in the ring, and the program fails
 * when any event was dropped, since a count from such a run would measure less work.
 */
#include <stdio.h>
#include <stdlib.h>

#include "weft/weft.h"

/* The first n of three 16-byte string attributes, one in each section. */
static void set_attrs(weft_span s, int n)
{
    if (n > 0)
        weft_span_set_str(s, WEFT_INPUT, "model", "gpt-4o-mini-2024");
    if (n > 1)
        weft_span_set_str(s, WEFT_METADATA, "user", "u-1234567890abcd");
    if (n > 2)
        weft_span_set_str(s, WEFT_OUTPUT, "answer", "sixteen bytes ok");
}

int main(int argc, char **argv)
{
    const char *exporter = argc > 1 ? argv[1] : "discard";
    int traces = argc > 2 ? atoi(argv[2]) : 4000, per = argc > 3 ? atoi(argv[3]) : 50;
    int attrs = argc > 4 ? atoi(argv[4]) : -1; /* -1: three on non-root spans, none on the root */
    weft_config c = {.exporters = exporter, .no_atexit = true, .ring_bytes = 256u << 20};
    if (traces <= 0 || per <= 0 || attrs < -1 || attrs > 3 || weft_init(&c) != 0)
        return 2;
    for (int t = 0; t < traces; t++) {
        WEFT_SPAN_BEGIN(root, "request", WEFT_TYPE_TRACER);
        set_attrs(root, attrs < 0 ? 0 : attrs);
        for (int i = 0; i < per - 1; i++) {
            WEFT_SPAN_BEGIN(s, "generate", WEFT_TYPE_COMPLETION);
            set_attrs(s, attrs < 0 ? 3 : attrs);
            WEFT_SPAN_END(s);
        }
        WEFT_SPAN_END(root);
    }
    weft_flush(0);
    weft_stats st;
    weft_get_stats(&st);
    weft_shutdown(10000);
    printf("%s: %llu spans ended, %llu events dropped in the ring\n", exporter, (unsigned long long)st.ended,
           (unsigned long long)st.dropped_ring);
    if (st.dropped_ring != 0 || st.ended != (uint64_t)traces * (uint64_t)per) {
        fprintf(stderr, "events were dropped: this run's instruction count is not a figure\n");
        return 1;
    }
    return 0;
}
