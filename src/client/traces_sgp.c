/*
 * traces_sgp.c — the SGP trace source (traces.h): traces are listed from root spans
 * (weft_sgp_spans_search with parents_only, every page by cursor), and a trace's spans are
 * fetched by trace_ids. Each span the server returns is turned back into the upsert item weft
 * sent (the fields of DESIGN.md section 4; members the server adds, such as account_id or
 * created_by, and null members are left out), so the builder sees what a JSONL file of the
 * same run holds and answers the same.
 *
 * Nothing is cached: every query asks the server. One thread at a time per source; the client
 * is thread-safe and borrowed.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "traces_internal.h"
#include "traces_source.h"
#include "weft/sgp.h"

typedef struct sgp_src {
    weft_trace_source base;
    weft_sgp_client *client;
} sgp_src;

/* The upsert item of a span as the server returned it. New reference, NULL when it is not an
 * object. */
static json_t *item_of(const weft_sgp_span *s)
{
    if (!s->json)
        return NULL;
    json_t *o = json_loads(s->json, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return NULL;
    }
    static const char *const keep[] = {"id", "trace_id", "parent_id", "name", "type", "status",
                                       "start_timestamp", "end_timestamp", "input", "output", "metadata",
                                       "obs_trace_id", "obs_span_id", "group_id", "application_variant_id",
                                       "application_interaction_id"};
    json_t *it = json_object();
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        json_t *v = json_object_get(o, keep[i]);
        if (v && !json_is_null(v))
            json_object_set(it, keep[i], v);
    }
    json_decref(o);
    return it;
}

/* Calls visit for every span the search q finds, page after page. Returns 0, a negative code
 * from the client, or the first negative code visit returns (which stops the walk). */
static int walk(sgp_src *s, const weft_sgp_search *q, int (*visit)(void *ctx, const weft_sgp_span *sp), void *ctx)
{
    weft_sgp_span_iter *it;
    int rc = weft_sgp_spans_iter_new(s->client, q, WEFT_SGP_FORWARD, &it, NULL);
    if (rc)
        return rc;
    const weft_sgp_span *sp;
    while ((rc = weft_sgp_spans_iter_next(it, &sp, NULL)) == 1)
        if ((rc = visit(ctx, sp)) < 0)
            break;
    weft_sgp_spans_iter_free(it);
    return rc < 0 ? rc : 0;
}

/* fetch_traces' visitor: the span's item added to its trace's array. */
typedef struct by_trace {
    sgp_src *s;
    json_t *by;
} by_trace;

static int add_to_trace(void *ctx, const weft_sgp_span *sp)
{
    by_trace *b = ctx;
    json_t *item = item_of(sp);
    const char *trace = weft__jstr(item, "trace_id");
    if (!trace || !weft__jstr(item, "id")) {
        json_decref(item);
        b->s->base.skipped++;
        return 0;
    }
    json_t *arr = json_object_get(b->by, trace);
    if (!arr) {
        arr = json_array();
        json_object_set_new(b->by, trace, arr);
    }
    json_array_append_new(arr, item);
    return 0;
}

/* Every span of the traces in ids, grouped: trace_id -> array of items. */
static int fetch_traces(sgp_src *s, const char *const *ids, size_t n, json_t **out)
{
    *out = NULL;
    weft_sgp_search q;
    memset(&q, 0, sizeof q);
    q.trace_ids = ids;
    q.n_trace_ids = n;
    q.limit = WEFT_SGP_LIMIT_MAX;
    q.sort_order = WEFT_SGP_SORT_ASC;
    by_trace b = {s, json_object()};
    int rc = walk(s, &q, add_to_trace, &b);
    if (rc < 0) {
        json_decref(b.by);
        return rc;
    }
    *out = b.by;
    return 0;
}

static int sgp_get(weft_trace_source *base, const char *trace_id, weft_trace_full_result **out)
{
    sgp_src *s = (sgp_src *)base;
    json_t *by;
    int rc = fetch_traces(s, &trace_id, 1, &by);
    if (rc)
        return rc;
    json_t *items = json_object_get(by, trace_id);
    rc = items ? weft__trace_build(trace_id, items, out) : WEFT_ENOTFOUND;
    json_decref(by);
    return rc;
}

