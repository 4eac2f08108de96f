/* SPDX-License-Identifier: Apache-2.0 */
/* test_fast.c — the shared-memory fast path (xpipe_attr_fast_path_set):
 * that both ends agree, or keep the socket when either will not or
 * cannot; that data then moves without a socket call; every contract
 * kept on the rings (modes, boundaries, XPIPE_EMSGSIZE keeping the
 * message, EOF after all data, EPIPE, interrupt, close, poll sets, a
 * peer killed); and a hostile peer: memory unsealed, of the wrong size
 * or kind, indices and lengths scribbled, wake-ups never sent or sent
 * all the time. Each gives a clear status or the socket, never a crash,
 * a hang or a leak.
 *
 * Whether data went through the rings is seen in the system-call table:
 * a spy counts the socket calls that move data. Hostile memory is made
 * by standing in for the server's memfd calls; a hostile writer is this
 * process writing the shared mapping (found in /proc/self/maps).
 */
#include "xtest.h"

#include <limits.h>

#include <stdlib.h>
#include <string.h>

#if defined(__linux__) && !defined(_WIN32)
#define FT_LINUX 1
#include "../lib/ring.h"
#include "xsys.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#else
#define FT_LINUX 0
#endif
#ifdef _WIN32
#define FT_WIN32 1
#include "../lib/ring.h"
#include "xsys.h"

#include <stdint.h>
#else
#define FT_WIN32 0
#endif
/* Where the rings are: the spy, the ring cases. */
#define FT_RINGS (FT_LINUX || FT_WIN32)

static xpipe_attr_t *ft_attr(xpipe_mode_e mode, int fast)
{
    xpipe_attr_t *a = xt_attr(mode);

    XT_OK(xpipe_attr_fast_path_set(a, fast ? XPIPE_FAST_RING_MIN : 0));
    return a;
}

/* A pair: the client made with ca, the server with sa. */
static void ft_pair_attrs(xpipe_t **c, xpipe_t **s, xpipe_attr_t *ca,
                          xpipe_attr_t *sa)
{
    xpipe_listener_t *l = NULL;
    const char *name = xt_name();

    XT_OK(xpipe_listen(&l, name, sa, xt_p));
    XT_OK(xpipe_connect(c, name, ca, XT_LONG, xt_p));
    XT_OK(xpipe_accept(s, l, XT_LONG, xt_p));
    XT_OK(xpipe_listener_close(l));
    XT_OK(xpipe_timeout_set(*c, XT_LONG));
    XT_OK(xpipe_timeout_set(*s, XT_LONG));
}

/* A pair whose client has fast (and server sfast) asked. */
static void ft_pair(xpipe_t **c, xpipe_t **s, xpipe_mode_e mode, int cfast,
                    int sfast)
{
    ft_pair_attrs(c, s, ft_attr(mode, cfast), ft_attr(mode, sfast));
}

static void ft_close2(xpipe_t *c, xpipe_t *s)
{
    XT_OK(xpipe_close(c));
    XT_OK(xpipe_close(s));
}

/* One message (or these bytes) from a to b, checked. */
static void ft_move(xpipe_t *a, xpipe_t *b, int message, const char *text)
{
    char buf[64];
    apr_size_t n = strlen(text), got = 0;

    if (message) {
        XT_OK(xpipe_send(a, text, n));
        got = sizeof(buf);
        XT_OK(xpipe_recv(b, buf, &got));
    }
    else {
        XT_OK(xpipe_write_full(a, text, n, NULL));
        XT_OK(xpipe_read_full(b, buf, n, &got));
    }
    CU_ASSERT_EQUAL_FATAL(got, n);
    CU_ASSERT_EQUAL(memcmp(buf, text, n), 0);
}

#if FT_LINUX
/* ------------------------------------------------------------------ */
/* The spy: socket calls that move data, and futex calls. */

static _Atomic int spy_io, spy_waits, spy_wakes, spy_drop_wakes;
/* The longest futex wait asked for, in microseconds (LONG_MAX: none). */
static _Atomic long spy_longest;

static ssize_t spy_send(int fd, const void *b, size_t n, int f)
{
    if (n != 1) /* a doorbell is one byte, and none is expected here */
        spy_io++;
    return xt_sys_real.send(fd, b, n, f);
}

static ssize_t spy_recv(int fd, void *b, size_t n, int f)
{
    spy_io++;
    return xt_sys_real.recv(fd, b, n, f);
}

static ssize_t spy_sendmsg(int fd, const struct msghdr *m, int f)
{
    spy_io++;
    return xt_sys_real.sendmsg(fd, m, f);
}

static ssize_t spy_recvmsg(int fd, struct msghdr *m, int f)
{
    spy_io++;
    return xt_sys_real.recvmsg(fd, m, f);
}

static long spy_futex(unsigned int *w, int op, unsigned int v,
                      const struct timespec *t)
{
    if ((op & 0x7f) == FUTEX_WAIT) {
        long us = t ? (long)t->tv_sec * 1000000 + t->tv_nsec / 1000 : LONG_MAX;
        if (us > spy_longest)
            spy_longest = us;
        spy_waits++;
    }
    else if (spy_drop_wakes)
        return 0; /* a peer that never wakes us */
    else
        spy_wakes++;
    return xt_sys_real.futex(w, op, v, t);
}

static void spy_install(void)
{
    xt_sys_t *sys = xt_sys_take();

    spy_io = spy_waits = spy_wakes = spy_drop_wakes = 0;
    spy_longest = 0;
    sys->send = spy_send;
    sys->recv = spy_recv;
    sys->sendmsg = spy_sendmsg;
    sys->recvmsg = spy_recvmsg;
    sys->futex = spy_futex;
}
#endif

#if FT_WIN32
/* The spy: pipe reads and writes that move data (a doorbell is one
 * byte, and none is expected here), and waits. */
static _Atomic int spy_io, spy_waits, spy_wakes, spy_drop_wakes;
static HANDLE _Atomic spy_waited; /* the first handle of the last wait */

static BOOL WINAPI spy_read(HANDLE h, LPVOID b, DWORD n, LPDWORD got,
                            LPOVERLAPPED ov)
{
    if (n > 0)
        spy_io++;
    return xt_sys_real.read_file(h, b, n, got, ov);
}

static BOOL WINAPI spy_write(HANDLE h, LPCVOID b, DWORD n, LPDWORD got,
                             LPOVERLAPPED ov)
{
    if (n != 1)
        spy_io++;
    return xt_sys_real.write_file(h, b, n, got, ov);
}

static DWORD WINAPI spy_wait(DWORD n, const HANDLE *h, BOOL all, DWORD ms)
{
    spy_waited = h[0];
    spy_waits++;
    return xt_sys_real.wait_for_multiple_objects(n, h, all, ms);
}

static BOOL WINAPI spy_set_event(HANDLE h)
{
    if (spy_drop_wakes)
        return TRUE; /* a peer that never wakes us */
    spy_wakes++;
    return xt_sys_real.set_event(h);
}

static void spy_install(void)
{
    xt_sys_t *sys = xt_sys_take();

    spy_io = spy_waits = spy_wakes = spy_drop_wakes = 0;
    sys->read_file = spy_read;
    sys->write_file = spy_write;
    sys->wait_for_multiple_objects = spy_wait;
    sys->set_event = spy_set_event;
}
#endif

