/* SPDX-License-Identifier: Apache-2.0 */
/* test_smbclient.c — remote pipes opened from POSIX: xpipe's SMB2/3
 * client (backends/smb_client/).
 *
 * First its pure parts in process: the wire parsers against truncated and
 * lying replies, and the cryptography against known answers (RFC 4493,
 * RFC 4231, NIST's GCM vectors, and values computed by an independent
 * implementation: impacket's KDF and PyCryptodome's CCM/GCM). Then real
 * servers on 127.0.0.1: the private smbd of ./run tests (XT_SMB_*), with
 * smbd's own srvsvc pipe (a DCE/RPC bind answered by bind_ack, a partner
 * nobody here wrote) and xpipe's own listeners exported through it, and
 * private smbd rigs started here for each server configuration of the
 * matrix. Cases without smbd skip, saying why. Last, a scripted server
 * (smb2_fake.c) for what Samba never does.
 */
#include "xtest.h"

#include "xpipe_config.h"

#include "../backends/smb_client/crypto.h"
#include "../backends/smb_client/wire.h"
#include "smb2_fake.h"

#include <apr_strings.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Helpers */

static void unhex(uint8_t *out, const char *hex)
{
    size_t i;

    for (i = 0; hex[2 * i]; i++) {
        unsigned int v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static int same_hex(const uint8_t *got, size_t n, const char *hex)
{
    uint8_t want[128];

    CU_ASSERT_FATAL(strlen(hex) == 2 * n && n <= sizeof(want));
    unhex(want, hex);
    return memcmp(got, want, n) == 0;
}

/* The smbd rig of ./run tests, or NULL (skipped, saying why). */
static const char *rig_port(void)
{
    return xt_smb_rig("XT_SMB_PORT");
}

/* Attributes for the rig on port: mode, the rig's account. */
static xpipe_attr_t *rig_attr(xpipe_mode_e mode, const char *port)
{
    xpipe_attr_t *a = xt_attr(mode);

    XT_OK(xpipe_attr_smb_port_set(a, (unsigned int)atoi(port)));
    XT_OK(xpipe_attr_smb_credentials_set(a, getenv("XT_SMB_USER"),
                                         getenv("XT_SMB_DOMAIN"),
                                         getenv("XT_SMB_PASS")));
    return a;
}

/* A DCE/RPC bind to srvsvc (v3.0, NDR): smbd's own pipe answers it with
 * a bind_ack for call 1. */
static const uint8_t rpc_bind[72] = {
    0x05, 0x00, 0x0b, 0x03, 0x10, 0x00, 0x00, 0x00, 0x48, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0xb8, 0x10, 0xb8, 0x10, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0xc8, 0x4f, 0x32, 0x4b,
    0x70, 0x16, 0xd3, 0x01, 0x12, 0x78, 0x5a, 0x47, 0xbf, 0x6e, 0xe1, 0x88,
    0x03, 0x00, 0x00, 0x00, 0x04, 0x5d, 0x88, 0x8a, 0xeb, 0x1c, 0xc9, 0x11,
    0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60, 0x02, 0x00, 0x00, 0x00
};

/* Bind to srvsvc on ch: APR_SUCCESS when a bind_ack for call 1 came. */
static apr_status_t srvsvc_bind(xpipe_t *ch)
{
    uint8_t ack[4096];
    apr_size_t n = sizeof(ack);
    apr_status_t rv;

    xpipe_timeout_set(ch, XT_LONG);
    rv = xpipe_send(ch, rpc_bind, sizeof(rpc_bind));
    if (rv == APR_SUCCESS)
        rv = xpipe_recv(ch, ack, &n);
    if (rv != APR_SUCCESS)
        return rv;
    CU_ASSERT(n >= 24);
    CU_ASSERT_EQUAL(ack[0], 5);                             /* rpc version 5 */
    CU_ASSERT_EQUAL(ack[2], 12);                            /* bind_ack */
    CU_ASSERT_EQUAL(ack[12], 1);                            /* call 1 */
    CU_ASSERT_EQUAL((apr_size_t)(ack[8] | ack[9] << 8), n); /* frag len */
    return n >= 24 && ack[2] == 12 ? APR_SUCCESS : APR_EGENERAL;
}

/* Connect to \\127.0.0.1\pipe\<pipe> with a: the status; *ch set. */
static apr_status_t smb_open(xpipe_t **ch, const char *pipe,
                             const xpipe_attr_t *a)
{
    /* Generous: the rig's first open of srvsvc makes smbd start
     * samba-dcerpcd and its workers, seconds when the machine is busy
     * (a failure comes back at once whatever the deadline). */
    return xpipe_connect(ch,
                         apr_psprintf(xt_p, "\\\\127.0.0.1\\pipe\\%s", pipe), a,
                         XT_LONG * 3, xt_p);
}

/* ------------------------------------------------------------------ */
/* Pure code: the wire */

/* A READ reply carrying len bytes at the usual offset. */
static size_t read_reply(uint8_t *m, size_t len)
{
    smb2_hdr_t h = { 0 };

    h.command = SMB2_READ;
    xpipe__smb2_hdr_build(m, &h);
    smb2_put32(m + 16, SMB2_FLAGS_SERVER_TO_REDIR);
    memset(m + 64, 0, 16);
    smb2_put16(m + 64, 17);
    m[66] = 80;
    smb2_put32(m + 68, (uint32_t)len);
    memset(m + 80, 'x', len);
    return 80 + len;
}

static void test_wire_parsers_refuse_lies(void)
{
    uint8_t m[512], fid[16];
    const uint8_t *data;
    size_t n = read_reply(m, 100), len, cut;
    smb2_hdr_t h;
    smb2_negotiate_rsp_t nr;

    CU_ASSERT_EQUAL(xpipe__smb2_hdr_parse(m, n, &h), 0);
    CU_ASSERT_EQUAL(xpipe__smb2_read_parse(m, n, &data, &len), 0);
    CU_ASSERT_EQUAL(len, 100);
    CU_ASSERT_PTR_EQUAL(data, m + 80);
    /* Every truncation of the reply is refused, none read past it. */
    for (cut = 0; cut < n; cut++)
        CU_ASSERT_EQUAL(xpipe__smb2_read_parse(m, cut, &data, &len), -1);
    /* A data offset inside the header, or a length past the end. */
    m[66] = 40;
    CU_ASSERT_EQUAL(xpipe__smb2_read_parse(m, n, &data, &len), -1);
    m[66] = 80;
    smb2_put32(m + 68, 0xFFFFFFF0u);
    CU_ASSERT_EQUAL(xpipe__smb2_read_parse(m, n, &data, &len), -1);
    /* Not a reply: no SERVER_TO_REDIR flag; a wrong protocol id. */
    smb2_put32(m + 16, 0);
    CU_ASSERT_EQUAL(xpipe__smb2_hdr_parse(m, n, &h), -1);
    smb2_put32(m + 16, SMB2_FLAGS_SERVER_TO_REDIR);
    m[0] = 0xFF;
    CU_ASSERT_EQUAL(xpipe__smb2_hdr_parse(m, n, &h), -1);
    /* A CREATE reply's body is too short for its FileId. */
    n = read_reply(m, 0);
    smb2_put16(m + 64, 89);
    CU_ASSERT_EQUAL(xpipe__smb2_create_parse(m, n, fid), -1);
    /* A negotiate reply whose context list runs off the end. */
    memset(m, 0, sizeof(m));
    n = read_reply(m, 0);
    smb2_put16(m + 64, 65);
    smb2_put16(m + 64 + 4, SMB2_DIALECT_311);
    smb2_put16(m + 64 + 6, 2);    /* two contexts */
    smb2_put32(m + 64 + 60, 136); /* at 136 */
    smb2_put16(m + 136, SMB2_ENCRYPTION_CAPABILITIES);
    smb2_put16(m + 136 + 2, 400); /* longer than the message */
    CU_ASSERT_EQUAL(xpipe__smb2_negotiate_parse(m, 200, &nr), -1);
    smb2_put16(m + 136 + 2, 4);
    smb2_put16(m + 136 + 8, 1);
    smb2_put16(m + 136 + 10, SMB2_AES128_GCM);
    CU_ASSERT_EQUAL(xpipe__smb2_negotiate_parse(m, 150, &nr),
                    -1); /* 2nd is cut */
    smb2_put16(m + 64 + 6, 1);
    CU_ASSERT_EQUAL(xpipe__smb2_negotiate_parse(m, 150, &nr), 0);
    CU_ASSERT_EQUAL(nr.cipher, SMB2_AES128_GCM);
}

static void test_wire_transform_and_names(void)
{
    uint8_t t[SMB2_TRANSFORM_LEN + 64], out[64];
    smb2_transform_t tf;

    xpipe__smb2_transform_build(t, 64, 0x1122334455667788ull);
    CU_ASSERT_EQUAL(xpipe__smb2_transform_parse(t, sizeof(t), &tf), 0);
    CU_ASSERT_EQUAL(tf.size, 64);
    CU_ASSERT_EQUAL(tf.session_id, 0x1122334455667788ull);
    /* OriginalMessageSize must be the rest, exactly. */
    CU_ASSERT_EQUAL(xpipe__smb2_transform_parse(t, sizeof(t) - 1, &tf), -1);
    smb2_put32(t + 36, 0xFFFFFFFFu);
    CU_ASSERT_EQUAL(xpipe__smb2_transform_parse(t, sizeof(t), &tf), -1);
    /* UTF-8 names become UTF-16LE; bad UTF-8 and overflow are refused. */
    CU_ASSERT_EQUAL(xpipe__smb2_utf16le(out, sizeof(out), "ab"), 4);
    CU_ASSERT(out[0] == 'a' && out[1] == 0 && out[2] == 'b' && out[3] == 0);
    CU_ASSERT_EQUAL(xpipe__smb2_utf16le(out, sizeof(out), "\xc3\xa9"), 2);
    CU_ASSERT(out[0] == 0xe9 && out[1] == 0);
    CU_ASSERT_EQUAL(xpipe__smb2_utf16le(out, sizeof(out), "\xf0\x9f\x98\x80"),
                    4);
    CU_ASSERT(smb2_get16(out) == 0xD83D && smb2_get16(out + 2) == 0xDE00);
    CU_ASSERT_EQUAL(xpipe__smb2_utf16le(out, sizeof(out), "\xc0\xaf"), -1);
    CU_ASSERT_EQUAL(xpipe__smb2_utf16le(out, sizeof(out), "\xed\xa0\x80"), -1);
    CU_ASSERT_EQUAL(xpipe__smb2_utf16le(out, 3, "ab"), -1);
}

/* ------------------------------------------------------------------ */
/* Pure code: the cryptography */

static void test_crypto_known_answers(void)
{
    uint8_t key[16], key32[32], msg[64], out[32], tag[16], buf[64], ctx[64];
    const char *pt = "xpipe over SMB3, encrypted";
    smb2_iov_t iov;
    int i;

    /* RFC 4493, example 2: AES-CMAC of 16 bytes. */
    unhex(key, "2b7e151628aed2a6abf7158809cf4f3c");
    unhex(msg, "6bc1bee22e409f96e93d7e117393172a");
    iov.p = msg;
    iov.n = 16;
    XT_OK(xpipe__smb2_mac(SMB2_SIGN_AES_CMAC, key, NULL, &iov, 1, out));
    CU_ASSERT(same_hex(out, 16, "070a16b46b4d4144f79bdd9dd04a287c"));
    /* RFC 4231, test case 2: HMAC-SHA256, the first 16 bytes. */
    memset(key, 0, sizeof(key));
    memcpy(key, "Jefe", 4);
    iov.p = "what do ya want for nothing?";
    iov.n = 28;
    /* SMB's keys are 16 bytes: "Jefe" zero-padded to 16 is the same
     * HMAC key (RFC 2104 pads the key with zeros). */
    XT_OK(xpipe__smb2_mac(SMB2_SIGN_HMAC_SHA256, key, NULL, &iov, 1, out));
    CU_ASSERT(same_hex(out, 16, "5bdcc146bf60754e6a042426089575c7"));
    /* NIST GCM test case 2: AES-128, key 0, IV 0, 16 zero bytes. */
    memset(key, 0, 16);
    memset(msg, 0, 16);
    memset(ctx, 0, 12);
    iov.p = msg;
    iov.n = 16;
    XT_OK(xpipe__smb2_aead(1, SMB2_AES128_GCM, key, ctx, NULL, 0, &iov, 1, buf,
                           tag));
    CU_ASSERT(same_hex(buf, 16, "0388dace60b6a392f328c2b971b2fe78"));
    CU_ASSERT(same_hex(tag, 16, "ab6e47d42cec13bdf53a67b21257bddf"));
    /* Computed by impacket (KDF) and PyCryptodome (CCM, GCM, GMAC). */
    for (i = 0; i < 64; i++)
        ctx[i] = (uint8_t)i;
    for (i = 0; i < 32; i++)
        key32[i] = (uint8_t)i;
    memcpy(key, key32, 16);
    XT_OK(xpipe__smb2_kdf(key, 16, (const uint8_t *)"SMB2AESCMAC", 12,
                          (const uint8_t *)"SmbSign", 8, out, 16));
    CU_ASSERT(same_hex(out, 16, "6234814cbb8ea9227440ebfeb5eacbe1"));
    XT_OK(xpipe__smb2_kdf(key, 16, (const uint8_t *)"SMBSigningKey", 14, ctx,
                          64, out, 16));
    CU_ASSERT(same_hex(out, 16, "f7e5401ecc6e79ef9eab401b05004e4f"));
    XT_OK(xpipe__smb2_kdf(key32, 32, (const uint8_t *)"SMBC2SCipherKey", 16,
                          ctx, 64, out, 32));
    CU_ASSERT(same_hex(out, 32,
                       "e568de865ae188f20138931c5423898fc0d5e94fa0"
                       "94b72d474fc56cf5703db6"));
    iov.p = pt;
    iov.n = strlen(pt);
    XT_OK(xpipe__smb2_aead(1, SMB2_AES128_CCM, key, ctx, ctx, 32, &iov, 1, buf,
                           tag));
    CU_ASSERT(same_hex(buf, 26,
                       "47ec4cdbb3685e0aa4ea28dbd6caf94762903a2383"
                       "9f941df038"));
    CU_ASSERT(same_hex(tag, 16, "ade07cc11f4f3c6f0529b41f1497769d"));
    XT_OK(xpipe__smb2_aead(1, SMB2_AES256_CCM, key32, ctx, ctx, 32, &iov, 1,
                           buf, tag));
    CU_ASSERT(same_hex(buf, 26,
                       "0bb078163f60dce2da8636e65585eff77c81ee79d5"
                       "22da514f92"));
    CU_ASSERT(same_hex(tag, 16, "75cb783b3f8a04f768efea551ce0b187"));
    XT_OK(xpipe__smb2_aead(1, SMB2_AES256_GCM, key32, ctx, ctx, 32, &iov, 1,
                           buf, tag));
    CU_ASSERT(same_hex(buf, 26,
                       "3f72bf6ba0c5ad6de833b7d8fcab4b41a3b3e95782"
                       "022f085d03"));
    CU_ASSERT(same_hex(tag, 16, "8a100c3f061ed3a2a805f8ebed371160"));
    {
        smb2_iov_t two[2] = { { ctx, 32 }, { pt, strlen(pt) } };
        XT_OK(xpipe__smb2_mac(SMB2_SIGN_AES_GMAC, key, ctx, two, 2, out));
        CU_ASSERT(same_hex(out, 16, "f79c30aba619693a5c3b056ed6393f72"));
    }
    /* Decryption: the text back, and one flipped bit anywhere refused
     * with nothing of the text left in the output. */
    XT_OK(xpipe__smb2_aead(1, SMB2_AES128_CCM, key, ctx, ctx, 32, &iov, 1, buf,
                           tag));
    memcpy(msg, buf, 26);
    iov.p = msg;
    iov.n = 26;
    XT_OK(xpipe__smb2_aead(0, SMB2_AES128_CCM, key, ctx, ctx, 32, &iov, 1, out,
                           tag));
    CU_ASSERT(memcmp(out, pt, 26) == 0);
    msg[3] ^= 0x10;
    CU_ASSERT_EQUAL(xpipe__smb2_aead(0, SMB2_AES128_CCM, key, ctx, ctx, 32,
                                     &iov, 1, out, tag),
                    -1);
    CU_ASSERT(memcmp(out, pt, 26) != 0);
    msg[3] ^= 0x10;
    tag[0] ^= 1;
    CU_ASSERT_EQUAL(xpipe__smb2_aead(0, SMB2_AES128_CCM, key, ctx, ctx, 32,
                                     &iov, 1, out, tag),
                    -1);
}

/* ------------------------------------------------------------------ */
/* Against smbd's own pipe */

static void test_srvsvc_bind(void)
{
    const char *port = rig_port();
    xpipe_t *ch = NULL;
    xpipe_peer_t peer = XPIPE_PEER_INIT;

    if (port == NULL)
        return;
    XT_OK(smb_open(&ch, "srvsvc", rig_attr(XPIPE_MODE_MESSAGE, port)));
    XT_OK(srvsvc_bind(ch));
    XT_OK(xpipe_peer_get(ch, &peer));
    CU_ASSERT(peer.have & XPIPE_PEER_SMB);
    CU_ASSERT(peer.have & XPIPE_PEER_REMOTE);
    CU_ASSERT_STRING_EQUAL(peer.smb_dialect, "3.1.1");
    CU_ASSERT(peer.smb_flags & XPIPE_SMB_SIGNED);
    CU_ASSERT(!(peer.smb_flags & XPIPE_SMB_GUEST));
    CU_ASSERT_STRING_EQUAL(peer.smb_auth, "NTLM");
    CU_ASSERT_STRING_EQUAL(peer.host, "127.0.0.1");
    CU_ASSERT_STRING_EQUAL(peer.address, "127.0.0.1");
    CU_ASSERT_EQUAL(peer.port, (unsigned int)atoi(port));
    CU_ASSERT(peer.account && strcmp(peer.account, getenv("XT_SMB_USER")) == 0);
    XT_OK(xpipe_close(ch));
}

/* A password is NTLM's alone: with it, SPNEGO's Kerberos must not ask a
 * KDC for a ticket (an AS-REQ for the user, sent to whatever realm the
 * machine's krb5.conf names: seconds lost where that KDC does not answer,
 * and the user's name and a password-derived pre-authentication handed
 * to it). Here the default realm's KDC is this test's own UDP and TCP
 * sockets, and nothing may arrive there while the client connects. */
static void test_password_is_for_ntlm_only(void)
{
    const char *port = rig_port();
    const char *conf = apr_psprintf(xt_p, "/tmp/xt-krb5-%ld.conf", xt_pid());
    const char *vars[] = { "KRB5_CONFIG", "KRB5CCNAME" }, *saved[2];
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    xpipe_t *ch = NULL;
    char b[64];
    int u, t = -1, i;
    FILE *f;

    if (port == NULL)
        return;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    u = socket(AF_INET, SOCK_DGRAM, 0);
    CU_ASSERT_FATAL(u >= 0);
    CU_ASSERT_FATAL(bind(u, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CU_ASSERT_FATAL(getsockname(u, (struct sockaddr *)&sa, &len) == 0);
    /* The same port over TCP (krb5 falls back to it), where it is free. */
    t = socket(AF_INET, SOCK_STREAM, 0);
    if (t >= 0
        && (bind(t, (struct sockaddr *)&sa, sizeof(sa)) != 0
            || listen(t, 4) != 0)) {
        close(t);
        t = -1;
    }
    f = fopen(conf, "w");
    CU_ASSERT_FATAL(f != NULL);
    fprintf(f,
            "[libdefaults]\n default_realm = XPIPE.TEST\n"
            " dns_lookup_kdc = false\n dns_lookup_realm = false\n"
            "[realms]\n XPIPE.TEST = {\n  kdc = 127.0.0.1:%u\n }\n",
            (unsigned)ntohs(sa.sin_port));
    fclose(f);
    for (i = 0; i < 2; i++) {
        const char *v = getenv(vars[i]);
        saved[i] = v ? apr_pstrdup(xt_p, v) : NULL;
    }
    setenv("KRB5_CONFIG", conf, 1);
    setenv("KRB5CCNAME", "MEMORY:xt-no-tickets", 1);
    XT_STATUS(smb_open(&ch, "srvsvc", rig_attr(XPIPE_MODE_MESSAGE, port)),
              APR_SUCCESS);
    for (i = 0; i < 2; i++) {
        if (saved[i])
            setenv(vars[i], saved[i], 1);
        else
            unsetenv(vars[i]);
    }
    if (ch) {
        XT_OK(srvsvc_bind(ch));
        XT_OK(xpipe_close(ch));
    }
    /* The connect is over: whatever it sent a KDC is there by now. */
    errno = 0;
    CU_ASSERT_EQUAL(recv(u, b, sizeof(b), MSG_DONTWAIT), -1);
    CU_ASSERT(errno == EAGAIN || errno == EWOULDBLOCK);
    if (t >= 0) {
        struct pollfd pf = { t, POLLIN, 0 };
        CU_ASSERT_EQUAL(poll(&pf, 1, 0), 0);
        close(t);
    }
    close(u);
    remove(conf);
}

/* Each dialect, offered alone; with encryption asked where it exists. */
static void test_each_dialect_signed_and_encrypted(void)
{
    static const struct {
        unsigned int id;
        const char *name;
    } d[] = { { 0x0202, "2.0.2" },
              { 0x0210, "2.1" },
              { 0x0300, "3.0" },
              { 0x0302, "3.0.2" },
              { 0x0311, "3.1.1" } };
    const char *port = rig_port();
    int i, enc;

    if (port == NULL)
        return;
    for (i = 0; i < 5; i++)
        for (enc = 0; enc < 2; enc++) {
            xpipe_attr_t *a = rig_attr(XPIPE_MODE_MESSAGE, port);
            xpipe_t *ch = NULL;
            xpipe_peer_t peer = XPIPE_PEER_INIT;
            apr_status_t rv;

            XT_OK(xpipe_attr_smb_dialects_set(a, d[i].id, d[i].id));
            XT_OK(xpipe_attr_smb_encrypt_set(a, enc));
            rv = smb_open(&ch, "srvsvc", a);
            if (enc && d[i].id < 0x0300) {
                /* SMB 2.x cannot encrypt: refused, saying so. */
                XT_STATUS(rv, XPIPE_EAUTH);
                CU_ASSERT_PTR_NOT_NULL(
                    strstr(xpipe_error_detail(), "encryption"));
                continue;
            }
            XT_OK(rv);
            XT_OK(srvsvc_bind(ch));
            XT_OK(xpipe_peer_get(ch, &peer));
            CU_ASSERT_STRING_EQUAL(peer.smb_dialect, d[i].name);
            CU_ASSERT(peer.smb_flags & XPIPE_SMB_SIGNED);
            CU_ASSERT_EQUAL(!!(peer.smb_flags & XPIPE_SMB_ENCRYPTED), enc);
            XT_OK(xpipe_close(ch));
        }
}

static void test_refusals_have_their_status(void)
{
    const char *port = rig_port();
    xpipe_attr_t *a;
    xpipe_t *ch = NULL;
    xpipe_listener_t *l = NULL;

    if (port == NULL)
        return;
    /* A wrong password: the NT status as the detail. */
    a = xt_attr(XPIPE_MODE_MESSAGE);
    XT_OK(xpipe_attr_smb_port_set(a, (unsigned int)atoi(port)));
    XT_OK(xpipe_attr_smb_credentials_set(a, getenv("XT_SMB_USER"),
                                         getenv("XT_SMB_DOMAIN"), "wrong"));
    XT_STATUS(smb_open(&ch, "srvsvc", a), XPIPE_EAUTH);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(xpipe_error_detail(), "STATUS_LOGON_FAILURE"));
    CU_ASSERT_PTR_NULL(strstr(xpipe_error_detail(), "wrong"));
    CU_ASSERT_PTR_NULL(ch);
    /* An unknown user: smbd makes it a guest, refused by default... */
    XT_OK(xpipe_attr_smb_credentials_set(a, "nosuchuser", NULL, "x"));
    XT_STATUS(smb_open(&ch, "srvsvc", a), XPIPE_EAUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(xpipe_error_detail(), "guest"));
    /* ...and accepted, unsigned, when asked. */
    XT_OK(xpipe_attr_smb_guest_set(a, 1));
    XT_OK(smb_open(&ch, "srvsvc", a));
    {
        xpipe_peer_t peer = XPIPE_PEER_INIT;
        XT_OK(srvsvc_bind(ch));
        XT_OK(xpipe_peer_get(ch, &peer));
        CU_ASSERT(peer.smb_flags & XPIPE_SMB_GUEST);
        CU_ASSERT(!(peer.smb_flags & XPIPE_SMB_SIGNED));
    }
    XT_OK(xpipe_close(ch));
    /* No such pipe: XPIPE_ENOPIPE, with the server's status. */
    a = rig_attr(XPIPE_MODE_BYTE, port);
    XT_STATUS(smb_open(&ch, "no-such-pipe", a), XPIPE_ENOPIPE);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(xpipe_error_detail(), "OBJECT_NAME_NOT_FOUND"));
    /* A remote name cannot be listened on. */
    XT_STATUS(xpipe_listen(&l, "\\\\127.0.0.1\\pipe\\x", NULL, xt_p),
              XPIPE_EREMOTE);
}

/* Nobody at the port: XPIPE_ENOPIPE at once; a server that accepts and
 * never answers: APR_TIMEUP at the deadline. */
static void test_no_server_and_silent_server(void)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE);
    xpipe_t *ch = NULL;
    apr_time_t t0;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    unsigned int port;

    CU_ASSERT_FATAL(s >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    CU_ASSERT_FATAL(getsockname(s, (struct sockaddr *)&sa, &sl) == 0);
    port = ntohs(sa.sin_port);
    XT_OK(xpipe_attr_smb_port_set(a, port));
    /* Bound, not listening: refused. */
    XT_STATUS(smb_open(&ch, "x", a), XPIPE_ENOPIPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(xpipe_error_detail(), "no SMB server"));
    /* Listening (the kernel accepts), never answering. */
    CU_ASSERT_FATAL(listen(s, 4) == 0);
    t0 = apr_time_now();
    XT_STATUS(xpipe_connect(&ch, "\\\\127.0.0.1\\pipe\\x", a, 300 * 1000, xt_p),
              APR_TIMEUP);
    CU_ASSERT(apr_time_now() - t0 >= 290 * 1000);
    CU_ASSERT(apr_time_now() - t0 < 3 * APR_USEC_PER_SEC);
    CU_ASSERT_PTR_NOT_NULL(strstr(xpipe_error_detail(), "negotiation"));
    close(s);
}

/* What a remote pipe's channel refuses, and bad attributes. */
static void test_attributes_and_unsupported(void)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE);
    unsigned int lo, hi;

    XT_STATUS(xpipe_attr_smb_credentials_set(NULL, "u", NULL, "p"), APR_EINVAL);
    XT_STATUS(xpipe_attr_smb_credentials_set(a, "", NULL, "p"), APR_EINVAL);
    XT_STATUS(xpipe_attr_smb_credentials_set(a, NULL, "d", NULL), APR_EINVAL);
    XT_OK(xpipe_attr_smb_credentials_set(a, "u", "d", "p"));
    CU_ASSERT_STRING_EQUAL(xpipe_attr_smb_user_get(a), "u");
    XT_OK(xpipe_attr_smb_credentials_set(a, NULL, NULL, NULL));
    CU_ASSERT_PTR_NULL(xpipe_attr_smb_user_get(a));
    XT_STATUS(xpipe_attr_smb_port_set(a, 65536), APR_EINVAL);
    CU_ASSERT_EQUAL(xpipe_attr_smb_port_get(a), 445);
    XT_OK(xpipe_attr_smb_port_set(a, 4445));
    CU_ASSERT_EQUAL(xpipe_attr_smb_port_get(a), 4445);
    XT_STATUS(xpipe_attr_smb_dialects_set(a, 0x0311, 0x0202), APR_EINVAL);
    XT_STATUS(xpipe_attr_smb_dialects_set(a, 0x0100, 0x0202), APR_EINVAL);
    XT_OK(xpipe_attr_smb_dialects_set(a, 0x0300, 0x0311));
    xpipe_attr_smb_dialects_get(a, &lo, &hi);
    CU_ASSERT(lo == 0x0300 && hi == 0x0311);
    xpipe_attr_smb_dialects_get(NULL, &lo, &hi);
    CU_ASSERT(lo == 0x0202 && hi == 0x0311);
    CU_ASSERT_EQUAL(xpipe_attr_smb_encrypt_get(NULL), 0);
    CU_ASSERT_EQUAL(xpipe_attr_smb_guest_get(NULL), 0);
}

