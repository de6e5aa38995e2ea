/*
 * sgp_client.c — the synchronous SGP spans client of include/weft/sgp.h: requests built and
 * answers read with jansson, sent through http_sync.c one attempt at a time, with the retry
 * policy of retry.h (the exporter's rules) around them.
 *
 * Owns: the client (base URL, the blocking HTTP pool, retry settings), every result handed
 * out until the caller frees it, and the iterators' copies of their searches.
 *
 * Invariants:
 *  - A client is immutable after weft_sgp_client_new except for `seq` (an atomic counter that
 *    seeds each call's jitter), so calls on one client from many threads share nothing else;
 *    the HTTP pool locks itself.
 *  - The API key lives only in the pool's header list: it is never copied into an error, a
 *    message or a log line, and weft_sgp_client_new refuses a plain http:// base URL to a host
 *    that is not loopback when a key is set (src/deliver/url.c), before anything connects.
 *    Plain http:// requests never go through a proxy.
 *  - Every call fills *err when err is non-NULL, on success too.
 *  - A result is either complete or not handed out: a parse failure frees what it built.
 *  - Nothing here needs weft_init: no runtime state, no logging.
 */
#include "weft/sgp.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http_sync.h"
#include "retry.h"
#include "url.h"
#include "weft/version.h"

#define DEFAULT_MAX_RETRIES 4
#define DEFAULT_MAX_RETRY_WAIT_MS 60000u

struct weft_sgp_client {
    char *base_url;
    weft__hsync *http;
    unsigned max_retries;
    uint32_t max_retry_wait_ms;
    atomic_uint_fast64_t seq;
};

/* ---- errors --------------------------------------------------------------------------------- */

static void err_reset(weft_sgp_error *err)
{
    if (!err)
        return;
    memset(err, 0, sizeof *err);
    err->item_index = -1;
}

/* Sets code and message; returns code, so `return fail(err, WEFT_EINVAL, "...")` reads well. */
__attribute__((format(printf, 3, 4))) static int fail(weft_sgp_error *err, int code,
                                                      const char *fmt, ...)
{
    if (err) {
        err->code = code;
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        if (n < 0)
            err->message[0] = '\0';
    }
    return code;
}

/* ---- client --------------------------------------------------------------------------------- */

static const char *pick(const char *given, const char *env)
{
    if (given)
        return given;
    const char *v = getenv(env);
    return v && *v ? v : NULL;
}

/* Header values must not carry CR, LF or other control bytes (header injection). */
static bool header_safe(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return false;
    return true;
}

int weft_sgp_client_new(const weft_sgp_options *opts, weft_sgp_client **out, weft_sgp_error *err)
{
    err_reset(err);
    if (!out)
        return fail(err, WEFT_EINVAL, "out is NULL");
    *out = NULL;
    weft_sgp_options o = opts ? *opts : (weft_sgp_options){0};
    const char *key = pick(o.api_key, "SGP_API_KEY");
    const char *account = pick(o.account_id, "SGP_ACCOUNT_ID");
    const char *base = pick(o.base_url, "SGP_CLIENT_BASE_URL");
    if (!base || !*base)
        base = WEFT_SGP_DEFAULT_BASE_URL;
    bool has_key = key && *key;

    int rc = weft__url_key_allowed(NULL, base, has_key, true);
    if (rc == WEFT_ECONFIG)
        return fail(err, rc, "SGP base URL must start with https:// (or http:// to a loopback "
                             "host)");
    if (rc == WEFT_EINSECURE)
        return fail(err, rc, "refusing to send the SGP API key over plain http:// to a host "
                             "that is not loopback; use https://");
    if ((has_key && !header_safe(key)) || (account && !header_safe(account)))
        return fail(err, WEFT_ECONFIG, "the SGP API key or account id holds control characters");

    weft_sgp_client *c = calloc(1, sizeof *c);
    if (!c)
        return fail(err, WEFT_ENOMEM, "out of memory");
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    c->base_url = strndup(base, blen);
    c->max_retries = o.max_retries < 0 ? 0 : o.max_retries == 0 ? DEFAULT_MAX_RETRIES
                                                                 : (unsigned)o.max_retries;
    c->max_retry_wait_ms = o.max_retry_wait_ms ? o.max_retry_wait_ms : DEFAULT_MAX_RETRY_WAIT_MS;
    atomic_init(&c->seq, 0);

    char *hk = NULL, *ha = NULL;
    const char *hdrs[2];
    size_t nh = 0;
    if (has_key && asprintf(&hk, "x-api-key: %s", key) >= 0)
        hdrs[nh++] = hk;
    if (account && *account && asprintf(&ha, "x-selected-account-id: %s", account) >= 0)
        hdrs[nh++] = ha;
    bool oom = !c->base_url || (has_key && !hk) || (account && *account && !ha);
    weft__hsync_opts ho = {
        .headers = hdrs,
        .n_headers = nh,
        .user_agent = o.user_agent ? o.user_agent : "weft/" WEFT_VERSION_STRING,
        .ca_bundle = o.ca_bundle,
        .connect_timeout_ms = o.connect_timeout_ms,
        .request_timeout_ms = o.request_timeout_ms,
        /* A key over plain http goes only to loopback, and then straight there. */
        .no_proxy = weft__url_is_plain_http(c->base_url ? c->base_url : base),
    };
    rc = oom ? WEFT_ENOMEM : weft__hsync_new(&c->http, &ho);
    if (hk) {
        memset(hk, 0, strlen(hk)); /* the pool has its own copy */
        free(hk);
    }
    free(ha);
    if (rc < 0) {
        weft_sgp_client_free(c);
        return fail(err, rc, rc == WEFT_ENOMEM ? "out of memory" : "libcurl failed to initialise");
    }
    *out = c;
    return 0;
}

