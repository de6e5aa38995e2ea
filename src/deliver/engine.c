/*
 * engine.c — the delivery engine (see engine.h for the contract): DESIGN.md section 7 on top of
 * the HTTP client (http.c), the pure policy (retry.c) and the disk spool (spool.c), for any
 * protocol a weft__engine_proto describes.
 *
 * Owns (struct weft__engine): the HTTP client, one uv timer (backoff, pause probes, replay),
 * the URL, every submitted batch until it is finished (`held`), the jobs cut from them, and the
 * spool.
 *
 * Model: a submitted batch is cut into jobs of at most proto->max_items items and at most the
 * byte budget (max_batch_bytes, halved on each 413). A job is a stack of item ranges sent one
 * at a time, top first: a 413, or a rejection that names no item, replaces the top range by its
 * two halves, first half on top, so the halves go one after the other and the first is
 * acknowledged before the second is sent (parents precede children inside a batch, and that
 * order survives splitting) — unless no item of the second half, nor of the ranges below it,
 * has its parent in the half sent before it: then the second half becomes a job of its own and
 * both are in flight at once. A replay batch is one job whatever its size (its parts then go
 * one after the other: a record in it may be the parent of any later one, and the spool holds
 * back children of records still in flight). Jobs not in flight wait in `queue`, oldest first;
 * each has a `due` time (backoff). At most max_inflight jobs are in flight.
 *
 * Items of a held batch can be dead (h->dead[k]): rejected (the server named them, or a
 * bisection isolated them; counted once, when they died) or superseded (an in-progress copy of
 * a span whose completed copy, or a later in-progress copy, goes in the same request: one
 * record per span id in any request). A range's request carries its live items only; when it
 * holds dead ones its body is gathered into the job's own buffer.
 *
 * Invariants:
 *  - Every held batch ends in exactly one weft__batch_done (a replay batch: weft__batch_free),
 *    in held_release when its last job finishes, or in refuse_batch / hold when it is never
 *    held, with the count of its completed records that were not delivered; each such record is
 *    counted in exactly one of dropped_export (with rejected when the server refused it),
 *    dropped_queue, or spooled.
 *  - held_bytes is the encoded size of the held batches and never exceeds max_queue_bytes
 *    except by the one batch that arrives when nothing is held.
 *  - `queued` in weft_stats mirrors held_records: records held and not finished.
 *  - While paused (401/403, or a TLS certificate refused) at most one request is in flight:
 *    the probe, every 30 s.
 *  - Export thread only; the headers (API keys) are never logged.
 *  - Every undelivered record leaves through give_up() (retries exhausted, rejected, refused,
 *    shutdown) or refuse_batch() (queue over its limit): the two places the disk spool hooks in.
 *
 * Disk spool (spool.h; when spool_dir is set): every batch is appended to the spool before its
 * first request; a 2xx (or a rejection, which no retry can change) acks its records there;
 * give_up() and refuse_batch() leave the records on disk instead of dropping them (counted in
 * `spooled`, not dropped_*). Records waiting on disk come back as replay batches, which go
 * through the same jobs and end the same way but are not the worker's batches: they are freed
 * here, not passed to weft__batch_done, and their delivery counts in `replayed`. Replay runs
 * while the server answers (`healthy`: the last outcome was a 2xx), the queue is under half its
 * limit and at most MAX_REPLAYING replay batches are held; while it does not answer, one replay
 * batch at a time probes it, no sooner than REPLAY_PROBE_MS after the last one failed. Nothing
 * new is replayed once shutdown has begun.
 */
#include "engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "runtime.h"
#include "spool.h"

/* Credentials refused: probe again after 30 s (or the server's Retry-After when longer);
 * never faster, whatever happens meanwhile. */
#define PAUSE_PROBE_MS 30000u
/* The byte budget never shrinks below this: one item alone is always sent whole anyway. */
#define MIN_BUDGET 1024u
/* A job of <= 1000 items split in halves at most ceil(log2(1000)) = 10 times deep holds at most
 * 11 ranges; 32 leaves room. */
#define MAX_RANGES 32
/* Rejected records logged one by one before the rest are only counted: a systematic fault
 * could otherwise write a line per span. */
#define MAX_REJECT_LOGS 50
/* Replay batches held at once while the server answers: enough to keep replay moving beside
 * live traffic, few enough that live spans keep most of the in-flight slots. */
#define MAX_REPLAYING 2u
/* A replay batch that failed again is followed by the next no sooner than this. */
#define REPLAY_PROBE_MS 5000u

enum { LIVE = 0, DEAD_REJECTED = 1, DEAD_SUPERSEDED = 2 };

/* A batch this engine holds. */
typedef struct held {
    weft__batch *b;
    size_t jobs;             /* jobs still open over it */
    size_t dropped_complete; /* completed records given up */
    weft__spool_ref ref;     /* where its records are in the spool (file 0: not there) */
    uint8_t *dead;           /* NULL until an item dies; then one byte per item */
    bool replay;             /* read back from the spool: freed here, not weft__batch_done */
    bool failed;             /* replay: some records went back to the spool */
} held;

typedef struct range {
    uint32_t i, j; /* items [i, j) of the batch */
} range;

typedef struct job {
    weft__engine *e;
    held *h;
    uint64_t seq;      /* creation order: the queue is sorted by it */
    uint64_t first_ms; /* uv_now of the first attempt of these records; 0: not sent yet */
    uint64_t due_ms;   /* not sent before this uv_now */
    unsigned attempt;  /* retries of the top range so far */
    bool backoff;      /* due_ms is our own backoff, not a time the server asked for */
    bool cut;          /* body holds the top range's single item with its largest values cut */
    size_t n_ranges;   /* ranges[n_ranges - 1] is the one to send */
    range ranges[MAX_RANGES];
    size_t n_sent;     /* items in the request in flight (or last answered) */
    size_t sent_bytes; /* its body's length */
    weft__buf body;    /* the body's items when they are not one slice of the batch */
    weft__buf wire;    /* the attempt's body as the protocol's encode_body made it (gzip) */
    weft__engine_frame frame;
    weft__http_xfer *xfer; /* while in flight */
    struct job *prev, *next;
} job;

