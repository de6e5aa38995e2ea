/*
 * stratix.c — the stratix exporter: every completed trace (its root and every descendant) as
 * one LayerLens Stratix trace document (src/codec/stratix_doc.h), one per line of a JSONL file
 * in stratix_dir; each file is uploaded to Stratix's traces API in the three steps of
 * src/deliver/stratix_upload.h when it would reach stratix_max_file_bytes (always below
 * 50,000,000 bytes), when its first trace is stratix_max_file_age_ms old, at weft_flush and at
 * weft_shutdown.
 *
 * Threads. Every op runs on the export thread's libuv loop and never waits for the network:
 * traces are held, documents built and appended to the file there (like the jsonl exporter's
 * writes); a file ready to go is handed to the exporter's own upload thread, which runs the
 * blocking uploader and hands each file back through `done` and a uv_async. The upload thread
 * touches only the files handed to it, the connection (thread-safe) and what `mu` guards; it
 * never logs (the loop does, when the result comes back).
 *
 * Traces. Span items arrive in batches in any order (children usually before their root). A
 * trace is held until its root has arrived and then stratix_grace_ms longer, so that spans
 * ending after the root still make it into the document; then it is written with what it has.
 * A span of a trace already written (past the grace) is dropped: counted in dropped_export,
 * and its trace once in incomplete_traces. Written traces are remembered (ids only) for
 * max(60 s, 4 x grace) to recognise such spans. weft_flush and shutdown write every trace
 * whose root has arrived at once; at shutdown a trace whose root never came (lost to a full
 * ring or open-span table) is written as it stands and counted in incomplete_traces. Spans held
 * beyond max_queue_bytes make the oldest trace go early (without its root: counted the same).
 *
 * Counting (every completed span in exactly one of these, once its fate is known):
 *  - A span of a trace whose root has arrived points into its batch, and the batch is held (a
 *    `ticket`: one weft__batch_done when every such span of it has been settled) until the
 *    file holding it is uploaded: the worker then counts it in `exported` as for every other
 *    exporter, and weft_flush waits for the upload as it waits for any delivery.
 *  - A span whose root has not arrived yet is copied, and its batch is told at once that this
 *    exporter did not deliver it; this exporter counts it itself (`exported` at upload). Holding
 *    a batch for a root that may stay open for hours would pin its memory that long, and make
 *    weft_flush wait for a trace the application has not finished.
 *  - An upload that fails after the retries (or is cut short at shutdown) leaves its file on
 *    disk: the file is the spool. Its spans count in `spooled`; the file is retried after the
 *    next upload that succeeds and by the next process that uses the directory (`replayed` when
 *    it goes through). Files whose upload the server refuses for good (400, 409, 413, 422) are
 *    renamed *.jsonl.rejected and their spans count in `rejected` and `dropped_export`.
 *  - Spans that cannot be written (disk full, a document larger than the file limit) count in
 *    dropped_export.
 *
 * Files: "weft-<unix ms>-<pid>-<seq>.jsonl", mode 0600, each held under flock(LOCK_EX) by the
 * process that owns it from creation (made under a dot-name, locked, then renamed) to its end.
 * The upload thread claims, at start, every such file no live process holds (a dead process's,
 * or a previous run's), cuts a torn last line, and uploads it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "buf.h"
#include "exporter.h"
#include "runtime.h"
#include "stratix_doc.h"
#include "stratix_upload.h"

/* Retries of each upload step on 408/429/5xx/transport errors (backoff with full jitter from
 * 500 ms, capped at 30 s, or the server's Retry-After): about a minute of trying per file. */
#define UPLOAD_RETRIES 5
#define RETRY_WAIT_CAP_MS 30000u
/* Written traces' ids are remembered this long at least (and at most this many). */
#define RECENT_MIN_MS 60000u
#define RECENT_MAX 65536u
#define NAME_PREFIX "weft-"
#define NAME_SUFFIX ".jsonl"
#define REJECTED_SUFFIX ".rejected"

typedef struct stratix stratix;

/* This exporter's hold on one batch. */
typedef struct ticket {
    weft__batch *b;
    size_t pending;     /* spans still pointing at it, plus 1 while submit runs */
    size_t undelivered; /* completed items this exporter did not deliver through the batch */
} ticket;

typedef struct hspan {
    const char *json; /* the SGP item: into the batch (tk) or into copy */
    size_t len;
    char *copy;       /* owned; NULL when json points into a batch */
    ticket *tk;       /* non-NULL: settled through the batch */
    bool complete;    /* has an end (not an open span exported as it stands at shutdown) */
} hspan;

enum { T_ROOTLESS, T_ROOTED, T_WRITTEN };

