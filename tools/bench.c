/* SPDX-License-Identifier: Apache-2.0 */
/* bench.c — `xpipe bench`: xpipe against the raw OS calls it wraps, in
 * the same run, alternating, as ratios. The server side of every
 * measurement is a child process (this program, `bench --serve ...`).
 * Raw = blocking AF_UNIX read/write on POSIX; synchronous
 * CreateNamedPipe/ConnectNamedPipe/ReadFile/WriteFile on Windows.
 * POSIX also measures the floor of any implementation whose blocking
 * calls another thread can interrupt without signals: the same raw calls
 * on non-blocking sockets, waiting in poll() on the socket and an eventfd
 * (as a wake object) — no library at all.
 */
#include "xpipe.h"
#include "bench.h"
#include "tool.h"

#include <apr_getopt.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
typedef HANDLE raw_t;
#define RAW_NONE INVALID_HANDLE_VALUE
#else
#include <errno.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <poll.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif
typedef int raw_t;
#define RAW_NONE (-1)
#define BENCH_FLOOR 1
#endif

/* What is measured: xpipe, the raw calls, (POSIX) the poll floor, and
 * with -Dbench_peers=enabled libuv. */
enum { IMPL_XPIPE, IMPL_RAW, IMPL_FLOOR, IMPL_UV };
#if defined(BENCH_FLOOR) && defined(XPIPE_BENCH_UV)
#define IMPLS 4
#elif defined(BENCH_FLOOR)
#define IMPLS 3
#else
#define IMPLS 2
#endif
static const char *const impl_names[4] = { "xpipe", "raw", "floor", "libuv" };
static const char *const impl_titles[4] = { "xpipe", "raw", "raw+poll",
                                            "libuv" };

static const char *const kind_names[K_COUNT] = { "rtt-byte", "rtt-message",
                                                 "stream-64k", "stream-4k",
                                                 "connect" };
static const char *const kind_titles[K_COUNT] = {
    "64 B round trip, byte mode", "64 B round trip, message mode",
    "stream, 64 KiB writes", "stream, 4 KiB writes",
    "connect + 1 B echo + close"
};

typedef struct bench_opts_t {
    int rounds;
    long rtt_count;
    long stream_mib;
    long conn_count;
    int json;
    const char *cpu; /* "same", "split", "any" */
} bench_opts_t;

apr_uint64_t bench_now_ns(void)
{
#ifdef _WIN32
    static LARGE_INTEGER freq;
    LARGE_INTEGER t;

    if (!freq.QuadPart)
        QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&t);
    return (apr_uint64_t)((double)t.QuadPart * 1e9 / (double)freq.QuadPart);
#else
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (apr_uint64_t)ts.tv_sec * 1000000000u + (apr_uint64_t)ts.tv_nsec;
#endif
}

/* Pin this process to one CPU (children inherit it); -1 leaves it. */
static void bench_pin(int cpu)
{
    if (cpu < 0)
        return;
#ifdef _WIN32
    SetProcessAffinityMask(GetCurrentProcess(), (DWORD_PTR)1 << cpu);
#else
    {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu, &set);
        sched_setaffinity(0, sizeof(set), &set);
    }
