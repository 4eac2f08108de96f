/* SPDX-License-Identifier: Apache-2.0 */
/* wire.c — SMB2/3 messages as bytes: request builders and response
 * parsers ([MS-SMB2] 2.2). Pure code (see wire.h); every layout here is
 * the specification's, offsets counted from the header's first byte.
 */
#include "wire.h"

#include <stdio.h>
#include <string.h>

void xpipe__smb2_hdr_build(uint8_t *m, const smb2_hdr_t *h)
{
    memset(m, 0, SMB2_HDR_LEN);
    m[0] = 0xFE;
    m[1] = 'S';
    m[2] = 'M';
    m[3] = 'B';
    smb2_put16(m + 4, SMB2_HDR_LEN);
    smb2_put16(m + 6, h->charge);
    smb2_put16(m + 12, h->command);
    smb2_put16(m + 14, h->credits);
    smb2_put32(m + 16, h->flags);
    smb2_put64(m + 24, h->mid);
    if (h->flags & SMB2_FLAGS_ASYNC_COMMAND) {
        smb2_put64(m + 32, h->async_id);
    }
    else {
        smb2_put32(m + 32, 0xFEFF); /* ProcessId: reserved, as Windows */
        smb2_put32(m + 36, h->tree_id);
    }
    smb2_put64(m + 40, h->session_id);
}

int xpipe__smb2_hdr_parse(const uint8_t *m, size_t len, smb2_hdr_t *h)
{
    if (len < SMB2_HDR_LEN || m[0] != 0xFE || m[1] != 'S' || m[2] != 'M'
        || m[3] != 'B' || smb2_get16(m + 4) != SMB2_HDR_LEN)
        return -1;
    h->charge = smb2_get16(m + 6);
    h->status = smb2_get32(m + 8);
    h->command = smb2_get16(m + 12);
    h->credits = smb2_get16(m + 14);
    h->flags = smb2_get32(m + 16);
    h->next = smb2_get32(m + 20);
    h->mid = smb2_get64(m + 24);
    h->async_id = 0;
    h->tree_id = 0;
    if (h->flags & SMB2_FLAGS_ASYNC_COMMAND)
        h->async_id = smb2_get64(m + 32);
    else
        h->tree_id = smb2_get32(m + 36);
    h->session_id = smb2_get64(m + 40);
    if (!(h->flags & SMB2_FLAGS_SERVER_TO_REDIR))
        return -1;
    return 0;
}

int xpipe__smb2_is_transform(const uint8_t *m, size_t len)
{
    return len >= 4 && m[0] == 0xFD && m[1] == 'S' && m[2] == 'M'
           && m[3] == 'B';
}

int xpipe__smb2_transform_parse(const uint8_t *m, size_t len,
                                smb2_transform_t *t)
{
    if (len < SMB2_TRANSFORM_LEN + SMB2_HDR_LEN
        || !xpipe__smb2_is_transform(m, len))
        return -1;
    t->signature = m + 4;
    t->nonce = m + 20;
    t->aad = m + SMB2_AAD_OFF;
    t->size = smb2_get32(m + 36);
    t->flags = smb2_get16(m + 42);
    t->session_id = smb2_get64(m + 44);
    t->payload = m + SMB2_TRANSFORM_LEN;
    /* The whole rest, exactly: no compounding of transforms here. */
    if (t->size != len - SMB2_TRANSFORM_LEN || t->flags != 1)
        return -1;
    return 0;
}

void xpipe__smb2_transform_build(uint8_t *t, uint32_t size, uint64_t session_id)
{
    memset(t, 0, SMB2_TRANSFORM_LEN);
    t[0] = 0xFD;
    t[1] = 'S';
    t[2] = 'M';
    t[3] = 'B';
    smb2_put32(t + 36, size);
    smb2_put16(t + 42, 1); /* encrypted (3.0: AES-128-CCM, also 1) */
    smb2_put64(t + 44, session_id);
}

/* Align off (counted from the header's start) to 8. */
static size_t align8(size_t body_off)
{
    size_t abs = SMB2_HDR_LEN + body_off;

    return (abs + 7) / 8 * 8 - SMB2_HDR_LEN;
}

/* One negotiate context of n 16-bit ids at b + off; the new offset. */
static size_t ctx_ids(uint8_t *b, size_t off, uint16_t type,
                      const uint16_t *ids, int n)
{
    int i;

    off = align8(off);
    smb2_put16(b + off, type);
    smb2_put16(b + off + 2, (uint16_t)(2 + 2 * n));
    smb2_put32(b + off + 4, 0);
    smb2_put16(b + off + 8, (uint16_t)n);
    for (i = 0; i < n; i++)
        smb2_put16(b + off + 10 + 2 * i, ids[i]);
    return off + 10 + 2 * (size_t)n;
}