/* ------------------------------------------------------------------ */
/* End to end: xpipe client -> smbd -> xpipe's exported listener */

typedef struct e2e_t {
    xpipe_listener_t *l;
    xpipe_mode_e mode;
    int op; /* 0 echo, 1 big (all in, checksum, then all back), 2 hold,
               3 close when the client has written a byte */
    apr_size_t size;
    apr_uint64_t sum;
    apr_status_t rv;
    apr_size_t count;
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;
    int release; /* op 2: the client says when to close */
} e2e_t;

/* Samba drops what a pipe's server wrote last when it closes while
 * smbd is still taking those bytes into a READ: the READ fails with
 * STATUS_PIPE_DISCONNECTED and its bytes go with it (strace of smbd:
 * readv() of the bytes, then a poll() that sees the hang-up, then that
 * reply). So a server behind Samba closes only when the client has said
 * it has everything: one byte, or the client's own close. */
static apr_status_t e2e_await_ack(xpipe_t *ch)
{
    char c;
    apr_size_t n = 1;
    apr_status_t rv = xpipe_read(ch, &c, &n);

    return rv == APR_SUCCESS || rv == APR_EOF ? APR_SUCCESS : rv;
}

static apr_status_t e2e_server(void *arg)
{
    e2e_t *j = arg;
    apr_pool_t *p = NULL;
    xpipe_t *ch = NULL;
    unsigned char *buf;
    apr_size_t n;

    apr_pool_create(&p, NULL);
    j->rv = xpipe_accept(&ch, j->l, XT_LONG * 3, p);
    if (j->rv == APR_SUCCESS) {
        xpipe_timeout_set(ch, XT_LONG * 3);
        if (j->op == 0)
            j->rv = xt_echo(ch, &j->count);
        else if (j->op == 3)
            j->rv = e2e_await_ack(ch);
        else if (j->op == 1) {
            buf = malloc(j->size);
            j->rv = xpipe_read_full(ch, buf, j->size, &j->count);
            j->sum = xt_fnv(XT_FNV_INIT, buf, j->count);
            if (j->rv == APR_SUCCESS)
                j->rv = xpipe_write_full(ch, buf, j->size, &n);
            if (j->rv == APR_SUCCESS)
                j->rv = e2e_await_ack(ch);
            free(buf);
        }
        else {
            apr_time_t end = apr_time_now() + XT_LONG;
            apr_thread_mutex_lock(j->lock);
            while (!j->release && apr_time_now() < end)
                apr_thread_cond_timedwait(j->cond, j->lock,
                                          end - apr_time_now());
            apr_thread_mutex_unlock(j->lock);
            /* 2: the client has gone; write nothing. */
            if (j->release == 1)
                j->rv = xpipe_write_full(ch, "late", 4, NULL);
            if (j->release == 1 && j->rv == APR_SUCCESS)
                j->rv = e2e_await_ack(ch);
        }
        xpipe_close(ch);
    }
    apr_pool_destroy(p);
    return j->rv;
}

