/*
 * span.c — the producer side of the public span API: begin/end, the current-span context
 * (activate, scopes), ids as text, status, errors and scalar/string attributes. Each call
 * appends one event to the calling thread's ring (thread.h, ring.h): no lock, no heap
 * allocation after the thread's first span, no system call, never waits. Everything
 * expensive happens on the export thread.
 *
 * Context rules (DESIGN.md sections 3 and 10): weft_span_begin pushes onto the calling
 * thread's stack and weft_span_activate pushes a scope entry; ending the top entry on its own
 * thread pops it; a span ended out of order or on another thread is marked in its home
 * thread's ended[] and popped by that thread's next begin, end or scope end. A sampled-out
 * span takes exactly the stack entries a kept one would (its own id, its own entry), so the
 * stack has the same shape whatever sampling decided; it just records nothing.
 *
 * The quiet region (weft/quiet.h): the sampled-out spans on top of the stack are kept by id in
 * the thread's weft__quiet and begun and ended inline there. Every function below that reads
 * or changes the stack settles first (settle(): the region written into the stack, the entries
 * ended elsewhere popped), and a sampled-out span that becomes current starts a new region
 * (push_quiet) instead of taking a stack entry; while a region is open, t->depth is its base.
 *
 * Handles are values the caller may have forged: every field is checked (flags against the
 * known bits, the home slot against the registry, the depth against WEFT__STACK_MAX, the entry's
 * key and trace against the handle) before any store outside the calling thread's own ring.
 */
#ifndef WEFT_NO_INLINE_CALLS
#define WEFT_NO_INLINE_CALLS /* this file defines the functions weft/quiet.h wraps */
#endif
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "event.h"
#include "json.h"
#include "producer.h"
#include "runtime.h"
#include "thread.h"
#include "traceparent.h"

#define NOT_ENDED UINT64_MAX             /* ended[] value no live key equals */
#define NAME_MAX_BYTES 4096u             /* longest span name kept (cut at a char boundary) */

static inline bool tracing_on(void)
{
    return __builtin_expect(atomic_load_explicit(&weft__rt.hot.enabled, memory_order_relaxed), 1);
}

static inline void bump(_Atomic uint64_t *c)
{
    /* Owner-only counter: a plain add, readable by others without tearing. */
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1, memory_order_relaxed);
}

static inline bool forged_flags(uint32_t flags) { return (flags & ~WEFT__SPAN_KNOWN) != 0; }

/* Counts a call on the zero span, a stale or a forged one; calls on sampled-out spans and on
 * spans begun while tracing was off are not misuse and are not counted. */
static void count_noop(weft_span s)
{
    if (!forged_flags(s.flags) && (s.flags & WEFT__SPAN_KNOWN))
        return;
    weft__thread *t = weft__thread_get();
    if (t)
        bump(&t->noop);
}

static void count_misuse(void)
{
    weft__thread *t = weft__thread_get();
    if (t)
        bump(&t->noop);
}

/* Pops the entries on top of the stack that ended out of order or on another thread. */
static inline void pop_ended(weft__thread *t)
{
    uint32_t d = t->depth;
    while (d && atomic_load_explicit(&t->ended[d - 1], memory_order_acquire) == t->stack[d - 1].key)
        d--;
    t->depth = d;
}

static inline weft_span current(weft__thread *t)
{
    pop_ended(t);
    if (t->depth) {
        const weft__ctx *c = &t->stack[t->depth - 1];
        weft_span s = {c->trace, c->id, c->home, c->flags, c->trace_lo};
        return s;
    }
    weft_span zero = {0, 0, 0, 0, 0};
    return zero;
}

/* Pushes an entry; false when the stack is full. */
static inline bool push_entry(weft__thread *t, uint64_t key, uint64_t trace, uint64_t id, uint32_t home,
                              uint32_t flags, uint64_t trace_lo)
{
    uint32_t d = t->depth;
    if (__builtin_expect(d >= WEFT__STACK_MAX, 0))
        return false;
    atomic_store_explicit(&t->ended[d], NOT_ENDED, memory_order_relaxed);
    weft__ctx *c = &t->stack[d];
    c->key = key;
    c->trace = trace;
    c->id = id;
    c->home = home;
    c->flags = flags;
    c->trace_lo = trace_lo;
    t->depth = d + 1;
    return true;
}

