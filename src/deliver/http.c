/*
 * http.c — libcurl's multi interface driven by a libuv loop (see http.h): curl tells us which
 * sockets to watch (CURLMOPT_SOCKETFUNCTION -> one uv_poll_t per socket) and when to wake it
 * (CURLMOPT_TIMERFUNCTION -> one uv_timer_t); we hand readiness back through
 * curl_multi_socket_action and collect finished transfers with curl_multi_info_read. This is
 * the pattern of curl's docs/examples/multi-uv.c.
 *
 * Owns: the multi handle (its connection cache is what keeps connections alive between
 * requests), every curl easy handle (active ones and a small pool for reuse), the header list,
 * one sock_ctx per watched socket, the timer.
 *
 * Invariants:
 *  - Loop thread only; no blocking call (curl_easy_perform is never used; name lookups go to
 *    curl's threaded resolver, checked at creation).
 *  - A transfer is on exactly one list: `active` (added to the multi) or `pool` (idle, its easy
 *    handle keeping every per-client option set once).
 *  - on_done runs from check_done only, never from inside a curl callback nor from a caller's
 *    call, so it may start, cancel or reuse transfers freely.
 *  - Closing: uv handles close asynchronously; `open_handles` counts them and the client's
 *    memory is freed by the last close callback once weft__http_free has run.
 *  - TLS: peer and host verification are on for every transfer and never turned off.
 *  - Proxies: plain http:// to a loopback host never goes through one (url.h), so the only
 *    unencrypted path weft allows an API key stays on the machine.
 *  - With src/client/easy.c (the read side's blocking requests), the only file that includes
 *    <curl/curl.h>.
 */
#include "http.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <uv.h>

#include "runtime.h"
#include "url.h"
#include "weft/weft.h"

/* 5 s to connect and 30 s per request: DESIGN.md / weft.h defaults (WEFT_CONNECT_TIMEOUT_MS,
 * WEFT_REQUEST_TIMEOUT_MS). */
#define DEFAULT_CONNECT_MS 5000u
#define DEFAULT_TOTAL_MS 30000u
#define DEFAULT_CONNS 4u
/* Idle easy handles kept for reuse; beyond this they are cleaned up. */
#define POOL_MAX 16u
/* libcurl 7.88 sends "Expect: 100-continue" with every PUT body, which costs a round trip per
 * request and up to 1 s (CURLOPT_EXPECT_100_TIMEOUT_MS) against servers that ignore it. We keep
 * it only for bodies of 1 MiB and more — curl's own threshold for POST since 7.x — where
 * letting the server refuse early (413, 401) saves sending megabytes for nothing. */
#define EXPECT_MIN_BODY ((curl_off_t)1 << 20)

struct weft__http_xfer {
    weft__http *c;
    CURL *easy;
    weft__http_part parts[WEFT__HTTP_MAX_PARTS];
    size_t n_parts, part, off; /* read position: parts[part] at offset off */
    curl_off_t total;
    weft__http_done_fn on_done;
    void *ud;
    struct curl_slist *own_headers; /* the client's headers plus this request's; NULL: none */
    struct weft__http_xfer *prev, *next;
    size_t ra_len, ram_len, body_len;
    bool has_ra, has_ram;
    char ra[WEFT__HTTP_HEADER_KEEP], ram[WEFT__HTTP_HEADER_KEEP];
    char errbuf[CURL_ERROR_SIZE];
    char body[WEFT__HTTP_BODY_KEEP];
};

typedef struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    weft__http *c;
    struct sock_ctx *prev, *next; /* live (not closing) sockets, for weft__http_free */
} sock_ctx;

struct weft__http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct curl_slist *headers;        /* the caller's headers */
    struct curl_slist *headers_no_expect; /* the same plus "Expect:" (no 100-continue) */
    char *user_agent, *ca_bundle, *method;
    long connect_ms, total_ms;
    weft__http_xfer *active, *pool;
    size_t n_active, n_pool;
    sock_ctx *socks;
    unsigned open_handles; /* uv handles initialised and not yet closed */
    bool closing;
};

/* ---- libcurl's one-time initialisation ---------------------------------------------------
 * curl_global_init is not thread-safe in libcurl builds without CURL_VERSION_THREADSAFE
 * (added in 7.84), and two weft_init calls, or weft and the host, could race it. pthread_once
 * makes weft's own calls safe; a host that calls curl_global_init itself on another thread at
 * the same moment can still race it, which only a THREADSAFE libcurl prevents. The result is
 * written once, inside the once-routine, and only read afterwards. weft never calls
 * curl_global_cleanup: the host may be using libcurl, and cleanup is not thread-safe either. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

int weft__http_global_init(void)
{
    pthread_once(&curl_once, curl_init_once);
    return curl_init_rc == CURLE_OK ? 0 : WEFT_EIO;
}

/* ---- closing and freeing ----------------------------------------------------------------- */

