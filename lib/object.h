/* SPDX-License-Identifier: Apache-2.0 */
/* object.h — PRIVATE to lib/: the listener and channel objects
 * (channel.c), as the poll sets (poll.c) see them too.
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

#endif
