/*
 * receiver.c — the in-process SGP span ingestion receiver (see receiver.h): libmicrohttpd with
 * one thread per connection (so several keep-alive clients are served at once and a delayed
 * answer blocks only its own connection), bound to 127.0.0.1 on an ephemeral port.
 *
 * Owns: the weft_rx struct — the daemon, the span store (a chained hash table keyed by
 * (trace_id, id), bucketed by the hash of id alone so a lookup by id across traces walks one
 * chain), the counters, the recorded headers of the last request and the fault settings.
 *
 * Invariants:
 * - Every field below `mu` is read and written only with `mu` held; the daemon, url, port,
 *   api_key and discard are fixed between weft_rx_start and weft_rx_stop.
 * - A stored item is never modified after it is stored; replacing it drops the store's
 *   reference, so a snapshot holding its own reference (foreach, the 200 echo) stays valid.
 * - A batch is validated and applied under one hold of `mu`: a rejected batch stores nothing
 *   and concurrent batches see each other whole or not at all.
 * - Per request: the first handler call records headers and counts the request; body calls
 *   feed the item scanner (and buffer the body unless discarding or over the size limit); the
 *   final call decides the answer. notify_completed frees the request in every case.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memmem */
#endif
#include "receiver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>

/* Statuses counted by weft_rx_status_count; 0 stands for a dropped connection. */
#define STATUS_SLOTS 600

/* Longest detail text kept and sent; ids shown in it are clipped to ID_SHOWN bytes. */
#define DETAIL_MAX 512
#define ID_SHOWN 80

/* 256 bytes: the API's limit on id fields; 38: on trace_id (DESIGN.md section 4). */
#define ID_MAX_BYTES 256
#define TRACE_ID_MAX_BYTES 38

/* U+FDD0, a noncharacter, stands in for invalid UTF-8 bytes so a second parse can say which
 * item held them (jansson only reports a byte offset). */
static const char UTF8_MARK[] = "\xEF\xB7\x90";

typedef struct span_entry {
    struct span_entry *next;
    char *trace_id;
    char *id;
    char *parent_id; /* NULL on roots; kept for cycle walks */
    json_t *item;    /* one reference owned by the store */
    size_t upserts;
    bool completed;
} span_entry;

typedef struct header_kv {
    char *name;
    char *value;
} header_kv;

struct weft_rx {
    struct MHD_Daemon *daemon;
    char url[48];
    unsigned port;
    char *api_key;
    char *tls_cert, *tls_key; /* PEM, kept while the daemon runs (MHD reads them lazily) */
    bool discard;
    size_t initial_max_body;

    pthread_mutex_t mu;
    pthread_cond_t wake; /* delayed answers wait here; stop broadcasts */
    bool stopping;

    span_entry **buckets;
    size_t nbuckets;
    size_t count;
    size_t completed;

    size_t upserts;
    size_t orphans; /* spans first stored while their parent was not */
    size_t requests;
    size_t max_items;
    size_t max_body_seen;
    size_t status_counts[STATUS_SLOTS];
    header_kv *hdrs;
    size_t nhdrs;
    char *last_detail;

    int fail_status;
    int fail_count;
    char *fail_retry_after;
    unsigned retry_after_ms;
    bool outage;
    char *outage_retry_after;
    size_t max_body;
    char **poison;
    size_t npoison;
    bool list_rejections; /* poisoned batches answered with FastAPI's error list */
    unsigned delay_ms;
    int drop_count;
    unsigned capacity;
    int64_t window_start_ns;
    size_t window_spans;
    bool patch_unsupported;
    int malformed_count;
    int cut_count;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* FNV-1a: short UUID keys, no adversary. */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0: rejects overlongs,
 * surrogates and code points above U+10FFFF, as jansson does. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* Copies src into out[outlen] (always terminated); true when it fit whole. */
static bool copy_out(const char *src, char *out, size_t outlen)
{
    if (!out || !outlen)
        return false;
    if (!src) {
        out[0] = '\0';
        return false;
    }
    size_t n = strlen(src);
    bool fit = n < outlen;
    if (!fit)
        n = outlen - 1;
    memcpy(out, src, n);
    out[n] = '\0';
    return fit;
}

/* ---- ISO 8601 timestamps ------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*s)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *s += n;
    *out = v;
    return true;
}

/*
 * Parses the datetime forms the API's validator accepts: YYYY-MM-DD, 'T' / 't' / ' ', HH:MM,
 * optional :SS and a fraction of up to 9 digits, optional Z or ±HH[[:]MM] (none means UTC).
 * Result: nanoseconds since the epoch, UTC.
 */
static bool parse_ts(const char *s, int64_t *out_ns)
{
    int y, mo, d, h, mi, sec = 0, frac_ns = 0;
    if (!digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) || *s++ != '-' ||
        !digits(&s, 2, &d))
        return false;
    if (*s != 'T' && *s != 't' && *s != ' ')
        return false;
    s++;
    if (!digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi))
        return false;
    if (*s == ':') {
        s++;
        if (!digits(&s, 2, &sec))
            return false;
        if (*s == '.' || *s == ',') {
            s++;
            int n = 0;
            while (*s >= '0' && *s <= '9') {
                if (n < 9)
                    frac_ns = frac_ns * 10 + (*s - '0');
                n++;
                s++;
            }
            if (n == 0)
                return false;
            for (int i = n; i < 9; i++)
                frac_ns *= 10;
        }
    }
    int off_min = 0;
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        int sign = *s++ == '-' ? -1 : 1, oh, om = 0;
        if (!digits(&s, 2, &oh))
            return false;
        if (*s == ':')
            s++;
        if (*s && !digits(&s, 2, &om))
            return false;
        if (oh > 23 || om > 59)
            return false;
        off_min = sign * (oh * 60 + om);
    }
    if (*s)
        return false;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap))
        return false;
    if (h > 23 || mi > 59 || sec > 59)
        return false;
    int64_t secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 +
                   sec - (int64_t)off_min * 60;
    *out_ns = secs * 1000000000 + frac_ns;
    return true;
}

/* ---- the item scanner --------------------------------------------------------------------- */

/*
 * Counts the objects directly inside the root object's "items" array, fed the body in pieces
 * as it arrives. It tracks only string/escape state and nesting depth, so it runs at memory
 * speed: discard mode answers from it alone (300,000 spans/s of ~400-byte items is 120 MB/s),
 * and it gives the capacity check and max_items_seen a count without a parse.
 */
typedef struct scanner {
    unsigned depth;
    bool started, root_obj;
    bool in_str, esc;
    bool key_match; /* the open string is a depth-1 string still equal to a prefix of "items" */
    unsigned key_pos;
    enum { AFTER_NONE, AFTER_ITEMS_KEY, AFTER_COLON } after;
    unsigned items_depth; /* depth of the items array's elements; 0 outside it */
    bool items_found;
    size_t items;
} scanner;

static void scan_feed(scanner *s, const char *buf, size_t n)
{
    const unsigned char *p = (const unsigned char *)buf, *end = p + n;
    while (p < end) {
        unsigned c = *p++;
        if (s->in_str) {
            if (s->esc) {
                s->esc = false;
            } else if (c == '\\') {
                s->esc = true;
                s->key_match = false;
            } else if (c == '"') {
                s->in_str = false;
                s->after = s->key_match && s->key_pos == 5 ? AFTER_ITEMS_KEY : AFTER_NONE;
            } else if (s->key_match) {
                if (s->key_pos < 5 && c == (unsigned char)"items"[s->key_pos])
                    s->key_pos++;
                else
                    s->key_match = false;
            } else {
                /* Most bytes are string contents: skip to the next quote or backslash. */
                while (p < end && *p != '"' && *p != '\\')
                    p++;
            }
            continue;
        }
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (!s->started) {
            s->started = true;
            s->root_obj = c == '{';
        }
        int after = s->after;
        s->after = AFTER_NONE;
        if (after == AFTER_ITEMS_KEY && c == ':') {
            s->after = AFTER_COLON;
            continue;
        }
        switch (c) {
        case '"':
            s->in_str = true;
            s->key_match = s->root_obj && s->depth == 1;
            s->key_pos = 0;
            break;
        case '{':
            if (s->items_depth && s->depth == s->items_depth)
                s->items++;
            s->depth++;
            break;
        case '[':
            s->depth++;
            if (after == AFTER_COLON && s->depth == 2) {
                s->items_depth = 2;
                s->items_found = true;
            }
            break;
        case '}':
        case ']':
            if (s->depth)
                s->depth--;
            if (s->depth < s->items_depth)
                s->items_depth = 0;
            break;
        default:
            break;
        }
    }
}

/* ---- the span store (mu held) ------------------------------------------------------------- */

