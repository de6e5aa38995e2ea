/*
 * test_tls.c — delivery to SGP over HTTPS, live: the in-process receiver serves TLS on
 * 127.0.0.1 with a certificate made for this run (openssl, installed by setup.sh), and weft's
 * SGP exporter sends through libcurl with verification on, as it always is.
 *
 * Checked: with the certificate given as the CA bundle (ca_bundle / WEFT_CA_BUNDLE), every span
 * arrives and the API key is accepted over https://; without it (the system's CAs, which do not
 * know this certificate) nothing is sent in the clear, the failure is logged with curl's
 * reason, every span is counted as not delivered, and shutdown returns. The key never reaches
 * the log.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log_capture.h"
#include "receiver.h"
#include "weft/weft.h"

#define KEY "tls-test-key"

typedef struct tls_files {
    char dir[64];
    char cert_path[96];
    char *cert_pem, *key_pem;
} tls_files;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot read %s", path);
    char *buf = calloc(1, 65536);
    cr_assert_not_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    fclose(f);
    cr_assert_gt(n, 0, "%s is empty", path);
    return buf;
}

/* A P-256 key and a self-signed certificate for 127.0.0.1 (subjectAltName IP), valid two days,
 * in a fresh temporary directory. */
static tls_files make_cert(void)
{
    tls_files t;
    memset(&t, 0, sizeof t);
    strcpy(t.dir, "/tmp/weft-tls-XXXXXX");
    cr_assert_not_null(mkdtemp(t.dir));
    snprintf(t.cert_path, sizeof t.cert_path, "%s/cert.pem", t.dir);
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout %s/key.pem -out %s "
             ">/dev/null 2>&1",
             t.dir, t.cert_path);
    cr_assert_eq(system(cmd), 0, "openssl could not make a certificate (is it installed? setup.sh does)");
    char key_path[96];
    snprintf(key_path, sizeof key_path, "%s/key.pem", t.dir);
    t.cert_pem = slurp(t.cert_path);
    t.key_pem = slurp(key_path);
    return t;
}

static void drop_cert(tls_files *t)
{
    char path[96];
    snprintf(path, sizeof path, "%s/key.pem", t->dir);
    unlink(path);
    unlink(t->cert_path);
    rmdir(t->dir);
    free(t->cert_pem);
    free(t->key_pem);
}

static weft_config sgp_cfg(weft_rx *rx)
{
    weft_config c = {0};
    c.exporters = "sgp";
    c.sgp_base_url = weft_rx_url(rx);
    c.sgp_api_key = KEY;
    c.sgp_account_id = "acct-tls";
    c.flush_interval_ms = 20;
    c.no_atexit = true;
    c.log = wt_log_capture;
    c.log_level = WEFT_LOG_INFO;
    c.inprogress_after_ms = WEFT_INPROGRESS_NEVER;
    c.ring_bytes = 16u << 20;
    return c;
}

static void make_spans(int n)
{
    WEFT_SPAN_BEGIN(root, "tls root", WEFT_TYPE_AGENT_WORKFLOW);
    for (int i = 1; i < n; i++) {
        WEFT_SPAN_BEGIN(ch, "tls child", WEFT_TYPE_COMPLETION);
        weft_span_set_i64(ch, WEFT_METADATA, "i", i);
        WEFT_SPAN_END(ch);
    }
    WEFT_SPAN_END(root);
}

