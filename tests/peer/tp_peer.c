/*
 * tp_peer.c — the calling process of the cross-process trace tests
 * (tests/exporters/test_trace_propagation.c): a separate weft process, configured only by the
 * environment the test gives it (WEFT_EXPORTER, SGP_*, OTEL_*), that begins a root span and a
 * child for an outgoing call, sends `traceparent` with weft_curl_add_traceparent on a GET to
 * argv[1], ends both spans and shuts down. It prints the traceparent it sent on stdout.
 * Exit status 0 when the call was answered 200 and weft exported everything.
 */
#include <curl/curl.h>
#include <stdio.h>

#include "weft/curl_traceparent.h"
#include "weft/weft.h"

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: tp_peer URL\n");
        return 2;
    }
    if (weft_init(NULL) != 0)
        return 3;
    weft_span root = weft_span_begin("client request", WEFT_TYPE_TRACER);
    weft_span call = weft_span_begin("call service", WEFT_TYPE_EXTERNAL_ENDPOINT);
    char tp[56];
    if (weft_traceparent_format(call, tp, sizeof tp) < 0)
        return 4;
    CURL *c = curl_easy_init();
    struct curl_slist *h = weft_curl_add_traceparent(NULL, call);
    h = curl_slist_append(h, "tracestate: rojo=00f067aa0ba902b7");
    curl_easy_setopt(c, CURLOPT_URL, argv[1]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    weft_span_set_i64(call, WEFT_OUTPUT, "status", status);
    weft_span_end(call);
    weft_span_end(root);
    int shut = weft_shutdown(20000);
    printf("%s\n", tp);
    return rc == CURLE_OK && status == 200 && shut == 0 ? 0 : 1;
}
