/* SPDX-License-Identifier: Apache-2.0 */
/* sys.c — the Win32 backend's system-call table (sys.h): every pipe,
 * completion and handle call goes through it, so a test can stand in;
 * and the user SID of a process's token, which every file asks for.
 */
#include "win32.h"

#include <apr_strings.h>

#include <sddl.h>

/* Every pipe call goes through here (see sys.h). */
xpipe__win32_sys_t xpipe__win32_sys = {
    .create_named_pipe = CreateNamedPipeW,
    .create_file = CreateFileW,
    .connect_named_pipe = ConnectNamedPipe,
    .read_file = ReadFile,
    .write_file = WriteFile,
    .peek_named_pipe = PeekNamedPipe,
    .wait_named_pipe = WaitNamedPipeW,
    .cancel_io_ex = CancelIoEx,
    .get_overlapped_result = GetOverlappedResult,
    .wait_for_multiple_objects = WaitForMultipleObjects,
    .disconnect_named_pipe = DisconnectNamedPipe,
    .get_named_pipe_info = GetNamedPipeInfo,
    .set_named_pipe_handle_state = SetNamedPipeHandleState,
    .get_named_pipe_handle_state = GetNamedPipeHandleStateW,
    .close_handle = CloseHandle,
    .create_event = CreateEventW,
    .create_file_mapping = CreateFileMappingW,
    .set_event = SetEvent,
    .duplicate_handle = DuplicateHandle,
};

/* The current user's SID as a string, from the process token. */
apr_status_t xpipe__win32_token_sid(HANDLE process, const char **sid,
                                    apr_pool_t *pool)
{
    HANDLE tok = NULL;
    union {
        TOKEN_USER user;
        char space[256];
    } info;
    DWORD len = 0;
    char *str = NULL;
    apr_status_t rv = APR_SUCCESS;

    if (!OpenProcessToken(process, TOKEN_QUERY, &tok))
        return win32_os_status(GetLastError());
    if (!GetTokenInformation(tok, TokenUser, &info, sizeof(info), &len)
        || !ConvertSidToStringSidA(info.user.User.Sid, &str))
        rv = win32_os_status(GetLastError());
    else {
        *sid = apr_pstrdup(pool, str);
        LocalFree(str);
    }
    win32_sys.close_handle(tok);
    return rv;
}