/* An exported listener on a fresh name and its server thread; the
 * client's channel to it through smbd in *ch. NULL when no rig. */
static apr_thread_t *e2e_start(e2e_t *j, xpipe_mode_e mode, int op,
                               xpipe_t **ch)
{
    const char *port = rig_port(), *np = getenv("XT_SMB_NPDIR");
    const char *name = xt_name(); /* a fresh one at each call */
    xpipe_attr_t *a;
    apr_thread_t *t;

    *ch = NULL;
    if (port == NULL)
        return NULL;
    if (np == NULL) {
        xt_skip("no np directory (XT_SMB_NPDIR)");
        return NULL;
    }
    a = xt_attr(mode);
    j->mode = mode;
    j->op = op;
    XT_OK(apr_thread_mutex_create(&j->lock, APR_THREAD_MUTEX_DEFAULT, xt_p));
    XT_OK(apr_thread_cond_create(&j->cond, xt_p));
    XT_OK(xpipe_attr_smb_export_set(a, 1));
    XT_OK(xpipe_attr_smb_np_dir_set(a, np));
    XT_OK(xpipe_listen(&j->l, name, a, xt_p));
    t = xt_thread(e2e_server, j);
    if (!XT_STATUS(smb_open(ch, name, rig_attr(mode, port)), APR_SUCCESS)) {
        printf("\n  %s", xpipe_error_detail());
        xpipe_listener_close(j->l); /* the server's accept ends */
        xt_join(t);
        return NULL;
    }
    xpipe_timeout_set(*ch, XT_LONG);
    return t;
}

