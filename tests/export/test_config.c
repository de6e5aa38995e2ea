/*
 * test_config.c — configuration from weft_config and the environment (DESIGN.md section 6):
 * defaults, the struct winning over the environment, malformed values reported once through
 * the log callback with the default kept, and documented repairs.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log_capture.h"
#include "runtime.h"
#include "weft/weft.h"

typedef struct logbook {
    int n;
    char last[512];
} logbook;

static void catch_log(void *user, weft_log_level level, const char *msg)
{
    logbook *l = user;
    l->n++;
    snprintf(l->last, sizeof l->last, "%s", msg);
}

static void clear_env(void)
{
    const char *vars[] = {"WEFT_EXPORTER", "SGP_API_KEY", "SGP_ACCOUNT_ID", "SGP_CLIENT_BASE_URL",
                          "WEFT_JSONL_PATH", "WEFT_FLUSH_INTERVAL_MS", "WEFT_MAX_BATCH_SPANS",
                          "WEFT_MAX_BATCH_BYTES", "WEFT_RING_BYTES", "WEFT_RING_MAX_BYTES", "WEFT_MAX_ATTR_BYTES",
                          "WEFT_INPROGRESS_AFTER_MS", "WEFT_MAX_QUEUE_BYTES", "WEFT_SPOOL_DIR",
                          "WEFT_SPOOL_MAX_BYTES", "WEFT_SAMPLE_RATIO", "DISABLE_SCALE_TRACING",
                          "WEFT_DISABLED", "WEFT_LOG_LEVEL"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

TestSuite(config, .init = clear_env);

Test(config, defaults_match_the_design)
{
    weft__cfg c;
    cr_assert_eq(weft__cfg_load(&c, NULL), 0);
    cr_assert_str_eq(c.exporters, "jsonl");
    cr_assert_str_eq(c.jsonl_path, "weft-traces.jsonl");
    cr_assert_str_eq(c.sgp_base_url, "https://api.egp.scale.com");
    cr_assert_eq(c.flush_interval_ms, 1000);
    cr_assert_eq(c.max_batch_spans, 1000);
    cr_assert_eq(c.max_batch_bytes, 4u << 20);
    cr_assert_eq(c.ring_bytes, 1u << 20);
    cr_assert_eq(c.max_attr_bytes, 1u << 20);
    cr_assert_eq(c.inprogress_after_ms, 1000);
    cr_assert_eq(c.max_queue_bytes, 64u << 20);
    cr_assert_null(c.spool_dir);
    cr_assert_eq(c.spool_max_bytes, 256u << 20);
    cr_assert_float_eq(c.sample_ratio, 1.0, 0);
    cr_assert_not(c.disabled);
    weft__cfg_free(&c);
}

Test(config, an_api_key_selects_the_sgp_exporter)
{
    setenv("SGP_API_KEY", "k-secret", 1);
    weft__cfg c;
    cr_assert_eq(weft__cfg_load(&c, NULL), 0);
    cr_assert_str_eq(c.exporters, "sgp");
    cr_assert(weft__cfg_has_exporter(&c, "sgp"));
    cr_assert_not(weft__cfg_has_exporter(&c, "jsonl"));
    weft__cfg_free(&c);
}

Test(config, environment_values_are_read_and_the_struct_wins)
{
    setenv("WEFT_EXPORTER", "stdout, jsonl", 1);
    setenv("WEFT_FLUSH_INTERVAL_MS", "250", 1);
    setenv("WEFT_RING_BYTES", "65536", 1);
    setenv("WEFT_INPROGRESS_AFTER_MS", "0", 1);
    setenv("WEFT_SAMPLE_RATIO", "0.25", 1);
    setenv("WEFT_MAX_BATCH_SPANS", "200", 1);
    weft_config in = {.flush_interval_ms = 40};
    weft__cfg c;
    cr_assert_eq(weft__cfg_load(&c, &in), 0);
    cr_assert(weft__cfg_has_exporter(&c, "stdout"));
    cr_assert(weft__cfg_has_exporter(&c, "jsonl"));
    cr_assert_eq(c.flush_interval_ms, 40, "the struct wins over the environment");
    cr_assert_eq(c.ring_bytes, 65536);
    cr_assert_eq(c.inprogress_after_ms, 0, "0 in the environment means at once");
    cr_assert_float_eq(c.sample_ratio, 0.25, 0);
    cr_assert_eq(c.max_batch_spans, 200);
    weft__cfg_free(&c);
}

Test(config, malformed_values_are_logged_and_the_default_kept)
{
    logbook lb = {0};
    setenv("WEFT_FLUSH_INTERVAL_MS", "soon", 1);
    setenv("WEFT_MAX_BATCH_SPANS", "5000", 1);
    setenv("WEFT_SAMPLE_RATIO", "2", 1);
    setenv("WEFT_RING_BYTES", "-1", 1);
    weft_config in = {.log = catch_log, .log_user = &lb};
    weft__cfg c;
    cr_assert_eq(weft__cfg_load(&c, &in), 0);
    cr_assert_eq(c.flush_interval_ms, 1000);
    cr_assert_eq(c.max_batch_spans, 1000);
    cr_assert_float_eq(c.sample_ratio, 1.0, 0);
    cr_assert_str_eq(c.exporters, "jsonl");
    cr_assert_eq(c.ring_bytes, 1u << 20);
    cr_assert_eq(lb.n, 4, "one line per malformed value, got %d (last: %s)", lb.n, lb.last);
    weft__cfg_free(&c);
}

Test(config, repairs_are_documented_and_logged)
{
    logbook lb = {0};
    weft_config in = {.log = catch_log, .log_user = &lb, .ring_bytes = 5000, .max_batch_spans = 4000,
                      .inprogress_after_ms = WEFT_INPROGRESS_NEVER};
    weft__cfg c;
    cr_assert_eq(weft__cfg_load(&c, &in), 0);
    cr_assert_eq(c.ring_bytes, 8192, "rounded up to a power of two");
    cr_assert_eq(c.max_batch_spans, 1000, "capped at the API's limit");
    cr_assert_eq(c.inprogress_after_ms, -1);
    cr_assert_eq(lb.n, 2);
    weft__cfg_free(&c);
}

Test(config, an_unknown_exporter_in_the_struct_is_an_error)
{
    logbook lb = {0};
    weft_config in = {.exporters = "jsonl,kafka", .log = catch_log, .log_user = &lb, .no_atexit = true};
    cr_assert_eq(weft_init(&in), WEFT_ECONFIG);
    cr_assert_eq(lb.n, 1);
    cr_assert(strstr(lb.last, "kafka") != NULL);
}

Test(config, disabling_flags_follow_common_spellings)
{
    weft__cfg c;
    setenv("WEFT_DISABLED", "false", 1);
    cr_assert_eq(weft__cfg_load(&c, NULL), 0);
    cr_assert_not(c.disabled);
    weft__cfg_free(&c);
    setenv("WEFT_DISABLED", "1", 1);
    cr_assert_eq(weft__cfg_load(&c, NULL), 0);
    cr_assert(c.disabled);
    weft__cfg_free(&c);
}

Test(config, capture_content_is_on_unless_turned_off)
{
    weft__cfg c;
    cr_assert_eq(weft__cfg_load(&c, NULL), 0);
    cr_assert_not(c.no_capture_content);
    weft__cfg_free(&c);
    const char *off[] = {"0", "false", "No", "off"};
    for (int i = 0; i < 4; i++) {
        setenv("WEFT_CAPTURE_CONTENT", off[i], 1);
        cr_assert_eq(weft__cfg_load(&c, NULL), 0);
        cr_assert(c.no_capture_content, "WEFT_CAPTURE_CONTENT=%s turns capture off", off[i]);
        weft__cfg_free(&c);
    }
    setenv("WEFT_CAPTURE_CONTENT", "1", 1);
    cr_assert_eq(weft__cfg_load(&c, NULL), 0);
    cr_assert_not(c.no_capture_content);
    weft__cfg_free(&c);
    unsetenv("WEFT_CAPTURE_CONTENT");
    weft_config in = {.no_capture_content = true};
    cr_assert_eq(weft__cfg_load(&c, &in), 0);
    cr_assert(c.no_capture_content);
    weft__cfg_free(&c);
}

/* An exporter list naming nothing weft knows would send spans nowhere and count them as
 * exported: weft_init refuses it, naming the variable and the value. */
