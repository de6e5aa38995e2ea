/*
 * test_retry.c — the pure delivery-policy codec of src/retry.c: outcome classification,
 * full-jitter backoff bounds, every Retry-After form of RFC 9110 (and garbage), retry-after-ms,
 * and `detail` extraction. No I/O, no clock: times are pinned.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "retry.h"

/* RFC 9110's own example instant: Sun, 06 Nov 1994 08:49:37 GMT. */
#define EXAMPLE_S INT64_C(784111777)
/* 2026-01-01T00:00:00Z, a "now" for two-digit years. */
#define NOW_2026_S INT64_C(1767225600)

static bool ra(const char *s, int64_t now_ms, uint64_t *d) { return weft__retry_after_parse(s, strlen(s), now_ms, d); }
static bool ram(const char *s, uint64_t *d) { return weft__retry_after_ms_parse(s, strlen(s), d); }
static bool date(const char *s, int64_t *t) { return weft__http_date_parse(s, strlen(s), NOW_2026_S, t); }

Test(retry, classifies_statuses_as_design_section_7_says)
{
    cr_expect_eq(weft__retry_classify(200, WEFT__HTTP_OK), WEFT__V_DONE);
    cr_expect_eq(weft__retry_classify(204, WEFT__HTTP_OK), WEFT__V_DONE);
    cr_expect_eq(weft__retry_classify(299, WEFT__HTTP_OK), WEFT__V_DONE);
    int retry[] = {408, 429, 500, 502, 503, 504, 599};
    for (size_t i = 0; i < sizeof retry / sizeof *retry; i++)
        cr_expect_eq(weft__retry_classify(retry[i], WEFT__HTTP_OK), WEFT__V_RETRY, "%d", retry[i]);
    cr_expect_eq(weft__retry_classify(413, WEFT__HTTP_OK), WEFT__V_SPLIT);
    cr_expect_eq(weft__retry_classify(400, WEFT__HTTP_OK), WEFT__V_BISECT);
    cr_expect_eq(weft__retry_classify(409, WEFT__HTTP_OK), WEFT__V_BISECT);
    cr_expect_eq(weft__retry_classify(422, WEFT__HTTP_OK), WEFT__V_BISECT);
    cr_expect_eq(weft__retry_classify(401, WEFT__HTTP_OK), WEFT__V_PAUSE);
    cr_expect_eq(weft__retry_classify(403, WEFT__HTTP_OK), WEFT__V_PAUSE);
    int drop[] = {100, 301, 302, 404, 405, 410, 418};
    for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
        cr_expect_eq(weft__retry_classify(drop[i], WEFT__HTTP_OK), WEFT__V_DROP, "%d", drop[i]);
    /* Not a status: a broken answer, retried like a reset. */
    cr_expect_eq(weft__retry_classify(0, WEFT__HTTP_OK), WEFT__V_RETRY);
    cr_expect_eq(weft__retry_classify(600, WEFT__HTTP_OK), WEFT__V_RETRY);
    cr_expect_eq(weft__retry_classify(-5, WEFT__HTTP_OK), WEFT__V_RETRY);
}

Test(retry, classifies_transport_errors_whatever_the_status)
{
    cr_expect_eq(weft__retry_classify(0, WEFT__HTTP_ECONNECT), WEFT__V_RETRY);
    cr_expect_eq(weft__retry_classify(0, WEFT__HTTP_ETIMEDOUT), WEFT__V_RETRY);
    cr_expect_eq(weft__retry_classify(200, WEFT__HTTP_EIO), WEFT__V_RETRY);
    cr_expect_eq(weft__retry_classify(0, WEFT__HTTP_ETLS), WEFT__V_RETRY);
    cr_expect_eq(weft__retry_classify(0, WEFT__HTTP_EFATAL), WEFT__V_DROP);
    cr_expect_eq(weft__retry_classify(200, WEFT__HTTP_ECANCELED), WEFT__V_DROP);
    cr_expect_str_eq(weft__retry_verdict_name(WEFT__V_BISECT), "bisect");
    cr_expect_str_eq(weft__retry_verdict_name((weft__verdict)99), "unknown");
}

Test(retry, backoff_stays_within_full_jitter_bounds)
{
    uint64_t st = 42;
    for (unsigned a = 0; a < 40; a++) {
        uint64_t ceiling = a >= 6 ? 30000 : 500u << a;
        if (ceiling > 30000)
            ceiling = 30000;
        uint64_t max_seen = 0, sum = 0;
        for (int k = 0; k < 20000; k++) {
            uint64_t d = weft__retry_backoff_ms(a, weft__retry_rand(&st));
            cr_assert_leq(d, ceiling, "attempt %u gave %llu", a, (unsigned long long)d);
            if (d > max_seen)
                max_seen = d;
            sum += d;
        }
        /* Uniform on [0, ceiling]: the mean is near ceiling / 2 and the top is reached. */
        double mean = (double)sum / 20000.0;
        cr_expect(mean > ceiling * 0.45 && mean < ceiling * 0.55, "attempt %u mean %.1f", a, mean);
        cr_expect_geq(max_seen, ceiling * 97 / 100);
    }
    cr_expect_eq(weft__retry_backoff_ms(0, 500), 500);
    cr_expect_eq(weft__retry_backoff_ms(0, 501), 0);
    cr_expect_eq(weft__retry_backoff_ms(UINT32_MAX, UINT64_MAX), UINT64_MAX % 30001);
}

