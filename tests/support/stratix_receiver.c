/*
 * stratix_receiver.c — the in-process Stratix traces API stand-in (see stratix_receiver.h):
 * libmicrohttpd, one thread per connection, bound to 127.0.0.1 on an ephemeral port.
 *
 * Owns: the weft_srx struct — the daemon, the trace store (a jansson array of records, in
 * creation order), the pending uploads (token -> filename, type, size, bytes), per-kind request
 * counters and last headers, and the injected faults.
 *
 * Invariants:
 * - Every field below `mu` is read and written with `mu` held; the daemon, urls, key and ids
 *   are fixed between start and stop.
 * - Per request: the first handler call classifies it, counts it and records its headers; body
 *   calls append to its buffer (up to BODY_MAX); the last call answers. on_completed frees it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "stratix_receiver.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

#define API_PREFIX "/api/v1"
#define TARGET_PREFIX "/upload-target/"
/* 50 MiB: the API's upload limit; bodies up to a little more are read so the check can answer. */
#define MAX_UPLOAD (50u * 1024 * 1024)
#define BODY_MAX ((size_t)MAX_UPLOAD + 4096)
#define MAX_PAGE_SIZE 500
#define HDR_MAX 16

typedef struct header_kv {
    char name[64];
    char value[256];
    bool cut;
} header_kv;

typedef struct upload {
    char token[24];
    char *filename;
    char *type;
    size_t size;
    char *bytes; /* NULL until the PUT arrives */
    size_t len;
} upload;

typedef struct fault {
    int status;
    int count;
    char *message;
    char *retry_after;
} fault;

struct weft_srx {
    struct MHD_Daemon *daemon;
    char base_url[64];
    char presign_origin[64];
    unsigned port;
    char *api_key, *org, *project;
    bool orgs_as_list, projects_apart, unwrapped;

    pthread_mutex_t mu;
    json_t *traces; /* array of records */
    upload *uploads;
    size_t n_uploads;
    unsigned next_id, next_token;
    size_t counts[WEFT_SRX_KIND_COUNT_];
    header_kv hdrs[WEFT_SRX_KIND_COUNT_][HDR_MAX];
    size_t n_hdrs[WEFT_SRX_KIND_COUNT_];
    fault faults[WEFT_SRX_KIND_COUNT_];
    char *last_upload;
    size_t last_upload_len;
    char **seeded_ids; /* ids handed out by weft_srx_seed, kept for their pointers */
    size_t n_seeded;
};

typedef struct request {
    weft_srx_kind kind;
    char *body;
    size_t len, cap;
    bool too_big;
} request;

/* ---- helpers ------------------------------------------------------------------------------ */