/* Writes the quiet region into the stack (its entries at base.. base + n - 1, as push_entry
 * would, but ended[] kept: another thread may have marked one already, and an older mark
 * cannot match a fresh key), then pops what ended elsewhere. */
static void settle_slow(weft__thread *t)
{
    weft__quiet_tls *q = &weft__quiet;
    __atomic_exchange_n(&q->poked, 0u, __ATOMIC_ACQUIRE); /* the marks behind the poke are visible */
    uint32_t n = q->n, d = WEFT__HOME_DEPTH(q->home0);
    if (n) {
        q->n = 0;
        if (__builtin_expect(d != t->depth || WEFT__HOME_SLOT(q->home0) != t->slot, 0)) {
            weft__internal_error("quiet region off its stack");
            return;
        }
        for (uint32_t i = 0; i < n; i++) {
            weft__ctx *c = &t->stack[d + i];
            c->key = c->id = q->ids[i];
            c->trace = q->trace;
            c->home = q->home0 + i;
            c->flags = WEFT__SPAN_SAMPLED_OUT;
            c->trace_lo = q->trace_lo;
        }
        t->depth = d + n;
    }
    pop_ended(t);
}

/* Only an open region needs settling: with none, the marks a poke announced are on the
 * stack, where pop_ended finds them as always (push_quiet clears the poke). */
static inline void settle(weft__thread *t)
{
    if (__builtin_expect(weft__quiet.n != 0, 0))
        settle_slow(t);
}

/* Makes s current: its entry is its own (key == id, home names the entry). */
static inline void push(weft__thread *t, weft_span *s)
{
    uint32_t home = WEFT__HOME(t->slot, t->depth);
    if (__builtin_expect(push_entry(t, s->id, s->trace, s->id, home, s->flags, s->trace_lo), 1))
        s->home = home;
}

/* Makes sampled-out s current by starting a quiet region with it (settled: the region is
 * empty), or, with no room for a whole region below WEFT__STACK_MAX, as a stack entry. */
static inline void push_quiet(weft__thread *t, weft_span *s)
{
    weft__quiet_tls *q = &weft__quiet;
    uint32_t d = t->depth;
    if (__builtin_expect(q->n != 0 || d + WEFT__QUIET_MAX > WEFT__STACK_MAX, 0)) {
        push(t, s);
        return;
    }
    /* A poke from before concerned entries already on the stack (the region was settled);
     * this region's spans exist only from now on. */
    __atomic_store_n(&q->poked, 0u, __ATOMIC_RELAXED);
    q->home0 = WEFT__HOME(t->slot, d);
    q->trace = s->trace;
    q->trace_lo = s->trace_lo;
    q->ids[0] = s->id;
    q->n = 1;
    s->home = q->home0;
}

/* The id of a sampled-out span that takes a place on the context stack (a quiet region's or
 * an entry): drawn from the calling thread's quiet generator, as weft__quiet_child_ does, so
 * that issued_here can tell this thread's own sampled-out spans from another's. */
static inline uint64_t quiet_id(void)
{
    weft__quiet_tls *q = &weft__quiet;
    uint64_t id = (++q->gen * WEFT__QUIET_ID_MUL) ^ q->salt;
    return id + (id == 0);
}

/* Did the calling thread, in its current registration, issue this sampled-out span's id?
 * A slot, and the state in it, pass to a thread that registers after its owner exited
 * (thread.c claim_state), so a handle whose home slot is the caller's own may be a span of
 * the slot's earlier owner: its end on this thread is then a first end, not a second one.
 * Ids from the generator invert to gen values 1..gen; the earlier owner had its own salt, so
 * its ids invert to values spread over 64 bits (one in 2^64 / gen falls in range). */
static bool issued_here(uint64_t id)
{
    uint64_t inv = WEFT__QUIET_ID_MUL; /* Newton: each step doubles the correct low bits */
    for (int i = 0; i < 5; i++)
        inv *= 2 - WEFT__QUIET_ID_MUL * inv;
    const weft__quiet_tls *q = &weft__quiet;
    uint64_t g = (id ^ q->salt) * inv;
    return g != 0 && g <= q->gen;
}

static inline uint64_t new_id(weft__thread *t)
{
    uint64_t id = weft__rng_next(t->rng);
    /* 0 is the zero span; UINT64_MAX marks a deleted slot in the assembler's table. */
    return (id && id != UINT64_MAX) ? id : 1;
}

