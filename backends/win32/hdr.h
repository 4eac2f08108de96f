/* SPDX-License-Identifier: Apache-2.0 */
/* hdr.h — PRIVATE to the Win32 backend and its fuzz target: the header
 * each message of a channel that carries handles starts with (conn.c),
 * pure code (no system calls, no <windows.h>), so it is fuzzed on every
 * host. Layout: 'H', the number of handles (0..XPIPE_HANDLES_MAX), two
 * zero bytes, the sender's process id (32-bit little-endian), then each
 * handle's value in the receiver's process (64-bit little-endian).
 */
#ifndef XPIPE_WIN32_HDR_H
#define XPIPE_WIN32_HDR_H

#include "xpipe.h"

#define XPIPE__HDR_MAGIC 'H'
/* Bytes of a header naming n handles. */
#define XPIPE__HDR_LEN(n) (8 + 8 * (apr_size_t)(n))

/* Write the header for count values (count <= XPIPE_HANDLES_MAX) to m,
 * which has XPIPE__HDR_LEN(count) bytes. */
void xpipe__hdr_encode(unsigned char *m, int count, apr_uint32_t pid,
                       const apr_uint64_t *values);

/* The header at the start of the n bytes at m: the number of handles,
 * with their values in values (room for XPIPE_HANDLES_MAX), or -1 when
 * m does not start with one (too short, another first byte, too many
 * handles, reserved bytes set). Reads nothing past n. */
int xpipe__hdr_parse(const unsigned char *m, apr_size_t n,
                     apr_uint64_t *values);

#endif
