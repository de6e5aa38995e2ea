/*
 * bench_soak.c — the soak bench of issue 5: N spans (default 10,000,000) through the SGP exporter
 * with the disk spool on, against the in-process receiver (tests/support/receiver.h, discard
 * mode: it counts items and stores nothing), while faults are injected: bursts of 503 with
 * Retry-After, dropped connections, and a total outage of 30 s (scaled with N below 10 M, at
 * least 2 s). RSS is sampled every second from /proc/self/statm.
 *
 * Expectations (docs/spool.md, DESIGN.md section 8):
 *   - zero loss: after the run every span ended is delivered, directly (`exported`) or from the
 *     spool after the outage (`replayed`), and nothing is counted in any dropped_* field; the
 *     receiver acknowledged at least that many items (repeats are allowed: at-least-once);
 *   - flat memory: after warm-up (the first 10% of the spans) RSS grows by no more than what
 *     configuration bounds (max_queue_bytes held during the outage, plus slack for the heap),
 *     and from the end of the outage on, while the backlog comes back from disk beside new
 *     spans, it climbs by no more than 16 MiB (what the heap kept from the outage's peak may
 *     stay; it must not grow).
 *
 * Run: ./build/bench/bench_soak [N [spans_per_second]]   (defaults 10000000, 150000)
 * One producer thread makes spans at a steady rate (1 ms slices); the export thread, the
 * receiver and the producer share the machine's cores.
 */
#include <dirent.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_common.h"
#include "receiver.h"
#include "weft/weft.h"

#define KEY "soak-key"
#define QUEUE_LIMIT (64u << 20)  /* max_queue_bytes: the default */
#define SPOOL_CAP (16ull << 30)  /* room for the whole outage's backlog */
#define MAX_SAMPLES 7200

static _Atomic long produced;
static _Atomic int stop_sampling;
static long rss_kib[MAX_SAMPLES];
static long produced_at[MAX_SAMPLES];
static uint64_t spool_kib[MAX_SAMPLES];
static double sample_s[MAX_SAMPLES]; /* seconds since the start */
static double start_ns;
static _Atomic int n_samples;
static char spool_dir[64];

static long rss_now_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &size, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static uint64_t dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    uint64_t total = 0;
    if (!d)
        return 0;
    struct dirent *e;
    char p[512];
    struct stat st;
    while ((e = readdir(d)) != NULL) {
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        if (e->d_name[0] != '.' && stat(p, &st) == 0)
            total += (uint64_t)st.st_blocks * 512;
    }
    closedir(d);
    return total;
}

static void *sampler(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop_sampling)) {
        int k = atomic_load(&n_samples);
        if (k < MAX_SAMPLES) {
            rss_kib[k] = rss_now_kib();
            sample_s[k] = (bench_now_ns() - start_ns) / 1e9;
            produced_at[k] = atomic_load(&produced);
            spool_kib[k] = dir_bytes(spool_dir) / 1024;
            atomic_store(&n_samples, k + 1);
            if (getenv("SOAK_VERBOSE")) {
                weft_stats st;
                weft_get_stats(&st);
                fprintf(stderr, "  t=%d ended %llu exported %llu spooled %llu replayed %llu queued %llu "
                                "requests %llu retried %llu\n",
                        k, (unsigned long long)st.ended, (unsigned long long)st.exported,
                        (unsigned long long)st.spooled, (unsigned long long)st.replayed,
                        (unsigned long long)st.queued, (unsigned long long)st.requests,
                        (unsigned long long)st.retried);
            }
        }
        sleep(1);
    }
    return NULL;
}

/* ---- faults ------------------------------------------------------------------------------- */

typedef struct faults {
    weft_rx *rx;
    long n;
    double outage_s;
    double outage_began, outage_ended; /* seconds since start */
    double t0;
} faults;

static void wait_produced(long target)
{
    while (atomic_load(&produced) < target)
        usleep(5000);
}

static void *injector(void *arg)
{
    faults *f = arg;
    wait_produced(f->n / 10);
    weft_rx_fail_next(f->rx, 503, 30, "1");
    wait_produced(f->n / 5);
    weft_rx_drop_next(f->rx, 20);
    wait_produced(f->n * 35 / 100);
    weft_rx_set_outage(f->rx, true);
    f->outage_began = (bench_now_ns() - f->t0) / 1e9;
    usleep((useconds_t)(f->outage_s * 1e6));
    weft_rx_set_outage(f->rx, false);
    f->outage_ended = (bench_now_ns() - f->t0) / 1e9;
    wait_produced(f->n * 7 / 10);
    weft_rx_fail_next(f->rx, 503, 30, "1");
    weft_rx_drop_next(f->rx, 20);
    return NULL;
}

