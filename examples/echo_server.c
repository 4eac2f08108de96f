/* echo_server.c — the tutorial's server, done right: listens on a portable
 * name, echoes what each client sends, with deadlines everywhere.
 * Usage: echo_server [NAME] [--once]
 */
#include "xpipe.h"

#include <stdio.h>
#include <string.h>

static int serve(xpipe_t *ch)
{
    char buf[4096];
    apr_status_t rv;

    xpipe_timeout_set(ch, 30 * APR_USEC_PER_SEC);
    for (;;) {
        apr_size_t n = sizeof(buf);
        rv = xpipe_read(ch, buf, &n);
        if (APR_STATUS_IS_EOF(rv))
            return 0; /* the client is done */
        if (rv == APR_SUCCESS)
            rv = xpipe_write_full(ch, buf, n, NULL);
        if (rv != APR_SUCCESS) {
            fprintf(stderr, "echo_server: %s\n",
                    xpipe_strerror(rv, buf, sizeof(buf)));
            return 1;
        }
    }
}

int main(int argc, char **argv)
{
    const char *name = argc > 1 && argv[1][0] != '-' ? argv[1] : "xpipe-demo";
    int once = argc > 1 && strcmp(argv[argc - 1], "--once") == 0;
    xpipe_listener_t *l;
    char err[256];
    apr_status_t rv;
    int rc = 0;

    if (xpipe_initialize() != APR_SUCCESS)
        return 1;
    rv = xpipe_listen(&l, name, NULL, NULL);
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "echo_server: listen %s: %s\n", name,
                xpipe_strerror(rv, err, sizeof(err)));
        xpipe_terminate();
        return 1;
    }
    printf("echo_server: listening on %s (%s)\n", name,
           xpipe_listener_native_name(l));
    fflush(stdout);
    do {
        xpipe_t *ch;
        /* A demo server that nobody visits ends by itself. */
        rv = xpipe_accept(&ch, l, 30 * APR_USEC_PER_SEC, NULL);
        if (rv != APR_SUCCESS) {
            fprintf(stderr, "echo_server: accept: %s\n",
                    xpipe_strerror(rv, err, sizeof(err)));
            rc = 1;
            break;
        }
        rc = serve(ch);
        xpipe_close(ch);
    } while (!once);
    xpipe_listener_close(l);
    xpipe_terminate();
    return rc;
}
