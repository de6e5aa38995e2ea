/*
 * otlp_span.c — a record's OTLP Span (weft__otlp_encode_span; the mapping is otlp.h's), written
 * as protobuf wire bytes straight into the batch: tags, varints and fixed-width numbers as the
 * fields come, each nested message's length once its body is written (pb_wire.h), fields in
 * the order of their numbers, proto3 defaults left out — the bytes protobuf-c's packer wrote
 * when weft built the message from its generated structs. That encoder is kept as the
 * reference (tests/support/otlp_ref.c), and tests/fuzz/fuzz_otlp_span.c checks that the two
 * agree byte for byte on arbitrary records; field numbers are those of proto/ (the OTLP
 * specification's). Written by hand for speed: the struct-building encoder cost 13,400
 * instructions per span, this one about 1,130 (bench/RESULTS.md).
 *
 * JSON values go through otlp_value.c. jansson is still used where the mapping rebuilds a
 * value (GenAI messages and documents, the error message of an ERROR status), which the
 * common span does not have. Export thread only; every pointer is borrowed for the call.
 */
#include "otlp.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "otlp_value.h"
#include "pb_wire.h"

/* ScopeSpans.spans = 2: the tag of an item (otlp.h). */
#define T_ITEM WEFT__PB_TAG(2, WEFT__PB_LEN)
/* Span (trace.proto). */
#define T_TRACE_ID WEFT__PB_TAG(1, WEFT__PB_LEN)
#define T_SPAN_ID WEFT__PB_TAG(2, WEFT__PB_LEN)
#define T_TRACE_STATE WEFT__PB_TAG(3, WEFT__PB_LEN)
#define T_PARENT WEFT__PB_TAG(4, WEFT__PB_LEN)
#define T_NAME WEFT__PB_TAG(5, WEFT__PB_LEN)
#define T_KIND WEFT__PB_TAG(6, WEFT__PB_VARINT)
#define T_START WEFT__PB_TAG(7, WEFT__PB_I64)
#define T_END WEFT__PB_TAG(8, WEFT__PB_I64)
#define T_ATTR WEFT__PB_TAG(9, WEFT__PB_LEN)
#define T_EVENT WEFT__PB_TAG(11, WEFT__PB_LEN)
#define T_STATUS WEFT__PB_TAG(15, WEFT__PB_LEN)
/* flags = 16 (fixed32): (16 << 3) | 5 = 133, two bytes as a varint. */
#define T_FLAGS_0 0x85
#define T_FLAGS_1 0x01
/* Status. */
#define T_ST_MESSAGE WEFT__PB_TAG(2, WEFT__PB_LEN)
#define T_ST_CODE WEFT__PB_TAG(3, WEFT__PB_VARINT)
/* KeyValue, AnyValue, ArrayValue (common.proto). */
#define T_KEY WEFT__PB_TAG(1, WEFT__PB_LEN)
#define T_VALUE WEFT__PB_TAG(2, WEFT__PB_LEN)
#define T_AV_STRING WEFT__PB_TAG(1, WEFT__PB_LEN)
#define T_AV_BOOL WEFT__PB_TAG(2, WEFT__PB_VARINT)
#define T_AV_INT WEFT__PB_TAG(3, WEFT__PB_VARINT)
#define T_AV_DOUBLE WEFT__PB_TAG(4, WEFT__PB_I64)
#define T_AV_ARRAY WEFT__PB_TAG(5, WEFT__PB_LEN)
#define T_AV_KVLIST WEFT__PB_TAG(6, WEFT__PB_LEN)
#define T_VALUES WEFT__PB_TAG(1, WEFT__PB_LEN)

/* SpanKind and Status.StatusCode values; SpanFlags bits (trace.proto). */
#define KIND_INTERNAL 1
#define KIND_SERVER 2
#define KIND_CLIENT 3
#define STATUS_CODE_ERROR 2
#define FLAG_SAMPLED 0x01u
#define FLAG_HAS_IS_REMOTE 0x100u
#define FLAG_IS_REMOTE 0x200u

typedef weft__rec_entry ent;

typedef struct text {
    const char *s;
    size_t len;
} text;

#define TEXT(lit) {lit, sizeof(lit) - 1}
static const text type_names[] = {
#define WEFT_OTLP_TYPE_(name) TEXT(#name),
    WEFT_SPAN_TYPE_MAP(WEFT_OTLP_TYPE_)
#undef WEFT_OTLP_TYPE_
};
static const text status_names[] = {TEXT("SUCCESS"), TEXT("ERROR"), TEXT("CANCELED")};
static const text prefixes[3] = {TEXT("input."), TEXT("output."), TEXT("metadata.")};

/* ---- the entries of a record, de-duplicated ------------------------------------------------------- */

#define SMALL 32 /* up to this many entries, repeated keys are found pairwise */
#define NONE UINT32_MAX

/* The same rule as the SGP item's (encode.c): the last set or remove of a key wins (a remove
 * writes nothing); appends are gathered, in order, into one array at the first of them unless
 * the key is also set or removed. */
