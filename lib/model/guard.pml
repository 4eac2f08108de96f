/* SPDX-License-Identifier: Apache-2.0 */
/* guard.pml — the guard of lib/guard.c (guard_enter, guard_leave,
 * guard_interrupt, guard_close, guard_consume) as a Promela model, checked
 * exhaustively by Spin in ./run tests (lib/model/check.sh). When the guard
 * changes, this model changes with it.
 *
 * What is modelled: the state word (busy count, CLOSED, INTR) changed by
 * atomic operations, the mutex, the condition variable (a generation
 * counter: a wait releases the lock and waits for a broadcast atomically,
 * as pthread_cond_wait does), and the backend's wake object (a latch that
 * a blocked call sees). N callers each make CALLS calls; a call that got
 * in either completes (data), times out (only while not signalled, as a
 * poll() that also watches the wake fd), or returns XPIPE_ECANCELED when
 * signalled. One thread interrupts twice; one closes.
 *
 * Properties (assertions, plus Spin's own check for invalid end states,
 * i.e. deadlock):
 *   P1 no interrupt lost: a call in flight when an interrupt (or a close)
 *      woke the object never times out afterwards; it returns
 *      XPIPE_ECANCELED (or XPIPE_ECLOSED);
 *   P2 an interrupt is consumed at most once, and at the end either
 *      consumed or still pending;
 *   P3 close returns only when no call is in flight;
 *   P4 no call enters after close;
 *   P5 no deadlock;
 *   P6 a call in flight at close is done with the guard (its lock too)
 *      before close returns: the object may be freed then.
 * Seeded bugs (for showing that the check bites): -DSEED_CONSUME_BUSY
 * clears the interrupt while another call is in flight; -DSEED_NO_BROADCAST
 * forgets to wake the closer when the last call leaves;
 * -DSEED_LEAVE_UNLOCKED leaves as the code once did (counts itself out,
 * then takes the lock to wake the closer: close may have returned).
 */
#ifndef N
#define N 3
#endif
#ifndef CALLS
#define CALLS 2
#endif

#define SUCCESS 0
#define ECANCELED 1
#define ECLOSED 2
#define TIMEUP 3

/* The state word. */
byte busy = 0;
bool closed = false;
bool intr = false;

bool locked = false;     /* the mutex */
byte cv = 0;             /* the condition variable's broadcast count */
bool signalled = false;  /* the backend's wake object */
bool released = false;   /* close has returned: the guard may be freed */

/* Ghosts. */
bool incall[N];          /* between a successful enter and its leave */
bool owed[N];            /* woken while in flight: must not time out */
byte raised = 0, consumed = 0;

inline lock() { atomic { !locked -> locked = true } }
inline unlock() { locked = false }
inline broadcast() { cv++ }

/* Wake (or clear) the backend's object; a wake marks the calls in flight
 * as owed a return (P1). */
inline wake_on() {
    d_step {
        signalled = true;
        k = 0;
        do
        :: k < N -> owed[k] = owed[k] || incall[k]; k++
        :: else -> break
        od
    }
}

/* guard_consume: with the lock held, on a snapshot (sb, sc, si). */
inline consume() {
    if
#ifdef SEED_CONSUME_BUSY
    :: si && !sc -> atomic { intr = false; consumed++; assert(consumed <= raised) };
       signalled = false
#else
    :: si && sb == 0 && !sc -> atomic { intr = false; consumed++;
                                           assert(consumed <= raised) };
       signalled = false
#endif
    :: else -> skip
    fi
}

proctype caller(byte me) {
    byte n = 0, rv, sb, k, ob;
    bool sc, si, oc;

    do
    :: n == CALLS -> break
    :: n < CALLS ->
        n++;
        /* guard_enter: the fast path (one atomic operation), else the
         * locked path. */
        if
        :: atomic { !closed && !intr -> assert(!closed); busy++;
                    incall[me] = true; rv = SUCCESS }
        :: atomic { closed || intr -> skip };
           lock();
           d_step { sb = busy; sc = closed; si = intr };
           if
           :: sc -> rv = ECLOSED
           :: !sc && si -> rv = ECANCELED; consume()
           :: !sc && !si -> atomic { assert(!closed); busy++;
                                     incall[me] = true; rv = SUCCESS }
           fi;
           unlock()
        fi;
        if
        :: rv != SUCCESS -> goto next /* refused at the door */
        :: else -> skip
        fi;
        /* The backend's blocking call. */
        if
        :: rv = SUCCESS /* data came */
        :: atomic { signalled -> rv = ECANCELED }
        :: atomic { !signalled -> assert(!owed[me]); rv = TIMEUP } /* P1 */
        fi;
        /* guard_leave */
        if
        :: rv != ECANCELED ->
#ifdef SEED_LEAVE_UNLOCKED
            atomic { ob = busy; oc = closed; busy--; incall[me] = false;
                     owed[me] = false };
            if
            :: oc && ob == 1 -> lock(); assert(!released); broadcast();
               unlock()
            :: else -> skip
            fi
#else
            /* one atomic operation while open (a CAS that fails once
             * CLOSED is set); after close, under the lock */
            atomic {
                if
                :: !closed -> busy--; incall[me] = false; owed[me] = false;
                   oc = false
                :: else -> oc = true
                fi
            };
            if
            :: oc ->
                lock();
                assert(!released); /* P6 */
                d_step { busy--; incall[me] = false; owed[me] = false;
                         sb = busy };
#ifndef SEED_NO_BROADCAST
                if
                :: sb == 0 -> broadcast()
                :: else -> skip
                fi;
#endif
                unlock()
            :: else -> skip
            fi
#endif
        :: rv == ECANCELED ->
            lock();
            assert(!released); /* P6 */
            d_step { busy--; incall[me] = false; owed[me] = false;
                     sb = busy; sc = closed; si = intr };
            if
            :: sc -> rv = ECLOSED
            :: else -> skip
            fi;
            consume();
            if
            :: sc && sb == 0 -> broadcast()
            :: else -> skip
            fi;
            unlock()
        fi;
next:   skip
    od
}

proctype interrupter() {
    byte i = 0, k;

    do
    :: i == 2 -> break
    :: i < 2 ->
        i++;
        lock();
        if
        :: closed -> skip /* XPIPE_ECLOSED */
        :: !closed && !intr -> atomic { intr = true; raised++ }; wake_on()
        :: !closed && intr -> skip /* still pending */
        fi;
        unlock()
    od
}

proctype closer() {
    byte k, my, sb;
    bool si;

    lock();
    if
    :: !closed ->
        d_step { closed = true; sb = busy; si = intr };
        if
        :: sb > 0 -> wake_on() /* even with an interrupt pending */
        :: else -> skip
        fi;
        do
        :: busy > 0 -> /* pthread_cond_wait */
            atomic { my = cv; locked = false };
            (cv != my);
            lock()
        :: else -> break
        od;
        /* P3: nothing in flight once close returns. */
        assert(busy == 0);
        k = 0;
        do
        :: k < N -> assert(!incall[k]); k++
        :: else -> break
        od
    :: else -> skip
    fi;
    unlock();
    released = true
}

init {
    byte i;

    atomic {
        i = 0;
        do
        :: i < N -> run caller(i); i++
        :: else -> break
        od;
        run interrupter();
        run closer()
    }
    /* Everyone is done (P5: else Spin reports an invalid end state). */
    (_nr_pr == 1);
    /* P2 */
    assert(consumed <= raised);
    assert(consumed == raised || intr);
}
