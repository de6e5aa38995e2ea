/*
 * msgpack_json.h — transcodes one msgpack object (as packed by msgpack-c) to JSON text.
 * A codec: no I/O. The only file that includes <msgpack.h> on the export side.
 */
#ifndef WEFT_MSGPACK_JSON_H
#define WEFT_MSGPACK_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Appends the JSON form of the single msgpack object in data[0..len) to b. Maps become objects
 * (non-string keys are written as their JSON text in a string), bin and ext become base64
 * strings, strings go through weft__json_str (repaired, cut at max_str_bytes when > 0), NaN and
 * infinities become null, nesting is limited to 32 (what msgpack-c
 * 4.0's unpacker accepts). Returns false and leaves b->len unchanged
 * when data is not exactly one well-formed object. */
bool weft__msgpack_to_json(weft__buf *b, const void *data, size_t len, size_t max_str_bytes);

/* Appends data[0..len) as a JSON string of standard base64 (quotes included). */
void weft__json_base64(weft__buf *b, const void *data, size_t len);

#endif
