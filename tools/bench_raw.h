/* SPDX-License-Identifier: Apache-2.0 */
/* bench_raw.h — PRIVATE to tools/: the raw OS calls `xpipe-bench`
 * measures xpipe against, one file per OS (bench_raw_posix.c,
 * bench_raw_win32.c). The same names serve both; no xpipe inside.
 */
#ifndef XPIPE_BENCH_RAW_H
#define XPIPE_BENCH_RAW_H

#include <apr_pools.h>

#ifdef _WIN32
#include <windows.h>
typedef HANDLE bench_raw_t;
#define BENCH_RAW_NONE INVALID_HANDLE_VALUE
#else
typedef int bench_raw_t;
#define BENCH_RAW_NONE (-1)
/* POSIX also measures raw+poll (bench_raw_polled). */
#define BENCH_FLOOR 1
extern int bench_raw_polled; /* 1: every call non-blocking, waits in poll */
#endif

/* Socket / pipe buffer sizes of the connections made from now on, both
 * directions (0: the OS default; Windows: 64 KiB). */
extern long bench_raw_buffers;

typedef struct bench_raw_lsn_t bench_raw_lsn_t;

/* A server on the native name (socket path or pipe name); NULL when it
 * cannot listen. */
bench_raw_lsn_t *bench_raw_listen(const char *native, int message,
                                  apr_pool_t *p);
bench_raw_t bench_raw_accept(bench_raw_lsn_t *l);
void bench_raw_listen_close(bench_raw_lsn_t *l);
/* Connect, retrying for 10 s while the server is not up (or busy). */
bench_raw_t bench_raw_connect(const char *native, int message, apr_pool_t *p);
/* Bytes moved, or -1. */
long bench_raw_read(bench_raw_t h, void *buf, long len);
long bench_raw_write(bench_raw_t h, const void *buf, long len);
void bench_raw_close(bench_raw_t h);

/* `xpipe-bench many`'s raw server (bench_many.c): the OS event interface
 * on one thread (epoll; an I/O completion port on Windows) echoing what
 * n byte-mode clients send until they all leave; 0 when it worked, 2
 * where this OS has none written. */
int bench_raw_many_serve(const char *native, long n, int msg);

#endif