typedef struct trace {
    uint64_t id;
    int state;
    bool incomplete_counted;
    hspan *spans;
    size_t n, cap;
    size_t bytes;
    uint64_t due_ms; /* T_ROOTED: write then; T_WRITTEN: forget then */
    struct trace *hnext;
    struct trace *prev, *next; /* in the list of its state */
} trace;

typedef struct tlist {
    trace *head, *tail;
    size_t n;
} tlist;

typedef enum outcome { UP_NONE, UP_OK, UP_KEEP, UP_REJECT } outcome;

typedef struct sfile {
    char *path;
    const char *name;  /* into path */
    int fd;            /* holds the flock while the file is this process's */
    uint64_t bytes;
    uint64_t opened_ms; /* uv_now when its first trace was written */
    size_t traces;
    size_t spans;       /* completed spans in it */
    ticket **tk;        /* one per span settled through a batch */
    size_t n_tk, cap_tk;
    size_t own;         /* completed spans this exporter counts itself */
    bool accounted;     /* already counted in spooled (kept earlier, or a previous run's) */
    bool replay;        /* claimed from the directory at start */
    bool from_loop;     /* handed to the upload thread by the loop (counted in outstanding) */
    /* Filled by the upload thread. */
    outcome result;
    int rc;
    size_t trace_ids;
    char message[512];
    struct sfile *next;
} sfile;

struct stratix {
    weft__exporter *ex;
    uv_loop_t *loop;
    uv_timer_t timer;
    uv_async_t async;
    int handles_open;
    char *dir;
    weft__stratix_conn *conn;
    uint64_t max_bytes, max_age, grace, recent_ms, max_held;

    trace **buckets;
    size_t n_buckets, n_traces;
    tlist rootless, rooted, written;
    uint64_t held_bytes;

    sfile *cur;
    uint64_t seq;
    sfile *kept;          /* uploads that failed, on disk, retried after a success */
    size_t outstanding;   /* files the loop handed to the thread, not back yet */
    bool draining;
    weft__buf doc;
    bool logged_write, logged_big, logged_late, logged_keep, logged_doc;

    /* Shared with the upload thread. */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    sfile *todo, *todo_tail; /* mu */
    sfile *done;             /* mu */
    bool quit, no_replay;    /* mu */
    bool busy;               /* mu: an upload is in progress */
    _Atomic int stop;        /* cuts the upload in progress short (shutdown past its deadline) */
};

/* ---- small helpers -------------------------------------------------------------------------- */

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void list_push(tlist *l, trace *t)
{
    t->prev = l->tail;
    t->next = NULL;
    if (l->tail)
        l->tail->next = t;
    else
        l->head = t;
    l->tail = t;
    l->n++;
}

static void list_remove(tlist *l, trace *t)
{
    if (t->prev)
        t->prev->next = t->next;
    else
        l->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        l->tail = t->prev;
    t->prev = t->next = NULL;
    l->n--;
}

static tlist *list_of(stratix *s, trace *t)
{
    return t->state == T_ROOTLESS ? &s->rootless : t->state == T_ROOTED ? &s->rooted : &s->written;
}

/* ---- tickets -------------------------------------------------------------------------------- */

static void ticket_settle(ticket *tk, bool delivered)
{
    if (!delivered)
        tk->undelivered++;
    if (--tk->pending == 0) {
        weft__batch_done(tk->b, tk->undelivered);
        free(tk);
    }
}

/* ---- the trace table ------------------------------------------------------------------------ */

static size_t bucket_of(const stratix *s, uint64_t id)
{
    return (size_t)((id * 0x9E3779B97F4A7C15ull) >> 17) & (s->n_buckets - 1);
}

static trace *find(stratix *s, uint64_t id)
{
    for (trace *t = s->buckets[bucket_of(s, id)]; t; t = t->hnext)
        if (t->id == id)
            return t;
    return NULL;
}

static bool grow(stratix *s)
{
    size_t nb = s->n_buckets * 2;
    trace **b = calloc(nb, sizeof *b);
    if (b == NULL)
        return false;
    trace **old = s->buckets;
    size_t on = s->n_buckets;
    s->buckets = b;
    s->n_buckets = nb;
    for (size_t i = 0; i < on; i++)
        for (trace *t = old[i], *nx; t; t = nx) {
            nx = t->hnext;
            size_t k = bucket_of(s, t->id);
            t->hnext = b[k];
            b[k] = t;
        }
    free(old);
    return true;
}

static trace *trace_new(stratix *s, uint64_t id)
{
    if (s->n_traces >= s->n_buckets && !grow(s))
        return NULL;
    trace *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->id = id;
    t->state = T_ROOTLESS;
    size_t k = bucket_of(s, id);
    t->hnext = s->buckets[k];
    s->buckets[k] = t;
    s->n_traces++;
    list_push(&s->rootless, t);
    return t;
}

