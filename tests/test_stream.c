/* SPDX-License-Identifier: Apache-2.0 */
/* test_stream.c — byte mode: echo across threads, a 64 MiB checksummed
 * transfer in odd-sized writes, partial reads, the _full calls, deadlines.
 */
#include "xtest.h"

#include <stdlib.h>
#include <string.h>

typedef struct stream_job_t {
    xpipe_t *ch;
    apr_size_t total;
    apr_uint64_t sum;
    apr_size_t moved;
} stream_job_t;

/* Echo until EOF. */
static apr_status_t stream_echo(void *arg)
{
    stream_job_t *j = arg;

    return xt_echo(j->ch, &j->moved);
}

static void test_echo_threads(void)
{
    xpipe_t *c, *s;
    stream_job_t j = { 0 };
    apr_thread_t *t;
    const char msg[] = "Hello Server!";
    char back[sizeof(msg)];
    apr_size_t got = 0;

    xt_pair(&c, &s, NULL);
    j.ch = s;
    t = xt_thread(stream_echo, &j);
    XT_OK(xpipe_write_full(c, msg, sizeof(msg), NULL));
    XT_OK(xpipe_read_full(c, back, sizeof(back), &got));
    CU_ASSERT_EQUAL(got, sizeof(msg));
    CU_ASSERT_STRING_EQUAL(back, msg);
    XT_OK(xpipe_close(c));
    XT_OK(xt_join(t));
    CU_ASSERT_EQUAL(j.moved, sizeof(msg));
}

/* Writer: total bytes of pattern 3 in odd sizes (1, 7, 4093, 65537...). */
static apr_status_t stream_writer(void *arg)
{
    static const apr_size_t sizes[] = { 1, 7, 4093, 65537, 333, 131071, 2 };
    stream_job_t *j = arg;
    unsigned char *buf = malloc(131071);
    apr_size_t off = 0, k = 0;
    apr_status_t rv = APR_SUCCESS;

    while (off < j->total && rv == APR_SUCCESS) {
        apr_size_t n = sizes[k++ % 7];
        if (n > j->total - off)
            n = j->total - off;
        xt_fill(buf, n, off, 3);
        j->sum = xt_fnv(j->sum, buf, n);
        rv = xpipe_write_full(j->ch, buf, n, NULL);
        off += n;
    }
    free(buf);
    j->moved = off;
    if (rv == APR_SUCCESS)
        rv = xpipe_close(j->ch);
    return rv;
}

static void test_64mib_checksum(void)
{
    xpipe_t *c, *s;
    stream_job_t w = { 0 };
    apr_thread_t *t;
    unsigned char *buf = malloc(70001);
    apr_uint64_t sum = XT_FNV_INIT;
    apr_size_t total = 0;
    apr_status_t rv;

    xt_pair(&c, &s, NULL);
    w.ch = c;
    w.total = 64u << 20;
    w.sum = XT_FNV_INIT;
    t = xt_thread(stream_writer, &w);
    for (;;) {
        apr_size_t n = 70001; /* odd read size too */
        rv = xpipe_read(s, buf, &n);
        if (rv != APR_SUCCESS)
            break;
        sum = xt_fnv(sum, buf, n);
        total += n;
    }
    XT_STATUS(rv, APR_EOF);
    XT_OK(xt_join(t));
    CU_ASSERT_EQUAL(total, 64u << 20);
    CU_ASSERT_EQUAL(w.moved, 64u << 20);
    CU_ASSERT(sum == w.sum);
    free(buf);
}

static void test_partial_reads(void)
{
    xpipe_t *c, *s;
    unsigned char out[100], in[1000];
    apr_size_t n = sizeof(out), got = 0;

    xt_pair(&c, &s, NULL);
    xt_fill(out, sizeof(out), 0, 9);
    XT_OK(xpipe_write_full(c, out, sizeof(out), NULL));
    /* Ten reads of 10 bytes each see the data in order. */
    while (got < sizeof(out)) {
        n = 10;
        XT_OK(xpipe_read(s, in + got, &n));
        CU_ASSERT(n >= 1 && n <= 10);
        got += n;
    }
    CU_ASSERT_EQUAL(memcmp(in, out, sizeof(out)), 0);
    /* A big buffer returns what is there, not what was asked. */
    XT_OK(xpipe_write_full(c, out, 30, NULL));
    n = sizeof(in);
    XT_OK(xpipe_read(s, in, &n));
    CU_ASSERT(n >= 1 && n <= 30);
}

