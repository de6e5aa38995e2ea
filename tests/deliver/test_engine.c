/*
 * test_engine.c — the delivery engine (src/deliver/engine.c) driven by a protocol of this file's
 * own, to show it holds nothing of SGP's: a "lines" protocol that POSTs text lines (the
 * text-line encoding) to /ingest, framed as "N <bytes>\n" + lines + "\n.\n" (a prefix whose
 * content depends on the slice's length, as OTLP's does), at most 4 lines per request, and
 * whose server refuses lines starting with "bad" with a 400 naming their positions
 * ("reject: 2 5") — or naming none, in the other mode.
 *
 * The engine runs on a libuv loop of the test's own, without weft_init: each batch is given to
 * it with one extra reference the test keeps, so weft__batch_done only records the count of
 * undelivered records and the test can read it. The server is libmicrohttpd on 127.0.0.1.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "batch.h"
#include "engine.h"
#include "runtime.h"

/* ---- the server ----------------------------------------------------------------------------- */

typedef struct srv {
    struct MHD_Daemon *d;
    char url[64];
    pthread_mutex_t mu;
    bool name_rejections;    /* 400 bodies list the refused positions */
    unsigned delay_ms;       /* every answer waits this long first */
    char stored[8192];       /* accepted lines, each followed by '\n', in arrival order */
    size_t stored_len, lines;
    int requests, bad_frames, bad_methods, rejections;
    int reversed;            /* requests that came with Content-Encoding: x-reverse */
    int active, peak;        /* requests being answered now, and the most at once */
} srv;

typedef struct req {
    char *body;
    size_t len, cap;
    bool reversed; /* Content-Encoding: x-reverse (the body's bytes in reverse order) */
} req;

static enum MHD_Result answer(struct MHD_Connection *c, unsigned status, const char *body)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Checks the frame and answers; mu not held. */
static enum MHD_Result serve(srv *s, struct MHD_Connection *c, const char *method, req *r)
{
    pthread_mutex_lock(&s->mu);
    s->requests++;
    if (++s->active > s->peak)
        s->peak = s->active;
    unsigned delay = s->delay_ms;
    pthread_mutex_unlock(&s->mu);
    if (delay)
        usleep(delay * 1000u);

    if (r->reversed) {
        for (size_t i = 0, j = r->len; j-- > i; i++) {
            char t = r->body[i];
            r->body[i] = r->body[j];
            r->body[j] = t;
        }
        pthread_mutex_lock(&s->mu);
        s->reversed++;
        pthread_mutex_unlock(&s->mu);
    }
    char reply[256] = "reject:";
    unsigned status = 200;
    size_t n = 0;
    int at = 0;
    const char *nl = r->len ? memchr(r->body, '\n', r->len) : NULL;
    pthread_mutex_lock(&s->mu);
    if (strcmp(method, "POST") != 0) {
        s->bad_methods++;
        status = 405;
    } else if (!nl || sscanf(r->body, "N %zu\n", &n) != 1 ||
               (size_t)(nl + 1 - r->body) + n + 3 != r->len ||
               memcmp(r->body + r->len - 3, "\n.\n", 3) != 0) {
        s->bad_frames++;
        status = 400;
        snprintf(reply, sizeof reply, "bad frame");
    } else {
        const char *p = nl + 1, *end = p + n;
        /* Which lines are refused: the whole request fails when any is. */
        for (const char *q = p; q < end; at++) {
            const char *e = memchr(q, '\n', (size_t)(end - q));
            if (!e)
                e = end;
            if (e - q >= 3 && memcmp(q, "bad", 3) == 0) {
                status = 400;
                if (s->name_rejections)
                    snprintf(reply + strlen(reply), sizeof reply - strlen(reply), " %d", at);
            }
            q = e + 1;
        }
        if (status == 200 && s->stored_len + n + 1 < sizeof s->stored) {
            memcpy(s->stored + s->stored_len, p, n);
            s->stored_len += n;
            s->stored[s->stored_len++] = '\n';
            s->lines += (size_t)at;
        }
        if (status != 200)
            s->rejections++;
    }
    s->active--;
    pthread_mutex_unlock(&s->mu);
    return answer(c, status, status == 200 ? "ok" : reply);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *data, size_t *data_size, void **con_cls)
{
    (void)url, (void)version;
    req *r = *con_cls;
    if (r == NULL) {
        *con_cls = r = calloc(1, sizeof(req));
        const char *ce = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Encoding");
        r->reversed = ce && strcmp(ce, "x-reverse") == 0;
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
    return serve(cls, c, method, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls, (void)c, (void)t;
    req *r = *con_cls;
    if (r) {
        free(r->body);
        free(r);
        *con_cls = NULL;
    }
}

static srv *srv_start(void)
{
    srv *s = calloc(1, sizeof *s);
    cr_assert(s);
    pthread_mutex_init(&s->mu, NULL);
    s->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
                            0, NULL, NULL, handler, s, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_SOCK_ADDR,
                            &(struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)},
                            MHD_OPTION_END);
    cr_assert(s->d, "MHD did not start");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u/ingest", info->port);
    return s;
}

