/* SPDX-License-Identifier: Apache-2.0 */
/* conn.c — one SMB2/3 connection: name resolution and TCP under the
 * deadline, the handshake (negotiate, SPNEGO session setup, key
 * derivation, validate-negotiate, tree connect to IPC$), the receiving
 * thread, requests, replies and credits ([MS-SMB2] 3.2).
 */
#include "smb2.h"

#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

/* Credits kept in hand: enough for a read pending, a large write and a
 * close at once. */
#define SMB2_CREDITS_WANT 256
/* A message to the server that nobody waits for (close, logoff) may take
 * this long to leave. */
#define SMB2_BYE_TIME (200 * 1000)

const char *xpipe__smb2_status_text(uint32_t status, char *buf, size_t len)
{
    const char *name = xpipe__smb2_status_name(status);

    if (name != NULL)
        snprintf(buf, len, "%s (0x%08x)", name, (unsigned)status);
    else
        snprintf(buf, len, "NT status 0x%08x", (unsigned)status);
    return buf;
}

void xpipe__smb2_conn_kill(smb2_conn_t *c, apr_status_t why, const char *fmt,
                           ...)
{
    va_list ap;

    pthread_mutex_lock(&c->mu);
    if (c->dead == APR_SUCCESS) {
        c->dead = why;
        va_start(ap, fmt);
        vsnprintf(c->dead_why, sizeof(c->dead_why), fmt, ap);
        va_end(ap);
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    shutdown(c->fd, SHUT_RDWR);
}

/* The connection's end, as a status with its detail (c->mu held). */
static apr_status_t conn_dead(smb2_conn_t *c)
{
    return xpipe__fail(c->dead, "%s", c->dead_why);
}

/* Wait on c->cv until the deadline (c->mu held): APR_TIMEUP when it
 * passed. */
static apr_status_t cv_wait(smb2_conn_t *c, apr_time_t deadline)
{
    struct timespec ts;

    if (deadline == XPIPE__FOREVER) {
        pthread_cond_wait(&c->cv, &c->mu);
        return APR_SUCCESS;
    }
    if (deadline == XPIPE__NOW || apr_time_now() >= deadline)
        return APR_TIMEUP;
    /* apr_time_t counts microseconds of CLOCK_REALTIME, as the cv. */
    ts.tv_sec = (time_t)apr_time_sec(deadline);
    ts.tv_nsec = (long)apr_time_usec(deadline) * 1000;
    if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
        return apr_time_now() >= deadline ? APR_TIMEUP : APR_SUCCESS;
    return APR_SUCCESS;
}

static int woken(smb2_conn_t *c)
{
    return c->wake != NULL && xpipe__a32_get(&c->wake->signalled);
}

/* ------------------------------------------------------------------ */
/* Name resolution under a deadline: getaddrinfo() in a thread of its
 * own, which frees the job when the caller left first. */

typedef struct resolve_job_t {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs, done, rc;
    struct addrinfo *res;
    char host[256], port[8];
} resolve_job_t;

static void job_unref(resolve_job_t *j)
{
    int left;

    pthread_mutex_lock(&j->mu);
    left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left == 0) {
        if (j->res != NULL)
            freeaddrinfo(j->res);
        pthread_mutex_destroy(&j->mu);
        pthread_cond_destroy(&j->cv);
        free(j);
    }
}

static void *resolve_thread(void *arg)
{
    resolve_job_t *j = arg;
    struct addrinfo hints, *res = NULL;
    int rc;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    rc = getaddrinfo(j->host, j->port, &hints, &res);
    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    j->res = res;
    j->done = 1;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    job_unref(j);
    return NULL;
}

static apr_status_t resolve(struct addrinfo **res, const char *host,
                            unsigned port, apr_time_t deadline)
{
    struct addrinfo hints;
    resolve_job_t *j;
    pthread_t t;
    char ports[8], v6[64];
    apr_status_t rv = APR_SUCCESS;

    *res = NULL;
    snprintf(ports, sizeof(ports), "%u", port);
    /* Windows' UNC form of an IPv6 address: "fe80--1s4.ipv6-literal.net"
     * is fe80::1%4 ('-' for ':', 's' for the zone's '%'). */
    {
        static const char lit[] = ".ipv6-literal.net";
        size_t n = strlen(host), k = sizeof(lit) - 1, i;

        if (n > k && n - k < sizeof(v6) && strcasecmp(host + n - k, lit) == 0) {
            for (i = 0; i < n - k; i++)
                v6[i] = host[i] == '-' ? ':' : host[i] == 's' ? '%' : host[i];
            v6[i] = '\0';
            host = v6;
        }
    }
    /* A numeric address needs no thread. */
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    if (getaddrinfo(host, ports, &hints, res) == 0)
        return APR_SUCCESS;
    j = calloc(1, sizeof(*j));
    if (j == NULL)
        return APR_ENOMEM;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 2;
    snprintf(j->host, sizeof(j->host), "%s", host);
    memcpy(j->port, ports, sizeof(ports));
    if (pthread_create(&t, NULL, resolve_thread, j) != 0) {
        j->refs = 1;
        job_unref(j);
        return xpipe__fail(APR_ENOMEM, "no thread to resolve \"%s\"", host);
    }
    pthread_detach(t);
    pthread_mutex_lock(&j->mu);
    while (!j->done && rv == APR_SUCCESS) {
        struct timespec ts;

        if (deadline == XPIPE__FOREVER) {
            pthread_cond_wait(&j->cv, &j->mu);
            continue;
        }
        if (apr_time_now() >= deadline) {
            rv = xpipe__fail(APR_TIMEUP,
                             "resolving \"%s\" took past the "
                             "deadline",
                             host);
            break;
        }
        ts.tv_sec = (time_t)apr_time_sec(deadline);
        ts.tv_nsec = (long)apr_time_usec(deadline) * 1000;
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    }
    if (j->done) {
        if (j->rc != 0)
            rv = xpipe__fail(XPIPE_ENOPIPE, "no address for host \"%s\": %s",
                             host, gai_strerror(j->rc));
        else {
            *res = j->res; /* ours now */
            j->res = NULL;
        }
    }
    pthread_mutex_unlock(&j->mu);
    job_unref(j);
    return rv;
}