static void e2e_finish(e2e_t *j, apr_thread_t *t, xpipe_t *ch)
{
    if (ch)
        XT_OK(xpipe_close(ch));
    XT_OK(xt_join(t));
    XT_OK(xpipe_listener_close(j->l));
}

static void test_e2e_byte_echo(void)
{
    e2e_t j = { 0 };
    xpipe_t *ch;
    apr_thread_t *t = e2e_start(&j, XPIPE_MODE_BYTE, 0, &ch);
    char buf[64];
    apr_size_t n;
    int i;

    if (t == NULL)
        return;
    for (i = 0; i < 20; i++) {
        char line[32];
        apr_snprintf(line, sizeof(line), "line %d", i);
        XT_OK(xpipe_write_full(ch, line, strlen(line), NULL));
        XT_OK(xpipe_read_full(ch, buf, strlen(line), &n));
        CU_ASSERT(memcmp(buf, line, n) == 0);
    }
    e2e_finish(&j, t, ch);
    CU_ASSERT(j.count > 0);
}

static void test_e2e_big_checksummed(void)
{
    e2e_t j = { 0 };
    xpipe_t *ch;
    /* Lighter under valgrind (XT_LIGHT), where each byte costs 50x. */
    const apr_size_t size = getenv("XT_LIGHT") ? 2u << 20 : 16u << 20;
    apr_thread_t *t;
    unsigned char *out, *in;
    apr_size_t n;
    apr_uint64_t sum;

    j.size = size;
    t = e2e_start(&j, XPIPE_MODE_BYTE, 1, &ch);
    if (t == NULL)
        return;
    out = malloc(size);
    in = malloc(size);
    xt_fill(out, size, 0, 7);
    sum = xt_fnv(XT_FNV_INIT, out, size);
    xpipe_timeout_set(ch, XT_LONG * 3);
    XT_OK(xpipe_write_full(ch, out, size, &n));
    if (!XT_STATUS(xpipe_read_full(ch, in, size, &n), APR_SUCCESS))
        printf("\n  read %lu of %lu: %s\n", (unsigned long)n,
               (unsigned long)size, xpipe_error_detail());
    CU_ASSERT_EQUAL(n, size);
    CU_ASSERT(xt_fnv(XT_FNV_INIT, in, n) == sum);
    free(out);
    free(in);
    /* All here: the server may close now, and its close is the end of
     * the stream here. */
    XT_OK(xpipe_write_full(ch, "k", 1, NULL));
    n = 1;
    {
        char c;
        XT_STATUS(xpipe_read(ch, &c, &n), APR_EOF);
    }
    e2e_finish(&j, t, ch);
    CU_ASSERT(j.sum == sum);
}

static void test_e2e_messages(void)
{
    static const apr_size_t sizes[] = { 1, 100, 4096, 60000, 65535 };
    e2e_t j = { 0 };
    xpipe_t *ch;
    apr_thread_t *t = e2e_start(&j, XPIPE_MODE_MESSAGE, 0, &ch);
    unsigned char *out = malloc(65536), *in = malloc(65536);
    apr_size_t n;
    size_t i;

    if (t == NULL) {
        free(out);
        free(in);
        return;
    }
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        xt_fill(out, sizes[i], 0, (unsigned int)i);
        XT_OK(xpipe_send(ch, out, sizes[i]));
        /* Too small a buffer: the size, and the message stays. */
        n = sizes[i] - 1;
        if (n > 0) {
            XT_STATUS(xpipe_recv(ch, in, &n), XPIPE_EMSGSIZE);
            CU_ASSERT_EQUAL(n, sizes[i]);
        }
        n = 65536;
        XT_OK(xpipe_recv(ch, in, &n));
        CU_ASSERT_EQUAL(n, sizes[i]);
        CU_ASSERT(memcmp(in, out, n) == 0);
    }
    free(out);
    free(in);
    e2e_finish(&j, t, ch);
    CU_ASSERT_EQUAL(j.count, 5);
}

/* Message mode, 16 MiB each way: 256 messages of 65,535 bytes (Samba's
 * largest), each with its own pattern, echoed whole and in order, the
 * whole checksummed on both sides. Two in flight at once, so the pipe
 * holds messages queued while others cross. */
static void test_e2e_messages_16mib(void)
{
    enum { COUNT = 256, SIZE = XPIPE_SMB_MESSAGE_MAX };
    e2e_t j = { 0 };
    xpipe_t *ch;
    apr_thread_t *t = e2e_start(&j, XPIPE_MODE_MESSAGE, 0, &ch);
    unsigned char *out = malloc(SIZE), *in = malloc(SIZE);
    apr_uint64_t sent = XT_FNV_INIT, got = XT_FNV_INIT;
    int i, count = getenv("XT_LIGHT") ? COUNT / 8 : COUNT, ok = 1;

    if (t == NULL) {
        free(out);
        free(in);
        return;
    }
    xpipe_timeout_set(ch, XT_LONG * 3);
    for (i = 0; i <= count; i++) {
        apr_size_t n = SIZE;

        if (i < count) {
            xt_fill(out, SIZE, 0, (unsigned int)i + 11);
            sent = xt_fnv(sent, out, SIZE);
            if (!XT_STATUS(xpipe_send(ch, out, SIZE), APR_SUCCESS))
                break;
        }
        if (i == 0)
            continue; /* the second goes out before the first comes back */
        if (!XT_STATUS(xpipe_recv(ch, in, &n), APR_SUCCESS))
            break;
        got = xt_fnv(got, in, n);
        xt_fill(out, SIZE, 0, (unsigned int)(i - 1) + 11);
        ok &= n == SIZE && memcmp(in, out, SIZE) == 0;
    }
    CU_ASSERT(ok);
    CU_ASSERT(i == count + 1 && got == sent);
    free(out);
    free(in);
    e2e_finish(&j, t, ch);
    CU_ASSERT_EQUAL(j.count, (apr_size_t)count);
}

/* A read blocked on an empty pipe (its READ pending at smbd) is woken by
 * an interrupt; what the server writes later is read next, not lost. */
static void test_e2e_interrupt_keeps_data(void)
{
    e2e_t j = { 0 };
    xpipe_t *ch;
    apr_thread_t *t = e2e_start(&j, XPIPE_MODE_BYTE, 2, &ch);
    char buf[8];
    apr_size_t n = sizeof(buf);
    apr_time_t t0;

    if (t == NULL)
        return;
    xpipe_timeout_set(ch, XT_LONG);
    t0 = apr_time_now();
    XT_OK(xpipe_interrupt(ch)); /* latched: the next call returns at once */
    XT_STATUS(xpipe_read(ch, buf, &n), XPIPE_ECANCELED);
    /* A read waiting for the READ in flight, cut by its deadline. */
    xpipe_timeout_set(ch, 200 * 1000);
    n = sizeof(buf);
    XT_STATUS(xpipe_read(ch, buf, &n), APR_TIMEUP);
    CU_ASSERT(apr_time_now() - t0 < 5 * APR_USEC_PER_SEC);
    /* Now the server writes: the READ left in flight brings it. */
    apr_thread_mutex_lock(j.lock);
    j.release = 1;
    apr_thread_cond_broadcast(j.cond);
    apr_thread_mutex_unlock(j.lock);
    xpipe_timeout_set(ch, XT_LONG);
    XT_OK(xpipe_read_full(ch, buf, 4, &n));
    CU_ASSERT(n == 4 && memcmp(buf, "late", 4) == 0);
    XT_OK(xpipe_write_full(ch, "k", 1, NULL));
    n = sizeof(buf);
    XT_STATUS(xpipe_read(ch, buf, &n), APR_EOF);
    e2e_finish(&j, t, ch);
}

/* Interrupt and close from another thread reach a read blocked on a READ
 * that smbd will never answer. */
static void test_e2e_interrupt_and_close_from_another_thread(void)
{
    e2e_t j = { 0 };
    xpipe_t *ch;
    apr_thread_t *t = e2e_start(&j, XPIPE_MODE_BYTE, 2, &ch), *r;
    xt_recv_job_t b = { 0 };
    apr_time_t t0;

    if (t == NULL)
        return;
    b.ch = ch;
    b.bytes = 1;
    /* A READ pending at smbd first: a read cut by its deadline leaves it
     * in flight, so the reader below waits on it (or, should the
     * interrupt come first, finds it latched: the same status). */
    {
        char c;
        apr_size_t n = 1;
        xpipe_timeout_set(ch, 100 * 1000);
        XT_STATUS(xpipe_read(ch, &c, &n), APR_TIMEUP);
    }
    xpipe_timeout_set(ch, XT_LONG);
    r = xt_thread(xt_recv_job, &b);
    t0 = apr_time_now();
    XT_OK(xpipe_interrupt(ch));
    XT_OK(xt_join(r));
    XT_STATUS(b.rv, XPIPE_ECANCELED);
    CU_ASSERT(b.returned - t0 < XT_WOKEN);
    /* Again, now ended by a close. */
    b.returned = 0;
    r = xt_thread(xt_recv_job, &b);
    t0 = apr_time_now();
    XT_OK(xpipe_close(ch));
    XT_OK(xt_join(r));
    CU_ASSERT(b.rv == XPIPE_ECLOSED || b.rv == XPIPE_ECANCELED);
    CU_ASSERT(apr_time_now() - t0 < XT_WOKEN);
    apr_thread_mutex_lock(j.lock);
    j.release = 2;
    apr_thread_cond_broadcast(j.cond);
    apr_thread_mutex_unlock(j.lock);
    e2e_finish(&j, t, NULL);
}

/* A reader and a writer at once on one channel, 4 MiB each way. */
static void test_e2e_concurrent_read_write(void)
{
    e2e_t j = { 0 };
    xpipe_t *ch;
    apr_thread_t *t = e2e_start(&j, XPIPE_MODE_BYTE, 0, &ch), *w, *r;
    xt_stream_t ws = { 0 }, rs = { 0 };

    if (t == NULL)
        return;
    xpipe_timeout_set(ch, XT_LONG * 3);
    ws.ch = rs.ch = ch;
    ws.seed = rs.seed = 3;
    ws.total = 4u << 20;
    ws.sum = rs.sum = XT_FNV_INIT;
    rs.total = ws.total;
    r = xt_thread(xt_stream_read, &rs);
    w = xt_thread(xt_stream_write, &ws);
    XT_OK(xt_join(w));
    XT_OK(ws.rv);
    XT_OK(xt_join(r));
    CU_ASSERT_EQUAL(rs.total, ws.total);
    CU_ASSERT(rs.sum == ws.sum);
    e2e_finish(&j, t, ch);
}

