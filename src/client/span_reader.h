/*
 * span_reader.h — reads SGP span items, one at a time, from the files weft and its users keep
 * spans in: JSONL (one item per line: the jsonl exporter's output; a line may also be a Stratix
 * trace document {trace_id, ..., spans:[...]} or an {"items":[...]} object), one JSON array of
 * items, one JSON object {"items":[...]} (any layout, pretty-printed too), or a spool directory
 * (src/spool.h: every span record of every *.spool file in it, acknowledged or not).
 *
 * Memory stays flat whatever the size of the input: JSONL is read a line at a time, JSON
 * arrays and objects element by element with a byte scanner (only the element in hand is held),
 * spool files frame by frame. Every item handed out has string "id" and "trace_id" fields;
 * anything else is reported as a bad entry with the line it starts on, and reading goes on.
 *
 * Owns: its FILE, directory listing and buffers. One reader per thread at a time (no shared
 * state); any thread.
 */
#ifndef WEFT_CLIENT_SPAN_READER_H
#define WEFT_CLIENT_SPAN_READER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct weft__span_reader weft__span_reader;

typedef enum weft__sr_status {
    WEFT__SR_ITEM,  /* ev->item holds a span item */
    WEFT__SR_BAD,   /* an entry that is not a span item: ev->line, ev->message */
    WEFT__SR_END,   /* nothing more */
    WEFT__SR_IOERR  /* the input cannot be read further (ev->message); next calls return END */
} weft__sr_status;

typedef struct weft__sr_event {
    json_t *item;      /* ITEM: a new reference, the caller's */
    const char *file;  /* the file the entry is in; borrowed until the next call */
    uint64_t line;     /* 1-based line the entry starts on (spool: record number in its file) */
    char message[320]; /* BAD, IOERR: what is wrong, starting with "line N: " or the file */
} weft__sr_event;

/* Opens path (borrowed, copied): a regular file or a spool directory. Returns 0, WEFT_EIO
 * (cannot open or read: *out is NULL) or WEFT_ENOMEM. */
int weft__span_reader_open(const char *path, weft__span_reader **out);

/* The next entry. */
weft__sr_status weft__span_reader_next(weft__span_reader *r, weft__sr_event *ev);

/* Entries that can be counted without parsing them (for progress): reads the input once
 * more from the start, on its own handle. JSONL: non-blank lines; JSON: top-level array
 * elements; spool: span records. Returns 0 and *n, or WEFT_EIO. */
int weft__span_reader_count(const char *path, uint64_t *n);

/* NULL is fine. */
void weft__span_reader_free(weft__span_reader *r);

/* Turns a Stratix trace document into SGP span items (appended to out, new references):
 * each of doc.spans with SGP field names (span_id/kind/start_time/... accepted), and a root
 * made from the document's top level when none of its spans is a root. */
void weft__stratix_doc_items(const json_t *doc, json_t *out);

#endif
