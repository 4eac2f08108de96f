/* SPDX-License-Identifier: Apache-2.0 */
/* pipeio.c — one overlapped transfer on a channel's pipe, waited for with
 * the channel's wake event and the deadline, and one pipe message read
 * whole: what the channel's I/O (conn.c) and the fast path's framed pipe
 * (fast.c) both move their bytes with.
 */
#include "win32.h"

#include <stdlib.h>
#include <string.h>

apr_status_t xpipe__win32_io(xpipe__chan_t *c, int out, void *buf, DWORD len,
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
    /* Waiting: an interrupt must be able to wake us (the thread's wake
     * event, registered with the channel). */
    rv = xpipe__win32_wait_io(c->pipe, &ov, &c->wake, deadline, n);
    return rv;
}

apr_status_t xpipe__win32_read_msg(xpipe__chan_t *c, unsigned char *buf,
                                   DWORD cap, DWORD *n, apr_time_t deadline)
{
    DWORD avail, left, m;
    unsigned char *rest;
    apr_status_t rv;

    do /* a 0-byte message (from a foreign peer) is no message: skip it */
        rv = xpipe__win32_io(c, 0, buf, cap, deadline, n);
    while (rv == APR_SUCCESS && *n == 0);
    if (rv == APR_SUCCESS || APR_TO_OS_ERROR(rv) != ERROR_MORE_DATA)
        return rv;
    if (!win32_sys.peek_named_pipe(c->pipe, NULL, 0, NULL, &avail, &left))
        return win32_os_status(GetLastError());
    if ((rest = malloc(left ? left : 1)) == NULL)
        return APR_ENOMEM;
    rv = xpipe__win32_io(c, 0, rest, left, deadline, &m);
    free(rest);
    *n += m;
    return rv == APR_SUCCESS ? XPIPE_EMSGSIZE : rv;
}
