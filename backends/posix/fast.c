/* SPDX-License-Identifier: Apache-2.0 */
/* fast.c — the shared-memory fast path on Linux
 * (docs/design/fast-path.md): the setup over the socket, the memory (a sealed
 * memfd, checked before it is mapped), and the waits (futex) around the
 * rings of lib/ring.c. Elsewhere no client asks for it and every server
 * declines.
 *
 * The setup, after the connection's own checks; nobody waits for it:
 *   - a client that wants it binds its socket to an abstract address
 *     "\0xpipe-fast-..." before connecting: nothing changes for any
 *     other client;
 *   - every server sees the address in accept(), for free, and answers
 *     such a client first, without waiting: 'F' with a memfd
 *     (SCM_RIGHTS) when it wants the fast path too, else 'N' with a
 *     token descriptor;
 *   - the client looks for the answer before its first receive (it comes
 *     before anything the server sends) or, without waiting, at a send:
 *     an answer always carries a descriptor, so data without one is a
 *     server that never answers (Python, socat), left unread, and the
 *     channel keeps the socket; with 'F' it checks the memory, maps it
 *     and attaches (a word in the mapping);
 *   - each end then moves its own sending from the socket to its ring
 *     once the peer has attached: it sends a marker, one byte 'S' with a
 *     descriptor (channels on the fast path carry no handles, so a
 *     descriptor marks it unmistakably), and writes to the ring from then
 *     on. Each end receives from the socket, watching for the peer's
 *     marker, and from the ring after it. So whatever either end sent
 *     before is read first, in order, and neither end ever waits for the
 *     other's setup: connect, send, accept in one thread still works.
 * On the fast path the socket carries nothing but doorbells (below) and
 * tells of the peer's death: its close, or its process's end.
 *
 * Waits: an end about to sleep sets its waiting word in the mapping and
 * sleeps on it (FUTEX_WAIT, in slices of UNIX_FAST_CHECK so a killed
 * peer is noticed), and the other end's next move wakes it. An
 * interrupt or a close resets the word and wakes it: no private word is
 * needed, and a peer that scribbles the word only causes a spurious
 * wake-up. A channel in a poll set or given to an event loop waits in
 * poll() on the socket instead: its word says BELL, and the peer's next
 * move writes one byte to the socket.
 */
#include "posix.h"

#include "fast.h"
#include "ring.h"

#include <apr_general.h>
#include <apr_strings.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if UNIX_FAST_OS
#include <linux/futex.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>

/* How often a wait looks whether the peer is still there. */
#define UNIX_FAST_CHECK (50 * 1000)

/* The protocol's states (lib/fast.h), the channel being the socket. */
#define RX_ANSWER XPIPE__FAST_RX_ANSWER
#define RX_WATCH XPIPE__FAST_RX_WATCH
#define RX_RING XPIPE__FAST_RX_RING
#define RX_PLAIN XPIPE__FAST_RX_PLAIN
#define TX_SOCKET_WAIT XPIPE__FAST_TX_WAIT
#define TX_RING XPIPE__FAST_TX_RING
#define TX_SOCKET XPIPE__FAST_TX_PLAIN

struct xpipe__unix_fast_t {
    xpipe__fast_t p;          /* the protocol: rings, states, bell, dead */
    xpipe__unix_mem_t mem;    /* its fd: for our marker, then closed (-1) */
    apr_thread_mutex_t *lock; /* the client reads the answer under it */
    const xpipe_attr_t *attr;
    /* An event loop's descriptor (xpipe_os_handle_get): an epoll set of
     * the socket (data before the marker, doorbells, the peer's end) and
     * self, an eventfd we set while the ring holds data we have not
     * delivered, since no doorbell comes for that; -1 until asked. */
    int loop_fd, self_fd;
    int self_set; /* (the receiving thread's) */
};

/* Let go of the memory: the protocol has no ring from now on. */
static void unix_fast_unmap(xpipe__unix_fast_t *f)
{
    xpipe__unix_fast_mem_unmap(&f->mem);
    f->p.base = NULL;
}

