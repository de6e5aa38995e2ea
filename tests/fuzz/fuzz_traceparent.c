/*
 * fuzz_traceparent.c — libFuzzer target for src/format/traceparent.c. The input is split at
 * its first newline: the part before is a traceparent, the part after a tracestate. Beyond
 * "no crash, no UB", it checks:
 *  - an accepted traceparent written back (version 00) parses to the same ids and flags, and
 *    writing that again gives the same 55 characters;
 *  - an accepted version-00 header without surrounding whitespace is written back byte for
 *    byte (the codec is exact for the one version it writes);
 *  - an accepted header never has an all-zero id, and its version is never 0xff;
 *  - an accepted tracestate counts 1 to 32 members and stays accepted with whitespace added
 *    around it.
 *
 *   ./fuzz_traceparent -max_total_time=60 /tmp/corpus_traceparent ../tests/fuzz/corpus/traceparent
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "traceparent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nl = memchr(s, '\n', size);
    size_t tp_len = nl ? (size_t)(nl - s) : size;

    weft__traceparent tp;
    if (weft__traceparent_parse(s, tp_len, &tp)) {
        CHECK((tp.trace_hi | tp.trace_lo) != 0 && tp.span_id != 0 && tp.version != 0xff);
        char out[WEFT__TRACEPARENT_LEN + 1], again[WEFT__TRACEPARENT_LEN + 1];
        CHECK(weft__traceparent_format(out, &tp) == WEFT__TRACEPARENT_LEN);
        CHECK(strlen(out) == WEFT__TRACEPARENT_LEN);
        weft__traceparent back;
        CHECK(weft__traceparent_parse(out, WEFT__TRACEPARENT_LEN, &back));
        CHECK(back.trace_hi == tp.trace_hi && back.trace_lo == tp.trace_lo && back.span_id == tp.span_id);
        CHECK(back.flags == tp.flags && back.version == 0);
        weft__traceparent_format(again, &back);
        CHECK(memcmp(out, again, sizeof out) == 0);
        if (tp.version == 0 && tp_len == WEFT__TRACEPARENT_LEN)
            CHECK(memcmp(out, s, WEFT__TRACEPARENT_LEN) == 0);
    }

    if (nl) {
        const char *ts = nl + 1;
        size_t ts_len = size - tp_len - 1, n = 0;
        if (weft__tracestate_valid(ts, ts_len, &n)) {
            CHECK(n >= 1 && n <= 32);
            char *padded = malloc(ts_len + 4);
            CHECK(padded != NULL);
            padded[0] = ' ';
            padded[1] = '\t';
            memcpy(padded + 2, ts, ts_len);
            padded[ts_len + 2] = '\t';
            padded[ts_len + 3] = ' ';
            size_t n2 = 0;
            CHECK(weft__tracestate_valid(padded, ts_len + 4, &n2) && n2 == n);
            free(padded);
        }
    }
    return 0;
}
