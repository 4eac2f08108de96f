/* SPDX-License-Identifier: Apache-2.0 */
/* smb2.h — PRIVATE: xpipe's SMB2/3 client for \\host\pipe\name on POSIX.
 *
 *   wire.h, wire.c     messages as bytes (pure code, fuzzed)
 *   crypto.h, crypto.c signing, key derivation, encryption (libcrypto)
 *   auth.h, auth.c     SPNEGO through GSSAPI
 *   net.c              the way to the server: resolution, TCP
 *   conn.c             one connection's traffic: the receiving thread,
 *                      requests and their replies, credits
 *   session.c          the handshake: negotiate, session setup (and
 *                      again), tree connect, validate-negotiate
 *   backend.c          the transport's table: a channel on a pipe opened,
 *                      woken, closed, its peer
 *   pipe.c             the channel's reads and writes
 *
 * One channel is one connection (its own TCP connection, session, tree
 * and open): channels share nothing, so one never waits for another.
 * A thread per connection receives: it verifies or decrypts each reply
 * and hands it to the request waiting for it, so that a caller blocked on
 * a reply can leave at an interrupt, a close or its deadline without
 * owning the socket, and a reply that comes later (Samba never answers a
 * READ pending at CLOSE, and ignores CANCEL) finds its place.
 */
#ifndef XPIPE_SMB2_H
#define XPIPE_SMB2_H

#include "auth.h"
#include "backend.h"
#include "helpers.h"
#include "crypto.h"
#include "wake.h" /* the POSIX wake object and wait */
#include "wire.h"

#include <pthread.h>

/* What a connection asks for (from the attribute set). */
typedef struct smb2_opts_t {
    const char *user, *domain, *password; /* user NULL: default credential */
    unsigned port;                        /* 0: 445 */
    uint16_t min_dialect, max_dialect;
    int encrypt;     /* encrypt even where the server does not require it */
    int allow_guest; /* accept a guest or anonymous session */
} smb2_opts_t;

/* A request in flight and its reply. */
enum { SLOT_FREE, SLOT_SENT, SLOT_DONE, SLOT_ABANDONED };
#define SMB2_SLOTS 16
typedef struct smb2_conn_t smb2_conn_t;
typedef struct smb2_slot_t {
    int state;
    uint16_t command;
    uint64_t mid;
    int interim;  /* an interim reply came (STATUS_PENDING) */
    unsigned gen; /* c->auth_gen when it was sent */
    uint64_t async_id;
    uint8_t *m; /* the reply (SLOT_DONE), malloc'd */
    size_t len;
    smb2_hdr_t h;
    /* For an abandoned slot: called (with the lock) when its reply
     * comes, before the slot is freed. */
    void (*orphan)(smb2_conn_t *c, struct smb2_slot_t *s, void *baton);
    void *baton;
} smb2_slot_t;

struct smb2_conn_t {
    int fd;
    pthread_t rx;
    int rx_started;
    pthread_mutex_t mu;       /* everything below that changes */
    pthread_cond_t cv;        /* a reply came, credits came, the end came */
    pthread_mutex_t send_mu;  /* one request on the wire at a time */
    xpipe__unix_wake_t *wake; /* the channel's (NULL while dialling) */
    apr_status_t dead;        /* set once: why the connection is over */
    char dead_why[256];
    uint64_t next_mid;
    uint32_t credits;
    smb2_slot_t slot[SMB2_SLOTS];
    /* Negotiated, fixed before any reply is verified with them. */
    uint16_t dialect;
    uint16_t server_security;
    uint32_t server_caps, client_caps;
    uint32_t max_read, max_write, max_transact;
    uint64_t session_id;
    uint32_t tree_id;
    smb2_keys_t keys;
    int signing;    /* sign requests, verify replies */
    int encrypting; /* every message in a transform */
    int guest;
    /* 3.1.1's preauth integrity hash, while the handshake runs: requests
     * sent are fed to preauth_req when it is set. */
    uint8_t *preauth_req;
    uint8_t preauth[64];
    /* The credential, kept for re-authentication (the password itself
     * is not kept); auth_gen (under mu) counts re-authentications,
     * reauth_mu lets one caller at a time redo it; reauthing signs its
     * SESSION_SETUPs. */
    smb2_auth_t *auth;
    int allow_guest;
    pthread_mutex_t reauth_mu;
    unsigned auth_gen;
    int reauthing;
    /* The receiving thread's own: what its last recv brought and it has
     * not taken yet (rx_off..rx_len of rxbuf). */
    uint8_t *rxbuf;
    size_t rx_off, rx_len;
    /* For peer_get. */
    char host[256];
    char address[64];
    unsigned port;
    char user[256], mech[16];
};

/* A message to the server that nobody waits for (cancel, close, logoff)
 * may take this long to leave. */
#define SMB2_BYE_TIME (200 * 1000)

/* session.c: open a connection to host:port and bring up an
 * authenticated session with a tree on IPC$, before the deadline. On
 * failure *c is NULL and the error detail says why. */
apr_status_t xpipe__smb2_conn_open(smb2_conn_t **c, const char *host,
                                   const smb2_opts_t *o, apr_time_t deadline);
/* Tell the server goodbye without waiting for it, end the receiving
 * thread, free everything. */
void xpipe__smb2_conn_close(smb2_conn_t *c);
/* conn.c: a connection not yet connected (*c NULL: APR_ENOMEM); its
 * receiving thread started once it is; and everything of it let go
 * (killed first), after a close's goodbyes. */
