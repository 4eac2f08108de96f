/* SPDX-License-Identifier: Apache-2.0 */
/* test_smb.c — network pipes on POSIX: a listener exported to SMB clients
 * through a local Samba (xpipe_attr_smb_export_set).
 *
 * First, cases that speak smbd's side of the protocol themselves, straight
 * into the socket in a private np directory: the handshake, both framings,
 * limits, peers that vanish, and malformed requests. Then cases against a
 * real smbd started by build-aux/smbd-rig.sh (XT_SMB_* in the
 * environment), with Debian's impacket as the SMB client
 * (tests/smb_client.py): those skip, saying why, when there is no rig.
 * POSIX only (main.c registers it there): Windows serves \\host\pipe\name
 * itself, and the export there only admits remote clients, which the
 * security suite checks.
 */
#include "xtest.h"
#ifndef _WIN32
#include "../backends/smb_export/npa.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef _WIN32
#include <apr_file_io.h>
#include <apr_strings.h>
#include <stdarg.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Helpers */

/* A private np directory (0700) for the cases without smbd. */
static const char *np_dir_make(void)
{
    const char *d =
        apr_psprintf(xt_p, "/tmp/xt-np-%ld-%s", xt_pid(), xt_name() + 3);

    CU_ASSERT_FATAL(mkdir(d, 0700) == 0);
    return d;
}

/* Remove it again (after the listener closed; only files inside). */
static void np_dir_remove(const char *d)
{
    apr_dir_t *dir;
    apr_finfo_t f;

    if (apr_dir_open(&dir, d, xt_p) == APR_SUCCESS) {
        while (apr_dir_read(&f, APR_FINFO_NAME, dir) == APR_SUCCESS)
            if (strcmp(f.name, ".") && strcmp(f.name, ".."))
                unlink(apr_pstrcat(xt_p, d, "/", f.name, NULL));
        apr_dir_close(dir);
    }
    rmdir(d);
}

/* The log lines a listener reports, for cases to wait on. */
typedef struct log_box_t {
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;
    int n;
    char lines[16][512];
} log_box_t;

static void log_sink(void *baton, const char *line)
{
    log_box_t *b = baton;

    apr_thread_mutex_lock(b->lock);
    if (b->n < 16)
        apr_cpystrn(b->lines[b->n], line, sizeof(b->lines[0]));
    b->n++;
    apr_thread_cond_broadcast(b->cond);
    apr_thread_mutex_unlock(b->lock);
}

static log_box_t *log_box(xpipe_attr_t *a)
{
    log_box_t *b = apr_pcalloc(xt_p, sizeof(*b));

    apr_thread_mutex_create(&b->lock, APR_THREAD_MUTEX_DEFAULT, xt_p);
    apr_thread_cond_create(&b->cond, xt_p);
    XT_OK(xpipe_attr_log_set(a, log_sink, b));
    return b;
}

/* Wait (bounded) until line number n (from 0) has been logged; its text,
 * or "" when it did not come. */
static const char *log_wait(log_box_t *b, int n)
{
    apr_time_t end = apr_time_now() + XT_LONG;
    const char *line = "";

    apr_thread_mutex_lock(b->lock);
    while (b->n <= n && apr_time_now() < end)
        apr_thread_cond_timedwait(b->cond, b->lock, end - apr_time_now());
    if (b->n > n && n < 16)
        line = apr_pstrdup(xt_p, b->lines[n]);
    apr_thread_mutex_unlock(b->lock);
    return line;
}

/* An exported listener on a fresh name in np; its socket path there. */
static xpipe_listener_t *smb_listen(const char *np, xpipe_mode_e mode,
                                    const char *name, const char **path,
                                    log_box_t **log)
{
    xpipe_attr_t *a = xt_attr(mode);
    xpipe_listener_t *l = NULL;

    XT_OK(xpipe_attr_smb_export_set(a, 1));

    XT_OK(xpipe_attr_smb_np_dir_set(a, np));
    if (log)
        *log = log_box(a);
    XT_OK(xpipe_listen(&l, name, a, xt_p));
    if (path)
        *path = apr_pstrcat(xt_p, np, "/", name, NULL);
    return l;
}

/* Play smbd: connect to the np socket (a plain blocking stream socket,
 * with a receive deadline so that no read can hang the suite). */
