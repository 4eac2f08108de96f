/* SPDX-License-Identifier: Apache-2.0 */
/* test_paths.c — who owns a name: a live server keeps it; on POSIX a
 * stale socket file is replaced, other files are never touched, the
 * listener removes only its own socket, and modes are exact.
 */
#include "xtest.h"

#include <string.h>

#ifndef _WIN32
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#endif

static void test_live_name_in_use(void)
{
    xpipe_listener_t *l1, *l2 = NULL;
    xpipe_t *c = NULL, *s = NULL;
    const char *name = xt_name();

    l1 = xt_serve_check(name, name, &c, &s);
    XT_STATUS(xpipe_listen(&l2, name, NULL, xt_p), XPIPE_EINUSE);
    CU_ASSERT_PTR_NULL(l2);
    /* The first server keeps serving: its channel and new clients. */
    xt_roundtrip(s, c, '1');
    XT_OK(xpipe_connect(&c, name, NULL, XT_LONG, xt_p));
    XT_OK(xpipe_accept(&s, l1, XT_LONG, xt_p));
    xt_roundtrip(c, s, '2');
}

#ifndef _WIN32
static const char *paths_tmp(void)
{
    return apr_psprintf(xt_p, "/tmp/%s.sock", xt_name());
}

static void paths_serve_check(const char *path)
{
    XT_OK(xpipe_listener_close(xt_serve_check(path, path, NULL, NULL)));
}

static void test_stale_socket_replaced(void)
{
    const char *path = paths_tmp();
    struct sockaddr_un sa;
    xpipe_t *c = NULL;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    /* A socket file nobody listens on: what a crashed server leaves. */
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(fd);
    XT_STATUS(xpipe_connect(&c, path, NULL, 0, xt_p), XPIPE_ENOPIPE);
    paths_serve_check(path);
    CU_ASSERT(access(path, F_OK) != 0); /* and removed on close */
}

static void test_regular_file_untouched(void)
{
    const char *path = paths_tmp();
    xpipe_listener_t *l = NULL;
    struct stat before, after;
    char buf[16] = { 0 };
    FILE *f = fopen(path, "w");

    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs("precious", f);
    fclose(f);
    stat(path, &before);
    XT_STATUS(xpipe_listen(&l, path, NULL, xt_p), XPIPE_ENOTSOCK);
    CU_ASSERT_EQUAL_FATAL(stat(path, &after), 0);
    CU_ASSERT_EQUAL(before.st_ino, after.st_ino);
    f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_PTR_NOT_NULL(fgets(buf, sizeof(buf), f));
    fclose(f);
    CU_ASSERT_STRING_EQUAL(buf, "precious");
    unlink(path);
}

static void test_directory_untouched(void)
{
    const char *path = paths_tmp();
    xpipe_listener_t *l = NULL;
    struct stat st;

    CU_ASSERT_EQUAL_FATAL(mkdir(path, 0700), 0);
    XT_STATUS(xpipe_listen(&l, path, NULL, xt_p), XPIPE_ENOTSOCK);
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT(S_ISDIR(st.st_mode));
    rmdir(path);
}

static void test_close_removes_only_own_socket(void)
{
    const char *path = paths_tmp();
    const char *other = apr_pstrcat(xt_p, path, ".other", NULL);
    xpipe_listener_t *l = NULL;
    struct stat st;
    FILE *f;

    XT_OK(xpipe_listen(&l, path, NULL, xt_p));
    /* Someone replaces our socket file with their own file. */
    f = fopen(other, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fclose(f);
    CU_ASSERT_EQUAL_FATAL(rename(other, path), 0);
    XT_OK(xpipe_listener_close(l));
    CU_ASSERT_EQUAL(stat(path, &st), 0); /* theirs, so it stays */
    CU_ASSERT(S_ISREG(st.st_mode));
    unlink(path);
}

static void test_socket_modes_exact(void)
{
    const char *path = paths_tmp();
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE);
    xpipe_listener_t *l = NULL;
    struct stat st;
    mode_t old;

    /* Default: owner only, whatever the umask. */
    old = umask(0);
    XT_OK(xpipe_listen(&l, path, NULL, xt_p));
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
    XT_OK(xpipe_listener_close(l));
    /* Widened on request, even against a strict umask. */
    umask(077);
    XT_OK(xpipe_attr_permissions_set(a, 0660));
    XT_OK(xpipe_listen(&l, path, a, xt_p));
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0660);
    umask(old);
    XT_OK(xpipe_listener_close(l));
    paths_serve_check(path); /* and the path serves again at once */
}

