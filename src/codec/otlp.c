/*
 * otlp.c — the OTLP request around the spans (see otlp.h): the resource and the scope, packed
 * once by protobuf-c from its generated structs; the framing that puts a slice of items between
 * a prefix and a suffix; gzip; the collector's response, read with protobuf-c's generated
 * unpacker. A record's Span is written by otlp_span.c. Export thread only.
 */
#include "otlp.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "json.h"
#include "pb_wire.h"
#include "weft/version.h"

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue any_value;
typedef Opentelemetry__Proto__Common__V1__KeyValue key_value;

#define AV(x) OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_##x

/* ---- arena: the resource's structs, freed at once ---------------------------------------------- */

typedef struct block {
    struct block *next;
    size_t cap, used;
    _Alignas(16) char data[];
} block;

typedef struct arena {
    block *head;
    bool oom;
} arena;

static void *arena_alloc(arena *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
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

/* ---- framing: tags and lengths around packed messages, so that a request is a prefix, a slice
 * of items and a suffix ------------------------------------------------------------------------- */

/* Field tags, wire type 2 (length-delimited): (field number << 3) | 2. */
#define TAG_RESOURCE_SPANS 0x0a /* ExportTraceServiceRequest.resource_spans = 1 */
#define TAG_RESOURCE 0x0a       /* ResourceSpans.resource = 1 */
#define TAG_SCOPE_SPANS 0x12    /* ResourceSpans.scope_spans = 2 */
#define TAG_SCOPE 0x0a          /* ScopeSpans.scope = 1 */
#define TAG_SPANS 0x12          /* ScopeSpans.spans = 2 */
#define TAG_SCHEMA_URL 0x1a     /* ScopeSpans.schema_url = 3 */

#define varint_len weft__pb_varint_len
#define put_varint weft__pb_put_varint

/* ---- resource, request, response ---------------------------------------------------------------- */

struct weft__otlp_resource {
    Opentelemetry__Proto__Resource__V1__Resource res;
    Opentelemetry__Proto__Common__V1__InstrumentationScope scope;
    arena a;
    const char *service;
    /* The framing around a slice of items, packed once: the scope and schema_url fields of
     * ScopeSpans and the resource field of ResourceSpans (each tag, length, message). */
    uint8_t *scope_field, *resource_field;
    size_t scope_field_len, resource_field_len;
};

/* Percent-decodes s[0..n) into the arena (W3C Baggage value encoding); NULL on a bad escape. */
static char *pct_decode(arena *a, const char *s, size_t n)
{
    char *o = arena_alloc(a, n + 1);
    if (!o)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            o[k++] = s[i];
            continue;
        }
        int hv = 0;
        for (int d = 1; d <= 2; d++) {
            char c = i + (size_t)d < n ? s[i + d] : 0;
            int x = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                  : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            if (x < 0)
                return NULL;
            hv = hv * 16 + x;
        }
        o[k++] = (char)hv;
        i += 2;
    }
    o[k] = '\0';
    return o;
}

