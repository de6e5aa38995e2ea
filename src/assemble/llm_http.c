/*
 * llm_http.c — maps an OpenAI-compatible HTTP exchange onto a span record (export thread).
 * The caller's thread only copied bytes (src/produce/curl_call.c); everything that reads them
 * is here: the request body (model, messages, parameters, tools), the response body (choices,
 * finish reasons, usage, an error object) or its server-sent events (the answer and tool calls
 * assembled from the deltas, time to first token, gaps between tokens, tokens per second),
 * the HTTP status, curl's result and the latency.
 *
 * Invariants: every value handed to the record is valid JSON written with json.h (strings cut
 * at max_attr_bytes and marked, invalid UTF-8 repaired), so redaction (applied by
 * weft__rec_set/append) sees the same keys as for any other attribute. Token usage goes
 * through the same event and code as weft_span_set_usage (rag_set.c, rag_map.c), so trace summaries count
 * it and the price table prices it. With content capture off, no text from a prompt, a
 * completion or a tool call's arguments reaches the record: roles, names, sizes and counts do.
 * Bodies that do not parse are reported (metadata.*_parse_error), never a crash; JSON is read
 * with jansson (STYLE.md 16).
 */
#include "llm_http.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "llm_event.h"
#include "rag.h"
#include "rag_event.h"
#include "runtime.h"

/* 42: CURLE_ABORTED_BY_CALLBACK, without including curl here (a leaf dependency). */
#define CURL_ABORTED_BY_CALLBACK 42
/* Streams: choices and tool calls assembled per response (more are counted, not kept). */
#define MAX_CHOICES 8
#define MAX_TOOLS 16
/* jansson's own depth limit is 2048; the writer below recurses at most this deep. */
#define MAX_DEPTH 64

typedef struct ctx {
    weft__rec *r;
    weft__buf *scratch; /* for rag_map.c's usage path */
    weft__buf b;        /* the value being built */
    bool capture;
    size_t max;
} ctx;

/* ---- writing ---------------------------------------------------------------------------- */

static void put_str(ctx *c, const char *s, size_t n)
{
    unsigned fl = weft__json_str(&c->b, s, n, c->max);
    if (fl & WEFT__JSON_REPAIRED)
        weft__stat_add(repaired_utf8, 1);
    if (fl & WEFT__JSON_TRUNCATED)
        weft__stat_add(truncated_attrs, 1);
}

static void put_cstr(ctx *c, const char *s) { put_str(c, s, strlen(s)); }

static void put_key(ctx *c, bool *first, const char *key)
{
    if (!*first)
        weft__buf_putc(&c->b, ',');
    *first = false;
    weft__json_str(&c->b, key, strlen(key), 0);
    weft__buf_putc(&c->b, ':');
}

/* [each(element, depth), ...] */
static void put_array(ctx *c, const json_t *a, void (*each)(ctx *, const json_t *, int), int depth)
{
    size_t i;
    json_t *x;
    weft__buf_putc(&c->b, '[');
    json_array_foreach((json_t *)a, i, x)
    {
        if (i)
            weft__buf_putc(&c->b, ',');
        each(c, x, depth);
    }
    weft__buf_putc(&c->b, ']');
}

