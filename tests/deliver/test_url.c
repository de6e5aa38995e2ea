/*
 * test_url.c — the one rule for where an API key may go (src/deliver/url.c): loopback hosts
 * (127/8, ::1, v4-mapped 127 in brackets, localhost), the key check over https:// and plain
 * http:// with userinfo, ports, brackets and tricks that put a loopback-looking text outside
 * the host; the URL parts the clients use, and same-origin.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "url.h"
#include "weft/weft.h"

static bool loop(const char *host, bool bracketed) { return weft__url_host_is_loopback(host, strlen(host), bracketed); }

Test(url, knows_loopback_hosts_and_nothing_else)
{
    cr_assert(loop("127.0.0.1", false));
    cr_assert(loop("127.255.255.254", false));
    cr_assert(loop("localhost", false));
    cr_assert(loop("LocalHost", false));
    cr_assert(loop("localhost.", false));
    cr_assert(loop("::1", true));
    cr_assert(loop("::ffff:127.0.0.1", true));
    cr_assert_not(loop("128.0.0.1", false));
    cr_assert_not(loop("0.0.0.0", false));
    cr_assert_not(loop("10.0.0.1", false));
    cr_assert_not(loop("localhost.example.com", false), "a name DNS could point anywhere");
    cr_assert_not(loop("127.0.0.1.nip.io", false));
    cr_assert_not(loop("example.com", false));
    cr_assert_not(loop("::1", false), "an IPv6 literal counts only in brackets");
    cr_assert_not(loop("::ffff:10.0.0.1", true));
    cr_assert_not(loop("::2", true));
    cr_assert_not(loop("", false));
    cr_assert_not(weft__url_host_is_loopback(NULL, 0, false));
    char longest[80];
    memset(longest, 'a', sizeof longest - 1);
    longest[sizeof longest - 1] = 0;
    cr_assert_not(loop(longest, false), "too long for any address");
    cr_assert(weft__url_host_is_loopback("127.0.0.1:80", 9, false), "only len bytes are read");
}

Test(url, lets_a_key_go_over_https_or_to_loopback_over_plain_http)
{
    cr_assert_eq(weft__url_check_key("https://api.egp.scale.com", true), 0);
    cr_assert_eq(weft__url_check_key("HTTPS://api.example.com/v5", true), 0);
    cr_assert_eq(weft__url_check_key("http://127.0.0.1:8080/v5", true), 0);
    cr_assert_eq(weft__url_check_key("http://localhost", true), 0);
    cr_assert_eq(weft__url_check_key("HTTP://LOCALHOST:5000/", true), 0);
    cr_assert_eq(weft__url_check_key("http://[::1]:80/x", true), 0);
    cr_assert_eq(weft__url_check_key("http://evil.com@127.0.0.1/", true), 0,
                 "userinfo is skipped: the host is loopback");
    cr_assert_eq(weft__url_check_key("http://example.com", false), 0, "no key, no rule");
}

Test(url, refuses_a_key_over_plain_http_to_any_other_host)
{
    cr_assert_eq(weft__url_check_key("http://example.com", true), WEFT_EINSECURE);
    cr_assert_eq(weft__url_check_key("http://10.0.0.1:80/", true), WEFT_EINSECURE);
    cr_assert_eq(weft__url_check_key("http://127.0.0.1@evil.com/", true), WEFT_EINSECURE,
                 "the host is after the last @");
    cr_assert_eq(weft__url_check_key("http://127.0.0.1.evil.com/", true), WEFT_EINSECURE);
    cr_assert_eq(weft__url_check_key("http://evil.com/127.0.0.1", true), WEFT_EINSECURE);
    cr_assert_eq(weft__url_check_key("http://evil.com?x=@127.0.0.1", true), WEFT_EINSECURE);
    cr_assert_eq(weft__url_check_key("http://evil.com#@127.0.0.1", true), WEFT_EINSECURE);
    cr_assert_eq(weft__url_check_key("http://[::1", true), WEFT_EINSECURE, "an unclosed bracket");
    cr_assert_eq(weft__url_check_key("http://[::ffff:8.8.8.8]/", true), WEFT_EINSECURE);
    cr_assert_eq(weft__url_check_key("http://", true), WEFT_EINSECURE);
}

Test(url, refuses_an_unknown_scheme_or_no_url)
{
    cr_assert_eq(weft__url_check_key("ftp://127.0.0.1", true), WEFT_ECONFIG);
    cr_assert_eq(weft__url_check_key("api.example.com", false), WEFT_ECONFIG);
    cr_assert_eq(weft__url_check_key("", true), WEFT_ECONFIG);
    cr_assert_eq(weft__url_check_key(NULL, false), WEFT_ECONFIG);
    cr_assert(weft__url_is_plain_http("Http://x"));
    cr_assert_not(weft__url_is_plain_http("https://x"));
    cr_assert_not(weft__url_is_plain_http(NULL));
}

static weft__url parsed(const char *url)
{
    weft__url u;
    memset(&u, 0xa5, sizeof u);
    cr_assert(weft__url_parse(url, &u), "%s did not parse", url);
    return u;
}

static void host_is(const weft__url *u, const char *want)
{
    cr_assert_eq(u->host_len, strlen(want), "host %.*s, want %s", (int)u->host_len, u->host, want);
    cr_assert_eq(memcmp(u->host, want, u->host_len), 0);
}

Test(url, splits_a_url_into_scheme_host_and_port)
{
    weft__url u = parsed("https://api.egp.scale.com/v5/spans");
    cr_assert(u.https);
    host_is(&u, "api.egp.scale.com");
    cr_assert_eq(u.port, 443);
    cr_assert_not(u.bracketed);
    u = parsed("http://h:8080");
    cr_assert_not(u.https);
    host_is(&u, "h");
    cr_assert_eq(u.port, 8080);
    u = parsed("http://user:pw@host.example:81/p?q#f");
    host_is(&u, "host.example");
    cr_assert_eq(u.port, 81);
    u = parsed("HTTP://[::1]:9/x");
    cr_assert(u.bracketed);
    host_is(&u, "::1");
    cr_assert_eq(u.port, 9);
    u = parsed("http://h:");
    cr_assert_eq(u.port, 80, "an empty port is the default");
    u = parsed("https://[::1]");
    cr_assert_eq(u.port, 443);
    u = parsed("http://h:65535");
    cr_assert_eq(u.port, 65535);
}

Test(url, refuses_urls_it_cannot_split)
{
    static const char *const bad[] = {
        "mailto:x@y", "http://", "http:///path", "http://:80", "http://h:0", "http://h:65536",
        "http://h:99999999999", "http://h:12a", "http://[::1", "http://[::1]x", "http://[::1]:x", "",
    };
    weft__url u;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert_not(weft__url_parse(bad[i], &u), "%s parsed", bad[i]);
    cr_assert_not(weft__url_parse(NULL, &u));
    cr_assert_not(weft__url_parse("http://h", NULL));
}

Test(url, tells_loopback_urls_and_same_origins)
{
    cr_assert(weft__url_is_loopback("http://localhost:1/"));
    cr_assert(weft__url_is_loopback("https://[::1]/"));
    cr_assert_not(weft__url_is_loopback("https://10.0.0.1"));
    cr_assert_not(weft__url_is_loopback("not a url"));
    cr_assert(weft__url_same_origin("https://A.example/x", "https://a.example:443/y"));
    cr_assert(weft__url_same_origin("http://[::1]:8/a", "http://[::1]:8/b"));
    cr_assert_not(weft__url_same_origin("https://a.example", "https://a.example:444"));
    cr_assert_not(weft__url_same_origin("http://a.example", "https://a.example"));
    cr_assert_not(weft__url_same_origin("https://a.example", "https://a.example.evil"));
    cr_assert_not(weft__url_same_origin("https://a.example", "garbage"));
}