/* A root's trace id, from the generator weft__quiet_root_ (quiet.h) peeks at: a root that
 * wrapper left to the library (kept, or 0 / UINT64_MAX) gets the id the wrapper saw. */
static inline uint64_t root_trace_id(void)
{
    uint64_t id = weft__rng_next(weft__quiet.rng);
    return (id && id != UINT64_MAX) ? id : 1;
}

/* What weft_span_begin_remote adds to a begin: parent is then the remote span. */
typedef struct remote_in {
    const char *tracestate; /* valid tracestate to keep, or NULL */
    uint32_t ts_len;
} remote_in;

/* The common body of every begin. site != NULL: name by pointer; else name/name_len copied.
 * remote != NULL: parent is a span of another process (event.h, WEFT__EVF_REMOTE). */
static inline weft_span begin(weft__thread *t, weft_span parent, bool make_current, const weft_site *site,
                              const char *name, size_t name_len, uint32_t type, const remote_in *remote)
{
    weft_span s;
    s.id = new_id(t);
    s.home = WEFT__HOME_NONE;
    s.flags = 0;
    s.trace_lo = parent.trace_lo; /* 0 in a trace begun in this process */
    if (__builtin_expect(make_current && t->depth >= WEFT__STACK_MAX, 0)) {
        /* No room to make it current: record nothing under it rather than give its children
         * the wrong parent. */
        weft__stat_add(dropped_depth, 1);
        s.trace = parent.trace;
        s.flags = WEFT__SPAN_SAMPLED_OUT | WEFT__SPAN_OFF;
        return s;
    }
    if (__builtin_expect(parent.flags != 0, 0)) {
        if (forged_flags(parent.flags)) {
            bump(&t->noop);
            parent.id = 0; /* a forged parent: begin a root instead */
        } else if (parent.flags & WEFT__SPAN_SAMPLED_OUT) {
            /* Inside a sampled-out trace: nothing is recorded, but the span takes its own
             * stack entry like a kept one (so any order of ends leaves the stack right). */
            s.trace = parent.trace;
            s.flags = WEFT__SPAN_SAMPLED_OUT;
            s.id = quiet_id();
            if (make_current)
                push_quiet(t, &s);
            else
                s.flags |= WEFT__SPAN_OFF; /* on no stack: its end has nothing to do */
            return s;
        } else {
            parent.id = 0; /* begun while tracing was off: no parent */
        }
    }
    if (parent.id) {
        s.trace = parent.trace;
    } else {
        s.trace = root_trace_id();
        s.trace_lo = 0;
        if (__builtin_expect(s.trace >= weft__rt.hot.sample_below, 0)) {
            bump(&t->sampled_out);
            s.flags = WEFT__SPAN_SAMPLED_OUT;
            s.id = quiet_id();
            if (make_current)
                push_quiet(t, &s);
            else
                s.flags |= WEFT__SPAN_OFF;
            return s;
        }
    }
    /* Blocks for a trace from another process (0 bytes in every other trace). */
    size_t extra = (s.trace_lo ? 8u : 0u) + (remote ? 8u + remote->ts_len : 0u);
    uint32_t size = weft__ev_round(sizeof(weft__ev_begin) + extra + (site ? 0 : name_len));
    weft__ev_begin *e = weft__ring_reserve(&t->ring, size);
    if (__builtin_expect(e != NULL, 1)) {
        e->h.size = size;
        e->h.kind = WEFT__EV_BEGIN;
        e->h.aux = 0;
        e->h.span = s.id;
        e->trace = s.trace;
        e->parent = parent.id;
        e->type = type;
        e->ticks = weft__clock_ticks();
        uint32_t flags = 0;
        char *p = (char *)(e + 1);
        if (__builtin_expect(extra != 0, 0)) {
            if (s.trace_lo) {
                flags |= WEFT__EVF_TRACE_LO;
                memcpy(p, &s.trace_lo, 8);
                p += 8;
            }
            if (remote) {
                flags |= WEFT__EVF_REMOTE;
                uint32_t hdr[2] = {remote->ts_len, 0};
                memcpy(p, hdr, 8);
                if (remote->ts_len)
                    memcpy(p + 8, remote->tracestate, remote->ts_len);
                p += 8 + remote->ts_len;
            }
        }
        if (site) {
            e->flags = flags | WEFT__EVF_SITE;
            e->site = site;
            e->name_len = site->name_len;
        } else {
            e->flags = flags;
            e->site = NULL;
            e->name_len = (uint32_t)name_len;
            memcpy(p, name, name_len);
        }
        weft__ring_commit(&t->ring, size);
    } else {
        /* The ring is full: the span is lost (counted once, here). It stays a valid context
         * (children name it as their parent), and calls on it, its end included, record
         * nothing more. */
        s.flags = WEFT__SPAN_LOST;
        bump(&t->ring.dropped_spans);
    }
    bump(&t->started);
    if (make_current)
        push(t, &s);
    return s;
}

