/*
 * test_spool_replay.c — the order of replay (src/deliver/spool_replay.c, README "Disk spool" ->
 * "Replay order"): through the spool's own API first (records written the way the assembler
 * writes them, roots after their flush's children; parents in another file, claimed or own; a
 * parent lost to damage; records given up while replay runs; a spool past the index's cap),
 * then end to end through the SGP exporter and the delivery engine against the in-process
 * receiver (an outage, a restart, 413 splits and 422 rejections during replay), where
 * weft_rx_children_before_parent counts every span stored before its parent.
 *
 * Every test works in its own mkdtemp directory under /tmp and removes it; nothing reaches
 * beyond 127.0.0.1. Every test that inits ends with weft_shutdown and a stats check.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "json.h"
#include "log_capture.h"
#include "receiver.h"
#include "runtime.h"
#include "spool.h"
#include "spool_format.h"
#include "weft/weft.h"

#define KEY "test-key"

static void api_setup(void)
{
    memset(&weft__rt.stats, 0, sizeof weft__rt.stats);
    weft__rt.cfg.log = wt_log_capture;
    weft__rt.cfg.log_level = WEFT_LOG_INFO;
    wt_log_reset();
}

/* ---- directories --------------------------------------------------------------------------- */

typedef struct tdir {
    char root[64];
    char spool[96];
} tdir;

