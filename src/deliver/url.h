/*
 * url.h — the few facts about a URL that decide where an API key may go: its scheme, its host
 * (and whether that host is a loopback address), its port, and whether two URLs share an origin.
 * Shared by the clients (src/client/) and usable by the exporters (exporters/sgp.c has its own
 * older copy of the loopback rule, check_base_url).
 *
 * A codec: no I/O, no allocation, no global state, no name lookups (a host name other than
 * "localhost" is never taken for loopback, since DNS could point it anywhere). Every function is
 * total on any NUL-terminated input and thread-safe.
 */
#ifndef WEFT_URL_H
#define WEFT_URL_H

#include <stdbool.h>
#include <stddef.h>

/* The parts of an absolute http:// or https:// URL, as pointers into the caller's string. */
typedef struct weft__url {
    bool https;        /* scheme https (else http) */
    const char *host;  /* host without brackets for IPv6 literals; not NUL-terminated */
    size_t host_len;
    bool bracketed;    /* host was an IPv6 literal in [ ] */
    unsigned port;     /* explicit port, else 443 / 80 */
} weft__url;

/* Splits url (borrowed) into *out. False when the scheme is not http:// or https:// (case
 * insensitive), the host is empty, or the port is not a number in 1..65535. */
bool weft__url_parse(const char *url, weft__url *out);

/* True when host[0..len) is "localhost", an IPv4 address in 127.0.0.0/8, or (bracketed) the
 * IPv6 loopback ::1 or an IPv4-mapped 127.x address. */
bool weft__url_host_is_loopback(const char *host, size_t len, bool bracketed);

/* True when url parses and its host is a loopback address (see above). */
bool weft__url_is_loopback(const char *url);

/*
 * Whether an API key may be sent to url: 0 for https://, or for http:// to a loopback host
 * (the caller must then also turn proxies off for the request); WEFT_EINSECURE for http:// to
 * anything else; WEFT_ECONFIG when url is not an http(s) URL at all.
 */
int weft__url_check_key_target(const char *url);

/* True when a and b parse and share scheme, host (case-insensitive) and port. */
bool weft__url_same_origin(const char *a, const char *b);

#endif
