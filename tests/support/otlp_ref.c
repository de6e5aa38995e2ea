/*
 * otlp_ref.c — the reference OTLP Span encoder (see otlp_ref.h): the protobuf-c encoder weft
 * shipped before the hand-written one (src/codec/otlp_span.c), kept as it was — the Span built
 * from protoc-c's generated structs in an arena, values read with jansson, packed by protobuf-c
 * — plus the one mapping added since, metadata.events as Span.events, built the same way.
 */
#include "otlp_ref.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "stratix_doc.h"

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue any_value;
typedef Opentelemetry__Proto__Common__V1__KeyValue key_value;
typedef Opentelemetry__Proto__Common__V1__ArrayValue array_value;
typedef Opentelemetry__Proto__Common__V1__KeyValueList kv_list;
typedef Opentelemetry__Proto__Trace__V1__Span pb_span;

#define AV(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x
#define MAX_DEPTH 32 /* nesting kept; deeper values become their JSON text */

/* ---- arena: every struct of one encoding, freed at once -------------------------------------- */

typedef struct block {
    struct block *next;
    size_t cap, used;
    _Alignas(16) char data[];
} block;

typedef struct arena {
    block *head;
    bool oom;
    char *stack; /* the caller's first block (a typical span fits: no malloc), or NULL */
    size_t stack_used, stack_cap;
} arena;

static void *arena_alloc(arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (!a->head && a->stack && a->stack_cap - a->stack_used >= n) {
        void *p = a->stack + a->stack_used;
        a->stack_used += n;
        return p;
    }
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        block *b = malloc(sizeof(block) + cap);
        if (!b) {
            a->oom = true;
            return NULL;
        }
        b->next = a->head;
        b->cap = cap;
        b->used = 0;
        a->head = b;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    return p;
}

static void arena_free(arena *a)
{
    for (block *b = a->head, *n; b; b = n) {
        n = b->next;
        free(b);
    }
    a->head = NULL;
}

static char *arena_str(arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* A growable array of pointers in the arena. */
typedef struct ptrs {
    void **v;
    size_t n, cap;
} ptrs;

static bool ptrs_push(arena *a, ptrs *p, void *x)
{
    if (!x)
        return false;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        void **v = arena_alloc(a, cap * sizeof(void *));
        if (!v)
            return false;
        if (p->n)
            memcpy(v, p->v, p->n * sizeof(void *));
        p->v = v;
        p->cap = cap;
    }
    p->v[p->n++] = x;
    return true;
}

/* ---- values ------------------------------------------------------------------------------------ */

static any_value *av_new(arena *a)
{
    any_value *v = arena_alloc(a, sizeof *v);
    if (v)
        opentelemetry__proto__common__v1__any_value__init(v);
    return v;
}

static any_value *av_str(arena *a, const char *s, size_t n)
{
    any_value *v = av_new(a);
    if (v && (v->string_value = arena_str(a, s, n)) != NULL)
        v->value_case = AV(STRING_VALUE);
    return v;
}

static any_value *av_i64(arena *a, int64_t i)
{
    any_value *v = av_new(a);
    if (v) {
        v->value_case = AV(INT_VALUE);
        v->int_value = i;
    }
    return v;
}

static any_value *av_f64(arena *a, double d)
{
    any_value *v = av_new(a);
    if (v) {
        v->value_case = AV(DOUBLE_VALUE);
        v->double_value = d;
    }
    return v;
}

static key_value *kv_new(arena *a, const char *key, size_t key_len, any_value *v)
{
    if (!v)
        return NULL;
    key_value *kv = arena_alloc(a, sizeof *kv);
    if (!kv)
        return NULL;
    opentelemetry__proto__common__v1__key_value__init(kv);
    kv->key = arena_str(a, key, key_len);
    kv->value = v;
    return kv->key ? kv : NULL;
}

static any_value *from_json(arena *a, const json_t *j, int depth);

