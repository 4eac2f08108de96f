/* SPDX-License-Identifier: Apache-2.0 */
/* bench_raw_posix.c — the baselines of `xpipe-bench` on POSIX: blocking
 * AF_UNIX calls (raw), and the same calls non-blocking, waiting in poll()
 * on the socket and a wake descriptor (raw+poll, the floor of any design
 * whose blocking calls another thread can interrupt without signals).
 */
#include "bench_raw.h"

#include <apr_strings.h>
#include <apr_time.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif

/* The floor: every raw call made non-blocking, waiting in poll() on the
 * fd and a wake descriptor (never signalled) when it would block. */
int bench_raw_polled;
static int raw_wake_fd = -1;

long bench_raw_buffers;

/* A new connection: non-blocking (the floor), buffers sized. */
static void raw_nonblock(int fd)
{
    int v = (int)bench_raw_buffers;

    if (bench_raw_polled && fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    if (v && fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    }
}

/* 1 when the call should be tried again after waiting for events. */
static int raw_wait(int fd, short events)
{
    struct pollfd p[2];

    if (!bench_raw_polled || (errno != EAGAIN && errno != EWOULDBLOCK))
        return 0;
    if (raw_wake_fd < 0) {
#ifdef __linux__
        raw_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
#else
        int fds[2];
        raw_wake_fd = pipe(fds) == 0 ? fds[0] : -1;
#endif
    }
    p[0].fd = fd;
    p[0].events = events;
    p[1].fd = raw_wake_fd;
    p[1].events = POLLIN;
    while (poll(p, 2, -1) < 0 && errno == EINTR)
        ;
    return 1;
}

struct bench_raw_lsn_t {
    int fd;
    const char *path;
};

bench_raw_lsn_t *bench_raw_listen(const char *native, int message,
                                  apr_pool_t *p)
{
    bench_raw_lsn_t *l = apr_pcalloc(p, sizeof(*l));
    struct sockaddr_un sa;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, native);
    unlink(native);
    l->path = native;
    l->fd = socket(AF_UNIX, message ? SOCK_SEQPACKET : SOCK_STREAM, 0);
    if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0
        || listen(l->fd, 8) < 0)
        return NULL;
    raw_nonblock(l->fd);
    return l;
}

bench_raw_t bench_raw_accept(bench_raw_lsn_t *l)
{
    int fd;

    while ((fd = accept(l->fd, NULL, NULL)) < 0 && raw_wait(l->fd, POLLIN))
        ;
    raw_nonblock(fd);
    return fd;
}

void bench_raw_listen_close(bench_raw_lsn_t *l)
{
    close(l->fd);
    unlink(l->path);
}

bench_raw_t bench_raw_connect(const char *native, int message, apr_pool_t *p)
{
    struct sockaddr_un sa;
    apr_time_t end = apr_time_now() + 10 * APR_USEC_PER_SEC;
    int fd;

    (void)p;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, native);
    for (;;) {
        fd = socket(AF_UNIX, message ? SOCK_SEQPACKET : SOCK_STREAM, 0);
        raw_nonblock(fd);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        close(fd);
        if (apr_time_now() > end)
            return BENCH_RAW_NONE;
        apr_sleep(1000); /* not up yet (or backlog full) */
    }
}

long bench_raw_read(bench_raw_t fd, void *buf, long len)
{
    long n;

    while ((n = (long)read(fd, buf, (size_t)len)) < 0 && raw_wait(fd, POLLIN))
        ;
    return n;
}

long bench_raw_write(bench_raw_t fd, const void *buf, long len)
{
    long n;

    while ((n = (long)send(fd, buf, (size_t)len, MSG_NOSIGNAL)) < 0
           && raw_wait(fd, POLLOUT))
        ;
    return n;
}

void bench_raw_close(bench_raw_t fd)
{
    close(fd);
}

#ifdef __linux__
int bench_raw_many_serve(const char *native, long n, int msg)
{
    struct sockaddr_un sa;
    struct epoll_event ev, got[256];
    char buf[4096];
    long served = 0, open = 0;
    int lfd, ep, k, i;

    (void)msg;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, native);
    unlink(native);
    lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (lfd < 0 || ep < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0
        || listen(lfd, 128) < 0)
        return 1;
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    while (served < n || open > 0) {
        k = epoll_wait(ep, got, 256, 30000);
        if (k <= 0 && errno != EINTR)
            return 1;
        for (i = 0; i < k; i++) {
            int fd = got[i].data.fd;
            long r;
            if (fd == lfd) {
                while (served < n
                       && (fd = accept4(lfd, NULL, NULL,
                                        SOCK_NONBLOCK | SOCK_CLOEXEC))
                              >= 0) {
                    ev.events = EPOLLIN;
                    ev.data.fd = fd;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
                    served++;
                    open++;
                }
                continue;
            }
            r = (long)read(fd, buf, sizeof(buf));
            if (r > 0) {
                long off = 0, w;
                while (off < r) { /* small: fits at once, or waits briefly */
                    w = (long)send(fd, buf + off, (size_t)(r - off),
                                   MSG_NOSIGNAL);
                    if (w > 0)
                        off += w;
                    else if (errno != EAGAIN)
                        break;
                }
                continue;
            }
            if (r < 0 && errno == EAGAIN)
                continue;
            close(fd); /* leaves the epoll set */
            open--;
        }
    }
    close(ep);
    close(lfd);
    unlink(native);
    return 0;
}
#else
int bench_raw_many_serve(const char *native, long n, int msg)
{
    (void)native;
    (void)n;
    (void)msg;
    return 2; /* epoll is Linux's; no raw kqueue server is written */
}
#endif
