/*
 * record.c — attribute storage of an assembled span (see record.h). Entries are appended to
 * one buffer per record, so a span with many attributes costs one growing allocation, reused
 * when the record is recycled.
 */
#include "record.h"

#include <string.h>

#include "json.h"
#include "redact.h"
#include "runtime.h"

void weft__rec_init(weft__rec *r)
{
    memset(r, 0, sizeof(*r));
    weft__buf_init(&r->name);
    weft__buf_init(&r->attrs);
    for (int i = 0; i < 3; i++)
        weft__buf_init(&r->fields[i]);
    weft__buf_init(&r->tracestate);
}

void weft__rec_fini(weft__rec *r)
{
    weft__buf_fini(&r->name);
    weft__buf_fini(&r->attrs);
    for (int i = 0; i < 3; i++)
        weft__buf_fini(&r->fields[i]);
    weft__buf_fini(&r->tracestate);
}

void weft__rec_reset(weft__rec *r)
{
    weft__buf name = r->name, attrs = r->attrs, f0 = r->fields[0], f1 = r->fields[1], f2 = r->fields[2];
    weft__buf ts = r->tracestate;
    memset(r, 0, sizeof(*r));
    r->tracestate = ts;
    weft__buf_reset(&r->tracestate);
    r->name = name;
    r->attrs = attrs;
    r->fields[0] = f0;
    r->fields[1] = f1;
    r->fields[2] = f2;
    weft__buf_reset(&r->name);
    weft__buf_reset(&r->attrs);
    for (int i = 0; i < 3; i++)
        weft__buf_reset(&r->fields[i]);
}

static void add(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *json,
                size_t json_len, int kind)
{
    weft__rec_hdr h = {(uint8_t)sec, (uint8_t)kind, 0, (uint32_t)key_len, (uint32_t)json_len};
    size_t need = sizeof(h) + key_len + json_len;
    if (!weft__buf_reserve(&r->attrs, need))
        return;
    char *o = r->attrs.data + r->attrs.len;
    memcpy(o, &h, sizeof(h));
    weft__copy(o + sizeof(h), key, key_len);
    weft__copy(o + sizeof(h) + key_len, json, json_len);
    r->attrs.len += need;
    r->n_attrs++;
}

/* Adds an entry after redaction: a key matching a pattern stores "[REDACTED]"; a value with
 * objects inside is rewritten when one of their keys matches. */
static void add_redacted(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *json,
                         size_t json_len, int kind, bool nested)
{
    weft__redact *rd = weft__rt.redact;
    if (rd) {
        if (weft__redact_key(rd, key, key_len)) {
            weft__stat_add(redacted, 1);
            add(r, sec, key, key_len, "\"[REDACTED]\"", 12, kind);
            return;
        }
        if (nested && json_len && (json[0] == '{' || json[0] == '[')) {
            weft__buf *scratch = &weft__rt.redact_scratch;
            weft__buf_reset(scratch);
            size_t n = weft__redact_json(rd, scratch, json, json_len);
            if (n && !scratch->oom) {
                weft__stat_add(redacted, n);
                add(r, sec, key, key_len, scratch->data, scratch->len, kind);
                return;
            }
        }
    }
    add(r, sec, key, key_len, json, json_len, kind);
}

void weft__rec_set(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *json,
                   size_t json_len)
{
    add_redacted(r, sec, key, key_len, json, json_len, WEFT__ENT_SET, true);
}

void weft__rec_set_trusted(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *json,
                           size_t json_len)
{
    add_redacted(r, sec, key, key_len, json, json_len, WEFT__ENT_SET, false);
}

void weft__rec_append(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *json,
                      size_t json_len)
{
    add_redacted(r, sec, key, key_len, json, json_len, WEFT__ENT_APPEND, true);
}

void weft__rec_remove(weft__rec *r, weft_section sec, const char *key, size_t key_len)
{
    add(r, sec, key, key_len, "", 0, WEFT__ENT_REMOVE);
}

void weft__rec_foreach(const weft__rec *r, weft__rec_attr_fn fn, void *ctx)
{
    size_t pos = 0;
    weft__rec_entry e;
    while (weft__rec_next(r, &pos, &e))
        fn(ctx, e.sec, e.key, e.key_len, e.json, e.json_len, e.kind);
}

