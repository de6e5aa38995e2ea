/*
 * bench_sgp.c — the SGP exporter end to end (DESIGN.md section 8): spans delivered per second
 * over HTTP to the in-process receiver on 127.0.0.1 in discard mode (budget >= 600,000), the
 * export thread's CPU time per delivered span, and behaviour at 10x the receiver's capacity
 * (memory bounded by max_queue_bytes, every span either delivered or counted as dropped).
 *
 * Method:
 *  1. Throughput: one producer thread makes N spans (two short string attributes and an
 *     integer each, like bench_consumer) at RATE spans/s, twice the budget, so that the
 *     figure measures delivery and not the pace it was offered, then weft_flush(0) waits until
 *     the receiver has acknowledged all of them. Figure: N / wall time, median of RUNS runs. The
 *     producer, the export thread and the receiver share the machine's cores. A run in which
 *     any span or event was dropped prints REFUSED instead of a figure (exit status 1).
 *  2. CPU per span: the export thread is the one thread weft_init adds to the process (found by
 *     listing /proc/self/task before and after); its CPU clock is read through the Linux
 *     thread-CPU clockid of its tid (what glibc's pthread_getcpuclockid computes). Figure:
 *     export-thread CPU ns / delivered spans over the throughput runs. It covers drain,
 *     assembly, JSON encoding and the HTTP exchange; 1,667 ns is what 600,000 spans/s on one
 *     core allows.
 *  3. Overload: the receiver accepts CAP spans/s (429 + Retry-After: 1 beyond), the producer
 *     makes 10 x CAP spans/s for SECONDS seconds with max_queue_bytes = 16 MiB. Reported: spans
 *     delivered and dropped (queue limit, export), the accounting identity
 *     ended == exported + dropped_queue + dropped_export after shutdown, and the growth of the
 *     peak RSS against the queue limit.
 *
 * Run: ./build/bench/bench_sgp
 */
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "receiver.h"
#include "weft/weft.h"

#define N 600000
#define BUDGET 600000 /* delivered spans/s, DESIGN.md section 8 */
#define RATE (2 * BUDGET) /* offered spans/s in the throughput runs */
#define RUNS 5
#define CAP 20000   /* receiver capacity in the overload run, spans/s */
#define SECONDS 5
#define REFUSED 2 /* throughput(): a run dropped, no figure */
#define QUEUE_LIMIT (16u << 20)

/* ---- the export thread's CPU clock ---------------------------------------------------------- */

#define MAX_TIDS 256

static int list_tids(int *tids)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < MAX_TIDS)
        if (e->d_name[0] != '.')
            tids[n++] = atoi(e->d_name);
    closedir(d);
    return n;
}

/* The tid present in after[] and not in before[] (the export thread), or 0. */
static int new_tid(const int *before, int nb, const int *after, int na)
{
    for (int i = 0; i < na; i++) {
        int seen = 0;
        for (int k = 0; k < nb; k++)
            seen |= after[i] == before[k];
        if (!seen)
            return after[i];
    }
    return 0;
}

/* Linux encodes a thread's CPU clock as ((~tid) << 3) | CPUCLOCK_SCHED (2) | CPUCLOCK_PERTHREAD
 * (4): the clockid glibc's pthread_getcpuclockid returns for that thread. */
static double thread_cpu_ns(int tid)
{
    clockid_t id = (clockid_t)((~(unsigned)tid << 3) | 6u);
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return -1;
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void make_spans(long n);

/* Resident set size now, in KiB (VmRSS of /proc/self/status). */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = atol(line + 6);
    fclose(f);
    return kib;
}

/* Makes n spans at `rate` spans/s in 1 ms slices; calls sample() after each slice. */
static void make_paced(long n, long rate, void (*sample)(void))
{
    const long per_ms = rate / 1000;
    double t0 = bench_now_ns();
    for (long done = 0, k = 0; done < n; k++) {
        long m = n - done < per_ms ? n - done : per_ms;
        make_spans(m);
        done += m;
        if (sample)
            sample();
        double next = t0 + (double)(k + 1) * 1e6, now = bench_now_ns();
        if (next > now)
            usleep((useconds_t)((next - now) / 1000));
    }
}

static long rss_peak;
static void sample_rss(void)
{
    long r = rss_kib();
    if (r > rss_peak)
        rss_peak = r;
}

/* ---- workload ------------------------------------------------------------------------------- */

static void make_spans(long n)
{
    WEFT_SPAN_BEGIN(root, "request", WEFT_TYPE_TRACER);
    for (long i = 0; i < n - 1; i++) {
        WEFT_SPAN_BEGIN(s, "generate", WEFT_TYPE_COMPLETION);
        weft_span_set_str(s, WEFT_INPUT, "model", "gpt-4o-mini");
        weft_span_set_str(s, WEFT_METADATA, "user", "u-1234");
        weft_span_set_i64(s, WEFT_OUTPUT, "tokens", i);
        WEFT_SPAN_END(s);
        /* A fresh trace now and then: real traces are not 500,000 spans long. */
        if (i % 1000 == 999) {
            WEFT_SPAN_END(root);
            root = weft__span_begin_site(&root_weft_site_);
        }
    }
    WEFT_SPAN_END(root);
}

static void quiet_log(void *user, weft_log_level level, const char *msg)
{
    (void)user;
    if (level <= WEFT_LOG_ERROR)
        fprintf(stderr, "weft: %s\n", msg);
}

