/*
 * fuzz_msgpack_json.c — libFuzzer target for weft__msgpack_to_json.
 *
 * Arbitrary bytes go in twice, with no string limit and with a 16-byte one: both runs must
 * agree on accepting; a rejection must leave the buffer exactly as it was; an acceptance must
 * append one JSON value, at most 64 times the input's size, that jansson parses (integers read
 * as reals, since msgpack's uint64 exceeds jansson's integer type) and weft__json_valid
 * accepts. msgpack_to_json's own debug
 * assert checks that msgpack-c accepts whatever its pre-scan let through. Any mismatch aborts.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_check.h"
#include "json.h"
#include "msgpack_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool run(const uint8_t *data, size_t size, size_t max_str)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__buf_lit(&b, "[0,");
    bool ok = weft__msgpack_to_json(&b, data, size, max_str);
    CHECK(!b.oom);
    if (!ok) {
        CHECK(b.len == 3 && memcmp(b.data, "[0,", 3) == 0);
    } else {
        const char *text = b.data + 3;
        size_t len = b.len - 3;
        /* msgpack_json.c bounds the text: about 7x the input, doubled per level of container
         * keys, three levels at most. */
        CHECK(len <= 64 * size + 64);
        json_error_t err;
        json_t *v = json_loadb(text, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &err);
        if (!v)
            fprintf(stderr, "jansson: %s\n", err.text);
        CHECK(v != NULL);
        json_decref(v);
        CHECK(weft__json_valid(text, len));
        /* and as part of a larger document */
        weft__buf_putc(&b, ']');
        CHECK(weft__json_valid(b.data, b.len));
    }
    weft__buf_fini(&b);
    return ok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool a = run(data, size, 0);
    bool c = run(data, size, 16);
    /* Whether the bytes are accepted depends on their structure alone, never on the string
     * limit (msgpack_json.c: nested container keys are refused by depth, not by output size,
     * since a cut string with its marker can be longer than the whole one). */
    CHECK(a == c);
    return 0;
}
