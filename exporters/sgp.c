/*
 * sgp.c — the SGP exporter: PUT {base}/v5/spans/batch with {"items":[...]} (DESIGN.md section
 * 4), and the delivery policy of section 7 on top of the HTTP client (src/http.c) and the pure
 * policy codec (src/retry.c).
 *
 * Owns (state `sgp`): the HTTP client, one uv timer (backoff, pause probes), the URL and
 * headers, every submitted batch until it is finished (`held`), and the jobs cut from them.
 *
 * Model: a submitted batch is cut into jobs of at most 1000 items (the API's limit) and at
 * most the byte budget (max_batch_bytes, halved on each 413). A job is a stack of item ranges
 * sent one at a time, top first: a 413 or a 400/409/422 replaces the top range by its two
 * halves, first half on top, so the halves go one after the other and the first is
 * acknowledged before the second is sent (parents precede children inside a batch, and that
 * order survives splitting). Jobs not in flight wait in `queue`, oldest first; each has a
 * `due` time (backoff). At most max_inflight jobs are in flight.
 *
 * Invariants:
 *  - Every held batch ends in exactly one weft__batch_done, when its last job finishes (or at
 *    once when it is refused for the queue limit), with the count of its completed records that
 *    were not delivered; each such record is counted in exactly one of dropped_export (with
 *    rejected when the server refused it) or dropped_queue.
 *  - held_bytes is the JSON size of the held batches and never exceeds max_queue_bytes except
 *    by the one batch that arrives when nothing is held.
 *  - `queued` in weft_stats mirrors held_records: records held and not finished.
 *  - While paused (401/403) at most one request is in flight: the probe, every 30 s.
 *  - Export thread only; the API key is never logged; the URL is checked at open: an API key
 *    goes over plain http:// only to a loopback host, never through a proxy (url.c).
 *  - Every undelivered record leaves through give_up() (retries exhausted, rejected, refused,
 *    shutdown) or refuse_batch() (queue over its limit): the two places the disk spool hooks in.
 *
 * Disk spool (src/spool.h; when spool_dir is set): every batch is appended to the spool before
 * its first request; a 2xx (or a rejection, which no retry can change) acks its records there;
 * give_up() and refuse_batch() leave the records on disk instead of dropping them (counted in
 * `spooled`, not dropped_*). Records waiting on disk come back as replay batches, which go
 * through the same jobs and end the same way but are not the worker's batches: they are freed
 * here, not passed to weft__batch_done, and their delivery counts in `replayed`. Replay runs
 * while the server answers (`healthy`: the last outcome was a 2xx), the queue is under half its
 * limit and at most MAX_REPLAYING replay batches are held; while it does not answer, one replay
 * batch at a time probes it, no sooner than REPLAY_PROBE_MS after the last one failed. Nothing
 * new is replayed once shutdown has begun.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uv.h>

#include "exporter.h"
#include "http.h"
#include "json.h"
#include "retry.h"
#include "runtime.h"
#include "spool.h"
#include "url.h"
#include "weft/version.h"

#define PATH "/v5/spans/batch"
#define PREFIX "{\"items\":["
#define SUFFIX "]}"
/* 1000: the API's limit on items per request (DESIGN.md section 4). */
#define MAX_ITEMS 1000u
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

typedef struct sgp sgp;

/* A batch this exporter holds. */
typedef struct held {
    weft__batch *b;
    size_t jobs;             /* jobs still open over it */
    size_t dropped_complete; /* completed records given up */
    weft__spool_ref ref;     /* where its records are in the spool (file 0: not there) */
    bool replay;             /* read back from the spool: freed here, not weft__batch_done */
    bool failed;             /* replay: some records went back to the spool */
} held;

typedef struct range {
    uint32_t i, j; /* items [i, j) of the batch */
} range;

