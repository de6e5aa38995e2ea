/*
 * test_spool.c — the disk spool (src/spool.c, src/spool_format.c) through its own API, then end
 * to end through the SGP exporter against the in-process receiver (tests/support/receiver.h).
 *
 * The API tests drive a spool the way the exporter does (append, ack, keep, replay) and check
 * what is on disk: order, reopening, the cap, and each kind of damage (torn last record, bad
 * CRC, zero-filled tail, foreign / cut / other-version files, full disk, read-only and unsafe
 * directories). Full disks and read-only file systems are real ones — a 64 KiB tmpfs mounted in
 * a private mount namespace of the test's own process — when the test may mount; otherwise the
 * spool's write-failure hook (or RLIMIT_FSIZE) stands in and the test says so in its log.
 *
 * The end-to-end tests check what docs/spool.md promises: an outage longer than the retry
 * window loses nothing; shutdown with the receiver down keeps the spans for the next weft_init;
 * a producer killed with SIGKILL loses nothing it had handed to the export thread; a queue over
 * its limit spills to disk; a full disk or read-only directory only turns the spool off. Every
 * test works in its own mkdtemp directory under /tmp and removes it; nothing reaches beyond
 * 127.0.0.1. Every test that inits ends with weft_shutdown and a stats check.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "crc32.h"
#include "log_capture.h"
#include "receiver.h"
#include "runtime.h"
#include "spool.h"
#include "spool_format.h"
#include "weft/weft.h"

#define KEY "test-key"


/* The API tests run the spool without weft_init: its log lines and counters go through the
 * runtime struct, so point them here. */
static void api_setup(void)
{
    memset(&weft__rt.stats, 0, sizeof weft__rt.stats);
    weft__rt.cfg.log = wt_log_capture;
    weft__rt.cfg.log_level = WEFT_LOG_INFO;
}

/* ---- directories --------------------------------------------------------------------------- */

typedef struct tdir {
    char root[64];  /* mkdtemp */
    char spool[96]; /* root/spool: created by the spool itself */
    bool mounted;   /* a tmpfs is mounted on spool (private namespace) */
} tdir;

static void tdir_make(tdir *d)
{
    snprintf(d->root, sizeof d->root, "/tmp/weft-spool-test-XXXXXX");
    cr_assert(mkdtemp(d->root), "mkdtemp: %s", strerror(errno));
    snprintf(d->spool, sizeof d->spool, "%s/spool", d->root);
    d->mounted = false;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void tdir_remove(tdir *d)
{
    if (d->mounted) {
        umount2(d->spool, MNT_DETACH);
        d->mounted = false;
    }
    nftw(d->root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Mounts a tmpfs of `bytes` on d->spool (read-only when ro) inside a mount namespace of this
 * test process only, so nothing is visible outside it and it vanishes with the process. False
 * when this process may not (not privileged, or already threaded: unshare(CLONE_NEWNS) needs a
 * single-threaded caller).
 */
static bool tdir_mount_tmpfs(tdir *d, size_t bytes, bool ro)
{
    mkdir(d->spool, 0700);
    if (unshare(CLONE_NEWNS) != 0)
        return false;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return false;
    char opts[64];
    snprintf(opts, sizeof opts, "size=%zu,mode=0700", bytes);
    if (mount("tmpfs", d->spool, "tmpfs", ro ? MS_RDONLY : 0, opts) != 0)
        return false;
    d->mounted = true;
    return true;
}

/* Spool files (weft-*.spool) in dir, and their total size. */
static size_t spool_files(const char *dir, uint64_t *bytes)
{
    DIR *dd = opendir(dir);
    size_t n = 0;
    if (bytes)
        *bytes = 0;
    if (!dd)
        return 0;
    struct dirent *e;
    while ((e = readdir(dd)) != NULL) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, "weft-", 5) != 0 || l < 6 || strcmp(e->d_name + l - 6, ".spool") != 0)
            continue;
        n++;
        if (bytes) {
            char p[512];
            struct stat st;
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            if (stat(p, &st) == 0)
                *bytes += (uint64_t)st.st_size;
        }
    }
    closedir(dd);
    return n;
}

/* The path of the only spool file in dir (asserted). */
static void only_file(const char *dir, char *out, size_t outlen)
{
    DIR *dd = opendir(dir);
    cr_assert(dd);
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(dd)) != NULL) {
        if (strncmp(e->d_name, "weft-", 5) != 0)
            continue;
        cr_assert_lt((size_t)snprintf(out, outlen, "%.100s/%.100s", dir, e->d_name), outlen);
        n++;
    }
    closedir(dd);
    cr_assert_eq(n, 1, "%zu spool files in %s", n, dir);
}

static void write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *p = malloc((size_t)n + 1);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* ---- batches ------------------------------------------------------------------------------- */

/* n items named "<prefix>-<k>"; ids k + 1 + id_base; every item completed unless open_every
 * (> 0) marks every open_every-th one in progress (final_open when final). */
static weft__batch *make_batch(const char *prefix, size_t n, uint64_t id_base, size_t open_every,
                               bool final, size_t pad)
{
    weft__batch *b = weft__batch_new(1u << WEFT__ENC_SGP_JSON);
    cr_assert(b);
    char *padding = calloc(1, pad + 1);
    memset(padding, 'x', pad);
    for (size_t k = 0; k < n; k++) {
        char json[512 + 4096];
        cr_assert_lt(pad, 4096);
        int len = snprintf(json, sizeof json, "{\"id\":\"%llu\",\"name\":\"%s-%zu\",\"pad\":\"%s\"}",
                           (unsigned long long)(id_base + k + 1), prefix, k, padding);
        weft__buf_append(&b->enc[WEFT__ENC_SGP_JSON].bytes, json, (size_t)len);
        bool open = open_every && k % open_every == open_every - 1;
        weft__batch_item it = {.trace = 7, .id = id_base + k + 1, .in_progress = open,
                               .final_open = open && final};
        cr_assert(weft__batch_push(b, &it));
    }
    free(padding);
    return b;
}

/* The "name" of item k of b. */
static void item_name(const weft__batch *b, size_t k, char *out, size_t outlen)
{
    size_t len;
    const char *p = weft__batch_item_bytes(b, WEFT__ENC_SGP_JSON, k, &len);
    json_error_t err;
    json_t *v = json_loadb(p, len, 0, &err);
    cr_assert(v, "item %zu is not JSON: %.*s", k, (int)len, p);
    snprintf(out, outlen, "%s", json_string_value(json_object_get(v, "name")));
    json_decref(v);
}

static void expect_name(const weft__batch *b, size_t k, const char *want)
{
    char got[128];
    item_name(b, k, got, sizeof got);
    cr_expect_str_eq(got, want, "item %zu", k);
}

/* The next replay batch: the pending records of the oldest file that has some (asserted). */
static weft__batch *replay_all(weft__spool *sp, weft__spool_ref *ref)
{
    weft__batch *b = weft__spool_replay(sp, 1000, 64u << 20, ref);
    cr_assert(b, "nothing to replay");
    return b;
}

/* ---- CRC-32 -------------------------------------------------------------------------------- */

/* One bit at a time, straight from the definition: the reference the tables must match. */
static uint32_t crc32_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

