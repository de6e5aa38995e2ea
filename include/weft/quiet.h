/*
 * quiet.h — calls that record nothing return inline, in the caller's code. Included by weft.h
 * (not on its own).
 *
 * One test decides every call: is the span (for a begin, the calling thread's current span)
 * one that records nothing? Two places hold the answer:
 *
 *   the handle's flags    every setter and end: WEFT__SPAN_QUIET_(s) — disabled, sampled out,
 *                         or lost (its begin was dropped from a full ring); WEFT__SPAN_GONE_(s)
 *                         — not even the context stack needs its end.
 *   weft__quiet (TLS)     begin and end inside a sampled-out trace: the top of the calling
 *                         thread's context stack while it is sampled out. Spans begun with
 *                         weft_span_begin there are kept in this small per-thread region (their
 *                         ids only) instead of the library's stack, so such a begin, and the end
 *                         of the region's top, touch nothing but the calling thread's TLS.
 *                         A root begun with no current span, while head sampling is on, draws
 *                         its trace id there too: one sampling drops starts a region inline.
 *                         (Reads two words the library owns: the thread's stack depth and
 *                         sampled_out counter, through pointers set when the thread registers.)
 *
 * The region is a lazily written tail of the thread's context stack (src/produce/thread.h): span
 * ids[i] is the stack entry at depth base + i, and its handle names it exactly as the library
 * would (home = slot << 16 | depth, id = its unique key, flags SAMPLED_OUT). Whenever the library
 * needs the stack (a begin that records, activate, a scope end, an end out of order, from another
 * thread or twice) it first writes the region into the stack (weft__quiet_settle in span.c) and
 * then does what it always did, so every rule of weft.h holds unchanged. Another thread that ends
 * one of these spans marks it in the stack's ended[] as before and sets `poked`: the owner's next
 * inline begin or end then calls in, and the library pops what ended.
 *
 * So such a call costs a few loads and compares in the caller's code, no call at all (DESIGN.md
 * 8: <= 2 ns). In C every span call below is a macro over a static inline wrapper; each argument
 * is evaluated exactly once. The library functions are still exported under the same names: a
 * pointer to weft_span_end, or `(weft_span_end)(s)`, reaches the library directly, and a program
 * built against an older weft.h (whose wrappers test the flags only) calls in and gets the same
 * results: the library takes the same fast path itself. Defining WEFT_NO_INLINE_CALLS before
 * including weft.h turns the wrappers off (the library's own sources are built that way). C++
 * gets no macros (they would capture weft::Span's methods); weft.hpp's classes call the same
 * inline tests (weft__quiet_child_, weft__quiet_end_) before calling in.
 *
 * Threading: weft__quiet is the calling thread's own; only `poked` is written by other threads
 * (atomically, through a pointer the thread state holds while the thread lives). Pointers: as
 * the functions they wrap (weft.h).
 */
#ifndef WEFT_QUIET_H
#define WEFT_QUIET_H

/* flags is any non-zero mix of SAMPLED_OUT, OFF and LOST (1 to 7) / 2 or 3 (OFF): one compare
 * each. A handle with any other bit set is forged; it calls in, and the library counts it. */
#define WEFT__SPAN_QUIET_(s) ((uint32_t)((s).flags - 1u) < 7u)
#define WEFT__SPAN_GONE_(s) ((uint32_t)((s).flags - WEFT__SPAN_OFF) < 2u)

/* Spans the region holds at most; deeper sampled-out nesting goes through the library's stack
 * (written there, then a new region starts above it). 16: an LLM program nests 4 to 8 deep;
 * the whole struct stays within 4 cache lines of static TLS. */
#define WEFT__QUIET_MAX 16u

