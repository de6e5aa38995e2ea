/*
 * stratix_upload.c — the Stratix connection, retry loop, organization/project resolution and
 * the three upload steps (see stratix_upload.h), shared by the public client
 * (src/client/stratix_client.c) and the stratix exporter (exporters/stratix.c).
 *
 * Owns: the weft__stratix_conn — copies of the options (the key's copies are cleared before
 * they are freed), the resolved organization and project ids, and the lock that guards their
 * resolution. Requests go through easy.c, one libcurl handle per request, so calls on one
 * connection from several threads share nothing but the immutable options and the ids
 * (written once under `mu`, then only read).
 *
 * Facts about the API (the Stratix SDK's behaviour): paths under
 * {base}/organizations/{org}/projects/{project}/traces; answers may be wrapped as
 * {"status": ..., "data": ...}; step 1 answers {url, organization_id, project_id}; step 3
 * answers a list of ids or {trace_ids: [...]}; the upload's `type` is application/json or
 * application/jsonl and the PUT carries it as Content-Type.
 *
 * Nothing here logs: every failure is described in the caller's weft_stratix_error, and no
 * message ever holds the key (only statuses, URLs' paths and the server's own words).
 */
#include "stratix_upload.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "buf.h"
#include "easy.h"
#include "json_value.h"
#include "retry.h"
#include "url.h"
#include "weft/version.h"

#define DEFAULT_TIMEOUT_MS 600000u /* the SDK's 10 minutes */
#define DEFAULT_MAX_RETRIES 2      /* the SDK's max_retries */
#define DEFAULT_MAX_WAIT_MS 30000u /* DESIGN.md section 7's backoff cap */
/* Longest server message quoted in an error line. */
#define SERVER_MSG_MAX 200

/* How often a stoppable wait looks at the stop flag. */
#define STOP_POLL_MS 20u

struct weft__stratix_conn {
    char *key;
    char *key_header; /* "x-api-key: ..." */
    char *base;       /* no trailing '/' */
    bool base_plain_loopback;
    char *ca_bundle;
    uint32_t connect_ms, timeout_ms, max_wait_ms;
    unsigned max_retries;
    const _Atomic int *stop; /* NULL: never stopped */

    pthread_mutex_t mu;
    char *org, *project; /* written once under mu (then read without it: see conn_ids) */
    bool resolved;
};

/* What a request may be retried on. */
typedef enum retry_policy {
    RETRY_IDEMPOTENT, /* 408, 429, 5xx, connect / timeout / reset */
    RETRY_UNSENT      /* only where the server cannot have acted: connect refused, 429, 503 */
} retry_policy;

/* ---- small helpers ------------------------------------------------------------------------- */

static void free_secret(char *p)
{
    if (p) {
        volatile char *v = p;
        while (*v)
            *v++ = '\0';
        free(p);
    }
}

static bool header_safe(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return false;
    return true;
}

#define set_err weft__stratix_set_err

