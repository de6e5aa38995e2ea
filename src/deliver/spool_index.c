/*
 * spool_index.c — the replay index of the disk spool (see spool_index.h for the model).
 *
 * Owns (struct weft__spool_ix, inside the spool): the pool of entries, the hash on (trace, span
 * id) and the scratch of weft__spool_ix_pick. Each file's queue is the file's (spool.c), but
 * only this file changes what is in one.
 *
 * Invariants:
 *   - the hash holds exactly the PENDING, PLACING and TAKEN entries (`live` of them) and is at
 *     most half full;
 *   - an entry with IN_Q set is listed exactly once, in the queue of its own file, and a queue
 *     lists only entries with IN_Q set; a queue is sorted by seq;
 *   - a ZOMBIE is always listed (weft__spool_ix_drop frees an entry at once when it is not),
 *     so clearing or looking through its queue frees it;
 *   - no entry carries VISIT outside weft__spool_ix_pick.
 */
#include "spool_index.h"

#include <stdlib.h>
#include <string.h>

enum { PLACED, BLOCKED, FULL };

static size_t hash_key(uint64_t trace, uint64_t id)
{
    uint64_t h = (id ^ (trace * 0x9E3779B97F4A7C15ull)) * 0xBF58476D1CE4E5B9ull;
    return (size_t)(h ^ (h >> 31));
}

void weft__spool_ix_init(weft__spool_ix *ix, uint32_t max)
{
    memset(ix, 0, sizeof *ix);
    ix->free_head = WEFT__IX_NONE;
    ix->max = max;
}

void weft__spool_ix_fini(weft__spool_ix *ix)
{
    uint32_t max = ix->max;
    free(ix->e);
    free(ix->slot);
    free(ix->path);
    weft__spool_ix_init(ix, max);
}

bool weft__spool_ix_room(const weft__spool_ix *ix, size_t n)
{
    return n <= ix->max && ix->used <= ix->max - n;
}

/* ---- the hash --------------------------------------------------------------------------------- */

static void hash_put(weft__spool_ix *ix, uint32_t x)
{
    const weft__spool_ixent *c = &ix->e[x];
    size_t h = hash_key(c->trace, c->id) & ix->mask;
    while (ix->slot[h] != 0)
        h = (h + 1) & ix->mask;
    ix->slot[h] = x + 1;
}

/* Room in the hash for one more entry (rehashing into twice the slots when it would pass half
 * full). False when memory is short. */
static bool hash_room(weft__spool_ix *ix)
{
    size_t slots = ix->slot ? ix->mask + 1 : 0;
    if (2 * ((size_t)ix->live + 1) <= slots)
        return true;
    size_t ns = slots ? 2 * slots : 64;
    while (2 * ((size_t)ix->live + 1) > ns)
        ns *= 2;
    uint32_t *old = ix->slot;
    size_t old_slots = slots;
    ix->slot = calloc(ns, sizeof *ix->slot);
    if (!ix->slot) {
        ix->slot = old;
        return false;
    }
    ix->mask = ns - 1;
    for (size_t k = 0; k < old_slots; k++)
        if (old[k])
            hash_put(ix, old[k] - 1);
    free(old);
    return true;
}