typedef struct job {
    sgp *s;
    held *h;
    uint64_t seq;      /* creation order: the queue is sorted by it */
    uint64_t first_ms; /* uv_now of the first attempt of these records; 0: not sent yet */
    uint64_t due_ms;   /* not sent before this uv_now */
    unsigned attempt;  /* retries of the top range so far */
    bool backoff;      /* due_ms is our own backoff, not a time the server asked for */
    size_t n_ranges;   /* ranges[n_ranges - 1] is the one to send */
    range ranges[MAX_RANGES];
    weft__http_xfer *xfer; /* while in flight */
    struct job *prev, *next;
} job;

struct sgp {
    weft__exporter *ex;
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
    /* Log-once state: each is cleared when the condition it reports ends (a 2xx, the queue
     * half empty), so an episode logs one line, not one per request; a status that can never
     * work (404, a bad CA file) is logged once per run. */
    bool logged_retry, logged_window, logged_pause, logged_queue, logged_dropped_status;
    unsigned reject_logs;
};

/* ---- URL and headers ----------------------------------------------------------------------- */

/* Bytes of items [i, j) as the body's array content. */
static size_t slice_len(const weft__batch *b, size_t i, size_t j)
{
    size_t len;
    weft__batch_slice(b, WEFT__ENC_SGP_JSON, i, j, &len);
    return len;
}

/* Header values must not carry CR, LF or other control bytes (header injection). */
static bool header_safe(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 || *v == 0x7f)
            return false;
    return true;
}

static char *header_line(const char *name, const char *value)
{
    size_t n = strlen(name) + strlen(value) + 3;
    char *h = malloc(n);
    if (h)
        snprintf(h, n, "%s: %s", name, value);
    return h;
}

static void free_secret(char *p)
{
    if (p) {
        /* The key's copy: cleared before the heap reuses it. */
        volatile char *v = p;
        while (*v)
            *v++ = '\0';
        free(p);
    }
}

/* ---- time and counting ---------------------------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t range_bytes(const weft__batch *b, range r)
{
    size_t len;
    weft__batch_slice(b, WEFT__ENC_SGP_JSON, r.i, r.j, &len);
    return len + sizeof(PREFIX) - 1 + sizeof(SUFFIX) - 1;
}

/* ---- the queue ------------------------------------------------------------------------------ */

static void queue_insert(sgp *s, job *j)
{
    /* Sorted by seq; retried jobs are old, new ones go at the tail: scan from the tail. */
    job *after = s->queue_tail;
    while (after && after->seq > j->seq)
        after = after->prev;
    j->prev = after;
    j->next = after ? after->next : s->queue;
    if (j->next)
        j->next->prev = j;
    else
        s->queue_tail = j;
    if (after)
        after->next = j;
    else
        s->queue = j;
}

static void queue_remove(sgp *s, job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        s->queue = j->next;
    if (j->next)
        j->next->prev = j->prev;
    else
        s->queue_tail = j->prev;
    j->prev = j->next = NULL;
}

static void flying_add(sgp *s, job *j)
{
    j->prev = NULL;
    j->next = s->flying;
    if (s->flying)
        s->flying->prev = j;
    s->flying = j;
    s->inflight++;
}

static void flying_remove(sgp *s, job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        s->flying = j->next;
    if (j->next)
        j->next->prev = j->prev;
    j->prev = j->next = NULL;
    s->inflight--;
}

/* ---- finishing ------------------------------------------------------------------------------ */

static void held_release(sgp *s, held *h)
{
    weft__batch *b = h->b;
    s->held_bytes -= weft__batch_bytes(b, WEFT__ENC_SGP_JSON);
    s->held_records -= b->n;
    weft__stat_sub(queued, b->n);
    size_t dropped = h->dropped_complete;
    bool replay = h->replay;
    if (replay) {
        s->replaying--;
        if (h->failed)
            s->replay_due = uv_now(s->loop) + REPLAY_PROBE_MS;
    }
    weft__spool_ref_fini(&h->ref);
    free(h);
    if (replay)
        weft__batch_free(b);
    else
        weft__batch_done(b, dropped);
}

static void job_free(sgp *s, job *j)
{
    held *h = j->h;
    free(j);
    if (--h->jobs == 0)
        held_release(s, h);
}

typedef enum why { WHY_WINDOW, WHY_REJECTED, WHY_REFUSED, WHY_SHUTDOWN } why;