#endif
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, long n, double p)
{
    long i = (long)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

void bench_latencies(double *lat, long count, long warm, result_t *res)
{
    qsort(lat + warm, (size_t)(count - warm), sizeof(double), cmp_double);
    res->median_us = pct(lat + warm, count - warm, 0.5);
    res->p99_us = pct(lat + warm, count - warm, 0.99);
}

/* ------------------------------------------------------------------ */
/* Raw OS calls: the baseline */

#ifdef _WIN32
static wchar_t *raw_wide(const char *native, apr_pool_t *pool)
{
    int n = MultiByteToWideChar(CP_UTF8, 0, native, -1, NULL, 0);
    wchar_t *w = apr_palloc(pool, (apr_size_t)n * sizeof(wchar_t));
    MultiByteToWideChar(CP_UTF8, 0, native, -1, w, n);
    return w;
}

typedef struct raw_lsn_t {
    wchar_t *name;
    int message;
    HANDLE next; /* the instance the next client will find */
} raw_lsn_t;

static HANDLE raw_instance(raw_lsn_t *l)
{
    DWORD mode = l->message ? PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE
                            : PIPE_TYPE_BYTE | PIPE_READMODE_BYTE;
    return CreateNamedPipeW(l->name, PIPE_ACCESS_DUPLEX, mode | PIPE_WAIT,
                            PIPE_UNLIMITED_INSTANCES, 65536, 65536, 0, NULL);
}

static raw_lsn_t *raw_listen(const char *native, int message, apr_pool_t *p)
{
    raw_lsn_t *l = apr_pcalloc(p, sizeof(*l));
    l->name = raw_wide(native, p);
    l->message = message;
    l->next = raw_instance(l);
    return l->next == INVALID_HANDLE_VALUE ? NULL : l;
}

static raw_t raw_accept(raw_lsn_t *l)
{
    HANDLE h = l->next;

    if (!ConnectNamedPipe(h, NULL) && GetLastError() != ERROR_PIPE_CONNECTED)
        return RAW_NONE;
    /* Like any sane server: the next instance exists before this one is
     * served, so clients do not find the name missing meanwhile. */
    l->next = raw_instance(l);
    return h;
}

static void raw_listen_close(raw_lsn_t *l)
{
    if (l->next != INVALID_HANDLE_VALUE)
        CloseHandle(l->next);
}

static raw_t raw_connect(const char *native, int message, apr_pool_t *p)
{
    wchar_t *w = raw_wide(native, p);
    apr_time_t end = apr_time_now() + 10 * APR_USEC_PER_SEC;
    HANDLE h;

    for (;;) {
        h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                        0, NULL);
        if (h != INVALID_HANDLE_VALUE)
            break;
        if (apr_time_now() > end)
            return RAW_NONE;
        if (GetLastError() == ERROR_PIPE_BUSY)
            WaitNamedPipeW(w, 1000);
        else
            apr_sleep(1000); /* the server is not up yet */
    }
    if (message) {
        DWORD mode = PIPE_READMODE_MESSAGE;
        SetNamedPipeHandleState(h, &mode, NULL, NULL);
    }
    return h;
}

static long raw_read(raw_t h, void *buf, long len)
{
    DWORD n = 0;
    if (!ReadFile(h, buf, (DWORD)len, &n, NULL)
        && GetLastError() != ERROR_MORE_DATA)
        return -1;
    return (long)n;
}

static long raw_write(raw_t h, const void *buf, long len)
{
    DWORD n = 0;
    if (!WriteFile(h, buf, (DWORD)len, &n, NULL))
        return -1;
    return (long)n;
}

static void raw_close(raw_t h)
{
    CloseHandle(h);
}
#else
/* The floor: every raw call made non-blocking, waiting in poll() on the
 * fd and a wake descriptor (never signalled) when it would block. */
static int raw_polled;
static int raw_wake_fd = -1;

static void raw_nonblock(int fd)
{
    if (raw_polled && fd >= 0)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* 1 when the call should be tried again after waiting for events. */
static int raw_wait(int fd, short events)
{
    struct pollfd p[2];

    if (!raw_polled || (errno != EAGAIN && errno != EWOULDBLOCK))
        return 0;
    if (raw_wake_fd < 0) {
#ifdef __linux__
        raw_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
#else
        int fds[2];
        raw_wake_fd = pipe(fds) == 0 ? fds[0] : -1;
#endif
    }
    p[0].fd = fd;
    p[0].events = events;
    p[1].fd = raw_wake_fd;
    p[1].events = POLLIN;
    while (poll(p, 2, -1) < 0 && errno == EINTR)
        ;
    return 1;
}

typedef struct raw_lsn_t {
    int fd;
    const char *path;
} raw_lsn_t;

static raw_lsn_t *raw_listen(const char *native, int message, apr_pool_t *p)
{
    raw_lsn_t *l = apr_pcalloc(p, sizeof(*l));
    struct sockaddr_un sa;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, native);
    unlink(native);
    l->path = native;
    l->fd = socket(AF_UNIX, message ? SOCK_SEQPACKET : SOCK_STREAM, 0);
    if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0
        || listen(l->fd, 8) < 0)
        return NULL;
    raw_nonblock(l->fd);
    return l;
}