static inline size_t name_len_of(const char **name)
{
    if (!*name || !**name) {
        *name = "unnamed";
        return 7;
    }
    size_t n = strlen(*name);
    return n > NAME_MAX_BYTES ? NAME_MAX_BYTES : n; /* the consumer repairs a split char */
}

/* The shared prologue of the begin calls: parent NULL means the calling thread's current
 * span (and the new span becomes current). Inlined into each of them (a call more would show
 * on every kept begin). */
static inline __attribute__((always_inline)) weft_span begin_call(const weft_span *parent, const weft_site *site,
                                                                  const char *name, uint32_t type)
{
    weft_span zero = {0, 0, 0, 0, 0};
    if (!tracing_on()) {
        weft_span off = {0, 0, 0, WEFT__SPAN_OFF, 0}; /* calls on it return inline (quiet.h) */
        return off;
    }
    weft_span s;
    if (!parent && (weft__quiet_child_(&s) || weft__quiet_root_(&s)))
        return s; /* what the inline wrapper does (a program built against an older weft.h) */
    weft__thread *t = weft__thread_get();
    if (__builtin_expect(!t, 0))
        return zero;
    size_t n = site ? 0 : name_len_of(&name);
    if (!parent)
        settle(t);
    return begin(t, parent ? *parent : current(t), parent == NULL, site, name, n, type, NULL);
}

WEFT_API weft_span weft__span_begin_site(const weft_site *site) { return begin_call(NULL, site, NULL, site->type); }

WEFT_API weft_span weft_span_begin(const char *name, weft_span_type type)
{
    return begin_call(NULL, NULL, name, (uint32_t)type);
}

WEFT_API weft_span weft_span_begin_child(weft_span parent, const char *name, weft_span_type type)
{
    return begin_call(&parent, NULL, name, (uint32_t)type);
}

#define TRACESTATE_MAX_BYTES 1024u /* longest tracestate kept (the W3C text asks for at least 512) */

WEFT_API weft_span weft_span_begin_remote(const char *traceparent, const char *tracestate, const char *name,
                                          weft_span_type type)
{
    weft_span zero = {0, 0, 0, 0, 0};
    if (!tracing_on()) {
        weft_span off = {0, 0, 0, WEFT__SPAN_OFF, 0};
        return off;
    }
    weft__thread *t = weft__thread_get();
    if (__builtin_expect(!t, 0))
        return zero;
    settle(t);
    size_t n = name_len_of(&name);
    weft__traceparent tp;
    if (!traceparent || !traceparent[0] || !weft__traceparent_parse(traceparent, strlen(traceparent), &tp)) {
        if (traceparent && traceparent[0])
            weft__stat_add(bad_traceparent, 1);
        return begin(t, zero, true, NULL, name, n, type, NULL); /* a new root */
    }
    /* The remote span as a parent handle: its trace id halves and span id. */
    weft_span parent = {tp.trace_hi, tp.span_id, 0, 0, tp.trace_lo ^ weft__rt.salt_hi};
    if (!(tp.flags & WEFT__TRACEPARENT_SAMPLED)) {
        /* The caller did not record this trace: neither does this process. The span is begun
         * as a child of a sampled-out parent: an id and a stack entry, nothing recorded. */
        bump(&t->sampled_out);
        parent.flags = WEFT__SPAN_SAMPLED_OUT;
        return begin(t, parent, true, NULL, name, n, type, NULL);
    }
    remote_in r = {NULL, 0};
    size_t tl = tracestate ? strlen(tracestate) : 0;
    if (tl && tl <= TRACESTATE_MAX_BYTES && weft__tracestate_valid(tracestate, tl, NULL)) {
        r.tracestate = tracestate;
        r.ts_len = (uint32_t)tl;
    }
    return begin(t, parent, true, NULL, name, n, type, &r);
}

