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
    c->seq = c->message && kind == XPIPE__FRAME_NONE;
    c->rx.kind = c->tx.kind = kind;
    /* A fresh channel's first read is most often for what the peer has
     * not sent yet (a client's answer, or a server's first request: the
     * connect woke it before the client wrote): it waits first. */
    c->wait_first[0] = 1;
    xpipe__unix_wake_init(&c->wake);
    xpipe__unix_slice_init(&c->slice, attr->wake_slice);
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

/* May a transfer in this direction sleep in the system call for a slice?
 * Sends may. So may receives that nothing can wake for no reason:
 * SOCK_SEQPACKET's (its waits ignore write space) and a stream's when
 * nothing was sent since the last receive. Otherwise the peer reading
 * what we sent would wake the sleeper, to find nothing and sleep again:
 * a stream receive after a send waits in poll(), which only POLLIN wakes. */
static int unix_sliceable(xpipe__chan_t *c, int out)
{
    return out || c->seq || !xpipe__a32_get(&c->sent);
}

/* Before a transfer: APR_SUCCESS with *slice set (sleep in the call), or
 * the status of a wait first. A transfer waits first when the last one
 * had to wait or came short, and a stream receive when we sent since the
 * last one (the answer is rarely there yet): the try would most likely
 * say EAGAIN, and poll spares it. Not for a call that may not block (a
 * poll set's): that wait would be the poll it just did. */
static apr_status_t unix_xfer_begin(xpipe__chan_t *c, int out, int sliceable,
                                    apr_time_t deadline, int *slice)
{
    int first = c->wait_first[out] || !sliceable;

    *slice = 0;
    if (xpipe__remaining_ms(deadline) == 0)
        return APR_SUCCESS;
    /* About to wait first: having to wait is what switches to slices. */
    if (sliceable && first)
        xpipe__unix_slice_start(&c->slice, c->fd);
    *slice = sliceable && xpipe__unix_slice_may(&c->slice, &c->wake, deadline);
    if (*slice || !first)
        return APR_SUCCESS;
    return xpipe__unix_wait(c->fd, out ? POLLOUT : POLLIN, &c->wake, deadline);
}

/* After a try that moved nothing (errno set): APR_SUCCESS to try again
 * (without a slice: one has passed, or the wait found the socket ready),
 * else the status. Having to wait counts towards the switch to slices
 * (xpipe__unix_slice_start). */
static apr_status_t unix_xfer_again(xpipe__chan_t *c, int out, int sliceable,
                                    apr_time_t deadline, int *slice)
{
    int err = errno;

    if (err == EINTR) { /* a signal: try again, looking at the flag */
        *slice = *slice && xpipe__unix_slice_may(&c->slice, &c->wake, deadline);
        return APR_SUCCESS;
    }
    *slice = 0;
    if (err == EAGAIN || err == EWOULDBLOCK) {
        c->wait_first[out] = 1;
        if (sliceable && xpipe__remaining_ms(deadline) != 0)
            xpipe__unix_slice_start(&c->slice, c->fd);
    }
    errno = err;
    return xpipe__unix_again(c->fd, out ? POLLOUT : POLLIN, &c->wake, deadline,
                             unix_io_status);
}

/* After a transfer moved n of len bytes; waited: a try said EAGAIN. */
static void unix_xfer_done(xpipe__chan_t *c, int out, apr_size_t n,
                           apr_size_t len, int waited)
{
    c->wait_first[out] = waited || n < len;
    /* The flag changes rarely: read before writing it. */
    if (xpipe__a32_get(&c->sent) != (apr_uint32_t)out)
        xpipe__a32_set(&c->sent, (apr_uint32_t)out);
}

/* One syscall pattern for every transfer: try, and on EAGAIN wait for
 * readiness and try again. flags: 0, or MSG_TRUNC for a SOCK_SEQPACKET
 * receive (*len becomes the whole message's length). */
