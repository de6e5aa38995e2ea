/*
 * traces_eval.c — weft_trace_evaluate: weft's own deterministic checks of a trace, one
 * TraceEvalStep per step checked. The formulas (README.md, "Evaluations"):
 *
 *   citation_grounding   per span with output.citations: score = grounded / citations, where a
 *                        citation is grounded when its doc_id is the doc_id of a hit of some
 *                        retrieval step of the trace; passed when every citation is grounded.
 *   answer_completeness  per span with output.format_check: 1 when is_complete, else 0.
 *   refusal              the same spans: 1 when refusal is false, else 0.
 *   retrieval_coverage   per retrieval step, with n hits, good = hits whose score is at least
 *                        similarity_threshold (every hit when none is given): top_k given:
 *                        min(good, top_k) / top_k; else good / n (0 when n = 0). Passed at 1.
 *   failed_spans         once: 1 - error_spans / spans; passed when no span has status ERROR.
 *   latency              with a budget B > 0: 1 when duration_ms <= B, else B / duration_ms.
 *   cost                 with a budget B > 0 and a recorded total_cost c: 1 when c <= B,
 *                        else B / c.
 *
 * A check with nothing to look at gives one row with status "skipped". Pure: any thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "traces_internal.h"

typedef struct rows {
    weft_trace_eval_step *v;
    size_t n, cap;
    bool oom;
} rows;

static weft_trace_eval_step *row(rows *r, const char *metric, const char *status, double score)
{
    if (r->n == r->cap) {
        weft_trace_eval_step *v = weft__grow(r->v, &r->cap, sizeof *v, 8);
        if (!v) {
            r->oom = true;
            return NULL;
        }
        r->v = v;
    }
    weft_trace_eval_step *s = &r->v[r->n++];
    memset(s, 0, sizeof *s);
    s->metric = strdup(metric);
    s->status = strdup(status);
    s->score = score;
    if (!s->metric || !s->status)
        r->oom = true;
    return s;
}

static void set_text(rows *r, char **dst, const char *s)
{
    if (!s)
        return;
    *dst = strdup(s);
    if (!*dst)
        r->oom = true;
}

static void set_buf(rows *r, char **dst, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#include <stdarg.h>

static void set_buf(rows *r, char **dst, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(dst, fmt, ap) < 0) {
        *dst = NULL;
        r->oom = true;
    }
    va_end(ap);
}

static void skipped(rows *r, const char *metric, const char *why)
{
    weft_trace_eval_step *s = row(r, metric, "skipped", 0);
    if (s)
        set_text(r, &s->explanation, why);
}

/* A growing ", "-separated list. */
typedef struct list {
    char *s;
    size_t len;
} list;

static void list_add(list *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void list_add(list *l, const char *fmt, ...)
{
    char *item;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&item, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *s = realloc(l->s, l->len + (size_t)n + 3);
    if (s) {
        if (l->len) {
            memcpy(s + l->len, ", ", 2);
            l->len += 2;
        }
        memcpy(s + l->len, item, (size_t)n + 1);
        l->len += (size_t)n;
        l->s = s;
    }
    free(item);
}

/* The spans' attributes, parsed once. */
static json_t **parse_attrs(const weft_trace_full_result *t)
{
    json_t **a = calloc(t->n_spans ? t->n_spans : 1, sizeof *a);
    if (!a)
        return NULL;
    for (size_t i = 0; i < t->n_spans; i++)
        a[i] = t->spans[i].attributes ? json_loads(t->spans[i].attributes, 0, NULL) : NULL;
    return a;
}

static void free_attrs(json_t **a, size_t n)
{
    if (!a)
        return;
    for (size_t i = 0; i < n; i++)
        json_decref(a[i]);
    free(a);
}

static const json_t *out_of(const json_t *attr, const char *k)
{
    return json_object_get(json_object_get(attr, "output"), k);
}

/* What a generation step was asked: its last user message, else input.query, input.question
 * or the first string of its input. Borrowed from attr. */
static const char *question_of(const json_t *attr)
{
    const json_t *in = json_object_get(attr, "input");
    const json_t *msgs = json_object_get(in, "messages");
    const char *q = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = weft__jstr(m, "role");
        if (role && !strcmp(role, "user") && weft__jstr(m, "content"))
            q = weft__jstr(m, "content");
    }
    if (q)
        return q;
    if ((q = weft__jstr(in, "query")) || (q = weft__jstr(in, "question")))
        return q;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)in, k, v) {
        if (json_is_string(v))
            return json_string_value(v);
    }
    return NULL;
}

static bool retrieved(const weft_trace_full_result *t, const char *doc)
{
    for (size_t i = 0; doc && i < t->n_retrievals; i++)
        for (size_t j = 0; j < t->retrievals[i].n_hits; j++)
            if (t->retrievals[i].hits[j].doc_id && !strcmp(t->retrievals[i].hits[j].doc_id, doc))
                return true;
    return false;
}

