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

/* The JSON text of the item's "name" value (quotes included). */
static const char *name_of(const char *item, size_t len, size_t *out_len)
{
    const char *p = memmem(item, len, "\"name\":\"", 8);
    if (!p) {
        *out_len = 0;
        return "";
    }
    p += 7;
    const char *q = p + 1, *end = item + len;
    while (q < end && *q != '"')
        q += (*q == '\\') ? 2 : 1;
    *out_len = (size_t)(q + 1 - p);
    return p;
}

static void stdout_submit(weft__exporter *ex, weft__batch *b)
{
    static const char *const status[] = {"SUCCESS", "ERROR", "CANCELED"};
    for (size_t i = 0; i < b->n; i++) {
        const weft__batch_item *it = &b->items[i];
        if (it->in_progress && !it->final_open)
            continue;
        size_t len, nl;
        const char *item = weft__batch_item_json(b, i, &len);
        const char *name = name_of(item, len, &nl);
        char parent[20] = "-";
        if (it->parent)
            snprintf(parent, sizeof parent, "%08x", (unsigned)(it->parent >> 32));
        if (it->in_progress)
            printf("weft %08x %08x %-8s %-18s %-8s %12s %.*s\n", (unsigned)(it->trace >> 32),
                   (unsigned)(it->id >> 32), parent, weft_span_type_name((weft_span_type)it->type),
                   status[it->status <= 2 ? it->status : 1], "open", (int)nl, name);
        else
            printf("weft %08x %08x %-8s %-18s %-8s %9.3f ms %.*s\n", (unsigned)(it->trace >> 32),
                   (unsigned)(it->id >> 32), parent, weft_span_type_name((weft_span_type)it->type),
                   status[it->status <= 2 ? it->status : 1], (double)(it->end_ns - it->start_ns) / 1e6,
                   (int)nl, name);
    }
    fflush(stdout);
    weft__batch_done(b, 0);
}

static size_t stdout_pending(const weft__exporter *ex) { return 0; }
static bool stdout_drain(weft__exporter *ex, uint64_t deadline) { return true; }
static void stdout_close(weft__exporter *ex) {}

const weft__exporter_ops weft__exporter_stdout = {
    .name = "stdout",
    .wants_inprogress = false,
    .open = stdout_open,
    .submit = stdout_submit,
    .pending = stdout_pending,
    .drain = stdout_drain,
    .close = stdout_close,
};
