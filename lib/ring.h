/* SPDX-License-Identifier: Apache-2.0 */
/* ring.h — PRIVATE: the shared-memory fast path's rings (pure code: no
 * system call). A mapping shared by the two ends of a local channel holds
 * a header page and two single-producer/single-consumer byte rings, one
 * per direction. A backend makes, checks and maps the memory, sleeps and
 * wakes; this file moves the bytes and keeps the rules that make a
 * hostile peer harmless:
 *   - the peer can write the mapping at any moment: every shared value is
 *     read once into a local, validated, and only then used; data is
 *     copied out before anyone looks at it (a message's length too);
 *   - each end's own indices live in private memory; the shared ones are
 *     only published, never read back as truth;
 *   - no lock lives in shared memory; the only shared words an end waits
 *     on are its own "I sleep" words, so a peer that scribbles them causes
 *     at worst a spurious wake-up or a sleep until the next check.
 * Messages are records: a 32-bit length, then the bytes, written whole
 * (the capacity holds the largest message) and published at once.
 */
#ifndef XPIPE_RING_H
#define XPIPE_RING_H

#include "backend.h"
#include "helpers.h"

#include <stdatomic.h>
#include <stdint.h>

#define XPIPE__RING_MAGIC 0x78706672u /* "xpfr" */
#define XPIPE__RING_VERSION 1u
/* The header page; the rings follow it: client-to-server, then back. */
#define XPIPE__RING_HDR 4096u
/* Capacity of each ring: a power of two in this range that holds the
 * largest message with its length. */
#define XPIPE__RING_MIN XPIPE_FAST_RING_MIN
#define XPIPE__RING_MAX XPIPE_FAST_RING_MAX

/* What an end's waiting word says (the peer's move then does it). */
enum { XPIPE__RING_AWAKE = 0, XPIPE__RING_SLEEPS = 1, XPIPE__RING_BELL = 2 };

/* One direction's shared words, the producer's and the consumer's on
 * cache lines of their own. */
typedef struct xpipe__ring_dir_t {
    _Alignas(64) _Atomic uint32_t head; /* producer: bytes published */
    _Atomic uint32_t prod_wait;         /* producer waits for room */
    _Atomic uint32_t closed;            /* producer: no more data (EOF) */
    _Atomic int32_t prod_cpu;           /* a hint for spinning */
    _Alignas(64) _Atomic uint32_t tail; /* consumer: bytes taken */
    _Atomic uint32_t cons_wait;         /* consumer waits for data */
    _Atomic uint32_t gone;              /* consumer: reads no more (EPIPE) */
    _Atomic int32_t cons_cpu;
    _Atomic uint32_t attached; /* consumer: mapped, reads the ring */
} xpipe__ring_dir_t;

typedef struct xpipe__ring_hdr_t {
    uint32_t magic, version, cap;
    uint32_t id; /* the maker's name for it (ThreadSanitizer builds) */
    xpipe__ring_dir_t dir[2]; /* 0: client to server, 1: server to client */
} xpipe__ring_hdr_t;

_Static_assert(sizeof(xpipe__ring_hdr_t) <= XPIPE__RING_HDR,
               "the shared header fits its page");

/* One end's view. Private memory, but for what tx, rx, txd, rxd point to. */
typedef struct xpipe__ring_t {
    xpipe__ring_dir_t *tx, *rx;
    unsigned char *txd, *rxd;
    uint32_t cap;
    uint32_t head; /* our tx head: the truth; the shared one is a copy */
    uint32_t tail; /* our rx tail */
    int message;   /* records, not bytes */
    apr_size_t max_message;
    apr_status_t broken; /* the peer broke the rules: every call says so */
    void *tsan[2];       /* ThreadSanitizer: the sync keys of tx, rx */
} xpipe__ring_t;

/* The mapping's size for a capacity. */
apr_size_t xpipe__ring_size(uint32_t cap);
/* The capacity a mapping of size bytes has, or 0 when no valid one
 * does, or when it cannot hold max_message. */
uint32_t xpipe__ring_cap(apr_uint64_t size, apr_size_t max_message);
/* Write a fresh header (the maker's side); id: any number for it. */
void xpipe__ring_format(void *base, uint32_t cap, uint32_t id);
/* One end's view of a mapping of xpipe__ring_size(cap) bytes: server is
 * the end that made it. APR_SUCCESS, or XPIPE_EPROTO when the header is
 * not the one agreed (read once, never trusted after). Tells the peer
 * that we read our ring from now on. */
