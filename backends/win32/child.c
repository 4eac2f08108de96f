/* SPDX-License-Identifier: Apache-2.0 */
/* child.c — channels without a name on Windows: a pair (one instance of
 * a pipe under a unique, unguessable name, opened at once by its
 * creator), a child started with one end as its only inherited handle,
 * and channels over handles made elsewhere (adopt).
 */
#include "win32.h"

#include <apr_general.h>
#include <apr_strings.h>

#include <stdlib.h>
#include <string.h>

/* NtQueryInformationFile's FileModeInformation: how a handle was opened
 * (a synchronous handle cannot be waited on with an event). */
#define WIN32_FILE_MODE_INFORMATION 16
#define WIN32_FILE_SYNCHRONOUS_IO (0x10 | 0x20) /* ALERT | NONALERT */
typedef LONG(NTAPI *win32_nt_query_fn)(HANDLE, void *iosb, void *info,
                                       ULONG len, int cls);

apr_status_t xpipe__win32_pair(xpipe__chan_t **a, xpipe__chan_t **b,
                               const xpipe_attr_t *attr, apr_pool_t *pa,
                               apr_pool_t *pb)
{
    unsigned char r[16];
    char hex[33], *name;
    const char *me;
    wchar_t *w;
    SECURITY_ATTRIBUTES sa;
    PSECURITY_DESCRIPTOR sd = NULL;
    HANDLE server = INVALID_HANDLE_VALUE, client = INVALID_HANDLE_VALUE;
    OVERLAPPED ov;
    DWORD err = 0, mode = PIPE_READMODE_MESSAGE;
    apr_status_t rv;
    int i;

    /* 128 random bits: nobody guesses the name, and the first-instance
     * flag makes sure nobody made it first. */
    rv = apr_generate_random_bytes(r, sizeof(r));
    if (rv != APR_SUCCESS)
        return xpipe__fail(rv, "no random bytes for a pair's name");
    for (i = 0; i < 16; i++)
        apr_snprintf(hex + 2 * i, 3, "%02x", r[i]);
    name = apr_psprintf(pa, "\\\\.\\pipe\\xpipe-pair-%lu-%s",
                        (unsigned long)GetCurrentProcessId(), hex);
    w = xpipe__win32_wide(name, pa);
    /* Only this user: not even SYSTEM's usual entry. */
    rv = xpipe__win32_token_sid(GetCurrentProcess(), &me, pa);
    if (rv == APR_SUCCESS)
        rv = xpipe__win32_sd(apr_psprintf(pa, "D:P(A;;GA;;;%s)", me), &sa, &sd,
                             pa);
    if (rv != APR_SUCCESS)
        return rv;
    {
        xpipe_attr_t one = *attr;
        one.remote = one.smb_export = 0; /* remote clients refused */
        server = xpipe__win32_pipe_new(w, &one, 1, 1, &sa, &err);
    }
    if (server != INVALID_HANDLE_VALUE) {
        client = win32_sys.create_file(
            w, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
            FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT
                | SECURITY_IDENTIFICATION,
            NULL);
        err = client == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    }
    LocalFree(sd);
    if (client != INVALID_HANDLE_VALUE) {
        /* Opened before the connect: it says so at once. */
        memset(&ov, 0, sizeof(ov));
        ov.hEvent = xpipe__win32_thread_event();
        if (ov.hEvent == NULL)
            err = GetLastError();
        else if (win32_sys.connect_named_pipe(server, &ov))
            err = 0;
        else if ((err = GetLastError()) == ERROR_PIPE_CONNECTED)
            err = 0;
        else if (err == ERROR_IO_PENDING) { /* cannot be: we are the client */
            DWORD n;
            win32_sys.cancel_io_ex(server, &ov);
            win32_sys.get_overlapped_result(server, &ov, &n, TRUE);
        }
    }
    if (err == 0 && attr->mode == XPIPE_MODE_MESSAGE
        && !win32_sys.set_named_pipe_handle_state(client, &mode, NULL, NULL))
        err = GetLastError();
    if (err == 0) {
        xpipe__win32_chan_new(a, server, 1, attr, pa);
        xpipe__win32_chan_new(b, client, 0, attr, pb);
        return APR_SUCCESS;
    }
    if (client != INVALID_HANDLE_VALUE)
        win32_sys.close_handle(client);
    if (server != INVALID_HANDLE_VALUE)
        win32_sys.close_handle(server);
    return xpipe__fail(win32_os_status(err), "cannot make a pipe pair %s",
                       name);
}

/* Windows command-line quoting (as the C runtime parses it back): an
 * argument with a space, tab or quote is quoted; backslashes double only
 * before a quote. */