/* TCP to the first address that answers, before the deadline. */
static apr_status_t tcp_connect(smb2_conn_t *c, const char *host, unsigned port,
                                apr_time_t deadline)
{
    struct addrinfo *res, *ai;
    apr_status_t rv;
    int err = ECONNREFUSED, one = 1;

    rv = resolve(&res, host, port, deadline);
    if (rv != APR_SUCCESS)
        return rv;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        int fd = socket(ai->ai_family,
                        ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        ai->ai_protocol);
        socklen_t len = sizeof(err);

        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            err = 0;
        else if (errno != EINPROGRESS)
            err = errno;
        else {
            rv = xpipe__unix_wait(fd, POLLOUT, NULL, deadline);
            if (rv == APR_TIMEUP) {
                close(fd);
                freeaddrinfo(res);
                return xpipe__fail(APR_TIMEUP,
                                   "no TCP connection to %s port %u before "
                                   "the deadline",
                                   host, port);
            }
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
        }
        if (err != 0) {
            close(fd);
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        /* Blocking from now on: the receiving thread sleeps in recv();
         * requests are sent with MSG_DONTWAIT and wait in poll(). */
        {
            int fl = fcntl(fd, F_GETFL);
            if (fl >= 0)
                fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
        }
        c->fd = fd;
        if (ai->ai_family == AF_INET6)
            inet_ntop(AF_INET6,
                      &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr,
                      c->address, sizeof(c->address));
        else
            inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr,
                      c->address, sizeof(c->address));
        freeaddrinfo(res);
        return APR_SUCCESS;
    }
    freeaddrinfo(res);
    if (err == ECONNREFUSED)
        return xpipe__fail(XPIPE_ENOPIPE,
                           "no SMB server at %s port %u (connection refused)",
                           host, port);
    return xpipe__fail(APR_FROM_OS_ERROR(err),
                       "no TCP connection to %s port %u: %s", host, port,
                       strerror(err));
}

/* ------------------------------------------------------------------ */
/* Frames on the wire (direct TCP: a zero byte and a 24-bit length). */

/* Send the pieces whole. A wait before the first byte honours the
 * channel's wake; after it, only the deadline and the end of the
 * connection (half a frame would break the connection for good). */
static apr_status_t send_all(smb2_conn_t *c, struct iovec *iov, int n,
                             apr_time_t deadline)
{
    int started = 0;

    while (n > 0) {
        struct msghdr mh;
        ssize_t sent;

        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = iov;
        mh.msg_iovlen = (size_t)n;
        sent = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0) {
            apr_status_t rv;

            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                int err = errno;

                xpipe__smb2_conn_kill(
                    c, XPIPE_ERESET,
                    "the connection to the SMB server broke: %s",
                    strerror(err));
                return XPIPE_ERESET;
            }
            rv = xpipe__unix_wait(c->fd, POLLOUT, started ? NULL : c->wake,
                                  deadline);
            if (rv == APR_SUCCESS)
                continue;
            if (!started)
                return rv;
            xpipe__smb2_conn_kill(
                c, XPIPE_ERESET,
                "a request to the SMB server was cut short (%s)",
                rv == APR_TIMEUP ? "its deadline passed"
                                 : "the connection failed");
            return rv == APR_TIMEUP ? APR_TIMEUP : XPIPE_ERESET;
        }
        started = 1;
        while (n > 0 && (size_t)sent >= iov->iov_len) {
            sent -= (ssize_t)iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + sent;
            iov->iov_len -= (size_t)sent;
        }
    }
    return APR_SUCCESS;
}

/* The receiving thread's buffer: one recv takes whatever has come, up to
 * this (a small reply whole, header and all, and often the next one). */
#define SMB2_RXBUF 16384

/* Take exactly len bytes (the receiving thread; blocks until they come or
 * the connection ends): first what the last recv brought, then a recv
 * into the buffer, or straight into p for what is larger than it. The
 * socket blocks once connected (requests go out with MSG_DONTWAIT), so a
 * wait is the recv itself, and shutdown ends it. */
static int rx_take(smb2_conn_t *c, uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t r;

        if (c->rx_off < c->rx_len) {
            size_t n =
                c->rx_len - c->rx_off < len ? c->rx_len - c->rx_off : len;
            memcpy(p, c->rxbuf + c->rx_off, n);
            c->rx_off += n;
            p += n;
            len -= n;
            continue;
        }
        if (len >= SMB2_RXBUF)
            r = recv(c->fd, p, len, 0);
        else if ((r = recv(c->fd, c->rxbuf, SMB2_RXBUF, 0)) > 0) {
            c->rx_off = 0;
            c->rx_len = (size_t)r;
            continue;
        }
        if (r > 0) {
            p += r;
            len -= (size_t)r;
        }
        else if (r == 0)
            return -1;
        else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct pollfd pf = { c->fd, POLLIN, 0 };

            poll(&pf, 1, -1); /* the socket was left non-blocking */
        }
        else if (errno != EINTR)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The receiving thread. */

static smb2_slot_t *slot_for(smb2_conn_t *c, uint64_t mid)
{
    int i;

    for (i = 0; i < SMB2_SLOTS; i++)
        if ((c->slot[i].state == SLOT_SENT
             || c->slot[i].state == SLOT_ABANDONED)
            && c->slot[i].mid == mid)
            return &c->slot[i];
    return NULL;
}

static void slot_free(smb2_slot_t *s)
{
    free(s->m);
    s->m = NULL;
    s->len = 0;
    s->interim = 0;
    s->orphan = NULL;
    s->baton = NULL;
    s->state = SLOT_FREE;
}

/* Verify a reply's signature in place: 0 when it holds. */
static int verify(const smb2_keys_t *k, uint8_t *m, size_t len)
{
    uint8_t got[16], want[16];
    smb2_iov_t iov = { m, len };
    int ok;

    memcpy(got, m + SMB2_SIG_OFF, 16);
    memset(m + SMB2_SIG_OFF, 0, 16);
    ok = xpipe__smb2_sign(k, &iov, 1, want) == 0
         && CRYPTO_memcmp(got, want, 16) == 0;
    memcpy(m + SMB2_SIG_OFF, got, 16);
    return ok ? 0 : -1;
}

