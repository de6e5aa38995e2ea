/*
 * test_curl_call.c — weft/curl.h end to end: plain libcurl programs talk to the loopback
 * OpenAI-compatible server (tests/support/openai_server.c), once through curl_easy_perform and
 * once through weft_curl_perform / weft_curl_attach+finish, and the tests check (1) that the
 * program saw exactly the same thing both times (body bytes, header bytes, return codes,
 * progress calls) and (2) the spans the memory exporter received.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openai_server.h"
#include "weft/curl.h"
#include "weft_test.h"

/* ---- a plain libcurl "application" ------------------------------------------------------ */

typedef struct app {
    char *body;
    size_t len;
    char *hdr;
    size_t hlen;
    int writes;
    int abort_at_write; /* >0: the write callback refuses its Nth call */
    int progress_calls;
    int abort_progress; /* >0: the progress callback aborts at its Nth call after data */
} app;

static void grow_append(char **p, size_t *len, const char *src, size_t n)
{
    char *np = realloc(*p, *len + n + 1);
    cr_assert(np);
    memcpy(np + *len, src, n);
    *len += n;
    np[*len] = 0;
    *p = np;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    app *a = ud;
    a->writes++;
    if (a->abort_at_write && a->writes == a->abort_at_write)
        return 0;
    grow_append(&a->body, &a->len, p, size * n);
    return n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    app *a = ud;
    /* Date changes from second to second: everything else must match byte for byte. */
    if (!(size * n >= 5 && strncasecmp(p, "date:", 5) == 0))
        grow_append(&a->hdr, &a->hlen, p, size * n);
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
    app *a = ud;
    a->progress_calls++;
    return a->abort_progress && dlnow > 0 ? 1 : 0;
}

static void app_free(app *a)
{
    free(a->body);
    free(a->hdr);
}

typedef enum mode { PLAIN, WEFT_PERFORM, WEFT_MULTI } mode;

typedef struct call_opts {
    const char *path;
    const char *body;
    long timeout_ms;
    bool progress;
    const weft_llm_call *extra; /* fields other than the callbacks and body */
} call_opts;

/* One call the way a plain program makes it; in the weft modes the one changed line is the
 * perform (or the attach/finish pair around the multi loop). */
static CURLcode run_call(mode m, const char *base, const call_opts *o, app *a, long *status)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", base, o->path);
    CURL *h = curl_easy_init();
    cr_assert(h);
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, o->body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    if (o->timeout_ms)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, o->timeout_ms);
    if (o->progress) {
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, a);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    }
    weft_llm_call call = {0};
    if (o->extra)
        call = *o->extra;
    call.request_body = o->body;
    call.write_function = on_body;
    call.write_data = a;
    call.header_function = on_header;
    call.header_data = a;
    CURLcode rc;
    if (m == PLAIN) {
        rc = curl_easy_perform(h);
    } else if (m == WEFT_PERFORM) {
        rc = weft_curl_perform(h, &call);
    } else {
        CURLM *multi = curl_multi_init();
        cr_assert_eq(weft_curl_attach(h, &call), 0);
        curl_multi_add_handle(multi, h);
        int running = 1;
        rc = CURLE_OK;
        while (running) {
            curl_multi_perform(multi, &running);
            if (running)
                curl_multi_poll(multi, NULL, 0, 100, NULL);
        }
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(multi, &left)))
            if (msg->msg == CURLMSG_DONE) {
                rc = msg->data.result;
                weft_curl_finish(msg->easy_handle, rc);
            }
        curl_multi_remove_handle(multi, h);
        curl_multi_cleanup(multi);
    }
    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return rc;
}

/* Runs the call plain and through weft (mode m) and asserts the program saw the same. */
static void same_behaviour(mode m, const char *base, const call_opts *o, app *with, CURLcode *rc_out)
{
    app plain = {0};
    plain.abort_at_write = with->abort_at_write;
    plain.abort_progress = with->abort_progress;
    long st_plain, st_weft;
    CURLcode rc_plain = run_call(PLAIN, base, o, &plain, &st_plain);
    CURLcode rc_weft = run_call(m, base, o, with, &st_weft);
    cr_assert_eq(rc_weft, rc_plain, "curl code %d with weft, %d without", rc_weft, rc_plain);
    cr_assert_eq(st_weft, st_plain);
    if (with->abort_progress) {
        /* How much arrived before the progress callback aborts depends on the network's
         * timing, with or without weft: the codes and the progress calls are what compare. */
        cr_assert(with->progress_calls > 0 && plain.progress_calls > 0);
        app_free(&plain);
        if (rc_out)
            *rc_out = rc_weft;
        return;
    }
    cr_assert_eq(with->len, plain.len, "body %zu bytes with weft, %zu without", with->len, plain.len);
    if (plain.len)
        cr_assert(memcmp(with->body, plain.body, plain.len) == 0, "body bytes differ");
    cr_assert_eq(with->hlen, plain.hlen, "headers %zu bytes with weft, %zu without", with->hlen, plain.hlen);
    if (plain.hlen)
        cr_assert(memcmp(with->hdr, plain.hdr, plain.hlen) == 0, "header bytes differ");
    if (o->progress)
        cr_assert(with->progress_calls > 0 && plain.progress_calls > 0, "the progress callback ran");
    app_free(&plain);
    if (rc_out)
        *rc_out = rc_weft;
}

