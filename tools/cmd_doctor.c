/*
 * cmd_doctor.c — `weft doctor`: the effective configuration (weft__cfg_load: environment and
 * defaults, exactly as weft_init would resolve them) with secrets hidden — the API key is
 * shown as set or not set, never its text — then one line per check of each configured
 * backend, with what to do when it fails:
 *
 *   SGP      the URL and key rule, DNS resolution, a TCP connection, the TLS handshake (https),
 *            and authentication with a cheap call (a span search with limit 1)
 *   jsonl    the output file can be created or appended to
 *   spool    the spool directory exists or can be created, and is writable
 *   stratix  when LAYERLENS_STRATIX_API_KEY is set: the client accepts the URL and key, and
 *            GET /organizations answers (weft_stratix_client_ids: the organization and project)
 *
 * Exit 1 when a check failed. libcurl is used here only for the TLS handshake (CONNECT_ONLY).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "url.h"
#include "weft/stratix.h"

static const char help[] =
    "Usage: weft doctor\n"
    "\n"
    "Prints the effective configuration (environment and defaults; the API key only as set or\n"
    "not set) and checks each configured backend: for SGP the URL, DNS, a TCP connection, the\n"
    "TLS handshake and authentication (a search with limit 1); for the jsonl exporter and the\n"
    "spool that their paths are writable; for Stratix (when LAYERLENS_STRATIX_API_KEY is set)\n"
    "that it answers GET /organizations with the key. One line per check, with what to do\n"
    "when it fails.\n"
    "Exit status: 0 every check passed, 1 a check failed, 2 usage.\n";

typedef struct doctor {
    int failed;
    bool color;
    char warnings[8][256];
    int n_warnings;
} doctor;

static void check(doctor *d, bool ok, const char *what, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void check(doctor *d, bool ok, const char *what, const char *fmt, ...)
{
    const char *tag = ok ? "ok  " : "FAIL";
    if (d->color)
        printf("  %s%s\033[0m  %-10s ", ok ? "\033[32m" : "\033[31;1m", tag, what);
    else
        printf("  %s  %-10s ", tag, what);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    if (!ok)
        d->failed++;
}

static void note(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const char *what, const char *fmt, ...)
{
    printf("  --    %-10s ", what);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static void on_log(void *user, weft_log_level level, const char *msg)
{
    doctor *d = user;
    if (d->n_warnings < 8)
        snprintf(d->warnings[d->n_warnings++], sizeof d->warnings[0], "%s", msg);
}

/* host and port of an http(s) URL: host without brackets. */
static bool split_url(const char *url, char *host, size_t hn, char *port, size_t pn, bool *https)
{
    const char *p = strstr(url, "://");
    if (!p)
        return false;
    *https = (size_t)(p - url) == 5 && !strncasecmp(url, "https", 5);
    p += 3;
    const char *end = p + strcspn(p, "/?#");
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at)
        p = at + 1;
    const char *hs = p, *he;
    const char *colon;
    if (*p == '[') {
        hs = p + 1;
        he = memchr(hs, ']', (size_t)(end - hs));
        if (!he)
            return false;
        colon = he + 1 < end && he[1] == ':' ? he + 1 : NULL;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        he = colon ? colon : end;
    }
    if (he == hs || (size_t)(he - hs) >= hn)
        return false;
    memcpy(host, hs, (size_t)(he - hs));
    host[he - hs] = 0;
    if (colon && colon + 1 < end) {
        if ((size_t)(end - colon - 1) >= pn)
            return false;
        memcpy(port, colon + 1, (size_t)(end - colon - 1));
        port[end - colon - 1] = 0;
    } else {
        snprintf(port, pn, "%s", *https ? "443" : "80");
    }
    return true;
}

