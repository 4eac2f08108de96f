/* SPDX-License-Identifier: Apache-2.0 */
/* test_child.c — channels without a name: pairs, a child started with
 * its end (xpipe_spawn, xpipe_child_channel), adopted handles, and
 * handles passed with messages, a broker's connected channel among them.
 * The children are this test program in a child role; descriptors and
 * handles are counted before and after every path that could leak one.
 */
#include "xtest.h"

#include <apr_env.h>
#include <apr_file_io.h>
#include <apr_portable.h>
#include <stdlib.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#endif

/* ------------------------------------------------------------------ */
/* Helpers */

/* The handle of an APR file, as xpipe takes handles. */
static xpipe_os_handle_t file_handle(apr_file_t *f)
{
    xpipe_os_handle_t h;
    apr_os_file_t os;

    memset(&h, 0, sizeof(h));
    apr_os_file_get(&os, f);
#ifdef _WIN32
    h.handle = os;
#else
    h.fd = os;
#endif
    return h;
}

/* An APR file over a received handle (closed with the pool's cleanup
 * when not closed before). */
static apr_file_t *file_put(xpipe_os_handle_t h, apr_pool_t *p)
{
    apr_file_t *f = NULL;
#ifdef _WIN32
    apr_os_file_t os = h.handle;
#else
    apr_os_file_t os = h.fd;
#endif
    apr_os_file_put(&f, &os, APR_FOPEN_READ, p);
    return f;
}

static void handle_close(xpipe_os_handle_t h)
{
#ifdef _WIN32
    CloseHandle(h.handle);
#else
    close(h.fd);
#endif
}

/* A temporary file holding text, open for reading at its start, or
 * NULL (for child roles, which run outside CUnit). */
static apr_file_t *temp_file_in(const char *text)
{
    const char *dir = NULL;
    char *path;
    apr_file_t *f = NULL;
    apr_off_t at = 0;

    if (apr_temp_dir_get(&dir, xt_p) != APR_SUCCESS)
        return NULL;
    path = apr_pstrcat(xt_p, dir, "/xpipe-child-XXXXXX", NULL);
    if (apr_file_mktemp(&f, path,
                        APR_FOPEN_CREATE | APR_FOPEN_READ | APR_FOPEN_WRITE
                            | APR_FOPEN_EXCL | APR_FOPEN_DELONCLOSE,
                        xt_p)
            != APR_SUCCESS
        || apr_file_write_full(f, text, strlen(text), NULL) != APR_SUCCESS
        || apr_file_seek(f, APR_SET, &at) != APR_SUCCESS)
        return NULL;
    return f;
}

static apr_file_t *temp_file(const char *text)
{
    apr_file_t *f = temp_file_in(text);

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    return f;
}

/* Make this thread's wake descriptor or event (a wait makes it, once
 * per thread) before handles are counted: it is not the test's. */
static void warm_thread(void)
{
    xpipe_t *a = NULL, *b = NULL;

    XT_OK(xpipe_pair(&a, &b, xt_attr(XPIPE_MODE_MESSAGE), NULL));
    xt_pingpong(a, b, 4);
    XT_OK(xpipe_close(a));
    XT_OK(xpipe_close(b));
}

/* xpipe_recv_handles into buf (size bytes) with room for room handles:
 * *n and *count get what came. */
static apr_status_t take(xpipe_t *ch, char *buf, apr_size_t size,
                         xpipe_os_handle_t *got, int room, apr_size_t *n,
                         int *count)
{
    *n = size;
    *count = room;
    return xpipe_recv_handles(ch, buf, n, got, count);
}

static xpipe_attr_t *handles_attr(void)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_MESSAGE);

    XT_OK(xpipe_attr_handles_set(a, 1));
    return a;
}

/* Start this program in a role with a channel to it. */
static apr_status_t spawn_role(apr_proc_t *proc, xpipe_t **ch, const char *role,
                               const char *arg, const xpipe_attr_t *attr)
{
    const char *argv[5] = { xt_self, "--child", role, arg, NULL };

    return xpipe_spawn(proc, ch, xt_self, argv, NULL, attr, xt_p);
}

/* Receive one message into buf (NUL-terminated), within XT_LONG. */
static apr_status_t recv_text(xpipe_t *ch, char *buf, apr_size_t size)
{
    apr_size_t n = size - 1;
    apr_status_t rv;

    xpipe_timeout_set(ch, XT_LONG);
    rv = xpipe_recv(ch, buf, &n);
    buf[rv == APR_SUCCESS ? n : 0] = 0;
    return rv;
}

/* ------------------------------------------------------------------ */
/* Pairs */

static void stream_through(xpipe_t *a, xpipe_t *b, int message)
{
    xt_stream_t w = { a, message, 41, 1 << 20, XT_FNV_INIT, 0 };
    xt_stream_t r = { b, message, 41, 1 << 20, XT_FNV_INIT, 0 };
    apr_thread_t *t;

    xpipe_timeout_set(a, XT_LONG);
    xpipe_timeout_set(b, XT_LONG);
    t = xt_thread(xt_stream_write, &w);
    XT_OK(xt_stream_read(&r));
    XT_OK(xt_join(t));
    CU_ASSERT_EQUAL(r.total, (apr_size_t)1 << 20);
    CU_ASSERT_EQUAL(r.sum, w.sum);
}

static void test_pair_bytes(void)
{
    xpipe_t *a = NULL, *b = NULL;
    apr_size_t n = 1;
    char c = 0;

    XT_OK(xpipe_pair(&a, &b, NULL, xt_p));
    CU_ASSERT_EQUAL(xpipe_mode_get(a), XPIPE_MODE_BYTE);
    stream_through(a, b, 0);
    stream_through(b, a, 0);
    /* The end of one is the end of the stream for the other. */
    XT_OK(xpipe_close(a));
    XT_STATUS(xpipe_read(b, &c, &n), APR_EOF);
}

