/* SPDX-License-Identifier: Apache-2.0 */
/* fds.c — descriptors sent with messages (SCM_RIGHTS): put into a
 * message, taken from one (close-on-exec, at most XPIPE_HANDLES_MAX), and
 * handed to the caller or closed. Used by conn.c (channels with
 * attr->handles) and fast.c (the fast path's answer and marker).
 */
#include "posix.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

void xpipe__unix_fds_close(xpipe__unix_fds_t *f)
{
    while (f->n > 0)
        unix_sys.close(f->fd[--f->n]);
    f->cut = 0;
}

void xpipe__unix_fds_take(xpipe__unix_fds_t *f, struct msghdr *m)
{
    struct cmsghdr *h;

    if (m->msg_flags & MSG_CTRUNC)
        f->cut = 1;
    for (h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h)) {
        const unsigned char *p = CMSG_DATA(h);
        apr_size_t k, count;
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
            continue;
        count = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (k = 0; k < count; k++) {
            int fd;
            memcpy(&fd, p + k * sizeof(int), sizeof(fd));
            if (!UNIX_CMSG_CLOEXEC)
                fcntl(fd, F_SETFD, FD_CLOEXEC);
            if (f->n < XPIPE_HANDLES_MAX)
                f->fd[f->n++] = fd;
            else {
                unix_sys.close(fd);
                f->cut = 1;
            }
        }
    }
}

/* A message was delivered: its descriptors go to the caller (count:
 * room checked) or, for a receive that asked for none, are closed. A
 * peer that broke the limit gets none handed on: XPIPE_EBADHANDLE. */
apr_status_t xpipe__unix_fds_out(xpipe__unix_fds_t *f, xpipe_os_handle_t *hs,
                                 int *count)
{
    int cut = f->cut, i;

    if (count == NULL || cut)
        xpipe__unix_fds_close(f);
    for (i = 0; i < f->n; i++)
        hs[i].fd = f->fd[i];
    if (count)
        *count = f->n;
    f->n = 0;
    if (cut && count)
        return xpipe__fail(XPIPE_EBADHANDLE,
                           "the peer sent more than %d handles with a "
                           "message: they were closed",
                           XPIPE_HANDLES_MAX);
    return APR_SUCCESS;
}

void xpipe__unix_fds_put(struct msghdr *m, xpipe__unix_ctl_t *ctl,
                         const xpipe_os_handle_t *hs, int count)
{
    struct cmsghdr *h;
    int i;

    memset(ctl, 0, sizeof(*ctl));
    m->msg_control = ctl->b;
    m->msg_controllen = CMSG_SPACE(sizeof(int) * (apr_size_t)count);
    h = CMSG_FIRSTHDR(m);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int) * (apr_size_t)count);
    for (i = 0; i < count; i++)
        memcpy(CMSG_DATA(h) + (apr_size_t)i * sizeof(int), &hs[i].fd,
               sizeof(int));
}
