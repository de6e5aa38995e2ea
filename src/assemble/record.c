/*
 * record.c — attribute storage of an assembled span (see record.h). Entries are appended to
 * one buffer per record, so a span with many attributes costs one growing allocation, reused
 * when the record is recycled.
 */
#include "record.h"

#include <stddef.h>
#include <stdio.h>
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
    memset(r, 0, offsetof(weft__rec, name));
    weft__buf_reset(&r->name);
    weft__buf_reset(&r->attrs);
    for (int i = 0; i < 3; i++)
        weft__buf_reset(&r->fields[i]);
    weft__buf_reset(&r->tracestate);
}

/* The bit of key_bits that marks (sec, a key of that hash). */
static inline uint64_t key_bit(uint64_t hash, weft_section sec)
{
    return 1ull << (((hash >> 40) + (uint64_t)sec * 23u) & 63);
}

/* Appends one entry. head, tail, hash: weft__key_words and weft__key_hash of the key, which
 * mark the (section, key) in key_bits. Inlined in each setter: the work is a few dozen
 * instructions, as much as the calls would be. */
static inline WEFT__ALWAYS_INLINE void add(weft__rec *r, weft_section sec, const char *key, size_t key_len,
                                           int vtype, const void *val, size_t val_len, int kind, uint64_t hash)
{
    unsigned flags = weft__json_plain_short(key, key_len) ? WEFT__ENTF_KEY_PLAIN : 0;
    if (vtype == WEFT__VAL_STR && weft__json_plain_short(val, val_len))
        flags |= WEFT__ENTF_VAL_PLAIN;
    uint64_t bit = key_bit(hash, sec);
    r->repeats |= (r->key_bits & bit) != 0 || kind == WEFT__ENT_REMOVE;
    r->key_bits |= bit;
    weft__rec_hdr h = {(uint8_t)sec, (uint8_t)kind, (uint8_t)vtype, (uint8_t)flags, (uint32_t)key_len,
                       (uint32_t)val_len, 0};
    size_t need = sizeof(h) + key_len + val_len;
    if (!weft__buf_reserve(&r->attrs, need) || r->attrs.len + need > UINT32_MAX) {
        r->repeats = true; /* not chained: only the gathering writer may read this record */
        return;
    }
    uint32_t off = (uint32_t)r->attrs.len;
    if ((unsigned)sec > WEFT_METADATA) {
        r->repeats = true; /* no chain for it: the gathering writer leaves it out */
    } else {
        if (r->sec_first[sec])
            memcpy(r->attrs.data + r->sec_last[sec] + offsetof(weft__rec_hdr, next), &off, sizeof off);
        else
            r->sec_first[sec] = off + 1;
        r->sec_last[sec] = off;
    }
    char *o = r->attrs.data + off;
    memcpy(o, &h, sizeof(h));
    weft__copy(o + sizeof(h), key, key_len);
    weft__copy(o + sizeof(h) + key_len, val, val_len);
    r->attrs.len += need;
    r->n_attrs++;
}

#define REDACTED "[REDACTED]"

/* The out-of-line part of add_redacted: a JSON value with objects inside, rewritten when one
 * of their keys matches (nested). */
static void add_nested(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *json,
                       size_t val_len, int kind, uint64_t hash)
{
    weft__buf *scratch = &weft__rt.redact_scratch;
    weft__buf_reset(scratch);
    size_t n = weft__redact_json(weft__rt.redact, scratch, json, val_len);
    if (n && !scratch->oom) {
        weft__stat_add(redacted, n);
        add(r, sec, key, key_len, WEFT__VAL_JSON, scratch->data, scratch->len, kind, hash);
        return;
    }
    add(r, sec, key, key_len, WEFT__VAL_JSON, json, val_len, kind, hash);
}

/* Adds an entry after redaction: a key matching a pattern stores the string "[REDACTED]"; a
 * JSON value with objects inside is rewritten when one of their keys matches (nested). The
 * key's words and hash are taken once, for the redaction cache and for key_bits. */
