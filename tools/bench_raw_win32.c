/* SPDX-License-Identifier: Apache-2.0 */
/* bench_raw_win32.c — the baseline of `xpipe-bench` on Windows: the
 * synchronous CreateNamedPipe/ConnectNamedPipe/ReadFile/WriteFile calls
 * that xpipe's Win32 backend wraps (bench_raw.h).
 */
#include "bench_raw.h"

#include <apr_strings.h>
#include <apr_time.h>

#include <stdlib.h>
#include <string.h>

static wchar_t *raw_wide(const char *native, apr_pool_t *pool)
{
    int n = MultiByteToWideChar(CP_UTF8, 0, native, -1, NULL, 0);
    wchar_t *w = apr_palloc(pool, (apr_size_t)n * sizeof(wchar_t));
    MultiByteToWideChar(CP_UTF8, 0, native, -1, w, n);
    return w;
}

long bench_raw_buffers;

struct bench_raw_lsn_t {
    wchar_t *name;
    int message;
    HANDLE next; /* the instance the next client will find */
};

static HANDLE raw_instance(bench_raw_lsn_t *l)
{
    DWORD mode = l->message ? PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE
                            : PIPE_TYPE_BYTE | PIPE_READMODE_BYTE;
    DWORD size = bench_raw_buffers ? (DWORD)bench_raw_buffers : 65536;

    return CreateNamedPipeW(l->name, PIPE_ACCESS_DUPLEX, mode | PIPE_WAIT,
                            PIPE_UNLIMITED_INSTANCES, size, size, 0, NULL);
}

bench_raw_lsn_t *bench_raw_listen(const char *native, int message,
                                  apr_pool_t *p)
{
    bench_raw_lsn_t *l = apr_pcalloc(p, sizeof(*l));
    l->name = raw_wide(native, p);
    l->message = message;
    l->next = raw_instance(l);
    return l->next == INVALID_HANDLE_VALUE ? NULL : l;
}

bench_raw_t bench_raw_accept(bench_raw_lsn_t *l)
{
    HANDLE h = l->next;

    if (!ConnectNamedPipe(h, NULL) && GetLastError() != ERROR_PIPE_CONNECTED)
        return BENCH_RAW_NONE;
    /* Like any sane server: the next instance exists before this one is
     * served, so clients do not find the name missing meanwhile. */
    l->next = raw_instance(l);
    return h;
}

void bench_raw_listen_close(bench_raw_lsn_t *l)
{
    if (l->next != INVALID_HANDLE_VALUE)
        CloseHandle(l->next);
}

bench_raw_t bench_raw_connect(const char *native, int message, apr_pool_t *p)
{
    wchar_t *w = raw_wide(native, p);
    apr_time_t end = apr_time_now() + 10 * APR_USEC_PER_SEC;
    HANDLE h;

    for (;;) {
        h = CreateFileW(w, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                        0, NULL);
        if (h != INVALID_HANDLE_VALUE)
            break;
        if (apr_time_now() > end)
            return BENCH_RAW_NONE;
        if (GetLastError() == ERROR_PIPE_BUSY)
            WaitNamedPipeW(w, 1000);
        else
            apr_sleep(1000); /* the server is not up yet */
    }
    if (message) {
        DWORD mode = PIPE_READMODE_MESSAGE;
        SetNamedPipeHandleState(h, &mode, NULL, NULL);
    }
    return h;
}

long bench_raw_read(bench_raw_t h, void *buf, long len)
{
    DWORD n = 0;
    if (!ReadFile(h, buf, (DWORD)len, &n, NULL)
        && GetLastError() != ERROR_MORE_DATA)
        return -1;
    return (long)n;
}

long bench_raw_write(bench_raw_t h, const void *buf, long len)
{
    DWORD n = 0;
    if (!WriteFile(h, buf, (DWORD)len, &n, NULL))
        return -1;
    return (long)n;
}

void bench_raw_close(bench_raw_t h)
{
    CloseHandle(h);
}

/* `xpipe-bench many`'s raw server: an I/O completion port on one thread,
 * pending instances with overlapped ConnectNamedPipe, then read / write
 * / read on each client. */
typedef struct raw_conn_t {
    OVERLAPPED ov; /* first: the packet's OVERLAPPED is the connection */
    HANDLE h;
    int state; /* 0 connecting, 1 reading, 2 writing */
    DWORD len;
    char buf[4096];
} raw_conn_t;

static raw_conn_t *raw_many_arm(const wchar_t *name, HANDLE port)
{
    raw_conn_t *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->h = CreateNamedPipeW(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                            PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT,
                            PIPE_UNLIMITED_INSTANCES, 65536, 65536, 0, NULL);
    if (c->h == INVALID_HANDLE_VALUE
        || !CreateIoCompletionPort(c->h, port, 0, 0)) {
        free(c);
        return NULL;
    }
    if (!ConnectNamedPipe(c->h, &c->ov)) {
        DWORD e = GetLastError();
        if (e == ERROR_PIPE_CONNECTED) /* no packet: post one */
            PostQueuedCompletionStatus(port, 0, 0, &c->ov);
        else if (e != ERROR_IO_PENDING) {
            CloseHandle(c->h);
            free(c);
            return NULL;
        }
    }
    return c;
}

static int raw_many_read(raw_conn_t *c)
{
    DWORD e;

    c->state = 1;
    memset(&c->ov, 0, sizeof(c->ov));
    if (ReadFile(c->h, c->buf, sizeof(c->buf), NULL, &c->ov))
        return 0;
    e = GetLastError();
    return e == ERROR_IO_PENDING ? 0 : -1;
}

int bench_raw_many_serve(const char *native, long n, int msg)
{
    apr_pool_t *p;
    const wchar_t *name;
    HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    long served = 0, open = 0, pending = 0, i;

    (void)msg;
    if (port == NULL || apr_pool_create(&p, NULL) != APR_SUCCESS)
        return 1;
    name = raw_wide(native, p);
    for (i = 0; i < 63 && i < n; i++, pending++)
        if (raw_many_arm(name, port) == NULL)
            return 1;
    while (served < n || open > 0) {
        DWORD bytes = 0;
        ULONG_PTR key;
        OVERLAPPED *ov = NULL;
        BOOL ok = GetQueuedCompletionStatus(port, &bytes, &key, &ov, 30000);
        raw_conn_t *c = (raw_conn_t *)ov;
        if (c == NULL)
            return 1; /* timed out */
        if (c->state == 0) {
            pending--;
            if (!ok) {
                CloseHandle(c->h);
                free(c);
            }
            else {
                served++;
                open++;
                if (raw_many_read(c) < 0) {
                    CloseHandle(c->h);
                    free(c);
                    open--;
                }
            }
            if (served + pending < n && raw_many_arm(name, port))
                pending++;
            continue;
        }
        if (!ok || (c->state == 1 && bytes == 0)) {
            CloseHandle(c->h); /* the client left */
            free(c);
            open--;
            continue;
        }
        if (c->state == 1) {
            c->state = 2;
            c->len = bytes;
            memset(&c->ov, 0, sizeof(c->ov));
            if (!WriteFile(c->h, c->buf, c->len, NULL, &c->ov)
                && GetLastError() != ERROR_IO_PENDING) {
                CloseHandle(c->h);
                free(c);
                open--;
            }
            continue;
        }
        if (raw_many_read(c) < 0) {
            CloseHandle(c->h);
            free(c);
            open--;
        }
    }
    CloseHandle(port);
    apr_pool_destroy(p);
    return 0;
}
