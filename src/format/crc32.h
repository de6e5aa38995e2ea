/*
 * crc32.h — CRC-32 as zlib, PNG and Ethernet compute it (reflected polynomial 0xEDB88320,
 * initial value and final XOR 0xFFFFFFFF; the check value of "123456789" is 0xCBF43926). It
 * guards each record of the disk spool (src/codec/spool_format.c). A pure function of its
 * arguments, any thread (the tables behind it are built once, at the first call).
 */
#ifndef WEFT_CRC32_H
#define WEFT_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues crc over p[0..n): start with 0, feed pieces in order, the result is the CRC of
 * their concatenation. p may be NULL when n is 0. */
uint32_t weft__crc32(uint32_t crc, const void *p, size_t n);

#endif