/* Private: the calling thread's quiet region (see above). Zero (n == 0): not in one. */
typedef struct weft__quiet_tls {
    uint32_t n;        /* spans in the region; ids[n - 1] is the current span */
    uint32_t poked;    /* 1: another thread ended one of this thread's spans (atomic) */
    uint32_t home0;    /* weft_span.home of ids[0]: slot << 16 | base depth */
    uint32_t root_home;       /* weft_span.home of a region at depth 0: slot << 16 */
    uint64_t trace, trace_lo; /* the sampled-out trace (weft_span.trace, .trace_lo) */
    uint64_t gen, salt;       /* ids: (++gen * odd) ^ salt, unique per thread and begin */
    uint64_t ids[WEFT__QUIET_MAX];
    /* Roots (weft__quiet_root_): set when the thread registers while head sampling is on
     * (sample_ratio < 1); depth NULL otherwise. Valid while `poked` is 0: a weft_shutdown
     * pokes every thread, and the thread's next call in registers it again. */
    const uint32_t *depth;    /* the library's stack depth of this thread (0: no current span) */
    uint64_t *sampled_out;    /* the thread's sampled_out counter (weft_stats) */
    const uint64_t *sample_below; /* the library's: a root whose trace id is below it is kept */
    uint64_t rng[2];          /* xoroshiro128+ state that draws this thread's root trace ids */
} weft__quiet_tls;

WEFT_API extern __thread weft__quiet_tls weft__quiet;

#define WEFT__QUIET_ID_MUL 0x9e3779b97f4a7c15ull /* odd: gen -> id is a bijection */

/* Every function below is inlined wherever it is called, whatever the compiler's size
 * heuristics say: a call would cost what the inline test saves. */
#define WEFT__QUIET_INLINE_ static inline __attribute__((always_inline))

/* Begin under the current span when it is the top of this thread's quiet region: *out is the
 * new span (sampled out, made current) and true; false when the library must decide. */
WEFT__QUIET_INLINE_ bool weft__quiet_child_(weft_span *out)
{
    weft__quiet_tls *q = &weft__quiet;
    uint32_t n = q->n;
    if (__builtin_expect(n - 1u >= WEFT__QUIET_MAX - 1u, 1) || __atomic_load_n(&q->poked, __ATOMIC_RELAXED))
        return false; /* not in a region (n 0), region full, or something ended elsewhere */
    uint64_t id = (++q->gen * WEFT__QUIET_ID_MUL) ^ q->salt;
    id += (id == 0); /* 0 is the zero span */
    q->ids[n] = id;
    q->n = n + 1;
    out->trace = q->trace;
    out->id = id;
    out->home = q->home0 + n;
    out->flags = WEFT__SPAN_SAMPLED_OUT;
    out->trace_lo = q->trace_lo;
    return true;
}

/* Begin of a root on a thread with no current span, while head sampling is on: when the trace
 * id this thread draws next is one sampling drops, the draw is taken, the sampled-out root
 * starts a quiet region, and true. false: the library begins it (kept, or anything it must
 * decide); it draws the same trace id from the same state. Ids 0 and UINT64_MAX go to the
 * library, which never issues them as trace ids. */
WEFT__QUIET_INLINE_ bool weft__quiet_root_(weft_span *out)
{
    weft__quiet_tls *q = &weft__quiet;
    const uint32_t *depth = q->depth;
    if (__builtin_expect(depth == 0 || q->n != 0, 1) || __atomic_load_n(&q->poked, __ATOMIC_RELAXED) || *depth != 0)
        return false;
    uint64_t s0 = q->rng[0], s1 = q->rng[1], trace = s0 + s1; /* xoroshiro128+ output */
    if (trace < *q->sample_below || trace + 1u < 2u)
        return false;
    s1 ^= s0;
    q->rng[0] = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
    q->rng[1] = (s1 << 37) | (s1 >> 27);
    __atomic_store_n(q->sampled_out, __atomic_load_n(q->sampled_out, __ATOMIC_RELAXED) + 1u, __ATOMIC_RELAXED);
    uint64_t id = (++q->gen * WEFT__QUIET_ID_MUL) ^ q->salt;
    id += (id == 0);
    q->home0 = q->root_home;
    q->trace = trace;
    q->trace_lo = 0;
    q->ids[0] = id;
    q->n = 1;
    out->trace = trace;
    out->id = id;
    out->home = q->root_home;
    out->flags = WEFT__SPAN_SAMPLED_OUT;
    out->trace_lo = 0;
    return true;
}

/* End of the region's top on its own thread: popped, true. false: the library decides (a span
 * that records, an end out of order, twice or from another thread; anything after a poke). */
