/*
 * stress.c — the concurrency scenarios of the test suite, as one plain program, for the
 * ThreadSanitizer build. Criterion 2.4 cannot start under TSan (its BoxFort arena fails to
 * map: Snaipe/Criterion#274), so this program runs the same kind of work without it and
 * checks its results with the library's own counters and the in-memory exporter:
 * producers on several threads with spans handed between them, concurrent flushes, thread
 * churn, a ring overflowing while it is drained, rings growing while drained, init/shutdown
 * cycles, and pool threads activating spans of other threads (scopes ended in and out of order, the activated spans
 * ended on the pool thread while their home thread keeps nesting), and sampled-out spans ended on
 * other threads (some exiting at once) while their owners begin and end inline.
 * Prints "N passed, M failed"; exits non-zero on any failure.
 */
#include <pthread.h>
#include <stdint.h>
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

/* ---- sampled-out spans ended on other threads while their owners go on inline ---------- */

/* Owner threads alternate kept and sampled-out traces (a sampled-out one is begun from a
 * traceparent that says "not sampled"); each trace's child span c is either ended by its owner
 * or handed to ender threads, some of which exit as soon as they have ended one or two. While
 * a handed c is open, its owner keeps beginning and ending spans under it inline (the quiet
 * region, weft/quiet.h); each owner exits with its last c still handed, so enders that start
 * later may take over the owner's slot and state. Exact checks: no no-op counted, every kept
 * span exported once under the right parent, nothing of a sampled-out trace exported. */

#define Q_OWNERS 4
#define Q_ITERS 600
#define Q_INNER 4
#define Q_PER_ITER (2 + 2 * Q_INNER) /* root, c and Q_INNER pairs x, y */

typedef struct q_span {
    weft_ids ids, parent, alt; /* alt: a second allowed parent (x under c or, once c ended, root) */
    int kept, has_parent, has_alt;
} q_span;

static q_span q_spans[Q_OWNERS][Q_ITERS * Q_PER_ITER];
static weft_span q_queue[Q_OWNERS * Q_ITERS];
static _Atomic int q_ended[Q_OWNERS * Q_ITERS]; /* 1: the ender has ended queue entry k */
static int q_in, q_out;
static int q_head_sampling; /* 1: roots sampled by sample_ratio 0.5 (the last one still not) */
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic int q_owners_done;

static void q_note(q_span *r, weft_span s, const weft_span *parent, const weft_span *alt, int kept)
{
    weft_span_get_ids(s, &r->ids);
    r->kept = kept;
    r->has_parent = parent != NULL;
    r->has_alt = alt != NULL;
    if (parent)
        weft_span_get_ids(*parent, &r->parent);
    if (alt)
        weft_span_get_ids(*alt, &r->alt);
}

static void *q_owner(void *p)
{
    int o = (int)(intptr_t)p, nrec = 0;
    for (int i = 0; i < Q_ITERS; i++) {
        int kept = !(i & 1);
        weft_span root;
        if (q_head_sampling && i < Q_ITERS - 1) {
            /* Head sampling decides; a dropped root begins inline (weft__quiet_root_). */
            root = weft_span_begin("root", WEFT_TYPE_AGENT_WORKFLOW);
            kept = weft_span_is_valid(root);
        } else if (kept) {
            root = weft_span_begin("root", WEFT_TYPE_AGENT_WORKFLOW);
        } else {
            char tp[64];
            snprintf(tp, sizeof tp, "00-%016llx%016llx-%016llx-00", 0x1000ull + (unsigned long long)o,
                     (unsigned long long)i + 1, (unsigned long long)i + 7);
            root = weft_span_begin_remote(tp, NULL, "root", WEFT_TYPE_AGENT_WORKFLOW);
        }
        q_note(&q_spans[o][nrec++], root, NULL, NULL, kept);
        weft_span c = weft_span_begin("child", WEFT_TYPE_CODE_EXECUTION);
        q_note(&q_spans[o][nrec++], c, &root, NULL, kept);
        int hand = (i % 4) < 2 || i == Q_ITERS - 1, k = -1;
        if (hand) {
            pthread_mutex_lock(&q_lock);
            k = q_in++;
            q_queue[k] = c;
            pthread_mutex_unlock(&q_lock);
        }
        for (int j = 0; j < Q_INNER; j++) {
            weft_span x = weft_span_begin("x", WEFT_TYPE_CUSTOM);
            weft_span y = weft_span_begin("y", WEFT_TYPE_CUSTOM);
            /* Under c, or under root once the ender has ended c. */
            q_note(&q_spans[o][nrec++], x, &c, hand ? &root : NULL, kept);
            q_note(&q_spans[o][nrec++], y, &x, NULL, kept);
            weft_span_end(y);
            weft_span_end(x);
        }
        if (!hand)
            weft_span_end(c);
        if (i == Q_ITERS - 1)
            break; /* exit with c still handed, its trace open: the ender finishes it */
        if (i % 8 == 1)
            weft_span_end(root); /* before the ender ends c: out of order, allowed */
        while (hand && !atomic_load_explicit(&q_ended[k], memory_order_relaxed))
            sched_yield();
        if (i % 8 != 1)
            weft_span_end(root);
    }
    atomic_fetch_add(&q_owners_done, 1);
    return NULL;
}

