/* SPDX-License-Identifier: Apache-2.0 */
/* sys.c — the Win32 backend's system-call table (sys.h): every pipe,
 * completion and handle call goes through it, so a test can stand in.
 */
#include "win32.h"

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