typedef struct ents {
    ent *v;
    uint32_t *next; /* the key's next append after an append (NONE: the last) */
    uint8_t *shown; /* 1: this entry writes its key */
    size_t n, cap;
    bool repeats; /* some key occurs twice, or an entry is a remove: shown and next are set */
    ent small[SMALL];
    uint32_t next_small[SMALL];
    uint8_t shown_small[SMALL];
} ents;

static bool same_key(const ent *x, const ent *y)
{
    return x->sec == y->sec && x->key_len == y->key_len && memcmp(x->key, y->key, x->key_len) == 0;
}

static uint64_t key_hash(const ent *e)
{
    uint64_t h = 0xcbf29ce484222325u ^ (uint64_t)e->sec; /* FNV-1a */
    for (size_t i = 0; i < e->key_len; i++)
        h = (h ^ (unsigned char)e->key[i]) * 0x100000001b3u;
    return h ^ (h >> 29);
}

/* Groups the entries by key through a hash table (records with more than SMALL entries). */
static bool plan(ents *c)
{
    size_t n = c->n, m = 64;
    while (m < 2 * n)
        m *= 2;
    typedef struct group {
        uint32_t rep, last_override, first_append, last_append;
    } group;
    uint32_t *table = calloc(m, sizeof *table), *grp = malloc(n * sizeof *grp);
    group *g = malloc(n * sizeof *g);
    bool ok = table && grp && g;
    uint32_t ng = 0;
    for (size_t i = 0; ok && i < n; i++) {
        const ent *e = &c->v[i];
        size_t at = key_hash(e) & (m - 1);
        while (table[at] && !same_key(e, &c->v[g[table[at] - 1].rep]))
            at = (at + 1) & (m - 1);
        if (!table[at]) {
            table[at] = ++ng;
            g[ng - 1] = (group){(uint32_t)i, NONE, NONE, NONE};
        }
        group *k = &g[table[at] - 1];
        grp[i] = table[at] - 1;
        c->next[i] = NONE;
        if (e->kind == WEFT__ENT_APPEND) {
            if (k->first_append == NONE)
                k->first_append = (uint32_t)i;
            else
                c->next[k->last_append] = (uint32_t)i;
            k->last_append = (uint32_t)i;
        } else {
            k->last_override = (uint32_t)i;
        }
    }
    for (size_t i = 0; ok && i < n; i++) {
        const group *k = &g[grp[i]];
        int kind = c->v[i].kind;
        c->shown[i] = kind == WEFT__ENT_SET      ? k->last_override == i
                      : kind == WEFT__ENT_APPEND ? k->last_override == NONE && k->first_append == i
                                                 : 0;
    }
    free(table);
    free(grp);
    free(g);
    return ok;
}

/* Fills c from r; false when memory is short. */
static bool collect(ents *c, const weft__rec *r)
{
    c->v = c->small;
    c->next = c->next_small;
    c->shown = c->shown_small;
    c->n = 0;
    c->cap = SMALL;
    c->repeats = false;
    size_t pos = 0;
    ent e;
    while (weft__rec_next(r, &pos, &e)) {
        if (c->n == c->cap) {
            size_t cap = c->cap * 2;
            ent *v = malloc(cap * sizeof *v);
            uint32_t *next = malloc(cap * sizeof *next);
            uint8_t *shown = malloc(cap);
            if (!v || !next || !shown) {
                free(v);
                free(next);
                free(shown);
                return false;
            }
            memcpy(v, c->v, c->n * sizeof *v);
            if (c->v != c->small) {
                free(c->v);
                free(c->next);
                free(c->shown);
            }
            c->v = v;
            c->next = next;
            c->shown = shown;
            c->cap = cap;
        }
        c->v[c->n++] = e;
    }
    size_t n = c->n;
    if (!r->repeats)
        return true; /* every (section, key) once and no remove (record.h): nothing to find */
    if (n > SMALL) {
        c->repeats = true;
        return plan(c);
    }
    for (size_t i = 0; i < n && !c->repeats; i++) {
        c->repeats = c->v[i].kind == WEFT__ENT_REMOVE;
        for (size_t j = i + 1; j < n && !c->repeats; j++)
            c->repeats = same_key(&c->v[i], &c->v[j]);
    }
    if (!c->repeats)
        return true;
    for (size_t i = 0; i < n; i++) {
        const ent *x = &c->v[i];
        bool show = x->kind != WEFT__ENT_REMOVE;
        c->next[i] = NONE;
        for (size_t j = 0; j < n && show; j++) {
            if (j == i || !same_key(x, &c->v[j]))
                continue;
            show = x->kind == WEFT__ENT_SET ? !(c->v[j].kind != WEFT__ENT_APPEND && j > i)
                                            : !(c->v[j].kind != WEFT__ENT_APPEND || j < i);
        }
        c->shown[i] = show;
        if (x->kind == WEFT__ENT_APPEND)
            for (size_t j = i + 1; j < n && c->next[i] == NONE; j++)
                if (c->v[j].kind == WEFT__ENT_APPEND && same_key(x, &c->v[j]))
                    c->next[i] = (uint32_t)j;
    }
    return true;
}