static void iso_now(char out[32], time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* "2026-01-02T03:04:05[.fff][Z]" -> seconds since the epoch; -1 when unreadable. */
static int64_t iso_parse(const char *s)
{
    struct tm tm = {0};
    if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                            &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

static bool icontains(const char *hay, const char *needle)
{
    if (hay == NULL)
        return false;
    return strcasestr(hay, needle) != NULL;
}

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* ---- answers ------------------------------------------------------------------------------ */

static enum MHD_Result send_text(struct MHD_Connection *conn, int status, char *text, const char *retry_after)
{
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(strlen(text), text, free);
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (retry_after)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Sends data (taken) wrapped, or as it is when unwrapped. */
static enum MHD_Result send_data(weft_srx *s, struct MHD_Connection *conn, int status, json_t *data)
{
    json_t *body = s->unwrapped ? data : json_pack("{s:s, s:o}", "status", "success", "data", data);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text ? send_text(conn, status, text, NULL) : MHD_NO;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, int status, const char *msg, const char *retry_after)
{
    json_t *body = json_pack("{s:s, s:s}", "status", "error", "message", msg);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    return text ? send_text(conn, status, text, retry_after) : MHD_NO;
}

/* ---- the trace store (mu held) ------------------------------------------------------------- */

static json_t *find_trace(weft_srx *s, const char *id, size_t *index)
{
    size_t i;
    json_t *t;
    json_array_foreach(s->traces, i, t)
    {
        if (strcmp(sget(t, "id"), id) == 0) {
            if (index)
                *index = i;
            return t;
        }
    }
    return NULL;
}

/* The API's Trace (with_evals: TraceWithEvaluations) for a stored record. New reference. */
static json_t *api_trace(const json_t *rec, bool with_evals)
{
    json_t *o = json_object();
    static const char *const keys[] = {"id", "organization_id", "project_id", "created_at",
                                       "filename", "data", "input", "integration_id"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        json_t *v = json_object_get(rec, keys[k]);
        if (v)
            json_object_set(o, keys[k], v);
    }
    if (with_evals) {
        json_t *ev = json_object_get(rec, "evaluations");
        json_object_set_new(o, "evaluations_count", json_integer((json_int_t)json_array_size(ev)));
        json_object_set(o, "last_evaluations", ev ? ev : json_array());
        if (!ev)
            json_decref(json_object_get(o, "last_evaluations"));
    }
    return o;
}

/* A new record from rec's fields, with defaults; stored; returns its id (borrowed). */
static const char *store(weft_srx *s, const json_t *rec)
{
    json_t *t = json_object();
    char idbuf[32], now[32];
    const char *id = sget(rec, "id");
    if (id == NULL) {
        snprintf(idbuf, sizeof idbuf, "trace-%06u", ++s->next_id);
        id = idbuf;
    }
    iso_now(now, time(NULL));
    json_object_set_new(t, "id", json_string(id));
    json_object_set_new(t, "organization_id", json_string(s->org));
    json_object_set_new(t, "project_id", json_string(s->project));
    json_object_set_new(t, "created_at", json_string(sget(rec, "created_at") ? sget(rec, "created_at") : now));
    if (sget(rec, "filename"))
        json_object_set_new(t, "filename", json_string(sget(rec, "filename")));
    json_t *data = json_object_get(rec, "data");
    json_object_set(t, "data", data ? data : json_object());
    if (!data)
        json_decref(json_object_get(t, "data"));
    if (sget(rec, "input"))
        json_object_set_new(t, "input", json_string(sget(rec, "input")));
    if (sget(rec, "integration_id"))
        json_object_set_new(t, "integration_id", json_string(sget(rec, "integration_id")));
    json_object_set_new(t, "source", json_string(sget(rec, "source") ? sget(rec, "source") : "upload"));
    json_t *ev = json_object_get(rec, "evaluations");
    json_object_set_new(t, "evaluations", json_is_array(ev) ? json_deep_copy(ev) : json_array());
    json_array_append_new(s->traces, t);
    return sget(t, "id");
}

/* One uploaded document -> a stored trace (its input as text when the document has one). */
static const char *store_doc(weft_srx *s, json_t *doc, const char *filename)
{
    json_t *rec = json_pack("{s:s, s:O}", "filename", filename, "data", doc);
    json_t *in = json_object_get(doc, "input");
    if (json_is_string(in)) {
        json_object_set(rec, "input", in);
    } else if (in && !json_is_null(in)) {
        char *t = json_dumps(in, JSON_COMPACT | JSON_ENCODE_ANY);
        json_object_set_new(rec, "input", json_string(t));
        free(t);
    }
    const char *id = store(s, rec);
    json_decref(rec);
    return id;
}

/* ---- get_many ------------------------------------------------------------------------------ */

typedef struct list_q {
    const char *source, *judge_id, *status, *time_range, *search, *sort_by;
    bool asc;
    int64_t since; /* created_at >= since; INT64_MIN: no bound */
} list_q;

static bool matches(const json_t *t, const list_q *q)
{
    if (q->source && strcmp(sget(t, "source"), q->source) != 0)
        return false;
    json_t *ev = json_object_get(t, "evaluations");
    if (q->judge_id) {
        bool found = false;
        size_t i;
        json_t *e;
        json_array_foreach(ev, i, e) found |= sget(e, "judge_id") && strcmp(sget(e, "judge_id"), q->judge_id) == 0;
        if (!found)
            return false;
    }
    if (q->status) {
        size_t n = json_array_size(ev), passed = 0, failed = 0, i;
        json_t *e;
        json_array_foreach(ev, i, e)
        {
            passed += json_is_true(json_object_get(e, "passed"));
            failed += json_is_false(json_object_get(e, "passed"));
        }
        bool ok = strcmp(q->status, "evaluated") == 0       ? n > 0
                  : strcmp(q->status, "not_evaluated") == 0 ? n == 0
                  : strcmp(q->status, "passed") == 0        ? n > 0 && passed == n
                  : strcmp(q->status, "failed") == 0        ? failed > 0
                                                            : false;
        if (!ok)
            return false;
    }
    if (q->since != INT64_MIN && iso_parse(sget(t, "created_at")) < q->since)
        return false;
    if (q->search) {
        char *data = json_dumps(json_object_get(t, "data"), JSON_COMPACT | JSON_ENCODE_ANY);
        bool hit = icontains(sget(t, "id"), q->search) || icontains(sget(t, "filename"), q->search) ||
                   icontains(sget(t, "input"), q->search) || icontains(data, q->search);
        free(data);
        if (!hit)
            return false;
    }
    return true;
}

static const list_q *sort_q; /* qsort has no context argument; sorting happens under mu */

static int cmp_traces(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *key = sort_q->sort_by ? sort_q->sort_by : "created_at";
    const char *vx = sget(x, key), *vy = sget(y, key);
    int c = strcmp(vx ? vx : "", vy ? vy : "");
    if (c == 0)
        c = strcmp(sget(x, "id"), sget(y, "id"));
    return sort_q->asc ? c : -c;
}

static enum MHD_Result answer_list(weft_srx *s, struct MHD_Connection *conn)
{
    const char *page_s = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "page");
    const char *size_s = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "page_size");
    long page = page_s ? strtol(page_s, NULL, 10) : 1, size = size_s ? strtol(size_s, NULL, 10) : 100;
    if (page < 1)
        return send_error(conn, 400, "page must be 1 or more", NULL);
    if (size < 1 || size > MAX_PAGE_SIZE)
        return send_error(conn, 400, "page_size must be between 1 and 500", NULL);
    list_q q = {
        .source = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "source"),
        .judge_id = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "judge_id"),
        .status = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "status"),
        .time_range = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "time_range"),
        .search = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "search"),
        .sort_by = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "sort_by"),
        .since = INT64_MIN,
    };
    const char *order = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "sort_order");
    if (order && strcmp(order, "asc") != 0 && strcmp(order, "desc") != 0)
        return send_error(conn, 400, "sort_order must be asc or desc", NULL);
    q.asc = order && strcmp(order, "asc") == 0;
    if (q.sort_by && strcmp(q.sort_by, "created_at") != 0 && strcmp(q.sort_by, "filename") != 0 &&
        strcmp(q.sort_by, "id") != 0)
        return send_error(conn, 400, "sort_by must be created_at, filename or id", NULL);
    if (q.status && strcmp(q.status, "evaluated") != 0 && strcmp(q.status, "not_evaluated") != 0 &&
        strcmp(q.status, "passed") != 0 && strcmp(q.status, "failed") != 0)
        return send_error(conn, 400, "unknown status", NULL);
    if (q.time_range) {
        char *end;
        long n = strtol(q.time_range, &end, 10);
        int64_t unit = *end == 'h' ? 3600 : *end == 'd' ? 86400 : *end == 'w' ? 604800 : 0;
        if (n <= 0 || unit == 0 || end[1] != '\0')
            return send_error(conn, 400, "time_range must look like 24h, 7d or 2w", NULL);
        q.since = (int64_t)time(NULL) - n * unit;
    }

    pthread_mutex_lock(&s->mu);
    size_t total = json_array_size(s->traces), nm = 0, i;
    json_t **m = calloc(total ? total : 1, sizeof *m), *t;
    json_array_foreach(s->traces, i, t) if (matches(t, &q)) m[nm++] = t;
    sort_q = &q;
    qsort(m, nm, sizeof *m, cmp_traces);
    sort_q = NULL;
    json_t *arr = json_array();
    size_t first = (size_t)(page - 1) * (size_t)size;
    for (size_t k = first; k < nm && k < first + (size_t)size; k++)
        json_array_append_new(arr, api_trace(m[k], true));
    free(m);
    pthread_mutex_unlock(&s->mu);
    json_t *data = json_pack("{s:o, s:I, s:I}", "traces", arr, "count", (json_int_t)json_array_size(arr),
                             "total_count", (json_int_t)nm);
    return send_data(s, conn, 200, data);
}

