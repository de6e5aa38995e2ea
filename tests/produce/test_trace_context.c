/*
 * test_trace_context.c — W3C trace context across processes (src/produce/trace_context.c,
 * weft_span_begin_remote in src/produce/span.c, the id derivation in src/codec/encode.c),
 * through the in-memory exporter: the header a span gives, a span joined to a remote parent,
 * the sampled flag, malformed headers, and two weft runs with different salts (what two
 * processes are to the id derivation) producing one trace.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "weft/curl_traceparent.h"
#include "weft/weft.h"
#include "weft_test.h"

#define TRACE_HEX "4bf92f3577b34da6a3ce929d0e0e4736"
#define PARENT_HEX "00f067aa0ba902b7"
#define HEADER "00-" TRACE_HEX "-" PARENT_HEX "-01"

/* The UUID text of the 128-bit value hi:lo with the RFC 4122 version 4 and variant bits set,
 * written here independently of the library's writer. */
static void uuid_of(uint64_t hi, uint64_t lo, char out[37])
{
    hi = (hi & ~UINT64_C(0xF000)) | UINT64_C(0x4000);
    lo = (lo & ~(UINT64_C(3) << 62)) | (UINT64_C(2) << 62);
    snprintf(out, 37, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64, hi >> 32,
             (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48, lo & UINT64_C(0xffffffffffff));
}

static uint64_t hex64(const char *s)
{
    uint64_t v = 0;
    sscanf(s, "%16" SCNx64, &v);
    return v;
}

/* The SGP ids a span of W3C trace `trace_hex` with W3C span id `span_hex` must carry. */
static void expect_ids(json_t *rec, const char *trace_hex, const char *span_hex)
{
    char want[37];
    uint64_t hi = hex64(trace_hex), lo = hex64(trace_hex + 16), id = hex64(span_hex);
    cr_expect_str_eq(wt_str(rec, "obs_trace_id"), trace_hex);
    cr_expect_str_eq(wt_str(rec, "obs_span_id"), span_hex);
    uuid_of(hi, lo, want);
    cr_expect_str_eq(wt_str(rec, "trace_id"), want, "trace_id is the UUID of the W3C trace id");
    uuid_of(id, lo, want);
    cr_expect_str_eq(wt_str(rec, "id"), want, "id is the UUID of span id : trace id low half");
}

static void expect_parent(json_t *rec, const char *trace_hex, const char *parent_span_hex)
{
    char want[37];
    uuid_of(hex64(parent_span_hex), hex64(trace_hex + 16), want);
    cr_expect_str_eq(wt_str(rec, "parent_id"), want);
}

Test(trace_context, a_local_span_names_its_own_w3c_ids_in_its_header)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span root = weft_span_begin("request", WEFT_TYPE_TRACER);
    weft_span child = weft_span_begin("call", WEFT_TYPE_EXTERNAL_ENDPOINT);
    char tp[56], tpc[56], line[69];
    cr_assert_eq(weft_traceparent_format(root, tp, sizeof tp), 55);
    cr_assert_eq(weft_traceparent_format(child, tpc, sizeof tpc), 55);
    cr_assert_eq(weft_traceparent_header(child, line, sizeof line), 68);
    cr_expect_eq(strncmp(line, "traceparent: ", 13), 0);
    cr_expect_str_eq(line + 13, tpc);
    weft_span_end(child);
    weft_span_end(root);
    json_t *recs = wt_records_after_shutdown();
    json_t *r = wt_find(recs, "request"), *c = wt_find(recs, "call");
    cr_assert(r && c);
    char want[56];
    snprintf(want, sizeof want, "00-%s-%s-01", wt_str(r, "obs_trace_id"), wt_str(r, "obs_span_id"));
    cr_expect_str_eq(tp, want);
    snprintf(want, sizeof want, "00-%s-%s-01", wt_str(c, "obs_trace_id"), wt_str(c, "obs_span_id"));
    cr_expect_str_eq(tpc, want);
    /* The derivation holds for spans of this process too. */
    expect_ids(r, wt_str(r, "obs_trace_id"), wt_str(r, "obs_span_id"));
    expect_ids(c, wt_str(c, "obs_trace_id"), wt_str(c, "obs_span_id"));
    json_decref(recs);
}

