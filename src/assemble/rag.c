/*
 * rag.c — the RAG and LLM setters (weft_span_set_retrieval, _generation, _usage,
 * weft_span_add_message) and their consumer half (weft__rag_apply, weft__rag_on_end), which
 * maps each event onto the span record exactly as DESIGN.md section 5 says.
 *
 * Producer invariants (the hot path): one ring event per call, sized by a measuring walk over
 * the caller's struct and filled by the same walk writing, so size and content cannot
 * disagree; no allocation, no lock, no system call; caller misuse (NULL struct, NULL required
 * string, NULL array with a count, unknown role, negative token count) is a counted no-op.
 * The payload layouts are described in rag_event.h.
 *
 * Consumer invariants (export thread): every value handed to weft__rec_set/append is valid
 * JSON built with the json.h writers; strings longer than max_attr_bytes are cut and marked;
 * a zero numeric field or NULL string is "not given" and omitted (DESIGN.md section 3), except
 * the fields the design always sends (format_check's eight, usage token counts).
 */
#include "rag.h"

#include <stdatomic.h>
#include <string.h>

#include "format_check.h"
#include "json.h"
#include "producer.h"
#include "rag_event.h"
#include "runtime.h"

/* ======================================================================================
 * Producer: the measuring/writing walk
 * ==================================================================================== */

#define STR_PRESENT 1u
#define STR_CUT 2u

#define RET_HAS_THRESHOLD 1u
#define HIT_HAS_SPAN 1u
#define HIT_HAS_RANK 2u
#define CIT_HAS_SPAN 1u
#define CIT_HAS_CONFIDENCE 2u
#define CIT_HAS_RELEVANCE 4u
#define USAGE_HAS_COST 1u
#define GEN_HAS_FC 1u
#define GEN_FC_COMPLETE 2u
#define GEN_FC_REFUSAL 4u
#define GEN_FC_CITES 8u
/* Computed format types travel as a code in bits 4-5 instead of a string, so that a format
 * check computed on the producer does not change the event's size. */
#define GEN_FC_TYPE_SHIFT 4
#define GEN_FC_TYPE_MASK (3u << GEN_FC_TYPE_SHIFT)
/* The caller's format check left has_counts false and some count 0: the export thread
 * computes those from the answer (weft.h, weft_format_check). */
#define GEN_FC_COUNTS_UNSET 64u

static const char *const role_names[] = {"system", "user", "assistant", "tool"};
static const char *const fc_type_names[] = {NULL, "json", "markdown", "text"};

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
            if (p->fc.format_type && strcmp(p->fc.format_type, fc_type_names[t]) == 0)
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
    put_u32(w, 0);
    put_str(w, m->content);
    put_str(w, m->name);
    put_str(w, m->tool_call_id);
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
        if (strcmp(role, role_names[i]) == 0)
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

/* ======================================================================================
 * Consumer: decoding
 * ==================================================================================== */

typedef struct rd {
    const char *p, *end;
    bool bad; /* read past the end or a field out of range: the event is malformed */
} rd;

typedef struct rstr {
    const char *s;
    size_t len;
    uint64_t orig; /* the caller's length (== len unless cut) */
    bool present, cut;
} rstr;

static void get(rd *r, void *dst, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        memset(dst, 0, n);
        return;
    }
    memcpy(dst, r->p, n);
    r->p += n;
}
static uint32_t get_u32(rd *r) { uint32_t v; get(r, &v, sizeof v); return v; }
static int32_t get_i32(rd *r) { int32_t v; get(r, &v, sizeof v); return v; }
static uint64_t get_u64(rd *r) { uint64_t v; get(r, &v, sizeof v); return v; }
static int64_t get_i64(rd *r) { int64_t v; get(r, &v, sizeof v); return v; }
static double get_f64(rd *r) { double v; get(r, &v, sizeof v); return v; }