static const xpipe__fast_os_t unix_fast_os;

static apr_status_t unix_fast_new(xpipe__unix_fast_t **out, xpipe__chan_t *c,
                                  apr_uint32_t rx, const xpipe_attr_t *attr,
                                  apr_pool_t *pool)
{
    xpipe__unix_fast_t *f = apr_pcalloc(pool, sizeof(*f));

    xpipe__fast_init(&f->p, &unix_fast_os, c, rx, TX_SOCKET_WAIT);
    f->mem.fd = f->loop_fd = f->self_fd = -1;
    f->attr = attr;
    *out = f;
    return apr_thread_mutex_create(&f->lock, APR_THREAD_MUTEX_DEFAULT, pool);
}

/* One byte, with one descriptor (fd >= 0) or none; waits for room to
 * the deadline (a fresh socket always has it). */
static apr_status_t unix_fast_say(xpipe__chan_t *c, char what, int fd,
                                  apr_time_t deadline)
{
    xpipe__unix_ctl_t ctl;
    xpipe_os_handle_t h;
    struct iovec iov = { &what, 1 };
    struct msghdr m;
    apr_status_t rv;

    memset(&m, 0, sizeof(m));
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    h.fd = fd;
    if (fd >= 0)
        xpipe__unix_fds_put(&m, &ctl, &h, 1);
    for (;;) {
        ssize_t n = unix_sys.sendmsg(c->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == 1)
            return APR_SUCCESS;
        if (n == 0)
            errno = EAGAIN;
        rv = xpipe__unix_again(c->fd, POLLOUT, &c->wake, deadline, NULL);
        if (rv != APR_SUCCESS)
            return rv == APR_FROM_OS_ERROR(EPIPE) ? XPIPE_EPIPE : rv;
    }
}

apr_status_t xpipe__unix_fast_offer(xpipe__chan_t *c, const xpipe_attr_t *attr,
                                    apr_pool_t *pool)
{
    apr_size_t ring = xpipe__unix_fast_ring(attr);
    xpipe__unix_fast_t *f = NULL;
    xpipe__detail_t kept;
    apr_status_t rv;

    /* A client gone already finds out from the socket: never accept's
     * failure. */
    if (ring == 0) { /* we will not: the client keeps the socket */
        (void)unix_fast_say(c, 'N', xpipe__unix_fast_token(), XPIPE__NOW);
        return APR_SUCCESS;
    }
    xpipe__detail_save(&kept);
    rv = unix_fast_new(&f, c, RX_WATCH, attr, pool);
    if (rv == APR_SUCCESS)
        rv = xpipe__unix_fast_mem_make(&f->mem, (uint32_t)ring);
    if (rv == APR_SUCCESS)
        f->p.base = f->mem.base;
    if (rv == APR_SUCCESS)
        rv = xpipe__ring_attach(&f->p.ring, f->p.base, (uint32_t)ring, 1,
                                c->message, c->max_message);
    if (rv != APR_SUCCESS) {
        xpipe__fast_log(attr, "not offered", rv, &kept);
        if (f)
            unix_fast_unmap(f);
        (void)unix_fast_say(c, 'N', xpipe__unix_fast_token(), XPIPE__NOW);
        return APR_SUCCESS;
    }
    if (unix_fast_say(c, 'F', f->mem.fd, XPIPE__NOW) != APR_SUCCESS) {
        unix_fast_unmap(f); /* the client left: its socket says so */
        return APR_SUCCESS;
    }
    c->fast = f;
    return APR_SUCCESS;
}

apr_status_t xpipe__unix_fast_ask(xpipe__chan_t *c, const xpipe_attr_t *attr,
                                  apr_pool_t *pool)
{
    xpipe__unix_fast_t *f;
    apr_status_t rv = unix_fast_new(&f, c, RX_ANSWER, attr, pool);

    if (rv != APR_SUCCESS)
        return rv;
    c->fast = f;
    return APR_SUCCESS;
}

/* Under the lock: take the answer the server sent (what, and the
 * descriptor that came with it). */
