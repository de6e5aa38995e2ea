/*
 * bench_cli.c — the `weft` program's two budgets (issue 13), measured on the built binary
 * (WEFT_CLI_PATH) run as a child process:
 *
 *   1. `weft view FILE` of a 10,000-span trace draws in under a second (wall time from spawn to
 *      exit, output to /dev/null; median of 5), and the same for `--html`.
 *   2. `weft upload` of a 100 MB JSONL file keeps memory flat: the child's peak RSS (wait4's
 *      ru_maxrss) against the loopback receiver in discard mode, next to a 10 MB file's.
 *
 * Usage: bench_cli [DIR]   (scratch files go to DIR, default /tmp; about 110 MB)
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "receiver.h"

extern char **environ;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs the program with args and extra environment; stdout and stderr to /dev/null. Returns
 * the exit status; *secs the wall time, *rss_kb the child's peak RSS. */
static double last_cpu; /* user + system seconds of the last child */

static int run(const char *const *args, const char *const *extra, double *secs, long *rss_kb)
{
    char *argv[16];
    int n = 0;
    argv[n++] = WEFT_CLI_PATH;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    size_t ne = 0;
    for (char **e = environ; *e; e++)
        ne++;
    char **env = calloc(ne + 8, sizeof *env);
    size_t o = 0;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "SGP_", 4) && strncmp(*e, "NO_COLOR=", 9))
            env[o++] = *e;
    for (const char *const *x = extra; x && *x; x++)
        env[o++] = (char *)*x;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    double t0 = now_s();
    pid_t pid;
    if (posix_spawn(&pid, WEFT_CLI_PATH, &fa, NULL, argv, env) != 0) {
        perror("spawn");
        exit(1);
    }
    int st;
    struct rusage ru;
    wait4(pid, &st, 0, &ru);
    *secs = now_s() - t0;
    last_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
               (double)ru.ru_stime.tv_usec / 1e6;
    if (rss_kb)
        *rss_kb = ru.ru_maxrss;
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void ts(char *b, size_t n, long us)
{
    snprintf(b, n, "2025-01-01T%02ld:%02ld:%02ld.%06ldZ", us / 3600000000L, (us / 60000000L) % 60,
             (us / 1000000L) % 60, us % 1000000L);
}

/* One trace of n spans: a root, 100 children, the rest spread under the children. */
static void write_trace(const char *path, int n)
{
    FILE *f = fopen(path, "w");
    for (int i = 0; i < n; i++) {
        long s, e;
        char parent[64] = "";
        if (i == 0) {
            s = 0, e = (long)n * 100;
        } else if (i <= 100) {
            s = (long)i * 90, e = s + 5000;
            snprintf(parent, sizeof parent, "\"parent_id\":\"s0\",");
        } else {
            int p = 1 + i % 100;
            s = (long)p * 90 + (i / 100) * 40, e = s + 35;
            snprintf(parent, sizeof parent, "\"parent_id\":\"s%d\",", p);
        }
        char a[40], b[40];
        ts(a, sizeof a, s);
        ts(b, sizeof b, e);
        fprintf(f,
                "{\"id\":\"s%d\",\"trace_id\":\"big\",%s\"name\":\"step %d\",\"type\":\"%s\",\"status\":\"%s\","
                "\"start_timestamp\":\"%s\",\"end_timestamp\":\"%s\",\"input\":{\"q\":\"question %d\"},"
                "\"output\":{\"answer\":\"answer %d\"},\"metadata\":{\"input_tokens\":%d,\"output_tokens\":7,"
                "\"cost_usd\":0.0001}}\n",
                i, parent, i, i % 3 ? "CUSTOM" : "COMPLETION", i % 97 ? "SUCCESS" : "ERROR", a, b, i, i, i % 50);
    }
    fclose(f);
}