static void srv_stop(srv *s)
{
    MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

/* ---- the protocol ----------------------------------------------------------------------------- */

static void lines_frame(void *ctx, size_t slice_len, weft__engine_frame *f)
{
    (void)ctx;
    f->prefix_len = (size_t)snprintf(f->prefix, sizeof f->prefix, "N %zu\n", slice_len);
    memcpy(f->suffix, "\n.\n", 3);
    f->suffix_len = 3;
}

static size_t lines_rejected(void *ctx, const weft__http_result *r, size_t n_items, uint32_t *out, size_t cap)
{
    (void)ctx, (void)n_items;
    char text[256];
    size_t len = r->body_len < sizeof text - 1 ? r->body_len : sizeof text - 1;
    memcpy(text, r->body, len);
    text[len] = '\0';
    if (strncmp(text, "reject:", 7) != 0)
        return 0;
    size_t n = 0;
    char *p = text + 7, *e;
    for (unsigned long v; n < cap && (v = strtoul(p, &e, 10), e != p); p = e)
        out[n++] = (uint32_t)v;
    return n;
}

static const weft__engine_proto lines4 = {
    .name = "lines",
    .encoding = WEFT__ENC_TEXT_LINE,
    .max_items = 4,
    .frame = lines_frame,
    .rejected = lines_rejected,
};

static const weft__engine_proto lines_many = {
    .name = "lines",
    .encoding = WEFT__ENC_TEXT_LINE,
    .max_items = 1000,
    .frame = lines_frame,
    .rejected = lines_rejected,
};

/* An encode_body of the test's own: the framed body's bytes in reverse order, announced as
 * Content-Encoding: x-reverse (the server turns them back before reading the frame). */
static int encoded_bodies;
static bool reverse_body(void *ctx, const weft__http_part *parts, size_t n_parts, weft__buf *out,
                         const char **content_encoding)
{
    (void)ctx;
    for (size_t k = n_parts; k-- > 0;)
        for (size_t i = parts[k].len; i-- > 0;)
            weft__buf_putc(out, parts[k].data[i]);
    *content_encoding = "x-reverse";
    encoded_bodies++;
    return true;
}

static const weft__engine_proto lines4_reversed = {
    .name = "lines",
    .encoding = WEFT__ENC_TEXT_LINE,
    .max_items = 4,
    .frame = lines_frame,
    .rejected = lines_rejected,
    .encode_body = reverse_body,
};

/* ---- driving the engine ----------------------------------------------------------------------- */

/* A batch of lines; item k has id k + 1 and parent parents[k] (0: a root; parents NULL: all
 * roots). The test keeps a reference of its own (refs 2). */
static weft__batch *lines_batch(const char *const *lines, size_t n, const uint64_t *parents)
{
    weft__batch *b = weft__batch_new(1u << WEFT__ENC_TEXT_LINE);
    cr_assert(b);
    for (size_t k = 0; k < n; k++) {
        weft__buf_append(&b->enc[WEFT__ENC_TEXT_LINE].bytes, lines[k], strlen(lines[k]));
        weft__batch_item it = {.trace = 1, .id = k + 1, .parent = parents ? parents[k] : 0};
        cr_assert(weft__batch_push(b, &it));
    }
    b->refs = 2;
    return b;
}

static void on_tick(uv_timer_t *t) { (void)t; }

/* Submits b to an engine for proto over a loop of our own and runs until the engine is done
 * with it; returns the count of its records the engine did not deliver. */
/* Runs one batch through an engine with `inflight` requests in flight at most. */
static size_t deliver_n(srv *s, const weft__engine_proto *proto, weft__batch *b, uint32_t inflight)
{
    uv_loop_t loop;
    cr_assert_eq(uv_loop_init(&loop), 0);
    uv_timer_t tick;
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 20, 20);
    weft__cfg cfg = {0};
    cfg.max_inflight = inflight;
    cfg.max_batch_bytes = 1u << 20;
    cfg.max_queue_bytes = 64u << 20;
    cfg.retry_window_ms = 10000;
    const char *headers[] = {"Content-Type: text/plain"};
    weft__engine_opts o = {.proto = proto, .cfg = &cfg, .url = s->url, .method = "POST",
                           .headers = headers, .n_headers = 1, .user_agent = "engine-test"};
    weft__engine *e = NULL;
    cr_assert_eq(weft__engine_new(&e, &loop, &o), 0);
    weft__engine_submit(e, b);
    time_t until = time(NULL) + 30;
    while (b->refs > 1 && time(NULL) < until)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(b->refs, 1, "the engine never finished the batch");
    weft__engine_free(e);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    cr_expect_eq(uv_loop_close(&loop), 0);
    size_t dropped = b->dropped;
    weft__batch_free(b);
    return dropped;
}