static void tdir_make(tdir *d)
{
    snprintf(d->root, sizeof d->root, "/tmp/weft-replay-test-XXXXXX");
    cr_assert(mkdtemp(d->root), "mkdtemp: %s", strerror(errno));
    snprintf(d->spool, sizeof d->spool, "%s/spool", d->root);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void tdir_remove(tdir *d) { nftw(d->root, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

static size_t spool_files(const char *dir)
{
    DIR *dd = opendir(dir);
    size_t n = 0;
    if (!dd)
        return 0;
    struct dirent *e;
    while ((e = readdir(dd)) != NULL) {
        size_t l = strlen(e->d_name);
        n += strncmp(e->d_name, "weft-", 5) == 0 && l > 6 && strcmp(e->d_name + l - 6, ".spool") == 0;
    }
    closedir(dd);
    return n;
}

static weft__spool *open_spool(const char *dir, uint64_t cap)
{
    weft__spool *sp = weft__spool_open(dir, cap, WEFT__ENC_SGP_JSON);
    cr_assert(sp);
    weft__spool_rescan(sp);
    return sp;
}

/* ---- records ------------------------------------------------------------------------------- */

/* Record ids are 1..n; the test keeps each one's parent (0: a root). */
typedef struct rec {
    uint64_t trace, parent;
} rec;

/* Appends the records ids[0..n) (of the table r) as one batch with `pad` bytes of padding
 * each, and gives it up: they are pending. */
static void spool_ids(weft__spool *sp, const rec *r, const uint64_t *ids, size_t n, size_t pad)
{
    weft__batch *b = weft__batch_new(1u << WEFT__ENC_SGP_JSON);
    cr_assert(b);
    char *padding = calloc(1, pad + 1);
    memset(padding, 'x', pad);
    for (size_t q = 0; q < n; q++) {
        uint64_t id = ids[q];
        char json[256 + 4096];
        cr_assert_lt(pad, 4096);
        int len = snprintf(json, sizeof json, "{\"id\":\"%llu\",\"pad\":\"%s\"}",
                           (unsigned long long)id, padding);
        weft__buf_append(&b->enc[WEFT__ENC_SGP_JSON].bytes, json, (size_t)len);
        weft__batch_item it = {.trace = r[id].trace, .id = id, .parent = r[id].parent};
        cr_assert(weft__batch_push(b, &it));
    }
    free(padding);
    weft__spool_ref ref;
    cr_assert(weft__spool_append(sp, b, &ref));
    cr_assert_eq(weft__spool_keep(sp, &ref, b, 0, n), n);
    weft__batch_free(b);
}

/*
 * n_traces traces of a root and two children (root 3t+3, children 3t+1 and 3t+2), written as
 * the assembler writes a flush of `per_flush` traces: every child of the flush, then every
 * root of it, one batch per flush. Fills r (room for 3 * n_traces + 1).
 */
static void spool_flushes(weft__spool *sp, rec *r, size_t n_traces, size_t per_flush, size_t pad)
{
    uint64_t *ids = malloc(3 * per_flush * sizeof *ids);
    for (size_t t0 = 0; t0 < n_traces; t0 += per_flush) {
        size_t nt = n_traces - t0 < per_flush ? n_traces - t0 : per_flush, n = 0;
        for (size_t t = t0; t < t0 + nt; t++) {
            for (uint64_t c = 1; c <= 3; c++)
                r[3 * t + c] = (rec){1000 + t, c == 3 ? 0 : 3 * t + 3};
            ids[n++] = 3 * t + 1;
            ids[n++] = 3 * t + 2;
        }
        for (size_t t = t0; t < t0 + nt; t++)
            ids[n++] = 3 * t + 3;
        spool_ids(sp, r, ids, n, pad);
    }
    free(ids);
}

/*
 * Replays everything, with up to `in_flight` replay batches held at once (the engine holds
 * two), acknowledging the oldest first. Checks that each record is sent once, and only after
 * its parent when the parent was spooled (`spooled`: the ids the test put in the spool and
 * did not lose): acknowledged before the batch was read, or earlier in the same batch.
 * Returns the number of batches.
 */
typedef struct replayer {
    weft__spool *sp;
    size_t total;          /* ids 1..total */
    const rec *r;
    const unsigned char *spooled;
    unsigned char *acked, *sent;
    uint32_t *batch_of, *pos;
    size_t sent_n, batches, early;
} replayer;

static void replayer_init(replayer *p, weft__spool *sp, const rec *r, size_t total,
                          const unsigned char *spooled)
{
    memset(p, 0, sizeof *p);
    p->sp = sp;
    p->r = r;
    p->total = total;
    p->spooled = spooled;
    p->acked = calloc(total + 1, 1);
    p->sent = calloc(total + 1, 1);
    p->batch_of = calloc(total + 1, sizeof *p->batch_of);
    p->pos = calloc(total + 1, sizeof *p->pos);
}

static void replayer_fini(replayer *p)
{
    free(p->acked);
    free(p->sent);
    free(p->batch_of);
    free(p->pos);
}

/* Checks one batch as it leaves. */
static void check_batch(replayer *p, const weft__batch *b)
{
    p->batches++;
    for (size_t k = 0; k < b->n; k++) {
        const weft__batch_item *it = &b->items[k];
        cr_assert(it->id >= 1 && it->id <= p->total, "id %llu", (unsigned long long)it->id);
        cr_expect_eq(p->sent[it->id], 0, "record %llu sent twice", (unsigned long long)it->id);
        cr_expect_eq(it->parent, p->r[it->id].parent);
        uint64_t par = it->parent;
        if (par && p->spooled[par]) {
            bool ok = p->acked[par] ||
                      (p->sent[par] && p->batch_of[par] == p->batches && p->pos[par] < k);
            if (!ok)
                p->early++;
        }
        p->sent[it->id] = 1;
        p->batch_of[it->id] = (uint32_t)p->batches;
        p->pos[it->id] = (uint32_t)k;
        char want[32];
        size_t len;
        const char *bytes = weft__batch_item_bytes(b, WEFT__ENC_SGP_JSON, k, &len);
        snprintf(want, sizeof want, "{\"id\":\"%llu\"", (unsigned long long)it->id);
        cr_expect(len > strlen(want) && memcmp(bytes, want, strlen(want)) == 0,
                  "item %zu carries another record's bytes", k);
    }
    p->sent_n += b->n;
}

static void ack_batch(replayer *p, weft__batch *b, weft__spool_ref *ref)
{
    for (size_t k = 0; k < b->n; k++)
        p->acked[b->items[k].id] = 1;
    weft__spool_ack(p->sp, ref, b, 0, b->n);
    weft__spool_ref_fini(ref);
    weft__batch_free(b);
}

static size_t replay_all(replayer *p, size_t max_items, size_t in_flight)
{
    weft__batch *held[4];
    weft__spool_ref refs[4];
    size_t nh = 0;
    cr_assert_leq(in_flight, 4);
    for (;;) {
        while (nh < in_flight) {
            weft__batch *b = weft__spool_replay(p->sp, max_items, 64u << 20, &refs[nh]);
            if (!b)
                break;
            cr_assert_leq(b->n, max_items);
            check_batch(p, b);
            held[nh++] = b;
        }
        if (nh == 0)
            break;
        ack_batch(p, held[0], &refs[0]);
        memmove(held, held + 1, (nh - 1) * sizeof *held);
        memmove(refs, refs + 1, (nh - 1) * sizeof *refs);
        nh--;
        cr_assert_leq(p->batches, 2 * p->total + 2, "replay does not make progress");
    }
    return p->batches;
}

static unsigned char *all_spooled(size_t total)
{
    unsigned char *s = malloc(total + 1);
    memset(s, 1, total + 1);
    return s;
}

/* ---- through the spool's API ------------------------------------------------------------- */

Test(spool_replay, sends_every_record_after_its_parent_when_roots_follow_their_flush)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    const size_t traces = 1000, total = 3 * traces;
    rec *r = calloc(total + 1, sizeof *r);
    unsigned char *spooled = all_spooled(total);
    /* Replayed 1000, 7 and 2 at a time, one and two batches in flight. */
    const size_t sizes[][2] = {{1000, 1}, {1000, 2}, {7, 2}, {2, 2}};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        weft__spool *sp = open_spool(d.spool, 64u << 20);
        spool_flushes(sp, r, traces, 100, 0);
        replayer p;
        replayer_init(&p, sp, r, total, spooled);
        replay_all(&p, sizes[s][0], sizes[s][1]);
        cr_expect_eq(p.early, 0, "%zu records sent before their parent (batches of %zu, %zu held)",
                     p.early, sizes[s][0], sizes[s][1]);
        cr_expect_eq(p.sent_n, total, "%zu of %zu replayed", p.sent_n, total);
        cr_expect_eq(weft__spool_pending(sp), 0);
        if (sizes[s][0] == 1000)
            cr_expect_leq(p.batches, 6, "%zu batches of 1000 for 3000 records", p.batches);
        replayer_fini(&p);
        weft__spool_close(sp);
        cr_expect_eq(spool_files(d.spool), 0);
    }
    cr_expect_eq(weft__rt.stats.dropped_export + weft__rt.stats.spool_corrupt_records, 0);
    free(r);
    free(spooled);
    tdir_remove(&d);
}

Test(spool_replay, sends_a_parent_from_a_newer_segment_before_its_children)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    /* A 64 KiB cap: segments of 8 KiB, so each batch of ~5 KiB below starts a new file. */
    weft__spool *sp = open_spool(d.spool, 64u << 10);
    rec r[61] = {{0, 0}};
    uint64_t kids[40], roots[20];
    for (uint64_t t = 0; t < 20; t++) {
        r[3 * t + 1] = (rec){t, 3 * t + 3};
        r[3 * t + 2] = (rec){t, 3 * t + 3};
        r[3 * t + 3] = (rec){t, 0};
        kids[2 * t] = 3 * t + 1;
        kids[2 * t + 1] = 3 * t + 2;
        roots[t] = 3 * t + 3;
    }
    spool_ids(sp, r, kids, 20, 200);
    spool_ids(sp, r, kids + 20, 20, 200);
    spool_ids(sp, r, roots, 20, 200);
    cr_assert_geq(spool_files(d.spool), 3, "the records were meant to span several files");
    unsigned char *spooled = all_spooled(60);
    replayer p;
    replayer_init(&p, sp, r, 60, spooled);
    replay_all(&p, 1000, 2);
    cr_expect_eq(p.early, 0);
    cr_expect_eq(p.sent_n, 60);
    replayer_fini(&p);
    weft__spool_close(sp);
    cr_expect_eq(spool_files(d.spool), 0);
    cr_expect_eq(weft__rt.stats.dropped_export, 0);
    free(spooled);
    tdir_remove(&d);
}

