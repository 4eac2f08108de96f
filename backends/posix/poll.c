/* SPDX-License-Identifier: Apache-2.0 */
/* poll.c — the POSIX backend's poll sets: APR's apr_pollset (epoll,
 * kqueue, or poll, whichever APR finds), thread-safe and wakeable, over
 * the members' sockets; and what a member is ready for beyond its socket
 * (a message held, a frame read ahead).
 */
#include "posix.h"

#include <apr_poll.h>
#include <apr_portable.h>
#include <string.h>

/* A member's sockets as APR sees them (a listener exported to SMB
 * clients has two), kept for reuse: APR allocates them from the set's
 * pool, which must not grow with every member that comes and goes. */
typedef struct unix_pm_t {
    apr_socket_t *sock[2];
    int nfd;
    apr_int16_t events;
    struct unix_pm_t *next; /* free list */
} unix_pm_t;

struct xpipe__pset_t {
    apr_pollset_t *aps;
    apr_pool_t *pool;
    unix_pm_t *free;
    apr_int32_t got; /* what the last wait found */
    const apr_pollfd_t *found;
};

apr_status_t xpipe__unix_pset_create(xpipe__pset_t **out, apr_uint32_t size,
                                     apr_pool_t *pool)
{
    xpipe__pset_t *ps = apr_pcalloc(pool, sizeof(*ps));
    /* Two sockets per member at most; APR sizes its result array so. */
    apr_status_t rv =
        apr_pollset_create(&ps->aps, size * 2, pool,
                           APR_POLLSET_THREADSAFE | APR_POLLSET_WAKEABLE);

    if (rv != APR_SUCCESS)
        return rv;
    ps->pool = pool;
    *out = ps;
    return APR_SUCCESS;
}

/* Start (on) or stop watching sock for events on behalf of m. */
static apr_status_t unix_watch(xpipe__pset_t *ps, apr_socket_t *sock,
                               apr_int16_t events, xpipe__pm_t *m, int on)
{
    apr_pollfd_t pfd;

    memset(&pfd, 0, sizeof(pfd));
    pfd.desc_type = APR_POLL_SOCKET;
    pfd.reqevents = events;
    pfd.desc.s = sock;
    pfd.client_data = m;
    return on ? apr_pollset_add(ps->aps, &pfd)
              : apr_pollset_remove(ps->aps, &pfd);
}

/* A hello's socket of a framed listener in the set: watched (on) or not. */
static void unix_hello_watch(xpipe__pset_t *ps, void *sock, xpipe__pm_t *m,
                             int on)
{
    unix_watch(ps, sock, APR_POLLIN, m, on);
}

/* A framed listener joins the set (ps, m) or leaves it (NULL): the sockets
 * of the hellos it awaits are watched with it, and those it takes later
 * through l->watch. */
static void unix_listener_set(xpipe__lsn_t *l, xpipe__pset_t *ps,
                              xpipe__pm_t *m)
{
    int i;

    if (ps) /* a set's accepts never sleep: no slices from now on */
        xpipe__unix_slice_stop(&l->slice, l->sock.fd);
    apr_thread_mutex_lock(l->hello_lock);
    for (i = 0; i < l->hello_n; i++)
        unix_hello_watch(ps ? ps : l->pset, l->hello_sock[i], ps ? m : l->pm,
                         ps != NULL);
    l->watch = unix_hello_watch;
    l->pset = ps;
    l->pm = m;
    apr_thread_mutex_unlock(l->hello_lock);
}

apr_status_t xpipe__unix_pset_add(xpipe__pset_t *ps, xpipe__pm_t *m)
{
    unix_pm_t *r = ps->free;
    int fds[2], i;
    apr_status_t rv = APR_SUCCESS;

    if (r)
        ps->free = r->next;
    else
        r = apr_pcalloc(ps->pool, sizeof(*r));
    r->nfd = 0;
    if (m->chan)
        fds[r->nfd++] = m->chan->fd;
    else {
        fds[r->nfd++] = m->lsn->sock.fd;
        if (m->lsn->smb.fd >= 0)
            fds[r->nfd++] = m->lsn->smb.fd;
    }
    r->events =
        (m->desc.reqevents & (XPIPE_POLLIN | XPIPE_POLLACCEPT) ? APR_POLLIN : 0)
        | (m->desc.reqevents & XPIPE_POLLOUT ? APR_POLLOUT : 0);
    if (m->chan && xpipe__unix_fast_on(m->chan)) {
        /* The rings ring the socket, for both directions. */
        xpipe__unix_fast_bell(m->chan);
        r->events = APR_POLLIN;
    }
    for (i = 0; i < r->nfd && rv == APR_SUCCESS; i++) {
        apr_os_sock_put(&r->sock[i], &fds[i], ps->pool);
        rv = unix_watch(ps, r->sock[i], r->events, m, 1);
    }
    if (rv != APR_SUCCESS) {
        int j;
        for (j = 0; j < i - 1; j++) /* the ones added before */
            unix_watch(ps, r->sock[j], r->events, m, 0);
        r->next = ps->free;
        ps->free = r;
        return rv;
    }
    m->be = r;
    /* A byte stream, or a listener: the socket tells all. Messages may
     * be held, frames read ahead; a framed listener's hellos awaited
     * are watched here too. */
    if (m->lsn)
        m->plain = !UNIX_FRAMED;
    else
        m->plain = !m->chan->message && m->chan->rx.kind == XPIPE__FRAME_NONE
                   && !xpipe__unix_fast_on(m->chan);
    if (m->lsn && UNIX_FRAMED)
        unix_listener_set(m->lsn, ps, m);
    return APR_SUCCESS;
}