/* Take one message off the wire: 0, or -1 with the connection killed. */
static int rx_one(smb2_conn_t *c)
{
    uint8_t nb[4], *m;
    size_t len;
    smb2_hdr_t h;
    smb2_slot_t *s;
    int encrypted = 0, signing, encrypting;

    if (rx_take(c, nb, 4) != 0) {
        xpipe__smb2_conn_kill(c, XPIPE_ERESET,
                              "the SMB server closed the connection");
        return -1;
    }
    len = (size_t)nb[1] << 16 | (size_t)nb[2] << 8 | nb[3];
    if (nb[0] != 0 || len < SMB2_HDR_LEN) {
        xpipe__smb2_conn_kill(
            c, XPIPE_ERESET,
            "the SMB server sent a malformed frame (length %zu)", len);
        return -1;
    }
    m = malloc(len);
    if (m == NULL) {
        xpipe__smb2_conn_kill(c, XPIPE_ERESET,
                              "out of memory for a %zu-byte reply", len);
        return -1;
    }
    if (rx_take(c, m, len) != 0) {
        free(m);
        xpipe__smb2_conn_kill(
            c, XPIPE_ERESET,
            "the SMB server closed the connection in a message");
        return -1;
    }
    pthread_mutex_lock(&c->mu);
    signing = c->signing;
    encrypting = c->encrypting;
    pthread_mutex_unlock(&c->mu);
    if (xpipe__smb2_is_transform(m, len)) {
        smb2_transform_t t;
        uint8_t *plain;

        if (!encrypting || xpipe__smb2_transform_parse(m, len, &t) != 0
            || t.session_id != c->session_id
            || (plain = malloc(t.size)) == NULL) {
            free(m);
            xpipe__smb2_conn_kill(
                c, XPIPE_ERESET,
                "the SMB server sent a transform this session "
                "cannot take");
            return -1;
        }
        if (xpipe__smb2_decrypt(&c->keys, m, t.payload, t.size, plain) != 0) {
            free(plain);
            free(m);
            xpipe__smb2_conn_kill(
                c, XPIPE_ERESET,
                "a reply from the SMB server failed to decrypt "
                "(altered, or the wrong key)");
            return -1;
        }
        free(m);
        m = plain;
        len = t.size;
        encrypted = 1;
    }
    if (xpipe__smb2_hdr_parse(m, len, &h) != 0 || h.next != 0) {
        free(m);
        xpipe__smb2_conn_kill(
            c, XPIPE_ERESET,
            "the SMB server sent a malformed or compounded reply");
        return -1;
    }
    if (h.mid == UINT64_MAX && h.command == SMB2_OPLOCK_BREAK) {
        free(m); /* a break notification: pipes hold no oplocks */
        return 0;
    }
    /* Every reply of the session is signed (or encrypted), except an
     * interim STATUS_PENDING ([MS-SMB2] 3.3.4.2) and the session setup
     * replies, which the handshake checks itself. */
    if (signing && !encrypted && h.session_id != 0
        && h.command != SMB2_SESSION_SETUP
        && !(h.status == NT_STATUS_PENDING
             && (h.flags & SMB2_FLAGS_ASYNC_COMMAND))) {
        if (!(h.flags & SMB2_FLAGS_SIGNED) || verify(&c->keys, m, len) != 0) {
            free(m);
            xpipe__smb2_conn_kill(
                c, XPIPE_ERESET, "a reply from the SMB server had %s signature",
                (h.flags & SMB2_FLAGS_SIGNED) ? "a bad" : "no");
            return -1;
        }
    }
    if (encrypting && !encrypted && h.command != SMB2_SESSION_SETUP
        && h.status != NT_STATUS_PENDING) {
        free(m);
        xpipe__smb2_conn_kill(
            c, XPIPE_ERESET,
            "the SMB server answered in clear on an encrypted "
            "session");
        return -1;
    }
    pthread_mutex_lock(&c->mu);
    c->credits += h.credits;
    s = slot_for(c, h.mid);
    if (s == NULL || h.command != s->command) {
        pthread_mutex_unlock(&c->mu);
        free(m);
        xpipe__smb2_conn_kill(c, XPIPE_ERESET,
                              "the SMB server answered a request never sent "
                              "(message %llu)",
                              (unsigned long long)h.mid);
        return -1;
    }
    if (h.status == NT_STATUS_PENDING && (h.flags & SMB2_FLAGS_ASYNC_COMMAND)) {
        s->interim = 1;
        s->async_id = h.async_id;
        free(m);
    }
    else if (s->state == SLOT_ABANDONED) {
        s->m = m;
        s->len = len;
        s->h = h;
        if (s->orphan != NULL)
            s->orphan(c, s, s->baton);
        slot_free(s);
    }
    else {
        s->m = m;
        s->len = len;
        s->h = h;
        s->state = SLOT_DONE;
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return 0;
}

static void *rx_thread(void *arg)
{
    smb2_conn_t *c = arg;

    c->rxbuf = malloc(SMB2_RXBUF);
    if (c->rxbuf == NULL) {
        xpipe__smb2_conn_kill(c, XPIPE_ERESET, "out of memory for replies");
        return NULL;
    }
    while (rx_one(c) == 0)
        ;
    free(c->rxbuf);
    c->rxbuf = NULL;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Requests. */

/* Put a request on the wire (c->send_mu held): hdr is its frame header
 * room and SMB2 header, body and data follow. Signed, or encrypted in a
 * transform, as the session says; fed to the preauth hash while the
 * handshake keeps one. */
static apr_status_t emit(smb2_conn_t *c, uint8_t *hdr, uint16_t command,
                         const uint8_t *body, size_t body_len, const void *data,
                         size_t data_len, apr_time_t deadline)
{
    smb2_iov_t parts[3] = { { hdr + 4, SMB2_HDR_LEN },
                            { body, body_len },
                            { data, data_len } };
    size_t total = SMB2_HDR_LEN + body_len + data_len;
    struct iovec iov[3];
    uint8_t *tf = NULL;
    apr_status_t rv;
    int n;

    if (total > SMB2_FRAME_MAX - SMB2_TRANSFORM_LEN)
        return xpipe__fail(XPIPE_EMSGSIZE,
                           "an SMB2 request of %zu bytes "
                           "does not fit a frame",
                           total);
    if (c->encrypting) {
        tf = malloc(4 + SMB2_TRANSFORM_LEN + total);
        if (tf == NULL)
            return APR_ENOMEM;
        xpipe__smb2_transform_build(tf + 4, (uint32_t)total, c->session_id);
        if (xpipe__smb2_encrypt(&c->keys, tf + 4, parts, 3,
                                tf + 4 + SMB2_TRANSFORM_LEN)
            != 0) {
            free(tf);
            return xpipe__fail(APR_EGENERAL, "encryption failed (libcrypto)");
        }
        total += SMB2_TRANSFORM_LEN;
        iov[0].iov_base = tf;
        iov[0].iov_len = 4 + total;
        n = 1;
    }
    else {
        if (c->preauth_req != NULL
            && xpipe__smb2_preauth_update(c->preauth_req, parts, 3) != 0)
            return xpipe__fail(APR_EGENERAL, "SHA-512 failed (libcrypto)");
        /* A first SESSION_SETUP has no key to sign with; one that
         * re-authenticates the session is signed with its key. */
        if (c->signing && (command != SMB2_SESSION_SETUP || c->reauthing)) {
            smb2_put32(hdr + 4 + 16,
                       smb2_get32(hdr + 4 + 16) | SMB2_FLAGS_SIGNED);
            if (xpipe__smb2_sign(&c->keys, parts, 3, hdr + 4 + SMB2_SIG_OFF)
                != 0)
                return xpipe__fail(APR_EGENERAL, "signing failed (libcrypto)");
        }
        iov[0].iov_base = hdr;
        iov[0].iov_len = 4 + SMB2_HDR_LEN;
        iov[1].iov_base = (void *)body;
        iov[1].iov_len = body_len;
        iov[2].iov_base = (void *)data;
        iov[2].iov_len = data_len;
        n = data_len ? 3 : 2;
    }
    iov[0].iov_base = tf ? tf : hdr;
    ((uint8_t *)iov[0].iov_base)[0] = 0;
    ((uint8_t *)iov[0].iov_base)[1] = (uint8_t)(total >> 16);
    ((uint8_t *)iov[0].iov_base)[2] = (uint8_t)(total >> 8);
    ((uint8_t *)iov[0].iov_base)[3] = (uint8_t)total;
    rv = send_all(c, iov, n, deadline);
    free(tf);
    return rv;
}

apr_status_t xpipe__smb2_send(smb2_conn_t *c, uint16_t command,
                              const uint8_t *body, size_t body_len,
                              const void *data, size_t data_len, size_t expect,
                              apr_time_t deadline, int *slot)
{
    size_t payload = data_len > expect ? data_len : expect;
    uint16_t need = c->dialect == SMB2_DIALECT_202 ? 1 : smb2_charge(payload);
    uint8_t hdr[4 + SMB2_HDR_LEN];
    smb2_hdr_t h;
    apr_status_t rv = APR_SUCCESS;
    int i, s = -1;

    *slot = -1;
    pthread_mutex_lock(&c->send_mu);
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (c->dead != APR_SUCCESS) {
            rv = conn_dead(c);
            break;
        }
        if (woken(c)) {
            rv = XPIPE_ECANCELED;
            break;
        }
        for (i = 0; i < SMB2_SLOTS && s < 0; i++)
            if (c->slot[i].state == SLOT_FREE)
                s = i;
        if (s >= 0 && c->credits >= need)
            break;
        s = -1;
        if (cv_wait(c, deadline) == APR_TIMEUP) {
            rv = xpipe__fail(APR_TIMEUP, "the SMB server granted no credit "
                                         "for a request before the deadline");
            break;
        }
    }
    if (rv != APR_SUCCESS) {
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->send_mu);
        return rv;
    }
    memset(&h, 0, sizeof(h));
    h.command = command;
    h.charge = c->dialect == SMB2_DIALECT_202 ? 0 : need;
    h.mid = c->next_mid;
    c->next_mid += need;
    c->credits -= need;
    h.credits = (uint16_t)(need
                           + (c->credits < SMB2_CREDITS_WANT
                                  ? SMB2_CREDITS_WANT - c->credits
                                  : 0));
    h.tree_id = c->tree_id;
    h.session_id = c->session_id;
    c->slot[s].state = SLOT_SENT;
    c->slot[s].command = command;
    c->slot[s].mid = h.mid;
    c->slot[s].gen = c->auth_gen;
    pthread_mutex_unlock(&c->mu);

    xpipe__smb2_hdr_build(hdr + 4, &h);
    rv = emit(c, hdr, command, body, body_len, data, data_len, deadline);
    if (rv == APR_SUCCESS) {
        pthread_mutex_unlock(&c->send_mu);
        *slot = s;
        return APR_SUCCESS;
    }
    pthread_mutex_lock(&c->mu);
    if (c->dead == APR_SUCCESS) {
        /* Nothing left: the message id and the credits are unused. */
        c->next_mid -= need;
        c->credits += need;
    }
    slot_free(&c->slot[s]);
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_unlock(&c->send_mu);
    return rv;
}

