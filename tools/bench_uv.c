/* SPDX-License-Identifier: Apache-2.0 */
/* bench_uv.c — the libuv column of `xpipe-bench` (-Dbench_peers=enabled,
 * Debian's libuv1-dev): the same measurements with uv_pipe_t on the same
 * socket paths, written as a libuv program would be: one loop, callbacks,
 * writes queued with uv_write. Byte streams only: libuv has no message
 * mode, so that row is n/a.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define UV_INFLIGHT 8 /* stream writes queued at once */

static char bench_uv_rbuf[65536]; /* every read lands here (content unused) */
static char bench_uv_wbuf[65536]; /* every write comes from here */

/* A failure says where and why on stderr, then fails the measurement. */
static void bench_uv_failed(int *failed, const char *where, int status)
{
    fprintf(stderr, "xpipe: bench libuv: %s: %s\n", where,
            status < 0 ? uv_strerror(status) : "failed");
    *failed = 1;
}

static void bench_uv_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = bench_uv_rbuf;
    buf->len = sizeof(bench_uv_rbuf);
}

/* ------------------------------------------------------------------ */
/* Server */

typedef struct bench_uv_srv_t {
    uv_loop_t loop;
    uv_pipe_t listener;
    kind_e kind;
    long count; /* round trips, bytes or connections */
    long done;  /* connections closed (K_CONNECT) */
    int failed;
    int many; /* bench many: count clients at once, 64-byte echoes */
} bench_uv_srv_t;

typedef struct bench_uv_srv_conn_t {
    uv_pipe_t pipe; /* first: the handle's data points back here */
    bench_uv_srv_t *srv;
    long long got; /* bytes received */
    long pending;  /* RTT: bytes not yet answered */
    /* A write request stays busy until its callback, which may come after
     * the client's next request: a ring of them (writes finish in order;
     * a client has at most two answers outstanding). */
    uv_write_t wr[UV_INFLIGHT];
    unsigned long seq;
} bench_uv_srv_conn_t;

static void bench_uv_srv_closed(uv_handle_t *h)
{
    bench_uv_srv_conn_t *c = h->data;
    bench_uv_srv_t *s = c->srv;

    free(c);
    if ((s->kind == K_CONNECT || s->many) && ++s->done < s->count)
        return;
    if (!uv_is_closing((uv_handle_t *)&s->listener))
        uv_close((uv_handle_t *)&s->listener, NULL);
}

static void bench_uv_srv_written(uv_write_t *w, int status)
{
    if (status < 0 && status != UV_ECANCELED)
        bench_uv_failed(&((bench_uv_srv_conn_t *)w->data)->srv->failed,
                        "server write", status);
}

static void bench_uv_srv_reply(bench_uv_srv_conn_t *c, size_t len)
{
    uv_buf_t b = uv_buf_init(bench_uv_wbuf, (unsigned int)len);
    uv_write_t *w = &c->wr[c->seq++ % UV_INFLIGHT];
    int rc;

    w->data = c;
    rc = uv_write(w, (uv_stream_t *)&c->pipe, &b, 1, bench_uv_srv_written);
    if (rc < 0)
        bench_uv_failed(&c->srv->failed, "server uv_write", rc);
}

static void bench_uv_srv_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    bench_uv_srv_conn_t *c = st->data;
    bench_uv_srv_t *s = c->srv;

    (void)buf;
    if (n < 0) { /* end of stream (or error): this client is done */
        uv_close((uv_handle_t *)st, bench_uv_srv_closed);
        return;
    }
    c->got += n;
    switch (s->kind) {
    case K_RTT_BYTE: /* answer each whole 64-byte request */
        c->pending += (long)n;
        if (c->pending >= 64) {
            c->pending -= 64;
            bench_uv_srv_reply(c, 64);
        }
        break;
    case K_STREAM_64K:
    case K_STREAM_4K:
    case K_STREAM_64K_4M:
        if (c->got == s->count)
            bench_uv_srv_reply(c, 1); /* all in: acknowledge */
        break;
    default:
        if (c->got == 1)
            bench_uv_srv_reply(c, 1);
        break;
    }
}

/* A kind's socket buffers on a connected pipe (none: the default). */
static int bench_uv_buffers(uv_pipe_t *pipe, kind_e kind)
{
    int v = KIND_BUFFERS(kind);

    if (v == 0)
        return 0;
    if (uv_send_buffer_size((uv_handle_t *)pipe, &v) < 0)
        return -1;
    v = KIND_BUFFERS(kind);
    return uv_recv_buffer_size((uv_handle_t *)pipe, &v);
}

