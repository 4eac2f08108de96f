/* SPDX-License-Identifier: Apache-2.0 */
/* object.h — PRIVATE to lib/: the listener and channel objects (made in
 * object.c; used by channel.c, child.c and the poll sets, poll.c).
 */
#ifndef XPIPE_OBJECT_H
#define XPIPE_OBJECT_H

#include "backend.h"
#include "helpers.h"
#include "guard.h"

/* ------------------------------------------------------------------ */
/* Objects. The small public struct and its guard live in the caller's
 * pool (or a private one), so a call after close still finds a valid
 * object and gets XPIPE_ECLOSED; the backend state lives in a sub-pool
 * that close destroys, so a long-lived parent pool does not grow with
 * every accepted channel beyond this header. */

struct xpipe__pm_t;

/* What listeners and channels share. */
typedef struct obj_t {
    xpipe__guard_t g;
    /* The transport (as SQLite's files carry their methods): a listener's
     * channels use its own. */
    const xpipe__backend_t *be;
    apr_pool_t *pool; /* the caller's, or a private one (own_pool) */
    apr_pool_t *sub;  /* the backend state's */
    int own_pool;
    /* Releases the backend state, once, with no call in flight. */
    void (*release)(struct obj_t *o);
    /* The poll set holding the object and its member there (poll.c),
     * under g.lock; NULL when in none. */
    struct xpipe_pollset_t *pset;
    struct xpipe__pm_t *pm;
} obj_t;

struct xpipe_listener_t {
    obj_t o; /* first: the listener is its obj_t */
    xpipe__lsn_t *impl;
    const xpipe_attr_t *attr; /* our copy: accepted channels inherit it */
    const char *native;
};

struct xpipe_t {
    obj_t o; /* first: the channel is its obj_t */
    xpipe__chan_t *impl;
    xpipe_mode_e mode;
    apr_size_t max_message;
    apr_interval_time_t timeout;
    int handles; /* messages may carry handles (xpipe_attr_handles_set) */
};

/* Leave the poll set the object is in, if any (poll.c): before its
 * backend state is released. */
void xpipe__poll_forget(obj_t *o);

/* object.c. Close an object: wake the calls in flight, wait for them to
 * leave, release the backend state, free what the object owns. */
apr_status_t xpipe__obj_close(obj_t *o);
apr_status_t xpipe__obj_interrupt(obj_t *o);
/* Undo a create after a failed constructor. */
void xpipe__obj_drop(obj_t *o);
/* A listener object without backend state yet (be: its transport, or
 * NULL until the name is resolved), with its own copy of the attributes:
 * the caller may change or free theirs right after the call. */
apr_status_t xpipe__listener_create(xpipe_listener_t **out,
                                    const xpipe__backend_t *be,
                                    const xpipe_attr_t *attr, apr_pool_t *pool);
/* Finish it once the backend made its state (rv from it): *listener set,
 * or the object dropped and rv returned. */
apr_status_t xpipe__listener_finish(xpipe_listener_t **listener,
                                    xpipe_listener_t *l, apr_status_t rv);
/* The same for a channel. */
apr_status_t xpipe__channel_create(xpipe_t **out, const xpipe__backend_t *be,
                                   const xpipe_attr_t *attr, apr_pool_t *pool);
apr_status_t xpipe__channel_finish(xpipe_t **channel, xpipe_t *ch,
                                   apr_status_t rv);
/* Does the peer of a new channel qualify under attr->peer_require?
 * XPIPE_EPEER when not, or when its identity cannot be had (fail closed). */
apr_status_t xpipe__peer_check(xpipe_t *ch, const xpipe_attr_t *attr);

#endif
