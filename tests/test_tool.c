/* SPDX-License-Identifier: Apache-2.0 */
/* test_tool.c — the xpipe command-line tool, end to end: spawned as a
 * process with its stdin/stdout/stderr on pipes, on every backend.
 */
#include "xtest.h"

#include <apr_file_io.h>
#include <apr_strings.h>
#include <string.h>

#ifndef _WIN32
#include <signal.h>
#include <unistd.h>
#endif

typedef struct tool_run_t {
    apr_proc_t proc;
    apr_file_t *in, *out, *err;
} tool_run_t;

/* Start the tool with up to 6 arguments (NULL-terminated). */
static void tool_start(tool_run_t *t, const char *a1, const char *a2,
                       const char *a3, const char *a4, const char *a5,
                       const char *a6)
{
    const char *argv[8] = { NULL, a1, a2, a3, a4, a5, a6, NULL };
    apr_procattr_t *pa;

    argv[0] = xt_tool_path();
    XT_OK(apr_procattr_create(&pa, xt_p));
    XT_OK(apr_procattr_cmdtype_set(pa, APR_PROGRAM));
    XT_OK(apr_procattr_io_set(pa, APR_CHILD_BLOCK, APR_CHILD_BLOCK,
                              APR_CHILD_BLOCK));
    XT_OK(apr_proc_create(&t->proc, argv[0], argv, NULL, pa, xt_p));
    t->in = t->proc.in;
    t->out = t->proc.out;
    t->err = t->proc.err;
    apr_file_pipe_timeout_set(t->in, XT_LONG);
    apr_file_pipe_timeout_set(t->out, XT_LONG);
    apr_file_pipe_timeout_set(t->err, XT_LONG);
}

static void tool_feed(tool_run_t *t, const char *text, int close_it)
{
    if (text)
        XT_OK(apr_file_write_full(t->in, text, strlen(text), NULL));
    if (close_it)
        apr_file_close(t->in);
}

/* Everything on a pipe until end of file (or the 10 s deadline). */
static const char *tool_slurp(apr_file_t *f)
{
    char *all = "";
    char buf[4096];

    for (;;) {
        apr_size_t n = sizeof(buf) - 1;
        if (apr_file_read(f, buf, &n) != APR_SUCCESS)
            break;
        buf[n] = '\0';
        all = apr_pstrcat(xt_p, all, buf, NULL);
    }
    return all;
}

/* Read a line (without its end) from the tool's stdout. */
static const char *tool_line(tool_run_t *t)
{
    char buf[512];

    if (apr_file_gets(buf, sizeof(buf), t->out) != APR_SUCCESS)
        return "";
    buf[strcspn(buf, "\r\n")] = '\0';
    return apr_pstrdup(xt_p, buf);
}

static int tool_wait(tool_run_t *t)
{
    return xt_child_wait(&t->proc, XT_LONG);
}

/* Stop a listener as Ctrl-C would (POSIX: SIGTERM; Windows: ended). */
static void tool_stop(tool_run_t *t)
{
#ifdef _WIN32
    apr_proc_kill(&t->proc, 9); /* no console to send Ctrl-C to */
#else
    apr_proc_kill(&t->proc, SIGTERM);
#endif
}

/* Run the tool to the end with no input; returns its exit status and
 * stores what it printed. */
static int tool_once(const char **out, const char **err, const char *a1,
                     const char *a2, const char *a3, const char *a4)
{
    tool_run_t t;

    tool_start(&t, a1, a2, a3, a4, NULL, NULL);
    tool_feed(&t, NULL, 1);
    *out = tool_slurp(t.out);
    *err = tool_slurp(t.err);
    return tool_wait(&t);
}

static void test_tool_relay_both_ways(void)
{
    const char *name = xt_name();
    tool_run_t srv, cli;

    tool_start(&srv, "listen", "--once", name, NULL, NULL, NULL);
    tool_start(&cli, "connect", "--wait", "--timeout", "10", name, NULL);
    /* Each side's stdin reaches the other's stdout. */
    tool_feed(&cli, "from the client\n", 0);
    CU_ASSERT_STRING_EQUAL(tool_line(&srv), "from the client");
    tool_feed(&srv, "from the server\n", 0);
    CU_ASSERT_STRING_EQUAL(tool_line(&cli), "from the server");
    /* Both inputs end: both relays end, successfully. */
    tool_feed(&cli, NULL, 1);
    tool_feed(&srv, NULL, 1);
    CU_ASSERT_EQUAL(tool_wait(&cli), 0);
    CU_ASSERT_EQUAL(tool_wait(&srv), 0);
}

static void test_tool_echo_several_clients(void)
{
    const char *name = xt_name(), *native = NULL;
    tool_run_t srv, cli[3];
    int i;

    tool_start(&srv, "listen", "--echo", name, NULL, NULL, NULL);
    for (i = 0; i < 3; i++)
        tool_start(&cli[i], "connect", "--wait", name, NULL, NULL, NULL);
    /* All three connected at once; each gets its own words back. */
    for (i = 0; i < 3; i++)
        tool_feed(&cli[i], apr_psprintf(xt_p, "client %d here\n", i), 0);
    for (i = 0; i < 3; i++)
        CU_ASSERT_STRING_EQUAL(tool_line(&cli[i]),
                               apr_psprintf(xt_p, "client %d here", i));
    for (i = 0; i < 3; i++) {
        int code;
        tool_feed(&cli[i], NULL, 1);
        code = tool_wait(&cli[i]);
        CU_ASSERT_EQUAL(code, 0);
        if (code != 0)
            printf("  client %d exit %d: %s\n", i, code,
                   tool_slurp(cli[i].err));
    }
    tool_stop(&srv);
#ifndef _WIN32
    /* A stop by signal is clean: exit 0 and the socket file removed. */
    CU_ASSERT_EQUAL(tool_wait(&srv), 0);
    XT_OK(xpipe_name_resolve(&native, name, xt_p));
    CU_ASSERT(access(native, F_OK) != 0);
#else
    (void)native;
    tool_wait(&srv);
#endif
}