static void test_pair_messages(void)
{
    xpipe_t *a = NULL, *b = NULL;
    char big[300], small[10];
    apr_size_t n;

    XT_OK(xpipe_pair(&a, &b, xt_attr(XPIPE_MODE_MESSAGE), NULL));
    stream_through(a, b, 1);
    xt_fill((unsigned char *)big, sizeof(big), 0, 5);
    XT_OK(xpipe_send(b, big, sizeof(big)));
    /* Too small: the size, and the message kept whole. */
    n = sizeof(small);
    XT_STATUS(xpipe_recv(a, small, &n), XPIPE_EMSGSIZE);
    CU_ASSERT_EQUAL(n, sizeof(big));
    {
        char in[300];
        n = sizeof(in);
        XT_OK(xpipe_recv(a, in, &n));
        CU_ASSERT_EQUAL(n, sizeof(big));
        CU_ASSERT_EQUAL(memcmp(in, big, sizeof(big)), 0);
    }
    XT_OK(xpipe_close(a));
    XT_OK(xpipe_close(b));
}

static void test_pair_interrupt_close(void)
{
    xpipe_t *a = NULL, *b = NULL;
    xt_recv_job_t j = { 0 };
    apr_thread_t *t;
    apr_time_t t0;

    XT_OK(xpipe_pair(&a, &b, xt_attr(XPIPE_MODE_MESSAGE), xt_p));
    xt_pingpong(a, b, 8); /* POSIX: receives sleep in slices from now on */
    XT_OK(xpipe_timeout_set(a, XT_LONG));
    /* An interrupt is latched: the receive ends whether it came first or
     * found the receive asleep. */
    j.ch = a;
    t0 = apr_time_now();
    t = xt_thread(xt_recv_job, &j);
    XT_OK(xpipe_interrupt(a));
    XT_OK(xt_join(t));
    XT_STATUS(j.rv, XPIPE_ECANCELED);
    /* The channel works on after an interrupt. */
    xt_pingpong(a, b, 2);
    t = xt_thread(xt_recv_job, &j);
    XT_OK(xpipe_close(a));
    XT_OK(xt_join(t));
    XT_STATUS(j.rv, XPIPE_ECLOSED);
    CU_ASSERT(apr_time_now() - t0 < XT_WOKEN);
    {
        char c;
        apr_size_t n = 1;
        xpipe_timeout_set(b, XT_LONG);
        XT_STATUS(xpipe_recv(b, &c, &n), APR_EOF);
    }
}

static void test_pair_bad_input(void)
{
    xpipe_t *a = NULL;

    XT_STATUS(xpipe_pair(NULL, &a, NULL, xt_p), APR_EINVAL);
    XT_STATUS(xpipe_pair(&a, NULL, NULL, xt_p), APR_EINVAL);
    CU_ASSERT_PTR_NULL(a);
}

/* ------------------------------------------------------------------ */
/* Children */

static void test_spawn_echo(void)
{
    xpipe_t *ch = NULL;
    apr_proc_t proc;
    unsigned char *out = malloc(1 << 20), *in = malloc(1 << 20);
    apr_size_t off;

    XT_OK(spawn_role(&proc, &ch, "pair-echo", "b", NULL));
    xpipe_timeout_set(ch, XT_LONG);
    xt_fill(out, 1 << 20, 0, 77);
    for (off = 0; off < (1u << 20); off += 65536) {
        XT_OK(xpipe_write_full(ch, out + off, 65536, NULL));
        XT_OK(xpipe_read_full(ch, in + off, 65536, NULL));
    }
    CU_ASSERT_EQUAL(memcmp(in, out, 1 << 20), 0);
    XT_OK(xpipe_close(ch));
    CU_ASSERT_EQUAL(xt_child_wait(&proc, XT_LONG), 0);
    free(out);
    free(in);
}

static void test_spawn_messages(void)
{
    xpipe_t *ch = NULL;
    apr_proc_t proc;
    char out[2000], in[2000];
    int i;

    XT_OK(
        spawn_role(&proc, &ch, "pair-echo", "m", xt_attr(XPIPE_MODE_MESSAGE)));
    xpipe_timeout_set(ch, XT_LONG);
    for (i = 1; i <= 100; i++) {
        apr_size_t len = (apr_size_t)(i * 17) % sizeof(out) + 1, n = sizeof(in);
        xt_fill((unsigned char *)out, len, (apr_size_t)i, 3);
        XT_OK(xpipe_send(ch, out, len));
        XT_OK(xpipe_recv(ch, in, &n));
        CU_ASSERT_EQUAL(n, len);
        CU_ASSERT_EQUAL(memcmp(in, out, len), 0);
    }
    XT_OK(xpipe_close(ch));
    CU_ASSERT_EQUAL(xt_child_wait(&proc, XT_LONG), 0);
}

