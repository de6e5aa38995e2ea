/*
 * test_stratix_client.c — the Stratix traces client (src/client/stratix_client.c) against the
 * in-process Stratix stand-in (tests/support/stratix_receiver.c) on 127.0.0.1.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stratix_doc.h"
#include "stratix_receiver.h"
#include "weft_test.h"
#include "weft/job.h"
#include "weft/stratix.h"

#define KEY "sk-test-0123456789"

static weft_srx *srx;
static weft_stratix_client *cli;
static char dir[64];

static weft_stratix_client *client_for(weft_srx *s, int max_retries)
{
    weft_stratix_opts o = {.api_key = KEY, .base_url = weft_srx_base_url(s), .max_retries = max_retries};
    weft_stratix_client *c = NULL;
    weft_stratix_error err;
    int rc = weft_stratix_client_new(&c, &o, &err);
    cr_assert_eq(rc, 0, "client_new: %s", err.message);
    return c;
}

static void start_with(const weft_srx_opts *o)
{
    weft_srx_opts d = {.api_key = KEY};
    if (o) {
        d = *o;
        d.api_key = KEY;
    }
    srx = weft_srx_start(&d);
    cr_assert_not_null(srx);
    cli = client_for(srx, 0);
    snprintf(dir, sizeof dir, "/tmp/weft-stratix-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void setup(void)
{
    start_with(NULL);
}

static void teardown(void)
{
    weft_stratix_client_free(cli);
    weft_srx_stop(srx);
    cli = NULL;
    srx = NULL;
    if (dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        cr_assert_eq(system(cmd), 0);
    }
}

static char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static const char JSONL[] = "{\"trace_id\":\"t-1\",\"name\":\"ask\",\"input\":{\"q\":\"capital of France?\"}}\n"
                            "{\"trace_id\":\"t-2\",\"name\":\"ask\",\"input\":\"plain text\"}\n"
                            "\n"
                            "{\"trace_id\":\"t-3\",\"name\":\"summarise\",\"score\":0.1}\n";

/* Seeds rec (taken) into the receiver. */
static void seed_take(json_t *rec)
{
    cr_assert_not_null(weft_srx_seed(srx, rec));
    json_decref(rec);
}

/* ---- uploads ------------------------------------------------------------------------------ */

Test(stratix_client, uploads_a_jsonl_file_in_three_steps_with_one_trace_per_line, .init = setup, .fini = teardown)
{
    const char *path = write_file("run.jsonl", JSONL);
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, path, NULL, NULL, &res, &err), 0, "%s", err.message);
    cr_assert_eq(res->n_trace_ids, 3);
    cr_assert_str_eq(res->filename, "run.jsonl");
    cr_assert_eq(res->bytes, strlen(JSONL));
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_PRESIGN), 1);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_PUT), 1);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_CREATE), 1);
    size_t len = 0;
    char *bytes = weft_srx_last_upload(srx, &len);
    cr_assert_eq(len, strlen(JSONL));
    cr_assert_eq(memcmp(bytes, JSONL, len), 0);
    free(bytes);

    weft_stratix_trace *t = NULL;
    cr_assert_eq(weft_stratix_get(cli, res->trace_ids[2], &t, &err), 0, "%s", err.message);
    cr_assert_str_eq(t->data, "{\"trace_id\":\"t-3\",\"name\":\"summarise\",\"score\":0.1}");
    cr_assert_str_eq(t->filename, "run.jsonl");
    weft_stratix_trace_free(t);
    weft_stratix_upload_result_free(res);
}

Test(stratix_client, uploads_a_json_file_as_one_trace_with_its_type, .init = setup, .fini = teardown)
{
    const char *path = write_file("one.json", "{\"trace_id\":\"t-9\",\"spans\":[]}");
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, path, NULL, NULL, &res, &err), 0, "%s", err.message);
    cr_assert_eq(res->n_trace_ids, 1);
    char ct[64];
    cr_assert(weft_srx_last_header(srx, WEFT_SRX_PUT, "Content-Type", ct, sizeof ct));
    cr_assert_str_eq(ct, "application/json");
    json_t *rec = weft_srx_trace(srx, res->trace_ids[0]);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(rec, "data"), "trace_id")), "t-9");
    json_decref(rec);
    weft_stratix_upload_result_free(res);
}

Test(stratix_client, sends_jsonl_files_with_the_jsonl_content_type, .init = setup, .fini = teardown)
{
    weft_stratix_upload_result *res = NULL;
    cr_assert_eq(weft_stratix_upload(cli, write_file("a.jsonl", JSONL), NULL, NULL, &res, NULL), 0);
    char ct[64];
    cr_assert(weft_srx_last_header(srx, WEFT_SRX_PUT, "Content-Type", ct, sizeof ct));
    cr_assert_str_eq(ct, "application/jsonl");
    weft_stratix_upload_result_free(res);
}

Test(stratix_client, refuses_a_file_over_50_mb_without_sending_a_request, .init = setup, .fini = teardown)
{
    char path[256];
    snprintf(path, sizeof path, "%s/big.jsonl", dir);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(ftruncate(fd, (off_t)WEFT_STRATIX_MAX_UPLOAD_BYTES + 1), 0);
    close(fd);
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, path, NULL, NULL, &res, &err), WEFT_EINVAL);
    cr_assert_null(res);
    cr_assert_not(err.sent);
    cr_assert_not_null(strstr(err.message, "50 MB"), "%s", err.message);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_ANY), 0);
}

