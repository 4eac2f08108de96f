/* SPDX-License-Identifier: Apache-2.0 */
/* test_faults.c — white-box fault injection: the backend's system calls
 * go through a table (backends/<name>_sys.h) where a test makes chosen
 * calls fail with a chosen error, then checks that each failure is
 * retried or reported exactly as documented, and that nothing is lost.
 */
#include "xtest.h"

#include <apr_portable.h>
#include <string.h>

#include "../lib/backend.h"

/* Make calls number fi_at .. fi_at + fi_times - 1 of the system call
 * named fi_fn (counted from arming) fail with fi_err. Counted only on the
 * arming thread, so the other end of a pair in this process is never hit. */
static int fi_calls, fi_at, fi_times, fi_err;
static const char *fi_fn;
static apr_os_thread_t fi_thread;

static void fi_arm(const char *fn, int at, int times, int err)
{
    fi_fn = fn;
    fi_calls = 0;
    fi_at = at;
    fi_times = times;
    fi_err = err;
    fi_thread = apr_os_thread_current();
}

static int fi_hit(const char *fn)
{
    if (!fi_times || strcmp(fn, fi_fn) != 0
        || !apr_os_thread_equal(fi_thread, apr_os_thread_current()))
        return 0;
    fi_calls++;
    return fi_calls >= fi_at && fi_calls < fi_at + fi_times;
}

/* fi_hit() counts that hit; reports how many injected failures ran. */
static int fi_done(void)
{
    int fired = fi_calls >= fi_at
                    ? (fi_calls - fi_at + 1 < fi_times ? fi_calls - fi_at + 1
                                                       : fi_times)
                    : 0;
    fi_times = 0;
    return fired;
}

#include "xsys.h"
#ifndef _WIN32
#include <errno.h>
#include <unistd.h>
#endif
typedef xt_sys_t fi_sys_t;

/* The real calls, while injectors stand in (xsys.h). */
#define fi_real xt_sys_real

static void fi_remove(fi_sys_t *sys)
{
    (void)sys;
    fi_times = 0;
    xt_sys_restore();
}

/* The backend's table, its real entries saved, restored at teardown. */
static fi_sys_t *fi_take(void)
{
    return xt_sys_take();
}

#ifndef _WIN32

