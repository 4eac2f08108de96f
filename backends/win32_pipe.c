/* SPDX-License-Identifier: Apache-2.0 */
/* win32_pipe.c — the Windows backend: named pipes with overlapped I/O and
 * wide-char APIs. Exports only xpipe__win32_backend; everything else is
 * static. Every wait is WaitForMultipleObjects on the operation's event
 * and the object's wake event, bounded by the deadline; a cancelled
 * operation is always waited out, so none is left pending on freed memory.
 */
/* Vista+ calls (GetNamedPipeClientProcessId, CancelIoEx); apr.h pulls in
 * <windows.h> itself, so this comes first. */
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0601
#endif
#define WIN32_LEAN_AND_MEAN
#include "backend.h" /* APR before <windows.h> */

#include <apr_strings.h>

#include <windows.h>
#include <sddl.h>

#include "win32_sys.h"

#include <stdlib.h>
#include <string.h>

/* Windows caps a pipe path at 256 characters. */
#define WIN32_NAME_MAX 256

typedef enum win32_slot_e {
    SLOT_EMPTY,   /* no instance (creating one failed) */
    SLOT_PENDING, /* ConnectNamedPipe in flight */
    SLOT_READY    /* a client is connected, not yet accepted */
} win32_slot_e;

typedef struct win32_inst_t {
    HANDLE pipe;
    OVERLAPPED ov; /* ov.hEvent belongs to the slot, kept across instances */
    win32_slot_e state;
} win32_inst_t;

struct xpipe__lsn_t {
    const xpipe_attr_t *attr;
    const wchar_t *wname;
    SECURITY_ATTRIBUTES sa;
    PSECURITY_DESCRIPTOR sd; /* LocalFree on close */
    HANDLE wake;             /* manual-reset: set while interrupted */
    CRITICAL_SECTION lock;   /* guards the slots */
    int n;
    win32_inst_t *slot;
};

struct xpipe__chan_t {
    const wchar_t *wname; /* server channels: the name, for win32_names */
    xpipe__held_t held;   /* a message longer than the caller's buffer,
                             read whole and kept for the next recv */
    HANDLE pipe;
    /* Events, each made on first need (most channels never wait, some
     * never write): */
    HANDLE volatile wake;  /* manual-reset: set while interrupted */
    HANDLE volatile rd_ev; /* events of the read and the write in flight: */
    HANDLE volatile wr_ev; /* one of each may be pending on the handle */
    int server;
};

/* Every pipe call goes through here (see win32_sys.h). */
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
};

/* ------------------------------------------------------------------ */
/* Server ends that outlive their listener. On Windows a name exists while
 * any instance does, accepted channels included, so a listener closed and
 * opened again would find "another server" in its own live channels. This
 * process-wide table counts them per name; a new listener subtracts them
 * from the instance count. Entries exist only while the count is > 0. */

typedef struct win32_name_use_t {
    struct win32_name_use_t *next;
    long live;
    wchar_t name[1]; /* allocated to fit */
} win32_name_use_t;

static SRWLOCK win32_names_lock = SRWLOCK_INIT;
static win32_name_use_t *win32_names;

/* With win32_names_lock held: add delta to name's count. */
static long win32_names_add(const wchar_t *name, long delta)
{
    win32_name_use_t **p, *e;
    size_t len;

    for (p = &win32_names; *p; p = &(*p)->next)
        if (_wcsicmp((*p)->name, name) == 0)
            break;
    e = *p;
    if (e == NULL && delta > 0) {
        len = wcslen(name);
        e = calloc(1, sizeof(*e) + len * sizeof(wchar_t));
        if (e == NULL)
            return 0;
        memcpy(e->name, name, (len + 1) * sizeof(wchar_t));
        e->next = win32_names;
        win32_names = e;
        p = &win32_names;
    }
    if (e == NULL)
        return 0;
    e->live += delta;
    if (e->live > 0)
        return e->live;
    *p = e->next;
    free(e);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers */

static apr_status_t win32_os_status(DWORD err)
{
    return APR_FROM_OS_ERROR(err);
}

static wchar_t *win32_wide(const char *s, apr_pool_t *pool)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    wchar_t *w;

    if (n <= 0)
        return NULL;
    w = apr_palloc(pool, (apr_size_t)n * sizeof(wchar_t));
    MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n);
    return w;
}