#if FT_RINGS
/* Move a few messages each way (the switch happens with the first), then
 * count the socket calls that 1 MiB each way makes. */
static int ft_socket_calls(xpipe_t *c, xpipe_t *s, int message)
{
    static unsigned char big[1 << 20], in[1 << 20];
    apr_size_t got, off;
    int i;

    for (i = 0; i < 3; i++) {
        ft_move(c, s, message, "warm up");
        ft_move(s, c, message, "warm up");
    }
    xt_fill(big, sizeof(big), 0, 7);
    spy_install();
    for (i = 0; i < 2; i++) {
        xpipe_t *from = i ? s : c, *to = i ? c : s;
        memset(in, 0, sizeof(in));
        if (message) {
            /* Messages of 32 KiB, sent and received in turn. */
            for (off = 0; off < sizeof(big); off += got) {
                XT_OK(xpipe_send(from, big + off, 32768));
                got = 32768;
                XT_OK(xpipe_recv(to, in + off, &got));
                CU_ASSERT_EQUAL_FATAL(got, 32768);
            }
        }
        else
            for (off = 0; off < sizeof(big); off += got) {
                apr_size_t n =
                    sizeof(big) - off < 65536 ? sizeof(big) - off : 65536;
                XT_OK(xpipe_write_full(from, big + off, n, NULL));
                XT_OK(xpipe_read_full(to, in + off, n, &got));
            }
        CU_ASSERT_EQUAL(memcmp(in, big, sizeof(big)), 0);
    }
    xt_sys_restore();
    return spy_io;
}
#endif

static int ft_skip_unless_rings(void)
{
#if FT_LINUX
    if (strcmp(xpipe_backend_name(), "unix") == 0)
        return 0;
    xt_skip("framed builds keep the socket (the fast path needs "
            "SOCK_SEQPACKET's Linux build)");
#elif FT_WIN32
    return 0;
#else
    xt_skip("the fast path is for Linux and Windows: this system keeps "
            "the socket (the 'other systems' case checks that)");
#endif
    return 1;
}

/* Linux-only cases (Windows has its own of the kind). */
static int ft_skip_unless_linux(void)
{
    if (!FT_LINUX) {
        xt_skip("this case stands in for Linux's own calls; Windows has "
                "its own case of the kind");
        return 1;
    }
    return ft_skip_unless_rings();
}

/* ------------------------------------------------------------------ */
/* Agreement */

#if FT_RINGS
static void test_both_ends_use_the_rings(void)
{
    int m;

    if (ft_skip_unless_rings())
        return;
    for (m = 0; m < 2; m++) {
        xpipe_t *c, *s;
        ft_pair(&c, &s, m ? XPIPE_MODE_MESSAGE : XPIPE_MODE_BYTE, 1, 1);
        CU_ASSERT_EQUAL(ft_socket_calls(c, s, m), 0);
        ft_close2(c, s);
    }
}
#endif

#if FT_RINGS
#if FT_LINUX
/* A client that only sends, into socket buffers large enough that it
 * never waits before the server accepts, still finds the answer (it
 * looks at sends 1, 2, 4, ...) and moves to the ring. */
typedef struct ft_sender_t {
    xpipe_t *ch;
    int writes;
    apr_status_t rv;
} ft_sender_t;

static apr_status_t ft_sender(void *arg)
{
    static unsigned char chunk[65536];
    ft_sender_t *w = arg;
    int i;

    for (i = 0; i < w->writes && w->rv == APR_SUCCESS; i++)
        w->rv = xpipe_write_full(w->ch, chunk, sizeof(chunk), NULL);
    return w->rv;
}

static void test_a_sender_only_client_switches(void)
{
    xpipe_listener_t *l = NULL;
    xpipe_attr_t *a = ft_attr(XPIPE_MODE_BYTE, 1);
    const char *name = xt_name();
    static unsigned char in[65536];
    ft_sender_t w = { NULL, 512, APR_SUCCESS };
    apr_size_t got, total = 0;
    apr_thread_t *t;
    xpipe_t *s;

    cpu_set_t all, one;

    if (ft_skip_unless_linux())
        return;
    /* One CPU (the sender thread inherits it): the sender runs its first
     * sends before the server gets to accept. */
    CU_ASSERT_FATAL(sched_getaffinity(0, sizeof(all), &all) == 0);
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    sched_setaffinity(0, sizeof(one), &one);
    XT_OK(xpipe_attr_buffer_size_set(a, 4 << 20, 4 << 20));
    XT_OK(xpipe_listen(&l, name, a, xt_p));
    XT_OK(xpipe_connect(&w.ch, name, a, XT_LONG, xt_p));
    XT_OK(xpipe_timeout_set(w.ch, XT_LONG));
    spy_install();
    t = xt_thread(ft_sender, &w);
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    XT_OK(xpipe_timeout_set(s, XT_LONG));
    while (total < (apr_size_t)w.writes * sizeof(in)) {
        got = sizeof(in);
        XT_OK(xpipe_read(s, in, &got));
        total += got;
    }
    XT_OK(xt_join(t));
    xt_sys_restore();
    sched_setaffinity(0, sizeof(all), &all);
    /* On the socket it would be 512 sends and as many receives; the
     * answer comes once the sender's buffer is full (64 sends), and it
     * is heard by send 128. */
    CU_ASSERT(spy_io < 700);
    ft_close2(w.ch, s);
    XT_OK(xpipe_listener_close(l));
}
#endif

static void test_either_end_declines(void)
{
    int side, m;

    if (ft_skip_unless_rings())
        return;
    if (xt_fast_forced()) {
        xt_skip("XPIPE_FAST_PATH=force asks on every channel: no end "
                "declines");
        return;
    }
    /* Client only, server only, and the handles attribute on both. */
    for (side = 0; side < 3; side++)
        for (m = 0; m < 2; m++) {
            xpipe_mode_e mode = m ? XPIPE_MODE_MESSAGE : XPIPE_MODE_BYTE;
            xpipe_t *c, *s;
            if (side == 2) {
                xpipe_attr_t *a = ft_attr(mode, 1);
                if (!m)
                    continue; /* handles are for messages */
                XT_OK(xpipe_attr_handles_set(a, 1));
                ft_pair_attrs(&c, &s, a, a);
            }
            else
                ft_pair(&c, &s, mode, side == 0, side == 1);
            CU_ASSERT(ft_socket_calls(c, s, m) > 0);
            ft_close2(c, s);
        }
}
#endif

/* Other systems: the attribute is accepted and the channel works on its
 * socket or pipe. Everywhere: the attribute's checks. */
static void test_attribute_and_other_systems(void)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE);
    xpipe_t *c, *s;

    CU_ASSERT_EQUAL(xpipe_attr_fast_path_get(NULL), 0);
    XT_STATUS(xpipe_attr_fast_path_set(NULL, XPIPE_FAST_RING_DEFAULT),
              APR_EINVAL);
    XT_STATUS(xpipe_attr_fast_path_set(a, XPIPE_FAST_RING_MIN / 2), APR_EINVAL);
    XT_STATUS(xpipe_attr_fast_path_set(a, XPIPE_FAST_RING_MAX * 2), APR_EINVAL);
    XT_STATUS(xpipe_attr_fast_path_set(a, XPIPE_FAST_RING_MIN + 4096),
              APR_EINVAL);
    CU_ASSERT_EQUAL(xpipe_attr_fast_path_get(a), 0);
    XT_OK(xpipe_attr_fast_path_set(a, XPIPE_FAST_RING_DEFAULT));
    CU_ASSERT_EQUAL(xpipe_attr_fast_path_get(a), XPIPE_FAST_RING_DEFAULT);
    ft_pair(&c, &s, XPIPE_MODE_MESSAGE, 1, 1);
    ft_move(c, s, 1, "either way");
    ft_move(s, c, 1, "it works");
    ft_close2(c, s);
}

