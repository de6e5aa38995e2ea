/*
 * span_reader.c — see span_reader.h. Three readers behind one next(): lines (JSONL), a byte
 * scanner for one JSON array or {"items":[...]} object (it cuts the top-level elements out of
 * the stream, tracking strings, escapes and nesting, and hands each to jansson alone), and
 * spool frames (spool_format.h's decoder). Entries that expand to several items (a Stratix
 * document, an items object on one line) queue their items in `pending`.
 */
#include "span_reader.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "spool_format.h"
#include "weft/weft.h"

#define CHUNK (64u * 1024u)

typedef enum mode { M_LINES, M_ARRAY, M_OBJECT, M_SPOOL, M_DONE } mode;

struct weft__span_reader {
    char *path;
    mode mode;
    FILE *f;
    /* lines */
    char *line;
    size_t line_cap;
    uint64_t lineno;       /* lines read so far */
    /* scanner */
    unsigned char *rb;
    size_t rb_len, rb_pos;
    bool eof;
    uint64_t sline;        /* the scanner's current line (1-based) */
    bool in_items;         /* M_OBJECT: inside the items array */
    weft__buf val;
    /* spool */
    char **files;
    size_t n_files, file_i;
    char *cur_file;
    weft__buf sb;          /* bytes of the current spool file not consumed yet */
    size_t sb_pos;
    uint64_t recno;
    bool spool_eof;
    weft__spool_damage dmg;
    /* items queued by an entry that expanded to several */
    json_t *pending;
    size_t pending_i;
    uint64_t pending_line;
};

static void msg(weft__sr_event *ev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void msg(weft__sr_event *ev, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev->message, sizeof ev->message, fmt, ap);
    va_end(ap);
}

/* ---- item checks and expansion ---------------------------------------------------------- */

static const char *str_of(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void copy_field(json_t *dst, const char *to, const json_t *src, const char *a, const char *b)
{
    json_t *v = json_object_get(src, a);
    if ((!v || json_is_null(v)) && b)
        v = json_object_get(src, b);
    if (v && !json_is_null(v))
        json_object_set(dst, to, v);
}

static json_t *obj_or_empty(const json_t *v)
{
    return json_is_object(v) ? json_deep_copy(v) : json_object();
}

/* An SGP item's members from a Stratix span (or, root, the document's top level), in the item's
 * member order: SGP names first, Stratix ones accepted; the trace's id where src has none. */
static json_t *item_of(const json_t *src, const char *trace, bool root)
{
    static const struct {
        const char *to, *alt, *root_default;
    } fields[] = {{"name", NULL, NULL},
                  {"type", "kind", "TRACER"},
                  {"status", NULL, NULL},
                  {"start_timestamp", "start_time", NULL},
                  {"end_timestamp", "end_time", NULL}};
    static const char *const objects[] = {"input", "output", "metadata"};
    static const char *const extra[] = {"group_id", "application_variant_id", "application_interaction_id",
                                        "obs_trace_id", "obs_span_id"};
    json_t *it = json_object();
    copy_field(it, "id", src, "id", "span_id");
    if (root && !json_object_get(it, "id"))
        json_object_set_new(it, "id", json_string(trace));
    copy_field(it, "trace_id", src, "trace_id", NULL);
    if (!json_object_get(it, "trace_id") && trace)
        json_object_set_new(it, "trace_id", json_string(trace));
    if (!root)
        copy_field(it, "parent_id", src, "parent_id", "parent_span_id");
    for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
        copy_field(it, fields[k].to, src, fields[k].to, fields[k].alt);
        if (root && fields[k].root_default && !json_object_get(it, fields[k].to))
            json_object_set_new(it, fields[k].to, json_string(fields[k].root_default));
    }
    for (size_t k = 0; k < sizeof objects / sizeof objects[0]; k++)
        json_object_set_new(it, objects[k], obj_or_empty(json_object_get(src, objects[k])));
    for (size_t k = 0; !root && k < sizeof extra / sizeof extra[0]; k++)
        copy_field(it, extra[k], src, extra[k], NULL);
    return it;
}

void weft__stratix_doc_items(const json_t *doc, json_t *out)
{
    const char *trace = str_of(doc, "trace_id");
    const json_t *spans = json_object_get(doc, "spans");
    bool have_root = false;
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s) {
        if (!json_is_object(s))
            continue;
        json_t *it = item_of(s, trace, false);
        have_root |= json_object_get(it, "parent_id") == NULL;
        json_array_append_new(out, it);
    }
    if (have_root || !trace)
        return;
    /* No root among the spans: the document's top level is the root. */
    json_array_insert_new(out, 0, item_of(doc, trace, true));
}

