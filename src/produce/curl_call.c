/*
 * curl_call.c — the caller-thread half of weft/curl.h: one span per libcurl LLM call, the tee
 * callbacks, and the two ring events that carry the call's bytes to the export thread
 * (llm_event.h; src/assemble/llm_http.c reads them).
 *
 * What runs on the caller's thread, and all that runs there: a look at the URL (host, path,
 * operation; no allocation), a copy of the request body into the ring, then per write
 * callback a copy of the bytes into a growing buffer (bounded, see body_cap) and a scan for
 * lines that start with "data:" (memchr from line to line; one tick read per chunk that has
 * one), and at the end one copy of that buffer into the ring. No JSON is parsed here.
 *
 * The tees forward every call to the program's own callbacks (given in weft_llm_call, since
 * curl has no getter for them) with the arguments curl would have used, and return what they
 * returned; bytes a callback refuses or pauses on are not recorded (curl delivers paused bytes
 * again). The program's settings are put back when the transfer ends.
 *
 * Ownership: a call's state (struct llm_ctx) lives on weft_curl_perform's stack, or on the
 * heap from weft_curl_attach to weft_curl_finish, found again through a small table keyed by
 * the easy handle (guarded by a mutex: attach and finish may run on different threads).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "event.h"
#include "llm_event.h"
#include "producer.h"
#include "runtime.h"
#include "weft/curl.h"

/* Longest strings carried (a host name's limit is 253; paths and names are cut). */
#define NAME_MAX_KEPT 256u
#define PATH_MAX_KEPT 1024u
#define ERR_MAX_KEPT 256u
/* 4096 data lines timed at most (32 KiB of ticks): a 4000-token answer; the statistics of
 * longer streams use their first 4096 lines, the line count is exact. */
#define TICKS_MAX 4096u
#define SCAN_NOT_DATA 0xffu

typedef struct llm_ctx {
    CURL *easy;
    weft_span span;
    uint32_t op, flags;
    curl_write_callback app_write, app_header;
    void *app_wdata, *app_hdata;
    uint64_t t_begin;
    /* response body as the write callback received it: the first body_cap bytes */
    char *body;
    size_t body_len, body_cap_now, body_cap;
    uint64_t body_total;
    /* one tick per "data:" line, the first tick_cap of them */
    uint64_t *ticks;
    uint32_t n_ticks, tick_cap, ticks_cap_now;
    uint64_t n_data;
    uint8_t scan; /* characters of "data:" matched at the start of the current line */
    bool sse, refused;
    struct llm_ctx *next; /* attach table chain */
} llm_ctx;

/* ---- buffers kept per thread ----------------------------------------------------------------
 * A call's body and tick buffers go back to its finishing thread when it ends and the next
 * call on that thread takes them: growing a fresh 200 KiB buffer per call meant an mmap, page
 * faults and an munmap per call (about 1 ms per streamed call on the project's VMs). One set
 * per thread, freed when the thread exits. */
typedef struct spare {
    char *body;
    size_t body_cap;
    uint64_t *ticks;
    uint32_t ticks_cap;
} spare;

static pthread_key_t spare_key;
static pthread_once_t spare_once = PTHREAD_ONCE_INIT;

static void spare_free(void *p)
{
    spare *sp = p;
    free(sp->body);
    free(sp->ticks);
    free(sp);
}

static void spare_init(void) { (void)pthread_key_create(&spare_key, spare_free); }

static void take_spare(struct llm_ctx *c);
static void give_spare(struct llm_ctx *c);

static inline bool tracing_on(void)
{
    return atomic_load_explicit(&weft__rt.hot.enabled, memory_order_relaxed) != 0;
}

static void take_spare(llm_ctx *c)
{
    pthread_once(&spare_once, spare_init);
    spare *sp = pthread_getspecific(spare_key);
    if (!sp)
        return;
    c->body = sp->body;
    c->body_cap_now = sp->body_cap;
    c->ticks = sp->ticks;
    c->ticks_cap_now = sp->ticks_cap;
    memset(sp, 0, sizeof *sp);
}

