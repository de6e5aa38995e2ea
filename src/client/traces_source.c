/*
 * traces_source.c — trace sources and the two queries on them (traces.h): weft_traces_list
 * and weft_traces_get. A source is a small ops table: local files (here) and SGP
 * (traces_sgp.c). Both hand span items (SGP item JSON) to the same builder (traces_build.c),
 * so a trace reads the same from a file as from SGP.
 *
 * Local files are read whole at the first query (span_reader.c), grouped by trace_id, and
 * kept until the source is freed; the records of the list are built once and kept too.
 *
 * Threading: one thread at a time per source (traces.h).
 */
#include <stdlib.h>
#include <string.h>

#include "span_reader.h"
#include "traces_internal.h"
#include "traces_source.h"

#define PAGE_SIZE_DEFAULT 50
#define PAGE_SIZE_MAX 1000

/* ---- local files ------------------------------------------------------------------------- */

typedef struct files_src {
    weft_trace_source base;
    char **paths;
    size_t n_paths;
    bool loaded;
    int load_rc;
    json_t *by_trace;          /* trace_id -> array of items */
    weft__trace_row *rows;     /* one per trace, sorted newest first */
    size_t n_rows;
} files_src;

static int files_load(files_src *s)
{
    if (s->loaded)
        return s->load_rc;
    s->loaded = true;
    s->by_trace = json_object();
    if (!s->by_trace)
        return s->load_rc = WEFT_ENOMEM;
    for (size_t i = 0; i < s->n_paths; i++) {
        weft__span_reader *r;
        int rc = weft__span_reader_open(s->paths[i], &r);
        if (rc)
            return s->load_rc = rc;
        weft__sr_event ev;
        weft__sr_status st;
        while ((st = weft__span_reader_next(r, &ev)) != WEFT__SR_END) {
            if (st == WEFT__SR_IOERR) {
                weft__span_reader_free(r);
                return s->load_rc = WEFT_EIO;
            }
            if (st == WEFT__SR_BAD) {
                if (!s->base.skipped++) {
                    free(s->base.first_skip);
                    s->base.first_skip = NULL;
                    if (asprintf(&s->base.first_skip, "%s: %s", ev.file, ev.message) < 0)
                        s->base.first_skip = NULL;
                }
                continue;
            }
            const char *trace = weft__jstr(ev.item, "trace_id");
            json_t *arr = json_object_get(s->by_trace, trace);
            if (!arr) {
                arr = json_array();
                json_object_set_new(s->by_trace, trace, arr);
            }
            json_array_append_new(arr, ev.item);
        }
        weft__span_reader_free(r);
    }
    return s->load_rc = 0;
}

static int files_rows(weft_trace_source *base, weft__trace_row **rows, size_t *n)
{
    files_src *s = (files_src *)base;
    int rc = files_load(s);
    if (rc)
        return rc;
    if (!s->rows && json_object_size(s->by_trace)) {
        s->rows = calloc(json_object_size(s->by_trace), sizeof *s->rows);
        if (!s->rows)
            return WEFT_ENOMEM;
        const char *trace;
        json_t *items;
        json_object_foreach(s->by_trace, trace, items) {
            weft__trace_row *row = &s->rows[s->n_rows];
            row->trace_id = strdup(trace);
            if (!row->trace_id)
                return WEFT_ENOMEM;
            s->n_rows++;
            weft_trace_full_result *t;
            rc = weft__trace_build(trace, items, &t);
            if (rc == WEFT_ENOTFOUND)
                continue;
            if (rc)
                return rc;
            rc = weft_trace_record_from_full(t, &row->record);
            weft_trace_full_result_free(t);
            if (rc)
                return rc;
            weft__iso_to_us(row->record->created_at, &row->created_us);
        }
        weft__trace_rows_sort(s->rows, s->n_rows);
    }
    *rows = s->rows;
    *n = s->n_rows;
    return 0;
}

static int files_get(weft_trace_source *base, const char *trace_id, weft_trace_full_result **out)
{
    files_src *s = (files_src *)base;
    int rc = files_load(s);
    if (rc)
        return rc;
    json_t *items = json_object_get(s->by_trace, trace_id);
    if (!items)
        return WEFT_ENOTFOUND;
    return weft__trace_build(trace_id, items, out);
}

static void files_free(weft_trace_source *base)
{
    files_src *s = (files_src *)base;
    for (size_t i = 0; i < s->n_paths; i++)
        free(s->paths[i]);
    free(s->paths);
    json_decref(s->by_trace);
    weft__trace_rows_free(s->rows, s->n_rows);
}

static const weft__trace_source_ops files_ops = {.rows = files_rows, .get = files_get, .free = files_free};

