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
 *   - reading always goes on to the end (resynchronising after damage), and the readable part
 *     it reports (end - tail) ends after the last record;
 *   - a well-formed file built from the input and then damaged (a zeroed stretch, a flipped
 *     bit, a rewritten length, a cut) gives back every frame the damage did not touch, in
 *     order, and the first record after each damaged stretch says so;
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
    bool after_damage;
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
        CHECK(++calls <= (size - start) / 9 + 2); /* a record each (9 bytes at least), one END */
        size_t before = pos;
        uint64_t regions = dmg->regions;
        weft__spool_next_status st = weft__spool_next(data, size, true, &pos, &r, dmg, &need);
        CHECK(st != WEFT__SPOOL_NEXT_MORE);
        CHECK(pos >= before && pos <= size);
        if (st == WEFT__SPOOL_NEXT_END)
            break;
        /* The frame is inside the input and its stored CRC is its payload's. */
        CHECK(r.frame_off >= before && r.frame_off + r.frame_len == pos);
        /* The first record after a damaged stretch, and only it, says so. */
        CHECK(r.after_damage == (dmg->regions > regions));
        if (r.frame_off == before)
            CHECK(!r.after_damage);
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
            out[n] = (seen){r.frame_off, r.frame_len, r.after_damage, r.kind, r.seq, r.count, r.trace, r.id,
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
        /* Each MORE moves the window's end forward; each record passes 9 bytes. */
        CHECK(++calls <= (size - start) + (size - start) / 9 + 4);
        size_t need = 0;
        bool eof = base + len == size;
        weft__spool_next_status st = weft__spool_next(data + base, len, eof, &pos, &r, &dmg, &need);
        if (st == WEFT__SPOOL_NEXT_END) {
            CHECK(eof); /* damage never ends reading early: it resynchronises */
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
            CHECK(r.after_damage == w->after_damage);
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
          dmg.torn == dmg_want->torn && dmg.bad_length == dmg_want->bad_length &&
          dmg.regions == dmg_want->regions && dmg.tail == dmg_want->tail);
}

/* A file of 2..33 span records built from the input, damaged one way the input picks, read
 * back whole: every frame the damage left alone comes back, unless a valid frame the reader
 * found inside the damage overlaps it (possible only if the input planted one). */
static void damaged_file(const uint8_t *data, size_t size)
{
    static seen recs[MAX_RECS];
    static size_t off[40], flen[40];
    if (size < 8)
        return;
    weft__buf b;
    weft__buf_init(&b);
    unsigned char h[WEFT__SPOOL_HEADER_LEN];
    weft__spool_header(h);
    weft__buf_append(&b, h, sizeof h);
    size_t n = 2 + data[0] % 32;
    char json[300];
    for (size_t k = 0; k < n; k++) {
        size_t jl = (data[1] + 7 * k) % 257;
        for (size_t i = 0; i < jl; i++)
            json[i] = (char)('a' + data[(4 + k + i) % size] % 26);
        off[k] = b.len;
        weft__spool_put_span(&b, k, 7, 100 + k, k ? 100 + k - 1 : 0, 0, json, jl);
        flen[k] = b.len - off[k];
    }
    if (b.oom) {
        weft__buf_fini(&b);
        return;
    }
    unsigned char *f = (unsigned char *)b.data;
    size_t len = b.len;
    size_t at = WEFT__SPOOL_HEADER_LEN + (size_t)(data[2] | data[3] << 8) % (len - WEFT__SPOOL_HEADER_LEN);
    size_t lo = at, hi = at + 1; /* bytes [lo, hi) changed */
    switch (data[4] % 4) {
    case 0: /* a zeroed stretch */
        hi = at + 1 + data[5] % 200;
        if (hi > len)
            hi = len;
        memset(f + lo, 0, hi - lo);
        break;
    case 1: /* one bit */
        f[at] ^= (unsigned char)(1u << (data[5] % 8));
        break;
    case 2: { /* a frame's length rewritten (the value from the input) */
        size_t k = data[5] % n;
        lo = off[k];
        hi = lo + 4;
        uint32_t v = (uint32_t)data[6] | (uint32_t)data[7] << 8 | (uint32_t)data[size - 1] << 16;
        f[lo] = (unsigned char)v;
        f[lo + 1] = (unsigned char)(v >> 8);
        f[lo + 2] = (unsigned char)(v >> 16);
        f[lo + 3] = (unsigned char)(v >> 24);
        break;
    }
    default: /* cut */
        len = at;
        lo = at;
        hi = SIZE_MAX;
        break;
    }
    weft__spool_damage dmg = {0};
    size_t end = 0;
    size_t got = read_whole(f, len, WEFT__SPOOL_HEADER_LEN, recs, &dmg, &end);
    CHECK(got <= MAX_RECS);
    size_t g = 0;
    for (size_t k = 0; k < n; k++) {
        bool touched = off[k] < hi && lo < off[k] + flen[k];
        if (touched || off[k] + flen[k] > len)
            continue;
        /* Records before this frame's start that do not overlap it are passed over. */
        while (g < got && recs[g].frame_off + recs[g].frame_len <= off[k] && recs[g].frame_off != off[k])
            g++;
        if (g < got && recs[g].frame_off == off[k]) {
            CHECK(recs[g].frame_len == flen[k] && recs[g].seq == k && recs[g].id == 100 + k);
            g++;
            continue;
        }
        /* Not returned: only a valid frame found inside the damage may have swallowed it. */
        CHECK(g < got && recs[g].frame_off < off[k] + flen[k] && off[k] < recs[g].frame_off + recs[g].frame_len);
    }
    weft__buf_fini(&b);
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
    damaged_file(data, size);
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
        /* Reading goes on to the end; the readable part ends after the last record. */
        CHECK(end == size);
        CHECK(dmg.tail <= end - start);
        if (n > 0 && n <= MAX_RECS)
            CHECK(recs[n - 1].frame_off + recs[n - 1].frame_len <= end - dmg.tail);
        size_t step = 1 + (size_t)(size ? data[size - 1] % 64 : 0);
        read_windowed(data, size, start, step, recs, n, &dmg, end);
        if (hs == WEFT__SPOOL_HDR_OK)
            break;
    }
    return 0;
}