/* ---- fixtures ----------------------------------------------------------------------------- */

static weft_oai *srv;

static void setup(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    unsetenv("WEFT_CAPTURE_CONTENT");
    srv = weft_oai_start(NULL);
    cr_assert(srv, "the test server did not start");
}

static void teardown(void)
{
    weft_oai_stop(srv);
    curl_global_cleanup();
}

TestSuite(curl_call, .init = setup, .fini = teardown, .timeout = 60);

static const char *CHAT = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                          "{\"role\":\"user\",\"content\":\"What is the capital of France?\"}],"
                          "\"temperature\":0.2,\"max_tokens\":64,\"seed\":7,\"stop\":[\"\\n\\n\"]}";
static const char *CHAT_STREAM = "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                                 "\"messages\":[{\"role\":\"user\",\"content\":\"What is the capital of France?\"}]}";

static json_t *only(json_t *recs, const char *name)
{
    cr_assert_eq(wt_count(recs, name), 1, "exactly one record named %s (got %zu)", name, wt_count(recs, name));
    return wt_find(recs, name);
}

static double num(json_t *rec, const char *path)
{
    json_t *v = wt_path(rec, path);
    cr_assert(json_is_number(v), "%s is a number", path);
    return json_number_value(v);
}

static const char *str(json_t *rec, const char *path)
{
    json_t *v = wt_path(rec, path);
    cr_assert(json_is_string(v), "%s is a string", path);
    return json_string_value(v);
}

static void end_ok(void)
{
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.internal_errors, 0);
    cr_assert_eq(st.dropped_ring, 0);
}

/* ---- the acceptance test ------------------------------------------------------------------- */

Test(curl_call, three_chat_calls_one_streamed_give_three_complete_completion_spans_and_the_same_app_behaviour)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span root = weft_span_begin("agent", WEFT_TYPE_AGENT_WORKFLOW);
    weft_llm_call names[3] = {{.span_name = "first"}, {.span_name = "streamed"}, {.span_name = "third"}};
    const char *bodies[3] = {CHAT, CHAT_STREAM, CHAT};
    app apps[3] = {{0}};
    for (int i = 0; i < 3; i++) {
        call_opts o = {"/v1/chat/completions", bodies[i], 0, false, &names[i]};
        same_behaviour(WEFT_PERFORM, weft_oai_url(srv), &o, &apps[i], NULL);
    }
    weft_span_end(root);
    json_t *recs = wt_records();
    for (int i = 0; i < 3; i++) {
        json_t *r = only(recs, names[i].span_name);
        cr_assert_str_eq(wt_str(r, "type"), "COMPLETION");
        cr_assert_str_eq(wt_str(r, "status"), "SUCCESS");
        cr_assert(wt_str(r, "end_timestamp"), "the span is complete");
        cr_assert_str_eq(wt_str(r, "parent_id"), wt_str(only(recs, "agent"), "id"));
        cr_assert_eq(num(r, "metadata.input_tokens"), OAI_PROMPT_TOKENS);
        cr_assert_eq(num(r, "metadata.output_tokens"), OAI_COMPLETION_TOKENS);
        cr_assert_eq(num(r, "metadata.http_status"), 200);
        cr_assert_str_eq(str(r, "metadata.model"), "gpt-4o-mini");
        cr_assert_str_eq(str(r, "metadata.operation"), "chat");
        json_t *out = wt_path(r, "output.messages");
        cr_assert_eq(json_array_size(out), 1);
        cr_assert_str_eq(wt_str(json_array_get(out, 0), "content"), OAI_ANSWER);
        cr_assert_str_eq(wt_str(json_array_get(out, 0), "role"), "assistant");
        cr_assert_str_eq(json_string_value(json_array_get(wt_path(r, "output.finish_reasons"), 0)), "stop");
        cr_assert_str_eq(wt_str(json_array_get(wt_path(r, "input.messages"), 0), "role"),
                         i == 1 ? "user" : "system");
        cr_assert(num(r, "metadata.latency_ms") > 0);
        if (i == 1) {
            double ttft = num(r, "metadata.time_to_first_token_ms");
            cr_assert(ttft > 0 && ttft <= num(r, "metadata.latency_ms"), "ttft %g", ttft);
            cr_assert(json_is_true(wt_path(r, "metadata.stream")));
            cr_assert(num(r, "metadata.tokens_per_second") > 0);
            cr_assert(num(r, "metadata.inter_token_ms_max") >= num(r, "metadata.inter_token_ms_p50"));
        } else {
            cr_assert_null(wt_path(r, "metadata.time_to_first_token_ms"));
            cr_assert_eq(num(r, "input.parameters.temperature"), 0.2);
            cr_assert_eq(num(r, "input.parameters.max_tokens"), 64);
            cr_assert_eq(num(r, "input.parameters.seed"), 7);
        }
        app_free(&apps[i]);
    }
    json_t *sum = wt_path(only(recs, "agent"), "metadata.trace_summary");
    cr_assert_eq(num(sum, "llm_calls"), 3);
    cr_assert_eq(num(sum, "input_tokens"), 3 * OAI_PROMPT_TOKENS);
    cr_assert_eq(num(sum, "output_tokens"), 3 * OAI_COMPLETION_TOKENS);
    json_decref(recs);
    end_ok();
    weft_shutdown(5000);
}

