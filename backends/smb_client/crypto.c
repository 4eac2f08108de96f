/* SPDX-License-Identifier: Apache-2.0 */
/* crypto.c — the SMB client's cryptography through OpenSSL 3 libcrypto
 * ([MS-SMB2] 3.1.4.1, 3.1.4.2, 3.1.4.3, 3.2.5.3.1). The algorithms are
 * fetched once per process.
 */
#include "crypto.h"

#include "wire.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <string.h>

static EVP_MAC *mac_hmac, *mac_cmac;
static EVP_KDF *kdf_kb;
static EVP_MD *md_sha512;
static EVP_CIPHER *ci_ccm128, *ci_ccm256, *ci_gcm128, *ci_gcm256;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;
static int fetched;

static void fetch(void)
{
    mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    mac_cmac = EVP_MAC_fetch(NULL, "CMAC", NULL);
    kdf_kb = EVP_KDF_fetch(NULL, "KBKDF", NULL);
    md_sha512 = EVP_MD_fetch(NULL, "SHA512", NULL);
    ci_ccm128 = EVP_CIPHER_fetch(NULL, "AES-128-CCM", NULL);
    ci_ccm256 = EVP_CIPHER_fetch(NULL, "AES-256-CCM", NULL);
    ci_gcm128 = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    ci_gcm256 = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    fetched = mac_hmac && mac_cmac && kdf_kb && md_sha512 && ci_ccm128
              && ci_ccm256 && ci_gcm128 && ci_gcm256;
}

static int ready(void)
{
    pthread_once(&fetch_once, fetch);
    return fetched;
}

int xpipe__smb2_preauth_update(uint8_t h[64], const smb2_iov_t *iov, int n)
{
    EVP_MD_CTX *c;
    unsigned int len = 64;
    int ok, i;

    if (!ready() || (c = EVP_MD_CTX_new()) == NULL)
        return -1;
    ok = EVP_DigestInit_ex(c, md_sha512, NULL) && EVP_DigestUpdate(c, h, 64);
    for (i = 0; ok && i < n; i++)
        ok = EVP_DigestUpdate(c, iov[i].p, iov[i].n);
    ok = ok && EVP_DigestFinal_ex(c, h, &len);
    EVP_MD_CTX_free(c);
    return ok ? 0 : -1;
}

int xpipe__smb2_kdf(const uint8_t *key, size_t key_len, const uint8_t *label,
                    size_t label_len, const uint8_t *ctx, size_t ctx_len,
                    uint8_t *out, size_t out_len)
{
    EVP_KDF_CTX *kc;
    OSSL_PARAM p[7], *q = p;
    int ok;

    if (!ready() || (kc = EVP_KDF_CTX_new(kdf_kb)) == NULL)
        return -1;
    /* SP800-108 counter mode, HMAC-SHA256, r = 32, L = out_len * 8: the
     * label is the KDF's "salt", the context its "info". */
    *q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, "counter", 0);
    *q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, "HMAC", 0);
    *q++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, "SHA256", 0);
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key,
                                             key_len);
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)label,
                                             label_len);
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)ctx,
                                             ctx_len);
    *q = OSSL_PARAM_construct_end();
    ok = EVP_KDF_derive(kc, out, out_len, p) > 0;
    EVP_KDF_CTX_free(kc);
    return ok ? 0 : -1;
}

static int cipher_is_256(int cipher)
{
    return cipher == SMB2_AES256_CCM || cipher == SMB2_AES256_GCM;
}

static int cipher_is_ccm(int cipher)
{
    return cipher == SMB2_AES128_CCM || cipher == SMB2_AES256_CCM;
}

