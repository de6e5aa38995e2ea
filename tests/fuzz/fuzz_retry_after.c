/*
 * fuzz_retry_after.c — libFuzzer target for the parsers of src/retry.c that read what a server
 * sends: Retry-After (delta-seconds and the three HTTP-date forms), retry-after-ms, the
 * `detail` of an error body, and status classification. Beyond "no crash, no UB", it checks:
 *  - any accepted delay is at most UINT32_MAX ms;
 *  - an accepted HTTP-date, written back as an IMF-fixdate, parses to the same instant, and the
 *    same instant comes out of weft__retry_after_parse as a consistent delay;
 *  - detail output is NUL-terminated, shorter than its buffer, printable ASCII only;
 *  - classification is total and backoff stays within its ceiling.
 *
 *   ./fuzz_retry_after -max_total_time=60
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "retry.h"

/* 2026-01-01T00:00:00Z: a fixed "now", so a crash reproduces. */
#define NOW_S INT64_C(1767225600)

static void check(int ok)
{
    if (!ok)
        abort();
}

/* Writes unix_s as an IMF-fixdate (years 0..9999 only). */
static int imf_fixdate(int64_t t, char *out, size_t n)
{
    static const char *const days[7] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
    static const char *const mons[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    int64_t z = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    int64_t secs = t - z * 86400;
    int wd = (int)(((z % 7) + 7) % 7);
    /* civil_from_days (Howard Hinnant). */
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    y += m <= 2;
    if (y < 0 || y > 9999)
        return 0;
    snprintf(out, n, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[wd], d, mons[m - 1], (int)y,
             (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    uint64_t d = 0;

    if (weft__retry_after_parse(s, size, NOW_S * 1000, &d))
        check(d <= UINT32_MAX);
    if (weft__retry_after_ms_parse(s, size, &d))
        check(d <= UINT32_MAX);

    int64_t t;
    if (weft__http_date_parse(s, size, NOW_S, &t)) {
        char buf[64];
        int64_t t2;
        /* A leap second (:60) reads as the next minute's :00, which IMF writes as :00. */
        if (imf_fixdate(t, buf, sizeof buf)) {
            check(weft__http_date_parse(buf, strlen(buf), NOW_S, &t2));
            check(t2 == t);
        }
        uint64_t delay;
        check(weft__retry_after_parse(s, size, NOW_S * 1000, &delay));
        int64_t want = t * 1000 - NOW_S * 1000;
        check(delay == (want <= 0 ? 0 : (uint64_t)want > UINT32_MAX ? UINT32_MAX : (uint64_t)want));
    }

    char out[300];
    size_t outlen = size ? data[0] % sizeof out : 0;
    memset(out, 'Z', sizeof out);
    size_t n = weft__retry_detail(s, size, out, outlen);
    if (outlen == 0) {
        check(n == 0 && out[0] == 'Z');
    } else {
        check(n < outlen && out[n] == '\0');
        for (size_t i = 0; i < n; i++)
            check(out[i] >= 0x20 && out[i] < 0x7f);
    }

    if (size >= 3) {
        int status = (int)((uint16_t)(data[0] | data[1] << 8)) - 100;
        weft__verdict v = weft__retry_classify(status, (weft__http_err)(data[2] % 8));
        check(v >= WEFT__V_DONE && v <= WEFT__V_DROP);
        uint64_t rnd = 0;
        memcpy(&rnd, data, size < 8 ? size : 8);
        check(weft__retry_backoff_ms(data[2], rnd) <= WEFT__RETRY_CAP_MS);
        bool server;
        (void)weft__retry_delay_ms(s, size / 2, s + size / 2, size - size / 2, NOW_S * 1000, data[1],
                                   rnd, &server);
    }
    return 0;
}