static rstr get_str(rd *r)
{
    rstr s = {"", 0, 0, false, false};
    uint32_t flags = get_u32(r);
    uint32_t len = get_u32(r);
    if (!(flags & STR_PRESENT)) {
        if (len)
            r->bad = true;
        return s;
    }
    s.present = true;
    s.cut = (flags & STR_CUT) != 0;
    s.orig = s.cut ? get_u64(r) : len;
    if (r->bad || (size_t)(r->end - r->p) < len || s.orig < len) {
        r->bad = true;
        s.present = false;
        return s;
    }
    s.s = r->p;
    s.len = len;
    r->p += len;
    return s;
}

/* ======================================================================================
 * Consumer: JSON helpers
 * ==================================================================================== */

static size_t max_attr(void) { return (size_t)weft__rt.hot.max_attr_bytes; }

/* Writes a string value: repaired, cut at max_attr_bytes, and for a string the producer cut,
 * marked with what the caller's value lost in total ("…[truncated N bytes]", as weft.h says). */
static void j_str(weft__buf *b, const rstr *s)
{
    size_t max = max_attr();
    if (!s->cut) {
        unsigned fl = weft__json_str(b, s->s, s->len, max);
        if (fl & WEFT__JSON_REPAIRED)
            weft__stat_add(repaired_utf8, 1);
        if (fl & WEFT__JSON_TRUNCATED)
            weft__stat_add(truncated_attrs, 1);
        return;
    }
    size_t keep = (max && s->len > max) ? weft__utf8_cut(s->s, s->len, max) : s->len;
    unsigned fl = weft__json_str(b, s->s, keep, 0);
    if (fl & WEFT__JSON_REPAIRED)
        weft__stat_add(repaired_utf8, 1);
    if (b->oom || b->len == 0 || b->data[b->len - 1] != '"')
        return;
    b->len--; /* reopen the literal for the marker */
    weft__buf_lit(b, "\xE2\x80\xA6[truncated ");
    weft__json_u64(b, s->orig - keep);
    weft__buf_lit(b, " bytes]\"");
}

/* Object member separator and key (keys here are ASCII literals: no escaping needed). */
static void j_key(weft__buf *b, bool *first, const char *key)
{
    if (!*first)
        weft__buf_putc(b, ',');
    *first = false;
    weft__buf_putc(b, '"');
    weft__buf_append(b, key, strlen(key));
    weft__buf_lit(b, "\":");
}

static void j_span(weft__buf *b, int64_t s, int64_t e)
{
    weft__buf_putc(b, '[');
    weft__json_i64(b, s);
    weft__buf_putc(b, ',');
    weft__json_i64(b, e);
    weft__buf_putc(b, ']');
}

/* Hands the value built in scratch to the record under sec.key (skipped when the buffer ran
 * out of memory: a missing field beats invalid JSON). */
static void set(weft__rec *r, weft_section sec, const char *key, weft__buf *scratch)
{
    if (!scratch->oom)
        weft__rec_set(r, sec, key, strlen(key), scratch->data, scratch->len);
    weft__buf_reset(scratch);
}

/* A string field as a typed string value (cut and marked like j_str). */
static void set_str(weft__rec *r, weft_section sec, const char *key, const rstr *s, weft__buf *scratch)
{
    if (!s->present)
        return;
    unsigned fl = weft__rec_text(scratch, s->s, s->len, s->cut ? s->orig : s->len, max_attr());
    if (fl & WEFT__JSON_REPAIRED)
        weft__stat_add(repaired_utf8, 1);
    if ((fl & WEFT__JSON_TRUNCATED) && !s->cut)
        weft__stat_add(truncated_attrs, 1);
    if (!scratch->oom)
        weft__rec_set_str(r, sec, key, strlen(key), scratch->data, scratch->len);
    weft__buf_reset(scratch);
}

static void set_i64(weft__rec *r, weft_section sec, const char *key, int64_t v, weft__buf *scratch)
{
    weft__rec_set_i64(r, sec, key, strlen(key), v);
}

static void set_f64(weft__rec *r, weft_section sec, const char *key, double v, weft__buf *scratch)
{
    weft__rec_set_f64(r, sec, key, strlen(key), v);
}

/* ======================================================================================
 * Consumer: one function per event kind
 * ==================================================================================== */