typedef struct find_ctx {
    weft_section sec;
    const char *key;
    size_t key_len;
    bool any;              /* set or appended, not removed since */
    const char *json;      /* last set's value, NULL after a remove */
    size_t json_len;
} find_ctx;

static void find_fn(void *p, weft_section sec, const char *key, size_t key_len, const char *json, size_t json_len,
                    int kind)
{
    find_ctx *c = p;
    if (sec != c->sec || key_len != c->key_len || memcmp(key, c->key, key_len) != 0)
        return;
    c->any = kind != WEFT__ENT_REMOVE;
    if (kind == WEFT__ENT_SET) {
        c->json = json;
        c->json_len = json_len;
    } else if (kind == WEFT__ENT_REMOVE) {
        c->json = NULL;
    }
}

bool weft__rec_has(const weft__rec *r, weft_section sec, const char *key, size_t key_len)
{
    find_ctx c = {sec, key, key_len, false, NULL, 0};
    weft__rec_foreach(r, find_fn, &c);
    return c.any;
}

const char *weft__rec_get(const weft__rec *r, weft_section sec, const char *key, size_t key_len, size_t *json_len)
{
    find_ctx c = {sec, key, key_len, false, NULL, 0};
    weft__rec_foreach(r, find_fn, &c);
    if (json_len)
        *json_len = c.json ? c.json_len : 0;
    return c.json;
}

/* ---- the public view of a record, for weft_config.filter ------------------------------ */

#define REC(r) ((weft__rec *)(r))

WEFT_API const char *weft_record_name(const weft_record *r, size_t *len)
{
    if (len)
        *len = REC(r)->name.len;
    return REC(r)->name.len ? REC(r)->name.data : "";
}

WEFT_API weft_span_type weft_record_type(const weft_record *r) { return (weft_span_type)REC(r)->type; }
WEFT_API weft_status weft_record_status(const weft_record *r) { return (weft_status)REC(r)->status; }
WEFT_API bool weft_record_in_progress(const weft_record *r) { return REC(r)->end_ns == 0; }
WEFT_API bool weft_record_is_root(const weft_record *r) { return REC(r)->parent == 0; }

WEFT_API const char *weft_record_get(const weft_record *r, weft_section sec, const char *key, size_t *len)
{
    if (!r || !key || (unsigned)sec > WEFT_METADATA)
        return NULL;
    return weft__rec_get(REC(r), sec, key, strlen(key), len);
}

WEFT_API void weft_record_set_json(weft_record *r, weft_section sec, const char *key, const char *json, size_t len)
{
    if (!r || !key || !json || (unsigned)sec > WEFT_METADATA)
        return;
    if (weft__json_valid(json, len)) {
        weft__rec_set(REC(r), sec, key, strlen(key), json, len);
        return;
    }
    weft__stat_add(invalid_json, 1);
    weft__buf *b = &weft__rt.redact_scratch;
    weft__buf_reset(b);
    weft__json_str(b, json, len, weft__rt.cfg.max_attr_bytes);
    weft__rec_set(REC(r), sec, key, strlen(key), b->data, b->len);
}

WEFT_API void weft_record_set_str(weft_record *r, weft_section sec, const char *key, const char *value)
{
    if (!r || !key || (unsigned)sec > WEFT_METADATA)
        return;
    weft__buf b;
    weft__buf_init(&b);
    if (value)
        weft__json_str(&b, value, strlen(value), weft__rt.cfg.max_attr_bytes);
    else
        weft__buf_lit(&b, "null");
    if (!b.oom)
        weft__rec_set(REC(r), sec, key, strlen(key), b.data, b.len);
    weft__buf_fini(&b);
}

WEFT_API void weft_record_remove(weft_record *r, weft_section sec, const char *key)
{
    if (r && key && (unsigned)sec <= WEFT_METADATA)
        weft__rec_remove(REC(r), sec, key, strlen(key));
}

WEFT_API void weft_record_set_name(weft_record *r, const char *name)
{
    if (!r || !name)
        return;
    weft__buf_reset(&REC(r)->name);
    weft__buf_append(&REC(r)->name, name, strlen(name));
}
