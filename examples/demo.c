/*
 * demo.c — a small question-answering program traced with weft, run by the README's first
 * command. Each question is one trace:
 *
 *   answer question                      AGENT_WORKFLOW  (main thread)
 *   ├── retrieve (BM25 over examples/corpus)   KB_RETRIEVAL    (retriever thread)
 *   └── generate answer                        COMPLETION      (generator thread, ended on main)
 *       └── format citations                   CUSTOM          (generator thread)
 *
 * Retrieval scores the corpus with BM25 (examples/bm25.c); generation is extractive: it
 * quotes the best passage of each retrieved document and cites it, so the citations point at
 * real character ranges. With no configuration the spans go to weft-traces.jsonl; set
 * WEFT_EXPORTER=stdout to watch them, or SGP_API_KEY to send them to SGP.
 *
 * With WEFT_DEMO_LLM_URL (or OPENAI_BASE_URL) set to an OpenAI-compatible base URL, each
 * question also goes to that model through weft_curl_perform (demo_llm.c); the default run
 * stays offline.
 *
 * Usage: weft_demo [question ...]   (three built-in questions when none is given)
 * The corpus directory is WEFT_DEMO_CORPUS (default: the source tree's examples/corpus).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bm25.h"
#include "demo_llm.h"
#include "weft/weft.h"

#ifndef WEFT_DEMO_CORPUS_DIR
#define WEFT_DEMO_CORPUS_DIR "examples/corpus"
#endif

#define TOP_K 3
#define SNIPPET_MAX 400

static const char *const builtin_questions[] = {
    "Why does a tracer keep a ring buffer per thread?",
    "How should a client back off when the server answers 503 with Retry-After?",
    "What makes a JSON Lines file valid UTF-8?",
};

typedef struct job {
    /* in */
    const bm25_index *ix;
    const char *question;
    weft_span parent;
    /* retrieval out */
    bm25_hit hits[TOP_K];
    size_t n_hits;
    bm25_span passages[TOP_K];
    /* generation out */
    weft_span gen; /* begun on the generator thread, ended by main */
    char answer[4096];
    double retrieve_ms, generate_ms;
    int spans; /* spans this trace began, counted where they are begun */
} job;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Retriever thread: BM25 search, recorded with weft_span_set_retrieval. */
static void *retrieve(void *p)
{
    job *j = p;
    double t0 = now_ms();
    weft_span s = weft_span_begin_child(j->parent, "retrieve", WEFT_TYPE_KB_RETRIEVAL);
    j->spans++;
    size_t n = bm25_search(j->ix, j->question, j->hits, TOP_K);
    j->n_hits = (n == (size_t)-1) ? 0 : n;
    weft_document_hit hits[TOP_K];
    char meta[TOP_K][96];
    for (size_t i = 0; i < j->n_hits; i++) {
        size_t doc = j->hits[i].doc, len;
        const char *text = bm25_doc_text(j->ix, doc, &len);
        bm25_best_passage(j->ix, doc, j->question, &j->passages[i]);
        snprintf(meta[i], sizeof meta[i], "{\"source\":\"examples/corpus/%s.txt\",\"bytes\":%zu}",
                 bm25_doc_id(j->ix, doc), len);
        hits[i] = (weft_document_hit){
            .doc_id = bm25_doc_id(j->ix, doc),
            .rank = (int32_t)i + 1,
            .score = j->hits[i].score,
            .has_span = true,
            .span_start = (int64_t)j->passages[i].char_start,
            .span_end = (int64_t)j->passages[i].char_end,
            .snippet = text + j->passages[i].byte_start,
            .metadata_json = meta[i],
        };
    }
    weft_retrieval_info info = {
        .retriever = "bm25",
        .top_k = TOP_K,
        .query = j->question,
        .hits = hits,
        .n_hits = j->n_hits,
    };
    weft_span_set_retrieval(s, &info);
    weft_span_set_f64(s, WEFT_METADATA, "bm25_k1", BM25_K1);
    weft_span_set_f64(s, WEFT_METADATA, "bm25_b", BM25_B);
    weft_span_end(s);
    j->retrieve_ms = now_ms() - t0;
    return NULL;
}

/* Appends at most room-1 bytes of src[0..n) to dst (always NUL-terminated). */
static void append(char *dst, size_t room, const char *src, size_t n)
{
    size_t have = strlen(dst);
    if (have + 1 >= room)
        return;
    if (n > room - 1 - have)
        n = room - 1 - have;
    memcpy(dst + have, src, n);
    dst[have + n] = 0;
}

/* Generator thread: an extractive answer quoting the best passage of each hit, with [doc-id]
 * markers and citations; the span is handed back to main, which ends it. */
