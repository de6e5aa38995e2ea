/*
 * thread.c — the registry of producer threads (see thread.h): registration on a thread's first
 * span, retirement at thread exit (a pthread key destructor), recycling of drained states, and
 * the fork handlers.
 *
 * Locking: reg_lock guards slot writes, the free list and the retired counters. The hot path
 * never takes it: only a thread's first call, the export thread's recycling and stats reads do.
 *
 * Memory follows the live threads: a registering thread first takes over the state of a thread
 * that exited (its ring drained or not: the ring has one producer at a time, the exited thread's
 * last writes are published by its `exited` release store, and the export thread drains on
 * as before), so 2,000 short-lived threads with at most 50 alive use at most 50 rings. A state
 * the export thread recycles (drained, nobody took it over) keeps its ring buffer only while
 * fewer than FREE_RINGS_KEPT recycled states hold one; the others release it at once. A kept
 * ring goes back to its initial size when it is recycled (ring.h: rings grow in bursts).
 *
 * The first span on a new thread (issue 11 item 4): registering costs what the thread touches
 * for the first time — its state, the first context entry and its ended mark, the ring's
 * first page — and on this VM each fresh page is a 4–28 µs fault. So the export thread keeps
 * POOL_READY states ready on the free list (weft__threads_prepare: allocated, those pages
 * written, the ring's first WEFT__RING_TOUCH bytes committed), and a registering thread takes
 * one of them, or a recycled state, before it makes a new one. Whenever that leaves fewer than
 * POOL_READY, it raises ready_low; a thread that found none also wakes the export thread (a
 * wake costs the waker more than a first span may). The export thread makes the pool whole as
 * soon as it sees ready_low, and while threads keep taking states it looks every millisecond
 * (worker.c, READY_POLL_MS) instead of once per flush tick, so threads started one after
 * another during churn each find one. Ring buffers are mappings
 * whose pages are committed as they are written (ring.c), so a ring's size costs nothing at
 * registration. weft_thread_register lets a thread do all this ahead of its first span.
 */
#include "thread.h"
#include "clock.h"
#include "wake.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Recycled states that keep their ring buffer for the next thread (the rest free it). */
#define FREE_RINGS_KEPT 4u
/* States with a ring the export thread keeps ready for registering threads (<= FREE_RINGS_KEPT,
 * so the pool adds nothing to the rings an idle process holds). */
#define POOL_READY 2u

__thread weft__thread *weft__tls;
__thread uint32_t weft__tls_gen;
/* The calling thread's quiet region (weft/quiet.h): exported, read and written inline by the
 * program's code; reset when the thread registers; only `poked` is written by others. */
WEFT_API __thread weft__quiet_tls weft__quiet;

/* One key for the life of the process (pthread keys are a scarce resource and outlive
 * init/shutdown cycles); its destructor marks the state exited. */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
static int exit_key_ok;

static void on_thread_exit(void *p)
{
    weft__thread *t = p;
    /* A state from an earlier generation was freed by weft_shutdown: the key value is
     * cleared there for the calling thread only, so check the generation first. */
    if (weft__tls == t && weft__tls_gen == weft__rt.gen && weft__rt.initialized) {
        /* Nobody may store into this thread's TLS once it is freed (after this destructor). */
        atomic_store_explicit(&t->poke, NULL, memory_order_seq_cst);
        while (atomic_load_explicit(&t->poke_users, memory_order_seq_cst))
            sched_yield();
        atomic_store_explicit(&t->exited, 1, memory_order_release);
        weft__wake(); /* drain it soon, so its ring can be reused or released */
    }
    weft__tls = NULL;
}

static void on_fork_prepare(void) { pthread_mutex_lock(&weft__rt.reg_lock); }
static void on_fork_parent(void) { pthread_mutex_unlock(&weft__rt.reg_lock); }
static void on_fork_child(void)
{
    pthread_mutex_unlock(&weft__rt.reg_lock);
    /* The export thread does not exist in the child: tracing is off until the child calls
     * weft_shutdown and weft_init again (README, "fork"). */
    if (weft__rt.initialized) {
        weft__rt.forked_child = 1;
        atomic_store_explicit(&weft__rt.hot.enabled, 0, memory_order_relaxed);
        /* The only thread here: no inline roots until it registers again. */
        weft__quiet.depth = NULL;
        __atomic_store_n(&weft__quiet.poked, 1u, __ATOMIC_RELAXED);
    }
}

