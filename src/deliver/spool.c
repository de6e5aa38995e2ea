/*
 * spool.c — the disk spool (see spool.h for the model, spool_format.h for the bytes).
 *
 * Owns (struct weft__spool, one per delivery engine, i.e. per HTTP exporter): the directory's
 * descriptor, every file this process holds (its own segments and the files it claimed from
 * dead processes), each open and flock'ed until it is finished or the spool closes, the write
 * buffer and the read buffer. Reading records back for replay, and their order, is
 * spool_replay.c's (the struct is shared through spool_internal.h); this file hands it what
 * becomes pending (records given up, files claimed) and what leaves (files finished or
 * dropped by the cap).
 *
 * Invariants:
 *   - a file is in `files` exactly while this process holds its lock; another process's file
 *     is never opened for writing without the lock, never changed, never deleted;
 *   - files are kept oldest first (by the start stamp in the name, then pid, then segment), so
 *     the cap and replay both take the head first;
 *   - own span records get numbers (seq) from one counter, in the order written: inside a file
 *     they are consecutive, so a batch's written records are one range [seq0, seq0 + n);
 *   - a file's pending ranges are sorted, disjoint, and each range's `off` is at or before the
 *     frame of its first record: records in a file are in seq order, so reading on from `off`
 *     meets the range's records in order;
 *   - bytes (+ others_bytes, the live files of other processes) never exceeds max_bytes after an
 *     append or an ack: appends drop the oldest files first, acks that do not fit are skipped
 *     (an ack only spares a repeat; upsert makes the repeat harmless);
 *   - a failed write is cut back out of the file (ftruncate to the size before it) so the file
 *     stays a sequence of whole frames; when even that fails the file takes no more writes.
 *   - export thread only (open: the weft_init thread, before the export thread exists).
 */
#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "runtime.h"
#include "spool_format.h"
#include "spool_internal.h"

/* The cap is never taken below this: one span record and its file header must fit. */
#define MIN_CAP (16u << 10)
/* Segments per cap: dropping the oldest frees about 1/8 of the spool, and a finished segment
 * is deleted while at most 1/8 of the cap is held by records already delivered. */
#define SEGMENTS 8u
/* ... but no segment grows past 64 MiB: with a large cap, delivered records would otherwise
 * stay on disk for gigabytes before their segment is deleted. */
#define MAX_SEGMENT (64u << 20)
/* After a failed write, appends wait this long before a fresh segment is tried. */
#define SUSPEND_MS 10000u
#define READ_CHUNK (256u << 10)
/* A temporary segment file (created, not yet renamed) this old has lost its creator. */
#define TMP_STALE_S 60

/* ---- small helpers ------------------------------------------------------------------------- */

uint64_t weft__spool_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static const char *err_text(int err, char *buf, size_t len)
{
    /* GNU strerror_r (the build defines _GNU_SOURCE): returns the text, maybe not in buf. */
    return strerror_r(err, buf, len);
}

bool weft__spool_written(const weft__spool *sp, const weft__batch *b, size_t k)
{
    const weft__batch_item *it = &b->items[k];
    size_t len;
    weft__batch_item_bytes(b, sp->enc, k, &len);
    /* In-progress upserts are superseded by the span's completed record (or by its final_open
     * one); replaying one later would turn a finished span back to in progress. */
    return !(it->in_progress && !it->final_open) && len + 128 <= WEFT__SPOOL_MAX_PAYLOAD;
}

static uint64_t count_written(const weft__spool *sp, const weft__batch *b, size_t i, size_t j)
{
    uint64_t n = 0;
    for (size_t k = i; k < j; k++)
        n += weft__spool_written(sp, b, k);
    return n;
}

static uint64_t count_written_complete(const weft__spool *sp, const weft__batch *b, size_t i, size_t j)
{
    uint64_t n = 0;
    for (size_t k = i; k < j; k++)
        n += weft__spool_written(sp, b, k) && !b->items[k].in_progress;
    return n;
}