static void win32_arg_quote(apr_array_header_t *out, const char *arg)
{
    int quote = *arg == 0 || strpbrk(arg, " \t\"") != NULL;
    apr_size_t slashes = 0;
    const char *p;

    if (out->nelts)
        APR_ARRAY_PUSH(out, char) = ' ';
    if (quote)
        APR_ARRAY_PUSH(out, char) = '"';
    for (p = arg; *p; p++) {
        if (*p == '\\') {
            slashes++;
            continue;
        }
        if (*p == '"')
            slashes = slashes * 2 + 1;
        while (slashes) {
            APR_ARRAY_PUSH(out, char) = '\\';
            slashes--;
        }
        APR_ARRAY_PUSH(out, char) = *p;
    }
    if (quote)
        slashes *= 2; /* before the closing quote */
    while (slashes) {
        APR_ARRAY_PUSH(out, char) = '\\';
        slashes--;
    }
    if (quote)
        APR_ARRAY_PUSH(out, char) = '"';
}

/* This process's environment as UTF-8 "NAME=value" strings. */
static const char *const *win32_environ(apr_pool_t *pool)
{
    wchar_t *all = GetEnvironmentStringsW(), *p;
    apr_array_header_t *v = apr_array_make(pool, 64, sizeof(char *));

    for (p = all; p && *p; p += wcslen(p) + 1) {
        int n = WideCharToMultiByte(CP_UTF8, 0, p, -1, NULL, 0, NULL, NULL);
        char *s = n > 0 ? apr_palloc(pool, (apr_size_t)n) : NULL;
        if (s && WideCharToMultiByte(CP_UTF8, 0, p, -1, s, n, NULL, NULL) > 0
            && *s != '=') /* the hidden per-drive entries stay ours */
            APR_ARRAY_PUSH(v, const char *) = s;
    }
    if (all)
        FreeEnvironmentStringsW(all);
    APR_ARRAY_PUSH(v, const char *) = NULL;
    return (const char *const *)v->elts;
}

/* A CreateProcessW environment block from "NAME=value" strings. */
static wchar_t *win32_env_block(const char *const *env, apr_pool_t *pool)
{
    apr_size_t total = 1, at = 0;
    wchar_t *block;
    int i;

    for (i = 0; env[i]; i++)
        total +=
            (apr_size_t)MultiByteToWideChar(CP_UTF8, 0, env[i], -1, NULL, 0);
    block = apr_palloc(pool, total * sizeof(wchar_t));
    for (i = 0; env[i]; i++)
        at += (apr_size_t)MultiByteToWideChar(CP_UTF8, 0, env[i], -1,
                                              block + at, (int)(total - at));
    block[at] = 0;
    return block;
}

apr_status_t xpipe__win32_spawn(apr_proc_t *proc, xpipe__chan_t *mine,
                                xpipe__chan_t *end, const char *program,
                                const char *const *argv, const char *const *env,
                                const char *suffix, apr_pool_t *pool)
{
    static const DWORD std_ids[3] = { STD_INPUT_HANDLE, STD_OUTPUT_HANDLE,
                                      STD_ERROR_HANDLE };
    HANDLE inherit[4], *stds[3];
    STARTUPINFOEXW si;
    PROCESS_INFORMATION pi;
    apr_array_header_t *cmd = apr_array_make(pool, 256, 1);
    SIZE_T size = 0;
    const char *line;
    wchar_t *wprog = xpipe__win32_wide(program, pool), *wcmd;
    DWORD err = 0;
    int i, n = 0;

    memset(&si, 0, sizeof(si));
    si.StartupInfo.cb = sizeof(si);
    stds[0] = &si.StartupInfo.hStdInput;
    stds[1] = &si.StartupInfo.hStdOutput;
    stds[2] = &si.StartupInfo.hStdError;
    for (i = 0; argv[i]; i++)
        win32_arg_quote(cmd, argv[i]);
    APR_ARRAY_PUSH(cmd, char) = 0;
    wcmd = xpipe__win32_wide(cmd->elts, pool);
    if (wprog == NULL || wcmd == NULL)
        return xpipe__fail(APR_EINVAL,
                           "%s or its arguments do not convert "
                           "to UTF-16",
                           program);
    /* The only handles the child inherits: an inheritable copy of its
     * end, and of our standard handles (listed: nothing else passes). */
    if (!DuplicateHandle(GetCurrentProcess(), end->pipe, GetCurrentProcess(),
                         &inherit[n], 0, TRUE, DUPLICATE_SAME_ACCESS))
        return win32_os_status(GetLastError());
    n++;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    for (i = 0; i < 3; i++) {
        HANDLE h = GetStdHandle(std_ids[i]);
        *stds[i] = NULL;
        if (h != NULL && h != INVALID_HANDLE_VALUE
            && DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(),
                               stds[i], 0, TRUE, DUPLICATE_SAME_ACCESS))
            inherit[n++] = *stds[i];
    }
    /* Handle values fit 32 bits (so that 32- and 64-bit processes can
     * share them). */
    line = apr_psprintf(pool, "%s=%lu%s", XPIPE_CHILD_ENV,
                        (unsigned long)(apr_uintptr_t)inherit[0], suffix);
    env = xpipe__env_with(env ? env : win32_environ(pool), XPIPE_CHILD_ENV,
                          line, pool);
    InitializeProcThreadAttributeList(NULL, 1, 0, &size);
    si.lpAttributeList = apr_palloc(pool, size);
    if (!InitializeProcThreadAttributeList(si.lpAttributeList, 1, 0, &size))
        err = GetLastError();
    else {
        if (!UpdateProcThreadAttribute(
                si.lpAttributeList, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                inherit, sizeof(HANDLE) * (SIZE_T)n, NULL, NULL)
            || !CreateProcessW(
                wprog, wcmd, NULL, NULL, TRUE,
                EXTENDED_STARTUPINFO_PRESENT | CREATE_UNICODE_ENVIRONMENT,
                win32_env_block(env, pool), NULL, &si.StartupInfo, &pi))
            err = GetLastError();
        DeleteProcThreadAttributeList(si.lpAttributeList);
    }
    while (n > 0)
        win32_sys.close_handle(inherit[--n]);
    if (err)
        return xpipe__fail(win32_os_status(err), "cannot start %s: error %lu",
                           program, (unsigned long)err);
    win32_sys.close_handle(pi.hThread);
    proc->pid = (pid_t)pi.dwProcessId;
    proc->hproc = pi.hProcess;
    /* Our end's peer is the child, though we opened its end ourselves. */
    mine->peer_pid = pi.dwProcessId;
    return APR_SUCCESS;
}