size_t xpipe__smb2_negotiate_build(uint8_t *b, const smb2_negotiate_req_t *r)
{
    size_t off = 36;
    int i, has311 = 0, nctx = 0;

    memset(b, 0, SMB2_BODY_MAX);
    smb2_put16(b, 36);
    smb2_put16(b + 2, (uint16_t)r->ndialects);
    smb2_put16(b + 4, r->security_mode);
    smb2_put32(b + 8, r->capabilities);
    memcpy(b + 12, r->client_guid, 16);
    for (i = 0; i < r->ndialects; i++, off += 2) {
        smb2_put16(b + off, r->dialects[i]);
        has311 |= r->dialects[i] == SMB2_DIALECT_311;
    }
    if (!has311)
        return off;
    off = align8(off);
    smb2_put32(b + 28, (uint32_t)(SMB2_HDR_LEN + off));
    /* Preauth integrity: SHA-512 with a 32-byte salt. */
    smb2_put16(b + off, SMB2_PREAUTH_INTEGRITY_CAPABILITIES);
    smb2_put16(b + off + 2, 38);
    smb2_put16(b + off + 8, 1);
    smb2_put16(b + off + 10, 32);
    smb2_put16(b + off + 12, SMB2_PREAUTH_SHA512);
    memcpy(b + off + 14, r->salt, 32);
    off += 8 + 38;
    nctx++;
    if (r->nciphers > 0) {
        off = ctx_ids(b, off, SMB2_ENCRYPTION_CAPABILITIES, r->ciphers,
                      r->nciphers);
        nctx++;
    }
    if (r->nsigning > 0) {
        off =
            ctx_ids(b, off, SMB2_SIGNING_CAPABILITIES, r->signing, r->nsigning);
        nctx++;
    }
    smb2_put16(b + 32, (uint16_t)nctx);
    return off;
}

size_t xpipe__smb2_validate_info_build(uint8_t *in,
                                       const smb2_negotiate_req_t *r)
{
    int i;

    smb2_put32(in, r->capabilities);
    memcpy(in + 4, r->client_guid, 16);
    smb2_put16(in + 20, r->security_mode);
    smb2_put16(in + 22, (uint16_t)r->ndialects);
    for (i = 0; i < r->ndialects; i++)
        smb2_put16(in + 24 + 2 * i, r->dialects[i]);
    return 24 + 2 * (size_t)r->ndialects;
}

size_t xpipe__smb2_session_setup_build(uint8_t *b, uint16_t security_mode,
                                       uint64_t previous_session,
                                       uint16_t blob_len)
{
    memset(b, 0, 24);
    smb2_put16(b, 25);
    b[3] = (uint8_t)security_mode;
    smb2_put16(b + 12, SMB2_SESSION_SETUP_BLOB_OFF);
    smb2_put16(b + 14, blob_len);
    smb2_put64(b + 16, previous_session);
    return 24;
}

size_t xpipe__smb2_tree_connect_build(uint8_t *b, const uint8_t *path,
                                      size_t path_len)
{
    memset(b, 0, 8);
    smb2_put16(b, 9);
    smb2_put16(b + 4, SMB2_HDR_LEN + 8);
    smb2_put16(b + 6, (uint16_t)path_len);
    memcpy(b + 8, path, path_len);
    return 8 + path_len;
}

size_t xpipe__smb2_simple_build(uint8_t *b)
{
    smb2_put16(b, 4);
    smb2_put16(b + 2, 0);
    return 4;
}

size_t xpipe__smb2_create_build(uint8_t *b, const uint8_t *name,
                                size_t name_len)
{
    memset(b, 0, 57);
    smb2_put16(b, 57);
    smb2_put32(b + 4, 2);            /* ImpersonationLevel: Impersonation */
    smb2_put32(b + 24, 0x0012019Fu); /* read, write, attributes, sync */
    smb2_put32(b + 32, 0x3);         /* ShareAccess: read and write */
    smb2_put32(b + 36, 1);           /* CreateDisposition: FILE_OPEN */
    smb2_put32(b + 40, 0x40);        /* FILE_NON_DIRECTORY_FILE */
    smb2_put16(b + 44, SMB2_HDR_LEN + 56);
    smb2_put16(b + 46, (uint16_t)name_len);
    memcpy(b + 56, name, name_len);
    /* The buffer is never empty ([MS-SMB2] 2.2.13). */
    return 56 + (name_len ? name_len : 1);
}

