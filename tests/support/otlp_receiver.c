/*
 * otlp_receiver.c — see otlp_receiver.h. libmicrohttpd, one thread per connection; the
 * receiver's state behind one mutex. A stored span keeps its own packed bytes and those of its
 * resource and scope, so a caller gets a fresh decoded copy it owns.
 */
#include "otlp_receiver.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#define MAX_BODY ((size_t)64 << 20) /* larger bodies are answered 413 */
#define MAX_INFLATED ((size_t)256 << 20)

typedef struct blob {
    uint8_t *data;
    size_t len;
} blob;

typedef struct stored {
    blob span, resource, scope; /* packed messages; resource/scope len 0 with data NULL: none */
    char *name;
} stored;

typedef struct header_kv {
    char *key, *value;
} header_kv;

struct weft_orx {
    struct MHD_Daemon *daemon;
    char url[64];
    pthread_mutex_t mu;
    stored *spans;
    size_t n, cap;
    size_t requests, gzip_requests;
    size_t last_wire, last_decoded; /* body bytes of the last request decoded: as sent, inflated */
    size_t status_counts[600];
    header_kv *hdrs;
    size_t nhdrs;
    /* faults */
    int fail_status, fail_count;
    char *fail_retry_after;
    int partial_count;
    int64_t partial_rejected;
    char *partial_message;
    int drop_count;
};

typedef struct request {
    bool route_ok, method_ok, type_ok, gzip;
    bool too_big;
    uint8_t *body;
    size_t len, cap;
} request;

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static bool blob_pack(blob *b, const ProtobufCMessage *m)
{
    b->len = protobuf_c_message_get_packed_size(m);
    b->data = malloc(b->len ? b->len : 1);
    if (!b->data)
        return false;
    protobuf_c_message_pack(m, b->data);
    return true;
}

static void stored_free(stored *s)
{
    free(s->span.data);
    free(s->resource.data);
    free(s->scope.data);
    free(s->name);
}

static void headers_free(weft_orx *rx)
{
    for (size_t i = 0; i < rx->nhdrs; i++) {
        free(rx->hdrs[i].key);
        free(rx->hdrs[i].value);
    }
    free(rx->hdrs);
    rx->hdrs = NULL;
    rx->nhdrs = 0;
}

static void count_status(weft_orx *rx, int status)
{
    if (status >= 0 && status < 600)
        rx->status_counts[status]++;
}

/* gzip-inflates in[0..n) into a new buffer; NULL on a bad stream or one too large. */
static uint8_t *gunzip(const uint8_t *in, size_t n, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return NULL;
    size_t cap = n * 4 + 1024, len = 0;
    uint8_t *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    int rc = Z_OK;
    while (out && rc != Z_STREAM_END) {
        if (len == cap) {
            if (cap >= MAX_INFLATED)
                break;
            cap *= 2;
            uint8_t *p = realloc(out, cap);
            if (!p)
                break;
            out = p;
        }
        z.next_out = out + len;
        z.avail_out = (uInt)(cap - len);
        rc = inflate(&z, Z_NO_FLUSH);
        len = cap - z.avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END)
            break;
        if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0)
            break; /* truncated stream */
    }
    inflateEnd(&z);
    if (rc != Z_STREAM_END || z.avail_in != 0) {
        free(out);
        return NULL;
    }
    *out_len = len;
    return out;
}

static enum MHD_Result send_bytes(struct MHD_Connection *conn, int status, const char *type, const void *data,
                                  size_t len, const char *retry_after)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (retry_after)
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, retry_after);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_text(weft_orx *rx, struct MHD_Connection *conn, int status, const char *text,
                                 const char *retry_after)
{
    pthread_mutex_lock(&rx->mu);
    count_status(rx, status);
    pthread_mutex_unlock(&rx->mu);
    return send_bytes(conn, status, "text/plain", text, strlen(text), retry_after);
}

