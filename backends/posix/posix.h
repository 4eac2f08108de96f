/* SPDX-License-Identifier: Apache-2.0 */
/* posix.h — PRIVATE to backends/posix/ (and the SMB export): the POSIX
 * backend's objects and what its files share. The files by role:
 *   sys.c      the system-call table, socket creation
 *   wake.c     the wake object and the one wait every blocking call uses
 *              (wake.h, which the SMB client includes too)
 *   names.c    the run directory and name resolution
 *   sockfile.c a listener's socket file: lock, bind, remove
 *   listen.c   the listener: accept, and framed builds' hellos
 *   dial.c     one connect attempt
 *   conn.c     a connection's I/O and close
 *   chan.c     a channel made, woken, shut down; its peer and handle
 *   learn.c    what a stream receive learns: try or wait, and where
 *   fds.c      descriptors sent with messages (SCM_RIGHTS)
 *   frame.c    messages as frames on a stream (pure code)
 *   backend.c  the backend table
 * Every fd is close-on-exec. A socket starts non-blocking, and blocking
 * is poll() on it and a wake fd, bounded by the deadline; once a call on
 * it has had to wait, a socket may switch to the blocking slice (the
 * slice object below, docs/design/blocking-slice.md).
 */
#ifndef XPIPE_POSIX_H
#define XPIPE_POSIX_H

#include "backend.h"
#include "helpers.h"
#include "frame.h"
#include "sys.h"
#include "wake.h"

#include "atomic.h"

#include <apr_thread_mutex.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* then SO_NOSIGPIPE is set on every socket */
#endif

/* Framed messages: chosen by meson (config.h). Then every connection
 * starts with one hello byte from the client naming its mode, so a server
 * drops a client of the other mode as SOCK_SEQPACKET's type check does. */
#if XPIPE_UNIX_FRAMED
#define UNIX_FRAMED 1
#define UNIX_NAME "unix-framed"
#else
#define UNIX_FRAMED 0
#define UNIX_NAME "unix"
#endif

/* The fast path's memory and wait (memfd with seals, futex) exist: Linux,
 * and not a framed build (fast.c, fastmem.c; else fast_off.c). */
#if defined(__linux__) && !UNIX_FRAMED
#define UNIX_FAST_OS 1
#else
#define UNIX_FAST_OS 0
#endif
#define UNIX_HELLO_BYTE 'B'
#define UNIX_HELLO_MSG 'M'
/* The frames of a local channel with these attributes. */
#define UNIX_MSG_FRAMES(attr)                                                  \
    (UNIX_FRAMED && (attr)->mode == XPIPE_MODE_MESSAGE ? XPIPE__FRAME_U32BE    \
                                                       : XPIPE__FRAME_NONE)

/* The blocking slice of one socket. Its state word, changed atomically:
 *   UNIX_NB        non-blocking, as made; may switch to slices
 *   UNIX_SWITCHING one thread is switching it (sets the timeouts first)
 *   UNIX_SLICED    blocking with SO_RCVTIMEO = SO_SNDTIMEO = the slice:
 *                  a call allowed a slice passes no flag and sleeps in
 *                  the system call; every other call passes MSG_DONTWAIT
 *   UNIX_NB_GOOD   non-blocking for good (slices off, an event loop has
 *                  the fd, accepts overlap, or the OS lacks MSG_DONTWAIT)
 * Close reaches a call asleep in a slice by shutdown(); an interrupt when
 * the slice ends (a call enters one only with no interrupt pending). */
enum { UNIX_NB, UNIX_SWITCHING, UNIX_SLICED, UNIX_NB_GOOD };
#define UNIX_SLICE_AFTER 4
typedef struct xpipe__unix_slice_t {
    xpipe__a32_t state;
    xpipe__a32_t used;       /* has been UNIX_SLICED */
    xpipe__a32_t waits;      /* calls that had to wait, while UNIX_NB */
    apr_interval_time_t len; /* microseconds */
} xpipe__unix_slice_t;

/* MSG_DONTWAIT: without it no call could refuse to block on a blocking
 * socket, so slices stay off. */