Test(trace_context, a_remote_parent_puts_the_span_in_the_callers_trace)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span h = weft_span_begin_remote(HEADER, "rojo=00f067aa0ba902b7", "handler", WEFT_TYPE_TRACER);
    cr_assert(weft_span_is_valid(h));
    weft_span cur = weft_current_span();
    cr_expect(cur.id == h.id, "the remote span becomes current");
    weft_span db = weft_span_begin("db", WEFT_TYPE_CUSTOM);
    weft_span other = weft_span_begin_child(db, "other thread", WEFT_TYPE_CUSTOM);
    char tp[56];
    cr_assert_eq(weft_traceparent_format(db, tp, sizeof tp), 55);
    cr_expect_eq(strncmp(tp, "00-" TRACE_HEX "-", 36), 0, "%s", tp);
    weft_span_end(other);
    weft_span_end(db);
    weft_span_end(h);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 3);
    json_t *rh = wt_find(recs, "handler"), *rd = wt_find(recs, "db"), *ro = wt_find(recs, "other thread");
    cr_assert(rh && rd && ro);
    expect_ids(rh, TRACE_HEX, wt_str(rh, "obs_span_id"));
    expect_parent(rh, TRACE_HEX, PARENT_HEX);
    expect_ids(rd, TRACE_HEX, wt_str(rd, "obs_span_id"));
    cr_expect_str_eq(wt_str(rd, "parent_id"), wt_str(rh, "id"));
    expect_ids(ro, TRACE_HEX, wt_str(ro, "obs_span_id"));
    cr_expect_str_eq(wt_str(ro, "parent_id"), wt_str(rd, "id"));
    char want[56];
    snprintf(want, sizeof want, "00-%s-%s-01", TRACE_HEX, wt_str(rd, "obs_span_id"));
    cr_expect_str_eq(tp, want);
    /* The span begun from the header is this process's root: it carries the trace summary. */
    json_t *count = wt_path(rh, "metadata.trace_summary.span_count");
    cr_assert_not_null(count, "the remote span's record has a trace summary");
    cr_expect_eq(json_number_value(count), 3);
    cr_expect_null(wt_path(rd, "metadata.trace_summary"));
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.bad_traceparent, 0);
    cr_expect_eq(st.exported, 3);
    cr_expect_eq(st.internal_errors, 0);
}

Test(trace_context, a_future_version_header_is_joined_too)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span h = weft_span_begin_remote("cc-" TRACE_HEX "-" PARENT_HEX "-01-future-field", NULL, "h",
                                         WEFT_TYPE_TRACER);
    weft_span_end(h);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 1);
    expect_parent(json_array_get(recs, 0), TRACE_HEX, PARENT_HEX);
    json_decref(recs);
}

Test(trace_context, an_unsampled_header_records_nothing_and_passes_the_decision_on)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span h = weft_span_begin_remote("00-" TRACE_HEX "-" PARENT_HEX "-00", NULL, "handler", WEFT_TYPE_TRACER);
    cr_expect_not(weft_span_is_valid(h));
    weft_span inner = weft_span_begin("inner", WEFT_TYPE_CUSTOM);
    cr_expect_not(weft_span_is_valid(inner));
    char tp[56];
    cr_assert_eq(weft_traceparent_format(inner, tp, sizeof tp), 55);
    cr_expect_eq(strncmp(tp, "00-" TRACE_HEX "-", 36), 0, "%s", tp);
    cr_expect_str_eq(tp + 52, "-00", "an unsampled trace stays unsampled downstream");
    weft_span_end(inner);
    weft_span_end(h);
    /* The context is back to empty: the next span is a new, recorded root. */
    weft_span next = weft_span_begin("next", WEFT_TYPE_CUSTOM);
    cr_expect(weft_span_is_valid(next));
    weft_span_end(next);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 1);
    cr_expect_null(json_object_get(json_array_get(recs, 0), "parent_id"));
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.sampled_out, 1);
    cr_expect_eq(st.noop_calls, 0);
}

