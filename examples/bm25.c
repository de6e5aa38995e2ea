/*
 * bm25.c — the demo's BM25 retriever (see bm25.h for the formula and the tokenizer).
 *
 * Owns: the documents (copied), and an inverted index: a hash table of terms, each with its
 * postings (document, term frequency) in increasing document order — documents are added in
 * order and each document's tokens are indexed before the next, so a posting for document d is
 * always appended or is the last one. Invariants: total_tokens is the sum of the documents'
 * token counts; a term's df is its number of postings.
 */
#include "bm25.h"

#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TOKEN 63

typedef struct posting {
    size_t doc;
    uint32_t tf;
} posting;

typedef struct term {
    char *s; /* NULL: empty slot */
    size_t n;
    uint64_t hash;
    posting *p;
    size_t np, cap;
} term;

typedef struct doc {
    char *id, *text;
    size_t len, ntok;
} doc;

struct bm25_index {
    doc *docs;
    size_t ndocs, cap_docs;
    term *terms; /* open addressing, power-of-two capacity, load <= 1/2 */
    size_t nterms, cap_terms;
    size_t total_tokens;
    int oom;
};

/* ---- tokenizer ------------------------------------------------------------------------ */

static int is_alnum(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

void bm25_tokenize(const char *text, size_t len, void (*fn)(void *ctx, const char *tok, size_t n), void *ctx)
{
    char buf[MAX_TOKEN + 1];
    size_t i = 0;
    while (i < len) {
        while (i < len && !is_alnum((unsigned char)text[i]))
            i++;
        size_t n = 0;
        while (i < len && is_alnum((unsigned char)text[i])) {
            unsigned char c = (unsigned char)text[i++];
            if (n < MAX_TOKEN)
                buf[n++] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
        }
        if (n) {
            buf[n] = 0;
            fn(ctx, buf, n);
        }
    }
}

/* ---- term table ----------------------------------------------------------------------- */

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static term *find_term(const bm25_index *ix, const char *s, size_t n, uint64_t h)
{
    if (!ix->cap_terms)
        return NULL;
    for (size_t i = h & (ix->cap_terms - 1);; i = (i + 1) & (ix->cap_terms - 1)) {
        term *t = &ix->terms[i];
        if (!t->s)
            return t; /* the empty slot where it would go */
        if (t->hash == h && t->n == n && memcmp(t->s, s, n) == 0)
            return t;
    }
}

static int grow_terms(bm25_index *ix)
{
    size_t cap = ix->cap_terms ? ix->cap_terms * 2 : 256;
    term *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return -1;
    for (size_t i = 0; i < ix->cap_terms; i++) {
        term *t = &ix->terms[i];
        if (!t->s)
            continue;
        size_t j = t->hash & (cap - 1);
        while (tab[j].s)
            j = (j + 1) & (cap - 1);
        tab[j] = *t;
    }
    free(ix->terms);
    ix->terms = tab;
    ix->cap_terms = cap;
    return 0;
}

/* The term, created when missing (NULL when out of memory). */
static term *intern(bm25_index *ix, const char *s, size_t n)
{
    if ((ix->nterms + 1) * 2 > ix->cap_terms && grow_terms(ix) != 0)
        return NULL;
    uint64_t h = fnv1a(s, n);
    term *t = find_term(ix, s, n, h);
    if (t->s)
        return t;
    t->s = malloc(n + 1);
    if (!t->s)
        return NULL;
    memcpy(t->s, s, n + 1);
    t->n = n;
    t->hash = h;
    ix->nterms++;
    return t;
}

/* A term already in the index, or NULL. */
static const term *lookup(const bm25_index *ix, const char *s, size_t n)
{
    const term *t = find_term(ix, s, n, fnv1a(s, n));
    return (t && t->s) ? t : NULL;
}

/* ---- building ------------------------------------------------------------------------- */

bm25_index *bm25_new(void) { return calloc(1, sizeof(bm25_index)); }

void bm25_free(bm25_index *ix)
{
    if (!ix)
        return;
    for (size_t i = 0; i < ix->ndocs; i++) {
        free(ix->docs[i].id);
        free(ix->docs[i].text);
    }
    free(ix->docs);
    for (size_t i = 0; i < ix->cap_terms; i++) {
        free(ix->terms[i].s);
        free(ix->terms[i].p);
    }
    free(ix->terms);
    free(ix);
}

typedef struct add_ctx {
    bm25_index *ix;
    size_t doc;
} add_ctx;

static void add_token(void *p, const char *tok, size_t n)
{
    add_ctx *a = p;
    bm25_index *ix = a->ix;
    if (ix->oom)
        return;
    term *t = intern(ix, tok, n);
    if (!t) {
        ix->oom = 1;
        return;
    }
    ix->docs[a->doc].ntok++;
    ix->total_tokens++;
    if (t->np && t->p[t->np - 1].doc == a->doc) {
        t->p[t->np - 1].tf++;
        return;
    }
    if (t->np == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 4;
        posting *np = realloc(t->p, cap * sizeof *np);
        if (!np) {
            ix->oom = 1;
            return;
        }
        t->p = np;
        t->cap = cap;
    }
    t->p[t->np++] = (posting){a->doc, 1};
}

long bm25_add(bm25_index *ix, const char *id, const char *text, size_t len)
{
    if (!ix || !id || ix->oom)
        return -1;
    if (ix->ndocs == ix->cap_docs) {
        size_t cap = ix->cap_docs ? ix->cap_docs * 2 : 16;
        doc *d = realloc(ix->docs, cap * sizeof *d);
        if (!d)
            return -1;
        ix->docs = d;
        ix->cap_docs = cap;
    }
    doc *d = &ix->docs[ix->ndocs];
    d->id = strdup(id);
    d->text = malloc(len + 1);
    if (!d->id || !d->text) {
        free(d->id);
        free(d->text);
        return -1;
    }
    if (len)
        memcpy(d->text, text, len);
    d->text[len] = 0;
    d->len = len;
    d->ntok = 0;
    add_ctx a = {ix, ix->ndocs};
    ix->ndocs++;
    bm25_tokenize(d->text, len, add_token, &a);
    return ix->oom ? -1 : (long)a.doc;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

long bm25_add_dir(bm25_index *ix, const char *dir)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return -1;
    char **names = NULL;
    size_t n = 0, cap = 0;
    long rc = 0;
    for (struct dirent *e; (e = readdir(dp));) {
        size_t l = strlen(e->d_name);
        if (l <= 4 || strcmp(e->d_name + l - 4, ".txt") != 0 || e->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(dp);
    if (rc == 0)
        qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n && rc >= 0; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        char *buf = NULL;
        size_t len = 0;
        if (f && fseek(f, 0, SEEK_END) == 0) {
            long sz = ftell(f);
            if (sz >= 0 && fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)sz + 1)))
                len = fread(buf, 1, (size_t)sz, f);
        }
        if (f)
            fclose(f);
        names[i][strlen(names[i]) - 4] = 0; /* the id: the name without ".txt" */
        if (!buf || bm25_add(ix, names[i], buf, len) < 0)
            rc = -1;
        else
            rc++;
        free(buf);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

size_t bm25_count(const bm25_index *ix) { return ix ? ix->ndocs : 0; }

const char *bm25_doc_id(const bm25_index *ix, size_t d) { return (ix && d < ix->ndocs) ? ix->docs[d].id : NULL; }

const char *bm25_doc_text(const bm25_index *ix, size_t d, size_t *len)
{
    if (!ix || d >= ix->ndocs)
        return NULL;
    if (len)
        *len = ix->docs[d].len;
    return ix->docs[d].text;
}

/* ---- scoring -------------------------------------------------------------------------- */

typedef struct qterms {
    const bm25_index *ix;
    const term **t; /* distinct query terms found in the index */
    size_t n, cap;
    int oom;
} qterms;

static void add_qterm(void *p, const char *tok, size_t n)
{
    qterms *q = p;
    const term *t = lookup(q->ix, tok, n);
    if (!t || q->oom)
        return;
    for (size_t i = 0; i < q->n; i++)
        if (q->t[i] == t)
            return; /* a repeated query term counts once */
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        const term **nt = realloc(q->t, cap * sizeof *nt);
        if (!nt) {
            q->oom = 1;
            return;
        }
        q->t = nt;
        q->cap = cap;
    }
    q->t[q->n++] = t;
}