static void test_spawn_inherits_nothing(void)
{
    xpipe_t *ch = NULL;
    apr_proc_t proc;
    char said[200], value[32];
#ifdef _WIN32
    SECURITY_ATTRIBUTES sa = { sizeof(sa), NULL, TRUE };
    /* Inheritable and signalled: the child must not find it. */
    HANDLE bait = CreateEventW(&sa, TRUE, TRUE, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(bait);
    apr_snprintf(value, sizeof(value), "%lu",
                 (unsigned long)(apr_uintptr_t)bait);
#else
    /* A descriptor without close-on-exec: only the spawn keeps it out. */
    int bait = fcntl(2, F_DUPFD, 10);

    CU_ASSERT_FATAL(bait >= 0);
    CU_ASSERT_FATAL(!(fcntl(bait, F_GETFD) & FD_CLOEXEC));
    apr_snprintf(value, sizeof(value), "%d", bait);
#endif
    XT_OK(
        spawn_role(&proc, &ch, "pair-fds", value, xt_attr(XPIPE_MODE_MESSAGE)));
    XT_OK(recv_text(ch, said, sizeof(said)));
    CU_ASSERT_STRING_EQUAL(said, "ok");
    if (strcmp(said, "ok") != 0)
        fprintf(stderr, "child said: %s\n", said);
    XT_OK(xpipe_close(ch));
    CU_ASSERT_EQUAL(xt_child_wait(&proc, XT_LONG), 0);
#ifdef _WIN32
    CloseHandle(bait);
#else
    close(bait);
#endif
}

static void test_spawn_bad_input(void)
{
    xpipe_t *ch = NULL;
    apr_proc_t proc;
    const char *argv[] = { "x", NULL };
    const char *empty[] = { NULL };
    long before = xt_open_handles();
    apr_status_t rv;

    XT_STATUS(xpipe_spawn(NULL, &ch, xt_self, argv, NULL, NULL, xt_p),
              APR_EINVAL);
    XT_STATUS(xpipe_spawn(&proc, NULL, xt_self, argv, NULL, NULL, xt_p),
              APR_EINVAL);
    XT_STATUS(xpipe_spawn(&proc, &ch, NULL, argv, NULL, NULL, xt_p),
              APR_EINVAL);
    XT_STATUS(xpipe_spawn(&proc, &ch, "", argv, NULL, NULL, xt_p), APR_EINVAL);
    XT_STATUS(xpipe_spawn(&proc, &ch, xt_self, NULL, NULL, NULL, xt_p),
              APR_EINVAL);
    XT_STATUS(xpipe_spawn(&proc, &ch, xt_self, empty, NULL, NULL, xt_p),
              APR_EINVAL);
    /* A program that is not there: a status, and nothing left open. */
    rv = xpipe_spawn(&proc, &ch, "/nonexistent/xpipe-no-such-program", argv,
                     NULL, NULL, xt_p);
    CU_ASSERT(rv != APR_SUCCESS);
    CU_ASSERT_PTR_NULL(ch);
    CU_ASSERT_EQUAL(xt_open_handles(), before);
}

static void test_child_channel_bad_env(void)
{
    xpipe_t *ch = NULL;

    apr_env_delete(XPIPE_CHILD_ENV, xt_p);
    XT_STATUS(xpipe_child_channel(NULL, NULL, xt_p), APR_EINVAL);
    XT_STATUS(xpipe_child_channel(&ch, NULL, xt_p), XPIPE_ENOPIPE);
    apr_env_set(XPIPE_CHILD_ENV, "banana byte", xt_p);
    XT_STATUS(xpipe_child_channel(&ch, NULL, xt_p), XPIPE_EBADHANDLE);
    apr_env_set(XPIPE_CHILD_ENV, "3 sideways", xt_p);
    XT_STATUS(xpipe_child_channel(&ch, NULL, xt_p), XPIPE_EBADHANDLE);
    apr_env_set(XPIPE_CHILD_ENV, "", xt_p);
    XT_STATUS(xpipe_child_channel(&ch, NULL, xt_p), XPIPE_EBADHANDLE);
    /* A value that names no open channel. */
    apr_env_set(XPIPE_CHILD_ENV, "1000000 byte", xt_p);
    XT_STATUS(xpipe_child_channel(&ch, NULL, xt_p), XPIPE_EBADHANDLE);
    /* The variable stays for a caller to look at after a failure. */
    {
        char *v = NULL;
        XT_OK(apr_env_get(&v, XPIPE_CHILD_ENV, xt_p));
    }
    apr_env_delete(XPIPE_CHILD_ENV, xt_p);
    CU_ASSERT_PTR_NULL(ch);
}

/* ------------------------------------------------------------------ */
/* Handles */

static void test_handles_file(void)
{
    xpipe_t *a = NULL, *b = NULL;
    apr_file_t *f = temp_file("through a pair");
    xpipe_os_handle_t h = file_handle(f), got[XPIPE_HANDLES_MAX];
    char buf[64];
    apr_size_t n = sizeof(buf);
    int count = XPIPE_HANDLES_MAX;
    long before;

    warm_thread();
    before = xt_open_handles();
    XT_OK(xpipe_pair(&a, &b, handles_attr(), xt_p));
    xpipe_timeout_set(b, XT_LONG);
    XT_OK(xpipe_send_handles(a, "file", 4, &h, 1));
    XT_OK(xpipe_recv_handles(b, buf, &n, got, &count));
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_EQUAL(memcmp(buf, "file", 4), 0);
    CU_ASSERT_EQUAL_FATAL(count, 1);
    XT_OK(apr_file_close(f)); /* ours gone: the copy still reads */
    {
        apr_file_t *g = file_put(got[0], xt_p);
        n = sizeof(buf);
        XT_OK(apr_file_read(g, buf, &n));
        CU_ASSERT_EQUAL(n, 14);
        CU_ASSERT_EQUAL(memcmp(buf, "through a pair", 14), 0);
        XT_OK(apr_file_close(g));
    }
    /* Messages without handles come through as before. */
    XT_OK(xpipe_send_handles(a, "none", 4, NULL, 0));
    XT_OK(take(b, buf, sizeof(buf), got, XPIPE_HANDLES_MAX, &n, &count));
    CU_ASSERT_EQUAL(count, 0);
    CU_ASSERT_EQUAL(n, 4);
    XT_OK(xpipe_close(a));
    XT_OK(xpipe_close(b));
    /* The file (ours and the copy) closed, and the pair: nothing left. */
    CU_ASSERT_EQUAL(xt_open_handles(), before - 1);
}

/* Every way a received handle could be left open: each closes it. */
static void test_handles_no_leak(void)
{
    xpipe_t *a = NULL, *b = NULL;
    apr_file_t *f = temp_file("leak");
    xpipe_os_handle_t h[3], got[3];
    char buf[64];
    apr_size_t n;
    int count;
    long before;

    long start;

    warm_thread();
    start = xt_open_handles();
    h[0] = h[1] = h[2] = file_handle(f);
    XT_OK(xpipe_pair(&a, &b, handles_attr(), xt_p));
    xpipe_timeout_set(b, XT_LONG);
    /* A first pass: what a channel keeps for passing handles (Windows:
     * the peer's process) is made now. */
    XT_OK(xpipe_send_handles(a, "0", 1, h, 1));
    XT_OK(take(b, buf, sizeof(buf), got, 3, &n, &count));
    CU_ASSERT_EQUAL_FATAL(count, 1);
    handle_close(got[0]);
    before = xt_open_handles();

    /* Read without asking for handles: they are closed. */
    XT_OK(xpipe_send_handles(a, "x", 1, h, 3));
    n = sizeof(buf);
    XT_OK(xpipe_recv(b, buf, &n));
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(xt_open_handles(), before);

    /* Too little room: the message and its handles are kept whole. */
    XT_OK(xpipe_send_handles(a, "yy", 2, h, 3));
    XT_STATUS(take(b, buf, sizeof(buf), got, 1, &n, &count), XPIPE_EMSGSIZE);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(count, 3);
    /* ... and a buffer too small, the same. */
    XT_STATUS(take(b, buf, 1, got, 3, &n, &count), XPIPE_EMSGSIZE);
    CU_ASSERT_EQUAL(n, 2);
    /* A plain receive of a held message closes its handles. */
    n = sizeof(buf);
    XT_OK(xpipe_recv(b, buf, &n));
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(xt_open_handles(), before);

    /* Taken in full. */
    XT_OK(xpipe_send_handles(a, "zzz", 3, h, 2));
    XT_OK(take(b, buf, sizeof(buf), got, 3, &n, &count));
    CU_ASSERT_EQUAL_FATAL(count, 2);
    CU_ASSERT_EQUAL(xt_open_handles(), before + 2);
    handle_close(got[0]);
    handle_close(got[1]);
    CU_ASSERT_EQUAL(xt_open_handles(), before);

    /* Sent, never read, the receiver closed: nothing stays. */
    XT_OK(xpipe_send_handles(a, "w", 1, h, 3));
    XT_OK(xpipe_send_handles(a, "v", 1, h, 1));
    XT_OK(xpipe_close(b));
    XT_OK(xpipe_close(a));
    CU_ASSERT_EQUAL(xt_open_handles(), start);
    XT_OK(apr_file_close(f));
}

static void test_handles_bad_input(void)
{
    xpipe_t *a = NULL, *b = NULL, *plain = NULL, *bytes = NULL, *c2 = NULL;
    xpipe_os_handle_t h[XPIPE_HANDLES_MAX + 1], got[1];
    apr_size_t n = 4;
    char buf[8];
    int count = 1, i;

    memset(h, 0, sizeof(h));
    XT_OK(xpipe_pair(&a, &b, handles_attr(), xt_p));
    XT_OK(xpipe_pair(&plain, &c2, xt_attr(XPIPE_MODE_MESSAGE), xt_p));
    XT_OK(xpipe_pair(&bytes, &c2, NULL, xt_p));
    xpipe_timeout_set(a, XT_LONG);
    xpipe_timeout_set(plain, XT_LONG);
    XT_STATUS(xpipe_send_handles(NULL, "x", 1, h, 0), APR_EINVAL);
    XT_STATUS(xpipe_send_handles(a, "x", 1, NULL, 1), APR_EINVAL);
    XT_STATUS(xpipe_send_handles(a, "x", 1, h, -1), APR_EINVAL);
    XT_STATUS(xpipe_send_handles(a, "x", 0, h, 0), APR_EINVAL);
    XT_STATUS(xpipe_send_handles(a, "x", 1, h, XPIPE_HANDLES_MAX + 1),
              XPIPE_EBADHANDLE);
    /* Not open: a status, and nothing sent. */
    for (i = 0; i < 2; i++)
#ifdef _WIN32
        h[i].handle = (void *)(apr_uintptr_t)0x7ffffff0;
#else
        h[i].fd = 4000 + i;
#endif
    XT_STATUS(xpipe_send_handles(a, "x", 1, h, 2), XPIPE_EBADHANDLE);
    /* A good one before a bad one: the copy made of the good one (Windows
     * duplicates into the peer, here this process) is taken back. */
    {
        apr_file_t *f = temp_file("good");
        long before;
        h[0] = file_handle(f);
        warm_thread();
        XT_OK(xpipe_send_handles(a, "w", 1, h, 1)); /* the peer's process */
        n = sizeof(buf);
        count = 1;
        XT_OK(xpipe_recv_handles(b, buf, &n, got, &count));
        handle_close(got[0]);
        before = xt_open_handles();
        XT_STATUS(xpipe_send_handles(a, "x", 1, h, 2), XPIPE_EBADHANDLE);
        CU_ASSERT_EQUAL(xt_open_handles(), before);
        XT_OK(apr_file_close(f));
    }
    XT_STATUS(xpipe_send_handles(plain, "x", 1, h, 0), XPIPE_EMODE);
    XT_STATUS(xpipe_send_handles(bytes, "x", 1, h, 0), XPIPE_EMODE);
    XT_STATUS(xpipe_recv_handles(plain, buf, &n, got, &count), XPIPE_EMODE);
    XT_STATUS(xpipe_recv_handles(a, buf, &n, got, NULL), APR_EINVAL);
    n = 4;
    count = 1;
    XT_STATUS(xpipe_recv_handles(a, buf, &n, NULL, &count), APR_EINVAL);
    /* Nothing was sent by the failures above. */
    n = sizeof(buf);
    count = 1;
    xpipe_timeout_set(b, 0);
    XT_STATUS(xpipe_recv_handles(b, buf, &n, got, &count), APR_TIMEUP);
    CU_ASSERT_EQUAL(count, 0);
    XT_OK(xpipe_close(a));
    XT_STATUS(xpipe_send_handles(a, "x", 1, h, 0), XPIPE_ECLOSED);
    XT_STATUS(take(a, buf, 4, got, 1, &n, &count), XPIPE_ECLOSED);
    CU_ASSERT_EQUAL(count, 0);
}

/* A peer without the attribute: on Windows its messages lack the header
 * that names handles, and are refused rather than misread; on POSIX
 * handles travel beside the data, so its messages come as they are. */
static void test_handles_peer_without(void)
{
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL;
    const char *name = xt_name();
    xpipe_os_handle_t got[1];
    char buf[16];
    apr_size_t n = sizeof(buf);
    int count = 1;

    XT_OK(xpipe_listen(&l, name, handles_attr(), xt_p));
    XT_OK(xpipe_connect(&c, name, xt_attr(XPIPE_MODE_MESSAGE), XT_LONG, xt_p));
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    xpipe_timeout_set(s, XT_LONG);
    XT_OK(xpipe_send(c, "plain", 5));
#ifdef _WIN32
    XT_STATUS(xpipe_recv_handles(s, buf, &n, got, &count), XPIPE_EBADHANDLE);
    CU_ASSERT_EQUAL(n, 0);
#else
    XT_OK(xpipe_recv_handles(s, buf, &n, got, &count));
    CU_ASSERT_EQUAL(n, 5);
#endif
    CU_ASSERT_EQUAL(count, 0);
    /* The channel goes on. */
    XT_OK(xpipe_send(c, "again", 5));
    n = sizeof(buf);
    count = 1;
#ifdef _WIN32
    XT_STATUS(xpipe_recv_handles(s, buf, &n, got, &count), XPIPE_EBADHANDLE);
#else
    XT_OK(xpipe_recv_handles(s, buf, &n, got, &count));
#endif
}

static void test_adopt_bad(void)
{
    xpipe_t *ch = NULL;
    xpipe_listener_t *l = NULL;
    apr_file_t *f = temp_file("not a channel");
    xpipe_os_handle_t h = file_handle(f);

#ifdef _WIN32
    {
        /* An anonymous pipe: synchronous, so no event can wait on it. */
        HANDLE r, w;
        xpipe_os_handle_t ph;
        CU_ASSERT_FATAL(CreatePipe(&r, &w, NULL, 0));
        ph.handle = r;
        XT_STATUS(xpipe_adopt(&ch, ph, NULL, xt_p), XPIPE_EBADHANDLE);
        CloseHandle(r);
        CloseHandle(w);
    }
#endif
    XT_STATUS(xpipe_adopt(NULL, h, NULL, xt_p), APR_EINVAL);
    XT_STATUS(xpipe_listener_adopt(NULL, h, NULL, xt_p), APR_EINVAL);
    XT_STATUS(xpipe_adopt(&ch, h, NULL, xt_p), XPIPE_EBADHANDLE);
    CU_ASSERT_PTR_NULL(ch);
    {
        apr_status_t rv = xpipe_listener_adopt(&l, h, NULL, xt_p);
#ifdef _WIN32
        XT_STATUS(rv, APR_ENOTIMPL);
#else
        XT_STATUS(rv, XPIPE_EBADHANDLE);
#endif
    }
    /* The file stayed the caller's, open and unchanged. */
    {
        char buf[4];
        apr_size_t n = 3;
        XT_OK(apr_file_read(f, buf, &n));
        CU_ASSERT_EQUAL(memcmp(buf, "not", 3), 0);
    }
    XT_OK(apr_file_close(f));
}

#ifndef _WIN32
/* POSIX: sockets made outside xpipe, adopted. */
static void test_adopt_sockets(void)
{
    xpipe_t *a = NULL, *b = NULL, *bad = NULL;
    xpipe_os_handle_t h;
    int sp[2], sq[2];

    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sp) == 0);
    h.fd = sp[0];
    XT_OK(xpipe_adopt(&a, h, NULL, xt_p));
    h.fd = sp[1];
    XT_OK(xpipe_adopt(&b, h, NULL, xt_p));
    xpipe_timeout_set(a, XT_LONG);
    xpipe_timeout_set(b, XT_LONG);
    xt_roundtrip(a, b, 'q');
    xt_roundtrip(b, a, 'r');
    /* Adopted: non-blocking and close-on-exec. */
    CU_ASSERT(fcntl(sp[0], F_GETFL) & O_NONBLOCK);
    CU_ASSERT(fcntl(sp[0], F_GETFD) & FD_CLOEXEC);
    XT_OK(xpipe_close(a));
    CU_ASSERT(fcntl(sp[0], F_GETFD) < 0); /* the channel closed it */
    XT_OK(xpipe_close(b));

    /* The wrong type for the mode: XPIPE_EMODE, the fd left open. */
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_DGRAM, 0, sq) == 0);
    h.fd = sq[0];
    XT_STATUS(xpipe_adopt(&bad, h, NULL, xt_p), XPIPE_EMODE);
    XT_STATUS(xpipe_adopt(&bad, h, xt_attr(XPIPE_MODE_MESSAGE), xt_p),
              XPIPE_EMODE);
    CU_ASSERT(fcntl(sq[0], F_GETFD) >= 0);
    close(sq[0]);
    close(sq[1]);
    /* A pipe is no socket. */
    CU_ASSERT_FATAL(pipe(sq) == 0);
    h.fd = sq[0];
    XT_STATUS(xpipe_adopt(&bad, h, NULL, xt_p), XPIPE_EBADHANDLE);
    h.fd = -1;
    XT_STATUS(xpipe_adopt(&bad, h, NULL, xt_p), XPIPE_EBADHANDLE);
    close(sq[0]);
    close(sq[1]);
    CU_ASSERT_PTR_NULL(bad);
}