/* Nobody waits for the setup: connect, send, accept in one thread, and
 * the bytes sent before the switch come first, in order. */
static void test_no_end_waits_for_the_setup(void)
{
    xpipe_listener_t *l = NULL;
    const char *name = xt_name();
    xpipe_t *c, *s;
    char buf[32];
    apr_size_t n = 0;
    int i;

    XT_OK(xpipe_listen(&l, name, ft_attr(XPIPE_MODE_BYTE, 1), xt_p));
    XT_OK(xpipe_connect(&c, name, ft_attr(XPIPE_MODE_BYTE, 1), XT_LONG, xt_p));
    XT_OK(xpipe_write_full(c, "early", 5, NULL));
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    XT_OK(xpipe_timeout_set(s, XT_LONG));
    XT_OK(xpipe_timeout_set(c, XT_LONG));
    for (i = 0; i < 20; i++) {
        char b = (char)('a' + i);
        XT_OK(xpipe_write_full(c, &b, 1, NULL));
    }
    XT_OK(xpipe_read_full(s, buf, 25, &n));
    CU_ASSERT_EQUAL(n, 25);
    CU_ASSERT_EQUAL(memcmp(buf, "earlyabcdefghijklmnopqrst", 25), 0);
    ft_move(s, c, 0, "and back");
    ft_close2(c, s);
}

/* ------------------------------------------------------------------ */
/* The contract on the rings */

static void test_messages_keep_their_rules(void)
{
    xpipe_attr_t *big = ft_attr(XPIPE_MODE_MESSAGE, 1);
    static unsigned char out[XPIPE_MESSAGE_MAX_LIMIT],
        in[XPIPE_MESSAGE_MAX_LIMIT];
    xpipe_t *c, *s;
    apr_size_t n;

    if (ft_skip_unless_rings())
        return;
    XT_OK(xpipe_attr_max_message_set(big, XPIPE_MESSAGE_MAX_LIMIT));
    ft_pair_attrs(&c, &s, big, ft_attr(XPIPE_MODE_MESSAGE, 1));
    ft_move(c, s, 1, "switch");
    ft_move(s, c, 1, "switch");
    xt_fill(out, sizeof(out), 0, 3);
    /* The largest the server takes, whole; a buffer too small keeps it. */
    XT_OK(xpipe_send(c, out, XPIPE_MESSAGE_MAX_DEFAULT));
    XT_OK(xpipe_send(c, "x", 1));
    n = 100;
    XT_STATUS(xpipe_recv(s, in, &n), XPIPE_EMSGSIZE);
    CU_ASSERT_EQUAL(n, XPIPE_MESSAGE_MAX_DEFAULT);
    n = sizeof(in);
    XT_OK(xpipe_recv(s, in, &n));
    CU_ASSERT_EQUAL_FATAL(n, XPIPE_MESSAGE_MAX_DEFAULT);
    CU_ASSERT_EQUAL(memcmp(in, out, n), 0);
    n = sizeof(in);
    XT_OK(xpipe_recv(s, in, &n));
    CU_ASSERT_EQUAL(n, 1);
    /* Longer than the server's limit (the client's is larger): dropped
     * with its size, as a socket cuts one; the next one is fine. */
    XT_OK(xpipe_send(c, out, XPIPE_MESSAGE_MAX_DEFAULT + 1));
    XT_OK(xpipe_send(c, "after", 5));
    n = sizeof(in);
    XT_STATUS(xpipe_recv(s, in, &n), XPIPE_EMSGSIZE);
    CU_ASSERT_EQUAL(n, XPIPE_MESSAGE_MAX_DEFAULT + 1);
    n = sizeof(in);
    XT_OK(xpipe_recv(s, in, &n));
    CU_ASSERT_EQUAL(n, 5);
    /* Too large for the sender's own limit: refused, nothing sent. */
    XT_STATUS(xpipe_send(s, out, XPIPE_MESSAGE_MAX_DEFAULT + 1),
              XPIPE_EMSGSIZE);
    /* EOF after all data. */
    XT_OK(xpipe_send(c, "last", 4));
    XT_OK(xpipe_close(c));
    n = sizeof(in);
    XT_OK(xpipe_recv(s, in, &n));
    CU_ASSERT_EQUAL(n, 4);
    n = sizeof(in);
    XT_STATUS(xpipe_recv(s, in, &n), APR_EOF);
    XT_STATUS(xpipe_send(s, "x", 1), XPIPE_EPIPE);
    XT_OK(xpipe_close(s));
}

/* Half close on the rings: the end of one direction, the other still
 * open; then a reader that stops makes the writer's sends fail. */
static void test_half_close(void)
{
    xpipe_t *c, *s;
    char buf[16];
    apr_size_t n = 0;

    if (ft_skip_unless_rings())
        return;
    if (FT_WIN32) {
        xt_skip("named pipes have no half close (XPIPE_ENOTIMPL), on the "
                "fast path neither");
        return;
    }
    ft_pair(&c, &s, XPIPE_MODE_BYTE, 1, 1);
    ft_move(c, s, 0, "switch");
    ft_move(s, c, 0, "switch");
    XT_OK(xpipe_write_full(c, "abc", 3, NULL));
    XT_OK(xpipe_shutdown(c, XPIPE_SHUTDOWN_WRITE));
    XT_STATUS(xpipe_read_full(s, buf, 4, &n), APR_EOF);
    CU_ASSERT_EQUAL(n, 3);
    ft_move(s, c, 0, "back");
    XT_OK(xpipe_shutdown(c, XPIPE_SHUTDOWN_READ));
    n = 1;
    XT_STATUS(xpipe_write(s, "x", &n), XPIPE_EPIPE);
    ft_close2(c, s);
}

/* 16 MiB each way at once, both modes, checksummed. */
static void test_streams_both_ways(void)
{
    int m;

    if (ft_skip_unless_rings())
        return;
    for (m = 0; m < 2; m++) {
        xt_stream_t w[2], r[2];
        apr_thread_t *t[4];
        xpipe_t *c, *s;
        int i;
        ft_pair(&c, &s, m ? XPIPE_MODE_MESSAGE : XPIPE_MODE_BYTE, 1, 1);
        for (i = 0; i < 2; i++) {
            memset(&w[i], 0, sizeof(w[i]));
            memset(&r[i], 0, sizeof(r[i]));
            w[i].ch = i ? s : c;
            r[i].ch = i ? c : s;
            w[i].message = r[i].message = m;
            w[i].seed = 40u + (unsigned)i;
            w[i].total = r[i].total = 16u << 20;
            w[i].sum = r[i].sum = XT_FNV_INIT;
        }
        for (i = 0; i < 2; i++) {
            t[i] = xt_thread(xt_stream_write, &w[i]);
            t[2 + i] = xt_thread(xt_stream_read, &r[i]);
        }
        for (i = 0; i < 4; i++)
            XT_OK(xt_join(t[i]));
        for (i = 0; i < 2; i++) {
            CU_ASSERT_EQUAL(r[i].total, 16u << 20);
            CU_ASSERT(r[i].sum == w[i].sum);
        }
        ft_close2(c, s);
    }
}

