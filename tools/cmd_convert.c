/*
 * cmd_convert.c — `weft convert IN --to jsonl|stratix|chrome OUT`. IN is anything the span
 * reader takes (JSONL, a JSON array or {"items": [...]}, a spool directory, Stratix JSONL);
 * it is read twice: once to choose one record per span (a completed record wins over an
 * in-progress one, else the later one: the SGP server's upsert rule), once to write the chosen
 * ones. Memory holds one key per span (jsonl, chrome) or every span (stratix, which writes
 * whole traces).
 *
 *   jsonl    one span item per line, what the jsonl exporter writes
 *   stratix  one Stratix trace document per line: weft__stratix_doc_text (stratix_doc.h), the
 *            same document the stratix exporter writes for the same spans
 *   chrome   Chrome trace-event JSON {"traceEvents": [...]}: one "X" event per span (ts and dur
 *            in microseconds since the epoch; pid and tid numbered by trace, named by a
 *            process_name event), args holding the span's fields; Perfetto and
 *            chrome://tracing open it
 *
 * OUT "-" is standard output. Entries that are not span items are reported with their line and
 * left out; the command then exits 1.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "convert.h"
#include "span_reader.h"
#include "stratix_doc.h"

static const char help[] =
    "Usage: weft convert IN --to jsonl|stratix|chrome OUT\n"
    "\n"
    "Converts span files. IN: a JSONL file, a JSON array or {\"items\": [...]}, a spool\n"
    "directory, or Stratix JSONL. OUT: a file, or - for standard output.\n"
    "\n"
    "  --to jsonl     one SGP span item per line (what the jsonl exporter writes); turns a spool\n"
    "                 directory into a file\n"
    "  --to stratix   one LayerLens Stratix trace document per line (one per trace)\n"
    "  --to chrome    Chrome trace-event JSON, for Perfetto (ui.perfetto.dev) and chrome://tracing\n"
    "\n"
    "A span found twice (a spool's in-progress record and its completed one) is written once:\n"
    "the completed record, else the later one.\n"
    "Exit status: 0 done, 1 failed or some entries were not span items, 2 usage.\n";

typedef enum { TO_JSONL, TO_STRATIX, TO_CHROME } target;

static char *span_key(const json_t *item)
{
    const char *t = json_string_value(json_object_get(item, "trace_id"));
    const char *i = json_string_value(json_object_get(item, "id"));
    size_t lt = strlen(t ? t : ""), li = strlen(i ? i : "");
    char *k = cli_xrealloc(NULL, lt + li + 2);
    memcpy(k, t ? t : "", lt);
    k[lt] = '\x1f';
    memcpy(k + lt + 1, i ? i : "", li + 1);
    return k;
}

static bool completed(const json_t *item)
{
    json_t *e = json_object_get(item, "end_timestamp");
    return e && !json_is_null(e);
}

/* Pass 1: for each span, the sequence number (1-based) of the record to keep, in entry->a;
 * entry->b is 1 when that record is completed. Reports bad entries; *bad counts them. */
static int choose(const char *in, keymap *m, uint64_t *bad, uint64_t *items)
{
    weft__span_reader *r;
    if (weft__span_reader_open(in, &r) != 0) {
        cli_err("convert", "%s: cannot be read: %s", in, strerror(errno));
        return CLI_FAIL;
    }
    weft__sr_event ev;
    weft__sr_status st;
    uint64_t seq = 0;
    int rc = CLI_OK;
    while ((st = weft__span_reader_next(r, &ev)) != WEFT__SR_END) {
        if (st == WEFT__SR_IOERR) {
            cli_err("convert", "%s", ev.message);
            rc = CLI_FAIL;
            break;
        }
        if (st == WEFT__SR_BAD) {
            const char *m2 = ev.message;
            if (!strncmp(m2, "line ", 5) && strstr(m2, ": "))
                m2 = strstr(m2, ": ") + 2;
            fprintf(stderr, "%s:%llu: %s\n", ev.file, (unsigned long long)ev.line, m2);
            (*bad)++;
            continue;
        }
        seq++;
        (*items)++;
        char *k = span_key(ev.item);
        keymap_entry *e = keymap_get(m, k, NULL);
        bool done = completed(ev.item);
        if (!(e->a && e->b && !done)) {
            e->a = seq;
            e->b = done;
        }
        free(k);
        json_decref(ev.item);
    }
    weft__span_reader_free(r);
    return rc;
}