WEFT_API weft_span weft_current_span(void)
{
    weft_span zero = {0, 0, 0, 0, 0};
    if (!tracing_on())
        return zero;
    weft__thread *t = weft__tls;
    if (!t || weft__tls_gen != weft__rt.gen)
        return zero;
    const weft__quiet_tls *q = &weft__quiet;
    if (q->n && !__atomic_load_n(&q->poked, __ATOMIC_RELAXED)) {
        weft_span top = {q->trace, q->ids[q->n - 1], q->home0 + q->n - 1, WEFT__SPAN_SAMPLED_OUT, q->trace_lo};
        return top;
    }
    settle(t);
    return current(t);
}

/* The state of the thread in slot, or NULL (a forged or stale slot, or a free one). */
static inline weft__thread *slot_thread(uint32_t slot)
{
    if (slot >= weft__rt.n_slots)
        return NULL;
    return atomic_load_explicit(&weft__rt.slots[slot], memory_order_acquire);
}

/* Takes span s off its home stack (own thread) or marks it ended there (other thread). Every
 * field is checked first: a depth past the stack, a slot past the registry or a free slot
 * write nothing; on another thread's stack the mark is s.id, which only that entry's key can
 * equal. The calling thread's stack is settled. Returns false when s had ended already as far
 * as this can tell (its entry gone from this thread's stack, or marked ended before; a
 * sampled-out span this registration did not issue is a span of the slot's earlier owner): the
 * caller counts that for a span whose end records no event (the assembler counts a recorded
 * second end). A first end of a span in a sampled-out trace pokes its home thread, whose
 * quiet region may hold it. */
static inline bool leave_context(weft__thread *t, weft_span s)
{
    uint32_t d = WEFT__HOME_DEPTH(s.home);
    if (d >= WEFT__STACK_MAX)
        return true; /* WEFT__HOME_NONE: begun with begin_child, never on a stack */
    uint32_t slot = WEFT__HOME_SLOT(s.home);
    if (__builtin_expect(slot == t->slot, 1)) {
        if (d < t->depth && t->stack[d].key == s.id && t->stack[d].trace == s.trace) {
            if (atomic_load_explicit(&t->ended[d], memory_order_acquire) == s.id) {
                if (d + 1 == t->depth)
                    pop_ended(t);
                return false; /* ended elsewhere before, now here again */
            }
            if (d + 1 == t->depth) {
                t->depth = d;
                pop_ended(t);
            } else if (atomic_exchange_explicit(&t->ended[d], s.id, memory_order_release) == s.id) {
                return false; /* ended out of order before, now again */
            }
            return true;
        }
        /* Past this stack's top, and not this registration's: a span of this slot's earlier
         * owner, whose end here is a first end (nothing is left to take off). Anything else
         * ended before, or is forged. (An earlier owner's span ended while this thread nests
         * deeper than it was is still counted: the handle alone cannot tell it from a forged
         * id.) */
        return d >= t->depth && (s.flags & WEFT__SPAN_SAMPLED_OUT) && !issued_here(s.id);
    }
    weft__thread *home = slot_thread(slot);
    if (!home)
        return true; /* its thread has gone and its slot is free: nothing to mark */
    uint64_t was = atomic_exchange_explicit(&home->ended[d], s.id, memory_order_acq_rel);
    if (s.flags & WEFT__SPAN_SAMPLED_OUT)
        weft__thread_poke(home);
    return was != s.id;
}

WEFT_API void weft_span_end(weft_span s)
{
    if (!tracing_on())
        return;
    if (weft__quiet_end_(s))
        return; /* what the inline wrapper does (a program built against an older weft.h) */
    weft__thread *t = weft__thread_get();
    if (__builtin_expect(!t, 0))
        return;
    if (__builtin_expect(s.id == 0 || s.flags, 0)) {
        if (s.id == 0 || forged_flags(s.flags)) {
            if (s.flags != WEFT__SPAN_OFF) /* OFF: begun while tracing was off, not misuse */
                bump(&t->noop);
            return;
        }
        if (s.flags & WEFT__SPAN_OFF)
            return; /* on no stack */
        /* Sampled out (or lost): no event, but its stack entry goes as a kept span's would,
         * and a second end is counted as the assembler counts a kept span's. */
        settle(t);
        if (!leave_context(t, s))
            bump(&t->noop);
        return;
    }
    settle(t);
    weft__ev_end *e = weft__ring_reserve(&t->ring, sizeof(*e));
    if (__builtin_expect(e != NULL, 1)) {
        e->h.size = sizeof(*e);
        e->h.kind = WEFT__EV_END;
        e->h.aux = 0;
        e->h.span = s.id;
        e->ticks = weft__clock_ticks();
        weft__ring_commit(&t->ring, sizeof(*e));
    } else {
        bump(&t->ring.dropped_spans); /* begun, never ends: lost */
    }
    leave_context(t, s);
}

