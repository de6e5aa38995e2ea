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

Test(cpp, every_integer_type_and_floating_type_has_an_unambiguous_overload)
{
    cr_assert_eq(wt_init_memory(nullptr), 0);
    {
        weft::Span s("ints", WEFT_TYPE_CUSTOM);
        short sh = -3;
        unsigned short ush = 65535;
        long l = -40000000000L;
        unsigned long ul = 4000000000UL;
        long long ll = INT64_MIN;
        unsigned long long ull = UINT64_MAX;
        size_t sz = 12345;
        signed char sc = -5;
        unsigned char uc = 200;
        std::string str = "owned";
        s.set(WEFT_METADATA, "short", sh)
            .set(WEFT_METADATA, "ushort", ush)
            .set(WEFT_METADATA, "int", -7)
            .set(WEFT_METADATA, "unsigned", 4000000000u)
            .set(WEFT_METADATA, "long", l)
            .set(WEFT_METADATA, "ulong", ul)
            .set(WEFT_METADATA, "llong", ll)
            .set(WEFT_METADATA, "ullong", ull)
            .set(WEFT_METADATA, "ullong_small", 42ull)
            .set(WEFT_METADATA, "size", sz)
            .set(WEFT_METADATA, "schar", sc)
            .set(WEFT_METADATA, "uchar", uc)
            .set(WEFT_METADATA, "int64", (int64_t)-1)
            .set(WEFT_METADATA, "uint32", (uint32_t)7)
            .set(WEFT_METADATA, "bool", true)
            .set(WEFT_METADATA, "float", 0.5f)
            .set(WEFT_METADATA, "double", 0.25)
            .set(WEFT_INPUT, "cstr", "text")
            .set(WEFT_INPUT, "string", str)
            .set(WEFT_INPUT, "view", std::string_view("viewed"));
    }
    json_t *recs = wt_records_after_shutdown();
    json_t *md = wt_path(wt_find(recs, "ints"), "metadata");
    cr_assert_eq(json_integer_value(json_object_get(md, "short")), -3);
    cr_assert_eq(json_integer_value(json_object_get(md, "ushort")), 65535);
    cr_assert_eq(json_integer_value(json_object_get(md, "int")), -7);
    cr_assert_eq(json_integer_value(json_object_get(md, "unsigned")), 4000000000LL);
    cr_assert_eq(json_integer_value(json_object_get(md, "long")), -40000000000LL);
    cr_assert_eq(json_integer_value(json_object_get(md, "ulong")), 4000000000LL);
    cr_assert_eq(json_integer_value(json_object_get(md, "llong")), INT64_MIN);
    /* Above INT64_MAX: sent as the nearest double. */
    json_t *big = json_object_get(md, "ullong");
    cr_assert(json_is_number(big));
    cr_assert_eq(json_number_value(big), 18446744073709551615.0);
    cr_assert_eq(json_integer_value(json_object_get(md, "ullong_small")), 42);
    cr_assert_eq(json_integer_value(json_object_get(md, "size")), 12345);
    cr_assert_eq(json_integer_value(json_object_get(md, "schar")), -5);
    cr_assert_eq(json_integer_value(json_object_get(md, "uchar")), 200);
    cr_assert_eq(json_integer_value(json_object_get(md, "int64")), -1);
    cr_assert_eq(json_integer_value(json_object_get(md, "uint32")), 7);
    cr_assert(json_is_true(json_object_get(md, "bool")));
    cr_assert_eq(json_real_value(json_object_get(md, "float")), 0.5);
    cr_assert_eq(json_real_value(json_object_get(md, "double")), 0.25);
    json_t *in = wt_path(wt_find(recs, "ints"), "input");
    cr_assert_str_eq(wt_str(in, "cstr"), "text");
    cr_assert_str_eq(wt_str(in, "string"), "owned");
    cr_assert_str_eq(wt_str(in, "view"), "viewed");
    json_decref(recs);
}

struct cleanup_traces {
    ~cleanup_traces()
    {
        /* Runs while an exception unwinds, but this span itself is not unwound by it. */
        weft::Span c("cleanup", WEFT_TYPE_CUSTOM);
    }
};

