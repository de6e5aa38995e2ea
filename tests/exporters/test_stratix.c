/*
 * test_stratix.c — the stratix exporter (exporters/stratix.c) end to end against the in-process
 * Stratix stand-in (tests/support/stratix_receiver.c) on 127.0.0.1: traces recorded with the
 * public span API, uploaded by the exporter, read back with the public client.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log_capture.h"
#include "stratix_receiver.h"
#include "weft/stratix.h"
#include "weft/weft.h"

#define KEY "sk-stratix-test-4242"

static weft_srx *srx;
static char dir[64];
static char jsonl[96];

static void setup(void)
{
    weft_srx_opts o = {.api_key = KEY};
    srx = weft_srx_start(&o);
    cr_assert_not_null(srx, "the Stratix stand-in did not start");
    snprintf(dir, sizeof dir, "/tmp/weft-sx-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(jsonl, sizeof jsonl, "%s.spans.jsonl", dir);
    wt_log_reset();
}

static void teardown(void)
{
    weft_shutdown(5000);
    cr_expect_eq(wt_log_count(KEY), 0, "the API key reached the log");
    weft_srx_stop(srx);
    srx = NULL;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, jsonl);
    if (system(cmd) != 0) {
    }
}

TestSuite(stratix, .init = setup, .fini = teardown, .timeout = 120);

static weft_config cfg_for(const char *exporters)
{
    weft_config c = {0};
    c.exporters = exporters;
    c.jsonl_path = jsonl;
    c.stratix_api_key = KEY;
    c.stratix_base_url = weft_srx_base_url(srx);
    c.stratix_dir = dir;
    c.flush_interval_ms = 10;
    c.no_atexit = true;
    c.log = wt_log_capture;
    c.log_level = WEFT_LOG_DEBUG;
    c.ring_bytes = 16u << 20;
    return c;
}

static weft_stats stats(void)
{
    weft_stats s;
    weft_get_stats(&s);
    return s;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Waits (at most 20 s) until the stand-in holds n traces; false if it never does. */
static bool wait_traces(size_t n)
{
    for (int i = 0; i < 2000; i++) {
        if (weft_srx_trace_count(srx) >= n)
            return weft_srx_trace_count(srx) == n;
        sleep_ms(10);
    }
    return false;
}

static weft_stratix_client *client(void)
{
    weft_stratix_opts o = {.api_key = KEY, .base_url = weft_srx_base_url(srx), .max_retries = -1};
    weft_stratix_client *c = NULL;
    weft_stratix_error err;
    cr_assert_eq(weft_stratix_client_new(&c, &o, &err), 0, "%s", err.message);
    return c;
}

/* Every trace document the stand-in holds, read back through weft_stratix_get_many and
 * weft_stratix_get (the public client): {trace_id: document}. */
static json_t *stored_docs(void)
{
    weft_stratix_client *c = client();
    json_t *out = json_object();
    for (int page = 1;; page++) {
        weft_stratix_query q = {.page = page, .page_size = 500};
        weft_stratix_traces *p = NULL;
        weft_stratix_error err;
        cr_assert_eq(weft_stratix_get_many(c, &q, &p, &err), 0, "%s", err.message);
        for (size_t i = 0; i < p->n_traces; i++) {
            weft_stratix_trace *t = NULL;
            cr_assert_eq(weft_stratix_get(c, p->traces[i].id, &t, &err), 0, "%s", err.message);
            json_t *d = json_loads(t->data, JSON_DECODE_INT_AS_REAL, NULL);
            cr_assert(json_is_object(d), "trace data is not an object: %s", t->data);
            const char *tid = json_string_value(json_object_get(d, "trace_id"));
            cr_assert_not_null(tid);
            cr_expect_null(json_object_get(out, tid), "trace %s stored twice", tid);
            json_object_set_new(out, tid, d);
            weft_stratix_trace_free(t);
        }
        size_t n = p->n_traces;
        weft_stratix_traces_free(p);
        if (n < 500)
            break;
    }
    weft_stratix_client_free(c);
    return out;
}

