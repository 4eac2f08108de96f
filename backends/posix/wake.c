/* SPDX-License-Identifier: Apache-2.0 */
/* wake.c — the wake object (posix.h) and the one wait every blocking call
 * of the POSIX backend goes through: poll() on the socket and the calling
 * thread's wake fd, bounded by the deadline.
 */
#include "posix.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <unistd.h>
#ifdef HAVE_EVENTFD
#include <sys/eventfd.h>
#endif

#define UNIX_WAKE_NONE (~(apr_uint64_t)0)
/* In a slot: a waker is writing to the registered fd (wake_set). */
#define UNIX_SLOT_BUSY 0x80000000u

static int unix_wake_make(int fds[2])
{
#ifdef HAVE_EVENTFD
    fds[0] = fds[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fds[0] < 0 ? -1 : 0;
#elif defined(HAVE_PIPE2)
    return pipe2(fds, O_CLOEXEC | O_NONBLOCK);
#else
    if (pipe(fds) < 0)
        return -1;
    if (xpipe__unix_cloexec_nonblock(fds[0]) < 0
        || xpipe__unix_cloexec_nonblock(fds[1]) < 0) {
        unix_sys.close(fds[0]);
        unix_sys.close(fds[1]);
        return -1;
    }
    return 0;
#endif
}

/* Signal / drain a wake fd (an eventfd takes 8 bytes, a pipe any). */
static void unix_fd_signal(int wr)
{
    apr_uint64_t one = 1;

#ifdef HAVE_EVENTFD
    /* EAGAIN means it is already signalled: fine. */
    while (write(wr, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
#else
    while (write(wr, &one, 1) < 0 && errno == EINTR)
        ;
#endif
}

static void unix_fd_drain(int rd)
{
    char buf[64];

    while (read(rd, buf, sizeof(buf)) > 0 || errno == EINTR)
        ;
}

/* This thread's wake fds: made on first need, closed when the thread
 * ends (a key's destructor). A child made by fork() gets its own on first
 * need: the inherited ones are shared with the parent. */
typedef struct unix_thread_wake_t {
    int rd, wr;
} unix_thread_wake_t;

static _Thread_local unix_thread_wake_t *unix_tw;
static pthread_key_t unix_tw_key;
static pthread_once_t unix_tw_once = PTHREAD_ONCE_INIT;

static void unix_tw_free(void *v)
{
    unix_thread_wake_t *t = v;

    close(t->rd);
    if (t->wr != t->rd)
        close(t->wr);
    free(t);
}

/* The calling thread's wake fds closed (made again on its next need):
 * the backend's thread_release, and in a child made by fork(), where the
 * forking thread's are the parent's still. */
void xpipe__unix_thread_release(void)
{
    if (unix_tw) {
        pthread_setspecific(unix_tw_key, NULL);
        unix_tw_free(unix_tw);
        unix_tw = NULL;
    }
}

static void unix_tw_setup(void)
{
    pthread_key_create(&unix_tw_key, unix_tw_free);
    pthread_atfork(NULL, NULL, xpipe__unix_thread_release);
}

static unix_thread_wake_t *unix_thread_wake(void)
{
    unix_thread_wake_t *t;
    int fds[2];

    if (unix_tw)
        return unix_tw;
    pthread_once(&unix_tw_once, unix_tw_setup);
    if (unix_wake_make(fds) < 0)
        return NULL;
    t = malloc(sizeof(*t));
    if (t == NULL || pthread_setspecific(unix_tw_key, t) != 0) {
        close(fds[0]);
        if (fds[1] != fds[0])
            close(fds[1]);
        free(t);
        return NULL;
    }
    t->rd = fds[0];
    t->wr = fds[1];
    unix_tw = t;
    return t;
}

void xpipe__unix_wake_init(xpipe__unix_wake_t *w)
{
    int i;

    xpipe__a32_set(&w->signalled, 0);
    for (i = 0; i < UNIX_WAKE_SLOTS; i++)
        xpipe__a32_set(&w->slot[i], 0);
    xpipe__a64_set(&w->fds, UNIX_WAKE_NONE);
}

/* The object's own wake fds, made now if need be. */
static apr_status_t unix_wake_fds(xpipe__unix_wake_t *w, int *rd, int *wr)
{
    apr_uint64_t v = xpipe__a64_get(&w->fds);

    if (v == UNIX_WAKE_NONE) {
        int fds[2];
        apr_uint64_t mine;

        if (unix_wake_make(fds) < 0)
            return APR_FROM_OS_ERROR(errno);
        mine = (apr_uint64_t)(unsigned int)fds[0] << 32 | (unsigned int)fds[1];
        v = xpipe__a64_cas(&w->fds, mine, UNIX_WAKE_NONE);
        if (v != UNIX_WAKE_NONE) { /* another thread made one first */
            unix_sys.close(fds[0]);
            if (fds[1] != fds[0])
                unix_sys.close(fds[1]);
        }
        else
            v = mine;
    }
    *rd = (int)(v >> 32);
    *wr = (int)(v & 0xffffffffu);
    return APR_SUCCESS;
}

/* Free a slot a thread registered (mine: its write fd + 1). Modelled in
 * wake.pml (checked by Spin in ./run tests). A waker may
 * be writing to that fd at this moment (the slot then reads mine |
 * UNIX_SLOT_BUSY): wait the few instructions until it is done, so the fd
 * is never written after its thread has left the wait. */
static void unix_slot_leave(xpipe__a32_t *slot, apr_uint32_t mine)
{
    while (xpipe__a32_cas(slot, 0, mine) != mine)
        sched_yield();
}

/* wake (on) latches the flag, then signals every registered thread and
 * the own fd: a thread registers before it reads the flag, so either it
 * sees the flag or we see its slot. unwake (lib calls it only when no
 * call is in flight) clears both. */
apr_status_t xpipe__unix_wake_set(xpipe__unix_wake_t *w, int on)
{
    apr_uint64_t own = xpipe__a64_get(&w->fds);
    apr_uint32_t v;
    int i;

    xpipe__a32_set(&w->signalled, on != 0);
    if (on) {
        for (i = 0; i < UNIX_WAKE_SLOTS; i++) {
            /* Mark the slot while writing to its fd, so the thread cannot
             * leave (and, at its exit, close the fd) under the write. A
             * slot already marked is being signalled by another waker. */
            v = xpipe__a32_get(&w->slot[i]);
            if (v != 0 && !(v & UNIX_SLOT_BUSY)
                && xpipe__a32_cas(&w->slot[i], v | UNIX_SLOT_BUSY, v) == v) {
                unix_fd_signal((int)v - 1);
                xpipe__a32_set(&w->slot[i], v);
            }
        }
        if (own != UNIX_WAKE_NONE)
            unix_fd_signal((int)(own & 0xffffffffu));
    }
    else if (own != UNIX_WAKE_NONE)
        unix_fd_drain((int)(own >> 32));
    return APR_SUCCESS;
}

void xpipe__unix_wake_close(xpipe__unix_wake_t *w)
{
    apr_uint64_t v = xpipe__a64_get(&w->fds);

    if (v != UNIX_WAKE_NONE) {
        int rd = (int)(v >> 32), wr = (int)(v & 0xffffffffu);
        unix_sys.close(rd);
        if (wr != rd)
            unix_sys.close(wr);
        xpipe__a64_set(&w->fds, UNIX_WAKE_NONE);
    }
}

XPIPE__HOT apr_status_t xpipe__unix_wait2(int fd, int fd2, short events,
                                          xpipe__unix_wake_t *w,
                                          apr_time_t deadline)
{
    struct pollfd p[3];
    int n, i, nfds = fd2 >= 0 ? 2 : 1, wake = -1, slot = -1, wr;
    unix_thread_wake_t *tw = NULL;
    apr_status_t rv;

    if (w && xpipe__a32_get(&w->signalled))
        return XPIPE_ECANCELED;
    p[1].fd = fd2;
    /* A wait that may block must be reachable by wake(): register this
     * thread's wake fd (or use the object's own), then look at the flag
     * again. A zero wait needs neither. */
    if (w && xpipe__remaining_ms(deadline) != 0) {
        wake = nfds++;
        tw = unix_thread_wake();
        for (i = 0; tw && i < UNIX_WAKE_SLOTS && slot < 0; i++)
            if (xpipe__a32_cas(&w->slot[i], (apr_uint32_t)tw->wr + 1, 0) == 0)
                slot = i;
        if (slot >= 0)
            p[wake].fd = tw->rd;
        else if ((rv = unix_wake_fds(w, &p[wake].fd, &wr)) != APR_SUCCESS)
            return rv;
    }
    for (;;) {
        if (w && xpipe__a32_get(&w->signalled)) {
            rv = XPIPE_ECANCELED;
            break;
        }
        for (i = 0; i < nfds; i++) {
            p[i].events = i == wake ? POLLIN : events;
            p[i].revents = 0;
        }
        p[0].fd = fd;
        n = unix_sys.poll(p, (nfds_t)nfds, xpipe__remaining_ms(deadline));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue; /* a signal, or (POSIX) a transient shortage */
        if (n < 0) {
            rv = APR_FROM_OS_ERROR(errno);
            break;
        }
        if (wake >= 0 && p[wake].revents) {
            /* Ours, or a stale signal meant for an earlier wait of this
             * thread: the flag tells (checked at the top). */
            if (slot >= 0)
                unix_fd_drain(tw->rd);
            else if (!xpipe__a32_get(&w->signalled))
                unix_fd_drain(p[wake].fd);
            continue;
        }
        if (p[0].revents || (fd2 >= 0 && p[1].revents)) {
            rv = APR_SUCCESS;
            break;
        }
        if (xpipe__remaining_ms(deadline) == 0) {
            rv = APR_TIMEUP;
            break;
        }
    }
    if (slot >= 0)
        unix_slot_leave(&w->slot[slot], (apr_uint32_t)tw->wr + 1);
    return rv;
}

XPIPE__HOT apr_status_t xpipe__unix_again(int fd, short events,
                                          xpipe__unix_wake_t *w,
                                          apr_time_t deadline,
                                          apr_status_t (*map)(int))
{
    int err = errno;

    if (err == EINTR)
        return APR_SUCCESS; /* a signal: try again at once */
    if (err != EAGAIN && err != EWOULDBLOCK)
        return map ? map(err) : APR_FROM_OS_ERROR(err);
    return xpipe__unix_wait(fd, events, w, deadline);
}

apr_status_t xpipe__unix_wait(int fd, short events, xpipe__unix_wake_t *w,
                              apr_time_t deadline)
{
    return xpipe__unix_wait2(fd, -1, events, w, deadline);
}

/* ------------------------------------------------------------------ */
/* The blocking slice (posix.h). */

void xpipe__unix_slice_init(xpipe__unix_slice_t *s, apr_interval_time_t len)
{
    s->len = len;
    xpipe__a32_set(&s->used, 0);
    xpipe__a32_set(&s->waits, 0);
    xpipe__a32_set(&s->state,
                   len > 0 && UNIX_DONTWAIT != 0 ? UNIX_NB : UNIX_NB_GOOD);
}

/* Set fd's O_NONBLOCK (on) or clear it, in one call where FIONBIO is. */
static int unix_set_nonblock(int fd, int on)
{
#ifdef FIONBIO
    return ioctl(fd, FIONBIO, &on);
#else
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0)
        return -1;
    return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
#endif
}

void xpipe__unix_slice_start(xpipe__unix_slice_t *s, int fd)
{
    struct timeval tv;
    int ok;

    if (xpipe__a32_get(&s->state) != UNIX_NB
        || xpipe__a32_add(&s->waits, 1) + 1 < UNIX_SLICE_AFTER
        || xpipe__a32_cas(&s->state, UNIX_SWITCHING, UNIX_NB) != UNIX_NB)
        return;
    tv.tv_sec = (time_t)(s->len / APR_USEC_PER_SEC);
    tv.tv_usec = (suseconds_t)(s->len % APR_USEC_PER_SEC);
    /* The timeouts before the flag: a call that still thinks the socket
     * non-blocking, and so passes no MSG_DONTWAIT... never exists (every
     * call that may not sleep passes it), but were one to, it would sleep
     * one slice at most. */
    ok = unix_sys.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0
         && unix_sys.setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))
                == 0
         && unix_set_nonblock(fd, 0) == 0;
    if (!ok)
        unix_set_nonblock(fd, 1);
    else
        xpipe__a32_set(&s->used, 1);
    xpipe__a32_set(&s->state, ok ? UNIX_SLICED : UNIX_NB_GOOD);
}

