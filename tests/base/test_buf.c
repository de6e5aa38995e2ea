/*
 * test_buf.c — the export side's byte buffer (src/base/buf.c, buf.h): growth by doubling from
 * 256 bytes keeping the content, the short-copy helper against memcpy at every length, a
 * growth that cannot be met setting oom and refusing every later growth until reset, and fini
 * leaving an empty buffer; weft__grow for plain arrays (doubling from a first capacity, refusing
 * sizes that overflow).
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

Test(buf, grows_by_doubling_and_keeps_what_it_holds)
{
    weft__buf b;
    weft__buf_init(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.cap, 0);
    weft__buf_putc(&b, 'x');
    cr_assert_eq(b.cap, 256);
    char chunk[300];
    for (size_t i = 0; i < sizeof chunk; i++)
        chunk[i] = (char)('a' + i % 26);
    weft__buf_append(&b, chunk, sizeof chunk);
    cr_assert_eq(b.len, 301);
    cr_assert_eq(b.cap, 512);
    weft__buf_append(&b, chunk, sizeof chunk);
    cr_assert_eq(b.cap, 1024);
    cr_assert_eq(b.data[0], 'x');
    cr_assert_eq(memcmp(b.data + 1, chunk, sizeof chunk), 0);
    cr_assert_eq(memcmp(b.data + 301, chunk, sizeof chunk), 0);
    weft__buf_lit(&b, "end");
    cr_assert_eq(b.len, 604);
    cr_assert_eq(memcmp(b.data + 601, "end", 3), 0);
    cr_assert(weft__buf_grow(&b, 5000));
    cr_assert_eq(b.cap, 8192, "doubled until it fits");
    cr_assert_eq(b.len, 604, "growing adds room, not bytes");
    cr_assert_not(b.oom);
    weft__buf_fini(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
}

Test(buf, copies_every_short_length_exactly)
{
    unsigned char src[80], dst[80 + 16];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= 64; n++) {
        memset(dst, 0xEE, sizeof dst);
        weft__copy((char *)dst + 8, src + 3, n);
        cr_assert_eq(memcmp(dst + 8, src + 3, n), 0, "%zu bytes", n);
        for (size_t k = 0; k < 8; k++)
            cr_assert_eq(dst[k], 0xEE, "wrote before the destination at n=%zu", n);
        for (size_t k = 8 + n; k < sizeof dst; k++)
            cr_assert_eq(dst[k], 0xEE, "wrote past %zu bytes", n);
    }
}

Test(buf, an_impossible_growth_sets_oom_and_refuses_later_growth_until_reset)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__buf_lit(&b, "kept");
    cr_assert_not(weft__buf_grow(&b, SIZE_MAX - 8));
    cr_assert(b.oom);
    cr_assert_eq(b.len, 4, "what was written stays");
    cr_assert_eq(memcmp(b.data, "kept", 4), 0);
    cr_assert_not(weft__buf_grow(&b, 1000), "oom is sticky");
    size_t cap = b.cap;
    char big[1024] = {0};
    weft__buf_append(&b, big, sizeof big); /* needs growth: dropped */
    cr_assert_eq(b.len, 4);
    cr_assert_eq(b.cap, cap);
    cr_assert(b.oom);
    weft__buf_reset(&b);
    cr_assert_not(b.oom);
    cr_assert_eq(b.len, 0);
    weft__buf_append(&b, big, sizeof big);
    cr_assert_eq(b.len, sizeof big, "usable again after reset");
    weft__buf_fini(&b);
}

Test(buf, grow_starts_at_first_then_doubles_and_keeps_the_elements)
{
    uint32_t *v = NULL;
    size_t cap = 0, n = 0;
    for (uint32_t i = 0; i < 100; i++) {
        if (n == cap) {
            size_t before = cap;
            uint32_t *nv = weft__grow(v, &cap, sizeof *nv, 4);
            cr_assert(nv);
            cr_assert_eq(cap, before ? before * 2 : 4);
            v = nv;
        }
        v[n++] = i * 7;
    }
    cr_assert_eq(cap, 128);
    for (uint32_t i = 0; i < 100; i++)
        cr_assert_eq(v[i], i * 7);
    free(v);
}

Test(buf, grow_refuses_a_size_that_overflows_and_leaves_the_array_alone)
{
    uint64_t *v = malloc(4 * sizeof *v);
    cr_assert(v);
    v[3] = 42;
    size_t cap = SIZE_MAX / 2 + 1;
    cr_assert_null(weft__grow(v, &cap, sizeof *v, 4));
    cr_assert_eq(cap, SIZE_MAX / 2 + 1);
    cap = SIZE_MAX / 8; /* twice that, of 8-byte elements, is more bytes than size_t holds */
    cr_assert_null(weft__grow(v, &cap, sizeof *v, 4));
    cr_assert_eq(cap, SIZE_MAX / 8);
    cr_assert_eq(v[3], 42);
    free(v);
}