static void make_exit_key(void)
{
    exit_key_ok = pthread_key_create(&exit_key, on_thread_exit) == 0;
    pthread_atfork(on_fork_prepare, on_fork_parent, on_fork_child);
}

int weft__threads_init(void)
{
    pthread_once(&exit_key_once, make_exit_key);
    if (!exit_key_ok)
        return WEFT_ENOMEM;
    weft__rt.n_slots = weft__rt.cfg.max_threads;
    weft__rt.slots = calloc(weft__rt.n_slots, sizeof(*weft__rt.slots));
    if (!weft__rt.slots)
        return WEFT_ENOMEM;
    weft__rt.free_threads = NULL;
    weft__rt.n_free_rings = 0;
    atomic_store_explicit(&weft__rt.slots_hi, 0, memory_order_relaxed);
    weft__rt.retired_started = weft__rt.retired_noop = 0;
    weft__rt.retired_sampled_out = weft__rt.retired_dropped_ring = 0;
    weft__rt.retired_dropped_ring_spans = 0;
    return 0;
}

/* The context stack and its ended[] marks: one anonymous mapping, reserved, not committed
 * (MAP_NORESERVE; pages are touched only as deep as the thread nests). */
#define STACK_BYTES ((size_t)WEFT__STACK_MAX * sizeof(weft__ctx))
#define ENDED_OFF ((STACK_BYTES + 4095u) & ~(size_t)4095u)
#define STACK_MAP_BYTES (ENDED_OFF + (size_t)WEFT__STACK_MAX * sizeof(uint64_t))

