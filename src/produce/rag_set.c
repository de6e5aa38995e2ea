/*
 * rag_set.c — the RAG and LLM setters on the calling thread: weft_span_set_retrieval,
 * _generation, _usage, weft_span_add_message, weft_span_set_trace_info and weft_span_add_event,
 * each serialising the caller's struct into one ring event (layouts in rag_event.h). The export thread's half is assemble/rag_map.c.
 *
 * Invariants (the hot path): one ring event per call, sized by a measuring walk over the
 * caller's struct and filled by the same walk writing, so size and content cannot disagree; no
 * allocation, no lock, no system call; caller misuse (NULL struct, NULL required string, NULL
 * array with a count, unknown role, negative token count) is a counted no-op.
 */
#include "rag_event.h"

#include <stdatomic.h>
#include <string.h>

#include "clock.h"
#include "format_check.h"
#include "json.h"
#include "producer.h"
#include "runtime.h"

/* ======================================================================================
 * Producer: the measuring/writing walk
 * ==================================================================================== */


typedef struct wr {
    char *p;       /* NULL: measuring only */
    size_t n;      /* bytes so far */
    size_t cap;    /* longest string kept (SIZE_MAX: no cut) */
    uint32_t cuts; /* strings cut so far */
    /* Length cache: the uncapped measuring walk stores each string's length here in walk
     * order and the writing walk reads them back, so each string is scanned once, not twice
     * (strlen was a third of a 10-hit retrieval). NULL when capped: lengths differ then. */
    uint32_t *lens;
    size_t li;
    bool fill;
} wr;

static inline void put(wr *w, const void *src, size_t n)
{
    if (w->p)
        memcpy(w->p + w->n, src, n);
    w->n += n;
}
static inline void put_u32(wr *w, uint32_t v) { put(w, &v, sizeof v); }
static inline void put_i32(wr *w, int32_t v) { put(w, &v, sizeof v); }
static inline void put_u64(wr *w, uint64_t v) { put(w, &v, sizeof v); }
static inline void put_i64(wr *w, int64_t v) { put(w, &v, sizeof v); }
static inline void put_f64(wr *w, double v) { put(w, &v, sizeof v); }

static inline uint32_t clamp_u32(size_t v) { return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v; }

/* Bytes of the first WEFT__SNIPPET_CHARS characters of s (at most 4 bytes each). Most
 * snippets are ASCII for their first 200 bytes: one bounded strnlen and a word-at-a-time
 * check settle those; counting characters one by one cost ~0.3 us per hit. */
static size_t preview_len(const char *s)
{
    size_t lim = strnlen(s, WEFT__SNIPPET_CHARS);
    /* OR every word without an early exit: the loop vectorises, and ASCII is the common case. */
    uint64_t any = 0;
    size_t words = lim / 8;
    for (size_t i = 0; i < words; i++) {
        uint64_t v;
        memcpy(&v, s + 8 * i, 8);
        any |= v;
    }
    size_t k = (any & 0x8080808080808080ull) ? 0 : 8 * words;
    while (k < lim && (unsigned char)s[k] < 0x80)
        k++;
    if (k == lim)
        return lim; /* ASCII up to the limit or the end */
    size_t len = k + strnlen(s + k, 4 * WEFT__SNIPPET_CHARS - k);
    return k + weft__utf8_prefix_chars(s + k, len - k, WEFT__SNIPPET_CHARS - k);
}

/* The length of s (or of its preview), through the cache when there is one. */
static size_t str_len(wr *w, const char *s, bool preview)
{
    if (w->lens && w->li < WEFT__RAG_LENS) {
        if (!w->fill)
            return w->lens[w->li++];
        size_t n = preview ? preview_len(s) : strlen(s);
        w->lens[w->li++] = clamp_u32(n); /* a longer string never fits: the walk is capped then */
        return n;
    }
    return preview ? preview_len(s) : strlen(s);
}

/* A string of known length (len <= what s holds). */
static void put_strn(wr *w, const char *s, size_t len)
{
    if (!s) {
        put_u32(w, 0);
        put_u32(w, 0);
        return;
    }
    size_t kept = len <= w->cap ? len : weft__utf8_cut(s, len, w->cap);
    uint32_t flags = STR_PRESENT | (kept < len ? STR_CUT : 0u);
    put_u32(w, flags);
    put_u32(w, (uint32_t)kept);
    if (kept < len) {
        put_u64(w, len);
        w->cuts++;
    }
    put(w, s, kept);
}

