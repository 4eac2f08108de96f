/* SPDX-License-Identifier: Apache-2.0 */
/* test_process.c — channels between processes: echo through a child,
 * peer credentials, a peer killed mid-message, a server killed while
 * listening. The child is this test program run in a child role, so the
 * same cases run on POSIX and on Windows.
 */
#include "xtest.h"

#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif

static xpipe_t *child_accept(xpipe_listener_t *l, apr_proc_t *proc)
{
    xpipe_t *s = NULL;

    if (!XT_STATUS(xpipe_accept(&s, l, XT_LONG, xt_p), APR_SUCCESS)) {
        xt_child_kill(proc);
        return NULL;
    }
    xpipe_timeout_set(s, XT_LONG);
    return s;
}

static void test_echo_child_bytes(void)
{
    xpipe_listener_t *l = NULL;
    apr_proc_t proc;
    const char *name = xt_name();
    xpipe_t *s;
    unsigned char *out = malloc(1 << 20), *in = malloc(1 << 20);
    apr_size_t off;

    XT_OK(xpipe_listen(&l, name, NULL, xt_p));
    XT_OK(xt_child_start(&proc, "echo", name, "b"));
    s = child_accept(l, &proc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    xt_fill(out, 1 << 20, 0, 23);
    /* Write and read in 64 KiB steps so neither side's buffers fill. */
    for (off = 0; off < (1u << 20); off += 65536) {
        XT_OK(xpipe_write_full(s, out + off, 65536, NULL));
        XT_OK(xpipe_read_full(s, in + off, 65536, NULL));
    }
    CU_ASSERT_EQUAL(memcmp(in, out, 1 << 20), 0);
    XT_OK(xpipe_close(s));
    CU_ASSERT_EQUAL(xt_child_wait(&proc, XT_LONG), 0);
    free(out);
    free(in);
}

static void test_echo_child_messages(void)
{
    xpipe_listener_t *l = NULL;
    apr_proc_t proc;
    const char *name = xt_name();
    xpipe_t *s;
    unsigned char out[3000], in[3000];
    int i;

    XT_OK(xpipe_listen(&l, name, xt_attr(XPIPE_MODE_MESSAGE), xt_p));
    XT_OK(xt_child_start(&proc, "echo", name, "m"));
    s = child_accept(l, &proc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    for (i = 1; i <= 200; i++) {
        apr_size_t len = (apr_size_t)(i * 13) % 3000 + 1, n = sizeof(in);
        xt_fill(out, len, (apr_size_t)i, 29);
        XT_OK(xpipe_send(s, out, len));
        XT_OK(xpipe_recv(s, in, &n));
        CU_ASSERT_EQUAL(n, len);
        CU_ASSERT_EQUAL(memcmp(in, out, len), 0);
    }
    XT_OK(xpipe_close(s));
    CU_ASSERT_EQUAL(xt_child_wait(&proc, XT_LONG), 0);
}

static void test_peer_identity(void)
{
    xpipe_listener_t *l = NULL;
    apr_proc_t proc;
    const char *name = xt_name();
    xpipe_t *s;
    xpipe_peer_t peer = XPIPE_PEER_INIT;

    XT_OK(xpipe_listen(&l, name, NULL, xt_p));
    XT_OK(xt_child_start(&proc, "echo", name, "b"));
    s = child_accept(l, &proc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    /* Prove the channel is live with the child (it echoes) first. */
    xt_roundtrip(s, s, 'i');
    XT_OK(xpipe_peer_get(s, &peer));
    CU_ASSERT(peer.have & XPIPE_PEER_PID);
    CU_ASSERT_EQUAL(peer.pid, (long)proc.pid);
    CU_ASSERT_EQUAL(peer.size, sizeof(peer));
    /* A program built against a later header, whose record is larger:
     * ours in full, its new fields zeroed, its size kept. */
    {
        struct {
            xpipe_peer_t p;
            long later;
        } big;
        memset(&big, 0x5a, sizeof(big));
        big.p.size = sizeof(big);
        XT_OK(xpipe_peer_get(s, &big.p));
        CU_ASSERT_EQUAL(big.p.size, sizeof(big));
        CU_ASSERT_EQUAL(big.p.pid, (long)proc.pid);
        CU_ASSERT_EQUAL(big.later, 0);
    }
    /* A record without its size: refused, and nothing written. */
    {
        xpipe_peer_t none;
        memset(&none, 0, sizeof(none));
        none.pid = -7;
        XT_STATUS(xpipe_peer_get(s, &none), APR_EINVAL);
        CU_ASSERT(strstr(xpipe_error_detail(), "XPIPE_PEER_INIT") != NULL);
        CU_ASSERT_EQUAL(none.pid, -7);
    }
#ifdef _WIN32
    CU_ASSERT(!(peer.have & (XPIPE_PEER_UID | XPIPE_PEER_GID)));
    /* The child runs as we do: its token's user SID. */
    CU_ASSERT(peer.have & XPIPE_PEER_SID);
    CU_ASSERT(peer.sid != NULL && strncmp(peer.sid, "S-1-", 4) == 0);
#else
    CU_ASSERT(peer.have & XPIPE_PEER_UID);
    CU_ASSERT(peer.have & XPIPE_PEER_GID);
    CU_ASSERT_EQUAL(peer.uid, (long)geteuid());
    CU_ASSERT_EQUAL(peer.gid, (long)getegid());
    CU_ASSERT(!(peer.have & XPIPE_PEER_SID));
#endif
    XT_OK(xpipe_close(s));
    CU_ASSERT_EQUAL(xt_child_wait(&proc, XT_LONG), 0);
}

static void test_peer_identity_client_side(void)
{
    xpipe_t *c, *s;
    xpipe_peer_t peer = XPIPE_PEER_INIT;

    xt_pair(&c, &s, NULL);
    xt_roundtrip(s, c, 'c');
    /* The client learns who the server is: here, this very process. */
    XT_OK(xpipe_peer_get(c, &peer));
    CU_ASSERT(peer.have & XPIPE_PEER_PID);
    CU_ASSERT_EQUAL(peer.pid, xt_pid());
}

static void test_peer_killed_mid_message(void)
{
    xpipe_listener_t *l = NULL;
    apr_proc_t proc;
    const char *name = xt_name();
    xpipe_t *s;
    unsigned char in[10000], want[5000];
    apr_size_t got = 0;
    apr_status_t rv;
    apr_time_t t0;

    XT_OK(xpipe_listen(&l, name, NULL, xt_p));
    XT_OK(xt_child_start(&proc, "midway", name, NULL));
    s = child_accept(l, &proc);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    /* The child promised 10000 bytes and sends 5000: read those... */
    XT_OK(xpipe_read_full(s, in, 5000, &got));
    xt_fill(want, 5000, 0, 7);
    CU_ASSERT_EQUAL(memcmp(in, want, 5000), 0);
    /* ...then it dies. The rest never comes: a status, not a hang. */
    xt_child_kill(&proc);
    t0 = apr_time_now();
    rv = xpipe_read_full(s, in, 5000, &got);
    CU_ASSERT(rv == APR_EOF || rv == XPIPE_ERESET);
    CU_ASSERT_EQUAL(got, 0);
    CU_ASSERT(apr_time_now() - t0 < 5 * APR_USEC_PER_SEC);
    /* Writing to it gives a status too, never a signal. */
    {
        int i;
        rv = APR_SUCCESS;
        for (i = 0; i < 100 && rv == APR_SUCCESS; i++) {
            apr_size_t n = 5000;
            rv = xpipe_write(s, in, &n);
        }
        CU_ASSERT(XPIPE_STATUS_IS_PEER_GONE(rv));
    }
}

static void test_killed_server_name_reusable(void)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE);
    apr_proc_t proc;
    const char *name = xt_name();
    xpipe_t *c = NULL;
    char x = 0;
    apr_size_t n = 1;

    XT_OK(xpipe_attr_wait_for_server_set(a, 1));
    XT_OK(xt_child_start(&proc, "hold", name, NULL));
    XT_OK(xpipe_connect(&c, name, a, XT_LONG, xt_p));
    XT_OK(xpipe_timeout_set(c, XT_LONG));
    XT_OK(xpipe_read(c, &x, &n));
    CU_ASSERT_EQUAL(x, 'H');
    /* The server is killed: whatever it left behind must not block the
     * next server on the same name. */
    xt_child_kill(&proc);
    n = 1;
    CU_ASSERT(XPIPE_STATUS_IS_PEER_GONE(xpipe_read(c, &x, &n)));
    xt_serve_check(name, name, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/* Child roles (this test program run as "--child ROLE A1 A2") */

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
static int child_midway(const char *name, const char *unused)
{
    (void)unused;
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

/* Role "hold NAME": listen, serve one client a byte, then wait to be
 * killed, leaving whatever a killed server leaves. */
static int child_hold(const char *name, const char *unused)
{
    (void)unused;
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

/* xpipe_terminate leaves nothing of xpipe's: the child counts (role
 * "cycles"); its output says the counts. */
static void test_terminate_cycles(void)
{
    apr_proc_t proc;

    XT_OK(xt_child_start(&proc, "cycles", "", ""));
    CU_ASSERT_EQUAL(xt_child_wait(&proc, 6 * XT_LONG), 0);
}

/* One cycle's reader: takes "cycle", answers "elcyc". It returns rather
 * than call apr_thread_exit, whose pthread_exit leaves this frame's
 * AddressSanitizer redzones behind on the thread's stack. */
typedef struct cycle_job_t {
    xpipe_t *s;
    apr_status_t rv;
} cycle_job_t;

static void *APR_THREAD_FUNC cycle_reader(apr_thread_t *t, void *arg)
{
    cycle_job_t *j = arg;
    char buf[5];
    apr_size_t n;

    (void)t;
    j->rv = xpipe_read_full(j->s, buf, 5, &n);
    if (j->rv == APR_SUCCESS && memcmp(buf, "cycle", 5) != 0)
        j->rv = APR_EGENERAL;
    if (j->rv == APR_SUCCESS)
        j->rv = xpipe_write_full(j->s, "elcyc", 5, NULL);
    return NULL;
}

/* Role "cycles": from a process with xpipe terminated, 100 cycles of
 * xpipe_initialize, a channel whose two ends each block in a receive in
 * their own thread (so both threads make their wake objects), and
 * xpipe_terminate. The descriptors (handles) open after the last are
 * those open before the first. Exit 0 when so and every reply was
 * right. */
static int child_cycles(const char *unused1, const char *unused2)
{
    long before, after;
    int i, rc = 0;

    (void)unused1;
    (void)unused2;
    xt_teardown(); /* xt_p goes with APR */
    xpipe_terminate();
    before = xt_open_handles();
    for (i = 0; i < 100 && rc == 0; i++) {
        apr_pool_t *p;
        xpipe_listener_t *l;
        xpipe_t *c, *s;
        apr_thread_t *t;
        apr_status_t trv;
        cycle_job_t job = { NULL, APR_EGENERAL };
        char buf[5];
        apr_size_t n;
        const char *name;

        if (xpipe_initialize() != APR_SUCCESS
            || apr_pool_create(&p, NULL) != APR_SUCCESS)
            return 2;
        name = apr_psprintf(p, "xt-cycles-%ld-%d", xt_pid(), i);
        if (xpipe_listen(&l, name, NULL, p) != APR_SUCCESS
            || xpipe_connect(&c, name, NULL, XT_LONG, p) != APR_SUCCESS
            || xpipe_accept(&s, l, XT_LONG, p) != APR_SUCCESS)
            rc = 3;
        else if ((job.s = s, xpipe_timeout_set(s, XT_LONG)) != APR_SUCCESS
                 || xpipe_timeout_set(c, XT_LONG) != APR_SUCCESS
                 || apr_thread_create(&t, NULL, cycle_reader, &job, p)
                        != APR_SUCCESS)
            rc = 4;
        if (rc == 0) {
            /* The reader blocks first: the write waits for its receive. */
            if (xpipe_write_full(c, "cycle", 5, NULL) != APR_SUCCESS
                || xpipe_read_full(c, buf, 5, &n) != APR_SUCCESS
                || memcmp(buf, "elcyc", 5) != 0)
                rc = 5;
            /* (APR on Windows says APR_INCOMPLETE for a thread that
             * returned: the job says how it went.) */
            apr_thread_join(&trv, t);
            if (job.rv != APR_SUCCESS)
                rc = 6;
        }
        apr_pool_destroy(p); /* closes the channels and the listener */
        xpipe_terminate();
    }
    after = xt_open_handles();
    printf("cycles: %d (status %d), descriptors or handles open before %ld, "
           "after %ld\n",
           i, rc, before, after);
    if (rc == 0 && after != before)
        rc = 7;
    xpipe_initialize();
    xt_setup();
    return rc;
}

const xt_child_t xt_process_children[] = {
    { "echo", child_echo }, { "midway", child_midway },
    { "hold", child_hold }, { "cycles", child_cycles },
    { NULL, NULL },
};

CU_TestInfo xt_process_tests[] = {
    { "1 MiB echoed by a child process", test_echo_child_bytes },
    { "200 messages echoed by a child process", test_echo_child_messages },
    { "peer identity of a child client", test_peer_identity },
    { "client learns the server's identity", test_peer_identity_client_side },
    { "peer killed mid-message: EOF or reset, no hang, no signal",
      test_peer_killed_mid_message },
    { "a killed server's name can be listened on again",
      test_killed_server_name_reusable },
    { "100 initialise/use/terminate cycles leave no descriptor or handle",
      test_terminate_cycles },
    CU_TEST_INFO_NULL,
};