static void unix_fast_answer_use(xpipe__chan_t *c, char what, int fd)
{
    xpipe__unix_fast_t *f = c->fast;
    uint32_t cap = 0;
    apr_status_t rv = XPIPE_EPROTO;
    xpipe__detail_t kept;

    xpipe__detail_save(&kept);
    if (what == 'F' && fd >= 0) {
        rv = xpipe__unix_fast_mem_map(&f->mem, fd, &cap, c->max_message);
        f->p.base = f->mem.base;
        if (rv == APR_SUCCESS)
            rv = xpipe__ring_attach(&f->p.ring, f->p.base, cap, 0, c->message,
                                    c->max_message);
    }
    if (rv == APR_SUCCESS) {
        f->mem.fd = fd; /* for our marker */
        xpipe__a32_set(&f->p.rx, RX_WATCH);
        return;
    }
    if (what == 'F')
        xpipe__fast_log(f->attr, "refused", rv, &kept);
    else if (what != 'N')
        xpipe__log(f->attr, "fast path refused: the server's answer is "
                            "not one");
    xpipe__detail_restore(&kept);
    if (fd >= 0)
        unix_sys.close(fd);
    unix_fast_unmap(f);
    /* The server switches only once we attach: we never do. */
    xpipe__a32_set(&f->p.tx, TX_SOCKET);
    xpipe__a32_set(&f->p.rx, RX_PLAIN);
}

/* The client: read the server's answer, if not read yet, waiting until
 * the deadline for something to come. An answer always carries a
 * descriptor; what comes without one is a server that never answers
 * (not xpipe: Python, socat): its data stays unread, and the channel
 * keeps the socket. A peek without room for control data says which
 * (MSG_CTRUNC) without taking anything. APR_SUCCESS once known. */
static apr_status_t unix_fast_answer(xpipe__chan_t *c, apr_time_t deadline)
{
    xpipe__unix_fast_t *f = c->fast;
    xpipe__unix_ctl_t ctl;

    for (;;) {
        xpipe__unix_fds_t fds;
        struct iovec iov;
        struct msghdr m;
        char what = 0;
        ssize_t n;
        int err;

        apr_thread_mutex_lock(f->lock);
        if (xpipe__a32_get(&f->p.rx) != RX_ANSWER) {
            apr_thread_mutex_unlock(f->lock);
            return APR_SUCCESS;
        }
        memset(&m, 0, sizeof(m));
        iov.iov_base = &what;
        iov.iov_len = 1;
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        n = unix_sys.recvmsg(c->fd, &m, MSG_DONTWAIT | MSG_PEEK);
        err = errno;
        if (n == 1 && (m.msg_flags & MSG_CTRUNC)) { /* the answer: take it */
            int one = -1, count;
            memset(&fds, 0, sizeof(fds));
            m.msg_control = ctl.b;
            m.msg_controllen = sizeof(ctl.b);
            n = unix_sys.recvmsg(c->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
            xpipe__unix_fds_take(&fds, &m);
            count = fds.n + fds.cut;
            if (n == 1 && count == 1)
                one = fds.fd[--fds.n];
            xpipe__unix_fds_close(&fds);
            /* 'F' with its memory, 'N' with a token; else no answer. */
            if (n != 1 || one < 0 || (what != 'F' && what != 'N'))
                what = '?';
            unix_fast_answer_use(c, what, one);
        }
        else if (n >= 0) { /* the end, or a server that never answers */
            xpipe__a32_set(&f->p.tx, TX_SOCKET);
            xpipe__a32_set(&f->p.rx, RX_PLAIN);
        }
        apr_thread_mutex_unlock(f->lock);
        if (n >= 0)
            return APR_SUCCESS;
        errno = err;
        {
            apr_status_t rv =
                xpipe__unix_again(c->fd, POLLIN, &c->wake, deadline, NULL);
            if (rv != APR_SUCCESS)
                return rv;
        }
    }
}

static long unix_futex(_Atomic uint32_t *word, int op, uint32_t val,
                       const struct timespec *t)
{
    return unix_sys.futex((unsigned int *)word, op, val, t);
}

/* Wake whoever waits on word as how says. */
static void unix_fast_kick(xpipe__chan_t *c, _Atomic uint32_t *word, int how)
{
    if (how == XPIPE__RING_SLEEPS)
        unix_futex(word, FUTEX_WAKE, INT32_MAX, NULL);
    else if (how == XPIPE__RING_BELL) {
        char b = 'b';
        /* A full socket already rings: its bytes are unread. */
        unix_sys.send(c->fd, &b, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
}

/* Has the peer's socket gone (closed or its process ended)? A peer that
 * only shut down its sending is still there. */
static void unix_fast_check_peer(xpipe__chan_t *c)
{
    struct pollfd p = { c->fd, POLLIN, 0 };

    if (unix_sys.poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)))
        xpipe__a32_set(&((xpipe__unix_fast_t *)c->fast)->p.dead, 1);
}

/* Take the doorbells; notice the peer's end. */
static void unix_fast_drain(xpipe__chan_t *c)
{
    char buf[64];

    for (;;) {
        ssize_t n = unix_sys.recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n > 0)
            continue;
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            unix_fast_check_peer(c);
        return;
    }
}

