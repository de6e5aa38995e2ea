/*
 * url.c — the API key rule of url.h. Host parsing follows RFC 3986's authority
 * ([userinfo@]host[:port]), with IPv6 literals in brackets; names other than localhost are
 * not loopback, since DNS could point them anywhere.
 */
#include "url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "weft/weft.h"

bool weft__url_host_is_loopback(const char *host, size_t len, bool bracketed)
{
    char buf[64];
    if (!host || len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, host, len);
    buf[len] = '\0';
    if (bracketed) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, buf, &a6) != 1)
            return false;
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    }
    if (strcasecmp(buf, "localhost") == 0 || strcasecmp(buf, "localhost.") == 0)
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) != 1)
        return false;
    return (ntohl(a4.s_addr) >> 24) == 127;
}

bool weft__url_is_plain_http(const char *url)
{
    return url && strncasecmp(url, "http://", 7) == 0;
}

int weft__url_check_key(const char *url, bool has_key)
{
    if (!url)
        return WEFT_ECONFIG;
    const char *rest;
    if (strncasecmp(url, "https://", 8) == 0)
        return 0;
    if (strncasecmp(url, "http://", 7) != 0)
        return WEFT_ECONFIG;
    if (!has_key)
        return 0;
    rest = url + 7;
    size_t alen = strcspn(rest, "/?#");
    /* userinfo@host: the host is after the last '@' of the authority. */
    const char *host = rest;
    for (size_t k = 0; k < alen; k++)
        if (rest[k] == '@')
            host = rest + k + 1;
    size_t hlen = alen - (size_t)(host - rest);
    bool loop;
    if (hlen > 0 && host[0] == '[') {
        const char *close = memchr(host, ']', hlen);
        loop = close && weft__url_host_is_loopback(host + 1, (size_t)(close - host - 1), true);
    } else {
        const char *colon = memchr(host, ':', hlen);
        loop = weft__url_host_is_loopback(host, colon ? (size_t)(colon - host) : hlen, false);
    }
    return loop ? 0 : WEFT_EINSECURE;
}

bool weft__url_parse(const char *url, weft__url *out)
{
    if (url == NULL || out == NULL)
        return false;
    const char *rest;
    bool https;
    if (strncasecmp(url, "https://", 8) == 0) {
        https = true;
        rest = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        https = false;
        rest = url + 7;
    } else {
        return false;
    }
    size_t alen = strcspn(rest, "/?#");
    /* userinfo@host: the host is after the last '@' of the authority. */
    const char *host = rest;
    for (size_t k = 0; k < alen; k++)
        if (rest[k] == '@')
            host = rest + k + 1;
    size_t hlen = alen - (size_t)(host - rest);
    const char *port_text = NULL;
    size_t port_len = 0;
    weft__url u = {.https = https, .port = https ? 443u : 80u};
    if (hlen > 0 && host[0] == '[') {
        const char *close = memchr(host, ']', hlen);
        if (close == NULL)
            return false;
        u.host = host + 1;
        u.host_len = (size_t)(close - host - 1);
        u.bracketed = true;
        size_t after = hlen - (size_t)(close - host) - 1;
        if (after > 0) {
            if (close[1] != ':')
                return false;
            port_text = close + 2;
            port_len = after - 1;
        }
    } else {
        const char *colon = memchr(host, ':', hlen);
        u.host = host;
        u.host_len = colon ? (size_t)(colon - host) : hlen;
        if (colon) {
            port_text = colon + 1;
            port_len = hlen - u.host_len - 1;
        }
    }
    if (u.host_len == 0)
        return false;
    if (port_text) {
        /* "host:" with an empty port means the default (RFC 3986 section 3.2.3). */
        unsigned p = 0;
        for (size_t k = 0; k < port_len; k++) {
            if (port_text[k] < '0' || port_text[k] > '9' || p > 6553)
                return false;
            p = p * 10 + (unsigned)(port_text[k] - '0');
        }
        if (port_len > 0) {
            if (p == 0 || p > 65535)
                return false;
            u.port = p;
        }
    }
    *out = u;
    return true;
}

bool weft__url_is_loopback(const char *url)
{
    weft__url u;
    return weft__url_parse(url, &u) && weft__url_host_is_loopback(u.host, u.host_len, u.bracketed);
}

bool weft__url_same_origin(const char *a, const char *b)
{
    weft__url ua, ub;
    if (!weft__url_parse(a, &ua) || !weft__url_parse(b, &ub))
        return false;
    return ua.https == ub.https && ua.port == ub.port && ua.bracketed == ub.bracketed &&
           ua.host_len == ub.host_len && strncasecmp(ua.host, ub.host, ua.host_len) == 0;
}