Test(stratix_client, uploads_a_file_of_exactly_50_mb, .init = setup, .fini = teardown)
{
    /* One JSON object padded with spaces to the limit: the limit itself is allowed. */
    char path[256];
    snprintf(path, sizeof path, "%s/edge.json", dir);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    const char obj[] = "{\"trace_id\":\"edge\"}";
    fputs(obj, f);
    size_t pad = (size_t)WEFT_STRATIX_MAX_UPLOAD_BYTES - (sizeof obj - 1);
    char block[65536];
    memset(block, ' ', sizeof block);
    while (pad) {
        size_t n = pad < sizeof block ? pad : sizeof block;
        cr_assert_eq(fwrite(block, 1, n, f), n);
        pad -= n;
    }
    fclose(f);
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, path, NULL, NULL, &res, &err), 0, "%s", err.message);
    cr_assert_eq(res->bytes, WEFT_STRATIX_MAX_UPLOAD_BYTES);
    cr_assert_eq(res->n_trace_ids, 1);
    weft_stratix_upload_result_free(res);
}

Test(stratix_client, refuses_other_file_types_missing_and_empty_files_without_a_request, .init = setup,
     .fini = teardown)
{
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, write_file("notes.txt", "{}"), NULL, NULL, &res, &err), WEFT_EINVAL);
    cr_assert_not_null(strstr(err.message, ".json and .jsonl"), "%s", err.message);
    cr_assert_eq(weft_stratix_upload(cli, write_file("empty.json", ""), NULL, NULL, &res, &err), WEFT_EINVAL);
    cr_assert_not_null(strstr(err.message, "empty"), "%s", err.message);
    char missing[256];
    snprintf(missing, sizeof missing, "%s/nope.jsonl", dir);
    cr_assert_eq(weft_stratix_upload(cli, missing, NULL, NULL, &res, &err), WEFT_EINVAL);
    cr_assert_not_null(strstr(err.message, "cannot open"), "%s", err.message);
    cr_assert_eq(weft_stratix_upload(cli, dir, NULL, NULL, &res, &err), WEFT_EINVAL);
    cr_assert_null(res);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_ANY), 0);
}

Test(stratix_client, names_step_1_with_status_and_server_message_when_it_fails, .init = setup, .fini = teardown)
{
    weft_srx_fail(srx, WEFT_SRX_PRESIGN, 400, 1, "filename has a forbidden character", NULL);
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, write_file("a.jsonl", JSONL), NULL, NULL, &res, &err), WEFT_EHTTP);
    cr_assert_eq(err.step, WEFT_STRATIX_STEP_PRESIGN);
    cr_assert_eq(err.http_status, 400);
    cr_assert_eq(err.attempts, 1, "a 400 is not retried");
    cr_assert_not_null(strstr(err.message, "upload step 1 of 3 (request an upload URL)"), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "HTTP 400: filename has a forbidden character"), "%s", err.message);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_PUT), 0);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_CREATE), 0);
}

Test(stratix_client, names_step_2_when_the_presigned_put_is_refused, .init = setup, .fini = teardown)
{
    weft_srx_fail(srx, WEFT_SRX_PUT, 403, 1, "AccessDenied: Request has expired", NULL);
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, write_file("a.jsonl", JSONL), NULL, NULL, &res, &err), WEFT_EHTTP);
    cr_assert_eq(err.step, WEFT_STRATIX_STEP_PUT);
    cr_assert_eq(err.http_status, 403);
    cr_assert_not_null(strstr(err.message, "upload step 2 of 3 (PUT the file to the upload URL)"), "%s",
                       err.message);
    cr_assert_not_null(strstr(err.message, "HTTP 403: AccessDenied: Request has expired"), "%s", err.message);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_CREATE), 0);
    cr_assert_eq(weft_srx_trace_count(srx), 0);
}

Test(stratix_client, names_step_2_when_its_connection_is_dropped, .init = setup, .fini = teardown)
{
    weft_stratix_client_free(cli);
    cli = client_for(srx, -1); /* no retries: the transport error is reported as it is */
    weft_srx_fail(srx, WEFT_SRX_PUT, 0, 1, NULL, NULL);
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, write_file("a.jsonl", JSONL), NULL, NULL, &res, &err), WEFT_EIO);
    cr_assert_eq(err.step, WEFT_STRATIX_STEP_PUT);
    cr_assert_eq(err.http_status, 0);
    cr_assert_not_null(strstr(err.message, "upload step 2 of 3"), "%s", err.message);
}

Test(stratix_client, names_step_3_when_creating_the_traces_fails, .init = setup, .fini = teardown)
{
    weft_srx_fail(srx, WEFT_SRX_CREATE, 422, 1, "file is not a trace file", NULL);
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, write_file("a.jsonl", JSONL), NULL, NULL, &res, &err), WEFT_EHTTP);
    cr_assert_eq(err.step, WEFT_STRATIX_STEP_CREATE);
    cr_assert_eq(err.http_status, 422);
    cr_assert_not_null(strstr(err.message, "upload step 3 of 3 (create the traces)"), "%s", err.message);
    cr_assert_not_null(strstr(err.message, "HTTP 422: file is not a trace file"), "%s", err.message);
}

Test(stratix_client, reports_the_servers_reason_when_the_uploaded_file_is_not_json, .init = setup, .fini = teardown)
{
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, write_file("bad.jsonl", "{\"a\":1}\nnot json\n"), NULL, NULL, &res, &err),
                 WEFT_EHTTP);
    cr_assert_eq(err.step, WEFT_STRATIX_STEP_CREATE);
    cr_assert_eq(err.http_status, 400);
    cr_assert_not_null(strstr(err.message, "line 2 is not a JSON object"), "%s", err.message);
    cr_assert_eq(weft_srx_trace_count(srx), 0);
}

