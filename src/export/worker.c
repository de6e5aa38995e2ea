/*
 * worker.c — the export thread (see worker.h). Owns the libuv loop and its handles, the
 * assembler, the batch being filled, the list of batches exporters still hold, and the
 * exporters themselves. Everything here runs on the loop thread except the start/flush/stop
 * entry points, which talk to it through `lock`/`cond` and one uv_async.
 *
 * Wake-ups: a timer every flush_interval_ms (drain, in-progress upserts, send the batch in
 * hand, top up the ready thread states of thread.c), the uv_async on ring high water (half of
 * a ring's initial size: a ring grows past it, ring.h), weft_flush and shutdown.
 *
 * Draining in slices: a round reads at most SLICE_BYTES from each ring (assembler.h says why
 * that is enough for the order of events across rings), so what one round holds in the
 * assembler is bounded whatever the rings hold. While a ring still has more than one slice,
 * rounds follow each other for at most PUMP_NS, then the loop runs its I/O once (an idle
 * handle brings it back at once), so a deep backlog neither grows the working set nor stalls
 * HTTP delivery. A flush waits for rounds, not for one long pass: it is done when every ring
 * has been read past the head it had when the flush began, and one round more.
 */
#include "worker.h"

#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "assembler.h"
#include "batch.h"
#include "clock.h"
#include "encoding.h"
#include "exporter.h"
#include "json.h"
#include "registry.h"
#include "runtime.h"
#include "thread.h"
#include "wake.h"

#define DRAIN_POLL_MS 5 /* shutdown: how often exporters are asked whether they are done */
#define SLICE_BYTES (128u << 10) /* most read from one ring in one round */
#define PUMP_NS 5000000u         /* rounds in a row before the loop runs its I/O */

/* How far one ring has been read (per slot; see round_). The ring has been read past a head
 * it had in round `caught`; `target` is the head of round `target_round` still to reach. */
typedef struct ring_progress { /* target_round 0: no target (rounds start at 1) */
    uint64_t target, target_round, caught;
} ring_progress;

typedef struct weft__worker {
    uv_loop_t loop;
    uv_async_t async;
    weft__wake_target wake;     /* what the producer side's weft__wake calls (wake.h) */
    uv_timer_t timer, drain_timer;
    uv_timer_t ready_timer;     /* looks for ready thread states taken ("ready states" below) */
    uint64_t ready_seen_ms;     /* loop time ready_timer last saw a state taken */
    uv_idle_t more;             /* running while a ring holds more than a slice */
    ring_progress *prog;        /* n_slots entries */
    weft__asm_frontier front;   /* after the last round */
    bool behind;                /* the last round left a ring with more to read */
    int flush_stage;            /* 0; 1: reading past the heads of flush_round; 2: one round more */
    uint64_t flush_round;
    uint64_t flush_req_cur;     /* the request the stages serve */
    uv_thread_t thread;
    weft__clock clock;
    weft__asm asm_;
    weft__encode_opts enc;
    weft__exporter ex[WEFT__MAX_EXPORTERS];
    size_t n_ex;
    bool want_inprogress;
    unsigned enc_mask;          /* encodings the opened exporters read (bit per weft__encoding) */
    weft__batch *cur;           /* batch being filled */
    weft__batch *spare[4];      /* released batches kept for reuse */
    size_t n_spare;
    weft__ts_cache ts;          /* the encoder's timestamp cache */
    weft__id_cache ids;         /* the encoder's trace and parent UUID text */
    weft__summary_cache summ;   /* the encoder's last trace summary text */
    weft__batch *live_head, *live_tail; /* submitted, still held by an exporter; seq order */
    uint64_t next_seq;
    /* Handshake with application threads. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    uint64_t flush_req;         /* flush requests made */
    uint64_t flush_taken;       /* requests the loop has acted on */
    uint64_t flush_done;        /* requests whose batches have all been released */
    uint64_t flush_target;      /* last batch seq the taken requests wait for */
    bool flush_pending;
    bool stop;
    uint32_t stop_timeout_ms;
    uint64_t stop_deadline;
    int stop_result;
    bool stopped;               /* the loop thread has finished */
    bool draining;
    /* fork(): the forking thread asks the loop thread to park (see "fork" below). */
    int fork_state;             /* FORK_NONE, FORK_ASKED, FORK_PARKED; under lock */
    pthread_cond_t fork_cond;
} weft__worker;

