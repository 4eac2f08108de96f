/* SPDX-License-Identifier: Apache-2.0 */
/* unix_socket.c — the POSIX backend: Unix domain sockets. Byte mode is
 * SOCK_STREAM; message mode is SOCK_SEQPACKET where the OS has it, else
 * (or with -Dunix_messages=framed) frames on SOCK_STREAM with the same
 * semantics: a 4-byte big-endian length, then the payload. Exports only
 * xpipe__unix_backend; everything else is static. Every fd is
 * non-blocking and close-on-exec; blocking is poll() on the socket and the
 * object's wake pipe, bounded by the deadline.
 *
 * A listener exported to SMB clients (attr->smb_export) also listens in a
 * local Samba's np directory: smbd forwards each open of
 * \\host\pipe\<name> there, the handshake (smb_npa.h) is done before
 * accept returns, and such a channel carries a plain stream (byte mode) or
 * frames of a little-endian u16 length and payload (message mode).
 */
#include "backend.h"
#include "smb_npa.h"
#include "unix_sys.h"

#include <apr_atomic.h>
#include <apr_strings.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#ifdef HAVE_EVENTFD
#include <sys/eventfd.h>
#endif

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* then SO_NOSIGPIPE is set on every socket */
#endif

/* The wake object, by which an interrupt or a close reaches calls blocked
 * on a channel or listener. wake() latches `signalled` and signals every
 * blocked thread. A thread about to block polls its own wake fd (an
 * eventfd, or a pipe: made once per thread, so a short-lived channel
 * costs no descriptor of its own) and registers it in one of the
 * object's slots. When all slots are taken (many threads accepting on
 * one listener) the object's own eventfd serves, made on first need; its
 * fds are packed in one word so that racing creators agree. */
#define UNIX_WAKE_SLOTS 4
typedef struct unix_wake_t {
    volatile apr_uint32_t signalled;
    volatile apr_uint32_t slot[UNIX_WAKE_SLOTS]; /* a thread's write fd + 1 */
    volatile apr_uint64_t fds; /* own: read fd << 32 | write fd */
} unix_wake_t;
#define UNIX_WAKE_NONE (~(apr_uint64_t)0)

/* One listening socket file and the lock that guards its name. */
typedef struct unix_sock_file_t {
    int fd;
    int lock_fd; /* flock on "<path>.lock", held while listening */
    const char *path, *lock_path;
    dev_t dev; /* the socket file we bound: close unlinks only it */
    ino_t ino;
} unix_sock_file_t;

struct xpipe__lsn_t {
    unix_sock_file_t sock;
    volatile apr_uint32_t accept_waited; /* the last accept had to wait */
    unix_wake_t wake;
    const xpipe_attr_t *attr;
    /* Exported to SMB clients: the socket in Samba's np directory (fd -1
     * when not), and the attributes it was made with (byte mode). */
    unix_sock_file_t smb;
    xpipe_attr_t smb_attr;
};

struct xpipe__chan_t {
    int fd;
    unix_wake_t wake;
    /* Message framing on a stream: 0 none (SOCK_SEQPACKET, or byte mode),
     * 4 xpipe frames (big-endian u32 length: UNIX_FRAMED builds), 2 SMB
     * frames (little-endian u16 length, from smbd). */
    int frame;
    const xpipe__npa_info_t *smb; /* a network client's identity, or NULL */
    /* Framed message mode only: */
    unsigned char hdr[4]; /* the current frame's length, as read so far */
    apr_size_t hdr_got;
    unsigned char *rx_part; /* payload read before a deadline cut in */
    apr_size_t rx_got;
    unsigned char *tx_rest; /* unsent tail of a frame already committed */
    apr_size_t tx_len, tx_off;
    /* Per direction (0 in, 1 out): the last transfer moved less than
     * asked, so the socket was drained / full: wait first next time. */
    int short_xfer[2];
    /* SOCK_SEQPACKET message mode: */
    apr_size_t max_message;
    unsigned char *spill; /* where a message longer than the buffer runs on */
    xpipe__held_t held;   /* such a message, kept whole for the next call */
};

/* Framed messages: chosen by meson (config.h). Then every connection
 * starts with one hello byte from the client naming its mode, so a server
 * drops a client of the other mode as SOCK_SEQPACKET's type check does. */
#if XPIPE_UNIX_FRAMED
#define UNIX_FRAMED 1
#define UNIX_NAME "unix-framed"
#else
#define UNIX_FRAMED 0
#define UNIX_NAME "unix"
#endif
#define UNIX_HELLO_BYTE 'B'
#define UNIX_HELLO_MSG 'M'
/* How long accept waits for a new client's hello before dropping it. */
#define UNIX_HELLO_WAIT (APR_USEC_PER_SEC)
/* How long accept waits for smbd's handshake request. */
#define UNIX_NPA_WAIT (2 * APR_USEC_PER_SEC)

/* fcntl is needed only where the OS lacks the calls that set these
 * flags atomically. */
#if !(defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK))                         \
    || !defined(HAVE_ACCEPT4)                                                  \
    || !(defined(HAVE_EVENTFD) || defined(HAVE_PIPE2))
#define UNIX_NEED_FCNTL 1
static int unix_cloexec_nonblock(int fd);
#else
#define UNIX_NEED_FCNTL 0
#endif

/* accept(), giving a non-blocking close-on-exec fd. */
static int unix_accept_raw(int fd)
{
#ifdef HAVE_ACCEPT4
    return accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
#else
    int c = accept(fd, NULL, NULL);

    if (c >= 0 && unix_cloexec_nonblock(c) < 0) {
        int err = errno;
        close(c);
        errno = err;
        return -1;
    }
    return c;
#endif
}

/* Every system call that can fail in interesting ways goes through here
 * (see unix_sys.h). */
/* open() is variadic: the table wants a fixed signature. */
static int unix_open_raw(const char *path, int flags, mode_t mode)
{
    return open(path, flags, mode);
}

xpipe__unix_sys_t xpipe__unix_sys = {
    .socket = socket,
    .bind = bind,
    .listen = listen,
    .accept = unix_accept_raw,
    .connect = connect,
    .recv = recv,
    .send = send,
    .sendmsg = sendmsg,
    .recvmsg = recvmsg,
    .poll = poll,
    .close = close,
    .shutdown = shutdown,
    .setsockopt = setsockopt,
    .getsockopt = getsockopt,
    .open = unix_open_raw,
    .flock = flock,
    .lstat = lstat,
    .fstat = fstat,
    .mkdir = mkdir,
    .chmod = chmod,
    .fchmod = fchmod,
    .chown = chown,
    .unlink = unlink,
    .read = read,
    .write = write,
};

/* ------------------------------------------------------------------ */
/* Small helpers */

static void unix_close_fd(int *fd)
{
    if (*fd >= 0) {
        unix_sys.close(*fd); /* no EINTR retry: the fd is released either way */
        *fd = -1;
    }
}

#if UNIX_NEED_FCNTL
static int unix_cloexec_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    fl = fcntl(fd, F_GETFD);
    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -1;
    return 0;
}
#endif

static int unix_wake_make(int fds[2])
{
#ifdef HAVE_EVENTFD
    fds[0] = fds[1] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fds[0] < 0 ? -1 : 0;
#elif defined(HAVE_PIPE2)
    return pipe2(fds, O_CLOEXEC | O_NONBLOCK);
#else
    if (pipe(fds) < 0)
        return -1;
    if (unix_cloexec_nonblock(fds[0]) < 0
        || unix_cloexec_nonblock(fds[1]) < 0) {
        unix_sys.close(fds[0]);
        unix_sys.close(fds[1]);
        return -1;
    }
    return 0;
#endif
}