/*
 * The records of range r will not be delivered now: count them (completed records only — an
 * in-progress upsert lost is superseded by the span's completed record). The one exit for
 * undelivered records of held batches. With a spool, records the server rejected are marked
 * finished there (no retry can change a 400/409/422); the others stay on disk for replay and
 * count in `spooled` (a replay batch's were counted when they first went there), and only what
 * the spool could not keep counts as dropped.
 */
static void give_up_held(sgp *s, held *h, range r, why reason)
{
    weft__batch *b = h->b;
    size_t undelivered = weft__batch_count_complete(b, r.i, r.j);
    size_t lost = undelivered;
    if (reason == WHY_REJECTED) {
        weft__spool_ack(s->spool, &h->ref, b, r.i, r.j);
        weft__stat_add(rejected, lost);
    } else {
        size_t kept = weft__spool_keep(s->spool, &h->ref, b, r.i, r.j);
        lost -= kept;
        if (h->replay)
            h->failed = true;
        else
            weft__stat_add(spooled, kept);
    }
    h->dropped_complete += undelivered;
    weft__stat_add(dropped_export, lost);
}

static void give_up(sgp *s, job *j, range r, why reason) { give_up_held(s, j->h, r, reason); }

static void give_up_job(sgp *s, job *j, why reason)
{
    while (j->n_ranges > 0)
        give_up(s, j, j->ranges[--j->n_ranges], reason);
    job_free(s, j);
}

/*
 * A batch refused because the queue is over max_queue_bytes (newest refused first: what is
 * already held keeps its place). The other exit for undelivered records: with a spool the
 * batch spills to disk whole (counted in `spooled`) and is replayed once the queue drains;
 * without one, or when the spool cannot take it, it is dropped.
 */
static void refuse_batch(sgp *s, weft__batch *b)
{
    size_t undelivered = b->n_complete, kept = 0;
    weft__spool_ref ref;
    if (weft__spool_append(s->spool, b, &ref)) {
        kept = weft__spool_keep(s->spool, &ref, b, 0, b->n);
        weft__stat_add(spooled, kept);
    }
    weft__stat_add(dropped_queue, undelivered - kept);
    if (!s->logged_queue) {
        s->logged_queue = true;
        weft__log(WEFT_LOG_WARN, "SGP export queue over its limit (%llu bytes held): %s the "
                                 "newest spans until it drains",
                  (unsigned long long)s->held_bytes,
                  s->spool ? "spilling to the disk spool" : "dropping");
    }
    weft__batch_done(b, undelivered);
}

/* ---- sending -------------------------------------------------------------------------------- */

static void pump(sgp *s);
static void on_done(void *ud, const weft__http_result *r);

/* Replaces the top range by its halves, first half on top. False when it cannot be split. */
static bool split_top(job *j)
{
    range r = j->ranges[j->n_ranges - 1];
    if (r.j - r.i < 2 || j->n_ranges >= MAX_RANGES)
        return false;
    uint32_t m = r.i + (r.j - r.i) / 2;
    j->ranges[j->n_ranges - 1] = (range){m, r.j};
    j->ranges[j->n_ranges++] = (range){r.i, m};
    j->attempt = 0;
    return true;
}

static void start(sgp *s, job *j, uint64_t now)
{
    weft__batch *b = j->h->b;
    /* The budget may have shrunk (413) since the job was cut: split before sending rather than
     * earn another 413. */
    while (range_bytes(b, j->ranges[j->n_ranges - 1]) > s->budget && split_top(j))
        ;
    range r = j->ranges[j->n_ranges - 1];
    size_t len;
    const char *p = weft__batch_slice(b, WEFT__ENC_SGP_JSON, r.i, r.j, &len);
    weft__http_part parts[3] = {{PREFIX, sizeof(PREFIX) - 1}, {p, len}, {SUFFIX, sizeof(SUFFIX) - 1}};
    j->xfer = weft__http_put(s->http, s->url, parts, 3, on_done, j);
    if (j->xfer == NULL) {
        /* Out of memory (logged by http.c): try again after a backoff, like a failed request. */
        j->due_ms = now + weft__retry_backoff_ms(j->attempt++, weft__retry_rand(&s->rng));
        queue_insert(s, j);
        return;
    }
    if (j->first_ms == 0)
        j->first_ms = now;
    flying_add(s, j);
    weft__stat_add(requests, 1);
}

