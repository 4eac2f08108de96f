/* SPDX-License-Identifier: Apache-2.0 */
/* slice.pml — the POSIX blocking slice (backends/posix/wake.c:
 * xpipe__unix_slice_start/stop/may/shut; conn.c and listen.c: a call
 * sleeping in the system call for a slice, close shutting the socket
 * down) as a Promela model, checked exhaustively by Spin in ./run tests
 * (with lib/model/check.py). Change it with those files.
 *
 * Two callers (a reader and a writer: one of each may be in flight on a
 * channel) make calls on a socket whose peer never sends: each call
 * may sleep in the system call for a slice (state SLICED, no interrupt
 * seen), else tries without blocking, then waits in poll() for the wake
 * flag. Having had to wait, it switches the socket to slices. A stopper
 * (xpipe_os_handle_get, or overlapping accepts) makes the socket
 * non-blocking for good at any moment. An interrupter raises the flag;
 * a closer raises it, marks the object closing, shuts the socket down
 * when a call may sleep in a slice, then waits for the call in flight.
 *
 * A slice ends on its own after a while (the timeout): modelled as a
 * step allowed only until the closer has done its part. So a call left
 * asleep after close (the slice would delay close by up to its length,
 * which close promises never to do) is a deadlock to Spin. Checked: no
 * deadlock (close always reaches a sleeping call at once, an interrupt
 * always ends the call after its slice), and the caller never sleeps in
 * a slice it was not allowed (a non-blocking try on a blocking socket).
 * -DSEED_STATE_ONLY: close shuts down only when the state is SWITCHING
 * or SLICED now (not "was ever sliced"): Spin must find the call left
 * asleep after a stop.
 */
#define NB 0
#define SWITCHING 1
#define SLICED 2
#define NB_GOOD 3
#define CALLS 2

bool signalled = false; /* the wake object's flag */
byte state = NB;
bool used = false;      /* has been SLICED */
bool blocking = false;  /* the socket's O_NONBLOCK is clear */
bool shut = false;      /* shutdown(SHUT_RDWR) was called */
bool close_done = false; /* the closer has done its wake */
bool closed = false;    /* the guard's closed flag */
byte in_call = 0;      /* calls in flight */

proctype caller() {
    byte k = 0;
    bool slice;

    do
    :: k == CALLS -> break
    :: k < CALLS ->
        k++;
        atomic {
            if
            :: closed -> break /* XPIPE_ECLOSED */
            :: else -> in_call++
            fi
        };
        /* slice_may: the state, then the flag */
        slice = (state == SLICED);
        if
        :: slice -> slice = !signalled
        :: else -> skip
        fi;
        if
        :: slice ->
            /* no MSG_DONTWAIT: sleeps if the socket blocks */
            if
            :: blocking ->
                if
                :: shut -> skip /* woken by close: EOF or EPIPE */
                :: !close_done -> skip /* the slice ran out: EAGAIN */
                fi
            :: else -> skip /* stopped meanwhile: EAGAIN at once */
            fi
        :: else -> skip /* MSG_DONTWAIT: EAGAIN at once */
        fi;
        /* had to wait: switch to slices (slice_start) */
        atomic {
            if
            :: state == NB -> state = SWITCHING
            :: else -> goto waited
            fi
        };
        blocking = true;
        used = true;
        atomic {
            if
            :: state == SWITCHING -> state = SLICED
            :: else -> skip /* cannot happen: stop waits out SWITCHING */
            fi
        };
waited:
        /* the poll() on the socket and the wake fd */
        if
        :: signalled -> skip
        :: shut -> skip
        fi;
        /* the guard consumes an interrupt, never a close's wake-up */
        atomic {
            in_call--;
            if
            :: !closed && in_call == 0 -> signalled = false
            :: else -> skip
            fi
        }
    od
}

proctype stopper() {
    /* slice_stop: waits out a switch, then non-blocking for good */
    do
    :: state == NB -> atomic { if :: state == NB -> state = NB_GOOD; break
                               :: else -> skip fi }
    :: state == SLICED -> atomic { if :: state == SLICED -> state = NB_GOOD
                                   :: else -> skip fi };
        blocking = false; break
    :: state == NB_GOOD -> break
    od
}

proctype interrupter() {
    signalled = true
}

proctype closer() {
    closed = true;
    /* backend wake(closing): the flag first, then the state */
    signalled = true;
#ifdef SEED_STATE_ONLY
    if
    :: state == SWITCHING || state == SLICED -> shut = true
    :: else -> skip
    fi;
#else
    if
    :: state == SWITCHING || used -> shut = true
    :: else -> skip
    fi;
#endif
    close_done = true;
    /* the guard waits for the calls in flight */
    in_call == 0
}

init {
    atomic {
        run caller();
        run caller();
        run stopper();
        run interrupter();
        run closer()
    }
}
