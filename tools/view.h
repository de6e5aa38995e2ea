/*
 * view.h — the waterfall of one trace, shared by the terminal drawing (cmd_view.c) and the
 * HTML page (view_html.c): the spans in tree order (depth first, children by start time), each
 * with its depth, its place in time relative to the trace's start, and its tokens and cost.
 *
 * A layout borrows nothing after it is built; it is freed with view_layout_free.
 * Single-threaded.
 */
#ifndef WEFT_TOOLS_VIEW_H
#define WEFT_TOOLS_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "weft/traces.h"

typedef struct view_row {
    size_t span;      /* index into the trace's spans */
    int depth;        /* 0: a top node of the execution tree */
    bool last;        /* the last child of its parent (or the last top node) */
    double start_ms;  /* from the trace's first start */
    double dur_ms;    /* to its end; running spans: to the trace's end */
    bool running;     /* no end_time */
    bool error;       /* status ERROR */
    int64_t tokens;   /* metadata.total_tokens, else input_tokens + output_tokens */
    bool has_tokens;
    double cost;      /* metadata.cost_usd */
    bool has_cost;
} view_row;

typedef struct view_layout {
    view_row *rows; /* n rows, tree order */
    size_t n;
    double total_ms; /* first start to last end */
    int64_t t0_ns;   /* the first start, ns since the epoch */
    size_t errors;
} view_layout;

/* Builds the layout of t (borrowed for the call). Returns 0, or -1 when out of memory. */
int view_layout_build(const weft_trace_full_result *t, view_layout *out);
void view_layout_free(view_layout *l);

/* Writes the self-contained HTML page of t to f. Returns 0, or -1 on a write error. */
int view_write_html(FILE *f, const weft_trace_full_result *t, const view_layout *l);

#endif