/* A parsed entry: an item, or (Stratix document, items object) several. Returns the status
 * for the caller to hand out; queues extra items. Takes v. */
static weft__sr_status take_entry(weft__span_reader *r, json_t *v, uint64_t line, weft__sr_event *ev)
{
    ev->line = line;
    if (!json_is_object(v)) {
        msg(ev, "line %llu: not a JSON object", (unsigned long long)line);
        json_decref(v);
        return WEFT__SR_BAD;
    }
    json_t *items = NULL;
    if (!json_object_get(v, "id") && json_is_array(json_object_get(v, "spans"))) {
        items = json_array();
        weft__stratix_doc_items(v, items);
    } else if (!json_object_get(v, "id") && json_is_array(json_object_get(v, "items"))) {
        items = json_incref(json_object_get(v, "items"));
    }
    if (items) {
        json_decref(v);
        json_decref(r->pending);
        r->pending = items;
        r->pending_i = 0;
        r->pending_line = line;
        return WEFT__SR_END; /* the caller goes on to the queue */
    }
    if (!str_of(v, "id") || !str_of(v, "trace_id")) {
        msg(ev, "line %llu: span item without a string \"id\" and \"trace_id\"", (unsigned long long)line);
        json_decref(v);
        return WEFT__SR_BAD;
    }
    ev->item = v;
    return WEFT__SR_ITEM;
}

static bool from_pending(weft__span_reader *r, weft__sr_event *ev, weft__sr_status *st)
{
    if (r->pending && r->pending_i < json_array_size(r->pending)) {
        json_t *v = json_array_get(r->pending, r->pending_i++);
        ev->line = r->pending_line;
        ev->file = r->cur_file ? r->cur_file : r->path; /* spool: the file of the record */
        if (!json_is_object(v) || !str_of(v, "id") || !str_of(v, "trace_id")) {
            msg(ev, "line %llu: item %zu is not a span item with a string \"id\" and \"trace_id\"",
                (unsigned long long)r->pending_line, r->pending_i);
            *st = WEFT__SR_BAD;
        } else {
            ev->item = json_incref(v);
            *st = WEFT__SR_ITEM;
        }
        return true;
    }
    json_decref(r->pending);
    r->pending = NULL;
    return false;
}

static weft__sr_status parse_entry(weft__span_reader *r, const char *text, size_t len, uint64_t line,
                                   weft__sr_event *ev)
{
    json_error_t err;
    json_t *v = json_loadb(text, len, 0, &err);
    if (!v) {
        ev->line = line;
        msg(ev, "line %llu: malformed JSON: %s", (unsigned long long)line, err.text);
        return WEFT__SR_BAD;
    }
    return take_entry(r, v, line, ev);
}

/* ---- JSONL ------------------------------------------------------------------------------- */

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return false;
    return true;
}

/* The next non-blank line: its text in r->line, false at the end. */
static bool next_line(weft__span_reader *r, const char **text, size_t *len, uint64_t *no, bool *ioerr)
{
    for (;;) {
        errno = 0;
        ssize_t n = getline(&r->line, &r->line_cap, r->f);
        if (n < 0) {
            *ioerr = ferror(r->f) != 0;
            return false;
        }
        r->lineno++;
        if (blank(r->line, (size_t)n))
            continue;
        *text = r->line;
        *len = (size_t)n;
        *no = r->lineno;
        return true;
    }
}

static weft__sr_status next_lines(weft__span_reader *r, weft__sr_event *ev)
{
    const char *text;
    size_t len;
    uint64_t no;
    bool ioerr = false;
    if (next_line(r, &text, &len, &no, &ioerr))
        return parse_entry(r, text, len, no, ev);
    r->mode = M_DONE;
    if (ioerr) {
        msg(ev, "%s: read error after line %llu", r->path, (unsigned long long)r->lineno);
        return WEFT__SR_IOERR;
    }
    return WEFT__SR_END;
}

/* ---- the JSON scanner --------------------------------------------------------------------- */

static int sc_peek(weft__span_reader *r)
{
    if (r->rb_pos == r->rb_len) {
        if (r->eof)
            return EOF;
        r->rb_len = fread(r->rb, 1, CHUNK, r->f);
        r->rb_pos = 0;
        if (r->rb_len == 0) {
            r->eof = true;
            return EOF;
        }
    }
    return r->rb[r->rb_pos];
}