/* ------------------------------------------------------------------ */
/* The server matrix: private smbd rigs, one per configuration */

typedef struct matrix_t {
    const char *conf;    /* more smb.conf lines */
    unsigned int offer;  /* dialects offered up to (0: all) */
    int encrypt;         /* the client asks for encryption */
    const char *dialect; /* what must be negotiated */
    int encrypted;       /* and whether encrypted */
    apr_status_t want;   /* or this refusal */
} matrix_t;

static const matrix_t matrix[] = {
    { "server max protocol = SMB2_02", 0, 0, "2.0.2", 0, APR_SUCCESS },
    { "server max protocol = SMB2_10", 0, 0, "2.1", 0, APR_SUCCESS },
    { "server max protocol = SMB3_00", 0, 0, "3.0", 0, APR_SUCCESS },
    { "server max protocol = SMB3_02", 0, 0, "3.0.2", 0, APR_SUCCESS },
    { "server max protocol = SMB3_11", 0, 0, "3.1.1", 0, APR_SUCCESS },
    { "server signing = mandatory\nrestrict anonymous = 2\nmap to guest = "
      "Never",
      0, 0, "3.1.1", 0, APR_SUCCESS },
    { "server signing = mandatory", 0x0202, 0, "2.0.2", 0, APR_SUCCESS },
    { "server smb encrypt = required", 0, 0, "3.1.1", 1, APR_SUCCESS },
    { "server smb encrypt = required", 0x0302, 0, "3.0.2", 1, APR_SUCCESS },
    { "server smb encrypt = required\nserver max protocol = SMB3_00", 0, 0,
      "3.0", 1, APR_SUCCESS },
    { "server smb encrypt = required", 0x0210, 0, NULL, 0, XPIPE_EAUTH },
    { "server smb3 encryption algorithms = AES-128-CCM", 0, 1, "3.1.1", 1,
      APR_SUCCESS },
    { "server smb3 encryption algorithms = AES-128-GCM", 0, 1, "3.1.1", 1,
      APR_SUCCESS },
    { "server smb3 encryption algorithms = AES-256-CCM", 0, 1, "3.1.1", 1,
      APR_SUCCESS },
    { "server smb3 encryption algorithms = AES-256-GCM", 0, 1, "3.1.1", 1,
      APR_SUCCESS },
    { "server smb3 signing algorithms = AES-128-GMAC", 0, 0, "3.1.1", 0,
      APR_SUCCESS },
    { "server smb3 signing algorithms = AES-128-CMAC", 0, 0, "3.1.1", 0,
      APR_SUCCESS },
    { "server smb3 signing algorithms = HMAC-SHA256", 0, 0, "3.1.1", 0,
      APR_SUCCESS },
};

/* Cases that start smbds of their own run once per build, in its plain
 * leg (the fast path and the message framing are the local transports';
 * the SMB client is the same code there): 0, skipped, elsewhere. */
static int rig_plain_leg(const char *what)
{
    if (getenv("XPIPE_FAST_PATH") || XPIPE_UNIX_FRAMED) {
        xt_skip(apr_psprintf(xt_p,
                             "%s runs in the plain legs (native, ASan, TSan, "
                             "valgrind): nothing of the SMB client differs "
                             "here",
                             what));
        return 0;
    }
    return 1;
}

/* Start a private smbd with conf's lines: its port, or NULL (skipped). */
static const char *rig_start_with(const char *dir, const char *conf)
{
    char path[512], line[256];
    const char *port = NULL;
    FILE *f;
    int rc;

    apr_snprintf(path, sizeof(path),
                 "SMB_RIG_EXTRA='%s' %s/build-aux/smbd-rig.sh start %s "
                 ">/dev/null 2>&1",
                 conf, getenv("XT_SRCDIR"), dir);
    rc = system(path);
    apr_snprintf(path, sizeof(path), "%s/env", dir);
    f = fopen(path, "r");
    if (rc != 0 || f == NULL) {
        if (f)
            fclose(f);
        xt_skip("build-aux/smbd-rig.sh did not start");
        return NULL;
    }
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "XT_SMB_PORT=", 12) == 0)
            port = apr_pstrdup(xt_p, line + 12);
        if (strncmp(line, "XT_SMB_SKIP=", 12) == 0)
            xt_skip(apr_pstrdup(xt_p, line + 12));
    }
    fclose(f);
    return port;
}

/* Stop the rigs in dirs (a space-separated list), all at once: each
 * smbd takes a second or two to go. */
static void rig_stop(const char *dirs)
{
    const char *cmd = apr_psprintf(
        xt_p,
        "for d in %s; do (%s/build-aux/smbd-rig.sh stop $d >/dev/null 2>&1; "
        "rm -rf $d) & done; wait",
        dirs, getenv("XT_SRCDIR"));

    CU_ASSERT(system(cmd) == 0);
}

/* The rig's account, from its env file. */
static xpipe_attr_t *matrix_attr(const char *dir, const char *port,
                                 const char **np)
{
    char path[512], line[256];
    const char *user = NULL, *pass = NULL, *domain = NULL;
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_MESSAGE);
    FILE *f;

    apr_snprintf(path, sizeof(path), "%s/env", dir);
    f = fopen(path, "r");
    CU_ASSERT_FATAL(f != NULL);
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "XT_SMB_USER=", 12) == 0)
            user = apr_pstrdup(xt_p, line + 12);
        if (strncmp(line, "XT_SMB_PASS=", 12) == 0)
            pass = apr_pstrdup(xt_p, line + 12);
        if (strncmp(line, "XT_SMB_DOMAIN=", 14) == 0)
            domain = apr_pstrdup(xt_p, line + 14);
        if (strncmp(line, "XT_SMB_NPDIR=", 13) == 0)
            *np = apr_pstrdup(xt_p, line + 13);
    }
    fclose(f);
    XT_OK(xpipe_attr_smb_port_set(a, (unsigned int)atoi(port)));
    XT_OK(xpipe_attr_smb_credentials_set(a, user, domain, pass));
    return a;
}

static void test_server_matrix(void)
{
    const char *dirs = "";
    size_t i;

    if (rig_port() == NULL)
        return;
    /* Eighteen smbd starts. */
    if (!rig_plain_leg("the server matrix"))
        return;
    for (i = 0; i < sizeof(matrix) / sizeof(matrix[0]); i++) {
        const matrix_t *m = &matrix[i];
        const char *dir = apr_psprintf(xt_p, "/tmp/xt-smbc-%ld-%lu", xt_pid(),
                                       (unsigned long)i);
        const char *port = rig_start_with(dir, m->conf), *np = NULL;
        const char *name = xt_name();
        xpipe_attr_t *a, *la = xt_attr(XPIPE_MODE_MESSAGE);
        xpipe_t *ch = NULL;
        xpipe_peer_t peer = XPIPE_PEER_INIT;
        apr_status_t rv;
        e2e_t j = { 0 };
        apr_thread_t *t;

        dirs = apr_pstrcat(xt_p, dirs, " ", dir, NULL);
        if (port == NULL)
            break;
        a = matrix_attr(dir, port, &np);
        if (m->offer)
            XT_OK(xpipe_attr_smb_dialects_set(a, 0x0202, m->offer));
        XT_OK(xpipe_attr_smb_encrypt_set(a, m->encrypt));
        /* xpipe's own echo listener exported into this rig (srvsvc has its
         * case above; each of its first opens makes smbd start
         * samba-dcerpcd, seconds under load): data crosses both ways. */
        CU_ASSERT_PTR_NOT_NULL_FATAL(np);
        XT_OK(xpipe_attr_smb_export_set(la, 1));
        XT_OK(xpipe_attr_smb_np_dir_set(la, np));
        if (!XT_STATUS(xpipe_listen(&j.l, name, la, xt_p), APR_SUCCESS))
            break;
        j.mode = XPIPE_MODE_MESSAGE;
        t = xt_thread(e2e_server, &j);
        rv = xpipe_connect(&ch,
                           apr_psprintf(xt_p, "\\\\127.0.0.1\\pipe\\%s", name),
                           a, XT_LONG * 3, xt_p);
        printf("\n    [%s] offer <= %x%s: %s %s", m->conf,
               m->offer ? m->offer : 0x311, m->encrypt ? ", encrypt" : "",
               xpipe_status_name(rv),
               rv == APR_SUCCESS ? "" : xpipe_error_detail());
        if (m->want != APR_SUCCESS) {
            XT_STATUS(rv, m->want);
        }
        else if (xt_status_check(rv, APR_SUCCESS, m->conf, __FILE__,
                                 __LINE__)) {
            char msg[32], back[32];
            apr_size_t n = sizeof(back);

            xpipe_timeout_set(ch, XT_LONG);
            apr_snprintf(msg, sizeof(msg), "matrix %lu", (unsigned long)i);
            XT_OK(xpipe_send(ch, msg, strlen(msg)));
            XT_OK(xpipe_recv(ch, back, &n));
            CU_ASSERT(n == strlen(msg) && memcmp(back, msg, n) == 0);
            XT_OK(xpipe_peer_get(ch, &peer));
            printf(" dialect %s%s%s", peer.smb_dialect,
                   peer.smb_flags & XPIPE_SMB_SIGNED ? ", signed" : "",
                   peer.smb_flags & XPIPE_SMB_ENCRYPTED ? ", encrypted" : "");
            CU_ASSERT_STRING_EQUAL(peer.smb_dialect, m->dialect);
            CU_ASSERT(peer.smb_flags & XPIPE_SMB_SIGNED);
            CU_ASSERT_EQUAL(!!(peer.smb_flags & XPIPE_SMB_ENCRYPTED),
                            m->encrypted);
        }
        if (ch != NULL) {
            XT_OK(xpipe_close(ch)); /* the server's echo ends */
        }
        else
            xpipe_listener_close(j.l); /* its accept ends */
        xt_join(t);
        xpipe_listener_close(j.l);
    }
    rig_stop(dirs);
}

/* The server vanishes: a private smbd killed (every process of its rig,
 * the one serving this connection among them) under a blocked read. The
 * read ends at once with XPIPE_ERESET and its cause; a write after it
 * says the same; close still works. */
