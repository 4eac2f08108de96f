/* SPDX-License-Identifier: Apache-2.0 */
/* fast.c — the shared-memory fast path on Windows
 * (docs/design/fast-path.md): the rings of lib/ring.c in an unnamed section, four
 * auto-reset events to sleep on, the peer's process to notice its end.
 *
 * Discovery: a pipe carries no ancillary data and names no client, so a
 * server that takes the fast path also listens on a second name, the
 * pipe's name plus ".xpipe-fast-b" or "-m" (the mode: a client of the
 * other mode never finds it and meets the usual mode check), made with
 * the same security descriptor, first-instance and instance-count checks
 * as the name itself. A client that asks opens that name first, and
 * keeps it only when the server's process runs as the same user as ours
 * (the one case where it may duplicate handles out of it); otherwise, or
 * when nobody listens there, it opens the name itself: the pipe as ever.
 *
 * On the second name the pipe carries framed messages (it is always of
 * message type), each a tag byte and a body:
 *   'F' offer   the server's first message: its ring's capacity, an id,
 *               the values of its section and four events in its own
 *               process (the client pulls them with DuplicateHandle: a
 *               value can only name the server's own objects, never one
 *               of the client's);
 *   'N'         the server's first message when it cannot offer;
 *   'D' data    what an end sends before it moves to the ring;
 *   'S'         "my data goes to the ring from now on";
 *   'b'         a doorbell (the peer waits in a poll set).
 * The server makes the memory at accept and offers it at once; the
 * client reads the offer before its first receive, or without waiting
 * at its sends number 1, 2, 4, 8..., checks it (capacity, the mapping of
 * that exact size, the id in the header, each event by setting it), and
 * attaches. Each end moves its sending to the ring once the peer has
 * attached, saying 'S' first; each reads the pipe until the peer's 'S',
 * then the ring. Nobody waits for the setup, and what either end sent
 * before is read first, in order. A client that refuses the offer
 * (logged) never attaches: both ends keep the framed pipe.
 *
 * Waits: on the end's event for the word it sleeps on, the channel's
 * wake event (interrupt, close) and the peer's process, so an interrupt,
 * a close and the peer's death are all seen at once. In a poll set the
 * word says BELL, and the peer's next move sends a doorbell on the pipe,
 * which the set's zero-byte read hears.
 */
#include "fastpipe.h"

#include <apr_strings.h>

#include <stdlib.h>
#include <string.h>

static const wchar_t fast_suffix[] = L".xpipe-fast-";

apr_size_t xpipe__win32_fast_ring(const xpipe_attr_t *attr)
{
    return xpipe__fast_ring_want(attr);
}

int xpipe__win32_fast_name(const wchar_t *wname, int message,
                           wchar_t out[WIN32_NAME_MAX + 1])
{
    size_t n = wcslen(wname), s = wcslen(fast_suffix);

    /* Local names only: the memory cannot cross machines. */
    if (wcsncmp(wname, L"\\\\.\\pipe\\", 9) != 0 || n + s + 1 > WIN32_NAME_MAX)
        return -1;
    memcpy(out, wname, n * sizeof(wchar_t));
    memcpy(out + n, fast_suffix, s * sizeof(wchar_t));
    out[n + s] = message ? L'm' : L'b';
    out[n + s + 1] = 0;
    return 0;
}

/* The event this end sleeps on for direction out (1: room to send, 0:
 * data to receive), and the one the peer sleeps on. */
static HANDLE fast_my_event(xpipe__win32_fast_t *f, int out)
{
    int tx = f->server ? 1 : 0, rx = 1 - tx;

    return out ? f->mem.ev[2 * tx + 1] : f->mem.ev[2 * rx];
}

static HANDLE fast_peer_event(xpipe__win32_fast_t *f, int out)
{
    int tx = f->server ? 1 : 0, rx = 1 - tx;

    return out ? f->mem.ev[2 * tx] : f->mem.ev[2 * rx + 1];
}

/* Let go of the memory and the events: the protocol has no ring. */
static void fast_unmap(xpipe__win32_fast_t *f)
{
    xpipe__win32_fast_mem_unmap(&f->mem);
    f->p.base = NULL;
}

static const xpipe__fast_os_t fast_os;

static xpipe__win32_fast_t *fast_new(xpipe__chan_t *c, const xpipe_attr_t *attr,
                                     int server, apr_uint32_t rx,
                                     apr_pool_t *pool)
{
    xpipe__win32_fast_t *f = apr_pcalloc(pool, sizeof(*f));

    xpipe__fast_init(&f->p, &fast_os, c, rx, TX_PIPE_WAIT);
    f->server = server;
    f->message = attr->mode == XPIPE_MODE_MESSAGE;
    f->max_message = attr->max_message;
    f->attr = attr;
    InitializeCriticalSection(&f->lock);
    InitializeCriticalSection(&f->post_lock);
    c->fast = f;
    return f;
}