size_t xpipe__smb2_close_build(uint8_t *b, const uint8_t file_id[16])
{
    memset(b, 0, 24);
    smb2_put16(b, 24);
    memcpy(b + 8, file_id, 16);
    return 24;
}

size_t xpipe__smb2_read_build(uint8_t *b, const uint8_t file_id[16],
                              uint32_t length)
{
    memset(b, 0, 49);
    smb2_put16(b, 49);
    b[2] = 0x50; /* Padding: where the data should start */
    smb2_put32(b + 4, length);
    memcpy(b + 16, file_id, 16);
    return 49;
}

size_t xpipe__smb2_write_build(uint8_t *b, const uint8_t file_id[16],
                               uint32_t length)
{
    memset(b, 0, 48);
    smb2_put16(b, 49);
    smb2_put16(b + 2, SMB2_WRITE_DATA_OFF);
    smb2_put32(b + 4, length);
    memcpy(b + 16, file_id, 16);
    return 48;
}

size_t xpipe__smb2_ioctl_build(uint8_t *b, uint32_t ctl, const uint8_t *file_id,
                               const uint8_t *in, size_t in_len,
                               uint32_t max_out)
{
    memset(b, 0, 56);
    smb2_put16(b, 57);
    smb2_put32(b + 4, ctl);
    if (file_id != NULL)
        memcpy(b + 8, file_id, 16);
    else
        memset(b + 8, 0xFF, 16);
    smb2_put32(b + 24, in_len ? SMB2_HDR_LEN + 56 : 0);
    smb2_put32(b + 28, (uint32_t)in_len);
    smb2_put32(b + 44, max_out);
    smb2_put32(b + 48, 1); /* SMB2_0_IOCTL_IS_FSCTL */
    if (in_len)
        memcpy(b + 56, in, in_len);
    return 56 + (in_len ? in_len : 1);
}

/* The body of a response, when it is at least need bytes with the
 * StructureSize given. */
static const uint8_t *body(const uint8_t *m, size_t len, uint16_t size,
                           size_t need)
{
    if (len < SMB2_HDR_LEN + need || smb2_get16(m + SMB2_HDR_LEN) != size)
        return NULL;
    return m + SMB2_HDR_LEN;
}

/* A buffer at off (from the header's start) of n bytes, within len and
 * after the fixed part of the body (body_fixed bytes). */
static int span(size_t len, size_t body_fixed, size_t off, size_t n)
{
    if (n == 0)
        return 0;
    if (off < SMB2_HDR_LEN + body_fixed || off > len || n > len - off)
        return -1;
    return 0;
}

/* The buffer a reply names by offset and length, checked by span: *p its
 * start (NULL when empty); -1 when it does not lie in the message. */
static int named(const uint8_t *m, size_t len, size_t body_fixed, size_t off,
                 size_t n, const uint8_t **p)
{
    if (span(len, body_fixed, off, n) != 0)
        return -1;
    *p = n ? m + off : NULL;
    return 0;
}

int xpipe__smb2_negotiate_parse(const uint8_t *m, size_t len,
                                smb2_negotiate_rsp_t *r)
{
    const uint8_t *b = body(m, len, 65, 64);
    size_t off, boff;
    unsigned i, n;

    if (b == NULL)
        return -1;
    r->security_mode = smb2_get16(b + 2);
    r->dialect = smb2_get16(b + 4);
    r->capabilities = smb2_get32(b + 24);
    r->max_transact = smb2_get32(b + 28);
    r->max_read = smb2_get32(b + 32);
    r->max_write = smb2_get32(b + 36);
    r->server_guid = b + 8;
    boff = smb2_get16(b + 56);
    r->blob_len = smb2_get16(b + 58);
    if (named(m, len, 64, boff, r->blob_len, &r->blob) != 0)
        return -1;
    r->preauth_hash = r->cipher = r->signing = -1;
    if (r->dialect != SMB2_DIALECT_311)
        return 0;
    n = smb2_get16(b + 6);
    off = smb2_get32(b + 60);
    for (i = 0; i < n; i++) {
        size_t dlen;
        const uint8_t *d;
        uint16_t type;

        off = (off + 7) / 8 * 8;
        if (off < SMB2_HDR_LEN + 64 || off > len || len - off < 8)
            return -1;
        type = smb2_get16(m + off);
        dlen = smb2_get16(m + off + 2);
        if (dlen > len - off - 8)
            return -1;
        d = m + off + 8;
        switch (type) {
        case SMB2_PREAUTH_INTEGRITY_CAPABILITIES:
            /* Exactly one hash in a response (3.2.5.2). */
            if (dlen < 6 || smb2_get16(d) != 1
                || 6 + (size_t)smb2_get16(d + 2) > dlen)
                return -1;
            r->preauth_hash = smb2_get16(d + 4);
            break;
        case SMB2_ENCRYPTION_CAPABILITIES:
            if (dlen < 4 || smb2_get16(d) != 1)
                return -1;
            r->cipher = smb2_get16(d + 2);
            break;
        case SMB2_SIGNING_CAPABILITIES:
            if (dlen < 4 || smb2_get16(d) != 1)
                return -1;
            r->signing = smb2_get16(d + 2);
            break;
        default: /* contexts this client did not offer: ignored */ break;
        }
        off += 8 + dlen;
    }
    return 0;
}