/* Any jansson value, strings cut at max_attr_bytes. */
static void put_value(ctx *c, const json_t *v, int depth)
{
    if (depth > MAX_DEPTH) {
        weft__buf_lit(&c->b, "null");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *x;
        bool first = true;
        weft__buf_putc(&c->b, '{');
        json_object_foreach((json_t *)v, k, x)
        {
            put_key(c, &first, k);
            put_value(c, x, depth + 1);
        }
        weft__buf_putc(&c->b, '}');
        break;
    }
    case JSON_ARRAY:
        put_array(c, v, put_value, depth + 1);
        break;
    case JSON_STRING:
        put_str(c, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        weft__json_i64(&c->b, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        weft__json_f64(&c->b, json_real_value(v));
        break;
    case JSON_TRUE:
        weft__buf_lit(&c->b, "true");
        break;
    case JSON_FALSE:
        weft__buf_lit(&c->b, "false");
        break;
    default:
        weft__buf_lit(&c->b, "null");
        break;
    }
}

/* Hands the value in c->b to the record. */
static void flush_set(ctx *c, weft_section sec, const char *key)
{
    if (!c->b.oom)
        weft__rec_set(c->r, sec, key, strlen(key), c->b.data, c->b.len);
    weft__buf_reset(&c->b);
}

static void flush_append(ctx *c, weft_section sec, const char *key)
{
    if (!c->b.oom)
        weft__rec_append(c->r, sec, key, strlen(key), c->b.data, c->b.len);
    weft__buf_reset(&c->b);
}

static void set_value(ctx *c, weft_section sec, const char *key, const json_t *v)
{
    weft__buf_reset(&c->b);
    put_value(c, v, 0);
    flush_set(c, sec, key);
}

/* Scalars go in typed (record.h), strings made valid and cut as put_str does. */
static void set_strn(ctx *c, weft_section sec, const char *key, const char *s, size_t n)
{
    unsigned fl = weft__rec_text(&c->b, s, n, n, c->max);
    if (fl & WEFT__JSON_REPAIRED)
        weft__stat_add(repaired_utf8, 1);
    if (fl & WEFT__JSON_TRUNCATED)
        weft__stat_add(truncated_attrs, 1);
    if (!c->b.oom)
        weft__rec_set_str(c->r, sec, key, strlen(key), c->b.data, c->b.len);
    weft__buf_reset(&c->b);
}

static void set_i64(ctx *c, weft_section sec, const char *key, int64_t v)
{
    weft__rec_set_i64(c->r, sec, key, strlen(key), v);
}

static void set_f64(ctx *c, weft_section sec, const char *key, double v)
{
    weft__rec_set_f64(c->r, sec, key, strlen(key), v);
}

static void set_ms(ctx *c, const char *key, uint64_t ns)
{
    weft__buf_reset(&c->b);
    weft__json_ms(&c->b, ns);
    flush_set(c, WEFT_METADATA, key);
}

static void set_bool(ctx *c, weft_section sec, const char *key, bool v)
{
    weft__rec_set_bool(c->r, sec, key, strlen(key), v);
}

/* Bytes of text in a message's content: a string, or the text parts of an array. */
static size_t text_bytes(const json_t *content)
{
    if (json_is_string(content))
        return json_string_length(content);
    size_t n = 0, i;
    json_t *part;
    if (json_is_array(content))
        json_array_foreach((json_t *)content, i, part)
        {
            json_t *t = json_object_get(part, "text");
            if (json_is_string(t))
                n += json_string_length(t);
        }
    return n;
}

/* Each of keys whose value in o is a string, as it is. */
static void put_strings(ctx *c, bool *first, const json_t *o, const char *const *keys, size_t n, int depth)
{
    for (size_t k = 0; k < n; k++) {
        json_t *v = json_object_get(o, keys[k]);
        if (json_is_string(v)) {
            put_key(c, first, keys[k]);
            put_value(c, v, depth);
        }
    }
}

/* A value that is content: itself under key with capture on, else its size under key_bytes. */
static void put_content(ctx *c, bool *first, const char *key, const char *key_bytes, const json_t *v,
                        size_t bytes, int depth)
{
    if (c->capture) {
        put_key(c, first, key);
        put_value(c, v, depth);
    } else {
        put_key(c, first, key_bytes);
        weft__json_u64(&c->b, bytes);
    }
}

/* A tool definition with content off: {type, name} (the function's name), no description or
 * parameters. */
static void put_tool_summary(ctx *c, const json_t *t, int depth)
{
    (void)depth;
    static const char *const keys[] = {"type"}, *const fn_keys[] = {"name"};
    bool first = true;
    weft__buf_putc(&c->b, '{');
    put_strings(c, &first, t, keys, 1, 1);
    put_strings(c, &first, json_object_get(t, "function"), fn_keys, 1, 1);
    weft__buf_putc(&c->b, '}');
}

/* A tool call {id, type, function: {name, arguments}}: arguments are content. */
static void put_tool_call(ctx *c, const json_t *tc, int depth)
{
    (void)depth;
    static const char *const keys[] = {"id", "type"}, *const fn_keys[] = {"name"};
    bool first = true;
    weft__buf_putc(&c->b, '{');
    put_strings(c, &first, tc, keys, 2, 1);
    json_t *fn = json_object_get(tc, "function");
    if (json_is_object(fn)) {
        put_key(c, &first, "function");
        bool f1 = true;
        weft__buf_putc(&c->b, '{');
        put_strings(c, &f1, fn, fn_keys, 1, 2);
        json_t *args = json_object_get(fn, "arguments");
        if (args)
            put_content(c, &f1, "arguments", "arguments_bytes", args,
                        json_is_string(args) ? json_string_length(args) : 0, 2);
        weft__buf_putc(&c->b, '}');
    }
    weft__buf_putc(&c->b, '}');
}

/* One chat message: role, name, tool_call_id, content (or its size), tool calls, refusal. */
static void put_message(ctx *c, const json_t *m, const char *default_role)
{
    static const char *const keys[] = {"name", "tool_call_id"};
    bool first = true;
    weft__buf_putc(&c->b, '{');
    json_t *role = json_object_get(m, "role");
    put_key(c, &first, "role");
    if (json_is_string(role))
        put_value(c, role, 1);
    else
        put_cstr(c, default_role);
    put_strings(c, &first, m, keys, 2, 1);
    json_t *content = json_object_get(m, "content");
    if (content && !json_is_null(content))
        put_content(c, &first, "content", "content_bytes", content, text_bytes(content), 1);
    json_t *refusal = json_object_get(m, "refusal");
    if (json_is_string(refusal))
        put_content(c, &first, "refusal", "refusal_bytes", refusal, json_string_length(refusal), 1);
    json_t *tcs = json_object_get(m, "tool_calls");
    if (json_is_array(tcs) && json_array_size(tcs)) {
        put_key(c, &first, "tool_calls");
        put_array(c, tcs, put_tool_call, 0);
    }
    weft__buf_putc(&c->b, '}');
}

/* A text that is content: itself, or its size under key_bytes. */
static void set_content(ctx *c, weft_section sec, const char *key, const char *key_bytes, const json_t *v)
{
    if (c->capture) {
        set_value(c, sec, key, v);
        return;
    }
    size_t n = 0, i;
    json_t *x;
    if (json_is_string(v))
        n = json_string_length(v);
    else if (json_is_array(v))
        json_array_foreach((json_t *)v, i, x) n += json_is_string(x) ? json_string_length(x) : 0;
    set_i64(c, sec, key_bytes, (int64_t)n);
}

/* ---- usage, through rag_map.c's own path ----------------------------------------------------- */

static void apply_usage(ctx *c, const char *model, int64_t in_tok, int64_t out_tok)
{
    weft_usage u = {model, in_tok < 0 ? 0 : in_tok, out_tok < 0 ? 0 : out_tok, false, 0};
    weft__rag_plan p;
    if (!weft__rag_plan_usage(&p, &u, (size_t)1 << 20))
        return;
    uint64_t *mem = malloc(sizeof(weft__ev) + p.len);
    if (!mem)
        return;
    weft__ev *ev = (weft__ev *)mem;
    ev->size = (uint32_t)(sizeof *ev + p.len);
    ev->kind = WEFT__EV_USAGE;
    ev->aux = 0;
    ev->span = c->r->id;
    weft__rag_write_usage(ev + 1, &u, &p);
    weft__rag_apply(c->r, ev, c->scratch);
    free(mem);
}

static int64_t int_of(const json_t *o, const char *key, bool *found)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v)) {
        *found = true;
        return (int64_t)json_integer_value(v);
    }
    if (json_is_real(v)) {
        *found = true;
        return (int64_t)json_real_value(v);
    }
    return 0;
}

