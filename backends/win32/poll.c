/* SPDX-License-Identifier: Apache-2.0 */
/* poll.c — the Win32 backend's poll sets, without a thread per pipe: an
 * I/O completion port and one manual-reset event (the set's waitable
 * handle). A channel wanted for XPIPE_POLLIN has a zero-byte overlapped
 * ReadFile in flight, issued by the polling thread: it completes when
 * data, a message or the end arrives, takes nothing, and queues a packet
 * (and sets the event). Listeners' pending ConnectNamedPipe calls signal
 * the event. xpipe's own reads and writes on the same handles never reach
 * the port (xpipe__win32_quiet). Windows tells of free pipe buffer space
 * only to a write in flight: XPIPE_POLLOUT is reported while the last
 * write did not find the pipe full, and again XPIPE__WIN32_RECHECK_MS
 * after it did.
 */
#include "win32.h"

#include <stdlib.h>
#include <string.h>

/* A member's state here. Freed when it has left the set and no packet of
 * its read can come any more. */
typedef struct win32_pm_t {
    OVERLAPPED ov;  /* the zero-byte read; first: packets map back */
    xpipe__pm_t *m; /* NULL once removed */
    HANDLE pipe;    /* a channel's */
    HANDLE sig;     /* the set's event, which the read sets too */
    xpipe__pset_t *ps;
    int pending; /* a read in flight: its packet is still to come */
    int done;    /* it completed: readable, not yet reported */
    struct win32_pm_t *prev, *next; /* listeners, and channels for OUT */
} win32_pm_t;

struct xpipe__pset_t {
    HANDLE port;
    HANDLE sig;
    win32_pm_t watch; /* list head: listeners and XPIPE_POLLOUT channels */
    long zombies;     /* removed, their read's packet still to come */
    /* A wake-up, or a member added: set before sig, so one that comes
     * between the wait's reset of sig and its wait is not lost. */
    volatile LONG poke;
    /* A fast channel was reported (the polling thread's): collect keeps
     * the event set, for the next poll asks it again. */
    int fast_reported;
    OVERLAPPED_ENTRY ent[128];
    ULONG got;
};

apr_status_t xpipe__win32_pset_create(xpipe__pset_t **out, apr_uint32_t size,
                                      apr_pool_t *pool)
{
    xpipe__pset_t *ps = apr_pcalloc(pool, sizeof(*ps));

    (void)size;
    ps->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    if (ps->port == NULL)
        return win32_os_status(GetLastError());
    ps->sig = win32_sys.create_event(NULL, TRUE, FALSE, NULL);
    if (ps->sig == NULL) {
        apr_status_t rv = win32_os_status(GetLastError());
        win32_sys.close_handle(ps->port);
        return rv;
    }
    ps->watch.next = ps->watch.prev = &ps->watch;
    *out = ps;
    return APR_SUCCESS;
}

static void watch_add(xpipe__pset_t *ps, win32_pm_t *r)
{
    r->next = ps->watch.next;
    r->prev = &ps->watch;
    r->next->prev = r;
    ps->watch.next = r;
}

apr_status_t xpipe__win32_pset_add(xpipe__pset_t *ps, xpipe__pm_t *m)
{
    win32_pm_t *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return APR_ENOMEM;
    r->m = m;
    r->ps = ps;
    if (m->chan) {
        xpipe__chan_t *c = m->chan;
        if (c->port && c->port != ps->port) {
            free(r);
            return xpipe__fail(APR_EBUSY, "the channel's handle is bound to "
                                          "another poll set's port");
        }
        if (c->port == NULL) {
            if (CreateIoCompletionPort(c->pipe, ps->port, 0, 0) == NULL) {
                apr_status_t rv = win32_os_status(GetLastError());
                free(r);
                return rv;
            }
            c->port = ps->port;
        }
        r->pipe = c->pipe;
        r->sig = ps->sig;
        if (m->desc.reqevents & XPIPE_POLLOUT)
            watch_add(ps, r);
        /* On the fast path the peer rings the pipe: the set's read
         * hears that, for room as for data. */
        if (c->fast)
            xpipe__win32_fast_bell(c);
    }
    else {
        watch_add(ps, r);
        xpipe__win32_listener_notify(m->lsn, ps->sig);
    }
    m->be = r;
    /* The polling thread issues the read (lib/ asks pm_ready before it
     * waits): a poll in flight looks again. */
    xpipe__win32_pset_wakeup(ps);
    return APR_SUCCESS;
}