/* A NUL-terminated string (preview: only its snippet preview). With a cap, only cap + 4 bytes
 * are looked at while measuring (enough for weft__utf8_cut to find a boundary), so planning a
 * cut of a huge string does not rescan it each time; the original length is taken once, when
 * writing. */
static void put_str_(wr *w, const char *s, bool preview)
{
    if (!s) {
        put_strn(w, NULL, 0);
        return;
    }
    if (w->cap == SIZE_MAX || w->p || preview) {
        put_strn(w, s, str_len(w, s, preview));
        return;
    }
    size_t len = strnlen(s, w->cap + 4);
    if (len <= w->cap) {
        put_strn(w, s, len);
        return;
    }
    size_t kept = weft__utf8_cut(s, len, w->cap);
    w->n += 16 + kept; /* flags, len, original length, bytes */
    w->cuts++;
}

static inline void put_str(wr *w, const char *s) { put_str_(w, s, false); }
static inline void put_preview(wr *w, const char *s) { put_str_(w, s, true); }

static size_t round8(size_t n) { return (n + 7u) & ~(size_t)7u; }

/* Zeroes the padding up to the 8-byte total. */
static void put_pad(wr *w)
{
    static const char zero[8];
    put(w, zero, round8(w->n) - w->n);
}

typedef void (*walk_fn)(wr *w, const void *info, const weft__rag_plan *p);

static void walk_retrieval(wr *w, const void *vinfo, const weft__rag_plan *p)
{
    const weft_retrieval_info *in = vinfo;
    put_u32(w, in->has_similarity_threshold ? RET_HAS_THRESHOLD : 0u);
    put_i32(w, in->chunk_size);
    put_i32(w, in->chunk_overlap);
    put_i32(w, in->top_k);
    put_f64(w, in->has_similarity_threshold ? in->similarity_threshold : 0.0);
    put_f64(w, in->latency_ms);
    put_u32(w, (uint32_t)p->n_items);
    put_u32(w, clamp_u32(in->n_hits - p->n_items));
    put_str(w, in->retriever);
    put_str(w, in->embedding_model);
    put_str(w, in->query);
    for (size_t i = 0; i < p->n_items; i++) {
        const weft_document_hit *h = &in->hits[i];
        put_u32(w, (h->has_span ? HIT_HAS_SPAN : 0u) | (h->has_rank || h->rank ? HIT_HAS_RANK : 0u));
        put_i32(w, h->rank);
        put_f64(w, h->score);
        put_i64(w, h->has_span ? h->span_start : 0);
        put_i64(w, h->has_span ? h->span_end : 0);
        put_str(w, h->doc_id);
        put_preview(w, h->snippet);
        put_str(w, h->metadata_json);
    }
    put_pad(w);
}

static void walk_generation(wr *w, const void *vinfo, const weft__rag_plan *p)
{
    const weft_generation_info *in = vinfo;
    const weft_format_check *fc = in->format_check ? in->format_check : p->fc_computed ? &p->fc : NULL;
    uint32_t flags = 0;
    if (fc) {
        flags |= GEN_HAS_FC;
        flags |= fc->is_complete ? GEN_FC_COMPLETE : 0u;
        flags |= fc->refusal ? GEN_FC_REFUSAL : 0u;
        flags |= fc->contains_citations ? GEN_FC_CITES : 0u;
    }
    if (!in->format_check && p->fc_computed) {
        for (uint32_t t = 1; t < 4; t++)
            if (p->fc.format_type && strcmp(p->fc.format_type, weft__rag_fc_type_names[t]) == 0)
                flags |= t << GEN_FC_TYPE_SHIFT;
    }
    int32_t counts[3] = {fc ? fc->length_tokens : 0, fc ? fc->length_chars : 0, fc ? fc->citation_count : 0};
    if (in->format_check && !in->format_check->has_counts && (!counts[0] || !counts[1] || !counts[2])) {
        if (p->fc_computed) { /* the answer is cut: the plan checked the whole of it */
            int32_t computed[3] = {p->fc.length_tokens, p->fc.length_chars, p->fc.citation_count};
            for (int i = 0; i < 3; i++)
                counts[i] = counts[i] ? counts[i] : computed[i];
        } else {
            flags |= GEN_FC_COUNTS_UNSET;
        }
    }
    put_u32(w, flags);
    put_i32(w, in->context_length);
    put_f64(w, in->generation_latency_ms);
    put_i32(w, counts[0]);
    put_i32(w, counts[1]);
    put_i32(w, counts[2]);
    put_u32(w, (uint32_t)p->n_items);
    put_u32(w, clamp_u32(in->n_citations - p->n_items));
    put_u32(w, (uint32_t)p->n_items2);
    put_u32(w, clamp_u32(in->n_reasoning - p->n_items2));
    put_u32(w, 0);
    put_str(w, in->answer);
    put_str(w, in->model_used);
    put_str(w, in->prompt_template);
    put_str(w, in->format_check ? in->format_check->language : NULL);
    put_str(w, in->format_check ? in->format_check->format_type : NULL);
    for (size_t i = 0; i < p->n_items; i++) {
        const weft_citation *c = &in->citations[i];
        put_u32(w, (c->has_span ? CIT_HAS_SPAN : 0u) |
                       (c->has_confidence || c->confidence != 0.0 ? CIT_HAS_CONFIDENCE : 0u) |
                       (c->has_relevance_score || c->relevance_score != 0.0 ? CIT_HAS_RELEVANCE : 0u));
        put_u32(w, 0);
        put_i64(w, c->has_span ? c->span_start : 0);
        put_i64(w, c->has_span ? c->span_end : 0);
        put_f64(w, c->confidence);
        put_f64(w, c->relevance_score);
        put_str(w, c->doc_id);
    }
    for (size_t i = 0; i < p->n_items2; i++)
        put_str(w, in->reasoning_trace[i]); /* a NULL step travels as absent and is skipped */
    put_pad(w);
}

