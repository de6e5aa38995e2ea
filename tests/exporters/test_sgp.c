/*
 * test_sgp.c — delivery through the whole library to the in-process SGP receiver
 * (tests/support/receiver.h) on 127.0.0.1: weft_init with the "sgp" exporter and api key
 * "test-key", spans produced by application threads, faults injected by the receiver.
 *
 * What is checked is what DESIGN.md section 7 promises: every span arrives exactly once as
 * completed with its parent through 503s, resets and an outage shorter than the retry window; a
 * poisoned span is the only one lost in its batch; 413 shrinks requests without loss; 401
 * pauses without a storm; shutdown with the receiver down returns and counts what it could not
 * deliver; the API key never goes over plain http:// to a non-loopback host and never reaches
 * the log. Every test ends with weft_shutdown and a stats check. No duration is asserted.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <poll.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "log_capture.h"
#include "receiver.h"
#include "runtime.h"
#include "weft/weft.h"

#define KEY "test-key"


/* ---- setup ---------------------------------------------------------------------------------- */

static weft_config base_cfg(weft_rx *rx)
{
    weft_config c = {0};
    c.exporters = "sgp";
    c.sgp_base_url = rx ? weft_rx_url(rx) : NULL;
    c.sgp_api_key = KEY;
    c.sgp_account_id = "acct-1";
    c.flush_interval_ms = 20;
    c.no_atexit = true;
    c.log = wt_log_capture;
    c.log_level = WEFT_LOG_INFO;
    c.inprogress_after_ms = WEFT_INPROGRESS_NEVER;
    c.retry_window_ms = 60000;
    /* 16 MiB rings: on a loaded 2-core machine (sanitizers, parallel suites) the default 1 MiB
     * ring can overflow, and ring overflow is not what this suite tests. Every test checks
     * dropped_ring == 0 so that a loss is never blamed on the exporter. */
    c.ring_bytes = 16u << 20;
    return c;
}

static weft_rx *rx_start(const char *api_key)
{
    weft_rx_opts o = {.api_key = api_key};
    weft_rx *rx = weft_rx_start(&o);
    cr_assert(rx, "receiver did not start");
    return rx;
}

static weft_stats stats(void)
{
    weft_stats s;
    weft_get_stats(&s);
    return s;
}

/* The key must never reach the log, whatever happened. */
static void check_log_clean(void) { cr_expect_eq(wt_log_count(KEY), 0, "the API key reached the log"); }

/* The id text weft sends for a span (encode.c: weft__json_uuid(id, salt)). */
static void span_uuid(weft_span sp, char out[40])
{
    weft__buf b;
    weft__buf_init(&b);
    weft__json_uuid(&b, sp.id, weft__rt.salt_hi);
    cr_assert_eq(b.len, 38);
    memcpy(out, b.data + 1, 36);
    out[36] = '\0';
    weft__buf_fini(&b);
}

/* ---- a multi-thread workload with checkable parents ----------------------------------------- */

#define SPANS_PER_TRACE 10 /* a root and 9 children */

typedef struct producer {
    int thread;
    int traces;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    char name[64];
    for (int t = 0; t < p->traces; t++) {
        snprintf(name, sizeof name, "t%d-r%d", p->thread, t);
        weft_span root = weft_span_begin(name, WEFT_TYPE_AGENT_WORKFLOW);
        for (int c = 1; c < SPANS_PER_TRACE; c++) {
            snprintf(name, sizeof name, "t%d-r%d-c%d", p->thread, t, c);
            weft_span ch = weft_span_begin(name, WEFT_TYPE_COMPLETION);
            weft_span_set_i64(ch, WEFT_METADATA, "n", c);
            weft_span_end(ch);
        }
        weft_span_end(root);
        /* A modest pace (and a large ring, below) keeps the rings from overflowing on a busy
         * 2-core machine: ring overflow is not what this suite is about. */
        if (t % 5 == 4)
            usleep(1000);
    }
    return NULL;
}

typedef struct workload {
    int threads, traces;
} workload;

static void run_producers(int threads, int traces_each);

static void *run_workload(void *arg)
{
    workload *w = arg;
    run_producers(w->threads, w->traces);
    return NULL;
}