static int fake_connect(const char *path)
{
    struct sockaddr_un sa;
    struct timeval tv = { 10, 0 };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    CU_ASSERT_FATAL(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    apr_cpystrn(sa.sun_path, path, sizeof(sa.sun_path));
    CU_ASSERT_FATAL(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return fd;
}

static int fake_send(int fd, const void *buf, size_t n)
{
    return send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n;
}

/* The server closed the connection: end of stream, or a reset when it
 * left bytes we sent unread (not a timeout). */
static int fake_closed(int fd)
{
    char c;
    ssize_t r = recv(fd, &c, 1, 0);

    return r == 0 || (r < 0 && errno == ECONNRESET);
}

/* Read exactly n bytes (0 on end of stream, timeout or error). */
static int fake_recv(int fd, void *buf, size_t n)
{
    size_t got = 0;
    ssize_t r;

    while (got < n) {
        r = recv(fd, (char *)buf + got, n - got, 0);
        if (r <= 0)
            return 0;
        got += (size_t)r;
    }
    return 1;
}

/* The smallest request smbd could send: level 7, every pointer NULL (no
 * names, no session). 48 bytes with the length field. */
static apr_size_t npa_minimal(unsigned char *b)
{
    memset(b, 0, 64); /* callers' buffers hold 64: room for bad variants */
    b[3] = 44;
    memcpy(b + 4, "NPAM", 4);
    b[8] = 7;
    b[12] = 7;
    b[16] = 1; /* transport */
    return 48;
}

/* A request as smbd 4.17 sent it for an authenticated user (captured from
 * the rig; also the fuzz seed). */
static unsigned char *npa_captured(apr_size_t *len)
{
    const char *src = getenv("XT_SRCDIR");
    apr_file_t *f;
    apr_finfo_t fi;
    unsigned char *b;

    if (src == NULL)
        return NULL;
    if (apr_file_open(&f,
                      apr_pstrcat(xt_p, src,
                                  "/tests/fuzz/corpus/npa/user-root.bin", NULL),
                      APR_READ | APR_BINARY, 0, xt_p)
        != APR_SUCCESS)
        return NULL;
    apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    b = apr_palloc(xt_p, (apr_size_t)fi.size);
    apr_file_read_full(f, b, (apr_size_t)fi.size, len);
    apr_file_close(f);
    return b;
}

/* Do the handshake as smbd: send the request, read the 36-byte answer;
 * the file type it names (1 byte mode, 2 message mode), 0 on failure. */
static int fake_handshake(int fd, const unsigned char *req, apr_size_t len)
{
    unsigned char rep[36];

    if (!fake_send(fd, req, len) || !fake_recv(fd, rep, sizeof(rep)))
        return 0;
    CU_ASSERT(rep[3] == 32 && memcmp(rep + 4, "NPAM", 4) == 0);
    CU_ASSERT(rep[8] == 7 && rep[12] == 7);
    CU_ASSERT(rep[32] == 0 && rep[33] == 0 && rep[34] == 0 && rep[35] == 0);
    return rep[16] | rep[17] << 8;
}

/* Accept in a thread, so the test can play the client meanwhile. */
typedef struct accept_job_t {
    xpipe_listener_t *l;
    xpipe_t *ch;
    apr_status_t rv;
    apr_pool_t *pool; /* the thread's own: pools are not shared */
} accept_job_t;

/* A pool for a thread's job, made by the test's thread (job_start). */
static apr_pool_t *job_pool(void)
{
    apr_pool_t *p = NULL;

    CU_ASSERT_FATAL(apr_pool_create(&p, xt_p) == APR_SUCCESS);
    return p;
}

static apr_status_t accept_main(void *arg)
{
    accept_job_t *j = arg;

    j->rv = xpipe_accept(&j->ch, j->l, XT_LONG, j->pool);
    if (j->rv == APR_SUCCESS)
        xpipe_timeout_set(j->ch, XT_LONG);
    return j->rv;
}

/* Play smbd against j->l: accept in a thread while connecting to path
 * and handing over req; check the file type answered (1 byte mode, 2
 * message mode). The accepted channel is j->ch; returns the fake's fd. */
static int played_accept(accept_job_t *j, const char *path,
                         const unsigned char *req, apr_size_t len, int type)
{
    apr_thread_t *t;
    int fd;

    j->pool = job_pool();
    t = xt_thread(accept_main, j);
    fd = fake_connect(path);
    CU_ASSERT_EQUAL(fake_handshake(fd, req, len), type);
    XT_OK(xt_join(t));
    return fd;
}

/* ------------------------------------------------------------------ */
/* Without smbd: the protocol, played by the test */

static void test_export_bad_settings(void)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE);
    xpipe_listener_t *l = NULL;
    const char *np = np_dir_make(), *file;

    XT_STATUS(xpipe_attr_smb_export_set(NULL, 1), APR_EINVAL);
    XT_STATUS(xpipe_attr_smb_np_dir_set(a, "relative/np"), APR_EINVAL);
    CU_ASSERT_EQUAL(xpipe_attr_smb_export_get(a), 0);
    CU_ASSERT_EQUAL(xpipe_attr_smb_export_get(NULL), 0);
    /* A missing directory: a clear status and detail, nothing left. */
    XT_OK(xpipe_attr_smb_export_set(a, 1));
    XT_OK(xpipe_attr_smb_np_dir_set(a, apr_pstrcat(xt_p, np, "/none", NULL)));
    CU_ASSERT_EQUAL(xpipe_attr_smb_export_get(a), 1);
    XT_STATUS(xpipe_listen(&l, xt_name(), a, xt_p), XPIPE_ENOPIPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(xpipe_error_detail(), "/none"));
    /* Not a directory. */
    file = apr_pstrcat(xt_p, np, "/file", NULL);
    CU_ASSERT_FATAL(close(open(file, O_CREAT | O_WRONLY, 0600)) == 0);
    XT_OK(xpipe_attr_smb_np_dir_set(a, file));
    XT_STATUS(xpipe_listen(&l, xt_name(), a, xt_p), APR_ENOTDIR);
    /* Not writable (root writes anywhere: only as another user). */
    if (geteuid() != 0) {
        CU_ASSERT_FATAL(chmod(np, 0500) == 0);
        XT_OK(xpipe_attr_smb_np_dir_set(a, np));
        XT_STATUS(xpipe_listen(&l, xt_name(), a, xt_p), APR_EACCES);
        CU_ASSERT_PTR_NOT_NULL(strstr(xpipe_error_detail(), np));
        chmod(np, 0700);
    }
    unlink(file);
    np_dir_remove(np);
}

