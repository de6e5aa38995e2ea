/*
 * cmd_spans.c — `weft spans search [filters] [--all] [--json]` and `weft spans get ID [--json]`
 * over the SGP spans client (sgp.h). --json prints each span as the server sent it (the SGP
 * Span object), one per line; otherwise a table.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help_search[] =
    "Usage: weft spans search [filters] [--limit N] [--sort asc|desc] [--all] [--json]\n"
    "\n"
    "Searches SGP spans (POST /v5/spans/search). A repeated filter means any of its values;\n"
    "different filters must all hold.\n"
    "\n"
    "  --trace-id ID        spans of this trace\n"
    "  --span-id ID         this span\n"
    "  --name NAME          spans with this name\n"
    "  --type TYPE          spans of this type (COMPLETION, KB_RETRIEVAL, ...)\n"
    "  --status S           SUCCESS, ERROR or CANCELED\n"
    "  --from TIME          started at or after (ISO 8601)\n"
    "  --to TIME            started at or before (ISO 8601)\n"
    "  --parents-only       only root spans\n"
    "  --text T             T appears in the input or output\n"
    "  --group-id G         spans of this group (once)\n"
    "  --variant-id V       spans of this application variant\n"
    "  --exclude-span ID    not this span\n"
    "  --exclude-trace ID   not the spans of this trace\n"
    "  --meta KEY=VALUE     metadata KEY equals VALUE (VALUE read as JSON when it is a number,\n"
    "                       true, false, null or quoted; else as a string); each KEY once\n"
    "  --limit N            spans per page, 1..1000 (default 100)\n"
    "  --sort asc|desc      by start time (default: the server's, ascending)\n"
    "  --all                every page, not only the first\n"
    "  --json               one SGP Span object per line\n"
    "\n"
    "Exit status: 0 done, 1 the search failed, 2 usage.\n";

static const char help_get[] =
    "Usage: weft spans get ID [--json]\n"
    "\n"
    "One SGP span (GET /v5/spans/ID): its fields, or with --json the Span object on one line.\n"
    "Exit status: 0 done, 1 failed (404: no such span), 2 usage.\n";

static const char help_spans[] =
    "Usage: weft spans search [filters] [--all] [--json]\n"
    "       weft spans get ID [--json]\n"
    "'weft spans search --help' lists the filters.\n";

typedef struct strv {
    const char **v;
    size_t n;
} strv;

static void strv_add(strv *s, const char *x)
{
    s->v = cli_xrealloc(s->v, (s->n + 1) * sizeof *s->v);
    s->v[s->n++] = x;
}

static double span_ms(const weft_sgp_span *s, bool *has)
{
    int64_t a, b;
    *has = s->start_timestamp && s->end_timestamp && cli_time_ns(s->start_timestamp, &a) &&
           cli_time_ns(s->end_timestamp, &b) && b >= a;
    return *has ? (double)(b - a) / 1e6 : 0;
}

static void table_row(cli_table *t, const weft_sgp_span *s)
{
    bool has;
    double ms = span_ms(s, &has);
    char d[32];
    if (has)
        cli_fmt_ms(d, sizeof d, ms);
    else
        snprintf(d, sizeof d, "%s", s->end_timestamp ? "-" : "running");
    const char *cells[] = {s->id, s->trace_id, s->name, s->type, s->status ? s->status : "SUCCESS",
                           s->start_timestamp, d};
    cli_table_add(t, cells);
}

static const char *const table_header[] = {"SPAN ID", "TRACE ID", "NAME", "TYPE", "STATUS", "START", "DURATION"};
static const bool table_right[] = {false, false, false, false, false, false, true};

static void print_json(const weft_sgp_span *s)
{
    fputs(s->json ? s->json : "{}", stdout);
    fputc('\n', stdout);
}

static int search(int argc, char **argv)
{
    static const struct option opts[] = {
        {"trace-id", required_argument, NULL, 't'},
        {"span-id", required_argument, NULL, 's'},
        {"name", required_argument, NULL, 'n'},
        {"type", required_argument, NULL, 'y'},
        {"status", required_argument, NULL, 'S'},
        {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 'T'},
        {"parents-only", no_argument, NULL, 'p'},
        {"text", required_argument, NULL, 'x'},
        {"group-id", required_argument, NULL, 'g'},
        {"variant-id", required_argument, NULL, 'v'},
        {"exclude-span", required_argument, NULL, 'E'},
        {"exclude-trace", required_argument, NULL, 'X'},
        {"meta", required_argument, NULL, 'm'},
        {"limit", required_argument, NULL, 'l'},
        {"sort", required_argument, NULL, 'o'},
        {"all", no_argument, NULL, 'a'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "spans search";
    strv trace = {0}, span = {0}, name = {0}, type = {0}, status = {0}, text = {0}, variant = {0}, xspan = {0},
         xtrace = {0};
    weft_sgp_search q = {0};
    json_t *meta = json_object();
    bool all = false, as_json = false;
    int ret = CLI_USAGE, c;
    while ((c = cli_getopt(cmd, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 'h':
            fputs(help_search, stdout);
            ret = CLI_OK;
            goto done;
        case 't': strv_add(&trace, optarg); break;
        case 's': strv_add(&span, optarg); break;
        case 'n': strv_add(&name, optarg); break;
        case 'y': strv_add(&type, optarg); break;
        case 'S': strv_add(&status, optarg); break;
        case 'x': strv_add(&text, optarg); break;
        case 'v': strv_add(&variant, optarg); break;
        case 'E': strv_add(&xspan, optarg); break;
        case 'X': strv_add(&xtrace, optarg); break;
        case 'p': q.parents_only = true; break;
        case 'a': all = true; break;
        case 'j': as_json = true; break;
        case 'f':
        case 'T': {
            const char **slot = c == 'f' ? &q.from_ts : &q.to_ts;
            int64_t ns;
            if (*slot) {
                cli_usage(cmd, "--%s given twice", c == 'f' ? "from" : "to");
                goto done;
            }
            if (!cli_time_ns(optarg, &ns)) {
                cli_usage(cmd, "--%s needs an ISO 8601 UTC time such as 2025-01-31T12:00:00Z (got '%s')",
                          c == 'f' ? "from" : "to", optarg);
                goto done;
            }
            *slot = optarg;
            break;
        }
        case 'g':
            if (q.group_id) {
                cli_usage(cmd, "--group-id given twice (the API takes one group)");
                goto done;
            }
            q.group_id = optarg;
            break;
        case 'm': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                cli_usage(cmd, "--meta needs KEY=VALUE (got '%s')", optarg);
                goto done;
            }
            char *key = strndup(optarg, (size_t)(eq - optarg));
            json_t *v = json_loads(eq + 1, JSON_DECODE_ANY, NULL);
            if (!v || json_is_object(v) || json_is_array(v)) {
                json_decref(v);
                v = json_string(eq + 1);
            }
            if (json_object_get(meta, key)) {
                cli_usage(cmd, "--meta %s given twice (metadata members must all be equal)", key);
                free(key);
                json_decref(v);
                goto done;
            }
            json_object_set_new(meta, key, v ? v : json_null());
            free(key);
            break;
        }
        case 'l': {
            uint32_t l;
            if (!cli_parse_u32(optarg, 1, 1000, &l)) {
                cli_usage(cmd, "--limit must be a number from 1 to 1000 (got '%s')", optarg);
                goto done;
            }
            q.limit = (int32_t)l;
            break;
        }
        case 'o':
            if (!strcmp(optarg, "asc"))
                q.sort_order = WEFT_SGP_SORT_ASC;
            else if (!strcmp(optarg, "desc"))
                q.sort_order = WEFT_SGP_SORT_DESC;
            else {
                cli_usage(cmd, "--sort must be asc or desc (got '%s')", optarg);
                goto done;
            }
            q.sort_by = "start_timestamp";
            break;
        default:
            goto done;
        }
    }
    if (optind < argc) {
        cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
        goto done;
    }
    q.trace_ids = trace.v, q.n_trace_ids = trace.n;
    q.span_ids = span.v, q.n_span_ids = span.n;
    q.names = name.v, q.n_names = name.n;
    q.types = type.v, q.n_types = type.n;
    q.statuses = status.v, q.n_statuses = status.n;
    q.search_texts = text.v, q.n_search_texts = text.n;
    q.application_variant_ids = variant.v, q.n_application_variant_ids = variant.n;
    q.excluded_span_ids = xspan.v, q.n_excluded_span_ids = xspan.n;
    q.excluded_trace_ids = xtrace.v, q.n_excluded_trace_ids = xtrace.n;
    char *meta_text = json_object_size(meta) ? json_dumps(meta, JSON_COMPACT) : NULL;
    q.extra_metadata_json = meta_text;

    weft_sgp_client *client = NULL;
    if ((ret = cli_sgp_client(cmd, &client))) {
        free(meta_text);
        goto done;
    }
    cli_table t;
    cli_table_init(&t, 7, table_header, table_right);
    weft_sgp_error e;
    size_t shown = 0;
    bool more = false;
    int64_t total = 0;
    if (all) {
        weft_sgp_span_iter *it;
        int rc = weft_sgp_spans_iter_new(client, &q, WEFT_SGP_FORWARD, &it, &e);
        const weft_sgp_span_list *page;
        while (rc == 0 && (rc = weft_sgp_spans_iter_next_page(it, &page, &e)) == 1) {
            rc = 0;
            for (size_t i = 0; i < page->n; i++, shown++) {
                if (as_json)
                    print_json(&page->items[i]);
                else
                    table_row(&t, &page->items[i]);
            }
            total = page->total;
        }
        weft_sgp_spans_iter_free(it);
        ret = rc < 0 ? cli_sgp_fail(cmd, "search", &e) : CLI_OK;
    } else {
        weft_sgp_span_list *l;
        int rc = weft_sgp_spans_search(client, &q, &l, &e);
        if (rc) {
            ret = cli_sgp_fail(cmd, "search", &e);
        } else {
            for (size_t i = 0; i < l->n; i++, shown++) {
                if (as_json)
                    print_json(&l->items[i]);
                else
                    table_row(&t, &l->items[i]);
            }
            more = l->has_more;
            total = l->total;
            weft_sgp_span_list_free(l);
            ret = CLI_OK;
        }
    }
    if (ret == CLI_OK && !as_json) {
        if (shown)
            cli_table_print(&t, stdout);
        char n1[32], n2[32];
        cli_fmt_int(n1, sizeof n1, (int64_t)shown);
        cli_fmt_int(n2, sizeof n2, total);
        fprintf(stdout, "%s span%s", n1, shown == 1 ? "" : "s");
        if (total > 0 && (uint64_t)total != shown)
            fprintf(stdout, " of %s", n2);
        fputs(more ? " (more: --all for every page)\n" : "\n", stdout);
    }
    cli_table_free(&t);
    weft_sgp_client_free(client);
    free(meta_text);
done:
    json_decref(meta);
    free(trace.v), free(span.v), free(name.v), free(type.v), free(status.v), free(text.v), free(variant.v);
    free(xspan.v), free(xtrace.v);
    return ret;
}

static void kv(const char *k, const char *v)
{
    printf("%-16s %s\n", k, v ? v : "-");
}

static void kv_json(const char *k, const char *v)
{
    if (!v) {
        kv(k, NULL);
        return;
    }
    json_t *j = json_loads(v, JSON_DECODE_ANY, NULL);
    char *pretty = j ? json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    printf("%s:\n", k);
    const char *s = pretty ? pretty : v;
    /* Indented under its key. */
    printf("  ");
    for (const char *p = s; *p; p++) {
        fputc(*p, stdout);
        if (*p == '\n')
            printf("  ");
    }
    fputc('\n', stdout);
    free(pretty);
}