static void free_spans(stratix *s, trace *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->spans[i].copy);
    free(t->spans);
    t->spans = NULL;
    t->n = t->cap = 0;
    s->held_bytes -= t->bytes;
    t->bytes = 0;
}

/* Removes t from the table and its list and frees it (its spans must be settled already). */
static void forget(stratix *s, trace *t)
{
    list_remove(list_of(s, t), t);
    trace **pp = &s->buckets[bucket_of(s, t->id)];
    while (*pp != t)
        pp = &(*pp)->hnext;
    *pp = t->hnext;
    s->n_traces--;
    free_spans(s, t);
    free(t);
}

/* The spans of t will not be delivered: settled as undelivered and counted as dropped. */
static void drop_spans(stratix *s, trace *t)
{
    size_t lost = 0;
    for (size_t i = 0; i < t->n; i++) {
        hspan *h = &t->spans[i];
        if (!h->complete)
            continue;
        lost++;
        if (h->tk)
            ticket_settle(h->tk, false);
    }
    weft__stat_add(dropped_export, lost);
}

/* t was written (or dropped): only its id stays, to recognise late spans. */
static void mark_written(stratix *s, trace *t)
{
    list_remove(list_of(s, t), t);
    free_spans(s, t);
    t->state = T_WRITTEN;
    t->due_ms = uv_now(s->loop) + s->recent_ms;
    list_push(&s->written, t);
    while (s->written.n > RECENT_MAX)
        forget(s, s->written.head);
}

/* ---- files ---------------------------------------------------------------------------------- */

static void sfile_free(sfile *f)
{
    if (f == NULL)
        return;
    if (f->fd >= 0)
        close(f->fd); /* after the thread unlinked or renamed it: no one can claim it between */
    free(f->tk);
    free(f->path);
    free(f);
}

/* A new file in the directory, created under a dot-name, locked, then given its real name, so
 * that no scanner can claim it in between. NULL when that fails (errno set). */
static sfile *file_create(stratix *s)
{
    sfile *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->fd = -1;
    char name[96], tmp[4096], path[4096];
    snprintf(name, sizeof name, NAME_PREFIX "%llu-%ld-%llu" NAME_SUFFIX, (unsigned long long)wall_ms(),
             (long)getpid(), (unsigned long long)++s->seq);
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", s->dir, name);
    int n = snprintf(path, sizeof path, "%s/%s", s->dir, name);
    if (n < 0 || (size_t)n >= sizeof path) {
        free(f);
        errno = ENAMETOOLONG;
        return NULL;
    }
    f->fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (f->fd < 0 || flock(f->fd, LOCK_EX | LOCK_NB) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        if (f->fd >= 0) {
            unlink(tmp);
            close(f->fd);
        }
        free(f);
        errno = e;
        return NULL;
    }
    f->path = strdup(path);
    if (f->path == NULL) {
        unlink(path);
        close(f->fd);
        free(f);
        errno = ENOMEM;
        return NULL;
    }
    f->name = strrchr(f->path, '/') + 1;
    f->opened_ms = uv_now(s->loop);
    return f;
}

static void hand_to_thread(stratix *s, sfile *f)
{
    f->from_loop = true;
    f->result = UP_NONE;
    f->next = NULL;
    s->outstanding++;
    pthread_mutex_lock(&s->mu);
    if (s->todo_tail)
        s->todo_tail->next = f;
    else
        s->todo = f;
    s->todo_tail = f;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* The current file goes to the upload thread. */
static void rotate(stratix *s)
{
    sfile *f = s->cur;
    if (f == NULL)
        return;
    s->cur = NULL;
    hand_to_thread(s, f);
}

/* Counts a file's fate. OK and KEEP/REJECT of a file not yet counted settle its batches —
 * last, so that whoever a weft__batch_done wakes (weft_flush) reads the counts already made. */
static void settle_file(sfile *f, outcome o)
{
    switch (o) {
    case UP_OK:
        if (f->accounted)
            weft__stat_add(replayed, f->spans);
        else
            weft__stat_add(exported, f->own);
        break;
    case UP_KEEP:
        if (!f->accounted)
            weft__stat_add(spooled, f->spans);
        break;
    case UP_REJECT:
        weft__stat_add(rejected, f->spans);
        weft__stat_add(dropped_export, f->spans);
        break;
    case UP_NONE:
        break;
    }
    if (!f->accounted) {
        for (size_t i = 0; i < f->n_tk; i++)
            ticket_settle(f->tk[i], o == UP_OK);
        f->n_tk = 0;
    }
    f->own = 0;
    f->accounted = true;
}

static bool reserve_tickets(sfile *f, size_t more)
{
    if (f->cap_tk - f->n_tk >= more)
        return true;
    size_t cap = f->cap_tk ? f->cap_tk : 64;
    while (cap - f->n_tk < more)
        cap *= 2;
    ticket **v = realloc(f->tk, cap * sizeof *v);
    if (v == NULL)
        return false;
    f->tk = v;
    f->cap_tk = cap;
    return true;
}

/* ---- writing a trace ------------------------------------------------------------------------ */

/* Parses the held items of t into items[] (new references). Returns how many parsed. */
static size_t parse_items(const trace *t, json_t **items)
{
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++) {
        const hspan *h = &t->spans[i];
        json_t *v = json_loadb(h->json, h->len, 0, NULL);
        if (v == NULL) /* an integer beyond int64: keep the item, as a real */
            v = json_loadb(h->json, h->len, JSON_DECODE_INT_AS_REAL, NULL);
        if (json_is_object(v))
            items[n++] = v;
        else
            json_decref(v);
    }
    return n;
}

