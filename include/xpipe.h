/* SPDX-License-Identifier: Apache-2.0 */
/* xpipe.h — the public API of xpipe, a portable IPC channel library.
 * The header to include: opaque types, xpipe_* calls, XPIPE_* status
 * codes, and (from the generated xpipe_version.h) the version. It
 * includes APR headers only, never an OS header.
 */
#ifndef XPIPE_H
#define XPIPE_H

#include "xpipe_version.h"

#include <apr.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_thread_proc.h>
#include <apr_time.h>

#ifdef __cplusplus
extern "C" {
#endif

/* XPIPE_API marks the library's exported functions; nothing else is
 * exported. Windows: dllexport while building the DLL, dllimport for its
 * users, nothing with XPIPE_STATIC (linking the static library: its
 * pkg-config file and CMake target define it). Elsewhere: default
 * visibility, the library being built with -fvisibility=hidden. */
#if defined(_WIN32) || defined(__CYGWIN__)
#if defined(XPIPE_BUILDING)
#define XPIPE_API __declspec(dllexport)
#elif defined(XPIPE_STATIC)
#define XPIPE_API
#else
#define XPIPE_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#define XPIPE_API __attribute__((visibility("default")))
#else
#define XPIPE_API
#endif

/**
 * @file xpipe.h
 * @brief The whole public API of xpipe: types, calls and status codes.
 */

/**
 * @mainpage xpipe
 *
 * One channel API over Win32 named pipes (`\\.\pipe\name`,
 * `\\host\pipe\name`) and Unix domain sockets.
 *
 * Conventions
 * - Every call returns an apr_status_t; APR_SUCCESS (0) is success. Test
 *   statuses with the XPIPE_STATUS_IS_* and APR_STATUS_IS_* macros.
 * - Times are apr_interval_time_t microseconds: -1 waits forever, 0 does
 *   not block, anything else is a deadline relative to the call.
 * - Every constructor takes an apr_pool_t. Destroying that pool closes the
 *   object. A NULL pool means "the object owns a private pool", freed by
 *   its close call; the object must not be used after that close.
 * - With a caller's pool, close is idempotent and every call after close
 *   returns XPIPE_ECLOSED.
 *
 * Thread rules
 * - One thread may read (xpipe_read/xpipe_recv) while another writes
 *   (xpipe_write/xpipe_send) on the same channel. Two concurrent readers,
 *   or two concurrent writers, on one channel are not supported.
 * - xpipe_interrupt, xpipe_close, xpipe_listener_interrupt and
 *   xpipe_listener_close may be called from any thread at any time.
 * - Several threads may call xpipe_accept on one listener at once.
 * - xpipe_initialize must have been called once (or apr_initialize) before
 *   anything else.
 */

/* ------------------------------------------------------------------ */
/** @name Status codes
 * xpipe's own codes live at XPIPE_START_ERROR, above APR_OS_START_USERERR.
 * Calls also return plain APR codes: APR_EINVAL (bad argument), APR_EOF
 * (end of stream), APR_TIMEUP (deadline passed), APR_ENOTIMPL (the backend
 * cannot do this), APR_ENOMEM, APR_EACCES (permission denied), and native
 * errors folded with APR_FROM_OS_ERROR when no xpipe code fits.
 * @{ */

/** First status code used by xpipe. */
#define XPIPE_START_ERROR (APR_OS_START_USERERR + 7300)

/**
 * The one list of xpipe's status codes: X(NAME, N, TEXT) for each code
 * XPIPE_NAME = XPIPE_START_ERROR + N, in code order, with its text (what
 * xpipe_strerror() returns, and the code's meaning). It makes the enum
 * below and the names and texts of xpipe_status_name() and
 * xpipe_strerror(); every code also has an XPIPE_STATUS_IS_NAME(s) macro,
 * which the library's build checks against this list. A program may
 * expand it too (to map xpipe's codes to its own, say). Codes are never
 * renumbered; a new one takes the next N.
 */
#define XPIPE_STATUS_MAP(X)                                                    \
    X(ENOPIPE, 1, "no such pipe: nothing is listening on that name")           \
    X(EINUSE, 2, "pipe name in use: another server is listening on it")        \
    X(ECLOSED, 3, "the channel or listener has been closed")                   \
    X(ECANCELED, 4,                                                            \
      "the call was interrupted by xpipe_interrupt or "                        \
      "xpipe_listener_interrupt")                                              \
    X(EMSGSIZE, 5, "message larger than the buffer or the maximum size")       \
    X(ERESET, 6, "connection reset: the peer vanished abortively")             \
    X(EPIPE, 7, "the peer has closed its end; nothing more can be written")    \
    X(EBADNAME, 8, "invalid pipe name")                                        \
    X(ENAMETOOLONG, 9,                                                         \
      "pipe name too long for this OS (Unix socket paths: 107 bytes on "       \
      "Linux, 103 on BSD/macOS; Windows pipe names: 256 characters)")          \
    X(EREMOTE, 10,                                                             \
      "remote pipe names (\\\\host\\pipe\\name) are not supported by this "    \
      "backend")                                                               \
    X(EMODE, 11,                                                               \
      "operation or peer does not match the channel's mode (byte stream vs "   \
      "message)")                                                              \
    X(ERUNDIR, 12,                                                             \
      "the run directory is unsafe: wrong owner, mode, or a symbolic link")    \
    X(ENOTSOCK, 13,                                                            \
      "the path exists and is not a socket; it was left untouched")            \
    X(EPEER, 14, "the peer's identity was refused")                            \
    X(EBADHANDLE, 15,                                                          \
      "not a handle xpipe can adopt or pass: the wrong kind, closed, or "      \
      "more than XPIPE_HANDLES_MAX")                                           \
    X(EPROTO, 16,                                                              \
      "the peer broke the protocol (the shared-memory fast path's, or "        \
      "SMB2's while opening a remote pipe); the channel is unusable")          \
    X(EAUTH, 17,                                                               \
      "the remote pipe's server refused our credentials or the security "      \
      "asked for (xpipe_error_detail gives the GSSAPI or NT status text)")

#define XPIPE__STATUS_ENUM(name, n, text) XPIPE_##name = XPIPE_START_ERROR + n,

/** Status codes of xpipe, made from XPIPE_STATUS_MAP: XPIPE_ENOPIPE,
 *  XPIPE_EINUSE, XPIPE_ECLOSED, XPIPE_ECANCELED, XPIPE_EMSGSIZE,
 *  XPIPE_ERESET, XPIPE_EPIPE, XPIPE_EBADNAME, XPIPE_ENAMETOOLONG,
 *  XPIPE_EREMOTE, XPIPE_EMODE, XPIPE_ERUNDIR, XPIPE_ENOTSOCK, XPIPE_EPEER,
 *  XPIPE_EBADHANDLE, XPIPE_EPROTO, XPIPE_EAUTH. Each one's meaning is its
 *  text in the list (xpipe_strerror()); xpipe_status_name() gives its
 *  name. */
enum xpipe_status_e {
    XPIPE_STATUS_MAP(XPIPE__STATUS_ENUM)
    /** One past the last code (not a status). */
    XPIPE_STATUS_END
};

/** True when status s is XPIPE_ENOPIPE. */
#define XPIPE_STATUS_IS_ENOPIPE(s) ((s) == XPIPE_ENOPIPE)
/** True when status s is XPIPE_EINUSE. */
#define XPIPE_STATUS_IS_EINUSE(s) ((s) == XPIPE_EINUSE)
/** True when status s is XPIPE_ECLOSED. */
#define XPIPE_STATUS_IS_ECLOSED(s) ((s) == XPIPE_ECLOSED)
/** True when status s is XPIPE_ECANCELED. */
#define XPIPE_STATUS_IS_ECANCELED(s) ((s) == XPIPE_ECANCELED)
/** True when status s is XPIPE_EMSGSIZE. */
#define XPIPE_STATUS_IS_EMSGSIZE(s) ((s) == XPIPE_EMSGSIZE)
/** True when status s is XPIPE_ERESET. */
#define XPIPE_STATUS_IS_ERESET(s) ((s) == XPIPE_ERESET)
/** True when status s is XPIPE_EPIPE. */
#define XPIPE_STATUS_IS_EPIPE(s) ((s) == XPIPE_EPIPE)
/** True when status s is XPIPE_EBADNAME. */
#define XPIPE_STATUS_IS_EBADNAME(s) ((s) == XPIPE_EBADNAME)
/** True when status s is XPIPE_ENAMETOOLONG. */
#define XPIPE_STATUS_IS_ENAMETOOLONG(s) ((s) == XPIPE_ENAMETOOLONG)
/** True when status s is XPIPE_EREMOTE. */
#define XPIPE_STATUS_IS_EREMOTE(s) ((s) == XPIPE_EREMOTE)
/** True when status s is XPIPE_EMODE. */
#define XPIPE_STATUS_IS_EMODE(s) ((s) == XPIPE_EMODE)
/** True when status s is XPIPE_ERUNDIR. */
#define XPIPE_STATUS_IS_ERUNDIR(s) ((s) == XPIPE_ERUNDIR)
/** True when status s is XPIPE_ENOTSOCK. */
#define XPIPE_STATUS_IS_ENOTSOCK(s) ((s) == XPIPE_ENOTSOCK)
/** True when status s is XPIPE_EPEER. */
#define XPIPE_STATUS_IS_EPEER(s) ((s) == XPIPE_EPEER)
/** True when status s is XPIPE_EBADHANDLE. */
#define XPIPE_STATUS_IS_EBADHANDLE(s) ((s) == XPIPE_EBADHANDLE)
/** True when status s is XPIPE_EPROTO. */
#define XPIPE_STATUS_IS_EPROTO(s) ((s) == XPIPE_EPROTO)
/** True when status s is XPIPE_EAUTH. */
#define XPIPE_STATUS_IS_EAUTH(s) ((s) == XPIPE_EAUTH)
/** True for any code of xpipe's own range. */
#define XPIPE_STATUS_IS_XPIPE(s)                                               \
    ((s) > XPIPE_START_ERROR && (s) < XPIPE_STATUS_END)
/** True when the peer is gone: end of stream, reset, or closed pipe. */
#define XPIPE_STATUS_IS_PEER_GONE(s)                                           \
    (APR_STATUS_IS_EOF(s) || (s) == XPIPE_ERESET || (s) == XPIPE_EPIPE)

/**
 * Describe a status in words.
 * @param status any apr_status_t (xpipe's own or APR's or the OS's).
 * @param buf    where to write the text (always NUL-terminated).
 * @param bufsize size of buf in bytes.
 * @return buf.
 */
XPIPE_API char *xpipe_strerror(apr_status_t status, char *buf,
                               apr_size_t bufsize);

/**
 * What xpipe knew about the last failure in the calling thread: the path,
 * the limit or the peer involved, e.g. "run directory /tmp/xpipe-1000 has
 * mode 0755; it must be 0700". Empty when the last failure said nothing
 * more than its status. Every xpipe call that returns an apr_status_t
 * clears it first, so it never tells an earlier call's reason;
 * xpipe_strerror, xpipe_status_name and the getters leave it alone.
 * @return a NUL-terminated string, never NULL.
 */
XPIPE_API const char *xpipe_error_detail(void);

/**
 * The symbolic name of a status ("XPIPE_ENOPIPE", "APR_EOF", ...).
 * @param status any apr_status_t.
 * @return a static string; "" for a code without a known name.
 */
XPIPE_API const char *xpipe_status_name(apr_status_t status);
/** @} */

/* ------------------------------------------------------------------ */
/** @name Library lifetime
 * @{ */

/**
 * Initialise xpipe (and APR). Reference-counted: each call must be paired
 * with xpipe_terminate. Programs that already call apr_initialize may call
 * this too, or skip it.
 * @return APR_SUCCESS, or the status apr_initialize failed with.
 */
XPIPE_API apr_status_t xpipe_initialize(void);

/**
 * Release what xpipe_initialize took, and what the calling thread holds of
 * xpipe's (the object its blocking calls are woken through: an eventfd or
 * a pipe on POSIX, two events on Windows; made again if the thread calls
 * in again). The last call terminates APR. A thread's own objects go when
 * that thread ends, so after the last terminate of a program whose other
 * xpipe threads have ended, no descriptor, handle, thread or memory of
 * xpipe's remains, and initialise/terminate may be repeated (a plugin
 * loaded and unloaded with dlopen/dlclose: end its threads that used
 * xpipe before it is unloaded). Never call it while another call of
 * xpipe's is in flight.
 */
XPIPE_API void xpipe_terminate(void);

/**
 * The version of the library in use, which may differ from the
 * XPIPE_VERSION_* macros the caller was compiled with.
 * @return XPIPE_VERSION_HEX of the library: 0xMMmmpp.
 */
XPIPE_API unsigned int xpipe_version(void);

/**
 * The version of the library in use, as text.
 * @return XPIPE_VERSION_STRING of the library, e.g. "0.3.0".
 */
XPIPE_API const char *xpipe_version_string(void);

/**
 * Which backend is compiled in.
 * @return "unix", "unix-framed" (POSIX with framed messages) or "win32".
 */
XPIPE_API const char *xpipe_backend_name(void);
/** @} */

/* ------------------------------------------------------------------ */
/** @name Attributes
 * Each setter changes one attribute and nothing else. Setters validate at
 * once: an out-of-range value returns APR_EINVAL and leaves the attribute
 * unchanged. A NULL attr in listen/connect means all defaults. Every
 * attribute has its getter too (xpipe_attr_*_get): a set is opaque, and a
 * program that is handed one (a library wrapping xpipe, a server printing
 * its configuration, a test) reads it back through them; a NULL attr
 * reads as the defaults.
 * @{ */

/** An attribute set: how to listen or connect. Opaque; see the setters. */
typedef struct xpipe_attr_t xpipe_attr_t;

/** Channel mode. Both ends of a channel must use the same mode. */
typedef enum xpipe_mode_e {
    XPIPE_MODE_BYTE = 0,   /**< byte stream (default) */
    XPIPE_MODE_MESSAGE = 1 /**< boundaries kept: one send = one recv */
} xpipe_mode_e;

/** Largest value accepted by xpipe_attr_max_message_set. */
#define XPIPE_MESSAGE_MAX_LIMIT (256 * 1024)
/** Default maximum message size. */
#define XPIPE_MESSAGE_MAX_DEFAULT (64 * 1024)
/** Largest number of pending instances / backlog (Windows can wait on
 *  at most 64 objects at once: 63 instances and the wake event). */
#define XPIPE_INSTANCES_LIMIT 63
/** Default number of pending instances / backlog. */
#define XPIPE_INSTANCES_DEFAULT 8
/** Largest buffer size accepted by xpipe_attr_buffer_size_set. */
#define XPIPE_BUFFER_LIMIT (16 * 1024 * 1024)

/**
 * Create an attribute set with every default: byte mode, 8 pending
 * instances, 64 KiB max message, OS-default buffers, owner-only access,
 * remote clients refused, connect does not wait for a missing server.
 * @param attr  receives the new attribute set.
 * @param pool  pool to allocate from (NULL is not accepted here).
 * @return APR_SUCCESS, APR_EINVAL for a NULL argument.
 */
XPIPE_API apr_status_t xpipe_attr_create(xpipe_attr_t **attr, apr_pool_t *pool);

/**
 * Set the channel mode.
 * @param attr the attribute set.
 * @param mode XPIPE_MODE_BYTE or XPIPE_MODE_MESSAGE.
 * @return APR_SUCCESS, APR_EINVAL for NULL or an unknown mode.
 */
XPIPE_API apr_status_t xpipe_attr_mode_set(xpipe_attr_t *attr,
                                           xpipe_mode_e mode);

/**
 * Listener: how many clients may wait to be accepted (POSIX backlog;
 * Windows pending pipe instances), 1..XPIPE_INSTANCES_LIMIT.
 * @param attr the attribute set.
 * @param instances how many; default XPIPE_INSTANCES_DEFAULT.
 * @return APR_SUCCESS, APR_EINVAL when out of range or attr is NULL.
 */
XPIPE_API apr_status_t xpipe_attr_instances_set(xpipe_attr_t *attr,
                                                int instances);

/**
 * Message mode: the largest message xpipe_send accepts,
 * 1..XPIPE_MESSAGE_MAX_LIMIT bytes.
 * @param attr the attribute set.
 * @param max the size in bytes; default XPIPE_MESSAGE_MAX_DEFAULT.
 * @return APR_SUCCESS, APR_EINVAL when out of range or attr is NULL.
 */
XPIPE_API apr_status_t xpipe_attr_max_message_set(xpipe_attr_t *attr,
                                                  apr_size_t max);

/**
 * OS buffer sizes (SO_RCVBUF/SO_SNDBUF; the pipe's in/out buffer sizes).
 * 0 keeps the OS default. Each at most XPIPE_BUFFER_LIMIT.
 * @param attr the attribute set.
 * @param in_size receive buffer in bytes, or 0.
 * @param out_size send buffer in bytes, or 0.
 * @return APR_SUCCESS, APR_EINVAL when out of range or attr is NULL.
 */
XPIPE_API apr_status_t xpipe_attr_buffer_size_set(xpipe_attr_t *attr,
                                                  apr_size_t in_size,
                                                  apr_size_t out_size);

/**
 * POSIX: the socket file's permission bits (0 to 0777), applied exactly
 * (the umask cannot widen them). Default 0600, owner only. Only bits for
 * read/write matter to a Unix socket.
 * @param attr the attribute set.
 * @param mode permission bits, e.g. 0660.
 * @return APR_SUCCESS, APR_EINVAL when out of range or attr is NULL.
 */
XPIPE_API apr_status_t xpipe_attr_permissions_set(xpipe_attr_t *attr, int mode);

/**
 * Windows: the pipe's security descriptor as an SDDL string, applied to
 * every instance. NULL restores the default (creating user and SYSTEM).
 * The string is copied. The Win32 backend checks it here, so a string
 * that does not parse fails now, not at listen. The POSIX backend ignores
 * it (use permissions and group there).
 * @param attr the attribute set.
 * @param sddl the descriptor, e.g. "D:P(A;;GA;;;SY)(A;;GRGW;;;WD)", or NULL.
 * @return APR_SUCCESS, APR_EINVAL for a NULL attr, an empty string or
 *         (Windows) an SDDL string that does not parse.
 */
XPIPE_API apr_status_t xpipe_attr_sddl_set(xpipe_attr_t *attr,
                                           const char *sddl);

/**
 * Windows: accept clients from other machines (`\\host\pipe\name`).
 * Off by default (PIPE_REJECT_REMOTE_CLIENTS). For a portable switch that
 * also works on POSIX (through Samba), use xpipe_attr_smb_export_set.
 * @param attr the attribute set.
 * @param allow nonzero to accept remote clients.
 * @return APR_SUCCESS, APR_EINVAL for a NULL attr.
 */
XPIPE_API apr_status_t xpipe_attr_remote_set(xpipe_attr_t *attr, int allow);

/**
 * Connect: when nothing listens on the name yet, keep retrying until the
 * deadline instead of failing at once with XPIPE_ENOPIPE.
 * @param attr the attribute set.
 * @param wait nonzero to wait.
 * @return APR_SUCCESS, APR_EINVAL for a NULL attr.
 */
XPIPE_API apr_status_t xpipe_attr_wait_for_server_set(xpipe_attr_t *attr,
                                                      int wait);

/**
 * POSIX: give the socket file this group (chown), so that with
 * permissions such as 0660 the group's members may connect. -1 (the
 * default) leaves the creator's group. The Win32 backend ignores it (use
 * an SDDL string there).
 * @param attr the attribute set.
 * @param gid the numeric group id, or -1.
 * @return APR_SUCCESS, APR_EINVAL for a NULL attr or a gid below -1.
 */
XPIPE_API apr_status_t xpipe_attr_group_set(xpipe_attr_t *attr, long gid);

/**
 * Whom the other end must run as. On a listener, a client that does not
 * qualify is disconnected before anything it sent is read, and accept
 * goes on waiting for the next one. On a client, connect fails with
 * XPIPE_EPEER, before anything is sent, when the server does not qualify.
 * @param attr the attribute set.
 * @param who NULL: anyone the OS lets through (default);
 *            "self": the same user as this process (uid on POSIX, user SID
 *            on Windows); a decimal uid such as "1000" (POSIX); a SID
 *            string such as "S-1-5-18" (Windows). Copied.
 * @return APR_SUCCESS, APR_EINVAL for a NULL attr or a string of none of
 *         these forms.
 */
XPIPE_API apr_status_t xpipe_attr_peer_require_set(xpipe_attr_t *attr,
                                                   const char *who);

/**
 * Network pipes: make the listener reachable from other machines as
 * `\\host\pipe\name`. On Windows this is the OS's own SMB server: the
 * pipe simply accepts remote clients (as xpipe_attr_remote_set). On POSIX
 * a local Samba serves the name: the listener also binds a socket named
 * after the pipe (lower-cased, as Samba expects) in Samba's np directory,
 * and every connection smbd forwards there is accepted after Samba's
 * handshake, with the SMB client's identity in its peer record
 * (XPIPE_PEER_REMOTE). Byte mode is a plain stream; in message mode an
 * SMB channel carries at most XPIPE_SMB_MESSAGE_MAX bytes per message.
 * A forwarded connection whose handshake is malformed is logged (see
 * xpipe_attr_log_set) and dropped; accept goes on waiting.
 * Samba's np directory is xpipe_attr_smb_np_dir_set's.
 * @param attr   the attribute set.
 * @param on     nonzero to export.
 * @return APR_SUCCESS; APR_EINVAL for a NULL attr. xpipe_listen then
 *         fails with XPIPE_ENOPIPE when the np directory is missing,
 *         APR_EACCES when this process cannot create a socket in it
 *         (xpipe_error_detail() says which).
 */
XPIPE_API apr_status_t xpipe_attr_smb_export_set(xpipe_attr_t *attr, int on);

/**
 * POSIX: the np directory of the Samba that exports listeners
 * (xpipe_attr_smb_export_set). Ignored on Windows.
 * @param attr   the attribute set.
 * @param np_dir an absolute path; NULL (the default) for the one named
 *               by "ncalrpc dir" in Samba's smb.conf (plus "/np"), else
 *               Samba's built-in default. Copied.
 * @return APR_SUCCESS; APR_EINVAL for a NULL attr or an empty or relative
 *         np_dir.
 */
XPIPE_API apr_status_t xpipe_attr_smb_np_dir_set(xpipe_attr_t *attr,
                                                 const char *np_dir);

/** Largest message an SMB client can exchange in message mode: Samba
 *  frames each one with a 16-bit length. */
#define XPIPE_SMB_MESSAGE_MAX 65535

/**
 * Remote pipes opened from POSIX (`\\host\pipe\name` through xpipe's
 * own SMB2/3 client): the credentials to authenticate with. Without them
 * the default GSSAPI credential serves: a Kerberos ticket in the ccache,
 * or the file named by $NTLM_USER_FILE (lines `DOMAIN:user:password`)
 * for NTLM. With them, NTLMv2 through SPNEGO (the gss-ntlmssp mechanism).
 * The strings are copied; the password's copy is wiped when the attribute
 * set's pool is cleared or destroyed, and when a connection no longer
 * needs it; it is never logged. Ignored on Windows (the OS's own
 * credentials serve there).
 * @param attr     the attribute set.
 * @param user     the account name, or NULL to clear all three.
 * @param domain   its domain or workgroup, or NULL.
 * @param password its password (may be empty), or NULL.
 * @return APR_SUCCESS; APR_EINVAL for a NULL attr, an empty user, or a
 *         domain or password without a user.
 */
XPIPE_API apr_status_t xpipe_attr_smb_credentials_set(xpipe_attr_t *attr,
                                                      const char *user,
                                                      const char *domain,
                                                      const char *password);

/**
 * Remote pipes from POSIX: the SMB server's TCP port (445 by default),
 * for test servers and non-standard ones. Ignored on Windows.
 * @param attr the attribute set.
 * @param port 1..65535, or 0 for 445.
 * @return APR_SUCCESS, APR_EINVAL.
 */
XPIPE_API apr_status_t xpipe_attr_smb_port_set(xpipe_attr_t *attr,
                                               unsigned int port);

/**
 * Remote pipes from POSIX: the SMB dialects to offer, as 0x0202, 0x0210,
 * 0x0300, 0x0302, 0x0311. The default is all of them: 3.1.1 has preauth
 * integrity, 3.0 and 3.0.2 validate the negotiation, and every dialect
 * is signed. A minimum of 0x0300 refuses servers without encryption.
 * @param attr the attribute set.
 * @param min  the lowest dialect to accept.
 * @param max  the highest dialect to offer.
 * @return APR_SUCCESS; APR_EINVAL unless min <= max are both among those.
 */
XPIPE_API apr_status_t xpipe_attr_smb_dialects_set(xpipe_attr_t *attr,
                                                   unsigned int min,
                                                   unsigned int max);

/**
 * Remote pipes from POSIX: encrypt every message (AES-128/256, GCM or
 * CCM, as negotiated) even where the server does not require it. A
 * server that requires it gets it without this. A server that cannot
 * encrypt (SMB 2.x) is then refused with XPIPE_EAUTH.
 * @param attr the attribute set.
 * @param on   nonzero to require encryption.
 * @return APR_SUCCESS, APR_EINVAL.
 */
XPIPE_API apr_status_t xpipe_attr_smb_encrypt_set(xpipe_attr_t *attr, int on);

/**
 * Remote pipes from POSIX: accept a guest or anonymous session. By
 * default a server that makes us a guest (Samba's "map to guest = bad
 * user" for an unknown user) is refused with XPIPE_EAUTH: such a session
 * is neither authenticated nor signed.
 * @param attr  the attribute set.
 * @param allow nonzero to accept such sessions.
 * @return APR_SUCCESS, APR_EINVAL.
 */
XPIPE_API apr_status_t xpipe_attr_smb_guest_set(xpipe_attr_t *attr, int allow);

/** Default of xpipe_attr_wake_slice_set: 2 ms. */
#define XPIPE_WAKE_SLICE_DEFAULT 2000
/** Largest slice xpipe_attr_wake_slice_set accepts: 1 s. */
#define XPIPE_WAKE_SLICE_LIMIT 1000000

/**
 * POSIX: the blocking slice. A blocked send, message receive or accept,
 * and a byte-mode receive whose data comes late from a peer on another
 * CPU, first sleeps inside the system call itself for up to this long, and only then waits in poll() on the socket
 * and a wake descriptor for the rest of its timeout. In the slice a call
 * costs what the raw call costs (one system call, one wake-up); the price
 * is that xpipe_interrupt and xpipe_listener_interrupt reach a call that
 * is in its slice only when the slice ends: at most the slice rounded up
 * to whole clock ticks, plus one tick (Linux at HZ=250: 8 ms for the
 * default; measured: median 3 ms, worst 7 ms). A call enters a slice
 * only when no interrupt is pending and its deadline is further away than the slice, and a channel
 * or listener starts using slices only once one of its calls has had to
 * wait (so short-lived ones never pay for the switch). xpipe_close is
 * never delayed: it shuts the socket down, which wakes a call in its
 * slice at once. 0 turns slices off: every wait is in poll() and
 * interrupts are immediate, for about one system call more per blocking
 * call. Windows ignores it (its waits are always interruptible).
 * Inherited by the channels a listener accepts.
 * @param attr the attribute set.
 * @param slice microseconds, 0..XPIPE_WAKE_SLICE_LIMIT; default
 *              XPIPE_WAKE_SLICE_DEFAULT.
 * @return APR_SUCCESS, APR_EINVAL when out of range or attr is NULL.
 */
XPIPE_API apr_status_t xpipe_attr_wake_slice_set(xpipe_attr_t *attr,
                                                 apr_interval_time_t slice);

/**
 * Let the channel carry OS handles with its messages
 * (xpipe_send_handles, xpipe_recv_handles). Both ends must set it: on
 * Windows each message of such a channel carries a small header (the
 * handles' values in the receiving process), so it speaks to xpipe
 * peers with the attribute only. On POSIX handles travel beside the
 * data (SCM_RIGHTS) and a peer without it simply never receives any
 * (the OS closes them). Message mode only. Only for a peer you trust:
 * on Windows the sender duplicates handles into this process.
 * @param attr the attribute set.
 * @param on   nonzero to allow handles; default 0.
 * @return APR_SUCCESS, APR_EINVAL for a NULL attr.
 */
XPIPE_API apr_status_t xpipe_attr_handles_set(xpipe_attr_t *attr, int on);

/** Default ring of xpipe_attr_fast_path_set: 4 MiB each way. */
#define XPIPE_FAST_RING_DEFAULT (4 * 1024 * 1024)
/** Smallest ring: it holds the largest message with its length. */
#define XPIPE_FAST_RING_MIN (512 * 1024)
/** Largest ring. */
#define XPIPE_FAST_RING_MAX (64 * 1024 * 1024)

/**
 * Ask for the shared-memory fast path: after the connection's usual
 * checks, the two ends of a local channel agree on a shared mapping with
 * one ring per direction, and data goes through it instead of the
 * socket (no system call while neither end has to wait). Every call
 * keeps its contract: modes, message boundaries, XPIPE_EMSGSIZE keeping
 * the message, deadlines, interrupt and close from any thread, EOF after
 * all data, XPIPE_EPIPE when the peer is gone.
 *
 * Both ends decide: a client asks only when this is set on it, and a
 * server takes only when it is set on the listener; otherwise, or when
 * either end cannot (another OS, a peer that is not xpipe, memory that
 * fails the checks), the channel keeps the socket or pipe. Linux (a
 * sealed memfd, futex waits) and Windows (an unnamed section and events,
 * local pipe names only, both ends run by the same user: the server also
 * listens on the name plus ".xpipe-fast-b" or "-m", which the client
 * tries first); other systems keep the socket. Channels with
 * xpipe_attr_handles_set, pairs, spawned and adopted channels keep it
 * too. A peer that breaks the protocol (scribbles the shared indices or
 * lengths) gets the channel XPIPE_EPROTO, never a crash.
 *
 * What changes: a peer killed (rather than closed) is noticed by a call
 * that waits within 50 ms (Linux; at once on Windows, which waits on the
 * peer's process too); a write that needs no wait may still succeed
 * into the ring then. Linux: xpipe_os_handle_get's descriptor becomes
 * readable when the channel may have become readable or writable: an
 * event loop waits for readability only, then calls with timeout 0.
 * Windows: xpipe_os_handle_get's handle is the pipe, which the peer
 * rings when it finds the ring read: after a wake-up, call with timeout
 * 0 until APR_TIMEUP.
 * The environment variable XPIPE_FAST_PATH=force turns it on for every
 * channel that may have it (for testing a program on the fast path).
 * @param attr the attribute set.
 * @param ring 0 (off, the default), or each ring's size in bytes: a power
 *             of two from XPIPE_FAST_RING_MIN to XPIPE_FAST_RING_MAX
 *             (XPIPE_FAST_RING_DEFAULT is a good start). The server's
 *             choice holds for both ends.
 * @return APR_SUCCESS, APR_EINVAL for a NULL attr or another size.
 */
XPIPE_API apr_status_t xpipe_attr_fast_path_set(xpipe_attr_t *attr,
                                                apr_size_t ring);

/** A log sink (xpipe_attr_log_set): baton as given, one line with no
 *  newline. */
typedef void (*xpipe_log_fn)(void *baton, const char *line);

/**
 * Where a listener reports events that are not a caller's failure, such
 * as a network client dropped for a malformed handshake: one line per
 * event, without a newline. The default (fn NULL) writes "xpipe: <line>"
 * to stderr.
 * @param attr  the attribute set.
 * @param fn    called with baton and the line, from the accepting thread.
 * @param baton passed to fn.
 * @return APR_SUCCESS, APR_EINVAL for a NULL attr.
 */
XPIPE_API apr_status_t xpipe_attr_log_set(xpipe_attr_t *attr, xpipe_log_fn fn,
                                          void *baton);

/**
 * Read an attribute back (for tests and tools). The getters below take an
 * attribute set, or NULL for the defaults.
 * @param attr the attribute set, or NULL.
 * @return the mode.
 */
XPIPE_API xpipe_mode_e xpipe_attr_mode_get(const xpipe_attr_t *attr);
/** @param attr the attribute set, or NULL. @return the pending instances. */
XPIPE_API int xpipe_attr_instances_get(const xpipe_attr_t *attr);
/** @param attr the attribute set, or NULL. @return the max message size. */
XPIPE_API apr_size_t xpipe_attr_max_message_get(const xpipe_attr_t *attr);
/** @param attr the attribute set, or NULL. @return the permission bits. */
XPIPE_API int xpipe_attr_permissions_get(const xpipe_attr_t *attr);
/** @param attr the attribute set, or NULL. @return nonzero when remote
 *  clients are accepted. */
XPIPE_API int xpipe_attr_remote_get(const xpipe_attr_t *attr);
/** @param attr the attribute set, or NULL. @return the group, -1 for none. */
XPIPE_API long xpipe_attr_group_get(const xpipe_attr_t *attr);
/** @param attr the attribute set, or NULL. @return the peer requirement,
 *  NULL for anyone. */
XPIPE_API const char *xpipe_attr_peer_require_get(const xpipe_attr_t *attr);
/** @param attr the attribute set, or NULL. @return nonzero when the
 *  listener is exported to SMB clients. */
XPIPE_API int xpipe_attr_smb_export_get(const xpipe_attr_t *attr);
/** @param attr the attribute set, or NULL. @return the np directory set,
 *  NULL for Samba's. */
XPIPE_API const char *xpipe_attr_smb_np_dir_get(const xpipe_attr_t *attr);
/** @param attr the attribute set, or NULL. @return the SMB user set, NULL
 *  for the default GSSAPI credential (the password cannot be read). */
XPIPE_API const char *xpipe_attr_smb_user_get(const xpipe_attr_t *attr);
/** @param attr the attribute set, or NULL. @return the SMB port, 445 by
 *  default. */
XPIPE_API unsigned int xpipe_attr_smb_port_get(const xpipe_attr_t *attr);
/** @param attr the attribute set, or NULL. @param min, max receive the
 *  dialect range (either may be NULL). */
XPIPE_API void xpipe_attr_smb_dialects_get(const xpipe_attr_t *attr,
                                           unsigned int *min,
                                           unsigned int *max);
/** @param attr the attribute set, or NULL. @return nonzero when
 *  encryption is asked for. */
XPIPE_API int xpipe_attr_smb_encrypt_get(const xpipe_attr_t *attr);
/** @param attr the attribute set, or NULL. @return nonzero when a guest
 *  session is accepted. */
XPIPE_API int xpipe_attr_smb_guest_get(const xpipe_attr_t *attr);
/** @param attr the attribute set, or NULL. @return the SDDL string, NULL
 *  for the default descriptor. */
XPIPE_API const char *xpipe_attr_sddl_get(const xpipe_attr_t *attr);
/** xpipe_attr_handles_set's value. @param attr the set (NULL: the
 *  default). @return 1 when messages may carry handles, else 0. */
XPIPE_API int xpipe_attr_handles_get(const xpipe_attr_t *attr);
/** xpipe_attr_fast_path_set's value. @param attr the set (NULL: the
 *  default). @return the ring size asked for; 0 when off. */
XPIPE_API apr_size_t xpipe_attr_fast_path_get(const xpipe_attr_t *attr);
/** @param attr the attribute set, or NULL. @return the blocking slice in
 *  microseconds (xpipe_attr_wake_slice_set). */
XPIPE_API apr_interval_time_t
xpipe_attr_wake_slice_get(const xpipe_attr_t *attr);
/** @} */

/* ------------------------------------------------------------------ */
/** @name Names
 *
 * | name given         | Windows           | POSIX                         |
 * |--------------------|-------------------|-------------------------------|
 * | `chat`             | `\\.\pipe\chat`   | `<rundir>/chat`               |
 * | `\\.\pipe\chat`    | as given          | same as `chat`                |
 * | `\\host\pipe\chat` | remote pipe (SMB) | remote pipe (SMB2/3, below)   |
 * | `/abs/path.sock`   | XPIPE_EBADNAME    | that socket path              |
 *
 * On POSIX, xpipe_connect opens `\\host\pipe\chat` with xpipe's own
 * SMB2/3 client (when built with it: meson's smb_client option; else
 * XPIPE_EREMOTE): one TCP connection per channel to port 445 (see
 * xpipe_attr_smb_port_set), dialects 2.0.2 to 3.1.1, SPNEGO
 * authentication (xpipe_attr_smb_credentials_set), every message signed
 * and verified, encrypted where the server requires it or
 * xpipe_attr_smb_encrypt_set asks. Listening on such a name is
 * XPIPE_EREMOTE: a listener on `chat` exported with
 * xpipe_attr_smb_export_set is what a local Samba hands SMB clients'
 * opens of `\\host\pipe\chat` to. What differs from a local channel:
 * no half close, no handles, no poll sets and no OS handle (its replies
 * come through a thread); a write interrupted while its reply is awaited
 * may still have reached the server (as an interrupted WriteFile on
 * Windows); in message mode Samba signals no boundary inside a message,
 * so each read of at most 64 KiB - 1 bytes is a message (Windows says
 * STATUS_BUFFER_OVERFLOW, and longer messages arrive whole); the remote
 * pipe's mode cannot be asked (Samba refuses), so XPIPE_EMODE is not
 * detected at connect.
 *
 * `<rundir>` is `$XDG_RUNTIME_DIR/xpipe` when $XDG_RUNTIME_DIR is ours and
 * mode 0700, else `/tmp/xpipe-<uid>`; it is created 0700 and checked
 * (owner, mode, not a link). Portable names are case-insensitive on every
 * OS (ASCII letters fold to lower case). On Windows a pipe name is
 * machine-wide; on POSIX a portable name is per user. A POSIX service for
 * other users listens on an explicit path with widened permissions.
 * @{ */

/**
 * Tell what a name maps to on this OS, without creating anything.
 * @param native receives the native name (socket path or pipe name).
 * @param name   the name to resolve.
 * @param pool   pool for the result.
 * @return APR_SUCCESS, APR_EINVAL for NULL arguments, XPIPE_EBADNAME,
 *         XPIPE_ENAMETOOLONG, XPIPE_EREMOTE.
 */
XPIPE_API apr_status_t xpipe_name_resolve(const char **native, const char *name,
                                          apr_pool_t *pool);
/** @} */

/* ------------------------------------------------------------------ */
/** @name Listeners
 * @{ */

/** A listener: a server's name, from which clients are accepted. Opaque. */
typedef struct xpipe_listener_t xpipe_listener_t;
/** A channel: one connection between a client and a server. Opaque. */
typedef struct xpipe_t xpipe_t;

/**
 * Start listening on a name.
 * @param listener receives the listener.
 * @param name     a name as described under Names.
 * @param attr     attributes, or NULL for defaults.
 * @param pool     owner pool, or NULL for a private one.
 * @return APR_SUCCESS; APR_EINVAL for NULL listener or name;
 *         XPIPE_EBADNAME, XPIPE_ENAMETOOLONG, XPIPE_EREMOTE for the name;
 *         XPIPE_EINUSE when a live server already listens there;
 *         XPIPE_ENOTSOCK when the path is some other file (left alone);
 *         XPIPE_ERUNDIR when the run directory is unsafe;
 *         APR_EACCES, or an OS status.
 */
XPIPE_API apr_status_t xpipe_listen(xpipe_listener_t **listener,
                                    const char *name, const xpipe_attr_t *attr,
                                    apr_pool_t *pool);

/**
 * Wait for a client and return its channel.
 * @param channel  receives the new channel.
 * @param listener the listener.
 * @param timeout  how long to wait (-1 forever, 0 poll).
 * @param pool     owner pool of the new channel, or NULL for a private one.
 * @return APR_SUCCESS; APR_TIMEUP; XPIPE_ECANCELED after
 *         xpipe_listener_interrupt; XPIPE_ECLOSED after close; APR_EINVAL;
 *         an OS status.
 */
XPIPE_API apr_status_t xpipe_accept(xpipe_t **channel,
                                    xpipe_listener_t *listener,
                                    apr_interval_time_t timeout,
                                    apr_pool_t *pool);

/**
 * Wake every xpipe_accept blocked on the listener now; if none is blocked,
 * the next one returns at once. Either returns XPIPE_ECANCELED. Any thread.
 * @param listener the listener.
 * @return APR_SUCCESS, APR_EINVAL, XPIPE_ECLOSED.
 */
XPIPE_API apr_status_t xpipe_listener_interrupt(xpipe_listener_t *listener);

/**
 * Stop listening: wakes blocked accepts (they return XPIPE_ECLOSED), waits
 * for them to leave, removes the socket file if it is still ours.
 * Channels already accepted stay open. Idempotent with a caller's pool.
 * @param listener the listener.
 * @return APR_SUCCESS, APR_EINVAL.
 */
XPIPE_API apr_status_t xpipe_listener_close(xpipe_listener_t *listener);

/**
 * The native name the listener serves.
 * @param listener the listener.
 * @return the socket path or pipe name; NULL for a NULL listener.
 */
XPIPE_API const char *xpipe_listener_native_name(
    const xpipe_listener_t *listener);
/** @} */

/* ------------------------------------------------------------------ */
/** @name Channels
 * @{ */

/**
 * Connect to a server.
 * While the server is busy (all instances taken, backlog full) connect
 * retries until the deadline. A name nobody listens on fails at once with
 * XPIPE_ENOPIPE unless xpipe_attr_wait_for_server_set asked to wait.
 * @param channel receives the channel.
 * @param name    the server's name.
 * @param attr    attributes (the mode must match the server's), or NULL.
 * @param timeout deadline for the whole connect (-1 forever, 0 one try).
 * @param pool    owner pool, or NULL for a private one.
 * @return APR_SUCCESS; APR_EINVAL; XPIPE_EBADNAME, XPIPE_ENAMETOOLONG,
 *         XPIPE_EREMOTE; XPIPE_ENOPIPE; APR_TIMEUP (still busy, or still
 *         missing when waiting); XPIPE_EMODE (server uses the other mode);
 *         XPIPE_ERUNDIR; APR_EACCES (the pipe does not admit this user);
 *         remote names: XPIPE_ENOPIPE also for no server at the host,
 *         XPIPE_EAUTH when the SMB session is refused (credentials,
 *         signing, a guest session, encryption), the same on Windows and
 *         POSIX, with the OS's or the server's status in the detail; an
 *         OS status.
 */
XPIPE_API apr_status_t xpipe_connect(xpipe_t **channel, const char *name,
                                     const xpipe_attr_t *attr,
                                     apr_interval_time_t timeout,
                                     apr_pool_t *pool);

/**
 * Byte mode: read up to *len bytes; returns as soon as any are there.
 * @param channel the channel.
 * @param buf where to put them.
 * @param len in: buffer size (> 0); out: bytes read (0 on error).
 * @return APR_SUCCESS; APR_EOF when the peer closed and all is read;
 *         XPIPE_ERESET; APR_TIMEUP; XPIPE_ECANCELED; XPIPE_ECLOSED;
 *         XPIPE_EMODE on a message channel; APR_EINVAL (NULL, zero length).
 */
XPIPE_API apr_status_t xpipe_read(xpipe_t *channel, void *buf, apr_size_t *len);

/**
 * Byte mode: write up to *len bytes; returns once some are written.
 * @param channel the channel.
 * @param buf the bytes.
 * @param len in: bytes to write (> 0); out: bytes written.
 * @return APR_SUCCESS; XPIPE_EPIPE or XPIPE_ERESET when the peer is gone;
 *         APR_TIMEUP; XPIPE_ECANCELED; XPIPE_ECLOSED; XPIPE_EMODE;
 *         APR_EINVAL. Never raises SIGPIPE.
 */
XPIPE_API apr_status_t xpipe_write(xpipe_t *channel, const void *buf,
                                   apr_size_t *len);

/**
 * Byte mode: read exactly len bytes unless an error or EOF stops it.
 * The channel timeout is one deadline for the whole call.
 * @param channel the channel.
 * @param buf where to put them.
 * @param len how many to read (0 succeeds at once).
 * @param done receives the bytes read (may be NULL).
 * @return as xpipe_read; APR_EOF when the stream ended early.
 */
XPIPE_API apr_status_t xpipe_read_full(xpipe_t *channel, void *buf,
                                       apr_size_t len, apr_size_t *done);

/**
 * Byte mode: write all len bytes unless an error stops it.
 * The channel timeout is one deadline for the whole call.
 * @param channel the channel.
 * @param buf the bytes.
 * @param len how many to write (0 succeeds at once).
 * @param done receives the bytes written (may be NULL).
 * @return as xpipe_write.
 */
XPIPE_API apr_status_t xpipe_write_full(xpipe_t *channel, const void *buf,
                                        apr_size_t len, apr_size_t *done);

/**
 * Message mode: send one message of len bytes (1..max message size).
 * All or nothing: the peer receives the whole message or none of it.
 * @param channel the channel.
 * @param buf the message.
 * @param len its size.
 * @return APR_SUCCESS; XPIPE_EMSGSIZE when len exceeds the max message
 *         size; APR_EINVAL for len 0 or NULL; XPIPE_EPIPE, XPIPE_ERESET;
 *         APR_TIMEUP; XPIPE_ECANCELED; XPIPE_ECLOSED; XPIPE_EMODE.
 */
XPIPE_API apr_status_t xpipe_send(xpipe_t *channel, const void *buf,
                                  apr_size_t len);

/**
 * Message mode: receive one whole message.
 * @param channel the channel.
 * @param buf where to put it.
 * @param len in: buffer size; out: the message size. When the message is
 *            larger than the buffer, returns XPIPE_EMSGSIZE with *len set
 *            to the message's size and leaves the message unread, so a
 *            call with a large enough buffer gets it.
 * @return APR_SUCCESS; XPIPE_EMSGSIZE; APR_EOF; XPIPE_ERESET; APR_TIMEUP;
 *         XPIPE_ECANCELED; XPIPE_ECLOSED; XPIPE_EMODE; APR_EINVAL.
 */
XPIPE_API apr_status_t xpipe_recv(xpipe_t *channel, void *buf, apr_size_t *len);

/**
 * Set the deadline of each later read/write/send/recv call (and of the
 * _full calls as a whole). Default -1 (wait forever).
 * @param channel the channel.
 * @param timeout microseconds; -1 forever, 0 do not block.
 * @return APR_SUCCESS, APR_EINVAL (NULL, or below -1), XPIPE_ECLOSED.
 */
XPIPE_API apr_status_t xpipe_timeout_set(xpipe_t *channel,
                                         apr_interval_time_t timeout);

/**
 * The current channel timeout.
 * @param channel the channel.
 * @return microseconds, -1 for forever (and for a NULL channel).
 */
XPIPE_API apr_interval_time_t xpipe_timeout_get(const xpipe_t *channel);

/**
 * The channel's mode.
 * @param channel the channel.
 * @return XPIPE_MODE_BYTE or XPIPE_MODE_MESSAGE.
 */
XPIPE_API xpipe_mode_e xpipe_mode_get(const xpipe_t *channel);

/**
 * Wake every call blocked on the channel now (read, write, send, recv);
 * if none is blocked, the next one returns at once. They return
 * XPIPE_ECANCELED and the channel stays usable. Any thread.
 * @param channel the channel.
 * @return APR_SUCCESS, APR_EINVAL, XPIPE_ECLOSED.
 */
XPIPE_API apr_status_t xpipe_interrupt(xpipe_t *channel);

/** How xpipe_shutdown closes a direction. */
typedef enum xpipe_shutdown_e {
    XPIPE_SHUTDOWN_READ = 0,  /**< no more reading */
    XPIPE_SHUTDOWN_WRITE = 1, /**< peer reads the rest, then APR_EOF */
    XPIPE_SHUTDOWN_BOTH = 2   /**< both */
} xpipe_shutdown_e;

/**
 * Close one or both directions while keeping the channel open.
 * @param channel the channel.
 * @param how which direction.
 * @return APR_SUCCESS; APR_ENOTIMPL where the backend cannot (Win32
 *         pipes have no half close); APR_EINVAL; XPIPE_ECLOSED.
 */
XPIPE_API apr_status_t xpipe_shutdown(xpipe_t *channel, xpipe_shutdown_e how);

/**
 * Close the channel. Everything written before is still delivered: the
 * peer reads it, then APR_EOF. Calls blocked in other threads return
 * XPIPE_ECLOSED; close waits for them to leave, never for the peer.
 * Idempotent with a caller's pool.
 * @param channel the channel.
 * @return APR_SUCCESS, APR_EINVAL.
 */
XPIPE_API apr_status_t xpipe_close(xpipe_t *channel);

/** What xpipe_peer_t fields hold a value. */
enum {
    XPIPE_PEER_PID = 1,     /**< pid is set */
    XPIPE_PEER_UID = 2,     /**< uid is set (POSIX) */
    XPIPE_PEER_GID = 4,     /**< gid is set (POSIX) */
    XPIPE_PEER_SID = 8,     /**< sid is set (Windows, SMB clients) */
    XPIPE_PEER_REMOTE = 16, /**< a network peer: account, domain, host,
                                 address, port set (a client through
                                 Samba, or the server of a remote pipe
                                 opened from POSIX) */
    XPIPE_PEER_SMB = 32     /**< a remote pipe opened from POSIX:
                                 smb_dialect, smb_flags, smb_auth set */
};

/** xpipe_peer_t.smb_flags: the SMB session's security. */
enum {
    XPIPE_SMB_SIGNED = 1,    /**< every message signed and verified */
    XPIPE_SMB_ENCRYPTED = 2, /**< every message encrypted */
    XPIPE_SMB_GUEST = 4      /**< a guest session (xpipe_attr_smb_guest_set) */
};

/** One identity record for the peer process, on every OS. Fields that
 *  this OS cannot give are absent: their bit in `have` is clear. The
 *  record may grow (new fields at its end): the caller says how large its
 *  own is in `size` (XPIPE_PEER_INIT), and xpipe_peer_get writes no byte
 *  past it, so a program built against this header keeps working with a
 *  later library. */
typedef struct xpipe_peer_t {
    apr_size_t size;   /**< the caller's sizeof(xpipe_peer_t) */
    unsigned int have; /**< XPIPE_PEER_* bits */
    long pid;          /**< process id */
    long uid;          /**< user id (POSIX) */
    long gid;          /**< group id (POSIX) */
    const char *sid;   /**< user SID string "S-1-5-..." (Windows) */
    /* XPIPE_PEER_REMOTE: what the SMB session told Samba. uid/gid (when
     * set) are the Unix account Samba mapped the user to; pid is absent. */
    const char *account; /**< account name, e.g. "alice" */
    const char *domain;  /**< its domain or workgroup */
    const char *host;    /**< the client machine's name */
    const char *address; /**< the client's IP address */
    unsigned int port;   /**< the client's TCP port */
    /* XPIPE_PEER_SMB: a remote pipe opened from POSIX. host, address and
     * port are then the server's; account and domain who we are to it. */
    const char *smb_dialect; /**< "2.0.2" ... "3.1.1" */
    unsigned int smb_flags;  /**< XPIPE_SMB_* bits */
    const char *smb_auth;    /**< "NTLM", "Kerberos" or "guest" */
} xpipe_peer_t;

/** An xpipe_peer_t ready for xpipe_peer_get, its size set:
 *  `xpipe_peer_t peer = XPIPE_PEER_INIT;` (C: a designated initializer,
 *  which -Wextra does not flag). */
#if defined(__cplusplus)
#define XPIPE_PEER_INIT                                                        \
    {                                                                          \
        sizeof(xpipe_peer_t)                                                   \
    }
#else
#define XPIPE_PEER_INIT                                                        \
    {                                                                          \
        .size = sizeof(xpipe_peer_t)                                           \
    }
#endif

/**
 * Who is at the other end.
 * @param channel the channel.
 * @param peer filled in up to its size (set it first: XPIPE_PEER_INIT),
 *             which it keeps; its strings stay valid until the channel is
 *             closed.
 * @return APR_SUCCESS; APR_EINVAL for NULL arguments or a size smaller
 *         than this header's record; XPIPE_ECLOSED, APR_ENOTIMPL, OS
 *         status.
 */
XPIPE_API apr_status_t xpipe_peer_get(xpipe_t *channel, xpipe_peer_t *peer);

/** The native handle of a channel: an fd on POSIX, a HANDLE on Windows. */
typedef union xpipe_os_handle_t {
    int fd;       /**< POSIX file descriptor */
    void *handle; /**< Windows HANDLE */
} xpipe_os_handle_t;

/**
 * The channel's native handle, for event-loop integration. It stays owned
 * by xpipe: do not close it. It is non-blocking (POSIX) or overlapped
 * (Windows).
 * @param channel the channel.
 * @param handle receives it.
 * @return APR_SUCCESS, APR_EINVAL, XPIPE_ECLOSED.
 */
XPIPE_API apr_status_t xpipe_os_handle_get(xpipe_t *channel,
                                           xpipe_os_handle_t *handle);

/**
 * A listener's native handle, for an event loop of the caller's own.
 * POSIX: the listening socket's descriptor, readable when a client
 * waits to be accepted (with xpipe_attr_smb_export_set, network clients
 * arrive on a second descriptor this call does not give: a poll set
 * watches both). Windows: a manual-reset event that is signalled when a
 * client may be waiting; xpipe resets it as xpipe_accept finds none.
 * Owned by xpipe: do not close it or read from it. After the handle
 * signals, xpipe_accept with timeout 0 takes the client or returns
 * APR_TIMEUP.
 * @param listener the listener.
 * @param handle receives it.
 * @return APR_SUCCESS, APR_EINVAL, XPIPE_ECLOSED.
 */
XPIPE_API apr_status_t xpipe_listener_os_handle_get(xpipe_listener_t *listener,
                                                    xpipe_os_handle_t *handle);
/** @} */

/* ------------------------------------------------------------------ */
/** @name Pairs, children, adopted handles, passed handles
 * Channels without a name: two connected ends in one process
 * (xpipe_pair), one end in a child process it starts (xpipe_spawn,
 * xpipe_child_channel), a channel or listener over a handle made
 * elsewhere (xpipe_adopt, xpipe_listener_adopt: an inherited one,
 * systemd's socket activation), and OS handles sent with a message
 * (xpipe_send_handles), a connected channel among them: a broker accepts
 * a client and hands it to a worker.
 * @{ */

/** Most handles one message carries. */
#define XPIPE_HANDLES_MAX 16

/** The environment variable through which xpipe_spawn tells the child
 *  its end: "<descriptor or handle value> <byte|message>[ handles]". */
#define XPIPE_CHILD_ENV "XPIPE_CHANNEL"

/**
 * Two connected ends, in attr's mode, that nobody else can open. POSIX: a
 * socket pair. Windows: an overlapped named pipe under a unique,
 * unguessable name, made with FILE_FLAG_FIRST_PIPE_INSTANCE, one
 * instance, remote clients rejected, a DACL for the owner only, and
 * opened by this call before it returns. Each end behaves as a connected
 * channel (timeouts, interrupt, close from any thread, os handles).
 * @param a, b receive the ends (a is the pipe's server end on Windows).
 * @param attr NULL for the defaults.
 * @param pool both ends' pool; NULL: each its own, freed by its close.
 * @return APR_SUCCESS, APR_EINVAL, or an OS status.
 */
XPIPE_API apr_status_t xpipe_pair(xpipe_t **a, xpipe_t **b,
                                  const xpipe_attr_t *attr, apr_pool_t *pool);

/**
 * Start a program with one end of a new pair (xpipe_pair) as its only
 * inherited descriptor or handle beside the standard three; this process
 * gets the other end. Nothing else leaks into the child, even while other
 * threads open files (POSIX: posix_spawn with a dup2 action and closefrom;
 * Windows: CreateProcessW with PROC_THREAD_ATTRIBUTE_HANDLE_LIST). The
 * child learns its end from the environment variable XPIPE_CHILD_ENV and
 * takes it with xpipe_child_channel.
 * @param proc receives the child, for apr_proc_wait and apr_proc_kill.
 * @param channel receives this process's end.
 * @param program the program's path (not searched in PATH).
 * @param argv its arguments, argv[0] first, NULL-terminated.
 * @param env "NAME=value" strings, NULL-terminated, or NULL for this
 *        process's environment; XPIPE_CHILD_ENV is added (replaced).
 * @param attr the channel's attributes (mode, handles), NULL: defaults.
 * @param pool the channel's pool (NULL: its own); proc needs none.
 * @return APR_SUCCESS, APR_EINVAL, APR_ENOTIMPL where the OS cannot close
 *         every other descriptor in the child, or the OS status of the
 *         failed start (a missing program: APR_ENOENT).
 */
XPIPE_API apr_status_t xpipe_spawn(apr_proc_t *proc, xpipe_t **channel,
                                   const char *program, const char *const *argv,
                                   const char *const *env,
                                   const xpipe_attr_t *attr, apr_pool_t *pool);

/**
 * In a child started by xpipe_spawn: adopt the end named by
 * XPIPE_CHILD_ENV, and remove the variable (so the child's own children
 * do not inherit it). The mode and the handles attribute come from the
 * variable; attr may give other attributes, and must not contradict those
 * two (XPIPE_EMODE).
 * @param channel receives the channel.
 * @param attr NULL, or attributes agreeing with the parent's mode and
 *        handles.
 * @param pool the channel's pool; NULL: its own, freed by its close.
 * @return APR_SUCCESS, XPIPE_ENOPIPE when the variable is missing,
 *         XPIPE_EBADHANDLE when it names no channel, XPIPE_EMODE.
 */
XPIPE_API apr_status_t xpipe_child_channel(xpipe_t **channel,
                                           const xpipe_attr_t *attr,
                                           apr_pool_t *pool);

/**
 * A channel over a connected handle made elsewhere: an inherited one, a
 * connection from systemd's socket activation, one end of a socket pair
 * (POSIX: a connected AF_UNIX SOCK_STREAM socket in byte mode, or
 * SOCK_SEQPACKET in message mode; Windows: an overlapped named-pipe
 * handle, either end, whose type matches the mode). On success the
 * channel owns the handle (its close closes it) and makes it
 * non-inheritable and non-blocking; on failure it is left untouched and
 * still the caller's.
 * @param channel receives the channel.
 * @param handle the descriptor (fd) or HANDLE (handle).
 * @param attr NULL for the defaults; its mode must match the handle's.
 * @param pool the channel's pool; NULL: its own, freed by its close.
 * @return APR_SUCCESS, APR_EINVAL, XPIPE_EBADHANDLE (not a connected
 *         channel handle, or not overlapped), XPIPE_EMODE (a stream for a
 *         message channel or the reverse).
 */
XPIPE_API apr_status_t xpipe_adopt(xpipe_t **channel, xpipe_os_handle_t handle,
                                   const xpipe_attr_t *attr, apr_pool_t *pool);

/**
 * A listener over a listening socket made elsewhere (POSIX: an AF_UNIX
 * socket in the listening state, of the mode's type, such as one from
 * systemd's socket activation). It owns the socket on success, and
 * never removes its file (whoever bound it does). Windows has no
 * listening handle (a pipe's instances are made per client):
 * APR_ENOTIMPL.
 * @param listener receives the listener.
 * @param handle the listening socket's descriptor.
 * @param attr NULL for the defaults; its mode must match the socket's.
 * @param pool the listener's pool; NULL: its own, freed by its close.
 * @return APR_SUCCESS, APR_EINVAL, XPIPE_EBADHANDLE, XPIPE_EMODE,
 *         APR_ENOTIMPL.
 */
XPIPE_API apr_status_t xpipe_listener_adopt(xpipe_listener_t **listener,
                                            xpipe_os_handle_t handle,
                                            const xpipe_attr_t *attr,
                                            apr_pool_t *pool);

/**
 * Send a message with up to XPIPE_HANDLES_MAX OS handles (descriptors;
 * Windows HANDLEs). The receiver gets its own copies; the caller's stay
 * open and the caller's. A channel's handle passed so (xpipe_os_handle_get)
 * lets the receiver adopt it (xpipe_adopt) and serve the peer while the
 * sender closes its channel. Needs xpipe_attr_handles_set on both ends,
 * and message mode. Windows: the handles are duplicated into the peer's
 * process (its id as the pipe reports it; the child's for xpipe_spawn);
 * if the message cannot be sent, those copies are closed again.
 * @param channel the channel.
 * @param buf the message.
 * @param len 1..max message size (0 carries no message).
 * @param handles the handles (fd or handle members), count of them.
 * @param count 0..XPIPE_HANDLES_MAX.
 * @return as xpipe_send; XPIPE_EBADHANDLE for an invalid handle or too
 *         many; XPIPE_EMODE without the attribute or in byte mode.
 */
XPIPE_API apr_status_t xpipe_send_handles(xpipe_t *channel, const void *buf,
                                          apr_size_t len,
                                          const xpipe_os_handle_t *handles,
                                          int count);

/**
 * Receive a message and the handles sent with it (none for a message
 * sent by xpipe_send). The handles received are the caller's to close
 * (close-on-exec, not inheritable). A buffer too small for the message,
 * or room for fewer handles than came, gives XPIPE_EMSGSIZE with *len
 * the message's size and *count the handles' number, keeping both for the
 * next call. A message read with xpipe_recv has its handles closed: none
 * is ever left open unseen. A peer that sent more than
 * XPIPE_HANDLES_MAX: the message comes, its handles are closed, and the
 * status is XPIPE_EBADHANDLE.
 * @param channel the channel.
 * @param buf receives the message.
 * @param len in: buf's size; out: the message's.
 * @param handles receives the handles (room for *count).
 * @param count in: room in handles; out: how many came.
 * @return as xpipe_recv, plus XPIPE_EBADHANDLE; XPIPE_EMODE without the
 *         attribute or in byte mode.
 */
XPIPE_API apr_status_t xpipe_recv_handles(xpipe_t *channel, void *buf,
                                          apr_size_t *len,
                                          xpipe_os_handle_t *handles,
                                          int *count);
/** @} */

/* ------------------------------------------------------------------ */
/** @name Poll sets
 * One thread waits for many channels and listeners, as with APR's
 * apr_pollset: add each with the events it is wanted for, call
 * xpipe_pollset_poll, and for each object it reports call the object's
 * function with timeout 0 (xpipe_timeout_set(ch, 0), xpipe_accept(...,
 * 0, ...)). Readiness is a hint that never blocks: the call then makes
 * progress, or returns APR_TIMEUP when another thread got there first.
 * Level-triggered: an object stays reported while it is ready.
 *
 * Rules
 * - One thread polls a set at a time; xpipe_pollset_add,
 *   xpipe_pollset_remove and xpipe_pollset_wakeup may be called from any
 *   thread, also while another polls.
 * - An object is in at most one set at a time, and on Windows a channel
 *   stays bound to the first set it joined (its handle's completion
 *   port): it may leave and join that set again, not another one.
 *   Listeners move freely.
 * - Closing an object removes it from its set. A poll that is already
 *   returning may still report it; calls on it then return
 *   XPIPE_ECLOSED (with a caller's pool: an object with a private pool
 *   is freed by its close, so close such objects from the polling thread
 *   or remove them first).
 * - Objects outside the set keep their blocking calls. An object inside
 *   it may still use them, with timeout 0 after a report being the fast
 *   path. While a channel is in a set for XPIPE_POLLIN, its reads belong
 *   to the polling thread: the set may read a message's frames ahead
 *   into the channel (framed message mode), so a second reader would
 *   break the one-reader rule.
 *
 * Backends: POSIX uses APR's apr_pollset (epoll, kqueue or poll, as APR
 * finds them). Windows uses an I/O completion port: a zero-byte
 * overlapped read on each channel completes when data (or the end)
 * arrives, without taking it; listeners' pending connects signal the
 * set's event; nothing polls with timeouts, except that a full pipe's
 * XPIPE_POLLOUT is re-checked every 10 ms (Windows tells of free pipe
 * buffer space only to a write in flight).
 * @{ */

/** A poll set. Opaque. */
typedef struct xpipe_pollset_t xpipe_pollset_t;

/** Channel: xpipe_read or xpipe_recv makes progress (data, a whole
 *  message, the end of the stream, or an error to report). */
#define XPIPE_POLLIN 0x1
/** Channel: xpipe_write or xpipe_send makes progress (or reports the
 *  peer gone). */
#define XPIPE_POLLOUT 0x2
/** Listener: a client is there for xpipe_accept. */
#define XPIPE_POLLACCEPT 0x4
/** Largest size accepted by xpipe_pollset_create. */
#define XPIPE_POLLSET_LIMIT (1024 * 1024)

/** What to watch, and (in results) what is ready. */
typedef struct xpipe_pollfd_t {
    xpipe_t *channel;           /**< the channel; NULL for a listener */
    xpipe_listener_t *listener; /**< the listener; NULL for a channel */
    apr_int16_t reqevents;      /**< XPIPE_POLLIN / _POLLOUT (channel),
                                     XPIPE_POLLACCEPT (listener) */
    apr_int16_t rtnevents;      /**< results: the events ready */
    void *client_data;          /**< yours, handed back in results */
} xpipe_pollfd_t;

/**
 * Create a poll set.
 * @param pollset receives it.
 * @param size    how many objects it may hold, 1..XPIPE_POLLSET_LIMIT.
 * @param pool    owner pool (destroying it destroys the set), or NULL for
 *                a private one freed by xpipe_pollset_destroy.
 * @return APR_SUCCESS, APR_EINVAL, APR_ENOMEM, or an OS status.
 */
XPIPE_API apr_status_t xpipe_pollset_create(xpipe_pollset_t **pollset,
                                            apr_uint32_t size,
                                            apr_pool_t *pool);

/**
 * Add a channel or a listener. The descriptor is copied.
 * @param pollset the set.
 * @param desc    exactly one of channel and listener, and reqevents
 *                valid for it (not 0).
 * @return APR_SUCCESS; APR_EINVAL for NULLs, both or neither object, or
 *         events the object cannot have; APR_EEXIST when the object is
 *         already in this set; APR_EBUSY when it is in another set (or,
 *         on Windows, a channel was bound to another); APR_ENOSPC when
 *         the set holds size objects; XPIPE_ECLOSED for a closed object
 *         or set.
 */
XPIPE_API apr_status_t xpipe_pollset_add(xpipe_pollset_t *pollset,
                                         const xpipe_pollfd_t *desc);

/**
 * Remove the object desc names (its channel or listener; the other
 * fields are ignored).
 * @param pollset the set.
 * @param desc    names the object to remove.
 * @return APR_SUCCESS; APR_NOTFOUND when it is not in this set;
 *         APR_EINVAL; XPIPE_ECLOSED for a destroyed set.
 */
XPIPE_API apr_status_t xpipe_pollset_remove(xpipe_pollset_t *pollset,
                                            const xpipe_pollfd_t *desc);

/**
 * Wait until objects are ready, the deadline passes, or another thread
 * calls xpipe_pollset_wakeup.
 * @param pollset the set.
 * @param timeout -1 forever, 0 do not block, else microseconds.
 * @param num     receives how many objects are ready.
 * @param descriptors receives an array of num copies of their
 *        descriptors with rtnevents set, valid until the next poll.
 * @return APR_SUCCESS (num > 0); APR_TIMEUP (num 0); XPIPE_ECANCELED
 *         after xpipe_pollset_wakeup (num 0); APR_EBUSY when another
 *         thread is polling the set; APR_EINVAL; XPIPE_ECLOSED.
 */
XPIPE_API apr_status_t xpipe_pollset_poll(xpipe_pollset_t *pollset,
                                          apr_interval_time_t timeout,
                                          apr_int32_t *num,
                                          const xpipe_pollfd_t **descriptors);

/**
 * Wake the thread blocked in xpipe_pollset_poll: it returns
 * XPIPE_ECANCELED. When none is, the next poll returns it at once. Any
 * thread.
 * @param pollset the set.
 * @return APR_SUCCESS, APR_EINVAL, XPIPE_ECLOSED.
 */
XPIPE_API apr_status_t xpipe_pollset_wakeup(xpipe_pollset_t *pollset);

/**
 * One handle an event loop of the caller's own can wait on for the whole
 * set. Windows: a manual-reset event, signalled when a member may be
 * ready or on xpipe_pollset_wakeup; give it to MsgWaitForMultipleObjects
 * or WaitForMultipleObjects, then call xpipe_pollset_poll with timeout 0
 * (which resets it). POSIX: APR_ENOTIMPL (APR's pollset keeps its
 * descriptor to itself): add each object's descriptor
 * (xpipe_os_handle_get, xpipe_listener_os_handle_get) to the loop.
 * Owned by the set: do not close it.
 * @param pollset the set.
 * @param handle  receives the handle.
 * @return APR_SUCCESS, APR_ENOTIMPL, APR_EINVAL, XPIPE_ECLOSED.
 */
XPIPE_API apr_status_t xpipe_pollset_os_handle_get(xpipe_pollset_t *pollset,
                                                   xpipe_os_handle_t *handle);

/**
 * Destroy the set: its objects leave it and stay open. With a caller's
 * pool the set's memory stays until the pool goes and later calls
 * return XPIPE_ECLOSED; with a private one it is freed. No thread may be
 * polling it.
 * @param pollset the set.
 * @return APR_SUCCESS, APR_EINVAL.
 */
XPIPE_API apr_status_t xpipe_pollset_destroy(xpipe_pollset_t *pollset);
/** @} */

#ifdef __cplusplus
}
#endif

#endif /* XPIPE_H */
