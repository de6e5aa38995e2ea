/*
 * convert.h — what `weft convert` (cmd_convert.c) shares with its Stratix writer
 * (convert_stratix.c), and the key map both use. Single-threaded.
 */
#ifndef WEFT_TOOLS_CONVERT_H
#define WEFT_TOOLS_CONVERT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A string-keyed open-addressing map to two numbers; keys are copied. */
typedef struct keymap_entry {
    char *key;
    uint64_t a, b;
} keymap_entry;

typedef struct keymap {
    keymap_entry *slots;
    size_t cap, n;
} keymap;

/* The entry of key, added (a = b = 0, *added true) when absent. Never NULL (aborts on OOM). */
keymap_entry *keymap_get(keymap *m, const char *key, bool *added);
void keymap_free(keymap *m);

/*
 * Writes one LayerLens Stratix trace document (one line, no newline) for the span items of one
 * trace (items: a jansson array, borrowed), in the shape src/codec/stratix_doc.h documents on
 * the stratix branch: {trace_id, name, input, output, metadata, start_time, end_time,
 * duration_ms, spans:[{id, parent_id, name, type, status, start_time, end_time, duration_ms,
 * input, output, metadata, ...the item's other fields}]}. Returns the malloc'd text, or NULL.
 * Duplicate ids must already be resolved (cmd_convert.c keeps one record per span).
 */
char *convert_stratix_doc(const json_t *items);

#endif
