/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_smb2tf.c — libFuzzer target: the SMB client's transform header
 * (backends/smb_client/wire.c) and its AEAD (backends/smb_client/crypto.c, through
 * libcrypto). The first byte picks the cipher (AES-128/256, CCM/GCM)
 * and which byte to alter; the rest is a message. Properties:
 *   - the input itself, taken as a transform, is parsed within bounds
 *     and refused by the decryption (nobody can forge the tag);
 *   - the message encrypted and parsed back decrypts to itself;
 *   - any one byte of that transform altered (the tag, the nonce, the
 *     size, the session, the payload) fails to decrypt.
 */
#include "smb_client/crypto.h"
#include "smb_client/wire.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int keys_for(smb2_keys_t *k, int cipher)
{
    static const uint8_t session_key[16] = "xpipe-fuzz-key!";
    uint8_t preauth[64];

    memset(k, 0, sizeof(*k));
    memset(preauth, 0x5a, sizeof(preauth));
    k->dialect = SMB2_DIALECT_311;
    k->sign_alg = SMB2_SIGN_AES_GMAC;
    k->cipher = cipher;
    if (xpipe__smb2_keys_derive(k, session_key, sizeof(session_key), preauth)
        != 0)
        return -1;
    /* Decrypt with the key we encrypt with: a round trip here. */
    memcpy(k->dec, k->enc, sizeof(k->dec));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    smb2_keys_t k;
    smb2_transform_t t;
    smb2_iov_t iov;
    uint8_t *m, *plain, *tf;
    size_t len, at;
    int cipher;

    if (size < 1)
        return 0;
    cipher = SMB2_AES128_CCM + data[0] % 4;
    if (keys_for(&k, cipher) != 0)
        abort();
    /* The input as a transform from a hostile server. */
    m = malloc(size);
    plain = malloc(size);
    if (m == NULL || plain == NULL)
        goto out;
    memcpy(m, data, size);
    if (xpipe__smb2_transform_parse(m, size, &t) == 0) {
        if (t.payload + t.size != m + size)
            abort();
        if (xpipe__smb2_decrypt(&k, m, t.payload, t.size, plain) == 0)
            abort(); /* a forged tag accepted */
    }
    free(m);
    free(plain);
    plain = NULL;

    /* The rest encrypted: back to itself; any byte altered: refused. */
    len = size - 1;
    if (len < SMB2_HDR_LEN)
        goto out; /* transforms carry at least a header */
    tf = malloc(SMB2_TRANSFORM_LEN + len);
    plain = malloc(len);
    if (tf == NULL || plain == NULL) {
        free(tf);
        goto out;
    }
    xpipe__smb2_transform_build(tf, (uint32_t)len, 0x1122334455667788ull);
    iov.p = data + 1;
    iov.n = len;
    if (xpipe__smb2_encrypt(&k, tf, &iov, 1, tf + SMB2_TRANSFORM_LEN) != 0)
        abort();
    if (xpipe__smb2_transform_parse(tf, SMB2_TRANSFORM_LEN + len, &t) != 0
        || t.session_id != 0x1122334455667788ull || t.size != len)
        abort();
    if (xpipe__smb2_decrypt(&k, tf, t.payload, t.size, plain) != 0
        || memcmp(plain, data + 1, len) != 0)
        abort();
    /* Alter one byte after the protocol id (all of it is authenticated:
     * the tag, then the associated data, then the payload). */
    at = 4
         + ((size_t)data[0] >> 2 | (size_t)data[size - 1] << 6)
               % (SMB2_TRANSFORM_LEN + len - 4);
    tf[at] ^= 0x01;
    if (xpipe__smb2_transform_parse(tf, SMB2_TRANSFORM_LEN + len, &t) == 0
        && xpipe__smb2_decrypt(&k, tf, t.payload, t.size, plain) == 0)
        abort();
    free(tf);
out:
    free(plain);
    xpipe__smb2_keys_wipe(&k);
    return 0;
}
