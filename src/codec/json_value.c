/*
 * json_value.c — see json_value.h. Recursive descent over the jansson tree; every piece is
 * written through json.h, so the output obeys json.h's guarantees (valid JSON, valid UTF-8).
 */
#include "json_value.h"

#include <stdlib.h>

#include "json.h"

void weft__json_value_write(weft__buf *b, const json_t *v)
{
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_OBJECT: {
        weft__buf_putc(b, '{');
        bool first = true;
        /* const_cast: jansson's iterators take a non-const object but do not modify it. */
        json_t *o = (json_t *)v;
        for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it)) {
            if (!first)
                weft__buf_putc(b, ',');
            first = false;
            weft__json_str_any(b, json_object_iter_key(it), json_object_iter_key_len(it), 0);
            weft__buf_putc(b, ':');
            weft__json_value_write(b, json_object_iter_value(it));
        }
        weft__buf_putc(b, '}');
        break;
    }
    case JSON_ARRAY: {
        weft__buf_putc(b, '[');
        size_t n = json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            if (i)
                weft__buf_putc(b, ',');
            weft__json_value_write(b, json_array_get(v, i));
        }
        weft__buf_putc(b, ']');
        break;
    }
    case JSON_STRING:
        weft__json_str_any(b, json_string_value(v), json_string_length(v), 0);
        break;
    case JSON_INTEGER:
        weft__json_i64(b, (int64_t)json_integer_value(v));
        break;
    case JSON_REAL:
        weft__json_f64(b, json_real_value(v));
        break;
    case JSON_TRUE:
        weft__buf_lit(b, "true");
        break;
    case JSON_FALSE:
        weft__buf_lit(b, "false");
        break;
    case JSON_NULL:
    default:
        weft__buf_lit(b, "null");
        break;
    }
}

char *weft__json_value_text(const json_t *v)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__json_value_write(&b, v);
    weft__buf_putc(&b, '\0');
    if (b.oom) {
        weft__buf_fini(&b);
        return NULL;
    }
    return b.data; /* taken from the buffer: not finalised */
}
