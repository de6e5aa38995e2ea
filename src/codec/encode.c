/*
 * encode.c — writes the SGP span item of a record (see encode.h). Field order follows the
 * table of DESIGN.md section 4. Attribute entries are de-duplicated here (the last set of a
 * key wins) and appended entries gathered into arrays, so the producer never has to look up
 * what it set before.
 */
#include "encode.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

#define ID_FIELD_MAX 256 /* the API's limit for id fields, in bytes */

typedef weft__rec_entry ent;

#define SMALL_ENTRIES 32 /* up to this many entries, repeated keys are found pairwise */
#define NONE UINT32_MAX

/* For records with more than SMALL_ENTRIES entries: each distinct (section, key) is a group;
 * what the entry at index i writes follows from its group alone. */
typedef struct group {
    uint32_t rep;           /* index of its first entry: the key compared when probing */
    uint32_t last_override; /* index of the key's last set or remove, NONE: only appends */
    uint32_t first_append;  /* index of its first append (NONE: none) */
    uint32_t last_append;   /* tail of the chain through next_append */
} group;

typedef struct plan {
    uint32_t *grp;         /* entry index -> group */
    uint32_t *next_append; /* entry index -> the key's next append, NONE after the last */
    group *groups;
} plan;

/* A record's entries, gathered so that each section can be written in one pass. */
typedef struct collect {
    ent *v;
    size_t n, cap;
    bool repeats; /* some key occurs twice in a section, or an entry is a remove */
    plan *plan;   /* set when n > SMALL_ENTRIES and repeats: the lookups write_section needs */
    ent small[SMALL_ENTRIES];
} collect;

static void collect_all(collect *c, const weft__rec *r)
{
    size_t pos = 0;
    ent e;
    while (weft__rec_next(r, &pos, &e)) {
        if (c->n == c->cap) {
            size_t cap = c->cap * 2;
            ent *v = (c->v == c->small) ? malloc(cap * sizeof(ent)) : realloc(c->v, cap * sizeof(ent));
            if (!v)
                return; /* out of memory: the rest of the attributes are left out */
            if (c->v == c->small)
                memcpy(v, c->small, sizeof(c->small));
            c->v = v;
            c->cap = cap;
        }
        c->v[c->n++] = e;
    }
}

static bool same_key(const ent *a, const ent *b)
{
    return a->sec == b->sec && a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0;
}

/* An entry's value as JSON: nested values are JSON text already, the rest are written here. */
static inline unsigned value(weft__buf *b, const ent *e)
{
    if (e->vtype == WEFT__VAL_JSON) {
        weft__buf_append(b, e->val, e->val_len);
        return 0;
    }
    if (e->vtype == WEFT__VAL_STR)
        return weft__json_str(b, e->val, e->val_len, 0);
    return weft__rec_value_json(b, e);
}

static uint64_t key_hash(const ent *e)
{
    uint64_t h = 0xcbf29ce484222325u ^ (uint64_t)e->sec; /* FNV-1a */
    for (size_t i = 0; i < e->key_len; i++)
        h = (h ^ (unsigned char)e->key[i]) * 0x100000001b3u;
    return h ^ (h >> 29);
}

/* Groups the entries by key in one pass over them; sets c->repeats. Returns false when memory
 * is short (the caller falls back to the pairwise search). */
static bool plan_build(collect *c, plan *pl)
{
    size_t n = c->n, m = 64;
    while (m < 2 * n)
        m *= 2;
    uint32_t *table = calloc(m, sizeof *table); /* group + 1; 0: empty */
    pl->grp = malloc(n * sizeof *pl->grp);
    pl->next_append = malloc(n * sizeof *pl->next_append);
    pl->groups = malloc(n * sizeof *pl->groups);
    if (!table || !pl->grp || !pl->next_append || !pl->groups) {
        free(table);
        free(pl->grp);
        free(pl->next_append);
        free(pl->groups);
        return false;
    }
    uint32_t n_groups = 0;
    for (size_t i = 0; i < n; i++) {
        const ent *e = &c->v[i];
        size_t at = key_hash(e) & (m - 1);
        while (table[at] && !same_key(e, &c->v[pl->groups[table[at] - 1].rep]))
            at = (at + 1) & (m - 1);
        group *g;
        if (!table[at]) {
            table[at] = ++n_groups;
            g = &pl->groups[n_groups - 1];
            g->rep = (uint32_t)i;
            g->last_override = g->first_append = g->last_append = NONE;
        } else {
            g = &pl->groups[table[at] - 1];
            c->repeats = true;
        }
        pl->grp[i] = table[at] - 1;
        pl->next_append[i] = NONE;
        if (e->kind == WEFT__ENT_APPEND) {
            if (g->first_append == NONE)
                g->first_append = (uint32_t)i;
            else
                pl->next_append[g->last_append] = (uint32_t)i;
            g->last_append = (uint32_t)i;
        } else {
            g->last_override = (uint32_t)i;
            c->repeats |= e->kind == WEFT__ENT_REMOVE;
        }
    }
    free(table);
    return true;
}