struct weft__engine {
    const weft__engine_proto *p;
    void *ctx;
    const weft__cfg *cfg;
    uv_loop_t *loop;
    weft__http *http;
    uv_timer_t timer;
    char *url;
    job *queue, *queue_tail; /* not in flight, sorted by seq */
    job *flying;             /* in flight (unordered) */
    size_t inflight, max_inflight;
    uint64_t next_seq;
    uint64_t budget;         /* bytes per request body */
    uint64_t good;           /* after a 413: the largest body accepted since (0: none yet) */
    bool shrunk;             /* a 413 has been seen */
    uint64_t held_bytes, held_records;
    uint64_t rng;
    bool paused;
    uint64_t probe_due;      /* while paused: when the next probe may go */
    bool closing;
    bool draining;           /* shutdown has begun: nothing new is replayed */
    weft__spool *spool;      /* NULL: no disk spool */
    bool healthy;            /* the last answer was a 2xx (or nothing was sent yet) */
    size_t replaying;        /* replay batches held */
    uint64_t replay_due;     /* while not healthy: no replay batch before this uv_now */
    bool scanned;            /* the spool directory was looked at for dead processes' files */
    uint32_t *named;         /* scratch for the rejection reader (WEFT__ENGINE_MAX_NAMED) */
    /* Log-once state: each is cleared when the condition it reports ends (a 2xx, the queue
     * half empty), so an episode logs one line, not one per request; a status that can never
     * work (404, a bad CA file) is logged once per run. */
    bool logged_retry, logged_window, logged_pause, logged_queue, logged_dropped_status;
    unsigned reject_logs;
};

static void pump(weft__engine *e);
static void on_done(void *ud, const weft__http_result *r);
static void hold(weft__engine *e, weft__batch *b, weft__spool_ref *ref, bool replay);

/* The server's words of an answer, for log lines: the protocol's reading, else the body's. */
static void answer_detail(const weft__engine *e, const weft__http_result *r, char *out, size_t cap)
{
    if (e->p->detail) {
        if (cap)
            out[0] = '\0';
        e->p->detail(e->ctx, r, out, cap);
    } else {
        weft__retry_detail(r->body, r->body_len, out, cap);
    }
}

/* ---- time, sizes and live items --------------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool is_live(const held *h, size_t k) { return h->dead == NULL || h->dead[k] == LIVE; }

/* The next run of live items [*a, *z) at or after `from` within r; false when none is left. */
static bool next_run(const held *h, range r, uint32_t from, uint32_t *a, uint32_t *z)
{
    uint32_t k = from;
    while (k < r.j && !is_live(h, k))
        k++;
    if (k >= r.j)
        return false;
    *a = k;
    while (k < r.j && is_live(h, k))
        k++;
    *z = k;
    return true;
}

static bool all_live(const held *h, range r)
{
    if (h->dead == NULL)
        return true;
    for (uint32_t k = r.i; k < r.j; k++)
        if (h->dead[k] != LIVE)
            return false;
    return true;
}

static size_t live_count(const held *h, range r)
{
    if (h->dead == NULL)
        return r.j - r.i;
    size_t n = 0;
    for (uint32_t k = r.i; k < r.j; k++)
        n += h->dead[k] == LIVE;
    return n;
}

static size_t slice_len(const weft__engine *e, const weft__batch *b, size_t i, size_t j)
{
    size_t len;
    weft__batch_slice(b, e->p->encoding, i, j, &len);
    return len;
}

static size_t frame_bytes(const weft__engine *e, size_t slice)
{
    weft__engine_frame f;
    e->p->frame(e->ctx, slice, &f);
    return f.prefix_len + f.suffix_len;
}

/* The items' bytes of a request for range r: its live items, joined by the encoding's
 * separator. */
static size_t body_items_len(const weft__engine *e, const held *h, range r)
{
    if (all_live(h, r))
        return slice_len(e, h->b, r.i, r.j);
    size_t n = 0, runs = 0;
    uint32_t a, z, from = r.i;
    while (next_run(h, r, from, &a, &z)) {
        n += slice_len(e, h->b, a, z);
        runs++;
        from = z;
    }
    if (runs > 1 && weft__encodings[e->p->encoding].sep)
        n += runs - 1;
    return n;
}

static size_t range_bytes(const weft__engine *e, const held *h, range r)
{
    size_t items = body_items_len(e, h, r);
    return items + frame_bytes(e, items);
}

/* ---- the queue ---------------------------------------------------------------------------- */

static void queue_insert(weft__engine *e, job *j)
{
    /* Sorted by seq; retried jobs are old, new ones go at the tail: scan from the tail. */
    job *after = e->queue_tail;
    while (after && after->seq > j->seq)
        after = after->prev;
    j->prev = after;
    j->next = after ? after->next : e->queue;
    if (j->next)
        j->next->prev = j;
    else
        e->queue_tail = j;
    if (after)
        after->next = j;
    else
        e->queue = j;
}

/* Takes j out of the list at *head (with its last element at *tail when the list keeps one). */
static void list_unlink(job **head, job **tail, job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        *head = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else if (tail)
        *tail = j->prev;
    j->prev = j->next = NULL;
}

static void queue_remove(weft__engine *e, job *j) { list_unlink(&e->queue, &e->queue_tail, j); }

static void flying_add(weft__engine *e, job *j)
{
    j->prev = NULL;
    j->next = e->flying;
    if (e->flying)
        e->flying->prev = j;
    e->flying = j;
    e->inflight++;
}

static void flying_remove(weft__engine *e, job *j)
{
    list_unlink(&e->flying, NULL, j);
    e->inflight--;
}

/* ---- how a batch ends: the one place ------------------------------------------------------ */

static void held_release(weft__engine *e, held *h)
{
    weft__batch *b = h->b;
    e->held_bytes -= weft__batch_bytes(b, e->p->encoding);
    e->held_records -= b->n;
    weft__stat_sub(queued, b->n);
    size_t dropped = h->dropped_complete;
    bool replay = h->replay;
    if (replay) {
        e->replaying--;
        if (h->failed)
            e->replay_due = uv_now(e->loop) + REPLAY_PROBE_MS;
    }
    weft__spool_ref_fini(&h->ref);
    free(h->dead);
    free(h);
    if (replay)
        weft__batch_free(b);
    else
        weft__batch_done(b, dropped);
}

