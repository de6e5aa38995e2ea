/*
 * test_startup.c — what weft says when it starts (issue 10, operability): one info line per
 * exporter naming where the traces go (the jsonl path, the SGP URL without the key, stdout,
 * memory, none), read through the log callback; the API key never appears.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log_capture.h"
#include "receiver.h"
#include "weft/weft.h"

static weft_config quiet_cfg(const char *exporters)
{
    weft_config c = {.exporters = exporters,
                     .no_atexit = true,
                     .flush_interval_ms = 20,
                     .log = wt_log_capture,
                     .log_level = WEFT_LOG_INFO,
                     .inprogress_after_ms = WEFT_INPROGRESS_NEVER};
    return c;
}

Test(startup, names_each_exporters_destination_once)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/weft-startup-%d.jsonl", (int)getpid());
    weft_rx *rx = weft_rx_start(NULL);
    cr_assert(rx);
    wt_log_reset();
    weft_config c = quiet_cfg("jsonl,stdout,memory,sgp");
    c.jsonl_path = path;
    c.sgp_base_url = weft_rx_url(rx);
    c.sgp_api_key = "startup-secret-key";
    cr_assert_eq(weft_init(&c), 0);
    char want[256];
    snprintf(want, sizeof want, "exporter jsonl: appending completed spans to %s\n", path);
    cr_expect_eq(wt_log_count(want), 1);
    cr_expect_eq(wt_log_count("exporter stdout: one line per completed span on standard output\n"), 1);
    cr_expect_eq(wt_log_count("exporter memory: keeping completed spans in memory"), 1);
    snprintf(want, sizeof want, "exporter sgp: sending spans to %s/v5/spans/batch\n", weft_rx_url(rx));
    cr_expect_eq(wt_log_count(want), 1);
    cr_expect_eq(wt_log_count("exporter "), 4);
    cr_expect_eq(weft_shutdown(5000), 0);
    cr_expect_eq(wt_log_count("startup-secret-key"), 0, "the API key reached the log");
    weft_rx_stop(rx);
    unlink(path);
}

Test(startup, says_when_spans_go_nowhere)
{
    wt_log_reset();
    weft_config c = quiet_cfg("none");
    cr_assert_eq(weft_init(&c), 0);
    cr_expect_eq(wt_log_count("exporter none: spans are assembled and counted, sent nowhere"), 1);
    cr_expect_eq(weft_shutdown(1000), 0);
}

Test(startup, hides_userinfo_of_the_sgp_url)
{
    wt_log_reset();
    weft_config c = quiet_cfg("sgp");
    c.sgp_base_url = "https://user:hunter2@127.0.0.1:1";
    c.retry_window_ms = 100;
    cr_assert_eq(weft_init(&c), 0);
    cr_expect_eq(wt_log_count("exporter sgp: sending spans to https://***@127.0.0.1:1/v5/spans/batch (no SGP_API_KEY)"), 1);
    cr_expect_eq(wt_log_count("hunter2"), 0);
    weft_shutdown(1000);
}