/* An injector for call NAME: fails as armed, else calls the real one. */
#define FI_POSIX(name, ret, params, args)                                      \
    static ret fi_##name params                                                \
    {                                                                          \
        if (fi_hit(#name)) {                                                   \
            errno = fi_err;                                                    \
            return -1;                                                         \
        }                                                                      \
        return fi_real.name args;                                              \
    }
FI_POSIX(recv, ssize_t, (int fd, void *b, size_t n, int f), (fd, b, n, f))
FI_POSIX(send, ssize_t, (int fd, const void *b, size_t n, int f), (fd, b, n, f))
FI_POSIX(sendmsg, ssize_t, (int fd, const struct msghdr *m, int f), (fd, m, f))
FI_POSIX(recvmsg, ssize_t, (int fd, struct msghdr *m, int f), (fd, m, f))
FI_POSIX(poll, int, (struct pollfd * p, nfds_t n, int ms), (p, n, ms))
FI_POSIX(accept, int, (int fd, struct sockaddr *sa, socklen_t *len),
         (fd, sa, len))
FI_POSIX(connect, int, (int fd, const struct sockaddr *sa, socklen_t len),
         (fd, sa, len))
FI_POSIX(socket, int, (int d, int t, int p), (d, t, p))
FI_POSIX(chmod, int, (const char *path, mode_t m), (path, m))
FI_POSIX(flock, int, (int fd, int op), (fd, op))

/* Route every call through the injectors (they pass through unarmed). */
static fi_sys_t *fi_install(void)
{
    fi_sys_t *sys = fi_take();

    sys->recv = fi_recv;
    sys->send = fi_send;
    sys->recvmsg = fi_recvmsg;
    sys->sendmsg = fi_sendmsg;
    sys->poll = fi_poll;
    sys->accept = fi_accept;
    sys->connect = fi_connect;
    sys->socket = fi_socket;
    sys->chmod = fi_chmod;
    sys->flock = fi_flock;
    return sys;
}

/* Which calls carry messages: SOCK_SEQPACKET sends with send() and
 * receives with recv(); the framed transport sends with sendmsg(). */
static int fi_framed(void)
{
    return strcmp(xpipe_backend_name(), "unix-framed") == 0;
}

/* The socket I/O faults: on the fast path data moves without these
 * calls (the fast suite covers its own failures). */
static int fi_no_socket_io(void)
{
    if (!xt_fast_forced())
        return 0;
    xt_skip("on the fast path data moves without socket calls to fail "
            "(the fast suite tests its own failures)");
    return 1;
}

static void test_eintr_retried_everywhere(void)
{
    fi_sys_t *sys = fi_install();
    xpipe_t *c, *s;
    char buf[8];
    apr_size_t n = 5;

    if (fi_no_socket_io()) {
        fi_remove(sys);
        return;
    }
    xt_pair(&c, &s, NULL);
    /* send: three EINTRs, then the data goes, once. */
    fi_arm("send", 1, 3, EINTR);
    XT_OK(xpipe_write(c, "hello", &n));
    CU_ASSERT_EQUAL(fi_done(), 3);
    CU_ASSERT_EQUAL(n, 5);
    /* recv: three EINTRs, then the data comes, whole. */
    fi_arm("recv", 1, 3, EINTR);
    n = sizeof(buf);
    XT_OK(xpipe_read_full(s, buf, 5, &n));
    CU_ASSERT_EQUAL(fi_done(), 3);
    CU_ASSERT_EQUAL(memcmp(buf, "hello", 5), 0);
    /* poll: with nothing to read the read waits; EINTR hits the wait
     * twice and is retried: the deadline, not the signal, ends it. */
    XT_OK(xpipe_timeout_set(s, 50000));
    fi_arm("poll", 1, 2, EINTR);
    n = 1;
    XT_STATUS(xpipe_read(s, buf, &n), APR_TIMEUP);
    CU_ASSERT_EQUAL(fi_done(), 2);
    fi_remove(sys);
    xt_roundtrip(c, s, 'w');
}

static void test_eagain_on_send_waits_and_retries(void)
{
    fi_sys_t *sys = fi_install();
    xpipe_t *c, *s;
    char buf[4];
    apr_size_t n = 3;

    if (fi_no_socket_io()) {
        fi_remove(sys);
        return;
    }
    xt_pair(&c, &s, NULL);
    fi_arm("send", 1, 2, EAGAIN);
    XT_OK(xpipe_write(c, "abc", &n));
    CU_ASSERT_EQUAL(fi_done(), 2);
    fi_remove(sys);
    XT_OK(xpipe_read_full(s, buf, 3, NULL));
    CU_ASSERT_EQUAL(memcmp(buf, "abc", 3), 0);
}

static void test_econnreset_reported_as_reset(void)
{
    fi_sys_t *sys = fi_install();
    xpipe_t *c, *s;
    char buf[4];
    apr_size_t n = 2;

    if (fi_no_socket_io()) {
        fi_remove(sys);
        return;
    }
    xt_pair(&c, &s, NULL);
    XT_OK(xpipe_write(c, "rr", &n));
    fi_arm("recv", 1, 1, ECONNRESET);
    n = sizeof(buf);
    XT_STATUS(xpipe_read(s, buf, &n), XPIPE_ERESET);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(fi_done(), 1);
    fi_remove(sys);
    /* The report consumed nothing: the bytes are still there. */
    XT_OK(xpipe_read_full(s, buf, 2, NULL));
    CU_ASSERT_EQUAL(memcmp(buf, "rr", 2), 0);
}

static void test_enobufs_on_send_loses_nothing(void)
{
    fi_sys_t *sys = fi_install();
    xpipe_t *c, *s;
    char buf[8];
    apr_size_t n = sizeof(buf);

    if (fi_no_socket_io()) {
        fi_remove(sys);
        return;
    }
    xt_pair(&c, &s, xt_attr(XPIPE_MODE_MESSAGE));
    fi_arm(fi_framed() ? "sendmsg" : "send", 1, 1, ENOBUFS);
    /* Reported with the OS's own code: nothing went out. */
    XT_STATUS(xpipe_send(c, "lost", 4), APR_FROM_OS_ERROR(ENOBUFS));
    CU_ASSERT_EQUAL(fi_done(), 1);
    fi_remove(sys);
    XT_OK(xpipe_send(c, "kept", 4));
    XT_OK(xpipe_recv(s, buf, &n));
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_EQUAL(memcmp(buf, "kept", 4), 0);
    XT_OK(xpipe_timeout_set(s, 0));
    n = sizeof(buf);
    XT_STATUS(xpipe_recv(s, buf, &n), APR_TIMEUP); /* and nothing more */
}

static void test_message_recv_eintr(void)
{
    fi_sys_t *sys = fi_install();
    xpipe_t *c, *s;
    char buf[8];
    apr_size_t n = sizeof(buf);

    if (fi_no_socket_io()) {
        fi_remove(sys);
        return;
    }
    xt_pair(&c, &s, xt_attr(XPIPE_MODE_MESSAGE));
    XT_OK(xpipe_send(c, "msg", 3));
    fi_arm("recv", 1, 2, EINTR);
    XT_OK(xpipe_recv(s, buf, &n));
    CU_ASSERT_EQUAL(fi_done(), 2);
    CU_ASSERT_EQUAL(n, 3);
    fi_remove(sys);
}

static void test_accept_and_connect_eintr(void)
{
    fi_sys_t *sys = fi_install();
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL;
    const char *name = xt_name();

    XT_OK(xpipe_listen(&l, name, NULL, xt_p));
    /* connect: EINTR is retried until the deadline. */
    fi_arm("connect", 1, 2, EINTR);
    XT_OK(xpipe_connect(&c, name, NULL, XT_LONG, xt_p));
    CU_ASSERT_EQUAL(fi_done(), 2);
    /* accept: EINTR and ECONNABORTED (a client that gave up) retried. */
    fi_arm("accept", 1, 1, EINTR);
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    CU_ASSERT_EQUAL(fi_done(), 1);
    fi_remove(sys);
    xt_roundtrip(c, s, 'e');
}

static void test_socket_failure_reported_and_nothing_leaks(void)
{
    fi_sys_t *sys = fi_install();
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL;
    const char *name = xt_name();

    XT_OK(xpipe_listen(&l, name, NULL, xt_p));
    fi_arm("socket", 1, 1, EMFILE);
    XT_STATUS(xpipe_connect(&c, name, NULL, XT_LONG, xt_p),
              APR_FROM_OS_ERROR(EMFILE));
    CU_ASSERT_PTR_NULL(c);
    fi_remove(sys);
    /* And the next one works. */
    XT_OK(xpipe_connect(&c, name, NULL, XT_LONG, xt_p));
}
/* The wait before a stream receive that follows a send (conn.c: the
 * reply hint): a receive tries first while answers are there at once,
 * waits first (no EAGAIN receive) once they come late, and tries again
 * when they are there again. Counted on this thread while rh_on; a late
 * answer is written by the poll stand-in, just before the real wait. */
static int rh_on, rh_polls, rh_eagain;
static xpipe_t *rh_late;

/* A stand-in writes the byte that comes late: on *late (then NULL), with
 * the counting (*on) off while it does. */
static void late_deliver(xpipe_t **late, int *on, const char *byte)
{
    apr_size_t k = 1;
    xpipe_t *w = *late;

    *late = NULL;
    *on = 0;
    CU_ASSERT_EQUAL(xpipe_write(w, byte, &k), APR_SUCCESS);
    *on = 1;
}

static int rh_poll(struct pollfd *p, nfds_t n, int ms)
{
    if (rh_on) {
        rh_polls++;
        if (rh_late)
            late_deliver(&rh_late, &rh_on, "a");
    }
    return fi_real.poll(p, n, ms);
}

static ssize_t rh_recv(int fd, void *b, size_t n, int f)
{
    ssize_t r = fi_real.recv(fd, b, n, f);

    if (rh_on && r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        rh_eagain++;
    return r;
}

/* count exchanges: the client asks, the server answers (at once, or
 * late: once the client waits), the client reads the answer. Adds up
 * what the client's reads of the last `last` cost. */
static void rh_exchanges(xpipe_t *c, xpipe_t *s, int count, int late, int last,
                         int *polls, int *eagain, int *slept)
{
    int i;

    *polls = *eagain = *slept = 0;
    for (i = 0; i < count; i++) {
        char b = 0;
        apr_size_t k = 1;
        XT_OK(xpipe_write(c, "q", &k));
        k = 1;
        XT_OK(xpipe_read(s, &b, &k));
        CU_ASSERT_EQUAL(b, 'q');
        k = 1;
        if (late)
            rh_late = s;
        else
            XT_OK(xpipe_write(s, "a", &k));
        rh_polls = rh_eagain = 0;
        rh_on = 1;
        k = 1;
        b = 0;
        XT_OK(xpipe_read(c, &b, &k));
        rh_on = 0;
        CU_ASSERT_EQUAL(b, 'a');
        CU_ASSERT_PTR_NULL(rh_late);
        rh_late = NULL;
        if (i >= count - last) {
            *polls += rh_polls;
            *eagain += rh_eagain;
            *slept += rh_polls > 0;
        }
    }
}

static void test_reply_hint_learns(void)
{
    fi_sys_t *sys = fi_install();
    xpipe_t *c, *s;
    int polls, eagain, slept;

    if (fi_no_socket_io()) {
        fi_remove(sys);
        return;
    }
    sys->poll = rh_poll;
    sys->recv = rh_recv;
    xt_pair(&c, &s, NULL);
    XT_OK(xpipe_timeout_set(c, XT_LONG));
    XT_OK(xpipe_timeout_set(s, XT_LONG));
    /* Answers there at once (whatever the process had learned before,
     * the probes find them): the reads only read. */
    rh_exchanges(c, s, 100, 0, 10, &polls, &eagain, &slept);
    CU_ASSERT_EQUAL(polls, 0);
    CU_ASSERT_EQUAL(eagain, 0);
    /* Answers late: after a few EAGAINs the reads wait first; only the
     * probes (one in 8) still try. Each of the last 16 waited. */
    rh_exchanges(c, s, 40, 1, 16, &polls, &eagain, &slept);
    CU_ASSERT_EQUAL(slept, 16);
    CU_ASSERT(eagain <= 2);
    /* There at once again: a probe finds it, and the reads try again. */
    rh_exchanges(c, s, 100, 0, 10, &polls, &eagain, &slept);
    CU_ASSERT_EQUAL(polls, 0);
    CU_ASSERT_EQUAL(eagain, 0);
    fi_remove(sys);
    xt_roundtrip(c, s, 'h');
}

/* Where a stream receive that waits first sleeps (conn.c:
 * unix_late_slice): in recv() where the peer runs on another CPU, in
 * poll() where it shares ours, told apart by the switches a probe's
 * sleep in recv() makes (one, or two: woken for nothing first). A reader
 * whose data comes only once it waits: the stand-ins write it when the
 * reader sleeps, in poll() or in recv(), and count the switches that
 * sleep makes (sr_cost for one in recv()). Counted on this thread while
 * sr_on. */
static int sr_on, sr_cost, sr_asleep, sr_polls;
static long sr_switches;
static xpipe_t *sr_late;

static int sr_poll(struct pollfd *p, nfds_t n, int ms)
{
    if (sr_on && sr_late) {
        sr_polls++;
        sr_switches++;
        late_deliver(&sr_late, &sr_on, "d");
    }
    return fi_real.poll(p, n, ms);
}

static ssize_t sr_recv(int fd, void *b, size_t n, int f)
{
    if (sr_on && sr_late && !(f & MSG_DONTWAIT)) {
        sr_asleep++;
        sr_switches += sr_cost;
        late_deliver(&sr_late, &sr_on, "d");
    }
    return fi_real.recv(fd, b, n, f);
}

static long sr_switches_now(void)
{
    return sr_switches;
}

/* count reads of data that comes late; how many of the last `last` slept
 * in recv() and in poll(). */
static void sr_reads(xpipe_t *w, xpipe_t *r, int count, int last, int *asleep,
                     int *polls)
{
    int i, got = 0;

    *asleep = *polls = 0;
    for (i = 0; i < count; i++) {
        char b = 0;
        apr_size_t k = 1;
        sr_asleep = sr_polls = 0;
        sr_late = w;
        sr_on = 1;
        XT_OK(xpipe_read(r, &b, &k));
        sr_on = 0;
        CU_ASSERT_PTR_NULL(sr_late);
        sr_late = NULL;
        got += k == 1 && b == 'd';
        if (i >= count - last) {
            *asleep += sr_asleep;
            *polls += sr_polls;
        }
    }
    CU_ASSERT_EQUAL(got, count);
}

static void test_late_stream_recv_learns_placement(void)
{
    fi_sys_t *sys = fi_install();
    xpipe_t *c, *s;
    int asleep, polls;

    if (fi_no_socket_io()) {
        fi_remove(sys);
        return;
    }
    sys->poll = sr_poll;
    sys->recv = sr_recv;
    sys->switches = sr_switches_now;
    xt_pair(&c, &s, NULL);
    XT_OK(xpipe_timeout_set(s, XT_LONG));
    /* The peer on another CPU: a sleep in recv() is one switch. The
     * probes find it so, and the reads sleep in recv(), as raw's do. */
    sr_cost = 1;
    sr_reads(c, s, 600, 40, &asleep, &polls);
    CU_ASSERT_EQUAL(asleep, 40);
    CU_ASSERT_EQUAL(polls, 0);
    /* The peer on ours: woken for nothing first, two. Back to poll();
     * of the last 100, only a probe (1 in 64) sleeps in recv(). */
    sr_cost = 2;
    sr_reads(c, s, 300, 100, &asleep, &polls);
    CU_ASSERT(asleep <= 2);
    CU_ASSERT(polls >= 98);
    fi_remove(sys);
    xt_roundtrip(c, s, 'p');
}

static void test_listen_failures_leave_nothing(void)
{
    fi_sys_t *sys = fi_install();
    xpipe_listener_t *l = NULL;
    const char *name = xt_name(), *native = NULL;
    char lock[256];

    XT_OK(xpipe_name_resolve(&native, name, xt_p));
    apr_snprintf(lock, sizeof(lock), "%s.lock", native);
    /* chmod of the new socket fails: no listener, and neither the socket
     * file nor the lock file is left behind. */
    fi_arm("chmod", 1, 1, EPERM);
    XT_STATUS(xpipe_listen(&l, name, NULL, xt_p), APR_FROM_OS_ERROR(EPERM));
    CU_ASSERT_EQUAL(fi_done(), 1);
    CU_ASSERT(access(native, F_OK) != 0);
    CU_ASSERT(access(lock, F_OK) != 0);
    /* The lock is held by another server: "in use", nothing touched. */
    fi_arm("flock", 1, 1, EWOULDBLOCK);
    XT_STATUS(xpipe_listen(&l, name, NULL, xt_p), XPIPE_EINUSE);
    CU_ASSERT_EQUAL(fi_done(), 1);
    fi_remove(sys);
    /* And then the name serves. */
    XT_OK(xpipe_listener_close(xt_serve_check(name, name, NULL, NULL)));
}
#else

/* An injector for call NAME: fails as armed (SetLastError and the
 * call's failure value), else calls the real one. */
#define FI_WIN32(name, ret, fail, params, args)                                \
    static ret WINAPI fi_##name params                                         \
    {                                                                          \
        if (fi_hit(#name)) {                                                   \
            SetLastError((DWORD)fi_err);                                       \
            return fail;                                                       \
        }                                                                      \
        return fi_real.name args;                                              \
    }
FI_WIN32(create_file, HANDLE, INVALID_HANDLE_VALUE,
         (LPCWSTR n, DWORD a, DWORD s, LPSECURITY_ATTRIBUTES sa, DWORD d,
          DWORD f, HANDLE t),
         (n, a, s, sa, d, f, t))
FI_WIN32(read_file, BOOL, FALSE,
         (HANDLE h, LPVOID b, DWORD l, LPDWORD n, LPOVERLAPPED ov),
         (h, b, l, n, ov))
FI_WIN32(write_file, BOOL, FALSE,
         (HANDLE h, LPCVOID b, DWORD l, LPDWORD n, LPOVERLAPPED ov),
         (h, b, l, n, ov))
FI_WIN32(connect_named_pipe, BOOL, FALSE, (HANDLE h, LPOVERLAPPED ov), (h, ov))
FI_WIN32(get_named_pipe_info, BOOL, FALSE,
         (HANDLE h, LPDWORD f, LPDWORD o, LPDWORD i, LPDWORD m),
         (h, f, o, i, m))
FI_WIN32(create_event, HANDLE, NULL,
         (LPSECURITY_ATTRIBUTES sa, BOOL m, BOOL i, LPCWSTR n), (sa, m, i, n))

static fi_sys_t *fi_install(void)
{
    fi_sys_t *sys = fi_take();

    sys->create_file = fi_create_file;
    sys->read_file = fi_read_file;
    sys->write_file = fi_write_file;
    sys->connect_named_pipe = fi_connect_named_pipe;
    sys->get_named_pipe_info = fi_get_named_pipe_info;
    sys->create_event = fi_create_event;
    return sys;
}

static void test_pipe_busy_retried(void)
{
    fi_sys_t *sys = fi_install();
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL;
    const char *name = xt_name();

    XT_OK(xpipe_listen(&l, name, NULL, xt_p));
    fi_arm("create_file", 1, 3, ERROR_PIPE_BUSY);
    XT_OK(xpipe_connect(&c, name, NULL, XT_LONG, xt_p));
    CU_ASSERT_EQUAL(fi_done(), 3);
    fi_remove(sys);
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    xt_roundtrip(c, s, 'b');
}

static void test_broken_pipe_is_eof_and_epipe(void)
{
    fi_sys_t *sys = fi_install();
    xpipe_t *c, *s;
    char buf[4];
    apr_size_t n = sizeof(buf);

    xt_pair(&c, &s, NULL);
    fi_arm("read_file", 1, 1, ERROR_BROKEN_PIPE);
    XT_STATUS(xpipe_read(s, buf, &n), APR_EOF);
    CU_ASSERT_EQUAL(fi_done(), 1);
    fi_arm("write_file", 1, 1, ERROR_NO_DATA);
    n = 1;
    XT_STATUS(xpipe_write(c, "x", &n), XPIPE_EPIPE);
    CU_ASSERT_EQUAL(fi_done(), 1);
    fi_remove(sys);
    xt_roundtrip(c, s, 'k'); /* the faults were injected: all still works */
}

static void test_operation_aborted_keeps_its_code(void)
{
    fi_sys_t *sys = fi_install();
    xpipe_t *c, *s;
    char buf[4];
    apr_size_t n = sizeof(buf);

    xt_pair(&c, &s, NULL);
    fi_arm("read_file", 1, 1, ERROR_OPERATION_ABORTED);
    /* Not ours: unmapped native codes are kept, never lost. */
    XT_STATUS(xpipe_read(s, buf, &n),
              APR_FROM_OS_ERROR(ERROR_OPERATION_ABORTED));
    fi_remove(sys);
    xt_roundtrip(c, s, 'a');
}

/* What Windows says when a remote pipe cannot be opened, as the same
 * statuses the SMB client gives on POSIX (test_smbclient.c meets them
 * from a real smbd), each with a detail that says which. */
static void test_remote_refusals_as_on_posix(void)
{
    static const struct {
        DWORD err;
        apr_status_t want;
        const char *says;
    } cases[] = {
        { ERROR_BAD_NETPATH, XPIPE_ENOPIPE, "no SMB server" },
        { ERROR_CONNECTION_REFUSED, XPIPE_ENOPIPE, "no SMB server" },
        { ERROR_BAD_NET_NAME, XPIPE_ENOPIPE, "IPC$" },
        { ERROR_LOGON_FAILURE, XPIPE_EAUTH, "logon failure" },
        { ERROR_ACCOUNT_DISABLED, XPIPE_EAUTH, "may not log on" },
        { ERROR_DOWNGRADE_DETECTED, XPIPE_EAUTH, "validate-negotiate" },
        { 1272 /* ERROR_SMB_GUEST_LOGON_BLOCKED */, XPIPE_EAUTH, "guest" },
        { 0xC000A000 /* STATUS_INVALID_SIGNATURE */, XPIPE_EAUTH, "signing" },
        { ERROR_ACCESS_DENIED, APR_EACCES, "denied" },
    };
    fi_sys_t *sys = fi_install();
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xpipe_t *c = NULL;

        fi_arm("create_file", 1, 1, (int)cases[i].err);
        XT_STATUS(
            xpipe_connect(&c, "\\\\xt-nohost\\pipe\\xt", NULL, XT_LONG, xt_p),
            cases[i].want);
        CU_ASSERT_EQUAL(fi_done(), 1);
        CU_ASSERT_PTR_NULL(c);
        if (strstr(xpipe_error_detail(), cases[i].says) == NULL) {
            printf("\n  error %lu: \"%s\" does not say \"%s\"",
                   (unsigned long)cases[i].err, xpipe_error_detail(),
                   cases[i].says);
            CU_FAIL("the detail says which refusal");
        }
    }
    fi_remove(sys);
}

static void test_client_gone_before_connect_recycled(void)
{
    /* ConnectNamedPipe says ERROR_NO_DATA (a client came and went): the
     * instance is recycled and serves the next client. */
    fi_sys_t *sys = fi_install();
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE);
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL;
    const char *name = xt_name();

    XT_OK(xpipe_attr_instances_set(a, 1));
    fi_arm("connect_named_pipe", 1, 1, ERROR_NO_DATA);
    XT_OK(xpipe_listen(&l, name, a, xt_p));
    CU_ASSERT_EQUAL(fi_done(), 1);
    fi_remove(sys);
    XT_OK(xpipe_connect(&c, name, NULL, XT_LONG, xt_p));
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    xt_roundtrip(c, s, 'n');
}

/* One read in a thread of its own (its first overlapped operation). */
typedef struct fi_read_t {
    xpipe_t *ch;
    char *buf;
    apr_size_t len;
    apr_status_t rv;
} fi_read_t;

static apr_status_t fi_first_read(void *arg)
{
    fi_read_t *r = arg;
    apr_size_t n = r->len;

    /* Armed here: injections hit the arming thread only. */
    fi_arm("create_event", 1, 1, ERROR_NOT_ENOUGH_MEMORY);
    r->rv = xpipe_read(r->ch, r->buf, &n);
    return APR_SUCCESS;
}

static void test_connect_and_event_failures_reported(void)
{
    fi_sys_t *sys = fi_install();
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL;
    const char *name = xt_name();
    char buf[4];

    XT_OK(xpipe_listen(&l, name, NULL, xt_p));
    /* The pipe opened but cannot be examined: its own code, no channel. */
    fi_arm("get_named_pipe_info", 1, 1, ERROR_ACCESS_DENIED);
    XT_STATUS(xpipe_connect(&c, name, NULL, XT_LONG, xt_p),
              APR_FROM_OS_ERROR(ERROR_ACCESS_DENIED));
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_EQUAL(fi_done(), 1);
    /* No event for an overlapped read (a thread's first: made on its
     * first need): reported, channel unharmed. */
    fi_remove(sys);
    sys = fi_install();
    XT_OK(xpipe_connect(&c, name, NULL, XT_LONG, xt_p));
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    {
        fi_read_t r = { s, buf, sizeof(buf), APR_SUCCESS };
        XT_OK(xt_join(xt_thread(fi_first_read, &r)));
        CU_ASSERT_EQUAL(r.rv, APR_FROM_OS_ERROR(ERROR_NOT_ENOUGH_MEMORY));
    }
    CU_ASSERT_EQUAL(fi_done(), 1);
    fi_remove(sys);
    xt_roundtrip(c, s, 'v');
}

static void test_more_data_keeps_the_message(void)
{
    /* ERROR_MORE_DATA, for real: a message longer than the buffer. */
    xpipe_t *c, *s;
    char big[300], buf[300];
    apr_size_t n = 10;

    xt_pair(&c, &s, xt_attr(XPIPE_MODE_MESSAGE));
    memset(big, 'm', sizeof(big));
    XT_OK(xpipe_send(c, big, sizeof(big)));
    XT_STATUS(xpipe_recv(s, buf, &n), XPIPE_EMSGSIZE);
    CU_ASSERT_EQUAL(n, sizeof(big));
    n = sizeof(buf);
    XT_OK(xpipe_recv(s, buf, &n));
    CU_ASSERT_EQUAL(n, sizeof(big));
    CU_ASSERT_EQUAL(memcmp(buf, big, sizeof(big)), 0);
}
#endif

CU_TestInfo xt_faults_tests[] = {
#ifndef _WIN32
    { "EINTR on send, recv and poll: retried, data intact",
      test_eintr_retried_everywhere },
    { "spurious EAGAIN on send: waits, retries, data intact",
      test_eagain_on_send_waits_and_retries },
    { "ECONNRESET on recv: XPIPE_ERESET", test_econnreset_reported_as_reset },
    { "ENOBUFS on send: OS status, nothing sent, nothing lost",
      test_enobufs_on_send_loses_nothing },
    { "EINTR on a message recv: retried", test_message_recv_eintr },
    { "EINTR on connect and accept: retried", test_accept_and_connect_eintr },
    { "socket() failing (EMFILE): reported, next connect fine",
      test_socket_failure_reported_and_nothing_leaks },
    { "chmod or flock failing in listen: reported, nothing left behind",
      test_listen_failures_leave_nothing },
    { "a receive after a send tries first while answers are there, else "
      "waits first",
      test_reply_hint_learns },
    { "a late stream receive sleeps in recv() with the peer on another "
      "CPU, in poll() with the peer on ours",
      test_late_stream_recv_learns_placement },
#else
    { "ERROR_PIPE_BUSY: connect retries", test_pipe_busy_retried },
    { "ERROR_BROKEN_PIPE / ERROR_NO_DATA: APR_EOF and XPIPE_EPIPE",
      test_broken_pipe_is_eof_and_epipe },
    { "ERROR_OPERATION_ABORTED: reported with its own code",
      test_operation_aborted_keeps_its_code },
    { "remote refusals (no server, logon, signing, guest, access): the "
      "SMB client's statuses",
      test_remote_refusals_as_on_posix },
    { "ERROR_NO_DATA on ConnectNamedPipe: instance recycled",
      test_client_gone_before_connect_recycled },
    { "ERROR_MORE_DATA: the message is kept whole",
      test_more_data_keeps_the_message },
    { "GetNamedPipeInfo and CreateEvent failing: reported, nothing broken",
      test_connect_and_event_failures_reported },
#endif
    CU_TEST_INFO_NULL,
};
