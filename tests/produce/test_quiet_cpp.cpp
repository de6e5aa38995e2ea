/*
 * test_quiet_cpp.cpp — the C++ layer (include/weft/weft.hpp) on the quiet fast path of
 * weft/quiet.h: weft::Span begun inside a sampled-out trace goes through the thread's quiet
 * region inline and records nothing; kept traces around and under quiet ones keep their
 * shape; ends twice, out of order or from another thread are counted as for kept spans; a
 * randomized nest of scoped spans over traces sampled in and out matches a model; disabled
 * tracing.
 */
#include <criterion/criterion.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <weft/weft.hpp>

#include "weft_test.h"

static void sample_none() { wt_sample_all(false); }
static void sample_all() { wt_sample_all(true); }

static weft_stats stats()
{
    weft_stats s;
    weft_get_stats(&s);
    return s;
}

static bool same_span(weft_span a, weft_span b) { return a.id == b.id && a.trace == b.trace; }

static uint64_t ring_head() { return wt_ring_head(); }

static void set_everything(weft::Span &s)
{
    weft_usage u{};
    u.model = "m";
    weft_message m{};
    m.role = "user";
    m.content = "hi";
    std::vector<weft_document_hit> hits(1);
    hits[0].doc_id = "d";
    weft_retrieval_info ri{};
    weft_generation_info gi{};
    gi.answer = "a";
    s.set(WEFT_INPUT, "s", "v").set(WEFT_INPUT, "sv", std::string_view("v")).set(WEFT_INPUT, "str", std::string("v"));
    s.set(WEFT_METADATA, "i", 1).set(WEFT_METADATA, "u", (uint64_t)1 << 63).set(WEFT_METADATA, "f", 0.5);
    s.set(WEFT_METADATA, "b", true).set_json(WEFT_OUTPUT, "j", "{}").set_msgpack(WEFT_OUTPUT, "mp", "\xc0", 1);
    s.status(WEFT_STATUS_SUCCESS).error("E", "m").group_id("g").application_variant_id("v");
    s.application_interaction_id("i").usage(u).message(WEFT_INPUT, m).retrieval(ri, hits).generation(gi);
}

Test(quiet_cpp, a_sampled_out_trace_of_scoped_spans_records_nothing)
{
    cr_assert_eq(wt_init_memory(nullptr), 0);
    sample_all();
    { weft::Span warm("warm", WEFT_TYPE_CUSTOM); }
    uint64_t head = ring_head();
    sample_none();
    {
        weft::Span root("dropped root", WEFT_TYPE_TRACER);
        cr_assert_eq(weft__quiet.n, 1u);
        sample_all();
        weft::Span a("dropped a", WEFT_TYPE_CUSTOM);
        weft::Span b("dropped b", WEFT_TYPE_CUSTOM);
        weft::Span orphan(a.get(), "dropped orphan", WEFT_TYPE_CUSTOM);
        cr_assert_eq(weft__quiet.n, 3u, "begun inline");
        cr_assert(same_span(weft_current_span(), b.get()));
        cr_assert_not(root.recording() || a.recording() || b.recording() || orphan.recording());
        set_everything(b);
        set_everything(orphan);
        try {
            weft::Span thrown("dropped thrower", WEFT_TYPE_CUSTOM);
            throw std::runtime_error("boom");
        } catch (const std::exception &) {
        }
        cr_assert(same_span(weft_current_span(), b.get()), "the unwound span ended");
        weft::Span moved = std::move(b);
        cr_assert(same_span(weft_current_span(), moved.get()));
    }
    cr_assert_eq(weft__quiet.n, 0u);
    cr_assert_eq(weft_current_span().id, 0u);
    cr_assert_eq(ring_head(), head, "not one event in the ring");
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 1u, "warm only");
    json_decref(recs);
    weft_stats st = stats();
    cr_assert_eq(st.noop_calls, 0u);
    cr_assert_eq(st.sampled_out, 1u);
}

/* With head sampling on, a dropped root Span begins inline (weft__quiet_root_) and a kept
 * one in the library, from the same stream of trace ids: they alternate freely. */
