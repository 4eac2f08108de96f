/* SPDX-License-Identifier: Apache-2.0 */
/* conn.c — a POSIX connection's I/O: bytes, messages (SOCK_SEQPACKET, or
 * frames on a stream through frame.h), descriptors with them, the fast
 * path's socket side, and close (chan.c: the rest of a channel).
 */
#include "posix.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

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

/* Does a transfer go by wait_first (below), and may it sleep in the
 * system call for a slice whenever it waits? Sends, and SOCK_SEQPACKET
 * receives (their waits ignore write space). A stream receive goes by a
 * learned guess instead (xpipe__unix_reply_try), and sleeps in recv() only when
 * it waits first on that guess and the peer runs on another CPU
 * (xpipe__unix_late_slice). */
static int unix_sliceable(xpipe__chan_t *c, int out)
{
    return out || c->seq;
}

/* Before a transfer: APR_SUCCESS with *slice set (sleep in the call), or
 * the status of a wait first. A send or a SOCK_SEQPACKET receive waits
 * first when the last one had to wait or came short; a stream receive
 * when tries have been finding nothing (xpipe__unix_reply_try), and a fresh
 * channel's first before it sent: the try would most likely say EAGAIN,
 * and poll spares it. Not for a call that may not block (a poll set's):
 * that wait would be the poll it just did. *sliceable (unix_sliceable's
 * answer) becomes set for a stream receive that waits first in recv()
 * (xpipe__unix_late_slice). */
static apr_status_t unix_xfer_begin(xpipe__chan_t *c, int out, int *sliceable,
                                    apr_time_t deadline, int *slice)
{
    int stream = !*sliceable, fresh = 0, first;

    if (stream) {
        c->late_probe = -1; /* one that did not get as far as its try */
        fresh = c->wait_first[0] && !xpipe__a32_get(&c->sent);
        first = fresh || !xpipe__unix_reply_try(c);
        *sliceable = first && !fresh && xpipe__unix_late_slice(c);
    }
    else
        first = c->wait_first[out];
    *slice = 0;
    /* reply_*, late_*: the receiver's own (a writer may run at once). */
    if (!out)
        c->reply_tried = 0;
    if (xpipe__remaining_ms(deadline) == 0)
        return APR_SUCCESS;
    if (!out)
        c->reply_tried = stream && !first;
    /* About to wait first: having to wait is what switches to slices
     * (a stream receive's waits too, so that its probes can sleep). */
    if (first && (*sliceable || !fresh))
        xpipe__unix_slice_start(&c->slice, c->fd);
    *slice = *sliceable && xpipe__unix_slice_may(&c->slice, &c->wake, deadline);
    if (*slice || !first)
        return APR_SUCCESS;
    return xpipe__unix_wait(c->fd, out ? POLLOUT : POLLIN, &c->wake, deadline);
}

/* After a try that moved nothing (errno set): APR_SUCCESS to try again
 * (without a slice: one has passed, or the wait found the socket ready;
 * with one: a stream receive's try, where late ones sleep in recv()),
 * else the status. Having to wait counts towards the switch to slices
 * (xpipe__unix_slice_start). */
static apr_status_t unix_xfer_again(xpipe__chan_t *c, int out, int sliceable,
                                    apr_time_t deadline, int *slice)
{
    int err = errno, tried = !*slice;

    if (err == EINTR) { /* a signal: try again, looking at the flag */
        *slice = *slice && xpipe__unix_slice_may(&c->slice, &c->wake, deadline);
        return APR_SUCCESS;
    }
    *slice = 0;
    if (err == EAGAIN || err == EWOULDBLOCK) {
        c->wait_first[out] = out || c->seq;
        if (sliceable && xpipe__remaining_ms(deadline) != 0)
            xpipe__unix_slice_start(&c->slice, c->fd);
        /* A stream receive's try found nothing: where the late ones
         * sleep in recv() (xpipe__unix_late_slice), so does this one. */
        if (tried && !out && !c->seq && xpipe__unix_late_sleeps(c)
            && xpipe__unix_slice_may(&c->slice, &c->wake, deadline)) {
            *slice = 1;
            return APR_SUCCESS;
        }
    }
    errno = err;
    return xpipe__unix_again(c->fd, out ? POLLOUT : POLLIN, &c->wake, deadline,
                             unix_io_status);
}