static void eval_grounding(rows *r, const weft_trace_full_result *t, json_t **attrs)
{
    list docs = {0};
    for (size_t i = 0; i < t->n_retrievals; i++)
        for (size_t j = 0; j < t->retrievals[i].n_hits; j++)
            if (t->retrievals[i].hits[j].doc_id)
                list_add(&docs, "%s", t->retrievals[i].hits[j].doc_id);
    size_t steps = 0;
    for (size_t i = 0; i < t->n_spans; i++) {
        const json_t *cits = out_of(attrs[i], "citations");
        if (!json_is_array(cits) || json_array_size(cits) == 0)
            continue;
        steps++;
        size_t n = json_array_size(cits), ok = 0;
        list missing = {0};
        size_t k;
        json_t *c;
        json_array_foreach(cits, k, c) {
            const char *doc = weft__jstr(c, "doc_id");
            if (retrieved(t, doc))
                ok++;
            else
                list_add(&missing, "%s", doc ? doc : "(no doc_id)");
        }
        weft_trace_eval_step *s = row(r, "citation_grounding", ok == n ? "passed" : "failed", (double)ok / (double)n);
        if (s) {
            set_buf(r, &s->explanation, "%s (%s): %zu of %zu citations point at documents the trace retrieved%s%s",
                    t->spans[i].name, t->spans[i].span_id, ok, n, missing.s ? "; not retrieved: " : "",
                    missing.s ? missing.s : "");
            set_text(r, &s->input_text, question_of(attrs[i]));
            set_text(r, &s->output_text, weft__jstr(json_object_get(attrs[i], "output"), "answer"));
            if (docs.s)
                set_buf(r, &s->context, "retrieved: %s", docs.s);
        }
        free(missing.s);
    }
    if (!steps)
        skipped(r, "citation_grounding", "no span of the trace has output.citations");
    free(docs.s);
}

static void eval_format(rows *r, const weft_trace_full_result *t, json_t **attrs, bool refusal)
{
    const char *metric = refusal ? "refusal" : "answer_completeness";
    size_t steps = 0;
    for (size_t i = 0; i < t->n_spans; i++) {
        const json_t *fc = out_of(attrs[i], "format_check");
        if (!json_is_object(fc))
            continue;
        steps++;
        bool flag = json_is_true(json_object_get(fc, refusal ? "refusal" : "is_complete"));
        bool pass = refusal ? !flag : flag;
        weft_trace_eval_step *s = row(r, metric, pass ? "passed" : "failed", pass ? 1.0 : 0.0);
        if (!s)
            continue;
        if (refusal)
            set_buf(r, &s->explanation, "%s (%s): format_check.refusal is %s%s", t->spans[i].name,
                    t->spans[i].span_id, flag ? "true" : "false", flag ? ": the answer declines" : "");
        else
            set_buf(r, &s->explanation, "%s (%s): format_check.is_complete is %s%s", t->spans[i].name,
                    t->spans[i].span_id, flag ? "true" : "false",
                    flag ? "" : ": the answer is empty or cut off");
        set_text(r, &s->input_text, question_of(attrs[i]));
        set_text(r, &s->output_text, weft__jstr(json_object_get(attrs[i], "output"), "answer"));
        s->context = weft__json_text(fc);
        if (!s->context)
            r->oom = true;
    }
    if (!steps)
        skipped(r, metric, "no span of the trace has output.format_check");
}

static void eval_coverage(rows *r, const weft_trace_full_result *t)
{
    for (size_t i = 0; i < t->n_retrievals; i++) {
        const weft_trace_retrieval *q = &t->retrievals[i];
        size_t n = q->n_hits, good = 0;
        list ctx = {0};
        for (size_t j = 0; j < n; j++) {
            const weft_trace_hit *h = &q->hits[j];
            if (!q->has_similarity_threshold || h->score >= q->similarity_threshold)
                good++;
            list_add(&ctx, "%s (%.6g)", h->doc_id ? h->doc_id : "?", h->score);
        }
        double score;
        if (q->top_k > 0)
            score = (double)(good < (size_t)q->top_k ? good : (size_t)q->top_k) / (double)q->top_k;
        else
            score = n ? (double)good / (double)n : 0.0;
        weft_trace_eval_step *s = row(r, "retrieval_coverage", score >= 1.0 ? "passed" : "failed", score);
        if (!s) {
            free(ctx.s);
            continue;
        }
        char topk[48] = "no top_k", thr[96] = "";
        if (q->top_k > 0)
            snprintf(topk, sizeof topk, "top_k %d", q->top_k);
        if (q->has_similarity_threshold)
            snprintf(thr, sizeof thr, ", %zu under similarity_threshold %.6g", n - good, q->similarity_threshold);
        set_buf(r, &s->explanation, "%s (%s): %zu hits for %s%s", q->name ? q->name : "retrieval", q->span_id, n,
                topk, thr);
        set_text(r, &s->input_text, q->query);
        if (ctx.s) {
            s->context = ctx.s;
            ctx.s = NULL;
        }
        free(ctx.s);
    }
    if (!t->n_retrievals)
        skipped(r, "retrieval_coverage", "the trace has no retrieval step");
}

