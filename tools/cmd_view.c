/*
 * cmd_view.c — `weft view [--sgp | FILE...] [--trace ID] [--html OUT.html]`: one trace as a
 * waterfall. In the terminal: one line per span, the tree on the left, a bar proportional to
 * the span's time within the trace, then duration, tokens, cost and an error mark; colour only
 * on a terminal without NO_COLOR; as wide as the terminal (TIOCGWINSZ, COLUMNS, else 100).
 * With --html, the page of view_html.c instead. Also owns the layout of view.h.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "view.h"

static const char help[] =
    "Usage: weft view [--sgp | FILE...] [--trace ID] [--html OUT.html]\n"
    "\n"
    "Draws one trace as a waterfall: the span tree, one line per span, with a bar for its time\n"
    "within the trace, its duration, tokens and cost, errors marked. Without --trace, the\n"
    "newest trace of the input.\n"
    "\n"
    "  --trace ID        the trace to draw\n"
    "  --html OUT.html   write one self-contained page (no network) with the waterfall, the\n"
    "                    trace summary and each span's details on click, instead of drawing\n"
    "\n"
    "Colour on a terminal only, none when piped or with NO_COLOR set; the width follows the\n"
    "terminal, else COLUMNS, else 100.\n"
    "Exit status: 0 done, 1 failed (no such trace, a missing file, the server), 2 usage.\n";

/* ---- layout -------------------------------------------------------------------------------- */

static bool num(json_t *o, const char *k, double *v)
{
    json_t *x = json_object_get(o, k);
    if (!json_is_number(x))
        return false;
    *v = json_number_value(x);
    return true;
}

static void usage_of(const weft_trace_span *s, view_row *r)
{
    json_t *a = s->attributes ? json_loads(s->attributes, 0, NULL) : NULL;
    json_t *m = json_object_get(a, "metadata");
    double tt = 0, it = 0, ot = 0, c = 0;
    bool hi = num(m, "input_tokens", &it), ho = num(m, "output_tokens", &ot);
    if (num(m, "total_tokens", &tt)) {
        r->tokens = (int64_t)tt;
        r->has_tokens = true;
    } else if (hi || ho) {
        r->tokens = (int64_t)((hi ? it : 0) + (ho ? ot : 0));
        r->has_tokens = true;
    }
    if (num(m, "cost_usd", &c)) {
        r->cost = c;
        r->has_cost = true;
    }
    json_decref(a);
}

int view_layout_build(const weft_trace_full_result *t, view_layout *out)
{
    memset(out, 0, sizeof *out);
    size_t n = t->n_spans;
    int64_t *st = malloc((n ? n : 1) * sizeof *st), *en = malloc((n ? n : 1) * sizeof *en);
    bool *has_st = calloc(n ? n : 1, 1), *has_en = calloc(n ? n : 1, 1);
    if (!st || !en || !has_st || !has_en)
        goto oom;
    int64_t t0 = INT64_MAX, t1 = INT64_MIN;
    for (size_t i = 0; i < n; i++) {
        has_st[i] = cli_time_ns(t->spans[i].start_time, &st[i]);
        has_en[i] = cli_time_ns(t->spans[i].end_time, &en[i]);
        if (has_st[i] && st[i] < t0)
            t0 = st[i];
        if (has_st[i] && st[i] > t1)
            t1 = st[i];
        if (has_en[i] && en[i] > t1)
            t1 = en[i];
    }
    if (t0 == INT64_MAX)
        t0 = t1 = 0;
    out->t0_ns = t0;
    out->total_ms = (double)(t1 - t0) / 1e6;
    out->rows = calloc(n ? n : 1, sizeof *out->rows);
    if (!out->rows)
        goto oom;

    /* Depth first over the execution tree, an explicit stack (any depth). */
    typedef struct {
        const weft_trace_node *node;
        int depth;
        bool last;
    } item;
    size_t cap = 64, top = 0;
    item *stk = malloc(cap * sizeof *stk);
    if (!stk)
        goto oom;
    for (size_t i = t->n_execution_tree; i-- > 0;)
        stk[top++] = (item){&t->execution_tree[i], 0, i + 1 == t->n_execution_tree};
    while (top && out->n < n) {
        item it = stk[--top];
        size_t si = it.node->span;
        if (si >= n)
            continue;
        view_row *r = &out->rows[out->n++];
        const weft_trace_span *s = &t->spans[si];
        r->span = si;
        r->depth = it.depth;
        r->last = it.last;
        int64_t a = has_st[si] ? st[si] : t0, b = has_en[si] ? en[si] : t1;
        if (b < a)
            b = a;
        r->start_ms = (double)(a - t0) / 1e6;
        r->dur_ms = s->has_duration ? s->duration_ms : (double)(b - a) / 1e6;
        r->running = !s->end_time;
        r->error = s->status && !strcmp(s->status, "ERROR");
        out->errors += r->error;
        usage_of(s, r);
        if (top + it.node->n_children > cap) {
            cap = (top + it.node->n_children) * 2;
            item *nst = realloc(stk, cap * sizeof *stk);
            if (!nst) {
                free(stk);
                goto oom;
            }
            stk = nst;
        }
        for (size_t i = it.node->n_children; i-- > 0;)
            stk[top++] = (item){&it.node->children[i], it.depth + 1, i + 1 == it.node->n_children};
    }
    free(stk);
    free(st), free(en), free(has_st), free(has_en);
    return 0;
oom:
    free(st), free(en), free(has_st), free(has_en);
    view_layout_free(out);
    return -1;
}