/* ---- what the program sees ------------------------------------------------------------------ */

Test(curl_call, the_program_sees_the_same_bytes_and_codes_in_every_scenario)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    const char *bodies[] = {CHAT,
                            CHAT_STREAM,
                            "{\"model\":\"tool\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"w\"}]}",
                            "{\"model\":\"error-400\",\"messages\":[]}",
                            "{\"model\":\"error-500\",\"messages\":[]}",
                            "{\"model\":\"malformed\",\"messages\":[]}",
                            "{\"model\":\"cut\",\"stream\":true,\"messages\":[]}",
                            "not json at all"};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        for (mode m = WEFT_PERFORM; m <= WEFT_MULTI; m++) {
            app a = {0};
            call_opts o = {"/v1/chat/completions", bodies[i], 0, true, NULL};
            same_behaviour(m, weft_oai_url(srv), &o, &a, NULL);
            app_free(&a);
        }
    }
    json_t *recs = wt_records();
    cr_assert_eq(json_array_size(recs), 2 * sizeof bodies / sizeof bodies[0]);
    json_decref(recs);
    end_ok();
    weft_shutdown(5000);
}

Test(curl_call, puts_the_programs_callbacks_back_after_the_call)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    CURL *h = curl_easy_init();
    char url[256];
    snprintf(url, sizeof url, "%s/v1/chat/completions", weft_oai_url(srv));
    app a = {0};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, CHAT);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    weft_llm_call call = {.request_body = CHAT, .write_function = on_body, .write_data = &a};
    cr_assert_eq(weft_curl_perform(h, &call), CURLE_OK);
    size_t first = a.len;
    cr_assert(first > 0);
    cr_assert_eq(curl_easy_perform(h), CURLE_OK, "the handle works plain afterwards");
    cr_assert_eq(a.len, 2 * first, "the second, plain transfer reached the program's callback");
    curl_easy_cleanup(h);
    app_free(&a);
    json_t *recs = wt_records();
    cr_assert_eq(json_array_size(recs), 1, "only the weft call made a span");
    json_decref(recs);
    weft_shutdown(5000);
}

