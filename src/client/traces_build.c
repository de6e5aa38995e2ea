/*
 * traces_build.c — the trace models from the span items of one trace (traces_internal.h):
 * spans, summary, messages, retrievals, diagnostics and the execution tree of a
 * TraceFullResult; the TraceRecord of a full result; the free functions. Every field's source
 * is in README.md, "Trace queries, evaluations and jobs"; the summary rules are those of
 * src/summary.c, so a computed summary equals the one weft writes at the root's end.
 *
 * Pure functions over jansson values: no I/O, no shared state, any thread. Out of memory at
 * any step frees what was built and answers WEFT_ENOMEM.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "traces_internal.h"

#define PREVIEW_CHARS 200 /* TraceRecord.input_preview / output_preview */

/* ---- helpers ----------------------------------------------------------------------------- */

char *weft__dupz(const char *s) { return s ? strdup(s) : NULL; }

char *weft__json_text(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

const char *weft__jstr(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

typedef struct bctx {
    bool oom;
} bctx;

static char *S(bctx *c, const char *s)
{
    char *d = weft__dupz(s);
    if (s && !d)
        c->oom = true;
    return d;
}

static char *T(bctx *c, const json_t *v, const char *fallback)
{
    char *d = v ? weft__json_text(v) : weft__dupz(fallback);
    if (!d && (v || fallback))
        c->oom = true;
    return d;
}

static void *A(bctx *c, size_t n, size_t size)
{
    if (n == 0)
        return NULL;
    void *p = calloc(n, size);
    if (!p)
        c->oom = true;
    return p;
}

static int64_t jint(const json_t *o, const char *k, int64_t dflt)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    if (json_is_real(v))
        return (int64_t)json_real_value(v);
    return dflt;
}

static bool jnum(const json_t *o, const char *k, double *out)
{
    const json_t *v = json_object_get(o, k);
    if (!json_is_number(v))
        return false;
    *out = json_number_value(v);
    return true;
}

bool weft__iso_to_us(const char *s, int64_t *us)
{
    if (!s)
        return false;
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    int y, mo, d, h, mi, sec, n = 0;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n < 19)
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    const char *p = s + n;
    int64_t frac = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (digits < 6) {
                frac = frac * 10 + (*p - '0');
                digits++;
            }
        }
        for (; digits < 6; digits++)
            frac *= 10;
    }
    int64_t off = 0;
    if (*p == '+' || *p == '-') {
        int oh = 0, om = 0;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) < 1)
            return false;
        off = (int64_t)(oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
    } else if (*p != 'Z' && *p != 'z' && *p != '\0') {
        return false;
    }
    time_t t = timegm(&tm);
    *us = ((int64_t)t - off) * 1000000 + frac;
    return true;
}

void weft__items_dedupe(json_t *arr)
{
    json_t *seen = json_object(); /* id -> index kept */
    size_t i = 0;
    while (i < json_array_size(arr)) {
        json_t *it = json_array_get(arr, i);
        const char *id = weft__jstr(it, "id");
        json_t *at = id ? json_object_get(seen, id) : NULL;
        if (!at) {
            if (id)
                json_object_set_new(seen, id, json_integer((json_int_t)i));
            i++;
            continue;
        }
        size_t j = (size_t)json_integer_value(at);
        json_t *kept = json_array_get(arr, j);
        bool kept_done = json_is_string(json_object_get(kept, "end_timestamp"));
        bool new_done = json_is_string(json_object_get(it, "end_timestamp"));
        if (new_done || !kept_done)
            json_array_set(arr, j, it); /* completed over in progress; else the later read */
        json_array_remove(arr, i);
    }
    json_decref(seen);
}

/* ---- spans ------------------------------------------------------------------------------- */

typedef struct sp {
    const json_t *item;
    const char *id, *parent;
    int64_t start_us, end_us;
    bool has_start, has_end;
    size_t parent_ix; /* SIZE_MAX: none in the trace */
} sp;

