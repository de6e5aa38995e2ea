/*
 * cli_util.c — the helpers of cli.h: messages, terminal facts, the SGP client and trace source
 * from the environment, formatting and the table printer. Single-threaded.
 */
#include <errno.h>
#include <getopt.h>
#include <langinfo.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* ---- memory -------------------------------------------------------------------------------- */

void *cli_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fputs("weft: out of memory\n", stderr);
        exit(CLI_FAIL);
    }
    return q;
}

char *cli_strdup(const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = cli_xrealloc(NULL, n);
    memcpy(d, s, n);
    return d;
}

void cli_strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* ---- messages ------------------------------------------------------------------------------ */

static void vmsg(const char *cmd, const char *fmt, va_list ap)
{
    fprintf(stderr, "weft%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_err(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(cmd, fmt, ap);
    va_end(ap);
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg(cmd, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Try 'weft %s --help'.\n", cmd ? cmd : "");
    return CLI_USAGE;
}

int cli_sgp_fail(const char *cmd, const char *what, const weft_sgp_error *e)
{
    const char *hint = "";
    if (e->code == WEFT_EHTTP && (e->http_status == 401 || e->http_status == 403))
        hint = " (the server refused the credentials: check SGP_API_KEY and SGP_ACCOUNT_ID)";
    else if (e->code == WEFT_EIO)
        hint = " (no answer: is the server up, and is SGP_CLIENT_BASE_URL right? `weft doctor` checks)";
    else if (e->code == WEFT_EINSECURE)
        hint = " (use https://, or plain http only to a loopback host)";
    else if (e->code == WEFT_EHTTP && e->http_status == 404)
        hint = " (not found)";
    cli_err(cmd, "%s failed: %s%s%s%s", what, e->message[0] ? e->message : weft_strerror(e->code),
            e->detail[0] ? ": " : "", e->detail, hint);
    return CLI_FAIL;
}

int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    opterr = 0;
    /* A leading ':' makes getopt tell a missing value (':') from an unknown option ('?'). */
    char so[64];
    bool plus = shortopts[0] == '+';
    snprintf(so, sizeof so, "%s:%s", plus ? "+" : "", shortopts + plus);
    int c = getopt_long(argc, argv, so, longopts, NULL);
    if (c == '?' || c == ':') {
        const char *arg = optind > 0 && optind <= argc ? argv[optind - 1] : "?";
        if (c == ':')
            cli_usage(cmd, "option '%s' needs a value", arg);
        else
            cli_usage(cmd, "unknown option '%s'", arg);
        return '?';
    }
    return c;
}

/* ---- terminal ------------------------------------------------------------------------------ */

bool cli_isatty(FILE *f)
{
    return isatty(fileno(f)) == 1;
}

bool cli_color(FILE *f)
{
    const char *nc = getenv("NO_COLOR");
    if (nc && nc[0])
        return false;
    return cli_isatty(f);
}

int cli_term_width(FILE *f)
{
    int w = 0;
    struct winsize ws;
    if (cli_isatty(f) && ioctl(fileno(f), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        w = ws.ws_col;
    if (!w) {
        const char *c = getenv("COLUMNS");
        uint32_t v;
        if (c && cli_parse_u32(c, 1, 10000, &v))
            w = (int)v;
    }
    if (!w)
        w = 100;
    return w < 40 ? 40 : w;
}

bool cli_utf8(void)
{
    const char *cs = nl_langinfo(CODESET);
    return cs && (strcasecmp(cs, "UTF-8") == 0 || strcasecmp(cs, "utf8") == 0);
}

size_t cli_text_width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

void cli_put_cut(FILE *f, const char *s, size_t width, bool pad)
{
    if (!s)
        s = "-";
    size_t w = cli_text_width(s);
    if (w <= width) {
        fputs(s, f);
        for (; pad && w < width; w++)
            fputc(' ', f);
        return;
    }
    if (width == 0)
        return;
    /* width - 1 code points, then the cut mark. Control bytes print as spaces. */
    size_t cols = 0;
    const char *p = s;
    while (*p && cols < width - 1) {
        const char *q = p + 1;
        while (((unsigned char)*q & 0xC0) == 0x80)
            q++;
        fwrite(p, 1, (size_t)(q - p), f);
        p = q;
        cols++;
    }
    fputs(cli_utf8() ? "…" : "~", f);
}

/* ---- configuration ------------------------------------------------------------------------- */

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && v[0] ? v : NULL;
}

static uint32_t env_u32(const char *name, uint32_t min, uint32_t max)
{
    const char *v = env(name);
    uint32_t x;
    return v && cli_parse_u32(v, min, max, &x) ? x : 0;
}

void cli_sgp_options(weft_sgp_options *o)
{
    memset(o, 0, sizeof *o);
    o->ca_bundle = env("WEFT_CA_BUNDLE");
    o->connect_timeout_ms = env_u32("WEFT_CONNECT_TIMEOUT_MS", 1, 600000);
    o->request_timeout_ms = env_u32("WEFT_REQUEST_TIMEOUT_MS", 1, 3600000);
    const char *r = env("WEFT_CLI_MAX_RETRIES");
    uint32_t n;
    if (r && cli_parse_u32(r, 0, 100, &n))
        o->max_retries = n == 0 ? -1 : (int32_t)n;
}

int cli_sgp_client(const char *cmd, weft_sgp_client **out)
{
    weft_sgp_options o;
    cli_sgp_options(&o);
    weft_sgp_error e;
    int rc = weft_sgp_client_new(&o, out, &e);
    if (rc != 0)
        return cli_sgp_fail(cmd, "connecting to SGP", &e);
    return CLI_OK;
}

int cli_check_paths(const char *cmd, char *const *paths, int n)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            cli_err(cmd, "%s: %s", paths[i], strerror(errno));
            return CLI_FAIL;
        }
        if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
            cli_err(cmd, "%s: not a file or a spool directory", paths[i]);
            return CLI_FAIL;
        }
        if (access(paths[i], R_OK) != 0) {
            cli_err(cmd, "%s: %s", paths[i], strerror(errno));
            return CLI_FAIL;
        }
    }
    return CLI_OK;
}

