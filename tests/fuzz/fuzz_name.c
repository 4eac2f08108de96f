/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_name.c — libFuzzer target: the name parser and mapper. Any byte
 * string is a name; resolving it must never crash, never produce a path
 * that does not fit the OS, and give one of the documented statuses.
 */
#include "xpipe.h"

#include <apr_pools.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *pool;
    const char *native = NULL;
    char *name;
    apr_status_t rv;

    if (pool == NULL) {
        xpipe_initialize();
        apr_pool_create(&pool, NULL);
    }
    name = malloc(size + 1);
    memcpy(name, data, size);
    name[size] = '\0';
    rv = xpipe_name_resolve(&native, name, pool);
    if (rv == APR_SUCCESS) {
        /* No truncation: a socket path fits sun_path with its NUL. */
        if (native == NULL || (native[0] == '/' && strlen(native) >= 108))
            abort();
    }
    else if (rv != XPIPE_EBADNAME && rv != XPIPE_ENAMETOOLONG
             && rv != XPIPE_EREMOTE)
        abort(); /* an undocumented status */
    free(name);
    apr_pool_clear(pool);
    return 0;
}