Test(spool_replay, sends_a_parent_of_this_process_before_children_a_dead_one_left)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    rec r[31] = {{0, 0}};
    uint64_t kids[20], roots[10];
    for (uint64_t t = 0; t < 10; t++) {
        r[3 * t + 1] = (rec){t, 3 * t + 3};
        r[3 * t + 2] = (rec){t, 3 * t + 3};
        r[3 * t + 3] = (rec){t, 0};
        kids[2 * t] = 3 * t + 1;
        kids[2 * t + 1] = 3 * t + 2;
        roots[t] = 3 * t + 3;
    }
    /* A process spools the children and stops; the next claims its file, then spools the
     * roots in its own (a trace continued across processes). */
    weft__spool *dead = open_spool(d.spool, 1u << 20);
    spool_ids(dead, r, kids, 20, 0);
    weft__spool_close(dead);
    cr_assert_eq(spool_files(d.spool), 1);
    weft__spool *sp = open_spool(d.spool, 1u << 20);
    cr_expect_eq(weft__spool_pending(sp), 20);
    spool_ids(sp, r, roots, 10, 0);
    unsigned char *spooled = all_spooled(30);
    replayer p;
    replayer_init(&p, sp, r, 30, spooled);
    replay_all(&p, 4, 2);
    cr_expect_eq(p.early, 0);
    cr_expect_eq(p.sent_n, 30);
    replayer_fini(&p);
    weft__spool_close(sp);
    cr_expect_eq(spool_files(d.spool), 0);
    free(spooled);
    tdir_remove(&d);
}

