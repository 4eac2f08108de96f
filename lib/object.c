/* SPDX-License-Identifier: Apache-2.0 */
/* object.c — the listener and channel objects (object.h): their pools and
 * cleanups, close from any thread, interrupts, construction around the
 * backend's state, and the peer check a new channel passes. No OS code.
 */
#include "object.h"

#include <apr_cstr.h>
#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

static apr_status_t lsn_wake(void *obj, int on)
{
    xpipe_listener_t *l = obj;

    return on ? l->o.be->listener_wake(l->impl, on == XPIPE__WAKE_CLOSE)
              : l->o.be->listener_unwake(l->impl);
}

static apr_status_t chan_wake(void *obj, int on)
{
    xpipe_t *ch = obj;

    return on ? ch->o.be->wake(ch->impl, on == XPIPE__WAKE_CLOSE)
              : ch->o.be->unwake(ch->impl);
}

/* Create the object's pools: pool, or a private one when pool is NULL,
 * and the sub-pool for the backend state. */
static apr_status_t obj_pools(apr_pool_t *pool, apr_pool_t **owner,
                              apr_pool_t **sub, int *own)
{
    apr_status_t rv;

    *own = pool == NULL;
    if (*own) {
        /* A private pool dies with the object: it holds everything. */
        rv = apr_pool_create(&pool, NULL);
        *owner = *sub = pool;
        return rv;
    }
    *owner = pool;
    return apr_pool_create(sub, pool);
}

/* Undo obj_pools after a failed constructor. */
static void obj_pools_drop(apr_pool_t *owner, apr_pool_t *sub, int own)
{
    apr_pool_destroy(own ? owner : sub);
}

/* The sub-pool's cleanup: the owner pool is being destroyed. */
static apr_status_t obj_cleanup(void *data)
{
    obj_t *o = data;

    if (xpipe__guard_close(&o->g)) {
        xpipe__poll_forget(o);
        o->release(o);
    }
    return APR_SUCCESS;
}

/* Close an object: wake the calls in flight, wait for them to leave,
 * release the backend state, free what the object owns. */
apr_status_t xpipe__obj_close(obj_t *o)
{
    xpipe__fail_clear();
    if (o == NULL)
        return APR_EINVAL;
    if (!xpipe__guard_close(&o->g))
        return APR_SUCCESS;
    xpipe__poll_forget(o);
    o->release(o);
    apr_pool_cleanup_kill(o->sub, o, obj_cleanup);
    xpipe__obj_drop(o);
    return APR_SUCCESS;
}

apr_status_t xpipe__obj_interrupt(obj_t *o)
{
    xpipe__fail_clear();
    if (o == NULL)
        return APR_EINVAL;
    return xpipe__guard_interrupt(&o->g);
}

/* A new object of size bytes (its obj_t first) in pool, or in a private
 * pool when pool is NULL; be may be NULL until the name is resolved. */
static apr_status_t obj_new(obj_t **out, apr_size_t size, apr_pool_t *pool,
                            const xpipe__backend_t *be,
                            apr_status_t (*wake)(void *, int),
                            void (*release)(obj_t *))
{
    apr_pool_t *owner, *sub;
    int own;
    obj_t *o;
    apr_status_t rv = obj_pools(pool, &owner, &sub, &own);

    if (rv != APR_SUCCESS)
        return rv;
    o = apr_pcalloc(owner, size);
    o->pool = owner;
    o->sub = sub;
    o->own_pool = own;
    o->be = be;
    o->release = release;
    rv = xpipe__guard_init(&o->g, owner, wake, o);
    if (rv != APR_SUCCESS) {
        obj_pools_drop(owner, sub, own);
        return rv;
    }
    *out = o;
    return APR_SUCCESS;
}

/* The backend made the object's state: from now on destroying the pool
 * closes the object. */
static void obj_ready(obj_t *o)
{
    apr_pool_cleanup_register(o->sub, o, obj_cleanup, apr_pool_cleanup_null);
}

/* Undo obj_new after a failed constructor. */
void xpipe__obj_drop(obj_t *o)
{
    obj_pools_drop(o->pool, o->sub, o->own_pool);
}

static void lsn_release(obj_t *o)
{
    xpipe_listener_t *l = (xpipe_listener_t *)o;

    o->be->listener_close(l->impl);
}

/* A listener object without backend state yet (be: its transport, or
 * NULL until the name is resolved), with its own copy of the attributes:
 * the caller may change or free theirs right after the call. */