/* Takes x out of the hash (backward-shift deletion: no tombstones). */
static void hash_del(weft__spool_ix *ix, uint32_t x)
{
    const weft__spool_ixent *c = &ix->e[x];
    size_t i = hash_key(c->trace, c->id) & ix->mask;
    while (ix->slot[i] != x + 1) {
        if (ix->slot[i] == 0)
            return; /* not there: never happens while the invariants hold */
        i = (i + 1) & ix->mask;
    }
    ix->slot[i] = 0;
    for (size_t j = (i + 1) & ix->mask; ix->slot[j] != 0; j = (j + 1) & ix->mask) {
        const weft__spool_ixent *o = &ix->e[ix->slot[j] - 1];
        size_t home = hash_key(o->trace, o->id) & ix->mask;
        /* The entry at j may fill the hole at i when its home is not cyclically in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            ix->slot[i] = ix->slot[j];
            ix->slot[j] = 0;
            i = j;
        }
    }
}

/* The first entry of (trace, id) along its probe run, or with at (file, seq) the one there;
 * WEFT__IX_NONE when none. */
static uint32_t probe(const weft__spool_ix *ix, uint64_t trace, uint64_t id, bool at, uint32_t file, uint64_t seq)
{
    if (!ix->slot)
        return WEFT__IX_NONE;
    for (size_t h = hash_key(trace, id) & ix->mask;; h = (h + 1) & ix->mask) {
        uint32_t v = ix->slot[h];
        if (v == 0)
            return WEFT__IX_NONE;
        const weft__spool_ixent *c = &ix->e[v - 1];
        if (c->id == id && c->trace == trace && (!at || (c->file == file && c->seq == seq)))
            return v - 1;
    }
}

/* Some live entry of (trace, id); WEFT__IX_NONE when none. */
static uint32_t lookup(const weft__spool_ix *ix, uint64_t trace, uint64_t id)
{
    return probe(ix, trace, id, false, 0, 0);
}

uint32_t weft__spool_ix_find(const weft__spool_ix *ix, uint64_t trace, uint64_t id, uint32_t file,
                             uint64_t seq)
{
    return probe(ix, trace, id, true, file, seq);
}

/* ---- the pool --------------------------------------------------------------------------------- */

uint32_t weft__spool_ix_add(weft__spool_ix *ix, const weft__spool_ixent *proto)
{
    if (!weft__spool_ix_room(ix, 1) || !hash_room(ix))
        return WEFT__IX_NONE;
    uint32_t x;
    if (ix->free_head != WEFT__IX_NONE) {
        x = ix->free_head;
        ix->free_head = (uint32_t)ix->e[x].parent;
    } else {
        if (ix->n == ix->cap) {
            uint32_t cap = ix->cap ? ix->cap * 2 : 256;
            if (cap > ix->max || cap < ix->cap)
                cap = ix->max;
            weft__spool_ixent *ne = realloc(ix->e, (size_t)cap * sizeof *ne);
            if (!ne)
                return WEFT__IX_NONE;
            ix->e = ne;
            ix->cap = cap;
        }
        x = ix->n++;
    }
    weft__spool_ixent *c = &ix->e[x];
    *c = *proto;
    c->state = WEFT__IX_PENDING;
    c->flags &= (uint8_t)~(WEFT__IX_IN_Q | WEFT__IX_VISIT);
    ix->used++;
    ix->live++;
    hash_put(ix, x);
    return x;
}

static void free_entry(weft__spool_ix *ix, uint32_t x)
{
    weft__spool_ixent *c = &ix->e[x];
    c->state = WEFT__IX_FREE;
    c->flags = 0;
    c->parent = ix->free_head;
    ix->free_head = x;
    ix->used--;
}

void weft__spool_ix_drop(weft__spool_ix *ix, uint32_t x)
{
    weft__spool_ixent *c = &ix->e[x];
    if (c->state == WEFT__IX_FREE || c->state == WEFT__IX_ZOMBIE)
        return;
    hash_del(ix, x);
    ix->live--;
    if (c->flags & WEFT__IX_IN_Q)
        c->state = WEFT__IX_ZOMBIE;
    else
        free_entry(ix, x);
}

/* ---- queues ----------------------------------------------------------------------------------- */

bool weft__spool_ixq_insert(weft__spool_ix *ix, weft__spool_ixq *q, const uint32_t *ids, size_t n)
{
    size_t m = 0;
    for (size_t k = 0; k < n; k++)
        m += !(ix->e[ids[k]].flags & WEFT__IX_IN_Q);
    if (m == 0)
        return true;
    if (q->n + m > q->cap) {
        size_t cap = q->cap ? q->cap : 16;
        while (cap < q->n + m)
            cap *= 2;
        uint32_t *nq = realloc(q->ids, cap * sizeof *nq);
        if (!nq)
            return false;
        q->ids = nq;
        q->cap = cap;
    }
    /* Merge from the back: new records usually come after everything listed (a give-up of the
     * newest batch), and then this is a plain append. */
    size_t i = q->n, j = n, k = q->n + m;
    while (j > 0) {
        uint32_t x = ids[j - 1];
        if (ix->e[x].flags & WEFT__IX_IN_Q) {
            j--;
            continue;
        }
        if (i > 0 && ix->e[q->ids[i - 1]].seq > ix->e[x].seq) {
            q->ids[--k] = q->ids[--i];
        } else {
            q->ids[--k] = x;
            j--;
        }
    }
    q->n += m;
    for (size_t t = 0; t < n; t++)
        ix->e[ids[t]].flags |= WEFT__IX_IN_Q;
    return true;
}

void weft__spool_ixq_clear(weft__spool_ix *ix, weft__spool_ixq *q)
{
    for (size_t k = 0; k < q->n; k++) {
        uint32_t x = q->ids[k];
        if (ix->e[x].state == WEFT__IX_ZOMBIE)
            free_entry(ix, x);
        else
            ix->e[x].flags &= (uint8_t)~WEFT__IX_IN_Q;
    }
    q->n = 0;
}

void weft__spool_ixq_fini(weft__spool_ixq *q)
{
    free(q->ids);
    memset(q, 0, sizeof *q);
}

/* ---- choosing what goes next ------------------------------------------------------------------ */

static bool path_room(weft__spool_ix *ix, size_t n)
{
    if (n <= ix->cap_path)
        return true;
    size_t cap = ix->cap_path ? 2 * ix->cap_path : 64;
    while (cap < n)
        cap *= 2;
    uint32_t *np = realloc(ix->path, cap * sizeof *np);
    if (!np)
        return false;
    ix->path = np;
    ix->cap_path = cap;
    return true;
}

/*
 * Places x0 (PENDING) in the batch after its pending ancestors, topmost first: PLACED when x0
 * went, BLOCKED when an ancestor's parent is TAKEN (nothing placed), FULL when the chain does
 * not fit in what is left of the batch (nothing placed, unless the batch was empty: then the
 * top of the chain went, as much as fits).
 */
static int place(weft__spool_ix *ix, uint32_t x0, size_t max_items, size_t max_bytes, uint32_t *out,
                 size_t *n_out, size_t *bytes)
{
    if (!path_room(ix, 1))
        return FULL;
    size_t np = 0;
    ix->path[np++] = x0;
    ix->e[x0].flags |= WEFT__IX_VISIT;
    int res = PLACED;
    for (uint32_t x = x0;;) {
        const weft__spool_ixent *c = &ix->e[x];
        if (c->parent == 0)
            break;
        uint32_t p = lookup(ix, c->trace, c->parent);
        if (p == WEFT__IX_NONE)
            break; /* not waiting in the spool: nothing holds x back */
        weft__spool_ixent *pe = &ix->e[p];
        if (pe->state == WEFT__IX_PLACING)
            break; /* earlier in this batch */
        if (pe->state == WEFT__IX_TAKEN) {
            res = BLOCKED; /* in flight: x waits for its acknowledgement */
            break;
        }
        if (pe->flags & WEFT__IX_VISIT)
            break; /* a cycle: cut here */
        if (!path_room(ix, np + 1)) {
            res = FULL;
            break;
        }
        ix->path[np++] = p;
        pe->flags |= WEFT__IX_VISIT;
        x = p;
    }
    if (res == PLACED && *n_out > 0) {
        /* A chain goes whole, or first in the next batch (only a chain longer than a whole
         * batch is cut, topmost part first). */
        size_t need = 0;
        for (size_t k = 0; k < np; k++)
            need += (size_t)ix->e[ix->path[k]].jlen + 1;
        if (*n_out + np > max_items || *bytes + need > max_bytes)
            res = FULL;
    }
    if (res == PLACED) {
        for (size_t k = np; k-- > 0;) {
            weft__spool_ixent *c = &ix->e[ix->path[k]];
            if (*n_out >= max_items || (*n_out > 0 && *bytes + c->jlen + 1 > max_bytes)) {
                res = FULL;
                break;
            }
            out[(*n_out)++] = ix->path[k];
            *bytes += (size_t)c->jlen + 1;
            c->state = WEFT__IX_PLACING;
        }
    }
    for (size_t k = 0; k < np; k++)
        ix->e[ix->path[k]].flags &= (uint8_t)~WEFT__IX_VISIT;
    return res;
}

size_t weft__spool_ix_pick(weft__spool_ix *ix, weft__spool_ixq *const *qs, size_t nq,
                           size_t max_items, size_t max_bytes, uint32_t *out)
{
    size_t n_out = 0, bytes = 0;
    bool full = max_items == 0;
    for (size_t qi = 0; qi < nq && !full; qi++) {
        weft__spool_ixq *q = qs[qi];
        size_t w = 0, r = 0;
        for (; r < q->n; r++) {
            uint32_t x = q->ids[r];
            weft__spool_ixent *c = &ix->e[x];
            if (c->state == WEFT__IX_ZOMBIE) {
                free_entry(ix, x);
                continue;
            }
            if (c->state != WEFT__IX_PENDING) {
                c->flags &= (uint8_t)~WEFT__IX_IN_Q; /* taken as another record's ancestor */
                continue;
            }
            int res = place(ix, x, max_items, max_bytes, out, &n_out, &bytes);
            if (res == PLACED) {
                c->flags &= (uint8_t)~WEFT__IX_IN_Q;
                continue;
            }
            q->ids[w++] = x;
            if (res == FULL) {
                full = true;
                r++;
                break;
            }
        }
        if (r < q->n) {
            memmove(&q->ids[w], &q->ids[r], (q->n - r) * sizeof *q->ids);
            w += q->n - r;
        }
        q->n = w;
    }
    return n_out;
}
