/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_hdr.c — libFuzzer target: the header a Windows channel that
 * carries handles puts before each message (backends/win32/hdr.c, pure
 * code, fuzzed here on any host). The input is what a hostile peer
 * writes: parsing must never read past it, never name more than
 * XPIPE_HANDLES_MAX handles or claim more bytes than came, and a header
 * it accepts must encode back to the same bytes.
 */
#include "win32/hdr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_uint64_t v[XPIPE_HANDLES_MAX];
    unsigned char again[XPIPE__HDR_LEN(XPIPE_HANDLES_MAX)];
    /* A copy of exactly size bytes, so a read past it is caught. */
    unsigned char *m = malloc(size ? size : 1);
    int count;

    if (m == NULL)
        return 0;
    memcpy(m, data, size);
    count = xpipe__hdr_parse(m, size, v);
    if (count >= 0) {
        apr_uint32_t pid = (apr_uint32_t)m[4] | (apr_uint32_t)m[5] << 8
                           | (apr_uint32_t)m[6] << 16
                           | (apr_uint32_t)m[7] << 24;
        if (count > XPIPE_HANDLES_MAX || XPIPE__HDR_LEN(count) > size)
            abort();
        xpipe__hdr_encode(again, count, pid, v);
        if (memcmp(again, m, XPIPE__HDR_LEN(count)) != 0)
            abort();
    }
    free(m);
    return 0;
}