/* The offset of the frame of record k (0-based) of a file holding span frames only. */
static size_t frame_offset(const unsigned char *p, size_t len, size_t k)
{
    size_t pos = WEFT__SPOOL_HEADER_LEN;
    for (size_t i = 0; i < k; i++) {
        cr_assert_leq(pos + 8, len);
        uint32_t plen = (uint32_t)p[pos] | (uint32_t)p[pos + 1] << 8 | (uint32_t)p[pos + 2] << 16 |
                        (uint32_t)p[pos + 3] << 24;
        pos += 8 + plen;
    }
    return pos;
}

Test(spool_replay, delivers_the_children_of_a_parent_lost_to_damage)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    rec r[31] = {{0, 0}};
    weft__spool *dead = open_spool(d.spool, 1u << 20);
    spool_flushes(dead, r, 10, 10, 20); /* 20 children, then 10 roots: one batch */
    weft__spool_close(dead);
    DIR *dd = opendir(d.spool);
    char path[256] = "";
    struct dirent *e;
    while ((e = readdir(dd)) != NULL)
        if (strncmp(e->d_name, "weft-", 5) == 0)
            snprintf(path, sizeof path, "%.100s/%.100s", d.spool, e->d_name);
    closedir(dd);
    FILE *f = fopen(path, "r+b");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    size_t len = (size_t)ftell(f);
    unsigned char *buf = malloc(len);
    fseek(f, 0, SEEK_SET);
    cr_assert_eq(fread(buf, 1, len, f), len);
    /* Record 24 is the root of trace 4 (ids 13, 14 -> 15): one bit of its payload. */
    size_t at = frame_offset(buf, len, 24);
    buf[at + 8 + 10] ^= 0x40;
    fseek(f, 0, SEEK_SET);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    fclose(f);
    free(buf);
    memset(&weft__rt.stats, 0, sizeof weft__rt.stats);

    weft__spool *sp = open_spool(d.spool, 1u << 20);
    cr_expect_eq(weft__spool_pending(sp), 29);
    unsigned char *spooled = all_spooled(30);
    spooled[15] = 0; /* lost: its children have nothing to wait for */
    replayer p;
    replayer_init(&p, sp, r, 30, spooled);
    replay_all(&p, 1000, 2);
    cr_expect_eq(p.early, 0);
    cr_expect_eq(p.sent_n, 29);
    cr_expect(p.sent[13] && p.sent[14], "the children of the lost root were not delivered");
    cr_expect_not(p.sent[15]);
    replayer_fini(&p);
    cr_expect_eq(weft__rt.stats.spool_corrupt_records, 1);
    weft__spool_close(sp);
    cr_expect_eq(spool_files(d.spool), 0);
    free(spooled);
    tdir_remove(&d);
}

