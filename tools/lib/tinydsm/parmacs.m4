divert(-1)
dnl SPDX-License-Identifier: LGPL-2.1 OR MIT
dnl
dnl PARMACS on libtinydsm, for suites that run m4 on their .C and .H files
dnl (SPLASH-2 and SPLASH-3: `m4 MACROS prog.C > prog.c`):
dnl
dnl   m4 $TOP/tools/lib/tinydsm/parmacs.m4 prog.C > prog.c
dnl   cc -I$TOP/tools/lib/tinydsm -I$TOP/uapi -include parmacs.h -c prog.c
dnl
dnl The macros themselves are C macros, in parmacs.h: m4 leaves LOCK(x),
dnl CREATE(fn) ... as they are and the C preprocessor expands them, so
dnl that both ways of building a program give the same code. What m4 does
dnl here is only what the C preprocessor cannot:
dnl
dnl   - MAIN_ENV and EXTERN_ENV become the #include of parmacs.h (a .H that
dnl     uses the macros before its .C's EXTERN_ENV needs -include
dnl     parmacs.h on the compiler's line, which never hurts);
dnl   - a macro the program names without parentheses, which m4 allows
dnl     and a C function-like macro does not (MAIN_INITENV, for one), gets
dnl     them.
dnl
dnl Each of those expands to its own name quoted, so m4 does not expand
dnl it again.
define(`MAIN_ENV', `#include "parmacs.h"')
define(`EXTERN_ENV', `#include "parmacs.h"')
define(`ENV', `')
define(`NEWPROC', `')
define(`MAIN_INITENV', ``MAIN_INITENV'ifelse(`$#', `0', `()', `($@)')')
divert(0)dnl
