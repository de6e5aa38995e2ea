/*
 * bm25.h — a small, real BM25 retriever for the demo: an in-memory inverted index over a
 * handful of plain-text documents (examples/corpus/ ships eleven), scored with Okapi BM25.
 *
 * Scoring, for a query Q and a document D of |D| tokens in a corpus of N documents whose
 * average length is avgdl:
 *
 *     score(D, Q) = sum over distinct terms t of Q of
 *                   idf(t) * tf(t, D) * (k1 + 1) / (tf(t, D) + k1 * (1 - b + b * |D| / avgdl))
 *     idf(t)      = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))
 *
 * with k1 = 1.2, b = 0.75, tf(t, D) the occurrences of t in D and n(t) the documents holding
 * t. This idf (Lucene's) is never negative, so a term found in most documents still adds a
 * little. A query term repeated in the query counts once.
 *
 * Tokens: maximal runs of ASCII letters and digits, lowercased; every other byte (spaces,
 * punctuation, and bytes >= 0x80) separates tokens. No stemming and no stop words, so "spans"
 * and "span" are different terms.
 *
 * Ownership: an index owns copies of its documents' ids and texts; pointers returned by the
 * accessors stay valid until bm25_free. Threading: build on one thread; once built, searches
 * on the same index may run on several threads at once (they only read it).
 */
#ifndef WEFT_EXAMPLES_BM25_H
#define WEFT_EXAMPLES_BM25_H

#include <stddef.h>

#define BM25_K1 1.2
#define BM25_B 0.75

typedef struct bm25_index bm25_index;

/* One search result: the document's position in the index and its score (> 0). */
typedef struct bm25_hit {
    size_t doc;
    double score;
} bm25_hit;

/* A passage of a document: byte offsets for slicing, and the same range in characters (UTF-8
 * code points) for weft_document_hit.span_start/span_end and weft_citation spans. End is
 * exclusive. */
typedef struct bm25_span {
    size_t byte_start, byte_end;
    size_t char_start, char_end;
} bm25_span;

/* A new, empty index, or NULL when out of memory. Free with bm25_free (NULL is fine). */
bm25_index *bm25_new(void);
void bm25_free(bm25_index *ix);

/* Adds a document (id and text[0..len) borrowed and copied). Returns its position (0, 1, ...)
 * or -1 when out of memory or id is NULL. Adding after a search is allowed: statistics are
 * kept up to date. */
long bm25_add(bm25_index *ix, const char *id, const char *text, size_t len);

/* Adds every regular file named *.txt in dir, in the order of their names (so positions are
 * stable), with the file name minus ".txt" as the id. Returns the number added, or -1 when the
 * directory cannot be read, a file cannot be read, or memory runs out (documents added before
 * the failure stay). */
long bm25_add_dir(bm25_index *ix, const char *dir);

/* Number of documents. */
size_t bm25_count(const bm25_index *ix);
/* The id and text (NUL-terminated; *len set when len is not NULL) of document `doc`, or NULL
 * when doc is out of range. */
const char *bm25_doc_id(const bm25_index *ix, size_t doc);
const char *bm25_doc_text(const bm25_index *ix, size_t doc, size_t *len);

/* Scores every document against query and writes the best min(k, matches) into out, highest
 * score first (ties: lower position first). Documents sharing no term with the query are not
 * returned. Returns the number written, 0 when nothing matches, or (size_t)-1 when out of
 * memory. */
size_t bm25_search(const bm25_index *ix, const char *query, bm25_hit *out, size_t k);

/* The BM25 score of one document (0 when it shares no term with the query). */
double bm25_score(const bm25_index *ix, size_t doc, const char *query);

/* The sentence of document `doc` that holds the most distinct query terms (first such one on
 * ties; the first sentence when none holds any), without surrounding whitespace. Sentences
 * end after '.', '!' or '?' followed by whitespace or the end of the text. Returns 0, or -1
 * when doc is out of range. For quoting a retrieved document in a generated answer. */
int bm25_best_passage(const bm25_index *ix, size_t doc, const char *query, bm25_span *out);

/* Splits text[0..len) into tokens, calling fn(ctx, token, token_len) on each lowercased token
 * (the buffer is reused between calls). Tokens longer than 63 bytes are cut to 63. Exposed
 * for tests and for callers that want the same tokenizer. */
void bm25_tokenize(const char *text, size_t len, void (*fn)(void *ctx, const char *tok, size_t n), void *ctx);

#endif
