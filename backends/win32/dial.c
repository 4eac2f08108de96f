/* SPDX-License-Identifier: Apache-2.0 */
/* dial.c — one connect attempt on Windows, and waiting for a busy
 * server; lib/ owns the policy.
 */
#include "win32.h"

#include <string.h>

/* Open a pipe by name as a client. SQOS: the server may identify us
 * but never act as us. */
static HANDLE win32_open(const wchar_t *w)
{
    return win32_sys.create_file(
        w, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
        FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
        NULL);
}

/* The fast path's name, when a server listens there as the same user as
 * ours: APR_SUCCESS with *out on it; APR_ENOENT: use the name itself
 * (nobody there, all its instances busy, another user's, not of message
 * type: we never pull handles out of a process that is not ours); any
 * other status is final, as it would be for the name itself. */
static apr_status_t win32_dial_fast(xpipe__chan_t **out, const wchar_t *w,
                                    const char *native,
                                    const xpipe_attr_t *attr, apr_pool_t *pool)
{
    wchar_t fw[WIN32_NAME_MAX + 1];
    DWORD mode = PIPE_READMODE_MESSAGE;
    const char *me, *it;
    HANDLE h, proc = NULL;
    apr_status_t rv = APR_EGENERAL;
    ULONG pid = 0;

    DWORD flags = 0, err;

    if (xpipe__win32_fast_name(w, attr->mode == XPIPE_MODE_MESSAGE, fw) < 0
        || (h = win32_open(fw)) == INVALID_HANDLE_VALUE)
        return APR_ENOENT;
    /* Examined as the name itself is (its own code when that fails); a
     * pipe there that is not of message type is not a fast path's. */
    if (!win32_sys.get_named_pipe_info(h, &flags, NULL, NULL, NULL)) {
        err = GetLastError();
        win32_sys.close_handle(h);
        return win32_os_status(err);
    }
    if ((flags & PIPE_TYPE_MESSAGE) && GetNamedPipeServerProcessId(h, &pid)
        && (proc = OpenProcess(PROCESS_DUP_HANDLE | SYNCHRONIZE
                                   | PROCESS_QUERY_LIMITED_INFORMATION,
                               FALSE, pid))
               != NULL
        && xpipe__win32_token_sid(proc, &it, pool) == APR_SUCCESS
        && xpipe__win32_token_sid(GetCurrentProcess(), &me, pool) == APR_SUCCESS
        && strcmp(it, me) == 0
        && win32_sys.set_named_pipe_handle_state(h, &mode, NULL, NULL))
        rv = xpipe__win32_chan_new(out, h, 0, attr, pool);
    else
        xpipe__log(attr,
                   "fast path: the server of %s is not one we can share "
                   "memory with (pid %lu, error %lu): not used",
                   native, (unsigned long)pid, (unsigned long)GetLastError());
    if (rv == APR_SUCCESS)
        return xpipe__win32_fast_ask(*out, attr, proc, pool);
    if (proc)
        win32_sys.close_handle(proc);
    win32_sys.close_handle(h);
    return APR_ENOENT;
}

/* Not among the SDK's names in mingw-w64's headers: */
#define WIN32_ERROR_SMB_GUEST_LOGON_BLOCKED 1272   /* guest access blocked */
#define WIN32_STATUS_INVALID_SIGNATURE 0xC000A000u /* signing required */

/* CreateFile's failure on a pipe as xpipe's status, with the same
 * statuses the SMB client gives for the same refusals on POSIX
 * (backends/smb_client/): no server or no pipe XPIPE_ENOPIPE, a refused
 * session XPIPE_EAUTH, a pipe that does not admit us APR_EACCES. */
