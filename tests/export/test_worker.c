/*
 * test_worker.c — the export thread (src/export/worker.c) through the library: weft_flush
 * waits for everything ended before it on any thread and for nothing else; records are
 * encoded once per encoding in use, so two exporters reading SGP JSON receive identical bytes
 * and a repair is counted once per record; batches are cut at max_batch_spans and
 * max_batch_bytes; flush and shutdown give up at their timeout while an exporter holds a
 * batch, and account for every record; an exporter that cannot open fails weft_init cleanly.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log_capture.h"
#include "memory.h"
#include "receiver.h"
#include "weft/weft.h"
#include "weft_test.h"

static weft_stats stats(void)
{
    weft_stats s;
    weft_get_stats(&s);
    return s;
}

static void make(const char *name, int n)
{
    for (int i = 0; i < n; i++) {
        weft_span s = weft_span_begin(name, WEFT_TYPE_CUSTOM);
        weft_span_set_i64(s, WEFT_METADATA, "i", i);
        weft_span_end(s);
    }
}

/* The whole file, NUL-terminated (caller frees); *len its size. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    weft__buf b;
    weft__buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        weft__buf_append(&b, chunk, n);
    fclose(f);
    weft__buf_putc(&b, 0);
    *len = b.len - 1;
    return b.data;
}

static size_t lines(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += s[i] == '\n';
    return n;
}

typedef struct tmpdir {
    char dir[64];
    char path[128];
} tmpdir;

static void tmp_make(tmpdir *t, const char *file)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/weft-worker-XXXXXX");
    cr_assert_not_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof t->path, "%s/%s", t->dir, file);
}

static void tmp_remove(tmpdir *t)
{
    unlink(t->path);
    rmdir(t->dir);
}

/* ---- flush ---------------------------------------------------------------------------- */

static void *produce(void *arg)
{
    make((const char *)arg, 50);
    return NULL;
}

Test(worker, flush_waits_for_everything_ended_before_it_on_every_thread)
{
    weft_config c = {.flush_interval_ms = 3600000}; /* only flush moves spans */
    cr_assert_eq(wt_init_memory(&c), 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, produce, "threaded"), 0);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    weft_span open = weft_span_begin("still open", WEFT_TYPE_CUSTOM);
    make("main", 10);
    json_t *recs = wt_records();
    cr_assert_eq(wt_count(recs, "threaded"), 200);
    cr_assert_eq(wt_count(recs, "main"), 10);
    cr_assert_null(wt_find(recs, "still open"), "an open span is not flushed");
    json_decref(recs);
    cr_assert_eq(stats().exported, 210, "flush returns once the batches are released");
    make("second round", 5);
    recs = wt_records();
    cr_assert_eq(wt_count(recs, "second round"), 5);
    json_decref(recs);
    weft_span_end(open);
    cr_assert_eq(weft_shutdown(5000), 0);
    weft_stats st = stats();
    cr_assert_eq(st.ended, 216);
    cr_assert_eq(st.exported, 216);
    cr_assert_eq(st.dropped_export, 0);
    cr_assert_eq(st.internal_errors, 0);
}

Test(worker, flush_without_an_exporter_returns_at_once)
{
    weft_config c = {.exporters = "none", .flush_interval_ms = 3600000};
    cr_assert_eq(wt_init_memory(&c), 0);
    make("nowhere", 20);
    cr_assert_eq(weft_flush(10000), 0);
    cr_assert_eq(stats().exported, 20, "no exporter: the batch is released when submitted");
    cr_assert_eq(weft_shutdown(5000), 0);
    weft_stats st = stats();
    cr_assert_eq(st.ended, 20);
    cr_assert_eq(st.batches, 1);
    cr_assert_eq(st.exported, 20);
}

Test(worker, flush_and_shutdown_before_init_are_refused_or_harmless)
{
    cr_assert_eq(weft_flush(100), WEFT_ENOTINIT);
    cr_assert_eq(weft_shutdown(100), 0);
    weft_stats st = stats();
    cr_assert_eq(st.ended, 0);
    cr_assert_eq(st.internal_errors, 0);
}

/* ---- encodings ------------------------------------------------------------------------ */

Test(worker, exporters_sharing_an_encoding_see_identical_bytes)
{
    tmpdir t;
    tmp_make(&t, "traces.jsonl");
    weft_config c = {.exporters = "jsonl,memory", .jsonl_path = t.path};
    cr_assert_eq(wt_init_memory(&c), 0);
    make("shared", 40);
    weft_span s = weft_span_begin("with text", WEFT_TYPE_COMPLETION);
    weft_span_set_str(s, WEFT_OUTPUT, "answer", "line one\nline \"two\"");
    weft_span_end(s);
    cr_assert_eq(weft_shutdown(5000), 0);
    size_t flen;
    char *file = slurp(t.path, &flen);
    weft__buf mem;
    weft__buf_init(&mem);
    cr_assert(weft__memory_snapshot(&mem));
    cr_assert_eq(lines(file, flen), 41);
    cr_assert_eq(mem.len, flen, "memory holds %zu bytes, the file %zu", mem.len, flen);
    cr_assert_eq(memcmp(mem.data, file, flen), 0, "the same encoded items, byte for byte");
    weft__buf_fini(&mem);
    free(file);
    tmp_remove(&t);
    weft_stats st = stats();
    cr_assert_eq(st.exported, 41, "a record counts once, when both exporters released it");
    cr_assert_eq(st.ended, 41);
    cr_assert_eq(st.dropped_export, 0);
}

