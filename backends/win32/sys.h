/* SPDX-License-Identifier: Apache-2.0 */
/* sys.h — PRIVATE to the Win32 backend and white-box tests: the
 * table the Win32 backend's pipe, completion and handle calls go through
 * (events are set and reset directly; identity calls too). A test (linked
 * with the static library: the symbol is not exported by the DLL) may
 * replace an entry, to spy on the flags passed or make the Nth call fail
 * with a chosen error, and restores it afterwards (tests/xsys.h).
 * Include <windows.h> first.
 */
#ifndef XPIPE_WIN32_SYS_H
#define XPIPE_WIN32_SYS_H

typedef struct xpipe__win32_sys_t {
    HANDLE(WINAPI *create_named_pipe)
    (LPCWSTR name, DWORD open_mode, DWORD pipe_mode, DWORD max_instances,
     DWORD out_size, DWORD in_size, DWORD timeout_ms, LPSECURITY_ATTRIBUTES sa);
    HANDLE(WINAPI *create_file)
    (LPCWSTR name, DWORD access, DWORD share, LPSECURITY_ATTRIBUTES sa,
     DWORD disposition, DWORD flags, HANDLE template_file);
    BOOL(WINAPI *connect_named_pipe)(HANDLE pipe, LPOVERLAPPED ov);
    BOOL(WINAPI *read_file)
    (HANDLE h, LPVOID buf, DWORD len, LPDWORD n, LPOVERLAPPED ov);
    BOOL(WINAPI *write_file)
    (HANDLE h, LPCVOID buf, DWORD len, LPDWORD n, LPOVERLAPPED ov);
    BOOL(WINAPI *peek_named_pipe)
    (HANDLE h, LPVOID buf, DWORD len, LPDWORD n, LPDWORD avail, LPDWORD left);
    BOOL(WINAPI *wait_named_pipe)(LPCWSTR name, DWORD timeout_ms);
    /* completion, instances, handles */
    BOOL(WINAPI *cancel_io_ex)(HANDLE h, LPOVERLAPPED ov);
    BOOL(WINAPI *get_overlapped_result)
    (HANDLE h, LPOVERLAPPED ov, LPDWORD n, BOOL wait);
    DWORD(WINAPI *wait_for_multiple_objects)
    (DWORD n, const HANDLE *h, BOOL all, DWORD ms);
    BOOL(WINAPI *disconnect_named_pipe)(HANDLE h);
    BOOL(WINAPI *get_named_pipe_info)
    (HANDLE h, LPDWORD flags, LPDWORD out, LPDWORD in, LPDWORD max);
    BOOL(WINAPI *set_named_pipe_handle_state)
    (HANDLE h, LPDWORD mode, LPDWORD max, LPDWORD timeout);
    BOOL(WINAPI *get_named_pipe_handle_state)
    (HANDLE h, LPDWORD state, LPDWORD instances, LPDWORD max, LPDWORD timeout,
     LPWSTR user, DWORD user_len);
    BOOL(WINAPI *close_handle)(HANDLE h);
    HANDLE(WINAPI *create_event)
    (LPSECURITY_ATTRIBUTES sa, BOOL manual, BOOL initial, LPCWSTR name);
    /* the fast path's memory and the handles it pulls from its peer */
    HANDLE(WINAPI *create_file_mapping)
    (HANDLE file, LPSECURITY_ATTRIBUTES sa, DWORD protect, DWORD size_high,
     DWORD size_low, LPCWSTR name);
    BOOL(WINAPI *set_event)(HANDLE h); /* the fast path's wake-ups */
    BOOL(WINAPI *duplicate_handle)
    (HANDLE from_process, HANDLE h, HANDLE to_process, LPHANDLE out,
     DWORD access, BOOL inherit, DWORD options);
} xpipe__win32_sys_t;

/* The table (backends/win32/sys.c); win32_sys inside the backend. */
extern xpipe__win32_sys_t xpipe__win32_sys;
#define win32_sys xpipe__win32_sys

#endif
