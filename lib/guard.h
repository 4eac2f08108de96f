/* SPDX-License-Identifier: Apache-2.0 */
/* guard.h — PRIVATE to lib/: the guard every listener and channel holds
 * (guard.c): calls in flight, the interrupt latch, close from any thread.
 */
#ifndef XPIPE_GUARD_H
#define XPIPE_GUARD_H

#include "atomic.h"
#include "xpipe.h" /* XPIPE_ECANCELED */

#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>

typedef struct xpipe__guard_t {
    /* busy count | GUARD_CLOSED | GUARD_INTR, changed atomically: a call
     * on an open, uninterrupted object enters and leaves with one atomic
     * operation each; the rest takes the lock. */
    xpipe__a32_t state;
    apr_thread_mutex_t *lock;
    /* What a close waits on for the calls in flight: made by the first
     * close that finds any (most never do: on Windows a condition
     * variable is a kernel semaphore, two requests per object), in a
     * pool of its own, gone when that close returns. */
    apr_thread_cond_t *idle;
    apr_pool_t *idle_pool;
    /* Sets (XPIPE__WAKE_INTERRUPT, XPIPE__WAKE_CLOSE) or clears
     * (XPIPE__WAKE_CLEAR) the backend's wake object of obj, the listener
     * or channel that holds this guard. */
    apr_status_t (*wake)(void *obj, int on);
    void *obj;
} xpipe__guard_t;

/* What a guard asks of its object's wake function. CLOSE: the object is
 * being closed with calls in flight, which must leave now. */
#define XPIPE__WAKE_CLEAR 0
#define XPIPE__WAKE_INTERRUPT 1
#define XPIPE__WAKE_CLOSE 2

/* Make g, in pool; wake(obj, on) sets or clears the backend's wake object
 * of obj, the listener or channel holding g. */
apr_status_t xpipe__guard_init(xpipe__guard_t *g, apr_pool_t *pool,
                               apr_status_t (*wake)(void *, int), void *obj);
/* The state word's flags (the rest is the busy count). */
#define XPIPE__GUARD_CLOSED 0x80000000u
#define XPIPE__GUARD_INTR 0x40000000u
#define XPIPE__GUARD_BUSY 0x3fffffffu

/* What enter and leave do when their one atomic operation is not all
 * (guard.c). */
apr_status_t xpipe__guard_enter_slow(xpipe__guard_t *g);
apr_status_t xpipe__guard_leave_slow(xpipe__guard_t *g, apr_status_t rv);

/* Enter a call: APR_SUCCESS, XPIPE_ECLOSED after close, XPIPE_ECANCELED
 * when an interrupt is pending (consumed if nothing else is in flight).
 * Inline, the common case: an open object, no interrupt, no race. */
static inline apr_status_t xpipe__guard_enter(xpipe__guard_t *g)
{
    apr_uint32_t v = xpipe__a32_get(&g->state);

    if (!(v & (XPIPE__GUARD_CLOSED | XPIPE__GUARD_INTR))
        && xpipe__a32_cas(&g->state, v + 1, v) == v)
        return APR_SUCCESS;
    return xpipe__guard_enter_slow(g);
}

/* Leave a call that entered, with its status (XPIPE_ECANCELED may become
 * XPIPE_ECLOSED); returns the status to give the caller. */
static inline apr_status_t xpipe__guard_leave(xpipe__guard_t *g,
                                              apr_status_t rv)
{
    apr_uint32_t v = xpipe__a32_get(&g->state);

    if (rv != XPIPE_ECANCELED && !(v & XPIPE__GUARD_CLOSED)
        && xpipe__a32_cas(&g->state, v - 1, v) == v)
        return rv;
    return xpipe__guard_leave_slow(g, rv);
}
/* Raise the interrupt: wakes every call blocked, and the next one. */
apr_status_t xpipe__guard_interrupt(xpipe__guard_t *g);
int xpipe__guard_closed(xpipe__guard_t *g);
/* Mark closed, wake and wait out the calls in flight. Returns 1 for the
 * caller that must release the backend state, 0 when already closed. */
int xpipe__guard_close(xpipe__guard_t *g);

#endif
