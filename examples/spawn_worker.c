/* SPDX-License-Identifier: Apache-2.0 */
/* spawn_worker.c — a parent and the child it starts, over a channel that
 * has no name (as Python's multiprocessing.Pipe or Node's fork()).
 *
 * Run without arguments it is the parent: it starts itself as the child
 * with xpipe_spawn, sends a few messages and prints the answers. Started
 * so, the child finds its end with xpipe_child_channel (the environment
 * variable XPIPE_CHANNEL names it; nothing else is inherited) and
 * answers each message in capitals. Usage: spawn_worker
 */
#include <xpipe.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define TIMEOUT (10 * APR_USEC_PER_SEC)

/* The child: answer every message, upper-cased, until the parent ends. */
static int child(xpipe_t *ch)
{
    char buf[256];
    apr_size_t n, i;
    apr_status_t rv;

    xpipe_timeout_set(ch, TIMEOUT);
    for (;;) {
        n = sizeof(buf);
        rv = xpipe_recv(ch, buf, &n);
        if (APR_STATUS_IS_EOF(rv))
            return 0; /* the parent closed its end */
        if (rv != APR_SUCCESS)
            return 1;
        for (i = 0; i < n; i++)
            buf[i] = (char)toupper((unsigned char)buf[i]);
        if (xpipe_send(ch, buf, n) != APR_SUCCESS)
            return 1;
    }
}

static int parent(const char *self, xpipe_attr_t *attr, apr_pool_t *pool)
{
    static const char *const words[] = { "hello", "from", "the parent" };
    const char *argv[] = { self, NULL };
    apr_proc_t proc;
    apr_exit_why_e why;
    xpipe_t *ch;
    char buf[256], err[256];
    int i, code = 1;
    apr_status_t rv;

    rv = xpipe_spawn(&proc, &ch, self, argv, NULL, attr, pool);
    if (rv != APR_SUCCESS) {
        fprintf(stderr, "spawn_worker: %s\n",
                xpipe_strerror(rv, err, sizeof(err)));
        return 1;
    }
    xpipe_timeout_set(ch, TIMEOUT);
    for (i = 0; i < 3 && rv == APR_SUCCESS; i++) {
        apr_size_t n = sizeof(buf) - 1;
        rv = xpipe_send(ch, words[i], strlen(words[i]));
        if (rv == APR_SUCCESS)
            rv = xpipe_recv(ch, buf, &n);
        if (rv == APR_SUCCESS) {
            buf[n] = 0;
            printf("child %ld answered: %s\n", (long)proc.pid, buf);
        }
    }
    if (rv != APR_SUCCESS)
        fprintf(stderr, "spawn_worker: %s\n",
                xpipe_strerror(rv, err, sizeof(err)));
    xpipe_close(ch); /* the child reads the end of the stream and exits */
    apr_proc_wait(&proc, &code, &why, APR_WAIT);
    return rv == APR_SUCCESS && why == APR_PROC_EXIT && code == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    apr_pool_t *pool;
    xpipe_attr_t *attr;
    xpipe_t *ch;
    int rc;

    (void)argc;
    xpipe_initialize();
    apr_pool_create(&pool, NULL);
    xpipe_attr_create(&attr, pool);
    xpipe_attr_mode_set(attr, XPIPE_MODE_MESSAGE);
    /* Started by xpipe_spawn: the variable is there. */
    if (xpipe_child_channel(&ch, NULL, pool) == APR_SUCCESS)
        rc = child(ch);
    else
        rc = parent(argv[0], attr, pool);
    apr_pool_destroy(pool);
    xpipe_terminate();
    return rc;
}
