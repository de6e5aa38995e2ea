/*
 * test_url.c — where an API key may go (src/deliver/url.c) and what http.c does about proxies:
 * URL parsing, loopback hosts, the proxy environment read as libcurl reads it, the key check,
 * and, through the whole library, that a proxy given in the environment (a loopback stand-in,
 * tests/support/proxy_standin.h) receives nothing when weft sends its key over plain http:// to
 * the in-process receiver. Criterion runs each test in its own process, so setenv stays local.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "log_capture.h"
#include "proxy_standin.h"
#include "receiver.h"
#include "url.h"
#include "weft/weft.h"

#define KEY "url-test-key"

static void clear_proxy_env(void)
{
    static const char *const names[] = {"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                        "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"};
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
        unsetenv(names[k]);
}

static bool env_proxy(const char *url)
{
    weft__url u;
    cr_assert(weft__url_parse(url, &u), "%s did not parse", url);
    return weft__url_env_proxy(&u);
}

Test(url, parses_scheme_host_userinfo_port_and_ipv6_literals)
{
    weft__url u;
    cr_assert(weft__url_parse("HTTPS://user:pw@Example.com:8443/v5?x#y", &u));
    cr_expect(u.https);
    cr_expect_eq(u.host_len, 11);
    cr_expect_eq(strncmp(u.host, "Example.com", 11), 0);
    cr_assert(weft__url_parse("http://[::1]:9000/", &u));
    cr_expect(!u.https && u.ipv6);
    cr_expect_eq(strncmp(u.host, "::1", u.host_len), 0);
    cr_expect(!weft__url_parse("ftp://example.com", &u));
    cr_expect(!weft__url_parse("not a url", &u));
    cr_expect(!weft__url_parse("http://", &u));
    cr_expect(!weft__url_parse("http://[]/", &u));
    cr_expect(!weft__url_parse(NULL, &u));
}

Test(url, knows_loopback_hosts_and_nothing_else)
{
    cr_expect(weft__url_host_is_loopback("127.0.0.1", 9, false));
    cr_expect(weft__url_host_is_loopback("127.255.0.9", 11, false));
    cr_expect(weft__url_host_is_loopback("LocalHost", 9, false));
    cr_expect(weft__url_host_is_loopback("::1", 3, true));
    cr_expect(weft__url_host_is_loopback("::ffff:127.0.0.1", 16, true));
    cr_expect(!weft__url_host_is_loopback("128.0.0.1", 9, false));
    cr_expect(!weft__url_host_is_loopback("localhost.example.com", 21, false));
    cr_expect(!weft__url_host_is_loopback("::2", 3, true));
    cr_expect(!weft__url_host_is_loopback("", 0, false));
}

Test(url, reads_the_proxy_environment_as_libcurl_does)
{
    clear_proxy_env();
    cr_expect(!env_proxy("http://127.0.0.1:1/"));
    /* Uppercase HTTP_PROXY is ignored for http:// (libcurl-env(3)); lowercase counts. */
    setenv("HTTP_PROXY", "http://127.0.0.1:9", 1);
    cr_expect(!env_proxy("http://127.0.0.1:1/"));
    setenv("http_proxy", "http://127.0.0.1:9", 1);
    cr_expect(env_proxy("http://127.0.0.1:1/"));
    cr_expect(!env_proxy("https://example.com/"), "http_proxy does not apply to https://");
    clear_proxy_env();
    setenv("HTTPS_PROXY", "http://127.0.0.1:9", 1);
    cr_expect(env_proxy("https://example.com/"));
    cr_expect(!env_proxy("http://localhost/"));
    clear_proxy_env();
    setenv("ALL_PROXY", "socks5://127.0.0.1:9", 1);
    cr_expect(env_proxy("http://localhost/"));
    cr_expect(env_proxy("https://example.com/"));
    /* no_proxy: names with their subdomains, IP addresses and CIDR ranges, "*". */
    setenv("NO_PROXY", "example.com, 10.0.0.0/8 ,::1", 1);
    cr_expect(!env_proxy("https://api.example.com/"));
    cr_expect(!env_proxy("https://example.com./"));
    cr_expect(env_proxy("https://badexample.com/"));
    cr_expect(!env_proxy("http://10.1.2.3/"));
    cr_expect(env_proxy("http://11.1.2.3/"));
    cr_expect(!env_proxy("http://[::1]:8/"));
    cr_expect(env_proxy("http://127.0.0.1/"));
    setenv("no_proxy", "*", 1); /* lowercase first */
    cr_expect(!env_proxy("http://127.0.0.1/"));
}