static apr_status_t unix_xfer(xpipe__chan_t *c, int out, void *buf,
                              apr_size_t *len, int flags, apr_time_t deadline)
{
    int sliceable = unix_sliceable(c, out), slice;
    int waited = 0;
    apr_status_t rv = unix_xfer_begin(c, out, sliceable, deadline, &slice);
    ssize_t n;

    while (rv == APR_SUCCESS) {
        int f = flags | (slice ? 0 : UNIX_DONTWAIT);
        if (out)
            n = unix_sys.send(c->fd, buf, *len, f | MSG_NOSIGNAL);
        else
            n = unix_sys.recv(c->fd, buf, *len, f);
        if (n > 0) {
            unix_xfer_done(c, out, (apr_size_t)n, *len, waited);
            *len = (apr_size_t)n;
            return APR_SUCCESS;
        }
        if (n == 0 && !out)
            return APR_EOF;
        if (n == 0)
            errno = EAGAIN; /* nothing taken: wait for room */
        rv = unix_xfer_again(c, out, sliceable, deadline, &slice);
        waited = 1;
    }
    return rv;
}

/* A failure of a call that close woke (it shut the socket down): the
 * guard makes ECANCELED into XPIPE_ECLOSED. */
static apr_status_t unix_end(xpipe__chan_t *c, apr_status_t rv)
{
    if (rv != APR_SUCCESS && xpipe__a32_get(&c->closing))
        return XPIPE_ECANCELED;
    return rv;
}

apr_status_t xpipe__unix_read(xpipe__chan_t *c, void *buf, apr_size_t *len,
                              apr_time_t deadline)
{
    return unix_end(c, unix_xfer(c, 0, buf, len, 0, deadline));
}

apr_status_t xpipe__unix_write(xpipe__chan_t *c, const void *buf,
                               apr_size_t *len, apr_time_t deadline)
{
    return unix_end(c, unix_xfer(c, 1, (void *)buf, len, 0, deadline));
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
    xpipe__chan_t *c = io->c;
    struct iovec iov[2];
    struct msghdr msg;
    apr_size_t total = 0;
    apr_status_t rv;
    ssize_t r;
    int i, slice, waited = 0;

    memset(&msg, 0, sizeof(msg));
    for (i = 0; i < count && i < 2; i++) {
        iov[i].iov_base = (void *)parts[i].p;
        iov[i].iov_len = parts[i].n;
        total += parts[i].n;
    }
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)i;
    rv = unix_xfer_begin(c, 1, 1, io->deadline, &slice);
    while (rv == APR_SUCCESS) {
        r = unix_sys.sendmsg(c->fd, &msg,
                             MSG_NOSIGNAL | (slice ? 0 : UNIX_DONTWAIT));
        if (r > 0) {
            unix_xfer_done(c, 1, (apr_size_t)r, total, waited);
            *n = (apr_size_t)r;
            return APR_SUCCESS;
        }
        if (r == 0)
            errno = EAGAIN; /* nothing taken: wait for room */
        rv = unix_xfer_again(c, 1, 1, io->deadline, &slice);
        waited = 1;
    }
    return rv;
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
        return unix_end(
            c, xpipe__frame_send(&c->tx, buf, len, unix_frame_write, &io));
    }
    /* SOCK_SEQPACKET sends are atomic: all of the message or an error. */
    return unix_end(c, unix_xfer(c, 1, (void *)buf, &len, 0, deadline));
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
    apr_size_t got = direct ? *len : c->max_message + 1;
    apr_status_t rv;

    if (xpipe__held_take(&c->held, buf, len, &rv))
        return rv;
    if (!direct && c->spill == NULL
        && (c->spill = malloc(c->max_message + 1)) == NULL)
        return APR_ENOMEM;
    rv = unix_xfer(c, 0, direct ? buf : c->spill, &got, UNIX_RECV_TRUNC,
                   deadline);
    if (rv != APR_SUCCESS)
        return rv;
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
        return unix_end(
            c, xpipe__frame_recv(&c->rx, buf, len, unix_frame_read, &io));
    return unix_end(c, unix_seq_recv(c, buf, len, deadline));
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

apr_status_t xpipe__unix_wake(xpipe__chan_t *c, int closing)
{
    apr_status_t rv = xpipe__unix_wake_set(&c->wake, 1);

    if (closing) {
        xpipe__a32_set(&c->closing, 1);
        xpipe__unix_slice_shut(&c->slice, c->fd);
    }
    return rv;
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
    /* An event loop gets the non-blocking fd the header promises; the
     * channel waits in poll() from now on. */
    xpipe__unix_slice_stop(&c->slice, c->fd);
    h->fd = c->fd;
    return APR_SUCCESS;
}