#ifdef MSG_DONTWAIT
#define UNIX_DONTWAIT MSG_DONTWAIT
#else
#define UNIX_DONTWAIT 0
#endif

/* One listening socket file and the lock that guards its name. */
typedef struct xpipe__unix_sock_file_t {
    int fd;
    int lock_fd; /* flock on "<path>.lock", held while listening */
    const char *path, *lock_path;
    dev_t dev; /* the socket file we bound: close unlinks only it */
    ino_t ino;
} xpipe__unix_sock_file_t;

/* Framed builds: connections accepted whose hello byte has not come yet
 * (the client connected, and has not written), so that accept never
 * waits for one. Each is dropped UNIX_HELLO_WAIT after it came, the
 * oldest first when all places are taken (a burst of a thousand
 * clients fits; a flood of silent ones costs each a second at most). */
#define UNIX_HELLO_MAX 1024

struct xpipe__lsn_t {
    xpipe__unix_sock_file_t sock;
    xpipe__a32_t accept_waited; /* the last accept had to wait */
    xpipe__a32_t accepting;     /* accepts in flight */
    xpipe__a32_t closing;       /* listener_wake(closing) came */
    xpipe__unix_slice_t slice;
    xpipe__unix_wake_t wake;
    const xpipe_attr_t *attr;
    apr_pool_t *pool;
    /* The hellos awaited, under hello_lock; while the listener is in a
     * poll set (pset, pm) their sockets are watched there too. */
    apr_thread_mutex_t *hello_lock;
    int hello_n;
    /* UNIX_HELLO_MAX places each, made on first need: */
    int *hello_fd;
    apr_time_t *hello_since;
    void **hello_sock; /* APR's wrappers, kept per place */
    xpipe__pset_t *pset;
    xpipe__pm_t *pm;
    /* How the set watches a hello's socket (on) or stops (poll.c sets it
     * when the listener joins: the listener calls no poll code). */
    void (*watch)(xpipe__pset_t *ps, void *sock, xpipe__pm_t *m, int on);
    /* Exported to SMB clients: the socket in Samba's np directory (fd -1
     * when not), and the attributes it was made with (byte mode). */
    xpipe__unix_sock_file_t smb;
    xpipe_attr_t smb_attr;
};

typedef struct xpipe__npa_info_t xpipe__npa_info_t;
typedef struct xpipe__unix_fast_t xpipe__unix_fast_t;

/* Descriptors that came with a message (SCM_RIGHTS): at most
 * XPIPE_HANDLES_MAX; cut: more came, or the control data was cut (those
 * were closed). */
typedef struct xpipe__unix_fds_t {
    int fd[XPIPE_HANDLES_MAX];
    int n;
    int cut;
} xpipe__unix_fds_t;

/* Control data room for the most descriptors a message carries. */
typedef union xpipe__unix_ctl_t {
    struct cmsghdr h;
    char b[CMSG_SPACE(sizeof(int) * XPIPE_HANDLES_MAX)];
} xpipe__unix_ctl_t;

#ifdef MSG_CMSG_CLOEXEC
#define UNIX_CMSG_CLOEXEC MSG_CMSG_CLOEXEC
#else
#define UNIX_CMSG_CLOEXEC 0 /* then each is made close-on-exec */
#endif

/* fds.c: descriptors with messages. put: attach count descriptors to m
 * (ctl: its control buffer). take: add those in a received message's
 * control data to f, close-on-exec; any beyond XPIPE_HANDLES_MAX are
 * closed at once (f->cut). close: close f's. out: a message was
 * delivered: f's go to the caller (hs, *count; room checked) or, when
 * count is NULL, are closed; a peer that broke the limit gets none handed
 * on (XPIPE_EBADHANDLE). */
void xpipe__unix_fds_put(struct msghdr *m, xpipe__unix_ctl_t *ctl,
                         const xpipe_os_handle_t *hs, int count);
void xpipe__unix_fds_take(xpipe__unix_fds_t *f, struct msghdr *m);
void xpipe__unix_fds_close(xpipe__unix_fds_t *f);
apr_status_t xpipe__unix_fds_out(xpipe__unix_fds_t *f, xpipe_os_handle_t *hs,
                                 int *count);

