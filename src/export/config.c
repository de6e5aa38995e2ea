/*
 * config.c — resolves weft_config and the environment into a weft__cfg (DESIGN.md section 6).
 * A field given in the struct wins; a zero field falls back to its environment variable, then
 * to the default. A malformed environment value is reported once through the log callback and
 * the default is kept; out-of-range values are repaired as documented per field.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>

#include "registry.h"
#include "runtime.h"

#define MiB (1024u * 1024u)
#define API_BATCH_LIMIT 1000u /* SGP upsert_batch accepts at most 1000 items */

/* Logs through the configuration being loaded (weft__rt.cfg may be another one). */
static void cfg_log(const weft__cfg *c, weft_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void cfg_log(const weft__cfg *c, weft_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    weft__logv(c, level, fmt, ap);
    va_end(ap);
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return (v && *v) ? v : NULL;
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static bool env_u64(const weft__cfg *c, const char *name, uint64_t *out, uint64_t min, uint64_t max)
{
    const char *v = env(name);
    if (!v)
        return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (errno || end == v || *end || v[0] == '-' || x < min || x > max) {
        cfg_log(c, WEFT_LOG_WARN, "ignoring %s=\"%s\": expected an integer in [%llu, %llu]", name, v,
                  (unsigned long long)min, (unsigned long long)max);
        return false;
    }
    *out = x;
    return true;
}

static bool env_i64(const weft__cfg *c, const char *name, int64_t *out, int64_t min, int64_t max)
{
    const char *v = env(name);
    if (!v)
        return false;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (errno || end == v || *end || x < min || x > max) {
        cfg_log(c, WEFT_LOG_WARN, "ignoring %s=\"%s\": expected an integer in [%lld, %lld]", name, v,
                  (long long)min, (long long)max);
        return false;
    }
    *out = x;
    return true;
}

static bool env_flag(const char *name)
{
    const char *v = getenv(name);
    if (!v)
        return false;
    /* Set means on, except the spellings people use to say "not set". */
    return strcasecmp(v, "0") != 0 && strcasecmp(v, "false") != 0 && strcasecmp(v, "no") != 0 &&
           strcasecmp(v, "off") != 0;
}

/* Set to one of the spellings of "no": the switches that are on by default. */
static bool env_off(const char *name)
{
    const char *v = getenv(name);
    return v && (strcasecmp(v, "0") == 0 || strcasecmp(v, "false") == 0 || strcasecmp(v, "no") == 0 ||
                 strcasecmp(v, "off") == 0);
}

/* False when list names at least one exporter and only ones of the registry; else true, with
 * what is wrong with it in why. */
static bool exporters_problem(const char *list, char *why, size_t cap)
{
    const char *bad;
    size_t bad_len;
    if (weft__exporters_select(list, NULL, &bad, &bad_len) >= 0)
        return false;
    char known[160];
    weft__exporter_names(known, sizeof known);
    if (bad_len == 0)
        snprintf(why, cap, "names no exporter (expected a comma list of %s)", known);
    else
        snprintf(why, cap, "names an unknown exporter '%.*s' (known: %s)", (int)(bad_len > 64 ? 64 : bad_len), bad,
                 known);
    return true;
}

bool weft__cfg_has_exporter(const weft__cfg *c, const char *name)
{
    size_t n = strlen(name);
    const char *p = c->exporters;
    while (p && *p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *q = p;
        while (*q && *q != ',' && *q != ' ')
            q++;
        if ((size_t)(q - p) == n && strncasecmp(p, name, n) == 0)
            return true;
        p = q;
    }
    return false;
}

static uint64_t pow2_at_least(uint64_t x)
{
    uint64_t p = 4096;
    while (p < x && p < (1ull << 40))
        p <<= 1;
    return p;
}

static int add_pattern(weft__cfg *out, const char *p, size_t n)
{
    char **v = realloc(out->redact_keys, (out->n_redact_keys + 1) * sizeof(char *));
    if (!v)
        return WEFT_ENOMEM;
    out->redact_keys = v;
    v[out->n_redact_keys] = strndup(p, n);
    if (!v[out->n_redact_keys])
        return WEFT_ENOMEM;
    out->n_redact_keys++;
    return 0;
}

/* The struct's list, else WEFT_REDACT_KEYS ("none": off), else WEFT_REDACT_DEFAULTS. */
static int load_redaction(weft__cfg *out, const weft_config *in)
{
    static const char *const defaults[] = {WEFT_REDACT_DEFAULTS};
    if (in->redact_keys) {
        for (size_t i = 0; i < in->n_redact_keys; i++)
            if (in->redact_keys[i] && add_pattern(out, in->redact_keys[i], strlen(in->redact_keys[i])) < 0)
                return WEFT_ENOMEM;
        return 0;
    }
    const char *e = env("WEFT_REDACT_KEYS");
    if (e) {
        if (strcasecmp(e, "none") == 0)
            return 0;
        for (const char *p = e; *p;) {
            while (*p == ',' || *p == ' ')
                p++;
            const char *q = p;
            while (*q && *q != ',')
                q++;
            size_t n = (size_t)(q - p);
            while (n && p[n - 1] == ' ')
                n--;
            if (n && add_pattern(out, p, n) < 0)
                return WEFT_ENOMEM;
            p = q;
        }
        return 0;
    }
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        if (add_pattern(out, defaults[i], strlen(defaults[i])) < 0)
            return WEFT_ENOMEM;
    return 0;
}

int weft__cfg_load(weft__cfg *out, const weft_config *in)
{
    static const weft_config none;
    if (!in)
        in = &none;
    memset(out, 0, sizeof(*out));
    out->log = in->log;
    out->log_user = in->log_user;
    out->log_level = WEFT_LOG_WARN;
    if (in->log_level)
        out->log_level = in->log_level;
    else if (env("WEFT_LOG_LEVEL")) {
        static const char *const levels[] = {"error", "warn", "info", "debug"};
        const char *v = env("WEFT_LOG_LEVEL");
        bool ok = false;
        for (int i = 0; i < 4; i++)
            if (strcasecmp(v, levels[i]) == 0 || (i == 1 && strcasecmp(v, "warning") == 0)) {
                out->log_level = (weft_log_level)i;
                ok = true;
            }
        if (!ok)
            cfg_log(out, WEFT_LOG_WARN, "ignoring WEFT_LOG_LEVEL=\"%s\": expected error, warn, info or debug", v);
    }

    out->disabled = in->disabled || env_flag("DISABLE_SCALE_TRACING") || env_flag("WEFT_DISABLED");
    out->no_atexit = in->no_atexit;

    out->sgp_api_key = dup_or_null(in->sgp_api_key ? in->sgp_api_key : env("SGP_API_KEY"));
    out->sgp_account_id = dup_or_null(in->sgp_account_id ? in->sgp_account_id : env("SGP_ACCOUNT_ID"));
    const char *base = in->sgp_base_url ? in->sgp_base_url : env("SGP_CLIENT_BASE_URL");
    out->sgp_base_url = strdup(base ? base : "https://api.egp.scale.com");
    const char *jp = in->jsonl_path ? in->jsonl_path : env("WEFT_JSONL_PATH");
    out->jsonl_path = strdup(jp ? jp : "weft-traces.jsonl");

    const char *def_exp = out->sgp_api_key ? "sgp" : "jsonl";
    /* An exporter list that names nothing weft knows would send spans nowhere and count them
     * as exported: a configuration error, from the struct or the environment alike. */
    const char *exp = in->exporters;
    const char *exp_var = "weft_config.exporters";
    if (!exp && (exp = env("WEFT_EXPORTER")) != NULL)
        exp_var = "WEFT_EXPORTER";
    char problem[256];
    if (exp && exporters_problem(exp, problem, sizeof problem)) {
        cfg_log(out, WEFT_LOG_ERROR, "%s='%s': %s", exp_var, exp, problem);
        weft__cfg_free(out);
        return WEFT_ECONFIG;
    }
    out->exporters = strdup(exp ? exp : def_exp);

    uint64_t u;
    out->flush_interval_ms = in->flush_interval_ms ? in->flush_interval_ms : 1000;
    if (!in->flush_interval_ms && env_u64(out, "WEFT_FLUSH_INTERVAL_MS", &u, 1, 3600000))
        out->flush_interval_ms = (uint32_t)u;
    out->max_batch_spans = in->max_batch_spans ? in->max_batch_spans : API_BATCH_LIMIT;
    if (!in->max_batch_spans && env_u64(out, "WEFT_MAX_BATCH_SPANS", &u, 1, API_BATCH_LIMIT))
        out->max_batch_spans = (uint32_t)u;
    if (out->max_batch_spans > API_BATCH_LIMIT) {
        cfg_log(out, WEFT_LOG_WARN, "max_batch_spans %u is over the API's limit; using 1000", out->max_batch_spans);
        out->max_batch_spans = API_BATCH_LIMIT;
    }
    out->max_batch_bytes = in->max_batch_bytes ? in->max_batch_bytes : 4 * MiB;
    if (!in->max_batch_bytes && env_u64(out, "WEFT_MAX_BATCH_BYTES", &u, 1024, 1ull << 32))
        out->max_batch_bytes = u;
    out->ring_bytes = in->ring_bytes ? in->ring_bytes : 1 * MiB;
    if (!in->ring_bytes && env_u64(out, "WEFT_RING_BYTES", &u, 4096, 1ull << 32))
        out->ring_bytes = u;
    if (out->ring_bytes & (out->ring_bytes - 1) || out->ring_bytes < 4096) {
        uint64_t p = pow2_at_least(out->ring_bytes);
        cfg_log(out, WEFT_LOG_WARN, "ring size %llu is not a power of two >= 4096; using %llu",
                  (unsigned long long)out->ring_bytes, (unsigned long long)p);
        out->ring_bytes = p;
    }
    /* The growth ceiling: a power of two, never below the initial size (ring.h). */
    out->ring_max_bytes = in->ring_max_bytes ? in->ring_max_bytes : 256 * MiB;
    if (!in->ring_max_bytes && env_u64(out, "WEFT_RING_MAX_BYTES", &u, 4096, 1ull << 40))
        out->ring_max_bytes = u;
    if (out->ring_max_bytes & (out->ring_max_bytes - 1)) {
        uint64_t p = pow2_at_least(out->ring_max_bytes);
        cfg_log(out, WEFT_LOG_WARN, "ring ceiling %llu is not a power of two; using %llu",
                (unsigned long long)out->ring_max_bytes, (unsigned long long)p);
        out->ring_max_bytes = p;
    }
    if (out->ring_max_bytes < out->ring_bytes)
        out->ring_max_bytes = out->ring_bytes; /* no growth: documented, not a warning */
    out->max_attr_bytes = in->max_attr_bytes ? in->max_attr_bytes : 1 * MiB;
    if (!in->max_attr_bytes && env_u64(out, "WEFT_MAX_ATTR_BYTES", &u, 16, 1ull << 32))
        out->max_attr_bytes = u;
    if (out->max_attr_bytes < 16)
        out->max_attr_bytes = 16; /* room for the truncation marker to mean something */

    int64_t ip = 1000;
    if (in->inprogress_after_ms == WEFT_INPROGRESS_NOW)
        ip = 0;
    else if (in->inprogress_after_ms == WEFT_INPROGRESS_NEVER)
        ip = -1;
    else if (in->inprogress_after_ms > 0)
        ip = in->inprogress_after_ms;
    else if (in->inprogress_after_ms < 0) {
        cfg_log(out, WEFT_LOG_WARN, "inprogress_after_ms %d is not valid; using 1000", in->inprogress_after_ms);
    } else {
        int64_t x;
        if (env_i64(out, "WEFT_INPROGRESS_AFTER_MS", &x, -1, 86400000))
            ip = x;
    }
    out->inprogress_after_ms = ip;

    out->max_queue_bytes = in->max_queue_bytes ? in->max_queue_bytes : 64 * MiB;
    if (!in->max_queue_bytes && env_u64(out, "WEFT_MAX_QUEUE_BYTES", &u, 1024, 1ull << 40))
        out->max_queue_bytes = u;
    out->spool_dir = dup_or_null(in->spool_dir ? in->spool_dir : env("WEFT_SPOOL_DIR"));
    out->spool_max_bytes = in->spool_max_bytes ? in->spool_max_bytes : 256 * MiB;
    if (!in->spool_max_bytes && env_u64(out, "WEFT_SPOOL_MAX_BYTES", &u, 4096, 1ull << 44))
        out->spool_max_bytes = u;

    out->sample_ratio = 1.0;
    if (in->sample_ratio != 0) {
        if (in->sample_ratio > 0 && in->sample_ratio <= 1.0)
            out->sample_ratio = in->sample_ratio;
        else
            cfg_log(out, WEFT_LOG_WARN, "sample_ratio %g is outside (0, 1]; using 1", in->sample_ratio);
    } else if (env("WEFT_SAMPLE_RATIO")) {
        const char *v = env("WEFT_SAMPLE_RATIO");
        char *end;
        double d = strtod(v, &end);
        if (end == v || *end || !(d >= 0 && d <= 1.0))
            cfg_log(out, WEFT_LOG_WARN, "ignoring WEFT_SAMPLE_RATIO=\"%s\": expected a number in [0, 1]", v);
        else
            out->sample_ratio = d;
    }

    out->max_open_spans = in->max_open_spans ? in->max_open_spans : 1000000;
    if (!in->max_open_spans && env_u64(out, "WEFT_MAX_OPEN_SPANS", &u, 16, 1u << 30))
        out->max_open_spans = (uint32_t)u;
    out->max_threads = in->max_threads ? in->max_threads : 4096;
    if (!in->max_threads && env_u64(out, "WEFT_MAX_THREADS", &u, 1, 1u << 16))
        out->max_threads = (uint32_t)u;
    if (out->max_threads > (1u << 16))
        out->max_threads = 1u << 16; /* a span's home field has 16 bits for the slot */

    out->group_id = dup_or_null(in->group_id ? in->group_id : env("WEFT_GROUP_ID"));
    out->variant_id = dup_or_null(in->application_variant_id ? in->application_variant_id
                                                             : env("WEFT_APPLICATION_VARIANT_ID"));
    out->interaction_id = dup_or_null(in->application_interaction_id ? in->application_interaction_id
                                                                     : env("WEFT_APPLICATION_INTERACTION_ID"));
    out->ca_bundle = dup_or_null(in->ca_bundle ? in->ca_bundle : env("WEFT_CA_BUNDLE"));
    out->max_inflight = in->max_inflight ? in->max_inflight : 4;
    if (!in->max_inflight && env_u64(out, "WEFT_MAX_INFLIGHT", &u, 1, 64))
        out->max_inflight = (uint32_t)u;
    out->connect_timeout_ms = in->connect_timeout_ms ? in->connect_timeout_ms : 5000;
    if (!in->connect_timeout_ms && env_u64(out, "WEFT_CONNECT_TIMEOUT_MS", &u, 1, 600000))
        out->connect_timeout_ms = (uint32_t)u;
    out->request_timeout_ms = in->request_timeout_ms ? in->request_timeout_ms : 30000;
    if (!in->request_timeout_ms && env_u64(out, "WEFT_REQUEST_TIMEOUT_MS", &u, 1, 3600000))
        out->request_timeout_ms = (uint32_t)u;
    out->retry_window_ms = in->retry_window_ms ? in->retry_window_ms : 300000;
    if (!in->retry_window_ms && env_u64(out, "WEFT_RETRY_WINDOW_MS", &u, 1, 86400000))
        out->retry_window_ms = (uint32_t)u;

    if (in->n_prices && in->prices) {
        out->prices = calloc(in->n_prices, sizeof(*out->prices));
        if (!out->prices) {
            weft__cfg_free(out);
            return WEFT_ENOMEM;
        }
        for (size_t i = 0; i < in->n_prices; i++) {
            out->prices[i] = in->prices[i];
            out->prices[i].model = dup_or_null(in->prices[i].model);
        }
        out->n_prices = in->n_prices;
    }
    out->filter = in->filter;
    out->filter_user = in->filter_user;
    out->no_capture_content = in->no_capture_content || env_off("WEFT_CAPTURE_CONTENT");

    out->stratix_api_key = dup_or_null(in->stratix_api_key ? in->stratix_api_key : env("LAYERLENS_STRATIX_API_KEY"));
    out->stratix_base_url = dup_or_null(in->stratix_base_url ? in->stratix_base_url : env("LAYERLENS_STRATIX_BASE_URL"));
    out->stratix_org_id = dup_or_null(in->stratix_organization_id ? in->stratix_organization_id
                                                                   : env("LAYERLENS_STRATIX_ORGANIZATION_ID"));
    out->stratix_project_id = dup_or_null(in->stratix_project_id ? in->stratix_project_id
                                                                 : env("LAYERLENS_STRATIX_PROJECT_ID"));
    out->stratix_dir = dup_or_null(in->stratix_dir ? in->stratix_dir : env("WEFT_STRATIX_DIR"));
    out->stratix_max_file_bytes = in->stratix_max_file_bytes ? in->stratix_max_file_bytes
                                                             : WEFT__STRATIX_DEFAULT_FILE_BYTES;
    if (!in->stratix_max_file_bytes &&
        env_u64(out, "WEFT_STRATIX_MAX_FILE_BYTES", &u, 1024, WEFT__STRATIX_MAX_FILE_BYTES))
        out->stratix_max_file_bytes = u;
    if (out->stratix_max_file_bytes > WEFT__STRATIX_MAX_FILE_BYTES) {
        cfg_log(out, WEFT_LOG_WARN, "stratix_max_file_bytes %llu is not below Stratix's 50 MB limit; using %llu",
                (unsigned long long)out->stratix_max_file_bytes, (unsigned long long)WEFT__STRATIX_MAX_FILE_BYTES);
        out->stratix_max_file_bytes = WEFT__STRATIX_MAX_FILE_BYTES;
    }
    if (out->stratix_max_file_bytes < 1024)
        out->stratix_max_file_bytes = 1024; /* room for one small trace */
    out->stratix_max_file_age_ms = in->stratix_max_file_age_ms ? in->stratix_max_file_age_ms : 30000;
    if (!in->stratix_max_file_age_ms && env_u64(out, "WEFT_STRATIX_MAX_FILE_AGE_MS", &u, 1, 86400000))
        out->stratix_max_file_age_ms = (uint32_t)u;
    out->stratix_grace_ms = in->stratix_grace_ms ? in->stratix_grace_ms : 5000;
    if (!in->stratix_grace_ms && env_u64(out, "WEFT_STRATIX_GRACE_MS", &u, 0, 3600000))
        out->stratix_grace_ms = (uint32_t)u;
    if (load_redaction(out, in) < 0) {
        weft__cfg_free(out);
        return WEFT_ENOMEM;
    }
    if (!out->sgp_base_url || !out->jsonl_path || !out->exporters) {
        weft__cfg_free(out);
        return WEFT_ENOMEM;
    }
    return 0;
}

void weft__cfg_free(weft__cfg *c)
{
    free(c->exporters);
    free(c->sgp_api_key);
    free(c->sgp_account_id);
    free(c->sgp_base_url);
    free(c->jsonl_path);
    free(c->spool_dir);
    free(c->group_id);
    free(c->variant_id);
    free(c->interaction_id);
    free(c->ca_bundle);
    if (c->stratix_api_key) /* a secret: cleared before it is freed */
        memset(c->stratix_api_key, 0, strlen(c->stratix_api_key));
    free(c->stratix_api_key);
    free(c->stratix_base_url);
    free(c->stratix_org_id);
    free(c->stratix_project_id);
    free(c->stratix_dir);
    for (size_t i = 0; i < c->n_prices; i++)
        free((char *)c->prices[i].model);
    free(c->prices);
    for (size_t i = 0; i < c->n_redact_keys; i++)
        free(c->redact_keys[i]);
    free(c->redact_keys);
    weft_log_fn log = c->log;
    void *user = c->log_user;
    weft_log_level level = c->log_level;
    memset(c, 0, sizeof(*c));
    /* Keep logging where the caller asked until the next weft_init. */
    c->log = log;
    c->log_user = user;
    c->log_level = level;
}
