/* status.c — the status table: names and texts of xpipe's own codes, all
 * generated from XPIPE_STATUS_LIST in include/xpipe.h. Public API.
 */

#include "backend.h"

#include <apr_errno.h>
#include <apr_strings.h>
#include <stdarg.h>

/* The detail of the last failure, per thread (xpipe_error_detail). */
static _Thread_local char fail_detail[512];

apr_status_t xpipe__fail(apr_status_t rv, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    apr_vsnprintf(fail_detail, sizeof(fail_detail), fmt, ap);
    va_end(ap);
    return rv;
}

void xpipe__fail_clear(void)
{
    fail_detail[0] = '\0';
}

const char *xpipe_error_detail(void)
{
    return fail_detail;
}

typedef struct status_entry_t {
    apr_status_t code;
    const char *name;
    const char *text;
} status_entry_t;

static const status_entry_t status_table[] = {
#define STATUS_ENTRY(name, off, text) \
    { XPIPE_START_ERROR + (off), "XPIPE_" #name, text },
    XPIPE_STATUS_LIST(STATUS_ENTRY)
#undef STATUS_ENTRY
};

/* APR codes that xpipe returns by contract, for xpipe_status_name(). */
static const status_entry_t apr_names[] = {
    { APR_SUCCESS, "APR_SUCCESS", NULL },
    { APR_EINVAL, "APR_EINVAL", NULL },
    { APR_EOF, "APR_EOF", NULL },
    { APR_TIMEUP, "APR_TIMEUP", NULL },
    { APR_ENOTIMPL, "APR_ENOTIMPL", NULL },
    { APR_ENOMEM, "APR_ENOMEM", NULL },
    { APR_EACCES, "APR_EACCES", NULL },
};

static const status_entry_t *status_find(apr_status_t status)
{
    if (!XPIPE_STATUS_IS_XPIPE(status))
        return NULL;
    return &status_table[status - XPIPE_START_ERROR - 1];
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
