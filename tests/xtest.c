/* SPDX-License-Identifier: Apache-2.0 */
/* xtest.c — PRIVATE to the test suite: the helpers of xtest.h and the
 * child-process roles used by cases that need a second process.
 */
#include "xtest.h"

#include <apr_strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <process.h>
#define getpid_portable() _getpid()
#else
#include <fcntl.h>
#include <unistd.h>
#define getpid_portable() getpid()
#endif

apr_pool_t *xt_p;
const char *xt_self;
static unsigned int xt_skip_count;
static unsigned int xt_name_seq;

int xt_times;
static apr_time_t xt_t0;

void xt_setup(void)
{
    apr_pool_create(&xt_p, NULL);
    xt_t0 = apr_time_now();
}

void xt_teardown(void)
{
    if (xt_times)
        printf(" [%.2f s]", (double)(apr_time_now() - xt_t0) / 1e6);
    apr_pool_destroy(xt_p);
    xt_p = NULL;
}

const char *xt_name(void)
{
    return apr_psprintf(xt_p, "xt-%ld-%u", (long)getpid_portable(),
                        ++xt_name_seq);
}

void xt_skip(const char *reason)
{
    CU_pTest t = CU_get_current_test();

    printf("\n  SKIP %s: %s\n", t ? t->pName : "?", reason);
    xt_skip_count++;
}

int xt_fast_forced(void)
{
    const char *v = getenv("XPIPE_FAST_PATH");

    return v != NULL && strcmp(v, "force") == 0;
}

long xt_pid(void)
{
    return (long)getpid_portable();
}

unsigned int xt_skipped(void)
{
    return xt_skip_count;
}

int xt_status_check(apr_status_t got, apr_status_t want, const char *what,
                    const char *file, int line)
{
    char buf[128];

    if (got != want)
        printf("\n  %s:%d: %s = %s (%d: %s), expected %s\n", file, line, what,
               xpipe_status_name(got), (int)got,
               xpipe_strerror(got, buf, sizeof(buf)), xpipe_status_name(want));
    CU_assertImplementation(got == want, (unsigned int)line, what, file, "",
                            CU_FALSE);
    return got == want;
}

typedef struct xt_thread_arg_t {
    xt_fn fn;
    void *arg;
} xt_thread_arg_t;

static void *APR_THREAD_FUNC xt_thread_main(apr_thread_t *t, void *data)
{
    xt_thread_arg_t *a = data;

    apr_thread_exit(t, a->fn(a->arg));
    return NULL;
}

apr_thread_t *xt_thread(xt_fn fn, void *arg)
{
    xt_thread_arg_t *a = apr_palloc(xt_p, sizeof(*a));
    apr_thread_t *t = NULL;

    a->fn = fn;
    a->arg = arg;
    CU_ASSERT_EQUAL_FATAL(apr_thread_create(&t, NULL, xt_thread_main, a, xt_p),
                          APR_SUCCESS);
    return t;
}

apr_status_t xt_join(apr_thread_t *t)
{
    apr_status_t rv = APR_EGENERAL;

    if (t)
        apr_thread_join(&rv, t);
    return rv;
}

xpipe_attr_t *xt_attr(xpipe_mode_e mode)
{
    xpipe_attr_t *a = NULL;

    CU_ASSERT_EQUAL_FATAL(xpipe_attr_create(&a, xt_p), APR_SUCCESS);
    CU_ASSERT_EQUAL_FATAL(xpipe_attr_mode_set(a, mode), APR_SUCCESS);
    return a;
}

void xt_pair(xpipe_t **client, xpipe_t **server, const xpipe_attr_t *attr)
{
    xpipe_listener_t *l = NULL;
    const char *name = xt_name();

    *client = *server = NULL;
    XT_OK(xpipe_listen(&l, name, attr, xt_p));
    XT_OK(xpipe_connect(client, name, attr, XT_LONG, xt_p));
    XT_OK(xpipe_accept(server, l, XT_LONG, xt_p));
    XT_OK(xpipe_timeout_set(*client, XT_LONG));
    XT_OK(xpipe_timeout_set(*server, XT_LONG));
}

void xt_roundtrip(xpipe_t *from, xpipe_t *to, char c)
{
    char got = 0;
    apr_size_t n = 1;

    XT_OK(xpipe_timeout_set(from, XT_LONG));
    XT_OK(xpipe_timeout_set(to, XT_LONG));
    XT_OK(xpipe_write(from, &c, &n));
    XT_OK(xpipe_read(to, &got, &n));
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(got, c);
}

