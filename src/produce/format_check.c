/*
 * format_check.c — the computed format check of a generated answer; the rules are stated in
 * format_check.h and each has one function here.
 *
 * Invariants: pure functions over raw bytes (possibly invalid UTF-8, possibly without a NUL
 * terminator); no allocation, no I/O, no global mutable state; every scan is linear in the
 * answer's length except the marker de-duplication, bounded by WEFT__FC_MAX_DISTINCT
 * comparisons per marker.
 */
#include "format_check.h"

#include <stdint.h>
#include <string.h>

#include "json.h"

const char *const weft__format_check_refusal_phrases[] = {
    /* Direct refusals. */
    "i can't help", "i cannot help", "i can't assist", "i cannot assist", "i can't answer",
    "i cannot answer", "i can't provide", "i cannot provide", "i can't comply", "i cannot comply",
    "i won't be able to", "i will not be able to", "i'm unable to", "i am unable to",
    "i'm not able to", "i am not able to", "i must decline", "i have to decline",
    /* Apologetic openings of the same. */
    "sorry, but i can't", "sorry, but i cannot", "sorry, i can't", "sorry, i cannot",
    /* Model self-reference, almost always the preface of a refusal. */
    "as an ai",
    NULL,
};

static bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static unsigned char lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c; }

int32_t weft__format_check_tokens(const char *s, size_t len)
{
    uint64_t ascii = 0;
    for (size_t i = 0; i < len; i++)
        ascii += (unsigned char)s[i] < 0x80;
    uint64_t other = weft__utf8_count(s, len) - ascii;
    uint64_t t = (ascii + 3) / 4 + other;
    return t > INT32_MAX ? INT32_MAX : (int32_t)t;
}

/* Length in s at i of phrase p when s matches it there, else 0. Case-insensitive for ASCII;
 * "'" in the phrase also matches U+2019 (E2 80 99), the apostrophe word processors and many
 * models emit. */
static size_t match_phrase(const char *s, size_t len, size_t i, const char *p)
{
    size_t j = i;
    for (; *p; p++) {
        if (j >= len)
            return 0;
        unsigned char c = (unsigned char)s[j];
        if (*p == '\'' && c == 0xE2 && j + 2 < len && (unsigned char)s[j + 1] == 0x80 &&
            (unsigned char)s[j + 2] == 0x99) {
            j += 3;
            continue;
        }
        if (lower(c) != (unsigned char)*p)
            return 0;
        j++;
    }
    return j - i;
}

bool weft__format_check_refusal(const char *s, size_t len)
{
    size_t start = 0;
    while (start < len && is_space((unsigned char)s[start]))
        start++;
    size_t end = len - start > WEFT__FC_REFUSAL_WINDOW ? start + WEFT__FC_REFUSAL_WINDOW : len;
    for (size_t i = start; i < end; i++) {
        /* Phrases start at a word boundary: "ai can't help" is not "i can't help". */
        if (i > start && is_alpha((unsigned char)s[i - 1]))
            continue;
        unsigned char c = lower((unsigned char)s[i]);
        if (c != 'i' && c != 's' && c != 'a')
            continue; /* every phrase starts with one of these: skip the list for other bytes */
        for (const char *const *p = weft__format_check_refusal_phrases; *p; p++)
            if ((unsigned char)**p == c && match_phrase(s, len, i, *p))
                return true;
    }
    return false;
}

/* True when s[0..len) ends with the bytes of suffix. */
static bool ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

/* Number of ``` fences that open a line (after up to 3 spaces), the CommonMark rule. */
static size_t count_fences(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t j = i, sp = 0;
        while (j < len && s[j] == ' ' && sp < 3) {
            j++;
            sp++;
        }
        if (len - j >= 3 && memcmp(s + j, "```", 3) == 0)
            n++;
        const char *nl = memchr(s + i, '\n', len - i);
        if (!nl)
            break;
        i = (size_t)(nl - s) + 1;
    }
    return n;
}