/* A doorbell for a peer that waits in a poll set. */
static void fast_ring_bell(xpipe__chan_t *c)
{
    (void)xpipe__win32_fp_post(c, "b", 1);
}

/* Wake whoever waits on the peer's word of out as how says. */
static void fast_kick(xpipe__chan_t *c, int out, int how)
{
    if (how == XPIPE__RING_SLEEPS)
        win32_sys.set_event(fast_peer_event(c->fast, out));
    else if (how == XPIPE__RING_BELL)
        fast_ring_bell(c);
}

apr_status_t xpipe__win32_fast_offer(xpipe__chan_t *c, const xpipe_attr_t *attr,
                                     apr_pool_t *pool)
{
    xpipe__win32_fast_t *f = fast_new(c, attr, 1, RX_WATCH, pool);
    uint32_t cap = (uint32_t)xpipe__win32_fast_ring(attr),
             id = xpipe__win32_fast_id();
    unsigned char m[XPIPE__WIN32_OFFER_LEN];
    apr_status_t rv = APR_SUCCESS;
    xpipe__detail_t kept;
    ULONG pid = 0;

    xpipe__detail_save(&kept);
    /* The client's process, to notice its end while we sleep. */
    if (!GetNamedPipeClientProcessId(c->pipe, &pid)
        || (f->peer = OpenProcess(SYNCHRONIZE, FALSE, pid)) == NULL)
        rv = xpipe__fail(win32_os_status(GetLastError()),
                         "cannot open the client's process");
    if (rv == APR_SUCCESS && cap == 0)
        rv = APR_ENOTIMPL;
    if (rv == APR_SUCCESS)
        rv = xpipe__win32_fast_mem_make(&f->mem, cap, id);
    f->p.base = f->mem.base;
    if (rv == APR_SUCCESS)
        rv = xpipe__ring_attach(&f->p.ring, f->p.base, cap, 1, f->message,
                                f->max_message);
    if (rv != APR_SUCCESS) {
        xpipe__fast_log(attr, "not offered", rv, &kept);
        fast_unmap(f);
        /* The client keeps the framed pipe. A client gone already finds
         * out from the pipe: never accept's failure. */
        xpipe__a32_set(&f->p.tx, TX_PIPE);
        (void)xpipe__win32_fp_post(c, "N", 1);
        return APR_SUCCESS;
    }
    xpipe__win32_fast_mem_offer(&f->mem, cap, id, m);
    (void)xpipe__win32_fp_post(c, m, XPIPE__WIN32_OFFER_LEN);
    xpipe__detail_restore(&kept);
    return APR_SUCCESS;
}

apr_status_t xpipe__win32_fast_ask(xpipe__chan_t *c, const xpipe_attr_t *attr,
                                   HANDLE server, apr_pool_t *pool)
{
    xpipe__win32_fast_t *f = fast_new(c, attr, 0, RX_ANSWER, pool);

    f->peer = server;
    return APR_SUCCESS;
}

/* Check the server's offer (its body: n bytes at m), map it, attach. */
static apr_status_t fast_accept_offer(xpipe__win32_fast_t *f,
                                      const unsigned char *m, DWORD n)
{
    uint32_t cap;
    apr_status_t rv = xpipe__win32_fast_mem_take(&f->mem, f->peer, m, n,
                                                 f->max_message, &cap);

    f->p.base = f->mem.base;
    if (rv != APR_SUCCESS)
        return rv;
    return xpipe__ring_attach(&f->p.ring, f->p.base, cap, 0, f->message,
                              f->max_message);
}

/* Once the offer is read nothing more is pulled from the server: keep
 * only the right to wait for its end (PROCESS_DUP_HANDLE amounts to
 * full access). */
static void fast_peer_sync_only(xpipe__win32_fast_t *f)
{
    HANDLE sync = NULL;

    if (f->peer
        && DuplicateHandle(GetCurrentProcess(), f->peer, GetCurrentProcess(),
                           &sync, SYNCHRONIZE, FALSE, 0)) {
        win32_sys.close_handle(f->peer);
        f->peer = sync;
    }
}

/* The client: read the server's offer if not read yet, waiting until the
 * deadline for it to come. APR_SUCCESS once it is known. */
