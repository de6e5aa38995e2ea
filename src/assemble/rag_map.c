/*
 * rag_map.c — the export thread's half of the RAG and LLM vocabulary (weft__rag_apply,
 * weft__rag_on_end): decodes the events produce/rag_set.c wrote (layouts in rag_event.h) and
 * maps each onto the span record exactly as DESIGN.md section 5 says.
 *
 * Invariants (export thread): strings are handed to the record as typed text (cut and marked
 * at max_attr_bytes), numbers as numbers, objects and arrays as valid JSON built with the
 * json.h writers; a zero numeric field or NULL string is "not given" and omitted (DESIGN.md
 * section 3), except the fields the design always sends (format_check's eight, usage token
 * counts, a hit's score) and those a has_ flag marks as given.
 */
#include "rag.h"

#include <stdatomic.h>
#include <string.h>

#include "format_check.h"
#include "json.h"
#include "price.h"
#include "rag_event.h"
#include "runtime.h"

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
        fc.format_type = weft__rag_fc_type_names[(flags & GEN_FC_TYPE_MASK) >> GEN_FC_TYPE_SHIFT];
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
    } else if ((model.present && !model.cut && weft__price_usd(model.s, model.len, in_tok, out_tok, &usd))) {
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

/* Valid JSON whose first significant character opens an array. */
static bool json_array_text(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i < len && s[i] == '[' && weft__json_valid(s, len);
}

static void apply_message(weft__rec *r, unsigned sec, rd *in, weft__buf *scratch)
{
    uint32_t role = get_u32(in);
    uint32_t flags = get_u32(in);
    int64_t ts_us = get_i64(in);
    rstr content = get_str(in), name = get_str(in), call = get_str(in), calls = get_str(in);
    if (in->bad || role > WEFT__ROLE_TOOL || (sec != WEFT_INPUT && sec != WEFT_OUTPUT)) {
        in->bad = true;
        return;
    }
    weft__buf_reset(scratch);
    bool first = true;
    weft__buf_putc(scratch, '{');
    j_key(scratch, &first, "role");
    weft__json_str(scratch, weft__rag_role_names[role], strlen(weft__rag_role_names[role]), 0);
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
    if (calls.present) {
        if (!calls.cut && json_array_text(calls.s, calls.len)) {
            j_key(scratch, &first, "tool_calls");
            weft__json_minify(scratch, calls.s, calls.len);
        } else {
            weft__stat_add(invalid_json, 1);
        }
    }
    if ((flags & MSG_HAS_TIMESTAMP) && ts_us > 0) {
        char t[40];
        j_key(scratch, &first, "timestamp");
        weft__buf_append(scratch, t, (size_t)(weft__json_timestamp_at(t, (uint64_t)ts_us * 1000u) - t));
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

/* ======================================================================================
 * Trace info and span events (weft_span_set_trace_info, weft_span_add_event)
 * ==================================================================================== */

static void set_str_field(weft__rec *r, const char *key, const rstr *v, weft__buf *scratch)
{
    if (!v->present)
        return;
    weft__buf_reset(scratch);
    j_str(scratch, v);
    if (!scratch->oom)
        weft__rec_set(r, WEFT_METADATA, key, strlen(key), scratch->data, scratch->len);
    weft__buf_reset(scratch);
}

static void apply_trace_info(weft__rec *r, rd *in, weft__buf *scratch)
{
    uint32_t kept = get_u32(in), left_out = get_u32(in);
    rstr project_id = get_str(in), project_name = get_str(in), session_id = get_str(in),
         app_name = get_str(in), custom = get_str(in);
    if (in->bad)
        return;
    set_str_field(r, "project_id", &project_id, scratch);
    set_str_field(r, "project_name", &project_name, scratch);
    set_str_field(r, "session_id", &session_id, scratch);
    set_str_field(r, "app_name", &app_name, scratch);
    if (custom.present) {
        if (!custom.cut && weft__json_valid_object(custom.s, custom.len)) {
            weft__buf_reset(scratch);
            weft__json_minify(scratch, custom.s, custom.len);
            if (!scratch->oom)
                weft__rec_set(r, WEFT_METADATA, "custom_fields", 13, scratch->data, scratch->len);
        } else {
            weft__stat_add(invalid_json, 1);
        }
    }
    if (kept == 0 && left_out == 0)
        return;
    weft__buf_reset(scratch);
    weft__buf_putc(scratch, '[');
    bool first = true;
    for (uint32_t i = 0; i < kept && !in->bad; i++) {
        rstr tag = get_str(in);
        if (!tag.present)
            continue; /* a NULL entry */
        if (!first)
            weft__buf_putc(scratch, ',');
        first = false;
        j_str(scratch, &tag);
    }
    weft__buf_putc(scratch, ']');
    if (!in->bad && !scratch->oom)
        weft__rec_set(r, WEFT_METADATA, "tags", 4, scratch->data, scratch->len);
    if (left_out)
        weft__stat_add(truncated_attrs, 1);
    weft__buf_reset(scratch);
}

static void apply_span_event(weft__rec *r, rd *in, const weft__clock *clock, weft__buf *scratch)
{
    uint64_t ticks = get_u64(in);
    rstr name = get_str(in), attrs = get_str(in);
    if (in->bad || !name.present) {
        in->bad = true;
        return;
    }
    weft__buf_reset(scratch);
    bool first = true;
    weft__buf_putc(scratch, '{');
    j_key(scratch, &first, "name");
    j_str(scratch, &name);
    char t[40];
    j_key(scratch, &first, "timestamp");
    weft__buf_append(scratch, t, (size_t)(weft__json_timestamp_at(t, weft__clock_to_unix_ns(clock, ticks)) - t));
    j_key(scratch, &first, "attributes");
    if (!attrs.present) {
        weft__buf_lit(scratch, "{}");
    } else if (!attrs.cut && weft__json_valid_object(attrs.s, attrs.len)) {
        weft__json_minify(scratch, attrs.s, attrs.len);
    } else {
        weft__stat_add(invalid_json, 1); /* kept as the text it is */
        j_str(scratch, &attrs);
    }
    weft__buf_putc(scratch, '}');
    if (!scratch->oom)
        weft__rec_append(r, WEFT_METADATA, "events", 6, scratch->data, scratch->len);
    weft__buf_reset(scratch);
}

void weft__rag_apply_timed(weft__rec *r, const weft__ev *ev, const weft__clock *clock, weft__buf *scratch)
{
    rd in = {(const char *)(ev + 1), (const char *)ev + ev->size, ev->size < sizeof *ev};
    if (!in.bad) {
        if (ev->kind == WEFT__EV_TRACE_INFO)
            apply_trace_info(r, &in, scratch);
        else if (ev->kind == WEFT__EV_SPAN_EVENT)
            apply_span_event(r, &in, clock, scratch);
        else
            in.bad = true;
    }
    weft__buf_reset(scratch);
    if (in.bad)
        weft__internal_error("rag: malformed trace-info or span event");
}
