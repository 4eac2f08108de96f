/* SPDX-License-Identifier: Apache-2.0 */
/* fast.c — the shared-memory fast path on Windows (docs/architecture.md
 * "The fast path"): the rings of lib/ring.c in an unnamed section, four
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
#include "win32.h"

#include "atomic.h"
#include "fast.h"
#include "ring.h"

#include <apr_strings.h>

#include <stdlib.h>
#include <string.h>

/* The protocol's states (lib/fast.h), the channel being the pipe. */
#define RX_ANSWER XPIPE__FAST_RX_ANSWER
#define RX_WATCH XPIPE__FAST_RX_WATCH
#define RX_RING XPIPE__FAST_RX_RING
#define RX_PLAIN XPIPE__FAST_RX_PLAIN
#define TX_PIPE_WAIT XPIPE__FAST_TX_WAIT
#define TX_RING XPIPE__FAST_TX_RING
#define TX_PIPE XPIPE__FAST_TX_PLAIN

/* The offer's layout: tag, three zero bytes, version, capacity, id, then
 * the section's and the four events' values (64-bit little-endian). */
#define FAST_OFFER_LEN 56
/* A byte-mode send before the switch goes in pipe messages this long. */
#define FAST_CHUNK 65536

static const wchar_t fast_suffix[] = L".xpipe-fast-";

struct xpipe__win32_fast_t {
    xpipe__fast_t p; /* the protocol: rings, states, bell, dead */
    HANDLE section;
    /* ev[2d]: direction d's consumer sleeps on it (data), ev[2d+1]: its
     * producer (room); d 0 is client to server. */
    HANDLE ev[4];
    HANDLE peer; /* the peer's process: SYNCHRONIZE (and DUP, a client's) */
    xpipe__a32_t broken;   /* the peer broke the framing: every call says so */
    CRITICAL_SECTION lock; /* the client reads the offer under it */
    int server, message;
    apr_size_t max_message;
    const xpipe_attr_t *attr;
    /* The receiver's: a pipe message read whole, and for byte mode what
     * is left of its body (at part, part_len bytes). */
    unsigned char *in;
    DWORD in_cap, part, part_len;
    unsigned char *out; /* the sender's framing buffer */
    DWORD out_cap;
    /* A write nobody waits for (the offer, doorbells): it completes when
     * the pipe has room, whatever the callers' deadlines. One at a time,
     * under post_lock; both of an end's threads ring. */
    CRITICAL_SECTION post_lock;
    OVERLAPPED post_ov;
    HANDLE post_ev;
    int posting;
    unsigned char post_buf[FAST_OFFER_LEN];
};

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

    return out ? f->ev[2 * tx + 1] : f->ev[2 * rx];
}

static HANDLE fast_peer_event(xpipe__win32_fast_t *f, int out)
{
    int tx = f->server ? 1 : 0, rx = 1 - tx;

    return out ? f->ev[2 * tx] : f->ev[2 * rx + 1];
}

