/*
 * traces_json.c — each trace model as compact JSON with exactly the model's field names
 * (traces.h, "JSON"), built with jansson (client side: no hot path) and dumped in insertion
 * order. NULL strings and absent costs become null; fields that hold JSON text are embedded
 * as the value they spell. Pure: any thread.
 */
#include <stdlib.h>
#include <string.h>

#include "traces_internal.h"

static json_t *js(const char *s) { return s ? json_string(s) : json_null(); }

/* JSON text embedded as a value; text that does not parse (never from weft) as a string. */
static json_t *jtext(const char *s, const char *dflt)
{
    if (!s)
        return dflt ? json_loads(dflt, 0, NULL) : json_null();
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(s);
}

static json_t *jcost(bool has, double v) { return has ? json_real(v) : json_null(); }

static char *dump(json_t *v)
{
    if (!v)
        return NULL;
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return s;
}

static json_t *record_obj(const weft_trace_record *r)
{
    return json_pack("{s:o s:o s:o s:o s:o s:o s:f s:o s:I s:I s:I s:o s:o s:b s:o}",
                     "trace_id", js(r->trace_id), "project_id", js(r->project_id), "status", js(r->status),
                     "session_id", js(r->session_id), "project_name", js(r->project_name), "app_name",
                     js(r->app_name), "duration_ms", r->duration_ms, "total_cost",
                     jcost(r->has_total_cost, r->total_cost), "total_tokens", (json_int_t)r->total_tokens,
                     "llm_calls", (json_int_t)r->llm_calls, "tool_calls", (json_int_t)r->tool_calls,
                     "input_preview", js(r->input_preview), "output_preview", js(r->output_preview),
                     "eval_available", r->eval_available, "created_at", js(r->created_at));
}

char *weft_trace_record_to_json(const weft_trace_record *r) { return r ? dump(record_obj(r)) : NULL; }

char *weft_trace_list_response_to_json(const weft_trace_list_response *r)
{
    if (!r)
        return NULL;
    json_t *arr = json_array();
    for (size_t i = 0; i < r->n_traces; i++)
        json_array_append_new(arr, record_obj(&r->traces[i]));
    return dump(json_pack("{s:o s:I s:I s:I}", "traces", arr, "total", (json_int_t)r->total, "page",
                          (json_int_t)r->page, "page_size", (json_int_t)r->page_size));
}

char *weft_trace_overview_to_json(const weft_trace_overview *o)
{
    if (!o)
        return NULL;
    return dump(json_pack("{s:o s:o s:f s:o s:I s:I}", "trace_id", js(o->trace_id), "status", js(o->status),
                          "duration_ms", o->duration_ms, "total_cost", jcost(o->has_total_cost, o->total_cost),
                          "llm_calls", (json_int_t)o->llm_calls, "tool_calls", (json_int_t)o->tool_calls));
}

static json_t *summary_obj(const weft_trace_summary *s)
{
    json_t *tags = json_array();
    for (size_t i = 0; i < s->n_tags; i++)
        json_array_append_new(tags, js(s->tags[i]));
    return json_pack("{s:o s:o s:o s:f s:o s:I s:I s:I s:I s:I s:I s:I s:I s:o s:o}", "trace_id", js(s->trace_id),
                     "project_id", js(s->project_id), "status", js(s->status), "duration_ms", s->duration_ms,
                     "total_cost", jcost(s->has_total_cost, s->total_cost), "total_tokens",
                     (json_int_t)s->total_tokens, "input_tokens", (json_int_t)s->input_tokens, "output_tokens",
                     (json_int_t)s->output_tokens, "llm_calls", (json_int_t)s->llm_calls, "tool_calls",
                     (json_int_t)s->tool_calls, "retrieval_calls", (json_int_t)s->retrieval_calls,
                     "message_count", (json_int_t)s->message_count, "span_count", (json_int_t)s->span_count,
                     "tags", tags, "custom_fields", jtext(s->custom_fields, "{}"));
}

char *weft_trace_summary_to_json(const weft_trace_summary *s) { return s ? dump(summary_obj(s)) : NULL; }

static json_t *message_obj(const weft_trace_message *m)
{
    return json_pack("{s:o s:o s:o s:o s:o s:o}", "role", js(m->role), "content", js(m->content), "timestamp",
                     js(m->timestamp), "tool_calls", jtext(m->tool_calls, "[]"), "tool_call_id",
                     js(m->tool_call_id), "name", js(m->name));
}

char *weft_trace_message_to_json(const weft_trace_message *m) { return m ? dump(message_obj(m)) : NULL; }

static json_t *span_obj(const weft_trace_span *s)
{
    return json_pack("{s:o s:o s:o s:o s:o s:o s:o s:o s:o s:o}", "span_id", js(s->span_id), "name", js(s->name),
                     "kind", js(s->kind), "parent_span_id", js(s->parent_span_id), "start_time",
                     js(s->start_time), "end_time", js(s->end_time), "duration_ms",
                     s->has_duration ? json_real(s->duration_ms) : json_null(), "status", js(s->status),
                     "attributes", jtext(s->attributes, "{}"), "events", jtext(s->events, "[]"));
}

