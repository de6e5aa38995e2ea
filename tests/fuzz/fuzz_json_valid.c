/*
 * fuzz_json_valid.c — libFuzzer target for weft__json_valid and weft__json_valid_object,
 * differential against jansson (any top-level value, escaped NUL allowed).
 *
 * When weft says valid, jansson must accept, unless jansson's only complaint is a number too
 * big for it (RFC 8259 sets no range) or an escaped NUL in an object key (valid JSON that
 * jansson cannot store): then the same text with every \u0000 turned into \u0001, which keeps
 * it valid or invalid alike, must load. When jansson accepts and weft does not, the document
 * must nest deeper than weft's 256 (jansson allows 2048). Input with a raw NUL byte must be
 * invalid. Any other disagreement aborts.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Nesting depth of a parsed value: a scalar is 0, [] is 1. */
static size_t depth_of(json_t *v)
{
    size_t d = 0;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            size_t c = depth_of(json_array_get(v, i));
            if (c > d)
                d = c;
        }
        return d + 1;
    }
    if (json_is_object(v)) {
        const char *k;
        json_t *c;
        json_object_foreach(v, k, c)
        {
            size_t cd = depth_of(c);
            if (cd > d)
                d = cd;
        }
        return d + 1;
    }
    return 0;
}

/* jansson's verdict on s with each "\u0000" replaced by "\u0001": NULL, or the value. */
static json_t *load_without_nul_escapes(const char *s, size_t size, json_error_t *err)
{
    char *t = malloc(size ? size : 1);
    if (!t)
        abort();
    memcpy(t, s, size);
    for (size_t i = 0; i + 6 <= size; i++)
        if (memcmp(t + i, "\\u0000", 6) == 0)
            t[i + 5] = '1';
    json_t *v = json_loadb(t, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, err);
    free(t);
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    bool weft = weft__json_valid(s, size);
    if (memchr(s, 0, size) != NULL) {
        /* A raw NUL is never JSON (not whitespace, not allowed in a string). jansson is no
         * oracle here: its lexer swallows one NUL after a token ("1\0", "[1\0]" load). */
        CHECK(!weft);
        CHECK(!weft__json_valid_object(s, size));
        return 0;
    }
    json_error_t err;
    json_t *v = json_loadb(s, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    if (weft && !v && json_error_code(&err) == json_error_null_byte_in_key) {
        v = load_without_nul_escapes(s, size, &err);
        CHECK(v || json_error_code(&err) == json_error_numeric_overflow);
    } else if (weft && !v) {
        CHECK(json_error_code(&err) == json_error_numeric_overflow);
    }
    if (!weft && v)
        CHECK(depth_of(v) > 256);
    if (v && weft)
        CHECK(weft__json_valid_object(s, size) == json_is_object(v));
    if (!weft)
        CHECK(!weft__json_valid_object(s, size));
    json_decref(v);
    return 0;
}
