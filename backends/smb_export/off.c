/* SPDX-License-Identifier: Apache-2.0 */
/* off.c — the SMB export left out of this build (-Dsmb_export=disabled):
 * an exported listener is refused, saying why.
 */
#include "../posix/posix.h"

apr_status_t xpipe__smb_listen(xpipe__lsn_t *l, const xpipe__name_t *name,
                               apr_pool_t *pool)
{
    (void)l;
    (void)pool;
    return xpipe__fail(APR_ENOTIMPL,
                       "pipe %s: this build of xpipe has no SMB export "
                       "(meson option smb_export)",
                       name->pipe);
}

apr_status_t xpipe__smb_accept(xpipe__chan_t **out, xpipe__lsn_t *l,
                               apr_pool_t *pool)
{
    (void)out;
    (void)l;
    (void)pool;
    return APR_EAGAIN; /* never reached: no export socket is open */
}

void xpipe__npa_peer(const xpipe__npa_info_t *info, xpipe_peer_t *peer)
{
    (void)info;
    (void)peer; /* never reached: no SMB channel exists */
}