static void client_free_now(weft__http *c)
{
    curl_slist_free_all(c->headers);
    curl_slist_free_all(c->headers_no_expect);
    free(c->user_agent);
    free(c->ca_bundle);
    free(c->method);
    free(c);
}

static void handle_closed(weft__http *c)
{
    if (--c->open_handles == 0 && c->closing)
        client_free_now(c);
}

static void on_poll_closed(uv_handle_t *h)
{
    sock_ctx *sc = h->data;
    weft__http *c = sc->c;
    free(sc);
    handle_closed(c);
}

static void on_timer_closed(uv_handle_t *h) { handle_closed(h->data); }

static void sock_unlink(weft__http *c, sock_ctx *sc)
{
    if (sc->prev)
        sc->prev->next = sc->next;
    else
        c->socks = sc->next;
    if (sc->next)
        sc->next->prev = sc->prev;
    sc->prev = sc->next = NULL;
}

static void sock_close(weft__http *c, sock_ctx *sc)
{
    /* Stop first: curl closes the descriptor right after CURL_POLL_REMOVE returns, and libuv
     * must not be watching a closed (possibly reused) descriptor. uv_poll_stop removes it from
     * epoll synchronously. */
    uv_poll_stop(&sc->poll);
    sock_unlink(c, sc);
    uv_close((uv_handle_t *)&sc->poll, on_poll_closed);
}

/* ---- curl -> uv --------------------------------------------------------------------------- */

static void check_done(weft__http *c);

static void on_poll(uv_poll_t *h, int status, int events)
{
    sock_ctx *sc = h->data;
    weft__http *c = sc->c;
    int flags = 0, running;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    /* sc may be closed inside (CURL_POLL_REMOVE); its memory lives until the close callback,
     * but it is not touched again here. */
    curl_multi_socket_action(c->multi, sc->fd, flags, &running);
    check_done(c);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    weft__http *c = userp;
    sock_ctx *sc = socketp;
    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (sc) {
            if (!c->closing)
                curl_multi_assign(c->multi, fd, NULL);
            sock_close(c, sc);
        }
        return 0;
    }
    if (sc == NULL) {
        sc = calloc(1, sizeof *sc);
        if (sc == NULL)
            return -1; /* curl fails the transfer: counted and retried by the caller */
        if (uv_poll_init_socket(c->loop, &sc->poll, fd) != 0) {
            free(sc);
            return -1;
        }
        sc->poll.data = sc;
        sc->fd = fd;
        sc->c = c;
        sc->next = c->socks;
        if (c->socks)
            c->socks->prev = sc;
        c->socks = sc;
        c->open_handles++;
        curl_multi_assign(c->multi, fd, sc);
    }
    int ev = ((what & CURL_POLL_IN) ? UV_READABLE : 0) | ((what & CURL_POLL_OUT) ? UV_WRITABLE : 0);
    if (uv_poll_start(&sc->poll, ev, on_poll) != 0)
        return -1;
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    weft__http *c = t->data;
    int running;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    weft__http *c = userp;
    (void)multi;
    /* Never call curl_multi_socket_action from here (libcurl forbids re-entry); a 0 ms timer
     * fires on the next loop iteration instead. */
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

/* ---- body, headers, answer ----------------------------------------------------------------- */

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    weft__http_xfer *x = ud;
    size_t room = size * nitems, w = 0;
    while (room > 0 && x->part < x->n_parts) {
        const weft__http_part *p = &x->parts[x->part];
        size_t k = p->len - x->off;
        if (k > room)
            k = room;
        memcpy(buf + w, p->data + x->off, k);
        w += k;
        room -= k;
        x->off += k;
        if (x->off == p->len) {
            x->part++;
            x->off = 0;
        }
    }
    return w;
}

/* curl rewinds the body when it resends on a kept-alive connection that the server had
 * closed; without this it fails such requests with CURLE_SEND_FAIL_REWIND. */