static any_value *from_json_text(arena *a, const char *s, size_t n)
{
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!j)
        return av_str(a, s, n); /* not JSON after all: keep the text */
    any_value *v = from_json(a, j, 0);
    json_decref(j);
    return v;
}

static any_value *from_json(arena *a, const json_t *j, int depth)
{
    switch (json_typeof(j)) {
    case JSON_STRING:
        return av_str(a, json_string_value(j), json_string_length(j));
    case JSON_INTEGER:
        return av_i64(a, (int64_t)json_integer_value(j));
    case JSON_REAL:
        return av_f64(a, json_real_value(j));
    case JSON_TRUE:
    case JSON_FALSE: {
        any_value *v = av_new(a);
        if (v) {
            v->value_case = AV(BOOL_VALUE);
            v->bool_value = json_is_true(j);
        }
        return v;
    }
    case JSON_NULL:
        return av_new(a); /* an empty AnyValue: OTLP's null */
    case JSON_ARRAY:
    case JSON_OBJECT:
        break;
    }
    if (depth >= MAX_DEPTH) {
        char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        any_value *v = text ? av_str(a, text, strlen(text)) : NULL;
        free(text);
        return v;
    }
    any_value *v = av_new(a);
    if (!v)
        return NULL;
    ptrs items = {0};
    if (json_is_array(j)) {
        size_t i;
        json_t *el;
        json_array_foreach(j, i, el)
        {
            if (!ptrs_push(a, &items, from_json(a, el, depth + 1)))
                return NULL;
        }
        array_value *arr = arena_alloc(a, sizeof *arr);
        if (!arr)
            return NULL;
        opentelemetry__proto__common__v1__array_value__init(arr);
        arr->values = (any_value **)items.v;
        arr->n_values = items.n;
        v->value_case = AV(ARRAY_VALUE);
        v->array_value = arr;
        return v;
    }
    const char *k;
    size_t klen;
    json_t *el;
    json_object_keylen_foreach((json_t *)j, k, klen, el)
    {
        if (!ptrs_push(a, &items, kv_new(a, k, klen, from_json(a, el, depth + 1))))
            return NULL;
    }
    kv_list *l = arena_alloc(a, sizeof *l);
    if (!l)
        return NULL;
    opentelemetry__proto__common__v1__key_value_list__init(l);
    l->values = (key_value **)items.v;
    l->n_values = items.n;
    v->value_case = AV(KVLIST_VALUE);
    v->kvlist_value = l;
    return v;
}

/* A record's JSON value as an AnyValue; numbers, booleans and null without a parser. */
static any_value *value_of(arena *a, const char *s, size_t n)
{
    if (n == 0)
        return av_new(a);
    char c = s[0];
    if (c == 't' && n == 4) {
        any_value *v = av_new(a);
        if (v) {
            v->value_case = AV(BOOL_VALUE);
            v->bool_value = true;
        }
        return v;
    }
    if (c == 'f' && n == 5) {
        any_value *v = av_new(a);
        if (v)
            v->value_case = AV(BOOL_VALUE);
        return v;
    }
    if (c == 'n' && n == 4)
        return av_new(a);
    if (c == '-' || (c >= '0' && c <= '9')) {
        char tmp[64];
        if (n < sizeof tmp) {
            memcpy(tmp, s, n);
            tmp[n] = '\0';
            char *end;
            bool real = memchr(s, '.', n) || memchr(s, 'e', n) || memchr(s, 'E', n);
            if (!real) {
                errno = 0;
                long long i = strtoll(tmp, &end, 10);
                if (*end == '\0' && errno == 0)
                    return av_i64(a, (int64_t)i);
            }
            double d = strtod(tmp, &end);
            if (*end == '\0')
                return av_f64(a, d);
        }
    }
    return from_json_text(a, s, n);
}

/* ---- the record's attributes ------------------------------------------------------------------ */

