/*
 * msgpack_json.c — turns one msgpack value (as callers of weft_span_set_msgpack pack it with
 * msgpack-c) into JSON text, and writes base64. The only file on the export side that includes
 * <msgpack.h>. A codec: no I/O, no state between calls.
 *
 * Invariants:
 *   - what is appended is exactly one valid JSON value, or nothing: on any failure b->len is put
 *     back where it was;
 *   - input is never trusted. A pre-scan (check_one_object) proves that data is exactly one
 *     well-formed object before msgpack-c sees it, because msgpack-c allocates
 *     count * sizeof(msgpack_object) as soon as it reads a container header: a 5-byte array32
 *     header claiming 2^32-1 elements would otherwise ask the heap for about 96 GiB. The scan
 *     requires every declared count to fit in the bytes left (each element takes at least one),
 *     which bounds msgpack-c's allocation by 24 bytes per input byte;
 *   - nesting is limited to 32 containers, not json.h's 256: libmsgpackc's C unpacker keeps a
 *     fixed stack of MSGPACK_EMBED_STACK_SIZE (32, compiled into the library) entries and fails
 *     deeper input, so the scan rejects it first, with the same rule (an empty container at
 *     depth 32 also counts).
 */
#include "msgpack_json.h"

#include <assert.h>
#include <msgpack.h>
#include <stdint.h>

#include "json.h"

#define MSGPACK_MAX_DEPTH 32

static uint64_t read_be(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* True when p[0..len) is exactly one well-formed msgpack object, nested at most
 * MSGPACK_MAX_DEPTH deep, with every container count plausible (see the file comment). Walks
 * the bytes without building anything; left[d] counts the items still to read at depth d
 * (left[0]: the top-level value). */
static bool check_one_object(const unsigned char *p, size_t len)
{
    uint64_t left[MSGPACK_MAX_DEPTH + 1];
    size_t depth = 0, i = 0;
    left[0] = 1;
    for (;;) {
        while (left[depth] == 0) {
            if (depth == 0)
                return i == len;
            depth--;
        }
        left[depth]--;
        if (i >= len)
            return false;
        unsigned c = p[i++];
        unsigned len_bytes = 0;  /* size of a big-endian length field after the type byte */
        uint64_t payload = 0;    /* fixed payload bytes after the type byte (and length) */
        int container = 0;       /* 1: array, 2: map (two items per entry) */
        uint64_t n = 0;

        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3)
            continue; /* fixints, nil, false, true */
        if (c <= 0x8f) {
            container = 2;
            n = c & 0x0f;
        } else if (c <= 0x9f) {
            container = 1;
            n = c & 0x0f;
        } else if (c <= 0xbf) {
            payload = c & 0x1f; /* fixstr */
        } else {
            switch (c) {
            case 0xc4: case 0xd9: len_bytes = 1; break; /* bin8, str8 */
            case 0xc5: case 0xda: len_bytes = 2; break;
            case 0xc6: case 0xdb: len_bytes = 4; break;
            case 0xc7: len_bytes = 1; payload = 1; break; /* ext8: length, type, data */
            case 0xc8: len_bytes = 2; payload = 1; break;
            case 0xc9: len_bytes = 4; payload = 1; break;
            case 0xca: payload = 4; break; /* float32 */
            case 0xcb: payload = 8; break;
            case 0xcc: case 0xd0: payload = 1; break; /* uint8, int8 */
            case 0xcd: case 0xd1: payload = 2; break;
            case 0xce: case 0xd2: payload = 4; break;
            case 0xcf: case 0xd3: payload = 8; break;
            case 0xd4: payload = 2; break; /* fixext1: type + 1 byte */
            case 0xd5: payload = 3; break;
            case 0xd6: payload = 5; break;
            case 0xd7: payload = 9; break;
            case 0xd8: payload = 17; break;
            case 0xdc: len_bytes = 2; container = 1; break;
            case 0xdd: len_bytes = 4; container = 1; break;
            case 0xde: len_bytes = 2; container = 2; break;
            case 0xdf: len_bytes = 4; container = 2; break;
            default: return false; /* 0xc1: never used */
            }
            if (len_bytes) {
                if (len - i < len_bytes)
                    return false;
                uint64_t v = read_be(p + i, len_bytes);
                i += len_bytes;
                if (container)
                    n = v;
                else
                    payload += v;
            }
        }
        if (container) {
            uint64_t items = n * (uint64_t)container; /* n < 2^32: no overflow */
            if (items > len - i || depth == MSGPACK_MAX_DEPTH)
                return false;
            if (items > 0)
                left[++depth] = items;
        } else {
            if (payload > len - i)
                return false;
            i += (size_t)payload;
        }
    }
}

