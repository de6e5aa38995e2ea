/*
 * quiet.h — calls that record nothing return inline, in the caller's code. Included by weft.h
 * (not on its own).
 *
 * A span begun while tracing is disabled, or inside a trace that head sampling dropped, is
 * marked in its private flags. Every call on a span tests that one mark here first:
 *
 *   WEFT__SPAN_QUIET_(s)  every setter: nothing will be recorded on s (disabled, sampled out,
 *                         or lost: its begin was dropped from a full ring)
 *   WEFT__SPAN_GONE_(s)   weft_span_end / weft_scope_end: not even the context stack needs it
 *                         (a sampled-out span begun with weft_span_begin still sits on its
 *                         thread's stack, so its end calls in)
 *
 * so such a call costs a load, a test and a branch, no call at all (DESIGN.md 8: <= 2 ns). In C
 * every span call below is a macro over a static inline wrapper; each argument is evaluated
 * exactly once. The library functions are still exported under the same names: a pointer to
 * weft_span_end, or `(weft_span_end)(s)`, reaches the library directly, and defining
 * WEFT_NO_INLINE_CALLS before including weft.h turns the wrappers off (the library's own
 * sources are built that way). C++ gets no macros (they would capture weft::Span's methods);
 * weft.hpp's classes make the same test inline before calling in.
 *
 * Threading and pointers: as the functions they wrap (weft.h).
 */
#ifndef WEFT_QUIET_H
#define WEFT_QUIET_H

/* flags is any non-zero mix of SAMPLED_OUT, OFF and LOST (1 to 7) / 2 or 3 (OFF): one compare
 * each. A handle with any other bit set is forged; it calls in, and the library counts it. */
#define WEFT__SPAN_QUIET_(s) ((uint32_t)((s).flags - 1u) < 7u)
#define WEFT__SPAN_GONE_(s) ((uint32_t)((s).flags - WEFT__SPAN_OFF) < 2u)

#if !defined(__cplusplus) && !defined(WEFT_NO_INLINE_CALLS)

/* One wrapper per setter: params is its parameter list, args the call passed on. */
#define WEFT__QUIET_SETTER_(fn, params, args)                                               \
    static inline void weft__##fn##_inl_ params                                             \
    {                                                                                        \
        if (!WEFT__SPAN_QUIET_(s))                                                           \
            fn args;                                                                         \
    }

static inline void weft__weft_span_end_inl_(weft_span s)
{
    if (!WEFT__SPAN_GONE_(s))
        weft_span_end(s);
}
static inline void weft__weft_scope_end_inl_(weft_scope s)
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

#define weft_span_end(s) weft__weft_span_end_inl_(s)
#define weft_scope_end(s) weft__weft_scope_end_inl_(s)
#define weft_span_set_status(s, st) weft__weft_span_set_status_inl_((s), (st))
#define weft_span_set_error(s, type, msg) weft__weft_span_set_error_inl_((s), (type), (msg))
#define weft_span_set_str(s, sec, k, v) weft__weft_span_set_str_inl_((s), (sec), (k), (v))
#define weft_span_set_strn(s, sec, k, v, n) weft__weft_span_set_strn_inl_((s), (sec), (k), (v), (n))
#define weft_span_set_i64(s, sec, k, v) weft__weft_span_set_i64_inl_((s), (sec), (k), (v))
#define weft_span_set_f64(s, sec, k, v) weft__weft_span_set_f64_inl_((s), (sec), (k), (v))
#define weft_span_set_bool(s, sec, k, v) weft__weft_span_set_bool_inl_((s), (sec), (k), (v))
#define weft_span_set_json(s, sec, k, j, n) weft__weft_span_set_json_inl_((s), (sec), (k), (j), (n))
#define weft_span_set_msgpack(s, sec, k, m, n) weft__weft_span_set_msgpack_inl_((s), (sec), (k), (m), (n))
#define weft_span_set_group_id(s, v) weft__weft_span_set_group_id_inl_((s), (v))
#define weft_span_set_application_variant_id(s, v) weft__weft_span_set_application_variant_id_inl_((s), (v))
#define weft_span_set_application_interaction_id(s, v)                                       \
    weft__weft_span_set_application_interaction_id_inl_((s), (v))
#define weft_span_set_usage(s, u) weft__weft_span_set_usage_inl_((s), (u))
#define weft_span_add_message(s, sec, m) weft__weft_span_add_message_inl_((s), (sec), (m))
#define weft_span_set_trace_info(s, i) weft__weft_span_set_trace_info_inl_((s), (i))
#define weft_span_add_event(s, n, a) weft__weft_span_add_event_inl_((s), (n), (a))
#define weft_span_set_retrieval(s, i) weft__weft_span_set_retrieval_inl_((s), (i))
#define weft_span_set_generation(s, i) weft__weft_span_set_generation_inl_((s), (i))

#endif /* C, wrappers on */

#endif /* WEFT_QUIET_H */