static int throughput(void)
{
    weft_rx_opts ro = {.discard = true, .api_key = "bench-key"};
    weft_rx *rx = weft_rx_start(&ro);
    if (!rx)
        return 1;
    int before[MAX_TIDS], after[MAX_TIDS];
    int nb = list_tids(before);
    weft_config c = {.exporters = "sgp", .sgp_base_url = weft_rx_url(rx), .sgp_api_key = "bench-key",
                     .no_atexit = true, .log = quiet_log,
                     /* Room for the backlog when delivery is slower than RATE, in the ring
                      * and in the export queue: drops would hide the figure. */
                     .ring_bytes = 64u << 20, .max_queue_bytes = 1u << 30};
    if (weft_init(&c) != 0) {
        weft_rx_stop(rx);
        return 1;
    }
    int tid = new_tid(before, nb, after, list_tids(after));
    double v[RUNS], cpu0 = thread_cpu_ns(tid), cpu = 0;
    size_t up0 = 0;
    for (int r = 0; r < RUNS; r++) {
        double t0 = bench_now_ns();
        make_paced(N, RATE, NULL);
        weft_flush(0);
        double wall = bench_now_ns() - t0;
        size_t up = weft_rx_upserts(rx);
        v[r] = (double)(up - up0) / (wall / 1e9);
        up0 = up;
    }
    if (tid)
        cpu = thread_cpu_ns(tid) - cpu0;
    weft_stats st;
    weft_get_stats(&st);
    weft_shutdown(10000);
    uint64_t dropped = st.dropped_ring + st.dropped_ring_spans + st.dropped_open + st.dropped_queue +
                       st.dropped_export + st.dropped_no_slot + st.dropped_depth;
    if (dropped != 0 || st.exported != st.ended) {
        printf("%-58s REFUSED: %llu dropped, %llu of %llu spans exported\n",
               "delivered over HTTP to a loopback receiver (discard)", (unsigned long long)dropped,
               (unsigned long long)st.exported, (unsigned long long)st.ended);
        weft_rx_stop(rx);
        return REFUSED;
    }
    bench_report("delivered over HTTP to a loopback receiver (discard)", bench_median(v, RUNS),
                 "spans/s", BUDGET, 0);
    if (tid && cpu > 0)
        bench_report("export thread CPU per delivered span", cpu / (double)up0, "ns", 1e9 / BUDGET, 1);
    else
        printf("%-58s (export thread not found)\n", "export thread CPU per delivered span");
    printf("%-58s %llu / %llu / %llu\n", "  ended / exported / requests",
           (unsigned long long)st.ended, (unsigned long long)st.exported,
           (unsigned long long)st.requests);
    printf("%-58s %llu / %llu / %llu\n", "  dropped: ring events / export / queue",
           (unsigned long long)st.dropped_ring, (unsigned long long)st.dropped_export,
           (unsigned long long)st.dropped_queue);
    weft_rx_stop(rx);
    return 0;
}

static int overload(void)
{
    weft_rx_opts ro = {.discard = true, .api_key = "bench-key"};
    weft_rx *rx = weft_rx_start(&ro);
    if (!rx)
        return 1;
    weft_rx_set_capacity(rx, CAP);
    weft_config c = {.exporters = "sgp", .sgp_base_url = weft_rx_url(rx), .sgp_api_key = "bench-key",
                     .no_atexit = true, .log = quiet_log, .max_queue_bytes = QUEUE_LIMIT};
    if (weft_init(&c) != 0) {
        weft_rx_stop(rx);
        return 1;
    }
    long rss0 = rss_kib();
    rss_peak = rss0;
    double t0 = bench_now_ns();
    make_paced(10L * CAP * SECONDS, 10L * CAP, sample_rss);
    double wall = (bench_now_ns() - t0) / 1e9;
    int rc = weft_shutdown(3000);
    weft_stats st;
    weft_get_stats(&st);
    size_t delivered = weft_rx_upserts(rx);
    printf("%-58s %12.0f spans/s for %.1f s, receiver capped at %d spans/s\n",
           "overload: offered", (double)(10L * CAP * SECONDS) / wall, wall, CAP);
    printf("%-58s %12zu (%.0f spans/s)\n", "  delivered", delivered, (double)delivered / wall);
    printf("%-58s %12llu / %llu / %llu\n", "  dropped: queue limit / export (shutdown) / ring",
           (unsigned long long)st.dropped_queue, (unsigned long long)st.dropped_export,
           (unsigned long long)st.dropped_ring);
    unsigned long long accounted = st.exported + st.dropped_queue + st.dropped_export;
    printf("%-58s %12llu == %llu  %s\n", "  ended == exported + dropped_queue + dropped_export",
           (unsigned long long)st.ended, accounted, st.ended == accounted ? "ok" : "MISS");
    printf("%-58s %12s\n", "  weft_shutdown(3000)", weft_strerror(rc));
    bench_report("  peak RSS growth under overload", (double)(rss_peak - rss0) / 1024.0, "MiB",
                 (double)QUEUE_LIMIT / (1 << 20) + 32, 1);
    weft_rx_stop(rx);
    return 0;
}

int main(void)
{
    /* Overload first: its RSS growth is then not hidden by memory the heap kept from the
     * throughput runs. */
    int rc = overload();
    if (rc == 0)
        rc = throughput();
    if (rc != 0 && rc != REFUSED)
        fprintf(stderr, "bench_sgp: could not start the receiver or weft\n");
    return rc != 0;
}