static void *generate(void *p)
{
    job *j = p;
    double t0 = now_ms();
    j->gen = weft_span_begin_child(j->parent, "generate answer", WEFT_TYPE_COMPLETION);
    j->spans++;
    weft_message sys = {.role = "system", .content = "Answer from the retrieved documents only; cite them."};
    weft_message user = {.role = "user", .content = j->question};
    weft_span_add_message(j->gen, WEFT_INPUT, &sys);
    weft_span_add_message(j->gen, WEFT_INPUT, &user);

    weft_citation cites[TOP_K];
    j->answer[0] = 0;
    if (j->n_hits == 0)
        append(j->answer, sizeof j->answer, "I cannot answer that from the documents I have.", 48);
    for (size_t i = 0; i < j->n_hits; i++) {
        size_t len;
        const char *text = bm25_doc_text(j->ix, j->hits[i].doc, &len);
        const char *id = bm25_doc_id(j->ix, j->hits[i].doc);
        size_t a = j->passages[i].byte_start, b = j->passages[i].byte_end;
        if (b - a > SNIPPET_MAX)
            b = a + SNIPPET_MAX;
        if (i)
            append(j->answer, sizeof j->answer, " ", 1);
        append(j->answer, sizeof j->answer, text + a, b - a);
        char marker[80];
        int m = snprintf(marker, sizeof marker, " [%s]", id);
        append(j->answer, sizeof j->answer, marker, (size_t)m);
        cites[i] = (weft_citation){
            .doc_id = id,
            .has_span = true,
            .span_start = (int64_t)j->passages[i].char_start,
            .span_end = (int64_t)j->passages[i].char_end,
            .confidence = j->hits[0].score > 0 ? j->hits[i].score / j->hits[0].score : 0,
            .relevance_score = j->hits[i].score,
        };
    }

    /* A child of the generation span, on this thread. */
    weft_span fmt = weft_span_begin_child(j->gen, "format citations", WEFT_TYPE_CUSTOM);
    j->spans++;
    weft_span_set_i64(fmt, WEFT_OUTPUT, "citations", (int64_t)j->n_hits);
    weft_span_end(fmt);

    const char *reasoning[] = {"rank documents by BM25", "quote the best sentence of each", "cite each quote"};
    weft_generation_info info = {
        .answer = j->answer,
        .citations = cites,
        .n_citations = j->n_hits,
        .model_used = "extractive-bm25",
        .prompt_template = "quote-and-cite/v1",
        .context_length = (int32_t)strlen(j->answer),
        .reasoning_trace = reasoning,
        .n_reasoning = 3,
    };
    weft_span_set_generation(j->gen, &info);
    weft_usage usage = {
        .model = "extractive-bm25",
        .input_tokens = (int64_t)(strlen(j->question) + 3) / 4,
        .output_tokens = (int64_t)(strlen(j->answer) + 3) / 4,
        .has_cost = true,
        .cost_usd = 0,
    };
    weft_span_set_usage(j->gen, &usage);
    weft_message out = {.role = "assistant", .content = j->answer};
    weft_span_add_message(j->gen, WEFT_OUTPUT, &out);
    j->generate_ms = now_ms() - t0;
    return NULL; /* main ends j->gen: a span may end on another thread */
}

static int answer(const bm25_index *ix, const char *question, int n)
{
    job j = {.ix = ix, .question = question};
    double t0 = now_ms();
    weft_span root = weft_span_begin("answer question", WEFT_TYPE_AGENT_WORKFLOW);
    j.spans = 1;
    weft_span_set_str(root, WEFT_INPUT, "question", question);
    j.parent = root;

    pthread_t t;
    if (pthread_create(&t, NULL, retrieve, &j) != 0)
        return -1;
    pthread_join(t, NULL);
    if (pthread_create(&t, NULL, generate, &j) != 0)
        return -1;
    pthread_join(t, NULL);
    weft_span_end(j.gen);
    if (demo_llm_configured()) {
        demo_llm_ask(root, question, j.answer); /* a real model, when one is configured */
        j.spans++;
    }

    weft_span_set_str(root, WEFT_OUTPUT, "answer", j.answer);
    weft_span_end(root);

    printf("\n[%d] %s\n", n, question);
    for (size_t i = 0; i < j.n_hits; i++)
        printf("    %zu. %-20s BM25 %.3f\n", i + 1, bm25_doc_id(ix, j.hits[i].doc), j.hits[i].score);
    printf("    answer: %.160s%s\n", j.answer, strlen(j.answer) > 160 ? "..." : "");
    printf("    trace: %d spans on 3 threads, retrieve %.2f ms, generate %.2f ms, total %.2f ms\n", j.spans,
           j.retrieve_ms, j.generate_ms, now_ms() - t0);
    return 0;
}

int main(int argc, char **argv)
{
    int rc = weft_init(NULL);
    if (rc != 0) {
        fprintf(stderr, "weft_demo: weft_init: %s\n", weft_strerror(rc));
        return 1;
    }
    const char *dir = getenv("WEFT_DEMO_CORPUS");
    if (!dir)
        dir = WEFT_DEMO_CORPUS_DIR;
    bm25_index *ix = bm25_new();
    long docs = ix ? bm25_add_dir(ix, dir) : -1;
    if (docs <= 0) {
        fprintf(stderr, "weft_demo: no corpus in %s (set WEFT_DEMO_CORPUS)\n", dir);
        bm25_free(ix);
        weft_shutdown(1000);
        return 1;
    }
    printf("weft %s demo: %ld documents from %s\n", WEFT_VERSION_STRING, docs, dir);

    int n = 0;
    if (argc > 1)
        for (int i = 1; i < argc; i++)
            answer(ix, argv[i], ++n);
    else
        for (size_t i = 0; i < sizeof builtin_questions / sizeof builtin_questions[0]; i++)
            answer(ix, builtin_questions[i], ++n);

    rc = weft_shutdown(10000);
    weft_stats st;
    weft_get_stats(&st);
    const char *exp = getenv("WEFT_EXPORTER");
    const char *path = getenv("WEFT_JSONL_PATH");
    if (!exp)
        exp = getenv("SGP_API_KEY") ? "sgp" : "jsonl";
    printf("\n%llu spans in %d traces exported (%llu dropped) ", (unsigned long long)st.exported, n,
           (unsigned long long)(st.dropped_ring + st.dropped_export + st.dropped_queue + st.dropped_open));
    if (strstr(exp, "jsonl"))
        printf("to %s (one SGP span item per line)\n", path ? path : "weft-traces.jsonl");
    else
        printf("through the %s exporter\n", exp);
    if (rc != 0)
        printf("weft_shutdown: %s\n", weft_strerror(rc));
    bm25_free(ix);
    return rc == 0 ? 0 : 1;
}
