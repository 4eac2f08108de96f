/* SPDX-License-Identifier: Apache-2.0 */
/* wake.h — PRIVATE to the POSIX transports (backends/posix/ and the SMB
 * client, backends/smb_client/): the wake object, by which an interrupt
 * or a close reaches a blocked call, and the one wait every blocking call
 * uses (wake.c). Nothing here knows sockets or channels.
 */
#ifndef XPIPE_POSIX_WAKE_H
#define XPIPE_POSIX_WAKE_H

#include "backend.h"
#include "helpers.h"

#include "atomic.h"

/* The wake object, by which an interrupt or a close reaches calls blocked
 * on a channel or listener. wake() latches `signalled` and signals every
 * blocked thread. A thread about to block polls its own wake fd (an
 * eventfd, or a pipe: made once per thread, so a short-lived channel
 * costs no descriptor of its own) and registers it in one of the
 * object's slots. When all slots are taken (many threads accepting on
 * one listener) the object's own eventfd serves, made on first need; its
 * fds are packed in one word so that racing creators agree. */
#define UNIX_WAKE_SLOTS 4
typedef struct xpipe__unix_wake_t {
    xpipe__a32_t signalled;
    xpipe__a32_t slot[UNIX_WAKE_SLOTS]; /* a thread's write fd + 1 */
    xpipe__a64_t fds;                   /* own: read fd << 32 | write fd */
} xpipe__unix_wake_t;

void xpipe__unix_wake_init(xpipe__unix_wake_t *w);
/* The backend's thread_release: the calling thread's wake fds closed. */
void xpipe__unix_thread_release(void);
apr_status_t xpipe__unix_wake_set(xpipe__unix_wake_t *w, int on);
void xpipe__unix_wake_close(xpipe__unix_wake_t *w);
/* Wait until fd (or fd2, when not -1) is ready for events, the wake
 * object is signalled (XPIPE_ECANCELED) or the deadline passes
 * (APR_TIMEUP). Errors and hang-ups count as ready: the next syscall
 * reports them. w may be NULL (nothing can interrupt the call). */
apr_status_t xpipe__unix_wait2(int fd, int fd2, short events,
                               xpipe__unix_wake_t *w, apr_time_t deadline);
apr_status_t xpipe__unix_wait(int fd, short events, xpipe__unix_wake_t *w,
                              apr_time_t deadline);
/* After a call on fd that moved nothing and set errno: APR_SUCCESS to try
 * again (EINTR, or fd is ready after a wait on EAGAIN), else the status
 * to return: the wait's, or errno's through map (NULL: folded as is). */
apr_status_t xpipe__unix_again(int fd, short events, xpipe__unix_wake_t *w,
                               apr_time_t deadline, apr_status_t (*map)(int));

#endif /* XPIPE_POSIX_WAKE_H */
