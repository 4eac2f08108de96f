/* SPDX-License-Identifier: Apache-2.0 */
/* fastpipe.c — the fast path's pipe on Windows (fast.c's channel): a
 * second pipe name that always carries framed messages, each a tag byte
 * and a body: 'F' the offer, 'N' no offer, 'D' data before the switch,
 * 'S' the switch, 'b' a doorbell. What is posted (the offer, doorbells)
 * never waits for the pipe; data waits to its deadline.
 */
#include "fastpipe.h"

#include <stdlib.h>
#include <string.h>

/* A buffer of at least n bytes in *b (cap *cap), kept for next time. */
static apr_status_t fast_room(unsigned char **b, DWORD *cap, DWORD n)
{
    unsigned char *nb;

    if (*cap >= n)
        return APR_SUCCESS;
    if ((nb = realloc(*b, n)) == NULL)
        return APR_ENOMEM;
    *b = nb;
    *cap = n;
    return APR_SUCCESS;
}

/* One framed message on the pipe: tag and body, whole, before the
 * deadline. *n gets the body's bytes that went (a byte-mode write cut
 * short by a deadline or an interrupt may report a part). */
apr_status_t xpipe__win32_fp_say(xpipe__chan_t *c, char tag, const void *body,
                                 DWORD len, apr_time_t deadline, DWORD *n)
{
    xpipe__win32_fast_t *f = c->fast;
    unsigned char one[1];
    unsigned char *m = one;
    apr_status_t rv;
    DWORD done = 0;

    if (len > 0) {
        rv = fast_room(&f->out, &f->out_cap, len + 1);
        if (rv != APR_SUCCESS)
            return rv;
        m = f->out;
        memcpy(m + 1, body, len);
    }
    m[0] = (unsigned char)tag;
    rv = xpipe__win32_io(c, 1, m, len + 1, deadline, &done);
    if (n)
        *n = done > 0 ? done - 1 : 0;
    return rv;
}

/* Under post_lock: is the last posted write still in flight? */
static int fast_posting(xpipe__chan_t *c)
{
    xpipe__win32_fast_t *f = c->fast;
    DWORD n;

    if (f->posting && HasOverlappedIoCompleted(&f->post_ov)) {
        win32_sys.get_overlapped_result(c->pipe, &f->post_ov, &n, FALSE);
        f->posting = 0;
    }
    return f->posting;
}

/* Post a framed message (len <= XPIPE__WIN32_OFFER_LEN, tag included) that
 * must never be cut short: the offer, or a doorbell. A doorbell while
 * one is in flight is not needed: the peer has unread messages, which
 * ring. APR_SUCCESS, or the pipe's failure. */
apr_status_t xpipe__win32_fp_post(xpipe__chan_t *c, const void *m, DWORD len)
{
    xpipe__win32_fast_t *f = c->fast;
    apr_status_t rv = APR_SUCCESS;
    BOOL ok;

    EnterCriticalSection(&f->post_lock);
    if (f->post_ev == NULL)
        f->post_ev = win32_sys.create_event(NULL, TRUE, FALSE, NULL);
    if (f->post_ev == NULL)
        rv = win32_os_status(GetLastError());
    else if (!fast_posting(c)) {
        memcpy(f->post_buf, m, len);
        memset(&f->post_ov, 0, sizeof(f->post_ov));
        /* Never a packet in a poll set's port. */
        f->post_ov.hEvent = xpipe__win32_quiet(f->post_ev);
        ok = win32_sys.write_file(c->pipe, f->post_buf, len, NULL, &f->post_ov);
        if (ok || GetLastError() == ERROR_IO_PENDING)
            f->posting = 1;
        else
            rv = win32_os_status(GetLastError());
    }
    LeaveCriticalSection(&f->post_lock);
    return rv;
}

/* Read one pipe message whole into f->in: APR_SUCCESS with *n its size;
 * one too long for any of ours is read to its end and dropped with
 * XPIPE_EMSGSIZE. Errors are the pipe's. */
apr_status_t xpipe__win32_fp_read_msg(xpipe__chan_t *c, DWORD *n,
                                      apr_time_t deadline)
{
    xpipe__win32_fast_t *f = c->fast;
    DWORD cap = (DWORD)(f->message ? f->max_message + 1 : FAST_CHUNK + 1);
    apr_status_t rv;

    if (cap < XPIPE__WIN32_OFFER_LEN)
        cap = XPIPE__WIN32_OFFER_LEN;
    if ((rv = fast_room(&f->in, &f->in_cap, cap)) != APR_SUCCESS)
        return rv;
    return xpipe__win32_read_msg(c, f->in, cap, n, deadline);
}

