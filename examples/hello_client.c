/* SPDX-License-Identifier: Apache-2.0 */
/* hello_client.c — the classic named-pipe tutorial's client, done right.
 *
 * It connects by name (waiting up to 10 s for the server to appear),
 * sends "Hello Server!", prints the reply, and never blocks without a
 * deadline. Usage: hello_client [NAME] [MESSAGE]
 */
#include <xpipe.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "hello";
    const char *message = argc > 2 ? argv[2] : "Hello Server!";
    apr_size_t len = strlen(message), got = 0;
    xpipe_attr_t *attr;
    apr_pool_t *pool;
    xpipe_t *ch;
    char reply[512], err[256];
    apr_status_t rv;

    if (len == 0 || len >= sizeof(reply)) {
        fprintf(stderr, "hello_client: the message must be 1 to %u bytes\n",
                (unsigned)sizeof(reply) - 1);
        return 2;
    }
    xpipe_initialize();
    apr_pool_create(&pool, NULL); /* everything below lives in it */
    xpipe_attr_create(&attr, pool);
    /* Wait for a server that is still starting (the tutorial's client
     * would fail, or spin on WaitNamedPipe without a deadline). */
    xpipe_attr_wait_for_server_set(attr, 1);
    rv = xpipe_connect(&ch, name, attr, 10 * APR_USEC_PER_SEC, pool);
    if (rv == APR_SUCCESS)
        rv = xpipe_timeout_set(ch, 10 * APR_USEC_PER_SEC);
    if (rv == APR_SUCCESS)
        rv = xpipe_write_full(ch, message, len, NULL);
    /* The server echoes the message: read exactly that much back. */
    if (rv == APR_SUCCESS)
        rv = xpipe_read_full(ch, reply, len, &got);
    if (rv != APR_SUCCESS) {
        /* One line that says what failed: no such pipe, timeout, ... */
        fprintf(stderr, "hello_client: %s: %s\n", name,
                xpipe_strerror(rv, err, sizeof(err)));
        apr_pool_destroy(pool);
        xpipe_terminate();
        return 1;
    }
    printf("reply from server: %.*s\n", (int)got, reply);
    apr_pool_destroy(pool); /* closes the channel: the server sees EOF */
    xpipe_terminate();
    return 0;
}
