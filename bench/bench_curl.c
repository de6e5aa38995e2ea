/*
 * bench_curl.c — what weft/curl.h adds on the caller's thread (DESIGN.md section 14; budget:
 * under 1 µs per call plus the copy of the body bytes, and per streamed chunk).
 *
 * Method: one easy handle (keep-alive) talks to the loopback OpenAI-compatible server
 * (tests/support/openai_server.c). Calls alternate between curl_easy_perform and
 * weft_curl_perform so drift hits both alike; each call's cost is the calling thread's CPU
 * time (CLOCK_THREAD_CPUTIME_ID: the server and the export thread run on other threads and
 * do not count). Figures are differences of medians:
 *   1. per call: a chat call with a JSON answer, wrapped minus plain;
 *   2. per streamed chunk: a stream of CHUNKS content chunks, (wrapped minus plain, minus
 *      figure 1) / chunks;
 *   3. the fixed part alone, with no transfer: weft_curl_attach + weft_curl_finish on a handle
 *      (span begin and end, the four setopts and their undo, the request and response events);
 *   4. per chunk without the network: a 4000-event stream read from a file:// URL in 1 KiB
 *      writes, (wrapped minus plain minus figure 3) / writes, and per data line.
 * The export thread runs with exporters "none" (it still assembles every span, off this thread).
 *
 * Run: ./build/bench/bench_curl
 */
#include <curl/curl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "bench_common.h"
#include "openai_server.h"
#include "weft/curl.h"

#define CALLS 1500
#define STREAMS 200
#define CHUNKS 200
#define FIXED 200000

static double thread_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static size_t sink(char *p, size_t size, size_t n, void *ud)
{
    *(size_t *)ud += size * n;
    return n;
}

static double vals[2][CALLS];

