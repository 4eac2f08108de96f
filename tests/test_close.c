/* SPDX-License-Identifier: Apache-2.0 */
/* test_close.c — closing: everything written is delivered, then EOF;
 * idempotent close; calls after close; pools that close what they own.
 */
#include "xtest.h"

#include <stdlib.h>
#include <string.h>

static void test_data_then_eof(void)
{
    /* 50000 bytes fit the default buffers of every backend (64 KiB pipe
     * buffers on Windows), so they are written before the reader reads. */
    enum { LEN = 50000 };
    xpipe_t *c, *s;
    unsigned char *out = malloc(LEN), *in = malloc(LEN + 1);
    apr_size_t got = 0;

    xt_pair(&c, &s, NULL);
    xt_fill(out, LEN, 0, 17);
    XT_OK(xpipe_write_full(c, out, LEN, NULL));
    XT_OK(xpipe_close(c));
    XT_STATUS(xpipe_read_full(s, in, LEN + 1, &got), APR_EOF);
    CU_ASSERT_EQUAL(got, LEN);
    CU_ASSERT_EQUAL(memcmp(in, out, LEN), 0);
    free(out);
    free(in);
}

static void test_close_twice(void)
{
    xpipe_t *c, *s;
    xpipe_listener_t *l = NULL;
    char x;
    apr_size_t n = 1;

    xt_pair(&c, &s, NULL);
    XT_OK(xpipe_close(c));
    XT_OK(xpipe_close(c));
    XT_STATUS(xpipe_read(s, &x, &n), APR_EOF);
    XT_OK(xpipe_listen(&l, xt_name(), NULL, xt_p));
    XT_OK(xpipe_listener_close(l));
    XT_OK(xpipe_listener_close(l));
}

static void test_calls_after_close(void)
{
    xpipe_t *c, *s;
    xpipe_listener_t *l = NULL;
    xpipe_peer_t peer = XPIPE_PEER_INIT;
    xpipe_os_handle_t h;
    char buf[4];
    apr_size_t n = sizeof(buf);

    xt_pair(&c, &s, NULL);
    XT_OK(xpipe_close(c));
    XT_STATUS(xpipe_read(c, buf, &n), XPIPE_ECLOSED);
    n = 1;
    XT_STATUS(xpipe_write(c, "x", &n), XPIPE_ECLOSED);
    XT_STATUS(xpipe_read_full(c, buf, 1, NULL), XPIPE_ECLOSED);
    XT_STATUS(xpipe_write_full(c, "x", 1, NULL), XPIPE_ECLOSED);
    XT_STATUS(xpipe_send(c, "x", 1), XPIPE_ECLOSED);
    n = sizeof(buf);
    XT_STATUS(xpipe_recv(c, buf, &n), XPIPE_ECLOSED);
    XT_STATUS(xpipe_timeout_set(c, 5), XPIPE_ECLOSED);
    XT_STATUS(xpipe_interrupt(c), XPIPE_ECLOSED);
    XT_STATUS(xpipe_shutdown(c, XPIPE_SHUTDOWN_WRITE), XPIPE_ECLOSED);
    XT_STATUS(xpipe_peer_get(c, &peer), XPIPE_ECLOSED);
    XT_STATUS(xpipe_os_handle_get(c, &h), XPIPE_ECLOSED);
    XT_OK(xpipe_listen(&l, xt_name(), NULL, xt_p));
    XT_OK(xpipe_listener_close(l));
    XT_STATUS(xpipe_accept(&s, l, 0, xt_p), XPIPE_ECLOSED);
    XT_STATUS(xpipe_listener_interrupt(l), XPIPE_ECLOSED);
}

static void test_pool_destroy_closes(void)
{
    apr_pool_t *p;
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL, *c2 = NULL;
    const char *name = xt_name();
    char x;
    apr_size_t n = 1;

    apr_pool_create(&p, xt_p);
    XT_OK(xpipe_listen(&l, name, NULL, p));
    XT_OK(xpipe_connect(&c, name, NULL, XT_LONG, xt_p));
    XT_OK(xpipe_accept(&s, l, XT_LONG, p));
    XT_OK(xpipe_write(s, "p", &n));
    apr_pool_destroy(p); /* closes s and l */
    XT_OK(xpipe_timeout_set(c, XT_LONG));
    XT_OK(xpipe_read(c, &x, &n));
    CU_ASSERT_EQUAL(x, 'p');
    n = 1;
    XT_STATUS(xpipe_read(c, &x, &n), APR_EOF);
    XT_STATUS(xpipe_connect(&c2, name, NULL, 0, xt_p), XPIPE_ENOPIPE);
}