int weft_trace_source_open_files(const char *const *paths, size_t n_paths, weft_trace_source **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    if (!paths || n_paths == 0)
        return WEFT_EINVAL;
    files_src *s = calloc(1, sizeof *s);
    if (!s)
        return WEFT_ENOMEM;
    s->base.ops = &files_ops;
    s->paths = calloc(n_paths, sizeof *s->paths);
    if (!s->paths) {
        free(s);
        return WEFT_ENOMEM;
    }
    for (size_t i = 0; i < n_paths; i++) {
        s->paths[s->n_paths] = paths[i] ? strdup(paths[i]) : NULL;
        if (!s->paths[s->n_paths]) {
            files_free(&s->base);
            free(s);
            return paths[i] ? WEFT_ENOMEM : WEFT_EINVAL;
        }
        s->n_paths++;
    }
    *out = &s->base;
    return 0;
}

/* ---- shared ------------------------------------------------------------------------------ */

static int cmp_row(const void *a, const void *b)
{
    const weft__trace_row *x = a, *y = b;
    if (!x->record != !y->record)
        return x->record ? -1 : 1;
    if (x->created_us != y->created_us)
        return x->created_us > y->created_us ? -1 : 1; /* newest first */
    return strcmp(x->trace_id, y->trace_id);
}

void weft__trace_rows_sort(weft__trace_row *rows, size_t n)
{
    if (n)
        qsort(rows, n, sizeof *rows, cmp_row);
}

void weft__trace_rows_free(weft__trace_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].trace_id);
        weft_trace_record_free(rows[i].record);
    }
    free(rows);
}

static bool copy_record(weft_trace_record *d, const weft_trace_record *r)
{
    *d = *r;
    d->trace_id = weft__dupz(r->trace_id);
    d->project_id = weft__dupz(r->project_id);
    d->status = weft__dupz(r->status);
    d->session_id = weft__dupz(r->session_id);
    d->project_name = weft__dupz(r->project_name);
    d->app_name = weft__dupz(r->app_name);
    d->input_preview = weft__dupz(r->input_preview);
    d->output_preview = weft__dupz(r->output_preview);
    d->created_at = weft__dupz(r->created_at);
    return (d->trace_id || !r->trace_id) && (d->project_id || !r->project_id) && (d->status || !r->status) &&
           (d->session_id || !r->session_id) && (d->project_name || !r->project_name) &&
           (d->app_name || !r->app_name) && (d->input_preview || !r->input_preview) &&
           (d->output_preview || !r->output_preview) && (d->created_at || !r->created_at);
}

int weft_traces_list(weft_trace_source *src, const weft_trace_list_opts *opts, weft_trace_list_response **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    if (!src)
        return WEFT_EINVAL;
    uint32_t page = opts && opts->page ? opts->page : 1;
    uint32_t size = opts && opts->page_size ? opts->page_size : PAGE_SIZE_DEFAULT;
    if (size > PAGE_SIZE_MAX)
        return WEFT_EINVAL;
    weft_trace_list_response *r = calloc(1, sizeof *r);
    if (!r)
        return WEFT_ENOMEM;
    r->page = page;
    r->page_size = size;
    int rc;
    if (src->ops->page) {
        rc = src->ops->page(src, page, size, r);
    } else {
        weft__trace_row *rows;
        size_t n;
        rc = src->ops->rows(src, &rows, &n);
        size_t listed = 0;
        for (size_t i = 0; !rc && i < n; i++)
            listed += rows[i].record != NULL;
        r->total = listed;
        uint64_t first = (uint64_t)(page - 1) * size;
        if (!rc && first < listed) {
            size_t k = (size_t)(listed - first < size ? listed - first : size);
            r->traces = calloc(k, sizeof *r->traces);
            if (!r->traces)
                rc = WEFT_ENOMEM;
            for (size_t i = 0; !rc && i < k; i++) {
                if (!copy_record(&r->traces[r->n_traces++], rows[first + i].record))
                    rc = WEFT_ENOMEM;
            }
        }
    }
    if (rc) {
        weft_trace_list_response_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int weft_traces_get(weft_trace_source *src, const char *trace_id, weft_trace_full_result **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    if (!src || !trace_id || !*trace_id)
        return WEFT_EINVAL;
    return src->ops->get(src, trace_id, out);
}

void weft_trace_source_free(weft_trace_source *src)
{
    if (!src)
        return;
    src->ops->free(src);
    free(src->first_skip);
    free(src);
}

uint64_t weft_trace_source_skipped(const weft_trace_source *src, const char **first_message)
{
    if (first_message)
        *first_message = src ? src->first_skip : NULL;
    return src ? src->skipped : 0;
}
