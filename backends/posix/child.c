/* SPDX-License-Identifier: Apache-2.0 */
/* child.c — channels without a name: socket pairs, a child started with
 * one end as its only extra descriptor, and channels and listeners over
 * descriptors made elsewhere (adopt).
 */
#include "posix.h"

#include <apr_strings.h>

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

/* The descriptor a child started by xpipe_spawn finds its end on: the
 * first after the standard three. */
#define UNIX_CHILD_FD 3

apr_status_t xpipe__unix_pair(xpipe__chan_t **a, xpipe__chan_t **b,
                              const xpipe_attr_t *attr, apr_pool_t *pa,
                              apr_pool_t *pb)
{
    int fds[2];
    apr_status_t rv = xpipe__unix_socket_pair(fds, attr);

    if (rv != APR_SUCCESS)
        return xpipe__fail(rv, "cannot make a socket pair");
    /* Both ends are ours: no hello byte (framed builds) is needed. */
    rv = xpipe__unix_chan_new(a, fds[0], attr, UNIX_MSG_FRAMES(attr), pa);
    if (rv == APR_SUCCESS)
        rv = xpipe__unix_chan_new(b, fds[1], attr, UNIX_MSG_FRAMES(attr), pb);
    if (rv != APR_SUCCESS) {
        unix_sys.close(fds[0]);
        unix_sys.close(fds[1]);
    }
    return rv;
}

apr_status_t xpipe__unix_spawn(apr_proc_t *proc, xpipe__chan_t *mine,
                               xpipe__chan_t *end, const char *program,
                               const char *const *argv, const char *const *env,
                               const char *suffix, apr_pool_t *pool)
{
#ifdef HAVE_POSIX_SPAWN_CLOSEFROM
    const char *line =
        apr_psprintf(pool, "%s=%d%s", XPIPE_CHILD_ENV, UNIX_CHILD_FD, suffix);
    const char *const *envp = xpipe__env_with(
        env ? env : (const char *const *)environ, XPIPE_CHILD_ENV, line, pool);
    posix_spawn_file_actions_t fa;
    int fd = end->fd, moved = -1, rc;
    pid_t pid;

    (void)mine; /* descriptors travel without knowing the peer */
    /* Said at once where posix_spawn cannot say it (an emulated vfork,
     * as under valgrind, reports the exec's failure as exit status 127). */
    if (access(program, X_OK) < 0)
        return xpipe__fail(APR_FROM_OS_ERROR(errno), "cannot start %s: %s",
                           program, strerror(errno));
    /* dup2 onto itself would leave close-on-exec set where the OS does
     * not clear it: move the end off the child's number first. */
    if (fd == UNIX_CHILD_FD) {
        moved = fd = fcntl(end->fd, F_DUPFD_CLOEXEC, UNIX_CHILD_FD + 1);
        if (fd < 0)
            return APR_FROM_OS_ERROR(errno);
    }
    rc = posix_spawn_file_actions_init(&fa);
    if (rc == 0) {
        /* The end on UNIX_CHILD_FD (dup2 clears close-on-exec), and every
         * descriptor above it closed: whatever another thread opens
         * meanwhile, close-on-exec or not, stays out of the child. */
        rc = posix_spawn_file_actions_adddup2(&fa, fd, UNIX_CHILD_FD);
        if (rc == 0)
            rc = posix_spawn_file_actions_addclosefrom_np(&fa,
                                                          UNIX_CHILD_FD + 1);
        if (rc == 0)
            rc = posix_spawn(&pid, program, &fa, NULL, (char *const *)argv,
                             (char *const *)envp);
        posix_spawn_file_actions_destroy(&fa);
    }
    if (moved >= 0)
        unix_sys.close(moved);
    if (rc != 0)
        return xpipe__fail(APR_FROM_OS_ERROR(rc), "cannot start %s: %s",
                           program, strerror(rc));
    proc->pid = pid;
    return APR_SUCCESS;
#else
    (void)proc;
    (void)mine;
    (void)end;
    (void)argv;
    (void)env;
    (void)suffix;
    (void)pool;
    return xpipe__fail(APR_ENOTIMPL,
                       "cannot start %s: this C library cannot close every "
                       "other descriptor in a child "
                       "(posix_spawn_file_actions_addclosefrom_np)",
                       program);
#endif
}

apr_status_t xpipe__unix_handle_parse(xpipe_os_handle_t *h, const char *text)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);

    if (end == text || *end != 0 || v < 0 || v > 1 << 30)
        return xpipe__fail(XPIPE_EBADHANDLE, "\"%s\" is no descriptor", text);
    h->fd = (int)v;
    return APR_SUCCESS;
}