Test(curl_call, curls_default_writer_gets_the_body_when_the_program_set_no_callback)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    char url[256];
    snprintf(url, sizeof url, "%s/v1/chat/completions", weft_oai_url(srv));
    FILE *f[2] = {tmpfile(), tmpfile()};
    for (int i = 0; i < 2; i++) {
        CURL *h = curl_easy_init();
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, CHAT);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, f[i]);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, f[i]); /* headers through the same writer */
        weft_llm_call call = {.request_body = CHAT, .write_data = f[i], .header_data = f[i]};
        cr_assert_eq(i ? weft_curl_perform(h, &call) : curl_easy_perform(h), CURLE_OK);
        curl_easy_cleanup(h);
    }
    char buf[2][8192];
    size_t n[2];
    for (int i = 0; i < 2; i++) {
        rewind(f[i]);
        n[i] = fread(buf[i], 1, sizeof buf[i], f[i]);
        fclose(f[i]);
        /* drop the Date line: it may change between the two calls */
        char *d = strcasestr(buf[i], "\ndate:");
        cr_assert(d);
        char *e = strchr(d + 1, '\n');
        memmove(d, e, (size_t)(buf[i] + n[i] - e));
        n[i] -= (size_t)(e - d);
    }
    cr_assert_eq(n[0], n[1]);
    cr_assert(memcmp(buf[0], buf[1], n[0]) == 0);
    cr_assert(strstr(buf[1], OAI_ANSWER), "the body was written");
    cr_assert(strstr(buf[1], "HTTP/1.1 200"), "the headers were written");
    json_t *recs = wt_records();
    cr_assert_str_eq(wt_path(json_array_get(recs, 0), "output.messages") ?
                         wt_str(json_array_get(wt_path(json_array_get(recs, 0), "output.messages"), 0), "content") : "",
                     OAI_ANSWER);
    json_decref(recs);
    weft_shutdown(5000);
}

/* ---- mapping ------------------------------------------------------------------------------ */

Test(curl_call, a_tool_call_answer_lands_in_output_messages)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    const char *body = "{\"model\":\"tool\",\"messages\":[{\"role\":\"user\",\"content\":\"weather?\"}],"
                       "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":"
                       "{\"type\":\"object\"}}}],\"tool_choice\":\"auto\"}";
    for (int stream = 0; stream < 2; stream++) {
        char b[1024];
        if (stream)
            snprintf(b, sizeof b, "{\"stream\":true,%s", body + 1);
        else
            snprintf(b, sizeof b, "%s", body);
        weft_llm_call extra = {.span_name = stream ? "tool-stream" : "tool-json"};
        app a = {0};
        call_opts o = {"/v1/chat/completions", b, 0, false, &extra};
        same_behaviour(WEFT_PERFORM, weft_oai_url(srv), &o, &a, NULL);
        app_free(&a);
    }
    json_t *recs = wt_records();
    const char *names[] = {"tool-json", "tool-stream"};
    for (int i = 0; i < 2; i++) {
        json_t *r = only(recs, names[i]);
        json_t *msg = json_array_get(wt_path(r, "output.messages"), 0);
        json_t *tc = json_array_get(json_object_get(msg, "tool_calls"), 0);
        cr_assert(tc, "%s has a tool call", names[i]);
        cr_assert_str_eq(wt_str(tc, "id"), "call_1");
        cr_assert_str_eq(str(tc, "function.name"), "get_weather");
        cr_assert_str_eq(str(tc, "function.arguments"), "{\"city\":\"Paris\"}");
        cr_assert_str_eq(json_string_value(json_array_get(wt_path(r, "output.finish_reasons"), 0)), "tool_calls");
        cr_assert_str_eq(str(json_array_get(wt_path(r, "input.tools"), 0), "function.name"), "get_weather");
        cr_assert_str_eq(str(r, "input.parameters.tool_choice"), "auto");
    }
    cr_assert_eq(num(only(recs, "tool-json"), "metadata.input_tokens"), 20);
    json_decref(recs);
    end_ok();
    weft_shutdown(5000);
}

Test(curl_call, completions_and_embeddings_map_their_own_shapes)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    const char *paths[] = {"/v1/completions", "/v1/completions", "/v1/embeddings"};
    const char *bodies[] = {"{\"model\":\"davinci\",\"prompt\":\"Say hi\",\"max_tokens\":5}",
                            "{\"model\":\"davinci\",\"prompt\":\"Say hi\",\"stream\":true}",
                            "{\"model\":\"text-embedding-3-small\",\"input\":[\"a\",\"bb\",\"ccc\"]}"};
    const char *names[] = {"cmpl", "cmpl-stream", NULL};
    for (int i = 0; i < 3; i++) {
        weft_llm_call extra = {.span_name = names[i]};
        app a = {0};
        call_opts o = {paths[i], bodies[i], 0, false, &extra};
        same_behaviour(WEFT_PERFORM, weft_oai_url(srv), &o, &a, NULL);
        app_free(&a);
    }
    json_t *recs = wt_records();
    json_t *c = only(recs, "cmpl");
    cr_assert_str_eq(wt_str(c, "type"), "COMPLETION");
    cr_assert_str_eq(str(c, "metadata.operation"), "text_completion");
    cr_assert_str_eq(str(c, "input.prompt"), "Say hi");
    cr_assert_str_eq(wt_str(json_array_get(wt_path(c, "output.messages"), 0), "content"), OAI_ANSWER);
    cr_assert_str_eq(json_string_value(json_array_get(wt_path(c, "output.finish_reasons"), 0)), "length");
    json_t *cs = only(recs, "cmpl-stream");
    cr_assert_str_eq(wt_str(json_array_get(wt_path(cs, "output.messages"), 0), "content"), OAI_ANSWER);
    cr_assert(num(cs, "metadata.time_to_first_token_ms") > 0);
    json_t *e = only(recs, "embeddings");
    cr_assert_str_eq(wt_str(e, "type"), "CUSTOM");
    cr_assert_eq(num(e, "output.embedding_count"), 3);
    cr_assert_eq(num(e, "output.dimensions"), 4);
    cr_assert_eq(num(e, "input.input_count"), 3);
    cr_assert_eq(num(e, "metadata.input_tokens"), 5);
    cr_assert_eq(num(e, "metadata.output_tokens"), 0);
    json_decref(recs);
    end_ok();
    weft_shutdown(5000);
}

