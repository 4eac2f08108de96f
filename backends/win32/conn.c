/* SPDX-License-Identifier: Apache-2.0 */
/* conn.c — a Win32 pipe connection: overlapped reads and writes (one of
 * each may be in flight), whole messages, wake, close, identity.
 */
#include "win32.h"

#include "hdr.h"

#include <stdlib.h>
#include <string.h>

apr_status_t xpipe__win32_chan_new(xpipe__chan_t **out, HANDLE pipe, int server,
                                   const xpipe_attr_t *attr, apr_pool_t *pool)
{
    xpipe__chan_t *c = apr_pcalloc(pool, sizeof(*c));

    c->pipe = pipe;
    c->server = server;
    c->handles = attr->handles;
    c->max_message = attr->max_message;
    *out = c;
    return APR_SUCCESS;
}

apr_status_t xpipe__win32_read(xpipe__chan_t *c, void *buf, apr_size_t *len,
                               apr_time_t deadline)
{
    DWORD want = *len > 0x40000000 ? 0x40000000 : (DWORD)*len, n;
    apr_status_t rv;

    if (c->fast)
        return xpipe__win32_fast_io(c, 0, buf, len, deadline);
    for (;;) {
        rv = xpipe__win32_io(c, 0, buf, want, deadline, &n);
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
    apr_status_t rv;

    if (c->fast)
        return xpipe__win32_fast_io(c, 1, (void *)buf, len, deadline);
    rv = xpipe__win32_io(c, 1, (void *)buf, want, deadline, &n);

    /* A write cut short by a deadline or an interrupt reports what went
     * through: those bytes are delivered, so they are a success. */
    win32_note_full(c, rv == APR_TIMEUP || (rv == APR_SUCCESS && n < want));
    if (rv != APR_SUCCESS && n > 0
        && (rv == APR_TIMEUP || rv == XPIPE_ECANCELED))
        rv = APR_SUCCESS;
    *len = n;
    return rv == APR_SUCCESS ? rv : win32_write_status(rv);
}

static apr_status_t win32_send_h(xpipe__chan_t *c, const void *buf,
                                 apr_size_t len, const xpipe_os_handle_t *hs,
                                 int count, apr_time_t deadline);
static apr_status_t win32_recv_h(xpipe__chan_t *c, void *buf, apr_size_t *len,
                                 xpipe_os_handle_t *hs, int *count,
                                 apr_time_t deadline);

apr_status_t xpipe__win32_send(xpipe__chan_t *c, const void *buf,
                               apr_size_t len, apr_time_t deadline)
{
    DWORD n;

    if (c->fast)
        return xpipe__win32_fast_io(c, 1, (void *)buf, &len, deadline);
    if (c->handles)
        return win32_send_h(c, buf, len, NULL, 0, deadline);
    apr_status_t rv =
        xpipe__win32_io(c, 1, (void *)buf, (DWORD)len, deadline, &n);

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

    if (c->fast)
        return xpipe__win32_fast_io(c, 0, buf, len, deadline);
    if (c->handles)
        return win32_recv_h(c, buf, len, NULL, NULL, deadline);
    if (xpipe__held_take(&c->held, buf, len, &rv))
        return rv;
    do /* a 0-byte message (from a foreign peer) is no message: skip it */
        rv = xpipe__win32_io(c, 0, buf, want, deadline, &n);
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
        rv = xpipe__win32_io(c, 0, c->held.data + n, left, deadline, &m);
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
    (void)closing; /* the flag and the signals reach every wait at once */
    return xpipe__win32_wake_set(&c->wake, 1);
}

apr_status_t xpipe__win32_unwake(xpipe__chan_t *c)
{
    return xpipe__win32_wake_set(&c->wake, 0);
}

apr_status_t xpipe__win32_shutdown(xpipe__chan_t *c, xpipe_shutdown_e how)
{
    (void)c;
    (void)how;
    return APR_ENOTIMPL; /* named pipes have no half close */
}

static void win32_handles_close(xpipe__chan_t *c);

apr_status_t xpipe__win32_close(xpipe__chan_t *c)
{
    if (c->handles)
        win32_handles_close(c); /* before the pipe: it drains it */
    if (c->fast)
        xpipe__win32_fast_close(c);
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
    if (c->fast)
        xpipe__win32_fast_free(c);
    free(c->held.data);
    xpipe__win32_wake_close(&c->wake);
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
    /* On the fast path an event loop hears the pipe: the peer rings it
     * when our ring was found empty (fast.c). */
    if (c->fast)
        xpipe__win32_fast_bell(c);
    h->handle = c->pipe;
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Messages with handles (xpipe_attr_handles_set). Each message starts
 * with a header: 'H', the number of handles, two zero bytes, the
 * sender's process id (32-bit little-endian), then each handle's value
 * in the receiver's process (64-bit little-endian): the sender
 * duplicated them into it before writing. A receiver closes every
 * handle it does not hand on, so none is left open unseen; one that
 * closes first closes those of the messages still in the pipe. */

/* The peer's process, for DuplicateHandle (opened once). */
static apr_status_t win32_peer_proc(xpipe__chan_t *c)
{
    ULONG pid = c->peer_pid;

    if (c->peer_proc)
        return APR_SUCCESS;
    if (pid == 0
        && !(c->server ? GetNamedPipeClientProcessId(c->pipe, &pid)
                       : GetNamedPipeServerProcessId(c->pipe, &pid)))
        return xpipe__fail(win32_os_status(GetLastError()),
                           "the pipe does not say who its peer is");
    c->peer_proc = OpenProcess(PROCESS_DUP_HANDLE, FALSE, pid);
    if (c->peer_proc == NULL)
        return xpipe__fail(win32_os_status(GetLastError()),
                           "cannot open the peer's process (pid %lu) to "
                           "pass handles",
                           (unsigned long)pid);
    return APR_SUCCESS;
}

/* Close copies made in the peer's process (a send that failed). */
static void win32_unduplicate(xpipe__chan_t *c, HANDLE *v, int n)
{
    while (n > 0)
        DuplicateHandle(c->peer_proc, v[--n], NULL, NULL, 0, FALSE,
                        DUPLICATE_CLOSE_SOURCE);
}

static apr_status_t win32_send_h(xpipe__chan_t *c, const void *buf,
                                 apr_size_t len, const xpipe_os_handle_t *hs,
                                 int count, apr_time_t deadline)
{
    apr_size_t total = XPIPE__HDR_LEN(count) + len;
    unsigned char small[1024], *m = small;
    HANDLE v[XPIPE_HANDLES_MAX];
    DWORD pid = GetCurrentProcessId(), n = 0;
    apr_status_t rv = APR_SUCCESS;
    int i, made = 0;

    if (total > sizeof(small) && (m = malloc(total)) == NULL)
        return APR_ENOMEM;
    if (count > 0)
        rv = win32_peer_proc(c);
    for (i = 0; i < count && rv == APR_SUCCESS; i++, made++)
        if (!DuplicateHandle(GetCurrentProcess(), hs[i].handle, c->peer_proc,
                             &v[i], 0, FALSE, DUPLICATE_SAME_ACCESS))
            rv = xpipe__fail(XPIPE_EBADHANDLE,
                             "handle %d (%p) cannot be passed: error %lu", i,
                             hs[i].handle, (unsigned long)GetLastError());
    if (rv == APR_SUCCESS) {
        apr_uint64_t x[XPIPE_HANDLES_MAX];
        for (i = 0; i < count; i++)
            x[i] = (apr_uint64_t)(apr_uintptr_t)v[i];
        xpipe__hdr_encode(m, count, pid, x);
        memcpy(m + XPIPE__HDR_LEN(count), buf, len);
        rv = xpipe__win32_io(c, 1, m, (DWORD)total, deadline, &n);
        win32_note_full(c, rv == APR_TIMEUP);
        if (rv != APR_SUCCESS)
            rv = win32_write_status(rv);
    }
    if (rv != APR_SUCCESS) /* the peer never got them: take them back */
        win32_unduplicate(c, v, made);
    if (m != small)
        free(m);
    return rv;
}

/* The handles named by the header of the n bytes at m (hdr.h): their
 * number, or -1 when there is no header. */
static int win32_hdr_parse(const unsigned char *m, DWORD n, HANDLE *h)
{
    apr_uint64_t v[XPIPE_HANDLES_MAX];
    int count = xpipe__hdr_parse(m, n, v), i;

    for (i = 0; i < count; i++)
        h[i] = (HANDLE)(apr_uintptr_t)v[i];
    return count;
}

static void win32_handles_drop(HANDLE *h, int *n)
{
    while (*n > 0)
        win32_sys.close_handle(h[--*n]);
}

/* Read one whole message into c->spill: APR_SUCCESS with *n its length;
 * one longer than the spill buffer (a peer past its maximum) is read to
 * its end, its handles closed, and told as XPIPE_EMSGSIZE (*n: its
 * size). */
static apr_status_t win32_read_whole(xpipe__chan_t *c, DWORD *n,
                                     apr_time_t deadline)
{
    DWORD cap = (DWORD)(c->max_message + XPIPE__HDR_LEN(XPIPE_HANDLES_MAX));
    HANDLE h[XPIPE_HANDLES_MAX];
    apr_status_t rv;
    int k;

    if (c->spill == NULL && (c->spill = malloc(cap)) == NULL)
        return APR_ENOMEM;
    rv = xpipe__win32_read_msg(c, c->spill, cap, n, deadline);
    if (rv == XPIPE_EMSGSIZE) {
        k = win32_hdr_parse(c->spill, cap, h);
        if (k > 0)
            win32_handles_drop(h, &k);
    }
    return rv;
}

static apr_status_t win32_recv_h(xpipe__chan_t *c, void *buf, apr_size_t *len,
                                 xpipe_os_handle_t *hs, int *count,
                                 apr_time_t deadline)
{
    int room = count ? *count : 0, k, i;
    HANDLE h[XPIPE_HANDLES_MAX];
    apr_size_t plen;
    apr_status_t rv;
    DWORD n;

    if (count)
        *count = 0;
    if (c->held.data && count && (*len < c->held.len || room < c->held_nh)) {
        *len = c->held.len;
        *count = c->held_nh;
        return XPIPE_EMSGSIZE;
    }
    if (xpipe__held_take(&c->held, buf, len, &rv)) {
        if (rv == APR_SUCCESS && count) {
            for (i = 0; i < c->held_nh; i++)
                hs[i].handle = c->held_h[i];
            *count = c->held_nh;
            c->held_nh = 0;
        }
        else if (rv == APR_SUCCESS)
            win32_handles_drop(c->held_h, &c->held_nh);
        return rv;
    }
    rv = win32_read_whole(c, &n, deadline);
    if (rv == XPIPE_EMSGSIZE) { /* past the maximum: gone */
        *len = n > XPIPE__HDR_LEN(0) ? n - XPIPE__HDR_LEN(0) : n;
        return rv;
    }
    if (rv != APR_SUCCESS) {
        *len = 0;
        switch (APR_TO_OS_ERROR(rv)) {
        case ERROR_BROKEN_PIPE: /* peer closed, all read: end */
        case ERROR_PIPE_NOT_CONNECTED: return APR_EOF;
        default: return rv;
        }
    }
    k = win32_hdr_parse(c->spill, n, h);
    if (k < 0) {
        *len = 0;
        return xpipe__fail(XPIPE_EBADHANDLE,
                           "a message of %lu bytes without the handles "
                           "header (does the peer set "
                           "xpipe_attr_handles_set?): dropped",
                           (unsigned long)n);
    }
    plen = n - XPIPE__HDR_LEN(k);
    if (plen > *len || (count && k > room)) {
        /* Keep it whole, with its handles, for the next call. */
        c->held.data = malloc(plen ? plen : 1);
        if (c->held.data == NULL) {
            win32_handles_drop(h, &k);
            return APR_ENOMEM;
        }
        memcpy(c->held.data, c->spill + XPIPE__HDR_LEN(k), plen);
        c->held.len = plen;
        memcpy(c->held_h, h, sizeof(HANDLE) * (apr_size_t)k);
        c->held_nh = k;
        *len = plen;
        if (count)
            *count = k;
        return XPIPE_EMSGSIZE;
    }
    memcpy(buf, c->spill + XPIPE__HDR_LEN(k), plen);
    *len = plen;
    if (count == NULL)
        win32_handles_drop(h, &k);
    for (i = 0; i < k; i++)
        hs[i].handle = h[i];
    if (count)
        *count = k;
    return APR_SUCCESS;
}

apr_status_t xpipe__win32_send_handles(xpipe__chan_t *c, const void *buf,
                                       apr_size_t len,
                                       const xpipe_os_handle_t *hs, int count,
                                       apr_time_t deadline)
{
    return win32_send_h(c, buf, len, hs, count, deadline);
}

apr_status_t xpipe__win32_recv_handles(xpipe__chan_t *c, void *buf,
                                       apr_size_t *len, xpipe_os_handle_t *hs,
                                       int *count, apr_time_t deadline)
{
    return win32_recv_h(c, buf, len, hs, count, deadline);
}

/* At close: the handles of a held message and of the messages still in
 * the pipe (read without waiting) are closed, then what the channel
 * keeps for passing them. */
static void win32_handles_close(xpipe__chan_t *c)
{
    DWORD avail = 0, n;
    HANDLE h[XPIPE_HANDLES_MAX];
    int k;

    win32_handles_drop(c->held_h, &c->held_nh);
    while (win32_sys.peek_named_pipe(c->pipe, NULL, 0, NULL, &avail, NULL)
           && avail > 0 && win32_read_whole(c, &n, XPIPE__NOW) == APR_SUCCESS) {
        k = win32_hdr_parse(c->spill, n, h);
        if (k > 0)
            win32_handles_drop(h, &k);
    }
    free(c->spill);
    c->spill = NULL;
    if (c->peer_proc)
        win32_sys.close_handle(c->peer_proc);
}