Test(stratix_client, retries_a_503_in_steps_1_and_2_honouring_retry_after, .init = setup, .fini = teardown)
{
    weft_srx_fail(srx, WEFT_SRX_PRESIGN, 503, 1, NULL, "0");
    weft_srx_fail(srx, WEFT_SRX_PUT, 503, 2, NULL, "0");
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, write_file("a.jsonl", JSONL), NULL, NULL, &res, &err), 0, "%s", err.message);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_PRESIGN), 2);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_PUT), 3);
    cr_assert_eq(res->n_trace_ids, 3);
    weft_stratix_upload_result_free(res);
}

Test(stratix_client, retries_step_3_only_where_nothing_can_have_been_created, .init = setup, .fini = teardown)
{
    weft_srx_fail(srx, WEFT_SRX_CREATE, 503, 1, NULL, "0");
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, write_file("a.jsonl", JSONL), NULL, NULL, &res, &err), 0, "%s", err.message);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_CREATE), 2);
    weft_stratix_upload_result_free(res);

    weft_srx_fail(srx, WEFT_SRX_CREATE, 500, 1, "boom", "0");
    res = NULL;
    cr_assert_eq(weft_stratix_upload(cli, write_file("b.jsonl", JSONL), NULL, NULL, &res, &err), WEFT_EHTTP);
    cr_assert_eq(err.step, WEFT_STRATIX_STEP_CREATE);
    cr_assert_eq(err.attempts, 1, "a 500 in step 3 may have created traces: not resent");
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_CREATE), 3);
}

Test(stratix_client, gives_up_after_max_retries, .init = setup, .fini = teardown)
{
    weft_srx_fail(srx, WEFT_SRX_LIST, 503, 10, "overloaded", "0");
    weft_stratix_traces *p = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_get_many(cli, NULL, &p, &err), WEFT_EHTTP);
    cr_assert_eq(err.attempts, 3, "the first try and 2 retries");
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_LIST), 3);
    cr_assert_eq(err.http_status, 503);
    cr_assert_not_null(strstr(err.message, "HTTP 503: overloaded"), "%s", err.message);
}

Test(stratix_client, stops_retrying_when_the_server_asks_to_wait_too_long, .init = setup, .fini = teardown)
{
    weft_srx_fail(srx, WEFT_SRX_LIST, 429, 5, "slow down", "3600");
    weft_stratix_traces *p = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_get_many(cli, NULL, &p, &err), WEFT_EHTTP);
    cr_assert_eq(err.attempts, 1);
    cr_assert_not_null(strstr(err.message, "wait longer"), "%s", err.message);
}

Test(stratix_client, sends_the_key_to_a_presigned_url_only_on_the_same_origin, .init = setup, .fini = teardown)
{
    weft_stratix_upload_result *res = NULL;
    char v[64];
    cr_assert_eq(weft_stratix_upload(cli, write_file("a.jsonl", JSONL), NULL, NULL, &res, NULL), 0);
    cr_assert(weft_srx_last_header(srx, WEFT_SRX_PUT, "x-api-key", v, sizeof v));
    cr_assert_str_eq(v, KEY);
    weft_stratix_upload_result_free(res);
    teardown();

    start_with(&(weft_srx_opts){.presign_host = "localhost"});
    res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, write_file("a.jsonl", JSONL), NULL, NULL, &res, &err), 0, "%s", err.message);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_PUT), 1);
    cr_assert_not(weft_srx_last_header(srx, WEFT_SRX_PUT, "x-api-key", v, sizeof v));
    cr_assert(weft_srx_last_header(srx, WEFT_SRX_PRESIGN, "x-api-key", v, sizeof v));
    weft_stratix_upload_result_free(res);
}

typedef struct prog {
    int steps_seen[4];
    uint64_t last_sent, total;
    weft_stratix_step cancel_at;
} prog;

static bool on_prog(void *user, weft_stratix_step step, uint64_t sent, uint64_t total)
{
    prog *p = user;
    p->steps_seen[step]++;
    if (step == WEFT_STRATIX_STEP_PUT) {
        cr_assert_geq(sent, p->last_sent);
        p->last_sent = sent;
        p->total = total;
    }
    return step != p->cancel_at;
}

Test(stratix_client, reports_progress_through_the_three_steps, .init = setup, .fini = teardown)
{
    prog p = {0};
    weft_stratix_upload_result *res = NULL;
    cr_assert_eq(weft_stratix_upload(cli, write_file("a.jsonl", JSONL), on_prog, &p, &res, NULL), 0);
    cr_assert_eq(p.steps_seen[1], 1);
    cr_assert_geq(p.steps_seen[2], 1);
    cr_assert_eq(p.steps_seen[3], 1);
    cr_assert_eq(p.last_sent, strlen(JSONL));
    cr_assert_eq(p.total, strlen(JSONL));
    weft_stratix_upload_result_free(res);
}

Test(stratix_client, a_progress_callback_can_cancel_in_step_2, .init = setup, .fini = teardown)
{
    prog p = {.cancel_at = WEFT_STRATIX_STEP_PUT};
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, write_file("a.jsonl", JSONL), on_prog, &p, &res, &err), WEFT_ECANCELED);
    cr_assert_eq(err.step, WEFT_STRATIX_STEP_PUT);
    cr_assert_not_null(strstr(err.message, "cancelled"), "%s", err.message);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_CREATE), 0);
}

