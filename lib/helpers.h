/* SPDX-License-Identifier: Apache-2.0 */
/* helpers.h — PRIVATE: what lib/ and the backends share beside the
 * contract (backend.h): the hot-path macros, deadlines, the failure
 * detail and the log sink, messages held for a larger buffer, a child's
 * environment, name parsing (lib/helpers.c, lib/status.c, lib/name.c).
 */
#ifndef XPIPE_HELPERS_H
#define XPIPE_HELPERS_H

#include "backend.h"

#include <apr_time.h>

#if defined(__GNUC__) || defined(__clang__)
#define XPIPE__PRINTF(f, a) __attribute__((format(printf, f, a)))
/* The code every transfer runs (the public I/O calls, the guard, the
 * backends' transfers): the compiler keeps it together (.text.hot), so a
 * call touches few pages of code. That counts where each system call
 * empties the TLB (page-table isolation without PCID: every transfer
 * pays a page walk per page it touches after the call). */
#define XPIPE__HOT __attribute__((hot))
/* A function written once for several callers that pass constants, made
 * into a copy per caller with those constants folded in. */
#define XPIPE__SPECIALIZE inline __attribute__((always_inline))
#else
#define XPIPE__PRINTF(f, a)
#define XPIPE__HOT
#define XPIPE__SPECIALIZE inline
#endif

/* Deadline for a relative timeout: -1 -> XPIPE__FOREVER. Inline: most
 * calls have none, or may not block, and need no clock. */
static inline apr_time_t xpipe__deadline(apr_interval_time_t timeout)
{
    if (timeout < 0)
        return XPIPE__FOREVER;
    return timeout == 0 ? XPIPE__NOW : apr_time_now() + timeout;
}
/* Milliseconds left until a deadline that is neither (lib/helpers.c). */
int xpipe__remaining_ms_at(apr_time_t deadline);
/* Milliseconds left until the deadline, rounded up, for poll() and
 * WaitForMultipleObjects(): -1 for forever, 0 when passed. */
static inline int xpipe__remaining_ms(apr_time_t deadline)
{
    if (deadline == XPIPE__FOREVER)
        return -1;
    return deadline == XPIPE__NOW ? 0 : xpipe__remaining_ms_at(deadline);
}
/* lib/'s answer for an optional slot a transport leaves NULL:
 * APR_ENOTIMPL, its detail naming the transport and what it does not
 * offer (lib/helpers.c). */
apr_status_t xpipe__not_offered(const xpipe__backend_t *be, const char *what);
/* Record what is known about a failure for xpipe_error_detail()
 * (lib/status.c); returns rv so a failure site can say both at once. */
apr_status_t xpipe__fail(apr_status_t rv, const char *fmt, ...)
    XPIPE__PRINTF(2, 3);
/* Report an event that is no caller's failure through attr's log sink
 * (lib/helpers.c). */
void xpipe__log(const xpipe_attr_t *attr, const char *fmt, ...)
    XPIPE__PRINTF(2, 3);
/* Whether the calling thread's detail holds anything (lib/status.c owns
 * it and the text): one flag, cleared by every transfer, so that clearing
 * costs one store where the TLS model allows (meson.build). */
#ifdef XPIPE__TLS_INITIAL_EXEC
#define XPIPE__TLS_FAST __attribute__((tls_model("initial-exec")))
#else
#define XPIPE__TLS_FAST
#endif
extern _Thread_local unsigned char xpipe__fail_set XPIPE__TLS_FAST;
/* Forget the last detail: at the start of every public call that returns
 * an apr_status_t. Inline: every transfer does it. */
static inline void xpipe__fail_clear(void)
{
    xpipe__fail_set = 0;
}
/* The calling thread's detail, kept aside while work that is not the
 * caller's (a fast path's setup: its failures are logged) sets its own,
 * then put back (lib/status.c). */
typedef struct xpipe__detail_t {
    char text[512];
} xpipe__detail_t;
void xpipe__detail_save(xpipe__detail_t *d);
void xpipe__detail_restore(const xpipe__detail_t *d);
/* A message kept whole by a backend because the caller's buffer was too
 * small (lib/helpers.c). xpipe__held_take delivers it: 1 when one was held
 * (*rv then says APR_SUCCESS, or XPIPE_EMSGSIZE with *len its size), 0
 * when none was. */
typedef struct xpipe__held_t {
    unsigned char *data; /* malloc'd; NULL when nothing is held */
    apr_size_t len;
} xpipe__held_t;
int xpipe__held_take(xpipe__held_t *h, void *buf, apr_size_t *len,
                     apr_status_t *rv);
/* A child's environment (lib/helpers.c): env's "NAME=value" strings but
 * any for name, then line; NULL-terminated, from pool. */
const char *const *xpipe__env_with(const char *const *env, const char *name,
                                   const char *line, apr_pool_t *pool);
/* Parse a name (lib/name.c). */
apr_status_t xpipe__name_parse(xpipe__name_t *out, const char *name,
                               apr_pool_t *pool);

#endif /* XPIPE_HELPERS_H */