/* Ends up to `max` handed spans (INT32_MAX: until every owner is done), then returns. */
static void *q_ender(void *p)
{
    int max = (int)(intptr_t)p, n = 0;
    while (n < max) {
        pthread_mutex_lock(&q_lock);
        int k = q_out < q_in ? q_out++ : -1;
        int done = k < 0 && atomic_load(&q_owners_done) == Q_OWNERS && q_out == q_in;
        pthread_mutex_unlock(&q_lock);
        if (done)
            break;
        if (k < 0) {
            sched_yield();
            continue;
        }
        weft_span_end(q_queue[k]);
        atomic_store_explicit(&q_ended[k], 1, memory_order_relaxed);
        n++;
    }
    return NULL;
}

/* Starts short-lived enders, one after another, until everything handed has ended. */
static void *q_spawner(void *p)
{
    (void)p;
    for (int r = 0;; r++) {
        pthread_t t;
        pthread_create(&t, NULL, q_ender, (void *)(intptr_t)(1 + r % 2));
        pthread_join(t, NULL);
        pthread_mutex_lock(&q_lock);
        int done = atomic_load(&q_owners_done) == Q_OWNERS && q_out == q_in;
        pthread_mutex_unlock(&q_lock);
        if (done)
            return NULL;
    }
}

typedef struct q_line {
    char id[37], parent[37];
    int seen;
} q_line;

static int q_cmp(const void *a, const void *b) { return strcmp(((const q_line *)a)->id, ((const q_line *)b)->id); }

