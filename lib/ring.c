/* SPDX-License-Identifier: Apache-2.0 */
/* ring.c — PRIVATE: the fast path's rings (see ring.h for the rules).
 * Free-running 32-bit indices: used = head - tail, valid when <= cap.
 * The producer copies, then publishes head; the consumer reads head,
 * copies out, then publishes tail. Before sleeping an end sets its
 * waiting word and looks again; after publishing an end reads the peer's
 * waiting word: with sequentially consistent stores and loads on both
 * sides (no separate fences: ThreadSanitizer cannot follow those) one of
 * the two always sees the other, so no wake-up is lost.
 */
#include "ring.h"

#include <string.h>

/* ThreadSanitizer keys addresses: it cannot see that two mappings of one
 * memory are the same, so the rings' release and acquire are told to it
 * on a key both ends derive from the header's id (both ends in one
 * process: the tests). */
#if defined(__SANITIZE_THREAD__)
#define RING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RING_TSAN 1
#endif
#endif
#ifdef RING_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
static char ring_tsan_keys[256][2];
#define TSAN_ACQUIRE(k) __tsan_acquire(k)
#define TSAN_RELEASE(k) __tsan_release(k)
#else
#define TSAN_ACQUIRE(k) ((void)(k))
#define TSAN_RELEASE(k) ((void)(k))
#endif

#define LOAD(p) atomic_load(p)
#define PEEK(p) atomic_load_explicit((p), memory_order_relaxed)
#define STORE(p, v) atomic_store((p), (v))

apr_size_t xpipe__ring_size(uint32_t cap)
{
    return (apr_size_t)XPIPE__RING_HDR + 2 * (apr_size_t)cap;
}

uint32_t xpipe__ring_cap(apr_uint64_t size, apr_size_t max_message)
{
    apr_uint64_t cap;

    if (size < XPIPE__RING_HDR || (size - XPIPE__RING_HDR) % 2)
        return 0;
    cap = (size - XPIPE__RING_HDR) / 2;
    if (cap < XPIPE__RING_MIN || cap > XPIPE__RING_MAX || (cap & (cap - 1))
        || cap < (apr_uint64_t)max_message + 4)
        return 0;
    return (uint32_t)cap;
}

void xpipe__ring_format(void *base, uint32_t cap, uint32_t id)
{
    xpipe__ring_hdr_t *h = base;

    memset(h, 0, sizeof(*h));
    h->magic = XPIPE__RING_MAGIC;
    h->version = XPIPE__RING_VERSION;
    h->cap = cap;
    h->id = id;
}

apr_status_t xpipe__ring_attach(xpipe__ring_t *r, void *base, uint32_t cap,
                                int server, int message, apr_size_t max_message)
{
    volatile xpipe__ring_hdr_t *vh = base;
    xpipe__ring_hdr_t *h = base;
    unsigned char *data = (unsigned char *)base + XPIPE__RING_HDR;
    uint32_t magic = vh->magic, version = vh->version, hcap = vh->cap;
#ifdef RING_TSAN
    uint32_t id = vh->id % 256;
#endif

    memset(r, 0, sizeof(*r));
    if (magic != XPIPE__RING_MAGIC || version != XPIPE__RING_VERSION
        || hcap != cap)
        return xpipe__fail(XPIPE_EPROTO,
                           "the shared memory's header is not the one agreed "
                           "(magic %#x, version %u, capacity %u)",
                           (unsigned)magic, (unsigned)version, (unsigned)hcap);
    r->tx = &h->dir[server ? 1 : 0];
    r->rx = &h->dir[server ? 0 : 1];
    r->txd = data + (server ? cap : 0);
    r->rxd = data + (server ? 0 : cap);
    r->cap = cap;
    /* Our indices start where the protocol says, not where memory says. */
    r->head = r->tail = 0;
    r->message = message;
    r->max_message = max_message;
#ifdef RING_TSAN
    r->tsan[0] = &ring_tsan_keys[id][server ? 1 : 0];
    r->tsan[1] = &ring_tsan_keys[id][server ? 0 : 1];
#endif
    STORE(&r->rx->attached, 1);
    return APR_SUCCESS;
}

