/*
 * redact.h — redaction of sensitive values before anything leaves the process: keys matching
 * a configured case-insensitive glob pattern get the value "[REDACTED]", at the top of a
 * section and at any depth inside JSON values. Export thread only.
 */
#ifndef WEFT_REDACT_H
#define WEFT_REDACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"

typedef struct weft__redact weft__redact;

/* The decision cache at the start of every weft__redact, visible here so that the common case
 * (a key seen before) is decided inline, with no call: keys repeat ("model", "user",
 * "messages"). Direct-mapped sets of two ways, keyed by weft__key_hash. */
#define WEFT__REDACT_SETS 256
#define WEFT__REDACT_WAYS 2
#define WEFT__REDACT_KEY_MAX 48 /* longer keys are matched every time */

typedef struct weft__redact_slot {
    uint64_t head, tail; /* weft__key_words() of the key */
    uint8_t len;         /* 0: empty */
    bool hit;
    char key[WEFT__REDACT_KEY_MAX];
} weft__redact_slot;

typedef struct weft__redact_cache {
    weft__redact_slot slot[WEFT__REDACT_SETS][WEFT__REDACT_WAYS];
} weft__redact_cache;

/* Two words that hold every byte of a key of up to 16 bytes (overlapping loads from both
 * ends; for 1..3 bytes the first, middle and last; 0 and 0 for the empty key), so that for
 * such keys equal lengths and equal words mean equal keys. Longer keys are told apart by
 * their bytes as well. */
static inline void weft__key_words(const char *k, size_t len, uint64_t *head, uint64_t *tail)
{
    if (len >= 8) {
        memcpy(head, k, 8);
        memcpy(tail, k + len - 8, 8);
    } else if (len >= 4) {
        uint32_t a, b;
        memcpy(&a, k, 4);
        memcpy(&b, k + len - 4, 4);
        *head = (uint64_t)a << 32 | b;
        *tail = 0;
    } else if (len > 0) {
        *head = (uint64_t)(unsigned char)k[0] << 16 | (uint64_t)(unsigned char)k[len / 2] << 8 |
                (unsigned char)k[len - 1];
        *tail = 0;
    } else {
        *head = *tail = 0;
    }
}

/* A hash of a key from its words and length: equal keys, equal hashes. */
static inline uint64_t weft__key_hash(uint64_t head, uint64_t tail, size_t len)
{
    return (head ^ (tail << 7 | tail >> 57) ^ len) * 0x9e3779b97f4a7c15ull;
}

/* weft__redact_key past the cache: matches the patterns and remembers the decision. */
bool weft__redact_key_miss(weft__redact *rd, const char *key, size_t len, uint64_t head, uint64_t tail,
                           uint64_t hash);

/* weft__redact_key for a key whose words and hash the caller has already (rd not NULL). */
static inline bool weft__redact_key_hashed(weft__redact *rd, const char *key, size_t len, uint64_t head,
                                           uint64_t tail, uint64_t hash)
{
    if (len != 0 && len <= WEFT__REDACT_KEY_MAX) {
        const weft__redact_slot *c = ((const weft__redact_cache *)(const void *)rd)->slot[(hash >> 56) % WEFT__REDACT_SETS];
        for (int w = 0; w < WEFT__REDACT_WAYS; w++)
            if (c[w].len == len && c[w].head == head && c[w].tail == tail &&
                (len <= 16 || memcmp(c[w].key, key, len) == 0))
                return c[w].hit;
    }
    return weft__redact_key_miss(rd, key, len, head, tail, hash);
}

/* patterns: n NUL-terminated globs ('*' any run, '?' one byte; case-insensitive ASCII).
 * Returns NULL when n is 0 (redaction off) or memory is short. */
weft__redact *weft__redact_new(const char *const *patterns, size_t n);
void weft__redact_free(weft__redact *rd);

/* True when key matches a pattern (decisions cached per key). */
bool weft__redact_key(weft__redact *rd, const char *key, size_t len);

/* json: one valid JSON value. When an object key inside it matches, writes the value with
 * those members' values replaced into out and returns the number replaced; else returns 0
 * and leaves out alone. */
size_t weft__redact_json(weft__redact *rd, weft__buf *out, const char *json, size_t len);

/* Exposed for tests: glob match of pattern against s[0..len). */
bool weft__glob_match(const char *pattern, const char *s, size_t len);

#endif
