/*
 * url.h — the one rule for where an API key may go (DESIGN.md section 7): over https://, or
 * over plain http:// only to a loopback host. Shared by the SGP exporter and the read-side
 * clients so the rule is written once.
 *
 * A codec: no I/O, no allocation, no logging, no global state; callers log in their own words.
 * Thread-safe (pure functions).
 */
#ifndef WEFT_URL_H
#define WEFT_URL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * True for 127.0.0.0/8, ::1 (and ::ffff:127.x.y.z, when bracketed) and the name localhost
 * (libcurl resolves it to loopback itself without asking DNS, since 7.78). host is the
 * `len` bytes at host, without brackets; `bracketed` says it was written as [addr].
 */
bool weft__url_host_is_loopback(const char *host, size_t len, bool bracketed);

/* True when url starts with http:// (any case): the request would be plain text. */
bool weft__url_is_plain_http(const char *url);

/*
 * 0 when url may carry an API key (has_key) or no key is involved (!has_key and a known
 * scheme): https://, or http:// to a loopback host (userinfo before '@' skipped, a port
 * allowed). WEFT_ECONFIG when the scheme is neither; WEFT_EINSECURE for http:// to any other
 * host with a key. url must be NUL-terminated; NULL gives WEFT_ECONFIG.
 */
int weft__url_check_key(const char *url, bool has_key);

/* ---- the parts of a URL, for the clients (src/client/stratix_client.c) ---------------------- */

/* The parts of an absolute http:// or https:// URL, as pointers into the caller's string. */
typedef struct weft__url {
    bool https;        /* scheme https (else http) */
    const char *host;  /* host without brackets for IPv6 literals; not NUL-terminated */
    size_t host_len;
    bool bracketed;    /* host was an IPv6 literal in [ ] */
    unsigned port;     /* explicit port, else 443 / 80 */
} weft__url;

/* Splits url (borrowed) into *out. False when the scheme is not http:// or https:// (any
 * case), the host is empty, or the port is not a number in 1..65535. */
bool weft__url_parse(const char *url, weft__url *out);

/* True when url parses and its host is a loopback address (weft__url_host_is_loopback). */
bool weft__url_is_loopback(const char *url);

/* True when a and b parse and share scheme, host (case-insensitive) and port: the test for
 * sending an API key to a URL the API handed out (a presigned upload URL). */
bool weft__url_same_origin(const char *a, const char *b);

#endif