static void on_timer(uv_timer_t *t) { pump(t->data); }

static void hold(sgp *s, weft__batch *b, weft__spool_ref *ref, bool replay);

/* Takes replay batches from the spool while the rules of the file comment allow; returns the
 * uv_now at which a probe may go when that is all that stops it, else UINT64_MAX. */
static uint64_t replay_more(sgp *s, uint64_t now)
{
    if (!s->spool || s->paused || s->draining || s->closing)
        return UINT64_MAX;
    if (!s->scanned) {
        s->scanned = true;
        weft__spool_rescan(s->spool);
    }
    const weft__cfg *cfg = &s->ex->rt->cfg;
    for (;;) {
        if (weft__spool_pending(s->spool) == 0 || s->held_bytes >= cfg->max_queue_bytes / 2)
            return UINT64_MAX;
        if (s->healthy ? s->replaying >= MAX_REPLAYING : s->replaying > 0)
            return UINT64_MAX;
        if (!s->healthy && now < s->replay_due)
            return s->replay_due;
        weft__spool_ref ref;
        size_t items = cfg->max_batch_spans < MAX_ITEMS ? cfg->max_batch_spans : MAX_ITEMS;
        weft__batch *b = weft__spool_replay(s->spool, items ? items : MAX_ITEMS,
                                            (size_t)s->budget, &ref);
        if (b == NULL)
            return UINT64_MAX;
        s->replaying++;
        hold(s, b, &ref, true);
    }
}

static void pump(sgp *s)
{
    if (s->closing)
        return;
    uint64_t now = uv_now(s->loop);
    uint64_t next = replay_more(s, now);
    if (s->paused) {
        /* One probe at a time: the oldest job, no sooner than probe_due nor its own due. */
        if (s->queue && s->inflight == 0) {
            job *j = s->queue;
            uint64_t at = s->probe_due > j->due_ms ? s->probe_due : j->due_ms;
            if (now >= at) {
                queue_remove(s, j);
                start(s, j, now);
            } else {
                next = at;
            }
        }
    } else {
        for (job *j = s->queue; j && s->inflight < s->max_inflight;) {
            job *nx = j->next;
            if (j->due_ms <= now) {
                queue_remove(s, j);
                start(s, j, now);
            } else if (j->due_ms < next) {
                next = j->due_ms;
            }
            j = nx;
        }
        if (s->inflight >= s->max_inflight)
            next = UINT64_MAX; /* a completion will pump */
    }
    if (next == UINT64_MAX)
        uv_timer_stop(&s->timer);
    else
        uv_timer_start(&s->timer, on_timer, next - now, 0);
}

/* ---- outcomes ------------------------------------------------------------------------------- */

/* The id text the server saw (encode.c writes weft__json_uuid(id, salt)), into out[37]. */
static void uuid_text(uint64_t v, uint64_t salt, char out[37])
{
    weft__buf b;
    weft__buf_init(&b);
    weft__json_uuid(&b, v, salt);
    if (!b.oom && b.len == 38) {
        memcpy(out, b.data + 1, 36);
        out[36] = '\0';
    } else {
        snprintf(out, 37, "%016llx", (unsigned long long)v);
    }
    weft__buf_fini(&b);
}

static void log_rejected(sgp *s, const weft__batch *b, range r, int status, const char *detail)
{
    if (s->reject_logs >= MAX_REJECT_LOGS)
        return;
    const weft__batch_item *it = &b->items[r.i];
    char id[37], trace[37];
    uuid_text(it->id, s->ex->rt->salt_hi, id);
    uuid_text(it->trace, s->ex->rt->salt_hi, trace);
    weft__log(WEFT_LOG_WARN, "SGP rejected span %s of trace %s (HTTP %d: %s); dropped, the rest "
                             "of its request is delivered%s",
              id, trace, status, detail,
              ++s->reject_logs == MAX_REJECT_LOGS ? "; further rejections are counted, not logged" : "");
}