Test(spool_replay, a_parent_given_up_while_replay_runs_goes_before_its_waiting_children)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    weft__spool *sp = open_spool(d.spool, 1u << 20);
    /* ids 1..5: roots of their own traces; 6 and 7: children of 8 (trace 9), which is still
     * in a live batch being retried when replay starts. */
    rec r[9] = {{0, 0}, {1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 0}, {9, 8}, {9, 8}, {9, 0}};
    uint64_t first[] = {1, 2, 3, 4, 5, 6, 7};
    spool_ids(sp, r, first, 7, 0);
    weft__spool_ref r1;
    weft__batch *b1 = weft__spool_replay(sp, 5, 64u << 20, &r1);
    cr_assert(b1);
    cr_assert_eq(b1->n, 5);
    /* The parent is given up now, into the file being written, while b1 is out. */
    uint64_t late[] = {8};
    spool_ids(sp, r, late, 1, 0);
    weft__spool_ref r2;
    weft__batch *b2 = weft__spool_replay(sp, 5, 64u << 20, &r2);
    cr_assert(b2);
    cr_assert_eq(b2->n, 3);
    cr_expect_eq(b2->items[0].id, 8, "the parent given up last goes first");
    weft__spool_ack(sp, &r1, b1, 0, b1->n);
    weft__spool_ref_fini(&r1);
    weft__batch_free(b1);

    /* Now the other way: the parent in flight, a child given up meanwhile waits for it. */
    uint64_t root[] = {5};
    weft__spool_ack(sp, &r2, b2, 0, b2->n);
    weft__spool_ref_fini(&r2);
    weft__batch_free(b2);
    r[5] = (rec){5, 0};
    spool_ids(sp, r, root, 1, 0);
    b1 = weft__spool_replay(sp, 5, 64u << 20, &r1);
    cr_assert(b1);
    cr_assert_eq(b1->n, 1);
    rec r3[9];
    memcpy(r3, r, sizeof r3);
    r3[6] = (rec){5, 5};
    uint64_t kid[] = {6};
    spool_ids(sp, r3, kid, 1, 0);
    cr_expect_null(weft__spool_replay(sp, 5, 64u << 20, &r2), "a child went while its parent was in flight");
    cr_expect_eq(weft__spool_pending(sp), 1);
    /* The parent's request fails: both go again, parent first. */
    cr_expect_eq(weft__spool_keep(sp, &r1, b1, 0, b1->n), 1);
    weft__spool_ref_fini(&r1);
    weft__batch_free(b1);
    b2 = weft__spool_replay(sp, 5, 64u << 20, &r2);
    cr_assert(b2);
    cr_assert_eq(b2->n, 2);
    cr_expect_eq(b2->items[0].id, 5);
    cr_expect_eq(b2->items[1].id, 6);
    weft__spool_ack(sp, &r2, b2, 0, b2->n);
    weft__spool_ref_fini(&r2);
    weft__batch_free(b2);
    cr_expect_eq(weft__spool_pending(sp), 0);
    weft__spool_close(sp);
    cr_expect_eq(spool_files(d.spool), 0);
    cr_expect_eq(weft__rt.stats.dropped_export, 0);
    tdir_remove(&d);
}

