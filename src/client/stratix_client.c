/*
 * stratix_client.c — the LayerLens Stratix traces client (see weft/stratix.h): configuration,
 * organization/project resolution, the retry loop, the three upload steps and the readers of
 * the API's answers (jansson).
 *
 * Owns: the weft_stratix_client — copies of the options (the key's copy is cleared before it is
 * freed), the resolved organization and project ids, and the lock that guards their resolution.
 * Requests go through easy.c, one libcurl handle per request, so calls on one client from
 * several threads share nothing but the immutable options and the ids (written once under `mu`,
 * then only read).
 *
 * Facts about the API (the Stratix SDK's behaviour): paths under
 * {base}/organizations/{org}/projects/{project}/traces; answers may be wrapped as
 * {"status": ..., "data": ...}; step 1 answers {url, organization_id, project_id}; step 3
 * answers a list of ids or {trace_ids: [...]}; sources answer {sources: [...]}; the upload's
 * `type` is application/json or application/jsonl and the PUT carries it as Content-Type.
 *
 * Nothing here logs: every failure is described in the caller's weft_stratix_error, and no
 * message ever holds the key (only statuses, URLs' paths and the server's own words).
 */
#include "weft/stratix.h"

#include <errno.h>
#include <jansson.h>
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
#include "stratix_internal.h"
#include "url.h"
#include "weft/version.h"

#define DEFAULT_TIMEOUT_MS 600000u /* the SDK's 10 minutes */
#define DEFAULT_MAX_RETRIES 2      /* the SDK's max_retries */
#define DEFAULT_MAX_WAIT_MS 30000u /* DESIGN.md section 7's backoff cap */
/* Longest server message quoted in an error line. */
#define SERVER_MSG_MAX 200

struct weft_stratix_client {
    char *key;
    char *key_header; /* "x-api-key: ..." */
    char *base;       /* no trailing '/' */
    bool base_plain_loopback;
    char *ca_bundle;
    uint32_t connect_ms, timeout_ms, max_wait_ms;
    unsigned max_retries;

