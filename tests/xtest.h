/* SPDX-License-Identifier: Apache-2.0 */
/* xtest.h — PRIVATE to the test suite: helpers shared by the CUnit test
 * files (pools, unique names, threads, child processes, data patterns,
 * skips). Written against the public API only, so the same cases run on
 * every backend.
 */
#ifndef XTEST_H
#define XTEST_H

#include "xpipe.h"

#include <CUnit/CUnit.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_time.h>

/* The per-test pool, created before and destroyed after every test. */
extern apr_pool_t *xt_p;

/* XT_TIMES in the environment: print each case's wall time. */
extern int xt_times;

/* Suite set-up/tear-down that manage xt_p. */
void xt_setup(void);
void xt_teardown(void);

/* A pipe name unique to this process and call: "xt-<pid>-<n>". */
const char *xt_name(void);

/* This process's id. */
long xt_pid(void);

/* Mark the running test skipped, printing why. The test must return. */
void xt_skip(const char *reason);
unsigned int xt_skipped(void);

/* Is this run's every channel on the shared-memory fast path (the
 * environment's XPIPE_FAST_PATH=force, the fast leg of ./run tests)? */
int xt_fast_forced(void);

/* Deadline used by helpers for calls that should succeed. */
#define XT_LONG (10 * APR_USEC_PER_SEC)
/* A call with a deadline of XT_LONG (or none) that an interrupt, a close,
 * data or a peer's end woke returns within XT_WOKEN of it: long before
 * its deadline, which is what tells a wake-up from a timeout. How soon is
 * xpipe bench's business: a loaded machine, a sanitizer or an emulator
 * delays threads by far more than a wake-up takes, so no test asserts
 * it. */
#define XT_WOKEN (XT_LONG / 2)

/* Sanitizer builds (gcc says so with __SANITIZE_THREAD__ and
 * __SANITIZE_ADDRESS__, clang with __has_feature): cases that measure
 * scale run smaller there, saying so. */
#if defined(__SANITIZE_THREAD__)
#define XT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define XT_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define XT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define XT_ASAN 1
#endif
#endif