/* The request's model as recorded (metadata.request_model), copied into out; false: none. */
static bool request_model(const weft__rec *r, char *out, size_t cap)
{
    size_t pos = 0;
    weft__rec_entry e, last = {0};
    bool found = false;
    /* The last set wins, as in the encoders. */
    while (weft__rec_next(r, &pos, &e))
        if (e.kind == WEFT__ENT_SET && e.sec == WEFT_METADATA && e.key_len == 13 &&
            memcmp(e.key, "request_model", 13) == 0) {
            last = e;
            found = true;
        }
    if (!found)
        return false;
    if (last.vtype == WEFT__VAL_STR) {
        if (last.val_len >= cap)
            return false;
        memcpy(out, last.val, last.val_len);
        out[last.val_len] = 0;
        return true;
    }
    if (last.vtype != WEFT__VAL_JSON)
        return false;
    json_t *v = json_loadb(last.val, last.val_len, JSON_DECODE_ANY, NULL);
    bool ok = json_is_string(v) && json_string_length(v) < cap;
    if (ok)
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
    json_decref(v);
    return ok;
}

/* usage {prompt_tokens, completion_tokens, ...} or Ollama's prompt_eval_count/eval_count. The
 * model priced is the request's (what the program asked for, and what a price table names),
 * else the response's. */
static bool map_usage(ctx *c, const json_t *root, const char *resp_model)
{
    json_t *u = json_object_get(root, "usage");
    bool f_in = false, f_out = false;
    int64_t in_tok, out_tok;
    if (json_is_object(u)) {
        in_tok = int_of(u, "prompt_tokens", &f_in);
        if (!f_in)
            in_tok = int_of(u, "input_tokens", &f_in);
        out_tok = int_of(u, "completion_tokens", &f_out);
        if (!f_out)
            out_tok = int_of(u, "output_tokens", &f_out);
        bool f = false;
        json_t *d = json_object_get(u, "completion_tokens_details");
        int64_t reasoning = json_is_object(d) ? int_of(d, "reasoning_tokens", &f) : 0;
        if (reasoning > 0)
            set_i64(c, WEFT_METADATA, "reasoning_tokens", reasoning);
        d = json_object_get(u, "prompt_tokens_details");
        int64_t cached = json_is_object(d) ? int_of(d, "cached_tokens", &f) : 0;
        if (cached > 0)
            set_i64(c, WEFT_METADATA, "cached_input_tokens", cached);
    } else {
        in_tok = int_of(root, "prompt_eval_count", &f_in);
        out_tok = int_of(root, "eval_count", &f_out);
    }
    if (!f_in && !f_out)
        return false;
    char model[256];
    if (request_model(c->r, model, sizeof model))
        apply_usage(c, model, in_tok, out_tok);
    else
        apply_usage(c, resp_model, in_tok, out_tok);
    return true;
}

/* ---- errors ------------------------------------------------------------------------------ */

/* metadata.error = {type, message, code?} and the status. */
static void set_error(ctx *c, weft_status status, const char *type, const char *msg, size_t msg_len,
                      const json_t *code)
{
    c->r->status = status;
    c->r->has_error = true;
    bool first = true;
    weft__buf_reset(&c->b);
    weft__buf_putc(&c->b, '{');
    put_key(c, &first, "type");
    put_cstr(c, type);
    if (msg) {
        put_key(c, &first, "message");
        put_str(c, msg, msg_len);
    }
    if (code && (json_is_string(code) || json_is_integer(code))) {
        put_key(c, &first, "code");
        put_value(c, code, 1);
    }
    weft__buf_putc(&c->b, '}');
    flush_set(c, WEFT_METADATA, "error");
}

/* An "error" member: {"error": {"message", "type", "code"}} or {"error": "text"}. */
static bool body_error(ctx *c, const json_t *root, int http_status)
{
    json_t *e = json_object_get(root, "error");
    if (!e || json_is_null(e))
        return false;
    char type[64];
    const char *msg = NULL;
    size_t msg_len = 0;
    json_t *code = NULL;
    if (http_status >= 400)
        snprintf(type, sizeof type, "http_%d", http_status);
    else
        snprintf(type, sizeof type, "api_error");
    if (json_is_string(e)) {
        msg = json_string_value(e);
        msg_len = json_string_length(e);
    } else if (json_is_object(e)) {
        json_t *m = json_object_get(e, "message"), *t = json_object_get(e, "type");
        if (json_is_string(m)) {
            msg = json_string_value(m);
            msg_len = json_string_length(m);
        }
        if (json_is_string(t) && json_string_length(t) < sizeof type)
            snprintf(type, sizeof type, "%s", json_string_value(t));
        code = json_object_get(e, "code");
    }
    set_error(c, WEFT_STATUS_ERROR, type, msg, msg_len, code);
    return true;
}