    pthread_mutex_t mu;
    char *org, *project; /* written once under mu (then read without it: see get_ids) */
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

static const char *env_or(const char *given, const char *name)
{
    if (given && *given)
        return given;
    const char *e = getenv(name);
    return e && *e ? e : NULL;
}

static void set_err(weft_stratix_error *err, int code, int status, weft_stratix_step step, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void set_err(weft_stratix_error *err, int code, int status, weft_stratix_step step, const char *fmt, ...)
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

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* {"status": ..., "data": X} -> X; anything else as it is. Borrowed in, borrowed out. */
static json_t *unwrap(json_t *v)
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

/* ---- client lifetime ----------------------------------------------------------------------- */

void weft_stratix_client_free(weft_stratix_client *c)
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

int weft_stratix_client_new(weft_stratix_client **out, const weft_stratix_opts *opts, weft_stratix_error *err)
{
    clear_err(err);
    if (out == NULL) {
        set_err(err, WEFT_EINVAL, 0, 0, "out is NULL");
        return WEFT_EINVAL;
    }
    *out = NULL;
    weft_stratix_opts o = {0};
    if (opts)
        o = *opts;
    const char *key = env_or(o.api_key, "LAYERLENS_STRATIX_API_KEY");
    const char *base = env_or(o.base_url, "LAYERLENS_STRATIX_BASE_URL");
    const char *org = env_or(o.organization_id, "LAYERLENS_STRATIX_ORGANIZATION_ID");
    const char *project = env_or(o.project_id, "LAYERLENS_STRATIX_PROJECT_ID");
    if (base == NULL)
        base = WEFT_STRATIX_DEFAULT_BASE_URL;
    if (key == NULL) {
        set_err(err, WEFT_ECONFIG, 0, 0,
                "no Stratix API key: set LAYERLENS_STRATIX_API_KEY or weft_stratix_opts.api_key");
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

    weft_stratix_client *c = calloc(1, sizeof *c);
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
        weft_stratix_client_free(c);
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
static int perform(weft_stratix_client *c, const call *k, weft__easy_resp *resp, weft_stratix_error *err)
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
    uint64_t rng = (uint64_t)wall_ms() ^ (uint64_t)(uintptr_t)resp ^ (uint64_t)(uintptr_t)c;
    for (unsigned attempt = 0;; attempt++) {
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
        if (delay)
            sleep_ms(delay);
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

/* ---- URLs ---------------------------------------------------------------------------------- */

/* base + "/" + each segment percent-encoded (NULL-terminated list of path pieces; a piece that
 * starts with '/' is appended literally). Heap string, or NULL when out of memory. */
static char *build_url(const weft_stratix_client *c, const char *const *pieces)
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

static int get_json(weft_stratix_client *c, const char *url, const char *what, json_t **root, weft_stratix_error *err)
{
    call k = {.method = "GET", .url = url, .what = what, .with_key = true, .no_proxy = c->base_plain_loopback,
              .policy = RETRY_IDEMPOTENT};
    weft__easy_resp r;
    int rc = perform(c, &k, &r, err);
    if (rc < 0)
        return rc;
    rc = answer_json(&r, &k, root, err);
    weft__easy_resp_fini(&r);
    return rc;
}

static int resolve_locked(weft_stratix_client *c, weft_stratix_error *err)
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
        json_t *d = unwrap(root), *chosen = NULL;
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
        const char *id = first_project(unwrap(root));
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

int weft_stratix_client_ids(weft_stratix_client *c, const char **org, const char **project, weft_stratix_error *err)
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
static int traces_url(weft_stratix_client *c, const char *const *extra, char **out, weft_stratix_error *err)
{
    const char *org, *project;
    int rc = weft_stratix_client_ids(c, &org, &project, err);
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

/* ---- results ------------------------------------------------------------------------------- */

static char *dup_str(json_t *o, const char *key, bool *oom)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        return NULL;
    char *s = strndup(json_string_value(v), json_string_length(v));
    if (s == NULL)
        *oom = true;
    return s;
}

static void trace_fini(weft_stratix_trace *t)
{
    free(t->id);
    free(t->organization_id);
    free(t->project_id);
    free(t->created_at);
    free(t->filename);
    free(t->data);
    free(t->input);
    free(t->integration_id);
    for (size_t i = 0; i < t->n_last_evaluations; i++) {
        weft_stratix_evaluation_summary *e = &t->last_evaluations[i];
        free(e->judge_id);
        free(e->judge_name);
        free(e->created_at);
    }
    free(t->last_evaluations);
    memset(t, 0, sizeof *t);
}

void weft_stratix_trace_free(weft_stratix_trace *t)
{
    if (t) {
        trace_fini(t);
        free(t);
    }
}

static int64_t num_of(json_t *v, int64_t dflt)
{
    if (!json_is_number(v))
        return dflt;
    double d = json_number_value(v);
    if (!(d >= -9.2e18 && d <= 9.2e18))
        return dflt;
    return (int64_t)d;
}

/* Fills *t from a trace object; false when it is not one (no id) or out of memory (*oom). */
static bool trace_from(json_t *o, weft_stratix_trace *t, bool *oom)
{
    memset(t, 0, sizeof *t);
    if (!json_is_object(o) || !json_is_string(json_object_get(o, "id")))
        return false;
    t->id = dup_str(o, "id", oom);
    t->organization_id = dup_str(o, "organization_id", oom);
    t->project_id = dup_str(o, "project_id", oom);
    t->created_at = dup_str(o, "created_at", oom);
    t->filename = dup_str(o, "filename", oom);
    t->input = dup_str(o, "input", oom);
    t->integration_id = dup_str(o, "integration_id", oom);
    json_t *data = json_object_get(o, "data");
    t->data = data && !json_is_null(data) ? weft__json_value_text(data) : strdup("{}");
    if (t->data == NULL)
        *oom = true;
    t->evaluations_count = num_of(json_object_get(o, "evaluations_count"), 0);
    json_t *ev = json_object_get(o, "last_evaluations");
    size_t n = json_is_array(ev) ? json_array_size(ev) : 0;
    if (n) {
        t->last_evaluations = calloc(n, sizeof *t->last_evaluations);
        if (t->last_evaluations == NULL) {
            *oom = true;
            return true;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(ev, i);
            if (!json_is_object(e))
                continue;
            weft_stratix_evaluation_summary *s = &t->last_evaluations[t->n_last_evaluations++];
            s->judge_id = dup_str(e, "judge_id", oom);
            s->judge_name = dup_str(e, "judge_name", oom);
            s->created_at = dup_str(e, "created_at", oom);
            json_t *jv = json_object_get(e, "judge_version");
            s->has_judge_version = json_is_number(jv);
            s->judge_version = num_of(jv, 0);
            json_t *p = json_object_get(e, "passed");
            s->passed = json_is_true(p) ? 1 : json_is_false(p) ? 0 : -1;
        }
    }
    return true;
}

/* ---- get, get_many, delete, sources ---------------------------------------------------------- */

static int bad_arg(weft_stratix_error *err, const char *what)
{
    set_err(err, WEFT_EINVAL, 0, 0, "%s", what);
    return WEFT_EINVAL;
}

static int oom_err(weft_stratix_error *err)
{
    set_err(err, WEFT_ENOMEM, 0, 0, "out of memory");
    return WEFT_ENOMEM;
}

int weft_stratix_get(weft_stratix_client *c, const char *id, weft_stratix_trace **out, weft_stratix_error *err)
{
    clear_err(err);
    if (out)
        *out = NULL;
    if (c == NULL || out == NULL || id == NULL || *id == '\0')
        return bad_arg(err, "weft_stratix_get: client, id and out are required");
    char *url;
    int rc = traces_url(c, (const char *const[]){id, NULL}, &url, err);
    if (rc < 0)
        return rc;
    json_t *root;
    rc = get_json(c, url, "GET /traces/{id}", &root, err);
    free(url);
    if (rc < 0)
        return rc;
    weft_stratix_trace *t = calloc(1, sizeof *t);
    bool oom = t == NULL;
    if (t && !trace_from(unwrap(root), t, &oom) && !oom) {
        json_decref(root);
        free(t);
        set_err(err, WEFT_EPROTO, 200, 0, "GET /traces/{id}: answer is not a trace");
        return WEFT_EPROTO;
    }
    json_decref(root);
    if (oom) {
        weft_stratix_trace_free(t);
        return oom_err(err);
    }
    *out = t;
    return 0;
}

void weft_stratix_traces_free(weft_stratix_traces *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_traces; i++)
        trace_fini(&p->traces[i]);
    free(p->traces);
    free(p);
}

static void add_param(weft__buf *b, const char *name, const char *value)
{
    if (value == NULL)
        return;
    weft__buf_putc(b, b->len && memchr(b->data, '?', b->len) ? '&' : '?');
    weft__buf_append(b, name, strlen(name));
    weft__buf_putc(b, '=');
    weft__easy_escape(b, value);
}

int weft_stratix_get_many(weft_stratix_client *c, const weft_stratix_query *q, weft_stratix_traces **out,
                          weft_stratix_error *err)
{
    clear_err(err);
    if (out)
        *out = NULL;
    if (c == NULL || out == NULL)
        return bad_arg(err, "weft_stratix_get_many: client and out are required");
    weft_stratix_query z = {0};
    if (q == NULL)
        q = &z;
    if (q->page < 0)
        return bad_arg(err, "weft_stratix_get_many: page must be 1 or more (0: the first)");
    if (q->page_size < 0 || q->page_size > WEFT_STRATIX_MAX_PAGE_SIZE)
        return bad_arg(err, "weft_stratix_get_many: page_size must be 1..500 (0: 100)");
    if (q->sort_order && strcmp(q->sort_order, "asc") != 0 && strcmp(q->sort_order, "desc") != 0)
        return bad_arg(err, "weft_stratix_get_many: sort_order must be \"asc\" or \"desc\"");
    char *base_url;
    int rc = traces_url(c, NULL, &base_url, err);
    if (rc < 0)
        return rc;
    weft__buf b;
    weft__buf_init(&b);
    weft__buf_append(&b, base_url, strlen(base_url));
    free(base_url);
    char num[24];
    snprintf(num, sizeof num, "%d", q->page ? q->page : 1);
    add_param(&b, "page", num);
    snprintf(num, sizeof num, "%d", q->page_size ? q->page_size : WEFT_STRATIX_DEFAULT_PAGE_SIZE);
    add_param(&b, "page_size", num);
    add_param(&b, "source", q->source);
    add_param(&b, "judge_id", q->judge_id);
    add_param(&b, "status", q->status);
    add_param(&b, "time_range", q->time_range);
    add_param(&b, "search", q->search);
    add_param(&b, "sort_by", q->sort_by);
    add_param(&b, "sort_order", q->sort_order);
    weft__buf_putc(&b, '\0');
    if (b.oom) {
        weft__buf_fini(&b);
        return oom_err(err);
    }
    json_t *root;
    rc = get_json(c, b.data, "GET /traces", &root, err);
    weft__buf_fini(&b);
    if (rc < 0)
        return rc;
    json_t *d = unwrap(root);
    json_t *arr = json_object_get(d, "traces");
    if (!json_is_object(d) || (arr && !json_is_array(arr))) {
        json_decref(root);
        set_err(err, WEFT_EPROTO, 200, 0, "GET /traces: answer is not a TracesResponse");
        return WEFT_EPROTO;
    }
    weft_stratix_traces *p = calloc(1, sizeof *p);
    size_t n = json_array_size(arr);
    bool oom = p == NULL;
    if (p && n) {
        p->traces = calloc(n, sizeof *p->traces);
        oom = p->traces == NULL;
        for (size_t i = 0; i < n && !oom; i++)
            if (trace_from(json_array_get(arr, i), &p->traces[p->n_traces], &oom))
                p->n_traces++;
    }
    if (p) {
        p->count = num_of(json_object_get(d, "count"), (int64_t)p->n_traces);
        p->total_count = num_of(json_object_get(d, "total_count"), p->count);
    }
    json_decref(root);
    if (oom) {
        weft_stratix_traces_free(p);
        return oom_err(err);
    }
    *out = p;
    return 0;
}

int weft_stratix_delete(weft_stratix_client *c, const char *id, weft_stratix_error *err)
{
    clear_err(err);
    if (c == NULL || id == NULL || *id == '\0')
        return bad_arg(err, "weft_stratix_delete: client and id are required");
    char *url;
    int rc = traces_url(c, (const char *const[]){id, NULL}, &url, err);
    if (rc < 0)
        return rc;
    call k = {.method = "DELETE", .url = url, .what = "DELETE /traces/{id}", .with_key = true,
              .no_proxy = c->base_plain_loopback, .policy = RETRY_IDEMPOTENT};
    weft__easy_resp r;
    rc = perform(c, &k, &r, err);
    free(url);
    if (rc == 0)
        weft__easy_resp_fini(&r);
    return rc;
}

void weft_stratix_sources_free(weft_stratix_sources *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n_sources; i++)
        free(s->sources[i]);
    free(s->sources);
    free(s);
}

/* A list of strings, from an array or from {key: [...]}; NULL *out on a wrong shape. */
static int string_list(json_t *d, const char *key, char ***items, size_t *n)
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

int weft_stratix_get_sources(weft_stratix_client *c, weft_stratix_sources **out, weft_stratix_error *err)
{
    clear_err(err);
    if (out)
        *out = NULL;
    if (c == NULL || out == NULL)
        return bad_arg(err, "weft_stratix_get_sources: client and out are required");
    char *url;
    int rc = traces_url(c, (const char *const[]){"sources", NULL}, &url, err);
    if (rc < 0)
        return rc;
    json_t *root;
    rc = get_json(c, url, "GET /traces/sources", &root, err);
    free(url);
    if (rc < 0)
        return rc;
    weft_stratix_sources *s = calloc(1, sizeof *s);
    if (s == NULL) {
        json_decref(root);
        return oom_err(err);
    }
    rc = string_list(unwrap(root), "sources", &s->sources, &s->n_sources);
    json_decref(root);
    if (rc == WEFT_ENOMEM) {
        weft_stratix_sources_free(s);
        return oom_err(err);
    }
    if (rc < 0) {
        weft_stratix_sources_free(s);
        set_err(err, WEFT_EPROTO, 200, 0, "GET /traces/sources: answer holds no list of sources");
        return WEFT_EPROTO;
    }
    *out = s;
    return 0;
}

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

int weft_stratix_upload(weft_stratix_client *c, const char *path, weft_stratix_progress_fn on_progress, void *user,
                        weft_stratix_upload_result **out, weft_stratix_error *err)
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
    char *presign_url = NULL, *create_url = NULL, *put_url = NULL, *body = NULL;
    json_t *root = NULL;
    weft__easy_resp r = {0};
    weft_stratix_upload_result *res = NULL;

    rc = traces_url(c, (const char *const[]){"upload", NULL}, &presign_url, err);
    if (rc == 0)
        rc = traces_url(c, NULL, &create_url, err);
    if (rc < 0)
        goto out;

    /* Step 1: a presigned URL for {filename, type, size}. */
    if (on_progress && !on_progress(user, WEFT_STRATIX_STEP_PRESIGN, 0, size)) {
        rc = upload_fail(err, WEFT_ECANCELED, WEFT_STRATIX_STEP_PRESIGN, "cancelled");
        goto out;
    }
    json_t *req = json_pack("{s:s, s:s, s:I}", "filename", filename, "type", type, "size", (json_int_t)size);
    body = req ? weft__json_value_text(req) : NULL;
    json_decref(req);
    if (body == NULL) {
        rc = oom_err(err);
        goto out;
    }
    call k1 = {.method = "POST", .url = presign_url, .what = "POST /traces/upload", .step = WEFT_STRATIX_STEP_PRESIGN,
               .body = body, .with_key = true, .no_proxy = c->base_plain_loopback, .policy = RETRY_IDEMPOTENT};
    rc = perform(c, &k1, &r, err);
    if (rc < 0)
        goto out;
    rc = answer_json(&r, &k1, &root, err);
    weft__easy_resp_fini(&r);
    if (rc < 0)
        goto out;
    const char *u = str_of(unwrap(root), "url");
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
    rc = perform(c, &k2, &r, err);
    if (rc < 0)
        goto out;
    weft__easy_resp_fini(&r);

    /* Step 3: trace records from the uploaded file. */
    if (on_progress && !on_progress(user, WEFT_STRATIX_STEP_CREATE, size, size)) {
        rc = upload_fail(err, WEFT_ECANCELED, WEFT_STRATIX_STEP_CREATE, "cancelled");
        goto out;
    }
    free(body);
    req = json_pack("{s:s}", "filename", filename);
    body = req ? weft__json_value_text(req) : NULL;
    json_decref(req);
    if (body == NULL) {
        rc = oom_err(err);
        goto out;
    }
    call k3 = {.method = "POST", .url = create_url, .what = "POST /traces", .step = WEFT_STRATIX_STEP_CREATE,
               .body = body, .with_key = true, .no_proxy = c->base_plain_loopback, .policy = RETRY_UNSENT};
    rc = perform(c, &k3, &r, err);
    if (rc < 0)
        goto out;
    rc = answer_json(&r, &k3, &root, err);
    weft__easy_resp_fini(&r);
    if (rc < 0)
        goto out;
    res = calloc(1, sizeof *res);
    if (res == NULL || (res->filename = strdup(filename)) == NULL) {
        rc = oom_err(err);
        goto out;
    }
    res->bytes = size;
    rc = string_list(unwrap(root), "trace_ids", &res->trace_ids, &res->n_trace_ids);
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
    free(body);
    fclose(f);
    return rc;
}