Test(spool, crc32_matches_the_standard_check_value_and_a_bitwise_reference)
{
    cr_expect_eq(weft__crc32(0, "123456789", 9), 0xcbf43926u);
    cr_expect_eq(weft__crc32(0, NULL, 0), 0);
    unsigned char buf[4099];
    uint64_t x = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < sizeof buf; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        buf[i] = (unsigned char)x;
    }
    for (size_t len = 0; len <= sizeof buf; len += len < 40 ? 1 : 97) {
        uint32_t want = crc32_bitwise(buf, len);
        cr_expect_eq(weft__crc32(0, buf, len), want, "length %zu", len);
        /* In pieces, at every alignment: the same. */
        size_t cut = len / 3;
        cr_expect_eq(weft__crc32(weft__crc32(0, buf, cut), buf + cut, len - cut), want);
    }
}

/* ---- the spool API ------------------------------------------------------------------------- */

/* As the exporter does: open, then claim what dead processes left. */
static weft__spool *open_spool(const char *dir, uint64_t cap)
{
    weft__spool *sp = weft__spool_open(dir, cap, WEFT__ENC_SGP_JSON);
    weft__spool_rescan(sp);
    return sp;
}

Test(spool, creates_a_private_directory_and_deletes_what_is_acknowledged)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    weft__spool *sp = open_spool(d.spool, 1u << 20);
    cr_assert(sp);
    struct stat st;
    cr_assert_eq(stat(d.spool, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0700);
    char path[256];
    only_file(d.spool, path, sizeof path);
    cr_assert_eq(stat(path, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600);
    char want[64];
    snprintf(want, sizeof want, "/weft-%ld-", (long)getpid());
    cr_expect(strstr(path, want), "%s does not name the pid", path);

    weft__batch *b = make_batch("a", 10, 0, 0, false, 0);
    weft__spool_ref ref;
    cr_assert(weft__spool_append(sp, b, &ref));
    cr_expect_eq(weft__rt.stats.spool_written, 10);
    weft__spool_ack(sp, &ref, b, 0, 4);
    weft__spool_ack(sp, &ref, b, 4, 10);
    cr_expect_eq(weft__spool_pending(sp), 0);
    weft__batch_free(b);
    weft__spool_close(sp);
    cr_expect_eq(spool_files(d.spool, NULL), 0, "a fully acknowledged file was left behind");
    cr_expect_eq(weft__rt.stats.spool_errors, 0);
    tdir_remove(&d);
}

Test(spool, keeps_given_up_records_and_replays_them_oldest_first)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    weft__spool *sp = open_spool(d.spool, 1u << 20);
    cr_assert(sp);
    weft__batch *b1 = make_batch("one", 10, 0, 0, false, 0);
    weft__batch *b2 = make_batch("two", 10, 100, 0, false, 0);
    weft__batch *b3 = make_batch("three", 10, 200, 0, false, 0);
    weft__spool_ref r1, r2, r3;
    cr_assert(weft__spool_append(sp, b1, &r1));
    cr_assert(weft__spool_append(sp, b2, &r2));
    cr_assert(weft__spool_append(sp, b3, &r3));
    weft__spool_ack(sp, &r1, b1, 0, 10);
    /* Out of order, as requests finish: b3 given up before b2's first half. */
    cr_expect_eq(weft__spool_keep(sp, &r3, b3, 0, 10), 10);
    weft__spool_ack(sp, &r2, b2, 5, 10);
    cr_expect_eq(weft__spool_keep(sp, &r2, b2, 0, 5), 5);
    cr_expect_eq(weft__spool_pending(sp), 15);

    /* Two at a time first: replay continues where the last one stopped. */
    weft__spool_ref rr;
    weft__batch *r = weft__spool_replay(sp, 2, 1u << 20, &rr);
    cr_assert(r);
    cr_assert_eq(r->n, 2);
    expect_name(r, 0, "two-0");
    expect_name(r, 1, "two-1");
    cr_expect_eq(r->n_complete, 2);
    cr_expect_eq(r->items[0].id, 101);
    cr_expect_eq(r->items[0].trace, 7);
    weft__spool_ack(sp, &rr, r, 0, 2);
    weft__spool_ref_fini(&rr);
    weft__batch_free(r);

    r = replay_all(sp, &rr);
    cr_assert_eq(r->n, 13);
    expect_name(r, 0, "two-2");
    expect_name(r, 2, "two-4");
    expect_name(r, 3, "three-0");
    expect_name(r, 12, "three-9");
    cr_expect_eq(weft__spool_pending(sp), 0);
    /* Failing again puts them back, replayed again in the same order. */
    cr_expect_eq(weft__spool_keep(sp, &rr, r, 0, 13), 13);
    cr_expect_eq(weft__spool_pending(sp), 13);
    weft__spool_ref_fini(&rr);
    weft__batch_free(r);
    r = replay_all(sp, &rr);
    cr_assert_eq(r->n, 13);
    expect_name(r, 0, "two-2");
    expect_name(r, 12, "three-9");
    weft__spool_ack(sp, &rr, r, 0, 13);
    weft__spool_ref_fini(&rr);
    weft__batch_free(r);
    cr_expect_eq(weft__spool_pending(sp), 0);
    cr_expect_null(weft__spool_replay(sp, 1000, 1u << 20, &rr));

    weft__batch_free(b1);
    weft__batch_free(b2);
    weft__batch_free(b3);
    weft__spool_close(sp);
    cr_expect_eq(spool_files(d.spool, NULL), 0);
    cr_expect_eq(weft__rt.stats.dropped_export, 0);
    tdir_remove(&d);
}

Test(spool, writes_no_superseded_in_progress_record_but_keeps_final_open_ones)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    weft__spool *sp = open_spool(d.spool, 1u << 20);
    cr_assert(sp);
    /* Every 3rd item in progress: not written (its completed record will follow). */
    weft__batch *b = make_batch("ip", 9, 0, 3, false, 0);
    weft__spool_ref ref;
    cr_assert(weft__spool_append(sp, b, &ref));
    cr_expect_eq(weft__rt.stats.spool_written, 6);
    cr_expect_eq(weft__spool_keep(sp, &ref, b, 0, 9), 6);
    cr_expect_eq(weft__spool_pending(sp), 6);
    /* Still open at shutdown: written, replayed with its flags. */
    weft__batch *f = make_batch("final", 3, 50, 3, true, 0);
    weft__spool_ref rf;
    cr_assert(weft__spool_append(sp, f, &rf));
    cr_expect_eq(weft__spool_keep(sp, &rf, f, 0, 3), 2);
    weft__spool_ref rr;
    weft__batch *r = replay_all(sp, &rr);
    cr_assert_eq(r->n, 9);
    expect_name(r, 0, "ip-0");
    expect_name(r, 1, "ip-1");
    expect_name(r, 2, "ip-3");
    expect_name(r, 8, "final-2");
    cr_expect(r->items[8].in_progress && r->items[8].final_open);
    cr_expect_eq(r->n_complete, 8);
    weft__spool_ack(sp, &rr, r, 0, r->n);
    weft__spool_ref_fini(&rr);
    weft__batch_free(r);
    weft__batch_free(b);
    weft__batch_free(f);
    weft__spool_close(sp);
    cr_expect_eq(spool_files(d.spool, NULL), 0);
    tdir_remove(&d);
}

