/* SPDX-License-Identifier: Apache-2.0 */
/* fast_off.c — the fast path where the OS has no memory and wait it can
 * use (not Linux, or a framed build): nobody asks, every server declines
 * ('N'), and no channel is ever on the rings.
 */
#include "posix.h"

#include <errno.h>

#if !UNIX_FAST_OS

apr_status_t xpipe__unix_fast_bind(int fd)
{
    (void)fd;
    return APR_ENOTIMPL;
}

apr_status_t xpipe__unix_fast_offer(xpipe__chan_t *c, const xpipe_attr_t *attr,
                                    apr_pool_t *pool)
{
    char no = 'N';

    (void)attr;
    (void)pool;
    return unix_sys.send(c->fd, &no, 1, MSG_NOSIGNAL) == 1
               ? APR_SUCCESS
               : APR_FROM_OS_ERROR(errno);
}

apr_status_t xpipe__unix_fast_ask(xpipe__chan_t *c, const xpipe_attr_t *attr,
                                  apr_pool_t *pool)
{
    (void)c;
    (void)attr;
    (void)pool;
    return APR_ENOTIMPL;
}

apr_status_t xpipe__unix_fast_marker(xpipe__chan_t *c, const void *buf,
                                     apr_size_t len)
{
    (void)c;
    (void)buf;
    (void)len;
    return XPIPE_EPROTO;
}

int xpipe__unix_fast_rx_socket(const xpipe__chan_t *c)
{
    (void)c;
    return 1;
}

int xpipe__unix_fast_on(const xpipe__chan_t *c)
{
    (void)c;
    return 0;
}

apr_status_t xpipe__unix_fast_xfer(xpipe__chan_t *c, int out, void *buf,
                                   apr_size_t *len, apr_time_t deadline)
{
    (void)c;
    (void)out;
    (void)buf;
    (void)len;
    (void)deadline;
    return APR_EAGAIN;
}

void xpipe__unix_fast_wake(xpipe__chan_t *c)
{
    (void)c;
}

apr_status_t xpipe__unix_fast_shutdown(xpipe__chan_t *c, xpipe_shutdown_e how)
{
    (void)c;
    (void)how;
    return APR_EAGAIN;
}

void xpipe__unix_fast_close(xpipe__chan_t *c)
{
    c->fast = NULL;
}

void xpipe__unix_fast_bell(xpipe__chan_t *c)
{
    (void)c;
}

apr_status_t xpipe__unix_fast_handle(xpipe__chan_t *c, int *fd)
{
    *fd = c->fd;
    return APR_SUCCESS;
}

void xpipe__unix_fast_received(xpipe__chan_t *c)
{
    (void)c;
}

int xpipe__unix_fast_ready(xpipe__chan_t *c, int req, int os)
{
    (void)c;
    (void)req;
    (void)os;
    return -1;
}

#endif