/* The server stopped answering 2xx: replay waits for it, bar one probe batch now and then,
 * the first REPLAY_PROBE_MS from now (records given up meanwhile are not read straight back). */
static void unhealthy(sgp *s, uint64_t now)
{
    if (s->healthy) {
        s->healthy = false;
        s->replay_due = now + REPLAY_PROBE_MS;
    }
}

static void on_done(void *ud, const weft__http_result *r)
{
    job *j = ud;
    sgp *s = j->s;
    uint64_t now = uv_now(s->loop);
    weft__batch *b = j->h->b;
    j->xfer = NULL;
    flying_remove(s, j);
    range top = j->ranges[j->n_ranges - 1];
    weft__verdict v = weft__retry_classify(r->status, r->err);
    char detail[256];

    if (s->paused && v != WEFT__V_PAUSE) {
        if (v == WEFT__V_DONE || v == WEFT__V_SPLIT || v == WEFT__V_BISECT) {
            /* The server read the body: the credentials passed. */
            s->paused = false;
            s->logged_pause = false;
            weft__log(WEFT_LOG_INFO, "SGP accepted the credentials again: export resumed");
        } else {
            /* Down, or refusing for another reason: the next probe waits its full interval
             * too, whatever Retry-After said, so a paused exporter never loops. */
            s->probe_due = now + PAUSE_PROBE_MS;
        }
    }

    switch (v) {
    case WEFT__V_DONE:
        s->logged_retry = s->logged_window = false;
        weft__spool_ack(s->spool, &j->h->ref, b, top.i, top.j);
        if (j->h->replay)
            weft__stat_add(replayed, weft__batch_count_complete(b, top.i, top.j));
        if (!s->healthy) {
            /* The server answers again: replay what waits on disk, including the files of
             * processes that died meanwhile. */
            s->healthy = true;
            weft__spool_rescan(s->spool);
        }
        if (s->shrunk) {
            /* Halving after a 413 can leave the budget above the server's limit when the
             * halves that were tried happened to be smaller; a body the server accepted is a
             * size known to pass, so the budget never stays above the largest of them. */
            uint64_t got = range_bytes(b, top);
            if (got > s->good)
                s->good = got;
            if (s->good >= MIN_BUDGET && s->good < s->budget)
                s->budget = s->good;
        }
        j->n_ranges--;
        j->attempt = 0;
        /* The server answers again: requests waiting out our own backoff go now (pump keeps
         * them within max_inflight); a wait the server asked for (Retry-After) is kept. */
        for (job *q = s->queue; q; q = q->next) {
            if (q->backoff && q->due_ms > now) {
                q->due_ms = now;
                q->backoff = false;
            }
        }
        break;

    case WEFT__V_RETRY: {
        unhealthy(s, now);
        bool server;
        uint64_t delay = weft__retry_delay_ms(r->retry_after, r->retry_after_len, r->retry_after_ms,
                                              r->retry_after_ms_len, wall_ms(), j->attempt,
                                              weft__retry_rand(&s->rng), &server);
        uint64_t window = s->ex->rt->cfg.retry_window_ms;
        if (!s->logged_retry) {
            s->logged_retry = true;
            const char *how = server ? "as the server asked" : "with backoff";
            if (r->err != WEFT__HTTP_OK)
                weft__log(WEFT_LOG_WARN, "SGP request failed (%s); retrying in %llu ms %s",
                          r->err_text, (unsigned long long)delay, how);
            else
                weft__log(WEFT_LOG_WARN, "SGP answered HTTP %d; retrying in %llu ms %s", r->status,
                          (unsigned long long)delay, how);
        }
        if (now + delay > j->first_ms + window) {
            if (!s->logged_window) {
                s->logged_window = true;
                weft__log(WEFT_LOG_WARN, "SGP: span records still undelivered after retrying for "
                                         "%llu ms (retry_window_ms) %s",
                          (unsigned long long)(now - j->first_ms),
                          s->spool ? "stay in the disk spool for replay; counted in spooled"
                                   : "are dropped; counted in dropped_export");
            }
            give_up_job(s, j, WHY_WINDOW);
            pump(s);
            return;
        }
        weft__stat_add(retried, 1);
        j->attempt++;
        j->due_ms = now + delay;
        j->backoff = !server;
        break;
    }

    case WEFT__V_SPLIT: {
        /* 413: the server's limit is below this body; aim for half of it from now on. */
        uint64_t half = range_bytes(b, top) / 2;
        if (half < MIN_BUDGET)
            half = MIN_BUDGET;
        s->shrunk = true;
        s->good = 0; /* the limit may have dropped: what passed before proves nothing now */
        if (half < s->budget) {
            s->budget = half;
            weft__log(WEFT_LOG_INFO, "SGP answered 413: request bodies now kept under %llu bytes",
                      (unsigned long long)s->budget);
        }
        if (!split_top(j)) {
            weft__retry_detail(r->body, r->body_len, detail, sizeof detail);
            log_rejected(s, b, top, r->status, detail);
            j->n_ranges--;
            give_up(s, j, top, WHY_REJECTED);
        }
        j->due_ms = now;
        break;
    }

    case WEFT__V_BISECT:
        /* 400/409/422 fail the whole request for one bad record: halve until it is alone. */
        if (!split_top(j)) {
            weft__retry_detail(r->body, r->body_len, detail, sizeof detail);
            log_rejected(s, b, top, r->status, detail);
            j->n_ranges--;
            give_up(s, j, top, WHY_REJECTED);
        }
        j->due_ms = now;
        break;

    case WEFT__V_PAUSE: {
        unhealthy(s, now);
        uint64_t wait = PAUSE_PROBE_MS, ra;
        if (r->retry_after && weft__retry_after_parse(r->retry_after, r->retry_after_len, wall_ms(), &ra) &&
            ra > wait)
            wait = ra;
        if (!s->logged_pause) {
            s->logged_pause = true;
            weft__retry_detail(r->body, r->body_len, detail, sizeof detail);
            weft__log(WEFT_LOG_ERROR, "SGP refused the credentials (HTTP %d: %s); check SGP_API_KEY "
                                      "and SGP_ACCOUNT_ID. Export paused, spans kept up to "
                                      "max_queue_bytes; trying again every %u s",
                      r->status, detail, (unsigned)(wait / 1000));
        }
        s->paused = true;
        s->probe_due = now + wait;
        /* The pause is not the records' failure: their retry window starts afresh after it. */
        j->first_ms = 0;
        j->due_ms = now;
        break;
    }

    case WEFT__V_DROP:
    default:
        unhealthy(s, now);
        if (!s->logged_dropped_status) {
            s->logged_dropped_status = true;
            weft__retry_detail(r->body, r->body_len, detail, sizeof detail);
            if (r->err != WEFT__HTTP_OK)
                weft__log(WEFT_LOG_ERROR, "SGP request cannot work (%s); dropping its spans", r->err_text);
            else
                weft__log(WEFT_LOG_ERROR, "SGP answered HTTP %d (%s); dropping the request's spans",
                          r->status, detail);
        }
        give_up_job(s, j, WHY_REFUSED);
        pump(s);
        return;
    }

    if (j->n_ranges == 0)
        job_free(s, j);
    else
        queue_insert(s, j);
    pump(s);
}

