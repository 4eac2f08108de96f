/* SPDX-License-Identifier: Apache-2.0 */
/* bench_many.c — `xpipe-bench many`: N clients at once, each doing 64-byte
 * round trips in byte mode, against four servers in the same run: an
 * xpipe poll set on one thread, xpipe with a thread per client, the raw
 * OS event interface on one thread (epoll on Linux, poll elsewhere; an
 * I/O completion port on Windows), and (with -Dbench_peers=enabled)
 * libuv's uv_pipe_t. The clients are the same raw blocking calls for
 * every server, in a few threads, each writing to all its connections
 * and then reading every answer. Reported: aggregate round trips per
 * second and the p99 latency (write to answer), medians over the runs.
 */
#include "xpipe.h"
#include "bench.h"
#include "bench_raw.h"
#include "tool.h"

#include <apr_strings.h>
#include <apr_thread_proc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MS_POLLSET, MS_THREADS, MS_RAW, MS_UV, MS_ALL };
#ifdef XPIPE_BENCH_UV
#define MS_COUNT 4
#else
#define MS_COUNT 3
#endif
static const char *const ms_names[MS_ALL] = { "pollset", "threads", "raw",
                                              "libuv" };
static const char *const ms_titles[MS_ALL] = { "xpipe poll set, 1 thread",
                                               "xpipe, thread per client",
#ifdef _WIN32
                                               "raw IOCP, 1 thread",
#else
                                               "raw epoll/poll, 1 thread",
#endif
                                               "libuv uv_pipe_t, 1 thread" };

#define MANY_THREADS 4 /* client threads */
#define MANY_MSG 64

/* ------------------------------------------------------------------ */
/* Servers (a child process: bench many --serve KIND NAME CLIENTS) */

/* xpipe, one thread: a poll set over the listener and every client. */
static int many_serve_pollset(const char *name, long n, apr_pool_t *p)
{
    xpipe_listener_t *l;
    xpipe_pollset_t *ps;
    xpipe_attr_t *a;
    xpipe_pollfd_t d;
    char buf[4096];
    long served = 0, open = 0;

    if (xpipe_attr_create(&a, p) || xpipe_attr_instances_set(a, 63)
        || xpipe_listen(&l, name, a, p)
        || xpipe_pollset_create(&ps, (apr_uint32_t)n + 1, p))
        return 1;
    memset(&d, 0, sizeof(d));
    d.listener = l;
    d.reqevents = XPIPE_POLLACCEPT;
    if (xpipe_pollset_add(ps, &d))
        return 1;
    while (served < n || open > 0) {
        const xpipe_pollfd_t *r;
        apr_int32_t k, i;
        if (xpipe_pollset_poll(ps, 30 * APR_USEC_PER_SEC, &k, &r))
            return 1;
        for (i = 0; i < k; i++) {
            xpipe_t *ch = r[i].client_data;
            apr_size_t len = sizeof(buf);
            apr_status_t rv;
            if (r[i].listener) {
                while (served < n && xpipe_accept(&ch, l, 0, NULL) == 0) {
                    xpipe_timeout_set(ch, 0);
                    d.listener = NULL;
                    d.channel = ch;
                    d.reqevents = XPIPE_POLLIN;
                    d.client_data = ch;
                    if (xpipe_pollset_add(ps, &d))
                        return 1;
                    served++;
                    open++;
                }
                continue;
            }
            rv = xpipe_read(ch, buf, &len);
            if (APR_STATUS_IS_TIMEUP(rv))
                continue;
            if (rv == APR_SUCCESS) /* a client has one answer out at most:
                                      it fits the socket at once */
                rv = xpipe_write_full(ch, buf, len, NULL);
            if (rv != APR_SUCCESS) {
                xpipe_close(ch);
                open--;
            }
        }
    }
    xpipe_pollset_destroy(ps);
    xpipe_listener_close(l);
    return 0;
}

