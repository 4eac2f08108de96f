/* SPDX-License-Identifier: Apache-2.0 */
/* pipe.c — the SMB client transport's data path: reads and writes on a
 * pipe opened in IPC$ (backend.c opens, closes and names it).
 *
 * Reads keep one READ outstanding at most: a call that leaves early (an
 * interrupt, its deadline) CANCELs it and leaves it in flight, and its
 * reply, whenever it comes (data, or STATUS_CANCELLED from a server that
 * honours CANCEL), is what the next read takes first. So nothing is
 * lost, and nothing waits for a reply that may never come: Samba ignores
 * CANCEL of a pipe READ and never answers one pending at CLOSE.
 */
#include "smb2.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

/* What one READ asks for: Samba answers a pipe READ with 64 KiB - 1 at
 * most, Windows with what is there up to this. */
#define SMB2_READ_MAX (1024 * 1024)

/* ------------------------------------------------------------------ */
/* Statuses. */

static int pipe_ended(uint32_t st)
{
    return st == NT_STATUS_PIPE_DISCONNECTED || st == NT_STATUS_PIPE_BROKEN
           || st == NT_STATUS_PIPE_CLOSING || st == NT_STATUS_END_OF_FILE;
}

/* A failed READ or WRITE reply's status as xpipe's, with why. */
static apr_status_t io_status(uint32_t st, int writing, char *why,
                              size_t whylen)
{
    char text[64];

    xpipe__smb2_status_text(st, text, sizeof(text));
    if (pipe_ended(st)) {
        apr_snprintf(why, whylen, "the server end of the pipe is closed (%s)",
                     text);
        return writing ? XPIPE_EPIPE : APR_EOF;
    }
    if (st == NT_STATUS_CANCELLED) {
        apr_snprintf(why, whylen, "the server cancelled the request (%s)",
                     text);
        return XPIPE_ECANCELED;
    }
    if (st == NT_STATUS_INVALID_PIPE_STATE) {
        apr_snprintf(why, whylen, "the pipe's state refuses it (%s)", text);
        return XPIPE_EMODE;
    }
    apr_snprintf(why, whylen, "the SMB server failed the %s: %s",
                 writing ? "write" : "read", text);
    return XPIPE_ERESET;
}

/* ------------------------------------------------------------------ */
/* Reads. */

/* Take the READ reply in slot s into the pieces, or the end it reports
 * (c->mu not held). */
static void read_taken(smb2_chan_t *ch, int s)
{
    smb2_slot_t *rs = &ch->c->slot[s];
    uint32_t st = rs->h.status;
    const uint8_t *data;
    size_t len;

    if (st == NT_STATUS_CANCELLED || st == NT_STATUS_NETWORK_SESSION_EXPIRED) {
        /* Nothing read: the READ was cancelled (an interrupt asked), or
         * must be sent again once the session is authenticated again. */
        ch->rd_expired = st == NT_STATUS_NETWORK_SESSION_EXPIRED;
    }
    else if (st == NT_STATUS_SUCCESS || st == NT_STATUS_BUFFER_OVERFLOW) {
        rpiece_t *p;

        if (xpipe__smb2_read_parse(rs->m, rs->len, &data, &len) != 0) {
            ch->rd_end = XPIPE_ERESET;
            apr_snprintf(ch->rd_why, sizeof(ch->rd_why),
                         "a malformed READ reply from the SMB server");
        }
        else if (len > 0 || st == NT_STATUS_SUCCESS) {
            p = malloc(sizeof(*p) + len);
            if (p == NULL) {
                ch->rd_end = APR_ENOMEM;
                apr_snprintf(ch->rd_why, sizeof(ch->rd_why),
                             "out of memory for %" APR_SIZE_T_FMT " bytes read",
                             (apr_size_t)len);
            }
            else {
                memcpy(p->data, data, len);
                p->len = len;
                p->off = 0;
                /* BUFFER_OVERFLOW: more of this message follows. Samba
                 * never says so: each of its replies ends a message. */
                p->end = st == NT_STATUS_SUCCESS;
                p->next = NULL;
                if (ch->tail)
                    ch->tail->next = p;
                else
                    ch->head = p;
                ch->tail = p;
            }
        }
    }
    else
        ch->rd_end = io_status(st, 0, ch->rd_why, sizeof(ch->rd_why));
    xpipe__smb2_release(ch->c, s, NULL, NULL);
    ch->rd_slot = -1;
}

/* A request found the session expired (sent at generation gen):
 * authenticate again, so that it can be sent again. A server that
 * expires the session again at once is refused, not looped on. */
static apr_status_t renew(smb2_chan_t *ch, unsigned gen, apr_time_t deadline)
{
    if (++ch->renewals > 2)
        return xpipe__fail(XPIPE_EAUTH, "the SMB server expires the session "
                                        "again as soon as it is renewed");
    return xpipe__smb2_reauth(ch->c, gen, deadline);
}