/* POSIX: a listening socket bound elsewhere (as systemd passes one). */
static void test_adopt_listener(void)
{
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL, *bad = NULL;
    struct sockaddr_un sa;
    const char *dir = NULL, *path;
    xpipe_os_handle_t h;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    CU_ASSERT_FATAL(fd >= 0);
    XT_OK(apr_temp_dir_get(&dir, xt_p));
    path = apr_psprintf(xt_p, "%s/xpipe-adopt-%ld.sock", dir, xt_pid());
    unlink(path);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    h.fd = fd;
    /* Not listening yet: neither a listener nor a channel. */
    XT_STATUS(xpipe_listener_adopt(&l, h, NULL, xt_p), XPIPE_EBADHANDLE);
    CU_ASSERT_FATAL(listen(fd, 8) == 0);
    XT_STATUS(xpipe_adopt(&bad, h, NULL, xt_p), XPIPE_EBADHANDLE);
    XT_OK(xpipe_listener_adopt(&l, h, NULL, xt_p));
    CU_ASSERT_STRING_EQUAL(xpipe_listener_native_name(l), path);
    XT_OK(xpipe_connect(&c, path, NULL, XT_LONG, xt_p));
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    xpipe_timeout_set(c, XT_LONG);
    xpipe_timeout_set(s, XT_LONG);
    xt_roundtrip(c, s, 'l');
    XT_OK(xpipe_listener_close(l));
    CU_ASSERT(fcntl(fd, F_GETFD) < 0);
    CU_ASSERT(access(path, F_OK) == 0); /* not ours to remove */
    unlink(path);
}

