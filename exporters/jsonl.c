/*
 * jsonl.c — the default exporter: one SGP span item per line (exactly the upsert_batch item
 * of DESIGN.md section 4), appended to WEFT_JSONL_PATH. Each batch is written with writev as
 * soon as it arrives, so a crash of the process loses at most the batch in hand. The file is
 * created mode 0600: traces carry prompts and answers.
 *
 * The path is opened with O_NOFOLLOW | O_NONBLOCK and must be a regular file: a planted symbolic
 * link, a FIFO, a device or a socket is refused at weft_init with an error naming the path.
 *
 * Owns: the file descriptor (state). In-progress upserts are not written (a file keeps only
 * final records); spans still open at shutdown are, as they stand.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "exporter.h"
#include "runtime.h"

#define IOV_BATCH 512 /* items per writev: two iovecs each, under Linux's IOV_MAX of 1024 */

typedef struct jsonl {
    int fd;
    bool failed_logged;
} jsonl;

static const char *file_kind(mode_t m)
{
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m) || S_ISBLK(m))
        return "a device";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISDIR(m))
        return "a directory";
    return "not a regular file";
}

/*
 * Opens the trace file without following a symbolic link planted at the path (O_NOFOLLOW) and
 * without blocking (O_NONBLOCK: opening a FIFO with no reader would otherwise wait forever
 * inside weft_init), then accepts only a regular file and clears O_NONBLOCK for the writes.
 */
static int jsonl_open(weft__exporter *ex)
{
    const char *path = weft__rt.cfg.jsonl_path;
    jsonl *j = calloc(1, sizeof(*j));
    if (!j)
        return WEFT_ENOMEM;
    j->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
    if (j->fd < 0) {
        int e = errno;
        if (e == ELOOP)
            weft__log(WEFT_LOG_ERROR, "WEFT_JSONL_PATH='%s': is a symbolic link; refusing to follow it "
                                      "(give the file's own path)", path);
        else if (e == ENXIO)
            weft__log(WEFT_LOG_ERROR, "WEFT_JSONL_PATH='%s': is a FIFO or socket with no reader; "
                                      "traces go to a regular file only", path);
        else
            weft__log(WEFT_LOG_ERROR, "WEFT_JSONL_PATH='%s': cannot open for traces: %s", path,
                      strerror(e));
        free(j);
        return WEFT_EIO;
    }
    struct stat st;
    const char *problem = NULL;
    int flags;
    if (fstat(j->fd, &st) != 0)
        problem = strerror(errno);
    else if (!S_ISREG(st.st_mode))
        problem = file_kind(st.st_mode);
    else if ((flags = fcntl(j->fd, F_GETFL)) < 0 || fcntl(j->fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
        problem = strerror(errno);
    if (problem) {
        weft__log(WEFT_LOG_ERROR, "WEFT_JSONL_PATH='%s': %s; traces go to a regular file only",
                  path, problem);
        close(j->fd);
        free(j);
        return WEFT_EIO;
    }
    weft__log(WEFT_LOG_INFO, "exporter jsonl: appending completed spans to %s", path);
    ex->state = j;
    return 0;
}

/* Writes all of iov, retrying short writes and EINTR. */
static bool write_all(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        while (n > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return true;
}

static void jsonl_submit(weft__exporter *ex, weft__batch *b)
{
    jsonl *j = ex->state;
    struct iovec iov[2 * IOV_BATCH];
    size_t dropped = 0;
    for (size_t i = 0; i < b->n;) {
        int n = 0;
        size_t first = i, complete = 0;
        for (; i < b->n && n < 2 * IOV_BATCH; i++) {
            const weft__batch_item *it = &b->items[i];
            if (it->in_progress && !it->final_open)
                continue;
            size_t len;
            const char *p = weft__batch_item_bytes(b, WEFT__ENC_SGP_JSON, i, &len);
            iov[n].iov_base = (void *)p;
            iov[n++].iov_len = len;
            iov[n].iov_base = (void *)"\n";
            iov[n++].iov_len = 1;
            complete += !it->in_progress;
        }
        if (n && !write_all(j->fd, iov, n)) {
            if (!j->failed_logged)
                weft__log(WEFT_LOG_ERROR, "writing %s failed: %s (spans are dropped and counted)",
                          weft__rt.cfg.jsonl_path, strerror(errno));
            j->failed_logged = true;
            weft__stat_add(dropped_export, complete);
            dropped += complete;
        }
        (void)first;
    }
    weft__batch_done(b, dropped);
}

static bool jsonl_drain(weft__exporter *ex, uint64_t deadline) { return true; }

static void jsonl_close(weft__exporter *ex)
{
    jsonl *j = ex->state;
    if (!j)
        return;
    close(j->fd);
    free(j);
    ex->state = NULL;
}

const weft__exporter_ops weft__exporter_jsonl = {
    .name = "jsonl",
    .encoding = WEFT__ENC_SGP_JSON,
    .wants_inprogress = false,
    .open = jsonl_open,
    .submit = jsonl_submit,
    .drain = jsonl_drain,
    .close = jsonl_close,
};