WEFT_API weft_scope weft_span_activate(weft_span s)
{
    weft_scope sc = {0, 0, WEFT__SPAN_OFF};
    if (!tracing_on())
        return sc; /* its end returns inline (quiet.h) */
    sc.flags = 0;
    weft__thread *t = weft__thread_get();
    if (__builtin_expect(!t, 0))
        return sc;
    if (forged_flags(s.flags) || (s.flags & WEFT__SPAN_KNOWN) == WEFT__SPAN_OFF) {
        if (forged_flags(s.flags))
            bump(&t->noop);
        s.trace = s.id = 0; /* a forged span, or one begun while tracing was off: no span */
        s.home = s.flags = 0;
    }
    settle(t);
    pop_ended(t);
    uint64_t key = new_id(t);
    uint32_t home = WEFT__HOME(t->slot, t->depth);
    /* The entry keeps the activated span's own home, so that ending the span (anywhere)
     * leaves the scope in place; OFF is dropped so its children get an entry of their own. */
    if (!push_entry(t, key, s.trace, s.id, s.home, s.flags & WEFT__SPAN_SAMPLED_OUT, s.trace_lo)) {
        weft__stat_add(dropped_depth, 1);
        return sc;
    }
    sc.key = key;
    sc.home = home;
    return sc;
}

WEFT_API void weft_scope_end(weft_scope sc)
{
    if (!tracing_on())
        return;
    weft__thread *t = weft__thread_get();
    if (__builtin_expect(!t, 0))
        return;
    settle(t);
    uint32_t d = WEFT__HOME_DEPTH(sc.home);
    if (sc.key == 0 || sc.flags != 0 || WEFT__HOME_SLOT(sc.home) != t->slot || d >= WEFT__STACK_MAX) {
        if (sc.flags != WEFT__SPAN_OFF)
            bump(&t->noop);
        return;
    }
    pop_ended(t);
    if (d + 1 != t->depth || t->stack[d].key != sc.key) {
        bump(&t->noop); /* out of order, twice, or not this thread's: the stack stays */
        return;
    }
    t->depth = d;
    pop_ended(t);
}

/* Text of a fixed-format JSON string written by json.h, without its quotes. */
static void unquote(char *dst, const char *quoted, size_t quoted_len)
{
    memcpy(dst, quoted + 1, quoted_len - 2);
    dst[quoted_len - 2] = '\0';
}

WEFT_API int weft_span_get_ids(weft_span s, weft_ids *out)
{
    if (!out || s.id == 0 || forged_flags(s.flags))
        return WEFT_EINVAL;
    if (!weft__rt.initialized)
        return WEFT_ENOTINIT;
    /* The same writers and derivation as the SGP encoder (encode.c): with lo the W3C trace
     * id's low half (the salt in a trace begun here), uuid(id, lo), uuid(trace, lo),
     * hex128(trace, lo), hex64(id). */
    char q[WEFT__JSON_UUID_LEN];
    uint64_t lo = s.trace_lo ^ weft__rt.salt_hi;
    weft__json_uuid_at(q, s.trace, lo);
    unquote(out->trace_id, q, WEFT__JSON_UUID_LEN);
    weft__json_uuid_at(q, s.id, lo);
    unquote(out->span_id, q, WEFT__JSON_UUID_LEN);
    char h[WEFT__JSON_HEX128_LEN];
    weft__json_hex128_at(h, s.trace, lo);
    unquote(out->w3c_trace_id, h, WEFT__JSON_HEX128_LEN);
    weft__json_hex64_at(h, s.id);
    unquote(out->w3c_span_id, h, WEFT__JSON_HEX64_LEN);
    return 0;
}

