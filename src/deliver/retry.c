/*
 * retry.c — the pure half of the delivery policy (see retry.h): outcome classification,
 * full-jitter backoff, Retry-After / retry-after-ms parsing and `detail` extraction.
 *
 * Invariants: no I/O, no clock, no allocation, no global state; every byte range is read only
 * within [s, s + len) and never assumed NUL-terminated; every function returns a defined value
 * for any input (tests/fuzz/fuzz_retry_after.c checks that under ASan/UBSan).
 */
#include "retry.h"

#include <string.h>

weft__verdict weft__retry_classify(int status, weft__http_err err)
{
    switch (err) {
    case WEFT__HTTP_OK:
        break;
    case WEFT__HTTP_ECONNECT:
    case WEFT__HTTP_ETIMEDOUT:
    case WEFT__HTTP_EIO:
    case WEFT__HTTP_ETLS:
        /* DESIGN.md section 7: connect and timeout errors are retried. A reset or a TLS failure
         * is as likely to be a restarting proxy as a lasting fault, and the retry window bounds
         * how long we try. */
        return WEFT__V_RETRY;
    case WEFT__HTTP_ETLS_VERIFY:
        /* A certificate refused is configuration (a wrong host, a missing CA bundle): no
         * retry fixes it, so it pauses like refused credentials and probes rarely. */
        return WEFT__V_PAUSE;
    case WEFT__HTTP_ECANCELED:
    case WEFT__HTTP_EFATAL:
    default:
        return WEFT__V_DROP;
    }
    if (status >= 200 && status <= 299)
        return WEFT__V_DONE;
    switch (status) {
    case 408: /* Request Timeout */
    case 429: /* Too Many Requests */
        return WEFT__V_RETRY;
    case 413: /* Content Too Large */
        return WEFT__V_SPLIT;
    case 400: /* the whole batch fails on one bad id (DESIGN.md section 4) */
    case 409: /* cycle, or parent in another trace */
    case 422: /* validation */
        return WEFT__V_BISECT;
    case 401:
    case 403:
        return WEFT__V_PAUSE;
    default:
        break;
    }
    if (status >= 500 && status <= 599)
        return WEFT__V_RETRY;
    /* Not a status at all: a broken answer, like a reset. */
    if (status < 100 || status > 599)
        return WEFT__V_RETRY;
    return WEFT__V_DROP;
}

const char *weft__retry_verdict_name(weft__verdict v)
{
    switch (v) {
    case WEFT__V_DONE: return "done";
    case WEFT__V_RETRY: return "retry";
    case WEFT__V_SPLIT: return "split";
    case WEFT__V_BISECT: return "bisect";
    case WEFT__V_PAUSE: return "pause";
    case WEFT__V_DROP: return "drop";
    }
    return "unknown";
}

uint64_t weft__retry_backoff_ms(unsigned attempt, uint64_t rnd)
{
    /* 500 << 6 = 32000 > 30000: from the seventh retry on the ceiling is the cap. */
    uint64_t ceiling = attempt >= 6 ? WEFT__RETRY_CAP_MS : (uint64_t)WEFT__RETRY_BASE_MS << attempt;
    if (ceiling > WEFT__RETRY_CAP_MS)
        ceiling = WEFT__RETRY_CAP_MS;
    return rnd % (ceiling + 1);
}

uint64_t weft__retry_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* ---- small scanners ---------------------------------------------------------------------- */

static bool is_ows(char c) { return c == ' ' || c == '\t'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Trims optional whitespace (RFC 9110 OWS) at both ends. */
static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_ows(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_ows((*s)[*len - 1]))
        (*len)--;
}

/* Exactly n digits at s[*i]; advances *i. */
static bool digits(const char *s, size_t len, size_t *i, unsigned n, int *out)
{
    int v = 0;
    if (len - *i < n)
        return false;
    for (unsigned k = 0; k < n; k++) {
        char c = s[*i + k];
        if (!is_digit(c))
            return false;
        v = v * 10 + (c - '0');
    }
    *i += n;
    *out = v;
    return true;
}

/* The literal text lit at s[*i]; advances *i. Case-sensitive: RFC 9110 section 5.6.7 says an
 * HTTP-date is case-sensitive. */
static bool lit(const char *s, size_t len, size_t *i, const char *text)
{
    size_t n = strlen(text);
    if (len - *i < n || memcmp(s + *i, text, n) != 0)
        return false;
    *i += n;
    return true;
}