static void exporter_env_is_refused(const char *value, const char *problem)
{
    logbook lb = {0};
    setenv("WEFT_EXPORTER", value, 1);
    weft_config in = {.log = catch_log, .log_user = &lb, .no_atexit = true};
    cr_assert_eq(weft_init(&in), WEFT_ECONFIG, "WEFT_EXPORTER='%s' was accepted", value);
    char want[256];
    snprintf(want, sizeof want, "WEFT_EXPORTER='%s': %s", value, problem);
    cr_expect_eq(lb.n, 1);
    cr_expect(strstr(lb.last, want) != NULL, "logged: %s", lb.last);
}

Test(config, an_exporter_list_of_only_commas_is_an_error_naming_the_variable)
{
    exporter_env_is_refused(",,,", "names no exporter");
}

Test(config, an_unknown_exporter_in_the_environment_is_an_error_naming_the_variable)
{
    exporter_env_is_refused("bogus", "names an unknown exporter");
}

Test(config, a_base_url_that_is_not_a_url_is_an_error_naming_the_variable)
{
    wt_log_reset();
    setenv("SGP_CLIENT_BASE_URL", "not a url", 1);
    weft_config in = {.exporters = "sgp", .log = wt_log_capture, .no_atexit = true};
    cr_assert_eq(weft_init(&in), WEFT_ECONFIG);
    cr_expect_eq(wt_log_count("SGP_CLIENT_BASE_URL='not a url': not an http(s) URL"), 1);
    weft_shutdown(1000);
}