void weft_sgp_client_free(weft_sgp_client *c)
{
    if (!c)
        return;
    weft__hsync_free(c->http);
    free(c->base_url);
    free(c);
}

const char *weft_sgp_client_base_url(const weft_sgp_client *c)
{
    return c ? c->base_url : NULL;
}

/* ---- one call with retries ------------------------------------------------------------------ */

static int64_t now_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The server's verdict on status, with the client's own exception: 501 is permanent (the
 * endpoint does not exist for this account, a retry cannot change that). */
static bool retryable(const weft__hsync_resp *r)
{
    if (r->err == WEFT__HTTP_OK && r->status == 501)
        return false;
    return weft__retry_classify(r->status, r->err) == WEFT__V_RETRY;
}

static const char *err_kind(weft__http_err e)
{
    switch (e) {
    case WEFT__HTTP_ECONNECT:
        return "cannot connect";
    case WEFT__HTTP_ETIMEDOUT:
        return "timed out";
    case WEFT__HTTP_ETLS:
        return "TLS failed";
    case WEFT__HTTP_EFATAL:
        return "cannot send";
    default:
        return "connection broken before a whole answer";
    }
}

/*
 * method {base}{path}[?query] with body; on a 2xx whose body is a JSON object, *root is it
 * (new reference). Every outcome fills err.
 */
static int call(weft_sgp_client *c, const char *method, const char *path, const char *query,
                const char *body, size_t body_len, json_t **root, weft_sgp_error *err)
{
    *root = NULL;
    char *url = NULL;
    if (asprintf(&url, "%s%s%s%s", c->base_url, path, query && *query ? "?" : "",
                 query ? query : "") < 0)
        return fail(err, WEFT_ENOMEM, "out of memory");
    uint64_t rnd = (uint64_t)now_unix_ms() ^ ((uint64_t)(uintptr_t)&rnd << 16) ^
                   (atomic_fetch_add(&c->seq, 1) * 0x9E3779B97F4A7C15ull);
    weft__hsync_resp r;
    int rc = 0;
    for (unsigned attempt = 0;; attempt++) {
        if (weft__hsync_request(c->http, method, url, body, body_len, &r) < 0) {
            rc = fail(err, WEFT_ENOMEM, "out of memory");
            break;
        }
        if (err) {
            err->attempts = attempt + 1;
            err->http_status = r.status;
            err->retry_after_ms = 0;
        }
        if (r.err == WEFT__HTTP_OK && r.status >= 200 && r.status < 300)
            break;
        uint64_t wait = 0;
        bool from_server = false;
        if (r.err == WEFT__HTTP_OK)
            wait = weft__retry_delay_ms(r.has_retry_after ? r.retry_after : NULL,
                                        strlen(r.retry_after),
                                        r.has_retry_after_ms ? r.retry_after_ms : NULL,
                                        strlen(r.retry_after_ms), now_unix_ms(), attempt,
                                        weft__retry_rand(&rnd), &from_server);
        else
            wait = weft__retry_backoff_ms(attempt, weft__retry_rand(&rnd));
        if (err && from_server)
            err->retry_after_ms = wait;
        bool again = retryable(&r) && attempt < c->max_retries &&
                     !(from_server && wait > c->max_retry_wait_ms);
        if (!again) {
            if (r.err != WEFT__HTTP_OK) {
                rc = fail(err, WEFT_EIO, "%s %s: %s (%s)", method, path, err_kind(r.err),
                          r.err_text);
            } else {
                if (err)
                    weft__retry_detail(r.body ? r.body : "", r.body_len, err->detail,
                                       sizeof err->detail);
                rc = fail(err, r.status == 501 ? WEFT_ENOTSUP : WEFT_EHTTP, "%s %s: HTTP %d%s",
                          method, path, r.status,
                          retryable(&r) && attempt < c->max_retries
                              ? " (the server's Retry-After is longer than max_retry_wait_ms)"
                              : "");
            }
            weft__hsync_resp_fini(&r);
            free(url);
            return rc;
        }
        weft__hsync_resp_fini(&r);
        sleep_ms(wait);
    }
    free(url);
    if (rc < 0)
        return rc;
    json_error_t je;
    json_t *j = r.body ? json_loadb(r.body, r.body_len, JSON_ALLOW_NUL, &je) : NULL;
    if (!j || !json_is_object(j)) {
        if (err)
            weft__retry_detail(r.body ? r.body : "", r.body_len, err->detail, sizeof err->detail);
        rc = fail(err, WEFT_EPROTO, "%s %s: HTTP %d with %s", method, path, r.status,
                  !r.body ? "an empty body"
                  : !j    ? "a body that is not JSON"
                          : "a JSON body that is not an object");
        json_decref(j);
        weft__hsync_resp_fini(&r);
        return rc;
    }
    weft__hsync_resp_fini(&r);
    *root = j;
    return 0;
}

/* ---- spans: JSON to struct ------------------------------------------------------------------ */

static void span_fini(weft_sgp_span *s)
{
    char **fields[] = {&s->id,
                       &s->account_id,
                       &s->name,
                       &s->trace_id,
                       &s->parent_id,
                       &s->group_id,
                       &s->start_timestamp,
                       &s->end_timestamp,
                       &s->application_id,
                       &s->application_variant_id,
                       &s->application_interaction_id,
                       &s->input_json,
                       &s->output_json,
                       &s->metadata_json,
                       &s->expected_json,
                       &s->status,
                       &s->type,
                       &s->created_by_id,
                       &s->created_by_type,
                       &s->created_by_user_id,
                       &s->obs_trace_id,
                       &s->obs_span_id,
                       &s->extra_json,
                       &s->json};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        free(*fields[i]);
    memset(s, 0, sizeof *s);
}