static void run_producers(int threads, int traces_each)
{
    pthread_t th[16];
    producer p[16];
    cr_assert_leq(threads, 16);
    for (int i = 0; i < threads; i++) {
        p[i] = (producer){i, traces_each};
        cr_assert_eq(pthread_create(&th[i], NULL, produce, &p[i]), 0);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
}

typedef struct audit {
    json_t *by_name; /* name -> item */
    size_t items, not_completed, duplicates, upserted_twice;
} audit;

static void collect(const json_t *item, size_t upserts, bool completed, void *ud)
{
    audit *a = ud;
    a->items++;
    if (!completed)
        a->not_completed++;
    if (upserts > 1)
        a->upserted_twice++;
    const char *name = json_string_value(json_object_get(item, "name"));
    if (!name)
        return;
    if (json_object_get(a->by_name, name))
        a->duplicates++;
    json_object_set(a->by_name, name, (json_t *)item);
}

/* Every span of the workload stored once, completed, each child under its root's id and trace. */
static void check_workload(weft_rx *rx, int threads, int traces_each)
{
    audit a = {.by_name = json_object()};
    weft_rx_foreach(rx, collect, &a);
    size_t expected = (size_t)threads * (size_t)traces_each * SPANS_PER_TRACE;
    cr_expect_eq(a.items, expected, "stored %zu spans, expected %zu", a.items, expected);
    cr_expect_eq(a.not_completed, 0);
    cr_expect_eq(a.duplicates, 0);
    cr_expect_eq(json_object_size(a.by_name), expected);
    size_t bad_parents = 0, missing = 0;
    char name[64];
    for (int t = 0; t < threads; t++) {
        for (int r = 0; r < traces_each; r++) {
            snprintf(name, sizeof name, "t%d-r%d", t, r);
            json_t *root = json_object_get(a.by_name, name);
            if (!root) {
                missing++;
                continue;
            }
            if (json_object_get(root, "parent_id") && !json_is_null(json_object_get(root, "parent_id")))
                bad_parents++;
            const char *rid = json_string_value(json_object_get(root, "id"));
            const char *rtr = json_string_value(json_object_get(root, "trace_id"));
            for (int c = 1; c < SPANS_PER_TRACE; c++) {
                snprintf(name, sizeof name, "t%d-r%d-c%d", t, r, c);
                json_t *ch = json_object_get(a.by_name, name);
                if (!ch) {
                    missing++;
                    continue;
                }
                const char *pid = json_string_value(json_object_get(ch, "parent_id"));
                const char *tr = json_string_value(json_object_get(ch, "trace_id"));
                if (!pid || !rid || strcmp(pid, rid) != 0 || !tr || !rtr || strcmp(tr, rtr) != 0)
                    bad_parents++;
            }
        }
    }
    cr_expect_eq(missing, 0, "%zu spans missing", missing);
    cr_expect_eq(bad_parents, 0, "%zu spans with a wrong parent", bad_parents);
    json_decref(a.by_name);
}

/* Single-thread helper: n root spans named prefix-i, returned in out (may be NULL). */
static void make_spans(const char *prefix, int n, weft_span *out, size_t attr_bytes)
{
    char name[64];
    char *attr = NULL;
    if (attr_bytes) {
        attr = malloc(attr_bytes + 1);
        memset(attr, 'v', attr_bytes);
        attr[attr_bytes] = '\0';
    }
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s-%d", prefix, i);
        weft_span s = weft_span_begin(name, WEFT_TYPE_CUSTOM);
        if (attr)
            weft_span_set_str(s, WEFT_INPUT, "payload", attr);
        if (out)
            out[i] = s;
        weft_span_end(s);
        if (i % 200 == 199)
            usleep(1000);
    }
    free(attr);
}

typedef struct find_ctx {
    const char *id;
    const json_t *found;
} find_ctx;

static void find_id(const json_t *item, size_t upserts, bool completed, void *ud)
{
    find_ctx *f = ud;
    (void)upserts;
    (void)completed;
    const char *id = json_string_value(json_object_get(item, "id"));
    if (id && !strcmp(id, f->id))
        f->found = item;
}

/* ---- tests ---------------------------------------------------------------------------------- */