static int sc_get(weft__span_reader *r)
{
    int c = sc_peek(r);
    if (c != EOF) {
        r->rb_pos++;
        if (c == '\n')
            r->sline++;
    }
    return c;
}

static int sc_skip_ws(weft__span_reader *r)
{
    int c;
    while ((c = sc_peek(r)) == ' ' || c == '\t' || c == '\r' || c == '\n')
        sc_get(r);
    return c;
}

/* Reads one JSON value's bytes into r->val (when keep), starting at the next non-blank byte.
 * False when the input ends inside it. */
static bool sc_value(weft__span_reader *r, bool keep)
{
    weft__buf_reset(&r->val);
    int c = sc_skip_ws(r);
    if (c == EOF)
        return false;
    size_t depth = 0;
    bool in_str = false, esc = false;
    for (;;) {
        c = sc_peek(r);
        if (c == EOF)
            return false;
        if (!in_str && depth == 0 && r->val.len > 0 &&
            (c == ',' || c == ']' || c == '}' || c == ' ' || c == '\n' || c == '\r' || c == '\t'))
            return true; /* the end of a scalar */
        sc_get(r);
        if (keep)
            weft__buf_putc(&r->val, (char)c);
        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"') {
                in_str = false;
                if (depth == 0)
                    return true;
            }
            continue;
        }
        if (c == '"')
            in_str = true;
        else if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']') {
            if (depth == 0)
                return false; /* a closer where a value should start */
            if (--depth == 0)
                return true;
        }
    }
}

/* Positions the scanner inside the items array of a top-level object. False when none. */
static bool sc_find_items(weft__span_reader *r, weft__sr_event *ev)
{
    for (;;) {
        int c = sc_skip_ws(r);
        if (c == ',') {
            sc_get(r);
            continue;
        }
        if (c != '"')
            break;
        uint64_t at = r->sline;
        if (!sc_value(r, true))
            break;
        bool is_items = r->val.len == 7 && memcmp(r->val.data, "\"items\"", 7) == 0;
        if (sc_skip_ws(r) != ':')
            break;
        sc_get(r);
        if (is_items && sc_skip_ws(r) == '[') {
            sc_get(r);
            return true;
        }
        (void)at;
        if (!sc_value(r, false))
            break;
    }
    ev->line = r->sline;
    msg(ev, "%s: a JSON object without an \"items\" array (line %llu)", r->path, (unsigned long long)r->sline);
    return false;
}

static weft__sr_status next_scan(weft__span_reader *r, weft__sr_event *ev)
{
    for (;;) {
        if (r->mode == M_OBJECT && !r->in_items) {
            if (!sc_find_items(r, ev)) {
                r->mode = M_DONE;
                return WEFT__SR_BAD;
            }
            r->in_items = true;
        }
        int c = sc_skip_ws(r);
        if (c == ',') {
            sc_get(r);
            continue;
        }
        if (c == ']' || c == EOF) {
            r->mode = M_DONE;
            if (c == EOF) {
                ev->line = r->sline;
                msg(ev, "line %llu: the JSON array is not closed", (unsigned long long)r->sline);
                return ferror(r->f) ? WEFT__SR_IOERR : WEFT__SR_BAD;
            }
            return WEFT__SR_END;
        }
        uint64_t at = r->sline;
        if (!sc_value(r, true)) {
            r->mode = M_DONE;
            ev->line = at;
            msg(ev, "line %llu: a value cut short by the end of the file or a stray closer",
                (unsigned long long)at);
            return WEFT__SR_BAD;
        }
        if (r->val.oom) {
            r->mode = M_DONE;
            msg(ev, "line %llu: out of memory", (unsigned long long)at);
            return WEFT__SR_IOERR;
        }
        return parse_entry(r, r->val.data, r->val.len, at, ev);
    }
}