/* Signal / drain a wake fd (an eventfd takes 8 bytes, a pipe any). */
static void unix_fd_signal(int wr)
{
    apr_uint64_t one = 1;

#ifdef HAVE_EVENTFD
    /* EAGAIN means it is already signalled: fine. */
    while (write(wr, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
#else
    while (write(wr, &one, 1) < 0 && errno == EINTR)
        ;
#endif
}

static void unix_fd_drain(int rd)
{
    char buf[64];

    while (read(rd, buf, sizeof(buf)) > 0 || errno == EINTR)
        ;
}

/* This thread's wake fds: made on first need, closed when the thread
 * ends (a key's destructor). A child made by fork() gets its own on first
 * need: the inherited ones are shared with the parent. */
typedef struct unix_thread_wake_t {
    int rd, wr;
} unix_thread_wake_t;

static _Thread_local unix_thread_wake_t *unix_tw;
static pthread_key_t unix_tw_key;
static pthread_once_t unix_tw_once = PTHREAD_ONCE_INIT;

static void unix_tw_free(void *v)
{
    unix_thread_wake_t *t = v;

    close(t->rd);
    if (t->wr != t->rd)
        close(t->wr);
    free(t);
}

static void unix_tw_after_fork(void)
{
    if (unix_tw) { /* the forking thread's: the parent's still */
        pthread_setspecific(unix_tw_key, NULL);
        unix_tw_free(unix_tw);
        unix_tw = NULL;
    }
}

static void unix_tw_setup(void)
{
    pthread_key_create(&unix_tw_key, unix_tw_free);
    pthread_atfork(NULL, NULL, unix_tw_after_fork);
}

static unix_thread_wake_t *unix_thread_wake(void)
{
    unix_thread_wake_t *t;
    int fds[2];

    if (unix_tw)
        return unix_tw;
    pthread_once(&unix_tw_once, unix_tw_setup);
    if (unix_wake_make(fds) < 0)
        return NULL;
    t = malloc(sizeof(*t));
    if (t == NULL || pthread_setspecific(unix_tw_key, t) != 0) {
        close(fds[0]);
        if (fds[1] != fds[0])
            close(fds[1]);
        free(t);
        return NULL;
    }
    t->rd = fds[0];
    t->wr = fds[1];
    unix_tw = t;
    return t;
}

static void unix_wake_init(unix_wake_t *w)
{
    int i;

    apr_atomic_set32(&w->signalled, 0);
    for (i = 0; i < UNIX_WAKE_SLOTS; i++)
        apr_atomic_set32(&w->slot[i], 0);
    apr_atomic_set64(&w->fds, UNIX_WAKE_NONE);
}

/* The object's own wake fds, made now if need be. */
static apr_status_t unix_wake_fds(unix_wake_t *w, int *rd, int *wr)
{
    apr_uint64_t v = apr_atomic_read64(&w->fds);

    if (v == UNIX_WAKE_NONE) {
        int fds[2];
        apr_uint64_t mine;

        if (unix_wake_make(fds) < 0)
            return APR_FROM_OS_ERROR(errno);
        mine = (apr_uint64_t)(unsigned int)fds[0] << 32 | (unsigned int)fds[1];
        v = apr_atomic_cas64(&w->fds, mine, UNIX_WAKE_NONE);
        if (v != UNIX_WAKE_NONE) { /* another thread made one first */
            unix_sys.close(fds[0]);
            if (fds[1] != fds[0])
                unix_sys.close(fds[1]);
        }
        else
            v = mine;
    }
    *rd = (int)(v >> 32);
    *wr = (int)(v & 0xffffffffu);
    return APR_SUCCESS;
}

/* wake (on) latches the flag, then signals every registered thread and
 * the own fd: a thread registers before it reads the flag, so either it
 * sees the flag or we see its slot. unwake (lib calls it only when no
 * call is in flight) clears both. */
static apr_status_t unix_wake_set(unix_wake_t *w, int on)
{
    apr_uint64_t own = apr_atomic_read64(&w->fds);
    apr_uint32_t v;
    int i;

    apr_atomic_set32(&w->signalled, on != 0);
    if (on) {
        for (i = 0; i < UNIX_WAKE_SLOTS; i++)
            if ((v = apr_atomic_read32(&w->slot[i])) != 0)
                unix_fd_signal((int)v - 1);
        if (own != UNIX_WAKE_NONE)
            unix_fd_signal((int)(own & 0xffffffffu));
    }
    else if (own != UNIX_WAKE_NONE)
        unix_fd_drain((int)(own >> 32));
    return APR_SUCCESS;
}

static void unix_wake_close(unix_wake_t *w)
{
    apr_uint64_t v = apr_atomic_read64(&w->fds);

    if (v != UNIX_WAKE_NONE) {
        int rd = (int)(v >> 32), wr = (int)(v & 0xffffffffu);
        unix_sys.close(rd);
        if (wr != rd)
            unix_sys.close(wr);
        apr_atomic_set64(&w->fds, UNIX_WAKE_NONE);
    }
}

/* Wait until fd (or fd2, when not -1) is ready for events, the wake
 * object is signalled (XPIPE_ECANCELED) or the deadline passes
 * (APR_TIMEUP). Errors and hang-ups count as ready: the next syscall
 * reports them. w may be NULL (nothing can interrupt the call). */
static apr_status_t unix_wait2(int fd, int fd2, short events, unix_wake_t *w,
                               apr_time_t deadline)
{
    struct pollfd p[3];
    int n, i, nfds = fd2 >= 0 ? 2 : 1, wake = -1, slot = -1, wr;
    unix_thread_wake_t *tw = NULL;
    apr_status_t rv;

    if (w && apr_atomic_read32(&w->signalled))
        return XPIPE_ECANCELED;
    p[1].fd = fd2;
    /* A wait that may block must be reachable by wake(): register this
     * thread's wake fd (or use the object's own), then look at the flag
     * again. A zero wait needs neither. */
    if (w && xpipe__remaining_ms(deadline) != 0) {
        wake = nfds++;
        tw = unix_thread_wake();
        for (i = 0; tw && i < UNIX_WAKE_SLOTS && slot < 0; i++)
            if (apr_atomic_cas32(&w->slot[i], (apr_uint32_t)tw->wr + 1, 0) == 0)
                slot = i;
        if (slot >= 0)
            p[wake].fd = tw->rd;
        else if ((rv = unix_wake_fds(w, &p[wake].fd, &wr)) != APR_SUCCESS)
            return rv;
    }
    for (;;) {
        if (w && apr_atomic_read32(&w->signalled)) {
            rv = XPIPE_ECANCELED;
            break;
        }
        for (i = 0; i < nfds; i++) {
            p[i].events = i == wake ? POLLIN : events;
            p[i].revents = 0;
        }
        p[0].fd = fd;
        n = unix_sys.poll(p, (nfds_t)nfds, xpipe__remaining_ms(deadline));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue; /* a signal, or (POSIX) a transient shortage */
        if (n < 0) {
            rv = APR_FROM_OS_ERROR(errno);
            break;
        }
        if (wake >= 0 && p[wake].revents) {
            /* Ours, or a stale signal meant for an earlier wait of this
             * thread: the flag tells (checked at the top). */
            if (slot >= 0)
                unix_fd_drain(tw->rd);
            else if (!apr_atomic_read32(&w->signalled))
                unix_fd_drain(p[wake].fd);
            continue;
        }
        if (p[0].revents || (fd2 >= 0 && p[1].revents)) {
            rv = APR_SUCCESS;
            break;
        }
        if (xpipe__remaining_ms(deadline) == 0) {
            rv = APR_TIMEUP;
            break;
        }
    }
    if (slot >= 0)
        apr_atomic_set32(&w->slot[slot], 0);
    return rv;
}

static apr_status_t unix_wait(int fd, short events, unix_wake_t *w,
                              apr_time_t deadline)
{
    return unix_wait2(fd, -1, events, w, deadline);
}

static int unix_sock_type(const xpipe_attr_t *attr)
{
    return attr->mode == XPIPE_MODE_MESSAGE && !UNIX_FRAMED ? SOCK_SEQPACKET
                                                            : SOCK_STREAM;
}

/* A new socket: close-on-exec, non-blocking, no SIGPIPE, sized. */
static apr_status_t unix_socket_new(int *out, const xpipe_attr_t *attr)
{
    int type = unix_sock_type(attr);
    int fd, v;

#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
    fd = unix_sys.socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
#else
    fd = unix_sys.socket(AF_UNIX, type, 0);
    if (fd >= 0 && unix_cloexec_nonblock(fd) < 0) {
        unix_sys.close(fd);
        fd = -1;
    }
#endif
    if (fd < 0)
        return APR_FROM_OS_ERROR(errno);
#ifdef SO_NOSIGPIPE
    v = 1;
    unix_sys.setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &v, sizeof(v));
#endif
    /* Sizes are hints the kernel may clamp; a failure here is not fatal. */
    if (attr->in_buffer) {
        v = (int)attr->in_buffer;
        unix_sys.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    }
    v = (int)attr->out_buffer;
    /* A SOCK_SEQPACKET message must fit the send buffer whole. */
    if (type == SOCK_SEQPACKET && (apr_size_t)v < attr->max_message + 1024)
        v = (int)attr->max_message + 1024;
    if (v)
        unix_sys.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
    *out = fd;
    return APR_SUCCESS;
}

static void unix_sockaddr(struct sockaddr_un *sa, const char *path)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    /* resolve() already checked that path fits with its NUL. */
    memcpy(sa->sun_path, path, strlen(path) + 1);
}

