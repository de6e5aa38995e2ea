/*
 * url.h — the one place that decides whether an API key may travel to a URL (DESIGN.md section
 * 7): over https://, or over plain http:// only to a loopback host and only when no proxy sits
 * between (a proxy reached over plain HTTP would read the key). Every HTTP exporter and REST
 * client asks weft__url_key_allowed before it sends a key; http.c asks weft__url_direct_only
 * for every request and turns proxies off for those URLs.
 *
 * Proxy environment, read the way libcurl reads it (libcurl-env(3), CURLOPT_PROXY(3),
 * CURLOPT_NOPROXY(3)): for http:// only `http_proxy` (lowercase: CGI programs receive a
 * request's "Proxy:" header as HTTP_PROXY, so curl ignores the uppercase name); for https://
 * `https_proxy`, then `HTTPS_PROXY`; then for either `all_proxy`, then `ALL_PROXY`. A host named
 * by `no_proxy` (then `NO_PROXY`) goes direct: "*" alone names every host; otherwise a comma (or
 * space) separated list of names, each matching the host itself and its subdomains (a leading
 * dot is ignored), and of IP addresses with an optional /bits CIDR suffix.
 *
 * Pure functions over their arguments and getenv: no allocation, no state, any thread (as far
 * as the host does not change the environment concurrently, which POSIX leaves undefined).
 */
#ifndef WEFT_URL_H
#define WEFT_URL_H

#include <stdbool.h>
#include <stddef.h>

/* An absolute http(s) URL taken apart; host points into the text given (brackets of an IPv6
 * literal not included). */
typedef struct weft__url {
    bool https;
    const char *host;
    size_t host_len;
    bool ipv6; /* host was a bracketed IPv6 literal */
    unsigned port; /* the explicit port, else 443 or 80 */
} weft__url;

/* Parses url (borrowed; must outlive *out). False when it is not http:// or https:// with a
 * host. Case-insensitive scheme; userinfo ("user@") is skipped. */
bool weft__url_parse(const char *url, weft__url *out);

/* True for 127.0.0.0/8, ::1, ::ffff:127.x.y.z and the names localhost / localhost. (libcurl
 * resolves those to loopback itself, without DNS, since 7.78). Other names are not loopback:
 * DNS could point them anywhere. */
bool weft__url_host_is_loopback(const char *host, size_t len, bool ipv6);

/* True when requests to u must not use a proxy: plain http:// to a loopback host, the case in
 * which weft lets an API key travel unencrypted. http.c sets CURLOPT_PROXY "" for them. */
bool weft__url_direct_only(const weft__url *u);

/* True when libcurl, left to the environment, would send a request for u through a proxy
 * (the rules above). */
bool weft__url_env_proxy(const weft__url *u);

/* Copies url into out (cap bytes, always NUL-terminated, cut when longer) with any userinfo
 * ("user:password@") replaced by "***@": the form in which a URL may be logged. Returns out. */
char *weft__url_redacted(const char *url, char *out, size_t cap);

/* url parses and names a loopback host (any scheme of the two). */
bool weft__url_is_loopback(const char *url);
/* url starts with http:// (case-insensitive). */
bool weft__url_is_plain_http(const char *url);
/* Same scheme, host (case-insensitive) and port: where a key for one may also go to the other. */
bool weft__url_same_origin(const char *a, const char *b);

/*
 * May an API key be sent to url? direct: the transfer turns proxies off for this URL when
 * weft__url_direct_only says so (every transfer of http.c does; a client on its own libcurl
 * handle that does not passes false, and then a proxy in the environment refuses plain http).
 * Returns 0 (https://, or plain http:// to a loopback host with no proxy in the way, or
 * has_key false), WEFT_EINSECURE (the key would travel in clear off the machine), or
 * WEFT_ECONFIG (not an http(s) URL). what names the setting (e.g. "SGP_CLIENT_BASE_URL") for the
 * one error line logged on refusal; the URL itself is logged, never the key. what NULL: nothing
 * is logged (the REST clients report the refusal to their caller instead).
 */
int weft__url_key_allowed(const char *what, const char *url, bool has_key, bool direct);

#endif
