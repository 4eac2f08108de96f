/* SPDX-License-Identifier: Apache-2.0 */
/* test_badinput.c — bad input gets a clear status and loses nothing:
 * NULL arguments, zero lengths, attributes out of range, status texts.
 */
#include "xtest.h"

#include "backend.h" /* the contract's tables, checked below */
#include "helpers.h"

#include <string.h>

static void test_null_arguments(void)
{
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL;
    xpipe_attr_t *a = NULL;
    const char *native;
    char buf[4];
    apr_size_t n = sizeof(buf);
    xpipe_peer_t peer = XPIPE_PEER_INIT;
    xpipe_os_handle_t h;

    XT_STATUS(xpipe_attr_create(NULL, xt_p), APR_EINVAL);
    XT_STATUS(xpipe_attr_create(&a, NULL), APR_EINVAL);
    XT_STATUS(xpipe_name_resolve(NULL, "x", xt_p), APR_EINVAL);
    XT_STATUS(xpipe_name_resolve(&native, NULL, xt_p), APR_EINVAL);
    XT_STATUS(xpipe_name_resolve(&native, "x", NULL), APR_EINVAL);
    XT_STATUS(xpipe_listen(NULL, "x", NULL, xt_p), APR_EINVAL);
    XT_STATUS(xpipe_listen(&l, NULL, NULL, xt_p), APR_EINVAL);
    XT_STATUS(xpipe_accept(NULL, l, 0, xt_p), APR_EINVAL);
    XT_STATUS(xpipe_accept(&c, NULL, 0, xt_p), APR_EINVAL);
    XT_STATUS(xpipe_connect(NULL, "x", NULL, 0, xt_p), APR_EINVAL);
    XT_STATUS(xpipe_connect(&c, NULL, NULL, 0, xt_p), APR_EINVAL);
    XT_STATUS(xpipe_listener_interrupt(NULL), APR_EINVAL);
    XT_STATUS(xpipe_listener_close(NULL), APR_EINVAL);
    XT_STATUS(xpipe_read(NULL, buf, &n), APR_EINVAL);
    XT_STATUS(xpipe_write(NULL, buf, &n), APR_EINVAL);
    XT_STATUS(xpipe_send(NULL, buf, 1), APR_EINVAL);
    XT_STATUS(xpipe_recv(NULL, buf, &n), APR_EINVAL);
    XT_STATUS(xpipe_read_full(NULL, buf, 1, NULL), APR_EINVAL);
    XT_STATUS(xpipe_write_full(NULL, buf, 1, NULL), APR_EINVAL);
    XT_STATUS(xpipe_timeout_set(NULL, 0), APR_EINVAL);
    XT_STATUS(xpipe_interrupt(NULL), APR_EINVAL);
    XT_STATUS(xpipe_shutdown(NULL, XPIPE_SHUTDOWN_BOTH), APR_EINVAL);
    XT_STATUS(xpipe_close(NULL), APR_EINVAL);
    XT_STATUS(xpipe_peer_get(NULL, &peer), APR_EINVAL);
    XT_STATUS(xpipe_os_handle_get(NULL, &h), APR_EINVAL);
    CU_ASSERT_PTR_NULL(xpipe_listener_native_name(NULL));
    CU_ASSERT_EQUAL(xpipe_timeout_get(NULL), -1);

    /* On a live pair: NULL buffers and out-pointers, and the pair still
     * carries data afterwards. */
    xt_pair(&c, &s, NULL);
    n = 1;
    XT_STATUS(xpipe_read(s, NULL, &n), APR_EINVAL);
    XT_STATUS(xpipe_read(s, buf, NULL), APR_EINVAL);
    n = 1;
    XT_STATUS(xpipe_write(c, NULL, &n), APR_EINVAL);
    XT_STATUS(xpipe_peer_get(c, NULL), APR_EINVAL);
    XT_STATUS(xpipe_os_handle_get(c, NULL), APR_EINVAL);
    xt_roundtrip(c, s, 'v');
}

