/*
 * registry.c — the table of exporters (see registry.h). Adding an exporter: its file in
 * exporters/ and one line here.
 */
#include "registry.h"

#include "runtime.h"

#include <stdio.h>
#include <strings.h>

extern const weft__exporter_ops weft__exporter_sgp;
extern const weft__exporter_ops weft__exporter_jsonl;
extern const weft__exporter_ops weft__exporter_stdout;
extern const weft__exporter_ops weft__exporter_memory;
extern const weft__exporter_ops weft__exporter_discard;
extern const weft__exporter_ops weft__exporter_stratix;
extern const weft__exporter_ops weft__exporter_otlp;
extern const weft__exporter_ops weft__exporter_discard_otlp;

static const weft__exporter_ops *const table[] = {
    &weft__exporter_jsonl, &weft__exporter_stdout, &weft__exporter_memory, &weft__exporter_sgp,
    &weft__exporter_otlp, &weft__exporter_discard, &weft__exporter_discard_otlp, &weft__exporter_stratix,
};
#define N_TABLE (sizeof(table) / sizeof(table[0]))
_Static_assert(N_TABLE <= WEFT__MAX_EXPORTERS, "raise WEFT__MAX_EXPORTERS");
_Static_assert(N_TABLE <= WEFT__KEPT_SLOTS, "raise WEFT__KEPT_SLOTS in runtime.h");

static bool is_none(const char *p, size_t n) { return n == 4 && strncasecmp(p, "none", 4) == 0; }

const weft__exporter_ops *weft__exporter_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_TABLE; i++) {
        const char *w = table[i]->name;
        size_t k = 0;
        while (w[k] && k < len)
            k++;
        if (k == len && w[k] == 0 && strncasecmp(w, name, len) == 0)
            return table[i];
    }
    return NULL;
}

size_t weft__exporter_index(const weft__exporter_ops *ops)
{
    for (size_t i = 0; i < N_TABLE; i++)
        if (table[i] == ops)
            return i;
    return 0; /* not reached: only the table's exporters are ever opened */
}

void weft__exporter_names(char *buf, size_t len)
{
    size_t at = 0;
    for (size_t i = 0; i <= N_TABLE && len; i++) {
        int n = snprintf(buf + at, len - at, "%s%s", i ? ", " : "", i < N_TABLE ? table[i]->name : "none");
        if (n < 0 || (size_t)n >= len - at)
            break;
        at += (size_t)n;
    }
}

int weft__exporters_select(const char *list, const weft__exporter_ops **out, const char **bad, size_t *bad_len)
{
    bool chosen[N_TABLE] = {false};
    size_t words = 0;
    const char *p = list ? list : "";
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *q = p;
        while (*q && *q != ',' && *q != ' ')
            q++;
        if (q == p)
            break;
        words++;
        size_t n = (size_t)(q - p);
        if (!is_none(p, n)) {
            const weft__exporter_ops *ops = weft__exporter_find(p, n);
            if (!ops) {
                *bad = p;
                *bad_len = n;
                return -1;
            }
            for (size_t i = 0; i < N_TABLE; i++)
                if (table[i] == ops)
                    chosen[i] = true;
        }
        p = q;
    }
    if (words == 0) {
        *bad = list ? list : "";
        *bad_len = 0;
        return -1;
    }
    int n = 0;
    for (size_t i = 0; i < N_TABLE; i++)
        if (chosen[i]) {
            if (out)
                out[n] = table[i];
            n++;
        }
    return n;
}
