/*
 * test_bm25.c — the demo's BM25 retriever (examples/bm25.c): the tokenizer, scores against the
 * formula of bm25.h computed independently here, ranking, the shipped corpus, and passages.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bm25.h"

/* examples/corpus, found from this file's path unless the build says where it is. */
static const char *corpus_dir(void)
{
#ifdef WEFT_BM25_CORPUS_DIR
    return WEFT_BM25_CORPUS_DIR;
#else
    static char path[4096];
    const char *slash = strrchr(__FILE__, '/');
    int n = slash ? (int)(slash - __FILE__) : 1;
    snprintf(path, sizeof path, "%.*s/../../examples/corpus", n, slash ? __FILE__ : ".");
    return path;
#endif
}

typedef struct toks {
    char buf[512];
    size_t n;
} toks;

static void join(void *p, const char *tok, size_t n)
{
    toks *t = p;
    t->n += (size_t)snprintf(t->buf + t->n, sizeof t->buf - t->n, "%s%.*s", t->n ? "|" : "", (int)n, tok);
}

Test(bm25, tokenizes_lowercase_ascii_alnum_runs)
{
    toks t = {{0}, 0};
    const char *s = "Hello, World! x86_64 UTF-8 caf\xC3\xA9 2024";
    bm25_tokenize(s, strlen(s), join, &t);
    cr_assert_str_eq(t.buf, "hello|world|x86|64|utf|8|caf|2024");
}

Test(bm25, cuts_tokens_longer_than_63_bytes)
{
    char s[100];
    memset(s, 'A', sizeof s);
    toks t = {{0}, 0};
    bm25_tokenize(s, sizeof s, join, &t);
    cr_assert_eq(strlen(t.buf), 63);
    cr_assert_eq(t.buf[0], 'a');
}

/* The formula of bm25.h, written out independently. */
static double expect_score(const int *tf, const int *df, int nterms, int N, double dl, double avgdl)
{
    double s = 0;
    for (int i = 0; i < nterms; i++) {
        if (!tf[i])
            continue;
        double idf = log(1.0 + (N - df[i] + 0.5) / (df[i] + 0.5));
        s += idf * tf[i] * (1.2 + 1.0) / (tf[i] + 1.2 * (1.0 - 0.75 + 0.75 * dl / avgdl));
    }
    return s;
}

Test(bm25, scores_documents_as_the_formula_says)
{
    bm25_index *ix = bm25_new();
    cr_assert_eq(bm25_add(ix, "d0", "a b c", 5), 0);
    cr_assert_eq(bm25_add(ix, "d1", "A a d", 5), 1);
    cr_assert_eq(bm25_add(ix, "d2", "e f", 3), 2);
    cr_assert_eq(bm25_add(ix, "d3", "d d d d d d d d", strlen("d d d d d d d d")), 3);
    /* 3 + 3 + 2 + 8 = 16 tokens over 4 documents: avgdl 4. Query "a d": df(a) = 2, df(d) = 2. */
    const int df[] = {2, 2};
    const int tf0[] = {1, 0}, tf1[] = {2, 1}, tf3[] = {0, 8};
    cr_assert_float_eq(bm25_score(ix, 0, "a d"), expect_score(tf0, df, 2, 4, 3, 4), 1e-12);
    cr_assert_float_eq(bm25_score(ix, 1, "a d"), expect_score(tf1, df, 2, 4, 3, 4), 1e-12);
    cr_assert_float_eq(bm25_score(ix, 3, "a d"), expect_score(tf3, df, 2, 4, 8, 4), 1e-12);
    cr_assert_eq(bm25_score(ix, 2, "a d"), 0.0);
    cr_assert_float_eq(bm25_score(ix, 1, "a d a A"), bm25_score(ix, 1, "a d"), 1e-15,
                       "a repeated query term counts once");
    cr_assert_eq(bm25_score(ix, 9, "a"), 0.0, "out of range");
    bm25_free(ix);
}