static void test_smbd_killed_resets(void)
{
    const char *dir, *port, *np = NULL, *name;
    xpipe_attr_t *a, *la;
    xpipe_t *ch = NULL;
    xt_recv_job_t r = { 0 };
    e2e_t j = { 0 };
    apr_thread_t *t, *rt;
    char back[8];
    apr_size_t n = sizeof(back);
    apr_time_t t0;
    int rc;

    if (rig_port() == NULL || !rig_plain_leg("a private smbd killed"))
        return;
    if (access("/usr/bin/pkill", X_OK) != 0) {
        xt_skip("pkill is not installed (procps; ./run deps installs it)");
        return;
    }
    dir = apr_psprintf(xt_p, "/tmp/xt-smbc-%ld-kill", xt_pid());
    if ((port = rig_start_with(dir, "")) == NULL) {
        rig_stop(dir);
        return;
    }
    name = xt_name();
    a = matrix_attr(dir, port, &np);
    la = xt_attr(XPIPE_MODE_BYTE);
    XT_OK(xpipe_attr_mode_set(a, XPIPE_MODE_BYTE));
    CU_ASSERT_PTR_NOT_NULL_FATAL(np);
    XT_OK(xpipe_attr_smb_export_set(la, 1));
    XT_OK(xpipe_attr_smb_np_dir_set(la, np));
    XT_OK(xpipe_listen(&j.l, name, la, xt_p));
    j.mode = XPIPE_MODE_BYTE;
    t = xt_thread(e2e_server, &j);
    if (XT_STATUS(xpipe_connect(
                      &ch, apr_psprintf(xt_p, "\\\\127.0.0.1\\pipe\\%s", name),
                      a, XT_LONG * 3, xt_p),
                  APR_SUCCESS)) {
        XT_OK(xpipe_timeout_set(ch, XT_LONG));
        XT_OK(xpipe_write_full(ch, "alive", 5, NULL));
        XT_OK(xpipe_read_full(ch, back, 5, &n));
        CU_ASSERT(n == 5 && memcmp(back, "alive", 5) == 0);
        /* A read waits (asleep, or about to be) for what never comes. */
        r.ch = ch;
        r.bytes = 1;
        t0 = apr_time_now();
        rt = xt_thread(xt_recv_job, &r);
        /* ("smb[.]conf": the shell running pkill must not match.) */
        rc = system(apr_psprintf(
            xt_p, "pkill -KILL -f 'configfile=%s/smb[.]conf'", dir));
        CU_ASSERT_EQUAL(rc, 0);
        XT_OK(xt_join(rt));
        XT_STATUS(r.rv, XPIPE_ERESET);
        /* Its deadline was 10 s away: the end of the connection ended it. */
        CU_ASSERT(r.returned - t0 < XT_WOKEN);
        printf(" [read: %s]", xpipe_status_name(r.rv));
        n = 1;
        XT_STATUS(xpipe_write(ch, "x", &n), XPIPE_ERESET);
        CU_ASSERT_PTR_NOT_NULL(xpipe_error_detail());
        XT_OK(xpipe_close(ch));
    }
    else
        xpipe_listener_close(j.l); /* its accept ends */
    /* The exported listener's end: smbd's socket to it closed. */
    xt_join(t);
    xpipe_listener_close(j.l);
    rig_stop(dir);
}

/* ------------------------------------------------------------------ */
/* A scripted server (smb2_fake.c): what Samba never does */

/* Attributes for the fake f: mode, its port, its account (pass). */
static xpipe_attr_t *fake_attr(fake_t *f, xpipe_mode_e mode, const char *pass)
{
    xpipe_attr_t *a = xt_attr(mode);

    XT_OK(xpipe_attr_smb_port_set(a, fake_port(f)));
    XT_OK(xpipe_attr_smb_credentials_set(a, "xpuser", "XPFAKE", pass));
    return a;
}

/* Start the fake with script and connect to it in mode: the channel, or
 * NULL (skipped, or failed) with *f NULL when it did not start. */
static xpipe_t *fake_open(fake_t **f, fake_script_e script, xpipe_mode_e mode,
                          apr_status_t want)
{
    const char *pass = apr_psprintf(xt_p, "fake-%ld-pw", (long)xt_pid());
    xpipe_t *ch = NULL;
    char why[256];

    *f = fake_start(script, 0, "XPFAKE", "xpuser", pass, why, sizeof(why));
    if (*f == NULL) {
        xt_skip(apr_pstrdup(xt_p, why));
        return NULL;
    }
    if (!XT_STATUS(smb_open(&ch, "fake", fake_attr(*f, mode, pass)), want))
        printf("\n  %s", xpipe_error_detail());
    if (want == APR_SUCCESS && ch != NULL)
        xpipe_timeout_set(ch, XT_LONG);
    return ch;
}

/* Stop the fake: what it saw, and no failure of its own. */
static void fake_done(fake_t *f, fake_seen_t *seen)
{
    fake_stop(f, seen);
    if (seen->error[0]) {
        printf("\n  the fake server: %s", seen->error);
        CU_FAIL("the fake server failed");
    }
}

static void test_fake_overflow_continues_a_message(void)
{
    fake_t *f;
    xpipe_t *ch = fake_open(&f, FAKE_OVERFLOW, XPIPE_MODE_MESSAGE, APR_SUCCESS);
    fake_seen_t seen;
    char *buf, small[1000];
    apr_size_t n = sizeof(small), i;
    int same = 1;

    if (f == NULL)
        return;
    if (ch != NULL) {
        /* 40,000 bytes with STATUS_BUFFER_OVERFLOW, then 60,000: one
         * message, too big for this buffer, and it stays. */
        XT_STATUS(xpipe_recv(ch, small, &n), XPIPE_EMSGSIZE);
        CU_ASSERT_EQUAL(n, 100000);
        buf = malloc(100000);
        n = 100000;
        XT_OK(xpipe_recv(ch, buf, &n));
        CU_ASSERT_EQUAL(n, 100000);
        for (i = 0; i < n; i++)
            same &= buf[i] == (char)(i * 7 + i / 251);
        CU_ASSERT(same);
        free(buf);
        n = sizeof(small);
        XT_OK(xpipe_recv(ch, small, &n));
        CU_ASSERT(n == 4 && memcmp(small, "tail", 4) == 0);
        XT_OK(xpipe_close(ch));
    }
    fake_done(f, &seen);
    CU_ASSERT_EQUAL(seen.sessions, 1);
    CU_ASSERT(seen.reads >= 3);
}

static void test_fake_cancel_answered_cancelled(void)
{
    fake_t *f;
    xpipe_t *ch = fake_open(&f, FAKE_CANCEL, XPIPE_MODE_BYTE, APR_SUCCESS);
    fake_seen_t seen;
    char buf[16];
    apr_size_t n = sizeof(buf);

    if (f == NULL)
        return;
    if (ch != NULL) {
        /* The READ goes async (an unsigned interim) and waits; the read
         * leaves at its deadline and CANCELs it, as Windows' ReadFile is
         * cancelled: the server answers STATUS_CANCELLED, which ends
         * nothing. */
        xpipe_timeout_set(ch, 200 * 1000);
        XT_STATUS(xpipe_read(ch, buf, &n), APR_TIMEUP);
        xpipe_timeout_set(ch, XT_LONG);
        n = sizeof(buf);
        if (!XT_STATUS(xpipe_read(ch, buf, &n), APR_SUCCESS))
            printf("\n  %s", xpipe_error_detail());
        CU_ASSERT(n == 5 && memcmp(buf, "after", 5) == 0);
        /* An interrupt latched before a read: nothing in flight to
         * cancel, and the read after it works. */
        XT_OK(xpipe_interrupt(ch));
        n = sizeof(buf);
        XT_STATUS(xpipe_read(ch, buf, &n), XPIPE_ECANCELED);
        XT_OK(xpipe_close(ch));
    }
    fake_done(f, &seen);
    CU_ASSERT(seen.cancels >= 1);
    CU_ASSERT_EQUAL(seen.reads, 2);
}

/* A reply the client must not trust: the channel is reset, with why. */
static void fake_untrusted(fake_script_e script, const char *says)
{
    fake_t *f;
    xpipe_t *ch = fake_open(&f, script, XPIPE_MODE_BYTE, APR_SUCCESS);
    fake_seen_t seen;
    char buf[16];
    apr_size_t n = sizeof(buf);

    if (f == NULL)
        return;
    if (ch != NULL) {
        XT_STATUS(xpipe_read(ch, buf, &n), XPIPE_ERESET);
        CU_ASSERT_EQUAL(n, 0);
        if (strstr(xpipe_error_detail(), says) == NULL) {
            printf("\n  \"%s\" does not say \"%s\"", xpipe_error_detail(),
                   says);
            CU_FAIL("the detail says why");
        }
        /* For good: nothing after it is believed either. */
        n = sizeof(buf);
        XT_STATUS(xpipe_write(ch, "x", &n), XPIPE_ERESET);
        XT_OK(xpipe_close(ch));
    }
    fake_done(f, &seen);
    CU_ASSERT_EQUAL(seen.reads, 1);
}

static void test_fake_bad_signature(void)
{
    fake_untrusted(FAKE_BADSIG, "bad signature");
}

static void test_fake_unsigned_reply(void)
{
    fake_untrusted(FAKE_UNSIGNED, "no signature");
}

static void test_fake_truncated_frame(void)
{
    fake_untrusted(FAKE_TRUNCATED, "closed the connection in a message");
}

/* A session setup that ends in success with no final token, while our
 * GSSAPI still wants one (SPNEGO's accept-completed and MIC): refused,
 * nothing of the session used (it once handed GSSAPI the last token's
 * length with no token). */
static void test_fake_session_without_final_token(void)
{
    fake_t *f;
    xpipe_t *ch = fake_open(&f, FAKE_NOTOKEN, XPIPE_MODE_BYTE, XPIPE_EAUTH);
    fake_seen_t seen;

    if (f == NULL)
        return;
    CU_ASSERT_PTR_NULL(ch);
    CU_ASSERT(strstr(xpipe_error_detail(), "before GSSAPI was complete")
              != NULL);
    fake_done(f, &seen);
    CU_ASSERT_EQUAL(seen.creates, 0);
}

static void test_fake_credit_starvation(void)
{
    fake_t *f;
    xpipe_t *ch = NULL;
    xpipe_attr_t *a;
    fake_seen_t seen;
    char why[256];
    apr_time_t t0;
    apr_status_t rv;

    f = fake_start(FAKE_STARVE, 0, "XPFAKE", "xpuser", "pw", why, sizeof(why));
    if (f == NULL) {
        xt_skip(apr_pstrdup(xt_p, why));
        return;
    }
    a = fake_attr(f, XPIPE_MODE_BYTE, "pw");
    /* No credit after the first session setup reply: the client cannot
     * send its next request, and says so at the deadline. */
    t0 = apr_time_now();
    rv = xpipe_connect(&ch, "\\\\127.0.0.1\\pipe\\fake", a,
                       2 * APR_USEC_PER_SEC, xt_p);
    XT_STATUS(rv, APR_TIMEUP);
    CU_ASSERT(apr_time_now() - t0 < 5 * APR_USEC_PER_SEC);
    snprintf(why, sizeof(why), "%s", xpipe_error_detail());
    CU_ASSERT_PTR_NULL(ch);
    fake_done(f, &seen);
    /* The reply that granted nothing came (well before the deadline,
     * unless the machine is very slow): the client ran out of credits. */
    CU_ASSERT(seen.setup_answered != 0);
    if (seen.setup_answered != 0 && seen.setup_answered < t0 + 1800 * 1000
        && strstr(why, "credit") == NULL) {
        printf("\n  \"%s\" does not say \"credit\"", why);
        CU_FAIL("the detail names the credits");
    }
}