static void test_export_name_lowercased_and_removed(void)
{
    const char *np = np_dir_make();
    const char *name = apr_pstrcat(xt_p, "MiXeD-", xt_name(), NULL);
    const char *lower = apr_pstrdup(xt_p, name);
    xpipe_listener_t *l;
    struct stat st;
    char *p;

    for (p = (char *)lower; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    l = smb_listen(np, XPIPE_MODE_BYTE, name, NULL, NULL);
    /* Samba looks the pipe up lower-cased: the socket is named so, and
     * only its owner may connect (smbd runs as root). */
    CU_ASSERT_FATAL(lstat(apr_pstrcat(xt_p, np, "/", lower, NULL), &st) == 0);
    CU_ASSERT(S_ISSOCK(st.st_mode));
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    /* The local name still works beside it. */
    {
        xpipe_t *c = NULL;
        accept_job_t j = { l, NULL, 0, NULL };
        apr_thread_t *t;

        j.pool = job_pool();
        t = xt_thread(accept_main, &j);
        XT_OK(xpipe_connect(&c, name, NULL, XT_LONG, xt_p));
        XT_OK(xt_join(t));
        xt_roundtrip(c, j.ch, 'L');
    }
    XT_OK(xpipe_listener_close(l));
    CU_ASSERT(lstat(apr_pstrcat(xt_p, np, "/", lower, NULL), &st) < 0
              && errno == ENOENT);
    np_dir_remove(np);
}

static void test_handshake_byte_mode(void)
{
    const char *np = np_dir_make(), *path;
    accept_job_t j = { 0 };
    unsigned char req[64];
    xpipe_peer_t peer = XPIPE_PEER_INIT;
    apr_size_t n;
    char buf[16];
    int fd;

    j.l = smb_listen(np, XPIPE_MODE_BYTE, xt_name(), &path, NULL);
    fd = played_accept(&j, path, req, npa_minimal(req), 1);
    /* A plain stream both ways. */
    CU_ASSERT(fake_send(fd, "hello", 5));
    XT_OK(xpipe_read_full(j.ch, buf, 5, &n));
    CU_ASSERT(n == 5 && memcmp(buf, "hello", 5) == 0);
    n = 3;
    XT_OK(xpipe_write_full(j.ch, "abc", 3, &n));
    CU_ASSERT(fake_recv(fd, buf, 3) && memcmp(buf, "abc", 3) == 0);
    /* A request without session: a network peer of unknown identity. */
    XT_OK(xpipe_peer_get(j.ch, &peer));
    CU_ASSERT_EQUAL(peer.have, XPIPE_PEER_REMOTE);
    CU_ASSERT_PTR_NULL(peer.account);
    close(fd);
    n = sizeof(buf);
    XT_STATUS(xpipe_read(j.ch, buf, &n), APR_EOF);
    XT_OK(xpipe_listener_close(j.l));
    np_dir_remove(np);
}

static void test_handshake_identity(void)
{
    const char *np = np_dir_make(), *path;
    accept_job_t j = { 0 };
    xpipe_peer_t peer = XPIPE_PEER_INIT;
    unsigned char *req;
    apr_size_t len;
    int fd;

    req = npa_captured(&len);
    if (req == NULL) {
        xt_skip("XT_SRCDIR not set: the captured request is not at hand");
        np_dir_remove(np);
        return;
    }
    j.l = smb_listen(np, XPIPE_MODE_BYTE, xt_name(), &path, NULL);
    fd = played_accept(&j, path, req, len, 1);
    CU_ASSERT(fake_send(fd, "I", 1));
    {
        char c = 0;
        apr_size_t n = 1;
        XT_OK(xpipe_read(j.ch, &c, &n));
        CU_ASSERT_EQUAL(c, 'I');
    }
    /* What the session said, not smbd's own pid or uid. */
    XT_OK(xpipe_peer_get(j.ch, &peer));
    CU_ASSERT_EQUAL(peer.have, XPIPE_PEER_REMOTE | XPIPE_PEER_SID
                                   | XPIPE_PEER_UID | XPIPE_PEER_GID);
    CU_ASSERT_STRING_EQUAL(peer.account, "root");
    CU_ASSERT_STRING_EQUAL(peer.domain, "XPIPERIG");
    CU_ASSERT_STRING_EQUAL(peer.sid,
                           "S-1-5-21-3042822336-1918145255-4224590522-1000");
    CU_ASSERT_STRING_EQUAL(peer.host, "vm");
    CU_ASSERT_STRING_EQUAL(peer.address, "127.0.0.1");
    CU_ASSERT_EQUAL(peer.port, 58864);
    CU_ASSERT(peer.uid == 0 && peer.gid == 0);
    close(fd);
    np_dir_remove(np);
}

/* Peer requirements apply to network clients: their SID or mapped uid. */
static void test_handshake_peer_require(void)
{
    static const struct {
        const char *who;
        int admitted;
    } cases[] = {
        { "S-1-5-21-3042822336-1918145255-4224590522-1000", 1 },
        { "0", 1 },
        { "S-1-5-7", 0 },
        { "4242", 0 },
    };
    const char *np = np_dir_make();
    unsigned char *req;
    apr_size_t len, i;

    req = npa_captured(&len);
    if (req == NULL) {
        xt_skip("XT_SRCDIR not set: the captured request is not at hand");
        np_dir_remove(np);
        return;
    }
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE);
        const char *name = xt_name();
        const char *path = apr_pstrcat(xt_p, np, "/", name, NULL);
        accept_job_t j = { 0 };
        log_box_t *log = log_box(a);
        apr_thread_t *t;
        char c = 0;
        int fd;

        XT_OK(xpipe_attr_smb_export_set(a, 1));

        XT_OK(xpipe_attr_smb_np_dir_set(a, np));
        XT_OK(xpipe_attr_peer_require_set(a, cases[i].who));
        XT_OK(xpipe_listen(&j.l, name, a, xt_p));
        j.pool = job_pool();
        t = xt_thread(accept_main, &j);
        fd = fake_connect(path);
        CU_ASSERT_EQUAL(fake_handshake(fd, req, len), 1);
        if (cases[i].admitted) {
            XT_OK(xt_join(t));
            CU_ASSERT(fake_send(fd, "A", 1));
            {
                apr_size_t n = 1;
                XT_OK(xpipe_read(j.ch, &c, &n));
                CU_ASSERT_EQUAL(c, 'A');
            }
        }
        else {
            /* Dropped unread, logged; accept goes on waiting. */
            CU_ASSERT_PTR_NOT_NULL(strstr(log_wait(log, 0), "root"));
            CU_ASSERT(fake_closed(fd));
            XT_OK(xpipe_listener_close(j.l));
            XT_STATUS(xt_join(t), XPIPE_ECLOSED);
        }
        close(fd);
    }
    np_dir_remove(np);
}

