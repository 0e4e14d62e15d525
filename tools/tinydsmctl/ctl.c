// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl: one request to tinydsmd over its control socket (migrate,
 * member), with tools/lib/ctl's client, and what tinydsmctl says when the
 * daemon cannot be reached.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tdd_ctl.h"
#include "tinydsmctl.h"

FILE *tdc_daemon_request(struct tdc *t, const char *path, int timeout_s,
			 const char *req, int *ret)
{
	int fd = tdd_ctl_connect(path, timeout_s);
	FILE *f;

	if (fd < 0) {
		tdc_err(t, "%s: tinydsmd is not running (cannot connect to %s: %s)",
			t->object, path, strerror(errno));
		*ret = TDC_EXIT_NODAEMON;
		return NULL;
	}
	*ret = TDC_EXIT_FAIL;
	if (tdd_ctl_send(fd, req)) {
		tdc_err(t, "%s: sending to tinydsmd: %s", t->object, strerror(errno));
		close(fd);
		return NULL;
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return NULL;
	}
	*ret = TDC_EXIT_OK;
	return f;
}