static void test_fake_silent_server(void)
{
    fake_t *f;
    xpipe_t *ch = fake_open(&f, FAKE_SILENT, XPIPE_MODE_BYTE, APR_SUCCESS);
    fake_seen_t seen;
    char buf[16];
    apr_size_t n = sizeof(buf);
    apr_time_t t0;

    if (f == NULL)
        return;
    if (ch != NULL) {
        /* The server stops answering: each call ends at its deadline,
         * and close does not wait for it. */
        xpipe_timeout_set(ch, 300 * 1000);
        t0 = apr_time_now();
        XT_STATUS(xpipe_read(ch, buf, &n), APR_TIMEUP);
        n = 4;
        XT_STATUS(xpipe_write(ch, "data", &n), APR_TIMEUP);
        t0 = apr_time_now();
        XT_OK(xpipe_close(ch));
        CU_ASSERT(apr_time_now() - t0 < XT_WOKEN);
    }
    fake_done(f, &seen);
    CU_ASSERT_EQUAL(seen.reads, 1);
}

static void test_fake_session_expiry_reauthenticates(void)
{
    fake_t *f;
    xpipe_t *ch = fake_open(&f, FAKE_EXPIRE, XPIPE_MODE_BYTE, APR_SUCCESS);
    fake_seen_t seen;
    char buf[16];
    apr_size_t n = sizeof(buf);

    if (f == NULL)
        return;
    if (ch != NULL) {
        /* STATUS_NETWORK_SESSION_EXPIRED to a WRITE and to a READ: the
         * session is authenticated again, and each goes through. */
        XT_OK(xpipe_write_full(ch, "hello", 5, NULL));
        XT_OK(xpipe_read(ch, buf, &n));
        CU_ASSERT(n == 5 && memcmp(buf, "fresh", 5) == 0);
        XT_OK(xpipe_close(ch));
    }
    fake_done(f, &seen);
    CU_ASSERT_STRING_EQUAL(seen.wrote, "hello");
    CU_ASSERT_EQUAL(seen.sessions, 3); /* the first, and twice again */
}

/* Kerberos through SPNEGO: a private MIT KDC (build-aux/kdc-rig.sh), a
 * ticket in its own ccache, the scripted server accepting with its
 * keytab. No credentials on the attribute set: the default GSSAPI
 * credential (the ticket) serves, the expiry case re-authenticates with
 * it. */
static void test_kerberos_through_a_private_kdc(void)
{
    const char *dir = apr_psprintf(xt_p, "/tmp/xt-kdc-%ld", (long)xt_pid());
    const char *vars[] = { "KRB5_CONFIG", "KRB5CCNAME", "KRB5_KTNAME" };
    char line[512], why[256];
    const char *user = NULL;
    xpipe_t *ch = NULL;
    xpipe_attr_t *a;
    xpipe_peer_t peer = XPIPE_PEER_INIT;
    fake_seen_t seen;
    fake_t *f;
    FILE *fp;
    size_t i;
    int rc;

    if (getenv("XT_SRCDIR") == NULL) {
        xt_skip("XT_SRCDIR is not set (meson sets it): no build-aux/");
        return;
    }
    rc = system(apr_psprintf(xt_p,
                             "%s/build-aux/kdc-rig.sh start %s >/dev/null 2>&1",
                             getenv("XT_SRCDIR"), dir));
    fp = fopen(apr_psprintf(xt_p, "%s/env", dir), "r");
    if (rc != 0 || fp == NULL) {
        if (fp)
            fclose(fp);
        CU_FAIL("build-aux/kdc-rig.sh did not start");
        goto out;
    }
    while (fgets(line, sizeof(line), fp)) {
        char *eq = strchr(line, '=');

        line[strcspn(line, "\n")] = '\0';
        if (eq == NULL)
            continue;
        *eq = '\0';
        if (strcmp(line, "XT_KRB_SKIP") == 0)
            xt_skip(apr_pstrdup(xt_p, eq + 1));
        else if (strcmp(line, "XT_KRB_USER") == 0)
            user = apr_pstrdup(xt_p, eq + 1);
        else
            setenv(line, eq + 1, 1);
    }
    fclose(fp);
    if (user == NULL)
        goto out;
    f = fake_start(FAKE_EXPIRE, 0, "XPFAKE", "nobody", "-", why, sizeof(why));
    if (f == NULL) {
        xt_skip(apr_pstrdup(xt_p, why));
        goto out;
    }
    a = xt_attr(XPIPE_MODE_BYTE);
    XT_OK(xpipe_attr_smb_port_set(a, fake_port(f)));
    if (XT_STATUS(
            xpipe_connect(&ch, "\\\\localhost\\pipe\\fake", a, XT_LONG, xt_p),
            APR_SUCCESS)) {
        char buf[16];
        apr_size_t n = sizeof(buf);

        xpipe_timeout_set(ch, XT_LONG);
        XT_OK(xpipe_peer_get(ch, &peer));
        printf("\n    %s\\%s by %s, SMB %s%s", peer.domain ? peer.domain : "",
               peer.account, peer.smb_auth, peer.smb_dialect,
               peer.smb_flags & XPIPE_SMB_SIGNED ? ", signed" : "");
        CU_ASSERT_STRING_EQUAL(peer.smb_auth, "Kerberos");
        CU_ASSERT_STRING_EQUAL(peer.account, "xpuser");
        CU_ASSERT(peer.smb_flags & XPIPE_SMB_SIGNED);
        XT_OK(xpipe_write_full(ch, "hello", 5, NULL));
        XT_OK(xpipe_read(ch, buf, &n));
        CU_ASSERT(n == 5 && memcmp(buf, "fresh", 5) == 0);
        XT_OK(xpipe_close(ch));
    }
    else
        printf("\n  %s", xpipe_error_detail());
    fake_done(f, &seen);
    CU_ASSERT_EQUAL(seen.sessions, 3); /* the first, and twice again */
out:
    for (i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
    CU_ASSERT(
        system(apr_psprintf(xt_p, "%s/build-aux/kdc-rig.sh stop %s; rm -rf %s",
                            getenv("XT_SRCDIR"), dir, dir))
        == 0);
}

/* `xpipe-bench smb`, briefly: both clients through the rig's smbd, a
 * row each with figures (the numbers themselves are the bench's, not a
 * test's). */
static void test_bench_smb_runs(void)
{
    const char *port = rig_port(), *np = getenv("XT_SMB_NPDIR");
    char line[512], *out = NULL;
    FILE *fp;
    int rc, rows = 0;

    if (port == NULL)
        return;
    if (access("/usr/bin/python3", X_OK) != 0
        || system("/usr/bin/python3 -c 'import impacket' 2>/dev/null") != 0) {
        xt_skip("impacket's column needs Debian's python3-impacket");
        return;
    }
    setenv("XT_BENCH_PW", getenv("XT_SMB_PASS"), 1);
    fp = popen(apr_psprintf(xt_p,
                            "%s smb --port %s --user '%s\\%s' "
                            "--password-env XT_BENCH_PW --smb-dir %s "
                            "--rounds 1 --rtt-count 50 --stream-mib 1 2>&1",
                            xt_bench_path(), port, getenv("XT_SMB_DOMAIN"),
                            getenv("XT_SMB_USER"), np ? np : "-"),
               "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    while (fgets(line, sizeof(line), fp)) {
        double x, y;

        out = apr_pstrcat(xt_p, out ? out : "", line, NULL);
        if ((sscanf(line, "64 B round trip %lf us", &x) == 1
             || sscanf(line, "stream, 64 KiB writes %lf us/write", &x) == 1)
            && x > 0) {
            const char *imp = strstr(strstr(line, "us") + 2, "us");

            /* impacket's figure, then the ratio at the end. */
            if (imp && sscanf(strrchr(line, ' ') + 1, "%lf", &y) == 1 && y > 0)
                rows++;
        }
    }
    rc = pclose(fp);
    unsetenv("XT_BENCH_PW");
    if (rc != 0 || rows != 2)
        printf("\n%s", out ? out : "(no output)");
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(rows, 2);
}

/* IPv6: the scripted server on ::1, reached by the address and by
 * Windows' UNC form of it (::1 is 0--1.ipv6-literal.net). */
static void test_fake_ipv6(void)
{
    static const char *const hosts[] = { "::1", "0--1.ipv6-literal.net" };
    const char *pass = apr_psprintf(xt_p, "fake-%ld-pw", (long)xt_pid());
    size_t i;

    for (i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        fake_seen_t seen;
        xpipe_attr_t *a;
        xpipe_t *ch = NULL;
        xpipe_peer_t peer = XPIPE_PEER_INIT;
        char why[256], buf[8];
        apr_size_t n = sizeof(buf);
        fake_t *f = fake_start(FAKE_OVERFLOW, 1, "XPFAKE", "xpuser", pass, why,
                               sizeof(why));

        if (f == NULL) {
            xt_skip(apr_pstrdup(xt_p, why));
            return;
        }
        a = fake_attr(f, XPIPE_MODE_MESSAGE, pass);
        if (XT_STATUS(xpipe_connect(
                          &ch,
                          apr_psprintf(xt_p, "\\\\%s\\pipe\\fake", hosts[i]), a,
                          XT_LONG, xt_p),
                      APR_SUCCESS)) {
            char *big = malloc(100000);

            xpipe_timeout_set(ch, XT_LONG);
            XT_OK(xpipe_peer_get(ch, &peer));
            CU_ASSERT_STRING_EQUAL(peer.address, "::1");
            n = 100000;
            XT_OK(xpipe_recv(ch, big, &n));
            CU_ASSERT_EQUAL(n, 100000);
            free(big);
            n = sizeof(buf);
            XT_OK(xpipe_recv(ch, buf, &n));
            CU_ASSERT(n == 4 && memcmp(buf, "tail", 4) == 0);
            XT_OK(xpipe_close(ch));
        }
        else
            printf("\n  %s: %s", hosts[i], xpipe_error_detail());
        fake_done(f, &seen);
    }
}

/* The server closes: the client reads the end of the stream, and a
 * write after it is XPIPE_EPIPE, as on the local transports. */
static void test_e2e_server_close_eof_then_epipe(void)
{
    e2e_t j = { 0 };
    xpipe_t *ch;
    apr_thread_t *t = e2e_start(&j, XPIPE_MODE_BYTE, 3, &ch);
    char buf[8];
    apr_size_t n = sizeof(buf);

    if (t == NULL)
        return;
    XT_OK(xpipe_write_full(ch, "k", 1, NULL));
    XT_STATUS(xpipe_read(ch, buf, &n), APR_EOF);
    XT_OK(xt_join(t)); /* the server's close is done */
    n = 1;
    XT_STATUS(xpipe_write(ch, "x", &n), XPIPE_EPIPE);
    XT_OK(xpipe_close(ch));
    XT_OK(xpipe_listener_close(j.l));
}

/* Nobody serves the name: at once XPIPE_ENOPIPE; asked to wait, the
 * client tries again until its deadline. */
static void test_no_pipe_and_wait_for_server(void)
{
    const char *port = rig_port();
    xpipe_attr_t *a;
    xpipe_t *ch = NULL;
    apr_time_t t0;

    if (port == NULL)
        return;
    a = rig_attr(XPIPE_MODE_BYTE, port);
    XT_STATUS(smb_open(&ch, "xpipe-nobody", a), XPIPE_ENOPIPE);
    XT_OK(xpipe_attr_wait_for_server_set(a, 1));
    t0 = apr_time_now();
    XT_STATUS(xpipe_connect(&ch, "\\\\127.0.0.1\\pipe\\xpipe-nobody", a,
                            400 * 1000, xt_p),
              APR_TIMEUP);
    CU_ASSERT(apr_time_now() - t0 >= 400 * 1000);
    CU_ASSERT(apr_time_now() - t0 < 5 * APR_USEC_PER_SEC);
    CU_ASSERT_PTR_NULL(ch);
}

/* The tool: `xpipe connect` to srvsvc with the bind on stdin gets the
 * bind_ack on stdout (exit 0); a wrong password exits 1 with one line.
 * (--linger: a remote pipe has no half close, so after stdin's end the
 * tool waits this long for the answer; srvsvc's first may take a
 * second, while smbd starts samba-dcerpcd.) */
static void test_tool_connect_srvsvc(void)
{
    const char *port = rig_port();
    const char *in = apr_psprintf(xt_p, "/tmp/xt-bind-%ld", (long)xt_pid());
    const char *cmd;
    unsigned char out[256];
    char line[512] = "";
    size_t n;
    FILE *fp;
    int rc;

    if (port == NULL)
        return;
    fp = fopen(in, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    CU_ASSERT_EQUAL(fwrite(rpc_bind, 1, sizeof(rpc_bind), fp),
                    sizeof(rpc_bind));
    fclose(fp);
    setenv("XT_TOOL_PW", getenv("XT_SMB_PASS"), 1);
    cmd = apr_psprintf(
        xt_p,
        "%s connect --timeout 20 --linger 3 --smb-port %s --smb-user "
        "'%s\\%s' --smb-password-env XT_TOOL_PW "
        "'\\\\127.0.0.1\\pipe\\srvsvc' < %s",
        xt_tool_path(), port, getenv("XT_SMB_DOMAIN"), getenv("XT_SMB_USER"),
        in);
    fp = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    n = fread(out, 1, sizeof(out), fp);
    while (fgetc(fp) != EOF) /* all of it, or it dies of SIGPIPE */
        ;
    rc = pclose(fp);
    CU_ASSERT_EQUAL(rc, 0);
    /* A bind_ack (type 12) for call 1. */
    if (!(n >= 16 && out[0] == 5 && out[2] == 12 && out[12] == 1)) {
        printf("\n  %s: %lu bytes, exit %d", cmd, (unsigned long)n, rc);
        CU_FAIL("a bind_ack for call 1 came back");
    }
    /* The wrong password: exit status 1 and the reason. */
    setenv("XT_TOOL_PW", "not-the-password", 1);
    fp = popen(apr_pstrcat(xt_p, cmd, " 2>&1", NULL), "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    if (fgets(line, sizeof(line), fp) == NULL)
        line[0] = '\0';
    {
        /* All it says (a sanitizer may add its own lines): else it
         * dies of SIGPIPE. */
        char rest[512];

        while (fgets(rest, sizeof(rest), fp) != NULL)
            ;
    }
    rc = pclose(fp);
    if (!(WIFEXITED(rc) && WEXITSTATUS(rc) == 1)) {
        printf("\n  wait status %d: %s", rc, line);
        CU_FAIL("exit status 1");
    }
    if (strstr(line, "LOGON_FAILURE") == NULL) {
        printf("\n  \"%s\" does not say LOGON_FAILURE", line);
        CU_FAIL("the tool says why");
    }
    CU_ASSERT(strstr(line, "not-the-password") == NULL); /* never shown */
    unsetenv("XT_TOOL_PW");
    unlink(in);
}

/* All instances busy (STATUS_PIPE_NOT_AVAILABLE): connect tries again
 * until the deadline, as for a local pipe whose instances are taken. */
static void test_fake_busy_retried(void)
{
    fake_t *f;
    xpipe_t *ch = fake_open(&f, FAKE_BUSY, XPIPE_MODE_BYTE, APR_SUCCESS);
    fake_seen_t seen;

    if (f == NULL)
        return;
    if (ch != NULL)
        XT_OK(xpipe_close(ch));
    fake_done(f, &seen);
    CU_ASSERT_EQUAL(seen.creates, 3);
    CU_ASSERT_EQUAL(seen.sessions, 3); /* a connection per try */
}

/* A resolver that never answers: getaddrinfo is interposed here (the
 * library is linked into this program), and for one name it waits until
 * the test lets it go. Every other name goes to the C library's. */
static pthread_mutex_t slow_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t slow_cv = PTHREAD_COND_INITIALIZER;
static int slow_release;
static pthread_once_t real_once = PTHREAD_ONCE_INIT;
static int (*real_getaddrinfo)(const char *, const char *,
                               const struct addrinfo *, struct addrinfo **);

static void real_find(void)
{
    *(void **)&real_getaddrinfo = dlsym(RTLD_NEXT, "getaddrinfo");
}

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
    if (node && strcmp(node, "xpipe-slow.test") == 0
        && !(hints && (hints->ai_flags & AI_NUMERICHOST))) {
        pthread_mutex_lock(&slow_mu);
        while (!slow_release)
            pthread_cond_wait(&slow_cv, &slow_mu);
        pthread_mutex_unlock(&slow_mu);
        return EAI_NONAME;
    }
    pthread_once(&real_once, real_find);
    return real_getaddrinfo ? real_getaddrinfo(node, service, hints, res)
                            : EAI_SYSTEM;
}

static void test_resolver_that_never_answers(void)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE);
    xpipe_t *ch = NULL;
    apr_time_t t0 = apr_time_now();

    XT_OK(xpipe_attr_smb_credentials_set(a, "u", "D", "p"));
    XT_STATUS(
        xpipe_connect(&ch, "\\\\xpipe-slow.test\\pipe\\x", a, 300 * 1000, xt_p),
        APR_TIMEUP);
    CU_ASSERT(apr_time_now() - t0 >= 300 * 1000);
    CU_ASSERT(apr_time_now() - t0 < 3 * APR_USEC_PER_SEC);
    CU_ASSERT(strstr(xpipe_error_detail(), "resolving") != NULL);
    CU_ASSERT_PTR_NULL(ch);
    /* The resolver's thread, left to finish alone, may now. */
    pthread_mutex_lock(&slow_mu);
    slow_release = 1;
    pthread_cond_broadcast(&slow_cv);
    pthread_mutex_unlock(&slow_mu);
}

