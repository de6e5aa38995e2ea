/*
 * stratix_internal.h — what the Stratix upload job (job_stratix.c) shares with the client
 * (stratix_client.c). Thread-safe like the client.
 */
#ifndef WEFT_STRATIX_INTERNAL_H
#define WEFT_STRATIX_INTERNAL_H

#include "weft/stratix.h"

/* The file checks of weft_stratix_upload alone (type, size, readable, not empty), so that an
 * async upload refuses a bad file before its job starts. 0 or WEFT_EINVAL (err says why). */
int weft__stratix_check_file(const char *path, weft_stratix_error *err);

#endif