static span_entry *store_find(const weft_rx *rx, const char *trace_id, const char *id)
{
    if (!rx->nbuckets)
        return NULL;
    for (span_entry *e = rx->buckets[hash_str(id) & (rx->nbuckets - 1)]; e; e = e->next)
        if (!strcmp(e->id, id) && !strcmp(e->trace_id, trace_id))
            return e;
    return NULL;
}

/* Any stored span with this id, in whatever trace. */
static span_entry *store_find_id(const weft_rx *rx, const char *id)
{
    if (!rx->nbuckets)
        return NULL;
    for (span_entry *e = rx->buckets[hash_str(id) & (rx->nbuckets - 1)]; e; e = e->next)
        if (!strcmp(e->id, id))
            return e;
    return NULL;
}

static bool store_grow(weft_rx *rx)
{
    size_t n = rx->nbuckets ? rx->nbuckets * 2 : 1024;
    span_entry **b = calloc(n, sizeof *b);
    if (!b)
        return false;
    for (size_t i = 0; i < rx->nbuckets; i++) {
        span_entry *e = rx->buckets[i];
        while (e) {
            span_entry *next = e->next;
            size_t k = hash_str(e->id) & (n - 1);
            e->next = b[k];
            b[k] = e;
            e = next;
        }
    }
    free(rx->buckets);
    rx->buckets = b;
    rx->nbuckets = n;
    return true;
}

static void entry_free(span_entry *e)
{
    json_decref(e->item);
    free(e->trace_id);
    free(e->id);
    free(e->parent_id);
    free(e);
}

static void store_clear(weft_rx *rx)
{
    for (size_t i = 0; i < rx->nbuckets; i++) {
        span_entry *e = rx->buckets[i];
        while (e) {
            span_entry *next = e->next;
            entry_free(e);
            e = next;
        }
    }
    free(rx->buckets);
    rx->buckets = NULL;
    rx->nbuckets = 0;
    rx->count = rx->completed = 0;
}

static const char *opt_str(const json_t *item, const char *key)
{
    return json_string_value(json_object_get(item, key));
}

static bool item_completed(const json_t *item)
{
    const json_t *end = json_object_get(item, "end_timestamp");
    return end && !json_is_null(end);
}

/*
 * Upserts one validated item: a completed span is kept over an in-progress one; otherwise the
 * later wins. Returns the entry (its item is what the server now holds), NULL when out of memory.
 */
static span_entry *store_upsert(weft_rx *rx, json_t *item)
{
    const char *trace_id = opt_str(item, "trace_id"), *id = opt_str(item, "id");
    const char *parent = opt_str(item, "parent_id");
    bool completed = item_completed(item);
    span_entry *e = store_find(rx, trace_id, id);
    if (!e) {
        if (rx->count >= rx->nbuckets && !store_grow(rx))
            return NULL;
        e = calloc(1, sizeof *e);
        if (!e)
            return NULL;
        e->trace_id = strdup(trace_id);
        e->id = strdup(id);
        e->parent_id = dup_or_null(parent);
        if (!e->trace_id || !e->id || (parent && !e->parent_id)) {
            entry_free(e);
            return NULL;
        }
        e->item = json_incref(item);
        e->completed = completed;
        size_t k = hash_str(id) & (rx->nbuckets - 1);
        e->next = rx->buckets[k];
        rx->buckets[k] = e;
        rx->count++;
        rx->completed += completed;
        /* Items are stored in request order: a parent earlier in the same request counts. */
        if (parent && !store_find(rx, trace_id, parent))
            rx->orphans++;
    } else if (completed || !e->completed) {
        char *p = dup_or_null(parent);
        if (parent && !p)
            return NULL;
        free(e->parent_id);
        e->parent_id = p;
        json_decref(e->item);
        e->item = json_incref(item);
        rx->completed += completed && !e->completed;
        e->completed = completed;
    }
    e->upserts++;
    rx->upserts++;
    return e;
}

/* ---- validation --------------------------------------------------------------------------- */

typedef struct verdict {
    int status; /* 0: accepted */
    char detail[DETAIL_MAX];
    json_t *list; /* when set, the answer's detail is this FastAPI error list (owned) */
} verdict;

/* Replaces each byte that does not start a valid UTF-8 sequence with '?': details quote ids
 * clipped at a byte count and jansson's error text, and must stay valid JSON strings. */
static void utf8_repair(char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq((const unsigned char *)s + i, n - i);
        if (!k) {
            s[i] = '?';
            k = 1;
        }
        i += k;
    }
}

/* Sets the verdict once (the first offending item wins). */
__attribute__((format(printf, 3, 4))) static void reject(verdict *v, int status, const char *fmt,
                                                         ...)
{
    if (v->status)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(v->detail, sizeof v->detail, fmt, ap);
    va_end(ap);
    if (n < 0)
        v->detail[0] = '\0';
    utf8_repair(v->detail);
    v->status = status;
}

/* "items[3] (id 'abc')" — how a detail names an item. */
static const char *item_label(const json_t *item, size_t idx, char *buf, size_t buflen)
{
    const char *id = json_is_object(item) ? opt_str(item, "id") : NULL;
    if (!id) {
        snprintf(buf, buflen, "items[%zu]", idx);
        return buf;
    }
    size_t n = strlen(id);
    bool clipped = n > ID_SHOWN;
    if (clipped)
        n = ID_SHOWN; /* a character cut here becomes '?' in reject() */
    snprintf(buf, buflen, "items[%zu] (id '%.*s%s')", idx, (int)n, id, clipped ? "..." : "");
    return buf;
}

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, list[i]))
            return true;
    return false;
}

/* The 25 SGP span types. */
static const char *const SPAN_TYPES[] = {
    "TEXT_INPUT", "TEXT_OUTPUT", "COMPLETION_INPUT", "COMPLETION", "KB_RETRIEVAL", "KB_INPUT",
    "RERANKING", "EXTERNAL_ENDPOINT", "PROMPT_ENGINEERING", "DOCUMENT_INPUT", "MAP_REDUCE",
    "DOCUMENT_SEARCH", "DOCUMENT_PROMPT", "CUSTOM", "CODE_EXECUTION", "DATA_MANIPULATION",
    "EVALUATION", "FILE_RETRIEVAL", "KB_ADD_CHUNK", "KB_MANAGEMENT", "GUARDRAIL", "TRACER",
    "AGENT_TRACER", "AGENT_WORKFLOW", "STANDALONE",
};
static const char *const SPAN_STATUSES[] = {"SUCCESS", "ERROR", "CANCELED"};

/*
 * One id field. required: absence is an error. Missing or not a string: 400 when required
 * (the brief's "required strings"), 422 for optional ones (a type error); NUL or over `max`
 * bytes: 400 (DESIGN.md section 4: such ids fail the whole batch with 400).
 */
static void check_id_field(const json_t *item, const char *key, bool required, size_t max,
                           const char *label, verdict *v)
{
    const json_t *f = json_object_get(item, key);
    if (!f || json_is_null(f)) {
        if (required)
            reject(v, 400, "%s: %s is required", label, key);
        return;
    }
    if (!json_is_string(f)) {
        reject(v, required ? 400 : 422, "%s: %s must be a string", label, key);
        return;
    }
    size_t len = json_string_length(f);
    if (strlen(json_string_value(f)) != len)
        reject(v, 400, "%s: %s contains a NUL character", label, key);
    else if (len > max)
        reject(v, 400, "%s: %s is %zu bytes, over the limit of %zu", label, key, len, max);
}

static void check_enum(const json_t *item, const char *key, const char *const *list, size_t n,
                       const char *label, verdict *v)
{
    const json_t *f = json_object_get(item, key);
    if (!f || json_is_null(f))
        return;
    if (!json_is_string(f) || !in_list(json_string_value(f), list, n))
        reject(v, 422, "%s: %s is not a valid value", label, key);
}