static apr_status_t fast_answer(xpipe__chan_t *c, apr_time_t deadline)
{
    xpipe__win32_fast_t *f = c->fast;
    apr_status_t rv = APR_SUCCESS;
    xpipe__detail_t kept;
    DWORD n = 0, avail = 0;

    EnterCriticalSection(&f->lock);
    if (xpipe__a32_get(&f->p.rx) != RX_ANSWER) {
        LeaveCriticalSection(&f->lock);
        return APR_SUCCESS;
    }
    /* Not waiting: only what is there. */
    if (xpipe__remaining_ms(deadline) == 0
        && win32_sys.peek_named_pipe(c->pipe, NULL, 0, NULL, &avail, NULL)
        && avail == 0) {
        LeaveCriticalSection(&f->lock);
        return APR_TIMEUP;
    }
    rv = xpipe__win32_fp_read_msg(c, &n, deadline);
    if (rv == APR_SUCCESS && n >= 1 && (f->in[0] == 'F' || f->in[0] == 'N')) {
        xpipe__detail_save(&kept);
        rv = f->in[0] == 'N' ? APR_ENOTIMPL
                             : fast_accept_offer(f, f->in + 1, n - 1);
        /* A server that has closed since lets its handles go only after
         * its pipe: nothing wrong then (it never switched). */
        if (rv != APR_SUCCESS && rv != APR_ENOTIMPL && rv != APR_EOF
            && !win32_sys.peek_named_pipe(c->pipe, NULL, 0, NULL, &avail, NULL)
            && GetLastError() == ERROR_BROKEN_PIPE)
            rv = APR_EOF;
        if (rv != APR_SUCCESS) {
            if (rv != APR_ENOTIMPL && rv != APR_EOF)
                xpipe__fast_log(f->attr, "refused", rv, &kept);
            xpipe__detail_restore(&kept);
            fast_unmap(f);
        }
        /* Before the sender can see the new state (it waits on peer). */
        fast_peer_sync_only(f);
        if (rv == APR_SUCCESS)
            xpipe__a32_set(&f->p.rx, RX_WATCH);
        else {
            xpipe__a32_set(&f->p.tx, TX_PIPE);
            xpipe__a32_set(&f->p.rx, RX_PLAIN);
        }
        rv = APR_SUCCESS;
    }
    else if (rv == APR_SUCCESS || rv == XPIPE_EMSGSIZE) {
        fast_peer_sync_only(f);
        xpipe__a32_set(&f->p.tx, TX_PIPE);
        xpipe__a32_set(&f->p.rx, RX_PLAIN);
        rv = xpipe__win32_fp_broken(c);
    }
    else
        rv = xpipe__win32_fp_status(rv);
    LeaveCriticalSection(&f->lock);
    return rv;
}

static int fast_cpu(void)
{
    return (int)GetCurrentProcessorNumber();
}

/* Take the doorbells (and any framing the peer sends after its 'S',
 * which there is none of); notice the pipe's end. */
static void fast_drain(xpipe__chan_t *c)
{
    xpipe__win32_fast_t *f = c->fast;
    DWORD avail, n;

    for (;;) {
        if (!win32_sys.peek_named_pipe(c->pipe, NULL, 0, NULL, &avail, NULL)) {
            xpipe__a32_set(&f->p.dead, 1);
            return;
        }
        if (avail == 0
            || xpipe__win32_fp_read_msg(c, &n, XPIPE__NOW) != APR_SUCCESS)
            return;
    }
}

/* The protocol's OS part (lib/fast.h), c being the channel. */

static void fast_kick_op(void *c, int out, int how)
{
    fast_kick(c, out, how);
}

/* On the ring's event, the peer's process and the thread's wake event
 * (if it can be made: else the wait runs to its deadline), so an
 * interrupt, a close and the peer's death are all seen at once. */
static apr_status_t fast_sleep_op(void *cv, int out, apr_time_t deadline)
{
    xpipe__chan_t *c = cv;
    xpipe__win32_fast_t *f = c->fast;
    HANDLE hs[3];
    DWORD w, ms;
    int slot, left;

    hs[0] = fast_my_event(f, out);
    hs[1] = f->peer;
    hs[2] = NULL;
    if (xpipe__win32_wake_enter(&c->wake, &hs[2], &slot) != APR_SUCCESS)
        w = WAIT_OBJECT_0 + 2;
    else
        for (;;) {
            left = xpipe__remaining_ms(deadline);
            ms = left < 0 ? INFINITE : (DWORD)left;
            w = win32_sys.wait_for_multiple_objects(hs[2] ? 3 : 2, hs, FALSE,
                                                    ms);
            /* A signal meant for an earlier wait of this thread: spent. */
            if (w == WAIT_OBJECT_0 + 2 && !xpipe__win32_wake_up(&c->wake))
                continue;
            if (w != WAIT_TIMEOUT || xpipe__remaining_ms(deadline) == 0)
                break; /* else woke a little early: rounding */
        }
    xpipe__win32_wake_leave(&c->wake, slot); /* -1 after a refusal */
    switch (w) {
    case WAIT_OBJECT_0: return APR_SUCCESS;
    case WAIT_OBJECT_0 + 1: xpipe__a32_set(&f->p.dead, 1); return APR_EOF;
    case WAIT_OBJECT_0 + 2: return XPIPE_ECANCELED;
    case WAIT_TIMEOUT: return APR_TIMEUP;
    default: return win32_os_status(GetLastError());
    }
}

