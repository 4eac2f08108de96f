/* SPDX-License-Identifier: Apache-2.0 */
/* win32.h — PRIVATE to backends/win32/: the Windows backend's objects and
 * what its files share. Named pipes with overlapped I/O and wide-char
 * APIs. The files by role:
 *   sys.c      the system-call table, a process token's SID
 *   wait.c     the one wait every blocking call uses, events
 *   pipeio.c   one overlapped transfer, one pipe message read whole
 *   names.c    name resolution, UTF-16, the table of live server ends
 *   listen.c   the listener: pending instances, accept
 *   dial.c     one connect attempt, waiting for a busy server
 *   conn.c     a connection's I/O, close and identity
 *   fast.c     the shared-memory fast path
 *   fastmem.c  its section and events: made, offered, checked, mapped
 *   backend.c  our identity, SDDL checks, the backend table
 * Every wait is WaitForMultipleObjects on the operation's event and the
 * object's wake event, bounded by the deadline; a cancelled operation is
 * always waited out, so none is left pending on freed memory.
 */
#ifndef XPIPE_WIN32_H
#define XPIPE_WIN32_H

/* Vista+ calls (GetNamedPipeClientProcessId, CancelIoEx); apr.h pulls in
 * <windows.h> itself, so this comes first. */
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0601
#endif
#define WIN32_LEAN_AND_MEAN
#include "backend.h"
#include "helpers.h" /* APR before <windows.h> */

#include <stdint.h>
#include <windows.h>

#include "sys.h"

/* How often a full pipe is re-checked for XPIPE_POLLOUT, and a
 * listener settling its connects looked at again (ms): Windows tells of
 * free pipe space only to a write in flight. */
#define XPIPE__WIN32_RECHECK_MS 10

/* Windows caps a pipe path at 256 characters. */
#define WIN32_NAME_MAX 256

typedef enum xpipe__win32_slot_e {
    SLOT_EMPTY,   /* no instance (creating one failed) */
    SLOT_PENDING, /* ConnectNamedPipe in flight */
    SLOT_READY,   /* a client is connected, not yet accepted */
    /* Its connect was cancelled (to be issued again on another event) and
     * has not ended yet: looked at again, never waited for on its event
     * (listen.c: win32_settle). */
    SLOT_CANCELLING
} xpipe__win32_slot_e;

typedef struct xpipe__win32_inst_t {
    HANDLE pipe;
    OVERLAPPED ov; /* hEvent: the listener's event (ev, or notify) */
    xpipe__win32_slot_e state;
    int fast; /* an instance of the fast path's name (fast.c) */
} xpipe__win32_inst_t;

typedef struct xpipe__win32_fast_t xpipe__win32_fast_t;

struct xpipe__lsn_t {
    const xpipe_attr_t *attr;
    const wchar_t *wname;
    /* The fast path's name (fast.c), or NULL: the slots from n / 2 on
     * are its instances. */
    const wchar_t *fname;
    const xpipe_attr_t *fattr; /* its pipes': message type, local only */
    SECURITY_ATTRIBUTES sa;
    PSECURITY_DESCRIPTOR sd; /* LocalFree on close */
    HANDLE wake;             /* manual-reset: set while interrupted */
    /* Manual-reset, signalled by every slot's ConnectNamedPipe (one event
     * for all: no limit of 64 objects to a wait). In a poll set the
     * slots signal the set's event instead (notify). */
    HANDLE ev;
    HANDLE notify;
    CRITICAL_SECTION lock; /* guards the slots and notify */
    int n;
    /* calloc'd: kept (never freed) by a close that found a connect that
     * would not end, whose OVERLAPPED Windows may still write. */
    xpipe__win32_inst_t *slot;
};