static job *job_new(weft__engine *e, held *h, uint64_t seq)
{
    job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    j->e = e;
    j->h = h;
    j->seq = seq;
    weft__buf_init(&j->body);
    weft__buf_init(&j->wire);
    h->jobs++;
    return j;
}

static void job_free(weft__engine *e, job *j)
{
    held *h = j->h;
    weft__buf_fini(&j->body);
    weft__buf_fini(&j->wire);
    free(j);
    if (--h->jobs == 0)
        held_release(e, h);
}

typedef enum why { WHY_WINDOW, WHY_REJECTED, WHY_REFUSED, WHY_SHUTDOWN } why;

/* One run of items [a, z), all live: see give_up. */
static void give_up_run(weft__engine *e, held *h, uint32_t a, uint32_t z, why reason)
{
    weft__batch *b = h->b;
    size_t undelivered = weft__batch_count_complete(b, a, z);
    size_t lost = undelivered;
    if (reason == WHY_REJECTED) {
        weft__spool_ack(e->spool, &h->ref, b, a, z);
        weft__stat_add(rejected, lost);
    } else {
        size_t kept = weft__spool_keep(e->spool, &h->ref, b, a, z);
        lost -= kept;
        if (h->replay)
            h->failed = true;
        else
            weft__stat_add(spooled, kept);
    }
    h->dropped_complete += undelivered;
    weft__stat_add(dropped_export, lost);
}

/*
 * The live records of range r will not be delivered now: count them (completed records only —
 * an in-progress upsert lost is superseded by the span's completed record). The one exit for
 * undelivered records of held batches. With a spool, records the server rejected are marked
 * finished there (no retry can change a rejection); the others stay on disk for replay and
 * count in `spooled` (a replay batch's were counted when they first went there), and only what
 * the spool could not keep counts as dropped.
 */
static void give_up(weft__engine *e, held *h, range r, why reason)
{
    uint32_t a, z, from = r.i;
    while (next_run(h, r, from, &a, &z)) {
        give_up_run(e, h, a, z, reason);
        from = z;
    }
    /* A superseded copy is finished whatever becomes of the copy that replaced it (kept or
     * refused with it): each item of a batch ends exactly once in the spool, and replay holds
     * a record's children back until its record has ended. */
    if (h->dead)
        for (uint32_t k = r.i; k < r.j; k++)
            if (h->dead[k] == DEAD_SUPERSEDED)
                weft__spool_ack(e->spool, &h->ref, h->b, k, k + 1);
}

/* The spool's ack of range r, delivered: every item but those rejected earlier (their ack
 * was written when they were rejected). */
static void ack_delivered(weft__engine *e, held *h, range r)
{
    if (h->dead == NULL) {
        weft__spool_ack(e->spool, &h->ref, h->b, r.i, r.j);
        return;
    }
    for (uint32_t k = r.i; k < r.j;) {
        if (h->dead[k] == DEAD_REJECTED) {
            k++;
            continue;
        }
        uint32_t z = k;
        while (z < r.j && h->dead[z] != DEAD_REJECTED)
            z++;
        weft__spool_ack(e->spool, &h->ref, h->b, k, z);
        k = z;
    }
}

static void give_up_job(weft__engine *e, job *j, why reason)
{
    while (j->n_ranges > 0)
        give_up(e, j->h, j->ranges[--j->n_ranges], reason);
    job_free(e, j);
}

/*
 * A batch refused because the queue is over max_queue_bytes (newest refused first: what is
 * already held keeps its place). The other exit for undelivered records: with a spool the
 * batch spills to disk whole (counted in `spooled`) and is replayed once the queue drains;
 * without one, or when the spool cannot take it, it is dropped.
 */
static void refuse_batch(weft__engine *e, weft__batch *b)
{
    size_t undelivered = b->n_complete, kept = 0;
    weft__spool_ref ref;
    if (weft__spool_append(e->spool, b, &ref)) {
        kept = weft__spool_keep(e->spool, &ref, b, 0, b->n);
        weft__stat_add(spooled, kept);
    }
    weft__stat_add(dropped_queue, undelivered - kept);
    if (!e->logged_queue) {
        e->logged_queue = true;
        weft__log(WEFT_LOG_WARN, "%s export queue over its limit (%llu bytes held): %s the "
                                 "newest spans until it drains",
                  e->p->name, (unsigned long long)e->held_bytes,
                  e->spool ? "spilling to the disk spool" : "dropping");
    }
    weft__batch_done(b, undelivered);
}

/* ---- dead items ----------------------------------------------------------------------------- */

static bool mark(held *h, size_t k, uint8_t why_dead)
{
    if (h->dead == NULL && (h->dead = calloc(h->b->n, 1)) == NULL)
        return false;
    h->dead[k] = why_dead;
    return true;
}

/* A small open-addressing set of 64-bit span ids (0 is never an id). */
typedef struct idset {
    uint64_t *slot;
    size_t mask;
} idset;

static bool idset_init(idset *s, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    s->slot = calloc(cap, sizeof *s->slot);
    s->mask = cap - 1;
    return s->slot != NULL;
}

static size_t idset_at(const idset *s, uint64_t id)
{
    size_t k = (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) & s->mask;
    while (s->slot[k] && s->slot[k] != id)
        k = (k + 1) & s->mask;
    return k;
}

static void idset_add(idset *s, uint64_t id) { s->slot[idset_at(s, id)] = id; }
static bool idset_has(const idset *s, uint64_t id) { return id && s->slot[idset_at(s, id)] == id; }

/*
 * One record per span id in a request: an in-progress copy is superseded (dead, not counted:
 * only completed records count) when the request also carries the span's completed copy or a
 * later in-progress one. Only batches holding in-progress records pay for the look.
 */
static void supersede(held *h, range r)
{
    const weft__batch *b = h->b;
    if (b->n_complete == b->n)
        return;
    size_t open = 0;
    for (uint32_t k = r.i; k < r.j; k++)
        open += b->items[k].in_progress && is_live(h, k);
    if (open == 0)
        return;
    idset done, later;
    if (!idset_init(&done, r.j - r.i))
        return; /* out of memory: the server's upsert rule still keeps the completed copy */
    if (!idset_init(&later, open)) {
        free(done.slot);
        return;
    }
    for (uint32_t k = r.i; k < r.j; k++)
        if (!b->items[k].in_progress && is_live(h, k))
            idset_add(&done, b->items[k].id);
    /* Backwards, so that of several in-progress copies the last one stays. */
    for (uint32_t k = r.j; k-- > r.i;) {
        const weft__batch_item *it = &b->items[k];
        if (!it->in_progress || !is_live(h, k))
            continue;
        if (idset_has(&done, it->id) || idset_has(&later, it->id)) {
            if (!mark(h, k, DEAD_SUPERSEDED))
                break;
        } else {
            idset_add(&later, it->id);
        }
    }
    free(done.slot);
    free(later.slot);
}