/* Message mode: each message a little-endian u16 length and payload. */
static void test_handshake_message_mode(void)
{
    const char *np = np_dir_make(), *path;
    unsigned char req[64], frame[2 + 300], *big;
    accept_job_t j = { 0 };
    apr_size_t n, i;
    char buf[400];
    int fd;

    j.l = smb_listen(np, XPIPE_MODE_MESSAGE, xt_name(), &path, NULL);
    fd = played_accept(&j, path, req, npa_minimal(req), 2);
    /* In: an empty frame (skipped: messages have a byte at least), then
     * 300 bytes in pieces: one whole message arrives. */
    frame[0] = frame[1] = 0;
    CU_ASSERT(fake_send(fd, frame, 2));
    frame[0] = 300 & 0xff;
    frame[1] = 300 >> 8;
    for (i = 0; i < 300; i++)
        frame[2 + i] = (unsigned char)i;
    /* In pieces that split the header and the payload. */
    CU_ASSERT(fake_send(fd, frame, 1) && fake_send(fd, frame + 1, 100)
              && fake_send(fd, frame + 101, sizeof(frame) - 101));
    n = sizeof(buf);
    XT_OK(xpipe_recv(j.ch, buf, &n));
    CU_ASSERT(n == 300 && memcmp(buf, frame + 2, 300) == 0);
    /* Out: one frame per message. Over the u16 limit: refused before
     * anything is written, so the next frame is the first to arrive. */
    big = calloc(1, XPIPE_SMB_MESSAGE_MAX + 1);
    CU_ASSERT_FATAL(big != NULL);
    XT_STATUS(xpipe_send(j.ch, big, XPIPE_SMB_MESSAGE_MAX + 1), XPIPE_EMSGSIZE);
    CU_ASSERT_PTR_NOT_NULL(strstr(xpipe_error_detail(), "65535"));
    big[0] = 'B';
    big[XPIPE_SMB_MESSAGE_MAX - 1] = 'E';
    XT_OK(xpipe_send(j.ch, big, XPIPE_SMB_MESSAGE_MAX));
    XT_OK(xpipe_send(j.ch, "xy", 2));
    CU_ASSERT(fake_recv(fd, frame, 2));
    CU_ASSERT(frame[0] == 0xff && frame[1] == 0xff);
    memset(big, 0, XPIPE_SMB_MESSAGE_MAX);
    CU_ASSERT(fake_recv(fd, big, XPIPE_SMB_MESSAGE_MAX));
    CU_ASSERT(big[0] == 'B' && big[XPIPE_SMB_MESSAGE_MAX - 1] == 'E');
    CU_ASSERT(fake_recv(fd, frame, 4));
    CU_ASSERT(frame[0] == 2 && frame[1] == 0 && frame[2] == 'x'
              && frame[3] == 'y');
    free(big);
    /* The peer vanishes mid-message: a reset, nothing half delivered. */
    frame[0] = 100;
    frame[1] = 0;
    CU_ASSERT(fake_send(fd, frame, 2) && fake_send(fd, "0123456789", 10));
    close(fd);
    n = sizeof(buf);
    XT_STATUS(xpipe_recv(j.ch, buf, &n), XPIPE_ERESET);
    CU_ASSERT_EQUAL(n, 0);
    XT_OK(xpipe_listener_close(j.l));
    np_dir_remove(np);
}

/* Malformed requests, each straight into the socket: dropped with a log
 * line saying why, never returned by accept, and the listener serves the
 * next good one. */
static void test_handshake_malformed(void)
{
    static const struct {
        const char *what;
        const char *log; /* expected in the log line */
    } bad[] = {
        { "oversized length", "bytes announced" },
        { "tiny length", "bytes announced" },
        { "bad magic", "NPAM" },
        { "level 5", "level 5" },
        { "union level differs", "union 8" },
        { "truncated session pointer", "request ends" },
        { "string longer than its max", "bad string counts" },
        { "string without its NUL", "not terminated" },
        { "trailing bytes", "after the request's end" },
        { "closed mid-request", "closed during the handshake" },
    };
    const char *np = np_dir_make(), *path;
    unsigned char req[64], rep[36];
    accept_job_t j = { 0 };
    log_box_t *log;
    apr_thread_t *t;
    apr_size_t len, i;
    int fd;
    char c;

    j.l = smb_listen(np, XPIPE_MODE_BYTE, xt_name(), &path, &log);
    j.pool = job_pool();
    t = xt_thread(accept_main, &j);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        len = npa_minimal(req);
        switch (i) {
        case 0: req[0] = 0x7f; break; /* 2 GiB announced */
        case 1:
            req[3] = 4;
            len = 8;
            break; /* only "NPAM" */
        case 2: req[4] = 'X'; break;
        case 3: req[8] = req[12] = 5; break;
        case 4: req[12] = 8; break;
        case 5:
            req[3] = 40;
            len = 44;
            break; /* cut before session ptr */
        case 6:    /* client name: max 1, len 3 */
            req[3] = 60;
            len = 64;
            req[20] = 1; /* referent id */
            req[48] = 1;
            req[56] = 3;
            memcpy(req + 60, "ab", 3);
            break;
        case 7: /* "abcd" without NUL */
            req[3] = 60;
            len = 64;
            req[20] = 1;
            req[48] = 4;
            req[56] = 4;
            memcpy(req + 60, "abcd", 4);
            break;
        case 8:
            req[3] = 48;
            len = 52;
            break;               /* 4 stray bytes */
        case 9: len = 20; break; /* then close */
        }
        fd = fake_connect(path);
        CU_ASSERT(fake_send(fd, req, len));
        if (i == 9)
            shutdown(fd, SHUT_WR);
        CU_ASSERT_PTR_NOT_NULL(strstr(log_wait(log, (int)i), bad[i].log));
        if (!strstr(log_wait(log, (int)i), bad[i].log))
            printf("\n  %s: logged \"%s\"\n", bad[i].what,
                   log_wait(log, (int)i));
        /* No answer: the connection is just closed. */
        CU_ASSERT(fake_closed(fd));
        close(fd);
    }
    CU_ASSERT_PTR_NOT_NULL(strstr(log_wait(log, 0), path));
    /* Still serving. */
    fd = fake_connect(path);
    len = npa_minimal(req);
    CU_ASSERT(fake_send(fd, req, len) && fake_recv(fd, rep, sizeof(rep)));
    XT_OK(xt_join(t));
    CU_ASSERT(fake_send(fd, "G", 1));
    {
        apr_size_t n = 1;
        XT_OK(xpipe_read(j.ch, &c, &n));
        CU_ASSERT_EQUAL(c, 'G');
    }
    close(fd);
    XT_OK(xpipe_listener_close(j.l));
    np_dir_remove(np);
}

