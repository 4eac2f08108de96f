/* time.c — PRIVATE: deadline helpers shared by lib/ and the backends. */
#include "backend.h"

apr_time_t xpipe__deadline(apr_interval_time_t timeout)
{
    if (timeout < 0)
        return XPIPE__FOREVER;
    return apr_time_now() + timeout;
}

int xpipe__remaining_ms(apr_time_t deadline)
{
    apr_time_t left;

    if (deadline == XPIPE__FOREVER)
        return -1;
    left = deadline - apr_time_now();
    if (left <= 0)
        return 0;
    /* Round up so a wait never ends just before the deadline. */
    left = (left + 999) / 1000;
    return left > 0x7fffffff ? 0x7fffffff : (int)left;
}
