/* SPDX-License-Identifier: Apache-2.0 */
/* frame.c — messages as frames on a byte stream (frame.h). Pure code: the
 * bytes move through the caller's callbacks.
 */
#include "frame.h"

#include "xpipe.h"

#include <stdlib.h>
#include <string.h>

apr_size_t xpipe__frame_hdr_len(xpipe__frame_kind_e kind)
{
    switch (kind) {
    case XPIPE__FRAME_U32BE: return 4;
    case XPIPE__FRAME_U16LE: return 2;
    default: return 0;
    }
}

apr_size_t xpipe__frame_max(xpipe__frame_kind_e kind)
{
    return kind == XPIPE__FRAME_U16LE ? 65535 : XPIPE_MESSAGE_MAX_LIMIT;
}

static void frame_encode(xpipe__frame_kind_e kind, unsigned char *hdr,
                         apr_size_t len)
{
    if (kind == XPIPE__FRAME_U16LE) {
        hdr[0] = (unsigned char)len;
        hdr[1] = (unsigned char)(len >> 8);
        return;
    }
    hdr[0] = (unsigned char)(len >> 24);
    hdr[1] = (unsigned char)(len >> 16);
    hdr[2] = (unsigned char)(len >> 8);
    hdr[3] = (unsigned char)len;
}

static apr_size_t frame_decode(const xpipe__frame_rx_t *rx)
{
    const unsigned char *h = rx->hdr;

    if (rx->kind == XPIPE__FRAME_U16LE)
        return (apr_size_t)h[1] << 8 | h[0];
    return (apr_size_t)h[0] << 24 | (apr_size_t)h[1] << 16
           | (apr_size_t)h[2] << 8 | h[3];
}

/* Read the header (resuming one cut off), skipping empty SMB frames. */
static apr_status_t frame_header(xpipe__frame_rx_t *rx, apr_size_t *size,
                                 xpipe__frame_read_fn read, void *baton)
{
    apr_size_t hl = xpipe__frame_hdr_len(rx->kind), n;
    apr_status_t rv;

    for (;;) {
        while (rx->hdr_got < hl) {
            n = hl - rx->hdr_got;
            rv = read(baton, rx->hdr + rx->hdr_got, &n);
            if (rv != APR_SUCCESS)
                /* End of stream inside a header: the peer died mid-way. */
                return APR_STATUS_IS_EOF(rv) && rx->hdr_got ? XPIPE_ERESET : rv;
            rx->hdr_got += n;
        }
        *size = frame_decode(rx);
        if (*size > 0 || rx->kind != XPIPE__FRAME_U16LE)
            return APR_SUCCESS;
        rx->hdr_got = 0; /* an empty SMB message: xpipe's have a byte */
    }
}

apr_status_t xpipe__frame_recv(xpipe__frame_rx_t *rx, void *buf,
                               apr_size_t *len, xpipe__frame_read_fn read,
                               void *baton)
{
    apr_size_t size, n;
    apr_status_t rv = frame_header(rx, &size, read, baton);

    if (rv != APR_SUCCESS) {
        *len = 0;
        return rv;
    }
    if (size == 0 || size > xpipe__frame_max(rx->kind)) {
        *len = 0;
        return XPIPE_EMODE; /* not an xpipe frame: a foreign peer */
    }
    if (size > *len) {
        *len = size;
        return XPIPE_EMSGSIZE;
    }
    if (rx->got)
        memcpy(buf, rx->part, rx->got);
    while (rx->got < size) {
        n = size - rx->got;
        rv = read(baton, (char *)buf + rx->got, &n);
        if (rv == APR_SUCCESS) {
            rx->got += n;
            continue;
        }
        *len = 0;
        if (APR_STATUS_IS_EOF(rv))
            return XPIPE_ERESET;
        if (rx->got) { /* keep what arrived for the next call */
            if (rx->part == NULL && (rx->part = malloc(size)) == NULL)
                return APR_ENOMEM;
            memcpy(rx->part, buf, rx->got);
        }
        return rv;
    }
    free(rx->part);
    rx->part = NULL;
    rx->got = rx->hdr_got = 0;
    *len = size;
    return APR_SUCCESS;
}

