/*
 * http_sync.c — blocking libcurl easy requests for the read-side clients (see http_sync.h).
 *
 * Invariants:
 *  - A pooled handle is owned by the pool, a handle in use by exactly one request; the pool
 *    (`free_list`, `n_free`) is touched only with `mu` held.
 *  - Every request resets its handle's per-request options (method, body, callbacks, headers)
 *    and sets the fixed ones again, so nothing leaks from one request to the next except the
 *    connection cache.
 *  - TLS peer and host verification are never turned off.
 */
#include "http_sync.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "weft/weft.h"

/* Handles kept for reuse; more concurrent requests than this create and drop extra handles. */
#define POOL_MAX 8

#define DEFAULT_CONNECT_MS 10000u
#define DEFAULT_TOTAL_MS 60000u

struct weft__hsync {
    struct curl_slist *headers;
    char *user_agent;
    char *ca_bundle;
    uint32_t connect_ms, total_ms;
    bool no_proxy;
    pthread_mutex_t mu;
    CURL *free_list[POOL_MAX];
    size_t n_free;
};

int weft__hsync_new(weft__hsync **out, const weft__hsync_opts *opts)
{
    *out = NULL;
    if (weft__http_global_init() != 0)
        return WEFT_EIO;
    weft__hsync *h = calloc(1, sizeof *h);
    if (!h)
        return WEFT_ENOMEM;
    pthread_mutex_init(&h->mu, NULL);
    h->connect_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : DEFAULT_CONNECT_MS;
    h->total_ms = opts->request_timeout_ms ? opts->request_timeout_ms : DEFAULT_TOTAL_MS;
    h->no_proxy = opts->no_proxy;
    bool ok = true;
    if (opts->user_agent && !(h->user_agent = strdup(opts->user_agent)))
        ok = false;
    if (opts->ca_bundle && !(h->ca_bundle = strdup(opts->ca_bundle)))
        ok = false;
    /* Expect: 100-continue would cost a round trip per request on bodies over 1 MiB. */
    const char *fixed[] = {"Content-Type: application/json", "Accept: application/json",
                           "Expect:"};
    for (size_t i = 0; ok && i < sizeof fixed / sizeof *fixed; i++) {
        struct curl_slist *l = curl_slist_append(h->headers, fixed[i]);
        if (!l)
            ok = false;
        else
            h->headers = l;
    }
    for (size_t i = 0; ok && i < opts->n_headers; i++) {
        struct curl_slist *l = curl_slist_append(h->headers, opts->headers[i]);
        if (!l)
            ok = false;
        else
            h->headers = l;
    }
    if (!ok) {
        weft__hsync_free(h);
        return WEFT_ENOMEM;
    }
    *out = h;
    return 0;
}

void weft__hsync_free(weft__hsync *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_free; i++)
        curl_easy_cleanup(h->free_list[i]);
    curl_slist_free_all(h->headers);
    free(h->user_agent);
    free(h->ca_bundle);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

static CURL *take(weft__hsync *h)
{
    CURL *e = NULL;
    pthread_mutex_lock(&h->mu);
    if (h->n_free)
        e = h->free_list[--h->n_free];
    pthread_mutex_unlock(&h->mu);
    if (e) {
        curl_easy_reset(e); /* keeps the connection cache, forgets every option */
        return e;
    }
    return curl_easy_init();
}