#if FT_RINGS
/* A receive asleep on the ring: an interrupt wakes it within 100 ms
 * (ECANCELED, the channel usable), and so does close (ECLOSED). */
static void test_interrupt_and_close_wake_the_ring(void)
{
    int which;

    if (ft_skip_unless_rings())
        return;
    for (which = 0; which < 2; which++) {
        xt_recv_job_t b = { 0 };
        apr_time_t until = apr_time_now() + XT_LONG, t0;
        apr_thread_t *t;
        xpipe_t *c, *s;
        ft_pair(&c, &s, XPIPE_MODE_MESSAGE, 1, 1);
        ft_move(c, s, 1, "switch");
        ft_move(s, c, 1, "switch");
        spy_install();
        b.ch = s;
        t = xt_thread(xt_recv_job, &b);
        /* Asleep on its word (a poll of the spy's count: no sleep). */
        while (spy_waits == 0 && apr_time_now() < until)
            apr_thread_yield();
        CU_ASSERT_FATAL(spy_waits > 0);
        t0 = apr_time_now();
        XT_OK(which ? xpipe_close(s) : xpipe_interrupt(s));
        XT_OK(xt_join(t));
        XT_STATUS(b.rv, which ? XPIPE_ECLOSED : XPIPE_ECANCELED);
        CU_ASSERT(b.returned - t0 < XT_WOKEN);
        xt_sys_restore();
        if (!which)
            ft_move(c, s, 1, "still usable");
        XT_OK(xpipe_close(c));
        if (!which)
            XT_OK(xpipe_close(s));
    }
}
#endif

/* A poll set wakes for what comes through the ring, and for room. */
static void test_poll_set_hears_the_ring(void)
{
    xpipe_pollset_t *ps;
    xpipe_pollfd_t d;
    const xpipe_pollfd_t *got;
    apr_int32_t num;
    static unsigned char fill[65536];
    xpipe_t *c, *s;
    char buf[64];
    apr_size_t n;
    int k;

    if (ft_skip_unless_rings())
        return;
    ft_pair(&c, &s, XPIPE_MODE_MESSAGE, 1, 1);
    ft_move(c, s, 1, "switch");
    ft_move(s, c, 1, "switch");
    XT_OK(xpipe_pollset_create(&ps, 2, xt_p));
    memset(&d, 0, sizeof(d));
    d.channel = s;
    d.reqevents = XPIPE_POLLIN;
    XT_OK(xpipe_pollset_add(ps, &d));
    XT_STATUS(xpipe_pollset_poll(ps, 0, &num, &got), APR_TIMEUP);
    XT_OK(xpipe_send(c, "ring", 4));
    XT_OK(xpipe_pollset_poll(ps, XT_LONG, &num, &got));
    CU_ASSERT_EQUAL_FATAL(num, 1);
    CU_ASSERT(got[0].rtnevents & XPIPE_POLLIN);
    XT_OK(xpipe_timeout_set(s, 0));
    n = sizeof(buf);
    XT_OK(xpipe_recv(s, buf, &n));
    CU_ASSERT_EQUAL(n, 4);
    n = sizeof(buf);
    XT_STATUS(xpipe_recv(s, buf, &n), APR_TIMEUP);
    XT_STATUS(xpipe_pollset_poll(ps, 0, &num, &got), APR_TIMEUP);
    /* Room: fill the client's ring, then drain it from the server. */
    XT_OK(xpipe_pollset_remove(ps, &d));
    d.channel = c;
    d.reqevents = XPIPE_POLLOUT;
    XT_OK(xpipe_pollset_add(ps, &d));
    XT_OK(xpipe_timeout_set(c, 0));
    for (k = 0; k < 1000 && xpipe_send(c, fill, sizeof(fill)) == APR_SUCCESS;
         k++)
        ;
    CU_ASSERT(k > 4 && k < 1000); /* the ring filled */
    XT_STATUS(xpipe_pollset_poll(ps, 0, &num, &got), APR_TIMEUP);
    XT_OK(xpipe_timeout_set(s, XT_LONG));
    {
        static unsigned char in[65536];
        n = sizeof(in);
        XT_OK(xpipe_recv(s, in, &n));
        CU_ASSERT_EQUAL(n, sizeof(fill));
        n = sizeof(in);
        XT_OK(xpipe_recv(s, in, &n));
    }
    XT_OK(xpipe_pollset_poll(ps, XT_LONG, &num, &got));
    CU_ASSERT_EQUAL_FATAL(num, 1);
    CU_ASSERT(got[0].rtnevents & XPIPE_POLLOUT);
    XT_OK(xpipe_pollset_destroy(ps));
    ft_close2(c, s);
}

/* No descriptor or mapping outlives the channels. */
#if FT_RINGS
static void test_nothing_leaks(void)
{
    long before;
    int i;

    if (ft_skip_unless_rings())
        return;
    {
        xpipe_t *c, *s; /* the first pair makes what lives on (threads) */
        ft_pair(&c, &s, XPIPE_MODE_BYTE, 1, 1);
        ft_move(c, s, 0, "x");
        xpipe_close(c);
        xpipe_close(s);
    }
    before = xt_open_handles();
    for (i = 0; i < 20; i++) {
        xpipe_t *c, *s;
        xpipe_os_handle_t h;
        ft_pair(&c, &s, i % 2 ? XPIPE_MODE_MESSAGE : XPIPE_MODE_BYTE, 1, 1);
        ft_move(c, s, i % 2, "leak?");
        ft_move(s, c, i % 2, "no");
        /* Its epoll set and eventfd (Windows has no such handle). */
        if (FT_LINUX)
            XT_OK(xpipe_os_handle_get(s, &h));
        ft_close2(c, s);
    }
    CU_ASSERT_EQUAL(xt_open_handles(), before);
}
#endif

#if FT_RINGS
/* ------------------------------------------------------------------ */
/* A peer that dies: a child process on the fast path, killed. */

static int child_fast_peer(const char *name, const char *a2)
{
    xpipe_attr_t *a;
    xpipe_t *ch;
    char buf[16];
    apr_size_t n = sizeof(buf);

    (void)a2;
    if (xpipe_attr_create(&a, xt_p) != APR_SUCCESS
        || xpipe_attr_mode_set(a, XPIPE_MODE_MESSAGE) != APR_SUCCESS
        || xpipe_attr_fast_path_set(a, XPIPE_FAST_RING_MIN) != APR_SUCCESS
        || xpipe_connect(&ch, name, a, XT_LONG, xt_p) != APR_SUCCESS)
        return 1;
    xpipe_timeout_set(ch, XT_LONG);
    if (xpipe_send(ch, "ready", 5) != APR_SUCCESS
        || xpipe_recv(ch, buf, &n) != APR_SUCCESS
        || xpipe_send(ch, "on the ring", 11) != APR_SUCCESS)
        return 2;
    for (;;) { /* until killed: a receive that never ends */
        n = sizeof(buf);
        xpipe_recv(ch, buf, &n);
    }
}
#endif