Test(sgp, sends_the_headers_the_api_expects)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_config c = base_cfg(rx);
    cr_assert_eq(weft_init(&c), 0);
    make_spans("h", 3, NULL, 0);
    cr_expect_eq(weft_flush(10000), 0);
    char v[128];
    cr_expect(weft_rx_last_header(rx, "x-api-key", v, sizeof v));
    cr_expect_str_eq(v, KEY);
    cr_expect(weft_rx_last_header(rx, "x-selected-account-id", v, sizeof v));
    cr_expect_str_eq(v, "acct-1");
    cr_expect(weft_rx_last_header(rx, "content-type", v, sizeof v));
    cr_expect_str_eq(v, "application/json");
    cr_expect(weft_rx_last_header(rx, "user-agent", v, sizeof v));
    cr_expect_str_eq(v, "weft/" WEFT_VERSION_STRING);
    cr_expect_eq(weft_rx_completed(rx), 3);
    cr_expect_eq(weft_shutdown(5000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.exported, 3);
    cr_expect_eq(s.dropped_export + s.dropped_queue + s.rejected, 0);
    cr_expect_eq(s.queued, 0);
    cr_expect_geq(s.requests, 1);
    check_log_clean();
    weft_rx_stop(rx);
}

Test(sgp, delivers_100000_spans_from_several_threads_exactly_once_through_faults, .timeout = 300)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_config c = base_cfg(rx);
    cr_assert_eq(weft_init(&c), 0);
    /* Short server-given waits keep the test quick; the backoff itself is tested in
     * test_retry. */
    weft_rx_set_retry_after_ms(rx, 20);
    weft_rx_fail_next(rx, 503, 6, "1");
    weft_rx_drop_next(rx, 4);

    pthread_t bg;
    workload w = {4, 2500}; /* 4 threads x 2500 traces x 10 spans = 100,000 */
    /* Producers run in the background while the receiver misbehaves. */
    cr_assert_eq(pthread_create(&bg, NULL, run_workload, &w), 0);
    usleep(200 * 1000);
    /* The outage below must not start before the 503s armed above were answered: on a slow
     * build (ASan) the first request can come later than 200 ms, and then the outage and the
     * faults armed after it would take their place. Waits at most 30 s. */
    for (int i = 0; i < 3000 && weft_rx_status_count(rx, 503) < 1; i++)
        usleep(10 * 1000);
    /* A stretch of total outage, far shorter than the retry window (60 s). */
    weft_rx_set_outage(rx, true);
    usleep(1500 * 1000);
    weft_rx_set_outage(rx, false);
    weft_rx_fail_next(rx, 429, 3, NULL);
    weft_rx_drop_next(rx, 2);
    pthread_join(bg, NULL);

    cr_expect_eq(weft_flush(120000), 0);
    check_workload(rx, w.threads, w.traces);
    cr_expect_eq(weft_shutdown(10000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.ended, 100000);
    cr_expect_eq(s.exported, 100000);
    cr_expect_eq(s.dropped_export + s.dropped_queue + s.rejected, 0);
    cr_expect_geq(s.retried, 1, "the faults were not retried");
    cr_expect_eq(s.queued, 0);
    cr_expect_geq(weft_rx_status_count(rx, 503), 1);
    cr_expect_geq(weft_rx_status_count(rx, 0), 1, "no connection was dropped");
    check_log_clean();
    weft_rx_stop(rx);
}

Test(sgp, loses_only_the_poisoned_span_of_its_batch)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_config c = base_cfg(rx);
    c.flush_interval_ms = 60000; /* one batch: everything goes at the flush below */
    cr_assert_eq(weft_init(&c), 0);
    weft_span sp[300];
    make_spans("p", 300, sp, 0);
    char id[40];
    span_uuid(sp[137], id);
    weft_rx_poison(rx, id);
    cr_expect_eq(weft_flush(30000), WEFT_EEXPORT);
    cr_expect_eq(weft_rx_count(rx), 299);
    cr_expect_eq(weft_rx_completed(rx), 299);
    find_ctx fc = {id, NULL};
    weft_rx_foreach(rx, find_id, &fc);
    cr_expect_null(fc.found);
    /* Bisection costs about two requests per halving: log2(300) < 9 levels. */
    cr_expect_leq(weft_rx_status_count(rx, 422), 2 * 9 + 1);
    cr_expect_eq(wt_log_count("rejected span"), 1);
    char needle[64];
    snprintf(needle, sizeof needle, "rejected span %s", id);
    cr_expect_eq(wt_log_count(needle), 1, "the log does not name the rejected span as sent");
    cr_expect_geq(wt_log_count("poisoned"), 1, "the server's detail was not logged");
    cr_expect_eq(weft_shutdown(5000), WEFT_EEXPORT); /* spans of the run were lost */
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.rejected, 1);
    cr_expect_eq(s.dropped_export, 1);
    cr_expect_eq(s.exported, 299);
    cr_expect_eq(s.dropped_queue, 0);
    cr_expect_eq(s.queued, 0);
    check_log_clean();
    weft_rx_stop(rx);
}