static void trim(const char **s, size_t *n)
{
    while (*n && (**s == ' ' || **s == '\t'))
        (*s)++, (*n)--;
    while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

weft__otlp_resource *weft__otlp_resource_new(const char *service_name, const char *attributes, size_t *n_bad)
{
    weft__otlp_resource *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    opentelemetry__proto__resource__v1__resource__init(&r->res);
    opentelemetry__proto__common__v1__instrumentation_scope__init(&r->scope);
    r->scope.name = "weft";
    r->scope.version = WEFT_VERSION_STRING;
    ptrs attrs = {0};
    size_t bad = 0;
    const char *service = NULL;
    for (const char *p = attributes; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        const char *k = p, *val = eq ? eq + 1 : NULL;
        size_t kn = eq ? (size_t)(eq - p) : 0, vn = eq ? len - kn - 1 : 0;
        trim(&k, &kn);
        if (val)
            trim(&val, &vn);
        char *key = eq && kn ? arena_str(&r->a, k, kn) : NULL;
        char *dv = eq && kn ? pct_decode(&r->a, val, vn) : NULL;
        if (key && dv && weft__utf8_valid(key, kn) && weft__utf8_valid(dv, strlen(dv))) {
            if (strcmp(key, "service.name") == 0)
                service = dv;
            else
                ptrs_push(&r->a, &attrs, kv_new(&r->a, key, kn, av_str(&r->a, dv, strlen(dv))));
        } else if (len) {
            bad++;
        }
        p = comma ? comma + 1 : p + len;
    }
    if (service_name && service_name[0])
        service = service_name;
    if (!service)
        service = "unknown_service";
    /* service.name first, then the SDK's, then the user's. */
    ptrs all = {0};
    ptrs_push(&r->a, &all, kv_new(&r->a, "service.name", 12, av_str(&r->a, service, strlen(service))));
    ptrs_push(&r->a, &all, kv_new(&r->a, "telemetry.sdk.name", 18, av_str(&r->a, "weft", 4)));
    ptrs_push(&r->a, &all,
              kv_new(&r->a, "telemetry.sdk.version", 21, av_str(&r->a, WEFT_VERSION_STRING, strlen(WEFT_VERSION_STRING))));
    for (size_t i = 0; i < attrs.n; i++)
        ptrs_push(&r->a, &all, attrs.v[i]);
    if (r->a.oom || all.n != 3 + attrs.n) {
        weft__otlp_resource_free(r);
        return NULL;
    }
    r->res.attributes = (key_value **)all.v;
    r->res.n_attributes = all.n;
    r->service = ((key_value *)all.v[0])->value->string_value;
    size_t sl = opentelemetry__proto__common__v1__instrumentation_scope__get_packed_size(&r->scope);
    size_t rl = opentelemetry__proto__resource__v1__resource__get_packed_size(&r->res);
    size_t ul = strlen(WEFT__OTLP_SCHEMA_URL);
    r->scope_field = arena_alloc(&r->a, 1 + 10 + sl + 1 + 10 + ul);
    r->resource_field = arena_alloc(&r->a, 1 + 10 + rl);
    if (!r->scope_field || !r->resource_field) {
        weft__otlp_resource_free(r);
        return NULL;
    }
    r->scope_field[0] = TAG_SCOPE;
    size_t k = 1 + put_varint(r->scope_field + 1, sl);
    k += opentelemetry__proto__common__v1__instrumentation_scope__pack(&r->scope, r->scope_field + k);
    r->scope_field[k++] = TAG_SCHEMA_URL;
    k += put_varint(r->scope_field + k, ul);
    memcpy(r->scope_field + k, WEFT__OTLP_SCHEMA_URL, ul);
    r->scope_field_len = k + ul;
    r->resource_field[0] = TAG_RESOURCE;
    k = 1 + put_varint(r->resource_field + 1, rl);
    r->resource_field_len = k + opentelemetry__proto__resource__v1__resource__pack(&r->res, r->resource_field + k);
    if (n_bad)
        *n_bad = bad;
    return r;
}

void weft__otlp_resource_free(weft__otlp_resource *res)
{
    if (!res)
        return;
    arena_free(&res->a);
    free(res);
}

const char *weft__otlp_resource_service(const weft__otlp_resource *res) { return res->service; }

bool weft__otlp_item_span(const char *item, size_t len, const uint8_t **span, size_t *span_len)
{
    if (len < 2 || (uint8_t)item[0] != TAG_SPANS)
        return false;
    uint64_t v = 0;
    for (size_t i = 1; i < len && i < 11; i++) {
        v |= (uint64_t)((uint8_t)item[i] & 0x7f) << (7 * (i - 1));
        if (!((uint8_t)item[i] & 0x80)) {
            if (v > len - i - 1)
                return false;
            *span = (const uint8_t *)item + i + 1;
            *span_len = (size_t)v;
            return true;
        }
    }
    return false;
}

bool weft__otlp_request(weft__buf *out, const weft__otlp_resource *res, const char *items, size_t len)
{
    /* The spans go in as ScopeSpans field 2 (spans), already encoded: protobuf-c writes an
     * unknown field as its tag then its data verbatim, and an item is that tag followed by
     * exactly such data (length, then the Span). */
    size_t n = 0, cap = 0;
    ProtobufCMessageUnknownField *uf = NULL;
    for (size_t pos = 0; pos < len;) {
        const uint8_t *sp;
        size_t sl;
        if (!weft__otlp_item_span(items + pos, len - pos, &sp, &sl)) {
            free(uf);
            return false;
        }
        if (n == cap) {
            ProtobufCMessageUnknownField *p = weft__grow(uf, &cap, sizeof *p, 64);
            if (!p) {
                free(uf);
                return false;
            }
            uf = p;
        }
        size_t item_len = (size_t)(sp - (const uint8_t *)(items + pos)) + sl;
        uf[n].tag = 2;
        uf[n].wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
        uf[n].len = item_len - 1; /* after the tag byte */
        uf[n].data = (uint8_t *)(items + pos + 1);
        n++;
        pos += item_len;
    }
    Opentelemetry__Proto__Trace__V1__ScopeSpans ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
    ss.scope = (Opentelemetry__Proto__Common__V1__InstrumentationScope *)&res->scope;
    ss.schema_url = WEFT__OTLP_SCHEMA_URL;
    ss.base.n_unknown_fields = (unsigned)n;
    ss.base.unknown_fields = uf;
    Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp = &ss;
    Opentelemetry__Proto__Trace__V1__ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
    rs.resource = (Opentelemetry__Proto__Resource__V1__Resource *)&res->res;
    rs.scope_spans = &ssp;
    rs.n_scope_spans = 1;
    Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp = &rs;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    req.resource_spans = &rsp;
    req.n_resource_spans = 1;
    size_t need = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&req);
    bool ok = weft__buf_reserve(out, need);
    if (ok)
        out->len += opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(
            &req, (uint8_t *)out->data + out->len);
    free(uf);
    return ok;
}