/* Writes t's document to the current file (rotating first when it would not stay below the
 * limit), moves its spans' counting to the file and marks it written. On failure its spans
 * are dropped and counted. */
static void write_trace(stratix *s, trace *t)
{
    if (t->n == 0) {
        mark_written(s, t);
        return;
    }
    json_t **items = malloc(t->n * sizeof *items);
    size_t n = items ? parse_items(t, items) : 0;
    weft__buf_reset(&s->doc);
    weft__stratix_doc_info info = {0};
    int rc = n ? weft__stratix_doc_write(&s->doc, (const json_t *const *)items, n, &info) : WEFT_ENOMEM;
    for (size_t i = 0; i < n; i++)
        json_decref(items[i]);
    free(items);
    if (rc == 0)
        weft__buf_putc(&s->doc, '\n');
    if (rc < 0 || s->doc.oom) {
        if (!s->logged_doc)
            weft__log(WEFT_LOG_ERROR, "stratix: a trace document could not be built (%s); its spans are dropped",
                      info.error ? info.error : "out of memory");
        s->logged_doc = true;
        drop_spans(s, t);
        mark_written(s, t);
        return;
    }
    size_t len = s->doc.len;
    if (len >= s->max_bytes) {
        if (!s->logged_big)
            weft__log(WEFT_LOG_ERROR,
                      "stratix: a trace of %zu spans makes a %zu-byte document, not below the file limit of %llu "
                      "bytes (WEFT_STRATIX_MAX_FILE_BYTES); it is dropped",
                      t->n, len, (unsigned long long)s->max_bytes);
        s->logged_big = true;
        drop_spans(s, t);
        mark_written(s, t);
        return;
    }
    if (s->cur && s->cur->bytes + len >= s->max_bytes)
        rotate(s);
    if (s->cur == NULL && (s->cur = file_create(s)) == NULL) {
        if (!s->logged_write)
            weft__log(WEFT_LOG_ERROR, "stratix: cannot create a trace file in %s: %s (spans are dropped and counted)",
                      s->dir, strerror(errno));
        s->logged_write = true;
        drop_spans(s, t);
        mark_written(s, t);
        return;
    }
    sfile *f = s->cur;
    /* Room for the tickets first, so that nothing can fail once the line is written. */
    size_t need = 0;
    for (size_t i = 0; i < t->n; i++)
        need += t->spans[i].complete && t->spans[i].tk;
    bool ok = reserve_tickets(f, need) && write_all(f->fd, s->doc.data, len);
    if (!ok) {
        if (!s->logged_write)
            weft__log(WEFT_LOG_ERROR, "stratix: writing %s failed: %s (spans are dropped and counted)", f->path,
                      strerror(errno));
        s->logged_write = true;
        if (ftruncate(f->fd, (off_t)f->bytes) != 0) {
            /* The file now ends in a torn line: send it as it is and start a new one (the
             * server refuses a bad line, and the claim at the next start cuts a torn tail). */
            rotate(s);
        }
        drop_spans(s, t);
        mark_written(s, t);
        return;
    }
    if (f->traces == 0)
        f->opened_ms = uv_now(s->loop);
    f->bytes += len;
    f->traces++;
    for (size_t i = 0; i < t->n; i++) {
        hspan *h = &t->spans[i];
        if (!h->complete)
            continue;
        f->spans++;
        if (h->tk)
            f->tk[f->n_tk++] = h->tk;
        else
            f->own++;
    }
    mark_written(s, t);
}

/* Writes t without its root (memory short, or shutdown): counted as incomplete. */
static void write_incomplete(stratix *s, trace *t)
{
    weft__stat_add(incomplete_traces, 1);
    t->incomplete_counted = true;
    write_trace(s, t);
}