#if FT_RINGS
static void test_killed_peer_is_noticed(void)
{
    xpipe_listener_t *l = NULL;
    const char *name = xt_name();
    static unsigned char fill[65536];
    apr_proc_t proc;
    xpipe_t *s;
    char buf[16];
    apr_size_t n = sizeof(buf);
    apr_time_t t0;
    apr_status_t rv;
    int k;

    if (ft_skip_unless_rings())
        return;
    XT_OK(xpipe_listen(&l, name, ft_attr(XPIPE_MODE_MESSAGE, 1), xt_p));
    XT_OK(xt_child_start(&proc, "fast-peer", xpipe_listener_native_name(l),
                         NULL));
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    XT_OK(xpipe_timeout_set(s, XT_LONG));
    XT_OK(xpipe_recv(s, buf, &n));
    XT_OK(xpipe_send(s, "go", 2));
    n = sizeof(buf);
    XT_OK(xpipe_recv(s, buf, &n));
    CU_ASSERT_EQUAL(n, 11);
    xt_child_kill(&proc); /* SIGKILL: no close of its own; reaped */
    /* A receive that waits notices within the check interval (50 ms). */
    t0 = apr_time_now();
    n = sizeof(buf);
    XT_STATUS(xpipe_recv(s, buf, &n), APR_EOF);
    CU_ASSERT(apr_time_now() - t0 < XT_WOKEN);
    /* Sends succeed into the ring until it is full, then fail. */
    for (k = 0; k < 1000; k++) {
        rv = xpipe_send(s, fill, sizeof(fill));
        if (rv != APR_SUCCESS)
            break;
    }
    XT_STATUS(rv, XPIPE_EPIPE);
    CU_ASSERT(apr_time_now() - t0 < XT_WOKEN);
    XT_OK(xpipe_close(s));
}
#endif

#if FT_LINUX
/* ------------------------------------------------------------------ */
/* Hostile memory: the server's memfd calls stood in for. The client
 * refuses what fails its checks and keeps the socket. */

static int bad_kind; /* 1 unsealed, 2 wrong size, 3 not a memfd */

static int bad_memfd(const char *name, unsigned int flags)
{
    if (bad_kind == 3) { /* a regular file: no seals possible */
        char path[] = "/tmp/xpipe-ft-XXXXXX";
        int fd = mkstemp(path);
        (void)name;
        (void)flags;
        if (fd >= 0)
            unlink(path);
        return fd;
    }
    return xt_sys_real.memfd_create(name, flags);
}

static int bad_fcntl(int fd, int cmd, int arg)
{
    if (cmd == F_ADD_SEALS && bad_kind == 1)
        return 0; /* says sealed, is not */
    if (cmd == F_ADD_SEALS && bad_kind == 3)
        return 0; /* a file cannot be sealed: pretend */
    return xt_sys_real.fcntl(fd, cmd, arg);
}

static int bad_ftruncate(int fd, off_t len)
{
    return xt_sys_real.ftruncate(fd, bad_kind == 2 ? len + 4096 : len);
}
#endif

#if FT_LINUX
static void test_hostile_memory_is_refused(void)
{
    if (ft_skip_unless_linux())
        return;
    for (bad_kind = 1; bad_kind <= 3; bad_kind++) {
        xt_sys_t *sys = xt_sys_take();
        xpipe_t *c, *s;
        int m = bad_kind == 2;
        sys->memfd_create = bad_memfd;
        sys->fcntl = bad_fcntl;
        sys->ftruncate = bad_ftruncate;
        ft_pair(&c, &s, m ? XPIPE_MODE_MESSAGE : XPIPE_MODE_BYTE, 1, 1);
        ft_move(c, s, m, "refused");
        ft_move(s, c, m, "so the socket");
        xt_sys_restore();
        CU_ASSERT(ft_socket_calls(c, s, m) > 0); /* and all intact */
        ft_close2(c, s);
    }
}
#endif

#if FT_RINGS
/* The shared mappings of this process's fast channels (both ends are
 * here, so each channel's memory is mapped twice). */
#if FT_WIN32
/* The rings' views in this process: mapped memory that starts with the
 * header's magic. */
static int ft_mappings(unsigned char **out, int max)
{
    MEMORY_BASIC_INFORMATION mi;
    unsigned char *at = NULL;
    int n = 0;

    while (n < max && VirtualQuery(at, &mi, sizeof(mi)) == sizeof(mi)) {
        if (mi.State == MEM_COMMIT && mi.Type == MEM_MAPPED
            && mi.BaseAddress == mi.AllocationBase
            && mi.Protect == PAGE_READWRITE && mi.RegionSize >= 4096
            && *(uint32_t *)mi.BaseAddress == XPIPE__RING_MAGIC)
            out[n++] = mi.BaseAddress;
        at = (unsigned char *)mi.BaseAddress + mi.RegionSize;
    }
    return n;
}
#else
static int ft_mappings(unsigned char **out, int max)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int n = 0;

    if (f == NULL)
        return 0;
    while (n < max && fgets(line, sizeof(line), f))
        if (strstr(line, "memfd:xpipe-fast")) {
            unsigned long lo;
            if (sscanf(line, "%lx-", &lo) == 1)
                out[n++] = (unsigned char *)lo;
        }
    fclose(f);
    return n;
}
#endif

/* A pair on the rings, and the header of its memory. */
static xpipe__ring_hdr_t *ft_scribble_pair(xpipe_t **c, xpipe_t **s,
                                           xpipe_mode_e mode)
{
    unsigned char *maps[4];

    ft_pair(c, s, mode, 1, 1);
    ft_move(*c, *s, mode == XPIPE_MODE_MESSAGE, "switch");
    ft_move(*s, *c, mode == XPIPE_MODE_MESSAGE, "switch");
    CU_ASSERT_EQUAL_FATAL(ft_mappings(maps, 4), 2);
    return (xpipe__ring_hdr_t *)maps[0];
}
#endif

/* A peer that scribbles the indices or a message's length: the channel
 * says XPIPE_EPROTO (and keeps saying it), nothing is read out of
 * bounds (the ASan leg), close is clean. */
