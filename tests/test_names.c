/* SPDX-License-Identifier: Apache-2.0 */
/* test_names.c — the name table: mapping, case-insensitivity, the
 * `\\.\pipe\` prefix, explicit paths, and names that must be rejected.
 */
#include "xtest.h"

#include "xpipe_config.h"

#include <string.h>

static void names_cross(const char *lname, const char *cname)
{
    xt_serve_check(lname, cname, NULL, NULL);
}

static void test_portable_maps_native(void)
{
    const char *native = NULL;

    XT_OK(xpipe_name_resolve(&native, "chat", xt_p));
#ifdef _WIN32
    CU_ASSERT_STRING_EQUAL(native, "\\\\.\\pipe\\chat");
#else
    /* <rundir>/chat, rundir being $XDG_RUNTIME_DIR/xpipe or /tmp/xpipe-uid */
    CU_ASSERT_PTR_NOT_NULL_FATAL(native);
    CU_ASSERT_EQUAL(native[0], '/');
    CU_ASSERT_PTR_NOT_NULL(strstr(native, "xpipe"));
    CU_ASSERT_STRING_EQUAL(native + strlen(native) - 5, "/chat");
#endif
}

static void test_case_insensitive(void)
{
    const char *a = NULL, *b = NULL;
    const char *name = xt_name();
    char *upper = apr_pstrdup(xt_p, name);
    char *p;

    for (p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'z')
            *p = (char)(*p - 'a' + 'A');
    XT_OK(xpipe_name_resolve(&a, "MixedCase", xt_p));
    XT_OK(xpipe_name_resolve(&b, "mixedcase", xt_p));
    CU_ASSERT_STRING_EQUAL(a, b);
    names_cross(name, upper);
}

static void test_local_prefix_same_as_plain(void)
{
    const char *name = xt_name();
    const char *a = NULL, *b = NULL;

    XT_OK(xpipe_name_resolve(&a, name, xt_p));
    XT_OK(xpipe_name_resolve(&b, apr_pstrcat(xt_p, "\\\\.\\pipe\\", name, NULL),
                             xt_p));
    CU_ASSERT_STRING_EQUAL(a, b);
    /* "PIPE" is as good as "pipe", like on Windows. */
    XT_OK(xpipe_name_resolve(&b, apr_pstrcat(xt_p, "\\\\.\\PIPE\\", name, NULL),
                             xt_p));
    CU_ASSERT_STRING_EQUAL(a, b);
    names_cross(apr_pstrcat(xt_p, "\\\\.\\pipe\\", name, NULL), name);
}

static void test_explicit_path(void)
{
    const char *native = NULL;
#ifdef _WIN32
    XT_STATUS(xpipe_name_resolve(&native, "/tmp/x.sock", xt_p), XPIPE_EBADNAME);
#else
    const char *path = apr_psprintf(xt_p, "/tmp/%s.sock", xt_name());

    XT_OK(xpipe_name_resolve(&native, path, xt_p));
    CU_ASSERT_STRING_EQUAL(native, path);
    names_cross(path, path);
#endif
}

static void test_empty_rejected(void)
{
    const char *native = NULL;
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL;

    XT_STATUS(xpipe_name_resolve(&native, "", xt_p), XPIPE_EBADNAME);
    XT_STATUS(xpipe_listen(&l, "", NULL, xt_p), XPIPE_EBADNAME);
    CU_ASSERT_PTR_NULL(l);
    XT_STATUS(xpipe_connect(&c, "", NULL, 0, xt_p), XPIPE_EBADNAME);
    CU_ASSERT_PTR_NULL(c);
    XT_STATUS(xpipe_name_resolve(&native, "\\\\.\\pipe\\", xt_p),
              XPIPE_EBADNAME);
}

static void test_invalid_chars_rejected(void)
{
    static const char *bad[] = {
        "a/b",
        "a\\b",
        ".",
        "..",
        "tab\there",
        "bell\a",
        "del\x7f",
        "\\\\.\\nopipe\\x",
        "\\\\\\pipe\\x",
        "\\single",
        "\\\\?\\pipe\\x",
        "\\\\.\\pipe\\a\\b",
        "\\\\.\\pipe",
    };
    const char *native;
    apr_size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        native = NULL;
        if (!XT_STATUS(xpipe_name_resolve(&native, bad[i], xt_p),
                       XPIPE_EBADNAME))
            printf("  name was \"%s\"\n", bad[i]);
        CU_ASSERT_PTR_NULL(native);
    }
}

static void test_too_long_rejected(void)
{
    char name[300];
    const char *native = NULL;
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL;

    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    XT_STATUS(xpipe_name_resolve(&native, name, xt_p), XPIPE_ENAMETOOLONG);
    XT_STATUS(xpipe_listen(&l, name, NULL, xt_p), XPIPE_ENAMETOOLONG);
    XT_STATUS(xpipe_connect(&c, name, NULL, 0, xt_p), XPIPE_ENAMETOOLONG);
    /* 247 characters is the portable limit; longer is refused everywhere. */
    name[248] = '\0';
    XT_STATUS(xpipe_name_resolve(&native, name, xt_p), XPIPE_ENAMETOOLONG);
}