/* POSIX: Python's socket.send_fds / recv_fds as the peer, both ways. In
 * framed builds it speaks xpipe's frames: a hello byte, then each
 * message after its 4-byte big-endian length. */
static const char py_peer[] =
    "import os, socket, sys, tempfile\n"
    "framed = sys.argv[2] == 'framed'\n"
    "s = socket.socket(socket.AF_UNIX,\n"
    "    socket.SOCK_STREAM if framed else socket.SOCK_SEQPACKET)\n"
    "s.settimeout(10)\n"
    "s.connect(sys.argv[1])\n"
    "def frame(b): return len(b).to_bytes(4, 'big') + b if framed else b\n"
    "def exact(n, have=b''):\n"
    "    while len(have) < n: have += s.recv(n - len(have))\n"
    "    return have\n"
    "if framed: s.send(b'M')\n"
    "f = tempfile.TemporaryFile()\n"
    "f.write(b'from python'); f.flush(); f.seek(0)\n"
    "socket.send_fds(s, [frame(b'py')], [f.fileno()])\n"
    "if framed:\n"
    "    hdr, fds, flags, addr = socket.recv_fds(s, 4, 4)\n"
    "    msg = exact(int.from_bytes(exact(4, hdr), 'big'))\n"
    "else:\n"
    "    msg, fds, flags, addr = socket.recv_fds(s, 100, 4)\n"
    "data = os.read(fds[0], 100) if fds else b'none'\n"
    "for fd in fds: os.close(fd)\n"
    "s.send(frame(msg + b':' + data))\n"
    "s.close()\n";

