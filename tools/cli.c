/* SPDX-License-Identifier: Apache-2.0 */
/* cli.c — the xpipe command-line tool: serve, connect, resolve and
 * spawn pipes from a shell, like socat does for sockets. A thin program
 * over the public API (the benchmarks are xpipe-bench: bench_main.c).
 */
#include "xpipe.h"
#include "tool.h"

#include <apr_file_io.h>
#include <apr_getopt.h>
#include <apr_strings.h>
#include <stdarg.h>
#include <apr_thread_cond.h>
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

/* The commands, with their summaries for the usage. */
enum {
    CMD_LISTEN = 1,
    CMD_CONNECT = 2,
    CMD_RESOLVE = 4,
    CMD_HELP = 8,
    CMD_SPAWN = 16
};

typedef struct tool_cmd_t {
    const char *name;
    unsigned int id;
    const char *synopsis; /* after "xpipe NAME " */
    const char *summary;  /* what it does, one or more lines */
} tool_cmd_t;

static const tool_cmd_t tool_cmds[] = {
    { "listen", CMD_LISTEN, "[options] NAME",
      "serve NAME: relay the first client to stdin/stdout until both sides\n"
      "end (--echo: echo every client back, many at once)" },
    { "connect", CMD_CONNECT, "[options] NAME",
      "relay stdin to the server and the server to stdout until both end;\n"
      "exit 1 if the peer vanishes before all of stdin was delivered" },
    { "spawn", CMD_SPAWN, "[options] PROGRAM [ARGS...]",
      "start PROGRAM with a channel as its only extra handle (it takes it\n"
      "with xpipe_child_channel) and relay stdin to it and it to stdout\n"
      "until both end; exit 1 also when PROGRAM fails" },
    { "resolve", CMD_RESOLVE, "NAME",
      "print the native name of NAME (a socket path or a pipe name)" },
    { "help", CMD_HELP, "[COMMAND]", "the usage of COMMAND, or of all" },
    { NULL, 0, NULL, NULL },
};

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
    OPT_SMB_DIR,
    OPT_SMB_USER,
    OPT_SMB_PASS_FILE,
    OPT_SMB_PASS_ENV,
    OPT_SMB_PORT,
    OPT_SMB_DIALECT,
    OPT_SMB_ENCRYPT,
    OPT_SMB_GUEST
};

#define CMD_RELAY (CMD_LISTEN | CMD_CONNECT)
/* The commands that move a stream or messages. */
#define CMD_MOVE (CMD_RELAY | CMD_SPAWN)
#define CMD_ALL (CMD_MOVE | CMD_RESOLVE | CMD_HELP)

/* The options, each once: its name (NULL: a short option only), its
 * code, whether it takes an argument, the commands that take it, the
 * argument's name in the help and its help. apr_getopt's table is made
 * from it (tool_getopt_table). */
typedef struct tool_opt_t {
    const char *name;
    int optch;
    int has_arg;
    unsigned int cmds;
    const char *arg;
    const char *help;
} tool_opt_t;

static const tool_opt_t tool_opts[] = {
    { "echo", OPT_ECHO, 0, CMD_LISTEN, NULL,
      "listen: echo every client back, many at once" },
    { "once", OPT_ONCE, 0, CMD_LISTEN, NULL,
      "listen: exit after the first client" },
    { "message", OPT_MESSAGE, 0, CMD_MOVE, NULL,
      "message mode: one stdin line = one message, one\n"
      "message = one output line (empty lines skipped)" },
    { "timeout", OPT_TIMEOUT, 1, CMD_RELAY, "SECONDS",
      "connect/accept deadline (connect default 10)" },
    { "wait", OPT_WAIT, 0, CMD_CONNECT, NULL,
      "connect: wait (to the deadline) for the server to\n"
      "appear instead of failing at once" },
    { "linger", OPT_LINGER, 1, CMD_MOVE, "SECONDS",
      "when one direction has ended, how long the other\n"
      "may go without progress; also, where a pipe cannot\n"
      "half-close (Windows), how long to wait for the\n"
      "peer's last data after stdin ends (default 0.5)" },
    { "mode", OPT_MODE, 1, CMD_LISTEN, "OCTAL",
      "POSIX socket permissions (default 600)" },
    { "group", OPT_GROUP, 1, CMD_LISTEN, "GID", "POSIX socket group" },
    { "sddl", OPT_SDDL, 1, CMD_LISTEN, "STRING",
      "Windows security descriptor (SDDL)" },
    { "peer", OPT_PEER, 1, CMD_RELAY, "WHO",
      "only talk to peers running as WHO: self, a uid\n"
      "or a SID" },
    { "accept-remote", OPT_REMOTE, 0, CMD_LISTEN, NULL,
      "Windows: accept clients from other machines" },
    { "smb", OPT_SMB, 0, CMD_LISTEN, NULL,
      "listen: serve \\\\host\\pipe\\NAME to SMB clients too\n"
      "(Windows: the OS's; POSIX: through a local Samba)" },
    { "smb-dir", OPT_SMB_DIR, 1, CMD_LISTEN, "DIR",
      "POSIX: Samba's np directory (default: from\n"
      "smb.conf's \"ncalrpc dir\", plus /np)" },
    { "smb-user", OPT_SMB_USER, 1, CMD_CONNECT, "[DOMAIN\\]USER",
      "POSIX, \\\\host\\pipe\\NAME: authenticate as USER\n"
      "(NTLM; default: the Kerberos ticket, or\n"
      "$NTLM_USER_FILE)" },
    { "smb-password-file", OPT_SMB_PASS_FILE, 1, CMD_CONNECT, "FILE",
      "POSIX: USER's password, the file's first line" },
    { "smb-password-env", OPT_SMB_PASS_ENV, 1, CMD_CONNECT, "VAR",
      "POSIX: USER's password, from environment VAR\n"
      "(never on the command line)" },
    { "smb-port", OPT_SMB_PORT, 1, CMD_CONNECT, "PORT",
      "POSIX: the SMB server's port (default 445)" },
    { "smb-dialect", OPT_SMB_DIALECT, 1, CMD_CONNECT, "MIN[:MAX]",
      "POSIX: SMB dialects to offer, 2.0.2 2.1 3.0\n"
      "3.0.2 3.1.1 (default 2.0.2:3.1.1)" },
    { "smb-encrypt", OPT_SMB_ENCRYPT, 0, CMD_CONNECT, NULL,
      "POSIX: encrypt every SMB message" },
    { "smb-guest", OPT_SMB_GUEST, 0, CMD_CONNECT, NULL,
      "POSIX: accept a guest session (unsigned; refused\n"
      "by default)" },
    { "max-message", OPT_MAXMSG, 1, CMD_MOVE, "BYTES",
      "largest message (default 65536)" },
    { "progress", OPT_PROGRESS, 0, CMD_MOVE, NULL,
      "show bytes and rate on stderr (a terminal)" },
    { NULL, 'v', 0, CMD_MOVE, NULL,
      "one line per connection with the peer's identity" },
    { "help", OPT_HELP, 0, CMD_ALL, NULL, "this help" },
    { "version", OPT_VERSION, 0, 0, NULL,
      "the versions of the tool and the library" },
    { NULL, 0, 0, 0, NULL, NULL },
};

