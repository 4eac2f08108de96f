/* SPDX-License-Identifier: Apache-2.0 */
/* listen.c — the POSIX listener: its socket file (sockfile.c), accept
 * (local clients, then those the SMB export forwards), and in framed
 * builds the hello byte of each new connection.
 */
#include "posix.h"

#include <apr_portable.h>
#include <apr_strings.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long a new client's hello is awaited before it is dropped. Accept
 * does not wait for it (the connection waits in the listener's list),
 * so this may be long: a loaded machine can keep a client from writing
 * its first byte for a while. */
#define UNIX_HELLO_WAIT (10 * APR_USEC_PER_SEC)

apr_status_t xpipe__unix_lsn_new(xpipe__lsn_t **out, const xpipe_attr_t *attr,
                                 apr_pool_t *pool)
{
    xpipe__lsn_t *l = apr_pcalloc(pool, sizeof(*l));

    l->sock.fd = l->sock.lock_fd = l->smb.fd = l->smb.lock_fd = -1;
    xpipe__unix_wake_init(&l->wake);
    /* A listener that also takes SMB clients waits on two sockets: in
     * poll(), always. */
    xpipe__unix_slice_init(&l->slice, attr->smb_export ? 0 : attr->wake_slice);
    l->attr = attr;
    l->pool = pool;
    *out = l;
    return apr_thread_mutex_create(&l->hello_lock, APR_THREAD_MUTEX_DEFAULT,
                                   pool);
}

apr_status_t xpipe__unix_listen(xpipe__lsn_t **out, const xpipe__name_t *name,
                                const char *native, const xpipe_attr_t *attr,
                                apr_pool_t *pool)
{
    xpipe__lsn_t *l;
    apr_status_t rv = xpipe__unix_lsn_new(&l, attr, pool);

    if (rv != APR_SUCCESS)
        return rv;
    rv = xpipe__unix_name_dir_check(name, native, 1, pool);
    if (rv == APR_SUCCESS)
        rv = xpipe__unix_sock_open(&l->sock, native, attr, pool);
    if (rv == APR_SUCCESS && attr->smb_export) {
        rv = xpipe__smb_listen(l, name, pool);
        if (rv != APR_SUCCESS)
            xpipe__unix_sock_close(&l->sock);
    }
    if (rv == APR_SUCCESS)
        *out = l;
    return rv;
}

/* ------------------------------------------------------------------ */
/* Framed builds: the hello byte of each new connection. Accept never
 * waits for it: a connection without it yet waits in the listener's
 * list (and, in a poll set, is watched there), and a later accept takes
 * it when the byte has come. */

static char unix_hello_want(const xpipe__lsn_t *l)
{
    return l->attr->mode == XPIPE_MODE_MESSAGE ? UNIX_HELLO_MSG
                                               : UNIX_HELLO_BYTE;
}

/* Under hello_lock: forget place i (its fd stays open: the caller's). */
static void unix_hello_forget(xpipe__lsn_t *l, int i)
{
    int last = --l->hello_n;
    void *sock = l->hello_sock[i];

    if (l->pset)
        l->watch(l->pset, sock, l->pm, 0);
    /* The last moves into place i, with its registered wrapper. */
    l->hello_fd[i] = l->hello_fd[last];
    l->hello_since[i] = l->hello_since[last];
    l->hello_sock[i] = l->hello_sock[last];
    l->hello_sock[last] = sock;
}

/* Under hello_lock: wait for fd's hello in place hello_n. */
static void unix_hello_wait_for(xpipe__lsn_t *l, int fd)
{
    apr_socket_t *sock;
    int i;

    if (l->hello_fd == NULL) {
        l->hello_fd = apr_pcalloc(l->pool, sizeof(int) * UNIX_HELLO_MAX);
        l->hello_since =
            apr_pcalloc(l->pool, sizeof(apr_time_t) * UNIX_HELLO_MAX);
        l->hello_sock = apr_pcalloc(l->pool, sizeof(void *) * UNIX_HELLO_MAX);
    }
    if (l->hello_n == UNIX_HELLO_MAX) { /* full: the oldest goes */
        int old = 0, k, gone;
        for (k = 1; k < l->hello_n; k++)
            if (l->hello_since[k] < l->hello_since[old])
                old = k;
        gone = l->hello_fd[old];
        unix_hello_forget(l, old); /* unwatched before it is closed */
        unix_sys.close(gone);
    }
    i = l->hello_n;
    sock = l->hello_sock[i];
    apr_os_sock_put(&sock, &fd, l->pool);
    l->hello_sock[i] = sock;
    l->hello_fd[i] = fd;
    l->hello_since[i] = apr_time_now();
    l->hello_n++;
    if (l->pset)
        l->watch(l->pset, sock, l->pm, 1);
}

/* Read fd's hello without waiting: 1 when it names our mode, 0 when it
 * has not come, -1 when it names the other or the client left (the
 * caller drops it). */
static int unix_hello_read(xpipe__lsn_t *l, int fd)
{
    char b = 0;
    ssize_t n = unix_sys.recv(fd, &b, 1, MSG_DONTWAIT);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return 0;
    return n == 1 && b == unix_hello_want(l) ? 1 : -1;
}

/* A connection whose hello has come, if any: its fd, or -1. Those
 * wrong, gone or out of time are dropped on the way. */
static int unix_hello_take(xpipe__lsn_t *l)
{
    apr_time_t now = apr_time_now();
    int i, fd = -1, r;

    apr_thread_mutex_lock(l->hello_lock);
    for (i = 0; i < l->hello_n && fd < 0;) {
        int cand = l->hello_fd[i];
        r = unix_hello_read(l, cand);
        if (r == 0 && now - l->hello_since[i] < UNIX_HELLO_WAIT) {
            i++;
            continue;
        }
        unix_hello_forget(l, i); /* unwatched before it is closed */
        if (r == 1)
            fd = cand;
        else
            unix_sys.close(cand); /* wrong, gone, or silent too long */
    }
    apr_thread_mutex_unlock(l->hello_lock);
    return fd;
}

/* How many hellos are awaited. */
static int unix_hello_count(xpipe__lsn_t *l)
{
    int n;

    apr_thread_mutex_lock(l->hello_lock);
    n = l->hello_n;
    apr_thread_mutex_unlock(l->hello_lock);
    return n;
}

/* A new connection: 1 when its hello has come (fd is the channel's), 0
 * when it waits in the list or was dropped. */
static int unix_hello_first(xpipe__lsn_t *l, int fd)
{
    int r = unix_hello_read(l, fd);

    if (r < 0)
        unix_sys.close(fd);
    if (r != 0)
        return r == 1;
    apr_thread_mutex_lock(l->hello_lock);
    unix_hello_wait_for(l, fd);
    apr_thread_mutex_unlock(l->hello_lock);
    return 0;
}

int xpipe__unix_hello_ready(xpipe__lsn_t *l)
{
    apr_time_t now = apr_time_now();
    int i, ready = 0;
    char b;

    apr_thread_mutex_lock(l->hello_lock);
    for (i = 0; i < l->hello_n && !ready; i++) {
        ssize_t n =
            unix_sys.recv(l->hello_fd[i], &b, 1, MSG_DONTWAIT | MSG_PEEK);
        ready = n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)
                || now - l->hello_since[i] >= UNIX_HELLO_WAIT;
    }
    apr_thread_mutex_unlock(l->hello_lock);
    return ready;
}

