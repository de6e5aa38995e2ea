/*
 * format_check.h — the format check weft computes for a generated answer when the caller of
 * weft_span_set_generation gives none (DESIGN.md section 5, output.format_check).
 *
 * Owns nothing: pure functions of their arguments, no I/O, no allocation, no global state, so
 * they may run on any thread (rag_map.c calls them on the export thread, and rag_set.c on the producer only
 * when an answer too large for the ring must be cut, so that the check describes the whole
 * answer). Input text is raw bytes that may be invalid UTF-8; an invalid byte counts as one
 * character, as in weft__utf8_count.
 *
 * The rules, each one a function below so tests can pin it down:
 *
 *   length_chars    Unicode characters (code points) of the answer.
 *   length_tokens   An estimate, not a tokenizer: ceil(A / 4) + N, where A is the number of
 *                   ASCII characters and N the number of other characters. Four ASCII
 *                   characters per token is the usual rule of thumb for English with BPE
 *                   vocabularies; scripts such as CJK take about one token per character, so
 *                   every non-ASCII character counts one (an over-estimate for accented Latin).
 *   citation_count  The citations given, plus the distinct citation markers in the answer that
 *                   do not refer to one of them (grammar below).
 *   contains_citations  citation_count > 0.
 *   refusal         One of the phrases of weft__format_check_refusal occurs in the answer's
 *                   opening (its first WEFT__FC_REFUSAL_WINDOW bytes after leading whitespace),
 *                   compared case-insensitively, with U+2019 accepted for the apostrophe.
 *   is_complete     Not flagged truncated by the caller; not empty; every ``` fence closed; an
 *                   answer opening with '{' parses as JSON (else it is an object cut off); and,
 *                   after trailing whitespace and trailing markdown emphasis closers (* and _)
 *                   are trimmed, the answer ends in terminal punctuation (. ! ? … 。 ！ ？), a
 *                   closing bracket or quote () ] } " ' ” ’ » 」 』 ）) or a closing ``` fence.
 *                   So "The answer is 42." is complete, "The answer is" is not, nor is an answer
 *                   whose code block was never closed.
 *   format_type     "json" when the whole answer (surrounding whitespace aside) is one JSON object
 *                   or array (weft__json_valid); else "markdown" when a line is a heading
 *                   (1-6 '#' and a space), a list item ("- ", "* ", "+ ", or digits then ". " or
 *                   ") "), a block quote ("> ") or a ``` fence (up to 3 leading spaces allowed),
 *                   or a line holds a link "[text](", strong emphasis (**x** or __x__) or inline
 *                   code (`x`); else "text".
 *   language        never computed: set only when the caller gives it.
 *
 * Citation marker grammar (ABNF-ish, over bytes):
 *
 *   marker = "[" [ "^" ] id *( "," *" " id ) "]"
 *   id     = 1*64( ALPHA / DIGIT / "-" / "_" / "." / ":" / "/" / "#" )
 *
 * and each id must contain a digit, '-' or '_' (so "[1]", "[12]", "[doc-id]", "[^3]", "[kb_7]"
 * and "[1, 2]" are markers, while the words of "[link](url)", "[x]", "[note]" or "[e.g.]" are
 * not). Markers inside ``` fences or `inline code` are not counted: code is not prose; nor is
 * an answer whose format_type is "json" scanned at all: there "[1]" is data. An id
 * refers to a given citation when it equals that citation's doc_id, or when it is a decimal k
 * with 1 <= k <= n_citations (the k-th citation, numbered from 1); such ids add nothing to the
 * count. Other ids are counted once each (exactly, for up to WEFT__FC_MAX_DISTINCT distinct ids;
 * beyond that every further occurrence not among those counts).
 */
#ifndef WEFT_FORMAT_CHECK_H
#define WEFT_FORMAT_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "weft/weft.h"

/* 256 bytes: about the opening sentence or two, where a refusal says what it is; a phrase such
 * as "as an AI" deep inside a long answer is usually not one. */
#define WEFT__FC_REFUSAL_WINDOW 256

/* Distinct marker ids remembered for de-duplication (a fixed table on the stack, 4 KiB). */
#define WEFT__FC_MAX_DISTINCT 256

/* Longest marker id, bytes. */
#define WEFT__FC_MAX_ID 64

/* Fills *out from answer[0..len) and the citations given (citations may be NULL when
 * n_citations is 0; each doc_id may be NULL). truncated: the caller knows the text was cut
 * (is_complete is then false). out->language is set to NULL; out->format_type points to a
 * static string. All pointers borrowed. */
void weft__format_check_compute(weft_format_check *out, const char *answer, size_t len,
                                const weft_citation *citations, size_t n_citations, bool truncated);

/* The individual rules (see the file comment). */
int32_t weft__format_check_tokens(const char *s, size_t len);
bool weft__format_check_refusal(const char *s, size_t len);
bool weft__format_check_complete(const char *s, size_t len, bool truncated);
/* "json", "markdown" or "text" (static strings). */
const char *weft__format_check_type(const char *s, size_t len);
/* Distinct markers in s that do not refer to a given citation. */
int32_t weft__format_check_markers(const char *s, size_t len, const weft_citation *citations,
                                   size_t n_citations);

/* The refusal phrases, lowercase, ASCII apostrophes; NULL-terminated; static. */
extern const char *const weft__format_check_refusal_phrases[];

#endif