static apr_status_t win32_open_status(DWORD err, const char *native)
{
    const char *why;

    switch (err) {
    case ERROR_FILE_NOT_FOUND: /* no such pipe */
    case ERROR_PATH_NOT_FOUND: /* no such pipe (remote names on Wine) */
        return XPIPE_ENOPIPE;
    case ERROR_BAD_NETPATH:
    case ERROR_REM_NOT_LIST:
    case ERROR_HOST_UNREACHABLE:
    case ERROR_NETWORK_UNREACHABLE:
    case ERROR_CONNECTION_REFUSED:
        return xpipe__fail(XPIPE_ENOPIPE,
                           "no SMB server answers for %s (Windows error %lu)",
                           native, (unsigned long)err);
    case ERROR_BAD_NET_NAME:
        return xpipe__fail(XPIPE_ENOPIPE,
                           "the server of %s has no IPC$ share (Windows "
                           "error %lu)",
                           native, (unsigned long)err);
    case ERROR_PIPE_BUSY: return XPIPE__EBUSY; /* all instances taken */
    case ERROR_ACCESS_DENIED:
        return xpipe__fail(APR_EACCES,
                           "access to pipe %s denied (its security "
                           "descriptor does not admit this user)",
                           native);
    case ERROR_INVALID_NAME:
    case ERROR_BAD_PATHNAME:
        return xpipe__fail(XPIPE_EBADNAME, "Windows refuses the name %s",
                           native);
    case ERROR_LOGON_FAILURE:
    case ERROR_WRONG_PASSWORD: why = "logon failure"; break;
    case ERROR_ACCOUNT_RESTRICTION:
    case ERROR_ACCOUNT_DISABLED:
    case ERROR_ACCOUNT_LOCKED_OUT:
    case ERROR_PASSWORD_EXPIRED: why = "the account may not log on"; break;
    case ERROR_NETWORK_ACCESS_DENIED: why = "network access denied"; break;
    case ERROR_SESSION_CREDENTIAL_CONFLICT:
        why = "this logon session already uses other credentials for the "
              "server";
        break;
    case ERROR_NO_SUCH_LOGON_SESSION:
    case ERROR_NOT_AUTHENTICATED: why = "no credentials to offer"; break;
    case ERROR_DOWNGRADE_DETECTED:
        why = "the negotiation was tampered with (validate-negotiate)";
        break;
    case WIN32_ERROR_SMB_GUEST_LOGON_BLOCKED:
        why = "a guest session, which this client refuses";
        break;
    case WIN32_STATUS_INVALID_SIGNATURE:
        why = "signing required by one side and not done by the other";
        break;
    default: return win32_os_status(err);
    }
    return xpipe__fail(XPIPE_EAUTH,
                       "the SMB server refused the session for %s: %s "
                       "(Windows error %lu)",
                       native, why, (unsigned long)err);
}

/* One connect attempt (lib/ loops). */
apr_status_t xpipe__win32_dial(xpipe__chan_t **out, const xpipe__name_t *name,
                               const char *native, const xpipe_attr_t *attr,
                               apr_time_t deadline, apr_pool_t *pool)
{
    wchar_t w[WIN32_NAME_MAX + 1];
    DWORD err, flags = 0, mode;
    HANDLE h;

    (void)deadline; /* CreateFile on a pipe does not block */
    if (xpipe__win32_wide_name(native, w) < 0)
        return xpipe__fail(XPIPE_EBADNAME, "%s does not convert to UTF-16",
                           native);
    /* The fast path is for local pipes: its memory is this machine's. */
    if (name->kind != XPIPE__NAME_REMOTE && xpipe__win32_fast_ring(attr) > 0) {
        apr_status_t rv = win32_dial_fast(out, w, native, attr, pool);
        if (rv != APR_ENOENT)
            return rv;
    }
    h = win32_open(w);
    if (h == INVALID_HANDLE_VALUE)
        return win32_open_status(GetLastError(), native);
    /* Both ends must agree on the mode, as they must on POSIX. */
    if (!win32_sys.get_named_pipe_info(h, &flags, NULL, NULL, NULL)) {
        err = GetLastError();
        win32_sys.close_handle(h);
        return win32_os_status(err);
    }
    if (((flags & PIPE_TYPE_MESSAGE) != 0)
        != (attr->mode == XPIPE_MODE_MESSAGE)) {
        win32_sys.close_handle(h);
        return xpipe__fail(XPIPE_EMODE, "pipe %s is in %s mode, not %s", native,
                           flags & PIPE_TYPE_MESSAGE ? "message" : "byte",
                           attr->mode == XPIPE_MODE_MESSAGE ? "message"
                                                            : "byte");
    }
    /* A client's handle starts in byte read mode: only message mode
     * needs setting. */
    mode = PIPE_READMODE_MESSAGE;
    if (attr->mode == XPIPE_MODE_MESSAGE
        && !win32_sys.set_named_pipe_handle_state(h, &mode, NULL, NULL)) {
        err = GetLastError();
        win32_sys.close_handle(h);
        return win32_os_status(err);
    }
    return xpipe__win32_chan_new(out, h, 0, attr, pool);
}

/* WaitNamedPipe: returns early when an instance frees. 0 ms would mean
 * "the server's default", so at least 1 ms. Remote servers (Samba) do not
 * support it: then lib/ just pauses. */
apr_status_t xpipe__win32_busy_wait(const char *native, apr_time_t deadline,
                                    apr_pool_t *pool)
{
    wchar_t w[WIN32_NAME_MAX + 1];
    int ms = xpipe__remaining_ms(deadline);

    (void)pool;
    if (xpipe__win32_wide_name(native, w) < 0)
        return APR_ENOTIMPL;
    if (win32_sys.wait_named_pipe(w, ms <= 0 ? 1 : (DWORD)ms))
        return APR_SUCCESS;
    switch (GetLastError()) {
    case ERROR_SEM_TIMEOUT: return APR_TIMEUP;
    case ERROR_FILE_NOT_FOUND: return APR_SUCCESS; /* gone: dial says */
    default: return APR_ENOTIMPL;
    }
}
