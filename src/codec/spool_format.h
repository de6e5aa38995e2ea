/*
 * spool_format.h — the bytes of a spool file (docs/spool.md): a 16-byte header, then frames
 * [u32 length][u32 CRC-32 of the payload][payload], little-endian, each payload one msgpack map
 * (a span record or an acknowledgement). Owns the encoder (msgpack-c's packer) and the decoder
 * (hand-written, fuzzed by tests/fuzz/fuzz_spool_reader.c against msgpack-c's unpacker).
 *
 * A codec: no I/O, no allocation except in the caller's weft__buf, no state between calls,
 * every input byte untrusted. Any thread.
 *
 * Header: "WEFTSPOL" (8 bytes), u32 version (1), u32 CRC-32 of the 12 bytes before it.
 *
 * Records (version 1; one-letter keys: they are on every record of a file that can hold
 * hundreds of thousands). Keys may come in any order; unknown keys are skipped, so a later
 * version may add some.
 *   span: {"k":"s", "q":seq, "t":trace, "i":id, "r":parent (0: a root), "o":flags, "j":json}
 *         seq numbers the file's span records 0, 1, 2, ... in the order written; flags bit 0:
 *         in progress (no end_timestamp), bit 1: still open at shutdown (final_open); json is
 *         the item exactly as the exporter sends it (bin), in the spool's encoding (the SGP
 *         item for the files named weft-<pid>-...; the field keeps its first name).
 *   ack:  {"k":"a", "q":first, "n":count}: span records first .. first+count-1 are finished
 *         (delivered, or refused by the server for good) and must not be sent again.
 *
 * Damage: a frame whose CRC matches but whose payload is not a record this version reads is
 * skipped by its length (bad_record). Any other damage — a length of 0 or above
 * WEFT__SPOOL_MAX_PAYLOAD (bad_length; a zero-filled stretch, which file systems can leave
 * after a crash, reads as one), a CRC that does not match (bad_crc: the length itself may be
 * what was hit, so it is not trusted), a frame cut short by the end of the bytes (torn) —
 * starts a damaged stretch: reading resynchronises on the next position, byte by byte, where a
 * whole frame with a matching CRC holds a record (a false match needs a 1-in-2^32 CRC
 * collision on top of a well-formed record map). The first record after a stretch says so
 * (after_damage), so the caller can count exactly the records lost from the gap in their
 * numbers. A stretch with no frame after it reaches the end (tail).
 */
#ifndef WEFT_SPOOL_FORMAT_H
#define WEFT_SPOOL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define WEFT__SPOOL_MAGIC "WEFTSPOL"
#define WEFT__SPOOL_VERSION 1u
#define WEFT__SPOOL_HEADER_LEN 16u
#define WEFT__SPOOL_FRAME_LEN 8u
/* 256 MiB: no span record comes near it (the receiver's and most servers' whole-body limit is
 * no larger); a bigger length is damage. */
#define WEFT__SPOOL_MAX_PAYLOAD (256u << 20)

#define WEFT__SPOOL_F_IN_PROGRESS 1u
#define WEFT__SPOOL_F_FINAL_OPEN 2u

typedef enum weft__spool_header_status {
    WEFT__SPOOL_HDR_OK = 0,
    WEFT__SPOOL_HDR_SHORT,   /* fewer than 16 bytes: a file cut before its header was whole */
    WEFT__SPOOL_HDR_FOREIGN, /* not the magic: not a weft spool file */
    WEFT__SPOOL_HDR_DAMAGED, /* the magic, but the header's CRC does not match */
    WEFT__SPOOL_HDR_VERSION  /* a version this build does not read */
} weft__spool_header_status;

typedef enum weft__spool_kind { WEFT__SPOOL_SPAN = 1, WEFT__SPOOL_ACK = 2 } weft__spool_kind;

/* One decoded record. */
typedef struct weft__spool_rec {
    weft__spool_kind kind;
    uint64_t seq;          /* span: its number; ack: the first one finished */
    uint64_t count;        /* ack: how many (>= 1; seq + count does not overflow) */
    uint64_t trace, id, parent;
    unsigned flags;        /* WEFT__SPOOL_F_* */
    const char *json;      /* span: borrowed from the bytes decoded */
    size_t json_len;
    size_t frame_off;      /* where the frame starts, relative to the bytes given */
    size_t frame_len;      /* header + payload */
    bool after_damage;     /* the first record after a damaged stretch */
} weft__spool_rec;

/* What reading met besides records (added to by weft__spool_next; zero it before the first
 * call and keep it across the calls of one reading, it carries the reader's state). */
typedef struct weft__spool_damage {
    uint64_t bad_crc;    /* damaged stretches that began with a CRC mismatch */
    uint64_t bad_record; /* frames skipped: CRC fine, payload not a record of this version */
    bool torn;           /* a stretch began with a frame cut short by the end of the bytes */
    bool bad_length;     /* a stretch began with a length no frame can have */
    uint64_t regions;    /* damaged stretches met (each skipped up to the next good record) */
    uint64_t tail;       /* at END: bytes of damage at the end, no frame after them (the file's
                            readable part ends this many bytes before the end) */
    bool in_region_;     /* private: inside a damaged stretch, looking for a frame */
    uint64_t region_bytes_; /* private: bytes of the current stretch already passed */
} weft__spool_damage;

typedef enum weft__spool_next_status {
    WEFT__SPOOL_NEXT_RECORD, /* *out holds a record; *pos is past its frame */
    WEFT__SPOOL_NEXT_MORE,   /* the frame at *pos needs *need bytes from *pos; only when !eof */
    WEFT__SPOOL_NEXT_END     /* nothing more: *pos is the end of the bytes, or of the last whole
                                frame when no damage runs to the end (dmg->tail bytes before) */
} weft__spool_next_status;

/* Writes the 16-byte header into out. */
void weft__spool_header(unsigned char out[WEFT__SPOOL_HEADER_LEN]);
weft__spool_header_status weft__spool_header_check(const void *p, size_t len);

/* Appends one span frame / ack frame to out (b->oom tells a failure; out is then left as it
 * was). json is borrowed. */
void weft__spool_put_span(weft__buf *out, uint64_t seq, uint64_t trace, uint64_t id,
                          uint64_t parent, unsigned flags, const char *json, size_t json_len);
void weft__spool_put_ack(weft__buf *out, uint64_t first, uint64_t count);

/* Decodes one frame's payload (the CRC already checked). False when it is not a record of this
 * version. out->json points into p. */
bool weft__spool_decode(const void *p, size_t len, weft__spool_rec *out);

/*
 * Reads on from p[*pos] (frames only: the caller skips the header) to the next good record,
 * skipping damage (resynchronising after it) and counting it in *dmg. eof: p[len) is the end of
 * the file; when false, a frame (or a candidate frame inside damage) running past len answers
 * MORE so the caller can read further and call again with the bytes from *pos on and the same
 * *dmg. Every call either returns a record (at least 9 bytes past the last), or stops at the
 * end, or asks for more; *pos never moves backwards. The records returned do not depend on
 * how the bytes were windowed.
 */
weft__spool_next_status weft__spool_next(const void *p, size_t len, bool eof, size_t *pos,
                                         weft__spool_rec *out, weft__spool_damage *dmg,
                                         size_t *need);

#endif
