/* SPDX-License-Identifier: Apache-2.0 */
/* smb2_fake.c — the scripted SMB 2.1 server of smb2_fake.h. Its replies
 * are laid out as [MS-SMB2] 2.2 says; it signs them with HMAC-SHA256 and
 * the GSSAPI session key (backends/smb_client/crypto.c, the client's own code,
 * whose known answers test_smbclient.c checks apart).
 */
#include "smb2_fake.h"

#include "crypto.h"
#include "wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FAKE_SESSION 0x0000100000000042ull
#define FAKE_TREE 7
#define FAKE_LIMIT (30 * 1000) /* ms: the whole conversation */

/* Response header flags ([MS-SMB2] 2.2.1). */
#define F_REPLY 0x1
#define F_ASYNC 0x2
#define F_SIGNED 0x8

struct fake_t {
    fake_script_e script;
    int lfd, cfd, stop[2];
    unsigned port;
    pthread_t thread;
    int started;
    char userfile[64];
    gss_ctx_id_t ctx;
    gss_cred_id_t cred; /* the acceptor's, for every context */
    smb2_keys_t keys;
    int keyed;
    /* The READ the script holds: its message id and async id. */
    uint64_t held_mid, held_async;
    int holding, expired_read, expired_write, silent;
    fake_seen_t seen;
};

static void fake_fail(fake_t *f, const char *what)
{
    if (f->seen.error[0] == '\0')
        snprintf(f->seen.error, sizeof(f->seen.error), "%s", what);
}

/* Wait until fd is readable, the stop pipe says stop, or the limit:
 * 1 readable, 0 not. */
