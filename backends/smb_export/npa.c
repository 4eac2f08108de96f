/* SPDX-License-Identifier: Apache-2.0 */
/* npa.c — parse smbd's named-pipe handshake, build the answer, and
 * find the np directory in smb.conf (see npa.h). Every read is bounds
 * checked against the request; the first failure says where and why and
 * stops the parse. No recursion, no allocation beyond the strings kept.
 */
#include "npa.h"

#include <apr_strings.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Most SIDs in one token, and Unix groups, accepted (Windows caps a
 * token near 1,024 SIDs). */
#define NPA_MAX_SIDS 4096
#define NPA_MAX_GROUPS 65536
/* A SID has at most 15 sub-authorities. */
#define NPA_MAX_SUBAUTH 15

typedef struct npa_cur_t {
    const unsigned char *b;
    apr_size_t len; /* the whole request, length field included */
    apr_size_t off;
    int bad;
    char *why;
    apr_size_t whylen;
    apr_pool_t *pool;
} npa_cur_t;

static int npa_fail(npa_cur_t *c, const char *fmt, ...)
{
    va_list ap;

    if (!c->bad && c->whylen) {
        va_start(ap, fmt);
        vsnprintf(c->why, c->whylen, fmt, ap);
        va_end(ap);
    }
    c->bad = 1;
    return 0;
}

/* NDR aligns each scalar to its size, counted from the length field. */
static int npa_align(npa_cur_t *c, apr_size_t n)
{
    apr_size_t off = (c->off + n - 1) & ~(n - 1);

    if (c->bad)
        return 0;
    if (off > c->len)
        return npa_fail(c, "request ends at byte %lu, inside padding",
                        (unsigned long)c->len);
    c->off = off;
    return 1;
}

static int npa_need(npa_cur_t *c, apr_size_t n, const char *what)
{
    if (c->bad)
        return 0;
    if (n > c->len - c->off)
        return npa_fail(c,
                        "request ends at byte %lu: %s needs %lu bytes at "
                        "offset %lu",
                        (unsigned long)c->len, what, (unsigned long)n,
                        (unsigned long)c->off);
    return 1;
}

static apr_uint64_t npa_le(const unsigned char *p, int n)
{
    apr_uint64_t v = 0;

    while (n-- > 0)
        v = v << 8 | p[n];
    return v;
}

/* An aligned little-endian integer of n bytes (1, 2, 4 or 8), aligned to
 * align. */
static int npa_int(npa_cur_t *c, apr_uint64_t *v, int n, apr_size_t align,
                   const char *what)
{
    if (!npa_align(c, align) || !npa_need(c, (apr_size_t)n, what))
        return 0;
    *v = npa_le(c->b + c->off, n);
    c->off += (apr_size_t)n;
    return 1;
}

static int npa_u32(npa_cur_t *c, apr_uint32_t *v, const char *what)
{
    apr_uint64_t x = 0;
    int ok = npa_int(c, &x, 4, 4, what);

    *v = (apr_uint32_t)x;
    return ok;
}

static int npa_skip(npa_cur_t *c, apr_size_t n, apr_size_t align,
                    const char *what)
{
    if (!npa_align(c, align) || !npa_need(c, n, what))
        return 0;
    c->off += n;
    return 1;
}

/* A unique pointer's referent id: nonzero means the data follows later. */
static int npa_ptr(npa_cur_t *c, int *present, const char *what)
{
    apr_uint32_t v = 0;
    int ok = npa_u32(c, &v, what);

    *present = v != 0;
    return ok;
}

/* A conformant varying string of bytes: max count, offset, actual count
 * (its NUL included), the bytes. *out NULL when the pointer was NULL. */