static int cmp_sp(const void *a, const void *b)
{
    const sp *x = a, *y = b;
    if (x->has_start != y->has_start)
        return x->has_start ? -1 : 1;
    if (x->start_us != y->start_us)
        return x->start_us < y->start_us ? -1 : 1;
    return strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

static json_t *section(const json_t *item, const char *k)
{
    json_t *v = json_object_get(item, k);
    return json_is_object(v) ? v : NULL;
}

static void fill_span(bctx *c, weft_trace_span *o, const sp *s)
{
    const json_t *it = s->item;
    o->span_id = S(c, s->id);
    o->name = S(c, weft__jstr(it, "name"));
    o->kind = S(c, weft__jstr(it, "type"));
    o->parent_span_id = S(c, s->parent);
    o->start_time = S(c, weft__jstr(it, "start_timestamp"));
    o->end_time = S(c, s->has_end ? weft__jstr(it, "end_timestamp") : NULL);
    if (s->has_start && s->has_end) {
        o->has_duration = true;
        o->duration_ms = (double)(s->end_us - s->start_us) / 1000.0;
    }
    const char *st = weft__jstr(it, "status");
    o->status = S(c, st ? st : "SUCCESS");
    /* attributes: the three sections first, then every other member that is not one of the
     * TraceSpan fields themselves. */
    json_t *attr = json_object();
    static const char *const secs[] = {"input", "output", "metadata"};
    for (int i = 0; i < 3; i++) {
        json_t *v = section(it, secs[i]);
        json_object_set_new(attr, secs[i], v ? json_incref(v) : json_object());
    }
    static const char *const own[] = {"id", "trace_id", "parent_id", "name", "type", "status",
                                      "start_timestamp", "end_timestamp", "input", "output", "metadata"};
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)it, k, v) {
        bool skip = false;
        for (size_t i = 0; i < sizeof own / sizeof own[0] && !skip; i++)
            skip = strcmp(k, own[i]) == 0;
        if (!skip)
            json_object_set(attr, k, v);
    }
    o->attributes = T(c, attr, NULL);
    json_decref(attr);
    json_t *ev = json_object_get(section(it, "metadata"), "events");
    o->events = T(c, json_is_array(ev) ? ev : NULL, "[]");
}

/* ---- summary ----------------------------------------------------------------------------- */

static bool is_retrieval_type(const char *t)
{
    return t && (!strcmp(t, "KB_RETRIEVAL") || !strcmp(t, "DOCUMENT_SEARCH") || !strcmp(t, "FILE_RETRIEVAL"));
}

static bool is_tool_type(const char *t)
{
    return t && (!strcmp(t, "CODE_EXECUTION") || !strcmp(t, "EXTERNAL_ENDPOINT"));
}

static void add_sat(int64_t *acc, int64_t v)
{
    if (__builtin_add_overflow(*acc, v, acc))
        *acc = INT64_MAX;
}