Test(bm25, ranks_by_score_and_leaves_out_documents_without_a_match)
{
    bm25_index *ix = bm25_new();
    static const char *const docs[][2] = {
        {"none", "nothing here"},
        {"weak", "ring of keys and a long text about many other things entirely"},
        {"strong", "ring buffer: a ring of bytes"},
        {"twin", "ring buffer: a ring of bytes"},
    };
    for (int i = 0; i < 4; i++)
        cr_assert_eq(bm25_add(ix, docs[i][0], docs[i][1], strlen(docs[i][1])), i);
    bm25_hit hits[8];
    size_t n = bm25_search(ix, "ring buffer", hits, 8);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(bm25_doc_id(ix, hits[0].doc), "strong", "ties keep index order");
    cr_assert_str_eq(bm25_doc_id(ix, hits[1].doc), "twin");
    cr_assert_str_eq(bm25_doc_id(ix, hits[2].doc), "weak");
    cr_assert_eq(hits[0].score, hits[1].score);
    cr_assert_gt(hits[1].score, hits[2].score);
    cr_assert_eq(bm25_search(ix, "ring buffer", hits, 1), 1, "k bounds the results");
    cr_assert_eq(bm25_search(ix, "zebra", hits, 8), 0);
    cr_assert_eq(bm25_search(ix, "", hits, 8), 0);
    bm25_free(ix);
}

Test(bm25, loads_the_shipped_corpus_in_name_order)
{
    bm25_index *ix = bm25_new();
    long n = bm25_add_dir(ix, corpus_dir());
    cr_assert_geq(n, 8, "corpus at %s", corpus_dir());
    cr_assert_leq(n, 12);
    cr_assert_eq(bm25_count(ix), (size_t)n);
    for (size_t i = 1; i < (size_t)n; i++)
        cr_assert_lt(strcmp(bm25_doc_id(ix, i - 1), bm25_doc_id(ix, i)), 0);
    size_t len;
    cr_assert(bm25_doc_text(ix, 0, &len) && len > 100);
    cr_assert_null(bm25_doc_text(ix, (size_t)n, &len));
    cr_assert_eq(bm25_add_dir(ix, "/nonexistent/dir"), -1);
    bm25_free(ix);
}

Test(bm25, finds_the_document_a_question_is_about)
{
    static const struct {
        const char *query, *doc;
    } cases[] = {
        {"How does a single producer ring buffer avoid locks?", "ring-buffers"},
        {"exponential backoff with jitter for retries", "backoff"},
        {"what do k1 and b mean in the ranking function", "bm25"},
        {"why can the end timestamp never precede the start", "monotonic-clocks"},
        {"cache line bouncing between cores", "false-sharing"},
        {"invalid UTF-8 replacement character", "utf8"},
    };
    bm25_index *ix = bm25_new();
    cr_assert_gt(bm25_add_dir(ix, corpus_dir()), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bm25_hit hits[3];
        size_t n = bm25_search(ix, cases[i].query, hits, 3);
        cr_assert_geq(n, 1);
        cr_expect_str_eq(bm25_doc_id(ix, hits[0].doc), cases[i].doc, "%s", cases[i].query);
    }
    bm25_free(ix);
}

Test(bm25, quotes_the_sentence_with_the_most_query_terms)
{
    bm25_index *ix = bm25_new();
    const char *text = "First sentence here. The release store pairs with an acquire load!  Last one?";
    bm25_add(ix, "d", text, strlen(text));
    bm25_span sp;
    cr_assert_eq(bm25_best_passage(ix, 0, "acquire and release", &sp), 0);
    const char *want = "The release store pairs with an acquire load!";
    size_t at = (size_t)(strstr(text, want) - text);
    cr_assert_eq(sp.byte_start, at);
    cr_assert_eq(sp.byte_end, at + strlen(want), "the sentence, without the spaces after it");
    cr_assert_eq(sp.char_start, at, "ASCII: characters are bytes");
    cr_assert_eq(sp.char_end, at + strlen(want));
    cr_assert_eq(strncmp(text + sp.byte_start, "The release store", 17), 0);
    cr_assert_eq(text[sp.byte_end - 1], '!');
    cr_assert_eq(bm25_best_passage(ix, 0, "zebra", &sp), 0);
    cr_assert_eq(sp.byte_start, 0, "no match: the first sentence");
    cr_assert_eq(sp.byte_end, 20);
    cr_assert_eq(bm25_best_passage(ix, 1, "x", &sp), -1);
    bm25_free(ix);
}

Test(bm25, counts_passage_offsets_in_characters_for_utf8_text)
{
    bm25_index *ix = bm25_new();
    const char *text = "\xC3\x89l dijo. Caf\xC3\xA9 es bueno.";
    bm25_add(ix, "es", text, strlen(text));
    bm25_span sp;
    cr_assert_eq(bm25_best_passage(ix, 0, "bueno", &sp), 0);
    cr_assert_eq(sp.byte_start, 10);
    cr_assert_eq(sp.char_start, 9);
    cr_assert_eq(sp.byte_end, strlen(text));
    cr_assert_eq(sp.char_end, 9 + 14);
    bm25_free(ix);
}
