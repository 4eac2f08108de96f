/* SPDX-License-Identifier: Apache-2.0 */
/* conn.c — a POSIX connection: byte I/O, messages (SOCK_SEQPACKET, or
 * frames on a stream through frame.h), wake, shutdown, close, identity.
 */
#include "posix.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

apr_status_t xpipe__unix_chan_new(xpipe__chan_t **out, int fd,
                                  const xpipe_attr_t *attr,
                                  xpipe__frame_kind_e kind, apr_pool_t *pool)
{
    xpipe__chan_t *c = apr_pcalloc(pool, sizeof(*c));

    c->max_message = attr->max_message;
    c->message = attr->mode == XPIPE_MODE_MESSAGE;
    c->rx.kind = c->tx.kind = kind;
    xpipe__unix_wake_init(&c->wake);
    c->fd = fd;
    *out = c;
    return APR_SUCCESS;
}

/* Status for a failed recv/send errno. */
static apr_status_t unix_io_status(int err)
{
    switch (err) {
    case ECONNRESET: /* peer closed with data unread, or was killed */
        return XPIPE_ERESET;
    case EPIPE: /* peer closed: nothing more can be written */
        return XPIPE_EPIPE;
    case EMSGSIZE: /* larger than the socket can carry whole */
        return XPIPE_EMSGSIZE;
    default: return APR_FROM_OS_ERROR(err);
    }
}

/* One syscall pattern for every transfer: try, and on EAGAIN wait for
 * readiness and try again. flags carries MSG_PEEK|MSG_TRUNC for recv's
 * size probe. */
static apr_status_t unix_xfer(xpipe__chan_t *c, int out, void *buf,
                              apr_size_t *len, int flags, apr_time_t deadline)
{
    ssize_t n;
    apr_status_t rv;

    /* After a short transfer the next try would most likely say EAGAIN:
     * wait first, sparing it (when the guess is wrong, the wait returns
     * at once and costs one poll more). Not for a call that may not
     * block (a poll set's): that wait would be the poll it just did. */
    if (c->short_xfer[out] && !(flags & MSG_PEEK)
        && xpipe__remaining_ms(deadline) != 0) {
        rv =
            xpipe__unix_wait(c->fd, out ? POLLOUT : POLLIN, &c->wake, deadline);
        if (rv != APR_SUCCESS)
            return rv;
    }
    for (;;) {
        if (out)
            n = unix_sys.send(c->fd, buf, *len, flags | MSG_NOSIGNAL);
        else
            n = unix_sys.recv(c->fd, buf, *len, flags);
        if (n > 0) {
            c->short_xfer[out] = (apr_size_t)n < *len;
            *len = (apr_size_t)n;
            return APR_SUCCESS;
        }
        if (n == 0 && !out)
            return APR_EOF;
        if (n == 0)
            errno = EAGAIN; /* nothing taken: wait for room */
        rv = xpipe__unix_again(c->fd, out ? POLLOUT : POLLIN, &c->wake,
                               deadline, unix_io_status);
        if (rv != APR_SUCCESS)
            return rv;
    }
}

apr_status_t xpipe__unix_read(xpipe__chan_t *c, void *buf, apr_size_t *len,
                              apr_time_t deadline)
{
    return unix_xfer(c, 0, buf, len, 0, deadline);
}

apr_status_t xpipe__unix_write(xpipe__chan_t *c, const void *buf,
                               apr_size_t *len, apr_time_t deadline)
{
    return unix_xfer(c, 1, (void *)buf, len, 0, deadline);
}

/* ------------------------------------------------------------------ */
/* Frames on a stream: the codec (frame.h) moves bytes through these. */

typedef struct unix_frame_io_t {
    xpipe__chan_t *c;
    apr_time_t deadline;
} unix_frame_io_t;

static apr_status_t unix_frame_read(void *baton, void *buf, apr_size_t *n)
{
    unix_frame_io_t *io = baton;

    return unix_xfer(io->c, 0, buf, n, 0, io->deadline);
}

/* One sendmsg of the parts; on EAGAIN wait for room (to the deadline). */
static apr_status_t unix_frame_write(void *baton,
                                     const xpipe__frame_part_t *parts,
                                     int count, apr_size_t *n)
{
    unix_frame_io_t *io = baton;
    struct iovec iov[2];
    struct msghdr msg;
    apr_status_t rv;
    ssize_t r;
    int i;

    memset(&msg, 0, sizeof(msg));
    for (i = 0; i < count && i < 2; i++) {
        iov[i].iov_base = (void *)parts[i].p;
        iov[i].iov_len = parts[i].n;
    }
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)i;
    for (;;) {
        r = unix_sys.sendmsg(io->c->fd, &msg, MSG_NOSIGNAL);
        if (r > 0) {
            *n = (apr_size_t)r;
            return APR_SUCCESS;
        }
        if (r == 0)
            errno = EAGAIN; /* nothing taken: wait for room */
        rv = xpipe__unix_again(io->c->fd, POLLOUT, &io->c->wake, io->deadline,
                               unix_io_status);
        if (rv != APR_SUCCESS)
            return rv;
    }
}

apr_status_t xpipe__unix_send(xpipe__chan_t *c, const void *buf, apr_size_t len,
                              apr_time_t deadline)
{
    unix_frame_io_t io = { c, deadline };

    if (c->tx.kind != XPIPE__FRAME_NONE) {
        if (len > xpipe__frame_max(c->tx.kind))
            return xpipe__fail(XPIPE_EMSGSIZE,
                               "%lu bytes: this peer's messages hold at "
                               "most %lu (an SMB client's: 65,535)",
                               (unsigned long)len,
                               (unsigned long)xpipe__frame_max(c->tx.kind));
        return xpipe__frame_send(&c->tx, buf, len, unix_frame_write, &io);
    }
    /* SOCK_SEQPACKET sends are atomic: all of the message or an error. */
    return unix_xfer(c, 1, (void *)buf, &len, 0, deadline);
}