/* Writes ns since the epoch as microseconds with three decimals. */
static void put_us(FILE *f, int64_t ns)
{
    fprintf(f, "%" PRId64 ".%03" PRId64, ns / 1000, ns % 1000);
}

typedef struct writer {
    target to;
    FILE *out;
    keymap traces;      /* chrome: trace id -> pid; stratix: trace id -> 1 + index in groups */
    json_t *groups;     /* stratix: one array of items per trace, in first-seen order */
    uint64_t written;
} writer;

static void write_chrome(writer *w, json_t *item)
{
    const char *tid = json_string_value(json_object_get(item, "trace_id"));
    bool added;
    keymap_entry *e = keymap_get(&w->traces, tid ? tid : "", &added);
    if (added) {
        e->a = w->traces.n;
        json_t *meta = json_pack("{s:s,s:s,s:I,s:I,s:{s:s+}}", "name", "process_name", "ph", "M", "pid",
                                 (json_int_t)e->a, "tid", (json_int_t)e->a, "args", "name", "trace ", tid ? tid : "");
        char *mt = json_dumps(meta, JSON_COMPACT);
        fprintf(w->out, "%s\n%s", w->written ? "," : "", mt);
        free(mt);
        json_decref(meta);
        w->written++;
    }
    int64_t a = 0, b = 0;
    bool ha = cli_time_ns(json_string_value(json_object_get(item, "start_timestamp")), &a);
    bool hb = cli_time_ns(json_string_value(json_object_get(item, "end_timestamp")), &b);
    if (!hb || b < a)
        b = a;
    json_t *ev = json_object();
    json_t *nm = json_object_get(item, "name");
    json_object_set_new(ev, "name", json_is_string(nm) ? json_incref(nm) : json_string("span"));
    json_t *ty = json_object_get(item, "type");
    json_object_set_new(ev, "cat", json_is_string(ty) ? json_incref(ty) : json_string("CUSTOM"));
    json_object_set_new(ev, "ph", json_string("X"));
    json_object_set_new(ev, "pid", json_integer((json_int_t)e->a));
    json_object_set_new(ev, "tid", json_integer((json_int_t)e->a));
    json_t *args = json_deep_copy(item);
    if (!hb)
        json_object_set_new(args, "in_progress", json_true());
    json_object_set_new(ev, "args", args);
    char *text = json_dumps(ev, JSON_COMPACT);
    json_decref(ev);
    /* ts and dur are written by hand: microseconds with a fraction, exactly. */
    fprintf(w->out, "%s\n{\"ts\":", w->written ? "," : "");
    put_us(w->out, ha ? a : 0);
    fputs(",\"dur\":", w->out);
    put_us(w->out, b - a);
    fprintf(w->out, ",%s", text + 1);
    free(text);
    w->written++;
}

static void keep(writer *w, json_t *item)
{
    switch (w->to) {
    case TO_JSONL: {
        char *t = json_dumps(item, JSON_COMPACT);
        fputs(t, w->out);
        fputc('\n', w->out);
        free(t);
        w->written++;
        break;
    }
    case TO_CHROME:
        write_chrome(w, item);
        break;
    case TO_STRATIX: {
        const char *tid = json_string_value(json_object_get(item, "trace_id"));
        bool added;
        keymap_entry *e = keymap_get(&w->traces, tid ? tid : "", &added);
        if (added) {
            json_array_append_new(w->groups, json_array());
            e->a = json_array_size(w->groups);
        }
        json_array_append(json_array_get(w->groups, e->a - 1), item);
        break;
    }
    }
}