/* The pipe's failures as a receive reports them. */
apr_status_t xpipe__win32_fp_status(apr_status_t rv)
{
    switch (APR_TO_OS_ERROR(rv)) {
    case ERROR_BROKEN_PIPE: /* peer closed, all read: end */
    case ERROR_PIPE_NOT_CONNECTED: return APR_EOF;
    default: return rv;
    }
}

/* The peer broke the framing of the fast path's pipe. */
apr_status_t xpipe__win32_fp_broken(xpipe__chan_t *c)
{
    xpipe__a32_set(&((xpipe__win32_fast_t *)c->fast)->broken, 1);
    return xpipe__fail(XPIPE_EPROTO, "the peer broke the framing of the fast "
                                     "path's pipe");
}

apr_status_t xpipe__win32_fp_send_status(apr_status_t rv)
{
    switch (APR_TO_OS_ERROR(rv)) {
    case ERROR_NO_DATA: /* the peer closed its end */
    case ERROR_BROKEN_PIPE:
    case ERROR_PIPE_NOT_CONNECTED: return XPIPE_EPIPE;
    default: return rv;
    }
}

/* Sending on the framed pipe: a message whole, or bytes in chunks (one
 * per call: the caller loops). */
apr_status_t xpipe__win32_fp_send(xpipe__chan_t *c, const void *buf,
                                  apr_size_t *len, apr_time_t deadline)
{
    xpipe__win32_fast_t *f = c->fast;
    DWORD want = (DWORD)(*len > FAST_CHUNK && !f->message ? FAST_CHUNK : *len),
          n = 0;
    apr_status_t rv = xpipe__win32_fp_say(c, 'D', buf, want, deadline, &n);

    if (!f->message && n > 0 && (rv == APR_TIMEUP || rv == XPIPE_ECANCELED))
        rv = APR_SUCCESS; /* what went is delivered */
    *len = rv == APR_SUCCESS ? (f->message ? want : n) : 0;
    return rv == APR_SUCCESS ? rv : xpipe__win32_fp_send_status(rv);
}

/* Receiving on the framed pipe: 'D' is data, 'S' moves to the ring,
 * 'b' is nothing. APR_EAGAIN: go on with the ring. */
apr_status_t xpipe__win32_fp_recv(xpipe__chan_t *c, void *buf, apr_size_t *len,
                                  apr_time_t deadline)
{
    xpipe__win32_fast_t *f = c->fast;
    apr_status_t rv;
    DWORD n, body;

    if (f->part_len > 0) { /* byte mode: the rest of a message */
        apr_size_t k = *len < f->part_len ? *len : f->part_len;
        memcpy(buf, f->in + f->part, k);
        f->part += (DWORD)k;
        f->part_len -= (DWORD)k;
        *len = k;
        return APR_SUCCESS;
    }
    if (xpipe__held_take(&c->held, buf, len, &rv))
        return rv;
    for (;;) {
        rv = xpipe__win32_fp_read_msg(c, &n, deadline);
        if (rv == XPIPE_EMSGSIZE) { /* past the maximum: gone */
            *len = n - 1;
            return rv;
        }
        if (rv != APR_SUCCESS) {
            *len = 0;
            return xpipe__win32_fp_status(rv);
        }
        body = n - 1;
        if (f->in[0] == 'b')
            continue;
        if (f->in[0] == 'S' && body == 0 && xpipe__fast_marker(&f->p))
            return APR_EAGAIN;
        if (f->in[0] != 'D' || body == 0) {
            *len = 0;
            return xpipe__win32_fp_broken(c);
        }
        break;
    }
    if (!f->message) {
        apr_size_t k = *len < body ? *len : body;
        memcpy(buf, f->in + 1, k);
        f->part = 1 + (DWORD)k;
        f->part_len = body - (DWORD)k;
        *len = k;
        return APR_SUCCESS;
    }
    if (body > *len) { /* kept whole for the next call */
        if ((c->held.data = malloc(body)) == NULL)
            return APR_ENOMEM;
        memcpy(c->held.data, f->in + 1, body);
        c->held.len = body;
        *len = body;
        return XPIPE_EMSGSIZE;
    }
    memcpy(buf, f->in + 1, body);
    *len = body;
    return APR_SUCCESS;
}
