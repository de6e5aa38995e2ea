/*
 * test_redact.c — redaction before anything leaves the process, and the filter callback
 * that may rewrite or drop a record.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "redact.h"
#include "weft/weft.h"
#include "weft_test.h"

Test(redact, glob_patterns_match_case_insensitively)
{
    struct {
        const char *pat, *key;
        bool match;
    } t[] = {
        {"*api_key*", "OPENAI_API_KEY", true}, {"*api_key*", "api_key", true},
        {"*api_key*", "apikey", false},        {"token", "Token", true},
        {"token", "tokens", false},            {"*_token", "refresh_token", true},
        {"*_token", "input_tokens", false},    {"a?c", "abc", true},
        {"a?c", "ac", false},                  {"*", "", true},
        {"**x**", "x", true},                  {"*secret*", "client-SECRET-v2", true},
        {"authorization", "Authorization", true}, {"x*y*z", "xaaybbz", true},
        {"x*y*z", "xaaybb", false},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        cr_assert_eq(weft__glob_match(t[i].pat, t[i].key, strlen(t[i].key)), t[i].match, "%s vs %s", t[i].pat,
                     t[i].key);
}

Test(redact, nested_json_values_are_rewritten_at_any_depth)
{
    const char *pats[] = {"authorization", "*password*"};
    weft__redact *rd = weft__redact_new(pats, 2);
    weft__buf out;
    weft__buf_init(&out);
    const char *in = "{\"url\":\"https://x\",\"headers\":{\"Authorization\":\"Bearer abc\",\"n\":[1,{\"password\""
                     ":{\"deep\":true}}]},\"s\":\"authorization\"}";
    size_t n = weft__redact_json(rd, &out, in, strlen(in));
    cr_assert_eq(n, 2);
    cr_assert_eq(out.len, strlen("{\"url\":\"https://x\",\"headers\":{\"Authorization\":\"[REDACTED]\",\"n\":[1,{"
                                 "\"password\":\"[REDACTED]\"}]},\"s\":\"authorization\"}"));
    cr_assert_eq(memcmp(out.data,
                        "{\"url\":\"https://x\",\"headers\":{\"Authorization\":\"[REDACTED]\",\"n\":[1,{\"password\":"
                        "\"[REDACTED]\"}]},\"s\":\"authorization\"}",
                        out.len),
                 0, "%.*s", (int)out.len, out.data);
    weft__buf_reset(&out);
    cr_assert_eq(weft__redact_json(rd, &out, "[1,\"password\",{\"ok\":1}]", 24), 0, "a value is not a key");
    weft__buf_fini(&out);
    weft__redact_free(rd);
}

Test(redact, default_patterns_hide_secrets_but_not_token_counts)
{
    unsetenv("WEFT_REDACT_KEYS");
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span s = weft_span_begin("call api", WEFT_TYPE_EXTERNAL_ENDPOINT);
    weft_span_set_str(s, WEFT_INPUT, "api_key", "sk-live-123");
    weft_span_set_str(s, WEFT_INPUT, "query", "hello");
    weft_span_set_i64(s, WEFT_METADATA, "input_tokens", 12);
    const char *hdr = "{\"Cookie\":\"session=1\",\"Accept\":\"*/*\"}";
    weft_span_set_json(s, WEFT_INPUT, "headers", hdr, strlen(hdr));
    weft_span_end(s);
    json_t *recs = wt_records_after_shutdown();
    json_t *r = json_array_get(recs, 0);
    cr_assert_str_eq(wt_str(wt_path(r, "input"), "api_key"), "[REDACTED]");
    cr_assert_str_eq(wt_str(wt_path(r, "input"), "query"), "hello");
    cr_assert_eq(json_integer_value(wt_path(r, "metadata.input_tokens")), 12);
    cr_assert_str_eq(wt_str(wt_path(r, "input.headers"), "Cookie"), "[REDACTED]");
    cr_assert_str_eq(wt_str(wt_path(r, "input.headers"), "Accept"), "*/*");
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.redacted, 2);
}