/* After a transfer moved n of len bytes; waited: a try said EAGAIN. A
 * stream receive goes by what tries find from then on. */
static void unix_xfer_done(xpipe__chan_t *c, int out, apr_size_t n,
                           apr_size_t len, int waited)
{
    c->wait_first[out] = (out || c->seq) && (waited || n < len);
    if (out && !xpipe__a32_get(&c->sent)) /* once: read before writing */
        xpipe__a32_set(&c->sent, 1);
}

/* One syscall pattern for every transfer: try, and on EAGAIN wait for
 * readiness and try again. With m, one sendmsg/recvmsg of m (*len its
 * total); without, one send/recv of buf. flags: 0, or for a receive
 * MSG_TRUNC (SOCK_SEQPACKET: *len becomes the whole message's length)
 * and MSG_CMSG_CLOEXEC. */
XPIPE__HOT static apr_status_t unix_xfer(xpipe__chan_t *c, int out, void *buf,
                                         apr_size_t *len, struct msghdr *m,
                                         int flags, apr_time_t deadline)
{
    int sliceable = unix_sliceable(c, out), slice;
    int waited = 0;
    apr_status_t rv = unix_xfer_begin(c, out, &sliceable, deadline, &slice);
    ssize_t n;

    while (rv == APR_SUCCESS) {
        int f = flags | (slice ? 0 : UNIX_DONTWAIT);
        if (out && m)
            n = unix_sys.sendmsg(c->fd, m, f | MSG_NOSIGNAL);
        else if (out)
            n = unix_sys.send(c->fd, buf, *len, f | MSG_NOSIGNAL);
        else if (m)
            n = unix_sys.recvmsg(c->fd, m, f);
        else
            n = unix_sys.recv(c->fd, buf, *len, f);
        if (!out && c->reply_tried) {
            c->reply_tried = 0;
            xpipe__unix_reply_learn(
                c, n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK));
        }
        if (!out && c->late_probe >= 0) {
            int err = errno;
            xpipe__unix_late_learn(c, slice && n > 0);
            errno = err;
        }
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
XPIPE__HOT static apr_status_t unix_end(xpipe__chan_t *c, apr_status_t rv)
{
    if (rv != APR_SUCCESS && xpipe__a32_get(&c->closing))
        return XPIPE_ECANCELED;
    return rv;
}

static apr_status_t unix_watch_recv(xpipe__chan_t *c, void *buf,
                                    apr_size_t *len, apr_time_t deadline);

/* On the fast path: the rings' status, or APR_EAGAIN to go on with the
 * socket. A receive that watches the socket for the peer's marker takes
 * it, and goes on on the ring. */
static apr_status_t unix_fast(xpipe__chan_t *c, int out, void *buf,
                              apr_size_t *len, apr_time_t deadline)
{
    apr_size_t want = *len;
    apr_status_t rv;

    for (;;) {
        *len = want;
        rv = xpipe__unix_fast_xfer(c, out, buf, len, deadline);
        if (rv == XPIPE__FAST_WATCH) {
            *len = want;
            rv = unix_watch_recv(c, buf, len, deadline);
        }
        if (rv != XPIPE__FAST_WATCH)
            break;
    }
    if (rv == APR_SUCCESS && !out)
        xpipe__unix_fast_received(c);
    return rv;
}

XPIPE__HOT apr_status_t xpipe__unix_read(xpipe__chan_t *c, void *buf,
                                         apr_size_t *len, apr_time_t deadline)
{
    apr_status_t rv;

    if (c->fast && (rv = unix_fast(c, 0, buf, len, deadline)) != APR_EAGAIN)
        return unix_end(c, rv);
    return unix_end(c, unix_xfer(c, 0, buf, len, NULL, 0, deadline));
}

XPIPE__HOT apr_status_t xpipe__unix_write(xpipe__chan_t *c, const void *buf,
                                          apr_size_t *len, apr_time_t deadline)
{
    apr_status_t rv;

    if (c->fast
        && (rv = unix_fast(c, 1, (void *)buf, len, deadline)) != APR_EAGAIN)
        return unix_end(c, rv);
    return unix_end(c, unix_xfer(c, 1, (void *)buf, len, NULL, 0, deadline));
}

/* ------------------------------------------------------------------ */
/* Descriptors sent with messages (SCM_RIGHTS), on channels with
 * attr->handles. A SOCK_SEQPACKET message carries its own; a frame's
 * ride with its first bytes, and the codec reads frames exactly (never
 * into the next), so those that come while a frame is read are its own.
 * A receive that asks for none gets them closed; one with too little
 * room leaves the message and its descriptors for the next call. */

/* One receive of up to *n bytes into buf, collecting descriptors into f
 * when f is not NULL (recvmsg), else a plain recv (the OS closes any that
 * came). flags as unix_xfer's. */
static apr_status_t unix_recv_fds(xpipe__chan_t *c, void *buf, apr_size_t *n,
                                  xpipe__unix_fds_t *f, int flags,
                                  apr_time_t deadline)
{
    xpipe__unix_ctl_t ctl;
    struct iovec iov;
    struct msghdr m;
    apr_status_t rv;

    if (f == NULL)
        return unix_xfer(c, 0, buf, n, NULL, flags, deadline);
    memset(&m, 0, sizeof(m));
    iov.iov_base = buf;
    iov.iov_len = *n;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl.b;
    m.msg_controllen = sizeof(ctl.b);
    rv = unix_xfer(c, 0, buf, n, &m, flags | UNIX_CMSG_CLOEXEC, deadline);
    if (rv == APR_SUCCESS)
        xpipe__unix_fds_take(f, &m);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Frames on a stream: the codec (frame.h) moves bytes through these. */

typedef struct unix_frame_io_t {
    xpipe__chan_t *c;
    apr_time_t deadline;
    /* Descriptors to send with the frame's first bytes (then 0). */
    const xpipe_os_handle_t *hs;
    int count;
} unix_frame_io_t;

static apr_status_t unix_frame_read(void *baton, void *buf, apr_size_t *n)
{
    unix_frame_io_t *io = baton;
    xpipe__chan_t *c = io->c;

    return unix_recv_fds(c, buf, n, c->handles ? &c->fds : NULL, 0,
                         io->deadline);
}

/* One sendmsg of the parts; on EAGAIN wait for room (to the deadline). */
static apr_status_t unix_frame_write(void *baton,
                                     const xpipe__frame_part_t *parts,
                                     int count, apr_size_t *n)
{
    unix_frame_io_t *io = baton;
    struct iovec iov[2];
    struct msghdr msg;
    xpipe__unix_ctl_t ctl;
    apr_status_t rv;
    int i;

    memset(&msg, 0, sizeof(msg));
    *n = 0;
    for (i = 0; i < count && i < 2; i++) {
        iov[i].iov_base = (void *)parts[i].p;
        iov[i].iov_len = parts[i].n;
        *n += parts[i].n;
    }
    msg.msg_iov = iov;
    msg.msg_iovlen = (size_t)i;
    if (io->count > 0)
        xpipe__unix_fds_put(&msg, &ctl, io->hs, io->count);
    rv = unix_xfer(io->c, 1, NULL, n, &msg, 0, io->deadline);
    if (rv == APR_SUCCESS)
        io->count = 0; /* they went with these bytes */
    return rv;
}

/* Send one message (with count descriptors) in frames or as one
 * SOCK_SEQPACKET message (atomic: all of it or an error). */
static apr_status_t unix_send_any(xpipe__chan_t *c, const void *buf,
                                  apr_size_t len, const xpipe_os_handle_t *hs,
                                  int count, apr_time_t deadline)
{
    unix_frame_io_t io = { c, deadline, NULL, 0 };
    xpipe__unix_ctl_t ctl;
    struct iovec iov;
    struct msghdr m;
    apr_status_t rv;

    if (c->tx.kind != XPIPE__FRAME_NONE) {
        if (len > xpipe__frame_max(c->tx.kind))
            return xpipe__fail(XPIPE_EMSGSIZE,
                               "%lu bytes: this peer's messages hold at "
                               "most %lu (an SMB client's: 65,535)",
                               (unsigned long)len,
                               (unsigned long)xpipe__frame_max(c->tx.kind));
        /* An earlier frame's tail first, without them. */
        rv = xpipe__frame_flush(&c->tx, unix_frame_write, &io);
        io.hs = hs;
        io.count = count;
        if (rv == APR_SUCCESS)
            rv = xpipe__frame_send(&c->tx, buf, len, unix_frame_write, &io);
    }
    else if (count == 0)
        rv = unix_xfer(c, 1, (void *)buf, &len, NULL, 0, deadline);
    else {
        memset(&m, 0, sizeof(m));
        iov.iov_base = (void *)buf;
        iov.iov_len = len;
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        xpipe__unix_fds_put(&m, &ctl, hs, count);
        rv = unix_xfer(c, 1, NULL, &len, &m, 0, deadline);
    }
    if (count > 0 && rv == APR_FROM_OS_ERROR(EBADF))
        rv = xpipe__fail(XPIPE_EBADHANDLE, "a handle to send is not open");
    return unix_end(c, rv);
}

XPIPE__HOT apr_status_t xpipe__unix_send(xpipe__chan_t *c, const void *buf,
                                         apr_size_t len, apr_time_t deadline)
{
    apr_status_t rv;

    if (c->fast
        && (rv = unix_fast(c, 1, (void *)buf, &len, deadline)) != APR_EAGAIN)
        return unix_end(c, rv);
    /* The common case first, as short as it can be. */
    if (c->tx.kind == XPIPE__FRAME_NONE)
        return unix_end(c,
                        unix_xfer(c, 1, (void *)buf, &len, NULL, 0, deadline));
    return unix_send_any(c, buf, len, NULL, 0, deadline);
}

/* An SMB client's messages (through smbd) carry no descriptors. */
static apr_status_t unix_no_handles(void)
{
    return xpipe__fail(APR_ENOTIMPL, "a network client's messages carry no "
                                     "handles");
}

apr_status_t xpipe__unix_send_handles(xpipe__chan_t *c, const void *buf,
                                      apr_size_t len,
                                      const xpipe_os_handle_t *hs, int count,
                                      apr_time_t deadline)
{
    if (c->smb)
        return unix_no_handles();
    return unix_send_any(c, buf, len, hs, count, deadline);
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
 * recvmsg here), or one recvmsg() when the caller takes descriptors
 * (count not NULL: in, room in hs; out, how many came). A buffer larger
 * than the max message size takes the message directly; a smaller one
 * gets it through the channel's spill buffer, so a buffer too small
 * loses nothing: the message is kept whole for the next call
 * (XPIPE_EMSGSIZE with its size), with its descriptors, as is one whose
 * descriptors find too little room. Only a message longer than this
 * channel's max message size (from a peer that ignored its own) can be
 * cut: that too is XPIPE_EMSGSIZE, and the message is gone with its
 * descriptors. */
XPIPE__HOT static apr_status_t unix_seq_recv(xpipe__chan_t *c, void *buf,
                                             apr_size_t *len,
                                             xpipe_os_handle_t *hs, int *count,
                                             apr_time_t deadline)
{
    int direct = *len > c->max_message, room = count ? *count : 0;
    apr_size_t got = direct ? *len : c->max_message + 1;
    apr_status_t rv;

    if (c->held.data && count && (*len < c->held.len || room < c->fds.n)) {
        *len = c->held.len;
        *count = c->fds.n;
        return XPIPE_EMSGSIZE;
    }
    if (xpipe__held_take(&c->held, buf, len, &rv))
        return rv == APR_SUCCESS ? xpipe__unix_fds_out(&c->fds, hs, count) : rv;
    if (!direct && c->spill == NULL
        && (c->spill = malloc(c->max_message + 1)) == NULL)
        return APR_ENOMEM;
    if (count == NULL) /* the OS closes any descriptors that came */
        rv = unix_xfer(c, 0, direct ? buf : c->spill, &got, NULL,
                       UNIX_RECV_TRUNC, deadline);
    else
        rv = unix_recv_fds(c, direct ? buf : c->spill, &got, &c->fds,
                           UNIX_RECV_TRUNC, deadline);
    if (rv != APR_SUCCESS)
        return rv;
    if (got > c->max_message) { /* cut: longer than allowed */
        xpipe__unix_fds_close(&c->fds);
        *len = got;
        return XPIPE_EMSGSIZE;
    }
    if (got > *len || c->fds.n > room) {
        /* Keep it whole, with its descriptors, for the next call. */
        if (direct) {
            unsigned char *copy = malloc(got);
            if (copy == NULL) {
                xpipe__unix_fds_close(&c->fds);
                return APR_ENOMEM;
            }
            memcpy(copy, buf, got);
            c->held.data = copy;
        }
        else {
            c->held.data = c->spill; /* the spill buffer becomes it */
            c->spill = NULL;
        }
        c->held.len = got;
        *len = got;
        if (count)
            *count = c->fds.n;
        return XPIPE_EMSGSIZE;
    }
    if (!direct)
        memcpy(buf, c->spill, got);
    *len = got;
    return count ? xpipe__unix_fds_out(&c->fds, hs, count) : APR_SUCCESS;
}

/* A frame, with the descriptors that came with it (count as above). */
static apr_status_t unix_frame_recv(xpipe__chan_t *c, void *buf,
                                    apr_size_t *len, xpipe_os_handle_t *hs,
                                    int *count, apr_time_t deadline)
{
    unix_frame_io_t io = { c, deadline, NULL, 0 };
    int room = count ? *count : 0;
    apr_status_t rv;

    if (count) {
        /* Too little room is known once the whole frame is in. */
        rv = xpipe__frame_fill(&c->rx, unix_frame_read, &io);
        if (rv != APR_SUCCESS) {
            *len = 0;
            return rv;
        }
        if (c->fds.n > room) {
            char none;
            *len = 0;
            xpipe__frame_recv(&c->rx, &none, len, unix_frame_read, &io);
            *count = c->fds.n;
            return XPIPE_EMSGSIZE;
        }
    }
    rv = xpipe__frame_recv(&c->rx, buf, len, unix_frame_read, &io);
    if (rv == APR_SUCCESS)
        return xpipe__unix_fds_out(&c->fds, hs, count);
    if (rv == XPIPE_EMSGSIZE && count)
        *count = c->fds.n;
    return rv;
}

/* A receive from the socket of a fast-path channel before the peer's
 * marker: what came, or XPIPE__FAST_WATCH when it was the marker alone.
 * A stream's receive may glue the marker (the byte its descriptor came
 * with: the OS ends the receive there) to data before it. */
static apr_status_t unix_watch_recv(xpipe__chan_t *c, void *buf,
                                    apr_size_t *len, apr_time_t deadline)
{
    xpipe_os_handle_t hs[XPIPE_HANDLES_MAX];
    xpipe__unix_fds_t fds;
    int count = XPIPE_HANDLES_MAX, i;
    apr_status_t rv;

    memset(&fds, 0, sizeof(fds));
    if (c->seq)
        rv = unix_seq_recv(c, buf, len, hs, &count, deadline);
    else {
        rv = unix_recv_fds(c, buf, len, &fds, 0, deadline);
        count = fds.n + fds.cut;
        xpipe__unix_fds_close(&fds);
    }
    if (rv != APR_SUCCESS || count == 0)
        return rv == XPIPE_EBADHANDLE ? XPIPE_EPROTO : rv;
    for (i = 0; c->seq && i < count; i++)
        unix_sys.close(hs[i].fd);
    if (*len == 0 || (c->seq && *len != 1)) /* not a marker */
        return xpipe__unix_fast_marker(c, buf, 0);
    rv = xpipe__unix_fast_marker(c, (char *)buf + *len - 1, 1);
    if (rv != APR_SUCCESS)
        return rv;
    return --*len > 0 ? APR_SUCCESS : XPIPE__FAST_WATCH;
}

/* The receive shared by recv and recv_handles (count NULL: none). */
static apr_status_t unix_recv_any(xpipe__chan_t *c, void *buf, apr_size_t *len,
                                  xpipe_os_handle_t *hs, int *count,
                                  apr_time_t deadline)
{
    int room = count ? *count : 0;
    apr_status_t rv;

    if (count)
        *count = 0;
    if (c->rx_err) {
        rv = c->rx_err;
        c->rx_err = APR_SUCCESS;
        *len = 0;
        return rv;
    }
    if (count && c->smb)
        return unix_no_handles();
    if (count)
        *count = room;
    if (c->rx.kind != XPIPE__FRAME_NONE)
        rv = unix_frame_recv(c, buf, len, hs, count, deadline);
    else
        rv = unix_seq_recv(c, buf, len, hs, count, deadline);
    if (count && rv != APR_SUCCESS && rv != XPIPE_EMSGSIZE
        && rv != XPIPE_EBADHANDLE)
        *count = 0;
    return unix_end(c, rv);
}

XPIPE__HOT apr_status_t xpipe__unix_recv(xpipe__chan_t *c, void *buf,
                                         apr_size_t *len, apr_time_t deadline)
{
    apr_status_t rv;

    if (c->fast && (rv = unix_fast(c, 0, buf, len, deadline)) != APR_EAGAIN)
        return unix_end(c, rv);
    /* The common case first, as short as it can be. */
    if (c->rx.kind == XPIPE__FRAME_NONE && !c->rx_err)
        return unix_end(c, unix_seq_recv(c, buf, len, NULL, NULL, deadline));
    return unix_recv_any(c, buf, len, NULL, NULL, deadline);
}

apr_status_t xpipe__unix_recv_handles(xpipe__chan_t *c, void *buf,
                                      apr_size_t *len, xpipe_os_handle_t *hs,
                                      int *count, apr_time_t deadline)
{
    return unix_recv_any(c, buf, len, hs, count, deadline);
}

apr_status_t xpipe__unix_frame_fill(xpipe__chan_t *c)
{
    unix_frame_io_t io = { c, 0, NULL, 0 };
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

apr_status_t xpipe__unix_close(xpipe__chan_t *c)
{
    /* A Unix socket's data is already in the peer's receive queue, so a
     * plain close delivers everything written and never blocks. */
    if (c->tx.rest) { /* a committed frame's tail: one try, never a wait */
        unix_frame_io_t io = { c, 0, NULL, 0 };
        xpipe__frame_flush(&c->tx, unix_frame_write, &io);
    }
    if (c->fast)
        xpipe__unix_fast_close(c);
    xpipe__frame_tx_free(&c->tx);
    xpipe__frame_rx_free(&c->rx);
    free(c->spill);
    free(c->held.data);
    xpipe__unix_fds_close(&c->fds); /* a held or half-read message's */
    xpipe__unix_close_fd(&c->fd);
    xpipe__unix_wake_close(&c->wake);
    return APR_SUCCESS;
}