static void write_due(stratix *s, uint64_t now)
{
    while (s->rooted.head && s->rooted.head->due_ms <= now)
        write_trace(s, s->rooted.head);
    while (s->written.head && s->written.head->due_ms <= now)
        forget(s, s->written.head);
    /* Memory: the oldest held trace goes early. */
    while (s->held_bytes > s->max_held && (s->rooted.head || s->rootless.head)) {
        if (s->rooted.head)
            write_trace(s, s->rooted.head);
        else
            write_incomplete(s, s->rootless.head);
    }
    if (s->cur && s->cur->traces && now >= s->cur->opened_ms + s->max_age)
        rotate(s);
}

static void on_timer(uv_timer_t *h);

static void schedule(stratix *s)
{
    uint64_t now = uv_now(s->loop), next = UINT64_MAX;
    if (s->rooted.head)
        next = s->rooted.head->due_ms;
    if (s->written.head && s->written.head->due_ms < next)
        next = s->written.head->due_ms;
    if (s->cur && s->cur->traces && s->cur->opened_ms + s->max_age < next)
        next = s->cur->opened_ms + s->max_age;
    if (next == UINT64_MAX) {
        uv_timer_stop(&s->timer);
        return;
    }
    uv_timer_start(&s->timer, on_timer, next > now ? next - now : 0, 0);
}

static void on_timer(uv_timer_t *h)
{
    stratix *s = h->data;
    write_due(s, uv_now(s->loop));
    schedule(s);
}

/* ---- receiving spans ------------------------------------------------------------------------ */

static void add_span(stratix *s, ticket *tk, weft__batch *b, size_t i, uint64_t now)
{
    const weft__batch_item *it = &b->items[i];
    bool complete = !it->in_progress;
    size_t len;
    const char *json = weft__batch_item_bytes(b, WEFT__ENC_SGP_JSON, i, &len);
    trace *t = find(s, it->trace);
    if (t && t->state == T_WRITTEN) {
        /* Past the grace: the trace went without it. */
        if (complete) {
            tk->undelivered++;
            weft__stat_add(dropped_export, 1);
        }
        if (!t->incomplete_counted) {
            t->incomplete_counted = true;
            weft__stat_add(incomplete_traces, 1);
        }
        if (!s->logged_late)
            weft__log(WEFT_LOG_WARN,
                      "stratix: a span ended more than %llu ms (WEFT_STRATIX_GRACE_MS) after its trace's root; the "
                      "trace was sent without it (counted in incomplete_traces and dropped_export)",
                      (unsigned long long)s->grace);
        s->logged_late = true;
        return;
    }
    if (t == NULL && (t = trace_new(s, it->trace)) == NULL)
        goto oom;
    if (it->parent == 0 && t->state == T_ROOTLESS) {
        list_remove(&s->rootless, t);
        t->state = T_ROOTED;
        t->due_ms = now + s->grace;
        list_push(&s->rooted, t);
    }
    if (t->n == t->cap) {
        hspan *v = weft__grow(t->spans, &t->cap, sizeof *v, 4);
        if (v == NULL)
            goto oom;
        t->spans = v;
    }
    hspan *h = &t->spans[t->n];
    memset(h, 0, sizeof *h);
    h->len = len;
    h->complete = complete;
    if (complete && t->state == T_ROOTED) {
        h->json = json;
        h->tk = tk;
        tk->pending++;
    } else {
        if ((h->copy = malloc(len ? len : 1)) == NULL)
            goto oom;
        memcpy(h->copy, json, len);
        h->json = h->copy;
        if (complete)
            tk->undelivered++; /* counted by this exporter from here on */
    }
    t->n++;
    t->bytes += len;
    s->held_bytes += len;
    return;
oom:
    if (complete) {
        tk->undelivered++;
        weft__stat_add(dropped_export, 1);
    }
}

static void stratix_submit(weft__exporter *ex, weft__batch *b)
{
    stratix *s = ex->state;
    ticket *tk = calloc(1, sizeof *tk);
    if (tk == NULL) {
        weft__stat_add(dropped_export, b->n_complete);
        weft__batch_done(b, b->n_complete);
        return;
    }
    tk->b = b;
    tk->pending = 1; /* guard while the batch is read */
    uint64_t now = uv_now(s->loop);
    /* Roots first, so that their children in the same batch are held with the batch. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < b->n; i++) {
            const weft__batch_item *it = &b->items[i];
            if ((it->parent == 0) != (pass == 0) || (it->in_progress && !it->final_open))
                continue;
            add_span(s, tk, b, i, now);
        }
    write_due(s, now);
    ticket_settle(tk, true); /* the guard */
    schedule(s);
}

/* weft_flush: every trace whose root has arrived goes now, and so does the file. */
static void stratix_flush(weft__exporter *ex)
{
    stratix *s = ex->state;
    while (s->rooted.head)
        write_trace(s, s->rooted.head);
    if (s->cur && s->cur->traces)
        rotate(s);
    schedule(s);
}

