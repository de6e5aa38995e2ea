/*
 * test_rag.c — the RAG and LLM setters (src/produce/rag_set.c) and their mapping
 * (src/assemble/rag_map.c), field by field.
 *
 * Two layers: the consumer half alone (an event encoded with rag_set.c's own plan/write into a
 * buffer, applied to a hand-built record, the record's entries read back with jansson), which
 * pins the mapping of DESIGN.md section 5 and the fitting rules; and end to end (weft_init with
 * the memory exporter, real spans, the exported JSON lines), which pins what reaches an
 * exporter.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "rag.h"
#include "rag_event.h"
#include "record.h"
#include "runtime.h"
#include "weft_test.h"

/* ---- consumer-half harness ----------------------------------------------------------- */

typedef struct view {
    json_t *sec[3]; /* input, output, metadata */
} view;

static void collect(void *ctx, weft_section sec, const char *key, size_t key_len, const char *json, size_t json_len,
                    int kind)
{
    view *v = ctx;
    json_error_t err;
    json_t *val = json_loadb(json, json_len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    cr_assert(val, "entry %.*s is not valid JSON (%s): %.*s", (int)key_len, key, err.text, (int)json_len, json);
    cr_assert(memchr(json, '\n', json_len) == NULL, "a value must not break a JSONL line");
    char k[128];
    snprintf(k, sizeof k, "%.*s", (int)key_len, key);
    if (kind == WEFT__ENT_APPEND) {
        json_t *arr = json_object_get(v->sec[sec], k);
        if (!arr) {
            arr = json_array();
            json_object_set_new(v->sec[sec], k, arr);
        }
        json_array_append_new(arr, val);
    } else {
        json_object_set_new(v->sec[sec], k, val); /* the last set wins, as in the encoder */
    }
}

static view rec_view(const weft__rec *r)
{
    view v = {{json_object(), json_object(), json_object()}};
    weft__rec_foreach(r, collect, &v);
    return v;
}

static void view_free(view *v)
{
    for (int i = 0; i < 3; i++)
        json_decref(v->sec[i]);
}

#define IN(v, k) json_object_get((v).sec[WEFT_INPUT], k)
#define OUT(v, k) json_object_get((v).sec[WEFT_OUTPUT], k)
#define META(v, k) json_object_get((v).sec[WEFT_METADATA], k)

/* An event of `kind` holding p->len payload bytes, the header filled in. */
static weft__ev *new_event(unsigned kind, unsigned aux, const weft__rag_plan *p)
{
    cr_assert_eq(p->len % 8, 0, "payload length %zu is not a multiple of 8", p->len);
    /* One canary word after the payload: write must stop at exactly p->len. */
    uint64_t *mem = malloc(sizeof(weft__ev) + p->len + 8);
    cr_assert(mem);
    weft__ev *ev = (weft__ev *)mem;
    ev->size = (uint32_t)(sizeof *ev + p->len);
    ev->kind = (uint16_t)kind;
    ev->aux = (uint16_t)aux;
    ev->span = 42;
    memcpy((char *)(ev + 1) + p->len, "CANARY!!", 8);
    return ev;
}

static void check_canary(const weft__ev *ev)
{
    cr_assert(memcmp((const char *)ev + ev->size, "CANARY!!", 8) == 0, "write went past the planned length");
}

#define MAXP ((size_t)256 * 1024) /* the default ring's event payload limit, about */

static weft__buf scratch;

static void setup(void) { weft__buf_init(&scratch); }
static void teardown(void) { weft__buf_fini(&scratch); }

static void apply_retrieval(weft__rec *r, const weft_retrieval_info *info, size_t max)
{
    weft__rag_plan p;
    cr_assert(weft__rag_plan_retrieval(&p, info, max));
    cr_assert_leq(p.len, max);
    weft__ev *ev = new_event(WEFT__EV_RETRIEVAL, 0, &p);
    weft__rag_write_retrieval(ev + 1, info, &p);
    check_canary(ev);
    weft__rag_apply(r, ev, &scratch);
    free(ev);
}

static weft__rag_plan apply_generation(weft__rec *r, const weft_generation_info *info, size_t max)
{
    weft__rag_plan p;
    cr_assert(weft__rag_plan_generation(&p, info, max));
    cr_assert_leq(p.len, max);
    weft__ev *ev = new_event(WEFT__EV_GENERATION, 0, &p);
    weft__rag_write_generation(ev + 1, info, &p);
    check_canary(ev);
    weft__rag_apply(r, ev, &scratch);
    free(ev);
    return p;
}

static void apply_usage(weft__rec *r, const weft_usage *u)
{
    weft__rag_plan p;
    cr_assert(weft__rag_plan_usage(&p, u, MAXP));
    weft__ev *ev = new_event(WEFT__EV_USAGE, 0, &p);
    weft__rag_write_usage(ev + 1, u, &p);
    check_canary(ev);
    weft__rag_apply(r, ev, &scratch);
    free(ev);
}

static void apply_message(weft__rec *r, weft_section sec, const weft_message *m)
{
    weft__rag_plan p;
    cr_assert(weft__rag_plan_message(&p, m, MAXP));
    weft__ev *ev = new_event(WEFT__EV_MESSAGE, (unsigned)sec, &p);
    weft__rag_write_message(ev + 1, m, &p);
    check_canary(ev);
    weft__rag_apply(r, ev, &scratch);
    free(ev);
}

static double num(json_t *v)
{
    cr_assert(json_is_number(v), "not a number");
    return json_number_value(v);
}

static const char *str(json_t *v)
{
    cr_assert(json_is_string(v), "not a string");
    return json_string_value(v);
}

static void assert_span(json_t *span, int64_t s, int64_t e)
{
    cr_assert(json_is_array(span) && json_array_size(span) == 2, "span is not [start, end]");
    cr_assert_eq(json_integer_value(json_array_get(span, 0)), s);
    cr_assert_eq(json_integer_value(json_array_get(span, 1)), e);
}

/* ---- retrieval ----------------------------------------------------------------------- */

static const weft_document_hit two_hits[] = {
    {.doc_id = "kb-1", .rank = 1, .score = 12.5, .has_span = true, .span_start = 10, .span_end = 90,
     .snippet = "Ring buffers are fast.", .metadata_json = "{\"source\": \"wiki\", \"page\": 3}"},
    {.doc_id = "kb-2", .rank = 2, .score = 7.25},
};

Test(rag_consumer, maps_every_retrieval_field_that_is_set, .init = setup, .fini = teardown)
{
    weft_retrieval_info info = {
        .retriever = "bm25", .embedding_model = "none", .chunk_size = 512, .chunk_overlap = 64, .top_k = 2,
        .has_similarity_threshold = true, .similarity_threshold = 0.25, .query = "what is a ring buffer?",
        .hits = two_hits, .n_hits = 2, .latency_ms = 3.5,
    };
    weft__rec r;
    weft__rec_init(&r);
    apply_retrieval(&r, &info, MAXP);
    view v = rec_view(&r);

    cr_assert_str_eq(str(IN(v, "query")), "what is a ring buffer?");
    cr_assert_eq(num(IN(v, "top_k")), 2);
    cr_assert_float_eq(num(IN(v, "similarity_threshold")), 0.25, 1e-12);
    cr_assert_eq(json_object_size(v.sec[WEFT_INPUT]), 3);

    cr_assert_str_eq(str(META(v, "retriever")), "bm25");
    cr_assert_str_eq(str(META(v, "embedding_model")), "none");
    cr_assert_eq(num(META(v, "chunk_size")), 512);
    cr_assert_eq(num(META(v, "chunk_overlap")), 64);
    cr_assert_float_eq(num(META(v, "latency_ms")), 3.5, 1e-12);
    cr_assert_eq(json_object_size(v.sec[WEFT_METADATA]), 5);
    cr_assert_not(r.needs_retrieval_latency);

    json_t *hits = OUT(v, "hits");
    cr_assert(json_is_array(hits) && json_array_size(hits) == 2);
    json_t *h0 = json_array_get(hits, 0);
    cr_assert_str_eq(str(json_object_get(h0, "doc_id")), "kb-1");
    cr_assert_eq(num(json_object_get(h0, "rank")), 1);
    cr_assert_float_eq(num(json_object_get(h0, "score")), 12.5, 1e-12);
    assert_span(json_object_get(h0, "span"), 10, 90);
    cr_assert_str_eq(str(json_object_get(h0, "snippet_preview")), "Ring buffers are fast.");
    json_t *meta = json_object_get(h0, "metadata");
    cr_assert(json_is_object(meta), "metadata is embedded as an object");
    cr_assert_str_eq(str(json_object_get(meta, "source")), "wiki");
    cr_assert_eq(num(json_object_get(meta, "page")), 3);
    cr_assert_eq(json_object_size(h0), 6);

    json_t *h1 = json_array_get(hits, 1);
    cr_assert_str_eq(str(json_object_get(h1, "doc_id")), "kb-2");
    cr_assert_eq(json_object_size(h1), 3, "unset span, snippet and metadata are omitted");
    cr_assert_eq(json_object_size(v.sec[WEFT_OUTPUT]), 1);
    view_free(&v);
    weft__rec_fini(&r);
}

Test(rag_consumer, omits_every_retrieval_field_left_unset, .init = setup, .fini = teardown)
{
    weft_document_hit hit = {.doc_id = "only-id"};
    weft_retrieval_info info = {.hits = &hit, .n_hits = 1};
    weft__rec r;
    weft__rec_init(&r);
    apply_retrieval(&r, &info, MAXP);
    view v = rec_view(&r);
    cr_assert_eq(json_object_size(v.sec[WEFT_INPUT]), 0);
    cr_assert_eq(json_object_size(v.sec[WEFT_METADATA]), 0, "latency_ms waits for the span's end");
    json_t *h = json_array_get(OUT(v, "hits"), 0);
    cr_assert_eq(json_object_size(h), 2, "doc_id and score: the DocumentHit model requires score");
    cr_assert(json_is_number(json_object_get(h, "score")) && json_number_value(json_object_get(h, "score")) == 0.0);
    cr_assert_str_eq(str(json_object_get(h, "doc_id")), "only-id");
    cr_assert(r.needs_retrieval_latency);
    view_free(&v);
    weft__rec_fini(&r);
}

Test(rag_consumer, sends_an_empty_hits_array_for_a_retrieval_that_found_nothing, .init = setup, .fini = teardown)
{
    weft_retrieval_info info = {.query = "nothing matches"};
    weft__rec r;
    weft__rec_init(&r);
    apply_retrieval(&r, &info, MAXP);
    view v = rec_view(&r);
    cr_assert(json_is_array(OUT(v, "hits")) && json_array_size(OUT(v, "hits")) == 0);
    view_free(&v);
    weft__rec_fini(&r);
}

Test(rag_consumer, sends_a_zero_similarity_threshold_when_flagged, .init = setup, .fini = teardown)
{
    weft_retrieval_info info = {.has_similarity_threshold = true, .similarity_threshold = 0.0};
    weft__rec r;
    weft__rec_init(&r);
    apply_retrieval(&r, &info, MAXP);
    view v = rec_view(&r);
    cr_assert(json_is_number(IN(v, "similarity_threshold")));
    cr_assert_eq(num(IN(v, "similarity_threshold")), 0.0);
    view_free(&v);
    weft__rec_fini(&r);
}

Test(rag_consumer, takes_latencies_left_at_zero_from_the_span_duration, .init = setup, .fini = teardown)
{
    weft_retrieval_info info = {.query = "q"};
    weft_generation_info gen = {.answer = "A."};
    weft__rec r;
    weft__rec_init(&r);
    r.start_ns = 1000000000ull;
    apply_retrieval(&r, &info, MAXP);
    apply_generation(&r, &gen, MAXP);
    cr_assert(r.needs_retrieval_latency && r.needs_generation_latency);
    weft__rag_on_end(&r, &scratch); /* not ended yet: nothing */
    cr_assert(r.needs_retrieval_latency);
    r.end_ns = r.start_ns + 12500000ull; /* 12.5 ms */
    weft__rag_on_end(&r, &scratch);
    view v = rec_view(&r);
    cr_assert_float_eq(num(META(v, "latency_ms")), 12.5, 1e-9);
    cr_assert_float_eq(num(META(v, "generation_latency_ms")), 12.5, 1e-9);
    cr_assert_not(r.needs_retrieval_latency || r.needs_generation_latency);
    view_free(&v);
    weft__rec_fini(&r);
}

Test(rag_consumer, keeps_200_characters_of_a_snippet_without_splitting_utf8, .init = setup, .fini = teardown)
{
    /* 150 two-byte characters, then 100 four-byte ones: the preview ends after 50 of those. */
    char snippet[150 * 2 + 100 * 4 + 1], expect[150 * 2 + 50 * 4 + 1];
    size_t n = 0;
    for (int i = 0; i < 150; i++)
        n += (size_t)sprintf(snippet + n, "\xC3\xA9");
    for (int i = 0; i < 100; i++)
        n += (size_t)sprintf(snippet + n, "\xF0\x9F\x94\x8D");
    memcpy(expect, snippet, sizeof expect - 1);
    expect[sizeof expect - 1] = 0;
    weft_document_hit hit = {.doc_id = "d", .snippet = snippet};
    weft_retrieval_info info = {.hits = &hit, .n_hits = 1};
    weft__rec r;
    weft__rec_init(&r);
    apply_retrieval(&r, &info, MAXP);
    view v = rec_view(&r);
    const char *prev = str(json_object_get(json_array_get(OUT(v, "hits"), 0), "snippet_preview"));
    cr_assert_str_eq(prev, expect);
    cr_assert_eq(weft__utf8_count(prev, strlen(prev)), 200);
    view_free(&v);
    weft__rec_fini(&r);
}

Test(rag_consumer, keeps_invalid_metadata_json_as_metadata_raw_and_counts_it, .init = setup, .fini = teardown)
{
    weft_document_hit hits[] = {
        {.doc_id = "a", .metadata_json = "{\"unterminated\": "},
        {.doc_id = "b", .metadata_json = "[1, 2]"}, /* valid JSON, but not an object */
        {.doc_id = "c", .metadata_json = "{\n  \"pretty\": \"a b\",\n  \"n\": [1, 2]\n}\n"},
    };
    weft_retrieval_info info = {.hits = hits, .n_hits = 3};
    uint64_t before = weft__stat_get(invalid_json);
    weft__rec r;
    weft__rec_init(&r);
    apply_retrieval(&r, &info, MAXP);
    view v = rec_view(&r);
    json_t *h = OUT(v, "hits");
    cr_assert_str_eq(str(json_object_get(json_array_get(h, 0), "metadata_raw")), "{\"unterminated\": ");
    cr_assert_null(json_object_get(json_array_get(h, 0), "metadata"));
    cr_assert_str_eq(str(json_object_get(json_array_get(h, 1), "metadata_raw")), "[1, 2]");
    json_t *m = json_object_get(json_array_get(h, 2), "metadata");
    cr_assert_str_eq(str(json_object_get(m, "pretty")), "a b", "whitespace inside strings is kept");
    cr_assert_eq(json_array_size(json_object_get(m, "n")), 2);
    cr_assert_eq(weft__stat_get(invalid_json) - before, 2);
    view_free(&v);
    weft__rec_fini(&r);
}

/* ---- generation ---------------------------------------------------------------------- */

static const weft_citation cits[] = {
    {.doc_id = "kb-1", .has_span = true, .span_start = 10, .span_end = 40, .confidence = 0.9,
     .relevance_score = 0.75},
    {.doc_id = "kb-2"},
};

Test(rag_consumer, maps_every_generation_field_that_is_set, .init = setup, .fini = teardown)
{
    const char *steps[] = {"look up rings", NULL, "answer"};
    weft_format_check fc = {.is_complete = false, .refusal = true, .contains_citations = true,
                            .length_tokens = 7, .length_chars = 30, .citation_count = 2,
                            .language = "en", .format_type = "text"};
    weft_generation_info gen = {
        .answer = "Rings are fast [1].", .citations = cits, .n_citations = 2, .format_check = &fc,
        .model_used = "demo-1", .prompt_template = "qa-v2", .context_length = 4096,
        .generation_latency_ms = 250.5, .reasoning_trace = steps, .n_reasoning = 3,
    };
    weft__rec r;
    weft__rec_init(&r);
    apply_generation(&r, &gen, MAXP);
    view v = rec_view(&r);

    cr_assert_str_eq(str(OUT(v, "answer")), "Rings are fast [1].");
    json_t *c = OUT(v, "citations");
    cr_assert_eq(json_array_size(c), 2);
    json_t *c0 = json_array_get(c, 0);
    cr_assert_str_eq(str(json_object_get(c0, "doc_id")), "kb-1");
    assert_span(json_object_get(c0, "span"), 10, 40);
    cr_assert_float_eq(num(json_object_get(c0, "confidence")), 0.9, 1e-12);
    cr_assert_float_eq(num(json_object_get(c0, "relevance_score")), 0.75, 1e-12);
    cr_assert_eq(json_object_size(c0), 4);
    json_t *c1 = json_array_get(c, 1);
    cr_assert_eq(json_object_size(c1), 1, "unset span, confidence and relevance are omitted");

    /* The caller's format check, as given (all eight fields). */
    json_t *f = OUT(v, "format_check");
    cr_assert_eq(json_object_size(f), 8);
    cr_assert(json_is_false(json_object_get(f, "is_complete")));
    cr_assert(json_is_true(json_object_get(f, "refusal")));
    cr_assert(json_is_true(json_object_get(f, "contains_citations")));
    cr_assert_eq(num(json_object_get(f, "length_tokens")), 7);
    cr_assert_eq(num(json_object_get(f, "length_chars")), 30);
    cr_assert_eq(num(json_object_get(f, "citation_count")), 2);
    cr_assert_str_eq(str(json_object_get(f, "language")), "en");
    cr_assert_str_eq(str(json_object_get(f, "format_type")), "text");
    cr_assert_eq(json_object_size(v.sec[WEFT_OUTPUT]), 3);

    cr_assert_str_eq(str(META(v, "model_used")), "demo-1");
    cr_assert_str_eq(str(META(v, "prompt_template")), "qa-v2");
    cr_assert_eq(num(META(v, "context_length")), 4096);
    cr_assert_float_eq(num(META(v, "generation_latency_ms")), 250.5, 1e-12);
    json_t *rt = META(v, "reasoning_trace");
    cr_assert_eq(json_array_size(rt), 2, "a NULL step is skipped");
    cr_assert_str_eq(str(json_array_get(rt, 0)), "look up rings");
    cr_assert_str_eq(str(json_array_get(rt, 1)), "answer");
    cr_assert_eq(json_object_size(v.sec[WEFT_METADATA]), 5);
    cr_assert_eq(json_object_size(v.sec[WEFT_INPUT]), 0);
    view_free(&v);
    weft__rec_fini(&r);
}

Test(rag_consumer, omits_unset_generation_fields_and_computes_the_format_check, .init = setup, .fini = teardown)
{
    weft_generation_info gen = {.answer = "Paris is the capital [1][kb-9]."};
    weft__rec r;
    weft__rec_init(&r);
    apply_generation(&r, &gen, MAXP);
    view v = rec_view(&r);
    cr_assert_eq(json_object_size(v.sec[WEFT_OUTPUT]), 2, "answer and format_check only");
    cr_assert_null(OUT(v, "citations"));
    cr_assert_eq(json_object_size(v.sec[WEFT_METADATA]), 0);
    cr_assert(r.needs_generation_latency);
    json_t *f = OUT(v, "format_check");
    cr_assert_eq(json_object_size(f), 7, "language is omitted unless given");
    cr_assert(json_is_true(json_object_get(f, "is_complete")));
    cr_assert(json_is_false(json_object_get(f, "refusal")));
    cr_assert(json_is_true(json_object_get(f, "contains_citations")));
    cr_assert_eq(num(json_object_get(f, "citation_count")), 2);
    cr_assert_eq(num(json_object_get(f, "length_chars")), 31);
    cr_assert_eq(num(json_object_get(f, "length_tokens")), 8);
    cr_assert_str_eq(str(json_object_get(f, "format_type")), "text");
    view_free(&v);
    weft__rec_fini(&r);
}

Test(rag_consumer, matches_answer_markers_against_the_citations_given, .init = setup, .fini = teardown)
{
    weft_generation_info gen = {.answer = "As an AI I must say: [1], [kb-2] and [kb-3], then", .citations = cits,
                                .n_citations = 2};
    weft__rec r;
    weft__rec_init(&r);
    apply_generation(&r, &gen, MAXP);
    view v = rec_view(&r);
    json_t *f = OUT(v, "format_check");
    cr_assert_eq(num(json_object_get(f, "citation_count")), 3, "two given plus kb-3");
    cr_assert(json_is_true(json_object_get(f, "refusal")));
    cr_assert(json_is_false(json_object_get(f, "is_complete")));
    view_free(&v);
    weft__rec_fini(&r);
}

Test(rag_consumer, detects_the_format_type_when_a_given_check_has_none, .init = setup, .fini = teardown)
{
    weft_format_check fc = {.is_complete = true, .length_chars = 9};
    weft_generation_info gen = {.answer = "{\"a\": 1}", .format_check = &fc};
    weft__rec r;
    weft__rec_init(&r);
    apply_generation(&r, &gen, MAXP);
    view v = rec_view(&r);
    json_t *f = OUT(v, "format_check");
    cr_assert_str_eq(str(json_object_get(f, "format_type")), "json");
    cr_assert_eq(num(json_object_get(f, "length_chars")), 9, "the given fields are kept as given");
    cr_assert_eq(num(json_object_get(f, "citation_count")), 0);
    view_free(&v);
    weft__rec_fini(&r);
}

/* ---- fitting and truncation -------------------------------------------------------- */

Test(rag_consumer, cuts_strings_longer_than_max_attr_bytes_and_marks_them, .init = setup, .fini = teardown)
{
    weft__rt.hot.max_attr_bytes = 16;
    uint64_t before = weft__stat_get(truncated_attrs);
    weft_generation_info gen = {.answer = "0123456789abcdefghij. More."};
    weft__rec r;
    weft__rec_init(&r);
    apply_generation(&r, &gen, MAXP);
    view v = rec_view(&r);
    cr_assert_str_eq(str(OUT(v, "answer")), "0123456789abcdef\xE2\x80\xA6[truncated 11 bytes]");
    /* The format check describes the whole answer, not the kept part. */
    cr_assert_eq(num(json_object_get(OUT(v, "format_check"), "length_chars")), 27);
    cr_assert(json_is_true(json_object_get(OUT(v, "format_check"), "is_complete")));
    cr_assert_eq(weft__stat_get(truncated_attrs) - before, 1);
    view_free(&v);
    weft__rec_fini(&r);
}

Test(rag_consumer, fits_an_answer_too_big_for_the_ring_and_checks_the_whole_of_it, .init = setup,
     .fini = teardown)
{
    /* 5000 three-byte characters and a closing period; room for 1 KiB. */
    size_t n = 5000 * 3 + 1;
    char *answer = malloc(n + 1);
    for (size_t i = 0; i < 5000; i++)
        memcpy(answer + 3 * i, "\xE2\x82\xAC", 3); /* € */
    answer[n - 1] = '.';
    answer[n] = 0;
    weft_generation_info gen = {.answer = answer, .citations = cits, .n_citations = 2, .model_used = "m"};
    weft__rec r;
    weft__rec_init(&r);
    weft__rag_plan p = apply_generation(&r, &gen, 1024);
    cr_assert(p.fc_computed);
    cr_assert_eq(p.cuts, 1, "only the answer is cut");
    view v = rec_view(&r);
    const char *a = str(OUT(v, "answer"));
    const char *mark = strstr(a, "\xE2\x80\xA6[truncated ");
    cr_assert(mark, "the cut is marked");
    size_t kept = (size_t)(mark - a);
    cr_assert_eq(kept % 3, 0, "cut at a character boundary");
    unsigned long lost;
    cr_assert_eq(sscanf(mark + 3, "[truncated %lu bytes]", &lost), 1);
    cr_assert_eq(kept + lost, n, "the marker says how much of the caller's answer is missing");
    json_t *f = OUT(v, "format_check");
    cr_assert_eq(num(json_object_get(f, "length_chars")), 5001);
    cr_assert(json_is_true(json_object_get(f, "is_complete")), "the whole answer ends with a period");
    cr_assert_str_eq(str(json_object_get(f, "format_type")), "text");
    cr_assert_eq(json_array_size(OUT(v, "citations")), 2);
    cr_assert_str_eq(str(META(v, "model_used")), "m");
    view_free(&v);
    weft__rec_fini(&r);
    free(answer);
}

Test(rag_consumer, leaves_out_trailing_hits_that_cannot_fit_and_says_how_many, .init = setup, .fini = teardown)
{
    weft_document_hit hits[200];
    char ids[200][16];
    for (int i = 0; i < 200; i++) {
        snprintf(ids[i], sizeof ids[i], "doc-%d", i);
        hits[i] = (weft_document_hit){.doc_id = ids[i], .rank = i + 1, .score = 1.0};
    }
    weft_retrieval_info info = {.hits = hits, .n_hits = 200, .query = "q"};
    weft__rag_plan p;
    cr_assert(weft__rag_plan_retrieval(&p, &info, 4096));
    cr_assert_lt(p.n_items, 200);
    cr_assert_gt(p.n_items, 10);
    weft__rec r;
    weft__rec_init(&r);
    apply_retrieval(&r, &info, 4096);
    view v = rec_view(&r);
    size_t kept = json_array_size(OUT(v, "hits"));
    cr_assert_eq(kept, p.n_items);
    cr_assert_eq(num(OUT(v, "hits_dropped")), 200 - (double)kept);
    cr_assert_str_eq(str(json_object_get(json_array_get(OUT(v, "hits"), kept - 1), "doc_id")), ids[kept - 1],
                     "the leading hits are the ones kept");
    view_free(&v);
    weft__rec_fini(&r);
}

Test(rag_consumer, writes_every_string_right_beyond_the_plans_length_cache, .init = setup, .fini = teardown)
{
    /* 40 hits of 3 strings each: more than WEFT__RAG_LENS, so the write recomputes the rest. */
    enum { H = 40 };
    weft_document_hit hits[H];
    char ids[H][16], snips[H][32], metas[H][32];
    for (int i = 0; i < H; i++) {
        snprintf(ids[i], sizeof ids[i], "doc-%d", i);
        snprintf(snips[i], sizeof snips[i], "snippet \xC3\xA9 %d", i * 7);
        snprintf(metas[i], sizeof metas[i], "{\"i\":%d}", i);
        hits[i] = (weft_document_hit){.doc_id = ids[i], .snippet = snips[i], .metadata_json = metas[i]};
    }
    weft_retrieval_info info = {.retriever = "r", .query = "q", .hits = hits, .n_hits = H};
    cr_assert_gt(3 + 3 * H, WEFT__RAG_LENS);
    weft__rec r;
    weft__rec_init(&r);
    apply_retrieval(&r, &info, MAXP);
    view v = rec_view(&r);
    json_t *arr = OUT(v, "hits");
    cr_assert_eq(json_array_size(arr), H);
    for (int i = 0; i < H; i++) {
        json_t *h = json_array_get(arr, (size_t)i);
        cr_assert_str_eq(str(json_object_get(h, "doc_id")), ids[i]);
        cr_assert_str_eq(str(json_object_get(h, "snippet_preview")), snips[i]);
        cr_assert_eq(num(json_object_get(json_object_get(h, "metadata"), "i")), i);
    }
    view_free(&v);
    weft__rec_fini(&r);
}

Test(rag_consumer, repairs_invalid_utf8_in_every_string, .init = setup, .fini = teardown)
{
    weft_message m = {.role = "user", .content = "bad \xFF byte", .name = "n\xC3"};
    weft__rec r;
    weft__rec_init(&r);
    apply_message(&r, WEFT_INPUT, &m);
    view v = rec_view(&r);
    json_t *msg = json_array_get(IN(v, "messages"), 0);
    cr_assert_str_eq(str(json_object_get(msg, "content")), "bad \xEF\xBF\xBD byte");
    cr_assert_str_eq(str(json_object_get(msg, "name")), "n\xEF\xBF\xBD");
    view_free(&v);
    weft__rec_fini(&r);
}

/* ---- usage --------------------------------------------------------------------------- */

static const weft_model_price prices[] = {
    {.model = "gpt-demo", .input_usd_per_mtok = 2.0, .output_usd_per_mtok = 8.0},
};

Test(rag_consumer, maps_usage_and_computes_cost_from_the_price_table, .init = setup, .fini = teardown)
{
    weft__rt.cfg.prices = (weft_model_price *)prices;
    weft__rt.cfg.n_prices = 1;
    weft_usage u = {.model = "gpt-demo", .input_tokens = 1000, .output_tokens = 500};
    weft__rec r;
    weft__rec_init(&r);
    apply_usage(&r, &u);
    view v = rec_view(&r);
    cr_assert_str_eq(str(META(v, "model")), "gpt-demo");
    cr_assert_eq(num(META(v, "input_tokens")), 1000);
    cr_assert_eq(num(META(v, "output_tokens")), 500);
    cr_assert_eq(num(META(v, "total_tokens")), 1500);
    cr_assert_float_eq(num(META(v, "cost_usd")), 0.006, 1e-12); /* 1000*2/1e6 + 500*8/1e6 */
    cr_assert(r.has_usage && r.has_cost);
    cr_assert_eq(r.input_tokens, 1000);
    cr_assert_eq(r.output_tokens, 500);
    view_free(&v);
    weft__rec_fini(&r);
    weft__rt.cfg.prices = NULL;
    weft__rt.cfg.n_prices = 0;
}

Test(rag_consumer, sums_usage_set_twice_and_prefers_a_given_cost, .init = setup, .fini = teardown)
{
    weft__rt.cfg.prices = (weft_model_price *)prices;
    weft__rt.cfg.n_prices = 1;
    weft_usage a = {.model = "gpt-demo", .input_tokens = 100, .output_tokens = 10, .has_cost = true, .cost_usd = 0.5};
    weft_usage b = {.model = "gpt-demo", .input_tokens = 1000000, .output_tokens = 0};
    weft__rec r;
    weft__rec_init(&r);
    apply_usage(&r, &a);
    apply_usage(&r, &b);
    view v = rec_view(&r);
    cr_assert_eq(num(META(v, "input_tokens")), 1000100);
    cr_assert_eq(num(META(v, "output_tokens")), 10);
    cr_assert_eq(num(META(v, "total_tokens")), 1000110);
    cr_assert_float_eq(num(META(v, "cost_usd")), 2.5, 1e-12, "0.5 given + 2.0 computed");
    cr_assert_float_eq(r.cost_usd, 2.5, 1e-12);
    view_free(&v);
    weft__rec_fini(&r);
    weft__rt.cfg.prices = NULL;
    weft__rt.cfg.n_prices = 0;
}

Test(rag_consumer, omits_cost_and_model_when_neither_is_known, .init = setup, .fini = teardown)
{
    weft_usage u = {.input_tokens = 0, .output_tokens = 3};
    weft_usage unlisted = {.model = "unlisted", .input_tokens = 1, .output_tokens = 1};
    weft__rec r;
    weft__rec_init(&r);
    apply_usage(&r, &u);
    view v = rec_view(&r);
    cr_assert_null(META(v, "model"));
    cr_assert_null(META(v, "cost_usd"));
    cr_assert_eq(num(META(v, "input_tokens")), 0, "token counts are always sent");
    cr_assert_eq(num(META(v, "total_tokens")), 3);
    view_free(&v);
    apply_usage(&r, &unlisted);
    v = rec_view(&r);
    cr_assert_str_eq(str(META(v, "model")), "unlisted");
    cr_assert_null(META(v, "cost_usd"));
    cr_assert_not(r.has_cost);
    view_free(&v);
    weft__rec_fini(&r);
}

/* ---- messages ------------------------------------------------------------------------ */

Test(rag_consumer, appends_messages_in_order_to_input_and_output, .init = setup, .fini = teardown)
{
    weft_message sys = {.role = "system", .content = "Be brief."};
    weft_message user = {.role = "user", .content = "Hi", .name = "ana"};
    weft_message tool = {.role = "tool", .content = "42", .tool_call_id = "call_1"};
    weft_message asst = {.role = "assistant", .content = "The answer is 42."};
    weft__rec r;
    weft__rec_init(&r);
    apply_message(&r, WEFT_INPUT, &sys);
    apply_message(&r, WEFT_INPUT, &user);
    apply_message(&r, WEFT_INPUT, &tool);
    apply_message(&r, WEFT_OUTPUT, &asst);
    view v = rec_view(&r);
    json_t *in = IN(v, "messages"), *out = OUT(v, "messages");
    cr_assert_eq(json_array_size(in), 3);
    cr_assert_eq(json_array_size(out), 1);
    json_t *m0 = json_array_get(in, 0), *m1 = json_array_get(in, 1), *m2 = json_array_get(in, 2);
    cr_assert_str_eq(str(json_object_get(m0, "role")), "system");
    cr_assert_str_eq(str(json_object_get(m0, "content")), "Be brief.");
    cr_assert_eq(json_object_size(m0), 2, "NULL name and tool_call_id are omitted");
    cr_assert_str_eq(str(json_object_get(m1, "name")), "ana");
    cr_assert_eq(json_object_size(m1), 3);
    cr_assert_str_eq(str(json_object_get(m2, "tool_call_id")), "call_1");
    cr_assert_eq(json_object_size(m2), 3);
    cr_assert_str_eq(str(json_object_get(json_array_get(out, 0), "role")), "assistant");
    view_free(&v);
    weft__rec_fini(&r);
}

/* ---- misuse -------------------------------------------------------------------------- */

Test(rag_producer, refuses_every_documented_misuse_in_planning)
{
    weft__rag_plan p;
    weft_document_hit nodoc = {.rank = 1};
    weft_retrieval_info r1 = {.hits = &nodoc, .n_hits = 1};
    weft_retrieval_info r2 = {.hits = NULL, .n_hits = 2};
    cr_assert_not(weft__rag_plan_retrieval(&p, NULL, MAXP));
    cr_assert_not(weft__rag_plan_retrieval(&p, &r1, MAXP));
    cr_assert_not(weft__rag_plan_retrieval(&p, &r2, MAXP));

    weft_citation nocit = {.confidence = 1};
    weft_generation_info g1 = {.answer = NULL};
    weft_generation_info g2 = {.answer = "a", .citations = &nocit, .n_citations = 1};
    weft_generation_info g3 = {.answer = "a", .n_citations = 1};
    weft_generation_info g4 = {.answer = "a", .n_reasoning = 1};
    cr_assert_not(weft__rag_plan_generation(&p, NULL, MAXP));
    cr_assert_not(weft__rag_plan_generation(&p, &g1, MAXP));
    cr_assert_not(weft__rag_plan_generation(&p, &g2, MAXP));
    cr_assert_not(weft__rag_plan_generation(&p, &g3, MAXP));
    cr_assert_not(weft__rag_plan_generation(&p, &g4, MAXP));

    weft_usage u = {.input_tokens = -1};
    cr_assert_not(weft__rag_plan_usage(&p, NULL, MAXP));
    cr_assert_not(weft__rag_plan_usage(&p, &u, MAXP));

    weft_message m1 = {.role = "robot", .content = "x"};
    weft_message m2 = {.role = NULL, .content = "x"};
    cr_assert_not(weft__rag_plan_message(&p, NULL, MAXP));
    cr_assert_not(weft__rag_plan_message(&p, &m1, MAXP));
    cr_assert_not(weft__rag_plan_message(&p, &m2, MAXP));
    cr_assert_eq(weft__rag_role("assistant"), WEFT__ROLE_ASSISTANT);
}

/* ---- end to end ---------------------------------------------------------------------- */

static uint64_t noop_calls(void)
{
    weft_stats st;
    weft_get_stats(&st);
    return st.noop_calls;
}

Test(rag_e2e, exports_retrieval_and_generation_fields_on_real_spans)
{
    weft_config cfg = {0};
    cfg.prices = prices;
    cfg.n_prices = 1;
    cr_assert_eq(wt_init_memory(&cfg), 0);

    weft_span root = weft_span_begin("rag-request", WEFT_TYPE_TRACER);
    weft_span ret = weft_span_begin("retrieve", WEFT_TYPE_KB_RETRIEVAL);
    weft_retrieval_info info = {.retriever = "bm25", .top_k = 2, .query = "ring buffers?", .hits = two_hits,
                                .n_hits = 2};
    weft_span_set_retrieval(ret, &info);
    weft_span_end(ret);

    weft_span gen = weft_span_begin("generate", WEFT_TYPE_COMPLETION);
    weft_message user = {.role = "user", .content = "What is a ring buffer?"};
    weft_span_add_message(gen, WEFT_INPUT, &user);
    weft_generation_info g = {.answer = "A fixed-size queue [1].", .citations = cits, .n_citations = 1,
                              .model_used = "gpt-demo", .generation_latency_ms = 80};
    weft_span_set_generation(gen, &g);
    weft_usage u = {.model = "gpt-demo", .input_tokens = 1000, .output_tokens = 500};
    weft_span_set_usage(gen, &u);
    weft_message asst = {.role = "assistant", .content = "A fixed-size queue [1]."};
    weft_span_add_message(gen, WEFT_OUTPUT, &asst);
    weft_span_end(gen);
    weft_span_end(root);

    json_t *recs = wt_records_after_shutdown();
    json_t *rr = wt_find(recs, "retrieve");
    cr_assert(rr, "the retrieval span was exported");
    cr_assert_str_eq(str(wt_path(rr, "input.query")), "ring buffers?");
    cr_assert_eq(num(wt_path(rr, "input.top_k")), 2);
    cr_assert_null(wt_path(rr, "input.similarity_threshold"));
    cr_assert_str_eq(str(wt_path(rr, "metadata.retriever")), "bm25");
    cr_assert_null(wt_path(rr, "metadata.embedding_model"));
    cr_assert_float_eq(num(wt_path(rr, "metadata.latency_ms")), wt_span_ms(rr), 0.001,
                       "taken from the span's duration: %f, timestamps %f", num(wt_path(rr, "metadata.latency_ms")),
                       wt_span_ms(rr));
    json_t *hits = wt_path(rr, "output.hits");
    cr_assert_eq(json_array_size(hits), 2);
    cr_assert_str_eq(str(json_object_get(json_object_get(json_array_get(hits, 0), "metadata"), "source")), "wiki");

    json_t *gr = wt_find(recs, "generate");
    cr_assert(gr);
    cr_assert_str_eq(str(wt_path(gr, "output.answer")), "A fixed-size queue [1].");
    cr_assert_eq(json_array_size(wt_path(gr, "output.citations")), 1);
    cr_assert_eq(num(wt_path(gr, "output.format_check.citation_count")), 1);
    cr_assert(json_is_true(wt_path(gr, "output.format_check.is_complete")));
    cr_assert_float_eq(num(wt_path(gr, "metadata.generation_latency_ms")), 80, 1e-12);
    cr_assert_str_eq(str(wt_path(gr, "metadata.model_used")), "gpt-demo");
    cr_assert_str_eq(str(wt_path(gr, "metadata.model")), "gpt-demo");
    cr_assert_eq(num(wt_path(gr, "metadata.total_tokens")), 1500);
    cr_assert_float_eq(num(wt_path(gr, "metadata.cost_usd")), 0.006, 1e-12, "from the configured prices");
    cr_assert_str_eq(str(json_object_get(json_array_get(wt_path(gr, "input.messages"), 0), "content")),
                     "What is a ring buffer?");
    cr_assert_str_eq(str(json_object_get(json_array_get(wt_path(gr, "output.messages"), 0), "role")), "assistant");

    json_t *root_rec = wt_find(recs, "rag-request");
    cr_assert_eq(num(wt_path(root_rec, "metadata.trace_summary.llm_calls")), 1);
    cr_assert_eq(num(wt_path(root_rec, "metadata.trace_summary.retrieval_calls")), 1);
    cr_assert_float_eq(num(wt_path(root_rec, "metadata.trace_summary.total_cost")), 0.006, 1e-12);
    json_decref(recs);

    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.invalid_json, 0);
    cr_assert_eq(st.truncated_attrs, 0);
    cr_assert_eq(st.dropped_ring, 0);
    cr_assert_eq(st.internal_errors, 0);
}

