/*
 * fuzz_config.c — the configuration parser on arbitrary environment values: the input is cut
 * at NUL bytes into values for every variable weft reads, then weft__cfg_load runs; it must
 * never crash or leak, and what it resolves must respect the documented bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "runtime.h"

static const char *const vars[] = {
    "WEFT_EXPORTER", "SGP_API_KEY", "SGP_ACCOUNT_ID", "SGP_CLIENT_BASE_URL", "WEFT_JSONL_PATH",
    "WEFT_FLUSH_INTERVAL_MS", "WEFT_MAX_BATCH_SPANS", "WEFT_MAX_BATCH_BYTES", "WEFT_RING_BYTES",
    "WEFT_MAX_ATTR_BYTES", "WEFT_INPROGRESS_AFTER_MS", "WEFT_MAX_QUEUE_BYTES", "WEFT_SPOOL_DIR",
    "WEFT_SPOOL_MAX_BYTES", "WEFT_SAMPLE_RATIO", "DISABLE_SCALE_TRACING", "WEFT_DISABLED",
    "WEFT_LOG_LEVEL", "WEFT_MAX_OPEN_SPANS", "WEFT_MAX_THREADS", "WEFT_REDACT_KEYS",
    "WEFT_MAX_INFLIGHT", "WEFT_RETRY_WINDOW_MS"};

static void quiet(void *u, weft_log_level l, const char *m)
{
    (void)u;
    (void)l;
    (void)m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = 0;
    const size_t nv = sizeof(vars) / sizeof(vars[0]);
    char *p = copy, *end = copy + size;
    for (size_t i = 0; i < nv; i++) {
        if (p <= end && *p) {
            setenv(vars[i], p, 1);
            p += strlen(p) + 1;
        } else {
            unsetenv(vars[i]);
            if (p <= end)
                p++;
        }
    }
    weft_config in = {.log = quiet};
    weft__cfg c;
    if (weft__cfg_load(&c, &in) == 0) {
        if (c.max_batch_spans < 1 || c.max_batch_spans > 1000)
            abort();
        if (c.ring_bytes < 4096 || (c.ring_bytes & (c.ring_bytes - 1)))
            abort();
        if (!(c.sample_ratio >= 0 && c.sample_ratio <= 1))
            abort();
        if (c.inprogress_after_ms < -1 || !c.exporters || !c.jsonl_path || !c.sgp_base_url)
            abort();
        weft__cfg_free(&c);
    }
    free(copy);
    return 0;
}