/* Everything about one item that needs neither the store nor the rest of the batch. */
static void check_item(const json_t *item, size_t idx, verdict *v)
{
    char label[ID_SHOWN + 40];
    item_label(item, idx, label, sizeof label);
    if (!json_is_object(item)) {
        reject(v, 422, "%s: an item must be an object", label);
        return;
    }
    check_id_field(item, "id", true, ID_MAX_BYTES, label, v);
    check_id_field(item, "trace_id", true, TRACE_ID_MAX_BYTES, label, v);
    check_id_field(item, "parent_id", false, ID_MAX_BYTES, label, v);
    check_id_field(item, "group_id", false, ID_MAX_BYTES, label, v);
    check_id_field(item, "application_variant_id", false, ID_MAX_BYTES, label, v);
    check_id_field(item, "application_interaction_id", false, ID_MAX_BYTES, label, v);
    if (v->status)
        return;

    const json_t *name = json_object_get(item, "name");
    if (!json_is_string(name) || json_string_length(name) == 0)
        reject(v, 422, "%s: name must be a non-empty string", label);
    check_enum(item, "type", SPAN_TYPES, sizeof SPAN_TYPES / sizeof *SPAN_TYPES, label, v);
    check_enum(item, "status", SPAN_STATUSES, 3, label, v);

    int64_t start = 0, end = 0;
    const char *s = opt_str(item, "start_timestamp");
    if (!s || !parse_ts(s, &start))
        reject(v, 422, "%s: start_timestamp must be an ISO 8601 datetime", label);
    const json_t *e = json_object_get(item, "end_timestamp");
    if (e && !json_is_null(e)) {
        if (!json_is_string(e) || !parse_ts(json_string_value(e), &end))
            reject(v, 422, "%s: end_timestamp must be an ISO 8601 datetime", label);
        else if (!v->status && end < start)
            reject(v, 422, "%s: end_timestamp is before start_timestamp", label);
    }
    static const char *const sections[] = {"input", "output", "metadata"};
    for (size_t i = 0; i < 3; i++) {
        const json_t *f = json_object_get(item, sections[i]);
        if (f && !json_is_null(f) && !json_is_object(f))
            reject(v, 422, "%s: %s must be an object", label, sections[i]);
    }
    const char *parent = opt_str(item, "parent_id");
    if (!v->status && parent && !strcmp(parent, opt_str(item, "id")))
        reject(v, 409, "%s: a span cannot be its own parent", label);
}

/* Open-addressing index of a batch's items by (trace_id, id), probed from the hash of id, so
 * every item with one id sits in one probe run. Holds the last occurrence of each key. */
typedef struct batch_index {
    size_t *slot; /* item index + 1; 0: empty */
    size_t mask;
    json_t *items;
} batch_index;

static bool bindex_init(batch_index *b, json_t *items)
{
    size_t n = json_array_size(items), cap = 16;
    while (cap < n * 2)
        cap *= 2;
    b->slot = calloc(cap, sizeof *b->slot);
    b->mask = cap - 1;
    b->items = items;
    if (!b->slot)
        return false;
    for (size_t i = 0; i < n; i++) {
        const json_t *it = json_array_get(items, i);
        const char *id = opt_str(it, "id"), *tr = opt_str(it, "trace_id");
        size_t k = hash_str(id) & b->mask;
        while (b->slot[k]) {
            const json_t *o = json_array_get(items, b->slot[k] - 1);
            if (!strcmp(opt_str(o, "id"), id) && !strcmp(opt_str(o, "trace_id"), tr))
                break;
            k = (k + 1) & b->mask;
        }
        b->slot[k] = i + 1;
    }
    return true;
}

/* Index of the item keyed (trace_id, id), or of any item with that id when trace_id is NULL;
 * -1 when none. */
static long bindex_find(const batch_index *b, const char *trace_id, const char *id)
{
    for (size_t k = hash_str(id) & b->mask; b->slot[k]; k = (k + 1) & b->mask) {
        const json_t *o = json_array_get(b->items, b->slot[k] - 1);
        if (!strcmp(opt_str(o, "id"), id) &&
            (!trace_id || !strcmp(opt_str(o, "trace_id"), trace_id)))
            return (long)b->slot[k] - 1;
    }
    return -1;
}

/*
 * The rules that need the whole batch and the store (mu held): poisoned ids (422), a parent
 * known in another trace (409), a cycle through parent_id (409). Parents the receiver has never
 * seen are accepted: the real server resolves them elsewhere.
 */
static void check_batch(weft_rx *rx, json_t *items, verdict *v)
{
    size_t n = json_array_size(items);
    char label[ID_SHOWN + 40];
    for (size_t i = 0; i < n && rx->npoison; i++) {
        const json_t *it = json_array_get(items, i);
        if (in_list(opt_str(it, "id"), (const char *const *)rx->poison, rx->npoison)) {
            reject(v, 422, "%s: rejected by the server (poisoned span)",
                   item_label(it, i, label, sizeof label));
            if (!rx->list_rejections)
                return;
            /* FastAPI's validation error: one entry per offending item, located by index. */
            v->list = json_array();
            for (size_t k = i; k < n && v->list; k++) {
                const json_t *x = json_array_get(items, k);
                const char *id = opt_str(x, "id");
                if (in_list(id, (const char *const *)rx->poison, rx->npoison))
                    json_array_append_new(v->list, json_pack("{s:s,s:[s,s,I,s],s:s,s:s}", "type",
                                                             "value_error", "loc", "body", "items",
                                                             (json_int_t)k, "id", "msg",
                                                             "Value error, poisoned span", "input", id));
            }
            return;
        }
    }

    batch_index b;
    unsigned char *state = calloc(n ? n : 1, 1); /* 0 new, 1 on the current walk, 2 no cycle */
    size_t *path = malloc((n ? n : 1) * sizeof *path);
    if (!bindex_init(&b, items) || !state || !path) {
        reject(v, 500, "receiver out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *it = json_array_get(items, i);
        const char *tr = opt_str(it, "trace_id"), *parent = opt_str(it, "parent_id");
        if (!parent || bindex_find(&b, tr, parent) >= 0 || store_find(rx, tr, parent))
            continue;
        long o = bindex_find(&b, NULL, parent);
        const char *other = o >= 0 ? opt_str(json_array_get(items, (size_t)o), "trace_id") : NULL;
        if (!other) {
            span_entry *e = store_find_id(rx, parent);
            other = e ? e->trace_id : NULL;
        }
        if (other) {
            reject(v, 409, "%s: parent '%.*s' belongs to trace '%.*s', not '%.*s'",
                   item_label(it, i, label, sizeof label), ID_SHOWN, parent, ID_SHOWN, other,
                   ID_SHOWN, tr);
            goto out;
        }
    }

    /* Walk parent links from each item; the batch's own version of a span overrides the
     * stored one. Stored spans alone are acyclic, so a walk leaving the batch for good ends
     * within rx->count steps. */
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        long cur = bindex_find(&b, opt_str(json_array_get(items, i), "trace_id"),
                               opt_str(json_array_get(items, i), "id"));
        while (cur >= 0 && state[cur] != 2) {
            if (state[cur] == 1) {
                reject(v, 409, "%s: parent_id forms a cycle",
                       item_label(json_array_get(items, (size_t)cur), (size_t)cur, label,
                                  sizeof label));
                goto out;
            }
            state[cur] = 1;
            path[len++] = (size_t)cur;
            const json_t *it = json_array_get(items, (size_t)cur);
            const char *tr = opt_str(it, "trace_id"), *parent = opt_str(it, "parent_id");
            cur = -1;
            for (size_t steps = 0; parent && steps <= rx->count; steps++) {
                cur = bindex_find(&b, tr, parent);
                if (cur >= 0)
                    break;
                span_entry *e = store_find(rx, tr, parent);
                parent = e ? e->parent_id : NULL;
            }
        }
        for (size_t k = 0; k < len; k++)
            state[path[k]] = 2;
    }
out:
    free(b.slot);
    free(state);
    free(path);
}

/* Whether j holds the invalid-UTF-8 marker in any string or key. */
static bool holds_mark(const json_t *j)
{
    if (json_is_string(j))
        return memmem(json_string_value(j), json_string_length(j), UTF8_MARK, 3) != NULL;
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++)
            if (holds_mark(json_array_get(j, i)))
                return true;
    } else if (json_is_object(j)) {
        const char *k;
        json_t *val;
        json_object_foreach((json_t *)j, k, val)
        {
            if (strstr(k, UTF8_MARK) || holds_mark(val))
                return true;
        }
    }
    return false;
}

/* The body held invalid UTF-8: parse a copy with each bad byte replaced by the marker and name
 * the first item holding one, as the API names the offending item. */
static void reject_bad_utf8(const char *body, size_t len, verdict *v)
{
    char *copy = malloc(len * 3 + 1);
    size_t o = 0;
    json_t *root = NULL;
    if (copy) {
        for (size_t i = 0; i < len;) {
            size_t k = utf8_seq((const unsigned char *)body + i, len - i);
            if (k) {
                memcpy(copy + o, body + i, k);
                o += k;
                i += k;
            } else {
                memcpy(copy + o, UTF8_MARK, 3);
                o += 3;
                i++;
            }
        }
        root = json_loadb(copy, o, JSON_ALLOW_NUL, NULL);
    }
    json_t *items = json_object_get(root, "items");
    for (size_t i = 0; i < json_array_size(items); i++) {
        const json_t *it = json_array_get(items, i);
        if (holds_mark(it)) {
            reject(v, 400, "items[%zu]: invalid UTF-8 in the item", i);
            break;
        }
    }
    reject(v, 400, "body is not valid UTF-8");
    json_decref(root);
    free(copy);
}

/* ---- answers ------------------------------------------------------------------------------ */