/* xpipe, a thread per client. */
static void *APR_THREAD_FUNC many_echo_thread(apr_thread_t *t, void *data)
{
    xpipe_t *ch = data;
    char buf[MANY_MSG];

    while (xpipe_read_full(ch, buf, MANY_MSG, NULL) == APR_SUCCESS
           && xpipe_write_full(ch, buf, MANY_MSG, NULL) == APR_SUCCESS)
        ;
    xpipe_close(ch);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static int many_serve_threads(const char *name, long n, apr_pool_t *p)
{
    apr_thread_t **t = apr_pcalloc(p, sizeof(*t) * (apr_size_t)n);
    xpipe_listener_t *l;
    xpipe_attr_t *a;
    long i;
    int failed = 0;

    if (xpipe_attr_create(&a, p) || xpipe_attr_instances_set(a, 63)
        || xpipe_listen(&l, name, a, p))
        return 1;
    for (i = 0; i < n; i++) {
        xpipe_t *ch;
        if (xpipe_accept(&ch, l, 30 * APR_USEC_PER_SEC, NULL)
            || apr_thread_create(&t[i], NULL, many_echo_thread, ch, p)) {
            failed = 1;
            break;
        }
    }
    while (--i >= 0) {
        apr_status_t rv;
        apr_thread_join(&rv, t[i]);
    }
    xpipe_listener_close(l);
    return failed;
}

static int many_serve(const char *kind, const char *name, long n, apr_pool_t *p)
{
    const char *native;

    if (strcmp(kind, "pollset") == 0)
        return many_serve_pollset(name, n, p);
    if (strcmp(kind, "threads") == 0)
        return many_serve_threads(name, n, p);
    if (xpipe_name_resolve(&native, name, p))
        return 1;
    if (strcmp(kind, "raw") == 0)
        return bench_raw_many_serve(native, n, MANY_MSG);
#ifdef XPIPE_BENCH_UV
    if (strcmp(kind, "libuv") == 0)
        return bench_uv_many_serve(native, n);
#endif
    return 2;
}

/* ------------------------------------------------------------------ */
/* Clients */

typedef struct many_cli_t {
    const char *native;
    int hello; /* send the framed transport's hello byte first */
    long count, rounds;
    double *lat; /* us, rounds after the first */
    long nlat;
    apr_uint64_t t0, t1; /* the measured rounds */
    int failed;
    apr_pool_t *pool;
} many_cli_t;

static void *APR_THREAD_FUNC many_client(apr_thread_t *t, void *data)
{
    many_cli_t *c = data;
    bench_raw_t *h = calloc((size_t)c->count, sizeof(*h));
    apr_uint64_t *sent = calloc((size_t)c->count, sizeof(*sent));
    char out[MANY_MSG], in[MANY_MSG];
    long i, r;

    memset(out, 'm', sizeof(out));
    for (i = 0; i < c->count && !c->failed; i++)
        if ((h[i] = bench_raw_connect(c->native, 0, c->pool)) == BENCH_RAW_NONE
            || (c->hello && bench_raw_write(h[i], "B", 1) != 1))
            c->failed = 1;
    for (r = 0; r < c->rounds && !c->failed; r++) {
        if (r == 1)
            c->t0 = bench_now_ns();
        for (i = 0; i < c->count && !c->failed; i++) {
            sent[i] = bench_now_ns();
            c->failed = bench_raw_write(h[i], out, MANY_MSG) != MANY_MSG;
        }
        for (i = 0; i < c->count && !c->failed; i++) {
            long got = 0, k;
            while (got < MANY_MSG
                   && (k = bench_raw_read(h[i], in + got, MANY_MSG - got)) > 0)
                got += k;
            c->failed = got != MANY_MSG;
            if (r > 0 && !c->failed)
                c->lat[c->nlat++] = (double)(bench_now_ns() - sent[i]) / 1e3;
        }
    }
    c->t1 = bench_now_ns();
    for (i = 0; i < c->count; i++)
        if (h[i] != BENCH_RAW_NONE && h[i] != (bench_raw_t)0)
            bench_raw_close(h[i]);
    free(h);
    free(sent);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static int many_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One measurement: a server child of kind, n clients, rounds each. */
static int many_measure(const char *self, int kind, long n, long rounds,
                        int server_cpu, double *per_sec, double *p99,
                        apr_pool_t *p)
{
    const char *name = apr_psprintf(p, "xpipe-bench-many-%ld-%d",
                                    (long)apr_time_now() % 1000000, kind);
    const char *native, *argv[9];
    many_cli_t cli[MANY_THREADS];
    apr_thread_t *t[MANY_THREADS];
    apr_procattr_t *pa;
    apr_proc_t proc;
    apr_exit_why_e why;
    double *all;
    long total = 0, j;
    apr_uint64_t t0 = 0, t1 = 0;
    int i, code = 0, failed = 0;

    if (xpipe_name_resolve(&native, name, p))
        return 1;
    argv[0] = self;
    argv[1] = "many";
    argv[2] = "--serve";
    argv[3] = ms_names[kind];
    argv[4] = name;
    argv[5] = apr_psprintf(p, "%ld", n);
    argv[6] = apr_psprintf(p, "%d", server_cpu);
    argv[7] = NULL;
    if (apr_procattr_create(&pa, p)
        || apr_procattr_cmdtype_set(pa, APR_PROGRAM_ENV)
        || apr_proc_create(&proc, self, argv, NULL, pa, p))
        return 1;
    for (i = 0; i < MANY_THREADS; i++) {
        memset(&cli[i], 0, sizeof(cli[i]));
        cli[i].native = native;
        /* An xpipe server of the framed transport (POSIX without
         * SOCK_SEQPACKET) expects each client to name its mode first. */
        cli[i].hello = kind <= MS_THREADS
                       && strcmp(xpipe_backend_name(), "unix-framed") == 0;
        cli[i].count = n / MANY_THREADS + (i < n % MANY_THREADS);
        cli[i].rounds = rounds;
        cli[i].lat =
            malloc(sizeof(double) * (size_t)(cli[i].count * rounds + 1));
        cli[i].pool = p;
        apr_thread_create(&t[i], NULL, many_client, &cli[i], p);
    }
    for (i = 0; i < MANY_THREADS; i++) {
        apr_status_t rv;
        apr_thread_join(&rv, t[i]);
        failed |= cli[i].failed;
        total += cli[i].nlat;
        if (t0 == 0 || cli[i].t0 < t0)
            t0 = cli[i].t0;
        if (cli[i].t1 > t1)
            t1 = cli[i].t1;
    }
    apr_proc_wait(&proc, &code, &why, APR_WAIT);
    all = malloc(sizeof(double) * (size_t)(total + 1));
    for (total = 0, i = 0; i < MANY_THREADS; i++) {
        for (j = 0; j < cli[i].nlat; j++)
            all[total++] = cli[i].lat[j];
        free(cli[i].lat);
    }
    if (!failed && total > 0 && code == 0) {
        qsort(all, (size_t)total, sizeof(double), many_cmp);
        *per_sec = (double)total * 1e9 / (double)(t1 - t0);
        *p99 = all[(long)((double)(total - 1) * 0.99)];
    }
    free(all);
    if (failed || code != 0)
        fprintf(stderr, "xpipe: bench many: %s with %ld clients failed\n",
                ms_names[kind], n);
    return failed || code != 0;
}

static double many_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), many_cmp);
    return v[n / 2];
}

