/* SPDX-License-Identifier: Apache-2.0 */
/* hello_server.c — the classic named-pipe tutorial's server, done right.
 *
 * It listens on a pipe name, serves every client on its own worker
 * thread, notices when a client goes away, and on Ctrl-C (or SIGTERM)
 * stops cleanly: no new clients, every worker woken and joined, the pipe
 * name released. Usage: hello_server [NAME] [--once]
 */
#include <xpipe.h>

#include <apr_thread_proc.h>
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <signal.h>
#include <unistd.h>
#endif

#define MAX_CLIENTS 64

static xpipe_listener_t *listener;
static volatile int signalled;

/* Ctrl-C: wake the accept loop. xpipe calls may come from any thread. */
#ifdef _WIN32
/* Windows runs the handler on a thread of its own, at any time, even
 * while main closes the listener: it touches the listener only under
 * this lock, and not once main has said (under the lock) that it closes
 * it. */
static CRITICAL_SECTION stop_lock;
static int closing;

static BOOL WINAPI on_ctrl_c(DWORD type)
{
    (void)type;
    EnterCriticalSection(&stop_lock);
    signalled = 1;
    if (!closing)
        xpipe_listener_interrupt(listener);
    LeaveCriticalSection(&stop_lock);
    return TRUE;
}
#else
static int on_signal(int signum)
{
    if (signum != SIGINT && signum != SIGTERM)
        return 0; /* not ours: keep waiting */
    signalled = 1;
    xpipe_listener_interrupt(listener);
    return 1;
}

/* Returns once a signal has stopped the server. main joins it before it
 * frees what on_signal uses (the listener, the pool the thread is in). */
static void *APR_THREAD_FUNC signal_thread(apr_thread_t *t, void *data)
{
    (void)t;
    (void)data;
    apr_signal_thread(on_signal);
    return NULL;
}
#endif

/* One client: read a request, answer it, until the client leaves. */
static void *APR_THREAD_FUNC serve_client(apr_thread_t *t, void *data)
{
    xpipe_t *ch = data;
    char request[512];
    apr_status_t rv;

    for (;;) {
        apr_size_t n = sizeof(request) - 1;
        rv = xpipe_read(ch, request, &n);
        if (rv != APR_SUCCESS)
            break; /* APR_EOF: the client closed; others: it vanished */
        request[n] = '\0';
        printf("hello_server: client says \"%s\"\n", request);
        /* Answer with the request itself: the client checks it. */
        rv = xpipe_write_full(ch, request, n, NULL);
        if (rv != APR_SUCCESS)
            break;
    }
    printf("hello_server: client gone (%s)\n",
           APR_STATUS_IS_EOF(rv) ? "closed" : xpipe_status_name(rv));
    xpipe_close(ch); /* also frees it: it was accepted with a NULL pool */
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 && argv[1][0] != '-' ? argv[1] : "hello";
    int once = strcmp(argv[argc - 1], "--once") == 0;
    apr_thread_t *workers[MAX_CLIENTS];
#ifndef _WIN32
    apr_thread_t *sig = NULL;
    apr_status_t st;
#endif
    xpipe_t *clients[MAX_CLIENTS];
    int n = 0, i;
    apr_pool_t *pool;
    apr_status_t rv;
    char err[256];

    xpipe_initialize();
    apr_pool_create(&pool, NULL);
#ifdef _WIN32
    InitializeCriticalSection(&stop_lock);
    SetConsoleCtrlHandler(on_ctrl_c, TRUE);
#else
    apr_setup_signal_thread(); /* before any other thread exists */
#endif
    rv = xpipe_listen(&listener, name, NULL, pool);
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "hello_server: %s: %s\n", name,
                xpipe_strerror(rv, err, sizeof(err)));
        return 1;
    }
#ifndef _WIN32
    apr_thread_create(&sig, NULL, signal_thread, NULL, pool);
#endif
    printf("hello_server: listening on %s\n", name);
    fflush(stdout);
    while (n < MAX_CLIENTS) {
        /* Wait for a client (30 s at most, so a forgotten demo ends). */
        rv = xpipe_accept(&clients[n], listener, 30 * APR_USEC_PER_SEC, NULL);
        if (rv != APR_SUCCESS)
            break; /* XPIPE_ECANCELED after Ctrl-C, APR_TIMEUP when idle */
        xpipe_timeout_set(clients[n], 30 * APR_USEC_PER_SEC);
        apr_thread_create(&workers[n], NULL, serve_client, clients[n], pool);
        n++;
        if (once)
            break;
    }
    if (!once && rv != APR_SUCCESS)
        printf("hello_server: stopping (%s)\n", xpipe_status_name(rv));
    /* Let each worker finish: with --once, when its client leaves; on a
     * stop, at once (interrupt makes its blocked read return). */
    for (i = 0; i < n; i++) {
        apr_status_t ignored;
        if (!once)
            xpipe_interrupt(clients[i]);
        apr_thread_join(&ignored, workers[i]);
    }
#ifndef _WIN32
    /* The signal thread uses the listener: a stop that no signal made
     * sends the one that ends the thread (only it takes SIGTERM), then
     * main waits for it. */
    if (sig) {
        if (!signalled)
            kill(getpid(), SIGTERM);
        apr_thread_join(&st, sig);
    }
#else
    /* The handler uses the listener: from now on it leaves it alone. */
    EnterCriticalSection(&stop_lock);
    closing = 1;
    LeaveCriticalSection(&stop_lock);
    SetConsoleCtrlHandler(on_ctrl_c, FALSE);
#endif
    xpipe_listener_close(listener);
    apr_pool_destroy(pool);
    xpipe_terminate();
    return 0;
}
