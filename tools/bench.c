/* SPDX-License-Identifier: Apache-2.0 */
/* bench.c — `xpipe-bench`: xpipe against the raw OS calls it wraps, in
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

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_raw.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <sched.h>
#include <time.h>
#endif

/* What is measured: xpipe, the raw calls, (Linux, Windows) xpipe on the fast
 * path, (POSIX) the poll floor, and with -Dbench_peers=enabled libuv. */
#if defined(__linux__) || defined(_WIN32)
#define BENCH_FAST 1
#endif
enum {
    IMPL_XPIPE,
    IMPL_RAW,
#ifdef BENCH_FAST
    IMPL_FAST,
#endif
#ifdef BENCH_FLOOR
    IMPL_FLOOR,
#endif
#ifdef XPIPE_BENCH_UV
    IMPL_UV,
#endif
    IMPLS
};
#ifndef BENCH_FAST
#define IMPL_FAST (-1)
#endif
#ifndef BENCH_FLOOR
#define IMPL_FLOOR (-1)
#endif
#ifndef XPIPE_BENCH_UV
#define IMPL_UV (-1)
#endif
static const char *const impl_names[IMPLS] = {
    "xpipe", "raw",
#ifdef BENCH_FAST
    "fast",
#endif
#ifdef BENCH_FLOOR
    "floor",
#endif
#ifdef XPIPE_BENCH_UV
    "libuv",
#endif
};
static const char *const impl_titles[IMPLS] = {
    "xpipe",      "raw",
#ifdef BENCH_FAST
    "xpipe fast",
#endif
#ifdef BENCH_FLOOR
    "raw+poll",
#endif
#ifdef XPIPE_BENCH_UV
    "libuv",
#endif
};
/* The xpipe implementation being measured uses the fast path. */
static int bench_fast;

static const char *const kind_names[K_COUNT] = { "rtt-byte",      "rtt-message",
                                                 "stream-64k",    "stream-4k",
                                                 "stream-64k-4m", "connect" };
static const char *const kind_titles[K_COUNT] = {
    "64 B round trip, byte mode",    "64 B round trip, message mode",
    "stream, 64 KiB writes",         "stream, 4 KiB writes",
    "stream, 64 KiB, 4 MiB buffers", "connect + 1 B echo + close"
};
/* What one operation of a kind is, for the counts per operation. */
static const char *const kind_ops[K_COUNT] = { "round trip", "round trip",
                                               "write",      "write",
                                               "write",      "connection" };

