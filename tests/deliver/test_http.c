/*
 * test_http.c — the libcurl-multi-on-libuv client of src/http.c against a small libmicrohttpd
 * server started by each test on 127.0.0.1 (an ephemeral port): bodies sent from parts without
 * copying, keep-alive reuse (curl's count and the server's), Retry-After capture, timeouts
 * against a slow server, dropped connections, refused connections, cancellation and freeing
 * with transfers in flight. Durations are never asserted; only which outcome happened.
 */
#include <criterion/criterion.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "http.h"
#include "weft/weft.h"

/* ---- a tiny server ------------------------------------------------------------------------ */

typedef struct srv {
    struct MHD_Daemon *d;
    unsigned port;
    char url[64];
    atomic_int connections; /* TCP connections accepted */
    atomic_int requests;    /* requests whose body completed */
    atomic_int drop_once;   /* /drop-once: requests still to drop */
    pthread_mutex_t mu;
    char last_body[1 << 21];
    size_t last_len;
    char last_agent[128], last_test_header[128];
} srv;

typedef struct req_state {
    char *body;
    size_t len, cap;
} req_state;

static void on_conn(void *cls, struct MHD_Connection *c, void **socket_context,
                    enum MHD_ConnectionNotificationCode code)
{
    srv *s = cls;
    (void)c;
    (void)socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&s->connections, 1);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    req_state *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body,
                              const char *ra, const char *ram)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (ra)
        MHD_add_response_header(resp, "Retry-After", ra);
    if (ram)
        MHD_add_response_header(resp, "retry-after-ms", ram);
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *data,
                               size_t *data_size, void **con_cls)
{
    srv *s = cls;
    (void)version;
    req_state *r = *con_cls;
    if (r == NULL) {
        r = calloc(1, sizeof *r);
        *con_cls = r;
        return MHD_YES;
    }
    if (*data_size > 0) {
        if (r->len + *data_size > r->cap) {
            r->cap = (r->len + *data_size) * 2;
            r->body = realloc(r->body, r->cap);
        }
        memcpy(r->body + r->len, data, *data_size);
        r->len += *data_size;
        *data_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&s->requests, 1);
    pthread_mutex_lock(&s->mu);
    s->last_len = r->len < sizeof s->last_body ? r->len : sizeof s->last_body;
    if (r->len)
        memcpy(s->last_body, r->body, s->last_len);
    const char *ua = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "User-Agent");
    const char *th = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Test");
    snprintf(s->last_agent, sizeof s->last_agent, "%s", ua ? ua : "");
    snprintf(s->last_test_header, sizeof s->last_test_header, "%s", th ? th : "");
    pthread_mutex_unlock(&s->mu);

    if (strcmp(method, "PUT") != 0)
        return answer(c, 405, "{\"detail\":\"PUT only\"}", NULL, NULL);
    if (strcmp(url, "/retry") == 0)
        return answer(c, 503, "{\"detail\":\"busy, come back\"}", "7", "1500");
    if (strcmp(url, "/slow") == 0) {
        usleep(1500 * 1000);
        return answer(c, 200, "{}", NULL, NULL);
    }
    if (strcmp(url, "/drop") == 0)
        return MHD_NO; /* closes the connection without an answer */
    if (strcmp(url, "/drop-once") == 0 && atomic_fetch_sub(&s->drop_once, 1) > 0)
        return MHD_NO;
    if (strcmp(url, "/big") == 0) {
        static char big[100000];
        memset(big, 'x', sizeof big - 1);
        return answer(c, 200, big, NULL, NULL);
    }
    return answer(c, 200, "{\"detail\":\"fine\"}", NULL, NULL);
}

static srv *srv_start(unsigned idle_timeout_s)
{
    srv *s = calloc(1, sizeof *s);
    cr_assert(s);
    pthread_mutex_init(&s->mu, NULL);
    /* A thread per connection: /slow sleeps without holding up other connections. */
    s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                MHD_USE_ERROR_LOG,
                            0, NULL, NULL, handler, s, MHD_OPTION_NOTIFY_CONNECTION, on_conn, s,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, idle_timeout_s,
                            MHD_OPTION_SOCK_ADDR, &(struct sockaddr_in){
                                .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
                            MHD_OPTION_END);
    cr_assert(s->d, "MHD did not start");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info->port;
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u", s->port);
    return s;
}

