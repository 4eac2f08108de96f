/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_frame.c — libFuzzer target: the framed message decoder (the POSIX
 * message transport where SOCK_SEQPACKET is missing; built with
 * -Dunix_messages=framed). The input is what a hostile peer sends after
 * its hello byte, over a real socket; receiving must never crash, hang,
 * or hand out more than a message's worth, whatever the buffer sizes.
 */
#include "xpipe.h"

#include <apr_pools.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static apr_pool_t *pool;
static xpipe_listener_t *listener;
static struct sockaddr_un addr;

static void setup(void)
{
    xpipe_attr_t *a;
    const char *native;
    char name[64];

    xpipe_initialize();
    apr_pool_create(&pool, NULL);
    xpipe_attr_create(&a, pool);
    xpipe_attr_mode_set(a, XPIPE_MODE_MESSAGE);
    snprintf(name, sizeof(name), "fuzz-frame-%ld", (long)getpid());
    if (xpipe_listen(&listener, name, a, pool) != APR_SUCCESS)
        abort();
    native = xpipe_listener_native_name(listener);
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, native);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char buf[300000];
    apr_pool_t *p;
    xpipe_t *ch;
    apr_size_t cap, n;
    apr_status_t rv;
    int fd, i;

    if (listener == NULL)
        setup();
    if (size > 100000)
        return 0; /* what one socket buffer holds without a reader */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        abort();
    if (write(fd, "M", 1) != 1
        || (size && write(fd, data, size) != (ssize_t)size))
        abort();
    shutdown(fd, SHUT_WR);
    apr_pool_create(&p, pool);
    if (xpipe_accept(&ch, listener, 1000000, p) != APR_SUCCESS)
        abort();
    xpipe_timeout_set(ch, 100000);
    /* Buffer sizes from the input itself, small and large. */
    cap = size ? 1 + (apr_size_t)data[0] * 1031 : 64;
    for (i = 0; i < 1000; i++) {
        n = cap;
        rv = xpipe_recv(ch, buf, &n);
        if (rv == APR_SUCCESS && (n == 0 || n > cap))
            abort();
        if (rv == XPIPE_EMSGSIZE && n <= cap)
            abort();
        if (rv == XPIPE_EMSGSIZE)
            cap = n <= sizeof(buf) ? n : sizeof(buf);
        else if (rv != APR_SUCCESS)
            break; /* APR_EOF, XPIPE_ERESET, XPIPE_EMODE: all fine */
    }
    if (rv == APR_TIMEUP)
        abort(); /* all input was there: waiting means a lost byte */
    close(fd);
    apr_pool_destroy(p);
    return 0;
}
