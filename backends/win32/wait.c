/* SPDX-License-Identifier: Apache-2.0 */
/* wait.c — the one wait of the Win32 backend: an overlapped operation,
 * the object's wake event and the deadline; and events made on first
 * need.
 */
#include "win32.h"

#include <stdlib.h>

apr_status_t xpipe__win32_wait_io(HANDLE h, OVERLAPPED *ov,
                                  xpipe__win32_wake_t *wake,
                                  apr_time_t deadline, DWORD *n)
{
    /* The event without the low bit that keeps the operation out of a
     * completion port (xpipe__win32_quiet). */
    HANDLE ev = (HANDLE)((ULONG_PTR)ov->hEvent & ~(ULONG_PTR)1);
    HANDLE evs[2] = { ev, NULL };
    DWORD w, ms;
    apr_status_t why = APR_SUCCESS;
    int ms_left, slot = -1;

    if (wake)
        why = xpipe__win32_wake_enter(wake, &evs[1], &slot);
    while (why == APR_SUCCESS) {
        ms_left = xpipe__remaining_ms(deadline);
        ms = ms_left < 0 ? INFINITE : (DWORD)ms_left;
        w = win32_sys.wait_for_multiple_objects(evs[1] ? 2 : 1, evs, FALSE, ms);
        if (w == WAIT_OBJECT_0)
            break;
        if (w == WAIT_OBJECT_0 + 1) {
            /* Ours, or a signal meant for an earlier wait of this thread
             * (its event is auto-reset: that one is spent now). */
            if (xpipe__win32_wake_up(wake))
                why = XPIPE_ECANCELED;
            continue;
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
    if (wake)
        xpipe__win32_wake_leave(wake, slot);
    if (why != APR_SUCCESS)
        win32_sys.cancel_io_ex(h, ov);
    ov->hEvent = ev; /* the event to wait on, should it still be pending */
    if (win32_sys.get_overlapped_result(h, ov, n, TRUE))
        return APR_SUCCESS; /* done, even if we asked to cancel */
    if (why != APR_SUCCESS && GetLastError() == ERROR_OPERATION_ABORTED)
        return why;
    return win32_os_status(GetLastError());
}

/* An operation's event does not say that operation is over: it may be
 * shared with others (a listener's instances), and under Wine the result
 * of an operation that another thread issued is written by that thread
 * when it next waits, after the event is set; GetOverlappedResult that
 * waits on the event then finds STATUS_PENDING and (Wine) reports a
 * success (a cancelled ConnectNamedPipe taken for a client:
 * tests/test_win32.c shows it). So the operation itself is looked at,
 * between waits of a millisecond, in which this thread takes its own
 * completions. */
BOOL xpipe__win32_io_settle(HANDLE h, OVERLAPPED *ov, DWORD *n, DWORD ms)
{
    ULONGLONG until = GetTickCount64() + ms;

    while (!HasOverlappedIoCompleted(ov)) {
        if (GetTickCount64() >= until) {
            SetLastError(ERROR_IO_INCOMPLETE);
            return FALSE;
        }
        SleepEx(1, FALSE);
    }
    return win32_sys.get_overlapped_result(h, ov, n, FALSE);
}

HANDLE xpipe__win32_quiet(HANDLE ev)
{
    return ev ? (HANDLE)((ULONG_PTR)ev | 1) : NULL;
}

/* The calling thread's events, made on its first need and closed when
 * the thread ends (a fiber-local slot's callback): [0] for its own
 * overlapped operations, [1] its wake event (auto-reset), registered in
 * a channel's wake object while the thread waits there. A thread has one
 * operation of its own in flight at most (each is waited for before the
 * call returns), and ReadFile/WriteFile reset the event as they start, so
 * one per thread serves every channel: a channel costs no event of its
 * own for its reads and writes, nor for its waits. */
typedef struct win32_thread_events_t {
    HANDLE ev[2];
} win32_thread_events_t;

static INIT_ONCE win32_io_once = INIT_ONCE_STATIC_INIT;
static DWORD win32_io_slot = FLS_OUT_OF_INDEXES;

static void WINAPI win32_io_free(void *v)
{
    win32_thread_events_t *t = v;

    if (t == NULL)
        return;
    if (t->ev[0])
        CloseHandle(t->ev[0]);
    if (t->ev[1])
        CloseHandle(t->ev[1]);
    free(t);
}

static BOOL CALLBACK win32_io_init(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
    (void)once;
    (void)param;
    (void)ctx;
    win32_io_slot = FlsAlloc(win32_io_free);
    return TRUE;
}

/* The calling thread's event k (0: manual-reset, 1: auto-reset), or NULL
 * (GetLastError says why). */
static HANDLE win32_thread_ev(int k)
{
    win32_thread_events_t *t;

    InitOnceExecuteOnce(&win32_io_once, win32_io_init, NULL, NULL);
    if (win32_io_slot == FLS_OUT_OF_INDEXES)
        return NULL;
    t = FlsGetValue(win32_io_slot);
    if (t == NULL) {
        t = calloc(1, sizeof(*t));
        if (t == NULL || !FlsSetValue(win32_io_slot, t)) {
            free(t);
            SetLastError(ERROR_NOT_ENOUGH_MEMORY);
            return NULL;
        }
    }
    if (t->ev[k] == NULL)
        t->ev[k] = win32_sys.create_event(NULL, k == 0, FALSE, NULL);
    return t->ev[k];
}

HANDLE xpipe__win32_thread_event(void)
{
    return win32_thread_ev(0);
}

void xpipe__win32_thread_release(void)
{
    win32_thread_events_t *t;

    InitOnceExecuteOnce(&win32_io_once, win32_io_init, NULL, NULL);
    if (win32_io_slot == FLS_OUT_OF_INDEXES)
        return;
    t = FlsGetValue(win32_io_slot);
    if (t != NULL && FlsSetValue(win32_io_slot, NULL))
        win32_io_free(t);
}

/* ------------------------------------------------------------------ */
/* A channel's wake object (win32.h). */

#define WIN32_SLOT_BUSY ((ULONG_PTR)1) /* handles are multiples of 4 */

apr_status_t xpipe__win32_wake_enter(xpipe__win32_wake_t *w, HANDLE *ev,
                                     int *slot)
{
    HANDLE mine = win32_thread_ev(1);
    int i;

    *slot = -1;
    for (i = 0; mine && i < WIN32_WAKE_SLOTS && *slot < 0; i++)
        if (InterlockedCompareExchangePointer((PVOID volatile *)&w->slot[i],
                                              mine, NULL)
            == NULL)
            *slot = i;
    /* Every slot taken (or no event of the thread's to be had): the
     * channel's own. */
    *ev = *slot >= 0 ? mine : xpipe__win32_event(&w->own);
    if (xpipe__win32_wake_up(w)) {
        xpipe__win32_wake_leave(w, *slot);
        *slot = -1;
        return XPIPE_ECANCELED;
    }
    return APR_SUCCESS;
}

void xpipe__win32_wake_leave(xpipe__win32_wake_t *w, int slot)
{
    HANDLE mine;

    if (slot < 0)
        return;
    mine = win32_thread_ev(1);
    /* A waker that marked the slot is signalling our event: wait it out
     * (a few instructions away), then leave. */
    while (InterlockedCompareExchangePointer((PVOID volatile *)&w->slot[slot],
                                             NULL, mine)
           != mine)
        SwitchToThread();
}

int xpipe__win32_wake_up(xpipe__win32_wake_t *w)
{
    return InterlockedCompareExchange(&w->signalled, 0, 0) != 0;
}

apr_status_t xpipe__win32_wake_set(xpipe__win32_wake_t *w, int on)
{
    HANDLE own;
    int i;

    InterlockedExchange(&w->signalled, on != 0);
    own = InterlockedCompareExchangePointer((PVOID volatile *)&w->own, NULL,
                                            NULL);
    if (!on) {
        if (own)
            ResetEvent(own);
        return APR_SUCCESS;
    }
    for (i = 0; i < WIN32_WAKE_SLOTS; i++) {
        HANDLE v = w->slot[i];
        HANDLE marked = (HANDLE)((ULONG_PTR)v | WIN32_SLOT_BUSY);
        /* A slot already marked is being signalled by another waker. */
        if (v != NULL && !((ULONG_PTR)v & WIN32_SLOT_BUSY)
            && InterlockedCompareExchangePointer((PVOID volatile *)&w->slot[i],
                                                 marked, v)
                   == v) {
            SetEvent(v);
            InterlockedExchangePointer((PVOID volatile *)&w->slot[i], v);
        }
    }
    if (own && !SetEvent(own))
        return win32_os_status(GetLastError());
    return APR_SUCCESS;
}

void xpipe__win32_wake_close(xpipe__win32_wake_t *w)
{
    if (w->own)
        win32_sys.close_handle(w->own);
    w->own = NULL;
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
