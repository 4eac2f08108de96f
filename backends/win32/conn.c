/* SPDX-License-Identifier: Apache-2.0 */
/* conn.c — a Win32 pipe connection: overlapped reads and writes (one of
 * each may be in flight), whole messages, wake, close, identity.
 */
#include "win32.h"

#include <stdlib.h>
#include <string.h>

apr_status_t xpipe__win32_chan_new(xpipe__chan_t **out, HANDLE pipe, int server,
                                   apr_pool_t *pool)
{
    xpipe__chan_t *c = apr_pcalloc(pool, sizeof(*c));

    c->pipe = pipe;
    c->server = server;
    *out = c;
    return APR_SUCCESS;
}

/* One ReadFile/WriteFile, overlapped, to completion or cancellation.
 * Returns APR_SUCCESS or a raw OS status (callers map it per operation);
 * ERROR_MORE_DATA comes back as its OS status with *n set. */
static apr_status_t win32_io(xpipe__chan_t *c, int out, void *buf, DWORD len,
                             apr_time_t deadline, DWORD *n)
{
    OVERLAPPED ov;
    BOOL ok;
    DWORD err;
    apr_status_t rv;

    memset(&ov, 0, sizeof(ov));
    ov.hEvent = xpipe__win32_thread_event();
    *n = 0;
    if (ov.hEvent == NULL)
        return win32_os_status(GetLastError());
    /* Never a packet in a poll set's port (the handle may be bound to
     * one): our own operations are waited for here. */
    ov.hEvent = xpipe__win32_quiet(ov.hEvent);
    ok = out ? win32_sys.write_file(c->pipe, buf, len, NULL, &ov)
             : win32_sys.read_file(c->pipe, buf, len, NULL, &ov);
    err = ok ? 0 : GetLastError();
    if (!ok && err != ERROR_IO_PENDING && err != ERROR_MORE_DATA)
        return win32_os_status(err);
    if (err != ERROR_IO_PENDING) {
        /* Done already (the usual case for a ready pipe): no wait. */
        if (win32_sys.get_overlapped_result(c->pipe, &ov, n, FALSE))
            return APR_SUCCESS;
        return win32_os_status(GetLastError());
    }
    /* Waiting: an interrupt must be able to wake us (NULL if that event
     * cannot be made: the wait then runs to its deadline). */
    rv = xpipe__win32_wait_io(c->pipe, &ov, xpipe__win32_event(&c->wake),
                              deadline, n);
    return rv;
}

apr_status_t xpipe__win32_read(xpipe__chan_t *c, void *buf, apr_size_t *len,
                               apr_time_t deadline)
{
    DWORD want = *len > 0x40000000 ? 0x40000000 : (DWORD)*len, n;
    apr_status_t rv;

    for (;;) {
        rv = win32_io(c, 0, buf, want, deadline, &n);
        if (rv == APR_SUCCESS && n > 0) {
            *len = n;
            return APR_SUCCESS;
        }
        if (rv == APR_SUCCESS)
            continue; /* a 0-byte message from a foreign peer: not data */
        *len = 0;
        switch (APR_TO_OS_ERROR(rv)) {
        case ERROR_BROKEN_PIPE: /* peer closed, all read: end */
        case ERROR_PIPE_NOT_CONNECTED: return APR_EOF;
        case ERROR_NETNAME_DELETED: /* remote peer vanished */
            return XPIPE_ERESET;
        default: return rv;
        }
    }
}

/* Did the last write find the pipe full (a poll set's XPIPE_POLLOUT)? */
static void win32_note_full(xpipe__chan_t *c, int full)
{
    if (full)
        c->full_at = apr_time_now();
    c->full = full;
}

static apr_status_t win32_write_status(apr_status_t rv)
{
    switch (APR_TO_OS_ERROR(rv)) {
    case ERROR_NO_DATA: /* the peer closed its end */
    case ERROR_BROKEN_PIPE:
    case ERROR_PIPE_NOT_CONNECTED: return XPIPE_EPIPE;
    case ERROR_NETNAME_DELETED: return XPIPE_ERESET;
    default: return rv;
    }
}

apr_status_t xpipe__win32_write(xpipe__chan_t *c, const void *buf,
                                apr_size_t *len, apr_time_t deadline)
{
    DWORD want = *len > 0x40000000 ? 0x40000000 : (DWORD)*len, n;
    apr_status_t rv = win32_io(c, 1, (void *)buf, want, deadline, &n);

    /* A write cut short by a deadline or an interrupt reports what went
     * through: those bytes are delivered, so they are a success. */
    win32_note_full(c, rv == APR_TIMEUP || (rv == APR_SUCCESS && n < want));
    if (rv != APR_SUCCESS && n > 0
        && (rv == APR_TIMEUP || rv == XPIPE_ECANCELED))
        rv = APR_SUCCESS;
    *len = n;
    return rv == APR_SUCCESS ? rv : win32_write_status(rv);
}