/* ---- spool directories ------------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int list_spool(weft__span_reader *r)
{
    DIR *d = opendir(r->path);
    if (!d)
        return WEFT_EIO;
    struct dirent *e;
    size_t cap = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 7 || strcmp(e->d_name + n - 6, ".spool") != 0)
            continue;
        if (r->n_files == cap) {
            char **v = weft__grow(r->files, &cap, sizeof *v, 16);
            if (!v) {
                closedir(d);
                return WEFT_ENOMEM;
            }
            r->files = v;
        }
        size_t len = strlen(r->path) + 1 + n + 1;
        char *p = malloc(len);
        if (!p) {
            closedir(d);
            return WEFT_ENOMEM;
        }
        snprintf(p, len, "%s/%s", r->path, e->d_name);
        r->files[r->n_files++] = p;
    }
    closedir(d);
    if (r->n_files)
        qsort(r->files, r->n_files, sizeof *r->files, cmp_str);
    return 0;
}

/* Reads more of the current spool file into sb (keeping the bytes from sb_pos on). */
static bool spool_fill(weft__span_reader *r, size_t need)
{
    if (r->sb_pos) {
        memmove(r->sb.data, r->sb.data + r->sb_pos, r->sb.len - r->sb_pos);
        r->sb.len -= r->sb_pos;
        r->sb_pos = 0;
    }
    size_t want = need > r->sb.len ? need - r->sb.len : 0;
    if (want < CHUNK)
        want = CHUNK;
    if (!weft__buf_reserve(&r->sb, want))
        return false;
    size_t got = fread(r->sb.data + r->sb.len, 1, want, r->f);
    r->sb.len += got;
    if (got < want)
        r->spool_eof = true;
    return true;
}

static weft__sr_status next_spool(weft__span_reader *r, weft__sr_event *ev)
{
    for (;;) {
        if (!r->f) {
            if (r->file_i == r->n_files) {
                r->mode = M_DONE;
                return WEFT__SR_END;
            }
            r->cur_file = r->files[r->file_i++];
            ev->file = r->cur_file;
            r->f = fopen(r->cur_file, "rb");
            r->recno = 0;
            r->spool_eof = false;
            memset(&r->dmg, 0, sizeof r->dmg);
            weft__buf_reset(&r->sb);
            r->sb_pos = 0;
            if (!r->f) {
                ev->line = 0;
                msg(ev, "%s: cannot open: %s", r->cur_file, strerror(errno));
                return WEFT__SR_BAD;
            }
            unsigned char hdr[WEFT__SPOOL_HEADER_LEN];
            size_t got = fread(hdr, 1, sizeof hdr, r->f);
            if (weft__spool_header_check(hdr, got) != WEFT__SPOOL_HDR_OK) {
                fclose(r->f);
                r->f = NULL;
                ev->line = 0;
                msg(ev, "%s: not a readable weft spool file", r->cur_file);
                return WEFT__SR_BAD;
            }
        }
        ev->file = r->cur_file;
        weft__spool_rec rec;
        size_t need = 0;
        weft__spool_damage before = r->dmg;
        weft__spool_next_status st = weft__spool_next(r->sb.data, r->sb.len, r->spool_eof, &r->sb_pos, &rec,
                                                      &r->dmg, &need);
        uint64_t skipped = (r->dmg.bad_crc - before.bad_crc) + (r->dmg.bad_record - before.bad_record);
        if (skipped) {
            /* Reported once per damaged stretch; the record found after it still counts. */
            r->recno += skipped;
            ev->line = r->recno;
            msg(ev, "%s: record %llu: %llu damaged record(s) skipped", r->cur_file,
                (unsigned long long)r->recno, (unsigned long long)skipped);
            if (st == WEFT__SPOOL_NEXT_RECORD)
                r->sb_pos = rec.frame_off; /* read it again on the next call */
            return WEFT__SR_BAD;
        }
        if (st == WEFT__SPOOL_NEXT_MORE) {
            if (!spool_fill(r, need)) {
                msg(ev, "%s: out of memory", r->cur_file);
                r->mode = M_DONE;
                return WEFT__SR_IOERR;
            }
            continue;
        }
        if (st == WEFT__SPOOL_NEXT_END) {
            if (!r->spool_eof) {
                if (!spool_fill(r, 0)) {
                    r->mode = M_DONE;
                    return WEFT__SR_IOERR;
                }
                continue;
            }
            bool torn = r->dmg.torn || r->dmg.bad_length;
            fclose(r->f);
            r->f = NULL;
            if (torn) {
                ev->line = r->recno + 1;
                msg(ev, "%s: record %llu: the rest of the file is unreadable (torn or damaged)", r->cur_file,
                    (unsigned long long)(r->recno + 1));
                return WEFT__SR_BAD;
            }
            continue;
        }
        r->recno++;
        if (rec.kind != WEFT__SPOOL_SPAN)
            continue;
        weft__sr_status s = parse_entry(r, rec.json, rec.json_len, r->recno, ev);
        if (s == WEFT__SR_BAD)
            msg(ev, "%s: record %llu: not a span item", r->cur_file, (unsigned long long)r->recno);
        return s;
    }
}