static void fill_summary(bctx *c, weft_trace_summary *o, const char *trace_id, const sp *v, size_t n,
                         const sp *root)
{
    o->trace_id = S(c, trace_id);
    const json_t *rmeta = root ? section(root->item, "metadata") : NULL;
    o->project_id = S(c, weft__jstr(rmeta, "project_id"));
    const json_t *ts = json_object_get(rmeta, "trace_summary");
    if (root && root->has_end && json_is_object(ts)) {
        /* What weft wrote when the root ended: taken as it stands. */
        jnum(ts, "duration_ms", &o->duration_ms);
        o->span_count = jint(ts, "span_count", 0);
        o->llm_calls = jint(ts, "llm_calls", 0);
        o->retrieval_calls = jint(ts, "retrieval_calls", 0);
        o->tool_calls = jint(ts, "tool_calls", 0);
        o->input_tokens = jint(ts, "input_tokens", 0);
        o->output_tokens = jint(ts, "output_tokens", 0);
        o->total_tokens = jint(ts, "total_tokens", 0);
        o->has_total_cost = jnum(ts, "total_cost", &o->total_cost);
        const char *st = weft__jstr(ts, "status");
        o->status = S(c, st ? st : "SUCCESS");
    } else {
        /* src/summary.c's rules over every span found. */
        bool error = false;
        int64_t last = root ? root->start_us : 0;
        for (size_t i = 0; i < n; i++) {
            const json_t *it = v[i].item;
            const char *type = weft__jstr(it, "type");
            o->span_count++;
            o->llm_calls += type && !strcmp(type, "COMPLETION");
            o->retrieval_calls += is_retrieval_type(type);
            o->tool_calls += is_tool_type(type);
            const char *st = weft__jstr(it, "status");
            error |= st && !strcmp(st, "ERROR");
            const json_t *m = section(it, "metadata");
            int64_t in = jint(m, "input_tokens", 0), out = jint(m, "output_tokens", 0);
            add_sat(&o->input_tokens, in > 0 ? in : 0);
            add_sat(&o->output_tokens, out > 0 ? out : 0);
            double cost;
            if (jnum(m, "cost_usd", &cost)) {
                o->total_cost += cost;
                o->has_total_cost = true;
            }
            int64_t t = v[i].has_end ? v[i].end_us : v[i].start_us;
            if (t > last)
                last = t;
        }
        o->total_tokens = o->input_tokens;
        add_sat(&o->total_tokens, o->output_tokens);
        if (root && root->has_end)
            o->duration_ms = (double)(root->end_us - root->start_us) / 1000.0;
        else if (root)
            o->duration_ms = (double)(last - root->start_us) / 1000.0;
        bool done = root && root->has_end;
        o->status = S(c, !done ? "IN_PROGRESS" : error ? "ERROR" : "SUCCESS");
    }
    const json_t *tags = json_object_get(rmeta, "tags");
    if (json_is_array(tags)) {
        o->tags = A(c, json_array_size(tags), sizeof *o->tags);
        size_t i;
        json_t *t;
        json_array_foreach(tags, i, t) {
            if (json_is_string(t) && o->tags)
                o->tags[o->n_tags++] = S(c, json_string_value(t));
        }
    } else if (json_is_string(tags)) {
        const char *s = json_string_value(tags);
        size_t count = 1;
        for (const char *p = s; *p; p++)
            count += *p == ',';
        o->tags = A(c, count, sizeof *o->tags);
        while (o->tags && *s) {
            const char *e = strchr(s, ',');
            size_t len = e ? (size_t)(e - s) : strlen(s);
            while (len && (*s == ' ' || *s == '\t')) {
                s++;
                len--;
            }
            while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
                len--;
            if (len) {
                char *t = strndup(s, len);
                if (!t)
                    c->oom = true;
                o->tags[o->n_tags++] = t;
            }
            if (!e)
                break;
            s = e + 1;
        }
    }
    const json_t *cf = json_object_get(rmeta, "custom_fields");
    o->custom_fields = T(c, json_is_object(cf) ? cf : NULL, "{}");
}

/* ---- messages ---------------------------------------------------------------------------- */

static bool same_message(const json_t *a, const json_t *b)
{
    static const char *const keys[] = {"role", "content", "name", "tool_call_id", "tool_calls"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const json_t *x = json_object_get(a, keys[i]), *y = json_object_get(b, keys[i]);
        if (!x != !y || (x && !json_equal((json_t *)x, (json_t *)y)))
            return false;
    }
    return true;
}

static void gather_messages(json_t *out, const sp *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (int sec = 0; sec < 2; sec++) {
            const json_t *msgs = json_object_get(section(v[i].item, sec ? "output" : "input"), "messages");
            size_t j;
            json_t *m;
            json_array_foreach(msgs, j, m) {
                if (!json_is_object(m))
                    continue;
                bool dup = false;
                if (sec == 0) {
                    /* A later call's input repeats the conversation so far: kept once. */
                    size_t k;
                    json_t *prev;
                    json_array_foreach(out, k, prev) {
                        if (same_message(json_object_get(prev, "m"), m)) {
                            dup = true;
                            break;
                        }
                    }
                }
                if (dup)
                    continue;
                const char *ts = weft__jstr(m, "timestamp");
                if (!ts)
                    ts = weft__jstr(v[i].item, sec ? "end_timestamp" : "start_timestamp");
                if (!ts)
                    ts = weft__jstr(v[i].item, "start_timestamp");
                json_array_append_new(out, json_pack("{sOss?}", "m", m, "ts", ts));
            }
        }
    }
}

