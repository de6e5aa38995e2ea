/*
 * encoding.c — the table of wire encodings (see encoding.h).
 */
#include "encoding.h"

#include "otlp.h"
#include "text_line.h"

const weft__encoding_desc weft__encodings[WEFT__ENC_COUNT] = {
    [WEFT__ENC_SGP_JSON] = {"sgp-json", weft__encode_span, ','},
    [WEFT__ENC_TEXT_LINE] = {"text-line", weft__encode_text_line, '\n'},
    [WEFT__ENC_OTLP] = {"otlp-protobuf", weft__otlp_encode_span, 0},
};