int xpipe__smb2_keys_derive(smb2_keys_t *k, const uint8_t *session_key,
                            size_t session_key_len, const uint8_t preauth[64])
{
    /* Session.SessionKey: the first 16 bytes, zero-padded; the 256-bit
     * ciphers use the whole key (Session.FullSessionKey). */
    uint8_t key16[16] = { 0 };
    size_t ck = cipher_is_256(k->cipher) ? 32 : 16;
    size_t full = cipher_is_256(k->cipher) ? session_key_len : 16;
    int rc = 0;

    memcpy(key16, session_key, session_key_len < 16 ? session_key_len : 16);
    if (k->dialect < SMB2_DIALECT_300) {
        memcpy(k->sign, key16, 16); /* HMAC-SHA256 with the session key */
    }
    else if (k->dialect == SMB2_DIALECT_311) {
        const uint8_t *fk = full > 16 ? session_key : key16;

        rc |= xpipe__smb2_kdf(key16, 16, (const uint8_t *)"SMBSigningKey", 14,
                              preauth, 64, k->sign, 16);
        rc |= xpipe__smb2_kdf(fk, full, (const uint8_t *)"SMBC2SCipherKey", 16,
                              preauth, 64, k->enc, ck);
        rc |= xpipe__smb2_kdf(fk, full, (const uint8_t *)"SMBS2CCipherKey", 16,
                              preauth, 64, k->dec, ck);
    }
    else {
        rc |= xpipe__smb2_kdf(key16, 16, (const uint8_t *)"SMB2AESCMAC", 12,
                              (const uint8_t *)"SmbSign", 8, k->sign, 16);
        rc |= xpipe__smb2_kdf(key16, 16, (const uint8_t *)"SMB2AESCCM", 11,
                              (const uint8_t *)"ServerIn ", 10, k->enc, 16);
        rc |= xpipe__smb2_kdf(key16, 16, (const uint8_t *)"SMB2AESCCM", 11,
                              (const uint8_t *)"ServerOut", 10, k->dec, 16);
    }
    OPENSSL_cleanse(key16, sizeof(key16));
    return rc ? -1 : 0;
}

void xpipe__smb2_keys_wipe(smb2_keys_t *k)
{
    OPENSSL_cleanse(k, sizeof(*k));
}

int xpipe__smb2_mac(int alg, const uint8_t *key, const uint8_t nonce[12],
                    const smb2_iov_t *iov, int n, uint8_t out[16])
{
    uint8_t full[EVP_MAX_MD_SIZE];
    size_t len = 0;
    int ok, i;

    if (!ready())
        return -1;
    if (alg == SMB2_SIGN_AES_GMAC) {
        /* GMAC: GCM with the message as associated data only. */
        uint8_t aad_tag[16];
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        int ol;

        if (c == NULL)
            return -1;
        ok = EVP_EncryptInit_ex2(c, ci_gcm128, key, nonce, NULL);
        for (i = 0; ok && i < n; i++)
            ok = iov[i].n == 0
                 || EVP_EncryptUpdate(c, NULL, &ol, iov[i].p, (int)iov[i].n);
        ok = ok && EVP_EncryptFinal_ex(c, aad_tag, &ol)
             && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out);
        EVP_CIPHER_CTX_free(c);
        return ok ? 0 : -1;
    }
    {
        EVP_MAC_CTX *c =
            EVP_MAC_CTX_new(alg == SMB2_SIGN_HMAC_SHA256 ? mac_hmac : mac_cmac);
        OSSL_PARAM p[2];

        if (c == NULL)
            return -1;
        p[0] = alg == SMB2_SIGN_HMAC_SHA256
                   ? OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                      "SHA256", 0)
                   : OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER,
                                                      "AES-128-CBC", 0);
        p[1] = OSSL_PARAM_construct_end();
        ok = EVP_MAC_init(c, key, 16, p);
        for (i = 0; ok && i < n; i++)
            ok = EVP_MAC_update(c, iov[i].p, iov[i].n);
        ok = ok && EVP_MAC_final(c, full, &len, sizeof(full)) && len >= 16;
        EVP_MAC_CTX_free(c);
        if (ok)
            memcpy(out, full, 16); /* HMAC-SHA256: the first 16 bytes */
        OPENSSL_cleanse(full, sizeof(full));
        return ok ? 0 : -1;
    }
}