/* True when no live item of `later` has its parent among the live items of `first`: the two
 * may then be in flight at once without a child reaching the server before its parent. */
static bool independent(const held *h, range first, const range *later, size_t n_later)
{
    const weft__batch *b = h->b;
    idset ids;
    if (!idset_init(&ids, first.j - first.i))
        return false;
    for (uint32_t k = first.i; k < first.j; k++)
        if (is_live(h, k))
            idset_add(&ids, b->items[k].id);
    bool ok = true;
    for (size_t x = 0; x < n_later && ok; x++)
        for (uint32_t k = later[x].i; k < later[x].j && ok; k++)
            if (is_live(h, k) && idset_has(&ids, b->items[k].parent))
                ok = false;
    free(ids.slot);
    return ok;
}

/* ---- sending -------------------------------------------------------------------------------- */

/* Replaces the top range by its halves (by live items), first half on top. False when it
 * cannot be split. */
static bool split_top(job *j)
{
    range r = j->ranges[j->n_ranges - 1];
    size_t live = live_count(j->h, r);
    if (live < 2 || j->n_ranges >= MAX_RANGES)
        return false;
    uint32_t m = r.i;
    for (size_t seen = 0; seen < live / 2; m++)
        seen += is_live(j->h, m);
    j->ranges[j->n_ranges - 1] = (range){m, r.j};
    j->ranges[j->n_ranges++] = (range){r.i, m};
    j->attempt = 0;
    j->cut = false;
    return true;
}

/* After split_top: when order allows, the second half (just below the top) becomes a job of its
 * own, due now, so both halves are in flight at once. */
static void fork_second_half(weft__engine *e, job *j, uint64_t now)
{
    if (j->n_ranges < 2)
        return;
    range first = j->ranges[j->n_ranges - 1], second = j->ranges[j->n_ranges - 2];
    /* The second half must not hold a child of the first, and what the job sends after the
     * first half (the ranges below the second) must not hold a child of the second. */
    if (!independent(j->h, first, &second, 1) ||
        !independent(j->h, second, j->ranges, j->n_ranges - 2))
        return;
    job *f = job_new(e, j->h, j->seq);
    if (f == NULL)
        return;
    f->ranges[0] = second;
    f->n_ranges = 1;
    f->first_ms = j->first_ms;
    f->due_ms = now;
    j->ranges[j->n_ranges - 2] = first;
    j->n_ranges--;
    queue_insert(e, f);
}

/* Builds the request body of the job's top range: fills frame, parts (room for 3) and
 * n_sent; returns the number of parts, 0 when memory is short. */
static size_t build(weft__engine *e, job *j, weft__http_part *parts)
{
    held *h = j->h;
    range r = j->ranges[j->n_ranges - 1];
    const char *items;
    size_t len;
    if (j->cut) {
        items = j->body.data;
        len = j->body.len;
        j->n_sent = 1;
    } else if (all_live(h, r)) {
        items = weft__batch_slice(h->b, e->p->encoding, r.i, r.j, &len);
        j->n_sent = r.j - r.i;
    } else {
        char sep = weft__encodings[e->p->encoding].sep;
        weft__buf_reset(&j->body);
        uint32_t a, z, from = r.i;
        j->n_sent = 0;
        while (next_run(h, r, from, &a, &z)) {
            size_t n;
            const char *p = weft__batch_slice(h->b, e->p->encoding, a, z, &n);
            if (j->n_sent && sep)
                weft__buf_putc(&j->body, sep);
            weft__buf_append(&j->body, p, n);
            j->n_sent += z - a;
            from = z;
        }
        if (j->body.oom) {
            weft__buf_reset(&j->body);
            j->body.oom = false;
            return 0;
        }
        items = j->body.data;
        len = j->body.len;
    }
    e->p->frame(e->ctx, len, &j->frame);
    parts[0] = (weft__http_part){j->frame.prefix, j->frame.prefix_len};
    parts[1] = (weft__http_part){items, len};
    parts[2] = (weft__http_part){j->frame.suffix, j->frame.suffix_len};
    j->sent_bytes = len + j->frame.prefix_len + j->frame.suffix_len;
    return 3;
}

/* The top range is one live item over the budget after a 413: cut its largest values down to
 * the budget (through the protocol's shrink hook) into the job's body. */
static bool cut_item(weft__engine *e, job *j)
{
    range r = j->ranges[j->n_ranges - 1];
    uint32_t k = r.i;
    while (k < r.j && !is_live(j->h, k))
        k++;
    if (e->p->shrink == NULL || k >= r.j)
        return false;
    size_t len;
    const char *item = weft__batch_item_bytes(j->h->b, e->p->encoding, k, &len);
    size_t frame = frame_bytes(e, len);
    if (e->budget <= frame)
        return false;
    size_t target = (size_t)e->budget - frame;
    weft__buf_reset(&j->body);
    if (!e->p->shrink(e->ctx, item, len, target, &j->body) || j->body.oom || j->body.len > target) {
        weft__buf_reset(&j->body);
        j->body.oom = false;
        return false;
    }
    j->cut = true;
    return true;
}

