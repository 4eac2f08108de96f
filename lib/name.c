/* SPDX-License-Identifier: Apache-2.0 */
/* name.c — PRIVATE: parsing of portable pipe names (see the Names table in
 * include/xpipe.h). The backend maps the parsed name to a native one.
 */
#include "backend.h"
#include "helpers.h"

#include <apr_strings.h>
#include <string.h>

/* "\\.\pipe\" is 9 characters and Windows caps a pipe path at 256, so this
 * is the longest portable name that every OS can hold. */
#define NAME_PORTABLE_MAX 247

static int name_char_ok(unsigned char c)
{
    return c >= 0x20 && c != 0x7f && c != '/' && c != '\\';
}

/* Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates,
 * nothing above U+10FFFF. A portable name means the same on every OS:
 * Windows needs it as UTF-16, so every OS refuses what would not convert. */
static int name_utf8_ok(const unsigned char *s, apr_size_t len)
{
    apr_size_t i = 0, n, k;
    apr_uint32_t cp, min;

    while (i < len) {
        unsigned int c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
            min = 0x80;
        }
        else if ((c & 0xf0) == 0xe0) {
            n = 2;
            cp = c & 0x0f;
            min = 0x800;
        }
        else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
            min = 0x10000;
        }
        else
            return 0; /* a continuation byte, or 0xc0, 0xc1, 0xf5-0xff */
        if (len - i <= n)
            return 0; /* cut short */
        for (k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += n + 1;
    }
    return 1;
}

static apr_status_t name_check_portable(const char *s, apr_size_t len)
{
    apr_size_t i;

    if (len == 0)
        return XPIPE_EBADNAME;
    if (len > NAME_PORTABLE_MAX)
        return XPIPE_ENAMETOOLONG;
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return XPIPE_EBADNAME;
    for (i = 0; i < len; i++)
        if (!name_char_ok((unsigned char)s[i]))
            return XPIPE_EBADNAME;
    if (!name_utf8_ok((const unsigned char *)s, len))
        return xpipe__fail(XPIPE_EBADNAME, "pipe name is not valid UTF-8");
    return APR_SUCCESS;
}

static char *name_lower(const char *s, apr_pool_t *pool)
{
    char *out = apr_pstrdup(pool, s);
    char *p;

    /* ASCII only: Windows folds more, but a byte-wise rule is the one that
     * gives the same answer on every OS. */
    for (p = out; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return out;
}

/* True when s starts with "pipe\" in any case. */
static int name_is_pipe_word(const char *s)
{
    static const char word[] = "pipe";
    int i;

    for (i = 0; i < 4; i++)
        if ((s[i] | 0x20) != word[i])
            return 0;
    return s[4] == '\\';
}

/* "\\host\pipe\rest": split into host and rest. */
static apr_status_t name_parse_unc(xpipe__name_t *out, const char *s,
                                   apr_pool_t *pool)
{
    const char *host = s + 2;
    const char *sep = strchr(host, '\\');
    const char *rest;
    apr_status_t rv;
    apr_size_t i;

    if (sep == NULL || sep == host)
        return XPIPE_EBADNAME;
    if (!name_is_pipe_word(sep + 1))
        return XPIPE_EBADNAME;
    rest = sep + 6;
    rv = name_check_portable(rest, strlen(rest));
    if (rv != APR_SUCCESS)
        return rv;
    for (i = 0; host + i < sep; i++)
        if (!name_char_ok((unsigned char)host[i]) || host[i] == '?')
            return XPIPE_EBADNAME; /* "\\?\pipe\" is not a pipe name */
    if (!name_utf8_ok((const unsigned char *)host, (apr_size_t)(sep - host)))
        return xpipe__fail(XPIPE_EBADNAME, "host name is not valid UTF-8");
    out->name = out->pipe = name_lower(rest, pool);
    if (sep - host == 1 && host[0] == '.') {
        out->kind = XPIPE__NAME_PORTABLE;
        out->host = NULL;
    }
    else {
        out->kind = XPIPE__NAME_REMOTE;
        out->host = apr_pstrmemdup(pool, host, (apr_size_t)(sep - host));
    }
    return APR_SUCCESS;
}

apr_status_t xpipe__name_parse(xpipe__name_t *out, const char *name,
                               apr_pool_t *pool)
{
    apr_size_t len = strlen(name);
    apr_status_t rv;

    memset(out, 0, sizeof(*out));
    out->owner = -1;
    if (len == 0)
        return XPIPE_EBADNAME;
    if (name[0] == '\\') {
        if (name[1] != '\\')
            return XPIPE_EBADNAME;
        return name_parse_unc(out, name, pool);
    }
    if (name[0] == '/') {
        /* A POSIX path: the OS's bytes, taken as they are. */
        out->kind = XPIPE__NAME_PATH;
        out->name = apr_pstrdup(pool, name);
        out->pipe = name_lower(strrchr(name, '/') + 1, pool);
        return APR_SUCCESS;
    }
    rv = name_check_portable(name, len);
    if (rv != APR_SUCCESS)
        return rv;
    out->kind = XPIPE__NAME_PORTABLE;
    out->name = out->pipe = name_lower(name, pool);
    return APR_SUCCESS;
}