apr_status_t xpipe__ring_attach(xpipe__ring_t *r, void *base, uint32_t cap,
                                int server, int message,
                                apr_size_t max_message);

/* Non-blocking moves. *wake: what the caller must do for the peer now
 * (XPIPE__RING_SLEEPS: wake its word, XPIPE__RING_BELL: ring the bell,
 * XPIPE__RING_AWAKE: nothing); the word is the peer's waiting word of
 * that direction (xpipe__ring_peer_word).
 * APR_EAGAIN when nothing can move now; APR_EOF (read/recv) when the peer
 * closed and all is read; XPIPE_EPIPE (write/send) when the peer reads no
 * more; XPIPE_EPROTO when the peer broke the rules (for good). */
apr_status_t xpipe__ring_write(xpipe__ring_t *r, const void *buf,
                               apr_size_t *len, int *wake);
apr_status_t xpipe__ring_read(xpipe__ring_t *r, void *buf, apr_size_t *len,
                              int *wake);
/* Messages: send is all or nothing (len <= max_message); recv of a
 * message larger than *len returns XPIPE_EMSGSIZE with *len its size and
 * leaves it. A message larger than our max_message is dropped and
 * reported as XPIPE_EMSGSIZE with its size, as a socket cuts one. */
apr_status_t xpipe__ring_send(xpipe__ring_t *r, const void *buf, apr_size_t len,
                              int *wake);
apr_status_t xpipe__ring_recv(xpipe__ring_t *r, void *buf, apr_size_t *len,
                              int *wake);

/* The move of the ring's mode: out: send (*len bytes whole) or write;
 * else recv or read. */
apr_status_t xpipe__ring_move(xpipe__ring_t *r, int out, void *buf,
                              apr_size_t *len, int *wake);

/* What a backend does around the moves (lib/ring.c's xpipe__ring_io):
 * kick: wake the peer's word of direction out as a move said (how:
 * XPIPE__RING_SLEEPS or XPIPE__RING_BELL); wait: for the peer's next
 * move of out, or the deadline (APR_SUCCESS: try again; APR_EOF: the
 * peer is gone; any other status ends the call); cpu: the CPU we run on
 * (a spinning hint), or -1. */
typedef struct xpipe__ring_ops_t {
    void (*kick)(void *baton, int out, int how);
    apr_status_t (*wait)(void *baton, int out, apr_time_t deadline);
    int (*cpu)(void);
} xpipe__ring_ops_t;

/* A transfer of the ring's mode to completion: moves, the peer woken as
 * each says, waits while nothing can move. A peer gone: what it wrote
 * before is still read, then APR_EOF; a send says XPIPE_EPIPE. *len: as
 * for the moves (0 on failure, but XPIPE_EMSGSIZE's size). */
apr_status_t xpipe__ring_io(xpipe__ring_t *r, const xpipe__ring_ops_t *ops,
                            void *baton, int out, void *buf, apr_size_t *len,
                            apr_time_t deadline);

/* Readiness, without moving anything: 1 when a read (out 0) or a send
 * of the largest message / a write of one byte (out 1) would not say
 * APR_EAGAIN. */
int xpipe__ring_ready(xpipe__ring_t *r, int out);

/* Our waiting word for a direction (out 0: we wait for data, 1: for
 * room), and the peer's. */
_Atomic uint32_t *xpipe__ring_my_word(xpipe__ring_t *r, int out);
_Atomic uint32_t *xpipe__ring_peer_word(xpipe__ring_t *r, int out);
/* About to wait for out's direction: say so (how: XPIPE__RING_SLEEPS or
 * XPIPE__RING_BELL), then look again. 1: wait now (the peer's next move
 * will wake us); 0: ready meanwhile, do not wait (the word is reset). */
int xpipe__ring_arm(xpipe__ring_t *r, int out, uint32_t how);
/* Done waiting: our word back to awake. */
void xpipe__ring_disarm(xpipe__ring_t *r, int out);

/* Our end stops: no more data from us (out 1: the peer reads EOF once
 * all is read), or no more reading (out 0: the peer's writes fail). The
 * peer's word of that direction to wake is returned as for a move. */
void xpipe__ring_shut(xpipe__ring_t *r, int out, int *wake);
/* Has the peer attached to the ring we write (it reads there)? */
int xpipe__ring_peer_attached(xpipe__ring_t *r);
/* Spinning hints: the CPU our end runs on, and the peer's last. */
void xpipe__ring_cpu_set(xpipe__ring_t *r, int out, int cpu);
int xpipe__ring_peer_cpu(xpipe__ring_t *r, int out);

#endif