void *weft__event_reserve(weft__evw *w, weft_span s, unsigned kind, unsigned aux, size_t payload_len)
{
    if (!tracing_on())
        return NULL;
    if (s.id == 0 || s.flags) {
        count_noop(s);
        return NULL;
    }
    weft__thread *t = weft__thread_get();
    if (!t)
        return NULL;
    if (payload_len > weft__event_max_payload()) {
        atomic_store_explicit(&t->ring.dropped,
                              atomic_load_explicit(&t->ring.dropped, memory_order_relaxed) + 1,
                              memory_order_relaxed);
        return NULL;
    }
    uint32_t size = weft__ev_round(sizeof(weft__ev) + payload_len);
    weft__ev *e = weft__ring_reserve(&t->ring, size);
    if (!e)
        return NULL;
    e->size = size;
    e->kind = (uint16_t)kind;
    e->aux = (uint16_t)aux;
    e->span = s.id;
    w->ring = &t->ring;
    w->size = size;
    return e + 1;
}

size_t weft__event_max_payload(void) { return weft__rt.hot.ring_bytes / 4 - sizeof(weft__ev) - 8; }

WEFT_API void weft_span_set_status(weft_span s, weft_status status)
{
    weft__evw w;
    if ((unsigned)status > WEFT_STATUS_CANCELED)
        status = WEFT_STATUS_ERROR; /* documented repair: an unknown status is a failure */
    if (weft__event_reserve(&w, s, WEFT__EV_STATUS, (unsigned)status, 0))
        weft__event_commit(&w);
}

/* Copies up to `room` bytes of a string; returns the length stored. */
static inline uint32_t clip(size_t len, size_t room) { return (uint32_t)(len < room ? len : room); }

WEFT_API void weft_span_set_error(weft_span s, const char *type, const char *message)
{
    size_t tl = type ? strlen(type) : 0, ml = message ? strlen(message) : 0;
    size_t room = weft__event_max_payload() - sizeof(weft__ev_error);
    uint32_t tk = clip(tl, room / 2), mk = clip(ml, room - tk);
    if (tk > weft__rt.hot.max_attr_bytes)
        tk = (uint32_t)weft__rt.hot.max_attr_bytes;
    if (mk > weft__rt.hot.max_attr_bytes)
        mk = (uint32_t)weft__rt.hot.max_attr_bytes;
    weft__evw w;
    char *p = weft__event_reserve(&w, s, WEFT__EV_ERROR, 0, sizeof(weft__ev_error) - sizeof(weft__ev) + tk + mk);
    if (!p)
        return;
    weft__ev_error *e = (weft__ev_error *)(p - sizeof(weft__ev));
    e->type_len = tk;
    e->msg_len = mk;
    if (tk) /* memcpy from NULL is undefined even for 0 bytes */
        memcpy(e + 1, type, tk);
    if (mk)
        memcpy((char *)(e + 1) + tk, message, mk);
    weft__event_commit(&w);
}

#define KEY_MAX_BYTES 1024u /* keys are names, not payloads */

/* One attribute event on the calling thread's ring: header, key, then vlen value bytes. The
 * caller has checked the span; returns NULL (counted) on misuse or a full ring. */
static inline weft__ev_attr *attr_reserve(weft__thread *t, weft_span s, weft_section sec, const char *key,
                                          size_t kl, size_t vlen)
{
    uint32_t size = weft__ev_round(sizeof(weft__ev_attr) + kl + vlen);
    weft__ev_attr *e = weft__ring_reserve(&t->ring, size);
    if (__builtin_expect(!e, 0))
        return NULL;
    e->h.size = size;
    e->h.kind = WEFT__EV_ATTR;
    e->h.aux = (uint16_t)sec;
    e->h.span = s.id;
    e->key_len = (uint32_t)kl;
    e->val_len = (uint32_t)vlen;
    e->flags = 0;
    memcpy(e + 1, key, kl);
    return e;
}

/* The checks every setter makes, in the order that keeps the common case short. */
static inline weft__thread *attr_thread(weft_span s, weft_section sec, const char *key)
{
    if (!tracing_on())
        return NULL;
    if (__builtin_expect(s.id == 0 || s.flags, 0)) {
        count_noop(s);
        return NULL;
    }
    if (__builtin_expect(!key || (unsigned)sec > WEFT_METADATA, 0)) {
        count_misuse();
        return NULL;
    }
    return weft__thread_get();
}

/* A key's length as kept: cut at KEY_MAX_BYTES. */
static inline size_t key_len(const char *key)
{
    size_t kl = strlen(key);
    return kl > KEY_MAX_BYTES ? KEY_MAX_BYTES : kl;
}

