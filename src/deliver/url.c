/*
 * url.c — where an API key may go (see url.h): URL parsing, loopback hosts, the proxy
 * environment as libcurl reads it, and the one check every sender of a key makes.
 *
 * No state, no allocation; reads the environment with getenv.
 */
#include "url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "runtime.h"

bool weft__url_parse(const char *url, weft__url *out)
{
    if (!out)
        return false;
    memset(out, 0, sizeof *out);
    if (!url)
        return false;
    const char *rest;
    if (strncasecmp(url, "https://", 8) == 0) {
        out->https = true;
        rest = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
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
    if (hlen > 0 && host[0] == '[') {
        const char *close = memchr(host, ']', hlen);
        if (!close || close == host + 1)
            return false;
        out->host = host + 1;
        out->host_len = (size_t)(close - host - 1);
        out->ipv6 = true;
    } else {
        const char *colon = memchr(host, ':', hlen);
        out->host = host;
        out->host_len = colon ? (size_t)(colon - host) : hlen;
    }
    out->port = out->https ? 443 : 80;
    /* After the host: the end of the authority, or ':' and a port (empty: the default). */
    const char *after = out->host + out->host_len + (out->ipv6 ? 1 : 0), *end = rest + alen;
    if (after < end) {
        if (*after != ':')
            return false;
        unsigned p = 0;
        const char *d = after + 1;
        for (; d < end && *d >= '0' && *d <= '9' && p <= 65535; d++)
            p = p * 10 + (unsigned)(*d - '0');
        if (d != end || p > 65535 || (d > after + 1 && p == 0))
            return false; /* a port that is not a number from 1 to 65535 */
        if (d > after + 1)
            out->port = p;
    }
    return out->host_len > 0;
}

/* host as a NUL-terminated string in buf (false when it does not fit). */
static bool host_text(const char *host, size_t len, char *buf, size_t cap)
{
    if (len == 0 || len >= cap)
        return false;
    memcpy(buf, host, len);
    buf[len] = '\0';
    return true;
}

bool weft__url_host_is_loopback(const char *host, size_t len, bool ipv6)
{
    char buf[64];
    if (!host_text(host, len, buf, sizeof buf))
        return false;
    if (ipv6) {
        struct in6_addr a6;
        if (inet_pton(AF_INET6, buf, &a6) != 1)
            return false;
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    }
    if (strcasecmp(buf, "localhost") == 0 || strcasecmp(buf, "localhost.") == 0)
        return true;
    struct in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) != 1)
        return false; /* names other than localhost: DNS could point them anywhere */
    return (ntohl(a4.s_addr) >> 24) == 127;
}

bool weft__url_direct_only(const weft__url *u)
{
    return !u->https && weft__url_host_is_loopback(u->host, u->host_len, u->ipv6);
}

