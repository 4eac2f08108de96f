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
    long rounds;
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

static int conn_connect(conn_t *c, int raw, const char *name,
                        const char *native, int message, apr_pool_t *p)
{
    memset(c, 0, sizeof(*c));
    c->message = message;
    if (raw) {
        c->r = bench_raw_connect(native, message, p);
        return c->r == BENCH_RAW_NONE ? -1 : 0;
    }
    else {
        xpipe_attr_t *a;
        if (xpipe_attr_create(&a, p) != APR_SUCCESS
            || xpipe_attr_mode_set(a, message ? XPIPE_MODE_MESSAGE
                                              : XPIPE_MODE_BYTE)
                   != APR_SUCCESS
            || xpipe_attr_wait_for_server_set(a, 1) != APR_SUCCESS)
            return -1;
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

/* A server of either implementation, so both run the same loops. */
typedef struct serve_t {
    xpipe_listener_t *x;
    bench_raw_lsn_t *r;
} serve_t;

static int serve_open(serve_t *sv, int raw, const char *name, int message,
                      apr_pool_t *p)
{
    const char *native = NULL;
    xpipe_attr_t *a;

    memset(sv, 0, sizeof(*sv));
    if (xpipe_name_resolve(&native, name, p) != APR_SUCCESS)
        return 1;
    if (raw) {
        sv->r = bench_raw_listen(native, message, p);
        return sv->r == NULL;
    }
    if (xpipe_attr_create(&a, p) != APR_SUCCESS
        || xpipe_attr_mode_set(a,
                               message ? XPIPE_MODE_MESSAGE : XPIPE_MODE_BYTE)
               != APR_SUCCESS)
        return 1;
    return xpipe_listen(&sv->x, name, a, p) != APR_SUCCESS;
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

    if (serve_open(&sv, raw, name, message, p))
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

static int bench_serve(const char *impl, const char *base, long rtts,
                       long bytes, long conns, apr_pool_t *p)
{
    int raw = strcmp(impl, "xpipe") != 0, k;
#ifdef XPIPE_BENCH_UV
    int uv = strcmp(impl, "libuv") == 0;
#endif

#ifdef BENCH_FLOOR
    bench_raw_polled = strcmp(impl, "floor") == 0;
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

/* Connections per second (the first, which also waits for the server
 * to be up, untimed). */
static int measure_connect(int raw, const char *name, const char *native,
                           long count, result_t *res, apr_pool_t *p)
{
    char buf[1];
    apr_uint64_t t0 = 0;
    conn_t c;
    long i;

    for (i = 0; i < count; i++) {
        if (i == 1)
            t0 = bench_now_ns();
        if (conn_connect(&c, raw, name, native, 0, p)
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
    if (conn_connect(&c, raw, name, native, message, p) == 0) {
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
                          long chunk, long count, result_t *res, apr_pool_t *p)
{
    static char buf[65536];
    long long left = (long long)count;
    apr_uint64_t t0;
    conn_t c;

    if (conn_connect(&c, raw, name, native, 0, p))
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
    return measure_stream(raw, name, native,
                          kind == K_STREAM_64K ? 65536 : 4096, count, res, p);
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
    bench_raw_polled = impl == IMPL_FLOOR;
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

static double median3(double *v, long n)
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
    "  CPU 0; split puts the server on CPU 1; any leaves placement alone.\n"
    "       xpipe bench many [--clients N[,N]] [--runs N] [--json]\n"
    "  Many clients at once against a poll set, a thread per client, the\n"
    "  raw OS event interface and libuv (see xpipe bench many --help).\n";

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
    result_t r[K_COUNT][IMPLS];
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

/* The internal server role: IMPL BASE RTTS BYTES CONNS CPU. */
static int bench_serve_main(int argc, const char *const *argv, int ind,
                            apr_pool_t *pool)
{
    long rtts, bytes, conns, cpu;

    if (argc - ind != 6 || bench_number(argv[ind + 2], 1, LONG_MAX, &rtts)
        || bench_number(argv[ind + 3], 1, LONG_MAX, &bytes)
        || bench_number(argv[ind + 4], 1, LONG_MAX, &conns)
        || bench_number(argv[ind + 5], -1, 1023, &cpu))
        return 2;
    bench_pin((int)cpu);
    return bench_serve(argv[ind], argv[ind + 1], rtts, bytes, conns, pool);
}

/* Every round: each implementation in turn, rotating which goes first. */
static int bench_run(const bench_opts_t *o, int server_cpu, bench_data_t *d,
                     apr_pool_t *pool)
{
    int round, i, k;

    for (round = 0; round < o->rounds; round++)
        for (i = 0; i < IMPLS; i++) {
            /* A B C, then B C A, ... */
            int impl = (i + round) % IMPLS;
            result_t one[K_COUNT];
            apr_pool_t *p;
            if (apr_pool_create(&p, pool) != APR_SUCCESS)
                return 1;
            if (bench_round(impl, o, server_cpu, one, p))
                return 1;
            apr_pool_destroy(p);
            for (k = 0; k < K_COUNT; k++) {
                d->med[k][impl][round] =
                    k <= K_RTT_MSG ? one[k].median_us : one[k].per_sec;
                d->p99[k][impl][round] = one[k].p99_us;
                d->r[k][impl].na = one[k].na;
            }
        }
    return 0;
}

/* The medians over the rounds. */
static void bench_aggregate(const bench_opts_t *o, bench_data_t *d)
{
    int k, impl;

    for (k = 0; k < K_COUNT; k++)
        for (impl = 0; impl < IMPLS; impl++) {
            result_t *r = &d->r[k][impl];
            if (k <= K_RTT_MSG) {
                r->median_us = median3(d->med[k][impl], o->rounds);
                r->p99_us = median3(d->p99[k][impl], o->rounds);
            }
            else
                r->per_sec = median3(d->med[k][impl], o->rounds);
        }
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
            else if (k <= K_RTT_MSG)
                printf("%s\"%s\":{\"median_us\":%.3f,\"p99_us\":%.3f}", sep,
                       impl_names[impl], r[impl].median_us, r[impl].p99_us);
            else
                printf("%s\"%s\":{\"per_sec\":%.1f}", sep, impl_names[impl],
                       r[impl].per_sec);
        }
        /* "ratio" is xpipe's; the others are named after theirs. */
        for (impl = 0; impl < IMPLS; impl++)
            if (impl != IMPL_RAW && !r[impl].na)
                printf(",\"%s%s\":%.4f", impl ? impl_names[impl] : "",
                       impl ? "_ratio" : "ratio",
                       bench_ratio(r, (kind_e)k, impl, 0));
        printf("}");
    }
    printf("}}\n");
}

static void bench_report_table(const bench_opts_t *o, const bench_data_t *d)
{
    int k, impl, row;

    printf("xpipe bench: backend %s, cpu %s, %ld round(s), medians\n",
           xpipe_backend_name(), o->cpu, o->rounds);
    printf("%-32s", "");
    for (impl = 0; impl < IMPLS; impl++)
        printf(" %14s", impl_titles[impl]);
    for (impl = 0; impl < IMPLS; impl++)
        if (impl != IMPL_RAW)
            printf(" %9s/raw",
                   impl == IMPL_FLOOR ? "floor" : impl_titles[impl]);
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
        }
    if (IMPLS > 2)
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
    bench_opts_t o = { 3, 20000, 512, 3000, 0, "same" };
    bench_data_t *d;
    int serve = 0, ind = 0, client_cpu = 0, server_cpu = 0, rc;

    if (argc > 2 && strcmp(argv[2], "many") == 0)
        return bench_many(argc, argv, pool);
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
    d = apr_pcalloc(pool, sizeof(*d));
    if (d == NULL || bench_run(&o, server_cpu, d, pool))
        return 1;
    bench_aggregate(&o, d);
    if (o.json)
        bench_report_json(&o, d);
    else
        bench_report_table(&o, d);
    return 0;
}
