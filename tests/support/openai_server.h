/*
 * openai_server.h — a loopback OpenAI-compatible server for the tests and benches of
 * weft/curl.h (libmicrohttpd, 127.0.0.1, an ephemeral port, a thread per connection).
 *
 * Routes: POST /v1/chat/completions, /v1/completions, /v1/embeddings. The request's "model"
 * picks the canned answer, so one server serves every scenario:
 *
 *   any other model   a normal answer (JSON, or SSE when "stream": true, with a usage chunk
 *                     last when "stream_options": {"include_usage": true})
 *   "tool"            the assistant calls get_weather({"city":"Paris"}) (JSON or SSE)
 *   "error-400"       400 with {"error": {"message", "type", "code"}}; "error-500" likewise
 *   "body-error"      200 whose body is an error object
 *   "malformed"       200 with a body that is not JSON
 *   "cut"             a stream that stops halfway (the connection closes mid-stream)
 *   "stream-error"    a stream whose second chunk is an error object
 *   "many-N"          a stream of N content chunks (the answer's tokens over and over)
 *
 * Streams send OAI_STREAM_TOKENS content chunks, pausing a few milliseconds before each so
 * the client sees a time to first token and gaps between tokens.
 *
 * weft_oai_blackhole_start gives a port that accepts TCP connections into its backlog and
 * never reads or answers: the client's timeout is what ends the call.
 *
 * Threading: start/stop from one thread; the counters may be read from any thread.
 */
#ifndef WEFT_OPENAI_SERVER_H
#define WEFT_OPENAI_SERVER_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_oai weft_oai;

/* The streamed answer, token by token ("Paris is the capital of France."). */
#define OAI_STREAM_TOKENS 7
extern const char *const weft_oai_tokens[OAI_STREAM_TOKENS];
#define OAI_ANSWER "Paris is the capital of France."
#define OAI_PROMPT_TOKENS 12
#define OAI_COMPLETION_TOKENS 7

/* Options; NULL or zero: a pause of 2 ms before each streamed chunk. */
typedef struct weft_oai_opts {
    unsigned chunk_pause_us; /* 0: 2000; use 1 for (almost) none */
} weft_oai_opts;

/* NULL when the server cannot start (reported on stderr). */
weft_oai *weft_oai_start(const weft_oai_opts *opts);
void weft_oai_stop(weft_oai *s);
/* "http://127.0.0.1:PORT" (static for the server's life). */
const char *weft_oai_url(const weft_oai *s);
/* Requests answered so far. */
size_t weft_oai_requests(const weft_oai *s);

/* A listening socket that never accepts; its URL is written to url (cap bytes). Returns the
 * socket (close it with weft_oai_blackhole_stop), or -1. */
int weft_oai_blackhole_start(char *url, size_t cap);
void weft_oai_blackhole_stop(int fd);

#ifdef __cplusplus
}
#endif

#endif
