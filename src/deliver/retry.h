/*
 * retry.h — the pure half of the delivery policy of DESIGN.md section 7: what an HTTP outcome
 * means (done, retry, split, bisect, pause, drop), how long to wait before a retry (exponential
 * backoff with full jitter, or the server's Retry-After / retry-after-ms), and the server's
 * `detail` for log lines.
 *
 * A codec: no I/O, no clock, no allocation, no global state. Every input is an untrusted byte
 * range (header values, response bodies) that need not be NUL-terminated; every function is
 * total (any bytes in, a defined answer out) and is fuzzed by tests/fuzz/fuzz_retry_after.c.
 * Callers pass the current time and a random state in, so tests can pin both.
 */
#ifndef WEFT_RETRY_H
#define WEFT_RETRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http.h"

/* 500 ms and 30 s: DESIGN.md section 7. */
#define WEFT__RETRY_BASE_MS 500u
#define WEFT__RETRY_CAP_MS 30000u

/* What the exporter does with a request after an outcome. */
typedef enum weft__verdict {
    WEFT__V_DONE = 0, /* 2xx: delivered */
    WEFT__V_RETRY,    /* 408, 429, 5xx, connect/timeout/reset/TLS handshake: again later */
    WEFT__V_SPLIT,    /* 413: send the halves one after the other; shrink the byte budget */
    WEFT__V_BISECT,   /* 400, 409, 422: halve until the rejected records are alone, drop those */
    WEFT__V_PAUSE,    /* 401, 403, certificate refused: stop sending, probe rarely */
    WEFT__V_DROP      /* anything else (3xx, 404, ...; a URL curl cannot use): will never work */
} weft__verdict;

/* The verdict for an HTTP status (meaningful when err is WEFT__HTTP_OK) or a transport error.
 * A status outside 100..599 with no transport error is a broken answer: retried. */
weft__verdict weft__retry_classify(int status, weft__http_err err);

/* Static lowercase name of a verdict, for logs. */
const char *weft__retry_verdict_name(weft__verdict v);

/*
 * Full-jitter backoff (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015): a wait
 * drawn uniformly from [0, min(cap, base * 2^attempt)] ms; attempt 0 is the first retry.
 * rnd is any 64-bit random value (weft__retry_rand).
 */
uint64_t weft__retry_backoff_ms(unsigned attempt, uint64_t rnd);

/* splitmix64 (Steele, Lea, Flood 2014): advances *state and returns the next random value. */
uint64_t weft__retry_rand(uint64_t *state);

/*
 * Retry-After (RFC 9110 section 10.2.3): either delta-seconds (1*DIGIT) or an HTTP-date in any
 * of the three formats of section 5.6.7 — IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", obsolete
 * RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994" — with
 * optional surrounding whitespace. now_unix_ms is the current wall-clock time. On success sets
 * *delay_ms (a date in the past gives 0; huge values saturate at UINT32_MAX ms, about 49 days)
 * and returns true; anything else (garbage, impossible dates such as 31 Feb, a weekday name
 * that is not one) returns false and leaves *delay_ms alone.
 */
bool weft__retry_after_parse(const char *s, size_t len, int64_t now_unix_ms, uint64_t *delay_ms);

/*
 * retry-after-ms (a de-facto header of OpenAI-style APIs): a non-negative decimal number of
 * milliseconds, fraction allowed ("1500", "12.5"; the fraction is rounded up), optional
 * surrounding whitespace. Same contract as weft__retry_after_parse.
 */
bool weft__retry_after_ms_parse(const char *s, size_t len, uint64_t *delay_ms);

/*
 * An HTTP-date alone (the three formats above) to seconds since the Unix epoch. now_unix_s is
 * needed only to place the two-digit years of RFC 850 dates (RFC 9110: a year that would be
 * more than 50 years in the future is taken from the previous century). False on anything else.
 */
bool weft__http_date_parse(const char *s, size_t len, int64_t now_unix_s, int64_t *unix_s);

/*
 * The wait before the next attempt: retry-after-ms when valid (the more precise header), else
 * Retry-After when valid, else full-jitter backoff for `attempt`. Header pointers may be NULL.
 * *from_server tells which (may be NULL).
 */
uint64_t weft__retry_delay_ms(const char *retry_after, size_t ra_len, const char *retry_after_ms,
                              size_t ram_len, int64_t now_unix_ms, unsigned attempt, uint64_t rnd,
                              bool *from_server);

/*
 * The server's reason, for one log line: the value of a "detail" member found in the JSON body
 * (a string's contents, or the raw text of any other value), else the start of the body. Written
 * to out as printable ASCII (control bytes and bytes >= 0x7f become '?'), NUL-terminated, cut to
 * outlen - 1 bytes. Returns the length written. outlen 0 writes nothing.
 */
size_t weft__retry_detail(const char *body, size_t len, char *out, size_t outlen);

#endif