/* A channel's wake object (wait.c), as on POSIX (backends/posix/wake.c,
 * the protocol that wake.pml models): the flag an interrupt or a close
 * latches, and the threads waiting on the channel, each registered in a
 * slot with its own auto-reset wake event (made once per thread). A
 * thread registers before it reads the flag, and a waker latches the
 * flag before it reads the slots, so either the thread sees the flag or
 * the waker signals it; the waker marks a slot (its low bit) while it
 * signals, so the thread cannot leave (and, at its end, close its event)
 * under the signal. Only when every slot is taken does a wait use an
 * event of the channel's own (manual-reset, made then). */
#define WIN32_WAKE_SLOTS 4
typedef struct xpipe__win32_wake_t {
    LONG volatile signalled;
    HANDLE volatile slot[WIN32_WAKE_SLOTS];
    HANDLE volatile own;
} xpipe__win32_wake_t;

struct xpipe__chan_t {
    const wchar_t *wname; /* server channels: the name, for the live table */
    xpipe__held_t held;   /* a message longer than the caller's buffer,
                             read whole and kept for the next recv */
    HANDLE pipe;
    /* Reads and writes use their thread's event (xpipe__win32_thread_
     * event), and wait on their thread's wake event too, registered here
     * (wait.c): a channel makes no event of its own. */
    xpipe__win32_wake_t wake;
    int server;
    /* The last write found the pipe full (a poll set's XPIPE_POLLOUT
     * waits XPIPE__WIN32_RECHECK_MS from full_at), and the completion
     * port the handle is bound to for good (a poll set's), or NULL. */
    int full;
    apr_time_t full_at;
    HANDLE port;
    /* Messages carry handles (attr->handles): each starts with a header
     * (win32_hdr_t in conn.c) naming the handles duplicated into the
     * receiver. The peer's process: its id (0: ask the pipe; set for a
     * child we started, whose end we opened ourselves) and, opened on
     * the first send, a handle to duplicate into. A received message is
     * read whole into spill; one kept for the next call (held) keeps
     * its handles in held_h. */
    int handles;
    apr_size_t max_message;
    DWORD peer_pid;
    HANDLE peer_proc;
    unsigned char *spill;
    HANDLE held_h[XPIPE_HANDLES_MAX];
    int held_nh;
    /* The shared-memory fast path (fast.c), or NULL: every transfer goes
     * there while it is set. */
    xpipe__win32_fast_t *fast;
};

static inline apr_status_t win32_os_status(DWORD err)
{
    return APR_FROM_OS_ERROR(err);
}

/* The slot functions (backend.c puts them in the table). */
XPIPE__BACKEND_SLOTS(xpipe__win32);

/* wait.c */
/* Wait for an overlapped operation, the wake event or the deadline. On
 * wake or deadline the operation is cancelled and waited out: if it
 * completed anyway its result stands. *n gets the bytes transferred. */
/* The result of an operation that was cancelled (or is about to end), once
 * it is over, looked for at most ms: FALSE with ERROR_IO_INCOMPLETE when it
 * is not over by then (its OVERLAPPED must outlive it). Never trusts the
 * operation's event (wait.c). */
BOOL xpipe__win32_io_settle(HANDLE h, OVERLAPPED *ov, DWORD *n, DWORD ms);
apr_status_t xpipe__win32_wait_io(HANDLE h, OVERLAPPED *ov,
                                  xpipe__win32_wake_t *wake,
                                  apr_time_t deadline, DWORD *n);
/* Before a wait that an interrupt must reach: *ev gets the event to wait
 * on too (NULL when none can be made: the wait runs to its deadline) and
 * *slot what to leave; XPIPE_ECANCELED when the flag is up already
 * (nothing to leave then). */
apr_status_t xpipe__win32_wake_enter(xpipe__win32_wake_t *w, HANDLE *ev,
                                     int *slot);
/* After that wait (slot from enter; -1: nothing to leave). */
void xpipe__win32_wake_leave(xpipe__win32_wake_t *w, int slot);
/* Is the flag up? (A wait woken by its wake event asks: a thread's event
 * may carry a signal meant for an earlier wait of the thread.) */