void weft_sgp_span_free(weft_sgp_span *span)
{
    if (!span)
        return;
    span_fini(span);
    free(span);
}

void weft_sgp_span_list_free(weft_sgp_span_list *list)
{
    if (!list)
        return;
    for (size_t i = 0; i < list->n; i++)
        span_fini(&list->items[i]);
    free(list->items);
    free(list);
}

/* The string members of the Span model, and where each lands. */
typedef struct str_field {
    const char *key;
    size_t off;
} str_field;

#define SF(name) {#name, offsetof(weft_sgp_span, name)}
static const str_field STR_FIELDS[] = {
    SF(id),       SF(account_id),
    SF(name),     SF(trace_id),
    SF(parent_id), SF(group_id),
    SF(start_timestamp), SF(end_timestamp),
    SF(application_id), SF(application_variant_id),
    SF(application_interaction_id), SF(status),
    SF(type),     SF(created_by_user_id),
    SF(obs_trace_id), SF(obs_span_id),
};
#undef SF

/* The JSON-valued members, kept as JSON text. */
static const str_field JSON_FIELDS[] = {
    {"input", offsetof(weft_sgp_span, input_json)},
    {"output", offsetof(weft_sgp_span, output_json)},
    {"metadata", offsetof(weft_sgp_span, metadata_json)},
    {"expected", offsetof(weft_sgp_span, expected_json)},
};

#define N_OF(a) (sizeof(a) / sizeof *(a))

static char **field_at(weft_sgp_span *s, size_t off)
{
    return (char **)((char *)s + off);
}

static char *dump(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* jansson allocates dumps with its own allocator (malloc unless the host changed it); results
 * are freed with free(), so copy when the allocator is not malloc. */
static char *own(char *s)
{
    json_malloc_t m;
    json_free_t f;
    json_get_alloc_funcs(&m, &f);
    if (!s || f == free)
        return s;
    char *c = strdup(s);
    f(s);
    return c;
}

static bool token_count(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= -9.2e18 && d <= 9.2e18 && d == (double)(int64_t)d) {
            *out = (int64_t)d;
            return true;
        }
    }
    return false;
}

/* One span object to *s (zeroed first). 0, WEFT_EPROTO (err message set) or WEFT_ENOMEM. */
static int parse_span(const json_t *obj, weft_sgp_span *s, const char *where, weft_sgp_error *err)
{
    memset(s, 0, sizeof *s);
    if (!json_is_object(obj))
        return fail(err, WEFT_EPROTO, "%s: a span is not a JSON object", where);
    if (!json_is_string(json_object_get(obj, "id")))
        return fail(err, WEFT_EPROTO, "%s: a span without a string id", where);
    json_t *extra = json_object();
    bool oom = !extra;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (oom)
            break;
        bool known = false, kept = false;
        for (size_t i = 0; i < N_OF(STR_FIELDS) && !known; i++) {
            if (strcmp(key, STR_FIELDS[i].key))
                continue;
            known = true;
            if (json_is_null(v)) {
                kept = true;
            } else if (json_is_string(v)) {
                char *d = strdup(json_string_value(v));
                oom |= !d;
                *field_at(s, STR_FIELDS[i].off) = d;
                kept = true;
            }
        }
        for (size_t i = 0; i < N_OF(JSON_FIELDS) && !known; i++) {
            if (strcmp(key, JSON_FIELDS[i].key))
                continue;
            known = kept = true;
            if (!json_is_null(v)) {
                char *d = own(dump(v));
                oom |= !d;
                *field_at(s, JSON_FIELDS[i].off) = d;
            }
        }
        if (!known && (!strcmp(key, "input_tokens") || !strcmp(key, "output_tokens"))) {
            known = true;
            bool in = key[0] == 'i';
            int64_t n;
            if (json_is_null(v)) {
                kept = true;
            } else if (token_count(v, &n)) {
                kept = true;
                *(in ? &s->input_tokens : &s->output_tokens) = n;
                *(in ? &s->has_input_tokens : &s->has_output_tokens) = true;
            }
        }
        if (!known && !strcmp(key, "created_by")) {
            known = true;
            if (json_is_null(v)) {
                kept = true;
            } else if (json_is_object(v)) {
                kept = true;
                const char *cid = json_string_value(json_object_get(v, "id"));
                const char *cty = json_string_value(json_object_get(v, "type"));
                if (cid && !(s->created_by_id = strdup(cid)))
                    oom = true;
                if (cty && !(s->created_by_type = strdup(cty)))
                    oom = true;
            }
        }
        if (!known && !strcmp(key, "object") && json_is_string(v))
            known = kept = true; /* always "span": the model's tag */
        /* Unknown members, and known ones of an unexpected type, are kept whole. */
        if (!kept && json_object_set(extra, key, v) != 0)
            oom = true;
    }
    if (!oom && json_object_size(extra) > 0)
        oom = !(s->extra_json = own(dump(extra)));
    json_decref(extra);
    if (!oom)
        oom = !(s->json = own(dump(obj)));
    if (oom) {
        span_fini(s);
        return fail(err, WEFT_ENOMEM, "out of memory");
    }
    return 0;
}