Test(worker, encodes_each_encoding_in_use_and_counts_a_repair_once_per_record)
{
    char out[] = "/tmp/weft-worker-stdout-XXXXXX";
    int fd = mkstemp(out);
    cr_assert_geq(fd, 0);
    fflush(stdout);
    int saved = dup(STDOUT_FILENO);
    cr_assert_eq(dup2(fd, STDOUT_FILENO), STDOUT_FILENO);
    weft_config c = {.exporters = "memory,stdout"};
    cr_assert_eq(wt_init_memory(&c), 0);
    make("bad \xff name", 25);
    int rc = weft_shutdown(5000);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    close(fd);
    cr_assert_eq(rc, 0);
    size_t len;
    char *text = slurp(out, &len);
    unlink(out);
    cr_assert_eq(lines(text, len), 25, "the text-line encoding reached stdout");
    cr_assert_not_null(strstr(text, "\"bad \xef\xbf\xbd name\"\n"));
    free(text);
    json_t *recs = wt_records_after_shutdown(); /* already shut down: reads the memory sink */
    cr_assert_eq(wt_count(recs, "bad \xef\xbf\xbd name"), 25, "the SGP encoding reached memory");
    json_decref(recs);
    weft_stats st = stats();
    cr_assert_eq(st.repaired_utf8, 25, "two encodings repaired each name, counted once a record");
    cr_assert_eq(st.exported, 25);
}

/* ---- batches -------------------------------------------------------------------------- */

Test(worker, cuts_batches_at_max_batch_spans)
{
    weft_config c = {.flush_interval_ms = 3600000, .max_batch_spans = 10};
    cr_assert_eq(wt_init_memory(&c), 0);
    make("cut", 95);
    cr_assert_eq(weft_flush(10000), 0);
    cr_assert_eq(stats().batches, 10, "nine full batches, then the rest at the flush");
    cr_assert_eq(weft_shutdown(5000), 0);
    weft_stats st = stats();
    cr_assert_eq(st.batches, 10, "nothing was left for shutdown");
    cr_assert_eq(st.exported, 95);
}

Test(worker, cuts_batches_at_max_batch_bytes)
{
    weft_config c = {.flush_interval_ms = 3600000, .max_batch_bytes = 1};
    cr_assert_eq(wt_init_memory(&c), 0);
    make("one per batch", 30);
    json_t *recs = wt_records();
    cr_assert_eq(json_array_size(recs), 30);
    json_decref(recs);
    cr_assert_eq(weft_shutdown(5000), 0);
    weft_stats st = stats();
    cr_assert_eq(st.batches, 30, "every record is over the byte limit on its own");
    cr_assert_eq(st.exported, 30);
}

/* ---- timeouts ------------------------------------------------------------------------- */

static weft_config sgp_cfg(weft_rx *rx)
{
    weft_config c = {0};
    c.exporters = "sgp";
    c.sgp_base_url = weft_rx_url(rx);
    c.sgp_api_key = "test-key";
    c.sgp_account_id = "acct-1";
    c.flush_interval_ms = 20;
    c.no_atexit = true;
    c.log = wt_log_capture;
    c.inprogress_after_ms = WEFT_INPROGRESS_NEVER;
    c.ring_bytes = 16u << 20;
    return c;
}

Test(worker, flush_and_shutdown_give_up_at_their_timeout_while_an_exporter_holds_a_batch)
{
    weft_rx_opts o = {.api_key = "test-key"};
    weft_rx *rx = weft_rx_start(&o);
    cr_assert_not_null(rx);
    weft_rx_set_delay_ms(rx, 30000); /* the receiver holds every request */
    weft_config c = sgp_cfg(rx);
    cr_assert_eq(weft_init(&c), 0);
    make("held", 50);
    cr_assert_eq(weft_flush(300), WEFT_ETIMEDOUT);
    int rc = weft_shutdown(300);
    cr_assert(rc == WEFT_ETIMEDOUT || rc == WEFT_EEXPORT, "shutdown returned %d", rc);
    weft_stats st = stats();
    cr_assert_eq(st.ended, 50);
    cr_assert_eq(st.exported, 0);
    cr_assert_eq(st.dropped_export + st.dropped_queue, 50, "every record is accounted for");
    cr_assert_eq(st.queued, 0);
    cr_assert_eq(st.dropped_ring, 0);
    weft_rx_stop(rx);
    /* The worker was freed: a new one starts. */
    cr_assert_eq(wt_init_memory(NULL), 0);
    make("after", 1);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(wt_count(recs, "after"), 1);
    json_decref(recs);
    cr_assert_eq(stats().exported, 1);
}