static int on_seek(void *ud, curl_off_t offset, int origin)
{
    weft__http_xfer *x = ud;
    if (origin != SEEK_SET || offset < 0 || offset > x->total)
        return CURL_SEEKFUNC_CANTSEEK;
    size_t left = (size_t)offset;
    x->part = 0;
    while (x->part < x->n_parts && left >= x->parts[x->part].len) {
        left -= x->parts[x->part].len;
        x->part++;
    }
    x->off = left;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    weft__http_xfer *x = ud;
    size_t n = size * nmemb, k = sizeof x->body - x->body_len;
    if (k > n)
        k = n;
    memcpy(x->body + x->body_len, data, k);
    x->body_len += k;
    return n; /* the rest is read and discarded, keeping the connection usable */
}

/* When line is "<name>:<value>" (name case-insensitive), copies the trimmed value. */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t cap,
                         size_t *out_len)
{
    size_t n = strlen(name);
    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
        return false;
    const char *v = line + n + 1;
    size_t vl = len - n - 1;
    while (vl > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        vl--;
    }
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    /* A value too long to keep is replaced by one that cannot parse, never by a prefix that
     * could ("12345..." cut to "12"). */
    if (vl >= cap) {
        memcpy(out, "?", 1);
        *out_len = 1;
        return true;
    }
    memcpy(out, v, vl);
    *out_len = vl;
    return true;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
    weft__http_xfer *x = ud;
    size_t len = size * nitems;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new answer (after 100 Continue, or a resend): forget the previous one's. */
        x->has_ra = x->has_ram = false;
        x->body_len = 0;
    } else if (header_value(line, len, "retry-after", x->ra, sizeof x->ra, &x->ra_len)) {
        x->has_ra = true;
    } else if (header_value(line, len, "retry-after-ms", x->ram, sizeof x->ram, &x->ram_len)) {
        x->has_ram = true;
    }
    return len;
}

weft__http_err weft__http_err_of_curl(int code)
{
    switch ((CURLcode)code) {
    case CURLE_OK:
        return WEFT__HTTP_OK;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return WEFT__HTTP_ECONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return WEFT__HTTP_ETIMEDOUT;
    case CURLE_PEER_FAILED_VERIFICATION: /* unknown CA, host name mismatch (CURLE_SSL_CACERT
                                            is the same code since 7.62) */
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return WEFT__HTTP_ETLS_VERIFY;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_SHUTDOWN_FAILED:
        return WEFT__HTTP_ETLS;
    case CURLE_ABORTED_BY_CALLBACK: /* a client's progress callback said stop */
        return WEFT__HTTP_ECANCELED;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_FUNCTION_NOT_FOUND:
        return WEFT__HTTP_EFATAL;
    default:
        /* SEND_ERROR, RECV_ERROR, GOT_NOTHING, PARTIAL_FILE, HTTP2, WEIRD_SERVER_REPLY, ... */
        return WEFT__HTTP_EIO;
    }
}

static void xfer_unlink(weft__http_xfer **head, weft__http_xfer *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        *head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

static void xfer_push(weft__http_xfer **head, weft__http_xfer *x)
{
    x->prev = NULL;
    x->next = *head;
    if (*head)
        (*head)->prev = x;
    *head = x;
}

static void xfer_destroy(weft__http_xfer *x)
{
    curl_easy_cleanup(x->easy);
    free(x);
}

/* Back to the pool (or freed): the transfer is out of the multi. */
static void xfer_release(weft__http *c, weft__http_xfer *x)
{
    x->on_done = NULL;
    x->ud = NULL;
    curl_slist_free_all(x->own_headers); /* x is out of the multi: curl no longer reads it */
    x->own_headers = NULL;
    if (c->n_pool < POOL_MAX && !c->closing) {
        xfer_push(&c->pool, x);
        c->n_pool++;
    } else {
        xfer_destroy(x);
    }
}

static void finish(weft__http *c, weft__http_xfer *x, CURLcode rc)
{
    long status = 0, conns = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &conns);
    curl_multi_remove_handle(c->multi, x->easy);
    xfer_unlink(&c->active, x);
    c->n_active--;

    weft__http_result r = {0};
    r.err = weft__http_err_of_curl(rc);
    if (rc == CURLE_UNSUPPORTED_PROTOCOL) {
        /* Also what curl says of an answer that is not HTTP ("Received HTTP/0.9 when not
         * allowed"): once a connection was made the scheme was fine, and the answer is broken
         * like a reset one. */
        char *ip = NULL;
        if (curl_easy_getinfo(x->easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip && *ip)
            r.err = WEFT__HTTP_EIO;
    }
    /* Without a complete answer the status (often 100 from an interim answer) means nothing. */
    r.status = r.err == WEFT__HTTP_OK ? (int)status : 0;
    r.err_text = rc == CURLE_OK ? "" : (x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc));
    if (x->has_ra) {
        r.retry_after = x->ra;
        r.retry_after_len = x->ra_len;
    }
    if (x->has_ram) {
        r.retry_after_ms = x->ram;
        r.retry_after_ms_len = x->ram_len;
    }
    r.body = x->body;
    r.body_len = x->body_len;
    r.new_connects = conns;
    weft__http_done_fn fn = x->on_done;
    void *ud = x->ud;
    /* x stays out of the pool during the callback: r borrows its buffers. */
    fn(ud, &r);
    xfer_release(c, x);
}