void view_layout_free(view_layout *l)
{
    free(l->rows);
    memset(l, 0, sizeof *l);
}

/* ---- terminal ------------------------------------------------------------------------------ */

typedef struct style {
    bool color, utf8;
} style;

static const char *kind_color(const char *kind)
{
    if (!kind)
        return "\033[34m";
    if (!strcmp(kind, "COMPLETION") || !strcmp(kind, "COMPLETION_INPUT"))
        return "\033[35m"; /* magenta: LLM calls */
    if (!strcmp(kind, "KB_RETRIEVAL") || !strcmp(kind, "DOCUMENT_SEARCH") || !strcmp(kind, "FILE_RETRIEVAL") ||
        !strcmp(kind, "RERANKING"))
        return "\033[36m"; /* cyan: retrieval */
    if (!strcmp(kind, "CODE_EXECUTION") || !strcmp(kind, "EXTERNAL_ENDPOINT"))
        return "\033[33m"; /* yellow: tools */
    return "\033[34m";     /* blue: the rest */
}

static void put_n(FILE *f, const char *s, int n)
{
    for (int i = 0; i < n; i++)
        fputs(s, f);
}

static void put_right(FILE *f, const char *s, int w)
{
    int l = (int)cli_text_width(s);
    for (; l < w; l++)
        fputc(' ', f);
    fputs(s, f);
}