apr_status_t xpipe__win32_handle_parse(xpipe_os_handle_t *h, const char *text)
{
    char *end = NULL;
    unsigned long long v = strtoull(text, &end, 10);

    if (end == text || *end != 0 || v == 0)
        return xpipe__fail(XPIPE_EBADHANDLE, "\"%s\" is no handle", text);
    h->handle = (void *)(apr_uintptr_t)v;
    return APR_SUCCESS;
}

/* Was h opened for overlapped I/O? (1 yes, 0 no, -1 cannot tell) */
static int win32_overlapped(HANDLE h)
{
    static win32_nt_query_fn query;
    ULONG_PTR iosb[2];
    ULONG mode = 0;

    if (query == NULL)
        query = (win32_nt_query_fn)(void (*)(void))GetProcAddress(
            GetModuleHandleW(L"ntdll.dll"), "NtQueryInformationFile");
    if (query == NULL
        || query(h, iosb, &mode, sizeof(mode), WIN32_FILE_MODE_INFORMATION)
               != 0)
        return -1;
    return (mode & WIN32_FILE_SYNCHRONOUS_IO) == 0;
}

apr_status_t xpipe__win32_adopt(xpipe__chan_t **chan, xpipe_os_handle_t oh,
                                const xpipe_attr_t *attr, apr_pool_t *pool)
{
    HANDLE h = oh.handle;
    DWORD flags = 0, mode = PIPE_READMODE_MESSAGE, state = 0;
    int server;

    SetLastError(0);
    if (h == NULL || h == INVALID_HANDLE_VALUE
        || GetFileType(h) != FILE_TYPE_PIPE)
        return xpipe__fail(XPIPE_EBADHANDLE,
                           "handle %p is not a pipe (error %lu)", h,
                           (unsigned long)GetLastError());
    if (!win32_sys.get_named_pipe_info(h, &flags, NULL, NULL, NULL))
        return xpipe__fail(XPIPE_EBADHANDLE,
                           "handle %p is no named pipe (error %lu)", h,
                           (unsigned long)GetLastError());
    if (win32_overlapped(h) == 0)
        return xpipe__fail(XPIPE_EBADHANDLE,
                           "handle %p was not opened for overlapped I/O "
                           "(FILE_FLAG_OVERLAPPED)",
                           h);
    if (((flags & PIPE_TYPE_MESSAGE) != 0)
        != (attr->mode == XPIPE_MODE_MESSAGE))
        return xpipe__fail(XPIPE_EMODE, "handle %p is a %s pipe", h,
                           flags & PIPE_TYPE_MESSAGE ? "message" : "byte");
    server = (flags & PIPE_SERVER_END) != 0;
    /* A client end starts in byte read mode; a server end's was set when
     * it was made. */
    if (attr->mode == XPIPE_MODE_MESSAGE
        && win32_sys.get_named_pipe_handle_state(h, &state, NULL, NULL, NULL,
                                                 NULL, 0)
        && !(state & PIPE_READMODE_MESSAGE)
        && !win32_sys.set_named_pipe_handle_state(h, &mode, NULL, NULL))
        return win32_os_status(GetLastError());
    SetHandleInformation(h, HANDLE_FLAG_INHERIT, 0);
    return xpipe__win32_chan_new(chan, h, server, attr, pool);
}

apr_status_t xpipe__win32_listener_adopt(xpipe__lsn_t **lsn,
                                         const char **native,
                                         xpipe_os_handle_t h,
                                         const xpipe_attr_t *attr,
                                         apr_pool_t *pool)
{
    (void)lsn;
    (void)native;
    (void)h;
    (void)attr;
    (void)pool;
    return xpipe__fail(APR_ENOTIMPL,
                       "Windows has no listening handle: a named pipe's "
                       "instances are made per client (listen by name)");
}