Test(sgp, answers_413_with_smaller_requests_not_loss)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_rx_set_max_body(rx, 32 * 1024);
    weft_config c = base_cfg(rx);
    c.flush_interval_ms = 200;
    cr_assert_eq(weft_init(&c), 0);
    make_spans("big", 3000, NULL, 300); /* about 600 bytes per record: ~600 KB per 1000 */
    cr_expect_eq(weft_flush(60000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_assert_eq(s.dropped_ring, 0);
    cr_expect_eq(weft_rx_completed(rx), 3000);
    size_t n413 = weft_rx_status_count(rx, 413);
    cr_expect_geq(n413, 1);
    /* 600 KB down to 32 KB is 5 halvings; requests in flight together (4) may each meet the
     * same level once. */
    cr_expect_leq(n413, 4 * 6, "%zu 413 answers", n413);
    /* The budget stays shrunk: a second wave is cut small before it is sent. */
    make_spans("again", 3000, NULL, 300);
    cr_expect_eq(weft_flush(60000), 0);
    cr_expect_eq(weft_rx_completed(rx), 6000);
    cr_expect_eq(weft_rx_status_count(rx, 413), n413, "the shrunk budget did not stick");
    cr_expect_eq(weft_shutdown(5000), 0);
    s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.exported, 6000);
    cr_expect_eq(s.dropped_export + s.dropped_queue + s.rejected, 0);
    cr_expect_eq(s.queued, 0);
    check_log_clean();
    weft_rx_stop(rx);
}

Test(sgp, pauses_on_401_without_a_retry_storm)
{
    wt_log_reset();
    weft_rx *rx = rx_start("another-key"); /* every request answered 401 */
    weft_config c = base_cfg(rx);
    c.max_inflight = 4;
    cr_assert_eq(weft_init(&c), 0);
    make_spans("a", 2000, NULL, 0);
    /* Two seconds of refusals: a storm would be hundreds of requests. */
    cr_expect_eq(weft_flush(2000), WEFT_ETIMEDOUT);
    size_t req = weft_rx_requests(rx);
    cr_expect_geq(req, 1);
    cr_expect_leq(req, 4, "%zu requests while paused", req);
    cr_expect_eq(weft_rx_status_count(rx, 401), req);
    cr_expect_eq(wt_log_count("refused the credentials"), 1);
    int rc = weft_shutdown(300);
    cr_expect(rc == WEFT_ETIMEDOUT || rc == WEFT_EEXPORT, "shutdown returned %d", rc);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.ended, 2000);
    cr_expect_eq(s.exported, 0);
    cr_expect_eq(s.dropped_export + s.dropped_queue, 2000);
    cr_expect_eq(s.queued, 0);
    check_log_clean();
    weft_rx_stop(rx);
}

Test(sgp, resumes_after_a_401_once_a_probe_is_accepted, .timeout = 120)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_config c = base_cfg(rx);
    cr_assert_eq(weft_init(&c), 0);
    weft_rx_fail_next(rx, 401, 1, NULL);
    make_spans("r", 500, NULL, 0);
    /* The probe goes 30 s after the refusal. */
    cr_expect_eq(weft_flush(90000), 0);
    cr_expect_eq(weft_rx_completed(rx), 500);
    cr_expect_eq(weft_rx_status_count(rx, 401), 1);
    cr_expect_eq(wt_log_count("refused the credentials"), 1);
    cr_expect_eq(wt_log_count("export resumed"), 1);
    cr_expect_eq(weft_shutdown(5000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.exported, 500);
    cr_expect_eq(s.dropped_export + s.dropped_queue, 0);
    check_log_clean();
    weft_rx_stop(rx);
}

Test(sgp, honours_retry_after_and_delivers)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_config c = base_cfg(rx);
    cr_assert_eq(weft_init(&c), 0);
    weft_rx_fail_next(rx, 503, 1, "1");
    make_spans("ra", 10, NULL, 0);
    cr_expect_eq(weft_flush(30000), 0);
    cr_expect_eq(weft_rx_completed(rx), 10);
    cr_expect_eq(weft_rx_status_count(rx, 503), 1);
    cr_expect_eq(weft_shutdown(5000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.retried, 1);
    cr_expect_eq(s.exported, 10);
    cr_expect_eq(s.dropped_export, 0);
    weft_rx_stop(rx);
}

