/* SPDX-License-Identifier: Apache-2.0 */
/* test_interrupt.c — waking blocked calls from another thread: accept,
 * read, write, a latched interrupt, and close.
 *
 * A woken call has to return long before its deadline (XT_WOKEN): how
 * soon is measured by xpipe bench, not here, since a loaded machine or an
 * emulator can delay any thread by far more than a wake-up takes. Where
 * the point is that a close does not wait for a slice to end, the spy
 * says it: no slice ran out after the close.
 *
 * To interrupt a call that really is blocked, the test learns when the
 * other thread enters its blocking wait: the backend's wait call (poll on
 * POSIX, WaitForMultipleObjects on Windows) goes through its syscall
 * table, where a spy counts the waits that may block. On POSIX a call
 * may also sleep in the system call itself, for a slice (a recv, send
 * or accept on a socket made blocking, with no MSG_DONTWAIT): the spy
 * counts those too.
 */
#include "xtest.h"

#include <apr_portable.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <string.h>
#ifndef _WIN32
#include <errno.h>
#include <fcntl.h>
#endif

#include "xsys.h"

static apr_thread_mutex_t *spy_lock;
static apr_thread_cond_t *spy_cond;
/* The threads that have entered a blocking wait since spy_install: a
 * thread counts once, however often it waits (a fast-path writer may
 * wait twice before a reader beside it has waited at all). */
static apr_os_thread_t spy_who[64];
static int spy_waits;
/* Set just before the wake-up is sent; sliced calls that ran out of their
 * slice after it are counted. */
static _Atomic int spy_woken, spy_late_slices;

static void spy_entered(long ms)
{
    apr_os_thread_t me = apr_os_thread_current();
    int i;

    if (ms == 0)
        return; /* a check, not a wait */
    apr_thread_mutex_lock(spy_lock);
    for (i = 0; i < spy_waits && !apr_os_thread_equal(spy_who[i], me); i++)
        ;
    if (i == spy_waits && spy_waits < 64) {
        spy_who[spy_waits++] = me;
        apr_thread_cond_broadcast(spy_cond);
    }
    apr_thread_mutex_unlock(spy_lock);
}

#ifdef _WIN32
static DWORD WINAPI spy_wait(DWORD n, const HANDLE *h, BOOL all, DWORD ms)
{
    spy_entered((long)ms);
    return xt_sys_real.wait_for_multiple_objects(n, h, all, ms);
}
#else
static int spy_poll(struct pollfd *p, nfds_t n, int ms)
{
    spy_entered(ms);
    return xt_sys_real.poll(p, n, ms);
}

/* Can a call on fd with these flags sleep in the system call? */
static int spy_slice(int fd, int flags)
{
    if (!(flags & MSG_DONTWAIT) && !(fcntl(fd, F_GETFL) & O_NONBLOCK)) {
        spy_entered(-1);
        return 1;
    }
    return 0;
}

/* A sliced call that failed with EAGAIN ran out of its slice. */
static void spy_sliced_end(int sliced, long rc)
{
    if (sliced && rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
        && spy_woken)
        spy_late_slices++;
}

static ssize_t spy_recv(int fd, void *buf, size_t len, int flags)
{
    int sliced = spy_slice(fd, flags);
    ssize_t rc = xt_sys_real.recv(fd, buf, len, flags);

    spy_sliced_end(sliced, (long)rc);
    return rc;
}

static ssize_t spy_send(int fd, const void *buf, size_t len, int flags)
{
    int sliced = spy_slice(fd, flags);
    ssize_t rc = xt_sys_real.send(fd, buf, len, flags);

    spy_sliced_end(sliced, (long)rc);
    return rc;
}

#ifdef __linux__
#include <linux/futex.h>
/* The fast path's waits: a futex wait sleeps. */
static long spy_futex(unsigned int *word, int op, unsigned int val,
                      const struct timespec *t)
{
    if ((op & 0x7f) == FUTEX_WAIT)
        spy_entered(-1);
    return xt_sys_real.futex(word, op, val, t);
}
#endif

