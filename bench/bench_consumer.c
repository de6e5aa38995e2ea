/*
 * bench_consumer.c — the export thread's sustainable rate (DESIGN.md section 8: >= 5,000,000
 * spans/s on one core for drain + assemble + encode, for single-span traces with one
 * attribute and for 10-span traces with three 16-byte attributes, measured only in runs with
 * no drop). Two more shapes have no budget: 20 attributes a span, and 1 KiB values.
 *
 * Method (bench_pass's): one weft_init per exporter, with a 64 MiB ring and no flush timer.
 * The producer (this thread) makes one round of spans that fills about 40 % of the ring,
 * below the high-water mark, so the export thread is not woken while it does; then
 * weft_flush(0) has the export thread drain, assemble, encode and deliver the round while
 * this thread waits, and the export thread's clock is read again once it has gone idle (it
 * may finish a pass after the flush returned). Rounds repeat until the shape's span count
 * went through; before the first, an untimed warm-up registers this thread (its ring is
 * allocated and touched then) and lets the export thread grow its pools. The figure is
 * spans / CPU seconds of the export thread itself, read from its own per-thread CPU clock
 * (bench_common.h finds it as the thread weft_init started) from before the round is made to
 * after the flush, so it is what one core of export thread sustains, whatever else this
 * shared VM runs; the wall time of the flushes is printed beside it. Exporters: discard (the
 * SGP item JSON, bytes dropped), discard_otlp (the OTLP Span protobuf, bytes dropped), jsonl
 * (the SGP item written with writev to a file in a temporary directory, truncated after each
 * round; it pays the write too, so it is printed without a verdict).
 *
 * A run in which any span or event was dropped (dropped_ring, dropped_ring_spans,
 * dropped_open, dropped_queue, dropped_export, dropped_no_slot, dropped_depth, filtered), or
 * in which fewer spans were exported than were made, gives no figure: the line says
 * "REFUSED: N events dropped" and the program exits 1.
 *
 * Run: ./build/bench/bench_consumer [RUNS [SCALE]]   (defaults 5 runs, interleaved shape by
 * shape and exporter by exporter, and SCALE 1.0 of each shape's span count; medians).
 */
#include <stdint.h>
#include <unistd.h>

#include "bench_common.h"
#include "weft/weft.h"

#define RING_BYTES (64u << 20)
#ifndef ROUND_PERCENT
#define ROUND_PERCENT 40 /* of the ring a round fills (the high-water mark is at 50);
                            -DROUND_PERCENT=250 makes runs drop, to see them refused */
#endif
#define MAX_RUNS 50
#define BIG_VALUE 1024

typedef struct shape {
    const char *label;
    int per_trace, n_attrs, big; /* big: values of BIG_VALUE bytes, else 16 */
    uint64_t spans;              /* spans per run at SCALE 1 */
    uint64_t ring_bytes;         /* ring bytes per span, rounded up (sizes a round) */
    double budget;               /* spans/s; 0: no budget */
} shape;