static void start(weft__engine *e, job *j, uint64_t now)
{
    held *h = j->h;
    /* Ranges emptied by rejections are finished. */
    while (j->n_ranges > 0 && live_count(h, j->ranges[j->n_ranges - 1]) == 0) {
        j->n_ranges--;
        j->cut = false;
    }
    if (j->n_ranges == 0) {
        job_free(e, j);
        return;
    }
    /* The budget may have shrunk (413) since the job was cut: split before sending rather than
     * earn another 413. */
    while (!j->cut && range_bytes(e, h, j->ranges[j->n_ranges - 1]) > e->budget && split_top(j))
        ;
    supersede(h, j->ranges[j->n_ranges - 1]);
    weft__http_part parts[3];
    size_t n = build(e, j, parts);
    char line[64];
    const char *extra = NULL;
    if (n && e->p->encode_body) {
        /* The encoded body lives in the job, which outlives the transfer (on_done or cancel
         * come first); its room is reused by the next attempt. */
        const char *enc = NULL;
        weft__buf_reset(&j->wire);
        if (e->p->encode_body(e->ctx, parts, n, &j->wire, &enc) && !j->wire.oom && enc &&
            (size_t)snprintf(line, sizeof line, "Content-Encoding: %s", enc) < sizeof line) {
            parts[0] = (weft__http_part){j->wire.data, j->wire.len};
            n = 1;
            extra = line;
        }
        j->wire.oom = false;
    }
    j->xfer = n ? weft__http_put_h(e->http, e->url, parts, n, extra ? &extra : NULL, extra ? 1 : 0, on_done, j)
                : NULL;
    if (j->xfer == NULL) {
        /* Out of memory (logged by http.c): try again after a backoff, like a failed request. */
        j->due_ms = now + weft__retry_backoff_ms(j->attempt++, weft__retry_rand(&e->rng));
        queue_insert(e, j);
        return;
    }
    if (j->first_ms == 0)
        j->first_ms = now;
    flying_add(e, j);
    weft__stat_add(requests, 1);
}

static void on_timer(uv_timer_t *t) { pump(t->data); }

/* Takes replay batches from the spool while the rules of the file comment allow; returns the
 * uv_now at which a probe may go when that is all that stops it, else UINT64_MAX. */
static uint64_t replay_more(weft__engine *e, uint64_t now)
{
    if (!e->spool || e->paused || e->draining || e->closing)
        return UINT64_MAX;
    if (!e->scanned) {
        e->scanned = true;
        weft__spool_rescan(e->spool);
    }
    const weft__cfg *cfg = e->cfg;
    uint32_t limit = e->p->max_items ? e->p->max_items : UINT32_MAX;
    for (;;) {
        if (weft__spool_pending(e->spool) == 0 || e->held_bytes >= cfg->max_queue_bytes / 2)
            return UINT64_MAX;
        if (e->healthy ? e->replaying >= MAX_REPLAYING : e->replaying > 0)
            return UINT64_MAX;
        if (!e->healthy && now < e->replay_due)
            return e->replay_due;
        weft__spool_ref ref;
        size_t items = cfg->max_batch_spans && cfg->max_batch_spans < limit ? cfg->max_batch_spans : limit;
        /* Room for the framing too, so that a replay batch is one request (see hold). */
        size_t frame = frame_bytes(e, (size_t)e->budget);
        size_t bytes = e->budget > frame + MIN_BUDGET / 2 ? (size_t)e->budget - frame : MIN_BUDGET / 2;
        weft__batch *b = weft__spool_replay(e->spool, items, bytes, &ref);
        if (b == NULL)
            return UINT64_MAX;
        e->replaying++;
        hold(e, b, &ref, true);
    }
}

static void pump(weft__engine *e)
{
    if (e->closing)
        return;
    uint64_t now = uv_now(e->loop);
    uint64_t next = replay_more(e, now);
    if (e->paused) {
        /* One probe at a time: the oldest job, no sooner than probe_due nor its own due. */
        if (e->queue && e->inflight == 0) {
            job *j = e->queue;
            uint64_t at = e->probe_due > j->due_ms ? e->probe_due : j->due_ms;
            if (now >= at) {
                queue_remove(e, j);
                start(e, j, now);
            } else {
                next = at;
            }
        }
    } else {
        for (job *j = e->queue; j && e->inflight < e->max_inflight;) {
            job *nx = j->next;
            if (j->due_ms <= now) {
                queue_remove(e, j);
                start(e, j, now);
                /* start may free j, and a freed held batch never affects nx (another job). */
            } else if (j->due_ms < next) {
                next = j->due_ms;
            }
            j = nx;
        }
        if (e->inflight >= e->max_inflight)
            next = UINT64_MAX; /* a completion will pump */
    }
    if (next == UINT64_MAX)
        uv_timer_stop(&e->timer);
    else
        uv_timer_start(&e->timer, on_timer, next - now, 0);
}

/* ---- outcomes ------------------------------------------------------------------------------- */

static void item_ids(const weft__engine *e, const weft__batch_item *it, char id[48], char trace[48])
{
    if (e->p->ids) {
        e->p->ids(e->ctx, it, id, trace);
        return;
    }
    snprintf(id, 48, "%016llx", (unsigned long long)it->id);
    snprintf(trace, 48, "%016llx", (unsigned long long)it->trace);
}

static void log_rejected(weft__engine *e, const weft__batch *b, size_t k, int status, const char *detail)
{
    if (e->reject_logs >= MAX_REJECT_LOGS)
        return;
    char id[48], trace[48];
    item_ids(e, &b->items[k], id, trace);
    weft__log(WEFT_LOG_WARN, "%s rejected span %s of trace %s (HTTP %d: %s); dropped, the rest "
                             "of its request is delivered%s",
              e->p->name, id, trace, status, detail,
              ++e->reject_logs == MAX_REJECT_LOGS ? "; further rejections are counted, not logged" : "");
}

/* Item k (live) is refused for good: counted, acked in the spool, logged, left out of the
 * resend. h->dead is allocated. */
static void reject_item(weft__engine *e, job *j, uint32_t k, int status, const char *detail)
{
    log_rejected(e, j->h->b, k, status, detail);
    give_up_run(e, j->h, k, k + 1, WHY_REJECTED);
    j->h->dead[k] = DEAD_REJECTED;
}

/* The items the server named in a rejection of the top range, dropped; false when it named none
 * the engine can find in the request (the caller then bisects). */