static const char *const day_short[7] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const day_long[7] = {"Monday", "Tuesday", "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};
static const char *const month_name[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static bool one_of(const char *s, size_t len, size_t *i, const char *const *names, int n, int *out)
{
    for (int k = 0; k < n; k++) {
        if (lit(s, len, i, names[k])) {
            *out = k;
            return true;
        }
    }
    return false;
}

static bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int month_days(int64_t y, int m /* 1..12 */)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return (m == 2 && leap(y)) ? 29 : d[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant, "chrono-Compatible
 * Low-Level Date Algorithms", days_from_civil). Exact for every year we accept (0..9999). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The civil year of a day count (the inverse's year only; same source). */
static int64_t year_from_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    return y + (m <= 2);
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

/* time-of-day = hour ":" minute ":" second; 60 allowed for a leap second (RFC 9110 5.6.7). */
static bool time_of_day(const char *s, size_t len, size_t *i, int *hh, int *mm, int *ss)
{
    return digits(s, len, i, 2, hh) && lit(s, len, i, ":") && digits(s, len, i, 2, mm) &&
           lit(s, len, i, ":") && digits(s, len, i, 2, ss) && *hh <= 23 && *mm <= 59 && *ss <= 60;
}

bool weft__http_date_parse(const char *s, size_t len, int64_t now_unix_s, int64_t *unix_s)
{
    if (s == NULL)
        return false;
    trim(&s, &len);
    size_t i = 0;
    int wd, day, mon, hh, mm, ss, y;
    int64_t year;

    if (one_of(s, len, &i, day_long, 7, &wd) && lit(s, len, &i, ", ")) {
        /* rfc850-date: Sunday, 06-Nov-94 08:49:37 GMT */
        int yy;
        if (!(digits(s, len, &i, 2, &day) && lit(s, len, &i, "-") &&
              one_of(s, len, &i, month_name, 12, &mon) && lit(s, len, &i, "-") &&
              digits(s, len, &i, 2, &yy) && lit(s, len, &i, " ") &&
              time_of_day(s, len, &i, &hh, &mm, &ss) && lit(s, len, &i, " GMT")))
            return false;
        /* RFC 9110 5.6.7: a two-digit year more than 50 years in the future is in the past
         * century; we take the year with those last digits nearest to now. */
        int64_t now_year = year_from_days(floor_div(now_unix_s, 86400));
        year = floor_div(now_year, 100) * 100 + yy;
        if (year > now_year + 50)
            year -= 100;
        else if (year <= now_year - 50)
            year += 100;
    } else {
        i = 0;
        if (!one_of(s, len, &i, day_short, 7, &wd))
            return false;
        if (lit(s, len, &i, ", ")) {
            /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
            if (!(digits(s, len, &i, 2, &day) && lit(s, len, &i, " ") &&
                  one_of(s, len, &i, month_name, 12, &mon) && lit(s, len, &i, " ") &&
                  digits(s, len, &i, 4, &y) && lit(s, len, &i, " ") &&
                  time_of_day(s, len, &i, &hh, &mm, &ss) && lit(s, len, &i, " GMT")))
                return false;
        } else if (lit(s, len, &i, " ")) {
            /* asctime-date: Sun Nov  6 08:49:37 1994 (day as 2DIGIT or SP DIGIT) */
            if (!(one_of(s, len, &i, month_name, 12, &mon) && lit(s, len, &i, " ")))
                return false;
            if (lit(s, len, &i, " ")) {
                if (!digits(s, len, &i, 1, &day))
                    return false;
            } else if (!digits(s, len, &i, 2, &day)) {
                return false;
            }
            if (!(lit(s, len, &i, " ") && time_of_day(s, len, &i, &hh, &mm, &ss) &&
                  lit(s, len, &i, " ") && digits(s, len, &i, 4, &y)))
                return false;
        } else {
            return false;
        }
        year = y;
    }
    if (i != len)
        return false; /* trailing bytes: garbage */
    if (day < 1 || day > month_days(year, mon + 1))
        return false;
    (void)wd; /* RFC 9110 does not ask recipients to check the weekday against the date */
    *unix_s = days_from_civil(year, mon + 1, day) * 86400 + hh * 3600 + mm * 60 + ss;
    return true;
}

/* UINT32_MAX ms (about 49.7 days): longer waits mean "not within any retry window" anyway, and
 * saturating keeps every sum with a uv_now() value far from overflow. */
#define DELAY_MAX ((uint64_t)UINT32_MAX)

bool weft__retry_after_parse(const char *s, size_t len, int64_t now_unix_ms, uint64_t *delay_ms)
{
    if (s == NULL)
        return false;
    trim(&s, &len);
    if (len == 0)
        return false;
    if (is_digit(s[0])) {
        /* delta-seconds = 1*DIGIT */
        uint64_t v = 0;
        for (size_t i = 0; i < len; i++) {
            if (!is_digit(s[i]))
                return false;
            if (v <= DELAY_MAX)
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        v = v > DELAY_MAX / 1000 ? DELAY_MAX : v * 1000;
        *delay_ms = v;
        return true;
    }
    int64_t when;
    if (!weft__http_date_parse(s, len, floor_div(now_unix_ms, 1000), &when))
        return false;
    /* Years 0..9999 keep when * 1000 within int64_t (about +-2.9e14 ms). */
    int64_t d = when * 1000 - now_unix_ms;
    if (d <= 0)
        *delay_ms = 0;
    else
        *delay_ms = (uint64_t)d > DELAY_MAX ? DELAY_MAX : (uint64_t)d;
    return true;
}

bool weft__retry_after_ms_parse(const char *s, size_t len, uint64_t *delay_ms)
{
    if (s == NULL)
        return false;
    trim(&s, &len);
    size_t i = 0;
    uint64_t v = 0;
    while (i < len && is_digit(s[i])) {
        if (v <= DELAY_MAX)
            v = v * 10 + (uint64_t)(s[i] - '0');
        i++;
    }
    if (i == 0)
        return false;
    if (i < len && s[i] == '.') {
        size_t start = ++i;
        bool nonzero = false;
        while (i < len && is_digit(s[i])) {
            nonzero |= s[i] != '0';
            i++;
        }
        if (i == start)
            return false;
        if (nonzero)
            v++; /* round a fractional millisecond up: never retry early */
    }
    if (i != len)
        return false;
    *delay_ms = v > DELAY_MAX ? DELAY_MAX : v;
    return true;
}

uint64_t weft__retry_delay_ms(const char *retry_after, size_t ra_len, const char *retry_after_ms,
                              size_t ram_len, int64_t now_unix_ms, unsigned attempt, uint64_t rnd,
                              bool *from_server)
{
    uint64_t d;
    bool server = true;
    if (!(retry_after_ms && weft__retry_after_ms_parse(retry_after_ms, ram_len, &d)) &&
        !(retry_after && weft__retry_after_parse(retry_after, ra_len, now_unix_ms, &d))) {
        d = weft__retry_backoff_ms(attempt, rnd);
        server = false;
    }
    if (from_server)
        *from_server = server;
    return d;
}

/* ---- detail ------------------------------------------------------------------------------ */

static void put(char *out, size_t outlen, size_t *n, char c)
{
    if (*n + 1 >= outlen)
        return;
    unsigned char u = (unsigned char)c;
    out[(*n)++] = (u < 0x20 || u >= 0x7f) ? '?' : c;
}

size_t weft__retry_detail(const char *body, size_t len, char *out, size_t outlen)
{
    size_t n = 0;
    if (outlen == 0)
        return 0;
    out[0] = '\0';
    if (body == NULL)
        return 0;
    static const char key[] = "\"detail\"";
    size_t klen = sizeof(key) - 1, i = 0;
    bool found = false;
    for (size_t k = 0; k + klen <= len; k++) {
        if (memcmp(body + k, key, klen) == 0) {
            i = k + klen;
            while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
                i++;
            if (i < len && body[i] == ':') {
                i++;
                while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
                    i++;
                found = i < len;
                break;
            }
        }
    }
    if (!found) {
        /* No detail member: the start of the body says more than nothing. */
        for (size_t k = 0; k < len && n + 1 < outlen; k++)
            put(out, outlen, &n, body[k] == '\n' || body[k] == '\r' || body[k] == '\t' ? ' ' : body[k]);
        out[n] = '\0';
        return n;
    }
    if (body[i] == '"') {
        /* A string: its contents, escapes reduced to the escaped character. */
        for (i++; i < len && body[i] != '"' && n + 1 < outlen; i++) {
            char c = body[i];
            if (c == '\\' && i + 1 < len) {
                c = body[++i];
                if (c == 'n' || c == 'r' || c == 't')
                    c = ' ';
            }
            put(out, outlen, &n, c);
        }
    } else {
        /* Any other value (FastAPI sends a list of errors): its raw text, to its end. */
        int depth = 0;
        bool in_str = false;
        for (; i < len && n + 1 < outlen; i++) {
            char c = body[i];
            if (in_str) {
                if (c == '\\' && i + 1 < len) {
                    put(out, outlen, &n, c);
                    c = body[++i];
                } else if (c == '"') {
                    in_str = false;
                }
            } else if (c == '"') {
                in_str = true;
            } else if (c == '[' || c == '{') {
                depth++;
            } else if (c == ']' || c == '}') {
                if (depth == 0)
                    break;
                depth--;
            } else if (c == ',' && depth == 0) {
                break;
            }
            put(out, outlen, &n, c == '\n' || c == '\r' || c == '\t' ? ' ' : c);
            if (depth == 0 && !in_str && (c == ']' || c == '}'))
                break;
        }
    }
    out[n] = '\0';
    return n;
}