/* Run dir checks: XDG_RUNTIME_DIR points at a private test directory. */
static void test_rundir_checked(void)
{
    char tmpl[] = "/tmp/xt-xdg-XXXXXX";
    const char *old = getenv("XDG_RUNTIME_DIR");
    char *saved = old ? apr_pstrdup(xt_p, old) : NULL;
    const char *dir = mkdtemp(tmpl), *sub, *native = NULL;
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL;
    struct stat st;

    CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
    chmod(dir, 0700);
    sub = apr_pstrcat(xt_p, dir, "/xpipe", NULL);
    setenv("XDG_RUNTIME_DIR", dir, 1);
    /* Created 0700 on first use, and used. */
    XT_OK(xpipe_name_resolve(&native, "rd", xt_p));
    CU_ASSERT_STRING_EQUAL(native, apr_pstrcat(xt_p, sub, "/rd", NULL));
    paths_serve_check("rd");
    CU_ASSERT_EQUAL(lstat(sub, &st), 0);
    CU_ASSERT(S_ISDIR(st.st_mode));
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
    /* Opened up to others: refused, by server and client alike, with a
     * detail that names the directory and the problem. */
    chmod(sub, 0755);
    XT_STATUS(xpipe_listen(&l, "rd", NULL, xt_p), XPIPE_ERUNDIR);
    CU_ASSERT_STRING_EQUAL(xpipe_error_detail(),
                           apr_psprintf(xt_p,
                                        "run directory %s has mode 0755; "
                                        "it must be 0700",
                                        sub));
    XT_STATUS(xpipe_connect(&c, "rd", NULL, 0, xt_p), XPIPE_ERUNDIR);
    /* Owned by someone else (root can arrange that): refused. */
    if (geteuid() == 0) {
        chmod(sub, 0700);
        CU_ASSERT_EQUAL(chown(sub, 65534, 65534), 0);
        XT_STATUS(xpipe_listen(&l, "rd", NULL, xt_p), XPIPE_ERUNDIR);
        CU_ASSERT(strstr(xpipe_error_detail(), "belongs to uid 65534") != NULL);
        CU_ASSERT_EQUAL(chown(sub, 0, 0), 0);
    }
    /* A symbolic link in its place: refused, and not followed. */
    chmod(sub, 0700);
    rmdir(sub);
    CU_ASSERT_EQUAL(symlink("/tmp", sub), 0);
    XT_STATUS(xpipe_listen(&l, "rd", NULL, xt_p), XPIPE_ERUNDIR);
    CU_ASSERT(strstr(xpipe_error_detail(), "is a symbolic link") != NULL);
    XT_STATUS(xpipe_connect(&c, "rd", NULL, 0, xt_p), XPIPE_ERUNDIR);
    CU_ASSERT(access("/tmp/rd", F_OK) != 0);
    unlink(sub);
    /* A regular file in its place: refused, and left as it was. */
    {
        FILE *f = fopen(sub, "w");
        struct stat before, after;
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        fputs("mine", f);
        fclose(f);
        stat(sub, &before);
        XT_STATUS(xpipe_listen(&l, "rd", NULL, xt_p), XPIPE_ERUNDIR);
        CU_ASSERT(strstr(xpipe_error_detail(), "is not a directory") != NULL);
        CU_ASSERT_EQUAL(stat(sub, &after), 0);
        CU_ASSERT_EQUAL(before.st_ino, after.st_ino);
        CU_ASSERT_EQUAL(after.st_size, 4);
        unlink(sub);
    }
    /* An XDG_RUNTIME_DIR that is not 0700 is not used at all. */
    chmod(dir, 0755);
    XT_OK(xpipe_name_resolve(&native, "rd", xt_p));
    CU_ASSERT_PTR_NULL(strstr(native, dir));
    rmdir(dir);
    if (saved)
        setenv("XDG_RUNTIME_DIR", saved, 1);
    else
        unsetenv("XDG_RUNTIME_DIR");
}

static void test_missing_directory(void)
{
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL;

    XT_STATUS(xpipe_listen(&l, "/tmp/xt-no-such-dir/x.sock", NULL, xt_p),
              APR_ENOENT);
    XT_STATUS(xpipe_connect(&c, "/tmp/xt-no-such-dir/x.sock", NULL, 0, xt_p),
              XPIPE_ENOPIPE);
}
#endif

CU_TestInfo xt_paths_tests[] = {
    { "a live name is in use; the first server keeps it",
      test_live_name_in_use },
#ifndef _WIN32
    { "stale socket file replaced", test_stale_socket_replaced },
    { "regular file at the path: XPIPE_ENOTSOCK, untouched",
      test_regular_file_untouched },
    { "directory at the path: XPIPE_ENOTSOCK, untouched",
      test_directory_untouched },
    { "close removes only its own socket file",
      test_close_removes_only_own_socket },
    { "socket modes exact: 0600 default, widened on request",
      test_socket_modes_exact },
    { "run directory created 0700 and checked", test_rundir_checked },
    { "missing directory: clear statuses", test_missing_directory },
#endif
    CU_TEST_INFO_NULL,
};