static bool reject_named(weft__engine *e, job *j, const weft__http_result *r, const char *detail)
{
    held *h = j->h;
    if (e->p->rejected == NULL || j->cut || j->n_sent == 0)
        return false;
    size_t n = e->p->rejected(e->ctx, r, j->n_sent, e->named, WEFT__ENGINE_MAX_NAMED);
    if (n == 0)
        return false;
    if (n > WEFT__ENGINE_MAX_NAMED)
        n = WEFT__ENGINE_MAX_NAMED;
    if (h->dead == NULL && (h->dead = calloc(h->b->n, 1)) == NULL)
        return false;
    range top = j->ranges[j->n_ranges - 1];
    /* Positions in the body are the range's live items, in order. */
    uint32_t *map = malloc(j->n_sent * sizeof *map);
    if (map == NULL)
        return false;
    uint32_t at = 0;
    for (uint32_t k = top.i; k < top.j && at < j->n_sent; k++)
        if (h->dead[k] == LIVE)
            map[at++] = k;
    size_t dropped = 0;
    for (size_t x = 0; x < n; x++) {
        uint32_t pos = e->named[x];
        if (pos >= at || h->dead[map[pos]] != LIVE)
            continue; /* out of range, or named twice */
        reject_item(e, j, map[pos], r->status, detail);
        dropped++;
    }
    free(map);
    return dropped > 0;
}

/* The server stopped answering 2xx: replay waits for it, bar one probe batch now and then,
 * the first REPLAY_PROBE_MS from now (records given up meanwhile are not read straight back). */
static void unhealthy(weft__engine *e, uint64_t now)
{
    if (e->healthy) {
        e->healthy = false;
        e->replay_due = now + REPLAY_PROBE_MS;
    }
}

/* 2xx: the top range is delivered (bar what a partial-success answer refused). */
static void delivered(weft__engine *e, job *j, const weft__http_result *r, uint64_t now)
{
    held *h = j->h;
    weft__batch *b = h->b;
    range top = j->ranges[j->n_ranges - 1];
    e->logged_retry = e->logged_window = false;
    size_t refused = e->p->partial ? e->p->partial(e->ctx, r, j->n_sent) : 0;
    if (refused > 0) {
        /* The server does not say which: the range's last completed records are counted. */
        size_t complete = 0;
        uint32_t a, z, from = top.i;
        while (next_run(h, top, from, &a, &z)) {
            complete += weft__batch_count_complete(b, a, z);
            from = z;
        }
        if (refused > complete)
            refused = complete;
        weft__stat_add(rejected, refused);
        weft__stat_add(dropped_export, refused);
        h->dropped_complete += refused;
        if (e->reject_logs < MAX_REJECT_LOGS) {
            char detail[256];
            answer_detail(e, r, detail, sizeof detail);
            e->reject_logs++;
            weft__log(WEFT_LOG_WARN, "%s accepted part of a request: %zu span records refused (%s)",
                      e->p->name, refused, detail);
        }
    }
    ack_delivered(e, h, top);
    if (h->replay) {
        size_t n = 0;
        uint32_t a, z, from = top.i;
        while (next_run(h, top, from, &a, &z)) {
            n += weft__batch_count_complete(b, a, z);
            from = z;
        }
        weft__stat_add(replayed, n - (refused < n ? refused : n));
    }
    if (!e->healthy) {
        /* The server answers again: replay what waits on disk, including the files of
         * processes that died meanwhile. */
        e->healthy = true;
        weft__spool_rescan(e->spool);
    }
    if (e->shrunk) {
        /* Halving after a 413 can leave the budget above the server's limit when the halves
         * that were tried happened to be smaller; a body the server accepted is a size known
         * to pass, so the budget never stays above the largest of them. */
        uint64_t got = j->sent_bytes;
        if (got > e->good)
            e->good = got;
        if (e->good >= MIN_BUDGET && e->good < e->budget)
            e->budget = e->good;
    }
    j->n_ranges--;
    j->attempt = 0;
    j->cut = false;
    /* The server answers again: requests waiting out our own backoff go now (pump keeps them
     * within max_inflight); a wait the server asked for (Retry-After) is kept. */
    for (job *q = e->queue; q; q = q->next) {
        if (q->backoff && q->due_ms > now) {
            q->due_ms = now;
            q->backoff = false;
        }
    }
}

/* Returns false when the job was finished (given up). */
static bool retry_later(weft__engine *e, job *j, const weft__http_result *r, uint64_t now)
{
    unhealthy(e, now);
    bool server;
    uint64_t delay = weft__retry_delay_ms(r->retry_after, r->retry_after_len, r->retry_after_ms,
                                          r->retry_after_ms_len, wall_ms(), j->attempt,
                                          weft__retry_rand(&e->rng), &server);
    uint64_t window = e->cfg->retry_window_ms;
    /* A wait the server asks for is honoured up to the end of the retry window, never past
     * it: an absurd Retry-After waits out the window (then spool or count), it does not give
     * up at once. */
    uint64_t end = j->first_ms + window;
    if (server && now + delay > end && now < end)
        delay = end - now;
    if (!e->logged_retry) {
        e->logged_retry = true;
        const char *how = server ? "as the server asked" : "with backoff";
        if (r->err != WEFT__HTTP_OK)
            weft__log(WEFT_LOG_WARN, "%s request failed (%s); retrying in %llu ms %s", e->p->name,
                      r->err_text, (unsigned long long)delay, how);
        else
            weft__log(WEFT_LOG_WARN, "%s answered HTTP %d; retrying in %llu ms %s", e->p->name,
                      r->status, (unsigned long long)delay, how);
    }
    if (now + delay > end || (server && now >= end)) {
        if (!e->logged_window) {
            e->logged_window = true;
            weft__log(WEFT_LOG_WARN, "%s: span records still undelivered after retrying for "
                                     "%llu ms (retry_window_ms) %s",
                      e->p->name, (unsigned long long)(now - j->first_ms),
                      e->spool ? "stay in the disk spool for replay; counted in spooled"
                               : "are dropped; counted in dropped_export");
        }
        give_up_job(e, j, WHY_WINDOW);
        return false;
    }
    weft__stat_add(retried, 1);
    j->attempt++;
    j->due_ms = now + delay;
    j->backoff = !server;
    return true;
}

/* The job's top range is rejected for good (it cannot be split further): its first live item
 * logged with the server's status and detail, the range popped and given up. */
static void reject_top(weft__engine *e, job *j, int status, const char *detail)
{
    range top = j->ranges[j->n_ranges - 1];
    uint32_t k = top.i;
    while (k < top.j && !is_live(j->h, k))
        k++;
    if (k < top.j)
        log_rejected(e, j->h->b, k, status, detail);
    j->n_ranges--;
    j->cut = false;
    give_up(e, j->h, top, WHY_REJECTED);
}