/* Let go of the memory and the events (not of the peer's process). */
static void fast_unmap(xpipe__win32_fast_t *f)
{
    int i;

    if (f->p.base) {
        UnmapViewOfFile(f->p.base);
        f->p.base = NULL;
    }
    if (f->section) {
        win32_sys.close_handle(f->section);
        f->section = NULL;
    }
    for (i = 0; i < 4; i++)
        if (f->ev[i]) {
            win32_sys.close_handle(f->ev[i]);
            f->ev[i] = NULL;
        }
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

/* A buffer of at least n bytes in *b (cap *cap), kept for next time. */
static apr_status_t fast_room(unsigned char **b, DWORD *cap, DWORD n)
{
    unsigned char *nb;

    if (*cap >= n)
        return APR_SUCCESS;
    if ((nb = realloc(*b, n)) == NULL)
        return APR_ENOMEM;
    *b = nb;
    *cap = n;
    return APR_SUCCESS;
}

/* One framed message on the pipe: tag and body, whole, before the
 * deadline. *n gets the body's bytes that went (a byte-mode write cut
 * short by a deadline or an interrupt may report a part). */
static apr_status_t fast_say(xpipe__chan_t *c, char tag, const void *body,
                             DWORD len, apr_time_t deadline, DWORD *n)
{
    xpipe__win32_fast_t *f = c->fast;
    unsigned char one[1];
    unsigned char *m = one;
    apr_status_t rv;
    DWORD done = 0;

    if (len > 0) {
        rv = fast_room(&f->out, &f->out_cap, len + 1);
        if (rv != APR_SUCCESS)
            return rv;
        m = f->out;
        memcpy(m + 1, body, len);
    }
    m[0] = (unsigned char)tag;
    rv = xpipe__win32_io(c, 1, m, len + 1, deadline, &done);
    if (n)
        *n = done > 0 ? done - 1 : 0;
    return rv;
}

/* Under post_lock: is the last posted write still in flight? */
static int fast_posting(xpipe__chan_t *c)
{
    xpipe__win32_fast_t *f = c->fast;
    DWORD n;

    if (f->posting && HasOverlappedIoCompleted(&f->post_ov)) {
        win32_sys.get_overlapped_result(c->pipe, &f->post_ov, &n, FALSE);
        f->posting = 0;
    }
    return f->posting;
}

/* Post a framed message (len <= FAST_OFFER_LEN, tag included) that
 * must never be cut short: the offer, or a doorbell. A doorbell while
 * one is in flight is not needed: the peer has unread messages, which
 * ring. APR_SUCCESS, or the pipe's failure. */
static apr_status_t fast_post(xpipe__chan_t *c, const void *m, DWORD len)
{
    xpipe__win32_fast_t *f = c->fast;
    apr_status_t rv = APR_SUCCESS;
    BOOL ok;

    EnterCriticalSection(&f->post_lock);
    if (f->post_ev == NULL)
        f->post_ev = win32_sys.create_event(NULL, TRUE, FALSE, NULL);
    if (f->post_ev == NULL)
        rv = win32_os_status(GetLastError());
    else if (!fast_posting(c)) {
        memcpy(f->post_buf, m, len);
        memset(&f->post_ov, 0, sizeof(f->post_ov));
        /* Never a packet in a poll set's port. */
        f->post_ov.hEvent = xpipe__win32_quiet(f->post_ev);
        ok = win32_sys.write_file(c->pipe, f->post_buf, len, NULL, &f->post_ov);
        if (ok || GetLastError() == ERROR_IO_PENDING)
            f->posting = 1;
        else
            rv = win32_os_status(GetLastError());
    }
    LeaveCriticalSection(&f->post_lock);
    return rv;
}

/* A doorbell for a peer that waits in a poll set. */
static void fast_ring_bell(xpipe__chan_t *c)
{
    (void)fast_post(c, "b", 1);
}

/* Wake whoever waits on the peer's word of out as how says. */
static void fast_kick(xpipe__chan_t *c, int out, int how)
{
    if (how == XPIPE__RING_SLEEPS)
        win32_sys.set_event(fast_peer_event(c->fast, out));
    else if (how == XPIPE__RING_BELL)
        fast_ring_bell(c);
}

static uint32_t fast_id(void)
{
    uint32_t id;

    if (apr_generate_random_bytes((unsigned char *)&id, sizeof(id))
        != APR_SUCCESS)
        id = (uint32_t)apr_time_now() ^ (uint32_t)GetCurrentProcessId();
    return id;
}

/* Little-endian numbers of the offer, bytes long. */
static void fast_put(unsigned char *p, apr_uint64_t v, int bytes)
{
    int i;

    for (i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static apr_uint64_t fast_get(const unsigned char *p, int bytes)
{
    apr_uint64_t v = 0;

    while (bytes-- > 0)
        v = v << 8 | p[bytes];
    return v;
}

/* The server's memory: a section of the exact size, mapped and
 * formatted, and the four events. */
static apr_status_t fast_make(xpipe__win32_fast_t *f, uint32_t cap, uint32_t id)
{
    apr_uint64_t size = xpipe__ring_size(cap);
    int i;

    f->section = win32_sys.create_file_mapping(
        INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, (DWORD)(size >> 32),
        (DWORD)size, NULL);
    if (f->section == NULL)
        return xpipe__fail(win32_os_status(GetLastError()),
                           "cannot make the shared memory");
    f->p.base =
        MapViewOfFile(f->section, FILE_MAP_ALL_ACCESS, 0, 0, (SIZE_T)size);
    if (f->p.base == NULL)
        return xpipe__fail(win32_os_status(GetLastError()),
                           "cannot map the shared memory");
    xpipe__ring_format(f->p.base, cap, id);
    for (i = 0; i < 4; i++)
        if ((f->ev[i] = win32_sys.create_event(NULL, FALSE, FALSE, NULL))
            == NULL)
            return win32_os_status(GetLastError());
    return APR_SUCCESS;
}

apr_status_t xpipe__win32_fast_offer(xpipe__chan_t *c, const xpipe_attr_t *attr,
                                     apr_pool_t *pool)
{
    xpipe__win32_fast_t *f = fast_new(c, attr, 1, RX_WATCH, pool);
    uint32_t cap = (uint32_t)xpipe__win32_fast_ring(attr), id = fast_id();
    unsigned char m[FAST_OFFER_LEN];
    apr_status_t rv = APR_SUCCESS;
    xpipe__detail_t kept;
    ULONG pid = 0;
    int i;

    xpipe__detail_save(&kept);
    /* The client's process, to notice its end while we sleep. */
    if (!GetNamedPipeClientProcessId(c->pipe, &pid)
        || (f->peer = OpenProcess(SYNCHRONIZE, FALSE, pid)) == NULL)
        rv = xpipe__fail(win32_os_status(GetLastError()),
                         "cannot open the client's process");
    if (rv == APR_SUCCESS && cap == 0)
        rv = APR_ENOTIMPL;
    if (rv == APR_SUCCESS)
        rv = fast_make(f, cap, id);
    if (rv == APR_SUCCESS)
        rv = xpipe__ring_attach(&f->p.ring, f->p.base, cap, 1, f->message,
                                f->max_message);
    if (rv != APR_SUCCESS) {
        xpipe__fast_log(attr, "not offered", rv, &kept);
        fast_unmap(f);
        /* The client keeps the framed pipe. A client gone already finds
         * out from the pipe: never accept's failure. */
        xpipe__a32_set(&f->p.tx, TX_PIPE);
        (void)fast_post(c, "N", 1);
        return APR_SUCCESS;
    }
    memset(m, 0, sizeof(m));
    m[0] = 'F';
    fast_put(m + 4, XPIPE__RING_VERSION, 4);
    fast_put(m + 8, cap, 4);
    fast_put(m + 12, id, 4);
    fast_put(m + 16, (apr_uint64_t)(apr_uintptr_t)f->section, 8);
    for (i = 0; i < 4; i++)
        fast_put(m + 24 + 8 * i, (apr_uint64_t)(apr_uintptr_t)f->ev[i], 8);
    (void)fast_post(c, m, FAST_OFFER_LEN);
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

/* A handle of the server's, by its value there, into ours. */
static HANDLE fast_pull(xpipe__win32_fast_t *f, apr_uint64_t v)
{
    HANDLE h = NULL;

    if (v == 0 || v != (apr_uint64_t)(apr_uintptr_t)(HANDLE)(apr_uintptr_t)v
        || !win32_sys.duplicate_handle(f->peer, (HANDLE)(apr_uintptr_t)v,
                                       GetCurrentProcess(), &h, 0, FALSE,
                                       DUPLICATE_SAME_ACCESS))
        return NULL;
    return h;
}

/* Check the server's offer (its body: n bytes at m) and attach. */
static apr_status_t fast_accept_offer(xpipe__win32_fast_t *f,
                                      const unsigned char *m, DWORD n)
{
    uint32_t cap, id;
    volatile uint32_t *hid;
    apr_size_t size;
    int i;

    if (n != FAST_OFFER_LEN - 1)
        return xpipe__fail(XPIPE_EPROTO, "the offer has %lu bytes",
                           (unsigned long)n);
    m--; /* offsets as in the layout, tag included */
    cap = (uint32_t)fast_get(m + 8, 4);
    id = (uint32_t)fast_get(m + 12, 4);
    if ((uint32_t)fast_get(m + 4, 4) != XPIPE__RING_VERSION)
        return xpipe__fail(XPIPE_EPROTO, "the offer is of version %u",
                           (unsigned)(uint32_t)fast_get(m + 4, 4));
    if (cap == 0
        || xpipe__ring_cap(xpipe__ring_size(cap), f->max_message) != cap)
        return xpipe__fail(XPIPE_EPROTO, "the offer's capacity %u is no ring's",
                           (unsigned)cap);
    size = xpipe__ring_size(cap);
    f->section = fast_pull(f, fast_get(m + 16, 8));
    if (f->section == NULL)
        return xpipe__fail(XPIPE_EPROTO, "the offer's section cannot be had "
                                         "from the server's process");
    /* A section smaller than that is not mapped: MapViewOfFile fails. */
    f->p.base = MapViewOfFile(f->section, FILE_MAP_ALL_ACCESS, 0, 0, size);
    if (f->p.base == NULL)
        return xpipe__fail(XPIPE_EPROTO,
                           "the offer's section does not map at %lu bytes "
                           "(error %lu)",
                           (unsigned long)size, (unsigned long)GetLastError());
    hid = &((xpipe__ring_hdr_t *)f->p.base)->id;
    if (*hid != id) /* a value the server has reused since */
        return xpipe__fail(XPIPE_EPROTO, "the offer's section is another's");
    /* Setting an event is harmless (one spurious wake-up) and fails for
     * any other kind of object. */
    for (i = 0; i < 4; i++)
        if ((f->ev[i] = fast_pull(f, fast_get(m + 24 + 8 * i, 8))) == NULL
            || !SetEvent(f->ev[i])) {
            /* A server that has closed since let its events go: nothing
             * wrong (what it sent is on the pipe: it never switched). */
            xpipe__ring_hdr_t *h = f->p.base;
            if (atomic_load(&h->dir[1].closed) || atomic_load(&h->dir[0].gone))
                return APR_EOF;
            return xpipe__fail(XPIPE_EPROTO,
                               "the offer's event %d cannot be had or set", i);
        }
    return xpipe__ring_attach(&f->p.ring, f->p.base, cap, 0, f->message,
                              f->max_message);
}

/* Read one pipe message whole into f->in: APR_SUCCESS with *n its size;
 * one too long for any of ours is read to its end and dropped with
 * XPIPE_EMSGSIZE. Errors are the pipe's. */
static apr_status_t fast_read_msg(xpipe__chan_t *c, DWORD *n,
                                  apr_time_t deadline)
{
    xpipe__win32_fast_t *f = c->fast;
    DWORD cap = (DWORD)(f->message ? f->max_message + 1 : FAST_CHUNK + 1);
    apr_status_t rv;

    if (cap < FAST_OFFER_LEN)
        cap = FAST_OFFER_LEN;
    if ((rv = fast_room(&f->in, &f->in_cap, cap)) != APR_SUCCESS)
        return rv;
    return xpipe__win32_read_msg(c, f->in, cap, n, deadline);
}

/* The pipe's failures as a receive reports them. */
static apr_status_t fast_pipe_status(apr_status_t rv)
{
    switch (APR_TO_OS_ERROR(rv)) {
    case ERROR_BROKEN_PIPE: /* peer closed, all read: end */
    case ERROR_PIPE_NOT_CONNECTED: return APR_EOF;
    default: return rv;
    }
}

/* The peer broke the framing of the fast path's pipe. */
static apr_status_t fast_broken(xpipe__chan_t *c)
{
    xpipe__a32_set(&((xpipe__win32_fast_t *)c->fast)->broken, 1);
    return xpipe__fail(XPIPE_EPROTO, "the peer broke the framing of the fast "
                                     "path's pipe");
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
    rv = fast_read_msg(c, &n, deadline);
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
        rv = fast_broken(c);
    }
    else
        rv = fast_pipe_status(rv);
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
        if (avail == 0 || fast_read_msg(c, &n, XPIPE__NOW) != APR_SUCCESS)
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
    return fast_say(c, 'S', NULL, 0, deadline, NULL);
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

static apr_status_t fast_send_status(apr_status_t rv)
{
    switch (APR_TO_OS_ERROR(rv)) {
    case ERROR_NO_DATA: /* the peer closed its end */
    case ERROR_BROKEN_PIPE:
    case ERROR_PIPE_NOT_CONNECTED: return XPIPE_EPIPE;
    default: return rv;
    }
}

/* Sending on the framed pipe: a message whole, or bytes in chunks (one
 * per call: the caller loops). */
static apr_status_t fast_pipe_send(xpipe__chan_t *c, const void *buf,
                                   apr_size_t *len, apr_time_t deadline)
{
    xpipe__win32_fast_t *f = c->fast;
    DWORD want = (DWORD)(*len > FAST_CHUNK && !f->message ? FAST_CHUNK : *len),
          n = 0;
    apr_status_t rv = fast_say(c, 'D', buf, want, deadline, &n);

    if (!f->message && n > 0 && (rv == APR_TIMEUP || rv == XPIPE_ECANCELED))
        rv = APR_SUCCESS; /* what went is delivered */
    *len = rv == APR_SUCCESS ? (f->message ? want : n) : 0;
    return rv == APR_SUCCESS ? rv : fast_send_status(rv);
}

/* Receiving on the framed pipe: 'D' is data, 'S' moves to the ring,
 * 'b' is nothing. APR_EAGAIN: go on with the ring. */
static apr_status_t fast_pipe_recv(xpipe__chan_t *c, void *buf, apr_size_t *len,
                                   apr_time_t deadline)
{
    xpipe__win32_fast_t *f = c->fast;
    apr_status_t rv;
    DWORD n, body;

    if (f->part_len > 0) { /* byte mode: the rest of a message */
        apr_size_t k = *len < f->part_len ? *len : f->part_len;
        memcpy(buf, f->in + f->part, k);
        f->part += (DWORD)k;
        f->part_len -= (DWORD)k;
        *len = k;
        return APR_SUCCESS;
    }
    if (xpipe__held_take(&c->held, buf, len, &rv))
        return rv;
    for (;;) {
        rv = fast_read_msg(c, &n, deadline);
        if (rv == XPIPE_EMSGSIZE) { /* past the maximum: gone */
            *len = n - 1;
            return rv;
        }
        if (rv != APR_SUCCESS) {
            *len = 0;
            return fast_pipe_status(rv);
        }
        body = n - 1;
        if (f->in[0] == 'b')
            continue;
        if (f->in[0] == 'S' && body == 0 && xpipe__fast_marker(&f->p))
            return APR_EAGAIN;
        if (f->in[0] != 'D' || body == 0) {
            *len = 0;
            return fast_broken(c);
        }
        break;
    }
    if (!f->message) {
        apr_size_t k = *len < body ? *len : body;
        memcpy(buf, f->in + 1, k);
        f->part = 1 + (DWORD)k;
        f->part_len = body - (DWORD)k;
        *len = k;
        return APR_SUCCESS;
    }
    if (body > *len) { /* kept whole for the next call */
        if ((c->held.data = malloc(body)) == NULL)
            return APR_ENOMEM;
        memcpy(c->held.data, f->in + 1, body);
        c->held.len = body;
        *len = body;
        return XPIPE_EMSGSIZE;
    }
    memcpy(buf, f->in + 1, body);
    *len = body;
    return APR_SUCCESS;
}

apr_status_t xpipe__win32_fast_io(xpipe__chan_t *c, int out, void *buf,
                                  apr_size_t *len, apr_time_t deadline)
{
    xpipe__win32_fast_t *f = c->fast;
    apr_status_t rv;

    if (xpipe__a32_get(&f->broken)) {
        *len = 0;
        return fast_broken(c);
    }
    if (out) {
        rv = xpipe__fast_tx(&f->p, deadline);
        if (rv == APR_SUCCESS)
            return xpipe__fast_ring_io(&f->p, 1, buf, len, deadline);
        if (rv == APR_EAGAIN)
            return fast_pipe_send(c, buf, len, deadline);
        *len = 0;
        return fast_send_status(rv);
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
        rv = fast_pipe_recv(c, buf, len, deadline);
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