void weft__json_base64(weft__buf *b, const void *data, size_t len)
{
    static const char alphabet[64] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (len / 3 >= (SIZE_MAX - 8) / 4) {
        b->oom = true; /* the text would not fit in a size_t */
        return;
    }
    size_t out_len = (len + 2) / 3 * 4 + 2;
    if (!weft__buf_reserve(b, out_len))
        return;
    const unsigned char *p = data;
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    for (; len - i >= 3; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        o[0] = alphabet[v >> 18];
        o[1] = alphabet[(v >> 12) & 63];
        o[2] = alphabet[(v >> 6) & 63];
        o[3] = alphabet[v & 63];
        o += 4;
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        o[0] = alphabet[v >> 18];
        o[1] = alphabet[(v >> 12) & 63];
        o[2] = '=';
        o[3] = '=';
        o += 4;
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        o[0] = alphabet[v >> 18];
        o[1] = alphabet[(v >> 12) & 63];
        o[2] = alphabet[(v >> 6) & 63];
        o[3] = '=';
        o += 4;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
}

/* A map key that is itself a container is written as its JSON text inside a string, so the
 * quotes and backslashes of that text are escaped once more for every such key it sits in: each
 * level can double the text. Keys nest at most MSGPACK_MAX_KEY_NESTING containers deep; a
 * deeper one fails the transcoding (the caller keeps the bytes as base64, counted as invalid).
 * A structural rule rather than an output budget, so that whether a value is accepted never
 * depends on the string limit (a cut string with its marker can be longer than the whole one),
 * and the text stays within 2^3 times the roughly 7x of a value without such keys. */
#define MSGPACK_MAX_KEY_NESTING 3

typedef struct out_ctx {
    size_t max_str;
    unsigned key_nesting; /* container keys around the value being written */
    bool too_deep;
} out_ctx;

static void put_value(weft__buf *b, const msgpack_object *o, out_ctx *c);

/* JSON object keys must be strings: a string key goes through as it is; any other key is
 * written as its own JSON text, and that text as a JSON string. */
static void put_key(weft__buf *b, const msgpack_object *k, out_ctx *c)
{
    switch (k->type) {
    case MSGPACK_OBJECT_STR:
        weft__json_str(b, k->via.str.ptr, k->via.str.size, c->max_str);
        return;
    case MSGPACK_OBJECT_NIL:
    case MSGPACK_OBJECT_BOOLEAN:
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        /* Their text (digits, sign, '.', 'e', or a literal) needs no escaping: quote it in
         * place instead of going through a second buffer. */
        weft__buf_putc(b, '"');
        put_value(b, k, c);
        weft__buf_putc(b, '"');
        return;
    default: {
        /* Containers, bin and ext as keys are rare enough that a scratch buffer per key is
         * cheaper than keeping one around. */
        bool container = k->type == MSGPACK_OBJECT_ARRAY || k->type == MSGPACK_OBJECT_MAP;
        if (container && c->key_nesting == MSGPACK_MAX_KEY_NESTING) {
            c->too_deep = true;
            return;
        }
        weft__buf tmp;
        weft__buf_init(&tmp);
        out_ctx kc = {c->max_str, c->key_nesting + 1, false};
        put_value(&tmp, k, &kc);
        if (tmp.oom)
            b->oom = true;
        else if (kc.too_deep)
            c->too_deep = true;
        else
            weft__json_str(b, tmp.data, tmp.len, 0);
        weft__buf_fini(&tmp);
        return;
    }
    }
}

static void put_value(weft__buf *b, const msgpack_object *o, out_ctx *c)
{
    if (c->too_deep)
        return; /* the transcoding has failed: stop writing */
    size_t max_str = c->max_str;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        weft__buf_lit(b, "null");
        return;
    case MSGPACK_OBJECT_BOOLEAN:
        weft__json_bool(b, o->via.boolean);
        return;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        weft__json_u64(b, o->via.u64);
        return;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        weft__json_i64(b, o->via.i64);
        return;
    case MSGPACK_OBJECT_FLOAT32: /* msgpack-c widens float32 into via.f64 */
    case MSGPACK_OBJECT_FLOAT64:
        weft__json_f64(b, o->via.f64);
        return;
    case MSGPACK_OBJECT_STR:
        weft__json_str(b, o->via.str.ptr, o->via.str.size, max_str);
        return;
    case MSGPACK_OBJECT_BIN:
        weft__json_base64(b, o->via.bin.ptr, o->via.bin.size);
        return;
    case MSGPACK_OBJECT_EXT:
        /* msgpack_json.h: ext becomes a base64 string — of its data; the type byte has no
         * JSON counterpart and is dropped. */
        weft__json_base64(b, o->via.ext.ptr, o->via.ext.size);
        return;
    case MSGPACK_OBJECT_ARRAY:
        weft__buf_putc(b, '[');
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                weft__buf_putc(b, ',');
            put_value(b, &o->via.array.ptr[i], c);
        }
        weft__buf_putc(b, ']');
        return;
    case MSGPACK_OBJECT_MAP:
        weft__buf_putc(b, '{');
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            if (i)
                weft__buf_putc(b, ',');
            put_key(b, &o->via.map.ptr[i].key, c);
            weft__buf_putc(b, ':');
            put_value(b, &o->via.map.ptr[i].val, c);
        }
        weft__buf_putc(b, '}');
        return;
    }
    /* msgpack-c has no other type; were one added, null keeps the output valid JSON. */
    weft__buf_lit(b, "null");
}

bool weft__msgpack_to_json(weft__buf *b, const void *data, size_t len, size_t max_str_bytes)
{
    size_t start = b->len;
    if (!check_one_object(data, len))
        return false;

    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    size_t off = 0;
    msgpack_unpack_return ret = msgpack_unpack_next(&res, data, len, &off);
    /* The scan accepts exactly what msgpack-c accepts; only the heap may still say no. */
    assert(ret == MSGPACK_UNPACK_SUCCESS || ret == MSGPACK_UNPACK_NOMEM_ERROR);
    bool ok = ret == MSGPACK_UNPACK_SUCCESS && off == len;
    if (ok) {
        out_ctx c = {max_str_bytes, 0, false};
        put_value(b, &res.data, &c);
        ok = !b->oom && !c.too_deep;
    }
    msgpack_unpacked_destroy(&res);
    if (!ok)
        b->len = start;
    return ok;
}