static void test_tool_message_lines(void)
{
    const char *name = xt_name();
    tool_run_t srv, cli;

    tool_start(&srv, "listen", "--echo", "--message", name, NULL, NULL);
    tool_start(&cli, "connect", "--message", "--wait", name, NULL, NULL);
    /* One line, one message; the empty line is skipped. */
    tool_feed(&cli, "a\nbb\n\nccc\n", 1);
    CU_ASSERT_STRING_EQUAL(tool_slurp(cli.out), "a\nbb\nccc\n");
    CU_ASSERT_EQUAL(tool_wait(&cli), 0);
    tool_stop(&srv);
    tool_wait(&srv);
}

static void test_tool_exit_statuses(void)
{
    const char *out, *err;
    const char *none = xt_name();

    CU_ASSERT_EQUAL(tool_once(&out, &err, "--version", NULL, NULL, NULL), 0);
    CU_ASSERT(strncmp(out, "xpipe ", 6) == 0);
    CU_ASSERT_EQUAL(tool_once(&out, &err, "resolve", "chat", NULL, NULL), 0);
    CU_ASSERT(strstr(out, "chat") != NULL);
    CU_ASSERT_EQUAL(tool_once(&out, &err, NULL, NULL, NULL, NULL), 2);
    CU_ASSERT(strstr(err, "usage:") != NULL);
    CU_ASSERT_EQUAL(tool_once(&out, &err, "bogus", NULL, NULL, NULL), 2);
    CU_ASSERT_EQUAL(tool_once(&out, &err, "listen", NULL, NULL, NULL), 2);
    CU_ASSERT_EQUAL(tool_once(&out, &err, "connect", "--timeout", "soon", none),
                    2);
    CU_ASSERT(strstr(err, "--timeout takes seconds") != NULL);
    CU_ASSERT_EQUAL(tool_once(&out, &err, "connect", "--nope", none, NULL), 2);
    CU_ASSERT_EQUAL(tool_once(&out, &err, "resolve", "", NULL, NULL), 1);
    CU_ASSERT(strstr(err, "xpipe: resolve : invalid pipe name") != NULL);
    CU_ASSERT_EQUAL(tool_once(&out, &err, "connect", none, NULL, NULL), 1);
    CU_ASSERT(
        strstr(err, apr_psprintf(xt_p, "xpipe: connect %s: no such pipe", none))
        != NULL);
}

static void test_tool_killed_listener_name_reused(void)
{
    const char *name = xt_name();
    tool_run_t srv, cli;

    tool_start(&srv, "listen", "--echo", name, NULL, NULL, NULL);
    tool_start(&cli, "connect", "--wait", name, NULL, NULL, NULL);
    tool_feed(&cli, "up?\n", 1);
    CU_ASSERT_STRING_EQUAL(tool_line(&cli), "up?");
    tool_wait(&cli);
    xt_child_kill(&srv.proc); /* SIGKILL / TerminateProcess: no clean-up */
    /* Whatever it left (a stale socket file on POSIX) does not stop the
     * next server. */
    tool_start(&srv, "listen", "--echo", name, NULL, NULL, NULL);
    tool_start(&cli, "connect", "--wait", name, NULL, NULL, NULL);
    tool_feed(&cli, "again\n", 1);
    CU_ASSERT_STRING_EQUAL(tool_line(&cli), "again");
    CU_ASSERT_EQUAL(tool_wait(&cli), 0);
    tool_stop(&srv);
    tool_wait(&srv);
}

static void test_tool_bench_quick(void)
{
    /* A smoke test that the benchmark runs here; it asserts no speed. */
    const char *out, *err;

    CU_ASSERT_EQUAL(tool_once(&out, &err, "bench", "--quick", "--cpu", "any"),
                    0);
    CU_ASSERT(strstr(out, "xpipe/raw") != NULL);
    CU_ASSERT(strstr(out, "connect + 1 B echo + close") != NULL);
    if (strstr(out, "xpipe/raw") == NULL)
        printf("  bench said: %s%s\n", out, err);
}

CU_TestInfo xt_tool_tests[] = {
    { "listen + connect relay stdin/stdout both ways",
      test_tool_relay_both_ways },
    { "--echo serves several clients at once; a stop is clean",
      test_tool_echo_several_clients },
    { "--message: one line, one message", test_tool_message_lines },
    { "exit statuses 0, 1 and 2 with their messages", test_tool_exit_statuses },
    { "a killed listener's name serves again",
      test_tool_killed_listener_name_reused },
    { "bench --quick runs (smoke test)", test_tool_bench_quick },
    CU_TEST_INFO_NULL,
};
