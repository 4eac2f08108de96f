/* SPDX-License-Identifier: Apache-2.0 */
/* name.c — PRIVATE: parsing of portable pipe names (see the Names table in
 * include/xpipe.h). The backend maps the parsed name to a native one.
 */
#include "backend.h"

#include <apr_strings.h>
#include <string.h>

/* "\\.\pipe\" is 9 characters and Windows caps a pipe path at 256, so this
 * is the longest portable name that every OS can hold. */
#define NAME_PORTABLE_MAX 247

static int name_char_ok(unsigned char c)
{
    return c >= 0x20 && c != 0x7f && c != '/' && c != '\\';
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
    out->name = name_lower(rest, pool);
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
    if (len == 0)
        return XPIPE_EBADNAME;
    if (name[0] == '\\') {
        if (name[1] != '\\')
            return XPIPE_EBADNAME;
        return name_parse_unc(out, name, pool);
    }
    if (name[0] == '/') {
        out->kind = XPIPE__NAME_PATH;
        out->name = apr_pstrdup(pool, name);
        return APR_SUCCESS;
    }
    rv = name_check_portable(name, len);
    if (rv != APR_SUCCESS)
        return rv;
    out->kind = XPIPE__NAME_PORTABLE;
    out->name = name_lower(name, pool);
    return APR_SUCCESS;
}