static inline WEFT__ALWAYS_INLINE void add_redacted(weft__rec *r, weft_section sec, const char *key,
                                                    size_t key_len, int vtype, const void *val, size_t val_len,
                                                    int kind, bool nested)
{
    uint64_t head, tail;
    weft__key_words(key, key_len, &head, &tail);
    uint64_t hash = weft__key_hash(head, tail, key_len);
    weft__redact *rd = weft__rt.redact;
    if (rd) {
        if (weft__redact_key_hashed(rd, key, key_len, head, tail, hash)) {
            weft__stat_add(redacted, 1);
            add(r, sec, key, key_len, WEFT__VAL_STR, REDACTED, sizeof(REDACTED) - 1, kind, hash);
            return;
        }
        const char *json = val;
        if (nested && vtype == WEFT__VAL_JSON && val_len && (json[0] == '{' || json[0] == '[')) {
            add_nested(r, sec, key, key_len, json, val_len, kind, hash);
            return;
        }
    }
    add(r, sec, key, key_len, vtype, val, val_len, kind, hash);
}

/* The summary v as the entry of its text, through redaction; buf: for the text. */
static void summary_entry(weft__rec *r, const weft__summary_val *v, weft__buf *buf)
{
    weft__buf_reset(buf);
    weft__summary_json(buf, v, NULL);
    if (!buf->oom)
        weft__rec_set_trusted(r, WEFT_METADATA, WEFT__SUMMARY_KEY, WEFT__SUMMARY_KEY_LEN, buf->data, buf->len);
    weft__buf_reset(buf);
}

void weft__rec_set_summary(weft__rec *r, const weft__summary_val *v, weft__buf *scratch)
{
    const char *key = WEFT__SUMMARY_KEY;
    size_t key_len = WEFT__SUMMARY_KEY_LEN;
    uint64_t head, tail;
    weft__key_words(key, key_len, &head, &tail);
    uint64_t hash = weft__key_hash(head, tail, key_len);
    /* A clear bit in key_bits: certainly no entry of the key yet. */
    bool as_text = (r->key_bits & key_bit(hash, WEFT_METADATA)) != 0 ||
                   (weft__rt.redact && weft__redact_key_hashed(weft__rt.redact, key, key_len, head, tail, hash));
    if (!as_text) {
        r->summary = *v;
        r->has_summary = true;
        return;
    }
    /* Another entry of the key (a caller's own), or a key to redact: an entry like any other,
     * after the caller's, so that the rules for repeated keys and redaction apply. */
    summary_entry(r, v, scratch);
}

void weft__rec_summary_to_entry(weft__rec *r)
{
    if (!r->has_summary)
        return;
    r->has_summary = false;
    weft__buf text;
    weft__buf_init(&text);
    summary_entry(r, &r->summary, &text);
    weft__buf_fini(&text);
}

void weft__rec_set(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *json,
                   size_t json_len)
{
    add_redacted(r, sec, key, key_len, WEFT__VAL_JSON, json, json_len, WEFT__ENT_SET, true);
}

void weft__rec_set_trusted(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *json,
                           size_t json_len)
{
    add_redacted(r, sec, key, key_len, WEFT__VAL_JSON, json, json_len, WEFT__ENT_SET, false);
}

void weft__rec_set_str(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *s, size_t len)
{
    add_redacted(r, sec, key, key_len, WEFT__VAL_STR, s, len, WEFT__ENT_SET, false);
}

void weft__rec_set_i64(weft__rec *r, weft_section sec, const char *key, size_t key_len, int64_t v)
{
    add_redacted(r, sec, key, key_len, WEFT__VAL_I64, &v, sizeof v, WEFT__ENT_SET, false);
}

void weft__rec_set_f64(weft__rec *r, weft_section sec, const char *key, size_t key_len, double v)
{
    add_redacted(r, sec, key, key_len, WEFT__VAL_F64, &v, sizeof v, WEFT__ENT_SET, false);
}

