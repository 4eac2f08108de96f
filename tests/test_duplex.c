/* SPDX-License-Identifier: Apache-2.0 */
/* test_duplex.c — one thread reads while another writes on the same
 * channel: 10 MiB each way at once, both checksummed.
 */
#include "xtest.h"

static void duplex_run(xpipe_mode_e mode)
{
    xpipe_t *c, *s;
    xt_stream_t w[2], r[2];
    apr_thread_t *t[4];
    int i;

    xt_pair(&c, &s, xt_attr(mode));
    for (i = 0; i < 2; i++) {
        w[i].ch = r[1 - i].ch = i == 0 ? c : s;
        w[i].message = r[i].message = mode == XPIPE_MODE_MESSAGE;
        w[i].seed = 100u + (unsigned int)i;
        w[i].total = r[i].total = 10u << 20;
        w[i].sum = r[i].sum = XT_FNV_INIT;
    }
    /* c writes w[0] and reads r[1]; s writes w[1] and reads r[0]. */
    r[0].ch = s;
    r[1].ch = c;
    t[0] = xt_thread(xt_stream_write, &w[0]);
    t[1] = xt_thread(xt_stream_write, &w[1]);
    t[2] = xt_thread(xt_stream_read, &r[0]);
    t[3] = xt_thread(xt_stream_read, &r[1]);
    for (i = 0; i < 4; i++)
        XT_OK(xt_join(t[i]));
    for (i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(r[i].total, 10u << 20);
        CU_ASSERT(r[i].sum == w[i].sum);
    }
}

static void test_duplex_bytes(void)
{
    duplex_run(XPIPE_MODE_BYTE);
}

static void test_duplex_messages(void)
{
    duplex_run(XPIPE_MODE_MESSAGE);
}

CU_TestInfo xt_duplex_tests[] = {
    { "10 MiB each way at once, byte mode", test_duplex_bytes },
    { "10 MiB each way at once, message mode", test_duplex_messages },
    CU_TEST_INFO_NULL,
};
