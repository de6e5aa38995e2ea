/*
 * summary_text.c — the JSON text of a trace summary (see summary_text.h). Field order is
 * DESIGN.md section 5's: duration_ms, span_count, llm_calls, retrieval_calls, tool_calls,
 * input_tokens, output_tokens, total_tokens, total_cost (only when some span had a cost),
 * status.
 */
#include "summary_text.h"

#include <string.h>

#include "json.h"

int64_t weft__summary_total_tokens(const weft__summary_val *v)
{
    int64_t total;
    if (__builtin_add_overflow(v->n.input_tokens, v->n.output_tokens, &total))
        total = INT64_MAX;
    return total;
}

/* Does the cache hold the text after duration_ms for v? Field by field: the counts, and the
 * cost's bits (the same bits give the same text). */
static bool cached(const weft__summary_cache *c, const weft__summary_val *v)
{
    if (!c->len || c->has_cost != v->has_cost || c->error != v->error || c->n.spans != v->n.spans ||
        c->n.llm != v->n.llm || c->n.retrieval != v->n.retrieval || c->n.tool != v->n.tool ||
        c->n.input_tokens != v->n.input_tokens || c->n.output_tokens != v->n.output_tokens)
        return false;
    uint64_t bits = 0;
    if (v->has_cost)
        memcpy(&bits, &v->cost, sizeof bits);
    return c->cost_bits == bits;
}

#define PUT(p, lit) (memcpy((p), "" lit "", sizeof(lit) - 1), (p) += sizeof(lit) - 1)

/* The fixed keys and counts after duration_ms, written in place into room reserved for the
 * widest; the cost, a double, through the buffer. */
static void write_tail(weft__buf *b, const weft__summary_val *v)
{
    const struct {
        const char *lit;
        size_t len;
        int64_t n; /* the counts are 32-bit: exact here */
    } fields[] = {
#define FIELD(lit, x) {lit, sizeof(lit) - 1, x}
        FIELD(",\"span_count\":", v->n.spans),           FIELD(",\"llm_calls\":", v->n.llm),
        FIELD(",\"retrieval_calls\":", v->n.retrieval),  FIELD(",\"tool_calls\":", v->n.tool),
        FIELD(",\"input_tokens\":", v->n.input_tokens), FIELD(",\"output_tokens\":", v->n.output_tokens),
        FIELD(",\"total_tokens\":", weft__summary_total_tokens(v)),
#undef FIELD
    };
    if (!weft__buf_reserve(b, 128 + 7 * WEFT__JSON_I64_MAX))
        return;
    char *p = b->data + b->len;
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        memcpy(p, fields[k].lit, fields[k].len);
        p = weft__json_i64_at(p + fields[k].len, fields[k].n);
    }
    if (v->has_cost) {
        PUT(p, ",\"total_cost\":");
        b->len = (size_t)(p - b->data);
        weft__json_f64(b, v->cost);
        if (!weft__buf_reserve(b, 24))
            return;
        p = b->data + b->len;
    }
    if (v->error)
        PUT(p, ",\"status\":\"ERROR\"}");
    else
        PUT(p, ",\"status\":\"SUCCESS\"}");
    b->len = (size_t)(p - b->data);
}

void weft__summary_json(weft__buf *b, const weft__summary_val *v, weft__summary_cache *cache)
{
    if (!weft__buf_reserve(b, 16 + WEFT__JSON_MS_MAX + WEFT__SUMMARY_TAIL_MAX))
        return;
    char *p = b->data + b->len;
    PUT(p, "{\"duration_ms\":");
    p = weft__json_ms_at(p, v->duration_ns);
    b->len = (size_t)(p - b->data);
    if (!cache) {
        write_tail(b, v);
        return;
    }
    if (cached(cache, v)) {
        memcpy(p, cache->tail, cache->len); /* room reserved above */
        b->len += cache->len;
        return;
    }
    size_t at = b->len;
    write_tail(b, v);
    size_t len = b->len - at;
    cache->len = 0;
    if (!b->oom && len <= WEFT__SUMMARY_TAIL_MAX) {
        cache->n = v->n;
        cache->cost_bits = 0;
        if (v->has_cost)
            memcpy(&cache->cost_bits, &v->cost, sizeof cache->cost_bits);
        cache->has_cost = v->has_cost;
        cache->error = v->error;
        memcpy(cache->tail, b->data + at, len);
        cache->len = len;
    }
}
