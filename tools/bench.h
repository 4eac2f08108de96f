/* SPDX-License-Identifier: Apache-2.0 */
/* bench.h — PRIVATE to tools/: what bench.c shares with the optional peer
 * implementations (bench_uv.c, built with -Dbench_peers=enabled). */
#ifndef XPIPE_BENCH_H
#define XPIPE_BENCH_H

#include <apr.h>
#include <apr_pools.h>

typedef enum kind_e {
    K_RTT_BYTE,
    K_RTT_MSG,
    K_STREAM_64K,
    K_STREAM_4K,
    K_CONNECT,
    K_COUNT
} kind_e;

/* One measurement's result. */
typedef struct result_t {
    double median_us, p99_us; /* latency kinds */
    double per_sec;           /* bytes/s (streams) or connections/s */
    int na;                   /* this implementation cannot do the kind */
} result_t;

/* Latencies in us, sorted from index warm on: the median and p99 into
 * res (bench.c). */
void bench_latencies(double *lat, long count, long warm, result_t *res);
apr_uint64_t bench_now_ns(void);
/* Pin this process to one CPU (children inherit it); -1 leaves it. */
void bench_pin(int cpu);

/* libuv's uv_pipe_t (bench_uv.c): serve one kind on the socket path
 * native (count round trips, bytes or connections), or measure it as the
 * client. 0 when it worked; K_RTT_MSG is not something a uv_pipe_t does
 * (byte streams only): res->na. */
int bench_uv_serve(kind_e kind, const char *native, long count);
int bench_uv_measure(kind_e kind, const char *native, long count,
                     result_t *res);
const char *bench_uv_version(void);
/* `xpipe bench many` (bench_many.c): the libuv server of n clients. */
int bench_uv_many_serve(const char *native, long n);
/* `xpipe bench many ...`, the many-client benchmark. */
int bench_many(int argc, const char *const *argv, apr_pool_t *pool);

#endif
