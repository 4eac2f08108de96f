/* SPDX-License-Identifier: Apache-2.0 */
/* main.c — the CUnit runner: lists the suites, runs all or one
 * ("--suite NAME"), dispatches child roles ("--child ROLE ..."), prints a
 * machine-readable result line and exits non-zero on any failure.
 */
#include "xtest.h"

#include <apr_thread_proc.h>
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static CU_SuiteInfo suites[] = {
#define XT_SUITE_INFO(s) { .pName = #s, .pTests = xt_##s##_tests },
    XT_SUITES(XT_SUITE_INFO) CU_SUITE_INFO_NULL,
};

static const xt_child_t *const child_tables[] = {
#define XT_CHILD_TABLE(s) xt_##s##_children,
    XT_CHILD_SUITES(XT_CHILD_TABLE) NULL,
};

static void *APR_THREAD_FUNC child_idle(apr_thread_t *t, void *data)
{
    (void)data;
    apr_sleep(APR_USEC_PER_SEC);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* "--child ROLE A1 A2": run a role of one of the suites, or "crash". */
static int child_main(int argc, const char *const *argv)
{
    const char *role = argc > 2 ? argv[2] : "";
    const char *a1 = argc > 3 ? argv[3] : "";
    const char *a2 = argc > 4 ? argv[4] : "";
    const xt_child_t *c;
    int i;

    xt_setup();
    for (i = 0; child_tables[i]; i++)
        for (c = child_tables[i]; c->role; c++)
            if (strcmp(role, c->role) == 0)
                return c->run(a1, a2);
    if (strcmp(role, "crash") == 0) {
        /* Deliberate crash after a thread exists (the case where Wine with
         * winedbg enabled exits 0), to check that a crash fails the run. */
        apr_thread_t *t;
        volatile int *p = NULL;
        apr_thread_create(&t, NULL, child_idle, NULL, xt_p);
        return *p;
    }
    fprintf(stderr, "unknown child role '%s'\n", role);
    return 100;
}

int main(int argc, const char *const *argv)
{
    const char *only = NULL;
    unsigned int run, failed, skipped, i;
    int rc;

    xt_self = argv[0];
    if (xpipe_initialize() != APR_SUCCESS)
        return 99;
    if (argc > 2 && strcmp(argv[1], "--child") == 0) {
        rc = child_main(argc, argv);
        xpipe_terminate();
        return rc;
    }
    if (argc > 2 && strcmp(argv[1], "--suite") == 0)
        only = argv[2];
    for (i = 0; suites[i].pName; i++) {
        suites[i].pSetUpFunc = xt_setup;
        suites[i].pTearDownFunc = xt_teardown;
    }
    if (getenv("XT_TIMES")) {
        xt_times = 1;
        setvbuf(stdout, NULL, _IONBF, 0);
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 99;
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "suite registration failed: %s\n", CU_get_error_msg());
        return 99;
    }
    if (only) {
        CU_pSuite s = CU_get_suite(only);
        if (s == NULL) {
            fprintf(stderr, "no suite named '%s'\n", only);
            return 99;
        }
        /* XT_CASE: only the cases whose name holds it (debugging). */
        if (getenv("XT_CASE")) {
            CU_pTest t;
            for (t = s->pTest; t; t = t->pNext)
                CU_set_test_active(t, strstr(t->pName, getenv("XT_CASE"))
                                          ? CU_TRUE
                                          : CU_FALSE);
        }
        CU_basic_set_mode(CU_BRM_VERBOSE);
        CU_basic_run_suite(s);
    }
    else {
        CU_basic_set_mode(CU_BRM_VERBOSE);
        CU_basic_run_tests();
    }
    run = CU_get_number_of_tests_run();
    failed = CU_get_number_of_tests_failed();
    skipped = xt_skipped();
    /* A skipped case returned early without failing: count it apart. */
    printf(
        "\nXPIPE-RESULT backend=%s suite=%s passed=%u failed=%u skipped=%u\n",
        xpipe_backend_name(), only ? only : "all", run - failed - skipped,
        failed, skipped);
    rc = (failed > 0 || run == 0) ? 1 : 0;
    CU_cleanup_registry();
    xpipe_terminate();
    return rc;
}
