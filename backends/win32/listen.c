/* SPDX-License-Identifier: Apache-2.0 */
/* listen.c — the Win32 listener: N pending instances (an overlapped
 * ConnectNamedPipe on each), the first claiming the name, each with the
 * listener's security descriptor; accept takes a connected one.
 */
#include "win32.h"

#include <apr_strings.h>

#include <sddl.h>

#include <stdlib.h>
#include <string.h>

apr_status_t xpipe__win32_sd(const char *sddl, SECURITY_ATTRIBUTES *sa,
                             PSECURITY_DESCRIPTOR *sd, apr_pool_t *pool)
{
    const char *me;
    wchar_t *w;
    apr_status_t rv;

    if (sddl == NULL) {
        rv = xpipe__win32_token_sid(GetCurrentProcess(), &me, pool);
        if (rv != APR_SUCCESS)
            return rv;
        sddl = apr_psprintf(pool, "D:P(A;;GA;;;SY)(A;;GA;;;%s)", me);
    }
    w = xpipe__win32_wide(sddl, pool);
    if (w == NULL
        || !ConvertStringSecurityDescriptorToSecurityDescriptorW(
            w, SDDL_REVISION_1, sd, NULL))
        return APR_EINVAL; /* the SDDL string does not parse */
    sa->nLength = sizeof(*sa);
    sa->lpSecurityDescriptor = *sd;
    sa->bInheritHandle = FALSE;
    return APR_SUCCESS;
}

HANDLE xpipe__win32_pipe_new(const wchar_t *wname, const xpipe_attr_t *a,
                             int first, DWORD instances,
                             SECURITY_ATTRIBUTES *sa, DWORD *err)
{
    DWORD mode = a->mode == XPIPE_MODE_MESSAGE
                     ? PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE
                     : PIPE_TYPE_BYTE | PIPE_READMODE_BYTE;
    DWORD open = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    DWORD out = a->out_buffer ? (DWORD)a->out_buffer : 65536;
    DWORD in = a->in_buffer ? (DWORD)a->in_buffer : 65536;
    HANDLE h;

    /* As on POSIX, one whole message of the maximum size fits the buffer,
     * so a send does not wait for the reader unless messages pile up. */
    if (a->mode == XPIPE_MODE_MESSAGE && !a->out_buffer && out < a->max_message)
        out = (DWORD)a->max_message;
    if (a->mode == XPIPE_MODE_MESSAGE && !a->in_buffer && in < a->max_message)
        in = (DWORD)a->max_message;
    /* Exported (smb_export): the OS's own SMB server serves the name. */
    if (!a->remote && !a->smb_export)
        mode |= PIPE_REJECT_REMOTE_CLIENTS;
    if (first)
        open |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    h = win32_sys.create_named_pipe(wname, open, mode | PIPE_WAIT, instances,
                                    out, in, 0, sa);
    *err = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    return h;
}

/* A new instance of the listener's pipe (fast: of the fast path's
 * name). Unlimited: accepted channels count as instances too. */
static HANDLE win32_instance_new(xpipe__lsn_t *l, int fast, int first,
                                 DWORD *err)
{
    return xpipe__win32_pipe_new(fast ? l->fname : l->wname,
                                 fast ? l->fattr : l->attr, first,
                                 PIPE_UNLIMITED_INSTANCES, &l->sa, err);
}

/* Start waiting for a client on a slot, creating its instance if needed. */
static apr_status_t win32_arm(xpipe__lsn_t *l, xpipe__win32_inst_t *s)
{
    DWORD err;
    int tries;

    if (s->pipe == INVALID_HANDLE_VALUE) {
        s->pipe = win32_instance_new(l, s->fast, 0, &err);
        if (s->pipe == INVALID_HANDLE_VALUE) {
            s->state = SLOT_EMPTY;
            return win32_os_status(err);
        }
    }
    for (tries = 0; tries < 2; tries++) {
        memset(&s->ov, 0, sizeof(s->ov));
        s->ov.hEvent = l->notify ? l->notify : l->ev;
        err =
            win32_sys.connect_named_pipe(s->pipe, &s->ov) ? 0 : GetLastError();
        switch (err) {
        case ERROR_IO_PENDING: s->state = SLOT_PENDING; return APR_SUCCESS;
        case 0:
        case ERROR_PIPE_CONNECTED: /* connected between create and connect */
            s->state = SLOT_READY;
            SetEvent(s->ov.hEvent); /* no completion will tell */
            return APR_SUCCESS;
        case ERROR_NO_DATA: /* a client came and went: recycle, try again */
            win32_sys.disconnect_named_pipe(s->pipe);
            continue;
        default: break;
        }
        break;
    }
    win32_sys.close_handle(s->pipe);
    s->pipe = INVALID_HANDLE_VALUE;
    s->state = SLOT_EMPTY;
    return win32_os_status(err);
}