static size_t deliver(srv *s, const weft__engine_proto *proto, weft__batch *b)
{
    return deliver_n(s, proto, b, 4);
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* ---- tests ------------------------------------------------------------------------------------ */

Test(engine, drives_a_protocol_of_its_own_with_its_method_framing_and_item_limit)
{
    srv *s = srv_start();
    const char *lines[10] = {"l0", "l1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9"};
    /* One request at a time: the receiver stores lines in the order requests arrive, and
     * requests in flight together may arrive in any order. */
    size_t dropped = deliver_n(s, &lines4, lines_batch(lines, 10, NULL), 1);
    cr_expect_eq(dropped, 0);
    cr_expect_eq(s->requests, 3, "10 lines at 4 a request: %d requests", s->requests);
    cr_expect_eq(s->bad_methods, 0, "not POSTed");
    cr_expect_eq(s->bad_frames, 0, "a length prefix did not match its slice");
    cr_expect_eq(s->lines, 10);
    cr_expect_str_eq(s->stored, "l0\nl1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\n");
    cr_expect_eq(weft__stat_get(requests), 3);
    srv_stop(s);
}

Test(engine, sends_the_body_the_protocol_encodes_with_its_content_encoding)
{
    srv *s = srv_start();
    s->name_rejections = true;
    encoded_bodies = 0;
    /* A rejection makes a second attempt of the first request: each attempt is encoded anew. */
    const char *lines[10] = {"l0", "bad1", "l2", "l3", "l4", "l5", "l6", "l7", "l8", "l9"};
    size_t dropped = deliver(s, &lines4_reversed, lines_batch(lines, 10, NULL));
    cr_expect_eq(dropped, 1);
    cr_expect_eq(s->requests, 4, "3 requests and the resend without bad1: %d", s->requests);
    cr_expect_eq(s->reversed, 4, "every request came encoded: %d of %d", s->reversed, s->requests);
    cr_expect_eq(encoded_bodies, 4);
    cr_expect_eq(s->bad_frames, 0, "an encoded body did not turn back into its frame");
    cr_expect_eq(s->lines, 9);
    for (size_t k = 0; k < 10; k++) {
        char want[16];
        snprintf(want, sizeof want, "%s\n", lines[k]);
        cr_expect_eq(count_of(s->stored, want), k == 1 ? 0 : 1, "%s arrived %zu times", lines[k],
                     count_of(s->stored, want));
    }
    srv_stop(s);
}

Test(engine, sends_bodies_as_framed_without_an_encode_hook)
{
    srv *s = srv_start();
    const char *lines[3] = {"a", "b", "c"};
    cr_expect_eq(deliver(s, &lines4, lines_batch(lines, 3, NULL)), 0);
    cr_expect_eq(s->requests, 1);
    cr_expect_eq(s->reversed, 0, "no Content-Encoding without the hook");
    cr_expect_str_eq(s->stored, "a\nb\nc\n");
    srv_stop(s);
}

Test(engine, drops_exactly_the_items_a_rejection_names_in_one_round_trip)
{
    srv *s = srv_start();
    s->name_rejections = true;
    const char *lines[40];
    char text[40][16];
    for (int k = 0; k < 40; k++) {
        snprintf(text[k], sizeof text[k], "%s%d", k == 3 || k == 17 || k == 38 ? "bad" : "ok", k);
        lines[k] = text[k];
    }
    size_t dropped = deliver(s, &lines_many, lines_batch(lines, 40, NULL));
    cr_expect_eq(dropped, 3);
    cr_expect_eq(s->requests, 2, "%d requests", s->requests);
    cr_expect_eq(s->lines, 37);
    cr_expect_eq(count_of(s->stored, "bad"), 0);
    cr_expect_eq(count_of(s->stored, "ok"), 37);
    cr_expect_eq(s->bad_frames, 0);
    cr_expect_eq(weft__stat_get(rejected), 3);
    cr_expect_eq(weft__stat_get(dropped_export), 3);
    cr_expect_eq(weft__stat_get(queued), 0);
    srv_stop(s);
}

Test(engine, bisects_when_a_rejection_names_no_item)
{
    srv *s = srv_start();
    const char *lines[40];
    char text[40][16];
    for (int k = 0; k < 40; k++) {
        snprintf(text[k], sizeof text[k], "%s%d", k == 21 ? "bad" : "ok", k);
        lines[k] = text[k];
    }
    deliver(s, &lines_many, lines_batch(lines, 40, NULL));
    cr_expect_eq(s->lines, 39);
    cr_expect_eq(count_of(s->stored, "ok"), 39);
    cr_expect_eq(count_of(s->stored, "bad"), 0);
    cr_expect_gt(s->requests, 2, "a rejection that names nothing cannot be resolved in one resend");
    cr_expect_leq(s->rejections, 7, "log2(40) < 6 halvings: %d rejections", s->rejections);
    srv_stop(s);
}

Test(engine, sends_both_halves_at_once_when_no_child_is_split_from_its_parent)
{
    srv *s = srv_start();
    s->delay_ms = 300;
    const char *lines[8] = {"a", "b", "c", "bad", "e", "f", "g", "h"};
    deliver(s, &lines_many, lines_batch(lines, 8, NULL)); /* eight roots */
    cr_expect_eq(s->lines, 7);
    cr_expect_geq(s->peak, 2, "the halves went one after the other");
    srv_stop(s);
}

Test(engine, never_sends_a_half_holding_children_before_the_half_with_their_parents)
{
    srv *s = srv_start();
    s->delay_ms = 100;
    const char *lines[8] = {"a", "b", "c", "bad", "e", "f", "g", "h"};
    const uint64_t chain[8] = {0, 1, 2, 3, 4, 5, 6, 7}; /* each the child of the one before */
    deliver(s, &lines_many, lines_batch(lines, 8, chain));
    cr_expect_eq(s->lines, 7);
    cr_expect_eq(s->peak, 1, "a half went out beside the half holding its parents");
    /* Arrival order is the batch's order: parents first. */
    cr_expect_str_eq(s->stored, "a\nb\nc\ne\nf\ng\nh\n");
    srv_stop(s);
}