void xpipe__unix_slice_stop(xpipe__unix_slice_t *s, int fd)
{
    for (;;) {
        apr_uint32_t v = xpipe__a32_get(&s->state);
        if (v == UNIX_NB_GOOD)
            return;
        if (v == UNIX_SWITCHING) {
            sched_yield(); /* three system calls away from done */
            continue;
        }
        if (xpipe__a32_cas(&s->state, UNIX_NB_GOOD, v) != v)
            continue;
        if (v == UNIX_SLICED)
            unix_set_nonblock(fd, 1);
        return;
    }
}

void xpipe__unix_slice_shut(xpipe__unix_slice_t *s, int fd)
{
    /* The wake object was signalled first: a call that reads the state
     * after this one did sees the signal and takes no slice (both are
     * sequentially consistent), so a socket still UNIX_NB hides no call
     * asleep in one. One that has been sliced may, even if stopped since
     * (O_NONBLOCK does not wake a call already asleep). */
    if (xpipe__a32_get(&s->state) == UNIX_SWITCHING || xpipe__a32_get(&s->used))
        unix_sys.shutdown(fd, SHUT_RDWR);
}

apr_status_t xpipe__unix_recv_exact(int fd, void *buf, apr_size_t n,
                                    xpipe__unix_wake_t *w, apr_time_t until)
{
    apr_size_t got = 0;
    apr_status_t rv;
    ssize_t r;

    while (got < n) {
        r = unix_sys.recv(fd, (char *)buf + got, n - got, 0);
        if (r > 0) {
            got += (apr_size_t)r;
            continue;
        }
        if (r == 0)
            return APR_EOF;
        rv = xpipe__unix_again(fd, POLLIN, w, until, NULL);
        if (rv != APR_SUCCESS)
            return rv;
    }
    return APR_SUCCESS;
}