/* Claim wname with slot s's first instance. FILE_FLAG_FIRST_PIPE_INSTANCE
 * makes that fail on Windows when a server exists (ERROR_ACCESS_DENIED);
 * Wine ignores the flag, so also count the instances: more than ours
 * (this one and our channels from earlier listeners) means another
 * server owns the name. Under the names lock. */
static apr_status_t win32_claim(xpipe__lsn_t *l, xpipe__win32_inst_t *s,
                                const wchar_t *wname, const char *native)
{
    long ours = xpipe__win32_names_add(wname, 0);
    DWORD err, count = 0;

    s->pipe = win32_instance_new(l, s->fast, ours == 0, &err);
    if (s->pipe == INVALID_HANDLE_VALUE)
        return err == ERROR_ACCESS_DENIED || err == ERROR_PIPE_BUSY
                   ? xpipe__fail(XPIPE_EINUSE, "another server owns pipe %s%s",
                                 native,
                                 s->fast ? " (its fast path's name)" : "")
               : err == ERROR_INVALID_NAME || err == ERROR_BAD_PATHNAME
                   ? xpipe__fail(XPIPE_EBADNAME, "Windows refuses the name %s",
                                 native)
                   : win32_os_status(err);
    if (!win32_sys.get_named_pipe_handle_state(s->pipe, NULL, &count, NULL,
                                               NULL, NULL, 0))
        return win32_os_status(GetLastError());
    if ((long)count != 1 + ours)
        return xpipe__fail(XPIPE_EINUSE,
                           "pipe %s%s has %lu instances besides ours: another "
                           "server owns it",
                           native, s->fast ? " (its fast path's name)" : "",
                           (unsigned long)count - 1 - (unsigned long)ours);
    return APR_SUCCESS;
}

apr_status_t xpipe__win32_listen(xpipe__lsn_t **out, const xpipe__name_t *name,
                                 const char *native, const xpipe_attr_t *attr,
                                 apr_pool_t *pool)
{
    xpipe__lsn_t *l = apr_pcalloc(pool, sizeof(*l));
    wchar_t fw[WIN32_NAME_MAX + 1];
    apr_status_t rv;
    int i;

    (void)name;
    l->attr = attr;
    l->n = attr->instances;
    l->wname = xpipe__win32_wide(native, pool);
    if (l->wname == NULL)
        return xpipe__fail(XPIPE_EBADNAME, "%s does not convert to UTF-16",
                           native);
    /* The fast path: as many instances again, on its own name. */
    if (xpipe__win32_fast_ring(attr) > 0
        && xpipe__win32_fast_name(l->wname, attr->mode == XPIPE_MODE_MESSAGE,
                                  fw)
               == 0) {
        xpipe_attr_t *fa = apr_pmemdup(pool, attr, sizeof(*attr));
        fa->mode = XPIPE_MODE_MESSAGE;
        fa->remote = 0;
        fa->smb_export = 0;
        l->fattr = fa;
        l->fname = apr_pmemdup(pool, fw, (wcslen(fw) + 1) * sizeof(wchar_t));
        l->n *= 2;
    }
    /* Every instance gets the attribute's descriptor, or by default full
     * access for the creating user and SYSTEM, nobody else, with no
     * inherited entries ("P"). */
    rv = xpipe__win32_sd(attr->sddl, &l->sa, &l->sd, pool);
    if (rv != APR_SUCCESS)
        return rv;
    l->slot = calloc((apr_size_t)l->n, sizeof(xpipe__win32_inst_t));
    if (l->slot == NULL)
        return APR_ENOMEM;
    for (i = 0; i < l->n; i++) {
        l->slot[i].pipe = INVALID_HANDLE_VALUE;
        l->slot[i].fast = l->fname && i >= l->n / 2;
    }
    l->ev = win32_sys.create_event(NULL, TRUE, FALSE, NULL);
    l->wake = win32_sys.create_event(NULL, TRUE, FALSE, NULL);
    InitializeCriticalSection(&l->lock);
    /* The first instance of each name claims it. */
    xpipe__win32_names_lock();
    rv = win32_claim(l, &l->slot[0], l->wname, native);
    if (rv == APR_SUCCESS && l->fname)
        rv = win32_claim(l, &l->slot[l->n / 2], l->fname, native);
    xpipe__win32_names_unlock();
    for (i = 0; i < l->n && rv == APR_SUCCESS; i++)
        rv = win32_arm(l, &l->slot[i]);
    if (rv != APR_SUCCESS) {
        xpipe__win32_listener_close(l);
        return rv;
    }
    *out = l;
    return APR_SUCCESS;
}