static void fails_inside()
{
    weft::Span s("unwound", WEFT_TYPE_CUSTOM);
    cleanup_traces guard;
    throw std::runtime_error("boom");
}

static void fails_with_own_status()
{
    weft::Span s("own status", WEFT_TYPE_CUSTOM);
    s.status(WEFT_STATUS_CANCELED);
    throw std::runtime_error("cancelled");
}

Test(cpp, a_span_unwound_by_an_exception_ends_with_status_error)
{
    cr_assert_eq(wt_init_memory(nullptr), 0);
    try {
        fails_inside();
    } catch (const std::exception &) {
        weft::Span h("handler", WEFT_TYPE_CUSTOM); /* inside the catch: not unwinding */
    }
    try {
        fails_with_own_status();
    } catch (const std::exception &) {
    }
    {
        weft::Span ok("returns", WEFT_TYPE_CUSTOM);
    }
    json_t *recs = wt_records_after_shutdown();
    cr_assert_str_eq(wt_str(wt_find(recs, "unwound"), "status"), "ERROR");
    cr_assert_str_eq(wt_str(wt_find(recs, "cleanup"), "status"), "SUCCESS");
    cr_assert_str_eq(wt_str(wt_find(recs, "handler"), "status"), "SUCCESS");
    cr_assert_str_eq(wt_str(wt_find(recs, "own status"), "status"), "CANCELED");
    cr_assert_str_eq(wt_str(wt_find(recs, "returns"), "status"), "SUCCESS");
    json_decref(recs);
}

#include <thread>

Test(cpp, a_scope_object_joins_a_pool_thread_to_the_callers_trace)
{
    cr_assert_eq(wt_init_memory(nullptr), 0);
    weft_ids ids{};
    {
        weft::Span request("request", WEFT_TYPE_TRACER);
        ids = request.ids();
        std::thread pool([parent = request.get()] {
            weft::Scope joined(parent);
            weft::Span work("pool work", WEFT_TYPE_CUSTOM);
            weft::Span inner("pool inner", WEFT_TYPE_CUSTOM);
        });
        pool.join();
    }
    json_t *recs = wt_records_after_shutdown();
    json_t *req = wt_find(recs, "request"), *work = wt_find(recs, "pool work");
    cr_assert_str_eq(wt_str(req, "id"), ids.span_id);
    cr_assert_str_eq(wt_str(req, "obs_trace_id"), ids.w3c_trace_id);
    cr_assert_str_eq(wt_str(work, "parent_id"), ids.span_id);
    cr_assert_str_eq(wt_str(wt_find(recs, "pool inner"), "parent_id"), wt_str(work, "id"));
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.noop_calls, 0);
}

Test(cpp, calls_on_disabled_and_sampled_out_spans_record_and_count_nothing)
{
    weft_config c{};
    c.sample_ratio = 1e-18; /* every trace sampled out */
    cr_assert_eq(wt_init_memory(&c), 0);
    {
        weft::Span root("root", WEFT_TYPE_TRACER);
        cr_assert_not(root.recording());
        weft::Span kid(root.get(), "kid", WEFT_TYPE_CUSTOM);
        weft::Span step("step", WEFT_TYPE_CUSTOM);
        for (weft::Span *s : {&root, &kid, &step}) {
            weft_usage u{};
            u.model = "m";
            s->set(WEFT_INPUT, "k", 1).set(WEFT_INPUT, "s", "v").usage(u).status(WEFT_STATUS_ERROR);
            s->group_id("g").application_variant_id("v").application_interaction_id("i");
        }
        kid.end();
        cr_assert_eq(weft_current_span().id, step.get().id, "the stack is as a kept trace's");
    }
    cr_assert_eq(weft_current_span().id, 0);
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 0);
    json_decref(recs);
    weft_stats st;
    weft_get_stats(&st);
    cr_assert_eq(st.noop_calls, 0);
    cr_assert_eq(st.started, 0);
}