int cmd_convert(int argc, char **argv)
{
    static const struct option opts[] = {
        {"to", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    const char *cmd = "convert", *to = NULL;
    int c;
    while ((c = cli_getopt(cmd, argc, argv, "h", opts)) != -1) {
        if (c == 'h') {
            fputs(help, stdout);
            return CLI_OK;
        }
        if (c == 't')
            to = optarg;
        else
            return CLI_USAGE;
    }
    if (!to)
        return cli_usage(cmd, "--to jsonl|stratix|chrome is required");
    writer w = {0};
    if (!strcmp(to, "jsonl"))
        w.to = TO_JSONL;
    else if (!strcmp(to, "stratix"))
        w.to = TO_STRATIX;
    else if (!strcmp(to, "chrome"))
        w.to = TO_CHROME;
    else
        return cli_usage(cmd, "--to must be jsonl, stratix or chrome (got '%s')", to);
    if (argc - optind != 2)
        return cli_usage(cmd, "give IN and OUT (got %d argument%s)", argc - optind, argc - optind == 1 ? "" : "s");
    const char *in = argv[optind], *outp = argv[optind + 1];
    int rc = cli_check_paths(cmd, argv + optind, 1);
    if (rc)
        return rc;

    keymap chosen = {0};
    uint64_t bad = 0, items = 0;
    if ((rc = choose(in, &chosen, &bad, &items))) {
        keymap_free(&chosen);
        return rc;
    }
    bool to_stdout = !strcmp(outp, "-");
    w.out = to_stdout ? stdout : fopen(outp, "w");
    if (!w.out) {
        cli_err(cmd, "%s: cannot be written: %s", outp, strerror(errno));
        keymap_free(&chosen);
        return CLI_FAIL;
    }
    if (w.to == TO_STRATIX)
        w.groups = json_array();
    if (w.to == TO_CHROME)
        fputs("{\"traceEvents\":[", w.out);

    /* Pass 2: write the chosen records, in input order. */
    weft__span_reader *r;
    if (weft__span_reader_open(in, &r) != 0) {
        cli_err(cmd, "%s: cannot be read: %s", in, strerror(errno));
        rc = CLI_FAIL;
    } else {
        weft__sr_event ev;
        weft__sr_status st;
        uint64_t seq = 0;
        while ((st = weft__span_reader_next(r, &ev)) != WEFT__SR_END) {
            if (st == WEFT__SR_IOERR) {
                cli_err(cmd, "%s", ev.message);
                rc = CLI_FAIL;
                break;
            }
            if (st != WEFT__SR_ITEM)
                continue;
            seq++;
            char *k = span_key(ev.item);
            keymap_entry *e = keymap_get(&chosen, k, NULL);
            free(k);
            if (e->a == seq)
                keep(&w, ev.item);
            json_decref(ev.item);
        }
        weft__span_reader_free(r);
    }
    if (w.to == TO_STRATIX) {
        for (size_t i = 0; i < json_array_size(w.groups); i++) {
            char *doc = NULL;
            weft__stratix_doc_info di = {0};
            int drc = weft__stratix_doc_text(json_array_get(w.groups, i), &doc, &di);
            if (drc != 0) {
                cli_err(cmd, "a trace document cannot be written: %s", di.error ? di.error : weft_strerror(drc));
                rc = CLI_FAIL;
                break;
            }
            fputs(doc, w.out);
            fputc('\n', w.out);
            free(doc);
            w.written++;
        }
        json_decref(w.groups);
    }
    if (w.to == TO_CHROME)
        fputs("\n],\"displayTimeUnit\":\"ms\",\"otherData\":{\"generator\":\"weft convert\"}}\n", w.out);
    if ((to_stdout ? fflush(w.out) : fclose(w.out)) != 0) {
        cli_err(cmd, "%s: write failed: %s", outp, strerror(errno));
        rc = CLI_FAIL;
    }
    if (rc == CLI_OK) {
        const char *what = w.to == TO_STRATIX ? "trace documents" : w.to == TO_CHROME ? "events" : "spans";
        fprintf(stderr, "weft convert: %llu span%s read, %zu distinct, %llu %s written to %s", (unsigned long long)items,
                items == 1 ? "" : "s", chosen.n, (unsigned long long)w.written, what, to_stdout ? "stdout" : outp);
        if (bad)
            fprintf(stderr, "; %llu entr%s not span items, left out", (unsigned long long)bad, bad == 1 ? "y" : "ies");
        fputc('\n', stderr);
        if (bad)
            rc = CLI_FAIL;
    }
    keymap_free(&chosen);
    keymap_free(&w.traces);
    return rc;
}
