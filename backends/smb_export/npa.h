/* SPDX-License-Identifier: Apache-2.0 */
/* npa.h — PRIVATE to the SMB export: the local protocol by which a
 * Samba smbd hands an SMB client's named-pipe open to a Unix socket in its
 * np directory ("named pipe auth", level 7 as Samba 4.17 speaks it).
 *
 * smbd connects to <ncalrpc dir>/np/<lower-cased pipe name> and sends a
 * big-endian u32 length, then that many bytes of NDR (little-endian, NDR32
 * alignment counted from the length field): "NPAM", level 7, the client's
 * and server's names, addresses and ports, and the SMB session's identity.
 * The server answers with XPIPE__NPA_REPLY_LEN bytes naming byte or
 * message mode; after that byte mode is a plain stream and message mode
 * frames each message as a little-endian u16 length and its payload.
 *
 * Pure parsing and formatting, no system calls: the fuzz target links it.
 * Facts from Samba's librpc/idl/named_pipe_auth.idl, auth.idl and
 * security.idl and from requests captured from smbd; no Samba code.
 */
#ifndef XPIPE_SMB_NPA_H
#define XPIPE_SMB_NPA_H

#include "xpipe.h"

#include <apr_pools.h>

/* The only level understood (Samba 4.17's). */
#define XPIPE__NPA_LEVEL 7
/* Largest request accepted, length field excluded. A session with a
 * thousand group SIDs is about 40 KiB. */
#define XPIPE__NPA_MAX (256 * 1024)
/* The answer's size, length field included. */
#define XPIPE__NPA_REPLY_LEN 36
/* Largest message in message mode (the frame's u16 length). */
#define XPIPE__NPA_MESSAGE_MAX 65535

/* What the request tells; strings from the pool, NULL when absent. */
typedef struct xpipe__npa_info_t {
    const char *client_name; /* the client machine's name */
    const char *client_addr; /* its IP address */
    unsigned int client_port;
    const char *server_name;
    const char *server_addr;
    unsigned int server_port;
    int have_session;      /* the fields below come from it */
    const char *account;   /* account name, e.g. "alice" */
    const char *domain;    /* e.g. "WORKGROUP" */
    const char *sid;       /* the user's SID string (the token's first) */
    const char *unix_name; /* the Unix account smbd mapped it to */
    int have_unix;         /* uid and gid are set */
    long uid;
    long gid;
} xpipe__npa_info_t;

/* The length announced by a request's first 4 bytes. */
apr_size_t xpipe__npa_length(const unsigned char hdr[4]);

/* Parse a whole request: req holds the 4 length bytes and the len bytes
 * they announce. On failure returns APR_EGENERAL and writes why (for the
 * log) into why[whylen]; nothing is trusted from a request that fails. */
apr_status_t xpipe__npa_parse(xpipe__npa_info_t *info, const unsigned char *req,
                              apr_size_t len, char *why, apr_size_t whylen,
                              apr_pool_t *pool);

/* The answer for a request of XPIPE__NPA_LEVEL: byte or message mode. */
void xpipe__npa_reply(unsigned char out[XPIPE__NPA_REPLY_LEN],
                      int message_mode);

/* Scan smb.conf text for [global]'s "ncalrpc dir" (keys compare without
 * case and spaces, as Samba's do). Returns the value from pool, or NULL
 * when it is not set. */
const char *xpipe__smbconf_ncalrpc_dir(const char *text, apr_size_t len,
                                       apr_pool_t *pool);

/* The SMB session's identity of the client as a peer: its account,
 * domain, host, address and port, SID and Unix ids where smbd gave
 * them. */
void xpipe__npa_peer(const xpipe__npa_info_t *info, xpipe_peer_t *peer);

#endif /* XPIPE_SMB_NPA_H */