int xpipe__smb2_sign(const smb2_keys_t *k, const smb2_iov_t *iov, int n,
                     uint8_t sig[16])
{
    const uint8_t *h = iov[0].p;
    uint8_t nonce[12] = { 0 };
    int alg =
        k->dialect < SMB2_DIALECT_300 ? SMB2_SIGN_HMAC_SHA256 : k->sign_alg;

    if (alg == SMB2_SIGN_AES_GMAC) {
        /* MessageId, then bit 0: sent by the server; bit 1: CANCEL. */
        uint32_t bits = (smb2_get32(h + 16) & SMB2_FLAGS_SERVER_TO_REDIR)
                        | (smb2_get16(h + 12) == SMB2_CANCEL ? 2u : 0u);

        memcpy(nonce, h + 24, 8);
        smb2_put32(nonce + 8, bits);
    }
    return xpipe__smb2_mac(alg, k->sign, nonce, iov, n, sig);
}

int xpipe__smb2_aead(int encrypt, int cipher, const uint8_t *key,
                     const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                     const smb2_iov_t *in, int n, uint8_t *out, uint8_t tag[16])
{
    int ccm = cipher_is_ccm(cipher), ol, ok, i;
    size_t total = 0, at = 0;
    EVP_CIPHER *ci = cipher == SMB2_AES128_CCM   ? ci_ccm128
                     : cipher == SMB2_AES256_CCM ? ci_ccm256
                     : cipher == SMB2_AES128_GCM ? ci_gcm128
                                                 : ci_gcm256;
    EVP_CIPHER_CTX *c;

    if (!ready() || (c = EVP_CIPHER_CTX_new()) == NULL)
        return -1;
    /* CCM takes the text in one update: gather it in out, work in place. */
    for (i = 0; i < n; i++) {
        if (in[i].n > 0 && in[i].p != out + at)
            memmove(out + at, in[i].p, in[i].n);
        at += in[i].n;
    }
    total = at;
    if (total > 0x7FFFFFFF)
        ok = 0;
    else
        ok = EVP_CipherInit_ex2(c, ci, NULL, NULL, encrypt, NULL)
             && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, ccm ? 11 : 12,
                                    NULL)
             && (!ccm
                 || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16,
                                        encrypt ? NULL : tag))
             && EVP_CipherInit_ex2(c, NULL, key, nonce, encrypt, NULL)
             && (!ccm || EVP_CipherUpdate(c, NULL, &ol, NULL, (int)total))
             && EVP_CipherUpdate(c, NULL, &ol, aad, (int)aad_len);
    if (ok && !ccm && !encrypt)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, tag);
    /* CCM authenticates in the update itself when decrypting. */
    if (ok && (total > 0 || ccm))
        ok = EVP_CipherUpdate(c, out, &ol, out, (int)total) > 0;
    if (ok && (!ccm || encrypt))
        ok = EVP_CipherFinal_ex(c, out + total, &ol) > 0;
    if (ok && encrypt)
        ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag);
    EVP_CIPHER_CTX_free(c);
    if (!ok && !encrypt)
        OPENSSL_cleanse(out, total); /* nothing unauthenticated leaks */
    return ok ? 0 : -1;
}

int xpipe__smb2_encrypt(const smb2_keys_t *k, uint8_t *t,
                        const smb2_iov_t *plain, int n, uint8_t *out)
{
    int nonce_len = cipher_is_ccm(k->cipher) ? 11 : 12;

    memset(t + 20, 0, 16);
    if (RAND_bytes(t + 20, nonce_len) != 1)
        return -1;
    return xpipe__smb2_aead(1, k->cipher, k->enc, t + 20, t + SMB2_AAD_OFF,
                            SMB2_AAD_LEN, plain, n, out, t + 4);
}

int xpipe__smb2_decrypt(const smb2_keys_t *k, const uint8_t *t,
                        const uint8_t *in, size_t size, uint8_t *out)
{
    smb2_iov_t iov = { in, size };
    uint8_t tag[16];

    memcpy(tag, t + 4, 16);
    return xpipe__smb2_aead(0, k->cipher, k->dec, t + 20, t + SMB2_AAD_OFF,
                            SMB2_AAD_LEN, &iov, 1, out, tag);
}
