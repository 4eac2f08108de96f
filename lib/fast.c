/* SPDX-License-Identifier: Apache-2.0 */
/* fast.c — the fast path's switch protocol and its waits (fast.h), over
 * the rings of ring.c and the OS's part a backend supplies. No OS code.
 */
#include "fast.h"

#include <apr_env.h>
#include <apr_strings.h>

#include <string.h>

static void fast_kick_op(void *baton, int out, int how);
static apr_status_t fast_wait_op(void *baton, int out, apr_time_t deadline);

void xpipe__fast_init(xpipe__fast_t *f, const xpipe__fast_os_t *os, void *c,
                      apr_uint32_t rx, apr_uint32_t tx)
{
    f->os = os;
    f->c = c;
    /* Once, not per transfer. */
    f->ring_ops.kick = fast_kick_op;
    f->ring_ops.wait = fast_wait_op;
    f->ring_ops.cpu = os->cpu;
    xpipe__a32_set(&f->rx, rx);
    xpipe__a32_set(&f->tx, tx);
}

apr_status_t xpipe__fast_tx(xpipe__fast_t *f, apr_time_t deadline)
{
    apr_uint32_t tx = xpipe__a32_get(&f->tx);
    apr_status_t rv;

    if (tx != XPIPE__FAST_TX_WAIT)
        return tx == XPIPE__FAST_TX_RING ? APR_SUCCESS : APR_EAGAIN;
    /* A server that never answers (not xpipe) and never sends costs a
     * stream of n sends log2(n) looks; an xpipe server that answers
     * after k sends is heard by send 2k; a receive always settles it. */
    if (xpipe__a32_get(&f->rx) == XPIPE__FAST_RX_ANSWER) {
        unsigned long k = ++f->looks;
        if ((k & (k - 1)) == 0)
            (void)f->os->answer(f->c, XPIPE__NOW);
    }
    if (xpipe__a32_get(&f->tx) != XPIPE__FAST_TX_WAIT
        || xpipe__a32_get(&f->rx) == XPIPE__FAST_RX_ANSWER || f->base == NULL
        || !xpipe__ring_peer_attached(&f->ring))
        return xpipe__a32_get(&f->tx) == XPIPE__FAST_TX_RING ? APR_SUCCESS
                                                             : APR_EAGAIN;
    rv = f->os->say_switch(f->c, deadline);
    if (rv != APR_SUCCESS)
        return rv;
    xpipe__a32_set(&f->tx, XPIPE__FAST_TX_RING);
    return APR_SUCCESS;
}

int xpipe__fast_marker(xpipe__fast_t *f)
{
    if (f->base == NULL || xpipe__a32_get(&f->rx) != XPIPE__FAST_RX_WATCH)
        return 0;
    xpipe__a32_set(&f->rx, XPIPE__FAST_RX_RING);
    return 1;
}

/* Spin a while for the peer to move, when it runs on another CPU; an
 * interrupt or a close ends the spin at once. */
static int fast_spin(xpipe__fast_t *f, int out)
{
    int me = f->os->cpu(), peer = xpipe__ring_peer_cpu(&f->ring, out), i;
    apr_time_t until;

    if (me < 0 || peer < 0 || peer == me)
        return 0;
    until = apr_time_now() + XPIPE__FAST_SPIN;
    do {
        for (i = 0; i < 64; i++) {
            if (xpipe__ring_ready(&f->ring, out))
                return 1;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause(); /* a hint to the CPU, nothing more */
#endif
        }
    } while (apr_time_now() < until && !f->os->woken(f->c));
    return 0;
}

/* A move on the ring could not happen: wait for the peer's next one (or
 * the deadline, an interrupt, a close, the peer's end). APR_SUCCESS: try
 * again; APR_EOF: the peer is gone. */