static void set_bytes(weft_span s, weft_section sec, const char *key, const void *val, size_t len,
                      uint8_t vtype)
{
    weft__thread *t = attr_thread(s, sec, key);
    if (!t)
        return;
    size_t kl = key_len(key);
    size_t keep = len;
    if (keep > weft__rt.hot.max_attr_bytes)
        keep = weft__rt.hot.max_attr_bytes;
    size_t room = t->ring.max_event - sizeof(weft__ev_attr) - KEY_MAX_BYTES - 8;
    if (keep > room)
        keep = room; /* the ring's limit: a quarter of it per event */
    if (vtype != WEFT__V_STR && keep < len)
        vtype = WEFT__V_STR; /* a cut JSON/msgpack value cannot parse: kept as marked text */
    weft__ev_attr *e = attr_reserve(t, s, sec, key, kl, keep);
    if (!e)
        return;
    e->vtype = vtype;
    e->orig_len = len;
    if (keep < len)
        e->flags = WEFT__EVF_TRUNCATED;
    memcpy((char *)(e + 1) + kl, val, keep);
    weft__ring_commit(&t->ring, e->h.size);
}

WEFT_API void weft_span_set_strn(weft_span s, weft_section sec, const char *key, const char *value, size_t len)
{
    if (!value)
        len = 0;
    set_bytes(s, sec, key, value ? value : "", len, WEFT__V_STR);
}

WEFT_API void weft_span_set_str(weft_span s, weft_section sec, const char *key, const char *value)
{
    if (s.id == 0 || s.flags) { /* skip the strlen: nothing will be recorded */
        if (tracing_on())
            count_noop(s);
        return;
    }
    set_bytes(s, sec, key, value ? value : "", value ? strlen(value) : 0, WEFT__V_STR);
}

WEFT_API void weft_span_set_json(weft_span s, weft_section sec, const char *key, const char *json, size_t len)
{
    if (!json)
        len = 0;
    set_bytes(s, sec, key, json ? json : "", len, WEFT__V_JSON);
}

WEFT_API void weft_span_set_msgpack(weft_span s, weft_section sec, const char *key, const void *mp, size_t len)
{
    if (!mp)
        len = 0;
    set_bytes(s, sec, key, mp ? mp : "", len, WEFT__V_MSGPACK);
}

static void set_scalar(weft_span s, weft_section sec, const char *key, uint8_t vtype, int64_t i, double f)
{
    weft__thread *t = attr_thread(s, sec, key);
    if (!t)
        return;
    size_t kl = key_len(key);
    weft__ev_attr *e = attr_reserve(t, s, sec, key, kl, 0);
    if (!e)
        return;
    e->vtype = vtype;
    e->orig_len = 0;
    if (vtype == WEFT__V_F64)
        e->v.f = f;
    else
        e->v.i = i;
    weft__ring_commit(&t->ring, e->h.size);
}

WEFT_API void weft_span_set_i64(weft_span s, weft_section sec, const char *key, int64_t v)
{
    set_scalar(s, sec, key, WEFT__V_I64, v, 0);
}

WEFT_API void weft_span_set_f64(weft_span s, weft_section sec, const char *key, double v)
{
    set_scalar(s, sec, key, WEFT__V_F64, 0, v);
}

WEFT_API void weft_span_set_bool(weft_span s, weft_section sec, const char *key, bool v)
{
    set_scalar(s, sec, key, WEFT__V_BOOL, v ? 1 : 0, 0);
}

static void set_field(weft_span s, unsigned field, const char *v)
{
    if (!v) {
        if (tracing_on())
            count_noop(s); /* a NULL id on a live span is misuse too */
        return;
    }
    size_t n = strlen(v);
    if (n > 256)
        n = 256; /* the API's limit for id fields; longer ones would fail the batch */
    weft__evw w;
    uint32_t *p = weft__event_reserve(&w, s, WEFT__EV_FIELD, field, 4 + n);
    if (!p)
        return;
    *p = (uint32_t)n;
    memcpy(p + 1, v, n);
    weft__event_commit(&w);
}

WEFT_API void weft_span_set_group_id(weft_span s, const char *id) { set_field(s, WEFT__F_GROUP_ID, id); }
WEFT_API void weft_span_set_application_variant_id(weft_span s, const char *id)
{
    set_field(s, WEFT__F_VARIANT_ID, id);
}
WEFT_API void weft_span_set_application_interaction_id(weft_span s, const char *id)
{
    set_field(s, WEFT__F_INTERACTION_ID, id);
}