struct xpipe__chan_t {
    int fd;
    xpipe__unix_wake_t wake;
    xpipe__unix_slice_t slice;
    xpipe__a32_t closing; /* wake(closing) came: failures mean ECANCELED */
    /* Framed message mode (a stream carrying frames): the codec's state
     * per direction; rx.kind is XPIPE__FRAME_NONE otherwise. */
    xpipe__frame_rx_t rx;
    xpipe__frame_tx_t tx;
    const xpipe__npa_info_t *smb; /* a network client's identity, or NULL */
    /* Per direction (0 in, 1 out): the last transfer had to wait, or
     * moved less than asked (the socket was drained / full): wait first
     * next time, sparing a try that would say EAGAIN. A stream receive
     * goes by reply_score instead (wait_first[0]: a fresh channel's
     * first waits first). */
    int wait_first[2];
    /* This end has sent (set once, by the writer): a fresh channel's
     * first stream receive is then for an answer, which may be there. */
    xpipe__a32_t sent;
    /* A stream receive that waits first on the guess below: in recv()
     * for a slice (late_score at UNIX_LATE_SLICE or more) or in poll().
     * The receiver's own (conn.c: unix_late_slice); late_probe: the
     * receive under way sleeps in recv() to see what that costs: the
     * thread's voluntary switches before it, or -1. */
    int late_score;
    unsigned int late_count;
    long late_probe;
    /* A stream receive: is what it waits for there at once? The
     * receiver's own (conn.c: unix_reply_try); reply_tried: the receive
     * under way tried first on that guess. */
    int reply_score;
    unsigned int reply_count;
    int reply_tried;
    int message; /* message mode (SOCK_SEQPACKET, or frames) */
    int seq;     /* SOCK_SEQPACKET message mode */
    /* SOCK_SEQPACKET message mode: */
    apr_size_t max_message;
    unsigned char *spill; /* where a message longer than the buffer runs on */
    xpipe__held_t held;   /* such a message, kept whole for the next call */
    /* Descriptors (attr->handles) of the message held, or of the frame
     * being received. */
    int handles;
    xpipe__unix_fds_t fds;
    /* What a poll set's read ahead met (an error the socket reports only
     * once), for the next recv to return. */
    apr_status_t rx_err;
    /* The shared-memory fast path (fast.c), or NULL: set up at connect
     * and accept, then fixed. */
    xpipe__unix_fast_t *fast;
};

/* The slot functions (backend.c puts them in the table). */
XPIPE__BACKEND_SLOTS(xpipe__unix);

/* sys.c */
/* A new socket for attr's mode: close-on-exec, non-blocking, no SIGPIPE,
 * buffers sized. */
apr_status_t xpipe__unix_socket_new(int *out, const xpipe_attr_t *attr);
/* Two connected sockets for attr's mode, made as socket_new makes one. */
apr_status_t xpipe__unix_socket_pair(int fds[2], const xpipe_attr_t *attr);
void xpipe__unix_sockaddr(struct sockaddr_un *sa, const char *path);
/* Close *fd (when >= 0) and set it to -1. */
void xpipe__unix_close_fd(int *fd);
/* Make fd close-on-exec and non-blocking (where no call does it at once):
 * 0, or -1 with errno. */
int xpipe__unix_cloexec_nonblock(int fd);

/* wake.c: in wake.h. */

/* learn.c: a stream receive's choices, learned. reply_init: a new
 * channel's start, from what the process learned; reply_try: does this
 * receive try first (else it waits first)? reply_learn: what a receive
 * that tried first found (ready: something, or the end). late_slice: a
 * receive that waits first: in recv() for a slice (1) or in poll() (0),
 * maybe a probe; late_learn: after a probe's receive (slept_with_data:
 * it slept in recv() and data woke it); late_sleeps: do late receives
 * sleep in recv()? */
void xpipe__unix_reply_init(xpipe__chan_t *c);
int xpipe__unix_reply_try(xpipe__chan_t *c);
void xpipe__unix_reply_learn(xpipe__chan_t *c, int ready);
int xpipe__unix_late_slice(xpipe__chan_t *c);
void xpipe__unix_late_learn(xpipe__chan_t *c, int slept_with_data);
int xpipe__unix_late_sleeps(const xpipe__chan_t *c);

