/*
 * spool.c — the disk spool (see spool.h for the model, spool_format.h for the bytes).
 *
 * Owns (struct weft__spool, one per delivery engine, i.e. per HTTP exporter): the directory's
 * descriptor, every file this process holds (its own segments and the files it claimed from
 * dead processes), each open and flock'ed until it is finished or the spool closes, the write
 * buffer and the read buffer.
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

#include "runtime.h"
#include "spool_format.h"

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
/* fdatasync at most this often per file: records given up are safe from the process dying as
 * soon as write() returns; this bounds what a machine crash can take. */
#define SYNC_MS 1000u
#define READ_CHUNK (256u << 10)
/* A temporary segment file (created, not yet renamed) this old has lost its creator. */
#define TMP_STALE_S 60
#define NAME_LEN 96

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
    prange *pend;
    size_t n_pend, cap_pend;
    uint64_t pend_records, pend_complete;
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
    /* Test hook (weft__spool_fail_writes). */
    bool fail_armed;
    int fail_errno;
    uint64_t fail_after;
};

/* ---- small helpers ------------------------------------------------------------------------- */

static uint64_t mono_ms(void)
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

static bool written(const weft__spool *sp, const weft__batch *b, size_t k)
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
        n += written(sp, b, k);
    return n;
}

static uint64_t count_written_complete(const weft__spool *sp, const weft__batch *b, size_t i, size_t j)
{
    uint64_t n = 0;
    for (size_t k = i; k < j; k++)
        n += written(sp, b, k) && !b->items[k].in_progress;
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
    sp->resume_ms = mono_ms() + SUSPEND_MS;
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
typedef struct losscount {
    uint64_t regions_seen, last, lost;
    bool any, pending;
} losscount;

static void loss_see(losscount *lc, const weft__spool_damage *d, const weft__spool_rec *rec)
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

static uint64_t loss_end(const losscount *lc, const weft__spool_damage *d)
{
    return lc->lost + (d->regions > lc->regions_seen || lc->pending) + d->bad_record;
}

static void note_damage(weft__spool *sp, const char *name, const weft__spool_damage *d, uint64_t lost)
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

static sfile *find(weft__spool *sp, uint32_t id)
{
    for (sfile *f = sp->files; f; f = f->next)
        if (f->id == id)
            return f;
    return NULL;
}

/* Takes f out of the list, deletes the file when `unlink_it`, closes it (releasing the lock). */
static void remove_file(weft__spool *sp, sfile *f, bool unlink_it)
{
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
static void maybe_finish(weft__spool *sp, sfile *f)
{
    if (f != sp->active && f->live == 0 && f->n_pend == 0)
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

static bool add_pending(sfile *f, uint64_t lo, uint64_t hi, uint64_t off, uint64_t complete,
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
            size_t cap = f->cap_pend ? f->cap_pend * 2 : 8;
            prange *np = realloc(f->pend, cap * sizeof *np);
            if (!np)
                return false;
            f->pend = np;
            f->cap_pend = cap;
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

static void reader_init(weft__spool *sp, reader *r, int fd, uint64_t off)
{
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->buf = sp->rbuf;
    r->cap = sp->rcap;
    r->base = off;
}

static void reader_seek(reader *r, uint64_t off)
{
    r->base = off;
    r->len = r->pos = 0;
    r->eof = false;
    r->dmg.in_region_ = false; /* off is a frame boundary */
}

/* 1: a record (*at: its frame's offset in the file), 0: nothing more, -1: read error or no
 * memory for a large record. rec->json stays valid until the next call. */
static int reader_next(weft__spool *sp, reader *r, weft__spool_rec *rec, uint64_t *at)
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
        size_t cap = sp->cap_bad ? sp->cap_bad * 2 : 4;
        inode *nb = realloc(sp->bad, cap * sizeof *nb);
        if (nb) {
            sp->bad = nb;
            sp->cap_bad = cap;
        }
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
    reader_init(sp, &r, f->fd, WEFT__SPOOL_HEADER_LEN);
    while ((st = reader_next(sp, &r, &rec, &at)) > 0) {
        if (rec.kind != WEFT__SPOOL_ACK)
            continue;
        if (n_a == cap_a) {
            size_t cap = cap_a ? cap_a * 2 : 16;
            acked *na = realloc(a, cap * sizeof *na);
            if (!na) {
                free(a);
                return false;
            }
            a = na;
            cap_a = cap;
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
    reader_init(sp, &r, f->fd, WEFT__SPOOL_HEADER_LEN);
    while ((st = reader_next(sp, &r, &rec, &at)) > 0) {
        if (rec.kind == WEFT__SPOOL_SPAN && any && rec.seq <= last) {
            disorder++; /* out of order: not written by weft */
            continue;
        }
        loss_see(&lc, &r.dmg, &rec);
        if (rec.kind != WEFT__SPOOL_SPAN)
            continue;
        any = true;
        last = rec.seq;
        if (is_acked(a, n_a, rec.seq))
            continue;
        if (!add_pending(f, rec.seq, rec.seq + 1, at, !(rec.flags & WEFT__SPOOL_F_IN_PROGRESS),
                         &dummy)) {
            free(a);
            return false;
        }
    }
    free(a);
    /* The second pass read the file without the tail cut after the first: the stretch cut
     * counts once more (it held at least one record). */
    uint64_t lost = loss_end(&lc, &r.dmg) + (cut ? 1 : 0) + disorder;
    dmg.bad_record += disorder;
    note_damage(sp, f->name, &dmg, lost);
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
    if (f->n_pend == 0)
        remove_file(sp, f, true); /* everything in it was delivered */
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
    f->synced_ms = mono_ms();
    list_insert(sp, f);
    return f;
}

/* A new active segment; the old one is deleted if nothing in it is left. */
static bool rotate(weft__spool *sp)
{
    sfile *old = sp->active;
    sp->active = NULL;
    if (old)
        maybe_finish(sp, old);
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
    while (sp->files) {
        sfile *f = sp->files;
        /* Anything live or pending is unacknowledged on disk: the next process replays it. */
        remove_file(sp, f, f->live == 0 && f->n_pend == 0);
    }
    close(sp->dirfd);
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
}

bool weft__spool_append(weft__spool *sp, const weft__batch *b, weft__spool_ref *ref)
{
    memset(ref, 0, sizeof *ref);
    if (!sp)
        return false;
    if (sp->suspended) {
        if (mono_ms() < sp->resume_ms)
            return false;
        sp->suspended = false;
        /* A fresh segment: the old one may end where a write could not be cut back. */
        if (!rotate(sp))
            return false;
    }
    weft__buf_reset(&sp->wbuf);
    uint64_t n = 0, complete = 0;
    for (size_t k = 0; k < b->n; k++) {
        if (!written(sp, b, k))
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
        maybe_finish(sp, f);
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
    if (sp->logged_io) {
        sp->logged_io = false;
        weft__log(WEFT_LOG_INFO, "spool: writing to %s again", sp->dir);
    }
    return true;
}

/* Appends the buffered ack frames to f when they fit under the cap. */
static void write_acks(weft__spool *sp, sfile *f)
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
    sfile *f = find(sp, ref->file);
    if (!f)
        return; /* dropped by the cap meanwhile */
    weft__buf_reset(&sp->wbuf);
    uint64_t n;
    if (ref->locs) {
        /* Replayed records: one ack per run of consecutive numbers. */
        n = j - i;
        uint64_t lo = ref->locs[i].seq, cnt = 1;
        for (size_t k = i + 1; k < j; k++) {
            if (ref->locs[k].seq == lo + cnt) {
                cnt++;
                continue;
            }
            weft__spool_put_ack(&sp->wbuf, lo, cnt);
            lo = ref->locs[k].seq;
            cnt = 1;
        }
        weft__spool_put_ack(&sp->wbuf, lo, cnt);
    } else {
        n = count_written(sp, b, i, j);
        if (n == 0)
            return;
        weft__spool_put_ack(&sp->wbuf, ref->seq0 + count_written(sp, b, 0, i), n);
    }
    f->live -= n <= f->live ? n : f->live;
    write_acks(sp, f);
    maybe_finish(sp, f);
}

size_t weft__spool_keep(weft__spool *sp, const weft__spool_ref *ref, const weft__batch *b, size_t i,
                        size_t j)
{
    if (!sp || !ref->file || i >= j)
        return 0;
    sfile *f = find(sp, ref->file);
    if (!f)
        return 0;
    uint64_t n = 0, kept = 0;
    if (ref->locs) {
        for (size_t k = i; k < j; k++) {
            uint64_t c = !b->items[k].in_progress;
            if (!add_pending(f, ref->locs[k].seq, ref->locs[k].seq + 1, ref->locs[k].off, c,
                             &sp->pend_records))
                break;
            n++;
            kept += c;
        }
        /* Records that could not be listed (no memory) stay unacknowledged on disk: the next
         * process replays them; this one counts them lost. */
        n = j - i;
    } else {
        n = count_written(sp, b, i, j);
        uint64_t c = count_written_complete(sp, b, i, j);
        uint64_t lo = ref->seq0 + count_written(sp, b, 0, i);
        if (n > 0 && add_pending(f, lo, lo + n, ref->off0, c, &sp->pend_records))
            kept = c;
    }
    f->live -= n <= f->live ? n : f->live;
    uint64_t now = mono_ms();
    if (f->size > f->synced_size && now - f->synced_ms >= SYNC_MS) {
        if (fdatasync(f->fd) == 0)
            f->synced_size = f->size;
        else
            weft__stat_add(spool_errors, 1);
        f->synced_ms = now;
    }
    maybe_finish(sp, f);
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

/* Forgets the pending ranges [0, k) of f after a replay pass; whatever of them was not taken
 * is gone from the file (damaged or cut), its completed records counted lost. */
static void drop_ranges(weft__spool *sp, sfile *f, size_t k)
{
    uint64_t lost = 0;
    for (size_t q = 0; q < k; q++) {
        f->pend_records -= f->pend[q].hi - f->pend[q].lo;
        sp->pend_records -= f->pend[q].hi - f->pend[q].lo;
        f->pend_complete -= f->pend[q].complete;
        lost += f->pend[q].complete;
    }
    memmove(f->pend, f->pend + k, (f->n_pend - k) * sizeof(prange));
    f->n_pend -= k;
    if (lost > 0) {
        weft__stat_add(dropped_export, lost);
        if (!sp->logged_lost) {
            sp->logged_lost = true;
            weft__log(WEFT_LOG_WARN, "spool: %llu span records could not be read back from %s/%s; "
                                     "counted in dropped_export",
                      (unsigned long long)lost, sp->dir, f->name);
        }
    }
}

/* One replay pass over f; records taken go into b and locs. */
static void replay_file(weft__spool *sp, sfile *f, weft__batch *b, weft__spool_loc *locs,
                        size_t max_items, size_t max_bytes)
{
    reader r;
    weft__spool_rec rec;
    uint64_t at;
    size_t k = 0; /* current range */
    losscount lc = {0}, before_rec;
    bool at_end = false;
    reader_init(sp, &r, f->fd, f->pend[0].off);
    for (;;) {
        int st = reader_next(sp, &r, &rec, &at);
        if (st < 0) {
            weft__stat_add(spool_errors, 1);
            k = f->n_pend; /* unreadable now: what is pending here is lost to this process */
            break;
        }
        if (st == 0) {
            k = f->n_pend;
            at_end = true;
            break;
        }
        before_rec = lc;
        loss_see(&lc, &r.dmg, &rec);
        if (rec.kind != WEFT__SPOOL_SPAN)
            continue;
        bool seeked = false;
        while (k < f->n_pend && rec.seq >= f->pend[k].hi) {
            k++;
            if (k < f->n_pend && f->pend[k].off > at) {
                reader_seek(&r, f->pend[k].off);
                lc.any = false; /* a jump over finished records, not damage */
                seeked = true;
                break;
            }
        }
        if (k == f->n_pend)
            break;
        if (seeked || rec.seq < f->pend[k].lo)
            continue;
        prange *p = &f->pend[k];
        if (b->n > 0 && (b->n >= max_items || b->enc[sp->enc].bytes.len + rec.json_len + 1 > max_bytes)) {
            lc = before_rec; /* the next pass reads this record, and what precedes it, again */
            break; /* full: p still starts at or before this record */
        }
        size_t before = b->enc[sp->enc].bytes.len;
        weft__buf_append(&b->enc[sp->enc].bytes, rec.json, rec.json_len);
        bool complete = !(rec.flags & WEFT__SPOOL_F_IN_PROGRESS);
        weft__batch_item it = {.trace = rec.trace,
                               .id = rec.id,
                               .parent = rec.parent,
                               .in_progress = (rec.flags & WEFT__SPOOL_F_IN_PROGRESS) != 0,
                               .final_open = (rec.flags & WEFT__SPOOL_F_FINAL_OPEN) != 0};
        if (b->enc[sp->enc].bytes.oom || !weft__batch_push(b, &it)) {
            b->enc[sp->enc].bytes.len = before;
            b->enc[sp->enc].bytes.oom = false;
            break;
        }
        locs[b->n - 1] = (weft__spool_loc){rec.seq, at};
        uint64_t skipped = rec.seq + 1 - p->lo;
        f->pend_records -= skipped;
        sp->pend_records -= skipped;
        /* Numbers skipped over inside the range were missing from the file: their completed
         * count stays in p->complete until the range closes, then counts as lost. */
        p->lo = rec.seq + 1;
        p->off = at + rec.frame_len;
        if (complete && p->complete > 0) {
            p->complete--;
            f->pend_complete--;
        }
        f->live++;
        if (p->lo >= p->hi) {
            if (p->complete == 0)
                k++; /* consumed whole */
        }
    }
    if (f->own)
        note_damage(sp, f->name, &r.dmg, at_end ? loss_end(&lc, &r.dmg) : lc.lost);
    /* Ranges before k are finished (taken or found missing); p->lo == p->hi ranges too. */
    drop_ranges(sp, f, k);
    while (f->n_pend > 0 && f->pend[0].lo >= f->pend[0].hi)
        drop_ranges(sp, f, 1);
}

/* ---- replay order (README "Disk spool" -> "What is guaranteed") ------------------------------
 * A replay batch is read in file order, where a parent's record usually comes after its
 * children's (a span ends after its children). Two steps put parents first:
 *   - when the batch was cut by its limits (more is pending in the file after it), every trace
 *     whose records in the batch all lie in its second half is held back whole: those records
 *     go back to pending and are the first the next pass reads, together with the rest of their
 *     trace that follows them. The first half is always sent, so every pass makes progress and
 *     reads each record at most about twice;
 *   - the records sent are put in a stable parents-first order: a record whose parent's record
 *     is in the batch goes right after it (ancestor chains are followed; a cycle, which only
 *     damage could make, is broken where it is met). */

#define NONE SIZE_MAX

typedef struct ord {
    size_t *slot;  /* hash of (trace, id) -> index + 1; 0: empty */
    size_t mask;
    size_t *par;   /* index of the parent's record in the batch, NONE when not in it */
    size_t *top;   /* the record's topmost ancestor in the batch (itself when par is NONE) */
    size_t *order; /* indexes in sending order */
    unsigned char *state; /* 0: not placed, 1: being placed, 2: placed, 3: held */
} ord;

static size_t hash_id(uint64_t trace, uint64_t id)
{
    uint64_t h = (id ^ (trace * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
    return (size_t)(h ^ (h >> 31));
}

static size_t ord_find(const ord *o, const weft__batch *b, uint64_t trace, uint64_t id)
{
    for (size_t h = hash_id(trace, id) & o->mask;; h = (h + 1) & o->mask) {
        size_t v = o->slot[h];
        if (v == 0)
            return NONE;
        if (b->items[v - 1].id == id && b->items[v - 1].trace == trace)
            return v - 1;
    }
}

/* Places k after its ancestors in the batch (iteratively: chains can be long). */
static void ord_place(ord *o, size_t k, size_t *n_out)
{
    while (o->state[k] == 0) {
        /* Climb to the highest ancestor not yet placed. */
        size_t x = k;
        o->state[x] = 1;
        while (o->par[x] != NONE && o->state[o->par[x]] == 0) {
            x = o->par[x];
            o->state[x] = 1;
        }
        o->state[x] = 2;
        o->order[(*n_out)++] = x;
        /* Unmark the chain below x for the next climb. */
        for (size_t y = k; y != x; y = o->par[y])
            o->state[y] = 0;
    }
}

/* Holds back what the rule above says and reorders the rest; b and locs are changed in place
 * (b is rebuilt). On a shortage of memory the batch is left as read. */
static weft__batch *parents_first(weft__spool *sp, sfile *f, weft__batch *b, weft__spool_loc *locs,
                                  bool cut)
{
    size_t n = b->n;
    if (n < 2)
        return b;
    size_t cap = 4;
    while (cap < 2 * n)
        cap *= 2;
    ord o = {calloc(cap, sizeof(size_t)), cap - 1, malloc(n * sizeof(size_t)),
             malloc(n * sizeof(size_t)), malloc(n * sizeof(size_t)), calloc(n, 1)};
    weft__batch *nb = NULL;
    weft__spool_loc *nl = malloc(n * sizeof *nl);
    if (!o.slot || !o.par || !o.top || !o.order || !o.state || !nl)
        goto out;
    for (size_t k = 0; k < n; k++) {
        size_t h = hash_id(b->items[k].trace, b->items[k].id) & o.mask;
        while (o.slot[h] != 0)
            h = (h + 1) & o.mask;
        o.slot[h] = k + 1;
    }
    bool any_parent = false;
    for (size_t k = 0; k < n; k++) {
        const weft__batch_item *it = &b->items[k];
        o.par[k] = it->parent ? ord_find(&o, b, it->trace, it->parent) : NONE;
        if (o.par[k] == k)
            o.par[k] = NONE;
        any_parent |= o.par[k] != NONE;
    }
    size_t held = 0;
    if (cut) {
        /* Per trace: its first record in the batch (the hash, no longer needed for ids, is
         * keyed by trace alone now). */
        for (size_t k = 0; k < n; k++)
            o.top[k] = NONE;
        memset(o.slot, 0, cap * sizeof(size_t));
        for (size_t k = 0; k < n; k++) {
            uint64_t t = b->items[k].trace;
            size_t h = hash_id(t, 0) & o.mask;
            while (o.slot[h] != 0 && b->items[o.slot[h] - 1].trace != t)
                h = (h + 1) & o.mask;
            if (o.slot[h] == 0)
                o.slot[h] = k + 1;
            o.top[k] = o.slot[h] - 1; /* the trace's first record in the batch */
        }
        for (size_t k = 0; k < n; k++) {
            if (o.top[k] >= n / 2) {
                o.state[k] = 3;
                held++;
            }
        }
    }
    if (held == 0 && !any_parent)
        goto out;
    size_t m = 0;
    for (size_t k = 0; k < n; k++) {
        if (o.state[k] == 3)
            continue;
        /* A trace is held whole, so a parent of a record sent is sent; kept safe anyway. */
        if (o.par[k] != NONE && o.state[o.par[k]] == 3)
            o.par[k] = NONE;
    }
    for (size_t k = 0; k < n; k++)
        if (o.state[k] != 3)
            ord_place(&o, k, &m);
    nb = weft__batch_new(1u << sp->enc);
    if (!nb)
        goto out;
    for (size_t q = 0; q < m; q++) {
        size_t k = o.order[q], len;
        const char *bytes = weft__batch_item_bytes(b, sp->enc, k, &len);
        weft__buf_append(&nb->enc[sp->enc].bytes, bytes, len);
        if (nb->enc[sp->enc].bytes.oom || !weft__batch_push(nb, &b->items[k])) {
            weft__batch_free(nb);
            goto out; /* sent as read: nothing held back */
        }
        nl[q] = locs[k];
    }
    /* Held records go back to pending, lowest first (as weft__spool_keep does; one that cannot
     * be listed for lack of memory stays unacknowledged on disk for the next process). */
    for (size_t k = 0; k < n; k++) {
        if (o.state[k] != 3)
            continue;
        uint64_t c = !b->items[k].in_progress;
        (void)add_pending(f, locs[k].seq, locs[k].seq + 1, locs[k].off, c, &sp->pend_records);
        f->live--;
    }
    memcpy(locs, nl, m * sizeof *nl);
    weft__batch_free(b);
    b = nb;
out:
    free(o.slot);
    free(o.par);
    free(o.top);
    free(o.order);
    free(o.state);
    free(nl);
    return b;
}

weft__batch *weft__spool_replay(weft__spool *sp, size_t max_items, size_t max_bytes,
                                weft__spool_ref *ref)
{
    memset(ref, 0, sizeof *ref);
    if (!sp || max_items == 0)
        return NULL;
    for (sfile *f = sp->files; f;) {
        sfile *nx = f->next;
        if (f->n_pend == 0) {
            f = nx;
            continue;
        }
        weft__batch *b = weft__batch_new(1u << sp->enc);
        size_t cap = max_items < f->pend_records ? max_items : (size_t)f->pend_records;
        weft__spool_loc *locs = malloc((cap ? cap : 1) * sizeof *locs);
        if (!b || !locs) {
            weft__batch_free(b);
            free(locs);
            return NULL;
        }
        replay_file(sp, f, b, locs, cap ? cap : 1, max_bytes);
        if (b->n > 0)
            b = parents_first(sp, f, b, locs, f->n_pend > 0);
        if (b->n > 0) {
            ref->file = f->id;
            ref->locs = locs;
            return b;
        }
        weft__batch_free(b);
        free(locs);
        maybe_finish(sp, f);
        f = nx;
    }
    return NULL;
}
