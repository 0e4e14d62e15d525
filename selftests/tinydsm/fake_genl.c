// SPDX-License-Identifier: GPL-2.0
/*
 * A stand-in for daemon/genl.c, for host tests of tinydsmd without the
 * module (make run-host-test): every node is "added", no key is needed
 * by a module, and the module's long calls fail with ENODEV. Only what
 * does not touch the module can be tested with it: membership between
 * the daemons, their authentication, and jobs (tinydsmctl run). The
 * configuration must have a "self" line (no module to ask for node_id).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>

#include "tinydsmd.h"

int tdd_genl_open(void)
{
	return 0;
}

void tdd_genl_close(void)
{
}

int tdd_genl_self_id(uint32_t *id, int *auth)
{
	*id = 0;		/* unknown: the self line says */
	*auth = -1;
	return 0;
}

int tdd_genl_node_add(const struct tdd_node *n, char *msg, size_t size)
{
	(void)n;
	if (size)
		msg[0] = '\0';
	return 0;
}

int tdd_genl_key_set(const uint8_t key[TINYDSM_KEY_LEN])
{
	(void)key;
	return 0;
}

int tdd_genl_events_fd(void)
{
	return -1;
}

void tdd_genl_events_read(void)
{
}

struct nl_sock *tdd_genl_sock_open(void)
{
	static int dummy;

	return (struct nl_sock *)&dummy;
}

void tdd_genl_sock_close(struct nl_sock *s)
{
	(void)s;
}

static void no_module(struct tdd_op *op)
{
	op->err = ENODEV;
	snprintf(op->msg, sizeof(op->msg), "no module (host test build)");
}

void tdd_genl_migrate(struct nl_sock *s, uint64_t addr, uint32_t npages,
		      uint32_t from, struct tdd_op *op)
{
	(void)s, (void)addr, (void)npages, (void)from;
	no_module(op);
}

void tdd_genl_repopulate(struct nl_sock *s, uint64_t addr, uint32_t npages,
			 uint32_t flags, struct tdd_op *op)
{
	(void)s, (void)addr, (void)npages, (void)flags;
	no_module(op);
}

void tdd_genl_node_evict(struct nl_sock *s, uint32_t id, struct tdd_op *op)
{
	(void)s, (void)id;
	no_module(op);
}