/* Median CPU ns of plain (0) and wrapped (1) calls with this body; *bytes: response bytes. */
static void measure(CURL *h, const char *body, int n, double med[2], size_t *bytes)
{
    size_t got = 0;
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
    weft_llm_call call = {.request_body = body, .write_function = sink, .write_data = &got};
    for (int w = 0; w < 2; w++) /* warm the connection and the caches */
        w ? weft_curl_perform(h, &call) : curl_easy_perform(h);
    for (int i = 0; i < n; i++) {
        for (int w = 0; w < 2; w++) {
            got = 0;
            double t0 = thread_ns();
            CURLcode rc = w ? weft_curl_perform(h, &call) : curl_easy_perform(h);
            vals[w][i] = thread_ns() - t0;
            if (rc != CURLE_OK) {
                fprintf(stderr, "bench_curl: %s\n", curl_easy_strerror(rc));
                exit(1);
            }
        }
    }
    *bytes = got;
    med[0] = bench_median(vals[0], n);
    med[1] = bench_median(vals[1], n);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    weft_oai_opts so = {.chunk_pause_us = 1};
    weft_oai *srv = weft_oai_start(&so);
    if (!srv)
        return 1;
    weft_config cfg = {.exporters = "none", .no_atexit = true};
    if (weft_init(&cfg) != 0)
        return 1;
    char url[256];
    snprintf(url, sizeof url, "%s/v1/chat/completions", weft_oai_url(srv));
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");

    const char *chat = "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                       "{\"role\":\"user\",\"content\":\"What is the capital of France?\"}],\"temperature\":0.2}";
    char stream[512];
    snprintf(stream, sizeof stream,
             "{\"model\":\"many-%d\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", CHUNKS);

    double call_med[2], stream_med[2];
    size_t call_bytes, stream_bytes;
    measure(h, chat, CALLS, call_med, &call_bytes);
    measure(h, stream, STREAMS, stream_med, &stream_bytes);

    /* 3: the fixed part, no transfer */
    CURL *idle = curl_easy_init();
    curl_easy_setopt(idle, CURLOPT_URL, url);
    weft_llm_call call = {.request_body = chat};
    double t0 = thread_ns();
    for (int i = 0; i < FIXED; i++) {
        weft_curl_attach(idle, &call);
        weft_curl_finish(idle, CURLE_OK);
        if ((i & 1023) == 1023)
            weft_flush(0); /* keep the ring from filling: the cost here is the caller's */
    }
    double fixed = (thread_ns() - t0) / FIXED;
    curl_easy_cleanup(idle);

    /* 4: per chunk without the network's noise: the same kind of stream read from a file://
     * URL in 1 KiB writes (curl's smallest buffer), each write carrying about 8 events. */
    char path[] = "/tmp/weft-bench-sse-XXXXXX";
    int fd = mkstemp(path);
    FILE *ff = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!ff)
        return 1;
    size_t file_bytes = 0, lines = 0;
    for (int i = 0; i < 4000; i++, lines++)
        file_bytes += (size_t)fprintf(ff,
                                      "data: {\"id\":\"chatcmpl-1\",\"model\":\"m\",\"choices\":[{\"index\":0,"
                                      "\"delta\":{\"content\":\" tok%d\"},\"finish_reason\":null}]}\n\n",
                                      i);
    fclose(ff);
    char furl[300];
    snprintf(furl, sizeof furl, "file://%s", path);
    CURL *fh = curl_easy_init();
    curl_easy_setopt(fh, CURLOPT_URL, furl);
    curl_easy_setopt(fh, CURLOPT_BUFFERSIZE, 1024L);
    size_t got = 0;
    curl_easy_setopt(fh, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(fh, CURLOPT_WRITEDATA, &got);
    weft_llm_call fcall = {.write_function = sink, .write_data = &got};
    enum { FILE_RUNS = 200 };
    for (int i = 0; i < FILE_RUNS; i++)
        for (int w = 0; w < 2; w++) {
            double a = thread_ns();
            w ? weft_curl_perform(fh, &fcall) : curl_easy_perform(fh);
            vals[w][i] = thread_ns() - a;
            if (w)
                weft_flush(0);
        }
    double file_med[2] = {bench_median(vals[0], FILE_RUNS), bench_median(vals[1], FILE_RUNS)};
    double writes = (double)((file_bytes + 1023) / 1024);
    double per_write = (file_med[1] - file_med[0] - fixed) / writes;
    curl_easy_cleanup(fh);
    unlink(path);

    /* The copy budget: what memcpy takes for the bytes, at 8 bytes per ns (a conservative
     * figure for this class of machine). */
    double copy_call = (double)(strlen(chat) + call_bytes) / 8.0;
    double per_call = call_med[1] - call_med[0];
    double per_chunk = ((stream_med[1] - stream_med[0]) - per_call) / CHUNKS;
    double chunk_bytes = (double)stream_bytes / (CHUNKS + 3);

    printf("weft/curl.h on the caller's thread (CPU time, medians; loopback server)\n");
    printf("  plain chat call %.1f us, wrapped %.1f us; request %zu B, response %zu B\n", call_med[0] / 1e3,
           call_med[1] / 1e3, strlen(chat), call_bytes);
    printf("  plain %d-chunk stream %.1f us, wrapped %.1f us; %zu B\n", CHUNKS, stream_med[0] / 1e3,
           stream_med[1] / 1e3, stream_bytes);
    bench_report("per call: wrapped - plain (1 us + copy of the bodies)", per_call, "ns", 1000 + copy_call, 1);
    bench_report("per call, no transfer: attach + finish (1 us + copy)", fixed, "ns", 1000 + copy_call, 1);
    bench_report("per streamed chunk: (stream delta - call delta) / chunks", per_chunk, "ns",
                 100 + chunk_bytes / 8.0, 1);
    printf("  (per-chunk budget: 100 ns plus the copy of a %.0f-byte chunk; this difference of medians\n"
           "   carries the noise of a %.0f us stream, so single runs swing by several hundred ns)\n",
           chunk_bytes, stream_med[0] / 1e3);
    bench_report("per 1 KiB write of a file:// stream (100 ns + copy of 1 KiB)", per_write, "ns", 100 + 1024 / 8.0,
                 1);
    printf("  (file:// stream: %zu B, %zu data lines, %.0f writes; plain %.1f us, wrapped %.1f us,\n"
           "   per data line %.1f ns)\n",
           file_bytes, lines, writes, file_med[0] / 1e3, file_med[1] / 1e3,
           (file_med[1] - file_med[0] - fixed) / (double)lines);
    curl_easy_cleanup(h);
    weft_shutdown(5000);
    weft_oai_stop(srv);
    curl_global_cleanup();
    return 0;
}
