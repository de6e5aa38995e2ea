/*
 * spool_internal.h — what spool.c (files, appends, acks, claims, the cap) and spool_replay.c
 * (reading pending records back, and in what order) share: the spool's struct, its files, the
 * buffered reader and the damage count. Private to those two files; the type names are short
 * because nothing else includes this header.
 *
 * Pointers: every function borrows what it is given; `sp` owns its files, a file owns its
 * ranges and its queue. Export thread only (see spool.h).
 */
#ifndef WEFT_SPOOL_INTERNAL_H
#define WEFT_SPOOL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "spool.h"
#include "spool_format.h"
#include "spool_index.h"

#define NAME_LEN 96
/* fdatasync at most this often per file: records given up are safe from the process dying as
 * soon as write() returns; this bounds what a machine crash can take. */
#define SYNC_MS 1000u

typedef struct prange {
    uint64_t lo, hi;  /* pending seqs [lo, hi) */
    uint64_t off;     /* the frame of lo is at or after this offset */
    uint64_t complete; /* completed span records among them */
} prange;

typedef struct sfile {
    struct sfile *next;
    uint32_t id;
    int fd;
    bool own;       /* written by this process; else claimed from a dead one */
    bool writable;  /* takes ack records (false after a write it could not cut back) */
    long pid;
    uint64_t stamp;
    uint32_t seg;
    char name[NAME_LEN];
    uint64_t size;  /* bytes in the file */
    uint64_t synced_size, synced_ms;
    uint64_t live;  /* records in memory (appended or replayed), not finished */
    prange *pend;   /* pending records while the replay index is off */
    size_t n_pend, cap_pend;
    uint64_t pend_records, pend_complete; /* pending (in ranges or in the index) */
    weft__spool_ixq q; /* pending records while the replay index is on */
} sfile;

typedef struct reader {
    int fd;
    unsigned char *buf;
    size_t cap, len, pos;
    uint64_t base;  /* file offset of buf[0] */
    uint64_t end;   /* END: where the readable part stops */
    bool eof;
    weft__spool_damage dmg;
} reader;

typedef struct inode {
    dev_t dev;
    ino_t ino;
} inode;

struct weft__spool {
    weft__encoding enc; /* the bytes a record keeps (the exporter's encoding) */
    char prefix[24];    /* file names start with it: "weft-", or "weft-<encoding>-" */
    int dirfd;
    char *dir;
    uint64_t max_bytes, seg_max;
    long pid;
    uint64_t stamp;
    uint32_t next_id, next_seg;
    uint64_t next_seq;
    sfile *files;   /* oldest first */
    sfile *active;  /* appends go here; NULL: none yet, or retired after an error */
    uint64_t bytes; /* sum of size over files */
    uint64_t others_bytes;
    uint64_t pend_records;
    weft__buf wbuf;
    unsigned char *rbuf;
    size_t rcap;
    bool suspended;
    uint64_t resume_ms;
    /* Log-once state: io is cleared when a write works again (one line per episode). */
    bool logged_io, logged_cap, logged_no_room, logged_corrupt, logged_bad_file, logged_lost;
    inode *bad;     /* files found not to be readable spool files: counted once */
    size_t n_bad, cap_bad;
    /* The replay index (spool_index.h). On: every pending record of every file is an entry
     * (no file has ranges); off: pending records are ranges. Built when replay starts with at
     * most its cap pending (half of it after a fall back) and no replay batch of the ranges
     * out; torn down once it holds nothing; falls back to ranges when it would pass its cap. */
    weft__spool_ix ix;
    bool ix_on, ix_fell_back, logged_ix;
    uint32_t ix_gen;        /* builds so far: replay refs taken from the index carry it */
    uint64_t replay_out;    /* records in replay batches not yet acked or kept */
    weft__buf ixbuf;        /* the items of a replay batch as read, in file order */
    /* Test hook (weft__spool_fail_writes). */
    bool fail_armed;
    int fail_errno;
    uint64_t fail_after;
};