/* Writes all of p (a short write is continued); 0 or -errno. Honours the test hook. */
static int write_all(weft__spool *sp, int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        size_t chunk = n;
        if (sp->fail_armed) {
            if (sp->fail_after == 0)
                return -sp->fail_errno;
            if (chunk > sp->fail_after)
                chunk = (size_t)sp->fail_after;
        }
        ssize_t w = write(fd, c, chunk);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        if (sp->fail_armed)
            sp->fail_after -= (uint64_t)w;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A write, create or sync failed: counted, logged once per episode, appends suspended. */
static void io_failed(weft__spool *sp, const char *what, const char *name, int err)
{
    weft__stat_add(spool_errors, 1);
    sp->suspended = true;
    sp->resume_ms = weft__spool_mono_ms() + SUSPEND_MS;
    if (!sp->logged_io) {
        sp->logged_io = true;
        char eb[128];
        weft__log(WEFT_LOG_WARN, "spool: %s %s/%s failed (%s); spans are sent without the spool "
                                 "until a write works again (next try in %u s); counted in "
                                 "spool_errors",
                  what, sp->dir, name, err_text(err, eb, sizeof eb), SUSPEND_MS / 1000u);
    }
}

/*
 * Span records lost to damage, counted while reading: the records after a damaged stretch
 * say so (after_damage), and since a file's span records are numbered consecutively, the gap
 * in numbers across the stretch is exactly how many it took. A stretch before the first span
 * record read or after the last one counts as one (its records have no numbers on both sides:
 * at least one was there); a frame whose CRC matched but that is not a record counts as one.
 */
void weft__spool_loss_see(losscount *lc, const weft__spool_damage *d, const weft__spool_rec *rec)
{
    if (d->regions > lc->regions_seen || rec->after_damage) {
        lc->pending = true;
        lc->regions_seen = d->regions;
    }
    if (rec->kind != WEFT__SPOOL_SPAN)
        return;
    if (lc->pending)
        lc->lost += lc->any ? (rec->seq > lc->last + 1 ? rec->seq - lc->last - 1 : 0) : 1;
    lc->pending = false;
    lc->any = true;
    lc->last = rec->seq;
}

uint64_t weft__spool_loss_end(const losscount *lc, const weft__spool_damage *d)
{
    return lc->lost + (d->regions > lc->regions_seen || lc->pending) + d->bad_record;
}

void weft__spool_note_damage(weft__spool *sp, const char *name, const weft__spool_damage *d, uint64_t lost)
{
    if (lost == 0 && d->regions == 0 && d->bad_record == 0)
        return;
    weft__stat_add(spool_corrupt_records, lost);
    if (!sp->logged_corrupt) {
        sp->logged_corrupt = true;
        weft__log(WEFT_LOG_WARN, "spool: %s/%s is damaged (%llu stretches of damage%s%s%s, %llu "
                                 "unreadable records): %llu span records lost, every intact one "
                                 "is replayed; counted in spool_corrupt_records",
                  sp->dir, name, (unsigned long long)d->regions, d->bad_crc ? ", bad CRC" : "",
                  d->torn ? ", a torn last record" : "", d->bad_length ? ", a bad length" : "",
                  (unsigned long long)d->bad_record, (unsigned long long)lost);
    }
}

/* ---- the file list ------------------------------------------------------------------------- */

static bool older(const sfile *a, const sfile *b)
{
    if (a->stamp != b->stamp)
        return a->stamp < b->stamp;
    if (a->pid != b->pid)
        return a->pid < b->pid;
    return a->seg < b->seg;
}

static void list_insert(weft__spool *sp, sfile *f)
{
    sfile **pp = &sp->files;
    while (*pp && !older(f, *pp))
        pp = &(*pp)->next;
    f->next = *pp;
    *pp = f;
    sp->bytes += f->size;
    sp->pend_records += f->pend_records;
}

sfile *weft__spool_file_find(weft__spool *sp, uint32_t id)
{
    for (sfile *f = sp->files; f; f = f->next)
        if (f->id == id)
            return f;
    return NULL;
}

/* Takes f out of the list, deletes the file when `unlink_it`, closes it (releasing the lock). */
static void remove_file(weft__spool *sp, sfile *f, bool unlink_it)
{
    if (sp->ix_on)
        weft__spool_replay_forget(sp, f);
    weft__spool_ixq_fini(&f->q);
    sfile **pp = &sp->files;
    while (*pp && *pp != f)
        pp = &(*pp)->next;
    if (*pp)
        *pp = f->next;
    if (sp->active == f)
        sp->active = NULL;
    sp->bytes -= f->size;
    sp->pend_records -= f->pend_records;
    /* Unlink while the lock is still held: a process that opened the name meanwhile finds the
     * file gone (nlink 0) once it gets the lock. */
    if (unlink_it && unlinkat(sp->dirfd, f->name, 0) != 0 && errno != ENOENT)
        weft__stat_add(spool_errors, 1);
    if (!unlink_it && f->size > f->synced_size)
        fdatasync(f->fd);
    close(f->fd);
    free(f->pend);
    free(f);
}

/* Deleted once nothing in it is live or pending (the active file waits for its rotation). */
void weft__spool_file_maybe_finish(weft__spool *sp, sfile *f)
{
    if (f != sp->active && f->live == 0 && f->n_pend == 0 && f->pend_records == 0)
        remove_file(sp, f, true);
}

/* The cap: drops f with whatever it still holds for replay. */
static void drop_for_cap(weft__spool *sp, sfile *f)
{
    uint64_t lost = f->pend_complete;
    weft__stat_add(dropped_export, lost);
    if (!sp->logged_cap) {
        sp->logged_cap = true;
        weft__log(WEFT_LOG_WARN, "spool: over its cap of %llu bytes; dropping the oldest file "
                                 "(%llu span records not yet delivered, counted in "
                                 "dropped_export) and more as needed",
                  (unsigned long long)sp->max_bytes, (unsigned long long)lost);
    }
    remove_file(sp, f, true);
}

bool weft__spool_range_add(sfile *f, uint64_t lo, uint64_t hi, uint64_t off, uint64_t complete,
                        uint64_t *total)
{
    if (lo >= hi)
        return true;
    /* Usually appended at the end (give-ups come roughly in order): search from the end. */
    size_t k = f->n_pend;
    while (k > 0 && f->pend[k - 1].lo > lo)
        k--;
    if (k > 0 && f->pend[k - 1].hi == lo) {
        prange *p = &f->pend[k - 1];
        p->hi = hi;
        p->complete += complete;
        if (k < f->n_pend && f->pend[k].lo == hi) {
            p->hi = f->pend[k].hi;
            p->complete += f->pend[k].complete;
            memmove(&f->pend[k], &f->pend[k + 1], (f->n_pend - k - 1) * sizeof(prange));
            f->n_pend--;
        }
    } else if (k < f->n_pend && f->pend[k].lo == hi) {
        prange *p = &f->pend[k];
        p->lo = lo;
        p->off = off < p->off ? off : p->off;
        p->complete += complete;
    } else {
        if (f->n_pend == f->cap_pend) {
            prange *np = weft__grow(f->pend, &f->cap_pend, sizeof *np, 8);
            if (!np)
                return false;
            f->pend = np;
        }
        memmove(&f->pend[k + 1], &f->pend[k], (f->n_pend - k) * sizeof(prange));
        f->pend[k] = (prange){lo, hi, off, complete};
        f->n_pend++;
    }
    f->pend_records += hi - lo;
    f->pend_complete += complete;
    *total += hi - lo;
    return true;
}

/* ---- reading ------------------------------------------------------------------------------- */

void weft__spool_reader_init(weft__spool *sp, reader *r, int fd, uint64_t off)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->buf = sp->rbuf;
    r->cap = sp->rcap;
    r->base = off;
}

