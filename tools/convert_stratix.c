/*
 * convert_stratix.c — one Stratix trace document from one trace's span items (convert.h), for
 * `weft convert --to stratix`. It follows the document src/codec/stratix_doc.h describes on the
 * stratix branch, which is not on main yet; once it is, this file gives way to
 * weft__stratix_doc_text so the exporter and the CLI write the same bytes.
 *
 * Also owns the key map of convert.h. Single-threaded; no I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "convert.h"

/* ---- key map ------------------------------------------------------------------------------- */

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void grow(keymap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    keymap_entry *s = calloc(cap, sizeof *s);
    if (!s) {
        fputs("weft: out of memory\n", stderr);
        exit(CLI_FAIL);
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = hash(m->slots[i].key) & (cap - 1);
        while (s[j].key)
            j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
}

keymap_entry *keymap_get(keymap *m, const char *key, bool *added)
{
    if ((m->n + 1) * 4 > m->cap * 3)
        grow(m);
    size_t j = hash(key) & (m->cap - 1);
    while (m->slots[j].key) {
        if (!strcmp(m->slots[j].key, key)) {
            if (added)
                *added = false;
            return &m->slots[j];
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j].key = cli_strdup(key);
    m->n++;
    if (added)
        *added = true;
    return &m->slots[j];
}

void keymap_free(keymap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- the document -------------------------------------------------------------------------- */

typedef struct sspan {
    json_t *item;
    const char *id, *parent;
    int64_t start, end;
    bool has_start, has_end;
    long parent_ix; /* index of the parent in the set, else -1 */
    bool placed;
} sspan;

static const char *sfield(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int by_start(const void *a, const void *b, void *ctx)
{
    const sspan *s = ctx;
    const sspan *x = &s[*(const size_t *)a], *y = &s[*(const size_t *)b];
    if (x->has_start != y->has_start)
        return x->has_start ? -1 : 1;
    if (x->has_start && x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return strcmp(x->id, y->id);
}

static json_t *obj_or_empty(json_t *v)
{
    return v && !json_is_null(v) ? json_incref(v) : json_object();
}

static json_t *ms_value(bool ha, int64_t a, bool hb, int64_t b)
{
    if (!ha || !hb || b < a)
        return json_null();
    return json_real((double)(b - a) / 1e6);
}

static json_t *span_doc(const sspan *s)
{
    json_t *o = json_object(), *it = s->item;
    json_object_set(o, "id", json_object_get(it, "id"));
    json_object_set_new(o, "parent_id", s->parent ? json_string(s->parent) : json_null());
    static const char *const keep[] = {"name", "type", "status"};
    for (size_t i = 0; i < 3; i++)
        if (json_object_get(it, keep[i]))
            json_object_set(o, keep[i], json_object_get(it, keep[i]));
    json_t *st = json_object_get(it, "start_timestamp"), *en = json_object_get(it, "end_timestamp");
    json_object_set_new(o, "start_time", st ? json_incref(st) : json_null());
    json_object_set_new(o, "end_time", en ? json_incref(en) : json_null());
    json_object_set_new(o, "duration_ms", ms_value(s->has_start, s->start, s->has_end, s->end));
    json_object_set_new(o, "input", obj_or_empty(json_object_get(it, "input")));
    json_object_set_new(o, "output", obj_or_empty(json_object_get(it, "output")));
    json_object_set_new(o, "metadata", obj_or_empty(json_object_get(it, "metadata")));
    const char *k;
    json_t *v;
    json_object_foreach(it, k, v)
    {
        if (!strcmp(k, "start_timestamp") || !strcmp(k, "end_timestamp") || !strcmp(k, "parent_id") ||
            json_object_get(o, k))
            continue;
        json_object_set(o, k, v);
    }
    return o;
}

char *convert_stratix_doc(const json_t *items)
{
    size_t n = json_array_size(items);
    if (!n)
        return NULL;
    sspan *s = calloc(n, sizeof *s);
    size_t *order = calloc(n, sizeof *order), *stack = calloc(n, sizeof *stack);
    keymap ids = {0};
    if (!s || !order || !stack) {
        free(s), free(order), free(stack);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        s[i].item = it;
        s[i].id = sfield(it, "id");
        s[i].parent = sfield(it, "parent_id");
        s[i].has_start = cli_time_ns(sfield(it, "start_timestamp"), &s[i].start);
        s[i].has_end = cli_time_ns(sfield(it, "end_timestamp"), &s[i].end);
        keymap_get(&ids, s[i].id ? s[i].id : "", NULL)->a = i + 1;
        order[i] = i;
    }
    for (size_t i = 0; i < n; i++) {
        keymap_entry *e = s[i].parent ? keymap_get(&ids, s[i].parent, NULL) : NULL;
        s[i].parent_ix = e && e->a ? (long)e->a - 1 : -1;
    }
    qsort_r(order, n, sizeof *order, by_start, s);
    /* The root: the earliest span without a parent, else the earliest whose parent is absent. */
    long root = -1;
    for (size_t k = 0; k < n && root < 0; k++)
        if (!s[order[k]].parent)
            root = (long)order[k];
    for (size_t k = 0; k < n && root < 0; k++)
        if (s[order[k]].parent_ix < 0)
            root = (long)order[k];
    if (root < 0)
        root = (long)order[0];

    /* Children of each span in start order (a counting sort over the start order). */
    size_t *first = calloc(n + 1, sizeof *first), *kids = calloc(n, sizeof *kids);
    if (!first || !kids) {
        free(first), free(kids), free(s), free(order), free(stack);
        keymap_free(&ids);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (s[i].parent_ix >= 0)
            first[s[i].parent_ix + 1]++;
    for (size_t i = 0; i < n; i++)
        first[i + 1] += first[i];
    size_t *fill = stack; /* reused as the fill cursor, then as the walk's stack */
    memcpy(fill, first, n * sizeof *fill);
    for (size_t k = 0; k < n; k++) {
        size_t c = order[k];
        if (s[c].parent_ix >= 0)
            kids[fill[s[c].parent_ix]++] = c;
    }

    json_t *arr = json_array();
    /* Depth first from the root, children by start; then every span not reached (other roots,
     * orphans, cycles), the same way. */
    size_t next_unplaced = 0;
    for (long start = root; start >= 0;) {
        size_t top = 0;
        stack[top++] = (size_t)start;
        s[start].placed = true;
        while (top) {
            size_t cur = stack[--top];
            json_array_append_new(arr, span_doc(&s[cur]));
            for (size_t k = first[cur + 1]; k-- > first[cur];) {
                size_t c = kids[k];
                if (!s[c].placed) {
                    s[c].placed = true;
                    stack[top++] = c;
                }
            }
        }
        start = -1;
        for (; next_unplaced < n; next_unplaced++)
            if (!s[order[next_unplaced]].placed) {
                start = (long)order[next_unplaced];
                break;
            }
    }
    free(first), free(kids);

    const sspan *r = &s[root];
    json_t *doc = json_object();
    json_object_set(doc, "trace_id", json_object_get(r->item, "trace_id"));
    json_t *nm = json_object_get(r->item, "name");
    json_object_set_new(doc, "name", nm ? json_incref(nm) : json_null());
    json_object_set_new(doc, "input", obj_or_empty(json_object_get(r->item, "input")));
    json_object_set_new(doc, "output", obj_or_empty(json_object_get(r->item, "output")));
    json_t *meta = json_object();
    json_t *ts = json_object_get(json_object_get(r->item, "metadata"), "trace_summary");
    if (ts)
        json_object_set(meta, "trace_summary", ts);
    static const char *const lift[] = {"obs_trace_id", "group_id", "application_variant_id",
                                       "application_interaction_id"};
    for (size_t i = 0; i < 4; i++)
        if (json_object_get(r->item, lift[i]))
            json_object_set(meta, lift[i], json_object_get(r->item, lift[i]));
    json_object_set_new(doc, "metadata", meta);
    bool hs = r->has_start, he = r->has_end;
    int64_t a = r->start, b = r->end;
    json_t *stv = json_object_get(r->item, "start_timestamp"), *env = json_object_get(r->item, "end_timestamp");
    if (!hs || !he) {
        /* Without the root's times: the earliest start and the latest end of all spans. */
        hs = he = false;
        for (size_t i = 0; i < n; i++) {
            if (s[i].has_start && (!hs || s[i].start < a))
                a = s[i].start, hs = true, stv = json_object_get(s[i].item, "start_timestamp");
            if (s[i].has_end && (!he || s[i].end > b))
                b = s[i].end, he = true, env = json_object_get(s[i].item, "end_timestamp");
        }
    }
    json_object_set_new(doc, "start_time", hs ? json_incref(stv) : json_null());
    json_object_set_new(doc, "end_time", he ? json_incref(env) : json_null());
    json_object_set_new(doc, "duration_ms", ms_value(hs, a, he, b));
    json_object_set_new(doc, "spans", arr);
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(doc);
    keymap_free(&ids);
    free(s), free(order), free(stack);
    return text;
}