Test(url, allows_the_key_over_https_even_through_a_proxy)
{
    clear_proxy_env();
    setenv("https_proxy", "http://127.0.0.1:9", 1);
    setenv("all_proxy", "http://127.0.0.1:9", 1);
    cr_expect_eq(weft__url_key_allowed("X_URL", "https://api.example.com", true, false), 0);
    cr_expect_eq(weft__url_key_allowed("X_URL", "https://127.0.0.1:1", true, false), 0);
}

Test(url, refuses_plain_http_to_loopback_through_a_proxy_unless_the_transfer_goes_direct)
{
    clear_proxy_env();
    wt_log_reset();
    weft_config c = {.exporters = "none", .no_atexit = true, .log = wt_log_capture};
    cr_assert_eq(weft_init(&c), 0); /* so that weft__log reaches the capture */
    cr_expect_eq(weft__url_key_allowed("X_URL", "http://127.0.0.1:1", true, false), 0);
    setenv("http_proxy", "http://127.0.0.1:9", 1);
    cr_expect_eq(weft__url_key_allowed("X_URL", "http://127.0.0.1:1", true, false), WEFT_EINSECURE);
    cr_expect_eq(wt_log_count("X_URL='http://127.0.0.1:1'"), 1);
    cr_expect_eq(wt_log_count("through the proxy"), 1);
    cr_expect_eq(weft__url_key_allowed("X_URL", "http://127.0.0.1:1", true, true), 0);
    cr_expect_eq(weft__url_key_allowed("X_URL", "http://127.0.0.1:1", false, false), 0, "no key, no risk");
    setenv("no_proxy", "127.0.0.1", 1);
    cr_expect_eq(weft__url_key_allowed("X_URL", "http://127.0.0.1:1", true, false), 0);
    cr_expect_eq(weft__url_key_allowed("X_URL", "http://10.0.0.1", true, true), WEFT_EINSECURE);
    cr_expect_eq(weft__url_key_allowed("X_URL", "not a url", true, true), WEFT_ECONFIG);
    cr_expect_eq(wt_log_count("X_URL='not a url': not an http(s) URL"), 1);
    /* userinfo is never logged: a password may sit there */
    cr_expect_eq(weft__url_key_allowed("X_URL", "http://me:secret@10.0.0.1", true, true), WEFT_EINSECURE);
    cr_expect_eq(wt_log_count("secret"), 0);
    cr_expect_eq(weft_shutdown(1000), 0);
}

/* Spans through the SGP exporter to the receiver over plain http:// with the proxy variable
 * `var` pointing at the stand-in: every span arrives, the stand-in receives nothing. */
static void sends_past_the_proxy(const char *var)
{
    clear_proxy_env();
    wt_proxy *px = wt_proxy_start();
    cr_assert(px);
    setenv(var, wt_proxy_url(px), 1);
    weft_rx_opts o = {.api_key = KEY};
    weft_rx *rx = weft_rx_start(&o);
    cr_assert(rx);
    weft_config c = {.exporters = "sgp",
                     .sgp_base_url = weft_rx_url(rx),
                     .sgp_api_key = KEY,
                     .flush_interval_ms = 20,
                     .retry_window_ms = 2000,
                     .inprogress_after_ms = WEFT_INPROGRESS_NEVER,
                     .no_atexit = true,
                     .log = wt_log_capture};
    cr_assert_eq(weft_init(&c), 0);
    for (int k = 0; k < 20; k++) {
        weft_span s = weft_span_begin("through", WEFT_TYPE_CUSTOM);
        weft_span_end(s);
    }
    cr_expect_eq(weft_flush(30000), 0);
    cr_expect_eq(weft_shutdown(5000), 0);
    weft_stats st;
    weft_get_stats(&st);
    cr_expect_eq(st.exported, 20);
    cr_expect_eq(weft_rx_completed(rx), 20);
    cr_expect_eq(wt_proxy_connections(px), 0, "a request went to the proxy");
    cr_expect_eq(wt_proxy_bytes(px), 0);
    cr_expect(!wt_proxy_saw_api_key(px), "the API key reached the proxy");
    weft_rx_stop(rx);
    wt_proxy_stop(px);
}