void weft__spool_reader_seek(reader *r, uint64_t off)
{
    r->base = off;
    r->len = r->pos = 0;
    r->eof = false;
    r->dmg.in_region_ = false; /* off is a frame boundary */
}

/* 1: a record (*at: its frame's offset in the file), 0: nothing more, -1: read error or no
 * memory for a large record. rec->json stays valid until the next call. */
int weft__spool_reader_next(weft__spool *sp, reader *r, weft__spool_rec *rec, uint64_t *at)
{
    for (;;) {
        size_t need = 0;
        weft__spool_next_status st =
            weft__spool_next(r->buf, r->len, r->eof, &r->pos, rec, &r->dmg, &need);
        if (st == WEFT__SPOOL_NEXT_RECORD) {
            *at = r->base + rec->frame_off;
            return 1;
        }
        if (st == WEFT__SPOOL_NEXT_END) {
            r->end = r->base + r->pos - r->dmg.tail;
            return 0;
        }
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
        r->base += r->pos;
        r->len -= r->pos;
        r->pos = 0;
        if (need > r->cap) {
            size_t cap = need > 2 * r->cap ? need : 2 * r->cap;
            unsigned char *nb = realloc(r->buf, cap);
            if (!nb)
                return -1;
            r->buf = sp->rbuf = nb;
            r->cap = sp->rcap = cap;
        }
        ssize_t n = pread(r->fd, r->buf + r->len, r->cap - r->len, (off_t)(r->base + r->len));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            r->eof = true;
        r->len += (size_t)n;
    }
}

/* ---- claiming the files of dead processes -------------------------------------------------- */

typedef struct acked {
    uint64_t lo, hi;
} acked;

static int cmp_acked(const void *a, const void *b)
{
    const acked *x = a, *y = b;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

/* Sorts and merges; returns the new count. */
static size_t merge_acked(acked *a, size_t n)
{
    if (n == 0)
        return 0;
    qsort(a, n, sizeof *a, cmp_acked);
    size_t m = 0;
    for (size_t k = 1; k < n; k++) {
        if (a[k].lo <= a[m].hi) {
            if (a[k].hi > a[m].hi)
                a[m].hi = a[k].hi;
        } else {
            a[++m] = a[k];
        }
    }
    return m + 1;
}

static bool is_acked(const acked *a, size_t n, uint64_t seq)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a[mid].hi <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && a[lo].lo <= seq;
}