/* Linux: recv() with MSG_TRUNC returns the real length of a message it
 * cut. Elsewhere the buffers below hold one byte more than the largest
 * message, which tells a cut the same. */
#ifdef __linux__
#define UNIX_RECV_TRUNC MSG_TRUNC
#else
#define UNIX_RECV_TRUNC 0
#endif

/* SOCK_SEQPACKET receive in one plain recv() (measurably cheaper than
 * recvmsg here). A buffer larger than the max message size takes the
 * message directly; a smaller one gets it through the channel's spill
 * buffer, so a buffer too small loses nothing: the message is kept whole
 * for the next call (XPIPE_EMSGSIZE with its size). Only a message longer
 * than this channel's max message size (from a peer that ignored its own)
 * can be cut: that too is XPIPE_EMSGSIZE, and the message is gone. */
static apr_status_t unix_seq_recv(xpipe__chan_t *c, void *buf, apr_size_t *len,
                                  apr_time_t deadline)
{
    int direct = *len > c->max_message;
    apr_size_t room = direct ? *len : c->max_message + 1, got;
    apr_status_t rv;
    ssize_t n;

    if (xpipe__held_take(&c->held, buf, len, &rv))
        return rv;
    if (!direct && c->spill == NULL
        && (c->spill = malloc(c->max_message + 1)) == NULL)
        return APR_ENOMEM;
    for (;;) {
        n = unix_sys.recv(c->fd, direct ? buf : c->spill, room,
                          UNIX_RECV_TRUNC);
        if (n > 0) {
            got = (apr_size_t)n;
            if (got > c->max_message) { /* cut: longer than allowed */
                *len = got;
                return XPIPE_EMSGSIZE;
            }
            if (!direct && got <= *len)
                memcpy(buf, c->spill, got);
            else if (!direct) {
                /* Keep it whole: the spill buffer becomes the held one. */
                c->held.data = c->spill;
                c->held.len = got;
                c->spill = NULL;
                *len = got;
                return XPIPE_EMSGSIZE;
            }
            *len = got;
            return APR_SUCCESS;
        }
        if (n == 0)
            return APR_EOF;
        rv = xpipe__unix_again(c->fd, POLLIN, &c->wake, deadline,
                               unix_io_status);
        if (rv != APR_SUCCESS)
            return rv;
    }
}

apr_status_t xpipe__unix_recv(xpipe__chan_t *c, void *buf, apr_size_t *len,
                              apr_time_t deadline)
{
    unix_frame_io_t io = { c, deadline };

    if (c->rx_err) {
        apr_status_t rv = c->rx_err;
        c->rx_err = APR_SUCCESS;
        *len = 0;
        return rv;
    }
    if (c->rx.kind != XPIPE__FRAME_NONE)
        return xpipe__frame_recv(&c->rx, buf, len, unix_frame_read, &io);
    return unix_seq_recv(c, buf, len, deadline);
}

apr_status_t xpipe__unix_frame_fill(xpipe__chan_t *c)
{
    unix_frame_io_t io = { c, 0 };
    apr_status_t rv = xpipe__frame_fill(&c->rx, unix_frame_read, &io);

    /* A reset is told once by the socket: keep it for recv. The end of
     * the stream, a bad frame and a cut-off one are found again. */
    if (rv == XPIPE_ERESET
        || (rv != APR_SUCCESS && !APR_STATUS_IS_TIMEUP(rv)
            && !APR_STATUS_IS_EOF(rv) && rv != XPIPE_EMODE
            && rv != XPIPE_ECANCELED))
        c->rx_err = rv;
    return rv;
}

apr_status_t xpipe__unix_wake(xpipe__chan_t *c)
{
    return xpipe__unix_wake_set(&c->wake, 1);
}

apr_status_t xpipe__unix_unwake(xpipe__chan_t *c)
{
    return xpipe__unix_wake_set(&c->wake, 0);
}

apr_status_t xpipe__unix_shutdown(xpipe__chan_t *c, xpipe_shutdown_e how)
{
    static const int hows[] = { SHUT_RD, SHUT_WR, SHUT_RDWR };

    if (unix_sys.shutdown(c->fd, hows[how]) < 0)
        return APR_FROM_OS_ERROR(errno);
    return APR_SUCCESS;
}

apr_status_t xpipe__unix_close(xpipe__chan_t *c)
{
    /* A Unix socket's data is already in the peer's receive queue, so a
     * plain close delivers everything written and never blocks. */
    if (c->tx.rest) { /* a committed frame's tail: one try, never a wait */
        unix_frame_io_t io = { c, 0 };
        xpipe__frame_flush(&c->tx, unix_frame_write, &io);
    }
    xpipe__frame_tx_free(&c->tx);
    xpipe__frame_rx_free(&c->rx);
    free(c->spill);
    free(c->held.data);
    xpipe__unix_close_fd(&c->fd);
    xpipe__unix_wake_close(&c->wake);
    return APR_SUCCESS;
}

apr_status_t xpipe__unix_peer_get(xpipe__chan_t *c, xpipe_peer_t *peer,
                                  apr_pool_t *pool)
{
    (void)pool;
    if (c->smb) {
        /* A network client: who the SMB session says it is, not smbd. */
        xpipe__smb_peer_get(c->smb, peer);
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
    h->fd = c->fd;
    return APR_SUCCESS;
}
