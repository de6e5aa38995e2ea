/*
 * thread.h — per-producer-thread state: the ring, the context stack of current spans, the id
 * generator and the thread's own counters. Created on a thread's first span or by
 * weft_thread_register (the only allocation a producer makes, with a ring growing on a burst:
 * ring.h), or prepared ahead by the export thread, found through one initial-exec TLS pointer, retired when
 * the thread exits and reused by a later thread once the export thread has drained it.
 *
 * Invariants: only the owning thread writes the stack, rng and counters (other threads read
 * counters with relaxed loads); other threads only store into `ended[]` (cross-thread end of a
 * span that is on this stack) and the export thread only into the ring's consumer side.
 * States are never freed before weft_shutdown (their ring buffers are: thread.c says when),
 * and every state has the same stack capacity, so a late cross-thread end into a reused state
 * (or one of a forged handle, whose depth is checked against WEFT__STACK_MAX first) writes a
 * mark no entry's key matches and does no harm.
 */
#ifndef WEFT_THREAD_H
#define WEFT_THREAD_H

#include <stdatomic.h>
#include <stdint.h>

#include "ring.h"
#include "runtime.h"
#include "weft/weft.h"

/* The context stack. Every thread state owns room for WEFT__STACK_MAX entries, mapped once at
 * registration (virtual memory: a page is only committed when the program nests that deep)
 * and kept when the state is recycled. A span's handle names its entry by slot and depth
 * (weft_span.home = slot << 16 | depth), so both fit 16 bits: max_threads is capped at 65536
 * (config.c) and the deepest entry is WEFT__STACK_MAX - 1. A weft_span_begin at full depth
 * records nothing (the span and everything begun under it are dropped, counted in
 * weft_stats.dropped_depth): every span that is recorded keeps its right parent. */
#define WEFT__STACK_MAX 65535u
#define WEFT__HOME_NONE 0xffffu /* weft_span.home depth: on no stack */
#define WEFT__HOME(slot, depth) (((uint32_t)(slot) << 16) | (uint32_t)(depth))
#define WEFT__HOME_DEPTH(home) ((home) & 0xffffu)
#define WEFT__HOME_SLOT(home) ((home) >> 16)
/* weft_span.flags values (WEFT__SPAN_SAMPLED_OUT, WEFT__SPAN_OFF) are in weft/weft.h: the
 * inline wrappers of weft/quiet.h test them. Any other bit marks a forged handle. */
#define WEFT__SPAN_KNOWN (WEFT__SPAN_SAMPLED_OUT | WEFT__SPAN_OFF | WEFT__SPAN_LOST)

/* One context entry. Pushed by weft_span_begin (key == id, home == the entry itself) or by
 * weft_span_activate (key: a fresh token only the scope handle knows; home: the activated
 * span's own home, so that ending that span never takes the scope's entry away). */
typedef struct weft__ctx {
    uint64_t key;   /* what ended[d] holds once this entry ended elsewhere */
    uint64_t trace, id; /* the span current while this entry is on top (id 0: no span) */
    uint32_t home, flags;
    uint64_t trace_lo;  /* weft_span.trace_lo of that span (a trace from another process) */
} weft__ctx;

typedef struct weft__thread {
    weft__ring ring;
    /* Owner-only. */
    uint64_t rng[2];    /* xoroshiro128+ state, seeded from the OS */
    uint32_t slot;      /* index in weft__rt.slots */
    uint32_t depth;     /* entries in stack */
    weft__ctx *stack;   /* WEFT__STACK_MAX entries (mapped with the state, see above) */
    _Atomic uint64_t started, noop, sampled_out; /* owner writes, anyone reads */
    /* Written by other threads: ended[d] == stack[d].key means that entry ended elsewhere.
     * WEFT__STACK_MAX entries, in the same mapping as stack, on pages of their own. */
    _Atomic uint64_t *ended;
    /* Registry and export thread. */
    _Alignas(64) _Atomic int exited; /* the owning thread has gone; drain then recycle */
    struct weft__thread *next_free;
    /* The owner's weft__quiet.poked (weft/quiet.h) while the owner lives, else NULL: a thread
     * that ends a sampled-out span of this stack sets it (weft__thread_poke), so the owner's
     * inline calls go back to the library, which pops what ended. poke_users counts the
     * threads between loading the pointer and storing through it; the owner's exit clears the
     * pointer and waits for 0 before its TLS goes away. */
    uint32_t *_Atomic poke;
    _Atomic uint32_t poke_users;
} weft__thread;

/* The calling thread's state and the runtime generation it belongs to: a state from before the
 * last weft_shutdown is never touched again (tls_gen != weft__rt.gen). */
extern __thread weft__thread *weft__tls;
extern __thread uint32_t weft__tls_gen;

/* Slow path of weft__thread_get: registers the calling thread (allocates its state or reuses
 * a retired one). NULL when the registry is full or memory is short (the call is dropped). */
weft__thread *weft__thread_register(void);

static inline weft__thread *weft__thread_get(void)
{
    weft__thread *t = weft__tls;
    if (__builtin_expect(t != NULL && weft__tls_gen == weft__rt.gen, 1))
        return t;
    return weft__thread_register();
}

/* Tells t's owner that a span of its stack ended on another thread (see poke above). */
void weft__thread_poke(weft__thread *t);

/* Registry lifecycle (weft_init / weft_shutdown / fork). */
int weft__threads_init(void);
void weft__threads_fini(void);
/* Export thread: a state whose thread exited has been drained; make it reusable (a no-op when
 * a new thread took it over meanwhile or it is not empty). */
void weft__threads_recycle(weft__thread *t);
/* Export thread: tops the free list up to a few ready states (thread.c says why). */
void weft__threads_prepare(void);
/* Producer-side counters of live and retired threads. */
typedef struct weft__producer_counts {
    uint64_t started, noop, sampled_out, dropped_ring, dropped_ring_spans;
} weft__producer_counts;
void weft__threads_sum(weft__producer_counts *out);

static inline uint64_t weft__rng_next(uint64_t s[2])
{
    uint64_t s0 = s[0], s1 = s[1], r = s0 + s1;
    s1 ^= s0;
    s[0] = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
    s[1] = (s1 << 37) | (s1 >> 27);
    return r;
}

#endif