/* ---- uploads ------------------------------------------------------------------------------- */

static upload *find_upload_by(weft_srx *s, const char *token, const char *filename)
{
    /* The newest upload of a filename wins: a client that uploads the same name twice creates
     * traces from the second file. */
    for (size_t i = s->n_uploads; i-- > 0;) {
        upload *u = &s->uploads[i];
        if ((token && strcmp(u->token, token) == 0) || (filename && u->bytes && strcmp(u->filename, filename) == 0))
            return u;
    }
    return NULL;
}

static enum MHD_Result answer_presign(weft_srx *s, struct MHD_Connection *conn, request *rq)
{
    json_t *b = rq->body ? json_loadb(rq->body, rq->len, 0, NULL) : NULL;
    const char *filename = sget(b, "filename"), *type = sget(b, "type");
    json_t *size = json_object_get(b, "size");
    enum MHD_Result ret;
    if (!filename || !*filename || !type || !json_is_integer(size)) {
        ret = send_error(conn, 400, "filename, type and size are required", NULL);
    } else if (strcmp(type, "application/json") != 0 && strcmp(type, "application/jsonl") != 0) {
        ret = send_error(conn, 400, "type must be application/json or application/jsonl", NULL);
    } else if (json_integer_value(size) <= 0 || json_integer_value(size) > MAX_UPLOAD) {
        ret = send_error(conn, 400, "file size must be between 1 byte and 50 MB", NULL);
    } else {
        pthread_mutex_lock(&s->mu);
        upload *nu = realloc(s->uploads, (s->n_uploads + 1) * sizeof *nu);
        if (nu == NULL) {
            pthread_mutex_unlock(&s->mu);
            json_decref(b);
            return MHD_NO;
        }
        s->uploads = nu;
        upload *u = &s->uploads[s->n_uploads++];
        memset(u, 0, sizeof *u);
        snprintf(u->token, sizeof u->token, "u%06u", ++s->next_token);
        u->filename = strdup(filename);
        u->type = strdup(type);
        u->size = (size_t)json_integer_value(size);
        char url[160];
        snprintf(url, sizeof url, "%s" TARGET_PREFIX "%s", s->presign_origin, u->token);
        pthread_mutex_unlock(&s->mu);
        ret = send_data(s, conn, 200,
                        json_pack("{s:s, s:s, s:s}", "organization_id", s->org, "project_id", s->project, "url", url));
    }
    json_decref(b);
    return ret;
}

