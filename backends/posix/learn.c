/* SPDX-License-Identifier: Apache-2.0 */
/* learn.c — what a stream receive learns about its peer, per channel and
 * per process, to choose between trying first and waiting first, and
 * where to wait (recv() for a slice, or poll()): the measurements behind
 * each rule are beside it. conn.c asks before each receive and tells what
 * the receive found.
 */
#include "posix.h"

/* A stream receive that waits first (what it waits for comes late): in
 * recv() for a slice, or in poll()? Where the peer runs on another CPU,
 * in recv(), as raw does: a system call less than poll() and recv(), and
 * little wakes it for nothing (on two CPUs raw's blocking byte round trip
 * took 22.7 us, poll()'s 30.6). Where the peer shares this CPU, in
 * poll(): a thread asleep in a SOCK_STREAM recv() is also woken when the
 * peer reads what this end sent (the write-space callback), to find
 * nothing and sleep again: raw's blocking round trip there makes 1.8
 * context switches per side to poll()'s 1.0, and takes 20% longer. (A
 * stream's reader asleep in recv() is switched out more as well: 0.32
 * switches per 4 KiB write, 0.17 for one that tries and waits in poll(),
 * which moves 18% more; such a reader mostly finds data, though, and
 * tries.) Neither end knows where the other runs; a probe tells: a
 * receive that sleeps in recv() and is woken once makes one voluntary
 * switch, one woken for nothing first makes two (where the peer runs on
 * another CPU, that happens now and then too: the peer reading our last
 * answer wakes us once we sleep; on one CPU, mostly). What probes found
 * is learned per channel (a score from 0 to UNIX_LATE_MAX; recv() at
 * UNIX_LATE_SLICE or more), a probe every UNIX_LATE_PROBE-th late
 * receive, every UNIX_LATE_PROBE_IDLE-th at 0 (a probe costs two
 * getrusage calls, and where the answer is poll() a wasted switch). */
#define UNIX_LATE_MAX 8
#define UNIX_LATE_SLICE 4
#define UNIX_LATE_PROBE 8
#define UNIX_LATE_PROBE_IDLE 64

int xpipe__unix_late_slice(xpipe__chan_t *c)
{
    unsigned int every =
        c->late_score == 0 ? UNIX_LATE_PROBE_IDLE : UNIX_LATE_PROBE;

    if (++c->late_count % every != 0)
        return c->late_score >= UNIX_LATE_SLICE;
    c->late_probe = unix_sys.switches();
    return c->late_probe >= 0;
}

/* After a probe's receive: learned when it slept in recv() for a slice
 * and was woken with data (a slice that ran out says nothing). */
void xpipe__unix_late_learn(xpipe__chan_t *c, int slept_with_data)
{
    long made = slept_with_data ? unix_sys.switches() - c->late_probe : 0;

    c->late_probe = -1;
    if (made == 1 && c->late_score < UNIX_LATE_MAX)
        c->late_score++;
    else if (made >= 2 && c->late_score > 0)
        c->late_score--;
}

/* Is what a stream receive waits for already there when it comes? For
 * an answer to what we sent, on one CPU it mostly is: our send woke the
 * peer, which ran at once, answered, and went back to wait before we
 * came back. On two it mostly is not yet. For a stream being read, it
 * mostly is (the writer ran while we did not); for requests that come
 * now and then, it is not. A stream receive tries first when so (and
 * waits in poll() if it must), and waits first otherwise (where:
 * xpipe__unix_late_slice). What a try found is learned, per channel (a score
 * from 0 to UNIX_REPLY_MAX; it tries at UNIX_REPLY_TRY or more)
 * and process-wide, for a new channel's first receive. A wrong guess
 * costs one call: an EAGAIN receive, or a poll() that did not sleep.
 * Below the mark every UNIX_REPLY_PROBE-th receive tries anyway, so
 * that a change is seen. */
#define UNIX_REPLY_MAX 15
#define UNIX_REPLY_TRY 8
#define UNIX_REPLY_PROBE 8

static xpipe__a32_t unix_reply_score = UNIX_REPLY_TRY;
static xpipe__a32_t unix_reply_probes;

/* A new channel starts from what the process has learned. */
void xpipe__unix_reply_init(xpipe__chan_t *c)
{
    c->reply_score = (int)xpipe__a32_get(&unix_reply_score);
    /* Not every new channel probes at once: the process-wide count
     * spreads them (only channels that start below the mark take it). */
    c->reply_count = c->reply_score >= UNIX_REPLY_TRY
                         ? 0
                         : xpipe__a32_add(&unix_reply_probes, 1);
}

int xpipe__unix_reply_try(xpipe__chan_t *c)
{
    return c->reply_score >= UNIX_REPLY_TRY
           || ++c->reply_count % UNIX_REPLY_PROBE == 0;
}

/* One step of a score towards ready (the answer was there) or not. */
static int unix_reply_step(int score, int ready)
{
    if (ready)
        return score < UNIX_REPLY_MAX ? score + 1 : score;
    return score > 0 ? score - 1 : 0;
}

/* What a receive that tried first found. */
void xpipe__unix_reply_learn(xpipe__chan_t *c, int ready)
{
    apr_uint32_t was = xpipe__a32_get(&unix_reply_score);
    apr_uint32_t now = (apr_uint32_t)unix_reply_step((int)was, ready);

    c->reply_score = unix_reply_step(c->reply_score, ready);
    /* Shared by every channel: written only when it moves (at either
     * end it stays put). A hint: threads may race on it. */
    if (now != was)
        xpipe__a32_set(&unix_reply_score, now);
}

int xpipe__unix_late_sleeps(const xpipe__chan_t *c)
{
    return c->late_score >= UNIX_LATE_SLICE;
}