static void walk_usage(wr *w, const void *vinfo, const weft__rag_plan *p)
{
    const weft_usage *u = vinfo;
    (void)p;
    put_u32(w, u->has_cost ? USAGE_HAS_COST : 0u);
    put_u32(w, 0);
    put_i64(w, u->input_tokens);
    put_i64(w, u->output_tokens);
    put_f64(w, u->has_cost ? u->cost_usd : 0.0);
    put_str(w, u->model);
    put_pad(w);
}

static void walk_message(wr *w, const void *vinfo, const weft__rag_plan *p)
{
    const weft_message *m = vinfo;
    (void)p;
    put_u32(w, (uint32_t)weft__rag_role(m->role));
    put_u32(w, m->timestamp_us ? MSG_HAS_TIMESTAMP : 0u);
    put_i64(w, m->timestamp_us);
    put_str(w, m->content);
    put_str(w, m->name);
    put_str(w, m->tool_call_id);
    put_str(w, m->tool_calls_json);
    put_pad(w);
}

static void walk_trace_info(wr *w, const void *vinfo, const weft__rag_plan *p)
{
    const weft_trace_info *in = vinfo;
    put_u32(w, (uint32_t)p->n_items);
    put_u32(w, clamp_u32(in->n_tags - p->n_items));
    put_str(w, in->project_id);
    put_str(w, in->project_name);
    put_str(w, in->session_id);
    put_str(w, in->app_name);
    put_str(w, in->custom_fields_json);
    for (size_t i = 0; i < p->n_items; i++)
        put_str(w, in->tags[i]);
    put_pad(w);
}

/* weft_span_add_event's arguments plus the time read at the call. */
typedef struct span_event_args {
    uint64_t ticks;
    const char *name, *attributes;
} span_event_args;

static void walk_span_event(wr *w, const void *vinfo, const weft__rag_plan *p)
{
    const span_event_args *in = vinfo;
    (void)p;
    put_u64(w, in->ticks);
    put_str(w, in->name);
    put_str(w, in->attributes);
    put_pad(w);
}

static size_t measure(walk_fn f, const void *info, weft__rag_plan *p)
{
    bool cache = p->str_cap == SIZE_MAX;
    wr w = {NULL, 0, p->str_cap, 0, cache ? p->lens : NULL, 0, true};
    f(&w, info, p);
    p->cuts = w.cuts;
    p->lens_valid = cache;
    return w.n;
}

/* Fits the event into max bytes (see rag_event.h, Fitting). n1/n2: items given (hits or
 * citations, reasoning steps); the trailing ones go first, reasoning before citations. */