#define TOOL_NOPTS (sizeof(tool_opts) / sizeof(tool_opts[0]))

/* apr_getopt's table, from tool_opts. */
static const apr_getopt_option_t *tool_getopt_table(void)
{
    static apr_getopt_option_t table[TOOL_NOPTS];
    size_t i;

    for (i = 0; i < TOOL_NOPTS; i++) {
        table[i].name = tool_opts[i].name;
        table[i].optch = tool_opts[i].optch;
        table[i].has_arg = tool_opts[i].has_arg;
        table[i].description = tool_opts[i].help ? "" : NULL;
    }
    return table;
}

/* The usage of one command (cmd), or of all (NULL), on f. */
static void tool_usage(FILE *f, const tool_cmd_t *cmd)
{
    const tool_cmd_t *c;
    unsigned int want = cmd ? cmd->id : CMD_ALL;
    size_t i;

    for (c = tool_cmds; c->name; c++) {
        const char *p;
        if (cmd && c != cmd)
            continue;
        fprintf(f, "%s xpipe %s %s\n",
                c == tool_cmds || cmd ? "usage:" : "      ", c->name,
                c->synopsis);
        for (p = c->summary; *p;) {
            size_t n = strcspn(p, "\n");
            fprintf(f, "           %.*s\n", (int)n, p);
            p += n + (p[n] == '\n');
        }
    }
    if (!cmd)
        fputs("       xpipe --help | --version\n", f);
    fputs("options:\n", f);
    for (i = 0; tool_opts[i].optch; i++) {
        const tool_opt_t *h = &tool_opts[i];
        const char *p = h->help;
        char head[32];
        int first = 1;
        if (!(h->cmds & want) && !(cmd == NULL && h->cmds == 0))
            continue;
        if (tool_opts[i].name)
            snprintf(head, sizeof(head), "--%s%s%s", tool_opts[i].name,
                     h->arg ? " " : "", h->arg ? h->arg : "");
        else
            snprintf(head, sizeof(head), "-%c", tool_opts[i].optch);
        while (*p) {
            size_t n = strcspn(p, "\n");
            fprintf(f, "  %-19s %.*s\n", first ? head : "", (int)n, p);
            p += n + (p[n] == '\n');
            first = 0;
        }
    }
    if (!cmd || cmd->id & CMD_RELAY)
        fputs("exit status: 0 success, 1 failure, 2 bad usage\n", f);
}