int xpipe__ring_peer_attached(xpipe__ring_t *r)
{
    return LOAD(&r->tx->attached) != 0;
}

static apr_status_t ring_broken(xpipe__ring_t *r, const char *what,
                                unsigned long v)
{
    r->broken = XPIPE_EPROTO;
    return xpipe__fail(XPIPE_EPROTO,
                       "the peer broke the shared-memory protocol: %s (%lu)",
                       what, v);
}

/* Copy n bytes at ring offset idx out of / into a ring. */
static void ring_copy_out(const xpipe__ring_t *r, uint32_t idx, void *buf,
                          uint32_t n)
{
    uint32_t off = idx & (r->cap - 1), first = r->cap - off;

    if (first > n)
        first = n;
    memcpy(buf, r->rxd + off, first);
    memcpy((unsigned char *)buf + first, r->rxd, n - first);
}

static void ring_copy_in(xpipe__ring_t *r, uint32_t idx, const void *buf,
                         uint32_t n)
{
    uint32_t off = idx & (r->cap - 1), first = r->cap - off;

    if (first > n)
        first = n;
    memcpy(r->txd + off, buf, first);
    memcpy(r->txd, (const unsigned char *)buf + first, n - first);
}

/* What the peer asked of a move in a direction: take its waiting word. */
static int ring_peer_wake(_Atomic uint32_t *word)
{
    uint32_t w;

    if (LOAD(word) == XPIPE__RING_AWAKE)
        return XPIPE__RING_AWAKE;
    w = atomic_exchange(word, XPIPE__RING_AWAKE);
    return w == XPIPE__RING_SLEEPS || w == XPIPE__RING_BELL
               ? (int)w
               : XPIPE__RING_SLEEPS; /* scribbled: wake it anyway */
}

/* Bytes readable now, validated; *used set. */
static apr_status_t ring_used(xpipe__ring_t *r, uint32_t *used)
{
    uint32_t head = LOAD(&r->rx->head), n = head - r->tail;

    TSAN_ACQUIRE(r->tsan[1]);
    if (r->broken)
        return r->broken;
    if (n > r->cap)
        return ring_broken(r, "data index out of range", (unsigned long)n);
    *used = n;
    return APR_SUCCESS;
}

/* Room to write now, validated. */
static apr_status_t ring_room(xpipe__ring_t *r, uint32_t *room)
{
    uint32_t tail = LOAD(&r->tx->tail), used = r->head - tail;

    TSAN_ACQUIRE(r->tsan[0]);
    if (r->broken)
        return r->broken;
    if (used > r->cap)
        return ring_broken(r, "room index out of range", (unsigned long)used);
    *room = r->cap - used;
    return APR_SUCCESS;
}

/* Nothing to read: the end of the stream when the peer closed and the
 * ring is still empty after that was seen. */
static apr_status_t ring_empty(xpipe__ring_t *r)
{
    uint32_t used = 0;
    apr_status_t rv;

    if (!LOAD(&r->rx->closed))
        return APR_EAGAIN;
    rv = ring_used(r, &used);
    if (rv != APR_SUCCESS)
        return rv;
    return used ? APR_SUCCESS : APR_EOF;
}

static void ring_publish_tail(xpipe__ring_t *r, uint32_t n, int *wake)
{
    r->tail += n;
    TSAN_RELEASE(r->tsan[1]);
    STORE(&r->rx->tail, r->tail);
    *wake = ring_peer_wake(&r->rx->prod_wait);
}

static void ring_publish_head(xpipe__ring_t *r, uint32_t n, int *wake)
{
    r->head += n;
    TSAN_RELEASE(r->tsan[0]);
    STORE(&r->tx->head, r->head);
    *wake = ring_peer_wake(&r->tx->cons_wait);
}