Test(sgp, drops_and_counts_what_outlives_the_retry_window)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_config c = base_cfg(rx);
    c.retry_window_ms = 1500;
    cr_assert_eq(weft_init(&c), 0);
    weft_rx_set_outage(rx, true);
    weft_rx_set_retry_after_ms(rx, 100);
    make_spans("w", 50, NULL, 0);
    cr_expect_eq(weft_flush(30000), WEFT_EEXPORT);
    cr_expect_eq(weft_shutdown(5000), WEFT_EEXPORT); /* spans of the run were lost */
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.dropped_export, 50);
    cr_expect_eq(s.exported, 0);
    cr_expect_geq(s.retried, 2);
    cr_expect_eq(s.queued, 0);
    cr_expect_eq(weft_rx_completed(rx), 0);
    weft_rx_stop(rx);
}

Test(sgp, shutdown_with_the_receiver_down_returns_and_counts_the_undelivered)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_config c = base_cfg(rx);
    cr_assert_eq(weft_init(&c), 0);
    weft_rx_stop(rx); /* nothing listens any more: connections are refused */
    make_spans("down", 400, NULL, 0);
    int rc = weft_shutdown(1000);
    cr_expect(rc == WEFT_ETIMEDOUT || rc == WEFT_EEXPORT, "shutdown returned %d", rc);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.ended, 400);
    cr_expect_eq(s.exported, 0);
    cr_expect_eq(s.dropped_export + s.dropped_queue, 400);
    cr_expect_eq(s.queued, 0);
    check_log_clean();
}

Test(sgp, shutdown_cancels_requests_a_slow_receiver_holds)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_config c = base_cfg(rx);
    cr_assert_eq(weft_init(&c), 0);
    weft_rx_set_delay_ms(rx, 20000);
    make_spans("slow", 100, NULL, 0);
    int rc = weft_shutdown(500);
    cr_expect(rc == WEFT_ETIMEDOUT || rc == WEFT_EEXPORT, "shutdown returned %d", rc);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.exported + s.dropped_export + s.dropped_queue, 100);
    cr_expect_geq(s.dropped_export, 1);
    cr_expect_eq(s.queued, 0);
    weft_rx_stop(rx);
}

Test(sgp, bounds_the_queue_and_counts_what_it_drops)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_config c = base_cfg(rx);
    c.max_queue_bytes = 64 * 1024;
    c.max_batch_spans = 100;
    cr_assert_eq(weft_init(&c), 0);
    weft_rx_set_outage(rx, true);
    weft_rx_set_retry_after_ms(rx, 50);
    make_spans("q", 3000, NULL, 100);
    usleep(300 * 1000);
    weft_rx_set_outage(rx, false);
    /* 0 or WEFT_EEXPORT: the drops happened while spans were made, before the flush. */
    int rc = weft_flush(30000);
    cr_expect(rc == 0 || rc == WEFT_EEXPORT, "flush returned %d", rc);
    cr_expect_eq(weft_shutdown(5000), WEFT_EEXPORT); /* spans of the run were lost */
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_gt(s.dropped_queue, 0);
    cr_expect_eq(s.dropped_export, 0);
    cr_expect_eq(s.exported + s.dropped_queue, 3000);
    cr_expect_eq(weft_rx_completed(rx), s.exported);
    cr_expect_eq(s.queued, 0);
    cr_expect_eq(wt_log_count("over its limit"), 1);
    weft_rx_stop(rx);
}

Test(sgp, upserts_open_spans_in_progress_then_completed)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_config c = base_cfg(rx);
    c.inprogress_after_ms = WEFT_INPROGRESS_NOW;
    cr_assert_eq(weft_init(&c), 0);
    weft_span root = weft_span_begin("long-call", WEFT_TYPE_COMPLETION);
    weft_span child = weft_span_begin("inner", WEFT_TYPE_CUSTOM);
    weft_span_end(child);
    cr_expect_eq(weft_flush(10000), 0);
    char id[40];
    span_uuid(root, id);
    cr_expect_eq(weft_rx_count(rx), 2);
    cr_expect_eq(weft_rx_completed(rx), 1);
    weft_span_end(root);
    cr_expect_eq(weft_flush(10000), 0);
    cr_expect_eq(weft_rx_completed(rx), 2);
    cr_expect_eq(weft_shutdown(5000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.exported, 2);
    cr_expect_geq(s.inprogress_sent, 1);
    cr_expect_eq(s.dropped_export, 0);
    weft_rx_stop(rx);
}