/* The jsonl exporter's lines: an array of span items. */
static json_t *jsonl_items(void)
{
    FILE *f = fopen(jsonl, "r");
    cr_assert_not_null(f, "no %s", jsonl);
    json_t *arr = json_array();
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        json_t *v = json_loads(line, JSON_DECODE_INT_AS_REAL, NULL);
        cr_assert(json_is_object(v), "bad jsonl line %s", line);
        json_array_append_new(arr, v);
    }
    free(line);
    fclose(f);
    return arr;
}

static json_t *span_by_id(json_t *doc, const char *id)
{
    size_t i;
    json_t *sp;
    json_array_foreach(json_object_get(doc, "spans"), i, sp)
    {
        if (strcmp(json_string_value(json_object_get(sp, "id")), id) == 0)
            return sp;
    }
    return NULL;
}

/* Files in the directory whose names end in suffix. */
static size_t files_ending(const char *suffix)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    size_t n = 0, m = strlen(suffix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t k = strlen(e->d_name);
        if (e->d_name[0] != '.' && k >= m && strcmp(e->d_name + k - m, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* One small trace: a root and two children, n_pad bytes of input on the root. */
static void small_trace(const char *name, size_t n_pad)
{
    weft_span r = weft_span_begin(name, WEFT_TYPE_AGENT_WORKFLOW);
    char *pad = malloc(n_pad + 1);
    memset(pad, 'x', n_pad);
    pad[n_pad] = '\0';
    weft_span_set_str(r, WEFT_INPUT, "question", pad);
    free(pad);
    weft_span a = weft_span_begin("retrieve", WEFT_TYPE_KB_RETRIEVAL);
    weft_span_end(a);
    weft_span b = weft_span_begin("generate", WEFT_TYPE_COMPLETION);
    weft_span_end(b);
    weft_span_set_str(r, WEFT_OUTPUT, "answer", "42");
    weft_span_end(r);
}

/* ---- the document ---------------------------------------------------------------------------- */

Test(stratix, a_trace_read_back_holds_the_whole_tree_with_every_field_the_jsonl_exporter_wrote)
{
    weft_config c = cfg_for("jsonl,stratix");
    c.stratix_grace_ms = 1;
    cr_assert_eq(weft_init(&c), 0);
    weft_span root = weft_span_begin("agent", WEFT_TYPE_AGENT_WORKFLOW);
    weft_span_set_str(root, WEFT_INPUT, "question", "what is weft?");
    const char *user = "{\"id\":7,\"tags\":[\"a\",\"b\"]}";
    weft_span_set_json(root, WEFT_METADATA, "user", user, strlen(user));
    weft_span ret = weft_span_begin("retrieve", WEFT_TYPE_KB_RETRIEVAL);
    weft_span_set_i64(ret, WEFT_METADATA, "top_k", 5);
    weft_span emb = weft_span_begin("embed", WEFT_TYPE_CUSTOM);
    weft_span_set_f64(emb, WEFT_OUTPUT, "norm", 0.125);
    weft_span_end(emb);
    weft_span_set_bool(ret, WEFT_OUTPUT, "hit", true);
    weft_span_end(ret);
    weft_span gen = weft_span_begin("generate", WEFT_TYPE_COMPLETION);
    weft_span_set_error(gen, "Timeout", "the model took too long");
    weft_span_end(gen);
    weft_span_set_str(root, WEFT_OUTPUT, "answer", "a tracer");
    weft_span_end(root);
    cr_assert_eq(weft_shutdown(20000), 0);

    weft_stats s = stats();
    cr_expect_eq(s.exported, 4, "exported %llu", (unsigned long long)s.exported);
    cr_expect_eq(s.dropped_export + s.spooled + s.incomplete_traces, 0);

    json_t *items = jsonl_items();
    cr_assert_eq(json_array_size(items), 4);
    json_t *docs = stored_docs();
    cr_assert_eq(json_object_size(docs), 1, "one trace, one document");
    const char *tid = json_string_value(json_object_get(json_array_get(items, 0), "trace_id"));
    json_t *doc = json_object_get(docs, tid);
    cr_assert_not_null(doc, "the stored document is not trace %s", tid);
    cr_expect_str_eq(json_string_value(json_object_get(doc, "name")), "agent");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(doc, "input"), "question")), "what is weft?");
    cr_expect_str_eq(json_string_value(json_object_get(json_object_get(doc, "output"), "answer")), "a tracer");
    cr_expect(json_is_object(json_object_get(json_object_get(doc, "metadata"), "trace_summary")));
    cr_expect_eq(json_array_size(json_object_get(doc, "spans")), 4);

    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        const char *id = json_string_value(json_object_get(item, "id"));
        json_t *sp = span_by_id(doc, id);
        cr_assert_not_null(sp, "span %s missing from the document", id);
        const char *key;
        json_t *v;
        json_object_foreach(item, key, v)
        {
            const char *as = strcmp(key, "start_timestamp") == 0 ? "start_time"
                             : strcmp(key, "end_timestamp") == 0 ? "end_time"
                                                                 : key;
            json_t *got = json_object_get(sp, as);
            char *want_s = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
            char *got_s = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
            cr_expect(got && json_equal(v, got), "span %s field %s: jsonl has %s, Stratix %s", id, key, want_s,
                      got_s ? got_s : "(absent)");
            free(want_s);
            free(got_s);
        }
        /* The tree: every parent is in the document. */
        const char *parent = json_string_value(json_object_get(item, "parent_id"));
        if (parent)
            cr_expect_not_null(span_by_id(doc, parent), "parent %s of %s not in the document", parent, id);
    }
    json_decref(items);
    json_decref(docs);
}