/* ---- get, delete, sources ------------------------------------------------------------------ */

Test(stratix_client, get_returns_every_field_of_the_trace, .init = setup, .fini = teardown)
{
    json_t *rec = json_pack("{s:s, s:s, s:s, s:{s:s, s:f}, s:s, s:s}", "id", "tr-a", "created_at",
                            "2026-01-02T03:04:05Z", "filename", "x.jsonl", "data", "name", "n", "score", 0.1,
                            "input", "hello", "integration_id", "int-7");
    cr_assert_not_null(weft_srx_seed(srx, rec));
    json_decref(rec);
    weft_stratix_trace *t = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_get(cli, "tr-a", &t, &err), 0, "%s", err.message);
    cr_assert_str_eq(t->id, "tr-a");
    cr_assert_str_eq(t->organization_id, "org-1");
    cr_assert_str_eq(t->project_id, "proj-1");
    cr_assert_str_eq(t->created_at, "2026-01-02T03:04:05Z");
    cr_assert_str_eq(t->filename, "x.jsonl");
    cr_assert_str_eq(t->data, "{\"name\":\"n\",\"score\":0.1}");
    cr_assert_str_eq(t->input, "hello");
    cr_assert_str_eq(t->integration_id, "int-7");
    weft_stratix_trace_free(t);
}

Test(stratix_client, get_of_an_unknown_trace_fails_with_404_unretried, .init = setup, .fini = teardown)
{
    weft_stratix_trace *t = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_get(cli, "missing", &t, &err), WEFT_EHTTP);
    cr_assert_null(t);
    cr_assert_eq(err.http_status, 404);
    cr_assert_eq(err.attempts, 1);
    cr_assert_not_null(strstr(err.message, "trace not found"), "%s", err.message);
    cr_assert_eq(weft_stratix_get(cli, "", &t, &err), WEFT_EINVAL);
}

Test(stratix_client, delete_removes_the_trace_and_a_second_delete_is_a_404, .init = setup, .fini = teardown)
{
    seed_take(json_pack("{s:s}", "id", "gone"));
    seed_take(json_pack("{s:s}", "id", "kept"));
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_delete(cli, "gone", &err), 0, "%s", err.message);
    cr_assert_eq(weft_srx_trace_count(srx), 1);
    json_t *k = weft_srx_trace(srx, "kept");
    cr_assert_not_null(k);
    json_decref(k);
    cr_assert_eq(weft_stratix_delete(cli, "gone", &err), WEFT_EHTTP);
    cr_assert_eq(err.http_status, 404);
}

Test(stratix_client, get_sources_lists_each_source_once, .init = setup, .fini = teardown)
{
    seed_take(json_pack("{s:s}", "source", "upload"));
    seed_take(json_pack("{s:s}", "source", "sdk"));
    seed_take(json_pack("{s:s}", "source", "upload"));
    weft_stratix_sources *s = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_get_sources(cli, &s, &err), 0, "%s", err.message);
    cr_assert_eq(s->n_sources, 2);
    cr_assert_str_eq(s->sources[0], "upload");
    cr_assert_str_eq(s->sources[1], "sdk");
    weft_stratix_sources_free(s);
}

/* ---- get_many ------------------------------------------------------------------------------ */

static void seed_n(int n)
{
    for (int i = 0; i < n; i++) {
        char id[32], at[32];
        snprintf(id, sizeof id, "tr-%03d", i);
        snprintf(at, sizeof at, "2026-01-01T00:%02d:%02dZ", i / 60, i % 60);
        json_t *r = json_pack("{s:s, s:s}", "id", id, "created_at", at);
        cr_assert_not_null(weft_srx_seed(srx, r));
        json_decref(r);
    }
}

static size_t ids_of(weft_stratix_client *c, const weft_stratix_query *q, char ids[][32], size_t max,
                     int64_t *total)
{
    weft_stratix_traces *p = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_get_many(c, q, &p, &err), 0, "%s", err.message);
    cr_assert_eq(p->count, (int64_t)p->n_traces);
    size_t n = p->n_traces < max ? p->n_traces : max;
    for (size_t i = 0; i < n; i++)
        snprintf(ids[i], 32, "%.31s", p->traces[i].id);
    if (total)
        *total = p->total_count;
    weft_stratix_traces_free(p);
    return n;
}

Test(stratix_client, get_many_pages_through_every_trace_once, .init = setup, .fini = teardown)
{
    seed_n(7);
    char ids[8][32], seen[8][32];
    size_t nseen = 0;
    int64_t total = 0;
    for (int page = 1; page <= 4; page++) {
        size_t n = ids_of(cli, &(weft_stratix_query){.page = page, .page_size = 3, .sort_order = "asc"}, ids, 8,
                          &total);
        cr_assert_eq(total, 7);
        cr_assert_eq(n, page < 3 ? 3u : page == 3 ? 1u : 0u, "page %d", page);
        for (size_t i = 0; i < n; i++)
            memcpy(seen[nseen++], ids[i], sizeof seen[0]);
    }
    cr_assert_eq(nseen, 7);
    for (size_t i = 0; i < 7; i++) {
        char want[32];
        snprintf(want, sizeof want, "tr-%03zu", i);
        cr_assert_str_eq(seen[i], want);
    }
}

