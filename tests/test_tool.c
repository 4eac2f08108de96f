/* SPDX-License-Identifier: Apache-2.0 */
/* test_tool.c — the xpipe command-line tool, end to end: spawned as a
 * process with its stdin/stdout/stderr on pipes, on every backend.
 */
#include "xtest.h"

#include <apr_file_io.h>
#include <apr_strings.h>
#include <string.h>

#ifndef _WIN32
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>
#endif

typedef struct tool_run_t {
    apr_proc_t proc;
    apr_file_t *in, *out, *err;
} tool_run_t;

/* Start prog with up to 6 arguments (NULL-terminated). */
static void prog_start(tool_run_t *t, const char *prog, const char *a1,
                       const char *a2, const char *a3, const char *a4,
                       const char *a5, const char *a6)
{
    const char *argv[8] = { NULL, a1, a2, a3, a4, a5, a6, NULL };
    apr_procattr_t *pa;

    argv[0] = prog;
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

/* Start the tool with up to 6 arguments (NULL-terminated). */
static void tool_start(tool_run_t *t, const char *a1, const char *a2,
                       const char *a3, const char *a4, const char *a5,
                       const char *a6)
{
    prog_start(t, xt_tool_path(), a1, a2, a3, a4, a5, a6);
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

/* Feed the tool `in` and see `want` come back on its stdout before its
 * stdin ends (a named pipe cannot half close: on Windows the tool ends by
 * lingering for its peer's last data, --linger, half a second, which a
 * loaded machine can miss; here nothing is left to linger for). Then
 * nothing more comes and it exits 0; else it says what it printed on both
 * and how it ended. */
static void tool_converse(tool_run_t *t, const char *in, const char *want)
{
    apr_size_t len = strlen(want), got = 0;
    char *out = apr_pcalloc(xt_p, len + 1);
    const char *rest;
    int rc;

    tool_feed(t, in, 0);
    apr_file_read_full(t->out, out, len, &got);
    out[got] = '\0';
    tool_feed(t, NULL, 1);
    rest = tool_slurp(t->out);
    rc = tool_wait(t);
    CU_ASSERT_STRING_EQUAL(out, want);
    CU_ASSERT_STRING_EQUAL(rest, "");
    CU_ASSERT_EQUAL(rc, 0);
    if (strcmp(out, want) != 0 || *rest || rc != 0)
        printf("\n  stdout [%s%s], stderr [%s], exit %d\n", out, rest,
               tool_slurp(t->err), rc);
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
/* Run prog to its end within `within` (its output's, then its exit's
 * deadline); its exit code, or -1. */
static int prog_once_within(const char *prog, const char **out,
                            const char **err, apr_interval_time_t within,
                            const char *a1, const char *a2, const char *a3,
                            const char *a4)
{
    tool_run_t t;

    prog_start(&t, prog, a1, a2, a3, a4, NULL, NULL);
    apr_file_pipe_timeout_set(t.out, within);
    apr_file_pipe_timeout_set(t.err, within);
    tool_feed(&t, NULL, 1);
    *out = tool_slurp(t.out);
    *err = tool_slurp(t.err);
    return xt_child_wait(&t.proc, within);
}

static int tool_once_within(const char **out, const char **err,
                            apr_interval_time_t within, const char *a1,
                            const char *a2, const char *a3, const char *a4)
{
    return prog_once_within(xt_tool_path(), out, err, within, a1, a2, a3, a4);
}

static int tool_once(const char **out, const char **err, const char *a1,
                     const char *a2, const char *a3, const char *a4)
{
    return tool_once_within(out, err, XT_LONG, a1, a2, a3, a4);
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

/* The one-thread echo server against real peers: 1,000 socat clients
 * connected at once, each line echoed back intact, and the server's
 * thread count the same as with none. Under the sanitizers 200 (each
 * fork of an instrumented process costs tens of milliseconds; the server's
 * loop is the same at 200), under valgrind 50. */
static void test_tool_echo_socat(void)
{
#ifdef __linux__
#if defined(XT_TSAN) || defined(XT_ASAN)
    int want = getenv("XT_LIGHT") ? 50 : 200;
#else
    int want = getenv("XT_LIGHT") ? 50 : 1000;
#endif
    int i, ok = 0, threads = -1;
    const char *name = xt_name(), *native, *sock, *hello;
    apr_proc_t *cl = apr_pcalloc(xt_p, sizeof(*cl) * (apr_size_t)want);
    apr_procattr_t *pa;
    xpipe_attr_t *a = xt_attr(XPIPE_MODE_BYTE);
    xpipe_t *probe;
    tool_run_t srv;
    char path[64], line[256];
    FILE *f;
    struct rlimit rl;

    if (access("/usr/bin/socat", X_OK) != 0) {
        xt_skip("socat is not installed (./run deps installs it)");
        return;
    }
    getrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < (rlim_t)(2 * want + 100)) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)(2 * want + 100)
                          ? rl.rlim_max
                          : (rlim_t)(2 * want + 100);
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < (rlim_t)(2 * want + 100)) {
        xt_skip("the descriptor limit is too low for 1,000 socat clients");
        return;
    }
    /* The framed transport's clients start with a byte naming their
     * mode ('B': bytes): a foreign client sends it itself. */
    hello = strcmp(xpipe_backend_name(), "unix-framed") == 0 ? "B" : "";
    tool_start(&srv, "listen", "--echo", name, NULL, NULL, NULL);
    /* Up when a connection goes through. */
    XT_OK(xpipe_attr_wait_for_server_set(a, 1));
    XT_OK(xpipe_connect(&probe, name, a, XT_LONG, xt_p));
    XT_OK(xpipe_close(probe));
    XT_OK(xpipe_name_resolve(&native, name, xt_p));
    sock = apr_psprintf(xt_p, "UNIX-CONNECT:%s", native);
    for (i = 0; i < want; i++) {
        const char *argv[] = { "socat", "-t", "10", "-", sock, NULL };
        /* An attribute set per child: it holds that child's pipes. */
        XT_OK(apr_procattr_create(&pa, xt_p));
        XT_OK(apr_procattr_cmdtype_set(pa, APR_PROGRAM));
        XT_OK(apr_procattr_io_set(pa, APR_CHILD_BLOCK, APR_CHILD_BLOCK,
                                  APR_NO_PIPE));
        if (!XT_STATUS(
                apr_proc_create(&cl[i], "/usr/bin/socat", argv, NULL, pa, xt_p),
                APR_SUCCESS)) {
            want = i;
            break;
        }
        apr_file_pipe_timeout_set(cl[i].out, XT_LONG);
        /* The hello goes at once: a framed server drops a client that
         * stays silent (UNIX_HELLO_WAIT). */
        if (*hello)
            XT_OK(apr_file_write_full(cl[i].in, hello, 1, NULL));
    }
    /* Every client says its line; then every echo is read back: all of
     * them are connected at once until the last echo is in. */
    for (i = 0; i < want; i++) {
        const char *text = apr_psprintf(
            xt_p, "client %d %08x%08x\n", i, (unsigned)(i * 2654435761u),
            (unsigned)xt_fnv(XT_FNV_INIT, &i, sizeof(i)));
        XT_OK(apr_file_write_full(cl[i].in, text, strlen(text), NULL));
    }
    for (i = 0; i < want; i++) {
        const char *text = apr_psprintf(
            xt_p, "client %d %08x%08x\n", i, (unsigned)(i * 2654435761u),
            (unsigned)xt_fnv(XT_FNV_INIT, &i, sizeof(i)));
        if (apr_file_gets(line, sizeof(line), cl[i].out) == APR_SUCCESS
            && strcmp(line, text) == 0)
            ok++;
        else if (ok == i) /* the first one wrong: say what came */
            printf("\n  client %d got \"%s\"\n", i, line);
    }
    CU_ASSERT_EQUAL(ok, want);
    /* The server's threads now, with every client connected. */
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)srv.proc.pid);
    if ((f = fopen(path, "r")) != NULL) {
        while (fgets(line, sizeof(line), f))
            if (sscanf(line, "Threads: %d", &threads) == 1)
                break;
        fclose(f);
    }
    printf(" [%d clients, server threads %d]", want, threads);
    CU_ASSERT(threads >= 1 && threads <= 3);
    for (i = 0; i < want; i++)
        apr_file_close(cl[i].in);
    for (i = 0; i < want; i++) {
        int code = xt_child_wait(&cl[i], XT_LONG);
        CU_ASSERT_EQUAL(code, 0);
        apr_file_close(cl[i].out);
    }
    tool_stop(&srv);
    CU_ASSERT_EQUAL(tool_wait(&srv), 0);