static void draw(FILE *f, const weft_trace_full_result *t, const view_layout *l, int width, style sy)
{
    const weft_trace_summary *s = &t->summary;
    const char *dim = sy.color ? "\033[2m" : "", *bold = sy.color ? "\033[1m" : "",
               *red = sy.color ? "\033[31m" : "", *off = sy.color ? "\033[0m" : "";
    char d[32], tok[32], cost[32];
    cli_fmt_ms(d, sizeof d, s->duration_ms);
    cli_fmt_int(tok, sizeof tok, s->total_tokens);
    cli_fmt_cost(cost, sizeof cost, s->has_total_cost, s->total_cost);
    /* The summary line: as many of its parts as fit the width, most important first. */
    char parts[8][64];
    snprintf(parts[0], sizeof parts[0], "%s", s->status);
    snprintf(parts[1], sizeof parts[1], "%s", d);
    snprintf(parts[2], sizeof parts[2], "%lld spans", (long long)s->span_count);
    snprintf(parts[3], sizeof parts[3], "%s tokens", tok);
    snprintf(parts[4], sizeof parts[4], "%s", cost);
    snprintf(parts[5], sizeof parts[5], "%lld LLM", (long long)s->llm_calls);
    snprintf(parts[6], sizeof parts[6], "%lld tools", (long long)s->tool_calls);
    snprintf(parts[7], sizeof parts[7], "%lld retrievals", (long long)s->retrieval_calls);
    size_t used = 6 + cli_text_width(t->trace_id);
    fprintf(f, "%strace %s%s", bold, t->trace_id, off);
    for (int i = 0; i < 8; i++) {
        size_t w = cli_text_width(parts[i]) + 2;
        if (used + w > (size_t)width)
            continue;
        used += w;
        bool err = i == 0 && !strcmp(s->status, "ERROR");
        fprintf(f, "  %s%s%s", err ? red : "", parts[i], err ? off : "");
    }
    fputc('\n', f);

    /* name | bar | duration tokens cost mark */
    const int tail = 1 + 9 + 1 + 8 + 1 + 9 + 1 + 5;
    int nw = width * 35 / 100;
    if (nw < 20)
        nw = 20;
    if (nw > 48)
        nw = 48;
    int bw = width - nw - 2 - tail;
    if (bw < 10) {
        bw = 10;
        nw = width - bw - 2 - tail;
        if (nw < 12)
            nw = 12;
    }
    const char *vbar = sy.utf8 ? "│" : "|";
    /* Axis: 0 on the left, the trace's length on the right. */
    char total[32];
    cli_fmt_ms(total, sizeof total, l->total_ms);
    fprintf(f, "%s", dim);
    cli_put_cut(f, "span", (size_t)nw, true);
    fputs(vbar, f);
    fputc('0', f);
    int tl = (int)cli_text_width(total);
    for (int i = 1; i < bw - tl; i++)
        fputc(' ', f);
    if (tl < bw)
        fputs(total, f);
    fputs(vbar, f);
    fprintf(f, " %9s %8s %9s %-5s%s\n", "duration", "tokens", "cost", "", off);

    bool *last_at = calloc((size_t)(nw + 2), sizeof *last_at);
    int max_levels = (nw - 6) / 3; /* tree levels drawn in full; deeper ones are cut */
    if (max_levels < 1)
        max_levels = 1;
    char *name = malloc((size_t)nw * 4 + 64);
    for (size_t i = 0; i < l->n; i++) {
        const view_row *r = &l->rows[i];
        const weft_trace_span *sp = &t->spans[r->span];
        if (r->depth <= max_levels + 1 && r->depth >= 0)
            last_at[r->depth] = r->last;
        /* The tree prefix: one column group per level above, then the branch. */
        size_t o = 0;
        name[0] = 0;
        if (r->depth > 0) {
            int from = 1;
            if (r->depth > max_levels) {
                o += (size_t)sprintf(name + o, "%s", sy.utf8 ? "…" : "~");
                from = r->depth - max_levels + 1;
            }
            for (int k = from; k < r->depth && k <= max_levels + 1; k++)
                o += (size_t)sprintf(name + o, "%s", last_at[k] ? "   " : (sy.utf8 ? "│  " : "|  "));
            o += (size_t)sprintf(name + o, "%s", r->last ? (sy.utf8 ? "└─ " : "`- ") : (sy.utf8 ? "├─ " : "|- "));
        }
        size_t pw = cli_text_width(name);
        fputs(dim, f);
        fputs(name, f);
        fputs(off, f);
        if (r->error)
            fputs(red, f);
        cli_put_cut(f, sp->name ? sp->name : "?", pw < (size_t)nw ? (size_t)nw - pw : 0, true);
        if (r->error)
            fputs(off, f);
        fputs(dim, f);
        fputs(vbar, f);
        fputs(off, f);
        /* The bar: cells [a, b) of bw, at least one. */
        double total_ms = l->total_ms > 0 ? l->total_ms : 1;
        int a = (int)(r->start_ms / total_ms * bw);
        int b = (int)((r->start_ms + r->dur_ms) / total_ms * bw + 0.5);
        if (a >= bw)
            a = bw - 1;
        if (a < 0)
            a = 0;
        if (b <= a)
            b = a + 1;
        if (b > bw)
            b = bw;
        put_n(f, " ", a);
        fputs(r->error ? red : (sy.color ? kind_color(sp->kind) : ""), f);
        put_n(f, r->running ? (sy.utf8 ? "░" : "-") : (sy.utf8 ? "█" : "#"), b - a);
        fputs(off, f);
        put_n(f, " ", bw - b);
        fputs(dim, f);
        fputs(vbar, f);
        fputs(off, f);
        char dd[32], tk[32], cs[32];
        if (r->running)
            snprintf(dd, sizeof dd, "running");
        else
            cli_fmt_ms(dd, sizeof dd, r->dur_ms);
        if (r->has_tokens)
            cli_fmt_int(tk, sizeof tk, r->tokens);
        else
            snprintf(tk, sizeof tk, "-");
        cli_fmt_cost(cs, sizeof cs, r->has_cost, r->cost);
        fputc(' ', f);
        put_right(f, dd, 9);
        fputc(' ', f);
        put_right(f, tk, 8);
        fputc(' ', f);
        put_right(f, cs, 9);
        if (r->error)
            fprintf(f, " %s%s%s", red, sy.utf8 ? "✗ ERR" : "ERROR", off);
        fputc('\n', f);
    }
    free(name);
    free(last_at);
    const weft_trace_diagnostics *g = &t->diagnostics;
    fprintf(f, "%s%zu span%s drawn", dim, l->n, l->n == 1 ? "" : "s");
    if (l->errors)
        fprintf(f, ", %s%zu failed%s%s", red, l->errors, off, dim);
    if (g->n_in_progress)
        fprintf(f, ", %zu in progress", g->n_in_progress);
    if (g->n_dropped)
        fprintf(f, ", %zu missing (%s)", g->n_dropped, g->dropped[0].message);
    fprintf(f, "%s\n", off);
}