static void too_large(weft__engine *e, job *j, const weft__http_result *r, uint64_t now)
{
    range top = j->ranges[j->n_ranges - 1];
    /* 413: the server's limit is below this body; aim for half of it from now on. */
    uint64_t half = j->sent_bytes / 2;
    if (half < MIN_BUDGET)
        half = MIN_BUDGET;
    e->shrunk = true;
    e->good = 0; /* the limit may have dropped: what passed before proves nothing now */
    if (half < e->budget) {
        e->budget = half;
        weft__log(WEFT_LOG_INFO, "%s answered 413: request bodies now kept under %llu bytes",
                  e->p->name, (unsigned long long)e->budget);
    }
    if (!split_top(j)) {
        /* One item alone is over the limit: sent with its largest values cut, to the budget;
         * dropped only when it cannot be cut that small (or was as small as MIN_BUDGET). */
        if (j->sent_bytes > MIN_BUDGET && cut_item(e, j)) {
            if (e->reject_logs < MAX_REJECT_LOGS) {
                char id[48], trace[48];
                item_ids(e, &j->h->b->items[top.i], id, trace);
                weft__log(WEFT_LOG_WARN, "%s: span %s of trace %s is over the server's size "
                                         "limit alone; sending it with its largest values cut",
                          e->p->name, id, trace);
            }
        } else {
            char detail[256];
            answer_detail(e, r, detail, sizeof detail);
            reject_top(e, j, r->status, detail);
        }
    }
    j->due_ms = now;
}

static void refused(weft__engine *e, job *j, const weft__http_result *r, uint64_t now)
{
    char detail[256];
    answer_detail(e, r, detail, sizeof detail);
    /* Exactly the items the server names, in one round trip; bisection only when it names
     * none: 400/409/422 fail the whole request for one bad record. */
    if (!reject_named(e, j, r, detail)) {
        if (split_top(j)) {
            fork_second_half(e, j, now);
        } else {
            reject_top(e, j, r->status, detail);
        }
    }
    j->attempt = 0;
    j->due_ms = now;
}

static void pause_export(weft__engine *e, job *j, const weft__http_result *r, uint64_t now)
{
    unhealthy(e, now);
    uint64_t wait = PAUSE_PROBE_MS, ra;
    if (r->retry_after && weft__retry_after_parse(r->retry_after, r->retry_after_len, wall_ms(), &ra) &&
        ra > wait)
        wait = ra;
    if (!e->logged_pause) {
        e->logged_pause = true;
        if (r->err != WEFT__HTTP_OK) {
            weft__log(WEFT_LOG_ERROR, "%s: the server's TLS certificate was refused (%s); check the "
                                      "URL's host name and WEFT_CA_BUNDLE. Export paused, spans "
                                      "kept up to max_queue_bytes; trying again every %u s",
                      e->p->name, r->err_text, (unsigned)(wait / 1000));
        } else {
            char detail[256];
            answer_detail(e, r, detail, sizeof detail);
            weft__log(WEFT_LOG_ERROR, "%s refused the credentials (HTTP %d: %s)%s%s. Export "
                                      "paused, spans kept up to max_queue_bytes; trying again "
                                      "every %u s",
                      e->p->name, r->status, detail, e->p->credentials_hint ? "; " : "",
                      e->p->credentials_hint ? e->p->credentials_hint : "", (unsigned)(wait / 1000));
        }
    }
    e->paused = true;
    e->probe_due = now + wait;
    /* The pause is not the records' failure: their retry window starts afresh after it. */
    j->first_ms = 0;
    j->due_ms = now;
}

static void on_done(void *ud, const weft__http_result *r)
{
    job *j = ud;
    weft__engine *e = j->e;
    uint64_t now = uv_now(e->loop);
    j->xfer = NULL;
    flying_remove(e, j);
    weft__verdict v = e->p->classify ? e->p->classify(e->ctx, r) : weft__retry_classify(r->status, r->err);

    if (e->paused && v != WEFT__V_PAUSE) {
        if (v == WEFT__V_DONE || v == WEFT__V_SPLIT || v == WEFT__V_BISECT) {
            /* The server read the body: the credentials passed. */
            e->paused = false;
            e->logged_pause = false;
            weft__log(WEFT_LOG_INFO, "%s accepted the request again: export resumed", e->p->name);
        } else {
            /* Down, or refusing for another reason: the next probe waits its full interval
             * too, whatever Retry-After said, so a paused exporter never loops. */
            e->probe_due = now + PAUSE_PROBE_MS;
        }
    }

    switch (v) {
    case WEFT__V_DONE:
        delivered(e, j, r, now);
        break;
    case WEFT__V_RETRY:
        if (!retry_later(e, j, r, now)) {
            pump(e);
            return;
        }
        break;
    case WEFT__V_SPLIT:
        too_large(e, j, r, now);
        break;
    case WEFT__V_BISECT:
        refused(e, j, r, now);
        break;
    case WEFT__V_PAUSE:
        pause_export(e, j, r, now);
        break;
    case WEFT__V_DROP:
    default:
        unhealthy(e, now);
        if (!e->logged_dropped_status) {
            e->logged_dropped_status = true;
            char detail[256];
            answer_detail(e, r, detail, sizeof detail);
            if (r->err != WEFT__HTTP_OK)
                weft__log(WEFT_LOG_ERROR, "%s request cannot work (%s); dropping its spans", e->p->name,
                          r->err_text);
            else
                weft__log(WEFT_LOG_ERROR, "%s answered HTTP %d (%s); dropping the request's spans",
                          e->p->name, r->status, detail);
        }
        give_up_job(e, j, WHY_REFUSED);
        pump(e);
        return;
    }

    if (j->n_ranges == 0)
        job_free(e, j);
    else
        queue_insert(e, j);
    pump(e);
}

/* ---- holding batches ------------------------------------------------------------------------ */

/* Holds b (a submitted batch, or a replay batch read back from the spool) and cuts it into
 * jobs; ref (taken: the held batch owns what it points to) is where its records are on disk. */