apr_status_t xpipe__smb2_wait(smb2_conn_t *c, int s, apr_time_t deadline)
{
    apr_status_t rv = APR_SUCCESS;

    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (c->slot[s].state == SLOT_DONE)
            break;
        if (c->dead != APR_SUCCESS) {
            rv = conn_dead(c);
            break;
        }
        if (woken(c)) {
            rv = XPIPE_ECANCELED;
            break;
        }
        if (cv_wait(c, deadline) == APR_TIMEUP) {
            rv = APR_TIMEUP;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rv;
}

void xpipe__smb2_release(smb2_conn_t *c, int s,
                         void (*orphan)(smb2_conn_t *, smb2_slot_t *, void *),
                         void *baton)
{
    pthread_mutex_lock(&c->mu);
    if (c->slot[s].state == SLOT_DONE || c->dead != APR_SUCCESS)
        slot_free(&c->slot[s]);
    else {
        c->slot[s].state = SLOT_ABANDONED;
        c->slot[s].orphan = orphan;
        c->slot[s].baton = baton;
    }
    pthread_cond_broadcast(&c->cv); /* a slot may be free now */
    pthread_mutex_unlock(&c->mu);
}

apr_status_t xpipe__smb2_call(smb2_conn_t *c, uint16_t command,
                              const uint8_t *body, size_t body_len,
                              const void *data, size_t data_len, size_t expect,
                              apr_time_t deadline, int *slot)
{
    apr_status_t rv = xpipe__smb2_send(c, command, body, body_len, data,
                                       data_len, expect, deadline, slot);

    if (rv != APR_SUCCESS)
        return rv;
    rv = xpipe__smb2_wait(c, *slot, deadline);
    if (rv != APR_SUCCESS) {
        xpipe__smb2_release(c, *slot, NULL, NULL);
        *slot = -1;
    }
    return rv;
}

void xpipe__smb2_cancel(smb2_conn_t *c, int s)
{
    uint8_t hdr[4 + SMB2_HDR_LEN], body[4];
    smb2_hdr_t h;
    int go;

    pthread_mutex_lock(&c->send_mu);
    pthread_mutex_lock(&c->mu);
    go = c->dead == APR_SUCCESS
         && (c->slot[s].state == SLOT_SENT
             || c->slot[s].state == SLOT_ABANDONED);
    memset(&h, 0, sizeof(h));
    h.command = SMB2_CANCEL;
    h.mid = c->slot[s].mid;
    h.session_id = c->session_id;
    h.tree_id = c->tree_id;
    if (c->slot[s].interim) {
        h.flags = SMB2_FLAGS_ASYNC_COMMAND;
        h.async_id = c->slot[s].async_id;
    }
    pthread_mutex_unlock(&c->mu);
    if (go) {
        xpipe__smb2_hdr_build(hdr + 4, &h);
        xpipe__smb2_simple_build(body);
        emit(c, hdr, SMB2_CANCEL, body, sizeof(body), NULL, 0,
             apr_time_now() + SMB2_BYE_TIME);
    }
    pthread_mutex_unlock(&c->send_mu);
}

/* ------------------------------------------------------------------ */
/* The handshake. */

static const uint16_t all_dialects[] = { SMB2_DIALECT_202, SMB2_DIALECT_210,
                                         SMB2_DIALECT_300, SMB2_DIALECT_302,
                                         SMB2_DIALECT_311 };
/* Preferred first: GCM is the faster, 128 bits the common. */
static const uint16_t our_ciphers[] = { SMB2_AES128_GCM, SMB2_AES128_CCM,
                                        SMB2_AES256_GCM, SMB2_AES256_CCM };
static const uint16_t our_signing[] = { SMB2_SIGN_AES_GMAC, SMB2_SIGN_AES_CMAC,
                                        SMB2_SIGN_HMAC_SHA256 };

typedef struct hs_t {
    uint16_t dialects[5];
    uint8_t guid[16], salt[32];
    smb2_negotiate_req_t req;
    uint8_t server_guid[16];
} hs_t;

/* The reply in slot s, which the caller releases. */
static smb2_slot_t *reply(smb2_conn_t *c, int s)
{
    return &c->slot[s];
}

static int offered(const uint16_t *ids, int n, int id)
{
    int i;

    for (i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

static apr_status_t negotiate(smb2_conn_t *c, hs_t *hs, const smb2_opts_t *o,
                              apr_time_t deadline)
{
    uint8_t body[SMB2_BODY_MAX];
    smb2_negotiate_rsp_t r;
    smb2_slot_t *rs;
    apr_status_t rv;
    size_t len;
    int s, i, n = 0;

    for (i = 0; i < 5; i++)
        if (all_dialects[i] >= o->min_dialect
            && all_dialects[i] <= o->max_dialect)
            hs->dialects[n++] = all_dialects[i];
    if (RAND_bytes(hs->guid, 16) != 1 || RAND_bytes(hs->salt, 32) != 1)
        return xpipe__fail(APR_EGENERAL, "no random bytes (libcrypto)");
    hs->req.dialects = hs->dialects;
    hs->req.ndialects = n;
    hs->req.security_mode =
        SMB2_NEGOTIATE_SIGNING_ENABLED | SMB2_NEGOTIATE_SIGNING_REQUIRED;
    hs->req.capabilities =
        SMB2_GLOBAL_CAP_LARGE_MTU | SMB2_GLOBAL_CAP_ENCRYPTION;
    hs->req.client_guid = hs->guid;
    hs->req.salt = hs->salt;
    hs->req.ciphers = our_ciphers;
    hs->req.nciphers = 4;
    hs->req.signing = our_signing;
    hs->req.nsigning = 3;
    c->client_caps = hs->req.capabilities;
    len = xpipe__smb2_negotiate_build(body, &hs->req);
    memset(c->preauth, 0, 64);
    c->preauth_req = c->preauth;
    rv = xpipe__smb2_call(c, SMB2_NEGOTIATE, body, len, NULL, 0, 0, deadline,
                          &s);
    c->preauth_req = NULL;
    if (rv != APR_SUCCESS)
        return rv == APR_TIMEUP
                   ? xpipe__fail(rv, "the SMB server did not answer the "
                                     "negotiation before the deadline")
                   : rv;
    rs = reply(c, s);
    if (rs->h.status != NT_STATUS_SUCCESS
        || xpipe__smb2_negotiate_parse(rs->m, rs->len, &r) != 0
        || !offered(hs->dialects, n, r.dialect)) {
        char st[64];

        xpipe__smb2_release(c, s, NULL, NULL);
        return xpipe__fail(
            XPIPE_EPROTO,
            "the SMB server refused or garbled the "
            "negotiation (%s)",
            xpipe__smb2_status_text(rs->h.status, st, sizeof(st)));
    }
    c->dialect = r.dialect;
    c->keys.dialect = r.dialect;
    c->server_security = r.security_mode;
    c->server_caps = r.capabilities;
    c->max_read = r.max_read;
    c->max_write = r.max_write;
    c->max_transact = r.max_transact;
    memcpy(hs->server_guid, r.server_guid, 16);
    c->keys.sign_alg = SMB2_SIGN_AES_CMAC;
    c->keys.cipher = SMB2_CIPHER_NONE;
    if (r.dialect == SMB2_DIALECT_311) {
        smb2_iov_t iov = { rs->m, rs->len };

        if (r.preauth_hash != SMB2_PREAUTH_SHA512
            || (r.cipher > 0 && !offered(our_ciphers, 4, r.cipher))
            || (r.signing >= 0 && !offered(our_signing, 3, r.signing))) {
            xpipe__smb2_release(c, s, NULL, NULL);
            return xpipe__fail(XPIPE_EPROTO,
                               "the SMB server chose an algorithm not "
                               "offered");
        }
        if (r.cipher > 0)
            c->keys.cipher = r.cipher;
        if (r.signing >= 0)
            c->keys.sign_alg = r.signing;
        xpipe__smb2_preauth_update(c->preauth, &iov, 1);
    }
    else if (r.dialect >= SMB2_DIALECT_300
             && (r.capabilities & SMB2_GLOBAL_CAP_ENCRYPTION))
        c->keys.cipher = SMB2_AES128_CCM;
    xpipe__smb2_release(c, s, NULL, NULL);
    /* 2.0.2 has one credit per request, so 64 KiB at most. */
    if (c->dialect == SMB2_DIALECT_202
        || !(r.capabilities & SMB2_GLOBAL_CAP_LARGE_MTU)) {
        if (c->max_read > 65536)
            c->max_read = 65536;
        if (c->max_write > 65536)
            c->max_write = 65536;
    }
    if (c->max_read < 4096 || c->max_write < 4096)
        return xpipe__fail(XPIPE_EPROTO,
                           "the SMB server's largest read or "
                           "write is too small (%u, %u)",
                           (unsigned)c->max_read, (unsigned)c->max_write);
    return APR_SUCCESS;
}

/* An NT status of a failed session setup as xpipe's status. */
static apr_status_t auth_failed(uint32_t st)
{
    char text[64];

    return xpipe__fail(XPIPE_EAUTH, "the SMB server refused the session: %s",
                       xpipe__smb2_status_text(st, text, sizeof(text)));
}

/* Authenticate the session (again, when reauth: its id and keys stay,
 * [MS-SMB2] 3.2.4.2.3), with the credential in c->auth (made from o the
 * first time and kept). */
static apr_status_t session_setup(smb2_conn_t *c, const char *host,
                                  const smb2_opts_t *o, int reauth,
                                  apr_time_t deadline)
{
    uint8_t hash[64], key[32], body[24], *in = NULL, *out = NULL;
    size_t in_len = 0, out_len = 0;
    smb2_auth_t *a;
    apr_status_t rv = APR_SUCCESS;
    char err[512];
    int done = 0, key_len, s;

    if (c->auth == NULL
        && xpipe__smb2_auth_create(&c->auth, host, o->user, o->domain,
                                   o->password, err, sizeof(err))
               != 0)
        return xpipe__fail(XPIPE_EAUTH, "%s", err);
    a = c->auth;
    xpipe__smb2_auth_restart(a);
    memcpy(hash, c->preauth, 64);
    for (;;) {
        smb2_slot_t *rs;
        const uint8_t *blob;
        size_t blob_len;
        uint16_t flags;
        uint32_t st;
        int step;

        step = xpipe__smb2_auth_step(a, in, in_len, &out, &out_len, err,
                                     sizeof(err));
        free(in);
        in = NULL;
        if (step < 0) {
            rv = xpipe__fail(XPIPE_EAUTH, "%s", err);
            break;
        }
        xpipe__smb2_session_setup_build(body,
                                        SMB2_NEGOTIATE_SIGNING_ENABLED
                                            | SMB2_NEGOTIATE_SIGNING_REQUIRED,
                                        0, (uint16_t)out_len);
        if (out_len > 0xFFFF) {
            rv = xpipe__fail(XPIPE_EAUTH,
                             "a %zu-byte GSSAPI token does not "
                             "fit SMB2",
                             out_len);
            break;
        }
        c->preauth_req =
            c->dialect == SMB2_DIALECT_311 && !reauth ? hash : NULL;
        rv = xpipe__smb2_call(c, SMB2_SESSION_SETUP, body, sizeof(body), out,
                              out_len, 0, deadline, &s);
        c->preauth_req = NULL;
        xpipe__smb2_auth_free_token(out, out_len);
        out = NULL;
        if (rv != APR_SUCCESS) {
            if (rv == APR_TIMEUP) {
                char why[160];

                /* Keep the reason (no reply, or no credit to ask). */
                snprintf(why, sizeof(why), "%s", xpipe_error_detail());
                xpipe__fail(rv,
                            "the SMB server did not finish the session "
                            "setup before the deadline%s%s",
                            why[0] ? ": " : "", why);
            }
            break;
        }
        rs = reply(c, s);
        st = rs->h.status;
        if ((st != NT_STATUS_SUCCESS
             && st != NT_STATUS_MORE_PROCESSING_REQUIRED)
            || xpipe__smb2_session_setup_parse(rs->m, rs->len, &flags, &blob,
                                               &blob_len)
                   != 0) {
            xpipe__smb2_release(c, s, NULL, NULL);
            rv = st == NT_STATUS_SUCCESS
                     ? xpipe__fail(XPIPE_EPROTO, "a malformed session setup "
                                                 "reply")
                     : auth_failed(st);
            break;
        }
        pthread_mutex_lock(&c->mu);
        c->session_id = rs->h.session_id;
        pthread_mutex_unlock(&c->mu);
        if (blob_len > 0) {
            in = malloc(blob_len);
            if (in == NULL) {
                xpipe__smb2_release(c, s, NULL, NULL);
                rv = APR_ENOMEM;
                break;
            }
            memcpy(in, blob, blob_len);
            in_len = blob_len;
        }
        if (st == NT_STATUS_MORE_PROCESSING_REQUIRED) {
            smb2_iov_t iov = { rs->m, rs->len };

            if (c->dialect == SMB2_DIALECT_311 && !reauth)
                xpipe__smb2_preauth_update(hash, &iov, 1);
            xpipe__smb2_release(c, s, NULL, NULL);
            if (step == 1) {
                rv = xpipe__fail(XPIPE_EPROTO, "the SMB server wants more "
                                               "than GSSAPI has to say");
                break;
            }
            continue;
        }
        /* A guest or anonymous session: unauthenticated, unsigned (and
         * SPNEGO would refuse its final token anyway). */
        if (flags & (SMB2_SESSION_FLAG_IS_GUEST | SMB2_SESSION_FLAG_IS_NULL)) {
            xpipe__smb2_release(c, s, NULL, NULL);
            if (!c->allow_guest) {
                rv = xpipe__fail(XPIPE_EAUTH,
                                 "the SMB server made this a%s session: our "
                                 "credentials were not accepted (a guest "
                                 "session is refused unless "
                                 "xpipe_attr_smb_guest_set allows it)",
                                 (flags & SMB2_SESSION_FLAG_IS_NULL)
                                     ? "n anonymous"
                                     : " guest");
                break;
            }
            c->guest = 1;
            done = 1;
            break;
        }
        /* Success: the final token (SPNEGO's accept-completed and MIC,
         * Kerberos' AP-REP) completes our side. */
        if (step == 0 && in_len > 0) {
            step = xpipe__smb2_auth_step(a, in, in_len, &out, &out_len, err,
                                         sizeof(err));
            xpipe__smb2_auth_free_token(out, out_len);
            out = NULL;
        }
        free(in);
        in = NULL;
        if (step != 1) {
            xpipe__smb2_release(c, s, NULL, NULL);
            rv = xpipe__fail(XPIPE_EAUTH, "%s",
                             step < 0 ? err
                                      : "the SMB server ended the session "
                                        "setup before GSSAPI was complete");
            break;
        }
        /* A re-authentication keeps the session's keys. */
        key_len = reauth ? 0 : xpipe__smb2_auth_session_key(a, key);
        if (!reauth
            && (key_len <= 0
                || xpipe__smb2_keys_derive(&c->keys, key, (size_t)key_len, hash)
                       != 0)) {
            xpipe__smb2_release(c, s, NULL, NULL);
            rv = xpipe__fail(XPIPE_EAUTH, "no session key from GSSAPI");
            break;
        }
        OPENSSL_cleanse(key, sizeof(key));
        /* 3.1.1 signs the final reply; earlier dialects may. */
        if (((rs->h.flags & SMB2_FLAGS_SIGNED)
             || c->dialect == SMB2_DIALECT_311)
            && ((rs->h.flags & SMB2_FLAGS_SIGNED) == 0
                || verify(&c->keys, rs->m, rs->len) != 0)) {
            xpipe__smb2_release(c, s, NULL, NULL);
            rv = xpipe__fail(XPIPE_EAUTH,
                             "the session setup reply's signature does not "
                             "hold: the server does not share our key");
            break;
        }
        if (!reauth
            && ((flags & SMB2_SESSION_FLAG_ENCRYPT_DATA) || o->encrypt)) {
            if (c->keys.cipher == SMB2_CIPHER_NONE) {
                xpipe__smb2_release(c, s, NULL, NULL);
                rv = xpipe__fail(
                    XPIPE_EAUTH,
                    "encryption %s, and the server offers none "
                    "(dialect %x.%x.%x)",
                    o->encrypt ? "was asked for" : "is required by the server",
                    c->dialect >> 8, (c->dialect >> 4) & 0xF, c->dialect & 0xF);
                break;
            }
        }
        if (!reauth) {
            pthread_mutex_lock(&c->mu);
            c->signing = 1;
            c->encrypting =
                (flags & SMB2_SESSION_FLAG_ENCRYPT_DATA) || o->encrypt;
            pthread_mutex_unlock(&c->mu);
        }
        xpipe__smb2_release(c, s, NULL, NULL);
        done = 1;
        break;
    }
    free(in);
    if (done && !reauth)
        xpipe__smb2_auth_names(a, c->user, sizeof(c->user), c->mech,
                               sizeof(c->mech));
    /* The context is done with; the credential stays for a later
     * re-authentication. */
    xpipe__smb2_auth_restart(a);
    OPENSSL_cleanse(hash, sizeof(hash));
    return done ? APR_SUCCESS : rv;
}

apr_status_t xpipe__smb2_reauth(smb2_conn_t *c, unsigned gen,
                                apr_time_t deadline)
{
    apr_status_t rv = APR_SUCCESS;

    unsigned now;

    pthread_mutex_lock(&c->reauth_mu);
    pthread_mutex_lock(&c->mu);
    now = c->auth_gen;
    pthread_mutex_unlock(&c->mu);
    if (now == gen && c->auth != NULL) {
        c->reauthing = 1;
        rv = session_setup(c, c->host, NULL, 1, deadline);
        c->reauthing = 0;
        if (rv == APR_SUCCESS) {
            pthread_mutex_lock(&c->mu);
            c->auth_gen++;
            pthread_mutex_unlock(&c->mu);
        }
    }
    else if (c->auth == NULL)
        rv = xpipe__fail(XPIPE_EAUTH, "the SMB session expired and this "
                                      "connection cannot authenticate again");
    pthread_mutex_unlock(&c->reauth_mu);
    return rv;
}

static apr_status_t tree_connect(smb2_conn_t *c, const char *host,
                                 apr_time_t deadline)
{
    uint8_t body[SMB2_BODY_MAX], path[SMB2_BODY_MAX - 8];
    char *unc;
    size_t ul = strlen(host) + 8;
    long pl;
    smb2_slot_t *rs;
    uint8_t type;
    uint32_t flags;
    apr_status_t rv;
    int s;

    unc = malloc(ul);
    if (unc == NULL)
        return APR_ENOMEM;
    snprintf(unc, ul, "\\\\%s\\IPC$", host);
    pl = xpipe__smb2_utf16le(path, sizeof(path), unc);
    free(unc);
    if (pl < 0)
        return xpipe__fail(XPIPE_EBADNAME, "the host name is not UTF-8, or "
                                           "too long");
    rv =
        xpipe__smb2_call(c, SMB2_TREE_CONNECT, body,
                         xpipe__smb2_tree_connect_build(body, path, (size_t)pl),
                         NULL, 0, 0, deadline, &s);
    if (rv != APR_SUCCESS)
        return rv;
    rs = reply(c, s);
    if (rs->h.status != NT_STATUS_SUCCESS) {
        char st[64];

        xpipe__smb2_status_text(rs->h.status, st, sizeof(st));
        xpipe__smb2_release(c, s, NULL, NULL);
        return xpipe__fail(rs->h.status == NT_STATUS_ACCESS_DENIED
                               ? XPIPE_EAUTH
                               : XPIPE_ENOPIPE,
                           "the SMB server refused IPC$: %s", st);
    }
    if (xpipe__smb2_tree_connect_parse(rs->m, rs->len, &type, &flags) != 0
        || type != SMB2_SHARE_TYPE_PIPE) {
        xpipe__smb2_release(c, s, NULL, NULL);
        return xpipe__fail(XPIPE_EPROTO, "IPC$ is not a pipe share there");
    }
    c->tree_id = rs->h.tree_id;
    xpipe__smb2_release(c, s, NULL, NULL);
    if ((flags & SMB2_SHAREFLAG_ENCRYPT_DATA) && !c->encrypting) {
        if (c->keys.cipher == SMB2_CIPHER_NONE || c->guest)
            return xpipe__fail(XPIPE_EAUTH, "IPC$ requires encryption, which "
                                            "this session cannot do");
        pthread_mutex_lock(&c->mu);
        c->encrypting = 1;
        pthread_mutex_unlock(&c->mu);
    }
    return APR_SUCCESS;
}

/* 3.0 and 3.0.2: the server confirms what it negotiated, signed, so that
 * nobody between us downgraded it ([MS-SMB2] 3.2.5.14.12). */
static apr_status_t validate_negotiate(smb2_conn_t *c, const hs_t *hs,
                                       apr_time_t deadline)
{
    uint8_t body[SMB2_BODY_MAX], in[64];
    const uint8_t *out;
    size_t out_len, in_len = xpipe__smb2_validate_info_build(in, &hs->req);
    smb2_slot_t *rs;
    uint32_t ctl;
    apr_status_t rv;
    int s, ok;

    rv = xpipe__smb2_call(c, SMB2_IOCTL, body,
                          xpipe__smb2_ioctl_build(body,
                                                  FSCTL_VALIDATE_NEGOTIATE_INFO,
                                                  NULL, in, in_len, 24),
                          NULL, 0, 24, deadline, &s);
    if (rv != APR_SUCCESS)
        return rv;
    rs = reply(c, s);
    ok = rs->h.status == NT_STATUS_SUCCESS
         && xpipe__smb2_ioctl_parse(rs->m, rs->len, &ctl, &out, &out_len) == 0
         && out_len >= 24 && smb2_get32(out) == c->server_caps
         && memcmp(out + 4, hs->server_guid, 16) == 0
         && smb2_get16(out + 20) == c->server_security
         && smb2_get16(out + 22) == c->dialect;
    xpipe__smb2_release(c, s, NULL, NULL);
    if (!ok)
        return xpipe__fail(XPIPE_EPROTO,
                           "the SMB server did not confirm the negotiation "
                           "(FSCTL_VALIDATE_NEGOTIATE_INFO): a downgrade?");
    return APR_SUCCESS;
}

apr_status_t xpipe__smb2_conn_open(smb2_conn_t **cp, const char *host,
                                   const smb2_opts_t *o, apr_time_t deadline)
{
    smb2_conn_t *c = calloc(1, sizeof(*c));
    hs_t hs;
    apr_status_t rv;

    *cp = NULL;
    if (c == NULL)
        return APR_ENOMEM;
    c->fd = -1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_mutex_init(&c->send_mu, NULL);
    pthread_mutex_init(&c->reauth_mu, NULL);
    c->credits = 1;
    c->allow_guest = o->allow_guest;
    c->port = o->port ? o->port : 445;
    snprintf(c->host, sizeof(c->host), "%s", host);
    memset(&hs, 0, sizeof(hs));
    rv = tcp_connect(c, host, c->port, deadline);
    if (rv == APR_SUCCESS) {
        if (pthread_create(&c->rx, NULL, rx_thread, c) != 0)
            rv = xpipe__fail(APR_ENOMEM, "no thread to receive from the SMB "
                                         "server");
        else
            c->rx_started = 1;
    }
    if (rv == APR_SUCCESS)
        rv = negotiate(c, &hs, o, deadline);
    if (rv == APR_SUCCESS)
        rv = session_setup(c, host, o, 0, deadline);
    if (rv == APR_SUCCESS)
        rv = tree_connect(c, host, deadline);
    if (rv == APR_SUCCESS && !c->guest
        && (c->dialect == SMB2_DIALECT_300 || c->dialect == SMB2_DIALECT_302))
        rv = validate_negotiate(c, &hs, deadline);
    if (rv != APR_SUCCESS) {
        xpipe__detail_t d;

        /* Closing must not lose why it failed. */
        xpipe__detail_save(&d);
        xpipe__smb2_conn_close(c);
        xpipe__detail_restore(&d);
        return rv;
    }
    *cp = c;
    return APR_SUCCESS;
}

/* A request nobody waits for. */
static void say_bye(smb2_conn_t *c, uint16_t command)
{
    uint8_t body[4];
    int s;

    if (xpipe__smb2_send(c, command, body, xpipe__smb2_simple_build(body), NULL,
                         0, 0, apr_time_now() + SMB2_BYE_TIME, &s)
        == APR_SUCCESS)
        xpipe__smb2_release(c, s, NULL, NULL);
}

void xpipe__smb2_conn_close(smb2_conn_t *c)
{
    int i;

    if (c->rx_started && c->dead == APR_SUCCESS && c->session_id != 0) {
        c->wake = NULL; /* goodbyes go out even after an interrupt */
        if (c->tree_id != 0)
            say_bye(c, SMB2_TREE_DISCONNECT);
        say_bye(c, SMB2_LOGOFF);
    }
    if (c->fd >= 0)
        xpipe__smb2_conn_kill(c, XPIPE_ECLOSED, "the channel was closed");
    if (c->rx_started)
        pthread_join(c->rx, NULL);
    for (i = 0; i < SMB2_SLOTS; i++)
        free(c->slot[i].m);
    if (c->fd >= 0)
        close(c->fd);
    xpipe__smb2_keys_wipe(&c->keys);
    OPENSSL_cleanse(c->preauth, sizeof(c->preauth));
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->send_mu);
    pthread_mutex_destroy(&c->reauth_mu);
    xpipe__smb2_auth_destroy(c->auth);
    free(c);
}