Test(rag_e2e, exports_only_the_required_fields_when_nothing_optional_is_set)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_document_hit hit = {.doc_id = "d-1"};
    weft_retrieval_info info = {.hits = &hit, .n_hits = 1};
    weft_span r = weft_span_begin("bare-retrieval", WEFT_TYPE_KB_RETRIEVAL);
    weft_span_set_retrieval(r, &info);
    weft_span_end(r);
    weft_generation_info g = {.answer = "Yes."};
    weft_span gsp = weft_span_begin("bare-generation", WEFT_TYPE_COMPLETION);
    weft_span_set_generation(gsp, &g);
    weft_span_end(gsp);

    json_t *recs = wt_records_after_shutdown();
    json_t *rr = wt_find(recs, "bare-retrieval");
    cr_assert_eq(json_object_size(json_object_get(rr, "input")), 0);
    cr_assert_eq(json_object_size(json_object_get(rr, "output")), 1);
    json_t *h = json_array_get(wt_path(rr, "output.hits"), 0);
    cr_assert_eq(json_object_size(h), 2, "doc_id and score: the DocumentHit model requires score");
    cr_assert_str_eq(str(json_object_get(h, "doc_id")), "d-1");
    json_t *rm = json_object_get(rr, "metadata");
    cr_assert_eq(json_object_size(rm), 2, "latency_ms from the duration, and the root's trace_summary");
    cr_assert(json_is_number(json_object_get(rm, "latency_ms")));

    json_t *gr = wt_find(recs, "bare-generation");
    cr_assert_eq(json_object_size(json_object_get(gr, "output")), 2, "answer and format_check");
    cr_assert_str_eq(str(wt_path(gr, "output.answer")), "Yes.");
    json_t *f = wt_path(gr, "output.format_check");
    cr_assert_eq(json_object_size(f), 7);
    cr_assert(json_is_true(json_object_get(f, "is_complete")));
    cr_assert(json_is_false(json_object_get(f, "contains_citations")));
    cr_assert_eq(num(json_object_get(f, "length_chars")), 4);
    cr_assert_eq(num(json_object_get(f, "length_tokens")), 1);
    cr_assert_str_eq(str(json_object_get(f, "format_type")), "text");
    json_t *gm = json_object_get(gr, "metadata");
    cr_assert_eq(json_object_size(gm), 2, "generation_latency_ms from the duration, and the trace_summary");
    cr_assert(json_is_number(json_object_get(gm, "generation_latency_ms")));
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.internal_errors, 0);
}

