/*
 * easy.c — synchronous HTTP requests for the API clients (see easy.h), on a handle from a pool
 * or one made for the request.
 *
 * Owns, during a call: the handle (given back to its pool, or cleaned up), its header list
 * and the response body buffer (handed to the caller in resp->body). The only file of
 * src/client/ that includes <curl/curl.h>. Every request resets its handle's options and sets
 * them all again, so nothing leaks from one request to the next but the connection cache. TLS
 * peer and host verification are never turned off; CURLOPT_NOSIGNAL is set (the host is
 * multi-threaded).
 */
#include "easy.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "weft/weft.h"

/* 10 s to connect: the Stratix SDK's clients allow minutes for a whole request but a connection
 * that takes longer than this is not coming. */
#define DEFAULT_CONNECT_MS 10000u

/* Idle handles a pool keeps; more concurrent requests than this make and drop extra handles. */
#define POOL_MAX 8

struct weft__easy_pool {
    pthread_mutex_t mu;
    CURL *idle[POOL_MAX];
    size_t n_idle;
};

int weft__easy_pool_new(weft__easy_pool **out)
{
    *out = NULL;
    if (weft__http_global_init() != 0)
        return WEFT_EIO;
    weft__easy_pool *p = calloc(1, sizeof *p);
    if (!p)
        return WEFT_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    *out = p;
    return 0;
}

void weft__easy_pool_free(weft__easy_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_idle; i++)
        curl_easy_cleanup(p->idle[i]);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static CURL *take(weft__easy_pool *p)
{
    CURL *e = NULL;
    if (p) {
        pthread_mutex_lock(&p->mu);
        if (p->n_idle)
            e = p->idle[--p->n_idle];
        pthread_mutex_unlock(&p->mu);
    }
    if (e) {
        curl_easy_reset(e); /* keeps the connection cache, forgets every option */
        return e;
    }
    return curl_easy_init();
}

static void give_back(weft__easy_pool *p, CURL *e)
{
    if (p) {
        pthread_mutex_lock(&p->mu);
        if (p->n_idle < POOL_MAX) {
            p->idle[p->n_idle++] = e;
            e = NULL;
        }
        pthread_mutex_unlock(&p->mu);
    }
    if (e)
        curl_easy_cleanup(e);
}

typedef struct easy_ctx {
    const weft__easy_req *req;
    weft__easy_resp *resp;
    size_t body_cap;
    bool too_big, oom;
    uint64_t file_left; /* bytes of body_file still to send */
    size_t mem_off;     /* bytes of the memory body sent */
} easy_ctx;

static size_t on_body(char *p, size_t size, size_t nitems, void *ud)
{
    easy_ctx *x = ud;
    weft__easy_resp *r = x->resp;
    size_t n = size * nitems;
    if (r->body_len + n > (x->req->max_body ? x->req->max_body : WEFT__EASY_MAX_BODY)) {
        x->too_big = true;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    if (r->body_len + n + 1 > x->body_cap) {
        size_t cap = x->body_cap ? x->body_cap : 4096;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (nb == NULL) {
            x->oom = true;
            return 0;
        }
        r->body = nb;
        x->body_cap = cap;
    }
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

/* "Name: value\r\n" -> the trimmed value into out when the name matches (case-insensitive). */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
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
    if (vl >= outlen) {
        snprintf(out, outlen, "?"); /* too long to keep: fails parsing, unlike a misleading prefix */
        return true;
    }
    memcpy(out, v, vl);
    out[vl] = '\0';
    return true;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
    easy_ctx *x = ud;
    weft__easy_resp *r = x->resp;
    size_t len = size * nitems;
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* A new answer (after 100 Continue): forget what the previous one said. */
        r->has_retry_after = r->has_retry_after_ms = false;
        r->body_len = 0;
    } else if (header_value(line, len, "retry-after", r->retry_after, sizeof r->retry_after)) {
        r->has_retry_after = true;
    } else if (header_value(line, len, "retry-after-ms", r->retry_after_ms, sizeof r->retry_after_ms)) {
        r->has_retry_after_ms = true;
    }
    return len;
}