/* ---- results from the upload thread --------------------------------------------------------- */

static void on_result(stratix *s, sfile *f, bool requeue)
{
    if (f->from_loop) {
        f->from_loop = false;
        s->outstanding--;
    }
    outcome o = f->result == UP_NONE ? UP_KEEP : f->result;
    settle_file(f, o);
    if (o == UP_OK) {
        weft__log(WEFT_LOG_DEBUG, "stratix: uploaded %s (%zu traces, %zu spans; %zu trace ids)", f->name,
                  f->traces, f->spans, f->trace_ids);
        s->logged_keep = false;
        sfile_free(f);
        /* The API answers again: files kept after earlier failures try again. */
        while (requeue && s->kept && !s->draining) {
            sfile *k = s->kept;
            s->kept = k->next;
            hand_to_thread(s, k);
        }
        return;
    }
    if (o == UP_REJECT) {
        weft__log(WEFT_LOG_ERROR, "stratix: Stratix refused %s for good (%s); kept as %s" REJECTED_SUFFIX
                                  ", its %zu spans counted in rejected",
                  f->name, f->message, f->name, f->spans);
        sfile_free(f);
        return;
    }
    if (!s->logged_keep)
        weft__log(WEFT_LOG_WARN, "stratix: %s was not uploaded (%s); it stays in %s and is sent again after the next "
                                 "upload that succeeds, or by the next process",
                  f->name, f->message, s->dir);
    s->logged_keep = true;
    f->next = s->kept;
    s->kept = f;
}

static void take_results(stratix *s, bool requeue)
{
    pthread_mutex_lock(&s->mu);
    sfile *d = s->done;
    s->done = NULL;
    pthread_mutex_unlock(&s->mu);
    /* done is newest first: settle in upload order. */
    sfile *rev = NULL;
    while (d) {
        sfile *nx = d->next;
        d->next = rev;
        rev = d;
        d = nx;
    }
    while (rev) {
        sfile *nx = rev->next;
        on_result(s, rev, requeue);
        rev = nx;
    }
}

static void on_async(uv_async_t *h)
{
    stratix *s = h->data;
    take_results(s, true);
}

/* ---- the upload thread ---------------------------------------------------------------------- */

/* Claims a file no live process holds: locks it, cuts a torn last line, counts its spans. NULL
 * when it is not one to take (held, unreadable, empty: an empty one is removed). */
static sfile *claim(const char *dir, const char *name)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path)
        return NULL;
    int fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    char *data = len ? malloc(len) : NULL;
    size_t got = 0;
    while (data && got < len) {
        ssize_t r = pread(fd, data + got, len - got, (off_t)got);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            break;
        }
        got += (size_t)r;
    }
    if (len && (data == NULL || got < len)) {
        free(data);
        close(fd);
        return NULL;
    }
    size_t keep = len;
    while (keep > 0 && data[keep - 1] != '\n')
        keep--; /* a line cut by a crash */
    size_t spans = 0, traces = 0;
    for (size_t p = 0; p < keep;) {
        const char *nl = memchr(data + p, '\n', keep - p);
        size_t e = (size_t)(nl - data);
        json_t *doc = json_loadb(data + p, e - p, JSON_DECODE_INT_AS_REAL, NULL);
        if (doc) {
            traces++;
            spans += json_array_size(json_object_get(doc, "spans"));
        }
        json_decref(doc);
        p = e + 1;
    }
    free(data);
    if (keep < len && ftruncate(fd, (off_t)keep) != 0) {
        close(fd);
        return NULL;
    }
    if (traces == 0) {
        unlink(path);
        close(fd);
        return NULL;
    }
    sfile *f = calloc(1, sizeof *f);
    if (f == NULL || (f->path = strdup(path)) == NULL) {
        free(f);
        close(fd);
        return NULL;
    }
    f->name = strrchr(f->path, '/') + 1;
    f->fd = fd;
    f->bytes = keep;
    f->traces = traces;
    f->spans = spans;
    f->accounted = true;
    f->replay = true;
    return f;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Every file of the directory a dead process (or an earlier run) left, oldest name first. */
static sfile *scan(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return NULL;
    sfile *list = NULL;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, NAME_PREFIX, sizeof NAME_PREFIX - 1) != 0 || !has_suffix(e->d_name, NAME_SUFFIX))
            continue;
        sfile *f = claim(dir, e->d_name);
        if (f == NULL)
            continue;
        /* Sorted insert by name (names start with the creation time). */
        sfile **pp = &list;
        while (*pp && strcmp((*pp)->name, f->name) < 0)
            pp = &(*pp)->next;
        f->next = *pp;
        *pp = f;
    }
    closedir(d);
    return list;
}

