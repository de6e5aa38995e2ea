/*
 * test_cpp.cpp — the header-only C++ layer (include/weft/weft.hpp): scoped spans end on every
 * exit path (exceptions included), moves transfer ownership, the string_view and container
 * overloads land where the C calls do.
 */
#include <criterion/criterion.h>

#include <array>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <weft/weft.hpp>

#include "weft_test.h"

static void may_throw(bool t)
{
    weft::Span s("may throw", WEFT_TYPE_CUSTOM);
    s.set(WEFT_INPUT, "throws", t);
    if (t)
        throw std::runtime_error("boom");
}

Test(cpp, scoped_spans_end_on_every_exit_path)
{
    cr_assert_eq(wt_init_memory(nullptr), 0);
    {
        weft::Span root("root", WEFT_TYPE_TRACER);
        try {
            may_throw(true);
        } catch (const std::exception &) {
        }
        may_throw(false);
        weft::Span moved = weft::Span("moved", WEFT_TYPE_CUSTOM);
        weft::Span target(std::move(moved));
        moved.end(); /* a moved-from span is empty: nothing happens */
    }
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 4);
    cr_assert_eq(wt_count(recs, "may throw"), 2);
    cr_assert_eq(wt_count(recs, "moved"), 1);
    const char *root_id = wt_str(wt_find(recs, "root"), "id");
    size_t i;
    json_t *it;
    json_array_foreach(recs, i, it)
    {
        if (std::string(wt_str(it, "name")) != "root")
            cr_assert_str_eq(wt_str(it, "parent_id"), root_id);
    }
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.noop_calls, 0);
}

Test(cpp, overloads_write_the_same_fields_as_the_c_calls)
{
    cr_assert_eq(wt_init_memory(nullptr), 0);
    {
        std::string q = "what is a span?";
        weft::Span s("retrieve", WEFT_TYPE_KB_RETRIEVAL);
        s.set(WEFT_INPUT, "question", std::string_view(q))
            .set(WEFT_METADATA, "k", 3)
            .set(WEFT_METADATA, "ratio", 0.5)
            .set(WEFT_METADATA, "cached", false)
            .set_json(WEFT_OUTPUT, "raw", "{\"ok\":true}");
        std::vector<weft_document_hit> hits(2);
        hits[0].doc_id = "a";
        hits[0].rank = 1;
        hits[1].doc_id = "b";
        hits[1].rank = 2;
        weft_retrieval_info info{};
        info.retriever = "bm25";
        s.retrieval(info, hits);
    }
    {
        weft::Span g("generate", WEFT_TYPE_COMPLETION);
        std::array<weft_citation, 1> cites{};
        cites[0].doc_id = "a";
        weft_generation_info info{};
        info.answer = "A span is a timed step [a].";
        g.generation(info, cites);
        weft_usage u{};
        u.model = "m";
        u.input_tokens = 3;
        u.output_tokens = 4;
        g.usage(u);
        weft_message m{};
        m.role = "user";
        m.content = "hi";
        g.message(WEFT_INPUT, m);
    }
    json_t *recs = wt_records_after_shutdown();
    json_t *r = wt_find(recs, "retrieve"), *g = wt_find(recs, "generate");
    cr_assert_str_eq(wt_str(wt_path(r, "input"), "question"), "what is a span?");
    cr_assert_eq(json_integer_value(wt_path(r, "metadata.k")), 3);
    cr_assert(json_is_false(wt_path(r, "metadata.cached")));
    cr_assert(json_is_true(wt_path(r, "output.raw.ok")));
    cr_assert_eq(json_array_size(wt_path(r, "output.hits")), 2);
    cr_assert_str_eq(wt_str(json_array_get(wt_path(r, "output.hits"), 1), "doc_id"), "b");
    cr_assert_str_eq(wt_str(wt_path(g, "output"), "answer"), "A span is a timed step [a].");
    cr_assert_eq(json_array_size(wt_path(g, "output.citations")), 1);
    cr_assert_eq(json_integer_value(wt_path(g, "metadata.total_tokens")), 7);
    cr_assert_str_eq(wt_str(json_array_get(wt_path(g, "input.messages"), 0), "role"), "user");
    json_decref(recs);
}
