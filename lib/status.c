/* SPDX-License-Identifier: Apache-2.0 */
/* status.c — the status table: names and texts of xpipe's own codes (the
 * codes themselves are enum xpipe_status_e in include/xpipe.h), and the
 * per-thread failure detail. Public API.
 */

#include "backend.h"

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

/* In code order: status_find indexes it, and checks the code. */
#define STATUS(name, text)                                                     \
    {                                                                          \
        XPIPE_##name, "XPIPE_" #name, text                                     \
    }
static const status_entry_t status_table[] = {
    STATUS(ENOPIPE, "no such pipe: nothing is listening on that name"),
    STATUS(EINUSE, "pipe name in use: another server is listening on it"),
    STATUS(ECLOSED, "the channel or listener has been closed"),
    STATUS(ECANCELED, "the call was interrupted by xpipe_interrupt"),
    STATUS(EMSGSIZE, "message larger than the buffer or the maximum size"),
    STATUS(ERESET, "connection reset: the peer vanished abortively"),
    STATUS(EPIPE, "the peer has closed its end; nothing more can be written"),
    STATUS(EBADNAME, "invalid pipe name"),
    STATUS(ENAMETOOLONG,
           "pipe name too long for this OS (Unix socket paths: 107 bytes on "
           "Linux, 103 on BSD/macOS; Windows pipe names: 256 characters)"),
    STATUS(EREMOTE, "remote pipe names (\\\\host\\pipe\\name) are not "
                    "supported by this backend"),
    STATUS(EMODE, "operation or peer does not match the channel's mode "
                  "(byte stream vs message)"),
    STATUS(ERUNDIR, "the run directory is unsafe: wrong owner, mode, or a "
                    "symbolic link"),
    STATUS(ENOTSOCK, "the path exists and is not a socket; it was left "
                     "untouched"),
    STATUS(EPEER, "the peer's identity was refused"),
    STATUS(EBADHANDLE, "not a handle xpipe can adopt or pass: the wrong "
                       "kind, closed, or more than XPIPE_HANDLES_MAX"),
    STATUS(EPROTO, "the peer broke the protocol (the shared-memory fast "
                   "path's, or SMB2's while opening a remote pipe)"),
    STATUS(EAUTH, "the remote pipe's server refused our credentials or the "
                  "security asked for"),
};
#undef STATUS

/* Every code has its entry, in order. */
_Static_assert(sizeof(status_table) / sizeof(status_table[0])
                   == XPIPE_STATUS_END - XPIPE_START_ERROR - 1,
               "status_table must list every XPIPE_E* code");

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
