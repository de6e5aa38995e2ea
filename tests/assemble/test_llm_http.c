/*
 * test_llm_http.c — the export-side mapping of an LLM HTTP exchange (src/assemble/llm_http.c)
 * alone: request and response events built by hand in the layout of llm_event.h, applied to a
 * hand-made record, the record's entries read back with jansson. Ticks are given as
 * nanoseconds (clock NULL), so the streaming figures are exact.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "llm_event.h"
#include "llm_http.h"
#include "record.h"
#include "runtime.h"

typedef struct view {
    json_t *sec[3];
} view;

static void collect(void *ctx, weft_section sec, const char *key, size_t key_len, const char *json, size_t json_len,
                    int kind)
{
    view *v = ctx;
    json_error_t err;
    json_t *val = json_loadb(json, json_len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    cr_assert(val, "entry %.*s is not valid JSON (%s): %.*s", (int)key_len, key, err.text, (int)json_len, json);
    char k[128];
    snprintf(k, sizeof k, "%.*s", (int)key_len, key);
    if (kind == WEFT__ENT_APPEND) {
        json_t *arr = json_object_get(v->sec[sec], k);
        if (!arr) {
            arr = json_array();
            json_object_set_new(v->sec[sec], k, arr);
        }
        json_array_append_new(arr, val);
    } else {
        json_object_set_new(v->sec[sec], k, val);
    }
}

static weft__rec rec;
static view v;

static void setup(void)
{
    weft__rt.hot.max_attr_bytes = 1 << 20;
    weft__rec_init(&rec);
    rec.id = 42;
    rec.type = WEFT_TYPE_COMPLETION;
}

static void teardown(void)
{
    for (int i = 0; i < 3; i++)
        json_decref(v.sec[i]);
    weft__rec_fini(&rec);
}

TestSuite(llm_http, .init = setup, .fini = teardown);

static void read_back(void)
{
    for (int i = 0; i < 3; i++)
        v.sec[i] = json_object();
    weft__rec_foreach(&rec, collect, &v);
}

static json_t *at(int sec, const char *dotted)
{
    json_t *o = v.sec[sec];
    char buf[128];
    snprintf(buf, sizeof buf, "%s", dotted);
    char *save, *tok = strtok_r(buf, ".", &save);
    while (tok && o) {
        o = json_is_array(o) ? json_array_get(o, (size_t)atoi(tok)) : json_object_get(o, tok);
        tok = strtok_r(NULL, ".", &save);
    }
    return o;
}
#define IN(p) at(WEFT_INPUT, p)
#define OUT(p) at(WEFT_OUTPUT, p)
#define META(p) at(WEFT_METADATA, p)

static const char *s_of(json_t *j)
{
    cr_assert(json_is_string(j));
    return json_string_value(j);
}

static void apply(const void *payload, size_t len, unsigned kind)
{
    weft__ev *ev = calloc(1, sizeof(weft__ev) + len + 8);
    ev->size = (uint32_t)(sizeof *ev + len);
    ev->kind = (uint16_t)kind;
    ev->span = rec.id;
    memcpy(ev + 1, payload, len);
    weft__buf scratch;
    weft__buf_init(&scratch);
    weft__llm_apply(&rec, ev, NULL, &scratch);
    weft__buf_fini(&scratch);
    free(ev);
}

static void request(uint32_t op, bool capture, const char *body)
{
    const char *prov = "127.0.0.1", *opn = op == WEFT__LLM_CHAT ? "chat" : op == WEFT__LLM_EMBEDDINGS ? "embeddings"
                                                                                                          : "text_completion";
    const char *host = "127.0.0.1:8080", *path = "/v1/x";
    size_t bl = strlen(body);
    weft__llm_req h = {capture ? WEFT__LLM_CAPTURE : 0u, op, bl, bl, (uint32_t)strlen(prov), (uint32_t)strlen(opn),
                       (uint32_t)strlen(host), (uint32_t)strlen(path)};
    size_t len = sizeof h + h.provider_len + h.op_len + h.host_len + h.path_len + bl;
    char *p = malloc(len), *o = p;
    memcpy(o, &h, sizeof h), o += sizeof h;
    memcpy(o, prov, h.provider_len), o += h.provider_len;
    memcpy(o, opn, h.op_len), o += h.op_len;
    memcpy(o, host, h.host_len), o += h.host_len;
    memcpy(o, path, h.path_len), o += h.path_len;
    memcpy(o, body, bl);
    apply(p, len, WEFT__EV_LLM_REQUEST);
    free(p);
}

static void response(uint32_t op, uint32_t flags, int status, int curl_code, const char *body, const uint64_t *ticks,
                     uint32_t n_ticks, uint64_t t_end)
{
    size_t bl = strlen(body);
    weft__llm_resp h = {flags, op, status, curl_code, 1000, t_end, n_ticks, bl, bl, n_ticks, 0};
    size_t len = sizeof h + (size_t)n_ticks * 8 + bl;
    char *p = malloc(len);
    memcpy(p, &h, sizeof h);
    if (n_ticks)
        memcpy(p + sizeof h, ticks, (size_t)n_ticks * 8);
    memcpy(p + sizeof h + (size_t)n_ticks * 8, body, bl);
    apply(p, len, WEFT__EV_LLM_RESPONSE);
    free(p);
}

Test(llm_http, maps_a_chat_request_with_parameters_tools_and_every_message_field)
{
    request(WEFT__LLM_CHAT, true,
            "{\"model\":\"m1\",\"user\":\"alice@example.com\",\"temperature\":0.5,\"top_p\":0.9,\"stop\":[\"END\"],"
            "\"seed\":3,\"max_completion_tokens\":100,\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\"}}],"
            "\"messages\":[{\"role\":\"system\",\"content\":\"s\"},"
            "{\"role\":\"user\",\"name\":\"bob\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]},"
            "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\",\"type\":\"function\","
            "\"function\":{\"name\":\"f\",\"arguments\":\"{}\"}}]},"
            "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"42\"}]}");
    read_back();
    cr_assert_str_eq(s_of(META("request_model")), "m1");
    cr_assert_str_eq(s_of(META("operation")), "chat");
    cr_assert_str_eq(s_of(META("server_address")), "127.0.0.1:8080");
    cr_assert_eq(json_number_value(IN("parameters.temperature")), 0.5);
    cr_assert_eq(json_number_value(IN("parameters.top_p")), 0.9);
    cr_assert_eq(json_integer_value(IN("parameters.seed")), 3);
    cr_assert_eq(json_integer_value(IN("parameters.max_completion_tokens")), 100);
    cr_assert_str_eq(s_of(IN("parameters.stop.0")), "END");
    cr_assert_null(IN("parameters.user"), "the end user's id is not a parameter we keep");
    cr_assert_str_eq(s_of(IN("tools.0.function.name")), "f");
    cr_assert_eq(json_array_size(IN("messages")), 4);
    cr_assert_str_eq(s_of(IN("messages.1.name")), "bob");
    cr_assert_str_eq(s_of(IN("messages.1.content.0.text")), "hi");
    cr_assert_str_eq(s_of(IN("messages.2.tool_calls.0.function.arguments")), "{}");
    cr_assert_null(IN("messages.2.content"), "null content is left out");
    cr_assert_str_eq(s_of(IN("messages.3.tool_call_id")), "c1");
}

Test(llm_http, without_content_keeps_roles_names_and_sizes_only)
{
    request(WEFT__LLM_CHAT, false,
            "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"secret1\"},"
            "{\"type\":\"text\",\"text\":\"xx\"}]}],\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"f\","
            "\"description\":\"secret2\"}}]}");
    response(WEFT__LLM_CHAT, 0, 200, 0,
             "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":\"secret3\"},\"finish_reason\":\"stop\"}]}",
             NULL, 0, 2000);
    read_back();
    cr_assert_eq(json_integer_value(IN("messages.0.content_bytes")), 9);
    cr_assert_str_eq(s_of(IN("tools.0.name")), "f");
    cr_assert_eq(json_integer_value(OUT("messages.0.content_bytes")), 7);
    for (int i = 0; i < 3; i++) {
        char *t = json_dumps(v.sec[i], 0);
        cr_assert(!strstr(t, "secret"), "text leaked: %s", t);
        free(t);
    }
}

Test(llm_http, a_stream_gives_exact_first_token_time_gaps_and_rate_from_the_ticks)
{
    request(WEFT__LLM_CHAT, true, "{\"model\":\"m1\",\"stream\":true,\"messages\":[]}");
    /* line 0: role only (no token), 1-3: tokens, 4: finish, 5: usage; CRLF line ends and a
     * comment line, as servers send them */
    const char *body = ": keep-alive\r\n\r\n"
                       "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\r\n\r\n"
                       "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\r\n\r\n"
                       "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\r\n\r\n"
                       "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"c\"}}]}\r\n\r\n"
                       "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\r\n\r\n"
                       "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":3}}\r\n\r\n"
                       "data: [DONE]\r\n\r\n";
    uint64_t ticks[] = {1500, 5000, 7000, 12000, 12500, 12600, 12700};
    response(WEFT__LLM_CHAT, WEFT__LLM_CAPTURE | WEFT__LLM_SSE, 200, 0, body, ticks, 7, 13000);
    read_back();
    cr_assert_str_eq(s_of(OUT("messages.0.content")), "abc");
    cr_assert_str_eq(s_of(OUT("messages.0.role")), "assistant");
    cr_assert_str_eq(s_of(OUT("finish_reasons.0")), "length");
    /* t_begin 1000: first token at 5000 */
    cr_assert_eq(json_number_value(META("time_to_first_token_ms")), 0.004);
    cr_assert_eq(json_number_value(META("inter_token_ms_mean")), 0.0035);
    cr_assert_eq(json_number_value(META("inter_token_ms_p50")), 0.002);
    cr_assert_eq(json_number_value(META("inter_token_ms_max")), 0.005);
    cr_assert_eq(json_number_value(META("tokens_per_second")), 3 * 1e9 / 7000.0);
    cr_assert_eq(json_number_value(META("latency_ms")), 0.012);
    cr_assert_eq(json_integer_value(META("stream_chunks")), 6);
    cr_assert_eq(json_integer_value(META("input_tokens")), 4);
    cr_assert_eq(json_integer_value(META("output_tokens")), 3);
    cr_assert_str_eq(s_of(META("model")), "m1", "usage names the request's model");
    cr_assert(rec.has_usage && rec.input_tokens == 4 && rec.output_tokens == 3, "the summary path sees the usage");
    cr_assert_null(META("stream_incomplete"));
}