bool weft__format_check_complete(const char *s, size_t len, bool truncated)
{
    if (truncated)
        return false;
    while (len > 0 && is_space((unsigned char)s[len - 1]))
        len--;
    if (len == 0)
        return false;
    if (count_fences(s, len) % 2 != 0)
        return false; /* cut inside a code block */
    size_t a = 0;
    while (a < len && is_space((unsigned char)s[a]))
        a++;
    if (s[a] == '{')
        return weft__json_valid(s + a, len - a); /* a JSON object is complete when it parses */
    if (ends_with(s, len, "```"))
        return true;
    /* "**Done.**" ends a sentence; "**Done**" does not. */
    while (len > 0 && (s[len - 1] == '*' || s[len - 1] == '_'))
        len--;
    if (len == 0)
        return false;
    static const char ascii_end[] = ".!?)]}\"'";
    if (memchr(ascii_end, s[len - 1], sizeof ascii_end - 1))
        return true;
    static const char *const utf8_end[] = {
        "\xE2\x80\xA6", /* … */
        "\xE3\x80\x82", /* 。 */
        "\xEF\xBC\x81", /* ！ */
        "\xEF\xBC\x9F", /* ？ */
        "\xE2\x80\x9D", /* ” */
        "\xE2\x80\x99", /* ’ */
        "\xC2\xBB",     /* » */
        "\xE3\x80\x8D", /* 」 */
        "\xE3\x80\x8F", /* 』 */
        "\xEF\xBC\x89", /* ） */
    };
    for (size_t k = 0; k < sizeof utf8_end / sizeof utf8_end[0]; k++)
        if (ends_with(s, len, utf8_end[k]))
            return true;
    return false;
}

/* Markdown line starts: heading, list item, block quote, fence. p points after up to 3 spaces. */
static bool md_line_start(const char *p, size_t n)
{
    if (n >= 3 && memcmp(p, "```", 3) == 0)
        return true;
    if (n >= 2 && (p[0] == '-' || p[0] == '*' || p[0] == '+' || p[0] == '>') && p[1] == ' ')
        return true;
    size_t h = 0;
    while (h < n && h < 7 && p[h] == '#')
        h++;
    if (h >= 1 && h <= 6 && h < n && p[h] == ' ')
        return true;
    size_t d = 0;
    while (d < n && d < 10 && is_digit((unsigned char)p[d]))
        d++;
    if (d >= 1 && d <= 9 && d + 1 < n && (p[d] == '.' || p[d] == ')') && p[d + 1] == ' ')
        return true;
    return false;
}

/* Inline markdown within one line: "[text](", **x**, __x__, `x`. One pass: each construct
 * remembers where it could have opened. */
static bool md_inline(const char *p, size_t n)
{
    size_t open_bracket = SIZE_MAX;           /* last '[' */
    size_t open_strong[2] = {SIZE_MAX, SIZE_MAX}; /* last "**" / "__" that can open */
    size_t open_code = SIZE_MAX;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '[') {
            open_bracket = i;
        } else if (c == ']') {
            if (open_bracket != SIZE_MAX && i > open_bracket + 1 && i + 1 < n && p[i + 1] == '(')
                return true;
        } else if ((c == '*' || c == '_') && i + 1 < n && p[i + 1] == c) {
            int w = c == '_';
            /* closes: an opener at least one character back, no space before the closer */
            if (open_strong[w] != SIZE_MAX && i >= open_strong[w] + 3 && !is_space((unsigned char)p[i - 1]))
                return true;
            if (i + 2 < n && !is_space((unsigned char)p[i + 2]) && p[i + 2] != c)
                open_strong[w] = i;
            i++; /* the pair is consumed */
        } else if (c == '`') {
            if (open_code != SIZE_MAX && i > open_code + 1)
                return true;
            open_code = i;
        }
    }
    return false;
}

const char *weft__format_check_type(const char *s, size_t len)
{
    size_t a = 0, b = len;
    while (a < b && is_space((unsigned char)s[a]))
        a++;
    while (b > a && is_space((unsigned char)s[b - 1]))
        b--;
    if (a < b && (s[a] == '{' || s[a] == '[') && weft__json_valid(s + a, b - a))
        return "json";
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(s + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - s) : len;
        size_t j = i, sp = 0;
        while (j < end && s[j] == ' ' && sp < 3) {
            j++;
            sp++;
        }
        if (md_line_start(s + j, end - j) || md_inline(s + i, end - i))
            return "markdown";
        if (!nl)
            break;
        i = end + 1;
    }
    return "text";
}

static bool is_id_char(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '/' ||
           c == '#';
}

/* True when id refers to one of the given citations (see the header). */
static bool refers_to_given(const char *id, size_t n, const weft_citation *cit, size_t n_cit)
{
    bool numeric = n <= 9;
    uint64_t k = 0;
    for (size_t i = 0; i < n && numeric; i++) {
        if (!is_digit((unsigned char)id[i]))
            numeric = false;
        else
            k = k * 10 + (uint64_t)(id[i] - '0');
    }
    if (numeric && k >= 1 && k <= n_cit)
        return true;
    for (size_t c = 0; c < n_cit; c++) {
        const char *d = cit[c].doc_id;
        if (d && strlen(d) == n && memcmp(d, id, n) == 0)
            return true;
    }
    return false;
}

