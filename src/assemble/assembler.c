/*
 * assembler.c — events to span records (see assembler.h for the round discipline).
 */
#include "assembler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "msgpack_json.h"
#include "llm_http.h"
#include "rag.h"
#include "runtime.h"

#define NOT_AN_ID UINT64_MAX /* refused with 0, as the producer never makes either */
#define MIN_CAP 1024u

/* ---- records pool ------------------------------------------------------------------- */

static bool vec_push(weft__recvec *v, weft__rec *r)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        weft__rec **p = realloc(v->v, cap * sizeof(*p));
        if (!p)
            return false;
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = r;
    return true;
}

static weft__rec *rec_get(weft__asm *a)
{
    if (a->pool.n) {
        weft__rec *r = a->pool.v[--a->pool.n];
        weft__rec_reset(r);
        return r;
    }
    weft__rec *r = malloc(sizeof(*r));
    if (r)
        weft__rec_init(r);
    return r;
}

static void rec_put(weft__asm *a, weft__rec *r)
{
    /* Keep a bounded pool (enough for the records of a few busy rounds: at 1 M spans/s a
     * round every ~3 ms holds ~3,500 ended spans); a record that grew huge gives its memory
     * back. */
    if (a->pool.n >= 32768 || r->attrs.cap > (1u << 20) || !vec_push(&a->pool, r)) {
        weft__rec_fini(r);
        free(r);
    }
}

/* ---- open-span table ---------------------------------------------------------------- */

static size_t slot_of(const weft__asm *a, uint64_t id)
{
    return (size_t)((id * 0x9e3779b97f4a7c15u) >> 17) & (a->cap - 1);
}

static weft__rec *lookup(weft__asm *a, uint64_t id)
{
    if (id == a->last_id)
        return a->last_rec;
    for (size_t i = slot_of(a, id);; i = (i + 1) & (a->cap - 1)) {
        if (a->tab[i].id == id) {
            a->last_id = id;
            a->last_rec = a->tab[i].rec;
            return a->tab[i].rec;
        }
        if (a->tab[i].id == 0)
            return NULL;
    }
}

static bool rehash(weft__asm *a, size_t cap)
{
    weft__asm_slot *old = a->tab;
    size_t old_cap = a->cap;
    weft__asm_slot *tab = calloc(cap, sizeof(*tab));
    if (!tab)
        return false;
    a->tab = tab;
    a->cap = cap;
    for (size_t i = 0; i < old_cap; i++) {
        if (old[i].id == 0)
            continue;
        size_t j = slot_of(a, old[i].id);
        while (tab[j].id)
            j = (j + 1) & (cap - 1);
        tab[j] = old[i];
    }
    free(old);
    return true;
}

/* The slot a new id goes into (the empty one that ends its probe run), or SIZE_MAX when id
 * is in the table already: one probe for both questions. */
static size_t probe_new(const weft__asm *a, uint64_t id)
{
    for (size_t i = slot_of(a, id);; i = (i + 1) & (a->cap - 1)) {
        uint64_t x = a->tab[i].id;
        if (x == id)
            return SIZE_MAX;
        if (x == 0)
            return i;
    }
}

/* Makes room for one more id (doubling when the load would pass 0.7); false when memory is
 * short. */
static bool room_for_one(weft__asm *a)
{
    if ((a->count + 1) * 10 > a->cap * 7 && !rehash(a, a->cap * 2))
        return false;
    return true;
}

/* Puts id at slot i, found by probe_new. */
static void place(weft__asm *a, size_t i, uint64_t id, weft__rec *r)
{
    a->tab[i].id = id;
    a->tab[i].rec = r;
    a->count++;
    a->last_id = id;
    a->last_rec = r;
}

/* Backward-shift deletion: the later members of the probe run move up into the hole, so the
 * table never fills with deleted slots and never has to be rebuilt for them (each span is
 * put in and taken out once). Nothing iterates the table while erasing. */
