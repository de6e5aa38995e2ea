/*
 * memory.c — an exporter that keeps every record in memory as JSON lines (the tests read it
 * back with a real JSON parser). The sink outlives weft_shutdown so tests can read after it,
 * and is emptied at the next open; it lives in the memory exporter's kept slot of the runtime
 * (registry.h), guarded by its own mutex.
 */
#include "memory.h"

#include <pthread.h>
#include <stdlib.h>

#include "exporter.h"
#include "registry.h"
#include "runtime.h"

typedef struct weft__memory_sink {
    pthread_mutex_t lock;
    weft__buf lines;
} sink_t;

extern const weft__exporter_ops weft__exporter_memory;

static sink_t **slot(void) { return (sink_t **)&weft__rt.exporter_kept[weft__exporter_index(&weft__exporter_memory)]; }

static int memory_open(weft__exporter *ex)
{
    sink_t *s = *slot();
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return WEFT_ENOMEM;
        pthread_mutex_init(&s->lock, NULL);
        weft__buf_init(&s->lines);
        *slot() = s;
    }
    weft__memory_clear();
    ex->state = s;
    weft__log(WEFT_LOG_INFO, "exporter memory: keeping completed spans in memory (tests)");
    return 0;
}

static void memory_submit(weft__exporter *ex, weft__batch *b)
{
    sink_t *s = ex->state;
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < b->n; i++) {
        if (b->items[i].in_progress && !b->items[i].final_open)
            continue;
        size_t len;
        const char *p = weft__batch_item_bytes(b, WEFT__ENC_SGP_JSON, i, &len);
        weft__buf_append(&s->lines, p, len);
        weft__buf_putc(&s->lines, '\n');
    }
    pthread_mutex_unlock(&s->lock);
    weft__batch_done(b, 0);
}

static bool memory_drain(weft__exporter *ex, uint64_t deadline) { return true; }
static void memory_close(weft__exporter *ex) { ex->state = NULL; }

bool weft__memory_snapshot(weft__buf *out)
{
    sink_t *s = *slot();
    if (!s)
        return false;
    pthread_mutex_lock(&s->lock);
    weft__buf_append(out, s->lines.data, s->lines.len);
    pthread_mutex_unlock(&s->lock);
    return true;
}

void weft__memory_clear(void)
{
    sink_t *s = *slot();
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    weft__buf_reset(&s->lines);
    pthread_mutex_unlock(&s->lock);
}

const weft__exporter_ops weft__exporter_memory = {
    .name = "memory",
    .encoding = WEFT__ENC_SGP_JSON,
    .wants_inprogress = false,
    .open = memory_open,
    .submit = memory_submit,
    .drain = memory_drain,
    .close = memory_close,
};