CU_TestInfo xt_smbclient_tests[] = {
    { "wire: parsers refuse truncated and lying replies",
      test_wire_parsers_refuse_lies },
    { "wire: transform headers and UTF-16 names",
      test_wire_transform_and_names },
    { "crypto: CMAC, HMAC, GMAC, KDF, CCM and GCM known answers",
      test_crypto_known_answers },
    { "attributes: credentials, port, dialects, encryption, guest",
      test_attributes_and_unsupported },
    { "no server, and a server that never answers (deadline)",
      test_no_server_and_silent_server },
    { "a resolver that never answers: the deadline holds",
      test_resolver_that_never_answers },
    { "smbd: srvsvc answers a DCE/RPC bind (3.1.1, signed, NTLM)",
      test_srvsvc_bind },
    { "smbd: a password is NTLM's alone: no Kerberos KDC hears of it",
      test_password_is_for_ntlm_only },
    { "smbd: each dialect 2.0.2..3.1.1, signed; 3.x encrypted on request",
      test_each_dialect_signed_and_encrypted },
    { "smbd: bad password, guest, no such pipe, remote listen refused",
      test_refusals_have_their_status },
    { "smbd -> exported listener: byte mode echo", test_e2e_byte_echo },
    { "smbd -> exported listener: 16 MiB checksummed both ways, then EOF",
      test_e2e_big_checksummed },
    { "smbd -> exported listener: messages 1..65535, EMSGSIZE keeps them",
      test_e2e_messages },
    { "smbd -> exported listener: messages, 16 MiB checksummed both ways",
      test_e2e_messages_16mib },
    { "smbd -> exported listener: an interrupted read loses nothing",
      test_e2e_interrupt_keeps_data },
    { "smbd -> exported listener: interrupt and close from another thread",
      test_e2e_interrupt_and_close_from_another_thread },
    { "smbd -> exported listener: concurrent read and write, 4 MiB each way",
      test_e2e_concurrent_read_write },
    { "smbd -> exported listener: the server closes: EOF, then EPIPE",
      test_e2e_server_close_eof_then_epipe },
    { "smbd: no such pipe at once; waiting for it, to the deadline",
      test_no_pipe_and_wait_for_server },
    { "the tool: xpipe connect to srvsvc; a wrong password exits 1",
      test_tool_connect_srvsvc },
    { "server matrix: max protocol, strict, encryption, each algorithm",
      test_server_matrix },
    { "smbd killed under a blocked read: XPIPE_ERESET at once, then on "
      "write",
      test_smbd_killed_resets },
    { "fake server: a message continued by STATUS_BUFFER_OVERFLOW, an "
      "unasked oplock break",
      test_fake_overflow_continues_a_message },
    { "fake server: a READ left at its deadline is CANCELled: "
      "STATUS_CANCELLED, then the data",
      test_fake_cancel_answered_cancelled },
    { "fake server: a bad signature resets the channel",
      test_fake_bad_signature },
    { "fake server: an unsigned reply resets the channel",
      test_fake_unsigned_reply },
    { "fake server: a truncated frame resets the channel",
      test_fake_truncated_frame },
    { "fake server: a session set up with no final token is refused",
      test_fake_session_without_final_token },
    { "fake server: no credits: connect ends at its deadline",
      test_fake_credit_starvation },
    { "fake server: a server that stops answering", test_fake_silent_server },
    { "IPv6: ::1, and Windows' 0--1.ipv6-literal.net", test_fake_ipv6 },
    { "fake server: a busy pipe is tried again until it opens",
      test_fake_busy_retried },
    { "fake server: session expiry: authenticated again, nothing lost",
      test_fake_session_expiry_reauthenticates },
    { "Kerberos: a private KDC's ticket, SPNEGO, signed; expiry renewed "
      "with it",
      test_kerberos_through_a_private_kdc },
    { "xpipe-bench smb: xpipe's client and impacket's, a row each",
      test_bench_smb_runs },
    CU_TEST_INFO_NULL,
};