/* Under the lock: a cancelled connect that has ended becomes what its end
 * says: a client (it came before the cancel), or a connect issued again
 * on the listener's current event. */
static void win32_settle(xpipe__lsn_t *l, xpipe__win32_inst_t *s)
{
    DWORD n;

    if (s->state != SLOT_CANCELLING || !HasOverlappedIoCompleted(&s->ov))
        return;
    if (win32_sys.get_overlapped_result(s->pipe, &s->ov, &n, FALSE)) {
        s->state = SLOT_READY;
        SetEvent(l->notify ? l->notify : l->ev); /* look again */
        return;
    }
    if (GetLastError() != ERROR_OPERATION_ABORTED)
        win32_sys.disconnect_named_pipe(s->pipe); /* failed: recycle */
    win32_arm(l, s);
}

/* Under the lock: is a client connected and not yet accepted? (*settling:
 * is a cancelled connect still to end, whose end nothing signals.) */
static int win32_ready_locked(xpipe__lsn_t *l, int *settling)
{
    int i, ready = 0;

    *settling = 0;
    for (i = 0; i < l->n; i++) {
        xpipe__win32_inst_t *s = &l->slot[i];
        win32_settle(l, s);
        if (s->state == SLOT_READY
            || (s->state == SLOT_PENDING && HasOverlappedIoCompleted(&s->ov)))
            ready = 1;
        *settling |= s->state == SLOT_CANCELLING;
    }
    return ready;
}

/* Under the lock: hand out a slot whose client is connected, if any
 * (*fast: on the fast path's name). Completed-but-failed connects are
 * re-armed on the way. */
static HANDLE win32_take_ready(xpipe__lsn_t *l, int *fast)
{
    DWORD n;
    int i;

    for (i = 0; i < l->n; i++) {
        xpipe__win32_inst_t *s = &l->slot[i];
        HANDLE h;

        if (s->state == SLOT_EMPTY)
            win32_arm(l, s); /* try again to refill it */
        win32_settle(l, s);
        if (s->state == SLOT_PENDING && HasOverlappedIoCompleted(&s->ov)) {
            if (win32_sys.get_overlapped_result(s->pipe, &s->ov, &n, FALSE))
                s->state = SLOT_READY;
            else {
                win32_sys.disconnect_named_pipe(s->pipe);
                win32_arm(l, s);
            }
        }
        if (s->state != SLOT_READY)
            continue;
        h = s->pipe;
        *fast = s->fast;
        s->pipe = INVALID_HANDLE_VALUE;
        win32_arm(l, s); /* a fresh instance keeps the slot pending */
        /* A client that connected and left without writing anything is
         * not worth a channel (a client of the other mode does that). */
        if (!win32_sys.peek_named_pipe(h, NULL, 0, NULL, &n, NULL)
            && GetLastError() == ERROR_BROKEN_PIPE) {
            win32_sys.close_handle(h);
            i = -1; /* look again from the start */
            continue;
        }
        return h;
    }
    return INVALID_HANDLE_VALUE;
}

