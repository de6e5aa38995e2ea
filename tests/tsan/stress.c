/*
 * stress.c — the concurrency scenarios of the test suite, as one plain program, for the
 * ThreadSanitizer build. Criterion 2.4 cannot start under TSan (its BoxFort arena fails to
 * map: Snaipe/Criterion#274), so this program runs the same kind of work without it and
 * checks its results with the library's own counters and the in-memory exporter:
 * producers on several threads with spans handed between them, concurrent flushes, thread
 * churn, a ring overflowing while it is drained, rings growing while drained, init/shutdown
 * cycles, and pool threads activating spans of other threads (scopes ended in and out of order, the activated spans
 * ended on the pool thread while their home thread keeps nesting).
 * Prints "N passed, M failed"; exits non-zero on any failure.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "memory.h"
#include "weft/weft.h"

static int passed, failed;

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                              \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
            ok = 0;                                                                           \
        }                                                                                     \
    } while (0)

static void result(const char *name, int ok)
{
    printf("%s %s\n", ok ? "pass" : "FAIL", name);
    if (ok)
        passed++;
    else
        failed++;
}

static size_t exported_lines(void)
{
    weft__buf b;
    weft__buf_init(&b);
    weft__memory_snapshot(&b);
    size_t n = 0;
    for (size_t i = 0; i < b.len; i++)
        n += b.data[i] == '\n';
    weft__buf_fini(&b);
    return n;
}

static int init_ring(uint64_t ring, uint64_t ring_max)
{
    weft_config c = {.exporters = "memory", .no_atexit = true, .flush_interval_ms = 5, .ring_bytes = ring,
                     .ring_max_bytes = ring_max};
    return weft_init(&c);
}

/* ring 0: the default size; the ring may grow to the default ceiling. */
static int init_memory(uint64_t ring) { return init_ring(ring, 0); }

/* ---- producers handing spans to each other ------------------------------------------ */

#define HAND 4096
static _Atomic uint64_t handed_ids[HAND];
static weft_span handed[HAND];
static _Atomic int handed_n;
static _Atomic int producers_done;

static void *producer(void *p)
{
    int n = *(int *)p;
    for (int i = 0; i < n; i++) {
        weft_span a = weft_span_begin("outer", WEFT_TYPE_AGENT_WORKFLOW);
        weft_span_set_str(a, WEFT_INPUT, "q", "why?");
        weft_span b = weft_span_begin("inner", WEFT_TYPE_COMPLETION);
        weft_span_set_i64(b, WEFT_OUTPUT, "tokens", i);
        weft_span_end(b);
        if (i % 8 == 0) {
            int k = atomic_fetch_add(&handed_n, 1);
            if (k < HAND) {
                handed[k] = weft_span_begin_child(a, "handed", WEFT_TYPE_CODE_EXECUTION);
                atomic_store_explicit(&handed_ids[k], 1, memory_order_release);
            }
        }
        weft_span_end(a);
    }
    atomic_fetch_add(&producers_done, 1);
    return NULL;
}

static void *ender(void *p)
{
    int nprod = *(int *)p, k = 0;
    for (;;) {
        if (k < HAND && atomic_load_explicit(&handed_ids[k], memory_order_acquire)) {
            weft_span_set_str(handed[k], WEFT_METADATA, "ended_by", "ender");
            weft_span_end(handed[k]);
            k++;
            continue;
        }
        if (atomic_load(&producers_done) == nprod && k >= atomic_load(&handed_n))
            break;
        if (k >= HAND)
            break;
        sched_yield(); /* nothing handed yet: leave the core to the producers */
    }
    return NULL;
}

static void *flusher(void *p)
{
    (void)p;
    while (atomic_load(&producers_done) < 4)
        weft_flush(1000);
    return NULL;
}