Test(config, the_ring_ceiling_defaults_to_256_mib_and_is_never_below_the_ring)
{
    weft__cfg c;
    cr_assert_eq(weft__cfg_load(&c, NULL), 0);
    cr_assert_eq(c.ring_max_bytes, 256u << 20);
    weft__cfg_free(&c);

    setenv("WEFT_RING_MAX_BYTES", "16777216", 1);
    cr_assert_eq(weft__cfg_load(&c, NULL), 0);
    cr_assert_eq(c.ring_max_bytes, 16u << 20, "from the environment");
    weft__cfg_free(&c);

    weft_config in = {.ring_max_bytes = 1u << 20};
    cr_assert_eq(weft__cfg_load(&c, &in), 0);
    cr_assert_eq(c.ring_max_bytes, 1u << 20, "the struct wins over the environment");
    weft__cfg_free(&c);
    unsetenv("WEFT_RING_MAX_BYTES");

    logbook lb = {0};
    weft_config odd = {.log = catch_log, .log_user = &lb, .ring_max_bytes = 3u << 20};
    cr_assert_eq(weft__cfg_load(&c, &odd), 0);
    cr_assert_eq(c.ring_max_bytes, 4u << 20, "rounded up to a power of two");
    cr_assert_eq(lb.n, 1, "and logged");
    weft__cfg_free(&c);

    weft_config low = {.ring_bytes = 4u << 20, .ring_max_bytes = 1u << 20};
    cr_assert_eq(weft__cfg_load(&c, &low), 0);
    cr_assert_eq(c.ring_max_bytes, 4u << 20, "a ceiling below the ring is the ring: no growth");
    weft__cfg_free(&c);

    setenv("WEFT_RING_MAX_BYTES", "lots", 1);
    lb.n = 0;
    weft_config bad = {.log = catch_log, .log_user = &lb};
    cr_assert_eq(weft__cfg_load(&c, &bad), 0);
    cr_assert_eq(c.ring_max_bytes, 256u << 20, "malformed: the default");
    cr_assert_eq(lb.n, 1);
    weft__cfg_free(&c);
}