static void give_spare(llm_ctx *c)
{
    pthread_once(&spare_once, spare_init);
    spare *sp = pthread_getspecific(spare_key);
    if (!sp && (sp = calloc(1, sizeof *sp)) != NULL && pthread_setspecific(spare_key, sp) != 0) {
        free(sp);
        sp = NULL;
    }
    if (sp && !sp->body && !sp->ticks) {
        sp->body = c->body;
        sp->body_cap = c->body_cap_now;
        sp->ticks = c->ticks;
        sp->ticks_cap = c->ticks_cap_now;
    } else {
        free(c->body);
        free(c->ticks);
    }
    c->body = NULL;
    c->ticks = NULL;
}

/* ---- the URL: host, path, operation ----------------------------------------------------- */

typedef struct url_parts {
    const char *host, *path;
    size_t host_len, path_len;
} url_parts;

static url_parts split_url(const char *url)
{
    url_parts u = {"", "", 0, 0};
    if (!url)
        return u;
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *at = NULL;
    for (const char *q = p; *q && *q != '/' && *q != '?' && *q != '#'; q++)
        if (*q == '@')
            at = q; /* user:password@ never leaves the process */
    if (at)
        p = at + 1;
    u.host = p;
    while (*p && *p != '/' && *p != '?' && *p != '#')
        p++;
    u.host_len = (size_t)(p - u.host);
    u.path = p;
    while (*p && *p != '?' && *p != '#') /* the query may hold a key (?key=...): left out */
        p++;
    u.path_len = (size_t)(p - u.path);
    while (u.path_len > 1 && u.path[u.path_len - 1] == '/')
        u.path_len--;
    return u;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static const char *const op_names[] = {"chat", "text_completion", "embeddings"};

static uint32_t op_from_path(const url_parts *u)
{
    if (ends_with(u->path, u->path_len, "/chat/completions") || ends_with(u->path, u->path_len, "/api/chat"))
        return WEFT__LLM_CHAT;
    if (ends_with(u->path, u->path_len, "/embeddings") || ends_with(u->path, u->path_len, "/api/embed"))
        return WEFT__LLM_EMBEDDINGS;
    if (ends_with(u->path, u->path_len, "/completions") || ends_with(u->path, u->path_len, "/api/generate"))
        return WEFT__LLM_TEXT_COMPLETION;
    return WEFT__LLM_CHAT;
}

static uint32_t op_from_name(const char *name)
{
    if (!strcmp(name, "text_completion") || !strcmp(name, "completion") || !strcmp(name, "completions"))
        return WEFT__LLM_TEXT_COMPLETION;
    if (!strcmp(name, "embeddings") || !strcmp(name, "embedding") || !strcmp(name, "embed"))
        return WEFT__LLM_EMBEDDINGS;
    return WEFT__LLM_CHAT;
}

static size_t cut(size_t n, size_t max) { return n < max ? n : max; }

/* ---- the tees --------------------------------------------------------------------------- */

/* What curl itself would do with bytes for the program's write function. */
static size_t app_write(llm_ctx *c, char *p, size_t size, size_t nmemb)
{
    void *data = c->app_wdata ? c->app_wdata : stdout;
    if (c->app_write)
        return c->app_write(p, size, nmemb, data);
    return fwrite(p, size, nmemb, (FILE *)data);
}

/* Counts the lines of p that start with "data:" (carrying a partial match across calls) and
 * records one tick per line, read once per chunk. */
static void scan_sse(llm_ctx *c, const char *p, size_t n)
{
    static const char tag[5] = {'d', 'a', 't', 'a', ':'};
    const char *end = p + n;
    uint64_t t = 0;
    while (p < end) {
        if (c->scan != SCAN_NOT_DATA) {
            while (p < end && c->scan < 5) {
                if (*p != tag[c->scan]) {
                    c->scan = SCAN_NOT_DATA;
                    break;
                }
                c->scan++;
                p++;
            }
            if (c->scan == 5) {
                if (!t)
                    t = weft__clock_ticks();
                if (c->n_ticks < c->tick_cap) {
                    if (c->n_ticks == c->ticks_cap_now) {
                        uint32_t want = c->ticks_cap_now ? c->ticks_cap_now * 2 : 64;
                        if (want > c->tick_cap)
                            want = c->tick_cap;
                        uint64_t *nt = realloc(c->ticks, (size_t)want * sizeof *nt);
                        if (nt) {
                            c->ticks = nt;
                            c->ticks_cap_now = want;
                        } else {
                            c->tick_cap = c->n_ticks; /* out of memory: stop timing */
                        }
                    }
                    if (c->n_ticks < c->ticks_cap_now)
                        c->ticks[c->n_ticks++] = t;
                }
                c->n_data++;
                c->scan = SCAN_NOT_DATA;
            }
            if (p >= end)
                return;
        }
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl)
            return;
        p = nl + 1;
        c->scan = 0;
    }
}

