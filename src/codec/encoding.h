/*
 * encoding.h — the wire encodings a span record can be written in. An exporter names the one
 * it reads in its ops table (exporter.h); the worker writes each record once per encoding in
 * use into the batch (batch.h), so exporters that share an encoding share the bytes.
 *
 * Adding an encoding: a value here, a row in weft__encodings (encoding.c) and the encoder
 * beside the others in codec/. Codecs do no I/O. Export thread only.
 */
#ifndef WEFT_ENCODING_H
#define WEFT_ENCODING_H

#include <stddef.h>

#include "buf.h"
#include "encode.h"
#include "record.h"

typedef enum weft__encoding {
    WEFT__ENC_SGP_JSON = 0, /* the SGP span item (encode.c): sgp, jsonl, memory, spool */
    WEFT__ENC_TEXT_LINE,    /* one human-readable line (text_line.c): stdout */
    WEFT__ENC_OTLP,         /* one packed OTLP Span message (otlp.c): otlp */
    WEFT__ENC_COUNT
} weft__encoding;

/* Appends r's encoding to b; returns WEFT__JSON_* flags (repairs, truncations). */
typedef unsigned (*weft__encode_fn)(weft__buf *b, const weft__rec *r, const weft__encode_opts *o);

typedef struct weft__encoding_desc {
    const char *name;      /* for logs */
    weft__encode_fn encode;
    char sep;              /* byte written after each item (',' joins SGP items into an array
                              body, '\n' ends a text line); 0: none */
} weft__encoding_desc;

extern const weft__encoding_desc weft__encodings[WEFT__ENC_COUNT];

#endif