Test(rag_e2e, counts_setters_on_the_zero_span_and_misuse_as_noops)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_span zero = {0};
    weft_retrieval_info info = {.query = "q"};
    weft_generation_info g = {.answer = "a"};
    weft_usage u = {.input_tokens = 1};
    weft_message m = {.role = "user", .content = "x"};
    uint64_t before = noop_calls();
    weft_span_set_retrieval(zero, &info);
    weft_span_set_generation(zero, &g);
    weft_span_set_usage(zero, &u);
    weft_span_add_message(zero, WEFT_INPUT, &m);
    cr_assert_eq(noop_calls() - before, 4);

    weft_span s = weft_span_begin("misuse", WEFT_TYPE_CUSTOM);
    weft_message bad_role = {.role = "robot", .content = "x"};
    weft_generation_info no_answer = {.answer = NULL};
    weft_document_hit nodoc = {.rank = 1};
    weft_retrieval_info bad_hits = {.hits = &nodoc, .n_hits = 1};
    before = noop_calls();
    weft_span_set_retrieval(s, NULL);
    weft_span_set_retrieval(s, &bad_hits);
    weft_span_set_generation(s, NULL);
    weft_span_set_generation(s, &no_answer);
    weft_span_set_usage(s, NULL);
    weft_span_add_message(s, WEFT_INPUT, NULL);
    weft_span_add_message(s, WEFT_INPUT, &bad_role);
    weft_span_add_message(s, WEFT_METADATA, &m);
    cr_assert_eq(noop_calls() - before, 8);
    weft_span_end(s);

    json_t *recs = wt_records_after_shutdown();
    json_t *r = wt_find(recs, "misuse");
    cr_assert(r);
    cr_assert_eq(json_object_size(json_object_get(r, "input")), 0);
    cr_assert_eq(json_object_size(json_object_get(r, "output")), 0);
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.internal_errors, 0);
}