Test(spool_replay, past_the_index_cap_falls_back_to_parents_first_within_each_batch)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    weft__spool *sp = open_spool(d.spool, 64u << 20);
    weft__spool_set_index_cap(sp, 100);
    const size_t total = 3000;
    rec *r = calloc(total + 1, sizeof *r);
    spool_flushes(sp, r, 1000, 100, 0);
    unsigned char *spooled = all_spooled(total);
    replayer p;
    replayer_init(&p, sp, r, total, spooled);
    /* The weaker order: one file at a time, a parent before its children when both are in the
     * batch (checked here); a root a whole flush after its children is not held for. */
    weft__spool_ref ref;
    weft__batch *b;
    size_t in_batch_parent_after = 0;
    while ((b = weft__spool_replay(sp, 150, 64u << 20, &ref)) != NULL) {
        for (size_t k = 0; k < b->n; k++)
            for (size_t q = k + 1; q < b->n; q++)
                in_batch_parent_after += b->items[q].id == b->items[k].parent;
        check_batch(&p, b);
        ack_batch(&p, b, &ref);
    }
    cr_expect_eq(in_batch_parent_after, 0);
    cr_expect_eq(p.sent_n, total, "%zu of %zu replayed", p.sent_n, total);
    cr_expect_gt(p.early, 0, "the fallback order is the weaker one, yet no child went early");
    cr_expect_eq(wt_log_count("more than the replay index holds"), 1);
    replayer_fini(&p);
    /* Drained: a backlog under half the cap again gets the full order. */
    memset(r, 0, (total + 1) * sizeof *r);
    spool_flushes(sp, r, 15, 5, 0);
    replayer_init(&p, sp, r, 45, spooled);
    replay_all(&p, 7, 2);
    cr_expect_eq(p.early, 0);
    cr_expect_eq(p.sent_n, 45);
    replayer_fini(&p);
    cr_expect_eq(weft__rt.stats.dropped_export + weft__rt.stats.spool_corrupt_records, 0);
    weft__spool_close(sp);
    cr_expect_eq(spool_files(d.spool), 0);
    free(r);
    free(spooled);
    tdir_remove(&d);
}

Test(spool_replay, the_cap_dropping_a_file_with_records_in_flight_loses_only_those)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    const uint64_t cap = 64u << 10; /* segments of 8 KiB: about 24 records of 300 bytes */
    weft__spool *sp = open_spool(d.spool, cap);
    const size_t batches = 200, total = 4 * batches;
    rec *r = calloc(total + 1, sizeof *r);
    /* Each batch one trace: three children, then their root. */
    for (size_t k = 0; k < batches; k++)
        for (uint64_t c = 1; c <= 4; c++)
            r[4 * k + c] = (rec){k, c == 4 ? 0 : 4 * k + 4};
    uint64_t ids[4];
    for (size_t k = 0; k < 10; k++) {
        for (uint64_t c = 0; c < 4; c++)
            ids[c] = 4 * k + c + 1;
        spool_ids(sp, r, ids, 4, 240);
    }
    /* One replay batch out (from the oldest file), then the spool overflows while it is. */
    weft__spool_ref out_ref;
    weft__batch *out = weft__spool_replay(sp, 8, 64u << 20, &out_ref);
    cr_assert(out);
    cr_assert_eq(out->n, 8);
    for (size_t k = 10; k < batches; k++) {
        for (uint64_t c = 0; c < 4; c++)
            ids[c] = 4 * k + c + 1;
        spool_ids(sp, r, ids, 4, 240);
        cr_assert_leq(weft__spool_bytes(sp), cap);
    }
    uint64_t dropped = weft__rt.stats.dropped_export;
    cr_expect_gt(dropped, 0, "the cap dropped nothing");
    size_t kept = weft__spool_keep(sp, &out_ref, out, 0, out->n);
    cr_expect_eq(kept, 0, "records of a dropped file came back");
    weft__spool_ref_fini(&out_ref);
    weft__batch_free(out);
    unsigned char *spooled = all_spooled(total);
    replayer p;
    replayer_init(&p, sp, r, total, spooled);
    replay_all(&p, 1000, 2);
    cr_expect_eq(p.early, 0);
    /* Each record is replayed, dropped by the cap (counted), or was in the batch lost with
     * its file (counted by whoever held it: 8 here). */
    cr_expect_eq(p.sent_n + weft__rt.stats.dropped_export + 8, total, "sent %zu, dropped %llu",
                 p.sent_n, (unsigned long long)weft__rt.stats.dropped_export);
    cr_expect(p.sent[total], "the newest trace is kept");
    replayer_fini(&p);
    weft__spool_close(sp);
    cr_expect_eq(spool_files(d.spool), 0);
    free(r);
    free(spooled);
    tdir_remove(&d);
}