static int npa_string(npa_cur_t *c, int present, const char **out,
                      const char *what)
{
    apr_uint32_t max = 0, ofs = 0, n = 0;
    const unsigned char *s;

    *out = NULL;
    if (!present)
        return !c->bad;
    if (!npa_u32(c, &max, what) || !npa_u32(c, &ofs, what)
        || !npa_u32(c, &n, what))
        return 0;
    if (ofs != 0 || n > max)
        return npa_fail(c,
                        "%s: bad string counts (max %lu, offset %lu, "
                        "length %lu)",
                        what, (unsigned long)max, (unsigned long)ofs,
                        (unsigned long)n);
    if (!npa_need(c, n, what))
        return 0;
    s = c->b + c->off;
    if (n == 0 || s[n - 1] != '\0' || memchr(s, '\0', n - 1) != NULL)
        return npa_fail(c, "%s: string not terminated where its length says",
                        what);
    *out = apr_pstrmemdup(c->pool, (const char *)s, n - 1);
    c->off += n;
    return 1;
}

/* A length-prefixed blob, skipped. */
static int npa_blob(npa_cur_t *c, const char *what)
{
    apr_uint32_t n = 0;

    return npa_u32(c, &n, what) && npa_skip(c, n, 1, what);
}

/* One SID: revision, count, 48-bit big-endian authority, sub-authorities.
 * Rendered "S-1-5-21-..." when out is not NULL. */
static int npa_sid(npa_cur_t *c, const char **out, const char *what)
{
    const unsigned char *p;
    apr_uint64_t auth = 0, sub;
    char buf[16 + 11 * NPA_MAX_SUBAUTH + 32];
    int i, n, at;

    if (!npa_align(c, 4) || !npa_need(c, 8, what))
        return 0;
    p = c->b + c->off;
    n = p[1];
    if (n > NPA_MAX_SUBAUTH)
        return npa_fail(c, "%s: a SID with %d sub-authorities (at most %d)",
                        what, n, NPA_MAX_SUBAUTH);
    if (!npa_need(c, 8 + 4 * (apr_size_t)n, what))
        return 0;
    if (out) {
        for (i = 2; i < 8; i++)
            auth = auth << 8 | p[i];
        at = snprintf(buf, sizeof(buf),
                      auth >> 32 ? "S-%u-0x%012llx" : "S-%u-%llu", p[0],
                      (unsigned long long)auth);
        for (i = 0; i < n; i++) {
            sub = npa_le(p + 8 + 4 * i, 4);
            at += snprintf(buf + at, sizeof(buf) - (apr_size_t)at, "-%lu",
                           (unsigned long)sub);
        }
        *out = apr_pstrdup(c->pool, buf);
    }
    c->off += 8 + 4 * (apr_size_t)n;
    return 1;
}

/* A conformant array's count, given first, must match the count field. */
static int npa_conformant(npa_cur_t *c, apr_uint32_t *count, apr_uint32_t limit,
                          const char *what)
{
    apr_uint32_t max = 0;

    if (!npa_u32(c, &max, what) || !npa_u32(c, count, what))
        return 0;
    if (max != *count)
        return npa_fail(c, "%s: array of %lu announced as %lu", what,
                        (unsigned long)*count, (unsigned long)max);
    if (*count > limit)
        return npa_fail(c, "%s: %lu entries (at most %lu)", what,
                        (unsigned long)*count, (unsigned long)limit);
    return 1;
}

/* security_token: the SIDs (the user's first), privileges, rights. */
static int npa_token(npa_cur_t *c, xpipe__npa_info_t *info)
{
    apr_uint32_t i, n = 0;
    apr_uint64_t v;

    if (!npa_conformant(c, &n, NPA_MAX_SIDS, "security token"))
        return 0;
    for (i = 0; i < n; i++)
        if (!npa_sid(c, i == 0 ? &info->sid : NULL, "security token SID"))
            return 0;
    return npa_int(c, &v, 8, 8, "privilege mask")
           && npa_int(c, &v, 4, 4, "rights mask");
}

