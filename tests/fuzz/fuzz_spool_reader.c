/*
 * fuzz_spool_reader.c — libFuzzer target for the spool file reader (src/spool_format.c): the
 * header check and weft__spool_next over arbitrary bytes taken as a whole file, the way
 * src/spool.c reads files after a crash, a torn write or any other damage.
 *
 * Checks, aborting on any failure:
 *   - every call returns, and reading makes progress: at most one call per 9 input bytes;
 *   - every record accepted sits inside the input, its frame's stored CRC-32 matches its
 *     payload, and its fields are what msgpack-c's own unpacker reads from that payload (the
 *     decoder is hand-written; msgpack-c is the oracle);
 *   - an accepted record re-encoded by the spool's encoder decodes to the same fields;
 *   - reading the file through small windows that grow on MORE (as spool.c does with pread)
 *     yields exactly the records, damage counts and end position of reading it whole;
 *   - the input taken as one record's payload (weft__spool_decode directly, past the CRC that
 *     random bytes never match) decodes as msgpack-c reads it, or is refused.
 */
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "crc32.h"
#include "fuzz_check.h"
#include "spool_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECS 4096

typedef struct seen {
    size_t frame_off, frame_len;
    weft__spool_kind kind;
    uint64_t seq, count, trace, id, parent;
    unsigned flags;
    size_t json_off, json_len;
} seen;

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The value of one-letter key k in map m, or NULL (the decoder refuses duplicates of the keys
 * it knows, so the first is the one). */
static const msgpack_object *get(const msgpack_object *m, char k)
{
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *key = &m->via.map.ptr[i].key;
        if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == 1 && key->via.str.ptr[0] == k)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

static void check_uint(const msgpack_object *m, char k, uint64_t want)
{
    const msgpack_object *v = get(m, k);
    CHECK(v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 == want);
}

/* msgpack-c must read the accepted payload as one map holding the same fields. */
static void oracle(const uint8_t *payload, size_t plen, const weft__spool_rec *r)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    CHECK(msgpack_unpack_next(&u, (const char *)payload, plen, &off) == MSGPACK_UNPACK_SUCCESS);
    CHECK(off == plen);
    const msgpack_object *m = &u.data;
    CHECK(m->type == MSGPACK_OBJECT_MAP);
    const msgpack_object *k = get(m, 'k');
    CHECK(k && k->type == MSGPACK_OBJECT_STR && k->via.str.size == 1);
    check_uint(m, 'q', r->seq);
    if (r->kind == WEFT__SPOOL_SPAN) {
        CHECK(k->via.str.ptr[0] == 's');
        check_uint(m, 't', r->trace);
        check_uint(m, 'i', r->id);
        if (get(m, 'r'))
            check_uint(m, 'r', r->parent);
        else
            CHECK(r->parent == 0);
        if (get(m, 'o'))
            check_uint(m, 'o', r->flags);
        else
            CHECK(r->flags == 0);
        const msgpack_object *j = get(m, 'j');
        CHECK(j && j->type == MSGPACK_OBJECT_BIN && j->via.bin.size == r->json_len);
        CHECK(memcmp(j->via.bin.ptr, r->json, r->json_len) == 0);
    } else {
        CHECK(r->kind == WEFT__SPOOL_ACK);
        CHECK(k->via.str.ptr[0] == 'a');
        check_uint(m, 'n', r->count);
        CHECK(r->count >= 1 && r->seq + r->count > r->seq);
    }
    msgpack_unpacked_destroy(&u);
}

/* Re-encoded, the record decodes to the same fields. */
static void roundtrip(const weft__spool_rec *r)
{
    weft__buf b;
    weft__buf_init(&b);
    if (r->kind == WEFT__SPOOL_SPAN)
        weft__spool_put_span(&b, r->seq, r->trace, r->id, r->parent, r->flags, r->json, r->json_len);
    else
        weft__spool_put_ack(&b, r->seq, r->count);
    if (!b.oom) {
        size_t pos = 0, need = 0;
        weft__spool_rec back;
        weft__spool_damage d = {0};
        CHECK(weft__spool_next(b.data, b.len, true, &pos, &back, &d, &need) ==
              WEFT__SPOOL_NEXT_RECORD);
        CHECK(pos == b.len && back.kind == r->kind && back.seq == r->seq);
        if (r->kind == WEFT__SPOOL_SPAN)
            CHECK(back.trace == r->trace && back.id == r->id && back.parent == r->parent &&
                  back.flags == r->flags && back.json_len == r->json_len &&
                  memcmp(back.json, r->json, r->json_len) == 0);
        else
            CHECK(back.count == r->count);
    }
    weft__buf_fini(&b);
}