static void release(ents *c)
{
    if (c->v != c->small) {
        free(c->v);
        free(c->next);
        free(c->shown);
    }
}

static inline bool shown(const ents *c, size_t i) { return !c->repeats || c->shown[i]; }
static inline uint32_t next_append(const ents *c, size_t i) { return c->repeats ? c->next[i] : NONE; }

/* The written entries the mapping reads beyond their attribute (NULL: none). */
typedef struct special {
    const ent *model, *model_used, *in_msgs, *out_msgs, *query, *top_k, *hits, *error, *events;
} special;

static bool is(const ent *e, weft_section sec, const char *key, size_t len)
{
    return e->sec == sec && memcmp(e->key, key, len) == 0;
}

static void find_special(special *sp, const ent *e)
{
    switch (e->key_len) {
    case 4:
        if (is(e, WEFT_OUTPUT, "hits", 4))
            sp->hits = e;
        break;
    case 5:
        if (is(e, WEFT_METADATA, "model", 5))
            sp->model = e;
        else if (is(e, WEFT_INPUT, "query", 5))
            sp->query = e;
        else if (is(e, WEFT_INPUT, "top_k", 5))
            sp->top_k = e;
        else if (is(e, WEFT_METADATA, "error", 5))
            sp->error = e;
        break;
    case 6:
        if (is(e, WEFT_METADATA, "events", 6))
            sp->events = e;
        break;
    case 8:
        if (is(e, WEFT_INPUT, "messages", 8))
            sp->in_msgs = e;
        else if (is(e, WEFT_OUTPUT, "messages", 8))
            sp->out_msgs = e;
        break;
    case 10:
        if (is(e, WEFT_METADATA, "model_used", 10))
            sp->model_used = e;
        break;
    }
}

/* ---- attributes ------------------------------------------------------------------------------------ */

/* A KeyValue attribute whose AnyValue content is avl bytes: writes the tag, the lengths and
 * the key (prefix then key), and returns where the caller writes those bytes (room reserved;
 * the caller adds avl to b->len). NULL when memory is short. */
static inline uint8_t *kv_head(weft__buf *b, uint8_t tag, const text *pre, const char *key, size_t kl, size_t avl)
{
    size_t keyl = pre->len + kl;
    size_t kvl = 1 + weft__pb_varint_len(keyl) + keyl + 1 + weft__pb_varint_len(avl) + avl;
    if (!weft__buf_reserve(b, 1 + WEFT__PB_VARINT_MAX + kvl))
        return NULL;
    uint8_t *o = weft__pb_at(b);
    *o++ = tag;
    o += weft__pb_put_varint(o, kvl);
    *o++ = T_KEY;
    o += weft__pb_put_varint(o, keyl);
    weft__copy((char *)o, pre->s, pre->len);
    weft__copy((char *)o + pre->len, key, kl);
    o += keyl;
    *o++ = T_VALUE;
    o += weft__pb_put_varint(o, avl);
    b->len = (size_t)((char *)o - b->data);
    return o;
}

/* A string attribute: key (prefix then key) = s[0..n). Inline, and for a KeyValue under 128
 * bytes (every length then takes one byte) without a varint loop. */
static inline WEFT__ALWAYS_INLINE void kv_str(weft__buf *b, const text *pre, const char *key, size_t kl,
                                              const char *s, size_t n)
{
    size_t keyl = pre->len + kl, kvl = 6 + keyl + n;
    if (kvl >= 0x80) {
        size_t avl = 1 + weft__pb_varint_len(n) + n;
        uint8_t *o = kv_head(b, T_ATTR, pre, key, kl, avl);
        if (!o)
            return;
        *o++ = T_AV_STRING;
        o += weft__pb_put_varint(o, n);
        weft__copy((char *)o, s, n);
        b->len += avl;
        return;
    }
    if (!weft__buf_reserve(b, 2 + kvl))
        return;
    uint8_t *o = weft__pb_at(b);
    o[0] = T_ATTR;
    o[1] = (uint8_t)kvl;
    o[2] = T_KEY;
    o[3] = (uint8_t)keyl;
    weft__copy((char *)o + 4, pre->s, pre->len);
    weft__copy((char *)o + 4 + pre->len, key, kl);
    o += 4 + keyl;
    o[0] = T_VALUE;
    o[1] = (uint8_t)(2 + n);
    o[2] = T_AV_STRING;
    o[3] = (uint8_t)n;
    weft__copy((char *)o + 4, s, n);
    b->len += 2 + kvl;
}

static void kv_int(weft__buf *b, const text *name, int64_t v)
{
    size_t avl = 1 + weft__pb_varint_len((uint64_t)v);
    uint8_t *o = kv_head(b, T_ATTR, name, "", 0, avl);
    if (!o)
        return;
    o[0] = T_AV_INT;
    weft__pb_put_varint(o + 1, (uint64_t)v);
    b->len += avl;
}

static void kv_double(weft__buf *b, const text *name, double d)
{
    uint8_t *o = kv_head(b, T_ATTR, name, "", 0, 9);
    if (!o)
        return;
    uint64_t bits;
    memcpy(&bits, &d, 8);
    o[0] = T_AV_DOUBLE;
    weft__pb_put_le64(o + 1, bits);
    b->len += 9;
}

