/* SPDX-License-Identifier: Apache-2.0 */
/* tool.h — PRIVATE to tools/: what the xpipe tool and xpipe-bench share
 * (common.c), and the benchmarks' entry (bench.c). */
#ifndef XPIPE_TOOL_H
#define XPIPE_TOOL_H

#include <apr_getopt.h>
#include <apr_pools.h>
#include <apr_time.h>

/* The program's name for "try 'NAME --help'" (main sets it). */
extern const char *tool_program;
/* Print "xpipe: <what>: <status text>[ — <detail>]" on stderr; returns 1. */
int tool_fail(const char *what, apr_status_t rv);
/* Print "xpipe: <why>" and a hint to --help on stderr; returns 2. */
int tool_usage_error(const char *why);
/* apr_getopt_init for a command's options (after argv[1], interleaved
 * with operands); apr_getopt's complaint goes to err (TOOL_ERRLEN). */
#define TOOL_ERRLEN 160
void tool_getopt_init(apr_getopt_t **os, apr_pool_t *pool, int argc,
                      const char *const *argv, char *err);
/* Seconds (a decimal string) to microseconds; -2 when malformed. */
apr_interval_time_t tool_seconds(const char *s);
/* The benchmarks (bench.c): argv as `xpipe-bench ...`, with "bench"
 * put in as argv[1] by its main; returns the exit status. */
int tool_bench(int argc, const char *const *argv, apr_pool_t *pool);

#endif
