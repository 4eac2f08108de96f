/* SPDX-License-Identifier: Apache-2.0 */
/* echo.c — the program every consumer project builds against an installed
 * (or embedded) xpipe: a server thread echoes one message back to a
 * client over a real channel; the client checks it. Only the public API.
 * Exit 0 when the echo came back intact, 1 otherwise (with the cause).
 */
#include <xpipe.h>

#include <apr_thread_proc.h>
#include <stdio.h>
#include <string.h>

#define DEADLINE (10 * APR_USEC_PER_SEC)

static const char greeting[] = "hello through an installed xpipe";

static void *APR_THREAD_FUNC serve(apr_thread_t *t, void *data)
{
    xpipe_listener_t *l = data;
    xpipe_t *ch;
    char buf[128];
    apr_size_t n = sizeof(buf);
    apr_status_t rv = xpipe_accept(&ch, l, DEADLINE, NULL);

    if (rv == APR_SUCCESS) {
        xpipe_timeout_set(ch, DEADLINE);
        rv = xpipe_read(ch, buf, &n);
        if (rv == APR_SUCCESS)
            rv = xpipe_write_full(ch, buf, n, NULL);
        xpipe_close(ch);
    }
    apr_thread_exit(t, rv);
    return NULL;
}

static int fail(const char *what, apr_status_t rv)
{
    char buf[256];

    fprintf(stderr, "echo: %s: %s (%s)\n", what,
            xpipe_strerror(rv, buf, sizeof(buf)), xpipe_status_name(rv));
    return 1;
}

int main(void)
{
    apr_pool_t *pool;
    xpipe_listener_t *l;
    xpipe_t *c;
    apr_thread_t *server;
    apr_status_t rv, srv_rv;
    char name[64], buf[128];
    apr_size_t got = 0;

    if (strcmp(xpipe_version_string(), XPIPE_VERSION_STRING) != 0
        || xpipe_version() != XPIPE_VERSION_HEX) {
        fprintf(stderr, "echo: headers say %s, the library %s\n",
                XPIPE_VERSION_STRING, xpipe_version_string());
        return 1;
    }
    if ((rv = xpipe_initialize()) != APR_SUCCESS)
        return fail("initialize", rv);
    apr_pool_create(&pool, NULL);
    snprintf(name, sizeof(name), "consumer-echo-%lu",
             (unsigned long)apr_time_now());
    if ((rv = xpipe_listen(&l, name, NULL, pool)) != APR_SUCCESS)
        return fail("listen", rv);
    if ((rv = apr_thread_create(&server, NULL, serve, l, pool)) != APR_SUCCESS)
        return fail("thread", rv);
    rv = xpipe_connect(&c, name, NULL, DEADLINE, pool);
    if (rv == APR_SUCCESS) {
        xpipe_timeout_set(c, DEADLINE);
        rv = xpipe_write_full(c, greeting, sizeof(greeting), NULL);
    }
    if (rv == APR_SUCCESS)
        rv = xpipe_read_full(c, buf, sizeof(greeting), &got);
    apr_thread_join(&srv_rv, server);
    if (rv != APR_SUCCESS)
        return fail("client", rv);
    if (srv_rv != APR_SUCCESS)
        return fail("server", srv_rv);
    if (got != sizeof(greeting) || memcmp(buf, greeting, got) != 0) {
        fprintf(stderr, "echo: the reply differs from what was sent\n");
        return 1;
    }
    printf("echo ok: xpipe %s (%s), %lu bytes there and back\n",
           xpipe_version_string(), xpipe_backend_name(), (unsigned long)got);
    xpipe_close(c);
    xpipe_listener_close(l);
    apr_pool_destroy(pool);
    xpipe_terminate();
    return 0;
}