typedef struct request {
    weft_rx *rx;
    bool route_ok;    /* a route of receiver.h */
    int route;        /* enum route */
    char *span_id;    /* GET / PATCH /v5/spans/{id}: the id */
    bool keep_body;   /* buffering the body for a parse */
    bool too_big;     /* over the size limit: read and thrown away */
    bool answered;    /* refused at the first call; later calls only drain */
    size_t limit;     /* 0: none beyond the hard limit */
    size_t received;
    char *body;
    size_t len, cap;
    scanner scan;
} request;

static void count_status(weft_rx *rx, int status)
{
    if (status >= 0 && status < STATUS_SLOTS)
        rx->status_counts[status]++;
}

/* Queues `status` with the JSON text `text` (taken: freed with jansson's allocator). */
static enum MHD_Result send_json(struct MHD_Connection *conn, int status, char *text,
                                 const char *retry_after, unsigned retry_after_ms)
{
    json_free_t jfree;
    json_get_alloc_funcs(NULL, &jfree);
    struct MHD_Response *r =
        MHD_create_response_from_buffer_with_free_callback(strlen(text), text, jfree);
    if (!r) {
        jfree(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (retry_after)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    if (retry_after_ms) {
        char ms[24];
        snprintf(ms, sizeof ms, "%u", retry_after_ms);
        MHD_add_response_header(r, "retry-after-ms", ms);
    }
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

/* A {"detail": ...} answer, counted and remembered as the last detail. */
static enum MHD_Result send_detail_list(weft_rx *rx, struct MHD_Connection *conn, int status,
                                        const char *detail, json_t *list, const char *retry_after,
                                        unsigned retry_after_ms)
{
    json_t *obj = list ? json_pack("{s:o}", "detail", list) : json_pack("{s:s}", "detail", detail);
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    pthread_mutex_lock(&rx->mu);
    count_status(rx, status);
    free(rx->last_detail);
    rx->last_detail = strdup(detail);
    pthread_mutex_unlock(&rx->mu);
    if (!text)
        return MHD_NO;
    return send_json(conn, status, text, retry_after, retry_after_ms);
}

static enum MHD_Result send_detail(weft_rx *rx, struct MHD_Connection *conn, int status,
                                   const char *detail, const char *retry_after,
                                   unsigned retry_after_ms)
{
    return send_detail_list(rx, conn, status, detail, NULL, retry_after, retry_after_ms);
}

/* Waits `ms` unless the receiver is stopping; mu held. */
static void wait_ms(weft_rx *rx, unsigned ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    while (!rx->stopping && pthread_cond_timedwait(&rx->wake, &rx->mu, &until) != ETIMEDOUT) {
    }
}

/* Parses, validates and stores a batch; answers 200 echoing what the server now holds. */
static enum MHD_Result answer_batch(weft_rx *rx, struct MHD_Connection *conn, request *rq)
{
    verdict v = {0};
    json_error_t err;
    json_t *root = json_loadb(rq->body ? rq->body : "", rq->len, JSON_ALLOW_NUL, &err);
    json_t *items = json_object_get(root, "items");
    if (!root) {
        if (json_error_code(&err) == json_error_invalid_utf8)
            reject_bad_utf8(rq->body, rq->len, &v);
        else
            reject(&v, 400, "body is not JSON: %s", err.text);
    } else if (!json_is_array(items)) {
        reject(&v, 400, "body must be an object with an items array");
    } else if (json_array_size(items) > WEFT_RX_MAX_ITEMS) {
        reject(&v, 422, "items: %zu items, over the limit of %d per request",
               json_array_size(items), WEFT_RX_MAX_ITEMS);
    } else {
        for (size_t i = 0; i < json_array_size(items) && !v.status; i++)
            check_item(json_array_get(items, i), i, &v);
    }
    if (v.status) {
        json_decref(root);
        return send_detail(rx, conn, v.status, v.detail, NULL, 0);
    }

    json_t *echo = json_array();
    pthread_mutex_lock(&rx->mu);
    check_batch(rx, items, &v);
    for (size_t i = 0; i < json_array_size(items) && !v.status; i++) {
        span_entry *e = store_upsert(rx, json_array_get(items, i));
        if (!e)
            reject(&v, 500, "receiver out of memory");
        else if (echo)
            json_array_append(echo, e->item);
    }
    if (!v.status)
        count_status(rx, 200);
    pthread_mutex_unlock(&rx->mu);
    json_decref(root);
    if (v.status) {
        json_decref(echo);
        return send_detail_list(rx, conn, v.status, v.detail, v.list, NULL, 0);
    }
    /* Dumped without the lock: the echo holds its own references to immutable items. */
    json_t *reply = json_pack("{s:o}", "items", echo ? echo : json_array());
    char *text = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
    json_decref(reply);
    return text ? send_json(conn, 200, text, NULL, 0) : MHD_NO;
}

/* ---- the rest of the spans resource: create, retrieve, update, search ---------------------- */

/* Routes besides the batch endpoint; see receiver.h. */
enum route { R_NONE = 0, R_BATCH, R_CREATE, R_SEARCH, R_GET, R_PATCH };

/* Which route method + url is, and for R_GET / R_PATCH the span id (a pointer into url). */
static enum route route_of(const char *method, const char *url, const char **id)
{
    static const char prefix[] = "/v5/spans/";
    *id = NULL;
    bool put = !strcmp(method, MHD_HTTP_METHOD_PUT), post = !strcmp(method, MHD_HTTP_METHOD_POST);
    if (!strcmp(url, WEFT_RX_PATH))
        return put || post ? R_BATCH : R_NONE;
    if (!strcmp(url, WEFT_RX_SPANS_PATH))
        return post ? R_CREATE : R_NONE;
    if (!strcmp(url, WEFT_RX_SEARCH_PATH))
        return post ? R_SEARCH : R_NONE;
    if (!strncmp(url, prefix, sizeof prefix - 1) && url[sizeof prefix - 1] &&
        !strchr(url + sizeof prefix - 1, '/')) {
        *id = url + sizeof prefix - 1;
        if (!strcmp(method, MHD_HTTP_METHOD_GET))
            return R_GET;
        if (!strcmp(method, "PATCH"))
            return R_PATCH;
    }
    return R_NONE;
}

/* A stored item as the API answers it: with "object", "account_id" (the request's
 * x-selected-account-id, else WEFT_RX_ACCOUNT) and "created_by" added when the item has none.
 * New reference (a shallow copy: stored items are never modified). */
static json_t *decorate(const json_t *item, struct MHD_Connection *conn)
{
    json_t *o = json_copy((json_t *)item);
    if (!o)
        return NULL;
    const char *acct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-selected-account-id");
    if (!json_object_get(o, "object"))
        json_object_set_new(o, "object", json_string("span"));
    if (!json_object_get(o, "account_id"))
        json_object_set_new(o, "account_id", json_string(acct ? acct : WEFT_RX_ACCOUNT));
    if (!json_object_get(o, "created_by"))
        json_object_set_new(o, "created_by", json_pack("{s:s,s:s,s:s}", "id", "rx-service-account",
                                                       "type", "service_account", "object",
                                                       "identity"));
    return o;
}

static enum MHD_Result send_value(weft_rx *rx, struct MHD_Connection *conn, int status, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!text)
        return send_detail(rx, conn, 500, "receiver out of memory", NULL, 0);
    pthread_mutex_lock(&rx->mu);
    count_status(rx, status);
    pthread_mutex_unlock(&rx->mu);
    return send_json(conn, status, text, NULL, 0);
}

/* The body as a JSON object; NULL with v set (400) otherwise. An empty body is {} when
 * empty_ok. */
static json_t *body_object(const request *rq, bool empty_ok, verdict *v)
{
    if (rq->len == 0 && empty_ok)
        return json_object();
    json_error_t err;
    json_t *root = json_loadb(rq->body ? rq->body : "", rq->len, JSON_ALLOW_NUL, &err);
    if (!root) {
        reject(v, 400, "body is not JSON: %s", err.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        reject(v, 400, "body must be a JSON object");
        return NULL;
    }
    return root;
}

/* POST /v5/spans: one new span; the server picks an id when none is given; 409 when
 * (trace_id, id) exists. */
static enum MHD_Result answer_create(weft_rx *rx, struct MHD_Connection *conn, request *rq)
{
    verdict v = {0};
    json_t *span = body_object(rq, false, &v);
    if (span && !json_object_get(span, "id")) {
        char id[40];
        uint64_t a = hash_str(rx->url) ^ (uint64_t)mono_ns(), b = a * 0x9E3779B97F4A7C15ull;
        snprintf(id, sizeof id, "%08x-%04x-4%03x-a%03x-%012llx", (unsigned)(a >> 32),
                 (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff, (unsigned)(b >> 52),
                 (unsigned long long)(b & 0xffffffffffffull));
        json_object_set_new(span, "id", json_string(id));
    }
    if (span)
        check_item(span, 0, &v);
    json_t *items = span ? json_pack("[O]", span) : NULL;
    json_t *stored = NULL;
    if (!v.status) {
        pthread_mutex_lock(&rx->mu);
        if (store_find(rx, opt_str(span, "trace_id"), opt_str(span, "id")))
            reject(&v, 409, "span '%.*s' already exists in trace '%.*s'", ID_SHOWN,
                   opt_str(span, "id"), ID_SHOWN, opt_str(span, "trace_id"));
        else
            check_batch(rx, items, &v);
        span_entry *e = v.status ? NULL : store_upsert(rx, span);
        if (!v.status && !e)
            reject(&v, 500, "receiver out of memory");
        stored = e ? json_incref(e->item) : NULL;
        pthread_mutex_unlock(&rx->mu);
    }
    json_decref(items);
    json_decref(span);
    if (v.status)
        return send_detail(rx, conn, v.status, v.detail, NULL, 0);
    json_t *out = decorate(stored, conn);
    json_decref(stored);
    return send_value(rx, conn, 200, out);
}

/* POST /v5/spans/batch answers like PUT (create or replace); the API's create-only batch is
 * not told apart here. The decorated echo is answer_batch's. */

static enum MHD_Result answer_get(weft_rx *rx, struct MHD_Connection *conn, const char *id)
{
    pthread_mutex_lock(&rx->mu);
    span_entry *e = store_find_id(rx, id);
    json_t *item = e ? json_incref(e->item) : NULL;
    pthread_mutex_unlock(&rx->mu);
    if (!item)
        return send_detail(rx, conn, 404, "Span not found", NULL, 0);
    json_t *out = decorate(item, conn);
    json_decref(item);
    return send_value(rx, conn, 200, out);
}

/* PATCH /v5/spans/{id}: name, end_timestamp, output, metadata, status; 501 while
 * weft_rx_set_patch_unsupported is on. */
static enum MHD_Result answer_patch(weft_rx *rx, struct MHD_Connection *conn, request *rq,
                                    const char *id)
{
    pthread_mutex_lock(&rx->mu);
    bool unsupported = rx->patch_unsupported;
    pthread_mutex_unlock(&rx->mu);
    if (unsupported)
        return send_detail(rx, conn, 501,
                           "PATCH is not available for this account: the tracing service is "
                           "upsert-only; use PUT /v5/spans/batch",
                           NULL, 0);
    verdict v = {0};
    json_t *upd = body_object(rq, false, &v);
    static const char *const allowed[] = {"name", "end_timestamp", "output", "metadata",
                                          "status"};
    const char *k;
    json_t *val;
    if (upd)
        json_object_foreach(upd, k, val)
        {
            if (!in_list(k, allowed, sizeof allowed / sizeof *allowed))
                reject(&v, 422, "%s cannot be updated", k);
        }
    json_t *out = NULL;
    if (!v.status) {
        pthread_mutex_lock(&rx->mu);
        span_entry *e = store_find_id(rx, id);
        if (!e) {
            reject(&v, 404, "Span not found");
        } else {
            json_t *item = json_deep_copy(e->item);
            json_object_update(item, upd);
            check_item(item, 0, &v);
            if (!v.status) {
                bool completed = item_completed(item);
                rx->completed += completed && !e->completed;
                rx->completed -= !completed && e->completed;
                e->completed = completed;
                json_decref(e->item);
                e->item = json_incref(item);
                e->upserts++;
                out = item;
            } else {
                json_decref(item);
            }
        }
        pthread_mutex_unlock(&rx->mu);
    }
    json_decref(upd);
    if (v.status)
        return send_detail(rx, conn, v.status, v.detail, NULL, 0);
    json_t *answer = decorate(out, conn);
    json_decref(out);
    return send_value(rx, conn, 200, answer);
}

/* One span's sort key (start_timestamp, then trace_id and id bytewise, as the API orders). */
typedef struct match {
    json_t *item; /* one reference */
    int64_t start_ns;
    const char *trace_id, *id;
} match;

static int key_cmp(const match *a, const match *b)
{
    if (a->start_ns != b->start_ns)
        return a->start_ns < b->start_ns ? -1 : 1;
    int c = strcmp(a->trace_id, b->trace_id);
    return c ? c : strcmp(a->id, b->id);
}

static int cmp_asc(const void *x, const void *y)
{
    return key_cmp(x, y);
}

static int cmp_desc(const void *x, const void *y)
{
    return key_cmp(y, x);
}

/* Whether any string inside j (values, recursively) contains needle, ignoring ASCII case. */
static bool holds_text(const json_t *j, const char *needle)
{
    if (json_is_string(j))
        return strcasestr(json_string_value(j), needle) != NULL;
    if (json_is_array(j)) {
        for (size_t i = 0; i < json_array_size(j); i++)
            if (holds_text(json_array_get(j, i), needle))
                return true;
    } else if (json_is_object(j)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)j, k, v)
        {
            if (holds_text(v, needle))
                return true;
        }
    }
    return false;
}

/* A list filter holds when it is absent or the value is one of its strings. */
static bool list_holds(const json_t *filters, const char *key, const char *value)
{
    const json_t *l = json_object_get(filters, key);
    if (!l)
        return true;
    if (!value)
        return false;
    for (size_t i = 0; i < json_array_size(l); i++)
        if (!strcmp(json_string_value(json_array_get(l, i)), value))
            return true;
    return false;
}

static bool list_excludes(const json_t *filters, const char *key, const char *value)
{
    const json_t *l = json_object_get(filters, key);
    for (size_t i = 0; value && i < json_array_size(l); i++)
        if (!strcmp(json_string_value(json_array_get(l, i)), value))
            return true;
    return false;
}

/* Every filter of a validated search body against one stored item. */
static bool matches(const json_t *item, const json_t *f, int64_t start_ns, bool has_from,
                    int64_t from_ns, bool has_to, int64_t to_ns)
{
    if ((has_from && start_ns < from_ns) || (has_to && start_ns > to_ns))
        return false;
    const char *status = opt_str(item, "status");
    if (!list_holds(f, "application_variant_ids", opt_str(item, "application_variant_id")) ||
        !list_holds(f, "names", opt_str(item, "name")) ||
        !list_holds(f, "span_ids", opt_str(item, "id")) ||
        !list_holds(f, "statuses", status ? status : "SUCCESS") ||
        !list_holds(f, "trace_ids", opt_str(item, "trace_id")) ||
        !list_holds(f, "types", opt_str(item, "type")) ||
        list_excludes(f, "excluded_span_ids", opt_str(item, "id")) ||
        list_excludes(f, "excluded_trace_ids", opt_str(item, "trace_id")))
        return false;
    const char *group = json_string_value(json_object_get(f, "group_id"));
    if (group && (!opt_str(item, "group_id") || strcmp(group, opt_str(item, "group_id"))))
        return false;
    if (json_is_true(json_object_get(f, "parents_only")) && opt_str(item, "parent_id"))
        return false;
    const json_t *meta = json_object_get(f, "extra_metadata");
    const json_t *im = json_object_get(item, "metadata");
    const char *k;
    json_t *want;
    json_object_foreach((json_t *)meta, k, want)
    {
        const json_t *have = json_object_get(im, k);
        if (!have || !json_equal((json_t *)have, want))
            return false;
    }
    const json_t *texts = json_object_get(f, "search_texts");
    if (texts && json_array_size(texts)) {
        bool any = false;
        for (size_t i = 0; i < json_array_size(texts) && !any; i++) {
            const char *t = json_string_value(json_array_get(texts, i));
            any = holds_text(json_object_get(item, "input"), t) ||
                  holds_text(json_object_get(item, "output"), t);
        }
        if (!any)
            return false;
    }
    return true;
}

/* The body filters the API documents and the JSON type each must have. */
static void check_filters(const json_t *f, verdict *v)
{
    static const char *const lists[] = {"application_variant_ids", "excluded_span_ids",
                                        "excluded_trace_ids", "names", "search_texts", "span_ids",
                                        "statuses", "trace_ids", "types"};
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)f, k, val)
    {
        if (in_list(k, lists, sizeof lists / sizeof *lists)) {
            if (!json_is_array(val)) {
                reject(v, 422, "%s must be a list of strings", k);
                continue;
            }
            for (size_t i = 0; i < json_array_size(val); i++)
                if (!json_is_string(json_array_get(val, i)))
                    reject(v, 422, "%s must be a list of strings", k);
            if (!strcmp(k, "statuses"))
                for (size_t i = 0; i < json_array_size(val); i++)
                    if (!in_list(json_string_value(json_array_get(val, i)), SPAN_STATUSES, 3))
                        reject(v, 422, "statuses: '%s' is not a span status",
                               json_string_value(json_array_get(val, i)));
            if (!strcmp(k, "types"))
                for (size_t i = 0; i < json_array_size(val); i++)
                    if (!in_list(json_string_value(json_array_get(val, i)), SPAN_TYPES,
                                 sizeof SPAN_TYPES / sizeof *SPAN_TYPES))
                        reject(v, 422, "types: '%s' is not a span type",
                               json_string_value(json_array_get(val, i)));
        } else if (!strcmp(k, "group_id")) {
            if (!json_is_string(val))
                reject(v, 422, "group_id must be a string");
        } else if (!strcmp(k, "parents_only")) {
            if (!json_is_boolean(val))
                reject(v, 422, "parents_only must be a boolean");
        } else if (!strcmp(k, "extra_metadata")) {
            if (!json_is_object(val))
                reject(v, 422, "extra_metadata must be an object");
        } else {
            reject(v, 422, "unknown search filter '%s'", k);
        }
    }
}

