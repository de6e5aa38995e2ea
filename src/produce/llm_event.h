/*
 * llm_event.h — the payloads of the two ring events an LLM call made with libcurl leaves
 * (WEFT__EV_LLM_REQUEST when the call starts, WEFT__EV_LLM_RESPONSE when it ends). The
 * producer is src/produce/curl_call.c, the only reader src/assemble/llm_http.c; both include
 * this header, so the layout may change with them.
 *
 *   REQUEST   weft__llm_req, then provider, operation, host, path (their lengths in the
 *             struct), then body_len bytes of the request body
 *   RESPONSE  weft__llm_resp, then n_ticks u64 tick values (one per SSE "data:" line, in
 *             order, the first n_ticks of them), then err_len bytes of curl's error text,
 *             then body_len bytes of the response body as the write callback received it
 *
 * Both structs are 8-byte aligned and followed by their bytes; the payload is rounded up to a
 * multiple of 8 by the ring. Lengths are checked by the reader against the event's size.
 *
 * Threading: layouts only; no state.
 */
#ifndef WEFT_LLM_EVENT_H
#define WEFT_LLM_EVENT_H

#include <stdint.h>

/* The operations the export side knows how to read. */
enum weft__llm_op {
    WEFT__LLM_CHAT = 0,            /* /chat/completions, Ollama /api/chat */
    WEFT__LLM_TEXT_COMPLETION = 1, /* /completions, Ollama /api/generate */
    WEFT__LLM_EMBEDDINGS = 2,      /* /embeddings, Ollama /api/embed, /api/embeddings */
};

/* weft__llm_req.flags and weft__llm_resp.flags */
#define WEFT__LLM_CAPTURE 1u  /* content may be recorded (else sizes and counts only) */
#define WEFT__LLM_SSE 2u      /* response: Content-Type text/event-stream */
#define WEFT__LLM_REFUSED 4u  /* response: the program's write callback took fewer bytes than
                                 offered (it aborted the transfer) */

typedef struct weft__llm_req {
    uint32_t flags, op;
    uint64_t body_len;  /* bytes kept */
    uint64_t body_orig; /* bytes the program sent */
    uint32_t provider_len, op_len, host_len, path_len;
} weft__llm_req;

typedef struct weft__llm_resp {
    uint32_t flags, op;
    int32_t http_status; /* CURLINFO_RESPONSE_CODE; 0: no response */
    int32_t curl_code;   /* the transfer's CURLcode */
    uint64_t t_begin;    /* ticks when the call started (weft__clock_ticks) */
    uint64_t t_end;      /* ticks when it ended */
    uint64_t n_data;     /* SSE "data:" lines seen (n_ticks of them carried) */
    uint64_t body_len;   /* bytes kept */
    uint64_t body_orig;  /* bytes the write callback took */
    uint32_t n_ticks, err_len;
} weft__llm_resp;

#endif
