/*
 * fuzz_check.h — the fuzz targets' assertion: a failed CHECK prints where and what, then
 * aborts, which libFuzzer reports as a crash with the input saved. Unlike assert(), it stays
 * on in every build.
 */
#ifndef WEFT_FUZZ_CHECK_H
#define WEFT_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                                             \
    do {                                                                                        \
        if (!(cond)) {                                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);            \
            abort();                                                                            \
        }                                                                                       \
    } while (0)

#endif
