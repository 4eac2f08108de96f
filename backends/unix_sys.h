/* unix_sys.h — PRIVATE to backends/unix_socket.c and white-box tests: the
 * table the POSIX backend's system calls go through. A test obtains it
 * with XPIPE__BACKEND.sys() and may replace an entry (to spy on a call or
 * make the Nth one fail with a chosen errno), restoring it afterwards.
 */
#ifndef XPIPE_UNIX_SYS_H
#define XPIPE_UNIX_SYS_H

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef struct xpipe__unix_sys_t {
    int (*socket)(int domain, int type, int protocol);
    int (*bind)(int fd, const struct sockaddr *sa, socklen_t len);
    int (*listen)(int fd, int backlog);
    /* accept a connection, non-blocking and close-on-exec */
    int (*accept)(int fd);
    int (*connect)(int fd, const struct sockaddr *sa, socklen_t len);
    ssize_t (*recv)(int fd, void *buf, size_t len, int flags);
    ssize_t (*send)(int fd, const void *buf, size_t len, int flags);
    ssize_t (*sendmsg)(int fd, const struct msghdr *msg, int flags);
    ssize_t (*recvmsg)(int fd, struct msghdr *msg, int flags);
    int (*poll)(struct pollfd *fds, nfds_t n, int timeout_ms);
} xpipe__unix_sys_t;

#endif