#else
    xt_skip("socat clients and /proc: Linux");
#endif
}

/* examples/event_server: hello_server's protocol from one thread, for
 * several hello_client processes at once. */
static void test_tool_event_server_example(void)
{
    const char *tool = xt_tool_path(), *name = xt_name();
    char *dir = apr_pstrdup(xt_p, tool), *cut;
    const char *server, *client;
    tool_run_t srv, cl[5];
    apr_finfo_t fi;
    int i;

    cut = strstr(dir, "tools");
    if (cut)
        *cut = '\0';
#ifdef _WIN32
    server = apr_pstrcat(xt_p, dir, "examples/event_server.exe", NULL);
    client = apr_pstrcat(xt_p, dir, "examples/hello_client.exe", NULL);
#else
    server = apr_pstrcat(xt_p, dir, "examples/event_server", NULL);
    client = apr_pstrcat(xt_p, dir, "examples/hello_client", NULL);
#endif
    if (cut == NULL
        || apr_stat(&fi, server, APR_FINFO_TYPE, xt_p) != APR_SUCCESS) {
        xt_skip("the examples are not built here (-Dexamples=disabled)");
        return;
    }
    prog_start(&srv, server, name, NULL, NULL, NULL, NULL, NULL);
    CU_ASSERT_STRING_EQUAL(
        tool_line(&srv),
        apr_psprintf(xt_p, "event_server: listening on %s", name));
    for (i = 0; i < 5; i++)
        prog_start(&cl[i], client, name, apr_psprintf(xt_p, "request %d", i),
                   NULL, NULL, NULL, NULL);
    for (i = 0; i < 5; i++) {
        CU_ASSERT_STRING_EQUAL(
            tool_line(&cl[i]),
            apr_psprintf(xt_p, "reply from server: request %d", i));
        CU_ASSERT_EQUAL(tool_wait(&cl[i]), 0);
    }
    tool_stop(&srv);
#ifndef _WIN32
    CU_ASSERT_EQUAL(tool_wait(&srv), 0); /* a clean stop on SIGTERM */
#else
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
    tool_converse(&cli, "a\nbb\n\nccc\n", "a\nbb\nccc\n");
    tool_stop(&srv);
    tool_wait(&srv);
}

