/*
 * convert_keymap.c — the string-keyed map of convert.h that `weft convert` uses to choose one
 * record per span and to group spans by trace. Single-threaded; no I/O.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "convert.h"

/* ---- key map ------------------------------------------------------------------------------- */

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void grow(keymap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    keymap_entry *s = calloc(cap, sizeof *s);
    if (!s) {
        fputs("weft: out of memory\n", stderr);
        exit(CLI_FAIL);
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->slots[i].key)
            continue;
        size_t j = hash(m->slots[i].key) & (cap - 1);
        while (s[j].key)
            j = (j + 1) & (cap - 1);
        s[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
}

keymap_entry *keymap_get(keymap *m, const char *key, bool *added)
{
    if ((m->n + 1) * 4 > m->cap * 3)
        grow(m);
    size_t j = hash(key) & (m->cap - 1);
    while (m->slots[j].key) {
        if (!strcmp(m->slots[j].key, key)) {
            if (added)
                *added = false;
            return &m->slots[j];
        }
        j = (j + 1) & (m->cap - 1);
    }
    m->slots[j].key = cli_strdup(key);
    m->n++;
    if (added)
        *added = true;
    return &m->slots[j];
}

void keymap_free(keymap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    memset(m, 0, sizeof *m);
}