static void sampled_out_ended_elsewhere(int head_sampling)
{
    int ok = 1;
    q_in = q_out = 0;
    q_head_sampling = head_sampling;
    atomic_store(&q_owners_done, 0);
    memset(q_ended, 0, sizeof q_ended);
    weft_config c = {.exporters = "memory", .no_atexit = true, .flush_interval_ms = 5,
                     .ring_bytes = 64u << 20, .sample_ratio = head_sampling ? 0.5 : 1.0};
    CHECK(weft_init(&c) == 0, "init");
    pthread_t own[Q_OWNERS], long_ender, spawner;
    pthread_create(&long_ender, NULL, q_ender, (void *)(intptr_t)INT32_MAX);
    pthread_create(&spawner, NULL, q_spawner, NULL);
    for (int o = 0; o < Q_OWNERS; o++)
        pthread_create(&own[o], NULL, q_owner, (void *)(intptr_t)o);
    for (int o = 0; o < Q_OWNERS; o++)
        pthread_join(own[o], NULL);
    pthread_join(spawner, NULL);
    pthread_join(long_ender, NULL);
    CHECK(weft_flush(10000) == 0, "flush");
    weft_stats st;
    weft_get_stats(&st);
    size_t want = 0; /* every span of a kept trace (half of them without head sampling) */
    for (int o = 0; o < Q_OWNERS; o++)
        for (int r = 0; r < Q_ITERS * Q_PER_ITER; r++)
            want += q_spans[o][r].kept && q_spans[o][r].ids.span_id[0];
    if (!head_sampling)
        CHECK(want == (size_t)Q_OWNERS * (Q_ITERS / 2) * Q_PER_ITER, "kept %zu", want);
    /* weft_flush: every span ended before the call is exported (ends on enders' rings too). */
    CHECK(st.open_spans == 0, "open spans %llu after flush", (unsigned long long)st.open_spans);
    CHECK(st.exported == want, "exported %llu after flush, want %zu", (unsigned long long)st.exported, want);
    CHECK(weft_shutdown(10000) == 0, "shutdown");
    weft_get_stats(&st);
    CHECK(st.noop_calls == 0, "noop %llu, no misuse made", (unsigned long long)st.noop_calls);
    CHECK(st.exported == want, "exported %llu, want %zu", (unsigned long long)st.exported, want);
    CHECK(st.dropped_ring == 0 && st.internal_errors == 0, "drops %llu, internal errors %llu",
          (unsigned long long)st.dropped_ring, (unsigned long long)st.internal_errors);
    /* Every exported line by its id and parent id. */
    weft__buf b;
    weft__buf_init(&b);
    weft__memory_snapshot(&b);
    size_t n = 0, cap = want + 16;
    q_line *lines = calloc(cap, sizeof *lines);
    for (char *l = b.data, *end = b.data + b.len; l < end && n < cap;) {
        char *nl = memchr(l, '\n', (size_t)(end - l));
        if (!nl)
            nl = end;
        if (strncmp(l, "{\"id\":\"", 7) == 0 && nl - l > 44) {
            memcpy(lines[n].id, l + 7, 36);
            const char *pp = strstr(l, "\"parent_id\":\"");
            if (pp && pp < nl && pp - l < 200)
                memcpy(lines[n].parent, pp + 13, 36);
            n++;
        }
        l = nl + 1;
    }
    CHECK(n == want, "%zu exported lines, want %zu", n, want);
    qsort(lines, n, sizeof *lines, q_cmp);
    size_t bad_parent = 0, missing = 0, twice = 0, leaked = 0;
    for (int o = 0; o < Q_OWNERS; o++)
        for (int r = 0; r < Q_ITERS * Q_PER_ITER; r++) {
            const q_span *s = &q_spans[o][r];
            if (!s->ids.span_id[0])
                continue; /* past the last iteration */
            q_line key;
            memcpy(key.id, s->ids.span_id, 37);
            q_line *hit = bsearch(&key, lines, n, sizeof *lines, q_cmp);
            if (!s->kept) {
                leaked += hit != NULL;
                continue;
            }
            if (!hit) {
                missing++;
                continue;
            }
            twice += hit->seen++ > 0;
            int good = s->has_parent ? strcmp(hit->parent, s->parent.span_id) == 0 ||
                                           (s->has_alt && strcmp(hit->parent, s->alt.span_id) == 0)
                                     : hit->parent[0] == 0;
            bad_parent += !good;
        }
    for (size_t i = 1; i < n; i++)
        twice += strcmp(lines[i - 1].id, lines[i].id) == 0;
    CHECK(missing == 0 && twice == 0, "%zu kept spans missing, %zu exported twice", missing, twice);
    CHECK(bad_parent == 0, "%zu kept spans under the wrong parent", bad_parent);
    CHECK(leaked == 0, "%zu spans of sampled-out traces exported", leaked);
    free(lines);
    weft__buf_fini(&b);
    memset(q_spans, 0, sizeof q_spans);
    result(head_sampling ? "the same with head sampling: dropped roots begun inline"
                         : "sampled-out spans ended on other threads (some exiting) while their owners go on inline",
           ok);
}

/* No argument: every scenario. "quiet": only the quiet-region one (to repeat it alone). */
int main(int argc, char **argv)
{
    sampled_out_ended_elsewhere(0);
    sampled_out_ended_elsewhere(1);
    if (argc > 1 && strcmp(argv[1], "quiet") == 0) {
        printf("%d passed, %d failed\n", passed, failed);
        return failed ? 1 : 0;
    }
    activate_across_threads();
    handoff();
    churn();
    overflow();
    grow();
    cycles();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