/* Read once: a READ in flight (sent now if none is), waited for and
 * taken. Leaving early leaves it in flight for the next call. */
static apr_status_t read_one(smb2_chan_t *ch, apr_time_t deadline)
{
    smb2_conn_t *c = ch->c;
    apr_status_t rv;
    unsigned gen;

    if (ch->rd_end != APR_SUCCESS)
        return xpipe__fail(ch->rd_end, "%s", ch->rd_why);
    if (ch->rd_slot < 0) {
        uint8_t body[64];
        uint32_t want =
            c->max_read < SMB2_READ_MAX ? c->max_read : SMB2_READ_MAX;

        rv = xpipe__smb2_send(c, SMB2_READ, body,
                              xpipe__smb2_read_build(body, ch->fid, want), NULL,
                              0, want, deadline, &ch->rd_slot);
        if (rv != APR_SUCCESS)
            return rv;
    }
    rv = xpipe__smb2_wait(c, ch->rd_slot, deadline);
    if (rv == XPIPE_ECANCELED || rv == APR_TIMEUP) {
        /* Leaving early (an interrupt, the deadline), as a Windows client
         * cancels its ReadFile: a server that honours CANCEL ends the
         * READ STATUS_CANCELLED (no data lost: the next read takes that
         * and asks again); Samba ignores it, and the READ stays in
         * flight for the next read. */
        xpipe__smb2_cancel(c, ch->rd_slot);
        return rv;
    }
    if (rv != APR_SUCCESS)
        return rv;
    gen = c->slot[ch->rd_slot].gen;
    read_taken(ch, ch->rd_slot);
    if (ch->rd_expired) {
        ch->rd_expired = 0;
        rv = renew(ch, gen, deadline);
        if (rv != APR_SUCCESS && rv != APR_TIMEUP) {
            ch->rd_end = rv;
            apr_snprintf(ch->rd_why, sizeof(ch->rd_why), "%s",
                         xpipe_error_detail());
        }
    }
    else
        ch->renewals = 0;
    return rv;
}

static void piece_pop(smb2_chan_t *ch)
{
    rpiece_t *p = ch->head;

    ch->head = p->next;
    if (ch->head == NULL)
        ch->tail = NULL;
    free(p);
}

void xpipe__smb2c_drop_read(smb2_chan_t *ch)
{
    while (ch->head != NULL)
        piece_pop(ch);
}

apr_status_t xpipe__smb2c_read(xpipe__chan_t *chan, void *buf, apr_size_t *len,
                               apr_time_t deadline)
{
    smb2_chan_t *ch = CH(chan);
    apr_size_t want = *len, got = 0;
    apr_status_t rv = APR_SUCCESS;

    *len = 0;
    while (ch->head == NULL && rv == APR_SUCCESS)
        rv = read_one(ch, deadline);
    if (rv != APR_SUCCESS)
        return rv;
    while (ch->head != NULL && got < want) {
        rpiece_t *p = ch->head;
        size_t n = p->len - p->off;

        if (n > want - got)
            n = want - got;
        memcpy((char *)buf + got, p->data + p->off, n);
        got += n;
        p->off += n;
        if (p->off == p->len)
            piece_pop(ch);
    }
    *len = got;
    return APR_SUCCESS;
}

/* The size of the first message when it has all come: 1 and *size, or 0
 * when more of it is still to be read. */
static int message_ready(smb2_chan_t *ch, apr_size_t *size)
{
    rpiece_t *p;
    apr_size_t n = 0;

    for (p = ch->head; p != NULL; p = p->next) {
        n += p->len;
        if (p->end) {
            *size = n;
            return 1;
        }
    }
    return 0;
}

