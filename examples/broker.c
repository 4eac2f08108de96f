/* SPDX-License-Identifier: Apache-2.0 */
/* broker.c — a broker that accepts clients and hands each connection to
 * a worker process, which serves it while the broker closes its copy.
 *
 * The broker listens on NAME and starts WORKERS copies of itself as
 * workers (xpipe_spawn, message mode, handles allowed). For each client
 * it accepts, it sends the connection's handle to the next worker
 * (xpipe_send_handles) and closes its own channel. A worker takes the
 * handle (xpipe_recv_handles), adopts it as a channel (xpipe_adopt) and
 * echoes the client's bytes until the client ends. Try it with the tool:
 *     broker chat 2 &
 *     echo hello | xpipe connect chat
 * Usage: broker [NAME] [WORKERS] [CLIENTS]  (CLIENTS: stop after so many;
 * default: serve forever)
 */
#include <xpipe.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORKERS 16
#define TIMEOUT (30 * APR_USEC_PER_SEC)

/* A worker: one client per handle received, until the broker ends. */
static int worker(xpipe_t *broker, apr_pool_t *pool)
{
    for (;;) {
        xpipe_os_handle_t h[1];
        xpipe_t *client;
        char note[16], buf[4096];
        apr_size_t n = sizeof(note);
        int count = 1;
        apr_status_t rv = xpipe_recv_handles(broker, note, &n, h, &count);

        if (APR_STATUS_IS_EOF(rv))
            return 0; /* the broker is gone */
        if (rv != APR_SUCCESS || count != 1)
            return 1;
        if (xpipe_adopt(&client, h[0], NULL, pool) != APR_SUCCESS)
            return 1;
        xpipe_timeout_set(client, TIMEOUT);
        for (;;) { /* echo until the client ends */
            n = sizeof(buf);
            rv = xpipe_read(client, buf, &n);
            if (rv != APR_SUCCESS
                || xpipe_write_full(client, buf, n, NULL) != APR_SUCCESS)
                break;
        }
        xpipe_close(client);
    }
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "broker";
    int workers = argc > 2 ? atoi(argv[2]) : 2;
    long clients = argc > 3 ? atol(argv[3]) : -1, served;
    const char *wargv[] = { argv[0], NULL };
    apr_proc_t procs[MAX_WORKERS];
    xpipe_t *to[MAX_WORKERS], *ch;
    xpipe_listener_t *l;
    xpipe_attr_t *attr;
    apr_pool_t *pool;
    char err[256];
    apr_status_t rv;
    int i, code, rc = 0;
    apr_exit_why_e why;

    xpipe_initialize();
    apr_pool_create(&pool, NULL);
    xpipe_attr_create(&attr, pool);
    xpipe_attr_mode_set(attr, XPIPE_MODE_MESSAGE);
    xpipe_attr_handles_set(attr, 1);
    if (xpipe_child_channel(&ch, NULL, pool) == APR_SUCCESS) {
        rc = worker(ch, pool); /* started by the broker below */
        apr_pool_destroy(pool);
        xpipe_terminate();
        return rc;
    }
    if (workers < 1 || workers > MAX_WORKERS) {
        fprintf(stderr, "broker: 1 to %d workers\n", MAX_WORKERS);
        return 2;
    }
    rv = xpipe_listen(&l, name, NULL, pool);
    for (i = 0; i < workers && rv == APR_SUCCESS; i++)
        rv = xpipe_spawn(&procs[i], &to[i], argv[0], wargv, NULL, attr, pool);
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "broker: %s\n", xpipe_strerror(rv, err, sizeof(err)));
        return 1;
    }
    printf("broker: listening on %s, %d workers\n", name, workers);
    fflush(stdout);
    for (served = 0; clients < 0 || served < clients; served++) {
        xpipe_os_handle_t h;
        xpipe_t *w = to[served % workers];
        rv = xpipe_accept(&ch, l, -1, NULL);
        if (rv == APR_SUCCESS)
            rv = xpipe_os_handle_get(ch, &h);
        if (rv == APR_SUCCESS)
            rv = xpipe_send_handles(w, "client", 6, &h, 1);
        if (rv != APR_SUCCESS)
            fprintf(stderr, "broker: %s\n",
                    xpipe_strerror(rv, err, sizeof(err)));
        if (ch)
            xpipe_close(ch); /* the worker has its own handle now */
        ch = NULL;
    }
    for (i = 0; i < workers; i++) { /* the workers end with the stream */
        xpipe_close(to[i]);
        apr_proc_wait(&procs[i], &code, &why, APR_WAIT);
        rc |= why != APR_PROC_EXIT || code != 0;
    }
    apr_pool_destroy(pool);
    xpipe_terminate();
    return rc;
}
