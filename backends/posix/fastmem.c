/* SPDX-License-Identifier: Apache-2.0 */
/* fastmem.c — the fast path's objects of the OS (fast.c runs the
 * protocol on them): the address a client that asks binds, the token an
 * answer carries, and the shared memory: a memfd of the exact size,
 * sealed against any change of size, made and mapped by the server;
 * checked by the client before it maps it (an unsealed file could shrink
 * under the mapping and raise SIGBUS).
 */
#include "posix.h"

#include "fast.h"
#include "ring.h"

#include <apr_general.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#if UNIX_FAST_OS
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#endif

/* The address prefix of a client that asks (sun_path[0] is 0). */
static const char unix_fast_tag[] = "xpipe-fast-";

apr_size_t xpipe__unix_fast_ring(const xpipe_attr_t *attr)
{
    return UNIX_FAST_OS ? xpipe__fast_ring_want(attr) : 0;
}

int xpipe__unix_fast_asked(const struct sockaddr_un *sa, socklen_t len)
{
    apr_size_t tag = sizeof(unix_fast_tag) - 1;

    return len >= (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + tag)
           && sa->sun_family == AF_UNIX && sa->sun_path[0] == 0
           && memcmp(sa->sun_path + 1, unix_fast_tag, tag) == 0;
}

#if UNIX_FAST_OS

apr_status_t xpipe__unix_fast_bind(int fd)
{
    static xpipe__a32_t counter;
    struct sockaddr_un sa;
    int n, tries;

    for (tries = 0; tries < 4; tries++) {
        apr_uint64_t r;
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        if (apr_generate_random_bytes((unsigned char *)&r, sizeof(r))
            != APR_SUCCESS)
            r = (apr_uint64_t)apr_time_now();
        n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
                     "%s%ld-%u-%016llx", unix_fast_tag, (long)getpid(),
                     (unsigned)xpipe__a32_add(&counter, 1),
                     (unsigned long long)r);
        if (unix_sys.bind(fd, (struct sockaddr *)&sa,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1
                                      + (apr_size_t)n))
            == 0)
            return APR_SUCCESS;
        if (errno != EADDRINUSE)
            break;
    }
    return APR_FROM_OS_ERROR(errno);
}

/* The descriptor a server's 'N' carries: any harmless one marks the
 * answer as one (an eventfd of this process, made once, never closed). */
int xpipe__unix_fast_token(void)
{
    static xpipe__a32_t token; /* fd + 1, 0: not made yet */
    apr_uint32_t t = xpipe__a32_get(&token);
    int fd;

    if (t != 0)
        return (int)t - 1;
    fd = eventfd(0, EFD_CLOEXEC);
    if (fd < 0)
        return -1;
    t = xpipe__a32_cas(&token, (apr_uint32_t)fd + 1, 0);
    if (t == 0)
        return fd;
    unix_sys.close(fd); /* another thread's won */
    return (int)t - 1;
}

void xpipe__unix_fast_mem_unmap(xpipe__unix_mem_t *m)
{
    if (m->base) {
        unix_sys.munmap(m->base, m->size);
        m->base = NULL;
    }
    xpipe__unix_close_fd(&m->fd);
}

/* Make the memory: a memfd of the exact size, sealed against any change
 * of size and against new seals, mapped and formatted. */
apr_status_t xpipe__unix_fast_mem_make(xpipe__unix_mem_t *m, uint32_t cap)
{
    apr_size_t size = xpipe__ring_size(cap);
    void *base;

    m->fd =
        unix_sys.memfd_create("xpipe-fast", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (m->fd < 0)
        return xpipe__fail(APR_FROM_OS_ERROR(errno), "memfd_create failed");
    if (unix_sys.ftruncate(m->fd, (off_t)size) < 0
        || unix_sys.fcntl(m->fd, F_ADD_SEALS,
                          F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
               < 0)
        return xpipe__fail(APR_FROM_OS_ERROR(errno),
                           "cannot size and seal the shared memory");
    base =
        unix_sys.mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
    if (base == MAP_FAILED)
        return xpipe__fail(APR_FROM_OS_ERROR(errno),
                           "cannot map the shared memory");
    m->base = base;
    m->size = size;
    xpipe__ring_format(base, cap, (uint32_t)((uintptr_t)base >> 12));
    return APR_SUCCESS;
}

/* Check a memfd the server sent, then map it: a sealed (shrink, grow,
 * seal) regular shared-memory file whose size is a valid ring's. Nothing
 * is mapped before all of that holds: an unsealed file could shrink
 * under the mapping and raise SIGBUS. */
apr_status_t xpipe__unix_fast_mem_map(xpipe__unix_mem_t *m, int fd,
                                      uint32_t *cap, apr_size_t max_message)
{
    const int need = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
    struct stat st;
    int seals;
    void *base;

    if (unix_sys.fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return xpipe__fail(XPIPE_EPROTO, "the server's shared memory is not "
                                         "a regular file");
    seals = unix_sys.fcntl(fd, F_GET_SEALS, 0);
    if (seals < 0 || (seals & need) != need)
        return xpipe__fail(XPIPE_EPROTO,
                           "the server's shared memory is not sealed "
                           "(seals %#x)",
                           seals < 0 ? 0u : (unsigned)seals);
    *cap = xpipe__ring_cap((apr_uint64_t)st.st_size, max_message);
    if (*cap == 0)
        return xpipe__fail(XPIPE_EPROTO,
                           "the server's shared memory has a size no ring "
                           "has (%" APR_INT64_T_FMT " bytes)",
                           (apr_int64_t)st.st_size);
    base = unix_sys.mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
                         MAP_SHARED, fd, 0);
    if (base == MAP_FAILED)
        return xpipe__fail(APR_FROM_OS_ERROR(errno),
                           "cannot map the server's shared memory");
    m->base = base;
    m->size = (apr_size_t)st.st_size;
    return APR_SUCCESS;
}

#endif