/* spawn: the tool's stdin and stdout through a child that took its end
 * with xpipe_child_channel (this program's pair-echo role). */
static void test_tool_spawn(void)
{
    tool_run_t t;
    const char *out, *err;

    tool_start(&t, "spawn", xt_self, "--child", "pair-echo", NULL, NULL);
    tool_converse(&t, "through the child\n", "through the child\n");
    tool_start(&t, "spawn", "--message", xt_self, "--child", "pair-echo", NULL);
    tool_converse(&t, "one\ntwo\n", "one\ntwo\n");
    /* A child that fails: exit 1, and its status said. */
    CU_ASSERT_EQUAL(
        tool_once(&out, &err, "spawn", xt_self, "--child", "no-such-role"), 1);
    CU_ASSERT(strstr(err, "the child exited with status 100") != NULL);
    CU_ASSERT_EQUAL(
        tool_once(&out, &err, "spawn", "/nonexistent/program", NULL, NULL), 1);
    CU_ASSERT(strstr(err, "xpipe: spawn /nonexistent/program: ") != NULL);
    CU_ASSERT_EQUAL(tool_once(&out, &err, "spawn", NULL, NULL, NULL), 2);
    CU_ASSERT(strstr(err, "spawn: missing PROGRAM") != NULL);
}

