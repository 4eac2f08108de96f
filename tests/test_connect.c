/* SPDX-License-Identifier: Apache-2.0 */
/* test_connect.c — connect and accept: a missing server, a busy one, the
 * deadlines of both, and waiting for a server that starts later.
 */
#include "xtest.h"

#include <string.h>

static void test_no_server_is_immediate(void)
{
    xpipe_t *c = NULL;
    apr_time_t t0 = apr_time_now();

    XT_STATUS(xpipe_connect(&c, xt_name(), NULL, XT_LONG, xt_p), XPIPE_ENOPIPE);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT(apr_time_now() - t0 < XT_WOKEN); /* not at the deadline */
}

/* Fill a 1-instance listener with clients that are never accepted. */
static int connect_fill(const char *name, const xpipe_attr_t *a,
                        apr_status_t *last)
{
    int ok = 0, i;

    for (i = 0; i < 20; i++) {
        xpipe_t *c = NULL;
        *last = xpipe_connect(&c, name, a, 100000, xt_p);
        if (*last != APR_SUCCESS)
            break;
        ok++;
    }
    return ok;
}

typedef struct late_t {
    const char *name;
    const xpipe_attr_t *attr;
    xpipe_t *ch;
    apr_time_t took;
} late_t;

static apr_status_t late_connect(void *arg)
{
    late_t *j = arg;
    apr_time_t t0 = apr_time_now();
    apr_status_t rv = xpipe_connect(&j->ch, j->name, j->attr, XT_LONG, NULL);

    j->took = apr_time_now() - t0;
    if (rv == APR_SUCCESS)
        rv = xpipe_write_full(j->ch, "late", 4, NULL);
    return rv;
}

static void test_busy_retried_until_accepted(void)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE);
    xpipe_listener_t *l = NULL;
    xpipe_t *s[21];
    late_t j = { 0 };
    apr_thread_t *t;
    apr_status_t last = APR_SUCCESS;
    char buf[4];
    int queued, i, found = 0;

    XT_OK(xpipe_attr_instances_set(a, 1));
    j.name = xt_name();
    j.attr = a;
    XT_OK(xpipe_listen(&l, j.name, a, xt_p));
    queued = connect_fill(j.name, a, &last);
    CU_ASSERT_FATAL(queued >= 1 && queued <= 20);
    XT_STATUS(last, APR_TIMEUP); /* busy until the deadline */
    t = xt_thread(late_connect, &j);
    /* Accept the queued clients and the late one, which was retrying:
     * all of them, in whatever order the listener has them (on the
     * Windows fast path a queued client may wait on the second name). */
    for (i = 0; i <= queued; i++)
        XT_OK(xpipe_accept(&s[i], l, XT_LONG, xt_p));
    XT_OK(xt_join(t)); /* its "late" is written */
    for (i = 0; i <= queued; i++) {
        apr_size_t n = sizeof(buf);
        XT_OK(xpipe_timeout_set(s[i], 0));
        if (xpipe_read(s[i], buf, &n) == APR_SUCCESS) {
            /* the rest, if the first read took part of it */
            XT_OK(xpipe_timeout_set(s[i], XT_LONG));
            if (n < 4)
                XT_OK(xpipe_read_full(s[i], buf + n, 4 - n, NULL));
            CU_ASSERT_EQUAL(memcmp(buf, "late", 4), 0);
            found++;
        }
    }
    CU_ASSERT_EQUAL(found, 1); /* the late one, and only it, spoke */
    XT_OK(xpipe_close(j.ch));
}