static int unix_fast_cpu(void)
{
    return sched_getcpu();
}

/* The protocol's OS part (lib/fast.h), c being the channel. */

static void unix_fast_kick_op(void *c, int out, int how)
{
    xpipe__unix_fast_t *f = ((xpipe__chan_t *)c)->fast;

    unix_fast_kick(c, xpipe__ring_peer_word(&f->p.ring, out), how);
}

/* On the futex word, in slices of UNIX_FAST_CHECK: a killed peer wakes
 * nobody, its socket says it is gone. */
static apr_status_t unix_fast_sleep_op(void *cv, int out, apr_time_t deadline)
{
    xpipe__chan_t *c = cv;
    xpipe__unix_fast_t *f = c->fast;
    apr_interval_time_t left = UNIX_FAST_CHECK;
    struct timespec ts;

    if (deadline != XPIPE__FOREVER && deadline - apr_time_now() < left)
        left = deadline - apr_time_now();
    if (left < 0)
        left = 0;
    ts.tv_sec = (time_t)(left / APR_USEC_PER_SEC);
    ts.tv_nsec = (long)(left % APR_USEC_PER_SEC) * 1000;
    if (unix_futex(xpipe__ring_my_word(&f->p.ring, out), FUTEX_WAIT,
                   XPIPE__RING_SLEEPS, &ts)
            < 0
        && errno == ETIMEDOUT) {
        unix_fast_check_peer(c);
        if (deadline != XPIPE__FOREVER && apr_time_now() >= deadline)
            return APR_TIMEUP;
    }
    return APR_SUCCESS;
}

static apr_status_t unix_fast_answer_op(void *c, apr_time_t deadline)
{
    return unix_fast_answer(c, deadline);
}

/* The marker: 'S' with a descriptor (our memfd: channels on the fast
 * path carry no handles, so a descriptor marks it unmistakably). */
static apr_status_t unix_fast_switch_op(void *cv, apr_time_t deadline)
{
    xpipe__chan_t *c = cv;
    xpipe__unix_fast_t *f = c->fast;
    apr_status_t rv = unix_fast_say(c, 'S', f->mem.fd, deadline);

    if (rv != APR_SUCCESS)
        return rv;
    apr_thread_mutex_lock(f->lock); /* the answer's reader may close it too */
    xpipe__unix_close_fd(&f->mem.fd);
    apr_thread_mutex_unlock(f->lock);
    return APR_SUCCESS;
}

static void unix_fast_drain_op(void *cv, int loop_rx)
{
    xpipe__chan_t *c = cv;
    xpipe__unix_fast_t *f = c->fast;

    /* The event loop's descriptor said "data left in the ring": it is
     * being read now. */
    if (loop_rx && f->self_set) {
        apr_uint64_t v;
        f->self_set = read(f->self_fd, &v, sizeof(v)) < 0 && errno != EAGAIN;
    }
    unix_fast_drain(c);
}

