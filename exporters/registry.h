/*
 * registry.h — every exporter weft knows, listed once. Configuration checks the words of
 * WEFT_EXPORTER (or weft_config.exporters) against it; the worker opens what it selects. The
 * worker never names an exporter (STYLE.md 9).
 *
 * Threading: the table is constant; any thread.
 */
#ifndef WEFT_REGISTRY_H
#define WEFT_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "exporter.h"

/* How many exporters can be selected at once (every known one). */
#define WEFT__MAX_EXPORTERS 16

/* The exporter selected by the word name[0..len) (case-insensitive), or NULL. "none" is no
 * exporter and is not in the table. */
const weft__exporter_ops *weft__exporter_find(const char *name, size_t len);

/* The position of ops in the table (its slot in weft__rt.exporter_kept). */
size_t weft__exporter_index(const weft__exporter_ops *ops);

/* Writes the words every known exporter answers to, comma-separated and ending in "none",
 * into buf (always NUL-terminated), for messages. */
void weft__exporter_names(char *buf, size_t len);

/*
 * Parses a comma- or space-separated list. On success returns how many exporters it selects
 * (0 for "none" alone) and, when out is not NULL, fills out[0..n) in the order the table lists
 * them, each once. Returns -1 when a word is unknown or when the list has no word at all (",,,"):
 * then *bad and *bad_len give the unknown word (bad_len 0 for an empty list), for the caller's
 * message.
 */
int weft__exporters_select(const char *list, const weft__exporter_ops **out, const char **bad, size_t *bad_len);

#endif