/* ---- workload ----------------------------------------------------------------------------- */

static void make_spans(long n, long first)
{
    WEFT_SPAN_BEGIN(root, "request", WEFT_TYPE_TRACER);
    for (long i = 0; i < n - 1; i++) {
        WEFT_SPAN_BEGIN(s, "generate", WEFT_TYPE_COMPLETION);
        weft_span_set_str(s, WEFT_INPUT, "model", "gpt-4o-mini");
        weft_span_set_str(s, WEFT_METADATA, "user", "u-1234");
        weft_span_set_i64(s, WEFT_OUTPUT, "tokens", first + i);
        WEFT_SPAN_END(s);
    }
    WEFT_SPAN_END(root);
}

static void quiet_log(void *user, weft_log_level level, const char *msg)
{
    (void)user;
    if (level <= WEFT_LOG_WARN)
        fprintf(stderr, "  [weft] %s\n", msg);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 10000000L;
    long rate = argc > 2 ? atol(argv[2]) : 150000L;
    if (n < 10000 || rate < 1000) {
        fprintf(stderr, "usage: %s [N >= 10000 [spans_per_second >= 1000]]\n", argv[0]);
        return 2;
    }
    double outage_s = 30.0 * (double)n / 1e7;
    if (outage_s < 2)
        outage_s = 2;

    snprintf(spool_dir, sizeof spool_dir, "/tmp/weft-soak-XXXXXX");
    if (!mkdtemp(spool_dir)) {
        perror("mkdtemp");
        return 1;
    }
    weft_rx_opts ro = {.discard = true, .api_key = KEY};
    weft_rx *rx = weft_rx_start(&ro);
    if (!rx) {
        fprintf(stderr, "bench_soak: the receiver did not start\n");
        return 1;
    }
    weft_rx_set_retry_after_ms(rx, 200);
    weft_config c = {.exporters = "sgp",
                     .sgp_base_url = weft_rx_url(rx),
                     .sgp_api_key = KEY,
                     .no_atexit = true,
                     .log = quiet_log,
                     .ring_bytes = 64u << 20, /* ring overflow is not what this bench measures */
                     .max_queue_bytes = QUEUE_LIMIT,
                     .spool_dir = spool_dir,
                     .spool_max_bytes = SPOOL_CAP};
    if (weft_init(&c) != 0) {
        fprintf(stderr, "bench_soak: weft_init failed\n");
        return 1;
    }
    printf("soak: %ld spans at %ld spans/s, outage %.0f s, spool %s (cap %llu GiB), queue limit "
           "%u MiB\n",
           n, rate, outage_s, spool_dir, (unsigned long long)(SPOOL_CAP >> 30), QUEUE_LIMIT >> 20);
    fflush(stdout);

    pthread_t samp, inj;
    faults f = {.rx = rx, .n = n, .outage_s = outage_s, .t0 = bench_now_ns()};
    start_ns = f.t0;
    pthread_create(&samp, NULL, sampler, NULL);
    pthread_create(&inj, NULL, injector, &f);

    const long per_ms = rate / 1000;
    double t0 = f.t0;
    for (long done = 0, k = 0; done < n; k++) {
        long m = n - done < per_ms ? n - done : per_ms;
        make_spans(m, done);
        done += m;
        atomic_store(&produced, done);
        double next = t0 + (double)(k + 1) * 1e6, now = bench_now_ns();
        if (next > now)
            usleep((useconds_t)((next - now) / 1000));
    }
    double t_made = (bench_now_ns() - t0) / 1e9;
    pthread_join(inj, NULL);

    /* Drained: every span ended is delivered or back from the spool, nothing held. */
    weft_flush(0);
    weft_stats st;
    double deadline = bench_now_ns() + 600e9;
    for (;;) {
        weft_get_stats(&st);
        bool done = st.queued == 0 && st.exported + st.spooled == st.ended && st.replayed >= st.spooled;
        if (done || bench_now_ns() > deadline)
            break;
        usleep(100 * 1000);
    }
    double t_drained = (bench_now_ns() - t0) / 1e9;
    sleep(2); /* two more RSS samples at rest */
    atomic_store(&stop_sampling, 1);
    pthread_join(samp, NULL);
    int rc = weft_shutdown(10000);
    weft_get_stats(&st);
    size_t rx_items = weft_rx_upserts(rx);

    int ns = atomic_load(&n_samples);
    long warm = -1, peak_after = 0, peak = 0, final = ns ? rss_kib[ns - 1] : -1;
    uint64_t spool_peak = 0;
    for (int k = 0; k < ns; k++) {
        if (rss_kib[k] > peak)
            peak = rss_kib[k];
        if (spool_kib[k] > spool_peak)
            spool_peak = spool_kib[k];
        if (warm < 0 && produced_at[k] >= n / 10)
            warm = rss_kib[k];
        if (warm >= 0 && rss_kib[k] > peak_after)
            peak_after = rss_kib[k];
    }

    /* Flat: from the end of the outage on — while the backlog is replayed from disk beside new
     * spans — RSS does not climb above where it stood when the outage ended. */
    long at_recovery = -1, climb = 0;
    for (int k = 0; k < ns; k++) {
        if (sample_s[k] < f.outage_ended)
            continue;
        if (at_recovery < 0)
            at_recovery = rss_kib[k];
        if (rss_kib[k] - at_recovery > climb)
            climb = rss_kib[k] - at_recovery;
    }
    uint64_t delivered = st.exported + st.replayed;
    uint64_t dropped = st.dropped_ring + st.dropped_export + st.dropped_queue + st.dropped_open;
    uint64_t lost = st.ended > st.exported + st.replayed ? st.ended - st.exported - st.replayed : 0;
    printf("\n%-58s %12.1f s (made in %.1f s; outage %.1f s .. %.1f s)\n", "wall time to drain",
           t_drained, t_made, f.outage_began, f.outage_ended);
    printf("%-58s %12llu\n", "spans sent (ended)", (unsigned long long)st.ended);
    printf("%-58s %12llu  (exported %llu + replayed %llu)\n", "spans delivered",
           (unsigned long long)delivered, (unsigned long long)st.exported,
           (unsigned long long)st.replayed);
    printf("%-58s %12llu  (written before sending: %llu)\n", "spans spooled (kept on disk when undeliverable)",
           (unsigned long long)st.spooled, (unsigned long long)st.spool_written);
    printf("%-58s %12llu\n", "spans replayed from the spool", (unsigned long long)st.replayed);
    printf("%-58s %12llu  (ring %llu, export %llu, queue %llu, open %llu)\n", "spans dropped",
           (unsigned long long)dropped, (unsigned long long)st.dropped_ring,
           (unsigned long long)st.dropped_export, (unsigned long long)st.dropped_queue,
           (unsigned long long)st.dropped_open);
    printf("%-58s %12zu  (>= delivered: repeats allowed)\n", "items the receiver acknowledged",
           rx_items);
    printf("%-58s %12llu / %llu / %llu / %llu\n", "requests / retried / spool errors / corrupt",
           (unsigned long long)st.requests, (unsigned long long)st.retried,
           (unsigned long long)st.spool_errors, (unsigned long long)st.spool_corrupt_records);
    printf("%-58s %12.1f MiB\n", "spool on disk, peak", (double)spool_peak / 1024.0);
    printf("%-58s %12.1f / %.1f / %.1f / %.1f MiB\n", "RSS: after warm-up / peak after / peak / final",
           (double)warm / 1024.0, (double)peak_after / 1024.0, (double)peak / 1024.0,
           (double)final / 1024.0);
    printf("%-58s %12s\n", "weft_shutdown", weft_strerror(rc));
    bench_report("lost spans (ended - delivered)", (double)lost, "spans", 0, 1);
    bench_report("dropped spans (every dropped_* counter)", (double)dropped, "spans", 0, 1);
    bench_report("receiver items below delivered", rx_items >= delivered ? 0 : (double)(delivered - rx_items),
                 "spans", 0, 1);
    bench_report("RSS growth after warm-up (bound: queue limit + 32 MiB)",
                 (double)(peak_after - warm) / 1024.0, "MiB", (double)(QUEUE_LIMIT >> 20) + 32, 1);
    bench_report("RSS climb after the outage, backlog replaying (<= 16 MiB)", (double)climb / 1024.0,
                 "MiB", 16, 1);
    printf("\nRSS every second (MiB; spans made; spool MiB):\n");
    for (int k = 0; k < ns; k++)
        printf("%s%.0f(%ld k; %.0f)", k % 6 ? "  " : "\n  ", (double)rss_kib[k] / 1024.0,
               produced_at[k] / 1000, (double)spool_kib[k] / 1024.0);
    printf("\n");
    weft_rx_stop(rx);
    nftw(spool_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return lost == 0 && dropped == 0 ? 0 : 1;
}
