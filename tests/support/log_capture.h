/*
 * log_capture.h — a weft log callback that keeps what it is given, for tests that check what
 * weft logged (and that an API key never reaches the log). Thread-safe: weft logs from its
 * export thread.
 */
#ifndef WEFT_LOG_CAPTURE_H
#define WEFT_LOG_CAPTURE_H

#include <stddef.h>

#include "weft/weft.h"

/* A weft_log_fn: appends msg and a newline to the capture (64 KiB; more is left out). */
void wt_log_capture(void *user, weft_log_level level, const char *msg);
/* Occurrences of needle in what was captured. */
size_t wt_log_count(const char *needle);
/* Forgets what was captured. */
void wt_log_reset(void);

#endif
