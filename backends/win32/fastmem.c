/* SPDX-License-Identifier: Apache-2.0 */
/* fastmem.c — the fast path's objects of the OS on Windows (fast.c runs
 * the protocol on them): an unnamed section of the exact size and four
 * auto-reset events, made by the server and offered by their values in
 * its process; the client pulls each with DuplicateHandle (a value can
 * only name the server's own objects, never one of the client's) and
 * checks it before use: the mapping of that exact size, the id in its
 * header, each event by setting it.
 *
 * The offer: tag 'F', three zero bytes, version, capacity, id, then the
 * section's and the four events' values (64-bit little-endian).
 */
#include "win32.h"

#include "ring.h"

#include <apr_general.h>

#include <string.h>

uint32_t xpipe__win32_fast_id(void)
{
    uint32_t id;

    if (apr_generate_random_bytes((unsigned char *)&id, sizeof(id))
        != APR_SUCCESS)
        id = (uint32_t)apr_time_now() ^ (uint32_t)GetCurrentProcessId();
    return id;
}

/* Little-endian numbers of the offer, bytes long. */
static void fast_put(unsigned char *p, apr_uint64_t v, int bytes)
{
    int i;

    for (i = 0; i < bytes; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static apr_uint64_t fast_get(const unsigned char *p, int bytes)
{
    apr_uint64_t v = 0;

    while (bytes-- > 0)
        v = v << 8 | p[bytes];
    return v;
}

/* The server's memory: a section of the exact size, mapped and
 * formatted, and the four events. */
apr_status_t xpipe__win32_fast_mem_make(xpipe__win32_mem_t *m, uint32_t cap,
                                        uint32_t id)
{
    apr_uint64_t size = xpipe__ring_size(cap);
    int i;

    m->section = win32_sys.create_file_mapping(
        INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, (DWORD)(size >> 32),
        (DWORD)size, NULL);
    if (m->section == NULL)
        return xpipe__fail(win32_os_status(GetLastError()),
                           "cannot make the shared memory");
    m->base =
        MapViewOfFile(m->section, FILE_MAP_ALL_ACCESS, 0, 0, (SIZE_T)size);
    if (m->base == NULL)
        return xpipe__fail(win32_os_status(GetLastError()),
                           "cannot map the shared memory");
    xpipe__ring_format(m->base, cap, id);
    for (i = 0; i < 4; i++)
        if ((m->ev[i] = win32_sys.create_event(NULL, FALSE, FALSE, NULL))
            == NULL)
            return win32_os_status(GetLastError());
    return APR_SUCCESS;
}

void xpipe__win32_fast_mem_offer(const xpipe__win32_mem_t *mem, uint32_t cap,
                                 uint32_t id,
                                 unsigned char m[XPIPE__WIN32_OFFER_LEN])
{
    int i;

    memset(m, 0, XPIPE__WIN32_OFFER_LEN);
    m[0] = 'F';
    fast_put(m + 4, XPIPE__RING_VERSION, 4);
    fast_put(m + 8, cap, 4);
    fast_put(m + 12, id, 4);
    fast_put(m + 16, (apr_uint64_t)(apr_uintptr_t)mem->section, 8);
    for (i = 0; i < 4; i++)
        fast_put(m + 24 + 8 * i, (apr_uint64_t)(apr_uintptr_t)mem->ev[i], 8);
}

void xpipe__win32_fast_mem_unmap(xpipe__win32_mem_t *m)
{
    int i;

    if (m->base) {
        UnmapViewOfFile(m->base);
        m->base = NULL;
    }
    if (m->section) {
        win32_sys.close_handle(m->section);
        m->section = NULL;
    }
    for (i = 0; i < 4; i++)
        if (m->ev[i]) {
            win32_sys.close_handle(m->ev[i]);
            m->ev[i] = NULL;
        }
}

/* A handle of the server's, by its value there, into ours. */
static HANDLE fast_pull(HANDLE server, apr_uint64_t v)
{
    HANDLE h = NULL;

    if (v == 0 || v != (apr_uint64_t)(apr_uintptr_t)(HANDLE)(apr_uintptr_t)v
        || !win32_sys.duplicate_handle(server, (HANDLE)(apr_uintptr_t)v,
                                       GetCurrentProcess(), &h, 0, FALSE,
                                       DUPLICATE_SAME_ACCESS))
        return NULL;
    return h;
}

apr_status_t xpipe__win32_fast_mem_take(xpipe__win32_mem_t *mem, HANDLE server,
                                        const unsigned char *m, DWORD n,
                                        apr_size_t max_message, uint32_t *capp)
{
    uint32_t cap, id;
    volatile uint32_t *hid;
    apr_size_t size;
    int i;

    if (n != XPIPE__WIN32_OFFER_LEN - 1)
        return xpipe__fail(XPIPE_EPROTO, "the offer has %lu bytes",
                           (unsigned long)n);
    m--; /* offsets as in the layout, tag included */
    cap = (uint32_t)fast_get(m + 8, 4);
    id = (uint32_t)fast_get(m + 12, 4);
    if ((uint32_t)fast_get(m + 4, 4) != XPIPE__RING_VERSION)
        return xpipe__fail(XPIPE_EPROTO, "the offer is of version %u",
                           (unsigned)(uint32_t)fast_get(m + 4, 4));
    if (cap == 0 || xpipe__ring_cap(xpipe__ring_size(cap), max_message) != cap)
        return xpipe__fail(XPIPE_EPROTO, "the offer's capacity %u is no ring's",
                           (unsigned)cap);
    size = xpipe__ring_size(cap);
    mem->section = fast_pull(server, fast_get(m + 16, 8));
    if (mem->section == NULL)
        return xpipe__fail(XPIPE_EPROTO, "the offer's section cannot be had "
                                         "from the server's process");
    /* A section smaller than that is not mapped: MapViewOfFile fails. */
    mem->base = MapViewOfFile(mem->section, FILE_MAP_ALL_ACCESS, 0, 0, size);
    if (mem->base == NULL)
        return xpipe__fail(XPIPE_EPROTO,
                           "the offer's section does not map at %lu bytes "
                           "(error %lu)",
                           (unsigned long)size, (unsigned long)GetLastError());
    hid = &((xpipe__ring_hdr_t *)mem->base)->id;
    if (*hid != id) /* a value the server has reused since */
        return xpipe__fail(XPIPE_EPROTO, "the offer's section is another's");
    /* Setting an event is harmless (one spurious wake-up) and fails for
     * any other kind of object. */
    for (i = 0; i < 4; i++)
        if ((mem->ev[i] = fast_pull(server, fast_get(m + 24 + 8 * i, 8)))
                == NULL
            || !SetEvent(mem->ev[i])) {
            /* A server that has closed since let its events go: nothing
             * wrong (what it sent is on the pipe: it never switched). */
            xpipe__ring_hdr_t *h = mem->base;
            if (atomic_load(&h->dir[1].closed) || atomic_load(&h->dir[0].gone))
                return APR_EOF;
            return xpipe__fail(XPIPE_EPROTO,
                               "the offer's event %d cannot be had or set", i);
        }
    *capp = cap;
    return APR_SUCCESS;
}