/* ---- end to end: the SGP exporter, the engine, the receiver ------------------------------- */

static weft_config e2e_cfg(const char *url, const char *spool_dir)
{
    weft_config c = {0};
    c.exporters = "sgp";
    c.sgp_base_url = url;
    c.sgp_api_key = KEY;
    c.flush_interval_ms = 20;
    c.no_atexit = true;
    c.log = wt_log_capture;
    c.log_level = WEFT_LOG_INFO;
    c.inprogress_after_ms = WEFT_INPROGRESS_NEVER;
    c.retry_window_ms = 1000;
    c.ring_bytes = 16u << 20;
    c.spool_dir = spool_dir;
    return c;
}

static weft_stats stats(void)
{
    weft_stats s;
    weft_get_stats(&s);
    return s;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define WAIT_UNTIL(cond, seconds)                                                              \
    ({                                                                                         \
        double until_ = now_s() + (seconds);                                                   \
        bool ok_;                                                                              \
        while (!(ok_ = (cond)) && now_s() < until_)                                            \
            usleep(20 * 1000);                                                                 \
        ok_;                                                                                   \
    })

#define TRACES 1000

/* TRACES traces of a root and two children, each child ended before its root (so the
 * assembler writes a flush's roots after its children). The roots' handles go to roots. */
static void make_traces(weft_span *roots)
{
    char name[64];
    for (int t = 0; t < TRACES; t++) {
        snprintf(name, sizeof name, "t%d", t);
        weft_span root = weft_span_begin(name, WEFT_TYPE_AGENT_WORKFLOW);
        for (int c = 0; c < 2; c++) {
            snprintf(name, sizeof name, "t%d-c%d", t, c);
            weft_span kid = weft_span_begin_child(root, name, WEFT_TYPE_COMPLETION);
            weft_span_set_i64(kid, WEFT_METADATA, "i", t);
            weft_span_end(kid);
        }
        weft_span_end(root);
        if (roots)
            roots[t] = root;
        if (t % 100 == 99)
            usleep(1000);
    }
}

static weft_rx *rx_start(void)
{
    weft_rx_opts o = {.api_key = KEY};
    weft_rx *rx = weft_rx_start(&o);
    cr_assert(rx, "receiver did not start");
    return rx;
}

/* Spools 3000 spans in 1000 traces during an outage; the receiver is still down after. */
static void spool_during_outage(weft_rx *rx, const char *spool_dir, weft_span *roots)
{
    weft_config c = e2e_cfg(weft_rx_url(rx), spool_dir);
    cr_assert_eq(weft_init(&c), 0);
    weft_rx_set_outage(rx, true);
    weft_rx_set_retry_after_ms(rx, 100);
    make_traces(roots);
    cr_assert(WAIT_UNTIL(stats().spooled == 3 * TRACES, 60), "spooled %llu of %d",
              (unsigned long long)stats().spooled, 3 * TRACES);
    cr_expect_eq(weft_rx_count(rx), 0);
}

/* After the replay: everything stored, nothing left anywhere. */
static void check_replayed(weft_rx *rx, const tdir *d, size_t rejected)
{
    cr_expect(WAIT_UNTIL(weft_rx_completed(rx) == 3 * TRACES - rejected, 90), "%zu of %zu arrived",
              weft_rx_completed(rx), 3 * TRACES - rejected);
    cr_expect(WAIT_UNTIL(stats().queued == 0, 20));
    int rc = weft_shutdown(5000);
    cr_expect_eq(rc, rejected ? WEFT_EEXPORT : 0, "shutdown returned %d", rc);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.replayed, 3 * TRACES - rejected);
    cr_expect_eq(s.rejected, rejected);
    cr_expect_eq(s.dropped_export, rejected);
    cr_expect_eq(s.dropped_queue, 0);
    cr_expect_eq(s.spool_corrupt_records + s.spool_errors, 0);
    cr_expect_eq(s.queued, 0);
    cr_expect_eq(spool_files(d->spool), 0, "delivered records were left on disk");
}