/* ---- ops ------------------------------------------------------------------------------------ */

static void on_timer_closed(uv_handle_t *h)
{
    sgp *s = h->data;
    free(s->url);
    free(s);
}

static int sgp_open(weft__exporter *ex)
{
    const weft__cfg *cfg = &ex->rt->cfg;
    const char *key = cfg->sgp_api_key, *account = cfg->sgp_account_id;
    bool has_key = key && *key;
    /* direct: http.c turns proxies off for plain http:// to loopback (url.h). */
    int rc = weft__url_key_allowed("SGP_CLIENT_BASE_URL", cfg->sgp_base_url, has_key, true);
    if (rc < 0)
        return rc;
    if ((has_key && !header_safe(key)) || (account && !header_safe(account))) {
        weft__log(WEFT_LOG_ERROR, "SGP_API_KEY or SGP_ACCOUNT_ID holds control characters");
        return WEFT_ECONFIG;
    }
    if (!has_key)
        weft__log(WEFT_LOG_WARN, "SGP exporter without SGP_API_KEY: the server will refuse the spans");

    sgp *s = calloc(1, sizeof *s);
    if (s == NULL)
        return WEFT_ENOMEM;
    s->ex = ex;
    s->loop = ex->loop;
    s->max_inflight = cfg->max_inflight ? cfg->max_inflight : 4;
    s->budget = cfg->max_batch_bytes > MIN_BUDGET ? cfg->max_batch_bytes : MIN_BUDGET;
    s->rng = ex->rt->salt_hi ^ (uint64_t)(uintptr_t)s ^ (uint64_t)wall_ms();

    size_t blen = strlen(cfg->sgp_base_url);
    while (blen > 0 && cfg->sgp_base_url[blen - 1] == '/')
        blen--;
    s->url = malloc(blen + sizeof(PATH));
    char *h_key = has_key ? header_line("x-api-key", key) : NULL;
    char *h_acct = account && *account ? header_line("x-selected-account-id", account) : NULL;
    if (!s->url || (has_key && !h_key) || (account && *account && !h_acct)) {
        free_secret(h_key);
        free(h_acct);
        free(s->url);
        free(s);
        return WEFT_ENOMEM;
    }
    memcpy(s->url, cfg->sgp_base_url, blen);
    memcpy(s->url + blen, PATH, sizeof(PATH));

    const char *headers[3];
    size_t nh = 0;
    headers[nh++] = "Content-Type: application/json";
    if (h_key)
        headers[nh++] = h_key;
    if (h_acct)
        headers[nh++] = h_acct;
    weft__http_opts o = {.headers = headers,
                         .n_headers = nh,
                         .user_agent = "weft/" WEFT_VERSION_STRING,
                         .ca_bundle = cfg->ca_bundle,
                         .connect_timeout_ms = cfg->connect_timeout_ms,
                         .request_timeout_ms = cfg->request_timeout_ms,
                         .max_conns = (uint32_t)s->max_inflight};
    rc = weft__http_new(&s->http, s->loop, &o);
    free_secret(h_key);
    free(h_acct);
    if (rc < 0) {
        free(s->url);
        free(s);
        return rc;
    }
    uv_timer_init(s->loop, &s->timer);
    s->timer.data = s;
    ex->state = s;
    s->healthy = true;
    char shown[512];
    weft__log(WEFT_LOG_INFO, "exporter sgp: sending spans to %s%s", weft__url_redacted(s->url, shown, sizeof shown),
              has_key ? "" : " (no SGP_API_KEY)");
    if (cfg->spool_dir && *cfg->spool_dir) {
        /* Problems turn the spool off (logged), never the exporter. What dead processes left
         * is claimed on the export thread's first pump (s->scanned), not here in weft_init. */
        s->spool = weft__spool_open(cfg->spool_dir, cfg->spool_max_bytes);
        if (s->spool)
            uv_timer_start(&s->timer, on_timer, 0, 0);
    }
    return 0;
}

