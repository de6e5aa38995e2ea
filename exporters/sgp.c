/*
 * sgp.c — the SGP exporter: PUT {base}/v5/spans/batch with {"items":[...]} (DESIGN.md section
 * 4). What is SGP's and nothing else: the protocol description the delivery engine
 * (src/deliver/engine.h) drives — URL, headers, framing, the 1000-item limit, how a 422 names
 * the items it refuses — the configuration checks, and the ops table. Jobs, retries, splits,
 * rejections, the pause, the queue limit, the spool and the drain are the engine's.
 *
 * Owns (ex->state): the engine. Export thread only, bar open (weft_init's thread). The API key
 * is never logged; it goes over plain http:// only to a loopback host.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine.h"
#include "exporter.h"
#include "json.h"
#include "json_shrink.h"
#include "runtime.h"
#include "url.h"
#include "weft/version.h"

#define PATH "/v5/spans/batch"
#define PREFIX "{\"items\":["
#define SUFFIX "]}"
/* 1000: the API's limit on items per request (DESIGN.md section 4). */
#define MAX_ITEMS 1000u

/* ---- the protocol ---------------------------------------------------------------------------- */

static void frame(void *ctx, size_t slice_len, weft__engine_frame *f)
{
    (void)ctx, (void)slice_len;
    memcpy(f->prefix, PREFIX, sizeof PREFIX - 1);
    f->prefix_len = sizeof PREFIX - 1;
    memcpy(f->suffix, SUFFIX, sizeof SUFFIX - 1);
    f->suffix_len = sizeof SUFFIX - 1;
}

/*
 * A 400/422 that names its items: FastAPI's validation errors, as SGP's OpenAPI declares for
 * 422, {"detail":[{"loc":["body","items",I,...],"msg":...},...]} — every I is an item refused.
 * Read with jansson; anything else (a string detail, a 409, a body cut at the HTTP client's
 * limit) names none, and the engine bisects.
 */
static size_t rejected(void *ctx, const weft__http_result *r, size_t n_items, uint32_t *out, size_t cap)
{
    (void)ctx;
    if (r->body_len == 0)
        return 0;
    json_t *root = json_loadb(r->body, r->body_len, 0, NULL);
    json_t *detail = json_object_get(root, "detail");
    size_t n = 0, idx;
    json_t *e;
    json_array_foreach(detail, idx, e) {
        json_t *loc = json_object_get(e, "loc");
        const char *where = json_string_value(json_array_get(loc, 0));
        const char *field = json_string_value(json_array_get(loc, 1));
        json_t *pos = json_array_get(loc, 2);
        if (!where || strcmp(where, "body") != 0 || !field || strcmp(field, "items") != 0 ||
            !json_is_integer(pos))
            continue;
        json_int_t k = json_integer_value(pos);
        if (k >= 0 && (uint64_t)k < n_items && n < cap)
            out[n++] = (uint32_t)k;
    }
    json_decref(root);
    return n;
}

/* One item over the server's limit alone: its longest strings cut, marked like max_attr_bytes. */
static bool shrink(void *ctx, const char *item, size_t len, size_t target, weft__buf *out)
{
    (void)ctx;
    return weft__json_shrink(out, item, len, target);
}

/* The id text the server saw (encode.c writes weft__json_uuid(id, salt)). */
static void uuid_text(uint64_t v, char out[48])
{
    weft__buf b;
    weft__buf_init(&b);
    weft__json_uuid(&b, v, weft__rt.salt_hi);
    if (!b.oom && b.len == 38) {
        memcpy(out, b.data + 1, 36);
        out[36] = '\0';
    } else {
        snprintf(out, 48, "%016llx", (unsigned long long)v);
    }
    weft__buf_fini(&b);
}

static void ids(void *ctx, const weft__batch_item *it, char id[48], char trace[48])
{
    (void)ctx;
    uuid_text(it->id, id);
    uuid_text(it->trace, trace);
}

/* SGP's answers read as DESIGN.md section 7's table (weft__retry_classify): 408/429/5xx
 * retry, 413 split, 400/409/422 reject, 401/403 pause. */