/* ------------------------------------------------------------------ */
/* Against a real smbd (build-aux/smbd-rig.sh), impacket as the client */

/* The rig's np directory, or NULL after marking the case skipped. */
static const char *rig_np(void)
{
    return xt_smb_rig("XT_SMB_NPDIR");
}

/* Run tests/smb_client.py with args (NULL-terminated, at most 9) to its
 * end, within 120 s; its stdout into out. Returns its exit code (-1
 * killed). */
static int rig_client_argv(char *out, apr_size_t outlen,
                           const char *const *args)
{
    const char *argv[12];
    apr_procattr_t *pa;
    apr_proc_t proc;
    apr_size_t got = 0, n;
    int argc = 0;

    argv[argc++] = "/usr/bin/python3";
    argv[argc++] =
        apr_pstrcat(xt_p, getenv("XT_SRCDIR"), "/tests/smb_client.py", NULL);
    while (*args && argc < 11)
        argv[argc++] = *args++;
    argv[argc] = NULL;
    out[0] = '\0';
    if (apr_procattr_create(&pa, xt_p) != APR_SUCCESS
        || apr_procattr_cmdtype_set(pa, APR_PROGRAM_ENV) != APR_SUCCESS
        || apr_procattr_io_set(pa, APR_NO_PIPE, APR_CHILD_BLOCK, APR_NO_PIPE)
               != APR_SUCCESS
        || apr_proc_create(&proc, argv[0], argv, NULL, pa, xt_p) != APR_SUCCESS)
        return -2;
    apr_file_pipe_timeout_set(proc.out, 120 * APR_USEC_PER_SEC);
    for (;;) {
        n = outlen - 1 - got;
        if (n == 0 || apr_file_read(proc.out, out + got, &n) != APR_SUCCESS)
            break;
        got += n;
    }
    out[got] = '\0';
    apr_file_close(proc.out);
    return xt_child_wait(&proc, 30 * APR_USEC_PER_SEC);
}

/* rig_client_argv with the arguments listed (NULL-terminated). */
static int rig_client(char *out, apr_size_t outlen, ...)
{
    const char *args[10];
    int n = 0;
    va_list ap;

    va_start(ap, outlen);
    while (n < 9 && (args[n] = va_arg(ap, const char *)) != NULL)
        n++;
    va_end(ap);
    args[n] = NULL;
    return rig_client_argv(out, outlen, args);
}

