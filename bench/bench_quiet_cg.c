/*
 * bench_quiet_cg.c — a loop of span calls to count instructions under callgrind (wall clock on
 * the shared VM moves too much to see a few instructions): the quiet fast path of
 * weft/quiet.h against the kept path. Modes: `trace` (a sampled-out root and 10 children with
 * one attribute each: 32 calls), `root` (a sampled-out root each time: begin, set, end),
 * `kept` (begin+end), `kept1` (begin + 1 attribute + end). Prints nothing; count with
 *   valgrind --tool=callgrind --separate-threads=yes ./build/bench/bench_quiet_cg <mode> <n>
 * for n = 1000 and 11000 and divide the difference of the producer thread's totals (the
 * "-01" output file) by 10000: start-up and shutdown cancel.
 */
#include <stdlib.h>
#include <string.h>

#include "weft/weft.h"

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *mode = argv[1];
    int n = atoi(argv[2]);
    int trace = !strcmp(mode, "trace"), attr = strcmp(mode, "kept") != 0;
    weft_config c = {.exporters = "none", .ring_bytes = 64u << 20, .no_atexit = true};
    if (strcmp(mode, "kept") && strcmp(mode, "kept1"))
        c.sample_ratio = 1e-18; /* no trace kept */
    if (weft_init(&c) != 0)
        return 1;
    for (int i = 0; i < n; i++) {
        if (trace) {
            WEFT_SPAN_BEGIN(root, "request", WEFT_TYPE_TRACER);
            for (int k = 0; k < 10; k++) {
                WEFT_SPAN_BEGIN(sp, "generate", WEFT_TYPE_COMPLETION);
                weft_span_set_str(sp, WEFT_INPUT, "model", "gpt-4o-mini");
                WEFT_SPAN_END(sp);
            }
            WEFT_SPAN_END(root);
        } else {
            WEFT_SPAN_BEGIN(sp, "generate", WEFT_TYPE_COMPLETION);
            if (attr)
                weft_span_set_str(sp, WEFT_INPUT, "model", "gpt-4o-mini");
            WEFT_SPAN_END(sp);
        }
    }
    weft_shutdown(10000);
    return 0;
}