/* security_unix_token: uid, gid and groups, each 64-bit. */
static int npa_unix_token(npa_cur_t *c, xpipe__npa_info_t *info)
{
    apr_uint32_t max = 0, n = 0;
    apr_uint64_t uid = 0, gid = 0;

    if (!npa_u32(c, &max, "unix token") || !npa_int(c, &uid, 8, 8, "uid")
        || !npa_int(c, &gid, 8, 8, "gid") || !npa_u32(c, &n, "unix groups"))
        return 0;
    if (max != n || n > NPA_MAX_GROUPS)
        return npa_fail(c, "unix token: %lu groups announced as %lu",
                        (unsigned long)n, (unsigned long)max);
    if (!npa_skip(c, 8 * (apr_size_t)n, 8, "unix groups"))
        return 0;
    /* (uid_t)-1 and friends are not identities. */
    if (uid < 0x7fffffffu && gid < 0x7fffffffu) {
        info->have_unix = 1;
        info->uid = (long)uid;
        info->gid = (long)gid;
    }
    return 1;
}

/* auth_user_info: ten string pointers, times and counters; then the
 * strings. Only the account and domain names are kept. */
static int npa_user_info(npa_cur_t *c, xpipe__npa_info_t *info)
{
    static const char *const names[10] = { "account name", "principal name",
                                           "domain name",  "DNS domain name",
                                           "full name",    "logon script",
                                           "profile path", "home directory",
                                           "home drive",   "logon server" };
    int have[10], i;
    const char *s;
    apr_uint64_t v;

    for (i = 0; i < 10; i++) {
        if (!npa_ptr(c, &have[i], names[i]))
            return 0;
        if (i == 1 && !npa_int(c, &v, 1, 1, "principal constructed"))
            return 0;
    }
    for (i = 0; i < 6; i++) /* NTTIMEs: two aligned u32 */
        if (!npa_int(c, &v, 8, 4, "user info times"))
            return 0;
    if (!npa_int(c, &v, 2, 2, "logon count")
        || !npa_int(c, &v, 2, 2, "bad password count")
        || !npa_int(c, &v, 4, 4, "account flags")
        || !npa_int(c, &v, 1, 1, "authenticated"))
        return 0;
    for (i = 0; i < 10; i++) {
        if (!npa_string(c, have[i], &s, names[i]))
            return 0;
        if (i == 0)
            info->account = s;
        else if (i == 2)
            info->domain = s;
    }
    return 1;
}

/* auth_session_info and what it points to. */
static int npa_session(npa_cur_t *c, xpipe__npa_info_t *info)
{
    int tok, utok, uinfo, unix_info, ignored;
    const char *sanitized;
    apr_uint64_t v;

    if (!npa_ptr(c, &tok, "security token") || !npa_ptr(c, &utok, "unix token")
        || !npa_ptr(c, &uinfo, "user info")
        || !npa_ptr(c, &unix_info, "unix info")
        || !npa_ptr(c, &ignored, "torture info") /* always sent NULL */
        || !npa_blob(c, "session key")
        || !npa_ptr(c, &ignored, "credentials") /* always sent NULL */
        || !npa_skip(c, 16, 4, "session GUID")
        || !npa_int(c, &v, 2, 2, "ticket type"))
        return 0;
    info->have_session = 1;
    if (tok && !(npa_align(c, 4) && npa_token(c, info)))
        return 0;
    if (utok && !npa_unix_token(c, info))
        return 0;
    if (uinfo && !npa_user_info(c, info))
        return 0;
    if (unix_info) {
        if (!npa_ptr(c, &uinfo, "unix name")
            || !npa_ptr(c, &utok, "sanitized name")
            || !npa_string(c, uinfo, &info->unix_name, "unix name")
            || !npa_string(c, utok, &sanitized, "sanitized name"))
            return 0;
    }
    return 1;
}