/* CRC-32 (IEEE, as Python's zlib.crc32), continuing from crc. */
static apr_uint32_t crc32_update(apr_uint32_t crc, const unsigned char *p,
                                 apr_size_t n)
{
    static apr_uint32_t table[256];
    apr_uint32_t i, j, c;

    if (table[1] == 0)
        for (i = 0; i < 256; i++) {
            for (c = i, j = 0; j < 8; j++)
                c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    crc = ~crc;
    while (n--)
        crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* What the server thread does with the one client it accepts. */
typedef enum rig_op_e { RIG_ECHO, RIG_PEER, RIG_BIG, RIG_VANISH } rig_op_e;

typedef struct rig_job_t {
    xpipe_listener_t *l;
    rig_op_e op;
    apr_size_t size;  /* RIG_BIG, RIG_VANISH: bytes expected */
    apr_status_t rv;  /* accept's, then the op's */
    apr_size_t count; /* bytes or messages echoed / received */
    apr_uint32_t crc; /* RIG_BIG: of what arrived */
    apr_status_t end; /* RIG_VANISH: the status after the data */
    xpipe_peer_t peer;
    char report[512]; /* RIG_PEER: what was sent to the client */
    apr_pool_t *pool; /* the thread's own */
} rig_job_t;

static apr_status_t rig_main(void *arg)
{
    rig_job_t *j = arg;
    unsigned char *buf;
    apr_size_t n;
    xpipe_t *ch;

    j->rv = xpipe_accept(&ch, j->l, XT_LONG * 3, j->pool);
    if (j->rv != APR_SUCCESS)
        return j->rv;
    xpipe_timeout_set(ch, XT_LONG * 3);
    switch (j->op) {
    case RIG_ECHO: j->rv = xt_echo(ch, &j->count); break;
    case RIG_PEER:
        j->peer.size = sizeof(j->peer);
        j->rv = xpipe_peer_get(ch, &j->peer);
        if (j->rv != APR_SUCCESS)
            break;
        apr_snprintf(j->report, sizeof(j->report),
                     "account=%s domain=%s sid=%s uid=%ld host=%s "
                     "address=%s",
                     j->peer.account, j->peer.domain, j->peer.sid, j->peer.uid,
                     j->peer.host, j->peer.address);
        j->rv = xpipe_write_full(ch, j->report, strlen(j->report), NULL);
        if (j->rv == APR_SUCCESS)
            j->rv = xt_echo(ch, NULL); /* until the client leaves */
        break;
    case RIG_BIG:
        /* All in, then all back: the client sends everything first. */
        buf = malloc(j->size);
        if (buf == NULL) {
            j->rv = APR_ENOMEM;
            break;
        }
        j->rv = xpipe_read_full(ch, buf, j->size, &j->count);
        j->crc = crc32_update(0, buf, j->count);
        if (j->rv == APR_SUCCESS)
            j->rv = xpipe_write_full(ch, buf, j->size, &n);
        free(buf);
        break;
    case RIG_VANISH:
        buf = malloc(j->size + 1);
        j->rv = xpipe_read_full(ch, buf, j->size, &j->count);
        n = 1;
        j->end = xpipe_read(ch, buf, &n);
        free(buf);
        break;
    }
    xpipe_close(ch);
    return j->rv;
}

static xpipe_listener_t *rig_listen(const char *np, xpipe_mode_e mode,
                                    const char *name, const char *require,
                                    log_box_t **log)
{
    xpipe_attr_t *a = xt_attr(mode);
    xpipe_listener_t *l = NULL;

    XT_OK(xpipe_attr_smb_export_set(a, 1));

    XT_OK(xpipe_attr_smb_np_dir_set(a, np));
    if (require)
        XT_OK(xpipe_attr_peer_require_set(a, require));
    if (log)
        *log = log_box(a);
    XT_OK(xpipe_listen(&l, name, a, xt_p));
    return l;
}

/* Start the server thread: an exported listener on name (in np) and the
 * job's op on the one client it accepts. */
static apr_thread_t *rig_start(rig_job_t *j, const char *np, xpipe_mode_e mode,
                               const char *name, const char *require,
                               log_box_t **log, rig_op_e op)
{
    j->l = rig_listen(np, mode, name, require, log);
    j->op = op;
    j->pool = job_pool();
    return xt_thread(rig_main, j);
}

/* The cases where an SMB client (impacket) talks to an echo server: its
 * command ("@" stands for the pipe's name), what it must print, and how
 * many bytes or messages the server must have echoed. */
typedef struct rig_case_t {
    xpipe_mode_e mode;
    const char *args[8];
    const char *want;
    apr_size_t count;
} rig_case_t;

static const rig_case_t rig_cases[] = {
    /* 0: a plain stream, 200,000 bytes each way. */
    { XPIPE_MODE_BYTE, { "echo", "@", "200000" }, "echo 200000 ", 200000 },
    /* 1: messages of 1 to 65,535 bytes, each back whole in one read. */
    { XPIPE_MODE_MESSAGE,
      { "messages", "@", "1", "100", "4096", "60000", "65535" },
      "message 1 ok\nmessage 100 ok\nmessage 4096 ok\nmessage 60000 ok\n"
      "message 65535 ok\n",
      5 },
    /* 2: TransactNamedPipe (FSCTL_PIPE_TRANSCEIVE). */
    { XPIPE_MODE_MESSAGE,
      { "transact", "@", "1", "1000", "60000" },
      "transact 1 ok\ntransact 1000 ok\ntransact 60000 ok\n",
      3 },
    /* 3: 65,536 bytes cannot be framed: smbd refuses the message, and
     * nothing reaches the server. */
    { XPIPE_MODE_MESSAGE, { "oversize", "@", "65536" }, "oversize refused", 0 },
};

static void rig_run(const rig_case_t *c)
{
    const char *np = rig_np(), *name = xt_name(), *args[8];
    rig_job_t j = { 0 };
    apr_thread_t *t;
    char out[1024];
    int i;

    if (np == NULL)
        return;
    for (i = 0; i < 7 && c->args[i]; i++)
        args[i] = strcmp(c->args[i], "@") == 0 ? name : c->args[i];
    args[i] = NULL;
    t = rig_start(&j, np, c->mode, name, NULL, NULL, RIG_ECHO);
    CU_ASSERT_EQUAL(rig_client_argv(out, sizeof(out), args), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, c->want));
    XT_OK(xt_join(t));
    CU_ASSERT_EQUAL(j.count, c->count);
    if (j.count != c->count || strstr(out, c->want) == NULL)
        printf("\n  client said: %s\n", out);
}

static void test_rig_byte_echo(void)
{
    rig_run(&rig_cases[0]);
}

static void test_rig_messages(void)
{
    rig_run(&rig_cases[1]);
}

static void test_rig_transact(void)
{
    rig_run(&rig_cases[2]);
}

static void test_rig_oversized_message(void)
{
    rig_run(&rig_cases[3]);
}

static void test_rig_peer_identity(void)
{
    const char *np = rig_np(), *name = xt_name();
    const char *user = getenv("XT_SMB_USER"), *dom = getenv("XT_SMB_DOMAIN");
    rig_job_t j = { 0 };
    apr_thread_t *t;
    char out[1024];

    if (np == NULL)
        return;
    /* "self": the SMB user maps to our own Unix account in the rig. */
    t = rig_start(&j, np, XPIPE_MODE_BYTE, name, "self", NULL, RIG_PEER);
    CU_ASSERT_EQUAL(rig_client(out, sizeof(out), "peer", name, NULL), 0);
    XT_OK(xt_join(t));
    /* The client saw what the server reported, and it is right. */
    CU_ASSERT_PTR_NOT_NULL(strstr(out, j.report));
    CU_ASSERT(j.peer.have & XPIPE_PEER_REMOTE);
    CU_ASSERT(j.peer.have & XPIPE_PEER_SID);
    CU_ASSERT(!(j.peer.have & XPIPE_PEER_PID));
    CU_ASSERT_STRING_EQUAL(j.peer.account, user ? user : "?");
    CU_ASSERT_STRING_EQUAL(j.peer.domain, dom ? dom : "?");
    CU_ASSERT_STRING_EQUAL(j.peer.address, "127.0.0.1");
    CU_ASSERT(strncmp(j.peer.sid, "S-1-5-21-", 9) == 0);
    CU_ASSERT_EQUAL(j.peer.uid, (long)geteuid());
    printf("\n  server saw: %s\n  client saw: %s", j.report, out);
}

static void test_rig_anonymous_refused(void)
{
    const char *np = rig_np(), *name = xt_name();
    rig_job_t j = { 0 };
    log_box_t *log;
    apr_thread_t *t;
    char out[1024];

    if (np == NULL)
        return;
    t = rig_start(&j, np, XPIPE_MODE_BYTE, name, "self", &log, RIG_ECHO);
    /* Anonymous maps to the guest account: not us. */
    CU_ASSERT_NOT_EQUAL(
        rig_client(out, sizeof(out), "-a", "echo", name, "10", NULL), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "error"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log_wait(log, 0), "S-1-5-7"));
    XT_OK(xpipe_listener_close(j.l));
    XT_STATUS(xt_join(t), XPIPE_ECLOSED);
}