Test(curl_call, the_price_table_prices_the_usage_and_a_given_parent_is_used)
{
    weft_model_price price = {"gpt-4o-mini", 1.0, 2.0};
    weft_config cfg = {.prices = &price, .n_prices = 1};
    cr_assert_eq(wt_init_memory(&cfg), 0);
    weft_span parent = weft_span_begin_child((weft_span){0}, "outer", WEFT_TYPE_TRACER);
    weft_llm_call extra = {.parent = parent, .provider = "openai"};
    app a = {0};
    call_opts o = {"/v1/chat/completions", CHAT, 0, false, &extra};
    same_behaviour(WEFT_PERFORM, weft_oai_url(srv), &o, &a, NULL);
    app_free(&a);
    weft_span_end(parent);
    json_t *recs = wt_records();
    json_t *r = only(recs, "chat");
    cr_assert_float_eq(num(r, "metadata.cost_usd"), (12 * 1.0 + 7 * 2.0) / 1e6, 1e-12);
    cr_assert_str_eq(str(r, "metadata.provider"), "openai");
    cr_assert_str_eq(wt_str(r, "parent_id"), wt_str(only(recs, "outer"), "id"));
    cr_assert_float_eq(num(only(recs, "outer"), "metadata.trace_summary.total_cost"), 26e-6, 1e-12);
    json_decref(recs);
    weft_shutdown(5000);
}

/* ---- errors -------------------------------------------------------------------------------- */

static json_t *one_call(const char *path, const char *body, long timeout_ms, app *a, CURLcode *rc, mode m)
{
    call_opts o = {path, body, timeout_ms, false, NULL};
    same_behaviour(m, weft_oai_url(srv), &o, a, rc);
    json_t *recs = wt_records();
    cr_assert_eq(json_array_size(recs), 1);
    json_t *r = json_incref(json_array_get(recs, 0));
    json_decref(recs);
    return r;
}

Test(curl_call, http_errors_end_the_span_in_error_with_the_servers_message)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    app a = {0};
    json_t *r = one_call("/v1/chat/completions", "{\"model\":\"error-400\",\"messages\":[]}", 0, &a, NULL, WEFT_PERFORM);
    cr_assert_str_eq(wt_str(r, "status"), "ERROR");
    cr_assert_eq(num(r, "metadata.http_status"), 400);
    cr_assert_str_eq(str(r, "metadata.error.type"), "invalid_request_error");
    cr_assert_str_eq(str(r, "metadata.error.message"), "The model `error-400` does not exist");
    cr_assert_str_eq(str(r, "metadata.error.code"), "model_not_found");
    json_decref(r);
    app_free(&a);
    weft_shutdown(5000);

    cr_assert_eq(wt_init_memory(NULL), 0);
    app b = {0};
    r = one_call("/v1/chat/completions", "{\"model\":\"error-500\",\"messages\":[]}", 0, &b, NULL, WEFT_MULTI);
    cr_assert_str_eq(wt_str(r, "status"), "ERROR");
    cr_assert_eq(num(r, "metadata.http_status"), 500);
    cr_assert_str_eq(str(r, "metadata.error.type"), "server_error");
    json_decref(r);
    app_free(&b);
    weft_shutdown(5000);
}

