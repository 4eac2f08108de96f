/* SPDX-License-Identifier: Apache-2.0 */
/* attr.c — attribute sets: defaults and range checks. Public API; each
 * setter touches exactly one field, so attributes stay independent.
 */
#include "backend.h"
#include "helpers.h"

#include <apr_strings.h>
#include <string.h>

static const xpipe_attr_t attr_defaults = {
    .mode = XPIPE_MODE_BYTE,
    .instances = XPIPE_INSTANCES_DEFAULT,
    .max_message = XPIPE_MESSAGE_MAX_DEFAULT,
    .in_buffer = 0,       /* the OS's default */
    .out_buffer = 0,      /* the OS's default */
    .permissions = 0600,  /* owner only */
    .sddl = NULL,         /* the creating user and SYSTEM */
    .remote = 0,          /* remote clients refused */
    .wait_for_server = 0, /* a missing server is XPIPE_ENOPIPE at once */
    .pool = NULL,         /* set by xpipe_attr_create */
    .group = -1,          /* the creator's */
    .peer_require = NULL, /* anyone */
    .smb_export = 0,
    .smb_np_dir = NULL, /* Samba's configured one */
    .log_fn = NULL,     /* stderr */
    .log_baton = NULL,
    .wake_slice = XPIPE_WAKE_SLICE_DEFAULT,
    .handles = 0,     /* messages carry no handles */
    .fast_ring = 0,   /* no fast path: it costs a round trip at connect */
    .smb_user = NULL, /* the default GSSAPI credential */
    .smb_domain = NULL,
    .smb_password = NULL,
    .smb_port = 445,
    .smb_min_dialect = 0x0202,
    .smb_max_dialect = 0x0311,
    .smb_encrypt = 0,
    .smb_guest = 0, /* guest and anonymous sessions refused */
};

const xpipe_attr_t *xpipe__attr_defaults(void)
{
    return &attr_defaults;
}

/* The body of a setter: the error detail cleared, attr and the value
 * checked (APR_EINVAL, nothing changed), then one field set. */
#define ATTR_SET(field, value, valid)                                          \
    do {                                                                       \
        xpipe__fail_clear();                                                   \
        if (attr == NULL || !(valid))                                          \
            return APR_EINVAL;                                                 \
        attr->field = (value);                                                 \
        return APR_SUCCESS;                                                    \
    } while (0)

/* A password's bytes never outlive the pool that holds them. */
static apr_status_t secret_wipe(void *data)
{
    volatile char *p = data;

    while (*p)
        *p++ = '\0';
    return APR_SUCCESS;
}

static char *secret_dup(apr_pool_t *pool, const char *s)
{
    char *copy;

    if (s == NULL)
        return NULL;
    copy = apr_pstrdup(pool, s);
    apr_pool_cleanup_register(pool, copy, secret_wipe, apr_pool_cleanup_null);
    return copy;
}

xpipe_attr_t *xpipe__attr_copy(const xpipe_attr_t *attr, apr_pool_t *pool)
{
    xpipe_attr_t *copy = apr_pmemdup(pool, attr, sizeof(*copy));

    copy->pool = pool;
    /* Every string field: a new one added here, and nowhere else. */
    copy->sddl = attr->sddl ? apr_pstrdup(pool, attr->sddl) : NULL;
    copy->peer_require =
        attr->peer_require ? apr_pstrdup(pool, attr->peer_require) : NULL;
    copy->smb_np_dir =
        attr->smb_np_dir ? apr_pstrdup(pool, attr->smb_np_dir) : NULL;
    copy->smb_user = attr->smb_user ? apr_pstrdup(pool, attr->smb_user) : NULL;
    copy->smb_domain =
        attr->smb_domain ? apr_pstrdup(pool, attr->smb_domain) : NULL;
    copy->smb_password = secret_dup(pool, attr->smb_password);
    return copy;
}