/* ---- the request ------------------------------------------------------------------------- */

/* Parameters copied as given under input.parameters (sampling and output controls; "user"
 * is left out on purpose: it identifies a person). */
static const char *const param_keys[] = {
    "temperature", "top_p", "top_k", "min_p", "max_tokens", "max_completion_tokens", "n", "stop", "seed",
    "presence_penalty", "frequency_penalty", "repetition_penalty", "repeat_penalty", "logit_bias", "logprobs",
    "top_logprobs", "stream", "stream_options", "response_format", "tool_choice", "parallel_tool_calls",
    "reasoning_effort", "dimensions", "encoding_format", "options", "keep_alive", "format", "best_of", "echo",
    "suffix"};

static void map_request(ctx *c, const json_t *root, uint32_t op)
{
    json_t *model = json_object_get(root, "model");
    if (json_is_string(model))
        set_value(c, WEFT_METADATA, "request_model", model);

    if (op == WEFT__LLM_CHAT) {
        json_t *msgs = json_object_get(root, "messages");
        size_t i;
        json_t *m;
        if (json_is_array(msgs))
            json_array_foreach(msgs, i, m)
            {
                if (!json_is_object(m))
                    continue;
                weft__buf_reset(&c->b);
                put_message(c, m, "user");
                flush_append(c, WEFT_INPUT, "messages");
            }
        json_t *prompt = json_object_get(root, "prompt"); /* Ollama /api/generate-style bodies */
        if (prompt && !msgs)
            set_content(c, WEFT_INPUT, "prompt", "prompt_bytes", prompt);
    } else if (op == WEFT__LLM_TEXT_COMPLETION) {
        json_t *prompt = json_object_get(root, "prompt");
        if (prompt)
            set_content(c, WEFT_INPUT, "prompt", "prompt_bytes", prompt);
        json_t *system = json_object_get(root, "system");
        if (json_is_string(system))
            set_content(c, WEFT_INPUT, "system", "system_bytes", system);
    } else {
        json_t *in = json_object_get(root, "input");
        if (!in)
            in = json_object_get(root, "prompt");
        if (in) {
            set_i64(c, WEFT_INPUT, "input_count", json_is_array(in) ? (int64_t)json_array_size(in) : 1);
            set_content(c, WEFT_INPUT, "input", "input_bytes", in);
        }
    }

    /* input.parameters */
    weft__buf_reset(&c->b);
    bool first = true;
    weft__buf_putc(&c->b, '{');
    for (size_t k = 0; k < sizeof param_keys / sizeof param_keys[0]; k++) {
        json_t *v = json_object_get(root, param_keys[k]);
        if (!v)
            continue;
        if (!c->capture && !strcmp(param_keys[k], "logit_bias"))
            continue;
        put_key(c, &first, param_keys[k]);
        put_value(c, v, 1);
    }
    weft__buf_putc(&c->b, '}');
    if (!first)
        flush_set(c, WEFT_INPUT, "parameters");
    weft__buf_reset(&c->b);

    /* input.tools: the definitions, or with content off their names and types */
    json_t *tools = json_object_get(root, "tools");
    if (json_is_array(tools)) {
        if (c->capture) {
            set_value(c, WEFT_INPUT, "tools", tools);
        } else {
            weft__buf_reset(&c->b);
            put_array(c, tools, put_tool_summary, 0);
            flush_set(c, WEFT_INPUT, "tools");
        }
    }
}

/* ---- the response: one JSON body -------------------------------------------------------- */

static void set_finish_reasons(ctx *c, const char *const *reasons, size_t n)
{
    if (!n)
        return;
    weft__buf_reset(&c->b);
    weft__buf_putc(&c->b, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            weft__buf_putc(&c->b, ',');
        put_cstr(c, reasons[i]);
    }
    weft__buf_putc(&c->b, ']');
    flush_set(c, WEFT_OUTPUT, "finish_reasons");
}

/* A completion given as bare text (a string): an assistant message with that content. */
static void put_text_message(ctx *c, const json_t *text)
{
    bool first = true;
    weft__buf_putc(&c->b, '{');
    put_key(c, &first, "role");
    put_cstr(c, "assistant");
    put_content(c, &first, "content", "content_bytes", text, json_string_length(text), 1);
    weft__buf_putc(&c->b, '}');
}

