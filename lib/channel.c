/* SPDX-License-Identifier: Apache-2.0 */
/* channel.c — the generic layer: argument and state checks, lifetimes
 * (pools, cleanups, close from any thread) and interrupt bookkeeping, then
 * one call through the backend table. Public API. No OS code here.
 */
#include "backend.h"
#include "helpers.h"

#include "object.h"
#include <apr_cstr.h>
#include <apr_env.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <stdlib.h>
#include <string.h>

/* The transport for a parsed name: the OS's, or for a remote name the
 * remote transport where meson built one (POSIX: the SMB client). */
static const xpipe__backend_t *backend_for(const xpipe__name_t *name)
{
#ifdef XPIPE__REMOTE_BACKEND
    if (name->kind == XPIPE__NAME_REMOTE)
        return &XPIPE__REMOTE_BACKEND;
#else
    (void)name;
#endif
    return &XPIPE__BACKEND;
}

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

/* ------------------------------------------------------------------ */
/* Library and names */

apr_status_t xpipe_initialize(void)
{
    xpipe__fail_clear();
    /* apr_initialize is itself reference-counted. */
    return apr_initialize();
}

void xpipe_terminate(void)
{
    /* This thread's wake object and events: nothing of xpipe's stays
     * open after the terminate of a thread that was the only one to
     * use it. */
    if (XPIPE__BACKEND.thread_release)
        XPIPE__BACKEND.thread_release();
#ifdef XPIPE__REMOTE_BACKEND
    if (XPIPE__REMOTE_BACKEND.thread_release)
        XPIPE__REMOTE_BACKEND.thread_release();
#endif
    apr_terminate();
}

unsigned int xpipe_version(void)
{
    return XPIPE_VERSION_HEX;
}

const char *xpipe_version_string(void)
{
    return XPIPE_VERSION_STRING;
}

const char *xpipe_backend_name(void)
{
    return XPIPE__BACKEND.name;
}

/* Parse a name, choose its transport, and map it to the native name. */
static apr_status_t name_resolve(xpipe__name_t *parsed, const char **native,
                                 const xpipe__backend_t **be, const char *name,
                                 apr_pool_t *pool)
{
    apr_status_t rv = xpipe__name_parse(parsed, name, pool);

    if (rv != APR_SUCCESS)
        return rv;
    *be = backend_for(parsed);
    return (*be)->resolve(native, parsed, pool);
}

apr_status_t xpipe_name_resolve(const char **native, const char *name,
                                apr_pool_t *pool)
{
    const xpipe__backend_t *be;
    xpipe__name_t parsed;

    xpipe__fail_clear();
    if (native == NULL || name == NULL || pool == NULL)
        return APR_EINVAL;
    return name_resolve(&parsed, native, &be, name, pool);
}

/* ------------------------------------------------------------------ */
/* Listeners */

static void obj_drop(obj_t *o);

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
static apr_status_t obj_close(obj_t *o)
{
    xpipe__fail_clear();
    if (o == NULL)
        return APR_EINVAL;
    if (!xpipe__guard_close(&o->g))
        return APR_SUCCESS;
    xpipe__poll_forget(o);
    o->release(o);
    apr_pool_cleanup_kill(o->sub, o, obj_cleanup);
    obj_drop(o);
    return APR_SUCCESS;
}