static void sgp_submit(weft__exporter *ex, weft__batch *b)
{
    sgp *s = ex->state;
    if (b->n == 0) {
        weft__batch_done(b, 0);
        return;
    }
    /* The queue limit: the newest batch is the one refused (one batch always fits when
     * nothing is held, so a limit below one batch cannot stop delivery altogether). */
    if (s->held_records > 0 && s->held_bytes + weft__batch_bytes(b, WEFT__ENC_SGP_JSON) > ex->rt->cfg.max_queue_bytes) {
        refuse_batch(s, b);
        return;
    }
    /* On disk before the first request: from here a crash cannot lose these records. */
    weft__spool_ref ref;
    weft__spool_append(s->spool, b, &ref);
    hold(s, b, &ref, false);
    pump(s);
}

/* Holds b (a submitted batch, or a replay batch read back from the spool) and cuts it into
 * jobs; ref (taken: the held batch owns what it points to) is where its records are on disk. */
static void hold(sgp *s, weft__batch *b, weft__spool_ref *ref, bool replay)
{
    held *h = calloc(1, sizeof *h);
    if (h == NULL) {
        if (replay) {
            weft__spool_keep(s->spool, ref, b, 0, b->n);
            weft__spool_ref_fini(ref);
            s->replaying--;
            weft__batch_free(b);
            return;
        }
        size_t kept = weft__spool_keep(s->spool, ref, b, 0, b->n);
        weft__stat_add(spooled, kept);
        weft__stat_add(dropped_export, b->n_complete - kept);
        weft__batch_done(b, b->n_complete);
        return;
    }
    h->b = b;
    h->ref = *ref;
    h->replay = replay;
    s->held_bytes += weft__batch_bytes(b, WEFT__ENC_SGP_JSON);
    s->held_records += b->n;
    weft__stat_add(queued, b->n);
    if (s->logged_queue && s->held_bytes < s->ex->rt->cfg.max_queue_bytes / 2)
        s->logged_queue = false;

    /* Cut into jobs of <= 1000 items and <= budget bytes (one item alone may exceed it). */
    h->jobs = 1; /* guard: the batch is not released while jobs are being cut */
    uint64_t envelope = sizeof(PREFIX) - 1 + sizeof(SUFFIX) - 1;
    size_t i = 0;
    while (i < b->n) {
        size_t k = i + 1;
        while (k < b->n && k - i < MAX_ITEMS && slice_len(b, i, k + 1) + envelope <= s->budget)
            k++;
        job *j = calloc(1, sizeof *j);
        if (j == NULL) {
            give_up_held(s, h, (range){(uint32_t)i, (uint32_t)b->n}, WHY_REFUSED);
            break;
        }
        j->s = s;
        j->h = h;
        j->seq = ++s->next_seq;
        j->ranges[0] = (range){(uint32_t)i, (uint32_t)k};
        j->n_ranges = 1;
        h->jobs++;
        queue_insert(s, j);
        i = k;
    }
    if (--h->jobs == 0)
        held_release(s, h);
}


