/*
 * weft_test.c — see weft_test.h. Uses Criterion's asserts, so only test programs link it.
 */
#include "weft_test.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "json.h"
#include "memory.h"
#include "runtime.h"
#include "thread.h"

int wt_init_memory(weft_config *cfg)
{
    weft_config c = {0};
    if (cfg)
        c = *cfg;
    if (!c.exporters)
        c.exporters = "memory";
    c.no_atexit = true;
    if (!c.flush_interval_ms)
        c.flush_interval_ms = 50;
    return weft_init(&c);
}

static json_t *parse_lines(void)
{
    weft__buf b;
    weft__buf_init(&b);
    cr_assert(weft__memory_snapshot(&b), "the memory exporter never ran");
    json_t *arr = json_array();
    size_t start = 0;
    for (size_t i = 0; i < b.len; i++) {
        if (b.data[i] != '\n')
            continue;
        json_error_t err;
        json_t *item = json_loadb(b.data + start, i - start, JSON_REJECT_DUPLICATES, &err);
        cr_assert(item, "exported line is not valid JSON (%s): %.*s", err.text, (int)(i - start),
                  b.data + start);
        wt_check_item(item);
        json_array_append_new(arr, item);
        start = i + 1;
    }
    cr_assert_eq(start, b.len, "last line has no newline");
    weft__buf_fini(&b);
    return arr;
}

json_t *wt_records(void)
{
    cr_assert_eq(weft_flush(10000), 0, "weft_flush failed");
    return parse_lines();
}

json_t *wt_records_after_shutdown(void) { return wt_records_after_shutdown_rc(0); }

json_t *wt_records_after_shutdown_rc(int want)
{
    int rc = weft_shutdown(5000);
    cr_assert_eq(rc, want, "weft_shutdown: %s", weft_strerror(rc));
    return parse_lines();
}

const char *wt_str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

json_t *wt_find(json_t *arr, const char *name)
{
    size_t i;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        const char *n = wt_str(it, "name");
        if (n && strcmp(n, name) == 0)
            return it;
    }
    return NULL;
}

void wt_assert_parent(json_t *recs, const char *name, const char *parent)
{
    json_t *r = wt_find(recs, name);
    cr_assert_not_null(r, "no record named %s", name);
    if (!parent) {
        cr_assert_null(json_object_get(r, "parent_id"), "%s should be a root", name);
        return;
    }
    json_t *p = wt_find(recs, parent);
    cr_assert_not_null(p, "no record named %s", parent);
    cr_assert_str_eq(wt_str(r, "parent_id"), wt_str(p, "id"), "%s is not a child of %s", name, parent);
    cr_assert_str_eq(wt_str(r, "trace_id"), wt_str(p, "trace_id"), "%s is not in %s's trace", name, parent);
}

size_t wt_count(json_t *arr, const char *name)
{
    size_t i, n = 0;
    json_t *it;
    json_array_foreach(arr, i, it)
    {
        const char *s = wt_str(it, "name");
        n += s && strcmp(s, name) == 0;
    }
    return n;
}

json_t *wt_path(json_t *obj, const char *dotted)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", dotted);
    char *save, *tok = strtok_r(buf, ".", &save);
    while (tok && obj) {
        obj = json_object_get(obj, tok);
        tok = strtok_r(NULL, ".", &save);
    }
    return obj;
}

static bool is_hex(const char *s, size_t n)
{
    if (!s || strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool is_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = (i == 8 || i == 13 || i == 18 || i == 23);
        if (dash != (s[i] == '-'))
            return false;
        if (!dash && !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return s[14] == '4' && strchr("89ab", s[19]);
}

static bool is_ts(const char *s)
{
    /* 2026-11-22T00:08:00.123456Z */
    if (!s || strlen(s) != 27)
        return false;
    const char *shape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    for (int i = 0; i < 27; i++) {
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return false;
    }
    return true;
}

void wt_check_item(json_t *it)
{
    cr_assert(json_is_object(it));
    cr_assert(is_uuid(wt_str(it, "id")), "bad id %s", wt_str(it, "id"));
    cr_assert(is_uuid(wt_str(it, "trace_id")), "bad trace_id");
    if (json_object_get(it, "parent_id"))
        cr_assert(is_uuid(wt_str(it, "parent_id")), "bad parent_id");
    const char *name = wt_str(it, "name");
    cr_assert(name && *name, "empty name");
    cr_assert(wt_str(it, "type"));
    const char *st = wt_str(it, "status");
    cr_assert(st && (!strcmp(st, "SUCCESS") || !strcmp(st, "ERROR") || !strcmp(st, "CANCELED")));
    const char *start = wt_str(it, "start_timestamp"), *end = wt_str(it, "end_timestamp");
    cr_assert(is_ts(start), "bad start %s", start);
    if (end) {
        cr_assert(is_ts(end), "bad end %s", end);
        cr_assert(strcmp(end, start) >= 0, "end %s before start %s", end, start);
    }
    cr_assert(json_is_object(json_object_get(it, "input")));
    cr_assert(json_is_object(json_object_get(it, "output")));
    cr_assert(json_is_object(json_object_get(it, "metadata")));
    cr_assert(is_hex(wt_str(it, "obs_trace_id"), 32));
    cr_assert(is_hex(wt_str(it, "obs_span_id"), 16));
}

/* Microseconds since the epoch of a checked timestamp (2026-11-22T00:08:00.123456Z). */
static int64_t ts_us(const char *s)
{
    cr_assert(is_ts(s), "bad timestamp %s", s ? s : "(none)");
    struct tm tm = {0};
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    tm.tm_hour = atoi(s + 11);
    tm.tm_min = atoi(s + 14);
    tm.tm_sec = atoi(s + 17);
    return (int64_t)timegm(&tm) * 1000000 + atoi(s + 20);
}

double wt_span_ms(json_t *item)
{
    int64_t start = ts_us(wt_str(item, "start_timestamp")), end = ts_us(wt_str(item, "end_timestamp"));
    return (double)(end - start) / 1000.0;
}

const char *wt_show(const char *s, size_t len)
{
    static char out[4][4096];
    static int slot;
    char *o = out[slot++ & 3];
    size_t k = 0;
    for (size_t i = 0; i < len && k < 4000; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x20 && ch < 0x7f && ch != '\\')
            o[k++] = (char)ch;
        else
            k += (size_t)sprintf(o + k, "\\x%02x", ch);
    }
    o[k] = 0;
    return o;
}

json_t *wt_must_parse(const char *text, size_t len)
{
    json_error_t err;
    json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &err);
    cr_assert(v != NULL, "jansson rejects [%s]: %s", wt_show(text, len), err.text);
    cr_assert(weft__json_valid(text, len), "weft__json_valid rejects [%s]", wt_show(text, len));
    return v;
}

/* For suites in C++, which cannot include the library's C11 headers (runtime.h, thread.h). */
void wt_sample_all(bool keep) { weft__rt.hot.sample_below = keep ? UINT64_MAX : 0; }

bool wt_thread_registered(void) { return weft__tls != NULL; }

uint64_t wt_ring_head(void)
{
    return weft__tls ? atomic_load_explicit(&weft__tls->ring.head, memory_order_acquire) : 0;
}
