/* SPDX-License-Identifier: Apache-2.0 */
/* conn.c — one SMB2/3 connection's traffic: frames on the wire, the
 * receiving thread (signatures, decryption, replies to their slots),
 * requests, replies and credits ([MS-SMB2] 3.2); the connection made and
 * ended. The way there: net.c; the handshake: session.c.
 */
#include "smb2.h"

#include "auth.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

/* Credits kept in hand: enough for a read pending, a large write and a
 * close at once. */
#define SMB2_CREDITS_WANT 256

/* The connection's end, as a status with its detail (c->mu held). */
static apr_status_t conn_dead(smb2_conn_t *c)
{
    return xpipe__fail(c->dead, "%s", c->dead_why);
}

/* Wait on c->cv until the deadline (c->mu held): APR_TIMEUP when it
 * passed. */
static apr_status_t cv_wait(smb2_conn_t *c, apr_time_t deadline)
{
    struct timespec ts;

    if (deadline == XPIPE__FOREVER) {
        pthread_cond_wait(&c->cv, &c->mu);
        return APR_SUCCESS;
    }
    if (deadline == XPIPE__NOW || apr_time_now() >= deadline)
        return APR_TIMEUP;
    /* apr_time_t counts microseconds of CLOCK_REALTIME, as the cv. */
    ts.tv_sec = (time_t)apr_time_sec(deadline);
    ts.tv_nsec = (long)apr_time_usec(deadline) * 1000;
    if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) == ETIMEDOUT)
        return apr_time_now() >= deadline ? APR_TIMEUP : APR_SUCCESS;
    return APR_SUCCESS;
}

static int woken(smb2_conn_t *c)
{
    return c->wake != NULL && xpipe__a32_get(&c->wake->signalled);
}

/* Why a call waiting on c must stop now (c->mu held): the connection's
 * end, an interrupt, or APR_SUCCESS to go on. */