Test(curl_call, an_error_object_in_a_200_body_or_a_stream_is_an_error)
{
    const char *bodies[] = {"{\"model\":\"body-error\",\"messages\":[]}",
                            "{\"model\":\"stream-error\",\"stream\":true,\"messages\":[]}"};
    const char *msgs[] = {"overloaded, try later", "the model went away"};
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(wt_init_memory(NULL), 0);
        app a = {0};
        json_t *r = one_call("/v1/chat/completions", bodies[i], 0, &a, NULL, WEFT_PERFORM);
        cr_assert_str_eq(wt_str(r, "status"), "ERROR");
        cr_assert_eq(num(r, "metadata.http_status"), 200);
        cr_assert_str_eq(str(r, "metadata.error.message"), msgs[i]);
        json_decref(r);
        app_free(&a);
        weft_shutdown(5000);
    }
}

Test(curl_call, a_malformed_body_is_reported_and_kept_as_text)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    app a = {0};
    json_t *r = one_call("/v1/chat/completions", "{\"model\":\"malformed\",\"messages\":[]}", 0, &a, NULL, WEFT_PERFORM);
    cr_assert_str_eq(wt_str(r, "status"), "ERROR");
    cr_assert_str_eq(str(r, "metadata.error.type"), "invalid_response");
    cr_assert(wt_path(r, "metadata.response_parse_error"));
    cr_assert_str_eq(str(r, "output.response_body"), "{\"choices\": [{\"message\": oops");
    json_decref(r);
    app_free(&a);
    weft_shutdown(5000);
}

Test(curl_call, a_stream_cut_off_midway_keeps_the_partial_answer_and_the_curl_error)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    app a = {0};
    CURLcode rc;
    json_t *r = one_call("/v1/chat/completions", "{\"model\":\"cut\",\"stream\":true,\"messages\":[]}", 0, &a, &rc,
                         WEFT_PERFORM);
    cr_assert_neq(rc, CURLE_OK);
    cr_assert_str_eq(wt_str(r, "status"), "ERROR");
    cr_assert_str_eq(str(r, "metadata.error.type"), "curl_error");
    cr_assert_eq(num(r, "metadata.error.code"), rc);
    cr_assert(json_is_true(wt_path(r, "metadata.stream_incomplete")));
    const char *partial = wt_str(json_array_get(wt_path(r, "output.messages"), 0), "content");
    cr_assert(partial && strlen(partial) < strlen(OAI_ANSWER) && !strncmp(partial, OAI_ANSWER, strlen(partial)),
              "partial answer [%s]", partial);
    cr_assert(num(r, "metadata.time_to_first_token_ms") > 0);
    json_decref(r);
    app_free(&a);
    weft_shutdown(5000);
}

Test(curl_call, a_server_that_never_answers_ends_in_a_timeout_error)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    char url[128];
    int fd = weft_oai_blackhole_start(url, sizeof url);
    cr_assert(fd >= 0);
    app a = {0};
    call_opts o = {"/v1/chat/completions", CHAT, 300, false, NULL};
    long st;
    CURLcode rc = run_call(WEFT_PERFORM, url, &o, &a, &st);
    cr_assert_eq(rc, CURLE_OPERATION_TIMEDOUT);
    json_t *recs = wt_records();
    json_t *r = json_array_get(recs, 0);
    cr_assert_str_eq(wt_str(r, "status"), "ERROR");
    cr_assert_eq(num(r, "metadata.error.code"), CURLE_OPERATION_TIMEDOUT);
    cr_assert_null(wt_path(r, "metadata.http_status"));
    cr_assert_str_eq(wt_str(json_array_get(wt_path(r, "input.messages"), 1), "content"),
                     "What is the capital of France?", "the request is recorded anyway");
    json_decref(recs);
    app_free(&a);
    weft_oai_blackhole_stop(fd);
    weft_shutdown(5000);
}

Test(curl_call, a_callback_that_aborts_the_transfer_ends_the_span_canceled)
{
    for (int which = 0; which < 2; which++) {
        cr_assert_eq(wt_init_memory(NULL), 0);
        app a = {0};
        if (which == 0)
            a.abort_at_write = 2;
        else
            a.abort_progress = 1;
        CURLcode rc;
        call_opts o = {"/v1/chat/completions", CHAT_STREAM, 0, which == 1, NULL};
        same_behaviour(WEFT_PERFORM, weft_oai_url(srv), &o, &a, &rc);
        cr_assert_eq(rc, which == 0 ? CURLE_WRITE_ERROR : CURLE_ABORTED_BY_CALLBACK);
        json_t *recs = wt_records();
        json_t *r = json_array_get(recs, 0);
        cr_assert_str_eq(wt_str(r, "status"), "CANCELED");
        cr_assert(wt_str(r, "end_timestamp"), "the span ended");
        cr_assert_str_eq(str(r, "metadata.error.type"), "canceled");
        json_decref(recs);
        app_free(&a);
        weft_shutdown(5000);
    }
}

