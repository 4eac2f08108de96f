/* SPDX-License-Identifier: Apache-2.0 */
/* fastpipe.h — PRIVATE to the Windows fast path (fast.c, fastpipe.c): an
 * end's state, and the framed pipe it speaks before the switch and rings
 * doorbells on after it.
 */
#ifndef XPIPE_WIN32_FASTPIPE_H
#define XPIPE_WIN32_FASTPIPE_H

#include "win32.h"

#include "atomic.h"
#include "fast.h"
#include "ring.h"

/* The protocol's states (lib/fast.h), the channel being the pipe. */
#define RX_ANSWER XPIPE__FAST_RX_ANSWER
#define RX_WATCH XPIPE__FAST_RX_WATCH
#define RX_RING XPIPE__FAST_RX_RING
#define RX_PLAIN XPIPE__FAST_RX_PLAIN
#define TX_PIPE_WAIT XPIPE__FAST_TX_WAIT
#define TX_RING XPIPE__FAST_TX_RING
#define TX_PIPE XPIPE__FAST_TX_PLAIN

/* A byte-mode send before the switch goes in pipe messages this long. */
#define FAST_CHUNK 65536

struct xpipe__win32_fast_t {
    xpipe__fast_t p;        /* the protocol: rings, states, bell, dead */
    xpipe__win32_mem_t mem; /* the section and the events (fastmem.c) */
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
    unsigned char post_buf[XPIPE__WIN32_OFFER_LEN];
};

/* A framed message on the pipe: tag and body, whole, before the deadline
 * (*n, when not NULL: the body's bytes that went). */
apr_status_t xpipe__win32_fp_say(xpipe__chan_t *c, char tag, const void *body,
                                 DWORD len, apr_time_t deadline, DWORD *n);
/* Post a framed message (len <= XPIPE__WIN32_OFFER_LEN, tag included)
 * that must never be cut short and nobody waits for: the offer, or a
 * doorbell (not needed while one is in flight). */
apr_status_t xpipe__win32_fp_post(xpipe__chan_t *c, const void *m, DWORD len);
/* Read one pipe message whole into f->in: APR_SUCCESS with *n its size;
 * one too long is read to its end and dropped with XPIPE_EMSGSIZE. */
apr_status_t xpipe__win32_fp_read_msg(xpipe__chan_t *c, DWORD *n,
                                      apr_time_t deadline);
/* The pipe's failures as a receive and as a send report them. */
apr_status_t xpipe__win32_fp_status(apr_status_t rv);
apr_status_t xpipe__win32_fp_send_status(apr_status_t rv);
/* The peer broke the framing: XPIPE_EPROTO, for every call from now. */
apr_status_t xpipe__win32_fp_broken(xpipe__chan_t *c);
/* Before the switch: send (a message whole, or bytes in chunks, one per
 * call), and receive ('D' data; 'S' the switch: APR_EAGAIN, go on with
 * the ring; 'b' nothing). */
apr_status_t xpipe__win32_fp_send(xpipe__chan_t *c, const void *buf,
                                  apr_size_t *len, apr_time_t deadline);
apr_status_t xpipe__win32_fp_recv(xpipe__chan_t *c, void *buf, apr_size_t *len,
                                  apr_time_t deadline);

#endif
