/* SPDX-License-Identifier: Apache-2.0 */
/* auth.c — SPNEGO through GSSAPI (MIT krb5's mechglue). NTLM comes from
 * the gss-ntlmssp mechanism, loaded by the mechglue at run time from
 * /etc/gss/mech.d: xpipe never links it. Only MUTUAL and INTEG are
 * asked for: CONF would make gss-ntlmssp require sealing, which SMB does
 * not use.
 */
#include "auth.h"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* gss-ntlmssp's credential-store key for a password (its
 * gssapi_ntlmssp.h, GSS_NTLMSSP_CS_PASSWORD; no other mechanism knows
 * it). */
#define SMB2_NTLMSSP_CS_PASSWORD "ntlmssp_password"

static gss_OID_desc oid_spnego = { 6, (void *)"\x2b\x06\x01\x05\x05\x02" };
static gss_OID_desc oid_ntlmssp = {
    10, (void *)"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a"
};
static gss_OID_desc oid_krb5 = {
    9, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x02"
};

struct smb2_auth_t {
    gss_ctx_id_t ctx;
    gss_cred_id_t cred;
    gss_name_t target;
    int complete;
};

/* "what: major text; minor text" into err. */
static void gss_why(char *err, size_t errlen, const char *what, OM_uint32 maj,
                    OM_uint32 min, gss_OID mech)
{
    OM_uint32 m2, more = 0;
    gss_buffer_desc b;
    size_t at;

    at = (size_t)snprintf(err, errlen, "%s", what);
    do {
        if (GSS_ERROR(gss_display_status(&m2, maj, GSS_C_GSS_CODE, GSS_C_NO_OID,
                                         &more, &b)))
            break;
        if (at < errlen)
            at += (size_t)snprintf(err + at, errlen - at, ": %.*s",
                                   (int)b.length, (char *)b.value);
        gss_release_buffer(&m2, &b);
    } while (more != 0);
    if (min == 0)
        return;
    more = 0;
    do {
        if (GSS_ERROR(
                gss_display_status(&m2, min, GSS_C_MECH_CODE, mech, &more, &b)))
            break;
        if (at < errlen)
            at += (size_t)snprintf(err + at, errlen - at, "; %.*s",
                                   (int)b.length, (char *)b.value);
        gss_release_buffer(&m2, &b);
    } while (more != 0);
}

/* A password credential for domain\\user through SPNEGO, negotiating
 * NTLM only, into a->cred: 0, or -1 with err. The password goes in
 * gss-ntlmssp's own credential-store key: given to
 * gss_acquire_cred_with_password, SPNEGO would hand it to Kerberos too,
 * which asks the default realm's KDC for a ticket at once (an AS-REQ for
 * this user to whatever KDC the machine's krb5.conf names; seconds, or
 * the deadline, where it does not answer). Kerberos takes its tickets
 * from the ccache instead, when no user is given. */