static void test_longest_name_fits_or_refused(void)
{
    /* The longest name this OS holds works end to end; one more character
     * is XPIPE_ENAMETOOLONG, never a truncated name. */
    char name[260];
    const char *native = NULL, *unique = xt_name();
    apr_size_t len, start = strlen(unique);
    apr_status_t rv = APR_SUCCESS;

    /* This process's own name, made longer: the same suite run in two
     * processes at once (a soak with --jobs, two legs) must not meet. */
    memset(name, 0, sizeof(name));
    memcpy(name, unique, start);
    for (len = start + 1; len <= 247; len++) {
        name[len - 1] = (char)('a' + len % 26);
        rv = xpipe_name_resolve(&native, name, xt_p);
        if (rv != APR_SUCCESS)
            break;
    }
    if (len <= 247) {
        XT_STATUS(rv, XPIPE_ENAMETOOLONG);
        name[len - 1] = '\0';
    }
    /* name is now the longest that resolves */
    CU_ASSERT_TRUE(strlen(name) > 20);
    XT_OK(xpipe_name_resolve(&native, name, xt_p));
    CU_ASSERT_PTR_NOT_NULL(strstr(native, name));
    names_cross(name, name);
}

static void test_remote_name(void)
{
    const char *native = NULL;
    xpipe_t *c = NULL;
    apr_status_t rv;

#ifdef _WIN32
    XT_OK(xpipe_name_resolve(&native, "\\\\Host1\\pipe\\Chat", xt_p));
    CU_ASSERT_STRING_EQUAL(native, "\\\\Host1\\pipe\\chat");
    /* Error path only: Wine has no SMB redirector, so no remote open can
     * succeed here; a missing remote pipe must still be a clear status. */
    rv = xpipe_connect(&c, "\\\\localhost\\pipe\\xpipe-none", NULL, 200000,
                       xt_p);
    CU_ASSERT(rv == XPIPE_ENOPIPE);
#elif defined(XPIPE__REMOTE_BACKEND)
    /* The SMB client opens remote names (test_smbclient.c); a host that
     * cannot exist (RFC 6761's .invalid) is no pipe, said at once. */
    XT_OK(xpipe_name_resolve(&native, "\\\\Host1\\pipe\\Chat", xt_p));
    CU_ASSERT_STRING_EQUAL(native, "\\\\Host1\\pipe\\chat");
    rv = xpipe_connect(&c, "\\\\xpipe-none.invalid\\pipe\\chat", NULL, XT_LONG,
                       xt_p);
    XT_STATUS(rv, XPIPE_ENOPIPE);
    {
        xpipe_listener_t *l = NULL;

        XT_STATUS(xpipe_listen(&l, "\\\\host\\pipe\\chat", NULL, xt_p),
                  XPIPE_EREMOTE);
    }
#else
    XT_STATUS(xpipe_name_resolve(&native, "\\\\host\\pipe\\chat", xt_p),
              XPIPE_EREMOTE);
    rv = xpipe_connect(&c, "\\\\host\\pipe\\chat", NULL, 0, xt_p);
    XT_STATUS(rv, XPIPE_EREMOTE);
#endif
    CU_ASSERT_PTR_NULL(c);
}

/* Names must be well-formed UTF-8 on every OS (Windows needs UTF-16):
 * resolve, listen and connect all refuse the same ones. */
static void test_utf8_names(void)
{
    static const char *const bad[] = {
        "\xff",             /* never in UTF-8 */
        "a\xc0\x80",        /* overlong NUL */
        "\xe0\x80\xaf",     /* overlong '/' */
        "\xed\xa0\x80",     /* a UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "ab\xe2\x82",       /* cut short */
        "\x80x",            /* a lone continuation byte */
    };
    const char *native = NULL, *good;
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *n = apr_pstrcat(xt_p, xt_name(), bad[i], NULL);
        XT_STATUS(xpipe_name_resolve(&native, n, xt_p), XPIPE_EBADNAME);
        XT_STATUS(xpipe_listen(&l, n, NULL, xt_p), XPIPE_EBADNAME);
        XT_STATUS(xpipe_connect(&c, n, NULL, 0, xt_p), XPIPE_EBADNAME);
        XT_STATUS(xpipe_name_resolve(
                      &native,
                      apr_pstrcat(xt_p, "\\\\h", bad[i], "\\pipe\\x", NULL),
                      xt_p),
                  XPIPE_EBADNAME);
    }
    /* Non-ASCII that is well formed works end to end: café, 日本, 🙂. */
    good = apr_pstrcat(xt_p, xt_name(),
                       "-caf\xc3\xa9-\xe6\x97\xa5\xe6\x9c\xac-"
                       "\xf0\x9f\x99\x82",
                       NULL);
    XT_OK(xpipe_name_resolve(&native, good, xt_p));
    CU_ASSERT_PTR_NOT_NULL(xt_serve_check(good, good, &c, &s));
}

CU_TestInfo xt_names_tests[] = {
    { "portable name maps to the native name", test_portable_maps_native },
    { "names are case-insensitive", test_case_insensitive },
    { "\\\\.\\pipe\\x is the same as x", test_local_prefix_same_as_plain },
    { "explicit socket path (POSIX) / invalid (Windows)", test_explicit_path },
    { "empty names rejected", test_empty_rejected },
    { "invalid characters and forms rejected", test_invalid_chars_rejected },
    { "names are UTF-8 on every OS", test_utf8_names },
    { "too long names rejected, never truncated", test_too_long_rejected },
    { "longest name that fits works end to end",
      test_longest_name_fits_or_refused },
    { "remote \\\\host\\pipe\\x names (Windows: error path only, Wine has "
      "no SMB redirector)",
      test_remote_name },
    CU_TEST_INFO_NULL,
};