Test(worker, an_exporter_that_cannot_open_fails_init_and_a_later_init_works)
{
    wt_log_reset();
    weft_config c = {.exporters = "memory,jsonl", .jsonl_path = "/nonexistent-weft-dir/t.jsonl",
                     .log = wt_log_capture};
    cr_assert_eq(wt_init_memory(&c), WEFT_EIO);
    cr_assert_eq(wt_log_count("exporter jsonl could not open"), 1);
    cr_assert_eq(weft_flush(100), WEFT_ENOTINIT);
    cr_assert_eq(wt_init_memory(NULL), 0);
    make("second try", 3);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(wt_count(recs, "second try"), 3);
    json_decref(recs);
    weft_stats st = stats();
    cr_assert_eq(st.exported, 3);
    cr_assert_eq(st.internal_errors, 0);
}

/* ---- draining in slices ------------------------------------------------------------- */

/* The most spans the export side held open at once, sampled on the export thread for every
 * record (the filter runs there, before encoding). */
static uint64_t max_open_seen;

static bool watch_open(void *user, weft_record *rec)
{
    (void)user;
    (void)rec;
    weft_stats s;
    weft_get_stats(&s);
    if (s.open_spans > max_open_seen)
        max_open_seen = s.open_spans;
    return true;
}

Test(worker, reads_a_deep_backlog_in_slices_without_holding_it_all_open)
{
    /* 400,000 spans wait in one 64 MiB ring before the export thread looks at them (no timer,
     * no high-water wake-up: the ring stays below half full). Read in one pass they would all
     * sit in the open-span table at once, far past max_open_spans. */
    max_open_seen = 0;
    weft_config c = {.exporters = "discard", .flush_interval_ms = 3600000, .ring_bytes = 64u << 20,
                     .max_open_spans = 20000, .filter = watch_open, .no_atexit = true};
    cr_assert_eq(weft_init(&c), 0);
    for (int i = 0; i < 400000; i++) {
        WEFT_SPAN_BEGIN(s, "backlog", WEFT_TYPE_CUSTOM);
        WEFT_SPAN_END(s);
    }
    cr_assert_eq(weft_flush(0), 0);
    weft_stats st = stats();
    cr_assert_eq(st.dropped_ring, 0, "the ring had room for the whole backlog");
    cr_assert_eq(st.dropped_open, 0, "no span lost to the open-span table (%llu lost, %llu open at most)",
                 (unsigned long long)st.dropped_open, (unsigned long long)max_open_seen);
    cr_assert_eq(st.exported, 400000);
    cr_assert_lt(max_open_seen, 20000, "at most a few slices open at once, saw %llu",
                 (unsigned long long)max_open_seen);
    cr_assert_eq(weft_shutdown(5000), 0);
}

/* A span begun deep in one thread's backlog and ended by another thread, whose ring is short:
 * the other ring is read to its end in the first round, long before the begin comes up. */
typedef struct handoff {
    pthread_mutex_t m;
    pthread_cond_t cv;
    weft_span span;
    bool given, done;
} handoff;

static void *finish_elsewhere(void *arg)
{
    handoff *h = arg;
    pthread_mutex_lock(&h->m);
    while (!h->given)
        pthread_cond_wait(&h->cv, &h->m);
    weft_span s = h->span;
    pthread_mutex_unlock(&h->m);
    weft_span_set_str(s, WEFT_OUTPUT, "answer", "set on another thread");
    weft_span_end(s);
    pthread_mutex_lock(&h->m);
    h->done = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->m);
    return NULL;
}

Test(worker, applies_another_threads_end_to_a_span_begun_deep_in_a_backlog)
{
    weft_config c = {.flush_interval_ms = 3600000, .ring_bytes = 64u << 20};
    cr_assert_eq(wt_init_memory(&c), 0);
    handoff h = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, {0}, false, false};
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, finish_elsewhere, &h), 0);
    make("before", 100000); /* about 9 MiB ahead of the begin in this thread's ring */
    weft_span s = weft_span_begin_child((weft_span){0}, "handed over", WEFT_TYPE_CUSTOM);
    pthread_mutex_lock(&h.m);
    h.span = s;
    h.given = true;
    pthread_cond_signal(&h.cv);
    while (!h.done)
        pthread_cond_wait(&h.cv, &h.m);
    pthread_mutex_unlock(&h.m);
    pthread_join(th, NULL);
    make("after", 1000);
    json_t *recs = wt_records();
    json_t *r = wt_find(recs, "handed over");
    cr_assert_not_null(r);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "output"), "answer")),
                     "set on another thread");
    cr_assert_eq(wt_count(recs, "before"), 100000);
    cr_assert_eq(wt_count(recs, "after"), 1000);
    json_decref(recs);
    cr_assert_eq(weft_shutdown(5000), 0);
    weft_stats st = stats();
    cr_assert_eq(st.noop_calls, 0, "the end and the attribute found their span");
    cr_assert_eq(st.exported, 101001);
}