apr_size_t xpipe__npa_length(const unsigned char hdr[4])
{
    return (apr_size_t)hdr[0] << 24 | (apr_size_t)hdr[1] << 16
           | (apr_size_t)hdr[2] << 8 | hdr[3];
}

apr_status_t xpipe__npa_parse(xpipe__npa_info_t *info, const unsigned char *req,
                              apr_size_t len, char *why, apr_size_t whylen,
                              apr_pool_t *pool)
{
    npa_cur_t c = { req, len + 4, 4, 0, why, whylen, pool };
    apr_uint32_t level = 0, sw = 0;
    int cname, caddr, sname, saddr, sess, si;
    apr_uint64_t v = 0;

    memset(info, 0, sizeof(*info));
    if (whylen)
        why[0] = '\0';
    if (len > XPIPE__NPA_MAX || xpipe__npa_length(req) != len) {
        npa_fail(&c, "request length %lu (at most %lu)",
                 (unsigned long)xpipe__npa_length(req),
                 (unsigned long)XPIPE__NPA_MAX);
        return APR_EGENERAL;
    }
    if (!npa_need(&c, 4, "magic"))
        return APR_EGENERAL;
    if (memcmp(req + 4, "NPAM", 4) != 0) {
        npa_fail(&c, "not a named-pipe handshake (no \"NPAM\" magic)");
        return APR_EGENERAL;
    }
    c.off = 8;
    if (!npa_u32(&c, &level, "level") || !npa_u32(&c, &sw, "union level"))
        return APR_EGENERAL;
    if (level != XPIPE__NPA_LEVEL || sw != level) {
        npa_fail(&c,
                 "handshake level %lu (union %lu); only level %d (as "
                 "Samba 4.17 sends) is understood",
                 (unsigned long)level, (unsigned long)sw, XPIPE__NPA_LEVEL);
        return APR_EGENERAL;
    }
    if (!npa_int(&c, &v, 1, 4, "transport")
        || !npa_ptr(&c, &cname, "client name")
        || !npa_ptr(&c, &caddr, "client address")
        || !npa_int(&c, &v, 2, 2, "client port"))
        return APR_EGENERAL;
    info->client_port = (unsigned int)v;
    if (!npa_ptr(&c, &sname, "server name")
        || !npa_ptr(&c, &saddr, "server address")
        || !npa_int(&c, &v, 2, 2, "server port"))
        return APR_EGENERAL;
    info->server_port = (unsigned int)v;
    if (!npa_ptr(&c, &sess, "session info")
        || !npa_string(&c, cname, &info->client_name, "client name")
        || !npa_string(&c, caddr, &info->client_addr, "client address")
        || !npa_string(&c, sname, &info->server_name, "server name")
        || !npa_string(&c, saddr, &info->server_addr, "server address"))
        return APR_EGENERAL;
    if (sess) {
        /* auth_session_info_transport: the session, exported creds. */
        if (!npa_ptr(&c, &si, "session")
            || !npa_blob(&c, "exported credentials"))
            return APR_EGENERAL;
        if (si && !npa_session(&c, info))
            return APR_EGENERAL;
    }
    if (c.off != c.len) {
        npa_fail(&c, "%lu bytes after the request's end",
                 (unsigned long)(c.len - c.off));
        return APR_EGENERAL;
    }
    return APR_SUCCESS;
}