static int parse_one(json_t *root, weft_sgp_span **out, const char *where, weft_sgp_error *err)
{
    weft_sgp_span *s = malloc(sizeof *s);
    if (!s)
        return fail(err, WEFT_ENOMEM, "out of memory");
    int rc = parse_span(root, s, where, err);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

/* {"items":[...], "has_more":…, "total":…, "limit":…} to a list. */
static int parse_list(json_t *root, weft_sgp_span_list **out, const char *where,
                      weft_sgp_error *err)
{
    json_t *items = json_object_get(root, "items");
    if (!json_is_array(items))
        return fail(err, WEFT_EPROTO, "%s: the answer has no items array", where);
    json_t *hm = json_object_get(root, "has_more");
    if (hm && !json_is_boolean(hm) && !json_is_null(hm))
        return fail(err, WEFT_EPROTO, "%s: has_more is not a boolean", where);
    weft_sgp_span_list *l = calloc(1, sizeof *l);
    size_t n = json_array_size(items);
    if (!l || (n && !(l->items = calloc(n, sizeof *l->items)))) {
        free(l);
        return fail(err, WEFT_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        int rc = parse_span(json_array_get(items, i), &l->items[i], where, err);
        if (rc < 0) {
            weft_sgp_span_list_free(l);
            return rc;
        }
        l->n++;
    }
    l->has_more = json_is_true(hm);
    int64_t t;
    if (token_count(json_object_get(root, "total"), &t))
        l->total = t;
    if (token_count(json_object_get(root, "limit"), &t) && t >= 0 && t <= INT32_MAX)
        l->limit = (int32_t)t;
    *out = l;
    return 0;
}

/* ---- spans: struct to JSON ------------------------------------------------------------------ */

/* Parses text that must be one JSON object; NULL (why set) otherwise. */
static json_t *parse_object(const char *text, const char **why)
{
    json_error_t je;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
    if (!j) {
        *why = "is not valid JSON";
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        *why = "is not a JSON object";
        return NULL;
    }
    return j;
}

/* The request object for one input span; NULL with err set (item_index = idx) on bad input. */
static json_t *span_to_json(const weft_sgp_span *s, long idx, bool need_required,
                            weft_sgp_error *err)
{
    static const char *const sent[] = {"id", "name", "trace_id", "parent_id", "group_id",
                                       "start_timestamp", "end_timestamp",
                                       "application_variant_id", "application_interaction_id",
                                       "status", "type", "obs_trace_id", "obs_span_id"};
    if (!s) {
        fail(err, WEFT_EINVAL, "span %ld is NULL", idx);
        goto bad_index;
    }
    if (need_required && (!s->name || !s->trace_id || !s->start_timestamp)) {
        fail(err, WEFT_EINVAL, "span %ld: name, trace_id and start_timestamp are required", idx);
        goto bad_index;
    }
    json_t *o = json_object();
    if (!o) {
        fail(err, WEFT_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < N_OF(sent); i++) {
        for (size_t k = 0; k < N_OF(STR_FIELDS); k++) {
            if (strcmp(sent[i], STR_FIELDS[k].key))
                continue;
            const char *v = *field_at((weft_sgp_span *)s, STR_FIELDS[k].off);
            if (v && json_object_set_new(o, sent[i], json_string(v)) != 0) {
                json_decref(o);
                fail(err, WEFT_EINVAL, "span %ld: %s is not valid UTF-8", idx, sent[i]);
                goto bad_index;
            }
        }
    }
    for (size_t k = 0; k < N_OF(JSON_FIELDS); k++) {
        const char *v = *field_at((weft_sgp_span *)s, JSON_FIELDS[k].off);
        if (!v)
            continue;
        const char *why;
        json_t *j = parse_object(v, &why);
        if (!j) {
            json_decref(o);
            fail(err, WEFT_EINVAL, "span %ld: %s_json %s", idx, JSON_FIELDS[k].key, why);
            goto bad_index;
        }
        json_object_set_new(o, JSON_FIELDS[k].key, j);
    }
    if (s->extra_json) {
        const char *why;
        json_t *j = parse_object(s->extra_json, &why);
        if (!j) {
            json_decref(o);
            fail(err, WEFT_EINVAL, "span %ld: extra_json %s", idx, why);
            goto bad_index;
        }
        json_object_update_missing(o, j); /* the named fields win */
        json_decref(j);
    }
    return o;
bad_index:
    if (err)
        err->item_index = idx;
    return NULL;
}

static json_t *items_json_to_array(const char *const *items, size_t n, weft_sgp_error *err)
{
    json_t *arr = json_array();
    if (!arr) {
        fail(err, WEFT_ENOMEM, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *why = "is NULL";
        json_t *j = items[i] ? parse_object(items[i], &why) : NULL;
        if (!j) {
            json_decref(arr);
            fail(err, WEFT_EINVAL, "item %zu %s", i, why);
            if (err)
                err->item_index = (long)i;
            return NULL;
        }
        json_array_append_new(arr, j);
    }
    return arr;
}

/* Dumps body (taking it) and makes the call. */
static int call_json(weft_sgp_client *c, const char *method, const char *path, const char *query,
                     json_t *body, json_t **root, weft_sgp_error *err)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (body && !text)
        return fail(err, WEFT_ENOMEM, "out of memory");
    json_free_t jfree;
    json_get_alloc_funcs(NULL, &jfree);
    int rc = call(c, method, path, query, text, text ? strlen(text) : 0, root, err);
    if (text)
        jfree(text);
    return rc;
}

static bool check_client(weft_sgp_client *c, weft_sgp_error *err)
{
    err_reset(err);
    if (!c) {
        fail(err, WEFT_EINVAL, "client is NULL");
        return false;
    }
    return true;
}

/* ---- writing spans -------------------------------------------------------------------------- */

/* Every span call ends here: the answer read into *one (a span) or *list (a page), whichever
 * the call returns and the caller asked for, and the answer freed. */
static int finish(json_t *root, int rc, weft_sgp_span **one, weft_sgp_span_list **list, const char *where,
                  weft_sgp_error *err)
{
    if (rc == 0 && one)
        rc = parse_one(root, one, where, err);
    else if (rc == 0 && list)
        rc = parse_list(root, list, where, err);
    json_decref(root);
    return rc;
}

/* Every entry starts here: *out cleared (when given), the error reset, the client checked. One
 * per result family: a span, a page of spans. */
static bool enter_one(weft_sgp_client *c, weft_sgp_span **out, weft_sgp_error *err)
{
    if (out)
        *out = NULL;
    return check_client(c, err);
}

static bool enter_list(weft_sgp_client *c, weft_sgp_span_list **out, weft_sgp_error *err)
{
    if (out)
        *out = NULL;
    return check_client(c, err);
}

static int send_one(weft_sgp_client *c, json_t *body, weft_sgp_span **out, weft_sgp_error *err)
{
    json_t *root;
    int rc = call_json(c, "POST", "/v5/spans", NULL, body, &root, err);
    return finish(root, rc, out, NULL, "POST /v5/spans", err);
}

int weft_sgp_spans_create(weft_sgp_client *c, const weft_sgp_span *span, weft_sgp_span **out,
                          weft_sgp_error *err)
{
    if (!enter_one(c, out, err))
        return WEFT_EINVAL;
    json_t *body = span_to_json(span, 0, true, err);
    if (!body)
        return err ? err->code : WEFT_EINVAL;
    return send_one(c, body, out, err);
}

int weft_sgp_spans_create_json(weft_sgp_client *c, const char *span_json, weft_sgp_span **out,
                               weft_sgp_error *err)
{
    if (!enter_one(c, out, err))
        return WEFT_EINVAL;
    const char *why = "is NULL";
    json_t *body = span_json ? parse_object(span_json, &why) : NULL;
    if (!body) {
        if (err)
            err->item_index = 0;
        return fail(err, WEFT_EINVAL, "span_json %s", why);
    }
    return send_one(c, body, out, err);
}

static int send_batch(weft_sgp_client *c, const char *method, json_t *arr,
                      weft_sgp_span_list **out, weft_sgp_error *err)
{
    json_t *body = json_pack("{s:o}", "items", arr);
    if (!body)
        return fail(err, WEFT_ENOMEM, "out of memory");
    json_t *root;
    int rc = call_json(c, method, "/v5/spans/batch", NULL, body, &root, err);
    return finish(root, rc, NULL, out, !strcmp(method, "PUT") ? "PUT /v5/spans/batch"
                                                             : "POST /v5/spans/batch", err);
}

/* The batch entries' start: enter_list, then 1 to WEFT_SGP_LIMIT_MAX entries in a non-NULL
 * array (named in the error). False: WEFT_EINVAL, err says why. */
static bool enter_batch(weft_sgp_client *c, size_t n, const void *items, const char *name,
                        weft_sgp_span_list **out, weft_sgp_error *err)
{
    if (!enter_list(c, out, err))
        return false;
    if (n == 0 || n > WEFT_SGP_LIMIT_MAX) {
        fail(err, WEFT_EINVAL, "a batch holds 1 to %d spans (got %zu)", WEFT_SGP_LIMIT_MAX, n);
        return false;
    }
    if (!items) {
        fail(err, WEFT_EINVAL, "%s is NULL", name);
        return false;
    }
    return true;
}

static int batch_typed(weft_sgp_client *c, const char *method, const weft_sgp_span *spans,
                       size_t n, weft_sgp_span_list **out, weft_sgp_error *err)
{
    if (!enter_batch(c, n, spans, "spans", out, err))
        return WEFT_EINVAL;
    json_t *arr = json_array();
    if (!arr)
        return fail(err, WEFT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *o = span_to_json(&spans[i], (long)i, true, err);
        if (!o) {
            json_decref(arr);
            return err ? err->code : WEFT_EINVAL;
        }
        json_array_append_new(arr, o);
    }
    return send_batch(c, method, arr, out, err);
}

static int batch_text(weft_sgp_client *c, const char *method, const char *const *items, size_t n,
                      weft_sgp_span_list **out, weft_sgp_error *err)
{
    if (!enter_batch(c, n, items, "items_json", out, err))
        return WEFT_EINVAL;
    json_t *arr = items_json_to_array(items, n, err);
    if (!arr)
        return err ? err->code : WEFT_EINVAL;
    return send_batch(c, method, arr, out, err);
}

int weft_sgp_spans_batch(weft_sgp_client *c, const weft_sgp_span *spans, size_t n,
                         weft_sgp_span_list **out, weft_sgp_error *err)
{
    return batch_typed(c, "POST", spans, n, out, err);
}

int weft_sgp_spans_upsert_batch(weft_sgp_client *c, const weft_sgp_span *spans, size_t n,
                                weft_sgp_span_list **out, weft_sgp_error *err)
{
    return batch_typed(c, "PUT", spans, n, out, err);
}

int weft_sgp_spans_batch_json(weft_sgp_client *c, const char *const *items_json, size_t n,
                              weft_sgp_span_list **out, weft_sgp_error *err)
{
    return batch_text(c, "POST", items_json, n, out, err);
}

int weft_sgp_spans_upsert_batch_json(weft_sgp_client *c, const char *const *items_json, size_t n,
                                     weft_sgp_span_list **out, weft_sgp_error *err)
{
    return batch_text(c, "PUT", items_json, n, out, err);
}

/* ---- URLs ----------------------------------------------------------------------------------- */

/* Room for need bytes in *buf (capacity *cap, doubling from 128). */
static bool reserve(char **buf, size_t *cap, size_t need)
{
    if (need > *cap) {
        size_t nc = *cap ? *cap : 128;
        while (nc < need)
            nc *= 2;
        char *b = realloc(*buf, nc);
        if (!b)
            return false;
        *buf = b;
        *cap = nc;
    }
    return true;
}

/* Appends s percent-encoded (RFC 3986: everything but unreserved characters) to *buf. */
static bool esc_append(char **buf, size_t *len, size_t *cap, const char *s)
{
    if (!reserve(buf, cap, *len + strlen(s) * 3 + 1))
        return false;
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned ch = *p;
        if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            (*buf)[(*len)++] = (char)ch;
        } else {
            (*buf)[(*len)++] = '%';
            (*buf)[(*len)++] = hex[ch >> 4];
            (*buf)[(*len)++] = hex[ch & 15];
        }
    }
    (*buf)[*len] = '\0';
    return true;
}

static bool raw_append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (!reserve(buf, cap, *len + n + 1))
        return false;
    memcpy(*buf + *len, s, n + 1);
    *len += n;
    return true;
}

