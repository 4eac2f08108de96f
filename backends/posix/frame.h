/* SPDX-License-Identifier: Apache-2.0 */
/* frame.h — PRIVATE to the POSIX backend and its fuzz target: messages as
 * frames on a byte stream, pure code (no system calls). The caller moves
 * the bytes through callbacks; the codec keeps what a deadline cut off,
 * so a later call resumes the same message, and never hands out more than
 * one message's worth.
 */
#ifndef XPIPE_FRAME_H
#define XPIPE_FRAME_H

#include <apr_errno.h>

/* The kinds of frame. */
typedef enum xpipe__frame_kind_e {
    /* No frames: the transport keeps boundaries (SOCK_SEQPACKET), or the
     * channel is a byte stream. */
    XPIPE__FRAME_NONE = 0,
    /* xpipe's framed transport: a big-endian u32 length, then the
     * payload (1 to XPIPE_MESSAGE_MAX_LIMIT bytes). */
    XPIPE__FRAME_U32BE,
    /* SMB named pipes through smbd: a little-endian u16 length, then the
     * payload (up to 65,535 bytes); an empty frame is skipped. */
    XPIPE__FRAME_U16LE
} xpipe__frame_kind_e;

/* Header length of a kind (0 for XPIPE__FRAME_NONE). */
apr_size_t xpipe__frame_hdr_len(xpipe__frame_kind_e kind);
/* Largest payload a frame of this kind carries. */
apr_size_t xpipe__frame_max(xpipe__frame_kind_e kind);

/* Moving bytes, supplied by the caller. read: up to *n bytes into buf;
 * APR_SUCCESS with *n > 0 bytes, or the status that stopped it (APR_EOF
 * at end of stream, APR_TIMEUP, XPIPE_ECANCELED, ...) with nothing read.
 * write: the bytes of parts[0..count-1] in order; APR_SUCCESS with *n > 0
 * bytes written, or the status that stopped it with nothing written. */
typedef struct xpipe__frame_part_t {
    const void *p;
    apr_size_t n;
} xpipe__frame_part_t;
typedef apr_status_t (*xpipe__frame_read_fn)(void *baton, void *buf,
                                             apr_size_t *n);
typedef apr_status_t (*xpipe__frame_write_fn)(void *baton,
                                              const xpipe__frame_part_t *parts,
                                              int count, apr_size_t *n);

/* One direction's state: zeroed to start, freed with ..._free. */
typedef struct xpipe__frame_rx_t {
    xpipe__frame_kind_e kind;
    unsigned char hdr[4]; /* the current frame's header, as read so far */
    apr_size_t hdr_got;
    unsigned char *part; /* payload read before a deadline cut in */
    apr_size_t got;
} xpipe__frame_rx_t;

typedef struct xpipe__frame_tx_t {
    xpipe__frame_kind_e kind;
    unsigned char *rest; /* the unsent tail of a frame already committed */
    apr_size_t len, off;
} xpipe__frame_tx_t;

/* Receive one frame into buf (*len: its size). APR_SUCCESS with *len the
 * message's size; XPIPE_EMSGSIZE with *len its size when buf is smaller,
 * nothing consumed; XPIPE_ERESET when the stream ends inside a frame;
 * XPIPE_EMODE for a length no xpipe peer sends (0, or above the kind's
 * maximum); else read's status, *len 0, what arrived kept for the next
 * call. */
apr_status_t xpipe__frame_recv(xpipe__frame_rx_t *rx, void *buf,
                               apr_size_t *len, xpipe__frame_read_fn read,
                               void *baton);

/* Send one frame of len bytes (1 to the kind's maximum: the caller
 * checks). Nothing is sent when write fails first: its status. Once a
 * byte is out the frame is committed: if write then fails (a deadline),
 * its tail is kept for xpipe__frame_flush and this send succeeds. A tail
 * left by an earlier send goes first. */
apr_status_t xpipe__frame_send(xpipe__frame_tx_t *tx, const void *buf,
                               apr_size_t len, xpipe__frame_write_fn write,
                               void *baton);

/* Read the next frame into rx's own buffer, as far as read lets it:
 * APR_SUCCESS when the whole frame is there (xpipe__frame_recv then
 * delivers it), else as xpipe__frame_recv, keeping what arrived. */
apr_status_t xpipe__frame_fill(xpipe__frame_rx_t *rx, xpipe__frame_read_fn read,
                               void *baton);
/* Is a whole frame in rx's buffer? */
int xpipe__frame_ready(const xpipe__frame_rx_t *rx);

/* Write what is left of a committed frame: APR_SUCCESS when nothing is
 * (any more), else write's status. */
apr_status_t xpipe__frame_flush(xpipe__frame_tx_t *tx,
                                xpipe__frame_write_fn write, void *baton);

void xpipe__frame_rx_free(xpipe__frame_rx_t *rx);
void xpipe__frame_tx_free(xpipe__frame_tx_t *tx);

#endif