Test(spool, a_new_process_replays_what_the_last_one_left_unacknowledged)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    weft__spool *sp = open_spool(d.spool, 1u << 20);
    cr_assert(sp);
    weft__batch *b1 = make_batch("acked", 20, 0, 0, false, 0);
    weft__batch *b2 = make_batch("left", 20, 100, 0, false, 0);
    weft__spool_ref r1, r2;
    cr_assert(weft__spool_append(sp, b1, &r1));
    cr_assert(weft__spool_append(sp, b2, &r2));
    weft__spool_ack(sp, &r1, b1, 0, 20);
    weft__spool_ack(sp, &r2, b2, 0, 5);
    /* b2[5..20) are still live (in flight) when the spool closes: the process "dies". */
    weft__spool_close(sp);
    cr_expect_eq(spool_files(d.spool, NULL), 1);

    weft__spool *sp2 = open_spool(d.spool, 1u << 20);
    cr_assert(sp2);
    cr_expect_eq(weft__spool_pending(sp2), 15);
    weft__spool_ref rr;
    weft__batch *r = replay_all(sp2, &rr);
    cr_assert_eq(r->n, 15);
    expect_name(r, 0, "left-5");
    expect_name(r, 14, "left-19");
    cr_expect_eq(r->items[0].id, 106);
    /* Half delivered, then this process stops too: only the other half is left. */
    weft__spool_ack(sp2, &rr, r, 0, 8);
    cr_expect_eq(weft__spool_keep(sp2, &rr, r, 8, 15), 7);
    weft__spool_ref_fini(&rr);
    weft__batch_free(r);
    weft__spool_close(sp2);

    weft__spool *sp3 = open_spool(d.spool, 1u << 20);
    cr_assert(sp3);
    cr_expect_eq(weft__spool_pending(sp3), 7);
    r = replay_all(sp3, &rr);
    cr_assert_eq(r->n, 7);
    expect_name(r, 0, "left-13");
    weft__spool_ack(sp3, &rr, r, 0, 7);
    weft__spool_ref_fini(&rr);
    weft__batch_free(r);
    weft__spool_close(sp3);
    cr_expect_eq(spool_files(d.spool, NULL), 0, "the dead process's file was not deleted");
    cr_expect_eq(weft__rt.stats.spool_corrupt_records + weft__rt.stats.spool_bad_files, 0);
    weft__batch_free(b1);
    weft__batch_free(b2);
    tdir_remove(&d);
}

Test(spool, never_touches_a_live_process_file_and_claims_it_once_that_process_dies)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    int ready[2], go[2];
    cr_assert_eq(pipe(ready), 0);
    cr_assert_eq(pipe(go), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        /* Another process with records on disk, alive until told otherwise. */
        weft__spool *sp = open_spool(d.spool, 1u << 20);
        weft__batch *b = make_batch("child", 30, 0, 0, false, 0);
        weft__spool_ref ref;
        char c = sp && weft__spool_append(sp, b, &ref) ? 'y' : 'n';
        if (write(ready[1], &c, 1) != 1)
            _exit(2);
        if (read(go[0], &c, 1) != 1)
            _exit(2);
        _exit(0); /* never closes the spool: like a crash, the kernel drops the lock */
    }
    char c = 0;
    cr_assert_eq(read(ready[0], &c, 1), 1);
    cr_assert_eq(c, 'y');
    cr_assert_eq(spool_files(d.spool, NULL), 1);

    weft__spool *sp = open_spool(d.spool, 1u << 20);
    cr_assert(sp);
    cr_expect_eq(weft__spool_pending(sp), 0, "a live process's file was claimed");
    cr_assert_eq(spool_files(d.spool, NULL), 2);

    cr_assert_eq(write(go[1], "x", 1), 1);
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    weft__spool_rescan(sp);
    cr_expect_eq(weft__spool_pending(sp), 30);
    weft__spool_ref rr;
    weft__batch *r = replay_all(sp, &rr);
    cr_assert_eq(r->n, 30);
    expect_name(r, 0, "child-0");
    weft__spool_ack(sp, &rr, r, 0, 30);
    weft__spool_ref_fini(&rr);
    weft__batch_free(r);
    weft__spool_close(sp);
    cr_expect_eq(spool_files(d.spool, NULL), 0);
    tdir_remove(&d);
}

Test(spool, stays_under_its_cap_by_dropping_the_oldest_records_first)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    const uint64_t cap = 64u << 10;
    weft__spool *sp = open_spool(d.spool, cap);
    cr_assert(sp);
    /* 200 batches of 4 records of about 300 bytes, all given up: about 260 KB offered. */
    size_t kept_total = 0;
    for (size_t k = 0; k < 200; k++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "b%zu", k);
        weft__batch *b = make_batch(prefix, 4, k * 10, 0, false, 240);
        weft__spool_ref ref;
        cr_assert(weft__spool_append(sp, b, &ref), "append %zu", k);
        kept_total += weft__spool_keep(sp, &ref, b, 0, 4);
        uint64_t on_disk;
        spool_files(d.spool, &on_disk);
        cr_assert_leq(on_disk, cap, "%llu bytes on disk after batch %zu",
                      (unsigned long long)on_disk, k);
        cr_assert_leq(weft__spool_bytes(sp), cap);
        weft__batch_free(b);
    }
    cr_expect_eq(kept_total, 800);
    uint64_t pending = weft__spool_pending(sp);
    cr_expect_gt(pending, 0);
    cr_expect_lt(pending, 800);
    cr_expect_eq(weft__rt.stats.dropped_export, 800 - pending,
                 "dropped %llu, pending %llu", (unsigned long long)weft__rt.stats.dropped_export,
                 (unsigned long long)pending);
    cr_expect_eq(wt_log_count("over its cap"), 1);
    /* What is left is the newest, in order (file after file), ending with the last batch. */
    weft__spool_ref rr;
    weft__batch *r;
    size_t got = 0;
    char first[64] = "", last[64] = "";
    while ((r = weft__spool_replay(sp, 1000, 1u << 20, &rr)) != NULL) {
        if (got == 0)
            item_name(r, 0, first, sizeof first);
        item_name(r, r->n - 1, last, sizeof last);
        got += r->n;
        weft__spool_ack(sp, &rr, r, 0, r->n);
        weft__spool_ref_fini(&rr);
        weft__batch_free(r);
    }
    cr_expect_eq(got, pending);
    cr_expect_str_eq(last, "b199-3");
    unsigned fb = 0, fi = 0;
    cr_assert_eq(sscanf(first, "b%u-%u", &fb, &fi), 2);
    cr_expect_eq((200 - fb) * 4 - fi, pending, "not a contiguous newest tail (first %s)", first);
    weft__spool_close(sp);
    tdir_remove(&d);
}

/* A spool file holding n records "dmg-0".."dmg-<n-1>", none acknowledged, left by a process
 * that stopped: its path goes to out. */
static void left_behind(tdir *d, size_t n, char *out, size_t outlen)
{
    weft__spool *sp = open_spool(d->spool, 1u << 20);
    cr_assert(sp);
    weft__batch *b = make_batch("dmg", n, 0, 0, false, 20);
    weft__spool_ref ref;
    cr_assert(weft__spool_append(sp, b, &ref));
    weft__spool_keep(sp, &ref, b, 0, n);
    weft__batch_free(b);
    weft__spool_close(sp);
    only_file(d->spool, out, outlen);
    memset(&weft__rt.stats, 0, sizeof weft__rt.stats);
}