Test(retry, random_values_differ_and_advance_the_state)
{
    uint64_t a = 1, b = 1;
    uint64_t x = weft__retry_rand(&a), y = weft__retry_rand(&a);
    cr_expect_neq(x, y);
    cr_expect_eq(weft__retry_rand(&b), x);
}

Test(retry, parses_delta_seconds)
{
    uint64_t d = 7;
    cr_assert(ra("120", 0, &d));
    cr_expect_eq(d, 120000);
    cr_assert(ra("0", 0, &d));
    cr_expect_eq(d, 0);
    cr_assert(ra(" \t5 ", 0, &d));
    cr_expect_eq(d, 5000);
    cr_assert(ra("0001", 0, &d));
    cr_expect_eq(d, 1000);
    /* Far too long to wait: saturates rather than wrapping to a short wait. */
    cr_assert(ra("99999999999999999999999999", 0, &d));
    cr_expect_eq(d, UINT32_MAX);
    cr_assert(ra("4294968", 0, &d));
    cr_expect_eq(d, UINT32_MAX);
}

Test(retry, parses_all_three_http_date_forms_to_the_same_instant)
{
    int64_t t = 0;
    cr_assert(date("Sun, 06 Nov 1994 08:49:37 GMT", &t));
    cr_expect_eq(t, EXAMPLE_S);
    t = 0;
    cr_assert(date("Sunday, 06-Nov-94 08:49:37 GMT", &t));
    cr_expect_eq(t, EXAMPLE_S);
    t = 0;
    cr_assert(date("Sun Nov  6 08:49:37 1994", &t));
    cr_expect_eq(t, EXAMPLE_S);
    cr_assert(date("Wed Nov 16 08:49:37 1994", &t));
    cr_expect_eq(t, EXAMPLE_S + 10 * 86400);
    cr_assert(date("  Thu, 01 Jan 1970 00:00:00 GMT\t", &t));
    cr_expect_eq(t, 0);
    cr_assert(date("Tue, 29 Feb 2000 23:59:60 GMT", &t)); /* leap day and leap second */
    cr_expect_eq(t, INT64_C(951868800)); /* = 2000-03-01T00:00:00Z */
}

Test(retry, places_two_digit_years_within_fifty_years_of_now)
{
    int64_t t;
    cr_assert(date("Tuesday, 01-Jan-30 00:00:00 GMT", &t));
    cr_expect_eq(t, INT64_C(1893456000)); /* 2030, not 1930 */
    cr_assert(date("Saturday, 01-Jan-77 00:00:00 GMT", &t));
    cr_expect_eq(t, INT64_C(220924800)); /* 1977: 2077 is 51 years ahead */
    cr_assert(date("Wednesday, 01-Jan-76 00:00:00 GMT", &t));
    cr_expect_eq(t, INT64_C(3345062400)); /* 2076: exactly 50 years ahead is kept */
}

Test(retry, turns_a_date_into_a_wait_from_now)
{
    uint64_t d = 1;
    int64_t now_ms = EXAMPLE_S * 1000 - 12500;
    cr_assert(ra("Sun, 06 Nov 1994 08:49:37 GMT", now_ms, &d));
    cr_expect_eq(d, 12500);
    cr_assert(ra("Sun Nov  6 08:49:37 1994", now_ms, &d));
    cr_expect_eq(d, 12500);
    /* A date in the past: retry at once. */
    cr_assert(ra("Sun, 06 Nov 1994 08:49:37 GMT", EXAMPLE_S * 1000 + 1, &d));
    cr_expect_eq(d, 0);
    /* Far in the future: saturates. */
    cr_assert(ra("Fri, 31 Dec 9999 23:59:59 GMT", 0, &d));
    cr_expect_eq(d, UINT32_MAX);
}

