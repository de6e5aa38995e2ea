/*
 * test_crc32.c — CRC-32 (src/format/crc32.c, slicing by eight): the standard check value,
 * the empty input, pieces fed in order equal to the whole at every split, and agreement with
 * a bit-at-a-time reference over every length and alignment up to a few hundred bytes.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "crc32.h"

/* The textbook form: one bit at a time, reflected polynomial 0xEDB88320. */
static uint32_t ref_crc32(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return c ^ 0xFFFFFFFFu;
}

static void fill(unsigned char *b, size_t n)
{
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (unsigned char)x;
    }
}

Test(crc32, gives_the_standard_check_value)
{
    cr_assert_eq(weft__crc32(0, "123456789", 9), 0xCBF43926u);
    cr_assert_eq(weft__crc32(0, "The quick brown fox jumps over the lazy dog", 43), 0x414FA339u);
    cr_assert_eq(weft__crc32(0, "a", 1), 0xE8B7BE43u);
}

Test(crc32, of_nothing_is_zero_and_leaves_a_running_value_alone)
{
    cr_assert_eq(weft__crc32(0, NULL, 0), 0);
    uint32_t c = weft__crc32(0, "abc", 3);
    cr_assert_eq(weft__crc32(c, NULL, 0), c);
}

Test(crc32, of_pieces_in_order_equals_that_of_the_whole_at_every_split)
{
    unsigned char b[300];
    fill(b, sizeof b);
    uint32_t whole = weft__crc32(0, b, sizeof b);
    for (size_t k = 0; k <= sizeof b; k++)
        cr_assert_eq(weft__crc32(weft__crc32(0, b, k), b + k, sizeof b - k), whole, "split at %zu", k);
}

Test(crc32, agrees_with_the_bitwise_reference_at_every_length_and_alignment)
{
    unsigned char b[520];
    fill(b, sizeof b);
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n + off <= 512; n++)
            cr_assert_eq(weft__crc32(0, b + off, n), ref_crc32(b + off, n), "offset %zu, %zu bytes", off, n);
}