typedef weft__rec_entry ent;

static bool same_key(const ent *x, const ent *y)
{
    return x->sec == y->sec && x->key_len == y->key_len && memcmp(x->key, y->key, x->key_len) == 0;
}

/* The entries of r in order (arena), for the same de-duplication as the SGP encoder: the last
 * set or remove of a key wins, appends are gathered into one array unless a set or remove of
 * the key exists. */
static ent *entries(arena *a, const weft__rec *r, size_t *n)
{
    size_t cap = r->n_attrs + 2, k = 0, pos = 0;
    ent *v = arena_alloc(a, cap * sizeof *v);
    if (!v)
        return NULL;
    ent e;
    while (k + 1 < cap && weft__rec_next(r, &pos, &e))
        v[k++] = e;
    if (r->has_summary) {
        /* The entry the summary stands for (record.h), last: its JSON text, read like any. */
        weft__buf t;
        weft__buf_init(&t);
        weft__summary_json(&t, &r->summary, NULL);
        char *text = t.oom ? NULL : arena_alloc(a, t.len);
        if (text) {
            memcpy(text, t.data, t.len);
            v[k++] = (ent){WEFT_METADATA, WEFT__ENT_SET, WEFT__VAL_JSON, 0, WEFT__SUMMARY_KEY, text,
                           WEFT__SUMMARY_KEY_LEN, t.len};
        }
        weft__buf_fini(&t);
    }
    *n = k;
    return v;
}

/* Whether entry i of v is the one written for its key (see entries), and for appends whether
 * it is the first of its array. */
static bool written(const ent *v, size_t n, size_t i)
{
    const ent *e = &v[i];
    if (e->kind == WEFT__ENT_REMOVE)
        return false;
    for (size_t j = 0; j < n; j++) {
        if (j == i || !same_key(e, &v[j]))
            continue;
        if (e->kind == WEFT__ENT_SET ? (v[j].kind != WEFT__ENT_APPEND && j > i)
                                     : (v[j].kind != WEFT__ENT_APPEND || j < i))
            return false;
    }
    return true;
}

/* The written entry of section.key (a set, or the first append of its array), or NULL. */
static const ent *find(const ent *v, size_t n, weft_section sec, const char *key)
{
    size_t kl = strlen(key);
    for (size_t i = 0; i < n; i++)
        if (v[i].sec == sec && v[i].key_len == kl && memcmp(v[i].key, key, kl) == 0 && written(v, n, i))
            return &v[i];
    return NULL;
}

/* An entry's value: typed values directly, JSON text through value_of. */
static any_value *entry_value(arena *a, const ent *e)
{
    switch (e->vtype) {
    case WEFT__VAL_STR:
        return av_str(a, e->val, e->val_len);
    case WEFT__VAL_I64: {
        int64_t i;
        memcpy(&i, e->val, sizeof i);
        return av_i64(a, i);
    }
    case WEFT__VAL_F64: {
        double d;
        memcpy(&d, e->val, sizeof d);
        return av_f64(a, d);
    }
    case WEFT__VAL_BOOL: {
        any_value *v = av_new(a);
        if (v) {
            v->value_case = AV(BOOL_VALUE);
            v->bool_value = e->val_len && e->val[0] != 0;
        }
        return v;
    }
    default:
        return value_of(a, e->val, e->val_len);
    }
}

/* The array of every appended value of e's key. */
static any_value *gather(arena *a, const ent *v, size_t n, const ent *e)
{
    ptrs items = {0};
    for (size_t j = 0; j < n; j++)
        if (v[j].kind == WEFT__ENT_APPEND && same_key(e, &v[j]) && !ptrs_push(a, &items, entry_value(a, &v[j])))
            return NULL;
    any_value *out = av_new(a);
    array_value *arr = arena_alloc(a, sizeof *arr);
    if (!out || !arr)
        return NULL;
    opentelemetry__proto__common__v1__array_value__init(arr);
    arr->values = (any_value **)items.v;
    arr->n_values = items.n;
    out->value_case = AV(ARRAY_VALUE);
    out->array_value = arr;
    return out;
}