apr_status_t xpipe__listener_create(xpipe_listener_t **out,
                                    const xpipe__backend_t *be,
                                    const xpipe_attr_t *attr, apr_pool_t *pool)
{
    obj_t *o;
    apr_status_t rv =
        obj_new(&o, sizeof(xpipe_listener_t), pool, be, lsn_wake, lsn_release);

    if (rv == APR_SUCCESS) {
        *out = (xpipe_listener_t *)o;
        (*out)->attr =
            xpipe__attr_copy(attr ? attr : xpipe__attr_defaults(), o->sub);
    }
    return rv;
}

/* Finish xpipe__listener_create once the backend made its state (rv from it). */
apr_status_t xpipe__listener_finish(xpipe_listener_t **listener,
                                    xpipe_listener_t *l, apr_status_t rv)
{
    if (rv != APR_SUCCESS) {
        xpipe__obj_drop(&l->o);
        return rv;
    }
    obj_ready(&l->o);
    *listener = l;
    return APR_SUCCESS;
}

/* Channels */

static void chan_release(obj_t *o)
{
    xpipe_t *ch = (xpipe_t *)o;

    o->be->close(ch->impl);
}

/* A channel object without backend state yet (be: its transport, or
 * NULL until the name is resolved). */
apr_status_t xpipe__channel_create(xpipe_t **out, const xpipe__backend_t *be,
                                   const xpipe_attr_t *attr, apr_pool_t *pool)
{
    obj_t *o;
    apr_status_t rv =
        obj_new(&o, sizeof(xpipe_t), pool, be, chan_wake, chan_release);

    if (rv == APR_SUCCESS) {
        xpipe_t *ch = (xpipe_t *)o;
        ch->mode = attr->mode;
        ch->max_message = attr->max_message;
        ch->handles = attr->handles;
        ch->timeout = -1;
        *out = ch;
    }
    return rv;
}

/* Finish xpipe__channel_create once the backend made its state (rv from it). */
apr_status_t xpipe__channel_finish(xpipe_t **channel, xpipe_t *ch,
                                   apr_status_t rv)
{
    if (rv != APR_SUCCESS) {
        xpipe__obj_drop(&ch->o);
        return rv;
    }
    obj_ready(&ch->o);
    *channel = ch;
    return APR_SUCCESS;
}

/* Does the peer of a new channel qualify under attr->peer_require?
 * XPIPE_EPEER when not, or when its identity cannot be had (fail closed). */
apr_status_t xpipe__peer_check(xpipe_t *ch, const xpipe_attr_t *attr)
{
    apr_pool_t *pool = ch->o.sub;
    const char *who = attr->peer_require, *is;
    xpipe_peer_t peer, self;
    int ok;

    if (who == NULL)
        return APR_SUCCESS;
    memset(&peer, 0, sizeof(peer));
    memset(&self, 0, sizeof(self));
    if (ch->o.be->peer_get(ch->impl, &peer, pool) != APR_SUCCESS)
        return xpipe__fail(XPIPE_EPEER, "the peer's identity is unavailable");
    if (strcmp(who, "self") == 0) {
        /* A transport without its own says what the OS says. */
        if ((ch->o.be->self_get ? ch->o.be->self_get
                                : XPIPE__BACKEND.self_get)(&self, pool)
            != APR_SUCCESS)
            return xpipe__fail(XPIPE_EPEER, "our own identity is unavailable");
        if (self.have & XPIPE_PEER_UID) {
            ok = (peer.have & XPIPE_PEER_UID) && peer.uid == self.uid;
            who = apr_psprintf(pool, "uid %ld", self.uid);
        }
        else {
            ok = (self.have & XPIPE_PEER_SID) && (peer.have & XPIPE_PEER_SID)
                 && apr_cstr_casecmp(peer.sid, self.sid) == 0;
            who = self.sid ? self.sid : "?";
        }
    }
    else if (who[0] == 'S')
        ok = (peer.have & XPIPE_PEER_SID)
             && apr_cstr_casecmp(peer.sid, who) == 0;
    else
        ok = (peer.have & XPIPE_PEER_UID) && peer.uid == strtol(who, NULL, 10);
    if (ok)
        return APR_SUCCESS;
    is = peer.have & XPIPE_PEER_SID   ? peer.sid
         : peer.have & XPIPE_PEER_UID ? apr_psprintf(pool, "uid %ld", peer.uid)
                                      : "unknown";
    if (peer.have & XPIPE_PEER_REMOTE)
        return xpipe__fail(XPIPE_EPEER,
                           "network peer %s\\%s at %s runs as "
                           "%s, required %s",
                           peer.domain ? peer.domain : "?",
                           peer.account ? peer.account : "?",
                           peer.address ? peer.address : "?", is, who);
    return xpipe__fail(XPIPE_EPEER, "peer (pid %ld) runs as %s, required %s",
                       peer.have & XPIPE_PEER_PID ? peer.pid : -1L, is, who);
}
