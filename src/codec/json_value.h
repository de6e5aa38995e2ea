/*
 * json_value.h — writes a jansson value as compact JSON text with weft's writer (json.h): object
 * members in jansson's (insertion) order, no whitespace, reals as the shortest text that reads
 * back as the same double (jansson's own json_dumps writes 0.1 as 0.10000000000000001), strings
 * escaped and repaired as json.h does (a NUL inside a string, which jansson allows with
 * JSON_ALLOW_NUL, becomes U+FFFD).
 *
 * A codec: no I/O, no global state; allocation only to grow the caller's weft__buf. Reentrant.
 * Nesting is bounded by the value itself (jansson's parser stops at 2048 levels).
 */
#ifndef WEFT_JSON_VALUE_H
#define WEFT_JSON_VALUE_H

#include <jansson.h>

#include "buf.h"

/* Appends v (borrowed; NULL writes null) to b. Check b->oom once at the end. */
void weft__json_value_write(weft__buf *b, const json_t *v);

/* v as a NUL-terminated heap string (the caller frees it), or NULL when out of memory. */
char *weft__json_value_text(const json_t *v);

#endif