Test(llm_http, a_stream_of_parallel_tool_calls_is_assembled_per_index)
{
    const char *body =
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"a\",\"type\":\"function\","
        "\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"x\\\":\"}},{\"index\":1,\"id\":\"b\",\"function\":{\"name\":"
        "\"g\",\"arguments\":\"\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"1}\"}},"
        "{\"index\":1,\"function\":{\"arguments\":\"{}\"}}]}}]}\n\n"
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n";
    response(WEFT__LLM_CHAT, WEFT__LLM_CAPTURE, 200, 0, body, NULL, 0, 5000);
    read_back();
    cr_assert_str_eq(s_of(OUT("messages.0.tool_calls.0.function.arguments")), "{\"x\":1}");
    cr_assert_str_eq(s_of(OUT("messages.0.tool_calls.1.function.name")), "g");
    cr_assert_str_eq(s_of(OUT("messages.0.tool_calls.1.function.arguments")), "{}");
    cr_assert_str_eq(s_of(OUT("messages.0.tool_calls.1.type")), "function");
    cr_assert_null(OUT("messages.0.content"), "a tool-call-only answer has no content");
    cr_assert_null(META("time_to_first_token_ms"), "no ticks were carried");
}

Test(llm_http, a_cut_last_line_is_not_read_and_the_stream_is_marked_incomplete)
{
    const char *body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n"
                       "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\n"
                       "data: {\"choices\":[{\"index\":0,\"delta\":{\"con";
    response(WEFT__LLM_CHAT, WEFT__LLM_CAPTURE | WEFT__LLM_SSE, 200, 18, body, NULL, 0, 5000);
    read_back();
    cr_assert_str_eq(s_of(OUT("messages.0.content")), "ab");
    cr_assert(json_is_true(META("stream_incomplete")));
    cr_assert_eq(rec.status, WEFT_STATUS_ERROR);
    cr_assert_eq(json_integer_value(META("error.code")), 18);
}