/* ------------------------------------------------------------------ */
/* Names and the run directory */

/* $XDG_RUNTIME_DIR/xpipe when that directory is ours and 0700, else
 * /tmp/xpipe-<uid>. Computed only; unix_rundir_check creates/checks it. */
static const char *unix_rundir(apr_pool_t *pool)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    unsigned long uid;
    char buf[40], digits[24];
    struct stat st;
    int n = 0, at = 11;

    if (xdg && xdg[0] == '/' && unix_sys.lstat(xdg, &st) == 0
        && S_ISDIR(st.st_mode) && st.st_uid == geteuid()
        && (st.st_mode & 0777) == 0700)
        return apr_pstrcat(pool, xdg, "/xpipe", NULL);
    /* "/tmp/xpipe-<uid>", formatted by hand: every connect comes here. */
    uid = (unsigned long)geteuid();
    do
        digits[n++] = (char)('0' + uid % 10);
    while ((uid /= 10) != 0);
    memcpy(buf, "/tmp/xpipe-", 11);
    while (n > 0)
        buf[at++] = digits[--n];
    return apr_pstrmemdup(pool, buf, (apr_size_t)at);
}

/* Make sure dir is a real directory, ours, with no access for others.
 * With create, make it first. Missing without create: XPIPE_ENOPIPE. */
static apr_status_t unix_rundir_check(const char *dir, int create)
{
    struct stat st;

    if (create && unix_sys.mkdir(dir, 0700) == 0)
        unix_sys.chmod(dir, 0700); /* the umask may have taken owner bits */
    else if (create && errno != EEXIST)
        return xpipe__fail(APR_FROM_OS_ERROR(errno),
                           "cannot create run directory %s", dir);
    if (unix_sys.lstat(dir, &st) < 0)
        return errno == ENOENT ? XPIPE_ENOPIPE : APR_FROM_OS_ERROR(errno);
    /* lstat does not follow links: a symlink is refused as such. */
    if (S_ISLNK(st.st_mode))
        return xpipe__fail(XPIPE_ERUNDIR, "run directory %s is a symbolic link",
                           dir);
    if (!S_ISDIR(st.st_mode))
        return xpipe__fail(XPIPE_ERUNDIR, "run directory %s is not a directory",
                           dir);
    if (st.st_uid != geteuid())
        return xpipe__fail(XPIPE_ERUNDIR,
                           "run directory %s belongs to uid %lu, not to us "
                           "(uid %lu)",
                           dir, (unsigned long)st.st_uid,
                           (unsigned long)geteuid());
    if ((st.st_mode & 077) != 0)
        return xpipe__fail(XPIPE_ERUNDIR,
                           "run directory %s has mode %04o; it must be 0700",
                           dir, (unsigned int)(st.st_mode & 07777));
    return APR_SUCCESS;
}

