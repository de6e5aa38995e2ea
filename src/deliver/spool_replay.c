/*
 * spool_replay.c — reading pending records back from the disk spool (weft__spool_replay), and
 * the order they go in (README "Disk spool" -> "Replay order").
 *
 * Owns nothing of its own: it works on the spool's struct (spool_internal.h) — its replay index
 * (spool_index.h), the files' pending ranges and queues, and the read buffer.
 *
 * Two modes, one at a time for the whole spool:
 *   - the index (on): every pending record of every file is an entry, read once from disk (a
 *     file's ranges are absorbed when replay starts, or when the file is claimed while the
 *     index is on; records given up meanwhile join straight from their batch); replay batches
 *     are picked parents first across files (spool_index.h) and then read from disk in file
 *     order. It is built when replay is asked for while at most WEFT__SPOOL_IX_MAX records are
 *     pending and no batch read without it is out, and torn down once it holds nothing;
 *   - ranges (off): pending records are seq ranges per file, read back one file at a time in
 *     file order, parents first only inside each batch (the order before the index). Used when
 *     the index would pass its cap (or memory is short), until at most half the cap is pending.
 *
 * Invariants:
 *   - index on: no file has pending ranges; every PENDING entry is counted in its file's
 *     pend_records (pend_complete) and in sp->pend_records, every TAKEN one in its file's live;
 *   - every replay batch taken adds its records to replay_out, every ack or keep of one of its
 *     items takes one off; a ref of the index (gen) is only ever finished against the same
 *     index (the index is built only while replay_out is 0);
 *   - export thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"
#include "spool_internal.h"

/* Counts lost records of f as dropped, logged once per spool. */
static void log_lost(weft__spool *sp, const sfile *f, uint64_t lost)
{
    if (lost == 0)
        return;
    weft__stat_add(dropped_export, lost);
    if (!sp->logged_lost) {
        sp->logged_lost = true;
        weft__log(WEFT_LOG_WARN, "spool: %llu span records could not be read back from %s/%s; "
                                 "counted in dropped_export",
                  (unsigned long long)lost, sp->dir, f->name);
    }
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
    log_lost(sp, f, lost);
}

/* Where a record read at `at` with number seq stands among f's pending ranges, *k the range
 * looked at (moved forward past the ranges seq is beyond). When the next range starts further
 * on, r seeks there, over finished records. */
typedef enum pend_step {
    PEND_IN,        /* pending: in f->pend[*k] */
    PEND_BEFORE,    /* before f->pend[*k]: finished, read on */
    PEND_SEEKED,    /* r jumped ahead to f->pend[*k]: read on */
    PEND_PAST_LAST  /* beyond the last range: nothing more to read */
} pend_step;

