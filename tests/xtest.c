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
        if (apr_time_now() >= end)
            break;
        apr_sleep(5000); /* polling a child's exit: no event to wait on */
    }
    xt_child_kill(proc);
    return -1;
}

const char *xt_tool_path(void)
{
#ifdef _WIN32
    const char *exe = "xpipe.exe";
#else
    const char *exe = "xpipe";
#endif
    const char *slash = strrchr(xt_self, '/');
    const char *bslash = strrchr(xt_self, '\\');
    apr_size_t dir;

    if (bslash && (!slash || bslash > slash))
        slash = bslash;
    dir = slash ? (apr_size_t)(slash - xt_self) + 1 : 0;
    return apr_pstrcat(xt_p, apr_pstrmemdup(xt_p, xt_self, dir), "../tools/",
                       exe, NULL);
}

void xt_child_kill(apr_proc_t *proc)
{
    apr_exit_why_e why;
    int code;

    apr_proc_kill(proc, 9);
    apr_proc_wait(proc, &code, &why, APR_WAIT);
}

/* Role "echo NAME MODE": connect and echo everything until the peer ends. */
static int child_echo(const char *name, const char *mode)
{
    xpipe_mode_e m = mode[0] == 'm' ? XPIPE_MODE_MESSAGE : XPIPE_MODE_BYTE;
    xpipe_attr_t *attr;
    xpipe_t *ch;

    xpipe_attr_create(&attr, xt_p);
    xpipe_attr_mode_set(attr, m);
    if (xpipe_connect(&ch, name, attr, XT_LONG, xt_p) != APR_SUCCESS)
        return 2;
    xpipe_timeout_set(ch, XT_LONG);
    return xt_echo(ch, NULL) == APR_SUCCESS ? 0 : 3;
}

/* Role "midway NAME": connect, write 5000 bytes of a promised 10000 and
 * wait (to be killed). */
static int child_midway(const char *name)
{
    unsigned char buf[5000];
    xpipe_t *ch;

    if (xpipe_connect(&ch, name, NULL, XT_LONG, xt_p) != APR_SUCCESS)
        return 2;
    xt_fill(buf, sizeof(buf), 0, 7);
    if (xpipe_write_full(ch, buf, sizeof(buf), NULL) != APR_SUCCESS)
        return 3;
    xpipe_timeout_set(ch, 30 * APR_USEC_PER_SEC);
    xpipe_read(ch, buf, &(apr_size_t){ 1 });
    return 0;
}

/* Role "flood NAME": connect and write without end (to be killed). */
static int child_flood(const char *name)
{
    static unsigned char buf[16384];
    xpipe_t *ch;

    if (xpipe_connect(&ch, name, NULL, XT_LONG, xt_p) != APR_SUCCESS)
        return 2;
    xt_fill(buf, sizeof(buf), 0, 3);
    xpipe_timeout_set(ch, 30 * APR_USEC_PER_SEC);
    while (xpipe_write_full(ch, buf, sizeof(buf), NULL) == APR_SUCCESS)
        ;
    return 0;
}

/* Role "hold NAME": listen, serve one client a byte, then wait to be
 * killed, leaving whatever a killed server leaves. */
static int child_hold(const char *name)
{
    xpipe_listener_t *l;
    xpipe_t *ch;
    apr_size_t n = 1;

    if (xpipe_listen(&l, name, NULL, xt_p) != APR_SUCCESS)
        return 2;
    if (xpipe_accept(&ch, l, XT_LONG, xt_p) != APR_SUCCESS)
        return 3;
    if (xpipe_write(ch, "H", &n) != APR_SUCCESS)
        return 4;
    xpipe_timeout_set(ch, 30 * APR_USEC_PER_SEC);
    xpipe_read(ch, &n, &n);
    return 0;
}

#ifndef _WIN32
#include <grp.h>

/* Become the unprivileged user 65534 (nobody/nogroup), for attacks. */
static int child_drop(void)
{
    if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
        return -1;
    return 0;
}

/* Role "attack PATH": as another user, connect, send, expect a byte back.
 * Exit 0 served; 10 EACCES; 11 no pipe; 12 other connect error;
 * 13 connected but dropped before any reply; 14 other; 20 cannot drop. */
static int child_attack(const char *path)
{
    xpipe_t *ch;
    apr_status_t rv;
    apr_size_t n = 6;
    char b;

    if (child_drop() < 0)
        return 20;
    rv = xpipe_connect(&ch, path, NULL, XT_LONG, xt_p);
    if (rv == APR_EACCES)
        return 10;
    if (rv == XPIPE_ENOPIPE)
        return 11;
    if (rv != APR_SUCCESS)
        return 12;
    xpipe_timeout_set(ch, XT_LONG);
    rv = xpipe_write(ch, "attack", &n);
    if (rv == APR_SUCCESS) {
        n = 1;
        rv = xpipe_read(ch, &b, &n);
    }
    if (rv == APR_SUCCESS)
        return 0;
    return XPIPE_STATUS_IS_PEER_GONE(rv) ? 13 : 14;
}

/* Role "serve-other PATH": as another user, serve one client on PATH
 * (mode 0666) and count what it sends. Exit 0 nothing received; 1 data
 * received; 2 listen failed; 3 accept failed; 20 cannot drop. */
static int child_serve_other(const char *path)
{
    xpipe_listener_t *l;
    xpipe_attr_t *a;
    xpipe_t *ch;
    char buf[64];
    apr_size_t n, total = 0;

    if (child_drop() < 0)
        return 20;
    xpipe_attr_create(&a, xt_p);
    xpipe_attr_permissions_set(a, 0666);
    if (xpipe_listen(&l, path, a, xt_p) != APR_SUCCESS)
        return 2;
    if (xpipe_accept(&ch, l, XT_LONG, xt_p) != APR_SUCCESS)
        return 3;
    xpipe_timeout_set(ch, XT_LONG);
    for (;;) {
        n = sizeof(buf);
        if (xpipe_read(ch, buf, &n) != APR_SUCCESS)
            break;
        total += n;
    }
    return total == 0 ? 0 : 1;
}
#endif

static void *APR_THREAD_FUNC child_idle(apr_thread_t *t, void *data)
{
    (void)data;
    apr_sleep(APR_USEC_PER_SEC);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

int xt_child_main(int argc, const char *const *argv)
{
    const char *role = argc > 2 ? argv[2] : "";
    const char *a1 = argc > 3 ? argv[3] : "";
    const char *a2 = argc > 4 ? argv[4] : "";

    xt_setup();
    if (strcmp(role, "echo") == 0)
        return child_echo(a1, a2);
    if (strcmp(role, "midway") == 0)
        return child_midway(a1);
    if (strcmp(role, "hold") == 0)
        return child_hold(a1);
    if (strcmp(role, "flood") == 0)
        return child_flood(a1);
#ifndef _WIN32
    if (strcmp(role, "attack") == 0)
        return child_attack(a1);
    if (strcmp(role, "serve-other") == 0)
        return child_serve_other(a1);
#endif
    if (strcmp(role, "crash") == 0) {
        /* Deliberate crash after a thread exists (the case where Wine with
         * winedbg enabled exits 0), to check that a crash fails the run. */
        apr_thread_t *t;
        volatile int *p = NULL;
        apr_thread_create(&t, NULL, child_idle, NULL, xt_p);
        return *p;
    }
    fprintf(stderr, "unknown child role '%s'\n", role);
    return 100;
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