static void map_response(ctx *c, const json_t *root, uint32_t op)
{
    json_t *model = json_object_get(root, "model");
    const char *resp_model = json_is_string(model) ? json_string_value(model) : NULL;
    if (resp_model)
        set_value(c, WEFT_METADATA, "response_model", model);
    json_t *id = json_object_get(root, "id");
    if (json_is_string(id))
        set_value(c, WEFT_METADATA, "response_id", id);

    if (op == WEFT__LLM_EMBEDDINGS) {
        json_t *data = json_object_get(root, "data");
        json_t *first_vec = NULL;
        size_t n = 0;
        if (json_is_array(data)) {
            n = json_array_size(data);
            first_vec = json_object_get(json_array_get(data, 0), "embedding");
        } else if (json_is_array(json_object_get(root, "embeddings"))) { /* Ollama /api/embed */
            json_t *e = json_object_get(root, "embeddings");
            n = json_array_size(e);
            first_vec = json_array_get(e, 0);
        } else if (json_is_array(json_object_get(root, "embedding"))) { /* Ollama /api/embeddings */
            n = 1;
            first_vec = json_object_get(root, "embedding");
        }
        set_i64(c, WEFT_OUTPUT, "embedding_count", (int64_t)n);
        if (json_is_array(first_vec))
            set_i64(c, WEFT_OUTPUT, "dimensions", (int64_t)json_array_size(first_vec));
    } else {
        const char *reasons[MAX_CHOICES];
        size_t n_reasons = 0;
        json_t *choices = json_object_get(root, "choices");
        size_t i;
        json_t *ch;
        if (json_is_array(choices)) {
            json_array_foreach(choices, i, ch)
            {
                json_t *msg = json_object_get(ch, "message");
                json_t *text = json_object_get(ch, "text");
                weft__buf_reset(&c->b);
                if (json_is_object(msg)) {
                    put_message(c, msg, "assistant");
                } else if (json_is_string(text)) {
                    put_text_message(c, text);
                } else {
                    continue;
                }
                flush_append(c, WEFT_OUTPUT, "messages");
                json_t *fr = json_object_get(ch, "finish_reason");
                if (json_is_string(fr) && n_reasons < MAX_CHOICES)
                    reasons[n_reasons++] = json_string_value(fr);
            }
        } else if (json_is_object(json_object_get(root, "message"))) { /* Ollama /api/chat */
            weft__buf_reset(&c->b);
            put_message(c, json_object_get(root, "message"), "assistant");
            flush_append(c, WEFT_OUTPUT, "messages");
        } else if (json_is_string(json_object_get(root, "response"))) { /* Ollama /api/generate */
            weft__buf_reset(&c->b);
            put_text_message(c, json_object_get(root, "response"));
            flush_append(c, WEFT_OUTPUT, "messages");
        }
        json_t *dr = json_object_get(root, "done_reason");
        if (json_is_string(dr) && n_reasons < MAX_CHOICES)
            reasons[n_reasons++] = json_string_value(dr);
        set_finish_reasons(c, reasons, n_reasons);
    }
    map_usage(c, root, resp_model);
}

/* ---- the response: server-sent events ----------------------------------------------------- */

typedef struct tool_acc {
    weft__buf id, type, name, args;
} tool_acc;

typedef struct choice_acc {
    bool used;
    char role[32];
    weft__buf text;
    char finish[64];
    size_t n_tools;
    tool_acc tools[MAX_TOOLS];
} choice_acc;

typedef struct stream {
    choice_acc ch[MAX_CHOICES];
    size_t events, bad_events, dropped_choices;
    bool done, usage_seen, error_seen;
    char model[256];
    char id[128];
    /* data-line indexes of the events that carried a token, in order */
    uint64_t *tok;
    size_t n_tok, cap_tok;
} stream;

/* A string v into dst (cap bytes, NUL included) when it fits; else dst is left as it is. */
static void copy_str(char *dst, size_t cap, const json_t *v)
{
    if (json_is_string(v) && json_string_length(v) < cap)
        memcpy(dst, json_string_value(v), json_string_length(v) + 1);
}

/* A streamed element's "index", or its position i in the array when it has none. */
static size_t index_of(const json_t *o, size_t i)
{
    json_t *idx = json_object_get(o, "index");
    return json_is_integer(idx) ? (size_t)json_integer_value(idx) : i;
}

static void append_str(weft__buf *b, const json_t *v)
{
    if (json_is_string(v))
        weft__buf_append(b, json_string_value(v), json_string_length(v));
}

/* One decoded event; returns true when it carried a token (text, refusal, reasoning or a tool
 * call's name or arguments). */
static bool stream_event(ctx *c, stream *s, const json_t *root, int http_status)
{
    bool token = false;
    if (json_object_get(root, "error") && !s->error_seen)
        s->error_seen = body_error(c, root, http_status);
    if (!s->model[0])
        copy_str(s->model, sizeof s->model, json_object_get(root, "model"));
    if (!s->id[0])
        copy_str(s->id, sizeof s->id, json_object_get(root, "id"));
    json_t *u = json_object_get(root, "usage");
    if (json_is_object(u) && !s->usage_seen) /* OpenAI: the last chunk, with include_usage */
        s->usage_seen = map_usage(c, root, s->model[0] ? s->model : NULL);
    json_t *choices = json_object_get(root, "choices");
    size_t i;
    json_t *chj;
    json_array_foreach(choices, i, chj)
    {
        size_t k = index_of(chj, i);
        if (k >= MAX_CHOICES) {
            s->dropped_choices++;
            continue;
        }
        choice_acc *a = &s->ch[k];
        a->used = true;
        json_t *delta = json_object_get(chj, "delta");
        if (!json_is_object(delta))
            delta = json_object_get(chj, "message"); /* some servers repeat "message" */
        json_t *text = json_object_get(chj, "text"); /* completions */
        if (json_is_string(text) && json_string_length(text)) {
            append_str(&a->text, text);
            token = true;
        }
        if (json_is_object(delta)) {
            copy_str(a->role, sizeof a->role, json_object_get(delta, "role"));
            json_t *content = json_object_get(delta, "content");
            if (json_is_string(content) && json_string_length(content)) {
                append_str(&a->text, content);
                token = true;
            }
            const char *other[] = {"refusal", "reasoning_content"};
            for (int o = 0; o < 2; o++) {
                json_t *x = json_object_get(delta, other[o]);
                if (json_is_string(x) && json_string_length(x))
                    token = true;
            }
            json_t *tcs = json_object_get(delta, "tool_calls");
            size_t j;
            json_t *tc;
            json_array_foreach(tcs, j, tc)
            {
                size_t t = index_of(tc, j);
                if (t >= MAX_TOOLS)
                    continue;
                if (t >= a->n_tools)
                    a->n_tools = t + 1;
                tool_acc *ta = &a->tools[t];
                append_str(&ta->id, json_object_get(tc, "id"));
                append_str(&ta->type, json_object_get(tc, "type"));
                json_t *fn = json_object_get(tc, "function");
                json_t *name = json_object_get(fn, "name"), *args = json_object_get(fn, "arguments");
                append_str(&ta->name, name);
                append_str(&ta->args, args);
                if ((json_is_string(name) && json_string_length(name)) ||
                    (json_is_string(args) && json_string_length(args)))
                    token = true;
            }
        }
        json_t *fr = json_object_get(chj, "finish_reason");
        if (json_is_string(fr) && json_string_length(fr) < sizeof a->finish)
            memcpy(a->finish, json_string_value(fr), json_string_length(fr) + 1);
    }
    return token;
}