/* An entry's value as AnyValue content (typed values directly, JSON text through
 * otlp_value.c). */
static void entry_value(weft__buf *b, const ent *e)
{
    switch (e->vtype) {
    case WEFT__VAL_STR:
        weft__otlp_value_str(b, e->val, e->val_len);
        return;
    case WEFT__VAL_I64:
    case WEFT__VAL_F64: {
        uint64_t bits;
        memcpy(&bits, e->val, 8);
        if (!weft__buf_reserve(b, 1 + WEFT__PB_VARINT_MAX))
            return;
        uint8_t *o = weft__pb_at(b);
        if (e->vtype == WEFT__VAL_I64) {
            o[0] = T_AV_INT;
            b->len += 1 + weft__pb_put_varint(o + 1, bits);
        } else {
            o[0] = T_AV_DOUBLE;
            weft__pb_put_le64(o + 1, bits);
            b->len += 9;
        }
        return;
    }
    case WEFT__VAL_BOOL:
        if (weft__buf_reserve(b, 2)) {
            b->data[b->len] = (char)T_AV_BOOL;
            b->data[b->len + 1] = (char)(e->val_len && e->val[0] != 0);
            b->len += 2;
        }
        return;
    default:
        weft__otlp_value_json(b, e->val, e->val_len);
    }
}

/* An attribute with a value of unknown length: the AnyValue's length written after it. */
static size_t kv_open(weft__buf *b, const text *pre, const char *key, size_t kl, size_t *kv)
{
    size_t keyl = pre->len + kl;
    *kv = weft__pb_open(b, T_ATTR, 1);
    if (!weft__buf_reserve(b, 1 + WEFT__PB_VARINT_MAX + keyl)) /* the key field */
        return SIZE_MAX;
    uint8_t *o = weft__pb_at(b);
    *o++ = T_KEY;
    o += weft__pb_put_varint(o, keyl);
    weft__copy((char *)o, pre->s, pre->len);
    weft__copy((char *)o + pre->len, key, kl);
    b->len = (size_t)((char *)o + keyl - b->data);
    return weft__pb_open(b, T_VALUE, 1);
}

static void kv_close(weft__buf *b, size_t kv, size_t at)
{
    weft__pb_close(b, at, 1);
    weft__pb_close(b, kv, 1);
}

/* The attribute of the written entry i: key with its section's prefix, the value, or for an
 * append the array of every appended value of the key. */
static void attr_entry(weft__buf *b, const ents *c, size_t i, const char *key, size_t kl)
{
    const ent *e = &c->v[i];
    const text *pre = &prefixes[e->sec <= 2 ? e->sec : 2];
    if (e->kind == WEFT__ENT_SET && e->vtype == WEFT__VAL_STR) {
        kv_str(b, pre, key, kl, e->val, e->val_len);
        return;
    }
    size_t kv, at = kv_open(b, pre, key, kl, &kv);
    if (e->kind != WEFT__ENT_APPEND) {
        entry_value(b, e);
    } else {
        size_t arr = weft__pb_open(b, T_AV_ARRAY, 1);
        for (uint32_t j = (uint32_t)i; j != NONE; j = next_append(c, j)) {
            size_t el = weft__pb_open(b, T_VALUES, 1);
            entry_value(b, &c->v[j]);
            weft__pb_close(b, el, 1);
        }
        weft__pb_close(b, arr, 1);
    }
    kv_close(b, kv, at);
}

/* Writes the attribute name = the entry's value when that value is a string (the GenAI
 * attributes copied from a weft field); false, with nothing written, when it is not. */
static bool kv_if_string(weft__buf *b, const text *name, const ent *e)
{
    if (!e || e->kind != WEFT__ENT_SET)
        return false;
    if (e->vtype == WEFT__VAL_STR) {
        kv_str(b, name, "", 0, e->val, e->val_len);
        return true;
    }
    if (e->vtype != WEFT__VAL_JSON)
        return false;
    size_t mark = b->len, kv, at = kv_open(b, name, "", 0, &kv);
    size_t av = b->len;
    weft__otlp_value_json(b, e->val, e->val_len);
    if (!b->oom && (b->len == av || (uint8_t)b->data[av] != T_AV_STRING)) {
        b->len = mark;
        return false;
    }
    kv_close(b, kv, at);
    return true;
}

/* ---- the trace summary --------------------------------------------------------------------------- */

/* A member of a KeyValueList whose AnyValue content is avl bytes (every length one byte: the
 * keys are short, the values at most 11 bytes): writes up to the content, returns where it goes.
 * Inlined with the key's length a constant, so that its copy is a few moves. */
static inline WEFT__ALWAYS_INLINE uint8_t *member_head(uint8_t *o, const char *key, size_t kl, size_t avl)
{
    o[0] = T_VALUES;
    o[1] = (uint8_t)(4 + kl + avl);
    o[2] = T_KEY;
    o[3] = (uint8_t)kl;
    memcpy(o + 4, key, kl);
    o += 4 + kl;
    o[0] = T_VALUE;
    o[1] = (uint8_t)avl;
    return o + 2;
}