Test(llm_http, reads_ollamas_native_chat_shape)
{
    request(WEFT__LLM_CHAT, true, "{\"model\":\"llama3\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}],"
                                  "\"options\":{\"temperature\":0}}");
    response(WEFT__LLM_CHAT, WEFT__LLM_CAPTURE, 200, 0,
             "{\"model\":\"llama3\",\"message\":{\"role\":\"assistant\",\"content\":\"ans\"},\"done\":true,"
             "\"done_reason\":\"stop\",\"prompt_eval_count\":26,\"eval_count\":5}",
             NULL, 0, 9000);
    read_back();
    cr_assert_str_eq(s_of(OUT("messages.0.content")), "ans");
    cr_assert_str_eq(s_of(OUT("finish_reasons.0")), "stop");
    cr_assert_eq(json_integer_value(META("input_tokens")), 26);
    cr_assert_eq(json_integer_value(META("output_tokens")), 5);
    cr_assert_eq(json_integer_value(IN("parameters.options.temperature")), 0);
}

Test(llm_http, an_error_string_body_and_an_http_error_without_a_body_are_errors)
{
    response(WEFT__LLM_CHAT, WEFT__LLM_CAPTURE, 503, 0, "{\"error\":\"model is loading\"}", NULL, 0, 2000);
    read_back();
    cr_assert_eq(rec.status, WEFT_STATUS_ERROR);
    cr_assert_str_eq(s_of(META("error.type")), "http_503");
    cr_assert_str_eq(s_of(META("error.message")), "model is loading");
    for (int i = 0; i < 3; i++)
        json_decref(v.sec[i]);
    weft__rec_reset(&rec);
    response(WEFT__LLM_CHAT, WEFT__LLM_CAPTURE, 429, 0, "", NULL, 0, 2000);
    read_back();
    cr_assert_eq(rec.status, WEFT_STATUS_ERROR);
    cr_assert_str_eq(s_of(META("error.message")), "HTTP 429");
}

Test(llm_http, a_request_that_is_not_json_is_reported_not_parsed)
{
    request(WEFT__LLM_CHAT, true, "model=x&prompt=y");
    read_back();
    cr_assert(json_is_string(META("request_parse_error")));
    cr_assert_str_eq(s_of(IN("request_body")), "model=x&prompt=y");
}

Test(llm_http, an_event_whose_lengths_overrun_it_is_an_internal_error_not_a_read)
{
    weft__llm_resp h = {0, 0, 200, 0, 0, 0, 0, 1000, 1000, 0, 0}; /* claims 1000 body bytes */
    uint64_t before = weft__stat_get(internal_errors);
    apply(&h, sizeof h, WEFT__EV_LLM_RESPONSE);
    cr_assert_eq(weft__stat_get(internal_errors), before + 1);
    weft__llm_req q = {0, 7, 0, 0, 0, 0, 0, 0}; /* unknown operation */
    apply(&q, sizeof q, WEFT__EV_LLM_REQUEST);
    cr_assert_eq(weft__stat_get(internal_errors), before + 2);
    read_back();
}
