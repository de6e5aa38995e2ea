/*
 * stratix_internal.h — what the Stratix upload job (job_stratix.c) shares with the client
 * (stratix_client.c): the file checks of an upload, which live with the upload steps in
 * src/deliver/stratix_upload.h (weft__stratix_check_file). Thread-safe like the client.
 */
#ifndef WEFT_STRATIX_INTERNAL_H
#define WEFT_STRATIX_INTERNAL_H

#include "stratix_upload.h"
#include "weft/stratix.h"

#endif
