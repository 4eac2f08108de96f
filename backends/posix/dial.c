/* SPDX-License-Identifier: Apache-2.0 */
/* dial.c — one connect attempt on POSIX; lib/ owns the policy (retries,
 * backoff, waiting for a server).
 */
#include "posix.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* One connect attempt (lib/ loops). */
apr_status_t xpipe__unix_dial(xpipe__chan_t **out, const xpipe__name_t *name,
                              const char *native, const xpipe_attr_t *attr,
                              apr_time_t deadline, apr_pool_t *pool)
{
    struct sockaddr_un sa;
    apr_status_t rv;
    int fd, err;
    socklen_t elen;

    rv = xpipe__unix_name_dir_check(name, native, 0, pool);
    if (rv != APR_SUCCESS)
        return rv; /* XPIPE_ENOPIPE when the run directory is missing */
    rv = xpipe__unix_socket_new(&fd, attr);
    if (rv != APR_SUCCESS)
        return rv;
    xpipe__unix_sockaddr(&sa, native);
    err = unix_sys.connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0
                                                                        : errno;
    if (err == EINPROGRESS) {
        rv = xpipe__unix_wait(fd, POLLOUT, NULL, deadline);
        elen = sizeof(err);
        if (rv != APR_SUCCESS)
            err = EAGAIN;
        else if (unix_sys.getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
            err = errno;
    }
    if (err == 0 && UNIX_FRAMED) {
        /* An empty socket always takes one byte. */
        char hello =
            attr->mode == XPIPE_MODE_MESSAGE ? UNIX_HELLO_MSG : UNIX_HELLO_BYTE;
        if (unix_sys.send(fd, &hello, 1, MSG_NOSIGNAL) != 1)
            err = errno ? errno : EAGAIN;
    }
    if (err == 0)
        return xpipe__unix_chan_new(out, fd, attr, UNIX_MSG_FRAMES(attr), pool);
    unix_sys.close(fd);
    switch (err) {
    case ENOENT: /* no socket file */
    case ECONNREFUSED: /* a stale file: nobody listens */ return XPIPE_ENOPIPE;
    case EAGAIN: /* backlog full */
    case EINTR: return XPIPE__EBUSY;
    case EPROTOTYPE: /* the server's socket type is the other mode */
        return xpipe__fail(XPIPE_EMODE, "the server of %s uses the other mode",
                           native);
    case EACCES: /* the socket's or a directory's permissions */
        return xpipe__fail(APR_EACCES, "no permission to connect to %s",
                           native);
    default: return APR_FROM_OS_ERROR(err);
    }
}