Test(stratix_client, get_many_asks_for_100_by_default_and_refuses_more_than_500, .init = setup, .fini = teardown)
{
    seed_n(120);
    char ids[120][32];
    int64_t total = 0;
    cr_assert_eq(ids_of(cli, NULL, ids, 120, &total), 100);
    cr_assert_eq(total, 120);
    cr_assert_eq(ids_of(cli, &(weft_stratix_query){.page_size = 500}, ids, 120, &total), 120);
    size_t before = weft_srx_count(srx, WEFT_SRX_ANY);
    weft_stratix_traces *p = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_get_many(cli, &(weft_stratix_query){.page_size = 501}, &p, &err), WEFT_EINVAL);
    cr_assert_eq(weft_stratix_get_many(cli, &(weft_stratix_query){.page = -1}, &p, &err), WEFT_EINVAL);
    cr_assert_eq(weft_stratix_get_many(cli, &(weft_stratix_query){.sort_order = "up"}, &p, &err), WEFT_EINVAL);
    cr_assert_null(p);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_ANY), before);
}

static void seed_varied(void)
{
    char recent[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(recent, sizeof recent, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *r;
    r = json_pack("{s:s, s:s, s:s, s:s, s:{s:s}, s:[{s:s, s:s, s:i, s:s, s:b}]}", "id", "a", "created_at", recent,
                  "source", "upload", "filename", "alpha.jsonl", "data", "answer", "Paris is the capital",
                  "evaluations", "judge_id", "j-1", "judge_name", "Faithfulness", "judge_version", 3, "created_at",
                  recent, "passed", 1);
    weft_srx_seed(srx, r);
    json_decref(r);
    r = json_pack("{s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:i, s:s, s:b}, {s:s, s:s, s:s, s:n}]}", "id", "b",
                  "created_at", "2020-05-05T00:00:00Z", "source", "sdk", "filename", "beta.json", "evaluations",
                  "judge_id", "j-1", "judge_name", "Faithfulness", "judge_version", 2, "created_at",
                  "2020-05-06T00:00:00Z", "passed", 0, "judge_id", "j-2", "judge_name", "Tone", "created_at",
                  "2020-05-07T00:00:00Z", "passed");
    weft_srx_seed(srx, r);
    json_decref(r);
    r = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", "c", "created_at", "2021-01-01T00:00:00Z", "source", "upload",
                  "filename", "gamma.jsonl", "input", "Where is Paris?");
    weft_srx_seed(srx, r);
    json_decref(r);
}

static const char *one_list(const weft_stratix_query *q)
{
    static char buf[64];
    char ids[8][32];
    size_t n = ids_of(cli, q, ids, 8, NULL);
    buf[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        strcat(buf, ids[i]);
        if (i + 1 < n)
            strcat(buf, ",");
    }
    return buf;
}

Test(stratix_client, get_many_applies_every_filter, .init = setup, .fini = teardown)
{
    seed_varied();
    cr_assert_str_eq(one_list(&(weft_stratix_query){.sort_by = "id", .sort_order = "asc"}), "a,b,c");
    cr_assert_str_eq(one_list(&(weft_stratix_query){.source = "upload", .sort_by = "id", .sort_order = "asc"}), "a,c");
    cr_assert_str_eq(one_list(&(weft_stratix_query){.judge_id = "j-2"}), "b");
    cr_assert_str_eq(one_list(&(weft_stratix_query){.judge_id = "j-1", .sort_by = "id", .sort_order = "asc"}), "a,b");
    cr_assert_str_eq(one_list(&(weft_stratix_query){.status = "passed"}), "a");
    cr_assert_str_eq(one_list(&(weft_stratix_query){.status = "failed"}), "b");
    cr_assert_str_eq(one_list(&(weft_stratix_query){.status = "not_evaluated"}), "c");
    cr_assert_str_eq(one_list(&(weft_stratix_query){.time_range = "7d"}), "a");
    cr_assert_str_eq(one_list(&(weft_stratix_query){.search = "paris", .sort_by = "id", .sort_order = "asc"}), "a,c");
    cr_assert_str_eq(one_list(&(weft_stratix_query){.search = "beta"}), "b");
    cr_assert_str_eq(one_list(&(weft_stratix_query){.search = "a b&c=d"}), "", "query values are escaped");
    cr_assert_str_eq(one_list(&(weft_stratix_query){.sort_by = "created_at", .sort_order = "desc"}), "a,c,b");
    cr_assert_str_eq(one_list(&(weft_stratix_query){.sort_by = "filename", .sort_order = "asc"}), "a,b,c");
    cr_assert_str_eq(one_list(&(weft_stratix_query){.sort_by = "filename", .sort_order = "desc"}), "c,b,a");
    cr_assert_str_eq(one_list(&(weft_stratix_query){.source = "upload", .time_range = "7d"}), "a");

    weft_stratix_traces *p = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_get_many(cli, &(weft_stratix_query){.time_range = "soon"}, &p, &err), WEFT_EHTTP);
    cr_assert_eq(err.http_status, 400, "the server's rejection is reported");
}

