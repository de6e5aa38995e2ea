/*
 * notrace.h — what weft.h declares when WEFT_NO_TRACING is defined: a static inline stand-in
 * for every public function (every WEFT_API name of weft.h) and every macro a zero span, so
 * instrumented code compiles away and links without libweft (tests/install/check.sh links
 * such a program with no -lweft). weft_strerror and weft_span_type_name keep their real
 * answers; weft_init returns 0 and weft_get_stats gives zeros; the weft_record_* calls (a
 * filter is never called) read as an empty record. Included by weft.h only.
 */
#ifndef WEFT_NOTRACE_H
#define WEFT_NOTRACE_H

#define WEFT_NT_ static inline __attribute__((unused))

WEFT_NT_ const char *weft_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define WEFT_NT_ERR_(name, code, msg) \
    case code:                        \
        return msg;
        WEFT_ERRNO_MAP(WEFT_NT_ERR_)
#undef WEFT_NT_ERR_
    default:
        return "unknown error";
    }
}
WEFT_NT_ const char *weft_span_type_name(weft_span_type type)
{
    static const char *const names[] = {
#define WEFT_NT_TYPE_(name) #name,
        WEFT_SPAN_TYPE_MAP(WEFT_NT_TYPE_)
#undef WEFT_NT_TYPE_
    };
    return (unsigned)type < sizeof(names) / sizeof(names[0]) ? names[type] : "CUSTOM";
}
WEFT_NT_ int weft_init(const weft_config *cfg) { (void)cfg; return 0; }
WEFT_NT_ int weft_init_sized(const weft_config *cfg, size_t n) { (void)cfg; (void)n; return 0; }
WEFT_NT_ int weft_flush(uint32_t t) { (void)t; return 0; }
WEFT_NT_ int weft_shutdown(uint32_t t) { (void)t; return 0; }
WEFT_NT_ int weft_thread_register(void) { return 0; }
WEFT_NT_ void weft_get_stats(weft_stats *out) { *out = (weft_stats){0}; }
WEFT_NT_ void weft_get_stats_sized(weft_stats *out, size_t n)
{
    for (size_t k = 0; k < n; k++)
        ((unsigned char *)out)[k] = 0;
}
WEFT_NT_ weft_span weft__span_begin_site(const weft_site *site) { (void)site; weft_span s = {0, 0, 0, 0, 0}; return s; }
WEFT_NT_ weft_span weft_nt_zero_(void) { weft_span s = {0, 0, 0, 0, 0}; return s; }
WEFT_NT_ weft_span weft_span_begin(const char *n, weft_span_type t) { (void)n; (void)t; return weft_nt_zero_(); }
WEFT_NT_ weft_span weft_span_begin_child(weft_span p, const char *n, weft_span_type t)
{
    (void)p; (void)n; (void)t;
    return weft_nt_zero_();
}
WEFT_NT_ weft_span weft_span_begin_remote(const char *tp, const char *ts, const char *n, weft_span_type t)
{
    (void)tp; (void)ts; (void)n; (void)t;
    return weft_nt_zero_();
}
WEFT_NT_ int weft_traceparent_format(weft_span s, char *buf, size_t len)
{
    (void)s;
    if (buf && len)
        buf[0] = '\0';
    return WEFT_EINVAL;
}
WEFT_NT_ int weft_traceparent_header(weft_span s, char *buf, size_t len) { return weft_traceparent_format(s, buf, len); }
WEFT_NT_ void weft_span_end(weft_span s) { (void)s; }
WEFT_NT_ weft_span weft_current_span(void) { return weft_nt_zero_(); }
WEFT_NT_ bool weft_span_is_valid(weft_span s) { (void)s; return false; }
WEFT_NT_ weft_scope weft_span_activate(weft_span s) { (void)s; weft_scope z = {0, 0, 0}; return z; }
WEFT_NT_ void weft_scope_end(weft_scope s) { (void)s; }
WEFT_NT_ int weft_span_get_ids(weft_span s, weft_ids *o) { (void)s; (void)o; return -6; /* WEFT_EDISABLED */ }
WEFT_NT_ void weft_span_set_status(weft_span s, weft_status st) { (void)s; (void)st; }
WEFT_NT_ void weft_span_set_error(weft_span s, const char *t, const char *m) { (void)s; (void)t; (void)m; }
WEFT_NT_ void weft_span_set_str(weft_span s, weft_section c, const char *k, const char *v)
{
    (void)s; (void)c; (void)k; (void)v;
}
WEFT_NT_ void weft_span_set_strn(weft_span s, weft_section c, const char *k, const char *v, size_t n)
{
    (void)s; (void)c; (void)k; (void)v; (void)n;
}
WEFT_NT_ void weft_span_set_i64(weft_span s, weft_section c, const char *k, int64_t v) { (void)s; (void)c; (void)k; (void)v; }
WEFT_NT_ void weft_span_set_f64(weft_span s, weft_section c, const char *k, double v) { (void)s; (void)c; (void)k; (void)v; }
WEFT_NT_ void weft_span_set_bool(weft_span s, weft_section c, const char *k, bool v) { (void)s; (void)c; (void)k; (void)v; }
WEFT_NT_ void weft_span_set_msgpack(weft_span s, weft_section c, const char *k, const void *m, size_t n)
{
    (void)s; (void)c; (void)k; (void)m; (void)n;
}
WEFT_NT_ void weft_span_set_json(weft_span s, weft_section c, const char *k, const char *j, size_t n)
{
    (void)s; (void)c; (void)k; (void)j; (void)n;
}
WEFT_NT_ void weft_span_set_group_id(weft_span s, const char *v) { (void)s; (void)v; }
WEFT_NT_ void weft_span_set_application_variant_id(weft_span s, const char *v) { (void)s; (void)v; }
WEFT_NT_ void weft_span_set_application_interaction_id(weft_span s, const char *v) { (void)s; (void)v; }
WEFT_NT_ void weft_span_set_usage(weft_span s, const weft_usage *u) { (void)s; (void)u; }
WEFT_NT_ void weft_span_add_message(weft_span s, weft_section c, const weft_message *m) { (void)s; (void)c; (void)m; }
WEFT_NT_ void weft_span_set_trace_info(weft_span s, const weft_trace_info *i) { (void)s; (void)i; }
WEFT_NT_ void weft_span_add_event(weft_span s, const char *n, const char *a) { (void)s; (void)n; (void)a; }
WEFT_NT_ void weft_span_set_retrieval(weft_span s, const weft_retrieval_info *i) { (void)s; (void)i; }
WEFT_NT_ void weft_span_set_generation(weft_span s, const weft_generation_info *i) { (void)s; (void)i; }

