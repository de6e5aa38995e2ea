/*
 * text_line.c — the stdout exporter's line (see text_line.h).
 */
#include "text_line.h"

#include <stdio.h>

#include "json.h"

unsigned weft__encode_text_line(weft__buf *b, const weft__rec *r, const weft__encode_opts *o)
{
    static const char *const status[] = {"SUCCESS", "ERROR", "CANCELED"};
    char parent[20] = "-", dur[32];
    if (r->parent)
        snprintf(parent, sizeof parent, "%08x", (unsigned)(r->parent >> 32));
    if (r->end_ns)
        snprintf(dur, sizeof dur, "%9.3f ms", (double)(r->end_ns - r->start_ns) / 1e6);
    else
        snprintf(dur, sizeof dur, "%12s", "open");
    char head[160];
    int n = snprintf(head, sizeof head, "weft %08x %08x %-8s %-18s %-8s %s ", (unsigned)(r->trace >> 32),
                     (unsigned)(r->id >> 32), parent, weft_span_type_name((weft_span_type)r->type),
                     status[r->status <= 2 ? r->status : 1], dur);
    weft__buf_append(b, head, (size_t)n < sizeof head ? (size_t)n : sizeof head - 1);
    if (r->name.len)
        return weft__json_str(b, r->name.data, r->name.len, 0);
    weft__buf_lit(b, "\"unnamed\"");
    return 0;
}
