/*
 * cmd_traces.c — `weft traces list [--sgp | FILE...] [--page N] [--page-size N] [--json]` and
 * `weft traces get ID [--sgp | FILE...] [--json]` over the trace queries of traces.h. --json
 * prints one TraceListResponse / one TraceFullResult (weft_trace_*_to_json); otherwise tables.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help_list[] =
    "Usage: weft traces list [--sgp | FILE...] [--page N] [--page-size N] [--json]\n"
    "\n"
    "Traces, newest first, from span files (JSONL, JSON, spool directories, Stratix JSONL) or\n"
    "from SGP (--sgp: root spans through search).\n"
    "\n"
    "  --page N        1-based page (default 1)\n"
    "  --page-size N   traces per page, 1..1000 (default 50)\n"
    "  --json          one TraceListResponse {traces, total, page, page_size}\n"
    "\n"
    "Exit status: 0 done, 1 failed (a missing file, the server), 2 usage.\n";

static const char help_get[] =
    "Usage: weft traces get ID [--sgp | FILE...] [--json]\n"
    "\n"
    "Everything about one trace: its summary, spans, messages, retrievals and diagnostics.\n"
    "  --json   one TraceFullResult {trace_id, metadata, summary, messages, spans, retrievals,\n"
    "           diagnostics, execution_tree}\n"
    "\n"
    "Exit status: 0 done, 1 failed (no such trace, a missing file, the server), 2 usage.\n";

static const char help_traces[] =
    "Usage: weft traces list [--sgp | FILE...] [--page N] [--page-size N] [--json]\n"
    "       weft traces get ID [--sgp | FILE...] [--json]\n";

static int list(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sgp", no_argument, NULL, 'g'},
        {"page", required_argument, NULL, 'p'},
        {"page-size", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "traces list";
    bool sgp = false, as_json = false;
    weft_trace_list_opts lo = {0};
    int c;
    while ((c = cli_getopt(cmd, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 'h': fputs(help_list, stdout); return CLI_OK;
        case 'g': sgp = true; break;
        case 'j': as_json = true; break;
        case 'p':
            if (!cli_parse_u32(optarg, 1, UINT32_MAX, &lo.page))
                return cli_usage(cmd, "--page must be a number from 1 (got '%s')", optarg);
            break;
        case 'n':
            if (!cli_parse_u32(optarg, 1, 1000, &lo.page_size))
                return cli_usage(cmd, "--page-size must be a number from 1 to 1000 (got '%s')", optarg);
            break;
        default: return CLI_USAGE;
        }
    }
    cli_source s;
    int ret = cli_source_open(cmd, sgp, argv + optind, argc - optind, &s);
    if (ret)
        return ret;
    weft_trace_list_response *r;
    int rc = weft_traces_list(s.src, &lo, &r);
    if (rc) {
        ret = cli_source_fail(cmd, &s, rc, NULL);
        cli_source_close(&s);
        return ret;
    }
    cli_source_warn_skipped(cmd, &s);
    if (as_json) {
        char *j = weft_trace_list_response_to_json(r);
        if (!j) {
            cli_err(cmd, "out of memory");
            ret = CLI_FAIL;
        } else {
            puts(j);
            free(j);
        }
    } else {
        static const char *const header[] = {"TRACE ID", "CREATED",  "STATUS", "DURATION", "LLM",
                                             "TOOLS",    "TOKENS",   "COST",   "INPUT"};
        static const bool right[] = {false, false, false, true, true, true, true, true, false};
        cli_table t;
        cli_table_init(&t, 9, header, right);
        for (size_t i = 0; i < r->n_traces; i++) {
            const weft_trace_record *x = &r->traces[i];
            char d[32], llm[32], tools[32], tok[32], cost[32];
            cli_fmt_ms(d, sizeof d, x->duration_ms);
            cli_fmt_int(llm, sizeof llm, x->llm_calls);
            cli_fmt_int(tools, sizeof tools, x->tool_calls);
            cli_fmt_int(tok, sizeof tok, x->total_tokens);
            cli_fmt_cost(cost, sizeof cost, x->has_total_cost, x->total_cost);
            const char *cells[] = {x->trace_id, x->created_at, x->status, d, llm, tools, tok, cost, x->input_preview};
            cli_table_add(&t, cells);
        }
        if (r->n_traces)
            cli_table_print(&t, stdout);
        cli_table_free(&t);
        uint64_t pages = r->page_size ? (r->total + r->page_size - 1) / r->page_size : 0;
        printf("page %u of %llu, %llu trace%s\n", r->page, (unsigned long long)(pages ? pages : 1),
               (unsigned long long)r->total, r->total == 1 ? "" : "s");
    }
    weft_trace_list_response_free(r);
    cli_source_close(&s);
    return ret;
}

/* The execution tree as indented lines (an explicit stack: no depth limit). */
static void print_tree(const weft_trace_full_result *t)
{
    typedef struct {
        const weft_trace_node *n;
        int depth;
    } item;
    size_t cap = 64, top = 0;
    item *st = cli_xrealloc(NULL, cap * sizeof *st);
    for (size_t i = t->n_execution_tree; i-- > 0;)
        st[top++] = (item){&t->execution_tree[i], 0};
    static const char *const header[] = {"SPAN", "KIND", "STATUS", "DURATION", "SPAN ID"};
    static const bool right[] = {false, false, false, true, false};
    cli_table tb;
    cli_table_init(&tb, 5, header, right);
    while (top) {
        item it = st[--top];
        const weft_trace_span *s = &t->spans[it.n->span];
        int ind = it.depth > 20 ? 20 : it.depth;
        size_t nl = strlen(s->name ? s->name : "") + (size_t)ind * 2 + 1;
        char *name = cli_xrealloc(NULL, nl + 8);
        memset(name, ' ', (size_t)ind * 2);
        snprintf(name + ind * 2, nl + 8 - (size_t)ind * 2, "%s", s->name ? s->name : "");
        char d[32];
        if (s->has_duration)
            cli_fmt_ms(d, sizeof d, s->duration_ms);
        else
            snprintf(d, sizeof d, "running");
        const char *cells[] = {name, s->kind, s->status, d, s->span_id};
        cli_table_add(&tb, cells);
        free(name);
        if (top + it.n->n_children > cap) {
            cap = (top + it.n->n_children) * 2;
            st = cli_xrealloc(st, cap * sizeof *st);
        }
        for (size_t i = it.n->n_children; i-- > 0;)
            st[top++] = (item){&it.n->children[i], it.depth + 1};
    }
    cli_table_print(&tb, stdout);
    cli_table_free(&tb);
    free(st);
}