static void test_zero_lengths(void)
{
    xpipe_t *c, *s, *mc, *ms;
    char buf[4];
    apr_size_t n = 0, done = 7;

    xt_pair(&c, &s, NULL);
    XT_STATUS(xpipe_read(s, buf, &n), APR_EINVAL);
    n = 0;
    XT_STATUS(xpipe_write(c, buf, &n), APR_EINVAL);
    /* Nothing asked, nothing to wait for: the _full calls succeed. */
    XT_OK(xpipe_read_full(s, buf, 0, &done));
    CU_ASSERT_EQUAL(done, 0);
    XT_OK(xpipe_write_full(c, buf, 0, &done));
    CU_ASSERT_EQUAL(done, 0);
    xt_pair(&mc, &ms, xt_attr(XPIPE_MODE_MESSAGE));
    XT_STATUS(xpipe_send(mc, buf, 0), APR_EINVAL);
    n = 0;
    XT_STATUS(xpipe_recv(ms, buf, &n), APR_EINVAL);
    /* Nothing was lost or sent by the refused calls. */
    XT_OK(xpipe_send(mc, "zz", 2));
    n = sizeof(buf);
    XT_OK(xpipe_recv(ms, buf, &n));
    CU_ASSERT_EQUAL(n, 2);
}

static void test_attributes_out_of_range(void)
{
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_MESSAGE);

    XT_STATUS(xpipe_attr_mode_set(a, (xpipe_mode_e)7), APR_EINVAL);
    XT_STATUS(xpipe_attr_mode_set(NULL, XPIPE_MODE_BYTE), APR_EINVAL);
    CU_ASSERT_EQUAL(xpipe_attr_mode_get(a), XPIPE_MODE_MESSAGE);
    XT_STATUS(xpipe_attr_instances_set(a, 0), APR_EINVAL);
    XT_STATUS(xpipe_attr_instances_set(a, -1), APR_EINVAL);
    XT_STATUS(xpipe_attr_instances_set(a, XPIPE_INSTANCES_LIMIT + 1),
              APR_EINVAL);
    CU_ASSERT_EQUAL(xpipe_attr_instances_get(a), XPIPE_INSTANCES_DEFAULT);
    XT_STATUS(xpipe_attr_max_message_set(a, 0), APR_EINVAL);
    XT_STATUS(xpipe_attr_max_message_set(a, XPIPE_MESSAGE_MAX_LIMIT + 1),
              APR_EINVAL);
    CU_ASSERT_EQUAL(xpipe_attr_max_message_get(a), XPIPE_MESSAGE_MAX_DEFAULT);
    XT_STATUS(xpipe_attr_buffer_size_set(a, XPIPE_BUFFER_LIMIT + 1, 0),
              APR_EINVAL);
    XT_STATUS(xpipe_attr_buffer_size_set(a, 0, XPIPE_BUFFER_LIMIT + 1),
              APR_EINVAL);
    XT_STATUS(xpipe_attr_permissions_set(a, -1), APR_EINVAL);
    XT_STATUS(xpipe_attr_permissions_set(a, 01000), APR_EINVAL);
    CU_ASSERT_EQUAL(xpipe_attr_permissions_get(a), 0600);
    XT_STATUS(xpipe_attr_sddl_set(a, ""), APR_EINVAL);
    XT_STATUS(xpipe_attr_remote_set(NULL, 1), APR_EINVAL);
    XT_STATUS(xpipe_attr_wait_for_server_set(NULL, 1), APR_EINVAL);
    CU_ASSERT_EQUAL(xpipe_attr_remote_get(a), 0);
    XT_STATUS(xpipe_attr_smb_export_set(NULL, 1), APR_EINVAL);
    XT_STATUS(xpipe_attr_smb_np_dir_set(NULL, NULL), APR_EINVAL);
    XT_STATUS(xpipe_attr_smb_np_dir_set(a, ""), APR_EINVAL);
    XT_STATUS(xpipe_attr_smb_np_dir_set(a, "np"), APR_EINVAL);
    CU_ASSERT_EQUAL(xpipe_attr_smb_export_get(a), 0);
    CU_ASSERT_PTR_NULL(xpipe_attr_smb_np_dir_get(a));
    XT_STATUS(xpipe_attr_log_set(NULL, NULL, NULL), APR_EINVAL);
    XT_STATUS(xpipe_attr_wake_slice_set(NULL, 0), APR_EINVAL);
    XT_STATUS(xpipe_attr_wake_slice_set(a, -1), APR_EINVAL);
    XT_STATUS(xpipe_attr_wake_slice_set(a, XPIPE_WAKE_SLICE_LIMIT + 1),
              APR_EINVAL);
    CU_ASSERT_EQUAL(xpipe_attr_wake_slice_get(a), XPIPE_WAKE_SLICE_DEFAULT);
    CU_ASSERT_EQUAL(xpipe_attr_wake_slice_get(NULL), XPIPE_WAKE_SLICE_DEFAULT);
    XT_OK(xpipe_attr_wake_slice_set(a, 0));
    CU_ASSERT_EQUAL(xpipe_attr_wake_slice_get(a), 0);
}

