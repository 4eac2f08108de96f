/* SPDX-License-Identifier: Apache-2.0 */
/* test_message.c — message mode: boundaries kept, too-small buffers,
 * the max-message-size attribute, order, and mode mismatches.
 */
#include "xtest.h"

#include <stdlib.h>
#include <string.h>

static void test_boundaries(void)
{
    /* Small messages queued before any is read, then the big ones one at
     * a time (a portable sender may block until the reader makes room). */
    static const apr_size_t sizes[] = { 1, 4096, 2, 1000, 65535, 65536 };
    xpipe_t *c, *s;
    unsigned char *out = malloc(65536), *in = malloc(65536 + 16);
    apr_size_t i, j;

    xt_pair(&c, &s, xt_attr(XPIPE_MODE_MESSAGE));
    CU_ASSERT_EQUAL(xpipe_mode_get(s), XPIPE_MODE_MESSAGE);
    for (i = 0; i < 6; i = j) {
        for (j = i; j < 6 && (j == i || sizes[j] < 8192); j++) {
            xt_fill(out, sizes[j], j, 5);
            XT_OK(xpipe_send(c, out, sizes[j]));
        }
        for (; i < j; i++) {
            apr_size_t n = 65536 + 16;
            xt_fill(out, sizes[i], i, 5);
            XT_OK(xpipe_recv(s, in, &n));
            CU_ASSERT_EQUAL(n, sizes[i]);
            CU_ASSERT_EQUAL(memcmp(in, out, sizes[i]), 0);
        }
    }
    free(out);
    free(in);
}

static void test_too_small_buffer(void)
{
    xpipe_t *c, *s;
    unsigned char out[3000], in[3000];
    apr_size_t n = 100;

    xt_pair(&c, &s, xt_attr(XPIPE_MODE_MESSAGE));
    xt_fill(out, sizeof(out), 0, 11);
    XT_OK(xpipe_send(c, out, sizeof(out)));
    XT_OK(xpipe_send(c, "next", 4));
    XT_STATUS(xpipe_recv(s, in, &n), XPIPE_EMSGSIZE);
    CU_ASSERT_EQUAL(n, sizeof(out)); /* the size needed */
    /* Asking again with the same buffer says the same: nothing consumed. */
    n = 100;
    XT_STATUS(xpipe_recv(s, in, &n), XPIPE_EMSGSIZE);
    CU_ASSERT_EQUAL(n, sizeof(out));
    n = sizeof(in);
    XT_OK(xpipe_recv(s, in, &n));
    CU_ASSERT_EQUAL(n, sizeof(out));
    CU_ASSERT_EQUAL(memcmp(in, out, sizeof(out)), 0);
    n = sizeof(in);
    XT_OK(xpipe_recv(s, in, &n));
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_EQUAL(memcmp(in, "next", 4), 0);
}

static void test_max_message_enforced(void)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_MESSAGE);
    xpipe_t *c, *s;
    unsigned char buf[2048];
    apr_size_t n = sizeof(buf);

    XT_OK(xpipe_attr_max_message_set(a, 1024));
    CU_ASSERT_EQUAL(xpipe_attr_max_message_get(a), 1024);
    xt_pair(&c, &s, a);
    memset(buf, 'm', sizeof(buf));
    XT_STATUS(xpipe_send(c, buf, 1025), XPIPE_EMSGSIZE);
    XT_OK(xpipe_send(c, buf, 1024));
    XT_OK(xpipe_recv(s, buf, &n));
    CU_ASSERT_EQUAL(n, 1024); /* the refused one never went out */
}

typedef struct big_send_t {
    xpipe_t *ch;
    const unsigned char *buf;
    apr_size_t len;
    apr_interval_time_t timeout; /* per try: tries again on APR_TIMEUP */
    int tail;                    /* then send "tail" */
} big_send_t;

/* Send one message, giving up and trying again at every deadline: each
 * timed-out try must have sent nothing or committed the whole message. */
