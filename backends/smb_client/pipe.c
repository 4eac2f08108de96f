/* SPDX-License-Identifier: Apache-2.0 */
/* pipe.c — the SMB client transport: a channel on a pipe opened in IPC$
 * over its own connection (smb2.h). The transport's table is at the end;
 * lib/ chooses it for remote names (\\host\pipe\name).
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

/* Data read and not yet taken: one piece per READ reply, in order. */
typedef struct rpiece_t {
    struct rpiece_t *next;
    size_t len, off;
    int end; /* the last piece of a message (message mode) */
    uint8_t data[];
} rpiece_t;

typedef struct smb2_chan_t {
    smb2_conn_t *c;
    xpipe__unix_wake_t wake;
    uint8_t fid[16];
    int open; /* the file is open on the server */
    xpipe_mode_e mode;
    const char *native;
    /* Read side (the one reader's, or close's). */
    int rd_slot;           /* the READ in flight, or -1 */
    rpiece_t *head, *tail; /* data read, not yet taken */
    apr_status_t rd_end;   /* a READ failed: every later one does */
    int rd_expired;        /* the READ taken found the session expired */
    int renewals;          /* re-authentications in a row (reader's) */
    char rd_why[160];
    /* Write side: a write that left early may still fail later. */
    pthread_mutex_t wr_mu;
    apr_status_t wr_end;
    char wr_why[160];
} smb2_chan_t;

#define CH(chan) ((smb2_chan_t *)(void *)(chan))

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
                             "out of memory for %zu bytes read", len);
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