void xpipe__win32_pset_remove(xpipe__pset_t *ps, xpipe__pm_t *m)
{
    win32_pm_t *r = m->be;

    if (r->next) {
        r->prev->next = r->next;
        r->next->prev = r->prev;
        r->next = r->prev = NULL;
    }
    if (m->lsn)
        xpipe__win32_listener_notify(m->lsn, NULL);
    m->be = NULL;
    r->m = NULL;
    if (r->pending) { /* its packet frees it */
        win32_sys.cancel_io_ex(r->pipe, &r->ov);
        ps->zombies++;
    }
    else
        free(r);
}

/* Take the packets queued, without waiting. */
static void win32_drain(xpipe__pset_t *ps, DWORD ms)
{
    ULONG n = 0;

    if (ps->got < sizeof(ps->ent) / sizeof(ps->ent[0])
        && GetQueuedCompletionStatusEx(
            ps->port, ps->ent + ps->got,
            (ULONG)(sizeof(ps->ent) / sizeof(ps->ent[0])) - ps->got, &n, ms,
            FALSE))
        ps->got += n;
}

/* How long until a member being watched needs a look (0: now), at most
 * ms. */
static DWORD win32_watch_ms(xpipe__pset_t *ps, DWORD ms)
{
    apr_time_t now = apr_time_now();
    win32_pm_t *r;

    for (r = ps->watch.next; r != &ps->watch && ms > 0; r = r->next) {
        xpipe__pm_t *m = r->m;
        if (m->lsn) {
            int settling;
            if (xpipe__win32_listener_ready(m->lsn, &settling))
                ms = 0;
            else if (settling && ms > XPIPE__WIN32_RECHECK_MS)
                ms = XPIPE__WIN32_RECHECK_MS;
        }
        else if (!m->chan->full)
            ms = 0;
        else {
            apr_time_t at =
                m->chan->full_at + XPIPE__WIN32_RECHECK_MS * (apr_time_t)1000;
            DWORD left = at <= now ? 0 : (DWORD)((at - now + 999) / 1000);
            if (left < ms)
                ms = left;
        }
    }
    return ms;
}

apr_status_t xpipe__win32_pset_wait(xpipe__pset_t *ps, apr_time_t deadline)
{
    int left = xpipe__remaining_ms(deadline);
    DWORD ms = left < 0 ? INFINITE : (DWORD)left, w;
    LONG poked;

    ps->got = 0;
    win32_drain(ps, 0);
    if (ps->got)
        return APR_SUCCESS;
    /* Reset, then look: what completes after the reset sets it again.
     * A poke (a wake-up, a member added) returns at once, but through
     * collect: the reset may have cleared what a listener's connect had
     * set, and collect sets the event again while anything is ready
     * (lib/ tells a wake-up by its own flag). Returning without it lost
     * a connect for loops that poll only when the event is set. */
    ResetEvent(ps->sig);
    poked = InterlockedExchange(&ps->poke, 0);
    win32_drain(ps, 0);
    if (ps->got || poked)
        return APR_SUCCESS;
    ms = win32_watch_ms(ps, ms);
    if (ms == 0)
        return APR_SUCCESS;
    w = WaitForSingleObject(ps->sig, ms);
    if (w == WAIT_FAILED)
        return win32_os_status(GetLastError());
    win32_drain(ps, 0);
    InterlockedExchange(&ps->poke, 0);
    /* Signalled: a packet, a listener, or a wake-up (lib/ tells). */
    return w == WAIT_OBJECT_0 || ps->got || win32_watch_ms(ps, 1) == 0
               ? APR_SUCCESS
               : APR_TIMEUP;
}

void xpipe__win32_pset_collect(xpipe__pset_t *ps, xpipe__pm_found_fn found,
                               void *baton)
{
    win32_pm_t *r;
    ULONG i;
    int again;

    for (i = 0; i < ps->got; i++) {
        OVERLAPPED_ENTRY *e = &ps->ent[i];
        r = (win32_pm_t *)e->lpOverlapped;
        r->pending = 0;
        if (r->m == NULL) {
            free(r);
            ps->zombies--;
            continue;
        }
        r->done = 1;
        found(baton, r->m, XPIPE_POLLIN);
    }
    again = ps->got > 0 || ps->fast_reported;
    ps->got = 0;
    ps->fast_reported = 0;
    for (r = ps->watch.next; r != &ps->watch; r = r->next) {
        xpipe__pm_t *m = r->m;
        found(baton, m, m->lsn ? XPIPE_POLLACCEPT : XPIPE_POLLOUT);
        again |=
            m->lsn ? xpipe__win32_listener_ready(m->lsn, NULL) : !m->chan->full;
    }
    /* Level, for loops that wait on the event: while something is ready
     * (or a reported channel's read is to be issued again, by the next
     * poll), the event stays set, so they poll again. */
    if (again)
        SetEvent(ps->sig);
}