Test(stratix_client, get_many_reads_evaluation_counts_and_summaries, .init = setup, .fini = teardown)
{
    seed_varied();
    weft_stratix_traces *p = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_get_many(cli, &(weft_stratix_query){.sort_by = "id", .sort_order = "asc"}, &p, &err), 0,
                 "%s", err.message);
    cr_assert_eq(p->n_traces, 3);
    weft_stratix_trace *b = &p->traces[1];
    cr_assert_str_eq(b->id, "b");
    cr_assert_eq(b->evaluations_count, 2);
    cr_assert_eq(b->n_last_evaluations, 2);
    cr_assert_str_eq(b->last_evaluations[0].judge_id, "j-1");
    cr_assert_str_eq(b->last_evaluations[0].judge_name, "Faithfulness");
    cr_assert(b->last_evaluations[0].has_judge_version);
    cr_assert_eq(b->last_evaluations[0].judge_version, 2);
    cr_assert_str_eq(b->last_evaluations[0].created_at, "2020-05-06T00:00:00Z");
    cr_assert_eq(b->last_evaluations[0].passed, 0);
    cr_assert_not(b->last_evaluations[1].has_judge_version);
    cr_assert_eq(b->last_evaluations[1].passed, -1);
    cr_assert_eq(p->traces[0].last_evaluations[0].passed, 1);
    cr_assert_eq(p->traces[2].evaluations_count, 0);
    cr_assert_eq(p->traces[2].n_last_evaluations, 0);
    cr_assert_str_eq(p->traces[2].input, "Where is Paris?");
    weft_stratix_traces_free(p);
}

/* ---- configuration and resolution ------------------------------------------------------------ */

Test(stratix_client, resolves_organization_and_project_once_from_the_api, .init = setup, .fini = teardown)
{
    const char *org, *project;
    weft_stratix_error err;
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_ANY), 0, "creating a client sends nothing");
    cr_assert_eq(weft_stratix_client_ids(cli, &org, &project, &err), 0, "%s", err.message);
    cr_assert_str_eq(org, "org-1");
    cr_assert_str_eq(project, "proj-1");
    weft_stratix_sources *s = NULL;
    cr_assert_eq(weft_stratix_get_sources(cli, &s, NULL), 0);
    weft_stratix_sources_free(s);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_ORGS), 1);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_PROJECTS), 0);
}

Test(stratix_client, picks_the_listed_organization_that_has_projects, .fini = teardown)
{
    start_with(&(weft_srx_opts){.orgs_as_list = true, .org_id = "org-x", .project_id = "proj-x"});
    const char *org, *project;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_client_ids(cli, &org, &project, &err), 0, "%s", err.message);
    cr_assert_str_eq(org, "org-x");
    cr_assert_str_eq(project, "proj-x");
}

Test(stratix_client, asks_for_the_projects_when_the_organization_lists_none, .fini = teardown)
{
    start_with(&(weft_srx_opts){.projects_apart = true, .unwrapped = true});
    const char *org, *project;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_client_ids(cli, &org, &project, &err), 0, "%s", err.message);
    cr_assert_str_eq(project, "proj-1");
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_PROJECTS), 1);
    weft_stratix_traces *p = NULL;
    cr_assert_eq(weft_stratix_get_many(cli, NULL, &p, &err), 0, "unwrapped answers read too: %s", err.message);
    weft_stratix_traces_free(p);
}

Test(stratix_client, uses_configured_ids_without_asking, .init = setup, .fini = teardown)
{
    weft_stratix_client_free(cli);
    weft_stratix_opts o = {.api_key = KEY, .base_url = weft_srx_base_url(srx), .organization_id = "org-1",
                           .project_id = "proj-1"};
    cr_assert_eq(weft_stratix_client_new(&cli, &o, NULL), 0);
    weft_stratix_sources *s = NULL;
    cr_assert_eq(weft_stratix_get_sources(cli, &s, NULL), 0);
    weft_stratix_sources_free(s);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_ORGS), 0);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_PROJECTS), 0);
}

Test(stratix_client, reads_its_configuration_from_the_environment, .init = setup, .fini = teardown)
{
    weft_stratix_client_free(cli);
    cli = NULL;
    setenv("LAYERLENS_STRATIX_API_KEY", KEY, 1);
    setenv("LAYERLENS_STRATIX_BASE_URL", weft_srx_base_url(srx), 1);
    setenv("LAYERLENS_STRATIX_ORGANIZATION_ID", "org-1", 1);
    cr_assert_eq(weft_stratix_client_new(&cli, NULL, NULL), 0);
    const char *org, *project;
    cr_assert_eq(weft_stratix_client_ids(cli, &org, &project, NULL), 0);
    cr_assert_str_eq(project, "proj-1");
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_ORGS), 0, "the organization came from the environment");
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_PROJECTS), 1);
    char v[64];
    cr_assert(weft_srx_last_header(srx, WEFT_SRX_PROJECTS, "x-api-key", v, sizeof v));
    cr_assert_str_eq(v, KEY);
}

Test(stratix_client, refuses_to_start_without_a_key_or_with_plain_http_elsewhere)
{
    unsetenv("LAYERLENS_STRATIX_API_KEY");
    weft_stratix_client *c = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_client_new(&c, &(weft_stratix_opts){.base_url = "http://127.0.0.1:9"}, &err),
                 WEFT_ECONFIG);
    cr_assert_not_null(strstr(err.message, "LAYERLENS_STRATIX_API_KEY"));
    cr_assert_eq(weft_stratix_client_new(&c, &(weft_stratix_opts){.api_key = KEY, .base_url = "http://example.com/api"},
                                         &err),
                 WEFT_EINSECURE);
    cr_assert_null(strstr(err.message, KEY));
    cr_assert_eq(weft_stratix_client_new(&c, &(weft_stratix_opts){.api_key = KEY, .base_url = "ftp://x"}, &err),
                 WEFT_ECONFIG);
    cr_assert_eq(weft_stratix_client_new(&c, &(weft_stratix_opts){.api_key = "a\r\nX-Evil: 1"}, &err), WEFT_ECONFIG);
    cr_assert_null(c);
    cr_assert_eq(weft_stratix_client_new(&c, &(weft_stratix_opts){.api_key = KEY}, &err), 0,
                 "https to the default base is fine");
    weft_stratix_client_free(c);
}

