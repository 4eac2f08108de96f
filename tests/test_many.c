/* SPDX-License-Identifier: Apache-2.0 */
/* test_many.c — many clients at once: 32 concurrent clients x 1000
 * messages each through one listener, every message accounted for.
 */
#include "xtest.h"

#include <string.h>

#define MANY_CLIENTS 32
#define MANY_MSGS 1000

typedef struct many_client_t {
    const char *name;
    const xpipe_attr_t *attr;
    unsigned int id;
    int ok; /* echoes that came back intact */
    apr_status_t rv;
} many_client_t;

typedef struct many_handler_t {
    xpipe_t *ch;
    int count;
    apr_status_t rv;
} many_handler_t;

static void many_msg(unsigned char *buf, unsigned int id, int seq,
                     apr_size_t len)
{
    memcpy(buf, &id, 4);
    memcpy(buf + 4, &seq, 4);
    xt_fill(buf + 8, len - 8, (apr_size_t)seq, id);
}

static apr_status_t many_client(void *arg)
{
    many_client_t *j = arg;
    unsigned char out[256], in[256];
    xpipe_t *c = NULL;
    apr_status_t rv;
    int i;

    rv = xpipe_connect(&c, j->name, j->attr, XT_LONG, NULL);
    if (rv != APR_SUCCESS)
        return j->rv = rv;
    xpipe_timeout_set(c, XT_LONG);
    for (i = 0; i < MANY_MSGS && rv == APR_SUCCESS; i++) {
        apr_size_t len = 8 + (apr_size_t)(i + (int)j->id) % 200, n = sizeof(in);
        many_msg(out, j->id, i, len);
        rv = xpipe_send(c, out, len);
        if (rv == APR_SUCCESS)
            rv = xpipe_recv(c, in, &n);
        if (rv == APR_SUCCESS && n == len && memcmp(in, out, len) == 0)
            j->ok++;
    }
    xpipe_close(c);
    return j->rv = rv;
}

static apr_status_t many_handler(void *arg)
{
    many_handler_t *h = arg;
    apr_size_t n = 0;

    h->rv = xt_echo(h->ch, &n);
    h->count = (int)n;
    return h->rv;
}

static void test_many_clients(void)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_MESSAGE);
    many_client_t cl[MANY_CLIENTS];
    many_handler_t hd[MANY_CLIENTS];
    apr_thread_t *ct[MANY_CLIENTS], *ht[MANY_CLIENTS];
    xpipe_listener_t *l = NULL;
    const char *name = xt_name();
    int i, ok = 0, echoed = 0;

    XT_OK(xpipe_listen(&l, name, a, xt_p));
    memset(cl, 0, sizeof(cl));
    memset(hd, 0, sizeof(hd));
    for (i = 0; i < MANY_CLIENTS; i++) {
        cl[i].name = name;
        cl[i].attr = a;
        cl[i].id = (unsigned int)i + 1;
        ct[i] = xt_thread(many_client, &cl[i]);
    }
    /* 32 clients against 8 pending instances: the burst must be absorbed
     * by connect's retries, never fail with "busy". */
    for (i = 0; i < MANY_CLIENTS; i++) {
        ht[i] = NULL;
        if (!XT_STATUS(xpipe_accept(&hd[i].ch, l, XT_LONG, xt_p), APR_SUCCESS))
            break;
        XT_OK(xpipe_timeout_set(hd[i].ch, XT_LONG));
        ht[i] = xt_thread(many_handler, &hd[i]);
    }
    for (i = 0; i < MANY_CLIENTS; i++) {
        xt_join(ct[i]);
        CU_ASSERT_EQUAL(cl[i].rv, APR_SUCCESS);
        ok += cl[i].ok;
    }
    for (i = 0; i < MANY_CLIENTS; i++) {
        if (ht[i])
            xt_join(ht[i]);
        CU_ASSERT_EQUAL(hd[i].rv, APR_SUCCESS);
        echoed += hd[i].count;
    }
    CU_ASSERT_EQUAL(ok, MANY_CLIENTS * MANY_MSGS);
    CU_ASSERT_EQUAL(echoed, MANY_CLIENTS * MANY_MSGS);
}

typedef struct acceptor_t {
    xpipe_listener_t *l;
    int got;
} acceptor_t;

static apr_status_t acceptor(void *arg)
{
    acceptor_t *a = arg;
    apr_status_t rv;

    for (;;) {
        xpipe_t *s = NULL;
        char x;
        apr_size_t n = 1;

        rv = xpipe_accept(&s, a->l, XT_LONG, NULL);
        if (rv != APR_SUCCESS)
            return rv == XPIPE_ECLOSED ? APR_SUCCESS : rv;
        xpipe_timeout_set(s, XT_LONG);
        if (xpipe_read(s, &x, &n) == APR_SUCCESS && x == 'a')
            a->got++;
        xpipe_close(s);
    }
}

static void test_concurrent_accepts(void)
{
    /* Three threads accept on one listener at once; 60 clients in turn
     * are each served exactly once. */
    acceptor_t acc[3];
    apr_thread_t *t[3];
    xpipe_listener_t *l = NULL;
    const char *name = xt_name();
    int i, total = 0;

    XT_OK(xpipe_listen(&l, name, NULL, xt_p));
    for (i = 0; i < 3; i++) {
        acc[i].l = l;
        acc[i].got = 0;
        t[i] = xt_thread(acceptor, &acc[i]);
    }
    for (i = 0; i < 60; i++) {
        xpipe_t *c = NULL;
        apr_size_t n = 1;
        char x = 0;
        XT_OK(xpipe_connect(&c, name, NULL, XT_LONG, NULL));
        XT_OK(xpipe_write(c, "a", &n));
        /* Wait for the server's close so the count is final. */
        XT_OK(xpipe_timeout_set(c, XT_LONG));
        n = 1;
        XT_STATUS(xpipe_read(c, &x, &n), APR_EOF);
        XT_OK(xpipe_close(c));
    }
    /* Closing wakes every acceptor for good (an interrupt is consumed
     * by whichever calls are blocked at that moment). */
    XT_OK(xpipe_listener_close(l));
    for (i = 0; i < 3; i++) {
        XT_OK(xt_join(t[i]));
        total += acc[i].got;
    }
    CU_ASSERT_EQUAL(total, 60);
}

CU_TestInfo xt_many_tests[] = {
    { "32 clients x 1000 messages, all accounted for", test_many_clients },
    { "three threads accept on one listener", test_concurrent_accepts },
    CU_TEST_INFO_NULL,
};