static void fill_message(bctx *c, weft_trace_message *o, const json_t *e)
{
    const json_t *m = json_object_get(e, "m");
    o->role = S(c, weft__jstr(m, "role"));
    const json_t *content = json_object_get(m, "content");
    if (json_is_string(content))
        o->content = S(c, json_string_value(content));
    else if (content && !json_is_null(content))
        o->content = T(c, content, NULL); /* structured content parts, as JSON text */
    o->timestamp = S(c, weft__jstr(e, "ts"));
    const json_t *calls = json_object_get(m, "tool_calls");
    o->tool_calls = T(c, json_is_array(calls) ? calls : NULL, "[]");
    o->tool_call_id = S(c, weft__jstr(m, "tool_call_id"));
    o->name = S(c, weft__jstr(m, "name"));
}

/* ---- retrievals -------------------------------------------------------------------------- */

static bool is_retrieval(const sp *s)
{
    return json_is_array(json_object_get(section(s->item, "output"), "hits")) ||
           is_retrieval_type(weft__jstr(s->item, "type"));
}

static void fill_retrieval(bctx *c, weft_trace_retrieval *o, const sp *s)
{
    const json_t *in = section(s->item, "input"), *out = section(s->item, "output"),
                 *meta = section(s->item, "metadata");
    o->span_id = S(c, s->id);
    o->name = S(c, weft__jstr(s->item, "name"));
    o->query = S(c, weft__jstr(in, "query"));
    o->retriever = S(c, weft__jstr(meta, "retriever"));
    o->embedding_model = S(c, weft__jstr(meta, "embedding_model"));
    o->top_k = (int32_t)jint(in, "top_k", 0);
    o->has_similarity_threshold = jnum(in, "similarity_threshold", &o->similarity_threshold);
    if (!jnum(meta, "latency_ms", &o->latency_ms) && s->has_end && s->has_start)
        o->latency_ms = (double)(s->end_us - s->start_us) / 1000.0;
    o->hits_dropped = jint(out, "hits_dropped", 0);
    const json_t *hits = json_object_get(out, "hits");
    o->hits = A(c, json_array_size(hits), sizeof *o->hits);
    size_t i;
    json_t *h;
    json_array_foreach(hits, i, h) {
        if (!o->hits || !json_is_object(h))
            continue;
        weft_trace_hit *x = &o->hits[o->n_hits++];
        x->doc_id = S(c, weft__jstr(h, "doc_id"));
        x->rank = (int32_t)jint(h, "rank", 0);
        jnum(h, "score", &x->score);
        const json_t *span = json_object_get(h, "span");
        if (json_is_array(span) && json_array_size(span) == 2) {
            x->has_span = true;
            x->span_start = (int64_t)json_number_value(json_array_get(span, 0));
            x->span_end = (int64_t)json_number_value(json_array_get(span, 1));
        }
        x->snippet_preview = S(c, weft__jstr(h, "snippet_preview"));
        const json_t *md = json_object_get(h, "metadata");
        x->metadata = json_is_object(md) ? T(c, md, NULL) : NULL;
    }
}

/* ---- diagnostics ------------------------------------------------------------------------- */

typedef struct plist {
    weft_trace_problem *v;
    size_t n, cap;
} plist;