static double idf(const bm25_index *ix, const term *t)
{
    double N = (double)ix->ndocs, n = (double)t->np;
    return log(1.0 + (N - n + 0.5) / (n + 0.5));
}

/* Adds each query term's contribution to scores[doc] (only_doc: that document alone). */
static int score_all(const bm25_index *ix, const char *query, double *scores, size_t only_doc)
{
    qterms q = {ix, NULL, 0, 0, 0};
    bm25_tokenize(query, strlen(query), add_qterm, &q);
    if (q.oom) {
        free(q.t);
        return -1;
    }
    double avgdl = ix->ndocs ? (double)ix->total_tokens / (double)ix->ndocs : 0.0;
    for (size_t i = 0; i < q.n; i++) {
        const term *t = q.t[i];
        double w = idf(ix, t);
        for (size_t k = 0; k < t->np; k++) {
            size_t d = t->p[k].doc;
            if (only_doc != SIZE_MAX && d != only_doc)
                continue;
            double tf = t->p[k].tf;
            double norm = avgdl > 0 ? (double)ix->docs[d].ntok / avgdl : 1.0;
            scores[only_doc != SIZE_MAX ? 0 : d] +=
                w * tf * (BM25_K1 + 1.0) / (tf + BM25_K1 * (1.0 - BM25_B + BM25_B * norm));
        }
    }
    free(q.t);
    return 0;
}