static int fake_wait(fake_t *f, int fd)
{
    struct pollfd p[2] = { { fd, POLLIN, 0 }, { f->stop[0], POLLIN, 0 } };

    if (poll(p, 2, FAKE_LIMIT) <= 0 || (p[1].revents & POLLIN))
        return 0;
    return (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0;
}

static int fake_recv_all(fake_t *f, uint8_t *b, size_t n)
{
    while (n > 0) {
        ssize_t k;

        if (!fake_wait(f, f->cfd))
            return -1;
        k = recv(f->cfd, b, n, 0);
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static int fake_send_all(fake_t *f, const uint8_t *b, size_t n)
{
    while (n > 0) {
        ssize_t k = send(f->cfd, b, n, MSG_NOSIGNAL);

        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* One request: *m (malloc'd) and its length, or -1 at the end. */
static int fake_take(fake_t *f, uint8_t **m, size_t *len)
{
    uint8_t nb[4];

    if (fake_recv_all(f, nb, 4) != 0)
        return -1;
    *len = (size_t)nb[1] << 16 | (size_t)nb[2] << 8 | nb[3];
    if (nb[0] != 0 || *len < SMB2_HDR_LEN || (*m = malloc(*len)) == NULL)
        return -1;
    if (fake_recv_all(f, *m, *len) != 0) {
        free(*m);
        return -1;
    }
    return 0;
}

/* Reply to request q with status st and body b (n bytes); signed when the
 * session has a key (and sign says so); credits granted as asked (or
 * none); async: an interim's or a late reply's async id (0: sync). */
typedef struct fake_reply_t {
    uint32_t status;
    uint16_t credits; /* 0xFFFF: what was asked */
    uint64_t async_id;
    int sign, corrupt;
    size_t cut; /* send only this many bytes of it (0: all) */
} fake_reply_t;

static int fake_reply(fake_t *f, const uint8_t *q, const fake_reply_t *r,
                      const uint8_t *b, size_t n)
{
    size_t len = SMB2_HDR_LEN + n;
    uint8_t *m = calloc(1, 4 + len), *h = m + 4;
    uint32_t flags = F_REPLY;
    int rc;

    if (m == NULL)
        return -1;
    m[1] = (uint8_t)(len >> 16);
    m[2] = (uint8_t)(len >> 8);
    m[3] = (uint8_t)len;
    memcpy(h, "\xFESMB", 4);
    smb2_put16(h + 4, 64);
    smb2_put16(h + 6, smb2_get16(q + 6)); /* CreditCharge */
    smb2_put32(h + 8, r->status);
    smb2_put16(h + 12, smb2_get16(q + 12)); /* Command */
    smb2_put16(h + 14, r->credits == 0xFFFF
                           ? (smb2_get16(q + 14) ? smb2_get16(q + 14) : 1)
                           : r->credits);
    memcpy(h + 24, q + 24, 8); /* MessageId */
    if (r->async_id) {
        flags |= F_ASYNC;
        smb2_put64(h + 32, r->async_id);
    }
    else
        smb2_put32(h + 36, smb2_get32(q + 36)); /* TreeId */
    smb2_put64(h + 40, smb2_get16(q + 12) == SMB2_NEGOTIATE ? 0 : FAKE_SESSION);
    memcpy(h + SMB2_HDR_LEN, b, n);
    if (r->sign && f->keyed) {
        smb2_iov_t iov = { h, len };

        flags |= F_SIGNED;
        smb2_put32(h + 16, flags);
        if (xpipe__smb2_sign(&f->keys, &iov, 1, h + SMB2_SIG_OFF) != 0) {
            free(m);
            return -1;
        }
        if (r->corrupt)
            h[SMB2_SIG_OFF + 5] ^= 0x40;
    }
    else
        smb2_put32(h + 16, flags);
    rc = fake_send_all(f, m, r->cut ? r->cut : 4 + len);
    free(m);
    return rc;
}

static int fake_ok(fake_t *f, const uint8_t *q, const uint8_t *b, size_t n)
{
    fake_reply_t r = { 0, 0xFFFF, 0, 1, 0, 0 };

    return fake_reply(f, q, &r, b, n);
}

/* An error reply (its 9-byte body), signed. */
static int fake_error(fake_t *f, const uint8_t *q, uint32_t st,
                      uint64_t async_id)
{
    static const uint8_t body[9] = { 9 };
    fake_reply_t r = { st, 0xFFFF, async_id, 1, 0, 0 };

    return fake_reply(f, q, &r, body, sizeof(body));
}

/* READ's reply with data ([MS-SMB2] 2.2.20). */
static int fake_read_reply(fake_t *f, const uint8_t *q, uint32_t st,
                           const void *data, size_t n, uint64_t async_id)
{
    uint8_t *b = calloc(1, 16 + n);
    fake_reply_t r = { st, 0xFFFF, async_id, 1, 0, 0 };
    int rc;

    if (b == NULL)
        return -1;
    smb2_put16(b, 17);
    b[2] = SMB2_HDR_LEN + 16; /* DataOffset */
    smb2_put32(b + 4, (uint32_t)n);
    memcpy(b + 16, data, n);
    if (f->script == FAKE_BADSIG)
        r.corrupt = 1;
    if (f->script == FAKE_UNSIGNED)
        r.sign = 0;
    if (f->script == FAKE_TRUNCATED)
        r.cut = 4 + SMB2_HDR_LEN + 4; /* the header and 4 bytes: no more */
    rc = fake_reply(f, q, &r, b, 16 + n);
    free(b);
    return rc;
}

static int fake_negotiate(fake_t *f, const uint8_t *q)
{
    uint8_t b[65] = { 0 };
    fake_reply_t r = { 0, 1, 0, 0, 0, 0 };

    (void)q;
    smb2_put16(b, 65);
    smb2_put16(b + 2, 0x3); /* signing enabled and required */
    smb2_put16(b + 4, SMB2_DIALECT_210);
    memcpy(b + 8, "xpipe-fake-guid!", 16);
    smb2_put32(b + 28, 65536);             /* MaxTransactSize */
    smb2_put32(b + 32, 65536);             /* MaxReadSize */
    smb2_put32(b + 36, 65536);             /* MaxWriteSize */
    smb2_put16(b + 56, SMB2_HDR_LEN + 64); /* an empty security buffer */
    return fake_reply(f, q, &r, b, sizeof(b));
}

/* SESSION_SETUP through the GSSAPI acceptor (a re-authentication when
 * the session has its key already: that key stays). */
static int fake_session_setup(fake_t *f, const uint8_t *q, size_t len)
{
    const uint8_t *body = q + SMB2_HDR_LEN;
    size_t off = smb2_get16(body + 12), n = smb2_get16(body + 14);
    gss_buffer_desc in = { 0, NULL }, out = { 0, NULL };
    OM_uint32 maj, min;
    fake_reply_t r = { 0, 0xFFFF, 0, 0, 0, 0 };
    size_t token;
    uint8_t *b;
    int rc;

    if (len < SMB2_HDR_LEN + 24 || off + n > len)
        return -1;
    in.value = (void *)(q + off);
    in.length = n;
    maj = gss_accept_sec_context(&min, &f->ctx, f->cred, &in,
                                 GSS_C_NO_CHANNEL_BINDINGS, NULL, NULL, &out,
                                 NULL, NULL, NULL);
    if (GSS_ERROR(maj)) {
        char why[96];

        snprintf(why, sizeof(why), "gss_accept_sec_context: %x/%x",
                 (unsigned)maj, (unsigned)min);
        fake_fail(f, why);
        return fake_error(f, q, 0xC000006D /* LOGON_FAILURE */, 0);
    }
    if (maj == GSS_S_CONTINUE_NEEDED)
        r.status = 0xC0000016; /* MORE_PROCESSING_REQUIRED */
    else {
        gss_buffer_set_t set = GSS_C_NO_BUFFER_SET;
        static gss_OID_desc key_oid = {
            11, "\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x05\x05"
        }; /* GSS_C_INQ_SSPI_SESSION_KEY */

        if (!f->keyed) {
            maj = gss_inquire_sec_context_by_oid(&min, f->ctx, &key_oid, &set);
            if (GSS_ERROR(maj) || set == GSS_C_NO_BUFFER_SET
                || set->count < 1) {
                fake_fail(f, "no session key from the acceptor");
                gss_release_buffer(&min, &out);
                return -1;
            }
            memset(&f->keys, 0, sizeof(f->keys));
            f->keys.dialect = SMB2_DIALECT_210;
            f->keys.sign_alg = SMB2_SIGN_HMAC_SHA256;
            f->keys.cipher = SMB2_CIPHER_NONE;
            xpipe__smb2_keys_derive(&f->keys, set->elements[0].value,
                                    set->elements[0].length, NULL);
            gss_release_buffer_set(&min, &set);
            f->keyed = 1;
        }
        gss_delete_sec_context(&min, &f->ctx, GSS_C_NO_BUFFER);
        f->seen.sessions++;
        r.sign = 1;
        if (f->script == FAKE_STARVE)
            r.credits = 0;
    }
    if (f->script == FAKE_STARVE && r.status != 0)
        r.credits = 0; /* the client cannot even finish */
    /* The final token withheld: the reply says success with none. */
    token = f->script == FAKE_NOTOKEN && r.status == 0 ? 0 : out.length;
    b = calloc(1, 8 + out.length);
    if (b == NULL) {
        gss_release_buffer(&min, &out);
        return -1;
    }
    smb2_put16(b, 9);
    smb2_put16(b + 4, SMB2_HDR_LEN + 8);
    smb2_put16(b + 6, (uint16_t)token);
    memcpy(b + 8, out.value, token);
    rc = fake_reply(f, q, &r, b, 8 + (token ? token : 1));
    f->seen.setup_answered = apr_time_now();
    gss_release_buffer(&min, &out);
    free(b);
    return rc;
}

static int fake_read(fake_t *f, const uint8_t *q)
{
    static char msg[100000];
    size_t i;

    f->seen.reads++;
    switch (f->script) {
    case FAKE_OVERFLOW:
        if (f->seen.reads == 1) {
            /* A break notification nobody asked for comes first. */
            static const uint8_t brk[24] = { 24 };
            uint8_t note[SMB2_HDR_LEN] = { 0 };
            fake_reply_t r = { 0, 0, 0, 0, 0, 0 };

            memcpy(note, q, SMB2_HDR_LEN);
            smb2_put16(note + 12, SMB2_OPLOCK_BREAK);
            smb2_put64(note + 24, UINT64_MAX);
            smb2_put16(note + 14, 0);
            if (fake_reply(f, note, &r, brk, sizeof(brk)) != 0)
                return -1;
            for (i = 0; i < sizeof(msg); i++)
                msg[i] = (char)(i * 7 + i / 251);
            return fake_read_reply(f, q, 0x80000005 /* BUFFER_OVERFLOW */, msg,
                                   40000, 0);
        }
        if (f->seen.reads == 2)
            return fake_read_reply(f, q, 0, msg + 40000, sizeof(msg) - 40000,
                                   0);
        if (f->seen.reads == 3)
            return fake_read_reply(f, q, 0, "tail", 4, 0);
        break; /* then held, as Samba holds an empty pipe's READ */
    case FAKE_CANCEL:
        if (f->seen.reads == 1) {
            fake_reply_t r = {
                0x00000103 /* PENDING */, 0xFFFF, 0x77, 0, 0, 0
            };
            static const uint8_t body[9] = { 9 };

            f->held_mid = smb2_get64(q + 24);
            f->held_async = 0x77;
            f->holding = 1;
            return fake_reply(f, q, &r, body, sizeof(body));
        }
        if (f->seen.reads == 2)
            return fake_read_reply(f, q, 0, "after", 5, 0);
        break;
    case FAKE_BADSIG:
    case FAKE_UNSIGNED:
    case FAKE_TRUNCATED:
        if (f->seen.reads == 1)
            return fake_read_reply(f, q, 0, "data", 4, 0);
        break;
    case FAKE_SILENT: f->silent = 1; return 0;
    case FAKE_EXPIRE:
        if (!f->expired_read) {
            f->expired_read = 1;
            return fake_error(f, q, 0xC000035C /* NETWORK_SESSION_EXPIRED */,
                              0);
        }
        return fake_read_reply(f, q, 0, "fresh", 5, 0);
    default: break;
    }
    /* Held: no reply (a READ on an empty pipe waits). */
    f->held_mid = smb2_get64(q + 24);
    f->holding = 1;
    return 0;
}

static int fake_write(fake_t *f, const uint8_t *q, size_t len)
{
    const uint8_t *body = q + SMB2_HDR_LEN;
    size_t off = smb2_get16(body + 2), n = smb2_get32(body + 4);
    uint8_t b[17] = { 0 };
    size_t have = strlen(f->seen.wrote);

    if (off + n > len)
        return -1;
    if (f->script == FAKE_EXPIRE && !f->expired_write) {
        f->expired_write = 1;
        return fake_error(f, q, 0xC000035C, 0);
    }
    f->seen.writes++;
    if (have + 1 < sizeof(f->seen.wrote)) {
        size_t k = n < sizeof(f->seen.wrote) - 1 - have
                       ? n
                       : sizeof(f->seen.wrote) - 1 - have;
        memcpy(f->seen.wrote + have, q + off, k);
        f->seen.wrote[have + k] = '\0';
    }
    smb2_put16(b, 17);
    smb2_put32(b + 4, (uint32_t)n);
    return fake_ok(f, q, b, sizeof(b));
}

static int fake_cancel(fake_t *f, const uint8_t *q)
{
    uint32_t flags = smb2_get32(q + 16);
    int match = (flags & F_ASYNC) ? smb2_get64(q + 32) == f->held_async
                                  : smb2_get64(q + 24) == f->held_mid;

    f->seen.cancels++;
    if (f->script != FAKE_CANCEL || !f->holding || !match)
        return 0; /* as Samba: ignored */
    f->holding = 0;
    {
        /* The READ's own reply: its message id, its async id. */
        uint8_t rq[SMB2_HDR_LEN];

        memcpy(rq, q, SMB2_HDR_LEN);
        smb2_put16(rq + 12, SMB2_READ);
        smb2_put64(rq + 24, f->held_mid);
        smb2_put16(rq + 14, 1);
        return fake_error(f, rq, 0xC0000120 /* CANCELLED */, f->held_async);
    }
}

static int fake_serve_one(fake_t *f, uint8_t *q, size_t len)
{
    uint16_t command = smb2_get16(q + 12);

    if (f->silent)
        return 0;
    switch (command) {
    case SMB2_NEGOTIATE: return fake_negotiate(f, q);
    case SMB2_SESSION_SETUP: return fake_session_setup(f, q, len);
    case SMB2_TREE_CONNECT: {
        uint8_t b[16] = { 0 };
        uint8_t hq[SMB2_HDR_LEN];

        smb2_put16(b, 16);
        b[2] = 0x02; /* a pipe share */
        smb2_put32(b + 12, 0x001F01FF);
        memcpy(hq, q, SMB2_HDR_LEN);
        smb2_put32(hq + 36, FAKE_TREE);
        return fake_ok(f, hq, b, sizeof(b));
    }
    case SMB2_CREATE: {
        uint8_t b[89] = { 0 };

        if (f->script == FAKE_BUSY && ++f->seen.creates < 3)
            return fake_error(f, q, 0xC00000AC /* PIPE_NOT_AVAILABLE */, 0);
        smb2_put16(b, 89);
        smb2_put32(b + 4, 1); /* FILE_OPENED */
        memcpy(b + 64, "fake-file-id-001", 16);
        return fake_ok(f, q, b, sizeof(b));
    }
    case SMB2_READ: return fake_read(f, q);
    case SMB2_WRITE: return fake_write(f, q, len);
    case SMB2_CANCEL: return fake_cancel(f, q);
    case SMB2_CLOSE: {
        uint8_t b[60] = { 0 };

        f->seen.closes++;
        smb2_put16(b, 60);
        return fake_ok(f, q, b, sizeof(b));
    }
    case SMB2_TREE_DISCONNECT:
    case SMB2_LOGOFF: {
        uint8_t b[4] = { 4 };

        return fake_ok(f, q, b, sizeof(b));
    }
    default: return fake_error(f, q, 0xC0000002 /* NOT_IMPLEMENTED */, 0);
    }
}

/* A new connection: nothing of the last one's session is kept. */
static void fake_reset(fake_t *f)
{
    OM_uint32 min;

    if (f->ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&min, &f->ctx, GSS_C_NO_BUFFER);
    xpipe__smb2_keys_wipe(&f->keys);
    f->keyed = f->holding = f->silent = 0;
}

static void *fake_main(void *arg)
{
    fake_t *f = arg;
    uint8_t *q;
    size_t len;
    int conns = 0;

    /* One connection after another, until told to stop. */
    while (fake_wait(f, f->lfd)) {
        if (f->cfd >= 0)
            close(f->cfd);
        f->cfd = accept(f->lfd, NULL, NULL);
        if (f->cfd < 0) {
            fake_fail(f, "accept failed");
            return NULL;
        }
        conns++;
        fake_reset(f);
        while (fake_take(f, &q, &len) == 0) {
            int rc = fake_serve_one(f, q, len);

            free(q);
            if (rc != 0)
                break;
            if (f->script == FAKE_TRUNCATED && f->seen.reads > 0)
                break; /* and close, in the middle of that reply */
        }
        shutdown(f->cfd, SHUT_RDWR);
    }
    if (conns == 0)
        fake_fail(f, "no client came");
    return NULL;
}

fake_t *fake_start(fake_script_e script, int ipv6, const char *domain,
                   const char *user, const char *password, char *why,
                   size_t whylen)
{
    fake_t *f = calloc(1, sizeof(*f));
    struct sockaddr_in a;
    struct sockaddr_in6 a6;
    socklen_t al = ipv6 ? sizeof(a6) : sizeof(a);
    struct sockaddr *sa = ipv6 ? (struct sockaddr *)&a6 : (struct sockaddr *)&a;
    FILE *uf;
    int fd;

    if (f == NULL)
        return NULL;
    f->script = script;
    f->lfd = f->cfd = f->stop[0] = f->stop[1] = -1;
    f->ctx = GSS_C_NO_CONTEXT;
    f->cred = GSS_C_NO_CREDENTIAL;
    /* The acceptor's account: gss-ntlmssp reads NTLM_USER_FILE. */
    snprintf(f->userfile, sizeof(f->userfile), "/tmp/xt-fake-ntlm-XXXXXX");
    fd = mkstemp(f->userfile);
    if (fd < 0 || (uf = fdopen(fd, "w")) == NULL) {
        snprintf(why, whylen, "no temporary file for the NTLM user file");
        free(f);
        return NULL;
    }
    fprintf(uf, "%s:%s:%s\n", domain, user, password);
    fclose(uf);
    setenv("NTLM_USER_FILE", f->userfile, 1);
    {
        OM_uint32 maj, min;

        maj = gss_acquire_cred(&min, GSS_C_NO_NAME, GSS_C_INDEFINITE,
                               GSS_C_NO_OID_SET, GSS_C_ACCEPT, &f->cred, NULL,
                               NULL);
        if (GSS_ERROR(maj)) {
            snprintf(why, whylen,
                     "no GSSAPI acceptor credential (gss-ntlmssp): %x/%x",
                     (unsigned)maj, (unsigned)min);
            fake_stop(f, NULL);
            return NULL;
        }
    }
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    memset(&a6, 0, sizeof(a6));
    a6.sin6_family = AF_INET6;
    a6.sin6_addr = in6addr_loopback;
    f->lfd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (f->lfd < 0 || bind(f->lfd, sa, al) != 0 || listen(f->lfd, 1) != 0
        || getsockname(f->lfd, sa, &al) != 0 || pipe(f->stop) != 0) {
        snprintf(why, whylen, "no listening socket%s: %s",
                 ipv6 ? " on ::1" : "", strerror(errno));
        fake_stop(f, NULL);
        return NULL;
    }
    f->port = ntohs(ipv6 ? a6.sin6_port : a.sin_port);
    f->started = pthread_create(&f->thread, NULL, fake_main, f) == 0;
    if (!f->started) {
        snprintf(why, whylen, "no thread");
        fake_stop(f, NULL);
        return NULL;
    }
    return f;
}

unsigned fake_port(const fake_t *f)
{
    return f->port;
}

void fake_stop(fake_t *f, fake_seen_t *seen)
{
    OM_uint32 min;

    if (f->stop[1] >= 0) {
        if (write(f->stop[1], "x", 1) != 1)
            fake_fail(f, "the stop pipe failed");
        if (f->started)
            pthread_join(f->thread, NULL);
    }
    if (seen)
        *seen = f->seen;
    if (f->ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&min, &f->ctx, GSS_C_NO_BUFFER);
    if (f->cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&min, &f->cred);
    xpipe__smb2_keys_wipe(&f->keys);
    if (f->cfd >= 0)
        close(f->cfd);
    if (f->lfd >= 0)
        close(f->lfd);
    if (f->stop[0] >= 0) {
        close(f->stop[0]);
        close(f->stop[1]);
    }
    unsetenv("NTLM_USER_FILE");
    unlink(f->userfile);
    free(f);
}