static void add_problem(bctx *c, plist *l, const sp *s, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#include <stdarg.h>
#include <stdio.h>

static void add_problem(bctx *c, plist *l, const sp *s, const char *fmt, ...)
{
    if (l->n == l->cap) {
        weft_trace_problem *v = weft__grow(l->v, &l->cap, sizeof *v, 4);
        if (!v) {
            c->oom = true;
            return;
        }
        l->v = v;
    }
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    weft_trace_problem *p = &l->v[l->n++];
    p->span_id = S(c, s ? s->id : NULL);
    p->name = S(c, s ? weft__jstr(s->item, "name") : NULL);
    p->message = S(c, buf);
}

#define TRUNC_MARK "\xe2\x80\xa6[truncated " /* "…[truncated N bytes]", json.h */

/* Every string value under v that carries weft's truncation marker, with its path. */
static void find_truncations(bctx *c, plist *l, const sp *s, const json_t *v, char *path, size_t plen)
{
    if (json_is_string(v)) {
        const char *t = json_string_value(v);
        const char *m = strstr(t, TRUNC_MARK);
        if (m) {
            unsigned long long bytes = strtoull(m + sizeof TRUNC_MARK - 1, NULL, 10);
            add_problem(c, l, s, "%s was cut at max_attr_bytes (%llu bytes left out)", path, bytes);
        }
        return;
    }
    size_t room = 256 - plen;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) {
            snprintf(path + plen, room, "%s%s", plen ? "." : "", k);
            find_truncations(c, l, s, x, path, strlen(path));
            path[plen] = '\0';
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
            snprintf(path + plen, room, "[%zu]", i);
            find_truncations(c, l, s, x, path, strlen(path));
            path[plen] = '\0';
        }
    }
}

static void fill_diagnostics(bctx *c, weft_trace_diagnostics *d, const sp *v, size_t n, const sp *root,
                             const weft_trace_summary *sum)
{
    plist err = {0}, prog = {0}, trunc = {0}, drop = {0};
    for (size_t i = 0; i < n; i++) {
        const sp *s = &v[i];
        const char *st = weft__jstr(s->item, "status");
        if (st && !strcmp(st, "ERROR")) {
            const json_t *e = json_object_get(section(s->item, "metadata"), "error");
            const char *type = weft__jstr(e, "type"), *msg = weft__jstr(e, "message");
            if (type || msg)
                add_problem(c, &err, s, "%s%s%s", type ? type : "", type && msg ? ": " : "", msg ? msg : "");
            else
                add_problem(c, &err, s, "status ERROR");
        }
        if (!s->has_end)
            add_problem(c, &prog, s, "in progress: no end_timestamp (started %s)",
                        weft__jstr(s->item, "start_timestamp") ? weft__jstr(s->item, "start_timestamp") : "?");
        static const char *const secs[] = {"input", "output", "metadata"};
        char path[256];
        for (int k = 0; k < 3; k++) {
            const json_t *sec = section(s->item, secs[k]);
            if (!sec)
                continue;
            snprintf(path, sizeof path, "%s", secs[k]);
            find_truncations(c, &trunc, s, sec, path, strlen(path));
        }
        static const struct {
            const char *sec, *key, *what;
        } dropped_keys[] = {{"output", "hits_dropped", "hits"},
                            {"output", "citations_dropped", "citations"},
                            {"metadata", "reasoning_dropped", "reasoning steps"}};
        for (size_t k = 0; k < sizeof dropped_keys / sizeof dropped_keys[0]; k++) {
            int64_t nd = jint(section(s->item, dropped_keys[k].sec), dropped_keys[k].key, 0);
            if (nd > 0)
                add_problem(c, &trunc, s, "%s.%s: %lld %s left out (over the event size limit)",
                            dropped_keys[k].sec, dropped_keys[k].key, (long long)nd, dropped_keys[k].what);
        }
        if (s->parent && s->parent_ix == SIZE_MAX)
            add_problem(c, &drop, s, "parent %s is not in the trace (not exported, dropped, or remote)",
                        s->parent);
    }
    if (sum->span_count > (int64_t)n)
        add_problem(c, &drop, NULL, "trace_summary counts %lld spans; %zu found", (long long)sum->span_count, n);
    if (!root)
        add_problem(c, &drop, NULL, "no root span found");
    d->errors = err.v, d->n_errors = err.n;
    d->in_progress = prog.v, d->n_in_progress = prog.n;
    d->truncations = trunc.v, d->n_truncations = trunc.n;
    d->dropped = drop.v, d->n_dropped = drop.n;
}

/* ---- the execution tree ------------------------------------------------------------------ */

