/* SPDX-License-Identifier: Apache-2.0 */
/* session.c — the SMB client's handshake ([MS-SMB2] 3.2.4.2): negotiate
 * (dialects, ciphers, signing, the preauthentication hash), the SPNEGO
 * session setup in rounds and its key derivation, re-authentication of an
 * expired session, the tree connect to IPC$ and validate-negotiate; the
 * connection opened through it and closed with its goodbyes.
 */
#include "smb2.h"

#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const uint16_t all_dialects[] = { SMB2_DIALECT_202, SMB2_DIALECT_210,
                                         SMB2_DIALECT_300, SMB2_DIALECT_302,
                                         SMB2_DIALECT_311 };
/* Preferred first: GCM is the faster, 128 bits the common. */
static const uint16_t our_ciphers[] = { SMB2_AES128_GCM, SMB2_AES128_CCM,
                                        SMB2_AES256_GCM, SMB2_AES256_CCM };
static const uint16_t our_signing[] = { SMB2_SIGN_AES_GMAC, SMB2_SIGN_AES_CMAC,
                                        SMB2_SIGN_HMAC_SHA256 };

typedef struct hs_t {
    uint16_t dialects[5];
    uint8_t guid[16], salt[32];
    smb2_negotiate_req_t req;
    uint8_t server_guid[16];
} hs_t;

/* The reply in slot s, which the caller releases. */
static smb2_slot_t *reply(smb2_conn_t *c, int s)
{
    return &c->slot[s];
}