/* Stores every span of req but the last `skip`. Under the lock. */
static void store_request(weft_orx *rx, const Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req,
                          size_t skip)
{
    size_t total = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++)
        for (size_t j = 0; j < req->resource_spans[i]->n_scope_spans; j++)
            total += req->resource_spans[i]->scope_spans[j]->n_spans;
    size_t keep = skip < total ? total - skip : 0, seen = 0;
    for (size_t i = 0; i < req->n_resource_spans; i++) {
        const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[i];
        for (size_t j = 0; j < rs->n_scope_spans; j++) {
            const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[j];
            for (size_t k = 0; k < ss->n_spans && seen < keep; k++, seen++) {
                if (rx->n == rx->cap) {
                    size_t cap = rx->cap ? rx->cap * 2 : 64;
                    stored *p = realloc(rx->spans, cap * sizeof *p);
                    if (!p)
                        return;
                    rx->spans = p;
                    rx->cap = cap;
                }
                stored s = {0};
                bool ok = blob_pack(&s.span, &ss->spans[k]->base);
                if (ok && rs->resource)
                    ok = blob_pack(&s.resource, &rs->resource->base);
                if (ok && ss->scope)
                    ok = blob_pack(&s.scope, &ss->scope->base);
                s.name = strdup(ss->spans[k]->name ? ss->spans[k]->name : "");
                if (!ok || !s.name) {
                    stored_free(&s);
                    return;
                }
                rx->spans[rx->n++] = s;
            }
        }
    }
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    weft_orx *rx = cls;
    header_kv *p = realloc(rx->hdrs, (rx->nhdrs + 1) * sizeof *p);
    if (!p)
        return MHD_NO;
    rx->hdrs = p;
    p[rx->nhdrs].key = strdup(key);
    p[rx->nhdrs].value = strdup(value ? value : "");
    rx->nhdrs++;
    return MHD_YES;
}

static enum MHD_Result finish(weft_orx *rx, struct MHD_Connection *conn, request *rq)
{
    pthread_mutex_lock(&rx->mu);
    rx->requests++;
    headers_free(rx);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, rx);
    if (rx->drop_count > 0) {
        rx->drop_count--;
        count_status(rx, 0);
        pthread_mutex_unlock(&rx->mu);
        return MHD_NO; /* MHD closes the connection unanswered */
    }
    int fault = 0;
    char ra[128] = "";
    if (rx->fail_count > 0) {
        rx->fail_count--;
        fault = rx->fail_status;
        if (rx->fail_retry_after)
            snprintf(ra, sizeof ra, "%s", rx->fail_retry_after);
    }
    pthread_mutex_unlock(&rx->mu);
    if (fault)
        return send_text(rx, conn, fault, "injected fault", ra[0] ? ra : NULL);
    if (!rq->route_ok)
        return send_text(rx, conn, 404, "not found", NULL);
    if (!rq->method_ok)
        return send_text(rx, conn, 405, "POST only", NULL);
    if (!rq->type_ok)
        return send_text(rx, conn, 415, "application/x-protobuf only", NULL);
    if (rq->too_big)
        return send_text(rx, conn, 413, "body too large", NULL);

    const uint8_t *body = rq->body;
    size_t len = rq->len;
    uint8_t *inflated = NULL;
    if (rq->gzip) {
        inflated = gunzip(rq->body, rq->len, &len);
        if (!inflated)
            return send_text(rx, conn, 400, "bad gzip body", NULL);
        body = inflated;
    }
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req =
        opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(NULL, len, body ? body : (const uint8_t *)"");
    free(inflated);
    if (!req)
        return send_text(rx, conn, 400, "body is not an ExportTraceServiceRequest", NULL);

    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse resp =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess partial =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
    char message[256] = "";
    pthread_mutex_lock(&rx->mu);
    size_t skip = 0;
    if (rx->partial_count > 0) {
        rx->partial_count--;
        partial.rejected_spans = rx->partial_rejected;
        snprintf(message, sizeof message, "%s", rx->partial_message ? rx->partial_message : "");
        partial.error_message = message;
        resp.partial_success = &partial;
        skip = rx->partial_rejected > 0 ? (size_t)rx->partial_rejected : 0;
    }
    if (rq->gzip)
        rx->gzip_requests++;
    rx->last_wire = rq->len;
    rx->last_decoded = len;
    store_request(rx, req, skip);
    count_status(rx, 200);
    pthread_mutex_unlock(&rx->mu);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(req, NULL);

    uint8_t out[512];
    size_t n = opentelemetry__proto__collector__trace__v1__export_trace_service_response__get_packed_size(&resp);
    if (n > sizeof out)
        return MHD_NO;
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(&resp, out);
    return send_bytes(conn, 200, "application/x-protobuf", out, n, NULL);
}