static void test_tool_exit_statuses(void)
{
    const char *out, *err;
    const char *none = xt_name();

    CU_ASSERT_EQUAL(tool_once(&out, &err, "--version", NULL, NULL, NULL), 0);
    CU_ASSERT(strncmp(out, "xpipe " XPIPE_VERSION_STRING " (library ",
                      strlen("xpipe " XPIPE_VERSION_STRING " (library "))
              == 0);
    CU_ASSERT_EQUAL(tool_once(&out, &err, "resolve", "chat", NULL, NULL), 0);
    CU_ASSERT(strstr(out, "chat") != NULL);
    CU_ASSERT_EQUAL(tool_once(&out, &err, "resolve", "", NULL, NULL), 1);
    CU_ASSERT(strstr(err, "xpipe: resolve : invalid pipe name") != NULL);
    CU_ASSERT_EQUAL(tool_once(&out, &err, "connect", none, NULL, NULL), 1);
    CU_ASSERT(
        strstr(err, apr_psprintf(xt_p, "xpipe: connect %s: no such pipe", none))
        != NULL);
}

/* A usage error is one line naming what was wrong, then the hint; exit 2
 * and nothing on stdout. */
static void tool_check_usage_error(const char *a1, const char *a2,
                                   const char *a3, const char *a4,
                                   const char *line)
{
    const char *out, *err;
    const char *want = apr_pstrcat(xt_p, line, "\ntry 'xpipe --help'\n", NULL);
    int code = tool_once(&out, &err, a1, a2, a3, a4);

    CU_ASSERT_EQUAL(code, 2);
    CU_ASSERT_STRING_EQUAL(out, "");
    /* Windows' C runtime may write \r\n: compare without the \r. */
    {
        char *e = apr_pstrdup(xt_p, err), *w = e;
        const char *r;
        for (r = e; *r; r++)
            if (*r != '\r')
                *w++ = *r;
        *w = '\0';
        CU_ASSERT_STRING_EQUAL(e, want);
        if (strcmp(e, want) != 0)
            printf("\n  usage error was: [%s]\n  expected: [%s]\n", e, want);
    }
}

static void test_tool_usage_errors(void)
{
    /* Arguments ("@" stands for a name nobody serves) and the line. */
    static const struct {
        const char *args[4];
        const char *line;
    } cases[] = {
        { { NULL },
          "missing command (listen, connect, spawn, resolve or help)" },
        { { "bogus" }, "unknown command 'bogus'" },
        { { "listen" }, "listen: missing NAME" },
        { { "listen", "a", "b" },
          "listen: unexpected argument 'b' (one NAME only)" },
        { { "connect", "--timeout", "soon", "@" },
          "connect: --timeout takes seconds, not 'soon'" },
        { { "connect", "--nope", "@" }, "connect: invalid option: --nope" },
        { { "connect", "@", "--timeout" },
          "connect: missing argument: --timeout" },
        { { "connect", "--echo", "@" },
          "connect: --echo is not an option of connect" },
        { { "resolve", "a", "b" },
          "resolve: unexpected argument 'b' (one NAME only)" },
        { { "help", "bogus" }, "help: unknown command 'bogus'" },
        { { "bench", "--quick" },
          "the benchmarks are a program of their own: xpipe-bench (built "
          "beside xpipe; ./run bench)" },
    };
    const char *none = xt_name(), *a[4];
    size_t i, k;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (k = 0; k < 4; k++)
            a[k] = cases[i].args[k] && strcmp(cases[i].args[k], "@") == 0
                       ? none
                       : cases[i].args[k];
        tool_check_usage_error(
            a[0], a[1], a[2], a[3],
            apr_pstrcat(xt_p, "xpipe: ", cases[i].line, NULL));
    }
}

