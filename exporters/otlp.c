/*
 * otlp.c — the OTLP/HTTP exporter: POST {endpoint}/v1/traces with protobuf bodies
 * (application/x-protobuf) to an OpenTelemetry collector (DESIGN.md section 13). What is
 * OTLP's and nothing else: the configuration from the standard OTEL_* variables, the resource,
 * the protocol description the delivery engine (src/deliver/engine.h) drives — framing of a
 * slice of encoded spans into an ExportTraceServiceRequest, OTLP's retry rules, partial
 * success, gzip bodies (OTEL_EXPORTER_OTLP_COMPRESSION) — and the ops table. Jobs, retries, splits, pauses, the queue, the spool and the
 * drain are the engine's.
 *
 * Owns (ex->state): an otlp struct (the engine, the resource, the framing). Export thread
 * only, bar open (weft_init's thread). Header values (OTEL_EXPORTER_OTLP_HEADERS often holds
 * an API key) are never logged, and go over plain http:// only to a loopback host.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine.h"
#include "exporter.h"
#include "otlp.h"
#include "runtime.h"
#include "url.h"
#include "weft/version.h"

#define PATH "/v1/traces"
#define DEFAULT_ENDPOINT "http://localhost:4318"
#define MAX_HEADERS 32
#define MAX_PARTIAL_LOGS 10 /* partial-success messages logged; the rest are counted */

typedef struct otlp {
    weft__engine *engine;
    weft__otlp_resource *res;
    unsigned partial_logs;
    bool gzip;         /* OTEL_EXPORTER_OTLP_(TRACES_)COMPRESSION=gzip */
    bool logged_gzip;  /* a gzip failure was logged (the body then goes uncompressed) */
} otlp;

/* ---- the protocol ---------------------------------------------------------------------------- */

static void frame(void *ctx, size_t slice_len, weft__engine_frame *f)
{
    otlp *o = ctx;
    f->prefix_len = weft__otlp_frame(o->res, slice_len, (uint8_t *)f->prefix, (uint8_t *)f->suffix, &f->suffix_len);
}

/* OTLP/HTTP's rules (opentelemetry-proto docs/specification.md, "Failures"): only 429, 502, 503
 * and 504 are retried (honouring Retry-After); 400 is a request the server will never take,
 * isolated by halving so that only the spans it refuses are lost; 413 splits; 401/403 pause;
 * anything else is dropped. Transport failures retry as for every exporter. */
static weft__verdict classify(void *ctx, const weft__http_result *r)
{
    (void)ctx;
    if (r->err != WEFT__HTTP_OK)
        return weft__retry_classify(r->status, r->err);
    int s = r->status;
    if (s >= 200 && s < 300)
        return WEFT__V_DONE;
    if (s == 429 || s == 502 || s == 503 || s == 504)
        return WEFT__V_RETRY;
    if (s == 413)
        return WEFT__V_SPLIT;
    if (s == 400)
        return WEFT__V_BISECT;
    if (s == 401 || s == 403)
        return WEFT__V_PAUSE;
    return WEFT__V_DROP;
}

/* A 2xx's ExportTraceServiceResponse: partial_success.rejected_spans are counted as rejected
 * and its error_message logged (the first MAX_PARTIAL_LOGS times); they are not retried. */
static size_t partial(void *ctx, const weft__http_result *r, size_t n_items)
{
    otlp *o = ctx;
    int64_t rejected = 0;
    char msg[256];
    if (!weft__otlp_response_parse(r->body, r->body_len, &rejected, msg, sizeof msg))
        return 0; /* a 2xx whose body is not a response: the spans were taken */
    if (rejected <= 0 && !msg[0])
        return 0;
    size_t refused = rejected <= 0 ? 0 : (uint64_t)rejected < n_items ? (size_t)rejected : n_items;
    if (o->partial_logs < MAX_PARTIAL_LOGS) {
        o->partial_logs++;
        weft__log(refused ? WEFT_LOG_WARN : WEFT_LOG_INFO, "OTLP collector accepted %zu of %zu spans of a request: %s%s",
                  n_items - refused, n_items, msg[0] ? msg : "(no message)",
                  o->partial_logs == MAX_PARTIAL_LOGS ? "; further partial successes are counted, not logged" : "");
    }
    return refused;
}

/* OTEL_EXPORTER_OTLP_COMPRESSION=gzip: each attempt's body, gzip-compressed from the framed
 * parts in place (Content-Encoding: gzip). A zlib or memory failure sends it uncompressed. */
static bool encode_body(void *ctx, const weft__http_part *parts, size_t n_parts, weft__buf *out,
                        const char **content_encoding)
{
    otlp *o = ctx;
    if (!o->gzip || n_parts > WEFT__HTTP_MAX_PARTS)
        return false;
    const void *in[WEFT__HTTP_MAX_PARTS];
    size_t n[WEFT__HTTP_MAX_PARTS];
    for (size_t i = 0; i < n_parts; i++) {
        in[i] = parts[i].data;
        n[i] = parts[i].len;
    }
    if (!weft__otlp_gzipv(out, in, n, n_parts)) {
        if (!o->logged_gzip) {
            o->logged_gzip = true;
            weft__log(WEFT_LOG_WARN, "OTLP: gzip failed (out of memory?); sending the body uncompressed");
        }
        return false;
    }
    *content_encoding = "gzip";
    return true;
}

