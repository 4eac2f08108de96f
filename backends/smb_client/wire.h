/* SPDX-License-Identifier: Apache-2.0 */
/* wire.h — PRIVATE: SMB2/3 messages as bytes ([MS-SMB2] section 2): the
 * constants, the request builders and the response parsers of xpipe's SMB
 * client. Pure code: no system call, no allocation, no crypto, so that
 * every parser can be fuzzed in process (tests/fuzz/fuzz_smb2.c). A
 * parser checks every offset and length against what was received and
 * returns -1 for a response it cannot trust; nothing here trusts a server.
 */
#ifndef XPIPE_SMB2_WIRE_H
#define XPIPE_SMB2_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* Commands. */
enum {
    SMB2_NEGOTIATE = 0,
    SMB2_SESSION_SETUP = 1,
    SMB2_LOGOFF = 2,
    SMB2_TREE_CONNECT = 3,
    SMB2_TREE_DISCONNECT = 4,
    SMB2_CREATE = 5,
    SMB2_CLOSE = 6,
    SMB2_READ = 8,
    SMB2_WRITE = 9,
    SMB2_IOCTL = 11,
    SMB2_CANCEL = 12,
    SMB2_ECHO = 13,
    SMB2_OPLOCK_BREAK = 18
};

/* Header flags. */
#define SMB2_FLAGS_SERVER_TO_REDIR 0x00000001u
#define SMB2_FLAGS_ASYNC_COMMAND 0x00000002u
#define SMB2_FLAGS_SIGNED 0x00000008u

/* Dialects. */
#define SMB2_DIALECT_202 0x0202
#define SMB2_DIALECT_210 0x0210
#define SMB2_DIALECT_300 0x0300
#define SMB2_DIALECT_302 0x0302
#define SMB2_DIALECT_311 0x0311

/* Security mode, capabilities, session and share flags. */
#define SMB2_NEGOTIATE_SIGNING_ENABLED 0x0001
#define SMB2_NEGOTIATE_SIGNING_REQUIRED 0x0002
#define SMB2_GLOBAL_CAP_LARGE_MTU 0x00000004u
#define SMB2_GLOBAL_CAP_ENCRYPTION 0x00000040u
#define SMB2_SESSION_FLAG_IS_GUEST 0x0001
#define SMB2_SESSION_FLAG_IS_NULL 0x0002
#define SMB2_SESSION_FLAG_ENCRYPT_DATA 0x0004
#define SMB2_SHAREFLAG_ENCRYPT_DATA 0x00008000u
#define SMB2_SHARE_TYPE_PIPE 0x02

/* Negotiate contexts (3.1.1) and their algorithms. */
#define SMB2_PREAUTH_INTEGRITY_CAPABILITIES 0x0001
#define SMB2_ENCRYPTION_CAPABILITIES 0x0002
#define SMB2_SIGNING_CAPABILITIES 0x0008
#define SMB2_PREAUTH_SHA512 0x0001
enum { /* cipher ids; 0 = none */
       SMB2_CIPHER_NONE = 0,
       SMB2_AES128_CCM = 1,
       SMB2_AES128_GCM = 2,
       SMB2_AES256_CCM = 3,
       SMB2_AES256_GCM = 4
};
enum { /* signing algorithm ids */
       SMB2_SIGN_HMAC_SHA256 = 0,
       SMB2_SIGN_AES_CMAC = 1,
       SMB2_SIGN_AES_GMAC = 2
};

/* FSCTLs. */
#define FSCTL_PIPE_TRANSCEIVE 0x0011C017u
#define FSCTL_VALIDATE_NEGOTIATE_INFO 0x00140204u