typedef struct seen_ids {
    struct {
        const char *p;
        uint32_t n;
    } ids[WEFT__FC_MAX_DISTINCT];
    size_t n;
} seen_ids;

/* Counts id once: true when it was not seen before (or the table is full and it is not in it). */
static bool first_sighting(seen_ids *seen, const char *id, size_t n)
{
    for (size_t k = 0; k < seen->n; k++)
        if (seen->ids[k].n == n && memcmp(seen->ids[k].p, id, n) == 0)
            return false;
    if (seen->n < WEFT__FC_MAX_DISTINCT) {
        seen->ids[seen->n].p = id;
        seen->ids[seen->n].n = (uint32_t)n;
        seen->n++;
    }
    return true;
}

/* Parses a marker at s[i] == '['. Returns the index after ']' and counts its new ids into
 * *count, or returns 0 when s[i..] is not a marker. */
static size_t parse_marker(const char *s, size_t len, size_t i, const weft_citation *cit, size_t n_cit,
                           seen_ids *seen, int64_t *count)
{
    size_t j = i + 1;
    if (j < len && s[j] == '^')
        j++;
    /* First pass validates the whole marker, so "[1, word]" counts nothing. */
    size_t k = j;
    for (;;) {
        size_t st = k;
        bool idlike = false;
        while (k < len && is_id_char((unsigned char)s[k])) {
            unsigned char c = (unsigned char)s[k];
            if (is_digit(c) || c == '-' || c == '_')
                idlike = true;
            k++;
        }
        if (k == st || k - st > WEFT__FC_MAX_ID || !idlike)
            return 0;
        if (k < len && s[k] == ']')
            break;
        if (k < len && s[k] == ',') {
            k++;
            while (k < len && s[k] == ' ')
                k++;
            continue;
        }
        return 0;
    }
    size_t close = k;
    for (k = j; k < close;) {
        size_t st = k;
        while (k < close && is_id_char((unsigned char)s[k]))
            k++;
        if (!refers_to_given(s + st, k - st, cit, n_cit) && first_sighting(seen, s + st, k - st))
            (*count)++;
        while (k < close && (s[k] == ',' || s[k] == ' '))
            k++;
    }
    return close + 1;
}

int32_t weft__format_check_markers(const char *s, size_t len, const weft_citation *citations,
                                   size_t n_citations)
{
    seen_ids seen;
    seen.n = 0;
    int64_t count = 0;
    bool in_fence = false, in_code = false;
    for (size_t i = 0; i < len;) {
        char c = s[i];
        if (c == '`') {
            if (len - i >= 3 && memcmp(s + i, "```", 3) == 0) {
                in_fence = !in_fence;
                in_code = false;
                i += 3;
            } else {
                if (!in_fence)
                    in_code = !in_code;
                i++;
            }
            continue;
        }
        if (c == '\n' && in_code)
            in_code = false; /* an unclosed inline span ends with its line */
        if (c == '[' && !in_fence && !in_code) {
            size_t next = parse_marker(s, len, i, citations, n_citations, &seen, &count);
            if (next) {
                i = next;
                continue;
            }
        }
        i++;
    }
    return count > INT32_MAX ? INT32_MAX : (int32_t)count;
}

void weft__format_check_compute(weft_format_check *out, const char *answer, size_t len,
                                const weft_citation *citations, size_t n_citations, bool truncated)
{
    if (!answer)
        len = 0, answer = "";
    if (!citations)
        n_citations = 0;
    size_t chars = weft__utf8_count(answer, len);
    const char *type = weft__format_check_type(answer, len);
    /* In a JSON answer "[1]" is data, not a marker: its citations are whatever it says. */
    int64_t cites = (int64_t)n_citations +
                    (strcmp(type, "json") == 0 ? 0 : weft__format_check_markers(answer, len, citations, n_citations));
    out->length_chars = chars > INT32_MAX ? INT32_MAX : (int32_t)chars;
    out->length_tokens = weft__format_check_tokens(answer, len);
    out->citation_count = cites > INT32_MAX ? INT32_MAX : (int32_t)cites;
    out->contains_citations = cites > 0;
    out->refusal = weft__format_check_refusal(answer, len);
    out->is_complete = weft__format_check_complete(answer, len, truncated);
    out->format_type = type;
    out->language = NULL;
}