static apr_status_t conn_stop(smb2_conn_t *c)
{
    if (c->dead != APR_SUCCESS)
        return conn_dead(c);
    return woken(c) ? XPIPE_ECANCELED : APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* The receiving thread. */

static smb2_slot_t *slot_for(smb2_conn_t *c, uint64_t mid)
{
    int i;

    for (i = 0; i < SMB2_SLOTS; i++)
        if ((c->slot[i].state == SLOT_SENT
             || c->slot[i].state == SLOT_ABANDONED)
            && c->slot[i].mid == mid)
            return &c->slot[i];
    return NULL;
}

static void slot_free(smb2_slot_t *s)
{
    free(s->m);
    s->m = NULL;
    s->len = 0;
    s->interim = 0;
    s->orphan = NULL;
    s->baton = NULL;
    s->state = SLOT_FREE;
}

/* Verify a reply's signature in place: 0 when it holds. */
int xpipe__smb2_verify(const smb2_keys_t *k, uint8_t *m, size_t len)
{
    uint8_t got[16], want[16];
    smb2_iov_t iov = { m, len };
    int ok;

    memcpy(got, m + SMB2_SIG_OFF, 16);
    memset(m + SMB2_SIG_OFF, 0, 16);
    ok = xpipe__smb2_sign(k, &iov, 1, want) == 0
         && CRYPTO_memcmp(got, want, 16) == 0;
    memcpy(m + SMB2_SIG_OFF, got, 16);
    return ok ? 0 : -1;
}

/* Take one frame off the wire into *m (malloc'd), *len its length: 0,
 * or -1 with the connection killed. */
static int rx_frame(smb2_conn_t *c, uint8_t **m, size_t *len)
{
    uint8_t nb[4];

    if (xpipe__smb2_rx_take(c, nb, 4) != 0) {
        xpipe__smb2_conn_kill(c, XPIPE_ERESET,
                              "the SMB server closed the connection");
        return -1;
    }
    *len = (size_t)nb[1] << 16 | (size_t)nb[2] << 8 | nb[3];
    if (nb[0] != 0 || *len < SMB2_HDR_LEN) {
        xpipe__smb2_conn_kill(
            c, XPIPE_ERESET,
            "the SMB server sent a malformed frame (length %zu)", *len);
        return -1;
    }
    if ((*m = malloc(*len)) == NULL) {
        xpipe__smb2_conn_kill(c, XPIPE_ERESET,
                              "out of memory for a %zu-byte reply", *len);
        return -1;
    }
    if (xpipe__smb2_rx_take(c, *m, *len) != 0) {
        free(*m);
        xpipe__smb2_conn_kill(
            c, XPIPE_ERESET,
            "the SMB server closed the connection in a message");
        return -1;
    }
    return 0;
}

/* A transform's message decrypted in place of it (*m, *len replaced):
 * 0, or -1 with *m freed and the connection killed. */
static int rx_decrypt(smb2_conn_t *c, int encrypting, uint8_t **m, size_t *len)
{
    smb2_transform_t t;
    uint8_t *plain = NULL;

    if (!encrypting || xpipe__smb2_transform_parse(*m, *len, &t) != 0
        || t.session_id != c->session_id || (plain = malloc(t.size)) == NULL) {
        free(*m);
        xpipe__smb2_conn_kill(c, XPIPE_ERESET,
                              "the SMB server sent a transform this session "
                              "cannot take");
        return -1;
    }
    if (xpipe__smb2_decrypt(&c->keys, *m, t.payload, t.size, plain) != 0) {
        free(plain);
        free(*m);
        xpipe__smb2_conn_kill(c, XPIPE_ERESET,
                              "a reply from the SMB server failed to decrypt "
                              "(altered, or the wrong key)");
        return -1;
    }
    free(*m);
    *m = plain;
    *len = t.size;
    return 0;
}

/* Is the reply (header h) to be believed? Every reply of the session is
 * signed (or encrypted), except an interim STATUS_PENDING ([MS-SMB2]
 * 3.3.4.2) and the session setup replies, which the handshake checks
 * itself; on an encrypted session none comes in clear. NULL, or why
 * not. */
static const char *rx_untrusted(smb2_conn_t *c, const smb2_hdr_t *h, uint8_t *m,
                                size_t len, int signing, int encrypting,
                                int encrypted)
{
    int interim =
        h->status == NT_STATUS_PENDING && (h->flags & SMB2_FLAGS_ASYNC_COMMAND);

    if (signing && !encrypted && h->session_id != 0
        && h->command != SMB2_SESSION_SETUP && !interim) {
        if (!(h->flags & SMB2_FLAGS_SIGNED))
            return "a reply from the SMB server had no signature";
        if (xpipe__smb2_verify(&c->keys, m, len) != 0)
            return "a reply from the SMB server had a bad signature";
    }
    if (encrypting && !encrypted && h->command != SMB2_SESSION_SETUP
        && h->status != NT_STATUS_PENDING)
        return "the SMB server answered in clear on an encrypted session";
    return NULL;
}

/* Hand the reply (m, len, header h; ours to give) to the request that
 * waits for it (c->mu held): 0, or -1 when no request was sent under
 * its message id (m freed). */
static int rx_deliver(smb2_conn_t *c, uint8_t *m, size_t len,
                      const smb2_hdr_t *h)
{
    smb2_slot_t *s;

    c->credits += h->credits;
    s = slot_for(c, h->mid);
    if (s == NULL || h->command != s->command) {
        free(m);
        return -1;
    }
    if (h->status == NT_STATUS_PENDING
        && (h->flags & SMB2_FLAGS_ASYNC_COMMAND)) {
        s->interim = 1;
        s->async_id = h->async_id;
        free(m);
        return 0;
    }
    s->m = m;
    s->len = len;
    s->h = *h;
    if (s->state == SLOT_ABANDONED) {
        if (s->orphan != NULL)
            s->orphan(c, s, s->baton);
        slot_free(s);
    }
    else
        s->state = SLOT_DONE;
    return 0;
}

/* Take one message off the wire: 0, or -1 with the connection killed. */
static int rx_one(smb2_conn_t *c)
{
    uint8_t *m;
    size_t len;
    smb2_hdr_t h;
    const char *why;
    int encrypted = 0, signing, encrypting, rc;

    if (rx_frame(c, &m, &len) != 0)
        return -1;
    pthread_mutex_lock(&c->mu);
    signing = c->signing;
    encrypting = c->encrypting;
    pthread_mutex_unlock(&c->mu);
    if (xpipe__smb2_is_transform(m, len)) {
        if (rx_decrypt(c, encrypting, &m, &len) != 0)
            return -1;
        encrypted = 1;
    }
    if (xpipe__smb2_hdr_parse(m, len, &h) != 0 || h.next != 0) {
        free(m);
        xpipe__smb2_conn_kill(
            c, XPIPE_ERESET,
            "the SMB server sent a malformed or compounded reply");
        return -1;
    }
    if (h.mid == UINT64_MAX && h.command == SMB2_OPLOCK_BREAK) {
        free(m); /* a break notification: pipes hold no oplocks */
        return 0;
    }
    why = rx_untrusted(c, &h, m, len, signing, encrypting, encrypted);
    if (why != NULL) {
        free(m);
        xpipe__smb2_conn_kill(c, XPIPE_ERESET, "%s", why);
        return -1;
    }
    pthread_mutex_lock(&c->mu);
    rc = rx_deliver(c, m, len, &h);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (rc != 0)
        xpipe__smb2_conn_kill(c, XPIPE_ERESET,
                              "the SMB server answered a request never sent "
                              "(message %llu)",
                              (unsigned long long)h.mid);
    return rc;
}

static void *rx_thread(void *arg)
{
    smb2_conn_t *c = arg;

    c->rxbuf = malloc(SMB2_RXBUF);
    if (c->rxbuf == NULL) {
        xpipe__smb2_conn_kill(c, XPIPE_ERESET, "out of memory for replies");
        return NULL;
    }
    while (rx_one(c) == 0)
        ;
    free(c->rxbuf);
    c->rxbuf = NULL;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Requests. */

/* Put a request on the wire (c->send_mu held): hdr is its frame header
 * room and SMB2 header, body and data follow. Signed, or encrypted in a
 * transform, as the session says; fed to the preauth hash while the
 * handshake keeps one. */
static apr_status_t emit(smb2_conn_t *c, uint8_t *hdr, uint16_t command,
                         const uint8_t *body, size_t body_len, const void *data,
                         size_t data_len, apr_time_t deadline)
{
    smb2_iov_t parts[3] = { { hdr + 4, SMB2_HDR_LEN },
                            { body, body_len },
                            { data, data_len } };
    size_t total = SMB2_HDR_LEN + body_len + data_len;
    struct iovec iov[3];
    uint8_t *tf = NULL;
    apr_status_t rv;
    int n;

    if (total > SMB2_FRAME_MAX - SMB2_TRANSFORM_LEN)
        return xpipe__fail(XPIPE_EMSGSIZE,
                           "an SMB2 request of %" APR_SIZE_T_FMT " bytes "
                           "does not fit a frame",
                           (apr_size_t)total);
    if (c->encrypting) {
        tf = malloc(4 + SMB2_TRANSFORM_LEN + total);
        if (tf == NULL)
            return APR_ENOMEM;
        xpipe__smb2_transform_build(tf + 4, (uint32_t)total, c->session_id);
        if (xpipe__smb2_encrypt(&c->keys, tf + 4, parts, 3,
                                tf + 4 + SMB2_TRANSFORM_LEN)
            != 0) {
            free(tf);
            return xpipe__fail(APR_EGENERAL, "encryption failed (libcrypto)");
        }
        total += SMB2_TRANSFORM_LEN;
        iov[0].iov_base = tf;
        iov[0].iov_len = 4 + total;
        n = 1;
    }
    else {
        if (c->preauth_req != NULL
            && xpipe__smb2_preauth_update(c->preauth_req, parts, 3) != 0)
            return xpipe__fail(APR_EGENERAL, "SHA-512 failed (libcrypto)");
        /* A first SESSION_SETUP has no key to sign with; one that
         * re-authenticates the session is signed with its key. */
        if (c->signing && (command != SMB2_SESSION_SETUP || c->reauthing)) {
            smb2_put32(hdr + 4 + 16,
                       smb2_get32(hdr + 4 + 16) | SMB2_FLAGS_SIGNED);
            if (xpipe__smb2_sign(&c->keys, parts, 3, hdr + 4 + SMB2_SIG_OFF)
                != 0)
                return xpipe__fail(APR_EGENERAL, "signing failed (libcrypto)");
        }
        iov[0].iov_base = hdr;
        iov[0].iov_len = 4 + SMB2_HDR_LEN;
        iov[1].iov_base = (void *)body;
        iov[1].iov_len = body_len;
        iov[2].iov_base = (void *)data;
        iov[2].iov_len = data_len;
        n = data_len ? 3 : 2;
    }
    iov[0].iov_base = tf ? tf : hdr;
    ((uint8_t *)iov[0].iov_base)[0] = 0;
    ((uint8_t *)iov[0].iov_base)[1] = (uint8_t)(total >> 16);
    ((uint8_t *)iov[0].iov_base)[2] = (uint8_t)(total >> 8);
    ((uint8_t *)iov[0].iov_base)[3] = (uint8_t)total;
    rv = xpipe__smb2_send_all(c, iov, n, deadline);
    free(tf);
    return rv;
}

apr_status_t xpipe__smb2_send(smb2_conn_t *c, uint16_t command,
                              const uint8_t *body, size_t body_len,
                              const void *data, size_t data_len, size_t expect,
                              apr_time_t deadline, int *slot)
{
    size_t payload = data_len > expect ? data_len : expect;
    uint16_t need = c->dialect == SMB2_DIALECT_202 ? 1 : smb2_charge(payload);
    uint8_t hdr[4 + SMB2_HDR_LEN];
    smb2_hdr_t h;
    apr_status_t rv = APR_SUCCESS;
    int i, s = -1;

    *slot = -1;
    pthread_mutex_lock(&c->send_mu);
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if ((rv = conn_stop(c)) != APR_SUCCESS)
            break;
        for (i = 0; i < SMB2_SLOTS && s < 0; i++)
            if (c->slot[i].state == SLOT_FREE)
                s = i;
        if (s >= 0 && c->credits >= need)
            break;
        s = -1;
        if (cv_wait(c, deadline) == APR_TIMEUP) {
            rv = xpipe__fail(APR_TIMEUP, "the SMB server granted no credit "
                                         "for a request before the deadline");
            break;
        }
    }
    if (rv != APR_SUCCESS) {
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->send_mu);
        return rv;
    }
    memset(&h, 0, sizeof(h));
    h.command = command;
    h.charge = c->dialect == SMB2_DIALECT_202 ? 0 : need;
    h.mid = c->next_mid;
    c->next_mid += need;
    c->credits -= need;
    h.credits = (uint16_t)(need
                           + (c->credits < SMB2_CREDITS_WANT
                                  ? SMB2_CREDITS_WANT - c->credits
                                  : 0));
    h.tree_id = c->tree_id;
    h.session_id = c->session_id;
    c->slot[s].state = SLOT_SENT;
    c->slot[s].command = command;
    c->slot[s].mid = h.mid;
    c->slot[s].gen = c->auth_gen;
    pthread_mutex_unlock(&c->mu);

    xpipe__smb2_hdr_build(hdr + 4, &h);
    rv = emit(c, hdr, command, body, body_len, data, data_len, deadline);
    if (rv == APR_SUCCESS) {
        pthread_mutex_unlock(&c->send_mu);
        *slot = s;
        return APR_SUCCESS;
    }
    pthread_mutex_lock(&c->mu);
    if (c->dead == APR_SUCCESS) {
        /* Nothing left: the message id and the credits are unused. */
        c->next_mid -= need;
        c->credits += need;
    }
    slot_free(&c->slot[s]);
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_unlock(&c->send_mu);
    return rv;
}

