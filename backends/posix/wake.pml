/* SPDX-License-Identifier: Apache-2.0 */
/* wake.pml — the POSIX wake object's slot protocol (backends/posix/
 * wake.c: xpipe__unix_wait2 registering a thread's wake fd in a slot,
 * unix_slot_leave, and xpipe__unix_wake_set signalling the slots) as a
 * Promela model, checked exhaustively by Spin in ./run tests (with
 * lib/model/check.py). Change it with wake.c.
 *
 * W waiter threads each wait twice: register their fd in a free slot
 * (CAS from 0), look at the flag, wait, leave the slot; after their last
 * wait they exit, which closes their fd. Two wakers set the flag and
 * signal every registered fd. Checked: a fd is never written once its
 * thread has closed it (the bug this protocol fixes), and no deadlock (a
 * waiter leaving its slot never waits forever for a waker).
 * -DSEED_PLAIN_LEAVE: leave the slot with a plain store (the old code):
 * Spin must find the write to a closed fd.
 */
#define W 2     /* waiters */
#define SLOTS 2
#define BUSY 128

bool flag = false;             /* signalled */
byte slot[SLOTS];              /* 0 free, else waiter id + 1, | BUSY */
bool fd_open[W];               /* the waiter's wake fd exists */
byte pending[W];               /* signals written to it, not yet drained */

proctype waiter(byte me) {
    byte s, round = 0;
    bool got;

    fd_open[me] = true;
    do
    :: round == 2 -> break
    :: round < 2 ->
        round++;
        /* register in a free slot (or use none: the object's own fd,
         * not modelled, serves then) */
        s = 0;
        do
        :: s == SLOTS -> break
        :: s < SLOTS -> atomic { if
                                 :: slot[s] == 0 -> slot[s] = me + 1; break
                                 :: else -> s++
                                 fi }
        od;
        /* look at the flag after registering; then poll */
        got = flag;
        if
        :: got -> skip
        :: !got && s < SLOTS ->
            /* poll() returns on a signal, or at the deadline (timeout);
             * a timeout is fine unless the flag was set meanwhile and
             * nobody signalled us: checked at the end */
            if
            :: atomic { pending[me] > 0 -> pending[me]-- }
            :: skip /* the deadline */
            fi
        :: else -> skip
        fi;
        /* leave the slot */
        if
        :: s < SLOTS ->
#ifdef SEED_PLAIN_LEAVE
            slot[s] = 0
#else
            atomic { slot[s] == me + 1 -> slot[s] = 0 } /* waits out BUSY */
#endif
        :: else -> skip
        fi
    od;
    /* the thread ends: its key destructor closes the wake fd */
    fd_open[me] = false
}

proctype waker() {
    byte s = 0, v;

    flag = true;
    do
    :: s == SLOTS -> break
    :: s < SLOTS ->
        v = slot[s];
        if
        :: v != 0 && v < BUSY ->
            atomic { if
                     :: slot[s] == v -> slot[s] = v | BUSY
                     :: else -> v = 0 /* changed: someone else's now */
                     fi };
            if
            :: v != 0 ->
                /* write(fd): the fd must still be open */
                assert(fd_open[v - 1]);
                pending[v - 1]++;
                slot[s] = v
            :: else -> skip
            fi
        :: else -> skip
        fi;
        s++
    od
}

init {
    atomic {
        run waiter(0);
        run waiter(1);
        run waker();
        run waker()
    }
}