/* The start of every receive: *used > 0 bytes to read, or the status
 * (APR_EAGAIN, APR_EOF, XPIPE_EPROTO). */
static apr_status_t ring_rx_begin(xpipe__ring_t *r, uint32_t *used, int *wake)
{
    apr_status_t rv;

    *wake = XPIPE__RING_AWAKE;
    for (;;) {
        rv = ring_used(r, used);
        if (rv != APR_SUCCESS || *used)
            return rv;
        rv = ring_empty(r);
        if (rv != APR_SUCCESS)
            return rv;
    }
}

/* The start of every send: *room to write, or the status (XPIPE_EPIPE,
 * XPIPE_EPROTO). */
static apr_status_t ring_tx_begin(xpipe__ring_t *r, uint32_t *room, int *wake)
{
    *wake = XPIPE__RING_AWAKE;
    if (LOAD(&r->tx->gone))
        return XPIPE_EPIPE;
    return ring_room(r, room);
}

apr_status_t xpipe__ring_read(xpipe__ring_t *r, void *buf, apr_size_t *len,
                              int *wake)
{
    uint32_t used = 0, n;
    apr_status_t rv = ring_rx_begin(r, &used, wake);

    if (rv != APR_SUCCESS)
        return rv;
    n = *len < used ? (uint32_t)*len : used;
    ring_copy_out(r, r->tail, buf, n);
    ring_publish_tail(r, n, wake);
    *len = n;
    return APR_SUCCESS;
}

apr_status_t xpipe__ring_write(xpipe__ring_t *r, const void *buf,
                               apr_size_t *len, int *wake)
{
    uint32_t room = 0, n;
    apr_status_t rv = ring_tx_begin(r, &room, wake);

    if (rv != APR_SUCCESS)
        return rv;
    if (room == 0)
        return APR_EAGAIN;
    n = *len < room ? (uint32_t)*len : room;
    ring_copy_in(r, r->head, buf, n);
    ring_publish_head(r, n, wake);
    *len = n;
    return APR_SUCCESS;
}

apr_status_t xpipe__ring_send(xpipe__ring_t *r, const void *buf, apr_size_t len,
                              int *wake)
{
    uint32_t room = 0, n = (uint32_t)len;
    apr_status_t rv = ring_tx_begin(r, &room, wake);

    if (rv != APR_SUCCESS)
        return rv;
    if (room < 4 || room - 4 < n)
        return APR_EAGAIN;
    ring_copy_in(r, r->head, &n, 4);
    ring_copy_in(r, r->head + 4, buf, n);
    ring_publish_head(r, 4 + n, wake);
    return APR_SUCCESS;
}

apr_status_t xpipe__ring_recv(xpipe__ring_t *r, void *buf, apr_size_t *len,
                              int *wake)
{
    uint32_t used = 0, n;
    apr_status_t rv = ring_rx_begin(r, &used, wake);

    if (rv != APR_SUCCESS)
        return rv;
    /* A record is published whole: anything shorter is a broken peer. */
    if (used < 4)
        return ring_broken(r, "a message cut short", (unsigned long)used);
    ring_copy_out(r, r->tail, &n, 4); /* copied: read once */
    if (n > used - 4)
        return ring_broken(r, "a message longer than the data",
                           (unsigned long)n);
    if (n > r->max_message) { /* as a socket cuts one: dropped */
        ring_publish_tail(r, 4 + n, wake);
        *len = n;
        return xpipe__fail(XPIPE_EMSGSIZE,
                           "a message of %lu bytes: this channel takes at "
                           "most %lu (dropped)",
                           (unsigned long)n, (unsigned long)r->max_message);
    }
    if (n > *len) { /* kept whole for a larger buffer */
        *len = n;
        return XPIPE_EMSGSIZE;
    }
    ring_copy_out(r, r->tail + 4, buf, n);
    ring_publish_tail(r, 4 + n, wake);
    *len = n;
    return APR_SUCCESS;
}