void weft__rec_set_bool(weft__rec *r, weft_section sec, const char *key, size_t key_len, bool v)
{
    uint8_t b = v ? 1 : 0;
    add_redacted(r, sec, key, key_len, WEFT__VAL_BOOL, &b, 1, WEFT__ENT_SET, false);
}

void weft__rec_append(weft__rec *r, weft_section sec, const char *key, size_t key_len, const char *json,
                      size_t json_len)
{
    add_redacted(r, sec, key, key_len, WEFT__VAL_JSON, json, json_len, WEFT__ENT_APPEND, true);
}

void weft__rec_remove(weft__rec *r, weft_section sec, const char *key, size_t key_len)
{
    uint64_t head, tail;
    weft__key_words(key, key_len, &head, &tail);
    add(r, sec, key, key_len, WEFT__VAL_JSON, "", 0, WEFT__ENT_REMOVE, weft__key_hash(head, tail, key_len));
}

/* Length of v without a multi-byte sequence left incomplete at its end by a byte cut. */
static size_t whole_chars(const char *v, size_t len)
{
    size_t i = len;
    while (i > 0 && len - i < 3 && ((unsigned char)v[i - 1] & 0xc0) == 0x80)
        i--;
    if (i == 0)
        return len;
    unsigned char c = (unsigned char)v[i - 1];
    size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return (len - (i - 1) < need) ? i - 1 : len;
}

unsigned weft__rec_text(weft__buf *out, const char *s, size_t len, uint64_t orig_len, size_t max_bytes)
{
    weft__buf_reset(out);
    unsigned f = 0;
    /* A cut by the producer may have split the last character: drop its start, not repair it. */
    if (orig_len > len)
        len = whole_chars(s, len);
    if (weft__utf8_repair(out, s, len))
        f |= WEFT__JSON_REPAIRED;
    /* What the caller's value lost: the producer's cut, then ours. */
    uint64_t lost = orig_len > len ? orig_len - len : 0;
    if (max_bytes && out->len > max_bytes) {
        size_t keep = weft__utf8_cut(out->data, out->len, max_bytes);
        lost += out->len - keep;
        out->len = keep;
    }
    if (lost) {
        char marker[64];
        int n = snprintf(marker, sizeof marker, "\xe2\x80\xa6[truncated %llu bytes]", (unsigned long long)lost);
        weft__buf_append(out, marker, (size_t)n);
        f |= WEFT__JSON_TRUNCATED;
    }
    return f;
}

unsigned weft__rec_value_json(weft__buf *b, const weft__rec_entry *e)
{
    switch (e->vtype) {
    case WEFT__VAL_STR:
        return weft__json_str(b, e->val, e->val_len, 0);
    case WEFT__VAL_I64: {
        int64_t v;
        memcpy(&v, e->val, sizeof v);
        weft__json_i64(b, v);
        return 0;
    }
    case WEFT__VAL_F64: {
        double v;
        memcpy(&v, e->val, sizeof v);
        weft__json_f64(b, v);
        return 0;
    }
    case WEFT__VAL_BOOL:
        weft__json_bool(b, e->val[0] != 0);
        return 0;
    default:
        weft__buf_append(b, e->val, e->val_len);
        return 0;
    }
}

void weft__rec_foreach(const weft__rec *r, weft__rec_attr_fn fn, void *ctx)
{
    size_t pos = 0;
    weft__rec_entry e;
    weft__buf v;
    weft__buf_init(&v);
    while (weft__rec_next(r, &pos, &e)) {
        if (e.vtype == WEFT__VAL_JSON) {
            fn(ctx, e.sec, e.key, e.key_len, e.val, e.val_len, e.kind);
            continue;
        }
        weft__buf_reset(&v);
        weft__rec_value_json(&v, &e);
        if (!v.oom)
            fn(ctx, e.sec, e.key, e.key_len, v.data, v.len, e.kind);
    }
    if (r->has_summary) {
        weft__buf_reset(&v);
        weft__summary_json(&v, &r->summary, NULL);
        if (!v.oom)
            fn(ctx, WEFT_METADATA, WEFT__SUMMARY_KEY, WEFT__SUMMARY_KEY_LEN, v.data, v.len, WEFT__ENT_SET);
    }
    weft__buf_fini(&v);
}

