/*
 * redact.c — key patterns and the redacting JSON rewriter (see redact.h).
 *
 * Cost: every attribute key is checked, so decisions are cached in a small direct-mapped
 * table keyed by a hash of the key bytes (keys repeat: "model", "user", "messages"); a miss
 * runs the globs. Nested values are scanned only when they contain an object.
 */
#include "redact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define LOWER_MAX 256    /* keys up to this length are lowercased once for the fast forms */

/* Patterns are classified once: most are "word", "*word", "word*" or "*word*", which need
 * one comparison or one substring search on the lowercased key, not a glob walk. */
typedef enum { P_EXACT, P_PREFIX, P_SUFFIX, P_INFIX, P_GLOB } pkind;

typedef struct pattern {
    pkind kind;
    char *text; /* the glob (P_GLOB) or the lowercased literal part */
    size_t len;
} pattern;

struct weft__redact {
    weft__redact_cache cache; /* first: weft__redact_key_hashed reads it inline (redact.h) */
    pattern *p;
    size_t n;
    uint8_t victim[WEFT__REDACT_SETS]; /* the way to replace next in each set */
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

static bool classify(pattern *out, const char *g)
{
    size_t n = strlen(g);
    bool lead = n && g[0] == '*', trail = n > 1 && g[n - 1] == '*';
    size_t a = lead, b = n - (trail ? 1 : 0);
    bool plain = a <= b;
    for (size_t i = a; i < b && plain; i++)
        plain = g[i] != '*' && g[i] != '?';
    out->kind = !plain ? P_GLOB : lead && trail ? P_INFIX : lead ? P_SUFFIX : trail ? P_PREFIX : P_EXACT;
    if (out->kind == P_GLOB) {
        out->text = strdup(g);
        out->len = n;
    } else {
        out->text = strndup(g + a, b - a);
        out->len = b - a;
        for (size_t i = 0; out->text && i < out->len; i++)
            out->text[i] = lower(out->text[i]);
    }
    return out->text != NULL;
}

weft__redact *weft__redact_new(const char *const *patterns, size_t n)
{
    if (n == 0)
        return NULL;
    weft__redact *rd = calloc(1, sizeof(*rd));
    if (!rd)
        return NULL;
    rd->p = calloc(n, sizeof(pattern));
    if (!rd->p) {
        free(rd);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!patterns[i] || !*patterns[i])
            continue;
        if (!classify(&rd->p[rd->n], patterns[i])) {
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
        free(rd->p[i].text);
    free(rd->p);
    free(rd);
}

static bool match_any(const weft__redact *rd, const char *key, size_t len)
{
    char low[LOWER_MAX];
    bool have_low = len <= LOWER_MAX;
    for (size_t i = 0; have_low && i < len; i++)
        low[i] = lower(key[i]);
    for (size_t i = 0; i < rd->n; i++) {
        const pattern *p = &rd->p[i];
        if (p->kind == P_GLOB || !have_low) {
            /* The glob walk compares case-insensitively on its own. */
            char g[LOWER_MAX + 3];
            const char *glob = p->text;
            if (p->kind != P_GLOB) {
                snprintf(g, sizeof g, "%s%s%s", (p->kind == P_SUFFIX || p->kind == P_INFIX) ? "*" : "", p->text,
                         (p->kind == P_PREFIX || p->kind == P_INFIX) ? "*" : "");
                glob = g;
            }
            if (weft__glob_match(glob, key, len))
                return true;
            continue;
        }
        if (p->len > len)
            continue;
        switch (p->kind) {
        case P_EXACT:
            if (p->len == len && memcmp(low, p->text, len) == 0)
                return true;
            break;
        case P_PREFIX:
            if (memcmp(low, p->text, p->len) == 0)
                return true;
            break;
        case P_SUFFIX:
            if (memcmp(low + len - p->len, p->text, p->len) == 0)
                return true;
            break;
        default: /* P_INFIX */
            if (memmem(low, len, p->text, p->len))
                return true;
            break;
        }
    }
    return false;
}

bool weft__redact_key_miss(weft__redact *rd, const char *key, size_t len, uint64_t head, uint64_t tail,
                           uint64_t hash)
{
    if (len == 0 || len > WEFT__REDACT_KEY_MAX)
        return match_any(rd, key, len);
    uint32_t set = (uint32_t)(hash >> 56) % WEFT__REDACT_SETS;
    weft__redact_slot *c = &rd->cache.slot[set][rd->victim[set]];
    rd->victim[set] = (uint8_t)((rd->victim[set] + 1) % WEFT__REDACT_WAYS);
    c->len = (uint8_t)len;
    c->head = head;
    c->tail = tail;
    memcpy(c->key, key, len);
    c->hit = match_any(rd, key, len);
    return c->hit;
}

bool weft__redact_key(weft__redact *rd, const char *key, size_t len)
{
    if (!rd)
        return false;
    uint64_t head, tail;
    weft__key_words(key, len, &head, &tail);
    return weft__redact_key_hashed(rd, key, len, head, tail, weft__key_hash(head, tail, len));
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
