/* SPDX-License-Identifier: Apache-2.0 */
/* chan.c — a POSIX channel apart from its I/O (conn.c): made on a
 * connected socket, woken, shut down, its peer's identity and its
 * descriptor for an event loop.
 */
#include "posix.h"

#include <errno.h>
#include <unistd.h>

apr_status_t xpipe__unix_chan_new(xpipe__chan_t **out, int fd,
                                  const xpipe_attr_t *attr,
                                  xpipe__frame_kind_e kind, apr_pool_t *pool)
{
    xpipe__chan_t *c = apr_pcalloc(pool, sizeof(*c));

    c->max_message = attr->max_message;
    c->message = attr->mode == XPIPE_MODE_MESSAGE;
    c->seq = c->message && kind == XPIPE__FRAME_NONE;
    c->handles = attr->handles;
    c->rx.kind = c->tx.kind = kind;
    /* A fresh channel's first read, unless this end has sent, is most
     * often for what the peer has not sent yet (a server's first request:
     * the connect woke it before the client wrote): it waits first. */
    c->wait_first[0] = 1;
    c->late_probe = -1;
    xpipe__unix_reply_init(c);
    xpipe__unix_wake_init(&c->wake);
    xpipe__unix_slice_init(&c->slice, attr->wake_slice);
    c->fd = fd;
    *out = c;
    return APR_SUCCESS;
}

apr_status_t xpipe__unix_wake(xpipe__chan_t *c, int closing)
{
    apr_status_t rv = xpipe__unix_wake_set(&c->wake, 1);

    if (closing) {
        xpipe__a32_set(&c->closing, 1);
        xpipe__unix_slice_shut(&c->slice, c->fd);
    }
    if (c->fast)
        xpipe__unix_fast_wake(c);
    return rv;
}

apr_status_t xpipe__unix_unwake(xpipe__chan_t *c)
{
    return xpipe__unix_wake_set(&c->wake, 0);
}

apr_status_t xpipe__unix_shutdown(xpipe__chan_t *c, xpipe_shutdown_e how)
{
    static const int hows[] = { SHUT_RD, SHUT_WR, SHUT_RDWR };
    apr_status_t rv;

    /* On the rings the socket stays whole: it tells of the peer's end. */
    if (c->fast && (rv = xpipe__unix_fast_shutdown(c, how)) != APR_EAGAIN)
        return rv;
    if (unix_sys.shutdown(c->fd, hows[how]) < 0)
        return APR_FROM_OS_ERROR(errno);
    return APR_SUCCESS;
}

apr_status_t xpipe__unix_peer_get(xpipe__chan_t *c, xpipe_peer_t *peer,
                                  apr_pool_t *pool)
{
    (void)pool;
    if (c->smb) {
        /* A network client: who the SMB session says it is, not smbd. */
        xpipe__npa_peer(c->smb, peer);
        return APR_SUCCESS;
    }
#if defined(SO_PEERCRED)
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (unix_sys.getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return APR_FROM_OS_ERROR(errno);
    peer->pid = (long)cred.pid;
    peer->uid = (long)cred.uid;
    peer->gid = (long)cred.gid;
    peer->have = XPIPE_PEER_PID | XPIPE_PEER_UID | XPIPE_PEER_GID;
    return APR_SUCCESS;
#elif defined(HAVE_GETPEEREID)
    uid_t uid;
    gid_t gid;

    if (getpeereid(c->fd, &uid, &gid) < 0)
        return APR_FROM_OS_ERROR(errno);
    peer->uid = (long)uid;
    peer->gid = (long)gid;
    peer->have = XPIPE_PEER_UID | XPIPE_PEER_GID;
    return APR_SUCCESS;
#else
    (void)c;
    (void)peer;
    return APR_ENOTIMPL;
#endif
}

apr_status_t xpipe__unix_os_handle_get(xpipe__chan_t *c, xpipe_os_handle_t *h)
{
    /* An event loop gets the non-blocking fd the header promises; the
     * channel waits in poll() from now on. */
    xpipe__unix_slice_stop(&c->slice, c->fd);
    if (c->fast) /* its waits ring the descriptor */
        return xpipe__unix_fast_handle(c, &h->fd);
    h->fd = c->fd;
    return APR_SUCCESS;
}
