/*
 * test_trace_propagation.c — one trace across two weft processes joined by a W3C traceparent
 * header over loopback HTTP (DESIGN.md section 10). The calling process is tests/peer/tp_peer
 * (its own weft, configured by environment); this test process is the service: a
 * libmicrohttpd handler begins its span with weft_span_begin_remote from the request's
 * headers. Both processes export to the same in-process SGP receiver, which must then hold one
 * trace with the right parent links, in the SGP ids and in the W3C (obs_*) ids.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "otlp_receiver.h"
#include "receiver.h"
#include "weft/weft.h"

extern char **environ;

#define KEY "test-key"

/* ---- the service: begins its span from the caller's headers --------------------------------- */

static enum MHD_Result serve(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                             const char *version, const char *upload_data, size_t *upload_data_size,
                             void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload_data, (void)upload_data_size;
    if (!*con_cls) {
        *con_cls = conn;
        return MHD_YES;
    }
    const char *tp = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "traceparent");
    const char *ts = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "tracestate");
    weft_span h = weft_span_begin_remote(tp, ts, "handle request", WEFT_TYPE_TRACER);
    weft_span db = weft_span_begin("db lookup", WEFT_TYPE_CUSTOM);
    weft_span_end(db);
    weft_span_end(h);
    static const char ok[] = "ok";
    struct MHD_Response *r = MHD_create_response_from_buffer(2, (void *)ok, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static struct MHD_Daemon *service_start(char *url, size_t len)
{
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
                                            NULL, serve, NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                            MHD_OPTION_END);
    cr_assert_not_null(d, "service did not start");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(url, len, "http://127.0.0.1:%u/work", info->port);
    return d;
}

/* ---- the peer process ------------------------------------------------------------------------- */

/* Runs tp_peer against url with the environment extra (NULL-terminated "K=V" list) added to
 * this process's minus any weft/SGP/OTel variables; its stdout (the traceparent it sent) into
 * out. Returns its exit status. */