int xpipe__ring_ready(xpipe__ring_t *r, int out)
{
    uint32_t n = 0;

    if (r->broken)
        return 1;
    if (out) {
        if (LOAD(&r->tx->gone) || ring_room(r, &n) != APR_SUCCESS)
            return 1;
        return r->message ? n >= r->max_message + 4 : n > 0;
    }
    if (ring_used(r, &n) != APR_SUCCESS || n > 0)
        return 1;
    return LOAD(&r->rx->closed) != 0;
}

_Atomic uint32_t *xpipe__ring_my_word(xpipe__ring_t *r, int out)
{
    return out ? &r->tx->prod_wait : &r->rx->cons_wait;
}

_Atomic uint32_t *xpipe__ring_peer_word(xpipe__ring_t *r, int out)
{
    return out ? &r->tx->cons_wait : &r->rx->prod_wait;
}

int xpipe__ring_arm(xpipe__ring_t *r, int out, uint32_t how)
{
    _Atomic uint32_t *w = xpipe__ring_my_word(r, out);

    atomic_store(w, how);
    if (!xpipe__ring_ready(r, out))
        return 1;
    atomic_store(w, XPIPE__RING_AWAKE);
    return 0;
}

void xpipe__ring_disarm(xpipe__ring_t *r, int out)
{
    _Atomic uint32_t *w = xpipe__ring_my_word(r, out);

    if (PEEK(w) != XPIPE__RING_AWAKE)
        atomic_store(w, XPIPE__RING_AWAKE);
}

void xpipe__ring_shut(xpipe__ring_t *r, int out, int *wake)
{
    if (out) {
        STORE(&r->tx->closed, 1);
        *wake = ring_peer_wake(&r->tx->cons_wait);
    }
    else {
        STORE(&r->rx->gone, 1);
        *wake = ring_peer_wake(&r->rx->prod_wait);
    }
}

void xpipe__ring_cpu_set(xpipe__ring_t *r, int out, int cpu)
{
    _Atomic int32_t *p = out ? &r->tx->prod_cpu : &r->rx->cons_cpu;

    if (PEEK(p) != cpu)
        atomic_store_explicit(p, cpu, memory_order_relaxed);
}

int xpipe__ring_peer_cpu(xpipe__ring_t *r, int out)
{
    return PEEK(out ? &r->tx->cons_cpu : &r->rx->prod_cpu);
}

apr_status_t xpipe__ring_move(xpipe__ring_t *r, int out, void *buf,
                              apr_size_t *len, int *wake)
{
    if (out && r->message)
        return xpipe__ring_send(r, buf, *len, wake);
    if (out)
        return xpipe__ring_write(r, buf, len, wake);
    return r->message ? xpipe__ring_recv(r, buf, len, wake)
                      : xpipe__ring_read(r, buf, len, wake);
}

apr_status_t xpipe__ring_io(xpipe__ring_t *r, const xpipe__ring_ops_t *ops,
                            void *baton, int out, void *buf, apr_size_t *len,
                            apr_time_t deadline)
{
    apr_size_t want = *len;
    apr_status_t rv;
    int wake;

    for (;;) {
        *len = want;
        rv = xpipe__ring_move(r, out, buf, len, &wake);
        if (wake != XPIPE__RING_AWAKE)
            ops->kick(baton, out, wake);
        if (rv != APR_EAGAIN)
            break;
        rv = ops->wait(baton, out, deadline);
        if (APR_STATUS_IS_EOF(rv)) {
            /* Gone: what it wrote before is still read first. */
            if (!out && xpipe__ring_ready(r, 0))
                continue;
            rv = out ? xpipe__fail(XPIPE_EPIPE, "the peer is gone") : APR_EOF;
            break;
        }
        if (rv != APR_SUCCESS)
            break;
    }
    if (rv == APR_SUCCESS)
        xpipe__ring_cpu_set(r, out, ops->cpu());
    else if (rv != XPIPE_EMSGSIZE)
        *len = 0;
    return rv;
}