static enum MHD_Result answer_put(weft_srx *s, struct MHD_Connection *conn, const char *token, request *rq)
{
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    pthread_mutex_lock(&s->mu);
    upload *u = find_upload_by(s, token, NULL);
    if (u == NULL) {
        pthread_mutex_unlock(&s->mu);
        return send_error(conn, 404, "no such upload", NULL);
    }
    if (ct == NULL || strcmp(ct, u->type) != 0) {
        pthread_mutex_unlock(&s->mu);
        return send_error(conn, 403, "SignatureDoesNotMatch: Content-Type differs from the signed type", NULL);
    }
    if (rq->too_big || rq->len != u->size) {
        pthread_mutex_unlock(&s->mu);
        return send_error(conn, 400, "body length differs from the announced size", NULL);
    }
    free(u->bytes);
    u->bytes = malloc(rq->len ? rq->len : 1);
    if (u->bytes)
        memcpy(u->bytes, rq->body, rq->len);
    u->len = rq->len;
    free(s->last_upload);
    s->last_upload = malloc(rq->len ? rq->len : 1);
    if (s->last_upload)
        memcpy(s->last_upload, rq->body, rq->len);
    s->last_upload_len = rq->len;
    pthread_mutex_unlock(&s->mu);
    /* S3 answers an empty 200. */
    return send_text(conn, 200, strdup(""), NULL);
}

