/* echo_client.c — the tutorial's client, done right: connects by name
 * (waiting up to 10 s for the server to appear), sends "Hello Server!"
 * and prints the reply.
 * Usage: echo_client [NAME] [MESSAGE]
 */
#include "xpipe.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *name = argc > 1 ? argv[1] : "xpipe-demo";
    const char *msg = argc > 2 ? argv[2] : "Hello Server!";
    apr_size_t len = strlen(msg), got = 0;
    xpipe_attr_t *attr;
    apr_pool_t *pool;
    xpipe_t *ch;
    char reply[4096], err[256];
    apr_status_t rv;

    if (xpipe_initialize() != APR_SUCCESS)
        return 1;
    apr_pool_create(&pool, NULL);
    xpipe_attr_create(&attr, pool);
    xpipe_attr_wait_for_server_set(attr, 1);
    rv = xpipe_connect(&ch, name, attr, 10 * APR_USEC_PER_SEC, pool);
    if (rv == APR_SUCCESS)
        rv = xpipe_timeout_set(ch, 10 * APR_USEC_PER_SEC);
    if (rv == APR_SUCCESS)
        rv = xpipe_write_full(ch, msg, len, NULL);
    if (rv == APR_SUCCESS && len < sizeof(reply))
        rv = xpipe_read_full(ch, reply, len, &got);
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "echo_client: %s: %s\n", name,
                xpipe_strerror(rv, err, sizeof(err)));
        apr_pool_destroy(pool);
        xpipe_terminate();
        return 1;
    }
    printf("reply from server: %.*s\n", (int)got, reply);
    apr_pool_destroy(pool); /* closes the channel */
    xpipe_terminate();
    return 0;
}