/* ---- rotation -------------------------------------------------------------------------------- */

Test(stratix, rotates_by_size_into_several_uploads_each_below_the_limit)
{
    weft_config c = cfg_for("stratix");
    c.stratix_grace_ms = 1;
    c.stratix_max_file_bytes = 8192;
    cr_assert_eq(weft_init(&c), 0);
    char name[32];
    for (int i = 0; i < 40; i++) {
        snprintf(name, sizeof name, "trace-%d", i);
        small_trace(name, 600);
    }
    cr_assert_eq(weft_shutdown(30000), 0);
    size_t sizes[64];
    size_t n = weft_srx_upload_sizes(srx, sizes, 64);
    cr_expect_geq(n, 3, "only %zu uploads", n);
    size_t total = 0;
    for (size_t i = 0; i < n && i < 64; i++) {
        cr_expect_lt(sizes[i], 8192, "upload %zu is %zu bytes", i, sizes[i]);
        total += sizes[i];
    }
    cr_expect_gt(total, 40 * 600);
    cr_expect_eq(weft_srx_trace_count(srx), 40);
    weft_stats s = stats();
    cr_expect_eq(s.exported, 120);
    cr_expect_eq(s.dropped_export, 0);
    cr_expect_eq(files_ending(".jsonl"), 0, "uploaded files are removed");
}

Test(stratix, uploads_a_file_once_its_first_trace_is_as_old_as_the_age_limit)
{
    weft_config c = cfg_for("stratix");
    c.stratix_grace_ms = 1;
    c.stratix_max_file_age_ms = 100;
    cr_assert_eq(weft_init(&c), 0);
    small_trace("first", 10);
    cr_assert(wait_traces(1), "the first file was not uploaded by age");
    small_trace("second", 10);
    cr_assert(wait_traces(2), "the second file was not uploaded by age");
    cr_expect_eq(weft_srx_count(srx, WEFT_SRX_PUT), 2, "one file per trace here");
    cr_assert_eq(weft_shutdown(20000), 0);
    cr_expect_eq(stats().exported, 6);
}

Test(stratix, weft_flush_uploads_at_once_and_waits_for_it)
{
    weft_config c = cfg_for("stratix");
    c.stratix_grace_ms = 60000;
    c.stratix_max_file_age_ms = 3600000;
    cr_assert_eq(weft_init(&c), 0);
    small_trace("flushed", 10);
    cr_assert_eq(weft_flush(20000), 0);
    cr_expect_eq(weft_srx_trace_count(srx), 1, "weft_flush returned before the upload");
    cr_expect_eq(stats().exported, 3);
}

