/*
 * spool_index.h — the replay index of the disk spool (spool.h): one small entry per record
 * waiting on disk, across every file of the spool, so that replay can send each record after
 * its parent's wherever the two were written (README "Disk spool" -> "Replay order").
 *
 * A data structure and the choice of what goes next; no I/O (spool.c reads and writes the
 * files, and owns every counter). Export thread only, like the spool.
 *
 * Model: entries live in a pool and are named by their index in it (stable for their
 * lifetime: the pool only grows, freed entries are reused). Each entry is in one state:
 *   PENDING  waiting on disk, listed in its file's queue;
 *   PLACING  picked for the replay batch being built (only inside one weft__spool_ix_pick
 *            and the read that follows it);
 *   TAKEN    in a replay batch the exporter holds (until acknowledged or kept again);
 *   ZOMBIE   finished, but its id is still listed in its file's queue: freed when the queue
 *            is next looked through (a queue never names a freed entry).
 * A hash on (trace, span id) finds the entry of a record's parent; finished (ZOMBIE) entries
 * are out of it.
 *
 * Queues (weft__spool_ixq, one per file, owned by the file): the ids of the file's PENDING
 * entries in record-number (seq) order, which is file order; ids of entries that have left
 * PENDING since are dropped lazily when the queue is looked through (flag IN_Q says an entry
 * is listed).
 *
 * Order (weft__spool_ix_pick): files are looked through oldest first, each queue in order. A
 * record goes when its parent is not in the index (delivered, lost, never spooled) or was
 * picked earlier in the same batch; a parent that is PENDING is picked first, with its own
 * pending ancestors (topmost first; a cycle, which only damage can write, is cut where it is
 * met), and such a chain goes whole or ends the batch (it then leads the next one; only a chain
 * longer than a whole batch is cut, its topmost part first); a record whose parent, or an
 * ancestor's, is TAKEN waits (it goes in a batch built after that one is acknowledged). So a
 * record is never sent before its parent while the parent is waiting in the spool or in flight
 * from it.
 *
 * Memory: 56 bytes per entry in the pool, 4 to 8 in its queue and 8 to 16 in the hash (u32
 * slots, at most half full); arrays grow by doubling, the pool never past max. With max a power
 * of two, a full index takes at most 76 bytes per entry (19 MiB at WEFT__SPOOL_IX_MAX). The
 * spool caps the entries and replays in its older, weaker order above the cap.
 */
#ifndef WEFT_SPOOL_INDEX_H
#define WEFT_SPOOL_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 262,144 entries (at most 19 MiB): a full default spool (256 MiB) of 1 KiB records. */
#define WEFT__SPOOL_IX_MAX (1u << 18)

#define WEFT__IX_NONE UINT32_MAX

enum {
    WEFT__IX_FREE = 0,
    WEFT__IX_PENDING,
    WEFT__IX_PLACING,
    WEFT__IX_TAKEN,
    WEFT__IX_ZOMBIE
};

/* Entry flags: bits 0 and 1 are the record's WEFT__SPOOL_F_* flags. */
#define WEFT__IX_EXACT 4u  /* off is the offset of the record's frame (else: at or before it) */
#define WEFT__IX_IN_Q 8u   /* listed in its file's queue */
#define WEFT__IX_VISIT 16u /* private to weft__spool_ix_pick */

typedef struct weft__spool_ixent {
    uint64_t trace, id, parent; /* parent 0: a root */
    uint64_t seq;               /* the record's number in its file */
    uint64_t off;               /* where reading for it starts (WEFT__IX_EXACT: its frame) */
    uint32_t file;              /* the spool's id of its file */
    uint32_t jlen;              /* bytes of its item (the batch bytes it takes) */
    uint8_t state, flags;
} weft__spool_ixent;

/* One file's pending entries, in seq order (owned by the file; zeroed: empty). */
typedef struct weft__spool_ixq {
    uint32_t *ids;
    size_t n, cap;
} weft__spool_ixq;

typedef struct weft__spool_ix {
    weft__spool_ixent *e; /* the pool; entries [0, n) have been used */
    uint32_t n, cap;
    uint32_t free_head;   /* a list through `parent` of FREE entries; WEFT__IX_NONE: empty */
    uint32_t used;        /* entries not FREE */
    uint32_t live;        /* PENDING, PLACING or TAKEN */
    uint32_t max;         /* most entries `used` may reach */
    uint32_t *slot;       /* hash: entry + 1, 0 empty; linear probing */
    size_t mask;
    uint32_t *path;       /* pick's scratch: an ancestor chain */
    size_t cap_path;
} weft__spool_ix;

/* An empty index that will hold at most max entries. Allocates nothing yet. */
void weft__spool_ix_init(weft__spool_ix *ix, uint32_t max);

/* Frees the pool, the hash and the scratch (not the queues: each file frees its own with
 * weft__spool_ixq_fini) and empties the index (keeping max). */
void weft__spool_ix_fini(weft__spool_ix *ix);

/* Whether n more entries fit under max. */
bool weft__spool_ix_room(const weft__spool_ix *ix, size_t n);

/* Adds an entry copied from *proto (state set to PENDING, IN_Q and VISIT cleared; the caller
 * lists it in its file's queue). WEFT__IX_NONE when over max or out of memory. */
uint32_t weft__spool_ix_add(weft__spool_ix *ix, const weft__spool_ixent *proto);

/* The entry of record seq of file `file`, which carries (trace, id); WEFT__IX_NONE when it is
 * not in the index (finished, or its file was dropped). */
uint32_t weft__spool_ix_find(const weft__spool_ix *ix, uint64_t trace, uint64_t id, uint32_t file,
                             uint64_t seq);

/* Entry x is finished: out of the hash, then freed (a ZOMBIE until its queue forgets it). */
void weft__spool_ix_drop(weft__spool_ix *ix, uint32_t x);

/* Lists ids (n of them, all of one file, PENDING, in ascending seq order) in q, merged into
 * seq order, skipping those already listed. False when memory is short (q is unchanged). */
bool weft__spool_ixq_insert(weft__spool_ix *ix, weft__spool_ixq *q, const uint32_t *ids, size_t n);

/* Empties q: its ZOMBIE entries are freed, the others are no longer listed. */
void weft__spool_ixq_clear(weft__spool_ix *ix, weft__spool_ixq *q);

/* Frees q's array (after weft__spool_ixq_clear when the index still holds its entries). */
void weft__spool_ixq_fini(weft__spool_ixq *q);

/*
 * Picks the next replay batch (see Order above) from the queues qs[0..nq) (oldest file first):
 * at most max_items entries whose jlen + 1 add up to at most max_bytes (the first entry always
 * fits), written to out in sending order and set PLACING (the caller makes each TAKEN, or
 * finishes it with weft__spool_ix_drop, or puts it back: PENDING again, listed again with
 * weft__spool_ixq_insert). Returns how many; 0 when nothing
 * pending may go now. Looks through each queue up to where the batch filled, dropping what is
 * no longer PENDING from it.
 */
size_t weft__spool_ix_pick(weft__spool_ix *ix, weft__spool_ixq *const *qs, size_t nq,
                           size_t max_items, size_t max_bytes, uint32_t *out);

#endif
