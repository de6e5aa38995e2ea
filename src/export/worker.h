/*
 * worker.h — the export thread: one libuv loop, started by weft_init, that drains the rings,
 * assembles spans, batches them and drives the exporters (DESIGN.md section 1).
 */
#ifndef WEFT_WORKER_H
#define WEFT_WORKER_H

#include <stdint.h>

/* Opens the exporters named in the configuration and starts the thread. 0 or WEFT_E*. */
int weft__worker_start(void);
/* Blocks until everything ended before the call is exported, or timeout_ms (0: no limit). */
int weft__worker_flush(uint32_t timeout_ms);
/* Exports what it can within timeout_ms, stops the thread and frees the worker. Returns 0,
 * WEFT_ETIMEDOUT or WEFT_EEXPORT. In a fork() child, frees nothing the parent's thread owns. */
int weft__worker_stop(uint32_t timeout_ms);

#endif