/* ---- open / next / free ------------------------------------------------------------------ */

int weft__span_reader_open(const char *path, weft__span_reader **out)
{
    *out = NULL;
    if (!path)
        return WEFT_EINVAL;
    weft__span_reader *r = calloc(1, sizeof *r);
    if (!r)
        return WEFT_ENOMEM;
    weft__buf_init(&r->val);
    weft__buf_init(&r->sb);
    r->path = strdup(path);
    r->sline = 1;
    if (!r->path) {
        weft__span_reader_free(r);
        return WEFT_ENOMEM;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        weft__span_reader_free(r);
        return WEFT_EIO;
    }
    if (S_ISDIR(st.st_mode)) {
        r->mode = M_SPOOL;
        int rc = list_spool(r);
        if (rc) {
            weft__span_reader_free(r);
            return rc;
        }
        *out = r;
        return 0;
    }
    r->f = fopen(path, "rb");
    r->rb = malloc(CHUNK);
    if (!r->f || !r->rb) {
        int rc = r->rb ? WEFT_EIO : WEFT_ENOMEM;
        weft__span_reader_free(r);
        return rc;
    }
    int c = sc_skip_ws(r);
    if (c == '[') {
        sc_get(r);
        r->mode = M_ARRAY;
    } else if (c == '{') {
        /* One object per line, or one object over many lines? A first line that parses alone
         * (or, when it does not, a second one that does) means lines. */
        rewind(r->f);
        r->rb_len = r->rb_pos = 0;
        r->eof = false;
        r->mode = M_LINES;
        const char *text;
        size_t len;
        uint64_t no;
        bool ioerr = false, lines = false;
        if (next_line(r, &text, &len, &no, &ioerr)) {
            json_t *v = json_loadb(text, len, 0, NULL);
            lines = v != NULL;
            json_decref(v);
            if (!lines && next_line(r, &text, &len, &no, &ioerr)) {
                v = json_loadb(text, len, 0, NULL);
                lines = json_is_object(v);
                json_decref(v);
            }
        }
        rewind(r->f);
        r->lineno = 0;
        if (!lines) {
            r->sline = 1;
            r->mode = M_OBJECT;
            (void)sc_skip_ws(r);
            sc_get(r); /* the '{' */
        }
    } else {
        /* Empty, or not JSON at all: read as lines, each reported. */
        rewind(r->f);
        r->rb_len = r->rb_pos = 0;
        r->mode = M_LINES;
    }
    *out = r;
    return 0;
}

/* The items an entry expanded to go out first, whatever the layout; a reader answering END
 * with items queued has just read such an entry (or one that expanded to none) and is asked
 * again. */
weft__sr_status weft__span_reader_next(weft__span_reader *r, weft__sr_event *ev)
{
    ev->item = NULL;
    ev->line = 0;
    ev->message[0] = '\0';
    ev->file = r->path;
    for (;;) {
        weft__sr_status st;
        if (from_pending(r, ev, &st))
            return st;
        switch (r->mode) {
        case M_LINES:
            st = next_lines(r, ev);
            break;
        case M_ARRAY:
        case M_OBJECT:
            st = next_scan(r, ev);
            break;
        case M_SPOOL:
            st = next_spool(r, ev);
            break;
        default:
            return WEFT__SR_END;
        }
        if (st != WEFT__SR_END || !r->pending)
            return st;
    }
}

int weft__span_reader_count(const char *path, uint64_t *n)
{
    *n = 0;
    weft__span_reader *r;
    int rc = weft__span_reader_open(path, &r);
    if (rc)
        return rc;
    weft__sr_event ev;
    weft__sr_status st;
    while ((st = weft__span_reader_next(r, &ev)) == WEFT__SR_ITEM || st == WEFT__SR_BAD) {
        json_decref(ev.item);
        (*n)++;
    }
    weft__span_reader_free(r);
    return st == WEFT__SR_IOERR ? WEFT_EIO : 0;
}

void weft__span_reader_free(weft__span_reader *r)
{
    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    free(r->line);
    free(r->rb);
    weft__buf_fini(&r->val);
    weft__buf_fini(&r->sb);
    for (size_t i = 0; i < r->n_files; i++)
        free(r->files[i]);
    free(r->files);
    json_decref(r->pending);
    free(r->path);
    free(r);
}