/* Wait for an overlapped operation, the wake event or the deadline. On
 * wake or deadline the operation is cancelled and waited out: if it
 * completed anyway its result stands. *n gets the bytes transferred. */
static apr_status_t win32_wait_io(HANDLE h, OVERLAPPED *ov, HANDLE wake,
                                  apr_time_t deadline, DWORD *n)
{
    HANDLE evs[2] = { ov->hEvent, wake };
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
    if (win32_sys.get_overlapped_result(h, ov, n, TRUE))
        return APR_SUCCESS; /* done, even if we asked to cancel */
    if (why != APR_SUCCESS && GetLastError() == ERROR_OPERATION_ABORTED)
        return why;
    return win32_os_status(GetLastError());
}

/* The event in *slot, made now if need be (racing makers agree). */
static HANDLE win32_event(HANDLE volatile *slot)
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

/* One ReadFile/WriteFile, overlapped, to completion or cancellation.
 * Returns APR_SUCCESS or a raw OS status (callers map it per operation);
 * ERROR_MORE_DATA comes back as its OS status with *n set. */
static apr_status_t win32_io(xpipe__chan_t *c, int out, void *buf, DWORD len,
                             apr_time_t deadline, DWORD *n)
{
    OVERLAPPED ov;
    BOOL ok;
    DWORD err;
    apr_status_t rv;

    memset(&ov, 0, sizeof(ov));
    ov.hEvent = win32_event(out ? &c->wr_ev : &c->rd_ev);
    *n = 0;
    if (ov.hEvent == NULL)
        return win32_os_status(GetLastError());
    ok = out ? win32_sys.write_file(c->pipe, buf, len, NULL, &ov)
             : win32_sys.read_file(c->pipe, buf, len, NULL, &ov);
    err = ok ? 0 : GetLastError();
    if (!ok && err != ERROR_IO_PENDING && err != ERROR_MORE_DATA)
        return win32_os_status(err);
    if (err != ERROR_IO_PENDING) {
        /* Done already (the usual case for a ready pipe): no wait. */
        if (win32_sys.get_overlapped_result(c->pipe, &ov, n, FALSE))
            return APR_SUCCESS;
        return win32_os_status(GetLastError());
    }
    /* Waiting: an interrupt must be able to wake us (NULL if that event
     * cannot be made: the wait then runs to its deadline). */
    rv = win32_wait_io(c->pipe, &ov, win32_event(&c->wake), deadline, n);
    return rv;
}

/* ------------------------------------------------------------------ */
/* Names and security */

static apr_status_t win32_resolve(const char **native,
                                  const xpipe__name_t *name, apr_pool_t *pool)
{
    const char *s;

    switch (name->kind) {
    case XPIPE__NAME_PATH: /* a POSIX socket path means nothing here */
        return xpipe__fail(XPIPE_EBADNAME,
                           "%s is a socket path: Windows names pipes "
                           "\\\\.\\pipe\\NAME",
                           name->name);
    case XPIPE__NAME_REMOTE:
        s = apr_pstrcat(pool, "\\\\", name->host, "\\pipe\\", name->name, NULL);
        break;
    default: s = apr_pstrcat(pool, "\\\\.\\pipe\\", name->name, NULL); break;
    }
    if (strlen(s) > WIN32_NAME_MAX)
        return xpipe__fail(XPIPE_ENAMETOOLONG,
                           "pipe name %s is %lu characters; Windows holds %d",
                           s, (unsigned long)strlen(s), WIN32_NAME_MAX);
    *native = s;
    return APR_SUCCESS;
}

