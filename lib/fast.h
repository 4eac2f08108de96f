/* SPDX-License-Identifier: Apache-2.0 */
/* fast.h — PRIVATE: the shared-memory fast path's switch protocol, one for
 * every backend (docs/design/fast-path.md). lib/ring.c moves
 * the bytes; this file keeps the states both ends go through and the
 * rules of waiting; a backend supplies the OS's part (xpipe__fast_os_t:
 * the memory and its checks stay the backend's, and so do the channel's
 * own transfers before the switch).
 *
 * The states. Receiving: a client first reads the server's answer
 * (RX_ANSWER); then each end reads its channel watching for the peer's
 * switch marker (RX_WATCH), the ring after it (RX_RING), or the channel
 * for good when there is no ring (RX_PLAIN). Sending: the channel until
 * the peer has attached to the ring we write (TX_WAIT), the ring after
 * our marker (TX_RING), or the channel for good (TX_PLAIN). Nobody waits
 * for the setup, and what either end sent before its marker is read
 * first, in order.
 *
 * The wait, when a move on the ring cannot happen: the peer gone or an
 * interrupt end it at once; a call that may not block (an event loop's
 * try) arms the doorbell when the channel is in a poll set; else spin a
 * few microseconds when the peer runs on another CPU, then arm our word
 * (SLEEPS), look once more, and sleep on it (the OS's sleep, which an
 * interrupt, a close and the peer's end also end).
 */
#ifndef XPIPE_FAST_H
#define XPIPE_FAST_H

#include "backend.h"
#include "helpers.h"

#include "atomic.h"
#include "ring.h"

enum {
    XPIPE__FAST_RX_ANSWER = 1,
    XPIPE__FAST_RX_WATCH,
    XPIPE__FAST_RX_RING,
    XPIPE__FAST_RX_PLAIN
};
enum { XPIPE__FAST_TX_WAIT = 1, XPIPE__FAST_TX_RING, XPIPE__FAST_TX_PLAIN };

/* Spinning before a sleep, when the peer last ran on another CPU. */
#define XPIPE__FAST_SPIN 20 /* microseconds */

/* What the OS does for the protocol; c is the backend's channel. */
typedef struct xpipe__fast_os_t {
    /* Wake the peer as a move said, for direction out: how is
     * XPIPE__RING_SLEEPS (wake its word) or XPIPE__RING_BELL (a doorbell
     * on the channel, for a peer that waits in a poll set). */
    void (*kick)(void *c, int out, int how);
    /* Sleep with our word of out armed (XPIPE__RING_SLEEPS) until the
     * peer's move wakes it, the deadline, an interrupt or close, the
     * peer's end, or a while (the OS may look at the peer now and then).
     * APR_SUCCESS: look again; APR_TIMEUP: the deadline passed; APR_EOF:
     * the peer is gone (dead is set); XPIPE_ECANCELED; or an OS status. */
    apr_status_t (*sleep)(void *c, int out, apr_time_t deadline);
    /* The client: read the server's answer if it has not been read,
     * waiting until the deadline for it. APR_SUCCESS once it is known. */
    apr_status_t (*answer)(void *c, apr_time_t deadline);
    /* Tell the peer: "my data goes to the ring from now on". */
    apr_status_t (*say_switch)(void *c, apr_time_t deadline);
    /* Take the doorbells from the channel and notice the peer's end
     * (dead set); loop_rx: an event loop's try to receive, which also
     * takes what the loop's handle said. */
    void (*drain)(void *c, int loop_rx);
    /* Has an interrupt or a close come (the channel's wake object)? */
    int (*woken)(void *c);
    /* The CPU we run on (a spinning hint), or -1. */
    int (*cpu)(void);
} xpipe__fast_os_t;

/* An end's protocol state, in the backend's fast-path object. */
typedef struct xpipe__fast_t {
    xpipe__ring_t ring;
    void *base;          /* the mapping, NULL when none */
    xpipe__a32_t rx;     /* XPIPE__FAST_RX_* */
    xpipe__a32_t tx;     /* XPIPE__FAST_TX_* */
    xpipe__a32_t bell;   /* waits are in a poll set: the peer rings */
    xpipe__a32_t dead;   /* the channel said the peer is gone */
    unsigned long looks; /* sends before the answer (the sender's) */
    const xpipe__fast_os_t *os;
    void *c;
    xpipe__ring_ops_t ring_ops; /* ring.c's waits: ours, made at init */
} xpipe__fast_t;

/* Start in the given states. */
void xpipe__fast_init(xpipe__fast_t *f, const xpipe__fast_os_t *os, void *c,
                      apr_uint32_t rx, apr_uint32_t tx);

/* The sender: may it use the ring now? A client looks for the answer
 * (never waiting) at its sends number 1, 2, 4, 8...; once the peer has
 * attached, the marker goes and the ring is ours. APR_SUCCESS: the ring;
 * APR_EAGAIN: the channel, for now or for good; else a failure to say
 * the marker. */
apr_status_t xpipe__fast_tx(xpipe__fast_t *f, apr_time_t deadline);

/* The peer's marker came on the channel: 1 when it was due (we watched
 * and have a ring: the ring from now on), 0 when it is a protocol
 * violation. */
int xpipe__fast_marker(xpipe__fast_t *f);

/* A transfer on the ring (the caller has seen TX_RING or RX_RING), with
 * the waits above: as xpipe__ring_io. */
apr_status_t xpipe__fast_ring_io(xpipe__fast_t *f, int out, void *buf,
                                 apr_size_t *len, apr_time_t deadline);

/* A poll set's question: which of req (XPIPE_POLLIN, XPIPE_POLLOUT) hold
 * now, given in (the channel has something to read, or data held for
 * the caller). An empty ring asks for the doorbell. */
int xpipe__fast_ready(xpipe__fast_t *f, int req, int in);

/* Our end stops using the rings: both shut, the peer woken as needed. */
void xpipe__fast_shut(xpipe__fast_t *f);

/* The ring capacity attr asks for (0: no fast path): its own, or the
 * default for every channel under XPIPE_FAST_PATH=force (testing and
 * diagnosis), never on a channel that carries handles. */
apr_size_t xpipe__fast_ring_want(const xpipe_attr_t *attr);

/* A setup step that failed (why: "not offered", "refused"): logged with
 * its detail, and the caller's detail put back (kept). */
void xpipe__fast_log(const xpipe_attr_t *attr, const char *why, apr_status_t rv,
                     const xpipe__detail_t *kept);

#endif