static void apply_retrieval(weft__rec *r, rd *in, weft__buf *scratch)
{
    uint32_t flags = get_u32(in);
    int32_t chunk_size = get_i32(in), chunk_overlap = get_i32(in), top_k = get_i32(in);
    double threshold = get_f64(in), latency = get_f64(in);
    uint32_t n_hits = get_u32(in), n_dropped = get_u32(in);
    rstr retriever = get_str(in), model = get_str(in), query = get_str(in);
    if (in->bad)
        return;

    set_str(r, WEFT_INPUT, "query", &query, scratch);
    if (top_k)
        set_i64(r, WEFT_INPUT, "top_k", top_k, scratch);
    if (flags & RET_HAS_THRESHOLD)
        set_f64(r, WEFT_INPUT, "similarity_threshold", threshold, scratch);

    set_str(r, WEFT_METADATA, "retriever", &retriever, scratch);
    set_str(r, WEFT_METADATA, "embedding_model", &model, scratch);
    if (chunk_size)
        set_i64(r, WEFT_METADATA, "chunk_size", chunk_size, scratch);
    if (chunk_overlap)
        set_i64(r, WEFT_METADATA, "chunk_overlap", chunk_overlap, scratch);
    if (latency != 0.0) {
        set_f64(r, WEFT_METADATA, "latency_ms", latency, scratch);
        r->needs_retrieval_latency = false;
    } else {
        r->needs_retrieval_latency = true;
    }

    /* output.hits is always sent, [] included: "retrieved nothing" is a result. */
    weft__buf_reset(scratch);
    weft__buf_putc(scratch, '[');
    for (uint32_t i = 0; i < n_hits && !in->bad; i++) {
        uint32_t hflags = get_u32(in);
        int32_t rank = get_i32(in);
        double score = get_f64(in);
        int64_t s0 = get_i64(in), s1 = get_i64(in);
        rstr doc = get_str(in), snippet = get_str(in), meta = get_str(in);
        if (in->bad)
            return;
        bool first = true;
        if (i)
            weft__buf_putc(scratch, ',');
        weft__buf_putc(scratch, '{');
        j_key(scratch, &first, "doc_id");
        j_str(scratch, &doc);
        if (hflags & HIT_HAS_RANK) {
            j_key(scratch, &first, "rank");
            weft__json_i64(scratch, rank);
        }
        j_key(scratch, &first, "score"); /* required by the DocumentHit model: 0.0 too */
        weft__json_f64(scratch, score);
        if (hflags & HIT_HAS_SPAN) {
            j_key(scratch, &first, "span");
            j_span(scratch, s0, s1);
        }
        if (snippet.present) {
            j_key(scratch, &first, "snippet_preview");
            j_str(scratch, &snippet);
        }
        if (meta.present) {
            if (!meta.cut && weft__json_valid_object(meta.s, meta.len)) {
                j_key(scratch, &first, "metadata");
                weft__json_minify(scratch, meta.s, meta.len);
            } else {
                weft__stat_add(invalid_json, 1);
                j_key(scratch, &first, "metadata_raw");
                j_str(scratch, &meta);
            }
        }
        weft__buf_putc(scratch, '}');
    }
    weft__buf_putc(scratch, ']');
    if (in->bad)
        return;
    set(r, WEFT_OUTPUT, "hits", scratch);
    if (n_dropped)
        set_i64(r, WEFT_OUTPUT, "hits_dropped", n_dropped, scratch);
}

/* A citation as decoded from the event (doc_id not NUL-terminated). */
typedef struct dcit {
    uint32_t flags;
    int64_t s0, s1;
    double confidence, relevance;
    rstr doc;
} dcit;

static dcit get_citation(rd *in)
{
    dcit c;
    c.flags = get_u32(in);
    (void)get_u32(in);
    c.s0 = get_i64(in);
    c.s1 = get_i64(in);
    c.confidence = get_f64(in);
    c.relevance = get_f64(in);
    c.doc = get_str(in);
    return c;
}

/* Computes the format check of answer on the export thread. The citations' doc_ids are copied
 * NUL-terminated into scratch, then an array of weft_citation pointing at them, because that
 * is what weft__format_check_compute reads. */