static void test_busy_deadline_expires(void)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE);
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL;
    const char *name = xt_name();
    apr_status_t last;
    apr_time_t t0;
    apr_size_t n = 1;

    XT_OK(xpipe_attr_instances_set(a, 1));
    XT_OK(xpipe_listen(&l, name, a, xt_p));
    CU_ASSERT(connect_fill(name, a, &last) >= 1);
    t0 = apr_time_now();
    XT_STATUS(xpipe_connect(&c, name, a, 300000, xt_p), APR_TIMEUP);
    CU_ASSERT(apr_time_now() - t0 >= 290000);
    CU_ASSERT(apr_time_now() - t0 < 5 * APR_USEC_PER_SEC);
    CU_ASSERT_PTR_NULL(c);
    /* The server still serves its first client. */
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    XT_OK(xpipe_write(s, "s", &n));
}

static void test_accept_deadline(void)
{
    xpipe_listener_t *l = NULL;
    xpipe_t *s = NULL, *c = NULL;
    const char *name = xt_name();
    apr_time_t t0;

    XT_OK(xpipe_listen(&l, name, NULL, xt_p));
    t0 = apr_time_now();
    XT_STATUS(xpipe_accept(&s, l, 150000, xt_p), APR_TIMEUP);
    CU_ASSERT(apr_time_now() - t0 >= 140000);
    CU_ASSERT_PTR_NULL(s);
    XT_STATUS(xpipe_accept(&s, l, 0, xt_p), APR_TIMEUP);
    /* Still accepts afterwards. */
    XT_OK(xpipe_connect(&c, name, NULL, XT_LONG, xt_p));
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    xt_roundtrip(c, s, 'a');
}

typedef struct serve_one_t {
    const char *name;
    apr_status_t rv;
} serve_one_t;

static apr_status_t serve_one(void *arg)
{
    serve_one_t *j = arg;
    xpipe_listener_t *l;
    xpipe_t *s;
    apr_status_t rv = xpipe_listen(&l, j->name, NULL, NULL);

    if (rv != APR_SUCCESS)
        return rv;
    rv = xpipe_accept(&s, l, XT_LONG, NULL);
    if (rv == APR_SUCCESS) {
        rv = xpipe_write_full(s, "up", 2, NULL);
        xpipe_close(s);
    }
    xpipe_listener_close(l);
    return rv;
}

static void test_wait_for_server(void)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE);
    serve_one_t j;
    apr_thread_t *t;
    xpipe_t *c = NULL;
    apr_time_t t0;
    char buf[2];

    XT_OK(xpipe_attr_wait_for_server_set(a, 1));
    j.name = xt_name();
    t0 = apr_time_now();
    /* With nobody there, waiting runs to the deadline... */
    XT_STATUS(xpipe_connect(&c, j.name, a, 300000, xt_p), APR_TIMEUP);
    CU_ASSERT(apr_time_now() - t0 >= 290000);
    /* ...and a server that starts meanwhile is found. */
    t = xt_thread(serve_one, &j);
    XT_OK(xpipe_connect(&c, j.name, a, XT_LONG, xt_p));
    XT_OK(xpipe_timeout_set(c, XT_LONG));
    XT_OK(xpipe_read_full(c, buf, 2, NULL));
    CU_ASSERT_EQUAL(memcmp(buf, "up", 2), 0);
    XT_OK(xt_join(t));
}

static void test_connect_zero_timeout(void)
{
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL;
    const char *name = xt_name();

    XT_OK(xpipe_listen(&l, name, NULL, xt_p));
    /* A listening server with room connects without waiting. */
    XT_OK(xpipe_connect(&c, name, NULL, 0, xt_p));
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    xt_roundtrip(s, c, 'z');
}

CU_TestInfo xt_connect_tests[] = {
    { "no server: XPIPE_ENOPIPE at once", test_no_server_is_immediate },
    { "busy server: connect retries until accepted",
      test_busy_retried_until_accepted },
    { "busy server: APR_TIMEUP at the deadline", test_busy_deadline_expires },
    { "accept deadline", test_accept_deadline },
    { "wait-for-server attribute", test_wait_for_server },
    { "connect with timeout 0 to a free server", test_connect_zero_timeout },
    CU_TEST_INFO_NULL,
};