static void keep_body(llm_ctx *c, const char *p, size_t n)
{
    c->body_total += n;
    size_t room = c->body_cap - c->body_len;
    if (n > room)
        n = room;
    if (!n)
        return;
    if (c->body_len + n > c->body_cap_now) {
        size_t want = c->body_cap_now ? c->body_cap_now * 2 : 4096;
        if (want < c->body_len + n)
            want = c->body_len + n;
        if (want > c->body_cap)
            want = c->body_cap;
        char *nb = realloc(c->body, want);
        if (!nb) {
            c->body_cap = c->body_len; /* out of memory: keep what we have, count the rest */
            return;
        }
        c->body = nb;
        c->body_cap_now = want;
    }
    memcpy(c->body + c->body_len, p, n);
    c->body_len += n;
}

static size_t tee_write(char *p, size_t size, size_t nmemb, void *ud)
{
    llm_ctx *c = ud;
    size_t n = size * nmemb;
    uint64_t n_data = c->n_data;
    uint32_t n_ticks = c->n_ticks;
    uint8_t scan = c->scan;
    scan_sse(c, p, n); /* before the callback: the tick is when the bytes arrived */
    size_t r = app_write(c, p, size, nmemb);
    if (r != nmemb || (size != 1 && r * size != n)) {
        /* Refused (the transfer aborts) or paused (curl offers the bytes again): not seen. */
        c->n_data = n_data;
        c->n_ticks = n_ticks;
        c->scan = scan;
        if (r != CURL_WRITEFUNC_PAUSE)
            c->refused = true;
        return r;
    }
    keep_body(c, p, n);
    return r;
}

static bool has_ci(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (strncasecmp(s + i, needle, k) == 0)
            return true;
    return false;
}

static size_t tee_header(char *p, size_t size, size_t nmemb, void *ud)
{
    llm_ctx *c = ud;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(p, "HTTP/", 5) == 0)
        c->sse = false; /* a new response: after a redirect or a 100 Continue */
    else if (n > 13 && strncasecmp(p, "content-type:", 13) == 0)
        c->sse = has_ci(p + 13, n - 13, "text/event-stream");
    size_t r;
    if (c->app_header)
        r = c->app_header(p, size, nmemb, c->app_hdata);
    else if (c->app_hdata)
        r = c->app_write ? c->app_write(p, size, nmemb, c->app_hdata) : fwrite(p, size, nmemb, (FILE *)c->app_hdata);
    else
        r = nmemb;
    if (r != nmemb && r != CURL_WRITEFUNC_PAUSE)
        c->refused = true;
    return r;
}

/* ---- the two events ------------------------------------------------------------------------ */

static void emit_request(llm_ctx *c, const weft_llm_call *call, const url_parts *u, const char *provider,
                         size_t provider_len, const char *op, size_t op_len, size_t room)
{
    const char *body = call ? call->request_body : NULL;
    size_t body_orig = body ? (call->request_len ? call->request_len : strlen(body)) : 0;
    size_t fixed = sizeof(weft__llm_req) + provider_len + op_len + u->host_len + u->path_len;
    if (fixed > room)
        return; /* a ring too small even for the names: the span still records the call */
    size_t body_len = cut(body_orig, room - fixed);
    if (body_len > weft__rt.hot.max_attr_bytes)
        body_len = (size_t)weft__rt.hot.max_attr_bytes;
    weft__evw w;
    char *dst = weft__event_reserve(&w, c->span, WEFT__EV_LLM_REQUEST, 0, fixed + body_len);
    if (!dst)
        return;
    weft__llm_req h = {c->flags & WEFT__LLM_CAPTURE, c->op, body_len, body_orig, (uint32_t)provider_len,
                       (uint32_t)op_len, (uint32_t)u->host_len, (uint32_t)u->path_len};
    memcpy(dst, &h, sizeof h);
    char *o = dst + sizeof h;
    memcpy(o, provider, provider_len);
    o += provider_len;
    memcpy(o, op, op_len);
    o += op_len;
    memcpy(o, u->host, u->host_len);
    o += u->host_len;
    memcpy(o, u->path, u->path_len);
    o += u->path_len;
    if (body_len)
        memcpy(o, body, body_len);
    weft__event_commit(&w);
}

