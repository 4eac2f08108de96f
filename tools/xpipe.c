/* SPDX-License-Identifier: Apache-2.0 */
/* xpipe.c — the xpipe command-line tool: serve, connect, resolve and
 * benchmark pipes from a shell, like socat does for sockets. A thin
 * program over the public API (bench lives in bench.c).
 */
#include "xpipe.h"
#include "tool.h"

#include <apr_file_io.h>
#include <apr_getopt.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <io.h>
#include <windows.h>
#define tool_isatty(fd) _isatty(fd)
#else
#include <signal.h>
#include <unistd.h>
#define tool_isatty(fd) isatty(fd)
#endif

static const char tool_usage[] =
    "usage: xpipe listen [options] NAME     serve NAME: relay the first "
    "client\n"
    "                                       to stdin/stdout (--echo: echo "
    "all)\n"
    "       xpipe connect [options] NAME    relay stdin/stdout to the server\n"
    "       xpipe resolve NAME              print the native name of NAME\n"
    "       xpipe bench [bench options]     measure xpipe against raw OS "
    "calls\n"
    "                                       (xpipe bench --help)\n"
    "options:\n"
    "  --echo               listen: echo every client back, many at once\n"
    "  --once               listen: exit after the first client\n"
    "  --message            message mode: one stdin line = one message, one\n"
    "                       message = one output line (empty lines skipped)\n"
    "  --timeout SECONDS    connect/accept deadline (connect default 10)\n"
    "  --wait               connect: wait (to the deadline) for the server to\n"
    "                       appear instead of failing at once\n"
    "  --linger SECONDS     after stdin ends where a pipe cannot half-close\n"
    "                       (Windows), wait this long for the peer's last\n"
    "                       data (default 0.5)\n"
    "  --mode OCTAL         POSIX socket permissions (default 600)\n"
    "  --group GID          POSIX socket group\n"
    "  --sddl STRING        Windows security descriptor (SDDL)\n"
    "  --peer WHO           only talk to peers running as WHO: self, a uid\n"
    "                       or a SID\n"
    "  --accept-remote      Windows: accept clients from other machines\n"
    "  --smb                listen: serve \\\\host\\pipe\\NAME to SMB clients "
    "too\n"
    "                       (Windows: the OS's; POSIX: through a local Samba)\n"
    "  --smb-dir DIR        POSIX: Samba's np directory (default: from\n"
    "                       smb.conf's \"ncalrpc dir\", plus /np)\n"
    "  --max-message BYTES  largest message (default 65536)\n"
    "  --progress           show bytes and rate on stderr (a terminal)\n"
    "  -v                   one line per connection with the peer's identity\n"
    "  --help, --version\n"
    "exit status: 0 success, 1 failure, 2 bad usage\n";

typedef struct tool_t {
    apr_pool_t *pool;
    xpipe_attr_t *attr;
    apr_interval_time_t timeout;
    apr_interval_time_t linger;
    int echo, once, message, verbose, progress;
    apr_file_t *in, *out;
} tool_t;

/* ------------------------------------------------------------------ */
/* Reporting */

/* The tool's version is the headers' it was built with; the library's is
 * asked at run time (another libxpipe.so.0 may be loaded). */
static int tool_version(void)
{
    printf("xpipe %s (library %s, backend %s)\n", XPIPE_VERSION_STRING,
           xpipe_version_string(), xpipe_backend_name());
    return 0;
}

int tool_fail(const char *what, apr_status_t rv)
{
    char buf[256];
    const char *detail = xpipe_error_detail();

    fprintf(stderr, "xpipe: %s: %s%s%s\n", what,
            xpipe_strerror(rv, buf, sizeof(buf)), detail[0] ? " — " : "",
            detail);
    return 1;
}

int tool_usage_error(const char *why)
{
    if (why)
        fprintf(stderr, "xpipe: %s\n", why);
    fputs(tool_usage, stderr);
    return 2;
}