Test(sgp, refuses_the_api_key_over_plain_http_to_a_non_loopback_host)
{
    const char *refused[] = {
        "http://10.1.2.3", "http://example.com/", "http://127.0.0.1@example.com",
        "http://localhost.example.com:8080", "http://[::2]:80", "http://127.0.0.1.nip.io",
        "HTTP://192.168.0.1", "http://[::ffff:10.0.0.1]/",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        wt_log_reset();
        weft_config c = base_cfg(NULL);
        c.sgp_base_url = refused[i];
        cr_expect_eq(weft_init(&c), WEFT_EINSECURE, "%s was accepted", refused[i]);
        cr_expect_geq(wt_log_count("plain http"), 1);
        check_log_clean();
        cr_expect_eq(weft_shutdown(1000), 0);
        weft_stats s = stats();
        cr_expect_eq(s.dropped_ring, 0);
        cr_expect_eq(s.requests, 0);
    }
    weft_config c = base_cfg(NULL);
    c.sgp_base_url = "ftp://127.0.0.1";
    cr_expect_eq(weft_init(&c), WEFT_ECONFIG);
    cr_expect_eq(weft_shutdown(1000), 0);
    /* Loopback and https are fine (nothing is sent: no span is made). */
    const char *accepted[] = {"http://127.0.0.1:9", "http://127.8.9.10:9/", "http://localhost:9",
                              "http://[::1]:9", "https://example.com"};
    for (size_t i = 0; i < sizeof accepted / sizeof *accepted; i++) {
        weft_config ok = base_cfg(NULL);
        ok.sgp_base_url = accepted[i];
        cr_expect_eq(weft_init(&ok), 0, "%s was refused", accepted[i]);
        cr_expect_eq(weft_shutdown(1000), 0);
        weft_stats s = stats();
        cr_expect_eq(s.dropped_ring, 0);
        cr_expect_eq(s.requests, 0);
        cr_expect_eq(s.dropped_export, 0);
    }
}

Test(sgp, refuses_credentials_that_would_inject_headers)
{
    wt_log_reset();
    weft_config c = base_cfg(NULL);
    c.sgp_base_url = "https://example.com";
    c.sgp_api_key = "abc\r\nX-Evil: 1";
    cr_expect_eq(weft_init(&c), WEFT_ECONFIG);
    cr_expect_eq(weft_shutdown(1000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.requests, 0);
}

/* ---- issue 10: what a hostile or strict server does to delivery ------------------------------ */

#define TRACES 60
#define PER_TRACE 50 /* a root and 49 children: 3000 spans, 3 full batches of 1000 */

/* Begins TRACES traces of PER_TRACE spans (ids known, nothing sent yet), poisons child 7 of
 * each when poison is set, then ends them all. Returns the poisoned count. */
static size_t traces_with_poison(weft_rx *rx, bool poison)
{
    static weft_span sp[TRACES][PER_TRACE];
    char name[64], id[40];
    for (int t = 0; t < TRACES; t++) {
        snprintf(name, sizeof name, "r%d", t);
        sp[t][0] = weft_span_begin(name, WEFT_TYPE_AGENT_WORKFLOW);
        for (int k = 1; k < PER_TRACE; k++) {
            snprintf(name, sizeof name, "r%d-c%d", t, k);
            sp[t][k] = weft_span_begin(name, WEFT_TYPE_COMPLETION);
            weft_span_end(sp[t][k]);
        }
    }
    size_t n = 0;
    for (int t = 0; t < TRACES && poison; t++) {
        span_uuid(sp[t][7], id);
        weft_rx_poison(rx, id);
        n++;
    }
    for (int t = 0; t < TRACES; t++)
        weft_span_end(sp[t][0]);
    return n;
}

Test(sgp, drops_exactly_the_spans_a_422_names_at_most_doubling_the_requests, .timeout = 120)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_config c = base_cfg(rx);
    c.flush_interval_ms = 60000;
    c.inprogress_after_ms = WEFT_INPROGRESS_NEVER;

    /* A clean run of the same workload, for the request count. */
    cr_assert_eq(weft_init(&c), 0);
    traces_with_poison(rx, false);
    cr_expect_eq(weft_flush(30000), 0);
    cr_expect_eq(weft_shutdown(5000), 0);
    size_t clean = weft_rx_requests(rx);
    cr_expect_eq(weft_rx_completed(rx), TRACES * PER_TRACE);

    weft_rx_reset(rx);
    weft_rx_set_list_rejections(rx, true);
    cr_assert_eq(weft_init(&c), 0);
    size_t bad = traces_with_poison(rx, true); /* 60 of 3000: 2 % */
    cr_expect_eq(weft_flush(30000), WEFT_EEXPORT);
    cr_expect_eq(weft_shutdown(5000), WEFT_EEXPORT, "the run lost the rejected spans");
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(weft_rx_completed(rx), TRACES * PER_TRACE - bad, "good spans were lost");
    cr_expect_eq(s.rejected, bad);
    cr_expect_eq(s.dropped_export, bad);
    cr_expect_eq(s.exported, TRACES * PER_TRACE - bad);
    cr_expect_eq(s.queued, 0);
    cr_expect_leq(weft_rx_requests(rx), 2 * clean, "%zu requests against %zu for a clean run",
                  weft_rx_requests(rx), clean);
    cr_expect_geq(wt_log_count("rejected span"), 50);
    check_log_clean();
    weft_rx_stop(rx);
}