/* ---- content and redaction ------------------------------------------------------------------ */

static void no_text_in(json_t *r)
{
    char *text = json_dumps(r, JSON_COMPACT);
    cr_assert(!strstr(text, "capital"), "prompt text leaked: %s", text);
    cr_assert(!strstr(text, "Paris"), "completion text leaked: %s", text);
    cr_assert(!strstr(text, "Be brief"), "system prompt leaked: %s", text);
    free(text);
}

Test(curl_call, with_content_capture_off_only_sizes_and_counts_leave)
{
    for (int how = 0; how < 3; how++) {
        weft_config cfg = {0};
        if (how == 0)
            cfg.no_capture_content = true;
        else if (how == 1)
            setenv("WEFT_CAPTURE_CONTENT", "0", 1);
        cr_assert_eq(wt_init_memory(&cfg), 0);
        const char *bodies[] = {CHAT, CHAT_STREAM,
                                "{\"model\":\"tool\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
                                "\"messages\":[{\"role\":\"user\",\"content\":\"capital\"}]}"};
        for (int i = 0; i < 3; i++) {
            weft_llm_call extra = {.content = how == 2 ? WEFT_CONTENT_OMIT : WEFT_CONTENT_DEFAULT};
            app a = {0};
            call_opts o = {"/v1/chat/completions", bodies[i], 0, false, &extra};
            same_behaviour(WEFT_PERFORM, weft_oai_url(srv), &o, &a, NULL);
            app_free(&a);
        }
        json_t *recs = wt_records();
        cr_assert_eq(json_array_size(recs), 3);
        for (int i = 0; i < 3; i++) {
            json_t *r = json_array_get(recs, i);
            no_text_in(r);
            cr_assert(json_is_false(wt_path(r, "metadata.content_captured")));
            cr_assert_eq(num(r, "metadata.output_tokens") > 0, 1);
            json_t *out = json_array_get(wt_path(r, "output.messages"), 0);
            if (json_object_get(out, "tool_calls"))
                cr_assert_eq(num(json_array_get(json_object_get(out, "tool_calls"), 0), "function.arguments_bytes"),
                             strlen("{\"city\":\"Paris\"}"));
            else
                cr_assert_eq(num(out, "content_bytes"), strlen(OAI_ANSWER));
        }
        json_decref(recs);
        unsetenv("WEFT_CAPTURE_CONTENT");
        weft_shutdown(5000);
    }
}

Test(curl_call, a_call_that_asks_for_content_gets_it_when_the_default_is_off)
{
    weft_config cfg = {.no_capture_content = true};
    cr_assert_eq(wt_init_memory(&cfg), 0);
    weft_llm_call extra = {.content = WEFT_CONTENT_CAPTURE};
    app a = {0};
    json_t *r;
    call_opts o = {"/v1/chat/completions", CHAT, 0, false, &extra};
    same_behaviour(WEFT_PERFORM, weft_oai_url(srv), &o, &a, NULL);
    json_t *recs = wt_records();
    r = json_array_get(recs, 0);
    cr_assert_str_eq(wt_str(json_array_get(wt_path(r, "output.messages"), 0), "content"), OAI_ANSWER);
    json_decref(recs);
    app_free(&a);
    weft_shutdown(5000);
}

Test(curl_call, redaction_rules_apply_to_what_is_captured)
{
    const char *keys[] = {"content"};
    weft_config cfg = {.redact_keys = keys, .n_redact_keys = 1};
    cr_assert_eq(wt_init_memory(&cfg), 0);
    app a = {0};
    call_opts o = {"/v1/chat/completions", CHAT, 0, false, NULL};
    same_behaviour(WEFT_PERFORM, weft_oai_url(srv), &o, &a, NULL);
    json_t *recs = wt_records();
    json_t *r = json_array_get(recs, 0);
    cr_assert_str_eq(wt_str(json_array_get(wt_path(r, "input.messages"), 1), "content"), "[REDACTED]");
    cr_assert_str_eq(wt_str(json_array_get(wt_path(r, "output.messages"), 0), "content"), "[REDACTED]");
    no_text_in(r);
    json_decref(recs);
    app_free(&a);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert(st.redacted >= 3);
    weft_shutdown(5000);
}

