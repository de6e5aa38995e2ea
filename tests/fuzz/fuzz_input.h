/*
 * fuzz_input.h — reading a fuzz input as a stream of small decisions, for the targets that
 * build a record from it (fuzz_otlp_span, fuzz_sgp_item). Past the input's end every read
 * gives 0, so any input, however short, drives a whole build. The bytes are the caller's.
 */
#ifndef WEFT_FUZZ_INPUT_H
#define WEFT_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct rd {
    const uint8_t *p;
    size_t n;
} rd;

static inline unsigned u8(rd *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static inline uint64_t u64(rd *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | u8(r);
    return v;
}

/* Up to max bytes of the input (as many as the next byte says, mod max + 1): *out points into
 * the input, the length is returned. */
static inline size_t take(rd *r, size_t max, const uint8_t **out)
{
    size_t n = u8(r) % (max + 1);
    if (n > r->n)
        n = r->n;
    *out = r->p;
    r->p += n;
    r->n -= n;
    return n;
}

#endif
