/*
 * log_capture.c — see log_capture.h. One capture buffer for the test process, guarded by a
 * mutex (test support code, not the library: the library keeps no global state).
 */
#include "log_capture.h"

#include <pthread.h>
#include <string.h>

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char log_text[1 << 16];
static size_t log_len;

void wt_log_capture(void *user, weft_log_level level, const char *msg)
{
    (void)user;
    (void)level;
    pthread_mutex_lock(&log_mu);
    size_t n = strlen(msg);
    if (log_len + n + 2 < sizeof log_text) {
        memcpy(log_text + log_len, msg, n);
        log_len += n;
        log_text[log_len++] = '\n';
        log_text[log_len] = '\0';
    }
    pthread_mutex_unlock(&log_mu);
}

size_t wt_log_count(const char *needle)
{
    size_t n = 0;
    pthread_mutex_lock(&log_mu);
    for (const char *p = log_text; (p = strstr(p, needle)) != NULL; p++)
        n++;
    pthread_mutex_unlock(&log_mu);
    return n;
}

void wt_log_reset(void)
{
    pthread_mutex_lock(&log_mu);
    log_len = 0;
    log_text[0] = '\0';
    pthread_mutex_unlock(&log_mu);
}
