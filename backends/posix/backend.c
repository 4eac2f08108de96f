/* SPDX-License-Identifier: Apache-2.0 */
/* backend.c — the POSIX backend's table: Unix domain sockets. Byte mode
 * is SOCK_STREAM; message mode is SOCK_SEQPACKET where the OS has it,
 * else (or with -Dunix_messages=framed) frames on SOCK_STREAM with the
 * same semantics (frame.h). The files by role are listed in posix.h.
 */
#include "posix.h"

#include <unistd.h>

static apr_status_t unix_self_get(xpipe_peer_t *self, apr_pool_t *pool)
{
    (void)pool;
    self->pid = (long)getpid();
    self->uid = (long)geteuid();
    self->gid = (long)getegid();
    self->have = XPIPE_PEER_PID | XPIPE_PEER_UID | XPIPE_PEER_GID;
    return APR_SUCCESS;
}

const xpipe__backend_t xpipe__unix_backend = {
    .name = UNIX_NAME,
    .resolve = xpipe__unix_resolve,
    .listen = xpipe__unix_listen,
    .accept = xpipe__unix_accept,
    .listener_wake = xpipe__unix_listener_wake,
    .listener_unwake = xpipe__unix_listener_unwake,
    .listener_close = xpipe__unix_listener_close,
    .dial = xpipe__unix_dial,
    .busy_wait = NULL, /* a full backlog cannot be waited on: backoff */
    .read = xpipe__unix_read,
    .write = xpipe__unix_write,
    .send = xpipe__unix_send,
    .recv = xpipe__unix_recv,
    .wake = xpipe__unix_wake,
    .unwake = xpipe__unix_unwake,
    .shutdown = xpipe__unix_shutdown,
    .close = xpipe__unix_close,
    .peer_get = xpipe__unix_peer_get,
    .os_handle_get = xpipe__unix_os_handle_get,
    .self_get = unix_self_get,
    .sddl_check = NULL, /* no SDDL here: modes and groups */
    .listener_os_handle_get = xpipe__unix_listener_os_handle_get,
    .pset_create = xpipe__unix_pset_create,
    .pset_add = xpipe__unix_pset_add,
    .pset_remove = xpipe__unix_pset_remove,
    .pset_wait = xpipe__unix_pset_wait,
    .pset_collect = xpipe__unix_pset_collect,
    .pset_wakeup = xpipe__unix_pset_wakeup,
    .pset_destroy = xpipe__unix_pset_destroy,
    .pset_os_handle_get = xpipe__unix_pset_os_handle_get,
    .pm_ready = xpipe__unix_pm_ready,
    .pair = xpipe__unix_pair,
    .spawn = xpipe__unix_spawn,
    .adopt = xpipe__unix_adopt,
    .listener_adopt = xpipe__unix_listener_adopt,
    .handle_parse = xpipe__unix_handle_parse,
    .send_handles = xpipe__unix_send_handles,
    .recv_handles = xpipe__unix_recv_handles,
    .thread_release = xpipe__unix_thread_release,
};