static apr_status_t fast_answer_op(void *c, apr_time_t deadline)
{
    return fast_answer(c, deadline);
}

static apr_status_t fast_switch_op(void *c, apr_time_t deadline)
{
    return xpipe__win32_fp_say(c, 'S', NULL, 0, deadline, NULL);
}

static void fast_drain_op(void *c, int loop_rx)
{
    (void)loop_rx; /* the set's zero-byte read needs nothing taken */
    fast_drain(c);
}

static int fast_woken_op(void *c)
{
    return xpipe__win32_wake_up(&((xpipe__chan_t *)c)->wake);
}

static const xpipe__fast_os_t fast_os = {
    fast_kick_op,  fast_sleep_op, fast_answer_op, fast_switch_op,
    fast_drain_op, fast_woken_op, fast_cpu,
};

apr_status_t xpipe__win32_fast_io(xpipe__chan_t *c, int out, void *buf,
                                  apr_size_t *len, apr_time_t deadline)
{
    xpipe__win32_fast_t *f = c->fast;
    apr_status_t rv;

    if (xpipe__a32_get(&f->broken)) {
        *len = 0;
        return xpipe__win32_fp_broken(c);
    }
    if (out) {
        rv = xpipe__fast_tx(&f->p, deadline);
        if (rv == APR_SUCCESS)
            return xpipe__fast_ring_io(&f->p, 1, buf, len, deadline);
        if (rv == APR_EAGAIN)
            return xpipe__win32_fp_send(c, buf, len, deadline);
        *len = 0;
        return xpipe__win32_fp_send_status(rv);
    }
    if (xpipe__a32_get(&f->p.rx) == RX_ANSWER) {
        rv = fast_answer(c, deadline);
        if (rv != APR_SUCCESS) {
            *len = 0;
            return rv;
        }
    }
    if (xpipe__a32_get(&f->p.rx) != RX_RING) {
        apr_size_t want = *len;
        rv = xpipe__win32_fp_recv(c, buf, len, deadline);
        if (rv != APR_EAGAIN)
            return rv;
        *len = want;
    }
    return xpipe__fast_ring_io(&f->p, 0, buf, len, deadline);
}

int xpipe__win32_fast_ring_rx(const xpipe__chan_t *c)
{
    xpipe__win32_fast_t *f = c->fast;

    return f && xpipe__a32_get(&f->p.rx) == RX_RING;
}

void xpipe__win32_fast_close(xpipe__chan_t *c)
{
    xpipe__win32_fast_t *f = c->fast;

    xpipe__fast_shut(&f->p);
    if (f->posting) { /* the peer never read it: it goes with the pipe */
        DWORD n;
        win32_sys.cancel_io_ex(c->pipe, &f->post_ov);
        /* Over when its OVERLAPPED says, not its event (wait.c); a write
         * whose sender never waits again may stay unsettled under Wine
         * (2 s, then the channel goes anyway). */
        xpipe__win32_io_settle(c->pipe, &f->post_ov, &n, 2000);
    }
}

void xpipe__win32_fast_free(xpipe__chan_t *c)
{
    xpipe__win32_fast_t *f = c->fast;

    fast_unmap(f);
    if (f->peer)
        win32_sys.close_handle(f->peer);
    if (f->post_ev)
        win32_sys.close_handle(f->post_ev);
    free(f->in);
    free(f->out);
    DeleteCriticalSection(&f->post_lock);
    DeleteCriticalSection(&f->lock);
    c->fast = NULL;
}

void xpipe__win32_fast_bell(xpipe__chan_t *c)
{
    xpipe__a32_set(&((xpipe__win32_fast_t *)c->fast)->p.bell, 1);
}

int xpipe__win32_fast_ready(xpipe__chan_t *c, int req, int pipe_in)
{
    xpipe__win32_fast_t *f = c->fast;
    DWORD avail = 0;
    int ev;

    pipe_in =
        pipe_in
        || !win32_sys.peek_named_pipe(c->pipe, NULL, 0, NULL, &avail, NULL)
        || avail > 0;
    /* (What is held or left of a message counts as the pipe's data.) */
    ev = xpipe__fast_ready(&f->p, req,
                           pipe_in || c->held.data || f->part_len > 0);
    c->full = (req & XPIPE_POLLOUT) && !(ev & XPIPE_POLLOUT);
    if (c->full) /* the doorbell tells; a look now and then anyway */
        c->full_at = apr_time_now();
    return ev;
}
