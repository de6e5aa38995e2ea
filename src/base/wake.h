/*
 * wake.h — the one call the producer side makes towards the export thread: "wake up early"
 * (a ring passed its high-water mark, a thread registered). The export thread registers a
 * target when it starts and clears it before it stops; the producer side only sees this leaf,
 * so it depends on nothing above base/.
 *
 * Threading: weft__wake may be called from any thread at any time (a no-op when no target is
 * registered); weft__wake_set is called by the export thread's owner (weft_init / shutdown).
 * The target must stay valid until weft__wake_set(NULL) has returned and no producer can be
 * inside weft (weft_shutdown turns tracing off first).
 */
#ifndef WEFT_WAKE_H
#define WEFT_WAKE_H

#include <stdatomic.h>

typedef struct weft__wake_target {
    void (*fn)(struct weft__wake_target *self); /* async-signal-unsafe, thread-safe */
} weft__wake_target;

/* Registers (or with NULL clears) what weft__wake calls; target is borrowed. */
void weft__wake_set(weft__wake_target *target);
/* Wakes the export thread, if one is running. */
void weft__wake(void);

#endif
