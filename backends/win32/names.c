/* SPDX-License-Identifier: Apache-2.0 */
/* names.c — Windows pipe names: resolution (\\\\.\\pipe\\NAME), UTF-16, and
 * the process-wide count of live server ends per name.
 */
#include "win32.h"

#include <apr_strings.h>

#include <stdlib.h>
#include <string.h>

/* Server ends that outlive their listener. On Windows a name exists while
 * any instance does, accepted channels included, so a listener closed and
 * opened again would find "another server" in its own live channels. This
 * process-wide table counts them per name; a new listener subtracts them
 * from the instance count. Entries exist only while the count is > 0. */

typedef struct win32_name_use_t {
    struct win32_name_use_t *next;
    long live;
    wchar_t name[1]; /* allocated to fit */
} win32_name_use_t;

static SRWLOCK win32_names_lock = SRWLOCK_INIT;
static win32_name_use_t *win32_names;

void xpipe__win32_names_lock(void)
{
    AcquireSRWLockExclusive(&win32_names_lock);
}

void xpipe__win32_names_unlock(void)
{
    ReleaseSRWLockExclusive(&win32_names_lock);
}

/* With win32_names_lock held: add delta to name's count. */
long xpipe__win32_names_add(const wchar_t *name, long delta)
{
    win32_name_use_t **p, *e;
    size_t len;

    for (p = &win32_names; *p; p = &(*p)->next)
        if (_wcsicmp((*p)->name, name) == 0)
            break;
    e = *p;
    if (e == NULL && delta > 0) {
        len = wcslen(name);
        e = calloc(1, sizeof(*e) + len * sizeof(wchar_t));
        if (e == NULL)
            return 0;
        memcpy(e->name, name, (len + 1) * sizeof(wchar_t));
        e->next = win32_names;
        win32_names = e;
        p = &win32_names;
    }
    if (e == NULL)
        return 0;
    e->live += delta;
    if (e->live > 0)
        return e->live;
    *p = e->next;
    free(e);
    return 0;
}

int xpipe__win32_wide_name(const char *native, wchar_t out[WIN32_NAME_MAX + 1])
{
    /* resolve() capped native at WIN32_NAME_MAX bytes: no more UTF-16
     * units than that. */
    return MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, native, -1, out,
                               WIN32_NAME_MAX + 1)
                   > 0
               ? 0
               : -1;
}

wchar_t *xpipe__win32_wide(const char *s, apr_pool_t *pool)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    wchar_t *w;

    if (n <= 0)
        return NULL;
    w = apr_palloc(pool, (apr_size_t)n * sizeof(wchar_t));
    MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n);
    return w;
}

apr_status_t xpipe__win32_resolve(const char **native, xpipe__name_t *name,
                                  apr_pool_t *pool)
{
    const char *s;

    switch (name->kind) {
    case XPIPE__NAME_PATH: /* a POSIX socket path means nothing here */
        return xpipe__fail(XPIPE_EBADNAME,
                           "%s is a socket path: Windows names pipes "
                           "\\\\.\\pipe\\NAME",
                           name->name);
    case XPIPE__NAME_REMOTE:
        s = apr_pstrcat(pool, "\\\\", name->host, "\\pipe\\", name->name, NULL);
        break;
    default: s = apr_pstrcat(pool, "\\\\.\\pipe\\", name->name, NULL); break;
    }
    if (strlen(s) > WIN32_NAME_MAX)
        return xpipe__fail(XPIPE_ENAMETOOLONG,
                           "pipe name %s is %lu characters; Windows holds %d",
                           s, (unsigned long)strlen(s), WIN32_NAME_MAX);
    *native = s;
    return APR_SUCCESS;
}