apr_status_t xpipe__smb2c_recv(xpipe__chan_t *chan, void *buf, apr_size_t *len,
                               apr_time_t deadline)
{
    smb2_chan_t *ch = CH(chan);
    apr_size_t size, at = 0;
    apr_status_t rv;

    while (!message_ready(ch, &size)) {
        rv = read_one(ch, deadline);
        if (rv == APR_SUCCESS)
            continue;
        /* The end inside a message: its start goes with it. */
        if (ch->rd_end != APR_SUCCESS)
            while (ch->head != NULL)
                piece_pop(ch);
        return rv;
    }
    if (size > *len) {
        *len = size;
        return xpipe__fail(XPIPE_EMSGSIZE,
                           "a %lu-byte message for a %lu-byte buffer; it "
                           "stays unread",
                           (unsigned long)size, (unsigned long)*len);
    }
    while (ch->head != NULL) {
        rpiece_t *p = ch->head;
        int end = p->end;

        memcpy((char *)buf + at, p->data + p->off, p->len - p->off);
        at += p->len - p->off;
        piece_pop(ch);
        if (end)
            break;
    }
    *len = at;
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Writes. */

/* A write that left before its reply: the reply, when it comes, may say
 * the pipe is gone, which the next write reports. */
static void write_orphan(smb2_conn_t *c, smb2_slot_t *s, void *baton)
{
    smb2_chan_t *ch = baton;

    (void)c;
    if (s->h.status != NT_STATUS_SUCCESS) {
        pthread_mutex_lock(&ch->wr_mu);
        if (ch->wr_end == APR_SUCCESS)
            ch->wr_end =
                io_status(s->h.status, 1, ch->wr_why, sizeof(ch->wr_why));
        pthread_mutex_unlock(&ch->wr_mu);
    }
}

/* One WRITE of len bytes (<= max_write): *done gets what the server
 * took. A session found expired is authenticated again and the WRITE
 * sent again (nothing of it was written). */
static apr_status_t write_once(smb2_chan_t *ch, const void *buf, apr_size_t len,
                               apr_size_t *done, apr_time_t deadline)
{
    smb2_conn_t *c = ch->c;
    uint8_t body[64];
    smb2_slot_t *rs;
    uint32_t count;
    apr_status_t rv;
    int s, renewals = 0;

    *done = 0;
    pthread_mutex_lock(&ch->wr_mu);
    rv = ch->wr_end;
    pthread_mutex_unlock(&ch->wr_mu);
    if (rv != APR_SUCCESS)
        return xpipe__fail(rv, "%s", ch->wr_why);
    for (;;) {
        rv = xpipe__smb2_send(
            c, SMB2_WRITE, body,
            xpipe__smb2_write_build(body, ch->fid, (uint32_t)len), buf, len, 0,
            deadline, &s);
        if (rv != APR_SUCCESS)
            return rv;
        rv = xpipe__smb2_wait(c, s, deadline);
        if (rv != APR_SUCCESS) {
            /* The data is the server's already; only the answer is late. */
            xpipe__smb2_release(c, s, write_orphan, ch);
            return rv;
        }
        rs = &c->slot[s];
        if (rs->h.status != NT_STATUS_NETWORK_SESSION_EXPIRED)
            break;
        {
            unsigned gen = rs->gen;

            xpipe__smb2_release(c, s, NULL, NULL);
            if (++renewals > 2)
                return xpipe__fail(XPIPE_EAUTH,
                                   "the SMB server expires the session again "
                                   "as soon as it is renewed");
            rv = xpipe__smb2_reauth(c, gen, deadline);
            if (rv != APR_SUCCESS)
                return rv;
        }
    }
    if (rs->h.status != NT_STATUS_SUCCESS) {
        pthread_mutex_lock(&ch->wr_mu);
        rv = ch->wr_end =
            io_status(rs->h.status, 1, ch->wr_why, sizeof(ch->wr_why));
        pthread_mutex_unlock(&ch->wr_mu);
        xpipe__smb2_release(c, s, NULL, NULL);
        return xpipe__fail(rv, "%s", ch->wr_why);
    }
    if (xpipe__smb2_write_parse(rs->m, rs->len, &count) != 0 || count > len) {
        xpipe__smb2_release(c, s, NULL, NULL);
        xpipe__smb2_conn_kill(c, XPIPE_ERESET, "a malformed WRITE reply");
        return xpipe__fail(XPIPE_ERESET, "a malformed WRITE reply");
    }
    xpipe__smb2_release(c, s, NULL, NULL);
    *done = count;
    return APR_SUCCESS;
}

apr_status_t xpipe__smb2c_write(xpipe__chan_t *chan, const void *buf,
                                apr_size_t *len, apr_time_t deadline)
{
    smb2_chan_t *ch = CH(chan);
    apr_size_t n = *len < ch->c->max_write ? *len : ch->c->max_write;

    return write_once(ch, buf, n, len, deadline);
}

apr_status_t xpipe__smb2c_send(xpipe__chan_t *chan, const void *buf,
                               apr_size_t len, apr_time_t deadline)
{
    smb2_chan_t *ch = CH(chan);
    apr_size_t done;
    apr_status_t rv;

    /* A message is one WRITE: the pipe keeps its boundary. */
    if (len > ch->c->max_write)
        return xpipe__fail(XPIPE_EMSGSIZE,
                           "a %lu-byte message: this SMB server writes %lu "
                           "bytes at most at once",
                           (unsigned long)len, (unsigned long)ch->c->max_write);
    rv = write_once(ch, buf, len, &done, deadline);
    if (rv == APR_SUCCESS && done != len)
        return xpipe__fail(XPIPE_ERESET,
                           "the SMB server took %lu bytes of a "
                           "%lu-byte message",
                           (unsigned long)done, (unsigned long)len);
    return rv;
}