typedef struct bench_opts_t {
    long rounds;
    long rtt_count;
    long stream_mib;
    long conn_count;
    int json;
    const char *cpu; /* "same", "split", "any" */
    long wake_tries; /* interrupts (and closes) of a blocked recv a round */
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

void bench_pin(int cpu)
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

static int bench_raw_read_full(bench_raw_t h, void *buf, long len)
{
    long got = 0, n;

    while (got < len) {
        n = bench_raw_read(h, (char *)buf + got, len - got);
        if (n <= 0)
            return -1;
        got += n;
    }
    return 0;
}

static int bench_raw_write_full(bench_raw_t h, const void *buf, long len)
{
    long put = 0, n;

    while (put < len) {
        n = bench_raw_write(h, (const char *)buf + put, len - put);
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
    bench_raw_t r;
    int message;
} conn_t;

static int conn_read_full(conn_t *c, void *buf, long len)
{
    if (!c->x)
        return bench_raw_read_full(c->r, buf, len);
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
        return bench_raw_write_full(c->r, buf, len);
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
        return bench_raw_read(c->r, buf, len);
    return xpipe_read(c->x, buf, &n) == APR_SUCCESS ? (long)n : -1;
}

static void conn_close(conn_t *c)
{
    if (c->x)
        xpipe_close(c->x);
    else
        bench_raw_close(c->r);
}

/* The attributes of a kind: its mode and buffers. */
static xpipe_attr_t *bench_attr(int message, long buffers, apr_pool_t *p)
{
    xpipe_attr_t *a;

    if (xpipe_attr_create(&a, p) != APR_SUCCESS
        || xpipe_attr_mode_set(a,
                               message ? XPIPE_MODE_MESSAGE : XPIPE_MODE_BYTE)
               != APR_SUCCESS
        || xpipe_attr_buffer_size_set(a, (apr_size_t)buffers,
                                      (apr_size_t)buffers)
               != APR_SUCCESS
        || (bench_fast
            && xpipe_attr_fast_path_set(a, XPIPE_FAST_RING_DEFAULT)
                   != APR_SUCCESS))
        return NULL;
    return a;
}

/* The attributes a client of a kind connects with: made once per
 * measurement, as a program would, not once per connection. */
static xpipe_attr_t *conn_attr(int message, long buffers, apr_pool_t *p)
{
    xpipe_attr_t *a = bench_attr(message, buffers, p);

    if (a == NULL || xpipe_attr_wait_for_server_set(a, 1) != APR_SUCCESS)
        return NULL;
    return a;
}

/* Connect with a's attributes (xpipe; NULL when raw, which takes the
 * buffers from the kind). */
static int conn_connect_with(conn_t *c, const xpipe_attr_t *a, const char *name,
                             const char *native, int message, long buffers,
                             apr_pool_t *p)
{
    memset(c, 0, sizeof(*c));
    c->message = message;
    if (a == NULL) {
        bench_raw_buffers = buffers;
        c->r = bench_raw_connect(native, message, p);
        return c->r == BENCH_RAW_NONE ? -1 : 0;
    }
    return xpipe_connect(&c->x, name, a, 10 * APR_USEC_PER_SEC, NULL)
                   == APR_SUCCESS
               ? 0
               : -1;
}

static int conn_connect(conn_t *c, int raw, const char *name,
                        const char *native, int message, long buffers,
                        apr_pool_t *p)
{
    xpipe_attr_t *a = NULL;

    if (!raw && (a = conn_attr(message, buffers, p)) == NULL)
        return -1;
    return conn_connect_with(c, a, name, native, message, buffers, p);
}

/* ------------------------------------------------------------------ */
/* Server child: bench --serve xpipe|raw NAME RTTS BYTES CONNS CPU serves
 * every kind in turn, each on NAME-<kind>. */

/* How many round trips, bytes or connections a kind runs. */
static long kind_count(kind_e kind, long rtts, long bytes, long conns)
{
    return kind == K_CONNECT ? conns : kind <= K_RTT_MSG ? rtts : bytes;
}

/* How many operations (round trips, writes, connections) that is. */
static double kind_ops_count(kind_e kind, long count)
{
    return KIND_IS_STREAM(kind) ? (double)count / KIND_CHUNK(kind)
                                : (double)count;
}

/* A server of either implementation, so both run the same loops. */
typedef struct serve_t {
    xpipe_listener_t *x;
    bench_raw_lsn_t *r;
} serve_t;

static int serve_open(serve_t *sv, int raw, const char *name, int message,
                      long buffers, apr_pool_t *p)
{
    const char *native = NULL;
    xpipe_attr_t *a;

    memset(sv, 0, sizeof(*sv));
    if (xpipe_name_resolve(&native, name, p) != APR_SUCCESS)
        return 1;
    if (raw) {
        bench_raw_buffers = buffers;
        sv->r = bench_raw_listen(native, message, p);
        return sv->r == NULL;
    }
    a = bench_attr(message, buffers, p);
    return a == NULL || xpipe_listen(&sv->x, name, a, p) != APR_SUCCESS;
}

static int serve_accept(serve_t *sv, conn_t *c, int message)
{
    memset(c, 0, sizeof(*c));
    c->message = message;
    if (sv->r) {
        c->r = bench_raw_accept(sv->r);
        return c->r == BENCH_RAW_NONE;
    }
    return xpipe_accept(&c->x, sv->x, 30 * APR_USEC_PER_SEC, NULL)
           != APR_SUCCESS;
}

static void serve_close(serve_t *sv)
{
    if (sv->r)
        bench_raw_listen_close(sv->r);
    else
        xpipe_listener_close(sv->x);
}

/* The server's side of one client: echo round trips, echo the connect
 * byte, or read a stream (with a 64 KiB buffer) and acknowledge it. */
static int serve_client(conn_t *c, kind_e kind, long count)
{
    static char buf[65536];
    long long left = (long long)count;
    long k;

    if (kind == K_RTT_BYTE || kind == K_RTT_MSG) {
        for (k = 0; k < count; k++)
            if (conn_read_full(c, buf, 64) || conn_write_full(c, buf, 64))
                return 1;
        return 0;
    }
    if (kind == K_CONNECT)
        return conn_read_full(c, buf, 1) || conn_write_full(c, buf, 1);
    while (left > 0) {
        long n = conn_read_some(c, buf, sizeof(buf));
        if (n <= 0)
            return 1;
        left -= n;
    }
    return conn_write_full(c, buf, 1);
}

static int bench_serve_kind(int raw, kind_e kind, const char *name, long count,
                            apr_pool_t *p)
{
    int message = kind == K_RTT_MSG, i, failed = 0;
    serve_t sv;
    conn_t c;

    if (serve_open(&sv, raw, name, message, KIND_BUFFERS(kind), p))
        return 1;
    for (i = 0; i < (kind == K_CONNECT ? count : 1) && !failed; i++) {
        failed = serve_accept(&sv, &c, message);
        if (!failed) {
            failed = serve_client(&c, kind, count);
            conn_close(&c);
        }
    }
    serve_close(&sv);
    return failed;
}

/* The wake measurement's server: 2 * tries message channels, each
 * echoed until its client closes or is interrupted away. */
static int bench_serve_wake(const char *name, long tries, apr_pool_t *p)
{
    static char buf[64];
    serve_t sv;
    conn_t c;
    long i;

    if (serve_open(&sv, 0, name, 1, 0, p))
        return 1;
    for (i = 0; i < 2 * tries; i++) {
        if (serve_accept(&sv, &c, 1)) {
            serve_close(&sv);
            return 1;
        }
        while (conn_read_full(&c, buf, 64) == 0
               && conn_write_full(&c, buf, 64) == 0)
            ;
        conn_close(&c);
    }
    serve_close(&sv);
    return 0;
}

static int bench_serve(const char *impl, const char *base, long rtts,
                       long bytes, long conns, long wake, long only,
                       apr_pool_t *p)
{
    int raw = strcmp(impl, "xpipe") != 0 && strcmp(impl, "fast") != 0, k;
#ifdef XPIPE_BENCH_UV
    int uv = strcmp(impl, "libuv") == 0;
#endif

#ifdef BENCH_FLOOR
    bench_raw_polled = strcmp(impl, "floor") == 0;
#endif
    bench_fast = strcmp(impl, "fast") == 0;
    for (k = 0; k < K_COUNT; k++) {
        const char *name = apr_psprintf(p, "%s-%d", base, k);
        if (k != only)
            continue;
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
    if (!raw && wake > 0)
        return bench_serve_wake(apr_psprintf(p, "%s-w", base), wake, p);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Client side: one measurement */

static const char *bench_self;

static apr_status_t bench_child(apr_proc_t *proc, int impl, const char *base,
                                const bench_opts_t *o, int cpu, int kind,
                                apr_pool_t *p)
{
    const char *argv[12];
    apr_procattr_t *pa;
    apr_status_t rv;

    argv[0] = bench_self;
    argv[1] = "--serve";
    argv[2] = impl_names[impl];
    argv[3] = base;
    argv[4] = apr_psprintf(p, "%ld", o->rtt_count);
    argv[5] = apr_psprintf(p, "%ld", o->stream_mib << 20);
    argv[6] = apr_psprintf(p, "%ld", o->conn_count);
    argv[7] = apr_psprintf(p, "%d", cpu);
    argv[8] = apr_psprintf(p, "%ld", kind == K_COUNT ? o->wake_tries : 0);
    argv[9] = apr_psprintf(p, "%d", kind);
    argv[10] = NULL;
    rv = apr_procattr_create(&pa, p);
    if (rv == APR_SUCCESS)
        rv = apr_procattr_cmdtype_set(pa, APR_PROGRAM_ENV);
    if (rv == APR_SUCCESS)
        rv = apr_proc_create(proc, bench_self, argv, NULL, pa, p);
    return rv;
}

/* Connections per second (the first, which also waits for the server
 * to be up, untimed). */
static int measure_connect(int raw, const char *name, const char *native,
                           long count, result_t *res, apr_pool_t *p)
{
    char buf[1];
    apr_uint64_t t0 = 0;
    xpipe_attr_t *a = NULL;
    conn_t c;
    long i;

    if (!raw && (a = conn_attr(0, 0, p)) == NULL)
        return -1;
    for (i = 0; i < count; i++) {
        if (i == 1)
            t0 = bench_now_ns();
        if (conn_connect_with(&c, a, name, native, 0, 0, p)
            || conn_write_full(&c, "c", 1) || conn_read_full(&c, buf, 1))
            return -1;
        conn_close(&c);
    }
    res->per_sec = (double)(count - 1) * 1e9 / (double)(bench_now_ns() - t0);
    return 0;
}

/* 64-byte round trips: median and p99 latency, the first tenth warm-up. */
static int measure_rtt(int raw, const char *name, const char *native,
                       int message, long count, result_t *res, apr_pool_t *p)
{
    static char buf[64];
    double *lat = malloc(sizeof(double) * (size_t)count);
    apr_uint64_t t0;
    conn_t c;
    long k = 0;

    if (lat == NULL)
        return -1;
    if (conn_connect(&c, raw, name, native, message, 0, p) == 0) {
        for (k = 0; k < count; k++) {
            t0 = bench_now_ns();
            if (conn_write_full(&c, buf, 64) || conn_read_full(&c, buf, 64))
                break;
            lat[k] = (double)(bench_now_ns() - t0) / 1000.0;
        }
        conn_close(&c);
    }
    if (k == count)
        bench_latencies(lat, count, count / 10, res);
    free(lat);
    return k == count ? 0 : -1;
}

/* count bytes in chunk-sized writes, until the server acknowledges. */
static int measure_stream(int raw, const char *name, const char *native,
                          kind_e kind, long count, result_t *res, apr_pool_t *p)
{
    static char buf[65536];
    long long left = (long long)count;
    long chunk = KIND_CHUNK(kind);
    apr_uint64_t t0;
    conn_t c;

    if (conn_connect(&c, raw, name, native, 0, KIND_BUFFERS(kind), p))
        return -1;
    t0 = bench_now_ns();
    while (left > 0 && conn_write_full(&c, buf, chunk) == 0)
        left -= chunk;
    if (left > 0 || conn_read_full(&c, buf, 1)) {
        conn_close(&c);
        return -1;
    }
    res->per_sec = (double)count * 1e9 / (double)(bench_now_ns() - t0);
    conn_close(&c);
    return 0;
}

/* Measure one kind against the server child; 0 when it worked. */
static int bench_kind(int raw, kind_e kind, const char *name, long count,
                      result_t *res, apr_pool_t *p)
{
    const char *native = NULL;

    memset(res, 0, sizeof(*res));
    if (xpipe_name_resolve(&native, name, p) != APR_SUCCESS)
        return -1;
    if (kind == K_CONNECT)
        return measure_connect(raw, name, native, count, res, p);
    if (kind <= K_RTT_MSG)
        return measure_rtt(raw, name, native, kind == K_RTT_MSG, count, res, p);
    return measure_stream(raw, name, native, kind, count, res, p);
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

/* ------------------------------------------------------------------ */
/* How fast a blocked message receive is woken by xpipe_interrupt and by
 * xpipe_close from another thread: a round's tries, in microseconds from
 * the call to the receive's return. */

typedef struct wake_arg_t {
    xpipe_t *x;
    apr_status_t rv;
    apr_uint64_t t_ret;
} wake_arg_t;

static void *APR_THREAD_FUNC wake_reader(apr_thread_t *t, void *data)
{
    wake_arg_t *a = data;
    char buf[64];
    apr_size_t n = sizeof(buf);

    a->rv = xpipe_recv(a->x, buf, &n);
    a->t_ret = bench_now_ns();
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* The woken latencies of every round (interrupt, close). */
#define WAKE_MAX (16 * 64)
typedef struct wake_data_t {
    double lat[2][WAKE_MAX];
    long n[2];
} wake_data_t;

static int measure_wake(const char *name, long tries, wake_data_t *w,
                        apr_pool_t *p)
{
    static char buf[64];
    long i, k;

    for (i = 0; i < 2 * tries; i++) {
        int closing = (int)(i & 1);
        apr_status_t want = closing ? XPIPE_ECLOSED : XPIPE_ECANCELED, st;
        wake_arg_t a;
        apr_thread_t *t;
        apr_uint64_t t0;
        conn_t c;
        if (conn_connect(&c, 0, name, NULL, 1, 0, p))
            return -1;
        /* A few round trips first: the channel has had to wait, so its
         * receives now sleep in slices (xpipe_attr_wake_slice_set). */
        for (k = 0; k < 8; k++)
            if (conn_write_full(&c, buf, 64) || conn_read_full(&c, buf, 64))
                return -1;
        memset(&a, 0, sizeof(a));
        a.x = c.x;
        if (apr_thread_create(&t, NULL, wake_reader, &a, p) != APR_SUCCESS)
            return -1;
        /* Somewhere in the receive's first slice, or after it. */
        apr_sleep((apr_interval_time_t)(200 + rand() % 6000));
        t0 = bench_now_ns();
        if (closing)
            xpipe_close(c.x);
        else
            xpipe_interrupt(c.x);
        apr_thread_join(&st, t);
        if (!closing)
            xpipe_close(c.x);
        if (a.rv != want || w->n[closing] >= WAKE_MAX)
            return -1;
        w->lat[closing][w->n[closing]++] = (double)(a.t_ret - t0) / 1000.0;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* What the OS counts: this process (opened once) and each round's server
 * child, read around every measurement. */

static bench_counter_t *bench_self_counter;
static const char *bench_count_why; /* why nothing is counted, or NULL */

/* (after - before) per operation. */
static void count_per_op(const bench_count_t *before,
                         const bench_count_t *after, double ops,
                         bench_count_t *out)
{
    out->syscalls = (after->syscalls - before->syscalls) / ops;
    out->switches = (after->switches - before->switches) / ops;
}

/* One measurement: impl's server child for one kind, and that kind
 * measured against it (with kind K_COUNT: xpipe's wake latencies). Each
 * kind's implementations run back to back, so a machine whose speed
 * drifts (a shared one does, by half over an afternoon) moves them
 * alike: their ratio holds where the times do not. */
static int bench_round(int impl, int kind, const bench_opts_t *o,
                       int server_cpu, result_t *res, wake_data_t *wake,
                       apr_pool_t *p)
{
    int raw = impl != IMPL_XPIPE && impl != IMPL_FAST;
    static unsigned int seq;
    const char *base =
        apr_psprintf(p, "xpipe-bench-%lu-%u",
                     (unsigned long)(apr_time_now() % 1000000), ++seq);
    apr_exit_why_e why;
    apr_proc_t proc;
    bench_counter_t *child = NULL;
    bench_count_t c0, c1, s0, s1;
    int code = 1, failed = 0, counted;

    if (bench_child(&proc, impl, base, o, server_cpu, kind, p) != APR_SUCCESS)
        return -1;
    if (bench_self_counter && kind < K_COUNT)
        child = bench_counter_open((long)proc.pid, &bench_count_why);
#ifdef BENCH_FLOOR
    bench_raw_polled = impl == IMPL_FLOOR;
#endif
    bench_fast = impl == IMPL_FAST;
    if (kind < K_COUNT) {
        long count = kind_count((kind_e)kind, o->rtt_count, o->stream_mib << 20,
                                o->conn_count);
        counted = child && bench_counter_read(bench_self_counter, &c0) == 0
                  && bench_counter_read(child, &s0) == 0;
        if (bench_impl_kind(impl, raw, (kind_e)kind,
                            apr_psprintf(p, "%s-%d", base, kind), count, res,
                            p)) {
            fprintf(stderr, "xpipe: bench %s (%s) failed\n", kind_names[kind],
                    impl_names[impl]);
            failed = 1;
        }
        if (counted && bench_counter_read(bench_self_counter, &c1) == 0
            && bench_counter_read(child, &s1) == 0) {
            double ops = kind_ops_count((kind_e)kind, count);
            res->counted = 1;
            count_per_op(&c0, &c1, ops, &res->per_op[0]);
            count_per_op(&s0, &s1, ops, &res->per_op[1]);
        }
        bench_counter_close(child);
    }
    else if (measure_wake(apr_psprintf(p, "%s-w", base), o->wake_tries, wake,
                          p)) {
        fprintf(stderr, "xpipe: bench wake (xpipe) failed\n");
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

static double median3(double *v, long n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return v[n / 2];
}

/* impl's figure over raw's for a kind (row 1: the p99 latency). */
static double bench_ratio(const result_t *r, kind_e k, int impl, int row)
{
    (void)k;
    return row ? r[impl].ratio_p99 : r[impl].ratio;
}

/* The median over the rounds of a's figure over b's in the same round:
 * a row's implementations run back to back in each round, so a machine
 * whose speed drifts between rounds (a shared host's does, by 30% and
 * more over minutes) moves both figures of a round alike, and their
 * ratio holds where the figures themselves do not. */
static double paired_ratio(const double *a, const double *b, long n)
{
    double q[16];
    long i;

    for (i = 0; i < n; i++)
        q[i] = b[i] > 0 ? a[i] / b[i] : 0;
    return median3(q, n);
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
    "usage: xpipe-bench [--quick] [--rounds N] [--rtt-count N] [--stream-mib "
    "N]\n"
    "                   [--conn-count N] [--cpu same|split|any] [--json]\n"
    "  Measures xpipe and the raw OS calls in the same run, alternating,\n"
    "  with the server in a child process; prints medians over the rounds\n"
    "  (5 by default: shared machines are noisy)\n"
    "  and xpipe/raw ratios, each the median of the rounds' own (a row's\n"
    "  implementations run back to back; POSIX also: raw calls waiting in\n"
    "  poll(), the floor of an interruptible design). --cpu same (default) "
    "pins both to\n"
    "  CPU 0; split puts the server on CPU 1; any leaves placement alone.\n"
    "  Beside each figure: system calls and context switches per operation,\n"
    "  client/server (Linux, as root, with tracefs mounted: ./run bench does\n"
    "  it); last, how fast xpipe_interrupt and xpipe_close wake a blocked\n"
    "  message receive.\n"
    "       xpipe-bench many [--clients N[,N]] [--runs N] [--json]\n"
    "  Many clients at once against a poll set, a thread per client, the\n"
    "  raw OS event interface and libuv (see xpipe-bench many --help).\n"
    "       xpipe-bench smb --port PORT --user [DOMAIN\\]USER --password-env "
    "VAR ...\n"
    "  POSIX: xpipe's SMB2/3 client beside impacket's through an smbd (see\n"
    "  xpipe-bench smb --help).\n";

/* A decimal number, whole and in range: 0, or -1 when not. */
static int bench_number(const char *arg, long min, long max, long *out)
{
    char *end;
    long v;

    if (arg == NULL || *arg == '\0')
        return -1;
    v = strtol(arg, &end, 10);
    if (*end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* The measurements of every round, then their medians. */
typedef struct bench_data_t {
    double med[K_COUNT][IMPLS][16], p99[K_COUNT][IMPLS][16];
    /* counts per operation: [client syscalls, client switches, server
     * syscalls, server switches] */
    double cnt[K_COUNT][IMPLS][4][16];
    result_t r[K_COUNT][IMPLS];
    wake_data_t wake;
    apr_pool_t *pool;
} bench_data_t;

/* The counting options: their ranges, and what to say when out of them. */
static const struct {
    int ch;
    long min, max;
    const char *why;
} bench_counts[] = {
    { 'r', 1, 16, "--rounds takes 1 to 16" },
    { 't', 10, 100000000, "--rtt-count takes 10 to 100000000" },
    { 's', 1, 65536, "--stream-mib takes 1 to 65536" },
    { 'c', 2, 10000000, "--conn-count takes 2 to 10000000" },
};

/* Set counting option ch from arg: NULL, or why it cannot be. */
static const char *bench_count_opt(bench_opts_t *o, int ch, const char *arg)
{
    long *field = ch == 'r'   ? &o->rounds
                  : ch == 't' ? &o->rtt_count
                  : ch == 's' ? &o->stream_mib
                              : &o->conn_count;
    size_t i;

    for (i = 0; bench_counts[i].ch != ch; i++)
        ;
    return bench_number(arg, bench_counts[i].min, bench_counts[i].max, field)
               ? bench_counts[i].why
               : NULL;
}

/* Parse the options into o (*serve: the internal server role). Returns
 * -1 to go on, else the exit status (help, or a usage error). */
static int bench_parse(int argc, const char *const *argv, apr_pool_t *pool,
                       bench_opts_t *o, int *serve, int *ind)
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
    apr_getopt_t *os;
    const char *arg, *why = NULL;
    char err[TOOL_ERRLEN];
    int ch;
    apr_status_t rv;

    tool_getopt_init(&os, pool, argc, argv, err); /* after "bench" */
    os->interleave = 0; /* --serve's operands follow its options */
    while (why == NULL
           && (rv = apr_getopt_long(os, opts, &ch, &arg)) == APR_SUCCESS) {
        switch (ch) {
        case 'q':
            o->rounds = 1;
            o->rtt_count = 200;
            o->stream_mib = 4;
            o->conn_count = 50;
            o->wake_tries = 2;
            break;
        case 'r':
        case 't':
        case 's':
        case 'c': why = bench_count_opt(o, ch, arg); break;
        case 'p': o->cpu = arg; break;
        case 'j': o->json = 1; break;
        case 'S': *serve = 1; break;
        case 'h': fputs(bench_usage, stdout); return 0;
        }
    }
    *ind = os->ind;
    if (why == NULL && rv != APR_EOF)
        why = err[0] ? err : "bad option";
    else if (why == NULL && !*serve && os->ind != argc)
        why = apr_psprintf(pool, "unexpected argument '%s'", argv[os->ind]);
    else if (why == NULL && strcmp(o->cpu, "same") && strcmp(o->cpu, "split")
             && strcmp(o->cpu, "any"))
        why = "--cpu takes same, split or any";
    return why ? tool_usage_error(apr_psprintf(pool, "bench: %s", why)) : -1;
}

/* The internal server role: IMPL BASE RTTS BYTES CONNS CPU WAKE KIND
 * (one kind's server, or with KIND = K_COUNT none: the wake server). */
static int bench_serve_main(int argc, const char *const *argv, int ind,
                            apr_pool_t *pool)
{
    long rtts, bytes, conns, cpu, wake, kind;

    if (argc - ind != 8 || bench_number(argv[ind + 2], 1, LONG_MAX, &rtts)
        || bench_number(argv[ind + 3], 1, LONG_MAX, &bytes)
        || bench_number(argv[ind + 4], 1, LONG_MAX, &conns)
        || bench_number(argv[ind + 5], -1, 1023, &cpu)
        || bench_number(argv[ind + 6], 0, LONG_MAX, &wake)
        || bench_number(argv[ind + 7], 0, K_COUNT, &kind))
        return 2;
    bench_pin((int)cpu);
    return bench_serve(argv[ind], argv[ind + 1], rtts, bytes, conns, wake, kind,
                       pool);
}

/* Every round: each kind, and for it each implementation in turn,
 * rotating which goes first; then xpipe's wake latencies. */
static int bench_run(const bench_opts_t *o, int server_cpu, bench_data_t *d,
                     apr_pool_t *pool)
{
    int round, i, k;

    for (round = 0; round < o->rounds; round++) {
        for (k = 0; k < K_COUNT; k++)
            for (i = 0; i < IMPLS; i++) {
                /* A B C, then B C A, ... */
                int impl = (i + round + k) % IMPLS;
                result_t one;
                apr_pool_t *p;
                memset(&one, 0, sizeof(one));
                if (apr_pool_create(&p, pool) != APR_SUCCESS)
                    return 1;
                if (bench_round(impl, k, o, server_cpu, &one, &d->wake, p))
                    return 1;
                apr_pool_destroy(p);
                d->med[k][impl][round] =
                    k <= K_RTT_MSG ? one.median_us : one.per_sec;
                d->p99[k][impl][round] = one.p99_us;
                d->r[k][impl].na = one.na;
                /* Counted in every round, or not at all. */
                d->r[k][impl].counted =
                    one.counted && (round == 0 || d->r[k][impl].counted);
                d->cnt[k][impl][0][round] = one.per_op[0].syscalls;
                d->cnt[k][impl][1][round] = one.per_op[0].switches;
                d->cnt[k][impl][2][round] = one.per_op[1].syscalls;
                d->cnt[k][impl][3][round] = one.per_op[1].switches;
            }
        if (o->wake_tries > 0) {
            apr_pool_t *p;
            result_t none;
            if (apr_pool_create(&p, pool) != APR_SUCCESS)
                return 1;
            if (bench_round(IMPL_XPIPE, K_COUNT, o, server_cpu, &none, &d->wake,
                            p))
                return 1;
            apr_pool_destroy(p);
        }
    }
    return 0;
}

/* The medians over the rounds, and the ratios to raw (paired_ratio). */
static void bench_aggregate(const bench_opts_t *o, bench_data_t *d)
{
    int k, impl;

    for (k = 0; k < K_COUNT; k++)
        for (impl = 0; impl < IMPLS; impl++) {
            d->r[k][impl].ratio =
                paired_ratio(d->med[k][impl], d->med[k][IMPL_RAW], o->rounds);
            d->r[k][impl].ratio_p99 =
                paired_ratio(d->p99[k][impl], d->p99[k][IMPL_RAW], o->rounds);
        }
    for (k = 0; k < K_COUNT; k++)
        for (impl = 0; impl < IMPLS; impl++) {
            result_t *r = &d->r[k][impl];
            if (k <= K_RTT_MSG) {
                r->median_us = median3(d->med[k][impl], o->rounds);
                r->p99_us = median3(d->p99[k][impl], o->rounds);
            }
            else
                r->per_sec = median3(d->med[k][impl], o->rounds);
            r->per_op[0].syscalls = median3(d->cnt[k][impl][0], o->rounds);
            r->per_op[0].switches = median3(d->cnt[k][impl][1], o->rounds);
            r->per_op[1].syscalls = median3(d->cnt[k][impl][2], o->rounds);
            r->per_op[1].switches = median3(d->cnt[k][impl][3], o->rounds);
        }
    for (k = 0; k < 2; k++)
        if (d->wake.n[k] > 0)
            qsort(d->wake.lat[k], (size_t)d->wake.n[k], sizeof(double),
                  cmp_double);
}

/* The wake latencies: median and worst of interrupt (0) or close (1). */
static double wake_median(const wake_data_t *w, int which)
{
    return w->lat[which][w->n[which] / 2];
}

static double wake_worst(const wake_data_t *w, int which)
{
    return w->lat[which][w->n[which] - 1];
}

static void bench_report_json(const bench_opts_t *o, const bench_data_t *d)
{
    int k, impl;

    printf("{\"backend\":\"%s\",\"cpu\":\"%s\",\"rounds\":%ld,\"results\":{",
           xpipe_backend_name(), o->cpu, o->rounds);
    for (k = 0; k < K_COUNT; k++) {
        const result_t *r = d->r[k];
        printf("%s\"%s\":{", k ? "," : "", kind_names[k]);
        for (impl = 0; impl < IMPLS; impl++) {
            const char *sep = impl ? "," : "";
            if (r[impl].na)
                printf("%s\"%s\":null", sep, impl_names[impl]);
            else {
                if (k <= K_RTT_MSG)
                    printf("%s\"%s\":{\"median_us\":%.3f,\"p99_us\":%.3f", sep,
                           impl_names[impl], r[impl].median_us, r[impl].p99_us);
                else
                    printf("%s\"%s\":{\"per_sec\":%.1f", sep, impl_names[impl],
                           r[impl].per_sec);
                /* Per operation: [client, server]. */
                if (r[impl].counted)
                    printf(
                        ",\"syscalls\":[%.3f,%.3f],\"switches\":[%.3f,%.3f]",
                        r[impl].per_op[0].syscalls, r[impl].per_op[1].syscalls,
                        r[impl].per_op[0].switches, r[impl].per_op[1].switches);
                printf("}");
            }
        }
        /* "ratio" is xpipe's; the others are named after theirs. */
        for (impl = 0; impl < IMPLS; impl++)
            if (impl != IMPL_RAW && !r[impl].na)
                printf(",\"%s%s\":%.4f", impl ? impl_names[impl] : "",
                       impl ? "_ratio" : "ratio",
                       bench_ratio(r, (kind_e)k, impl, 0));
        printf("}");
    }
    printf("}");
    if (d->wake.n[0] > 0 && d->wake.n[1] > 0)
        printf(
            ",\"wake\":{\"tries\":%ld,\"interrupt\":{\"median_us\":%.1f,"
            "\"max_us\":%.1f},\"close\":{\"median_us\":%.1f,\"max_us\":%.1f}}",
            d->wake.n[0], wake_median(&d->wake, 0), wake_worst(&d->wake, 0),
            wake_median(&d->wake, 1), wake_worst(&d->wake, 1));
    if (bench_count_why)
        printf(",\"counts\":\"%s\"", bench_count_why);
    printf("}\n");
}

/* A counts row: client/server per operation, for each implementation. */
static void bench_count_row(const result_t *r, kind_e k, int switches)
{
    char buf[32], title[48];
    int impl;

    snprintf(title, sizeof(title), "  %s / %s",
             switches ? "switches" : "syscalls", kind_ops[k]);
    printf("%-32s", title);
    for (impl = 0; impl < IMPLS; impl++) {
        const bench_count_t *c = r[impl].per_op;
        if (r[impl].na || !r[impl].counted)
            snprintf(buf, sizeof(buf), "n/a");
        else if (switches)
            snprintf(buf, sizeof(buf), "%.2f/%.2f", c[0].switches,
                     c[1].switches);
        else
            snprintf(buf, sizeof(buf), "%.2f/%.2f", c[0].syscalls,
                     c[1].syscalls);
        printf(" %14s", buf);
    }
    printf("\n");
}

static void bench_report_table(const bench_opts_t *o, const bench_data_t *d)
{
    int k, impl, row;

    printf("xpipe-bench: backend %s, cpu %s, %ld round(s), medians; "
           "ratios: the median of each round's\n",
           xpipe_backend_name(), o->cpu, o->rounds);
    printf("%-32s", "");
    for (impl = 0; impl < IMPLS; impl++)
        printf(" %14s", impl_titles[impl]);
    for (impl = 0; impl < IMPLS; impl++)
        if (impl != IMPL_RAW)
            printf(" %9s/raw", impl == IMPL_FLOOR  ? "floor"
                               : impl == IMPL_FAST ? "fast"
                                                   : impl_titles[impl]);
    printf("\n");
    for (k = 0; k < K_COUNT; k++)
        for (row = 0; row < (k <= K_RTT_MSG ? 2 : 1); row++) {
            printf("%-32s", row ? "  p99" : kind_titles[k]);
            for (impl = 0; impl < IMPLS; impl++)
                bench_cell(d->r[k][impl], (kind_e)k, row);
            for (impl = 0; impl < IMPLS; impl++)
                if (impl != IMPL_RAW && d->r[k][impl].na)
                    printf(" %13s", "n/a");
                else if (impl != IMPL_RAW)
                    printf(" %13.3f",
                           bench_ratio(d->r[k], (kind_e)k, impl, row));
            printf("\n");
            if (row == (k <= K_RTT_MSG ? 1 : 0) && !bench_count_why) {
                bench_count_row(d->r[k], (kind_e)k, 0);
                bench_count_row(d->r[k], (kind_e)k, 1);
            }
        }
    if (bench_count_why)
        printf("system calls per operation: not counted: %s\n",
               bench_count_why);
    else
        printf("syscalls, switches: what the OS counted per operation, "
               "client/server (medians)\n");
    if (d->wake.n[0] > 0 && d->wake.n[1] > 0) {
#ifdef _WIN32
        const char *slice = "every wait interruptible at once";
#else
        const char *slice = apr_psprintf(d->pool, "slice %ld us",
                                         (long)xpipe_attr_wake_slice_get(NULL));
#endif
        printf("a blocked message recv woken (xpipe, %ld tries each, %s):\n"
               "  by xpipe_interrupt: median %.0f us, worst %.0f us; "
               "by xpipe_close: median %.0f us, worst %.0f us\n",
               d->wake.n[0], slice, wake_median(&d->wake, 0),
               wake_worst(&d->wake, 0), wake_median(&d->wake, 1),
               wake_worst(&d->wake, 1));
    }
    if (IMPL_FAST >= 0)
        printf("xpipe fast: xpipe with xpipe_attr_fast_path_set (rings of "
               "%d KiB in shared memory)\n",
               XPIPE_FAST_RING_DEFAULT / 1024);
    if (IMPL_FLOOR >= 0)
        printf("raw+poll: the raw calls non-blocking, waiting in poll() on the "
               "socket and an eventfd:\nthe floor of any implementation whose "
               "blocking calls can be interrupted\nfrom another thread without "
               "signals.\n");
#ifdef XPIPE_BENCH_UV
    printf("libuv: uv_pipe_t %s (byte streams only: no message mode)\n",
           bench_uv_version());
#endif
}

int tool_bench(int argc, const char *const *argv, apr_pool_t *pool)
{
    bench_opts_t o = { 5, 20000, 512, 3000, 0, "same", 12 };
    bench_data_t *d;
    int serve = 0, ind = 0, client_cpu = 0, server_cpu = 0, rc;

    if (argc > 2 && strcmp(argv[2], "many") == 0)
        return bench_many(argc, argv, pool);
    if (argc > 2 && strcmp(argv[2], "smb") == 0) {
#ifdef XPIPE_BENCH_SMB
        return bench_smb(argc, argv, pool);
#else
        fprintf(stderr, "xpipe-bench smb: POSIX only (Windows opens remote "
                        "pipes with its own redirector)\n");
        return 2;
#endif
    }
    rc = bench_parse(argc, argv, pool, &o, &serve, &ind);
    bench_self = argv[0];
    if (rc >= 0)
        return rc;
    if (serve)
        return bench_serve_main(argc, argv, ind, pool);
    if (strcmp(o.cpu, "any") == 0)
        client_cpu = server_cpu = -1;
    else if (strcmp(o.cpu, "split") == 0)
        server_cpu = 1;
    bench_pin(client_cpu);
    bench_self_counter = bench_counter_open(0, &bench_count_why);
    if (bench_self_counter)
        bench_count_why = NULL;
    d = apr_pcalloc(pool, sizeof(*d));
    if (d != NULL)
        d->pool = pool;
    if (d == NULL || bench_run(&o, server_cpu, d, pool))
        return 1;
    bench_aggregate(&o, d);
    if (o.json)
        bench_report_json(&o, d);
    else
        bench_report_table(&o, d);
    return 0;
}