static const shape shapes[] = {
    {"(a) 1-span traces, 1 attribute", 1, 1, 0, 300000, 160, 5e6},
    {"(b) 10-span traces, 3 x 16 B attributes", 10, 3, 0, 300000, 400, 5e6},
    {"(c) 10-span traces, 20 x 16 B attributes", 10, 20, 0, 60000, 1400, 0},
    {"(d) 10-span traces, 3 x 1 KiB values", 10, 3, 1, 30000, 4000, 0},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

typedef struct exporter {
    const char *name, *what;
    int judged; /* compared with the budget (drain + assemble + encode) */
} exporter;

static const exporter exporters[] = {
    {"discard", "SGP item", 1},
    {"discard_otlp", "OTLP Span", 1},
    {"jsonl", "SGP item + writev", 0},
};
#define N_EXPORTERS (sizeof exporters / sizeof exporters[0])

/* One run of one shape with one exporter. */
typedef struct result {
    double rate;      /* spans per export-thread CPU second */
    double cpu_ns;    /* export thread, per span */
    double wall_ns;   /* flush wall time, per span */
    double prod_ns;   /* producer CPU, per span */
    uint64_t dropped; /* events and spans dropped, all counters */
    uint64_t missing; /* spans made but not exported */
    int nthreads;     /* threads weft_init started (1: the export thread) */
} result;

static result results[N_EXPORTERS][N_SHAPES][MAX_RUNS];
static char big_value[BIG_VALUE + 1];
static char jsonl_dir[64], jsonl_path[96];

static uint64_t drops(const weft_stats *s)
{
    return s->dropped_ring + s->dropped_ring_spans + s->dropped_open + s->dropped_queue + s->dropped_export +
           s->dropped_no_slot + s->dropped_depth + s->filtered;
}

/* Waits until the threads in t stop running (the export thread may finish a pass after
 * weft_flush has returned: freeing, its next look at the rings) and returns their CPU
 * nanoseconds then, so that work is counted in the round that caused it. */
static double settled_cpu_ns(const bench_tids *t)
{
    double prev = bench_tids_cpu_ns(t);
    for (int i = 0; i < 200 && prev >= 0; i++) {
        usleep(500);
        double now = bench_tids_cpu_ns(t);
        if (now < 0 || now - prev < 5000) /* under 1 % of the 0.5 ms: idle */
            return now;
        prev = now;
    }
    return prev;
}

/* Makes sh's spans in rounds and times the export thread over each; fills *r. */
static void run_shape(const shape *sh, double scale, const bench_tids *weft_threads, result *r)
{
    uint64_t total = (uint64_t)((double)sh->spans * scale);
    uint64_t round = (uint64_t)RING_BYTES * ROUND_PERCENT / 100 / sh->ring_bytes;
    round -= round % (uint64_t)sh->per_trace;
    total -= total % (uint64_t)sh->per_trace;
    if (total < (uint64_t)sh->per_trace)
        total = (uint64_t)sh->per_trace;
    weft_stats s0, s1;
    weft_get_stats(&s0);
    double cpu = 0, wall = 0, prod = 0;
    int bad_clock = 0;
    for (uint64_t done = 0; done < total;) {
        uint64_t n = total - done < round ? total - done : round;
        double c0 = settled_cpu_ns(weft_threads), p0 = bench_cpu_ns(CLOCK_THREAD_CPUTIME_ID);
        bench_fill(n, sh->per_trace, sh->n_attrs, sh->big ? big_value : NULL);
        double p1 = bench_cpu_ns(CLOCK_THREAD_CPUTIME_ID), w0 = bench_now_ns();
        weft_flush(0);
        double w1 = bench_now_ns(), c1 = settled_cpu_ns(weft_threads);
        if (c0 < 0 || c1 < 0)
            bad_clock = 1;
        cpu += c1 - c0;
        wall += w1 - w0;
        prod += p1 - p0;
        done += n;
        if (jsonl_path[0])
            (void)truncate(jsonl_path, 0); /* idle after the flush; the exporter appends */
    }
    weft_get_stats(&s1);
    r->dropped = drops(&s1) - drops(&s0);
    uint64_t exported = s1.exported - s0.exported;
    r->missing = exported < total ? total - exported : 0;
    r->cpu_ns = cpu / (double)total;
    r->wall_ns = wall / (double)total;
    r->prod_ns = prod / (double)total;
    r->rate = bad_clock || cpu <= 0 ? 0 : (double)total / (cpu / 1e9);
    r->nthreads = weft_threads->n;
}

/* One weft_init with exporter ex, every shape once. Returns 0, or -1 when weft_init failed. */
static int run_exporter(size_t e, int run, double scale)
{
    weft_config c = {.exporters = exporters[e].name, .no_atexit = true, .ring_bytes = RING_BYTES,
                     .flush_interval_ms = 3600000};
    jsonl_path[0] = '\0';
    if (strcmp(exporters[e].name, "jsonl") == 0) {
        snprintf(jsonl_path, sizeof jsonl_path, "%s/consumer.jsonl", jsonl_dir);
        c.jsonl_path = jsonl_path;
    }
    bench_tids before, weft_threads;
    bench_tids_list(&before);
    if (weft_init(&c) != 0) {
        fprintf(stderr, "bench_consumer: weft_init with exporter %s failed\n", exporters[e].name);
        return -1;
    }
    bench_tids_list(&weft_threads);
    bench_tids_new(&weft_threads, &before);
    /* Untimed: this thread's registration (its ring is allocated and touched then) and the
     * export thread's first batches, pools and tables. */
    bench_fill(20000, 10, 3, NULL);
    bench_fill(20000, 1, 1, NULL);
    weft_flush(0);
    for (size_t k = 0; k < N_SHAPES; k++)
        run_shape(&shapes[k], scale, &weft_threads, &results[e][k][run]);
    weft_shutdown(10000);
    if (jsonl_path[0])
        unlink(jsonl_path);
    return 0;
}

/* Prints the median of the runs of one shape and exporter beside the budget; returns 1 when
 * the figure was refused. */
static int report(size_t e, size_t k, int runs)
{
    const shape *sh = &shapes[k];
    char label[128];
    snprintf(label, sizeof label, "%s: %s", sh->label, exporters[e].what);
    uint64_t dropped = 0, missing = 0;
    int nthreads = 1;
    double rate[MAX_RUNS], cpu[MAX_RUNS], wall[MAX_RUNS], prod[MAX_RUNS];
    for (int r = 0; r < runs; r++) {
        const result *x = &results[e][k][r];
        dropped += x->dropped;
        missing += x->missing;
        if (x->nthreads != 1)
            nthreads = x->nthreads;
        rate[r] = x->rate, cpu[r] = x->cpu_ns, wall[r] = x->wall_ns, prod[r] = x->prod_ns;
    }
    if (dropped || missing) {
        printf("%-58s REFUSED: %llu events dropped, %llu spans not exported (over %d runs)\n", label,
               (unsigned long long)dropped, (unsigned long long)missing, runs);
        return 1;
    }
    if (nthreads != 1) {
        printf("%-58s REFUSED: weft_init started %d threads, not one export thread\n", label, nthreads);
        return 1;
    }
    double best = 0;
    for (int r = 0; r < runs; r++)
        if (rate[r] > best)
            best = rate[r];
    double med = bench_median(rate, runs);
    if (sh->budget > 0 && exporters[e].judged)
        bench_report(label, med, "spans/s", sh->budget, 0);
    else
        bench_report_nobudget(label, med, "spans/s");
    printf("    export-thread CPU %.0f ns/span (fastest run %.2f M spans/s), flush wall %.0f ns/span, "
           "producer %.0f ns/span, 0 dropped\n",
           bench_median(cpu, runs), best / 1e6, bench_median(wall, runs), bench_median(prod, runs));
    return 0;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    double scale = argc > 2 ? atof(argv[2]) : 1.0;
    if (runs < 1 || runs > MAX_RUNS || !(scale > 0) || scale > 100) {
        fprintf(stderr, "usage: bench_consumer [RUNS (1-%d) [SCALE (0-100]]]\n", MAX_RUNS);
        return 2;
    }
    /* Prompt-like text: printable ASCII in lines of 64 bytes, so the JSON writer escapes a
     * newline now and then, as it would in a real prompt or completion. */
    for (int i = 0; i < BIG_VALUE; i++)
        big_value[i] = (i % 64 == 63) ? '\n' : (char)('a' + (i * 7) % 26);
    snprintf(jsonl_dir, sizeof jsonl_dir, "/tmp/weft-bench-consumer-XXXXXX");
    if (!mkdtemp(jsonl_dir)) {
        perror("bench_consumer: mkdtemp");
        return 2;
    }
    double t0 = bench_now_ns();
    int failed = 0;
    for (int r = 0; r < runs && !failed; r++)
        for (size_t e = 0; e < N_EXPORTERS && !failed; e++)
            failed = run_exporter(e, r, scale) != 0;
    rmdir(jsonl_dir);
    if (failed)
        return 2;
    printf("export thread alone: drain + assemble + encode (+ deliver), spans per CPU-second of the\n"
           "export thread (its own thread CPU clock); median of %d interleaved runs, %.0f MiB ring filled\n"
           "to ~%d %% a round, then weft_flush(0); %.1f s in all\n",
           runs, RING_BYTES / 1048576.0, ROUND_PERCENT, (bench_now_ns() - t0) / 1e9);
    int refused = 0;
    for (size_t k = 0; k < N_SHAPES; k++)
        for (size_t e = 0; e < N_EXPORTERS; e++)
            refused |= report(e, k, runs);
    return refused ? 1 : 0;
}