static void emit_response(llm_ctx *c, CURLcode result)
{
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    const char *err = result != CURLE_OK ? curl_easy_strerror(result) : "";
    size_t err_len = cut(strlen(err), ERR_MAX_KEPT);
    weft__llm_resp h = {(c->flags & WEFT__LLM_CAPTURE) | (c->sse ? WEFT__LLM_SSE : 0u) |
                            (c->refused ? WEFT__LLM_REFUSED : 0u),
                        c->op,
                        (int32_t)status,
                        (int32_t)result,
                        c->t_begin,
                        weft__clock_ticks(),
                        c->n_data,
                        c->body_len,
                        c->body_total,
                        c->n_ticks,
                        (uint32_t)err_len};
    size_t len = sizeof h + (size_t)c->n_ticks * 8 + err_len + c->body_len;
    weft__evw w;
    char *dst = weft__event_reserve(&w, c->span, WEFT__EV_LLM_RESPONSE, 0, len);
    if (!dst)
        return;
    memcpy(dst, &h, sizeof h);
    char *o = dst + sizeof h;
    if (c->n_ticks)
        memcpy(o, c->ticks, (size_t)c->n_ticks * 8);
    o += (size_t)c->n_ticks * 8;
    memcpy(o, err, err_len);
    o += err_len;
    if (c->body_len)
        memcpy(o, c->body, c->body_len);
    weft__event_commit(&w);
}

/* ---- start and stop ------------------------------------------------------------------------ */

/* Begins the span and installs the tees. false: nothing to record (tracing off, sampled out,
 * or curl refused the options); c holds nothing to free then and easy is unchanged. */
static bool start(llm_ctx *c, CURL *easy, const weft_llm_call *call)
{
    memset(c, 0, sizeof *c);
    c->easy = easy;
    char *url = NULL;
    curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url);
    url_parts u = split_url(url);
    u.host_len = cut(u.host_len, NAME_MAX_KEPT);
    u.path_len = cut(u.path_len, PATH_MAX_KEPT);
    const char *opname;
    if (call && call->operation && *call->operation) {
        opname = call->operation;
        c->op = op_from_name(opname);
    } else {
        c->op = op_from_path(&u);
        opname = op_names[c->op];
    }
    size_t op_len = cut(strlen(opname), NAME_MAX_KEPT);
    const char *provider = call && call->provider ? call->provider : u.host;
    size_t provider_len = call && call->provider ? cut(strlen(provider), NAME_MAX_KEPT) : u.host_len;
    if (!(call && call->provider)) {
        /* the host without its port */
        const char *colon = memchr(provider, ':', provider_len);
        if (colon && provider[0] != '[')
            provider_len = (size_t)(colon - provider);
    }

    weft_span parent = call ? call->parent : (weft_span){0, 0, 0, 0, 0};
    if (parent.id == 0)
        parent = weft_current_span();
    const char *name = call && call->span_name && *call->span_name ? call->span_name : opname;
    c->span = weft_span_begin_child(parent, name, c->op == WEFT__LLM_EMBEDDINGS ? WEFT_TYPE_CUSTOM
                                                                              : WEFT_TYPE_COMPLETION);
    if (!weft_span_is_valid(c->span))
        return false; /* off or sampled out: a span with no home, nothing to end */

    weft_content content = call ? call->content : WEFT_CONTENT_DEFAULT;
    bool capture = content == WEFT_CONTENT_CAPTURE ||
                   (content != WEFT_CONTENT_OMIT && !weft__rt.cfg.no_capture_content);
    c->flags = capture ? WEFT__LLM_CAPTURE : 0u;
    if (call) {
        c->app_write = call->write_function;
        c->app_wdata = call->write_data;
        c->app_header = call->header_function;
        c->app_hdata = call->header_data;
    }
    /* What one response event can carry: the ticks take at most a quarter of it. */
    size_t room = weft__event_max_payload();
    size_t fixed = sizeof(weft__llm_resp) + ERR_MAX_KEPT;
    size_t free_room = room > fixed ? room - fixed : 0;
    size_t tcap = free_room / 4 / 8;
    c->tick_cap = (uint32_t)(tcap < TICKS_MAX ? tcap : TICKS_MAX);
    c->body_cap = free_room - (size_t)c->tick_cap * 8;
    if (c->body_cap > weft__rt.hot.max_attr_bytes)
        c->body_cap = (size_t)weft__rt.hot.max_attr_bytes;

    if (curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, tee_write) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, c) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, tee_header) != CURLE_OK ||
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, c) != CURLE_OK) {
        /* Cannot happen with a real handle; put back what may have been set. */
        curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, c->app_write);
        curl_easy_setopt(easy, CURLOPT_WRITEDATA, c->app_wdata ? c->app_wdata : (void *)stdout);
        curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, c->app_header);
        curl_easy_setopt(easy, CURLOPT_HEADERDATA, c->app_hdata);
        weft_span_set_error(c->span, "weft", "could not install the curl callbacks");
        weft_span_end(c->span);
        return false;
    }
    take_spare(c);
    c->t_begin = weft__clock_ticks();
    emit_request(c, call, &u, provider, provider_len, opname, op_len, room);
    return true;
}