apr_status_t xpipe__smb2_wait(smb2_conn_t *c, int s, apr_time_t deadline)
{
    apr_status_t rv = APR_SUCCESS;

    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (c->slot[s].state == SLOT_DONE)
            break;
        if ((rv = conn_stop(c)) != APR_SUCCESS)
            break;
        if (cv_wait(c, deadline) == APR_TIMEUP) {
            rv = APR_TIMEUP;
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rv;
}

void xpipe__smb2_release(smb2_conn_t *c, int s,
                         void (*orphan)(smb2_conn_t *, smb2_slot_t *, void *),
                         void *baton)
{
    pthread_mutex_lock(&c->mu);
    if (c->slot[s].state == SLOT_DONE || c->dead != APR_SUCCESS)
        slot_free(&c->slot[s]);
    else {
        c->slot[s].state = SLOT_ABANDONED;
        c->slot[s].orphan = orphan;
        c->slot[s].baton = baton;
    }
    pthread_cond_broadcast(&c->cv); /* a slot may be free now */
    pthread_mutex_unlock(&c->mu);
}

apr_status_t xpipe__smb2_call(smb2_conn_t *c, uint16_t command,
                              const uint8_t *body, size_t body_len,
                              const void *data, size_t data_len, size_t expect,
                              apr_time_t deadline, int *slot)
{
    apr_status_t rv = xpipe__smb2_send(c, command, body, body_len, data,
                                       data_len, expect, deadline, slot);

    if (rv != APR_SUCCESS)
        return rv;
    rv = xpipe__smb2_wait(c, *slot, deadline);
    if (rv != APR_SUCCESS) {
        xpipe__smb2_release(c, *slot, NULL, NULL);
        *slot = -1;
    }
    return rv;
}

void xpipe__smb2_cancel(smb2_conn_t *c, int s)
{
    uint8_t hdr[4 + SMB2_HDR_LEN], body[4];
    smb2_hdr_t h;
    int go;

    pthread_mutex_lock(&c->send_mu);
    pthread_mutex_lock(&c->mu);
    go = c->dead == APR_SUCCESS
         && (c->slot[s].state == SLOT_SENT
             || c->slot[s].state == SLOT_ABANDONED);
    memset(&h, 0, sizeof(h));
    h.command = SMB2_CANCEL;
    h.mid = c->slot[s].mid;
    h.session_id = c->session_id;
    h.tree_id = c->tree_id;
    if (c->slot[s].interim) {
        h.flags = SMB2_FLAGS_ASYNC_COMMAND;
        h.async_id = c->slot[s].async_id;
    }
    pthread_mutex_unlock(&c->mu);
    if (go) {
        xpipe__smb2_hdr_build(hdr + 4, &h);
        xpipe__smb2_simple_build(body);
        emit(c, hdr, SMB2_CANCEL, body, sizeof(body), NULL, 0,
             apr_time_now() + SMB2_BYE_TIME);
    }
    pthread_mutex_unlock(&c->send_mu);
}

/* ------------------------------------------------------------------ */
/* The connection made and ended. */

apr_status_t xpipe__smb2_conn_new(smb2_conn_t **cp, const char *host,
                                  const smb2_opts_t *o)
{
    smb2_conn_t *c = calloc(1, sizeof(*c));

    *cp = c;
    if (c == NULL)
        return APR_ENOMEM;
    c->fd = -1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    pthread_mutex_init(&c->send_mu, NULL);
    pthread_mutex_init(&c->reauth_mu, NULL);
    c->credits = 1;
    c->allow_guest = o->allow_guest;
    c->port = o->port ? o->port : 445;
    snprintf(c->host, sizeof(c->host), "%s", host);
    return APR_SUCCESS;
}

apr_status_t xpipe__smb2_conn_start(smb2_conn_t *c)
{
    if (pthread_create(&c->rx, NULL, rx_thread, c) != 0)
        return xpipe__fail(APR_ENOMEM, "no thread to receive from the SMB "
                                       "server");
    c->rx_started = 1;
    return APR_SUCCESS;
}

void xpipe__smb2_conn_free(smb2_conn_t *c)
{
    int i;

    if (c->fd >= 0)
        xpipe__smb2_conn_kill(c, XPIPE_ECLOSED, "the channel was closed");
    if (c->rx_started)
        pthread_join(c->rx, NULL);
    for (i = 0; i < SMB2_SLOTS; i++)
        free(c->slot[i].m);
    if (c->fd >= 0)
        close(c->fd);
    xpipe__smb2_keys_wipe(&c->keys);
    OPENSSL_cleanse(c->preauth, sizeof(c->preauth));
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->send_mu);
    pthread_mutex_destroy(&c->reauth_mu);
    xpipe__smb2_auth_destroy(c->auth);
    free(c);
}
