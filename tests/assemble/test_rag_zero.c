/*
 * test_rag_zero.c — values that are zero on purpose reach the record (DESIGN.md section 5):
 * DocumentHit.score always, rank / confidence / relevance_score when their has_ flag says so,
 * and a caller's format check never sends a count it left unset as a measured 0. Also pins the
 * layout of the structs whose has_ flags went into existing padding.
 */
#include <criterion/criterion.h>

#include <stddef.h>
#include <string.h>

#include "weft_test.h"

/* The flags live in padding: sizes and every older field's offset are what they were. */
_Static_assert(sizeof(weft_document_hit) == 64, "weft_document_hit changed size");
_Static_assert(offsetof(weft_document_hit, span_start) == 32, "weft_document_hit layout moved");
_Static_assert(offsetof(weft_document_hit, has_rank) == 25, "has_rank not in the padding");
_Static_assert(sizeof(weft_citation) == 48, "weft_citation changed size");
_Static_assert(offsetof(weft_citation, span_start) == 16, "weft_citation layout moved");
_Static_assert(sizeof(weft_format_check) == 32, "weft_format_check changed size");
_Static_assert(offsetof(weft_format_check, length_tokens) == 4, "weft_format_check layout moved");

static json_t *field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return v;
}

Test(rag_zero, a_hit_scored_zero_keeps_its_score_and_a_given_rank_zero_is_sent)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_document_hit hits[3] = {
        {.doc_id = "zero-score", .score = 0.0},
        {.doc_id = "rank-zero", .rank = 0, .has_rank = true, .score = 0.25},
        {.doc_id = "rank-unset", .score = 0.5},
    };
    weft_retrieval_info info = {.query = "q", .hits = hits, .n_hits = 3};
    weft_span s = weft_span_begin("retrieve", WEFT_TYPE_KB_RETRIEVAL);
    weft_span_set_retrieval(s, &info);
    weft_span_end(s);
    json_t *recs = wt_records_after_shutdown();
    json_t *h = wt_path(wt_find(recs, "retrieve"), "output.hits");
    cr_assert_eq(json_array_size(h), 3);
    json_t *z = json_array_get(h, 0), *r0 = json_array_get(h, 1), *ru = json_array_get(h, 2);
    cr_assert(json_is_number(field(z, "score")), "score 0.0 was dropped");
    cr_assert_eq(json_number_value(field(z, "score")), 0.0);
    cr_assert(json_is_integer(field(r0, "rank")), "a rank 0 with has_rank was dropped");
    cr_assert_eq(json_integer_value(field(r0, "rank")), 0);
    cr_assert_null(field(ru, "rank"), "a rank left 0 without has_rank is not given");
    json_decref(recs);
}

Test(rag_zero, citations_keep_a_confidence_and_relevance_of_zero_when_flagged)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    weft_citation cits[2] = {
        {.doc_id = "flagged", .has_confidence = true, .confidence = 0.0, .has_relevance_score = true},
        {.doc_id = "unflagged"},
    };
    weft_generation_info g = {.answer = "Paris [1].", .citations = cits, .n_citations = 2};
    weft_span s = weft_span_begin("generate", WEFT_TYPE_COMPLETION);
    weft_span_set_generation(s, &g);
    weft_span_end(s);
    json_t *recs = wt_records_after_shutdown();
    json_t *c = wt_path(wt_find(recs, "generate"), "output.citations");
    json_t *f = json_array_get(c, 0), *u = json_array_get(c, 1);
    cr_assert(json_is_number(field(f, "confidence")), "confidence 0.0 was dropped");
    cr_assert_eq(json_number_value(field(f, "confidence")), 0.0);
    cr_assert(json_is_number(field(f, "relevance_score")));
    cr_assert_eq(json_number_value(field(f, "relevance_score")), 0.0);
    cr_assert_null(field(u, "confidence"));
    cr_assert_null(field(u, "relevance_score"));
    json_decref(recs);
}

Test(rag_zero, format_check_counts_left_unset_are_measured_from_the_answer)
{
    cr_assert_eq(wt_init_memory(NULL), 0);
    const char *answer = "The capital of France is Paris.";
    weft_format_check given = {.is_complete = true, .length_tokens = 0, .length_chars = 0};
    weft_citation cit = {.doc_id = "d1"};
    weft_generation_info g = {.answer = answer, .format_check = &given, .citations = &cit, .n_citations = 1};
    weft_span s = weft_span_begin("unset counts", WEFT_TYPE_COMPLETION);
    weft_span_set_generation(s, &g);
    weft_span_end(s);
    weft_format_check measured_zero = {.has_counts = true, .length_tokens = 0, .length_chars = 0};
    weft_generation_info g2 = {.answer = answer, .format_check = &measured_zero};
    weft_span s2 = weft_span_begin("measured zero", WEFT_TYPE_COMPLETION);
    weft_span_set_generation(s2, &g2);
    weft_span_end(s2);
    weft_generation_info g3 = {.answer = answer};
    weft_span s3 = weft_span_begin("computed", WEFT_TYPE_COMPLETION);
    weft_span_set_generation(s3, &g3);
    weft_span_end(s3);
    json_t *recs = wt_records_after_shutdown();
    json_t *fc = wt_path(wt_find(recs, "unset counts"), "output.format_check");
    json_t *computed = wt_path(wt_find(recs, "computed"), "output.format_check");
    cr_assert_eq(json_integer_value(field(fc, "length_chars")), (json_int_t)strlen(answer));
    cr_assert_eq(json_integer_value(field(fc, "length_tokens")),
                 json_integer_value(field(computed, "length_tokens")), "the same measure as weft's own check");
    cr_assert_gt(json_integer_value(field(fc, "length_tokens")), 0);
    cr_assert_eq(json_integer_value(field(fc, "citation_count")), 1, "counted from the citations given");
    cr_assert(json_is_true(field(fc, "is_complete")), "the caller's booleans are kept");
    json_t *mz = wt_path(wt_find(recs, "measured zero"), "output.format_check");
    cr_assert_eq(json_integer_value(field(mz, "length_chars")), 0, "has_counts: a measured 0 is sent");
    cr_assert_eq(json_integer_value(field(mz, "length_tokens")), 0);
    json_decref(recs);
}