static bool known_bad(const weft__spool *sp, const struct stat *st)
{
    for (size_t k = 0; k < sp->n_bad; k++)
        if (sp->bad[k].dev == st->st_dev && sp->bad[k].ino == st->st_ino)
            return true;
    return false;
}

static void bad_file(weft__spool *sp, const char *name, const struct stat *st, const char *why)
{
    weft__stat_add(spool_bad_files, 1);
    if (sp->n_bad == sp->cap_bad) {
        inode *nb = weft__grow(sp->bad, &sp->cap_bad, sizeof *nb, 4);
        if (nb)
            sp->bad = nb;
    }
    if (sp->n_bad < sp->cap_bad)
        sp->bad[sp->n_bad++] = (inode){st->st_dev, st->st_ino};
    if (!sp->logged_bad_file) {
        sp->logged_bad_file = true;
        weft__log(WEFT_LOG_WARN, "spool: %s/%s %s; left alone; counted in spool_bad_files", sp->dir,
                  name, why);
    }
}

/*
 * f (locked, header checked) holds what a dead process left: two passes, first the acks,
 * then the span records no ack covers, as pending ranges. A torn or unreadable tail is cut off
 * so ack records appended later are readable.
 */
static bool load_claimed(weft__spool *sp, sfile *f)
{
    acked *a = NULL;
    size_t n_a = 0, cap_a = 0;
    reader r;
    weft__spool_rec rec;
    uint64_t at;
    int st;
    weft__spool_reader_init(sp, &r, f->fd, WEFT__SPOOL_HEADER_LEN);
    while ((st = weft__spool_reader_next(sp, &r, &rec, &at)) > 0) {
        if (rec.kind != WEFT__SPOOL_ACK)
            continue;
        if (n_a == cap_a) {
            acked *na = weft__grow(a, &cap_a, sizeof *na, 16);
            if (!na) {
                free(a);
                return false;
            }
            a = na;
        }
        a[n_a++] = (acked){rec.seq, rec.seq + rec.count};
    }
    if (st < 0) {
        free(a);
        return false;
    }
    n_a = merge_acked(a, n_a);
    weft__spool_damage dmg = r.dmg;
    uint64_t end = r.end;
    bool cut = false;
    if (end < f->size) {
        /* Damage runs to the end with no frame after it: cut it so the file stays whole frames
         * (acks appended later are found anyway: reading resynchronises). */
        if (ftruncate(f->fd, (off_t)end) == 0) {
            f->size = end;
            cut = true;
        } else {
            f->writable = false;
        }
    }

    uint64_t last = 0, dummy = 0, disorder = 0;
    bool any = false;
    losscount lc = {0};
    weft__spool_reader_init(sp, &r, f->fd, WEFT__SPOOL_HEADER_LEN);
    while ((st = weft__spool_reader_next(sp, &r, &rec, &at)) > 0) {
        if (rec.kind == WEFT__SPOOL_SPAN && any && rec.seq <= last) {
            disorder++; /* out of order: not written by weft */
            continue;
        }
        weft__spool_loss_see(&lc, &r.dmg, &rec);
        if (rec.kind != WEFT__SPOOL_SPAN)
            continue;
        any = true;
        last = rec.seq;
        if (is_acked(a, n_a, rec.seq))
            continue;
        if (!weft__spool_range_add(f, rec.seq, rec.seq + 1, at, !(rec.flags & WEFT__SPOOL_F_IN_PROGRESS),
                         &dummy)) {
            free(a);
            return false;
        }
    }
    free(a);
    /* The second pass read the file without the tail cut after the first: the stretch cut
     * counts once more (it held at least one record). */
    uint64_t lost = weft__spool_loss_end(&lc, &r.dmg) + (cut ? 1 : 0) + disorder;
    dmg.bad_record += disorder;
    weft__spool_note_damage(sp, f->name, &dmg, lost);
    return st == 0;
}

/* Parses weft-<pid>-<stamp>-<seg>.spool (or, tmp, .weft-<pid>-<stamp>-<seg>.tmp). */
static bool parse_name(const weft__spool *sp, const char *s, long *pid, uint64_t *stamp, uint32_t *seg,
                       bool *tmp)
{
    *tmp = s[0] == '.';
    if (*tmp)
        s++;
    size_t plen = strlen(sp->prefix);
    if (strncmp(s, sp->prefix, plen) != 0)
        return false;
    s += plen;
    uint64_t v[3];
    for (int k = 0; k < 3; k++) {
        if (*s < '0' || *s > '9')
            return false;
        uint64_t x = 0;
        while (*s >= '0' && *s <= '9') {
            if (x > (UINT64_MAX - 9) / 10)
                return false;
            x = x * 10 + (uint64_t)(*s++ - '0');
        }
        v[k] = x;
        if (k < 2 && *s++ != '-')
            return false;
    }
    if (strcmp(s, *tmp ? ".tmp" : ".spool") != 0 || v[0] > 0x7fffffff || v[2] > UINT32_MAX)
        return false;
    *pid = (long)v[0];
    *stamp = v[1];
    *seg = (uint32_t)v[2];
    return true;
}