Test(retry, rejects_garbage_retry_after)
{
    const char *bad[] = {
        "", " ", "-1", "+5", "1.5", "5s", "5 5", "abc", "0x10", "1,2",
        "Sun, 06 Nov 1994 08:49:37 UTC",   /* GMT only */
        "sun, 06 Nov 1994 08:49:37 GMT",   /* case-sensitive */
        "Sun, 06 nov 1994 08:49:37 GMT",
        "Sun, 6 Nov 1994 08:49:37 GMT",    /* 2DIGIT day in IMF-fixdate */
        "Sun, 06 Nov 94 08:49:37 GMT",     /* 4DIGIT year */
        "Sun, 06 Nov 1994 8:49:37 GMT",
        "Sun, 06 Nov 1994 24:00:00 GMT",
        "Sun, 06 Nov 1994 23:60:00 GMT",
        "Sun, 06 Nov 1994 23:59:61 GMT",
        "Sun, 31 Feb 1994 08:49:37 GMT",   /* no such day */
        "Thu, 29 Feb 1900 00:00:00 GMT",   /* 1900 is not a leap year */
        "Sun, 00 Nov 1994 08:49:37 GMT",
        "Fun, 06 Nov 1994 08:49:37 GMT",
        "Sun 06 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 08:49:37 GMT x",
        "Sun, 06 Nov 1994 08:49:37 GMTGMT",
        "Sunday, 06-Nov-1994 08:49:37 GMT",
        "Sunday, 06 Nov 94 08:49:37 GMT",
        "Sun, 06-Nov-94 08:49:37 GMT",     /* rfc850 needs the long day name */
        "Sun Nov 6 08:49:37 1994",         /* asctime pads one-digit days with a space */
        "Sun Nov  6 08:49:37 94",
        "Sun Nov   6 08:49:37 1994",
        "Sun Nov  6 08:49:37 1994 GMT",
        "Sun,",
        "Sunday",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        uint64_t d = 777;
        cr_expect_not(ra(bad[i], EXAMPLE_S * 1000, &d), "accepted \"%s\"", bad[i]);
        cr_expect_eq(d, 777, "\"%s\" wrote the output", bad[i]);
    }
    uint64_t d;
    cr_expect_not(weft__retry_after_parse(NULL, 3, 0, &d));
    /* Embedded NUL: a byte range, not a C string. */
    cr_expect_not(weft__retry_after_parse("12\0", 3, 0, &d));
}

Test(retry, parses_retry_after_ms)
{
    uint64_t d = 0;
    cr_assert(ram("1500", &d));
    cr_expect_eq(d, 1500);
    cr_assert(ram(" 0 ", &d));
    cr_expect_eq(d, 0);
    cr_assert(ram("12.5", &d));
    cr_expect_eq(d, 13);
    cr_assert(ram("12.000", &d));
    cr_expect_eq(d, 12);
    cr_assert(ram("123456789012345678901234567890", &d));
    cr_expect_eq(d, UINT32_MAX);
    const char *bad[] = {"", "-1", "+1", ".5", "1.", "1e3", "1.2.3", "ms", "10ms", "1 0"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        d = 9;
        cr_expect_not(ram(bad[i], &d), "accepted \"%s\"", bad[i]);
        cr_expect_eq(d, 9);
    }
}

Test(retry, prefers_retry_after_ms_then_retry_after_then_backoff)
{
    bool server = false;
    uint64_t d = weft__retry_delay_ms("5", 1, "250", 3, 0, 3, 123456, &server);
    cr_expect_eq(d, 250);
    cr_expect(server);
    d = weft__retry_delay_ms("5", 1, "soon", 4, 0, 3, 123456, &server);
    cr_expect_eq(d, 5000);
    cr_expect(server);
    d = weft__retry_delay_ms("later", 5, NULL, 0, 0, 3, 123456, &server);
    cr_expect_eq(d, 123456 % 4001);
    cr_expect_not(server);
    d = weft__retry_delay_ms(NULL, 0, NULL, 0, 0, 0, 99, NULL);
    cr_expect_eq(d, 99);
}

static const char *detail(const char *body, size_t outlen)
{
    static char out[256];
    weft__retry_detail(body, strlen(body), out, outlen);
    return out;
}

Test(retry, extracts_the_servers_detail)
{
    cr_expect_str_eq(detail("{\"detail\":\"span abc rejected: end before start\"}", 256),
                     "span abc rejected: end before start");
    cr_expect_str_eq(detail("{ \"code\": 7, \"detail\" :\n \"a \\\"quoted\\\" id\\nnext\" }", 256),
                     "a \"quoted\" id next");
    /* FastAPI's validation errors: a list, kept as raw text up to its end. */
    cr_expect_str_eq(detail("{\"detail\":[{\"loc\":[\"body\",0],\"msg\":\"x]\"}],\"z\":1}", 256),
                     "[{\"loc\":[\"body\",0],\"msg\":\"x]\"}]");
    cr_expect_str_eq(detail("{\"detail\": 42}", 256), "42");
    cr_expect_str_eq(detail("upstream connect error\r\n", 256), "upstream connect error  ");
    cr_expect_str_eq(detail("{\"detail\":\"\x01\xff\"}", 256), "??");
    cr_expect_str_eq(detail("{\"detail\":\"abcdef\"}", 4), "abc");
    cr_expect_str_eq(detail("{\"detail\"", 256), "{\"detail\"");
    cr_expect_str_eq(detail("", 256), "");
    char one[1] = {'x'};
    cr_expect_eq(weft__retry_detail("{\"detail\":\"a\"}", 14, one, 1), 0);
    cr_expect_eq(one[0], '\0');
    cr_expect_eq(weft__retry_detail("abc", 3, one, 0), 0);
}