/* One complete event's data (the data lines joined by '\n'). */
static void dispatch_event(ctx *c, stream *s, const weft__buf *data, uint64_t ev_line, int http_status)
{
    if (data->len == 6 && memcmp(data->data, "[DONE]", 6) == 0) {
        s->done = true;
        return;
    }
    json_t *root = json_loadb(data->data ? data->data : "", data->len, 0, NULL);
    if (!json_is_object(root)) {
        s->bad_events++;
        json_decref(root);
        return;
    }
    s->events++;
    if (stream_event(c, s, root, http_status)) {
        if (s->n_tok == s->cap_tok) {
            uint64_t *nt = weft__grow(s->tok, &s->cap_tok, sizeof *nt, 64);
            if (nt)
                s->tok = nt;
        }
        if (s->n_tok < s->cap_tok)
            s->tok[s->n_tok++] = ev_line;
    }
    json_decref(root);
}

/* Splits the body into events (data lines up to a blank line, SSE's rule; LF or CRLF line
 * ends), decodes each, and remembers at which "data:" line each token event started: the
 * caller's thread counted the same lines (curl_call.c), so that index finds its tick. A last
 * line with no newline was cut off and is not read; an event left open at the end is. */
static void parse_stream(ctx *c, stream *s, const char *p, size_t n, int http_status)
{
    weft__buf data;
    weft__buf_init(&data);
    uint64_t line = 0, ev_line = 0;
    bool have = false;
    size_t pos = 0;
    while (pos < n) {
        const char *ln = p + pos;
        const char *nl = memchr(ln, '\n', n - pos);
        if (!nl)
            break;
        size_t len = (size_t)(nl - ln);
        pos += len + 1;
        bool is_data = len >= 5 && memcmp(ln, "data:", 5) == 0;
        if (len && ln[len - 1] == '\r')
            len--;
        if (len == 0) {
            if (have)
                dispatch_event(c, s, &data, ev_line, http_status);
            have = false;
            weft__buf_reset(&data);
            continue;
        }
        if (!is_data)
            continue; /* event:, id:, retry: and comments carry nothing weft reads */
        const char *v = ln + 5;
        size_t vl = len >= 5 ? len - 5 : 0;
        if (vl && *v == ' ')
            v++, vl--;
        if (!have)
            ev_line = line;
        else
            weft__buf_putc(&data, '\n');
        weft__buf_append(&data, v, vl);
        have = true;
        line++;
    }
    if (have)
        dispatch_event(c, s, &data, ev_line, http_status);
    weft__buf_fini(&data);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t ticks_ns(const weft__clock *clock, uint64_t t0, uint64_t t1)
{
    if (t1 <= t0)
        return 0;
    double ns = (double)(t1 - t0) * (clock ? clock->ns_per_tick : 1.0);
    return ns >= 9.0e18 ? (uint64_t)9e18 : (uint64_t)ns;
}

static void put_buf_text(ctx *c, const weft__buf *b) { put_str(c, b->data ? b->data : "", b->len); }

static void finish_stream(ctx *c, stream *s, const weft__llm_resp *h, const uint64_t *ticks,
                          const weft__clock *clock)
{
    if (s->model[0])
        set_strn(c, WEFT_METADATA, "response_model", s->model, strlen(s->model));
    if (s->id[0])
        set_strn(c, WEFT_METADATA, "response_id", s->id, strlen(s->id));
    set_bool(c, WEFT_METADATA, "stream", true);
    set_i64(c, WEFT_METADATA, "stream_chunks", (int64_t)s->events);
    if (s->bad_events)
        set_i64(c, WEFT_METADATA, "stream_bad_chunks", (int64_t)s->bad_events);

    const char *reasons[MAX_CHOICES];
    size_t n_reasons = 0;
    for (size_t k = 0; k < MAX_CHOICES; k++) {
        choice_acc *a = &s->ch[k];
        if (!a->used)
            continue;
        bool first = true;
        weft__buf_reset(&c->b);
        weft__buf_putc(&c->b, '{');
        put_key(c, &first, "role");
        put_cstr(c, a->role[0] ? a->role : "assistant");
        if (a->text.len || !a->n_tools) {
            put_key(c, &first, c->capture ? "content" : "content_bytes");
            if (c->capture)
                put_buf_text(c, &a->text);
            else
                weft__json_u64(&c->b, a->text.len);
        }
        if (a->n_tools) {
            put_key(c, &first, "tool_calls");
            weft__buf_putc(&c->b, '[');
            for (size_t t = 0; t < a->n_tools; t++) {
                tool_acc *ta = &a->tools[t];
                bool f = true;
                if (t)
                    weft__buf_putc(&c->b, ',');
                weft__buf_putc(&c->b, '{');
                if (ta->id.len) {
                    put_key(c, &f, "id");
                    put_buf_text(c, &ta->id);
                }
                put_key(c, &f, "type");
                if (ta->type.len)
                    put_buf_text(c, &ta->type);
                else
                    put_cstr(c, "function");
                put_key(c, &f, "function");
                bool f1 = true;
                weft__buf_putc(&c->b, '{');
                put_key(c, &f1, "name");
                put_buf_text(c, &ta->name);
                put_key(c, &f1, c->capture ? "arguments" : "arguments_bytes");
                if (c->capture)
                    put_buf_text(c, &ta->args);
                else
                    weft__json_u64(&c->b, ta->args.len);
                weft__buf_putc(&c->b, '}');
                weft__buf_putc(&c->b, '}');
            }
            weft__buf_putc(&c->b, ']');
        }
        weft__buf_putc(&c->b, '}');
        flush_append(c, WEFT_OUTPUT, "messages");
        if (a->finish[0])
            reasons[n_reasons++] = a->finish;
    }
    set_finish_reasons(c, reasons, n_reasons);
    if (!s->done && !n_reasons)
        set_bool(c, WEFT_METADATA, "stream_incomplete", true);

    /* Timing: the ticks of the token events' first data lines. */
    size_t n = 0;
    uint64_t *t = s->n_tok ? malloc(s->n_tok * sizeof *t) : NULL;
    for (size_t i = 0; t && i < s->n_tok; i++)
        if (s->tok[i] < h->n_ticks)
            t[n++] = ticks[s->tok[i]];
    if (n) {
        set_ms(c, "time_to_first_token_ms", ticks_ns(clock, h->t_begin, t[0]));
        set_i64(c, WEFT_METADATA, "stream_token_chunks", (int64_t)s->n_tok);
    }
    if (n >= 2) {
        uint64_t *gaps = malloc((n - 1) * sizeof *gaps);
        if (gaps) {
            for (size_t i = 1; i < n; i++)
                gaps[i - 1] = ticks_ns(clock, t[i - 1], t[i]);
            size_t g = n - 1;
            uint64_t span_ns = ticks_ns(clock, t[0], t[n - 1]);
            qsort(gaps, g, sizeof *gaps, cmp_u64);
            set_ms(c, "inter_token_ms_mean", span_ns / g);
            set_ms(c, "inter_token_ms_p50", gaps[(g - 1) / 2]);
            set_ms(c, "inter_token_ms_p95", gaps[(g * 95 + 99) / 100 - 1]);
            set_ms(c, "inter_token_ms_max", gaps[g - 1]);
            /* Output tokens from usage when the server sent it, else one per token chunk
             * (servers send about one token per chunk), over first to last token. */
            int64_t toks = c->r->has_usage && c->r->output_tokens > 0 ? c->r->output_tokens : (int64_t)s->n_tok;
            if (span_ns)
                set_f64(c, WEFT_METADATA, "tokens_per_second", (double)toks * 1e9 / (double)span_ns);
            free(gaps);
        }
    }
    free(t);
}

static void stream_fini(stream *s)
{
    for (size_t k = 0; k < MAX_CHOICES; k++) {
        weft__buf_fini(&s->ch[k].text);
        for (size_t t = 0; t < MAX_TOOLS; t++) {
            weft__buf_fini(&s->ch[k].tools[t].id);
            weft__buf_fini(&s->ch[k].tools[t].type);
            weft__buf_fini(&s->ch[k].tools[t].name);
            weft__buf_fini(&s->ch[k].tools[t].args);
        }
    }
    free(s->tok);
}

static bool looks_like_sse(const char *p, size_t n)
{
    while (n && (*p == '\n' || *p == '\r'))
        p++, n--;
    return (n >= 5 && !memcmp(p, "data:", 5)) || (n >= 6 && !memcmp(p, "event:", 6)) ||
           (n >= 1 && *p == ':');
}

/* ---- the two events ------------------------------------------------------------------------ */

static bool take(const char **p, const char *end, size_t n, const char **out)
{
    if ((size_t)(end - *p) < n)
        return false;
    *out = *p;
    *p += n;
    return true;
}

static bool apply_request(ctx *c, const weft__ev *ev)
{
    const char *p = (const char *)(ev + 1), *end = (const char *)ev + ev->size;
    weft__llm_req h;
    const char *hp, *prov, *op, *host, *path, *body;
    if (!take(&p, end, sizeof h, &hp))
        return false;
    memcpy(&h, hp, sizeof h);
    if (!take(&p, end, h.provider_len, &prov) || !take(&p, end, h.op_len, &op) ||
        !take(&p, end, h.host_len, &host) || !take(&p, end, h.path_len, &path) ||
        h.body_len > (uint64_t)(end - p) || !take(&p, end, (size_t)h.body_len, &body) || h.body_orig < h.body_len ||
        h.op > WEFT__LLM_EMBEDDINGS)
        return false;
    c->capture = (h.flags & WEFT__LLM_CAPTURE) != 0;
    if (h.provider_len)
        set_strn(c, WEFT_METADATA, "provider", prov, h.provider_len);
    set_strn(c, WEFT_METADATA, "operation", op, h.op_len);
    if (h.host_len)
        set_strn(c, WEFT_METADATA, "server_address", host, h.host_len);
    if (h.path_len)
        set_strn(c, WEFT_METADATA, "url_path", path, h.path_len);
    set_bool(c, WEFT_METADATA, "content_captured", c->capture);
    if (!h.body_orig)
        return true;
    set_i64(c, WEFT_METADATA, "request_bytes", (int64_t)h.body_orig);
    bool cut = h.body_len < h.body_orig;
    if (cut)
        set_bool(c, WEFT_METADATA, "request_truncated", true);
    json_error_t err;
    json_t *root = json_loadb(body, (size_t)h.body_len, 0, &err);
    if (json_is_object(root)) {
        map_request(c, root, h.op);
    } else {
        set_strn(c, WEFT_METADATA, "request_parse_error", cut ? "request body cut before it ended" : err.text,
                 cut ? 33 : strlen(err.text));
        if (c->capture)
            set_strn(c, WEFT_INPUT, "request_body", body, (size_t)h.body_len);
    }
    json_decref(root);
    return true;
}

static bool apply_response(ctx *c, const weft__ev *ev, const weft__clock *clock)
{
    const char *p = (const char *)(ev + 1), *end = (const char *)ev + ev->size;
    weft__llm_resp h;
    const char *hp, *tk, *errs, *body;
    if (!take(&p, end, sizeof h, &hp))
        return false;
    memcpy(&h, hp, sizeof h);
    if ((uint64_t)h.n_ticks * 8 > (uint64_t)(end - p) || !take(&p, end, (size_t)h.n_ticks * 8, &tk) ||
        !take(&p, end, h.err_len, &errs) || h.body_len > (uint64_t)(end - p) ||
        !take(&p, end, (size_t)h.body_len, &body) || h.body_orig < h.body_len || h.op > WEFT__LLM_EMBEDDINGS)
        return false;
    uint64_t *ticks = NULL;
    if (h.n_ticks) {
        ticks = malloc((size_t)h.n_ticks * 8);
        if (!ticks)
            return true;
        memcpy(ticks, tk, (size_t)h.n_ticks * 8); /* aligned copy */
    }
    c->capture = (h.flags & WEFT__LLM_CAPTURE) != 0;

    set_ms(c, "latency_ms", ticks_ns(clock, h.t_begin, h.t_end));
    if (h.http_status > 0)
        set_i64(c, WEFT_METADATA, "http_status", h.http_status);
    set_i64(c, WEFT_METADATA, "response_bytes", (int64_t)h.body_orig);
    bool cut = h.body_len < h.body_orig;
    if (cut)
        set_bool(c, WEFT_METADATA, "response_truncated", true);

    bool errored = false;
    if ((h.flags & WEFT__LLM_REFUSED) || h.curl_code == CURL_ABORTED_BY_CALLBACK) {
        set_error(c, WEFT_STATUS_CANCELED, "canceled", errs, h.err_len, NULL);
        errored = true;
    } else if (h.curl_code != 0) {
        json_t *code = json_integer(h.curl_code);
        set_error(c, WEFT_STATUS_ERROR, "curl_error", errs, h.err_len, code);
        json_decref(code);
        errored = true;
    }

    bool sse = (h.flags & WEFT__LLM_SSE) || (h.body_len && looks_like_sse(body, (size_t)h.body_len));
    bool body_err = false;
    if (sse) {
        stream s;
        memset(&s, 0, sizeof s);
        parse_stream(c, &s, body, (size_t)h.body_len, h.http_status);
        finish_stream(c, &s, &h, ticks, clock);
        body_err = s.error_seen;
        stream_fini(&s);
    } else if (h.body_len) {
        json_error_t err;
        json_t *root = json_loadb(body, (size_t)h.body_len, 0, &err);
        if (json_is_object(root)) {
            if (!errored)
                body_err = body_error(c, root, h.http_status);
            map_response(c, root, h.op);
        } else {
            set_strn(c, WEFT_METADATA, "response_parse_error",
                     cut ? "response body cut before it ended" : err.text, cut ? 34 : strlen(err.text));
            if (c->capture)
                set_strn(c, WEFT_OUTPUT, "response_body", body, (size_t)h.body_len);
            if (!errored && !cut && h.http_status < 400) {
                set_error(c, WEFT_STATUS_ERROR, "invalid_response", "the response body is not JSON", 29, NULL);
                errored = true;
            }
        }
        json_decref(root);
    }
    if (!errored && !body_err && h.http_status >= 400) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "HTTP %d", h.http_status);
        char type[16];
        snprintf(type, sizeof type, "http_%d", h.http_status);
        set_error(c, WEFT_STATUS_ERROR, type, msg, (size_t)n, NULL);
    }
    free(ticks);
    return true;
}

void weft__llm_apply(weft__rec *r, const weft__ev *ev, const weft__clock *clock, weft__buf *scratch)
{
    ctx c;
    c.r = r;
    c.scratch = scratch;
    weft__buf_init(&c.b);
    c.capture = false;
    c.max = (size_t)weft__rt.hot.max_attr_bytes;
    bool ok = ev->size >= sizeof *ev;
    if (ok && ev->kind == WEFT__EV_LLM_REQUEST)
        ok = apply_request(&c, ev);
    else if (ok && ev->kind == WEFT__EV_LLM_RESPONSE)
        ok = apply_response(&c, ev, clock);
    else
        ok = false;
    weft__buf_fini(&c.b);
    weft__buf_reset(scratch);
    if (!ok)
        weft__internal_error("llm: malformed event");
}
