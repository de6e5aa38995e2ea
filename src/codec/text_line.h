/*
 * text_line.h — one finished span as a line for people (the stdout exporter):
 *   weft <trace8> <span8> <parent8|-> <TYPE> <STATUS> <duration ms | open> <name>
 * where the name is written as its JSON string (escaped and repaired, so a name cannot break
 * the line). A codec: no I/O. Export thread only.
 */
#ifndef WEFT_TEXT_LINE_H
#define WEFT_TEXT_LINE_H

#include "buf.h"
#include "encode.h"
#include "record.h"

/* Appends the line for r to b, without its newline. Returns WEFT__JSON_* flags of the name. */
unsigned weft__encode_text_line(weft__buf *b, const weft__rec *r, const weft__encode_opts *o);

#endif