/* Opens the directory again and replays: the names found, in order, into names (n max). */
static size_t reopen_and_replay(tdir *d, char names[][32], size_t n)
{
    weft__spool *sp = open_spool(d->spool, 1u << 20);
    cr_assert(sp);
    size_t got = 0;
    weft__spool_ref rr;
    weft__batch *r;
    while ((r = weft__spool_replay(sp, 1000, 1u << 20, &rr)) != NULL) {
        for (size_t k = 0; k < r->n && got < n; k++)
            item_name(r, k, names[got++], 32);
        weft__spool_ack(sp, &rr, r, 0, r->n);
        weft__spool_ref_fini(&rr);
        weft__batch_free(r);
    }
    weft__spool_close(sp);
    return got;
}

/* The offset of the frame of record k (0-based) of a file written by left_behind. */
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

Test(spool, skips_a_torn_last_record_and_replays_the_rest)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    char path[256];
    left_behind(&d, 10, path, sizeof path);
    size_t len;
    unsigned char *p = read_file(path, &len);
    cr_assert_eq(truncate(path, (off_t)(len - 5)), 0); /* the process died mid-write */
    free(p);
    char names[16][32];
    size_t got = reopen_and_replay(&d, names, 16);
    cr_expect_eq(got, 9);
    cr_expect_str_eq(names[0], "dmg-0");
    cr_expect_str_eq(names[8], "dmg-8");
    cr_expect_eq(weft__rt.stats.spool_corrupt_records, 1);
    cr_expect_eq(wt_log_count("damaged"), 1);
    cr_expect_eq(spool_files(d.spool, NULL), 0);
    tdir_remove(&d);
}

Test(spool, skips_a_record_with_a_bad_crc_and_replays_the_rest)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    char path[256];
    left_behind(&d, 10, path, sizeof path);
    size_t len;
    unsigned char *p = read_file(path, &len);
    size_t at = frame_offset(p, len, 4);
    p[at + 8 + 20] ^= 0x40; /* one bit of record 4's payload */
    write_file(path, p, len);
    free(p);
    char names[16][32];
    size_t got = reopen_and_replay(&d, names, 16);
    cr_expect_eq(got, 9);
    cr_expect_str_eq(names[3], "dmg-3");
    cr_expect_str_eq(names[4], "dmg-5");
    cr_expect_eq(weft__rt.stats.spool_corrupt_records, 1);
    cr_expect_eq(wt_log_count("damaged"), 1);
    tdir_remove(&d);
}

Test(spool, stops_at_a_zero_filled_tail_and_replays_what_precedes_it)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    char path[256];
    left_behind(&d, 6, path, sizeof path);
    size_t len;
    unsigned char *p = read_file(path, &len);
    unsigned char *q = calloc(1, len + 4096);
    memcpy(q, p, len);
    write_file(path, q, len + 4096); /* what a file system can leave after a machine crash */
    free(p);
    free(q);
    char names[16][32];
    cr_expect_eq(reopen_and_replay(&d, names, 16), 6);
    cr_expect_str_eq(names[5], "dmg-5");
    cr_expect_eq(weft__rt.stats.spool_corrupt_records, 1);
    tdir_remove(&d);
}

Test(spool, leaves_foreign_and_other_version_files_alone_and_deletes_cut_ones)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    cr_assert_eq(mkdir(d.spool, 0700), 0);
    char foreign[256], version[256], cut[256], other[256];
    snprintf(foreign, sizeof foreign, "%s/weft-1-1-0.spool", d.spool);
    snprintf(version, sizeof version, "%s/weft-2-2-0.spool", d.spool);
    snprintf(cut, sizeof cut, "%s/weft-3-3-0.spool", d.spool);
    snprintf(other, sizeof other, "%s/notes.txt", d.spool);
    write_file(foreign, "hello, not a spool file at all\n", 31);
    unsigned char h[WEFT__SPOOL_HEADER_LEN];
    weft__spool_header(h);
    h[8] = 9; /* version 9, with a header CRC that matches it */
    uint32_t crc = weft__crc32(0, h, 12);
    for (int k = 0; k < 4; k++)
        h[12 + k] = (unsigned char)(crc >> (8 * k));
    write_file(version, h, sizeof h);
    write_file(cut, "WEFTSP", 6);
    write_file(other, "x", 1);

    weft__spool *sp = open_spool(d.spool, 1u << 20);
    cr_assert(sp);
    cr_expect_eq(weft__spool_pending(sp), 0);
    cr_expect_eq(weft__rt.stats.spool_bad_files, 3);
    struct stat st;
    cr_expect_eq(stat(foreign, &st), 0, "a foreign file was removed");
    cr_expect_eq(stat(version, &st), 0, "a file of another version was removed");
    cr_expect_neq(stat(cut, &st), 0, "a file cut inside its header was kept");
    cr_expect_eq(stat(other, &st), 0);
    /* Looking again does not count them again. */
    weft__spool_rescan(sp);
    cr_expect_eq(weft__rt.stats.spool_bad_files, 3);
    cr_expect_eq(wt_log_count("spool_bad_files"), 1);
    weft__spool_close(sp);
    tdir_remove(&d);
}

Test(spool, refuses_a_directory_others_can_write_to)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    cr_assert_eq(mkdir(d.spool, 0700), 0);
    cr_assert_eq(chmod(d.spool, 0777), 0);
    cr_expect_null(open_spool(d.spool, 1u << 20));
    cr_expect_eq(weft__rt.stats.spool_errors, 1);
    cr_expect_eq(wt_log_count("writable by others"), 1);
    cr_expect_eq(spool_files(d.spool, NULL), 0);
    tdir_remove(&d);
}

Test(spool, turns_itself_off_in_a_read_only_directory)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    if (!tdir_mount_tmpfs(&d, 64u << 10, true)) {
        if (geteuid() == 0) {
            tdir_remove(&d);
            cr_skip_test("cannot mount a read-only tmpfs here, and root ignores file modes");
        }
        cr_log_info("no mount namespace: a mode 0500 directory stands in for a read-only one");
        chmod(d.spool, 0500);
    }
    cr_expect_null(open_spool(d.spool, 1u << 20));
    cr_expect_geq(weft__rt.stats.spool_errors, 1);
    cr_expect_eq(wt_log_count("spool off"), 1);
    chmod(d.spool, 0700);
    tdir_remove(&d);
}