static void erase(weft__asm *a, uint64_t id)
{
    if (a->last_id == id)
        a->last_id = 0;
    size_t mask = a->cap - 1, hole = slot_of(a, id);
    while (a->tab[hole].id != id) {
        if (a->tab[hole].id == 0)
            return;
        hole = (hole + 1) & mask;
    }
    a->count--;
    for (size_t i = (hole + 1) & mask; a->tab[i].id; i = (i + 1) & mask) {
        size_t home = slot_of(a, a->tab[i].id);
        /* i stays unless its home lies cyclically in (hole, i]. */
        bool stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
        if (!stays) {
            a->tab[hole] = a->tab[i];
            hole = i;
        }
    }
    a->tab[hole].id = 0;
    a->tab[hole].rec = NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

int weft__asm_init(weft__asm *a, weft__clock *clock, weft__emit_fn emit, void *ctx)
{
    memset(a, 0, sizeof(*a));
    a->cap = MIN_CAP;
    a->tab = calloc(a->cap, sizeof(*a->tab));
    a->summaries = weft__summaries_new();
    if (!a->tab || !a->summaries) {
        free(a->tab);
        weft__summaries_free(a->summaries);
        return WEFT_ENOMEM;
    }
    a->round = 1; /* round 0 would be "before everything" for the frontier's arithmetic */
    a->clock = clock;
    a->emit = emit;
    a->emit_ctx = ctx;
    a->max_open = weft__rt.cfg.max_open_spans;
    a->inprogress_after_ms = weft__rt.cfg.inprogress_after_ms;
    a->max_attr_bytes = weft__rt.cfg.max_attr_bytes;
    weft__buf_init(&a->parked);
    weft__buf_init(&a->reparked);
    weft__buf_init(&a->scratch);
    return 0;
}

void weft__asm_fini(weft__asm *a)
{
    for (size_t i = 0; i < a->cap; i++) {
        if (a->tab[i].id) {
            weft__rec_fini(a->tab[i].rec);
            free(a->tab[i].rec);
        }
    }
    free(a->tab);
    for (size_t i = 0; i < a->pool.n; i++) {
        weft__rec_fini(a->pool.v[i]);
        free(a->pool.v[i]);
    }
    free(a->pool.v);
    free(a->ended.v); /* its records are still in the table, freed above */
    free(a->final.v);
    free(a->fifo);
    weft__buf_fini(&a->parked);
    weft__buf_fini(&a->reparked);
    weft__buf_fini(&a->scratch);
    weft__summaries_free(a->summaries);
    memset(a, 0, sizeof(*a));
}

/* ---- events ------------------------------------------------------------------------- */

static void fifo_push(weft__asm *a, weft__rec *r)
{
    if (a->fifo_n == a->fifo_cap) {
        size_t cap = a->fifo_cap ? a->fifo_cap * 2 : 1024;
        weft__asm_open *f = malloc(cap * sizeof(*f));
        if (!f)
            return; /* this span is upserted when it ends, not before */
        for (size_t i = 0; i < a->fifo_n; i++)
            f[i] = a->fifo[(a->fifo_head + i) % a->fifo_cap];
        free(a->fifo);
        a->fifo = f;
        a->fifo_cap = cap;
        a->fifo_head = 0;
    }
    uint64_t due = r->start_ns + (uint64_t)a->inprogress_after_ms * 1000000u;
    a->fifo[(a->fifo_head + a->fifo_n) % a->fifo_cap] = (weft__asm_open){r, r->id, due};
    a->fifo_n++;
}

static void on_begin(weft__asm *a, const weft__ev_begin *e)
{
    size_t at = probe_new(a, e->h.span);
    if (at == SIZE_MAX) {
        weft__stat_add(noop_calls, 1); /* a 64-bit id collision: keep the first span */
        return;
    }
    if (a->count >= a->max_open) {
        weft__stat_add(dropped_open, 1);
        return;
    }
    if ((a->count + 1) * 10 > a->cap * 7) {
        if (!room_for_one(a)) {
            weft__stat_add(dropped_open, 1);
            return;
        }
        at = probe_new(a, e->h.span); /* the table was rebuilt */
    }
    weft__rec *r = rec_get(a);
    if (!r) {
        weft__stat_add(dropped_open, 1);
        return;
    }
    place(a, at, e->h.span, r);
    r->id = e->h.span;
    r->trace = e->trace;
    r->parent = e->parent;
    r->type = e->type < WEFT_TYPE_COUNT_ ? e->type : WEFT_TYPE_CUSTOM;
    r->start_ns = weft__clock_to_unix_ns(a->clock, e->ticks);
    const char *p = (const char *)(e + 1);
    if (e->flags & (WEFT__EVF_TRACE_LO | WEFT__EVF_REMOTE)) {
        /* A trace from another process (event.h); remote_trace even when trace_lo XOR the
         * salt happened to be 0 (then it is the salt). */
        uint64_t x = 0;
        if (e->flags & WEFT__EVF_TRACE_LO) {
            memcpy(&x, p, 8);
            p += 8;
        }
        r->remote_trace = true;
        r->trace_lo = x ^ weft__rt.salt_hi;
        if (e->flags & WEFT__EVF_REMOTE) {
            uint32_t ts_len;
            memcpy(&ts_len, p, 4);
            weft__buf_append(&r->tracestate, p + 8, ts_len);
            p += 8 + ts_len;
            r->remote_parent = r->parent;
            r->parent = 0;
        }
    }
    if (e->flags & WEFT__EVF_SITE)
        weft__buf_append(&r->name, e->site->name, e->site->name_len);
    else
        weft__buf_append(&r->name, p, e->name_len);
    weft__stat_add(open_spans, 1);
    if (r->parent == 0)
        weft__summary_root_begin(a->summaries, r);
    if (a->want_inprogress && a->inprogress_after_ms >= 0)
        fifo_push(a, r);
}

/* The open root of r's trace, found by walking r's parents through the open-span table (a
 * parent that already left it, or a chain deeper than 64, gives NULL: the summary then waits
 * for the root's begin). weft__summary_root_fn, called for a trace's first ended span only. */
static const weft__rec *root_of(void *ctx, const weft__rec *r)
{
    weft__asm *a = ctx;
    for (int depth = 0; depth < 64 && r->parent; depth++) {
        r = lookup(a, r->parent);
        if (!r)
            return NULL;
    }
    return r->parent == 0 ? r : NULL;
}

/* round and src: where the end was read (a parked end's own tag, not the round of its retry:
 * what happened before the end is read once every other ring is read past that point, and a
 * flush waits for exactly that). */
static void on_end(weft__asm *a, weft__rec *r, const weft__ev_end *e, uint64_t round, uint32_t src)
{
    if (r->end_ns) {
        weft__stat_add(noop_calls, 1); /* a second end */
        return;
    }
    uint64_t end = weft__clock_to_unix_ns(a->clock, e->ticks);
    r->end_ns = end > r->start_ns ? end : r->start_ns; /* end >= start, always */
    if (r->end_ns == 0)
        r->end_ns = 1;
    weft__stat_add(ended, 1);
    if (r->parent)
        weft__summary_span_end(a->summaries, r, root_of, a);
    if (a->ended.n == a->ended.cap) {
        size_t cap = a->ended.cap ? a->ended.cap * 2 : 256;
        weft__asm_ended *v = realloc(a->ended.v, cap * sizeof(*v));
        if (!v) {
            weft__internal_error("out of memory in the assembler");
            return;
        }
        a->ended.v = v;
        a->ended.cap = cap;
    }
    /* The list stays in round order (finalize_ended stops at the first round not yet final):
     * a parked end applied late goes before the ends read after it. */
    size_t i = a->ended.n++;
    while (i && a->ended.v[i - 1].round > round) {
        a->ended.v[i] = a->ended.v[i - 1];
        i--;
    }
    a->ended.v[i] = (weft__asm_ended){r, round, src};
}

/* Counts what making a string value repaired or cut. */
static void count_text(unsigned f)
{
    if (f & WEFT__JSON_TRUNCATED)
        weft__stat_add(truncated_attrs, 1);
    if (f & WEFT__JSON_REPAIRED)
        weft__stat_add(repaired_utf8, 1);
}

/* The rest of set_text: the value repaired, cut and marked in scratch first (weft__rec_text). */
__attribute__((noinline)) static void set_text_repaired(weft__asm *a, weft__rec *r, weft_section sec,
                                                        const char *key, size_t key_len, const char *v, size_t len,
                                                        uint64_t orig_len)
{
    weft__buf *s = &a->scratch;
    count_text(weft__rec_text(s, v, len, orig_len, (size_t)a->max_attr_bytes));
    if (!s->oom)
        weft__rec_set_str(r, sec, key, key_len, s->data, s->len);
}

/* A string attribute: stored as it came when it is whole, valid and within max_attr_bytes (the
 * common case, no copy, checked inline); otherwise repaired, cut and marked first. */
static inline void set_text(weft__asm *a, weft__rec *r, weft_section sec, const char *key, size_t key_len,
                            const char *v, size_t len, uint64_t orig_len)
{
    size_t max = (size_t)a->max_attr_bytes;
    if (orig_len <= len && (!max || len <= max) && weft__utf8_valid_inline(v, len))
        weft__rec_set_str(r, sec, key, key_len, v, len);
    else
        set_text_repaired(a, r, sec, key, key_len, v, len, orig_len);
}

static void on_attr(weft__asm *a, weft__rec *r, const weft__ev_attr *e)
{
    const char *key = (const char *)(e + 1);
    const char *val = key + e->key_len;
    weft_section sec = (weft_section)e->h.aux;
    weft__buf *s = &a->scratch;
    weft__buf_reset(s);
    switch (e->vtype) {
    case WEFT__V_STR:
        set_text(a, r, sec, key, e->key_len, val, e->val_len, e->orig_len);
        return;
    case WEFT__V_I64:
        weft__rec_set_i64(r, sec, key, e->key_len, e->v.i);
        return;
    case WEFT__V_F64:
        weft__rec_set_f64(r, sec, key, e->key_len, e->v.f);
        return;
    case WEFT__V_BOOL:
        weft__rec_set_bool(r, sec, key, e->key_len, e->v.i != 0);
        return;
    case WEFT__V_JSON:
        if (weft__json_valid(val, e->val_len) && e->val_len <= a->max_attr_bytes) {
            weft__json_minify(s, val, e->val_len); /* a newline would break a JSONL record */
        } else {
            /* Kept as the text it is, so nothing the caller sent is lost. */
            weft__stat_add(invalid_json, 1);
            set_text(a, r, sec, key, e->key_len, val, e->val_len, e->orig_len);
            return;
        }
        break;
    case WEFT__V_MSGPACK:
        if (!weft__msgpack_to_json(s, val, e->val_len, a->max_attr_bytes)) {
            weft__stat_add(invalid_json, 1);
            weft__buf_reset(s);
            weft__json_base64(s, val, e->val_len);
        }
        break;
    default:
        weft__internal_error("attribute event of an unknown value type");
        return;
    }
    if (!s->oom)
        weft__rec_set(r, sec, key, e->key_len, s->data, s->len);
}

static void on_error(weft__asm *a, weft__rec *r, const weft__ev_error *e)
{
    const char *type = (const char *)(e + 1);
    weft__buf *s = &a->scratch;
    weft__buf_reset(s);
    r->status = WEFT_STATUS_ERROR;
    weft__buf_putc(s, '{');
    bool any = false;
    if (e->type_len) {
        weft__buf_lit(s, "\"type\":");
        weft__json_str(s, type, e->type_len, a->max_attr_bytes);
        any = true;
    }
    if (e->msg_len) {
        if (any)
            weft__buf_putc(s, ',');
        weft__buf_lit(s, "\"message\":");
        weft__json_str(s, type + e->type_len, e->msg_len, a->max_attr_bytes);
    }
    weft__buf_putc(s, '}');
    if (!s->oom)
        weft__rec_set(r, WEFT_METADATA, "error", 5, s->data, s->len);
}

/* What a parked event is stored after: when and where it was read (16 bytes, so the event
 * after it stays 8-byte aligned). */
typedef struct park_tag {
    uint64_t round;
    uint32_t src, reserved;
} park_tag;

static void park(weft__buf *to, const weft__ev *ev, uint64_t round, uint32_t src)
{
    park_tag t = {round, src, 0};
    weft__buf_append(to, &t, sizeof(t));
    weft__buf_append(to, ev, ev->size);
}

/* The lengths inside an event must fit in its size: the ring's producer is this process, so
 * a mismatch is an internal inconsistency (and what the ring-event fuzzer feeds us). */
static bool well_formed(const weft__ev *ev)
{
    size_t size = ev->size;
    if (ev->span == 0 || ev->span == NOT_AN_ID)
        return false; /* never span ids: 0 marks an empty slot, and the producer makes neither */
    switch (ev->kind) {
    case WEFT__EV_BEGIN: {
        const weft__ev_begin *e = (const weft__ev_begin *)ev;
        if (size < sizeof(*e))
            return false;
        uint64_t room = size - sizeof(*e); /* bytes after the struct: blocks, then the name */
        if (e->flags & WEFT__EVF_TRACE_LO) {
            if (room < 8)
                return false;
            room -= 8;
        }
        if (e->flags & WEFT__EVF_REMOTE) {
            uint32_t ts_len;
            if (room < 8)
                return false;
            memcpy(&ts_len, (const char *)(e + 1) + (size - sizeof(*e) - room), 4);
            if (ts_len > room - 8)
                return false;
            room -= 8 + (uint64_t)ts_len;
        }
        return (e->flags & WEFT__EVF_SITE) || e->name_len <= room;
    }
    case WEFT__EV_END:
        return size >= sizeof(weft__ev_end);
    case WEFT__EV_ATTR: {
        const weft__ev_attr *e = (const weft__ev_attr *)ev;
        return size >= sizeof(*e) && (uint64_t)e->key_len + e->val_len <= size - sizeof(*e);
    }
    case WEFT__EV_ERROR: {
        const weft__ev_error *e = (const weft__ev_error *)ev;
        return size >= sizeof(*e) && (uint64_t)e->type_len + e->msg_len <= size - sizeof(*e);
    }
    case WEFT__EV_FIELD:
        return size >= sizeof(*ev) + 4 && *(const uint32_t *)(ev + 1) <= size - sizeof(*ev) - 4;
    default:
        return true; /* STATUS has no payload; RAG payloads are checked by rag_map.c */
    }
}

/* Applies one event; false when it is about a span not known (yet), which the caller parks
 * or counts. */
/* round and src: where ev was read (see on_end). */
static bool dispatch(weft__asm *a, const weft__ev *ev, uint64_t round, uint32_t src)
{
    if (!well_formed(ev)) {
        weft__internal_error("malformed ring event");
        return true;
    }
    if (ev->kind == WEFT__EV_BEGIN) {
        on_begin(a, (const weft__ev_begin *)ev);
        return true;
    }
    weft__rec *r = lookup(a, ev->span);
    if (!r)
        return false;
    switch (ev->kind) {
    case WEFT__EV_END:
        on_end(a, r, (const weft__ev_end *)ev, round, src);
        break;
    case WEFT__EV_ATTR:
        on_attr(a, r, (const weft__ev_attr *)ev);
        break;
    case WEFT__EV_STATUS:
        r->status = ev->aux <= WEFT_STATUS_CANCELED ? ev->aux : WEFT_STATUS_ERROR;
        break;
    case WEFT__EV_ERROR:
        on_error(a, r, (const weft__ev_error *)ev);
        break;
    case WEFT__EV_FIELD:
        if (ev->aux < 3) {
            const uint32_t *p = (const uint32_t *)(ev + 1);
            weft__buf_reset(&r->fields[ev->aux]);
            weft__buf_append(&r->fields[ev->aux], p + 1, *p);
        }
        break;
    default:
        if (ev->kind >= WEFT__EV_RETRIEVAL && ev->kind <= WEFT__EV_MESSAGE)
            weft__rag_apply(r, ev, &a->scratch);
        else if (ev->kind == WEFT__EV_LLM_REQUEST || ev->kind == WEFT__EV_LLM_RESPONSE)
            weft__llm_apply(r, ev, a->clock, &a->scratch);
        else if (ev->kind == WEFT__EV_TRACE_INFO || ev->kind == WEFT__EV_SPAN_EVENT)
            weft__rag_apply_timed(r, ev, a->clock, &a->scratch);
        else
            weft__internal_error("event of an unknown kind");
        break;
    }
    return true;
}

void weft__asm_event(void *ctx, const weft__ev *ev)
{
    weft__asm *a = ctx;
    if (!dispatch(a, ev, a->round, a->src))
        park(&a->parked, ev, a->round, a->src);
}

/* ---- emission ----------------------------------------------------------------------- */

static void emit_inprogress(weft__asm *a, weft__rec *r)
{
    uint64_t end = r->end_ns;
    r->end_ns = 0;
    r->announced = true;
    a->emit(a->emit_ctx, r, false);
    r->end_ns = end;
}

/* Parents first (DESIGN.md section 4): before a record goes out, every open ancestor the
 * exporters have not seen yet goes out in progress, root first. */
static void announce_ancestors(weft__asm *a, const weft__rec *r)
{
    weft__rec *chain[64];
    size_t n = 0;
    uint64_t p = r->parent;
    while (p && n < 64) {
        weft__rec *pr = lookup(a, p);
        if (!pr || pr->announced)
            break;
        chain[n++] = pr;
        p = pr->parent;
    }
    while (n)
        emit_inprogress(a, chain[--n]);
}

static void finalize(weft__asm *a, weft__rec *r)
{
    erase(a, r->id);
    weft__stat_sub(open_spans, 1);
    if (r->needs_retrieval_latency || r->needs_generation_latency)
        weft__rag_on_end(r, &a->scratch);
    if (r->parent == 0)
        weft__summary_root_end(a->summaries, r, &a->scratch);
    if (a->want_inprogress)
        announce_ancestors(a, r);
    a->emit(a->emit_ctx, r, false);
    rec_put(a, r);
}

/* Is an item of round `round` read from ring `src` final under f (assembler.h)? */
static inline bool is_final(const weft__asm_frontier *f, uint64_t round, uint32_t src)
{
    return round < (src == f->min_src ? f->min2 : f->min);
}

/* Parked events of earlier rounds get their retry: applied when their span is known now;
 * counted as no-ops when it is still unknown and final (a span that ended long ago, or never
 * began); parked again, with their first tag, otherwise. */
static void retry_parked(weft__asm *a, const weft__asm_frontier *f)
{
    if (!a->parked.len)
        return;
    weft__buf tmp = a->parked;
    a->parked = a->reparked; /* empty: events parked again go here, in their order */
    for (size_t pos = 0; pos < tmp.len;) {
        park_tag t;
        memcpy(&t, tmp.data + pos, sizeof(t));
        const weft__ev *ev = (const weft__ev *)(tmp.data + pos + sizeof(t));
        pos += sizeof(t) + ev->size;
        if (t.round < a->round && dispatch(a, ev, t.round, t.src))
            continue; /* parked in an earlier round (its first retry comes a round later) */
        if (is_final(f, t.round, t.src))
            weft__stat_add(noop_calls, 1);
        else
            park(&a->parked, ev, t.round, t.src);
    }
    weft__buf_reset(&tmp);
    a->reparked = tmp;
}

/* Records ended a round ago or more are cold, and so are their slots in the open-span table
 * (and, for roots, in the summaries): each is a cache miss at a random place. Fetch records
 * eight ahead of their use and, once a record is in, its slots four ahead. */
static void prefetch_ahead(const weft__asm *a, const weft__recvec *v, size_t i, bool roots)
{
    if (i + 8 < v->n && v->v[i + 8])
        __builtin_prefetch(v->v[i + 8]);
    const weft__rec *r = i + 4 < v->n ? v->v[i + 4] : NULL;
    if (r) {
        __builtin_prefetch(&a->tab[slot_of(a, r->id)]);
        if (roots && r->parent == 0)
            weft__summary_prefetch(a->summaries, r->trace);
    }
}

/* Emits the ended spans that are final under f, in the order they ended; the others stay, in
 * order. The list is in round order, so the walk stops at the first round nothing of which
 * can be final. */
static void finalize_ended(weft__asm *a, const weft__asm_frontier *f)
{
    weft__endedvec *e = &a->ended;
    weft__recvec *v = &a->final;
    uint64_t last = f->min2 > f->min ? f->min2 : f->min; /* rounds below this may be final */
    size_t i = 0, kept = 0;
    v->n = 0;
    for (; i < e->n && e->v[i].round < last; i++) {
        if (is_final(f, e->v[i].round, e->v[i].src)) {
            if (!vec_push(v, e->v[i].rec)) {
                e->v[kept++] = e->v[i]; /* out of memory: it waits for the next round */
                continue;
            }
        } else {
            e->v[kept++] = e->v[i];
        }
    }
    if (kept != i) {
        memmove(e->v + kept, e->v + i, (e->n - i) * sizeof(*e->v));
        e->n -= i - kept;
    }
    for (size_t k = 0; k < 8 && k < v->n; k++)
        __builtin_prefetch(v->v[k]);
    /* Non-roots first, so a root's summary counts children that ended in the same round. */
    for (size_t k = 0; k < v->n; k++) {
        prefetch_ahead(a, v, k, false);
        if (v->v[k]->parent != 0) {
            finalize(a, v->v[k]);
            v->v[k] = NULL; /* recycled: not to be read again */
        }
    }
    for (size_t k = 0; k < v->n; k++) {
        prefetch_ahead(a, v, k, true);
        if (v->v[k])
            finalize(a, v->v[k]);
    }
    v->n = 0;
}

void weft__asm_round_end_at(weft__asm *a, uint64_t now_ns, const weft__asm_frontier *f)
{
    retry_parked(a, f);
    finalize_ended(a, f);
    a->round++;
    while (a->fifo_n) {
        weft__asm_open *o = &a->fifo[a->fifo_head];
        weft__rec *r = lookup(a, o->id);
        if (r == o->rec && r && !r->end_ns && !r->announced) {
            if (o->due_ns > now_ns)
                break;
            announce_ancestors(a, r);
            emit_inprogress(a, r);
        }
        a->fifo_head = (a->fifo_head + 1) % a->fifo_cap;
        a->fifo_n--;
    }
}

void weft__asm_round_end(weft__asm *a, uint64_t now_ns)
{
    /* Every ring was read up to a head of this round: what was read before it is final. */
    weft__asm_frontier f = {a->round, a->round, UINT32_MAX};
    weft__asm_round_end_at(a, now_ns, &f);
}

void weft__asm_finish(weft__asm *a)
{
    /* Two rounds with no new events: parked events get their retry, ended spans go out. */
    weft__asm_round_end(a, 0);
    weft__asm_round_end(a, 0);
    for (size_t i = 0; i < a->cap; i++) {
        if (a->tab[i].id == 0)
            continue;
        weft__rec *r = a->tab[i].rec;
        if (r->parent == 0)
            weft__summary_forget(a->summaries, r->trace);
        if (a->want_inprogress)
            announce_ancestors(a, r);
        r->announced = true;
        a->emit(a->emit_ctx, r, true);
    }
}