/* The words of an answer for the engine's log lines: a 2xx's partial_success.error_message
 * (its body is protobuf, not text); any other answer's body as text (collectors answer errors
 * as a google.rpc.Status, whose message is readable as text in practice). */
static void detail(void *ctx, const weft__http_result *r, char *out, size_t cap)
{
    (void)ctx;
    int64_t rejected;
    if (r->err == WEFT__HTTP_OK && r->status >= 200 && r->status < 300 &&
        weft__otlp_response_parse(r->body, r->body_len, &rejected, out, cap)) {
        if (cap && !out[0])
            snprintf(out, cap, "no message");
        return;
    }
    weft__retry_detail(r->body, r->body_len, out, cap);
}

/* Log ids: the W3C span id and the trace id's high half (the low half is not in the item). */
static void ids(void *ctx, const weft__batch_item *it, char id[48], char trace[48])
{
    (void)ctx;
    snprintf(id, 48, "%016llx", (unsigned long long)it->id);
    snprintf(trace, 48, "%016llx...", (unsigned long long)it->trace);
}

static const weft__engine_proto otlp_proto = {
    .name = "OTLP",
    .encoding = WEFT__ENC_OTLP,
    .max_items = 0,
    .frame = frame,
    .classify = classify,
    .rejected = NULL,
    .partial = partial,
    .shrink = NULL,
    .ids = ids,
    .encode_body = encode_body,
    .detail = detail,
    .credentials_hint = "check OTEL_EXPORTER_OTLP_HEADERS",
};

/* ---- configuration --------------------------------------------------------------------------- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* The traces URL: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else
 * OTEL_EXPORTER_OTLP_ENDPOINT (default http://localhost:4318) with /v1/traces appended. */
static char *traces_url(void)
{
    const char *t = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    if (t)
        return strdup(t);
    const char *base = env("OTEL_EXPORTER_OTLP_ENDPOINT");
    if (!base)
        base = DEFAULT_ENDPOINT;
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    char *u = malloc(n + sizeof PATH);
    if (u) {
        memcpy(u, base, n);
        memcpy(u + n, PATH, sizeof PATH);
    }
    return u;
}