static apr_status_t obj_interrupt(obj_t *o)
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
static void obj_drop(obj_t *o)
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
static apr_status_t lsn_create(xpipe_listener_t **out,
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

/* Finish lsn_create once the backend made its state (rv from it). */
static apr_status_t lsn_finish(xpipe_listener_t **listener, xpipe_listener_t *l,
                               apr_status_t rv)
{
    if (rv != APR_SUCCESS) {
        obj_drop(&l->o);
        return rv;
    }
    obj_ready(&l->o);
    *listener = l;
    return APR_SUCCESS;
}

apr_status_t xpipe_listen(xpipe_listener_t **listener, const char *name,
                          const xpipe_attr_t *attr, apr_pool_t *pool)
{
    xpipe_listener_t *l;
    xpipe__name_t parsed;
    apr_status_t rv;

    xpipe__fail_clear();
    if (listener == NULL || name == NULL)
        return APR_EINVAL;
    *listener = NULL;
    rv = lsn_create(&l, NULL, attr, pool);
    if (rv != APR_SUCCESS)
        return rv;
    rv = name_resolve(&parsed, &l->native, &l->o.be, name, l->o.sub);
    if (rv == APR_SUCCESS && l->o.be->listen == NULL)
        /* A transport without listeners: the remote one, where meson
         * built one (the OS backend's own remote names fail in its
         * listen). */
        rv = parsed.kind == XPIPE__NAME_REMOTE
                 ? xpipe__fail(XPIPE_EREMOTE,
                               "%s is another machine's pipe: a server "
                               "listens on a local name (exported with "
                               "xpipe_attr_smb_export_set)",
                               l->native)
                 : xpipe__not_offered(l->o.be, "listeners");
    else if (rv == APR_SUCCESS)
        rv = l->o.be->listen(&l->impl, &parsed, l->native, l->attr, l->o.sub);
    return lsn_finish(listener, l, rv);
}

const char *xpipe_listener_native_name(const xpipe_listener_t *listener)
{
    return listener ? listener->native : NULL;
}

apr_status_t xpipe_listener_interrupt(xpipe_listener_t *listener)
{
    return obj_interrupt(listener ? &listener->o : NULL);
}

apr_status_t xpipe_listener_close(xpipe_listener_t *l)
{
    return obj_close(l ? &l->o : NULL);
}

apr_status_t xpipe_listener_os_handle_get(xpipe_listener_t *l,
                                          xpipe_os_handle_t *handle)
{
    apr_status_t rv;

    xpipe__fail_clear();
    if (l == NULL || handle == NULL)
        return APR_EINVAL;
    memset(handle, 0, sizeof(*handle));
    rv = xpipe__guard_enter(&l->o.g);
    if (rv != APR_SUCCESS)
        return rv;
    rv = l->o.be->listener_os_handle_get(l->impl, handle);
    return xpipe__guard_leave(&l->o.g, rv);
}

/* ------------------------------------------------------------------ */
/* Channels */

static void chan_release(obj_t *o)
{
    xpipe_t *ch = (xpipe_t *)o;

    o->be->close(ch->impl);
}

/* A channel object without backend state yet (be: its transport, or
 * NULL until the name is resolved). */
static apr_status_t chan_create(xpipe_t **out, const xpipe__backend_t *be,
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

/* Finish chan_create once the backend made its state (rv from it). */
static apr_status_t chan_finish(xpipe_t **channel, xpipe_t *ch, apr_status_t rv)
{
    if (rv != APR_SUCCESS) {
        obj_drop(&ch->o);
        return rv;
    }
    obj_ready(&ch->o);
    *channel = ch;
    return APR_SUCCESS;
}

/* Does the peer of a new channel qualify under attr->peer_require?
 * XPIPE_EPEER when not, or when its identity cannot be had (fail closed). */
static apr_status_t chan_peer_check(xpipe_t *ch, const xpipe_attr_t *attr)
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

apr_status_t xpipe_accept(xpipe_t **channel, xpipe_listener_t *listener,
                          apr_interval_time_t timeout, apr_pool_t *pool)
{
    apr_time_t deadline = xpipe__deadline(timeout);
    xpipe_t *ch;
    apr_status_t rv;

    xpipe__fail_clear();
    if (channel == NULL || listener == NULL)
        return APR_EINVAL;
    *channel = NULL;
    rv = xpipe__guard_enter(&listener->o.g);
    if (rv != APR_SUCCESS)
        return rv;
    for (;;) {
        rv = chan_create(&ch, listener->o.be, listener->attr, pool);
        if (rv != APR_SUCCESS)
            break;
        rv = ch->o.be->accept(&ch->impl, listener->impl, deadline, ch->o.sub);
        if (rv == APR_SUCCESS
            && chan_peer_check(ch, listener->attr) != APR_SUCCESS) {
            /* Refused: dropped unread, and we wait for the next client. */
            xpipe__log(listener->attr, "refused a client of %s: %s",
                       listener->native, xpipe_error_detail());
            ch->o.be->close(ch->impl);
            obj_drop(&ch->o);
            continue;
        }
        rv = chan_finish(channel, ch, rv);
        break;
    }
    return xpipe__guard_leave(&listener->o.g, rv);
}

/* Sleep before another connect attempt: 1 ms at first, doubling up to
 * 25 ms, never past the deadline. Returns 0 when the deadline has
 * passed. */
static int connect_backoff(apr_interval_time_t *delay, apr_time_t deadline)
{
    apr_interval_time_t d = *delay;

    if (deadline != XPIPE__FOREVER) {
        apr_time_t left = deadline - apr_time_now();
        if (left <= 0)
            return 0;
        if (d > left)
            d = left;
    }
    apr_sleep(d);
    if (*delay < 25000)
        *delay *= 2;
    return 1;
}

/* Connect policy, the same for every transport: a busy server is retried
 * until the deadline (waiting for a free instance where the transport
 * can, else with backoff); a missing one is XPIPE_ENOPIPE at once unless
 * attr->wait_for_server, when it is waited for up to the deadline. */
static apr_status_t connect_loop(xpipe_t *ch, const xpipe__name_t *name,
                                 const char *native, const xpipe_attr_t *attr,
                                 apr_time_t deadline)
{
    const xpipe__backend_t *be = ch->o.be;
    apr_interval_time_t delay = 1000;
    apr_status_t rv;

    for (;;) {
        rv = be->dial(&ch->impl, name, native, attr, deadline, ch->o.sub);
        if (rv == XPIPE_ENOPIPE && !attr->wait_for_server)
            return xpipe__fail_set
                       ? rv /* the transport said why */
                       : xpipe__fail(rv, "nothing listens on %s", native);
        if (rv != XPIPE_ENOPIPE && rv != XPIPE__EBUSY)
            return rv;
        if (rv == XPIPE__EBUSY && be->busy_wait
            && xpipe__remaining_ms(deadline) != 0) {
            /* At most a second at a time: a wait the server cannot end
             * early (a remote one) must not hold us to the deadline. */
            apr_time_t soon = apr_time_now() + APR_USEC_PER_SEC;
            if (be->busy_wait(native,
                              deadline == XPIPE__FOREVER || deadline > soon
                                  ? soon
                                  : deadline,
                              ch->o.sub)
                != APR_ENOTIMPL)
                continue;
        }
        if (!connect_backoff(&delay, deadline))
            return xpipe__fail(APR_TIMEUP,
                               rv == XPIPE_ENOPIPE
                                   ? "nothing listened on %s before the "
                                     "deadline"
                                   : "every instance of %s stayed busy "
                                     "until the deadline",
                               native);
    }
}

apr_status_t xpipe_connect(xpipe_t **channel, const char *name,
                           const xpipe_attr_t *attr,
                           apr_interval_time_t timeout, apr_pool_t *pool)
{
    apr_time_t deadline = xpipe__deadline(timeout);
    xpipe__name_t parsed;
    const char *native;
    xpipe_t *ch;
    apr_status_t rv;

    xpipe__fail_clear();
    if (channel == NULL || name == NULL)
        return APR_EINVAL;
    *channel = NULL;
    if (attr == NULL)
        attr = xpipe__attr_defaults();
    rv = chan_create(&ch, NULL, attr, pool);
    if (rv != APR_SUCCESS)
        return rv;
    rv = name_resolve(&parsed, &native, &ch->o.be, name, ch->o.sub);
    if (rv == APR_SUCCESS)
        rv = connect_loop(ch, &parsed, native, attr, deadline);
    if (rv == APR_SUCCESS) {
        /* A server that does not qualify gets nothing: we have not sent. */
        rv = chan_peer_check(ch, attr);
        if (rv != APR_SUCCESS)
            ch->o.be->close(ch->impl);
    }
    return chan_finish(channel, ch, rv);
}

/* The I/O calls differ only in the slot, the mode they need, and whether
 * they loop to completion. */
typedef enum io_op_e {
    IO_READ,
    IO_WRITE,
    IO_READ_FULL,
    IO_WRITE_FULL,
    IO_SEND,
    IO_RECV,
    IO_SEND_HANDLES,
    IO_RECV_HANDLES
} io_op_e;

/* The handles of IO_SEND_HANDLES / IO_RECV_HANDLES (NULL for the rest):
 * count is in/out for a receive. */
typedef struct io_handles_t {
    xpipe_os_handle_t *h;
    int *count;
} io_handles_t;

static XPIPE__SPECIALIZE apr_status_t chan_io_once(xpipe_t *ch, io_op_e op,
                                                   void *buf, apr_size_t *len,
                                                   const io_handles_t *hs,
                                                   apr_time_t deadline)
{
    switch (op) {
    case IO_SEND_HANDLES:
        if (ch->o.be->send_handles == NULL)
            return xpipe__not_offered(ch->o.be, "handle passing");
        return ch->o.be->send_handles(ch->impl, buf, *len, hs->h, *hs->count,
                                      deadline);
    case IO_RECV_HANDLES:
        if (ch->o.be->recv_handles == NULL)
            return xpipe__not_offered(ch->o.be, "handle passing");
        return ch->o.be->recv_handles(ch->impl, buf, len, hs->h, hs->count,
                                      deadline);
    case IO_READ:
    case IO_READ_FULL: return ch->o.be->read(ch->impl, buf, len, deadline);
    case IO_WRITE:
    case IO_WRITE_FULL: return ch->o.be->write(ch->impl, buf, len, deadline);
    case IO_SEND: return ch->o.be->send(ch->impl, buf, *len, deadline);
    case IO_RECV: return ch->o.be->recv(ch->impl, buf, len, deadline);
    }
    return APR_EINVAL;
}

/* Are the handles of a handle-carrying call well formed? *room gets the
 * count (a receive's is zeroed until something comes). */
static XPIPE__SPECIALIZE apr_status_t chan_io_handles(io_op_e op,
                                                      const io_handles_t *hs,
                                                      int *room)
{
    if (op != IO_SEND_HANDLES && op != IO_RECV_HANDLES)
        return APR_SUCCESS;
    if (hs->count == NULL || *hs->count < 0
        || (hs->h == NULL && *hs->count > 0))
        return APR_EINVAL;
    *room = *hs->count;
    if (op == IO_RECV_HANDLES)
        *hs->count = 0;
    else if (*room > XPIPE_HANDLES_MAX)
        return xpipe__fail(XPIPE_EBADHANDLE,
                           "%d handles: a message carries at most %d", *room,
                           XPIPE_HANDLES_MAX);
    return APR_SUCCESS;
}

/* Each public call gets its own copy, its op folded in. */
static XPIPE__SPECIALIZE apr_status_t chan_io(xpipe_t *ch, io_op_e op,
                                              void *buf, apr_size_t *len,
                                              const io_handles_t *hs)
{
    int message = op == IO_SEND || op == IO_RECV || op == IO_SEND_HANDLES
                  || op == IO_RECV_HANDLES;
    int handles = op == IO_SEND_HANDLES || op == IO_RECV_HANDLES;
    int full = op == IO_READ_FULL || op == IO_WRITE_FULL, room = 0;
    io_handles_t mine = { hs ? hs->h : NULL, &room };
    apr_size_t want, done = 0;
    apr_time_t deadline;
    apr_status_t rv;

    xpipe__fail_clear();
    rv = ch == NULL || len == NULL || (buf == NULL && *len > 0)
             ? APR_EINVAL
             : chan_io_handles(op, hs, &room);
    if (rv != APR_SUCCESS) {
        if (len && !full)
            *len = 0;
        return rv;
    }
    want = *len;
    if (!full)
        *len = 0;
    else if (want == 0)
        return APR_SUCCESS; /* nothing to move is complete */
    if (want == 0)
        return APR_EINVAL; /* 0-byte read/write/message: never ambiguous */
    rv = xpipe__guard_enter(&ch->o.g);
    if (rv != APR_SUCCESS)
        return rv; /* closed or interrupted comes first */
    if ((ch->mode == XPIPE_MODE_MESSAGE) != message) {
        *len = 0;
        return xpipe__guard_leave(&ch->o.g, XPIPE_EMODE);
    }
    if (handles && !ch->handles) {
        *len = 0;
        return xpipe__guard_leave(
            &ch->o.g, xpipe__fail(XPIPE_EMODE, "the channel carries no "
                                               "handles: see "
                                               "xpipe_attr_handles_set"));
    }
    if ((op == IO_SEND || op == IO_SEND_HANDLES) && want > ch->max_message)
        return xpipe__guard_leave(&ch->o.g, XPIPE_EMSGSIZE);
    deadline = xpipe__deadline(ch->timeout);
    do {
        apr_size_t n = want - done;

        rv = chan_io_once(ch, op, (char *)buf + done, &n, &mine, deadline);
        if (rv == APR_SUCCESS
            || ((op == IO_RECV || op == IO_RECV_HANDLES)
                && (rv == XPIPE_EMSGSIZE || rv == XPIPE_EBADHANDLE)))
            done += n;
    } while (full && rv == APR_SUCCESS && done < want);
    *len = (op == IO_SEND || op == IO_SEND_HANDLES) && rv == APR_SUCCESS ? want
                                                                         : done;
    if (op == IO_RECV_HANDLES && done > 0)
        *hs->count = room;
    return xpipe__guard_leave(&ch->o.g, rv);
}

XPIPE__HOT apr_status_t xpipe_read(xpipe_t *channel, void *buf, apr_size_t *len)
{
    return chan_io(channel, IO_READ, buf, len, NULL);
}

XPIPE__HOT apr_status_t xpipe_write(xpipe_t *channel, const void *buf,
                                    apr_size_t *len)
{
    return chan_io(channel, IO_WRITE, (void *)buf, len, NULL);
}

XPIPE__HOT apr_status_t xpipe_read_full(xpipe_t *channel, void *buf,
                                        apr_size_t len, apr_size_t *done)
{
    apr_status_t rv = chan_io(channel, IO_READ_FULL, buf, &len, NULL);

    if (done)
        *done = len;
    return rv;
}

XPIPE__HOT apr_status_t xpipe_write_full(xpipe_t *channel, const void *buf,
                                         apr_size_t len, apr_size_t *done)
{
    apr_status_t rv = chan_io(channel, IO_WRITE_FULL, (void *)buf, &len, NULL);

    if (done)
        *done = len;
    return rv;
}

XPIPE__HOT apr_status_t xpipe_send(xpipe_t *channel, const void *buf,
                                   apr_size_t len)
{
    return chan_io(channel, IO_SEND, (void *)buf, &len, NULL);
}

XPIPE__HOT apr_status_t xpipe_recv(xpipe_t *channel, void *buf, apr_size_t *len)
{
    return chan_io(channel, IO_RECV, buf, len, NULL);
}

apr_status_t xpipe_send_handles(xpipe_t *channel, const void *buf,
                                apr_size_t len,
                                const xpipe_os_handle_t *handles, int count)
{
    io_handles_t hs = { (xpipe_os_handle_t *)handles, &count };

    return chan_io(channel, IO_SEND_HANDLES, (void *)buf, &len, &hs);
}

apr_status_t xpipe_recv_handles(xpipe_t *channel, void *buf, apr_size_t *len,
                                xpipe_os_handle_t *handles, int *count)
{
    io_handles_t hs = { handles, count };

    return chan_io(channel, IO_RECV_HANDLES, buf, len, &hs);
}

/* ------------------------------------------------------------------ */
/* Pairs, children, adopted handles */

/* Two connected channel objects, a's from pa and b's from pb (NULL:
 * private pools); on failure neither exists. */
static apr_status_t pair_create(xpipe_t **a, xpipe_t **b,
                                const xpipe_attr_t *attr, apr_pool_t *pa,
                                apr_pool_t *pb)
{
    xpipe_t *x = NULL, *y = NULL;
    apr_status_t rv = chan_create(&x, &XPIPE__BACKEND, attr, pa);

    if (rv == APR_SUCCESS)
        rv = chan_create(&y, &XPIPE__BACKEND, attr, pb);
    if (rv == APR_SUCCESS)
        rv = x->o.be->pair
                 ? x->o.be->pair(&x->impl, &y->impl, attr, x->o.sub, y->o.sub)
                 : xpipe__not_offered(x->o.be, "pairs");
    if (rv != APR_SUCCESS) {
        if (y)
            obj_drop(&y->o);
        if (x)
            obj_drop(&x->o);
        return rv;
    }
    *a = x;
    *b = y;
    return APR_SUCCESS;
}

apr_status_t xpipe_pair(xpipe_t **a, xpipe_t **b, const xpipe_attr_t *attr,
                        apr_pool_t *pool)
{
    xpipe_t *x, *y;
    apr_status_t rv;

    xpipe__fail_clear();
    if (a == NULL || b == NULL)
        return APR_EINVAL;
    *a = *b = NULL;
    rv = pair_create(&x, &y, attr ? attr : xpipe__attr_defaults(), pool, pool);
    if (rv != APR_SUCCESS)
        return rv;
    chan_finish(a, x, rv);
    return chan_finish(b, y, rv);
}

apr_status_t xpipe_adopt(xpipe_t **channel, xpipe_os_handle_t handle,
                         const xpipe_attr_t *attr, apr_pool_t *pool)
{
    xpipe_t *ch;
    apr_status_t rv;

    xpipe__fail_clear();
    if (channel == NULL)
        return APR_EINVAL;
    *channel = NULL;
    if (attr == NULL)
        attr = xpipe__attr_defaults();
    rv = chan_create(&ch, &XPIPE__BACKEND, attr, pool);
    if (rv != APR_SUCCESS)
        return rv;
    rv = ch->o.be->adopt ? ch->o.be->adopt(&ch->impl, handle, attr, ch->o.sub)
                         : xpipe__not_offered(ch->o.be, "adoption");
    return chan_finish(channel, ch, rv);
}

apr_status_t xpipe_listener_adopt(xpipe_listener_t **listener,
                                  xpipe_os_handle_t handle,
                                  const xpipe_attr_t *attr, apr_pool_t *pool)
{
    xpipe_listener_t *l;
    apr_status_t rv;

    xpipe__fail_clear();
    if (listener == NULL)
        return APR_EINVAL;
    *listener = NULL;
    rv = lsn_create(&l, &XPIPE__BACKEND, attr, pool);
    if (rv != APR_SUCCESS)
        return rv;
    rv = l->o.be->listener_adopt
             ? l->o.be->listener_adopt(&l->impl, &l->native, handle, l->attr,
                                       l->o.sub)
             : xpipe__not_offered(l->o.be, "listener adoption");
    return lsn_finish(listener, l, rv);
}

/* The words after the handle's value in XPIPE_CHILD_ENV. */
static const char *child_env_words(const xpipe_attr_t *attr)
{
    return attr->mode == XPIPE_MODE_MESSAGE
               ? (attr->handles ? " message handles" : " message")
               : (attr->handles ? " byte handles" : " byte");
}

apr_status_t xpipe_spawn(apr_proc_t *proc, xpipe_t **channel,
                         const char *program, const char *const *argv,
                         const char *const *env, const xpipe_attr_t *attr,
                         apr_pool_t *pool)
{
    xpipe_t *mine = NULL, *theirs = NULL;
    apr_status_t rv;

    xpipe__fail_clear();
    if (proc == NULL || channel == NULL || program == NULL || *program == 0
        || argv == NULL || argv[0] == NULL)
        return APR_EINVAL;
    *channel = NULL;
    memset(proc, 0, sizeof(*proc));
    if (attr == NULL)
        attr = xpipe__attr_defaults();
    /* The child's end in a private pool: it goes right after the start. */
    rv = pair_create(&mine, &theirs, attr, pool, NULL);
    if (rv != APR_SUCCESS)
        return rv;
    chan_finish(channel, mine, rv);
    rv = mine->o.be->spawn
             ? mine->o.be->spawn(proc, mine->impl, theirs->impl, program, argv,
                                 env, child_env_words(attr), theirs->o.sub)
             : xpipe__not_offered(mine->o.be, "children");
    /* The child has its copy (or none): ours goes either way. */
    theirs->o.be->close(theirs->impl);
    obj_drop(&theirs->o);
    if (rv != APR_SUCCESS) {
        apr_status_t keep = rv;
        xpipe_close(*channel);
        *channel = NULL;
        return keep;
    }
    return APR_SUCCESS;
}

/* The next space-separated word of text (first call) or of the rest
 * (*at, text NULL), NUL-terminated in place; NULL when none is left. */
static char *child_env_word(char **at, char *text)
{
    char *p = text ? text : *at, *w;

    while (*p == ' ')
        p++;
    if (*p == 0) {
        *at = p;
        return NULL;
    }
    w = p;
    while (*p && *p != ' ')
        p++;
    if (*p)
        *p++ = 0;
    *at = p;
    return w;
}

apr_status_t xpipe_child_channel(xpipe_t **channel, const xpipe_attr_t *attr,
                                 apr_pool_t *pool)
{
    apr_pool_t *tmp;
    char *value = NULL, *mode, *more, *last = NULL;
    xpipe_os_handle_t h;
    xpipe_attr_t *a;
    apr_status_t rv;

    xpipe__fail_clear();
    if (channel == NULL)
        return APR_EINVAL;
    *channel = NULL;
    rv = apr_pool_create(&tmp, NULL);
    if (rv != APR_SUCCESS)
        return rv;
    if (apr_env_get(&value, XPIPE_CHILD_ENV, tmp) != APR_SUCCESS) {
        apr_pool_destroy(tmp);
        return xpipe__fail(XPIPE_ENOPIPE,
                           "no " XPIPE_CHILD_ENV " in the environment: "
                           "this process was not started by xpipe_spawn");
    }
    a = xpipe__attr_copy(attr ? attr : xpipe__attr_defaults(), tmp);
    value = child_env_word(&last, value);
    mode = child_env_word(&last, NULL);
    more = child_env_word(&last, NULL);
    if (child_env_word(&last, NULL))
        mode = NULL; /* a fourth word: not ours */
    rv = value && mode
                 && (strcmp(mode, "message") == 0 || strcmp(mode, "byte") == 0)
                 && (more == NULL || strcmp(more, "handles") == 0)
             ? (XPIPE__BACKEND.handle_parse
                    ? XPIPE__BACKEND.handle_parse(&h, value)
                    : xpipe__not_offered(&XPIPE__BACKEND, "children"))
             : XPIPE_EBADHANDLE;
    if (rv == APR_SUCCESS && attr
        && (strcmp(mode, "message") == 0) != (a->mode == XPIPE_MODE_MESSAGE))
        rv = xpipe__fail(XPIPE_EMODE, XPIPE_CHILD_ENV " names a %s channel",
                         mode);
    if (rv == APR_SUCCESS && attr && (more != NULL) != (attr->handles != 0))
        rv = xpipe__fail(XPIPE_EMODE,
                         "the parent's channel %s handles; attr says the "
                         "opposite",
                         more ? "carries" : "carries no");
    if (rv == APR_SUCCESS) {
        a->handles = more != NULL;
        if (attr == NULL)
            a->mode = strcmp(mode, "message") == 0 ? XPIPE_MODE_MESSAGE
                                                   : XPIPE_MODE_BYTE;
        rv = xpipe_adopt(channel, h, a, pool);
    }
    if (rv == APR_SUCCESS)
        apr_env_delete(XPIPE_CHILD_ENV, tmp);
    else if (rv == XPIPE_EBADHANDLE && !*xpipe_error_detail())
        xpipe__fail(rv, XPIPE_CHILD_ENV " names no channel");
    apr_pool_destroy(tmp);
    return rv;
}

apr_status_t xpipe_timeout_set(xpipe_t *channel, apr_interval_time_t timeout)
{
    apr_status_t rv = APR_SUCCESS;

    xpipe__fail_clear();
    if (channel == NULL || timeout < -1)
        return APR_EINVAL;
    apr_thread_mutex_lock(channel->o.g.lock);
    if (xpipe__guard_closed(&channel->o.g))
        rv = XPIPE_ECLOSED;
    else
        channel->timeout = timeout;
    apr_thread_mutex_unlock(channel->o.g.lock);
    return rv;
}

apr_interval_time_t xpipe_timeout_get(const xpipe_t *channel)
{
    return channel ? channel->timeout : -1;
}

xpipe_mode_e xpipe_mode_get(const xpipe_t *channel)
{
    return channel ? channel->mode : XPIPE_MODE_BYTE;
}

apr_status_t xpipe_interrupt(xpipe_t *channel)
{
    return obj_interrupt(channel ? &channel->o : NULL);
}

/* The channel calls outside the data path: checked, then one backend
 * call inside the guard (so close waits for it). */
typedef enum ctl_op_e { CTL_SHUTDOWN, CTL_PEER, CTL_HANDLE } ctl_op_e;

static apr_status_t chan_ctl(xpipe_t *ch, ctl_op_e op, void *out, int how)
{
    apr_status_t rv;

    xpipe__fail_clear();
    if (ch == NULL || (op != CTL_SHUTDOWN && out == NULL)
        || (op == CTL_SHUTDOWN
            && (how < XPIPE_SHUTDOWN_READ || how > XPIPE_SHUTDOWN_BOTH)))
        return APR_EINVAL;
    if (op == CTL_PEER)
        memset(out, 0, sizeof(xpipe_peer_t));
    if (op == CTL_HANDLE)
        memset(out, 0, sizeof(xpipe_os_handle_t));
    rv = xpipe__guard_enter(&ch->o.g);
    if (rv != APR_SUCCESS)
        return rv;
    switch (op) {
    case CTL_SHUTDOWN:
        rv = ch->o.be->shutdown
                 ? ch->o.be->shutdown(ch->impl, (xpipe_shutdown_e)how)
                 : xpipe__not_offered(ch->o.be, "half close");
        break;
    case CTL_PEER: rv = ch->o.be->peer_get(ch->impl, out, ch->o.sub); break;
    case CTL_HANDLE:
        rv = ch->o.be->os_handle_get
                 ? ch->o.be->os_handle_get(ch->impl, out)
                 : xpipe__not_offered(ch->o.be, "native handle");
        break;
    }
    return xpipe__guard_leave(&ch->o.g, rv);
}

apr_status_t xpipe_shutdown(xpipe_t *channel, xpipe_shutdown_e how)
{
    return chan_ctl(channel, CTL_SHUTDOWN, NULL, (int)how);
}

apr_status_t xpipe_close(xpipe_t *channel)
{
    return obj_close(channel ? &channel->o : NULL);
}

apr_status_t xpipe_peer_get(xpipe_t *channel, xpipe_peer_t *peer)
{
    return chan_ctl(channel, CTL_PEER, peer, 0);
}

apr_status_t xpipe_os_handle_get(xpipe_t *channel, xpipe_os_handle_t *handle)
{
    return chan_ctl(channel, CTL_HANDLE, handle, 0);
}