/* "/v5/spans/<escaped id>", or NULL (out of memory). */
static char *span_path(const char *id)
{
    char *b = NULL;
    size_t len = 0, cap = 0;
    if (!raw_append(&b, &len, &cap, "/v5/spans/") || !esc_append(&b, &len, &cap, id)) {
        free(b);
        return NULL;
    }
    return b;
}

/* ---- reading and updating one span ---------------------------------------------------------- */

int weft_sgp_spans_retrieve(weft_sgp_client *c, const char *span_id, weft_sgp_span **out,
                            weft_sgp_error *err)
{
    if (!enter_one(c, out, err))
        return WEFT_EINVAL;
    if (!span_id || !*span_id || !out)
        return fail(err, WEFT_EINVAL, "span_id and out are required");
    char *path = span_path(span_id);
    if (!path)
        return fail(err, WEFT_ENOMEM, "out of memory");
    json_t *root;
    int rc = call(c, "GET", path, NULL, NULL, 0, &root, err);
    rc = finish(root, rc, out, NULL, "GET /v5/spans/{span_id}", err);
    free(path);
    return rc;
}

int weft_sgp_spans_update(weft_sgp_client *c, const char *span_id, const weft_sgp_span_update *upd,
                          weft_sgp_span **out, weft_sgp_error *err)
{
    if (!enter_one(c, out, err))
        return WEFT_EINVAL;
    if (!span_id || !*span_id || !upd)
        return fail(err, WEFT_EINVAL, "span_id and upd are required");
    json_t *body = json_object();
    if (!body)
        return fail(err, WEFT_ENOMEM, "out of memory");
    const struct {
        const char *key, *value;
        bool object;
    } f[] = {{"name", upd->name, false},
             {"end_timestamp", upd->end_timestamp, false},
             {"output", upd->output_json, true},
             {"metadata", upd->metadata_json, true},
             {"status", upd->status, false}};
    for (size_t i = 0; i < N_OF(f); i++) {
        if (!f[i].value)
            continue;
        const char *why = "is not valid UTF-8";
        json_t *v = f[i].object ? parse_object(f[i].value, &why) : json_string(f[i].value);
        if (!v) {
            json_decref(body);
            return fail(err, WEFT_EINVAL, "update: %s %s", f[i].key, why);
        }
        json_object_set_new(body, f[i].key, v);
    }
    char *path = span_path(span_id);
    if (!path) {
        json_decref(body);
        return fail(err, WEFT_ENOMEM, "out of memory");
    }
    json_t *root;
    int rc = call_json(c, "PATCH", path, NULL, body, &root, err);
    rc = finish(root, rc, out, NULL, "PATCH /v5/spans/{span_id}", err);
    free(path);
    return rc;
}