static inline WEFT__ALWAYS_INLINE uint8_t *member_int(uint8_t *o, const char *key, size_t kl, int64_t v)
{
    if ((uint64_t)v < 0x80) { /* the common count: one byte */
        o = member_head(o, key, kl, 2);
        o[0] = T_AV_INT;
        o[1] = (uint8_t)v;
        return o + 2;
    }
    size_t n = weft__pb_varint_len((uint64_t)v);
    o = member_head(o, key, kl, 1 + n);
    o[0] = T_AV_INT;
    weft__pb_put_varint(o + 1, (uint64_t)v);
    return o + 1 + n;
}

static inline WEFT__ALWAYS_INLINE uint8_t *member_double(uint8_t *o, const char *key, size_t kl, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, 8);
    o = member_head(o, key, kl, 9);
    o[0] = T_AV_DOUBLE;
    weft__pb_put_le64(o + 1, bits);
    return o + 9;
}

#define TWO53 9007199254740992.0 /* below it, every integer is exact in a double */
#define KEY(lit) lit, sizeof(lit) - 1 /* a member's key and its length, a constant */

/* A JSON number of the summary's text as the text reader (otlp_value.c) gives it back: what
 * weft__json_f64 writes as an integer (0, and integral values below 2^53) is an int_value, the
 * rest a double_value of the very value, which that text reads back to. v finite, |v| < 2^53. */
static uint8_t *member_number(uint8_t *o, const char *key, size_t kl, double v)
{
    if (v == 0 && !signbit(v))
        return member_int(o, key, kl, 0);
    if (v != 0 && v == (double)(int64_t)v)
        return member_int(o, key, kl, (int64_t)v);
    return member_double(o, key, kl, v);
}

/* metadata.trace_summary, after the entries: the KeyValueList its JSON text would be read
 * into (weft__otlp_value_json), written from the numbers. Values outside what that
 * correspondence is kept for here (durations past 2^53 ns, 19-digit token counts, costs that
 * are not finite or past 2^53) take the text's way. tmp: scratch. */
static void summary_attr(weft__buf *b, const weft__summary_val *v, weft__buf *tmp)
{
    static const text name = TEXT("metadata." WEFT__SUMMARY_KEY);
    int64_t total = weft__summary_total_tokens(v);
    const int64_t big = 1000000000000000000; /* 10^18: up to 18 digits the reader takes the fast way */
    bool direct = v->duration_ns < (uint64_t)1 << 53 && v->n.input_tokens > -big && v->n.input_tokens < big &&
                  v->n.output_tokens > -big && v->n.output_tokens < big && total > -big && total < big &&
                  (!v->has_cost || (isfinite(v->cost) && fabs(v->cost) < TWO53));
    /* The KeyValue and its AnyValue are over 127 bytes: two bytes left for each length. */
    size_t kv = weft__pb_open(b, T_ATTR, 2), at = SIZE_MAX;
    if (weft__buf_reserve(b, 2 + name.len)) {
        uint8_t *o = weft__pb_at(b);
        o[0] = T_KEY;
        o[1] = (uint8_t)name.len;
        memcpy(o + 2, name.s, name.len);
        b->len += 2 + name.len;
        at = weft__pb_open(b, T_VALUE, 2);
    }
    if (!direct) {
        weft__buf_reset(tmp);
        weft__summary_json(tmp, v, NULL);
        if (tmp->oom)
            b->oom = true;
        else
            weft__otlp_value_json(b, tmp->data, tmp->len);
        weft__pb_close(b, at, 2);
        weft__pb_close(b, kv, 2);
        return;
    }
    size_t list = weft__pb_open(b, T_AV_KVLIST, 2);
    if (!weft__buf_reserve(b, 512)) /* 10 members of at most 4 + 15 + 2 + 11 bytes */
        return;
    uint8_t *o = weft__pb_at(b);
    uint64_t ns = v->duration_ns;
    /* duration_ms's text is ns / 10^6, exact in decimal: an integer when it divides, else the
     * double nearest the quotient, which is what one division of exact operands rounds to. */
    if (ns % 1000000u == 0)
        o = member_int(o, KEY("duration_ms"), (int64_t)(ns / 1000000u));
    else
        o = member_double(o, KEY("duration_ms"), (double)ns / 1e6);
    o = member_int(o, KEY("span_count"), v->n.spans);
    o = member_int(o, KEY("llm_calls"), v->n.llm);
    o = member_int(o, KEY("retrieval_calls"), v->n.retrieval);
    o = member_int(o, KEY("tool_calls"), v->n.tool);
    o = member_int(o, KEY("input_tokens"), v->n.input_tokens);
    o = member_int(o, KEY("output_tokens"), v->n.output_tokens);
    o = member_int(o, KEY("total_tokens"), total);
    if (v->has_cost)
        o = member_number(o, KEY("total_cost"), v->cost);
    const text *st = v->error ? &status_names[WEFT_STATUS_ERROR] : &status_names[WEFT_STATUS_SUCCESS];
    o = member_head(o, KEY("status"), 2 + st->len);
    o[0] = T_AV_STRING;
    o[1] = (uint8_t)st->len;
    memcpy(o + 2, st->s, st->len);
    o += 2 + st->len;
    b->len = (size_t)((char *)o - b->data);
    weft__pb_close(b, list, 2);
    weft__pb_close(b, at, 2);
    weft__pb_close(b, kv, 2);
}