/* The blocking slice (see xpipe__unix_slice_t). init: slices of len us
 * (0: none). start: fd's call is about to wait: switch it to slices
 * when this is the UNIX_SLICE_AFTERth such call (the switch costs three
 * system calls, once; a short-lived channel never pays them).
 * stop: make fd non-blocking for good (waits out a switch in progress).
 * may: may a call with this deadline sleep in the system call now?
 * shut: for close: wake a call asleep in a slice (shutdown), if any may
 * be (after the wake object was signalled). */
void xpipe__unix_slice_init(xpipe__unix_slice_t *s, apr_interval_time_t len);
void xpipe__unix_slice_start(xpipe__unix_slice_t *s, int fd);
void xpipe__unix_slice_stop(xpipe__unix_slice_t *s, int fd);
static inline int xpipe__unix_slice_may(xpipe__unix_slice_t *s,
                                        xpipe__unix_wake_t *w,
                                        apr_time_t deadline)
{
    if (xpipe__a32_get(&s->state) != UNIX_SLICED
        || xpipe__a32_get(&w->signalled))
        return 0;
    return deadline == XPIPE__FOREVER || deadline - apr_time_now() > s->len;
}
void xpipe__unix_slice_shut(xpipe__unix_slice_t *s, int fd);

/* names.c */
/* The directory of a resolved portable name, checked (with create, made
 * first). Missing without create: XPIPE_ENOPIPE. */
apr_status_t xpipe__unix_name_dir_check(const xpipe__name_t *name,
                                        const char *native, int create,
                                        apr_pool_t *pool);

/* listen.c */
/* A listener's state without a socket yet (sock.fd -1). */
apr_status_t xpipe__unix_lsn_new(xpipe__lsn_t **out, const xpipe_attr_t *attr,
                                 apr_pool_t *pool);
/* sockfile.c: lock, bind and listen on one socket file / undo it (the
 * SMB export's socket too). */
apr_status_t xpipe__unix_sock_open(xpipe__unix_sock_file_t *f, const char *path,
                                   const xpipe_attr_t *attr, apr_pool_t *pool);
void xpipe__unix_sock_close(xpipe__unix_sock_file_t *f);
/* wake.c: read exactly n bytes from a connection being accepted, before
 * until:
 * APR_EOF when it closes first, APR_TIMEUP, XPIPE_ECANCELED when the
 * listener is woken, or an OS status. */
apr_status_t xpipe__unix_recv_exact(int fd, void *buf, apr_size_t n,
                                    xpipe__unix_wake_t *w, apr_time_t until);

/* chan.c */
/* A channel on a connected fd, framed as kind. */
apr_status_t xpipe__unix_chan_new(xpipe__chan_t **out, int fd,
                                  const xpipe_attr_t *attr,
                                  xpipe__frame_kind_e kind, apr_pool_t *pool);

/* fastmem.c: the fast path's shared memory, a mapping of a sealed
 * memfd. make: the server's, of a ring of cap, formatted (fd kept for the
 * offer); map: the client's, of the fd the server sent, checked first
 * (sealed, regular, a ring's size holding max_message; *cap from it);
 * unmap: let go of both. token: the descriptor a server's 'N' carries. */
typedef struct xpipe__unix_mem_t {
    void *base; /* NULL when not mapped */
    apr_size_t size;
    int fd; /* -1 when none */
} xpipe__unix_mem_t;
apr_status_t xpipe__unix_fast_mem_make(xpipe__unix_mem_t *m, uint32_t cap);
apr_status_t xpipe__unix_fast_mem_map(xpipe__unix_mem_t *m, int fd,
                                      uint32_t *cap, apr_size_t max_message);
void xpipe__unix_fast_mem_unmap(xpipe__unix_mem_t *m);
int xpipe__unix_fast_token(void);

/* fast.c: the shared-memory fast path (Linux; elsewhere, fast_off.c,
 * nobody asks and every server declines). */
/* The ring capacity attr asks for (0: none; the environment's
 * XPIPE_FAST_PATH=force asks for the default). */
