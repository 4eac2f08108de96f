/* SPDX-License-Identifier: Apache-2.0 */
/* status.c — names and texts of xpipe's own codes, made from the one list
 * XPIPE_STATUS_MAP in include/xpipe.h (which makes the enum too), and the
 * per-thread failure detail. Public API.
 */

#include "backend.h"
#include "helpers.h"

#include <apr_errno.h>
#include <apr_strings.h>
#include <stdarg.h>

/* The detail of the last failure, per thread (xpipe_error_detail): its
 * text, and whether the text is this thread's last detail (backend.h:
 * clearing it must be cheap). */
static _Thread_local char fail_detail[512];
_Thread_local unsigned char xpipe__fail_set XPIPE__TLS_FAST;

apr_status_t xpipe__fail(apr_status_t rv, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    apr_vsnprintf(fail_detail, sizeof(fail_detail), fmt, ap);
    va_end(ap);
    xpipe__fail_set = 1;
    return rv;
}

const char *xpipe_error_detail(void)
{
    return xpipe__fail_set ? fail_detail : "";
}

void xpipe__detail_save(xpipe__detail_t *d)
{
    apr_cpystrn(d->text, xpipe_error_detail(), sizeof(d->text));
}

void xpipe__detail_restore(const xpipe__detail_t *d)
{
    apr_cpystrn(fail_detail, d->text, sizeof(fail_detail));
    xpipe__fail_set = d->text[0] != '\0';
}

typedef struct status_entry_t {
    apr_status_t code;
    const char *name;
    const char *text;
} status_entry_t;

/* Made from XPIPE_STATUS_MAP (include/xpipe.h), so in code order:
 * status_find indexes it, and checks the code. */
#define STATUS_ENTRY(name, n, text) { XPIPE_##name, "XPIPE_" #name, text },
static const status_entry_t status_table[] = { XPIPE_STATUS_MAP(STATUS_ENTRY) };
#undef STATUS_ENTRY

/* The list numbers its codes 1, 2, 3, ... with no gap, and every code has
 * its XPIPE_STATUS_IS_* macro (a missing one is an undeclared function
 * here, which no constant expression admits: the build stops). */
#define STATUS_CHECK(name, n, text)                                            \
    _Static_assert(XPIPE_##name == XPIPE_START_ERROR + n                       \
                       && XPIPE_STATUS_IS_##name(XPIPE_##name)                 \
                       && !XPIPE_STATUS_IS_##name(XPIPE_START_ERROR),          \
                   "XPIPE_" #name ": its number or its IS macro");
XPIPE_STATUS_MAP(STATUS_CHECK)
#undef STATUS_CHECK
_Static_assert(sizeof(status_table) / sizeof(status_table[0])
                   == XPIPE_STATUS_END - XPIPE_START_ERROR - 1,
               "XPIPE_STATUS_MAP numbers its codes 1, 2, 3, ... in order");

/* APR codes that xpipe returns by contract, for xpipe_status_name(). */
static const status_entry_t apr_names[] = {
    { APR_SUCCESS, "APR_SUCCESS", NULL },   { APR_EINVAL, "APR_EINVAL", NULL },
    { APR_EOF, "APR_EOF", NULL },           { APR_TIMEUP, "APR_TIMEUP", NULL },
    { APR_ENOTIMPL, "APR_ENOTIMPL", NULL }, { APR_ENOMEM, "APR_ENOMEM", NULL },
    { APR_EACCES, "APR_EACCES", NULL },
};

static const status_entry_t *status_find(apr_status_t status)
{
    const status_entry_t *e;

    if (!XPIPE_STATUS_IS_XPIPE(status))
        return NULL;
    e = &status_table[status - XPIPE_START_ERROR - 1];
    return e->code == status ? e : NULL;
}

char *xpipe_strerror(apr_status_t status, char *buf, apr_size_t bufsize)
{
    const status_entry_t *e = status_find(status);

    if (buf == NULL || bufsize == 0)
        return buf;
    if (e != NULL) {
        apr_cpystrn(buf, e->text, bufsize);
        return buf;
    }
    return apr_strerror(status, buf, bufsize);
}

const char *xpipe_status_name(apr_status_t status)
{
    const status_entry_t *e = status_find(status);
    apr_size_t i;

    if (e != NULL)
        return e->name;
    for (i = 0; i < sizeof(apr_names) / sizeof(apr_names[0]); i++)
        if (apr_names[i].code == status)
            return apr_names[i].name;
    return "";
}
