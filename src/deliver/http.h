/*
 * http.h — weft's HTTP client: libcurl's multi interface driven by the export thread's libuv
 * loop, for PUT requests whose bodies are sent from caller-owned memory without copying.
 *
 * Owns: one curl multi handle per client (one connection cache, so connections are kept alive
 * and reused between requests), the uv handles that watch curl's sockets and timer, and a pool
 * of curl easy handles. Only http.c includes <curl/curl.h>; callers see the opaque types below.
 *
 * Threading: a client belongs to the loop thread it was created for. Every function must be
 * called on that thread; on_done runs on it too, from the loop, never from inside a call made
 * by the caller (weft__http_put never calls back). Nothing here blocks the loop: name lookups
 * use curl's threaded resolver when it has one (a warning is logged once when it does not).
 * Transfers set CURLOPT_NOSIGNAL (the process is multi-threaded), so libcurl does not ignore
 * SIGPIPE for us: the loop thread must block it (libcurl-thread(3): a TLS write to a socket the
 * peer closed can raise it).
 *
 * TLS verification is always on (peer and host name); a CA bundle may replace the system's.
 */
#ifndef WEFT_HTTP_H
#define WEFT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uv_loop_s;

/* How a request ended when no usable HTTP answer arrived (libcurl codes mapped in http.c). */
typedef enum weft__http_err {
    WEFT__HTTP_OK = 0,     /* an answer arrived: see status */
    WEFT__HTTP_ECONNECT,   /* name lookup failed, connection refused or unreachable */
    WEFT__HTTP_ETIMEDOUT,  /* connect or total timeout */
    WEFT__HTTP_EIO,        /* reset, closed mid-request, empty or malformed answer */
    WEFT__HTTP_ETLS,       /* TLS handshake failed (not the certificate: see ETLS_VERIFY) */
    WEFT__HTTP_ETLS_VERIFY, /* the server's certificate was refused: unknown issuer, host name
                              mismatch, pinned key, revoked — configuration, not transient */
    WEFT__HTTP_ECANCELED,  /* cancelled by the caller (never passed to on_done) */
    WEFT__HTTP_EFATAL      /* cannot work as configured: bad URL or scheme, CA file, memory */
} weft__http_err;

/* Response bytes kept for on_done (the server's `detail`); the rest is read and discarded.
 * 64 KiB: a 422 names every refused item (FastAPI: ~150 bytes per item without pydantic's
 * echo of the input), so 2 % of a 1000-item request fits many times over. */
#define WEFT__HTTP_BODY_KEEP 65536
/* Header values kept (Retry-After, retry-after-ms); longer values are cut, then fail parsing. */
#define WEFT__HTTP_HEADER_KEEP 128
/* Body pieces per request: prefix, slice, suffix. */
#define WEFT__HTTP_MAX_PARTS 4

typedef struct weft__http weft__http;
typedef struct weft__http_xfer weft__http_xfer;

typedef struct weft__http_opts {
    const char *const *headers;  /* "Name: value" lines sent with every request; borrowed, copied */
    size_t n_headers;
    const char *user_agent;      /* borrowed, copied; NULL: curl sends none */
    const char *method;          /* request method, borrowed, copied; NULL: PUT */
    const char *ca_bundle;       /* CA file (CURLOPT_CAINFO); NULL: the system's */
    uint32_t connect_timeout_ms; /* 0: 5000 */
    uint32_t request_timeout_ms; /* whole request, connect included; 0: 30000 */
    uint32_t max_conns;          /* connections per host and kept alive; 0: 4 */
} weft__http_opts;

/* What on_done receives. Every pointer is borrowed for the duration of the callback. */
typedef struct weft__http_result {
    int status;                 /* status of the final answer; 0 when none arrived */
    weft__http_err err;         /* WEFT__HTTP_OK when status is meaningful */
    const char *err_text;       /* curl's words for err ("" when OK); never holds a header */
    const char *retry_after;    /* Retry-After value, trimmed; NULL when absent */
    size_t retry_after_len;
    const char *retry_after_ms; /* retry-after-ms value, trimmed; NULL when absent */
    size_t retry_after_ms_len;
    const char *body;           /* first WEFT__HTTP_BODY_KEEP bytes of the answer's body */
    size_t body_len;
    long new_connects;          /* connections opened for this request (0: one was reused) */
} weft__http_result;

typedef void (*weft__http_done_fn)(void *ud, const weft__http_result *r);

/* A piece of a request body; data is borrowed until on_done runs or the request is cancelled. */
typedef struct weft__http_part {
    const char *data;
    size_t len;
} weft__http_part;

/*
 * libcurl's process-wide initialisation, done once (pthread_once) for every weft user of
 * libcurl: this client and the synchronous read-side clients. 0, or WEFT_EIO when libcurl
 * refused. Thread-safe.
 */
int weft__http_global_init(void);

/* How a libcurl transfer that ended with CURLcode `code` is classified (CURLE_OK: an answer
 * arrived). One mapping for the export side and the clients. */
weft__http_err weft__http_err_of_curl(int code);

/*
 * Creates a client for loop (borrowed; must outlive the client's handles). Initialises libcurl
 * once per process (pthread_once around curl_global_init, which is not thread-safe in libcurl
 * builds without CURL_VERSION_THREADSAFE; weft never calls curl_global_cleanup, since the host
 * may use libcurl too). Returns 0, WEFT_ENOMEM or WEFT_EIO (libcurl refused to initialise).
 */
int weft__http_new(weft__http **out, struct uv_loop_s *loop, const weft__http_opts *opts);

/*
 * Starts a request (PUT, or the client's method) to url (borrowed, copied by curl) with the concatenation of parts as its body
 * (Content-Length set; the parts are read in place, never copied, and re-read from the start
 * when curl must resend on a reused connection that turned out dead). on_done(ud, result) runs
 * exactly once, later, on the loop — unless the request is cancelled. Returns the transfer, or
 * NULL when it could not start (out of memory; logged), in which case on_done never runs.
 */
weft__http_xfer *weft__http_put(weft__http *c, const char *url, const weft__http_part *parts,
                                size_t n_parts, weft__http_done_fn on_done, void *ud);

/*
 * weft__http_put with extra "Name: value" lines (borrowed, copied for the transfer's life) sent
 * with this request only, after the client's headers: a body's Content-Encoding, say. n_headers
 * 0: exactly weft__http_put. Same returns and callbacks.
 */
weft__http_xfer *weft__http_put_h(weft__http *c, const char *url, const weft__http_part *parts,
                                  size_t n_parts, const char *const *headers, size_t n_headers,
                                  weft__http_done_fn on_done, void *ud);

/* Stops a transfer that has not finished; its on_done will not run. x must be live. */
void weft__http_cancel(weft__http *c, weft__http_xfer *x);

/* Transfers started and not yet finished or cancelled. */
size_t weft__http_active(const weft__http *c);

/*
 * Cancels whatever is still running (no on_done), closes kept-alive connections and frees the
 * client. Its uv handles close asynchronously: the loop must run again (uv_run) before
 * uv_loop_close for the last memory to be released. Must not be called from on_done. NULL ok.
 */
void weft__http_free(weft__http *c);

#endif
