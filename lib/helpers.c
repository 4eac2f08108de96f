/* SPDX-License-Identifier: Apache-2.0 */
/* helpers.c — PRIVATE: helpers shared by lib/ and the backends: deadlines,
 * the delivery of a message held for a larger buffer, and the log sink. */
#include "backend.h"
#include "helpers.h"

#include <apr_strings.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int xpipe__held_take(xpipe__held_t *h, void *buf, apr_size_t *len,
                     apr_status_t *rv)
{
    if (h->data == NULL)
        return 0;
    if (h->len > *len) {
        *len = h->len;
        *rv = XPIPE_EMSGSIZE;
        return 1;
    }
    memcpy(buf, h->data, h->len);
    *len = h->len;
    free(h->data);
    h->data = NULL;
    *rv = APR_SUCCESS;
    return 1;
}

int xpipe__remaining_ms_at(apr_time_t deadline)
{
    apr_time_t left;

    left = deadline - apr_time_now();
    if (left <= 0)
        return 0;
    /* Round up so a wait never ends just before the deadline. */
    left = (left + 999) / 1000;
    return left > 0x7fffffff ? 0x7fffffff : (int)left;
}

void xpipe__log(const xpipe_attr_t *attr, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    apr_vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (attr->log_fn)
        attr->log_fn(attr->log_baton, line);
    else
        fprintf(stderr, "xpipe: %s\n", line);
}

const char *const *xpipe__env_with(const char *const *env, const char *name,
                                   const char *line, apr_pool_t *pool)
{
    apr_size_t n = 0, k = 0, len = strlen(name);
    const char **out;

    while (env[n])
        n++;
    out = apr_palloc(pool, (n + 2) * sizeof(*out));
    for (n = 0; env[n]; n++)
        if (strncmp(env[n], name, len) != 0 || env[n][len] != '=')
            out[k++] = env[n];
    out[k++] = line;
    out[k] = NULL;
    return out;
}

apr_status_t xpipe__not_offered(const xpipe__backend_t *be, const char *what)
{
    return xpipe__fail(APR_ENOTIMPL, "the %s transport offers no %s", be->name,
                       what);
}