static void test_rig_big_transfer(void)
{
    const apr_size_t size = 16 * 1024 * 1024;
    const char *np = rig_np(), *name = xt_name();
    rig_job_t j = { 0 };
    unsigned long n1 = 0, n2 = 0;
    char out[1024], crc1[16] = "", crc2[16] = "", want[16];
    double s1 = 0, s2 = 0;
    apr_thread_t *t;
    const char *p;

    if (np == NULL)
        return;
    j.size = size;
    t = rig_start(&j, np, XPIPE_MODE_BYTE, name, NULL, NULL, RIG_BIG);
    CU_ASSERT_EQUAL(rig_client(out, sizeof(out), "big", name,
                               apr_psprintf(xt_p, "%lu", (unsigned long)size),
                               NULL),
                    0);
    XT_OK(xt_join(t));
    CU_ASSERT_EQUAL(j.count, size);
    apr_snprintf(want, sizeof(want), "%08x", (unsigned int)j.crc);
    p = strstr(out, "sent ");
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT(sscanf(p, "sent %lu %15s %lf", &n1, crc1, &s1) == 3);
    p = strstr(out, "received ");
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT(sscanf(p, "received %lu %15s %lf", &n2, crc2, &s2) == 3);
    /* Both directions whole and unchanged. */
    CU_ASSERT(n1 == size && n2 == size);
    CU_ASSERT_STRING_EQUAL(crc1, want);
    CU_ASSERT_STRING_EQUAL(crc2, want);
    printf("\n  16 MiB through smbd: client->server %.1f MiB/s, "
           "server->client %.1f MiB/s (crc32 %s both ways)",
           s1 > 0 ? 16 / s1 : 0.0, s2 > 0 ? 16 / s2 : 0.0, want);
}

static void test_rig_client_vanishes(void)
{
    const char *np = rig_np(), *name = xt_name();
    rig_job_t j = { 0 }, j2 = { 0 };
    apr_thread_t *t;
    char out[1024];

    if (np == NULL)
        return;
    j.size = 1000;
    t = rig_start(&j, np, XPIPE_MODE_BYTE, name, NULL, NULL, RIG_VANISH);
    CU_ASSERT_EQUAL(rig_client(out, sizeof(out), "vanish", name, "1000", NULL),
                    0);
    XT_OK(xt_join(t));
    /* Everything written before the reset arrived; then the end. */
    CU_ASSERT_EQUAL(j.count, 1000);
    CU_ASSERT(XPIPE_STATUS_IS_PEER_GONE(j.end));
    /* The listener serves the next client. */
    j2.l = j.l;
    j2.op = RIG_ECHO;
    j2.pool = job_pool();
    t = xt_thread(rig_main, &j2);
    CU_ASSERT_EQUAL(rig_client(out, sizeof(out), "echo", name, "10", NULL), 0);
    XT_OK(xt_join(t));
    CU_ASSERT_EQUAL(j2.count, 10);
}

/* A server that cannot write to Samba's root-owned np directory exports
 * into a directory of its own; an administrator links the name there. */
static void test_rig_admin_symlink(void)
{
    const char *np = rig_np(), *name = xt_name(), *own, *link;
    rig_job_t j = { 0 };
    apr_thread_t *t;
    char out[1024];

    if (np == NULL)
        return;
    own = np_dir_make();
    link = apr_pstrcat(xt_p, np, "/", name, NULL);
    t = rig_start(&j, own, XPIPE_MODE_BYTE, name, NULL, NULL, RIG_ECHO);
    CU_ASSERT_FATAL(symlink(apr_pstrcat(xt_p, own, "/", name, NULL), link)
                    == 0);
    CU_ASSERT_EQUAL(rig_client(out, sizeof(out), "echo", name, "1000", NULL),
                    0);
    XT_OK(xt_join(t));
    CU_ASSERT_EQUAL(j.count, 1000);
    unlink(link);
    XT_OK(xpipe_listener_close(j.l));
    np_dir_remove(own);
}

