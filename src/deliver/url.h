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

#endif
