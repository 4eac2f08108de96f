/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_smb2.c — libFuzzer target: what an SMB server (or anyone between
 * it and us) sends the SMB client, through the same parsers the
 * receiving thread and the handshake use (backends/smb_client/wire.c, pure
 * code). The input is one message as the NetBIOS frame delivers it.
 * Every parser must stay inside it, and every view it hands back must
 * lie within it; a header it accepts must carry what its bytes say.
 */
#include "smb_client/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A view [p, p + n) must lie within [m, m + len). */
static void inside(const uint8_t *m, size_t len, const uint8_t *p, size_t n)
{
    if (n > 0 && (p < m || p > m + len || n > (size_t)(m + len - p)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so a read past it is caught. */
    uint8_t *m = malloc(size ? size : 1), id[16];
    smb2_hdr_t h;
    smb2_transform_t t;
    smb2_negotiate_rsp_t neg;
    const uint8_t *view;
    size_t n;
    uint32_t u32;
    uint16_t u16;
    uint8_t u8;

    if (m == NULL)
        return 0;
    memcpy(m, data, size);
    if (xpipe__smb2_hdr_parse(m, size, &h) == 0) {
        if (size < SMB2_HDR_LEN || smb2_get16(m + 12) != h.command
            || smb2_get64(m + 24) != h.mid || smb2_get32(m + 8) != h.status)
            abort();
    }
    if (xpipe__smb2_transform_parse(m, size, &t) == 0) {
        inside(m, size, t.signature, 16);
        inside(m, size, t.nonce, 16);
        inside(m, size, t.aad, SMB2_AAD_LEN);
        inside(m, size, t.payload, t.size);
        if ((size_t)t.size + SMB2_TRANSFORM_LEN != size)
            abort();
    }
    /* Each response body, as if the header named its command. */
    if (xpipe__smb2_negotiate_parse(m, size, &neg) == 0) {
        inside(m, size, neg.server_guid, 16);
        inside(m, size, neg.blob, neg.blob_len);
    }
    if (xpipe__smb2_session_setup_parse(m, size, &u16, &view, &n) == 0)
        inside(m, size, view, n);
    (void)xpipe__smb2_tree_connect_parse(m, size, &u8, &u32);
    (void)xpipe__smb2_create_parse(m, size, id);
    if (xpipe__smb2_read_parse(m, size, &view, &n) == 0)
        inside(m, size, view, n);
    (void)xpipe__smb2_write_parse(m, size, &u32);
    if (xpipe__smb2_ioctl_parse(m, size, &u32, &view, &n) == 0)
        inside(m, size, view, n);
    (void)xpipe__smb2_error_parse(m, size);
    (void)xpipe__smb2_status_name(size >= 4 ? smb2_get32(m) : 0);
    /* The input as a name to convert (a NUL-terminated copy). */
    {
        char *s = malloc(size + 1);
        uint8_t out[256];
        long w;

        if (s != NULL) {
            memcpy(s, data, size);
            s[size] = '\0';
            w = xpipe__smb2_utf16le(out, sizeof(out), s);
            if (w > (long)sizeof(out) || (w >= 0 && w % 2 != 0))
                abort();
            free(s);
        }
    }
    free(m);
    return 0;
}