Test(spool, survives_a_full_disk_and_keeps_every_whole_record)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    bool real = tdir_mount_tmpfs(&d, 64u << 10, false);
    weft__spool *sp = open_spool(d.spool, 4u << 20); /* the cap is not what stops it */
    cr_assert(sp);
    if (!real) {
        cr_log_info("no mount namespace: the write-failure hook stands in for a full disk");
        weft__spool_fail_writes(sp, ENOSPC, 60u << 10);
    }
    size_t appended = 0, kept = 0, k;
    for (k = 0; k < 200; k++) {
        weft__batch *b = make_batch("full", 4, k * 10, 0, false, 200);
        weft__spool_ref ref;
        bool ok = weft__spool_append(sp, b, &ref);
        if (ok) {
            appended++;
            kept += weft__spool_keep(sp, &ref, b, 0, 4);
        }
        weft__batch_free(b);
        if (!ok)
            break;
    }
    cr_assert_lt(k, 200, "the disk never filled");
    cr_expect_gt(appended, 0);
    cr_expect_geq(weft__rt.stats.spool_errors, 1);
    cr_expect_eq(wt_log_count("No space left on device"), 1);
    /* Suspended: later appends fail fast, without another error or log line. */
    uint64_t errors = weft__rt.stats.spool_errors;
    weft__batch *b = make_batch("later", 4, 9000, 0, false, 0);
    weft__spool_ref ref;
    cr_expect_not(weft__spool_append(sp, b, &ref));
    weft__batch_free(b);
    cr_expect_eq(weft__rt.stats.spool_errors, errors);
    weft__spool_close(sp);
    /* The failed write was cut back out: the file holds every record kept, whole, and nothing
     * else (read with the codec: on a full disk a new spool could not even start a segment). */
    char path[256];
    only_file(d.spool, path, sizeof path);
    size_t len, pos = WEFT__SPOOL_HEADER_LEN, spans = 0, need;
    unsigned char *p = read_file(path, &len);
    weft__spool_rec rec;
    weft__spool_damage dmg = {0};
    while (weft__spool_next(p, len, true, &pos, &rec, &dmg, &need) == WEFT__SPOOL_NEXT_RECORD)
        spans += rec.kind == WEFT__SPOOL_SPAN;
    free(p);
    cr_expect_eq(spans, kept);
    cr_expect_eq(pos, len);
    cr_expect(!dmg.torn && !dmg.bad_length && dmg.bad_crc == 0 && dmg.bad_record == 0);
    tdir_remove(&d);
}

Test(spool, counts_an_io_error_and_leaves_earlier_records_readable)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    weft__spool *sp = open_spool(d.spool, 1u << 20);
    cr_assert(sp);
    weft__batch *b = make_batch("io", 5, 0, 0, false, 0);
    weft__spool_ref ref;
    cr_assert(weft__spool_append(sp, b, &ref));
    cr_expect_eq(weft__spool_keep(sp, &ref, b, 0, 5), 5);
    weft__spool_fail_writes(sp, EIO, 100); /* the next write stops after 100 bytes */
    weft__batch *b2 = make_batch("io2", 5, 100, 0, false, 0);
    cr_expect_not(weft__spool_append(sp, b2, &ref));
    cr_expect_eq(weft__rt.stats.spool_errors, 1);
    cr_expect_eq(wt_log_count("Input/output error"), 1);
    weft__spool_fail_writes(sp, 0, 0);
    weft__spool_ref rr;
    weft__batch *r = replay_all(sp, &rr);
    cr_expect_eq(r->n, 5);
    weft__spool_ack(sp, &rr, r, 0, r->n);
    weft__spool_ref_fini(&rr);
    weft__batch_free(r);
    weft__batch_free(b);
    weft__batch_free(b2);
    weft__spool_close(sp);
    cr_expect_eq(weft__rt.stats.spool_corrupt_records, 0);
    tdir_remove(&d);
}

/* ---- end to end through the SGP exporter --------------------------------------------------- */

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
    c.retry_window_ms = 60000;
    c.ring_bytes = 16u << 20; /* ring overflow is not what this suite tests */
    c.spool_dir = spool_dir;
    return c;
}

static weft_stats stats(void)
{
    weft_stats s;
    weft_get_stats(&s);
    return s;
}

static void make_spans(const char *prefix, int n)
{
    char name[64];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s-%d", prefix, i);
        weft_span s = weft_span_begin(name, WEFT_TYPE_CUSTOM);
        weft_span_set_i64(s, WEFT_METADATA, "i", i);
        weft_span_end(s);
        if (i % 200 == 199)
            usleep(1000);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Polls until cond() holds or `seconds` pass; returns whether it held. */
#define WAIT_UNTIL(cond, seconds)                                                              \
    ({                                                                                         \
        double until_ = now_s() + (seconds);                                                   \
        bool ok_;                                                                              \
        while (!(ok_ = (cond)) && now_s() < until_)                                            \
            usleep(20 * 1000);                                                                 \
        ok_;                                                                                   \
    })

typedef struct tally {
    const char *prefix;
    int n;
    unsigned char *seen; /* upserts of each name, capped at 255 */
    size_t strangers, repeats;
} tally;

static void tally_one(const json_t *item, size_t upserts, bool completed, void *ud)
{
    tally *t = ud;
    const char *name = json_string_value(json_object_get(item, "name"));
    size_t pl = strlen(t->prefix);
    int k;
    if (!name || strncmp(name, t->prefix, pl) != 0 || name[pl] != '-' ||
        sscanf(name + pl + 1, "%d", &k) != 1 || k < 0 || k >= t->n || !completed) {
        t->strangers++;
        return;
    }
    t->seen[k] = (unsigned char)(t->seen[k] + 1);
    if (upserts != 1)
        t->repeats++;
}

/* Every span prefix-0..n-1 stored once, completed, upserted once (exactly once when
 * `once`), nothing else stored. */
static void check_all_arrived(weft_rx *rx, const char *prefix, int n, bool once)
{
    tally t = {prefix, n, calloc((size_t)n, 1), 0, 0};
    weft_rx_foreach(rx, tally_one, &t);
    size_t missing = 0, twice = 0;
    for (int k = 0; k < n; k++) {
        missing += t.seen[k] == 0;
        twice += t.seen[k] > 1;
    }
    cr_expect_eq(missing, 0, "%zu of %d spans missing", missing, n);
    cr_expect_eq(twice, 0);
    cr_expect_eq(t.strangers, 0);
    if (once)
        cr_expect_eq(t.repeats, 0, "%zu spans were delivered more than once", t.repeats);
    free(t.seen);
}

static weft_rx *rx_start(void)
{
    weft_rx_opts o = {.api_key = KEY};
    weft_rx *rx = weft_rx_start(&o);
    cr_assert(rx, "receiver did not start");
    return rx;
}

Test(spool_e2e, an_outage_longer_than_the_retry_window_loses_nothing, .timeout = 120)
{
    tdir d;
    tdir_make(&d);
    weft_rx *rx = rx_start();
    weft_config c = e2e_cfg(weft_rx_url(rx), d.spool);
    c.retry_window_ms = 1000;
    cr_assert_eq(weft_init(&c), 0);
    weft_rx_set_outage(rx, true);
    weft_rx_set_retry_after_ms(rx, 100);
    make_spans("out", 500);
    cr_assert(WAIT_UNTIL(stats().spooled == 500, 30), "spooled %llu of 500",
              (unsigned long long)stats().spooled);
    cr_expect_eq(stats().dropped_export, 0);
    cr_expect_eq(weft_rx_count(rx), 0);
    weft_rx_set_outage(rx, false);
    cr_expect(WAIT_UNTIL(weft_rx_completed(rx) == 500, 60), "%zu of 500 arrived",
              weft_rx_completed(rx));
    check_all_arrived(rx, "out", 500, false);
    cr_expect(WAIT_UNTIL(stats().queued == 0, 10));
    cr_expect_eq(weft_shutdown(5000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.ended, 500);
    cr_expect_eq(s.spooled, 500);
    cr_expect_eq(s.replayed, 500);
    cr_expect_eq(s.exported, 0); /* every one was given up first, then replayed */
    cr_expect_eq(s.dropped_export + s.dropped_queue, 0);
    cr_expect_eq(s.spool_written, 500);
    cr_expect_eq(s.spool_errors + s.spool_corrupt_records, 0);
    cr_expect_eq(s.queued, 0);
    cr_expect_eq(wt_log_count("stay in the disk spool"), 1);
    cr_expect_eq(spool_files(d.spool, NULL), 0, "delivered records were left on disk");
    weft_rx_stop(rx);
    tdir_remove(&d);
}

Test(spool_e2e, shutdown_with_the_receiver_down_keeps_spans_for_the_next_init, .timeout = 120)
{
    tdir d;
    tdir_make(&d);
    weft_rx *rx = rx_start();
    weft_config c = e2e_cfg(weft_rx_url(rx), d.spool);
    cr_assert_eq(weft_init(&c), 0);
    weft_rx_set_outage(rx, true);
    weft_rx_set_retry_after_ms(rx, 100);
    make_spans("down", 300);
    int rc = weft_shutdown(1000);
    cr_expect(rc == WEFT_ETIMEDOUT || rc == 0, "shutdown returned %d", rc);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.ended, 300);
    cr_expect_eq(s.exported, 0);
    cr_expect_eq(s.spooled, 300);
    cr_expect_eq(s.dropped_export + s.dropped_queue, 0);
    cr_expect_eq(s.queued, 0);
    cr_expect_geq(spool_files(d.spool, NULL), 1);
    cr_expect_eq(weft_rx_count(rx), 0);

    weft_rx_set_outage(rx, false);
    cr_assert_eq(weft_init(&c), 0);
    cr_expect(WAIT_UNTIL(weft_rx_completed(rx) == 300, 60), "%zu of 300 arrived",
              weft_rx_completed(rx));
    check_all_arrived(rx, "down", 300, true);
    cr_expect(WAIT_UNTIL(stats().queued == 0, 10));
    cr_expect_eq(weft_shutdown(5000), 0);
    s = stats();
    cr_expect_eq(s.ended, 0);
    cr_expect_eq(s.replayed, 300);
    cr_expect_eq(s.dropped_export + s.dropped_queue, 0);
    cr_expect_eq(s.spool_corrupt_records + s.spool_bad_files + s.spool_errors, 0);
    cr_expect_eq(s.queued, 0);
    cr_expect_eq(spool_files(d.spool, NULL), 0);
    weft_rx_stop(rx);
    tdir_remove(&d);
}

/* A port on 127.0.0.1 nothing listens on (bound, then closed). */
static unsigned closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
    close(fd);
    return ntohs(a.sin_port);
}