/* NT status codes the client acts on. */
#define NT_STATUS_SUCCESS 0x00000000u
#define NT_STATUS_PENDING 0x00000103u
#define NT_STATUS_BUFFER_OVERFLOW 0x80000005u
#define NT_STATUS_MORE_PROCESSING_REQUIRED 0xC0000016u
#define NT_STATUS_INVALID_PARAMETER 0xC000000Du
#define NT_STATUS_END_OF_FILE 0xC0000011u
#define NT_STATUS_ACCESS_DENIED 0xC0000022u
#define NT_STATUS_OBJECT_NAME_INVALID 0xC0000033u
#define NT_STATUS_OBJECT_NAME_NOT_FOUND 0xC0000034u
#define NT_STATUS_OBJECT_PATH_NOT_FOUND 0xC000003Au
#define NT_STATUS_LOGON_FAILURE 0xC000006Du
#define NT_STATUS_ACCOUNT_RESTRICTION 0xC000006Eu
#define NT_STATUS_PASSWORD_EXPIRED 0xC0000071u
#define NT_STATUS_ACCOUNT_DISABLED 0xC0000072u
#define NT_STATUS_PIPE_NOT_AVAILABLE 0xC00000ACu
#define NT_STATUS_INVALID_PIPE_STATE 0xC00000ADu
#define NT_STATUS_PIPE_BUSY 0xC00000AEu
#define NT_STATUS_PIPE_DISCONNECTED 0xC00000B0u
#define NT_STATUS_PIPE_CLOSING 0xC00000B1u
#define NT_STATUS_BAD_NETWORK_NAME 0xC00000CCu
#define NT_STATUS_NOT_SUPPORTED 0xC00000BBu
#define NT_STATUS_INSTANCE_NOT_AVAILABLE 0xC00000ABu
#define NT_STATUS_CANCELLED 0xC0000120u
#define NT_STATUS_PIPE_BROKEN 0xC000014Bu
#define NT_STATUS_ACCOUNT_EXPIRED 0xC0000193u
#define NT_STATUS_FS_DRIVER_REQUIRED 0xC000019Cu
#define NT_STATUS_USER_SESSION_DELETED 0xC0000203u
#define NT_STATUS_NETWORK_SESSION_EXPIRED 0xC000035Cu
#define NT_STATUS_ACCOUNT_LOCKED_OUT 0xC0000234u
#define NT_STATUS_INVALID_SIGNATURE 0xC000A000u

/* Sizes. */
#define SMB2_HDR_LEN 64
#define SMB2_TRANSFORM_LEN 52
#define SMB2_SIG_OFF 48 /* the signature's place in the header */
/* The largest frame (direct TCP: a 24-bit length) this client accepts. */
#define SMB2_FRAME_MAX 0x00FFFFFFu
/* The request bodies built here are at most this long (names included). */
#define SMB2_BODY_MAX 2048

/* Little-endian fields. */
static inline void smb2_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void smb2_put32(uint8_t *p, uint32_t v)
{
    smb2_put16(p, (uint16_t)v);
    smb2_put16(p + 2, (uint16_t)(v >> 16));
}
static inline void smb2_put64(uint8_t *p, uint64_t v)
{
    smb2_put32(p, (uint32_t)v);
    smb2_put32(p + 4, (uint32_t)(v >> 32));
}
static inline uint16_t smb2_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t smb2_get32(const uint8_t *p)
{
    return smb2_get16(p) | ((uint32_t)smb2_get16(p + 2) << 16);
}
static inline uint64_t smb2_get64(const uint8_t *p)
{
    return smb2_get32(p) | ((uint64_t)smb2_get32(p + 4) << 32);
}

/* A header, as parsed or to build. */
typedef struct smb2_hdr_t {
    uint16_t charge; /* CreditCharge */
    uint32_t status; /* responses */
    uint16_t command;
    uint16_t credits; /* request: asked; response: granted */
    uint32_t flags;
    uint32_t next; /* NextCommand */
    uint64_t mid;
    uint64_t async_id; /* when SMB2_FLAGS_ASYNC_COMMAND */
    uint32_t tree_id;  /* otherwise */
    uint64_t session_id;
} smb2_hdr_t;

/* Write a request header (signature zero) at m. */
void xpipe__smb2_hdr_build(uint8_t *m, const smb2_hdr_t *h);
/* Parse a response header: 0, or -1 when m is no SMB2 response. */
int xpipe__smb2_hdr_parse(const uint8_t *m, size_t len, smb2_hdr_t *h);

/* The transform header of an encrypted message (3.x). */
typedef struct smb2_transform_t {
    const uint8_t *signature; /* 16 bytes: the AEAD tag */
    const uint8_t *nonce;     /* 16 bytes: 11 used by CCM, 12 by GCM */
    const uint8_t *aad;       /* bytes 20..51: the associated data */
    uint32_t size;            /* OriginalMessageSize */
    uint16_t flags;           /* 1: encrypted (3.0: the algorithm, 1) */
    uint64_t session_id;
    const uint8_t *payload; /* size bytes */
} smb2_transform_t;
#define SMB2_AAD_OFF 20
#define SMB2_AAD_LEN 32
/* Whether m starts as a transform header (0xFD 'S' 'M' 'B'). */
int xpipe__smb2_is_transform(const uint8_t *m, size_t len);
int xpipe__smb2_transform_parse(const uint8_t *m, size_t len,
                                smb2_transform_t *t);
/* Fill a transform header for a message of size bytes (nonce and
 * signature left for the caller). */
void xpipe__smb2_transform_build(uint8_t *t, uint32_t size,
                                 uint64_t session_id);

/* --- Request bodies: each writes at b (room for SMB2_BODY_MAX) and
 * returns its length; offsets in them count from the header's start. */