enum { FORK_NONE, FORK_ASKED, FORK_PARKED };
#define FORK_PARK_WAIT_MS 1000 /* longest a fork() waits for the loop thread to park */

/* ---- batches ------------------------------------------------------------------------ */

static void check_flush(weft__worker *w);

static void submit(weft__worker *w)
{
    weft__batch *b = w->cur;
    if (!b || b->n == 0)
        return;
    w->cur = NULL;
    b->seq = ++w->next_seq;
    b->refs = (int)w->n_ex;
    b->next = NULL;
    if (w->live_tail)
        w->live_tail->next = b;
    else
        w->live_head = b;
    w->live_tail = b;
    weft__stat_add(batches, 1);
    if (w->n_ex == 0) {
        b->refs = 1;
        weft__batch_done(b, 0);
        return;
    }
    size_t n = w->n_ex;
    for (size_t i = 0; i < n; i++)
        w->ex[i].ops->submit(&w->ex[i], b);
}

void weft__batch_done(weft__batch *b, size_t dropped_complete)
{
    weft__worker *w = weft__rt.worker;
    b->dropped += dropped_complete;
    if (--b->refs > 0)
        return;
    size_t lost = b->dropped < b->n_complete ? b->dropped : b->n_complete;
    weft__stat_add(exported, b->n_complete - lost);
    /* Unlink from the live list (usually the head: exporters finish roughly in order). */
    weft__batch **pp = &w->live_head, *prev = NULL;
    while (*pp && *pp != b) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = b->next;
        if (w->live_tail == b)
            w->live_tail = prev;
    }
    if (w->n_spare < sizeof(w->spare) / sizeof(w->spare[0])) {
        weft__batch_reset(b);
        w->spare[w->n_spare++] = b;
    } else {
        weft__batch_free(b);
    }
    check_flush(w);
}

/* Bytes of the batch's largest encoding: what max_batch_bytes limits. */
static size_t largest_encoding(const weft__worker *w, const weft__batch *b)
{
    size_t n = 0;
    for (unsigned m = w->enc_mask; m; m &= m - 1) {
        unsigned e = (unsigned)__builtin_ctz(m);
        if (b->enc[e].bytes.len > n)
            n = b->enc[e].bytes.len;
    }
    return n;
}

static void on_emit(void *ctx, weft__rec *r, bool final_open)
{
    weft__worker *w = ctx;
    bool in_progress = r->end_ns == 0;
    if (in_progress && !final_open && !w->want_inprogress)
        return;
    if (weft__rt.cfg.filter && !weft__rt.cfg.filter(weft__rt.cfg.filter_user, (weft_record *)r)) {
        if (!in_progress)
            weft__stat_add(filtered, 1);
        return;
    }
    if (!w->cur && w->n_spare)
        w->cur = w->spare[--w->n_spare];
    if (!w->cur && !(w->cur = weft__batch_new(w->enc_mask))) {
        weft__stat_add(dropped_export, 1);
        return;
    }
    weft__batch *b = w->cur;
    /* Once per encoding in use (the set bits of enc_mask, lowest first); exporters reading
     * the same encoding share the bytes. Repairs are counted once a record, from its first
     * encoding. */
    bool first = true;
    for (unsigned m = w->enc_mask; m; m &= m - 1, first = false) {
        unsigned e = (unsigned)__builtin_ctz(m);
        weft__buf *out = &b->enc[e].bytes;
        unsigned f = weft__encodings[e].encode(out, r, &w->enc);
        if (__builtin_expect(out->oom, 0)) {
            /* Take back this record's bytes from every encoding written so far. */
            for (unsigned k = w->enc_mask; k; k &= k - 1) {
                unsigned x = (unsigned)__builtin_ctz(k);
                b->enc[x].bytes.len = b->enc[x].off[b->n];
                b->enc[x].bytes.oom = false;
                if (x == e)
                    break;
            }
            weft__stat_add(dropped_export, 1);
            return;
        }
        if ((f & WEFT__JSON_REPAIRED) && first)
            weft__stat_add(repaired_utf8, 1);
    }
    weft__batch_item it = {r->trace, r->id,     r->parent,   r->start_ns,
                           r->end_ns, r->type, r->status, in_progress, final_open};
    if (!weft__batch_push(b, &it)) {
        weft__stat_add(dropped_export, 1);
        return;
    }
    if (in_progress && !final_open)
        weft__stat_add(inprogress_sent, 1);
    if (b->n >= weft__rt.cfg.max_batch_spans || largest_encoding(w, b) >= weft__rt.cfg.max_batch_bytes)
        submit(w);
}