static void plan_free(plan *pl)
{
    free(pl->grp);
    free(pl->next_append);
    free(pl->groups);
}

/* The planned form of write_section's loop body: writes entry i when it is the one that
 * shows its key (the last set; or, with no set or remove, the first append gathering all). */
static unsigned write_planned(weft__buf *b, const collect *c, size_t i, bool *first)
{
    const ent *e = &c->v[i];
    const group *g = &c->plan->groups[c->plan->grp[i]];
    if (e->kind == WEFT__ENT_REMOVE)
        return 0;
    if (e->kind == WEFT__ENT_SET ? g->last_override != i : (g->last_override != NONE || g->first_append != i))
        return 0;
    if (!*first)
        weft__buf_putc(b, ',');
    *first = false;
    unsigned flags = weft__json_str(b, e->key, e->key_len, 0);
    weft__buf_putc(b, ':');
    if (e->kind == WEFT__ENT_SET) {
        flags |= value(b, e);
        return flags;
    }
    weft__buf_putc(b, '[');
    for (uint32_t j = (uint32_t)i; j != NONE; j = c->plan->next_append[j]) {
        if (j != i)
            weft__buf_putc(b, ',');
        flags |= value(b, &c->v[j]);
    }
    weft__buf_putc(b, ']');
    return flags;
}

static unsigned write_section(weft__buf *b, const collect *c, weft_section sec)
{
    if (c->plan) {
        unsigned flags = 0;
        bool first = true;
        weft__buf_putc(b, '{');
        for (size_t i = 0; i < c->n; i++)
            if (c->v[i].sec == sec)
                flags |= write_planned(b, c, i, &first);
        weft__buf_putc(b, '}');
        return flags;
    }

    unsigned flags = 0;
    bool first = true;
    weft__buf_putc(b, '{');
    for (size_t i = 0; i < c->n; i++) {
        const ent *e = &c->v[i];
        if (e->sec != sec)
            continue;
        /* A set or remove is overridden by a later set or remove of the key (a remove writes
         * nothing); appends are gathered at the first of them, and any set or remove of the
         * key replaces the whole array. */
        if (e->kind == WEFT__ENT_REMOVE)
            continue;
        bool skip = false;
        for (size_t j = 0; c->repeats && j < c->n && !skip; j++) {
            if (j == i || !same_key(e, &c->v[j]))
                continue;
            if (e->kind == WEFT__ENT_SET)
                skip = c->v[j].kind != WEFT__ENT_APPEND && j > i;
            else
                skip = c->v[j].kind != WEFT__ENT_APPEND || j < i;
        }
        if (skip)
            continue;
        if (!first)
            weft__buf_putc(b, ',');
        first = false;
        flags |= weft__json_str(b, e->key, e->key_len, 0);
        weft__buf_putc(b, ':');
        if (e->kind == WEFT__ENT_SET) {
            flags |= value(b, e);
            continue;
        }
        weft__buf_putc(b, '[');
        bool first_el = true;
        for (size_t j = i; j < (c->repeats ? c->n : i + 1); j++) {
            if (c->v[j].kind != WEFT__ENT_APPEND || !same_key(e, &c->v[j]))
                continue;
            if (!first_el)
                weft__buf_putc(b, ',');
            first_el = false;
            flags |= value(b, &c->v[j]);
        }
        weft__buf_putc(b, ']');
    }
    weft__buf_putc(b, '}');
    return flags;
}

/* The section sec of a record whose keys are all distinct and none removed (r->repeats
 * false): every entry shows as it is, in order, so the entries are read straight from the
 * record, and text marked plain (record.h) is copied between quotes without an escape scan.
 * The bytes are those write_section gives. */
