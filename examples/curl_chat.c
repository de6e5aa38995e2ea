/*
 * curl_chat.c — a plain libcurl program that asks an OpenAI-compatible server one question,
 * instrumented with weft by one changed line: curl_easy_perform(h) became
 * weft_curl_perform(h, &call), where `call` names what the program gave curl (curl has no
 * getter for the body or the callbacks). Plus, once per program, the include and weft_init.
 *
 * It talks only to the URL it is given and does nothing without one:
 *
 *   weft_curl_chat http://127.0.0.1:8080/v1 [model] [question]
 *   WEFT_CHAT_URL=http://127.0.0.1:11434/v1 weft_curl_chat
 *
 * OPENAI_API_KEY, when set, is sent as a bearer token (never printed). The span goes wherever
 * weft is configured to send it (weft-traces.jsonl by default; WEFT_EXPORTER=stdout shows it).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <weft/curl.h> /* added: weft */

typedef struct reply {
    char *data;
    size_t len;
} reply;

static size_t collect(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    char *nd = realloc(r->data, r->len + size * n + 1);
    if (!nd)
        return 0;
    memcpy(nd + r->len, p, size * n);
    r->len += size * n;
    nd[r->len] = 0;
    r->data = nd;
    return n;
}

int main(int argc, char **argv)
{
    const char *base = argc > 1 ? argv[1] : getenv("WEFT_CHAT_URL");
    if (!base || !*base) {
        fprintf(stderr, "usage: %s BASE_URL [model] [question]   (or set WEFT_CHAT_URL)\n"
                        "  e.g. %s http://127.0.0.1:8080/v1 — nothing is sent without a URL\n",
                argv[0], argv[0]);
        return 2;
    }
    const char *model = argc > 2 ? argv[2] : "gpt-4o-mini";
    const char *question = argc > 3 ? argv[3] : "In one sentence: why trace LLM calls?";
    weft_init(NULL); /* added: weft (weft_shutdown runs at exit) */

    char url[1024], body[2048], auth[512];
    snprintf(url, sizeof url, "%s/chat/completions", base);
    /* The question is inserted as is: keep it free of quotes and backslashes. */
    snprintf(body, sizeof body,
             "{\"model\":\"%s\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}],"
             "\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
             model, question);
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    const char *key = getenv("OPENAI_API_KEY");
    bool tls = strncmp(url, "https://", 8) == 0;
    bool local = !strncmp(url, "http://127.0.0.1", 16) || !strncmp(url, "http://localhost", 16) ||
                 !strncmp(url, "http://[::1]", 12);
    if (key && *key && !tls && !local) {
        fprintf(stderr, "not sending OPENAI_API_KEY over plain http to a remote host\n");
        return 2;
    }
    if (key && *key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        hd = curl_slist_append(hd, auth);
    }
    reply r = {NULL, 0};
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 120L);
    if (!tls)
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*"); /* plain http stays on this machine */

    /* was: CURLcode rc = curl_easy_perform(h); */
    CURLcode rc = weft_curl_perform(h, &(weft_llm_call){.request_body = body, .write_function = collect, .write_data = &r});

    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK)
        fprintf(stderr, "curl: %s\n", curl_easy_strerror(rc));
    else
        printf("HTTP %ld, %zu bytes of server-sent events\n%s\n", status, r.len, r.data ? r.data : "");
    free(r.data);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return rc == CURLE_OK && status < 400 ? 0 : 1;
}
