/* SPDX-License-Identifier: Apache-2.0 */
/* hdr.c — the header of a message that carries handles (hdr.h). */
#include "hdr.h"

void xpipe__hdr_encode(unsigned char *m, int count, apr_uint32_t pid,
                       const apr_uint64_t *values)
{
    int i, k;

    m[0] = XPIPE__HDR_MAGIC;
    m[1] = (unsigned char)count;
    m[2] = m[3] = 0;
    for (k = 0; k < 4; k++)
        m[4 + k] = (unsigned char)(pid >> (8 * k));
    for (i = 0; i < count; i++)
        for (k = 0; k < 8; k++)
            m[8 + 8 * i + k] = (unsigned char)(values[i] >> (8 * k));
}

int xpipe__hdr_parse(const unsigned char *m, apr_size_t n, apr_uint64_t *values)
{
    int count, i, k;

    if (n < XPIPE__HDR_LEN(0) || m[0] != XPIPE__HDR_MAGIC
        || m[1] > XPIPE_HANDLES_MAX || m[2] != 0 || m[3] != 0
        || n < XPIPE__HDR_LEN(m[1]))
        return -1;
    count = m[1];
    for (i = 0; i < count; i++) {
        apr_uint64_t x = 0;
        for (k = 7; k >= 0; k--)
            x = x << 8 | m[8 + 8 * i + k];
        values[i] = x;
    }
    return count;
}
