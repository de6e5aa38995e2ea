/*
 * proxy_standin.c — see proxy_standin.h. A poll loop over the listening socket and up to 16
 * connections; the received bytes are kept (up to 1 MiB) and searched for x-api-key.
 */
#include "proxy_standin.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 16
#define KEEP_BYTES (1u << 20)

struct wt_proxy {
    int lfd;
    int stop_pipe[2];
    pthread_t thread;
    pthread_mutex_t lock;
    char url[64];
    size_t conns, bytes;
    char *seen; /* everything received, up to KEEP_BYTES */
    size_t seen_len;
};

static void answer(int fd)
{
    static const char r[] = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    ssize_t w = send(fd, r, sizeof r - 1, MSG_NOSIGNAL); /* the client may be gone */
    (void)w;
}

static void *serve(void *ud)
{
    wt_proxy *p = ud;
    struct pollfd fds[2 + MAX_CONNS];
    int conn[MAX_CONNS];
    size_t n = 0;
    for (;;) {
        fds[0] = (struct pollfd){.fd = p->stop_pipe[0], .events = POLLIN};
        fds[1] = (struct pollfd){.fd = p->lfd, .events = POLLIN};
        for (size_t k = 0; k < n; k++)
            fds[2 + k] = (struct pollfd){.fd = conn[k], .events = POLLIN};
        if (poll(fds, 2 + n, -1) < 0)
            continue;
        if (fds[0].revents)
            break;
        if ((fds[1].revents & POLLIN) && n < MAX_CONNS) {
            int c = accept(p->lfd, NULL, NULL);
            if (c >= 0) {
                conn[n++] = c;
                pthread_mutex_lock(&p->lock);
                p->conns++;
                pthread_mutex_unlock(&p->lock);
            }
        }
        for (size_t k = 0; k < n;) {
            if (!fds[2 + k].revents) {
                k++;
                continue;
            }
            char buf[4096];
            ssize_t r = read(conn[k], buf, sizeof buf);
            if (r > 0) {
                pthread_mutex_lock(&p->lock);
                p->bytes += (size_t)r;
                size_t room = KEEP_BYTES - p->seen_len;
                size_t take = (size_t)r < room ? (size_t)r : room;
                memcpy(p->seen + p->seen_len, buf, take);
                p->seen_len += take;
                bool end_of_head = memmem(p->seen, p->seen_len, "\r\n\r\n", 4) != NULL;
                pthread_mutex_unlock(&p->lock);
                if (end_of_head)
                    answer(conn[k]);
                k++;
                continue;
            }
            close(conn[k]);
            conn[k] = conn[--n];
            fds[2 + k] = fds[2 + n];
        }
    }
    for (size_t k = 0; k < n; k++)
        close(conn[k]);
    return NULL;
}

wt_proxy *wt_proxy_start(void)
{
    wt_proxy *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->seen = malloc(KEEP_BYTES);
    p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (!p->seen || p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(p->lfd, 16) != 0 || getsockname(p->lfd, (struct sockaddr *)&a, &al) != 0 ||
        pipe(p->stop_pipe) != 0) {
        perror("proxy stand-in");
        if (p->lfd >= 0)
            close(p->lfd);
        free(p->seen);
        free(p);
        return NULL;
    }
    snprintf(p->url, sizeof p->url, "http://127.0.0.1:%u", (unsigned)ntohs(a.sin_port));
    pthread_mutex_init(&p->lock, NULL);
    pthread_create(&p->thread, NULL, serve, p);
    return p;
}

const char *wt_proxy_url(const wt_proxy *p) { return p->url; }

size_t wt_proxy_connections(wt_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->conns;
    pthread_mutex_unlock(&p->lock);
    return n;
}

size_t wt_proxy_bytes(wt_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    size_t n = p->bytes;
    pthread_mutex_unlock(&p->lock);
    return n;
}

bool wt_proxy_saw_api_key(wt_proxy *p)
{
    pthread_mutex_lock(&p->lock);
    bool saw = false;
    for (size_t k = 0; k + 9 <= p->seen_len && !saw; k++)
        saw = strncasecmp(p->seen + k, "x-api-key", 9) == 0;
    pthread_mutex_unlock(&p->lock);
    return saw;
}

void wt_proxy_stop(wt_proxy *p)
{
    if (!p)
        return;
    ssize_t w = write(p->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(p->thread, NULL);
    close(p->stop_pipe[0]);
    close(p->stop_pipe[1]);
    close(p->lfd);
    pthread_mutex_destroy(&p->lock);
    free(p->seen);
    free(p);
}