static apr_status_t fast_wait(xpipe__fast_t *f, int out, apr_time_t deadline)
{
    int bell = (int)xpipe__a32_get(&f->bell);
    apr_status_t rv;

    if (xpipe__a32_get(&f->dead))
        return APR_EOF;
    if (f->os->woken(f->c))
        return XPIPE_ECANCELED;
    if (xpipe__remaining_ms(deadline) == 0) {
        /* An event loop's try: it waits for the doorbell next. */
        if (bell) {
            f->os->drain(f->c, !out);
            if (!xpipe__ring_arm(&f->ring, out, XPIPE__RING_BELL))
                return APR_SUCCESS;
        }
        return xpipe__a32_get(&f->dead) ? APR_EOF : APR_TIMEUP;
    }
    if (fast_spin(f, out))
        return APR_SUCCESS;
    if (!xpipe__ring_arm(&f->ring, out, XPIPE__RING_SLEEPS))
        return APR_SUCCESS;
    /* An interrupt after the arm resets the word, or signals the sleep:
     * either way the sleep sees it; one before it is seen here. */
    if (f->os->woken(f->c)) {
        xpipe__ring_disarm(&f->ring, out);
        return XPIPE_ECANCELED;
    }
    rv = f->os->sleep(f->c, out, deadline);
    xpipe__ring_disarm(&f->ring, out);
    if (bell) /* back to the bell, for the poll set */
        xpipe__ring_arm(&f->ring, out, XPIPE__RING_BELL);
    if (rv == APR_TIMEUP && xpipe__ring_ready(&f->ring, out))
        return APR_SUCCESS;
    return rv;
}

static void fast_kick_op(void *baton, int out, int how)
{
    xpipe__fast_t *f = baton;

    if (how != XPIPE__RING_AWAKE)
        f->os->kick(f->c, out, how);
}

static apr_status_t fast_wait_op(void *baton, int out, apr_time_t deadline)
{
    return fast_wait(baton, out, deadline);
}

apr_status_t xpipe__fast_ring_io(xpipe__fast_t *f, int out, void *buf,
                                 apr_size_t *len, apr_time_t deadline)
{
    return xpipe__ring_io(&f->ring, &f->ring_ops, f, out, buf, len, deadline);
}

int xpipe__fast_ready(xpipe__fast_t *f, int req, int in)
{
    int ev = 0;

    if (xpipe__a32_get(&f->rx) == XPIPE__FAST_RX_ANSWER && in)
        (void)f->os->answer(f->c, XPIPE__NOW);
    if (req & XPIPE_POLLIN) {
        if (xpipe__a32_get(&f->rx) != XPIPE__FAST_RX_RING)
            ev |= in ? XPIPE_POLLIN : 0; /* the channel's data, or a marker */
        else {
            if (in)
                f->os->drain(f->c, 0);
            if (xpipe__a32_get(&f->dead) || xpipe__ring_ready(&f->ring, 0)
                || !xpipe__ring_arm(&f->ring, 0, XPIPE__RING_BELL))
                ev |= XPIPE_POLLIN;
        }
    }
    /* Not on the ring yet: the channel's send finds out. */
    if ((req & XPIPE_POLLOUT)
        && (xpipe__a32_get(&f->tx) != XPIPE__FAST_TX_RING
            || xpipe__a32_get(&f->dead) || xpipe__ring_ready(&f->ring, 1)
            || !xpipe__ring_arm(&f->ring, 1, XPIPE__RING_BELL)))
        ev |= XPIPE_POLLOUT;
    return ev;
}

void xpipe__fast_shut(xpipe__fast_t *f)
{
    int wake, out;

    if (f->base == NULL)
        return;
    for (out = 0; out < 2; out++) {
        xpipe__ring_shut(&f->ring, out, &wake);
        fast_kick_op(f, out, wake);
    }
}

apr_size_t xpipe__fast_ring_want(const xpipe_attr_t *attr)
{
    /* Read once (every connect and accept asks). */
    static xpipe__a32_t forced; /* 0 unknown, 1 no, 2 yes */
    apr_uint32_t v;

    if (attr->handles) /* handles go on the channel itself */
        return 0;
    if (attr->fast_ring)
        return attr->fast_ring;
    v = xpipe__a32_get(&forced);
    if (v == 0) {
        apr_pool_t *p;
        char *value = NULL;
        v = 1;
        if (apr_pool_create(&p, NULL) == APR_SUCCESS) {
            if (apr_env_get(&value, "XPIPE_FAST_PATH", p) == APR_SUCCESS
                && strcmp(value, "force") == 0)
                v = 2;
            apr_pool_destroy(p);
        }
        xpipe__a32_set(&forced, v);
    }
    return v == 2 ? XPIPE_FAST_RING_DEFAULT : 0;
}

void xpipe__fast_log(const xpipe_attr_t *attr, const char *why, apr_status_t rv,
                     const xpipe__detail_t *kept)
{
    char text[120];

    xpipe__log(attr, "fast path %s: %s", why,
               *xpipe_error_detail() ? xpipe_error_detail()
                                     : apr_strerror(rv, text, sizeof(text)));
    xpipe__detail_restore(kept);
}
