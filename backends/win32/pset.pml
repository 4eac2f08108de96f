/* SPDX-License-Identifier: Apache-2.0 */
/* pset.pml — the Win32 poll set's wait (backends/win32/poll.c:
 * xpipe__win32_pset_wait, _pset_wakeup) under lib/poll.c's wake-up latch,
 * as a Promela model checked exhaustively by Spin in ./run tests (with
 * lib/model/check.py). Change it with poll.c.
 *
 * One poller polls until it has returned the wake-up and taken every
 * packet. A waker raises lib's latch (under the set's lock) and the
 * backend's poke flag, then sets the event; an I/O source completes zero-
 * byte reads: a packet on the port and the event set. The wait drains
 * the port, resets the event, takes poke, drains again, and returns to
 * collect when either had something (collect sets the event again for
 * what is ready: event loops poll only while it is set), else waits on
 * the event, drains. Checked: no lost wake-up or packet (the poller never
 * sleeps forever on the event while one is pending: an invalid end
 * state), no deadlock.
 * -DSEED_NO_POKE: the wait does not look at poke after its reset (the
 * first version of poll.c): Spin must find the wake-up lost.
 */
#define PACKETS 2

bool sig = false;     /* the set's manual-reset event */
bool poke = false;    /* the backend's flag */
bool woken = false;   /* lib's latch, under the lock */
byte port = 0;        /* packets queued */
bool lock = false;    /* the set's lock */
byte taken = 0;       /* packets the poller has collected */
bool cancelled = false;

inline acquire() { atomic { !lock -> lock = true } }
inline release() { lock = false }

proctype waker() {
    acquire();
    if
    :: !woken -> woken = true; poke = true; sig = true
    :: else -> skip
    fi;
    release()
}

proctype source() {
    byte i = 0;
    do
    :: i == PACKETS -> break
    :: i < PACKETS -> atomic { port++; sig = true }; i++
    od
}

proctype poller() {
    byte got;
    bool waited_ok, poked;
poll_loop:
    do
    :: cancelled && taken == PACKETS -> break
    :: else ->
        acquire();
        if
        :: woken -> woken = false; cancelled = true; release()
        :: else ->
            release();
            /* pset_wait */
            got = 0;
            waited_ok = false;
            poked = false;
            atomic { got = port; port = 0 };
            if
            :: got > 0 -> waited_ok = true
            :: else ->
                sig = false; /* ResetEvent */
#ifndef SEED_NO_POKE
                atomic { poked = poke; poke = false };
#endif
                atomic { got = port; port = 0 };
                if
                :: got > 0 || poked -> skip /* to collect (lib tells) */
                :: else ->
wait_sig:           sig; /* WaitForSingleObject(sig, INFINITE) */
                    atomic { got = port; port = 0 };
                    atomic { /* nothing drained: a wake-up's poke */
                        if
                        :: got == 0 && poke -> poke = false
                        :: else -> skip
                        fi
                    }
                fi
            fi;
collect:
            /* lib: collect under the lock, then the latch */
            acquire();
            taken = taken + got;
            release()
        fi
    od
}

init {
    atomic { run waker(); run source(); run poller() }
}