WEFT_NT_ const char *weft_record_name(const weft_record *r, size_t *len)
{
    (void)r;
    if (len)
        *len = 0;
    return "";
}
WEFT_NT_ weft_span_type weft_record_type(const weft_record *r) { (void)r; return WEFT_TYPE_CUSTOM; }
WEFT_NT_ weft_status weft_record_status(const weft_record *r) { (void)r; return WEFT_STATUS_SUCCESS; }
WEFT_NT_ bool weft_record_in_progress(const weft_record *r) { (void)r; return false; }
WEFT_NT_ bool weft_record_is_root(const weft_record *r) { (void)r; return false; }
WEFT_NT_ const char *weft_record_get(const weft_record *r, weft_section c, const char *k, size_t *len)
{
    (void)r; (void)c; (void)k;
    if (len)
        *len = 0;
    return NULL;
}
WEFT_NT_ void weft_record_set_json(weft_record *r, weft_section c, const char *k, const char *j, size_t n)
{
    (void)r; (void)c; (void)k; (void)j; (void)n;
}
WEFT_NT_ void weft_record_set_str(weft_record *r, weft_section c, const char *k, const char *v)
{
    (void)r; (void)c; (void)k; (void)v;
}
WEFT_NT_ void weft_record_remove(weft_record *r, weft_section c, const char *k) { (void)r; (void)c; (void)k; }
WEFT_NT_ void weft_record_set_name(weft_record *r, const char *n) { (void)r; (void)n; }

#define WEFT_SPAN_BEGIN(var, name, type) weft_span var = weft_nt_zero_()
#define WEFT_SPAN_END(var) ((void)(var))
#define WEFT_SPAN_SCOPED(var, name, type) weft_span var __attribute__((unused)) = weft_nt_zero_()

#endif