Test(quiet_cpp, dropped_and_kept_root_spans_alternate_with_head_sampling_on)
{
    weft_config c = {};
    c.sample_ratio = 0.5;
    cr_assert_eq(wt_init_memory(&c), 0);
    std::vector<uint64_t> kept_traces;
    for (int i = 0; i < 300; i++) {
        bool keep = i % 3 == 0;
        keep ? sample_all() : sample_none();
        weft::Span root(keep ? "kept root" : "dropped root", WEFT_TYPE_TRACER);
        cr_assert_eq(root.recording(), keep);
        cr_assert_eq(weft__quiet.n, keep ? 0u : 1u);
        sample_none();
        weft::Span child("child", WEFT_TYPE_CUSTOM);
        cr_assert_eq(child.recording(), keep, "a child follows its root");
        if (keep)
            kept_traces.push_back(root.get().trace);
    }
    cr_assert_eq(weft__quiet.n, 0u);
    cr_assert_eq(weft_current_span().id, 0u);
    sample_all();
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(wt_count(recs, "kept root"), 100u);
    cr_assert_eq(wt_count(recs, "child"), 100u);
    cr_assert_eq(wt_count(recs, "dropped root"), 0u);
    json_decref(recs);
    std::sort(kept_traces.begin(), kept_traces.end());
    cr_assert(std::adjacent_find(kept_traces.begin(), kept_traces.end()) == kept_traces.end(), "trace ids unique");
    weft_stats st = stats();
    cr_assert_eq(st.sampled_out, 200u);
    cr_assert_eq(st.noop_calls, 0u);
}

Test(quiet_cpp, a_kept_trace_under_and_around_quiet_ones_is_exact)
{
    cr_assert_eq(wt_init_memory(nullptr), 0);
    sample_all();
    {
        weft::Span a("A", WEFT_TYPE_TRACER);
        weft::Span b("B", WEFT_TYPE_CUSTOM);
        {
            weft::Span r(weft_span_begin_remote("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", nullptr,
                                                "remote", WEFT_TYPE_CUSTOM));
            weft::Span q1("q1", WEFT_TYPE_CUSTOM);
            cr_assert_not(q1.recording());
            {
                weft::Scope sc(b.get());
                weft::Span c("C", WEFT_TYPE_CUSTOM);
                cr_assert(c.recording());
            }
            weft::Span q2("q2", WEFT_TYPE_CUSTOM);
            cr_assert_not(q2.recording());
        }
        weft::Span d("D", WEFT_TYPE_CUSTOM);
        cr_assert(d.recording());
    }
    sample_none();
    {
        weft::Span x("dropped", WEFT_TYPE_TRACER);
        weft::Span y("dropped child", WEFT_TYPE_CUSTOM);
    }
    sample_all();
    {
        weft::Span e("E", WEFT_TYPE_TRACER);
        weft::Span f("F", WEFT_TYPE_CUSTOM);
    }
    json_t *recs = wt_records_after_shutdown();
    cr_assert_eq(json_array_size(recs), 6u);
    wt_assert_parent(recs, "A", nullptr);
    wt_assert_parent(recs, "B", "A");
    wt_assert_parent(recs, "C", "B");
    wt_assert_parent(recs, "D", "B");
    wt_assert_parent(recs, "E", nullptr);
    wt_assert_parent(recs, "F", "E");
    json_decref(recs);
    cr_assert_eq(stats().noop_calls, 0u);
}

/* The same misuse through adopted handles on a kept and a sampled-out trace. */
static uint64_t misuse(bool kept)
{
    if (kept)
        sample_all();
    else
        sample_none();
    uint64_t before = stats().noop_calls;
    weft_span r, c1, c2;
    {
        weft::Span root("r", WEFT_TYPE_TRACER);
        r = root.get();
        weft::Span k1("c1", WEFT_TYPE_CUSTOM);
        c1 = k1.get();
        {
            weft::Span k2("c2", WEFT_TYPE_CUSTOM);
            c2 = k2.get();
        }
        { weft::Span twice(c2); } /* c2 again: counted */
        cr_assert(same_span(weft_current_span(), c1));
        { weft::Span early(r); } /* r out of order: not misuse */
        cr_assert(same_span(weft_current_span(), c1));
        root.end(); /* r again: counted */
        std::thread([&] { weft::Span elsewhere(c1); }).join(); /* c1 on another thread */
        k1.end(); /* c1 again: counted */
    }
    cr_assert_eq(weft_current_span().id, 0u);
    weft_flush(0);
    return stats().noop_calls - before;
}