static void test_tool_help(void)
{
    const char *out, *err, *out2;
    static const char *const cmds[] = { "listen", "connect", "resolve",
                                        "help" };
    size_t i;

    /* xpipe --help: every command; exit 0, on stdout. */
    CU_ASSERT_EQUAL(tool_once(&out, &err, "--help", NULL, NULL, NULL), 0);
    for (i = 0; i < 4; i++)
        CU_ASSERT(strstr(out, apr_psprintf(xt_p, "xpipe %s ", cmds[i]))
                  != NULL);
    CU_ASSERT_STRING_EQUAL(err, "");
    /* xpipe CMD --help and xpipe help CMD print the same, about CMD only. */
    for (i = 0; i < 4; i++) {
        CU_ASSERT_EQUAL(tool_once(&out, &err, cmds[i], "--help", NULL, NULL),
                        0);
        CU_ASSERT_EQUAL(tool_once(&out2, &err, "help", cmds[i], NULL, NULL), 0);
        CU_ASSERT_STRING_EQUAL(out, out2);
        CU_ASSERT(strncmp(out, apr_psprintf(xt_p, "usage: xpipe %s ", cmds[i]),
                          strlen(cmds[i]) + 14)
                  == 0);
    }
    /* Per command: listen's options are not connect's. */
    CU_ASSERT_EQUAL(tool_once(&out, &err, "connect", "--help", NULL, NULL), 0);
    CU_ASSERT(strstr(out, "--wait") != NULL);
    CU_ASSERT(strstr(out, "--echo") == NULL);
    /* resolve --help is help, not a name to resolve. */
    CU_ASSERT_EQUAL(tool_once(&out, &err, "resolve", "--help", NULL, NULL), 0);
    CU_ASSERT(strstr(out, "usage: xpipe resolve NAME") != NULL);
    CU_ASSERT(strstr(out, "--help") != NULL);
    /* The benchmarks are a program of their own: the tool says where. */
    CU_ASSERT_EQUAL(tool_once(&out, &err, "bench", NULL, NULL, NULL), 2);
    CU_ASSERT(strstr(err, "xpipe-bench") != NULL);
    CU_ASSERT_EQUAL(prog_once_within(xt_bench_path(), &out, &err, XT_LONG,
                                     "--help", NULL, NULL, NULL),
                    0);
    CU_ASSERT(strstr(out, "usage: xpipe-bench") != NULL);
    /* Its usage errors: one line, and where its help is. */
    CU_ASSERT_EQUAL(prog_once_within(xt_bench_path(), &out, &err, XT_LONG,
                                     "--rounds", "0", NULL, NULL),
                    2);
    CU_ASSERT(strstr(err, "xpipe: bench: --rounds takes 1 to 16") != NULL);
    CU_ASSERT(strstr(err, "try 'xpipe-bench --help'") != NULL);
}

static void test_tool_missing_directory(void)
{
    const char *out, *err;
    const char *dir = apr_psprintf(xt_p, "/nonexistent-%ld/sub", xt_pid());
    int code = tool_once(&out, &err, "listen",
                         apr_pstrcat(xt_p, dir, "/s.sock", NULL), NULL, NULL);

    CU_ASSERT_EQUAL(code, 1);
#ifdef _WIN32
    /* Not a pipe name on Windows at all: said so, nothing about files. */
    CU_ASSERT(strstr(err, "invalid pipe name") != NULL);
#else
    CU_ASSERT(
        strstr(err, apr_psprintf(xt_p, "directory %s does not exist", dir))
        != NULL);
#endif
    CU_ASSERT(strstr(err, ".lock") == NULL);
}