Test(url, never_sends_the_key_to_an_http_proxy_on_plain_http_to_loopback)
{
    sends_past_the_proxy("http_proxy");
}

Test(url, never_sends_the_key_to_an_all_proxy_on_plain_http_to_loopback)
{
    sends_past_the_proxy("ALL_PROXY");
}

/* The stand-in itself: a request libcurl sends through it, key header included, is seen (so
 * the two tests above could fail). */
Test(url, stand_in_proxy_records_a_request_sent_through_it)
{
    clear_proxy_env();
    wt_proxy *px = wt_proxy_start();
    cr_assert(px);
    CURL *e = curl_easy_init();
    cr_assert(e);
    struct curl_slist *h = curl_slist_append(NULL, "x-api-key: " KEY);
    /* A name the stand-in is asked for; libcurl does not resolve it when a proxy is set. */
    curl_easy_setopt(e, CURLOPT_URL, "http://weft-proxy-test.invalid/v5/spans/batch");
    curl_easy_setopt(e, CURLOPT_PROXY, wt_proxy_url(px));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
    cr_expect_eq(curl_easy_perform(e), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    cr_expect_eq(status, 502);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    cr_expect_eq(wt_proxy_connections(px), 1);
    cr_expect(wt_proxy_saw_api_key(px));
    wt_proxy_stop(px);
}

/* The rule as the REST clients and the SGP exporter apply it: without logging, on transfers
 * that turn proxies off for plain http to loopback. */
#define check_key(url, has_key) weft__url_key_allowed(NULL, (url), (has_key), true)

Test(url, lets_a_key_go_over_https_or_to_loopback_over_plain_http)
{
    cr_assert_eq(check_key("https://api.egp.scale.com", true), 0);
    cr_assert_eq(check_key("HTTPS://api.example.com/v5", true), 0);
    cr_assert_eq(check_key("http://127.0.0.1:8080/v5", true), 0);
    cr_assert_eq(check_key("http://localhost", true), 0);
    cr_assert_eq(check_key("HTTP://LOCALHOST:5000/", true), 0);
    cr_assert_eq(check_key("http://[::1]:80/x", true), 0);
    cr_assert_eq(check_key("http://evil.com@127.0.0.1/", true), 0,
                 "userinfo is skipped: the host is loopback");
    cr_assert_eq(check_key("http://example.com", false), 0, "no key, no rule");
}

Test(url, refuses_a_key_over_plain_http_to_any_other_host)
{
    cr_assert_eq(check_key("http://example.com", true), WEFT_EINSECURE);
    cr_assert_eq(check_key("http://10.0.0.1:80/", true), WEFT_EINSECURE);
    cr_assert_eq(check_key("http://127.0.0.1@evil.com/", true), WEFT_EINSECURE,
                 "the host is after the last @");
    cr_assert_eq(check_key("http://127.0.0.1.evil.com/", true), WEFT_EINSECURE);
    cr_assert_eq(check_key("http://evil.com/127.0.0.1", true), WEFT_EINSECURE);
    cr_assert_eq(check_key("http://evil.com?x=@127.0.0.1", true), WEFT_EINSECURE);
    cr_assert_eq(check_key("http://evil.com#@127.0.0.1", true), WEFT_EINSECURE);
    cr_assert_lt(check_key("http://[::1", true), 0, "an unclosed bracket is refused");
    cr_assert_eq(check_key("http://[::ffff:8.8.8.8]/", true), WEFT_EINSECURE);
    cr_assert_lt(check_key("http://", true), 0, "no host is refused");
}

Test(url, refuses_an_unknown_scheme_or_no_url)
{
    cr_assert_eq(check_key("ftp://127.0.0.1", true), WEFT_ECONFIG);
    cr_assert_eq(check_key("api.example.com", false), WEFT_ECONFIG);
    cr_assert_eq(check_key("", true), WEFT_ECONFIG);
    cr_assert_eq(check_key(NULL, false), WEFT_ECONFIG);
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
    cr_assert_not(u.ipv6);
    u = parsed("http://h:8080");
    cr_assert_not(u.https);
    host_is(&u, "h");
    cr_assert_eq(u.port, 8080);
    u = parsed("http://user:pw@host.example:81/p?q#f");
    host_is(&u, "host.example");
    cr_assert_eq(u.port, 81);
    u = parsed("HTTP://[::1]:9/x");
    cr_assert(u.ipv6);
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
