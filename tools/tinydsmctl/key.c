// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmctl key: the cluster key.
 *
 *   tinydsmctl key generate [ --force ] FILE
 *   tinydsmctl key set FILE
 *
 * generate writes a fresh random key to FILE (mode 0600); set gives the
 * key in FILE to the module (TINYDSM_CMD_KEY_SET, CAP_NET_ADMIN). The key
 * never appears on the command line, in the environment or in the output.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <linux/tinydsm.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <sodium.h>

#include "keyfile.h"
#include "tinydsmctl.h"

static int key_help(struct tdc *t)
{
	fprintf(t->help_out,
		"Usage: %s key generate [ --force ] FILE\n"
		"       %s key set FILE\n"
		"       %s key help\n"
		"generate: write a new random cluster key to FILE (mode 0600); an\n"
		"          existing FILE is kept unless --force. Copy the same file to\n"
		"          every node (only root should be able to read it).\n"
		"set:      give the key in FILE to the module (needs CAP_NET_ADMIN);\n"
		"          connections made from then on must prove the key. FILE\n"
		"          must be mode 0600 or 0400.\n",
		t->prog, t->prog, t->prog);
	return TDC_EXIT_OK;
}

static int key_generate(struct tdc *t)
{
	const char *file = NULL;
	bool force = false;
	char err[512];
	int e;

	if (tdc_want_help(t))
		return key_help(t);
	for (; !tdc_no_arg(t); tdc_arg_next(t)) {
		const char *a = tdc_arg(t);

		if (!strcmp(a, "--force") || !strcmp(a, "-f"))
			force = true;
		else if (a[0] == '-' && a[1])
			return tdc_usage_error(t, key_help,
					       "key generate: unknown option \"%s\"", a);
		else if (file)
			return tdc_usage_error(t, key_help,
					       "key generate: one FILE only (\"%s\" and \"%s\")",
					       file, a);
		else
			file = a;
	}
	if (!file)
		return tdc_usage_error(t, key_help, "key generate: needs FILE");
	e = tdsm_key_generate(file, force, err, sizeof(err));
	if (e) {
		tdc_err(t, "key generate: %s (%s)", err, tdc_errno_name(e));
		return TDC_EXIT_FAIL;
	}
	return TDC_EXIT_OK;
}

static int key_set(struct tdc *t)
{
	uint8_t key[TINYDSM_KEY_LEN];
	struct nl_msg *msg;
	const char *file;
	char err[512];
	int e, ret;

	if (tdc_want_help(t))
		return key_help(t);
	if (t->argc != 1)
		return tdc_usage_error(t, key_help, "key set: needs FILE");
	file = tdc_arg(t);
	e = tdsm_key_read(file, key, err, sizeof(err));
	if (e) {
		tdc_err(t, "key set: %s (%s)", err, tdc_errno_name(e));
		return TDC_EXIT_FAIL;
	}
	ret = tdc_nl_open(t);
	if (ret)
		goto out;
	msg = tdc_nl_msg(t, TINYDSM_CMD_KEY_SET, 0);
	if (!msg || nla_put(msg, TINYDSM_A_KEY, sizeof(key), key)) {
		nlmsg_free(msg);
		tdc_err(t, "key set: out of memory");
		ret = TDC_EXIT_FAIL;
		goto out;
	}
	/* Our reference: the request's copy of the key is wiped after it. */
	nlmsg_get(msg);
	ret = tdc_nl_do(t, msg, "key set");
	sodium_memzero(nlmsg_hdr(msg), nlmsg_hdr(msg)->nlmsg_len);
	nlmsg_free(msg);
	if (t->nl_error == -EOPNOTSUPP)
		tdc_err(t, "key set: this tinydsm module predates the cluster key (no KEY_SET): load a newer one");
	else if (t->nl_error == -EPERM)
		tdc_err(t, "key set: setting the cluster key needs CAP_NET_ADMIN (run it as root)");
out:
	sodium_memzero(key, sizeof(key));
	return ret;
}

static const struct tdc_cmd key_cmds[] = {
	{ NULL,		key_help },
	{ "generate",	key_generate },
	{ "set",	key_set },
	{ "help",	key_help },
	{ NULL,		NULL },
};

int cmd_key(struct tdc *t)
{
	if (tdc_no_arg(t))
		return tdc_usage_error(t, key_help, "key: needs a command");
	return tdc_exec_cmd(t, key_cmds, "key command");
}
