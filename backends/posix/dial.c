/* SPDX-License-Identifier: Apache-2.0 */
/* dial.c — one connect attempt on POSIX; lib/ owns the policy (retries,
 * backoff, waiting for a server).
 */
#include "posix.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* A server in our run directory must be us (or root): nobody else can
 * bind there while the directory is ours and 0700. Asking the server
 * who it is costs one cheap call, where checking the directory costs a
 * path walk on every connect; and it holds even when the directory was
 * replaced since anyone looked. 0, or the server's uid; -1 when the OS
 * cannot tell (then the directory is checked, as before). */
static long unix_server_uid(int fd)
{
#if defined(SO_PEERCRED)
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (unix_sys.getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -1;
    return (long)cred.uid;
#elif defined(HAVE_GETPEEREID)
    uid_t uid;
    gid_t gid;

    return getpeereid(fd, &uid, &gid) < 0 ? -1 : (long)uid;
#else
    (void)fd;
    return -1;
#endif
}

/* Is the server on fd (connected to a portable name) one that may
 * listen in name's run directory? APR_SUCCESS, or the directory's own
 * check tells what is wrong, or XPIPE_ERUNDIR. */
static apr_status_t unix_server_check(int fd, const xpipe__name_t *name,
                                      const char *native, apr_pool_t *pool)
{
    long uid = unix_server_uid(fd);
    apr_status_t rv;

    if (uid >= 0 && (uid == name->owner || uid == 0))
        return APR_SUCCESS;
    rv = xpipe__unix_name_dir_check(name, native, 0, pool);
    if (rv != APR_SUCCESS || uid < 0)
        return rv;
    return xpipe__fail(XPIPE_ERUNDIR,
                       "the server of %s runs as uid %ld, not as us (uid "
                       "%ld): refused",
                       native, uid, name->owner);
}

/* One connect attempt (lib/ loops). */
apr_status_t xpipe__unix_dial(xpipe__chan_t **out, const xpipe__name_t *name,
                              const char *native, const xpipe_attr_t *attr,
                              apr_time_t deadline, apr_pool_t *pool)
{
    struct sockaddr_un sa;
    apr_status_t rv;
    int fd, err, fast;
    socklen_t elen;

    rv = xpipe__unix_socket_new(&fd, attr);
    if (rv != APR_SUCCESS)
        return rv;
    /* The fast path: asked by the address we connect from (a server
     * that is not xpipe never answers: the channel keeps the socket). */
    fast = xpipe__unix_fast_ring(attr) > 0
           && xpipe__unix_fast_bind(fd) == APR_SUCCESS;
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
    /* A portable name's run directory: the server must be ours (checked
     * before anything is sent); a failure to connect is reported as the
     * directory's when it is unsafe or missing. */
    if (name->kind == XPIPE__NAME_PORTABLE) {
        rv = err == 0 ? unix_server_check(fd, name, native, pool)
                      : xpipe__unix_name_dir_check(name, native, 0, pool);
        if (rv != APR_SUCCESS) {
            unix_sys.close(fd);
            return rv; /* XPIPE_ENOPIPE when the directory is missing */
        }
    }
    if (err == 0 && UNIX_FRAMED) {
        /* An empty socket always takes one byte. */
        char hello =
            attr->mode == XPIPE_MODE_MESSAGE ? UNIX_HELLO_MSG : UNIX_HELLO_BYTE;
        if (unix_sys.send(fd, &hello, 1, MSG_NOSIGNAL) != 1)
            err = errno ? errno : EAGAIN;
    }
    if (err == 0) {
        xpipe__chan_t *c;
        rv = xpipe__unix_chan_new(&c, fd, attr, UNIX_MSG_FRAMES(attr), pool);
        if (rv == APR_SUCCESS && fast)
            rv = xpipe__unix_fast_ask(c, attr, pool);
        if (rv != APR_SUCCESS) {
            xpipe__unix_close(c);
            return rv;
        }
        *out = c;
        return APR_SUCCESS;
    }
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
