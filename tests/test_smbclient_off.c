/* SPDX-License-Identifier: Apache-2.0 */
/* test_smbclient_off.c — the smbclient suite where the SMB client is not
 * built (POSIX without libcrypto 3 or MIT krb5's GSSAPI, or
 * -Dsmb_client=disabled): its one case says so as a skip, so that a run
 * reports the client's cases as not run, with why, instead of dropping
 * them. (test_smbclient.c is the suite where the client is built.)
 */
#include "xtest.h"

#include <string.h>

static void test_smbclient_not_built(void)
{
    xpipe_t *c = NULL;

    /* What a program meets: remote names are not served here. */
    XT_STATUS(xpipe_connect(&c, "\\\\host\\pipe\\chat", NULL, 0, xt_p),
              XPIPE_EREMOTE);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT(strlen(xpipe_error_detail()) > 0);
    xt_skip("the SMB client is not built here (meson: -Dsmb_client needs "
            "libcrypto >= 3.0 and krb5-gssapi: Debian's libssl-dev and "
            "libkrb5-dev)");
}

CU_TestInfo xt_smbclient_tests[] = {
    { "the SMB client's cases", test_smbclient_not_built },
    CU_TEST_INFO_NULL,
};
