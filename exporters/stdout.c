/*
 * stdout.c — a human-readable exporter: one line per finished span on standard output,
 *   weft <trace8> <span8> <parent8|-> <TYPE> <STATUS> <duration ms> <name>
 * for watching a program run. The name is printed as its JSON string (escaped, repaired).
 */
#include <stdio.h>
#include <string.h>

#include "exporter.h"
#include "runtime.h"

static int stdout_open(weft__exporter *ex)
{
    weft__log(WEFT_LOG_INFO, "exporter stdout: one line per completed span on standard output");
    return 0;
}

/* Each line was written by the text-line encoder (codec/text_line.c); this file only
 * chooses which records to show and writes them out. */
static void stdout_submit(weft__exporter *ex, weft__batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const weft__batch_item *it = &b->items[i];
        if (it->in_progress && !it->final_open)
            continue;
        size_t len;
        const char *line = weft__batch_item_bytes(b, WEFT__ENC_TEXT_LINE, i, &len);
        fwrite(line, 1, len, stdout);
        fputc('\n', stdout);
    }
    fflush(stdout);
    weft__batch_done(b, 0);
}

static bool stdout_drain(weft__exporter *ex, uint64_t deadline) { return true; }
static void stdout_close(weft__exporter *ex) {}

const weft__exporter_ops weft__exporter_stdout = {
    .name = "stdout",
    .encoding = WEFT__ENC_TEXT_LINE,
    .wants_inprogress = false,
    .open = stdout_open,
    .submit = stdout_submit,
    .drain = stdout_drain,
    .close = stdout_close,
};