static const char *arg(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

/* POST /v5/spans/search with every filter, keyset paging by span id in both directions. */
static enum MHD_Result answer_search(weft_rx *rx, struct MHD_Connection *conn, request *rq)
{
    verdict v = {0};
    long limit = WEFT_RX_SEARCH_DEFAULT_LIMIT;
    const char *ls = arg(conn, "limit");
    if (ls) {
        char *end;
        errno = 0;
        limit = strtol(ls, &end, 10);
        if (!*ls || *end || errno || limit < 1 || limit > WEFT_RX_MAX_ITEMS)
            reject(&v, 422, "limit must be an integer between 1 and %d", WEFT_RX_MAX_ITEMS);
    }
    const char *order = arg(conn, "sort_order"), *sort_by = arg(conn, "sort_by");
    if (order && strcmp(order, "asc") && strcmp(order, "desc"))
        reject(&v, 422, "sort_order must be asc or desc");
    if (sort_by && strcmp(sort_by, "start_timestamp"))
        reject(&v, 422, "sort_by '%s' is not supported by this receiver", sort_by);
    bool desc = order && !strcmp(order, "desc");
    const char *from = arg(conn, "from_ts"), *to = arg(conn, "to_ts");
    int64_t from_ns = 0, to_ns = 0;
    if (from && !parse_ts(from, &from_ns))
        reject(&v, 422, "from_ts must be an ISO 8601 datetime");
    if (to && !parse_ts(to, &to_ns))
        reject(&v, 422, "to_ts must be an ISO 8601 datetime");
    if (!v.status && from && to && from_ns > to_ns)
        reject(&v, 422, "from_ts is after to_ts");
    const char *after = arg(conn, "starting_after"), *before = arg(conn, "ending_before");
    if (after && before)
        reject(&v, 422, "give starting_after or ending_before, not both");
    json_t *f = v.status ? NULL : body_object(rq, true, &v);
    if (f)
        check_filters(f, &v);
    if (v.status) {
        json_decref(f);
        return send_detail(rx, conn, v.status, v.detail, NULL, 0);
    }

    const char *cursor = after ? after : before;
    match key = {0};
    char *ckey_trace = NULL, *ckey_id = NULL;
    pthread_mutex_lock(&rx->mu);
    if (cursor) {
        span_entry *e = store_find_id(rx, cursor);
        if (!e || !parse_ts(opt_str(e->item, "start_timestamp"), &key.start_ns)) {
            reject(&v, 422, "unknown cursor '%.*s'", ID_SHOWN, cursor);
        } else {
            ckey_trace = strdup(e->trace_id);
            ckey_id = strdup(e->id);
            key.trace_id = ckey_trace ? ckey_trace : "";
            key.id = ckey_id ? ckey_id : "";
        }
    }
    match *m = v.status ? NULL : malloc((rx->count ? rx->count : 1) * sizeof *m);
    size_t n = 0;
    for (size_t i = 0; m && i < rx->nbuckets; i++)
        for (span_entry *e = rx->buckets[i]; e; e = e->next) {
            int64_t ns = 0;
            parse_ts(opt_str(e->item, "start_timestamp"), &ns);
            if (matches(e->item, f, ns, from != NULL, from_ns, to != NULL, to_ns))
                m[n++] = (match){json_incref(e->item), ns, e->trace_id, e->id};
        }
    pthread_mutex_unlock(&rx->mu);
    json_decref(f);
    if (v.status || !m) {
        free(ckey_trace);
        free(ckey_id);
        if (!v.status)
            reject(&v, 500, "receiver out of memory");
        return send_detail(rx, conn, v.status, v.detail, NULL, 0);
    }
    /* trace_id and id point into items the matches hold references to. */
    for (size_t i = 0; i < n; i++) {
        m[i].trace_id = opt_str(m[i].item, "trace_id");
        m[i].id = opt_str(m[i].item, "id");
    }
    int (*cmp)(const void *, const void *) = desc ? cmp_desc : cmp_asc;
    qsort(m, n, sizeof *m, cmp);
    /* [lo, hi): the page, in sort order. */
    size_t lo = 0, hi = n;
    bool more;
    if (before) {
        while (hi > 0 && cmp(&m[hi - 1], &key) >= 0)
            hi--;
        lo = hi > (size_t)limit ? hi - (size_t)limit : 0;
        more = lo > 0;
    } else {
        if (after)
            while (lo < n && cmp(&m[lo], &key) <= 0)
                lo++;
        hi = n - lo > (size_t)limit ? lo + (size_t)limit : n;
        more = hi < n;
    }
    json_t *items = json_array();
    for (size_t i = lo; items && i < hi; i++)
        json_array_append_new(items, decorate(m[i].item, conn));
    for (size_t i = 0; i < n; i++)
        json_decref(m[i].item);
    free(m);
    free(ckey_trace);
    free(ckey_id);
    json_t *answer = json_pack("{s:s,s:o,s:i,s:I,s:b}", "object", "list", "items",
                               items ? items : json_array(), "limit", (int)limit, "total",
                               (json_int_t)n, "has_more", more);
    return send_value(rx, conn, 200, answer);
}

/* ---- answers that break ----------------------------------------------------------------------- */

/* A 200 whose body is JSON cut short: well framed (Content-Length matches), not parseable. */
static enum MHD_Result send_malformed(weft_rx *rx, struct MHD_Connection *conn)
{
    static const char text[] = "{\"object\":\"list\",\"items\":[{\"id\":\"cut";
    pthread_mutex_lock(&rx->mu);
    count_status(rx, 200);
    pthread_mutex_unlock(&rx->mu);
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof text - 1, (void *)text,
                                                              MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* Content-Length of a whole answer, then half of it, then the connection is closed. */
static const char CUT_BODY[] = "{\"object\":\"list\",\"items\":[],\"limit\":100,\"total\":0,"
                               "\"has_more\":false}";

static ssize_t cut_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    size_t half = (sizeof CUT_BODY - 1) / 2;
    if (pos >= half)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t n = half - (size_t)pos < max ? half - (size_t)pos : max;
    memcpy(buf, CUT_BODY + pos, n);
    return (ssize_t)n;
}

static enum MHD_Result send_cut(weft_rx *rx, struct MHD_Connection *conn)
{
    pthread_mutex_lock(&rx->mu);
    count_status(rx, 0);
    pthread_mutex_unlock(&rx->mu);
    struct MHD_Response *r =
        MHD_create_response_from_callback(sizeof CUT_BODY - 1, 64, cut_reader, NULL, NULL);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* The final handler call: the whole body is in; decide the answer. */
static enum MHD_Result finish(weft_rx *rx, struct MHD_Connection *conn, request *rq)
{
    size_t nitems = rq->scan.items;
    pthread_mutex_lock(&rx->mu);
    if (rq->received > rx->max_body_seen)
        rx->max_body_seen = rq->received;
    if (nitems > rx->max_items)
        rx->max_items = nitems;
    if (rx->delay_ms)
        wait_ms(rx, rx->delay_ms);
    if (rx->drop_count > 0) {
        rx->drop_count--;
        count_status(rx, 0);
        pthread_mutex_unlock(&rx->mu);
        return MHD_NO; /* MHD closes the connection without an answer */
    }
    if (rx->malformed_count > 0) {
        rx->malformed_count--;
        pthread_mutex_unlock(&rx->mu);
        return send_malformed(rx, conn);
    }
    if (rx->cut_count > 0) {
        rx->cut_count--;
        pthread_mutex_unlock(&rx->mu);
        return send_cut(rx, conn);
    }
    char fault_ra[128];
    const char *ra = NULL;
    int fault = 0;
    if (rx->outage) {
        fault = 503;
        ra = copy_out(rx->outage_retry_after, fault_ra, sizeof fault_ra) ? fault_ra : NULL;
    } else if (rx->fail_count > 0) {
        rx->fail_count--;
        fault = rx->fail_status;
        ra = copy_out(rx->fail_retry_after, fault_ra, sizeof fault_ra) ? fault_ra : NULL;
    }
    unsigned ra_ms = rx->retry_after_ms;
    pthread_mutex_unlock(&rx->mu);
    if (fault)
        return send_detail(rx, conn, fault, "injected fault", ra, ra_ms);

    if (!rq->route_ok)
        return send_detail(rx, conn, 404, "Not Found", NULL, 0);
    if (rq->too_big)
        return send_detail(rx, conn, 413, "request body too large", NULL, 0);
    if (rx->api_key) {
        const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "x-api-key");
        if (!key)
            return send_detail(rx, conn, 401, "missing x-api-key header", NULL, 0);
        if (strcmp(key, rx->api_key))
            return send_detail(rx, conn, 401, "invalid API key", NULL, 0);
    }

    switch (rq->route) {
    case R_CREATE:
        return answer_create(rx, conn, rq);
    case R_SEARCH:
        return answer_search(rx, conn, rq);
    case R_GET:
        return answer_get(rx, conn, rq->span_id);
    case R_PATCH:
        return answer_patch(rx, conn, rq, rq->span_id);
    default:
        break;
    }

    pthread_mutex_lock(&rx->mu);
    bool over = false;
    if (rx->capacity) {
        int64_t now = mono_ns();
        if (now - rx->window_start_ns >= 1000000000) {
            rx->window_start_ns = now;
            rx->window_spans = 0;
        }
        over = rx->window_spans > 0 && rx->window_spans + nitems > rx->capacity;
        if (!over)
            rx->window_spans += nitems;
    }
    pthread_mutex_unlock(&rx->mu);
    if (over)
        return send_detail(rx, conn, 429, "rate limit exceeded", "1", 0);

    if (!rx->discard)
        return answer_batch(rx, conn, rq);
    if (!rq->scan.items_found)
        return send_detail(rx, conn, 400, "body must be an object with an items array", NULL, 0);
    if (nitems > WEFT_RX_MAX_ITEMS) {
        char d[96];
        snprintf(d, sizeof d, "items: %zu items, over the limit of %d per request", nitems,
                 WEFT_RX_MAX_ITEMS);
        return send_detail(rx, conn, 422, d, NULL, 0);
    }
    pthread_mutex_lock(&rx->mu);
    rx->upserts += nitems;
    count_status(rx, 200);
    pthread_mutex_unlock(&rx->mu);
    static const char empty[] = "{\"items\":[]}";
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof empty - 1, (void *)empty,
                                                              MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* ---- the MHD callbacks -------------------------------------------------------------------- */

typedef struct header_list {
    header_kv *v;
    size_t n, cap;
    bool oom;
} header_list;

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    header_list *l = cls;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        header_kv *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->oom = true;
            return MHD_NO;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].name = strdup(key);
    l->v[l->n].value = strdup(value ? value : "");
    l->n++;
    return MHD_YES;
}

