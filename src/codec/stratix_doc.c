/*
 * stratix_doc.c — see stratix_doc.h. Four passes over one trace's items: validate, keep one
 * record per id (sorted by id, so a parent is found by binary search), order the spans (by
 * start, then a depth-first walk from the root with an explicit stack, so no nesting depth can
 * exhaust the C stack), and write.
 *
 * Owns, during a call only: the work arrays (one allocation of n entries each).
 */
#include "stratix_doc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "json_value.h"
#include "weft/weft.h"

typedef struct span {
    const json_t *item;
    const char *id;
    const char *parent_id; /* NULL when absent or null */
    uint64_t start_ns, end_ns;
    bool has_start, has_end;
    size_t seq;    /* position in the input, for "the later one wins" */
    long parent;   /* index (into the id-sorted array) of the parent when in the set, else -1 */
} span;

/* ---- time ---------------------------------------------------------------------------------- */

static bool digits(const char *s, int n, unsigned *v)
{
    unsigned x = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (unsigned)(s[i] - '0');
    }
    *v = x;
    return true;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

bool weft__stratix_doc_time_ns(const char *s, uint64_t *ns)
{
    unsigned y, mo, d, h, mi, se;
    if (s == NULL || strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return false;
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) || h > 23 ||
        mi > 59 || se > 60)
        return false;
    const char *p = s + 19;
    uint64_t frac = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 9)
                frac = frac * 10 + (uint64_t)(*p - '0');
            nd++;
            p++;
        }
        if (nd == 0)
            return false;
        for (int k = nd; k < 9; k++)
            frac *= 10;
    }
    if (!((p[0] == 'Z' || p[0] == 'z') && p[1] == '\0') && strcmp(p, "+00:00") != 0)
        return false;
    int64_t days = days_from_civil((int64_t)y, mo, d);
    *ns = ((uint64_t)days * 86400u + h * 3600u + mi * 60u + se) * 1000000000u + frac;
    return true;
}

/* ---- helpers ------------------------------------------------------------------------------- */