static bool ends_with(const char *a, const char *suffix)
{
    size_t n = strlen(a), m = strlen(suffix);
    return n >= m && strcmp(a + n - m, suffix) == 0;
}

static enum MHD_Result answer_create(weft_srx *s, struct MHD_Connection *conn, request *rq)
{
    json_t *b = rq->body ? json_loadb(rq->body, rq->len, 0, NULL) : NULL;
    const char *filename = sget(b, "filename");
    if (!filename) {
        json_decref(b);
        return send_error(conn, 400, "filename is required", NULL);
    }
    pthread_mutex_lock(&s->mu);
    upload *u = find_upload_by(s, NULL, filename);
    if (u == NULL) {
        pthread_mutex_unlock(&s->mu);
        json_decref(b);
        return send_error(conn, 404, "no uploaded file by that name", NULL);
    }
    /* Parse everything first: a bad file stores nothing. */
    json_t *docs = json_array();
    char err[160] = "";
    if (ends_with(u->filename, ".jsonl")) {
        size_t line = 0;
        for (const char *p = u->bytes, *end = u->bytes + u->len; p < end && !err[0];) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            line++;
            bool blank = true;
            for (size_t k = 0; k < n; k++)
                blank &= isspace((unsigned char)p[k]) != 0;
            if (!blank) {
                json_t *d = json_loadb(p, n, 0, NULL);
                if (!json_is_object(d))
                    snprintf(err, sizeof err, "line %zu is not a JSON object", line);
                else
                    json_array_append(docs, d);
                json_decref(d);
            }
            p += n + 1;
        }
    } else {
        json_t *d = json_loadb(u->bytes, u->len, 0, NULL);
        if (json_is_object(d)) {
            json_array_append(docs, d);
        } else if (json_is_array(d)) {
            size_t i;
            json_t *e;
            json_array_foreach(d, i, e)
            {
                if (!json_is_object(e) && !err[0])
                    snprintf(err, sizeof err, "element %zu is not a JSON object", i);
                json_array_append(docs, e);
            }
        } else {
            snprintf(err, sizeof err, "the file is not a JSON object or array");
        }
        json_decref(d);
    }
    if (!err[0] && json_array_size(docs) == 0)
        snprintf(err, sizeof err, "the file holds no trace");
    enum MHD_Result ret;
    if (err[0]) {
        pthread_mutex_unlock(&s->mu);
        ret = send_error(conn, 400, err, NULL);
    } else {
        json_t *ids = json_array();
        size_t i;
        json_t *d;
        char *fname = strdup(u->filename);
        json_array_foreach(docs, i, d) json_array_append_new(ids, json_string(store_doc(s, d, fname)));
        free(fname);
        pthread_mutex_unlock(&s->mu);
        ret = send_data(s, conn, 201, ids);
    }
    json_decref(docs);
    json_decref(b);
    return ret;
}

/* ---- routing ------------------------------------------------------------------------------- */

typedef struct route {
    weft_srx_kind kind;
    char id[256]; /* the trace id, or the token of a PUT */
    bool bad_scope; /* a traces path for another organization or project */
} route;

