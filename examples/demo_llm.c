/*
 * demo_llm.c — the demo's optional call to a real OpenAI-compatible endpoint. Off unless
 * WEFT_DEMO_LLM_URL (or OPENAI_BASE_URL) names a base URL such as http://127.0.0.1:11434/v1;
 * then each question is also sent to {base}/chat/completions with the retrieved passages, and
 * the call is traced by weft_curl_perform as a COMPLETION span under the question's trace.
 * WEFT_DEMO_LLM_MODEL picks the model (default gpt-4o-mini); OPENAI_API_KEY, when set, is sent
 * as a bearer token, but only over https:// or to a loopback host, and never printed.
 */
#include "demo_llm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <weft/curl.h>

static const char *base_url(void)
{
    const char *u = getenv("WEFT_DEMO_LLM_URL");
    if (!u || !*u)
        u = getenv("OPENAI_BASE_URL");
    return u && *u ? u : NULL;
}

bool demo_llm_configured(void) { return base_url() != NULL; }

/* https, or plain http to this machine: the only places a key may go. */
static bool key_may_go_to(const char *url)
{
    if (!strncmp(url, "https://", 8))
        return true;
    const char *loop[] = {"http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/",
                          "http://[::1]:", "http://[::1]/"};
    for (size_t i = 0; i < sizeof loop / sizeof loop[0]; i++)
        if (!strncmp(url, loop[i], strlen(loop[i])))
            return true;
    return false;
}

/* Appends s as the inside of a JSON string literal. */
static size_t esc(char *o, size_t cap, size_t at, const char *s)
{
    for (; *s && at + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            at += (size_t)snprintf(o + at, cap - at, "\\%c", c);
        else if (c < 0x20)
            at += (size_t)snprintf(o + at, cap - at, "\\u%04x", c);
        else
            o[at++] = (char)c;
    }
    o[at] = 0;
    return at;
}

typedef struct sink {
    size_t bytes;
} sink;

static size_t count(char *p, size_t size, size_t n, void *ud)
{
    ((sink *)ud)->bytes += size * n;
    return n;
}

int demo_llm_ask(weft_span parent, const char *question, const char *context)
{
    const char *base = base_url();
    if (!base)
        return 0;
    const char *model = getenv("WEFT_DEMO_LLM_MODEL");
    if (!model || !*model)
        model = "gpt-4o-mini";
    char url[1024];
    snprintf(url, sizeof url, "%s/chat/completions", base);
    static char body[16384];
    size_t at = (size_t)snprintf(body, sizeof body, "{\"model\":\"");
    at = esc(body, sizeof body, at, model);
    at += (size_t)snprintf(body + at, sizeof body - at,
                           "\",\"messages\":[{\"role\":\"system\",\"content\":\"Answer from the passages.\"},"
                           "{\"role\":\"user\",\"content\":\"");
    at = esc(body, sizeof body, at, question);
    at = esc(body, sizeof body, at, "\n\nPassages:\n");
    at = esc(body, sizeof body, at, context);
    snprintf(body + at, sizeof body - at, "\"}]}");

    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    const char *key = getenv("OPENAI_API_KEY");
    char auth[512];
    if (key && *key) {
        if (!key_may_go_to(url)) {
            fprintf(stderr, "weft_demo: not sending OPENAI_API_KEY over plain http to a remote host\n");
            curl_slist_free_all(hd);
            return -1;
        }
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        hd = curl_slist_append(hd, auth);
    }
    sink s = {0};
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, count);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    if (strncmp(url, "https://", 8))
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* plain http stays on this machine */
    weft_llm_call call = {.parent = parent, .span_name = "ask the model", .request_body = body,
                          .write_function = count, .write_data = &s};
    CURLcode rc = weft_curl_perform(h, &call);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    printf("    model call: %s, HTTP %ld, %zu bytes (span \"ask the model\")\n",
           rc == CURLE_OK ? "done" : curl_easy_strerror(rc), status, s.bytes);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return rc == CURLE_OK && status < 400 ? 0 : -1;
}