/* ---- search --------------------------------------------------------------------------------- */

/* The search entries' start (search, iter_new): the client, the out pointer and the query's
 * limit and sort order checked. 0 or a negative code, err says why. */
static int enter_search(weft_sgp_client *c, const weft_sgp_search *q, bool have_out, weft_sgp_error *err)
{
    if (!check_client(c, err))
        return WEFT_EINVAL;
    if (!have_out)
        return fail(err, WEFT_EINVAL, "out is NULL");
    if (q && (q->limit < 0 || q->limit > WEFT_SGP_LIMIT_MAX))
        return fail(err, WEFT_EINVAL, "limit must be between 1 and %d (got %d; 0 means %d)",
                    WEFT_SGP_LIMIT_MAX, (int)q->limit, WEFT_SGP_LIMIT_DEFAULT);
    if (q && (q->sort_order < WEFT_SGP_SORT_DEFAULT || q->sort_order > WEFT_SGP_SORT_DESC))
        return fail(err, WEFT_EINVAL, "sort_order must be a weft_sgp_sort_order value");
    return 0;
}

/* The query string without cursors ("limit=100&sort_order=desc..."), always with a limit. */
static char *search_query(const weft_sgp_search *q)
{
    char *b = NULL;
    size_t len = 0, cap = 0;
    char num[32];
    snprintf(num, sizeof num, "%d", q && q->limit ? (int)q->limit : WEFT_SGP_LIMIT_DEFAULT);
    bool ok = raw_append(&b, &len, &cap, "limit=") && raw_append(&b, &len, &cap, num);
    if (q && q->sort_order)
        ok = ok && raw_append(&b, &len, &cap,
                              q->sort_order == WEFT_SGP_SORT_ASC ? "&sort_order=asc"
                                                                 : "&sort_order=desc");
    const struct {
        const char *key, *value;
    } p[] = {{"&sort_by=", q ? q->sort_by : NULL},
             {"&from_ts=", q ? q->from_ts : NULL},
             {"&to_ts=", q ? q->to_ts : NULL}};
    for (size_t i = 0; i < N_OF(p); i++)
        if (p[i].value)
            ok = ok && raw_append(&b, &len, &cap, p[i].key) &&
                 esc_append(&b, &len, &cap, p[i].value);
    if (!ok) {
        free(b);
        return NULL;
    }
    return b;
}