Test(spool_replay_e2e, an_outage_replays_every_child_after_its_parent, .timeout = 180)
{
    wt_log_reset();
    tdir d;
    tdir_make(&d);
    weft_rx *rx = rx_start();
    spool_during_outage(rx, d.spool, NULL);
    weft_rx_set_outage(rx, false);
    check_replayed(rx, &d, 0);
    cr_expect_eq(stats().spooled, 3 * TRACES);
    cr_expect_eq(stats().exported, 0, "every span was given up first, then replayed");
    cr_expect_eq(weft_rx_children_before_parent(rx), 0, "%zu of %d spans reached the server "
                 "before their parent", weft_rx_children_before_parent(rx), 2 * TRACES);
    weft_rx_stop(rx);
    tdir_remove(&d);
}

Test(spool_replay_e2e, a_restart_replays_every_child_after_its_parent, .timeout = 180)
{
    wt_log_reset();
    tdir d;
    tdir_make(&d);
    weft_rx *rx = rx_start();
    spool_during_outage(rx, d.spool, NULL);
    int rc = weft_shutdown(1000);
    cr_expect(rc == 0 || rc == WEFT_ETIMEDOUT, "shutdown returned %d", rc);
    weft_rx_set_outage(rx, false);
    /* The next process claims the file and replays it. */
    weft_config c = e2e_cfg(weft_rx_url(rx), d.spool);
    cr_assert_eq(weft_init(&c), 0);
    check_replayed(rx, &d, 0);
    cr_expect_eq(weft_rx_children_before_parent(rx), 0, "%zu of %d spans reached the server "
                 "before their parent", weft_rx_children_before_parent(rx), 2 * TRACES);
    weft_rx_stop(rx);
    tdir_remove(&d);
}

Test(spool_replay_e2e, replay_batches_split_by_413_still_send_parents_first, .timeout = 180)
{
    wt_log_reset();
    tdir d;
    tdir_make(&d);
    weft_rx *rx = rx_start();
    spool_during_outage(rx, d.spool, NULL);
    weft_rx_set_max_body(rx, 24 * 1024); /* a replay batch of 1000 is about 300 KB */
    weft_rx_set_outage(rx, false);
    check_replayed(rx, &d, 0);
    cr_expect_geq(weft_rx_status_count(rx, 413), 1, "no replay batch was split");
    cr_expect_eq(weft_rx_children_before_parent(rx), 0, "%zu of %d spans reached the server "
                 "before their parent", weft_rx_children_before_parent(rx), 2 * TRACES);
    weft_rx_stop(rx);
    tdir_remove(&d);
}

/* The UUID the receiver knows span sp by. */
static void span_uuid(weft_span sp, char out[40])
{
    weft__buf b;
    weft__buf_init(&b);
    weft__json_uuid(&b, sp.id, weft__rt.salt_hi);
    cr_assert_eq(b.len, 38);
    memcpy(out, b.data + 1, 36);
    out[36] = '\0';
    weft__buf_fini(&b);
}

Test(spool_replay_e2e, a_root_rejected_in_replay_does_not_hold_its_children_back, .timeout = 180)
{
    wt_log_reset();
    tdir d;
    tdir_make(&d);
    weft_rx *rx = rx_start();
    static weft_span roots[TRACES];
    spool_during_outage(rx, d.spool, roots);
    weft_rx_set_list_rejections(rx, true);
    char id[40];
    for (int t = 0; t < TRACES; t += 100) {
        span_uuid(roots[t], id);
        weft_rx_poison(rx, id);
    }
    weft_rx_set_outage(rx, false);
    check_replayed(rx, &d, TRACES / 100);
    /* The children of the 10 refused roots are stored without them, after the refusal; every
     * other span after its parent. */
    cr_expect_eq(weft_rx_children_before_parent(rx), 2 * (TRACES / 100));
    weft_rx_stop(rx);
    tdir_remove(&d);
}