int cli_source_open(const char *cmd, bool sgp, char *const *files, int n, cli_source *out)
{
    memset(out, 0, sizeof *out);
    out->sgp = sgp;
    if (sgp && n > 0)
        return cli_usage(cmd, "give either --sgp or files, not both");
    if (!sgp && n == 0)
        return cli_usage(cmd, "no input: give span files (JSONL, JSON, spool directories) or --sgp");
    if (sgp) {
        int rc = cli_sgp_client(cmd, &out->client);
        if (rc)
            return rc;
        if (weft_trace_source_open_sgp(out->client, &out->src) != 0) {
            cli_err(cmd, "out of memory");
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    int rc = cli_check_paths(cmd, files, n);
    if (rc)
        return rc;
    if (weft_trace_source_open_files((const char *const *)files, (size_t)n, &out->src) != 0) {
        cli_err(cmd, "out of memory");
        return CLI_FAIL;
    }
    return CLI_OK;
}

void cli_source_close(cli_source *s)
{
    weft_trace_source_free(s->src);
    weft_sgp_client_free(s->client);
    memset(s, 0, sizeof *s);
}

int cli_source_fail(const char *cmd, cli_source *s, int rc, const char *trace_id)
{
    if (rc == WEFT_ENOTFOUND && trace_id)
        cli_err(cmd, "trace %s: no span of it in the %s", trace_id, s->sgp ? "SGP account" : "files");
    else if (rc == WEFT_EIO && !s->sgp)
        cli_err(cmd, "the files cannot be read: %s", weft_strerror(rc));
    else if (s->sgp) {
        /* The trace queries return the code only; one cheap request gets the server's status and
         * detail for the message (the same failure, as a rule: a refused key, a server away). */
        weft_sgp_error e;
        weft_sgp_span_list *l = NULL;
        if (weft_sgp_spans_search(s->client, &(weft_sgp_search){.limit = 1}, &l, &e) == 0) {
            e.code = rc;
            e.detail[0] = 0;
            snprintf(e.message, sizeof e.message, "%s", weft_strerror(rc));
        }
        weft_sgp_span_list_free(l);
        return cli_sgp_fail(cmd, "reading traces from SGP", &e);
    } else
        cli_err(cmd, "%s", weft_strerror(rc));
    return CLI_FAIL;
}

void cli_source_warn_skipped(const char *cmd, cli_source *s)
{
    const char *first = NULL;
    uint64_t n = weft_trace_source_skipped(s->src, &first);
    if (n)
        cli_err(cmd, "warning: %llu %s not span items and skipped (first: %s)", (unsigned long long)n,
                n == 1 ? "entry was" : "entries were", first ? first : "?");
}

int cli_source_trace_ids(cli_source *s, char ***ids, size_t *n)
{
    *ids = NULL;
    *n = 0;
    size_t cap = 0;
    for (uint32_t page = 1;; page++) {
        weft_trace_list_response *r;
        int rc = weft_traces_list(s->src, &(weft_trace_list_opts){.page = page, .page_size = 1000}, &r);
        if (rc) {
            cli_strv_free(*ids, *n);
            *ids = NULL;
            *n = 0;
            return rc;
        }
        for (size_t i = 0; i < r->n_traces; i++) {
            if (*n == cap) {
                cap = cap ? cap * 2 : 16;
                *ids = cli_xrealloc(*ids, cap * sizeof **ids);
            }
            (*ids)[(*n)++] = cli_strdup(r->traces[i].trace_id);
        }
        bool last = r->n_traces == 0 || (uint64_t)page * 1000 >= r->total;
        weft_trace_list_response_free(r);
        if (last)
            return 0;
    }
}

/* ---- formatting ---------------------------------------------------------------------------- */

static bool digits(const char *s, int n, int *v)
{
    int x = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        x = x * 10 + (s[i] - '0');
    }
    *v = x;
    return true;
}

/* Days from 1970-01-01 (proleptic Gregorian), the civil-to-days formula. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool cli_time_ns(const char *s, int64_t *ns)
{
    int y, mo, d, h, mi, se;
    if (!s || strlen(s) < 19 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) || s[7] != '-' ||
        !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' || !digits(s + 17, 2, &se))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return false;
    const char *p = s + 19;
    int64_t frac = 0;
    if (*p == '.') {
        p++;
        int nd = 0;
        while (*p >= '0' && *p <= '9') {
            if (nd < 9)
                frac = frac * 10 + (*p - '0');
            nd++;
            p++;
        }
        if (!nd)
            return false;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    if (!(((*p == 'Z' || *p == 'z') && p[1] == 0) || strcmp(p, "+00:00") == 0 || *p == 0))
        return false;
    *ns = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) * 1000000000LL) + frac;
    return true;
}

void cli_fmt_ms(char *buf, size_t n, double ms)
{
    if (ms < 0)
        ms = 0;
    if (ms < 1)
        snprintf(buf, n, "%.0f %s", ms * 1000, cli_utf8() ? "µs" : "us");
    else if (ms < 10)
        snprintf(buf, n, "%.2f ms", ms);
    else if (ms < 1000)
        snprintf(buf, n, "%.1f ms", ms);
    else if (ms < 60000)
        snprintf(buf, n, "%.2f s", ms / 1000);
    else
        snprintf(buf, n, "%dm%02ds", (int)(ms / 60000), (int)((int64_t)(ms / 1000) % 60));
}

void cli_fmt_int(char *buf, size_t n, int64_t v)
{
    char raw[32];
    snprintf(raw, sizeof raw, "%lld", (long long)(v < 0 ? -v : v));
    size_t len = strlen(raw), o = 0;
    char tmp[48];
    if (v < 0)
        tmp[o++] = '-';
    for (size_t i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            tmp[o++] = ',';
        tmp[o++] = raw[i];
    }
    tmp[o] = 0;
    snprintf(buf, n, "%s", tmp);
}

void cli_fmt_bytes(char *buf, size_t n, double b)
{
    if (b < 1000)
        snprintf(buf, n, "%.0f B", b);
    else if (b < 1e6)
        snprintf(buf, n, "%.1f KB", b / 1e3);
    else if (b < 1e9)
        snprintf(buf, n, "%.1f MB", b / 1e6);
    else
        snprintf(buf, n, "%.2f GB", b / 1e9);
}

void cli_fmt_cost(char *buf, size_t n, bool has, double usd)
{
    if (!has)
        snprintf(buf, n, "-");
    else if (usd != 0 && usd < 0.0001)
        snprintf(buf, n, "$%.6f", usd);
    else
        snprintf(buf, n, "$%.4f", usd);
}

bool cli_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+')
        return false;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* ---- tables -------------------------------------------------------------------------------- */

void cli_table_init(cli_table *t, size_t ncols, const char *const *header, const bool *right)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    t->header = header;
    t->right = right;
}