/* Children of span i are list[first[i] .. first[i + 1]), in span (start) order: one counting
 * sort, so building the tree is linear in the spans (a scan per node was quadratic: 10,000
 * spans took most of a second). */
static void fill_node(bctx *c, weft_trace_node *node, size_t ix, const size_t *first, const size_t *list,
                      unsigned depth)
{
    node->span = ix;
    if (depth > 10000)
        return; /* deeper than any real trace: a cycle is impossible (one parent each) */
    size_t k = first[ix + 1] - first[ix];
    node->children = A(c, k, sizeof *node->children);
    if (!node->children)
        return;
    for (size_t j = first[ix]; j < first[ix + 1]; j++)
        fill_node(c, &node->children[node->n_children++], list[j], first, list, depth + 1);
}

/* ---- the full result ---------------------------------------------------------------------- */

int weft__trace_build(const char *trace_id, const json_t *items, weft_trace_full_result **out)
{
    *out = NULL;
    json_t *arr = json_array();
    if (!arr)
        return WEFT_ENOMEM;
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        if (json_is_object(it) && weft__jstr(it, "id"))
            json_array_append(arr, it);
    }
    weft__items_dedupe(arr);
    size_t n = json_array_size(arr);
    if (n == 0) {
        json_decref(arr);
        return WEFT_ENOTFOUND;
    }
    bctx c = {false};
    sp *v = calloc(n, sizeof *v);
    weft_trace_full_result *t = calloc(1, sizeof *t);
    if (!v || !t) {
        free(v);
        free(t);
        json_decref(arr);
        return WEFT_ENOMEM;
    }
    json_array_foreach(arr, i, it) {
        v[i].item = it;
        v[i].id = weft__jstr(it, "id");
        v[i].parent = weft__jstr(it, "parent_id");
        v[i].has_start = weft__iso_to_us(weft__jstr(it, "start_timestamp"), &v[i].start_us);
        v[i].has_end = weft__iso_to_us(weft__jstr(it, "end_timestamp"), &v[i].end_us);
    }
    qsort(v, n, sizeof *v, cmp_sp);
    json_t *index = json_object();
    for (i = 0; i < n; i++)
        json_object_set_new(index, v[i].id, json_integer((json_int_t)i));
    for (i = 0; i < n; i++) {
        json_t *p = v[i].parent ? json_object_get(index, v[i].parent) : NULL;
        v[i].parent_ix = p ? (size_t)json_integer_value(p) : SIZE_MAX;
    }
    json_decref(index);
    /* The root: the first span without a parent_id; else the first whose parent is missing. */
    const sp *root = NULL;
    for (i = 0; i < n && !root; i++)
        if (!v[i].parent)
            root = &v[i];
    for (i = 0; i < n && !root; i++)
        if (v[i].parent_ix == SIZE_MAX)
            root = &v[i];

    t->trace_id = S(&c, trace_id);
    const json_t *rmeta = root ? section(root->item, "metadata") : NULL;
    t->metadata = T(&c, rmeta, "{}");
    t->spans = A(&c, n, sizeof *t->spans);
    if (t->spans) {
        t->n_spans = n;
        for (i = 0; i < n; i++)
            fill_span(&c, &t->spans[i], &v[i]);
    }
    json_t *msgs = json_array();
    gather_messages(msgs, v, n);
    t->messages = A(&c, json_array_size(msgs), sizeof *t->messages);
    if (t->messages) {
        json_array_foreach(msgs, i, it)
            fill_message(&c, &t->messages[t->n_messages++], it);
    }
    json_decref(msgs);
    fill_summary(&c, &t->summary, trace_id, v, n, root);
    t->summary.message_count = (int64_t)t->n_messages;
    size_t nr = 0;
    for (i = 0; i < n; i++)
        nr += is_retrieval(&v[i]);
    t->retrievals = A(&c, nr, sizeof *t->retrievals);
    if (t->retrievals)
        for (i = 0; i < n; i++)
            if (is_retrieval(&v[i]))
                fill_retrieval(&c, &t->retrievals[t->n_retrievals++], &v[i]);
    fill_diagnostics(&c, &t->diagnostics, v, n, root, &t->summary);
    /* Top nodes: the root, then every other span with no parent in the trace. */
    size_t tops = 0;
    for (i = 0; i < n; i++)
        tops += v[i].parent_ix == SIZE_MAX || &v[i] == root;
    t->execution_tree = A(&c, tops, sizeof *t->execution_tree);
    size_t *first = calloc(n + 2, sizeof *first), *list = calloc(n + 1, sizeof *list);
    if (!first || !list)
        c.oom = true;
    if (t->execution_tree && first && list) {
        for (i = 0; i < n; i++)
            if (v[i].parent_ix != SIZE_MAX && v[i].parent_ix != i)
                first[v[i].parent_ix + 1]++;
        for (i = 0; i < n; i++)
            first[i + 1] += first[i];
        first[n + 1] = first[n];
        size_t *fill = calloc(n + 1, sizeof *fill);
        if (!fill)
            c.oom = true;
        else {
            memcpy(fill, first, n * sizeof *fill);
            for (i = 0; i < n; i++)
                if (v[i].parent_ix != SIZE_MAX && v[i].parent_ix != i)
                    list[fill[v[i].parent_ix]++] = i;
            free(fill);
            if (root) {
                /* The root may have a (missing) parent: it is a top node either way. */
                fill_node(&c, &t->execution_tree[t->n_execution_tree++], (size_t)(root - v), first, list, 0);
            }
            for (i = 0; i < n; i++)
                if (v[i].parent_ix == SIZE_MAX && &v[i] != root)
                    fill_node(&c, &t->execution_tree[t->n_execution_tree++], i, first, list, 0);
        }
    }
    free(first);
    free(list);
    free(v);
    json_decref(arr);
    if (c.oom) {
        weft_trace_full_result_free(t);
        return WEFT_ENOMEM;
    }
    *out = t;
    return 0;
}