/* ---- draining ----------------------------------------------------------------------- */

static uint64_t now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Folds one ring's progress into the frontier of this round. */
static void front_add(weft__asm_frontier *f, uint64_t caught, uint32_t src)
{
    if (caught < f->min) {
        f->min2 = f->min;
        f->min = caught;
        f->min_src = src;
    } else if (caught < f->min2) {
        f->min2 = caught;
    }
}

/* One round: every ring read up to a slice (see assembler.h for why work comes in rounds).
 * A ring's progress moves on when its tail passes the head it had in an earlier round; an
 * empty slot has nothing to wait for. */
static void round_(weft__worker *w)
{
    uint64_t k = w->asm_.round;
    weft__asm_frontier f = {UINT64_MAX, UINT64_MAX, UINT32_MAX};
    bool behind = false;
    uint32_t hi = atomic_load_explicit(&weft__rt.slots_hi, memory_order_acquire);
    uint64_t now = uv_hrtime();
    for (uint32_t i = 0; i < hi; i++) {
        ring_progress *p = &w->prog[i];
        weft__thread *t = atomic_load_explicit(&weft__rt.slots[i], memory_order_acquire);
        if (!t) {
            p->caught = k;
            p->target_round = 0;
            front_add(&f, k, i);
            continue;
        }
        int exited = atomic_load_explicit(&t->exited, memory_order_acquire);
        uint64_t head = atomic_load_explicit(&t->ring.head, memory_order_acquire);
        if (p->target_round == 0) {
            p->target = head;
            p->target_round = k;
        }
        weft__asm_source(&w->asm_, i);
        weft__ring_drain_max(&t->ring, weft__asm_event, &w->asm_, SLICE_BYTES);
        weft__ring_consumer_tick(&t->ring, now); /* a grown ring that kept up shrinks back */
        uint64_t tail = atomic_load_explicit(&t->ring.tail, memory_order_relaxed);
        if (tail >= p->target) {
            p->caught = p->target_round;
            p->target_round = 0;
        }
        if (tail < head) {
            behind = true;
        } else if (exited) {
            weft__threads_recycle(t); /* drained after its last event: safe to reuse */
            p->target_round = 0;      /* a new state in this slot starts from its own head */
        }
        front_add(&f, p->caught, i);
    }
    if (f.min == UINT64_MAX) /* no slot at all */
        f.min = k;
    if (f.min2 == UINT64_MAX) /* one ring: no other ring to wait for */
        f.min2 = k;
    if (f.min2 == f.min)
        f.min_src = UINT32_MAX;
    w->front = f;
    w->behind = behind;
    weft__asm_round_end_at(&w->asm_, now_unix_ns(), &f);
}

static void flush_progress(weft__worker *w);

static void on_more(uv_idle_t *h);

/* Rounds until no ring holds more than a slice (at least two, so what the first read is
 * emitted by the second), or for PUMP_NS; then the loop gets its turn and, while a ring is
 * still behind or a flush waits, the idle handle calls back at once. */
static void pump(weft__worker *w)
{
    uint64_t t0 = uv_hrtime();
    int n = 0;
    do {
        round_(w);
        flush_progress(w);
        n++;
    } while ((n < 2 || w->behind) && uv_hrtime() - t0 < PUMP_NS);
    if (w->behind || w->flush_stage)
        uv_idle_start(&w->more, on_more);
    else
        uv_idle_stop(&w->more);
}

