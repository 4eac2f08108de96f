/* SPDX-License-Identifier: Apache-2.0 */
/* common.c — what the xpipe tool (cli.c) and the benchmarks
 * (xpipe-bench, bench*.c) share: failures and usage errors said the same
 * way, their option parsing, seconds.
 */
#include "xpipe.h"
#include "tool.h"

#include <apr_lib.h>
#include <apr_strings.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tool_program = "xpipe";

int tool_fail(const char *what, apr_status_t rv)
{
    char buf[256];
    const char *detail = xpipe_error_detail();

    fprintf(stderr, "xpipe: %s: %s%s%s\n", what,
            xpipe_strerror(rv, buf, sizeof(buf)), detail[0] ? " — " : "",
            detail);
    return 1;
}

int tool_usage_error(const char *why)
{
    fprintf(stderr, "xpipe: %s\ntry '%s --help'\n", why, tool_program);
    return 2;
}

/* apr_getopt's complaint, e.g. "invalid option: --nope" or "missing
 * argument: --timeout", kept for the one-line usage error. */
static void tool_getopt_err(void *arg, const char *fmt, ...)
{
    char line[256];
    const char *p;
    va_list ap;

    va_start(ap, fmt);
    apr_vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    /* "xpipe: invalid option: --nope\n": drop the program name */
    p = strstr(line, ": ");
    apr_cpystrn(arg, p ? p + 2 : line, TOOL_ERRLEN);
    ((char *)arg)[strcspn(arg, "\n")] = '\0';
}

void tool_getopt_init(apr_getopt_t **os, apr_pool_t *pool, int argc,
                      const char *const *argv, char *err)
{
    apr_getopt_init(os, pool, argc, argv);
    (*os)->errfn = tool_getopt_err;
    (*os)->errarg = err;
    err[0] = '\0';
    /* Options start after the command and may follow NAME too. */
    (*os)->ind = (*os)->skip_start = (*os)->skip_end = 2;
    (*os)->interleave = 1;
}

/* Seconds (a decimal) to an interval; -2 when malformed. */
apr_interval_time_t tool_seconds(const char *s)
{
    char *end;
    double d = strtod(s, &end);

    if (end == s || *end || d < 0 || d > 1e6)
        return -2;
    return (apr_interval_time_t)(d * APR_USEC_PER_SEC);
}