static const char *env_set(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* Does no_proxy entry e (length n, trimmed) name host? */
static bool noproxy_entry_matches(const char *e, size_t n, const char *host, size_t hlen, bool ipv6)
{
    char hb[64], eb[64];
    /* An IP address (or CIDR range) entry against an IP address host. */
    if (host_text(host, hlen, hb, sizeof hb)) {
        unsigned char ha[16], ea[16];
        int fam = ipv6 ? AF_INET6 : AF_INET;
        if (inet_pton(fam, hb, ha) == 1) {
            const char *slash = memchr(e, '/', n);
            size_t alen = slash ? (size_t)(slash - e) : n;
            /* An IPv6 entry may be bracketed too. */
            const char *a = e;
            if (alen >= 2 && a[0] == '[' && a[alen - 1] == ']') {
                a++;
                alen -= 2;
            }
            if (!host_text(a, alen, eb, sizeof eb) || inet_pton(fam, eb, ea) != 1)
                return false;
            unsigned maxbits = ipv6 ? 128 : 32, bits = maxbits;
            if (slash) {
                char *end;
                unsigned long b = strtoul(slash + 1, &end, 10);
                if (end != e + n || end == slash + 1 || b > maxbits)
                    return false;
                bits = (unsigned)b;
            }
            for (unsigned k = 0; k < bits; k++) {
                unsigned char m = (unsigned char)(0x80u >> (k % 8));
                if ((ha[k / 8] & m) != (ea[k / 8] & m))
                    return false;
            }
            return true;
        }
    }
    /* A name: the host itself or any subdomain; a leading dot and trailing dots ignored. */
    if (n > 0 && e[0] == '.') {
        e++;
        n--;
    }
    while (n > 0 && e[n - 1] == '.')
        n--;
    while (hlen > 0 && host[hlen - 1] == '.')
        hlen--;
    if (n == 0 || n > hlen)
        return false;
    if (strncasecmp(host + hlen - n, e, n) != 0)
        return false;
    return n == hlen || host[hlen - n - 1] == '.';
}

static bool no_proxy_names(const char *list, const weft__url *u)
{
    const char *p = list;
    while (*p == ' ' || *p == '\t')
        p++;
    if (p[0] == '*' && (p[1] == '\0' || p[1] == ' ' || p[1] == ','))
        return true;
    while (*p) {
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        const char *q = p;
        while (*q && *q != ',' && *q != ' ' && *q != '\t')
            q++;
        if (q > p && noproxy_entry_matches(p, (size_t)(q - p), u->host, u->host_len, u->ipv6))
            return true;
        p = q;
    }
    return false;
}

bool weft__url_env_proxy(const weft__url *u)
{
    const char *np = env_set("no_proxy");
    if (!np)
        np = env_set("NO_PROXY");
    if (np && no_proxy_names(np, u))
        return false;
    const char *proxy;
    if (u->https) {
        proxy = env_set("https_proxy");
        if (!proxy)
            proxy = env_set("HTTPS_PROXY");
    } else {
        proxy = env_set("http_proxy"); /* lowercase only, as libcurl */
    }
    if (!proxy)
        proxy = env_set("all_proxy");
    if (!proxy)
        proxy = env_set("ALL_PROXY");
    return proxy != NULL;
}

char *weft__url_redacted(const char *url, char *out, size_t cap)
{
    if (cap == 0)
        return out;
    const char *at = NULL, *rest = strstr(url, "://");
    if (rest) {
        rest += 3;
        size_t alen = strcspn(rest, "/?#");
        for (size_t k = 0; k < alen; k++)
            if (rest[k] == '@')
                at = rest + k;
    }
    if (at)
        snprintf(out, cap, "%.*s***%s", (int)(rest - url), url, at);
    else
        snprintf(out, cap, "%s", url);
    return out;
}

bool weft__url_is_loopback(const char *url)
{
    weft__url u;
    return weft__url_parse(url, &u) && weft__url_host_is_loopback(u.host, u.host_len, u.ipv6);
}

bool weft__url_is_plain_http(const char *url) { return url && strncasecmp(url, "http://", 7) == 0; }

bool weft__url_same_origin(const char *a, const char *b)
{
    weft__url ua, ub;
    if (!weft__url_parse(a, &ua) || !weft__url_parse(b, &ub))
        return false;
    return ua.https == ub.https && ua.port == ub.port && ua.ipv6 == ub.ipv6 && ua.host_len == ub.host_len &&
           strncasecmp(ua.host, ub.host, ua.host_len) == 0;
}

static void log_url(weft_log_level level, const char *what, const char *url, const char *problem)
{
    if (!what)
        return;
    char shown[512];
    weft__log(level, "%s='%s': %s", what, weft__url_redacted(url, shown, sizeof shown), problem);
}

int weft__url_key_allowed(const char *what, const char *url, bool has_key, bool direct)
{
    weft__url u;
    if (!weft__url_parse(url, &u)) {
        log_url(WEFT_LOG_ERROR, what, url ? url : "", "not an http(s) URL with a host");
        return WEFT_ECONFIG;
    }
    if (u.https || !has_key)
        return 0;
    if (!weft__url_host_is_loopback(u.host, u.host_len, u.ipv6)) {
        log_url(WEFT_LOG_ERROR, what, url,
                "refusing to send the API key over plain http:// to a host that is not loopback; "
                "use https://");
        return WEFT_EINSECURE;
    }
    if (!direct && weft__url_env_proxy(&u)) {
        log_url(WEFT_LOG_ERROR, what, url,
                "refusing to send the API key over plain http:// through the proxy set in the "
                "environment (http_proxy / all_proxy); use https:// or set no_proxy");
        return WEFT_EINSECURE;
    }
    return 0;
}