static void hold(weft__engine *e, weft__batch *b, weft__spool_ref *ref, bool replay)
{
    held *h = calloc(1, sizeof *h);
    if (h == NULL) {
        if (replay) {
            weft__spool_keep(e->spool, ref, b, 0, b->n);
            weft__spool_ref_fini(ref);
            e->replaying--;
            weft__batch_free(b);
            return;
        }
        size_t kept = weft__spool_keep(e->spool, ref, b, 0, b->n);
        weft__stat_add(spooled, kept);
        weft__stat_add(dropped_export, b->n_complete - kept);
        weft__batch_done(b, b->n_complete);
        return;
    }
    h->b = b;
    h->ref = *ref;
    h->replay = replay;
    e->held_bytes += weft__batch_bytes(b, e->p->encoding);
    e->held_records += b->n;
    weft__stat_add(queued, b->n);
    if (e->logged_queue && e->held_bytes < e->cfg->max_queue_bytes / 2)
        e->logged_queue = false;

    /* Cut into jobs of <= max_items items and <= budget bytes (one item alone may exceed it).
     * A replay batch (never over max_items) is one job, read to fit one request: should it not,
     * start() splits it into halves sent one after the other, so its children never leave
     * before their parents (a replay batch holds parents first, and what it holds waits for
     * nothing outside it). */
    h->jobs = 1; /* guard: the batch is not released while jobs are being cut */
    size_t limit = e->p->max_items ? e->p->max_items : SIZE_MAX;
    size_t i = 0;
    while (i < b->n) {
        size_t k = i + 1;
        while (k < b->n && k - i < limit) {
            size_t s = slice_len(e, b, i, k + 1);
            if (!replay && s + frame_bytes(e, s) > e->budget)
                break;
            k++;
        }
        job *j = job_new(e, h, ++e->next_seq);
        if (j == NULL) {
            give_up(e, h, (range){(uint32_t)i, (uint32_t)b->n}, WHY_REFUSED);
            break;
        }
        j->ranges[0] = (range){(uint32_t)i, (uint32_t)k};
        j->n_ranges = 1;
        queue_insert(e, j);
        i = k;
    }
    if (--h->jobs == 0)
        held_release(e, h);
}

/* ---- API ------------------------------------------------------------------------------------ */

int weft__engine_new(weft__engine **out, uv_loop_t *loop, const weft__engine_opts *o)
{
    const weft__cfg *cfg = o->cfg;
    weft__engine *e = calloc(1, sizeof *e);
    if (e == NULL)
        return WEFT_ENOMEM;
    e->p = o->proto;
    e->ctx = o->ctx;
    e->cfg = cfg;
    e->loop = loop;
    e->max_inflight = cfg->max_inflight ? cfg->max_inflight : 4;
    e->budget = cfg->max_batch_bytes > MIN_BUDGET ? cfg->max_batch_bytes : MIN_BUDGET;
    e->rng = weft__rt.salt_hi ^ (uint64_t)(uintptr_t)e ^ (uint64_t)wall_ms();
    e->url = strdup(o->url);
    e->named = malloc(WEFT__ENGINE_MAX_NAMED * sizeof *e->named);
    if (!e->url || !e->named) {
        free(e->url);
        free(e->named);
        free(e);
        return WEFT_ENOMEM;
    }
    weft__http_opts ho = {.headers = o->headers,
                          .n_headers = o->n_headers,
                          .method = o->method,
                          .user_agent = o->user_agent,
                          .ca_bundle = cfg->ca_bundle,
                          .connect_timeout_ms = cfg->connect_timeout_ms,
                          .request_timeout_ms = cfg->request_timeout_ms,
                          .max_conns = (uint32_t)e->max_inflight};
    int rc = weft__http_new(&e->http, loop, &ho);
    if (rc < 0) {
        free(e->url);
        free(e->named);
        free(e);
        return rc;
    }
    uv_timer_init(loop, &e->timer);
    e->timer.data = e;
    e->healthy = true;
    if (cfg->spool_dir && *cfg->spool_dir) {
        /* Problems turn the spool off (logged), never the exporter. What dead processes left
         * is claimed on the export thread's first pump (e->scanned), not here in weft_init. */
        e->spool = weft__spool_open(cfg->spool_dir, cfg->spool_max_bytes, e->p->encoding);
        if (e->spool)
            uv_timer_start(&e->timer, on_timer, 0, 0);
    }
    *out = e;
    return 0;
}

void weft__engine_submit(weft__engine *e, weft__batch *b)
{
    if (b->n == 0) {
        weft__batch_done(b, 0);
        return;
    }
    /* The queue limit: the newest batch is the one refused (one batch always fits when
     * nothing is held, so a limit below one batch cannot stop delivery altogether). */
    if (e->held_records > 0 &&
        e->held_bytes + weft__batch_bytes(b, e->p->encoding) > e->cfg->max_queue_bytes) {
        refuse_batch(e, b);
        return;
    }
    /* On disk before the first request: from here a crash cannot lose these records. */
    weft__spool_ref ref;
    weft__spool_append(e->spool, b, &ref);
    hold(e, b, &ref, false);
    pump(e);
}

/* Cancels every transfer and gives every job up (shutdown past its deadline, or close). */
static void abort_all(weft__engine *e)
{
    size_t before = (size_t)e->held_records;
    while (e->flying) {
        job *j = e->flying;
        weft__http_cancel(e->http, j->xfer);
        j->xfer = NULL;
        flying_remove(e, j);
        give_up_job(e, j, WHY_SHUTDOWN);
    }
    while (e->queue) {
        job *j = e->queue;
        queue_remove(e, j);
        give_up_job(e, j, WHY_SHUTDOWN);
    }
    if (before > 0)
        weft__log(WEFT_LOG_WARN, "%s: %zu span records were still undelivered at shutdown%s",
                  e->p->name, before,
                  e->spool ? "; those the disk spool holds are replayed by the next process" : "");
}

bool weft__engine_drain(weft__engine *e, uint64_t deadline_ms)
{
    e->draining = true;
    if (e->held_records == 0)
        return true;
    if (uv_now(e->loop) >= deadline_ms) {
        abort_all(e);
        return true;
    }
    pump(e);
    return e->held_records == 0;
}

static void on_timer_closed(uv_handle_t *t)
{
    weft__engine *e = t->data;
    free(e->url);
    free(e->named);
    free(e);
}

void weft__engine_free(weft__engine *e)
{
    if (e == NULL)
        return;
    abort_all(e);
    e->closing = true;
    weft__spool_close(e->spool);
    e->spool = NULL;
    weft__http_free(e->http);
    e->http = NULL;
    uv_timer_stop(&e->timer);
    uv_close((uv_handle_t *)&e->timer, on_timer_closed); /* frees e */
}