Test(curl_call, a_body_over_max_attr_bytes_is_cut_for_the_span_and_whole_for_the_program)
{
    weft_config cfg = {.max_attr_bytes = 64};
    cr_assert_eq(wt_init_memory(&cfg), 0);
    app a = {0};
    json_t *r = one_call("/v1/chat/completions", CHAT, 0, &a, NULL, WEFT_PERFORM);
    cr_assert(a.len > 64);
    cr_assert(json_is_true(wt_path(r, "metadata.response_truncated")));
    cr_assert(json_is_true(wt_path(r, "metadata.request_truncated")));
    cr_assert_eq(num(r, "metadata.response_bytes"), a.len);
    cr_assert_str_eq(wt_str(r, "status"), "SUCCESS", "a cut we made is not the server's error");
    json_decref(r);
    app_free(&a);
    weft_shutdown(5000);
}

/* ---- the API's edges ------------------------------------------------------------------------ */

Test(curl_call, attach_refuses_misuse_and_finish_ignores_unknown_handles)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    cr_assert_eq(weft_curl_attach(NULL, NULL), WEFT_EINVAL);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, "http://127.0.0.1:9/v1/chat/completions");
    cr_assert_eq(weft_curl_attach(h, NULL), 0);
    cr_assert_eq(weft_curl_attach(h, NULL), WEFT_EALREADY);
    weft_curl_finish(h, CURLE_COULDNT_CONNECT);
    weft_curl_finish(h, CURLE_OK); /* finished already: a no-op */
    weft_curl_finish(NULL, CURLE_OK);
    curl_easy_cleanup(h);
    json_t *recs = wt_records();
    cr_assert_eq(json_array_size(recs), 1);
    cr_assert_str_eq(wt_str(json_array_get(recs, 0), "status"), "ERROR");
    json_decref(recs);
    weft_shutdown(5000);
}

Test(curl_call, without_weft_init_the_call_is_a_plain_perform)
{
    app a = {0};
    call_opts o = {"/v1/chat/completions", CHAT, 0, false, NULL};
    same_behaviour(WEFT_PERFORM, weft_oai_url(srv), &o, &a, NULL);
    cr_assert(a.len > 0);
    app_free(&a);
    CURL *h = curl_easy_init();
    cr_assert_eq(weft_curl_attach(h, NULL), 0, "attach without weft is a successful no-op");
    weft_curl_finish(h, CURLE_OK);
    curl_easy_cleanup(h);
}

Test(curl_call, several_transfers_on_one_multi_handle_get_a_span_each)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    enum { N = 4 };
    char url[256];
    snprintf(url, sizeof url, "%s/v1/chat/completions", weft_oai_url(srv));
    CURLM *multi = curl_multi_init();
    CURL *h[N];
    app a[N];
    memset(a, 0, sizeof a);
    char names[N][16];
    for (int i = 0; i < N; i++) {
        h[i] = curl_easy_init();
        curl_easy_setopt(h[i], CURLOPT_URL, url);
        curl_easy_setopt(h[i], CURLOPT_POSTFIELDS, i % 2 ? CHAT_STREAM : CHAT);
        curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h[i], CURLOPT_WRITEDATA, &a[i]);
        snprintf(names[i], sizeof names[i], "call-%d", i);
        weft_llm_call call = {.span_name = names[i], .request_body = i % 2 ? CHAT_STREAM : CHAT,
                              .write_function = on_body, .write_data = &a[i]};
        cr_assert_eq(weft_curl_attach(h[i], &call), 0);
        curl_multi_add_handle(multi, h[i]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left)))
            if (m->msg == CURLMSG_DONE)
                weft_curl_finish(m->easy_handle, m->data.result);
        if (running)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    for (int i = 0; i < N; i++) {
        curl_multi_remove_handle(multi, h[i]);
        curl_easy_cleanup(h[i]);
        cr_assert(a[i].len > 0);
        app_free(&a[i]);
    }
    curl_multi_cleanup(multi);
    json_t *recs = wt_records();
    for (int i = 0; i < N; i++) {
        json_t *r = only(recs, names[i]);
        cr_assert_str_eq(wt_str(r, "status"), "SUCCESS");
        cr_assert_eq(num(r, "metadata.output_tokens"), OAI_COMPLETION_TOKENS);
        if (i % 2)
            cr_assert(num(r, "metadata.time_to_first_token_ms") > 0);
    }
    json_decref(recs);
    end_ok();
    weft_shutdown(5000);
}