static size_t on_read(char *p, size_t size, size_t nitems, void *ud)
{
    easy_ctx *x = ud;
    const weft__easy_req *q = x->req;
    size_t n = size * nitems;
    if (q->body_file) {
        if (x->file_left == 0)
            return 0;
        if (n > x->file_left)
            n = (size_t)x->file_left;
        size_t got = fread(p, 1, n, q->body_file);
        if (got == 0)
            return CURL_READFUNC_ABORT; /* the file shrank or failed under us */
        x->file_left -= got;
        return got;
    }
    size_t left = q->body_len - x->mem_off;
    if (n > left)
        n = left;
    memcpy(p, q->body + x->mem_off, n);
    x->mem_off += n;
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    easy_ctx *x = ud;
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    uint64_t total = x->req->body_file ? x->req->body_file_len : x->req->body_len;
    return x->req->progress(x->req->progress_ud, (uint64_t)ulnow, total) ? 0 : 1;
}

void weft__easy_resp_fini(weft__easy_resp *resp)
{
    if (resp) {
        free(resp->body);
        memset(resp, 0, sizeof *resp);
    }
}

int weft__easy_perform(weft__easy_pool *pool, const weft__easy_req *req, weft__easy_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    if (weft__http_global_init() < 0)
        return WEFT_EIO;
    CURL *e = take(pool);
    if (e == NULL)
        return WEFT_ENOMEM;
    struct curl_slist *hl = NULL;
    for (size_t i = 0; i < req->n_headers; i++) {
        struct curl_slist *n = curl_slist_append(hl, req->headers[i]);
        if (n == NULL) {
            curl_slist_free_all(hl);
            give_back(pool, e);
            return WEFT_ENOMEM;
        }
        hl = n;
    }
    bool has_body = req->body != NULL || req->body_file != NULL;
    if (has_body) {
        /* No "Expect: 100-continue": bodies here are at most 50 MB and the servers answer
         * quickly; the header costs a round trip, and some presigned-URL hosts ignore it. */
        struct curl_slist *n = curl_slist_append(hl, "Expect:");
        if (n == NULL) {
            curl_slist_free_all(hl);
            give_back(pool, e);
            return WEFT_ENOMEM;
        }
        hl = n;
    }

    easy_ctx x = {.req = req, .resp = resp, .file_left = req->body_file_len};
    char errbuf[CURL_ERROR_SIZE];
    errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(req->connect_timeout_ms ? req->connect_timeout_ms : DEFAULT_CONNECT_MS));
    if (req->timeout_ms)
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    /* Redirects are not followed: a redirect would carry the API key to wherever it points. */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (req->no_proxy)
        curl_easy_setopt(e, CURLOPT_PROXY, "");
    if (req->ca_bundle)
        curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_bundle);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (req->user_agent)
        curl_easy_setopt(e, CURLOPT_USERAGENT, req->user_agent);
    if (req->accept_encoding)
        curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* every encoding curl can decode */
    if (has_body) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, &x);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)(req->body_file ? req->body_file_len : req->body_len));
    }
    /* CURLOPT_UPLOAD makes the request a PUT; the method string decides what is sent. */
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "PUT") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    if (req->progress) {
        curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(e, CURLOPT_XFERINFODATA, &x);
    }

    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, NULL); /* errbuf dies with this frame */
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    give_back(pool, e);

    if (x.oom) {
        weft__easy_resp_fini(resp);
        return WEFT_ENOMEM;
    }
    resp->err = weft__http_err_of_curl(rc);
    if (x.too_big) {
        resp->err = WEFT__HTTP_EIO;
        snprintf(resp->err_text, sizeof resp->err_text, "answer longer than %zu bytes",
                 req->max_body ? req->max_body : WEFT__EASY_MAX_BODY);
    } else if (rc != CURLE_OK) {
        snprintf(resp->err_text, sizeof resp->err_text, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    resp->status = resp->err == WEFT__HTTP_OK ? (int)status : 0;
    if (resp->err != WEFT__HTTP_OK) {
        /* No usable answer: nothing of a partial one is kept. */
        resp->has_retry_after = resp->has_retry_after_ms = false;
        free(resp->body);
        resp->body = NULL;
        resp->body_len = 0;
    }
    return 0;
}

void weft__easy_escape(weft__buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.' || c == '_' || c == '~') {
            weft__buf_putc(b, (char)c);
        } else {
            char t[3] = {'%', hex[c >> 4], hex[c & 15]};
            weft__buf_append(b, t, 3);
        }
    }
}
