/* SPDX-License-Identifier: Apache-2.0 */
/* export.c — the SMB export of a POSIX listener: a stream socket named
 * after the pipe in a local Samba's np directory. smbd forwards each open
 * of \\host\pipe\<name> there; the handshake (npa.h) is done before
 * accept returns, and such a channel carries a plain stream (byte mode)
 * or frames of a little-endian u16 length (message mode). Built with
 * -Dsmb_export=enabled (the default where Samba's protocol applies).
 */
#include "../posix/posix.h"
#include "npa.h"

#include <apr_strings.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* How long accept waits for smbd's handshake request. */
#define UNIX_NPA_WAIT (2 * APR_USEC_PER_SEC)

/* Samba's np directory: the attribute's, else "<ncalrpc dir>/np" with the
 * ncalrpc dir from smb.conf's [global], else Samba's built-in one. */
static const char *smb_np_dir(const xpipe_attr_t *attr, apr_pool_t *pool)
{
    const char *ncalrpc = NULL, *dir;
    apr_size_t cap = 1024 * 1024, got = 0;
    apr_pool_t *tmp = NULL;
    char *text;
    ssize_t n;
    int fd;

    if (attr->smb_np_dir)
        return attr->smb_np_dir;
    /* The file (up to 1 MiB) is read into a scratch pool, not kept. */
    fd = unix_sys.open(XPIPE_SAMBA_CONF, O_RDONLY | O_CLOEXEC, 0);
    if (fd >= 0 && apr_pool_create(&tmp, pool) == APR_SUCCESS) {
        text = apr_palloc(tmp, cap);
        while (got < cap
               && ((n = unix_sys.read(fd, text + got, cap - got)) > 0
                   || (n < 0 && errno == EINTR)))
            got += n > 0 ? (apr_size_t)n : 0;
        ncalrpc = xpipe__smbconf_ncalrpc_dir(text, got, tmp);
    }
    if (fd >= 0)
        unix_sys.close(fd);
    dir = apr_pstrcat(pool, ncalrpc ? ncalrpc : XPIPE_SAMBA_NCALRPC_DIR, "/np",
                      NULL);
    if (tmp)
        apr_pool_destroy(tmp);
    return dir;
}

/* Export the listener to SMB clients: a stream socket named after the
 * pipe (lower-cased) in Samba's np directory. */