static int spy_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    int sliced = spy_slice(fd, 0);
    int rc = xt_sys_real.accept(fd, sa, len);

    spy_sliced_end(sliced, rc);
    return rc;
}
#endif

static void spy_install(void)
{
    xt_sys_t *sys = xt_sys_take();

    XT_OK(apr_thread_mutex_create(&spy_lock, APR_THREAD_MUTEX_DEFAULT, xt_p));
    XT_OK(apr_thread_cond_create(&spy_cond, xt_p));
    spy_waits = spy_woken = spy_late_slices = 0;
#ifdef _WIN32
    sys->wait_for_multiple_objects = spy_wait;
#else
    sys->poll = spy_poll;
    sys->recv = spy_recv;
    sys->send = spy_send;
    sys->accept = spy_accept;
#ifdef __linux__
    sys->futex = spy_futex;
#endif
#endif
}

/* Wait (10 s at most) until count threads have entered a blocking wait.
 * The spy counts just before the wait starts; an interrupt landing in that
 * gap is kept (latched), so the result is the same either way. */
static int spy_until_blocked(int count)
{
    apr_time_t end = apr_time_now() + XT_LONG;

    apr_thread_mutex_lock(spy_lock);
    while (spy_waits < count && apr_time_now() < end)
        apr_thread_cond_timedwait(spy_cond, spy_lock, end - apr_time_now());
    count = spy_waits >= count;
    apr_thread_mutex_unlock(spy_lock);
    return count;
}

typedef struct blocked_t {
    xpipe_listener_t *l;
    xpipe_t *ch;
    int op; /* 0 accept, 1 read, 2 write, 3 recv */
    apr_status_t rv;
    apr_time_t returned;
} blocked_t;

static apr_status_t blocked_call(void *arg)
{
    blocked_t *b = arg;
    static char big[65536];
    char buf[16];
    apr_size_t n = sizeof(buf);
    xpipe_t *s = NULL;

    switch (b->op) {
    case 0:
        b->rv = xpipe_accept(&s, b->l, XT_LONG, NULL);
        if (s)
            xpipe_close(s);
        break;
    case 1: b->rv = xpipe_read(b->ch, buf, &n); break;
    case 2:
        n = sizeof(big);
        b->rv = xpipe_write(b->ch, big, &n);
        break;
    default: b->rv = xpipe_recv(b->ch, buf, &n); break;
    }
    b->returned = apr_time_now();
    return APR_SUCCESS;
}

/* Interrupt with fn after the thread blocked; check it woke (long before
 * its deadline) and, for a close, that no slice ran out after it. */
static void wake_check(blocked_t *b, apr_status_t (*fn)(void *), void *obj,
                       apr_status_t want)
{
    apr_thread_t *t;
    apr_time_t t0;

    spy_install();
    t = xt_thread(blocked_call, b);
    CU_ASSERT(spy_until_blocked(1));
    t0 = apr_time_now();
    spy_woken = 1;
    XT_OK(fn(obj));
    XT_OK(xt_join(t));
    XT_STATUS(b->rv, want);
    CU_ASSERT(b->returned - t0 < XT_WOKEN);
    if (want == XPIPE_ECLOSED)
        CU_ASSERT_EQUAL(spy_late_slices, 0);
}

static apr_status_t do_lsn_interrupt(void *l)
{
    return xpipe_listener_interrupt(l);
}
static apr_status_t do_interrupt(void *c)
{
    return xpipe_interrupt(c);
}
static apr_status_t do_close(void *c)
{
    return xpipe_close(c);
}
static apr_status_t do_lsn_close(void *l)
{
    return xpipe_listener_close(l);
}

static void test_accept_woken(void)
{
    blocked_t b = { 0 };
    const char *name = xt_name();
    xpipe_t *c = NULL, *s = NULL;

    XT_OK(xpipe_listen(&b.l, name, NULL, xt_p));
    wake_check(&b, do_lsn_interrupt, b.l, XPIPE_ECANCELED);
    /* The listener still works, and the interrupt was consumed. */
    XT_OK(xpipe_connect(&c, name, NULL, XT_LONG, xt_p));
    XT_OK(xpipe_accept(&s, b.l, XT_LONG, xt_p));
    xt_roundtrip(c, s, 'k');
}