static void test_private_pools(void)
{
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL;
    const char *name = xt_name();
    char x = 0;
    apr_size_t n = 1;

    /* NULL pools: each object owns its memory and frees it on close. */
    XT_OK(xpipe_listen(&l, name, NULL, NULL));
    XT_OK(xpipe_connect(&c, name, NULL, XT_LONG, NULL));
    XT_OK(xpipe_accept(&s, l, XT_LONG, NULL));
    xt_roundtrip(c, s, 'n');
    XT_OK(xpipe_close(c));
    n = 1;
    XT_STATUS(xpipe_read(s, &x, &n), APR_EOF);
    XT_OK(xpipe_close(s));
    XT_OK(xpipe_listener_close(l));
}

static void test_listen_again_after_close(void)
{
    /* Channels from the earlier listeners stay open meanwhile: they must
     * not make the name look taken (on Windows they are pipe instances). */
    const char *name = xt_name();
    int i;

    for (i = 0; i < 3; i++)
        XT_OK(xpipe_listener_close(xt_serve_check(name, name, NULL, NULL)));
}

static void test_write_to_closed_peer(void)
{
    xpipe_t *c, *s;
    char buf[4096];
    apr_status_t rv = APR_SUCCESS;
    int i;

    xt_pair(&c, &s, NULL);
    XT_OK(xpipe_close(s));
    memset(buf, 'w', sizeof(buf));
    /* The first writes may still be buffered; within a few the peer's
     * absence must show, as a status and never as a signal. */
    for (i = 0; i < 100 && rv == APR_SUCCESS; i++) {
        apr_size_t n = sizeof(buf);
        rv = xpipe_write(c, buf, &n);
    }
    CU_ASSERT(rv == XPIPE_EPIPE || rv == XPIPE_ERESET);
    if (rv != XPIPE_EPIPE && rv != XPIPE_ERESET)
        printf("  write status %s\n", xpipe_status_name(rv));
}

static void test_shutdown_write(void)
{
    xpipe_t *c, *s;
    char buf[8];
    apr_size_t n;
    apr_status_t rv;

    xt_pair(&c, &s, NULL);
    n = 3;
    XT_OK(xpipe_write(c, "end", &n));
    rv = xpipe_shutdown(c, XPIPE_SHUTDOWN_WRITE);
#ifdef _WIN32
    /* Named pipes have no half close: the documented status, and the
     * channel is unharmed in both directions. */
    XT_STATUS(rv, APR_ENOTIMPL);
    XT_OK(xpipe_read_full(s, buf, 3, &n));
    CU_ASSERT_EQUAL(memcmp(buf, "end", 3), 0);
    n = 2;
    XT_OK(xpipe_write(s, "ok", &n));
    XT_OK(xpipe_read_full(c, buf, 2, NULL));
    CU_ASSERT_EQUAL(memcmp(buf, "ok", 2), 0);
    return;
#endif
    XT_OK(rv);
    XT_STATUS(xpipe_read_full(s, buf, sizeof(buf), &n), APR_EOF);
    CU_ASSERT_EQUAL(n, 3);
    /* The other direction still works. */
    n = 2;
    XT_OK(xpipe_write(s, "ok", &n));
    XT_OK(xpipe_read_full(c, buf, 2, NULL));
    CU_ASSERT_EQUAL(memcmp(buf, "ok", 2), 0);
}

CU_TestInfo xt_close_tests[] = {
    { "data written before close is read, then EOF", test_data_then_eof },
    { "close twice is fine", test_close_twice },
    { "every call after close: XPIPE_ECLOSED", test_calls_after_close },
    { "destroying the pool closes its objects", test_pool_destroy_closes },
    { "NULL pools: objects own and free their memory", test_private_pools },
    { "listen again right after close", test_listen_again_after_close },
    { "write to a closed peer: status, no signal", test_write_to_closed_peer },
    { "shutdown of the write side (Win32: APR_ENOTIMPL)", test_shutdown_write },
    CU_TEST_INFO_NULL,
};