static const tool_cmd_t *tool_cmd_find(const char *name)
{
    const tool_cmd_t *c;

    for (c = tool_cmds; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

typedef struct tool_t {
    apr_pool_t *pool;
    xpipe_attr_t *attr;
    apr_interval_time_t timeout;
    apr_interval_time_t linger;
    int echo, once, message, verbose, progress;
    apr_file_t *in, *out;
    /* --smb-user and the password's source, applied once parsed. */
    const char *smb_user, *smb_pass_file, *smb_pass_env;
} tool_t;

/* ------------------------------------------------------------------ */
/* Reporting */

/* The tool's version is the headers' it was built with; the library's is
 * asked at run time (another libxpipe.so may be loaded). */
static int tool_version(void)
{
    printf("xpipe %s (library %s, backend %s)\n", XPIPE_VERSION_STRING,
           xpipe_version_string(), xpipe_backend_name());
    return 0;
}

static void tool_peer_line(xpipe_t *ch, const char *what)
{
    xpipe_peer_t p = XPIPE_PEER_INIT;

    if (xpipe_peer_get(ch, &p) != APR_SUCCESS) {
        fprintf(stderr, "xpipe: %s (peer unknown)\n", what);
        return;
    }
    if (p.have & XPIPE_PEER_SMB)
        fprintf(stderr,
                "xpipe: %s: SMB %s on %s (%s port %u) as %s%s%s (%s)%s%s%s",
                what, p.smb_dialect, p.host ? p.host : "?",
                p.address ? p.address : "?", p.port, p.domain ? p.domain : "",
                p.domain ? "\\" : "", p.account ? p.account : "?", p.smb_auth,
                p.smb_flags & XPIPE_SMB_SIGNED ? ", signed" : "",
                p.smb_flags & XPIPE_SMB_ENCRYPTED ? ", encrypted" : "",
                p.smb_flags & XPIPE_SMB_GUEST ? ", guest" : "");
    else if (p.have & XPIPE_PEER_REMOTE)
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
static xpipe_pollset_t *stop_pollset;
static xpipe_t *stop_channels[256];
static _Atomic int stop_requested; /* atomic: set by the signal thread */

static void stop_now(void)
{
    int i;

    apr_thread_mutex_lock(stop_lock);
    stop_requested = 1;
    if (stop_listener)
        xpipe_listener_interrupt(stop_listener);
    if (stop_pollset)
        xpipe_pollset_wakeup(stop_pollset);
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
    _Atomic apr_uint64_t sent, received; /* atomic: shown by another thread */
    _Atomic int done;
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
    /* What the stdin thread tells the reader, under lock; cond is
     * signalled at each change. */
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *cond;
    int in_done;            /* stdin ended, or sending failed */
    int lingering;          /* ... ended, and the pipe could not half-close */
    apr_status_t in_rv;     /* why sending stopped (success: end of stdin) */
    apr_uint64_t delivered; /* bytes of stdin written to the channel */
    apr_size_t unsent;      /* bytes read from stdin, not yet written */
} relay_t;

/* The stdin thread's news, under the lock, and a wake-up for the reader. */
static void relay_note(relay_t *r, apr_size_t read, apr_size_t written,
                       int done, apr_status_t rv)
{
    apr_thread_mutex_lock(r->lock);
    r->unsent += read;
    r->unsent -= written;
    r->delivered += written;
    if (done) {
        r->in_done = 1;
        r->in_rv = rv;
    }
    apr_thread_cond_broadcast(r->cond);
    apr_thread_mutex_unlock(r->lock);
}

/* The stdin thread's work. A function of its own, not inlined, so that
 * its frame (with locals whose address is taken) has returned before the
 * thread exits: apr_thread_exit unwinds without running epilogues, which
 * leaves such a frame poisoned for AddressSanitizer, and ASan then trips
 * over it while the thread ends. */
static void relay_stdin_run(relay_t *r)
{
    tool_t *tool = r->tool;
    apr_size_t cap = xpipe_attr_max_message_get(tool->attr) + 2;
    char *buf = malloc(cap < 65536 ? 65536 : cap);
    apr_status_t rv = APR_SUCCESS;

    while (rv == APR_SUCCESS && !stop_requested) {
        apr_size_t n = 65536, done = 0;
        if (tool->message) {
            rv = apr_file_gets(buf, (int)cap, tool->in);
            n = strlen(buf);
            if (rv == APR_SUCCESS && n > 0 && buf[n - 1] == '\n')
                buf[--n] = '\0';
            if (rv == APR_SUCCESS && n > 0 && buf[n - 1] == '\r')
                buf[--n] = '\0';
            if (rv == APR_EOF && n > 0)
                rv = APR_SUCCESS; /* a last line without a newline */
            if (rv != APR_SUCCESS || n == 0)
                continue;
            relay_note(r, n, 0, 0, APR_SUCCESS);
            rv = xpipe_send(r->ch, buf, n);
            done = rv == APR_SUCCESS ? n : 0;
        }
        else {
            rv = apr_file_read(tool->in, buf, &n);
            if (rv != APR_SUCCESS)
                continue;
            relay_note(r, n, 0, 0, APR_SUCCESS);
            rv = xpipe_write_full(r->ch, buf, n, &done);
        }
        relay_note(r, 0, done, 0, APR_SUCCESS);
        if (r->prog)
            r->prog->sent += done;
    }
    free(buf);
    if (APR_STATUS_IS_EOF(rv)) {
        /* Tell the peer we are done sending. Named pipes cannot half
         * close: then the reader lingers for the peer's last data. */
        if (xpipe_shutdown(r->ch, XPIPE_SHUTDOWN_WRITE) == APR_ENOTIMPL) {
            apr_thread_mutex_lock(r->lock);
            r->lingering = 1;
            apr_thread_mutex_unlock(r->lock);
        }
        rv = APR_SUCCESS;
    }
    relay_note(r, 0, 0, 1, rv);
    /* Wake the reader when it must re-read with --linger, or report. */
    if (rv != APR_SUCCESS || r->lingering)
        xpipe_interrupt(r->ch);
}

static void *APR_THREAD_FUNC relay_stdin(apr_thread_t *t, void *data)
{
    /* Called through a volatile pointer: never inlined into this frame. */
    void (*volatile run)(relay_t *) = relay_stdin_run;

    run(data);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* The peer ended its direction while stdin was still open: wait for ours
 * to end too, for as long as it makes progress (--linger without any).
 * Returns the exit status: 0 when nothing read from stdin was lost. */
static int relay_drain(relay_t *r)
{
    apr_interval_time_t linger = r->tool->linger;
    apr_status_t in_rv;
    apr_size_t unsent;

    apr_thread_mutex_lock(r->lock);
    while (!r->in_done && !stop_requested) {
        apr_uint64_t before = r->delivered;
        apr_size_t pending = r->unsent;
        apr_thread_cond_timedwait(r->cond, r->lock, linger);
        if (!r->in_done && r->delivered == before && r->unsent == pending)
            break; /* no progress for --linger */
    }
    in_rv = r->in_done ? r->in_rv : APR_SUCCESS;
    unsent = r->unsent;
    apr_thread_mutex_unlock(r->lock);
    if (in_rv != APR_SUCCESS)
        return tool_fail("sending", in_rv);
    if (unsent > 0 && !stop_requested) {
        fprintf(stderr,
                "xpipe: sending: the peer ended and stopped reading; %lu "
                "bytes read from stdin were not delivered\n",
                (unsigned long)unsent);
        return 1;
    }
    return 0; /* stdin had nothing more to say */
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
    apr_threadattr_t *ta;
    apr_status_t rv = APR_SUCCESS;
    int rc = -1;

    rp->tool = tool;
    rp->ch = ch;
    pp->start = apr_time_now();
    if (apr_thread_mutex_create(&rp->lock, APR_THREAD_MUTEX_DEFAULT, tool->pool)
            != APR_SUCCESS
        || apr_thread_cond_create(&rp->cond, tool->pool) != APR_SUCCESS) {
        free(buf);
        return tool_fail("relay", APR_ENOMEM);
    }
    if (tool->progress && tool_isatty(2)) {
        rp->prog = pp;
        apr_thread_create(&prog_thread, NULL, progress_main, pp, tool->pool);
    }
    stop_track(ch, 1);
    /* The stdin thread may stay blocked in a read when the peer ends
     * first; it is detached and ends with the process. */
    apr_threadattr_create(&ta, tool->pool);
    apr_threadattr_detach_set(ta, 1);
    apr_thread_create(&in_thread, ta, relay_stdin, rp, tool->pool);
    while (rc < 0) {
        apr_size_t n = cap < 65536 ? 65536 : cap;
        int done, lingering;
        apr_status_t in_rv;
        rv = tool->message ? xpipe_recv(ch, buf, &n) : xpipe_read(ch, buf, &n);
        if (rv == APR_SUCCESS) {
            if (tool->message)
                buf[n++] = '\n';
            if (rp->prog)
                pp->received += n;
            rv = apr_file_write_full(tool->out, buf, n, NULL);
            if (rv == APR_SUCCESS)
                rv = apr_file_flush(tool->out);
            if (rv != APR_SUCCESS)
                rc = tool_fail("writing stdout", rv);
            continue;
        }
        apr_thread_mutex_lock(rp->lock);
        done = rp->in_done;
        lingering = rp->lingering;
        in_rv = rp->in_rv;
        apr_thread_mutex_unlock(rp->lock);
        if (stop_requested)
            rc = 0; /* a stop by signal */
        else if (XPIPE_STATUS_IS_ECANCELED(rv)) {
            if (done && in_rv != APR_SUCCESS)
                rc = tool_fail("sending", in_rv); /* the peer is gone */
            else if (lingering)
                xpipe_timeout_set(ch, tool->linger);
        }
        else if (APR_STATUS_IS_TIMEUP(rv) && lingering)
            rc = 0; /* the peer had nothing more to say */
        else if (APR_STATUS_IS_EOF(rv))
            rc = done ? (in_rv == APR_SUCCESS ? 0 : tool_fail("sending", in_rv))
                      : relay_drain(rp);
        else
            rc = tool_fail("receiving", rv); /* a reset, among others */
    }
    stop_track(ch, 0);
    pp->done = 1;
    if (prog_thread) {
        apr_status_t prv;
        apr_thread_join(&prv, prog_thread);
    }
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Echo server: one thread, a poll set holding the listener and every
 * client. Each ready channel is read once with timeout 0 into the one
 * receive buffer and echoed at once; what a full pipe does not take
 * waits, copied, for XPIPE_POLLOUT. */

/* Clients served at once; more wait in the listener's backlog. */
#define ECHO_MAX 16384

typedef struct echo_conn_t {
    struct echo_conn_t *prev, *next; /* the clients */
    xpipe_t *ch;
    char *pend; /* the unsent rest of an echo (malloc'd), or NULL */
    apr_size_t len, off;
    apr_int16_t want; /* the events it is in the set for */
} echo_conn_t;

typedef struct echo_srv_t {
    tool_t *tool;
    xpipe_listener_t *l;
    xpipe_pollset_t *ps;
    char *buf;
    apr_size_t cap;
    int clients, accepting;
    echo_conn_t *head;
} echo_srv_t;

/* Put the object in the set for want (0: out of it). */
static apr_status_t echo_want(echo_srv_t *s, xpipe_t *ch, void *data,
                              apr_int16_t *cur, apr_int16_t want)
{
    xpipe_pollfd_t d;

    if (*cur == want)
        return APR_SUCCESS;
    memset(&d, 0, sizeof(d));
    d.channel = ch;
    d.listener = ch ? NULL : s->l;
    if (*cur)
        xpipe_pollset_remove(s->ps, &d);
    *cur = want;
    if (!want)
        return APR_SUCCESS;
    d.reqevents = want;
    d.client_data = data;
    return xpipe_pollset_add(s->ps, &d);
}

static void echo_drop(echo_srv_t *s, echo_conn_t *c, apr_status_t rv)
{
    apr_int16_t on = XPIPE_POLLACCEPT;

    if (s->tool->verbose)
        fprintf(stderr, "xpipe: client done (%s)\n",
                APR_STATUS_IS_EOF(rv) ? "end of stream"
                                      : xpipe_status_name(rv));
    xpipe_close(c->ch); /* leaves the set */
    if (c->prev)
        c->prev->next = c->next;
    else
        s->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c->pend);
    free(c);
    s->clients--;
    if (!s->accepting && !s->tool->once) { /* room again */
        s->accepting = 1;
        on = 0;
        echo_want(s, NULL, NULL, &on, XPIPE_POLLACCEPT);
    }
}

/* Echo p[0..len) (the receive buffer, or the rest of an earlier echo);
 * what a full pipe does not take now waits in c->pend for POLLOUT. */
static apr_status_t echo_send(echo_srv_t *s, echo_conn_t *c, const char *p,
                              apr_size_t len)
{
    apr_size_t n = 0;
    apr_status_t rv;

    if (s->tool->message) {
        rv = xpipe_send(c->ch, p, len);
        n = rv == APR_SUCCESS ? len : 0;
    }
    else
        rv = xpipe_write_full(c->ch, p, len, &n);
    if (APR_STATUS_IS_TIMEUP(rv))
        rv = APR_SUCCESS;
    if (rv != APR_SUCCESS)
        return rv;
    if (c->pend) {
        c->off += n;
        if (c->off == c->len) {
            free(c->pend);
            c->pend = NULL;
        }
    }
    else if (n < len) {
        if ((c->pend = malloc(len - n)) == NULL)
            return APR_ENOMEM;
        memcpy(c->pend, p + n, len - n);
        c->len = len - n;
        c->off = 0;
    }
    return APR_SUCCESS;
}

/* A client is ready: echo what it sent, or send what waits. */
static void echo_ready(echo_srv_t *s, echo_conn_t *c, apr_int16_t ev)
{
    apr_status_t rv = APR_SUCCESS;

    if (c->pend && (ev & XPIPE_POLLOUT))
        rv = echo_send(s, c, c->pend + c->off, c->len - c->off);
    else if (!c->pend && (ev & XPIPE_POLLIN)) {
        apr_size_t n = s->cap;
        rv = s->tool->message ? xpipe_recv(c->ch, s->buf, &n)
                              : xpipe_read(c->ch, s->buf, &n);
        if (APR_STATUS_IS_TIMEUP(rv))
            return; /* readiness is a hint */
        if (rv == APR_SUCCESS)
            rv = echo_send(s, c, s->buf, n);
    }
    if (rv == APR_SUCCESS)
        rv = echo_want(s, c->ch, c, &c->want,
                       c->pend ? XPIPE_POLLOUT : XPIPE_POLLIN);
    if (rv != APR_SUCCESS)
        echo_drop(s, c, rv);
}

/* Take every client waiting. */
static void echo_accept(echo_srv_t *s)
{
    apr_int16_t on = XPIPE_POLLACCEPT;
    xpipe_t *ch;

    while (s->accepting && xpipe_accept(&ch, s->l, 0, NULL) == APR_SUCCESS) {
        echo_conn_t *c = calloc(1, sizeof(*c));
        if (c == NULL) {
            xpipe_close(ch);
            break;
        }
        if (s->tool->verbose)
            tool_peer_line(ch, "client connected");
        c->ch = ch;
        c->next = s->head;
        if (s->head)
            s->head->prev = c;
        s->head = c;
        s->clients++;
        xpipe_timeout_set(ch, 0);
        if (echo_want(s, ch, c, &c->want, XPIPE_POLLIN) != APR_SUCCESS) {
            echo_drop(s, c, APR_ENOSPC);
            continue;
        }
        if (s->tool->once || s->clients == ECHO_MAX - 1) {
            s->accepting = 0;
            echo_want(s, NULL, NULL, &on, 0);
        }
    }
}

static void echo_close_all(echo_srv_t *s)
{
    while (s->head)
        echo_drop(s, s->head, XPIPE_ECANCELED);
}

static int echo_serve(tool_t *tool, xpipe_listener_t *l)
{
    echo_srv_t s;
    apr_int16_t on = 0;
    int rc = 0;
    apr_status_t rv;

    memset(&s, 0, sizeof(s));
    s.tool = tool;
    s.l = l;
    s.cap = xpipe_attr_max_message_get(tool->attr);
    if (s.cap < 65536)
        s.cap = 65536;
    s.buf = malloc(s.cap);
    s.accepting = 1;
    rv = s.buf ? xpipe_pollset_create(&s.ps, ECHO_MAX, tool->pool) : APR_ENOMEM;
    if (rv == APR_SUCCESS)
        rv = echo_want(&s, NULL, NULL, &on, XPIPE_POLLACCEPT);
    if (rv != APR_SUCCESS) {
        free(s.buf);
        return tool_fail("poll set", rv);
    }
    apr_thread_mutex_lock(stop_lock);
    stop_pollset = s.ps;
    if (stop_requested)
        xpipe_pollset_wakeup(s.ps);
    apr_thread_mutex_unlock(stop_lock);
    /* With --once: until the one client has gone. */
    while (!stop_requested && (s.accepting || s.clients > 0)) {
        const xpipe_pollfd_t *r;
        apr_int32_t n, i;

        rv = xpipe_pollset_poll(s.ps, s.clients ? -1 : tool->timeout, &n, &r);
        if (XPIPE_STATUS_IS_ECANCELED(rv))
            continue; /* a stop: the loop's test */
        if (rv != APR_SUCCESS) {
            rc = tool_fail("accept", rv);
            break;
        }
        for (i = 0; i < n; i++) {
            if (r[i].listener)
                echo_accept(&s);
            else
                echo_ready(&s, r[i].client_data, r[i].rtnevents);
        }
    }
    apr_thread_mutex_lock(stop_lock);
    stop_pollset = NULL;
    apr_thread_mutex_unlock(stop_lock);
    /* Close what is left: each client reads the end after its echoes. */
    echo_close_all(&s);
    xpipe_pollset_destroy(s.ps);
    free(s.buf);
    return rc;
}

static int tool_listen(tool_t *tool, const char *name)
{
    xpipe_listener_t *l;
    int rc = 0;
    apr_status_t rv;

    rv = xpipe_listen(&l, name, tool->attr, tool->pool);
    if (rv != APR_SUCCESS)
        return tool_fail(apr_psprintf(tool->pool, "listen %s", name), rv);
    if (tool->verbose)
        fprintf(stderr, "xpipe: listening on %s (%s)\n", name,
                xpipe_listener_native_name(l));
    apr_thread_mutex_lock(stop_lock);
    stop_listener = l;
    apr_thread_mutex_unlock(stop_lock);
    if (tool->echo)
        rc = echo_serve(tool, l);
    else { /* relay the first client, then end */
        xpipe_t *ch;
        rv = xpipe_accept(&ch, l, tool->timeout, NULL);
        if (rv != APR_SUCCESS) {
            if (!stop_requested)
                rc = tool_fail("accept", rv);
        }
        else {
            if (tool->verbose)
                tool_peer_line(ch, "client connected");
            rc = tool_relay(tool, ch);
            xpipe_close(ch);
        }
    }
    apr_thread_mutex_lock(stop_lock);
    stop_listener = NULL;
    apr_thread_mutex_unlock(stop_lock);
    xpipe_listener_close(l);
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

/* Start ops[0] with ops as its arguments and a channel, and relay. */
static int tool_spawn(tool_t *tool, const char *const *ops)
{
    apr_exit_why_e why;
    apr_proc_t proc;
    xpipe_t *ch;
    apr_status_t rv;
    int rc, code = 1;

    rv = xpipe_spawn(&proc, &ch, ops[0], ops, NULL, tool->attr, tool->pool);
    if (rv != APR_SUCCESS)
        return tool_fail(apr_psprintf(tool->pool, "spawn %s", ops[0]), rv);
    if (tool->verbose)
        tool_peer_line(ch, "started child");
    rc = tool_relay(tool, ch);
    xpipe_close(ch); /* the child reads the end of its stream */
    if (apr_proc_wait(&proc, &code, &why, APR_WAIT) != APR_CHILD_DONE
        || why != APR_PROC_EXIT || code != 0) {
        fprintf(stderr, "xpipe: spawn %s: the child %s %d\n", ops[0],
                why == APR_PROC_EXIT ? "exited with status"
                                     : "was ended by signal",
                code);
        rc = 1;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Options */

/* The option's name as typed, for messages. */
static const char *tool_opt_name(int ch)
{
    size_t i;

    for (i = 0; tool_opts[i].optch; i++)
        if (tool_opts[i].optch == ch)
            return tool_opts[i].name ? tool_opts[i].name : "v";
    return "?";
}

/* Parse the options and operands of CMD (argv[1]); *operands receives
 * the operands (argv order), *n_operands their count. Returns -1 to go
 * on, else the exit status (0 after --help/--version, 2 on bad usage). */
/* "3.0" -> 0x0300 ...; 0 when not a dialect. */
static unsigned int tool_dialect(const char *s, size_t n)
{
    static const struct {
        const char *name;
        unsigned int id;
    } d[] = { { "2.0.2", 0x0202 },
              { "2.1", 0x0210 },
              { "3.0", 0x0300 },
              { "3.0.2", 0x0302 },
              { "3.1.1", 0x0311 } };
    size_t i;

    for (i = 0; i < sizeof(d) / sizeof(d[0]); i++)
        if (strlen(d[i].name) == n && strncmp(d[i].name, s, n) == 0)
            return d[i].id;
    return 0;
}

/* --smb-dialect MIN[:MAX]: 0, or -1 when it does not parse. */
static int tool_dialects(xpipe_attr_t *attr, const char *arg)
{
    size_t n = strcspn(arg, ":");
    unsigned int min = tool_dialect(arg, n);
    unsigned int max =
        arg[n] ? tool_dialect(arg + n + 1, strlen(arg + n + 1)) : 0x0311;

    return min && max && xpipe_attr_smb_dialects_set(attr, min, max) == 0 ? 0
                                                                          : -1;
}

/* --smb-user with its password (from a file or the environment: never
 * from argv, which other users can read): 0, or the usage error shown. */
static int tool_credentials(tool_t *tool, const tool_cmd_t *cmd)
{
    char pass[1024];
    const char *user = tool->smb_user, *domain = NULL, *sep;
    apr_status_t rv;

    if (user == NULL) {
        if (tool->smb_pass_file || tool->smb_pass_env) {
            tool_usage_error(apr_psprintf(
                tool->pool, "%s: a password needs --smb-user", cmd->name));
            return -1;
        }
        return 0;
    }
    pass[0] = '\0';
    if (tool->smb_pass_file && tool->smb_pass_env) {
        tool_usage_error(apr_psprintf(tool->pool,
                                      "%s: --smb-password-file or "
                                      "--smb-password-env, not both",
                                      cmd->name));
        return -1;
    }
    if (tool->smb_pass_file) {
        FILE *f = fopen(tool->smb_pass_file, "r");

        if (f == NULL || fgets(pass, sizeof(pass), f) == NULL) {
            if (f)
                fclose(f);
            fprintf(stderr, "xpipe: %s: cannot read a password from %s\n",
                    cmd->name, tool->smb_pass_file);
            return -1;
        }
        fclose(f);
        pass[strcspn(pass, "\r\n")] = '\0';
    }
    else if (tool->smb_pass_env) {
        const char *v = getenv(tool->smb_pass_env);

        if (v == NULL) {
            fprintf(stderr, "xpipe: %s: $%s is not set\n", cmd->name,
                    tool->smb_pass_env);
            return -1;
        }
        apr_cpystrn(pass, v, sizeof(pass));
    }
    if ((sep = strchr(user, '\\')) != NULL) {
        domain = apr_pstrndup(tool->pool, user, (apr_size_t)(sep - user));
        user = sep + 1;
    }
    rv = xpipe_attr_smb_credentials_set(tool->attr, user, domain, pass);
    memset(pass, 0, sizeof(pass));
    if (rv != APR_SUCCESS) {
        tool_usage_error(
            apr_psprintf(tool->pool, "%s: --smb-user: empty user", cmd->name));
        return -1;
    }
    return 0;
}

static int tool_parse(tool_t *tool, const tool_cmd_t *cmd, int argc,
                      const char *const *argv, const char *const **operands,
                      int *n_operands)
{
    apr_getopt_t *os;
    const char *arg;
    char *end, err[TOOL_ERRLEN];
    const char *why = NULL;
    long v;
    int ch;
    size_t i;
    apr_status_t rv;

    tool_getopt_init(&os, tool->pool, argc, argv, err);
    if (cmd->id == CMD_SPAWN)
        os->interleave = 0; /* PROGRAM's own options follow it */
    while ((rv = apr_getopt_long(os, tool_getopt_table(), &ch, &arg))
           == APR_SUCCESS) {
        for (i = 0; tool_opts[i].optch != ch; i++)
            ;
        if (ch != OPT_VERSION && !(tool_opts[i].cmds & cmd->id)) {
            why = apr_psprintf(tool->pool, "%s: --%s is not an option of %s",
                               cmd->name, tool_opt_name(ch), cmd->name);
            if (ch == 'v')
                why = apr_psprintf(tool->pool, "%s: -v is not an option of %s",
                                   cmd->name, cmd->name);
            return tool_usage_error(why);
        }
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
                why = "--timeout takes seconds";
            break;
        case OPT_LINGER:
            tool->linger = tool_seconds(arg);
            if (tool->linger == -2)
                why = "--linger takes seconds";
            break;
        case OPT_MODE:
            v = strtol(arg, &end, 8);
            if (*end || xpipe_attr_permissions_set(tool->attr, (int)v))
                why = "--mode takes octal bits, 0 to 777";
            break;
        case OPT_GROUP:
            v = strtol(arg, &end, 10);
            if (*end || xpipe_attr_group_set(tool->attr, v))
                why = "--group takes a numeric gid";
            break;
        case OPT_SDDL:
            if (xpipe_attr_sddl_set(tool->attr, arg))
                why = "--sddl: the SDDL string does not parse";
            break;
        case OPT_PEER:
            if (xpipe_attr_peer_require_set(tool->attr, arg))
                why = "--peer takes self, a uid or a SID";
            break;
        case OPT_REMOTE: xpipe_attr_remote_set(tool->attr, 1); break;
        case OPT_SMB: xpipe_attr_smb_export_set(tool->attr, 1); break;
        case OPT_SMB_DIR:
            if (xpipe_attr_smb_export_set(tool->attr, 1)
                || xpipe_attr_smb_np_dir_set(tool->attr, arg))
                why = "--smb-dir takes an absolute path";
            break;
        case OPT_MAXMSG:
            v = strtol(arg, &end, 10);
            if (*end || v <= 0
                || xpipe_attr_max_message_set(tool->attr, (apr_size_t)v))
                why = "--max-message takes 1 to 262144";
            break;
        case OPT_PROGRESS: tool->progress = 1; break;
        case OPT_WAIT: xpipe_attr_wait_for_server_set(tool->attr, 1); break;
        case OPT_SMB_USER: tool->smb_user = arg; break;
        case OPT_SMB_PASS_FILE: tool->smb_pass_file = arg; break;
        case OPT_SMB_PASS_ENV: tool->smb_pass_env = arg; break;
        case OPT_SMB_PORT:
            v = strtol(arg, &end, 10);
            if (*end || v < 1
                || xpipe_attr_smb_port_set(tool->attr, (unsigned int)v))
                why = "--smb-port takes 1 to 65535";
            break;
        case OPT_SMB_DIALECT:
            if (tool_dialects(tool->attr, arg) != 0)
                why = "--smb-dialect takes MIN[:MAX] of 2.0.2 2.1 3.0 3.0.2 "
                      "3.1.1";
            break;
        case OPT_SMB_ENCRYPT: xpipe_attr_smb_encrypt_set(tool->attr, 1); break;
        case OPT_SMB_GUEST: xpipe_attr_smb_guest_set(tool->attr, 1); break;
        case 'v': tool->verbose = 1; break;
        case OPT_HELP: tool_usage(stdout, cmd); return 0;
        case OPT_VERSION: return tool_version();
        }
        if (why)
            return tool_usage_error(apr_psprintf(tool->pool, "%s: %s, not '%s'",
                                                 cmd->name, why, arg));
    }
    if (rv != APR_EOF)
        return tool_usage_error(apr_psprintf(tool->pool, "%s: %s", cmd->name,
                                             err[0] ? err : "bad option"));
    if (tool_credentials(tool, cmd) != 0)
        return 2;
    *operands = argv + os->ind;
    *n_operands = argc - os->ind;
    return -1; /* go on */
}

/* Exactly one NAME among the operands, or a usage error. */
static int tool_one_name(const tool_cmd_t *cmd, const char *const *ops, int n,
                         apr_pool_t *pool)
{
    if (n == 0)
        return tool_usage_error(
            apr_psprintf(pool, "%s: missing NAME", cmd->name));
    if (n > 1)
        return tool_usage_error(
            apr_psprintf(pool, "%s: unexpected argument '%s' (one NAME only)",
                         cmd->name, ops[1]));
    return -1;
}

int main(int argc, const char *const *argv)
{
    const char *arg1;
    const char *const *ops = NULL;
    const tool_cmd_t *cmd;
    tool_t tool;
    int rc, n = 0;

    if (xpipe_initialize() != APR_SUCCESS)
        return 1;
    memset(&tool, 0, sizeof(tool));
    apr_pool_create(&tool.pool, NULL);
    xpipe_attr_create(&tool.attr, tool.pool);
    tool.timeout = -1;
    tool.linger = APR_USEC_PER_SEC / 2;
    arg1 = argc > 1 ? argv[1] : "";
    cmd = tool_cmd_find(arg1);
    if (strcmp(arg1, "--help") == 0 || strcmp(arg1, "-h") == 0) {
        tool_usage(stdout, NULL);
        rc = 0;
    }
    else if (strcmp(arg1, "--version") == 0)
        rc = tool_version();
    else if (arg1[0] == '\0')
        rc = tool_usage_error("missing command (listen, connect, spawn, "
                              "resolve or help)");
    else if (strcmp(arg1, "bench") == 0)
        rc = tool_usage_error("the benchmarks are a program of their own: "
                              "xpipe-bench (built beside xpipe; ./run bench)");
    else if (cmd == NULL)
        rc = tool_usage_error(
            apr_psprintf(tool.pool, "unknown command '%s'", arg1));
    else if ((rc = tool_parse(&tool, cmd, argc, argv, &ops, &n)) >= 0)
        ; /* --help, --version, or bad usage */
    else if (cmd->id == CMD_HELP) {
        const tool_cmd_t *which = n == 1 ? tool_cmd_find(ops[0]) : NULL;
        if (n > 1)
            rc = tool_usage_error("help: one COMMAND at most");
        else if (n == 1 && which == NULL)
            rc = tool_usage_error(
                apr_psprintf(tool.pool, "help: unknown command '%s'", ops[0]));
        else {
            tool_usage(stdout, which);
            rc = 0;
        }
    }
    else if (cmd->id == CMD_SPAWN && n == 0)
        rc = tool_usage_error("spawn: missing PROGRAM");
    else if (cmd->id != CMD_SPAWN
             && (rc = tool_one_name(cmd, ops, n, tool.pool)) >= 0)
        ;
    else if (cmd->id == CMD_RESOLVE) {
        const char *native;
        apr_status_t rv = xpipe_name_resolve(&native, ops[0], tool.pool);
        if (rv != APR_SUCCESS)
            rc = tool_fail(apr_psprintf(tool.pool, "resolve %s", ops[0]), rv);
        else {
            printf("%s\n", native);
            rc = 0;
        }
    }
    else {
        apr_file_open_stdin(&tool.in, tool.pool);
        apr_file_open_stdout(&tool.out, tool.pool);
        if (stop_setup(tool.pool) != APR_SUCCESS)
            rc = tool_fail("signals", APR_EGENERAL);
        else
            rc = cmd->id == CMD_LISTEN  ? tool_listen(&tool, ops[0])
                 : cmd->id == CMD_SPAWN ? tool_spawn(&tool, ops)
                                        : tool_connect(&tool, ops[0]);
    }
    fflush(stdout);
    /* Threads blocked on stdin may remain: leave without tearing APR down
     * under them. */
    exit(rc);
}