static raw_t raw_accept(raw_lsn_t *l)
{
    int fd;

    while ((fd = accept(l->fd, NULL, NULL)) < 0 && raw_wait(l->fd, POLLIN))
        ;
    raw_nonblock(fd);
    return fd;
}

static void raw_listen_close(raw_lsn_t *l)
{
    close(l->fd);
    unlink(l->path);
}

static raw_t raw_connect(const char *native, int message, apr_pool_t *p)
{
    struct sockaddr_un sa;
    apr_time_t end = apr_time_now() + 10 * APR_USEC_PER_SEC;
    int fd;

    (void)p;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, native);
    for (;;) {
        fd = socket(AF_UNIX, message ? SOCK_SEQPACKET : SOCK_STREAM, 0);
        raw_nonblock(fd);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        close(fd);
        if (apr_time_now() > end)
            return RAW_NONE;
        apr_sleep(1000); /* not up yet (or backlog full) */
    }
}

static long raw_read(raw_t fd, void *buf, long len)
{
    long n;

    while ((n = (long)read(fd, buf, (size_t)len)) < 0 && raw_wait(fd, POLLIN))
        ;
    return n;
}

static long raw_write(raw_t fd, const void *buf, long len)
{
    long n;

    while ((n = (long)send(fd, buf, (size_t)len, MSG_NOSIGNAL)) < 0
           && raw_wait(fd, POLLOUT))
        ;
    return n;
}

static void raw_close(raw_t fd)
{
    close(fd);
}
#endif

static int raw_read_full(raw_t h, void *buf, long len)
{
    long got = 0, n;

    while (got < len) {
        n = raw_read(h, (char *)buf + got, len - got);
        if (n <= 0)
            return -1;
        got += n;
    }
    return 0;
}