static void test_handles_python_peer(void)
{
    const char *name = xt_name(), *argv[6];
    xpipe_listener_t *l = NULL;
    xpipe_t *s = NULL;
    xpipe_os_handle_t got[4], h;
    apr_procattr_t *pa;
    apr_proc_t proc;
    apr_file_t *f;
    char buf[64];
    apr_size_t n = sizeof(buf);
    int count = 4;
    long before;

    if (access("/usr/bin/python3", X_OK) != 0) {
        xt_skip("no /usr/bin/python3");
        return;
    }
    warm_thread();
    XT_OK(xpipe_listen(&l, name, handles_attr(), xt_p));
    argv[0] = "/usr/bin/python3";
    argv[1] = "-c";
    argv[2] = py_peer;
    argv[3] = xpipe_listener_native_name(l);
    argv[4] = strcmp(xpipe_backend_name(), "unix-framed") == 0 ? "framed"
                                                               : "seqpacket";
    argv[5] = NULL;
    XT_OK(apr_procattr_create(&pa, xt_p));
    XT_OK(apr_procattr_cmdtype_set(pa, APR_PROGRAM_ENV));
    XT_OK(apr_proc_create(&proc, argv[0], argv, NULL, pa, xt_p));
    if (!XT_STATUS(xpipe_accept(&s, l, XT_LONG, xt_p), APR_SUCCESS)) {
        xt_child_kill(&proc);
        return;
    }
    xpipe_timeout_set(s, XT_LONG);
    before = xt_open_handles();
    /* Python's descriptor, read here. */
    XT_OK(xpipe_recv_handles(s, buf, &n, got, &count));
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(memcmp(buf, "py", 2), 0);
    CU_ASSERT_EQUAL_FATAL(count, 1);
    n = (apr_size_t)read(got[0].fd, buf, sizeof(buf));
    CU_ASSERT_EQUAL(n, 11);
    CU_ASSERT_EQUAL(memcmp(buf, "from python", 11), 0);
    close(got[0].fd);
    CU_ASSERT_EQUAL(xt_open_handles(), before);
    /* Ours, read there and its bytes sent back. */
    f = temp_file("from xpipe");
    h = file_handle(f);
    XT_OK(xpipe_send_handles(s, "xp", 2, &h, 1));
    XT_OK(apr_file_close(f));
    n = sizeof(buf);
    XT_OK(xpipe_recv(s, buf, &n));
    CU_ASSERT_EQUAL(n, 13);
    CU_ASSERT_EQUAL(memcmp(buf, "xp:from xpipe", 13), 0);
    CU_ASSERT_EQUAL(xt_child_wait(&proc, XT_LONG), 0);
}

/* POSIX: a peer that sends more descriptors than a message may carry. */
static void test_handles_too_many(void)
{
    xpipe_t *b = NULL;
    xpipe_os_handle_t h, got[XPIPE_HANDLES_MAX];
    int sp[2], fds[XPIPE_HANDLES_MAX + 4], i, count = XPIPE_HANDLES_MAX;
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(fds))];
    } ctl;
    struct msghdr m;
    struct iovec iov;
    struct cmsghdr *c;
    char buf[8];
    apr_size_t n = sizeof(buf);
    long before;

    /* Framed builds carry messages as a 4-byte big-endian length and the
     * bytes on a stream. */
    int framed = strcmp(xpipe_backend_name(), "unix-framed") == 0;
    char msg[8] = { 0, 0, 0, 4, 'm', 'a', 'n', 'y' };

    CU_ASSERT_FATAL(
        socketpair(AF_UNIX, framed ? SOCK_STREAM : SOCK_SEQPACKET, 0, sp) == 0);
    h.fd = sp[1];
    XT_OK(xpipe_adopt(&b, h, handles_attr(), xt_p));
    xpipe_timeout_set(b, XT_LONG);
    before = xt_open_handles();
    memset(&m, 0, sizeof(m));
    memset(&ctl, 0, sizeof(ctl));
    iov.iov_base = framed ? msg : msg + 4;
    iov.iov_len = framed ? 8 : 4;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl.b;
    m.msg_controllen = sizeof(ctl.b);
    c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(fds));
    for (i = 0; i < XPIPE_HANDLES_MAX + 4; i++)
        fds[i] = 2;
    memcpy(CMSG_DATA(c), fds, sizeof(fds));
    CU_ASSERT_FATAL(sendmsg(sp[0], &m, 0) == (ssize_t)iov.iov_len);
    XT_STATUS(xpipe_recv_handles(b, buf, &n, got, &count), XPIPE_EBADHANDLE);
    CU_ASSERT_EQUAL(n, 4); /* the message came */
    CU_ASSERT_EQUAL(count, 0);
    CU_ASSERT_EQUAL(xt_open_handles(), before);
    close(sp[0]);
}
#endif