static const char many_usage[] =
    "usage: xpipe-bench many [--quick] [--clients N[,N...]] [--runs N]\n"
    "                        [--rtts N] [--cpu same|split|any] [--json]\n"
    "  N clients at once (default 100 and 1000), each doing 64-byte round\n"
    "  trips, against an xpipe poll set on one thread, xpipe with a thread\n"
    "  per client, the raw OS event interface on one thread and (when\n"
    "  built with libuv) libuv's uv_pipe_t; round trips per second and\n"
    "  p99 latency, medians over the runs (default 3) of --rtts round\n"
    "  trips each (default 300000), and each server's\n"
    "  ratio to the raw one. --cpu same (default) runs everything on CPU 0,\n"
    "  split puts the server on CPU 1, any leaves placement alone.\n";

int bench_many(int argc, const char *const *argv, apr_pool_t *pool)
{
    long clients[8] = { 100, 1000 }, runs = 3, rtts = 300000;
    int nc = 2, json = 0, i, k, r, client_cpu = 0, server_cpu = 0;
    const char *cpu = "same";
    double rate[8][MS_ALL], p99[8][MS_ALL];

    /* argv: PROG bench many [options] */
    for (i = 3; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--serve") == 0 && argc - i == 5) {
            bench_pin((int)strtol(argv[i + 4], NULL, 10));
            return many_serve(argv[i + 1], argv[i + 2],
                              strtol(argv[i + 3], NULL, 10), pool);
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(many_usage, stdout);
            return 0;
        }
        if (strcmp(a, "--json") == 0)
            json = 1;
        else if (strcmp(a, "--quick") == 0) { /* the suite's smoke test */
            clients[0] = 8;
            nc = 1;
            runs = 1;
            rtts = 2000;
        }
        else if (strcmp(a, "--rtts") == 0 && i + 1 < argc) {
            rtts = strtol(argv[++i], NULL, 10);
            if (rtts < 100 || rtts > 100000000)
                return tool_usage_error(
                    "bench many: --rtts takes 100 to 100000000");
        }
        else if (strcmp(a, "--cpu") == 0 && i + 1 < argc) {
            cpu = argv[++i];
            if (strcmp(cpu, "same") && strcmp(cpu, "split")
                && strcmp(cpu, "any"))
                return tool_usage_error(
                    "bench many: --cpu takes same, split or any");
        }
        else if (strcmp(a, "--runs") == 0 && i + 1 < argc) {
            runs = strtol(argv[++i], NULL, 10);
            if (runs < 1 || runs > 15)
                return tool_usage_error("bench many: --runs takes 1 to 15");
        }
        else if (strcmp(a, "--clients") == 0 && i + 1 < argc) {
            char *list = apr_pstrdup(pool, argv[++i]), *last, *tok;
            for (nc = 0, tok = apr_strtok(list, ",", &last); tok && nc < 8;
                 tok = apr_strtok(NULL, ",", &last)) {
                char *end;
                clients[nc] = strtol(tok, &end, 10);
                if (*end || clients[nc] < MANY_THREADS || clients[nc] > 10000)
                    return tool_usage_error(
                        "bench many: --clients takes 4 to 10000 (a list)");
                nc++;
            }
        }
        else
            return tool_usage_error(
                apr_psprintf(pool, "bench many: unexpected '%s'", a));
    }
    /* As xpipe-bench: same (default) puts everything on CPU 0, so what
     * a server costs shows, not how the scheduler shares two CPUs among
     * five busy threads; split puts the server on CPU 1. */
    if (strcmp(cpu, "any") == 0)
        client_cpu = server_cpu = -1;
    else if (strcmp(cpu, "split") == 0)
        server_cpu = 1;
    bench_pin(client_cpu);
    for (i = 0; i < nc; i++) {
        double v[MS_ALL][16], q[MS_ALL][16];
        /* rtts round trips per measurement (300,000: a second or two). */
        long rounds = rtts / clients[i] + 2;
        /* Every server once per run, rotating which goes first. */
        for (r = 0; r < runs; r++)
            for (k = 0; k < MS_COUNT; k++) {
                int s = (k + r) % MS_COUNT;
                apr_pool_t *p;
                apr_pool_create(&p, pool);
                if (many_measure(argv[0], s, clients[i], rounds, server_cpu,
                                 &v[s][r], &q[s][r], p))
                    return 1;
                apr_pool_destroy(p);
            }
        for (k = 0; k < MS_COUNT; k++) {
            rate[i][k] = many_median(v[k], (int)runs);
            p99[i][k] = many_median(q[k], (int)runs);
        }
    }
    if (json) {
        printf("{\"clients\": [");
        for (i = 0; i < nc; i++) {
            printf("%s{\"n\": %ld", i ? ", " : "", clients[i]);
            for (k = 0; k < MS_COUNT; k++)
                printf(", \"%s\": {\"rtt_per_sec\": %.0f, \"p99_us\": %.1f, "
                       "\"ratio\": %.3f}",
                       ms_names[k], rate[i][k], p99[i][k],
                       rate[i][k] / rate[i][MS_RAW]);
            printf("}");
        }
        printf("], \"runs\": %ld, \"cpu\": \"%s\"}\n", runs, cpu);
        return 0;
    }
    printf("many clients, 64-byte round trips (medians of %ld runs, --cpu "
           "%s)\n",
           runs, cpu);
    for (i = 0; i < nc; i++) {
        printf("%ld clients                     round trips/s     p99 us  "
               "ratio to raw\n",
               clients[i]);
        for (k = 0; k < MS_COUNT; k++)
            printf("  %-28s %14.0f %10.1f %13.3f\n", ms_titles[k], rate[i][k],
                   p99[i][k], rate[i][k] / rate[i][MS_RAW]);
    }
    return 0;
}
