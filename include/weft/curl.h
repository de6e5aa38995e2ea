/*
 * curl.h — automatic spans for LLM calls made with libcurl (DESIGN.md section 14).
 *
 * A transfer to an OpenAI-compatible endpoint (chat/completions, completions, embeddings;
 * vLLM, llama.cpp's server, TGI, Ollama's /v1, hosted APIs) becomes one span: COMPLETION for
 * chat and completions, CUSTOM named "embeddings" for embeddings. On the caller's thread weft
 * only copies bytes: the request body when the call starts, the response body as it arrives
 * (bounded by max_attr_bytes and by what one ring event holds), and a timestamp for every
 * server-sent-event "data:" line. The JSON is parsed on the export thread, which maps it onto
 * the span (README, "Automatic spans for libcurl LLM calls", has the table).
 *
 * How weft sees the bytes: it installs its own CURLOPT_WRITEFUNCTION/WRITEDATA and
 * CURLOPT_HEADERFUNCTION/HEADERDATA for the duration of the transfer, forwards every byte to
 * the application's own callbacks (exactly what curl would have passed them, return values
 * included), and puts the application's settings back when the transfer ends. The progress
 * callback (CURLOPT_XFERINFOFUNCTION) and every other option are left alone. libcurl has no
 * getter for those four options nor for CURLOPT_POSTFIELDS, so weft_llm_call carries them:
 * set the fields your program gave curl and leave the others NULL, which means curl's
 * defaults (body written to stdout, headers dropped). A program that sets a write callback
 * and does not name it in weft_llm_call would see its callback replaced by curl's default for
 * the transfer: name it.
 *
 * Threading: weft_curl_perform runs the transfer on the calling thread, as curl_easy_perform
 * does. weft_curl_attach and weft_curl_finish may be called from any thread, but not at the
 * same time for the same handle, and the handle must not be transferring between the two
 * calls on a thread other than the one driving its multi handle (curl's own rule).
 *
 * Pointers: easy is borrowed (never cleaned up by weft); call and everything it points to is
 * borrowed for the duration of weft_curl_perform, or from weft_curl_attach until
 * weft_curl_finish returns (the request body is copied at the start; the callback pointers
 * and their data are used until the end).
 */
#ifndef WEFT_CURL_H
#define WEFT_CURL_H

#include <curl/curl.h>

#include "weft/weft.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Whether prompt and completion text is recorded for a call. */
typedef enum weft_content {
    WEFT_CONTENT_DEFAULT = 0, /* the configuration: WEFT_CAPTURE_CONTENT, weft_config.no_capture_content */
    WEFT_CONTENT_CAPTURE = 1, /* record messages, prompts, completions and tool arguments */
    WEFT_CONTENT_OMIT = 2     /* record roles, sizes and counts only: no text leaves the process */
} weft_content;

/* What weft needs to know about one call that curl cannot tell it. Zero-initialise it and set
 * what applies; NULL for the whole struct means every field zero. */
typedef struct weft_llm_call {
    /* metadata.provider ("openai", "vllm", ...); NULL: the host of the URL. Copied. */
    const char *provider;
    /* "chat", "text_completion", "embeddings", or a name of your own (parsed as chat); NULL:
     * from the URL's path (…/chat/completions, …/completions, …/embeddings, Ollama's
     * /api/chat, /api/generate, /api/embed[dings]), else "chat". Copied. */
    const char *operation;
    /* The span's name; NULL: the operation. Copied. */
    const char *span_name;
    /* The span's parent; the zero span: the calling thread's current span (none: a root).
     * The new span never becomes any thread's current span. */
    weft_span parent;
    weft_content content;
    /* The request body given to CURLOPT_POSTFIELDS and its size (0: strlen). NULL: no request
     * body is recorded (the model is then taken from the response). Copied at the start. */
    const char *request_body;
    size_t request_len;
    /* What the program gave CURLOPT_WRITEFUNCTION / CURLOPT_WRITEDATA and
     * CURLOPT_HEADERFUNCTION / CURLOPT_HEADERDATA; NULL: not set (curl's default: the body is
     * fwrite()n to write_data, or to stdout when that is NULL too; headers go to
     * header_data through the write function when only header_data is set, else nowhere). */
    curl_write_callback write_function;
    void *write_data;
    curl_write_callback header_function;
    void *header_data;
} weft_llm_call;

#ifndef WEFT_NO_TRACING
/*
 * A drop-in for curl_easy_perform: the same transfer, the same return value, the same bytes
 * to the program's callbacks, and one span for it. When weft is not initialised or tracing is
 * off it is curl_easy_perform(easy). A transfer that a callback aborts (the write callback
 * taking fewer bytes than offered, or the progress callback returning non-zero) ends its span
 * CANCELED; curl errors, HTTP statuses >= 400 and an "error" object in the body end it ERROR.
 * call may be NULL.
 */
WEFT_API CURLcode weft_curl_perform(CURL *easy, const weft_llm_call *call);

/*
 * For curl multi users: begins the span and installs the tees on easy before the program
 * adds it to its multi handle. Returns 0 (also when tracing is off: then nothing is
 * installed and weft_curl_finish does nothing), WEFT_EINVAL (easy NULL), WEFT_EALREADY
 * (easy is attached and not finished yet) or WEFT_ENOMEM; on an error easy is unchanged.
 */
WEFT_API int weft_curl_attach(CURL *easy, const weft_llm_call *call);

/*
 * Ends what weft_curl_attach began: call it when the transfer is done (the CURLMSG_DONE
 * message's result) and before curl_easy_cleanup or reusing the handle. Puts the program's
 * callbacks back, records the response and ends the span. A handle that is not attached is a
 * no-op.
 */
WEFT_API void weft_curl_finish(CURL *easy, CURLcode result);

#else /* WEFT_NO_TRACING: the plain curl calls, nothing recorded */
static inline CURLcode weft_curl_perform(CURL *easy, const weft_llm_call *call)
{
    (void)call;
    return curl_easy_perform(easy);
}
static inline int weft_curl_attach(CURL *easy, const weft_llm_call *call)
{
    (void)call;
    return easy ? 0 : WEFT_EINVAL;
}
static inline void weft_curl_finish(CURL *easy, CURLcode result)
{
    (void)easy;
    (void)result;
}
#endif

#ifdef __cplusplus
}
#endif

#endif /* WEFT_CURL_H */