int xpipe__win32_wake_up(xpipe__win32_wake_t *w);
/* Latch the flag and signal every waiting thread (on), or clear it (lib
 * calls that only when no call is in flight). */
apr_status_t xpipe__win32_wake_set(xpipe__win32_wake_t *w, int on);
void xpipe__win32_wake_close(xpipe__win32_wake_t *w);
/* The event in *slot, made on first need (racing threads agree). */
HANDLE xpipe__win32_event(HANDLE volatile *slot);
/* The calling thread's event for its own overlapped operations, or NULL
 * (GetLastError says why). */
HANDLE xpipe__win32_thread_event(void);
/* The backend's thread_release: the calling thread's events closed. */
void xpipe__win32_thread_release(void);
/* ev with the low bit set: an overlapped operation with it sets ev and
 * queues no packet to a completion port. */
HANDLE xpipe__win32_quiet(HANDLE ev);

/* names.c */
/* UTF-8 to UTF-16 (lib/name.c checked portable names), or NULL. */
wchar_t *xpipe__win32_wide(const char *s, apr_pool_t *pool);
/* A resolved pipe name in UTF-16, into out (no allocation: dial and
 * busy_wait run once per connect attempt). 0, or -1 when it does not
 * convert. */
int xpipe__win32_wide_name(const char *native, wchar_t out[WIN32_NAME_MAX + 1]);
/* Server ends that outlive their listener, counted per name (see
 * names.c); add with the lock held. */
void xpipe__win32_names_lock(void);
void xpipe__win32_names_unlock(void);
long xpipe__win32_names_add(const wchar_t *name, long delta);

/* listen.c */
/* A security descriptor from SDDL (NULL: full access for this user and
 * SYSTEM only), into *sd (LocalFree it) and sa (not inheritable). */
apr_status_t xpipe__win32_sd(const char *sddl, SECURITY_ATTRIBUTES *sa,
                             PSECURITY_DESCRIPTOR *sd, apr_pool_t *pool);
/* A server end of pipe wname for a's mode and buffers, overlapped, local
 * clients only (unless a says remote); first: FILE_FLAG_FIRST_PIPE_INSTANCE.
 * INVALID_HANDLE_VALUE with *err on failure. */
HANDLE xpipe__win32_pipe_new(const wchar_t *wname, const xpipe_attr_t *a,
                             int first, DWORD instances,
                             SECURITY_ATTRIBUTES *sa, DWORD *err);
/* Make the slots signal ev (a poll set's event), or the listener's own
 * when ev is NULL; pending connects are re-armed with it. */
void xpipe__win32_listener_notify(xpipe__lsn_t *l, HANDLE ev);
/* Is a client there to accept (no wait)? */
/* A client waits to be accepted (*settling, when not NULL: a cancelled
 * connect has still to end, which nothing will signal: look again in a
 * while). */
int xpipe__win32_listener_ready(xpipe__lsn_t *l, int *settling);

/* dial.c */
apr_status_t xpipe__win32_busy_wait(const char *native, apr_time_t deadline,
                                    apr_pool_t *pool);

/* pipeio.c */
/* One ReadFile/WriteFile, overlapped, to completion or cancellation (by
 * the deadline or c's wake event). APR_SUCCESS or the raw OS status;
 * ERROR_MORE_DATA comes back as its status with *n set. */
apr_status_t xpipe__win32_io(xpipe__chan_t *c, int out, void *buf, DWORD len,
                             apr_time_t deadline, DWORD *n);
/* Read one message whole into buf (cap bytes): APR_SUCCESS with *n its
 * size (0-byte messages skipped); one longer is read to its end, its
 * start in buf, and told as XPIPE_EMSGSIZE with *n its size. */
apr_status_t xpipe__win32_read_msg(xpipe__chan_t *c, unsigned char *buf,
                                   DWORD cap, DWORD *n, apr_time_t deadline);