static apr_status_t unix_resolve(const char **native, const xpipe__name_t *name,
                                 apr_pool_t *pool)
{
    const char *path;

    switch (name->kind) {
    case XPIPE__NAME_REMOTE: return XPIPE_EREMOTE;
    case XPIPE__NAME_PATH: path = name->name; break;
    default:
        path = apr_pstrcat(pool, unix_rundir(pool), "/", name->name, NULL);
        break;
    }
    /* sun_path must hold the path and its NUL: never truncate. */
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return xpipe__fail(
            XPIPE_ENAMETOOLONG,
            "socket path %s is %lu bytes; this OS holds %lu", path,
            (unsigned long)strlen(path),
            (unsigned long)sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    *native = path;
    return APR_SUCCESS;
}

/* The directory of a resolved portable name, checked. */
static apr_status_t unix_name_dir_check(const xpipe__name_t *name,
                                        const char *native, int create,
                                        apr_pool_t *pool)
{
    const char *slash = strrchr(native, '/');

    if (name->kind != XPIPE__NAME_PORTABLE)
        return APR_SUCCESS;
    return unix_rundir_check(
        apr_pstrmemdup(pool, native, (apr_size_t)(slash - native)), create);
}

/* ------------------------------------------------------------------ */
/* Listener */

/* Is a live server at path? Connect to find out: refused means stale. */
static int unix_path_is_live(const char *path, const xpipe_attr_t *attr)
{
    struct sockaddr_un sa;
    int fd, rc, live;

    if (unix_socket_new(&fd, attr) != APR_SUCCESS)
        return 1; /* cannot tell: never remove what may be live */
    unix_sockaddr(&sa, path);
    rc = unix_sys.connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    live = rc == 0 || (errno != ECONNREFUSED && errno != ENOENT);
    unix_sys.close(fd);
    return live;
}

/* bind(), replacing a stale socket file but nothing else. */
static apr_status_t unix_bind(int fd, const char *path,
                              const xpipe_attr_t *attr)
{
    struct sockaddr_un sa;
    struct stat st;
    int tries;

    unix_sockaddr(&sa, path);
    for (tries = 0; tries < 2; tries++) {
        if (unix_sys.bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return APR_SUCCESS;
        if (errno != EADDRINUSE)
            return xpipe__fail(APR_FROM_OS_ERROR(errno), "cannot bind %s",
                               path);
        if (unix_sys.lstat(path, &st) < 0)
            continue;              /* gone meanwhile: bind again */
        if (!S_ISSOCK(st.st_mode)) /* a file, directory or link: hands off */
            return xpipe__fail(XPIPE_ENOTSOCK, "%s exists and is a %s", path,
                               S_ISLNK(st.st_mode)   ? "symbolic link"
                               : S_ISDIR(st.st_mode) ? "directory"
                               : S_ISREG(st.st_mode) ? "regular file"
                                                     : "non-socket file");
        if (unix_path_is_live(path, attr))
            return xpipe__fail(XPIPE_EINUSE, "a server is listening on %s",
                               path);
        if (unix_sys.unlink(path) < 0 && errno != ENOENT)
            return APR_FROM_OS_ERROR(errno);
    }
    return XPIPE_EINUSE;
}

/* Why "<path>.lock" could not be opened, in the terms the caller used:
 * the socket's directory, not the lock file xpipe made up. */
static apr_status_t unix_lock_fail(int err, const char *path, const char *lock,
                                   apr_pool_t *pool)
{
    const char *slash = strrchr(path, '/');
    const char *dir =
        slash == path ? "/"
        : slash       ? apr_pstrmemdup(pool, path, (apr_size_t)(slash - path))
                      : ".";

    switch (err) {
    case ENOENT:
        return xpipe__fail(APR_FROM_OS_ERROR(err),
                           "directory %s does not exist", dir);
    case ENOTDIR:
        return xpipe__fail(APR_FROM_OS_ERROR(err),
                           "%s is not a directory (in the path %s)", dir, path);
    case EACCES:
    case EPERM:
    case EROFS:
        return xpipe__fail(APR_FROM_OS_ERROR(err),
                           "cannot create %s in directory %s", path, dir);
    case ELOOP:
        return xpipe__fail(XPIPE_ENOTSOCK, "%s is a symbolic link", lock);
    default:
        return xpipe__fail(APR_FROM_OS_ERROR(err), "cannot open lock file %s",
                           lock);
    }
}

/* Take "<path>.lock" so that two listeners started together cannot both
 * decide that the name is theirs between the check and the bind. The
 * lock file is removed on close; a lock taken on a file that was removed
 * meanwhile is worthless, hence the inode check and retry. */
static apr_status_t unix_lock(int *lock_fd, const char **lock_path,
                              const char *path, apr_pool_t *pool)
{
    const char *lock = apr_pstrcat(pool, path, ".lock", NULL);
    struct stat fst, pst;
    int tries, fd;

    for (tries = 0; tries < 100; tries++) {
        fd = unix_sys.open(lock, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
                           0600);
        if (fd < 0)
            return unix_lock_fail(errno, path, lock, pool);
        while (unix_sys.flock(fd, LOCK_EX | LOCK_NB) < 0) {
            int err = errno;
            if (err == EINTR)
                continue;
            unix_sys.close(fd);
            return xpipe__fail(err == EWOULDBLOCK ? XPIPE_EINUSE
                                                  : APR_FROM_OS_ERROR(err),
                               "another server holds %s", lock);
        }
        if (unix_sys.fstat(fd, &fst) == 0 && unix_sys.lstat(lock, &pst) == 0
            && fst.st_dev == pst.st_dev && fst.st_ino == pst.st_ino) {
            *lock_fd = fd;
            *lock_path = lock;
            return APR_SUCCESS;
        }
        /* Its previous owner removed it: take the new one. */
        unix_sys.close(fd);
    }
    return XPIPE_EINUSE;
}

/* Lock, bind and listen on one socket file (attr gives its type, mode,
 * group and backlog). On failure everything taken is released again: the
 * socket file too, since we hold the lock and it is still ours. */
static apr_status_t unix_sock_open(unix_sock_file_t *f, const char *path,
                                   const xpipe_attr_t *attr, apr_pool_t *pool)
{
    struct stat st;
    apr_status_t rv;
    int bound = 0;

    f->fd = f->lock_fd = -1;
    f->path = path;
    rv = unix_lock(&f->lock_fd, &f->lock_path, path, pool);
    if (rv == APR_SUCCESS)
        rv = unix_socket_new(&f->fd, attr);
    if (rv == APR_SUCCESS) {
        /* On Linux bind() gives the socket file the mode of the socket's
         * inode (less the umask), so it is never wider than asked for,
         * not even for an instant; chmod then sets it exactly. */
        unix_sys.fchmod(f->fd, (mode_t)attr->permissions);
        rv = unix_bind(f->fd, path, attr);
        bound = rv == APR_SUCCESS;
    }
    if (rv == APR_SUCCESS && attr->group >= 0
        && unix_sys.chown(path, (uid_t)-1, (gid_t)attr->group) < 0)
        rv = xpipe__fail(APR_FROM_OS_ERROR(errno),
                         "cannot give %s to group %ld", path, attr->group);
    if (rv == APR_SUCCESS
        && (unix_sys.chmod(path, (mode_t)attr->permissions) < 0
            || unix_sys.lstat(path, &st) < 0))
        rv = xpipe__fail(APR_FROM_OS_ERROR(errno), "cannot set the mode of %s",
                         path);
    if (rv == APR_SUCCESS) {
        f->dev = st.st_dev;
        f->ino = st.st_ino;
        if (unix_sys.listen(f->fd, attr->instances) < 0)
            rv = APR_FROM_OS_ERROR(errno);
    }
    if (rv != APR_SUCCESS) {
        if (bound)
            unix_sys.unlink(path);
        unix_close_fd(&f->fd);
        if (f->lock_fd >= 0)
            unix_sys.unlink(f->lock_path);
        unix_close_fd(&f->lock_fd);
    }
    return rv;
}

/* Close a socket file opened by unix_sock_open. */
static void unix_sock_close(unix_sock_file_t *f)
{
    struct stat st;

    if (f->lock_fd < 0)
        return; /* never opened */
    unix_close_fd(&f->fd);
    /* Remove the socket file only if it is still the one we bound, and
     * while we still hold the lock, so a new listener's is never hit. */
    if (unix_sys.lstat(f->path, &st) == 0 && st.st_dev == f->dev
        && st.st_ino == f->ino)
        unix_sys.unlink(f->path);
    unix_sys.unlink(f->lock_path);
    unix_close_fd(&f->lock_fd);
}

/* Samba's np directory: the attribute's, else "<ncalrpc dir>/np" with the
 * ncalrpc dir from smb.conf's [global], else Samba's built-in one. */
static const char *unix_smb_np_dir(const xpipe_attr_t *attr, apr_pool_t *pool)
{
    const char *ncalrpc = NULL, *dir;
    apr_size_t cap = 1024 * 1024, got = 0;
    apr_pool_t *tmp = NULL;
    char *text;
    ssize_t n;
    int fd;

    if (attr->smb_np_dir)
        return attr->smb_np_dir;
    /* The file (up to 1 MiB) is read into a scratch pool, not kept. */
    fd = unix_sys.open(XPIPE_SAMBA_CONF, O_RDONLY | O_CLOEXEC, 0);
    if (fd >= 0 && apr_pool_create(&tmp, pool) == APR_SUCCESS) {
        text = apr_palloc(tmp, cap);
        while (got < cap
               && ((n = unix_sys.read(fd, text + got, cap - got)) > 0
                   || (n < 0 && errno == EINTR)))
            got += n > 0 ? (apr_size_t)n : 0;
        ncalrpc = xpipe__smbconf_ncalrpc_dir(text, got, tmp);
    }
    if (fd >= 0)
        unix_sys.close(fd);
    dir = apr_pstrcat(pool, ncalrpc ? ncalrpc : XPIPE_SAMBA_NCALRPC_DIR, "/np",
                      NULL);
    if (tmp)
        apr_pool_destroy(tmp);
    return dir;
}

/* Export the listener to SMB clients: a stream socket named after the
 * pipe (lower-cased) in Samba's np directory. */
static apr_status_t unix_smb_listen(xpipe__lsn_t *l, const xpipe__name_t *name,
                                    const char *native, apr_pool_t *pool)
{
    const char *dir = unix_smb_np_dir(l->attr, pool), *path;
    struct stat st;

    (void)native;
    if (unix_sys.lstat(dir, &st) < 0)
        return xpipe__fail(errno == ENOENT ? XPIPE_ENOPIPE
                                           : APR_FROM_OS_ERROR(errno),
                           "Samba's np directory %s: %s (is Samba installed, "
                           "and has smbd started once?)",
                           dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return xpipe__fail(APR_ENOTDIR,
                           "Samba's np directory %s is not a "
                           "directory",
                           dir);
    if (access(dir, W_OK | X_OK) < 0)
        return xpipe__fail(APR_EACCES,
                           "cannot create a socket in Samba's "
                           "np directory %s (owner uid %lu, mode %04o): run "
                           "the server as that user",
                           dir, (unsigned long)st.st_uid,
                           (unsigned int)(st.st_mode & 07777));
    path = apr_pstrcat(pool, dir, "/", name->pipe, NULL);
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return xpipe__fail(XPIPE_ENAMETOOLONG,
                           "socket path %s is too long "
                           "for this OS",
                           path);
    /* smbd connects with a stream socket, as root or as its own user. */
    l->smb_attr = *l->attr;
    l->smb_attr.mode = XPIPE_MODE_BYTE;
    l->smb_attr.permissions = 0600;
    l->smb_attr.group = -1;
    return unix_sock_open(&l->smb, path, &l->smb_attr, pool);
}

static apr_status_t unix_listen(xpipe__lsn_t **out, const xpipe__name_t *name,
                                const char *native, const xpipe_attr_t *attr,
                                apr_pool_t *pool)
{
    xpipe__lsn_t *l = apr_pcalloc(pool, sizeof(*l));
    apr_status_t rv;

    l->sock.fd = l->sock.lock_fd = l->smb.fd = l->smb.lock_fd = -1;
    unix_wake_init(&l->wake);
    l->attr = attr;
    rv = unix_name_dir_check(name, native, 1, pool);
    if (rv == APR_SUCCESS)
        rv = unix_sock_open(&l->sock, native, attr, pool);
    if (rv == APR_SUCCESS && attr->smb_export) {
        rv = unix_smb_listen(l, name, native, pool);
        if (rv != APR_SUCCESS)
            unix_sock_close(&l->sock);
    }
    if (rv == APR_SUCCESS)
        *out = l;
    return rv;
}

static apr_status_t unix_chan_new(xpipe__chan_t **out, int fd,
                                  const xpipe_attr_t *attr, apr_pool_t *pool)
{
    xpipe__chan_t *c = apr_pcalloc(pool, sizeof(*c));

    c->max_message = attr->max_message;
    c->frame = UNIX_FRAMED && attr->mode == XPIPE_MODE_MESSAGE ? 4 : 0;
    unix_wake_init(&c->wake);
    c->fd = fd;
    *out = c;
    return APR_SUCCESS;
}

/* Read exactly n bytes from a connection being accepted, before until:
 * APR_EOF when it closes first, APR_TIMEUP, XPIPE_ECANCELED when the
 * listener is woken, or an OS status. */
static apr_status_t unix_recv_exact(int fd, void *buf, apr_size_t n,
                                    unix_wake_t *w, apr_time_t until)
{
    apr_size_t got = 0;
    apr_status_t rv;
    ssize_t r;

    while (got < n) {
        r = unix_sys.recv(fd, (char *)buf + got, n - got, 0);
        if (r > 0) {
            got += (apr_size_t)r;
            continue;
        }
        if (r == 0)
            return APR_EOF;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return APR_FROM_OS_ERROR(errno);
        rv = unix_wait(fd, POLLIN, w, until);
        if (rv != APR_SUCCESS)
            return rv;
    }
    return APR_SUCCESS;
}

/* Framed builds: read the client's hello byte (waiting at most
 * UNIX_HELLO_WAIT); the fd is closed unless it names our mode. */
static apr_status_t unix_hello_check(int fd, xpipe__lsn_t *l)
{
    char want =
        l->attr->mode == XPIPE_MODE_MESSAGE ? UNIX_HELLO_MSG : UNIX_HELLO_BYTE;
    char b = 0;
    apr_status_t rv =
        unix_recv_exact(fd, &b, 1, &l->wake, apr_time_now() + UNIX_HELLO_WAIT);

    if (rv == APR_SUCCESS && b == want)
        return APR_SUCCESS;
    unix_sys.close(fd);
    return rv == XPIPE_ECANCELED ? rv : XPIPE_EMODE;
}

/* A connection forwarded by smbd: read its handshake request (waiting at
 * most UNIX_NPA_WAIT), parse it, answer with our mode. On success *info
 * holds the client's identity (from a pool that lives with the channel).
 * Otherwise the fd is closed, the reason logged (unless the listener was
 * woken: XPIPE_ECANCELED), and XPIPE_EMODE returned. */
static apr_status_t unix_smb_handshake(int fd, xpipe__lsn_t *l,
                                       const xpipe__npa_info_t **info,
                                       apr_pool_t *pool)
{
    apr_time_t until = apr_time_now() + UNIX_NPA_WAIT;
    unsigned char hdr[4], reply[XPIPE__NPA_REPLY_LEN], *req = NULL;
    xpipe__npa_info_t *in;
    apr_pool_t *sub = NULL;
    apr_size_t len = 0, sent = 0;
    char why[256] = "";
    apr_status_t rv;
    ssize_t n;

    rv = unix_recv_exact(fd, hdr, 4, &l->wake, until);
    if (rv == APR_SUCCESS) {
        len = xpipe__npa_length(hdr);
        if (len < 12 || len > XPIPE__NPA_MAX) {
            apr_snprintf(why, sizeof(why),
                         "handshake of %lu bytes announced "
                         "(12 to %lu expected)",
                         (unsigned long)len, (unsigned long)XPIPE__NPA_MAX);
            rv = APR_EGENERAL;
        }
        else if ((req = malloc(len + 4)) == NULL)
            rv = APR_ENOMEM;
        else {
            memcpy(req, hdr, 4);
            rv = unix_recv_exact(fd, req + 4, len, &l->wake, until);
        }
    }
    if (rv == APR_SUCCESS)
        rv = apr_pool_create(&sub, pool);
    if (rv == APR_SUCCESS) {
        in = apr_palloc(sub, sizeof(*in));
        rv = xpipe__npa_parse(in, req, len, why, sizeof(why), sub);
    }
    free(req);
    xpipe__npa_reply(reply, l->attr->mode == XPIPE_MODE_MESSAGE);
    while (rv == APR_SUCCESS && sent < sizeof(reply)) {
        n = unix_sys.send(fd, reply + sent, sizeof(reply) - sent, MSG_NOSIGNAL);
        if (n > 0)
            sent += (apr_size_t)n;
        else if (n < 0 && errno == EINTR)
            continue;
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            rv = unix_wait(fd, POLLOUT, &l->wake, until);
        else
            rv = APR_FROM_OS_ERROR(errno);
    }
    if (rv == APR_SUCCESS) {
        *info = in;
        return APR_SUCCESS;
    }
    unix_sys.close(fd);
    if (sub)
        apr_pool_destroy(sub);
    if (rv == XPIPE_ECANCELED)
        return rv;
    if (why[0] == '\0') {
        if (APR_STATUS_IS_TIMEUP(rv))
            apr_snprintf(why, sizeof(why), "no handshake within %d s",
                         (int)(UNIX_NPA_WAIT / APR_USEC_PER_SEC));
        else if (APR_STATUS_IS_EOF(rv))
            apr_cpystrn(why, "closed during the handshake", sizeof(why));
        else
            apr_strerror(rv, why, sizeof(why));
    }
    xpipe__log(l->attr, "dropped an SMB connection on %s: %s", l->smb.path,
               why);
    return XPIPE_EMODE;
}

/* One connection forwarded by smbd, if one is queued: APR_SUCCESS with
 * the channel, APR_EAGAIN when none is (or it was dropped),
 * XPIPE_ECANCELED, or an OS status. */
static apr_status_t unix_smb_accept(xpipe__chan_t **out, xpipe__lsn_t *l,
                                    apr_pool_t *pool)
{
    const xpipe__npa_info_t *info;
    apr_status_t rv;
    int fd;

    do
        fd = unix_sys.accept(l->smb.fd);
    while (fd < 0 && (errno == EINTR || errno == ECONNABORTED));
    if (fd < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK
                   ? APR_EAGAIN
                   : APR_FROM_OS_ERROR(errno);
    rv = unix_smb_handshake(fd, l, &info, pool);
    if (rv != APR_SUCCESS)
        return rv == XPIPE_ECANCELED ? rv : APR_EAGAIN;
    rv = unix_chan_new(out, fd, l->attr, pool);
    if (rv == APR_SUCCESS) {
        (*out)->smb = info;
        (*out)->frame = l->attr->mode == XPIPE_MODE_MESSAGE ? 2 : 0;
    }
    return rv;
}

static apr_status_t unix_accept(xpipe__chan_t **out, xpipe__lsn_t *l,
                                apr_time_t deadline, apr_pool_t *pool)
{
    apr_status_t rv;
    int fd, waited = 0;

    /* A server whose last accept had to wait (clients arrive one by one)
     * waits first, sparing an accept that would only say EAGAIN; a busy
     * one (clients queued: the last accept took one at once) tries first.
     * A hint: threads may race on it. */
    if (apr_atomic_read32(&l->accept_waited)) {
        rv = unix_wait2(l->sock.fd, l->smb.fd, POLLIN, &l->wake, deadline);
        if (rv != APR_SUCCESS)
            return rv;
        waited = 1;
    }
    for (;;) {
        fd = unix_sys.accept(l->sock.fd);
        if (fd >= 0 && UNIX_FRAMED) {
            rv = unix_hello_check(fd, l);
            if (rv == XPIPE_ECANCELED)
                return rv;
            if (rv != APR_SUCCESS)
                continue; /* wrong mode, or silent: dropped */
        }
        if (fd >= 0) {
            apr_atomic_set32(&l->accept_waited, waited);
            return unix_chan_new(out, fd, l->attr, pool);
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue; /* a client that gave up is not our failure */
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return APR_FROM_OS_ERROR(errno);
        /* No local client queued: a network one, if exported. */
        if (l->smb.fd >= 0) {
            rv = unix_smb_accept(out, l, pool);
            if (!APR_STATUS_IS_EAGAIN(rv))
                return rv;
        }
        /* Nobody queued (or another thread took it): wait. */
        rv = unix_wait2(l->sock.fd, l->smb.fd, POLLIN, &l->wake, deadline);
        if (rv != APR_SUCCESS)
            return rv;
        waited = 1;
    }
}

static apr_status_t unix_listener_wake(xpipe__lsn_t *l)
{
    return unix_wake_set(&l->wake, 1);
}

static apr_status_t unix_listener_unwake(xpipe__lsn_t *l)
{
    return unix_wake_set(&l->wake, 0);
}

static apr_status_t unix_listener_close(xpipe__lsn_t *l)
{
    unix_sock_close(&l->sock);
    unix_sock_close(&l->smb);
    unix_wake_close(&l->wake);
    return APR_SUCCESS;
}

/* ------------------------------------------------------------------ */
/* Connect */

/* One connect attempt (lib/ loops). */
static apr_status_t unix_dial(xpipe__chan_t **out, const xpipe__name_t *name,
                              const char *native, const xpipe_attr_t *attr,
                              apr_time_t deadline, apr_pool_t *pool)
{
    struct sockaddr_un sa;
    apr_status_t rv;
    int fd, err;
    socklen_t elen;

    rv = unix_name_dir_check(name, native, 0, pool);
    if (rv != APR_SUCCESS)
        return rv; /* XPIPE_ENOPIPE when the run directory is missing */
    rv = unix_socket_new(&fd, attr);
    if (rv != APR_SUCCESS)
        return rv;
    unix_sockaddr(&sa, native);
    err = unix_sys.connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0
                                                                        : errno;
    if (err == EINPROGRESS) {
        rv = unix_wait(fd, POLLOUT, NULL, deadline);
        elen = sizeof(err);
        if (rv != APR_SUCCESS)
            err = EAGAIN;
        else if (unix_sys.getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
            err = errno;
    }
    if (err == 0 && UNIX_FRAMED) {
        /* An empty socket always takes one byte. */
        char hello =
            attr->mode == XPIPE_MODE_MESSAGE ? UNIX_HELLO_MSG : UNIX_HELLO_BYTE;
        if (unix_sys.send(fd, &hello, 1, MSG_NOSIGNAL) != 1)
            err = errno ? errno : EAGAIN;
    }
    if (err == 0)
        return unix_chan_new(out, fd, attr, pool);
    unix_sys.close(fd);
    switch (err) {
    case ENOENT: /* no socket file */
    case ECONNREFUSED: /* a stale file: nobody listens */ return XPIPE_ENOPIPE;
    case EAGAIN: /* backlog full */
    case EINTR: return XPIPE__EBUSY;
    case EPROTOTYPE: /* the server's socket type is the other mode */
        return xpipe__fail(XPIPE_EMODE, "the server of %s uses the other mode",
                           native);
    case EACCES: /* the socket's or a directory's permissions */
        return xpipe__fail(APR_EACCES, "no permission to connect to %s",
                           native);
    default: return APR_FROM_OS_ERROR(err);
    }
}

/* ------------------------------------------------------------------ */
/* Channel I/O */

/* Status for a failed recv/send errno. */
static apr_status_t unix_io_status(int err)
{
    switch (err) {
    case ECONNRESET: /* peer closed with data unread, or was killed */
        return XPIPE_ERESET;
    case EPIPE: /* peer closed: nothing more can be written */
        return XPIPE_EPIPE;
    case EMSGSIZE: /* larger than the socket can carry whole */
        return XPIPE_EMSGSIZE;
    default: return APR_FROM_OS_ERROR(err);
    }
}

/* One syscall pattern for every transfer: try, and on EAGAIN wait for
 * readiness and try again. flags carries MSG_PEEK|MSG_TRUNC for recv's
 * size probe. */
static apr_status_t unix_xfer(xpipe__chan_t *c, int out, void *buf,
                              apr_size_t *len, int flags, apr_time_t deadline)
{
    ssize_t n;
    apr_status_t rv;

    /* After a short transfer the next try would most likely say EAGAIN:
     * wait first, sparing it (when the guess is wrong, the wait returns
     * at once and costs one poll more). */
    if (c->short_xfer[out] && !(flags & MSG_PEEK)) {
        rv = unix_wait(c->fd, out ? POLLOUT : POLLIN, &c->wake, deadline);
        if (rv != APR_SUCCESS)
            return rv;
    }
    for (;;) {
        if (out)
            n = unix_sys.send(c->fd, buf, *len, flags | MSG_NOSIGNAL);
        else
            n = unix_sys.recv(c->fd, buf, *len, flags);
        if (n > 0) {
            c->short_xfer[out] = (apr_size_t)n < *len;
            *len = (apr_size_t)n;
            return APR_SUCCESS;
        }
        if (n == 0 && !out)
            return APR_EOF;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return unix_io_status(errno);
        rv = unix_wait(c->fd, out ? POLLOUT : POLLIN, &c->wake, deadline);
        if (rv != APR_SUCCESS)
            return rv;
    }
}

static apr_status_t unix_read(xpipe__chan_t *c, void *buf, apr_size_t *len,
                              apr_time_t deadline)
{
    return unix_xfer(c, 0, buf, len, 0, deadline);
}

static apr_status_t unix_write(xpipe__chan_t *c, const void *buf,
                               apr_size_t *len, apr_time_t deadline)
{
    return unix_xfer(c, 1, (void *)buf, len, 0, deadline);
}

/* ------------------------------------------------------------------ */
/* Framed messages: xpipe's (UNIX_FRAMED builds, c->frame 4: big-endian
 * u32 length) and SMB's (c->frame 2: little-endian u16 length) */

static void unix_frame_hdr(const xpipe__chan_t *c, unsigned char *hdr,
                           apr_size_t len)
{
    if (c->frame == 2) {
        hdr[0] = (unsigned char)len;
        hdr[1] = (unsigned char)(len >> 8);
        return;
    }
    hdr[0] = (unsigned char)(len >> 24);
    hdr[1] = (unsigned char)(len >> 16);
    hdr[2] = (unsigned char)(len >> 8);
    hdr[3] = (unsigned char)len;
}

static apr_size_t unix_frame_len(const xpipe__chan_t *c)
{
    const unsigned char *h = c->hdr;

    if (c->frame == 2)
        return (apr_size_t)h[1] << 8 | h[0];
    return (apr_size_t)h[0] << 24 | (apr_size_t)h[1] << 16
           | (apr_size_t)h[2] << 8 | h[3];
}

/* Write what is left of a committed frame, within the deadline. */
static apr_status_t unix_frame_flush(xpipe__chan_t *c, apr_time_t deadline)
{
    apr_status_t rv = APR_SUCCESS;

    while (c->tx_rest && rv == APR_SUCCESS) {
        apr_size_t n = c->tx_len - c->tx_off;
        rv = unix_xfer(c, 1, c->tx_rest + c->tx_off, &n, 0, deadline);
        if (rv == APR_SUCCESS)
            c->tx_off += n;
        if (c->tx_off == c->tx_len) {
            free(c->tx_rest);
            c->tx_rest = NULL;
        }
    }
    return rv;
}

/* Send one frame. Nothing sent when the deadline or an interrupt comes
 * first: the status says so. Once its first byte is out the frame is
 * committed: if the deadline then cuts in, its tail is kept and written
 * ahead of the next message (or at close), and this send succeeds. */
static apr_status_t unix_frame_send(xpipe__chan_t *c, const void *buf,
                                    apr_size_t len, apr_time_t deadline)
{
    unsigned char hdr[4];
    apr_size_t hl = (apr_size_t)c->frame, total = len + hl, sent = 0;
    struct iovec iov[2];
    struct msghdr msg;
    apr_status_t rv;
    ssize_t n;

    rv = unix_frame_flush(c, deadline);
    if (rv != APR_SUCCESS)
        return rv;
    unix_frame_hdr(c, hdr, len);
    while (sent < total) {
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        if (sent < hl) {
            iov[0].iov_base = hdr + sent;
            iov[0].iov_len = hl - sent;
            iov[1].iov_base = (void *)buf;
            iov[1].iov_len = len;
            msg.msg_iovlen = 2;
        }
        else {
            iov[0].iov_base = (char *)buf + (sent - hl);
            iov[0].iov_len = total - sent;
            msg.msg_iovlen = 1;
        }
        n = unix_sys.sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (apr_size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return unix_io_status(errno);
        rv = unix_wait(c->fd, POLLOUT, &c->wake, deadline);
        if (rv == APR_SUCCESS)
            continue;
        if (sent == 0)
            return rv;
        c->tx_len = total - sent;
        c->tx_off = 0;
        c->tx_rest = malloc(c->tx_len);
        if (c->tx_rest == NULL)
            return APR_ENOMEM;
        if (sent < hl) {
            memcpy(c->tx_rest, hdr + sent, hl - sent);
            memcpy(c->tx_rest + hl - sent, buf, len);
        }
        else
            memcpy(c->tx_rest, (const char *)buf + (sent - hl), total - sent);
        return APR_SUCCESS;
    }
    return APR_SUCCESS;
}

/* Receive one frame. The header and any payload read before a deadline
 * are kept, so a later call resumes the same message; a too-small buffer
 * leaves it all in place. An empty SMB message is skipped: an xpipe
 * message has at least one byte. */
static apr_status_t unix_frame_recv(xpipe__chan_t *c, void *buf,
                                    apr_size_t *len, apr_time_t deadline)
{
    apr_size_t hl = (apr_size_t)c->frame, size, n;
    apr_status_t rv;

    for (;;) {
        while (c->hdr_got < hl) {
            n = hl - c->hdr_got;
            rv = unix_xfer(c, 0, c->hdr + c->hdr_got, &n, 0, deadline);
            if (rv != APR_SUCCESS) {
                *len = 0;
                /* End of stream inside a frame: the peer died mid-message. */
                return APR_STATUS_IS_EOF(rv) && c->hdr_got ? XPIPE_ERESET : rv;
            }
            c->hdr_got += n;
        }
        size = unix_frame_len(c);
        if (size > 0 || c->frame != 2)
            break;
        c->hdr_got = 0;
    }
    if (size == 0 || size > XPIPE_MESSAGE_MAX_LIMIT) {
        *len = 0;
        return XPIPE_EMODE; /* not an xpipe frame: a foreign peer */
    }
    if (size > *len) {
        *len = size;
        return XPIPE_EMSGSIZE;
    }
    if (c->rx_got)
        memcpy(buf, c->rx_part, c->rx_got);
    while (c->rx_got < size) {
        n = size - c->rx_got;
        rv = unix_xfer(c, 0, (char *)buf + c->rx_got, &n, 0, deadline);
        if (rv == APR_SUCCESS) {
            c->rx_got += n;
            continue;
        }
        *len = 0;
        if (APR_STATUS_IS_EOF(rv))
            return XPIPE_ERESET;
        if (c->rx_got) { /* keep what arrived for the next call */
            if (c->rx_part == NULL && (c->rx_part = malloc(size)) == NULL)
                return APR_ENOMEM;
            memcpy(c->rx_part, buf, c->rx_got);
        }
        return rv;
    }
    free(c->rx_part);
    c->rx_part = NULL;
    c->rx_got = c->hdr_got = 0;
    *len = size;
    return APR_SUCCESS;
}

static apr_status_t unix_send(xpipe__chan_t *c, const void *buf, apr_size_t len,
                              apr_time_t deadline)
{
    if (c->frame == 2 && len > XPIPE__NPA_MESSAGE_MAX)
        return xpipe__fail(XPIPE_EMSGSIZE,
                           "%lu bytes: an SMB client's "
                           "messages hold at most %d",
                           (unsigned long)len, XPIPE__NPA_MESSAGE_MAX);
    if (c->frame)
        return unix_frame_send(c, buf, len, deadline);
    /* SOCK_SEQPACKET sends are atomic: all of the message or an error. */
    return unix_xfer(c, 1, (void *)buf, &len, 0, deadline);
}

/* Linux: recv() with MSG_TRUNC returns the real length of a message it
 * cut. Elsewhere the buffers below hold one byte more than the largest
 * message, which tells a cut the same. */
#ifdef __linux__
#define UNIX_RECV_TRUNC MSG_TRUNC
#else
#define UNIX_RECV_TRUNC 0
#endif

/* SOCK_SEQPACKET receive in one plain recv() (measurably cheaper than
 * recvmsg here). A buffer larger than the max message size takes the
 * message directly; a smaller one gets it through the channel's spill
 * buffer, so a buffer too small loses nothing: the message is kept whole
 * for the next call (XPIPE_EMSGSIZE with its size). Only a message longer
 * than this channel's max message size (from a peer that ignored its own)
 * can be cut: that too is XPIPE_EMSGSIZE, and the message is gone. */
static apr_status_t unix_seq_recv(xpipe__chan_t *c, void *buf, apr_size_t *len,
                                  apr_time_t deadline)
{
    int direct = *len > c->max_message;
    apr_size_t room = direct ? *len : c->max_message + 1, got;
    apr_status_t rv;
    ssize_t n;

    if (xpipe__held_take(&c->held, buf, len, &rv))
        return rv;
    if (!direct && c->spill == NULL
        && (c->spill = malloc(c->max_message + 1)) == NULL)
        return APR_ENOMEM;
    for (;;) {
        n = unix_sys.recv(c->fd, direct ? buf : c->spill, room,
                          UNIX_RECV_TRUNC);
        if (n > 0) {
            got = (apr_size_t)n;
            if (got > c->max_message) { /* cut: longer than allowed */
                *len = got;
                return XPIPE_EMSGSIZE;
            }
            if (!direct && got <= *len)
                memcpy(buf, c->spill, got);
            else if (!direct) {
                /* Keep it whole: the spill buffer becomes the held one. */
                c->held.data = c->spill;
                c->held.len = got;
                c->spill = NULL;
                *len = got;
                return XPIPE_EMSGSIZE;
            }
            *len = got;
            return APR_SUCCESS;
        }
        if (n == 0)
            return APR_EOF;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return unix_io_status(errno);
        rv = unix_wait(c->fd, POLLIN, &c->wake, deadline);
        if (rv != APR_SUCCESS)
            return rv;
    }
}

static apr_status_t unix_recv(xpipe__chan_t *c, void *buf, apr_size_t *len,
                              apr_time_t deadline)
{
    if (c->frame)
        return unix_frame_recv(c, buf, len, deadline);
    return unix_seq_recv(c, buf, len, deadline);
}

static apr_status_t unix_wake(xpipe__chan_t *c)
{
    return unix_wake_set(&c->wake, 1);
}

static apr_status_t unix_unwake(xpipe__chan_t *c)
{
    return unix_wake_set(&c->wake, 0);
}

static apr_status_t unix_shutdown(xpipe__chan_t *c, xpipe_shutdown_e how)
{
    static const int hows[] = { SHUT_RD, SHUT_WR, SHUT_RDWR };

    if (unix_sys.shutdown(c->fd, hows[how]) < 0)
        return APR_FROM_OS_ERROR(errno);
    return APR_SUCCESS;
}

static apr_status_t unix_close(xpipe__chan_t *c)
{
    /* A Unix socket's data is already in the peer's receive queue, so a
     * plain close delivers everything written and never blocks. */
    if (c->tx_rest) /* a committed frame's tail: one try, never a wait */
        unix_frame_flush(c, 0);
    free(c->tx_rest);
    free(c->rx_part);
    free(c->spill);
    free(c->held.data);
    unix_close_fd(&c->fd);
    unix_wake_close(&c->wake);
    return APR_SUCCESS;
}

static apr_status_t unix_peer_get(xpipe__chan_t *c, xpipe_peer_t *peer,
                                  apr_pool_t *pool)
{
    (void)pool;
    if (c->smb) {
        /* A network client: who the SMB session says it is, not smbd. */
        const xpipe__npa_info_t *i = c->smb;
        peer->have = XPIPE_PEER_REMOTE;
        peer->account = i->account;
        peer->domain = i->domain;
        peer->host = i->client_name;
        peer->address = i->client_addr;
        peer->port = i->client_port;
        if (i->sid) {
            peer->have |= XPIPE_PEER_SID;
            peer->sid = i->sid;
        }
        if (i->have_unix) {
            peer->have |= XPIPE_PEER_UID | XPIPE_PEER_GID;
            peer->uid = i->uid;
            peer->gid = i->gid;
        }
        return APR_SUCCESS;
    }
#if defined(SO_PEERCRED)
    struct ucred cred;
    socklen_t len = sizeof(cred);

    if (unix_sys.getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return APR_FROM_OS_ERROR(errno);
    peer->pid = (long)cred.pid;
    peer->uid = (long)cred.uid;
    peer->gid = (long)cred.gid;
    peer->have = XPIPE_PEER_PID | XPIPE_PEER_UID | XPIPE_PEER_GID;
    return APR_SUCCESS;
#elif defined(HAVE_GETPEEREID)
    uid_t uid;
    gid_t gid;

    if (getpeereid(c->fd, &uid, &gid) < 0)
        return APR_FROM_OS_ERROR(errno);
    peer->uid = (long)uid;
    peer->gid = (long)gid;
    peer->have = XPIPE_PEER_UID | XPIPE_PEER_GID;
    return APR_SUCCESS;
#else
    (void)c;
    (void)peer;
    return APR_ENOTIMPL;
#endif
}

static apr_status_t unix_os_handle_get(xpipe__chan_t *c, xpipe_os_handle_t *h)
{
    h->fd = c->fd;
    return APR_SUCCESS;
}

static apr_status_t unix_self_get(xpipe_peer_t *self, apr_pool_t *pool)
{
    (void)pool;
    self->pid = (long)getpid();
    self->uid = (long)geteuid();
    self->gid = (long)getegid();
    self->have = XPIPE_PEER_PID | XPIPE_PEER_UID | XPIPE_PEER_GID;
    return APR_SUCCESS;
}

static apr_status_t unix_sddl_check(const char *sddl)
{
    (void)sddl; /* SDDL is for Windows; POSIX uses modes and groups */
    return APR_SUCCESS;
}

const xpipe__backend_t xpipe__unix_backend = {
    .version = XPIPE__BACKEND_VERSION,
    .name = UNIX_NAME,
    .resolve = unix_resolve,
    .listen = unix_listen,
    .accept = unix_accept,
    .listener_wake = unix_listener_wake,
    .listener_unwake = unix_listener_unwake,
    .listener_close = unix_listener_close,
    .dial = unix_dial,
    .busy_wait = NULL, /* a full backlog cannot be waited on: backoff */
    .read = unix_read,
    .write = unix_write,
    .send = unix_send,
    .recv = unix_recv,
    .wake = unix_wake,
    .unwake = unix_unwake,
    .shutdown = unix_shutdown,
    .close = unix_close,
    .peer_get = unix_peer_get,
    .os_handle_get = unix_os_handle_get,
    .self_get = unix_self_get,
    .sddl_check = unix_sddl_check,
};