static apr_status_t big_sender(void *arg)
{
    big_send_t *j = arg;
    apr_status_t rv;
    int tries = 0;

    xpipe_timeout_set(j->ch, j->timeout);
    do {
        rv = xpipe_send(j->ch, j->buf, j->len);
    } while (rv == APR_TIMEUP && ++tries < 100000);
    xpipe_timeout_set(j->ch, XT_LONG);
    return rv == APR_SUCCESS && j->tail ? xpipe_send(j->ch, "tail", 4) : rv;
}

static void test_largest_message(void)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_MESSAGE);
    apr_size_t max = XPIPE_MESSAGE_MAX_LIMIT;
    unsigned char *out = malloc(max), *in = malloc(max);
    big_send_t j;
    apr_thread_t *t;
    xpipe_t *c, *s;
    apr_size_t n = max;

    XT_OK(xpipe_attr_max_message_set(a, max));
    xt_pair(&c, &s, a);
    xt_fill(out, max, 0, 21);
    j.ch = c;
    j.buf = out;
    j.len = max;
    j.timeout = XT_LONG;
    j.tail = 0;
    t = xt_thread(big_sender, &j);
    XT_OK(xpipe_recv(s, in, &n));
    XT_OK(xt_join(t));
    CU_ASSERT_EQUAL(n, max);
    CU_ASSERT_EQUAL(memcmp(in, out, max), 0);
    free(out);
    free(in);
}

typedef struct msg_job_t {
    xpipe_t *ch;
    int count;
} msg_job_t;

static apr_status_t msg_sender(void *arg)
{
    msg_job_t *j = arg;
    unsigned char buf[600];
    apr_status_t rv = APR_SUCCESS;
    int i;

    for (i = 0; i < j->count && rv == APR_SUCCESS; i++) {
        apr_size_t len = 1 + (apr_size_t)(i * 37) % 599;
        xt_fill(buf, len, (apr_size_t)i, 13);
        rv = xpipe_send(j->ch, buf, len);
    }
    return rv;
}

static void test_order_under_load(void)
{
    xpipe_t *c, *s;
    msg_job_t j;
    apr_thread_t *t;
    unsigned char in[600], want[600];
    int i, bad = 0;

    xt_pair(&c, &s, xt_attr(XPIPE_MODE_MESSAGE));
    j.ch = c;
    j.count = 5000;
    t = xt_thread(msg_sender, &j);
    for (i = 0; i < j.count; i++) {
        apr_size_t len = 1 + (apr_size_t)(i * 37) % 599, n = sizeof(in);
        if (xpipe_recv(s, in, &n) != APR_SUCCESS)
            break;
        xt_fill(want, len, (apr_size_t)i, 13);
        if (n != len || memcmp(in, want, len) != 0)
            bad++;
    }
    CU_ASSERT_EQUAL(i, j.count);
    CU_ASSERT_EQUAL(bad, 0);
    XT_OK(xt_join(t));
}

static void test_zero_length_and_stream_calls(void)
{
    xpipe_t *c, *s;
    char buf[8];
    apr_size_t n = sizeof(buf);

    xt_pair(&c, &s, xt_attr(XPIPE_MODE_MESSAGE));
    /* A 0-byte message could not be told from end of stream on POSIX, so
     * no backend sends one. */
    XT_STATUS(xpipe_send(c, "", 0), APR_EINVAL);
    n = 1;
    XT_STATUS(xpipe_write(c, "x", &n), XPIPE_EMODE);
    CU_ASSERT_EQUAL(n, 0);
    n = sizeof(buf);
    XT_STATUS(xpipe_read(s, buf, &n), XPIPE_EMODE);
    XT_OK(xpipe_send(c, "ok", 2));
    n = sizeof(buf);
    XT_OK(xpipe_recv(s, buf, &n));
    CU_ASSERT_EQUAL(n, 2);
}

