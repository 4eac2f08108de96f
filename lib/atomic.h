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

/* xpipe__a<bits>_t and, for it: get, set, cas (set *p to with when it
 * holds cmp; returns what it held, APR's rule) and add (returns the value
 * before). */
#define XPIPE__ATOMIC(bits, type)                                              \
    typedef _Atomic type xpipe__a##bits##_t;                                   \
    static inline type xpipe__a##bits##_get(xpipe__a##bits##_t *p)             \
    {                                                                          \
        return atomic_load(p);                                                 \
    }                                                                          \
    static inline void xpipe__a##bits##_set(xpipe__a##bits##_t *p, type v)     \
    {                                                                          \
        atomic_store(p, v);                                                    \
    }                                                                          \
    static inline type xpipe__a##bits##_cas(xpipe__a##bits##_t *p, type with,  \
                                            type cmp)                          \
    {                                                                          \
        atomic_compare_exchange_strong(p, &cmp, with);                         \
        return cmp;                                                            \
    }                                                                          \
    static inline type xpipe__a##bits##_add(xpipe__a##bits##_t *p, type v)     \
    {                                                                          \
        return atomic_fetch_add(p, v);                                         \
    }

XPIPE__ATOMIC(32, apr_uint32_t)
XPIPE__ATOMIC(64, apr_uint64_t)

#endif