/* ---- the record -------------------------------------------------------------------------- */

/* The first PREVIEW_CHARS characters of a section: its first string member, else its JSON. */
static char *preview(bctx *c, const json_t *sec)
{
    if (!json_is_object(sec) || json_object_size(sec) == 0)
        return NULL;
    const char *k;
    json_t *v;
    char *text = NULL;
    json_object_foreach((json_t *)sec, k, v) {
        if (json_is_string(v)) {
            text = S(c, json_string_value(v));
            break;
        }
    }
    if (!text)
        text = T(c, sec, NULL);
    if (!text)
        return NULL;
    size_t chars = 0, i = 0;
    for (; text[i]; i++) {
        if (((unsigned char)text[i] & 0xc0) != 0x80 && chars++ == PREVIEW_CHARS)
            break;
    }
    text[i] = '\0';
    return text;
}

int weft_trace_record_from_full(const weft_trace_full_result *t, weft_trace_record **out)
{
    if (!out)
        return WEFT_EINVAL;
    *out = NULL;
    if (!t)
        return WEFT_EINVAL;
    weft_trace_record *r = calloc(1, sizeof *r);
    if (!r)
        return WEFT_ENOMEM;
    bctx c = {false};
    const weft_trace_summary *s = &t->summary;
    json_t *meta = t->metadata ? json_loads(t->metadata, 0, NULL) : NULL;
    const weft_trace_span *root =
        t->n_execution_tree ? &t->spans[t->execution_tree[0].span] : NULL;
    json_t *attr = root && root->attributes ? json_loads(root->attributes, 0, NULL) : NULL;
    r->trace_id = S(&c, t->trace_id);
    r->project_id = S(&c, s->project_id);
    r->status = S(&c, s->status);
    r->session_id = S(&c, weft__jstr(meta, "session_id"));
    r->project_name = S(&c, weft__jstr(meta, "project_name"));
    r->app_name = S(&c, weft__jstr(meta, "app_name"));
    r->duration_ms = s->duration_ms;
    r->total_cost = s->total_cost;
    r->has_total_cost = s->has_total_cost;
    r->total_tokens = s->total_tokens;
    r->llm_calls = s->llm_calls;
    r->tool_calls = s->tool_calls;
    r->input_preview = preview(&c, json_object_get(attr, "input"));
    r->output_preview = preview(&c, json_object_get(attr, "output"));
    r->eval_available = weft__trace_eval_available(t);
    r->created_at = S(&c, root ? root->start_time : NULL);
    json_decref(meta);
    json_decref(attr);
    if (c.oom) {
        weft_trace_record_free(r);
        return WEFT_ENOMEM;
    }
    *out = r;
    return 0;
}