static void bench_uv_srv_conn(uv_stream_t *l, int status)
{
    bench_uv_srv_t *s = l->data;
    bench_uv_srv_conn_t *c;

    if (status < 0 || (c = calloc(1, sizeof(*c))) == NULL) {
        bench_uv_failed(&s->failed, "server accept", status);
        return;
    }
    c->srv = s;
    uv_pipe_init(&s->loop, &c->pipe, 0);
    c->pipe.data = c;
    if (uv_accept(l, (uv_stream_t *)&c->pipe) < 0
        || bench_uv_buffers(&c->pipe, s->kind) < 0
        || uv_read_start((uv_stream_t *)&c->pipe, bench_uv_alloc,
                         bench_uv_srv_read)
               < 0) {
        bench_uv_failed(&s->failed, "server uv_accept/uv_read_start", 0);
        uv_close((uv_handle_t *)&c->pipe, bench_uv_srv_closed);
    }
}

/* One server loop: kind, or (many) count clients of 64-byte echoes. */
static int bench_uv_run(kind_e kind, const char *native, long count, int many)
{
    bench_uv_srv_t s;
    int rc;

    memset(&s, 0, sizeof(s));
    s.kind = kind;
    s.count = count;
    s.many = many;
    unlink(native);
    if (uv_loop_init(&s.loop) < 0)
        return 1;
    uv_pipe_init(&s.loop, &s.listener, 0);
    s.listener.data = &s;
    if ((rc = uv_pipe_bind(&s.listener, native)) < 0
        || (rc = uv_listen((uv_stream_t *)&s.listener, many ? 128 : 8,
                           bench_uv_srv_conn))
               < 0) {
        bench_uv_failed(&s.failed, native, rc);
        return 1;
    }
    uv_run(&s.loop, UV_RUN_DEFAULT);
    uv_loop_close(&s.loop);
    unlink(native);
    return s.failed;
}

int bench_uv_serve(kind_e kind, const char *native, long count)
{
    if (kind == K_RTT_MSG)
        return 0; /* n/a: byte streams only */
    return bench_uv_run(kind, native, count, 0);
}

int bench_uv_many_serve(const char *native, long n)
{
    return bench_uv_run(K_RTT_BYTE, native, n, 1);
}

/* ------------------------------------------------------------------ */
/* Client */

typedef struct bench_uv_cli_t {
    uv_loop_t loop;
    uv_pipe_t pipe;
    uv_connect_t creq;
    uv_timer_t retry;
    uv_write_t wreq[UV_INFLIGHT];
    const char *native;
    kind_e kind;
    long count;
    long k; /* round trips / connections done */
    long long sent, got, total;
    int inflight, failed, waiting_server;
    unsigned long seq; /* writes issued */
    apr_uint64_t t0, start, deadline;
    double *lat;
} bench_uv_cli_t;

static void bench_uv_cli_connect(bench_uv_cli_t *c);

static void bench_uv_cli_written(uv_write_t *w, int status);

static void bench_uv_cli_write(bench_uv_cli_t *c, size_t len)
{
    uv_buf_t b = uv_buf_init(bench_uv_wbuf, (unsigned int)len);
    /* Writes on a stream complete in order: with at most UV_INFLIGHT
     * queued, the slot after the newest is free. */
    uv_write_t *w = &c->wreq[c->seq++ % UV_INFLIGHT];

    c->inflight++;

    w->data = c;
    int rc = uv_write(w, (uv_stream_t *)&c->pipe, &b, 1, bench_uv_cli_written);

    if (rc < 0)
        bench_uv_failed(&c->failed, "client uv_write", rc);
}

/* Streams: keep UV_INFLIGHT writes queued until all are out. */
static void bench_uv_cli_fill(bench_uv_cli_t *c)
{
    long chunk = KIND_CHUNK(c->kind);

    while (c->sent < c->total && c->inflight < UV_INFLIGHT) {
        c->sent += chunk;
        bench_uv_cli_write(c, (size_t)chunk);
    }
}

static void bench_uv_cli_written(uv_write_t *w, int status)
{
    bench_uv_cli_t *c = w->data;

    c->inflight--;
    /* Cancelled: the handle was closed after the server had acknowledged
     * every byte, before this callback ran. */
    if (status < 0 && status != UV_ECANCELED)
        bench_uv_failed(&c->failed, "client write", status);
    else if (KIND_IS_STREAM(c->kind))
        bench_uv_cli_fill(c);
}