static void compute_fc(weft_format_check *fc, const rstr *answer, rd cits, uint32_t n, weft__buf *scratch)
{
    weft__buf_reset(scratch);
    for (uint32_t i = 0; i < n; i++) {
        dcit c = get_citation(&cits);
        weft__buf_append(scratch, c.doc.s, c.doc.len);
        weft__buf_putc(scratch, '\0');
    }
    size_t ids_len = scratch->len;
    size_t arr_off = (ids_len + _Alignof(weft_citation) - 1) & ~(size_t)(_Alignof(weft_citation) - 1);
    weft__buf_reserve(scratch, arr_off - ids_len + (size_t)n * sizeof(weft_citation));
    if (scratch->oom || cits.bad) {
        weft__format_check_compute(fc, answer->s, answer->len, NULL, 0, answer->cut);
        weft__buf_reset(scratch);
        return;
    }
    weft_citation *arr = (weft_citation *)(void *)(scratch->data + arr_off);
    const char *id = scratch->data;
    for (uint32_t i = 0; i < n; i++) {
        memset(&arr[i], 0, sizeof arr[i]);
        arr[i].doc_id = id;
        id += strlen(id) + 1;
    }
    /* answer->cut: only if the plan could not check the whole answer (it always does). */
    weft__format_check_compute(fc, answer->s, answer->len, arr, n, answer->cut);
    weft__buf_reset(scratch);
}

static void apply_generation(weft__rec *r, rd *in, weft__buf *scratch)
{
    uint32_t flags = get_u32(in);
    int32_t context_length = get_i32(in);
    double latency = get_f64(in);
    weft_format_check fc;
    memset(&fc, 0, sizeof fc);
    fc.length_tokens = get_i32(in);
    fc.length_chars = get_i32(in);
    fc.citation_count = get_i32(in);
    uint32_t n_cit = get_u32(in), cit_dropped = get_u32(in);
    uint32_t n_reason = get_u32(in), reason_dropped = get_u32(in);
    (void)get_u32(in);
    rstr answer = get_str(in), model = get_str(in), prompt = get_str(in);
    rstr language = get_str(in), ftype = get_str(in);
    if (in->bad)
        return;

    /* The citations, once to check their bounds (and for compute_fc), once to write them. */
    rd cits = *in;
    for (uint32_t i = 0; i < n_cit && !in->bad; i++)
        (void)get_citation(in);
    if (in->bad)
        return;

    if (flags & GEN_HAS_FC) {
        fc.is_complete = (flags & GEN_FC_COMPLETE) != 0;
        fc.refusal = (flags & GEN_FC_REFUSAL) != 0;
        fc.contains_citations = (flags & GEN_FC_CITES) != 0;
        fc.format_type = fc_type_names[(flags & GEN_FC_TYPE_MASK) >> GEN_FC_TYPE_SHIFT];
        if (!ftype.present && !fc.format_type)
            fc.format_type = weft__format_check_type(answer.s, answer.len);
        if (flags & GEN_FC_COUNTS_UNSET) {
            weft_format_check measured;
            compute_fc(&measured, &answer, cits, n_cit, scratch);
            fc.length_tokens = fc.length_tokens ? fc.length_tokens : measured.length_tokens;
            fc.length_chars = fc.length_chars ? fc.length_chars : measured.length_chars;
            fc.citation_count = fc.citation_count ? fc.citation_count : measured.citation_count;
        }
    } else {
        compute_fc(&fc, &answer, cits, n_cit, scratch);
    }

    set_str(r, WEFT_OUTPUT, "answer", &answer, scratch);

    if (n_cit || cit_dropped) {
        weft__buf_reset(scratch);
        weft__buf_putc(scratch, '[');
        for (uint32_t i = 0; i < n_cit; i++) {
            dcit c = get_citation(&cits);
            bool first = true;
            if (i)
                weft__buf_putc(scratch, ',');
            weft__buf_putc(scratch, '{');
            j_key(scratch, &first, "doc_id");
            j_str(scratch, &c.doc);
            if (c.flags & CIT_HAS_SPAN) {
                j_key(scratch, &first, "span");
                j_span(scratch, c.s0, c.s1);
            }
            if (c.flags & CIT_HAS_CONFIDENCE) {
                j_key(scratch, &first, "confidence");
                weft__json_f64(scratch, c.confidence);
            }
            if (c.flags & CIT_HAS_RELEVANCE) {
                j_key(scratch, &first, "relevance_score");
                weft__json_f64(scratch, c.relevance);
            }
            weft__buf_putc(scratch, '}');
        }
        weft__buf_putc(scratch, ']');
        set(r, WEFT_OUTPUT, "citations", scratch);
        if (cit_dropped)
            set_i64(r, WEFT_OUTPUT, "citations_dropped", cit_dropped, scratch);
    }

    /* format_check: all eight fields, language only when the caller gave one. */
    weft__buf_reset(scratch);
    bool first = true;
    weft__buf_putc(scratch, '{');
    j_key(scratch, &first, "is_complete");
    weft__json_bool(scratch, fc.is_complete);
    j_key(scratch, &first, "refusal");
    weft__json_bool(scratch, fc.refusal);
    j_key(scratch, &first, "contains_citations");
    weft__json_bool(scratch, fc.contains_citations);
    j_key(scratch, &first, "length_tokens");
    weft__json_i64(scratch, fc.length_tokens);
    j_key(scratch, &first, "length_chars");
    weft__json_i64(scratch, fc.length_chars);
    j_key(scratch, &first, "citation_count");
    weft__json_i64(scratch, fc.citation_count);
    if (language.present) {
        j_key(scratch, &first, "language");
        j_str(scratch, &language);
    }
    j_key(scratch, &first, "format_type");
    if (ftype.present)
        j_str(scratch, &ftype);
    else
        weft__json_str(scratch, fc.format_type, strlen(fc.format_type), 0);
    weft__buf_putc(scratch, '}');
    set(r, WEFT_OUTPUT, "format_check", scratch);

    set_str(r, WEFT_METADATA, "model_used", &model, scratch);
    set_str(r, WEFT_METADATA, "prompt_template", &prompt, scratch);
    if (context_length)
        set_i64(r, WEFT_METADATA, "context_length", context_length, scratch);
    if (latency != 0.0) {
        set_f64(r, WEFT_METADATA, "generation_latency_ms", latency, scratch);
        r->needs_generation_latency = false;
    } else {
        r->needs_generation_latency = true;
    }

    weft__buf_reset(scratch);
    weft__buf_putc(scratch, '[');
    size_t written = 0;
    for (uint32_t i = 0; i < n_reason && !in->bad; i++) {
        rstr step = get_str(in);
        if (!step.present)
            continue;
        if (written++)
            weft__buf_putc(scratch, ',');
        j_str(scratch, &step);
    }
    weft__buf_putc(scratch, ']');
    if (in->bad)
        return;
    if (written)
        set(r, WEFT_METADATA, "reasoning_trace", scratch);
    if (reason_dropped)
        set_i64(r, WEFT_METADATA, "reasoning_dropped", reason_dropped, scratch);
}

