/*
 * openai_server.c — see openai_server.h. Request bodies are gathered per connection, read
 * with jansson when complete, and answered from canned text; streams are produced by a
 * content-reader callback that sleeps between chunks (a thread per connection, so a pause
 * holds up only its own client).
 */
#include "openai_server.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

const char *const weft_oai_tokens[OAI_STREAM_TOKENS] = {"Paris", " is", " the", " capital", " of", " France",
                                                        "."};

struct weft_oai {
    struct MHD_Daemon *d;
    char url[64];
    unsigned pause_us;
    atomic_size_t requests;
};

typedef struct conn {
    char *body;
    size_t len;
} conn;

enum route { R_CHAT, R_COMPLETIONS, R_EMBEDDINGS };

/* A stream in progress: pre-rendered events, handed out one per reader call. */
typedef struct sse {
    char **ev;
    size_t n, next, off;
    size_t cut_after; /* SIZE_MAX: send all */
    unsigned pause_us;
} sse;

static void sse_free(void *p)
{
    sse *s = p;
    for (size_t i = 0; i < s->n; i++)
        free(s->ev[i]);
    free(s->ev);
    free(s);
}

static void sse_add(sse *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sse_add(sse *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *e = NULL;
    if (vasprintf(&e, fmt, ap) < 0)
        e = NULL;
    va_end(ap);
    if (!e)
        return;
    char **nv = realloc(s->ev, (s->n + 1) * sizeof *nv);
    if (!nv) {
        free(e);
        return;
    }
    s->ev = nv;
    s->ev[s->n++] = e;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse *s = cls;
    if (s->next >= s->n)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (s->next >= s->cut_after)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (s->off == 0 && s->next > 0)
        usleep(s->pause_us);
    const char *e = s->ev[s->next];
    size_t left = strlen(e) - s->off;
    size_t n = left < max ? left : max;
    memcpy(buf, e + s->off, n);
    s->off += n;
    if (s->off == strlen(e)) {
        s->off = 0;
        s->next++;
    }
    return (ssize_t)n;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *type, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "x-request-id", "req-test-1");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static const char *tool_args = "{\\\"city\\\":\\\"Paris\\\"}";

static char *json_answer(enum route rt, const char *model, json_t *req)
{
    char *out = NULL;
    int n = -1;
    if (rt == R_EMBEDDINGS) {
        json_t *in = json_object_get(req, "input");
        size_t k = json_is_array(in) ? json_array_size(in) : 1;
        char data[4096] = "";
        size_t off = 0;
        for (size_t i = 0; i < k && i < 16; i++)
            off += (size_t)snprintf(data + off, sizeof data - off,
                                    "%s{\"object\":\"embedding\",\"index\":%zu,\"embedding\":[0.1,-0.2,0.3,0.4]}",
                                    i ? "," : "", i);
        n = asprintf(&out,
                     "{\"object\":\"list\",\"data\":[%s],\"model\":\"%s\",\"usage\":{\"prompt_tokens\":5,"
                     "\"total_tokens\":5}}",
                     data, model);
    } else if (rt == R_COMPLETIONS) {
        n = asprintf(&out,
                     "{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"model\":\"%s\",\"choices\":[{\"index\":0,"
                     "\"text\":\"%s\",\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":%d,"
                     "\"completion_tokens\":%d,\"total_tokens\":%d}}",
                     model, OAI_ANSWER, OAI_PROMPT_TOKENS, OAI_COMPLETION_TOKENS,
                     OAI_PROMPT_TOKENS + OAI_COMPLETION_TOKENS);
    } else if (!strcmp(model, "tool")) {
        n = asprintf(&out,
                     "{\"id\":\"chatcmpl-2\",\"object\":\"chat.completion\",\"model\":\"tool\",\"choices\":[{\"index\":0,"
                     "\"message\":{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
                     "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"%s\"}}]},"
                     "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":9,"
                     "\"total_tokens\":29}}",
                     tool_args);
    } else {
        n = asprintf(&out,
                     "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"%s\",\"choices\":[{\"index\":0,"
                     "\"message\":{\"role\":\"assistant\",\"content\":\"%s\"},\"finish_reason\":\"stop\"}],"
                     "\"usage\":{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d}}",
                     model, OAI_ANSWER, OAI_PROMPT_TOKENS, OAI_COMPLETION_TOKENS,
                     OAI_PROMPT_TOKENS + OAI_COMPLETION_TOKENS);
    }
    return n < 0 ? NULL : out;
}

static sse *stream_answer(enum route rt, const char *model, json_t *req, unsigned pause_us)
{
    sse *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cut_after = SIZE_MAX;
    s->pause_us = pause_us;
    bool usage = json_is_true(json_object_get(json_object_get(req, "stream_options"), "include_usage"));
    if (rt == R_COMPLETIONS) {
        for (int i = 0; i < OAI_STREAM_TOKENS; i++)
            sse_add(s, "data: {\"id\":\"cmpl-1\",\"model\":\"%s\",\"choices\":[{\"index\":0,\"text\":\"%s\","
                       "\"finish_reason\":%s}]}\n\n",
                    model, weft_oai_tokens[i], i == OAI_STREAM_TOKENS - 1 ? "\"length\"" : "null");
    } else if (!strcmp(model, "tool")) {
        sse_add(s, "data: {\"id\":\"chatcmpl-2\",\"model\":\"tool\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
                   "\"assistant\",\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"type\":"
                   "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}]},\"finish_reason\":null}]}"
                   "\n\n");
        sse_add(s, "data: {\"id\":\"chatcmpl-2\",\"model\":\"tool\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":"
                   "[{\"index\":0,\"function\":{\"arguments\":\"{\\\"city\\\":\"}}]},\"finish_reason\":null}]}\n\n");
        sse_add(s, "data: {\"id\":\"chatcmpl-2\",\"model\":\"tool\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":"
                   "[{\"index\":0,\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}]},\"finish_reason\":null}]}\n\n");
        sse_add(s, "data: {\"id\":\"chatcmpl-2\",\"model\":\"tool\",\"choices\":[{\"index\":0,\"delta\":{},"
                   "\"finish_reason\":\"tool_calls\"}]}\n\n");
    } else {
        sse_add(s, "data: {\"id\":\"chatcmpl-1\",\"model\":\"%s\",\"choices\":[{\"index\":0,\"delta\":{\"role\":"
                   "\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
                model);
        /* "many-N": the answer's tokens repeated to N content chunks (benches) */
        int n_tok = OAI_STREAM_TOKENS;
        if (!strncmp(model, "many-", 5))
            n_tok = atoi(model + 5) > 0 ? atoi(model + 5) : 1;
        for (int i = 0; i < n_tok; i++) {
            if (i == 1 && !strcmp(model, "stream-error")) {
                sse_add(s, "data: {\"error\":{\"message\":\"the model went away\",\"type\":\"server_error\"}}\n\n");
                break;
            }
            sse_add(s, "data: {\"id\":\"chatcmpl-1\",\"model\":\"%s\",\"choices\":[{\"index\":0,\"delta\":"
                       "{\"content\":\"%s\"},\"finish_reason\":null}]}\n\n",
                    model, weft_oai_tokens[i % OAI_STREAM_TOKENS]);
        }
        if (strcmp(model, "stream-error"))
            sse_add(s, "data: {\"id\":\"chatcmpl-1\",\"model\":\"%s\",\"choices\":[{\"index\":0,\"delta\":{},"
                       "\"finish_reason\":\"stop\"}]}\n\n",
                    model);
    }
    if (usage)
        sse_add(s, "data: {\"id\":\"chatcmpl-1\",\"model\":\"%s\",\"choices\":[],\"usage\":{\"prompt_tokens\":%d,"
                   "\"completion_tokens\":%d,\"total_tokens\":%d}}\n\n",
                model, OAI_PROMPT_TOKENS, OAI_COMPLETION_TOKENS, OAI_PROMPT_TOKENS + OAI_COMPLETION_TOKENS);
    sse_add(s, "data: [DONE]\n\n");
    if (!strcmp(model, "cut"))
        s->cut_after = s->n / 2;
    return s;
}

static enum MHD_Result answer(weft_oai *srv, struct MHD_Connection *c, const char *url, conn *st)
{
    enum route rt;
    if (!strcmp(url, "/v1/chat/completions"))
        rt = R_CHAT;
    else if (!strcmp(url, "/v1/completions"))
        rt = R_COMPLETIONS;
    else if (!strcmp(url, "/v1/embeddings"))
        rt = R_EMBEDDINGS;
    else
        return send_text(c, 404, "application/json", "{\"error\":{\"message\":\"no such route\",\"type\":\"not_found\"}}");
    json_t *req = json_loadb(st->body ? st->body : "", st->len, 0, NULL);
    if (!json_is_object(req)) {
        json_decref(req);
        return send_text(c, 400, "application/json",
                         "{\"error\":{\"message\":\"request body is not JSON\",\"type\":\"invalid_request_error\"}}");
    }
    const char *model = json_string_value(json_object_get(req, "model"));
    if (!model)
        model = "default";
    enum MHD_Result ret;
    if (!strcmp(model, "error-400")) {
        ret = send_text(c, 400, "application/json",
                        "{\"error\":{\"message\":\"The model `error-400` does not exist\",\"type\":"
                        "\"invalid_request_error\",\"code\":\"model_not_found\"}}");
    } else if (!strcmp(model, "error-500")) {
        ret = send_text(c, 500, "application/json",
                        "{\"error\":{\"message\":\"internal server error\",\"type\":\"server_error\"}}");
    } else if (!strcmp(model, "body-error")) {
        ret = send_text(c, 200, "application/json",
                        "{\"error\":{\"message\":\"overloaded, try later\",\"type\":\"overloaded_error\"}}");
    } else if (!strcmp(model, "malformed")) {
        ret = send_text(c, 200, "application/json", "{\"choices\": [{\"message\": oops");
    } else if (json_is_true(json_object_get(req, "stream"))) {
        sse *s = stream_answer(rt, model, req, srv->pause_us);
        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, sse_read, s, sse_free);
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
    } else {
        char *body = json_answer(rt, model, req);
        ret = send_text(c, 200, "application/json", body ? body : "{}");
        free(body);
    }
    json_decref(req);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    weft_oai *srv = cls;
    conn *st = *con_cls;
    if (!st) {
        st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_size) {
        char *nb = realloc(st->body, st->len + *upload_size);
        if (!nb)
            return MHD_NO;
        st->body = nb;
        memcpy(st->body + st->len, upload, *upload_size);
        st->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&srv->requests, 1);
    if (strcmp(method, "POST") != 0)
        return send_text(c, 405, "application/json", "{\"error\":{\"message\":\"POST only\",\"type\":\"method\"}}");
    return answer(srv, c, url, st);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    conn *st = *con_cls;
    if (st) {
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

weft_oai *weft_oai_start(const weft_oai_opts *opts)
{
    weft_oai *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->pause_us = opts && opts->chunk_pause_us ? opts->chunk_pause_us : 2000;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    s->d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC, 0, NULL,
                            NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)30, MHD_OPTION_END);
    if (!s->d) {
        fprintf(stderr, "openai_server: MHD_start_daemon failed\n");
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u", info ? (unsigned)info->port : 0u);
    return s;
}

void weft_oai_stop(weft_oai *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->d);
    free(s);
}

const char *weft_oai_url(const weft_oai *s) { return s->url; }
size_t weft_oai_requests(const weft_oai *s) { return atomic_load(&((weft_oai *)s)->requests); }

int weft_oai_blackhole_start(char *url, size_t cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        close(fd);
        return -1;
    }
    snprintf(url, cap, "http://127.0.0.1:%u", (unsigned)ntohs(addr.sin_port));
    return fd;
}

void weft_oai_blackhole_stop(int fd)
{
    if (fd >= 0)
        close(fd);
}
