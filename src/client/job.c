/*
 * job.c — the job handle of job.h: one pthread per job running a body (job_internal.h), and a
 * mutex + condition variable guarding everything the handle reports. The body's thread is the
 * only writer of progress; any thread reads snapshots; the final state is set once, under the
 * mutex, and broadcast.
 *
 * Owns: the thread (joined by weft_job_free), the problems list (at most MAX_PROBLEMS entries,
 * the rest counted in items_failed only), the body's argument (freed after the body ran).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "job_internal.h"

#define MAX_PROBLEMS 1000

struct weft_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool thread_started;
    char id[40];
    char type[16];
    weft_job_state state;
    bool cancel;
    uint64_t current, total;
    char started_at[32], finished_at[32];
    char error[512];
    int code; /* the result code once final */
    weft_job_output out;
    weft_job_problem *problems;
    size_t n_problems;
    weft__job_body body;
    void *arg;
    weft__job_arg_free arg_free;
    void *result; /* a typed result a body left (weft__job_set_result), freed with the job */
    weft__job_arg_free result_free;
};

static const char *const state_names[] = {"queued", "running", "processing", "completed", "failed", "cancelled"};

const char *weft_job_state_name(weft_job_state s)
{
    return (unsigned)s < sizeof state_names / sizeof state_names[0] ? state_names[s] : "failed";
}

static bool final(weft_job_state s) { return s >= WEFT_JOB_COMPLETED; }

static void now_iso(char out[32])
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char t[64];
    snprintf(t, sizeof t, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    memcpy(out, t, 31);
    out[31] = '\0';
}

