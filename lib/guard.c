/* SPDX-License-Identifier: Apache-2.0 */
/* guard.c — PRIVATE: the guard of listeners and channels (guard.h).
 * Its protocol is modelled in lib/model/guard.pml and model-checked by
 * Spin in ./run tests: change the model with this file.
 */
#include "guard.h"

#include "backend.h"
#include "helpers.h" /* XPIPE__HOT */
#include "xpipe.h"

#include <apr_time.h>

#include <string.h>

/* The guard: what listeners and channels share. It counts calls in
 * flight so that close can wake them and wait for them to leave before
 * the backend frees anything, and it keeps the interrupt latch: an
 * interrupt stays raised until a call has returned XPIPE_ECANCELED with
 * no other call left in flight, so a wake-up is never lost to a race with
 * a call that was just about to block. The state word holds the busy
 * count and two flags; a call on an open, uninterrupted object enters and
 * leaves with one atomic operation each; the rest takes the lock. */

#define GUARD_CLOSED XPIPE__GUARD_CLOSED
#define GUARD_INTR XPIPE__GUARD_INTR
#define GUARD_BUSY XPIPE__GUARD_BUSY

apr_status_t xpipe__guard_init(xpipe__guard_t *g, apr_pool_t *pool,
                               apr_status_t (*wake)(void *, int), void *obj)
{
    apr_status_t rv;

    memset(g, 0, sizeof(*g));
    g->wake = wake;
    g->obj = obj;
    xpipe__a32_set(&g->state, 0);
    rv = apr_thread_mutex_create(&g->lock, APR_THREAD_MUTEX_DEFAULT, pool);
    return rv;
}

/* Set (on) or clear bits of the state word. */
static apr_uint32_t guard_flag(xpipe__guard_t *g, apr_uint32_t bits, int on)
{
    apr_uint32_t v = xpipe__a32_get(&g->state), seen;

    for (;;) {
        apr_uint32_t want = on ? v | bits : v & ~bits;
        seen = xpipe__a32_cas(&g->state, want, v);
        if (seen == v)
            return want;
        v = seen;
    }
}

/* With the lock held: the last call out wakes the closer, if one waits. */
static void guard_idle(xpipe__guard_t *g)
{
    if (g->idle)
        apr_thread_cond_broadcast(g->idle);
}

/* With the lock held: the last call out clears a pending interrupt. */
static void guard_consume(xpipe__guard_t *g, apr_uint32_t v)
{
    if ((v & GUARD_INTR) && (v & GUARD_BUSY) == 0 && !(v & GUARD_CLOSED)) {
        guard_flag(g, GUARD_INTR, 0);
        g->wake(g->obj, XPIPE__WAKE_CLEAR);
    }
}

/* Enter a call (guard.h: xpipe__guard_enter tried the common case once):
 * XPIPE_ECLOSED after close, XPIPE_ECANCELED when an interrupt is pending
 * (consumed if nothing else is in flight). */
apr_status_t xpipe__guard_enter_slow(xpipe__guard_t *g)
{
    apr_uint32_t v = xpipe__a32_get(&g->state), seen;
    apr_status_t rv = APR_SUCCESS;

    while (!(v & (GUARD_CLOSED | GUARD_INTR))) {
        seen = xpipe__a32_cas(&g->state, v + 1, v);
        if (seen == v)
            return APR_SUCCESS;
        v = seen;
    }
    apr_thread_mutex_lock(g->lock);
    v = xpipe__a32_get(&g->state);
    if (v & GUARD_CLOSED)
        rv = XPIPE_ECLOSED;
    else if (v & GUARD_INTR) {
        rv = XPIPE_ECANCELED;
        guard_consume(g, v);
    }
    else
        xpipe__a32_add(&g->state, 1);
    apr_thread_mutex_unlock(g->lock);
    return rv;
}

/* Leave a call (guard.h: xpipe__guard_leave tried the common case). */
apr_status_t xpipe__guard_leave_slow(xpipe__guard_t *g, apr_status_t rv)
{
    apr_uint32_t v = xpipe__a32_get(&g->state), seen;

    /* While open, one atomic operation. Once CLOSED is set, under the
     * lock: the closer returns (and the object may be freed) as soon as
     * it sees no call in flight, so a call must be done with the guard,
     * its lock too, when it counts itself out. */
    while (rv != XPIPE_ECANCELED && !(v & GUARD_CLOSED)) {
        seen = xpipe__a32_cas(&g->state, v - 1, v);
        if (seen == v)
            return rv;
        v = seen;
    }
    apr_thread_mutex_lock(g->lock);
    v = xpipe__a32_add(&g->state, (apr_uint32_t)-1) - 1;
    if (rv == XPIPE_ECANCELED) {
        if (v & GUARD_CLOSED)
            rv = XPIPE_ECLOSED;
        guard_consume(g, v);
    }
    if ((v & GUARD_CLOSED) && (v & GUARD_BUSY) == 0)
        guard_idle(g);
    apr_thread_mutex_unlock(g->lock);
    return rv;
}

apr_status_t xpipe__guard_interrupt(xpipe__guard_t *g)
{
    apr_status_t rv = APR_SUCCESS;
    apr_uint32_t v;

    apr_thread_mutex_lock(g->lock);
    v = xpipe__a32_get(&g->state);
    if (v & GUARD_CLOSED)
        rv = XPIPE_ECLOSED;
    else if (!(v & GUARD_INTR)) {
        guard_flag(g, GUARD_INTR, 1);
        rv = g->wake(g->obj, XPIPE__WAKE_INTERRUPT);
    }
    apr_thread_mutex_unlock(g->lock);
    return rv;
}

int xpipe__guard_closed(xpipe__guard_t *g)
{
    return (xpipe__a32_get(&g->state) & GUARD_CLOSED) != 0;
}

/* Mark closed, wake and wait out the calls in flight. Returns 1 for the
 * caller that must release the backend state, 0 when already closed. */
int xpipe__guard_close(xpipe__guard_t *g)
{
    apr_uint32_t v;
    int first;

    apr_thread_mutex_lock(g->lock);
    v = xpipe__a32_get(&g->state);
    first = !(v & GUARD_CLOSED);
    if (first) {
        v = guard_flag(g, GUARD_CLOSED, 1);
        /* Even with an interrupt pending: a close may have to do more
         * than an interrupt to reach a blocked call (POSIX: a call asleep
         * in its slice is woken by shutdown(), not by the wake fd). */
        if (v & GUARD_BUSY)
            g->wake(g->obj, XPIPE__WAKE_CLOSE);
        if (xpipe__a32_get(&g->state) & GUARD_BUSY) {
            if (apr_pool_create(&g->idle_pool, NULL) != APR_SUCCESS)
                g->idle_pool = NULL;
            else if (apr_thread_cond_create(&g->idle, g->idle_pool)
                     != APR_SUCCESS)
                g->idle = NULL;
        }
        while (xpipe__a32_get(&g->state) & GUARD_BUSY) {
            if (g->idle)
                apr_thread_cond_wait(g->idle, g->lock);
            else { /* no condition variable to be had: look every ms */
                apr_thread_mutex_unlock(g->lock);
                apr_sleep(1000);
                apr_thread_mutex_lock(g->lock);
            }
        }
        /* Every call has left, and left the lock: nobody touches it. */
        if (g->idle_pool)
            apr_pool_destroy(g->idle_pool);
        g->idle = NULL;
        g->idle_pool = NULL;
    }
    apr_thread_mutex_unlock(g->lock);
    return first;
}
