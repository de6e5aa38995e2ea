/*
 * http_sync.c — blocking requests with fixed settings for the SGP client (see http_sync.h),
 * on easy.c's transfer and handle pool: this file only keeps the settings and fills in each
 * request from them.
 */
#include "http_sync.h"

#include <stdlib.h>
#include <string.h>

#include "weft/weft.h"

#define DEFAULT_CONNECT_MS 10000u
#define DEFAULT_TOTAL_MS 60000u

/* Every request carries these before the caller's own. Expect: 100-continue would cost a
 * round trip per request on bodies over 1 MiB. */
static const char *const fixed_headers[] = {"Content-Type: application/json", "Accept: application/json"};
#define N_FIXED (sizeof fixed_headers / sizeof *fixed_headers)

struct weft__hsync {
    char **headers; /* fixed_headers, then the caller's; owned copies */
    size_t n_headers;
    char *user_agent, *ca_bundle;
    uint32_t connect_ms, total_ms;
    bool no_proxy;
    weft__easy_pool *pool;
};

int weft__hsync_new(weft__hsync **out, const weft__hsync_opts *opts)
{
    *out = NULL;
    weft__hsync *h = calloc(1, sizeof *h);
    if (!h)
        return WEFT_ENOMEM;
    int rc = weft__easy_pool_new(&h->pool);
    if (rc < 0) {
        free(h);
        return rc;
    }
    h->connect_ms = opts->connect_timeout_ms ? opts->connect_timeout_ms : DEFAULT_CONNECT_MS;
    h->total_ms = opts->request_timeout_ms ? opts->request_timeout_ms : DEFAULT_TOTAL_MS;
    h->no_proxy = opts->no_proxy;
    bool ok = (h->headers = calloc(N_FIXED + opts->n_headers, sizeof *h->headers)) != NULL;
    for (size_t i = 0; ok && i < N_FIXED + opts->n_headers; i++) {
        const char *v = i < N_FIXED ? fixed_headers[i] : opts->headers[i - N_FIXED];
        ok = (h->headers[h->n_headers++] = strdup(v)) != NULL;
    }
    if (ok && opts->user_agent && !(h->user_agent = strdup(opts->user_agent)))
        ok = false;
    if (ok && opts->ca_bundle && !(h->ca_bundle = strdup(opts->ca_bundle)))
        ok = false;
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
    for (size_t i = 0; i < h->n_headers; i++)
        free(h->headers[i]);
    free(h->headers);
    free(h->user_agent);
    free(h->ca_bundle);
    weft__easy_pool_free(h->pool);
    free(h);
}

int weft__hsync_request(weft__hsync *h, const char *method, const char *url, const char *body,
                        size_t body_len, weft__hsync_resp *resp)
{
    bool get = strcmp(method, "GET") == 0;
    weft__easy_req q = {
        .method = method,
        .url = url,
        .headers = (const char *const *)h->headers,
        .n_headers = h->n_headers,
        /* Every other method sends a body, empty when none is given. */
        .body = get ? NULL : (body ? body : ""),
        .body_len = get ? 0 : (body ? body_len : 0),
        .ca_bundle = h->ca_bundle,
        .connect_timeout_ms = h->connect_ms,
        .timeout_ms = h->total_ms,
        .no_proxy = h->no_proxy,
        .user_agent = h->user_agent,
        .accept_encoding = true,
        .max_body = WEFT__HSYNC_MAX_BODY,
    };
    return weft__easy_perform(h->pool, &q, resp);
}

void weft__hsync_resp_fini(weft__hsync_resp *resp) { weft__easy_resp_fini(resp); }
