/* SPDX-License-Identifier: Apache-2.0 */
/* sys.c — the POSIX backend's system-call table (sys.h: every call that
 * can fail in interesting ways goes through it, so a test can stand in
 * for one) and socket creation.
 */
#include "posix.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <unistd.h>

/* fcntl, for OSes that lack the calls that set these flags atomically. */
int xpipe__unix_cloexec_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -1;
    return 0;
}

/* accept(), giving a non-blocking close-on-exec fd. */
static int unix_accept_raw(int fd, struct sockaddr *sa, socklen_t *len)
{
#ifdef HAVE_ACCEPT4
    return accept4(fd, sa, len, SOCK_CLOEXEC | SOCK_NONBLOCK);
#else
    int c = accept(fd, sa, len);

    if (c >= 0 && xpipe__unix_cloexec_nonblock(c) < 0) {
        int err = errno;
        close(c);
        errno = err;
        return -1;
    }
    return c;
#endif
}

/* Every system call that can fail in interesting ways goes through here
 * (see sys.h). */
/* open() is variadic: the table wants a fixed signature. */
static int unix_open_raw(const char *path, int flags, mode_t mode)
{
    return open(path, flags, mode);
}

/* fcntl() is variadic too. */
static int unix_fcntl_raw(int fd, int cmd, int arg)
{
    return fcntl(fd, cmd, arg);
}

#ifdef __linux__
#include <sys/syscall.h>
static long unix_futex_raw(unsigned int *word, int op, unsigned int val,
                           const struct timespec *t)
{
    return syscall(SYS_futex, word, op, val, t, NULL, 0);
}
#endif

static long unix_switches_raw(void)
{
#ifdef RUSAGE_THREAD
    struct rusage ru;

    if (getrusage(RUSAGE_THREAD, &ru) == 0)
        return (long)ru.ru_nvcsw;
#endif
    return -1;
}

/* Most entries are the call of the same name. */
#define SYS(call) .call = call
xpipe__unix_sys_t xpipe__unix_sys = {
    SYS(socket),
    SYS(bind),
    SYS(listen),
    .accept = unix_accept_raw,
    SYS(connect),
    SYS(socketpair),
    SYS(recv),
    SYS(send),
    SYS(sendmsg),
    SYS(recvmsg),
    SYS(poll),
    SYS(close),
    SYS(shutdown),
    SYS(setsockopt),
    SYS(getsockopt),
    .open = unix_open_raw,
    SYS(flock),
    SYS(lstat),
    SYS(fstat),
    SYS(mkdir),
    SYS(chmod),
    SYS(fchmod),
    SYS(chown),
    SYS(unlink),
    SYS(read),
    SYS(write),
#ifdef __linux__
    SYS(memfd_create),
    SYS(ftruncate),
    .futex = unix_futex_raw,
#endif
    .fcntl = unix_fcntl_raw,
    SYS(mmap),
    SYS(munmap),
    .switches = unix_switches_raw,
};
#undef SYS

void xpipe__unix_close_fd(int *fd)
{
    if (*fd >= 0) {
        unix_sys.close(*fd); /* no EINTR retry: the fd is released either way */
        *fd = -1;
    }
}

static int unix_sock_type(const xpipe_attr_t *attr)
{
    return attr->mode == XPIPE_MODE_MESSAGE && !UNIX_FRAMED ? SOCK_SEQPACKET
                                                            : SOCK_STREAM;
}

/* A new socket or socket pair (fds[1] < 0 for one socket): close-on-exec,
 * non-blocking. */
static int unix_socket_make(int fds[2], int type)
{
    int i, flags = 0;

#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
    flags = SOCK_CLOEXEC | SOCK_NONBLOCK;
#endif
    if (fds[1] < 0)
        fds[0] = unix_sys.socket(AF_UNIX, type | flags, 0);
    else if (unix_sys.socketpair(AF_UNIX, type | flags, 0, fds) < 0)
        fds[0] = -1;
    if (fds[0] < 0)
        return -1;
    for (i = 0; i < 2 && fds[i] >= 0 && !flags; i++)
        if (xpipe__unix_cloexec_nonblock(fds[i]) < 0) {
            int err = errno;
            unix_sys.close(fds[0]);
            if (fds[1] >= 0)
                unix_sys.close(fds[1]);
            errno = err;
            return -1;
        }
    return 0;
}

/* No SIGPIPE, buffers sized as attr says. */
static void unix_socket_tune(int fd, int type, const xpipe_attr_t *attr)
{
    int v;

#ifdef SO_NOSIGPIPE
    v = 1;
    unix_sys.setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &v, sizeof(v));
#endif
    /* Sizes are hints the kernel may clamp; a failure here is not fatal. */
    if (attr->in_buffer) {
        v = (int)attr->in_buffer;
        unix_sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    }
    v = (int)attr->out_buffer;
    /* A SOCK_SEQPACKET message must fit the send buffer whole. */
    if (type == SOCK_SEQPACKET && (apr_size_t)v < attr->max_message + 1024)
        v = (int)attr->max_message + 1024;
    if (v)
        unix_sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

apr_status_t xpipe__unix_socket_new(int *out, const xpipe_attr_t *attr)
{
    int fds[2] = { -1, -1 }, type = unix_sock_type(attr);

    if (unix_socket_make(fds, type) < 0)
        return APR_FROM_OS_ERROR(errno);
    unix_socket_tune(fds[0], type, attr);
    *out = fds[0];
    return APR_SUCCESS;
}

apr_status_t xpipe__unix_socket_pair(int fds[2], const xpipe_attr_t *attr)
{
    int type = unix_sock_type(attr);

    fds[0] = fds[1] = 0;
    if (unix_socket_make(fds, type) < 0)
        return APR_FROM_OS_ERROR(errno);
    unix_socket_tune(fds[0], type, attr);
    unix_socket_tune(fds[1], type, attr);
    return APR_SUCCESS;
}

void xpipe__unix_sockaddr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    /* resolve() already checked that path fits with its NUL. */
    memcpy(sa->sun_path, path, strlen(path) + 1);
}