static void check_done(weft__http *c)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (m->msg != CURLMSG_DONE)
            continue;
        /* Read everything from m before finish(): it dies with curl_multi_remove_handle. */
        CURL *easy = m->easy_handle;
        CURLcode rc = m->data.result;
        weft__http_xfer *x = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        if (x != NULL)
            finish(c, x, rc);
    }
}

/* ---- client --------------------------------------------------------------------------------- */

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

int weft__http_new(weft__http **out, struct uv_loop_s *loop, const weft__http_opts *opts)
{
    *out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
        weft__log(WEFT_LOG_ERROR, "libcurl failed to initialise: %s", curl_easy_strerror(curl_init_rc));
        return WEFT_EIO;
    }
    const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
    if (!(vi->features & CURL_VERSION_ASYNCHDNS))
        weft__log(WEFT_LOG_WARN, "libcurl %s resolves names synchronously: a slow DNS server will "
                                 "stall weft's export thread", vi->version);

    weft__http *c = calloc(1, sizeof *c);
    if (c == NULL)
        return WEFT_ENOMEM;
    c->loop = loop;
    c->connect_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : DEFAULT_CONNECT_MS;
    c->total_ms = opts->request_timeout_ms ? opts->request_timeout_ms : DEFAULT_TOTAL_MS;
    long conns = opts->max_conns ? opts->max_conns : DEFAULT_CONNS;
    c->user_agent = dup_or_null(opts->user_agent);
    c->ca_bundle = dup_or_null(opts->ca_bundle);
    c->method = opts->method && strcmp(opts->method, "PUT") != 0 ? strdup(opts->method) : NULL;
    if ((opts->user_agent && !c->user_agent) || (opts->ca_bundle && !c->ca_bundle) ||
        (opts->method && strcmp(opts->method, "PUT") != 0 && !c->method))
        goto oom;
    for (size_t i = 0; i < opts->n_headers; i++) {
        struct curl_slist *h = curl_slist_append(c->headers, opts->headers[i]);
        if (h == NULL)
            goto oom;
        c->headers = h;
        if ((h = curl_slist_append(c->headers_no_expect, opts->headers[i])) == NULL)
            goto oom;
        c->headers_no_expect = h;
    }
    {
        /* An empty "Expect:" line makes curl send no Expect header at all. */
        struct curl_slist *h = curl_slist_append(c->headers_no_expect, "Expect:");
        if (h == NULL)
            goto oom;
        c->headers_no_expect = h;
    }
    c->multi = curl_multi_init();
    if (c->multi == NULL)
        goto oom;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    /* One connection per request in flight, all kept alive (HTTP/2 multiplexes on fewer). */
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conns);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, conns);
    if (uv_timer_init(loop, &c->timer) != 0) {
        curl_multi_cleanup(c->multi);
        goto oom;
    }
    c->timer.data = c;
    c->open_handles = 1;
    *out = c;
    return 0;
oom:
    client_free_now(c);
    return WEFT_ENOMEM;
}

static weft__http_xfer *xfer_new(weft__http *c)
{
    weft__http_xfer *x = calloc(1, sizeof *x);
    if (x == NULL)
        return NULL;
    x->c = c;
    x->easy = curl_easy_init();
    if (x->easy == NULL) {
        free(x);
        return NULL;
    }
    CURL *e = x->easy;
    /* Options that never change for this client, set once per easy handle. */
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L); /* PUT */
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, x);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    if (c->user_agent)
        curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    /* The body is uploaded as for PUT; another method only renames the request line. */
    if (c->method)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
    /* No signals: the process is multi-threaded and the timeouts are curl's own. */
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->total_ms);
    /* TLS verification always on (DESIGN.md section 7); these are curl's defaults, set anyway
     * so that no build or environment can turn them off. */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_bundle)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_bundle);
    /* Only HTTP(S), and redirects are not followed: the API key goes nowhere else. */
