/*
 * convert.h — the key map `weft convert` (cmd_convert.c, convert_keymap.c) uses. Stratix
 * documents come from the shared codec src/codec/stratix_doc.h. Single-threaded.
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

#endif