/* While hellos are awaited, an accept looks again this often (at most)
 * for those that come, and for those whose time is up. */
#define UNIX_HELLO_RECHECK (10 * 1000)

/* Whether a hello is awaited (framed builds). */
static int unix_hellos(xpipe__lsn_t *l)
{
    return UNIX_FRAMED && unix_hello_count(l) > 0;
}

/* A new channel on an accepted fd; asked: whether the client asked for
 * the fast path (-1: not known yet, its address tells). */
static apr_status_t unix_accepted(xpipe__chan_t **out, xpipe__lsn_t *l, int fd,
                                  int asked, apr_pool_t *pool)
{
    xpipe__chan_t *c;
    apr_status_t rv;

    if (asked < 0) {
        struct sockaddr_un sa;
        socklen_t len = sizeof(sa);
        asked = getpeername(fd, (struct sockaddr *)&sa, &len) == 0
                && xpipe__unix_fast_asked(&sa, len);
    }
    rv = xpipe__unix_chan_new(&c, fd, l->attr, UNIX_MSG_FRAMES(l->attr), pool);
    if (rv == APR_SUCCESS && asked)
        rv = xpipe__unix_fast_offer(c, l->attr, pool);
    if (rv != APR_SUCCESS) {
        xpipe__unix_close(c);
        return rv;
    }
    *out = c;
    return APR_SUCCESS;
}