void xt_pingpong(xpipe_t *client, xpipe_t *server, int rounds)
{
    char buf[8];
    apr_size_t n;
    int i;

    for (i = 0; i < rounds; i++) {
        XT_OK(xpipe_send(client, "ping", 4));
        n = sizeof(buf);
        XT_OK(xpipe_recv(server, buf, &n));
        CU_ASSERT(n == 4 && memcmp(buf, "ping", 4) == 0);
        XT_OK(xpipe_send(server, "pong", 4));
        n = sizeof(buf);
        XT_OK(xpipe_recv(client, buf, &n));
        CU_ASSERT(n == 4 && memcmp(buf, "pong", 4) == 0);
    }
}

xpipe_listener_t *xt_serve_check(const char *lname, const char *cname,
                                 xpipe_t **client, xpipe_t **server)
{
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL;

    XT_OK(xpipe_listen(&l, lname, NULL, xt_p));
    XT_OK(xpipe_connect(&c, cname, NULL, XT_LONG, xt_p));
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    xt_roundtrip(c, s, 'Q');
    if (client)
        *client = c;
    if (server)
        *server = s;
    return l;
}

apr_status_t xt_echo(xpipe_t *ch, apr_size_t *count)
{
    int message = xpipe_mode_get(ch) == XPIPE_MODE_MESSAGE;
    char *buf = malloc(65536);
    apr_status_t rv;

    for (;;) {
        apr_size_t n = 65536;
        rv = message ? xpipe_recv(ch, buf, &n) : xpipe_read(ch, buf, &n);
        if (rv == APR_SUCCESS)
            rv = message ? xpipe_send(ch, buf, n)
                         : xpipe_write_full(ch, buf, n, NULL);
        if (rv != APR_SUCCESS)
            break;
        if (count)
            *count += message ? 1 : n;
    }
    free(buf);
    return APR_STATUS_IS_EOF(rv) ? APR_SUCCESS : rv;
}

void xt_fill(unsigned char *buf, apr_size_t len, apr_size_t offset,
             unsigned int seed)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        apr_size_t k = offset + i;
        buf[i] = (unsigned char)((k * 2654435761u) >> 13 ^ k ^ seed);
    }
}