/* Is (sec, key) the entry r->summary stands for? */
static bool is_summary(const weft__rec *r, weft_section sec, const char *key, size_t key_len)
{
    return r->has_summary && sec == WEFT_METADATA && key_len == WEFT__SUMMARY_KEY_LEN &&
           memcmp(key, WEFT__SUMMARY_KEY, key_len) == 0;
}

/* The last set of section.key, and whether the key is set at all (set or appended, not
 * removed since). */
static bool find(const weft__rec *r, weft_section sec, const char *key, size_t key_len, weft__rec_entry *last,
                 bool *have_last)
{
    size_t pos = 0;
    weft__rec_entry e;
    bool any = false;
    *have_last = false;
    while (weft__rec_next(r, &pos, &e)) {
        if (e.sec != sec || e.key_len != key_len || memcmp(e.key, key, key_len) != 0)
            continue;
        any = e.kind != WEFT__ENT_REMOVE;
        if (e.kind == WEFT__ENT_SET) {
            *last = e;
            *have_last = true;
        } else if (e.kind == WEFT__ENT_REMOVE) {
            *have_last = false;
        }
    }
    return any;
}

bool weft__rec_has(const weft__rec *r, weft_section sec, const char *key, size_t key_len)
{
    weft__rec_entry e;
    bool have;
    return is_summary(r, sec, key, key_len) || find(r, sec, key, key_len, &e, &have);
}

const char *weft__rec_get(const weft__rec *r, weft_section sec, const char *key, size_t key_len,
                          size_t *json_len, weft__buf *view)
{
    weft__rec_entry e;
    bool have;
    if (json_len)
        *json_len = 0;
    if (is_summary(r, sec, key, key_len)) {
        /* The only entry of the key (weft__rec_set_summary): its text. */
        weft__buf_reset(view);
        weft__summary_json(view, &r->summary, NULL);
        if (view->oom)
            return NULL;
        if (json_len)
            *json_len = view->len;
        return view->data;
    }
    find(r, sec, key, key_len, &e, &have);
    if (!have)
        return NULL;
    if (e.vtype == WEFT__VAL_JSON) {
        if (json_len)
            *json_len = e.val_len;
        return e.val;
    }
    weft__buf_reset(view);
    weft__rec_value_json(view, &e);
    if (view->oom)
        return NULL;
    if (json_len)
        *json_len = view->len;
    return view->data;
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
    return weft__rec_get(REC(r), sec, key, strlen(key), len, &weft__rt.record_view);
}

WEFT_API void weft_record_set_json(weft_record *r, weft_section sec, const char *key, const char *json, size_t len)
{
    if (!r || !key || !json || (unsigned)sec > WEFT_METADATA)
        return;
    weft__rec_summary_to_entry(REC(r));
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
    weft__rec_summary_to_entry(REC(r));
    if (!value) {
        weft__rec_set(REC(r), sec, key, strlen(key), "null", 4);
        return;
    }
    weft__buf b;
    weft__buf_init(&b);
    size_t len = strlen(value);
    weft__rec_text(&b, value, len, len, weft__rt.cfg.max_attr_bytes);
    if (!b.oom)
        weft__rec_set_str(REC(r), sec, key, strlen(key), b.data, b.len);
    weft__buf_fini(&b);
}

WEFT_API void weft_record_remove(weft_record *r, weft_section sec, const char *key)
{
    if (r && key && (unsigned)sec <= WEFT_METADATA) {
        weft__rec_summary_to_entry(REC(r));
        weft__rec_remove(REC(r), sec, key, strlen(key));
    }
}

WEFT_API void weft_record_set_name(weft_record *r, const char *name)
{
    if (!r || !name)
        return;
    weft__buf_reset(&REC(r)->name);
    weft__buf_append(&REC(r)->name, name, strlen(name));
}