static int unix_fast_woken_op(void *c)
{
    return (int)xpipe__a32_get(&((xpipe__chan_t *)c)->wake.signalled);
}

static const xpipe__fast_os_t unix_fast_os = {
    unix_fast_kick_op,   unix_fast_sleep_op, unix_fast_answer_op,
    unix_fast_switch_op, unix_fast_drain_op, unix_fast_woken_op,
    unix_fast_cpu,
};

apr_status_t xpipe__unix_fast_xfer(xpipe__chan_t *c, int out, void *buf,
                                   apr_size_t *len, apr_time_t deadline)
{
    xpipe__unix_fast_t *f = c->fast;
    apr_status_t rv;

    if (out)
        rv = xpipe__fast_tx(&f->p, deadline);
    else {
        /* The answer is read once; every later receive skips its lock. */
        rv = xpipe__a32_get(&f->p.rx) == RX_ANSWER
                 ? unix_fast_answer(c, deadline)
                 : APR_SUCCESS;
        if (rv == APR_SUCCESS)
            switch (xpipe__a32_get(&f->p.rx)) {
            case RX_RING: break;
            case RX_WATCH: rv = XPIPE__FAST_WATCH; break;
            default: rv = APR_EAGAIN;
            }
    }
    if (rv != APR_SUCCESS) {
        if (rv != APR_EAGAIN && rv != XPIPE__FAST_WATCH)
            *len = 0;
        return rv;
    }
    return xpipe__fast_ring_io(&f->p, out, buf, len, deadline);
}

apr_status_t xpipe__unix_fast_marker(xpipe__chan_t *c, const void *buf,
                                     apr_size_t len)
{
    xpipe__unix_fast_t *f = c->fast;

    if (len == 1 && *(const char *)buf == 'S' && xpipe__fast_marker(&f->p))
        return APR_SUCCESS;
    return xpipe__fail(XPIPE_EPROTO, "the peer sent a descriptor on a "
                                     "channel that carries none");
}

int xpipe__unix_fast_rx_socket(const xpipe__chan_t *c)
{
    xpipe__unix_fast_t *f = c->fast;

    return f == NULL || xpipe__a32_get(&f->p.rx) != RX_RING;
}

int xpipe__unix_fast_on(const xpipe__chan_t *c)
{
    xpipe__unix_fast_t *f = c->fast;

    return f
           && (xpipe__a32_get(&f->p.rx) != RX_PLAIN
               || xpipe__a32_get(&f->p.tx) != TX_SOCKET);
}

void xpipe__unix_fast_wake(xpipe__chan_t *c)
{
    xpipe__unix_fast_t *f = c->fast;
    int out;

    if (f->p.base == NULL)
        return; /* waits are in poll(), which the wake fd ends */
    for (out = 0; out < 2; out++) {
        _Atomic uint32_t *w = xpipe__ring_my_word(&f->p.ring, out);
        uint32_t sleeps = XPIPE__RING_SLEEPS;
        /* A sleeper's word only: a poll set's bell stays. */
        if (atomic_compare_exchange_strong(w, &sleeps, XPIPE__RING_AWAKE))
            unix_futex(w, FUTEX_WAKE, INT32_MAX, NULL);
    }
}