static void headers_free(header_kv *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].name);
        free(v[i].value);
    }
    free(v);
}

/* The first call for a request: count it, record its headers, and refuse an announced
 * oversized body while the client still waits on 100-continue. */
static enum MHD_Result begin(weft_rx *rx, struct MHD_Connection *conn, const char *url,
                             const char *method, void **con_cls)
{
    request *rq = calloc(1, sizeof *rq);
    if (!rq)
        return MHD_NO;
    rq->rx = rx;
    const char *id;
    rq->route = route_of(method, url, &id);
    rq->route_ok = rq->route != R_NONE;
    if (id && !(rq->span_id = strdup(id))) {
        free(rq);
        return MHD_NO;
    }
    *con_cls = rq;

    header_list hl = {0};
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, &hl);
    pthread_mutex_lock(&rx->mu);
    rx->requests++;
    header_kv *old = rx->hdrs;
    size_t nold = rx->nhdrs;
    rx->hdrs = hl.v;
    rx->nhdrs = hl.n;
    size_t max = rx->max_body;
    pthread_mutex_unlock(&rx->mu);
    headers_free(old, nold);

    rq->limit = max && max < WEFT_RX_HARD_MAX_BODY ? max : WEFT_RX_HARD_MAX_BODY;
    rq->keep_body = rq->route_ok && (!rx->discard || rq->route != R_BATCH);
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long announced = cl ? strtoull(cl, NULL, 10) : 0;
    if (announced > rq->limit) {
        rq->too_big = true;
        rq->keep_body = false;
        const char *expect =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
        /* Answering now stops a client waiting on 100-continue from sending the body; without
         * Expect the body is already on its way, so it is read and dropped instead, since an
         * early answer followed by a close would reset the connection under the answer. */
        if (expect && !strcasecmp(expect, "100-continue")) {
            rq->answered = true;
            return send_detail(rx, conn, 413, "request body too large", NULL, 0);
        }
    } else if (rq->keep_body && announced) {
        rq->body = malloc(announced);
        rq->cap = rq->body ? announced : 0;
    }
    return MHD_YES;
}