/* ---- the command --------------------------------------------------------------------------- */

int cmd_view(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sgp", no_argument, NULL, 'g'},
        {"trace", required_argument, NULL, 't'},
        {"html", required_argument, NULL, 'H'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "view";
    bool sgp = false;
    const char *id = NULL, *html = NULL;
    int c;
    while ((c = cli_getopt(cmd, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 'h': fputs(help, stdout); return CLI_OK;
        case 'g': sgp = true; break;
        case 't': id = optarg; break;
        case 'H': html = optarg; break;
        default: return CLI_USAGE;
        }
    }
    cli_source s;
    int ret = cli_source_open(cmd, sgp, argv + optind, argc - optind, &s);
    if (ret)
        return ret;
    char *newest = NULL;
    int rc;
    if (!id) {
        weft_trace_list_response *r;
        if ((rc = weft_traces_list(s.src, &(weft_trace_list_opts){.page = 1, .page_size = 1}, &r))) {
            ret = cli_source_fail(cmd, &s, rc, NULL);
            cli_source_close(&s);
            return ret;
        }
        if (r->n_traces == 0) {
            cli_source_warn_skipped(cmd, &s);
            cli_err(cmd, "no traces in the input");
            weft_trace_list_response_free(r);
            cli_source_close(&s);
            return CLI_FAIL;
        }
        newest = cli_strdup(r->traces[0].trace_id);
        if (r->total > 1)
            cli_err(cmd, "%llu traces in the input; drawing the newest, %s (--trace ID for another)",
                    (unsigned long long)r->total, newest);
        weft_trace_list_response_free(r);
        id = newest;
    }
    weft_trace_full_result *t;
    if ((rc = weft_traces_get(s.src, id, &t))) {
        cli_source_warn_skipped(cmd, &s);
        ret = cli_source_fail(cmd, &s, rc, id);
        free(newest);
        cli_source_close(&s);
        return ret;
    }
    cli_source_warn_skipped(cmd, &s);
    view_layout l;
    if (view_layout_build(t, &l) != 0) {
        cli_err(cmd, "out of memory");
        ret = CLI_FAIL;
    } else if (html) {
        FILE *f = fopen(html, "w");
        if (!f) {
            cli_err(cmd, "%s: cannot be written: %m", html);
            ret = CLI_FAIL;
        } else {
            int wr = view_write_html(f, t, &l);
            if (fclose(f) != 0 || wr != 0) {
                cli_err(cmd, "%s: write failed: %m", html);
                ret = CLI_FAIL;
            } else {
                fprintf(stderr, "weft view: wrote %s (%zu spans of trace %s)\n", html, l.n, t->trace_id);
            }
        }
    } else {
        style sy = {.color = cli_color(stdout), .utf8 = cli_utf8()};
        draw(stdout, t, &l, cli_term_width(stdout), sy);
    }
    view_layout_free(&l);
    weft_trace_full_result_free(t);
    free(newest);
    cli_source_close(&s);
    return ret;
}
