/*
 * redact.c — key patterns and the redacting JSON rewriter (see redact.h).
 *
 * Cost: every attribute key is checked, so decisions are cached in a small direct-mapped
 * table keyed by a hash of the key bytes (keys repeat: "model", "user", "messages"); a miss
 * runs the globs. Nested values are scanned only when they contain an object.
 */
#include "redact.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"

#define CACHE_SLOTS 256
#define CACHE_KEY_MAX 48 /* longer keys are matched every time */

typedef struct cache_slot {
    uint8_t len; /* 0: empty */
    bool hit;
    char key[CACHE_KEY_MAX];
} cache_slot;

struct weft__redact {
    char **patterns;
    size_t n;
    cache_slot cache[CACHE_SLOTS];
};

static inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c; }

bool weft__glob_match(const char *p, const char *s, size_t len)
{
    /* Iterative glob with one backtrack point: linear in practice, never exponential. */
    size_t i = 0;
    const char *star = NULL;
    size_t star_i = 0;
    while (i < len) {
        if (*p == '*') {
            star = p++;
            star_i = i;
        } else if (*p && (*p == '?' || lower(*p) == lower(s[i]))) {
            p++;
            i++;
        } else if (star) {
            p = star + 1;
            i = ++star_i;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == 0;
}

weft__redact *weft__redact_new(const char *const *patterns, size_t n)
{
    if (n == 0)
        return NULL;
    weft__redact *rd = calloc(1, sizeof(*rd));
    if (!rd)
        return NULL;
    rd->patterns = calloc(n, sizeof(char *));
    if (!rd->patterns) {
        free(rd);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!patterns[i] || !*patterns[i])
            continue;
        rd->patterns[rd->n] = strdup(patterns[i]);
        if (!rd->patterns[rd->n]) {
            weft__redact_free(rd);
            return NULL;
        }
        rd->n++;
    }
    return rd;
}

void weft__redact_free(weft__redact *rd)
{
    if (!rd)
        return;
    for (size_t i = 0; i < rd->n; i++)
        free(rd->patterns[i]);
    free(rd->patterns);
    free(rd);
}

static bool match_any(const weft__redact *rd, const char *key, size_t len)
{
    for (size_t i = 0; i < rd->n; i++)
        if (weft__glob_match(rd->patterns[i], key, len))
            return true;
    return false;
}

bool weft__redact_key(weft__redact *rd, const char *key, size_t len)
{
    if (!rd)
        return false;
    if (len == 0 || len > CACHE_KEY_MAX)
        return match_any(rd, key, len);
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)key[i]) * 16777619u;
    cache_slot *c = &rd->cache[h % CACHE_SLOTS];
    if (c->len == len && memcmp(c->key, key, len) == 0)
        return c->hit;
    c->len = (uint8_t)len;
    memcpy(c->key, key, len);
    c->hit = match_any(rd, key, len);
    return c->hit;
}

/* ---- the rewriter ------------------------------------------------------------------- */

/* Index just past the JSON string starting at s[i] == '"'. */
static size_t skip_string(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

/* Index just past the JSON value starting at s[i] (valid JSON assumed). */
static size_t skip_value(const char *s, size_t len, size_t i)
{
    if (s[i] == '"')
        return skip_string(s, len, i);
    if (s[i] == '{' || s[i] == '[') {
        int depth = 0;
        for (; i < len; i++) {
            char c = s[i];
            if (c == '"') {
                i = skip_string(s, len, i) - 1;
            } else if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return i + 1;
            }
        }
        return len;
    }
    while (i < len && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ' && s[i] != '\n' &&
           s[i] != '\t' && s[i] != '\r')
        i++;
    return i;
}

/* Unescaped key text is needed to match; keys with escapes are compared in their escaped
 * form, which only matters for patterns naming characters that need escaping. */
size_t weft__redact_json(weft__redact *rd, weft__buf *out, const char *s, size_t len)
{
    if (!rd || !memchr(s, '{', len))
        return 0;
    size_t replaced = 0, copied = 0, start_len = out->len;
    /* Stack of container kinds: true while inside an object and expecting a key. */
    bool in_obj[256];
    int depth = 0;
    for (size_t i = 0; i < len;) {
        char c = s[i];
        if (c == '{' || c == '[') {
            if (depth < 256)
                in_obj[depth] = (c == '{');
            depth++;
            i++;
        } else if (c == '}' || c == ']') {
            depth--;
            i++;
        } else if (c == '"') {
            size_t end = skip_string(s, len, i);
            bool is_key = depth > 0 && depth <= 256 && in_obj[depth - 1];
            if (is_key) {
                size_t j = end;
                while (j < len && (s[j] == ' ' || s[j] == '\n' || s[j] == '\t' || s[j] == '\r'))
                    j++;
                if (j < len && s[j] == ':') {
                    j++;
                    while (j < len && (s[j] == ' ' || s[j] == '\n' || s[j] == '\t' || s[j] == '\r'))
                        j++;
                    if (weft__redact_key(rd, s + i + 1, end - i - 2)) {
                        size_t vend = skip_value(s, len, j);
                        if (replaced == 0)
                            out->len = start_len;
                        weft__buf_append(out, s + copied, j - copied);
                        weft__buf_lit(out, "\"[REDACTED]\"");
                        copied = vend;
                        replaced++;
                        i = vend;
                        continue;
                    }
                    i = j; /* the value is scanned next (it may hold objects) */
                    continue;
                }
            }
            i = end;
        } else {
            i++;
        }
    }
    if (replaced)
        weft__buf_append(out, s + copied, len - copied);
    return replaced;
}