#if FT_RINGS
static void test_scribbled_indices_and_lengths(void)
{
    int what;

    if (ft_skip_unless_rings())
        return;
    for (what = 0; what < 4; what++) {
        static unsigned char buf[1 << 16];
        xpipe__ring_hdr_t *h;
        xpipe_t *c, *s;
        apr_size_t n = sizeof(buf);
        h = ft_scribble_pair(&c, &s,
                             what == 2 ? XPIPE_MODE_MESSAGE : XPIPE_MODE_BYTE);
        switch (what) {
        case 0: /* the client's head far beyond the server's tail */
            atomic_fetch_add(&h->dir[0].head, h->cap + 1);
            break;
        case 1: /* the head moved backwards */
            atomic_fetch_sub(&h->dir[0].head, 7);
            break;
        case 2: { /* a message whose length runs past the data */
            uint32_t head = atomic_load(&h->dir[0].head), big = 1u << 30;
            unsigned char *data = (unsigned char *)h + XPIPE__RING_HDR;
            memcpy(data + (head & (h->cap - 1)), &big, 4);
            memset(data + ((head + 4) & (h->cap - 1)), 'z', 4);
            atomic_store(&h->dir[0].head, head + 8);
            break;
        }
        default: /* the server's tail, as the client sees it, scribbled */
            atomic_fetch_add(&h->dir[1].tail, h->cap * 3);
            break;
        }
        if (what < 3) {
            XT_STATUS(xpipe_timeout_set(s, 100000), APR_SUCCESS);
            XT_STATUS(what == 2 ? xpipe_recv(s, buf, &n)
                                : xpipe_read(s, buf, &n),
                      XPIPE_EPROTO);
            n = sizeof(buf);
            XT_STATUS(what == 2 ? xpipe_recv(s, buf, &n)
                                : xpipe_read(s, buf, &n),
                      XPIPE_EPROTO);
        }
        else {
            n = 1;
            XT_STATUS(xpipe_write(s, "x", &n), XPIPE_EPROTO);
        }
        CU_ASSERT(strstr(xpipe_error_detail(), "protocol") != NULL || what < 3);
        ft_close2(c, s);
    }
}
#endif

#if FT_RINGS
typedef struct ft_noise_t {
    _Atomic uint32_t *word;
    _Atomic int stop;
    long wakes;
#if FT_WIN32
    HANDLE ev;
#endif
} ft_noise_t;

/* A peer that wakes us all the time: the word reset, a wake, again. */
static apr_status_t ft_noise(void *arg)
{
    ft_noise_t *z = arg;

    while (!z->stop) {
        atomic_store(z->word, 0);
#if FT_WIN32
        SetEvent(z->ev); /* the event the receiver sleeps on */
#else
        xt_sys_real.futex((unsigned int *)z->word, FUTEX_WAKE, 1, NULL);
#endif
        z->wakes++;
    }
    return APR_SUCCESS;
}
#endif

/* A peer that never wakes us: data still arrives, and nothing is lost.
 * On Linux each wait is a slice long at most (50 ms, to notice a killed
 * peer), so the data is found by the next slice, long before the
 * deadline: the spy shows every wait's length. On Windows the wait, on an
 * auto-reset event that loses no wake of a live peer, runs to the
 * deadline, and the data is found when it ends: by that receive, or, had
 * the send come after its deadline, by the next. One that wakes us all
 * the time: deadlines still hold. */
#if FT_RINGS
static void test_wakeups_never_or_always(void)
{
    xpipe__ring_hdr_t *h;
    xpipe_t *c, *s;
    ft_noise_t z;
    apr_thread_t *t;
    char buf[16];
    apr_size_t n = sizeof(buf);
    apr_time_t t0;

    if (ft_skip_unless_rings())
        return;
    h = ft_scribble_pair(&c, &s, XPIPE_MODE_MESSAGE);
    /* Never: the sender's wakes are dropped. */
    spy_install();
    spy_drop_wakes = 1;
    {
        xt_recv_job_t b = { 0 };
        apr_time_t until = apr_time_now() + XT_LONG;

        b.ch = s;
#if FT_WIN32
        XT_OK(xpipe_timeout_set(s, APR_USEC_PER_SEC));
#endif
        t = xt_thread(xt_recv_job, &b);
        while (spy_waits == 0 && apr_time_now() < until)
            apr_thread_yield();
        CU_ASSERT(spy_waits > 0);
        XT_OK(xpipe_send(c, "quiet", 5));
        XT_OK(xt_join(t));
#if FT_LINUX
        XT_OK(b.rv);
        CU_ASSERT(spy_longest > 0 && spy_longest <= 50000);
#else
        if (b.rv == APR_TIMEUP) {
            XT_OK(xpipe_timeout_set(s, 0));
            b.got = sizeof(b.data);
            XT_OK(xpipe_recv(s, b.data, &b.got));
        }
        else
            XT_OK(b.rv);
        XT_OK(xpipe_timeout_set(s, XT_LONG));
#endif
        CU_ASSERT_EQUAL(b.got, 5);
        CU_ASSERT_EQUAL(memcmp(b.data, "quiet", 5), 0);
    }
    memset(&z, 0, sizeof(z));
#if FT_WIN32
    z.ev = spy_waited; /* what the receive slept on */
#endif
    xt_sys_restore();
    /* Always: a thread resets the server's waiting word and wakes it. */
    z.word = &h->dir[0].cons_wait;
    t = xt_thread(ft_noise, &z);
    XT_OK(xpipe_timeout_set(s, 300000));
    t0 = apr_time_now();
    XT_STATUS(xpipe_recv(s, buf, &n), APR_TIMEUP);
    CU_ASSERT(apr_time_now() - t0 < XT_WOKEN);
    XT_OK(xpipe_send(c, "heard", 5));
    n = sizeof(buf);
    XT_OK(xpipe_recv(s, buf, &n));
    CU_ASSERT_EQUAL(n, 5);
    z.stop = 1;
    XT_OK(xt_join(t));
    CU_ASSERT(z.wakes > 0);
    ft_close2(c, s);
}
#endif

#if FT_LINUX
/* Peers that are not xpipe: Python's socket module as the server (the
 * client asks, it never answers; its first message, "N", looks like a
 * refusal but came without a descriptor: it is data) and as a client of
 * a fast listener (it never asks: the server never answers). */
static const char py_server[] =
    "import socket, sys\n"
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n"
    "s.bind(sys.argv[1]); s.listen(1)\n"
    "print('up', flush=True)\n"
    "c, _ = s.accept(); c.settimeout(10)\n"
    "c.send(b'N')\n"
    "c.send(b'py:' + c.recv(100))\n"
    "c.close()\n";
static const char py_client[] =
    "import socket, sys\n"
    "s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)\n"
    "s.settimeout(10); s.connect(sys.argv[1])\n"
    "s.send(b'hello'); s.send(b'py:' + s.recv(100))\n"
    "s.close()\n";
#endif