static void test_attributes_independent(void)
{
    /* Each setter changes its own attribute and nothing else, in any
     * order (USERS.md row 12). */
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE), *b = xt_attr(XPIPE_MODE_BYTE);

    XT_OK(xpipe_attr_permissions_set(a, 0640));
    XT_OK(xpipe_attr_remote_set(a, 1));
    XT_OK(xpipe_attr_mode_set(a, XPIPE_MODE_MESSAGE));
    XT_OK(xpipe_attr_buffer_size_set(a, 8192, 16384));
    XT_OK(xpipe_attr_max_message_set(a, 1000));
    XT_OK(xpipe_attr_instances_set(a, 3));
    XT_OK(xpipe_attr_sddl_set(a, "D:P(A;;GA;;;SY)"));
    CU_ASSERT_EQUAL(xpipe_attr_handles_get(a), 0);
    CU_ASSERT_EQUAL(xpipe_attr_handles_get(NULL), 0);
    XT_OK(xpipe_attr_handles_set(a, 1));
    CU_ASSERT_EQUAL(xpipe_attr_handles_get(a), 1);
    XT_OK(xpipe_attr_smb_export_set(a, 1));
    XT_OK(xpipe_attr_smb_np_dir_set(a, "/srv/np"));
    CU_ASSERT_EQUAL(xpipe_attr_permissions_get(a), 0640);
    CU_ASSERT_EQUAL(xpipe_attr_smb_export_get(a), 1);
    CU_ASSERT_STRING_EQUAL(xpipe_attr_smb_np_dir_get(a), "/srv/np");
    CU_ASSERT_EQUAL(xpipe_attr_remote_get(a), 1);
    CU_ASSERT_EQUAL(xpipe_attr_mode_get(a), XPIPE_MODE_MESSAGE);
    CU_ASSERT_EQUAL(xpipe_attr_max_message_get(a), 1000);
    CU_ASSERT_EQUAL(xpipe_attr_instances_get(a), 3);
    /* Reverse order on another set gives the same values. */
    XT_OK(xpipe_attr_smb_export_set(b, 1));
    XT_OK(xpipe_attr_smb_np_dir_set(b, "/srv/np"));
    XT_OK(xpipe_attr_sddl_set(b, "D:P(A;;GA;;;SY)"));
    XT_OK(xpipe_attr_instances_set(b, 3));
    XT_OK(xpipe_attr_max_message_set(b, 1000));
    XT_OK(xpipe_attr_buffer_size_set(b, 8192, 16384));
    XT_OK(xpipe_attr_mode_set(b, XPIPE_MODE_MESSAGE));
    XT_OK(xpipe_attr_remote_set(b, 1));
    XT_OK(xpipe_attr_permissions_set(b, 0640));
    CU_ASSERT_EQUAL(xpipe_attr_permissions_get(b), 0640);
    CU_ASSERT_EQUAL(xpipe_attr_remote_get(b), 1);
    CU_ASSERT_EQUAL(xpipe_attr_mode_get(b), XPIPE_MODE_MESSAGE);
    CU_ASSERT_EQUAL(xpipe_attr_max_message_get(b), 1000);
    CU_ASSERT_EQUAL(xpipe_attr_instances_get(b), 3);
    CU_ASSERT_EQUAL(xpipe_attr_smb_export_get(b), 1);
    CU_ASSERT_EQUAL(xpipe_attr_remote_get(b), 1);
    /* Defaults with NULL. */
    CU_ASSERT_EQUAL(xpipe_attr_mode_get(NULL), XPIPE_MODE_BYTE);
    CU_ASSERT_EQUAL(xpipe_attr_permissions_get(NULL), 0600);
    CU_ASSERT_EQUAL(xpipe_attr_remote_get(NULL), 0);
}