static void on_more(uv_idle_t *h) { pump(h->data); }

/* Synchronous rounds until everything in the rings when it was called is emitted (shutdown). */
static void collect_all(weft__worker *w)
{
    uint64_t r0 = w->asm_.round;
    do
        round_(w);
    while (w->front.min < r0);
    uint64_t r1 = w->asm_.round - 1; /* the round that reached r0's heads */
    do
        round_(w);
    while (w->front.min < r1 + 1);
}

static void check_flush(weft__worker *w)
{
    if (!w->flush_pending)
        return;
    if (w->live_head && w->live_head->seq <= w->flush_target)
        return;
    pthread_mutex_lock(&w->lock);
    w->flush_done = w->flush_taken;
    w->flush_pending = false;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* A flush (weft_flush) goes through two stages of rounds (see the top of this file); at the
 * end the batch in hand is sent, the exporters are told, and the request is done once every
 * batch up to here has been released (check_flush). Requests made meanwhile are served by the
 * next cycle, which starts at once. */
static void flush_start(weft__worker *w)
{
    pthread_mutex_lock(&w->lock);
    uint64_t req = w->flush_req;
    pthread_mutex_unlock(&w->lock);
    if (w->flush_stage || req == w->flush_taken)
        return;
    w->flush_req_cur = req;
    w->flush_round = w->asm_.round;
    w->flush_stage = 1;
}

static void flush_progress(weft__worker *w)
{
    if (w->flush_stage == 1 && w->front.min >= w->flush_round) {
        w->flush_round = w->asm_.round; /* the round after the one that got there */
        w->flush_stage = 2;
    }
    if (w->flush_stage != 2 || w->front.min < w->flush_round)
        return;
    w->flush_stage = 0;
    submit(w);
    for (size_t i = 0; i < w->n_ex; i++)
        if (w->ex[i].ops->flush)
            w->ex[i].ops->flush(&w->ex[i]);
    w->flush_taken = w->flush_req_cur;
    w->flush_target = w->next_seq;
    w->flush_pending = true;
    check_flush(w);
    flush_start(w); /* requests made while this one was served */
}

static void watch_ready(weft__worker *w, bool low);

static void on_timer(uv_timer_t *t)
{
    weft__worker *w = t->data;
    weft__clock_refine(&w->clock);
    pump(w);
    submit(w);
    bool low = atomic_load_explicit(&weft__rt.ready_low, memory_order_relaxed);
    weft__threads_prepare(); /* ready states for threads about to register */
    watch_ready(w, low);
}

static void begin_drain(weft__worker *w);

static void park_for_fork(weft__worker *w);

/* Ready thread states (thread.c): a registering thread raises ready_low when it took one and
 * left fewer than the pool holds. Taking one does not wake us (a wake would cost that thread
 * more than its first span may), so we look at every wake and tick, and, once a take was seen,
 * every READY_POLL_MS until READY_POLL_IDLE_MS pass without one: threads started one after
 * another during churn each find a state made for them. Made a tick after the take is seen,
 * not at once: the taker is on its first span, and pages faulted here would contend with its
 * own for the process's memory map. */
#define READY_POLL_MS 1
#define READY_POLL_IDLE_MS 1000

static void on_ready_poll(uv_timer_t *t)
{
    weft__worker *w = t->data;
    if (w->draining) {
        uv_timer_stop(t); /* shutting down: no thread is about to register */
    } else if (atomic_load_explicit(&weft__rt.ready_low, memory_order_relaxed)) {
        weft__threads_prepare();
        w->ready_seen_ms = uv_now(&w->loop);
    } else if (uv_now(&w->loop) - w->ready_seen_ms >= READY_POLL_IDLE_MS) {
        uv_timer_stop(t); /* by the clock, not by ticks: a late loop ticks fewer times */
    }
}

/* Starts the poll when a take was seen (low) and it is not running. */
static void watch_ready(weft__worker *w, bool low)
{
    if (low && !uv_is_active((uv_handle_t *)&w->ready_timer)) {
        w->ready_seen_ms = uv_now(&w->loop);
        uv_timer_start(&w->ready_timer, on_ready_poll, READY_POLL_MS, READY_POLL_MS);
    }
}

static void on_async(uv_async_t *a)
{
    weft__worker *w = a->data;
    pthread_mutex_lock(&w->lock);
    if (w->fork_state == FORK_ASKED)
        park_for_fork(w);
    bool stop = w->stop;
    uint64_t req = w->flush_req;
    pthread_mutex_unlock(&w->lock);
    if (stop) {
        if (!w->draining)
            begin_drain(w);
        return;
    }
    if (req != w->flush_taken)
        flush_start(w);
    pump(w);
    if (w->cur && w->cur->n >= weft__rt.cfg.max_batch_spans)
        submit(w);
    watch_ready(w, atomic_load_explicit(&weft__rt.ready_low, memory_order_relaxed));
}

/* ---- fork --------------------------------------------------------------------------- *
 * A fork() child gets a copy of every lock as it stood at the fork, held or not, and only the
 * forking thread. Were the loop thread inside malloc or libuv at that moment, the child's own
 * weft_init could wait forever on a lock nobody will release (seen with AddressSanitizer's
 * allocator, which has no fork handler in GCC 12). So the forking thread asks the loop thread
 * to park in its async callback, between two pieces of work, and waits (at most
 * FORK_PARK_WAIT_MS, then forks anyway) until it has; the parent's handler lets it go on. */

/* Loop thread, with w->lock held: wait until the fork is over. */
static void park_for_fork(weft__worker *w)
{
    w->fork_state = FORK_PARKED;
    pthread_cond_broadcast(&w->fork_cond);
    while (w->fork_state == FORK_PARKED)
        pthread_cond_wait(&w->fork_cond, &w->lock);
}

static void deadline_of(struct timespec *ts, uint32_t timeout_ms);

/* The forking thread. Not when the loop thread forks itself (from an exporter or a user
 * callback): it is between two pieces of work already. */
static void on_fork_prepare(void)
{
    weft__worker *w = weft__rt.worker;
    if (!w || weft__rt.forked_child)
        return;
    uv_thread_t self = uv_thread_self();
    if (uv_thread_equal(&w->thread, &self))
        return;
    struct timespec dl;
    deadline_of(&dl, FORK_PARK_WAIT_MS);
    pthread_mutex_lock(&w->lock);
    if (!w->stopped && !w->stop) {
        w->fork_state = FORK_ASKED;
        uv_async_send(&w->async);
        while (w->fork_state == FORK_ASKED)
            if (pthread_cond_timedwait(&w->fork_cond, &w->lock, &dl) != 0)
                break;
    }
    pthread_mutex_unlock(&w->lock);
}

static void on_fork_parent(void)
{
    weft__worker *w = weft__rt.worker;
    if (!w || weft__rt.forked_child)
        return;
    pthread_mutex_lock(&w->lock);
    /* Parked, or asked and not there yet (it must not park later): go on either way. */
    w->fork_state = FORK_NONE;
    pthread_cond_broadcast(&w->fork_cond);
    pthread_mutex_unlock(&w->lock);
}

/* The child has no loop thread and needs no handler: weft__worker_stop leaves its copy of the
 * worker alone. Registered after thread.c's handlers, so this prepare runs before the registry
 * lock is taken (the loop thread may need that lock on its way to the async callback). */
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static void register_fork_handlers(void) { pthread_atfork(on_fork_prepare, on_fork_parent, NULL); }

/* ---- shutdown ----------------------------------------------------------------------- */

static void close_cb(uv_handle_t *h) { (void)h; }

static void finish(weft__worker *w)
{
    for (size_t i = 0; i < w->n_ex; i++)
        w->ex[i].ops->close(&w->ex[i]);
    w->n_ex = 0;
    /* Batches nobody released any more (an exporter failed to) are freed here. */
    while (w->live_head) {
        weft__batch *b = w->live_head;
        w->live_head = b->next;
        weft__batch_free(b);
    }
    w->live_tail = NULL;
    uv_close((uv_handle_t *)&w->async, close_cb);
    uv_close((uv_handle_t *)&w->timer, close_cb);
    uv_close((uv_handle_t *)&w->drain_timer, close_cb);
    uv_close((uv_handle_t *)&w->ready_timer, close_cb);
    uv_close((uv_handle_t *)&w->more, close_cb);
}

static void on_drain_tick(uv_timer_t *t)
{
    weft__worker *w = t->data;
    bool done = true;
    for (size_t i = 0; i < w->n_ex; i++)
        if (!w->ex[i].ops->drain(&w->ex[i], w->stop_deadline))
            done = false;
    if (!done && uv_now(&w->loop) < w->stop_deadline)
        return;
    if (!done) {
        /* Past the deadline: drain() must finish at once now; ask once more. */
        for (size_t i = 0; i < w->n_ex; i++)
            w->ex[i].ops->drain(&w->ex[i], 0);
    }
    uv_timer_stop(t);
    w->stop_result = done ? 0 : WEFT_ETIMEDOUT;
    finish(w);
}

static void begin_drain(weft__worker *w)
{
    w->draining = true;
    uv_timer_stop(&w->timer);
    uv_idle_stop(&w->more);
    collect_all(w);
    weft__asm_finish(&w->asm_);
    submit(w);
    w->stop_deadline = uv_now(&w->loop) + (w->stop_timeout_ms ? w->stop_timeout_ms : UINT32_MAX);
    uv_timer_start(&w->drain_timer, on_drain_tick, 0, DRAIN_POLL_MS);
}

static void thread_main(void *arg)
{
    weft__worker *w = arg;
    /* libcurl runs with CURLOPT_NOSIGNAL, so a TLS write to a closed peer may raise SIGPIPE
     * on this thread (libcurl-thread(3)); it must never kill the host program. */
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    weft__threads_prepare();
    uv_run(&w->loop, UV_RUN_DEFAULT);
    pthread_mutex_lock(&w->lock);
    w->stopped = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

/* ---- entry points (application threads) -------------------------------------------- */

static void wake_fn(weft__wake_target *t)
{
    weft__worker *w = (weft__worker *)((char *)t - offsetof(weft__worker, wake));
    uv_async_send(&w->async);
}

static int open_exporters(weft__worker *w)
{
    const weft__exporter_ops *sel[WEFT__MAX_EXPORTERS];
    const char *bad;
    size_t bad_len;
    /* The configuration was checked against the registry when it was loaded. */
    int n = weft__exporters_select(weft__rt.cfg.exporters, sel, &bad, &bad_len);
    for (int k = 0; k < n; k++) {
        weft__exporter *ex = &w->ex[w->n_ex];
        ex->ops = sel[k];
        ex->rt = &weft__rt;
        ex->loop = &w->loop;
        ex->state = NULL;
        int rc = ex->ops->open(ex);
        if (rc < 0) {
            weft__log(WEFT_LOG_ERROR, "exporter %s could not open: %s", ex->ops->name, weft_strerror(rc));
            return rc;
        }
        w->n_ex++;
        w->enc_mask |= 1u << ex->ops->encoding;
        if (ex->ops->wants_inprogress)
            w->want_inprogress = true;
    }
    return 0;
}

static void worker_free(weft__worker *w)
{
    weft__asm_fini(&w->asm_);
    free(w->prog);
    weft__batch_free(w->cur);
    while (w->n_spare)
        weft__batch_free(w->spare[--w->n_spare]);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    pthread_cond_destroy(&w->fork_cond);
    free(w);
}

int weft__worker_start(void)
{
    pthread_once(&fork_once, register_fork_handlers);
    weft__worker *w = calloc(1, sizeof(*w));
    if (!w)
        return WEFT_ENOMEM;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    pthread_cond_init(&w->fork_cond, NULL);
    weft__clock_init(&w->clock);
    weft__rt.hot.use_tsc = w->clock.use_tsc;
    w->enc.salt = weft__rt.salt_hi;
    w->enc.ts = &w->ts;
    w->enc.ids = &w->ids;
    w->enc.summary = &w->summ;
    w->enc.group_id = weft__rt.cfg.group_id;
    w->enc.variant_id = weft__rt.cfg.variant_id;
    w->enc.interaction_id = weft__rt.cfg.interaction_id;
    w->prog = calloc(weft__rt.n_slots ? weft__rt.n_slots : 1, sizeof(*w->prog));
    int rc = w->prog ? weft__asm_init(&w->asm_, &w->clock, on_emit, w) : WEFT_ENOMEM;
    if (rc < 0) {
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cond);
        pthread_cond_destroy(&w->fork_cond);
        free(w->prog);
        free(w);
        return rc;
    }
    if (uv_loop_init(&w->loop) != 0) {
        worker_free(w);
        return WEFT_ENOMEM;
    }
    uv_async_init(&w->loop, &w->async, on_async);
    uv_timer_init(&w->loop, &w->timer);
    uv_timer_init(&w->loop, &w->drain_timer);
    uv_timer_init(&w->loop, &w->ready_timer);
    uv_idle_init(&w->loop, &w->more);
    w->async.data = w->timer.data = w->drain_timer.data = w->ready_timer.data = w->more.data = w;
    rc = open_exporters(w);
    w->asm_.want_inprogress = w->want_inprogress;
    if (rc < 0) {
        finish(w);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
        worker_free(w);
        return rc;
    }
    uint32_t iv = weft__rt.cfg.flush_interval_ms;
    uv_timer_start(&w->timer, on_timer, iv, iv);
    weft__rt.worker = w;
    w->wake.fn = wake_fn;
    weft__wake_set(&w->wake);
    if (uv_thread_create(&w->thread, thread_main, w) != 0) {
        weft__rt.worker = NULL;
        weft__wake_set(NULL);
        finish(w);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
        worker_free(w);
        return WEFT_ETHREAD;
    }
    return 0;
}

static void deadline_of(struct timespec *ts, uint32_t timeout_ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int weft__worker_flush(uint32_t timeout_ms)
{
    weft__worker *w = weft__rt.worker;
    if (!w)
        return WEFT_ENOTINIT;
    uint64_t lost0 = weft__stat_get(dropped_export) + weft__stat_get(dropped_queue);
    struct timespec dl;
    deadline_of(&dl, timeout_ms);
    pthread_mutex_lock(&w->lock);
    uint64_t my = ++w->flush_req;
    pthread_mutex_unlock(&w->lock);
    uv_async_send(&w->async);
    pthread_mutex_lock(&w->lock);
    int rc = 0;
    while (w->flush_done < my && !w->stopped) {
        if (timeout_ms == 0) {
            pthread_cond_wait(&w->cond, &w->lock);
        } else if (pthread_cond_timedwait(&w->cond, &w->lock, &dl) != 0) {
            rc = w->flush_done < my ? WEFT_ETIMEDOUT : 0;
            break;
        }
    }
    pthread_mutex_unlock(&w->lock);
    if (rc == 0 && weft__stat_get(dropped_export) + weft__stat_get(dropped_queue) != lost0)
        rc = WEFT_EEXPORT;
    return rc;
}

int weft__worker_stop(uint32_t timeout_ms)
{
    weft__worker *w = weft__rt.worker;
    if (!w)
        return 0;
    if (weft__rt.forked_child) {
        /* The loop thread and its file descriptors belong to the parent: leave them be. */
        weft__rt.worker = NULL;
        weft__wake_set(NULL);
        return 0;
    }
    uint64_t lost0 = weft__stat_get(dropped_export) + weft__stat_get(dropped_queue);
    pthread_mutex_lock(&w->lock);
    w->stop = true;
    w->stop_timeout_ms = timeout_ms;
    pthread_mutex_unlock(&w->lock);
    uv_async_send(&w->async);
    uv_thread_join(&w->thread);
    weft__rt.worker = NULL;
    weft__wake_set(NULL);
    int rc = w->stop_result;
    uv_loop_close(&w->loop);
    worker_free(w);
    if (rc == 0 && weft__stat_get(dropped_export) + weft__stat_get(dropped_queue) != lost0)
        rc = WEFT_EEXPORT;
    return rc;
}
