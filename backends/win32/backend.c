/* SPDX-License-Identifier: Apache-2.0 */
/* backend.c — the Win32 backend's table, this process's identity and the
 * check of SDDL strings.
 */
#include "win32.h"

#include <apr_strings.h>

#include <sddl.h>

#include <stdlib.h>

static apr_status_t win32_self_get(xpipe_peer_t *self, apr_pool_t *pool)
{
    self->pid = (long)GetCurrentProcessId();
    self->have = XPIPE_PEER_PID;
    if (xpipe__win32_token_sid(GetCurrentProcess(), &self->sid, pool)
        == APR_SUCCESS)
        self->have |= XPIPE_PEER_SID;
    return APR_SUCCESS;
}

static apr_status_t win32_sddl_check(const char *sddl)
{
    PSECURITY_DESCRIPTOR sd = NULL;
    wchar_t *w;
    apr_pool_t *p;
    apr_status_t rv = APR_EINVAL;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS)
        return APR_ENOMEM;
    w = xpipe__win32_wide(sddl, p);
    if (w
        && ConvertStringSecurityDescriptorToSecurityDescriptorW(
            w, SDDL_REVISION_1, &sd, NULL)) {
        LocalFree(sd);
        rv = APR_SUCCESS;
    }
    apr_pool_destroy(p);
    return rv;
}

const xpipe__backend_t xpipe__win32_backend = {
    .name = "win32",
    .resolve = xpipe__win32_resolve,
    .listen = xpipe__win32_listen,
    .accept = xpipe__win32_accept,
    .listener_wake = xpipe__win32_listener_wake,
    .listener_unwake = xpipe__win32_listener_unwake,
    .listener_close = xpipe__win32_listener_close,
    .dial = xpipe__win32_dial,
    .busy_wait = xpipe__win32_busy_wait,
    .read = xpipe__win32_read,
    .write = xpipe__win32_write,
    .send = xpipe__win32_send,
    .recv = xpipe__win32_recv,
    .wake = xpipe__win32_wake,
    .unwake = xpipe__win32_unwake,
    .shutdown = xpipe__win32_shutdown,
    .close = xpipe__win32_close,
    .peer_get = xpipe__win32_peer_get,
    .os_handle_get = xpipe__win32_os_handle_get,
    .self_get = win32_self_get,
    .sddl_check = win32_sddl_check,
    .listener_os_handle_get = xpipe__win32_listener_os_handle_get,
    .pset_create = xpipe__win32_pset_create,
    .pset_add = xpipe__win32_pset_add,
    .pset_remove = xpipe__win32_pset_remove,
    .pset_wait = xpipe__win32_pset_wait,
    .pset_collect = xpipe__win32_pset_collect,
    .pset_wakeup = xpipe__win32_pset_wakeup,
    .pset_destroy = xpipe__win32_pset_destroy,
    .pset_os_handle_get = xpipe__win32_pset_os_handle_get,
    .pm_ready = xpipe__win32_pm_ready,
    .pair = xpipe__win32_pair,
    .spawn = xpipe__win32_spawn,
    .adopt = xpipe__win32_adopt,
    .listener_adopt = xpipe__win32_listener_adopt,
    .handle_parse = xpipe__win32_handle_parse,
    .send_handles = xpipe__win32_send_handles,
    .recv_handles = xpipe__win32_recv_handles,
    .thread_release = xpipe__win32_thread_release,
};