Test(rag_e2e, fits_a_retrieval_bigger_than_the_ring_allows)
{
    weft_config cfg = {0};
    cfg.ring_bytes = 64 * 1024; /* events of at most ~16 KiB */
    cr_assert_eq(wt_init_memory(&cfg), 0);
    size_t n = 100 * 1024;
    char *query = malloc(n + 1);
    memset(query, 'q', n);
    query[n] = 0;
    weft_retrieval_info info = {.query = query, .hits = two_hits, .n_hits = 2};
    weft_span s = weft_span_begin("big", WEFT_TYPE_KB_RETRIEVAL);
    weft_span_set_retrieval(s, &info);
    weft_span_end(s);
    json_t *recs = wt_records_after_shutdown();
    json_t *r = wt_find(recs, "big");
    cr_assert(r);
    const char *q = str(wt_path(r, "input.query"));
    cr_assert(strstr(q, "\xE2\x80\xA6[truncated "), "the cut query is marked");
    cr_assert_lt(strlen(q), 16 * 1024);
    cr_assert_eq(json_array_size(wt_path(r, "output.hits")), 2, "the small strings are whole");
    cr_assert_str_eq(str(json_object_get(json_array_get(wt_path(r, "output.hits"), 0), "snippet_preview")),
                     "Ring buffers are fast.");
    json_decref(recs);
    free(query);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.truncated_attrs, 1);
    cr_assert_eq(st.dropped_ring, 0);
}
