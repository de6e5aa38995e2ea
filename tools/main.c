/*
 * main.c — the `weft` program (DESIGN.md section 12): finds the subcommand group and hands it
 * argv from the group's name on. Exit status 0 done, 1 the work failed, 2 a usage error.
 */
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "weft/version.h"

static const char usage[] =
    "Usage: weft COMMAND [ARGS...]\n"
    "\n"
    "Commands:\n"
    "  upload FILE...                 send span files (JSONL, JSON, spool directories) to SGP\n"
    "  spans search [filters]         search SGP spans (--all for every page, --json)\n"
    "  spans get ID                   one SGP span\n"
    "  traces list [--sgp | FILE...]  traces, newest first\n"
    "  traces get ID [--sgp | FILE...] everything about one trace\n"
    "  eval [--sgp | FILE...]         weft's deterministic evaluations of traces\n"
    "  view [--sgp | FILE...]         a trace as a waterfall, in the terminal or as HTML\n"
    "  convert IN --to jsonl|stratix|chrome OUT\n"
    "                                 spool to JSONL, spans to trace documents or Chrome trace events\n"
    "  stratix upload|list|get|delete|sources\n"
    "                                 LayerLens Stratix traces: upload files, list, get, delete\n"
    "  doctor                         the configuration, and whether each backend answers\n"
    "\n"
    "SGP is configured by SGP_API_KEY, SGP_ACCOUNT_ID and SGP_CLIENT_BASE_URL; Stratix by\n"
    "LAYERLENS_STRATIX_API_KEY and LAYERLENS_STRATIX_BASE_URL.\n"
    "'weft COMMAND --help' describes a command. Exit status: 0 done, 1 failed, 2 usage error.\n";

int main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    /* A closed pipe (weft ... | head) ends the program quietly, as for other tools. */
    signal(SIGPIPE, SIG_DFL);
    if (argc < 2) {
        fputs(usage, stderr);
        return CLI_USAGE;
    }
    const char *c = argv[1];
    if (!strcmp(c, "--help") || !strcmp(c, "-h") || !strcmp(c, "help")) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    if (!strcmp(c, "--version")) {
        printf("weft %s\n", WEFT_VERSION_STRING);
        return CLI_OK;
    }
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } cmds[] = {
        {"upload", cmd_upload}, {"spans", cmd_spans}, {"traces", cmd_traces}, {"eval", cmd_eval},
        {"view", cmd_view},     {"convert", cmd_convert}, {"doctor", cmd_doctor}, {"stratix", cmd_stratix},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(c, cmds[i].name))
            return cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr, "weft: unknown command '%s'\n\n%s", c, usage);
    return CLI_USAGE;
}