static int tcp_connect(const struct addrinfo *ai, int timeout_ms, char *why, size_t wn)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
        snprintf(why, wn, "%s", strerror(errno));
        return -1;
    }
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        rc = poll(&p, 1, timeout_ms);
        if (rc == 0) {
            snprintf(why, wn, "no answer within %d ms", timeout_ms);
            close(fd);
            return -1;
        }
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) {
            snprintf(why, wn, "%s", strerror(err));
            close(fd);
            return -1;
        }
        rc = 0;
    } else if (rc != 0) {
        snprintf(why, wn, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static void check_sgp(doctor *d, const weft__cfg *c)
{
    const char *url = c->sgp_base_url;
    bool has_key = c->sgp_api_key && c->sgp_api_key[0];
    printf("\nSGP (%s)\n", url);
    int u = weft__url_key_allowed(NULL, url, has_key, true); /* as the exporter: no proxy for loopback */
    if (u == WEFT_ECONFIG) {
        check(d, false, "url", "%s is not an http:// or https:// URL: fix SGP_CLIENT_BASE_URL", url);
        return;
    }
    if (u == WEFT_EINSECURE) {
        check(d, false, "url",
              "plain http:// to a host that is not loopback: the key would travel in clear text; use https:// "
              "in SGP_CLIENT_BASE_URL");
        return;
    }
    check(d, true, "url", "%s", weft__url_is_plain_http(url) ? "plain http to a loopback host" : "https");
    if (!has_key)
        note("key", "SGP_API_KEY is not set: SGP will refuse requests unless this server needs no key");

    char host[256], port[16];
    bool https;
    if (!split_url(url, host, sizeof host, port, sizeof port, &https)) {
        check(d, false, "url", "cannot read the host of %s: fix SGP_CLIENT_BASE_URL", url);
        return;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g != 0) {
        check(d, false, "dns", "%s does not resolve (%s): check the host name in SGP_CLIENT_BASE_URL and the "
                               "network's DNS", host, gai_strerror(g));
        return;
    }
    char addr[INET6_ADDRSTRLEN] = "?";
    if (res->ai_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr, sizeof addr);
    else if (res->ai_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr, addr, sizeof addr);
    check(d, true, "dns", "%s resolves to %s", host, addr);

    int timeout = c->connect_timeout_ms ? (int)c->connect_timeout_ms : 5000;
    char why[256] = "";
    int ok = -1;
    for (struct addrinfo *ai = res; ai && ok != 0; ai = ai->ai_next)
        ok = tcp_connect(ai, timeout, why, sizeof why);
    freeaddrinfo(res);
    if (ok != 0) {
        check(d, false, "connect", "%s port %s: %s: is the server up? is a firewall or proxy in the way?", host,
              port, why);
        return;
    }
    check(d, true, "connect", "%s port %s accepts connections", host, port);

    if (https) {
        CURL *h = curl_easy_init();
        char eb[CURL_ERROR_SIZE] = "";
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, eb);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout);
        if (c->ca_bundle)
            curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_bundle);
        CURLcode cr = curl_easy_perform(h);
        curl_easy_cleanup(h);
        if (cr != CURLE_OK) {
            check(d, false, "tls", "handshake failed: %s: check the server's certificate, or WEFT_CA_BUNDLE for a "
                                   "private CA", eb[0] ? eb : curl_easy_strerror(cr));
            return;
        }
        check(d, true, "tls", "handshake done, certificate verified for %s", host);
    } else {
        note("tls", "not used (plain http to loopback)");
    }

    weft_sgp_options o;
    cli_sgp_options(&o);
    o.max_retries = -1;
    weft_sgp_client *client;
    weft_sgp_error e;
    if (weft_sgp_client_new(&o, &client, &e) != 0) {
        check(d, false, "auth", "cannot make a client: %s", e.message);
        return;
    }
    weft_sgp_span_list *l = NULL;
    int rc = weft_sgp_spans_search(client, &(weft_sgp_search){.limit = 1}, &l, &e);
    weft_sgp_span_list_free(l);
    weft_sgp_client_free(client);
    if (rc == 0)
        check(d, true, "auth", "a search with limit 1 was answered (HTTP %d)", e.http_status);
    else if (rc == WEFT_EHTTP && (e.http_status == 401 || e.http_status == 403))
        check(d, false, "auth", "HTTP %d%s%s: the key was refused: check SGP_API_KEY (and SGP_ACCOUNT_ID for the "
                                "account it belongs to)", e.http_status, e.detail[0] ? ": " : "", e.detail);
    else
        check(d, false, "auth", "the search failed: %s%s%s", e.message, e.detail[0] ? ": " : "", e.detail);
}

static void check_jsonl(doctor *d, const char *path)
{
    printf("\njsonl (%s)\n", path);
    if (access(path, F_OK) == 0) {
        bool w = access(path, W_OK) == 0;
        check(d, w, "file", w ? "exists and can be appended to" : "exists but cannot be written: %s; fix its "
                                "permissions or set WEFT_JSONL_PATH", w ? "" : strerror(errno));
        return;
    }
    char *copy = cli_strdup(path);
    const char *dir = dirname(copy);
    bool w = access(dir, W_OK | X_OK) == 0;
    check(d, w, "file", w ? "can be created in %s" : "%s is not writable: set WEFT_JSONL_PATH to a writable place",
          dir);
    free(copy);
}

static void check_spool(doctor *d, const char *dir)
{
    printf("\nspool (%s)\n", dir);
    struct stat st;
    if (stat(dir, &st) == 0) {
        bool w = S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0;
        check(d, w, "directory", w ? "exists and is writable" : "is not a writable directory: fix its permissions "
                                     "or set WEFT_SPOOL_DIR elsewhere");
        return;
    }
    char *copy = cli_strdup(dir);
    const char *parent = dirname(copy);
    bool w = access(parent, W_OK | X_OK) == 0;
    check(d, w, "directory", w ? "will be created in %s" : "cannot be created (%s is not writable): set "
                                 "WEFT_SPOOL_DIR to a writable place", parent);
    free(copy);
}