static int get(int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *cmd = "spans get";
    bool as_json = false;
    int c;
    while ((c = cli_getopt(cmd, argc, argv, "h", opts)) != -1) {
        if (c == 'h') {
            fputs(help_get, stdout);
            return CLI_OK;
        }
        if (c == 'j')
            as_json = true;
        else
            return CLI_USAGE;
    }
    if (argc - optind != 1)
        return cli_usage(cmd, argc - optind ? "give one span id" : "no span id given");
    weft_sgp_client *client;
    int ret = cli_sgp_client(cmd, &client);
    if (ret)
        return ret;
    weft_sgp_span *s;
    weft_sgp_error e;
    if (weft_sgp_spans_retrieve(client, argv[optind], &s, &e) != 0) {
        ret = cli_sgp_fail(cmd, "retrieve", &e);
        weft_sgp_client_free(client);
        return ret;
    }
    if (as_json) {
        print_json(s);
    } else {
        bool has;
        double ms = span_ms(s, &has);
        char d[32];
        cli_fmt_ms(d, sizeof d, ms);
        kv("id", s->id);
        kv("trace_id", s->trace_id);
        kv("parent_id", s->parent_id);
        kv("name", s->name);
        kv("type", s->type);
        kv("status", s->status);
        kv("start_timestamp", s->start_timestamp);
        kv("end_timestamp", s->end_timestamp);
        kv("duration", has ? d : NULL);
        kv("group_id", s->group_id);
        kv_json("input", s->input_json);
        kv_json("output", s->output_json);
        kv_json("metadata", s->metadata_json);
    }
    weft_sgp_span_free(s);
    weft_sgp_client_free(client);
    return CLI_OK;
}

int cmd_spans(int argc, char **argv)
{
    if (argc < 2) {
        fputs(help_spans, stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(help_spans, stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "search"))
        return search(argc - 1, argv + 1);
    if (!strcmp(argv[1], "get"))
        return get(argc - 1, argv + 1);
    return cli_usage("spans", "unknown subcommand '%s' (search or get)", argv[1]);
}
