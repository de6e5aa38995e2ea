/*
 * json_shrink.h — a JSON text made to fit a byte limit by cutting its longest string values,
 * each cut marked as max_attr_bytes marks one ("…[truncated N bytes]", json.h). For a span item
 * that alone is over a server's request limit: sent with its largest values cut rather than
 * dropped whole. Keys, numbers and short strings (ids, timestamps, names up to 64 bytes) are
 * never touched, so the item keeps its identity and shape.
 *
 * A codec: no I/O, no global state; allocates scratch memory and grows the caller's buffer.
 * Any thread.
 */
#ifndef WEFT_JSON_SHRINK_H
#define WEFT_JSON_SHRINK_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Strings are never cut below this many bytes of content. */
#define WEFT__JSON_SHRINK_MIN 64u

/*
 * Appends to out a copy of the JSON text in[0..len) (borrowed; valid JSON, as weft writes it)
 * of at most target bytes: every string value longer than some cap C is cut to C bytes of
 * content (at a character boundary) and marked, C being the largest that fits. Returns false,
 * with out as it was, when even C = WEFT__JSON_SHRINK_MIN does not fit, the text is not JSON
 * this reader can walk, or memory is short. A text already within target is copied whole.
 */
bool weft__json_shrink(weft__buf *out, const char *in, size_t len, size_t target);

#endif