static bool content_type_ok(const char *ct)
{
    if (!ct)
        return false;
    size_t n = strlen("application/x-protobuf");
    return strncasecmp(ct, "application/x-protobuf", n) == 0 && (ct[n] == '\0' || ct[n] == ';');
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    weft_orx *rx = cls;
    request *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        rq->route_ok = strcmp(url, WEFT_ORX_PATH) == 0;
        rq->method_ok = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
        rq->type_ok = content_type_ok(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"));
        const char *enc = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding");
        rq->gzip = enc && strcasecmp(enc, "gzip") == 0;
        *con_cls = rq;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (rq->too_big || rq->len + n > MAX_BODY) {
            rq->too_big = true;
            return MHD_YES;
        }
        if (rq->len + n > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 4096;
            while (cap < rq->len + n)
                cap *= 2;
            uint8_t *p = realloc(rq->body, cap);
            if (!p)
                return MHD_NO;
            rq->body = p;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload_data, n);
        rq->len += n;
        return MHD_YES;
    }
    return finish(rx, conn, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    request *rq = *con_cls;
    if (rq) {
        free(rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

weft_orx *weft_orx_start(void)
{
    weft_orx *rx = calloc(1, sizeof *rx);
    if (!rx)
        return NULL;
    pthread_mutex_init(&rx->mu, NULL);
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rx->daemon = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC, 0,
                                  NULL, NULL, on_request, rx, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_completed, rx,
                                  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)256 * 1024,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_END);
    if (!rx->daemon) {
        fprintf(stderr, "weft_orx_start: could not start libmicrohttpd on 127.0.0.1\n");
        weft_orx_stop(rx);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(rx->daemon, MHD_DAEMON_INFO_BIND_PORT);
    unsigned port = info ? info->port : 0;
    if (!port) {
        fprintf(stderr, "weft_orx_start: no bound port\n");
        weft_orx_stop(rx);
        return NULL;
    }
    snprintf(rx->url, sizeof rx->url, "http://127.0.0.1:%u", port);
    return rx;
}

static void clear(weft_orx *rx)
{
    for (size_t i = 0; i < rx->n; i++)
        stored_free(&rx->spans[i]);
    free(rx->spans);
    rx->spans = NULL;
    rx->n = rx->cap = 0;
    rx->requests = rx->gzip_requests = 0;
    rx->last_wire = rx->last_decoded = 0;
    memset(rx->status_counts, 0, sizeof rx->status_counts);
    headers_free(rx);
    rx->fail_status = rx->fail_count = 0;
    free(rx->fail_retry_after);
    rx->fail_retry_after = NULL;
    rx->partial_count = 0;
    rx->partial_rejected = 0;
    free(rx->partial_message);
    rx->partial_message = NULL;
    rx->drop_count = 0;
}

void weft_orx_stop(weft_orx *rx)
{
    if (!rx)
        return;
    if (rx->daemon)
        MHD_stop_daemon(rx->daemon);
    clear(rx);
    pthread_mutex_destroy(&rx->mu);
    free(rx);
}

const char *weft_orx_url(const weft_orx *rx) { return rx->url; }

static size_t locked_read(weft_orx *rx, const size_t *field)
{
    pthread_mutex_lock(&rx->mu);
    size_t v = *field;
    pthread_mutex_unlock(&rx->mu);
    return v;
}

size_t weft_orx_span_count(weft_orx *rx) { return locked_read(rx, &rx->n); }
size_t weft_orx_requests(weft_orx *rx) { return locked_read(rx, &rx->requests); }
size_t weft_orx_gzip_requests(weft_orx *rx) { return locked_read(rx, &rx->gzip_requests); }

size_t weft_orx_status_count(weft_orx *rx, int status)
{
    return status >= 0 && status < 600 ? locked_read(rx, &rx->status_counts[status]) : 0;
}

/* Decodes stored span i into out. Under the lock. */
static bool decode(const stored *s, weft_orx_span *out)
{
    memset(out, 0, sizeof *out);
    out->span = opentelemetry__proto__trace__v1__span__unpack(NULL, s->span.len, s->span.data);
    if (s->resource.data)
        out->resource = opentelemetry__proto__resource__v1__resource__unpack(NULL, s->resource.len, s->resource.data);
    if (s->scope.data)
        out->scope = opentelemetry__proto__common__v1__instrumentation_scope__unpack(NULL, s->scope.len, s->scope.data);
    return out->span != NULL;
}

bool weft_orx_get(weft_orx *rx, size_t i, weft_orx_span *out)
{
    pthread_mutex_lock(&rx->mu);
    bool ok = i < rx->n && decode(&rx->spans[i], out);
    pthread_mutex_unlock(&rx->mu);
    return ok;
}

bool weft_orx_find(weft_orx *rx, const char *name, weft_orx_span *out)
{
    bool ok = false;
    pthread_mutex_lock(&rx->mu);
    for (size_t i = 0; i < rx->n && !ok; i++)
        if (strcmp(rx->spans[i].name, name) == 0)
            ok = decode(&rx->spans[i], out);
    pthread_mutex_unlock(&rx->mu);
    return ok;
}

void weft_orx_span_free(weft_orx_span *s)
{
    if (!s)
        return;
    if (s->span)
        opentelemetry__proto__trace__v1__span__free_unpacked(s->span, NULL);
    if (s->resource)
        opentelemetry__proto__resource__v1__resource__free_unpacked(s->resource, NULL);
    if (s->scope)
        opentelemetry__proto__common__v1__instrumentation_scope__free_unpacked(s->scope, NULL);
    memset(s, 0, sizeof *s);
}

const weft_orx_pb_value *weft_orx_attr(weft_orx_pb_kv *const *attrs, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (attrs[i]->key && strcmp(attrs[i]->key, key) == 0)
            return attrs[i]->value;
    return NULL;
}

void weft_orx_hex(const ProtobufCBinaryData *id, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < id->len; i++) {
        out[2 * i] = d[id->data[i] >> 4];
        out[2 * i + 1] = d[id->data[i] & 15];
    }
    out[2 * id->len] = '\0';
}

bool weft_orx_last_header(weft_orx *rx, const char *name, char *out, size_t outlen)
{
    bool found = false, whole = false;
    if (outlen)
        out[0] = '\0';
    pthread_mutex_lock(&rx->mu);
    for (size_t i = 0; i < rx->nhdrs && !found; i++) {
        if (rx->hdrs[i].key && strcasecmp(rx->hdrs[i].key, name) == 0) {
            found = true;
            size_t n = strlen(rx->hdrs[i].value);
            whole = n < outlen;
            if (outlen)
                snprintf(out, outlen, "%s", rx->hdrs[i].value);
        }
    }
    pthread_mutex_unlock(&rx->mu);
    return found && whole;
}

void weft_orx_last_body_len(weft_orx *rx, size_t *wire, size_t *decoded)
{
    pthread_mutex_lock(&rx->mu);
    *wire = rx->last_wire;
    *decoded = rx->last_decoded;
    pthread_mutex_unlock(&rx->mu);
}

void weft_orx_reset(weft_orx *rx)
{
    pthread_mutex_lock(&rx->mu);
    clear(rx);
    pthread_mutex_unlock(&rx->mu);
}

void weft_orx_fail_next(weft_orx *rx, int status, int count, const char *retry_after)
{
    pthread_mutex_lock(&rx->mu);
    rx->fail_status = status;
    rx->fail_count = count > 0 ? count : 0;
    free(rx->fail_retry_after);
    rx->fail_retry_after = dup_or_null(retry_after);
    pthread_mutex_unlock(&rx->mu);
}

void weft_orx_partial_next(weft_orx *rx, int count, int64_t rejected, const char *message)
{
    pthread_mutex_lock(&rx->mu);
    rx->partial_count = count > 0 ? count : 0;
    rx->partial_rejected = rejected;
    free(rx->partial_message);
    rx->partial_message = dup_or_null(message);
    pthread_mutex_unlock(&rx->mu);
}

void weft_orx_drop_next(weft_orx *rx, int count)
{
    pthread_mutex_lock(&rx->mu);
    rx->drop_count = count > 0 ? count : 0;
    pthread_mutex_unlock(&rx->mu);
}