void xpipe__npa_reply(unsigned char out[XPIPE__NPA_REPLY_LEN], int message_mode)
{
    /* FILE_TYPE_BYTE_MODE_PIPE 1 / FILE_TYPE_MESSAGE_MODE_PIPE 2; the
     * device state's low byte is the instance count (unlimited), 0x0100
     * message read mode, 0x0400 message type. */
    unsigned int type = message_mode ? 2 : 1;
    unsigned int state = message_mode ? 0x05ff : 0x00ff;
    const apr_uint64_t alloc = 4096;
    int i;

    memset(out, 0, XPIPE__NPA_REPLY_LEN);
    out[3] = XPIPE__NPA_REPLY_LEN - 4; /* big-endian length */
    memcpy(out + 4, "NPAM", 4);
    out[8] = XPIPE__NPA_LEVEL;  /* level */
    out[12] = XPIPE__NPA_LEVEL; /* the union's level, repeated */
    out[16] = (unsigned char)type;
    out[18] = (unsigned char)(state & 0xff);
    out[19] = (unsigned char)(state >> 8);
    /* out[20..23]: padding to the 8-aligned allocation size */
    for (i = 0; i < 8; i++)
        out[24 + i] = (unsigned char)(alloc >> (8 * i));
    /* out[32..35]: status 0, NT_STATUS_OK */
}

/* smb.conf: "[section]" lines, "key = value" lines, ';' or '#' comments,
 * a trailing backslash continues a line. Keys compare ignoring case,
 * spaces and underscores. */
static int smbconf_key_is(const char *k, apr_size_t n, const char *want)
{
    apr_size_t i;

    for (i = 0; i < n; i++) {
        char ch = k[i];
        if (ch == ' ' || ch == '\t' || ch == '_')
            continue;
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (*want != ch)
            return 0;
        want++;
    }
    return *want == '\0';
}

const char *xpipe__smbconf_ncalrpc_dir(const char *text, apr_size_t len,
                                       apr_pool_t *pool)
{
    const char *end = text + len, *found = NULL;
    int global = 1; /* lines before any section header are global */

    while (text < end) {
        const char *eol = memchr(text, '\n', (apr_size_t)(end - text));
        char *line, *p, *eq, *q;
        apr_size_t n;

        if (eol == NULL)
            eol = end;
        /* Join continuation lines. */
        line = apr_pstrmemdup(pool, text, (apr_size_t)(eol - text));
        text = eol < end ? eol + 1 : end;
        while ((n = strlen(line)) > 0
               && (line[n - 1] == '\\' || line[n - 1] == '\r')) {
            if (line[n - 1] == '\r') {
                line[n - 1] = '\0';
                continue;
            }
            line[n - 1] = '\0';
            if (text >= end)
                break;
            eol = memchr(text, '\n', (apr_size_t)(end - text));
            if (eol == NULL)
                eol = end;
            line = apr_pstrcat(
                pool, line,
                apr_pstrmemdup(pool, text, (apr_size_t)(eol - text)), NULL);
            text = eol < end ? eol + 1 : end;
        }
        for (p = line; *p == ' ' || *p == '\t'; p++)
            ;
        if (*p == ';' || *p == '#' || *p == '\0')
            continue;
        if (*p == '[') {
            q = strchr(p, ']');
            global =
                q && smbconf_key_is(p + 1, (apr_size_t)(q - p - 1), "global");
            continue;
        }
        eq = strchr(p, '=');
        if (!global || eq == NULL
            || !smbconf_key_is(p, (apr_size_t)(eq - p), "ncalrpcdir"))
            continue;
        for (q = eq + 1; *q == ' ' || *q == '\t'; q++)
            ;
        n = strlen(q);
        while (n > 0 && (q[n - 1] == ' ' || q[n - 1] == '\t'))
            n--;
        found = n ? apr_pstrmemdup(pool, q, n) : NULL;
    }
    return found;
}

void xpipe__npa_peer(const xpipe__npa_info_t *i, xpipe_peer_t *peer)
{
    peer->have = XPIPE_PEER_REMOTE;
    peer->account = i->account;
    peer->domain = i->domain;
    peer->host = i->client_name;
    peer->address = i->client_addr;
    peer->port = i->client_port;
    if (i->sid) {
        peer->have |= XPIPE_PEER_SID;
        peer->sid = i->sid;
    }
    if (i->have_unix) {
        peer->have |= XPIPE_PEER_UID | XPIPE_PEER_GID;
        peer->uid = i->uid;
        peer->gid = i->gid;
    }
}