/* cursor appended to a fixed query: "<fixed>&starting_after=<id>". */
static char *with_cursor(const char *fixed, const char *name, const char *cursor)
{
    char *b = NULL;
    size_t len = 0, cap = 0;
    bool ok = raw_append(&b, &len, &cap, fixed);
    if (cursor)
        ok = ok && raw_append(&b, &len, &cap, "&") && raw_append(&b, &len, &cap, name) &&
             raw_append(&b, &len, &cap, "=") && esc_append(&b, &len, &cap, cursor);
    if (!ok) {
        free(b);
        return NULL;
    }
    return b;
}

static int add_list(json_t *body, const char *key, const char *const *v, size_t n,
                    weft_sgp_error *err)
{
    if (n == 0)
        return 0;
    if (!v)
        return fail(err, WEFT_EINVAL, "search: %s is NULL with a count of %zu", key, n);
    json_t *arr = json_array();
    if (!arr)
        return fail(err, WEFT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *s = v[i] ? json_string(v[i]) : NULL;
        if (!s) {
            json_decref(arr);
            return fail(err, WEFT_EINVAL, "search: %s[%zu] is NULL or not valid UTF-8", key, i);
        }
        json_array_append_new(arr, s);
    }
    json_object_set_new(body, key, arr);
    return 0;
}

/* The body of a search: every filter that is set. */
static int search_body(const weft_sgp_search *q, char **out, weft_sgp_error *err)
{
    *out = NULL;
    json_t *b = json_object();
    if (!b)
        return fail(err, WEFT_ENOMEM, "out of memory");
    int rc = 0;
    if (q) {
        const struct {
            const char *key;
            const char *const *v;
            size_t n;
        } lists[] = {
            {"application_variant_ids", q->application_variant_ids, q->n_application_variant_ids},
            {"excluded_span_ids", q->excluded_span_ids, q->n_excluded_span_ids},
            {"excluded_trace_ids", q->excluded_trace_ids, q->n_excluded_trace_ids},
            {"names", q->names, q->n_names},
            {"search_texts", q->search_texts, q->n_search_texts},
            {"span_ids", q->span_ids, q->n_span_ids},
            {"statuses", q->statuses, q->n_statuses},
            {"trace_ids", q->trace_ids, q->n_trace_ids},
            {"types", q->types, q->n_types},
        };
        for (size_t i = 0; i < N_OF(lists) && rc == 0; i++)
            rc = add_list(b, lists[i].key, lists[i].v, lists[i].n, err);
        if (rc == 0 && q->extra_metadata_json) {
            const char *why;
            json_t *m = parse_object(q->extra_metadata_json, &why);
            if (!m)
                rc = fail(err, WEFT_EINVAL, "search: extra_metadata_json %s", why);
            else
                json_object_set_new(b, "extra_metadata", m);
        }
        if (rc == 0 && q->group_id) {
            json_t *g = json_string(q->group_id);
            if (!g)
                rc = fail(err, WEFT_EINVAL, "search: group_id is not valid UTF-8");
            else
                json_object_set_new(b, "group_id", g);
        }
        if (rc == 0 && q->parents_only)
            json_object_set_new(b, "parents_only", json_true());
    }
    if (rc == 0) {
        char *t = json_dumps(b, JSON_COMPACT);
        *out = t ? strdup(t) : NULL;
        json_free_t jfree;
        json_get_alloc_funcs(NULL, &jfree);
        if (t)
            jfree(t);
        if (!*out)
            rc = fail(err, WEFT_ENOMEM, "out of memory");
    }
    json_decref(b);
    return rc;
}

static int search_call(weft_sgp_client *c, const char *query, const char *body,
                       weft_sgp_span_list **out, weft_sgp_error *err)
{
    json_t *root;
    int rc = call(c, "POST", "/v5/spans/search", query, body, strlen(body), &root, err);
    return finish(root, rc, NULL, out, "POST /v5/spans/search", err);
}

int weft_sgp_spans_search(weft_sgp_client *c, const weft_sgp_search *q, weft_sgp_span_list **out,
                          weft_sgp_error *err)
{
    if (out)
        *out = NULL;
    int rc = enter_search(c, q, out != NULL, err);
    if (rc < 0)
        return rc;
    char *body;
    if ((rc = search_body(q, &body, err)) < 0)
        return rc;
    char *fixed = search_query(q), *query = NULL;
    if (fixed) {
        query = with_cursor(fixed, "starting_after", q ? q->starting_after : NULL);
        if (query && q && q->ending_before) {
            char *both = with_cursor(query, "ending_before", q->ending_before);
            free(query);
            query = both;
        }
    }
    free(fixed);
    rc = query ? search_call(c, query, body, out, err) : fail(err, WEFT_ENOMEM, "out of memory");
    free(query);
    free(body);
    return rc;
}