size_t weft__otlp_frame_prefix_len(const weft__otlp_resource *res, size_t slice_len)
{
    size_t ss = res->scope_field_len + slice_len;
    size_t rs = 1 + varint_len(ss) + ss + res->resource_field_len;
    return 1 + varint_len(rs) + 1 + varint_len(ss) + res->scope_field_len;
}

size_t weft__otlp_frame_suffix_len(const weft__otlp_resource *res) { return res->resource_field_len; }

size_t weft__otlp_frame(const weft__otlp_resource *res, size_t slice_len, uint8_t *prefix, uint8_t *suffix,
                        size_t *suffix_len)
{
    /* ExportTraceServiceRequest { resource_spans { scope_spans { scope, <slice> }, resource } }:
     * the resource after the scope spans (field order is free on the wire), so the part that
     * depends on the slice is all in front. */
    size_t ss = res->scope_field_len + slice_len;
    size_t rs = 1 + varint_len(ss) + ss + res->resource_field_len;
    size_t k = 0;
    prefix[k++] = TAG_RESOURCE_SPANS;
    k += put_varint(prefix + k, rs);
    prefix[k++] = TAG_SCOPE_SPANS;
    k += put_varint(prefix + k, ss);
    memcpy(prefix + k, res->scope_field, res->scope_field_len);
    k += res->scope_field_len;
    if (suffix)
        memcpy(suffix, res->resource_field, res->resource_field_len);
    if (suffix_len)
        *suffix_len = res->resource_field_len;
    return k;
}

bool weft__otlp_gzip(weft__buf *out, const void *in, size_t n)
{
    return weft__otlp_gzipv(out, &in, &n, 1);
}

bool weft__otlp_gzipv(weft__buf *out, const void *const *in, const size_t *n, size_t count)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    /* Level 1: most of the size saving on span bodies (repeated keys, ids, text) for a fraction
     * of the default level's time, which the export thread pays per request. */
    if (deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return false;
    size_t total = 0;
    for (size_t i = 0; i < count; i++)
        total += n[i];
    size_t start = out->len;
    /* deflateBound is enough for one pass; the loop grows the room anyway should it not be. */
    bool ok = weft__buf_reserve(out, deflateBound(&z, (uLong)total) + 64);
    int rc = Z_OK;
    for (size_t i = 0; ok && i <= count; i++) {
        bool last = i == count;
        const Bytef *p = last ? NULL : (const Bytef *)in[i];
        size_t left = last ? 0 : n[i];
        do {
            uInt chunk = left > (1u << 30) ? (1u << 30) : (uInt)left;
            z.next_in = (Bytef *)p;
            z.avail_in = chunk;
            int flush = last ? Z_FINISH : Z_NO_FLUSH;
            do {
                if (out->cap - out->len < 64 && !(ok = weft__buf_reserve(out, out->cap / 2 + 4096)))
                    break;
                z.next_out = (Bytef *)out->data + out->len;
                z.avail_out = (uInt)((out->cap - out->len) > (1u << 30) ? (1u << 30) : (out->cap - out->len));
                uInt before = z.avail_out;
                rc = deflate(&z, flush);
                out->len += before - z.avail_out;
                if (rc == Z_STREAM_ERROR)
                    ok = false;
            } while (ok && (z.avail_in > 0 || (last && rc != Z_STREAM_END)));
            p += chunk;
            left -= chunk;
        } while (ok && left > 0);
    }
    ok = ok && rc == Z_STREAM_END;
    deflateEnd(&z);
    if (!ok)
        out->len = start;
    return ok;
}

bool weft__otlp_response_parse(const void *body, size_t len, int64_t *rejected, char *msg, size_t msg_len)
{
    *rejected = 0;
    if (msg_len)
        msg[0] = '\0';
    if (len == 0)
        return true;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r =
        opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(NULL, len, body);
    if (!r)
        return false;
    if (r->partial_success) {
        *rejected = r->partial_success->rejected_spans;
        const char *m = r->partial_success->error_message;
        if (m && msg_len) {
            size_t k = 0;
            /* Printable ASCII only: the message goes to a log line. */
            for (; m[k] && k + 1 < msg_len; k++)
                msg[k] = (m[k] >= 0x20 && m[k] < 0x7f) ? m[k] : '?';
            msg[k] = '\0';
        }
    }
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(r, NULL);
    return true;
}