/* ---- GenAI semantic conventions ------------------------------------------------------------------- */

/* gen_ai.operation.name for a span type, or NULL. */
static const text *operation_of(uint32_t type, bool has_usage)
{
    static const text chat = TEXT("chat"), retrieval = TEXT("retrieval"), agent = TEXT("invoke_agent"),
                      tool = TEXT("execute_tool");
    switch (type) {
    case WEFT_TYPE_COMPLETION:
        return &chat;
    case WEFT_TYPE_KB_RETRIEVAL:
    case WEFT_TYPE_DOCUMENT_SEARCH:
    case WEFT_TYPE_FILE_RETRIEVAL:
        return &retrieval;
    case WEFT_TYPE_AGENT_WORKFLOW:
    case WEFT_TYPE_AGENT_TRACER:
        return &agent;
    case WEFT_TYPE_CODE_EXECUTION:
        return &tool;
    default:
        return has_usage ? &chat : NULL;
    }
}

/* weft's messages [{role, content, name, tool_call_id}] in the GenAI message shape
 * [{role, parts: [{type: "text", content}], name}] ({type: "tool_call_response", id, response}
 * for a tool's answer). */
static json_t *genai_messages(const char *s, size_t len)
{
    json_t *in = json_loadb(s, len, 0, NULL), *out = json_array();
    size_t i;
    json_t *m;
    if (!json_is_array(in) || !out) {
        json_decref(in);
        json_decref(out);
        return NULL;
    }
    json_array_foreach(in, i, m)
    {
        json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        json_t *name = json_object_get(m, "name"), *call = json_object_get(m, "tool_call_id");
        json_t *part = json_object();
        if (json_is_string(call)) {
            json_object_set_new(part, "type", json_string("tool_call_response"));
            json_object_set(part, "id", call);
            json_object_set_new(part, "response", content ? json_incref(content) : json_null());
        } else {
            json_object_set_new(part, "type", json_string("text"));
            json_object_set_new(part, "content", content ? json_incref(content) : json_string(""));
        }
        json_t *msg = json_object();
        json_object_set_new(msg, "role", role ? json_incref(role) : json_string("user"));
        json_object_set_new(msg, "parts", json_pack("[o]", part));
        if (json_is_string(name))
            json_object_set(msg, "name", name);
        json_array_append_new(out, msg);
    }
    json_decref(in);
    return out;
}

/* output.hits as gen_ai.retrieval.documents: [{id, score}]. */
static json_t *genai_documents(const char *s, size_t len)
{
    json_t *in = json_loadb(s, len, 0, NULL), *out = json_array();
    size_t i;
    json_t *h;
    if (!json_is_array(in) || !out) {
        json_decref(in);
        json_decref(out);
        return NULL;
    }
    json_array_foreach(in, i, h)
    {
        json_t *d = json_object();
        json_t *id = json_object_get(h, "doc_id"), *score = json_object_get(h, "score");
        if (id)
            json_object_set(d, "id", id);
        if (json_is_number(score))
            json_object_set_new(d, "score", json_real(json_number_value(score)));
        json_array_append_new(out, d);
    }
    json_decref(in);
    return out;
}

/* A written entry as JSON text in tmp (reset first): a set's value, or for an append the
 * array of the key's appended values. False for anything else. */
static bool entry_json(const ents *c, const ent *e, weft__buf *tmp)
{
    if (!e)
        return false;
    weft__buf_reset(tmp);
    if (e->kind == WEFT__ENT_SET) {
        weft__rec_value_json(tmp, e);
        return !tmp->oom;
    }
    weft__buf_putc(tmp, '[');
    for (uint32_t j = (uint32_t)(e - c->v); j != NONE; j = next_append(c, j)) {
        if (j != (uint32_t)(e - c->v))
            weft__buf_putc(tmp, ',');
        weft__rec_value_json(tmp, &c->v[j]);
    }
    weft__buf_putc(tmp, ']');
    return !tmp->oom;
}

static void kv_jansson(weft__buf *b, const text *name, json_t *j)
{
    if (!j)
        return;
    size_t kv, at = kv_open(b, name, "", 0, &kv);
    weft__otlp_value_jansson(b, j, 0);
    kv_close(b, kv, at);
    json_decref(j);
}

