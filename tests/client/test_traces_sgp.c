/*
 * test_traces_sgp.c — trace queries over SGP (src/client/traces_sgp.c) against the in-process
 * receiver, which gets its spans from weft's own sgp exporter; the same run also writes a
 * JSONL file, and both sources must give the same answer.
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
#include "weft/sgp.h"
#include "weft/traces.h"
#include "weft/weft.h"

#define KEY "traces-key"

static char dir[64];
static char jsonl[128];
static weft_rx *rx;
static weft_sgp_client *client;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/weft-traces-sgp-XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    snprintf(jsonl, sizeof jsonl, "%s/run.jsonl", dir);
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

TestSuite(traces_sgp, .init = setup, .fini = teardown);

/* One run exporting to the receiver and to the JSONL file at once. */
static void run_both(void (*fn)(void))
{
    weft_config c = {0};
    c.exporters = "sgp,jsonl";
    c.jsonl_path = jsonl;
    c.sgp_base_url = weft_rx_url(rx);
    c.sgp_api_key = KEY;
    c.no_atexit = true;
    c.flush_interval_ms = 20;
    c.inprogress_after_ms = WEFT_INPROGRESS_NEVER;
    cr_assert_eq(weft_init(&c), 0);
    fn();
    cr_assert_eq(weft_shutdown(10000), 0);
    weft_stats s;
    weft_get_stats(&s);
    cr_assert_eq(s.dropped_ring + s.dropped_export + s.dropped_open + s.rejected, 0);
}

static void mixed_run(void)
{
    sc_record_rag_trace("Why a ring per thread?", true);
    usleep(2000);
    for (int i = 0; i < 4; i++) {
        sc_record_small_trace(i);
        usleep(2000);
    }
    sc_record_rag_trace("How are drops counted?", false);
}

static char *list_json(weft_trace_source *src, uint32_t page, uint32_t size)
{
    weft_trace_list_opts o = {.page = page, .page_size = size};
    weft_trace_list_response *l = NULL;
    int rc = weft_traces_list(src, &o, &l);
    cr_assert_eq(rc, 0, "list: %s", weft_strerror(rc));
    char *s = weft_trace_list_response_to_json(l);
    weft_trace_list_response_free(l);
    return s;
}

Test(traces_sgp, lists_and_gets_the_same_traces_as_the_jsonl_file_of_the_same_run, .timeout = 60)
{
    run_both(mixed_run);
    cr_assert_eq(weft_rx_completed(rx), 12);
    const char *path = jsonl;
    weft_trace_source *file = NULL, *sgp = NULL;
    cr_assert_eq(weft_trace_source_open_files(&path, 1, &file), 0);
    cr_assert_eq(weft_trace_source_open_sgp(client, &sgp), 0);
    for (uint32_t page = 1; page <= 3; page++) {
        char *a = list_json(file, page, 3), *b = list_json(sgp, page, 3);
        cr_expect_str_eq(b, a, "page %u differs", page);
        free(a);
        free(b);
    }
    weft_trace_list_response *l = NULL;
    cr_assert_eq(weft_traces_list(sgp, NULL, &l), 0);
    cr_assert_eq(l->total, 6);
    cr_assert_eq(l->n_traces, 6);
    for (size_t i = 0; i < l->n_traces; i++) {
        weft_trace_full_result *ta = NULL, *tb = NULL;
        cr_assert_eq(weft_traces_get(file, l->traces[i].trace_id, &ta), 0);
        cr_assert_eq(weft_traces_get(sgp, l->traces[i].trace_id, &tb), 0);
        char *a = weft_trace_full_result_to_json(ta), *b = weft_trace_full_result_to_json(tb);
        cr_expect_str_eq(b, a, "trace %s differs", l->traces[i].trace_id);
        free(a);
        free(b);
        /* Evaluations agree too. */
        weft_trace_eval_step *ea, *eb;
        size_t na, nb;
        cr_assert_eq(weft_trace_evaluate(ta, NULL, &ea, &na), 0);
        cr_assert_eq(weft_trace_evaluate(tb, NULL, &eb, &nb), 0);
        cr_assert_eq(na, nb);
        for (size_t k = 0; k < na; k++) {
            char *x = weft_trace_eval_step_to_json(&ea[k], NULL), *y = weft_trace_eval_step_to_json(&eb[k], NULL);
            cr_expect_str_eq(y, x);
            free(x);
            free(y);
        }
        weft_trace_eval_steps_free(ea, na);
        weft_trace_eval_steps_free(eb, nb);
        weft_trace_full_result_free(ta);
        weft_trace_full_result_free(tb);
    }
    weft_trace_list_response_free(l);
    weft_trace_source_free(file);
    weft_trace_source_free(sgp);
}

static void one_rag(void) { sc_record_rag_trace("Why a ring per thread?", true); }

Test(traces_sgp, get_returns_the_summary_the_root_span_carried_to_the_server, .timeout = 60)
{
    run_both(one_rag);
    weft_trace_source *sgp = NULL;
    cr_assert_eq(weft_trace_source_open_sgp(client, &sgp), 0);
    weft_trace_list_response *l = NULL;
    cr_assert_eq(weft_traces_list(sgp, NULL, &l), 0);
    cr_assert_eq(l->n_traces, 1);
    weft_trace_full_result *t = NULL;
    cr_assert_eq(weft_traces_get(sgp, l->traces[0].trace_id, &t), 0);
    const weft_trace_span *root = &t->spans[t->execution_tree[0].span];
    json_t *stored = weft_rx_get(rx, t->trace_id, root->span_id);
    cr_assert(stored);
    json_t *ts = json_object_get(json_object_get(stored, "metadata"), "trace_summary");
    cr_assert(json_is_object(ts));
    cr_expect_eq(t->summary.duration_ms, json_number_value(json_object_get(ts, "duration_ms")));
    cr_expect_eq(t->summary.span_count, json_integer_value(json_object_get(ts, "span_count")));
    cr_expect_eq(t->summary.llm_calls, json_integer_value(json_object_get(ts, "llm_calls")));
    cr_expect_eq(t->summary.tool_calls, json_integer_value(json_object_get(ts, "tool_calls")));
    cr_expect_eq(t->summary.retrieval_calls, json_integer_value(json_object_get(ts, "retrieval_calls")));
    cr_expect_eq(t->summary.total_tokens, json_integer_value(json_object_get(ts, "total_tokens")));
    cr_expect_eq(t->summary.total_cost, json_number_value(json_object_get(ts, "total_cost")));
    cr_expect_str_eq(t->summary.status, json_string_value(json_object_get(ts, "status")));
    json_decref(stored);
    weft_trace_full_result_free(t);
    weft_trace_list_response_free(l);
    weft_trace_source_free(sgp);
}

Test(traces_sgp, an_unknown_trace_is_not_found_and_a_server_error_is_reported, .timeout = 60)
{
    weft_trace_source *sgp = NULL;
    cr_assert_eq(weft_trace_source_open_sgp(client, &sgp), 0);
    weft_trace_full_result *t = NULL;
    cr_expect_eq(weft_traces_get(sgp, "00000000-0000-4000-8000-000000000000", &t), WEFT_ENOTFOUND);
    weft_rx_fail_next(rx, 500, 1, NULL);
    weft_trace_list_response *l = NULL;
    cr_expect_eq(weft_traces_list(sgp, NULL, &l), WEFT_EHTTP);
    cr_expect_null(l);
    weft_trace_source *none = NULL;
    cr_expect_eq(weft_trace_source_open_sgp(NULL, &none), WEFT_EINVAL);
    cr_expect_null(none);
    weft_trace_source_free(sgp);
}