typedef struct smb2_negotiate_req_t {
    const uint16_t *dialects;
    int ndialects;
    uint16_t security_mode;
    uint32_t capabilities;
    const uint8_t *client_guid; /* 16 */
    /* 3.1.1's contexts, used when dialects hold 0x0311: */
    const uint8_t *salt; /* 32 */
    const uint16_t *ciphers;
    int nciphers;
    const uint16_t *signing; /* signing algorithms */
    int nsigning;
} smb2_negotiate_req_t;
size_t xpipe__smb2_negotiate_build(uint8_t *b, const smb2_negotiate_req_t *r);

size_t xpipe__smb2_session_setup_build(uint8_t *b, uint16_t security_mode,
                                       uint64_t previous_session,
                                       uint16_t blob_len);
/* The security blob follows the session setup body (at SMB2_HDR_LEN + 24). */
#define SMB2_SESSION_SETUP_BLOB_OFF (SMB2_HDR_LEN + 24)

/* path: UTF-16LE, path_len bytes (<= SMB2_BODY_MAX - 8). */
size_t xpipe__smb2_tree_connect_build(uint8_t *b, const uint8_t *path,
                                      size_t path_len);
size_t xpipe__smb2_simple_build(uint8_t *b); /* LOGOFF, TREE_DISCONNECT, ECHO */
/* name: UTF-16LE, name_len bytes (<= SMB2_BODY_MAX - 57). */
size_t xpipe__smb2_create_build(uint8_t *b, const uint8_t *name,
                                size_t name_len);
size_t xpipe__smb2_close_build(uint8_t *b, const uint8_t file_id[16]);
size_t xpipe__smb2_read_build(uint8_t *b, const uint8_t file_id[16],
                              uint32_t length);
/* The data follows the body (at SMB2_HDR_LEN + 48). */
size_t xpipe__smb2_write_build(uint8_t *b, const uint8_t file_id[16],
                               uint32_t length);
#define SMB2_WRITE_DATA_OFF (SMB2_HDR_LEN + 48)
/* in (in_len <= SMB2_BODY_MAX - 56) follows the body. file_id NULL: none. */
size_t xpipe__smb2_ioctl_build(uint8_t *b, uint32_t ctl, const uint8_t *file_id,
                               const uint8_t *in, size_t in_len,
                               uint32_t max_out);
/* FSCTL_VALIDATE_NEGOTIATE_INFO's input; returns its length. */
size_t xpipe__smb2_validate_info_build(uint8_t *in,
                                       const smb2_negotiate_req_t *r);

/* The credits a request of this many bytes (sent or expected) is charged
 * ([MS-SMB2] 3.1.5.2): one per 64 KiB, at least one. */
static inline uint16_t smb2_charge(size_t bytes)
{
    return (uint16_t)(bytes == 0 ? 1 : (bytes - 1) / 65536 + 1);
}

/* --- Response bodies: m, len is the whole message (header included). */

typedef struct smb2_negotiate_rsp_t {
    uint16_t security_mode;
    uint16_t dialect;
    uint32_t capabilities;
    uint32_t max_transact, max_read, max_write;
    const uint8_t *server_guid; /* 16 */
    const uint8_t *blob;        /* the server's GSS token (may be empty) */
    size_t blob_len;
    /* 3.1.1 contexts; -1 when absent: */
    int preauth_hash, cipher, signing;
} smb2_negotiate_rsp_t;
int xpipe__smb2_negotiate_parse(const uint8_t *m, size_t len,
                                smb2_negotiate_rsp_t *r);

int xpipe__smb2_session_setup_parse(const uint8_t *m, size_t len,
                                    uint16_t *flags, const uint8_t **blob,
                                    size_t *blob_len);
int xpipe__smb2_tree_connect_parse(const uint8_t *m, size_t len,
                                   uint8_t *share_type, uint32_t *share_flags);
int xpipe__smb2_create_parse(const uint8_t *m, size_t len, uint8_t file_id[16]);
/* READ and IOCTL: the data returned (a view into m). */
int xpipe__smb2_read_parse(const uint8_t *m, size_t len, const uint8_t **data,
                           size_t *data_len);
int xpipe__smb2_write_parse(const uint8_t *m, size_t len, uint32_t *count);
int xpipe__smb2_ioctl_parse(const uint8_t *m, size_t len, uint32_t *ctl,
                            const uint8_t **out, size_t *out_len);
/* An error response's body is at least its 9 bytes (or the body of the
 * command's own structure): 0 when m carries one, -1 when not. */
int xpipe__smb2_error_parse(const uint8_t *m, size_t len);

/* UTF-8 s as UTF-16LE in out: its length in bytes, or -1 when s is not
 * UTF-8 or needs more than room bytes. */
long xpipe__smb2_utf16le(uint8_t *out, size_t room, const char *s);

/* The name of an NT status this client knows, or NULL. */
const char *xpipe__smb2_status_name(uint32_t status);
/* The NT status as text: "STATUS_X (0x...)" into buf. */
const char *xpipe__smb2_status_text(uint32_t status, char *buf, size_t len);

#endif
