/*
 * bench_alloc.h — a counting allocator for the benches that check "zero heap allocations per
 * span on the producer": malloc and friends are interposed and count the calls made by a
 * thread while its `bench_alloc_watch` is set, then forward to glibc. Include it in exactly
 * one file of a bench program (it defines the allocator functions).
 */
#ifndef WEFT_BENCH_ALLOC_H
#define WEFT_BENCH_ALLOC_H

#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static __thread int bench_alloc_watch;      /* this thread's calls are counted while set */
static __thread uint64_t bench_alloc_count; /* calls counted on this thread */

void *malloc(size_t n)
{
    bench_alloc_count += bench_alloc_watch != 0;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
    bench_alloc_count += bench_alloc_watch != 0;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
    bench_alloc_count += bench_alloc_watch != 0;
    return __libc_realloc(p, n);
}
int posix_memalign(void **out, size_t align, size_t n)
{
    bench_alloc_count += bench_alloc_watch != 0;
    void *p = __libc_memalign(align, n);
    if (!p)
        return 12; /* ENOMEM */
    *out = p;
    return 0;
}
void *aligned_alloc(size_t align, size_t n)
{
    bench_alloc_count += bench_alloc_watch != 0;
    return __libc_memalign(align, n);
}

#endif