/* Many threads blocked in accept on one listener, more than a backend
 * may track cheaply (the POSIX one registers 4, then falls back to the
 * object's own wake descriptor): one interrupt wakes every one, and so
 * does a close. */
static void test_many_accepts_woken(void)
{
    enum { N = 8 };
    blocked_t b[N];
    apr_thread_t *t[N];
    const char *name = xt_name();
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL;
    apr_time_t t0;
    int i, round;

    XT_OK(xpipe_listen(&l, name, NULL, xt_p));
    spy_install();
    for (round = 0; round < 2; round++) {
        spy_waits = 0; /* no thread of ours is running */
        memset(b, 0, sizeof(b));
        for (i = 0; i < N; i++) {
            b[i].l = l;
            t[i] = xt_thread(blocked_call, &b[i]);
        }
        CU_ASSERT(spy_until_blocked(N));
        t0 = apr_time_now();
        XT_OK(round == 0 ? xpipe_listener_interrupt(l)
                         : xpipe_listener_close(l));
        for (i = 0; i < N; i++) {
            XT_OK(xt_join(t[i]));
            XT_STATUS(b[i].rv, round == 0 ? XPIPE_ECANCELED : XPIPE_ECLOSED);
            CU_ASSERT(b[i].returned - t0 < XT_WOKEN);
        }
        if (round == 0) {
            /* Consumed: the listener serves again. */
            XT_OK(xpipe_connect(&c, name, NULL, XT_LONG, xt_p));
            XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
            xt_roundtrip(c, s, 'm');
        }
    }
}

static void test_read_woken(void)
{
    blocked_t b = { 0 };
    xpipe_t *c, *s;

    xt_pair(&c, &s, NULL);
    b.ch = s;
    b.op = 1;
    wake_check(&b, do_interrupt, s, XPIPE_ECANCELED);
    xt_roundtrip(c, s, 'r');
}

static void test_write_woken(void)
{
    static char fill[65536];
    blocked_t b = { 0 };
    xpipe_t *c, *s;
    apr_size_t n, total = 0, got;
    apr_status_t rv;
    char *sink;

    xt_pair(&c, &s, NULL);
    XT_OK(xpipe_timeout_set(c, 0));
    do { /* fill every buffer between the two ends */
        n = sizeof(fill);
        rv = xpipe_write(c, fill, &n);
        total += n;
    } while (rv == APR_SUCCESS && total < (256u << 20));
    XT_STATUS(rv, APR_TIMEUP);
    XT_OK(xpipe_timeout_set(c, XT_LONG));
    b.ch = c;
    b.op = 2;
    wake_check(&b, do_interrupt, c, XPIPE_ECANCELED);
    /* Everything written before is intact on the other side. */
    sink = apr_palloc(xt_p, total);
    XT_OK(xpipe_read_full(s, sink, total, &got));
    CU_ASSERT_EQUAL(got, total);
}

static void test_interrupt_latched(void)
{
    xpipe_t *c, *s;
    char x = 0;
    apr_size_t n = 1;
    apr_time_t t0;

    xt_pair(&c, &s, NULL);
    XT_OK(xpipe_interrupt(s));
    XT_OK(xpipe_interrupt(s)); /* twice is still one interrupt */
    t0 = apr_time_now();
    XT_STATUS(xpipe_read(s, &x, &n), XPIPE_ECANCELED);
    CU_ASSERT(apr_time_now() - t0 < XT_WOKEN);
    xt_roundtrip(c, s, 'L');
}