static void test_full_calls(void)
{
    /* 8 MiB is far beyond any socket or pipe buffer: the writer blocks
     * until the reader drains, then finishes, all of it intact. */
    xpipe_t *c, *s;
    stream_job_t w = { 0 };
    apr_thread_t *t;
    unsigned char *buf = malloc(8 << 20);
    apr_size_t done = 0;

    xt_pair(&c, &s, NULL);
    w.ch = c;
    w.total = 8 << 20;
    w.sum = XT_FNV_INIT;
    t = xt_thread(stream_writer, &w);
    XT_OK(xpipe_read_full(s, buf, 8 << 20, &done));
    CU_ASSERT_EQUAL(done, 8 << 20);
    XT_OK(xt_join(t)); /* then its sum is final */
    CU_ASSERT(xt_fnv(XT_FNV_INIT, buf, done) == w.sum);
    /* read_full past the end: what was there, then APR_EOF. */
    XT_STATUS(xpipe_read_full(s, buf, 10, &done), APR_EOF);
    CU_ASSERT_EQUAL(done, 0);
    free(buf);
}

static void test_read_full_short_then_eof(void)
{
    xpipe_t *c, *s;
    char buf[64];
    apr_size_t done = 99;

    xt_pair(&c, &s, NULL);
    XT_OK(xpipe_write_full(c, "12345", 5, NULL));
    XT_OK(xpipe_close(c));
    XT_STATUS(xpipe_read_full(s, buf, sizeof(buf), &done), APR_EOF);
    CU_ASSERT_EQUAL(done, 5);
    CU_ASSERT_EQUAL(memcmp(buf, "12345", 5), 0);
}

static void test_read_deadline(void)
{
    xpipe_t *c, *s;
    char buf[8];
    apr_size_t n = sizeof(buf);
    apr_time_t t0;

    xt_pair(&c, &s, NULL);
    XT_OK(xpipe_timeout_set(s, 200000));
    CU_ASSERT_EQUAL(xpipe_timeout_get(s), 200000);
    t0 = apr_time_now();
    XT_STATUS(xpipe_read(s, buf, &n), APR_TIMEUP);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT(apr_time_now() - t0 >= 190000);
    CU_ASSERT(apr_time_now() - t0 < 5 * APR_USEC_PER_SEC);
    /* A timeout loses nothing: data sent afterwards is read whole. */
    n = 3;
    XT_OK(xpipe_write(c, "abc", &n));
    n = sizeof(buf);
    XT_OK(xpipe_timeout_set(s, XT_LONG));
    XT_OK(xpipe_read_full(s, buf, 3, &n));
    CU_ASSERT_EQUAL(memcmp(buf, "abc", 3), 0);
}

static void test_nonblocking_read(void)
{
    xpipe_t *c, *s;
    char buf[8];
    apr_size_t n = sizeof(buf);
    apr_time_t t0;

    xt_pair(&c, &s, NULL);
    XT_OK(xpipe_timeout_set(s, 0));
    t0 = apr_time_now();
    XT_STATUS(xpipe_read(s, buf, &n), APR_TIMEUP);
    CU_ASSERT(apr_time_now() - t0 < XT_WOKEN);
    n = 2;
    XT_OK(xpipe_write(c, "hi", &n));
    /* Data already there is returned even with a zero timeout (after the
     * peer's write has landed: wait for it with a deadline first). */
    XT_OK(xpipe_timeout_set(s, XT_LONG));
    n = 1;
    XT_OK(xpipe_read(s, buf, &n));
    XT_OK(xpipe_timeout_set(s, 0));
    n = 1;
    XT_OK(xpipe_read(s, buf + 1, &n));
    CU_ASSERT_EQUAL(memcmp(buf, "hi", 2), 0);
}

static void test_message_calls_on_byte_channel(void)
{
    xpipe_t *c, *s;
    char buf[4];
    apr_size_t n = sizeof(buf);

    xt_pair(&c, &s, NULL);
    CU_ASSERT_EQUAL(xpipe_mode_get(c), XPIPE_MODE_BYTE);
    XT_STATUS(xpipe_send(c, "x", 1), XPIPE_EMODE);
    XT_STATUS(xpipe_recv(s, buf, &n), XPIPE_EMODE);
    /* And the channel still works. */
    n = 1;
    XT_OK(xpipe_write(c, "y", &n));
    n = 1;
    XT_OK(xpipe_read(s, buf, &n));
    CU_ASSERT_EQUAL(buf[0], 'y');
}

CU_TestInfo xt_stream_tests[] = {
    { "echo across threads", test_echo_threads },
    { "64 MiB in odd-sized writes, checksummed", test_64mib_checksum },
    { "partial reads keep order", test_partial_reads },
    { "read_full / write_full move 8 MiB, the writer blocking until drained",
      test_full_calls },
    { "read_full reports a short stream then EOF",
      test_read_full_short_then_eof },
    { "read deadline gives APR_TIMEUP and loses nothing", test_read_deadline },
    { "timeout 0 does not block", test_nonblocking_read },
    { "message calls on a byte channel: XPIPE_EMODE",
      test_message_calls_on_byte_channel },
    CU_TEST_INFO_NULL,
};
