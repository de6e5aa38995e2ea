/*
 * cli.h — what the subcommands of the `weft` program (tools/) share: exit codes, messages,
 * terminal facts (tty, colour, width, UTF-8), the SGP client and trace source built from the
 * environment, number/time formatting and a small table printer.
 *
 * The program is single-threaded (the upload job runs its own thread inside the library);
 * nothing here is thread-safe. Strings returned through out-parameters are malloc'd and owned
 * by the caller unless a comment says *static* or *borrowed*.
 */
#ifndef WEFT_TOOLS_CLI_H
#define WEFT_TOOLS_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/sgp.h"
#include "weft/traces.h"

/* Exit status (DESIGN.md section 12). */
#define CLI_OK 0    /* done */
#define CLI_FAIL 1  /* the work failed; a message said why */
#define CLI_USAGE 2 /* a usage error */

/* Each subcommand group: argv[0] is the group's name ("upload", "spans", ...). */
int cmd_upload(int argc, char **argv);
int cmd_spans(int argc, char **argv);
int cmd_traces(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_view(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_stratix(int argc, char **argv);

/* ---- messages ------------------------------------------------------------------------------ */

/* "weft CMD: <message>\n" on stderr. cmd is borrowed ("spans search"). */
void cli_err(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A usage error: the message, then "Try 'weft CMD --help'."; returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reports an SGP failure with a hint on what to do (401/403: the key; EIO: the server or the
 * URL); returns CLI_FAIL. what is borrowed ("search"). */
int cli_sgp_fail(const char *cmd, const char *what, const weft_sgp_error *e);

/* getopt_long over argv (argc, argv as given to the group), with '?' and ':' turned into a
 * usage message naming the option. Returns the option, -1 at the end, or '?' after printing
 * the message (the caller returns CLI_USAGE). */
struct option;
int cli_getopt(const char *cmd, int argc, char **argv, const char *shortopts, const struct option *longopts);

/* ---- terminal ------------------------------------------------------------------------------ */

bool cli_isatty(FILE *f);
/* Colour on f: a terminal and NO_COLOR unset or empty. */
bool cli_color(FILE *f);
/* Columns: TIOCGWINSZ on f when a terminal, else $COLUMNS, else 100; at least 40. */
int cli_term_width(FILE *f);
/* The locale's codeset is UTF-8 (box drawing and block characters may be printed). */
bool cli_utf8(void);
/* Printed width of UTF-8 text: code points (every code point one column). */
size_t cli_text_width(const char *s);
/* Writes s cut to at most width columns (with "…" / "~" when cut), padded with spaces to
 * exactly width when pad. */
void cli_put_cut(FILE *f, const char *s, size_t width, bool pad);

/* ---- SGP and sources ----------------------------------------------------------------------- */

/* A client from SGP_API_KEY, SGP_ACCOUNT_ID, SGP_CLIENT_BASE_URL, WEFT_CA_BUNDLE,
 * WEFT_CONNECT_TIMEOUT_MS, WEFT_REQUEST_TIMEOUT_MS and WEFT_CLI_MAX_RETRIES. Returns CLI_OK and
 * *out, or CLI_FAIL after a message. */
int cli_sgp_client(const char *cmd, weft_sgp_client **out);
/* The options cli_sgp_client uses (strings static or from the environment). */
void cli_sgp_options(weft_sgp_options *o);

/* Each path exists and can be read (a regular file or a directory); else a message naming it
 * and CLI_FAIL. */
int cli_check_paths(const char *cmd, char *const *paths, int n);

/* What `[--sgp | FILE...]` chose. */
typedef struct cli_source {
    weft_sgp_client *client; /* --sgp only */
    weft_trace_source *src;
    bool sgp;
} cli_source;

/* Opens the source: SGP with sgp, else the files (at least one: a usage error otherwise).
 * Returns CLI_OK, CLI_FAIL or CLI_USAGE after a message. */
int cli_source_open(const char *cmd, bool sgp, char *const *files, int n, cli_source *out);
void cli_source_close(cli_source *s);
/* Turns a traces.h code into a message and CLI_FAIL (ENOTFOUND names the trace id). */
int cli_source_fail(const char *cmd, cli_source *s, int rc, const char *trace_id);
/* Warns on stderr about entries the files held that were not spans ("2 entries skipped ...,
 * first: line 3: ..."). */
void cli_source_warn_skipped(const char *cmd, cli_source *s);

/* Every trace id of the source, newest first (all pages). *ids: n strings, free with
 * cli_strv_free. */
int cli_source_trace_ids(cli_source *s, char ***ids, size_t *n);
void cli_strv_free(char **v, size_t n);

/* ---- formatting ---------------------------------------------------------------------------- */

/* ISO 8601 UTC ("...Z" or "+00:00", fraction up to 9 digits) to ns since the epoch. */
bool cli_time_ns(const char *iso, int64_t *ns);
/* "850 µs" ("us" without UTF-8), "12.3 ms", "1.24 s", "2m05s". */
void cli_fmt_ms(char *buf, size_t n, double ms);
/* "1,234,567". */
void cli_fmt_int(char *buf, size_t n, int64_t v);
/* "512 B", "12.3 KB", "45.6 MB", "1.20 GB" (powers of 1000). */
void cli_fmt_bytes(char *buf, size_t n, double bytes);
/* "$0.0123" / "-" when !has. */
void cli_fmt_cost(char *buf, size_t n, bool has, double usd);
/* A strictly parsed unsigned number in [min, max]. */
bool cli_parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out);

/* ---- tables -------------------------------------------------------------------------------- */

/* A table for people: a header row, then rows; columns padded to their widest cell; numbers
 * right-aligned where the header says so. On a terminal the last column is cut to fit. */
typedef struct cli_table {
    size_t ncols;
    const char *const *header;
    const bool *right; /* ncols flags; NULL: all left */
    char **cells;      /* rows × ncols, owned */
    size_t rows, cap;
} cli_table;

void cli_table_init(cli_table *t, size_t ncols, const char *const *header, const bool *right);
/* Appends a row of ncols cells (copied; NULL prints "-"). */
void cli_table_add(cli_table *t, const char *const *cells);
void cli_table_print(cli_table *t, FILE *f);
void cli_table_free(cli_table *t);

/* A heap copy or NULL (NULL in, NULL out); aborts the program when out of memory. */
char *cli_strdup(const char *s);
void *cli_xrealloc(void *p, size_t n);

#endif