weft_trace_overview weft_trace_record_overview(const weft_trace_record *r)
{
    weft_trace_overview o;
    memset(&o, 0, sizeof o);
    if (!r)
        return o;
    o.trace_id = r->trace_id;
    o.status = r->status;
    o.duration_ms = r->duration_ms;
    o.total_cost = r->total_cost;
    o.has_total_cost = r->has_total_cost;
    o.llm_calls = r->llm_calls;
    o.tool_calls = r->tool_calls;
    return o;
}

/* ---- free -------------------------------------------------------------------------------- */

static void record_fini(weft_trace_record *r)
{
    free(r->trace_id);
    free(r->project_id);
    free(r->status);
    free(r->session_id);
    free(r->project_name);
    free(r->app_name);
    free(r->input_preview);
    free(r->output_preview);
    free(r->created_at);
}

void weft_trace_record_free(weft_trace_record *r)
{
    if (!r)
        return;
    record_fini(r);
    free(r);
}

void weft_trace_list_response_free(weft_trace_list_response *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_traces; i++)
        record_fini(&r->traces[i]);
    free(r->traces);
    free(r);
}

static void problems_free(weft_trace_problem *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].span_id);
        free(p[i].name);
        free(p[i].message);
    }
    free(p);
}

static void node_fini(weft_trace_node *node)
{
    for (size_t i = 0; i < node->n_children; i++)
        node_fini(&node->children[i]);
    free(node->children);
}

void weft_trace_full_result_free(weft_trace_full_result *t)
{
    if (!t)
        return;
    free(t->trace_id);
    free(t->metadata);
    weft_trace_summary *s = &t->summary;
    free(s->trace_id);
    free(s->project_id);
    free(s->status);
    for (size_t i = 0; i < s->n_tags; i++)
        free(s->tags[i]);
    free(s->tags);
    free(s->custom_fields);
    for (size_t i = 0; i < t->n_messages; i++) {
        weft_trace_message *m = &t->messages[i];
        free(m->role);
        free(m->content);
        free(m->timestamp);
        free(m->tool_calls);
        free(m->tool_call_id);
        free(m->name);
    }
    free(t->messages);
    for (size_t i = 0; i < t->n_spans; i++) {
        weft_trace_span *x = &t->spans[i];
        free(x->span_id);
        free(x->name);
        free(x->kind);
        free(x->parent_span_id);
        free(x->start_time);
        free(x->end_time);
        free(x->status);
        free(x->attributes);
        free(x->events);
    }
    free(t->spans);
    for (size_t i = 0; i < t->n_retrievals; i++) {
        weft_trace_retrieval *r = &t->retrievals[i];
        free(r->span_id);
        free(r->name);
        free(r->query);
        free(r->retriever);
        free(r->embedding_model);
        for (size_t j = 0; j < r->n_hits; j++) {
            free(r->hits[j].doc_id);
            free(r->hits[j].snippet_preview);
            free(r->hits[j].metadata);
        }
        free(r->hits);
    }
    free(t->retrievals);
    problems_free(t->diagnostics.errors, t->diagnostics.n_errors);
    problems_free(t->diagnostics.in_progress, t->diagnostics.n_in_progress);
    problems_free(t->diagnostics.truncations, t->diagnostics.n_truncations);
    problems_free(t->diagnostics.dropped, t->diagnostics.n_dropped);
    for (size_t i = 0; i < t->n_execution_tree; i++)
        node_fini(&t->execution_tree[i]);
    free(t->execution_tree);
    free(t);
}
