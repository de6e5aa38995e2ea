/*
 * easy.h — one synchronous HTTP request for weft's API clients (src/client/), on a libcurl easy
 * handle of its own. The export side uses http.c (curl multi on the libuv loop); the clients are
 * called from the application's threads and block, so they use this instead.
 *
 * This file is the one place a client request meets libcurl; http_sync.c (the SGP client's
 * pooled, fixed-header requests) is a thin layer on it.
 *
 * Owns: with a pool, a few idle curl easy handles (each keeps its connection cache, so a handle
 * taken again reuses its kept-alive connection); without one, nothing between calls: the
 * request creates and cleans up its own handle. Any number of threads may perform at once
 * (the pool's list sits behind one mutex, taken only to pop or push a handle). libcurl is
 * initialised once per process (weft__http_global_init); weft never calls curl_global_cleanup.
 *
 * TLS verification is always on (peer and host name). A request made with no_proxy set never
 * goes through a proxy, whatever the environment says (used when an API key travels over plain
 * http to a loopback host).
 */
#ifndef WEFT_EASY_H
#define WEFT_EASY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "http.h"

/* Response bodies longer than max_body (default 64 MiB) fail the request with EIO. */
#define WEFT__EASY_MAX_BODY ((size_t)64 << 20)

/* Upload progress: bytes of the body sent so far and the body's size. Returning false stops the
 * transfer (the request then fails with WEFT__HTTP_ECANCELED). Runs on the calling thread. */
typedef bool (*weft__easy_progress_fn)(void *ud, uint64_t sent, uint64_t total);

typedef struct weft__easy_req {
    const char *method;               /* "GET", "POST", "PUT", "DELETE"; borrowed */
    const char *url;                  /* borrowed */
    const char *const *headers;       /* "Name: value" lines; borrowed */
    size_t n_headers;
    const char *body;                 /* request body from memory (NULL: none), borrowed */
    size_t body_len;
    FILE *body_file;                  /* or from a file, read from its current position; borrowed */
    uint64_t body_file_len;           /* exactly this many bytes are sent (Content-Length) */
    const char *ca_bundle;            /* CA file; NULL: the system's */
    uint32_t connect_timeout_ms;      /* 0: 10000 */
    uint32_t timeout_ms;              /* whole request; 0: none */
    bool no_proxy;                    /* never use a proxy for this request */
    const char *user_agent;           /* NULL: curl sends none; borrowed */
    bool accept_encoding;             /* offer every encoding curl can decode */
    size_t max_body;                  /* 0: WEFT__EASY_MAX_BODY */
    weft__easy_progress_fn progress;  /* NULL: none */
    void *progress_ud;
} weft__easy_req;

typedef struct weft__easy_resp {
    int status;                 /* status of the final answer; 0 when none arrived */
    weft__http_err err;         /* WEFT__HTTP_OK when status is meaningful */
    char err_text[256];         /* curl's words for err ("" when OK) */
    char *body;                 /* the whole answer body, NUL-terminated (heap; NULL when empty) */
    size_t body_len;
    bool has_retry_after, has_retry_after_ms;
    char retry_after[WEFT__HTTP_HEADER_KEEP];    /* trimmed header values */
    char retry_after_ms[WEFT__HTTP_HEADER_KEEP];
} weft__easy_resp;

/*
 * Performs req and fills *resp (which the caller then releases with weft__easy_resp_fini, in
 * every case). Returns 0 when the request ran (an answer arrived, or a transport error is in
 * resp->err), WEFT_ENOMEM or WEFT_EIO when libcurl could not be set up. Blocks the caller.
 */
typedef struct weft__easy_pool weft__easy_pool;

/* A pool of idle handles for requests to the same servers. 0, WEFT_ENOMEM or WEFT_EIO. */
int weft__easy_pool_new(weft__easy_pool **out);
/* Closes the idle handles and frees; must not race a request on the pool. NULL is fine. */
void weft__easy_pool_free(weft__easy_pool *pool);

/* The same on a handle taken from pool (NULL: a handle of its own), given back after. */
int weft__easy_perform(weft__easy_pool *pool, const weft__easy_req *req, weft__easy_resp *resp);

/* Frees resp->body and zeroes resp. */
void weft__easy_resp_fini(weft__easy_resp *resp);

/* Appends the percent-encoding of s to b: RFC 3986 unreserved characters (ALPHA DIGIT - . _ ~)
 * are kept, every other byte becomes %XX. For path segments and query values. */
void weft__easy_escape(weft__buf *b, const char *s);

#endif