apr_status_t xpipe__win32_pset_wakeup(xpipe__pset_t *ps)
{
    InterlockedExchange(&ps->poke, 1);
    if (!SetEvent(ps->sig))
        return win32_os_status(GetLastError());
    return APR_SUCCESS;
}

void xpipe__win32_pset_destroy(xpipe__pset_t *ps)
{
    apr_time_t until = apr_time_now() + 5 * APR_USEC_PER_SEC;

    /* The removed members' cancelled reads complete at once; their
     * packets free them. One that never completes keeps its memory (the
     * OS may still write to it). */
    while (ps->zombies > 0 && apr_time_now() < until) {
        ULONG i;
        ps->got = 0;
        win32_drain(ps, 100);
        for (i = 0; i < ps->got; i++) {
            win32_pm_t *r = (win32_pm_t *)ps->ent[i].lpOverlapped;
            if (r && r->m == NULL) {
                free(r);
                ps->zombies--;
            }
        }
    }
    win32_sys.close_handle(ps->port);
    win32_sys.close_handle(ps->sig);
}

apr_status_t xpipe__win32_pset_os_handle_get(xpipe__pset_t *ps,
                                             xpipe_os_handle_t *handle)
{
    handle->handle = ps->sig;
    return APR_SUCCESS;
}

/* Issue r's zero-byte read (the polling thread, with the set's lock). */
static void win32_arm_read(win32_pm_t *r)
{
    static char none[1];
    DWORD err;

    memset(&r->ov, 0, sizeof(r->ov));
    r->ov.hEvent = r->sig; /* a packet, and the set's event set */
    if (win32_sys.read_file(r->pipe, none, 0, NULL, &r->ov))
        err = 0;
    else
        err = GetLastError();
    /* Pending, done, or a message waiting (a warning, not an error):
     * a packet comes. An error (the end, a broken pipe) queues none:
     * readable now, for the read to report it. */
    if (err == 0 || err == ERROR_IO_PENDING || err == ERROR_MORE_DATA)
        r->pending = 1;
    else
        r->done = 1;
}

int xpipe__win32_pm_ready(xpipe__pm_t *m, int os)
{
    win32_pm_t *r = m->be;
    xpipe__chan_t *c = m->chan;
    int ev = 0;

    if (m->lsn)
        return os & XPIPE_POLLACCEPT
                       && xpipe__win32_listener_ready(m->lsn, NULL)
                   ? XPIPE_POLLACCEPT
                   : 0;
    if (c->fast) {
        int rung = r->done;
        r->done = 0;
        ev = xpipe__win32_fast_ready(c, m->desc.reqevents, rung);
        /* The next doorbell, data or end. Now, even when nothing is
         * reported: a doorbell may find the ring already read, and a
         * member not reported is not asked again. */
        if (!r->pending && !r->done)
            win32_arm_read(r);
        /* Level, for loops that wait on the set's event: a member
         * reported is asked again by the next poll (which arms the
         * doorbell once its ring is read), so that poll must come. */
        if (ev)
            r->ps->fast_reported = 1;
        return ev;
    }
    if ((os & XPIPE_POLLOUT)
        && (!c->full
            || apr_time_now() - c->full_at
                   >= XPIPE__WIN32_RECHECK_MS * (apr_time_t)1000))
        ev |= XPIPE_POLLOUT;
    if (!(m->desc.reqevents & XPIPE_POLLIN))
        return ev;
    if (c->held.data)
        return ev | XPIPE_POLLIN;
    if (os == 0 && !r->pending && !r->done)
        win32_arm_read(r); /* asked again: a fresh read */
    if (r->done) {
        r->done = 0; /* reported: the next poll issues a fresh read */
        ev |= XPIPE_POLLIN;
    }
    return ev;
}