static void eval_failed(rows *r, const weft_trace_full_result *t, json_t **attrs, const weft_trace_record *rec)
{
    size_t n = t->n_spans, bad = 0;
    list names = {0};
    for (size_t i = 0; i < n; i++) {
        if (!t->spans[i].status || strcmp(t->spans[i].status, "ERROR"))
            continue;
        bad++;
        const char *msg = NULL;
        for (size_t k = 0; k < t->diagnostics.n_errors; k++)
            if (t->diagnostics.errors[k].span_id && !strcmp(t->diagnostics.errors[k].span_id, t->spans[i].span_id))
                msg = t->diagnostics.errors[k].message;
        list_add(&names, "%s: %s", t->spans[i].name, msg ? msg : "status ERROR");
    }
    double score = n ? 1.0 - (double)bad / (double)n : 1.0;
    weft_trace_eval_step *s = row(r, "failed_spans", bad ? "failed" : "passed", score);
    if (s) {
        set_buf(r, &s->explanation, "%zu of %zu spans have status ERROR", bad, n);
        set_text(r, &s->input_text, rec ? rec->input_preview : NULL);
        set_text(r, &s->output_text, rec ? rec->output_preview : NULL);
        if (names.s) {
            s->context = names.s;
            names.s = NULL;
        }
    }
    free(names.s);
    (void)attrs;
}

static void eval_budget(rows *r, const char *metric, bool have, double value, double budget, const char *unit,
                        const char *no_value, const weft_trace_record *rec)
{
    if (budget <= 0) {
        char why[96];
        snprintf(why, sizeof why, "no %s budget given", metric);
        skipped(r, metric, why);
        return;
    }
    if (!have) {
        skipped(r, metric, no_value);
        return;
    }
    double score = value <= budget ? 1.0 : budget / value;
    weft_trace_eval_step *s = row(r, metric, value <= budget ? "passed" : "failed", score);
    if (!s)
        return;
    set_buf(r, &s->explanation, "%.6g %s against a budget of %.6g %s", value, unit, budget, unit);
    set_text(r, &s->input_text, rec ? rec->input_preview : NULL);
    set_text(r, &s->output_text, rec ? rec->output_preview : NULL);
}

bool weft__trace_eval_available(const weft_trace_full_result *t)
{
    if (t->n_retrievals)
        return true;
    json_t **attrs = parse_attrs(t);
    bool any = false;
    for (size_t i = 0; attrs && i < t->n_spans && !any; i++) {
        const json_t *cits = out_of(attrs[i], "citations");
        any = (json_is_array(cits) && json_array_size(cits) > 0) || json_is_object(out_of(attrs[i], "format_check"));
    }
    free_attrs(attrs, t->n_spans);
    return any;
}

int weft_trace_evaluate(const weft_trace_full_result *t, const weft_trace_eval_opts *opts,
                        weft_trace_eval_step **steps, size_t *n)
{
    if (!steps || !n)
        return WEFT_EINVAL;
    *steps = NULL;
    *n = 0;
    if (!t)
        return WEFT_EINVAL;
    weft_trace_eval_opts o = {0, 0};
    if (opts)
        o = *opts;
    json_t **attrs = parse_attrs(t);
    weft_trace_record *rec = NULL;
    if (!attrs || weft_trace_record_from_full(t, &rec) != 0) {
        free_attrs(attrs, t->n_spans);
        return WEFT_ENOMEM;
    }
    rows r = {0};
    eval_grounding(&r, t, attrs);
    eval_format(&r, t, attrs, false);
    eval_format(&r, t, attrs, true);
    eval_coverage(&r, t);
    eval_failed(&r, t, attrs, rec);
    eval_budget(&r, "latency", true, t->summary.duration_ms, o.latency_budget_ms, "ms", "", rec);
    eval_budget(&r, "cost", t->summary.has_total_cost, t->summary.total_cost, o.cost_budget_usd, "USD",
                "the trace records no cost", rec);
    free_attrs(attrs, t->n_spans);
    weft_trace_record_free(rec);
    if (r.oom) {
        weft_trace_eval_steps_free(r.v, r.n);
        return WEFT_ENOMEM;
    }
    *steps = r.v;
    *n = r.n;
    return 0;
}

void weft_trace_eval_steps_free(weft_trace_eval_step *steps, size_t n)
{
    if (!steps)
        return;
    for (size_t i = 0; i < n; i++) {
        free(steps[i].metric);
        free(steps[i].explanation);
        free(steps[i].status);
        free(steps[i].input_text);
        free(steps[i].output_text);
        free(steps[i].context);
    }
    free(steps);
}
