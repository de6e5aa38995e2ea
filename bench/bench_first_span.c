/*
 * bench_first_span.c — the cost of the first span on a new thread (DESIGN.md section 8:
 * <= 20 us, whatever the ring size): the time of one begin+end on a thread that has never
 * called weft, for ring_bytes 1 MiB and 64 MiB; and after weft_thread_register.
 *
 * Method: SAMPLES threads per case, each started while the earlier ones are still alive (so
 * each needs a thread state of its own instead of taking over an exited thread's), each timing
 * its first begin+end; medians. Three cases per ring size:
 *   - "ready": a pause of 3 flush intervals before each thread, so the export thread has put
 *     ready states back on the free list (thread.c, POOL_READY);
 *   - "no pause": threads started one after another, each once the last has had its span
 *     (~1 ms apart, main sleeps 1 ms between looks): the two ready states may run out at the third,
 *     and the rest find one only if the export thread makes them as they are taken;
 *   - "registered": weft_thread_register() first (its own cost printed too), then the span.
 * Run: ./build/bench/bench_first_span. Against a weft without weft_thread_register, compile
 * with -DWEFT_BENCH_NO_GROWTH (the "registered" case is skipped).
 */
#include <pthread.h>
#include <sys/resource.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "bench_common.h"
#include "weft/weft.h"

#define SAMPLES 15
#define FLUSH_MS 20

typedef struct sample {
    int reg;                /* call weft_thread_register first */
    double reg_ns, span_ns; /* measured */
    long faults;            /* page faults (minor + major) taken by the first span */
    pthread_mutex_t *gate;  /* held by main until every sample has run */
    volatile int done;
} sample;

static void *one(void *p)
{
    sample *s = p;
    if (s->reg) {
        double a = bench_now_ns();
#ifndef WEFT_BENCH_NO_GROWTH
        weft_thread_register();
#endif
        s->reg_ns = bench_now_ns() - a;
    }
    struct rusage u0, u1;
    getrusage(RUSAGE_THREAD, &u0);
    double t0 = bench_now_ns();
    weft_span sp = weft_span_begin("first", WEFT_TYPE_CUSTOM);
    weft_span_end(sp);
    s->span_ns = bench_now_ns() - t0;
    getrusage(RUSAGE_THREAD, &u1);
    s->faults = (u1.ru_minflt - u0.ru_minflt) + (u1.ru_majflt - u0.ru_majflt);
    __atomic_store_n(&s->done, 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(s->gate); /* stay alive: the next thread needs a state of its own */
    pthread_mutex_unlock(s->gate);
    return NULL;
}

static void pause_ms(int ms)
{
    struct timespec ts = {0, (long)ms * 1000000L};
    nanosleep(&ts, NULL);
}

/* Median first-span time in us (and registration time in *reg_us, page faults of the first
 * span in *faults) over SAMPLES threads. */
static double run_case(uint64_t ring, int reg, int wait, double *reg_us, double *faults)
{
    weft_config c = {.exporters = "none", .no_atexit = true, .ring_bytes = ring, .flush_interval_ms = FLUSH_MS};
    weft_init(&c);
    pause_ms(3 * FLUSH_MS);
    pthread_mutex_t gate = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&gate);
    sample s[SAMPLES];
    pthread_t th[SAMPLES];
    for (int k = 0; k < SAMPLES; k++) {
        if (wait)
            pause_ms(3 * FLUSH_MS);
        s[k] = (sample){.reg = reg, .gate = &gate};
        pthread_create(&th[k], NULL, one, &s[k]);
        while (!__atomic_load_n(&s[k].done, __ATOMIC_ACQUIRE))
            pause_ms(1); /* sleeping, not spinning: the new thread must not share a core with us */
    }
    pthread_mutex_unlock(&gate);
    double v[SAMPLES], r[SAMPLES], f[SAMPLES];
    for (int k = 0; k < SAMPLES; k++) {
        pthread_join(th[k], NULL);
        v[k] = s[k].span_ns / 1000.0;
        r[k] = s[k].reg_ns / 1000.0;
        f[k] = (double)s[k].faults;
    }
    weft_shutdown(10000);
    *reg_us = bench_median(r, SAMPLES);
    *faults = bench_median(f, SAMPLES);
    return bench_median(v, SAMPLES);
}

static void report(const char *name, double us, double faults)
{
    bench_report(name, us, "us", 20, 1);
    printf("%-58s %12.0f (median)\n", "  page faults taken by that span", faults);
}

int main(void)
{
    static const uint64_t rings[] = {1u << 20, 64u << 20};
    char name[96];
    for (int i = 0; i < 2; i++) {
        unsigned mib = (unsigned)(rings[i] >> 20);
        double reg_us, faults, us;
        snprintf(name, sizeof name, "first span on a new thread, %u MiB ring, ready state", mib);
        us = run_case(rings[i], 0, 1, &reg_us, &faults);
        report(name, us, faults);
        snprintf(name, sizeof name, "first span on a new thread, %u MiB ring, no pause", mib);
        us = run_case(rings[i], 0, 0, &reg_us, &faults);
        report(name, us, faults);
#ifndef WEFT_BENCH_NO_GROWTH
        snprintf(name, sizeof name, "first span after weft_thread_register, %u MiB ring", mib);
        us = run_case(rings[i], 1, 0, &reg_us, &faults);
        report(name, us, faults);
        printf("%-58s %12.2f us (median; not on a span)\n", "  weft_thread_register itself", reg_us);
#endif
    }
    return 0;
}
