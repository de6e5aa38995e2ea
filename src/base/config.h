/*
 * config.h — configuration resolved from weft_config and the environment (DESIGN.md section
 * 6). Owns copies of every string. Malformed environment values are logged once through the
 * log callback and the default is kept.
 */
#ifndef WEFT_CONFIG_H
#define WEFT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/weft.h"

typedef struct weft__cfg {
    char *exporters; /* comma list, resolved default applied */
    char *sgp_api_key, *sgp_account_id, *sgp_base_url, *jsonl_path;
    uint32_t flush_interval_ms, max_batch_spans;
    uint64_t max_batch_bytes, ring_bytes, max_attr_bytes;
    int64_t inprogress_after_ms; /* -1 never, 0 at once */
    uint64_t max_queue_bytes;
    char *spool_dir;
    uint64_t spool_max_bytes;
    double sample_ratio;
    bool disabled, no_atexit;
    weft_log_fn log;
    void *log_user;
    weft_log_level log_level;
    uint32_t max_open_spans, max_threads;
    char *group_id, *variant_id, *interaction_id, *ca_bundle;
    uint32_t max_inflight, connect_timeout_ms, request_timeout_ms, retry_window_ms;
    weft_model_price *prices; /* owned, with owned model strings */
    size_t n_prices;
    char **redact_keys;       /* owned; n_redact_keys 0: redaction off */
    size_t n_redact_keys;
    weft_filter_fn filter;
    void *filter_user;
    bool no_capture_content; /* weft/curl.h spans keep sizes and counts only */
    /* The stratix exporter (exporters/stratix.c). stratix_dir NULL: the exporter's default. */
    char *stratix_api_key, *stratix_base_url, *stratix_org_id, *stratix_project_id, *stratix_dir;
    uint64_t stratix_max_file_bytes;
    uint32_t stratix_max_file_age_ms;
    uint32_t stratix_grace_ms; /* 0: a trace is written as soon as its root arrives */
    uint64_t ring_max_bytes;   /* growth ceiling of a thread's ring, >= ring_bytes */
} weft__cfg;

/* The stratix exporter's file limits: 8 MiB by default, and never 50,000,000 bytes or more, so
 * that a file is below Stratix's 50 MB upload limit whichever way "MB" is counted. */
#define WEFT__STRATIX_DEFAULT_FILE_BYTES (8ull * 1024 * 1024)
#define WEFT__STRATIX_MAX_FILE_BYTES 50000000ull

/* Fills out from in (NULL: all defaults) and the environment. Problems are reported through
 * log (out->log is set first). Returns 0 or WEFT_ENOMEM / WEFT_ECONFIG. */
int weft__cfg_load(weft__cfg *out, const weft_config *in);
void weft__cfg_free(weft__cfg *c);
/* True when the comma list names the exporter `name`. */
bool weft__cfg_has_exporter(const weft__cfg *c, const char *name);

#endif
