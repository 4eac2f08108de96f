/* SPDX-License-Identifier: Apache-2.0 */
/* attr.c — attribute sets: defaults and range checks. Public API; each
 * setter touches exactly one field, so attributes stay independent.
 */
#include "backend.h"

#include <apr_strings.h>
#include <string.h>

static const xpipe_attr_t attr_defaults = {
    XPIPE_MODE_BYTE,           /* mode */
    XPIPE_INSTANCES_DEFAULT,   /* instances */
    XPIPE_MESSAGE_MAX_DEFAULT, /* max_message */
    0,
    0,    /* buffers: OS default */
    0600, /* permissions: owner only */
    NULL, /* sddl: creating user + SYSTEM */
    0,    /* remote clients refused */
    0,    /* connect does not wait for a server */
    NULL, /* pool: set by xpipe_attr_create */
    -1,   /* group: the creator's */
    NULL, /* peer_require: anyone */
    0,    /* smb_export: off */
    NULL, /* smb_np_dir: Samba's */
    NULL,
    NULL /* log: stderr */
};

const xpipe_attr_t *xpipe__attr_defaults(void)
{
    return &attr_defaults;
}

apr_status_t xpipe_attr_create(xpipe_attr_t **attr, apr_pool_t *pool)
{
    if (attr == NULL || pool == NULL)
        return APR_EINVAL;
    *attr = apr_pmemdup(pool, &attr_defaults, sizeof(attr_defaults));
    (*attr)->pool = pool;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_mode_set(xpipe_attr_t *attr, xpipe_mode_e mode)
{
    if (attr == NULL || (mode != XPIPE_MODE_BYTE && mode != XPIPE_MODE_MESSAGE))
        return APR_EINVAL;
    attr->mode = mode;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_instances_set(xpipe_attr_t *attr, int instances)
{
    if (attr == NULL || instances < 1 || instances > XPIPE_INSTANCES_LIMIT)
        return APR_EINVAL;
    attr->instances = instances;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_max_message_set(xpipe_attr_t *attr, apr_size_t max)
{
    if (attr == NULL || max < 1 || max > XPIPE_MESSAGE_MAX_LIMIT)
        return APR_EINVAL;
    attr->max_message = max;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_buffer_size_set(xpipe_attr_t *attr, apr_size_t in_size,
                                        apr_size_t out_size)
{
    if (attr == NULL || in_size > XPIPE_BUFFER_LIMIT
        || out_size > XPIPE_BUFFER_LIMIT)
        return APR_EINVAL;
    attr->in_buffer = in_size;
    attr->out_buffer = out_size;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_permissions_set(xpipe_attr_t *attr, int mode)
{
    if (attr == NULL || mode < 0 || mode > 0777)
        return APR_EINVAL;
    attr->permissions = mode;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_sddl_set(xpipe_attr_t *attr, const char *sddl)
{
    if (attr == NULL || (sddl != NULL && sddl[0] == '\0'))
        return APR_EINVAL;
    if (sddl != NULL && XPIPE__BACKEND.sddl_check(sddl) != APR_SUCCESS)
        return xpipe__fail(APR_EINVAL, "SDDL string \"%s\" does not parse",
                           sddl);
    attr->sddl = sddl ? apr_pstrdup(attr->pool, sddl) : NULL;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_remote_set(xpipe_attr_t *attr, int allow)
{
    if (attr == NULL)
        return APR_EINVAL;
    attr->remote = allow != 0;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_wait_for_server_set(xpipe_attr_t *attr, int wait)
{
    if (attr == NULL)
        return APR_EINVAL;
    attr->wait_for_server = wait != 0;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_group_set(xpipe_attr_t *attr, long gid)
{
    if (attr == NULL || gid < -1)
        return APR_EINVAL;
    attr->group = gid;
    return APR_SUCCESS;
}

/* "self", a decimal uid, or a SID string "S-1-..." (digits and dashes). */
static int attr_who_ok(const char *who)
{
    const char *p = who;

    if (strcmp(who, "self") == 0)
        return 1;
    if (p[0] == 'S' && p[1] == '-') {
        for (p += 2; *p; p++)
            if ((*p < '0' || *p > '9') && *p != '-')
                return 0;
        return p - who > 4;
    }
    for (; *p; p++)
        if (*p < '0' || *p > '9')
            return 0;
    return p > who && p - who < 11;
}

apr_status_t xpipe_attr_peer_require_set(xpipe_attr_t *attr, const char *who)
{
    if (attr == NULL || (who != NULL && !attr_who_ok(who)))
        return APR_EINVAL;
    attr->peer_require = who ? apr_pstrdup(attr->pool, who) : NULL;
    return APR_SUCCESS;
}

long xpipe_attr_group_get(const xpipe_attr_t *attr)
{
    return attr ? attr->group : attr_defaults.group;
}

const char *xpipe_attr_peer_require_get(const xpipe_attr_t *attr)
{
    return attr ? attr->peer_require : NULL;
}

const char *xpipe_attr_sddl_get(const xpipe_attr_t *attr)
{
    return attr ? attr->sddl : NULL;
}

xpipe_mode_e xpipe_attr_mode_get(const xpipe_attr_t *attr)
{
    return attr ? attr->mode : attr_defaults.mode;
}

int xpipe_attr_instances_get(const xpipe_attr_t *attr)
{
    return attr ? attr->instances : attr_defaults.instances;
}

apr_size_t xpipe_attr_max_message_get(const xpipe_attr_t *attr)
{
    return attr ? attr->max_message : attr_defaults.max_message;
}

int xpipe_attr_permissions_get(const xpipe_attr_t *attr)
{
    return attr ? attr->permissions : attr_defaults.permissions;
}

apr_status_t xpipe_attr_smb_export_set(xpipe_attr_t *attr, int on,
                                       const char *np_dir)
{
    if (attr == NULL || (np_dir != NULL && np_dir[0] != '/'))
        return APR_EINVAL;
    attr->smb_export = on != 0;
    attr->smb_np_dir = np_dir ? apr_pstrdup(attr->pool, np_dir) : NULL;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_log_set(xpipe_attr_t *attr, xpipe_log_fn fn,
                                void *baton)
{
    if (attr == NULL)
        return APR_EINVAL;
    attr->log_fn = fn;
    attr->log_baton = baton;
    return APR_SUCCESS;
}

int xpipe_attr_smb_export_get(const xpipe_attr_t *attr)
{
    return attr ? attr->smb_export : attr_defaults.smb_export;
}

const char *xpipe_attr_smb_np_dir_get(const xpipe_attr_t *attr)
{
    return attr ? attr->smb_np_dir : NULL;
}

int xpipe_attr_remote_get(const xpipe_attr_t *attr)
{
    return attr ? attr->remote : attr_defaults.remote;
}