apr_uint64_t xt_fnv(apr_uint64_t h, const void *buf, apr_size_t len)
{
    const unsigned char *p = buf;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* ------------------------------------------------------------------ */
/* Child processes */

apr_status_t xt_stream_write(void *arg)
{
    xt_stream_t *j = arg;
    unsigned char *buf = malloc(65536);
    apr_size_t off = 0;

    j->rv = buf ? APR_SUCCESS : APR_ENOMEM;
    while (off < j->total && j->rv == APR_SUCCESS) {
        apr_size_t n = 1 + (off * 7919) % 65535;
        if (n > j->total - off)
            n = j->total - off;
        xt_fill(buf, n, off, j->seed);
        j->sum = xt_fnv(j->sum, buf, n);
        j->rv = j->message ? xpipe_send(j->ch, buf, n)
                           : xpipe_write_full(j->ch, buf, n, NULL);
        off += n;
    }
    free(buf);
    return j->rv;
}

apr_status_t xt_recv_job(void *arg)
{
    xt_recv_job_t *j = arg;

    j->got = sizeof(j->data);
    j->rv = j->bytes ? xpipe_read(j->ch, j->data, &j->got)
                     : xpipe_recv(j->ch, j->data, &j->got);
    if (j->rv != APR_SUCCESS)
        j->got = 0;
    j->returned = apr_time_now();
    return APR_SUCCESS;
}

apr_status_t xt_stream_read(void *arg)
{
    xt_stream_t *j = arg;
    unsigned char *buf = malloc(65536);
    apr_size_t got = 0;

    j->rv = buf ? APR_SUCCESS : APR_ENOMEM;
    while (got < j->total && j->rv == APR_SUCCESS) {
        apr_size_t n = 65536;
        j->rv = j->message ? xpipe_recv(j->ch, buf, &n)
                           : xpipe_read(j->ch, buf, &n);
        if (j->rv == APR_SUCCESS) {
            j->sum = xt_fnv(j->sum, buf, n);
            got += n;
        }
    }
    j->total = got;
    free(buf);
    return j->rv;
}

apr_status_t xt_child_start(apr_proc_t *proc, const char *role,
                            const char *arg1, const char *arg2)
{
    const char *argv[6];
    apr_procattr_t *pa;
    apr_status_t rv;

    argv[0] = xt_self;
    argv[1] = "--child";
    argv[2] = role;
    argv[3] = arg1;
    argv[4] = arg1 ? arg2 : NULL;
    argv[5] = NULL;
    rv = apr_procattr_create(&pa, xt_p);
    if (rv == APR_SUCCESS)
        rv = apr_procattr_cmdtype_set(pa, APR_PROGRAM);
    if (rv == APR_SUCCESS)
        rv = apr_procattr_io_set(pa, APR_NO_PIPE, APR_NO_PIPE, APR_NO_PIPE);
    if (rv == APR_SUCCESS)
        rv = apr_proc_create(proc, xt_self, argv, NULL, pa, xt_p);
    return rv;
}

int xt_child_wait(apr_proc_t *proc, apr_interval_time_t timeout)
{
    apr_time_t end = apr_time_now() + timeout;
    apr_exit_why_e why;
    int code = -1;

    for (;;) {
        apr_status_t rv = apr_proc_wait(proc, &code, &why, APR_NOWAIT);
        if (APR_STATUS_IS_CHILD_DONE(rv))
            return why == APR_PROC_EXIT ? code : -1;
        if (!APR_STATUS_IS_CHILD_NOTDONE(rv))
            return -1; /* no such child (reaped already): none to wait for */
        if (apr_time_now() >= end)
            break;
        apr_sleep(5000); /* polling a child's exit: no event to wait on */
    }
    xt_child_kill(proc);
    return -1;
}

const char *xt_smb_rig(const char *var)
{
    const char *v = getenv(var), *why = getenv("XT_SMB_SKIP");

    if (v && *v && getenv("XT_SMB_PASS") && getenv("XT_SRCDIR"))
        return v;
    xt_skip(apr_psprintf(xt_p, "no smbd rig: %s",
                         why && *why
                             ? why
                             : "XT_SMB_* not set (./run tests starts one with "
                               "build-aux/smbd-rig.sh)"));
    return NULL;
}

/* A program of tools/ beside this test program's build directory. */
static const char *xt_tools_program(const char *name)
{
    const char *slash = strrchr(xt_self, '/');
    const char *bslash = strrchr(xt_self, '\\');
    apr_size_t dir;

    if (bslash && (!slash || bslash > slash))
        slash = bslash;
    dir = slash ? (apr_size_t)(slash - xt_self) + 1 : 0;
    return apr_pstrcat(xt_p, apr_pstrmemdup(xt_p, xt_self, dir), "../tools/",
                       name,
#ifdef _WIN32
                       ".exe",
#endif
                       NULL);
}

const char *xt_tool_path(void)
{
    return xt_tools_program("xpipe");
}

const char *xt_bench_path(void)
{
    return xt_tools_program("xpipe-bench");
}

void xt_child_kill(apr_proc_t *proc)
{
    apr_exit_why_e why;
    int code;

    apr_proc_kill(proc, 9);
    apr_proc_wait(proc, &code, &why, APR_WAIT);
}

/* ------------------------------------------------------------------ */
/* The backend's system-call table (xsys.h) */

#include "xsys.h"

xt_sys_t xt_sys_real;

void xt_sys_restore(void)
{
    *XT_SYS = xt_sys_real;
}

static apr_status_t xt_sys_cleanup(void *data)
{
    (void)data;
    xt_sys_restore();
    return APR_SUCCESS;
}

xt_sys_t *xt_sys_take(void)
{
    xt_sys_real = *XT_SYS;
    apr_pool_cleanup_register(xt_p, NULL, xt_sys_cleanup,
                              apr_pool_cleanup_null);
    return XT_SYS;
}

long xt_open_handles(void)
{
#ifdef _WIN32
    long n = 0;
    apr_uintptr_t h;
    DWORD flags;

    for (h = 4; h < 65536; h += 4)
        if (GetHandleInformation((HANDLE)h, &flags))
            n++;
    return n;
#else
    long n = 0;
    int fd;

    for (fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            n++;
    return n;
#endif
}