apr_status_t xpipe__win32_accept(xpipe__chan_t **out, xpipe__lsn_t *l,
                                 apr_time_t deadline, apr_pool_t *pool)
{
    HANDLE evs[2];
    HANDLE h;
    DWORD w, ms;
    int i, k, ms_left, pending, settling, in_set, reset = 0, fast = 0;

    for (;;) {
        EnterCriticalSection(&l->lock);
        /* Before a wait, reset, then look again: a connect completing
         * after that look sets the event again. A look that finds a
         * client needs no reset. In a poll set the event is the set's
         * to reset. */
        in_set = l->notify != NULL;
        if (reset && !in_set)
            ResetEvent(l->ev);
        h = win32_take_ready(l, &fast);
        for (pending = settling = 0, i = 0; i < l->n; i++) {
            pending += l->slot[i].state == SLOT_PENDING;
            settling += l->slot[i].state == SLOT_CANCELLING;
        }
        LeaveCriticalSection(&l->lock);
        k = 0;
        if (pending && !in_set)
            evs[k++] = l->ev;
        if (h != INVALID_HANDLE_VALUE) {
            const wchar_t *wn = fast ? l->fname : l->wname;
            apr_status_t rv = xpipe__win32_chan_new(out, h, 1, l->attr, pool);
            if (rv == APR_SUCCESS) {
                (*out)->wname =
                    apr_pmemdup(pool, wn, (wcslen(wn) + 1) * sizeof(wchar_t));
                xpipe__win32_names_lock();
                xpipe__win32_names_add((*out)->wname, 1);
                xpipe__win32_names_unlock();
                if (fast)
                    rv = xpipe__win32_fast_offer(*out, l->attr, pool);
            }
            return rv;
        }
        if (!reset && !in_set && pending) {
            reset = 1; /* look again, after the reset */
            continue;
        }
        reset = 0;
        evs[k++] = l->wake;
        ms_left = xpipe__remaining_ms(deadline);
        ms = ms_left < 0 ? INFINITE : (DWORD)ms_left;
        /* With no slot pending (none could be created), poll for a retry;
         * in a poll set, whose event other members set too, look again
         * every XPIPE__WIN32_RECHECK_MS (a blocking accept on a
         * listener in a set: the set is the way to wait for it). */
        if ((in_set || settling)
            && (ms == INFINITE || ms > XPIPE__WIN32_RECHECK_MS))
            ms = XPIPE__WIN32_RECHECK_MS;
        else if (k == 1 && (ms == INFINITE || ms > 100))
            ms = 100;
        w = win32_sys.wait_for_multiple_objects((DWORD)k, evs, FALSE, ms);
        if (w == WAIT_OBJECT_0 + (DWORD)k - 1)
            return XPIPE_ECANCELED;
        if (w == WAIT_TIMEOUT && xpipe__remaining_ms(deadline) == 0)
            return APR_TIMEUP;
        if (w == WAIT_FAILED)
            return win32_os_status(GetLastError());
        /* A slot's event fired (several threads may see it): look again. */
    }
}

void xpipe__win32_listener_notify(xpipe__lsn_t *l, HANDLE ev)
{
    int i, settling;

    EnterCriticalSection(&l->lock);
    l->notify = ev;
    for (i = 0; i < l->n; i++) {
        xpipe__win32_inst_t *s = &l->slot[i];
        if (s->state != SLOT_PENDING)
            continue;
        /* Its event was fixed when it was issued: issue it again once the
         * cancel has ended (win32_settle, now or at a later look). A
         * client that connected meanwhile stays connected. */
        win32_sys.cancel_io_ex(s->pipe, &s->ov);
        s->state = SLOT_CANCELLING;
    }
    if (win32_ready_locked(l, &settling))
        SetEvent(ev ? ev : l->ev);
    LeaveCriticalSection(&l->lock);
}

int xpipe__win32_listener_ready(xpipe__lsn_t *l, int *settling)
{
    int ready, dummy;

    EnterCriticalSection(&l->lock);
    ready = win32_ready_locked(l, settling ? settling : &dummy);
    LeaveCriticalSection(&l->lock);
    return ready;
}

apr_status_t xpipe__win32_listener_os_handle_get(xpipe__lsn_t *l,
                                                 xpipe_os_handle_t *handle)
{
    handle->handle = l->ev;
    return APR_SUCCESS;
}

apr_status_t xpipe__win32_listener_wake(xpipe__lsn_t *l, int closing)
{
    (void)closing; /* the event reaches every wait at once */
    SetEvent(l->wake);
    return APR_SUCCESS;
}

apr_status_t xpipe__win32_listener_unwake(xpipe__lsn_t *l)
{
    ResetEvent(l->wake);
    return APR_SUCCESS;
}

apr_status_t xpipe__win32_listener_close(xpipe__lsn_t *l)
{
    DWORD n;
    int i, unsettled = 0;

    for (i = 0; l->slot && i < l->n; i++) {
        xpipe__win32_inst_t *s = &l->slot[i];
        if (s->pipe != INVALID_HANDLE_VALUE) {
            if (s->state == SLOT_PENDING)
                win32_sys.cancel_io_ex(s->pipe, &s->ov);
            /* The OVERLAPPED is written when the connect ends: it must
             * not be freed before (a connect issued by a thread that
             * never waits again may not end under Wine: then the slots
             * stay allocated). */
            if ((s->state == SLOT_PENDING || s->state == SLOT_CANCELLING)
                && !xpipe__win32_io_settle(s->pipe, &s->ov, &n, 2000)
                && GetLastError() == ERROR_IO_INCOMPLETE)
                unsettled = 1;
            /* A connected, never accepted client reads end of stream. */
            win32_sys.close_handle(s->pipe);
        }
    }
    if (!unsettled)
        free(l->slot);
    l->slot = NULL;
    win32_sys.close_handle(l->ev);
    win32_sys.close_handle(l->wake);
    DeleteCriticalSection(&l->lock);
    LocalFree(l->sd);
    return APR_SUCCESS;
}
