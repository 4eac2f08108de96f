/* SPDX-License-Identifier: Apache-2.0 */
/* auth.h — PRIVATE: the SMB client's authentication through GSSAPI with
 * SPNEGO (Kerberos when a ticket or a KDC serves, NTLMv2 through the
 * gss-ntlmssp mechanism), and the session key it yields.
 */
#ifndef XPIPE_SMB2_AUTH_H
#define XPIPE_SMB2_AUTH_H

#include <stddef.h>
#include <stdint.h>

typedef struct smb2_auth_t smb2_auth_t;

/* Credentials: user NULL means the default GSSAPI credential (a Kerberos
 * ticket in the ccache, or NTLM_USER_FILE for gss-ntlmssp). The password
 * is used here and not kept. On failure, returns -1 with why (a GSSAPI
 * text) in err. */
int xpipe__smb2_auth_create(smb2_auth_t **a, const char *host, const char *user,
                            const char *domain, const char *password, char *err,
                            size_t errlen);
/* One step: in (may be empty) gives out (free with xpipe__smb2_auth_free_token);
 * 1 when the context is complete, 0 when the server must answer, -1 on
 * failure with why in err. */
int xpipe__smb2_auth_step(smb2_auth_t *a, const uint8_t *in, size_t in_len,
                          uint8_t **out, size_t *out_len, char *err,
                          size_t errlen);
void xpipe__smb2_auth_free_token(uint8_t *out, size_t out_len);
/* The session key (up to 32 bytes) once complete: its length, or -1. */
int xpipe__smb2_auth_session_key(smb2_auth_t *a, uint8_t key[32]);
/* Who we authenticated as ("user@REALM" or "DOMAIN\user") and by which
 * mechanism ("Kerberos", "NTLM"), copied into the buffers. */
void xpipe__smb2_auth_names(smb2_auth_t *a, char *user, size_t userlen,
                            char *mech, size_t mechlen);
/* Forget the security context, keep the credential: the next step starts
 * a new authentication with it (a re-authentication of the session). */
void xpipe__smb2_auth_restart(smb2_auth_t *a);
void xpipe__smb2_auth_destroy(smb2_auth_t *a);

#endif