static bool held_by_us(const weft__spool *sp, const char *name)
{
    for (const sfile *f = sp->files; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            return true;
    return false;
}

/* Tries to take one directory entry: a dead process's file (claimed), a live one's (its size
 * counted in *others), or something to leave alone. */
static void look_at(weft__spool *sp, const char *name, uint64_t *others)
{
    long pid;
    uint64_t stamp;
    uint32_t seg;
    bool tmp;
    if (strlen(name) >= NAME_LEN || !parse_name(sp, name, &pid, &stamp, &seg, &tmp) ||
        held_by_us(sp, name))
        return;
    int fd = openat(sp->dirfd, name, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || known_bad(sp, &st)) {
        close(fd);
        return;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        *others += (uint64_t)st.st_size; /* a live process's: counted, never touched */
        close(fd);
        return;
    }
    if (fstat(fd, &st) != 0 || st.st_nlink == 0) {
        close(fd); /* deleted by its owner while we waited for the lock */
        return;
    }
    if (tmp) {
        /* A segment whose creator died before naming it: holds a header at most. A young one
         * may instead be caught between its creator's open and flock: left for a later look. */
        if (time(NULL) - st.st_mtime > TMP_STALE_S)
            unlinkat(sp->dirfd, name, 0);
        close(fd);
        return;
    }
    unsigned char h[WEFT__SPOOL_HEADER_LEN];
    ssize_t n = pread(fd, h, sizeof h, 0);
    weft__spool_header_status hs = weft__spool_header_check(h, n < 0 ? 0 : (size_t)n);
    if (hs != WEFT__SPOOL_HDR_OK) {
        if (hs == WEFT__SPOOL_HDR_SHORT) {
            /* Cut before its header was whole: a weft name and nothing readable; deleted so it
             * is not counted again by every process. */
            weft__stat_add(spool_bad_files, 1);
            if (!sp->logged_bad_file) {
                sp->logged_bad_file = true;
                weft__log(WEFT_LOG_WARN, "spool: %s/%s is cut short before its header ends; "
                                         "deleted; counted in spool_bad_files",
                          sp->dir, name);
            }
            unlinkat(sp->dirfd, name, 0);
        } else {
            bad_file(sp, name, &st,
                     hs == WEFT__SPOOL_HDR_FOREIGN ? "is not a weft spool file"
                     : hs == WEFT__SPOOL_HDR_VERSION ? "is from another spool format version"
                                                     : "has a damaged header");
        }
        close(fd);
        return;
    }
    sfile *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return;
    }
    f->id = ++sp->next_id;
    f->fd = fd;
    f->writable = true;
    f->pid = pid;
    f->stamp = stamp;
    f->seg = seg;
    snprintf(f->name, sizeof f->name, "%s", name);
    f->size = (uint64_t)st.st_size;
    f->synced_size = f->size;
    if (!load_claimed(sp, f)) {
        char eb[128];
        weft__stat_add(spool_errors, 1);
        weft__log(WEFT_LOG_WARN, "spool: could not read %s/%s (%s); left for a later process",
                  sp->dir, name, err_text(errno, eb, sizeof eb));
        close(fd);
        free(f->pend);
        free(f);
        return;
    }
    list_insert(sp, f);
    if (f->n_pend == 0) {
        remove_file(sp, f, true); /* everything in it was delivered */
        return;
    }
    /* While the replay index is on, what the file holds joins it (or, past its cap, the index
     * falls back to ranges for every file). */
    if (sp->ix_on && !weft__spool_replay_absorb(sp, f))
        weft__spool_replay_fall_back(sp);
    weft__spool_file_maybe_finish(sp, f);
}

/* ---- segments and the cap ------------------------------------------------------------------ */