/* ------------------------------------------------------------------ */
/* Across processes */

static void test_handles_to_child(void)
{
    xpipe_t *ch = NULL;
    apr_proc_t proc;
    apr_file_t *f = temp_file("read by the child");
    xpipe_os_handle_t h = file_handle(f);
    char said[200];

    XT_OK(spawn_role(&proc, &ch, "pair-file", NULL, handles_attr()));
    xpipe_timeout_set(ch, XT_LONG);
    XT_OK(xpipe_send_handles(ch, "read", 4, &h, 1));
    XT_OK(apr_file_close(f)); /* the child's copy outlives ours */
    XT_OK(recv_text(ch, said, sizeof(said)));
    CU_ASSERT_STRING_EQUAL(said, "read by the child");
    XT_OK(xpipe_close(ch));
    CU_ASSERT_EQUAL(xt_child_wait(&proc, XT_LONG), 0);
}

static void test_handles_from_dying_child(void)
{
    xpipe_t *ch = NULL;
    apr_proc_t proc;
    xpipe_os_handle_t got[4];
    char buf[64];
    apr_size_t n = sizeof(buf);
    int count = 4;
    long before = xt_open_handles();

    /* The child sends its end of a file with a message, and exits. */
    XT_OK(spawn_role(&proc, &ch, "pair-give", NULL, handles_attr()));
    xpipe_timeout_set(ch, XT_LONG);
    CU_ASSERT_EQUAL(xt_child_wait(&proc, XT_LONG), 0);
    XT_OK(xpipe_recv_handles(ch, buf, &n, got, &count));
    CU_ASSERT_EQUAL(n, 5);
    CU_ASSERT_EQUAL_FATAL(count, 1);
    {
        apr_file_t *g = file_put(got[0], xt_p);
        n = sizeof(buf);
        XT_OK(apr_file_read(g, buf, &n));
        CU_ASSERT_EQUAL(n, 9);
        CU_ASSERT_EQUAL(memcmp(buf, "from kid!", 9), 0);
        XT_OK(apr_file_close(g));
    }
    XT_STATUS(take(ch, buf, sizeof(buf), got, 4, &n, &count), APR_EOF);
    CU_ASSERT_EQUAL(count, 0);
    XT_OK(xpipe_close(ch));
    CU_ASSERT_EQUAL(xt_open_handles(), before);
}

typedef struct client_t {
    const char *name;
    apr_status_t rv;
    int ok;
} client_t;

/* The broker's client: connects, and checks 64 KiB echoed by whoever
 * serves it. */
static apr_status_t broker_client(void *arg)
{
    client_t *c = arg;
    xpipe_t *ch = NULL;
    unsigned char out[65536], in[65536];

    c->rv = xpipe_connect(&ch, c->name, NULL, XT_LONG, NULL);
    if (c->rv != APR_SUCCESS)
        return c->rv;
    xpipe_timeout_set(ch, XT_LONG);
    xt_fill(out, sizeof(out), 0, 9);
    c->rv = xpipe_write_full(ch, out, sizeof(out), NULL);
    if (c->rv == APR_SUCCESS)
        c->rv = xpipe_read_full(ch, in, sizeof(in), NULL);
    c->ok = c->rv == APR_SUCCESS && memcmp(in, out, sizeof(in)) == 0;
    xpipe_close(ch);
    return c->rv;
}

static void test_broker_worker(void)
{
    xpipe_listener_t *l = NULL;
    xpipe_t *worker = NULL, *s = NULL;
    apr_proc_t proc;
    client_t c = { xt_name(), APR_SUCCESS, 0 };
    xpipe_os_handle_t h;
    apr_thread_t *t;
    char said[64];

    if (xt_fast_forced()) {
        xt_skip("a channel on the fast path cannot be handed to another "
                "process: its data is in a mapping this one holds (its "
                "handle is an epoll descriptor, which adopt refuses)");
        return;
    }
    XT_OK(xpipe_listen(&l, c.name, NULL, xt_p));
    XT_OK(spawn_role(&proc, &worker, "worker", NULL, handles_attr()));
    xpipe_timeout_set(worker, XT_LONG);
    t = xt_thread(broker_client, &c);
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    XT_OK(xpipe_os_handle_get(s, &h));
    XT_OK(xpipe_send_handles(worker, "serve", 5, &h, 1));
    XT_OK(xpipe_close(s)); /* the worker serves the client now */
    XT_OK(xt_join(t));
    CU_ASSERT(c.ok);
    XT_OK(recv_text(worker, said, sizeof(said)));
    CU_ASSERT_STRING_EQUAL(said, "served 65536");
    XT_OK(xpipe_close(worker));
    CU_ASSERT_EQUAL(xt_child_wait(&proc, XT_LONG), 0);
}

/* ------------------------------------------------------------------ */
/* Child roles */

static int role_start(xpipe_t **ch)
{
    if (xpipe_child_channel(ch, NULL, NULL) != APR_SUCCESS) {
        fprintf(stderr, "child: %s\n", xpipe_error_detail());
        return 0;
    }
    xpipe_timeout_set(*ch, XT_LONG);
    return 1;
}