Test(stratix_client, a_refused_key_is_reported_once_without_the_key, .init = setup, .fini = teardown)
{
    weft_stratix_client_free(cli);
    weft_stratix_opts o = {.api_key = "wrong-key-abc", .base_url = weft_srx_base_url(srx)};
    cr_assert_eq(weft_stratix_client_new(&cli, &o, NULL), 0);
    weft_stratix_sources *s = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_get_sources(cli, &s, &err), WEFT_EHTTP);
    cr_assert_eq(err.http_status, 401);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_ORGS), 1, "a 401 is not retried");
    cr_assert_not_null(strstr(err.message, "GET /organizations"), "%s", err.message);
    cr_assert_null(strstr(err.message, "wrong-key-abc"));
}

typedef struct worker_arg {
    weft_stratix_client *c;
    int ok;
} worker_arg;

static void *list_worker(void *p)
{
    worker_arg *a = p;
    for (int i = 0; i < 10; i++) {
        weft_stratix_traces *t = NULL;
        if (weft_stratix_get_many(a->c, &(weft_stratix_query){.page_size = 2}, &t, NULL) == 0 && t->total_count == 5)
            a->ok++;
        weft_stratix_traces_free(t);
    }
    return NULL;
}

Test(stratix_client, one_client_serves_several_threads_and_resolves_once, .init = setup, .fini = teardown)
{
    seed_n(5);
    pthread_t th[4];
    worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg){cli, 0};
        pthread_create(&th[i], NULL, list_worker, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(args[i].ok, 10);
    }
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_ORGS), 1);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_LIST), 40);
}

/* ---- a weft trace, end to end -------------------------------------------------------------- */

Test(stratix_client, a_weft_trace_sent_as_a_document_reads_back_with_every_field, .init = setup, .fini = teardown)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span root = weft_span_begin("answer", WEFT_TYPE_AGENT_WORKFLOW);
    weft_span_set_str(root, WEFT_INPUT, "question", "capital of France?");
    weft_span_set_group_id(root, "group-1");
    weft_span ret = weft_span_begin_child(root, "retrieve", WEFT_TYPE_KB_RETRIEVAL);
    weft_span_set_i64(ret, WEFT_INPUT, "top_k", 3);
    weft_span_set_f64(ret, WEFT_OUTPUT, "score", 0.1);
    weft_span_end(ret);
    weft_span gen = weft_span_begin_child(root, "generate", WEFT_TYPE_COMPLETION);
    weft_span_set_str(gen, WEFT_OUTPUT, "answer", "Paris");
    weft_span_set_error(gen, "Timeout", "slow model");
    weft_span_end(gen);
    weft_span_set_str(root, WEFT_OUTPUT, "answer", "Paris");
    weft_span_end(root);
    json_t *items = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(items), 3);

    char *doc = NULL;
    weft__stratix_doc_info info;
    cr_assert_eq(weft__stratix_doc_text(items, &doc, &info), 0, "%s", info.error ? info.error : "");
    char *line = malloc(strlen(doc) + 2);
    sprintf(line, "%s\n", doc);
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, write_file("weft.jsonl", line), NULL, NULL, &res, &err), 0, "%s",
                 err.message);
    cr_assert_eq(res->n_trace_ids, 1);
    weft_stratix_trace *t = NULL;
    cr_assert_eq(weft_stratix_get(cli, res->trace_ids[0], &t, &err), 0, "%s", err.message);
    cr_assert_str_eq(t->data, doc, "the document comes back as it was sent");

    json_t *d = json_loads(t->data, 0, NULL);
    json_t *spans = json_object_get(d, "spans");
    cr_assert_eq(json_array_size(spans), 3);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        json_t *s = NULL, *c;
        size_t k;
        json_array_foreach(spans, k, c) if (strcmp(wt_str(c, "id"), wt_str(it, "id")) == 0) s = c;
        cr_assert_not_null(s, "span %s missing", wt_str(it, "id"));
        const char *key;
        json_t *v;
        json_object_foreach(it, key, v)
        {
            const char *mapped = strcmp(key, "start_timestamp") == 0 ? "start_time"
                                 : strcmp(key, "end_timestamp") == 0 ? "end_time"
                                                                     : key;
            cr_assert(json_equal(json_object_get(s, mapped), v), "span %s field %s differs", wt_str(it, "id"), key);
        }
        if (json_object_get(it, "parent_id") == NULL) {
            cr_assert_str_eq(wt_str(d, "name"), "answer");
            cr_assert(json_equal(json_object_get(d, "input"), json_object_get(it, "input")));
            cr_assert(json_equal(json_object_get(d, "output"), json_object_get(it, "output")));
            cr_assert(json_equal(wt_path(d, "metadata.trace_summary"), wt_path(it, "metadata.trace_summary")));
            cr_assert_not_null(wt_path(d, "metadata.trace_summary.span_count"));
            cr_assert_str_eq(wt_str(json_object_get(d, "metadata"), "group_id"), "group-1");
        }
    }
    json_decref(d);
    weft_stratix_trace_free(t);
    weft_stratix_upload_result_free(res);
    free(line);
    free(doc);
    json_decref(items);
}

/* ---- the upload as a job ------------------------------------------------------------------- */