/* Span records lost to damage, counted while reading (weft__spool_loss_see). */
typedef struct losscount {
    uint64_t regions_seen, last, lost;
    bool any, pending;
} losscount;

/* ---- spool.c ------------------------------------------------------------------------------- */

uint64_t weft__spool_mono_ms(void);

/* The file with this id, or NULL (finished, or dropped by the cap). */
sfile *weft__spool_file_find(weft__spool *sp, uint32_t id);

/* Deletes f once nothing in it is live or pending (the active file waits for its rotation). */
void weft__spool_file_maybe_finish(weft__spool *sp, sfile *f);

/* fdatasync of f when it grew since the last and SYNC_MS have passed (records just became
 * undeliverable: on disk, they should survive a machine crash too). */
void weft__spool_file_sync_soon(sfile *f);

/* Adds seqs [lo, hi) of f (the frame of lo at or after off; `complete` of them completed) to
 * its pending ranges, and hi - lo to *total. False when memory is short. */
bool weft__spool_range_add(sfile *f, uint64_t lo, uint64_t hi, uint64_t off, uint64_t complete,
                           uint64_t *total);

/* A reader of fd from offset off, through the spool's read buffer (one reader at a time). */
void weft__spool_reader_init(weft__spool *sp, reader *r, int fd, uint64_t off);
/* Reading goes on at off, a frame boundary. */
void weft__spool_reader_seek(reader *r, uint64_t off);
/* 1: a record (*at: its frame's offset in the file), 0: nothing more, -1: read error or no
 * memory for a large record. rec->json stays valid until the next call. */
int weft__spool_reader_next(weft__spool *sp, reader *r, weft__spool_rec *rec, uint64_t *at);

void weft__spool_loss_see(losscount *lc, const weft__spool_damage *d, const weft__spool_rec *rec);
uint64_t weft__spool_loss_end(const losscount *lc, const weft__spool_damage *d);
/* Counts `lost` in spool_corrupt_records and logs the damage of file `name` (once a run). */
void weft__spool_note_damage(weft__spool *sp, const char *name, const weft__spool_damage *d,
                             uint64_t lost);

/* Appends the ack frames buffered in sp->wbuf to f when they fit under the cap. */
void weft__spool_write_acks(weft__spool *sp, sfile *f);

/* ---- spool_replay.c ------------------------------------------------------------------------ */

/* The index forgets f, which is leaving the spool (finished, or dropped by the cap with what
 * it still holds). Only while the index is on. */
void weft__spool_replay_forget(weft__spool *sp, sfile *f);

/* Moves f's pending ranges into the index (reading them: damage found counts as in replay).
 * False, with nothing changed, when they do not fit under its cap or memory is short. */
bool weft__spool_replay_absorb(weft__spool *sp, sfile *f);

/* Turns the index off: its pending entries become ranges again (replay continues in the
 * weaker order until fewer records wait; logged once). */
void weft__spool_replay_fall_back(weft__spool *sp);

/* Frees the index (its counters stay with the files) and turns it off. */
void weft__spool_replay_teardown(weft__spool *sp);

/* Tears the index down once it holds nothing. Every public spool call that can empty it ends
 * with this. */
void weft__spool_replay_settle(weft__spool *sp);

/* Items [i, j) of appended batch b (ref), written as seqs [lo, lo + n) of f, are given up:
 * they join the index (false, with nothing changed, when they do not fit or memory is short). */
bool weft__spool_replay_keep_new(weft__spool *sp, sfile *f, const weft__spool_ref *ref,
                                 const weft__batch *b, size_t i, size_t j, uint64_t lo);

/* weft__spool_ack / weft__spool_keep of items [i, j) of a replay batch (ref->locs set). */
void weft__spool_replay_ack(weft__spool *sp, const weft__spool_ref *ref, const weft__batch *b,
                            size_t i, size_t j);
size_t weft__spool_replay_keep(weft__spool *sp, const weft__spool_ref *ref, const weft__batch *b,
                               size_t i, size_t j);

/* Whether item k of b is written to the spool (spool.c). */
bool weft__spool_written(const weft__spool *sp, const weft__batch *b, size_t k);

#endif
