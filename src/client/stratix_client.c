/*
 * stratix_client.c — the LayerLens Stratix traces client (see weft/stratix.h): the options'
 * environment fallbacks, get / get_many / delete / sources and the readers of their answers
 * (jansson). The connection, the retry loop, the organization/project resolution and the three
 * upload steps live one stage down, in src/deliver/stratix_upload.c, which the stratix
 * exporter uses too.
 *
 * Owns: the weft_stratix_client — its connection (stratix_upload.h). Calls on one client from
 * several threads share only that connection, which is thread-safe.
 *
 * Facts about the API (the Stratix SDK's behaviour): traces answer {id, organization_id,
 * project_id, created_at, filename, data, input, integration_id, ...}; get_many answers
 * {traces, count, total_count}; sources answer {sources: [...]}; any answer may be wrapped as
 * {"status": ..., "data": ...}.
 *
 * Nothing here logs: every failure is described in the caller's weft_stratix_error, and no
 * message ever holds the key.
 */
#include "weft/stratix.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "easy.h"
#include "json_value.h"
#include "stratix_internal.h"
#include "stratix_upload.h"

#define set_err weft__stratix_set_err
#define unwrap weft__stratix_unwrap

struct weft_stratix_client {
    weft__stratix_conn *conn;
};

static const char *env_or(const char *given, const char *name)
{
    if (given && *given)
        return given;
    const char *e = getenv(name);
    return e && *e ? e : NULL;
}

static void clear_err(weft_stratix_error *err)
{
    if (err)
        memset(err, 0, sizeof *err);
}

/* ---- client lifetime ----------------------------------------------------------------------- */

void weft_stratix_client_free(weft_stratix_client *c)
{
    if (c == NULL)
        return;
    weft__stratix_conn_free(c->conn);
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
    o.api_key = env_or(o.api_key, "LAYERLENS_STRATIX_API_KEY");
    o.base_url = env_or(o.base_url, "LAYERLENS_STRATIX_BASE_URL");
    o.organization_id = env_or(o.organization_id, "LAYERLENS_STRATIX_ORGANIZATION_ID");
    o.project_id = env_or(o.project_id, "LAYERLENS_STRATIX_PROJECT_ID");
    if (o.api_key == NULL) {
        set_err(err, WEFT_ECONFIG, 0, 0,
                "no Stratix API key: set LAYERLENS_STRATIX_API_KEY or weft_stratix_opts.api_key");
        return WEFT_ECONFIG;
    }
    weft_stratix_client *c = calloc(1, sizeof *c);
    if (c == NULL) {
        set_err(err, WEFT_ENOMEM, 0, 0, "out of memory");
        return WEFT_ENOMEM;
    }
    int rc = weft__stratix_conn_new(&c->conn, &o, err);
    if (rc < 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int weft_stratix_client_ids(weft_stratix_client *c, const char **org, const char **project, weft_stratix_error *err)
{
    if (c == NULL) {
        set_err(err, WEFT_EINVAL, 0, 0, "client is NULL");
        return WEFT_EINVAL;
    }
    return weft__stratix_conn_ids(c->conn, org, project, err);
}

/* One call to the project's /traces/<piece> (piece NULL: /traces itself); with root, the
 * answer's JSON in *root (the caller's). */
static int traces_call(weft_stratix_client *c, const char *method, const char *piece, const char *what,
                       json_t **root, weft_stratix_error *err)
{
    char *url;
    int rc = weft__stratix_traces_url(c->conn, piece ? (const char *const[]){piece, NULL} : NULL, &url, err);
    if (rc < 0)
        return rc;
    rc = weft__stratix_call(c->conn, method, url, what, NULL, root, err);
    free(url);
    return rc;
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

#define bad_arg weft__stratix_bad_arg
#define oom_err weft__stratix_oom

int weft_stratix_get(weft_stratix_client *c, const char *id, weft_stratix_trace **out, weft_stratix_error *err)
{
    clear_err(err);
    if (out)
        *out = NULL;
    if (c == NULL || out == NULL || id == NULL || *id == '\0')
        return bad_arg(err, "weft_stratix_get: client, id and out are required");
    json_t *root;
    int rc = traces_call(c, "GET", id, "GET /traces/{id}", &root, err);
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
    int rc = weft__stratix_traces_url(c->conn, NULL, &base_url, err);
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
    rc = weft__stratix_call(c->conn, "GET", b.data, "GET /traces", NULL, &root, err);
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
    return traces_call(c, "DELETE", id, "DELETE /traces/{id}", NULL, err);
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

int weft_stratix_get_sources(weft_stratix_client *c, weft_stratix_sources **out, weft_stratix_error *err)
{
    clear_err(err);
    if (out)
        *out = NULL;
    if (c == NULL || out == NULL)
        return bad_arg(err, "weft_stratix_get_sources: client and out are required");
    json_t *root;
    int rc = traces_call(c, "GET", "sources", "GET /traces/sources", &root, err);
    if (rc < 0)
        return rc;
    weft_stratix_sources *s = calloc(1, sizeof *s);
    if (s == NULL) {
        json_decref(root);
        return oom_err(err);
    }
    rc = weft__stratix_string_list(unwrap(root), "sources", &s->sources, &s->n_sources);
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
int weft_stratix_upload(weft_stratix_client *c, const char *path, weft_stratix_progress_fn on_progress, void *user,
                        weft_stratix_upload_result **out, weft_stratix_error *err)
{
    if (c == NULL) {
        clear_err(err);
        if (out)
            *out = NULL;
        set_err(err, WEFT_EINVAL, 0, 0, "weft_stratix_upload: client, path and out are required");
        return WEFT_EINVAL;
    }
    return weft__stratix_upload_file(c->conn, path, on_progress, user, out, err);
}