apr_size_t xpipe__unix_fast_ring(const xpipe_attr_t *attr);
/* Is this a client's address that asks (accept gave it)? */
int xpipe__unix_fast_asked(const struct sockaddr_un *sa, socklen_t len);
/* Client, before connect: the address that asks. */
apr_status_t xpipe__unix_fast_bind(int fd);
/* Server, in accept, for a client that asked: the answer (never waits). */
apr_status_t xpipe__unix_fast_offer(xpipe__chan_t *c, const xpipe_attr_t *attr,
                                    apr_pool_t *pool);
/* Client, after connect: the channel asked (the answer is read by its
 * first call). */
apr_status_t xpipe__unix_fast_ask(xpipe__chan_t *c, const xpipe_attr_t *attr,
                                  apr_pool_t *pool);
/* Is the channel on the fast path in either direction, or may it be? */
int xpipe__unix_fast_on(const xpipe__chan_t *c);
/* Does it receive from the socket (not the ring) now? */
int xpipe__unix_fast_rx_socket(const xpipe__chan_t *c);
/* A transfer in the channel's mode on the ring. APR_EAGAIN: on the
 * socket, go on there; XPIPE__FAST_WATCH (receives): on the socket,
 * watching for the peer's marker (a byte with a descriptor). */
#define XPIPE__FAST_WATCH (XPIPE_START_ERROR + 1001)
apr_status_t xpipe__unix_fast_xfer(xpipe__chan_t *c, int out, void *buf,
                                   apr_size_t *len, apr_time_t deadline);
/* A receive from the socket in XPIPE__FAST_WATCH got buf[len] with a
 * descriptor: APR_SUCCESS when it was the marker (receive from the ring
 * now), XPIPE_EPROTO when not. */
apr_status_t xpipe__unix_fast_marker(xpipe__chan_t *c, const void *buf,
                                     apr_size_t len);
/* For wake: a call asleep on the rings wakes. */
void xpipe__unix_fast_wake(xpipe__chan_t *c);
/* Half close on the rings; APR_EAGAIN: on the socket. */
apr_status_t xpipe__unix_fast_shutdown(xpipe__chan_t *c, xpipe_shutdown_e how);
void xpipe__unix_fast_close(xpipe__chan_t *c);
/* Waits go through the socket from now on (a poll set, an event loop). */
void xpipe__unix_fast_bell(xpipe__chan_t *c);
/* The descriptor an event loop waits on (readable: the channel may be
 * ready either way). */
apr_status_t xpipe__unix_fast_handle(xpipe__chan_t *c, int *fd);
/* After a receive delivered data: keep that descriptor ready while the
 * ring holds more. */
void xpipe__unix_fast_received(xpipe__chan_t *c);
/* pm_ready for a fast channel: the events of req that hold, or -1 when
 * the channel turned out to be on the socket. */
int xpipe__unix_fast_ready(xpipe__chan_t *c, int req, int os);

/* listen.c: whether a hello awaited has come (or its client left, or its
 * time is up). */
int xpipe__unix_hello_ready(xpipe__lsn_t *l);

/* Framed: read what the socket holds of the next frame into rx, without
 * blocking: APR_SUCCESS when a whole frame is there, APR_TIMEUP when
 * not yet, else the status the next recv reports. */
apr_status_t xpipe__unix_frame_fill(xpipe__chan_t *c);

/* The SMB export (backends/smb_export/export.c; stubs when built without it). */
/* Also listen in Samba's np directory for name. */
apr_status_t xpipe__smb_listen(xpipe__lsn_t *l, const xpipe__name_t *name,
                               apr_pool_t *pool);
/* One connection forwarded by smbd, if one is queued: APR_SUCCESS with
 * the channel, APR_EAGAIN when none is (or it was dropped),
 * XPIPE_ECANCELED, or an OS status. */
apr_status_t xpipe__smb_accept(xpipe__chan_t **out, xpipe__lsn_t *l,
                               apr_pool_t *pool);
/* A network client's identity, as the SMB session told it
 * (backends/smb_export/npa.c, pure code; a stub without the export). */
void xpipe__npa_peer(const xpipe__npa_info_t *info, xpipe_peer_t *peer);

#endif