/* USD for one call from the configured price table; false when the model is not listed. */
static bool price_of(const rstr *model, int64_t in_tok, int64_t out_tok, double *usd)
{
    if (!model->present || model->cut)
        return false;
    for (size_t i = 0; i < weft__rt.cfg.n_prices; i++) {
        const weft_model_price *pr = &weft__rt.cfg.prices[i];
        if (pr->model && strlen(pr->model) == model->len && memcmp(pr->model, model->s, model->len) == 0) {
            *usd = ((double)in_tok * pr->input_usd_per_mtok + (double)out_tok * pr->output_usd_per_mtok) / 1e6;
            return true;
        }
    }
    return false;
}

static void apply_usage(weft__rec *r, rd *in, weft__buf *scratch)
{
    uint32_t flags = get_u32(in);
    (void)get_u32(in);
    int64_t in_tok = get_i64(in), out_tok = get_i64(in);
    double cost = get_f64(in);
    rstr model = get_str(in);
    if (in->bad || in_tok < 0 || out_tok < 0) {
        in->bad = true;
        return;
    }
    /* Summed over calls on the span (a span may wrap several LLM calls); the metadata always
     * shows the running totals. */
    r->has_usage = true;
    /* Saturating: a caller's absurd counts must not overflow (undefined behaviour). */
    if (__builtin_add_overflow(r->input_tokens, in_tok, &r->input_tokens))
        r->input_tokens = INT64_MAX;
    if (__builtin_add_overflow(r->output_tokens, out_tok, &r->output_tokens))
        r->output_tokens = INT64_MAX;
    double usd;
    if (flags & USAGE_HAS_COST) {
        r->has_cost = true;
        r->cost_usd += cost;
    } else if (price_of(&model, in_tok, out_tok, &usd)) {
        r->has_cost = true;
        r->cost_usd += usd;
    }
    set_str(r, WEFT_METADATA, "model", &model, scratch);
    set_i64(r, WEFT_METADATA, "input_tokens", r->input_tokens, scratch);
    set_i64(r, WEFT_METADATA, "output_tokens", r->output_tokens, scratch);
    int64_t total;
    if (__builtin_add_overflow(r->input_tokens, r->output_tokens, &total))
        total = INT64_MAX;
    set_i64(r, WEFT_METADATA, "total_tokens", total, scratch);
    if (r->has_cost)
        set_f64(r, WEFT_METADATA, "cost_usd", r->cost_usd, scratch);
}