static void give_back(weft__hsync *h, CURL *e)
{
    pthread_mutex_lock(&h->mu);
    if (h->n_free < POOL_MAX) {
        h->free_list[h->n_free++] = e;
        e = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    if (e)
        curl_easy_cleanup(e);
}

/* ---- callbacks ------------------------------------------------------------------------------ */

typedef struct xfer {
    weft__hsync_resp *r;
    size_t cap;
    bool too_big, oom;
} xfer;

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    xfer *x = ud;
    weft__hsync_resp *r = x->r;
    size_t n = size * nmemb;
    if (r->body_len + n > WEFT__HSYNC_MAX_BODY) {
        x->too_big = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    if (r->body_len + n + 1 > x->cap) {
        size_t cap = x->cap ? x->cap : 16384;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *b = realloc(r->body, cap);
        if (!b) {
            x->oom = true;
            return 0;
        }
        r->body = b;
        x->cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

/* Copies the trimmed value of header `name` from line into out; true when line is it. A value
 * too long to keep becomes "?" (fails to parse) rather than a misleading prefix. */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len <= nl || line[nl] != ':' || strncasecmp(line, name, nl) != 0)
        return false;
    const char *v = line + nl + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    size_t vl = (size_t)(end - v);
    if (vl >= cap) {
        snprintf(out, cap, "?");
        return true;
    }
    memcpy(out, v, vl);
    out[vl] = '\0';
    return true;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
    xfer *x = ud;
    weft__hsync_resp *r = x->r;
    size_t len = size * nitems;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new answer (after 100 Continue): forget the previous one's headers and body. */
        r->has_retry_after = r->has_retry_after_ms = false;
        r->retry_after[0] = r->retry_after_ms[0] = '\0';
        r->body_len = 0;
    } else if (header_value(line, len, "retry-after", r->retry_after, sizeof r->retry_after)) {
        r->has_retry_after = true;
    } else if (header_value(line, len, "retry-after-ms", r->retry_after_ms,
                            sizeof r->retry_after_ms)) {
        r->has_retry_after_ms = true;
    }
    return len;
}

static weft__http_err map_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return WEFT__HTTP_OK;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return WEFT__HTTP_ECONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return WEFT__HTTP_ETIMEDOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
        return WEFT__HTTP_ETLS;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_NOT_BUILT_IN:
    case CURLE_OUT_OF_MEMORY:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_FUNCTION_NOT_FOUND:
        return WEFT__HTTP_EFATAL;
    default:
        /* CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_RECV_ERROR, CURLE_SEND_ERROR, ...: the
         * connection broke before a whole answer arrived. */
        return WEFT__HTTP_EIO;
    }
}

/* ---- request -------------------------------------------------------------------------------- */

int weft__hsync_request(weft__hsync *h, const char *method, const char *url, const char *body,
                        size_t body_len, weft__hsync_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    CURL *e = take(h);
    if (!e)
        return WEFT_ENOMEM;
    xfer x = {.r = resp};
    char errbuf[CURL_ERROR_SIZE] = "";

    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* a redirect is an answer, not followed */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)h->connect_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)h->total_ms);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding curl can decode */
    if (h->ca_bundle)
        curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_bundle);
    if (h->user_agent)
        curl_easy_setopt(e, CURLOPT_USERAGENT, h->user_agent);
    if (h->no_proxy)
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &x);

    if (!strcmp(method, "GET")) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else {
        /* POSTFIELDS reads body in place; the method name is replaced for PUT and PATCH. */
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
        if (strcmp(method, "POST"))
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }

    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (x.oom) {
        curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL);
        give_back(h, e);
        free(resp->body);
        resp->body = NULL;
        resp->body_len = 0;
        return WEFT_ENOMEM;
    }
    resp->err = map_error(rc);
    if (x.too_big) {
        resp->err = WEFT__HTTP_EIO;
        snprintf(resp->err_text, sizeof resp->err_text, "answer larger than %zu bytes",
                 WEFT__HSYNC_MAX_BODY);
    } else if (rc != CURLE_OK) {
        snprintf(resp->err_text, sizeof resp->err_text, "%s%s%s", curl_easy_strerror(rc),
                 errbuf[0] ? ": " : "", errbuf);
    }
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL); /* errbuf dies with this frame */
    resp->status = resp->err == WEFT__HTTP_OK ? (int)status : 0;
    if (resp->err != WEFT__HTTP_OK) {
        free(resp->body);
        resp->body = NULL;
        resp->body_len = 0;
    }
    give_back(h, e);
    return 0;
}

void weft__hsync_resp_fini(weft__hsync_resp *resp)
{
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}