static void upload(stratix *s, sfile *f)
{
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    int rc = weft__stratix_upload_file(s->conn, f->path, NULL, NULL, &res, &err);
    f->rc = rc;
    if (rc == 0) {
        f->result = UP_OK;
        f->trace_ids = res->n_trace_ids;
        weft_stratix_upload_result_free(res);
        unlink(f->path);
        return;
    }
    snprintf(f->message, sizeof f->message, "%s", err.message);
    int st = err.http_status;
    bool refused = (rc == WEFT_EHTTP && (st == 400 || st == 409 || st == 413 || st == 422)) || rc == WEFT_EINVAL;
    if (refused) {
        char to[4200];
        snprintf(to, sizeof to, "%s" REJECTED_SUFFIX, f->path);
        rename(f->path, to);
        f->result = UP_REJECT;
    } else {
        f->result = UP_KEEP;
    }
}

static void *thread_main(void *arg)
{
    stratix *s = arg;
    sfile *replays = scan(s->dir);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->quit && !s->todo && (s->no_replay || !replays))
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit)
            break;
        sfile *f = s->todo;
        if (f) {
            s->todo = f->next;
            if (!s->todo)
                s->todo_tail = NULL;
        } else {
            f = replays;
            replays = f->next;
        }
        f->next = NULL;
        s->busy = true;
        pthread_mutex_unlock(&s->mu);
        upload(s, f);
        pthread_mutex_lock(&s->mu);
        s->busy = false;
        f->next = s->done;
        s->done = f;
        uv_async_send(&s->async);
    }
    pthread_mutex_unlock(&s->mu);
    /* Replays not begun stay on disk for the next process (unlocked as they are closed). */
    while (replays) {
        sfile *nx = replays->next;
        sfile_free(replays);
        replays = nx;
    }
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

/* The default directory, "$TMPDIR/weft-stratix-<uid>" (heap). */
static char *default_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || *tmp == '\0')
        tmp = "/tmp";
    size_t n = strlen(tmp) + 48;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/weft-stratix-%lu", tmp, (unsigned long)getuid());
    return p;
}

/* Makes dir (one level, mode 0700) or checks the one there. The default one, in a shared
 * temporary directory, must be a real directory of ours that no one else can write. */
static int ensure_dir(const char *dir, bool shared_parent)
{
    if (mkdir(dir, 0700) == 0)
        return 0;
    if (errno != EEXIST) {
        weft__log(WEFT_LOG_ERROR, "stratix: cannot create the trace directory %s: %s", dir, strerror(errno));
        return WEFT_EIO;
    }
    struct stat st;
    if ((shared_parent ? lstat(dir, &st) : stat(dir, &st)) != 0 || !S_ISDIR(st.st_mode)) {
        weft__log(WEFT_LOG_ERROR, "stratix: %s is not a directory (WEFT_STRATIX_DIR)", dir);
        return WEFT_ECONFIG;
    }
    if (shared_parent && (st.st_uid != getuid() || (st.st_mode & 077) != 0)) {
        weft__log(WEFT_LOG_ERROR, "stratix: %s belongs to another user or is open to others; set WEFT_STRATIX_DIR",
                  dir);
        return WEFT_ECONFIG;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        weft__log(WEFT_LOG_ERROR, "stratix: cannot write in %s: %s", dir, strerror(errno));
        return WEFT_EIO;
    }
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    stratix *s = h->data;
    if (--s->handles_open == 0)
        free(s);
}

static void state_free(stratix *s)
{
    weft__stratix_conn_free(s->conn);
    free(s->dir);
    free(s->buckets);
    weft__buf_fini(&s->doc);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
}