static void print_problems(const char *title, const weft_trace_problem *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("  %-12s %s%s%s\n", title, p[i].name ? p[i].name : "", p[i].name ? ": " : "", p[i].message);
}

static void print_full(const weft_trace_full_result *t)
{
    const weft_trace_summary *s = &t->summary;
    char d[32], tok[32], in[32], out[32], cost[32];
    cli_fmt_ms(d, sizeof d, s->duration_ms);
    cli_fmt_int(tok, sizeof tok, s->total_tokens);
    cli_fmt_int(in, sizeof in, s->input_tokens);
    cli_fmt_int(out, sizeof out, s->output_tokens);
    cli_fmt_cost(cost, sizeof cost, s->has_total_cost, s->total_cost);
    printf("trace      %s\n", t->trace_id);
    printf("status     %s\n", s->status);
    printf("duration   %s\n", d);
    printf("spans      %lld (%lld LLM calls, %lld tool calls, %lld retrievals)\n", (long long)s->span_count,
           (long long)s->llm_calls, (long long)s->tool_calls, (long long)s->retrieval_calls);
    printf("tokens     %s (%s in, %s out)\n", tok, in, out);
    printf("cost       %s\n", cost);
    if (s->project_id)
        printf("project    %s\n", s->project_id);
    if (s->n_tags) {
        printf("tags      ");
        for (size_t i = 0; i < s->n_tags; i++)
            printf(" %s", s->tags[i]);
        putchar('\n');
    }
    printf("\n");
    print_tree(t);
    if (t->n_messages) {
        printf("\nmessages (%zu)\n", t->n_messages);
        for (size_t i = 0; i < t->n_messages; i++) {
            printf("  %-10s ", t->messages[i].role ? t->messages[i].role : "?");
            const char *c = t->messages[i].content ? t->messages[i].content : "(no text)";
            for (const char *p = c; *p; p++)
                putchar(*p == '\n' ? ' ' : *p);
            putchar('\n');
        }
    }
    if (t->n_retrievals) {
        printf("\nretrievals (%zu)\n", t->n_retrievals);
        for (size_t i = 0; i < t->n_retrievals; i++) {
            const weft_trace_retrieval *r = &t->retrievals[i];
            printf("  %s: \"%s\" top_k %d, %zu hits\n", r->name ? r->name : r->span_id, r->query ? r->query : "",
                   r->top_k, r->n_hits);
            for (size_t k = 0; k < r->n_hits; k++)
                printf("    %2d  %-24s %.4f\n", r->hits[k].rank, r->hits[k].doc_id ? r->hits[k].doc_id : "?",
                       r->hits[k].score);
        }
    }
    const weft_trace_diagnostics *g = &t->diagnostics;
    if (g->n_errors + g->n_in_progress + g->n_truncations + g->n_dropped) {
        printf("\ndiagnostics\n");
        print_problems("error", g->errors, g->n_errors);
        print_problems("in progress", g->in_progress, g->n_in_progress);
        print_problems("truncated", g->truncations, g->n_truncations);
        print_problems("dropped", g->dropped, g->n_dropped);
    }
}

static int get(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sgp", no_argument, NULL, 'g'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *cmd = "traces get";
    bool sgp = false, as_json = false;
    int c;
    while ((c = cli_getopt(cmd, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 'h': fputs(help_get, stdout); return CLI_OK;
        case 'g': sgp = true; break;
        case 'j': as_json = true; break;
        default: return CLI_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage(cmd, "no trace id given");
    const char *id = argv[optind];
    cli_source s;
    int ret = cli_source_open(cmd, sgp, argv + optind + 1, argc - optind - 1, &s);
    if (ret)
        return ret;
    weft_trace_full_result *t;
    int rc = weft_traces_get(s.src, id, &t);
    if (rc) {
        cli_source_warn_skipped(cmd, &s);
        ret = cli_source_fail(cmd, &s, rc, id);
        cli_source_close(&s);
        return ret;
    }
    cli_source_warn_skipped(cmd, &s);
    if (as_json) {
        char *j = weft_trace_full_result_to_json(t);
        if (j) {
            puts(j);
            free(j);
        } else {
            cli_err(cmd, "out of memory");
            ret = CLI_FAIL;
        }
    } else {
        print_full(t);
    }
    weft_trace_full_result_free(t);
    cli_source_close(&s);
    return ret;
}

int cmd_traces(int argc, char **argv)
{
    if (argc < 2) {
        fputs(help_traces, stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(help_traces, stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "list"))
        return list(argc - 1, argv + 1);
    if (!strcmp(argv[1], "get"))
        return get(argc - 1, argv + 1);
    return cli_usage("traces", "unknown subcommand '%s' (list or get)", argv[1]);
}