WEFT__QUIET_INLINE_ bool weft__quiet_end_(weft_span s)
{
    if (__builtin_expect(s.flags != WEFT__SPAN_SAMPLED_OUT, 1))
        return false; /* first, before any load: a kept span's end pays one compare */
    weft__quiet_tls *q = &weft__quiet;
    uint32_t n = q->n;
    if (n == 0 || s.home != q->home0 + n - 1u || s.id != q->ids[n - 1u] || __atomic_load_n(&q->poked, __ATOMIC_RELAXED))
        return false;
    q->n = n - 1u;
    return true;
}

/* begin_child under a sampled-out parent on a thread that has had a region (its gen and salt
 * are set): a span on no stack, ids only. */
WEFT__QUIET_INLINE_ bool weft__quiet_orphan_(weft_span parent, weft_span *out)
{
    weft__quiet_tls *q = &weft__quiet;
    if (__builtin_expect((parent.flags & ~(uint32_t)WEFT__SPAN_OFF) != WEFT__SPAN_SAMPLED_OUT || q->salt == 0, 1))
        return false;
    uint64_t id = (++q->gen * WEFT__QUIET_ID_MUL) ^ q->salt;
    id += (id == 0);
    out->trace = parent.trace;
    out->id = id;
    out->home = 0xffffu; /* on no stack */
    out->flags = WEFT__SPAN_SAMPLED_OUT | WEFT__SPAN_OFF;
    out->trace_lo = parent.trace_lo;
    return true;
}

#if !defined(__cplusplus) && !defined(WEFT_NO_INLINE_CALLS)

/* One wrapper per setter: params is its parameter list, args the call passed on. */
#define WEFT__QUIET_SETTER_(fn, params, args)                                               \
    WEFT__QUIET_INLINE_ void weft__##fn##_inl_ params                                        \
    {                                                                                        \
        if (!WEFT__SPAN_QUIET_(s))                                                           \
            fn args;                                                                         \
    }

WEFT__QUIET_INLINE_ weft_span weft__weft_span_begin_inl_(const char *name, weft_span_type type)
{
    weft_span s;
    if (!weft__quiet_child_(&s) && !weft__quiet_root_(&s))
        s = weft_span_begin(name, type); /* one return: the library writes the caller's variable */
    return s;
}
WEFT__QUIET_INLINE_ weft_span weft__weft__span_begin_site_inl_(const weft_site *site)
{
    weft_span s;
    if (!weft__quiet_child_(&s) && !weft__quiet_root_(&s))
        s = weft__span_begin_site(site); /* one return: the library writes the caller's variable */
    return s;
}
WEFT__QUIET_INLINE_ weft_span weft__weft_span_begin_child_inl_(weft_span parent, const char *name, weft_span_type type)
{
    weft_span s;
    if (!weft__quiet_orphan_(parent, &s))
        s = weft_span_begin_child(parent, name, type);
    return s;
}
WEFT__QUIET_INLINE_ void weft__weft_span_end_inl_(weft_span s)
{
    if (!WEFT__SPAN_GONE_(s) && !weft__quiet_end_(s))
        weft_span_end(s);
}
WEFT__QUIET_INLINE_ void weft__weft_scope_end_inl_(weft_scope s)
{
    if (!WEFT__SPAN_GONE_(s))
        weft_scope_end(s);
}
WEFT__QUIET_SETTER_(weft_span_set_status, (weft_span s, weft_status st), (s, st))
WEFT__QUIET_SETTER_(weft_span_set_error, (weft_span s, const char *type, const char *msg), (s, type, msg))
WEFT__QUIET_SETTER_(weft_span_set_str, (weft_span s, weft_section sec, const char *k, const char *v),
                    (s, sec, k, v))
WEFT__QUIET_SETTER_(weft_span_set_strn,
                    (weft_span s, weft_section sec, const char *k, const char *v, size_t n),
                    (s, sec, k, v, n))
WEFT__QUIET_SETTER_(weft_span_set_i64, (weft_span s, weft_section sec, const char *k, int64_t v),
                    (s, sec, k, v))
WEFT__QUIET_SETTER_(weft_span_set_f64, (weft_span s, weft_section sec, const char *k, double v),
                    (s, sec, k, v))
WEFT__QUIET_SETTER_(weft_span_set_bool, (weft_span s, weft_section sec, const char *k, bool v),
                    (s, sec, k, v))