static void plan_fit(weft__rag_plan *p, walk_fn f, const void *info, size_t n1, size_t n2, size_t max)
{
    p->str_cap = SIZE_MAX;
    p->n_items = n1;
    p->n_items2 = n2;
    p->len = measure(f, info, p);
    if (p->len <= max)
        return;

    uint32_t dropped = 0;
    p->str_cap = 0;
    if (measure(f, info, p) > max / 2) {
        /* Even the fixed part is too big: keep the most items whose fixed part fits in half
         * the event, leaving the other half for their text. */
        size_t lo = 0, hi = n1 + n2;
        while (lo < hi) {
            size_t mid = lo + (hi - lo + 1) / 2;
            p->n_items = mid < n1 ? mid : n1;
            p->n_items2 = mid - p->n_items;
            if (measure(f, info, p) <= max / 2)
                lo = mid;
            else
                hi = mid - 1;
        }
        p->n_items = lo < n1 ? lo : n1;
        p->n_items2 = lo - p->n_items;
        dropped = clamp_u32(n1 + n2 - lo);
    }
    /* The largest common cap that fits; measure is monotonic in the cap. */
    size_t lo = 0, hi = max;
    while (lo < hi) {
        size_t mid = lo + (hi - lo + 1) / 2;
        p->str_cap = mid;
        if (measure(f, info, p) <= max)
            lo = mid;
        else
            hi = mid - 1;
    }
    p->str_cap = lo;
    p->len = measure(f, info, p);
    p->cuts += dropped;
}

static void plan_init(weft__rag_plan *p)
{
    /* Field by field: lens (256 bytes) is filled by the first measure, not cleared. */
    p->len = 0;
    p->str_cap = SIZE_MAX;
    p->n_items = p->n_items2 = 0;
    p->cuts = 0;
    p->fc_computed = false;
    memset(&p->fc, 0, sizeof p->fc);
    p->lens_valid = false;
}

int weft__rag_role(const char *role)
{
    if (!role)
        return -1;
    for (int i = 0; i < 4; i++)
        if (strcmp(role, weft__rag_role_names[i]) == 0)
            return i;
    return -1;
}

bool weft__rag_plan_retrieval(weft__rag_plan *p, const weft_retrieval_info *info, size_t max_payload)
{
    plan_init(p);
    if (!info || (info->n_hits && !info->hits))
        return false;
    for (size_t i = 0; i < info->n_hits; i++)
        if (!info->hits[i].doc_id)
            return false;
    plan_fit(p, walk_retrieval, info, info->n_hits, 0, max_payload);
    return true;
}

bool weft__rag_plan_generation(weft__rag_plan *p, const weft_generation_info *info, size_t max_payload)
{
    plan_init(p);
    if (!info || !info->answer || (info->n_citations && !info->citations) ||
        (info->n_reasoning && !info->reasoning_trace))
        return false;
    for (size_t i = 0; i < info->n_citations; i++)
        if (!info->citations[i].doc_id)
            return false;
    plan_fit(p, walk_generation, info, info->n_citations, info->n_reasoning, max_payload);
    if ((!info->format_check || !info->format_check->has_counts) && p->str_cap != SIZE_MAX &&
        strnlen(info->answer, p->str_cap + 1) > p->str_cap) {
        /* The answer is cut: check the whole of it here, while it is still at hand. */
        weft__format_check_compute(&p->fc, info->answer, strlen(info->answer), info->citations,
                                   info->n_citations, false);
        p->fc_computed = true;
    }
    return true;
}

bool weft__rag_plan_usage(weft__rag_plan *p, const weft_usage *usage, size_t max_payload)
{
    plan_init(p);
    if (!usage || usage->input_tokens < 0 || usage->output_tokens < 0)
        return false;
    plan_fit(p, walk_usage, usage, 0, 0, max_payload);
    return true;
}

bool weft__rag_plan_message(weft__rag_plan *p, const weft_message *msg, size_t max_payload)
{
    plan_init(p);
    if (!msg || weft__rag_role(msg->role) < 0)
        return false;
    plan_fit(p, walk_message, msg, 0, 0, max_payload);
    return true;
}

static void write_walk(walk_fn f, void *dst, const void *info, const weft__rag_plan *p)
{
    /* The cache is good when the last measure was the uncapped one, i.e. nothing was cut. */
    bool cache = p->str_cap == SIZE_MAX && p->lens_valid;
    wr w = {dst, 0, p->str_cap, 0, cache ? (uint32_t *)p->lens : NULL, 0, false};
    f(&w, info, p);
}

void weft__rag_write_retrieval(void *dst, const weft_retrieval_info *info, const weft__rag_plan *p)
{
    write_walk(walk_retrieval, dst, info, p);
}
void weft__rag_write_generation(void *dst, const weft_generation_info *info, const weft__rag_plan *p)
{
    write_walk(walk_generation, dst, info, p);
}
void weft__rag_write_usage(void *dst, const weft_usage *usage, const weft__rag_plan *p)
{
    write_walk(walk_usage, dst, usage, p);
}
void weft__rag_write_message(void *dst, const weft_message *msg, const weft__rag_plan *p)
{
    write_walk(walk_message, dst, msg, p);
}