static void srv_stop(srv *s)
{
    MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- client side -------------------------------------------------------------------------- */

typedef struct outcome {
    int done, status;
    weft__http_err err;
    long connects;
    char ra[64], ram[64], body[WEFT__HTTP_BODY_KEEP + 1];
    size_t body_len;
    bool has_ra, has_ram;
} outcome;

static void on_done(void *ud, const weft__http_result *r)
{
    outcome *o = ud;
    o->done++;
    o->status = r->status;
    o->err = r->err;
    o->connects = r->new_connects;
    o->has_ra = r->retry_after != NULL;
    o->has_ram = r->retry_after_ms != NULL;
    if (r->retry_after)
        snprintf(o->ra, sizeof o->ra, "%.*s", (int)r->retry_after_len, r->retry_after);
    if (r->retry_after_ms)
        snprintf(o->ram, sizeof o->ram, "%.*s", (int)r->retry_after_ms_len, r->retry_after_ms);
    memcpy(o->body, r->body, r->body_len);
    o->body_len = r->body_len;
    o->body[r->body_len] = '\0';
}

static uv_loop_t loop;

static weft__http *client(uint32_t conns, uint32_t timeout_ms)
{
    static const char *const headers[] = {"X-Test: yes", "Content-Type: application/json"};
    weft__http_opts o = {.headers = headers, .n_headers = 2, .user_agent = "weft/test",
                         .max_conns = conns, .request_timeout_ms = timeout_ms,
                         .connect_timeout_ms = 2000};
    weft__http *c = NULL;
    cr_assert(uv_loop_init(&loop) == 0);
    cr_assert_eq(weft__http_new(&c, &loop, &o), 0);
    return c;
}

/* Runs the loop until every outcome in o[0..n) is done (or the loop runs dry). */
static void run_until(outcome *o, size_t n)
{
    for (;;) {
        int alive = uv_run(&loop, UV_RUN_ONCE);
        size_t done = 0;
        for (size_t i = 0; i < n; i++)
            done += o[i].done ? 1 : 0;
        if (done == n)
            return;
        /* No active handle yet a transfer is pending: a bug in the glue. */
        cr_assert(alive, "loop ran dry with %zu of %zu transfers pending", n - done, n);
    }
}

static void finish_client(weft__http *c)
{
    weft__http_free(c);
    /* The client's handles close asynchronously; run the loop until they have. */
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_assert_eq(uv_loop_close(&loop), 0, "handles left open on the loop");
}

static weft__http_xfer *put(weft__http *c, srv *s, const char *path, const char *body, outcome *o)
{
    char url[128];
    snprintf(url, sizeof url, "%s%s", s->url, path);
    weft__http_part parts[3] = {{"{\"items\":[", 10}, {body, strlen(body)}, {"]}", 2}};
    return weft__http_put(c, url, parts, 3, on_done, o);
}

Test(http, sends_the_parts_as_one_body_with_the_configured_headers)
{
    srv *s = srv_start(10);
    weft__http *c = client(2, 5000);
    outcome o = {0};
    cr_assert(put(c, s, "/v5/spans/batch", "{\"id\":1},{\"id\":2}", &o));
    cr_expect_eq(o.done, 0, "on_done must not run inside weft__http_put");
    run_until(&o, 1);
    cr_expect_eq(o.status, 200);
    cr_expect_eq(o.err, WEFT__HTTP_OK);
    cr_expect_str_eq(o.body, "{\"detail\":\"fine\"}");
    cr_expect_not(o.has_ra);
    cr_expect_eq(s->last_len, strlen("{\"items\":[{\"id\":1},{\"id\":2}]}"));
    cr_expect(memcmp(s->last_body, "{\"items\":[{\"id\":1},{\"id\":2}]}", s->last_len) == 0);
    cr_expect_str_eq(s->last_agent, "weft/test");
    cr_expect_str_eq(s->last_test_header, "yes");
    cr_expect_eq(weft__http_active(c), 0);
    finish_client(c);
    srv_stop(s);
}

Test(http, reuses_one_kept_alive_connection_for_sequential_requests)
{
    srv *s = srv_start(30);
    weft__http *c = client(4, 5000);
    long connects = 0;
    for (int i = 0; i < 25; i++) {
        outcome o = {0};
        cr_assert(put(c, s, "/ok", "{\"n\":1}", &o));
        run_until(&o, 1);
        cr_assert_eq(o.status, 200);
        connects += o.connects;
    }
    cr_expect_eq(connects, 1, "curl opened %ld connections for 25 requests", connects);
    cr_expect_eq(atomic_load(&s->connections), 1);
    cr_expect_eq(atomic_load(&s->requests), 25);
    finish_client(c);
    srv_stop(s);
}

Test(http, runs_requests_in_parallel_within_the_connection_limit)
{
    srv *s = srv_start(30);
    weft__http *c = client(3, 10000);
    outcome o[12] = {{0}};
    /* Slow answers keep every connection busy, so the limit is what bounds them. */
    for (int i = 0; i < 12; i++)
        cr_assert(put(c, s, "/slow", "{}", &o[i]));
    cr_expect_eq(weft__http_active(c), 12);
    run_until(o, 12);
    for (int i = 0; i < 12; i++)
        cr_expect_eq(o[i].status, 200, "request %d: status %d err %d", i, o[i].status, o[i].err);
    cr_expect_leq(atomic_load(&s->connections), 3);
    cr_expect_geq(atomic_load(&s->connections), 2, "requests were not run in parallel");
    finish_client(c);
    srv_stop(s);
}

Test(http, reports_retry_after_headers_and_the_body)
{
    srv *s = srv_start(10);
    weft__http *c = client(1, 5000);
    outcome o = {0};
    cr_assert(put(c, s, "/retry", "{}", &o));
    run_until(&o, 1);
    cr_expect_eq(o.status, 503);
    cr_expect_eq(o.err, WEFT__HTTP_OK);
    cr_expect(o.has_ra);
    cr_expect_str_eq(o.ra, "7");
    cr_expect(o.has_ram);
    cr_expect_str_eq(o.ram, "1500");
    cr_expect_str_eq(o.body, "{\"detail\":\"busy, come back\"}");
    /* Headers are per answer: the next one has none. */
    outcome o2 = {0};
    cr_assert(put(c, s, "/ok", "{}", &o2));
    run_until(&o2, 1);
    cr_expect_not(o2.has_ra);
    cr_expect_not(o2.has_ram);
    finish_client(c);
    srv_stop(s);
}

Test(http, sends_bodies_over_a_mebibyte_after_100_continue)
{
    srv *s = srv_start(10);
    weft__http *c = client(1, 10000);
    size_t n = (3u << 19) - 100; /* 1.5 MiB */
    char *body = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    body[0] = body[n - 1] = '"';
    body[n] = '\0';
    outcome o = {0};
    cr_assert(put(c, s, "/ok", body, &o));
    run_until(&o, 1);
    cr_expect_eq(o.status, 200, "err %d", o.err);
    cr_expect_eq(s->last_len, n + 12);
    cr_expect(memcmp(s->last_body + 10, body, n) == 0);
    free(body);
    finish_client(c);
    srv_stop(s);
}

Test(http, keeps_only_the_start_of_a_long_answer)
{
    srv *s = srv_start(10);
    weft__http *c = client(1, 5000);
    outcome o = {0};
    cr_assert(put(c, s, "/big", "{}", &o));
    run_until(&o, 1);
    cr_expect_eq(o.status, 200);
    cr_expect_eq(o.body_len, WEFT__HTTP_BODY_KEEP);
    /* The connection survived the discarded rest and is reused. */
    outcome o2 = {0};
    cr_assert(put(c, s, "/ok", "{}", &o2));
    run_until(&o2, 1);
    cr_expect_eq(o2.status, 200);
    cr_expect_eq(o2.connects, 0);
    finish_client(c);
    srv_stop(s);
}

Test(http, times_out_against_a_slow_server)
{
    srv *s = srv_start(10);
    weft__http *c = client(1, 300);
    outcome o = {0};
    cr_assert(put(c, s, "/slow", "{}", &o));
    run_until(&o, 1);
    cr_expect_eq(o.err, WEFT__HTTP_ETIMEDOUT, "err %d status %d", o.err, o.status);
    finish_client(c);
    srv_stop(s);
}

Test(http, reports_a_dropped_connection_as_an_io_error)
{
    srv *s = srv_start(10);
    weft__http *c = client(1, 5000);
    outcome o = {0};
    cr_assert(put(c, s, "/drop", "{}", &o));
    run_until(&o, 1);
    cr_expect_eq(o.err, WEFT__HTTP_EIO, "err %d status %d", o.err, o.status);
    cr_expect_eq(o.status, 0);
    /* The next request opens a fresh connection and succeeds. */
    outcome o2 = {0};
    cr_assert(put(c, s, "/ok", "{}", &o2));
    run_until(&o2, 1);
    cr_expect_eq(o2.status, 200);
    finish_client(c);
    srv_stop(s);
}

Test(http, resends_the_whole_body_when_a_reused_connection_dies)
{
    srv *s = srv_start(10);
    weft__http *c = client(1, 5000);
    outcome o = {0};
    cr_assert(put(c, s, "/ok", "{}", &o));
    run_until(&o, 1);
    cr_assert_eq(o.status, 200);
    /* The kept-alive connection is closed unanswered once: curl retries on a new connection,
     * rewinding the body through the seek callback. */
    atomic_store(&s->drop_once, 1);
    char body[200000];
    memset(body, 'a', sizeof body - 1);
    body[0] = '"';
    body[sizeof body - 2] = '"';
    body[sizeof body - 1] = '\0';
    outcome o2 = {0};
    cr_assert(put(c, s, "/drop-once", body, &o2));
    run_until(&o2, 1);
    cr_expect_eq(o2.status, 200, "err %d status %d", o2.err, o2.status);
    cr_expect_eq(s->last_len, strlen(body) + 12);
    cr_expect(memcmp(s->last_body + 10, body, strlen(body)) == 0);
    cr_expect_eq(atomic_load(&s->requests), 3, "the dropped request was not resent once");
    finish_client(c);
    srv_stop(s);
}

Test(http, reports_a_refused_connection)
{
    srv *s = srv_start(10);
    char url[80];
    snprintf(url, sizeof url, "%s/ok", s->url);
    srv_stop(s); /* nothing listens on that port any more */
    weft__http *c = client(1, 5000);
    outcome o = {0};
    weft__http_part p = {"{}", 2};
    cr_assert(weft__http_put(c, url, &p, 1, on_done, &o));
    run_until(&o, 1);
    cr_expect_eq(o.err, WEFT__HTTP_ECONNECT, "err %d", o.err);
    finish_client(c);
}

Test(http, refuses_schemes_other_than_http)
{
    weft__http *c = client(1, 5000);
    outcome o = {0};
    weft__http_part p = {"{}", 2};
    cr_assert(weft__http_put(c, "file:///etc/passwd", &p, 1, on_done, &o));
    run_until(&o, 1);
    cr_expect_eq(o.err, WEFT__HTTP_EFATAL, "err %d", o.err);
    finish_client(c);
}

Test(http, cancels_without_calling_back_and_frees_with_transfers_in_flight)
{
    srv *s = srv_start(10);
    weft__http *c = client(2, 10000);
    outcome a = {0}, b = {0};
    weft__http_xfer *xa = put(c, s, "/slow", "{}", &a);
    cr_assert(xa);
    cr_assert(put(c, s, "/slow", "{}", &b));
    /* Let both get under way, then cancel one and free the client with the other running. */
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    weft__http_cancel(c, xa);
    cr_expect_eq(weft__http_active(c), 1);
    finish_client(c);
    cr_expect_eq(a.done, 0);
    cr_expect_eq(b.done, 0);
    srv_stop(s);
}