static apr_status_t smb2c_read(xpipe__chan_t *chan, void *buf, apr_size_t *len,
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

static apr_status_t smb2c_recv(xpipe__chan_t *chan, void *buf, apr_size_t *len,
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

static apr_status_t smb2c_write(xpipe__chan_t *chan, const void *buf,
                                apr_size_t *len, apr_time_t deadline)
{
    smb2_chan_t *ch = CH(chan);
    apr_size_t n = *len < ch->c->max_write ? *len : ch->c->max_write;

    return write_once(ch, buf, n, len, deadline);
}

static apr_status_t smb2c_send(xpipe__chan_t *chan, const void *buf,
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

/* ------------------------------------------------------------------ */
/* Open, close, wake, identity. */

static const smb2_opts_t *opts_of(const xpipe_attr_t *attr, smb2_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->user = attr->smb_user;
    o->domain = attr->smb_domain;
    o->password = attr->smb_password;
    o->port = attr->smb_port;
    o->min_dialect = attr->smb_min_dialect;
    o->max_dialect = attr->smb_max_dialect;
    o->encrypt = attr->smb_encrypt;
    o->allow_guest = attr->smb_guest;
    return o;
}

/* CREATE's failure as xpipe's status. */
static apr_status_t create_status(uint32_t st, const char *native)
{
    char text[64];

    xpipe__smb2_status_text(st, text, sizeof(text));
    switch (st) {
    case NT_STATUS_OBJECT_NAME_NOT_FOUND:
    case NT_STATUS_OBJECT_PATH_NOT_FOUND:
        xpipe__fail(XPIPE_ENOPIPE, "no pipe %s on the server (%s)", native,
                    text);
        return XPIPE_ENOPIPE;
    case NT_STATUS_PIPE_NOT_AVAILABLE:
    case NT_STATUS_PIPE_BUSY:
    case NT_STATUS_INSTANCE_NOT_AVAILABLE:
        xpipe__fail(XPIPE__EBUSY, "%s is busy (%s)", native, text);
        return XPIPE__EBUSY;
    case NT_STATUS_ACCESS_DENIED: /* the pipe's security, as on Windows */
        return xpipe__fail(APR_EACCES,
                           "access to pipe %s denied by the server (%s)",
                           native, text);
    case NT_STATUS_OBJECT_NAME_INVALID:
        return xpipe__fail(XPIPE_EBADNAME, "the server calls %s invalid (%s)",
                           native, text);
    default:
        return xpipe__fail(XPIPE_ERESET, "the server failed to open %s (%s)",
                           native, text);
    }
}

static apr_status_t smb2c_dial(xpipe__chan_t **chan, const xpipe__name_t *name,
                               const char *native, const xpipe_attr_t *attr,
                               apr_time_t deadline, apr_pool_t *pool)
{
    smb2_opts_t o;
    smb2_chan_t *ch;
    uint8_t body[SMB2_BODY_MAX], path[SMB2_BODY_MAX - 64];
    long pl;
    smb2_slot_t *rs;
    apr_status_t rv;
    int s;

    if (attr->handles)
        return xpipe__fail(APR_ENOTIMPL, "an SMB pipe carries no handles");
    pl = xpipe__smb2_utf16le(path, sizeof(path), name->name);
    if (pl <= 0)
        return xpipe__fail(XPIPE_EBADNAME, "the pipe name is empty, not "
                                           "UTF-8, or too long for SMB2");
    ch = apr_pcalloc(pool, sizeof(*ch));
    ch->rd_slot = -1;
    ch->mode = attr->mode;
    ch->native = apr_pstrdup(pool, native);
    xpipe__unix_wake_init(&ch->wake);
    pthread_mutex_init(&ch->wr_mu, NULL);
    rv = xpipe__smb2_conn_open(&ch->c, name->host, opts_of(attr, &o), deadline);
    if (rv != APR_SUCCESS) {
        pthread_mutex_destroy(&ch->wr_mu);
        return rv;
    }
    rv = xpipe__smb2_call(ch->c, SMB2_CREATE, body,
                          xpipe__smb2_create_build(body, path, (size_t)pl),
                          NULL, 0, 0, deadline, &s);
    if (rv == APR_SUCCESS) {
        rs = &ch->c->slot[s];
        if (rs->h.status != NT_STATUS_SUCCESS)
            rv = create_status(rs->h.status, native);
        else if (xpipe__smb2_create_parse(rs->m, rs->len, ch->fid) != 0)
            rv = xpipe__fail(XPIPE_EPROTO, "a malformed CREATE reply");
        else
            ch->open = 1;
        xpipe__smb2_release(ch->c, s, NULL, NULL);
    }
    if (rv != APR_SUCCESS) {
        xpipe__detail_t d;

        xpipe__detail_save(&d);
        xpipe__smb2_conn_close(ch->c);
        pthread_mutex_destroy(&ch->wr_mu);
        xpipe__detail_restore(&d);
        return rv;
    }
    ch->c->wake = &ch->wake;
    *chan = (xpipe__chan_t *)ch;
    return APR_SUCCESS;
}

static apr_status_t smb2c_wake(xpipe__chan_t *chan, int closing)
{
    smb2_chan_t *ch = CH(chan);

    xpipe__unix_wake_set(&ch->wake, 1);
    pthread_mutex_lock(&ch->c->mu);
    pthread_cond_broadcast(&ch->c->cv);
    pthread_mutex_unlock(&ch->c->mu);
    /* A request half sent waits for nothing but the socket: a close
     * ends the connection under it. */
    if (closing)
        xpipe__smb2_conn_kill(ch->c, XPIPE_ECLOSED, "the channel was closed");
    return APR_SUCCESS;
}

static apr_status_t smb2c_unwake(xpipe__chan_t *chan)
{
    xpipe__unix_wake_set(&CH(chan)->wake, 0);
    return APR_SUCCESS;
}

static apr_status_t smb2c_close(xpipe__chan_t *chan)
{
    smb2_chan_t *ch = CH(chan);

    if (ch->open && ch->c->dead == APR_SUCCESS) {
        uint8_t body[32];
        int s;

        /* Goodbye without waiting: a READ pending here is never answered
         * by Samba, and a close never blocks on the server. */
        ch->c->wake = NULL;
        if (ch->rd_slot >= 0) /* a server that honours it ends the READ */
            xpipe__smb2_cancel(ch->c, ch->rd_slot);
        if (xpipe__smb2_send(ch->c, SMB2_CLOSE, body,
                             xpipe__smb2_close_build(body, ch->fid), NULL, 0, 0,
                             apr_time_now() + 200 * 1000, &s)
            == APR_SUCCESS)
            xpipe__smb2_release(ch->c, s, NULL, NULL);
    }
    xpipe__smb2_conn_close(ch->c);
    while (ch->head != NULL)
        piece_pop(ch);
    xpipe__unix_wake_close(&ch->wake);
    pthread_mutex_destroy(&ch->wr_mu);
    return APR_SUCCESS;
}

static apr_status_t smb2c_shutdown(xpipe__chan_t *chan, xpipe_shutdown_e how)
{
    (void)chan;
    (void)how;
    return xpipe__fail(APR_ENOTIMPL, "a remote pipe has no half close");
}

static const char *dialect_text(uint16_t d, apr_pool_t *pool)
{
    return d == SMB2_DIALECT_202   ? "2.0.2"
           : d == SMB2_DIALECT_210 ? "2.1"
           : d == SMB2_DIALECT_300 ? "3.0"
           : d == SMB2_DIALECT_302 ? "3.0.2"
           : d == SMB2_DIALECT_311 ? "3.1.1"
                                   : apr_psprintf(pool, "0x%04x", d);
}

static apr_status_t smb2c_peer_get(xpipe__chan_t *chan, xpipe_peer_t *peer,
                                   apr_pool_t *pool)
{
    smb2_conn_t *c = CH(chan)->c;
    char *sep;

    peer->have |= XPIPE_PEER_REMOTE | XPIPE_PEER_SMB;
    peer->host = apr_pstrdup(pool, c->host);
    peer->address = apr_pstrdup(pool, c->address);
    peer->port = c->port;
    /* Who we are to the server: "user@REALM" or "DOMAIN\user". */
    peer->account = apr_pstrdup(pool, c->guest ? "guest" : c->user);
    sep = strchr(peer->account, '\\');
    if (sep != NULL) {
        *sep = '\0';
        peer->domain = peer->account;
        peer->account = sep + 1;
    }
    else if ((sep = strchr(peer->account, '@')) != NULL) {
        *sep = '\0';
        peer->domain = sep + 1;
    }
    peer->smb_dialect = dialect_text(c->dialect, pool);
    peer->smb_flags = (c->signing ? XPIPE_SMB_SIGNED : 0)
                      | (c->encrypting ? XPIPE_SMB_ENCRYPTED : 0)
                      | (c->guest ? XPIPE_SMB_GUEST : 0);
    peer->smb_auth = apr_pstrdup(pool, c->guest ? "guest" : c->mech);
    return APR_SUCCESS;
}

static apr_status_t smb2c_resolve(const char **native, xpipe__name_t *name,
                                  apr_pool_t *pool)
{
    *native = apr_psprintf(pool, "\\\\%s\\pipe\\%s", name->host, name->name);
    return APR_SUCCESS;
}

static apr_status_t smb2c_os_handle_get(xpipe__chan_t *chan,
                                        xpipe_os_handle_t *handle)
{
    (void)chan;
    (void)handle;
    return xpipe__fail(APR_ENOTIMPL, "a remote pipe has no handle to wait on "
                                     "(its replies come through a thread)");
}

/* Only what a remote pipe's channel does: listeners, poll sets, pairs,
 * children, adoption and handles are left out (lib/ answers for them: a
 * listen on a remote name is XPIPE_EREMOTE; and it makes no listener or
 * set of this transport). */
const xpipe__backend_t xpipe__smb2_backend = {
    .name = "smb2",
    .resolve = smb2c_resolve,
    .dial = smb2c_dial,
    .read = smb2c_read,
    .write = smb2c_write,
    .send = smb2c_send,
    .recv = smb2c_recv,
    .wake = smb2c_wake,
    .unwake = smb2c_unwake,
    .shutdown = smb2c_shutdown,
    .close = smb2c_close,
    .peer_get = smb2c_peer_get,
    .os_handle_get = smb2c_os_handle_get,
};