#if CURL_AT_LEAST_VERSION(7, 85, 0)
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    /* Kept-alive connections idle between flushes (1 s by default): TCP keep-alive probes
     * keep NAT and load-balancer state from expiring under them. */
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* HTTP/2: wait for a stream on an existing connection rather than opening another. */
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    return x;
}

/* The client's list h followed by the extra lines, as a new list; NULL when memory is short. */
static struct curl_slist *headers_plus(const struct curl_slist *h, const char *const *extra, size_t n_extra)
{
    struct curl_slist *out = NULL;
    for (; h; h = h->next) {
        struct curl_slist *t = curl_slist_append(out, h->data);
        if (t == NULL)
            goto fail;
        out = t;
    }
    for (size_t i = 0; i < n_extra; i++) {
        struct curl_slist *t = curl_slist_append(out, extra[i]);
        if (t == NULL)
            goto fail;
        out = t;
    }
    return out;
fail:
    curl_slist_free_all(out);
    return NULL;
}

weft__http_xfer *weft__http_put(weft__http *c, const char *url, const weft__http_part *parts,
                                size_t n_parts, weft__http_done_fn on_done, void *ud)
{
    return weft__http_put_h(c, url, parts, n_parts, NULL, 0, on_done, ud);
}

weft__http_xfer *weft__http_put_h(weft__http *c, const char *url, const weft__http_part *parts,
                                  size_t n_parts, const char *const *headers, size_t n_headers,
                                  weft__http_done_fn on_done, void *ud)
{
    if (c->closing || n_parts > WEFT__HTTP_MAX_PARTS)
        return NULL;
    weft__http_xfer *x = c->pool;
    if (x) {
        xfer_unlink(&c->pool, x);
        c->n_pool--;
    } else if ((x = xfer_new(c)) == NULL) {
        weft__log(WEFT_LOG_ERROR, "out of memory starting an HTTP request");
        return NULL;
    }
    x->n_parts = n_parts;
    x->total = 0;
    for (size_t i = 0; i < n_parts; i++) {
        x->parts[i] = parts[i];
        x->total += (curl_off_t)parts[i].len;
    }
    x->part = x->off = 0;
    x->on_done = on_done;
    x->ud = ud;
    x->has_ra = x->has_ram = false;
    x->body_len = 0;
    x->errbuf[0] = '\0';
    struct curl_slist *h = x->total >= EXPECT_MIN_BODY ? c->headers : c->headers_no_expect;
    if (n_headers > 0) {
        x->own_headers = headers_plus(h, headers, n_headers);
        if (x->own_headers == NULL) {
            weft__log(WEFT_LOG_ERROR, "out of memory starting an HTTP request");
            xfer_release(c, x);
            return NULL;
        }
        h = x->own_headers;
    }
    /* Plain http:// to loopback is the one case where weft lets an API key travel unencrypted:
     * such requests never go through a proxy, whatever the environment says (url.h). "" turns
     * proxies off for the transfer; NULL gives the environment back (pooled handles serve
     * every URL). */
    weft__url u;
    bool direct = weft__url_parse(url, &u) && weft__url_direct_only(&u);
    if (curl_easy_setopt(x->easy, CURLOPT_PROXY, direct ? "" : NULL) != CURLE_OK ||
        curl_easy_setopt(x->easy, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, h) != CURLE_OK ||
        curl_easy_setopt(x->easy, CURLOPT_INFILESIZE_LARGE, x->total) != CURLE_OK ||
        curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) {
        weft__log(WEFT_LOG_ERROR, "could not start an HTTP request");
        xfer_release(c, x);
        return NULL;
    }
    xfer_push(&c->active, x);
    c->n_active++;
    return x;
}

void weft__http_cancel(weft__http *c, weft__http_xfer *x)
{
    curl_multi_remove_handle(c->multi, x->easy);
    xfer_unlink(&c->active, x);
    c->n_active--;
    xfer_release(c, x);
}

size_t weft__http_active(const weft__http *c) { return c->n_active; }

void weft__http_free(weft__http *c)
{
    if (c == NULL)
        return;
    c->closing = true;
    while (c->active)
        weft__http_cancel(c, c->active);
    while (c->pool) {
        weft__http_xfer *x = c->pool;
        xfer_unlink(&c->pool, x);
        xfer_destroy(x);
    }
    c->n_pool = 0;
    /* Closes the kept-alive connections; curl reports each socket with CURL_POLL_REMOVE. */
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, NULL);
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
    while (c->socks)
        sock_close(c, c->socks);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}