/* Feeds a tool's stdin until told to stop or the tool stops reading. */
typedef struct feeder_t {
    apr_file_t *in;
    apr_size_t total, written;
} feeder_t;

static apr_status_t feed_main(void *arg)
{
    feeder_t *f = arg;
    static char chunk[65536];
    apr_status_t rv = APR_SUCCESS;

#ifndef _WIN32
    /* This thread's writes to a pipe whose reader died fail with EPIPE
     * instead of raising SIGPIPE (a pending one dies with the thread). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
#endif
    memset(chunk, 'x', sizeof(chunk));
    while (rv == APR_SUCCESS && f->written < f->total) {
        apr_size_t n = sizeof(chunk);
        rv = apr_file_write_full(f->in, chunk, n, &n);
        f->written += n;
    }
    apr_file_close(f->in);
    return rv;
}

/* Read n bytes of a tool's stdout, no more (deadline: the pipe's
 * timeout); returns how many came. */
static apr_size_t tool_drain(tool_run_t *t, apr_size_t n)
{
    char buf[65536];
    apr_size_t got = 0;

    while (got < n) {
        apr_size_t k = n - got < sizeof(buf) ? n - got : sizeof(buf);
        apr_status_t rv = apr_file_read(t->out, buf, &k);
        if (rv != APR_SUCCESS) {
            if (got < n && !APR_STATUS_IS_EOF(rv))
                printf("\n  reading the tool's stdout: %s after %lu bytes\n",
                       xpipe_status_name(rv), (unsigned long)got);
            break;
        }
        got += k;
    }
    return got;
}

static void test_tool_peer_killed_mid_transfer(void)
{
    const char *name = xt_name(), *err;
    tool_run_t srv, cli;
    feeder_t f = { NULL, 64 << 20, 0 };
    apr_thread_t *t;
    int code;

    tool_start(&srv, "listen", "--once", name, NULL, NULL, NULL);
    tool_start(&cli, "connect", "--wait", name, NULL, NULL, NULL);
    f.in = cli.in;
    t = xt_thread(feed_main, &f);
    /* The client's stdin is flowing to the server's stdout... */
    if (tool_drain(&srv, 256 << 10) != 256 << 10) {
        CU_FAIL("the transfer did not start");
        printf("\n  server exit %d",
               xt_child_wait(&srv.proc, APR_USEC_PER_SEC));
        printf(", said: %s\n", tool_slurp(srv.err));
        xt_child_kill(&cli.proc);
        tool_wait(&cli);
        printf("  client said: %s\n", tool_slurp(cli.err));
        xt_join(t);
        return;
    }
    /* ... when the server dies (SIGKILL / TerminateProcess). */
    xt_child_kill(&srv.proc);
    code = tool_wait(&cli);
    err = tool_slurp(cli.err);
    /* Not all of stdin was delivered: exit 1 with the cause. */
    CU_ASSERT_EQUAL(code, 1);
    CU_ASSERT(strncmp(err, "xpipe: ", 7) == 0);
    CU_ASSERT(strstr(err, "reset") || strstr(err, "closed its end")
              || strstr(err, "not delivered"));
    xt_join(t);
    CU_ASSERT(f.written < f.total);
    if (code != 1 || strncmp(err, "xpipe: ", 7) != 0)
        printf("\n  client exit %d, stderr: %s\n", code, err);
}

static void test_tool_half_closed_peer_gets_everything(void)
{
    const char *name = xt_name();
    tool_run_t srv, cli;
    feeder_t f = { NULL, 4 << 20, 0 };
    apr_thread_t *t;

    /* The server sends nothing and ends its side at once (its stdin is
     * empty); the client's stdin must still reach it in full. */
    tool_start(&srv, "listen", "--once", name, NULL, NULL, NULL);
    tool_feed(&srv, NULL, 1);
    tool_start(&cli, "connect", "--wait", name, NULL, NULL, NULL);
    f.in = cli.in;
    t = xt_thread(feed_main, &f);
    CU_ASSERT_EQUAL(tool_drain(&srv, f.total + 1), f.total);
    CU_ASSERT_EQUAL(xt_join(t), APR_SUCCESS);
    CU_ASSERT_EQUAL(f.written, f.total);
    CU_ASSERT_EQUAL(tool_wait(&cli), 0);
    CU_ASSERT_EQUAL(tool_wait(&srv), 0);
}

static void test_tool_killed_listener_name_reused(void)
{
    const char *name = xt_name();
    tool_run_t srv, cli;

    tool_start(&srv, "listen", "--echo", name, NULL, NULL, NULL);
    tool_start(&cli, "connect", "--wait", name, NULL, NULL, NULL);
    tool_converse(&cli, "up?\n", "up?\n");
    xt_child_kill(&srv.proc); /* SIGKILL / TerminateProcess: no clean-up */
    /* Whatever it left (a stale socket file on POSIX) does not stop the
     * next server. */
    tool_start(&srv, "listen", "--echo", name, NULL, NULL, NULL);
    tool_start(&cli, "connect", "--wait", name, NULL, NULL, NULL);
    tool_converse(&cli, "again\n", "again\n");
    tool_stop(&srv);
    tool_wait(&srv);
}

static void test_tool_bench_quick(void)
{
    /* A smoke test that the benchmark runs here; it asserts no speed.
     * It starts a server process per measurement (19 of them), which
     * takes Wine more than 10 s when it is slow: a minute to finish. */
    const char *out, *err;

    CU_ASSERT_EQUAL(prog_once_within(xt_bench_path(), &out, &err,
                                     60 * APR_USEC_PER_SEC, "--quick", "--cpu",
                                     "any", NULL),
                    0);
    CU_ASSERT(strstr(out, "xpipe/raw") != NULL);
    CU_ASSERT(strstr(out, "connect + 1 B echo + close") != NULL);
    if (strstr(out, "xpipe/raw") == NULL)
        printf("  bench said: %s%s\n", out, err);
    /* bench many: every server of this build answers 8 clients. */
    CU_ASSERT_EQUAL(prog_once_within(xt_bench_path(), &out, &err, XT_LONG,
                                     "many", "--quick", NULL, NULL),
                    0);
    CU_ASSERT(strstr(out, "xpipe poll set, 1 thread") != NULL);
    CU_ASSERT(strstr(out, "ratio to raw") != NULL);
    if (strstr(out, "ratio to raw") == NULL)
        printf("  bench many said: %s%s\n", out, err);
}

CU_TestInfo xt_tool_tests[] = {
    { "listen + connect relay stdin/stdout both ways",
      test_tool_relay_both_ways },
    { "--echo serves several clients at once; a stop is clean",
      test_tool_echo_several_clients },
    { "--echo: one thread serves 1,000 socat clients", test_tool_echo_socat },
    { "examples/event_server serves hello_client processes",
      test_tool_event_server_example },
    { "--message: one line, one message", test_tool_message_lines },
    { "exit statuses 0 and 1 with their messages", test_tool_exit_statuses },
    { "spawn: stdin and stdout through a child's channel", test_tool_spawn },
    { "usage errors: one line naming the problem, exit 2",
      test_tool_usage_errors },
    { "help: --help, CMD --help, help CMD", test_tool_help },
    { "listen in a missing directory says so (Windows: not a pipe name)",
      test_tool_missing_directory },
    { "a peer killed mid-transfer: connect exits 1 with the cause",
      test_tool_peer_killed_mid_transfer },
    { "a peer that ended its side still receives all of stdin",
      test_tool_half_closed_peer_gets_everything },
    { "a killed listener's name serves again",
      test_tool_killed_listener_name_reused },
    { "xpipe-bench --quick and xpipe-bench many --quick run (smoke tests)",
      test_tool_bench_quick },
    CU_TEST_INFO_NULL,
};