typedef struct seen_ctx {
    size_t marked, children, root_has_payload;
    char root[40];
} seen_ctx;

static void look_for_cut(const json_t *item, size_t upserts, bool completed, void *ud)
{
    seen_ctx *c = ud;
    (void)upserts;
    const char *id = json_string_value(json_object_get(item, "id"));
    const char *parent = json_string_value(json_object_get(item, "parent_id"));
    if (parent && !strcmp(parent, c->root) && completed)
        c->children++;
    if (id && !strcmp(id, c->root) && completed) {
        const char *p = json_string_value(json_object_get(json_object_get(item, "input"), "payload"));
        if (p) {
            c->root_has_payload = 1;
            c->marked = strstr(p, "\xE2\x80\xA6[truncated ") != NULL;
        }
    }
}

Test(sgp, sends_a_span_over_the_servers_limit_alone_with_its_largest_value_cut, .timeout = 120)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_rx_set_max_body(rx, 150000);
    weft_config c = base_cfg(rx);
    c.flush_interval_ms = 60000;
    c.max_attr_bytes = 4u << 20;
    c.ring_bytes = 32u << 20;
    cr_assert_eq(weft_init(&c), 0);
    size_t big = 3u << 20;
    char *attr = malloc(big + 1);
    memset(attr, 'v', big);
    attr[big] = '\0';
    weft_span root = weft_span_begin("big", WEFT_TYPE_AGENT_WORKFLOW);
    weft_span_set_str(root, WEFT_INPUT, "payload", attr);
    free(attr);
    for (int k = 0; k < 5; k++) {
        weft_span ch = weft_span_begin("child", WEFT_TYPE_COMPLETION);
        weft_span_end(ch);
    }
    weft_span_end(root);
    cr_expect_eq(weft_flush(60000), 0);
    seen_ctx sc = {0};
    span_uuid(root, sc.root);
    weft_rx_foreach(rx, look_for_cut, &sc);
    cr_expect(sc.root_has_payload, "the big span did not arrive");
    cr_expect(sc.marked, "the cut value carries no truncation marker");
    cr_expect_eq(sc.children, 5);
    cr_expect_geq(weft_rx_status_count(rx, 413), 1);
    cr_expect_leq(weft_rx_max_body_seen(rx), (size_t)150000 + 8u * 1024 * 1024);
    cr_expect_eq(weft_shutdown(5000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.exported, 6);
    cr_expect_eq(s.dropped_export + s.rejected, 0);
    cr_expect_eq(s.queued, 0);
    weft_rx_stop(rx);
}

Test(sgp, waits_out_an_absurd_retry_after_up_to_the_retry_window, .timeout = 60)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_config c = base_cfg(rx);
    c.retry_window_ms = 2000;
    cr_assert_eq(weft_init(&c), 0);
    weft_rx_fail_next(rx, 503, 1, "100000");
    make_spans("ra", 5, NULL, 0);
    cr_expect_eq(weft_flush(20000), 0);
    cr_expect_eq(weft_rx_completed(rx), 5);
    cr_expect_eq(weft_shutdown(5000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.retried, 1);
    cr_expect_eq(s.exported, 5);
    cr_expect_eq(s.dropped_export, 0);
    weft_rx_stop(rx);
}

static size_t most_upserts;

