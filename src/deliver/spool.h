/*
 * spool.h — the disk spool (docs/spool.md): span records an HTTP exporter's delivery engine
 * (engine.h) has been handed, kept on disk, in the exporter's encoding, until the backend
 * acknowledges them, so spans survive outages longer than the retry
 * window, a full export queue, shutdown with the backend down, and the process being killed.
 *
 * Model: the spool is a directory (mode 0700, owned by the user). Each process writes its own
 * files, named weft-<pid>-<start µs>-<segment>.spool (mode 0600; weft-<encoding>-<pid>-... for
 * an encoding other than SGP JSON, so that exporters sharing the directory never claim each
 * other's files): one file at a time, rolled
 * into a new segment every max_bytes / 8 so the oldest records can be dropped, and fully
 * acknowledged ones deleted, without rewriting anything. Every file a process holds is locked
 * with flock(LOCK_EX) for as long as it holds it; the kernel drops the lock when the process
 * dies, however it dies, which is what marks a file as free to claim. A process claims the
 * files of dead processes at open (and again when the backend recovers), replays what they hold
 * unacknowledged, and deletes them once everything in them is finished.
 *
 * A batch appended gets a weft__spool_ref. Its records are then, each, in one of three states:
 * live (held in memory by the exporter), pending (on disk only, waiting to be replayed:
 * weft__spool_keep) or finished (weft__spool_ack: an ack record is appended). Replay reads
 * pending records back into batches of their own (weft__spool_replay, spool_replay.c) that go
 * through the exporter like any other and end the same way, by ack or keep — each item
 * exactly once: a record whose parent is pending too is sent after it, and waits while the
 * parent is in a replay batch not yet finished (the replay index, spool_index.h).
 *
 * Limits: the spool's files (with those of other live processes in the same directory) never
 * take more than max_bytes; the oldest file is dropped first and its pending completed records
 * are counted in dropped_export. In-progress upserts that a later record supersedes are not
 * written (replaying one after its completed record would turn the span back to in progress).
 *
 * Failures never stop delivery: an unusable directory turns the spool off (logged once, counted
 * in spool_errors); a failed write (full disk, read-only file system, I/O error) is counted,
 * logged once per episode, cut back out of the file, and suspends appends for 10 s, after
 * which a fresh segment is tried.
 *
 * Threading: weft__spool_open runs on the thread calling weft_init, everything else on the
 * export thread; one spool per exporter, no global state. Statistics: spool_written (completed
 * records appended), spool_errors, spool_corrupt_records, spool_bad_files, dropped_export (cap
 * drops); spooled and replayed are the exporter's.
 */
#ifndef WEFT_SPOOL_H
#define WEFT_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "batch.h"

typedef struct weft__spool weft__spool;

/* Where one record of a replay batch lives (a replay batch may hold records of several
 * files). */
typedef struct weft__spool_loc {
    uint64_t seq, off;
    uint32_t file;
} weft__spool_loc;

/* Where a batch's records are. Filled by weft__spool_append / weft__spool_replay; a zeroed ref
 * (file 0) means "not in the spool" and every call below treats it as such. */
typedef struct weft__spool_ref {
    uint32_t file;        /* appended batch: the file's id in this spool; replay batch: the
                             file of its first record; 0: none */
    uint32_t gen;         /* replay batch: the replay index it was taken from (0: none) */
    uint64_t seq0;        /* appended batch: seq of its first written record */
    uint64_t off0;        /* appended batch: offset of its first frame */
    weft__spool_loc *locs; /* replay batch: one per item (owned; weft__spool_ref_fini) */
} weft__spool_ref;

/*
 * Opens the spool in dir (created 0700 when missing; borrowed) with a cap of max_bytes (at
 * least 16 KiB is used), keeping each record's bytes in encoding enc (replay batches hold that
 * encoding only), and starts this process's first file. Claims nothing yet: the files of
 * dead processes are read by weft__spool_rescan, which the exporter runs on the export thread so
 * that weft_init never waits for a large spool to be read. NULL when the spool is off: dir
 * unusable (group/world-writable, not ours, not a directory, a symbolic link, read-only), or
 * out of memory; logged once and counted in spool_errors.
 */
weft__spool *weft__spool_open(const char *dir, uint64_t max_bytes, weft__encoding enc);

/* Closes every file (releasing its lock); files with nothing left to deliver are deleted,
 * the rest stay for a later process. NULL is fine. */
void weft__spool_close(weft__spool *sp);

/*
 * Appends the records of b (borrowed) to the current file and fills *ref. False when nothing
 * was written (spool suspended after an error, over its cap, or no record to keep); *ref is
 * then zeroed and the batch is simply not durable.
 */
bool weft__spool_append(weft__spool *sp, const weft__batch *b, weft__spool_ref *ref);

/* Items [i, j) of b (appended or replayed with ref) are finished: never to be sent again. */
void weft__spool_ack(weft__spool *sp, const weft__spool_ref *ref, const weft__batch *b, size_t i,
                     size_t j);

/*
 * Items [i, j) of b could not be delivered now: they stay on disk, pending replay. Returns how
 * many of their completed records are safely kept (the others, not written or in a file the
 * cap dropped, the caller counts as lost).
 */
size_t weft__spool_keep(weft__spool *sp, const weft__spool_ref *ref, const weft__batch *b, size_t i,
                        size_t j);

/* Frees what the ref owns (replay refs) and zeroes it. */
void weft__spool_ref_fini(weft__spool_ref *ref);

/*
 * The next batch of pending records (at most max_items records and at most max_bytes of the
 * encoding's bytes, counting one separator byte per record; at least one record), with *ref to
 * finish them by; they are live from now on. Order (README "Disk spool" -> "Replay order"):
 * oldest file first, file order within a file, except that a record whose parent is pending
 * too (in any file of the spool) comes after it in the same batch, or waits for a later batch
 * when the parent is in a replay batch not yet finished — so every item of a replay batch
 * must end in exactly one weft__spool_ack or weft__spool_keep. Past the replay index's cap
 * (WEFT__SPOOL_IX_MAX records pending), the weaker order of one file at a time, parents first
 * only within a batch. NULL when nothing is pending, when everything pending waits for a
 * replay batch still held, or when memory is short. The batch is the caller's
 * (weft__batch_free); its items carry trace, id, parent and the in-progress flags only.
 */
weft__batch *weft__spool_replay(weft__spool *sp, size_t max_items, size_t max_bytes,
                                weft__spool_ref *ref);

/* Records pending replay. */
uint64_t weft__spool_pending(const weft__spool *sp);

/* Looks for files of processes that died since the last look and claims them (their records
 * become pending; each file claimed is read through twice), notes the size of live processes'
 * files for the cap, and drops the oldest files if the spool is now over it. One readdir when
 * there is nothing new. */
void weft__spool_rescan(weft__spool *sp);

/* Bytes the spool's files take on disk (its own and claimed ones). */
uint64_t weft__spool_bytes(const weft__spool *sp);

/*
 * Test hook (compiled in always, set only by tests): after `after_bytes` more bytes, every write
 * to a spool file fails with errno `err` (0: back to normal), as a full disk (ENOSPC) or a
 * failing device (EIO) would — the write that crosses the limit is cut short first.
 */
void weft__spool_fail_writes(weft__spool *sp, int err, uint64_t after_bytes);

/* Test hook: the replay index holds at most `records` entries (default WEFT__SPOOL_IX_MAX).
 * Set it before anything is pending. */
void weft__spool_set_index_cap(weft__spool *sp, uint32_t records);

#endif