Test(redact, configured_patterns_replace_the_defaults_and_none_turns_it_off)
{
    const char *mine[] = {"ssn"};
    weft_config c = {.redact_keys = mine, .n_redact_keys = 1};
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span s = weft_span_begin("x", WEFT_TYPE_CUSTOM);
    weft_span_set_str(s, WEFT_INPUT, "ssn", "123-45-6789");
    weft_span_set_str(s, WEFT_INPUT, "password", "visible: not in my list");
    weft_span_end(s);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_str_eq(wt_str(wt_path(json_array_get(recs, 0), "input"), "ssn"), "[REDACTED]");
    cr_assert_str_eq(wt_str(wt_path(json_array_get(recs, 0), "input"), "password"), "visible: not in my list");
    json_decref(recs);

    setenv("WEFT_REDACT_KEYS", "none", 1);
    cr_assert_eq(wt_init_memory(NULL), 0);
    unsetenv("WEFT_REDACT_KEYS");
    s = weft_span_begin("y", WEFT_TYPE_CUSTOM);
    weft_span_set_str(s, WEFT_INPUT, "api_key", "shown");
    weft_span_end(s);
    recs = wt_records_after_shutdown();
    cr_assert_str_eq(wt_str(wt_path(json_array_get(recs, 0), "input"), "api_key"), "shown");
    json_decref(recs);
}

static bool my_filter(void *user, weft_record *r)
{
    int *calls = user;
    (*calls)++;
    size_t n;
    const char *name = weft_record_name(r, &n);
    if (n == 6 && memcmp(name, "health", 6) == 0)
        return false; /* drop health checks */
    const char *email = weft_record_get(r, WEFT_INPUT, "email", &n);
    if (email) {
        weft_record_remove(r, WEFT_INPUT, "email");
        weft_record_set_str(r, WEFT_METADATA, "had_email", "yes");
    }
    weft_record_set_json(r, WEFT_METADATA, "env", "{\"region\":\"eu\"}", 15);
    if (weft_record_is_root(r) && weft_record_type(r) == WEFT_TYPE_TRACER)
        weft_record_set_name(r, "renamed root");
    return true;
}

Test(redact, a_filter_can_rewrite_or_drop_records)
{
    int calls = 0;
    weft_config c = {.filter = my_filter, .filter_user = &calls};
    cr_assert_eq(wt_init_memory(&c), 0);
    weft_span root = weft_span_begin("root", WEFT_TYPE_TRACER);
    weft_span h = weft_span_begin("health", WEFT_TYPE_CUSTOM);
    weft_span_end(h);
    weft_span u = weft_span_begin("user step", WEFT_TYPE_CUSTOM);
    weft_span_set_str(u, WEFT_INPUT, "email", "a@b.c");
    weft_span_set_str(u, WEFT_INPUT, "q", "keep me");
    weft_span_end(u);
    weft_span_end(root);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 2);
    cr_assert_null(wt_find(recs, "health"));
    json_t *us = wt_find(recs, "user step");
    cr_assert_null(wt_path(us, "input.email"));
    cr_assert_str_eq(wt_str(wt_path(us, "input"), "q"), "keep me");
    cr_assert_str_eq(wt_str(wt_path(us, "metadata"), "had_email"), "yes");
    cr_assert_str_eq(wt_str(wt_path(us, "metadata.env"), "region"), "eu");
    cr_assert_not_null(wt_find(recs, "renamed root"));
    json_decref(recs);
    cr_assert_eq(calls, 3);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.filtered, 1);
    cr_assert_eq(st.exported, 2);
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The decision cache must never answer for a different key: keys that share their first and
 * last bytes, their length or their hash set are decided one by one, against the globs, again
 * and again in shuffled order. */
Test(redact, cached_decisions_belong_to_their_own_key)
{
    const char *pats[] = {"*secret*", "k?y"};
    weft__redact *rd = weft__redact_new(pats, 2);
    cr_assert_not_null(rd);
    enum { N = 4000 };
    static char keys[N][64];
    static size_t lens[N];
    uint64_t rng = 3;
    for (int i = 0; i < N; i += 2) {
        /* lengths 1..60, over and under the cache's 48-byte and the 16-byte word limits */
        size_t len = 1 + (size_t)(rng_next(&rng) % 60);
        for (size_t k = 0; k < len; k++)
            keys[i][k] = "aky_"[rng_next(&rng) % 4];
        /* its twin: the same length and ends, a secret in the middle */
        memcpy(keys[i + 1], keys[i], len);
        if (len >= 6)
            memcpy(keys[i + 1] + (len - 6) / 2, "SeCrEt", 6);
        lens[i] = lens[i + 1] = len;
    }
    for (int round = 0; round < 3; round++) {
        for (int j = 0; j < N; j++) {
            /* in order (twins one after the other), then shuffled */
            int i = round == 0 ? j : (int)((uint64_t)j * 2654435761u % N);
            bool want = weft__glob_match("*secret*", keys[i], lens[i]) || weft__glob_match("k?y", keys[i], lens[i]);
            cr_assert_eq(weft__redact_key(rd, keys[i], lens[i]), want, "round %d key [%.*s]", round,
                         (int)lens[i], keys[i]);
        }
    }
    weft__redact_free(rd);
}