/* Cancels every transfer and gives every job up (shutdown past its deadline, or close). */
static void abort_all(sgp *s)
{
    size_t before = (size_t)s->held_records;
    while (s->flying) {
        job *j = s->flying;
        weft__http_cancel(s->http, j->xfer);
        j->xfer = NULL;
        flying_remove(s, j);
        give_up_job(s, j, WHY_SHUTDOWN);
    }
    while (s->queue) {
        job *j = s->queue;
        queue_remove(s, j);
        give_up_job(s, j, WHY_SHUTDOWN);
    }
    if (before > 0)
        weft__log(WEFT_LOG_WARN, "SGP: %zu span records were still undelivered at shutdown%s", before,
                  s->spool ? "; those the disk spool holds are replayed by the next process" : "");
}

static bool sgp_drain(weft__exporter *ex, uint64_t deadline_ms)
{
    sgp *s = ex->state;
    s->draining = true;
    if (s->held_records == 0)
        return true;
    if (uv_now(s->loop) >= deadline_ms) {
        abort_all(s);
        return true;
    }
    pump(s);
    return s->held_records == 0;
}

static void sgp_close(weft__exporter *ex)
{
    sgp *s = ex->state;
    if (s == NULL)
        return;
    abort_all(s);
    s->closing = true;
    weft__spool_close(s->spool);
    s->spool = NULL;
    weft__http_free(s->http);
    s->http = NULL;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_timer_closed); /* frees s */
    ex->state = NULL;
}

const weft__exporter_ops weft__exporter_sgp = {
    .name = "sgp",
    .encoding = WEFT__ENC_SGP_JSON,
    .wants_inprogress = true,
    .open = sgp_open,
    .submit = sgp_submit,
    .drain = sgp_drain,
    .close = sgp_close,
};