apr_status_t xpipe__unix_fast_shutdown(xpipe__chan_t *c, xpipe_shutdown_e how)
{
    xpipe__unix_fast_t *f = c->fast;
    int wake;

    /* Receiving: the ring says so to a peer that writes there; the
     * socket to one that still writes to it. */
    if (how != XPIPE_SHUTDOWN_WRITE && f->p.base) {
        xpipe__ring_shut(&f->p.ring, 0, &wake);
        unix_fast_kick(c, xpipe__ring_peer_word(&f->p.ring, 0), wake);
    }
    /* Sending: on the ring, the ring's flag; the socket stays whole, for
     * it tells the peer we are still there, and carries our doorbells.
     * So a sender that may still move to the ring moves first. */
    if (how != XPIPE_SHUTDOWN_READ
        && xpipe__a32_get(&f->p.tx) == TX_SOCKET_WAIT)
        (void)xpipe__fast_tx(&f->p, XPIPE__NOW);
    if (how != XPIPE_SHUTDOWN_READ && xpipe__a32_get(&f->p.tx) == TX_RING) {
        xpipe__ring_shut(&f->p.ring, 1, &wake);
        unix_fast_kick(c, xpipe__ring_peer_word(&f->p.ring, 1), wake);
        if (how == XPIPE_SHUTDOWN_WRITE)
            return APR_SUCCESS;
        how = XPIPE_SHUTDOWN_READ;
    }
    /* No further switch: nothing more is sent. */
    if (how != XPIPE_SHUTDOWN_READ)
        xpipe__a32_set(&f->p.tx, TX_SOCKET);
    return APR_EAGAIN; /* and the socket, as always */
}

void xpipe__unix_fast_close(xpipe__chan_t *c)
{
    xpipe__unix_fast_t *f = c->fast;

    /* Unread bytes would make the peer's next call a reset: take the
     * answer and the doorbells, the setup's own bytes (what the peer
     * sent on the socket before its marker stays: the socket's rules). */
    if (xpipe__a32_get(&f->p.rx) == RX_ANSWER)
        (void)unix_fast_answer(c, XPIPE__NOW);
    if (xpipe__a32_get(&f->p.rx) == RX_RING)
        unix_fast_drain(c);
    xpipe__fast_shut(&f->p);
    unix_fast_unmap(f);
    xpipe__unix_close_fd(&f->loop_fd);
    xpipe__unix_close_fd(&f->self_fd);
    apr_thread_mutex_destroy(f->lock);
    c->fast = NULL;
}

void xpipe__unix_fast_bell(xpipe__chan_t *c)
{
    xpipe__a32_set(&((xpipe__unix_fast_t *)c->fast)->p.bell, 1);
}

apr_status_t xpipe__unix_fast_handle(xpipe__chan_t *c, int *fd)
{
    xpipe__unix_fast_t *f = c->fast;
    struct epoll_event ev;

    if (f->loop_fd < 0) {
        int ep = epoll_create1(EPOLL_CLOEXEC), self;
        if (ep < 0)
            return APR_FROM_OS_ERROR(errno);
        self = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        if (self < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0
            || epoll_ctl(ep, EPOLL_CTL_ADD, self, &ev) < 0
            || xpipe__unix_cloexec_nonblock(ep) < 0) {
            apr_status_t rv = APR_FROM_OS_ERROR(errno);
            unix_sys.close(ep);
            if (self >= 0)
                unix_sys.close(self);
            return rv;
        }
        f->self_fd = self;
        f->loop_fd = ep;
    }
    xpipe__unix_fast_bell(c);
    *fd = f->loop_fd;
    return APR_SUCCESS;
}

void xpipe__unix_fast_received(xpipe__chan_t *c)
{
    xpipe__unix_fast_t *f = c->fast;
    apr_uint64_t one = 1;

    /* An event loop reads once per wake-up. Data left in the ring makes
     * no doorbell: its descriptor must stay ready by itself; and an empty
     * ring must ask for the bell now (what was read may have come with
     * the marker, which rang nothing). */
    if (!xpipe__a32_get(&f->p.bell) || xpipe__a32_get(&f->p.rx) != RX_RING)
        return;
    if (!xpipe__ring_ready(&f->p.ring, 0)
        && xpipe__ring_arm(&f->p.ring, 0, XPIPE__RING_BELL))
        return;
    if (f->self_fd >= 0 && !f->self_set)
        f->self_set = write(f->self_fd, &one, sizeof(one)) == sizeof(one);
}

int xpipe__unix_fast_ready(xpipe__chan_t *c, int req, int os)
{
    return xpipe__fast_ready(&((xpipe__unix_fast_t *)c->fast)->p, req,
                             os & XPIPE_POLLIN);
}

#endif