static bool stack_map(weft__thread *t)
{
    void *m = mmap(NULL, STACK_MAP_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (m == MAP_FAILED)
        return false;
    t->stack = m;
    t->ended = (_Atomic uint64_t *)(void *)((char *)m + ENDED_OFF);
    return true;
}

static void thread_free(weft__thread *t)
{
    weft__ring_fini(&t->ring);
    if (t->stack)
        munmap(t->stack, STACK_MAP_BYTES);
    free(t);
}

void weft__thread_poke(weft__thread *t)
{
    /* seq_cst pairs with the owner's exit: either it sees this user, or this sees NULL. */
    atomic_fetch_add_explicit(&t->poke_users, 1, memory_order_seq_cst);
    uint32_t *p = atomic_load_explicit(&t->poke, memory_order_seq_cst);
    if (p)
        __atomic_store_n(p, 1u, __ATOMIC_RELEASE);
    atomic_fetch_sub_explicit(&t->poke_users, 1, memory_order_release);
}

void weft__threads_fini(void)
{
    for (uint32_t i = 0; i < weft__rt.n_slots; i++) {
        weft__thread *t = atomic_load_explicit(&weft__rt.slots[i], memory_order_relaxed);
        if (t) {
            weft__thread_poke(t); /* its quiet region is stale: its next call goes in */
            thread_free(t);
        }
    }
    weft__quiet.n = 0;
    weft__quiet.depth = NULL; /* the caller's; every other thread was poked above */
    while (weft__rt.free_threads) {
        weft__thread *t = weft__rt.free_threads;
        weft__rt.free_threads = t->next_free;
        thread_free(t);
    }
    free((void *)weft__rt.slots);
    weft__rt.slots = NULL;
    weft__rt.n_slots = 0;
    if (weft__tls) {
        weft__tls = NULL;
        if (exit_key_ok)
            pthread_setspecific(exit_key, NULL);
    }
}

static void seed(uint64_t s[2])
{
    if (getrandom(s, 2 * sizeof(uint64_t), 0) != (ssize_t)(2 * sizeof(uint64_t))) {
        /* No entropy source: mix time, address and thread id (ids need uniqueness, not
         * secrecy). */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15u ^ (uint64_t)(uintptr_t)s;
        s[1] = (uint64_t)ts.tv_sec ^ ((uint64_t)gettid() << 32) ^ 0xd1b54a32d192ed03u;
    }
    if (s[0] == 0 && s[1] == 0)
        s[1] = 1;
}

static bool ring_init(weft__thread *t)
{
    return weft__ring_init_grow(&t->ring, weft__rt.hot.ring_bytes, weft__rt.hot.ring_max_bytes);
}

/* A new state with its stack mapping and ring (nothing committed but the state itself). */
static weft__thread *state_new(void)
{
    weft__thread *t = aligned_alloc(64, sizeof(*t));
    if (!t)
        return NULL;
    memset(t, 0, sizeof(*t));
    if (!stack_map(t)) {
        free(t);
        return NULL;
    }
    if (!ring_init(t)) {
        thread_free(t);
        return NULL;
    }
    /* Seeded once, when made: a later owner goes on with the same stream (ids need
     * uniqueness, not a fresh seed; getrandom cost 4-19 us of a first span on this VM). */
    seed(t->rng);
    return t;
}

/* Writes the pages a thread's first span writes: the context entry at its depth, that
 * entry's ended mark, and the ring's next WEFT__RING_TOUCH bytes. Only the state's owner (or
 * the export thread, before anyone owns it) calls this; the entry is free (depth < max), so
 * writing it changes nothing a push would not. */
static void touch_first(weft__thread *t)
{
    uint32_t d = t->depth;
    if (d < WEFT__STACK_MAX) {
        memset(&t->stack[d], 0, sizeof(t->stack[d]));
        atomic_store_explicit(&t->ended[d], UINT64_MAX, memory_order_relaxed);
    }
    weft__ring_touch(&t->ring, WEFT__RING_TOUCH);
}

/* Adds t's counters to the retired ones and zeroes them (reg_lock held; t has no owner). */
static void retire_counters(weft__thread *t)
{
    weft__rt.retired_started += atomic_load_explicit(&t->started, memory_order_relaxed);
    weft__rt.retired_noop += atomic_load_explicit(&t->noop, memory_order_relaxed);
    weft__rt.retired_sampled_out += atomic_load_explicit(&t->sampled_out, memory_order_relaxed);
    weft__rt.retired_dropped_ring += atomic_load_explicit(&t->ring.dropped, memory_order_relaxed);
    weft__rt.retired_dropped_ring_spans +=
        atomic_load_explicit(&t->ring.dropped_spans, memory_order_relaxed);
    atomic_store_explicit(&t->started, 0, memory_order_relaxed);
    atomic_store_explicit(&t->noop, 0, memory_order_relaxed);
    atomic_store_explicit(&t->sampled_out, 0, memory_order_relaxed);
    atomic_store_explicit(&t->ring.dropped, 0, memory_order_relaxed);
    atomic_store_explicit(&t->ring.dropped_spans, 0, memory_order_relaxed);
}

/* A state for a new thread and its slot (reg_lock held): an exited thread's state taken over
 * in place, else a recycled one or a new one in a free slot. NULL when there is no slot or no
 * memory. */
static weft__thread *claim_state(uint32_t *slot_out)
{
    /* Only slots below slots_hi were ever used: the scan costs the live threads, not
     * max_threads (4096 slots read were ~10 us of a first span). */
    uint32_t slot = UINT32_MAX;
    uint32_t hi = atomic_load_explicit(&weft__rt.slots_hi, memory_order_relaxed);
    for (uint32_t i = 0; i < hi; i++) {
        weft__thread *o = atomic_load_explicit(&weft__rt.slots[i], memory_order_relaxed);
        if (!o) {
            if (slot == UINT32_MAX)
                slot = i;
        } else if (atomic_load_explicit(&o->exited, memory_order_acquire)) {
            /* Its owner is gone and every event it wrote is published: the new thread
             * produces after them into the same ring, and the export thread drains on. */
            retire_counters(o);
            atomic_store_explicit(&o->exited, 0, memory_order_relaxed);
            *slot_out = i;
            return o;
        }
    }
    if (slot == UINT32_MAX && hi < weft__rt.n_slots)
        slot = hi;
    if (slot == UINT32_MAX) {
        /* More live producer threads than max_threads: this call is dropped (counted). */
        weft__stat_add(dropped_no_slot, 1);
        weft__wake();
        return NULL;
    }
    /* A recycled state that kept its ring first, else any (it gets a new ring). */
    weft__thread **pp = &weft__rt.free_threads;
    if (weft__rt.n_free_rings > 0)
        while (*pp && !(*pp)->ring.buf)
            pp = &(*pp)->next_free;
    if (!*pp)
        pp = &weft__rt.free_threads;
    weft__thread *t = *pp;
    bool had_ring = t && t->ring.buf;
    if (t) {
        *pp = t->next_free;
        if (t->ring.buf) {
            weft__rt.n_free_rings--;
            if (!weft__ring_reset(&t->ring)) {
                weft__ring_fini(&t->ring);
                t->next_free = weft__rt.free_threads;
                weft__rt.free_threads = t;
                return NULL;
            }
        } else if (!ring_init(t)) {
            t->next_free = weft__rt.free_threads;
            weft__rt.free_threads = t;
            return NULL;
        }
    } else if (!(t = state_new())) {
        return NULL;
    }
    if (weft__rt.n_free_rings < POOL_READY) {
        atomic_store_explicit(&weft__rt.ready_low, true, memory_order_relaxed);
        /* A wake costs the waker ~50 us on this VM, more than the budget of a first span: only
         * a thread that found no ready state, and pays for fresh pages anyway, sends one. */
        if (!had_ring)
            weft__wake();
    }
    atomic_store_explicit(&t->exited, 0, memory_order_relaxed);
    *slot_out = slot;
    return t;
}

weft__thread *weft__thread_register(void)
{
    if (!atomic_load_explicit(&weft__rt.hot.enabled, memory_order_relaxed))
        return NULL;
    pthread_mutex_lock(&weft__rt.reg_lock);
    uint32_t slot = 0;
    weft__thread *t = claim_state(&slot);
    if (!t)
        goto out;
    t->slot = slot;
    t->depth = 0;
    atomic_store_explicit(&t->started, 0, memory_order_relaxed);
    atomic_store_explicit(&t->noop, 0, memory_order_relaxed);
    atomic_store_explicit(&t->sampled_out, 0, memory_order_relaxed);
    /* ended[] keeps whatever marks the last owner's entries got: every push clears its own,
     * and an entry's key is fresh, so an old mark matches nothing. */
    atomic_store_explicit(&t->exited, 0, memory_order_relaxed);
    t->next_free = NULL;
    /* A quiet region left from before a weft_shutdown is gone with the stack it sat on. */
    weft__quiet.n = 0;
    __atomic_store_n(&weft__quiet.poked, 0u, __ATOMIC_RELAXED);
    weft__quiet.salt = weft__rng_next(t->rng) | 1u;
    /* Root trace ids: a stream of this thread's own, drawn inline by weft__quiet_root_ when
     * sampling drops the root, else by the library (span.c root_trace_id). */
    weft__quiet.rng[0] = weft__rng_next(t->rng);
    weft__quiet.rng[1] = weft__rng_next(t->rng) | 1u; /* never the all-zero state */
    weft__quiet.sample_below = &weft__rt.hot.sample_below;
    weft__quiet.root_home = WEFT__HOME(slot, 0);
    weft__quiet.sampled_out = (uint64_t *)&t->sampled_out;
    weft__quiet.depth = weft__rt.hot.sample_below != UINT64_MAX ? &t->depth : NULL;
    atomic_store_explicit(&t->poke, &weft__quiet.poked, memory_order_seq_cst);
    atomic_store_explicit(&weft__rt.slots[slot], t, memory_order_release);
    if (slot + 1 > atomic_load_explicit(&weft__rt.slots_hi, memory_order_relaxed))
        atomic_store_explicit(&weft__rt.slots_hi, slot + 1, memory_order_release);
    weft__stat_add(threads, 1);
    weft__tls = t;
    weft__tls_gen = weft__rt.gen;
    pthread_setspecific(exit_key, t);
out:
    pthread_mutex_unlock(&weft__rt.reg_lock);
    return t;
}

void weft__threads_recycle(weft__thread *t)
{
    pthread_mutex_lock(&weft__rt.reg_lock);
    /* Taken over by a new thread since the caller saw it exited, or written after the caller's
     * drain: not recyclable now (the next round looks again). */
    if (!atomic_load_explicit(&t->exited, memory_order_acquire) ||
        atomic_load_explicit(&weft__rt.slots[t->slot], memory_order_relaxed) != t ||
        atomic_load_explicit(&t->ring.head, memory_order_acquire) !=
            atomic_load_explicit(&t->ring.tail, memory_order_relaxed)) {
        pthread_mutex_unlock(&weft__rt.reg_lock);
        return;
    }
    retire_counters(t);
    atomic_store_explicit(&weft__rt.slots[t->slot], NULL, memory_order_relaxed);
    /* Kept rings go back to their initial size now (a grown one would hold its pages). */
    if (weft__rt.n_free_rings < FREE_RINGS_KEPT && weft__ring_reset(&t->ring))
        weft__rt.n_free_rings++;
    else
        weft__ring_fini(&t->ring); /* the state stays (late cross-thread ends write into it) */
    t->next_free = weft__rt.free_threads;
    weft__rt.free_threads = t;
    pthread_mutex_unlock(&weft__rt.reg_lock);
}

void weft__threads_sum(weft__producer_counts *out)
{
    pthread_mutex_lock(&weft__rt.reg_lock);
    weft__producer_counts c = {weft__rt.retired_started, weft__rt.retired_noop,
                               weft__rt.retired_sampled_out, weft__rt.retired_dropped_ring,
                               weft__rt.retired_dropped_ring_spans};
    for (uint32_t i = 0; i < weft__rt.n_slots; i++) {
        weft__thread *t = atomic_load_explicit(&weft__rt.slots[i], memory_order_acquire);
        if (!t)
            continue;
        c.started += atomic_load_explicit(&t->started, memory_order_relaxed);
        c.noop += atomic_load_explicit(&t->noop, memory_order_relaxed);
        c.sampled_out += atomic_load_explicit(&t->sampled_out, memory_order_relaxed);
        c.dropped_ring += atomic_load_explicit(&t->ring.dropped, memory_order_relaxed);
        c.dropped_ring_spans += atomic_load_explicit(&t->ring.dropped_spans, memory_order_relaxed);
    }
    pthread_mutex_unlock(&weft__rt.reg_lock);
    *out = c;
}

void weft__threads_prepare(void)
{
    atomic_store_explicit(&weft__rt.ready_low, false, memory_order_relaxed);
    for (;;) {
        pthread_mutex_lock(&weft__rt.reg_lock);
        bool need = weft__rt.slots && weft__rt.n_free_rings < POOL_READY;
        pthread_mutex_unlock(&weft__rt.reg_lock);
        if (!need)
            return;
        /* Made and touched outside the lock: registering threads do not wait for it. */
        weft__thread *t = state_new();
        if (!t)
            return;
        touch_first(t);
        pthread_mutex_lock(&weft__rt.reg_lock);
        t->next_free = weft__rt.free_threads;
        weft__rt.free_threads = t;
        weft__rt.n_free_rings++;
        pthread_mutex_unlock(&weft__rt.reg_lock);
    }
}

WEFT_API int weft_thread_register(void)
{
    if (!atomic_load_explicit(&weft__rt.hot.enabled, memory_order_relaxed))
        return WEFT_ENOTINIT;
    weft__thread *t = weft__thread_get();
    if (!t)
        return WEFT_ENOMEM;
    touch_first(t);
    (void)weft__clock_ticks(); /* the clock's first read (vDSO page) */
    return 0;
}