char *weft_trace_span_to_json(const weft_trace_span *s) { return s ? dump(span_obj(s)) : NULL; }

static json_t *retrieval_obj(const weft_trace_retrieval *q)
{
    json_t *hits = json_array();
    for (size_t i = 0; i < q->n_hits; i++) {
        const weft_trace_hit *h = &q->hits[i];
        json_t *span = h->has_span ? json_pack("[II]", (json_int_t)h->span_start, (json_int_t)h->span_end)
                                   : json_null();
        json_array_append_new(hits, json_pack("{s:o s:I s:f s:o s:o s:o}", "doc_id", js(h->doc_id), "rank",
                                              (json_int_t)h->rank, "score", h->score, "span", span,
                                              "snippet_preview", js(h->snippet_preview), "metadata",
                                              jtext(h->metadata, NULL)));
    }
    return json_pack("{s:o s:o s:o s:o s:o s:o s:o s:f s:o s:I}", "span_id", js(q->span_id), "name", js(q->name),
                     "query", js(q->query), "retriever", js(q->retriever), "embedding_model",
                     js(q->embedding_model), "top_k", q->top_k ? json_integer(q->top_k) : json_null(),
                     "similarity_threshold",
                     q->has_similarity_threshold ? json_real(q->similarity_threshold) : json_null(),
                     "latency_ms", q->latency_ms, "hits", hits, "hits_dropped", (json_int_t)q->hits_dropped);
}

static json_t *problems_arr(const weft_trace_problem *p, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:o s:o s:o}", "span_id", js(p[i].span_id), "name", js(p[i].name),
                                           "message", js(p[i].message)));
    return a;
}

static json_t *node_obj(const weft_trace_full_result *t, const weft_trace_node *node)
{
    const weft_trace_span *s = &t->spans[node->span];
    json_t *kids = json_array();
    for (size_t i = 0; i < node->n_children; i++)
        json_array_append_new(kids, node_obj(t, &node->children[i]));
    return json_pack("{s:o s:o s:o s:o s:o s:o}", "span_id", js(s->span_id), "name", js(s->name), "kind",
                     js(s->kind), "status", js(s->status), "duration_ms",
                     s->has_duration ? json_real(s->duration_ms) : json_null(), "children", kids);
}

char *weft_trace_full_result_to_json(const weft_trace_full_result *t)
{
    if (!t)
        return NULL;
    json_t *msgs = json_array(), *spans = json_array(), *rets = json_array(), *tree = json_array();
    for (size_t i = 0; i < t->n_messages; i++)
        json_array_append_new(msgs, message_obj(&t->messages[i]));
    for (size_t i = 0; i < t->n_spans; i++)
        json_array_append_new(spans, span_obj(&t->spans[i]));
    for (size_t i = 0; i < t->n_retrievals; i++)
        json_array_append_new(rets, retrieval_obj(&t->retrievals[i]));
    for (size_t i = 0; i < t->n_execution_tree; i++)
        json_array_append_new(tree, node_obj(t, &t->execution_tree[i]));
    const weft_trace_diagnostics *d = &t->diagnostics;
    json_t *diag = json_pack("{s:o s:o s:o s:o}", "errors", problems_arr(d->errors, d->n_errors), "in_progress",
                             problems_arr(d->in_progress, d->n_in_progress), "truncations",
                             problems_arr(d->truncations, d->n_truncations), "dropped",
                             problems_arr(d->dropped, d->n_dropped));
    return dump(json_pack("{s:o s:o s:o s:o s:o s:o s:o s:o}", "trace_id", js(t->trace_id), "metadata",
                          jtext(t->metadata, "{}"), "summary", summary_obj(&t->summary), "messages", msgs, "spans",
                          spans, "retrievals", rets, "diagnostics", diag, "execution_tree", tree));
}

char *weft_trace_eval_step_to_json(const weft_trace_eval_step *s, const char *trace_id)
{
    if (!s)
        return NULL;
    bool skipped = s->status && !strcmp(s->status, "skipped");
    json_t *o = json_object();
    if (trace_id)
        json_object_set_new(o, "trace_id", json_string(trace_id));
    json_object_set_new(o, "metric", js(s->metric));
    json_object_set_new(o, "score", skipped ? json_null() : json_real(s->score));
    json_object_set_new(o, "explanation", js(s->explanation));
    json_object_set_new(o, "status", js(s->status));
    json_object_set_new(o, "input_text", js(s->input_text));
    json_object_set_new(o, "output_text", js(s->output_text));
    json_object_set_new(o, "context", js(s->context));
    return dump(o);
}
