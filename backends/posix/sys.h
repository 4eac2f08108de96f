/* SPDX-License-Identifier: Apache-2.0 */
/* sys.h — PRIVATE to the POSIX backend and white-box tests: the
 * table every system call of the POSIX backend goes through (but the
 * wake object's creation, fcntl/ioctl for O_NONBLOCK, getenv, geteuid,
 * getpid). A test (linked with the static library: the symbol is hidden from the shared
 * one) may replace an entry to spy on a call or make the Nth one fail
 * with a chosen errno, and restores it afterwards (tests/xtest.h).
 */
#ifndef XPIPE_UNIX_SYS_H
#define XPIPE_UNIX_SYS_H

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

typedef struct xpipe__unix_sys_t {
    int (*socket)(int domain, int type, int protocol);
    int (*bind)(int fd, const struct sockaddr *sa, socklen_t len);
    int (*listen)(int fd, int backlog);
    /* accept a connection, non-blocking and close-on-exec; sa/len as
     * accept()'s (NULL: the peer's address is not wanted) */
    int (*accept)(int fd, struct sockaddr *sa, socklen_t *len);
    int (*connect)(int fd, const struct sockaddr *sa, socklen_t len);
    int (*socketpair)(int domain, int type, int protocol, int fds[2]);
    ssize_t (*recv)(int fd, void *buf, size_t len, int flags);
    ssize_t (*send)(int fd, const void *buf, size_t len, int flags);
    ssize_t (*sendmsg)(int fd, const struct msghdr *msg, int flags);
    ssize_t (*recvmsg)(int fd, struct msghdr *msg, int flags);
    int (*poll)(struct pollfd *fds, nfds_t n, int timeout_ms);
    /* descriptors, socket options, files */
    int (*close)(int fd);
    int (*shutdown)(int fd, int how);
    int (*setsockopt)(int fd, int level, int name, const void *v,
                      socklen_t len);
    int (*getsockopt)(int fd, int level, int name, void *v, socklen_t *len);
    int (*open)(const char *path, int flags, mode_t mode);
    int (*flock)(int fd, int op);
    int (*lstat)(const char *path, struct stat *st);
    int (*fstat)(int fd, struct stat *st);
    int (*mkdir)(const char *path, mode_t mode);
    int (*chmod)(const char *path, mode_t mode);
    int (*fchmod)(int fd, mode_t mode);
    int (*chown)(const char *path, uid_t uid, gid_t gid);
    int (*unlink)(const char *path);
    ssize_t (*read)(int fd, void *buf, size_t len);
    ssize_t (*write)(int fd, const void *buf, size_t len);
    /* the fast path's shared memory (Linux; NULL elsewhere) */
    int (*memfd_create)(const char *name, unsigned int flags);
    int (*ftruncate)(int fd, off_t len);
    int (*fcntl)(int fd, int cmd, int arg);
    void *(*mmap)(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off);
    int (*munmap)(void *addr, size_t len);
    /* futex(2) on a word of the shared memory: FUTEX_WAIT (t relative),
     * FUTEX_WAKE */
    long (*futex)(unsigned int *word, int op, unsigned int val,
                  const struct timespec *t);
    /* The calling thread's voluntary context switches so far (Linux:
     * getrusage(RUSAGE_THREAD)); -1 where the OS does not say. */
    long (*switches)(void);
} xpipe__unix_sys_t;

/* The table (backends/posix/sys.c); unix_sys inside the backend. */
extern xpipe__unix_sys_t xpipe__unix_sys;
#define unix_sys xpipe__unix_sys

#endif