static void check_stratix(doctor *d)
{
    printf("\nStratix\n");
    weft_sgp_options so;
    cli_sgp_options(&so);
    weft_stratix_opts o = {.ca_bundle = so.ca_bundle,
                           .connect_timeout_ms = so.connect_timeout_ms,
                           .request_timeout_ms = so.request_timeout_ms,
                           .max_retries = so.max_retries};
    weft_stratix_client *c = NULL;
    weft_stratix_error e = {0};
    int rc = weft_stratix_client_new(&c, &o, &e);
    if (rc != 0) {
        check(d, false, "url", "%s%s", e.message,
              rc == WEFT_EINSECURE ? ": use https:// (plain http only to a loopback host)" : "");
        return;
    }
    const char *org = NULL, *project = NULL;
    rc = weft_stratix_client_ids(c, &org, &project, &e);
    if (rc == 0)
        check(d, true, "auth", "GET /organizations: organization %s, project %s", org, project);
    else if (e.http_status == 401 || e.http_status == 403)
        check(d, false, "auth", "HTTP %d: %s: check LAYERLENS_STRATIX_API_KEY", e.http_status, e.message);
    else if (rc == WEFT_EIO)
        check(d, false, "connect", "%s: is the server up, and is LAYERLENS_STRATIX_BASE_URL right?", e.message);
    else
        check(d, false, "auth", "%s", e.message);
    weft_stratix_client_free(c);
}

static const char *or_dash(const char *s)
{
    return s && s[0] ? s : "-";
}

int cmd_doctor(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = cli_getopt("doctor", argc, argv, "h", opts)) != -1) {
        if (c == 'h') {
            fputs(help, stdout);
            return CLI_OK;
        }
        return CLI_USAGE;
    }
    if (optind < argc)
        return cli_usage("doctor", "unexpected argument '%s'", argv[optind]);
    doctor d = {.color = cli_color(stdout)};
    weft_config in = {.log = on_log, .log_user = &d};
    weft__cfg cfg;
    int lrc = weft__cfg_load(&cfg, &in);
    if (lrc != 0) {
        for (int i = 0; i < d.n_warnings; i++)
            check(&d, false, "value", "%s", d.warnings[i]);
        cli_err("doctor", "the configuration cannot be loaded: %s", weft_strerror(lrc));
        return CLI_FAIL;
    }
    bool has_key = cfg.sgp_api_key && cfg.sgp_api_key[0];
    printf("configuration (environment and defaults)\n");
    printf("  %-28s %s\n", "WEFT_EXPORTER", cfg.exporters);
    printf("  %-28s %s\n", "SGP_CLIENT_BASE_URL", cfg.sgp_base_url);
    printf("  %-28s %s\n", "SGP_API_KEY", has_key ? "set (hidden)" : "not set");
    printf("  %-28s %s\n", "SGP_ACCOUNT_ID", or_dash(cfg.sgp_account_id));
    const char *sx_key = getenv("LAYERLENS_STRATIX_API_KEY"), *sx_url = getenv("LAYERLENS_STRATIX_BASE_URL");
    bool has_sx = sx_key && sx_key[0];
    printf("  %-28s %s\n", "LAYERLENS_STRATIX_BASE_URL", sx_url && sx_url[0] ? sx_url : WEFT_STRATIX_DEFAULT_BASE_URL);
    printf("  %-28s %s\n", "LAYERLENS_STRATIX_API_KEY", has_sx ? "set (hidden)" : "not set");
    printf("  %-28s %s\n", "WEFT_JSONL_PATH", cfg.jsonl_path);
    printf("  %-28s %s\n", "WEFT_SPOOL_DIR", cfg.spool_dir ? cfg.spool_dir : "off");
    printf("  %-28s %s\n", "WEFT_CA_BUNDLE", cfg.ca_bundle ? cfg.ca_bundle : "the system's");
    printf("  %-28s %g\n", "WEFT_SAMPLE_RATIO", cfg.sample_ratio);
    printf("  %-28s %u / %u ms\n", "WEFT_CONNECT/REQUEST_TIMEOUT", cfg.connect_timeout_ms, cfg.request_timeout_ms);
    printf("  %-28s %s\n", "tracing", cfg.disabled ? "disabled (DISABLE_SCALE_TRACING or WEFT_DISABLED)" : "on");
    if (d.n_warnings) {
        printf("\nenvironment\n");
        for (int i = 0; i < d.n_warnings; i++)
            check(&d, false, "value", "%s", d.warnings[i]);
    }
    /* SGP is probed when it is an exporter or its variables are set (the CLI's read side). */
    bool sgp = weft__cfg_has_exporter(&cfg, "sgp") || has_key || getenv("SGP_CLIENT_BASE_URL");
    if (sgp)
        check_sgp(&d, &cfg);
    if (weft__cfg_has_exporter(&cfg, "jsonl"))
        check_jsonl(&d, cfg.jsonl_path);
    if (cfg.spool_dir)
        check_spool(&d, cfg.spool_dir);
    if (has_sx)
        check_stratix(&d);
    if (!sgp)
        printf("\nSGP: not configured (set SGP_API_KEY, and SGP_CLIENT_BASE_URL for another server)\n");
    printf("\n%s\n", d.failed ? "some checks failed" : "every check passed");
    weft__cfg_free(&cfg);
    return d.failed ? CLI_FAIL : CLI_OK;
}
