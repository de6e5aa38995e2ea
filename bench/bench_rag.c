/*
 * bench_rag.c — the producer's cost of the RAG setters (issue 4): ns per
 * weft_span_set_retrieval with 10 hits (ids, scores, spans, 300-byte snippets cut to their
 * 200-character preview, small metadata objects) and per weft_span_set_generation with a
 * 1 KiB answer and 3 citations, plus heap allocations made by the producer thread for either
 * after its first span (a counting malloc interposed below; budget 0, DESIGN.md section 8).
 *
 * Method: each figure is the median over RUNS runs; a run begins BATCH spans, times the
 * setter on each of them as one interval (so clock reads and begin/end stay outside the
 * figure), ends them, and repeats up to N calls; weft_flush between batches lets the export
 * thread drain, with a 64 MiB ring so no event is ever dropped (checked). The exporter is
 * "none": only the producer is measured.
 *
 * Budgets: no figure in DESIGN.md covers these calls. 1000 ns each: a setter copies ~3 KiB
 * (retrieval) or ~1.2 KiB (generation) and walks the struct twice (measure, then write), so a
 * few hundred ns is the expected order; a microsecond is still far below the ~820 ns the
 * OpenTelemetry C++ SDK spends on one span with one attribute, for a whole RAG step.
 *
 * Run: ./build/bench/bench_rag   (exit status 1 when the producer allocated)
 */
#include <stdint.h>
#include <string.h>

#include "bench_common.h"
#include "weft/weft.h"

#include "bench_alloc.h"

#define N 100000
#define BATCH 500
#define RUNS 9

static char snippets[10][301];
static char metas[10][64];
static char ids[10][16];
static weft_document_hit hits[10];
static weft_retrieval_info retrieval;
static char answer[1025];
static const weft_citation cits[3] = {
    {.doc_id = "doc-ring", .has_span = true, .span_start = 0, .span_end = 120, .confidence = 0.9,
     .relevance_score = 0.8},
    {.doc_id = "doc-clock", .has_span = true, .span_start = 40, .span_end = 200, .confidence = 0.7},
    {.doc_id = "doc-batch", .relevance_score = 0.5},
};
static weft_generation_info generation;

static void fixtures(void)
{
    for (int i = 0; i < 10; i++) {
        snprintf(ids[i], sizeof ids[i], "doc-%02d", i);
        for (int k = 0; k < 300; k++)
            snippets[i][k] = (char)('a' + (i + k) % 26);
        snippets[i][300] = 0;
        snprintf(metas[i], sizeof metas[i], "{\"source\":\"corpus\",\"chunk\":%d}", i);
        hits[i] = (weft_document_hit){.doc_id = ids[i], .rank = i + 1, .score = 10.0 - i, .has_span = true,
                                      .span_start = 100 * i, .span_end = 100 * i + 300,
                                      .snippet = snippets[i], .metadata_json = metas[i]};
    }
    retrieval = (weft_retrieval_info){.retriever = "bm25", .embedding_model = "none", .chunk_size = 512,
                                      .chunk_overlap = 64, .top_k = 10, .has_similarity_threshold = true,
                                      .similarity_threshold = 0.2, .query = "how does a lock-free ring work?",
                                      .hits = hits, .n_hits = 10, .latency_ms = 1.5};
    /* 1 KiB of prose with citation markers, ending a sentence. */
    static const char words[] = "The ring keeps one producer per thread [1] and drains in rounds [2]. ";
    size_t n = 0;
    while (n + sizeof words - 1 < 1023) {
        memcpy(answer + n, words, sizeof words - 1);
        n += sizeof words - 1;
    }
    memset(answer + n, 'x', 1023 - n);
    answer[1023] = '.';
    answer[1024] = 0;
    generation = (weft_generation_info){.answer = answer, .citations = cits, .n_citations = 3,
                                        .model_used = "gpt-demo", .prompt_template = "qa-v2",
                                        .context_length = 4096, .generation_latency_ms = 120.0};
}

typedef enum { RETRIEVAL, GENERATION } which;

/* One run of N calls; returns ns per call. Allocation counting covers the calls only. */
static double run(which w)
{
    static weft_span spans[BATCH];
    double total = 0;
    for (int done = 0; done < N; done += BATCH) {
        for (int i = 0; i < BATCH; i++)
            /* begin_child: BATCH open spans without nesting them on the context stack */
            spans[i] = weft_span_begin_child((weft_span){0}, "step",
                                             w == RETRIEVAL ? WEFT_TYPE_KB_RETRIEVAL : WEFT_TYPE_COMPLETION);
        bench_alloc_watch = 1;
        double t0 = bench_now_ns();
        if (w == RETRIEVAL)
            for (int i = 0; i < BATCH; i++)
                weft_span_set_retrieval(spans[i], &retrieval);
        else
            for (int i = 0; i < BATCH; i++)
                weft_span_set_generation(spans[i], &generation);
        total += bench_now_ns() - t0;
        bench_alloc_watch = 0;
        for (int i = 0; i < BATCH; i++)
            weft_span_end(spans[i]);
        weft_flush(0);
    }
    return total / N;
}

static double median_of_runs(which w)
{
    double v[RUNS];
    (void)run(w); /* warm: the thread's ring exists, caches are hot */
    for (int r = 0; r < RUNS; r++)
        v[r] = run(w);
    return bench_median(v, RUNS);
}

int main(void)
{
    fixtures();
    weft_config cfg = {0};
    cfg.exporters = "none";
    cfg.ring_bytes = 64u << 20;
    cfg.no_atexit = true;
    cfg.flush_interval_ms = 10;
    int rc = weft_init(&cfg);
    if (rc) {
        fprintf(stderr, "weft_init: %s\n", weft_strerror(rc));
        return 2;
    }
    /* The thread's first span registers it (its ring is allocated then): not counted. */
    weft_span first = weft_span_begin("first", WEFT_TYPE_CUSTOM);
    weft_span_end(first);

    bench_alloc_count = 0;
    double ret = median_of_runs(RETRIEVAL);
    uint64_t ret_allocs = bench_alloc_count;
    bench_alloc_count = 0;
    double gen = median_of_runs(GENERATION);
    uint64_t gen_allocs = bench_alloc_count;

    printf("bench_rag: median of %d runs of %d calls, exporter none, 64 MiB ring\n", RUNS, N);
    bench_report("weft_span_set_retrieval, 10 hits", ret, "ns/call", 1000, 1);
    bench_report("weft_span_set_generation, 1 KiB answer, 3 citations", gen, "ns/call", 1000, 1);
    bench_report("heap allocations on the producer, retrieval calls", (double)ret_allocs, "allocs", 0, 1);
    bench_report("heap allocations on the producer, generation calls", (double)gen_allocs, "allocs", 0, 1);

    weft_shutdown(10000);
    weft_stats st;
    weft_get_stats(&st);
    bench_report("events dropped (ring full)", (double)st.dropped_ring, "events", 0, 1);
    return (ret_allocs || gen_allocs) ? 1 : 0;
}