static void genai(weft__buf *b, const weft__rec *r, const ents *c, const special *sp, weft__buf *tmp)
{
    static const text op_name = TEXT("gen_ai.operation.name"), model = TEXT("gen_ai.request.model"),
                      in_tok = TEXT("gen_ai.usage.input_tokens"), out_tok = TEXT("gen_ai.usage.output_tokens"),
                      in_msgs = TEXT("gen_ai.input.messages"), out_msgs = TEXT("gen_ai.output.messages"),
                      query = TEXT("gen_ai.retrieval.query.text"), top_k = TEXT("gen_ai.request.top_k"),
                      docs = TEXT("gen_ai.retrieval.documents");
    const text *op = operation_of(r->type, r->has_usage);
    if (op)
        kv_str(b, &op_name, "", 0, op->s, op->len);
    if (!kv_if_string(b, &model, sp->model))
        kv_if_string(b, &model, sp->model_used);
    if (r->has_usage) {
        kv_int(b, &in_tok, r->input_tokens);
        kv_int(b, &out_tok, r->output_tokens);
    }
    if (entry_json(c, sp->in_msgs, tmp))
        kv_jansson(b, &in_msgs, genai_messages(tmp->data, tmp->len));
    if (entry_json(c, sp->out_msgs, tmp))
        kv_jansson(b, &out_msgs, genai_messages(tmp->data, tmp->len));
    kv_if_string(b, &query, sp->query);
    if (sp->top_k && sp->top_k->kind == WEFT__ENT_SET) {
        /* An integer top_k, as a double (the convention's type). */
        weft__buf_reset(tmp);
        entry_value(tmp, sp->top_k);
        const uint8_t *o = (const uint8_t *)tmp->data;
        if (!tmp->oom && tmp->len >= 2 && o[0] == T_AV_INT) {
            uint64_t v = 0;
            for (size_t i = 1, s = 0; i < tmp->len && i <= WEFT__PB_VARINT_MAX; i++, s += 7) {
                v |= (uint64_t)(o[i] & 0x7f) << s;
                if (!(o[i] & 0x80))
                    break;
            }
            kv_double(b, &top_k, (double)(int64_t)v);
        }
    }
    if (sp->hits && sp->hits->kind == WEFT__ENT_SET && entry_json(c, sp->hits, tmp))
        kv_jansson(b, &docs, genai_documents(tmp->data, tmp->len));
}

/* ---- span events ------------------------------------------------------------------------------------ */

/* metadata.events as Span.events (README, "Send to an OpenTelemetry collector"): the key's
 * appended values, or the elements of the array it is set to, when every one is an event as
 * weft_span_add_event writes it (otlp_value.h). With b NULL, whether they all are. */
static bool events(weft__buf *b, const ents *c, const ent *e, weft__buf *tmp)
{
    if (e->kind == WEFT__ENT_APPEND) {
        for (uint32_t j = (uint32_t)(e - c->v); j != NONE; j = next_append(c, j)) {
            const ent *x = &c->v[j];
            if (x->vtype != WEFT__VAL_JSON)
                return false;
            size_t at = b ? weft__pb_open(b, T_EVENT, 1) : 0;
            if (!weft__otlp_event_json(b, x->val, x->val_len, tmp))
                return false;
            if (b)
                weft__pb_close(b, at, 1);
        }
        return true;
    }
    if (e->vtype != WEFT__VAL_JSON)
        return false;
    size_t i = 0;
    while (i < e->val_len && (e->val[i] == ' ' || e->val[i] == '\t' || e->val[i] == '\n' || e->val[i] == '\r'))
        i++;
    if (i == e->val_len || e->val[i] != '[' || (!b && !weft__otlp_json_ok(e->val, e->val_len)))
        return false;
    const char *el;
    size_t pos = 0, el_len;
    while (weft__otlp_json_next(e->val, e->val_len, &pos, &el, &el_len)) {
        size_t at = b ? weft__pb_open(b, T_EVENT, 1) : 0;
        if (!weft__otlp_event_json(b, el, el_len, tmp))
            return false;
        if (b)
            weft__pb_close(b, at, 1);
    }
    return true;
}

/* ---- the span ---------------------------------------------------------------------------------------- */

/* A key as valid UTF-8 without NUL: itself, or repaired into tmp (invalid bytes become U+FFFD). */
static const char *key_text(const char *key, size_t *len, weft__buf *tmp, unsigned *flags)
{
    if (weft__utf8_valid_inline(key, *len))
        return key;
    *flags |= WEFT__JSON_REPAIRED;
    weft__buf_reset(tmp);
    weft__utf8_repair(tmp, key, *len);
    if (tmp->oom)
        return NULL;
    *len = tmp->len;
    return tmp->data;
}

