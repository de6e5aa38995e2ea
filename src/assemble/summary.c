/*
 * summary.c — per-trace summaries (see summary.h): one open-addressing hash table keyed by the
 * 64-bit trace, holding running counts for every trace with an ended non-root span whose root
 * has not ended.
 *
 * Invariants: an entry whose root is known points at the root's record, which the assembler
 * keeps alive until weft__summary_root_end or weft__summary_forget removes the entry. An entry
 * whose root is not known is *pending* (`orphans` counts them): its spans were drained before
 * the root's begin, or ended after the root was finalised. Pending entries are bounded
 * (MAX_ORPHANS) and those idle for ORPHAN_TTL_NS are swept when the bound is reached. Roots are
 * not entered at their begin, so a single-span trace never touches the table; a root's begin
 * looks the table up only while pending entries exist.
 * Linear probing with backward-shift deletion, so there are no tombstones; load <= 1/2.
 * Export thread only.
 */
#include "summary.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* 4096 orphans of ~80 bytes: at most ~320 KiB held for traces whose root is not in sight. */
#define MAX_ORPHANS 4096u
/* 10 s: a root's begin is drained within a round or two (milliseconds) of its children's ends;
 * an orphan idle this long will not be adopted. */
#define ORPHAN_TTL_NS (10ull * 1000000000ull)
#define MIN_CAP 64u

typedef struct entry {
    uint64_t trace;         /* 0: empty slot */
    const weft__rec *root;  /* NULL: an orphan (root not begun yet, as far as we know) */
    uint64_t last_ns;       /* orphan: latest end_ns counted, for the sweep */
    weft__summary_counts n;
    double cost;
    bool has_cost, error;
} entry;

struct weft__summaries {
    entry *tab;
    size_t cap; /* power of two */
    size_t count, orphans;
};

static size_t slot_of(const weft__summaries *s, uint64_t trace)
{
    /* Fibonacci hashing: trace ids are random, but a test may well use 1, 2, 3. */
    return (size_t)((trace * 0x9e3779b97f4a7c15ull) >> 20) & (s->cap - 1);
}

weft__summaries *weft__summaries_new(void)
{
    weft__summaries *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->tab = calloc(MIN_CAP, sizeof *s->tab);
    if (!s->tab) {
        free(s);
        return NULL;
    }
    s->cap = MIN_CAP;
    return s;
}

void weft__summaries_free(weft__summaries *s)
{
    if (!s)
        return;
    free(s->tab);
    free(s);
}

static entry *find(const weft__summaries *s, uint64_t trace)
{
    if (trace == 0 || s->count == 0)
        return NULL;
    for (size_t i = slot_of(s, trace);; i = (i + 1) & (s->cap - 1)) {
        if (s->tab[i].trace == trace)
            return &s->tab[i];
        if (s->tab[i].trace == 0)
            return NULL;
    }
}

static entry *place(weft__summaries *s, const entry *e)
{
    size_t i = slot_of(s, e->trace);
    while (s->tab[i].trace)
        i = (i + 1) & (s->cap - 1);
    s->tab[i] = *e;
    return &s->tab[i];
}

/* Rebuilds the table at cap, leaving out orphans idle since before `expire_before` (0: keep
 * all). False when the allocation fails (the old table stays). */
static bool rebuild(weft__summaries *s, size_t cap, uint64_t expire_before)
{
    entry *old = s->tab;
    size_t old_cap = s->cap;
    entry *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return false;
    s->tab = tab;
    s->cap = cap;
    s->count = s->orphans = 0;
    for (size_t i = 0; i < old_cap; i++) {
        const entry *e = &old[i];
        if (!e->trace || (!e->root && e->last_ns < expire_before))
            continue;
        place(s, e);
        s->count++;
        s->orphans += e->root == NULL;
    }
    free(old);
    return true;
}

/* A zeroed entry for trace, or NULL when the table cannot grow. */
static entry *insert(weft__summaries *s, uint64_t trace)
{
    if ((s->count + 1) * 2 > s->cap && !rebuild(s, s->cap * 2, 0))
        return NULL;
    entry e;
    memset(&e, 0, sizeof e);
    e.trace = trace;
    s->count++;
    return place(s, &e);
}