static unsigned write_distinct(weft__buf *b, const weft__rec *r, weft_section sec)
{
    if (!r->sec_first[sec]) {
        weft__buf_lit(b, "{}");
        return 0;
    }
    /* A plain entry's text (comma, quoted key, colon, brackets, quoted value: 8 bytes and its
     * key and value) is shorter than the entry itself (a 16-byte header and the same bytes),
     * so room for the packed entries and the braces holds every plain entry of the section:
     * reserved once, then written through o. Other entries go through the buffer, which
     * reserves for them; o is taken back after. */
    if (!weft__buf_reserve(b, r->attrs.len + 2))
        return 0;
    unsigned flags = 0;
    bool first = true;
    char *o = b->data + b->len;
    *o++ = '{';
    /* The section's chain (record.h), read in place. */
    size_t at = r->sec_first[sec] - 1;
    for (;;) {
        weft__rec_hdr h;
        memcpy(&h, r->attrs.data + at, sizeof h);
        const char *key = r->attrs.data + at + sizeof h, *val = key + h.key_len;
        if (h.flags & WEFT__ENTF_KEY_PLAIN) {
            *o = ',';
            o += !first;
            *o++ = '"';
            weft__copy(o, key, h.key_len);
            o += h.key_len;
            *o++ = '"';
            *o++ = ':';
            if (h.kind == WEFT__ENT_APPEND)
                *o++ = '[';
        } else {
            b->len = (size_t)(o - b->data);
            if (!first)
                weft__buf_putc(b, ',');
            flags |= weft__json_str(b, key, h.key_len, 0);
            weft__buf_putc(b, ':');
            if (h.kind == WEFT__ENT_APPEND)
                weft__buf_putc(b, '[');
            if (!weft__buf_reserve(b, r->attrs.len + 2))
                return flags;
            o = b->data + b->len;
        }
        first = false;
        if (h.flags & WEFT__ENTF_VAL_PLAIN) {
            *o++ = '"';
            weft__copy(o, val, h.val_len);
            o += h.val_len;
            *o++ = '"';
        } else if (h.vtype == WEFT__VAL_JSON) {
            weft__copy(o, val, h.val_len); /* JSON text: as long as its entry's value */
            o += h.val_len;
        } else {
            b->len = (size_t)(o - b->data);
            ent e = {(weft_section)h.sec, h.kind, h.vtype, h.flags, key, val, h.key_len, h.val_len};
            flags |= weft__rec_value_json(b, &e);
            if (!weft__buf_reserve(b, r->attrs.len + 2))
                return flags;
            o = b->data + b->len;
        }
        if (h.kind == WEFT__ENT_APPEND)
            *o++ = ']';
        if (!h.next)
            break;
        at = h.next;
    }
    *o++ = '}';
    b->len = (size_t)(o - b->data);
    return flags;
}

/* The three sections of a record some of whose keys repeat (or are removed): the entries
 * gathered first, then each key's winner found (pairwise, or planned for many entries). */
static unsigned write_sections(weft__buf *b, const weft__rec *r)
{
    unsigned flags = 0;
    /* Not an initializer: that would zero all of small[] (1.5 KiB) for every span. */
    collect c;
    c.v = c.small;
    c.n = 0;
    c.cap = sizeof c.small / sizeof c.small[0];
    c.repeats = false;
    c.plan = NULL;
    collect_all(&c, r);
    /* Most spans set each key once: then nothing needs de-duplicating, and the section
     * writers skip their search for later entries of the same key. */
    plan pl;
    bool planned = c.n > SMALL_ENTRIES && plan_build(&c, &pl);
    if (planned) {
        if (c.repeats)
            c.plan = &pl;
        else
            plan_free(&pl);
    }
    for (size_t i = 0; i < c.n && !c.repeats && !planned; i++) {
        c.repeats = c.v[i].kind == WEFT__ENT_REMOVE;
        for (size_t j = i + 1; j < c.n && !c.repeats; j++)
            c.repeats = same_key(&c.v[i], &c.v[j]);
    }
    weft__buf_lit(b, ",\"input\":");
    flags |= write_section(b, &c, WEFT_INPUT);
    weft__buf_lit(b, ",\"output\":");
    flags |= write_section(b, &c, WEFT_OUTPUT);
    weft__buf_lit(b, ",\"metadata\":");
    flags |= write_section(b, &c, WEFT_METADATA);
    if (c.plan)
        plan_free(c.plan);
    if (c.v != c.small)
        free(c.v);
    return flags;
}