/* About `mb` MB of JSONL: ~1 KB spans, 10 per trace. Returns the span count. */
static long write_bulk(const char *path, int mb)
{
    FILE *f = fopen(path, "w");
    char pad[801];
    memset(pad, 'x', 800);
    pad[800] = 0;
    long n = 0;
    struct stat st;
    for (;;) {
        for (int k = 0; k < 1000; k++, n++) {
            char a[40], b[40];
            ts(a, sizeof a, n % 80000000000L);
            ts(b, sizeof b, n % 80000000000L + 10);
            fprintf(f,
                    "{\"id\":\"span-%ld\",\"trace_id\":\"trace-%ld\",\"name\":\"bulk\",\"type\":\"CUSTOM\","
                    "\"start_timestamp\":\"%s\",\"end_timestamp\":\"%s\",\"input\":{\"text\":\"%s\"}}\n",
                    n, n / 10, a, b, pad);
        }
        fflush(f);
        fstat(fileno(f), &st);
        if (st.st_size >= (off_t)mb * 1000000)
            break;
    }
    fclose(f);
    return n;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    char trace[512], html[512], bulk[512], small[512];
    snprintf(trace, sizeof trace, "%s/bench-cli-trace.jsonl", dir);
    snprintf(html, sizeof html, "%s/bench-cli-trace.html", dir);
    snprintf(bulk, sizeof bulk, "%s/bench-cli-100mb.jsonl", dir);
    snprintf(small, sizeof small, "%s/bench-cli-10mb.jsonl", dir);

    write_trace(trace, 10000);
    double t[5], th[5], c[5], ch[5];
    for (int i = 0; i < 5; i++) {
        const char *a[] = {"view", trace, NULL};
        const char *env[] = {"COLUMNS=160", NULL};
        if (run(a, env, &t[i], NULL) != 0) {
            fprintf(stderr, "weft view failed\n");
            return 1;
        }
        c[i] = last_cpu;
        const char *b[] = {"view", trace, "--html", html, NULL};
        if (run(b, NULL, &th[i], NULL) != 0) {
            fprintf(stderr, "weft view --html failed\n");
            return 1;
        }
        ch[i] = last_cpu;
    }
    qsort(t, 5, sizeof t[0], cmp_d);
    qsort(th, 5, sizeof th[0], cmp_d);
    qsort(c, 5, sizeof c[0], cmp_d);
    qsort(ch, 5, sizeof ch[0], cmp_d);
    struct stat hs;
    stat(html, &hs);
    /* Wall time is the budget; CPU time (user + system) shows what a shared machine adds. */
    printf("weft view, 10,000-span trace (terminal)   wall median %.3f s (min %.3f, max %.3f), cpu %.3f s   budget 1.000 s  %s\n",
           t[2], t[0], t[4], c[2], t[2] < 1.0 ? "OK" : "OVER");
    printf("weft view --html, 10,000-span trace       wall median %.3f s (min %.3f, max %.3f), cpu %.3f s   budget 1.000 s  %s  (page %.1f MB)\n",
           th[2], th[0], th[4], ch[2], th[2] < 1.0 ? "OK" : "OVER", (double)hs.st_size / 1e6);

    weft_rx *rx = weft_rx_start(&(weft_rx_opts){.discard = true});
    char url[160];
    snprintf(url, sizeof url, "SGP_CLIENT_BASE_URL=%s", weft_rx_url(rx));
    const char *env[] = {url, "SGP_API_KEY=bench", NULL};
    long n_small = write_bulk(small, 10), n_bulk = write_bulk(bulk, 100);
    double s1, s2;
    long r1, r2;
    const char *a1[] = {"upload", small, NULL}, *a2[] = {"upload", bulk, NULL};
    int rc1 = run(a1, env, &s1, &r1);
    size_t got1 = weft_rx_upserts(rx);
    int rc2 = run(a2, env, &s2, &r2);
    size_t got2 = weft_rx_upserts(rx) - got1;
    struct stat b1, b2;
    stat(small, &b1);
    stat(bulk, &b2);
    printf("weft upload, %5.1f MB JSONL (%ld spans)  exit %d, %zu delivered, %.2f s, peak RSS %.1f MB\n",
           (double)b1.st_size / 1e6, n_small, rc1, got1, s1, (double)r1 / 1024);
    printf("weft upload, %5.1f MB JSONL (%ld spans) exit %d, %zu delivered, %.2f s, peak RSS %.1f MB\n",
           (double)b2.st_size / 1e6, n_bulk, rc2, got2, s2, (double)r2 / 1024);
    printf("memory flat: peak RSS grows %.1f MB for 10x the input (budget: well under the input's size)  %s\n",
           (double)(r2 - r1) / 1024, (r2 - r1) / 1024.0 < 0.1 * (double)b2.st_size / 1e6 ? "OK" : "OVER");
    weft_rx_stop(rx);
    unlink(trace), unlink(html), unlink(bulk), unlink(small);
    return rc1 || rc2;
}