static void test_attr_changes_after_listen(void)
{
    /* The listener copies its attributes: changing them later does not
     * change the listener. */
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_MESSAGE);
    xpipe_listener_t *l = NULL;
    xpipe_t *c = NULL, *s = NULL;
    const char *name = xt_name();
    char buf[8];
    apr_size_t n = sizeof(buf);

    XT_OK(xpipe_listen(&l, name, a, xt_p));
    XT_OK(xpipe_attr_mode_set(a, XPIPE_MODE_BYTE));
    XT_OK(xpipe_connect(&c, name, xt_attr(XPIPE_MODE_MESSAGE), XT_LONG, xt_p));
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    CU_ASSERT_EQUAL(xpipe_mode_get(s), XPIPE_MODE_MESSAGE);
    XT_OK(xpipe_send(c, "copy", 4));
    XT_OK(xpipe_timeout_set(s, XT_LONG));
    XT_OK(xpipe_recv(s, buf, &n));
    CU_ASSERT_EQUAL(n, 4);
}

/* A program's own table from the one list, as the header invites: each
 * code, its name, its text and its IS macro. */
typedef struct status_row_t {
    apr_status_t code;
    const char *name, *text;
    int is_it, is_other;
} status_row_t;
#define XT_STATUS_ROW(name, n, text)                                           \
    { XPIPE_##name, "XPIPE_" #name, text,                                      \
      XPIPE_STATUS_IS_##name(XPIPE_##name),                                    \
      XPIPE_STATUS_IS_##name(XPIPE_##name + 1) },
static const status_row_t status_rows[] = { XPIPE_STATUS_MAP(XT_STATUS_ROW) };
#undef XT_STATUS_ROW

static void test_status_texts(void)
{
    char a[256], b[256];
    apr_size_t i, j;

    CU_ASSERT_EQUAL(sizeof(status_rows) / sizeof(status_rows[0]), 17);
    for (i = 0; i < sizeof(status_rows) / sizeof(status_rows[0]); i++) {
        const status_row_t *r = &status_rows[i];

        CU_ASSERT_EQUAL(r->code, XPIPE_START_ERROR + 1 + (apr_status_t)i);
        CU_ASSERT_STRING_EQUAL(xpipe_status_name(r->code), r->name);
        CU_ASSERT_STRING_EQUAL(xpipe_strerror(r->code, a, sizeof(a)), r->text);
        CU_ASSERT(r->is_it && !r->is_other);
        CU_ASSERT(XPIPE_STATUS_IS_XPIPE(r->code));
        CU_ASSERT(strlen(a) > 10);
        for (j = 0; j < i; j++)
            CU_ASSERT(
                strcmp(a, xpipe_strerror(status_rows[j].code, b, sizeof(b)))
                != 0);
    }
    CU_ASSERT_EQUAL(XPIPE_STATUS_END, XPIPE_START_ERROR + 18);
    CU_ASSERT(XPIPE_STATUS_IS_EPROTO(XPIPE_EPROTO));
    CU_ASSERT(XPIPE_STATUS_IS_EAUTH(XPIPE_EAUTH));
    CU_ASSERT(!XPIPE_STATUS_IS_EAUTH(XPIPE_EPROTO));
    CU_ASSERT(XPIPE_STATUS_IS_ENOPIPE(XPIPE_ENOPIPE));
    CU_ASSERT(!XPIPE_STATUS_IS_ENOPIPE(XPIPE_EINUSE));
    CU_ASSERT(!XPIPE_STATUS_IS_XPIPE(APR_EOF));
    CU_ASSERT(XPIPE_STATUS_IS_PEER_GONE(APR_EOF));
    CU_ASSERT_STRING_EQUAL(xpipe_status_name(APR_EOF), "APR_EOF");
    CU_ASSERT_STRING_EQUAL(xpipe_status_name(APR_TIMEUP), "APR_TIMEUP");
    /* Other codes fall through to APR's text; tiny buffers are safe. */
    CU_ASSERT(strlen(xpipe_strerror(APR_EOF, a, sizeof(a))) > 0);
    xpipe_strerror(XPIPE_ENOPIPE, a, 5);
    CU_ASSERT_EQUAL(strlen(a), 4);
    CU_ASSERT_PTR_NULL(xpipe_strerror(XPIPE_ENOPIPE, NULL, 10));
}

static void test_bad_timeouts_and_how(void)
{
    xpipe_t *c, *s;
    xpipe_os_handle_t h;

    xt_pair(&c, &s, NULL);
    XT_STATUS(xpipe_timeout_set(c, -2), APR_EINVAL);
    CU_ASSERT_EQUAL(xpipe_timeout_get(c), XT_LONG);
    XT_STATUS(xpipe_shutdown(c, (xpipe_shutdown_e)9), APR_EINVAL);
    XT_OK(xpipe_os_handle_get(c, &h));
#ifdef _WIN32
    CU_ASSERT(h.handle != NULL && h.handle != (void *)(apr_uintptr_t)-1);
#else
    CU_ASSERT(h.fd > 2);
#endif
    xt_roundtrip(c, s, 't');
}

/* xpipe_error_detail() belongs to the last call: a later failure (or
 * success) never reports an earlier call's reason. */
static void test_error_detail_is_per_call(void)
{
    xpipe_listener_t *l = NULL, *l2 = NULL;
    xpipe_t *c = NULL, *s = NULL;
    const char *name = xt_name();
    xpipe_attr_t *msg = xt_attr(XPIPE_MODE_MESSAGE);
    char big[4096];
    apr_size_t n;
    apr_status_t rv;
    int i;

    /* A failure with a detail naming the pipe... */
    XT_OK(xpipe_listen(&l, name, NULL, xt_p));
    XT_STATUS(xpipe_listen(&l2, name, NULL, xt_p), XPIPE_EINUSE);
    CU_ASSERT(strstr(xpipe_error_detail(), name) != NULL);
    /* ... is gone after a call that succeeds, */
    XT_OK(xpipe_connect(&c, name, NULL, XT_LONG, xt_p));
    CU_ASSERT_STRING_EQUAL(xpipe_error_detail(), "");
    XT_OK(xpipe_accept(&s, l, XT_LONG, xt_p));
    /* and a failure without one does not report the old one. */
    XT_STATUS(xpipe_listen(&l2, name, NULL, xt_p), XPIPE_EINUSE);
    XT_OK(xpipe_close(s));
    memset(big, 'x', sizeof(big));
    for (i = 0, rv = APR_SUCCESS; i < 1000 && rv == APR_SUCCESS; i++) {
        n = sizeof(big);
        rv = xpipe_write(c, big, &n);
    }
    CU_ASSERT(XPIPE_STATUS_IS_PEER_GONE(rv));
    CU_ASSERT(strstr(xpipe_error_detail(), name) == NULL);
    /* Details of the connect policy name the pipe on every backend. */
    XT_STATUS(xpipe_connect(&c, xt_name(), NULL, XT_LONG, xt_p), XPIPE_ENOPIPE);
    CU_ASSERT(strstr(xpipe_error_detail(), "nothing listens on") != NULL);
    /* (The framed transport refuses the other mode at accept instead.) */
    if (XPIPE_STATUS_IS_EMODE(xpipe_connect(&c, name, msg, XT_LONG, xt_p)))
        CU_ASSERT(strstr(xpipe_error_detail(), "mode") != NULL);
}

/* What a transport's table lacks of the contract (lib/backend.h): a
 * mandatory slot, or part of a group; NULL when nothing. */
static const char *contract_gap(const xpipe__backend_t *be)
{
    if (!be->name || !be->resolve || !be->dial || !be->read || !be->write
        || !be->send || !be->recv || !be->wake || !be->unwake || !be->close
        || !be->peer_get)
        return "a mandatory slot";
    if (be->listen
        && !(be->accept && be->listener_wake && be->listener_unwake
             && be->listener_close && be->listener_os_handle_get))
        return "a slot of the listener group";
    if (be->pset_create
        && !(be->pset_add && be->pset_remove && be->pset_wait
             && be->pset_collect && be->pset_wakeup && be->pset_destroy
             && be->pm_ready))
        return "a slot of the poll group";
    if (!be->send_handles != !be->recv_handles)
        return "one of send_handles and recv_handles";
    return NULL;
}

/* Every transport keeps the contract; the OS's offers everything; lib/
 * answers for what a transport leaves out: APR_ENOTIMPL, naming it. */
static void test_contract(void)
{
    const char *gap = contract_gap(&XPIPE__BACKEND);

    CU_ASSERT_PTR_NULL(gap);
    if (gap)
        printf("\n  %s lacks %s\n", XPIPE__BACKEND.name, gap);
    CU_ASSERT(XPIPE__BACKEND.listen && XPIPE__BACKEND.pset_create
              && XPIPE__BACKEND.pair && XPIPE__BACKEND.spawn
              && XPIPE__BACKEND.adopt && XPIPE__BACKEND.listener_adopt
              && XPIPE__BACKEND.handle_parse && XPIPE__BACKEND.send_handles
              && XPIPE__BACKEND.self_get);
    CU_ASSERT_STRING_EQUAL(xpipe_backend_name(), XPIPE__BACKEND.name);
#ifdef XPIPE__REMOTE_BACKEND
    gap = contract_gap(&XPIPE__REMOTE_BACKEND);
    CU_ASSERT_PTR_NULL(gap);
    if (gap)
        printf("\n  %s lacks %s\n", XPIPE__REMOTE_BACKEND.name, gap);
    /* No stubs: it makes no listener, set, pair or child. */
    CU_ASSERT(XPIPE__REMOTE_BACKEND.listen == NULL
              && XPIPE__REMOTE_BACKEND.pset_create == NULL
              && XPIPE__REMOTE_BACKEND.pair == NULL
              && XPIPE__REMOTE_BACKEND.send_handles == NULL);
    XT_STATUS(xpipe__not_offered(&XPIPE__REMOTE_BACKEND, "poll sets"),
              APR_ENOTIMPL);
    CU_ASSERT_STRING_EQUAL(xpipe_error_detail(),
                           "the smb2 transport offers no poll sets");
#endif
}

CU_TestInfo xt_badinput_tests[] = {
    { "NULL arguments: APR_EINVAL, nothing lost", test_null_arguments },
    { "zero lengths", test_zero_lengths },
    { "attributes out of range refused, value kept",
      test_attributes_out_of_range },
    { "attributes are independent of each other", test_attributes_independent },
    { "a listener copies its attributes", test_attr_changes_after_listen },
    { "status names and texts", test_status_texts },
    { "every transport keeps the backend contract", test_contract },
    { "bad timeouts and shutdown modes", test_bad_timeouts_and_how },
    { "the error detail belongs to the last call",
      test_error_detail_is_per_call },
    CU_TEST_INFO_NULL,
};