Test(tls, spans_arrive_over_https_when_the_certificate_is_trusted)
{
    wt_log_reset();
    tls_files t = make_cert();
    weft_rx_opts o = {.api_key = KEY, .tls_cert_pem = t.cert_pem, .tls_key_pem = t.key_pem};
    weft_rx *rx = weft_rx_start(&o);
    cr_assert_not_null(rx, "the TLS receiver did not start");
    cr_assert_eq(strncmp(weft_rx_url(rx), "https://127.0.0.1:", 18), 0, "%s", weft_rx_url(rx));

    weft_config c = sgp_cfg(rx);
    c.ca_bundle = t.cert_path;
    cr_assert_eq(weft_init(&c), 0);
    make_spans(50);
    cr_assert_eq(weft_flush(20000), 0);
    cr_assert_eq(weft_shutdown(5000), 0);

    weft_stats s;
    weft_get_stats(&s);
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.exported, 50);
    cr_expect_eq(s.dropped_export, 0);
    cr_expect_geq(s.requests, 1);
    cr_expect_eq(weft_rx_completed(rx), 50, "the receiver stored %zu of 50", weft_rx_completed(rx));
    cr_expect_eq(weft_rx_status_count(rx, 401), 0, "the API key was refused over TLS");
    cr_expect_eq(wt_log_count(KEY), 0, "the API key reached the log");
    weft_rx_stop(rx);
    drop_cert(&t);
}

Test(tls, an_untrusted_certificate_stops_delivery_and_is_counted)
{
    wt_log_reset();
    tls_files t = make_cert();
    weft_rx_opts o = {.api_key = KEY, .tls_cert_pem = t.cert_pem, .tls_key_pem = t.key_pem};
    weft_rx *rx = weft_rx_start(&o);
    cr_assert_not_null(rx);

    weft_config c = sgp_cfg(rx); /* no ca_bundle: the system's CAs do not know this one */
    unsetenv("WEFT_CA_BUNDLE");
    cr_assert_eq(weft_init(&c), 0);
    make_spans(20);
    int rc = weft_shutdown(1500);
    cr_expect(rc == WEFT_ETIMEDOUT || rc == WEFT_EEXPORT, "shutdown returned %d", rc);

    weft_stats s;
    weft_get_stats(&s);
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.ended, 20);
    cr_expect_eq(s.exported, 0);
    cr_expect_eq(s.dropped_export + s.dropped_queue, 20, "every span counted as not delivered");
    cr_expect_eq(weft_rx_requests(rx), 0, "a request got past the TLS handshake");
    cr_expect_geq(wt_log_count("certificate"), 1, "curl's reason is not in the log");
    cr_expect_eq(wt_log_count(KEY), 0, "the API key reached the log");
    weft_rx_stop(rx);
    drop_cert(&t);
}

Test(tls, a_certificate_for_another_host_pauses_export_instead_of_retrying, .timeout = 60)
{
    wt_log_reset();
    tls_files t = make_cert(); /* names 127.0.0.1 only */
    weft_rx_opts o = {.api_key = KEY, .tls_cert_pem = t.cert_pem, .tls_key_pem = t.key_pem};
    weft_rx *rx = weft_rx_start(&o);
    cr_assert_not_null(rx);

    weft_config c = sgp_cfg(rx);
    char url[64];
    snprintf(url, sizeof url, "https://localhost:%u", weft_rx_port(rx)); /* not the name on it */
    c.sgp_base_url = url;
    c.ca_bundle = t.cert_path; /* trusted issuer: only the host name is wrong */
    cr_assert_eq(weft_init(&c), 0);
    make_spans(20);
    for (int i = 0; i < 200 && wt_log_count("certificate was refused") == 0; i++)
        usleep(50 * 1000);
    cr_expect_eq(wt_log_count("certificate was refused"), 1, "no clear message for a refused certificate");
    usleep(1500 * 1000); /* a transient-fault retry would have gone by now (backoff <= 1 s) */
    weft_stats s;
    weft_get_stats(&s);
    cr_expect_eq(s.retried, 0, "a refused certificate was retried as if transient");
    cr_expect_eq(s.requests, 1, "%llu requests while paused", (unsigned long long)s.requests);
    int rc = weft_shutdown(500);
    cr_expect(rc == WEFT_ETIMEDOUT || rc == WEFT_EEXPORT, "shutdown returned %d", rc);
    weft_get_stats(&s);
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.exported, 0);
    cr_expect_eq(s.dropped_export + s.dropped_queue, 20, "every span counted as not delivered");
    cr_expect_eq(weft_rx_requests(rx), 0, "a request got past the TLS handshake");
    cr_expect_eq(wt_log_count(KEY), 0, "the API key reached the log");
    weft_rx_stop(rx);
    drop_cert(&t);
}
