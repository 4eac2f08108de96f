/* SPDX-License-Identifier: Apache-2.0 */
/* tool.h — PRIVATE to tools/: what the xpipe tool's files share. */
#ifndef XPIPE_TOOL_H
#define XPIPE_TOOL_H

#include <apr_pools.h>
#include <apr_time.h>

/* Print "xpipe: <what>: <status text>[ — <detail>]" on stderr; returns 1. */
int tool_fail(const char *what, apr_status_t rv);
/* Print why (if any) and the usage on stderr; returns 2. */
int tool_usage_error(const char *why);
/* Seconds (a decimal string) to microseconds; -2 when malformed. */
apr_interval_time_t tool_seconds(const char *s);
/* `xpipe bench ...` (bench.c); returns the exit status. */
int tool_bench(int argc, const char *const *argv, apr_pool_t *pool);

#endif
