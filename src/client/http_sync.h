/*
 * http_sync.h — blocking HTTP requests for the read-side clients (sgp_client.c): one libcurl
 * easy transfer per call, on the calling thread, with the answer's status, body and retry
 * headers. One attempt per call; the retry policy is the caller's (retry.h).
 *
 * Owns: the fixed request settings (headers, timeouts, CA bundle, proxy rule) and a pool of
 * easy handles (easy.h), so a request reuses the kept-alive connection of an earlier one. The
 * transfer itself is easy.c's.
 *
 * Threading: a weft__hsync is thread-safe; any number of threads run requests at once, each
 * on its own handle. weft__hsync_free must not race a request.
 */
#ifndef WEFT_HTTP_SYNC_H
#define WEFT_HTTP_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "easy.h"
#include "http.h" /* weft__http_err */

/* Longest answer body kept: 512 MiB; a longer one fails with WEFT__HTTP_EIO. */
#define WEFT__HSYNC_MAX_BODY ((size_t)512 << 20)

typedef struct weft__hsync weft__hsync;

typedef struct weft__hsync_opts {
    const char *const *headers;   /* "Name: value" lines for every request; copied */
    size_t n_headers;
    const char *user_agent;       /* copied; NULL: none */
    const char *ca_bundle;        /* copied; NULL: the system's */
    uint32_t connect_timeout_ms;  /* 0: 10000 */
    uint32_t request_timeout_ms;  /* 0: 60000 */
    bool no_proxy;                /* never go through a proxy (CURLOPT_NOPROXY "*") */
} weft__hsync_opts;

/* One attempt's outcome (easy.h's). Owned by the caller: weft__hsync_resp_fini frees the body. */
typedef weft__easy_resp weft__hsync_resp;

/* 0, WEFT_ENOMEM, or WEFT_EIO when libcurl cannot initialise. */
int weft__hsync_new(weft__hsync **out, const weft__hsync_opts *opts);

/* Closes every pooled handle and frees. NULL is fine. */
void weft__hsync_free(weft__hsync *h);

/*
 * One request: method ("GET", "POST", "PUT", "PATCH") to url with body (body_len bytes,
 * borrowed; NULL for none) sent as application/json. Fills *resp (always; fini it after).
 * Returns 0 when a request was made (whatever its outcome, see resp), WEFT_ENOMEM otherwise.
 */
int weft__hsync_request(weft__hsync *h, const char *method, const char *url, const char *body,
                        size_t body_len, weft__hsync_resp *resp);

void weft__hsync_resp_fini(weft__hsync_resp *resp);

#endif
