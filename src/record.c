/*
 * record.c — attribute storage of an assembled span (see record.h). Entries are appended to
 * one buffer per record, so a span with many attributes costs one growing allocation, reused
 * when the record is recycled.
 */
#include "record.h"

#include <string.h>

typedef struct entry_hdr {
    uint8_t sec, append;
    uint16_t reserved;
    uint32_t key_len, json_len;
} entry_hdr;

void weft__rec_init(weft__rec *r)
{
    memset(r, 0, sizeof(*r));
    weft__buf_init(&r->name);
    weft__buf_init(&r->attrs);
    for (int i = 0; i < 3; i++)
        weft__buf_init(&r->fields[i]);
}

void weft__rec_fini(weft__rec *r)
{
    weft__buf_fini(&r->name);
    weft__buf_fini(&r->attrs);
    for (int i = 0; i < 3; i++)
        weft__buf_fini(&r->fields[i]);
}

void weft__rec_reset(weft__rec *r)
{
    weft__buf name = r->name, attrs = r->attrs, f0 = r->fields[0], f1 = r->fields[1], f2 = r->fields[2];
    memset(r, 0, sizeof(*r));
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
                size_t json_len, bool append)
{
    entry_hdr h = {(uint8_t)sec, append, 0, (uint32_t)key_len, (uint32_t)json_len};
    if (!weft__buf_reserve(&r->attrs, sizeof(h) + key_len + json_len))
        return;
    weft__buf_append(&r->attrs, &h, sizeof(h));
    weft__buf_append(&r->attrs, key, key_len);
    weft__buf_append(&r->attrs, json, json_len);
    r->n_attrs++;
}

void weft__rec_set(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *json,
                   size_t json_len)
{
    add(r, sec, key, key_len, json, json_len, false);
}

void weft__rec_append(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *json,
                      size_t json_len)
{
    add(r, sec, key, key_len, json, json_len, true);
}

void weft__rec_foreach(const weft__rec *r, weft__rec_attr_fn fn, void *ctx)
{
    size_t pos = 0;
    while (pos + sizeof(entry_hdr) <= r->attrs.len) {
        entry_hdr h;
        memcpy(&h, r->attrs.data + pos, sizeof(h));
        const char *key = r->attrs.data + pos + sizeof(h);
        fn(ctx, (weft_section)h.sec, key, h.key_len, key + h.key_len, h.json_len, h.append != 0);
        pos += sizeof(h) + h.key_len + h.json_len;
    }
}

typedef struct has_ctx {
    weft_section sec;
    const char *key;
    size_t key_len;
    bool found;
} has_ctx;

static void has_fn(void *p, weft_section sec, const char *key, size_t key_len, const char *json, size_t json_len,
                   bool is_append)
{
    has_ctx *c = p;
    if (sec == c->sec && key_len == c->key_len && memcmp(key, c->key, key_len) == 0)
        c->found = true;
}

bool weft__rec_has(const weft__rec *r, weft_section sec, const char *key, size_t key_len)
{
    has_ctx c = {sec, key, key_len, false};
    weft__rec_foreach(r, has_fn, &c);
    return c.found;
}
