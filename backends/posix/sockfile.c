/* SPDX-License-Identifier: Apache-2.0 */
/* sockfile.c — a listener's socket file: a lock file so two servers
 * started together cannot both own a name, a stale socket replaced and
 * anything else left alone, the socket bound with exactly its mode and
 * group, and removed at close only while it is still ours. The listener
 * and the SMB export's socket use it.
 */
#include "posix.h"

#include <apr_strings.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Is a live server at path? Connect to find out: refused means stale. */
static int unix_path_is_live(const char *path, const xpipe_attr_t *attr)
{
    struct sockaddr_un sa;
    int fd, rc, live;

    if (xpipe__unix_socket_new(&fd, attr) != APR_SUCCESS)
        return 1; /* cannot tell: never remove what may be live */
    xpipe__unix_sockaddr(&sa, path);
    rc = unix_sys.connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    live = rc == 0 || (errno != ECONNREFUSED && errno != ENOENT);
    unix_sys.close(fd);
    return live;
}

/* bind(), replacing a stale socket file but nothing else. */
static apr_status_t unix_bind(int fd, const char *path,
                              const xpipe_attr_t *attr)
{
    struct sockaddr_un sa;
    struct stat st;
    int tries;

    xpipe__unix_sockaddr(&sa, path);
    for (tries = 0; tries < 2; tries++) {
        if (unix_sys.bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return APR_SUCCESS;
        if (errno != EADDRINUSE)
            return xpipe__fail(APR_FROM_OS_ERROR(errno), "cannot bind %s",
                               path);
        if (unix_sys.lstat(path, &st) < 0)
            continue;              /* gone meanwhile: bind again */
        if (!S_ISSOCK(st.st_mode)) /* a file, directory or link: hands off */
            return xpipe__fail(XPIPE_ENOTSOCK, "%s exists and is a %s", path,
                               S_ISLNK(st.st_mode)   ? "symbolic link"
                               : S_ISDIR(st.st_mode) ? "directory"
                               : S_ISREG(st.st_mode) ? "regular file"
                                                     : "non-socket file");
        if (unix_path_is_live(path, attr))
            return xpipe__fail(XPIPE_EINUSE, "a server is listening on %s",
                               path);
        if (unix_sys.unlink(path) < 0 && errno != ENOENT)
            return APR_FROM_OS_ERROR(errno);
    }
    return XPIPE_EINUSE;
}

/* Why "<path>.lock" could not be opened, in the terms the caller used:
 * the socket's directory, not the lock file xpipe made up. */
static apr_status_t unix_lock_fail(int err, const char *path, const char *lock,
                                   apr_pool_t *pool)
{
    const char *slash = strrchr(path, '/');
    const char *dir =
        slash == path ? "/"
        : slash       ? apr_pstrmemdup(pool, path, (apr_size_t)(slash - path))
                      : ".";

    switch (err) {
    case ENOENT:
        return xpipe__fail(APR_FROM_OS_ERROR(err),
                           "directory %s does not exist", dir);
    case ENOTDIR:
        return xpipe__fail(APR_FROM_OS_ERROR(err),
                           "%s is not a directory (in the path %s)", dir, path);
    case EACCES:
    case EPERM:
    case EROFS:
        return xpipe__fail(APR_FROM_OS_ERROR(err),
                           "cannot create %s in directory %s", path, dir);
    case ELOOP:
        return xpipe__fail(XPIPE_ENOTSOCK, "%s is a symbolic link", lock);
    default:
        return xpipe__fail(APR_FROM_OS_ERROR(err), "cannot open lock file %s",
                           lock);
    }
}

/* Take "<path>.lock" so that two listeners started together cannot both
 * decide that the name is theirs between the check and the bind. The
 * lock file is removed on close; a lock taken on a file that was removed
 * meanwhile is worthless, hence the inode check and retry. */
static apr_status_t unix_lock(int *lock_fd, const char **lock_path,
                              const char *path, apr_pool_t *pool)
{
    const char *lock = apr_pstrcat(pool, path, ".lock", NULL);
    struct stat fst, pst;
    int tries, fd;

    for (tries = 0; tries < 100; tries++) {
        fd = unix_sys.open(lock, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                           0600);
        if (fd < 0)
            return unix_lock_fail(errno, path, lock, pool);
        while (unix_sys.flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int err = errno;
            if (err == EINTR)
                continue;
            unix_sys.close(fd);
            return xpipe__fail(err == EWOULDBLOCK ? XPIPE_EINUSE
                                                  : APR_FROM_OS_ERROR(err),
                               "another server holds %s", lock);
        }
        if (unix_sys.fstat(fd, &fst) == 0 && unix_sys.lstat(lock, &pst) == 0
            && fst.st_dev == pst.st_dev && fst.st_ino == pst.st_ino) {
            *lock_fd = fd;
            *lock_path = lock;
            return APR_SUCCESS;
        }
        /* Its previous owner removed it: take the new one. */
        unix_sys.close(fd);
    }
    return XPIPE_EINUSE;
}

/* Lock, bind and listen on one socket file (attr gives its type, mode,
 * group and backlog). On failure everything taken is released again: the
 * socket file too, since we hold the lock and it is still ours. */
apr_status_t xpipe__unix_sock_open(xpipe__unix_sock_file_t *f, const char *path,
                                   const xpipe_attr_t *attr, apr_pool_t *pool)
{
    struct stat st;
    apr_status_t rv;
    int bound = 0;

    f->fd = f->lock_fd = -1;
    f->path = path;
    rv = unix_lock(&f->lock_fd, &f->lock_path, path, pool);
    if (rv == APR_SUCCESS)
        rv = xpipe__unix_socket_new(&f->fd, attr);
    if (rv == APR_SUCCESS) {
        /* On Linux bind() gives the socket file the mode of the socket's
         * inode (less the umask), so it is never wider than asked for,
         * not even for an instant; chmod then sets it exactly. */
        unix_sys.fchmod(f->fd, (mode_t)attr->permissions);
        rv = unix_bind(f->fd, path, attr);
        bound = rv == APR_SUCCESS;
    }
    if (rv == APR_SUCCESS && attr->group >= 0
        && unix_sys.chown(path, (uid_t)-1, (gid_t)attr->group) < 0)
        rv = xpipe__fail(APR_FROM_OS_ERROR(errno),
                         "cannot give %s to group %ld", path, attr->group);
    if (rv == APR_SUCCESS
        && (unix_sys.chmod(path, (mode_t)attr->permissions) < 0
            || unix_sys.lstat(path, &st) < 0))
        rv = xpipe__fail(APR_FROM_OS_ERROR(errno), "cannot set the mode of %s",
                         path);
    if (rv == APR_SUCCESS) {
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        if (unix_sys.listen(f->fd, attr->instances) < 0)
            rv = APR_FROM_OS_ERROR(errno);
    }
    if (rv != APR_SUCCESS) {
        if (bound)
            unix_sys.unlink(path);
        xpipe__unix_close_fd(&f->fd);
        if (f->lock_fd >= 0)
            unix_sys.unlink(f->lock_path);
        xpipe__unix_close_fd(&f->lock_fd);
    }
    return rv;
}

/* Close a socket file opened by unix_sock_open. */
void xpipe__unix_sock_close(xpipe__unix_sock_file_t *f)
{
    struct stat st;

    xpipe__unix_close_fd(&f->fd);
    if (f->lock_fd < 0)
        return; /* never opened, or adopted: no file of ours */
    /* Remove the socket file only if it is still the one we bound, and
     * while we still hold the lock, so a new listener's is never hit. */
    if (unix_sys.lstat(f->path, &st) == 0 && st.st_dev == f->dev
        && st.st_ino == f->ino)
        unix_sys.unlink(f->path);
    unix_sys.unlink(f->lock_path);
    xpipe__unix_close_fd(&f->lock_fd);
}
