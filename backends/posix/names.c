/* SPDX-License-Identifier: Apache-2.0 */
/* names.c — where portable names live on POSIX: the per-user run
 * directory (created 0700 and checked before every use) and the mapping
 * of a parsed name to a socket path.
 */
#include "posix.h"

#include <apr_strings.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* $XDG_RUNTIME_DIR/xpipe when that directory is ours (euid) and 0700,
 * else /tmp/xpipe-<euid>. Computed only; unix_rundir_check
 * creates/checks it. */
static const char *unix_rundir(uid_t euid, apr_pool_t *pool)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    unsigned long uid;
    char buf[40], digits[24];
    struct stat st;
    int n = 0, at = 11;

    if (xdg && xdg[0] == '/' && unix_sys.lstat(xdg, &st) == 0
        && S_ISDIR(st.st_mode) && st.st_uid == euid
        && (st.st_mode & 0777) == 0700)
        return apr_pstrcat(pool, xdg, "/xpipe", NULL);
    /* "/tmp/xpipe-<uid>", formatted by hand: every connect comes here. */
    uid = (unsigned long)euid;
    do
        digits[n++] = (char)('0' + uid % 10);
    while ((uid /= 10) != 0);
    memcpy(buf, "/tmp/xpipe-", 11);
    while (n > 0)
        buf[at++] = digits[--n];
    return apr_pstrmemdup(pool, buf, (apr_size_t)at);
}

/* Make sure dir is a real directory, ours (euid), with no access for
 * others. With create, make it first. Missing without create:
 * XPIPE_ENOPIPE. */
static apr_status_t unix_rundir_check(const char *dir, uid_t euid, int create)
{
    struct stat st;

    if (create && unix_sys.mkdir(dir, 0700) == 0)
        unix_sys.chmod(dir, 0700); /* the umask may have taken owner bits */
    else if (create && errno != EEXIST)
        return xpipe__fail(APR_FROM_OS_ERROR(errno),
                           "cannot create run directory %s", dir);
    if (unix_sys.lstat(dir, &st) < 0)
        return errno == ENOENT ? XPIPE_ENOPIPE : APR_FROM_OS_ERROR(errno);
    /* lstat does not follow links: a symlink is refused as such. */
    if (S_ISLNK(st.st_mode))
        return xpipe__fail(XPIPE_ERUNDIR, "run directory %s is a symbolic link",
                           dir);
    if (!S_ISDIR(st.st_mode))
        return xpipe__fail(XPIPE_ERUNDIR, "run directory %s is not a directory",
                           dir);
    if (st.st_uid != euid)
        return xpipe__fail(XPIPE_ERUNDIR,
                           "run directory %s belongs to uid %lu, not to us "
                           "(uid %lu)",
                           dir, (unsigned long)st.st_uid, (unsigned long)euid);
    if ((st.st_mode & 077) != 0)
        return xpipe__fail(XPIPE_ERUNDIR,
                           "run directory %s has mode %04o; it must be 0700",
                           dir, (unsigned int)(st.st_mode & 07777));
    return APR_SUCCESS;
}

apr_status_t xpipe__unix_resolve(const char **native, xpipe__name_t *name,
                                 apr_pool_t *pool)
{
    const char *path;

    switch (name->kind) {
    case XPIPE__NAME_REMOTE:
        return xpipe__fail(XPIPE_EREMOTE,
                           "%s: a Unix socket has no host; remote names go "
                           "to the SMB client, which this build lacks "
                           "(meson option smb_client)",
                           name->host ? name->host : "remote name");
    case XPIPE__NAME_PATH: path = name->name; break;
    default:
        /* The one geteuid of a connect: dial checks against it. */
        name->owner = (long)geteuid();
        path = apr_pstrcat(pool, unix_rundir((uid_t)name->owner, pool), "/",
                           name->name, NULL);
        break;
    }
    /* sun_path must hold the path and its NUL: never truncate. */
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return xpipe__fail(
            XPIPE_ENAMETOOLONG,
            "socket path %s is %lu bytes; this OS holds %lu", path,
            (unsigned long)strlen(path),
            (unsigned long)sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    *native = path;
    return APR_SUCCESS;
}

apr_status_t xpipe__unix_name_dir_check(const xpipe__name_t *name,
                                        const char *native, int create,
                                        apr_pool_t *pool)
{
    const char *slash = strrchr(native, '/');

    if (name->kind != XPIPE__NAME_PORTABLE)
        return APR_SUCCESS;
    return unix_rundir_check(
        apr_pstrmemdup(pool, native, (apr_size_t)(slash - native)),
        (uid_t)name->owner, create);
}
