/* SPDX-License-Identifier: Apache-2.0 */
/* xsys.h — white-box tests only: the backend's system-call table, typed
 * per OS, and one way to stand in for its entries. xt_sys_take() saves the
 * real entries (in xt_sys_real, for the stand-ins to call) and restores
 * them when the test ends, even when a failed assertion ends it early.
 * The table is hidden in the shared library: these tests link the static
 * one.
 */
#ifndef XPIPE_XSYS_H
#define XPIPE_XSYS_H

#include "xtest.h"

#ifdef _WIN32
#include <windows.h>
#include "../backends/win32/sys.h"
typedef xpipe__win32_sys_t xt_sys_t;
#define XT_SYS (&xpipe__win32_sys)
#else
#include "../backends/posix/sys.h"
#undef unix_sys
typedef xpipe__unix_sys_t xt_sys_t;
#define XT_SYS (&xpipe__unix_sys)
#endif

/* The real entries, while a test stands in for some. */
extern xt_sys_t xt_sys_real;

/* The live table, its real entries saved, restored at the test's end. */
xt_sys_t *xt_sys_take(void);
/* Put the real entries back now. */
void xt_sys_restore(void);

#endif
