/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_npa.c — libFuzzer target: the parser of smbd's named-pipe
 * handshake (backends/smb_export/npa.c), which reads what any process able to
 * reach the np socket sends before accept returns. The input is a request
 * body; its length field is set to match so that parsing goes deep, and a
 * second pass keeps the input's own length field to cover the mismatch.
 * Parsing must never crash, read out of bounds, or accept a request
 * without saying what it found.
 */
#include "npa.h"

#include <apr_general.h>
#include <apr_pools.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static apr_pool_t *pool;
    xpipe__npa_info_t info;
    unsigned char *req;
    char why[256];
    apr_size_t len;

    if (pool == NULL) {
        apr_initialize();
        apr_pool_create(&pool, NULL);
    }
    if (size < 4 || size - 4 > XPIPE__NPA_MAX)
        return 0;
    len = size - 4;
    /* An exact copy, so reading past the end is caught. */
    req = malloc(size);
    if (req == NULL)
        return 0;
    memcpy(req, data, size);
    if (xpipe__npa_parse(&info, req, len, why, sizeof(why), pool) != APR_SUCCESS
        && why[0] == '\0')
        abort(); /* a refusal must say why */
    req[0] = (unsigned char)(len >> 24);
    req[1] = (unsigned char)(len >> 16);
    req[2] = (unsigned char)(len >> 8);
    req[3] = (unsigned char)len;
    if (xpipe__npa_parse(&info, req, len, why, sizeof(why), pool)
        == APR_SUCCESS) {
        /* What was accepted is whole: strings are terminated. */
        if (info.account)
            (void)strlen(info.account);
        if (info.sid && strncmp(info.sid, "S-", 2) != 0)
            abort();
    }
    else if (why[0] == '\0')
        abort();
    free(req);
    apr_pool_clear(pool);
    return 0;
}