int xpipe__smb2_session_setup_parse(const uint8_t *m, size_t len,
                                    uint16_t *flags, const uint8_t **blob,
                                    size_t *blob_len)
{
    const uint8_t *b = body(m, len, 9, 8);
    size_t off;

    if (b == NULL)
        return -1;
    *flags = smb2_get16(b + 2);
    off = smb2_get16(b + 4);
    *blob_len = smb2_get16(b + 6);
    return named(m, len, 8, off, *blob_len, blob);
}

int xpipe__smb2_tree_connect_parse(const uint8_t *m, size_t len,
                                   uint8_t *share_type, uint32_t *share_flags)
{
    const uint8_t *b = body(m, len, 16, 16);

    if (b == NULL)
        return -1;
    *share_type = b[2];
    *share_flags = smb2_get32(b + 4);
    return 0;
}

int xpipe__smb2_create_parse(const uint8_t *m, size_t len, uint8_t file_id[16])
{
    const uint8_t *b = body(m, len, 89, 88);

    if (b == NULL)
        return -1;
    memcpy(file_id, b + 64, 16);
    return 0;
}

int xpipe__smb2_read_parse(const uint8_t *m, size_t len, const uint8_t **data,
                           size_t *data_len)
{
    const uint8_t *b = body(m, len, 17, 16);
    size_t off;

    if (b == NULL)
        return -1;
    off = b[2];
    *data_len = smb2_get32(b + 4);
    return named(m, len, 16, off, *data_len, data);
}

int xpipe__smb2_write_parse(const uint8_t *m, size_t len, uint32_t *count)
{
    const uint8_t *b = body(m, len, 17, 16);

    if (b == NULL)
        return -1;
    *count = smb2_get32(b + 4);
    return 0;
}

int xpipe__smb2_ioctl_parse(const uint8_t *m, size_t len, uint32_t *ctl,
                            const uint8_t **out, size_t *out_len)
{
    const uint8_t *b = body(m, len, 49, 48);
    size_t off;

    if (b == NULL)
        return -1;
    *ctl = smb2_get32(b + 4);
    off = smb2_get32(b + 32);
    *out_len = smb2_get32(b + 36);
    return named(m, len, 48, off, *out_len, out);
}

int xpipe__smb2_error_parse(const uint8_t *m, size_t len)
{
    /* Samba sends the 9-byte error body with an 8-byte fixed part; some
     * servers pad nothing: the fixed part is what counts. */
    return body(m, len, 9, 8) == NULL ? -1 : 0;
}