#define KILL_SPANS 3000

static void quiet(void *user, weft_log_level level, const char *msg)
{
    (void)user;
    (void)level;
    (void)msg;
}

/* The producing process of the SIGKILL test: never returns. */
static void killed_producer(const char *spool_dir, unsigned port, int marker_fd)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u", port);
    weft_config c = e2e_cfg(url, spool_dir);
    c.log = quiet; /* connection refused, again and again: expected here */
    char verdict = 'n';
    if (weft_init(&c) == 0) {
        make_spans("kill", KILL_SPANS);
        /* Handed to the export thread and written to the spool: then, and only then, say so. */
        double until = now_s() + 60;
        weft_stats s;
        do {
            usleep(10 * 1000);
            weft_get_stats(&s);
        } while (s.spool_written < KILL_SPANS && now_s() < until);
        if (s.spool_written == KILL_SPANS && s.dropped_ring == 0 && s.exported == 0)
            verdict = 'y';
    }
    if (write(marker_fd, &verdict, 1) != 1)
        _exit(3);
    for (;;)
        pause(); /* SIGKILL comes here, with the spans still in memory and on disk */
}

Test(spool_e2e, a_producer_killed_with_sigkill_loses_no_span_it_handed_over, .timeout = 180)
{
    tdir d;
    tdir_make(&d);
    unsigned port = closed_port();
    int marker[2];
    cr_assert_eq(pipe(marker), 0);
    /* Forked before this process starts any thread (receiver, weft). */
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        close(marker[0]);
        killed_producer(d.spool, port, marker[1]);
    }
    close(marker[1]);
    struct pollfd pf = {.fd = marker[0], .events = POLLIN};
    char verdict = 0;
    bool marked = poll(&pf, 1, 90 * 1000) == 1 && read(marker[0], &verdict, 1) == 1;
    kill(child, SIGKILL);
    int status;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(marked, "the producer never said its spans were on disk");
    cr_assert_eq(verdict, 'y', "the producer could not spool its spans");
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    cr_expect_geq(spool_files(d.spool, NULL), 1);

    weft_rx *rx = rx_start();
    weft_config c = e2e_cfg(weft_rx_url(rx), d.spool);
    cr_assert_eq(weft_init(&c), 0);
    cr_expect(WAIT_UNTIL(weft_rx_completed(rx) == KILL_SPANS, 90), "%zu of %d arrived",
              weft_rx_completed(rx), KILL_SPANS);
    check_all_arrived(rx, "kill", KILL_SPANS, true);
    cr_expect_eq(weft_rx_count(rx), KILL_SPANS);
    cr_expect_eq(weft_rx_upserts(rx), KILL_SPANS, "some span arrived twice");
    cr_expect(WAIT_UNTIL(stats().queued == 0, 10));
    cr_expect_eq(weft_shutdown(5000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.replayed, KILL_SPANS);
    cr_expect_eq(s.dropped_export + s.dropped_queue, 0);
    cr_expect_eq(s.spool_corrupt_records + s.spool_bad_files + s.spool_errors, 0);
    cr_expect_eq(s.queued, 0);
    cr_expect_eq(spool_files(d.spool, NULL), 0);
    weft_rx_stop(rx);
    tdir_remove(&d);
}

Test(spool_e2e, a_queue_over_its_limit_spills_to_disk_instead_of_dropping, .timeout = 120)
{
    tdir d;
    tdir_make(&d);
    weft_rx *rx = rx_start();
    weft_config c = e2e_cfg(weft_rx_url(rx), d.spool);
    c.max_queue_bytes = 64 * 1024;
    c.max_batch_spans = 100;
    cr_assert_eq(weft_init(&c), 0);
    weft_rx_set_outage(rx, true);
    weft_rx_set_retry_after_ms(rx, 50);
    make_spans("q", 3000);
    cr_assert(WAIT_UNTIL(stats().ended == 3000, 30));
    usleep(300 * 1000);
    weft_stats s = stats();
    cr_expect_gt(s.spooled, 0, "nothing spilled");
    cr_expect_eq(s.dropped_queue, 0);
    weft_rx_set_outage(rx, false);
    cr_expect(WAIT_UNTIL(weft_rx_completed(rx) == 3000, 60), "%zu of 3000 arrived",
              weft_rx_completed(rx));
    check_all_arrived(rx, "q", 3000, false);
    cr_expect(WAIT_UNTIL(stats().queued == 0, 10));
    cr_expect_eq(weft_shutdown(5000), 0);
    s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.dropped_queue + s.dropped_export, 0);
    cr_expect_eq(s.exported + s.spooled, 3000);
    cr_expect_eq(s.replayed, s.spooled);
    cr_expect_eq(s.queued, 0);
    cr_expect_eq(wt_log_count("spilling to the disk spool"), 1);
    cr_expect_eq(spool_files(d.spool, NULL), 0);
    weft_rx_stop(rx);
    tdir_remove(&d);
}