static int run_peer(const char *url, const char *const *extra, char *out, size_t out_len)
{
    size_t n = 0, m = 0;
    while (environ[n])
        n++;
    while (extra[m])
        m++;
    char **env = calloc(n + m + 1, sizeof *env);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "WEFT_", 5) && strncmp(environ[i], "SGP_", 4) && strncmp(environ[i], "OTEL_", 5))
            env[k++] = environ[i];
    for (size_t i = 0; i < m; i++)
        env[k++] = (char *)extra[i];
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    char *argv[] = {(char *)WEFT_TP_PEER, (char *)url, NULL};
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, WEFT_TP_PEER, &fa, NULL, argv, env), 0, "could not start %s", WEFT_TP_PEER);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    size_t got = 0;
    ssize_t r;
    while (got + 1 < out_len && (r = read(fds[0], out + got, out_len - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = '\0';
    if (got && out[got - 1] == '\n')
        out[got - 1] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    free(env);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* ---- what the receiver holds ------------------------------------------------------------------ */

typedef struct found {
    json_t *by_name[4];
} found;

static const char *const NAMES[4] = {"client request", "call service", "handle request", "db lookup"};

static void collect(const json_t *item, size_t upserts, bool completed, void *ud)
{
    (void)upserts;
    found *f = ud;
    const char *name = json_string_value(json_object_get(item, "name"));
    for (int i = 0; i < 4; i++)
        if (completed && name && strcmp(name, NAMES[i]) == 0 && !f->by_name[i])
            f->by_name[i] = json_incref((json_t *)item);
}

static const char *str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

Test(trace_propagation, a_traceparent_header_joins_two_weft_processes_into_one_sgp_trace)
{
    weft_rx_opts ro = {.api_key = KEY};
    weft_rx *rx = weft_rx_start(&ro);
    cr_assert_not_null(rx);
    weft_config c = {0};
    c.exporters = "sgp";
    c.sgp_base_url = weft_rx_url(rx);
    c.sgp_api_key = KEY;
    c.sgp_account_id = "acct-1";
    c.flush_interval_ms = 20;
    c.no_atexit = true;
    c.inprogress_after_ms = WEFT_INPROGRESS_NEVER;
    cr_assert_eq(weft_init(&c), 0);
    char url[64];
    struct MHD_Daemon *svc = service_start(url, sizeof url);

    char base[96], tp[80];
    snprintf(base, sizeof base, "SGP_CLIENT_BASE_URL=%s", weft_rx_url(rx));
    const char *env[] = {"WEFT_EXPORTER=sgp", "SGP_API_KEY=" KEY, "SGP_ACCOUNT_ID=acct-1", base,
                         "WEFT_FLUSH_INTERVAL_MS=20", "WEFT_INPROGRESS_AFTER_MS=-1", NULL};
    cr_assert_eq(run_peer(url, env, tp, sizeof tp), 0, "the peer process failed");
    cr_assert_eq(strlen(tp), 55, "peer sent \"%s\"", tp);
    MHD_stop_daemon(svc);
    cr_assert_eq(weft_shutdown(20000), 0);

    found f = {{0}};
    weft_rx_foreach(rx, collect, &f);
    for (int i = 0; i < 4; i++)
        cr_assert_not_null(f.by_name[i], "\"%s\" did not arrive", NAMES[i]);
    json_t *client = f.by_name[0], *call = f.by_name[1], *handle = f.by_name[2], *db = f.by_name[3];
    /* One trace, in both id forms. */
    for (int i = 1; i < 4; i++) {
        cr_expect_str_eq(str(f.by_name[i], "trace_id"), str(client, "trace_id"), "%s", NAMES[i]);
        cr_expect_str_eq(str(f.by_name[i], "obs_trace_id"), str(client, "obs_trace_id"), "%s", NAMES[i]);
    }
    /* The parent links, across the process boundary too. */
    cr_expect_null(json_object_get(client, "parent_id"));
    cr_expect_str_eq(str(call, "parent_id"), str(client, "id"));
    cr_expect_str_eq(str(handle, "parent_id"), str(call, "id"), "the service's span is the caller's child");
    cr_expect_str_eq(str(db, "parent_id"), str(handle, "id"));
    /* The header named the caller's span by its W3C ids. */
    char want[56];
    snprintf(want, sizeof want, "00-%s-%s-01", str(call, "obs_trace_id"), str(call, "obs_span_id"));
    cr_expect_str_eq(tp, want);
    for (int i = 0; i < 4; i++)
        json_decref(f.by_name[i]);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.bad_traceparent, 0);
    cr_expect_eq(st.exported, 2);
    cr_expect_eq(st.dropped_export, 0);
    weft_rx_stop(rx);
}

Test(trace_propagation, the_same_trace_arrives_in_otlp_from_both_processes)
{
    weft_rx_opts ro = {.api_key = KEY};
    weft_rx *rx = weft_rx_start(&ro);
    weft_orx *orx = weft_orx_start();
    cr_assert(rx && orx);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", weft_orx_url(orx), 1);
    weft_config c = {0};
    c.exporters = "sgp,otlp";
    c.sgp_base_url = weft_rx_url(rx);
    c.sgp_api_key = KEY;
    c.flush_interval_ms = 20;
    c.no_atexit = true;
    c.inprogress_after_ms = WEFT_INPROGRESS_NEVER;
    cr_assert_eq(weft_init(&c), 0);
    char url[64];
    struct MHD_Daemon *svc = service_start(url, sizeof url);
    char base[96], otel[96], tp[80];
    snprintf(base, sizeof base, "SGP_CLIENT_BASE_URL=%s", weft_rx_url(rx));
    snprintf(otel, sizeof otel, "OTEL_EXPORTER_OTLP_ENDPOINT=%s", weft_orx_url(orx));
    const char *env[] = {"WEFT_EXPORTER=sgp,otlp", "SGP_API_KEY=" KEY, base, otel, "OTEL_SERVICE_NAME=caller",
                         "WEFT_FLUSH_INTERVAL_MS=20", "WEFT_INPROGRESS_AFTER_MS=-1", NULL};
    cr_assert_eq(run_peer(url, env, tp, sizeof tp), 0, "the peer process failed");
    MHD_stop_daemon(svc);
    cr_assert_eq(weft_shutdown(20000), 0);

    cr_assert_eq(weft_orx_span_count(orx), 4);
    weft_orx_span s[4];
    char trace[4][33], id[4][17], parent[4][17];
    for (int i = 0; i < 4; i++) {
        cr_assert(weft_orx_find(orx, NAMES[i], &s[i]), "\"%s\" did not reach the collector", NAMES[i]);
        weft_orx_hex(&s[i].span->trace_id, trace[i]);
        weft_orx_hex(&s[i].span->span_id, id[i]);
        weft_orx_hex(&s[i].span->parent_span_id, parent[i]);
    }
    for (int i = 1; i < 4; i++)
        cr_expect_str_eq(trace[i], trace[0], "%s is in the caller's trace", NAMES[i]);
    cr_expect_eq(strncmp(tp + 3, trace[0], 32), 0);
    cr_expect_str_eq(parent[0], "");
    cr_expect_str_eq(parent[1], id[0]);
    cr_expect_str_eq(parent[2], id[1], "the service's span names the caller's span as its parent");
    cr_expect_str_eq(parent[3], id[2]);
    cr_expect_str_eq(s[2].span->trace_state, "rojo=00f067aa0ba902b7");
    /* Each process says who it is. */
    const weft_orx_pb_value *a = weft_orx_attr(s[0].resource->attributes, s[0].resource->n_attributes, "service.name");
    cr_expect_str_eq(a->string_value, "caller");
    /* SGP got the same trace. */
    found f = {{0}};
    weft_rx_foreach(rx, collect, &f);
    for (int i = 0; i < 4; i++) {
        cr_assert_not_null(f.by_name[i]);
        cr_expect_str_eq(str(f.by_name[i], "obs_trace_id"), trace[i]);
        cr_expect_str_eq(str(f.by_name[i], "obs_span_id"), id[i]);
        json_decref(f.by_name[i]);
        weft_orx_span_free(&s[i]);
    }
    weft_orx_stop(orx);
    weft_rx_stop(rx);
}
