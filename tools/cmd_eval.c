/*
 * cmd_eval.c — `weft eval [--sgp | FILE...] [--trace ID] [--json]`: weft_trace_evaluate on one
 * trace or on every trace of the source (newest first). --json: one TraceEvalStep per line with
 * trace_id added (weft_trace_eval_step_to_json); otherwise a table. Exit 0 when the checks
 * ran, whatever they found (a failed check is a finding, not a failure of the command).
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char help[] =
    "Usage: weft eval [--sgp | FILE...] [--trace ID] [--latency-budget MS] [--cost-budget USD] [--json]\n"
    "\n"
    "Runs weft's deterministic checks on each trace (or on --trace ID only): citation\n"
    "grounding, answer completeness, refusal, retrieval coverage, failed spans, and latency\n"
    "and cost against a budget when one is given. README.md, \"Evaluations\", has the formulas.\n"
    "\n"
    "  --trace ID             only this trace\n"
    "  --latency-budget MS    compare each trace's duration with MS milliseconds\n"
    "  --cost-budget USD      compare each trace's cost with USD dollars\n"
    "  --json                 one TraceEvalStep per line, with trace_id added\n"
    "\n"
    "Exit status: 0 the checks ran (whatever they found), 1 failed, 2 usage.\n";

static bool parse_pos(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || v > 1e15)
        return false;
    *out = v;
    return true;
}

int cmd_eval(int argc, char **argv)
{
    static const struct option opts[] = {
        {"sgp", no_argument, NULL, 'g'},
        {"trace", required_argument, NULL, 't'},
        {"latency-budget", required_argument, NULL, 'L'},
        {"cost-budget", required_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "eval";
    bool sgp = false, as_json = false;
    const char *only = NULL;
    weft_trace_eval_opts eo = {0};
    int c;
    while ((c = cli_getopt(cmd, argc, argv, "h", opts)) != -1) {
        switch (c) {
        case 'h': fputs(help, stdout); return CLI_OK;
        case 'g': sgp = true; break;
        case 'j': as_json = true; break;
        case 't': only = optarg; break;
        case 'L':
            if (!parse_pos(optarg, &eo.latency_budget_ms))
                return cli_usage(cmd, "--latency-budget must be a positive number of milliseconds (got '%s')", optarg);
            break;
        case 'C':
            if (!parse_pos(optarg, &eo.cost_budget_usd))
                return cli_usage(cmd, "--cost-budget must be a positive number of dollars (got '%s')", optarg);
            break;
        default: return CLI_USAGE;
        }
    }
    cli_source s;
    int ret = cli_source_open(cmd, sgp, argv + optind, argc - optind, &s);
    if (ret)
        return ret;
    char **ids = NULL;
    size_t n = 0;
    int rc;
    if (only) {
        ids = cli_xrealloc(NULL, sizeof *ids);
        ids[0] = cli_strdup(only);
        n = 1;
    } else if ((rc = cli_source_trace_ids(&s, &ids, &n))) {
        ret = cli_source_fail(cmd, &s, rc, NULL);
        cli_source_close(&s);
        return ret;
    }
    static const char *const header[] = {"TRACE ID", "METRIC", "STATUS", "SCORE", "EXPLANATION"};
    static const bool right[] = {false, false, false, true, false};
    cli_table t;
    cli_table_init(&t, 5, header, right);
    size_t passed = 0, failed = 0, skipped = 0;
    for (size_t i = 0; i < n && ret == CLI_OK; i++) {
        weft_trace_full_result *full;
        if ((rc = weft_traces_get(s.src, ids[i], &full))) {
            ret = cli_source_fail(cmd, &s, rc, ids[i]);
            break;
        }
        weft_trace_eval_step *steps;
        size_t ns;
        if ((rc = weft_trace_evaluate(full, &eo, &steps, &ns))) {
            cli_err(cmd, "trace %s: %s", ids[i], weft_strerror(rc));
            weft_trace_full_result_free(full);
            ret = CLI_FAIL;
            break;
        }
        for (size_t k = 0; k < ns; k++) {
            const weft_trace_eval_step *st = &steps[k];
            if (!strcmp(st->status, "passed"))
                passed++;
            else if (!strcmp(st->status, "failed"))
                failed++;
            else
                skipped++;
            if (as_json) {
                char *j = weft_trace_eval_step_to_json(st, ids[i]);
                if (j)
                    puts(j);
                free(j);
                continue;
            }
            char score[32];
            if (!strcmp(st->status, "skipped"))
                snprintf(score, sizeof score, "-");
            else
                snprintf(score, sizeof score, "%.2f", st->score);
            const char *cells[] = {ids[i], st->metric, st->status, score, st->explanation};
            cli_table_add(&t, cells);
        }
        weft_trace_eval_steps_free(steps, ns);
        weft_trace_full_result_free(full);
    }
    cli_source_warn_skipped(cmd, &s);
    if (ret == CLI_OK && !as_json) {
        if (t.rows)
            cli_table_print(&t, stdout);
        printf("%zu trace%s: %zu passed, %zu failed, %zu skipped\n", n, n == 1 ? "" : "s", passed, failed, skipped);
    }
    cli_table_free(&t);
    cli_strv_free(ids, n);
    cli_source_close(&s);
    return ret;
}