static bool append_body(request *rq, const char *data, size_t n)
{
    if (rq->len + n > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 64 * 1024;
        while (cap < rq->len + n)
            cap *= 2;
        char *b = realloc(rq->body, cap);
        if (!b)
            return false;
        rq->body = b;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    return true;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    weft_rx *rx = cls;
    request *rq = *con_cls;
    if (!rq)
        return begin(rx, conn, url, method, con_cls);
    if (rq->answered) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        rq->received += n;
        if (rq->received > rq->limit && !rq->too_big) {
            rq->too_big = true;
            rq->keep_body = false;
        }
        if (rq->too_big) {
            free(rq->body);
            rq->body = NULL;
            rq->len = rq->cap = 0;
            return MHD_YES;
        }
        scan_feed(&rq->scan, upload_data, n);
        if (rq->keep_body && !append_body(rq, upload_data, n))
            return MHD_NO;
        return MHD_YES;
    }
    return finish(rx, conn, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    request *rq = *con_cls;
    if (rq) {
        free(rq->body);
        free(rq->span_id);
        free(rq);
        *con_cls = NULL;
    }
}

/* ---- lifetime ----------------------------------------------------------------------------- */

static void clear_faults(weft_rx *rx)
{
    rx->fail_status = rx->fail_count = 0;
    rx->list_rejections = false;
    free(rx->fail_retry_after);
    rx->fail_retry_after = NULL;
    rx->retry_after_ms = 0;
    rx->outage = false;
    free(rx->outage_retry_after);
    rx->outage_retry_after = NULL;
    rx->max_body = rx->initial_max_body;
    for (size_t i = 0; i < rx->npoison; i++)
        free(rx->poison[i]);
    free(rx->poison);
    rx->poison = NULL;
    rx->npoison = 0;
    rx->delay_ms = 0;
    rx->drop_count = 0;
    rx->capacity = 0;
    rx->window_start_ns = 0;
    rx->window_spans = 0;
    rx->patch_unsupported = false;
    rx->malformed_count = 0;
    rx->cut_count = 0;
}

weft_rx *weft_rx_start(const weft_rx_opts *opts)
{
    weft_rx_opts o = opts ? *opts : (weft_rx_opts){0};
    weft_rx *rx = calloc(1, sizeof *rx);
    if (!rx)
        return NULL;
    rx->api_key = dup_or_null(o.api_key);
    rx->discard = o.discard;
    rx->initial_max_body = rx->max_body = o.max_body;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rx->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&rx->mu, NULL);
    /* Seeds jansson's hash before any handler thread creates an object. */
    json_object_seed(0);

    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool tls = o.tls_cert_pem && o.tls_key_pem;
    if (tls) {
        rx->tls_cert = strdup(o.tls_cert_pem);
        rx->tls_key = strdup(o.tls_key_pem);
        if (!rx->tls_cert || !rx->tls_key) {
            weft_rx_stop(rx);
            return NULL;
        }
    }
    struct MHD_OptionItem tls_opts[] = {
        {tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, rx->tls_cert},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, rx->tls_key},
        {MHD_OPTION_END, 0, NULL},
    };
    rx->daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC | (tls ? MHD_USE_TLS : 0), 0,
        NULL, NULL, on_request, rx, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, rx,
        /* 256 KiB per connection: MHD reads the body in pieces up to about half of it, and
         * bigger pieces mean fewer handler calls for multi-MB batches. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!rx->daemon) {
        fprintf(stderr, "weft_rx_start: could not start libmicrohttpd on 127.0.0.1\n");
        weft_rx_stop(rx);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(rx->daemon, MHD_DAEMON_INFO_BIND_PORT);
    rx->port = info ? info->port : 0;
    if (!rx->port) {
        fprintf(stderr, "weft_rx_start: no bound port\n");
        weft_rx_stop(rx);
        return NULL;
    }
    snprintf(rx->url, sizeof rx->url, "%s://127.0.0.1:%u", tls ? "https" : "http", rx->port);
    return rx;
}

void weft_rx_stop(weft_rx *rx)
{
    if (!rx)
        return;
    pthread_mutex_lock(&rx->mu);
    rx->stopping = true;
    pthread_cond_broadcast(&rx->wake);
    pthread_mutex_unlock(&rx->mu);
    if (rx->daemon)
        MHD_stop_daemon(rx->daemon);
    store_clear(rx);
    headers_free(rx->hdrs, rx->nhdrs);
    free(rx->last_detail);
    clear_faults(rx);
    free(rx->api_key);
    free(rx->tls_cert);
    free(rx->tls_key);
    pthread_cond_destroy(&rx->wake);
    pthread_mutex_destroy(&rx->mu);
    free(rx);
}

const char *weft_rx_url(const weft_rx *rx)
{
    return rx->url;
}

unsigned weft_rx_port(const weft_rx *rx)
{
    return rx->port;
}

/* ---- queries ------------------------------------------------------------------------------ */