static void handoff(void)
{
    int ok = 1, n = 5000, nprod = 4;
    /* 64 MiB rings: under TSan the export thread is ~10x slower; this scenario checks
     * ordering and accounting, not overflow (the next ones do). */
    CHECK(init_memory(64u << 20) == 0, "init");
    pthread_t t[6];
    for (int i = 0; i < nprod; i++)
        pthread_create(&t[i], NULL, producer, &n);
    pthread_create(&t[4], NULL, ender, &nprod);
    pthread_create(&t[5], NULL, flusher, NULL);
    for (int i = 0; i < 6; i++)
        pthread_join(t[i], NULL);
    CHECK(weft_shutdown(10000) == 0, "shutdown");
    weft_stats st;
    weft_get_stats(&st);
    size_t want = (size_t)nprod * n * 2 + (size_t)atomic_load(&handed_n);
    CHECK(st.exported == want, "exported %llu, want %zu", (unsigned long long)st.exported, want);
    CHECK(exported_lines() == want, "lines %zu, want %zu", exported_lines(), want);
    CHECK(st.dropped_ring == 0 && st.internal_errors == 0, "drops %llu", (unsigned long long)st.dropped_ring);
    result("spans handed between threads, flushed concurrently", ok);
}

/* ---- thread churn ------------------------------------------------------------------- */

static void *short_lived(void *p)
{
    (void)p;
    for (int i = 0; i < 5; i++) {
        weft_span s = weft_span_begin("churn", WEFT_TYPE_CUSTOM);
        weft_span_end(s);
    }
    return NULL;
}

static void churn(void)
{
    int ok = 1;
    CHECK(init_memory(0) == 0, "init");
    for (int round = 0; round < 40; round++) {
        pthread_t t[8];
        for (int k = 0; k < 8; k++)
            pthread_create(&t[k], NULL, short_lived, NULL);
        for (int k = 0; k < 8; k++)
            pthread_join(t[k], NULL);
    }
    CHECK(weft_shutdown(10000) == 0, "shutdown");
    weft_stats st;
    weft_get_stats(&st);
    CHECK(st.exported == 40 * 8 * 5, "exported %llu", (unsigned long long)st.exported);
    result("short-lived threads register, exit and are recycled", ok);
}

/* ---- overflow while draining -------------------------------------------------------- */

static void *burst(void *p)
{
    (void)p;
    for (int i = 0; i < 20000; i++) {
        weft_span s = weft_span_begin("burst", WEFT_TYPE_CUSTOM);
        weft_span_set_str(s, WEFT_INPUT, "payload", "0123456789abcdef0123456789abcdef");
        weft_span_end(s);
    }
    return NULL;
}

static void overflow(void)
{
    int ok = 1;
    CHECK(init_ring(4096, 4096) == 0, "init"); /* the ceiling is the ring: it overflows */
    pthread_t t[2];
    for (int k = 0; k < 2; k++)
        pthread_create(&t[k], NULL, burst, NULL);
    for (int k = 0; k < 2; k++)
        pthread_join(t[k], NULL);
    int rc = weft_shutdown(10000);
    weft_stats st;
    weft_get_stats(&st);
    /* Spans lost in the rings make shutdown report WEFT_EEXPORT. */
    CHECK(rc == (st.dropped_ring_spans ? WEFT_EEXPORT : 0), "shutdown %d", rc);
    CHECK(st.internal_errors == 0, "internal errors");
    CHECK(st.started == 40000, "started %llu", (unsigned long long)st.started);
    CHECK(exported_lines() >= st.exported, "lines");
    result("small rings overflow while the export thread drains them", ok);
}

/* ---- rings growing while drained ----------------------------------------------------- */

static void grow(void)
{
    int ok = 1;
    /* 4 KiB rings that may grow to 1 MiB: SWITCH events are written while the export thread
     * reads the buffers they leave and unmaps them. */
    CHECK(init_ring(4096, 1u << 20) == 0, "init");
    pthread_t t[3];
    for (int k = 0; k < 3; k++)
        pthread_create(&t[k], NULL, burst, NULL);
    for (int k = 0; k < 3; k++)
        pthread_join(t[k], NULL);
    int rc = weft_shutdown(30000);
    weft_stats st;
    weft_get_stats(&st);
    CHECK(st.ring_grown > 0, "no ring grew");
    CHECK(rc == (st.dropped_ring_spans ? WEFT_EEXPORT : 0), "shutdown %d", rc);
    CHECK(st.internal_errors == 0, "internal errors");
    CHECK(st.started == 60000, "started %llu", (unsigned long long)st.started);
    CHECK(st.exported + st.dropped_ring_spans == st.started, "exported %llu + lost %llu",
          (unsigned long long)st.exported, (unsigned long long)st.dropped_ring_spans);
    result("rings grow while the export thread drains them", ok);
}