#if FT_LINUX
static void test_peers_that_are_not_xpipe(void)
{
    const char *path, *argv[5];
    apr_procattr_t *pa;
    apr_proc_t proc;
    apr_file_t *out;
    xpipe_listener_t *l = NULL;
    xpipe_attr_t *a = ft_attr(XPIPE_MODE_MESSAGE, 1);
    xpipe_t *c, *s;
    char buf[64];
    apr_size_t n = sizeof(buf);
    int side;

    if (ft_skip_unless_linux())
        return;
    if (access("/usr/bin/python3", X_OK) != 0) {
        xt_skip("no /usr/bin/python3");
        return;
    }
    XT_OK(xpipe_attr_wait_for_server_set(a, 1));
    for (side = 0; side < 2; side++) {
        path = apr_psprintf(xt_p, "/tmp/xpipe-ft-%ld-%d.sock", xt_pid(), side);
        unlink(path);
        argv[0] = "/usr/bin/python3";
        argv[1] = "-c";
        argv[2] = side ? py_client : py_server;
        argv[3] = path;
        argv[4] = NULL;
        if (side)
            XT_OK(xpipe_listen(&l, path, a, xt_p));
        XT_OK(apr_procattr_create(&pa, xt_p));
        XT_OK(apr_procattr_cmdtype_set(pa, APR_PROGRAM_ENV));
        XT_OK(apr_procattr_io_set(
            pa, APR_NO_PIPE, side ? APR_NO_PIPE : APR_FULL_BLOCK, APR_NO_PIPE));
        XT_OK(apr_proc_create(&proc, argv[0], argv, NULL, pa, xt_p));
        if (side == 0) {
            /* "up": it listens (a line read with a deadline). */
            out = proc.out;
            XT_OK(apr_file_pipe_timeout_set(out, XT_LONG));
            n = 3;
            XT_OK(apr_file_read_full(out, buf, 3, &n));
            XT_OK(xpipe_connect(&c, path, a, XT_LONG, xt_p));
            XT_OK(xpipe_timeout_set(c, XT_LONG));
            n = sizeof(buf);
            XT_OK(xpipe_recv(c, buf, &n));
            CU_ASSERT_EQUAL(n, 1);
            CU_ASSERT_EQUAL(buf[0], 'N');
            XT_OK(xpipe_send(c, "hello", 5));
            n = sizeof(buf);
            XT_OK(xpipe_recv(c, buf, &n));
            XT_OK(xpipe_close(c));
        }
        else {
            XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
            XT_OK(xpipe_timeout_set(s, XT_LONG));
            n = sizeof(buf);
            XT_OK(xpipe_recv(s, buf, &n));
            CU_ASSERT_EQUAL(n, 5);
            XT_OK(xpipe_send(s, "hello", 5));
            n = sizeof(buf);
            XT_OK(xpipe_recv(s, buf, &n));
            XT_OK(xpipe_close(s));
            XT_OK(xpipe_listener_close(l));
        }
        CU_ASSERT_EQUAL(n, 8);
        CU_ASSERT_EQUAL(memcmp(buf, "py:hello", 8), 0);
        CU_ASSERT_EQUAL(xt_child_wait(&proc, XT_LONG), 0);
        unlink(path);
    }
}
#endif

#if FT_WIN32
/* ------------------------------------------------------------------ */
/* A hostile server on Windows: this process on the fast path's name,
 * with an offer wrong in one way each time. The client refuses it
 * (logged) and keeps the framed pipe: the fake's data arrives, and the
 * client's reaches the fake. A first message that is no offer at all
 * makes the channel say XPIPE_EPROTO. */
static void ft_put(unsigned char *p, apr_uint64_t v, int bytes)
{
    int i;

    for (i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static HANDLE ft_section(apr_size_t size, uint32_t cap, uint32_t id)
{
    HANDLE h = CreateFileMappingW(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0,
                                  (DWORD)size, NULL);
    void *v = h ? MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, size) : NULL;

    CU_ASSERT_FATAL(v != NULL);
    if (cap)
        xpipe__ring_format(v, cap, id);
    UnmapViewOfFile(v);
    return h;
}

/* The client's log: whether it said it refused. */
static void ft_log(void *baton, const char *line)
{
    if (strstr(line, "fast path refused"))
        ++*(int *)baton;
}

static void test_hostile_offer_is_refused(void)
{
    const uint32_t cap = XPIPE_FAST_RING_MIN;
    int what, i;

    if (xt_fast_forced()) {
        xt_skip("XPIPE_FAST_PATH=force: the name's own listener would offer "
                "too (the plain leg runs this case)");
        return;
    }
    /* 6 is a right offer: the client attaches (so the wrong ones are
     * refused for what is wrong in them, not for the test's format). */
    for (what = 0; what < 7; what++) {
        xpipe_attr_t *ca = ft_attr(XPIPE_MODE_MESSAGE, 1);
        int refused = 0;
        xpipe_listener_t *l = NULL;
        const char *name = xt_name();
        unsigned char m[56], in[64];
        wchar_t w[300];
        HANDLE fake, sec = NULL, ev[4];
        DWORD n = 0, avail = 0;
        xpipe_t *c;
        char buf[16];
        apr_size_t got = sizeof(buf);

        /* A plain listener on the name; the fake on the fast one. */
        XT_OK(xpipe_listen(&l, name, xt_attr(XPIPE_MODE_MESSAGE), xt_p));
        MultiByteToWideChar(CP_UTF8, 0, xpipe_listener_native_name(l), -1, w,
                            280);
        wcscat(w, L".xpipe-fast-m");
        fake = CreateNamedPipeW(w, PIPE_ACCESS_DUPLEX,
                                PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE
                                    | PIPE_WAIT,
                                1, 65536, 65536, 0, NULL);
        CU_ASSERT_FATAL(fake != INVALID_HANDLE_VALUE);
        XT_OK(xpipe_attr_log_set(ca, ft_log, &refused));
        XT_OK(xpipe_connect(&c, name, ca, XT_LONG, xt_p));
        XT_OK(xpipe_timeout_set(c, XT_LONG));
        /* The client is on the fake already (else the connect would
         * wait for one): it does not block. */
        CU_ASSERT_FATAL(PeekNamedPipe(fake, NULL, 0, NULL, &avail, NULL));
        CU_ASSERT(ConnectNamedPipe(fake, NULL)
                  || GetLastError() == ERROR_PIPE_CONNECTED);
        for (i = 0; i < 4; i++)
            ev[i] = CreateEventW(NULL, FALSE, FALSE, NULL);
        switch (what) {
        case 0: /* a section smaller than the ring it claims */
            sec = ft_section(65536, 0, 0);
            break;
        case 1: /* a value that is no handle of the server's */ break;
        case 2: /* an event that is a section */
            sec = ft_section(xpipe__ring_size(cap), cap, 77);
            CloseHandle(ev[2]);
            ev[2] = ft_section(4096, 0, 0);
            break;
        case 3: /* the right size, another channel's memory (its id) */
            sec = ft_section(xpipe__ring_size(cap), cap, 78);
            break;
        default: /* a capacity no ring has; no offer at all; right */
            sec = ft_section(xpipe__ring_size(cap), cap, 77);
            break;
        }
        memset(m, 0, sizeof(m));
        m[0] = what == 5 ? 'Z' : 'F';
        ft_put(m + 4, XPIPE__RING_VERSION, 4);
        ft_put(m + 8, what == 4 ? cap + 4096 : cap, 4);
        ft_put(m + 12, 77, 4);
        ft_put(m + 16, what == 1 ? 0x7ffff0u : (apr_uint64_t)(apr_uintptr_t)sec,
               8);
        for (i = 0; i < 4; i++)
            ft_put(m + 24 + 8 * i, (apr_uint64_t)(apr_uintptr_t)ev[i], 8);
        CU_ASSERT(WriteFile(fake, m, sizeof(m), &n, NULL) && n == sizeof(m));
        CU_ASSERT(WriteFile(fake, "Dhello", 6, &n, NULL) && n == 6);
        if (what == 5) { /* broken for good, both ways */
            XT_STATUS(xpipe_recv(c, buf, &got), XPIPE_EPROTO);
            got = sizeof(buf);
            XT_STATUS(xpipe_recv(c, buf, &got), XPIPE_EPROTO);
            XT_STATUS(xpipe_send(c, "x", 1), XPIPE_EPROTO);
        }
        else {
            XT_OK(xpipe_recv(c, buf, &got));
            CU_ASSERT_EQUAL(got, 5);
            CU_ASSERT_EQUAL(memcmp(buf, "hello", 5), 0);
            XT_OK(xpipe_send(c, "back", 4));
            /* Sent already: the read does not wait. */
            CU_ASSERT_FATAL(PeekNamedPipe(fake, NULL, 0, NULL, &avail, NULL)
                            && avail == 5);
            CU_ASSERT(ReadFile(fake, in, sizeof(in), &n, NULL) && n == 5);
            CU_ASSERT_EQUAL(memcmp(in, "Dback", 5), 0);
        }
        if (what == 6) { /* attached: it reads the ring from now on */
            xpipe__ring_hdr_t *h =
                MapViewOfFile(sec, FILE_MAP_ALL_ACCESS, 0, 0, 4096);
            CU_ASSERT_FATAL(h != NULL);
            CU_ASSERT_EQUAL(atomic_load(&h->dir[1].attached), 1);
            UnmapViewOfFile(h);
            CU_ASSERT_EQUAL(refused, 0);
        }
        else if (what < 5)
            CU_ASSERT_EQUAL(refused, 1);
        XT_OK(xpipe_close(c));
        CloseHandle(fake);
        if (sec)
            CloseHandle(sec);
        for (i = 0; i < 4; i++)
            CloseHandle(ev[i]);
        XT_OK(xpipe_listener_close(l));
    }
}
/* A hostile client on the fast path's name: it reads the offer, never
 * attaches, and sends what the framing does not know. The server's
 * channel says XPIPE_EPROTO, for good; a client that leaves without a
 * word is an EOF. */
static void test_hostile_client_is_refused(void)
{
    int what;

    if (xt_fast_forced()) {
        xt_skip("XPIPE_FAST_PATH=force: covered by the plain leg");
        return;
    }
    for (what = 0; what < 2; what++) {
        xpipe_listener_t *l = NULL;
        const char *name = xt_name();
        unsigned char offer[64];
        wchar_t w[300];
        HANDLE raw;
        DWORD n = 0, avail = 0, mode = PIPE_READMODE_MESSAGE;
        xpipe_t *s;
        char buf[16];
        apr_size_t got = sizeof(buf);

        XT_OK(xpipe_listen(&l, name, ft_attr(XPIPE_MODE_MESSAGE, 1), xt_p));
        MultiByteToWideChar(CP_UTF8, 0, xpipe_listener_native_name(l), -1, w,
                            280);
        wcscat(w, L".xpipe-fast-m");
        raw = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, 0, NULL,
                          OPEN_EXISTING, 0, NULL);
        CU_ASSERT_FATAL(raw != INVALID_HANDLE_VALUE);
        CU_ASSERT(SetNamedPipeHandleState(raw, &mode, NULL, NULL));
        XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
        XT_OK(xpipe_timeout_set(s, XT_LONG));
        /* The offer came at accept: read without waiting. */
        CU_ASSERT_FATAL(PeekNamedPipe(raw, NULL, 0, NULL, &avail, NULL)
                        && avail == 56);
        CU_ASSERT(ReadFile(raw, offer, sizeof(offer), &n, NULL) && n == 56);
        CU_ASSERT_EQUAL(offer[0], 'F');
        if (what == 0) {
            CU_ASSERT(WriteFile(raw, "Zzz", 3, &n, NULL) && n == 3);
            XT_STATUS(xpipe_recv(s, buf, &got), XPIPE_EPROTO);
            got = sizeof(buf);
            XT_STATUS(xpipe_recv(s, buf, &got), XPIPE_EPROTO);
            XT_STATUS(xpipe_send(s, "x", 1), XPIPE_EPROTO);
        }
        else { /* data framed right, then gone */
            CU_ASSERT(WriteFile(raw, "Dhi", 3, &n, NULL) && n == 3);
            CloseHandle(raw);
            raw = NULL;
            XT_OK(xpipe_recv(s, buf, &got));
            CU_ASSERT_EQUAL(got, 2);
            got = sizeof(buf);
            XT_STATUS(xpipe_recv(s, buf, &got), APR_EOF);
        }
        if (raw)
            CloseHandle(raw);
        XT_OK(xpipe_close(s));
        XT_OK(xpipe_listener_close(l));
    }
}