static void apply_message(weft__rec *r, unsigned sec, rd *in, weft__buf *scratch)
{
    uint32_t role = get_u32(in);
    (void)get_u32(in);
    rstr content = get_str(in), name = get_str(in), call = get_str(in);
    if (in->bad || role > WEFT__ROLE_TOOL || (sec != WEFT_INPUT && sec != WEFT_OUTPUT)) {
        in->bad = true;
        return;
    }
    weft__buf_reset(scratch);
    bool first = true;
    weft__buf_putc(scratch, '{');
    j_key(scratch, &first, "role");
    weft__json_str(scratch, role_names[role], strlen(role_names[role]), 0);
    if (content.present) {
        j_key(scratch, &first, "content");
        j_str(scratch, &content);
    }
    if (name.present) {
        j_key(scratch, &first, "name");
        j_str(scratch, &name);
    }
    if (call.present) {
        j_key(scratch, &first, "tool_call_id");
        j_str(scratch, &call);
    }
    weft__buf_putc(scratch, '}');
    if (!scratch->oom)
        weft__rec_append(r, (weft_section)sec, "messages", 8, scratch->data, scratch->len);
    weft__buf_reset(scratch);
}

void weft__rag_apply(weft__rec *r, const weft__ev *ev, weft__buf *scratch)
{
    rd in = {(const char *)(ev + 1), (const char *)ev + ev->size, ev->size < sizeof *ev};
    if (in.bad) {
        weft__internal_error("rag: event smaller than its header");
        return;
    }
    switch (ev->kind) {
    case WEFT__EV_RETRIEVAL:
        apply_retrieval(r, &in, scratch);
        break;
    case WEFT__EV_GENERATION:
        apply_generation(r, &in, scratch);
        break;
    case WEFT__EV_USAGE:
        apply_usage(r, &in, scratch);
        break;
    case WEFT__EV_MESSAGE:
        apply_message(r, ev->aux, &in, scratch);
        break;
    default:
        in.bad = true;
        break;
    }
    weft__buf_reset(scratch);
    if (in.bad)
        weft__internal_error("rag: malformed event");
}

void weft__rag_on_end(weft__rec *r, weft__buf *scratch)
{
    if (!r->needs_retrieval_latency && !r->needs_generation_latency)
        return;
    if (r->end_ns == 0)
        return; /* not ended: nothing to take the duration from yet */
    uint64_t ns = (r->end_ns > r->start_ns) ? r->end_ns - r->start_ns : 0;
    if (r->needs_retrieval_latency) {
        weft__buf_reset(scratch);
        weft__json_ms(scratch, ns); /* exact from nanoseconds, no float formatting */
        set(r, WEFT_METADATA, "latency_ms", scratch);
        r->needs_retrieval_latency = false;
    }
    if (r->needs_generation_latency) {
        weft__buf_reset(scratch);
        weft__json_ms(scratch, ns);
        set(r, WEFT_METADATA, "generation_latency_ms", scratch);
        r->needs_generation_latency = false;
    }
}