apr_status_t xpipe_attr_create(xpipe_attr_t **attr, apr_pool_t *pool)
{
    xpipe__fail_clear();
    if (attr == NULL || pool == NULL)
        return APR_EINVAL;
    *attr = apr_pmemdup(pool, &attr_defaults, sizeof(attr_defaults));
    (*attr)->pool = pool;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_mode_set(xpipe_attr_t *attr, xpipe_mode_e mode)
{
    ATTR_SET(mode, mode, mode == XPIPE_MODE_BYTE || mode == XPIPE_MODE_MESSAGE);
}

apr_status_t xpipe_attr_instances_set(xpipe_attr_t *attr, int instances)
{
    ATTR_SET(instances, instances,
             instances >= 1 && instances <= XPIPE_INSTANCES_LIMIT);
}

apr_status_t xpipe_attr_max_message_set(xpipe_attr_t *attr, apr_size_t max)
{
    ATTR_SET(max_message, max, max >= 1 && max <= XPIPE_MESSAGE_MAX_LIMIT);
}

apr_status_t xpipe_attr_buffer_size_set(xpipe_attr_t *attr, apr_size_t in_size,
                                        apr_size_t out_size)
{
    xpipe__fail_clear();
    if (attr == NULL || in_size > XPIPE_BUFFER_LIMIT
        || out_size > XPIPE_BUFFER_LIMIT)
        return APR_EINVAL;
    attr->in_buffer = in_size;
    attr->out_buffer = out_size;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_permissions_set(xpipe_attr_t *attr, int mode)
{
    ATTR_SET(permissions, mode, mode >= 0 && mode <= 0777);
}

apr_status_t xpipe_attr_sddl_set(xpipe_attr_t *attr, const char *sddl)
{
    xpipe__fail_clear();
    if (attr == NULL || (sddl != NULL && sddl[0] == '\0'))
        return APR_EINVAL;
    if (sddl != NULL && XPIPE__BACKEND.sddl_check
        && XPIPE__BACKEND.sddl_check(sddl) != APR_SUCCESS)
        return xpipe__fail(APR_EINVAL, "SDDL string \"%s\" does not parse",
                           sddl);
    attr->sddl = sddl ? apr_pstrdup(attr->pool, sddl) : NULL;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_remote_set(xpipe_attr_t *attr, int allow)
{
    ATTR_SET(remote, allow != 0, 1);
}

apr_status_t xpipe_attr_wait_for_server_set(xpipe_attr_t *attr, int wait)
{
    ATTR_SET(wait_for_server, wait != 0, 1);
}

apr_status_t xpipe_attr_group_set(xpipe_attr_t *attr, long gid)
{
    ATTR_SET(group, gid, gid >= -1);
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
    ATTR_SET(peer_require, who ? apr_pstrdup(attr->pool, who) : NULL,
             who == NULL || attr_who_ok(who));
}

apr_status_t xpipe_attr_wake_slice_set(xpipe_attr_t *attr,
                                       apr_interval_time_t slice)
{
    ATTR_SET(wake_slice, slice, slice >= 0 && slice <= XPIPE_WAKE_SLICE_LIMIT);
}

apr_status_t xpipe_attr_handles_set(xpipe_attr_t *attr, int on)
{
    ATTR_SET(handles, on != 0, 1);
}

int xpipe_attr_handles_get(const xpipe_attr_t *attr)
{
    return attr ? attr->handles : attr_defaults.handles;
}

apr_status_t xpipe_attr_fast_path_set(xpipe_attr_t *attr, apr_size_t ring)
{
    ATTR_SET(fast_ring, ring,
             ring == 0
                 || (ring >= XPIPE_FAST_RING_MIN && ring <= XPIPE_FAST_RING_MAX
                     && (ring & (ring - 1)) == 0));
}

apr_size_t xpipe_attr_fast_path_get(const xpipe_attr_t *attr)
{
    return attr ? attr->fast_ring : attr_defaults.fast_ring;
}

apr_interval_time_t xpipe_attr_wake_slice_get(const xpipe_attr_t *attr)
{
    return attr ? attr->wake_slice : attr_defaults.wake_slice;
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

apr_status_t xpipe_attr_smb_export_set(xpipe_attr_t *attr, int on)
{
    xpipe__fail_clear();
    if (attr == NULL)
        return APR_EINVAL;
    attr->smb_export = on != 0;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_smb_np_dir_set(xpipe_attr_t *attr, const char *np_dir)
{
    xpipe__fail_clear();
    if (attr == NULL || (np_dir != NULL && np_dir[0] != '/'))
        return APR_EINVAL;
    attr->smb_np_dir = np_dir ? apr_pstrdup(attr->pool, np_dir) : NULL;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_log_set(xpipe_attr_t *attr, xpipe_log_fn fn,
                                void *baton)
{
    xpipe__fail_clear();
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

apr_status_t xpipe_attr_smb_credentials_set(xpipe_attr_t *attr,
                                            const char *user,
                                            const char *domain,
                                            const char *password)
{
    xpipe__fail_clear();
    if (attr == NULL || (user != NULL && user[0] == '\0')
        || (user == NULL && (domain != NULL || password != NULL)))
        return APR_EINVAL;
    if (attr->smb_password != NULL)
        secret_wipe(attr->smb_password);
    attr->smb_user = user ? apr_pstrdup(attr->pool, user) : NULL;
    attr->smb_domain =
        domain && domain[0] ? apr_pstrdup(attr->pool, domain) : NULL;
    attr->smb_password = secret_dup(attr->pool, password);
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_smb_port_set(xpipe_attr_t *attr, unsigned int port)
{
    ATTR_SET(smb_port, port ? port : 445, port <= 65535);
}

static int smb_dialect_known(unsigned int d)
{
    return d == 0x0202 || d == 0x0210 || d == 0x0300 || d == 0x0302
           || d == 0x0311;
}

apr_status_t xpipe_attr_smb_dialects_set(xpipe_attr_t *attr, unsigned int min,
                                         unsigned int max)
{
    xpipe__fail_clear();
    if (attr == NULL || !smb_dialect_known(min) || !smb_dialect_known(max)
        || min > max)
        return APR_EINVAL;
    attr->smb_min_dialect = min;
    attr->smb_max_dialect = max;
    return APR_SUCCESS;
}

apr_status_t xpipe_attr_smb_encrypt_set(xpipe_attr_t *attr, int on)
{
    ATTR_SET(smb_encrypt, on != 0, 1);
}

apr_status_t xpipe_attr_smb_guest_set(xpipe_attr_t *attr, int allow)
{
    ATTR_SET(smb_guest, allow != 0, 1);
}

/* The set asked about, or the defaults. */
static const xpipe_attr_t *attr_or_defaults(const xpipe_attr_t *attr)
{
    return attr ? attr : &attr_defaults;
}

const char *xpipe_attr_smb_user_get(const xpipe_attr_t *attr)
{
    return attr_or_defaults(attr)->smb_user;
}

unsigned int xpipe_attr_smb_port_get(const xpipe_attr_t *attr)
{
    return attr_or_defaults(attr)->smb_port;
}

void xpipe_attr_smb_dialects_get(const xpipe_attr_t *attr, unsigned int *min,
                                 unsigned int *max)
{
    if (min != NULL)
        *min = attr_or_defaults(attr)->smb_min_dialect;
    if (max != NULL)
        *max = attr_or_defaults(attr)->smb_max_dialect;
}

int xpipe_attr_smb_encrypt_get(const xpipe_attr_t *attr)
{
    return attr_or_defaults(attr)->smb_encrypt;
}

int xpipe_attr_smb_guest_get(const xpipe_attr_t *attr)
{
    return attr_or_defaults(attr)->smb_guest;
}