static int offered(const uint16_t *ids, int n, int id)
{
    int i;

    for (i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* What we offer (into hs->req): the dialects o allows, a fresh client
 * GUID and salt, signing required, our ciphers and signing algorithms. */
static apr_status_t negotiate_offer(smb2_conn_t *c, hs_t *hs,
                                    const smb2_opts_t *o)
{
    int i, n = 0;

    for (i = 0; i < 5; i++)
        if (all_dialects[i] >= o->min_dialect
            && all_dialects[i] <= o->max_dialect)
            hs->dialects[n++] = all_dialects[i];
    if (RAND_bytes(hs->guid, 16) != 1 || RAND_bytes(hs->salt, 32) != 1)
        return xpipe__fail(APR_EGENERAL, "no random bytes (libcrypto)");
    hs->req.dialects = hs->dialects;
    hs->req.ndialects = n;
    hs->req.security_mode =
        SMB2_NEGOTIATE_SIGNING_ENABLED | SMB2_NEGOTIATE_SIGNING_REQUIRED;
    hs->req.capabilities =
        SMB2_GLOBAL_CAP_LARGE_MTU | SMB2_GLOBAL_CAP_ENCRYPTION;
    hs->req.client_guid = hs->guid;
    hs->req.salt = hs->salt;
    hs->req.ciphers = our_ciphers;
    hs->req.nciphers = 4;
    hs->req.signing = our_signing;
    hs->req.nsigning = 3;
    c->client_caps = hs->req.capabilities;
    return APR_SUCCESS;
}

/* The server's choices (r, from its reply rs) taken: dialect, limits,
 * and for 3.1.1 the algorithms, which must be among ours, and the
 * preauthentication hash. */
static apr_status_t negotiate_take(smb2_conn_t *c, hs_t *hs,
                                   const smb2_negotiate_rsp_t *r,
                                   const smb2_slot_t *rs)
{
    c->dialect = r->dialect;
    c->keys.dialect = r->dialect;
    c->server_security = r->security_mode;
    c->server_caps = r->capabilities;
    c->max_read = r->max_read;
    c->max_write = r->max_write;
    c->max_transact = r->max_transact;
    memcpy(hs->server_guid, r->server_guid, 16);
    c->keys.sign_alg = SMB2_SIGN_AES_CMAC;
    c->keys.cipher = SMB2_CIPHER_NONE;
    if (r->dialect == SMB2_DIALECT_311) {
        smb2_iov_t iov = { rs->m, rs->len };

        if (r->preauth_hash != SMB2_PREAUTH_SHA512
            || (r->cipher > 0 && !offered(our_ciphers, 4, r->cipher))
            || (r->signing >= 0 && !offered(our_signing, 3, r->signing)))
            return xpipe__fail(XPIPE_EPROTO, "the SMB server chose an "
                                             "algorithm not offered");
        if (r->cipher > 0)
            c->keys.cipher = r->cipher;
        if (r->signing >= 0)
            c->keys.sign_alg = r->signing;
        xpipe__smb2_preauth_update(c->preauth, &iov, 1);
    }
    else if (r->dialect >= SMB2_DIALECT_300
             && (r->capabilities & SMB2_GLOBAL_CAP_ENCRYPTION))
        c->keys.cipher = SMB2_AES128_CCM;
    /* 2.0.2 has one credit per request, so 64 KiB at most. */
    if (c->dialect == SMB2_DIALECT_202
        || !(r->capabilities & SMB2_GLOBAL_CAP_LARGE_MTU)) {
        if (c->max_read > 65536)
            c->max_read = 65536;
        if (c->max_write > 65536)
            c->max_write = 65536;
    }
    if (c->max_read < 4096 || c->max_write < 4096)
        return xpipe__fail(XPIPE_EPROTO,
                           "the SMB server's largest read or "
                           "write is too small (%u, %u)",
                           (unsigned)c->max_read, (unsigned)c->max_write);
    return APR_SUCCESS;
}

static apr_status_t negotiate(smb2_conn_t *c, hs_t *hs, const smb2_opts_t *o,
                              apr_time_t deadline)
{
    uint8_t body[SMB2_BODY_MAX];
    smb2_negotiate_rsp_t r;
    smb2_slot_t *rs;
    apr_status_t rv = negotiate_offer(c, hs, o);
    int s;

    if (rv != APR_SUCCESS)
        return rv;
    memset(c->preauth, 0, 64);
    c->preauth_req = c->preauth;
    rv = xpipe__smb2_call(c, SMB2_NEGOTIATE, body,
                          xpipe__smb2_negotiate_build(body, &hs->req), NULL, 0,
                          0, deadline, &s);
    c->preauth_req = NULL;
    if (rv != APR_SUCCESS)
        return rv == APR_TIMEUP
                   ? xpipe__fail(rv, "the SMB server did not answer the "
                                     "negotiation before the deadline")
                   : rv;
    rs = reply(c, s);
    if (rs->h.status != NT_STATUS_SUCCESS
        || xpipe__smb2_negotiate_parse(rs->m, rs->len, &r) != 0
        || !offered(hs->dialects, hs->req.ndialects, r.dialect)) {
        char st[64];

        rv = xpipe__fail(XPIPE_EPROTO,
                         "the SMB server refused or garbled the "
                         "negotiation (%s)",
                         xpipe__smb2_status_text(rs->h.status, st, sizeof(st)));
    }
    else
        rv = negotiate_take(c, hs, &r, rs);
    xpipe__smb2_release(c, s, NULL, NULL);
    return rv;
}

/* An NT status of a failed session setup as xpipe's status. */
static apr_status_t auth_failed(uint32_t st)
{
    char text[64];

    return xpipe__fail(XPIPE_EAUTH, "the SMB server refused the session: %s",
                       xpipe__smb2_status_text(st, text, sizeof(text)));
}

/* A session setup's state across its rounds. */
typedef struct setup_t {
    smb2_auth_t *a;
    uint8_t hash[64]; /* 3.1.1: the session's preauthentication hash */
    uint8_t *in;      /* the server's last token (ours to free), or NULL */
    size_t in_len;    /* its length: 0 when there is none */
    int step;         /* GSSAPI's last: 1 complete on our side, 0 more */
    int reauth;       /* again on a session: its id and keys stay */
    char err[512];
} setup_t;

/* The server's token (blob) becomes the next input: a copy, or none. */
static apr_status_t setup_take(setup_t *st, const uint8_t *blob, size_t len)
{
    free(st->in);
    st->in = NULL;
    st->in_len = 0;
    if (len == 0)
        return APR_SUCCESS;
    if ((st->in = malloc(len)) == NULL)
        return APR_ENOMEM;
    memcpy(st->in, blob, len);
    st->in_len = len;
    return APR_SUCCESS;
}

/* One round: GSSAPI's next token to the server in a SESSION_SETUP; its
 * reply in slot *s (the caller releases it). */
static apr_status_t setup_round(smb2_conn_t *c, setup_t *st,
                                apr_time_t deadline, int *s)
{
    uint8_t body[24], *out = NULL;
    size_t out_len = 0;
    apr_status_t rv;
    int preauth = c->dialect == SMB2_DIALECT_311 && !st->reauth;

    st->step = xpipe__smb2_auth_step(st->a, st->in, st->in_len, &out, &out_len,
                                     st->err, sizeof(st->err));
    (void)setup_take(st, NULL, 0);
    if (st->step < 0)
        return xpipe__fail(XPIPE_EAUTH, "%s", st->err);
    if (out_len > 0xFFFF) {
        xpipe__smb2_auth_free_token(out, out_len);
        return xpipe__fail(XPIPE_EAUTH,
                           "a %" APR_SIZE_T_FMT
                           "-byte GSSAPI token does not fit SMB2",
                           (apr_size_t)out_len);
    }
    xpipe__smb2_session_setup_build(
        body, SMB2_NEGOTIATE_SIGNING_ENABLED | SMB2_NEGOTIATE_SIGNING_REQUIRED,
        0, (uint16_t)out_len);
    c->preauth_req = preauth ? st->hash : NULL;
    rv = xpipe__smb2_call(c, SMB2_SESSION_SETUP, body, sizeof(body), out,
                          out_len, 0, deadline, s);
    c->preauth_req = NULL;
    xpipe__smb2_auth_free_token(out, out_len);
    if (rv == APR_TIMEUP) {
        char why[160];

        /* Keep the reason (no reply, or no credit to ask). */
        snprintf(why, sizeof(why), "%s", xpipe_error_detail());
        xpipe__fail(rv,
                    "the SMB server did not finish the session setup "
                    "before the deadline%s%s",
                    why[0] ? ": " : "", why);
    }
    return rv;
}

/* The session setup's last reply said success (flags: the session's):
 * a guest session only where allowed; else our GSSAPI completes on the
 * final token, the session key gives the keys, the reply's signature
 * holds and the encryption asked for is there. */
static apr_status_t setup_final(smb2_conn_t *c, setup_t *st,
                                const smb2_opts_t *o, const smb2_slot_t *rs,
                                uint16_t flags)
{
    uint8_t key[32], *out = NULL;
    size_t out_len = 0;
    int key_len, encrypt;

    /* A guest or anonymous session: unauthenticated, unsigned (and
     * SPNEGO would refuse its final token anyway). */
    if (flags & (SMB2_SESSION_FLAG_IS_GUEST | SMB2_SESSION_FLAG_IS_NULL)) {
        if (!c->allow_guest)
            return xpipe__fail(
                XPIPE_EAUTH,
                "the SMB server made this a%s session: our "
                "credentials were not accepted (a guest "
                "session is refused unless "
                "xpipe_attr_smb_guest_set allows it)",
                (flags & SMB2_SESSION_FLAG_IS_NULL) ? "n anonymous" : " guest");
        c->guest = 1;
        return APR_SUCCESS;
    }
    /* The final token (SPNEGO's accept-completed and MIC, Kerberos'
     * AP-REP) completes our side; a reply without one leaves it
     * incomplete. */
    if (st->step == 0 && st->in_len > 0) {
        st->step = xpipe__smb2_auth_step(st->a, st->in, st->in_len, &out,
                                         &out_len, st->err, sizeof(st->err));
        xpipe__smb2_auth_free_token(out, out_len);
    }
    if (st->step != 1)
        return xpipe__fail(XPIPE_EAUTH, "%s",
                           st->step < 0 ? st->err
                                        : "the SMB server ended the session "
                                          "setup before GSSAPI was complete");
    /* A re-authentication keeps the session's keys. */
    if (!st->reauth) {
        key_len = xpipe__smb2_auth_session_key(st->a, key);
        if (key_len <= 0
            || xpipe__smb2_keys_derive(&c->keys, key, (size_t)key_len, st->hash)
                   != 0) {
            OPENSSL_cleanse(key, sizeof(key));
            return xpipe__fail(XPIPE_EAUTH, "no session key from GSSAPI");
        }
        OPENSSL_cleanse(key, sizeof(key));
    }
    /* 3.1.1 signs the final reply; earlier dialects may. */
    if (((rs->h.flags & SMB2_FLAGS_SIGNED) || c->dialect == SMB2_DIALECT_311)
        && ((rs->h.flags & SMB2_FLAGS_SIGNED) == 0
            || xpipe__smb2_verify(&c->keys, rs->m, rs->len) != 0))
        return xpipe__fail(XPIPE_EAUTH,
                           "the session setup reply's signature does not "
                           "hold: the server does not share our key");
    if (st->reauth)
        return APR_SUCCESS;
    encrypt = (flags & SMB2_SESSION_FLAG_ENCRYPT_DATA) || o->encrypt;
    if (encrypt && c->keys.cipher == SMB2_CIPHER_NONE)
        return xpipe__fail(
            XPIPE_EAUTH,
            "encryption %s, and the server offers none "
            "(dialect %x.%x.%x)",
            o->encrypt ? "was asked for" : "is required by the server",
            c->dialect >> 8, (c->dialect >> 4) & 0xF, c->dialect & 0xF);
    pthread_mutex_lock(&c->mu);
    c->signing = 1;
    c->encrypting = encrypt;
    pthread_mutex_unlock(&c->mu);
    return APR_SUCCESS;
}

/* Authenticate the session (again, when reauth: its id and keys stay,
 * [MS-SMB2] 3.2.4.2.3), with the credential in c->auth (made from o the
 * first time and kept): rounds until the server says success. */
static apr_status_t session_setup(smb2_conn_t *c, const char *host,
                                  const smb2_opts_t *o, int reauth,
                                  apr_time_t deadline)
{
    setup_t st;
    apr_status_t rv;

    memset(&st, 0, sizeof(st));
    if (c->auth == NULL
        && xpipe__smb2_auth_create(&c->auth, host, o->user, o->domain,
                                   o->password, st.err, sizeof(st.err))
               != 0)
        return xpipe__fail(XPIPE_EAUTH, "%s", st.err);
    st.a = c->auth;
    st.reauth = reauth;
    xpipe__smb2_auth_restart(st.a);
    memcpy(st.hash, c->preauth, 64);
    for (;;) {
        smb2_slot_t *rs;
        const uint8_t *blob;
        size_t blob_len;
        uint16_t flags;
        uint32_t status;
        int s;

        if ((rv = setup_round(c, &st, deadline, &s)) != APR_SUCCESS)
            break;
        rs = reply(c, s);
        status = rs->h.status;
        if ((status != NT_STATUS_SUCCESS
             && status != NT_STATUS_MORE_PROCESSING_REQUIRED)
            || xpipe__smb2_session_setup_parse(rs->m, rs->len, &flags, &blob,
                                               &blob_len)
                   != 0) {
            xpipe__smb2_release(c, s, NULL, NULL);
            rv = status == NT_STATUS_SUCCESS
                     ? xpipe__fail(XPIPE_EPROTO, "a malformed session setup "
                                                 "reply")
                     : auth_failed(status);
            break;
        }
        pthread_mutex_lock(&c->mu);
        c->session_id = rs->h.session_id;
        pthread_mutex_unlock(&c->mu);
        rv = setup_take(&st, blob, blob_len);
        if (rv == APR_SUCCESS && status == NT_STATUS_MORE_PROCESSING_REQUIRED) {
            smb2_iov_t iov = { rs->m, rs->len };

            if (c->dialect == SMB2_DIALECT_311 && !reauth)
                xpipe__smb2_preauth_update(st.hash, &iov, 1);
            xpipe__smb2_release(c, s, NULL, NULL);
            if (st.step != 1)
                continue;
            rv = xpipe__fail(XPIPE_EPROTO, "the SMB server wants more than "
                                           "GSSAPI has to say");
            break;
        }
        if (rv == APR_SUCCESS)
            rv = setup_final(c, &st, o, rs, flags);
        xpipe__smb2_release(c, s, NULL, NULL);
        break;
    }
    (void)setup_take(&st, NULL, 0);
    if (rv == APR_SUCCESS && !reauth)
        xpipe__smb2_auth_names(st.a, c->user, sizeof(c->user), c->mech,
                               sizeof(c->mech));
    /* The context is done with; the credential stays for a later
     * re-authentication. */
    xpipe__smb2_auth_restart(st.a);
    OPENSSL_cleanse(st.hash, sizeof(st.hash));
    return rv;
}

apr_status_t xpipe__smb2_reauth(smb2_conn_t *c, unsigned gen,
                                apr_time_t deadline)
{
    apr_status_t rv = APR_SUCCESS;

    unsigned now;

    pthread_mutex_lock(&c->reauth_mu);
    pthread_mutex_lock(&c->mu);
    now = c->auth_gen;
    pthread_mutex_unlock(&c->mu);
    if (now == gen && c->auth != NULL) {
        c->reauthing = 1;
        rv = session_setup(c, c->host, NULL, 1, deadline);
        c->reauthing = 0;
        if (rv == APR_SUCCESS) {
            pthread_mutex_lock(&c->mu);
            c->auth_gen++;
            pthread_mutex_unlock(&c->mu);
        }
    }
    else if (c->auth == NULL)
        rv = xpipe__fail(XPIPE_EAUTH, "the SMB session expired and this "
                                      "connection cannot authenticate again");
    pthread_mutex_unlock(&c->reauth_mu);
    return rv;
}

static apr_status_t tree_connect(smb2_conn_t *c, const char *host,
                                 apr_time_t deadline)
{
    uint8_t body[SMB2_BODY_MAX], path[SMB2_BODY_MAX - 8];
    char *unc;
    size_t ul = strlen(host) + 8;
    long pl;
    smb2_slot_t *rs;
    uint8_t type;
    uint32_t flags;
    apr_status_t rv;
    int s;

    unc = malloc(ul);
    if (unc == NULL)
        return APR_ENOMEM;
    snprintf(unc, ul, "\\\\%s\\IPC$", host);
    pl = xpipe__smb2_utf16le(path, sizeof(path), unc);
    free(unc);
    if (pl < 0)
        return xpipe__fail(XPIPE_EBADNAME, "the host name is not UTF-8, or "
                                           "too long");
    rv =
        xpipe__smb2_call(c, SMB2_TREE_CONNECT, body,
                         xpipe__smb2_tree_connect_build(body, path, (size_t)pl),
                         NULL, 0, 0, deadline, &s);
    if (rv != APR_SUCCESS)
        return rv;
    rs = reply(c, s);
    if (rs->h.status != NT_STATUS_SUCCESS) {
        char st[64];

        xpipe__smb2_status_text(rs->h.status, st, sizeof(st));
        xpipe__smb2_release(c, s, NULL, NULL);
        return xpipe__fail(rs->h.status == NT_STATUS_ACCESS_DENIED
                               ? XPIPE_EAUTH
                               : XPIPE_ENOPIPE,
                           "the SMB server refused IPC$: %s", st);
    }
    if (xpipe__smb2_tree_connect_parse(rs->m, rs->len, &type, &flags) != 0
        || type != SMB2_SHARE_TYPE_PIPE) {
        xpipe__smb2_release(c, s, NULL, NULL);
        return xpipe__fail(XPIPE_EPROTO, "IPC$ is not a pipe share there");
    }
    c->tree_id = rs->h.tree_id;
    xpipe__smb2_release(c, s, NULL, NULL);
    if ((flags & SMB2_SHAREFLAG_ENCRYPT_DATA) && !c->encrypting) {
        if (c->keys.cipher == SMB2_CIPHER_NONE || c->guest)
            return xpipe__fail(XPIPE_EAUTH, "IPC$ requires encryption, which "
                                            "this session cannot do");
        pthread_mutex_lock(&c->mu);
        c->encrypting = 1;
        pthread_mutex_unlock(&c->mu);
    }
    return APR_SUCCESS;
}

/* 3.0 and 3.0.2: the server confirms what it negotiated, signed, so that
 * nobody between us downgraded it ([MS-SMB2] 3.2.5.14.12). */
static apr_status_t validate_negotiate(smb2_conn_t *c, const hs_t *hs,
                                       apr_time_t deadline)
{
    uint8_t body[SMB2_BODY_MAX], in[64];
    const uint8_t *out;
    size_t out_len, in_len = xpipe__smb2_validate_info_build(in, &hs->req);
    smb2_slot_t *rs;
    uint32_t ctl;
    apr_status_t rv;
    int s, ok;

    rv = xpipe__smb2_call(c, SMB2_IOCTL, body,
                          xpipe__smb2_ioctl_build(body,
                                                  FSCTL_VALIDATE_NEGOTIATE_INFO,
                                                  NULL, in, in_len, 24),
                          NULL, 0, 24, deadline, &s);
    if (rv != APR_SUCCESS)
        return rv;
    rs = reply(c, s);
    ok = rs->h.status == NT_STATUS_SUCCESS
         && xpipe__smb2_ioctl_parse(rs->m, rs->len, &ctl, &out, &out_len) == 0
         && out_len >= 24 && smb2_get32(out) == c->server_caps
         && memcmp(out + 4, hs->server_guid, 16) == 0
         && smb2_get16(out + 20) == c->server_security
         && smb2_get16(out + 22) == c->dialect;
    xpipe__smb2_release(c, s, NULL, NULL);
    if (!ok)
        return xpipe__fail(XPIPE_EPROTO,
                           "the SMB server did not confirm the negotiation "
                           "(FSCTL_VALIDATE_NEGOTIATE_INFO): a downgrade?");
    return APR_SUCCESS;
}

apr_status_t xpipe__smb2_conn_open(smb2_conn_t **cp, const char *host,
                                   const smb2_opts_t *o, apr_time_t deadline)
{
    smb2_conn_t *c;
    hs_t hs;
    apr_status_t rv = xpipe__smb2_conn_new(&c, host, o);

    *cp = NULL;
    if (rv != APR_SUCCESS)
        return rv;
    memset(&hs, 0, sizeof(hs));
    rv = xpipe__smb2_tcp_connect(c, host, c->port, deadline);
    if (rv == APR_SUCCESS)
        rv = xpipe__smb2_conn_start(c);
    if (rv == APR_SUCCESS)
        rv = negotiate(c, &hs, o, deadline);
    if (rv == APR_SUCCESS)
        rv = session_setup(c, host, o, 0, deadline);
    if (rv == APR_SUCCESS)
        rv = tree_connect(c, host, deadline);
    if (rv == APR_SUCCESS && !c->guest
        && (c->dialect == SMB2_DIALECT_300 || c->dialect == SMB2_DIALECT_302))
        rv = validate_negotiate(c, &hs, deadline);
    if (rv != APR_SUCCESS) {
        xpipe__detail_t d;

        /* Closing must not lose why it failed. */
        xpipe__detail_save(&d);
        xpipe__smb2_conn_close(c);
        xpipe__detail_restore(&d);
        return rv;
    }
    *cp = c;
    return APR_SUCCESS;
}

/* A request nobody waits for. */
static void say_bye(smb2_conn_t *c, uint16_t command)
{
    uint8_t body[4];
    int s;

    if (xpipe__smb2_send(c, command, body, xpipe__smb2_simple_build(body), NULL,
                         0, 0, apr_time_now() + SMB2_BYE_TIME, &s)
        == APR_SUCCESS)
        xpipe__smb2_release(c, s, NULL, NULL);
}

void xpipe__smb2_conn_close(smb2_conn_t *c)
{
    if (c->rx_started && c->dead == APR_SUCCESS && c->session_id != 0) {
        c->wake = NULL; /* goodbyes go out even after an interrupt */
        if (c->tree_id != 0)
            say_bye(c, SMB2_TREE_DISCONNECT);
        say_bye(c, SMB2_LOGOFF);
    }
    xpipe__smb2_conn_free(c);
}