/* Whole-file read from `start`: records into out (up to MAX_RECS), returns how many. */
static size_t read_whole(const uint8_t *data, size_t size, size_t start, seen *out,
                         weft__spool_damage *dmg, size_t *end)
{
    size_t pos = start, n = 0, calls = 0, need = 0;
    weft__spool_rec r;
    for (;;) {
        CHECK(++calls <= (size - start) / 9 + 2);
        size_t before = pos;
        weft__spool_next_status st = weft__spool_next(data, size, true, &pos, &r, dmg, &need);
        CHECK(st != WEFT__SPOOL_NEXT_MORE);
        CHECK(pos >= before && pos <= size);
        if (st == WEFT__SPOOL_NEXT_END)
            break;
        /* The frame is inside the input and its stored CRC is its payload's. */
        CHECK(r.frame_off >= before && r.frame_off + r.frame_len == pos);
        CHECK(r.frame_len > WEFT__SPOOL_FRAME_LEN);
        const uint8_t *f = data + r.frame_off;
        size_t plen = r.frame_len - WEFT__SPOOL_FRAME_LEN;
        CHECK(le32(f) == plen);
        CHECK(le32(f + 4) == weft__crc32(0, f + WEFT__SPOOL_FRAME_LEN, plen));
        if (r.kind == WEFT__SPOOL_SPAN)
            CHECK((const uint8_t *)r.json >= f + WEFT__SPOOL_FRAME_LEN &&
                  (const uint8_t *)r.json + r.json_len <= data + pos);
        oracle(f + WEFT__SPOOL_FRAME_LEN, plen, &r);
        roundtrip(&r);
        if (n < MAX_RECS)
            out[n] = (seen){r.frame_off, r.frame_len, r.kind, r.seq, r.count, r.trace, r.id,
                            r.parent, r.flags,
                            r.kind == WEFT__SPOOL_SPAN ? (size_t)((const uint8_t *)r.json - data) : 0,
                            r.json_len};
        n++;
    }
    *end = pos;
    return n;
}

/* The same file through a window that starts small and grows or slides on MORE. */
static void read_windowed(const uint8_t *data, size_t size, size_t start, size_t step,
                          const seen *want, size_t n_want, const weft__spool_damage *dmg_want,
                          size_t end_want)
{
    size_t base = start, len = size - start < step ? size - start : step, pos = 0, n = 0;
    size_t calls = 0;
    weft__spool_damage dmg = {0};
    weft__spool_rec r;
    for (;;) {
        CHECK(++calls <= 4 * ((size - start) / 9 + 2) + 2 * (size / step + 2));
        size_t need = 0;
        bool eof = base + len == size;
        weft__spool_next_status st = weft__spool_next(data + base, len, eof, &pos, &r, &dmg, &need);
        if (st == WEFT__SPOOL_NEXT_END) {
            CHECK(eof || dmg.bad_length); /* a length no frame has ends reading anywhere */
            break;
        }
        if (st == WEFT__SPOOL_NEXT_MORE) {
            CHECK(!eof && need > len - pos);
            base += pos;
            len -= pos;
            pos = 0;
            size_t grow = need > len + step ? need - len : step;
            len = size - base < len + grow ? size - base : len + grow;
            continue;
        }
        CHECK(n < n_want);
        if (n < MAX_RECS) {
            const seen *w = &want[n];
            CHECK(base + r.frame_off == w->frame_off && r.frame_len == w->frame_len);
            CHECK(r.kind == w->kind && r.seq == w->seq && r.count == w->count);
            CHECK(r.trace == w->trace && r.id == w->id && r.parent == w->parent &&
                  r.flags == w->flags && r.json_len == w->json_len);
            if (r.kind == WEFT__SPOOL_SPAN)
                CHECK((size_t)((const uint8_t *)r.json - data) == w->json_off);
        }
        n++;
    }
    CHECK(n == n_want);
    CHECK(base + pos == end_want);
    CHECK(dmg.bad_crc == dmg_want->bad_crc && dmg.bad_record == dmg_want->bad_record &&
          dmg.torn == dmg_want->torn && dmg.bad_length == dmg_want->bad_length);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static seen recs[MAX_RECS];
    /* The input as one record payload too: the CRC keeps random bytes from ever reaching the
     * decoder through a frame, so it is also fed directly, against the same oracle. */
    weft__spool_rec one;
    if (weft__spool_decode(data, size, &one)) {
        CHECK(one.kind != WEFT__SPOOL_SPAN ||
              ((const uint8_t *)one.json >= data && (const uint8_t *)one.json + one.json_len <= data + size));
        oracle(data, size, &one);
        roundtrip(&one);
    }
    weft__spool_header_status hs = weft__spool_header_check(data, size);
    CHECK(hs <= WEFT__SPOOL_HDR_VERSION);
    /* As a file: frames after a good header. As frames alone too, so inputs the fuzzer has
     * not yet given a valid header still reach the frame reader. */
    size_t starts[2] = {0, WEFT__SPOOL_HEADER_LEN};
    for (int k = hs == WEFT__SPOOL_HDR_OK ? 1 : 0; k >= 0; k--) {
        size_t start = starts[k];
        if (start > size)
            continue;
        weft__spool_damage dmg = {0};
        size_t end = 0;
        size_t n = read_whole(data, size, start, recs, &dmg, &end);
        CHECK(end >= start && end <= size);
        /* Reading stops early only for a reason it reports. */
        CHECK(end == size || dmg.torn || dmg.bad_length);
        size_t step = 1 + (size_t)(size ? data[size - 1] % 64 : 0);
        read_windowed(data, size, start, step, recs, n, &dmg, end);
        if (hs == WEFT__SPOOL_HDR_OK)
            break;
    }
    return 0;
}
