/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_frame.c — libFuzzer target: the frame codec (backends/posix/
 * frame.c), in process. The input is what a hostile peer sends, served
 * in chunks of varying size with deadlines cutting in, to a receiver
 * with a varying buffer: receiving must never crash, hang, or hand out
 * more than a message's worth, and a too-small buffer must leave the
 * message whole for a larger one. A second mode sends messages through
 * the encoder (a writer that takes a few bytes at a time and sometimes
 * none) and checks that the decoder gives back exactly what was sent.
 */
#include "frame.h"

#include "xpipe.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A byte source: the input, in chunks, with TIMEUPs. */
typedef struct src_t {
    const uint8_t *p;
    size_t len, off;
    uint32_t rng;
} src_t;

static uint32_t src_next(uint32_t *rng)
{
    *rng = *rng * 1103515245u + 12345u;
    return *rng >> 16;
}

static apr_status_t src_read(void *baton, void *buf, apr_size_t *n)
{
    src_t *s = baton;
    uint32_t r = src_next(&s->rng);
    apr_size_t k = 1 + r % 64;

    if (r % 7 == 0)
        return APR_TIMEUP; /* a deadline: nothing read */
    if (s->off == s->len)
        return APR_EOF;
    if (k > *n)
        k = *n;
    if (k > s->len - s->off)
        k = s->len - s->off;
    memcpy(buf, s->p + s->off, k);
    s->off += k;
    *n = k;
    return APR_SUCCESS;
}

/* A byte sink: a growing buffer that takes a few bytes at a time. */
typedef struct sink_t {
    uint8_t *buf;
    size_t len, cap;
    uint32_t rng;
} sink_t;

static apr_status_t sink_write(void *baton, const xpipe__frame_part_t *parts,
                               int count, apr_size_t *n)
{
    sink_t *s = baton;
    uint32_t r = src_next(&s->rng);
    apr_size_t room = 1 + r % 48, done = 0;
    int i;

    if (r % 5 == 0)
        return APR_TIMEUP; /* full until the deadline: nothing written */
    for (i = 0; i < count && room > 0; i++) {
        apr_size_t k = parts[i].n < room ? parts[i].n : room;
        if (s->len + k > s->cap)
            abort();
        memcpy(s->buf + s->len, parts[i].p, k);
        s->len += k;
        room -= k;
        done += k;
        if (k < parts[i].n)
            break;
    }
    if (done == 0)
        return APR_TIMEUP;
    *n = done;
    return APR_SUCCESS;
}

/* Receive everything the source holds; check every answer. */
static void decode_all(xpipe__frame_kind_e kind, src_t *src, apr_size_t cap)
{
    static unsigned char buf[XPIPE_MESSAGE_MAX_LIMIT + 1];
    apr_size_t max = xpipe__frame_max(kind);
    xpipe__frame_rx_t rx;
    int i;

    memset(&rx, 0, sizeof(rx));
    rx.kind = kind;
    for (i = 0; i < 100000; i++) {
        apr_size_t len = cap;
        apr_status_t rv = xpipe__frame_recv(&rx, buf, &len, src_read, src);
        if (rv == APR_SUCCESS) {
            if (len == 0 || len > cap || len > max)
                abort();
            continue;
        }
        if (rv == XPIPE_EMSGSIZE) {
            apr_size_t want = len;
            if (want <= cap || want > max)
                abort();
            /* Kept whole: a buffer of its size gets it. */
            len = want;
            do
                rv = xpipe__frame_recv(&rx, buf, &len, src_read, src);
            while (rv == APR_TIMEUP && (len = want) > 0);
            if (rv == APR_SUCCESS && len != want)
                abort();
            if (rv != APR_SUCCESS && rv != XPIPE_ERESET && rv != APR_EOF)
                abort();
            if (rv != APR_SUCCESS)
                break;
            continue;
        }
        if (rv == APR_TIMEUP)
            continue;
        if (rv != APR_EOF && rv != XPIPE_ERESET && rv != XPIPE_EMODE)
            abort();
        if (len != 0)
            abort();
        break;
    }
    xpipe__frame_rx_free(&rx);
}

/* Send messages cut from data, then decode them: the same ones back. */
static void round_trip(xpipe__frame_kind_e kind, const uint8_t *data,
                       size_t size, uint32_t seed)
{
    static uint8_t wire[1 << 20];
    static unsigned char back[XPIPE_MESSAGE_MAX_LIMIT];
    sink_t sink = { wire, 0, sizeof(wire), seed };
    xpipe__frame_tx_t tx;
    xpipe__frame_rx_t rx;
    size_t off = 0, lens[256], nmsg = 0, k, at = 0;
    src_t src;

    memset(&tx, 0, sizeof(tx));
    tx.kind = kind;
    while (off < size && nmsg < 256) {
        size_t len = 1 + data[off] % 200;
        if (len > size - off)
            len = size - off;
        /* Committed or not sent at all: retry until it is out. */
        while (xpipe__frame_send(&tx, data + off, len, sink_write, &sink)
               != APR_SUCCESS)
            ;
        lens[nmsg++] = len;
        off += len;
    }
    while (xpipe__frame_flush(&tx, sink_write, &sink) != APR_SUCCESS)
        ;
    xpipe__frame_tx_free(&tx);
    memset(&rx, 0, sizeof(rx));
    rx.kind = kind;
    src.p = wire;
    src.len = sink.len;
    src.off = 0;
    src.rng = seed ^ 0x5a5a;
    for (k = 0; k < nmsg; k++) {
        apr_size_t len = sizeof(back);
        apr_status_t rv;
        while ((rv = xpipe__frame_recv(&rx, back, &len, src_read, &src))
               == APR_TIMEUP)
            len = sizeof(back);
        if (rv != APR_SUCCESS || len != lens[k]
            || memcmp(back, data + at, len) != 0)
            abort();
        at += len;
    }
    xpipe__frame_rx_free(&rx);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    xpipe__frame_kind_e kind;
    src_t src;
    apr_size_t cap;

    if (size < 4)
        return 0;
    kind = data[0] & 1 ? XPIPE__FRAME_U16LE : XPIPE__FRAME_U32BE;
    cap = 1 + ((apr_size_t)data[1] << 8 | data[2]) % xpipe__frame_max(kind);
    if (data[0] & 2) {
        round_trip(kind, data + 4, size - 4, data[3]);
        return 0;
    }
    src.p = data + 4;
    src.len = size - 4;
    src.off = 0;
    src.rng = data[3];
    decode_all(kind, &src, cap);
    return 0;
}