static int hexval(char c)
{
    return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

static bool token_char(char c)
{
    /* RFC 9110 tchar */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || strchr("!#$%&'*+-.^_`|~", c);
}

/* OTEL_EXPORTER_OTLP_(TRACES_)HEADERS: "k=v,k2=v2", values percent-decoded (W3C Baggage), into
 * "k: v" lines. A member that is not a header name and a printable value is skipped and
 * counted in *bad (never logged: values are secrets). Returns how many lines. */
static size_t parse_headers(const char *s, char **out, size_t cap, size_t *bad)
{
    size_t n = 0;
    *bad = 0;
    for (const char *p = s; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        const char *k = p;
        size_t kn = eq ? (size_t)(eq - p) : 0;
        while (kn && (*k == ' ' || *k == '\t'))
            k++, kn--;
        while (kn && (k[kn - 1] == ' ' || k[kn - 1] == '\t'))
            kn--;
        bool ok = eq && kn && n < cap;
        for (size_t i = 0; ok && i < kn; i++)
            ok = token_char(k[i]);
        char *line = ok ? malloc(kn + 2 + len + 1) : NULL;
        if (line) {
            memcpy(line, k, kn);
            memcpy(line + kn, ": ", 2);
            size_t at = kn + 2;
            const char *v = eq + 1, *end = p + len;
            while (v < end && (*v == ' ' || *v == '\t'))
                v++;
            while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
            for (; v < end; v++) {
                char c = *v;
                if (c == '%') {
                    int h = end - v >= 3 ? hexval(v[1]) : -1, l = end - v >= 3 ? hexval(v[2]) : -1;
                    if (h < 0 || l < 0) {
                        ok = false;
                        break;
                    }
                    c = (char)(h * 16 + l);
                    v += 2;
                }
                if ((unsigned char)c < 0x20 || c == 0x7f) { /* no CR, LF or other control */
                    ok = false;
                    break;
                }
                line[at++] = c;
            }
            line[at] = '\0';
            if (ok)
                out[n++] = line;
            else {
                volatile char *z = line;
                while (*z)
                    *z++ = '\0';
                free(line);
            }
        }
        if (!ok && len)
            (*bad)++;
        p = comma ? comma + 1 : p + len;
    }
    return n;
}

static void free_secret(char *p)
{
    if (p) {
        volatile char *v = p;
        while (*v)
            *v++ = '\0';
        free(p);
    }
}

/* ---- ops ------------------------------------------------------------------------------------- */

static int otlp_open(weft__exporter *ex)
{
    const weft__cfg *cfg = &ex->rt->cfg;
    char *url = traces_url();
    if (!url)
        return WEFT_ENOMEM;
    const char *hs = env("OTEL_EXPORTER_OTLP_TRACES_HEADERS");
    if (!hs)
        hs = env("OTEL_EXPORTER_OTLP_HEADERS");
    char *lines[MAX_HEADERS];
    size_t bad = 0, nl = parse_headers(hs, lines, MAX_HEADERS, &bad);
    if (bad)
        weft__log(WEFT_LOG_WARN, "OTEL_EXPORTER_OTLP_HEADERS: %zu member(s) skipped (expected name=value, "
                                 "percent-encoded, no control characters)", bad);
    /* The headers are treated as a key: https://, or plain http:// to loopback only. */
    int rc = weft__url_key_allowed("OTEL_EXPORTER_OTLP_ENDPOINT", url, nl > 0, true);
    const char *comp = env("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION");
    if (!comp)
        comp = env("OTEL_EXPORTER_OTLP_COMPRESSION");
    bool gzip = comp && strcasecmp(comp, "gzip") == 0;
    if (rc == 0 && comp && !gzip && strcasecmp(comp, "none") != 0)
        weft__log(WEFT_LOG_WARN, "OTEL_EXPORTER_OTLP_COMPRESSION: unknown value (gzip or none); sending "
                                 "OTLP bodies uncompressed");
    otlp *o = rc == 0 ? calloc(1, sizeof *o) : NULL;
    if (rc == 0 && !o)
        rc = WEFT_ENOMEM;
    if (o)
        o->gzip = gzip;
    if (o) {
        size_t bad_res = 0;
        o->res = weft__otlp_resource_new(env("OTEL_SERVICE_NAME"), env("OTEL_RESOURCE_ATTRIBUTES"), &bad_res);
        if (!o->res)
            rc = WEFT_ENOMEM;
        else if (weft__otlp_frame_prefix_len(o->res, (size_t)1 << 40) > WEFT__ENGINE_FRAME_MAX ||
                 weft__otlp_frame_suffix_len(o->res) > WEFT__ENGINE_FRAME_MAX) {
            /* The engine sends the framing from fixed room (WEFT__ENGINE_FRAME_MAX bytes a side). */
            weft__log(WEFT_LOG_ERROR, "OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES make a resource of %zu "
                                      "bytes; at most %d fit", weft__otlp_frame_suffix_len(o->res),
                      WEFT__ENGINE_FRAME_MAX);
            rc = WEFT_ECONFIG;
        } else if (bad_res)
            weft__log(WEFT_LOG_WARN, "OTEL_RESOURCE_ATTRIBUTES: %zu member(s) skipped (expected key=value, "
                                     "percent-encoded UTF-8)", bad_res);
    }
    if (rc == 0) {
        const char *headers[MAX_HEADERS + 1];
        size_t nh = 0;
        headers[nh++] = "Content-Type: application/x-protobuf";
        for (size_t i = 0; i < nl; i++)
            headers[nh++] = lines[i];
        weft__engine_opts eo = {.proto = &otlp_proto,
                                .ctx = o,
                                .cfg = cfg,
                                .url = url,
                                .method = "POST",
                                .headers = headers,
                                .n_headers = nh,
                                .user_agent = "weft/" WEFT_VERSION_STRING};
        rc = weft__engine_new(&o->engine, ex->loop, &eo);
        if (rc == 0) {
            ex->state = o;
            weft__log(WEFT_LOG_INFO, "OTLP exporter: service.name %s%s", weft__otlp_resource_service(o->res),
                      o->gzip ? ", gzip bodies" : "");
        }
    }
    if (rc < 0 && o) {
        weft__otlp_resource_free(o->res);
        free(o);
    }
    for (size_t i = 0; i < nl; i++)
        free_secret(lines[i]);
    free(url);
    return rc;
}

static void otlp_submit(weft__exporter *ex, weft__batch *b)
{
    otlp *o = ex->state;
    weft__engine_submit(o->engine, b);
}

static bool otlp_drain(weft__exporter *ex, uint64_t deadline_ms)
{
    otlp *o = ex->state;
    return weft__engine_drain(o->engine, deadline_ms);
}

static void otlp_close(weft__exporter *ex)
{
    otlp *o = ex->state;
    if (!o)
        return;
    weft__engine_free(o->engine);
    weft__otlp_resource_free(o->res);
    free(o);
    ex->state = NULL;
}

const weft__exporter_ops weft__exporter_otlp = {
    .name = "otlp",
    .encoding = WEFT__ENC_OTLP,
    .wants_inprogress = false,
    .open = otlp_open,
    .submit = otlp_submit,
    .drain = otlp_drain,
    .close = otlp_close,
};
