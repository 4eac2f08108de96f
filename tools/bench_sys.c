/* SPDX-License-Identifier: Apache-2.0 */
/* bench_sys.c — what an operation costs the OS, counted by the OS: the
 * system calls and context switches of a process, for `xpipe-bench` to
 * print beside each ratio (they carry over between machines, where the
 * times do not). Linux: perf_event_open on the raw_syscalls:sys_enter
 * tracepoint (its id from tracefs; needs root or CAP_PERFMON, or
 * perf_event_paranoid -1) and the context-switch software event. Other
 * systems: not counted (the figures say n/a, and why).
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __linux__
#include <errno.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

struct bench_counter_t {
    int sys_fd, csw_fd;
};

/* The tracepoint's id, or -1 (tracefs not mounted or not readable). */
static long bench_tracepoint_id(void)
{
    static const char *const dirs[] = { "/sys/kernel/tracing",
                                        "/sys/kernel/debug/tracing" };
    char path[128];
    long id = -1;
    size_t i;

    for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]) && id < 0; i++) {
        FILE *f;
        snprintf(path, sizeof(path), "%s/events/raw_syscalls/sys_enter/id",
                 dirs[i]);
        if ((f = fopen(path, "r")) != NULL) {
            if (fscanf(f, "%ld", &id) != 1)
                id = -1;
            fclose(f);
        }
    }
    return id;
}

static int bench_perf_open(unsigned int type, unsigned long long config,
                           long pid, int threads)
{
    struct perf_event_attr a;

    memset(&a, 0, sizeof(a));
    a.size = sizeof(a);
    a.type = type;
    a.config = config;
    /* Not inherited: the children this process starts (the servers) are
     * counted on their own; unless asked, for a client whose library
     * starts threads (read() then sums them). */
    a.inherit = threads ? 1 : 0;
    return (int)syscall(SYS_perf_event_open, &a, (pid_t)pid, -1, -1, 0UL);
}

static bench_counter_t *bench_counter_make(long pid, int threads,
                                           const char **why)
{
    long id = bench_tracepoint_id();
    bench_counter_t *c;

    if (id < 0) {
        *why = "no tracefs (as root: mount -t tracefs nodev "
               "/sys/kernel/tracing)";
        return NULL;
    }
    if ((c = malloc(sizeof(*c))) == NULL) {
        *why = "out of memory";
        return NULL;
    }
    c->sys_fd = bench_perf_open(PERF_TYPE_TRACEPOINT, (unsigned long long)id,
                                pid, threads);
    c->csw_fd = c->sys_fd < 0 ? -1
                              : bench_perf_open(PERF_TYPE_SOFTWARE,
                                                PERF_COUNT_SW_CONTEXT_SWITCHES,
                                                pid, threads);
    if (c->csw_fd < 0) {
        *why = errno == EACCES || errno == EPERM
                   ? "perf_event_open refused (root, CAP_PERFMON or "
                     "kernel.perf_event_paranoid=-1 needed)"
                   : "perf_event_open failed";
        if (c->sys_fd >= 0)
            close(c->sys_fd);
        free(c);
        return NULL;
    }
    return c;
}

bench_counter_t *bench_counter_open(long pid, const char **why)
{
    return bench_counter_make(pid, 0, why);
}

bench_counter_t *bench_counter_open_threads(long pid, const char **why)
{
    return bench_counter_make(pid, 1, why);
}

int bench_counter_read(bench_counter_t *c, bench_count_t *out)
{
    unsigned long long v[2];

    if (c == NULL || read(c->sys_fd, &v[0], sizeof(v[0])) != sizeof(v[0])
        || read(c->csw_fd, &v[1], sizeof(v[1])) != sizeof(v[1]))
        return -1;
    out->syscalls = (double)v[0];
    out->switches = (double)v[1];
    return 0;
}

void bench_counter_close(bench_counter_t *c)
{
    if (c) {
        close(c->sys_fd);
        close(c->csw_fd);
        free(c);
    }
}

#else /* not Linux */

bench_counter_t *bench_counter_open(long pid, const char **why)
{
    (void)pid;
    *why = "counted on Linux only (perf_event_open)";
    return NULL;
}

bench_counter_t *bench_counter_open_threads(long pid, const char **why)
{
    return bench_counter_open(pid, why);
}

int bench_counter_read(bench_counter_t *c, bench_count_t *out)
{
    (void)c;
    (void)out;
    return -1;
}

void bench_counter_close(bench_counter_t *c)
{
    (void)c;
}

#endif