/* Is fd a socket xpipe can take for attr's mode: AF_UNIX, of the mode's
 * type, listening (listening: 1) or connected (0)? */
static apr_status_t unix_adoptable(int fd, const xpipe_attr_t *attr,
                                   int listening)
{
    struct sockaddr_un sa;
    socklen_t n = sizeof(sa);
    int type = 0, acc = 0;
    socklen_t tn = sizeof(type), an = sizeof(acc);
    int want = attr->mode == XPIPE_MODE_MESSAGE && !UNIX_FRAMED ? SOCK_SEQPACKET
                                                                : SOCK_STREAM;
    struct stat st;

    if (fd < 0 || unix_sys.fstat(fd, &st) < 0)
        return xpipe__fail(XPIPE_EBADHANDLE, "descriptor %d is not open", fd);
    if (!S_ISSOCK(st.st_mode))
        return xpipe__fail(XPIPE_EBADHANDLE, "descriptor %d is not a socket",
                           fd);
    memset(&sa, 0, sizeof(sa));
    if (getsockname(fd, (struct sockaddr *)&sa, &n) < 0
        || sa.sun_family != AF_UNIX)
        return xpipe__fail(XPIPE_EBADHANDLE,
                           "descriptor %d is not a Unix domain socket", fd);
    if (unix_sys.getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tn) < 0)
        return APR_FROM_OS_ERROR(errno);
    if (type != want)
        return xpipe__fail(
            XPIPE_EMODE, "descriptor %d is a %s socket; %s mode takes %s", fd,
            type == SOCK_SEQPACKET ? "SOCK_SEQPACKET"
            : type == SOCK_STREAM  ? "SOCK_STREAM"
                                   : "datagram",
            attr->mode == XPIPE_MODE_MESSAGE ? "message" : "byte",
            want == SOCK_SEQPACKET ? "SOCK_SEQPACKET" : "SOCK_STREAM");
#ifdef SO_ACCEPTCONN
    if (unix_sys.getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &an) < 0)
        return APR_FROM_OS_ERROR(errno);
#else
    (void)an;
    acc = listening; /* cannot tell: listen/accept will say */
#endif
    if (!acc != !listening)
        return xpipe__fail(XPIPE_EBADHANDLE,
                           listening ? "descriptor %d is not listening"
                                     : "descriptor %d is a listening socket "
                                       "(xpipe_listener_adopt takes those)",
                           fd);
    if (!listening) {
        n = sizeof(sa);
        if (getpeername(fd, (struct sockaddr *)&sa, &n) < 0)
            return xpipe__fail(XPIPE_EBADHANDLE,
                               "descriptor %d is not connected", fd);
    }
    if (xpipe__unix_cloexec_nonblock(fd) < 0)
        return APR_FROM_OS_ERROR(errno);
    return APR_SUCCESS;
}

apr_status_t xpipe__unix_adopt(xpipe__chan_t **chan, xpipe_os_handle_t h,
                               const xpipe_attr_t *attr, apr_pool_t *pool)
{
    apr_status_t rv = unix_adoptable(h.fd, attr, 0);

    if (rv != APR_SUCCESS)
        return rv;
    return xpipe__unix_chan_new(chan, h.fd, attr, UNIX_MSG_FRAMES(attr), pool);
}

apr_status_t xpipe__unix_listener_adopt(xpipe__lsn_t **lsn, const char **native,
                                        xpipe_os_handle_t h,
                                        const xpipe_attr_t *attr,
                                        apr_pool_t *pool)
{
    struct sockaddr_un sa;
    socklen_t n = sizeof(sa);
    xpipe__lsn_t *l;
    apr_status_t rv = unix_adoptable(h.fd, attr, 1);

    if (rv != APR_SUCCESS)
        return rv;
    rv = xpipe__unix_lsn_new(&l, attr, pool);
    if (rv != APR_SUCCESS)
        return rv;
    /* No lock file and no path to remove: whoever bound it owns those. */
    l->sock.fd = h.fd;
    memset(&sa, 0, sizeof(sa));
    *native = "an adopted socket";
    if (getsockname(h.fd, (struct sockaddr *)&sa, &n) == 0 && sa.sun_path[0])
        *native = apr_pstrndup(pool, sa.sun_path, sizeof(sa.sun_path));
    *lsn = l;
    return APR_SUCCESS;
}
