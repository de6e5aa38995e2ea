/*
 * memory.h — the in-memory exporter's read side, for tests: every record the exporter
 * received (completed spans, and spans still open at shutdown), one JSON item per line, in
 * export order. Kept until the next weft_init.
 */
#ifndef WEFT_MEMORY_H
#define WEFT_MEMORY_H

#include <stdbool.h>

#include "buf.h"

/* Appends a copy of the lines to out. False when the memory exporter never ran. Any thread. */
bool weft__memory_snapshot(weft__buf *out);
/* Forgets what was received so far. */
void weft__memory_clear(void);

#endif
