/* SPDX-License-Identifier: Apache-2.0 */
/* smb2_fake.h — a scripted SMB 2.1 server for the SMB client's tests: what
 * Samba never does (a message continued by STATUS_BUFFER_OVERFLOW, CANCEL
 * answered STATUS_CANCELLED, bad signatures, truncated frames, credit
 * starvation, session expiry, a server that stops answering). It
 * authenticates for real (SPNEGO with NTLM through gss-ntlmssp as the
 * acceptor, the user from an NTLM_USER_FILE) and signs its replies with
 * the session's key, so the client sees a server it trusts until the
 * script says otherwise. One thread serves one connection after
 * another.
 */
#ifndef XT_SMB2_FAKE_H
#define XT_SMB2_FAKE_H

#include <apr_time.h>

typedef enum {
    FAKE_OVERFLOW,  /* a 100,000-byte message in two READs (the first
                      STATUS_BUFFER_OVERFLOW), an oplock break nobody
                      asked for before it, then "tail" */
    FAKE_CANCEL,    /* the first READ goes async (interim) and waits; a
                      CANCEL ends it STATUS_CANCELLED; then "after" */
    FAKE_BADSIG,    /* the first READ's reply carries a wrong signature */
    FAKE_UNSIGNED,  /* the first READ's reply is not signed */
    FAKE_TRUNCATED, /* the first READ's reply is cut short, then the
                       connection closes */
    FAKE_STARVE,    /* the session setup grants no credit */
    FAKE_SILENT,    /* the first READ is never answered (nor anything
                      after it) */
    FAKE_EXPIRE,    /* the first READ and the first WRITE are answered
                      STATUS_NETWORK_SESSION_EXPIRED; re-authenticated,
                      the READ gets "fresh" */
    FAKE_BUSY,      /* the first two CREATEs (each on a connection of its
                      own) are answered STATUS_PIPE_NOT_AVAILABLE */
    FAKE_NOTOKEN    /* the session setup's success carries no final
                      token: the client's GSSAPI is left incomplete */
} fake_script_e;

/* What the server saw, for the tests to check. */
typedef struct fake_seen_t {
    int sessions; /* SESSION_SETUPs completed (re-authentications too) */
    int reads, writes, cancels, closes, creates;
    apr_time_t setup_answered; /* when a SESSION_SETUP was last answered */
    char wrote[64];            /* the first bytes the client wrote */
    char error[256];           /* the server's own failure, if any */
} fake_seen_t;

typedef struct fake_t fake_t;

/* Start the server on 127.0.0.1 (::1 when ipv6; a free port): NULL with
 * the reason in why when it cannot (no gss-ntlmssp acceptor, no IPv6).
 * user/domain/password are the account it knows. */
fake_t *fake_start(fake_script_e script, int ipv6, const char *domain,
                   const char *user, const char *password, char *why,
                   size_t whylen);
unsigned fake_port(const fake_t *f);
/* Stop it (closing its sockets), wait for its thread, free it. */
void fake_stop(fake_t *f, fake_seen_t *seen);

#endif