static sfile *create_segment(weft__spool *sp)
{
    char name[NAME_LEN], tmp[NAME_LEN + 8];
    uint32_t seg = sp->next_seg++;
    snprintf(name, sizeof name, "%s%ld-%llu-%u.spool", sp->prefix, sp->pid,
             (unsigned long long)sp->stamp, seg);
    snprintf(tmp, sizeof tmp, ".%s%ld-%llu-%u.tmp", sp->prefix, sp->pid, (unsigned long long)sp->stamp,
             seg);
    /* Created under a name no scan claims, locked, given its header, then renamed: a file with
     * the final name is always locked by a live owner or whole enough to read. */
    int fd = openat(sp->dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
                    0600);
    if (fd < 0) {
        io_failed(sp, "creating", tmp, errno);
        return NULL;
    }
    unsigned char h[WEFT__SPOOL_HEADER_LEN];
    weft__spool_header(h);
    int rc = flock(fd, LOCK_EX | LOCK_NB) != 0 ? -errno : write_all(sp, fd, h, sizeof h);
    if (rc == 0 && renameat(sp->dirfd, tmp, sp->dirfd, name) != 0)
        rc = -errno;
    if (rc < 0) {
        unlinkat(sp->dirfd, tmp, 0);
        close(fd);
        io_failed(sp, "creating", name, -rc);
        return NULL;
    }
    sfile *f = calloc(1, sizeof *f);
    if (!f) {
        unlinkat(sp->dirfd, name, 0);
        close(fd);
        return NULL;
    }
    f->id = ++sp->next_id;
    f->fd = fd;
    f->own = f->writable = true;
    f->pid = sp->pid;
    f->stamp = sp->stamp;
    f->seg = seg;
    snprintf(f->name, sizeof f->name, "%s", name);
    f->size = sizeof h;
    f->synced_ms = weft__spool_mono_ms();
    list_insert(sp, f);
    return f;
}

/* A new active segment; the old one is deleted if nothing in it is left. */
static bool rotate(weft__spool *sp)
{
    sfile *old = sp->active;
    sp->active = NULL;
    if (old)
        weft__spool_file_maybe_finish(sp, old);
    sp->active = create_segment(sp);
    return sp->active != NULL;
}

/* Drops the oldest files until `need` more bytes fit under the cap (false: they cannot). */
static bool enforce_cap(weft__spool *sp, uint64_t need)
{
    while (sp->bytes + sp->others_bytes + need > sp->max_bytes) {
        sfile *victim = sp->files;
        if (victim == sp->active)
            victim = victim->next;
        if (!victim) {
            /* Only the active file is left and it is too full: start a fresh one, drop it. */
            if (!sp->active || sp->active->size <= WEFT__SPOOL_HEADER_LEN || !rotate(sp))
                return false;
            continue;
        }
        drop_for_cap(sp, victim);
    }
    return true;
}

/* Room for a batch of `need` bytes, unless it could never fit. */
static bool make_room(weft__spool *sp, uint64_t need)
{
    if (need + WEFT__SPOOL_HEADER_LEN + sp->others_bytes > sp->max_bytes) {
        if (!sp->logged_no_room) {
            sp->logged_no_room = true;
            weft__log(WEFT_LOG_WARN, "spool: a batch of %llu bytes does not fit under the cap of "
                                     "%llu bytes (%llu held by other live processes); it is sent "
                                     "without the spool",
                      (unsigned long long)need, (unsigned long long)sp->max_bytes,
                      (unsigned long long)sp->others_bytes);
        }
        return false;
    }
    return enforce_cap(sp, need);
}

/* ---- API ----------------------------------------------------------------------------------- */

weft__spool *weft__spool_open(const char *dir, uint64_t max_bytes, weft__encoding enc)
{
    char eb[128];
    if (!dir || !*dir)
        return NULL;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        weft__stat_add(spool_errors, 1);
        weft__log(WEFT_LOG_ERROR, "spool: cannot create the directory %s (%s); spool off", dir,
                  err_text(errno, eb, sizeof eb));
        return NULL;
    }
    /* O_NOFOLLOW: a symbolic link planted at the spool's name must not redirect it. */
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0) {
        weft__stat_add(spool_errors, 1);
        weft__log(WEFT_LOG_ERROR, "spool: cannot open the directory %s (%s); spool off", dir,
                  err_text(errno, eb, sizeof eb));
        return NULL;
    }
    struct stat st;
    if (fstat(dfd, &st) != 0 || st.st_uid != geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH))) {
        weft__stat_add(spool_errors, 1);
        weft__log(WEFT_LOG_ERROR, "spool: the directory %s is not owned by this user or is "
                                  "writable by others (mode %03o); spool off: spans on disk "
                                  "there could be read or replaced",
                  dir, (unsigned)(st.st_mode & 0777));
        close(dfd);
        return NULL;
    }
    weft__spool *sp = calloc(1, sizeof *sp);
    if (!sp || !(sp->dir = strdup(dir)) || !(sp->rbuf = malloc(READ_CHUNK))) {
        if (sp)
            free(sp->dir);
        free(sp);
        close(dfd);
        weft__log(WEFT_LOG_ERROR, "spool: out of memory; spool off");
        return NULL;
    }
    sp->rcap = READ_CHUNK;
    sp->dirfd = dfd;
    weft__spool_ix_init(&sp->ix, WEFT__SPOOL_IX_MAX);
    weft__buf_init(&sp->ixbuf);
    sp->enc = enc;
    /* The SGP encoding keeps the names of the first spools; another encoding's files carry
     * its name, so that exporters sharing a directory never claim each other's records. */
    if (enc == WEFT__ENC_SGP_JSON)
        snprintf(sp->prefix, sizeof sp->prefix, "weft-");
    else
        snprintf(sp->prefix, sizeof sp->prefix, "weft-%s-", weft__encodings[enc].name);
    sp->max_bytes = max_bytes > MIN_CAP ? max_bytes : MIN_CAP;
    sp->seg_max = sp->max_bytes / SEGMENTS < MAX_SEGMENT ? sp->max_bytes / SEGMENTS : MAX_SEGMENT;
    sp->pid = (long)getpid();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sp->stamp = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    weft__buf_init(&sp->wbuf);
    /* The first segment now: a directory we cannot write to turns the spool off here, once. */
    sp->active = create_segment(sp);
    if (!sp->active) {
        weft__log(WEFT_LOG_ERROR, "spool: cannot write in %s; spool off", dir);
        weft__spool_close(sp);
        return NULL;
    }
    sp->logged_io = false;
    sp->suspended = false;
    return sp;
}