/* The tool: "xpipe listen --smb --echo NAME" serves an SMB client. */
static void test_rig_tool_listen_smb(void)
{
    const char *np = rig_np(), *name = xt_name();
    const char *argv[8];
    apr_procattr_t *pa;
    apr_proc_t proc;
    char line[512], out[1024];
    int ready = 0, seen = 0;
    apr_finfo_t fi;

    if (np == NULL)
        return;
    if (apr_stat(&fi, xt_tool_path(), APR_FINFO_TYPE, xt_p) != APR_SUCCESS) {
        xt_skip("the tool is not built (-Dtools=disabled)");
        return;
    }
    argv[0] = xt_tool_path();
    argv[1] = "listen";
    argv[2] = "--smb-dir";
    argv[3] = np;
    argv[4] = "--echo";
    argv[5] = "-v";
    argv[6] = name;
    argv[7] = NULL;
    XT_OK(apr_procattr_create(&pa, xt_p));
    XT_OK(apr_procattr_cmdtype_set(pa, APR_PROGRAM));
    XT_OK(apr_procattr_io_set(pa, APR_NO_PIPE, APR_NO_PIPE, APR_CHILD_BLOCK));
    XT_OK(apr_proc_create(&proc, argv[0], argv, NULL, pa, xt_p));
    apr_file_pipe_timeout_set(proc.err, XT_LONG);
    /* Ready when it says it listens. */
    while (!ready && apr_file_gets(line, sizeof(line), proc.err) == APR_SUCCESS)
        ready = strstr(line, "listening on") != NULL;
    CU_ASSERT(ready);
    if (ready) {
        CU_ASSERT_EQUAL(
            rig_client(out, sizeof(out), "echo", name, "65536", NULL), 0);
        CU_ASSERT_PTR_NOT_NULL(strstr(out, "echo 65536 "));
        printf("\n  client: %s", out);
        while (!seen
               && apr_file_gets(line, sizeof(line), proc.err) == APR_SUCCESS) {
            seen = strstr(line, "network client") != NULL;
            printf("  tool: %s", line);
        }
        CU_ASSERT(seen);
    }
    apr_proc_kill(&proc, SIGTERM);
    CU_ASSERT_EQUAL(xt_child_wait(&proc, XT_LONG), 0);
    apr_file_close(proc.err);
}

/* The default np directory comes from smb.conf's "ncalrpc dir". */
static void test_smbconf_ncalrpc_dir(void)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        { "[global]\n  ncalrpc dir = /srv/np1\n", "/srv/np1" },
        { "[GLOBAL]\nNcalRPC_Dir=/srv/np2  \n", "/srv/np2" },
        { "ncalrpcdir = /srv/np3\n[share]\n", "/srv/np3" },
        { "[global]\n; ncalrpc dir = /no\n# ncalrpc dir = /no\n", NULL },
        { "[share]\n ncalrpc dir = /no\n", NULL },
        { "[global]\r\n ncalrpc dir = \\\r\n   /srv/np4\r\n", "/srv/np4" },
        { "[global]\nncalrpc dir = /a\nncalrpc dir = /b\n", "/b" },
        { "[global]\nncalrpc directory = /no\n", NULL },
        { "", NULL },
    };
    apr_size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = xpipe__smbconf_ncalrpc_dir(
            cases[i].text, strlen(cases[i].text), xt_p);
        if (cases[i].want) {
            CU_ASSERT(got && strcmp(got, cases[i].want) == 0);
        }
        else {
            CU_ASSERT_PTR_NULL(got);
        }
    }
}

/* With no directory given, the listener uses Samba's configured one: it
 * either works there or says which directory it tried. */
static void test_export_default_dir(void)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE);
    xpipe_listener_t *l = NULL;
    apr_status_t rv;

    XT_OK(xpipe_attr_smb_export_set(a, 1));
    CU_ASSERT_PTR_NULL(xpipe_attr_smb_np_dir_get(a));
    rv = xpipe_listen(&l, xt_name(), a, xt_p);
    if (rv == APR_SUCCESS) {
        XT_OK(xpipe_listener_close(l));
    }
    else {
        CU_ASSERT(rv == XPIPE_ENOPIPE || rv == APR_EACCES);
        CU_ASSERT_PTR_NOT_NULL(strstr(xpipe_error_detail(), "/np"));
        printf("\n  %s", xpipe_error_detail());
    }
}

CU_TestInfo xt_smb_tests[] = {
    { "export: bad np directories give clear statuses",
      test_export_bad_settings },
    { "export: socket named lower-case, owner only, removed at close",
      test_export_name_lowercased_and_removed },
    { "handshake (played): byte mode stream both ways, EOF",
      test_handshake_byte_mode },
    { "handshake (played): identity of a captured smbd request",
      test_handshake_identity },
    { "handshake (played): peer requirements on the network identity",
      test_handshake_peer_require },
    { "handshake (played): message mode u16 frames, limits, vanishing peer",
      test_handshake_message_mode },
    { "handshake (played): malformed requests logged and dropped",
      test_handshake_malformed },
    { "export: smb.conf's ncalrpc dir read as Samba reads it",
      test_smbconf_ncalrpc_dir },
    { "export: the default np directory, from Samba's configuration",
      test_export_default_dir },
    { "smbd: byte mode echo (impacket client)", test_rig_byte_echo },
    { "smbd: messages come back whole, up to 65535 bytes", test_rig_messages },
    { "smbd: TransactNamedPipe (FSCTL_PIPE_TRANSCEIVE)", test_rig_transact },
    { "smbd: the client's identity as the server reported it",
      test_rig_peer_identity },
    { "smbd: an anonymous client refused by peer_require self",
      test_rig_anonymous_refused },
    { "smbd: 16 MiB checksummed both ways", test_rig_big_transfer },
    { "smbd: a client whose connection resets mid-stream",
      test_rig_client_vanishes },
    { "smbd: a 65536-byte message is refused by smbd",
      test_rig_oversized_message },
    { "smbd: through an administrator's symlink into the np directory",
      test_rig_admin_symlink },
    { "smbd: xpipe listen --smb --echo serves an SMB client",
      test_rig_tool_listen_smb },
    CU_TEST_INFO_NULL,
};

#endif /* !_WIN32 */