/* The current user's SID as a string, from the process token. */
static apr_status_t win32_token_sid(HANDLE process, const char **sid,
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

/* The descriptor every instance gets: the attribute's SDDL, or by default
 * full access for the creating user and SYSTEM, nobody else, with no
 * inherited entries ("P"). */
static apr_status_t win32_security(xpipe__lsn_t *l, apr_pool_t *pool)
{
    const char *sddl = l->attr->sddl, *me;
    wchar_t *w;
    apr_status_t rv;

    if (sddl == NULL) {
        rv = win32_token_sid(GetCurrentProcess(), &me, pool);
        if (rv != APR_SUCCESS)
            return rv;
        sddl = apr_psprintf(pool, "D:P(A;;GA;;;SY)(A;;GA;;;%s)", me);
    }
    w = win32_wide(sddl, pool);
    if (w == NULL
        || !ConvertStringSecurityDescriptorToSecurityDescriptorW(
            w, SDDL_REVISION_1, &l->sd, NULL))
        return APR_EINVAL; /* the SDDL string does not parse */
    l->sa.nLength = sizeof(l->sa);
    l->sa.lpSecurityDescriptor = l->sd;
    l->sa.bInheritHandle = FALSE;
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Listener */

static HANDLE win32_instance_new(xpipe__lsn_t *l, int first, DWORD *err)
{
    const xpipe_attr_t *a = l->attr;
    DWORD mode = a->mode == XPIPE_MODE_MESSAGE
                     ? PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE
                     : PIPE_TYPE_BYTE | PIPE_READMODE_BYTE;
    DWORD open = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    DWORD out = a->out_buffer ? (DWORD)a->out_buffer : 65536;
    DWORD in = a->in_buffer ? (DWORD)a->in_buffer : 65536;
    HANDLE h;

    /* As on POSIX, one whole message of the maximum size fits the buffer,
     * so a send does not wait for the reader unless messages pile up. */
    if (a->mode == XPIPE_MODE_MESSAGE && !a->out_buffer && out < a->max_message)
        out = (DWORD)a->max_message;
    if (a->mode == XPIPE_MODE_MESSAGE && !a->in_buffer && in < a->max_message)
        in = (DWORD)a->max_message;
    /* Exported (smb_export): the OS's own SMB server serves the name. */
    if (!a->remote && !a->smb_export)
        mode |= PIPE_REJECT_REMOTE_CLIENTS;
    if (first)
        open |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    /* Unlimited: accepted channels count as instances too. */
    h = win32_sys.create_named_pipe(l->wname, open, mode | PIPE_WAIT,
                                    PIPE_UNLIMITED_INSTANCES, out, in, 0,
                                    &l->sa);
    *err = h == INVALID_HANDLE_VALUE ? GetLastError() : 0;
    return h;
}

/* Start waiting for a client on a slot, creating its instance if needed. */
static apr_status_t win32_arm(xpipe__lsn_t *l, win32_inst_t *s)
{
    DWORD err;
    int tries;

    if (s->pipe == INVALID_HANDLE_VALUE) {
        s->pipe = win32_instance_new(l, 0, &err);
        if (s->pipe == INVALID_HANDLE_VALUE) {
            s->state = SLOT_EMPTY;
            return win32_os_status(err);
        }
    }
    for (tries = 0; tries < 2; tries++) {
        HANDLE ev = s->ov.hEvent;
        memset(&s->ov, 0, sizeof(s->ov));
        s->ov.hEvent = ev;
        ResetEvent(ev);
        if (win32_sys.connect_named_pipe(s->pipe, &s->ov)) {
            s->state = SLOT_READY;
            return APR_SUCCESS;
        }
        err = GetLastError();
        switch (err) {
        case ERROR_IO_PENDING: s->state = SLOT_PENDING; return APR_SUCCESS;
        case ERROR_PIPE_CONNECTED: /* connected between create and connect */
            s->state = SLOT_READY;
            return APR_SUCCESS;
        case ERROR_NO_DATA: /* a client came and went: recycle, try again */
            win32_sys.disconnect_named_pipe(s->pipe);
            continue;
        default: break;
        }
        break;
    }
    win32_sys.close_handle(s->pipe);
    s->pipe = INVALID_HANDLE_VALUE;
    s->state = SLOT_EMPTY;
    return win32_os_status(err);
}

static apr_status_t win32_listener_close(xpipe__lsn_t *l);

static apr_status_t win32_listen(xpipe__lsn_t **out, const xpipe__name_t *name,
                                 const char *native, const xpipe_attr_t *attr,
                                 apr_pool_t *pool)
{
    xpipe__lsn_t *l = apr_pcalloc(pool, sizeof(*l));
    DWORD err, count = 0;
    apr_status_t rv;
    long ours;
    int i;

    (void)name;
    l->attr = attr;
    l->n = attr->instances;
    l->wname = win32_wide(native, pool);
    if (l->wname == NULL)
        return xpipe__fail(XPIPE_EBADNAME, "%s does not convert to UTF-16",
                           native);
    rv = win32_security(l, pool);
    if (rv != APR_SUCCESS)
        return rv;
    l->slot = apr_pcalloc(pool, sizeof(win32_inst_t) * (apr_size_t)l->n);
    for (i = 0; i < l->n; i++) {
        l->slot[i].pipe = INVALID_HANDLE_VALUE;
        l->slot[i].ov.hEvent = win32_sys.create_event(NULL, TRUE, FALSE, NULL);
    }
    l->wake = win32_sys.create_event(NULL, TRUE, FALSE, NULL);
    InitializeCriticalSection(&l->lock);
    /* The first instance claims the name. FILE_FLAG_FIRST_PIPE_INSTANCE
     * makes that fail on Windows when a server exists (ERROR_ACCESS_DENIED);
     * Wine ignores the flag, so also count the instances: more than ours
     * (this one and our channels from earlier listeners) means another
     * server owns the name. */
    AcquireSRWLockExclusive(&win32_names_lock);
    ours = win32_names_add(l->wname, 0);
    l->slot[0].pipe = win32_instance_new(l, ours == 0, &err);
    if (l->slot[0].pipe == INVALID_HANDLE_VALUE)
        rv = err == ERROR_ACCESS_DENIED || err == ERROR_PIPE_BUSY ? xpipe__fail(
                 XPIPE_EINUSE, "another server owns pipe %s", native)
             : err == ERROR_INVALID_NAME || err == ERROR_BAD_PATHNAME
                 ? xpipe__fail(XPIPE_EBADNAME, "Windows refuses the name %s",
                               native)
                 : win32_os_status(err);
    else if (!win32_sys.get_named_pipe_handle_state(
                 l->slot[0].pipe, NULL, &count, NULL, NULL, NULL, 0))
        rv = win32_os_status(GetLastError());
    else if ((long)count != 1 + ours)
        rv =
            xpipe__fail(XPIPE_EINUSE,
                        "pipe %s has %lu instances besides ours: another "
                        "server owns it",
                        native, (unsigned long)count - 1 - (unsigned long)ours);
    ReleaseSRWLockExclusive(&win32_names_lock);
    for (i = 0; i < l->n && rv == APR_SUCCESS; i++)
        rv = win32_arm(l, &l->slot[i]);
    if (rv != APR_SUCCESS) {
        win32_listener_close(l);
        return rv;
    }
    *out = l;
    return APR_SUCCESS;
}

static apr_status_t win32_chan_new(xpipe__chan_t **out, HANDLE pipe, int server,
                                   apr_pool_t *pool)
{
    xpipe__chan_t *c = apr_pcalloc(pool, sizeof(*c));

    c->pipe = pipe;
    c->server = server;
    *out = c;
    return APR_SUCCESS;
}

/* Under the lock: hand out a slot whose client is connected, if any.
 * Completed-but-failed connects are re-armed on the way. */
static HANDLE win32_take_ready(xpipe__lsn_t *l)
{
    DWORD n;
    int i;

    for (i = 0; i < l->n; i++) {
        win32_inst_t *s = &l->slot[i];
        HANDLE h;

        if (s->state == SLOT_EMPTY)
            win32_arm(l, s); /* try again to refill it */
        if (s->state == SLOT_PENDING && HasOverlappedIoCompleted(&s->ov)) {
            if (win32_sys.get_overlapped_result(s->pipe, &s->ov, &n, FALSE))
                s->state = SLOT_READY;
            else {
                win32_sys.disconnect_named_pipe(s->pipe);
                win32_arm(l, s);
            }
        }
        if (s->state != SLOT_READY)
            continue;
        h = s->pipe;
        s->pipe = INVALID_HANDLE_VALUE;
        win32_arm(l, s); /* a fresh instance keeps the slot pending */
        /* A client that connected and left without writing anything is
         * not worth a channel (a client of the other mode does that). */
        if (!win32_sys.peek_named_pipe(h, NULL, 0, NULL, &n, NULL)
            && GetLastError() == ERROR_BROKEN_PIPE) {
            win32_sys.close_handle(h);
            i = -1; /* look again from the start */
            continue;
        }
        return h;
    }
    return INVALID_HANDLE_VALUE;
}

static apr_status_t win32_accept(xpipe__chan_t **out, xpipe__lsn_t *l,
                                 apr_time_t deadline, apr_pool_t *pool)
{
    HANDLE evs[MAXIMUM_WAIT_OBJECTS];
    HANDLE h;
    DWORD w, ms;
    int i, k, ms_left;

    for (;;) {
        EnterCriticalSection(&l->lock);
        h = win32_take_ready(l);
        k = 0;
        if (h == INVALID_HANDLE_VALUE)
            for (i = 0; i < l->n; i++)
                if (l->slot[i].state == SLOT_PENDING)
                    evs[k++] = l->slot[i].ov.hEvent;
        LeaveCriticalSection(&l->lock);
        if (h != INVALID_HANDLE_VALUE) {
            apr_status_t rv = win32_chan_new(out, h, 1, pool);
            if (rv == APR_SUCCESS) {
                (*out)->wname = apr_pmemdup(
                    pool, l->wname, (wcslen(l->wname) + 1) * sizeof(wchar_t));
                AcquireSRWLockExclusive(&win32_names_lock);
                win32_names_add((*out)->wname, 1);
                ReleaseSRWLockExclusive(&win32_names_lock);
            }
            return rv;
        }
        evs[k++] = l->wake;
        ms_left = xpipe__remaining_ms(deadline);
        ms = ms_left < 0 ? INFINITE : (DWORD)ms_left;
        /* With no slot pending (none could be created), poll for a retry. */
        if (k == 1 && (ms == INFINITE || ms > 100))
            ms = 100;
        w = win32_sys.wait_for_multiple_objects((DWORD)k, evs, FALSE, ms);
        if (w == WAIT_OBJECT_0 + (DWORD)k - 1)
            return XPIPE_ECANCELED;
        if (w == WAIT_TIMEOUT && xpipe__remaining_ms(deadline) == 0)
            return APR_TIMEUP;
        if (w == WAIT_FAILED)
            return win32_os_status(GetLastError());
        /* A slot's event fired (several threads may see it): look again. */
    }
}

static apr_status_t win32_listener_wake(xpipe__lsn_t *l)
{
    SetEvent(l->wake);
    return APR_SUCCESS;
}

static apr_status_t win32_listener_unwake(xpipe__lsn_t *l)
{
    ResetEvent(l->wake);
    return APR_SUCCESS;
}

static apr_status_t win32_listener_close(xpipe__lsn_t *l)
{
    DWORD n;
    int i;

    for (i = 0; i < l->n; i++) {
        win32_inst_t *s = &l->slot[i];
        if (s->pipe != INVALID_HANDLE_VALUE) {
            if (s->state == SLOT_PENDING) {
                win32_sys.cancel_io_ex(s->pipe, &s->ov);
                win32_sys.get_overlapped_result(s->pipe, &s->ov, &n, TRUE);
            }
            /* A connected, never accepted client reads end of stream. */
            win32_sys.close_handle(s->pipe);
        }
        win32_sys.close_handle(s->ov.hEvent);
    }
    win32_sys.close_handle(l->wake);
    DeleteCriticalSection(&l->lock);
    LocalFree(l->sd);
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Connect */

/* One connect attempt (lib/ loops). */
static apr_status_t win32_dial(xpipe__chan_t **out, const xpipe__name_t *name,
                               const char *native, const xpipe_attr_t *attr,
                               apr_time_t deadline, apr_pool_t *pool)
{
    const wchar_t *w = win32_wide(native, pool);
    DWORD err, flags = 0, mode;
    HANDLE h;

    (void)name;
    (void)deadline; /* CreateFile on a pipe does not block */
    if (w == NULL)
        return xpipe__fail(XPIPE_EBADNAME, "%s does not convert to UTF-16",
                           native);
    /* SQOS: the server may identify us but never act as us. */
    h = win32_sys.create_file(
        w, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
        FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
        NULL);
    if (h == INVALID_HANDLE_VALUE) {
        err = GetLastError();
        switch (err) {
        case ERROR_FILE_NOT_FOUND: /* no such pipe */
        case ERROR_PATH_NOT_FOUND: /* no such pipe (remote names on Wine) */
        case ERROR_BAD_NETPATH:    /* no such host */
        case ERROR_BAD_NET_NAME: return XPIPE_ENOPIPE;
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
        default: return win32_os_status(err);
        }
    }
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
    mode = attr->mode == XPIPE_MODE_MESSAGE ? PIPE_READMODE_MESSAGE
                                            : PIPE_READMODE_BYTE;
    if (!win32_sys.set_named_pipe_handle_state(h, &mode, NULL, NULL)) {
        err = GetLastError();
        win32_sys.close_handle(h);
        return win32_os_status(err);
    }
    return win32_chan_new(out, h, 0, pool);
}

/* WaitNamedPipe: returns early when an instance frees. 0 ms would mean
 * "the server's default", so at least 1 ms. Remote servers (Samba) do not
 * support it: then lib/ just pauses. */
static apr_status_t win32_busy_wait(const char *native, apr_time_t deadline,
                                    apr_pool_t *pool)
{
    const wchar_t *w = win32_wide(native, pool);
    int ms = xpipe__remaining_ms(deadline);

    if (w == NULL)
        return APR_ENOTIMPL;
    if (win32_sys.wait_named_pipe(w, ms <= 0 ? 1 : (DWORD)ms))
        return APR_SUCCESS;
    switch (GetLastError()) {
    case ERROR_SEM_TIMEOUT: return APR_TIMEUP;
    case ERROR_FILE_NOT_FOUND: return APR_SUCCESS; /* gone: dial says */
    default: return APR_ENOTIMPL;
    }
}

/* ------------------------------------------------------------------ */
/* Channel I/O */

static apr_status_t win32_read(xpipe__chan_t *c, void *buf, apr_size_t *len,
                               apr_time_t deadline)
{
    DWORD want = *len > 0x40000000 ? 0x40000000 : (DWORD)*len, n;
    apr_status_t rv;

    for (;;) {
        rv = win32_io(c, 0, buf, want, deadline, &n);
        if (rv == APR_SUCCESS && n > 0) {
            *len = n;
            return APR_SUCCESS;
        }
        if (rv == APR_SUCCESS)
            continue; /* a 0-byte message from a foreign peer: not data */
        *len = 0;
        switch (APR_TO_OS_ERROR(rv)) {
        case ERROR_BROKEN_PIPE: /* peer closed, all read: end */
        case ERROR_PIPE_NOT_CONNECTED: return APR_EOF;
        case ERROR_NETNAME_DELETED: /* remote peer vanished */
            return XPIPE_ERESET;
        default: return rv;
        }
    }
}

static apr_status_t win32_write_status(apr_status_t rv)
{
    switch (APR_TO_OS_ERROR(rv)) {
    case ERROR_NO_DATA: /* the peer closed its end */
    case ERROR_BROKEN_PIPE:
    case ERROR_PIPE_NOT_CONNECTED: return XPIPE_EPIPE;
    case ERROR_NETNAME_DELETED: return XPIPE_ERESET;
    default: return rv;
    }
}

static apr_status_t win32_write(xpipe__chan_t *c, const void *buf,
                                apr_size_t *len, apr_time_t deadline)
{
    DWORD want = *len > 0x40000000 ? 0x40000000 : (DWORD)*len, n;
    apr_status_t rv = win32_io(c, 1, (void *)buf, want, deadline, &n);

    /* A write cut short by a deadline or an interrupt reports what went
     * through: those bytes are delivered, so they are a success. */
    if (rv != APR_SUCCESS && n > 0
        && (rv == APR_TIMEUP || rv == XPIPE_ECANCELED))
        rv = APR_SUCCESS;
    *len = n;
    return rv == APR_SUCCESS ? rv : win32_write_status(rv);
}

static apr_status_t win32_send(xpipe__chan_t *c, const void *buf,
                               apr_size_t len, apr_time_t deadline)
{
    DWORD n;
    apr_status_t rv = win32_io(c, 1, (void *)buf, (DWORD)len, deadline, &n);

    return rv == APR_SUCCESS ? rv : win32_write_status(rv);
}

/* One ReadFile per message. A message longer than the buffer gives
 * ERROR_MORE_DATA with its start read: the rest is read too (its size from
 * PeekNamedPipe) and the whole message held for the next call, so the
 * caller sees XPIPE_EMSGSIZE and loses nothing, as on POSIX. */
static apr_status_t win32_recv(xpipe__chan_t *c, void *buf, apr_size_t *len,
                               apr_time_t deadline)
{
    DWORD n, m, avail, left,
        want = *len > 0x40000000 ? 0x40000000 : (DWORD)*len;
    apr_status_t rv;

    if (xpipe__held_take(&c->held, buf, len, &rv))
        return rv;
    do /* a 0-byte message (from a foreign peer) is no message: skip it */
        rv = win32_io(c, 0, buf, want, deadline, &n);
    while (rv == APR_SUCCESS && n == 0);
    if (rv == APR_SUCCESS) {
        *len = n;
        return APR_SUCCESS;
    }
    *len = 0;
    switch (APR_TO_OS_ERROR(rv)) {
    case ERROR_MORE_DATA:
        if (!win32_sys.peek_named_pipe(c->pipe, NULL, 0, NULL, &avail, &left))
            return win32_os_status(GetLastError());
        c->held.data = malloc((size_t)n + left);
        if (c->held.data == NULL)
            return APR_ENOMEM;
        memcpy(c->held.data, buf, n);
        rv = win32_io(c, 0, c->held.data + n, left, deadline, &m);
        if (rv != APR_SUCCESS) { /* cannot happen for a message in place */
            free(c->held.data);
            c->held.data = NULL;
            return rv;
        }
        c->held.len = (apr_size_t)n + m;
        *len = c->held.len;
        return XPIPE_EMSGSIZE;
    case ERROR_BROKEN_PIPE: /* peer closed, all read: end */
    case ERROR_PIPE_NOT_CONNECTED: return APR_EOF;
    default: return rv;
    }
}

static apr_status_t win32_wake(xpipe__chan_t *c)
{
    HANDLE ev = win32_event(&c->wake);

    if (ev == NULL || !SetEvent(ev))
        return win32_os_status(GetLastError());
    return APR_SUCCESS;
}

static apr_status_t win32_unwake(xpipe__chan_t *c)
{
    if (c->wake)
        ResetEvent(c->wake);
    return APR_SUCCESS;
}

static apr_status_t win32_shutdown(xpipe__chan_t *c, xpipe_shutdown_e how)
{
    (void)c;
    (void)how;
    return APR_ENOTIMPL; /* named pipes have no half close */
}

static apr_status_t win32_close(xpipe__chan_t *c)
{
    /* CloseHandle keeps what we wrote readable by the peer, then it reads
     * ERROR_BROKEN_PIPE. Never FlushFileBuffers (blocks forever on an
     * idle peer) nor DisconnectNamedPipe (discards unread data). */
    if (c->wname) {
        /* Under the lock, so a listener never counts a closed instance. */
        AcquireSRWLockExclusive(&win32_names_lock);
        win32_sys.close_handle(c->pipe);
        win32_names_add(c->wname, -1);
        ReleaseSRWLockExclusive(&win32_names_lock);
    }
    else
        win32_sys.close_handle(c->pipe);
    free(c->held.data);
    if (c->wake)
        win32_sys.close_handle(c->wake);
    if (c->rd_ev)
        win32_sys.close_handle(c->rd_ev);
    if (c->wr_ev)
        win32_sys.close_handle(c->wr_ev);
    return APR_SUCCESS;
}

static apr_status_t win32_peer_get(xpipe__chan_t *c, xpipe_peer_t *peer,
                                   apr_pool_t *pool)
{
    ULONG pid = 0;
    HANDLE proc;
    BOOL ok = c->server ? GetNamedPipeClientProcessId(c->pipe, &pid)
                        : GetNamedPipeServerProcessId(c->pipe, &pid);

    if (!ok)
        return win32_os_status(GetLastError());
    peer->pid = (long)pid;
    peer->have = XPIPE_PEER_PID;
    /* The user SID of the peer process's token, where we may open it.
     * (ImpersonateNamedPipeClient is not used: under Wine it yields our
     * own token.) */
    proc = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (proc) {
        if (win32_token_sid(proc, &peer->sid, pool) == APR_SUCCESS)
            peer->have |= XPIPE_PEER_SID;
        win32_sys.close_handle(proc);
    }
    return APR_SUCCESS;
}

static apr_status_t win32_os_handle_get(xpipe__chan_t *c, xpipe_os_handle_t *h)
{
    h->handle = c->pipe;
    return APR_SUCCESS;
}

static apr_status_t win32_self_get(xpipe_peer_t *self, apr_pool_t *pool)
{
    self->pid = (long)GetCurrentProcessId();
    self->have = XPIPE_PEER_PID;
    if (win32_token_sid(GetCurrentProcess(), &self->sid, pool) == APR_SUCCESS)
        self->have |= XPIPE_PEER_SID;
    return APR_SUCCESS;
}

static apr_status_t win32_sddl_check(const char *sddl)
{
    PSECURITY_DESCRIPTOR sd = NULL;
    wchar_t *w;
    apr_pool_t *p;
    apr_status_t rv = APR_EINVAL;

    if (apr_pool_create(&p, NULL) != APR_SUCCESS)
        return APR_ENOMEM;
    w = win32_wide(sddl, p);
    if (w
        && ConvertStringSecurityDescriptorToSecurityDescriptorW(
            w, SDDL_REVISION_1, &sd, NULL)) {
        LocalFree(sd);
        rv = APR_SUCCESS;
    }
    apr_pool_destroy(p);
    return rv;
}

const xpipe__backend_t xpipe__win32_backend = {
    .version = XPIPE__BACKEND_VERSION,
    .name = "win32",
    .resolve = win32_resolve,
    .listen = win32_listen,
    .accept = win32_accept,
    .listener_wake = win32_listener_wake,
    .listener_unwake = win32_listener_unwake,
    .listener_close = win32_listener_close,
    .dial = win32_dial,
    .busy_wait = win32_busy_wait,
    .read = win32_read,
    .write = win32_write,
    .send = win32_send,
    .recv = win32_recv,
    .wake = win32_wake,
    .unwake = win32_unwake,
    .shutdown = win32_shutdown,
    .close = win32_close,
    .peer_get = win32_peer_get,
    .os_handle_get = win32_os_handle_get,
    .self_get = win32_self_get,
    .sddl_check = win32_sddl_check,
};
