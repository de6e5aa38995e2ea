/*
 * spool_format.c — encoder and decoder of spool files (see spool_format.h for the layout).
 *
 * Invariants:
 *   - the encoder writes every frame whole or not at all: on a failed growth the buffer is put
 *     back to its length before the frame;
 *   - the decoder reads only inside the bytes it is given and accepts a payload only when it is
 *     exactly one msgpack map of scalars (no nested container, no ext type): records never
 *     hold anything else, and a scalar-only walk cannot be made to allocate or recurse;
 *   - a record is returned only when its frame's CRC matched.
 */
#include "spool_format.h"

#include <msgpack.h>
#include <string.h>

#include "crc32.h"

/* ---- little-endian fields ------------------------------------------------------------------ */

static void put_le32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_be(const unsigned char *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* ---- header -------------------------------------------------------------------------------- */

void weft__spool_header(unsigned char out[WEFT__SPOOL_HEADER_LEN])
{
    memcpy(out, WEFT__SPOOL_MAGIC, 8);
    put_le32(out + 8, WEFT__SPOOL_VERSION);
    put_le32(out + 12, weft__crc32(0, out, 12));
}

weft__spool_header_status weft__spool_header_check(const void *p, size_t len)
{
    const unsigned char *h = p;
    /* A short file that does not even start like one is foreign, not a cut spool file. */
    size_t m = len < 8 ? len : 8;
    if (memcmp(h, WEFT__SPOOL_MAGIC, m) != 0)
        return WEFT__SPOOL_HDR_FOREIGN;
    if (len < WEFT__SPOOL_HEADER_LEN)
        return WEFT__SPOOL_HDR_SHORT;
    if (get_le32(h + 12) != weft__crc32(0, h, 12))
        return WEFT__SPOOL_HDR_DAMAGED;
    if (get_le32(h + 8) != WEFT__SPOOL_VERSION)
        return WEFT__SPOOL_HDR_VERSION;
    return WEFT__SPOOL_HDR_OK;
}

/* ---- encoder (msgpack-c's packer writing into a weft__buf) --------------------------------- */

static int buf_write(void *data, const char *p, size_t n)
{
    weft__buf *b = data;
    weft__buf_append(b, p, n);
    return b->oom ? -1 : 0;
}

static void pack_key(msgpack_packer *pk, char k) { msgpack_pack_str_with_body(pk, &k, 1); }

/* A frame being written: where it starts in out and the packer writing its payload. */
typedef struct frame {
    weft__buf *out;
    size_t at;
    msgpack_packer pk;
} frame;

/* Reserves the frame header and starts its payload: a map of `fields` entries whose first is
 * the kind ("k"). False (nothing written) when out has already run out of memory. */
static bool frame_begin(frame *f, weft__buf *out, size_t fields, char kind)
{
    if (out->oom)
        return false;
    f->out = out;
    f->at = out->len;
    static const char zero[WEFT__SPOOL_FRAME_LEN];
    weft__buf_append(out, zero, sizeof zero);
    msgpack_packer_init(&f->pk, out, buf_write);
    msgpack_pack_map(&f->pk, fields);
    pack_key(&f->pk, 'k');
    msgpack_pack_str_with_body(&f->pk, &kind, 1);
    return true;
}

static void pack_u64(frame *f, char k, uint64_t v)
{
    pack_key(&f->pk, k);
    msgpack_pack_uint64(&f->pk, v);
}

/* Fills in the frame header, or takes the frame back when memory ran out. */
static void frame_end(frame *fr)
{
    weft__buf *out = fr->out;
    if (out->oom) {
        out->len = fr->at;
        return;
    }
    unsigned char *f = (unsigned char *)out->data + fr->at;
    size_t plen = out->len - fr->at - WEFT__SPOOL_FRAME_LEN;
    put_le32(f, (uint32_t)plen);
    put_le32(f + 4, weft__crc32(0, f + WEFT__SPOOL_FRAME_LEN, plen));
}

void weft__spool_put_span(weft__buf *out, uint64_t seq, uint64_t trace, uint64_t id,
                          uint64_t parent, unsigned flags, const char *json, size_t json_len)
{
    frame f;
    if (!frame_begin(&f, out, 7, 's'))
        return;
    pack_u64(&f, 'q', seq);
    pack_u64(&f, 't', trace);
    pack_u64(&f, 'i', id);
    pack_u64(&f, 'r', parent);
    pack_key(&f.pk, 'o');
    msgpack_pack_unsigned_int(&f.pk, flags);
    pack_key(&f.pk, 'j');
    msgpack_pack_bin_with_body(&f.pk, json, json_len);
    frame_end(&f);
}

void weft__spool_put_ack(weft__buf *out, uint64_t first, uint64_t count)
{
    frame f;
    if (frame_begin(&f, out, 3, 'a')) {
        pack_u64(&f, 'q', first);
        pack_u64(&f, 'n', count);
        frame_end(&f);
    }
}

/* ---- decoder ------------------------------------------------------------------------------- */

/* One scalar msgpack value. */
typedef struct scalar {
    enum { S_UINT, S_NEG, S_STR, S_BIN, S_OTHER } type;
    uint64_t u;        /* S_UINT */
    const char *p;     /* S_STR, S_BIN */
    size_t len;
} scalar;

/* Reads the scalar at p[*i], advancing *i. False on a container, an ext type, the unused byte
 * 0xc1 or bytes running past len. */
static bool read_scalar(const unsigned char *p, size_t len, size_t *i, scalar *v)
{
    if (*i >= len)
        return false;
    unsigned c = p[(*i)++];
    size_t left = len - *i;
    unsigned lb = 0; /* bytes of a length field (str/bin) */
    unsigned fixed = 0;
    v->type = S_OTHER;
    if (c <= 0x7f) {
        v->type = S_UINT;
        v->u = c;
        return true;
    }
    if (c >= 0xe0) {
        v->type = S_NEG;
        return true;
    }
    if (c >= 0xa0 && c <= 0xbf) {
        v->type = S_STR;
        v->len = c & 0x1f;
        goto body;
    }
    switch (c) {
    case 0xc0: case 0xc2: case 0xc3:
        return true;
    case 0xc4: case 0xc5: case 0xc6:
        v->type = S_BIN;
        lb = 1u << (c - 0xc4);
        break;
    case 0xd9: case 0xda: case 0xdb:
        v->type = S_STR;
        lb = 1u << (c - 0xd9);
        break;
    case 0xcc: case 0xcd: case 0xce: case 0xcf:
        fixed = 1u << (c - 0xcc);
        if (left < fixed)
            return false;
        v->type = S_UINT;
        v->u = get_be(p + *i, fixed);
        *i += fixed;
        return true;
    case 0xd0: case 0xd1: case 0xd2: case 0xd3:
        fixed = 1u << (c - 0xd0);
        if (left < fixed)
            return false;
        /* A signed encoding of a non-negative value is still that value (other packers
         * choose signed forms); a negative one is kept as S_NEG, which no field accepts. */
        v->u = get_be(p + *i, fixed);
        if (v->u >> (fixed * 8 - 1))
            v->type = S_NEG;
        else
            v->type = S_UINT;
        *i += fixed;
        return true;
    case 0xca:
        fixed = 4;
        break;
    case 0xcb:
        fixed = 8;
        break;
    default:
        return false; /* 0x80-0x9f containers, 0xc1, ext 0xc7-0xc9 0xd4-0xd8, 0xdc-0xdf */
    }
    if (fixed) {
        if (left < fixed)
            return false;
        *i += fixed;
        return true;
    }
    if (left < lb)
        return false;
    v->len = (size_t)get_be(p + *i, lb);
    *i += lb;
body:
    if (len - *i < v->len)
        return false;
    v->p = (const char *)p + *i;
    *i += v->len;
    return true;
}

enum { HAVE_K = 1, HAVE_Q = 2, HAVE_T = 4, HAVE_I = 8, HAVE_R = 16, HAVE_O = 32, HAVE_J = 64, HAVE_N = 128 };

bool weft__spool_decode(const void *data, size_t len, weft__spool_rec *out)
{
    const unsigned char *p = data;
    if (len == 0 || (p[0] & 0xf0) != 0x80)
        return false; /* a fixmap: records have at most 15 keys */
    unsigned pairs = p[0] & 0x0f;
    size_t i = 1;
    unsigned have = 0;
    char kind = 0;
    weft__spool_rec r;
    memset(&r, 0, sizeof r);
    for (unsigned n = 0; n < pairs; n++) {
        scalar k, v;
        if (!read_scalar(p, len, &i, &k) || !read_scalar(p, len, &i, &v))
            return false;
        if (k.type != S_STR || k.len != 1)
            continue; /* a key of a later version */
        unsigned bit;
        switch (k.p[0]) {
        case 'k':
            if (v.type != S_STR || v.len != 1)
                return false;
            kind = v.p[0];
            bit = HAVE_K;
            break;
        case 'j':
            if (v.type != S_BIN)
                return false;
            r.json = v.p;
            r.json_len = v.len;
            bit = HAVE_J;
            break;
        case 'q': case 't': case 'i': case 'r': case 'o': case 'n':
            if (v.type != S_UINT)
                return false;
            switch (k.p[0]) {
            case 'q': r.seq = v.u; bit = HAVE_Q; break;
            case 't': r.trace = v.u; bit = HAVE_T; break;
            case 'i': r.id = v.u; bit = HAVE_I; break;
            case 'r': r.parent = v.u; bit = HAVE_R; break;
            case 'o':
                if (v.u > (WEFT__SPOOL_F_IN_PROGRESS | WEFT__SPOOL_F_FINAL_OPEN))
                    return false;
                r.flags = (unsigned)v.u;
                bit = HAVE_O;
                break;
            default: r.count = v.u; bit = HAVE_N; break;
            }
            break;
        default:
            continue;
        }
        if (have & bit)
            return false; /* a key twice: which one would be meant? */
        have |= bit;
    }
    if (i != len)
        return false;
    if (kind == 's' && (have & (HAVE_K | HAVE_Q | HAVE_T | HAVE_I | HAVE_J)) ==
                           (HAVE_K | HAVE_Q | HAVE_T | HAVE_I | HAVE_J)) {
        r.kind = WEFT__SPOOL_SPAN;
    } else if (kind == 'a' && (have & (HAVE_K | HAVE_Q | HAVE_N)) == (HAVE_K | HAVE_Q | HAVE_N) &&
               r.count >= 1 && r.seq + r.count > r.seq) {
        r.kind = WEFT__SPOOL_ACK;
        r.json = NULL;
        r.json_len = 0;
    } else {
        return false;
    }
    *out = r;
    return true;
}

static void open_region(weft__spool_damage *dmg)
{
    dmg->in_region_ = true;
    dmg->region_bytes_ = 0;
    dmg->regions++;
}

weft__spool_next_status weft__spool_next(const void *data, size_t len, bool eof, size_t *pos,
                                         weft__spool_rec *out, weft__spool_damage *dmg,
                                         size_t *need)
{
    const unsigned char *p = data;
    for (;;) {
        size_t at = *pos;
        size_t left = len - at;
        if (!dmg->in_region_) {
            /* At a frame boundary the previous frame vouches for. */
            if (left < WEFT__SPOOL_FRAME_LEN) {
                if (!eof) {
                    *need = WEFT__SPOOL_FRAME_LEN;
                    return WEFT__SPOOL_NEXT_MORE;
                }
                if (left > 0) {
                    dmg->torn = true;
                    dmg->regions++;
                    dmg->tail = left;
                    *pos = len;
                }
                return WEFT__SPOOL_NEXT_END;
            }
            uint32_t plen = get_le32(p + at);
            if (plen == 0 || plen > WEFT__SPOOL_MAX_PAYLOAD) {
                dmg->bad_length = true;
                open_region(dmg);
            } else if (left - WEFT__SPOOL_FRAME_LEN < plen) {
                if (!eof) {
                    *need = WEFT__SPOOL_FRAME_LEN + (size_t)plen;
                    return WEFT__SPOOL_NEXT_MORE;
                }
                dmg->torn = true;
                open_region(dmg);
            } else {
                const unsigned char *payload = p + at + WEFT__SPOOL_FRAME_LEN;
                if (weft__crc32(0, payload, plen) != get_le32(p + at + 4)) {
                    dmg->bad_crc++;
                    open_region(dmg);
                } else {
                    *pos = at + WEFT__SPOOL_FRAME_LEN + plen;
                    if (!weft__spool_decode(payload, plen, out)) {
                        dmg->bad_record++; /* the CRC vouches for the length: skip the frame */
                        continue;
                    }
                    out->frame_off = at;
                    out->frame_len = WEFT__SPOOL_FRAME_LEN + plen;
                    out->after_damage = false;
                    return WEFT__SPOOL_NEXT_RECORD;
                }
            }
        } else {
            /* Inside damage: is a frame starting here? Cheap tests first (a record payload is
             * a fixmap), then the decoder, then the CRC. */
            if (left < WEFT__SPOOL_FRAME_LEN + 1) {
                if (!eof) {
                    *need = WEFT__SPOOL_FRAME_LEN + 1;
                    return WEFT__SPOOL_NEXT_MORE;
                }
                dmg->tail = dmg->region_bytes_ + left;
                dmg->in_region_ = false;
                *pos = len;
                return WEFT__SPOOL_NEXT_END;
            }
            uint32_t plen = get_le32(p + at);
            if (plen != 0 && plen <= WEFT__SPOOL_MAX_PAYLOAD &&
                (p[at + WEFT__SPOOL_FRAME_LEN] & 0xf0) == 0x80) {
                if (left - WEFT__SPOOL_FRAME_LEN < plen) {
                    if (!eof) {
                        *need = WEFT__SPOOL_FRAME_LEN + (size_t)plen;
                        return WEFT__SPOOL_NEXT_MORE;
                    }
                } else {
                    const unsigned char *payload = p + at + WEFT__SPOOL_FRAME_LEN;
                    if (weft__spool_decode(payload, plen, out) &&
                        weft__crc32(0, payload, plen) == get_le32(p + at + 4)) {
                        dmg->in_region_ = false;
                        *pos = at + WEFT__SPOOL_FRAME_LEN + plen;
                        out->frame_off = at;
                        out->frame_len = WEFT__SPOOL_FRAME_LEN + plen;
                        out->after_damage = true;
                        return WEFT__SPOOL_NEXT_RECORD;
                    }
                }
            }
        }
        /* Damage at `at`: look for a frame at the next byte. */
        *pos = at + 1;
        dmg->region_bytes_++;
    }
}