double bm25_score(const bm25_index *ix, size_t d, const char *query)
{
    if (!ix || !query || d >= ix->ndocs)
        return 0.0;
    double s = 0.0;
    if (score_all(ix, query, &s, d) != 0)
        return 0.0;
    return s;
}

static int cmp_hits(const void *a, const void *b)
{
    const bm25_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? 1 : -1;
    return (x->doc > y->doc) - (x->doc < y->doc);
}

size_t bm25_search(const bm25_index *ix, const char *query, bm25_hit *out, size_t k)
{
    if (!ix || !query || ix->ndocs == 0 || k == 0)
        return 0;
    double *scores = calloc(ix->ndocs, sizeof *scores);
    bm25_hit *all = malloc(ix->ndocs * sizeof *all);
    if (!scores || !all || score_all(ix, query, scores, SIZE_MAX) != 0) {
        free(scores);
        free(all);
        return (size_t)-1;
    }
    size_t n = 0;
    for (size_t d = 0; d < ix->ndocs; d++)
        if (scores[d] > 0.0)
            all[n++] = (bm25_hit){d, scores[d]};
    qsort(all, n, sizeof *all, cmp_hits);
    if (n > k)
        n = k;
    memcpy(out, all, n * sizeof *out);
    free(scores);
    free(all);
    return n;
}

/* ---- passages ------------------------------------------------------------------------- */

typedef struct passage_ctx {
    const char *const *qtok; /* lowercased query tokens */
    size_t nq;
    uint64_t seen; /* bit i: query token i occurs (the first 64 tokens count) */
} passage_ctx;

static void mark_token(void *p, const char *tok, size_t n)
{
    passage_ctx *c = p;
    for (size_t i = 0; i < c->nq && i < 64; i++)
        if (strlen(c->qtok[i]) == n && memcmp(c->qtok[i], tok, n) == 0)
            c->seen |= 1ull << i;
}

typedef struct qlist {
    char **tok;
    size_t n, cap;
    int oom;
} qlist;

static void collect_token(void *p, const char *tok, size_t n)
{
    qlist *q = p;
    (void)n; /* tok is NUL-terminated */
    if (q->oom)
        return;
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->tok[i], tok) == 0)
            return;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 8;
        char **nt = realloc(q->tok, cap * sizeof *nt);
        if (!nt) {
            q->oom = 1;
            return;
        }
        q->tok = nt;
        q->cap = cap;
    }
    if (!(q->tok[q->n] = strdup(tok))) {
        q->oom = 1;
        return;
    }
    q->n++;
}

static size_t chars_before(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int bm25_best_passage(const bm25_index *ix, size_t d, const char *query, bm25_span *out)
{
    if (!ix || d >= ix->ndocs || !out)
        return -1;
    const char *s = ix->docs[d].text;
    size_t len = ix->docs[d].len;
    qlist q = {NULL, 0, 0, 0};
    if (query)
        bm25_tokenize(query, strlen(query), collect_token, &q);

    size_t best_s = 0, best_e = 0;
    int best = -1;
    for (size_t i = 0; i < len;) {
        while (i < len && is_ws(s[i]))
            i++;
        if (i >= len)
            break;
        size_t st = i;
        while (i < len && !((s[i] == '.' || s[i] == '!' || s[i] == '?') && (i + 1 == len || is_ws(s[i + 1]))))
            i++;
        size_t en = i < len ? i + 1 : len;
        while (en > st && is_ws(s[en - 1]))
            en--;
        passage_ctx c = {(const char *const *)q.tok, q.n, 0};
        bm25_tokenize(s + st, en - st, mark_token, &c);
        int hits = __builtin_popcountll(c.seen);
        if (hits > best) {
            best = hits;
            best_s = st;
            best_e = en;
        }
        i = en;
    }
    for (size_t i = 0; i < q.n; i++)
        free(q.tok[i]);
    free(q.tok);
    out->byte_start = best_s;
    out->byte_end = best_e;
    out->char_start = chars_before(s, best_s);
    out->char_end = out->char_start + chars_before(s + best_s, best_e - best_s);
    return 0;
}