void weft__spool_close(weft__spool *sp)
{
    if (!sp)
        return;
    sp->active = NULL;
    if (sp->ix_on)
        weft__spool_replay_teardown(sp);
    while (sp->files) {
        sfile *f = sp->files;
        /* Anything live or pending is unacknowledged on disk: the next process replays it. */
        remove_file(sp, f, f->live == 0 && f->n_pend == 0 && f->pend_records == 0);
    }
    close(sp->dirfd);
    weft__spool_ix_fini(&sp->ix);
    weft__buf_fini(&sp->ixbuf);
    weft__buf_fini(&sp->wbuf);
    free(sp->rbuf);
    free(sp->bad);
    free(sp->dir);
    free(sp);
}

void weft__spool_rescan(weft__spool *sp)
{
    if (!sp)
        return;
    int fd = dup(sp->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        weft__stat_add(spool_errors, 1);
        return;
    }
    rewinddir(d);
    uint64_t others = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        look_at(sp, e->d_name, &others);
    closedir(d);
    sp->others_bytes = others;
    /* What was claimed may take the spool over its cap: the oldest goes first. */
    enforce_cap(sp, 0);
    weft__spool_replay_settle(sp);
}

bool weft__spool_append(weft__spool *sp, const weft__batch *b, weft__spool_ref *ref)
{
    memset(ref, 0, sizeof *ref);
    if (!sp)
        return false;
    if (sp->suspended) {
        if (weft__spool_mono_ms() < sp->resume_ms)
            return false;
        sp->suspended = false;
        /* A fresh segment: the old one may end where a write could not be cut back. */
        if (!rotate(sp))
            return false;
    }
    weft__buf_reset(&sp->wbuf);
    uint64_t n = 0, complete = 0;
    for (size_t k = 0; k < b->n; k++) {
        if (!weft__spool_written(sp, b, k))
            continue;
        const weft__batch_item *it = &b->items[k];
        size_t len;
        const char *json = weft__batch_item_bytes(b, sp->enc, k, &len);
        unsigned flags = (it->in_progress ? WEFT__SPOOL_F_IN_PROGRESS : 0u) |
                         (it->final_open ? WEFT__SPOOL_F_FINAL_OPEN : 0u);
        weft__spool_put_span(&sp->wbuf, sp->next_seq + n, it->trace, it->id, it->parent, flags,
                             json, len);
        n++;
        complete += !it->in_progress;
    }
    if (n == 0 || sp->wbuf.oom)
        return false;
    uint64_t need = sp->wbuf.len;
    if (!sp->active || (sp->active->size + need > sp->seg_max &&
                        sp->active->size > WEFT__SPOOL_HEADER_LEN)) {
        if (!rotate(sp))
            return false;
        /* Once a segment: the cap counts other processes' files as last seen. */
        weft__spool_rescan(sp);
    }
    if (!make_room(sp, need))
        return false;
    sfile *f = sp->active;
    int rc = write_all(sp, f->fd, sp->wbuf.data, sp->wbuf.len);
    if (rc < 0) {
        /* Cut the partial frames back out; a file that cannot be cut takes nothing more. */
        if (ftruncate(f->fd, (off_t)f->size) != 0)
            f->writable = false;
        io_failed(sp, "writing", f->name, -rc);
        sp->active = NULL;
        weft__spool_file_maybe_finish(sp, f);
        return false;
    }
    ref->file = f->id;
    ref->seq0 = sp->next_seq;
    ref->off0 = f->size;
    f->size += need;
    sp->bytes += need;
    f->live += n;
    sp->next_seq += n;
    weft__stat_add(spool_written, complete);
    weft__spool_replay_settle(sp); /* the cap may have dropped the last indexed records */
    if (sp->logged_io) {
        sp->logged_io = false;
        weft__log(WEFT_LOG_INFO, "spool: writing to %s again", sp->dir);
    }
    return true;
}