static int auth_password_cred(smb2_auth_t *a, const char *user,
                              const char *domain, const char *password,
                              char *err, size_t errlen)
{
    OM_uint32 maj, min;
    gss_name_t name = GSS_C_NO_NAME;
    gss_buffer_desc ub;
    gss_key_value_element_desc cs_el;
    gss_key_value_set_desc cs;
    gss_OID_set_desc mechs = { 1, &oid_spnego };
    gss_OID_set_desc neg = { 1, &oid_ntlmssp };
    size_t ul = strlen(user) + (domain ? strlen(domain) + 1 : 0) + 1;
    char *un = malloc(ul);

    if (un == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (domain != NULL)
        snprintf(un, ul, "%s\\%s", domain, user);
    else
        snprintf(un, ul, "%s", user);
    ub.value = un;
    ub.length = strlen(un);
    maj = gss_import_name(&min, &ub, GSS_C_NT_USER_NAME, &name);
    free(un);
    if (GSS_ERROR(maj)) {
        gss_why(err, errlen, "the user name", maj, min, GSS_C_NO_OID);
        return -1;
    }
    cs_el.key = SMB2_NTLMSSP_CS_PASSWORD;
    cs_el.value = password ? password : "";
    cs.count = 1;
    cs.elements = &cs_el;
    maj = gss_acquire_cred_from(&min, name, GSS_C_INDEFINITE, &mechs,
                                GSS_C_INITIATE, &cs, &a->cred, NULL, NULL);
    gss_release_name(&min, &name);
    if (GSS_ERROR(maj)) {
        gss_why(err, errlen,
                "no NTLM credential from the user and password (is "
                "gss-ntlmssp installed?)",
                maj, min, &oid_spnego);
        return -1;
    }
    maj = gss_set_neg_mechs(&min, a->cred, &neg);
    if (GSS_ERROR(maj)) {
        gss_why(err, errlen, "SPNEGO's mechanisms", maj, min, &oid_spnego);
        return -1;
    }
    return 0;
}

int xpipe__smb2_auth_create(smb2_auth_t **ap, const char *host,
                            const char *user, const char *domain,
                            const char *password, char *err, size_t errlen)
{
    OM_uint32 maj, min;
    smb2_auth_t *a = calloc(1, sizeof(*a));
    char *spn;
    gss_buffer_desc nb;

    *ap = NULL;
    if (a == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->ctx = GSS_C_NO_CONTEXT;
    a->cred = GSS_C_NO_CREDENTIAL;
    a->target = GSS_C_NO_NAME;
    spn = malloc(strlen(host) + 6);
    if (spn == NULL) {
        snprintf(err, errlen, "out of memory");
        xpipe__smb2_auth_destroy(a);
        return -1;
    }
    sprintf(spn, "cifs@%s", host);
    nb.value = spn;
    nb.length = strlen(spn);
    maj = gss_import_name(&min, &nb, GSS_C_NT_HOSTBASED_SERVICE, &a->target);
    free(spn);
    if (GSS_ERROR(maj))
        gss_why(err, errlen, "the server's name", maj, min, GSS_C_NO_OID);
    if (GSS_ERROR(maj)
        || (user != NULL
            && auth_password_cred(a, user, domain, password, err, errlen)
                   != 0)) {
        xpipe__smb2_auth_destroy(a);
        return -1;
    }
    *ap = a;
    return 0;
}

int xpipe__smb2_auth_step(smb2_auth_t *a, const uint8_t *in, size_t in_len,
                          uint8_t **out, size_t *out_len, char *err,
                          size_t errlen)
{
    OM_uint32 maj, min, flags = 0;
    gss_buffer_desc ib, ob = GSS_C_EMPTY_BUFFER;

    *out = NULL;
    *out_len = 0;
    ib.value = (void *)in;
    ib.length = in_len;
    maj = gss_init_sec_context(
        &min, a->cred, &a->ctx, a->target, &oid_spnego,
        GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG, 0, GSS_C_NO_CHANNEL_BINDINGS,
        in_len ? &ib : GSS_C_NO_BUFFER, NULL, &ob, &flags, NULL);
    if (GSS_ERROR(maj)) {
        gss_why(err, errlen, "GSSAPI (SPNEGO)", maj, min, &oid_spnego);
        gss_release_buffer(&min, &ob);
        return -1;
    }
    if (ob.length > 0) {
        *out = malloc(ob.length);
        if (*out == NULL) {
            gss_release_buffer(&min, &ob);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        memcpy(*out, ob.value, ob.length);
        *out_len = ob.length;
    }
    gss_release_buffer(&min, &ob);
    a->complete = maj == GSS_S_COMPLETE;
    return a->complete;
}

void xpipe__smb2_auth_free_token(uint8_t *out, size_t out_len)
{
    (void)out_len;
    free(out);
}

int xpipe__smb2_auth_session_key(smb2_auth_t *a, uint8_t key[32])
{
    OM_uint32 maj, min;
    gss_buffer_set_t set = GSS_C_NO_BUFFER_SET;
    size_t n;

    if (!a->complete)
        return -1;
    maj = gss_inquire_sec_context_by_oid(&min, a->ctx,
                                         GSS_C_INQ_SSPI_SESSION_KEY, &set);
    if (GSS_ERROR(maj) || set == GSS_C_NO_BUFFER_SET || set->count < 1) {
        if (set != GSS_C_NO_BUFFER_SET)
            gss_release_buffer_set(&min, &set);
        return -1;
    }
    n = set->elements[0].length;
    if (n > 32)
        n = 32;
    memset(key, 0, 32);
    memcpy(key, set->elements[0].value, n);
    /* The mechanism's copy is wiped with the context; ours by the
     * caller. */
    gss_release_buffer_set(&min, &set);
    return (int)n;
}

void xpipe__smb2_auth_names(smb2_auth_t *a, char *user, size_t userlen,
                            char *mech, size_t mechlen)
{
    OM_uint32 min;
    gss_name_t src = GSS_C_NO_NAME;
    gss_OID m = GSS_C_NO_OID;
    gss_buffer_desc nb = GSS_C_EMPTY_BUFFER;

    user[0] = mech[0] = '\0';
    if (GSS_ERROR(gss_inquire_context(&min, a->ctx, &src, NULL, NULL, &m, NULL,
                                      NULL, NULL)))
        return;
    if (!GSS_ERROR(gss_display_name(&min, src, &nb, NULL)))
        snprintf(user, userlen, "%.*s", (int)nb.length, (char *)nb.value);
    gss_release_buffer(&min, &nb);
    gss_release_name(&min, &src);
    if (m != GSS_C_NO_OID && m->length == oid_krb5.length
        && memcmp(m->elements, oid_krb5.elements, m->length) == 0)
        snprintf(mech, mechlen, "Kerberos");
    else if (m != GSS_C_NO_OID && m->length == oid_ntlmssp.length
             && memcmp(m->elements, oid_ntlmssp.elements, m->length) == 0)
        snprintf(mech, mechlen, "NTLM");
    else
        snprintf(mech, mechlen, "GSSAPI");
}

void xpipe__smb2_auth_restart(smb2_auth_t *a)
{
    OM_uint32 min;

    if (a->ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&min, &a->ctx, GSS_C_NO_BUFFER);
}

void xpipe__smb2_auth_destroy(smb2_auth_t *a)
{
    OM_uint32 min;

    if (a == NULL)
        return;
    if (a->ctx != GSS_C_NO_CONTEXT)
        gss_delete_sec_context(&min, &a->ctx, GSS_C_NO_BUFFER);
    if (a->cred != GSS_C_NO_CREDENTIAL)
        gss_release_cred(&min, &a->cred);
    if (a->target != GSS_C_NO_NAME)
        gss_release_name(&min, &a->target);
    free(a);
}
