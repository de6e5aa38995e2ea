/*
 * test_job.c — async job handles (src/client/job*.c): every state, cancel, timeout and
 * progress callbacks; the upload job against the in-process receiver (bad lines reported by
 * number, the rest delivered; JSON arrays, items objects and spool directories; batches of at
 * most 1000; rejected items isolated); weft_flush_async.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "receiver.h"
#include "scenario.h"
#include "weft/job.h"
#include "weft/sgp.h"
#include "weft/weft.h"

#define KEY "job-key"

static char dir[64];
static weft_rx *rx;
static weft_sgp_client *client;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/weft-job-XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    weft_rx_opts o = {.api_key = KEY};
    rx = weft_rx_start(&o);
    cr_assert(rx);
    weft_sgp_options so = {.api_key = KEY, .base_url = weft_rx_url(rx), .max_retries = -1};
    cr_assert_eq(weft_sgp_client_new(&so, &client, NULL), 0);
}

static int rm_one(const char *p, const struct stat *st, int f, struct FTW *w)
{
    (void)st, (void)f, (void)w;
    return remove(p);
}

static void teardown(void)
{
    weft_sgp_client_free(client);
    weft_rx_stop(rx);
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(job, .init = setup, .fini = teardown);

/* A span item with a fresh id in trace `trace`. */
static char *item(int i, const char *trace)
{
    char *s;
    cr_assert(asprintf(&s,
                       "{\"id\":\"00000000-0000-4000-8000-%012d\",\"trace_id\":\"%s\",\"name\":\"s%d\","
                       "\"type\":\"CUSTOM\",\"status\":\"SUCCESS\",\"start_timestamp\":\"2026-01-01T00:00:00.000000Z\","
                       "\"end_timestamp\":\"2026-01-01T00:00:01.000000Z\",\"input\":{},\"output\":{},\"metadata\":{}}",
                       i, trace, i) > 0);
    return s;
}

#define TRACE "11111111-1111-4111-8111-111111111111"

/* A JSONL file of n items; the 1-based lines in bad[] hold broken text instead. */
static void write_jsonl(const char *path, int n, const int *bad, size_t n_bad)
{
    FILE *f = fopen(path, "w");
    cr_assert(f);
    for (int line = 1, i = 0; i < n; line++) {
        bool is_bad = false;
        for (size_t k = 0; k < n_bad; k++)
            is_bad |= bad[k] == line;
        if (is_bad) {
            fprintf(f, line % 2 ? "{\"id\": \"broken\n" : "[\"not an item\"]\n");
            continue;
        }
        char *s = item(i++, TRACE);
        fprintf(f, "%s\n", s);
        free(s);
    }
    fclose(f);
}