Test(spool_e2e, a_full_disk_turns_the_spool_off_not_delivery, .timeout = 120)
{
    tdir d;
    tdir_make(&d);
    if (!tdir_mount_tmpfs(&d, 64u << 10, false)) {
        /* Without a small file system, the per-process file size limit fills "the disk". */
        cr_log_info("no mount namespace: RLIMIT_FSIZE stands in for a full disk");
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {64u << 10, 64u << 10};
        cr_assert_eq(setrlimit(RLIMIT_FSIZE, &rl), 0);
    }
    weft_rx *rx = rx_start();
    weft_config c = e2e_cfg(weft_rx_url(rx), d.spool);
    c.max_batch_spans = 20; /* small batches: the first ones fit before the disk fills */
    cr_assert_eq(weft_init(&c), 0);
    make_spans("full", 2000);
    cr_expect_eq(weft_flush(30000), 0);
    cr_expect_eq(weft_rx_completed(rx), 2000);
    cr_expect_eq(weft_shutdown(5000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.exported, 2000);
    cr_expect_eq(s.dropped_export + s.dropped_queue, 0);
    cr_expect_geq(s.spool_errors, 1);
    cr_expect_gt(s.spool_written, 0);
    cr_expect_lt(s.spool_written, 2000);
    cr_expect_eq(wt_log_count("spans are sent without the spool"), 1);
    weft_rx_stop(rx);
    tdir_remove(&d);
}

Test(spool_e2e, a_read_only_directory_turns_the_spool_off_not_delivery)
{
    tdir d;
    tdir_make(&d);
    if (!tdir_mount_tmpfs(&d, 64u << 10, true)) {
        if (geteuid() == 0) {
            tdir_remove(&d);
            cr_skip_test("cannot mount a read-only tmpfs here, and root ignores file modes");
        }
        chmod(d.spool, 0500);
    }
    weft_rx *rx = rx_start();
    weft_config c = e2e_cfg(weft_rx_url(rx), d.spool);
    cr_assert_eq(weft_init(&c), 0);
    make_spans("ro", 200);
    cr_expect_eq(weft_flush(30000), 0);
    cr_expect_eq(weft_rx_completed(rx), 200);
    cr_expect_eq(weft_shutdown(5000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.dropped_ring, 0);
    cr_expect_eq(s.exported, 200);
    cr_expect_eq(s.spool_written, 0);
    cr_expect_eq(s.spool_errors, 1);
    cr_expect_eq(wt_log_count("spool off"), 1);
    chmod(d.spool, 0700);
    weft_rx_stop(rx);
    tdir_remove(&d);
}

/* ---- resynchronising after damage (issue 10, item 2) ---------------------------------------- */

/* Like left_behind, with room for many records in one file. */
static void left_behind_many(tdir *d, size_t n, char *out, size_t outlen)
{
    weft__spool *sp = open_spool(d->spool, 64u << 20);
    cr_assert(sp);
    weft__batch *b = make_batch("dmg", n, 0, 0, false, 20);
    weft__spool_ref ref;
    cr_assert(weft__spool_append(sp, b, &ref));
    weft__spool_keep(sp, &ref, b, 0, n);
    weft__batch_free(b);
    weft__spool_close(sp);
    only_file(d->spool, out, outlen);
    memset(&weft__rt.stats, 0, sizeof weft__rt.stats);
}

static void put_le32_at(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* Replays the damaged file: every record but those named in lost[] arrives, in order, and
 * spool_corrupt_records is exactly how many were lost. */
static void replays_all_but(tdir *d, size_t n, const size_t *lost, size_t n_lost)
{
    static char names[4096][32];
    size_t got = reopen_and_replay(d, names, 4096);
    cr_expect_eq(got, n - n_lost, "replayed %zu of %zu", got, n - n_lost);
    size_t k = 0, g = 0;
    for (size_t i = 0; i < n && g < got; i++) {
        if (k < n_lost && lost[k] == i) {
            k++;
            continue;
        }
        char want[32];
        snprintf(want, sizeof want, "dmg-%zu", i);
        cr_assert_str_eq(names[g], want, "record %zu", g);
        g++;
    }
    cr_expect_eq(weft__rt.stats.spool_corrupt_records, n_lost);
    cr_expect_eq(spool_files(d->spool, NULL), 0, "the file outlived its last record");
}

Test(spool, resynchronises_after_a_length_no_frame_can_have)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    char path[256];
    left_behind_many(&d, 3000, path, sizeof path);
    size_t len;
    unsigned char *p = read_file(path, &len);
    put_le32_at(p + frame_offset(p, len, 20), 0xfffffff0u);
    write_file(path, p, len);
    free(p);
    size_t lost[] = {20};
    replays_all_but(&d, 3000, lost, 1); /* the base tree replays 20 and deletes the file */
    tdir_remove(&d);
}

Test(spool, resynchronises_after_a_wrong_but_plausible_length)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    char path[256];
    left_behind_many(&d, 3000, path, sizeof path);
    size_t len;
    unsigned char *p = read_file(path, &len);
    size_t at = frame_offset(p, len, 1500);
    uint32_t plen = (uint32_t)p[at] | (uint32_t)p[at + 1] << 8 | (uint32_t)p[at + 2] << 16 |
                    (uint32_t)p[at + 3] << 24;
    put_le32_at(p + at, plen + 5000); /* skipping by it would swallow ~40 good records */
    write_file(path, p, len);
    free(p);
    size_t lost[] = {1500};
    replays_all_but(&d, 3000, lost, 1);
    tdir_remove(&d);
}

Test(spool, counts_exactly_the_records_a_zeroed_block_took)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    char path[256];
    left_behind_many(&d, 3000, path, sizeof path);
    size_t len;
    unsigned char *p = read_file(path, &len);
    size_t from = frame_offset(p, len, 700), to = frame_offset(p, len, 704);
    memset(p + from, 0, (to - from) - 10); /* records 700..703: the last one cut short */
    write_file(path, p, len);
    free(p);
    size_t lost[] = {700, 701, 702, 703};
    replays_all_but(&d, 3000, lost, 4);
    tdir_remove(&d);
}

Test(spool, keeps_a_damaged_file_while_intact_records_remain_unread)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    char path[256];
    left_behind_many(&d, 3000, path, sizeof path);
    size_t len;
    unsigned char *p = read_file(path, &len);
    put_le32_at(p + frame_offset(p, len, 10), 0);
    write_file(path, p, len);
    free(p);
    /* One replay batch of 1000 delivered, then the process stops. */
    weft__spool *sp = open_spool(d.spool, 64u << 20);
    cr_assert(sp);
    weft__spool_ref rr;
    weft__batch *r = weft__spool_replay(sp, 1000, 1u << 20, &rr);
    cr_assert(r);
    cr_expect_eq(r->n, 1000);
    weft__spool_ack(sp, &rr, r, 0, r->n);
    weft__spool_ref_fini(&rr);
    weft__batch_free(r);
    weft__spool_close(sp);
    cr_expect_eq(spool_files(d.spool, NULL), 1, "deleted with 1999 intact records unread");
    /* The next process replays the rest. */
    static char names[4096][32];
    cr_expect_eq(reopen_and_replay(&d, names, 4096), 1999);
    cr_expect_str_eq(names[0], "dmg-1001");
    cr_expect_str_eq(names[1998], "dmg-2999");
    cr_expect_eq(spool_files(d.spool, NULL), 0);
    tdir_remove(&d);
}