static void stop(llm_ctx *c, CURLcode result)
{
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, c->app_write);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c->app_wdata ? c->app_wdata : (void *)stdout);
    curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, c->app_header);
    curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c->app_hdata);
    emit_response(c, result);
    weft_span_end(c->span);
    give_spare(c);
}

WEFT_API CURLcode weft_curl_perform(CURL *easy, const weft_llm_call *call)
{
    llm_ctx c;
    if (!easy || !tracing_on() || !start(&c, easy, call))
        return curl_easy_perform(easy);
    CURLcode rc = curl_easy_perform(easy);
    stop(&c, rc);
    return rc;
}

/* ---- the attach table -------------------------------------------------------------------- */

#define TABLE_BUCKETS 64u
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static llm_ctx *table[TABLE_BUCKETS];

static llm_ctx **bucket(CURL *easy)
{
    uintptr_t h = (uintptr_t)easy;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return &table[(h >> 32) % TABLE_BUCKETS];
}

/* Takes easy's entry out of the table (NULL: none). Caller holds table_lock. */
static llm_ctx *unlink_ctx(CURL *easy)
{
    for (llm_ctx **pp = bucket(easy); *pp; pp = &(*pp)->next) {
        if ((*pp)->easy == easy) {
            llm_ctx *c = *pp;
            *pp = c->next;
            return c;
        }
    }
    return NULL;
}

WEFT_API int weft_curl_attach(CURL *easy, const weft_llm_call *call)
{
    if (!easy)
        return WEFT_EINVAL;
    if (!tracing_on())
        return 0;
    pthread_mutex_lock(&table_lock);
    bool dup = false;
    for (llm_ctx *p = *bucket(easy); p; p = p->next)
        dup |= p->easy == easy;
    pthread_mutex_unlock(&table_lock);
    if (dup)
        return WEFT_EALREADY;
    llm_ctx *c = malloc(sizeof *c);
    if (!c)
        return WEFT_ENOMEM;
    if (!start(c, easy, call)) {
        free(c);
        return 0;
    }
    pthread_mutex_lock(&table_lock);
    llm_ctx **b = bucket(easy);
    c->next = *b;
    *b = c;
    pthread_mutex_unlock(&table_lock);
    return 0;
}

WEFT_API void weft_curl_finish(CURL *easy, CURLcode result)
{
    if (!easy)
        return;
    pthread_mutex_lock(&table_lock);
    llm_ctx *c = unlink_ctx(easy);
    pthread_mutex_unlock(&table_lock);
    if (!c)
        return;
    stop(c, result);
    free(c);
}