/* Appends the buffered ack frames to f when they fit under the cap. */
void weft__spool_write_acks(weft__spool *sp, sfile *f)
{
    if (!f->writable || sp->wbuf.len == 0 || sp->wbuf.oom ||
        sp->bytes + sp->others_bytes + sp->wbuf.len > sp->max_bytes)
        return;
    int rc = write_all(sp, f->fd, sp->wbuf.data, sp->wbuf.len);
    if (rc < 0) {
        if (ftruncate(f->fd, (off_t)f->size) != 0)
            f->writable = false;
        io_failed(sp, "writing to", f->name, -rc);
        return;
    }
    f->size += sp->wbuf.len;
    sp->bytes += sp->wbuf.len;
}

void weft__spool_ack(weft__spool *sp, const weft__spool_ref *ref, const weft__batch *b, size_t i,
                     size_t j)
{
    if (!sp || !ref->file || i >= j)
        return;
    if (ref->locs) {
        weft__spool_replay_ack(sp, ref, b, i, j);
        weft__spool_replay_settle(sp);
        return;
    }
    sfile *f = weft__spool_file_find(sp, ref->file);
    if (!f)
        return; /* dropped by the cap meanwhile */
    weft__buf_reset(&sp->wbuf);
    uint64_t n = count_written(sp, b, i, j);
    if (n == 0)
        return;
    weft__spool_put_ack(&sp->wbuf, ref->seq0 + count_written(sp, b, 0, i), n);
    f->live -= n <= f->live ? n : f->live;
    weft__spool_write_acks(sp, f);
    weft__spool_file_maybe_finish(sp, f);
}

void weft__spool_file_sync_soon(sfile *f)
{
    uint64_t now = weft__spool_mono_ms();
    if (f->size > f->synced_size && now - f->synced_ms >= SYNC_MS) {
        if (fdatasync(f->fd) == 0)
            f->synced_size = f->size;
        else
            weft__stat_add(spool_errors, 1);
        f->synced_ms = now;
    }
}

size_t weft__spool_keep(weft__spool *sp, const weft__spool_ref *ref, const weft__batch *b, size_t i,
                        size_t j)
{
    if (!sp || !ref->file || i >= j)
        return 0;
    if (ref->locs) {
        size_t kept = weft__spool_replay_keep(sp, ref, b, i, j);
        weft__spool_replay_settle(sp);
        return kept;
    }
    sfile *f = weft__spool_file_find(sp, ref->file);
    if (!f)
        return 0;
    uint64_t kept = 0;
    uint64_t n = count_written(sp, b, i, j);
    uint64_t c = count_written_complete(sp, b, i, j);
    uint64_t lo = ref->seq0 + count_written(sp, b, 0, i);
    if (n > 0) {
        /* While the replay index is on, given-up records join it; past its cap every pending
         * record goes back to ranges. */
        if (sp->ix_on && !weft__spool_replay_keep_new(sp, f, ref, b, i, j, lo))
            weft__spool_replay_fall_back(sp);
        if (sp->ix_on)
            kept = c;
        else if (weft__spool_range_add(f, lo, lo + n, ref->off0, c, &sp->pend_records))
            kept = c;
    }
    f->live -= n <= f->live ? n : f->live;
    weft__spool_file_sync_soon(f);
    weft__spool_file_maybe_finish(sp, f);
    return (size_t)kept;
}

void weft__spool_ref_fini(weft__spool_ref *ref)
{
    free(ref->locs);
    memset(ref, 0, sizeof *ref);
}

uint64_t weft__spool_pending(const weft__spool *sp) { return sp ? sp->pend_records : 0; }

uint64_t weft__spool_bytes(const weft__spool *sp) { return sp ? sp->bytes : 0; }

void weft__spool_fail_writes(weft__spool *sp, int err, uint64_t after_bytes)
{
    sp->fail_armed = err != 0;
    sp->fail_errno = err;
    sp->fail_after = after_bytes;
}

void weft__spool_set_index_cap(weft__spool *sp, uint32_t records)
{
    sp->ix.max = records;
}

