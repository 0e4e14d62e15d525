// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl: generic netlink — the family's client is tools/lib/nl
 * (tdsm_nl.h); here is what tinydsmctl says when a request fails, and the
 * retried dump.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/tinydsm.h>
#include <netlink/errno.h>
#include <netlink/msg.h>
#include <netlink/socket.h>

#include "tdsm_nl.h"
#include "tinydsmctl.h"

/* A dump that keeps changing under us is retried this many times. */
#define TDC_DUMP_TRIES	5

int tdc_nl_open(struct tdc *t)
{
	int err;

	if (t->sk)
		return TDC_EXIT_OK;
	err = tnl_sock_open(&t->sk);
	if (err == -NLE_NOMEM) {
		tdc_err(t, "cannot allocate a netlink socket");
		return TDC_EXIT_FAIL;
	}
	if (err < 0) {
		tdc_err(t, "cannot open a generic netlink socket: %s",
			nl_geterror(err));
		return TDC_EXIT_FAIL;
	}

	t->family = tnl_family(t->sk);
	if (t->family == -NLE_OBJ_NOTFOUND) {
		tdc_err(t, "the tinydsm module is not loaded (no generic netlink family \"%s\" in this network namespace)",
			TINYDSM_GENL_NAME);
		tdc_nl_close(t);
		return TDC_EXIT_NOFAMILY;
	}
	if (t->family < 0) {
		tdc_err(t, "cannot look up the generic netlink family \"%s\": %s",
			TINYDSM_GENL_NAME, nl_geterror(t->family));
		tdc_nl_close(t);
		return TDC_EXIT_FAIL;
	}
	return TDC_EXIT_OK;
}

void tdc_nl_close(struct tdc *t)
{
	if (t->sk) {
		nl_socket_free(t->sk);
		t->sk = NULL;
	}
}

struct nl_msg *tdc_nl_msg(struct tdc *t, uint8_t cmd, int flags)
{
	return tnl_msg(t->family, cmd, flags);
}

/* Say why @what failed, the kernel's own words included. */
static void tdc_report(struct tdc *t, const char *what,
		       const struct tnl_reply *r)
{
	char miss[64] = "";

	if (r->miss_type >= 0)
		snprintf(miss, sizeof(miss), " (missing %s)",
			 tnl_attr_name(r->miss_type));
	tdc_err(t, "%s: %s (%s)%s%s%s", what, strerror(-r->error),
		tdc_errno_name(r->error), r->msg[0] ? ": " : "", r->msg, miss);
}

/* How a request ended: tnl_xfer()'s @err and @r; said when it failed. */
static int tdc_nl_result(struct tdc *t, const char *what, int err,
			 const struct tnl_reply *r)
{
	if (err < 0) {
		tdc_err(t, "%s: netlink: %s", what, nl_geterror(err));
		return TDC_EXIT_FAIL;
	}
	if (r->row_err) {
		tdc_err(t, "%s: %s", what, strerror(-r->row_err));
		return TDC_EXIT_FAIL;
	}
	if (r->error) {
		tdc_report(t, what, r);
		return TDC_EXIT_FAIL;
	}
	return TDC_EXIT_OK;
}

int tdc_nl_call(struct tdc *t, struct nl_msg *msg, const char *what,
		int (*row)(const struct nlmsghdr *nlh, void *arg), void *arg)
{
	struct tnl_reply r = { .row = row, .arg = arg };
	int err;

	err = tnl_xfer(t->sk, msg, &r);
	t->nl_error = r.error;
	return tdc_nl_result(t, what, err, &r);
}

int tdc_nl_do(struct tdc *t, struct nl_msg *msg, const char *what)
{
	return tdc_nl_call(t, msg, what, NULL, NULL);
}

/*
 * Dump @cmd, calling @row for every message. If the dump was interrupted
 * by a change (NLM_F_DUMP_INTR), @restart forgets the rows and it runs
 * again, a few times at most.
 */
int tdc_nl_dump(struct tdc *t, uint8_t cmd, const char *what,
		int (*row)(const struct nlmsghdr *nlh, void *arg),
		void (*restart)(void *arg), void *arg)
{
	struct tnl_reply r = { .row = row, .arg = arg };
	struct nl_msg *msg;
	int tries, ret;

	for (tries = 0; tries < TDC_DUMP_TRIES; tries++) {
		restart(arg);
		msg = tdc_nl_msg(t, cmd, NLM_F_DUMP);
		if (!msg) {
			tdc_err(t, "%s: out of memory", what);
			return TDC_EXIT_FAIL;
		}
		ret = tdc_nl_result(t, what, tnl_xfer(t->sk, msg, &r), &r);
		if (ret != TDC_EXIT_OK)
			return ret;
		if (!r.intr)
			return TDC_EXIT_OK;
	}
	tdc_err(t, "%s: the nodes kept changing during the dump (%d tries)",
		what, TDC_DUMP_TRIES);
	return TDC_EXIT_FAIL;
}

static void tdc_bad_attr(unsigned int type, int len, void *arg)
{
	tdc_err(arg, "warning: ignoring %s of %d bytes from the kernel",
		tnl_attr_name(type), len);
}

/*
 * The attributes of one message of command @cmd (tnl_parse()), with a
 * warning for an attribute of a bad length. -EINVAL if not a @cmd message.
 */
int tdc_genl_attrs(struct tdc *t, const struct nlmsghdr *nlh, uint8_t cmd,
		   const struct nlattr **tb)
{
	return tnl_parse(nlh, cmd, tb, tdc_bad_attr, t);
}