static void bench_uv_cli_closed(uv_handle_t *h)
{
    bench_uv_cli_t *c = h->data;

    if (c->kind == K_CONNECT && !c->failed && ++c->k < c->count) {
        if (c->k == 1)
            c->start = bench_now_ns(); /* the first waited for the server */
        bench_uv_cli_connect(c);
    }
}

static void bench_uv_cli_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    bench_uv_cli_t *c = st->data;

    (void)buf;
    if (n < 0) {
        bench_uv_failed(&c->failed, "client read", (int)n);
        uv_close((uv_handle_t *)st, bench_uv_cli_closed);
        return;
    }
    c->got += n;
    if (c->kind == K_RTT_BYTE && c->got >= 64) {
        c->got -= 64;
        c->lat[c->k++] = (double)(bench_now_ns() - c->t0) / 1000.0;
        if (c->k == c->count) {
            uv_close((uv_handle_t *)st, bench_uv_cli_closed);
            return;
        }
        c->t0 = bench_now_ns();
        bench_uv_cli_write(c, 64);
    }
    else if (c->kind != K_RTT_BYTE && c->got >= 1) /* ack or echo */
        uv_close((uv_handle_t *)st, bench_uv_cli_closed);
}

static void bench_uv_cli_retry(uv_timer_t *t)
{
    bench_uv_cli_connect(t->data);
}

static void bench_uv_cli_connected(uv_connect_t *req, int status)
{
    bench_uv_cli_t *c = req->data;

    if (status < 0) { /* not up yet (or backlog full): retry shortly */
        uv_close((uv_handle_t *)&c->pipe, NULL);
        if (bench_now_ns() > c->deadline) {
            bench_uv_failed(&c->failed, "connect (for 10 s)", status);
            return;
        }
        c->waiting_server = 1;
        uv_timer_start(&c->retry, bench_uv_cli_retry, 1, 0);
        return;
    }
    c->got = 0;
    if (bench_uv_buffers(&c->pipe, c->kind) < 0
        || uv_read_start((uv_stream_t *)&c->pipe, bench_uv_alloc,
                         bench_uv_cli_read)
               < 0) {
        bench_uv_failed(&c->failed, "client uv_read_start", 0);
        return;
    }
    c->t0 = bench_now_ns();
    if (c->kind == K_RTT_BYTE)
        bench_uv_cli_write(c, 64);
    else if (c->kind == K_CONNECT)
        bench_uv_cli_write(c, 1);
    else {
        c->start = c->t0;
        bench_uv_cli_fill(c);
    }
}

static void bench_uv_cli_connect(bench_uv_cli_t *c)
{
    uv_pipe_init(&c->loop, &c->pipe, 0);
    c->pipe.data = c;
    c->creq.data = c;
    uv_pipe_connect(&c->creq, &c->pipe, c->native, bench_uv_cli_connected);
}

int bench_uv_measure(kind_e kind, const char *native, long count, result_t *res)
{
    bench_uv_cli_t c;
    apr_uint64_t end;

    memset(res, 0, sizeof(*res));
    if (kind == K_RTT_MSG) {
        res->na = 1;
        return 0;
    }
    memset(&c, 0, sizeof(c));
    c.native = native;
    c.kind = kind;
    c.count = kind == K_RTT_BYTE || kind == K_CONNECT ? count : 1;
    c.total = KIND_IS_STREAM(kind) ? count : 0;
    c.deadline = bench_now_ns() + 10000000000ull;
    if (kind == K_RTT_BYTE
        && (c.lat = malloc(sizeof(double) * (size_t)count)) == NULL)
        return -1;
    if (uv_loop_init(&c.loop) < 0)
        return -1;
    uv_timer_init(&c.loop, &c.retry);
    c.retry.data = &c;
    bench_uv_cli_connect(&c);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    end = bench_now_ns();
    uv_close((uv_handle_t *)&c.retry, NULL);
    uv_run(&c.loop, UV_RUN_DEFAULT);
    uv_loop_close(&c.loop);
    if (!c.failed && kind == K_RTT_BYTE)
        bench_latencies(c.lat, count, count / 10, res);
    else if (!c.failed && kind == K_CONNECT)
        res->per_sec = (double)(count - 1) * 1e9 / (double)(end - c.start);
    else if (!c.failed)
        res->per_sec = (double)count * 1e9 / (double)(end - c.start);
    free(c.lat);
    return c.failed ? -1 : 0;
}

const char *bench_uv_version(void)
{
    return uv_version_string();
}