/* ======================================================================================
 * Producer: the public setters
 * ==================================================================================== */

/* The zero span, a sampled-out span or tracing off: let the core count the call its way and
 * stop before any work on the caller's struct (DESIGN.md 8: a disabled call costs ~2 ns). */
static inline bool skip_call(weft_span span, unsigned kind)
{
    if (__builtin_expect(span.id != 0 && span.flags == 0 &&
                             atomic_load_explicit(&weft__rt.hot.enabled, memory_order_relaxed), 1))
        return false;
    weft__evw w;
    (void)weft__event_reserve(&w, span, kind, 0, 0);
    return true;
}

static void emit(weft_span span, unsigned kind, unsigned aux, const void *info, const weft__rag_plan *p,
                 walk_fn f)
{
    weft__evw w;
    void *dst = weft__event_reserve(&w, span, kind, aux, p->len);
    if (!dst)
        return;
    write_walk(f, dst, info, p);
    weft__event_commit(&w);
    if (__builtin_expect(p->cuts != 0, 0))
        weft__stat_add(truncated_attrs, p->cuts);
}

WEFT_API void weft_span_set_retrieval(weft_span span, const weft_retrieval_info *info)
{
    if (skip_call(span, WEFT__EV_RETRIEVAL))
        return;
    weft__rag_plan p;
    if (!weft__rag_plan_retrieval(&p, info, weft__event_max_payload())) {
        weft__stat_add(noop_calls, 1);
        return;
    }
    emit(span, WEFT__EV_RETRIEVAL, 0, info, &p, walk_retrieval);
}

WEFT_API void weft_span_set_generation(weft_span span, const weft_generation_info *info)
{
    if (skip_call(span, WEFT__EV_GENERATION))
        return;
    weft__rag_plan p;
    if (!weft__rag_plan_generation(&p, info, weft__event_max_payload())) {
        weft__stat_add(noop_calls, 1);
        return;
    }
    emit(span, WEFT__EV_GENERATION, 0, info, &p, walk_generation);
}

WEFT_API void weft_span_set_usage(weft_span span, const weft_usage *usage)
{
    if (skip_call(span, WEFT__EV_USAGE))
        return;
    weft__rag_plan p;
    if (!weft__rag_plan_usage(&p, usage, weft__event_max_payload())) {
        weft__stat_add(noop_calls, 1);
        return;
    }
    emit(span, WEFT__EV_USAGE, 0, usage, &p, walk_usage);
}

WEFT_API void weft_span_add_message(weft_span span, weft_section sec, const weft_message *msg)
{
    if (skip_call(span, WEFT__EV_MESSAGE))
        return;
    weft__rag_plan p;
    if ((sec != WEFT_INPUT && sec != WEFT_OUTPUT) ||
        !weft__rag_plan_message(&p, msg, weft__event_max_payload())) {
        weft__stat_add(noop_calls, 1);
        return;
    }
    emit(span, WEFT__EV_MESSAGE, (unsigned)sec, msg, &p, walk_message);
}

WEFT_API void weft_span_set_trace_info(weft_span root, const weft_trace_info *info)
{
    if (skip_call(root, WEFT__EV_TRACE_INFO))
        return;
    weft__rag_plan p;
    plan_init(&p);
    if (!info || (info->n_tags && !info->tags)) {
        weft__stat_add(noop_calls, 1);
        return;
    }
    plan_fit(&p, walk_trace_info, info, info->n_tags, 0, weft__event_max_payload());
    emit(root, WEFT__EV_TRACE_INFO, 0, info, &p, walk_trace_info);
}

WEFT_API void weft_span_add_event(weft_span span, const char *name, const char *attributes_json)
{
    if (skip_call(span, WEFT__EV_SPAN_EVENT))
        return;
    span_event_args a = {weft__clock_ticks(), name, attributes_json};
    if (!name) {
        weft__stat_add(noop_calls, 1);
        return;
    }
    weft__rag_plan p;
    plan_init(&p);
    plan_fit(&p, walk_span_event, &a, 0, 0, weft__event_max_payload());
    emit(span, WEFT__EV_SPAN_EVENT, 0, &a, &p, walk_span_event);
}
