/*
 * otlp_ref.h — the reference encoder of a record's OTLP Span, for the tests and
 * tests/fuzz/fuzz_otlp_span.c: the encoder weft used before the hand-written protobuf writer of
 * src/codec/otlp_span.c (the Span assembled from protoc-c's generated structs, values read with
 * jansson, packed by protobuf-c), with the same mapping (src/codec/otlp.h). The hand writer must
 * write the bytes this one writes, but for a string holding U+0000, which protobuf-c's packer
 * cuts at the NUL and the hand writer keeps.
 *
 * One call at a time per thread; r and o are borrowed for the call.
 */
#ifndef WEFT_TEST_OTLP_REF_H
#define WEFT_TEST_OTLP_REF_H

#include "buf.h"
#include "encode.h"
#include "record.h"

/* Appends r's item (ScopeSpans.spans tag, length, Span) to b, as weft__otlp_encode_span does;
 * returns WEFT__JSON_* flags; b->oom on memory shortage. */
unsigned weft_otlp_ref_encode_span(weft__buf *b, const weft__rec *r, const weft__encode_opts *o);

#endif