void weft__stratix_set_err(weft_stratix_error *err, int code, int status, weft_stratix_step step, const char *fmt, ...)
{
    if (err == NULL)
        return;
    err->code = code;
    err->http_status = status;
    err->step = step;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    /* One printable line whatever the server sent. */
    for (char *p = err->message; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
}

static void clear_err(weft_stratix_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

const char *weft_stratix_step_name(weft_stratix_step step)
{
    switch (step) {
    case WEFT_STRATIX_STEP_PRESIGN:
        return "request an upload URL";
    case WEFT_STRATIX_STEP_PUT:
        return "PUT the file to the upload URL";
    case WEFT_STRATIX_STEP_CREATE:
        return "create the traces";
    case WEFT_STRATIX_STEP_NONE:
    default:
        return "none";
    }
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool stopped(const weft__stratix_conn *c)
{
    return c->stop && atomic_load_explicit(c->stop, memory_order_relaxed) != 0;
}

/* Sleeps ms, in slices when the connection can be stopped. False when it was. */
static bool sleep_ms(const weft__stratix_conn *c, uint64_t ms)
{
    while (ms > 0) {
        if (stopped(c))
            return false;
        uint64_t slice = c->stop && ms > STOP_POLL_MS ? STOP_POLL_MS : ms;
        struct timespec ts = {.tv_sec = (time_t)(slice / 1000), .tv_nsec = (long)(slice % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
        ms -= slice;
    }
    return !stopped(c);
}

json_t *weft__stratix_unwrap(json_t *v)
{
    if (json_is_object(v) && json_object_get(v, "status") && json_object_get(v, "data"))
        return json_object_get(v, "data");
    return v;
}

static json_t *parse_body(const weft__easy_resp *r)
{
    if (r->body == NULL || r->body_len == 0)
        return NULL;
    /* Integers as reals: a number too big for int64 must not fail a whole answer; the writer
     * prints integral reals below 2^53 as integers again. */
    return json_loadb(r->body, r->body_len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, NULL);
}

/* The server's reason in a failed answer: message / error / detail (a string, or an object with
 * a message), from the body or its "data"; else the start of the body. Printable, cut. */
static void server_message(const weft__easy_resp *r, char *out, size_t outlen)
{
    out[0] = '\0';
    json_t *root = parse_body(r);
    const char *text = NULL;
    json_t *scan[2] = {root, json_is_object(root) ? json_object_get(root, "data") : NULL};
    static const char *const keys[] = {"message", "error", "detail"};
    for (size_t s = 0; s < 2 && !text; s++) {
        if (!json_is_object(scan[s]))
            continue;
        for (size_t k = 0; k < 3 && !text; k++) {
            json_t *v = json_object_get(scan[s], keys[k]);
            if (json_is_string(v))
                text = json_string_value(v);
            else if (json_is_object(v) && json_is_string(json_object_get(v, "message")))
                text = json_string_value(json_object_get(v, "message"));
        }
    }
    if (text) {
        snprintf(out, outlen, "%s", text);
    } else if (r->body_len) {
        weft__retry_detail(r->body, r->body_len, out, outlen);
    }
    json_decref(root);
    size_t n = strlen(out);
    if (n > SERVER_MSG_MAX)
        out[SERVER_MSG_MAX] = '\0';
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
}

/* ---- connection lifetime ------------------------------------------------------------------- */

void weft__stratix_conn_free(weft__stratix_conn *c)
{
    if (c == NULL)
        return;
    free_secret(c->key);
    free_secret(c->key_header);
    free(c->base);
    free(c->ca_bundle);
    free(c->org);
    free(c->project);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static const char *given(const char *s) { return s && *s ? s : NULL; }

int weft__stratix_conn_new(weft__stratix_conn **out, const weft_stratix_opts *opts, weft_stratix_error *err)
{
    clear_err(err);
    *out = NULL;
    weft_stratix_opts o = {0};
    if (opts)
        o = *opts;
    const char *key = given(o.api_key);
    const char *base = given(o.base_url);
    const char *org = given(o.organization_id);
    const char *project = given(o.project_id);
    if (base == NULL)
        base = WEFT_STRATIX_DEFAULT_BASE_URL;
    if (key == NULL) {
        set_err(err, WEFT_ECONFIG, 0, 0, "no Stratix API key: set LAYERLENS_STRATIX_API_KEY");
        return WEFT_ECONFIG;
    }
    if (!header_safe(key) || (org && !header_safe(org)) || (project && !header_safe(project))) {
        set_err(err, WEFT_ECONFIG, 0, 0, "the Stratix API key, organization or project id holds control characters");
        return WEFT_ECONFIG;
    }
    int rc = weft__url_key_allowed(NULL, base, true, true);
    if (rc == WEFT_ECONFIG) {
        set_err(err, rc, 0, 0, "Stratix base URL must start with https:// (or http:// to a loopback host)");
        return rc;
    }
    if (rc == WEFT_EINSECURE) {
        set_err(err, rc, 0, 0,
                "refusing to send the Stratix API key over plain http:// to a host that is not loopback; use https://");
        return rc;
    }

    weft__stratix_conn *c = calloc(1, sizeof *c);
    if (c == NULL) {
        set_err(err, WEFT_ENOMEM, 0, 0, "out of memory");
        return WEFT_ENOMEM;
    }
    pthread_mutex_init(&c->mu, NULL);
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    c->base = strndup(base, blen);
    c->key = strdup(key);
    size_t hl = strlen(key) + sizeof "x-api-key: ";
    c->key_header = malloc(hl);
    if (c->key_header)
        snprintf(c->key_header, hl, "x-api-key: %s", key);
    c->ca_bundle = o.ca_bundle ? strdup(o.ca_bundle) : NULL;
    c->org = org ? strdup(org) : NULL;
    c->project = project ? strdup(project) : NULL;
    if (!c->base || !c->key || !c->key_header || (o.ca_bundle && !c->ca_bundle) || (org && !c->org) ||
        (project && !c->project)) {
        weft__stratix_conn_free(c);
        set_err(err, WEFT_ENOMEM, 0, 0, "out of memory");
        return WEFT_ENOMEM;
    }
    weft__url u;
    weft__url_parse(c->base, &u);
    c->base_plain_loopback = !u.https;
    c->resolved = c->org && c->project;
    c->connect_ms = o.connect_timeout_ms;
    c->timeout_ms = o.request_timeout_ms ? o.request_timeout_ms : DEFAULT_TIMEOUT_MS;
    c->max_retries = o.max_retries < 0 ? 0u : o.max_retries == 0 ? DEFAULT_MAX_RETRIES : (unsigned)o.max_retries;
    c->max_wait_ms = o.max_retry_wait_ms ? o.max_retry_wait_ms : DEFAULT_MAX_WAIT_MS;
    *out = c;
    return 0;
}

void weft__stratix_conn_set_stop(weft__stratix_conn *c, const _Atomic int *stop) { c->stop = stop; }

/* ---- one request, with retries --------------------------------------------------------------- */

typedef struct call {
    const char *method;
    const char *url;
    const char *what;        /* "GET /organizations", for messages (no host, no key) */
    weft_stratix_step step;
    const char *body;        /* JSON body or NULL */
    FILE *file;              /* or the upload's bytes */
    uint64_t file_len;
    const char *content_type; /* for bodies */
    bool with_key;
    bool no_proxy;
    retry_policy policy;
    weft__easy_progress_fn progress;
    void *progress_ud;
} call;

static bool transient(const weft__easy_resp *r, retry_policy p)
{
    if (r->err == WEFT__HTTP_ETLS || r->err == WEFT__HTTP_ECANCELED || r->err == WEFT__HTTP_EFATAL)
        return false; /* certificates and cancellations do not heal with time */
    if (p == RETRY_UNSENT)
        return r->err == WEFT__HTTP_ECONNECT || (r->err == WEFT__HTTP_OK && (r->status == 429 || r->status == 503));
    return weft__retry_classify(r->status, r->err) == WEFT__V_RETRY;
}

/*
 * Runs k until a 2xx answer (returns 0, *resp holds it: the caller finis it) or a failure that
 * is permanent or out of retries (returns WEFT_EHTTP for an HTTP error status, WEFT_EIO for no
 * usable answer, WEFT_ECANCELED when the progress callback said stop; err filled; *resp finied). err->attempts
 * and err->sent are kept up to date either way.
 */
/* The request's progress callback when the connection can be stopped: the stop flag first, then
 * the call's own callback. */
typedef struct stop_progress {
    const weft__stratix_conn *c;
    const call *k;
} stop_progress;

static bool on_stop_progress(void *ud, uint64_t sent, uint64_t total)
{
    stop_progress *p = ud;
    if (stopped(p->c))
        return false;
    return p->k->progress ? p->k->progress(p->k->progress_ud, sent, total) : true;
}

static int perform(weft__stratix_conn *c, const call *k, weft__easy_resp *resp, weft_stratix_error *err)
{
    const char *hdrs[5];
    size_t nh = 0;
    char ct[96];
    if (k->with_key)
        hdrs[nh++] = c->key_header;
    hdrs[nh++] = "Accept: application/json";
    hdrs[nh++] = "User-Agent: weft/" WEFT_VERSION_STRING;
    if (k->body || k->file) {
        snprintf(ct, sizeof ct, "Content-Type: %s", k->content_type ? k->content_type : "application/json");
        hdrs[nh++] = ct;
    }
    weft__easy_req q = {
        .method = k->method,
        .url = k->url,
        .headers = hdrs,
        .n_headers = nh,
        .body = k->body,
        .body_len = k->body ? strlen(k->body) : 0,
        .body_file = k->file,
        .body_file_len = k->file_len,
        .ca_bundle = c->ca_bundle,
        .connect_timeout_ms = c->connect_ms,
        .timeout_ms = c->timeout_ms,
        .no_proxy = k->no_proxy,
        .progress = k->progress,
        .progress_ud = k->progress_ud,
    };
    stop_progress sp = {c, k};
    if (c->stop) {
        q.progress = on_stop_progress;
        q.progress_ud = &sp;
    }
    uint64_t rng = (uint64_t)wall_ms() ^ (uint64_t)(uintptr_t)resp ^ (uint64_t)(uintptr_t)c;
    for (unsigned attempt = 0;; attempt++) {
        if (stopped(c)) {
            memset(resp, 0, sizeof *resp);
            set_err(err, WEFT_ECANCELED, 0, k->step, "%s%s: stopped (shutdown)", k->step ? "upload step: " : "",
                    k->what);
            return WEFT_ECANCELED;
        }
        if (k->file && fseeko(k->file, 0, SEEK_SET) != 0) {
            set_err(err, WEFT_EIO, 0, k->step, "%s: cannot rewind the file: %s", k->what, strerror(errno));
            return WEFT_EIO;
        }
        int rc = weft__easy_perform(NULL, &q, resp);
        if (err) {
            err->attempts = attempt + 1;
            err->sent = true;
        }
        if (rc < 0) {
            weft__easy_resp_fini(resp);
            set_err(err, rc, 0, k->step, "%s: %s", k->what, weft_strerror(rc));
            return rc;
        }
        if (resp->err == WEFT__HTTP_OK && resp->status >= 200 && resp->status <= 299)
            return 0;
        bool again = attempt < c->max_retries && transient(resp, k->policy);
        uint64_t delay = 0;
        bool from_server = false;
        if (again) {
            delay = weft__retry_delay_ms(resp->has_retry_after ? resp->retry_after : NULL,
                                         resp->has_retry_after ? strlen(resp->retry_after) : 0,
                                         resp->has_retry_after_ms ? resp->retry_after_ms : NULL,
                                         resp->has_retry_after_ms ? strlen(resp->retry_after_ms) : 0, wall_ms(),
                                         attempt, weft__retry_rand(&rng), &from_server);
            if (delay > c->max_wait_ms) {
                if (from_server)
                    again = false; /* the server asks for longer than we may wait: report it */
                else
                    delay = c->max_wait_ms;
            }
        }
        if (!again) {
            char msg[SERVER_MSG_MAX + 1];
            const char *prefix = k->step ? "upload step " : "";
            char stepbuf[64] = "";
            if (k->step)
                snprintf(stepbuf, sizeof stepbuf, "%d of 3 (%s) failed: ", (int)k->step, weft_stratix_step_name(k->step));
            int code = WEFT_EIO;
            if (resp->err == WEFT__HTTP_ECANCELED) {
                code = WEFT_ECANCELED;
                set_err(err, code, 0, k->step, "%s%s%s: cancelled", prefix, stepbuf, k->what);
            } else if (resp->err != WEFT__HTTP_OK) {
                set_err(err, code, 0, k->step, "%s%s%s: %s (after %u attempt%s)", prefix, stepbuf, k->what,
                        resp->err_text, attempt + 1, attempt ? "s" : "");
            } else {
                code = WEFT_EHTTP;
                server_message(resp, msg, sizeof msg);
                set_err(err, code, resp->status, k->step, "%s%s%s: HTTP %d%s%s%s", prefix, stepbuf, k->what,
                        resp->status, msg[0] ? ": " : "", msg,
                        from_server && transient(resp, k->policy) ? " (server asked to wait longer than max_retry_wait_ms)"
                                                                    : "");
            }
            if (err)
                err->attempts = attempt + 1;
            weft__easy_resp_fini(resp);
            return code;
        }
        weft__easy_resp_fini(resp);
        if (delay && !sleep_ms(c, delay)) {
            set_err(err, WEFT_ECANCELED, 0, k->step, "%s%s: stopped (shutdown) while waiting to retry",
                    k->step ? "upload step: " : "", k->what);
            return WEFT_ECANCELED;
        }
    }
}

/* A 2xx answer that must hold JSON: parsed, or WEFT_EPROTO naming what. *root is taken by the caller. */
static int answer_json(const weft__easy_resp *r, const call *k, json_t **root, weft_stratix_error *err)
{
    *root = parse_body(r);
    if (*root == NULL) {
        if (k->step)
            set_err(err, WEFT_EPROTO, r->status, k->step, "upload step %d of 3 (%s) failed: %s: answer is not JSON",
                    (int)k->step, weft_stratix_step_name(k->step), k->what);
        else
            set_err(err, WEFT_EPROTO, r->status, 0, "%s: answer is not JSON", k->what);
        return WEFT_EPROTO;
    }
    return 0;
}

/* Every request ends here: k performed (with retries), and with root the 2xx answer's JSON in
 * *root (the caller's); the response freed. */
static int run(weft__stratix_conn *c, const call *k, json_t **root, weft_stratix_error *err)
{
    weft__easy_resp r;
    int rc = perform(c, k, &r, err);
    if (rc < 0)
        return rc;
    if (root)
        rc = answer_json(&r, k, root, err);
    weft__easy_resp_fini(&r);
    return rc;
}

/* ---- URLs ---------------------------------------------------------------------------------- */

/* base + "/" + each segment percent-encoded (NULL-terminated list of path pieces; a piece that
 * starts with '/' is appended literally). Heap string, or NULL when out of memory. */
static char *build_url(const weft__stratix_conn *c, const char *const *pieces)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__buf_append(&b, c->base, strlen(c->base));
    for (size_t i = 0; pieces[i]; i++) {
        if (pieces[i][0] == '/') {
            weft__buf_append(&b, pieces[i], strlen(pieces[i]));
        } else {
            weft__buf_putc(&b, '/');
            weft__easy_escape(&b, pieces[i]);
        }
    }
    weft__buf_putc(&b, '\0');
    if (b.oom) {
        weft__buf_fini(&b);
        return NULL;
    }
    return b.data;
}

/* ---- organization and project ---------------------------------------------------------------- */

static const char *str_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/* The first project id of a projects answer: a list of projects or {projects: [...]}. */
static const char *first_project(json_t *v)
{
    if (json_is_object(v) && json_is_array(json_object_get(v, "projects")))
        v = json_object_get(v, "projects");
    if (!json_is_array(v))
        return NULL;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *id = str_of(json_array_get(v, i), "id");
        if (id)
            return id;
    }
    return NULL;
}

static int get_json(weft__stratix_conn *c, const char *url, const char *what, json_t **root, weft_stratix_error *err)
{
    call k = {.method = "GET", .url = url, .what = what, .with_key = true, .no_proxy = c->base_plain_loopback,
              .policy = RETRY_IDEMPOTENT};
    return run(c, &k, root, err);
}

int weft__stratix_call(weft__stratix_conn *c, const char *method, const char *url, const char *what,
                       const char *body, json_t **answer, weft_stratix_error *err)
{
    if (answer)
        *answer = NULL;
    call k = {.method = method, .url = url, .what = what, .body = body, .with_key = true,
              .no_proxy = c->base_plain_loopback, .policy = RETRY_IDEMPOTENT};
    return run(c, &k, answer, err);
}

static int resolve_locked(weft__stratix_conn *c, weft_stratix_error *err)
{
    json_t *root = NULL;
    int rc;
    char *org = c->org ? strdup(c->org) : NULL;
    char *project = NULL;
    if (c->org && !org)
        return WEFT_ENOMEM;
    if (org == NULL) {
        char *url = build_url(c, (const char *const[]){"organizations", NULL});
        if (url == NULL)
            return WEFT_ENOMEM;
        rc = get_json(c, url, "resolving the organization: GET /organizations", &root, err);
        free(url);
        if (rc < 0)
            return rc;
        json_t *d = weft__stratix_unwrap(root), *chosen = NULL;
        if (json_is_object(d)) {
            chosen = d;
        } else if (json_is_array(d)) {
            /* A list (the API's answer to other credentials): the first organization that has
             * projects, else the first one. */
            for (size_t i = 0; i < json_array_size(d) && !chosen; i++) {
                json_t *p = json_object_get(json_array_get(d, i), "projects");
                if (json_is_array(p) && json_array_size(p) > 0)
                    chosen = json_array_get(d, i);
            }
            if (!chosen)
                chosen = json_array_get(d, 0);
        }
        const char *id = str_of(chosen, "id");
        if (id == NULL) {
            json_decref(root);
            set_err(err, WEFT_EPROTO, 200, 0, "resolving the organization: GET /organizations named no organization");
            return WEFT_EPROTO;
        }
        org = strdup(id);
        if (!c->project && (id = first_project(json_object_get(chosen, "projects"))) != NULL)
            project = strdup(id);
        json_decref(root);
        root = NULL;
        if (org == NULL || (id && project == NULL)) {
            free(org);
            free(project);
            return WEFT_ENOMEM;
        }
    }
    if (c->project == NULL && project == NULL) {
        char *url = build_url(c, (const char *const[]){"organizations", org, "projects", NULL});
        if (url == NULL) {
            free(org);
            return WEFT_ENOMEM;
        }
        rc = get_json(c, url, "resolving the project: GET /organizations/{org}/projects", &root, err);
        free(url);
        if (rc < 0) {
            free(org);
            return rc;
        }
        const char *id = first_project(weft__stratix_unwrap(root));
        if (id == NULL) {
            json_decref(root);
            set_err(err, WEFT_EPROTO, 200, 0, "resolving the project: organization %.80s has no project", org);
            free(org);
            return WEFT_EPROTO;
        }
        project = strdup(id);
        json_decref(root);
        if (project == NULL) {
            free(org);
            return WEFT_ENOMEM;
        }
    }
    if (c->org == NULL)
        c->org = org;
    else
        free(org);
    if (c->project == NULL)
        c->project = project;
    else
        free(project);
    c->resolved = true;
    return 0;
}

int weft__stratix_conn_ids(weft__stratix_conn *c, const char **org, const char **project, weft_stratix_error *err)
{
    if (c == NULL) {
        set_err(err, WEFT_EINVAL, 0, 0, "client is NULL");
        return WEFT_EINVAL;
    }
    pthread_mutex_lock(&c->mu);
    int rc = c->resolved ? 0 : resolve_locked(c, err);
    pthread_mutex_unlock(&c->mu);
    if (rc == WEFT_ENOMEM)
        set_err(err, rc, 0, 0, "out of memory");
    if (rc < 0)
        return rc;
    /* c->org and c->project never change once resolved is set (under mu, which we took). */
    if (org)
        *org = c->org;
    if (project)
        *project = c->project;
    return 0;
}

/* {base}/organizations/{org}/projects/{project}/traces + extra pieces. */
int weft__stratix_traces_url(weft__stratix_conn *c, const char *const *extra, char **out, weft_stratix_error *err)
{
    const char *org, *project;
    int rc = weft__stratix_conn_ids(c, &org, &project, err);
    if (rc < 0)
        return rc;
    const char *pieces[8] = {"organizations", org, "projects", project, "traces"};
    size_t n = 5;
    for (size_t i = 0; extra && extra[i] && n < 7; i++)
        pieces[n++] = extra[i];
    pieces[n] = NULL;
    *out = build_url(c, pieces);
    if (*out == NULL) {
        set_err(err, WEFT_ENOMEM, 0, 0, "out of memory");
        return WEFT_ENOMEM;
    }
    return 0;
}

/* ---- lists, uploads -------------------------------------------------------------------------- */

int weft__stratix_string_list(json_t *d, const char *key, char ***items, size_t *n)
{
    if (json_is_object(d))
        d = json_object_get(d, key);
    *items = NULL;
    *n = 0;
    if (!json_is_array(d))
        return WEFT_EINVAL;
    size_t m = json_array_size(d);
    if (m == 0)
        return 0;
    *items = calloc(m, sizeof **items);
    if (*items == NULL)
        return WEFT_ENOMEM;
    for (size_t i = 0; i < m; i++) {
        json_t *v = json_array_get(d, i);
        if (!json_is_string(v))
            continue;
        char *s = strndup(json_string_value(v), json_string_length(v));
        if (s == NULL)
            return WEFT_ENOMEM; /* the caller frees what was copied */
        (*items)[(*n)++] = s;
    }
    return 0;
}


int weft__stratix_bad_arg(weft_stratix_error *err, const char *what)
{
    set_err(err, WEFT_EINVAL, 0, 0, "%s", what);
    return WEFT_EINVAL;
}

int weft__stratix_oom(weft_stratix_error *err)
{
    set_err(err, WEFT_ENOMEM, 0, 0, "out of memory");
    return WEFT_ENOMEM;
}

#define bad_arg weft__stratix_bad_arg
#define oom_err weft__stratix_oom

/* ---- upload -------------------------------------------------------------------------------- */

void weft_stratix_upload_result_free(weft_stratix_upload_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_trace_ids; i++)
        free(r->trace_ids[i]);
    free(r->trace_ids);
    free(r->filename);
    free(r);
}

typedef struct put_progress {
    weft_stratix_progress_fn fn;
    void *user;
} put_progress;

static bool on_put_progress(void *ud, uint64_t sent, uint64_t total)
{
    put_progress *p = ud;
    return p->fn(p->user, WEFT_STRATIX_STEP_PUT, sent, total);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int upload_fail(weft_stratix_error *err, int code, weft_stratix_step step, const char *why)
{
    set_err(err, code, err ? err->http_status : 0, step, "upload step %d of 3 (%s) failed: %s", (int)step,
            weft_stratix_step_name(step), why);
    return code;
}

/* The checks of weft_stratix_upload on the file alone: a .json / .jsonl regular file, not
 * empty, at most 50 MB. Opens it (*f, when f is non-NULL) and reports its base name, type and
 * size as opened. */
/* Upload steps 1 and 3: the progress callback asked first (done of total bytes; false
 * cancels), then req (taken; NULL: out of memory) posted as k's body, the answer's JSON in
 * *root (the caller's). */
static int post_json_step(weft__stratix_conn *c, call *k, json_t *req, weft_stratix_progress_fn on_progress,
                          void *user, uint64_t done, uint64_t total, json_t **root, weft_stratix_error *err)
{
    if (on_progress && !on_progress(user, k->step, done, total)) {
        json_decref(req);
        return upload_fail(err, WEFT_ECANCELED, k->step, "cancelled");
    }
    char *body = req ? weft__json_value_text(req) : NULL;
    json_decref(req);
    if (body == NULL)
        return oom_err(err);
    k->body = body;
    int rc = run(c, k, root, err);
    k->body = NULL;
    free(body);
    return rc;
}

static int open_checked(const char *path, FILE **f, const char **filename, const char **type, uint64_t *size,
                        weft_stratix_error *err)
{
    const char *slash = strrchr(path, '/');
    *filename = slash ? slash + 1 : path;
    *type = ends_with(*filename, ".jsonl") ? "application/jsonl"
            : ends_with(*filename, ".json") ? "application/json"
                                            : NULL;
    if (*type == NULL) {
        set_err(err, WEFT_EINVAL, 0, 0, "%.200s: Stratix takes .json and .jsonl files only", *filename);
        return WEFT_EINVAL;
    }
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        set_err(err, WEFT_EINVAL, 0, 0, "%.200s: cannot open: %s", *filename, strerror(errno));
        return WEFT_EINVAL;
    }
    struct stat st;
    int rc = 0;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        set_err(err, WEFT_EINVAL, 0, 0, "%.200s: not a regular file", *filename);
        rc = WEFT_EINVAL;
    } else if ((uint64_t)st.st_size > WEFT_STRATIX_MAX_UPLOAD_BYTES) {
        set_err(err, WEFT_EINVAL, 0, 0, "%.200s: %llu bytes is more than the 50 MB (%llu bytes) Stratix accepts",
                *filename, (unsigned long long)st.st_size, (unsigned long long)WEFT_STRATIX_MAX_UPLOAD_BYTES);
        rc = WEFT_EINVAL;
    } else if (st.st_size == 0) {
        set_err(err, WEFT_EINVAL, 0, 0, "%.200s: the file is empty", *filename);
        rc = WEFT_EINVAL;
    }
    if (rc < 0 || f == NULL) {
        fclose(fp);
    } else {
        *f = fp;
    }
    *size = rc < 0 ? 0 : (uint64_t)st.st_size;
    return rc;
}

int weft__stratix_check_file(const char *path, weft_stratix_error *err)
{
    const char *filename, *type;
    uint64_t size;
    clear_err(err);
    if (path == NULL || *path == '\0')
        return bad_arg(err, "a path is required");
    return open_checked(path, NULL, &filename, &type, &size, err);
}

int weft__stratix_upload_file(weft__stratix_conn *c, const char *path, weft_stratix_progress_fn on_progress,
                              void *user, weft_stratix_upload_result **out, weft_stratix_error *err)
{
    clear_err(err);
    if (out)
        *out = NULL;
    if (c == NULL || out == NULL || path == NULL || *path == '\0')
        return bad_arg(err, "weft_stratix_upload: client, path and out are required");

    /* Everything about the file is settled before a byte goes out. */
    const char *filename, *type;
    uint64_t size;
    FILE *f = NULL;
    int frc = open_checked(path, &f, &filename, &type, &size, err);
    if (frc < 0)
        return frc;

    int rc;
    char *presign_url = NULL, *create_url = NULL, *put_url = NULL;
    json_t *root = NULL;
    weft_stratix_upload_result *res = NULL;

    rc = weft__stratix_traces_url(c, (const char *const[]){"upload", NULL}, &presign_url, err);
    if (rc == 0)
        rc = weft__stratix_traces_url(c, NULL, &create_url, err);
    if (rc < 0)
        goto out;

    /* Step 1: a presigned URL for {filename, type, size}. */
    call k1 = {.method = "POST", .url = presign_url, .what = "POST /traces/upload", .step = WEFT_STRATIX_STEP_PRESIGN,
               .with_key = true, .no_proxy = c->base_plain_loopback, .policy = RETRY_IDEMPOTENT};
    rc = post_json_step(c, &k1, json_pack("{s:s, s:s, s:I}", "filename", filename, "type", type, "size",
                                          (json_int_t)size),
                        on_progress, user, 0, size, &root, err);
    if (rc < 0)
        goto out;
    const char *u = str_of(weft__stratix_unwrap(root), "url");
    if (u == NULL) {
        rc = upload_fail(err, WEFT_EPROTO, WEFT_STRATIX_STEP_PRESIGN, "POST /traces/upload: the answer has no upload url");
        goto out;
    }
    put_url = strdup(u);
    json_decref(root);
    root = NULL;
    if (put_url == NULL) {
        rc = oom_err(err);
        goto out;
    }

    /* Step 2: the bytes, to wherever the API said. The key goes along only to the API's own
     * origin; trace contents (prompts, answers) only over https or to loopback. */
    bool same_origin = weft__url_same_origin(put_url, c->base);
    int target = weft__url_key_allowed(NULL, put_url, true, true);
    if (target < 0) {
        rc = target == WEFT_EINSECURE ? WEFT_EINSECURE : WEFT_EPROTO;
        set_err(err, rc, 0, WEFT_STRATIX_STEP_PUT, "upload step 2 of 3 (%s) failed: %s",
                weft_stratix_step_name(WEFT_STRATIX_STEP_PUT),
                rc == WEFT_EINSECURE ? "refusing to send trace data over plain http:// to a host that is not loopback"
                                     : "the upload url is not an http(s) URL");
        goto out;
    }
    put_progress pp = {on_progress, user};
    call k2 = {.method = "PUT", .url = put_url, .what = "PUT to the upload url", .step = WEFT_STRATIX_STEP_PUT,
               .file = f, .file_len = size, .content_type = type, .with_key = same_origin,
               .no_proxy = weft__url_is_loopback(put_url), .policy = RETRY_IDEMPOTENT,
               .progress = on_progress ? on_put_progress : NULL, .progress_ud = &pp};
    rc = run(c, &k2, NULL, err);
    if (rc < 0)
        goto out;

    /* Step 3: trace records from the uploaded file. */
    call k3 = {.method = "POST", .url = create_url, .what = "POST /traces", .step = WEFT_STRATIX_STEP_CREATE,
               .with_key = true, .no_proxy = c->base_plain_loopback, .policy = RETRY_UNSENT};
    rc = post_json_step(c, &k3, json_pack("{s:s}", "filename", filename), on_progress, user, size, size, &root,
                        err);
    if (rc < 0)
        goto out;
    res = calloc(1, sizeof *res);
    if (res == NULL || (res->filename = strdup(filename)) == NULL) {
        rc = oom_err(err);
        goto out;
    }
    res->bytes = size;
    rc = weft__stratix_string_list(weft__stratix_unwrap(root), "trace_ids", &res->trace_ids, &res->n_trace_ids);
    if (rc == WEFT_ENOMEM) {
        rc = oom_err(err);
        goto out;
    }
    if (rc < 0) {
        rc = upload_fail(err, WEFT_EPROTO, WEFT_STRATIX_STEP_CREATE, "POST /traces: the answer holds no trace ids");
        goto out;
    }
    *out = res;
    res = NULL;
    rc = 0;
    if (err)
        err->step = WEFT_STRATIX_STEP_NONE;
out:
    weft_stratix_upload_result_free(res);
    json_decref(root);
    free(presign_url);
    free(create_url);
    free(put_url);
    fclose(f);
    return rc;
}