static pend_step pend_find(reader *r, const sfile *f, size_t *k, uint64_t seq, uint64_t at)
{
    while (*k < f->n_pend && seq >= f->pend[*k].hi) {
        ++*k;
        if (*k < f->n_pend && f->pend[*k].off > at) {
            weft__spool_reader_seek(r, f->pend[*k].off);
            return PEND_SEEKED;
        }
    }
    if (*k == f->n_pend)
        return PEND_PAST_LAST;
    return seq < f->pend[*k].lo ? PEND_BEFORE : PEND_IN;
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
    weft__spool_reader_init(sp, &r, f->fd, f->pend[0].off);
    for (;;) {
        int st = weft__spool_reader_next(sp, &r, &rec, &at);
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
        weft__spool_loss_see(&lc, &r.dmg, &rec);
        if (rec.kind != WEFT__SPOOL_SPAN)
            continue;
        pend_step ps = pend_find(&r, f, &k, rec.seq, at);
        if (ps == PEND_PAST_LAST)
            break;
        if (ps == PEND_SEEKED)
            lc.any = false; /* a jump over finished records, not damage */
        if (ps != PEND_IN)
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
        locs[b->n - 1] = (weft__spool_loc){rec.seq, at, f->id};
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
        weft__spool_note_damage(sp, f->name, &r.dmg, at_end ? weft__spool_loss_end(&lc, &r.dmg) : lc.lost);
    /* Ranges before k are finished (taken or found missing); p->lo == p->hi ranges too. */
    drop_ranges(sp, f, k);
    while (f->n_pend > 0 && f->pend[0].lo >= f->pend[0].hi)
        drop_ranges(sp, f, 1);
}

/* ---- the weaker order, past the index's cap -------------------------------------------------
 * Without the index, a replay batch is read in file order, where a parent's record usually comes after its
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
        (void)weft__spool_range_add(f, locs[k].seq, locs[k].seq + 1, locs[k].off, c, &sp->pend_records);
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


/* ---- the index: helpers --------------------------------------------------------------------- */

/* A record to sort by file, then seq; k: an index the caller gives meaning to. */
typedef struct fsx {
    uint64_t seq;
    uint32_t file, k;
} fsx;

static int cmp_fsx(const void *a, const void *b)
{
    const fsx *x = a, *y = b;
    if (x->file != y->file)
        return (x->file > y->file) - (x->file < y->file);
    return (x->seq > y->seq) - (x->seq < y->seq);
}


void weft__spool_replay_teardown(weft__spool *sp)
{
    for (sfile *f = sp->files; f; f = f->next)
        weft__spool_ixq_fini(&f->q);
    weft__spool_ix_fini(&sp->ix);
    sp->ix_on = false;
}

void weft__spool_replay_settle(weft__spool *sp)
{
    if (sp->ix_on && sp->ix.live == 0)
        weft__spool_replay_teardown(sp);
}

void weft__spool_replay_forget(weft__spool *sp, sfile *f)
{
    weft__spool_ixq_clear(&sp->ix, &f->q);
    if (f->live == 0 && f->pend_records == 0)
        return; /* finished: its entries are all gone already */
    /* Dropped by the cap with records pending or in flight: their entries go (a replay batch
     * holding some finds them gone when it ends; their children no longer wait for them). */
    for (uint32_t x = 0; x < sp->ix.n; x++) {
        const weft__spool_ixent *c = &sp->ix.e[x];
        if (c->file == f->id && c->state != WEFT__IX_FREE && c->state != WEFT__IX_ZOMBIE)
            weft__spool_ix_drop(&sp->ix, x);
    }
}

bool weft__spool_replay_absorb(weft__spool *sp, sfile *f)
{
    if (f->n_pend == 0)
        return true;
    if (!weft__spool_ix_room(&sp->ix, f->pend_records))
        return false;
    uint32_t *ids = malloc((size_t)f->pend_records * sizeof *ids);
    if (!ids)
        return false;
    reader r;
    weft__spool_rec rec;
    uint64_t at, found_c = 0;
    size_t k = 0, found = 0;
    bool err = false;
    weft__spool_reader_init(sp, &r, f->fd, f->pend[0].off);
    for (;;) {
        int st = weft__spool_reader_next(sp, &r, &rec, &at);
        if (st < 0) {
            err = true;
            break;
        }
        if (st == 0)
            break;
        if (rec.kind != WEFT__SPOOL_SPAN)
            continue;
        pend_step ps = pend_find(&r, f, &k, rec.seq, at);
        if (ps == PEND_PAST_LAST)
            break;
        if (ps != PEND_IN)
            continue;
        weft__spool_ixent proto = {.trace = rec.trace,
                                   .id = rec.id,
                                   .parent = rec.parent,
                                   .seq = rec.seq,
                                   .off = at,
                                   .file = f->id,
                                   .jlen = (uint32_t)rec.json_len,
                                   .flags = (uint8_t)((rec.flags & 3u) | WEFT__IX_EXACT)};
        uint32_t x = found < f->pend_records ? weft__spool_ix_add(&sp->ix, &proto) : WEFT__IX_NONE;
        if (x == WEFT__IX_NONE) {
            for (size_t q = 0; q < found; q++)
                weft__spool_ix_drop(&sp->ix, ids[q]);
            free(ids);
            return false;
        }
        ids[found++] = x;
        found_c += !(rec.flags & WEFT__SPOOL_F_IN_PROGRESS);
    }
    /* The ranges are done with: what they held and the file did not is lost (damage, counted
     * exactly: a range lists every record it holds), or unreadable for now (a read error). */
    uint64_t in_ranges = f->pend_records, complete_in_ranges = f->pend_complete;
    sp->pend_records -= in_ranges;
    f->n_pend = 0;
    f->pend_records = found;
    f->pend_complete = found_c;
    sp->pend_records += found;
    if (err)
        weft__stat_add(spool_errors, 1);
    else if (in_ranges > found)
        weft__spool_note_damage(sp, f->name, &r.dmg, in_ranges - found);
    log_lost(sp, f, complete_in_ranges > found_c ? complete_in_ranges - found_c : 0);
    /* Read in file order: the ids are in seq order already. */
    bool listed = weft__spool_ixq_insert(&sp->ix, &f->q, ids, found);
    free(ids);
    if (!listed)
        weft__spool_replay_fall_back(sp);
    return true;
}

/* Entry x (PENDING) becomes a range of its file again. */
static void entry_to_range(weft__spool *sp, sfile **fc, uint32_t x)
{
    const weft__spool_ixent *c = &sp->ix.e[x];
    if (!*fc || (*fc)->id != c->file)
        *fc = weft__spool_file_find(sp, c->file);
    sfile *f = *fc;
    if (!f)
        return;
    uint64_t complete = !(c->flags & WEFT__SPOOL_F_IN_PROGRESS);
    f->pend_records--;
    f->pend_complete -= complete;
    sp->pend_records--;
    /* One that cannot be listed for lack of memory stays unacknowledged on disk for the next
     * process; this one counts it lost. */
    if (!weft__spool_range_add(f, c->seq, c->seq + 1, c->off, complete, &sp->pend_records))
        weft__stat_add(dropped_export, complete);
}

void weft__spool_replay_fall_back(weft__spool *sp)
{
    weft__spool_ix *ix = &sp->ix;
    size_t n = 0;
    fsx *v = ix->live ? malloc((size_t)ix->live * sizeof *v) : NULL;
    sfile *fc = NULL;
    if (v) {
        for (uint32_t x = 0; x < ix->n; x++)
            if (ix->e[x].state == WEFT__IX_PENDING)
                v[n++] = (fsx){ix->e[x].seq, ix->e[x].file, x};
        /* In file order, so that each file's ranges are appended, not inserted. */
        qsort(v, n, sizeof *v, cmp_fsx);
        for (size_t q = 0; q < n; q++)
            entry_to_range(sp, &fc, v[q].k);
        free(v);
    } else {
        for (uint32_t x = 0; x < ix->n; x++)
            if (ix->e[x].state == WEFT__IX_PENDING)
                entry_to_range(sp, &fc, x);
    }
    /* TAKEN entries are simply forgotten: their batches end through the ranges (gen no longer
     * matches an index that is on). */
    weft__spool_replay_teardown(sp);
    sp->ix_fell_back = true;
    if (!sp->logged_ix) {
        sp->logged_ix = true;
        weft__log(WEFT_LOG_WARN, "spool: %llu records wait for replay, more than the replay "
                                 "index holds (%u) or memory allows; replaying them file by "
                                 "file, parents first only within each request, until at most "
                                 "%u wait",
                  (unsigned long long)sp->pend_records, ix->max, ix->max / 2);
    }
}

bool weft__spool_replay_keep_new(weft__spool *sp, sfile *f, const weft__spool_ref *ref,
                                 const weft__batch *b, size_t i, size_t j, uint64_t lo)
{
    size_t n = 0;
    for (size_t k = i; k < j; k++)
        n += weft__spool_written(sp, b, k);
    if (!weft__spool_ix_room(&sp->ix, n))
        return false;
    uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    if (!ids)
        return false;
    size_t w = 0;
    uint64_t complete = 0;
    for (size_t k = i; k < j; k++) {
        if (!weft__spool_written(sp, b, k))
            continue;
        const weft__batch_item *it = &b->items[k];
        size_t len;
        weft__batch_item_bytes(b, sp->enc, k, &len);
        /* The batch's first frame: reading for the record starts there (its own offset is
         * learnt when it is first read). */
        weft__spool_ixent proto = {.trace = it->trace,
                                   .id = it->id,
                                   .parent = it->parent,
                                   .seq = lo + w,
                                   .off = ref->off0,
                                   .file = f->id,
                                   .jlen = (uint32_t)len,
                                   .flags = (uint8_t)((it->in_progress ? WEFT__SPOOL_F_IN_PROGRESS : 0u) |
                                                      (it->final_open ? WEFT__SPOOL_F_FINAL_OPEN : 0u))};
        uint32_t x = weft__spool_ix_add(&sp->ix, &proto);
        if (x == WEFT__IX_NONE)
            break;
        ids[w++] = x;
        complete += !it->in_progress;
    }
    if (w < n || !weft__spool_ixq_insert(&sp->ix, &f->q, ids, w)) {
        for (size_t q = 0; q < w; q++)
            weft__spool_ix_drop(&sp->ix, ids[q]);
        free(ids);
        return false;
    }
    free(ids);
    f->pend_records += w;
    f->pend_complete += complete;
    sp->pend_records += w;
    return true;
}

/* Lists the entries v[0..n) (PENDING again, sorted by file then seq) in their files' queues;
 * false when memory is short (then the index falls back to ranges). */
static void requeue(weft__spool *sp, const fsx *v, size_t n, uint32_t *scratch)
{
    for (size_t a = 0; a < n;) {
        size_t z = a;
        while (z < n && v[z].file == v[a].file)
            z++;
        sfile *f = weft__spool_file_find(sp, v[a].file);
        for (size_t q = a; q < z; q++)
            scratch[q - a] = v[q].k;
        if (f && !weft__spool_ixq_insert(&sp->ix, &f->q, scratch, z - a)) {
            weft__spool_replay_fall_back(sp);
            return;
        }
        a = z;
    }
}

/* Items [i, j) of a replay batch by file then seq (k: the item); NULL when memory is short. */
static fsx *items_by_file(const weft__spool_ref *ref, size_t i, size_t j)
{
    fsx *v = malloc((j - i) * sizeof *v);
    if (!v)
        return NULL;
    for (size_t k = i; k < j; k++)
        v[k - i] = (fsx){ref->locs[k].seq, ref->locs[k].file, (uint32_t)k};
    qsort(v, j - i, sizeof *v, cmp_fsx);
    return v;
}

static bool from_index(const weft__spool *sp, const weft__spool_ref *ref)
{
    return sp->ix_on && ref->gen != 0 && ref->gen == sp->ix_gen;
}

/* The ack of one file's items v[0..n) of a replay batch. */
static void ack_file(weft__spool *sp, const weft__spool_ref *ref, const weft__batch *b, const fsx *v,
                     size_t n)
{
    sfile *f = weft__spool_file_find(sp, v[0].file);
    if (!f)
        return; /* dropped by the cap meanwhile */
    bool indexed = from_index(sp, ref);
    weft__buf_reset(&sp->wbuf);
    uint64_t lo = v[0].seq, cnt = 0, done = 0;
    for (size_t q = 0; q < n; q++) {
        if (q > 0 && v[q].seq != lo + cnt) {
            weft__spool_put_ack(&sp->wbuf, lo, cnt);
            lo = v[q].seq;
            cnt = 0;
        }
        cnt++;
        if (indexed) {
            const weft__batch_item *it = &b->items[v[q].k];
            uint32_t x = weft__spool_ix_find(&sp->ix, it->trace, it->id, f->id, v[q].seq);
            if (x == WEFT__IX_NONE || sp->ix.e[x].state != WEFT__IX_TAKEN)
                continue; /* not live here (never happens while each item ends once) */
            weft__spool_ix_drop(&sp->ix, x); /* its children may go now */
        }
        done++;
    }
    weft__spool_put_ack(&sp->wbuf, lo, cnt);
    f->live -= done <= f->live ? done : f->live;
    weft__spool_write_acks(sp, f);
    weft__spool_file_maybe_finish(sp, f);
}

void weft__spool_replay_ack(weft__spool *sp, const weft__spool_ref *ref, const weft__batch *b,
                            size_t i, size_t j)
{
    size_t m = j - i;
    sp->replay_out -= m <= sp->replay_out ? m : sp->replay_out;
    fsx *v = items_by_file(ref, i, j);
    if (!v) {
        for (size_t k = i; k < j; k++) {
            fsx one = {ref->locs[k].seq, ref->locs[k].file, (uint32_t)k};
            ack_file(sp, ref, b, &one, 1);
        }
        return;
    }
    for (size_t a = 0; a < m;) {
        size_t z = a;
        while (z < m && v[z].file == v[a].file)
            z++;
        ack_file(sp, ref, b, v + a, z - a);
        a = z;
    }
    free(v);
}

/* The keep of one file's items v[0..n) of a replay batch; returns the completed ones kept. */
static size_t keep_file(weft__spool *sp, const weft__spool_ref *ref, const weft__batch *b, fsx *v,
                        size_t n, uint32_t *scratch)
{
    sfile *f = weft__spool_file_find(sp, v[0].file);
    if (!f)
        return 0; /* dropped by the cap meanwhile: counted lost by the caller */
    bool indexed = from_index(sp, ref);
    size_t kept = 0, back = 0, done = 0;
    for (size_t q = 0; q < n; q++) {
        const weft__batch_item *it = &b->items[v[q].k];
        uint64_t complete = !it->in_progress;
        const weft__spool_loc *loc = &ref->locs[v[q].k];
        if (indexed) {
            uint32_t x = weft__spool_ix_find(&sp->ix, it->trace, it->id, f->id, loc->seq);
            if (x == WEFT__IX_NONE || sp->ix.e[x].state != WEFT__IX_TAKEN)
                continue;
            sp->ix.e[x].state = WEFT__IX_PENDING;
            v[back++] = (fsx){loc->seq, f->id, x};
            f->pend_records++;
            f->pend_complete += complete;
            sp->pend_records++;
            kept += complete;
        } else if (weft__spool_range_add(f, loc->seq, loc->seq + 1, loc->off, complete,
                                         &sp->pend_records)) {
            kept += complete;
        }
        /* else: not listed for lack of memory; it stays unacknowledged on disk for the next
         * process, this one counts it lost. */
        done++;
    }
    f->live -= done <= f->live ? done : f->live;
    if (back > 0)
        requeue(sp, v, back, scratch);
    /* Ranges while the index is on (a ref of no index: never happens, see the invariants). */
    if (sp->ix_on && f->n_pend > 0 && !weft__spool_replay_absorb(sp, f))
        weft__spool_replay_fall_back(sp);
    weft__spool_file_sync_soon(f);
    weft__spool_file_maybe_finish(sp, f);
    return kept;
}

size_t weft__spool_replay_keep(weft__spool *sp, const weft__spool_ref *ref, const weft__batch *b,
                               size_t i, size_t j)
{
    size_t m = j - i, kept = 0;
    sp->replay_out -= m <= sp->replay_out ? m : sp->replay_out;
    fsx *v = items_by_file(ref, i, j);
    uint32_t *scratch = malloc(m * sizeof *scratch);
    if (!v || !scratch) {
        free(v);
        free(scratch);
        uint32_t one_id;
        for (size_t k = i; k < j; k++) {
            fsx one = {ref->locs[k].seq, ref->locs[k].file, (uint32_t)k};
            kept += keep_file(sp, ref, b, &one, 1, &one_id);
        }
        return kept;
    }
    for (size_t a = 0; a < m;) {
        size_t z = a;
        while (z < m && v[z].file == v[a].file)
            z++;
        kept += keep_file(sp, ref, b, v + a, z - a, scratch);
        a = z;
    }
    free(v);
    free(scratch);
    return kept;
}

/* ---- the index: reading a batch --------------------------------------------------------------- */

/* Entries picked[0..n) (PLACING) go back to PENDING, listed again. */
static void unplace(weft__spool *sp, const uint32_t *picked, size_t n)
{
    fsx *v = malloc((n ? n : 1) * sizeof *v);
    uint32_t *scratch = malloc((n ? n : 1) * sizeof *scratch);
    for (size_t q = 0; q < n; q++)
        sp->ix.e[picked[q]].state = WEFT__IX_PENDING;
    if (!v || !scratch) {
        free(v);
        free(scratch);
        weft__spool_replay_fall_back(sp); /* finds them in the pool */
        return;
    }
    for (size_t q = 0; q < n; q++)
        v[q] = (fsx){sp->ix.e[picked[q]].seq, sp->ix.e[picked[q]].file, picked[q]};
    qsort(v, n, sizeof *v, cmp_fsx);
    requeue(sp, v, n, scratch);
    free(v);
    free(scratch);
}

/* Entry x (PLACING) was not found where the index said (damage since it was read, or a read
 * error): finished, counted lost. */
static void lost_entry(weft__spool *sp, uint32_t x, bool read_error)
{
    const weft__spool_ixent *c = &sp->ix.e[x];
    sfile *f = weft__spool_file_find(sp, c->file);
    if (f) {
        uint64_t complete = !(c->flags & WEFT__SPOOL_F_IN_PROGRESS);
        f->pend_records--;
        f->pend_complete -= complete;
        sp->pend_records--;
        if (!read_error)
            weft__stat_add(spool_corrupt_records, 1);
        log_lost(sp, f, complete);
    }
    weft__spool_ix_drop(&sp->ix, x);
}

enum { MISSING = 0, FOUND, UNREADABLE };

typedef struct got {
    size_t start, len;
    int how;
} got;

/* Reads one file's entries v[0..n) (sorted by seq; k: position in the batch) into sp->ixbuf,
 * in file order: seeking to an entry's offset when it lies ahead, reading on otherwise (an
 * entry whose offset is not exact is found by its number). */
static void read_file_entries(weft__spool *sp, sfile *f, const fsx *v, size_t n, const uint32_t *picked,
                              got *g)
{
    reader r;
    weft__spool_rec rec;
    uint64_t at = 0;
    bool have = false, err = false;
    weft__spool_reader_init(sp, &r, f->fd, sp->ix.e[picked[v[0].k]].off);
    for (size_t q = 0; q < n; q++) {
        weft__spool_ixent *c = &sp->ix.e[picked[v[q].k]];
        got *out = &g[v[q].k];
        out->how = MISSING;
        if (err) {
            out->how = UNREADABLE;
            continue;
        }
        if (r.base + r.pos < c->off) {
            weft__spool_reader_seek(&r, c->off);
            have = false;
        }
        for (;;) {
            if (!have) {
                int st = weft__spool_reader_next(sp, &r, &rec, &at);
                if (st < 0) {
                    err = true;
                    out->how = UNREADABLE;
                    break;
                }
                if (st == 0)
                    break;
                have = true;
            }
            if (rec.kind != WEFT__SPOOL_SPAN || rec.seq < c->seq) {
                have = false;
                continue;
            }
            if (rec.seq == c->seq) {
                have = false;
                if (rec.trace == c->trace && rec.id == c->id) {
                    out->start = sp->ixbuf.len;
                    out->len = rec.json_len;
                    out->how = FOUND;
                    weft__buf_append(&sp->ixbuf, rec.json, rec.json_len);
                    c->off = at;
                    c->flags |= WEFT__IX_EXACT;
                }
            }
            break; /* a later record stays read for the next entry */
        }
    }
    if (err)
        weft__stat_add(spool_errors, 1);
}

/* The batch of the entries picked[0..n) (PLACING, in sending order), with its locs; the
 * entries read become TAKEN, those not found are finished and counted. NULL when memory is
 * short (every entry is PENDING again). An empty batch when none was found. */
static weft__batch *read_picked(weft__spool *sp, const uint32_t *picked, size_t n,
                                weft__spool_loc **locs_out)
{
    weft__spool_ix *ix = &sp->ix;
    fsx *v = malloc(n * sizeof *v);
    got *g = calloc(n, sizeof *g);
    weft__spool_loc *locs = malloc(n * sizeof *locs);
    weft__batch *b = weft__batch_new(1u << sp->enc);
    if (!v || !g || !locs || !b)
        goto oom;
    for (size_t q = 0; q < n; q++)
        v[q] = (fsx){ix->e[picked[q]].seq, ix->e[picked[q]].file, (uint32_t)q};
    qsort(v, n, sizeof *v, cmp_fsx);
    weft__buf_reset(&sp->ixbuf);
    for (size_t a = 0; a < n;) {
        size_t z = a;
        while (z < n && v[z].file == v[a].file)
            z++;
        sfile *f = weft__spool_file_find(sp, v[a].file);
        if (f)
            read_file_entries(sp, f, v + a, z - a, picked, g);
        a = z;
    }
    if (sp->ixbuf.oom) {
        sp->ixbuf.oom = false;
        goto oom;
    }
    sfile *f = NULL;
    for (size_t q = 0; q < n; q++) {
        uint32_t x = picked[q];
        weft__spool_ixent *c = &ix->e[x];
        if (g[q].how != FOUND) {
            lost_entry(sp, x, g[q].how == UNREADABLE);
            continue;
        }
        size_t before = b->enc[sp->enc].bytes.len;
        weft__buf_append(&b->enc[sp->enc].bytes, sp->ixbuf.data + g[q].start, g[q].len);
        weft__batch_item it = {.trace = c->trace,
                               .id = c->id,
                               .parent = c->parent,
                               .in_progress = (c->flags & WEFT__SPOOL_F_IN_PROGRESS) != 0,
                               .final_open = (c->flags & WEFT__SPOOL_F_FINAL_OPEN) != 0};
        if (b->enc[sp->enc].bytes.oom || !weft__batch_push(b, &it)) {
            b->enc[sp->enc].bytes.len = before;
            b->enc[sp->enc].bytes.oom = false;
            unplace(sp, picked + q, n - q); /* the rest waits for the next batch */
            break;
        }
        if (!f || f->id != c->file)
            f = weft__spool_file_find(sp, c->file);
        locs[b->n - 1] = (weft__spool_loc){c->seq, c->off, c->file};
        c->state = WEFT__IX_TAKEN;
        f->live++;
        f->pend_records--;
        f->pend_complete -= !(c->flags & WEFT__SPOOL_F_IN_PROGRESS);
        sp->pend_records--;
    }
    /* Files whose last pending records were all lost are finished now. */
    for (size_t a = 0; a < n;) {
        size_t z = a;
        while (z < n && v[z].file == v[a].file)
            z++;
        sfile *ff = weft__spool_file_find(sp, v[a].file);
        if (ff)
            weft__spool_file_maybe_finish(sp, ff);
        a = z;
    }
    free(v);
    free(g);
    *locs_out = locs;
    return b;
oom:
    free(v);
    free(g);
    free(locs);
    weft__batch_free(b);
    unplace(sp, picked, n);
    return NULL;
}

static weft__batch *replay_indexed(weft__spool *sp, size_t max_items, size_t max_bytes,
                                   weft__spool_ref *ref)
{
    while (sp->ix_on && sp->ix.live > 0) {
        size_t nf = 0;
        for (sfile *f = sp->files; f; f = f->next)
            nf++;
        size_t cap = max_items < sp->ix.live ? max_items : sp->ix.live;
        weft__spool_ixq **qs = malloc((nf ? nf : 1) * sizeof *qs);
        uint32_t *picked = malloc(cap * sizeof *picked);
        if (!qs || !picked) {
            free(qs);
            free(picked);
            return NULL;
        }
        nf = 0;
        for (sfile *f = sp->files; f; f = f->next)
            qs[nf++] = &f->q; /* oldest file first */
        size_t n = weft__spool_ix_pick(&sp->ix, qs, nf, cap, max_bytes, picked);
        free(qs);
        if (n == 0) {
            free(picked);
            return NULL; /* nothing pending, or all of it waits for a batch in flight */
        }
        weft__spool_loc *locs = NULL;
        weft__batch *b = read_picked(sp, picked, n, &locs);
        free(picked);
        if (!b)
            return NULL;
        if (b->n > 0) {
            ref->file = locs[0].file;
            ref->gen = sp->ix_gen;
            ref->locs = locs;
            return b;
        }
        weft__batch_free(b); /* every one was lost: pick again */
        free(locs);
    }
    return NULL;
}

/* Builds the index from every file's ranges (falls back when they do not fit). */
static void build(weft__spool *sp)
{
    sp->ix_on = true;
    if (++sp->ix_gen == 0)
        sp->ix_gen = 1;
    for (sfile *f = sp->files; f && sp->ix_on;) {
        sfile *nx = f->next;
        if (f->n_pend > 0) {
            if (!weft__spool_replay_absorb(sp, f)) {
                weft__spool_replay_fall_back(sp);
                break;
            }
            weft__spool_file_maybe_finish(sp, f);
        }
        f = nx;
    }
    if (sp->ix_on)
        sp->ix_fell_back = false;
}

/* The ranges: the oldest file with pending records, one pass. */
static weft__batch *replay_ranges(weft__spool *sp, size_t max_items, size_t max_bytes,
                                  weft__spool_ref *ref)
{
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
        weft__spool_file_maybe_finish(sp, f);
        f = nx;
    }
    return NULL;
}

weft__batch *weft__spool_replay(weft__spool *sp, size_t max_items, size_t max_bytes,
                                weft__spool_ref *ref)
{
    memset(ref, 0, sizeof *ref);
    if (!sp || max_items == 0)
        return NULL;
    if (!sp->ix_on && sp->pend_records > 0) {
        uint64_t room = sp->ix_fell_back ? sp->ix.max / 2 : sp->ix.max;
        if (sp->pend_records <= room) {
            /* Batches read without the index are out: their records' children must not be
             * sent before they end, and only then does the index see everything. */
            if (sp->replay_out > 0)
                return NULL;
            build(sp);
        } else if (!sp->ix_fell_back) {
            weft__spool_replay_fall_back(sp); /* logs it */
        }
    }
    weft__batch *b = sp->ix_on ? replay_indexed(sp, max_items, max_bytes, ref)
                               : replay_ranges(sp, max_items, max_bytes, ref);
    if (b)
        sp->replay_out += b->n;
    weft__spool_replay_settle(sp);
    return b;
}