/* The record's summary (record.h), the last entry of its metadata section: written into the
 * section just closed, which no other entry of its key is in. */
static void summary_entry(weft__buf *b, const weft__rec *r, const weft__encode_opts *o)
{
    if (b->oom)
        return;
    b->len--; /* the section's '}' */
    if (b->data[b->len - 1] != '{')
        weft__buf_putc(b, ',');
    weft__buf_lit(b, "\"" WEFT__SUMMARY_KEY "\":");
    weft__summary_json(b, &r->summary, o->summary);
    weft__buf_putc(b, '}');
}

/* An id-like field: repaired, and cut to the API's 256 bytes at a character boundary. */
static unsigned id_field(weft__buf *b, const char *name, size_t name_len, const char *v, size_t len)
{
    weft__buf_append(b, name, name_len);
    size_t at = b->len;
    unsigned f = weft__json_str(b, v, len, 0);
    if (b->len - at - 2 > ID_FIELD_MAX) {
        /* Repairs and escapes can grow the text (one bad byte becomes three, a control
         * character six); re-cut the written form, whole escapes and characters only. */
        const char *t = b->data + at + 1;
        size_t n = b->len - at - 2, i = 0, keep = 0;
        while (i < n) {
            unsigned char c = (unsigned char)t[i];
            size_t step = c == '\\' ? (t[i + 1] == 'u' ? 6 : 2)
                        : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            if (i + step > ID_FIELD_MAX)
                break;
            i += step;
            keep = i;
        }
        b->len = at + 1 + keep;
        weft__buf_putc(b, '"');
        f |= WEFT__JSON_TRUNCATED;
    }
    return f;
}

/* Literal text at o; o moves past it. For the fixed parts below, written into room reserved
 * once for each part. */
#define PUT(o, lit) (memcpy((o), "" lit "", sizeof(lit) - 1), (o) += sizeof(lit) - 1)

static inline char *timestamp_at(char *t, uint64_t ns, const weft__encode_opts *o)
{
    return o->ts ? weft__json_timestamp_cached_at(t, ns, o->ts) : weft__json_timestamp_at(t, ns);
}

/* The UUID text of v:lo, copied from the writer's cache when it is the one written last (a
 * zero id is never taken from it: the zeroed cache would match). */
static inline char *cached_uuid(char *p, uint64_t v, uint64_t lo, uint64_t *cv, uint64_t *clo, char *text)
{
    if (v && v == *cv && lo == *clo) {
        memcpy(p, text, WEFT__JSON_UUID_LEN);
        return p + WEFT__JSON_UUID_LEN;
    }
    char *end = weft__json_uuid_at(p, v, lo);
    *cv = v;
    *clo = lo;
    memcpy(text, p, WEFT__JSON_UUID_LEN);
    return end;
}

/* The wire names of weft_span_type_name and of the statuses, with their lengths. */
static const struct {
    const char *text;
    size_t len;
} type_names[] = {
#define WEFT_TYPE_TEXT_(name) {#name, sizeof(#name) - 1},
    WEFT_SPAN_TYPE_MAP(WEFT_TYPE_TEXT_)
#undef WEFT_TYPE_TEXT_
}, status_names[] = {{"SUCCESS", 7}, {"ERROR", 5}, {"CANCELED", 8}};

#define TYPE_NAME_MAX 32 /* room for the longest name in WEFT_SPAN_TYPE_MAP */
#define WEFT_TYPE_FITS_(name) _Static_assert(sizeof(#name) - 1 <= TYPE_NAME_MAX, "span type name too long");
WEFT_SPAN_TYPE_MAP(WEFT_TYPE_FITS_)
#undef WEFT_TYPE_FITS_