/* One counter read under the lock (the field's address is fixed, its value is not). */
static size_t read_locked(weft_rx *rx, const size_t *field)
{
    pthread_mutex_lock(&rx->mu);
    size_t v = *field;
    pthread_mutex_unlock(&rx->mu);
    return v;
}

size_t weft_rx_count(weft_rx *rx)
{
    return read_locked(rx, &rx->count);
}

size_t weft_rx_completed(weft_rx *rx)
{
    return read_locked(rx, &rx->completed);
}

size_t weft_rx_children_before_parent(weft_rx *rx)
{
    return read_locked(rx, &rx->orphans);
}

size_t weft_rx_upserts(weft_rx *rx)
{
    return read_locked(rx, &rx->upserts);
}

size_t weft_rx_requests(weft_rx *rx)
{
    return read_locked(rx, &rx->requests);
}

size_t weft_rx_max_items_seen(weft_rx *rx)
{
    return read_locked(rx, &rx->max_items);
}

size_t weft_rx_max_body_seen(weft_rx *rx)
{
    return read_locked(rx, &rx->max_body_seen);
}

size_t weft_rx_status_count(weft_rx *rx, int status)
{
    return status >= 0 && status < STATUS_SLOTS ? read_locked(rx, &rx->status_counts[status]) : 0;
}

json_t *weft_rx_get(weft_rx *rx, const char *trace_id, const char *id)
{
    if (!trace_id || !id)
        return NULL;
    pthread_mutex_lock(&rx->mu);
    span_entry *e = store_find(rx, trace_id, id);
    json_t *copy = e ? json_deep_copy(e->item) : NULL;
    pthread_mutex_unlock(&rx->mu);
    return copy;
}

size_t weft_rx_span_upserts(weft_rx *rx, const char *trace_id, const char *id)
{
    if (!trace_id || !id)
        return 0;
    pthread_mutex_lock(&rx->mu);
    span_entry *e = store_find(rx, trace_id, id);
    size_t n = e ? e->upserts : 0;
    pthread_mutex_unlock(&rx->mu);
    return n;
}

typedef struct snap {
    json_t *item;
    size_t upserts;
    bool completed;
} snap;

void weft_rx_foreach(weft_rx *rx, weft_rx_each_fn fn, void *ud)
{
    pthread_mutex_lock(&rx->mu);
    size_t n = 0;
    snap *s = malloc((rx->count ? rx->count : 1) * sizeof *s);
    for (size_t i = 0; s && i < rx->nbuckets; i++)
        for (span_entry *e = rx->buckets[i]; e; e = e->next)
            s[n++] = (snap){json_incref(e->item), e->upserts, e->completed};
    pthread_mutex_unlock(&rx->mu);
    for (size_t i = 0; i < n; i++) {
        fn(s[i].item, s[i].upserts, s[i].completed, ud);
        json_decref(s[i].item);
    }
    free(s);
}

bool weft_rx_last_header(weft_rx *rx, const char *name, char *out, size_t outlen)
{
    if (!name)
        return copy_out(NULL, out, outlen);
    pthread_mutex_lock(&rx->mu);
    const char *v = NULL;
    for (size_t i = 0; i < rx->nhdrs && !v; i++)
        if (rx->hdrs[i].name && !strcasecmp(rx->hdrs[i].name, name))
            v = rx->hdrs[i].value;
    bool ok = copy_out(v, out, outlen);
    pthread_mutex_unlock(&rx->mu);
    return ok;
}

bool weft_rx_last_detail(weft_rx *rx, char *out, size_t outlen)
{
    pthread_mutex_lock(&rx->mu);
    bool ok = copy_out(rx->last_detail, out, outlen);
    pthread_mutex_unlock(&rx->mu);
    return ok;
}

void weft_rx_reset(weft_rx *rx)
{
    pthread_mutex_lock(&rx->mu);
    store_clear(rx);
    rx->upserts = rx->requests = rx->max_items = rx->max_body_seen = 0;
    rx->orphans = 0;
    memset(rx->status_counts, 0, sizeof rx->status_counts);
    headers_free(rx->hdrs, rx->nhdrs);
    rx->hdrs = NULL;
    rx->nhdrs = 0;
    free(rx->last_detail);
    rx->last_detail = NULL;
    clear_faults(rx);
    pthread_mutex_unlock(&rx->mu);
}

/* ---- faults ------------------------------------------------------------------------------- */

void weft_rx_fail_next(weft_rx *rx, int status, int count, const char *retry_after)
{
    char *ra = dup_or_null(retry_after);
    pthread_mutex_lock(&rx->mu);
    free(rx->fail_retry_after);
    rx->fail_retry_after = ra;
    rx->fail_status = status;
    rx->fail_count = count > 0 ? count : 0;
    pthread_mutex_unlock(&rx->mu);
}

void weft_rx_set_retry_after_ms(weft_rx *rx, unsigned ms)
{
    pthread_mutex_lock(&rx->mu);
    rx->retry_after_ms = ms;
    pthread_mutex_unlock(&rx->mu);
}

void weft_rx_set_outage(weft_rx *rx, bool on)
{
    pthread_mutex_lock(&rx->mu);
    rx->outage = on;
    pthread_mutex_unlock(&rx->mu);
}

void weft_rx_set_outage_retry_after(weft_rx *rx, const char *retry_after)
{
    char *ra = dup_or_null(retry_after);
    pthread_mutex_lock(&rx->mu);
    free(rx->outage_retry_after);
    rx->outage_retry_after = ra;
    pthread_mutex_unlock(&rx->mu);
}

void weft_rx_set_max_body(weft_rx *rx, size_t bytes)
{
    pthread_mutex_lock(&rx->mu);
    rx->max_body = bytes;
    pthread_mutex_unlock(&rx->mu);
}

void weft_rx_poison(weft_rx *rx, const char *span_id)
{
    pthread_mutex_lock(&rx->mu);
    if (!span_id) {
        for (size_t i = 0; i < rx->npoison; i++)
            free(rx->poison[i]);
        free(rx->poison);
        rx->poison = NULL;
        rx->npoison = 0;
    } else {
        char **p = realloc(rx->poison, (rx->npoison + 1) * sizeof *p);
        char *id = strdup(span_id);
        if (p)
            rx->poison = p;
        if (p && id)
            rx->poison[rx->npoison++] = id;
        else
            free(id);
    }
    pthread_mutex_unlock(&rx->mu);
}

void weft_rx_set_delay_ms(weft_rx *rx, unsigned ms)
{
    pthread_mutex_lock(&rx->mu);
    rx->delay_ms = ms;
    pthread_mutex_unlock(&rx->mu);
}

void weft_rx_drop_next(weft_rx *rx, int count)
{
    pthread_mutex_lock(&rx->mu);
    rx->drop_count = count > 0 ? count : 0;
    pthread_mutex_unlock(&rx->mu);
}

void weft_rx_set_capacity(weft_rx *rx, unsigned spans_per_sec)
{
    pthread_mutex_lock(&rx->mu);
    rx->capacity = spans_per_sec;
    rx->window_start_ns = 0;
    rx->window_spans = 0;
    pthread_mutex_unlock(&rx->mu);
}

void weft_rx_set_patch_unsupported(weft_rx *rx, bool on)
{
    pthread_mutex_lock(&rx->mu);
    rx->patch_unsupported = on;
    pthread_mutex_unlock(&rx->mu);
}

void weft_rx_malformed_next(weft_rx *rx, int count)
{
    pthread_mutex_lock(&rx->mu);
    rx->malformed_count = count > 0 ? count : 0;
    pthread_mutex_unlock(&rx->mu);
}

void weft_rx_cut_next(weft_rx *rx, int count)
{
    pthread_mutex_lock(&rx->mu);
    rx->cut_count = count > 0 ? count : 0;
    pthread_mutex_unlock(&rx->mu);
}

void weft_rx_set_list_rejections(weft_rx *rx, bool on)
{
    pthread_mutex_lock(&rx->mu);
    rx->list_rejections = on;
    pthread_mutex_unlock(&rx->mu);
}
