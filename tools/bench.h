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
    K_STREAM_64K_4M, /* 64 KiB writes, 4 MiB socket buffers both sides */
    K_CONNECT,
    K_COUNT
} kind_e;

/* The stream kinds: their write size, and their buffers (0: default). */
#define KIND_IS_STREAM(k)                                                      \
    ((k) == K_STREAM_64K || (k) == K_STREAM_4K || (k) == K_STREAM_64K_4M)
#define KIND_CHUNK(k) ((k) == K_STREAM_4K ? 4096 : 65536)
#define KIND_BUFFERS(k) ((k) == K_STREAM_64K_4M ? 4 * 1024 * 1024 : 0)

/* What the OS counted for a process (bench_sys.c). */
typedef struct bench_count_t {
    double syscalls, switches;
} bench_count_t;

/* One measurement's result. */
typedef struct result_t {
    double median_us, p99_us; /* latency kinds */
    double per_sec;           /* bytes/s (streams) or connections/s */
    int na;                   /* this implementation cannot do the kind */
    /* Over raw's (bench.c: the median of each round's ratio), of the
     * figure and of the p99 latency. */
    double ratio, ratio_p99;
    /* Per operation (round trip, write, connection), client and server
     * side, when counted. */
    int counted;
    bench_count_t per_op[2];
} result_t;

/* A process's counters (pid 0: this one), or NULL with *why. */
typedef struct bench_counter_t bench_counter_t;
bench_counter_t *bench_counter_open(long pid, const char **why);
/* The same, with the threads (not processes) it starts after this. */
bench_counter_t *bench_counter_open_threads(long pid, const char **why);
int bench_counter_read(bench_counter_t *c, bench_count_t *out);
void bench_counter_close(bench_counter_t *c);

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
/* `xpipe-bench many` (bench_many.c): the libuv server of n clients. */
int bench_uv_many_serve(const char *native, long n);
/* `xpipe-bench many ...`, the many-client benchmark. */
int bench_many(int argc, const char *const *argv, apr_pool_t *pool);
/* `xpipe-bench smb ...` (POSIX): the SMB client beside impacket's. */
int bench_smb(int argc, const char *const *argv, apr_pool_t *pool);

#endif
