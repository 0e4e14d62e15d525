/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: the transport floor (echo.c): ECHO, a page's round trip with
 * nothing of any page's state in it, and its benchmark file in debugfs.
 */
#ifndef _TDSM_ECHO_H
#define _TDSM_ECHO_H

struct tdsm_conn;
struct tdsm_wire_msg;

int tdsm_echo_init(void);
void tdsm_echo_exit(void);
void tdsm_handle_echo(struct tdsm_conn *conn, const struct tdsm_wire_msg *msg);

#endif /* _TDSM_ECHO_H */
