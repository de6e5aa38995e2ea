/*
 * stratix_upload.h — talking to LayerLens Stratix's traces API, below the client stage so that
 * both the public client (src/client/stratix_client.c) and the stratix exporter
 * (exporters/stratix.c) use one copy of it: the connection (key, base URL and the key/URL rules
 * of url.h), the retry loop (backoff with full jitter, Retry-After, the two retry policies),
 * the organization/project resolution, and the three steps of a file upload (DESIGN.md
 * section 12: POST .../traces/upload {filename, type, size} -> presigned url; PUT the file
 * there; POST .../traces {filename} -> trace ids).
 *
 * Synchronous: every call blocks its thread on libcurl easy requests (easy.h). The exporter
 * runs it on an upload thread of its own, never on the libuv loop.
 *
 * Threading: a connection may be used from any number of threads at once; the organization and
 * project are resolved once under a lock. weft__stratix_conn_free must not race other calls.
 * Errors are described in the caller's weft_stratix_error (weft/stratix.h); nothing here logs
 * and no message ever holds the key.
 */
#ifndef WEFT_STRATIX_UPLOAD_H
#define WEFT_STRATIX_UPLOAD_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/stratix.h"

typedef struct weft__stratix_conn weft__stratix_conn;

/*
 * A connection from o (borrowed; every string copied). No environment is read here: the
 * client and the configuration loader resolve LAYERLENS_STRATIX_* themselves. NULL base_url:
 * WEFT_STRATIX_DEFAULT_BASE_URL; NULL organization or project: resolved from the API on first
 * use. Sends nothing. Returns 0 and *out; WEFT_ECONFIG (no key, a base URL that is not http(s),
 * control characters in the key or ids), WEFT_EINSECURE (plain http:// to a host that is not
 * loopback), WEFT_ENOMEM. err says why.
 */
int weft__stratix_conn_new(weft__stratix_conn **out, const weft_stratix_opts *o, weft_stratix_error *err);

/* Frees c (the key's copies are cleared first). NULL is fine. */
void weft__stratix_conn_free(weft__stratix_conn *c);

/* From now on, when *stop (borrowed: must outlive c) is nonzero, requests in progress and
 * waits between retries end at once with WEFT_ECANCELED. For the exporter's shutdown. */
void weft__stratix_conn_set_stop(weft__stratix_conn *c, const _Atomic int *stop);

/* The organization and project, resolved when needed (see weft_stratix_client_ids). *org and
 * *project (either may be NULL) point into c. */
int weft__stratix_conn_ids(weft__stratix_conn *c, const char **org, const char **project, weft_stratix_error *err);

/* {base}/organizations/{org}/projects/{project}/traces, then each piece of the NULL-terminated
 * extra (may be NULL) percent-encoded as a path segment. *out is a heap string. */
int weft__stratix_traces_url(weft__stratix_conn *c, const char *const *extra, char **out, weft_stratix_error *err);

/*
 * One API request with the key, retried on 408, 429, 5xx and transport errors. body: a JSON
 * text or NULL. what: "GET /traces/{id}", for messages. With answer non-NULL the 2xx answer
 * must be JSON: *answer is its root (taken; not unwrapped), else WEFT_EPROTO. Returns 0,
 * WEFT_EHTTP, WEFT_EIO, WEFT_EPROTO, WEFT_ECANCELED, WEFT_ENOMEM.
 */
int weft__stratix_call(weft__stratix_conn *c, const char *method, const char *url, const char *what,
                       const char *body, json_t **answer, weft_stratix_error *err);

/* {"status": ..., "data": X} -> X; anything else as it is. Borrowed in, borrowed out. */
json_t *weft__stratix_unwrap(json_t *v);

/* The strings of an array, or of d[key] when d is an object. Returns 0 (heap copies in *items,
 * the caller frees them and the array even on WEFT_ENOMEM), WEFT_EINVAL (not such a list). */
int weft__stratix_string_list(json_t *d, const char *key, char ***items, size_t *n);

/* Fills err (may be NULL) with code, status, step and one printable line. */
void weft__stratix_set_err(weft_stratix_error *err, int code, int status, weft_stratix_step step, const char *fmt,
                           ...) __attribute__((format(printf, 5, 6)));
/* set_err with WEFT_EINVAL and the text what, or with WEFT_ENOMEM; each returns its code. */
int weft__stratix_bad_arg(weft_stratix_error *err, const char *what);
int weft__stratix_oom(weft_stratix_error *err);

/* The file checks of an upload alone (a .json / .jsonl regular file, readable, not empty, at
 * most WEFT_STRATIX_MAX_UPLOAD_BYTES). 0 or WEFT_EINVAL (err says why, err->sent false). */
int weft__stratix_check_file(const char *path, weft_stratix_error *err);

/*
 * Uploads the file at path in the three steps; the contract of weft_stratix_upload
 * (weft/stratix.h): file checked before anything is sent, err->step names the step that
 * failed, steps 1 and 2 retried on 408/429/5xx/transport errors, step 3 only where the server
 * cannot have acted (connection refused, 429, 503). on_progress may be NULL. *out is taken.
 */
int weft__stratix_upload_file(weft__stratix_conn *c, const char *path, weft_stratix_progress_fn on_progress,
                              void *user, weft_stratix_upload_result **out, weft_stratix_error *err);

#endif