void cli_table_add(cli_table *t, const char *const *cells)
{
    if (t->rows == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 16;
        t->cells = cli_xrealloc(t->cells, t->cap * t->ncols * sizeof *t->cells);
    }
    for (size_t c = 0; c < t->ncols; c++) {
        const char *v = cells[c] ? cells[c] : "-";
        /* One line per row: newlines and tabs become spaces. */
        char *d = cli_strdup(v);
        for (char *p = d; *p; p++)
            if (*p == '\n' || *p == '\r' || *p == '\t')
                *p = ' ';
        t->cells[t->rows * t->ncols + c] = d;
    }
    t->rows++;
}

static void print_row(const cli_table *t, FILE *f, const char *const *cells, const size_t *w, size_t last_w,
                      bool bold)
{
    if (bold)
        fputs("\033[1m", f);
    for (size_t c = 0; c < t->ncols; c++) {
        bool last = c + 1 == t->ncols;
        size_t width = last ? last_w : w[c];
        size_t tw = cli_text_width(cells[c]);
        if (t->right && t->right[c])
            for (size_t k = tw; k < width; k++)
                fputc(' ', f);
        cli_put_cut(f, cells[c], width, !last && !(t->right && t->right[c]));
        if (!last)
            fputs("  ", f);
    }
    if (bold)
        fputs("\033[0m", f);
    fputc('\n', f);
}

void cli_table_print(cli_table *t, FILE *f)
{
    size_t *w = cli_xrealloc(NULL, t->ncols * sizeof *w);
    for (size_t c = 0; c < t->ncols; c++) {
        w[c] = cli_text_width(t->header[c]);
        for (size_t r = 0; r < t->rows; r++) {
            size_t x = cli_text_width(t->cells[r * t->ncols + c]);
            if (x > w[c])
                w[c] = x;
        }
    }
    size_t last_w = w[t->ncols - 1];
    if (cli_isatty(f)) {
        size_t used = 0;
        for (size_t c = 0; c + 1 < t->ncols; c++)
            used += w[c] + 2;
        size_t tw = (size_t)cli_term_width(f);
        last_w = used + 8 < tw ? tw - used : 8;
        if (last_w > w[t->ncols - 1])
            last_w = w[t->ncols - 1];
    }
    print_row(t, f, t->header, w, last_w, cli_color(f));
    for (size_t r = 0; r < t->rows; r++)
        print_row(t, f, (const char *const *)&t->cells[r * t->ncols], w, last_w, false);
    free(w);
}

void cli_table_free(cli_table *t)
{
    for (size_t i = 0; i < t->rows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}