/* The same array as JSON text in tmp (reset first). */
static void gather_json(const ent *v, size_t n, const ent *e, weft__buf *tmp)
{
    weft__buf_reset(tmp);
    weft__buf_putc(tmp, '[');
    bool first = true;
    for (size_t j = 0; j < n; j++) {
        if (v[j].kind != WEFT__ENT_APPEND || !same_key(e, &v[j]))
            continue;
        if (!first)
            weft__buf_putc(tmp, ',');
        first = false;
        weft__rec_value_json(tmp, &v[j]);
    }
    weft__buf_putc(tmp, ']');
}

/* The string value of a set entry (typed or JSON text), or NULL. */
static any_value *string_value(arena *a, const ent *e)
{
    if (!e || e->kind != WEFT__ENT_SET)
        return NULL;
    any_value *v = entry_value(a, e);
    return v && v->value_case == AV(STRING_VALUE) ? v : NULL;
}

/* A set entry's value as JSON text in tmp (reset first); false for appends. */
static bool set_json(const ent *e, weft__buf *tmp)
{
    if (!e || e->kind != WEFT__ENT_SET)
        return false;
    weft__buf_reset(tmp);
    weft__rec_value_json(tmp, e);
    return !tmp->oom;
}

/* A key as valid UTF-8 without NUL (invalid bytes become U+FFFD). */
static char *key_text(arena *a, const char *prefix, const char *key, size_t len, unsigned *flags)
{
    size_t pl = strlen(prefix);
    if (weft__utf8_valid(key, len)) {
        char *p = arena_alloc(a, pl + len + 1);
        if (p) {
            memcpy(p, prefix, pl);
            memcpy(p + pl, key, len);
            p[pl + len] = '\0';
        }
        return p;
    }
    *flags |= WEFT__JSON_REPAIRED;
    weft__buf b;
    weft__buf_init(&b);
    weft__json_str(&b, key, len, 0);
    json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
    weft__buf_fini(&b);
    char *p = NULL;
    if (j) {
        size_t n = json_string_length(j);
        p = arena_alloc(a, pl + n + 1);
        if (p) {
            memcpy(p, prefix, pl);
            memcpy(p + pl, json_string_value(j), n);
            p[pl + n] = '\0';
        }
        json_decref(j);
    }
    return p;
}

static bool add_attr(arena *a, ptrs *attrs, const char *key, any_value *v)
{
    return ptrs_push(a, attrs, kv_new(a, key, strlen(key), v));
}

/* ---- GenAI semantic conventions ---------------------------------------------------------------- */

/* gen_ai.operation.name for a span type, or NULL. */
static const char *operation_of(uint32_t type, bool has_usage)
{
    switch (type) {
    case WEFT_TYPE_COMPLETION:
        return "chat";
    case WEFT_TYPE_KB_RETRIEVAL:
    case WEFT_TYPE_DOCUMENT_SEARCH:
    case WEFT_TYPE_FILE_RETRIEVAL:
        return "retrieval";
    case WEFT_TYPE_AGENT_WORKFLOW:
    case WEFT_TYPE_AGENT_TRACER:
        return "invoke_agent";
    case WEFT_TYPE_CODE_EXECUTION:
        return "execute_tool";
    default:
        return has_usage ? "chat" : NULL;
    }
}

/* weft's messages [{role, content, name, tool_call_id}] in the GenAI message shape
 * [{role, parts: [{type: "text", content}], name}] ({type: "tool_call_response", id, response}
 * for a tool's answer). */
