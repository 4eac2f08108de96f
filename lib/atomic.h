/* SPDX-License-Identifier: Apache-2.0 */
/* atomic.h — PRIVATE to lib/ and the backends: the atomics the guard and
 * the wake objects use. C11's, sequentially consistent (as APR's are), so
 * that ThreadSanitizer sees the happens-before they make: APR's atomics
 * live in an uninstrumented library and are opaque to it.
 */
#ifndef XPIPE_ATOMIC_H
#define XPIPE_ATOMIC_H

#include <apr.h>

#include <stdatomic.h>

typedef _Atomic apr_uint32_t xpipe__a32_t;
typedef _Atomic apr_uint64_t xpipe__a64_t;

static inline apr_uint32_t xpipe__a32_get(xpipe__a32_t *p)
{
    return atomic_load(p);
}

static inline void xpipe__a32_set(xpipe__a32_t *p, apr_uint32_t v)
{
    atomic_store(p, v);
}

/* Set *p to with when it holds cmp; returns what it held (APR's rule). */
static inline apr_uint32_t xpipe__a32_cas(xpipe__a32_t *p, apr_uint32_t with,
                                          apr_uint32_t cmp)
{
    atomic_compare_exchange_strong(p, &cmp, with);
    return cmp;
}

/* Add v; returns the value before. */
static inline apr_uint32_t xpipe__a32_add(xpipe__a32_t *p, apr_uint32_t v)
{
    return atomic_fetch_add(p, v);
}

static inline apr_uint64_t xpipe__a64_get(xpipe__a64_t *p)
{
    return atomic_load(p);
}

static inline void xpipe__a64_set(xpipe__a64_t *p, apr_uint64_t v)
{
    atomic_store(p, v);
}

static inline apr_uint64_t xpipe__a64_cas(xpipe__a64_t *p, apr_uint64_t with,
                                          apr_uint64_t cmp)
{
    atomic_compare_exchange_strong(p, &cmp, with);
    return cmp;
}

#endif