static void tool_peer_line(xpipe_t *ch, const char *what)
{
    xpipe_peer_t p;

    if (xpipe_peer_get(ch, &p) != APR_SUCCESS) {
        fprintf(stderr, "xpipe: %s (peer unknown)\n", what);
        return;
    }
    if (p.have & XPIPE_PEER_REMOTE)
        fprintf(stderr, "xpipe: %s: network client %s\\%s on %s (%s port %u)",
                what, p.domain ? p.domain : "?", p.account ? p.account : "?",
                p.host ? p.host : "?", p.address ? p.address : "?", p.port);
    else
        fprintf(stderr, "xpipe: %s: pid %ld", what,
                p.have & XPIPE_PEER_PID ? p.pid : -1L);
    if (p.have & XPIPE_PEER_UID)
        fprintf(stderr, " uid %ld gid %ld", p.uid, p.gid);
    if (p.have & XPIPE_PEER_SID)
        fprintf(stderr, " sid %s", p.sid);
    fputc('\n', stderr);
}

/* ------------------------------------------------------------------ */
/* Stopping on Ctrl-C / SIGTERM: close the listener and every channel from
 * the signal thread; the calls blocked on them return XPIPE_ECLOSED. */

static apr_thread_mutex_t *stop_lock;
static xpipe_listener_t *stop_listener;
static xpipe_t *stop_channels[256];
static volatile int stop_requested;

static void stop_now(void)
{
    int i;

    apr_thread_mutex_lock(stop_lock);
    stop_requested = 1;
    if (stop_listener)
        xpipe_listener_interrupt(stop_listener);
    for (i = 0; i < 256; i++)
        if (stop_channels[i])
            xpipe_interrupt(stop_channels[i]);
    apr_thread_mutex_unlock(stop_lock);
}

/* Register (on) or forget a channel that a stop must wake. */
static void stop_track(xpipe_t *ch, int on)
{
    int i;

    apr_thread_mutex_lock(stop_lock);
    for (i = 0; i < 256; i++)
        if (stop_channels[i] == (on ? NULL : ch)) {
            stop_channels[i] = on ? ch : NULL;
            break;
        }
    if (on && stop_requested)
        xpipe_interrupt(ch);
    apr_thread_mutex_unlock(stop_lock);
}

#ifdef _WIN32
static BOOL WINAPI stop_console(DWORD type)
{
    (void)type;
    stop_now();
    return TRUE;
}

static apr_status_t stop_setup(apr_pool_t *pool)
{
    SetConsoleCtrlHandler(stop_console, TRUE);
    return apr_thread_mutex_create(&stop_lock, APR_THREAD_MUTEX_DEFAULT, pool);
}
#else
static int stop_signal(int signum)
{
    if (signum != SIGINT && signum != SIGTERM && signum != SIGHUP)
        return 0;
    stop_now();
    return 1;
}