/* Backward-shift deletion: later members of the probe run move up into the hole. */
static void erase(weft__summaries *s, entry *e)
{
    size_t hole = (size_t)(e - s->tab);
    s->count--;
    s->orphans -= e->root == NULL;
    for (size_t i = (hole + 1) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (s->tab[i].trace == 0)
            break;
        size_t home = slot_of(s, s->tab[i].trace);
        /* Move i into the hole unless its home lies cyclically in (hole, i]. */
        bool stays = (hole <= i) ? (hole < home && home <= i) : (hole < home || home <= i);
        if (!stays) {
            s->tab[hole] = s->tab[i];
            hole = i;
        }
    }
    memset(&s->tab[hole], 0, sizeof s->tab[hole]);
}

static void count_span(entry *e, const weft__rec *r)
{
    e->n.spans++;
    switch (r->type) {
    case WEFT_TYPE_COMPLETION:
        e->n.llm++;
        break;
    case WEFT_TYPE_KB_RETRIEVAL:
    case WEFT_TYPE_DOCUMENT_SEARCH:
    case WEFT_TYPE_FILE_RETRIEVAL:
        e->n.retrieval++;
        break;
    case WEFT_TYPE_CODE_EXECUTION:
    case WEFT_TYPE_EXTERNAL_ENDPOINT:
        e->n.tool++;
        break;
    default:
        break;
    }
    if (r->status == WEFT_STATUS_ERROR)
        e->error = true;
    if (r->has_usage) {
        /* Saturating sums: counts come from callers. */
        if (__builtin_add_overflow(e->n.input_tokens, r->input_tokens, &e->n.input_tokens))
            e->n.input_tokens = INT64_MAX;
        if (__builtin_add_overflow(e->n.output_tokens, r->output_tokens, &e->n.output_tokens))
            e->n.output_tokens = INT64_MAX;
    }
    if (r->has_cost) {
        e->cost += r->cost_usd;
        e->has_cost = true;
    }
}

/* A pending entry gets its root: its spans are the root's from now on. */
static void adopt(weft__summaries *s, entry *e, const weft__rec *root)
{
    e->root = root;
    s->orphans--;
}

void weft__summary_root_begin(weft__summaries *s, const weft__rec *root)
{
    if (s->orphans == 0)
        return; /* nothing pending to adopt: the common case costs no lookup */
    entry *e = find(s, root->trace);
    if (e && !e->root)
        adopt(s, e, root); /* its spans ended before the root's begin was read */
}

void weft__summary_span_end(weft__summaries *s, const weft__rec *r, weft__summary_root_fn root_of, void *ctx)
{
    entry *e = find(s, r->trace);
    if (!e) {
        const weft__rec *root = root_of ? root_of(ctx, r) : NULL;
        if (!root && s->orphans >= MAX_ORPHANS) {
            uint64_t now = r->end_ns;
            if (now > ORPHAN_TTL_NS)
                (void)rebuild(s, s->cap, now - ORPHAN_TTL_NS);
            if (s->orphans >= MAX_ORPHANS)
                return; /* bounded: this trace's summary will miss the span */
        }
        e = insert(s, r->trace);
        if (!e)
            return;
        e->root = root;
        s->orphans += root == NULL;
    }
    if (e->root && e->root->end_ns && r->end_ns > e->root->end_ns)
        return; /* ended after its root: not part of the root's summary */
    if (!e->root && r->end_ns > e->last_ns)
        e->last_ns = r->end_ns;
    count_span(e, r);
}

void weft__summary_root_end(weft__summaries *s, weft__rec *root, weft__buf *scratch)
{
    entry none, *e = find(s, root->trace);
    if (e && e->root != root) {
        if (e->root)
            e = NULL; /* another root of the same trace id (a 64-bit collision): leave it be */
        else
            adopt(s, e, root); /* spans whose root could not be named when they ended */
    }
    if (!e) {
        /* No span of the trace ended before it (or the table could not grow): the root alone. */
        memset(&none, 0, sizeof none);
        e = &none;
    }
    count_span(e, root);

    weft__summary_val v;
    v.n = e->n;
    v.duration_ns = root->end_ns > root->start_ns ? root->end_ns - root->start_ns : 0;
    v.cost = e->cost;
    v.has_cost = e->has_cost;
    v.error = e->error;
    weft__rec_set_summary(root, &v, scratch);
    if (e != &none)
        erase(s, e);
}

void weft__summary_forget(weft__summaries *s, uint64_t trace)
{
    entry *e = find(s, trace);
    if (e)
        erase(s, e);
}

void weft__summary_prefetch(const weft__summaries *s, uint64_t trace)
{
    __builtin_prefetch(&s->tab[slot_of(s, trace)]);
}