apr_status_t xpipe__frame_fill(xpipe__frame_rx_t *rx, xpipe__frame_read_fn read,
                               void *baton)
{
    apr_size_t size, n;
    apr_status_t rv = frame_header(rx, &size, read, baton);

    if (rv != APR_SUCCESS)
        return rv;
    if (size == 0 || size > xpipe__frame_max(rx->kind))
        return XPIPE_EMODE;
    if (rx->part == NULL && (rx->part = malloc(size)) == NULL)
        return APR_ENOMEM;
    while (rx->got < size) {
        n = size - rx->got;
        rv = read(baton, rx->part + rx->got, &n);
        if (rv != APR_SUCCESS)
            return APR_STATUS_IS_EOF(rv) ? XPIPE_ERESET : rv;
        rx->got += n;
    }
    return APR_SUCCESS;
}

int xpipe__frame_ready(const xpipe__frame_rx_t *rx)
{
    apr_size_t hl = xpipe__frame_hdr_len(rx->kind), size;

    if (hl == 0 || rx->hdr_got < hl)
        return 0;
    size = frame_decode(rx);
    return size > 0 && size <= xpipe__frame_max(rx->kind) && rx->got == size;
}

apr_status_t xpipe__frame_flush(xpipe__frame_tx_t *tx,
                                xpipe__frame_write_fn write, void *baton)
{
    apr_status_t rv = APR_SUCCESS;

    while (tx->rest && rv == APR_SUCCESS) {
        xpipe__frame_part_t part = { tx->rest + tx->off, tx->len - tx->off };
        apr_size_t n = 0;
        rv = write(baton, &part, 1, &n);
        if (rv == APR_SUCCESS)
            tx->off += n;
        if (tx->off == tx->len) {
            free(tx->rest);
            tx->rest = NULL;
        }
    }
    return rv;
}

apr_status_t xpipe__frame_send(xpipe__frame_tx_t *tx, const void *buf,
                               apr_size_t len, xpipe__frame_write_fn write,
                               void *baton)
{
    unsigned char hdr[4];
    apr_size_t hl = xpipe__frame_hdr_len(tx->kind), total = len + hl, sent = 0;
    apr_status_t rv = xpipe__frame_flush(tx, write, baton);

    if (rv != APR_SUCCESS)
        return rv;
    frame_encode(tx->kind, hdr, len);
    while (sent < total) {
        xpipe__frame_part_t parts[2];
        int count = 1;
        apr_size_t n = 0;
        if (sent < hl) {
            parts[0].p = hdr + sent;
            parts[0].n = hl - sent;
            parts[1].p = buf;
            parts[1].n = len;
            count = 2;
        }
        else {
            parts[0].p = (const char *)buf + (sent - hl);
            parts[0].n = total - sent;
        }
        rv = write(baton, parts, count, &n);
        if (rv == APR_SUCCESS) {
            sent += n;
            continue;
        }
        if (sent == 0)
            return rv;
        /* Committed: keep the tail for the next send (or close). */
        tx->len = total - sent;
        tx->off = 0;
        tx->rest = malloc(tx->len);
        if (tx->rest == NULL)
            return APR_ENOMEM;
        if (sent < hl) {
            memcpy(tx->rest, hdr + sent, hl - sent);
            memcpy(tx->rest + hl - sent, buf, len);
        }
        else
            memcpy(tx->rest, (const char *)buf + (sent - hl), total - sent);
        return APR_SUCCESS;
    }
    return APR_SUCCESS;
}

void xpipe__frame_rx_free(xpipe__frame_rx_t *rx)
{
    free(rx->part);
    rx->part = NULL;
}

void xpipe__frame_tx_free(xpipe__frame_tx_t *tx)
{
    free(tx->rest);
    tx->rest = NULL;
}