Test(stratix_client, an_async_upload_completes_with_the_trace_ids_and_byte_progress, .init = setup, .fini = teardown)
{
    weft_job *job = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload_async(cli, write_file("a.jsonl", JSONL), &job, &err), 0, "%s", err.message);
    cr_assert_str_eq(weft_job_type(job), "stratix_upload");
    cr_assert_eq(weft_job_wait(job, 0.05, 60, NULL, NULL), 0);
    const weft_stratix_upload_result *res = NULL;
    cr_assert_eq(weft_stratix_upload_job_result(job, &res), 0);
    cr_assert_not_null(res);
    cr_assert_eq(res->n_trace_ids, 3);
    cr_assert_eq(weft_srx_trace_count(srx), 3);
    weft_job_info info;
    cr_assert_eq(weft_job_status(job, &info), 0);
    cr_assert_eq(info.state, WEFT_JOB_COMPLETED);
    cr_assert_eq(info.total_items, strlen(JSONL));
    cr_assert_eq(info.current_item, strlen(JSONL));
    cr_assert_float_eq(info.progress_percent, 100.0, 1e-9);
    weft_job_free(job);
}

Test(stratix_client, an_async_upload_refuses_a_bad_file_before_any_job_starts, .init = setup, .fini = teardown)
{
    weft_job *job = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload_async(cli, write_file("a.csv", "x"), &job, &err), WEFT_EINVAL);
    cr_assert_null(job);
    cr_assert_not_null(strstr(err.message, ".json and .jsonl"), "%s", err.message);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_ANY), 0);
}

Test(stratix_client, an_async_upload_fails_with_the_step_named, .init = setup, .fini = teardown)
{
    weft_srx_fail(srx, WEFT_SRX_PUT, 403, 1, "AccessDenied", NULL);
    weft_job *job = NULL;
    cr_assert_eq(weft_stratix_upload_async(cli, write_file("a.jsonl", JSONL), &job, NULL), 0);
    const weft_stratix_upload_result *res = NULL;
    cr_assert_eq(weft_stratix_upload_job_result(job, &res), WEFT_EHTTP);
    cr_assert_null(res);
    cr_assert(weft_job_is_failed(job));
    weft_job_info info;
    weft_job_status(job, &info);
    cr_assert_not_null(strstr(info.error, "upload step 2 of 3 (PUT the file to the upload URL) failed"), "%s",
                       info.error);
    cr_assert_not_null(strstr(info.error, "HTTP 403: AccessDenied"), "%s", info.error);
    weft_job_free(job);
}

Test(stratix_client, a_cancelled_async_upload_creates_no_traces, .init = setup, .fini = teardown)
{
    /* Step 1 is answered 503 with Retry-After: 1, so the job is still at work when cancelled. */
    weft_srx_fail(srx, WEFT_SRX_PRESIGN, 503, 1, NULL, "1");
    weft_job *job = NULL;
    cr_assert_eq(weft_stratix_upload_async(cli, write_file("a.jsonl", JSONL), &job, NULL), 0);
    cr_assert_eq(weft_job_cancel(job), 0);
    cr_assert_eq(weft_job_wait(job, 0.05, 60, NULL, NULL), WEFT_ECANCELED);
    cr_assert_eq(weft_job_status(job, &(weft_job_info){0}), 0);
    cr_assert_not(weft_job_is_completed(job));
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_CREATE), 0);
    cr_assert_eq(weft_srx_trace_count(srx), 0);
    const weft_stratix_upload_result *res = NULL;
    cr_assert_eq(weft_stratix_upload_job_result(job, &res), WEFT_ECANCELED);
    cr_assert_null(res);
    cr_assert_eq(weft_stratix_upload_job_result(NULL, &res), WEFT_EINVAL);
    weft_job_free(job);
}

/* ---- where the key and the data may go ------------------------------------------------------ */

Test(stratix_client, never_sends_the_key_to_loopback_through_a_proxy, .init = setup, .fini = teardown)
{
    /* A proxy that refuses connections: used, every request would fail. */
    setenv("http_proxy", "http://127.0.0.1:9", 1);
    setenv("HTTP_PROXY", "http://127.0.0.1:9", 1);
    setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
    unsetenv("NO_PROXY");
    unsetenv("no_proxy");
    weft_stratix_client_free(cli);
    cli = client_for(srx, -1);
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, write_file("a.jsonl", JSONL), NULL, NULL, &res, &err), 0, "%s", err.message);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_PUT), 1);
    weft_stratix_upload_result_free(res);
}

Test(stratix_client, refuses_to_put_trace_data_to_plain_http_off_loopback, .fini = teardown)
{
    /* The stand-in hands out http://example.com:PORT/...: refused before any connection. */
    start_with(&(weft_srx_opts){.presign_host = "example.com"});
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, write_file("a.jsonl", JSONL), NULL, NULL, &res, &err), WEFT_EINSECURE);
    cr_assert_eq(err.step, WEFT_STRATIX_STEP_PUT);
    cr_assert_not_null(strstr(err.message, "upload step 2 of 3"), "%s", err.message);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_PUT), 0);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_CREATE), 0);
}

Test(stratix_client, retries_a_429_in_step_3, .init = setup, .fini = teardown)
{
    weft_srx_fail(srx, WEFT_SRX_CREATE, 429, 1, "busy", "0");
    weft_stratix_upload_result *res = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_upload(cli, write_file("a.jsonl", JSONL), NULL, NULL, &res, &err), 0, "%s", err.message);
    cr_assert_eq(weft_srx_count(srx, WEFT_SRX_CREATE), 2);
    weft_stratix_upload_result_free(res);
}