/* ---- replay order: parents first (README "Disk spool" -> "What is guaranteed") ------------ */

/* n_traces traces of three spans in file order as spans end: child a, child b, then their root
 * (ids 3t+1, 3t+2 with parent 3t+3), written in batches of `per_batch` records and given up. */
static void spool_traces(weft__spool *sp, size_t n_traces, size_t per_batch)
{
    size_t total = n_traces * 3;
    for (size_t base = 0; base < total; base += per_batch) {
        size_t n = total - base < per_batch ? total - base : per_batch;
        weft__batch *b = weft__batch_new(1u << WEFT__ENC_SGP_JSON);
        cr_assert(b);
        for (size_t q = 0; q < n; q++) {
            size_t k = base + q;
            uint64_t t = k / 3, id = k + 1, root = 3 * t + 3;
            char json[128];
            int len = snprintf(json, sizeof json, "{\"id\":\"%llu\"}", (unsigned long long)id);
            weft__buf_append(&b->enc[WEFT__ENC_SGP_JSON].bytes, json, (size_t)len);
            weft__batch_item it = {.trace = 1000 + t, .id = id, .parent = id == root ? 0 : root};
            cr_assert(weft__batch_push(b, &it));
        }
        weft__spool_ref r;
        cr_assert(weft__spool_append(sp, b, &r));
        cr_assert_eq(weft__spool_keep(sp, &r, b, 0, n), n);
        weft__batch_free(b);
    }
}

/* Replays everything in batches of at most max_items (acknowledging each), checking that
 * every record comes after its parent's, which is sent in the same batch, and that every
 * record is sent exactly once. Returns the number of replay batches. */
static size_t replay_checking_order(weft__spool *sp, size_t total, size_t max_items)
{
    unsigned char *sent = calloc(total + 1, 1);
    size_t batches = 0, got = 0;
    weft__spool_ref rr;
    weft__batch *r;
    while ((r = weft__spool_replay(sp, max_items, 64u << 20, &rr)) != NULL) {
        cr_assert_leq(r->n, max_items);
        for (size_t k = 0; k < r->n; k++) {
            const weft__batch_item *it = &r->items[k];
            cr_assert(it->id >= 1 && it->id <= total);
            cr_expect_eq(sent[it->id], 0, "record %llu sent twice", (unsigned long long)it->id);
            if (it->parent) {
                cr_expect_eq(sent[it->parent], 1 + batches % 250,
                             "record %llu went before its parent %llu or in another batch",
                             (unsigned long long)it->id, (unsigned long long)it->parent);
            }
            sent[it->id] = (unsigned char)(1 + batches % 250);
            char name[32];
            size_t len;
            const char *p = weft__batch_item_bytes(r, WEFT__ENC_SGP_JSON, k, &len);
            snprintf(name, sizeof name, "{\"id\":\"%llu\"}", (unsigned long long)it->id);
            cr_expect(len == strlen(name) && memcmp(p, name, len) == 0,
                      "item %zu carries another record's bytes", k);
        }
        got += r->n;
        batches++;
        weft__spool_ack(sp, &rr, r, 0, r->n);
        weft__spool_ref_fini(&rr);
        weft__batch_free(r);
        cr_assert_leq(batches, total, "replay does not make progress");
    }
    cr_expect_eq(got, total, "%zu of %zu records replayed", got, total);
    cr_expect_eq(weft__spool_pending(sp), 0);
    free(sent);
    return batches;
}

Test(spool, replays_a_trace_in_one_batch_parents_first_when_a_batch_cut_splits_it)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    weft__spool *sp = open_spool(d.spool, 64u << 20);
    cr_assert(sp);
    /* 1,000 traces, written 100 records at a time (roots after their children); replayed 1000
     * and then 7 at a time: cuts at 1000 and at every 7th record split traces. */
    spool_traces(sp, 1000, 100);
    size_t batches = replay_checking_order(sp, 3000, 1000);
    cr_expect_leq(batches, 6, "%zu batches: held-back records must not stall replay", batches);
    spool_traces(sp, 1000, 100);
    replay_checking_order(sp, 3000, 7);
    weft__spool_close(sp);
    cr_expect_eq(spool_files(d.spool, NULL), 0);
    cr_expect_eq(weft__rt.stats.dropped_export, 0);
    tdir_remove(&d);
}

Test(spool, a_held_back_trace_that_fails_again_is_replayed_whole_later)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    weft__spool *sp = open_spool(d.spool, 64u << 20);
    cr_assert(sp);
    spool_traces(sp, 10, 30);
    /* First batch: 4 of 30 records; give it up again, then replay all in order. */
    weft__spool_ref rr;
    weft__batch *r = weft__spool_replay(sp, 4, 64u << 20, &rr);
    cr_assert(r);
    cr_assert_geq(r->n, 2);
    cr_expect_eq(r->items[0].id, 3, "the root of trace 0 first");
    cr_expect_eq(weft__spool_pending(sp), 30 - r->n);
    cr_expect_eq(weft__spool_keep(sp, &rr, r, 0, r->n), r->n);
    cr_expect_eq(weft__spool_pending(sp), 30);
    weft__spool_ref_fini(&rr);
    weft__batch_free(r);
    replay_checking_order(sp, 30, 1000);
    weft__spool_close(sp);
    cr_expect_eq(spool_files(d.spool, NULL), 0);
    tdir_remove(&d);
}

Test(spool, replays_records_whose_parents_form_a_cycle_without_hanging)
{
    api_setup();
    tdir d;
    tdir_make(&d);
    weft__spool *sp = open_spool(d.spool, 1u << 20);
    cr_assert(sp);
    weft__batch *b = make_batch("cyc", 4, 0, 0, false, 0);
    /* ids 1..4: 1 -> 2 -> 3 -> 1 (only damage could write that), 4 -> itself */
    b->items[0].parent = 2;
    b->items[1].parent = 3;
    b->items[2].parent = 1;
    b->items[3].parent = 4;
    weft__spool_ref r;
    cr_assert(weft__spool_append(sp, b, &r));
    cr_assert_eq(weft__spool_keep(sp, &r, b, 0, 4), 4);
    weft__spool_ref rr;
    weft__batch *rb = replay_all(sp, &rr);
    cr_expect_eq(rb->n, 4);
    unsigned seen = 0;
    for (size_t k = 0; k < rb->n; k++)
        seen |= 1u << rb->items[k].id;
    cr_expect_eq(seen, 0x1e, "every record once");
    weft__spool_ack(sp, &rr, rb, 0, rb->n);
    weft__spool_ref_fini(&rr);
    weft__batch_free(rb);
    weft__batch_free(b);
    weft__spool_close(sp);
    tdir_remove(&d);
}