static void test_mode_mismatch(void)
{
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL, *bad = NULL;
    const char *name = xt_name();
    apr_status_t rv;
    char buf[4];
    apr_size_t n = sizeof(buf);
    /* Framed POSIX builds (no SOCK_SEQPACKET) cannot refuse the connect:
     * the server drops the client at accept, which then reads EOF. */
    int framed = strcmp(xpipe_backend_name(), "unix-framed") == 0;

    XT_OK(xpipe_listen(&l, name, xt_attr(XPIPE_MODE_MESSAGE), xt_p));
    rv = xpipe_connect(&bad, name, xt_attr(XPIPE_MODE_BYTE), XT_LONG, xt_p);
    XT_STATUS(rv, framed ? APR_SUCCESS : XPIPE_EMODE);
    CU_ASSERT(framed ? bad != NULL : bad == NULL);
    /* The listener is unharmed: a matching client gets through. */
    XT_OK(xpipe_connect(&c, name, xt_attr(XPIPE_MODE_MESSAGE), XT_LONG, xt_p));
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    XT_OK(xpipe_send(c, "m", 1));
    XT_OK(xpipe_timeout_set(s, XT_LONG));
    XT_OK(xpipe_recv(s, buf, &n));
    CU_ASSERT_EQUAL(n, 1);
    if (framed) {
        XT_OK(xpipe_timeout_set(bad, XT_LONG));
        n = 1;
        XT_STATUS(xpipe_read(bad, buf, &n), APR_EOF);
    }
}

static void test_partial_frame_resumes(void)
{
    /* A message whose transfer straddles many deadlines, on both sides,
     * still arrives whole and once (framed builds keep partial frames;
     * SEQPACKET and Win32 messages are atomic). */
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_MESSAGE);
    apr_size_t max = XPIPE_MESSAGE_MAX_LIMIT;
    unsigned char *out = malloc(max), *in = malloc(max);
    big_send_t j;
    apr_thread_t *t;
    xpipe_t *c, *s;
    apr_size_t n;
    apr_status_t rv;
    int tries = 0;

    XT_OK(xpipe_attr_max_message_set(a, max));
    xt_pair(&c, &s, a);
    xt_fill(out, max, 0, 33);
    j.ch = c;
    j.buf = out;
    j.len = max;
    j.timeout = 1000; /* 1 ms */
    j.tail = 1;
    t = xt_thread(big_sender, &j);
    XT_OK(xpipe_timeout_set(s, 1000));
    do {
        n = max;
        rv = xpipe_recv(s, in, &n);
    } while (rv == APR_TIMEUP && ++tries < 100000);
    XT_OK(rv);
    CU_ASSERT_EQUAL(n, max);
    CU_ASSERT_EQUAL(memcmp(in, out, max), 0);
    XT_OK(xpipe_timeout_set(s, XT_LONG));
    n = max;
    XT_OK(xpipe_recv(s, in, &n));
    CU_ASSERT_EQUAL(n, 4);
    CU_ASSERT_EQUAL(memcmp(in, "tail", 4), 0);
    XT_OK(xt_join(t));
    free(out);
    free(in);
}

static void test_recv_deadline_and_eof(void)
{
    xpipe_t *c, *s;
    char buf[4];
    apr_size_t n = sizeof(buf);

    xt_pair(&c, &s, xt_attr(XPIPE_MODE_MESSAGE));
    XT_OK(xpipe_timeout_set(s, 100000));
    XT_STATUS(xpipe_recv(s, buf, &n), APR_TIMEUP);
    XT_OK(xpipe_send(c, "last", 4));
    XT_OK(xpipe_close(c));
    XT_OK(xpipe_timeout_set(s, XT_LONG));
    n = sizeof(buf);
    XT_OK(xpipe_recv(s, buf, &n));
    CU_ASSERT_EQUAL(n, 4);
    n = sizeof(buf);
    XT_STATUS(xpipe_recv(s, buf, &n), APR_EOF);
}

CU_TestInfo xt_message_tests[] = {
    { "boundaries kept for 1 B .. 64 KiB", test_boundaries },
    { "too-small buffer: XPIPE_EMSGSIZE, size told, message kept",
      test_too_small_buffer },
    { "max message size enforced on send", test_max_message_enforced },
    { "the largest allowed message crosses whole", test_largest_message },
    { "5000 messages keep order and content", test_order_under_load },
    { "0-byte send and stream calls refused",
      test_zero_length_and_stream_calls },
    { "byte client to message server: XPIPE_EMODE", test_mode_mismatch },
    { "recv deadline, then last message, then EOF",
      test_recv_deadline_and_eof },
    { "a message straddling deadlines arrives whole",
      test_partial_frame_resumes },
    CU_TEST_INFO_NULL,
};