const char *xpipe__smb2_status_name(uint32_t status)
{
    static const struct {
        uint32_t code;
        const char *name;
    } names[] = {
        { NT_STATUS_SUCCESS, "STATUS_SUCCESS" },
        { NT_STATUS_PENDING, "STATUS_PENDING" },
        { NT_STATUS_BUFFER_OVERFLOW, "STATUS_BUFFER_OVERFLOW" },
        { NT_STATUS_MORE_PROCESSING_REQUIRED,
          "STATUS_MORE_PROCESSING_REQUIRED" },
        { NT_STATUS_INVALID_PARAMETER, "STATUS_INVALID_PARAMETER" },
        { NT_STATUS_END_OF_FILE, "STATUS_END_OF_FILE" },
        { NT_STATUS_ACCESS_DENIED, "STATUS_ACCESS_DENIED" },
        { NT_STATUS_OBJECT_NAME_INVALID, "STATUS_OBJECT_NAME_INVALID" },
        { NT_STATUS_OBJECT_NAME_NOT_FOUND, "STATUS_OBJECT_NAME_NOT_FOUND" },
        { NT_STATUS_OBJECT_PATH_NOT_FOUND, "STATUS_OBJECT_PATH_NOT_FOUND" },
        { NT_STATUS_LOGON_FAILURE, "STATUS_LOGON_FAILURE" },
        { NT_STATUS_ACCOUNT_RESTRICTION, "STATUS_ACCOUNT_RESTRICTION" },
        { NT_STATUS_PASSWORD_EXPIRED, "STATUS_PASSWORD_EXPIRED" },
        { NT_STATUS_ACCOUNT_DISABLED, "STATUS_ACCOUNT_DISABLED" },
        { NT_STATUS_INSTANCE_NOT_AVAILABLE, "STATUS_INSTANCE_NOT_AVAILABLE" },
        { NT_STATUS_PIPE_NOT_AVAILABLE, "STATUS_PIPE_NOT_AVAILABLE" },
        { NT_STATUS_INVALID_PIPE_STATE, "STATUS_INVALID_PIPE_STATE" },
        { NT_STATUS_PIPE_BUSY, "STATUS_PIPE_BUSY" },
        { NT_STATUS_PIPE_DISCONNECTED, "STATUS_PIPE_DISCONNECTED" },
        { NT_STATUS_PIPE_CLOSING, "STATUS_PIPE_CLOSING" },
        { NT_STATUS_NOT_SUPPORTED, "STATUS_NOT_SUPPORTED" },
        { NT_STATUS_BAD_NETWORK_NAME, "STATUS_BAD_NETWORK_NAME" },
        { NT_STATUS_CANCELLED, "STATUS_CANCELLED" },
        { NT_STATUS_PIPE_BROKEN, "STATUS_PIPE_BROKEN" },
        { NT_STATUS_ACCOUNT_EXPIRED, "STATUS_ACCOUNT_EXPIRED" },
        { NT_STATUS_FS_DRIVER_REQUIRED, "STATUS_FS_DRIVER_REQUIRED" },
        { NT_STATUS_USER_SESSION_DELETED, "STATUS_USER_SESSION_DELETED" },
        { NT_STATUS_NETWORK_SESSION_EXPIRED, "STATUS_NETWORK_SESSION_EXPIRED" },
        { NT_STATUS_ACCOUNT_LOCKED_OUT, "STATUS_ACCOUNT_LOCKED_OUT" },
        { NT_STATUS_INVALID_SIGNATURE, "STATUS_INVALID_SIGNATURE" },
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (names[i].code == status)
            return names[i].name;
    return NULL;
}

long xpipe__smb2_utf16le(uint8_t *out, size_t room, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;

    while (*p) {
        uint32_t cp;
        int more, i;

        if (p[0] < 0x80) {
            cp = p[0];
            more = 0;
        }
        else if ((p[0] & 0xE0) == 0xC0) {
            cp = p[0] & 0x1Fu;
            more = 1;
        }
        else if ((p[0] & 0xF0) == 0xE0) {
            cp = p[0] & 0x0Fu;
            more = 2;
        }
        else if ((p[0] & 0xF8) == 0xF0) {
            cp = p[0] & 0x07u;
            more = 3;
        }
        else
            return -1;
        for (i = 1; i <= more; i++) {
            if ((p[i] & 0xC0) != 0x80)
                return -1;
            cp = cp << 6 | (p[i] & 0x3Fu);
        }
        /* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
        if ((more == 1 && cp < 0x80) || (more == 2 && cp < 0x800)
            || (more == 3 && cp < 0x10000) || cp > 0x10FFFF
            || (cp >= 0xD800 && cp <= 0xDFFF))
            return -1;
        p += more + 1;
        if (cp >= 0x10000) {
            if (n + 4 > room)
                return -1;
            cp -= 0x10000;
            smb2_put16(out + n, (uint16_t)(0xD800 | (cp >> 10)));
            smb2_put16(out + n + 2, (uint16_t)(0xDC00 | (cp & 0x3FF)));
            n += 4;
        }
        else {
            if (n + 2 > room)
                return -1;
            smb2_put16(out + n, (uint16_t)cp);
            n += 2;
        }
    }
    return (long)n;
}

const char *xpipe__smb2_status_text(uint32_t status, char *buf, size_t len)
{
    const char *name = xpipe__smb2_status_name(status);

    if (name != NULL)
        snprintf(buf, len, "%s (0x%08x)", name, (unsigned)status);
    else
        snprintf(buf, len, "NT status 0x%08x", (unsigned)status);
    return buf;
}