/* conn.c */
apr_status_t xpipe__win32_chan_new(xpipe__chan_t **out, HANDLE pipe, int server,
                                   const xpipe_attr_t *attr, apr_pool_t *pool);

/* fastmem.c: the fast path's section and events. ev[2d]: direction d's
 * consumer sleeps on it (data), ev[2d+1]: its producer (room); d 0 is
 * client to server. make: the server's, formatted with id; offer: the
 * offer's bytes naming them; take: the client's, from an offer's body (n
 * bytes at m, tag excluded), checked and mapped, *cap its ring's (APR_EOF
 * when the server has closed since); unmap: all let go. id: a fresh one. */
#define XPIPE__WIN32_OFFER_LEN 56
typedef struct xpipe__win32_mem_t {
    void *base; /* the view, or NULL */
    HANDLE section;
    HANDLE ev[4];
} xpipe__win32_mem_t;
apr_status_t xpipe__win32_fast_mem_make(xpipe__win32_mem_t *m, uint32_t cap,
                                        uint32_t id);
void xpipe__win32_fast_mem_offer(const xpipe__win32_mem_t *m, uint32_t cap,
                                 uint32_t id,
                                 unsigned char out[XPIPE__WIN32_OFFER_LEN]);
apr_status_t xpipe__win32_fast_mem_take(xpipe__win32_mem_t *m, HANDLE server,
                                        const unsigned char *body, DWORD n,
                                        apr_size_t max_message, uint32_t *cap);
void xpipe__win32_fast_mem_unmap(xpipe__win32_mem_t *m);
uint32_t xpipe__win32_fast_id(void);

/* fast.c: the shared-memory fast path (local names only). */
/* The ring a channel of attr asks for or offers, 0 when none. */
apr_size_t xpipe__win32_fast_ring(const xpipe_attr_t *attr);
/* The fast path's pipe name for wname and a mode into out: 0, or -1 when
 * there is none (a remote name, or too long). */
int xpipe__win32_fast_name(const wchar_t *wname, int message,
                           wchar_t out[WIN32_NAME_MAX + 1]);
/* The server, on a channel accepted on the fast name: make the memory
 * and offer it (or say it cannot); never fails the accept. */
apr_status_t xpipe__win32_fast_offer(xpipe__chan_t *c, const xpipe_attr_t *attr,
                                     apr_pool_t *pool);
/* The client, connected on the fast name to server (its process: DUP,
 * SYNCHRONIZE; the channel owns it from now on). */
apr_status_t xpipe__win32_fast_ask(xpipe__chan_t *c, const xpipe_attr_t *attr,
                                   HANDLE server, apr_pool_t *pool);
/* A transfer of the channel's mode (out: send or write). */
apr_status_t xpipe__win32_fast_io(xpipe__chan_t *c, int out, void *buf,
                                  apr_size_t *len, apr_time_t deadline);
/* Does the channel receive from its ring (no longer from the pipe)? */
int xpipe__win32_fast_ring_rx(const xpipe__chan_t *c);
/* Closing: the rings shut (the peer told), before the pipe is closed;
 * then, after it, the memory, events and the peer's process let go
 * (so a peer that cannot pull them any more finds the pipe gone). */
void xpipe__win32_fast_close(xpipe__chan_t *c);
void xpipe__win32_fast_free(xpipe__chan_t *c);
/* In a poll set: the peer rings the pipe instead of setting our events. */
void xpipe__win32_fast_bell(xpipe__chan_t *c);
/* pm_ready for a fast channel: the events of req that hold (pipe_in: the
 * set's read on the pipe completed). */
int xpipe__win32_fast_ready(xpipe__chan_t *c, int req, int pipe_in);

/* sys.c */
/* The user SID of a process's token, as "S-1-5-...". */
apr_status_t xpipe__win32_token_sid(HANDLE process, const char **sid,
                                    apr_pool_t *pool);

#endif