Test(trace_context, a_sampled_header_is_recorded_whatever_the_local_ratio)
{
    weft_config c = {0};
    c.sample_ratio = 1e-12;
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span h = weft_span_begin_remote(HEADER, NULL, "handler", WEFT_TYPE_TRACER);
    cr_expect(weft_span_is_valid(h));
    weft_span_end(h);
    json_t *recs = wt_records_after_shutdown();
    cr_expect_eq(json_array_size(recs), 1);
    json_decref(recs);
}

Test(trace_context, a_malformed_header_starts_a_new_trace_and_is_counted)
{
    static const char *const bad[] = {
        "ff-" TRACE_HEX "-" PARENT_HEX "-01",                      /* version ff */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-" PARENT_HEX "-01",  /* upper case */
        "00-00000000000000000000000000000000-" PARENT_HEX "-01",  /* zero trace id */
        "00-" TRACE_HEX "-0000000000000000-01",                    /* zero parent id */
        "00-" TRACE_HEX "-" PARENT_HEX "-1",                       /* short flags */
        "00-" TRACE_HEX "1-" PARENT_HEX "-01",                     /* long trace id */
        "00-" TRACE_HEX "-" PARENT_HEX "-01-extra",                /* 00 with more */
        "garbage",
    };
    size_t n = sizeof bad / sizeof bad[0];
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span outer = weft_span_begin("outer", WEFT_TYPE_CUSTOM);
    for (size_t i = 0; i < n; i++) {
        weft_span s = weft_span_begin_remote(bad[i], "foo=1", "fresh", WEFT_TYPE_TRACER);
        cr_expect(weft_span_is_valid(s));
        weft_span_end(s);
    }
    /* No header is not a malformed one. */
    weft_span_end(weft_span_begin_remote(NULL, NULL, "none", WEFT_TYPE_TRACER));
    weft_span_end(weft_span_begin_remote("", NULL, "empty", WEFT_TYPE_TRACER));
    weft_span_end(outer);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), n + 3);
    size_t i;
    json_t *it;
    json_array_foreach(recs, i, it)
    {
        if (strcmp(wt_str(it, "name"), "outer") == 0)
            continue;
        cr_expect_null(json_object_get(it, "parent_id"), "%s: a new root, not a child of outer",
                       wt_str(it, "name"));
        cr_expect_str_neq(wt_str(it, "obs_trace_id"), TRACE_HEX);
    }
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.bad_traceparent, n);
}

Test(trace_context, two_runs_with_different_salts_make_one_trace)
{
    /* Run 1 plays the calling process: a root and the header it sends. */
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span client = weft_span_begin("client request", WEFT_TYPE_TRACER);
    char tp[56];
    cr_assert_eq(weft_traceparent_format(client, tp, sizeof tp), 55);
    weft_span_end(client);
    json_t *first = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(first), 1);
    json_t *rc = json_array_get(first, 0);

    /* Run 2 (a new salt, as in another process) receives the header. */
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span server = weft_span_begin_remote(tp, NULL, "server handler", WEFT_TYPE_TRACER);
    weft_span work = weft_span_begin("work", WEFT_TYPE_CUSTOM);
    weft_span_end(work);
    weft_span_end(server);
    json_t *second = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(second), 2);
    json_t *rs = wt_find(second, "server handler"), *rw = wt_find(second, "work");
    cr_assert(rs && rw);
    cr_expect_str_eq(wt_str(rs, "trace_id"), wt_str(rc, "trace_id"));
    cr_expect_str_eq(wt_str(rw, "trace_id"), wt_str(rc, "trace_id"));
    cr_expect_str_eq(wt_str(rs, "parent_id"), wt_str(rc, "id"));
    cr_expect_str_eq(wt_str(rw, "parent_id"), wt_str(rs, "id"));
    cr_expect_str_eq(wt_str(rs, "obs_trace_id"), wt_str(rc, "obs_trace_id"));
    cr_expect_str_eq(wt_str(rw, "obs_trace_id"), wt_str(rc, "obs_trace_id"));
    cr_expect_str_neq(wt_str(rs, "id"), wt_str(rc, "id"));
    json_decref(first);
    json_decref(second);
}