#define XT_OK(expr) CU_ASSERT_EQUAL_FATAL((expr), APR_SUCCESS)
/* Assert a status, printing both names on a mismatch. */
#define XT_STATUS(expr, want)                                                  \
    xt_status_check((expr), (want), #expr, __FILE__, __LINE__)
int xt_status_check(apr_status_t got, apr_status_t want, const char *what,
                    const char *file, int line);

/* Threads: run fn(arg) in a new thread from xt_p; join returns its result. */
typedef apr_status_t (*xt_fn)(void *arg);
apr_thread_t *xt_thread(xt_fn fn, void *arg);
apr_status_t xt_join(apr_thread_t *t);

/* A connected pair through a listener on a fresh name (byte or message
 * mode per attr): client and server channels, both from xt_p. */
void xt_pair(xpipe_t **client, xpipe_t **server, const xpipe_attr_t *attr);

/* Send one byte from one end of a byte-mode pair to the other and check
 * that it arrived: proof that the channel is live. */
void xt_roundtrip(xpipe_t *from, xpipe_t *to, char c);

/* Message mode: rounds of "ping" from client to server and "pong" back,
 * each checked. Enough rounds make each end's receives wait (on POSIX,
 * receives sleep in slices from then on). */
void xt_pingpong(xpipe_t *client, xpipe_t *server, int rounds);

/* Listen on lname (attr may be NULL), connect by cname, accept, and prove
 * the channel with a byte. The listener stays open (in xt_p); the two
 * ends are stored where client/server point, when they are not NULL. */
xpipe_listener_t *xt_serve_check(const char *lname, const char *cname,
                                 xpipe_t **client, xpipe_t **server);

/* Echo everything back, in the channel's mode, until the peer ends.
 * *count (if not NULL) gets the bytes (byte mode) or messages echoed.
 * Returns APR_SUCCESS at end of stream, else the status that stopped it. */
apr_status_t xt_echo(xpipe_t *ch, apr_size_t *count);

/* Deterministic data: byte i of stream seed. */
void xt_fill(unsigned char *buf, apr_size_t len, apr_size_t offset,
             unsigned int seed);
/* FNV-1a over buf, continuing from h (start with XT_FNV_INIT). */
#define XT_FNV_INIT 14695981039346656037ULL
apr_uint64_t xt_fnv(apr_uint64_t h, const void *buf, apr_size_t len);

/* A checksummed stream through one channel, for a thread each way:
 * xt_stream_write sends total bytes of stream seed (messages of varying
 * size in message mode), xt_stream_read takes them; each sums what it
 * moved into sum (start at XT_FNV_INIT). read sets total to what came.
 * Both return (and keep in rv) the status that ended them. */
typedef struct xt_stream_t {
    xpipe_t *ch;
    int message;
    unsigned int seed;
    apr_size_t total;
    apr_uint64_t sum;
    apr_status_t rv;
} xt_stream_t;
apr_status_t xt_stream_write(void *arg);
apr_status_t xt_stream_read(void *arg);

/* One xpipe_recv (xpipe_read when bytes) in a thread of its own (a call
 * to interrupt or close from this one): its status, and when it
 * returned. */
typedef struct xt_recv_job_t {
    xpipe_t *ch;
    apr_status_t rv;
    apr_time_t returned;
    int bytes;
    char data[16]; /* what it read, got bytes */
    apr_size_t got;
} xt_recv_job_t;
apr_status_t xt_recv_job(void *arg);

/* Attribute set in xt_p for a mode. xt_p, and every helper that
 * allocates from it (xt_attr, xt_name, xt_pair...), belongs to the main
 * thread: APR pools are not thread-safe, so a test's threads get what
 * they need from it before they start, and objects they make go in
 * private pools (NULL). */
xpipe_attr_t *xt_attr(xpipe_mode_e mode);

/* Open descriptors (POSIX) or handles (Windows: probed one by one, since
 * Wine's GetProcessHandleCount says 0) of this process. */
long xt_open_handles(void);

/* Child processes: this test executable run as "--child role args...". */
apr_status_t xt_child_start(apr_proc_t *proc, const char *role,
                            const char *arg1, const char *arg2);
/* Wait up to timeout for the child; kill it if still running. Returns the
 * exit code, or -1 when it had to be killed or died of a signal. */
int xt_child_wait(apr_proc_t *proc, apr_interval_time_t timeout);
void xt_child_kill(apr_proc_t *proc);
/* The xpipe tool, beside the tests in the build tree (tests/../tools/). */
const char *xt_tool_path(void);
/* The benchmarks' program (tools/xpipe-bench). */
const char *xt_bench_path(void);
/* The private smbd of ./run tests (build-aux/smbd-rig.sh): the value of
 * its variable var (XT_SMB_PORT, XT_SMB_NPDIR, ...), or NULL after
 * marking the case skipped, saying why. */
const char *xt_smb_rig(const char *var);
/* main() keeps argv[0] here. */
extern const char *xt_self;
/* Child roles: a suite that starts this program as "--child ROLE A1 A2"
 * defines the roles beside its tests, in xt_<suite>_children (ending
 * with a NULL role); main() finds them through the suite list
 * (tests/meson.build). run returns the child's exit code. */
typedef struct xt_child_t {
    const char *role;
    int (*run)(const char *a1, const char *a2);
} xt_child_t;

/* The suites, one per test file, and the child tables: the list is
 * generated from tests/meson.build (xt_suites.h). */
#include "xt_suites.h"
#define XT_DECLARE_SUITE(s) extern CU_TestInfo xt_##s##_tests[];
XT_SUITES(XT_DECLARE_SUITE)
#define XT_DECLARE_CHILDREN(s) extern const xt_child_t xt_##s##_children[];
XT_CHILD_SUITES(XT_DECLARE_CHILDREN)

#endif
