/* SPDX-License-Identifier: Apache-2.0 */
/* net.c — the SMB client's way to its server and the bytes on it: the
 * host's name resolved under the deadline (getaddrinfo() in a thread of
 * its own, which the caller stops waiting for), TCP to the first address
 * that answers, whole frames sent and taken, and the connection's end.
 */
#include "smb2.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

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
apr_status_t xpipe__smb2_tcp_connect(smb2_conn_t *c, const char *host,
                                     unsigned port, apr_time_t deadline)
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
apr_status_t xpipe__smb2_send_all(smb2_conn_t *c, struct iovec *iov, int n,
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

/* Take exactly len bytes (the receiving thread; blocks until they come or
 * the connection ends): first what the last recv brought, then a recv
 * into the buffer, or straight into p for what is larger than it. The
 * socket blocks once connected (requests go out with MSG_DONTWAIT), so a
 * wait is the recv itself, and shutdown ends it. */
int xpipe__smb2_rx_take(smb2_conn_t *c, uint8_t *p, size_t len)
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
