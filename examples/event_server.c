/* SPDX-License-Identifier: Apache-2.0 */
/* event_server.c — hello_server's protocol served from one thread: a
 * poll set holds the listener and every client, and each call that a
 * report makes ready is made with timeout 0. A thousand clients cost a
 * thousand channels, not a thousand threads.
 *
 * Each request is answered with itself (hello_client checks it). Ctrl-C
 * (or SIGTERM) wakes the poll and the server stops cleanly.
 * Usage: event_server [NAME] [--once]
 */
#include <xpipe.h>

#include <apr_thread_proc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <signal.h>
#include <unistd.h>
#endif

#define MAX_CLIENTS 1024

static xpipe_pollset_t *pollset;
static volatile int stopping;
static xpipe_t *open_channels[MAX_CLIENTS]; /* closed at the end */
static int clients;

#ifdef _WIN32
/* Windows runs the handler on a thread of its own, at any time, even
 * while main destroys the poll set: it touches the set only under this
 * lock, and not once main has said (under the lock) that it destroys
 * it. */
static CRITICAL_SECTION stop_lock;
static int closing;

static BOOL WINAPI on_ctrl_c(DWORD type)
{
    (void)type;
    EnterCriticalSection(&stop_lock);
    stopping = 1;
    if (!closing)
        xpipe_pollset_wakeup(pollset); /* any thread may call it */
    LeaveCriticalSection(&stop_lock);
    return TRUE;
}
#else
static int on_signal(int signum)
{
    if (signum != SIGINT && signum != SIGTERM)
        return 0;
    stopping = 1;
    xpipe_pollset_wakeup(pollset);
    return 1;
}

/* Returns once a signal has stopped the server. main joins it before it
 * frees what on_signal uses (the poll set, the pool the thread is in). */
static void *APR_THREAD_FUNC signal_thread(apr_thread_t *t, void *data)
{
    (void)t;
    (void)data;
    apr_signal_thread(on_signal);
    return NULL;
}
#endif

/* Watch a channel (or, with ch NULL, the listener) for events. */
static apr_status_t watch(xpipe_t *ch, xpipe_listener_t *l, apr_int16_t ev)
{
    xpipe_pollfd_t d;

    memset(&d, 0, sizeof(d));
    d.channel = ch;
    d.listener = ch ? NULL : l;
    d.reqevents = ev;
    d.client_data = ch;
    return xpipe_pollset_add(pollset, &d);
}

/* Close a client: it leaves the set, and is freed (a NULL pool). */
static void forget(xpipe_t *ch)
{
    int i;

    for (i = 0; i < clients; i++)
        if (open_channels[i] == ch) {
            open_channels[i] = open_channels[--clients];
            break;
        }
    xpipe_close(ch);
}

/* A client's request is there: answer it. Returns 0 when it is gone. */
static int serve(xpipe_t *ch)
{
    char request[512];
    apr_size_t n = sizeof(request) - 1;
    apr_status_t rv = xpipe_read(ch, request, &n);

    if (APR_STATUS_IS_TIMEUP(rv))
        return 1; /* a report is a hint: nothing after all */
    if (rv == APR_SUCCESS) {
        request[n] = '\0';
        printf("event_server: client says \"%s\"\n", request);
        /* A short answer into an empty pipe: it fits at once. A server
         * of long answers would keep the rest and wait for POLLOUT. */
        xpipe_timeout_set(ch, APR_USEC_PER_SEC);
        rv = xpipe_write_full(ch, request, n, NULL);
        xpipe_timeout_set(ch, 0);
    }
    if (rv == APR_SUCCESS)
        return 1;
    printf("event_server: client gone (%s)\n",
           APR_STATUS_IS_EOF(rv) ? "closed" : xpipe_status_name(rv));
    forget(ch);
    return 0;
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 && argv[1][0] != '-' ? argv[1] : "hello";
    int once = strcmp(argv[argc - 1], "--once") == 0;
    int served = 0;
    xpipe_listener_t *listener;
#ifndef _WIN32
    apr_thread_t *sig = NULL;
    apr_status_t st;
#endif
    apr_pool_t *pool;
    apr_status_t rv;
    char err[256];

    xpipe_initialize();
    apr_pool_create(&pool, NULL);
#ifndef _WIN32
    apr_setup_signal_thread(); /* before any other thread exists */
#endif
    rv = xpipe_listen(&listener, name, NULL, pool);
    if (rv == APR_SUCCESS)
        rv = xpipe_pollset_create(&pollset, MAX_CLIENTS + 1, pool);
    if (rv == APR_SUCCESS)
        rv = watch(NULL, listener, XPIPE_POLLACCEPT);
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "event_server: %s: %s\n", name,
                xpipe_strerror(rv, err, sizeof(err)));
        return 1;
    }
#ifdef _WIN32
    InitializeCriticalSection(&stop_lock);
    SetConsoleCtrlHandler(on_ctrl_c, TRUE);
#else
    apr_thread_create(&sig, NULL, signal_thread, NULL, pool);
#endif
    printf("event_server: listening on %s\n", name);
    fflush(stdout);
    while (!stopping && !(once && served > 0 && clients == 0)) {
        const xpipe_pollfd_t *ready;
        apr_int32_t n, i;

        /* 30 s without a client or a request ends a forgotten demo. */
        rv = xpipe_pollset_poll(pollset, 30 * APR_USEC_PER_SEC, &n, &ready);
        if (rv != APR_SUCCESS)
            break; /* XPIPE_ECANCELED after Ctrl-C, APR_TIMEUP when idle */
        for (i = 0; i < n; i++) {
            xpipe_t *ch = ready[i].client_data;
            if (ready[i].listener) {
                /* Take every client waiting, each without blocking. */
                while (clients < MAX_CLIENTS
                       && xpipe_accept(&ch, listener, 0, NULL) == APR_SUCCESS) {
                    xpipe_timeout_set(ch, 0);
                    if (watch(ch, NULL, XPIPE_POLLIN) != APR_SUCCESS) {
                        xpipe_close(ch);
                        continue;
                    }
                    open_channels[clients++] = ch;
                    served++;
                    if (once) { /* one client: stop taking more */
                        xpipe_pollfd_t d;
                        memset(&d, 0, sizeof(d));
                        d.listener = listener;
                        xpipe_pollset_remove(pollset, &d);
                        break;
                    }
                }
            }
            else
                serve(ch);
        }
    }
    if (rv != APR_SUCCESS)
        printf("event_server: stopping (%s)\n", xpipe_status_name(rv));
    /* Clients still connected read the end of the stream. */
    while (clients > 0)
        forget(open_channels[0]);
#ifndef _WIN32
    /* The signal thread uses the poll set: a stop that no signal made
     * sends the one that ends the thread (only it takes SIGTERM), then
     * main waits for it. */
    if (sig) {
        if (!stopping)
            kill(getpid(), SIGTERM);
        apr_thread_join(&st, sig);
    }
#else
    /* The handler uses the poll set: from now on it leaves it alone. */
    EnterCriticalSection(&stop_lock);
    closing = 1;
    LeaveCriticalSection(&stop_lock);
    SetConsoleCtrlHandler(on_ctrl_c, FALSE);
#endif
    xpipe_pollset_destroy(pollset);
    xpipe_listener_close(listener);
    apr_pool_destroy(pool);
    xpipe_terminate();
    return 0;
}