static int raw_write_full(raw_t h, const void *buf, long len)
{
    long put = 0, n;

    while (put < len) {
        n = raw_write(h, (const char *)buf + put, len - put);
        if (n <= 0)
            return -1;
        put += n;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* A channel that is either xpipe or raw, so both run the same loops. */

typedef struct conn_t {
    xpipe_t *x;
    raw_t r;
    int message;
} conn_t;

static int conn_read_full(conn_t *c, void *buf, long len)
{
    if (!c->x)
        return raw_read_full(c->r, buf, len);
    if (c->message) {
        apr_size_t n = (apr_size_t)len;
        return xpipe_recv(c->x, buf, &n) == APR_SUCCESS && (long)n == len ? 0
                                                                          : -1;
    }
    return xpipe_read_full(c->x, buf, (apr_size_t)len, NULL) == APR_SUCCESS
               ? 0
               : -1;
}

static int conn_write_full(conn_t *c, const void *buf, long len)
{
    if (!c->x)
        return raw_write_full(c->r, buf, len);
    if (c->message)
        return xpipe_send(c->x, buf, (apr_size_t)len) == APR_SUCCESS ? 0 : -1;
    return xpipe_write_full(c->x, buf, (apr_size_t)len, NULL) == APR_SUCCESS
               ? 0
               : -1;
}

/* Read whatever is there (streams): bytes read, or -1. */
static long conn_read_some(conn_t *c, void *buf, long len)
{
    apr_size_t n = (apr_size_t)len;

    if (!c->x)
        return raw_read(c->r, buf, len);
    return xpipe_read(c->x, buf, &n) == APR_SUCCESS ? (long)n : -1;
}

static void conn_close(conn_t *c)
{
    if (c->x)
        xpipe_close(c->x);
    else
        raw_close(c->r);
}

static int conn_connect(conn_t *c, int raw, const char *name,
                        const char *native, int message, apr_pool_t *p)
{
    memset(c, 0, sizeof(*c));
    c->message = message;
    if (raw) {
        c->r = raw_connect(native, message, p);
        return c->r == RAW_NONE ? -1 : 0;
    }
    else {
        xpipe_attr_t *a;
        xpipe_attr_create(&a, p);
        xpipe_attr_mode_set(a, message ? XPIPE_MODE_MESSAGE : XPIPE_MODE_BYTE);
        xpipe_attr_wait_for_server_set(a, 1);
        return xpipe_connect(&c->x, name, a, 10 * APR_USEC_PER_SEC, NULL)
                       == APR_SUCCESS
                   ? 0
                   : -1;
    }
}

/* ------------------------------------------------------------------ */
/* Server child: bench --serve xpipe|raw NAME RTTS BYTES CONNS CPU serves
 * every kind in turn, each on NAME-<kind>. */

/* How many round trips, bytes or connections a kind runs. */
static long kind_count(kind_e kind, long rtts, long bytes, long conns)
{
    return kind == K_CONNECT ? conns : kind <= K_RTT_MSG ? rtts : bytes;
}

static int bench_serve_kind(int raw, kind_e kind, const char *name, long count,
                            apr_pool_t *p)
{
    int message = kind == K_RTT_MSG, i;
    xpipe_listener_t *xl = NULL;
    raw_lsn_t *rl = NULL;
    const char *native = NULL;
    static char buf[65536];
    conn_t c;

    if (xpipe_name_resolve(&native, name, p) != APR_SUCCESS)
        return 1;
    if (raw)
        rl = raw_listen(native, message, p);
    else {
        xpipe_attr_t *a;
        xpipe_attr_create(&a, p);
        xpipe_attr_mode_set(a, message ? XPIPE_MODE_MESSAGE : XPIPE_MODE_BYTE);
        if (xpipe_listen(&xl, name, a, p) != APR_SUCCESS)
            xl = NULL;
    }
    if (raw ? rl == NULL : xl == NULL)
        return 1;
    for (i = 0; i < (kind == K_CONNECT ? count : 1); i++) {
        memset(&c, 0, sizeof(c));
        c.message = message;
        if (raw) {
            c.r = raw_accept(rl);
            if (c.r == RAW_NONE)
                return 1;
        }
        else if (xpipe_accept(&c.x, xl, 30 * APR_USEC_PER_SEC, NULL)
                 != APR_SUCCESS)
            return 1;
        if (kind == K_RTT_BYTE || kind == K_RTT_MSG) {
            long k;
            for (k = 0; k < count; k++)
                if (conn_read_full(&c, buf, 64) || conn_write_full(&c, buf, 64))
                    return 1;
        }
        else if (kind == K_CONNECT) {
            if (conn_read_full(&c, buf, 1) || conn_write_full(&c, buf, 1))
                return 1;
        }
        else { /* streams: read count bytes with a 64 KiB buffer, then ack */
            long long left = (long long)count;
            while (left > 0) {
                long n = conn_read_some(&c, buf, sizeof(buf));
                if (n <= 0)
                    return 1;
                left -= n;
            }
            if (conn_write_full(&c, buf, 1))
                return 1;
        }
        conn_close(&c);
    }
    if (raw)
        raw_listen_close(rl);
    else
        xpipe_listener_close(xl);
    return 0;
}

static int bench_serve(const char *impl, const char *base, long rtts,
                       long bytes, long conns, apr_pool_t *p)
{
    int raw = strcmp(impl, "xpipe") != 0, k;
#ifdef XPIPE_BENCH_UV
    int uv = strcmp(impl, "libuv") == 0;
#endif

#ifdef BENCH_FLOOR
    raw_polled = strcmp(impl, "floor") == 0;
#endif
    for (k = 0; k < K_COUNT; k++) {
        const char *name = apr_psprintf(p, "%s-%d", base, k);
#ifdef XPIPE_BENCH_UV
        const char *native;
        if (uv) {
            if (xpipe_name_resolve(&native, name, p) != APR_SUCCESS
                || bench_uv_serve((kind_e)k, native,
                                  kind_count((kind_e)k, rtts, bytes, conns)))
                return 1;
            continue;
        }
#endif
        if (bench_serve_kind(raw, (kind_e)k, name,
                             kind_count((kind_e)k, rtts, bytes, conns), p))
            return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Client side: one measurement */

static const char *bench_self;

static apr_status_t bench_child(apr_proc_t *proc, int impl, const char *base,
                                const bench_opts_t *o, int cpu, apr_pool_t *p)
{
    const char *argv[11];
    apr_procattr_t *pa;
    apr_status_t rv;

    argv[0] = bench_self;
    argv[1] = "bench";
    argv[2] = "--serve";
    argv[3] = impl_names[impl];
    argv[4] = base;
    argv[5] = apr_psprintf(p, "%ld", o->rtt_count);
    argv[6] = apr_psprintf(p, "%ld", o->stream_mib << 20);
    argv[7] = apr_psprintf(p, "%ld", o->conn_count);
    argv[8] = apr_psprintf(p, "%d", cpu);
    argv[9] = NULL;
    rv = apr_procattr_create(&pa, p);
    if (rv == APR_SUCCESS)
        rv = apr_procattr_cmdtype_set(pa, APR_PROGRAM);
    if (rv == APR_SUCCESS)
        rv = apr_proc_create(proc, bench_self, argv, NULL, pa, p);
    return rv;
}

/* Measure one kind against the server child; 0 when it worked. */
static int bench_kind(int raw, kind_e kind, const char *name, long count,
                      result_t *res, apr_pool_t *p)
{
    static char buf[65536];
    const char *native = NULL;
    int message = kind == K_RTT_MSG, i;
    apr_uint64_t t0, t1;
    conn_t c;

    memset(res, 0, sizeof(*res));
    if (xpipe_name_resolve(&native, name, p) != APR_SUCCESS)
        return -1;
    if (kind == K_CONNECT) {
        /* The first connect also waits for the server to be up: untimed. */
        if (conn_connect(&c, raw, name, native, 0, p)
            || conn_write_full(&c, "c", 1) || conn_read_full(&c, buf, 1))
            return -1;
        conn_close(&c);
        t0 = bench_now_ns();
        for (i = 1; i < count; i++) {
            if (conn_connect(&c, raw, name, native, 0, p)
                || conn_write_full(&c, "c", 1) || conn_read_full(&c, buf, 1))
                return -1;
            conn_close(&c);
        }
        t1 = bench_now_ns();
        res->per_sec = (double)(count - 1) * 1e9 / (double)(t1 - t0);
    }
    else if (kind <= K_RTT_MSG) {
        double *lat = malloc(sizeof(double) * (size_t)count);
        long k, warm = count / 10;
        if (conn_connect(&c, raw, name, native, message, p)) {
            free(lat);
            return -1;
        }
        for (k = 0; k < count; k++) {
            t0 = bench_now_ns();
            if (conn_write_full(&c, buf, 64) || conn_read_full(&c, buf, 64))
                break;
            lat[k] = (double)(bench_now_ns() - t0) / 1000.0;
        }
        conn_close(&c);
        if (k == count) /* the first tenth is warm-up */
            bench_latencies(lat, count, warm, res);
        free(lat);
        if (k != count)
            return -1;
    }
    else {
        long chunk = kind == K_STREAM_64K ? 65536 : 4096;
        long long left = (long long)count;
        if (conn_connect(&c, raw, name, native, 0, p))
            return -1;
        t0 = bench_now_ns();
        while (left > 0) {
            if (conn_write_full(&c, buf, chunk))
                break;
            left -= chunk;
        }
        if (left > 0 || conn_read_full(&c, buf, 1)) {
            conn_close(&c);
            return -1;
        }
        t1 = bench_now_ns();
        conn_close(&c);
        res->per_sec = (double)count * 1e9 / (double)(t1 - t0);
    }
    return 0;
}

/* One kind, measured with the implementation's client. */
static int bench_impl_kind(int impl, int raw, kind_e kind, const char *name,
                           long count, result_t *res, apr_pool_t *p)
{
#ifdef XPIPE_BENCH_UV
    if (impl == IMPL_UV) {
        const char *native;
        if (xpipe_name_resolve(&native, name, p) != APR_SUCCESS)
            return -1;
        return bench_uv_measure(kind, native, count, res);
    }
#else
    (void)impl;
#endif
    return bench_kind(raw, kind, name, count, res, p);
}

/* One round for one implementation: a server child, every kind. */
static int bench_round(int impl, const bench_opts_t *o, int server_cpu,
                       result_t res[K_COUNT], apr_pool_t *p)
{
    int raw = impl != IMPL_XPIPE;
    static unsigned int seq;
    const char *base =
        apr_psprintf(p, "xpipe-bench-%lu-%u",
                     (unsigned long)(apr_time_now() % 1000000), ++seq);
    apr_exit_why_e why;
    apr_proc_t proc;
    int code = 1, k, failed = 0;

    if (bench_child(&proc, impl, base, o, server_cpu, p) != APR_SUCCESS)
        return -1;
#ifdef BENCH_FLOOR
    raw_polled = impl == IMPL_FLOOR;
#endif
    for (k = 0; k < K_COUNT && !failed; k++)
        if (bench_impl_kind(impl, raw, (kind_e)k,
                            apr_psprintf(p, "%s-%d", base, k),
                            kind_count((kind_e)k, o->rtt_count,
                                       o->stream_mib << 20, o->conn_count),
                            &res[k], p)) {
            fprintf(stderr, "xpipe: bench %s (%s) failed\n", kind_names[k],
                    impl_names[impl]);
            failed = 1;
        }
    if (failed)
        apr_proc_kill(&proc, 9);
    if (apr_proc_wait(&proc, &code, &why, APR_WAIT) != APR_CHILD_DONE
        || why != APR_PROC_EXIT)
        code = -1;
    return failed || code != 0 ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* Driver */

static double median3(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return v[n / 2];
}

/* impl's figure over raw's for a kind (row 1: the p99 latency). */
static double bench_ratio(const result_t *r, kind_e k, int impl, int row)
{
    if (k <= K_RTT_MSG)
        return row ? r[impl].p99_us / r[IMPL_RAW].p99_us
                   : r[impl].median_us / r[IMPL_RAW].median_us;
    return r[impl].per_sec / r[IMPL_RAW].per_sec;
}

/* One table cell: a latency, a rate or a throughput. */
static void bench_cell(result_t r, kind_e k, int row)
{
    if (r.na)
        printf(" %14s", "n/a");
    else if (k <= K_RTT_MSG)
        printf(" %11.2f us", row ? r.p99_us : r.median_us);
    else if (k == K_CONNECT)
        printf(" %12.0f/s", r.per_sec);
    else
        printf(" %9.2f GiB/s", r.per_sec / 1073741824.0);
}

static const char bench_usage[] =
    "usage: xpipe bench [--quick] [--rounds N] [--rtt-count N] [--stream-mib "
    "N]\n"
    "                   [--conn-count N] [--cpu same|split|any] [--json]\n"
    "  Measures xpipe and the raw OS calls in the same run, alternating,\n"
    "  with the server in a child process; prints medians over the rounds\n"
    "  and xpipe/raw ratios (POSIX also: raw calls waiting in poll(), the\n"
    "  floor of an interruptible design). --cpu same (default) pins both to\n"
    "  CPU 0; split puts the server on CPU 1; any leaves placement alone.\n";

int tool_bench(int argc, const char *const *argv, apr_pool_t *pool)
{
    static const apr_getopt_option_t opts[] = {
        { "quick", 'q', 0, "tiny counts" },
        { "rounds", 'r', 1, "rounds" },
        { "rtt-count", 't', 1, "round trips per round" },
        { "stream-mib", 's', 1, "MiB streamed per round" },
        { "conn-count", 'c', 1, "connections per round" },
        { "cpu", 'p', 1, "placement" },
        { "json", 'j', 0, "JSON output" },
        { "serve", 'S', 0, "internal: server child" },
        { "help", 'h', 0, "help" },
        { NULL, 0, 0, NULL },
    };
    bench_opts_t o = { 3, 20000, 512, 3000, 0, "same" };
    double med[K_COUNT][IMPLS][16], p99[K_COUNT][IMPLS][16];
    result_t r[K_COUNT][IMPLS];
    apr_getopt_t *os;
    const char *arg;
    int ch, serve = 0, round, k, impl, client_cpu = 0, server_cpu = 0;
    char err[TOOL_ERRLEN];
    const char *why = NULL;
    apr_status_t rv;

    bench_self = argv[0];
    tool_getopt_init(&os, pool, argc, argv, err); /* after "bench" */
    os->interleave = 0; /* --serve's operands follow its options */
    while ((rv = apr_getopt_long(os, opts, &ch, &arg)) == APR_SUCCESS) {
        switch (ch) {
        case 'q':
            o.rounds = 1;
            o.rtt_count = 200;
            o.stream_mib = 4;
            o.conn_count = 50;
            break;
        case 'r': o.rounds = atoi(arg); break;
        case 't': o.rtt_count = atol(arg); break;
        case 's': o.stream_mib = atol(arg); break;
        case 'c': o.conn_count = atol(arg); break;
        case 'p': o.cpu = arg; break;
        case 'j': o.json = 1; break;
        case 'S': serve = 1; break;
        case 'h': fputs(bench_usage, stdout); return 0;
        }
    }
    if (serve) {
        if (argc - os->ind != 6)
            return 2;
        bench_pin(atoi(argv[os->ind + 5]));
        return bench_serve(argv[os->ind], argv[os->ind + 1],
                           atol(argv[os->ind + 2]), atol(argv[os->ind + 3]),
                           atol(argv[os->ind + 4]), pool);
    }
    if (rv != APR_EOF)
        why = err[0] ? err : "bad option";
    else if (os->ind != argc)
        why = apr_psprintf(pool, "unexpected argument '%s'", argv[os->ind]);
    else if (o.rounds < 1 || o.rounds > 16)
        why = "--rounds takes 1 to 16";
    else if (o.rtt_count < 10)
        why = "--rtt-count takes 10 or more";
    else if (o.stream_mib < 1)
        why = "--stream-mib takes 1 or more";
    else if (o.conn_count < 2)
        why = "--conn-count takes 2 or more";
    else if (strcmp(o.cpu, "same") && strcmp(o.cpu, "split")
             && strcmp(o.cpu, "any"))
        why = "--cpu takes same, split or any";
    if (why)
        return tool_usage_error(apr_psprintf(pool, "bench: %s", why));
    if (strcmp(o.cpu, "any") == 0)
        client_cpu = server_cpu = -1;
    else if (strcmp(o.cpu, "split") == 0)
        server_cpu = 1;
    bench_pin(client_cpu);
    for (round = 0; round < o.rounds; round++)
        for (impl = 0; impl < IMPLS; impl++) {
            /* Rotate which goes first: A B C, then B C A, ... */
            int raw = (impl + round) % IMPLS; /* the implementation */
            result_t one[K_COUNT];
            apr_pool_t *p;
            apr_pool_create(&p, pool);
            if (bench_round(raw, &o, server_cpu, one, p))
                return 1;
            apr_pool_destroy(p);
            for (k = 0; k < K_COUNT; k++) {
                med[k][raw][round] =
                    k <= K_RTT_MSG ? one[k].median_us : one[k].per_sec;
                p99[k][raw][round] = one[k].p99_us;
                r[k][raw].na = one[k].na;
            }
        }
    for (k = 0; k < K_COUNT; k++)
        for (impl = 0; impl < IMPLS; impl++) {
            if (k <= K_RTT_MSG) {
                r[k][impl].median_us = median3(med[k][impl], o.rounds);
                r[k][impl].p99_us = median3(p99[k][impl], o.rounds);
            }
            else
                r[k][impl].per_sec = median3(med[k][impl], o.rounds);
        }
    if (o.json) {
        printf("{\"backend\":\"%s\",\"cpu\":\"%s\",\"rounds\":%d,\"results\":{",
               xpipe_backend_name(), o.cpu, o.rounds);
        for (k = 0; k < K_COUNT; k++) {
            printf("%s\"%s\":{", k ? "," : "", kind_names[k]);
            for (impl = 0; impl < IMPLS; impl++) {
                if (r[k][impl].na)
                    printf("%s\"%s\":null", impl ? "," : "", impl_names[impl]);
                else if (k <= K_RTT_MSG)
                    printf("%s\"%s\":{\"median_us\":%.3f,\"p99_us\":%.3f}",
                           impl ? "," : "", impl_names[impl],
                           r[k][impl].median_us, r[k][impl].p99_us);
                else
                    printf("%s\"%s\":{\"per_sec\":%.1f}", impl ? "," : "",
                           impl_names[impl], r[k][impl].per_sec);
            }
            /* "ratio" is xpipe's; the others are named after theirs. */
            for (impl = 0; impl < IMPLS; impl++)
                if (impl != IMPL_RAW && !r[k][impl].na)
                    printf(",\"%s%s\":%.4f", impl ? impl_names[impl] : "",
                           impl ? "_ratio" : "ratio",
                           bench_ratio(r[k], (kind_e)k, impl, 0));
            printf("}");
        }
        printf("}}\n");
        return 0;
    }
    printf("xpipe bench: backend %s, cpu %s, %d round(s), medians\n",
           xpipe_backend_name(), o.cpu, o.rounds);
    printf("%-32s", "");
    for (impl = 0; impl < IMPLS; impl++)
        printf(" %14s", impl_titles[impl]);
    for (impl = 0; impl < IMPLS; impl++)
        if (impl != IMPL_RAW)
            printf(" %9s/raw",
                   impl == IMPL_FLOOR ? "floor" : impl_titles[impl]);
    printf("\n");
    for (k = 0; k < K_COUNT; k++) {
        int rows = k <= K_RTT_MSG ? 2 : 1, row;
        for (row = 0; row < rows; row++) {
            printf("%-32s", row ? "  p99" : kind_titles[k]);
            for (impl = 0; impl < IMPLS; impl++)
                bench_cell(r[k][impl], (kind_e)k, row);
            for (impl = 0; impl < IMPLS; impl++)
                if (impl != IMPL_RAW && r[k][impl].na)
                    printf(" %13s", "n/a");
                else if (impl != IMPL_RAW)
                    printf(" %13.3f", bench_ratio(r[k], (kind_e)k, impl, row));
            printf("\n");
        }
    }
    if (IMPLS > 2)
        printf("raw+poll: the raw calls non-blocking, waiting in poll() on the "
               "socket and an eventfd:\nthe floor of any implementation whose "
               "blocking calls can be interrupted\nfrom another thread without "
               "signals.\n");
    if (IMPLS > 3)
        printf("libuv: uv_pipe_t %s (byte streams only: no message mode)\n",
               bench_uv_version());
    return 0;
}