static const weft__engine_proto sgp_proto = {
    .name = "SGP",
    .encoding = WEFT__ENC_SGP_JSON,
    .max_items = MAX_ITEMS,
    .frame = frame,
    .classify = NULL,
    .rejected = rejected,
    .shrink = shrink,
    .ids = ids,
    .credentials_hint = "check SGP_API_KEY and SGP_ACCOUNT_ID",
};

/* ---- configuration --------------------------------------------------------------------------- */


/* Header values must not carry CR, LF or other control bytes (header injection). */
static bool header_safe(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return false;
    return true;
}

static char *header_line(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *h = malloc(n);
    if (h)
        snprintf(h, n, "%s: %s", name, value);
    return h;
}

static void free_secret(char *p)
{
    if (p) {
        /* The key's copy: cleared before the heap reuses it. */
        volatile char *v = p;
        while (*v)
            *v++ = '\0';
        free(p);
    }
}

/* ---- ops ------------------------------------------------------------------------------------- */

static int sgp_open(weft__exporter *ex)
{
    const weft__cfg *cfg = &ex->rt->cfg;
    const char *key = cfg->sgp_api_key, *account = cfg->sgp_account_id;
    bool has_key = key && *key;
    /* direct: http.c turns proxies off for plain http:// to loopback (url.h). */
    int rc = weft__url_key_allowed("SGP_CLIENT_BASE_URL", cfg->sgp_base_url, has_key, true);
    if (rc < 0)
        return rc;
    if ((has_key && !header_safe(key)) || (account && !header_safe(account))) {
        weft__log(WEFT_LOG_ERROR, "SGP_API_KEY or SGP_ACCOUNT_ID holds control characters");
        return WEFT_ECONFIG;
    }
    if (!has_key)
        weft__log(WEFT_LOG_WARN, "SGP exporter without SGP_API_KEY: the server will refuse the spans");

    size_t blen = strlen(cfg->sgp_base_url);
    while (blen > 0 && cfg->sgp_base_url[blen - 1] == '/')
        blen--;
    char *url = malloc(blen + sizeof(PATH));
    char *h_key = has_key ? header_line("x-api-key", key) : NULL;
    char *h_acct = account && *account ? header_line("x-selected-account-id", account) : NULL;
    rc = WEFT_ENOMEM;
    if (url && (!has_key || h_key) && (!(account && *account) || h_acct)) {
        memcpy(url, cfg->sgp_base_url, blen);
        memcpy(url + blen, PATH, sizeof(PATH));
        const char *headers[3];
        size_t nh = 0;
        headers[nh++] = "Content-Type: application/json";
        if (h_key)
            headers[nh++] = h_key;
        if (h_acct)
            headers[nh++] = h_acct;
        weft__engine_opts o = {.proto = &sgp_proto,
                               .cfg = cfg,
                               .url = url,
                               .method = "PUT",
                               .headers = headers,
                               .n_headers = nh,
                               .user_agent = "weft/" WEFT_VERSION_STRING};
        weft__engine *e = NULL;
        rc = weft__engine_new(&e, ex->loop, &o);
        if (rc == 0) {
            ex->state = e;
            char shown[512];
            weft__log(WEFT_LOG_INFO, "exporter sgp: sending spans to %s%s",
                      weft__url_redacted(url, shown, sizeof shown), has_key ? "" : " (no SGP_API_KEY)");
        }
    }
    free_secret(h_key);
    free(h_acct);
    free(url);
    return rc;
}

static void sgp_submit(weft__exporter *ex, weft__batch *b) { weft__engine_submit(ex->state, b); }

static bool sgp_drain(weft__exporter *ex, uint64_t deadline_ms) { return weft__engine_drain(ex->state, deadline_ms); }

static void sgp_close(weft__exporter *ex)
{
    weft__engine_free(ex->state);
    ex->state = NULL;
}

const weft__exporter_ops weft__exporter_sgp = {
    .name = "sgp",
    .encoding = WEFT__ENC_SGP_JSON,
    .wants_inprogress = true,
    .open = sgp_open,
    .submit = sgp_submit,
    .drain = sgp_drain,
    .close = sgp_close,
};