static void count_upserts(const json_t *item, size_t upserts, bool completed, void *ud)
{
    (void)item, (void)completed, (void)ud;
    if (upserts > most_upserts)
        most_upserts = upserts;
}

Test(sgp, sends_one_record_per_span_id_in_a_request_the_completed_one)
{
    wt_log_reset();
    weft_rx *rx = rx_start(KEY);
    weft_config c = base_cfg(rx);
    c.flush_interval_ms = 60000;
    c.inprogress_after_ms = WEFT_INPROGRESS_NEVER;
    cr_assert_eq(weft_init(&c), 0);
    /* Each child ends before its parent: the parent's in-progress record goes first (parents
     * first), and its completed record follows in the same batch. */
    for (int t = 0; t < 20; t++) {
        weft_span root = weft_span_begin("parent", WEFT_TYPE_AGENT_WORKFLOW);
        weft_span ch = weft_span_begin("child", WEFT_TYPE_COMPLETION);
        weft_span_end(ch);
        weft_span_end(root);
    }
    cr_expect_eq(weft_flush(10000), 0);
    cr_expect_eq(weft_rx_completed(rx), 40);
    most_upserts = 0;
    weft_rx_foreach(rx, count_upserts, NULL);
    cr_expect_eq(weft_rx_requests(rx), 1, "the spans did not go in one request");
    cr_expect_eq(most_upserts, 1, "a request carried two records of one span");
    cr_expect_eq(weft_shutdown(5000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.exported, 40);
    cr_expect_eq(s.dropped_export + s.rejected, 0);
    weft_rx_stop(rx);
}

/* A loopback stand-in that answers every connection with bytes that are not HTTP. */
typedef struct not_http {
    int fd;
    unsigned port;
    atomic_bool stop;
    atomic_int answered;
    pthread_t th;
} not_http;

static void *not_http_run(void *arg)
{
    not_http *n = arg;
    while (!atomic_load(&n->stop)) {
        struct pollfd p = {.fd = n->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(n->fd, NULL, NULL);
        if (c < 0)
            continue;
        /* The whole request (it is small: read until the client pauses), then the junk, then
         * the end of the stream, so curl reads an answer rather than a reset. */
        char buf[65536];
        struct pollfd q = {.fd = c, .events = POLLIN};
        while (poll(&q, 1, 100) > 0 && read(c, buf, sizeof buf) > 0)
            ;
        static const char junk[] = "hello, this is not HTTP\r\n";
        (void)!write(c, junk, sizeof junk - 1);
        shutdown(c, SHUT_WR);
        while (poll(&q, 1, 1000) > 0 && read(c, buf, sizeof buf) > 0)
            ;
        atomic_fetch_add(&n->answered, 1);
        close(c);
    }
    return NULL;
}

static void not_http_start(not_http *n)
{
    n->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(n->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(n->fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(n->fd, 16), 0);
    cr_assert_eq(getsockname(n->fd, (struct sockaddr *)&a, &len), 0);
    n->port = ntohs(a.sin_port);
    atomic_init(&n->stop, false);
    atomic_init(&n->answered, 0);
    cr_assert_eq(pthread_create(&n->th, NULL, not_http_run, n), 0);
}

static void not_http_stop(not_http *n)
{
    atomic_store(&n->stop, true);
    pthread_join(n->th, NULL);
    close(n->fd);
}

Test(sgp, retries_an_answer_that_is_not_http_like_a_reset, .timeout = 60)
{
    wt_log_reset();
    not_http n;
    not_http_start(&n);
    weft_config c = base_cfg(NULL);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", n.port);
    c.sgp_base_url = url;
    c.retry_window_ms = 1500;
    cr_assert_eq(weft_init(&c), 0);
    make_spans("junk", 10, NULL, 0);
    cr_expect_eq(weft_flush(20000), WEFT_EEXPORT);
    cr_expect_eq(weft_shutdown(5000), WEFT_EEXPORT, "the run lost its spans");
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_geq(s.retried, 1, "a broken answer was not retried");
    cr_expect_geq(atomic_load(&n.answered), 2);
    cr_expect_eq(s.dropped_export, 10, "given up only after the retry window");
    cr_expect_eq(s.exported, 0);
    cr_expect_geq(wt_log_count("retrying"), 1);
    cr_expect_geq(wt_log_count("HTTP/0.9"), 1, "curl did not see an HTTP/0.9 answer");
    check_log_clean();
    not_http_stop(&n);
}