apr_status_t xpipe__smb2_conn_new(smb2_conn_t **c, const char *host,
                                  const smb2_opts_t *o);
apr_status_t xpipe__smb2_conn_start(smb2_conn_t *c);
void xpipe__smb2_conn_free(smb2_conn_t *c);
/* net.c: TCP to the first of host's addresses that answers at port,
 * before the deadline (c->fd, c->address). */
apr_status_t xpipe__smb2_tcp_connect(smb2_conn_t *c, const char *host,
                                     unsigned port, apr_time_t deadline);
/* The receiving thread's buffer: one recv takes whatever has come, up to
 * this (a small reply whole, header and all, and often the next one). */
#define SMB2_RXBUF 16384

/* net.c: send the pieces whole (a wait before the first byte honours
 * the channel's wake; after it, only the deadline and the connection's
 * end); take exactly len bytes (the receiving thread: 0, or -1 with the
 * connection killed). */
apr_status_t xpipe__smb2_send_all(smb2_conn_t *c, struct iovec *iov, int n,
                                  apr_time_t deadline);
int xpipe__smb2_rx_take(smb2_conn_t *c, uint8_t *p, size_t len);
/* conn.c: verify a message's signature in place: 0 when it holds. */
int xpipe__smb2_verify(const smb2_keys_t *k, uint8_t *m, size_t len);
/* net.c: make the connection unusable from any thread: calls blocked on
 * it return (close's first step; also what a reset does). */
void xpipe__smb2_conn_kill(smb2_conn_t *c, apr_status_t why, const char *fmt,
                           ...) XPIPE__PRINTF(3, 4);

/* Send one request (body, then data), charged for the larger of what is
 * sent and expect (bytes expected back). file_id-less commands pass
 * what they need in body. The slot it waits in goes to *slot. With the
 * channel's wake: XPIPE_ECANCELED before anything was sent. */
apr_status_t xpipe__smb2_send(smb2_conn_t *c, uint16_t command,
                              const uint8_t *body, size_t body_len,
                              const void *data, size_t data_len, size_t expect,
                              apr_time_t deadline, int *slot);
/* Wait for slot's reply until the deadline: APR_SUCCESS with the reply
 * in the slot (state SLOT_DONE), APR_TIMEUP, XPIPE_ECANCELED (wake), or
 * the connection's end. The slot stays the caller's in every case. */
apr_status_t xpipe__smb2_wait(smb2_conn_t *c, int slot, apr_time_t deadline);
/* Give a slot up: freed at once when its reply came, else when it comes
 * (orphan, if not NULL, sees it first). */
void xpipe__smb2_release(smb2_conn_t *c, int slot,
                         void (*orphan)(smb2_conn_t *, smb2_slot_t *, void *),
                         void *baton);
/* Send and wait, releasing the slot on a failure: on success the reply
 * is in c->slot[*slot] and the caller releases it. */
apr_status_t xpipe__smb2_call(smb2_conn_t *c, uint16_t command,
                              const uint8_t *body, size_t body_len,
                              const void *data, size_t data_len, size_t expect,
                              apr_time_t deadline, int *slot);
/* CANCEL slot's request (no reply; Samba ignores it for pipe reads). */
void xpipe__smb2_cancel(smb2_conn_t *c, int slot);
/* The session expired (STATUS_NETWORK_SESSION_EXPIRED to a request sent
 * while c->auth_gen was gen): authenticate it again with the kept
 * credential, unless another caller already has since. XPIPE_EAUTH when
 * the server refuses. */
apr_status_t xpipe__smb2_reauth(smb2_conn_t *c, unsigned gen,
                                apr_time_t deadline);

/* A channel on an open pipe (backend.c, pipe.c). */
/* Data read and not yet taken: one piece per READ reply, in order. */
typedef struct rpiece_t {
    struct rpiece_t *next;
    size_t len, off;
    int end; /* the last piece of a message (message mode) */
    uint8_t data[];
} rpiece_t;

typedef struct smb2_chan_t {
    smb2_conn_t *c;
    xpipe__unix_wake_t wake;
    uint8_t fid[16];
    int open; /* the file is open on the server */
    xpipe_mode_e mode;
    const char *native;
    /* Read side (the one reader's, or close's). */
    int rd_slot;           /* the READ in flight, or -1 */
    rpiece_t *head, *tail; /* data read, not yet taken */
    apr_status_t rd_end;   /* a READ failed: every later one does */
    int rd_expired;        /* the READ taken found the session expired */
    int renewals;          /* re-authentications in a row (reader's) */
    char rd_why[160];
    /* Write side: a write that left early may still fail later. */
    pthread_mutex_t wr_mu;
    apr_status_t wr_end;
    char wr_why[160];
} smb2_chan_t;

#define CH(chan) ((smb2_chan_t *)(void *)(chan))

/* pipe.c: the transport's data path. */
apr_status_t xpipe__smb2c_read(xpipe__chan_t *chan, void *buf, apr_size_t *len,
                               apr_time_t deadline);
apr_status_t xpipe__smb2c_recv(xpipe__chan_t *chan, void *buf, apr_size_t *len,
                               apr_time_t deadline);
apr_status_t xpipe__smb2c_write(xpipe__chan_t *chan, const void *buf,
                                apr_size_t *len, apr_time_t deadline);
apr_status_t xpipe__smb2c_send(xpipe__chan_t *chan, const void *buf,
                               apr_size_t len, apr_time_t deadline);
/* Let go of the data read and not yet taken (close). */
void xpipe__smb2c_drop_read(smb2_chan_t *ch);

#endif