/* ---- the cursor iterator -------------------------------------------------------------------- */

struct weft_sgp_span_iter {
    weft_sgp_client *c;
    weft_sgp_direction dir;
    char *fixed;               /* query string without the cursor */
    char *body;                /* the search body */
    char *cursor;              /* the next request's cursor; NULL: none (the first page) */
    weft_sgp_span_list *page;  /* the page handed out last */
    size_t pos;                /* next span of `page` for iter_next */
    size_t pages;
    bool done;                 /* the last page was fetched */
};

int weft_sgp_spans_iter_new(weft_sgp_client *c, const weft_sgp_search *q, weft_sgp_direction dir,
                            weft_sgp_span_iter **out, weft_sgp_error *err)
{
    if (out)
        *out = NULL;
    int rc = enter_search(c, q, out != NULL, err);
    if (rc < 0)
        return rc;
    if (dir != WEFT_SGP_FORWARD && dir != WEFT_SGP_BACKWARD)
        return fail(err, WEFT_EINVAL, "dir must be WEFT_SGP_FORWARD or WEFT_SGP_BACKWARD");
    if (dir == WEFT_SGP_BACKWARD && (!q || !q->ending_before))
        return fail(err, WEFT_EINVAL, "a backward walk starts from ending_before (a span id)");
    if (dir == WEFT_SGP_BACKWARD && q->starting_after)
        return fail(err, WEFT_EINVAL, "a backward walk takes ending_before, not starting_after");
    if (dir == WEFT_SGP_FORWARD && q && q->ending_before)
        return fail(err, WEFT_EINVAL, "a forward walk takes starting_after, not ending_before");
    weft_sgp_span_iter *it = calloc(1, sizeof *it);
    if (!it)
        return fail(err, WEFT_ENOMEM, "out of memory");
    it->c = c;
    it->dir = dir;
    if ((rc = search_body(q, &it->body, err)) < 0) {
        free(it);
        return rc;
    }
    it->fixed = search_query(q);
    const char *start = !q ? NULL : dir == WEFT_SGP_FORWARD ? q->starting_after : q->ending_before;
    if (!it->fixed || (start && !(it->cursor = strdup(start)))) {
        weft_sgp_spans_iter_free(it);
        return fail(err, WEFT_ENOMEM, "out of memory");
    }
    *out = it;
    return 0;
}

/* The iterator entries' start: the error reset, the iterator and the out pointer (named) checked. */
static bool enter_iter(const weft_sgp_span_iter *it, bool have_out, const char *out_name, weft_sgp_error *err)
{
    err_reset(err);
    if (!it || !have_out) {
        fail(err, WEFT_EINVAL, "it and %s are required", out_name);
        return false;
    }
    return true;
}

int weft_sgp_spans_iter_next_page(weft_sgp_span_iter *it, const weft_sgp_span_list **page,
                                  weft_sgp_error *err)
{
    if (page)
        *page = NULL;
    if (!enter_iter(it, page != NULL, "page", err))
        return WEFT_EINVAL;
    if (it->done)
        return 0;
    char *query = with_cursor(it->fixed,
                              it->dir == WEFT_SGP_FORWARD ? "starting_after" : "ending_before",
                              it->cursor);
    if (!query)
        return fail(err, WEFT_ENOMEM, "out of memory");
    weft_sgp_span_list *l = NULL;
    int rc = search_call(it->c, query, it->body, &l, err);
    free(query);
    if (rc < 0)
        return rc; /* the iterator stays where it was */
    char *next = NULL;
    if (l->n > 0 && l->has_more) {
        const char *id = l->items[it->dir == WEFT_SGP_FORWARD ? l->n - 1 : 0].id;
        if (it->cursor && !strcmp(id, it->cursor)) {
            weft_sgp_span_list_free(l);
            return fail(err, WEFT_EPROTO, "POST /v5/spans/search: the page cursor did not "
                                          "advance (has_more with the same boundary span)");
        }
        if (!(next = strdup(id))) {
            weft_sgp_span_list_free(l);
            return fail(err, WEFT_ENOMEM, "out of memory");
        }
    }
    it->pages++;
    weft_sgp_span_list_free(it->page);
    it->page = l;
    it->pos = 0;
    free(it->cursor);
    it->cursor = next;
    it->done = next == NULL;
    if (l->n == 0)
        return 0;
    *page = l;
    return 1;
}

int weft_sgp_spans_iter_next(weft_sgp_span_iter *it, const weft_sgp_span **span,
                             weft_sgp_error *err)
{
    if (span)
        *span = NULL;
    if (!enter_iter(it, span != NULL, "span", err))
        return WEFT_EINVAL;
    while (!it->page || it->pos >= it->page->n) {
        if (it->done)
            return 0;
        const weft_sgp_span_list *p;
        int rc = weft_sgp_spans_iter_next_page(it, &p, err);
        if (rc <= 0)
            return rc;
    }
    size_t n = it->page->n, k = it->pos++;
    *span = &it->page->items[it->dir == WEFT_SGP_FORWARD ? k : n - 1 - k];
    return 1;
}

size_t weft_sgp_spans_iter_pages(const weft_sgp_span_iter *it)
{
    return it ? it->pages : 0;
}

void weft_sgp_spans_iter_free(weft_sgp_span_iter *it)
{
    if (!it)
        return;
    weft_sgp_span_list_free(it->page);
    free(it->fixed);
    free(it->body);
    free(it->cursor);
    free(it);
}