/* Echo until the parent ends. */
static int child_pair_echo(const char *a1, const char *a2)
{
    xpipe_t *ch;
    char *v = NULL;

    (void)a1;
    (void)a2;
    if (!role_start(&ch))
        return 1;
    /* Taken from the environment, so grandchildren do not see it. */
    if (apr_env_get(&v, XPIPE_CHILD_ENV, xt_p) == APR_SUCCESS)
        return 2;
    return xt_echo(ch, NULL) == APR_SUCCESS ? 0 : 3;
}

/* Say "ok" when nothing but the channel was inherited, else what was. */
static int child_pair_fds(const char *bait, const char *a2)
{
    char said[200] = "ok";
    xpipe_t *ch;
    xpipe_os_handle_t mine;

    (void)a2;
#ifdef _WIN32
    {
        HANDLE h = (HANDLE)(apr_uintptr_t)strtoull(bait, NULL, 10);
        DWORD flags;
        /* The value may name something of ours by chance: then it is not
         * the parent's signalled event. */
        if (GetHandleInformation(h, &flags)
            && WaitForSingleObject(h, 0) == WAIT_OBJECT_0)
            apr_snprintf(said, sizeof(said), "inherited handle %s", bait);
    }
#else
    {
        int fd, n = 0;
        if (fcntl(atoi(bait), F_GETFD) >= 0)
            apr_snprintf(said, sizeof(said), "inherited fd %s", bait);
        for (fd = 3; fd < 4096; fd++)
            if (fcntl(fd, F_GETFD) >= 0 && fd != 3)
                n++;
        if (n && strcmp(said, "ok") == 0)
            apr_snprintf(said, sizeof(said), "%d descriptors beside 3", n);
    }
#endif
    if (!role_start(&ch))
        return 1;
    if (xpipe_os_handle_get(ch, &mine) != APR_SUCCESS)
        return 2;
    return xpipe_send(ch, said, strlen(said)) == APR_SUCCESS ? 0 : 3;
}

/* Receive a file's handle, send back what it reads. */
static int child_pair_file(const char *a1, const char *a2)
{
    xpipe_t *ch;
    xpipe_os_handle_t got[XPIPE_HANDLES_MAX];
    char buf[256];
    apr_size_t n = sizeof(buf);
    int count = XPIPE_HANDLES_MAX;
    apr_file_t *f;

    (void)a1;
    (void)a2;
    if (!role_start(&ch))
        return 1;
    if (take(ch, buf, sizeof(buf), got, count, &n, &count) != APR_SUCCESS
        || count != 1)
        return 2;
    f = file_put(got[0], xt_p);
    n = sizeof(buf);
    if (apr_file_read(f, buf, &n) != APR_SUCCESS)
        return 3;
    apr_file_close(f);
    return xpipe_send(ch, buf, n) == APR_SUCCESS ? 0 : 4;
}

/* Send a file's handle and exit at once. */
static int child_pair_give(const char *a1, const char *a2)
{
    xpipe_t *ch;
    apr_file_t *f = temp_file_in("from kid!");
    xpipe_os_handle_t h;

    (void)a1;
    (void)a2;
    if (f == NULL || !role_start(&ch))
        return 1;
    h = file_handle(f);
    return xpipe_send_handles(ch, "given", 5, &h, 1) == APR_SUCCESS ? 0 : 2;
}

/* The broker's worker: adopt the connection it is handed, serve it. */
static int child_worker(const char *a1, const char *a2)
{
    xpipe_t *ch, *client = NULL;
    xpipe_os_handle_t got[1];
    char buf[32];
    apr_size_t n = sizeof(buf), echoed = 0;
    int count = 1;

    (void)a1;
    (void)a2;
    if (!role_start(&ch))
        return 1;
    if (take(ch, buf, sizeof(buf), got, count, &n, &count) != APR_SUCCESS
        || count != 1)
        return 2;
    if (xpipe_adopt(&client, got[0], NULL, xt_p) != APR_SUCCESS) {
        fprintf(stderr, "worker: %s\n", xpipe_error_detail());
        return 3;
    }
    xpipe_timeout_set(client, XT_LONG);
    if (xt_echo(client, &echoed) != APR_SUCCESS)
        return 4;
    n = (apr_size_t)apr_snprintf(buf, sizeof(buf), "served %lu",
                                 (unsigned long)echoed);
    return xpipe_send(ch, buf, n) == APR_SUCCESS ? 0 : 5;
}

const xt_child_t xt_child_children[] = {
    { "pair-echo", child_pair_echo }, { "pair-fds", child_pair_fds },
    { "pair-file", child_pair_file }, { "pair-give", child_pair_give },
    { "worker", child_worker },       { NULL, NULL },
};

CU_TestInfo xt_child_tests[] = {
    { "pair: 1 MiB each way, then EOF", test_pair_bytes },
    { "pair: messages, boundaries, a buffer too small", test_pair_messages },
    { "pair: interrupt and close wake a blocked receive",
      test_pair_interrupt_close },
    { "pair: bad input", test_pair_bad_input },
    { "spawn: 1 MiB echoed by the child", test_spawn_echo },
    { "spawn: 100 messages echoed by the child", test_spawn_messages },
    { "spawn: the child inherits nothing else", test_spawn_inherits_nothing },
    { "spawn: bad input, a missing program", test_spawn_bad_input },
    { "child channel: no, bad or wrong variable", test_child_channel_bad_env },
    { "handles: a file's handle through a pair", test_handles_file },
    { "handles: none left open on any path", test_handles_no_leak },
    { "handles: bad input", test_handles_bad_input },
    { "handles: a peer without the attribute", test_handles_peer_without },
    { "adopt: a file is no channel", test_adopt_bad },
#ifndef _WIN32
    { "adopt: socket pairs, wrong types", test_adopt_sockets },
    { "adopt: a listening socket", test_adopt_listener },
    { "handles: more than the limit are closed", test_handles_too_many },
    { "handles: Python's send_fds/recv_fds as the peer",
      test_handles_python_peer },
#endif
    { "handles: a file read by the child", test_handles_to_child },
    { "handles: from a child that exits", test_handles_from_dying_child },
    { "broker hands a client to a worker", test_broker_worker },
    CU_TEST_INFO_NULL,
};
