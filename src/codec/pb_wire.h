/*
 * pb_wire.h — protobuf wire-format primitives for the hand-written OTLP writers (otlp_span.c,
 * otlp_value.c, otlp.c's request framing): varints, tags, fixed-width little-endian numbers and
 * length-delimited fields whose length is written in front of the body once the body is done.
 *
 * Everything written is canonical — minimal varints, the length of a nested message in as few
 * bytes as it needs — so the bytes are those protobuf-c's packer writes for the same message
 * (tests/fuzz/fuzz_otlp_span.c checks it). Inline, no state; the writers reserve room in the
 * weft__buf before writing at b->data + b->len. Export thread only.
 */
#ifndef WEFT_PB_WIRE_H
#define WEFT_PB_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

/* Wire types (the low three bits of a tag). */
#define WEFT__PB_VARINT 0u
#define WEFT__PB_I64 1u
#define WEFT__PB_LEN 2u
#define WEFT__PB_I32 5u

/* The tag of a field as one byte, for field numbers 1..15. */
#define WEFT__PB_TAG(field, wire) ((uint8_t)(((field) << 3) | (wire)))

/* A varint takes at most 10 bytes. */
#define WEFT__PB_VARINT_MAX 10

static inline size_t weft__pb_varint_len(uint64_t v)
{
    /* 1 + (index of the highest set bit) / 7, with v | 1 so that 0 takes one byte. */
    return (size_t)((63 - __builtin_clzll(v | 1)) * 9 + 73) / 64;
}

/* Writes v at o; returns the bytes written. */
static inline size_t weft__pb_put_varint(uint8_t *o, uint64_t v)
{
    size_t k = 0;
    while (v > 0x7f) {
        o[k++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    o[k++] = (uint8_t)v;
    return k;
}

static inline void weft__pb_put_le64(uint8_t *o, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(o, &v, 8);
#else
    for (int i = 0; i < 8; i++)
        o[i] = (uint8_t)(v >> (8 * i));
#endif
}

static inline void weft__pb_put_le32(uint8_t *o, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(o, &v, 4);
#else
    for (int i = 0; i < 4; i++)
        o[i] = (uint8_t)(v >> (8 * i));
#endif
}

/* Big-endian: the byte order of W3C trace and span ids. */
static inline void weft__pb_put_be64(uint8_t *o, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
    memcpy(o, &v, 8);
#else
    for (int i = 0; i < 8; i++)
        o[i] = (uint8_t)(v >> (56 - 8 * i));
#endif
}

/* The end of b as a byte pointer (room reserved by the caller). */
static inline uint8_t *weft__pb_at(weft__buf *b) { return (uint8_t *)b->data + b->len; }

/* Appends one byte; false when memory is short. */
static inline bool weft__pb_byte(weft__buf *b, uint8_t c)
{
    if (!weft__buf_reserve(b, 1))
        return false;
    b->data[b->len++] = (char)c;
    return true;
}

/* A length-delimited field whose length is not known yet: weft__pb_open writes the tag (one
 * byte) and leaves `guess` bytes for the length, returning where the length goes;
 * weft__pb_close, once the body has been appended, writes the length there, moving the body
 * when the length needs more or fewer bytes than guessed. guess: 1 for most nested values,
 * 2 for a span. */
static inline size_t weft__pb_open(weft__buf *b, uint8_t tag, size_t guess)
{
    if (!weft__buf_reserve(b, 1 + guess))
        return SIZE_MAX;
    b->data[b->len] = (char)tag;
    size_t at = b->len + 1;
    b->len = at + guess;
    return at;
}

/* Out of line: a body whose length needs another number of bytes than guessed. */
bool weft__pb_close_move(weft__buf *b, size_t at, size_t guess);

static inline bool weft__pb_close(weft__buf *b, size_t at, size_t guess)
{
    if (at == SIZE_MAX || b->oom)
        return false;
    size_t len = b->len - at - guess;
    if (guess == 1 && len < 0x80) {
        b->data[at] = (char)len;
        return true;
    }
    if (guess == 2 && len >= 0x80 && len < 0x4000) {
        b->data[at] = (char)(len | 0x80);
        b->data[at + 1] = (char)(len >> 7);
        return true;
    }
    return weft__pb_close_move(b, at, guess);
}

/* A length-delimited field with its bytes known: tag, length, bytes. */
static inline bool weft__pb_bytes(weft__buf *b, uint8_t tag, const void *p, size_t n)
{
    if (!weft__buf_reserve(b, 1 + WEFT__PB_VARINT_MAX + n))
        return false;
    uint8_t *o = weft__pb_at(b);
    o[0] = tag;
    size_t k = 1 + weft__pb_put_varint(o + 1, n);
    weft__copy((char *)o + k, p, n);
    b->len += k + n;
    return true;
}

#endif