static int stratix_open(weft__exporter *ex)
{
    const weft__cfg *cfg = &ex->rt->cfg;
    if (cfg->stratix_api_key == NULL || *cfg->stratix_api_key == '\0') {
        weft__log(WEFT_LOG_ERROR, "stratix exporter: no API key; set LAYERLENS_STRATIX_API_KEY "
                                  "(or weft_config.stratix_api_key)");
        return WEFT_ECONFIG;
    }
    stratix *s = calloc(1, sizeof *s);
    if (s == NULL)
        return WEFT_ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    weft__buf_init(&s->doc);
    s->ex = ex;
    s->loop = ex->loop;
    s->max_bytes = cfg->stratix_max_file_bytes;
    s->max_age = cfg->stratix_max_file_age_ms;
    s->grace = cfg->stratix_grace_ms;
    s->recent_ms = 4 * s->grace > RECENT_MIN_MS ? 4 * s->grace : RECENT_MIN_MS;
    s->max_held = cfg->max_queue_bytes;
    s->n_buckets = 1024;
    s->buckets = calloc(s->n_buckets, sizeof *s->buckets);
    s->dir = cfg->stratix_dir && *cfg->stratix_dir ? strdup(cfg->stratix_dir) : default_dir();
    int rc = s->buckets && s->dir ? 0 : WEFT_ENOMEM;
    if (rc == 0) {
        size_t n = strlen(s->dir);
        while (n > 1 && s->dir[n - 1] == '/')
            s->dir[--n] = '\0';
        rc = ensure_dir(s->dir, !(cfg->stratix_dir && *cfg->stratix_dir));
    }
    if (rc == 0) {
        weft_stratix_opts o = {
            .api_key = cfg->stratix_api_key,
            .base_url = cfg->stratix_base_url,
            .organization_id = cfg->stratix_org_id,
            .project_id = cfg->stratix_project_id,
            .ca_bundle = cfg->ca_bundle,
            .connect_timeout_ms = cfg->connect_timeout_ms,
            .max_retries = UPLOAD_RETRIES,
            .max_retry_wait_ms = RETRY_WAIT_CAP_MS,
        };
        weft_stratix_error err;
        rc = weft__stratix_conn_new(&s->conn, &o, &err);
        if (rc < 0)
            weft__log(WEFT_LOG_ERROR, "stratix exporter: %s", err.message);
    }
    if (rc == 0) {
        weft__stratix_conn_set_stop(s->conn, &s->stop);
        if (pthread_create(&s->thread, NULL, thread_main, s) != 0)
            rc = WEFT_ETHREAD;
    }
    if (rc < 0) {
        state_free(s);
        free(s);
        return rc;
    }
    s->thread_started = true;
    uv_timer_init(s->loop, &s->timer);
    uv_async_init(s->loop, &s->async, on_async);
    s->timer.data = s->async.data = s;
    s->handles_open = 2;
    ex->state = s;
    return 0;
}

static bool stratix_drain(weft__exporter *ex, uint64_t deadline_ms)
{
    stratix *s = ex->state;
    if (!s->draining) {
        s->draining = true;
        pthread_mutex_lock(&s->mu);
        s->no_replay = true; /* nothing of earlier runs starts once shutdown has begun */
        pthread_mutex_unlock(&s->mu);
        while (s->rooted.head)
            write_trace(s, s->rooted.head);
        while (s->rootless.head)
            write_incomplete(s, s->rootless.head);
        rotate(s);
        schedule(s);
    }
    take_results(s, false);
    /* Done when this run's files are back and no upload is in progress (one of an earlier
     * run's files, begun before shutdown, is let finish within the deadline too: cut short
     * after the server took it, it would be sent twice). */
    pthread_mutex_lock(&s->mu);
    bool busy = s->busy || s->done;
    pthread_mutex_unlock(&s->mu);
    if (s->outstanding == 0 && !busy)
        return true;
    if (uv_now(s->loop) >= deadline_ms) {
        /* Cut the upload in progress short; close() settles what is left (kept on disk, in
         * spooled). Not done: weft_shutdown reports the timeout. */
        atomic_store(&s->stop, 1);
    }
    return false;
}

static void stratix_close(weft__exporter *ex)
{
    stratix *s = ex->state;
    if (s == NULL)
        return;
    if (s->thread_started) {
        atomic_store(&s->stop, 1);
        pthread_mutex_lock(&s->mu);
        s->quit = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->thread, NULL);
    }
    s->draining = true;
    take_results(s, false);
    /* Files handed over and never begun stay on disk. */
    for (sfile *f = s->todo, *nx; f; f = nx) {
        nx = f->next;
        f->result = UP_KEEP;
        on_result(s, f, false);
    }
    s->todo = s->todo_tail = NULL;
    if (s->cur) {
        sfile *f = s->cur;
        s->cur = NULL;
        f->result = UP_KEEP;
        on_result(s, f, false);
    }
    while (s->kept) {
        sfile *f = s->kept;
        s->kept = f->next;
        sfile_free(f);
    }
    /* Traces still held (close without a drain: weft_init failed later on) are lost. */
    while (s->rooted.head) {
        drop_spans(s, s->rooted.head);
        forget(s, s->rooted.head);
    }
    while (s->rootless.head) {
        drop_spans(s, s->rootless.head);
        forget(s, s->rootless.head);
    }
    while (s->written.head)
        forget(s, s->written.head);
    state_free(s);
    ex->state = NULL;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, on_closed);
    uv_close((uv_handle_t *)&s->async, on_closed); /* the last one frees s */
}

const weft__exporter_ops weft__exporter_stratix = {
    .name = "stratix",
    .encoding = WEFT__ENC_SGP_JSON,
    .wants_inprogress = false,
    .open = stratix_open,
    .submit = stratix_submit,
    .drain = stratix_drain,
    .close = stratix_close,
    .flush = stratix_flush,
};