static const char *str_field(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int cmp_id(const void *a, const void *b)
{
    const span *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static long find_id(const span *s, size_t n, const char *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(s[mid].id, id);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* By start (a missing start sorts last), then id; sorts indices into the span array ctx. */
static int cmp_start_idx(const void *a, const void *b, void *ctx)
{
    const span *base = ctx;
    const span *x = &base[*(const size_t *)a], *y = &base[*(const size_t *)b];
    if (x->has_start != y->has_start)
        return x->has_start ? -1 : 1;
    if (x->has_start && x->start_ns != y->start_ns)
        return x->start_ns < y->start_ns ? -1 : 1;
    return strcmp(x->id, y->id);
}

static void write_duration(weft__buf *b, bool has_start, uint64_t start, bool has_end, uint64_t end)
{
    if (has_start && has_end && end >= start)
        weft__json_ms(b, end - start);
    else
        weft__buf_lit(b, "null");
}

/* One member written from an item: the text before the value (separator and key, as written),
 * the item's key it is read from, and how a missing value is written. */
typedef struct field {
    const char *lit;
    size_t lit_len;
    const char *key;
    bool obj; /* absent or null: {} (else the value as it is, absent writes null) */
} field;

#define FIELD(lit, key, obj) {lit, sizeof lit - 1, key, obj}
#define N_OF(t) (sizeof t / sizeof *t)

/* A span: these, then duration_ms, then span_tail, then the item's other members. */
static const field span_head[] = {
    FIELD("{\"id\":", "id", false),
    FIELD(",\"parent_id\":", "parent_id", false),
    FIELD(",\"name\":", "name", false),
    FIELD(",\"type\":", "type", false),
    FIELD(",\"status\":", "status", false),
    FIELD(",\"start_time\":", "start_timestamp", false),
    FIELD(",\"end_time\":", "end_timestamp", false),
};
static const field span_tail[] = {
    FIELD(",\"input\":", "input", true),
    FIELD(",\"output\":", "output", true),
    FIELD(",\"metadata\":", "metadata", true),
};
/* The document's top level, from the root: these, then its metadata, times and spans. */
static const field doc_head[] = {
    FIELD("{\"trace_id\":", "trace_id", false),
    FIELD(",\"name\":", "name", false),
    FIELD(",\"input\":", "input", true),
    FIELD(",\"output\":", "output", true),
};

static void write_fields(weft__buf *b, const json_t *item, const field *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        weft__buf_append(b, f[i].lit, f[i].lit_len);
        const json_t *v = json_object_get(item, f[i].key);
        if (f[i].obj && (!v || json_is_null(v)))
            weft__buf_lit(b, "{}");
        else
            weft__json_value_write(b, v); /* NULL (absent) writes null */
    }
}

static bool in_fields(const char *k, const field *f, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(k, f[i].key) == 0)
            return true;
    return false;
}

static void write_span(weft__buf *b, const span *s)
{
    const json_t *it = s->item;
    write_fields(b, it, span_head, N_OF(span_head));
    weft__buf_lit(b, ",\"duration_ms\":");
    write_duration(b, s->has_start, s->start_ns, s->has_end, s->end_ns);
    write_fields(b, it, span_tail, N_OF(span_tail));
    json_t *o = (json_t *)it; /* jansson's iterators take non-const; nothing is modified */
    for (void *i = json_object_iter(o); i; i = json_object_iter_next(o, i)) {
        const char *k = json_object_iter_key(i);
        if (in_fields(k, span_head, N_OF(span_head)) || in_fields(k, span_tail, N_OF(span_tail)))
            continue; /* written above */
        weft__buf_putc(b, ',');
        weft__json_str_any(b, k, json_object_iter_key_len(i), 0);
        weft__buf_putc(b, ':');
        weft__json_value_write(b, json_object_iter_value(i));
    }
    weft__buf_putc(b, '}');
}

static int fail(weft__stratix_doc_info *info, int rc, const char *why)
{
    if (info)
        info->error = why;
    return rc;
}

/* ---- the document -------------------------------------------------------------------------- */

/* Writes top and, depth first in start order, every span below it not written yet; returns
 * how many. stack has room for every span; children of span i are csr[csr_start[i] ..
 * csr_start[i + 1]). before: spans already in the array (for the separators). */
static size_t write_tree(weft__buf *b, const span *all, size_t top, size_t *stack, bool *visited, const size_t *csr,
                         const size_t *csr_start, size_t before)
{
    size_t sp = 0, n = 0;
    stack[sp++] = top;
    visited[top] = true;
    while (sp) {
        size_t cur = stack[--sp];
        if (before + n++)
            weft__buf_putc(b, ',');
        write_span(b, &all[cur]);
        for (size_t c = csr_start[cur + 1]; c-- > csr_start[cur];) {
            size_t ch = csr[c];
            if (!visited[ch]) {
                visited[ch] = true;
                stack[sp++] = ch;
            }
        }
    }
    return n;
}

int weft__stratix_doc_write(weft__buf *b, const json_t *const *items, size_t n, weft__stratix_doc_info *info)
{
    if (info)
        memset(info, 0, sizeof *info);
    if (n == 0 || items == NULL)
        return fail(info, WEFT_EINVAL, "a trace document needs at least one span");
    const char *trace_id = NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *it = items[i];
        const char *id = str_field(it, "id"), *tid = str_field(it, "trace_id");
        if (!json_is_object(it) || id == NULL || *id == '\0' || tid == NULL || *tid == '\0')
            return fail(info, WEFT_EINVAL, "every span item must be an object with string id and trace_id");
        if (trace_id == NULL)
            trace_id = tid;
        else if (strcmp(trace_id, tid) != 0)
            return fail(info, WEFT_EINVAL, "span items of more than one trace");
        const json_t *pid = json_object_get(it, "parent_id");
        if (pid && !json_is_null(pid) && !json_is_string(pid))
            return fail(info, WEFT_EINVAL, "parent_id must be a string or null");
    }

    span *all = calloc(n, sizeof *all);
    size_t *order = calloc(n, sizeof *order);
    size_t *csr_start = calloc(n + 1, sizeof *csr_start);
    size_t *csr = calloc(n, sizeof *csr);
    size_t *stack = calloc(n, sizeof *stack);
    bool *visited = calloc(n, sizeof *visited);
    int rc = 0;
    if (!all || !order || !csr_start || !csr || !stack || !visited) {
        rc = fail(info, WEFT_ENOMEM, "out of memory");
        goto out;
    }

    /* One record per id: sorted by (id, seq), the winner of each run is moved to the front. */
    for (size_t i = 0; i < n; i++) {
        span *s = &all[i];
        s->item = items[i];
        s->id = str_field(items[i], "id");
        s->parent_id = str_field(items[i], "parent_id");
        if (s->parent_id && *s->parent_id == '\0')
            s->parent_id = NULL;
        s->has_start = weft__stratix_doc_time_ns(str_field(items[i], "start_timestamp"), &s->start_ns);
        s->has_end = weft__stratix_doc_time_ns(str_field(items[i], "end_timestamp"), &s->end_ns);
        s->seq = i;
    }
    qsort(all, n, sizeof *all, cmp_id);
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i, win = i;
        bool win_done = json_is_string(json_object_get(all[i].item, "end_timestamp"));
        for (j = i + 1; j < n && strcmp(all[j].id, all[i].id) == 0; j++) {
            bool done = json_is_string(json_object_get(all[j].item, "end_timestamp"));
            if (done || !win_done) { /* later wins unless it would replace completed by in-progress */
                win = j;
                win_done = done;
            }
        }
        all[m++] = all[win];
        i = j;
    }
    if (info)
        info->duplicates = n - m;

    for (size_t i = 0; i < m; i++) {
        all[i].parent = all[i].parent_id ? find_id(all, m, all[i].parent_id) : -1;
        if (all[i].parent == (long)i)
            all[i].parent = -1; /* its own parent: treated as a root */
        order[i] = i;
    }
    qsort_r(order, m, sizeof *order, cmp_start_idx, all);

    /* Root: the earliest span without a parent_id; else the earliest whose parent is absent. */
    long root = -1;
    for (size_t k = 0; k < m && root < 0; k++)
        if (all[order[k]].parent_id == NULL)
            root = (long)order[k];
    for (size_t k = 0; k < m && root < 0; k++)
        if (all[order[k]].parent < 0)
            root = (long)order[k];
    if (root < 0)
        root = (long)order[0]; /* every span in a cycle: start from the earliest */

    /* Children lists (CSR), each in start order. */
    for (size_t k = 0; k < m; k++)
        if (all[order[k]].parent >= 0)
            csr_start[all[order[k]].parent + 1]++;
    for (size_t i = 0; i < m; i++)
        csr_start[i + 1] += csr_start[i];
    {
        size_t *fill = stack; /* reused as a cursor array before the walk */
        for (size_t i = 0; i < m; i++)
            fill[i] = csr_start[i];
        for (size_t k = 0; k < m; k++) {
            long p = all[order[k]].parent;
            if (p >= 0)
                csr[fill[p]++] = order[k];
        }
    }

    /* Top level. */
    const span *r = &all[root];
    const json_t *ri = r->item;
    uint64_t t0 = 0, t1 = 0;
    bool has0 = r->has_start, has1 = r->has_end;
    t0 = r->start_ns;
    t1 = r->end_ns;
    const json_t *start_v = has0 ? json_object_get(ri, "start_timestamp") : NULL;
    const json_t *end_v = has1 ? json_object_get(ri, "end_timestamp") : NULL;
    for (size_t i = 0; i < m; i++) {
        if (!r->has_start && all[i].has_start && (!has0 || all[i].start_ns < t0)) {
            has0 = true;
            t0 = all[i].start_ns;
            start_v = json_object_get(all[i].item, "start_timestamp");
        }
        if (!r->has_end && all[i].has_end && (!has1 || all[i].end_ns > t1)) {
            has1 = true;
            t1 = all[i].end_ns;
            end_v = json_object_get(all[i].item, "end_timestamp");
        }
    }
    size_t mark = b->len;
    write_fields(b, ri, doc_head, N_OF(doc_head));
    weft__buf_lit(b, ",\"metadata\":{");
    {
        bool first = true;
        const json_t *summary = json_object_get(json_object_get(ri, "metadata"), "trace_summary");
        if (summary) {
            weft__buf_lit(b, "\"trace_summary\":");
            weft__json_value_write(b, summary);
            first = false;
        }
        static const char *const carried[] = {"obs_trace_id", "group_id", "application_variant_id",
                                              "application_interaction_id"};
        for (size_t k = 0; k < sizeof carried / sizeof *carried; k++) {
            const json_t *v = json_object_get(ri, carried[k]);
            if (v == NULL || json_is_null(v))
                continue;
            if (!first)
                weft__buf_putc(b, ',');
            first = false;
            weft__buf_putc(b, '"');
            weft__buf_append(b, carried[k], strlen(carried[k]));
            weft__buf_lit(b, "\":");
            weft__json_value_write(b, v);
        }
    }
    weft__buf_lit(b, "},\"start_time\":");
    weft__json_value_write(b, start_v);
    weft__buf_lit(b, ",\"end_time\":");
    weft__json_value_write(b, end_v);
    weft__buf_lit(b, ",\"duration_ms\":");
    write_duration(b, has0, t0, has1, t1);
    weft__buf_lit(b, ",\"spans\":[");

    /* Spans: the root's tree, then every span left, each with its own tree. */
    size_t written = 0, detached = 0;
    for (size_t k = 0; k <= m; k++) {
        size_t top = k == 0 ? (size_t)root : order[k - 1];
        if (visited[top])
            continue;
        if (k > 0 && all[top].parent >= 0 && !visited[all[top].parent]) {
            /* Under a span not written yet: it will come with its parent's tree, unless the
             * parent chain is a cycle, which the last pass below breaks. */
            continue;
        }
        size_t w = write_tree(b, all, top, stack, visited, csr, csr_start, written);
        written += w;
        if (k > 0)
            detached += w;
    }
    /* Cycles not reached from any root: each written from its earliest span. */
    for (size_t k = 0; k < m; k++) {
        size_t top = order[k];
        if (visited[top])
            continue;
        size_t w = write_tree(b, all, top, stack, visited, csr, csr_start, written);
        written += w;
        detached += w;
    }
    weft__buf_lit(b, "]}");
    if (b->oom) {
        b->len = mark;
        rc = fail(info, WEFT_ENOMEM, "out of memory");
        goto out;
    }
    if (info) {
        info->spans = written;
        info->detached = detached;
    }
out:
    free(all);
    free(order);
    free(csr_start);
    free(csr);
    free(stack);
    free(visited);
    return rc;
}

int weft__stratix_doc_text(const json_t *array, char **out, weft__stratix_doc_info *info)
{
    *out = NULL;
    if (!json_is_array(array)) {
        if (info)
            memset(info, 0, sizeof *info);
        return fail(info, WEFT_EINVAL, "span items must come as an array");
    }
    size_t n = json_array_size(array);
    const json_t **items = calloc(n ? n : 1, sizeof *items);
    if (items == NULL)
        return fail(info, WEFT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get(array, i);
    weft__buf b;
    weft__buf_init(&b);
    int rc = weft__stratix_doc_write(&b, items, n, info);
    free(items);
    if (rc == 0) {
        weft__buf_putc(&b, '\0');
        if (b.oom) {
            weft__buf_fini(&b);
            return fail(info, WEFT_ENOMEM, "out of memory");
        }
        *out = b.data;
        return 0;
    }
    weft__buf_fini(&b);
    return rc;
}
