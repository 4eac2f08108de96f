/* SPDX-License-Identifier: Apache-2.0 */
/* wait.c — the one wait of the Win32 backend: an overlapped operation,
 * the object's wake event and the deadline; and events made on first
 * need.
 */
#include "win32.h"

apr_status_t xpipe__win32_wait_io(HANDLE h, OVERLAPPED *ov, HANDLE wake,
                                  apr_time_t deadline, DWORD *n)
{
    /* The event without the low bit that keeps the operation out of a
     * completion port (xpipe__win32_quiet). */
    HANDLE ev = (HANDLE)((ULONG_PTR)ov->hEvent & ~(ULONG_PTR)1);
    HANDLE evs[2] = { ev, wake };
    DWORD w, ms;
    apr_status_t why = APR_SUCCESS;
    int ms_left;

    for (;;) {
        ms_left = xpipe__remaining_ms(deadline);
        ms = ms_left < 0 ? INFINITE : (DWORD)ms_left;
        w = win32_sys.wait_for_multiple_objects(wake ? 2 : 1, evs, FALSE, ms);
        if (w == WAIT_OBJECT_0)
            break;
        if (w == WAIT_OBJECT_0 + 1) {
            why = XPIPE_ECANCELED;
            break;
        }
        if (w == WAIT_TIMEOUT) {
            if (xpipe__remaining_ms(deadline) != 0)
                continue; /* woke a little early: rounding */
            why = APR_TIMEUP;
            break;
        }
        why = win32_os_status(GetLastError());
        break;
    }
    if (why != APR_SUCCESS)
        win32_sys.cancel_io_ex(h, ov);
    ov->hEvent = ev; /* the event to wait on, should it still be pending */
    if (win32_sys.get_overlapped_result(h, ov, n, TRUE))
        return APR_SUCCESS; /* done, even if we asked to cancel */
    if (why != APR_SUCCESS && GetLastError() == ERROR_OPERATION_ABORTED)
        return why;
    return win32_os_status(GetLastError());
}

HANDLE xpipe__win32_quiet(HANDLE ev)
{
    return ev ? (HANDLE)((ULONG_PTR)ev | 1) : NULL;
}

/* The calling thread's event for its own overlapped operations: made on
 * its first need, closed when the thread ends (a fiber-local slot's
 * callback). A thread has one operation of its own in flight at most
 * (each is waited for before the call returns), and ReadFile/WriteFile
 * reset the event as they start, so one per thread serves every channel:
 * a channel costs no event of its own for its reads and writes. */
static INIT_ONCE win32_io_once = INIT_ONCE_STATIC_INIT;
static DWORD win32_io_slot = FLS_OUT_OF_INDEXES;

static void WINAPI win32_io_free(void *ev)
{
    if (ev)
        CloseHandle(ev);
}

static BOOL CALLBACK win32_io_init(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    (void)once;
    (void)param;
    (void)ctx;
    win32_io_slot = FlsAlloc(win32_io_free);
    return TRUE;
}

HANDLE xpipe__win32_thread_event(void)
{
    HANDLE ev;

    InitOnceExecuteOnce(&win32_io_once, win32_io_init, NULL, NULL);
    if (win32_io_slot == FLS_OUT_OF_INDEXES)
        return NULL;
    ev = FlsGetValue(win32_io_slot);
    if (ev == NULL) {
        ev = win32_sys.create_event(NULL, TRUE, FALSE, NULL);
        if (ev != NULL && !FlsSetValue(win32_io_slot, ev)) {
            win32_sys.close_handle(ev);
            ev = NULL;
        }
    }
    return ev;
}

/* The event in *slot, made now if need be (racing makers agree). */
HANDLE xpipe__win32_event(HANDLE volatile *slot)
{
    HANDLE h = *slot, mine;

    if (h == NULL) {
        mine = win32_sys.create_event(NULL, TRUE, FALSE, NULL);
        if (mine == NULL)
            return NULL;
        h = InterlockedCompareExchangePointer((PVOID volatile *)slot, mine,
                                              NULL);
        if (h != NULL)
            win32_sys.close_handle(mine);
        else
            h = mine;
    }
    return h;
}