static void test_one_interrupt_wakes_reader_and_writer(void)
{
    static char fill[65536];
    blocked_t r = { 0 }, w = { 0 };
    xpipe_t *c, *s;
    apr_thread_t *tr, *tw;
    apr_size_t n;
    apr_status_t rv;
    apr_time_t t0;

    xt_pair(&c, &s, NULL);
    XT_OK(xpipe_timeout_set(c, 0));
    do {
        n = sizeof(fill);
        rv = xpipe_write(c, fill, &n);
    } while (rv == APR_SUCCESS);
    XT_OK(xpipe_timeout_set(c, XT_LONG));
    r.ch = w.ch = c;
    r.op = 1;
    w.op = 2;
    spy_install();
    tr = xt_thread(blocked_call, &r);
    tw = xt_thread(blocked_call, &w);
    CU_ASSERT(spy_until_blocked(2));
    t0 = apr_time_now();
    XT_OK(xpipe_interrupt(c));
    XT_OK(xt_join(tr));
    XT_OK(xt_join(tw));
    XT_STATUS(r.rv, XPIPE_ECANCELED);
    XT_STATUS(w.rv, XPIPE_ECANCELED);
    CU_ASSERT(r.returned - t0 < XT_WOKEN);
    CU_ASSERT(w.returned - t0 < XT_WOKEN);
    /* And the channel carries data again: drain one block from s. */
    n = sizeof(fill);
    XT_OK(xpipe_read(s, fill, &n));
    CU_ASSERT(n > 0);
}

static void test_close_wakes_read(void)
{
    blocked_t b = { 0 };
    xpipe_t *c, *s;
    char x;
    apr_size_t n = 1;

    xt_pair(&c, &s, NULL);
    b.ch = s;
    b.op = 1;
    wake_check(&b, do_close, s, XPIPE_ECLOSED);
    XT_STATUS(xpipe_read(s, &x, &n), XPIPE_ECLOSED);
    /* The peer sees the end of the stream. */
    n = 1;
    XT_STATUS(xpipe_read(c, &x, &n), APR_EOF);
}

static void test_listener_close_wakes_accept(void)
{
    blocked_t b = { 0 };
    xpipe_t *c = NULL;
    const char *name = xt_name();

    XT_OK(xpipe_listen(&b.l, name, NULL, xt_p));
    wake_check(&b, do_lsn_close, b.l, XPIPE_ECLOSED);
    XT_STATUS(xpipe_connect(&c, name, NULL, 0, xt_p), XPIPE_ENOPIPE);
}

static void test_message_recv_woken(void)
{
    blocked_t b = { 0 };
    xpipe_t *c, *s;
    char buf[8];
    apr_size_t n = sizeof(buf);

    xt_pair(&c, &s, xt_attr(XPIPE_MODE_MESSAGE));
    b.ch = s;
    b.op = 3;
    wake_check(&b, do_interrupt, s, XPIPE_ECANCELED);
    XT_OK(xpipe_send(c, "after", 5));
    XT_OK(xpipe_recv(s, buf, &n));
    CU_ASSERT_EQUAL(n, 5);
}

/* ------------------------------------------------------------------ */
/* The blocking slice (xpipe_attr_wake_slice_set): a call that has had to
 * wait before may sleep in the system call for a slice. Close must still
 * reach it at once; an interrupt, when the slice ends. Windows ignores
 * the attribute: there every wake-up is immediate, and the same bounds
 * hold. */

/* Message attributes with a slice of us. */
static xpipe_attr_t *slice_attr(apr_interval_time_t us)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_MESSAGE);

    XT_OK(xpipe_attr_wake_slice_set(a, us));
    return a;
}

/* A recv asleep in a one-second slice: close reaches it at once (it
 * shuts the socket down: the slice never runs out), and the peer sees
 * the end. */
static void test_close_wakes_slice(void)
{
    blocked_t b = { 0 };
    xpipe_t *c, *s;
    char x[8];
    apr_size_t n = sizeof(x);

    xt_pair(&c, &s, slice_attr(XPIPE_WAKE_SLICE_LIMIT));
    xt_pingpong(c, s, 8);
    b.ch = s;
    b.op = 3;
    wake_check(&b, do_close, s, XPIPE_ECLOSED);
    XT_STATUS(xpipe_recv(c, x, &n), APR_EOF);
}

/* An interrupt reaches a recv asleep in a 300 ms slice (when the slice
 * ends at the latest: long before the 10 s deadline), and the channel
 * carries messages on. */