static route classify(weft_srx *s, const char *method, const char *url)
{
    route r = {.kind = WEFT_SRX_OTHER};
    if (strncmp(url, TARGET_PREFIX, strlen(TARGET_PREFIX)) == 0 && strcmp(method, "PUT") == 0) {
        r.kind = WEFT_SRX_PUT;
        snprintf(r.id, sizeof r.id, "%s", url + strlen(TARGET_PREFIX));
        return r;
    }
    if (strncmp(url, API_PREFIX, strlen(API_PREFIX)) != 0)
        return r;
    const char *p = url + strlen(API_PREFIX);
    if (strcmp(p, "/organizations") == 0 && strcmp(method, "GET") == 0) {
        r.kind = WEFT_SRX_ORGS;
        return r;
    }
    char org[128], proj[128], rest[240];
    int n = 0;
    rest[0] = '\0';
    if (sscanf(p, "/organizations/%127[^/]/projects%n", org, &n) == 1 && p[n] == '\0' && strcmp(method, "GET") == 0) {
        r.kind = WEFT_SRX_PROJECTS;
        r.bad_scope = strcmp(org, s->org) != 0;
        return r;
    }
    n = 0;
    if (sscanf(p, "/organizations/%127[^/]/projects/%127[^/]/traces%n", org, proj, &n) != 2 || n == 0)
        return r;
    snprintf(rest, sizeof rest, "%s", p + n);
    r.bad_scope = strcmp(org, s->org) != 0 || strcmp(proj, s->project) != 0;
    if (rest[0] == '\0') {
        r.kind = strcmp(method, "GET") == 0 ? WEFT_SRX_LIST : strcmp(method, "POST") == 0 ? WEFT_SRX_CREATE : WEFT_SRX_OTHER;
    } else if (strcmp(rest, "/upload") == 0 && strcmp(method, "POST") == 0) {
        r.kind = WEFT_SRX_PRESIGN;
    } else if (strcmp(rest, "/sources") == 0 && strcmp(method, "GET") == 0) {
        r.kind = WEFT_SRX_SOURCES;
    } else if (rest[0] == '/' && !strchr(rest + 1, '/')) {
        snprintf(r.id, sizeof r.id, "%s", rest + 1);
        r.kind = strcmp(method, "GET") == 0 ? WEFT_SRX_GET : strcmp(method, "DELETE") == 0 ? WEFT_SRX_DELETE : WEFT_SRX_OTHER;
    }
    return r;
}

typedef struct hdr_ctx {
    header_kv *out;
    size_t n;
} hdr_ctx;

static enum MHD_Result record_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    hdr_ctx *h = cls;
    if (h->n < HDR_MAX) {
        header_kv *kv = &h->out[h->n++];
        snprintf(kv->name, sizeof kv->name, "%s", key);
        size_t vl = value ? strlen(value) : 0;
        kv->cut = vl >= sizeof kv->value;
        snprintf(kv->value, sizeof kv->value, "%s", value ? value : "");
    }
    return MHD_YES;
}