static void *APR_THREAD_FUNC stop_thread(apr_thread_t *t, void *data)
{
    (void)data;
    apr_signal_thread(stop_signal);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static apr_status_t stop_setup(apr_pool_t *pool)
{
    apr_thread_t *t;
    apr_threadattr_t *ta;
    apr_status_t rv;

    /* Signals go to one thread, which turns them into xpipe calls. */
    rv = apr_thread_mutex_create(&stop_lock, APR_THREAD_MUTEX_DEFAULT, pool);
    if (rv == APR_SUCCESS)
        rv = apr_setup_signal_thread();
    if (rv == APR_SUCCESS)
        rv = apr_threadattr_create(&ta, pool);
    if (rv == APR_SUCCESS)
        rv = apr_threadattr_detach_set(ta, 1);
    if (rv == APR_SUCCESS)
        rv = apr_thread_create(&t, ta, stop_thread, NULL, pool);
    return rv;
}
#endif

/* ------------------------------------------------------------------ */
/* Progress */

typedef struct progress_t {
    volatile apr_uint64_t sent, received;
    volatile int done;
    apr_time_t start;
} progress_t;

static void *APR_THREAD_FUNC progress_main(apr_thread_t *t, void *data)
{
    progress_t *p = data;

    while (!p->done) {
        double secs = (double)(apr_time_now() - p->start) / APR_USEC_PER_SEC;
        double total = (double)(p->sent + p->received);
        fprintf(stderr, "\r%12.0f bytes out %12.0f in  %8.2f MB/s ",
                (double)p->sent, (double)p->received,
                secs > 0 ? total / secs / 1e6 : 0.0);
        apr_sleep(250000); /* display refresh, not synchronisation */
    }
    fputc('\n', stderr);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Relay: stdin -> channel in a thread, channel -> stdout here */

typedef struct relay_t {
    tool_t *tool;
    xpipe_t *ch;
    progress_t *prog;
    volatile int in_done;   /* stdin ended */
    volatile int lingering; /* ... and the pipe could not half-close */
    apr_status_t in_rv;
} relay_t;

static void *APR_THREAD_FUNC relay_stdin(apr_thread_t *t, void *data)
{
    relay_t *r = data;
    tool_t *tool = r->tool;
    apr_size_t cap = xpipe_attr_max_message_get(tool->attr) + 2;
    char *buf = malloc(cap < 65536 ? 65536 : cap);
    apr_status_t rv = APR_SUCCESS;

    while (rv == APR_SUCCESS && !stop_requested) {
        apr_size_t n = 65536;
        if (tool->message) {
            rv = apr_file_gets(buf, (int)cap, tool->in);
            n = strlen(buf);
            if (rv == APR_SUCCESS && n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
            if (rv == APR_SUCCESS && n > 0 && buf[n - 1] == '\r')
                buf[--n] = '\0';
            if (rv == APR_EOF && n > 0)
                rv = APR_SUCCESS; /* a last line without a newline */
            if (rv == APR_SUCCESS && n > 0)
                rv = xpipe_send(r->ch, buf, n);
        }
        else {
            rv = apr_file_read(tool->in, buf, &n);
            if (rv == APR_SUCCESS)
                rv = xpipe_write_full(r->ch, buf, n, NULL);
        }
        if (rv == APR_SUCCESS && r->prog)
            r->prog->sent += n;
    }
    free(buf);
    r->in_rv = APR_STATUS_IS_EOF(rv) ? APR_SUCCESS : rv;
    if (APR_STATUS_IS_EOF(rv)) {
        /* Tell the peer we are done sending. Named pipes cannot half
         * close: then the reader lingers for the peer's last data. */
        if (xpipe_shutdown(r->ch, XPIPE_SHUTDOWN_WRITE) == APR_ENOTIMPL) {
            r->lingering = 1;
            xpipe_interrupt(r->ch); /* the reader re-reads with --linger */
        }
    }
    else
        xpipe_interrupt(r->ch); /* the peer is gone or we failed */
    r->in_done = 1;
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

static int tool_relay(tool_t *tool, xpipe_t *ch)
{
    apr_size_t cap = xpipe_attr_max_message_get(tool->attr);
    char *buf = malloc(cap < 65536 ? 65536 : cap + 1);
    /* The stdin thread may outlive this call (blocked in a read of stdin
     * when the peer ends first), so what it touches lives in the pool. */
    relay_t *rp = apr_pcalloc(tool->pool, sizeof(*rp));
    progress_t *pp = apr_pcalloc(tool->pool, sizeof(*pp));
    apr_thread_t *in_thread, *prog_thread = NULL;
    apr_status_t rv = APR_SUCCESS;

    rp->tool = tool;
    rp->ch = ch;
    pp->start = apr_time_now();
    if (tool->progress && tool_isatty(2)) {
        rp->prog = pp;
        apr_thread_create(&prog_thread, NULL, progress_main, pp, tool->pool);
    }
    stop_track(ch, 1);
    /* The stdin thread may stay blocked in a read when the peer ends
     * first; it is detached and ends with the process. */
    {
        apr_threadattr_t *ta;
        apr_threadattr_create(&ta, tool->pool);
        apr_threadattr_detach_set(ta, 1);
        apr_thread_create(&in_thread, ta, relay_stdin, rp, tool->pool);
    }
    for (;;) {
        apr_size_t n = cap < 65536 ? 65536 : cap;
        rv = tool->message ? xpipe_recv(ch, buf, &n) : xpipe_read(ch, buf, &n);
        if (rv == APR_SUCCESS) {
            if (tool->message)
                buf[n++] = '\n';
            if (rp->prog)
                pp->received += n;
            rv = apr_file_write_full(tool->out, buf, n, NULL);
            if (rv == APR_SUCCESS)
                rv = apr_file_flush(tool->out);
            if (rv != APR_SUCCESS) {
                tool_fail("writing stdout", rv);
                break;
            }
            continue;
        }
        if (rv == XPIPE_ECANCELED && !stop_requested) {
            if (rp->lingering)
                xpipe_timeout_set(ch, tool->linger);
            if (!rp->in_done || rp->in_rv == APR_SUCCESS)
                continue;
            rv = rp->in_rv; /* sending failed: report that */
        }
        if (APR_STATUS_IS_TIMEUP(rv) && rp->lingering)
            rv = APR_EOF; /* the peer had nothing more to say */
        break;
    }
    stop_track(ch, 0);
    pp->done = 1;
    if (prog_thread) {
        apr_status_t prv;
        apr_thread_join(&prv, prog_thread);
    }
    free(buf);
    if (APR_STATUS_IS_EOF(rv) || XPIPE_STATUS_IS_ECANCELED(rv))
        return 0; /* the end, or a stop by signal */
    if (XPIPE_STATUS_IS_PEER_GONE(rv))
        return 0; /* the peer left: the relay is over */
    return tool_fail("relay", rv);
}

/* ------------------------------------------------------------------ */
/* Echo server: a thread per client */

typedef struct echo_worker_t {
    tool_t *tool;
    xpipe_t *ch;
    apr_thread_t *thread;
    volatile int done;
} echo_worker_t;

static void *APR_THREAD_FUNC echo_main(apr_thread_t *t, void *data)
{
    echo_worker_t *w = data;
    tool_t *tool = w->tool;
    apr_size_t cap = xpipe_attr_max_message_get(tool->attr);
    char *buf = malloc(cap < 65536 ? 65536 : cap);
    apr_status_t rv;

    stop_track(w->ch, 1);
    for (;;) {
        apr_size_t n = cap < 65536 ? 65536 : cap;
        rv = tool->message ? xpipe_recv(w->ch, buf, &n)
                           : xpipe_read(w->ch, buf, &n);
        if (rv != APR_SUCCESS)
            break;
        rv = tool->message ? xpipe_send(w->ch, buf, n)
                           : xpipe_write_full(w->ch, buf, n, NULL);
        if (rv != APR_SUCCESS)
            break;
    }
    stop_track(w->ch, 0);
    if (tool->verbose)
        fprintf(stderr, "xpipe: client done (%s)\n",
                APR_STATUS_IS_EOF(rv) ? "end of stream"
                                      : xpipe_status_name(rv));
    xpipe_close(w->ch);
    free(buf);
    w->done = 1;
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* Join the workers that have finished; with all, wait for every one. */
static int echo_reap(echo_worker_t **workers, int n, int all)
{
    int i, k = 0;

    for (i = 0; i < n; i++) {
        apr_status_t rv;
        if (workers[i]->done || all) {
            apr_thread_join(&rv, workers[i]->thread);
            free(workers[i]);
        }
        else
            workers[k++] = workers[i];
    }
    return k;
}

static int tool_listen(tool_t *tool, const char *name)
{
    echo_worker_t **workers = calloc(256, sizeof(*workers));
    xpipe_listener_t *l;
    int nworkers = 0, rc = 0;
    apr_status_t rv;

    rv = xpipe_listen(&l, name, tool->attr, tool->pool);
    if (rv != APR_SUCCESS) {
        free(workers);
        return tool_fail(apr_psprintf(tool->pool, "listen %s", name), rv);
    }
    if (tool->verbose)
        fprintf(stderr, "xpipe: listening on %s (%s)\n", name,
                xpipe_listener_native_name(l));
    apr_thread_mutex_lock(stop_lock);
    stop_listener = l;
    apr_thread_mutex_unlock(stop_lock);
    while (!stop_requested) {
        xpipe_t *ch;
        rv = xpipe_accept(&ch, l, tool->timeout, NULL);
        if (rv != APR_SUCCESS) {
            if (!stop_requested)
                rc = tool_fail("accept", rv);
            break;
        }
        if (tool->verbose)
            tool_peer_line(ch, "client connected");
        if (!tool->echo) { /* relay the first client, then end */
            rc = tool_relay(tool, ch);
            xpipe_close(ch);
            break;
        }
        nworkers = echo_reap(workers, nworkers, 0);
        if (nworkers == 256) { /* at capacity: wait for the oldest */
            nworkers = echo_reap(workers, nworkers, 1);
        }
        workers[nworkers] = calloc(1, sizeof(echo_worker_t));
        workers[nworkers]->tool = tool;
        workers[nworkers]->ch = ch;
        rv = apr_thread_create(&workers[nworkers]->thread, NULL, echo_main,
                               workers[nworkers], tool->pool);
        if (rv != APR_SUCCESS) {
            xpipe_close(ch);
            free(workers[nworkers]);
            rc = tool_fail("thread", rv);
            break;
        }
        nworkers++;
        if (tool->once)
            break;
    }
    apr_thread_mutex_lock(stop_lock);
    stop_listener = NULL;
    apr_thread_mutex_unlock(stop_lock);
    /* Stop taking clients (and remove the socket file), then let the
     * workers finish: with --once the client's own end; on a stop, the
     * interrupt already woke them. */
    xpipe_listener_close(l);
    echo_reap(workers, nworkers, 1);
    free(workers);
    return rc;
}

static int tool_connect(tool_t *tool, const char *name)
{
    xpipe_t *ch;
    apr_status_t rv;
    int rc;

    rv = xpipe_connect(
        &ch, name, tool->attr,
        tool->timeout < 0 ? 10 * APR_USEC_PER_SEC : tool->timeout, tool->pool);
    if (rv != APR_SUCCESS)
        return tool_fail(apr_psprintf(tool->pool, "connect %s", name), rv);
    if (tool->verbose)
        tool_peer_line(ch, "connected to server");
    rc = tool_relay(tool, ch);
    xpipe_close(ch);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Options */

enum {
    OPT_ECHO = 256,
    OPT_ONCE,
    OPT_MESSAGE,
    OPT_TIMEOUT,
    OPT_LINGER,
    OPT_MODE,
    OPT_GROUP,
    OPT_SDDL,
    OPT_PEER,
    OPT_REMOTE,
    OPT_MAXMSG,
    OPT_PROGRESS,
    OPT_HELP,
    OPT_VERSION,
    OPT_WAIT,
    OPT_SMB,
    OPT_SMB_DIR
};

static const apr_getopt_option_t tool_opts[] = {
    { "echo", OPT_ECHO, 0, "echo every client" },
    { "once", OPT_ONCE, 0, "exit after the first client" },
    { "message", OPT_MESSAGE, 0, "message mode" },
    { "timeout", OPT_TIMEOUT, 1, "deadline in seconds" },
    { "linger", OPT_LINGER, 1, "wait after stdin ends (no half close)" },
    { "mode", OPT_MODE, 1, "POSIX permissions" },
    { "group", OPT_GROUP, 1, "POSIX group" },
    { "sddl", OPT_SDDL, 1, "Windows SDDL" },
    { "peer", OPT_PEER, 1, "required peer identity" },
    { "accept-remote", OPT_REMOTE, 0, "Windows: remote clients" },
    { "smb", OPT_SMB, 0, "export to SMB clients" },
    { "smb-dir", OPT_SMB_DIR, 1, "Samba's np directory" },
    { "max-message", OPT_MAXMSG, 1, "largest message" },
    { "progress", OPT_PROGRESS, 0, "progress on stderr" },
    { "wait", OPT_WAIT, 0, "wait for the server" },
    { "help", OPT_HELP, 0, "help" },
    { "version", OPT_VERSION, 0, "version" },
    { NULL, 'v', 0, "verbose" },
    { NULL, 0, 0, NULL },
};

/* Seconds (a decimal) to an interval; -2 when malformed. */
apr_interval_time_t tool_seconds(const char *s)
{
    char *end;
    double d = strtod(s, &end);

    if (end == s || *end || d < 0 || d > 1e6)
        return -2;
    return (apr_interval_time_t)(d * APR_USEC_PER_SEC);
}

static int tool_parse(tool_t *tool, int argc, const char *const *argv,
                      const char **name)
{
    apr_getopt_t *os;
    const char *arg;
    char *end;
    long v;
    int ch;
    apr_status_t rv;

    apr_getopt_init(&os, tool->pool, argc, argv);
    os->errfn = NULL; /* we print our own usage */
    /* Options start after the command and may follow NAME too. */
    os->ind = os->skip_start = os->skip_end = 2;
    os->interleave = 1;
    while ((rv = apr_getopt_long(os, tool_opts, &ch, &arg)) == APR_SUCCESS) {
        switch (ch) {
        case OPT_ECHO: tool->echo = 1; break;
        case OPT_ONCE: tool->once = 1; break;
        case OPT_MESSAGE:
            tool->message = 1;
            xpipe_attr_mode_set(tool->attr, XPIPE_MODE_MESSAGE);
            break;
        case OPT_TIMEOUT:
            tool->timeout = tool_seconds(arg);
            if (tool->timeout == -2)
                return tool_usage_error("--timeout takes seconds");
            break;
        case OPT_LINGER:
            tool->linger = tool_seconds(arg);
            if (tool->linger == -2)
                return tool_usage_error("--linger takes seconds");
            break;
        case OPT_MODE:
            v = strtol(arg, &end, 8);
            if (*end || xpipe_attr_permissions_set(tool->attr, (int)v))
                return tool_usage_error("--mode takes octal bits, 0 to 777");
            break;
        case OPT_GROUP:
            v = strtol(arg, &end, 10);
            if (*end || xpipe_attr_group_set(tool->attr, v))
                return tool_usage_error("--group takes a numeric gid");
            break;
        case OPT_SDDL:
            if (xpipe_attr_sddl_set(tool->attr, arg))
                return tool_usage_error(
                    "--sddl: the SDDL string does not parse");
            break;
        case OPT_PEER:
            if (xpipe_attr_peer_require_set(tool->attr, arg))
                return tool_usage_error("--peer takes self, a uid or a SID");
            break;
        case OPT_REMOTE: xpipe_attr_remote_set(tool->attr, 1); break;
        case OPT_SMB:
            xpipe_attr_smb_export_set(tool->attr, 1,
                                      xpipe_attr_smb_np_dir_get(tool->attr));
            break;
        case OPT_SMB_DIR:
            if (xpipe_attr_smb_export_set(tool->attr, 1, arg))
                return tool_usage_error("--smb-dir takes an absolute path");
            break;
        case OPT_MAXMSG:
            v = strtol(arg, &end, 10);
            if (*end || v <= 0
                || xpipe_attr_max_message_set(tool->attr, (apr_size_t)v))
                return tool_usage_error("--max-message takes 1 to 262144");
            break;
        case OPT_PROGRESS: tool->progress = 1; break;
        case OPT_WAIT: xpipe_attr_wait_for_server_set(tool->attr, 1); break;
        case 'v': tool->verbose = 1; break;
        case OPT_HELP: fputs(tool_usage, stdout); return 0;
        case OPT_VERSION: return tool_version();
        }
    }
    if (rv != APR_EOF)
        return tool_usage_error("unknown option or missing argument");
    if (os->ind != argc - 1)
        return tool_usage_error("expected exactly one NAME");
    *name = argv[os->ind];
    return -1; /* go on */
}

int main(int argc, const char *const *argv)
{
    const char *cmd, *name = NULL;
    tool_t tool;
    int rc;

    if (xpipe_initialize() != APR_SUCCESS)
        return 1;
    memset(&tool, 0, sizeof(tool));
    apr_pool_create(&tool.pool, NULL);
    xpipe_attr_create(&tool.attr, tool.pool);
    tool.timeout = -1;
    tool.linger = APR_USEC_PER_SEC / 2;
    cmd = argc > 1 ? argv[1] : "";
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(tool_usage, stdout);
        rc = 0;
    }
    else if (strcmp(cmd, "--version") == 0)
        rc = tool_version();
    else if (strcmp(cmd, "bench") == 0)
        rc = tool_bench(argc, argv, tool.pool);
    else if (strcmp(cmd, "resolve") == 0) {
        const char *native;
        apr_status_t rv;
        if (argc != 3)
            rc = tool_usage_error("resolve takes one NAME");
        else if ((rv = xpipe_name_resolve(&native, argv[2], tool.pool)))
            rc = tool_fail(apr_psprintf(tool.pool, "resolve %s", argv[2]), rv);
        else {
            printf("%s\n", native);
            rc = 0;
        }
    }
    else if (strcmp(cmd, "listen") == 0 || strcmp(cmd, "connect") == 0) {
        rc = tool_parse(&tool, argc, argv, &name);
        if (rc < 0) {
            apr_file_open_stdin(&tool.in, tool.pool);
            apr_file_open_stdout(&tool.out, tool.pool);
            if (stop_setup(tool.pool) != APR_SUCCESS)
                rc = tool_fail("signals", APR_EGENERAL);
            else
                rc = cmd[0] == 'l' ? tool_listen(&tool, name)
                                   : tool_connect(&tool, name);
        }
    }
    else
        rc = tool_usage_error(cmd[0] ? "unknown command" : NULL);
    fflush(stdout);
    /* Threads blocked on stdin may remain: leave without tearing APR down
     * under them. */
    exit(rc);
}
