/* SPDX-License-Identifier: Apache-2.0 */
/* channel.c — the generic layer's calls by name and on channels: the
 * library, names, listen/accept, the connect policy, the data path and
 * the channel's other calls. Each checks its arguments and the object's
 * state, then makes one call through the backend table (the objects'
 * lifetimes: object.c; pairs, children, adoption: child.c). Public API.
 * No OS code here.
 */
#include "object.h"

#include <apr_strings.h>
#include <apr_thread_mutex.h>
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
    rv = xpipe__listener_create(&l, NULL, attr, pool);
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
    return xpipe__listener_finish(listener, l, rv);
}

const char *xpipe_listener_native_name(const xpipe_listener_t *listener)
{
    return listener ? listener->native : NULL;
}

apr_status_t xpipe_listener_interrupt(xpipe_listener_t *listener)
{
    return xpipe__obj_interrupt(listener ? &listener->o : NULL);
}

apr_status_t xpipe_listener_close(xpipe_listener_t *l)
{
    return xpipe__obj_close(l ? &l->o : NULL);
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
        rv = xpipe__channel_create(&ch, listener->o.be, listener->attr, pool);
        if (rv != APR_SUCCESS)
            break;
        rv = ch->o.be->accept(&ch->impl, listener->impl, deadline, ch->o.sub);
        if (rv == APR_SUCCESS
            && xpipe__peer_check(ch, listener->attr) != APR_SUCCESS) {
            /* Refused: dropped unread, and we wait for the next client. */
            xpipe__log(listener->attr, "refused a client of %s: %s",
                       listener->native, xpipe_error_detail());
            ch->o.be->close(ch->impl);
            xpipe__obj_drop(&ch->o);
            continue;
        }
        rv = xpipe__channel_finish(channel, ch, rv);
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
    rv = xpipe__channel_create(&ch, NULL, attr, pool);
    if (rv != APR_SUCCESS)
        return rv;
    rv = name_resolve(&parsed, &native, &ch->o.be, name, ch->o.sub);
    if (rv == APR_SUCCESS)
        rv = connect_loop(ch, &parsed, native, attr, deadline);
    if (rv == APR_SUCCESS) {
        /* A server that does not qualify gets nothing: we have not sent. */
        rv = xpipe__peer_check(ch, attr);
        if (rv != APR_SUCCESS)
            ch->o.be->close(ch->impl);
    }
    return xpipe__channel_finish(channel, ch, rv);
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
    return xpipe__obj_interrupt(channel ? &channel->o : NULL);
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
    return xpipe__obj_close(channel ? &channel->o : NULL);
}

/* The smallest record a caller may have: this header's, the first with a
 * size. A later header's fields go after it. */
#define PEER_MIN sizeof(xpipe_peer_t)

apr_status_t xpipe_peer_get(xpipe_t *channel, xpipe_peer_t *peer)
{
    xpipe_peer_t full;
    apr_size_t size;
    apr_status_t rv;

    xpipe__fail_clear();
    if (peer == NULL)
        return APR_EINVAL;
    size = peer->size;
    if (size < PEER_MIN)
        return xpipe__fail(APR_EINVAL,
                           "the peer record's size is %lu: set it to "
                           "sizeof(xpipe_peer_t) (XPIPE_PEER_INIT)",
                           (unsigned long)size);
    rv = chan_ctl(channel, CTL_PEER, &full, 0);
    /* Ours in full, then what a larger (later) record has beyond it
     * zeroed: nothing past the caller's size is written. */
    memcpy(peer, &full, sizeof(full));
    if (size > sizeof(full))
        memset((char *)peer + sizeof(full), 0, size - sizeof(full));
    peer->size = size;
    return rv;
}

apr_status_t xpipe_os_handle_get(xpipe_t *channel, xpipe_os_handle_t *handle)
{
    return chan_ctl(channel, CTL_HANDLE, handle, 0);
}