/* sgp_page's visitor: one row per trace, from the first root seen of it. */
typedef struct roots {
    weft__trace_row *rows;
    size_t n, cap;
    json_t *seen;
} roots;

static int add_root(void *ctx, const weft_sgp_span *sp)
{
    roots *r = ctx;
    if (!sp->trace_id || json_object_get(r->seen, sp->trace_id))
        return 0;
    json_object_set_new(r->seen, sp->trace_id, json_true());
    if (r->n == r->cap) {
        weft__trace_row *v = weft__grow(r->rows, &r->cap, sizeof *v, 256);
        if (!v)
            return WEFT_ENOMEM;
        r->rows = v;
    }
    weft__trace_row *row = &r->rows[r->n];
    memset(row, 0, sizeof *row);
    row->trace_id = strdup(sp->trace_id);
    if (!row->trace_id)
        return WEFT_ENOMEM;
    weft__iso_to_us(sp->start_timestamp, &row->created_us);
    row->record = (weft_trace_record *)1; /* sorts as listed; replaced below */
    r->n++;
    return 0;
}

static int sgp_page(weft_trace_source *base, uint32_t page, uint32_t size, weft_trace_list_response *out)
{
    sgp_src *s = (sgp_src *)base;
    weft_sgp_search q;
    memset(&q, 0, sizeof q);
    q.parents_only = true;
    q.limit = WEFT_SGP_LIMIT_MAX;
    /* Every root: its trace and start, for the order; one row per trace. */
    roots found = {NULL, 0, 0, json_object()};
    int rc = walk(s, &q, add_root, &found);
    json_decref(found.seen);
    weft__trace_row *rows = found.rows;
    size_t n = found.n;
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            rows[i].record = NULL;
        weft__trace_rows_free(rows, n);
        return rc;
    }
    weft__trace_rows_sort(rows, n);
    for (size_t i = 0; i < n; i++)
        rows[i].record = NULL;
    out->total = n;
    uint64_t first = (uint64_t)(page - 1) * size;
    rc = 0;
    if (first < n) {
        size_t k = (size_t)(n - first < size ? n - first : size);
        const char **ids = calloc(k, sizeof *ids);
        out->traces = calloc(k, sizeof *out->traces);
        json_t *by = NULL;
        if (!ids || !out->traces)
            rc = WEFT_ENOMEM;
        for (size_t i = 0; !rc && i < k; i++)
            ids[i] = rows[first + i].trace_id;
        if (!rc)
            rc = fetch_traces(s, ids, k, &by);
        for (size_t i = 0; !rc && i < k; i++) {
            json_t *items = json_object_get(by, ids[i]);
            weft_trace_full_result *t = NULL;
            rc = items ? weft__trace_build(ids[i], items, &t) : WEFT_ENOTFOUND;
            if (rc == WEFT_ENOTFOUND) {
                rc = 0; /* its spans went away between the two searches */
                out->total--;
                continue;
            }
            weft_trace_record *r = NULL;
            if (!rc)
                rc = weft_trace_record_from_full(t, &r);
            weft_trace_full_result_free(t);
            if (!rc) {
                out->traces[out->n_traces++] = *r;
                free(r);
            }
        }
        json_decref(by);
        free(ids);
    }
    weft__trace_rows_free(rows, n);
    return rc;
}

static int sgp_rows(weft_trace_source *base, weft__trace_row **rows, size_t *n)
{
    (void)base;
    *rows = NULL;
    *n = 0;
    return 0;
}

static void sgp_free(weft_trace_source *base) { (void)base; }

static const weft__trace_source_ops sgp_ops = {.rows = sgp_rows, .get = sgp_get, .free = sgp_free, .page = sgp_page};

int weft_trace_source_open_sgp(weft_sgp_client *client, weft_trace_source **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    if (!client)
        return WEFT_EINVAL;
    sgp_src *s = calloc(1, sizeof *s);
    if (!s)
        return WEFT_ENOMEM;
    s->base.ops = &sgp_ops;
    s->client = client;
    *out = &s->base;
    return 0;
}