WEFT__QUIET_SETTER_(weft_span_set_json,
                    (weft_span s, weft_section sec, const char *k, const char *j, size_t n),
                    (s, sec, k, j, n))
WEFT__QUIET_SETTER_(weft_span_set_msgpack,
                    (weft_span s, weft_section sec, const char *k, const void *m, size_t n),
                    (s, sec, k, m, n))
WEFT__QUIET_SETTER_(weft_span_set_group_id, (weft_span s, const char *v), (s, v))
WEFT__QUIET_SETTER_(weft_span_set_application_variant_id, (weft_span s, const char *v), (s, v))
WEFT__QUIET_SETTER_(weft_span_set_application_interaction_id, (weft_span s, const char *v), (s, v))
WEFT__QUIET_SETTER_(weft_span_set_usage, (weft_span s, const weft_usage *u), (s, u))
WEFT__QUIET_SETTER_(weft_span_add_message, (weft_span s, weft_section sec, const weft_message *m),
                    (s, sec, m))
WEFT__QUIET_SETTER_(weft_span_set_trace_info, (weft_span s, const weft_trace_info *i), (s, i))
WEFT__QUIET_SETTER_(weft_span_add_event, (weft_span s, const char *n, const char *a), (s, n, a))
WEFT__QUIET_SETTER_(weft_span_set_retrieval, (weft_span s, const weft_retrieval_info *i), (s, i))
WEFT__QUIET_SETTER_(weft_span_set_generation, (weft_span s, const weft_generation_info *i), (s, i))
#undef WEFT__QUIET_SETTER_

/* Variadic, so that an argument with commas of its own (a compound literal) passes whole. */
#define weft_span_begin(...) weft__weft_span_begin_inl_(__VA_ARGS__)
#define weft__span_begin_site(...) weft__weft__span_begin_site_inl_(__VA_ARGS__)
#define weft_span_begin_child(...) weft__weft_span_begin_child_inl_(__VA_ARGS__)
#define weft_span_end(...) weft__weft_span_end_inl_(__VA_ARGS__)
#define weft_scope_end(...) weft__weft_scope_end_inl_(__VA_ARGS__)
#define weft_span_set_status(...) weft__weft_span_set_status_inl_(__VA_ARGS__)
#define weft_span_set_error(...) weft__weft_span_set_error_inl_(__VA_ARGS__)
#define weft_span_set_str(...) weft__weft_span_set_str_inl_(__VA_ARGS__)
#define weft_span_set_strn(...) weft__weft_span_set_strn_inl_(__VA_ARGS__)
#define weft_span_set_i64(...) weft__weft_span_set_i64_inl_(__VA_ARGS__)
#define weft_span_set_f64(...) weft__weft_span_set_f64_inl_(__VA_ARGS__)
#define weft_span_set_bool(...) weft__weft_span_set_bool_inl_(__VA_ARGS__)
#define weft_span_set_json(...) weft__weft_span_set_json_inl_(__VA_ARGS__)
#define weft_span_set_msgpack(...) weft__weft_span_set_msgpack_inl_(__VA_ARGS__)
#define weft_span_set_group_id(...) weft__weft_span_set_group_id_inl_(__VA_ARGS__)
#define weft_span_set_application_variant_id(...) weft__weft_span_set_application_variant_id_inl_(__VA_ARGS__)
#define weft_span_set_application_interaction_id(...) weft__weft_span_set_application_interaction_id_inl_(__VA_ARGS__)
#define weft_span_set_usage(...) weft__weft_span_set_usage_inl_(__VA_ARGS__)
#define weft_span_add_message(...) weft__weft_span_add_message_inl_(__VA_ARGS__)
#define weft_span_set_trace_info(...) weft__weft_span_set_trace_info_inl_(__VA_ARGS__)
#define weft_span_add_event(...) weft__weft_span_add_event_inl_(__VA_ARGS__)
#define weft_span_set_retrieval(...) weft__weft_span_set_retrieval_inl_(__VA_ARGS__)
#define weft_span_set_generation(...) weft__weft_span_set_generation_inl_(__VA_ARGS__)

#endif /* C, wrappers on */

#endif /* WEFT_QUIET_H */