static apr_status_t unix_accept(xpipe__chan_t **out, xpipe__lsn_t *l,
                                apr_time_t deadline, apr_pool_t *pool)
{
    int hellos = unix_hellos(l), fd, waited = 0, ready = 0, slice;
    struct sockaddr_un sa;
    socklen_t salen;
    apr_status_t rv;

    /* An accept alone on a listener that has had to wait before sleeps
     * in accept() for a slice, unless hellos are awaited (one may come:
     * the loop must look). Otherwise, on a listener whose last accept had
     * to wait (clients arrive one by one), wait first, sparing an accept
     * that would only say EAGAIN; a busy one (the last accept took one at
     * once) tries first. A hint: threads may race on it. Not for an
     * accept that may not block (a poll set's). */
    if (!hellos && xpipe__a32_get(&l->accept_waited)
        && xpipe__remaining_ms(deadline) != 0)
        xpipe__unix_slice_start(&l->slice, l->sock.fd); /* about to wait */
    slice = !hellos && xpipe__unix_slice_may(&l->slice, &l->wake, deadline);
    if (!slice && !hellos && xpipe__a32_get(&l->accept_waited)
        && xpipe__remaining_ms(deadline) != 0) {
        rv = xpipe__unix_wait2(l->sock.fd, l->smb.fd, POLLIN, &l->wake,
                               deadline);
        if (rv != APR_SUCCESS)
            return rv;
        waited = ready = 1;
    }
    for (;;) {
        if (UNIX_FRAMED && (fd = unix_hello_take(l)) >= 0)
            return unix_accepted(out, l, fd, -1, pool);
        /* A sliced socket blocks: outside a slice, accept() only when
         * poll() has found a client (alone, nobody takes it first). */
        rv = APR_SUCCESS;
        if (!slice && !ready && xpipe__a32_get(&l->slice.state) == UNIX_SLICED)
            rv = xpipe__unix_wait(l->sock.fd, POLLIN, NULL, XPIPE__NOW);
        fd = -1;
        errno = EAGAIN;
        salen = sizeof(sa);
        if (rv == APR_SUCCESS)
            fd = unix_sys.accept(l->sock.fd, (struct sockaddr *)&sa, &salen);
        else if (!APR_STATUS_IS_TIMEUP(rv))
            return rv;
        ready = 0;
        if (fd >= 0 && UNIX_FRAMED && !unix_hello_first(l, fd))
            continue; /* waits for its hello, or was dropped */
        if (fd >= 0) {
            xpipe__a32_set(&l->accept_waited, waited);
            return unix_accepted(out, l, fd, xpipe__unix_fast_asked(&sa, salen),
                                 pool);
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue; /* a client that gave up is not our failure */
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return APR_FROM_OS_ERROR(errno);
        /* No local client queued: a network one, if exported. */
        if (l->smb.fd >= 0) {
            rv = xpipe__smb_accept(out, l, pool);
            if (!APR_STATUS_IS_EAGAIN(rv))
                return rv;
        }
        /* A slice passed, or nobody was queued (or another thread took
         * it): wait, looking again now and then while hellos are
         * awaited. Having had to wait, the socket switches to slices. */
        if (!slice && xpipe__remaining_ms(deadline) != 0)
            xpipe__unix_slice_start(&l->slice, l->sock.fd);
        slice = 0;
        {
            apr_time_t soon = apr_time_now() + UNIX_HELLO_RECHECK;
            int awaited = unix_hellos(l) && xpipe__remaining_ms(deadline) != 0
                          && (deadline == XPIPE__FOREVER || deadline > soon);
            rv = xpipe__unix_wait2(l->sock.fd, l->smb.fd, POLLIN, &l->wake,
                                   awaited ? soon : deadline);
            if (awaited && rv == APR_TIMEUP)
                rv = APR_SUCCESS;
        }
        if (rv != APR_SUCCESS)
            return rv;
        waited = ready = 1;
    }
}

apr_status_t xpipe__unix_accept(xpipe__chan_t **out, xpipe__lsn_t *l,
                                apr_time_t deadline, apr_pool_t *pool)
{
    apr_status_t rv;

    /* Accepts that overlap would race for a client on a blocking socket:
     * the first overlap turns slices off for good. */
    if (xpipe__a32_add(&l->accepting, 1) != 0)
        xpipe__unix_slice_stop(&l->slice, l->sock.fd);
    rv = unix_accept(out, l, deadline, pool);
    xpipe__a32_add(&l->accepting, (apr_uint32_t)-1);
    /* A listener shut down by close: accept says EINVAL. */
    if (rv != APR_SUCCESS && xpipe__a32_get(&l->closing))
        rv = XPIPE_ECANCELED;
    return rv;
}

apr_status_t xpipe__unix_listener_wake(xpipe__lsn_t *l, int closing)
{
    apr_status_t rv = xpipe__unix_wake_set(&l->wake, 1);

    if (closing) {
        xpipe__a32_set(&l->closing, 1);
        xpipe__unix_slice_shut(&l->slice, l->sock.fd);
    }
    return rv;
}

apr_status_t xpipe__unix_listener_unwake(xpipe__lsn_t *l)
{
    return xpipe__unix_wake_set(&l->wake, 0);
}

apr_status_t xpipe__unix_listener_close(xpipe__lsn_t *l)
{
    while (l->hello_n > 0) /* no poll set holds it any more */
        unix_sys.close(l->hello_fd[--l->hello_n]);
    xpipe__unix_sock_close(&l->sock);
    xpipe__unix_sock_close(&l->smb);
    xpipe__unix_wake_close(&l->wake);
    return APR_SUCCESS;
}