apr_status_t xpipe__win32_send(xpipe__chan_t *c, const void *buf,
                               apr_size_t len, apr_time_t deadline)
{
    DWORD n;
    apr_status_t rv = win32_io(c, 1, (void *)buf, (DWORD)len, deadline, &n);

    win32_note_full(c, rv == APR_TIMEUP);
    return rv == APR_SUCCESS ? rv : win32_write_status(rv);
}

/* One ReadFile per message. A message longer than the buffer gives
 * ERROR_MORE_DATA with its start read: the rest is read too (its size from
 * PeekNamedPipe) and the whole message held for the next call, so the
 * caller sees XPIPE_EMSGSIZE and loses nothing, as on POSIX. */
apr_status_t xpipe__win32_recv(xpipe__chan_t *c, void *buf, apr_size_t *len,
                               apr_time_t deadline)
{
    DWORD n, m, avail, left,
        want = *len > 0x40000000 ? 0x40000000 : (DWORD)*len;
    apr_status_t rv;

    if (xpipe__held_take(&c->held, buf, len, &rv))
        return rv;
    do /* a 0-byte message (from a foreign peer) is no message: skip it */
        rv = win32_io(c, 0, buf, want, deadline, &n);
    while (rv == APR_SUCCESS && n == 0);
    if (rv == APR_SUCCESS) {
        *len = n;
        return APR_SUCCESS;
    }
    *len = 0;
    switch (APR_TO_OS_ERROR(rv)) {
    case ERROR_MORE_DATA:
        if (!win32_sys.peek_named_pipe(c->pipe, NULL, 0, NULL, &avail, &left))
            return win32_os_status(GetLastError());
        c->held.data = malloc((size_t)n + left);
        if (c->held.data == NULL)
            return APR_ENOMEM;
        memcpy(c->held.data, buf, n);
        rv = win32_io(c, 0, c->held.data + n, left, deadline, &m);
        if (rv != APR_SUCCESS) { /* cannot happen for a message in place */
            free(c->held.data);
            c->held.data = NULL;
            return rv;
        }
        c->held.len = (apr_size_t)n + m;
        *len = c->held.len;
        return XPIPE_EMSGSIZE;
    case ERROR_BROKEN_PIPE: /* peer closed, all read: end */
    case ERROR_PIPE_NOT_CONNECTED: return APR_EOF;
    default: return rv;
    }
}

apr_status_t xpipe__win32_wake(xpipe__chan_t *c, int closing)
{
    HANDLE ev = xpipe__win32_event(&c->wake);

    (void)closing; /* the event reaches every wait at once */
    if (ev == NULL || !SetEvent(ev))
        return win32_os_status(GetLastError());
    return APR_SUCCESS;
}

apr_status_t xpipe__win32_unwake(xpipe__chan_t *c)
{
    if (c->wake)
        ResetEvent(c->wake);
    return APR_SUCCESS;
}

apr_status_t xpipe__win32_shutdown(xpipe__chan_t *c, xpipe_shutdown_e how)
{
    (void)c;
    (void)how;
    return APR_ENOTIMPL; /* named pipes have no half close */
}

apr_status_t xpipe__win32_close(xpipe__chan_t *c)
{
    /* CloseHandle keeps what we wrote readable by the peer, then it reads
     * ERROR_BROKEN_PIPE. Never FlushFileBuffers (blocks forever on an
     * idle peer) nor DisconnectNamedPipe (discards unread data). */
    if (c->wname) {
        /* Under the lock, so a listener never counts a closed instance. */
        xpipe__win32_names_lock();
        win32_sys.close_handle(c->pipe);
        xpipe__win32_names_add(c->wname, -1);
        xpipe__win32_names_unlock();
    }
    else
        win32_sys.close_handle(c->pipe);
    free(c->held.data);
    if (c->wake)
        win32_sys.close_handle(c->wake);
    return APR_SUCCESS;
}

apr_status_t xpipe__win32_peer_get(xpipe__chan_t *c, xpipe_peer_t *peer,
                                   apr_pool_t *pool)
{
    ULONG pid = 0;
    HANDLE proc;
    BOOL ok = c->server ? GetNamedPipeClientProcessId(c->pipe, &pid)
                        : GetNamedPipeServerProcessId(c->pipe, &pid);

    if (!ok)
        return win32_os_status(GetLastError());
    peer->pid = (long)pid;
    peer->have = XPIPE_PEER_PID;
    /* The user SID of the peer process's token, where we may open it.
     * (ImpersonateNamedPipeClient is not used: under Wine it yields our
     * own token.) */
    proc = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (proc) {
        if (xpipe__win32_token_sid(proc, &peer->sid, pool) == APR_SUCCESS)
            peer->have |= XPIPE_PEER_SID;
        win32_sys.close_handle(proc);
    }
    return APR_SUCCESS;
}

apr_status_t xpipe__win32_os_handle_get(xpipe__chan_t *c, xpipe_os_handle_t *h)
{
    h->handle = c->pipe;
    return APR_SUCCESS;
}
