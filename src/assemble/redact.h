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

#include "buf.h"

typedef struct weft__redact weft__redact;

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