static json_t *genai_messages(const char *text, size_t len)
{
    json_t *in = json_loadb(text, len, 0, NULL), *out = json_array();
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
static json_t *genai_documents(const char *text, size_t len)
{
    json_t *in = json_loadb(text, len, 0, NULL), *out = json_array();
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

static void genai(arena *a, ptrs *attrs, const weft__rec *r, const ent *v, size_t n, weft__buf *tmp)
{
    const char *op = operation_of(r->type, r->has_usage);
    if (op)
        add_attr(a, attrs, "gen_ai.operation.name", av_str(a, op, strlen(op)));
    any_value *model = string_value(a, find(v, n, WEFT_METADATA, "model"));
    if (!model)
        model = string_value(a, find(v, n, WEFT_METADATA, "model_used"));
    if (model)
        add_attr(a, attrs, "gen_ai.request.model", model);
    if (r->has_usage) {
        add_attr(a, attrs, "gen_ai.usage.input_tokens", av_i64(a, r->input_tokens));
        add_attr(a, attrs, "gen_ai.usage.output_tokens", av_i64(a, r->output_tokens));
    }
    static const struct {
        weft_section sec;
        const char *attr;
    } msgs[2] = {{WEFT_INPUT, "gen_ai.input.messages"}, {WEFT_OUTPUT, "gen_ai.output.messages"}};
    for (int i = 0; i < 2; i++) {
        const ent *m = find(v, n, msgs[i].sec, "messages");
        if (!m)
            continue;
        if (m->kind == WEFT__ENT_APPEND)
            gather_json(v, n, m, tmp);
        else if (!set_json(m, tmp))
            continue;
        json_t *j = genai_messages(tmp->data, tmp->len);
        if (j)
            add_attr(a, attrs, msgs[i].attr, from_json(a, j, 0));
        json_decref(j);
    }
    any_value *q = string_value(a, find(v, n, WEFT_INPUT, "query"));
    if (q)
        add_attr(a, attrs, "gen_ai.retrieval.query.text", q);
    const ent *k = find(v, n, WEFT_INPUT, "top_k");
    if (k && k->kind == WEFT__ENT_SET) {
        any_value *tv = entry_value(a, k);
        if (tv && tv->value_case == AV(INT_VALUE))
            add_attr(a, attrs, "gen_ai.request.top_k", av_f64(a, (double)tv->int_value));
    }
    const ent *hits = find(v, n, WEFT_OUTPUT, "hits");
    if (set_json(hits, tmp)) {
        json_t *j = genai_documents(tmp->data, tmp->len);
        if (j)
            add_attr(a, attrs, "gen_ai.retrieval.documents", from_json(a, j, 0));
        json_decref(j);
    }
}

#define TAG_SPANS 0x12 /* ScopeSpans.spans = 2 */

static size_t put_varint(uint8_t *o, uint64_t v)
{
    size_t k = 0;
    for (;; v >>= 7) {
        o[k++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        if (v <= 0x7f)
            return k;
    }
}

/* ---- the span ---------------------------------------------------------------------------------- */

/* hi then lo, big-endian, in 16 bytes of the arena (an 8-byte id uses the first 8). */
static uint8_t *be128(arena *a, uint64_t hi, uint64_t lo)
{
    uint8_t *p = arena_alloc(a, 16);
    if (!p)
        return NULL;
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(hi >> (56 - 8 * i));
        p[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
    }
    return p;
}

static const char *const type_names[] = {
#define WEFT_OTLP_TYPE_(name) #name,
    WEFT_SPAN_TYPE_MAP(WEFT_OTLP_TYPE_)
#undef WEFT_OTLP_TYPE_
};
static const char *const status_names[] = {"SUCCESS", "ERROR", "CANCELED"};

/* ---- span events (the mapping added with the hand writer) -------------------------------------- */

typedef Opentelemetry__Proto__Trace__V1__Span__Event pb_event;

/* One element of metadata.events as an Event, or NULL when it is not an event as
 * weft_span_add_event writes it: an object with a string name, an ISO 8601 timestamp and
 * optionally an object attributes, nothing else. */
static pb_event *event_of(arena *a, const json_t *j)
{
    if (!json_is_object(j))
        return NULL;
    const char *k;
    json_t *el;
    json_object_foreach((json_t *)j, k, el)
    {
        if (strcmp(k, "name") != 0 && strcmp(k, "timestamp") != 0 && strcmp(k, "attributes") != 0)
            return NULL;
    }
    json_t *name = json_object_get(j, "name"), *ts = json_object_get(j, "timestamp");
    json_t *attrs = json_object_get(j, "attributes");
    uint64_t ns;
    if (!json_is_string(name) || !json_is_string(ts) || (attrs && !json_is_object(attrs)) ||
        !weft__stratix_doc_time_ns(json_string_value(ts), &ns))
        return NULL;
    pb_event *e = arena_alloc(a, sizeof *e);
    if (!e)
        return NULL;
    opentelemetry__proto__trace__v1__span__event__init(e);
    e->time_unix_nano = ns;
    e->name = arena_str(a, json_string_value(name), json_string_length(name));
    ptrs kvs = {0};
    size_t klen;
    json_object_keylen_foreach(attrs, k, klen, el)
    {
        ptrs_push(a, &kvs, kv_new(a, k, klen, from_json(a, el, 0)));
    }
    e->attributes = (key_value **)kvs.v;
    e->n_attributes = kvs.n;
    return e->name ? e : NULL;
}

/* metadata.events (the written entry ev) as Span.events in *out, when every appended value,
 * or every element of the array it is set to, is an event. */
static bool events_of(arena *a, const ent *v, size_t n, const ent *ev, ptrs *out)
{
    if (ev->kind == WEFT__ENT_APPEND) {
        for (size_t j = 0; j < n; j++) {
            if (v[j].kind != WEFT__ENT_APPEND || !same_key(ev, &v[j]))
                continue;
            if (v[j].vtype != WEFT__VAL_JSON)
                return false;
            json_t *x = json_loadb(v[j].val, v[j].val_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            pb_event *e = event_of(a, x);
            json_decref(x);
            if (!e || !ptrs_push(a, out, e))
                return false;
        }
        return true;
    }
    if (ev->vtype != WEFT__VAL_JSON)
        return false;
    json_t *arr = json_loadb(ev->val, ev->val_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    bool ok = json_is_array(arr);
    size_t i;
    json_t *el;
    json_array_foreach(arr, i, el)
    {
        pb_event *e = ok ? event_of(a, el) : NULL;
        ok = e && ptrs_push(a, out, e);
    }
    json_decref(arr);
    return ok;
}

unsigned weft_otlp_ref_encode_span(weft__buf *b, const weft__rec *r, const weft__encode_opts *o)
{
    unsigned flags = 0;
    _Alignas(16) char first[6144];
    arena a = {NULL, false, first, 0, sizeof first};
    weft__buf tmp;
    weft__buf_init(&tmp);
    pb_span s;
    opentelemetry__proto__trace__v1__span__init(&s);

    uint64_t lo = weft__rec_trace_lo(r, o->salt), parent = weft__rec_parent(r);
    uint8_t *tid = be128(&a, r->trace, lo), *sid = be128(&a, r->id, 0);
    if (!tid || !sid)
        goto oom;
    s.trace_id.data = tid;
    s.trace_id.len = 16;
    s.span_id.data = sid;
    s.span_id.len = 8;
    if (parent) {
        uint8_t *pid = be128(&a, parent, 0);
        if (!pid)
            goto oom;
        s.parent_span_id.data = pid;
        s.parent_span_id.len = 8;
    }
    if (r->tracestate.len)
        s.trace_state = arena_str(&a, r->tracestate.data, r->tracestate.len);
    /* W3C sampled, and whether the parent is in another process (OTLP SpanFlags). */
    s.flags = 0x01u | OPENTELEMETRY__PROTO__TRACE__V1__SPAN_FLAGS__SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK |
              (r->remote_parent ? OPENTELEMETRY__PROTO__TRACE__V1__SPAN_FLAGS__SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK : 0u);
    s.name = r->name.len ? arena_str(&a, r->name.data, r->name.len) : "unnamed";
    if (!s.name)
        goto oom;
    if (!weft__utf8_valid(s.name, strlen(s.name))) {
        s.name = key_text(&a, "", r->name.data, r->name.len, &flags);
        if (!s.name)
            goto oom;
    }
    uint32_t type = r->type < WEFT_TYPE_COUNT_ ? r->type : WEFT_TYPE_CUSTOM;
    if (r->remote_parent)
        s.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
    else if (type == WEFT_TYPE_COMPLETION || type == WEFT_TYPE_EXTERNAL_ENDPOINT)
        s.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_CLIENT;
    else
        s.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_INTERNAL;
    s.start_time_unix_nano = r->start_ns;
    s.end_time_unix_nano = r->end_ns ? r->end_ns : r->start_ns;

    size_t n = 0;
    ent *v = entries(&a, r, &n);
    if (!v)
        goto oom;
    ptrs attrs = {0};
    unsigned st = r->status <= 2 ? r->status : 1;
    add_attr(&a, &attrs, "weft.span.type", av_str(&a, type_names[type], strlen(type_names[type])));
    add_attr(&a, &attrs, "weft.span.status", av_str(&a, status_names[st], strlen(status_names[st])));
    static const char *const prefix[3] = {"input.", "output.", "metadata."};
    const ent *ev = find(v, n, WEFT_METADATA, "events");
    ptrs evs = {0};
    bool as_events = ev && events_of(&a, v, n, ev, &evs);
    for (size_t i = 0; i < n; i++) {
        if (!written(v, n, i) || (as_events && &v[i] == ev))
            continue;
        char *key = key_text(&a, prefix[v[i].sec <= 2 ? v[i].sec : 2], v[i].key, v[i].key_len, &flags);
        any_value *val = v[i].kind == WEFT__ENT_APPEND ? gather(&a, v, n, &v[i]) : entry_value(&a, &v[i]);
        if (key)
            ptrs_push(&a, &attrs, kv_new(&a, key, strlen(key), val));
    }
    genai(&a, &attrs, r, v, n, &tmp);
    s.attributes = (key_value **)attrs.v;
    s.n_attributes = attrs.n;
    if (as_events) {
        s.events = (pb_event **)evs.v;
        s.n_events = evs.n;
    }

    Opentelemetry__Proto__Trace__V1__Status status = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
    if (st == WEFT_STATUS_ERROR) {
        status.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
        const ent *err = find(v, n, WEFT_METADATA, "error");
        if (set_json(err, &tmp)) {
            json_t *j = json_loadb(tmp.data, tmp.len, JSON_DECODE_ANY, NULL);
            json_t *m = json_object_get(j, "message");
            if (json_is_string(m))
                status.message = arena_str(&a, json_string_value(m), json_string_length(m));
            json_decref(j);
        }
        s.status = &status;
    }
    if (a.oom)
        goto oom;
    /* The item: ScopeSpans field 2 (spans) holding this Span (see otlp.h). */
    size_t need = opentelemetry__proto__trace__v1__span__get_packed_size(&s);
    if (!weft__buf_reserve(b, need + 11))
        goto oom;
    uint8_t *out = (uint8_t *)b->data + b->len;
    out[0] = TAG_SPANS;
    size_t k = 1 + put_varint(out + 1, need);
    b->len += k + opentelemetry__proto__trace__v1__span__pack(&s, out + k);
    arena_free(&a);
    weft__buf_fini(&tmp);
    return flags;
oom:
    b->oom = true;
    arena_free(&a);
    weft__buf_fini(&tmp);
    return flags;
}