static void test_interrupt_wakes_slice(void)
{
    blocked_t b = { 0 };
    xpipe_t *c, *s;
    apr_thread_t *t;
    apr_time_t t0;
    char buf[8];
    apr_size_t n = sizeof(buf);

    xt_pair(&c, &s, slice_attr(300000));
    xt_pingpong(c, s, 8);
    b.ch = s;
    b.op = 3;
    spy_install();
    t = xt_thread(blocked_call, &b);
    CU_ASSERT(spy_until_blocked(1));
    t0 = apr_time_now();
    XT_OK(xpipe_interrupt(s));
    XT_OK(xt_join(t));
    XT_STATUS(b.rv, XPIPE_ECANCELED);
    CU_ASSERT(b.returned - t0 < XT_WOKEN);
    XT_OK(xpipe_send(c, "after", 5));
    XT_OK(xpipe_recv(s, buf, &n));
    CU_ASSERT_EQUAL(n, 5);
    CU_ASSERT_EQUAL(memcmp(buf, "after", 5), 0);
}

/* With slices off (0) every wait is in poll(): an interrupt after the
 * warm-up still wakes the recv. */
static void test_no_slice_immediate(void)
{
    blocked_t b = { 0 };
    xpipe_t *c, *s;

    xt_pair(&c, &s, slice_attr(0));
    xt_pingpong(c, s, 8);
    b.ch = s;
    b.op = 3;
    wake_check(&b, do_interrupt, s, XPIPE_ECANCELED);
    xt_pingpong(c, s, 8);
}

/* An accept asleep in a one-second slice (the listener's accepts have
 * had to wait): listener close reaches it at once (no slice runs out). */
static void test_listener_close_wakes_slice(void)
{
    blocked_t b = { 0 };
    const char *name = xt_name();
    apr_thread_t *t;
    apr_time_t t0;
    xpipe_t *c;
    int i;

    XT_OK(xpipe_listen(&b.l, name, slice_attr(XPIPE_WAKE_SLICE_LIMIT), xt_p));
    spy_install();
    for (i = 0; i <= 6; i++) {
        /* Six accepts that wait for their client, then one for none. */
        memset(&b.rv, 0, sizeof(b.rv));
        spy_waits = 0; /* no thread of ours is running */
        t = xt_thread(blocked_call, &b);
        CU_ASSERT(spy_until_blocked(1));
        if (i == 6)
            break;
        XT_OK(xpipe_connect(&c, name, xt_attr(XPIPE_MODE_MESSAGE), XT_LONG,
                            xt_p));
        XT_OK(xt_join(t));
        XT_OK(b.rv);
        xpipe_close(c);
    }
    t0 = apr_time_now();
    spy_woken = 1;
    XT_OK(xpipe_listener_close(b.l));
    XT_OK(xt_join(t));
    XT_STATUS(b.rv, XPIPE_ECLOSED);
    CU_ASSERT(b.returned - t0 < XT_WOKEN);
    CU_ASSERT_EQUAL(spy_late_slices, 0);
}

CU_TestInfo xt_interrupt_tests[] = {
    { "close wakes a recv asleep in a 1 s slice at once",
      test_close_wakes_slice },
    { "an interrupt wakes a recv in a 300 ms slice by its end",
      test_interrupt_wakes_slice },
    { "slices off: an interrupt is immediate after waits",
      test_no_slice_immediate },
    { "listener close wakes an accept asleep in a 1 s slice",
      test_listener_close_wakes_slice },
    { "8 threads in accept: one interrupt wakes all, then close does",
      test_many_accepts_woken },
    { "blocked accept woken", test_accept_woken },
    { "blocked read woken", test_read_woken },
    { "blocked write woken, data intact", test_write_woken },
    { "blocked recv woken", test_message_recv_woken },
    { "interrupt before the call is kept, then consumed",
      test_interrupt_latched },
    { "one interrupt wakes a blocked reader and writer",
      test_one_interrupt_wakes_reader_and_writer },
    { "close from another thread wakes a blocked read", test_close_wakes_read },
    { "listener close wakes a blocked accept",
      test_listener_close_wakes_accept },
    CU_TEST_INFO_NULL,
};