static void cycles(void)
{
    int ok = 1;
    for (int i = 0; i < 20; i++) {
        CHECK(init_memory(0) == 0, "init %d", i);
        pthread_t t;
        pthread_create(&t, NULL, short_lived, NULL);
        weft_span s = weft_span_begin("cycle", WEFT_TYPE_CUSTOM);
        weft_span_end(s);
        pthread_join(t, NULL);
        CHECK(weft_shutdown(10000) == 0, "shutdown %d", i);
        weft_stats st;
        weft_get_stats(&st);
        CHECK(st.exported == 6, "cycle %d exported %llu", i, (unsigned long long)st.exported);
    }
    result("init and shutdown cycles with a live producer thread", ok);
}

/* ---- pool threads activating other threads' spans ------------------------------------ */

#define JOBS 2000
typedef struct job {
    weft_span span;
    int end_here; /* the pool thread ends the span (its home thread does not) */
} job;

static job jobs[2 * JOBS];
static int jobs_in, jobs_out, requesters_done;
static pthread_mutex_t jobs_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic uint64_t out_of_order;

static void *requester(void *p)
{
    (void)p;
    for (int i = 0; i < JOBS; i++) {
        weft_span r = weft_span_begin("request", WEFT_TYPE_TRACER);
        pthread_mutex_lock(&jobs_lock);
        jobs[jobs_in].span = r;
        jobs[jobs_in].end_here = i & 1;
        jobs_in++;
        pthread_mutex_unlock(&jobs_lock);
        if (!(i & 1))
            weft_span_end(r); /* may race with the pool thread's activate: allowed */
        if (i % 64 == 0)
            sched_yield();
    }
    pthread_mutex_lock(&jobs_lock);
    requesters_done++;
    pthread_mutex_unlock(&jobs_lock);
    return NULL;
}

static void *pool(void *p)
{
    (void)p;
    for (uint64_t k = 0;; k++) {
        pthread_mutex_lock(&jobs_lock);
        int done = requesters_done == 2 && jobs_out == jobs_in;
        job j = {{0, 0, 0, 0, 0}, 0};
        int have = jobs_out < jobs_in;
        if (have)
            j = jobs[jobs_out++];
        pthread_mutex_unlock(&jobs_lock);
        if (done)
            return NULL;
        if (!have) {
            sched_yield();
            continue;
        }
        weft_scope sc = weft_span_activate(j.span);
        weft_span a = weft_span_begin("pool work", WEFT_TYPE_CUSTOM);
        weft_scope inner = weft_span_activate(a);
        weft_span b = weft_span_begin("pool inner", WEFT_TYPE_CUSTOM);
        if (k % 3 == 0) {
            weft_scope_end(sc); /* out of order: a counted no-op */
            atomic_fetch_add(&out_of_order, 1);
        }
        weft_span_end(b);
        weft_scope_end(inner);
        weft_span_end(a);
        weft_scope_end(sc);
        if (j.end_here)
            weft_span_end(j.span); /* ends on the pool thread, marks the home stack */
    }
}

static void activate_across_threads(void)
{
    int ok = 1;
    CHECK(init_memory(64u << 20) == 0, "init");
    pthread_t t[4];
    pthread_create(&t[0], NULL, requester, NULL);
    pthread_create(&t[1], NULL, requester, NULL);
    pthread_create(&t[2], NULL, pool, NULL);
    pthread_create(&t[3], NULL, pool, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK(weft_shutdown(10000) == 0, "shutdown");
    weft_stats st;
    weft_get_stats(&st);
    size_t want = 2 * JOBS * 3; /* each request, its pool work and pool inner */
    CHECK(st.exported == want, "exported %llu, want %zu", (unsigned long long)st.exported, want);
    CHECK(st.noop_calls == atomic_load(&out_of_order), "noop %llu, out-of-order ends %llu",
          (unsigned long long)st.noop_calls, (unsigned long long)atomic_load(&out_of_order));
    CHECK(st.dropped_ring == 0 && st.internal_errors == 0, "drops %llu", (unsigned long long)st.dropped_ring);
    result("pool threads activate other threads' spans, scopes end in and out of order", ok);
}

int main(void)
{
    activate_across_threads();
    handoff();
    churn();
    overflow();
    grow();
    cycles();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
