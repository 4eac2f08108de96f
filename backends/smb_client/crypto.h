/* SPDX-License-Identifier: Apache-2.0 */
/* crypto.h — PRIVATE: the SMB client's cryptography through OpenSSL 3's
 * libcrypto: the preauth integrity hash (SHA-512), signing (HMAC-SHA256,
 * AES-128-CMAC, AES-128-GMAC), the SP800-108 key derivation and the
 * transform header's AEAD (AES-128/256-CCM and -GCM). Stateless: keys
 * live in the caller's smb2_keys_t, which xpipe__smb2_keys_wipe clears.
 */
#ifndef XPIPE_SMB2_CRYPTO_H
#define XPIPE_SMB2_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

/* A piece of a message: signing and encryption run over several without
 * copying them together. */
typedef struct smb2_iov_t {
    const void *p;
    size_t n;
} smb2_iov_t;

typedef struct smb2_keys_t {
    uint16_t dialect;
    int sign_alg; /* SMB2_SIGN_* */
    int cipher;   /* SMB2_CIPHER_NONE or SMB2_AES* */
    uint8_t sign[16];
    uint8_t enc[32], dec[32]; /* client to server, server to client */
} smb2_keys_t;

/* h = SHA-512(h || message): 0, or -1 when libcrypto fails. */
int xpipe__smb2_preauth_update(uint8_t h[64], const smb2_iov_t *iov, int n);

/* Derive the session's keys from the GSSAPI session key (as long as the
 * mechanism gave it) after dialect, sign_alg and cipher are set; preauth
 * is 3.1.1's session hash (ignored before 3.1.1). */
int xpipe__smb2_keys_derive(smb2_keys_t *k, const uint8_t *session_key,
                            size_t session_key_len, const uint8_t preauth[64]);
void xpipe__smb2_keys_wipe(smb2_keys_t *k);

/* The signature of a message whose header's signature field is zero
 * (the message may be several pieces, the header in the first). */
int xpipe__smb2_sign(const smb2_keys_t *k, const smb2_iov_t *iov, int n,
                     uint8_t sig[16]);

/* Encrypt a message into a transform: t holds the transform header
 * (xpipe__smb2_transform_build), out receives plain's bytes encrypted; the
 * nonce is made here (random, as long as the cipher uses), the tag goes
 * into the transform's signature. */
int xpipe__smb2_encrypt(const smb2_keys_t *k, uint8_t *t,
                        const smb2_iov_t *plain, int n, uint8_t *out);
/* Decrypt and authenticate a transform's payload of size bytes into out:
 * 0, or -1 when it does not authenticate. */
int xpipe__smb2_decrypt(const smb2_keys_t *k, const uint8_t *t,
                        const uint8_t *in, size_t size, uint8_t *out);

/* Primitives, exported for the known-answer tests. */
int xpipe__smb2_kdf(const uint8_t *key, size_t key_len, const uint8_t *label,
                    size_t label_len, const uint8_t *ctx, size_t ctx_len,
                    uint8_t *out, size_t out_len);
int xpipe__smb2_aead(int encrypt, int cipher, const uint8_t *key,
                     const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                     const smb2_iov_t *in, int n, uint8_t *out,
                     uint8_t tag[16]);
int xpipe__smb2_mac(int alg, const uint8_t *key, const uint8_t nonce[12],
                    const smb2_iov_t *iov, int n, uint8_t out[16]);

#endif