apr_status_t xpipe__smb_listen(xpipe__lsn_t *l, const xpipe__name_t *name,
                               apr_pool_t *pool)
{
    const char *dir = smb_np_dir(l->attr, pool), *path;
    struct stat st;

    if (unix_sys.lstat(dir, &st) < 0)
        return xpipe__fail(errno == ENOENT ? XPIPE_ENOPIPE
                                           : APR_FROM_OS_ERROR(errno),
                           "Samba's np directory %s: %s (is Samba installed, "
                           "and has smbd started once?)",
                           dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return xpipe__fail(APR_ENOTDIR,
                           "Samba's np directory %s is not a "
                           "directory",
                           dir);
    if (access(dir, W_OK | X_OK) < 0)
        return xpipe__fail(APR_EACCES,
                           "cannot create a socket in Samba's "
                           "np directory %s (owner uid %lu, mode %04o): run "
                           "the server as that user",
                           dir, (unsigned long)st.st_uid,
                           (unsigned int)(st.st_mode & 07777));
    path = apr_pstrcat(pool, dir, "/", name->pipe, NULL);
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return xpipe__fail(XPIPE_ENAMETOOLONG,
                           "socket path %s is too long "
                           "for this OS",
                           path);
    /* smbd connects with a stream socket, as root or as its own user. */
    l->smb_attr = *l->attr;
    l->smb_attr.mode = XPIPE_MODE_BYTE;
    l->smb_attr.permissions = 0600;
    l->smb_attr.group = -1;
    return xpipe__unix_sock_open(&l->smb, path, &l->smb_attr, pool);
}

/* A connection forwarded by smbd: read its handshake request (waiting at
 * most UNIX_NPA_WAIT), parse it, answer with our mode. On success *info
 * holds the client's identity (from a pool that lives with the channel).
 * Otherwise the fd is closed, the reason logged (unless the listener was
 * woken: XPIPE_ECANCELED), and XPIPE_EMODE returned. */
static apr_status_t smb_handshake(int fd, xpipe__lsn_t *l,
                                  const xpipe__npa_info_t **info,
                                  apr_pool_t *pool)
{
    apr_time_t until = apr_time_now() + UNIX_NPA_WAIT;
    unsigned char hdr[4], reply[XPIPE__NPA_REPLY_LEN], *req = NULL;
    xpipe__npa_info_t *in;
    apr_pool_t *sub = NULL;
    apr_size_t len = 0, sent = 0;
    char why[256] = "";
    apr_status_t rv;
    ssize_t n;

    rv = xpipe__unix_recv_exact(fd, hdr, 4, &l->wake, until);
    if (rv == APR_SUCCESS) {
        len = xpipe__npa_length(hdr);
        if (len < 12 || len > XPIPE__NPA_MAX) {
            apr_snprintf(why, sizeof(why),
                         "handshake of %lu bytes announced "
                         "(12 to %lu expected)",
                         (unsigned long)len, (unsigned long)XPIPE__NPA_MAX);
            rv = APR_EGENERAL;
        }
        else if ((req = malloc(len + 4)) == NULL)
            rv = APR_ENOMEM;
        else {
            memcpy(req, hdr, 4);
            rv = xpipe__unix_recv_exact(fd, req + 4, len, &l->wake, until);
        }
    }
    if (rv == APR_SUCCESS)
        rv = apr_pool_create(&sub, pool);
    if (rv == APR_SUCCESS) {
        in = apr_palloc(sub, sizeof(*in));
        rv = xpipe__npa_parse(in, req, len, why, sizeof(why), sub);
    }
    free(req);
    xpipe__npa_reply(reply, l->attr->mode == XPIPE_MODE_MESSAGE);
    while (rv == APR_SUCCESS && sent < sizeof(reply)) {
        n = unix_sys.send(fd, reply + sent, sizeof(reply) - sent, MSG_NOSIGNAL);
        if (n > 0)
            sent += (apr_size_t)n;
        else {
            if (n == 0)
                errno = EAGAIN;
            rv = xpipe__unix_again(fd, POLLOUT, &l->wake, until, NULL);
        }
    }
    if (rv == APR_SUCCESS) {
        *info = in;
        return APR_SUCCESS;
    }
    unix_sys.close(fd);
    if (sub)
        apr_pool_destroy(sub);
    if (rv == XPIPE_ECANCELED)
        return rv;
    if (why[0] == '\0') {
        if (APR_STATUS_IS_TIMEUP(rv))
            apr_snprintf(why, sizeof(why), "no handshake within %d s",
                         (int)(UNIX_NPA_WAIT / APR_USEC_PER_SEC));
        else if (APR_STATUS_IS_EOF(rv))
            apr_cpystrn(why, "closed during the handshake", sizeof(why));
        else
            apr_strerror(rv, why, sizeof(why));
    }
    xpipe__log(l->attr, "dropped an SMB connection on %s: %s", l->smb.path,
               why);
    return XPIPE_EMODE;
}

apr_status_t xpipe__smb_accept(xpipe__chan_t **out, xpipe__lsn_t *l,
                               apr_pool_t *pool)
{
    const xpipe__npa_info_t *info;
    apr_status_t rv;
    int fd;

    do
        fd = unix_sys.accept(l->smb.fd, NULL, NULL);
    while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (fd < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK
                   ? APR_EAGAIN
                   : APR_FROM_OS_ERROR(errno);
    rv = smb_handshake(fd, l, &info, pool);
    if (rv != APR_SUCCESS)
        return rv == XPIPE_ECANCELED ? rv : APR_EAGAIN;
    rv = xpipe__unix_chan_new(out, fd, l->attr,
                              l->attr->mode == XPIPE_MODE_MESSAGE
                                  ? XPIPE__FRAME_U16LE
                                  : XPIPE__FRAME_NONE,
                              pool);
    if (rv == APR_SUCCESS)
        (*out)->smb = info;
    return rv;
}