unsigned weft__otlp_encode_span(weft__buf *b, const weft__rec *r, const weft__encode_opts *o)
{
    unsigned flags = 0;
    size_t start = b->len;
    weft__buf tmp;
    weft__buf_init(&tmp);
    ents c;
    if (!collect(&c, r)) {
        release(&c);
        b->oom = true;
        return flags;
    }

    /* The item: ScopeSpans.spans tag, the Span's length (two bytes for most), the Span. */
    size_t item = weft__pb_open(b, T_ITEM, 2);
    uint64_t lo = weft__rec_trace_lo(r, o->salt), parent = weft__rec_parent(r);
    const char *name = r->name.len ? r->name.data : "unnamed";
    size_t name_len = r->name.len ? r->name.len : 7;
    if (!weft__utf8_valid_inline(name, name_len)) {
        flags |= WEFT__JSON_REPAIRED;
        weft__utf8_repair(&tmp, name, name_len);
        name = tmp.data;
        name_len = tmp.len;
    }
    size_t ts_len = r->tracestate.len;
    if (!tmp.oom && weft__buf_reserve(b, 64 + 2 * WEFT__PB_VARINT_MAX + ts_len + name_len)) {
        uint8_t *p = weft__pb_at(b);
        p[0] = T_TRACE_ID;
        p[1] = 16;
        weft__pb_put_be64(p + 2, r->trace);
        weft__pb_put_be64(p + 10, lo);
        p[18] = T_SPAN_ID;
        p[19] = 8;
        weft__pb_put_be64(p + 20, r->id);
        p += 28;
        if (ts_len) {
            *p++ = T_TRACE_STATE;
            p += weft__pb_put_varint(p, ts_len);
            memcpy(p, r->tracestate.data, ts_len);
            p += ts_len;
        }
        if (parent) {
            p[0] = T_PARENT;
            p[1] = 8;
            weft__pb_put_be64(p + 2, parent);
            p += 10;
        }
        *p++ = T_NAME;
        p += weft__pb_put_varint(p, name_len);
        weft__copy((char *)p, name, name_len);
        p += name_len;
        uint32_t type = r->type < WEFT_TYPE_COUNT_ ? r->type : WEFT_TYPE_CUSTOM;
        p[0] = T_KIND;
        p[1] = r->remote_parent                                                            ? KIND_SERVER
               : (type == WEFT_TYPE_COMPLETION || type == WEFT_TYPE_EXTERNAL_ENDPOINT) ? KIND_CLIENT
                                                                                         : KIND_INTERNAL;
        p += 2;
        uint64_t end_ns = r->end_ns ? r->end_ns : r->start_ns;
        if (r->start_ns) { /* proto3: a zero fixed64 is not written */
            *p++ = T_START;
            weft__pb_put_le64(p, r->start_ns);
            p += 8;
        }
        if (end_ns) {
            *p++ = T_END;
            weft__pb_put_le64(p, end_ns);
            p += 8;
        }
        b->len = (size_t)((char *)p - b->data);
    } else {
        b->oom = true;
    }

    /* Attributes: weft's type and status, every written entry, the GenAI ones. */
    uint32_t type = r->type < WEFT_TYPE_COUNT_ ? r->type : WEFT_TYPE_CUSTOM;
    unsigned st = r->status <= 2 ? r->status : 1;
    static const text type_key = TEXT("weft.span.type"), status_key = TEXT("weft.span.status");
    kv_str(b, &type_key, "", 0, type_names[type].s, type_names[type].len);
    kv_str(b, &status_key, "", 0, status_names[st].s, status_names[st].len);
    special sp = {0};
    bool as_events = false;
    for (size_t i = 0; i < c.n; i++) {
        if (!shown(&c, i))
            continue;
        const ent *e = &c.v[i];
        find_special(&sp, e);
        if (e == sp.events && events(NULL, &c, e, &tmp)) {
            as_events = true; /* written as Span.events below, not as an attribute */
            continue;
        }
        size_t kl = e->key_len;
        const char *key = key_text(e->key, &kl, &tmp, &flags);
        if (key)
            attr_entry(b, &c, i, key, kl);
        else
            b->oom = true;
    }
    if (r->has_summary)
        summary_attr(b, &r->summary, &tmp);
    genai(b, r, &c, &sp, &tmp);
    if (as_events)
        events(b, &c, sp.events, &tmp);

    /* ERROR carries metadata.error.message (SUCCESS and CANCELED are OTLP's unset status). */
    if (st == WEFT_STATUS_ERROR) {
        size_t at = weft__pb_open(b, T_STATUS, 1);
        if (sp.error && sp.error->kind == WEFT__ENT_SET && entry_json(&c, sp.error, &tmp)) {
            json_t *j = json_loadb(tmp.data, tmp.len, JSON_DECODE_ANY, NULL);
            json_t *m = json_object_get(j, "message");
            if (json_is_string(m) && json_string_length(m))
                weft__pb_bytes(b, T_ST_MESSAGE, json_string_value(m), json_string_length(m));
            json_decref(j);
        }
        if (weft__buf_reserve(b, 2)) {
            b->data[b->len] = (char)T_ST_CODE;
            b->data[b->len + 1] = STATUS_CODE_ERROR;
            b->len += 2;
        }
        weft__pb_close(b, at, 1);
    }
    /* W3C sampled, and whether the parent is in another process (OTLP SpanFlags). */
    if (weft__buf_reserve(b, 6)) {
        uint8_t *p = weft__pb_at(b);
        p[0] = T_FLAGS_0;
        p[1] = T_FLAGS_1;
        weft__pb_put_le32(p + 2, FLAG_SAMPLED | FLAG_HAS_IS_REMOTE | (r->remote_parent ? FLAG_IS_REMOTE : 0u));
        b->len += 6;
    }
    weft__pb_close(b, item, 2);
    release(&c);
    weft__buf_fini(&tmp);
    if (b->oom)
        b->len = start;
    return flags;
}