static char *path_in(const char *name)
{
    char *p;
    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

static const weft_job_output *upload_and_wait(const char *path, int expect_rc, weft_job **jobp)
{
    weft_job *job = NULL;
    cr_assert_eq(weft_job_upload_spans(client, &path, 1, NULL, &job), 0);
    cr_assert_str_eq(weft_job_type(job), "upload");
    const weft_job_output *out = NULL;
    int rc = weft_job_result(job, &out);
    cr_assert_eq(rc, expect_rc, "upload returned %d (%s)", rc, weft_strerror(rc));
    cr_assert(out);
    *jobp = job; /* the output is the job's: valid until the caller frees it */
    return out;
}

/* ---- upload ------------------------------------------------------------------------------ */

Test(job, upload_reports_bad_lines_by_number_and_delivers_the_rest, .timeout = 60)
{
    char *path = path_in("spans.jsonl");
    const int bad[] = {3, 8};
    write_jsonl(path, 10, bad, 2);
    weft_job *job;
    const weft_job_output *out = upload_and_wait(path, 0, &job);
    cr_expect_eq(out->items_total, 12);
    cr_expect_eq(out->items_delivered, 10);
    cr_expect_eq(out->items_failed, 2);
    cr_assert_eq(out->n_problems, 2);
    cr_expect_eq(out->problems[0].line, 3);
    cr_expect_eq(out->problems[1].line, 8);
    cr_expect_str_eq(out->problems[0].file, path);
    cr_expect(strstr(out->problems[0].message, "line 3"), "%s", out->problems[0].message);
    cr_expect(strstr(out->problems[1].message, "line 8: not a JSON object"), "%s", out->problems[1].message);
    cr_expect_eq(weft_rx_count(rx), 10);
    cr_expect_eq(weft_rx_completed(rx), 10);
    weft_job_free(job);
    free(path);
}

Test(job, upload_sends_batches_of_at_most_1000_with_progress_per_item, .timeout = 120)
{
    char *path = path_in("big.jsonl");
    write_jsonl(path, 2500, NULL, 0);
    weft_job *job = NULL;
    cr_assert_eq(weft_job_upload_spans(client, (const char *const *)&path, 1, NULL, &job), 0);
    cr_assert_eq(weft_job_wait(job, 0.001, -1, NULL, NULL), 0);
    weft_job_info info;
    cr_assert_eq(weft_job_status(job, &info), 0);
    cr_expect_eq(info.state, WEFT_JOB_COMPLETED);
    cr_expect_str_eq(info.status, "completed");
    cr_expect_eq(info.total_items, 2500);
    cr_expect_eq(info.current_item, 2500);
    cr_expect_eq(info.progress_percent, 100.0);
    cr_expect_neq(info.started_at[0], '\0');
    cr_expect_neq(info.finished_at[0], '\0');
    cr_expect_eq(info.error[0], '\0');
    cr_expect_eq(weft_rx_completed(rx), 2500);
    cr_expect_leq(weft_rx_max_items_seen(rx), 1000);
    cr_expect_eq(weft_rx_requests(rx), 3);
    weft_job_free(job);
    free(path);
}

Test(job, upload_reads_json_arrays_items_objects_and_spool_directories, .timeout = 60)
{
    /* A pretty-printed {"items":[...]} and a JSON array, each with one bad element. */
    char *obj = path_in("items.json"), *arr = path_in("array.json");
    FILE *f = fopen(obj, "w");
    char *a = item(0, TRACE), *b = item(1, TRACE), *c = item(2, TRACE), *d = item(3, TRACE);
    fprintf(f, "{\n  \"note\": {\"x\": [1, \"]\"]},\n  \"items\": [\n    %s,\n    42,\n    %s\n  ]\n}\n", a, b);
    fclose(f);
    f = fopen(arr, "w");
    fprintf(f, "[\n%s,\n{\"name\": \"no ids\"},\n%s\n]\n", c, d);
    fclose(f);
    const char *paths[] = {obj, arr};
    weft_job *job = NULL;
    cr_assert_eq(weft_job_upload_spans(client, paths, 2, NULL, &job), 0);
    const weft_job_output *out;
    cr_assert_eq(weft_job_result(job, &out), 0);
    cr_expect_eq(out->items_delivered, 4);
    cr_assert_eq(out->n_problems, 2);
    cr_expect_str_eq(out->problems[0].file, obj);
    cr_expect_eq(out->problems[0].line, 5);
    cr_expect_str_eq(out->problems[1].file, arr);
    cr_expect_eq(out->problems[1].line, 3);
    cr_expect_eq(weft_rx_count(rx), 4);
    weft_job_free(job);

    /* A spool directory a run left behind with the server down. */
    weft_rx *down = weft_rx_start(NULL);
    weft_rx_set_outage(down, true);
    weft_rx_set_retry_after_ms(down, 100);
    char *spool = path_in("spool");
    weft_config cfg = {0};
    cfg.exporters = "sgp";
    cfg.sgp_base_url = weft_rx_url(down);
    cfg.sgp_api_key = "x";
    cfg.spool_dir = spool;
    cfg.no_atexit = true;
    cfg.flush_interval_ms = 20;
    cfg.inprogress_after_ms = WEFT_INPROGRESS_NEVER;
    cr_assert_eq(weft_init(&cfg), 0);
    sc_record_rag_trace("spooled?", false);
    (void)weft_shutdown(1000);
    weft_rx_stop(down);
    weft_rx_reset(rx);
    const char *sp = spool;
    cr_assert_eq(weft_job_upload_spans(client, &sp, 1, NULL, &job), 0);
    cr_assert_eq(weft_job_result(job, &out), 0);
    cr_expect_eq(out->n_problems, 0);
    cr_expect_eq(weft_rx_completed(rx), 4, "%zu of the trace's 4 spans", weft_rx_completed(rx));
    weft_job_free(job);
    free(a), free(b), free(c), free(d);
    free(obj), free(arr), free(spool);
}

Test(job, upload_isolates_an_item_the_server_rejects_and_delivers_the_rest, .timeout = 60)
{
    char *path = path_in("poison.jsonl");
    write_jsonl(path, 40, NULL, 0);
    weft_rx_poison(rx, "00000000-0000-4000-8000-000000000017"); /* item 17: line 18 */
    weft_job *job;
    const weft_job_output *out = upload_and_wait(path, 0, &job);
    cr_expect_eq(out->items_delivered, 39);
    cr_expect_eq(out->items_failed, 1);
    cr_assert_eq(out->n_problems, 1);
    cr_expect_eq(out->problems[0].line, 18);
    cr_expect(strstr(out->problems[0].message, "HTTP 422"), "%s", out->problems[0].message);
    cr_expect_eq(weft_rx_count(rx), 39);
    weft_job_free(job);
    free(path);
}

Test(job, upload_fails_when_the_server_fails_and_says_why, .timeout = 60)
{
    char *path = path_in("down.jsonl");
    write_jsonl(path, 5, NULL, 0);
    weft_rx_set_outage(rx, true);
    weft_job *job = NULL;
    cr_assert_eq(weft_job_upload_spans(client, (const char *const *)&path, 1, NULL, &job), 0);
    const weft_job_output *out;
    cr_expect_eq(weft_job_result(job, &out), WEFT_EHTTP);
    cr_expect(weft_job_is_failed(job));
    cr_expect_not(weft_job_is_running(job));
    weft_job_info info;
    weft_job_status(job, &info);
    cr_expect_str_eq(info.status, "failed");
    cr_expect(strstr(info.error, "HTTP 503"), "%s", info.error);
    cr_expect_eq(out->items_delivered, 0);
    weft_job_free(job);

    const char *missing = "/nonexistent/spans.jsonl";
    cr_assert_eq(weft_job_upload_spans(client, &missing, 1, NULL, &job), 0);
    cr_expect_eq(weft_job_result(job, NULL), WEFT_EIO);
    weft_job_status(job, &info);
    cr_expect(strstr(info.error, "cannot be read"), "%s", info.error);
    weft_job_free(job);
    cr_expect_eq(weft_job_upload_spans(NULL, &missing, 1, NULL, &job), WEFT_EINVAL);
    weft_upload_opts big = {.batch_size = 1001};
    cr_expect_eq(weft_job_upload_spans(client, &missing, 1, &big, &job), WEFT_EINVAL);
    free(path);
}

/* ---- states, cancel, timeout, progress ----------------------------------------------------- */

typedef struct progress {
    int calls;
    uint64_t last_item;
    bool monotonic;
    weft_job_state last_state;
} progress;

static void on_progress(const weft_job_info *info, void *user)
{
    progress *p = user;
    if (info->current_item < p->last_item)
        p->monotonic = false;
    p->last_item = info->current_item;
    p->last_state = info->state;
    p->calls++;
}

Test(job, a_slow_upload_runs_times_out_a_wait_reports_progress_and_can_be_cancelled, .timeout = 120)
{
    char *path = path_in("slow.jsonl");
    write_jsonl(path, 50, NULL, 0);
    weft_rx_set_delay_ms(rx, 150);
    weft_upload_opts o = {.batch_size = 5}; /* 10 requests of 150 ms at least */
    weft_job *job = NULL;
    cr_assert_eq(weft_job_upload_spans(client, (const char *const *)&path, 1, &o, &job), 0);
    cr_expect(weft_job_is_running(job));
    progress p = {0, 0, true, WEFT_JOB_QUEUED};
    /* A wait shorter than the job: WEFT_ETIMEDOUT, the job goes on. */
    cr_expect_eq(weft_job_wait(job, 0.05, 0.4, on_progress, &p), WEFT_ETIMEDOUT);
    cr_expect_geq(p.calls, 2);
    cr_expect(p.monotonic);
    cr_expect(p.last_state == WEFT_JOB_RUNNING || p.last_state == WEFT_JOB_PROCESSING);
    cr_expect(weft_job_is_running(job));
    weft_job_info info;
    weft_job_status(job, &info);
    cr_expect_eq(info.total_items, 50);
    cr_expect_lt(info.current_item, 50);
    cr_expect_str_eq(info.job_id, weft_job_id(job));
    cr_expect_eq(strlen(info.job_id), 36);
    char *js = weft_job_info_to_json(&info);
    json_t *v = json_loads(js, 0, NULL);
    cr_expect_eq(json_object_size(v), 9);
    cr_expect_str_eq(json_string_value(json_object_get(v, "status")), "running");
    cr_expect(json_is_null(json_object_get(v, "finished_at")));
    json_decref(v);
    free(js);
    /* Cancel: it stops before its next batch. */
    cr_expect_eq(weft_job_cancel(job), 0);
    const weft_job_output *out;
    cr_expect_eq(weft_job_result(job, &out), WEFT_ECANCELED);
    weft_job_status(job, &info);
    cr_expect_eq(info.state, WEFT_JOB_CANCELLED);
    cr_expect_str_eq(info.status, "cancelled");
    cr_expect_lt(out->items_delivered, 50);
    cr_expect_neq(info.finished_at[0], '\0');
    cr_expect_eq(weft_job_cancel(job), WEFT_EINVAL, "a final job cannot be cancelled");
    cr_expect_not(weft_job_is_running(job));
    cr_expect_not(weft_job_is_completed(job));
    cr_expect_not(weft_job_is_failed(job));
    /* A wait on a final job returns its result at once, with one last callback. */
    progress q = {0, 0, true, WEFT_JOB_QUEUED};
    cr_expect_eq(weft_job_wait(job, 10, 10, on_progress, &q), WEFT_ECANCELED);
    cr_expect_eq(q.calls, 1);
    cr_expect_eq(q.last_state, WEFT_JOB_CANCELLED);
    weft_job_free(job);

    /* Freeing a running job cancels it and waits for its thread. */
    cr_assert_eq(weft_job_upload_spans(client, (const char *const *)&path, 1, &o, &job), 0);
    weft_job_free(job);
    free(path);
}

Test(job, wait_calls_back_until_completion_and_returns_early)
{
    char *path = path_in("small.jsonl");
    write_jsonl(path, 20, NULL, 0);
    weft_rx_set_delay_ms(rx, 50);
    weft_upload_opts o = {.batch_size = 4};
    weft_job *job = NULL;
    cr_assert_eq(weft_job_upload_spans(client, (const char *const *)&path, 1, &o, &job), 0);
    progress p = {0, 0, true, WEFT_JOB_QUEUED};
    cr_expect_eq(weft_job_wait(job, 0.02, 60, on_progress, &p), 0);
    cr_expect(p.monotonic);
    cr_expect_geq(p.calls, 2);
    cr_expect_eq(p.last_item, 20);
    cr_expect_eq(p.last_state, WEFT_JOB_COMPLETED);
    cr_expect(weft_job_is_completed(job));
    weft_job_free(job);
    free(path);
}

Test(job, state_names_cover_every_state)
{
    const char *names[] = {"queued", "running", "processing", "completed", "failed", "cancelled"};
    for (int s = WEFT_JOB_QUEUED; s <= WEFT_JOB_CANCELLED; s++)
        cr_expect_str_eq(weft_job_state_name((weft_job_state)s), names[s]);
    cr_expect_str_eq(weft_job_state_name((weft_job_state)99), "failed");
    cr_expect_eq(weft_job_status(NULL, NULL), WEFT_EINVAL);
    cr_expect_eq(weft_job_result(NULL, NULL), WEFT_EINVAL);
    cr_expect_eq(weft_job_wait(NULL, 1, 1, NULL, NULL), WEFT_EINVAL);
    weft_job_free(NULL);
}

/* ---- flush -------------------------------------------------------------------------------- */

Test(job, flush_async_completes_once_everything_ended_is_exported, .timeout = 60)
{
    char *jl = path_in("flush.jsonl");
    weft_config c = {0};
    c.exporters = "jsonl";
    c.jsonl_path = jl;
    c.no_atexit = true;
    c.flush_interval_ms = 60000; /* only a flush writes before shutdown */
    cr_assert_eq(weft_init(&c), 0);
    sc_record_rag_trace("flushed?", false);
    weft_job *job = NULL;
    cr_assert_eq(weft_flush_async(10000, &job), 0);
    cr_expect_str_eq(weft_job_type(job), "flush");
    const weft_job_output *out;
    cr_expect_eq(weft_job_result(job, &out), 0);
    cr_expect_eq(out->flush_result, 0);
    weft_job_info info;
    weft_job_status(job, &info);
    cr_expect_eq(info.total_items, 1);
    cr_expect_eq(info.current_item, 1);
    weft_job_free(job);
    /* Written before shutdown: the file has the trace's 4 lines now. */
    FILE *f = fopen(jl, "r");
    cr_assert(f);
    int lines = 0, ch;
    while ((ch = fgetc(f)) != EOF)
        lines += ch == '\n';
    fclose(f);
    cr_expect_eq(lines, 4);
    cr_assert_eq(weft_shutdown(5000), 0);
    weft_stats s;
    weft_get_stats(&s);
    cr_expect_eq(s.exported, 4);
    cr_expect_eq(s.dropped_export + s.dropped_ring, 0);

    /* Without weft_init: failed with WEFT_ENOTINIT. */
    cr_assert_eq(weft_flush_async(1000, &job), 0);
    cr_expect_eq(weft_job_result(job, &out), WEFT_ENOTINIT);
    cr_expect_eq(out->flush_result, WEFT_ENOTINIT);
    cr_expect(weft_job_is_failed(job));
    weft_job_free(job);
    free(jl);
}