Test(stratix, shutdown_uploads_what_it_holds)
{
    weft_config c = cfg_for("stratix");
    c.stratix_max_file_age_ms = 3600000; /* neither age nor size nor grace sends anything */
    c.stratix_grace_ms = 3600000;
    cr_assert_eq(weft_init(&c), 0);
    small_trace("one", 10);
    small_trace("two", 10);
    weft_span open = weft_span_begin("still open", WEFT_TYPE_AGENT_WORKFLOW);
    (void)open;
    sleep_ms(100);
    cr_expect_eq(weft_srx_trace_count(srx), 0);
    cr_assert_eq(weft_shutdown(20000), 0);
    cr_expect_eq(weft_srx_trace_count(srx), 3, "the open trace goes as it stands");
    cr_expect_eq(weft_srx_count(srx, WEFT_SRX_PUT), 1);
    weft_stats s = stats();
    cr_expect_eq(s.exported, 6);
    cr_expect_eq(s.dropped_export + s.spooled, 0);
}

/* ---- grace ----------------------------------------------------------------------------------- */

Test(stratix, a_child_that_ends_after_its_root_within_the_grace_is_in_the_document)
{
    weft_config c = cfg_for("stratix");
    c.stratix_grace_ms = 3000;
    c.stratix_max_file_age_ms = 50;
    cr_assert_eq(weft_init(&c), 0);
    weft_span root = weft_span_begin("root", WEFT_TYPE_AGENT_WORKFLOW);
    weft_span late = weft_span_begin_child(root, "late child", WEFT_TYPE_CODE_EXECUTION);
    weft_span_end(root);
    sleep_ms(200); /* the root's batch reaches the exporter first */
    weft_span_end(late);
    cr_assert(wait_traces(1));
    json_t *docs = stored_docs();
    json_t *doc = json_object_iter_value(json_object_iter(docs));
    cr_assert_eq(json_array_size(json_object_get(doc, "spans")), 2, "the late child was left out");
    json_decref(docs);
    cr_assert_eq(weft_shutdown(20000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.incomplete_traces, 0);
    cr_expect_eq(s.exported, 2);
}

/* A file of the directory with at least one complete line in it. */
static bool a_trace_is_on_disk(void)
{
    for (int i = 0; i < 2000; i++) {
        DIR *d = opendir(dir);
        struct dirent *e;
        bool found = false;
        while (d && (e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char p[400];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            struct stat st;
            if (stat(p, &st) == 0 && st.st_size > 0)
                found = true;
        }
        if (d)
            closedir(d);
        if (found)
            return true;
        sleep_ms(10);
    }
    return false;
}

Test(stratix, a_child_that_ends_past_the_grace_is_counted_and_the_trace_goes_without_it)
{
    weft_config c = cfg_for("stratix");
    c.stratix_grace_ms = 20;
    c.stratix_max_file_age_ms = 3600000;
    cr_assert_eq(weft_init(&c), 0);
    weft_span root = weft_span_begin("root", WEFT_TYPE_AGENT_WORKFLOW);
    weft_span late = weft_span_begin_child(root, "too late", WEFT_TYPE_CODE_EXECUTION);
    weft_span_end(root);
    cr_assert(a_trace_is_on_disk(), "the trace was not written after its grace");
    weft_span_end(late);
    cr_assert_eq(weft_shutdown(20000), WEFT_EEXPORT, "a span was dropped");
    weft_stats s = stats();
    cr_expect_eq(s.incomplete_traces, 1);
    cr_expect_eq(s.dropped_export, 1);
    cr_expect_eq(s.exported, 1);
    json_t *docs = stored_docs();
    cr_assert_eq(json_object_size(docs), 1);
    json_t *doc = json_object_iter_value(json_object_iter(docs));
    cr_expect_eq(json_array_size(json_object_get(doc, "spans")), 1);
    json_decref(docs);
    cr_expect_eq(wt_log_count("WEFT_STRATIX_GRACE_MS"), 1, "logged once");
}

/* ---- failures and the files on disk ---------------------------------------------------------- */

static void fails_then_is_kept_and_sent_again_at_the_next_init(weft_srx_kind step)
{
    weft_config c = cfg_for("stratix");
    c.stratix_grace_ms = 1;
    cr_assert_eq(weft_init(&c), 0);
    /* Every attempt fails; Retry-After: 0 keeps the retries quick. */
    weft_srx_fail(srx, step, 503, 1000, "down for maintenance", "0");
    small_trace("kept", 10);
    cr_assert_eq(weft_shutdown(30000), 0, "kept on disk is not a loss");
    weft_stats s = stats();
    cr_expect_eq(s.spooled, 3);
    cr_expect_eq(s.exported + s.dropped_export, 0);
    cr_expect_eq(weft_srx_count(srx, step), 6, "the step was tried 1 + 5 times");
    cr_expect_eq(weft_srx_trace_count(srx), 0);
    cr_expect_eq(files_ending(".jsonl"), 1, "the file stays on disk");
    cr_expect_eq(wt_log_count("was not uploaded"), 1);

    weft_srx_fail(srx, step, 0, 0, NULL, NULL); /* the API is back */
    c = cfg_for("stratix");
    cr_assert_eq(weft_init(&c), 0);
    cr_assert(wait_traces(1), "the kept file was not sent by the next weft_init");
    cr_assert_eq(weft_shutdown(20000), 0);
    s = stats();
    cr_expect_eq(s.replayed, 3);
    cr_expect_eq(files_ending(".jsonl"), 0);
    json_t *docs = stored_docs();
    json_t *doc = json_object_iter_value(json_object_iter(docs));
    cr_expect_str_eq(json_string_value(json_object_get(doc, "name")), "kept");
    cr_expect_eq(json_array_size(json_object_get(doc, "spans")), 3);
    json_decref(docs);
}

Test(stratix, a_failing_presign_step_is_retried_then_kept_and_sent_at_the_next_init)
{
    fails_then_is_kept_and_sent_again_at_the_next_init(WEFT_SRX_PRESIGN);
}

Test(stratix, a_failing_put_step_is_retried_then_kept_and_sent_at_the_next_init)
{
    fails_then_is_kept_and_sent_again_at_the_next_init(WEFT_SRX_PUT);
}

Test(stratix, a_failing_create_step_is_retried_then_kept_and_sent_at_the_next_init)
{
    fails_then_is_kept_and_sent_again_at_the_next_init(WEFT_SRX_CREATE);
}

Test(stratix, a_kept_file_goes_again_after_the_next_upload_that_succeeds)
{
    weft_config c = cfg_for("stratix");
    c.stratix_grace_ms = 1;
    cr_assert_eq(weft_init(&c), 0);
    weft_srx_fail(srx, WEFT_SRX_PRESIGN, 503, 6, NULL, "0"); /* exactly one file's attempts */
    small_trace("first", 10);
    cr_assert_eq(weft_flush(20000), 0);
    cr_expect_eq(weft_srx_trace_count(srx), 0);
    cr_expect_eq(stats().spooled, 3);
    small_trace("second", 10);
    cr_assert_eq(weft_flush(20000), 0);
    cr_assert(wait_traces(2), "the kept file did not follow the good upload");
    cr_assert_eq(weft_shutdown(20000), 0);
    weft_stats s = stats();
    cr_expect_eq(s.exported, 3);
    cr_expect_eq(s.replayed, 3);
    cr_expect_eq(files_ending(".jsonl"), 0);
}

Test(stratix, a_file_the_server_refuses_is_set_aside_and_counted_rejected)
{
    weft_config c = cfg_for("stratix");
    c.stratix_grace_ms = 1;
    cr_assert_eq(weft_init(&c), 0);
    weft_srx_fail(srx, WEFT_SRX_CREATE, 400, 1, "line 1 is not a trace", NULL);
    small_trace("refused", 10);
    cr_assert_eq(weft_shutdown(20000), WEFT_EEXPORT);
    weft_stats s = stats();
    cr_expect_eq(s.rejected, 3);
    cr_expect_eq(s.dropped_export, 3);
    cr_expect_eq(weft_srx_count(srx, WEFT_SRX_CREATE), 1, "a 400 is not retried");
    cr_expect_eq(files_ending(".jsonl"), 0, "not sent again");
    cr_expect_eq(files_ending(".jsonl.rejected"), 1);
    cr_expect_eq(wt_log_count("line 1 is not a trace"), 1, "the server's reason is logged");
}

Test(stratix, a_file_a_dead_process_left_is_claimed_its_torn_last_line_cut)
{
    char path[128];
    snprintf(path, sizeof path, "%s/weft-1-1-1.jsonl", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"trace_id\":\"left-behind\",\"name\":\"old\",\"spans\":[{\"id\":\"a\"},{\"id\":\"b\"}]}\n"
          "{\"trace_id\":\"torn\",\"na",
          f);
    fclose(f);
    weft_config c = cfg_for("stratix");
    cr_assert_eq(weft_init(&c), 0);
    cr_assert(wait_traces(1));
    cr_assert_eq(weft_shutdown(20000), 0);
    cr_expect_eq(stats().replayed, 2);
    json_t *docs = stored_docs();
    cr_expect_not_null(json_object_get(docs, "left-behind"));
    json_decref(docs);
    cr_expect_eq(files_ending(".jsonl"), 0);
}

/* A file another live process holds is not taken. */
Test(stratix, leaves_alone_a_file_that_a_live_process_holds)
{
    char path[128];
    snprintf(path, sizeof path, "%s/weft-2-2-2.jsonl", dir);
    int fd = open(path, O_CREAT | O_WRONLY, 0600);
    cr_assert_geq(fd, 0);
    const char *line = "{\"trace_id\":\"busy\",\"spans\":[]}\n";
    cr_assert_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
    cr_assert_eq(flock(fd, LOCK_EX), 0);
    weft_config c = cfg_for("stratix");
    c.stratix_grace_ms = 1;
    cr_assert_eq(weft_init(&c), 0);
    small_trace("mine", 10);
    cr_assert_eq(weft_shutdown(20000), 0);
    cr_expect_eq(weft_srx_trace_count(srx), 1, "only this process's trace");
    cr_expect_eq(files_ending(".jsonl"), 1);
    close(fd);
}

/* ---- configuration --------------------------------------------------------------------------- */

Test(stratix, refuses_to_start_without_an_api_key)
{
    weft_config c = cfg_for("stratix");
    c.stratix_api_key = NULL;
    unsetenv("LAYERLENS_STRATIX_API_KEY");
    cr_expect_eq(weft_init(&c), WEFT_ECONFIG);
    cr_expect_eq(wt_log_count("LAYERLENS_STRATIX_API_KEY"), 1);
}

Test(stratix, refuses_plain_http_to_a_host_that_is_not_loopback)
{
    weft_config c = cfg_for("stratix");
    c.stratix_base_url = "http://stratix.example.com/api/v1";
    cr_expect_eq(weft_init(&c), WEFT_EINSECURE);
}

Test(stratix, takes_its_settings_from_the_environment)
{
    setenv("WEFT_EXPORTER", "stratix", 1);
    setenv("LAYERLENS_STRATIX_API_KEY", KEY, 1);
    setenv("LAYERLENS_STRATIX_BASE_URL", weft_srx_base_url(srx), 1);
    setenv("LAYERLENS_STRATIX_ORGANIZATION_ID", "org-1", 1);
    setenv("LAYERLENS_STRATIX_PROJECT_ID", "proj-1", 1);
    setenv("WEFT_STRATIX_DIR", dir, 1);
    setenv("WEFT_STRATIX_MAX_FILE_BYTES", "4096", 1);
    setenv("WEFT_STRATIX_MAX_FILE_AGE_MS", "3600000", 1);
    setenv("WEFT_STRATIX_GRACE_MS", "0", 1);
    weft_config c = {.no_atexit = true, .log = wt_log_capture, .flush_interval_ms = 10};
    cr_assert_eq(weft_init(&c), 0);
    for (int i = 0; i < 12; i++)
        small_trace("env", 600);
    cr_assert_eq(weft_shutdown(20000), 0);
    cr_expect_eq(weft_srx_trace_count(srx), 12);
    cr_expect_eq(weft_srx_count(srx, WEFT_SRX_ORGS), 0, "configured ids are not looked up");
    size_t sizes[32];
    size_t n = weft_srx_upload_sizes(srx, sizes, 32);
    cr_expect_geq(n, 2);
    for (size_t i = 0; i < n && i < 32; i++)
        cr_expect_lt(sizes[i], 4096);
}

Test(stratix, refused_credentials_keep_the_file_without_retrying)
{
    weft_config c = cfg_for("stratix");
    c.stratix_grace_ms = 1;
    cr_assert_eq(weft_init(&c), 0);
    weft_srx_fail(srx, WEFT_SRX_PRESIGN, 401, 1, "bad key", NULL);
    small_trace("unauthorised", 10);
    cr_assert_eq(weft_shutdown(20000), 0);
    cr_expect_eq(weft_srx_count(srx, WEFT_SRX_PRESIGN), 1, "a 401 is not retried");
    cr_expect_eq(stats().spooled, 3);
    cr_expect_eq(files_ending(".jsonl"), 1);
}

Test(stratix, shutdown_past_its_timeout_leaves_the_file_for_the_next_start)
{
    weft_config c = cfg_for("stratix");
    c.stratix_grace_ms = 1;
    cr_assert_eq(weft_init(&c), 0);
    /* The server asks for 20 s between attempts: longer than the shutdown allows. */
    weft_srx_fail(srx, WEFT_SRX_PRESIGN, 503, 1000, NULL, "20");
    small_trace("slow", 10);
    cr_assert_eq(weft_shutdown(300), WEFT_ETIMEDOUT);
    cr_expect_eq(stats().spooled, 3);
    cr_expect_eq(stats().dropped_export, 0);
    cr_expect_eq(files_ending(".jsonl"), 1);
    weft_srx_fail(srx, WEFT_SRX_PRESIGN, 0, 0, NULL, NULL);
    c = cfg_for("stratix");
    cr_assert_eq(weft_init(&c), 0);
    cr_assert(wait_traces(1));
}

Test(stratix, the_default_directory_is_made_private_under_tmpdir)
{
    setenv("TMPDIR", dir, 1);
    weft_config c = cfg_for("stratix");
    c.stratix_dir = NULL;
    c.stratix_grace_ms = 1;
    cr_assert_eq(weft_init(&c), 0);
    char sub[160];
    snprintf(sub, sizeof sub, "%s/weft-stratix-%lu", dir, (unsigned long)getuid());
    struct stat st;
    cr_assert_eq(lstat(sub, &st), 0, "no %s", sub);
    cr_expect(S_ISDIR(st.st_mode));
    cr_expect_eq(st.st_mode & 0777, 0700);
    small_trace("default dir", 10);
    cr_assert_eq(weft_shutdown(20000), 0);
    cr_expect_eq(weft_srx_trace_count(srx), 1);
}

Test(stratix, refuses_a_default_directory_others_can_write)
{
    setenv("TMPDIR", dir, 1);
    char sub[160];
    snprintf(sub, sizeof sub, "%s/weft-stratix-%lu", dir, (unsigned long)getuid());
    cr_assert_eq(mkdir(sub, 0700), 0);
    cr_assert_eq(chmod(sub, 0777), 0);
    weft_config c = cfg_for("stratix");
    c.stratix_dir = NULL;
    cr_expect_eq(weft_init(&c), WEFT_ECONFIG);
    cr_expect_eq(wt_log_count("open to others"), 1);
}

Test(stratix, spans_waiting_for_their_root_beyond_the_queue_limit_go_early_and_are_counted)
{
    weft_config c = cfg_for("stratix");
    c.stratix_grace_ms = 1;
    c.max_queue_bytes = 2048;
    cr_assert_eq(weft_init(&c), 0);
    weft_span root = weft_span_begin("long root", WEFT_TYPE_AGENT_WORKFLOW);
    char big[1001];
    memset(big, 'y', 1000);
    big[1000] = '\0';
    for (int i = 0; i < 4; i++) {
        weft_span ch = weft_span_begin("child", WEFT_TYPE_CUSTOM);
        weft_span_set_str(ch, WEFT_INPUT, "text", big);
        weft_span_end(ch);
    }
    cr_assert_eq(weft_flush(20000), 0);
    weft_span_end(root);
    weft_shutdown(20000);
    weft_stats s = stats();
    cr_expect_eq(s.incomplete_traces, 1);
    cr_expect_geq(s.dropped_export, 1, "at least the root came too late");
    cr_expect_eq(s.exported + s.dropped_export, 5);
    json_t *docs = stored_docs();
    size_t spans = 0;
    const char *k;
    json_t *d;
    json_object_foreach(docs, k, d)
        spans += json_array_size(json_object_get(d, "spans"));
    cr_expect_eq(spans, s.exported);
    json_decref(docs);
}
