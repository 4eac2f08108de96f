/* SPDX-License-Identifier: Apache-2.0 */
/* backend.c — the SMB client transport: a channel on a pipe opened in
 * IPC$ over its own connection (smb2.h): opened, woken, closed, its
 * peer; and the transport's table, which lib/ chooses for remote names
 * (\\host\pipe\name). The data path is pipe.c.
 */
#include "smb2.h"

#include <apr_strings.h>
#include <stdlib.h>
#include <string.h>

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
                             apr_time_now() + SMB2_BYE_TIME, &s)
            == APR_SUCCESS)
            xpipe__smb2_release(ch->c, s, NULL, NULL);
    }
    xpipe__smb2_conn_close(ch->c);
    xpipe__smb2c_drop_read(ch);
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
    .read = xpipe__smb2c_read,
    .write = xpipe__smb2c_write,
    .send = xpipe__smb2c_send,
    .recv = xpipe__smb2c_recv,
    .wake = smb2c_wake,
    .unwake = smb2c_unwake,
    .shutdown = smb2c_shutdown,
    .close = smb2c_close,
    .peer_get = smb2c_peer_get,
    .os_handle_get = smb2c_os_handle_get,
};