void xpipe__unix_pset_remove(xpipe__pset_t *ps, xpipe__pm_t *m)
{
    unix_pm_t *r = m->be;
    int i;

    if (m->lsn && UNIX_FRAMED)
        unix_listener_set(m->lsn, NULL, NULL);
    for (i = 0; i < r->nfd; i++)
        unix_watch(ps, r->sock[i], r->events, m, 0);
    m->be = NULL;
    r->next = ps->free;
    ps->free = r;
}

apr_status_t xpipe__unix_pset_wait(xpipe__pset_t *ps, apr_time_t deadline)
{
    apr_interval_time_t t = -1;
    apr_status_t rv;

    if (deadline != XPIPE__FOREVER) {
        t = deadline - apr_time_now();
        if (t < 0)
            t = 0;
    }
    ps->got = 0;
    rv = apr_pollset_poll(ps->aps, t, &ps->got, &ps->found);
    if (rv == APR_SUCCESS || APR_STATUS_IS_TIMEUP(rv))
        return rv == APR_SUCCESS && ps->got > 0 ? APR_SUCCESS : APR_TIMEUP;
    ps->got = 0;
    /* The wake-up pipe, or a signal: lib/ tells them apart. */
    return APR_STATUS_IS_EINTR(rv) ? XPIPE_ECANCELED : rv;
}

void xpipe__unix_pset_collect(xpipe__pset_t *ps, xpipe__pm_found_fn found,
                              void *baton)
{
    apr_int32_t i;

    for (i = 0; i < ps->got; i++) {
        const apr_pollfd_t *p = &ps->found[i];
        xpipe__pm_t *m = p->client_data;
        apr_int16_t ev = p->rtnevents;
        int got = 0;

        /* A hang-up or an error is for the next call to report. */
        if (ev & (APR_POLLIN | APR_POLLHUP | APR_POLLERR))
            got |= m->lsn ? XPIPE_POLLACCEPT : XPIPE_POLLIN;
        if (ev & (APR_POLLOUT | APR_POLLHUP | APR_POLLERR))
            got |= XPIPE_POLLOUT;
        found(baton, m, got);
    }
    ps->got = 0;
}

apr_status_t xpipe__unix_pset_wakeup(xpipe__pset_t *ps)
{
    return apr_pollset_wakeup(ps->aps);
}

void xpipe__unix_pset_destroy(xpipe__pset_t *ps)
{
    apr_pollset_destroy(ps->aps);
}

apr_status_t xpipe__unix_pset_os_handle_get(xpipe__pset_t *ps,
                                            xpipe_os_handle_t *handle)
{
    (void)ps;
    (void)handle;
    return APR_ENOTIMPL; /* APR keeps its descriptor to itself */
}

apr_status_t xpipe__unix_listener_os_handle_get(xpipe__lsn_t *l,
                                                xpipe_os_handle_t *handle)
{
    /* A loop of the caller's own polls it and accepts with timeout 0:
     * non-blocking, for good. */
    xpipe__unix_slice_stop(&l->slice, l->sock.fd);
    handle->fd = l->sock.fd;
    return APR_SUCCESS;
}

int xpipe__unix_pm_ready(xpipe__pm_t *m, int os)
{
    xpipe__chan_t *c = m->chan;
    int ev;

    if (m->lsn) /* (framed) a hello awaited has come, or timed out */
        return (os & XPIPE_POLLACCEPT) || xpipe__unix_hello_ready(m->lsn)
                   ? XPIPE_POLLACCEPT
                   : 0;
    if (c->fast) {
        ev = xpipe__unix_fast_ready(c, m->desc.reqevents, os);
        if (ev >= 0)
            return ev;
        /* Declined after the set began watching readability only: a
         * send finds out. */
        os |= m->desc.reqevents & XPIPE_POLLOUT;
    }
    ev = os & XPIPE_POLLOUT;
    if (!(m->desc.reqevents & XPIPE_POLLIN))
        return ev;
    if (c->held.data || c->rx_err)
        return ev | XPIPE_POLLIN;
    if (c->rx.kind == XPIPE__FRAME_NONE)
        return ev | (os & XPIPE_POLLIN);
    /* Frames: ready when a whole one is here. Read ahead what the socket
     * holds (it then stops being readable, so a partial frame does not
     * report the socket again and again). */
    if (!xpipe__frame_ready(&c->rx) && (os & XPIPE_POLLIN)) {
        apr_status_t rv = xpipe__unix_frame_fill(c);
        if (rv != APR_SUCCESS && !APR_STATUS_IS_TIMEUP(rv))
            return ev | XPIPE_POLLIN; /* the end, or an error to tell */
    }
    return ev | (xpipe__frame_ready(&c->rx) ? XPIPE_POLLIN : 0);
}