unsigned weft__encode_span(weft__buf *b, const weft__rec *r, const weft__encode_opts *o)
{
    unsigned flags = 0;
    /* The ids, at most 3 UUIDs and their keys. Every one is derived from the W3C ids alone
     * (trace id hi:lo, span id), so that processes joined by a traceparent header agree:
     * trace_id is the UUID of the 128-bit trace id, a span's id the UUID of span id : the
     * trace id's low half (README, "Trace context across processes"). For a trace begun in
     * this process lo is the salt, which keeps the ids weft wrote before. */
    uint64_t lo = weft__rec_trace_lo(r, o->salt), parent = weft__rec_parent(r);
    if (!weft__buf_reserve(b, 3 * WEFT__JSON_UUID_LEN + 48))
        return 0;
    char *p = b->data + b->len;
    PUT(p, "{\"id\":");
    size_t id_at = (size_t)(p - b->data), trace_at; /* where the UUIDs the W3C ids are read off start */
    p = weft__json_uuid_at(p, r->id, lo);
    PUT(p, ",\"trace_id\":");
    trace_at = (size_t)(p - b->data);
    weft__id_cache *ids = o->ids;
    if (ids) {
        p = cached_uuid(p, r->trace, lo, &ids->trace, &ids->trace_lo, ids->trace_uuid);
        if (parent) {
            PUT(p, ",\"parent_id\":");
            p = cached_uuid(p, parent, lo, &ids->parent, &ids->parent_lo, ids->parent_uuid);
        }
    } else {
        p = weft__json_uuid_at(p, r->trace, lo);
        if (parent) {
            PUT(p, ",\"parent_id\":");
            p = weft__json_uuid_at(p, parent, lo);
        }
    }
    PUT(p, ",\"name\":");
    b->len = (size_t)(p - b->data);
    if (r->name.len)
        flags |= weft__json_str(b, r->name.data, r->name.len, 0);
    else
        weft__buf_lit(b, "\"unnamed\"");

    /* Type, status and times. */
    if (!weft__buf_reserve(b, TYPE_NAME_MAX + 2 * WEFT__JSON_TIMESTAMP_LEN + 80))
        return flags;
    unsigned t = r->type < WEFT_TYPE_COUNT_ ? r->type : WEFT_TYPE_CUSTOM;
    unsigned st = r->status <= 2 ? r->status : 1;
    p = b->data + b->len;
    PUT(p, ",\"type\":\"");
    weft__copy(p, type_names[t].text, type_names[t].len);
    p += type_names[t].len;
    PUT(p, "\",\"status\":\"");
    weft__copy(p, status_names[st].text, status_names[st].len);
    p += status_names[st].len;
    PUT(p, "\",\"start_timestamp\":");
    p = timestamp_at(p, r->start_ns, o);
    if (r->end_ns) {
        PUT(p, ",\"end_timestamp\":");
        p = timestamp_at(p, r->end_ns, o);
    }
    b->len = (size_t)(p - b->data);

    if (!r->repeats) {
        weft__buf_lit(b, ",\"input\":");
        flags |= write_distinct(b, r, WEFT_INPUT);
        weft__buf_lit(b, ",\"output\":");
        flags |= write_distinct(b, r, WEFT_OUTPUT);
        weft__buf_lit(b, ",\"metadata\":");
        flags |= write_distinct(b, r, WEFT_METADATA);
    } else {
        flags |= write_sections(b, r);
    }
    if (r->has_summary)
        summary_entry(b, r, o);
    /* The W3C ids. */
    if (!weft__buf_reserve(b, WEFT__JSON_HEX128_LEN + WEFT__JSON_HEX64_LEN + 32))
        return flags;
    p = b->data + b->len;
    PUT(p, ",\"obs_trace_id\":");
    p = weft__json_hex128_of_uuid_at(p, b->data + trace_at, r->trace, lo);
    PUT(p, ",\"obs_span_id\":");
    p = weft__json_hex64_of_uuid_at(p, b->data + id_at, r->id);
    b->len = (size_t)(p - b->data);
    static const struct {
        const char *name;
        size_t len;
    } fields[3] = {{",\"group_id\":", 12},
                   {",\"application_variant_id\":", 26},
                   {",\"application_interaction_id\":", 30}};
    const char *defaults[3] = {o->group_id, o->variant_id, o->interaction_id};
    /* Most spans set none and most processes configure none: one test for all six. */
    bool none = !(r->fields[0].len | r->fields[1].len | r->fields[2].len) &&
                !((defaults[0] && defaults[0][0]) | (defaults[1] && defaults[1][0]) | (defaults[2] && defaults[2][0]));
    for (int i = 0; i < 3 && !none; i++) {
        if (r->fields[i].len)
            flags |= id_field(b, fields[i].name, fields[i].len, r->fields[i].data, r->fields[i].len);
        else if (defaults[i] && defaults[i][0])
            flags |= id_field(b, fields[i].name, fields[i].len, defaults[i], strlen(defaults[i]));
    }
    weft__buf_putc(b, '}');
    return flags;
}