static void make_uuid(char out[40])
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)out;
        for (int i = 0; i < 16; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            b[i] = (unsigned char)x;
        }
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    snprintf(out, 40, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3],
             b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static void finish(weft_job *j, weft_job_state s, int code)
{
    pthread_mutex_lock(&j->mu);
    if (!final(j->state)) {
        j->state = s;
        j->code = code;
        now_iso(j->finished_at);
        if (s == WEFT_JOB_COMPLETED && j->total == 0)
            j->total = j->current;
        if (s == WEFT_JOB_CANCELLED && !j->error[0])
            snprintf(j->error, sizeof j->error, "cancelled after %llu of %llu items", (unsigned long long)j->current,
                     (unsigned long long)j->total);
        if (s == WEFT_JOB_FAILED && !j->error[0])
            snprintf(j->error, sizeof j->error, "%s", weft_strerror(code));
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

static void *run(void *p)
{
    weft_job *j = p;
    pthread_mutex_lock(&j->mu);
    bool cancelled = j->cancel;
    if (!cancelled) {
        j->state = WEFT_JOB_RUNNING;
        now_iso(j->started_at);
    }
    pthread_mutex_unlock(&j->mu);
    if (cancelled) {
        finish(j, WEFT_JOB_CANCELLED, WEFT_ECANCELED);
    } else {
        int rc = j->body(j, j->arg);
        if (weft__job_cancelled(j))
            finish(j, WEFT_JOB_CANCELLED, WEFT_ECANCELED);
        else
            finish(j, rc == 0 ? WEFT_JOB_COMPLETED : WEFT_JOB_FAILED, rc);
    }
    if (j->arg_free)
        j->arg_free(j->arg);
    j->arg = NULL;
    return NULL;
}

int weft__job_start(const char *type, weft__job_body body, void *arg, weft__job_arg_free arg_free, weft_job **out)
{
    *out = NULL;
    weft_job *j = calloc(1, sizeof *j);
    if (!j) {
        if (arg_free)
            arg_free(arg);
        return WEFT_ENOMEM;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cv, &ca);
    pthread_condattr_destroy(&ca);
    make_uuid(j->id);
    snprintf(j->type, sizeof j->type, "%s", type);
    j->state = WEFT_JOB_QUEUED;
    j->body = body;
    j->arg = arg;
    j->arg_free = arg_free;
    if (pthread_create(&j->thread, NULL, run, j) != 0) {
        if (arg_free)
            arg_free(arg);
        pthread_cond_destroy(&j->cv);
        pthread_mutex_destroy(&j->mu);
        free(j);
        return WEFT_ETHREAD;
    }
    j->thread_started = true;
    *out = j;
    return 0;
}

/* ---- for bodies -------------------------------------------------------------------------- */

void weft__job_set_state(weft_job *j, weft_job_state s)
{
    pthread_mutex_lock(&j->mu);
    if (!final(j->state))
        j->state = s;
    pthread_mutex_unlock(&j->mu);
}

void weft__job_set_total(weft_job *j, uint64_t total)
{
    pthread_mutex_lock(&j->mu);
    j->total = total;
    pthread_mutex_unlock(&j->mu);
}

void weft__job_advance(weft_job *j, uint64_t items, uint64_t delivered, uint64_t failed)
{
    pthread_mutex_lock(&j->mu);
    j->current += items;
    if (j->current > j->total && j->total)
        j->total = j->current;
    j->out.items_total += items;
    j->out.items_delivered += delivered;
    j->out.items_failed += failed;
    pthread_mutex_unlock(&j->mu);
}

void weft__job_problem(weft_job *j, const char *file, uint64_t line, const char *message)
{
    pthread_mutex_lock(&j->mu);
    if (j->n_problems < MAX_PROBLEMS) {
        weft_job_problem *v = realloc(j->problems, (j->n_problems + 1) * sizeof *v);
        if (v) {
            j->problems = v;
            weft_job_problem *p = &v[j->n_problems];
            p->file = strdup(file ? file : "");
            p->line = line;
            p->message = strdup(message ? message : "");
            if (p->file && p->message)
                j->n_problems++;
            else {
                free((char *)p->file);
                free((char *)p->message);
            }
        }
    }
    pthread_mutex_unlock(&j->mu);
}

void weft__job_fail(weft_job *j, const char *fmt, ...)
{
    pthread_mutex_lock(&j->mu);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->error, sizeof j->error, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&j->mu);
}

void weft__job_set_flush_result(weft_job *j, int rc)
{
    pthread_mutex_lock(&j->mu);
    j->out.flush_result = rc;
    pthread_mutex_unlock(&j->mu);
}

void weft__job_set_result(weft_job *j, void *result, weft__job_arg_free result_free)
{
    pthread_mutex_lock(&j->mu);
    if (j->result_free)
        j->result_free(j->result);
    j->result = result;
    j->result_free = result_free;
    pthread_mutex_unlock(&j->mu);
}

void *weft__job_wait_result(weft_job *j)
{
    pthread_mutex_lock(&j->mu);
    while (!final(j->state))
        pthread_cond_wait(&j->cv, &j->mu);
    void *r = j->result;
    pthread_mutex_unlock(&j->mu);
    return r;
}

bool weft__job_cancelled(weft_job *j)
{
    pthread_mutex_lock(&j->mu);
    bool c = j->cancel;
    pthread_mutex_unlock(&j->mu);
    return c;
}

/* ---- the handle ---------------------------------------------------------------------------- */

const char *weft_job_id(const weft_job *j) { return j ? j->id : NULL; }
const char *weft_job_type(const weft_job *j) { return j ? j->type : NULL; }

static void snapshot(weft_job *j, weft_job_info *o)
{
    memset(o, 0, sizeof *o);
    memcpy(o->job_id, j->id, sizeof o->job_id);
    memcpy(o->job_type, j->type, sizeof o->job_type);
    o->state = j->state;
    o->status = weft_job_state_name(j->state);
    o->current_item = j->current;
    o->total_items = j->total;
    if (j->state == WEFT_JOB_COMPLETED)
        o->progress_percent = 100.0;
    else if (j->total)
        o->progress_percent = 100.0 * (double)j->current / (double)j->total;
    memcpy(o->started_at, j->started_at, sizeof o->started_at);
    memcpy(o->finished_at, j->finished_at, sizeof o->finished_at);
    memcpy(o->error, j->error, sizeof o->error);
}

int weft_job_status(const weft_job *job, weft_job_info *out)
{
    if (!job || !out)
        return WEFT_EINVAL;
    weft_job *j = (weft_job *)job;
    pthread_mutex_lock(&j->mu);
    snapshot(j, out);
    pthread_mutex_unlock(&j->mu);
    return 0;
}

static weft_job_state state_of(const weft_job *job)
{
    weft_job *j = (weft_job *)job;
    pthread_mutex_lock(&j->mu);
    weft_job_state s = j->state;
    pthread_mutex_unlock(&j->mu);
    return s;
}

bool weft_job_is_running(const weft_job *j) { return j && !final(state_of(j)); }
bool weft_job_is_completed(const weft_job *j) { return j && state_of(j) == WEFT_JOB_COMPLETED; }
bool weft_job_is_failed(const weft_job *j) { return j && state_of(j) == WEFT_JOB_FAILED; }

int weft_job_cancel(weft_job *j)
{
    if (!j)
        return WEFT_EINVAL;
    pthread_mutex_lock(&j->mu);
    int rc = final(j->state) ? WEFT_EINVAL : 0;
    if (!rc)
        j->cancel = true;
    pthread_mutex_unlock(&j->mu);
    return rc;
}

/* Under the mutex, the job final. */
static int result_locked(weft_job *j, const weft_job_output **out)
{
    j->out.problems = j->problems;
    j->out.n_problems = j->n_problems;
    if (out)
        *out = &j->out;
    return j->state == WEFT_JOB_COMPLETED ? 0 : j->code ? j->code : WEFT_EIO;
}

int weft_job_result(weft_job *j, const weft_job_output **out)
{
    if (out)
        *out = NULL;
    if (!j)
        return WEFT_EINVAL;
    pthread_mutex_lock(&j->mu);
    while (!final(j->state))
        pthread_cond_wait(&j->cv, &j->mu);
    int rc = result_locked(j, out);
    pthread_mutex_unlock(&j->mu);
    return rc;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct timespec abs_mono(double t)
{
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int weft_job_wait(weft_job *j, double poll_interval_s, double timeout_s, weft_job_progress_fn on_progress,
                  void *user)
{
    if (!j)
        return WEFT_EINVAL;
    if (!(poll_interval_s > 0))
        poll_interval_s = 2.0;
    double start = mono_s(), deadline = timeout_s < 0 ? -1 : start + timeout_s;
    weft_job_info info;
    pthread_mutex_lock(&j->mu);
    for (;;) {
        if (final(j->state))
            break;
        double now = mono_s();
        if (deadline >= 0 && now >= deadline) {
            snapshot(j, &info);
            pthread_mutex_unlock(&j->mu);
            if (on_progress)
                on_progress(&info, user);
            return WEFT_ETIMEDOUT;
        }
        double until = now + poll_interval_s;
        if (deadline >= 0 && until > deadline)
            until = deadline;
        struct timespec ts = abs_mono(until);
        int w = 0;
        while (!final(j->state) && w != ETIMEDOUT)
            w = pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        if (final(j->state))
            break;
        snapshot(j, &info);
        pthread_mutex_unlock(&j->mu);
        if (on_progress)
            on_progress(&info, user);
        pthread_mutex_lock(&j->mu);
    }
    snapshot(j, &info);
    int rc = result_locked(j, NULL);
    pthread_mutex_unlock(&j->mu);
    if (on_progress)
        on_progress(&info, user);
    return rc;
}

void weft_job_free(weft_job *j)
{
    if (!j)
        return;
    weft_job_cancel(j);
    if (j->thread_started)
        pthread_join(j->thread, NULL);
    for (size_t i = 0; i < j->n_problems; i++) {
        free((char *)j->problems[i].file);
        free((char *)j->problems[i].message);
    }
    free(j->problems);
    if (j->result_free)
        j->result_free(j->result);
    pthread_cond_destroy(&j->cv);
    pthread_mutex_destroy(&j->mu);
    free(j);
}

#include <jansson.h>

char *weft_job_info_to_json(const weft_job_info *i)
{
    if (!i)
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "job_id", json_string(i->job_id));
    json_object_set_new(o, "job_type", json_string(i->job_type));
    json_object_set_new(o, "status", json_string(weft_job_state_name(i->state)));
    json_object_set_new(o, "progress_percent", json_real(i->progress_percent));
    json_object_set_new(o, "current_item", json_integer((json_int_t)i->current_item));
    json_object_set_new(o, "total_items", json_integer((json_int_t)i->total_items));
    json_object_set_new(o, "started_at", i->started_at[0] ? json_string(i->started_at) : json_null());
    json_object_set_new(o, "finished_at", i->finished_at[0] ? json_string(i->finished_at) : json_null());
    json_object_set_new(o, "error", i->error[0] ? json_stringn(i->error, strlen(i->error)) : json_null());
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}
