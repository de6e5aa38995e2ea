/*
 * memory.c — an exporter that keeps every record in memory as JSON lines (the tests read it
 * back with a real JSON parser). The sink outlives weft_shutdown so tests can read after it,
 * and is replaced at the next open; it hangs off the runtime struct, guarded by its mutex.
 */
#include "memory.h"

#include <pthread.h>
#include <stdlib.h>

#include "exporter.h"
#include "runtime.h"

typedef struct weft__memory_sink {
    pthread_mutex_t lock;
    weft__buf lines;
} sink_t;

static int memory_open(weft__exporter *ex)
{
    sink_t *s = weft__rt.memory_sink;
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (!s)
            return WEFT_ENOMEM;
        pthread_mutex_init(&s->lock, NULL);
        weft__buf_init(&s->lines);
        weft__rt.memory_sink = s;
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
        const char *p = weft__batch_item_json(b, i, &len);
        weft__buf_append(&s->lines, p, len);
        weft__buf_putc(&s->lines, '\n');
    }
    pthread_mutex_unlock(&s->lock);
    weft__batch_done(b, 0);
}

static size_t memory_pending(const weft__exporter *ex) { return 0; }
static bool memory_drain(weft__exporter *ex, uint64_t deadline) { return true; }
static void memory_close(weft__exporter *ex) { ex->state = NULL; }

bool weft__memory_snapshot(weft__buf *out)
{
    sink_t *s = weft__rt.memory_sink;
    if (!s)
        return false;
    pthread_mutex_lock(&s->lock);
    weft__buf_append(out, s->lines.data, s->lines.len);
    pthread_mutex_unlock(&s->lock);
    return true;
}

void weft__memory_clear(void)
{
    sink_t *s = weft__rt.memory_sink;
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    weft__buf_reset(&s->lines);
    pthread_mutex_unlock(&s->lock);
}

const weft__exporter_ops weft__exporter_memory = {
    .name = "memory",
    .wants_inprogress = false,
    .open = memory_open,
    .submit = memory_submit,
    .pending = memory_pending,
    .drain = memory_drain,
    .close = memory_close,
};