static enum MHD_Result answer(weft_srx *s, struct MHD_Connection *conn, const char *method, const char *url,
                              request *rq)
{
    route r = classify(s, method, url);
    /* Faults first: a request of the faulted kind (or any) gets the injected answer. */
    pthread_mutex_lock(&s->mu);
    fault *f = s->faults[r.kind].count > 0 ? &s->faults[r.kind] : s->faults[WEFT_SRX_ANY].count > 0 ? &s->faults[WEFT_SRX_ANY] : NULL;
    int f_status = 0;
    char f_msg[200] = "", f_ra[64] = "";
    bool faulted = false;
    if (f) {
        f->count--;
        faulted = true;
        f_status = f->status;
        snprintf(f_msg, sizeof f_msg, "%s", f->message ? f->message : "injected fault");
        if (f->retry_after)
            snprintf(f_ra, sizeof f_ra, "%s", f->retry_after);
    }
    pthread_mutex_unlock(&s->mu);
    if (faulted) {
        if (f_status == 0)
            return MHD_NO; /* close the connection unanswered */
        return send_error(conn, f_status, f_msg, f_ra[0] ? f_ra : NULL);
    }

    if (r.kind != WEFT_SRX_PUT) {
        const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-api-key");
        if (key == NULL || strcmp(key, s->api_key) != 0)
            return send_error(conn, 401, "invalid or missing API key", NULL);
    }
    if (r.bad_scope)
        return send_error(conn, 404, "no such organization or project", NULL);

    switch (r.kind) {
    case WEFT_SRX_ORGS: {
        json_t *projects = json_pack("[{s:s, s:s}]", "id", s->project, "name", "Default project");
        json_t *org = json_pack("{s:s, s:s}", "id", s->org, "name", "Test organization");
        if (s->projects_apart)
            json_decref(projects);
        else
            json_object_set_new(org, "projects", projects);
        if (s->orgs_as_list) {
            json_t *empty = json_pack("{s:s, s:s, s:[]}", "id", "org-without-projects", "name", "Empty", "projects");
            return send_data(s, conn, 200, json_pack("[o, o]", empty, org));
        }
        return send_data(s, conn, 200, org);
    }
    case WEFT_SRX_PROJECTS:
        return send_data(s, conn, 200, json_pack("[{s:s, s:s}]", "id", s->project, "name", "Default project"));
    case WEFT_SRX_PRESIGN:
        return answer_presign(s, conn, rq);
    case WEFT_SRX_PUT:
        return answer_put(s, conn, r.id, rq);
    case WEFT_SRX_CREATE:
        return answer_create(s, conn, rq);
    case WEFT_SRX_LIST:
        return answer_list(s, conn);
    case WEFT_SRX_GET: {
        pthread_mutex_lock(&s->mu);
        json_t *t = find_trace(s, r.id, NULL);
        json_t *o = t ? api_trace(t, false) : NULL;
        pthread_mutex_unlock(&s->mu);
        return o ? send_data(s, conn, 200, o) : send_error(conn, 404, "trace not found", NULL);
    }
    case WEFT_SRX_DELETE: {
        size_t idx;
        pthread_mutex_lock(&s->mu);
        json_t *t = find_trace(s, r.id, &idx);
        if (t)
            json_array_remove(s->traces, idx);
        pthread_mutex_unlock(&s->mu);
        return t ? send_data(s, conn, 200, json_pack("{s:s}", "id", r.id))
                 : send_error(conn, 404, "trace not found", NULL);
    }
    case WEFT_SRX_SOURCES: {
        json_t *arr = json_array();
        pthread_mutex_lock(&s->mu);
        size_t i;
        json_t *t;
        json_array_foreach(s->traces, i, t)
        {
            const char *src = sget(t, "source");
            bool seen = false;
            size_t k;
            json_t *v;
            json_array_foreach(arr, k, v) seen |= strcmp(json_string_value(v), src) == 0;
            if (!seen)
                json_array_append_new(arr, json_string(src));
        }
        pthread_mutex_unlock(&s->mu);
        return send_data(s, conn, 200, json_pack("{s:o}", "sources", arr));
    }
    default:
        return send_error(conn, 404, "no such endpoint", NULL);
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    weft_srx *s = cls;
    request *rq = *con_cls;
    if (rq == NULL) {
        rq = calloc(1, sizeof *rq);
        if (rq == NULL)
            return MHD_NO;
        rq->kind = classify(s, method, url).kind;
        *con_cls = rq;
        pthread_mutex_lock(&s->mu);
        s->counts[WEFT_SRX_ANY]++;
        s->counts[rq->kind]++;
        hdr_ctx h = {s->hdrs[rq->kind], 0};
        MHD_get_connection_values(conn, MHD_HEADER_KIND, record_header, &h);
        s->n_hdrs[rq->kind] = h.n;
        pthread_mutex_unlock(&s->mu);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->too_big || rq->len + n > BODY_MAX) {
            rq->too_big = true;
            return MHD_YES;
        }
        if (rq->len + n + 1 > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 4096;
            while (cap < rq->len + n + 1)
                cap *= 2;
            char *nb = realloc(rq->body, cap);
            if (nb == NULL)
                return MHD_NO;
            rq->body = nb;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        rq->body[rq->len] = '\0';
        return MHD_YES;
    }
    return answer(s, conn, method, url, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    request *rq = *con_cls;
    if (rq) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

/* ---- lifetime and inspection --------------------------------------------------------------- */

weft_srx *weft_srx_start(const weft_srx_opts *opts)
{
    weft_srx_opts o = {0};
    if (opts)
        o = *opts;
    weft_srx *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->api_key = strdup(o.api_key ? o.api_key : "test-key");
    s->org = strdup(o.org_id ? o.org_id : "org-1");
    s->project = strdup(o.project_id ? o.project_id : "proj-1");
    s->orgs_as_list = o.orgs_as_list;
    s->projects_apart = o.projects_apart;
    s->unwrapped = o.unwrapped;
    s->traces = json_array();
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC, 0, NULL,
                                 NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                 (size_t)256 * 1024, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (s->daemon == NULL) {
        fprintf(stderr, "weft_srx_start: could not start libmicrohttpd on 127.0.0.1\n");
        weft_srx_stop(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : 0;
    if (s->port == 0) {
        fprintf(stderr, "weft_srx_start: no bound port\n");
        weft_srx_stop(s);
        return NULL;
    }
    snprintf(s->base_url, sizeof s->base_url, "http://127.0.0.1:%u" API_PREFIX, s->port);
    snprintf(s->presign_origin, sizeof s->presign_origin, "http://%s:%u",
             o.presign_host ? o.presign_host : "127.0.0.1", s->port);
    return s;
}

void weft_srx_stop(weft_srx *s)
{
    if (s == NULL)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    for (size_t i = 0; i < s->n_uploads; i++) {
        free(s->uploads[i].filename);
        free(s->uploads[i].type);
        free(s->uploads[i].bytes);
    }
    free(s->uploads);
    for (size_t k = 0; k < WEFT_SRX_KIND_COUNT_; k++) {
        free(s->faults[k].message);
        free(s->faults[k].retry_after);
    }
    for (size_t i = 0; i < s->n_seeded; i++)
        free(s->seeded_ids[i]);
    free(s->seeded_ids);
    free(s->last_upload);
    json_decref(s->traces);
    free(s->api_key);
    free(s->org);
    free(s->project);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

const char *weft_srx_base_url(const weft_srx *s)
{
    return s->base_url;
}

size_t weft_srx_count(weft_srx *s, weft_srx_kind kind)
{
    pthread_mutex_lock(&s->mu);
    size_t n = kind < WEFT_SRX_KIND_COUNT_ ? s->counts[kind] : 0;
    pthread_mutex_unlock(&s->mu);
    return n;
}

bool weft_srx_last_header(weft_srx *s, weft_srx_kind kind, const char *name, char *out, size_t outlen)
{
    bool found = false;
    if (outlen)
        out[0] = '\0';
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; kind < WEFT_SRX_KIND_COUNT_ && i < s->n_hdrs[kind]; i++) {
        header_kv *kv = &s->hdrs[kind][i];
        if (strcasecmp(kv->name, name) == 0) {
            snprintf(out, outlen, "%s", kv->value);
            found = !kv->cut && strlen(kv->value) < outlen;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

void weft_srx_fail(weft_srx *s, weft_srx_kind kind, int status, int count, const char *message,
                   const char *retry_after)
{
    if (kind >= WEFT_SRX_KIND_COUNT_)
        return;
    pthread_mutex_lock(&s->mu);
    fault *f = &s->faults[kind];
    free(f->message);
    free(f->retry_after);
    f->status = status;
    f->count = count > 0 ? count : 0;
    f->message = message ? strdup(message) : NULL;
    f->retry_after = retry_after ? strdup(retry_after) : NULL;
    pthread_mutex_unlock(&s->mu);
}

size_t weft_srx_trace_count(weft_srx *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = json_array_size(s->traces);
    pthread_mutex_unlock(&s->mu);
    return n;
}

json_t *weft_srx_trace(weft_srx *s, const char *id)
{
    pthread_mutex_lock(&s->mu);
    json_t *t = find_trace(s, id, NULL);
    json_t *c = t ? json_deep_copy(t) : NULL;
    pthread_mutex_unlock(&s->mu);
    return c;
}

const char *weft_srx_seed(weft_srx *s, const json_t *rec)
{
    if (!json_is_object(rec))
        return NULL;
    pthread_mutex_lock(&s->mu);
    const char *id = store(s, rec);
    char *copy = strdup(id);
    char **ids = realloc(s->seeded_ids, (s->n_seeded + 1) * sizeof *ids);
    if (ids == NULL || copy == NULL) {
        free(copy);
        if (ids)
            s->seeded_ids = ids;
        pthread_mutex_unlock(&s->mu);
        return NULL;
    }
    s->seeded_ids = ids;
    s->seeded_ids[s->n_seeded++] = copy;
    pthread_mutex_unlock(&s->mu);
    return copy;
}

char *weft_srx_last_upload(weft_srx *s, size_t *len)
{
    pthread_mutex_lock(&s->mu);
    char *c = NULL;
    if (s->last_upload) {
        c = malloc(s->last_upload_len + 1);
        if (c) {
            memcpy(c, s->last_upload, s->last_upload_len);
            c[s->last_upload_len] = '\0';
            *len = s->last_upload_len;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return c;
}