Test(trace_context, format_refuses_the_zero_span_and_short_buffers)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span zero = {0, 0, 0, 0, 0};
    char buf[80] = "x";
    cr_expect_eq(weft_traceparent_format(zero, buf, sizeof buf), WEFT_EINVAL);
    cr_expect_str_eq(buf, "");
    weft_span s = weft_span_begin("s", WEFT_TYPE_CUSTOM);
    buf[0] = 'x';
    cr_expect_eq(weft_traceparent_format(s, buf, 55), WEFT_EINVAL);
    cr_expect_str_eq(buf, "");
    cr_expect_eq(weft_traceparent_header(s, buf, 68), WEFT_EINVAL);
    cr_expect_eq(weft_traceparent_format(s, NULL, 100), WEFT_EINVAL);
    cr_expect_eq(weft_traceparent_format(s, buf, 56), 55);
    weft_span_end(s);
    cr_assert_eq(weft_shutdown(5000), 0);
}

Test(trace_context, the_curl_helper_appends_the_header_line)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span s = weft_span_begin("s", WEFT_TYPE_CUSTOM);
    char line[69];
    cr_assert_eq(weft_traceparent_header(s, line, sizeof line), 68);
    struct curl_slist *l = curl_slist_append(NULL, "Accept: */*");
    l = weft_curl_add_traceparent(l, s);
    cr_assert_not_null(l->next);
    cr_expect_str_eq(l->next->data, line);
    weft_span zero = {0, 0, 0, 0, 0};
    struct curl_slist *same = weft_curl_add_traceparent(l, zero);
    cr_expect(same == l && l->next->next == NULL, "the zero span adds nothing");
    cr_expect_null(weft_curl_add_traceparent(NULL, zero));
    curl_slist_free_all(l);
    weft_span_end(s);
    cr_assert_eq(weft_shutdown(5000), 0);
}

static int roots_seen, children_seen;

static bool count_roots(void *user, weft_record *rec)
{
    (void)user;
    size_t n;
    const char *name = weft_record_name(rec, &n);
    if (weft_record_is_root(rec))
        roots_seen += (n == 7 && memcmp(name, "handler", 7) == 0);
    else
        children_seen++;
    return true;
}

Test(trace_context, the_span_begun_from_a_header_is_a_root_to_the_filter)
{
    weft_config c = {0};
    c.filter = count_roots;
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span h = weft_span_begin_remote(HEADER, NULL, "handler", WEFT_TYPE_TRACER);
    weft_span_end(weft_span_begin("child", WEFT_TYPE_CUSTOM));
    weft_span_end(h);
    cr_assert_eq(weft_shutdown(5000), 0);
    cr_expect_eq(roots_seen, 1);
    cr_expect_eq(children_seen, 1);
}

static void *child_under_activated(void *p)
{
    weft_span remote = *(weft_span *)p;
    weft_scope sc = weft_span_activate(remote);
    weft_span_end(weft_span_begin("on another thread", WEFT_TYPE_CUSTOM));
    weft_scope_end(sc);
    return NULL;
}

Test(trace_context, ids_and_activation_keep_the_remote_trace)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span h = weft_span_begin_remote(HEADER, NULL, "handler", WEFT_TYPE_TRACER);
    weft_ids ids;
    cr_assert_eq(weft_span_get_ids(h, &ids), 0);
    cr_expect_str_eq(ids.w3c_trace_id, TRACE_HEX);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, child_under_activated, &h), 0);
    pthread_join(th, NULL);
    weft_span_end(h);
    json_t *recs = wt_records_after_shutdown();
    json_t *rh = wt_find(recs, "handler"), *ro = wt_find(recs, "on another thread");
    cr_assert(rh && ro);
    cr_expect_str_eq(ids.trace_id, wt_str(rh, "trace_id"));
    cr_expect_str_eq(ids.span_id, wt_str(rh, "id"));
    cr_expect_str_eq(ids.w3c_span_id, wt_str(rh, "obs_span_id"));
    expect_ids(ro, TRACE_HEX, wt_str(ro, "obs_span_id"));
    cr_expect_str_eq(wt_str(ro, "parent_id"), wt_str(rh, "id"));
    json_decref(recs);
}