#else
static void test_hostile_offer_is_refused(void)
{
    xt_skip("Windows' offer (a section and events by value): this system "
            "passes memory its own way");
}

static void test_hostile_client_is_refused(void)
{
    xt_skip("Windows' framed pipe: this system's socket carries the setup "
            "its own way (its hostile memory case covers it)");
}
#endif

#if !FT_RINGS
/* Where there is no fast path, its ring cases say so. */
static void test_no_rings(void)
{
    ft_skip_unless_rings();
}
#define test_both_ends_use_the_rings test_no_rings
#define test_either_end_declines test_no_rings
#define test_interrupt_and_close_wake_the_ring test_no_rings
#define test_nothing_leaks test_no_rings
#define test_killed_peer_is_noticed test_no_rings
#define test_scribbled_indices_and_lengths test_no_rings
#define test_wakeups_never_or_always test_no_rings
#endif

#if !FT_LINUX
/* Cases that stand in for Linux's own calls. */
static void test_linux_only(void)
{
    ft_skip_unless_linux();
}
#define test_a_sender_only_client_switches test_linux_only
#define test_hostile_memory_is_refused test_linux_only
#define test_peers_that_are_not_xpipe test_linux_only
#endif

CU_TestInfo xt_fast_tests[] = {
    { "both ends ask: data moves with no socket call",
      test_both_ends_use_the_rings },
    { "a client that only sends still moves to the ring",
      test_a_sender_only_client_switches },
    { "either end declines (or handles): the socket, data intact",
      test_either_end_declines },
    { "the attribute's checks; works wherever it is set",
      test_attribute_and_other_systems },
    { "connect, send, accept in one thread: nobody waits for the setup",
      test_no_end_waits_for_the_setup },
    { "messages: largest, EMSGSIZE keeps it, too long dropped, EOF, EPIPE",
      test_messages_keep_their_rules },
    { "half close: EOF one way, the other open; EPIPE when reading stops",
      test_half_close },
    { "16 MiB each way at once, both modes, checksummed",
      test_streams_both_ways },
    { "interrupt and close wake a receive asleep on the ring",
      test_interrupt_and_close_wake_the_ring },
    { "a poll set hears data and room on the rings",
      test_poll_set_hears_the_ring },
    { "no descriptor or mapping leaks", test_nothing_leaks },
    { "a killed peer: EOF within the check, then EPIPE",
      test_killed_peer_is_noticed },
    { "unsealed, wrongly sized or non-memfd memory: refused, the socket",
      test_hostile_memory_is_refused },
    { "Windows: a hostile offer is refused, the framed pipe, data intact",
      test_hostile_offer_is_refused },
    { "Windows: a client that breaks the framing: XPIPE_EPROTO for good",
      test_hostile_client_is_refused },
    { "scribbled indices and lengths: XPIPE_EPROTO, nothing out of bounds",
      test_scribbled_indices_and_lengths },
    { "a peer that never wakes, or always does: data arrives, deadlines hold",
      test_wakeups_never_or_always },
    { "Python's sockets as server and client: the socket, data intact",
      test_peers_that_are_not_xpipe },
    CU_TEST_INFO_NULL,
};

const xt_child_t xt_fast_children[] = {
#if FT_RINGS
    { "fast-peer", child_fast_peer },
#endif
    { NULL, NULL },
};