Test(quiet_cpp, second_out_of_order_and_cross_thread_ends_count_as_for_a_kept_trace)
{
    cr_assert_eq(wt_init_memory(nullptr), 0);
    uint64_t kept = misuse(true);
    uint64_t head = ring_head();
    uint64_t quiet = misuse(false);
    cr_assert_eq(ring_head(), head);
    cr_assert_eq(kept, 3u, "kept: %llu", (unsigned long long)kept);
    cr_assert_eq(quiet, kept, "sampled out: %llu", (unsigned long long)quiet);
    weft_shutdown(5000);
}

/* Randomized: nests of scoped spans, each trace sampled in or out at random, some spans begun
 * under an explicit parent; the model names each kept span's parent. */
struct node {
    std::string name;
    bool kept;
    int parent;
};

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

static void nest(std::vector<node> &model, int parent, bool kept, int depth)
{
    int kids = depth > 20 ? 0 : (int)rnd(3); /* one child on average: nests of every size */
    for (int k = 0; k < kids; k++) {
        int me = (int)model.size();
        std::string name = "n" + std::to_string(me);
        if (rnd(5) == 0) {
            /* under an explicit parent: the current span's handle */
            weft::Span s(weft_current_span(), name.c_str(), WEFT_TYPE_CUSTOM);
            cr_assert_eq(s.recording(), kept, "%s", name.c_str());
            model.push_back({name, kept, kept ? parent : -1});
            s.set(WEFT_METADATA, "k", k);
            continue;
        }
        weft::Span s(name.c_str(), WEFT_TYPE_CUSTOM);
        cr_assert_eq(s.recording(), kept, "%s", name.c_str());
        model.push_back({name, kept, kept ? parent : -1});
        s.set(WEFT_METADATA, "k", k);
        nest(model, me, kept, depth + 1);
        cr_assert(same_span(weft_current_span(), s.get()));
    }
}

Test(quiet_cpp, random_nests_match_a_model, .timeout = 120)
{
    weft_config c{};
    c.ring_bytes = 64u << 20; /* room for every event: a lost begin would not be recording */
    cr_assert_eq(wt_init_memory(&c), 0);
    std::vector<node> model;
    for (int t = 0; t < 200; t++) {
        bool kept = rnd(2);
        if (kept)
            sample_all();
        else
            sample_none();
        int me = (int)model.size();
        std::string name = "root" + std::to_string(t);
        weft::Span root(name.c_str(), WEFT_TYPE_TRACER);
        model.push_back({name, kept, -1});
        sample_all(); /* children follow their root */
        nest(model, me, kept, 1);
    }
    cr_assert_eq(weft_current_span().id, 0u);
    json_t *recs = wt_records_after_shutdown();
    size_t n_kept = 0;
    for (const node &n : model) {
        if (!n.kept) {
            cr_assert_null(wt_find(recs, n.name.c_str()), "%s was sampled out", n.name.c_str());
            continue;
        }
        n_kept++;
        wt_assert_parent(recs, n.name.c_str(), n.parent >= 0 ? model[n.parent].name.c_str() : nullptr);
    }
    cr_assert_eq(json_array_size(recs), n_kept);
    cr_assert(n_kept > 100 && model.size() - n_kept > 100, "both kinds of trace, many spans: %zu of %zu kept",
              n_kept, model.size());
    json_decref(recs);
    weft_stats st = stats();
    cr_assert_eq(st.noop_calls, 0u);
    cr_assert_eq(st.dropped_ring, 0u);
}

Test(quiet_cpp, spans_while_tracing_is_disabled_do_nothing)
{
    weft_config c{};
    c.disabled = true;
    cr_assert_eq(wt_init_memory(&c), 0);
    {
        weft::Span root("off", WEFT_TYPE_TRACER);
        weft::Span kid("off kid", WEFT_TYPE_CUSTOM);
        weft::Span orphan(root.get(), "off orphan", WEFT_TYPE_CUSTOM);
        cr_assert_eq(root.get().flags, WEFT__SPAN_OFF);
        cr_assert_eq(orphan.get().flags, WEFT__SPAN_OFF);
        set_everything(kid);
        weft::Scope sc(root.get());
    }
    cr_assert_not(wt_thread_registered());
    weft_shutdown(0);
    weft_stats st = stats();
    cr_assert_eq(st.noop_calls, 0u);
    cr_assert_eq(st.started, 0u);
    cr_assert_eq(st.threads, 0u);
}
