/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tdsm_nl: the one generic netlink client of the tinydsm family, on
 * libnl-genl-3, for tinydsmctl, tinydsmd, migrate_bench and the tests.
 *
 * A socket that asks for extended acks, the family and its multicast
 * group, one request (a do or a dump) read up to its ack, error or
 * NLMSG_DONE with the kernel's extended ack (its message, the missing
 * attribute), and the attributes of a reply checked against one table of
 * lengths for every attribute of the family (tnl_policy).
 *
 * Nothing here prints: the callers say what failed in their own words.
 * Everything works on the socket and reply it is given, so threads may
 * each use their own socket.
 */
#ifndef TDSM_NL_H
#define TDSM_NL_H

#include <stdbool.h>
#include <stdint.h>

#include <linux/tinydsm.h>

struct nl_sock;
struct nl_msg;
struct nlmsghdr;
struct nlattr;

/* What came back for one request (tnl_xfer() fills it in). */
struct tnl_reply {
	bool done;		/* the ack, the error or NLMSG_DONE arrived */
	int error;		/* 0 or -errno, from the kernel */
	bool intr;		/* a dump part had NLM_F_DUMP_INTR */
	char msg[256];		/* the kernel's extack message, or "" */
	int miss_type;		/* extack: missing attribute type, or -1 */
	bool has_offs;		/* extack: it pointed at a bad attribute */
	/* Set by the caller: called for every reply message; < 0 stops. */
	int (*row)(const struct nlmsghdr *nlh, void *arg);
	void *arg;
	int row_err;		/* what row returned when it stopped us */
};

/*
 * A generic netlink socket that asks for extended acks: 0, -NLE_NOMEM if
 * it could not be allocated, or genl_connect()'s libnl error.
 */
int tnl_sock_open(struct nl_sock **skp);
/* The family id of TINYDSM_GENL_NAME, or a libnl error (-NLE_OBJ_NOTFOUND: none). */
int tnl_family(struct nl_sock *sk);
/* The id of the family's multicast group @grp, or a libnl error. */
int tnl_mcgrp(struct nl_sock *sk, const char *grp);

/* A message of @cmd for @family (flags NLM_F_DUMP, ...); NULL: no memory. */
struct nl_msg *tnl_msg(int family, uint8_t cmd, int flags);

/*
 * Send @msg (consumed; NULL counts as out of memory) and read until its
 * ack, error or NLMSG_DONE, handing every reply message to r->row. @r is
 * reset first except for row and arg. Returns 0 when the kernel answered
 * (r->error says how) or r->row stopped it (r->row_err), else a libnl
 * error.
 */
int tnl_xfer(struct nl_sock *sk, struct nl_msg *msg, struct tnl_reply *r);

/* Accepted payload length of an attribute type; max 0: not an attribute we read. */
struct tnl_attr_len {
	uint16_t min, max;
};

/* The family's attributes, by type: what the module sends (uapi/linux/tinydsm.h). */
extern const struct tnl_attr_len tnl_policy[TINYDSM_A_MAX + 1];

/* "NODE_ID", or "attribute N" (in a static buffer) for a type we do not know. */
const char *tnl_attr_name(unsigned int type);

/*
 * The attributes of one message of command @cmd into tb[0 .. TINYDSM_A_MAX].
 * Unknown types are skipped (a newer module may send more); a known type
 * with a length outside tnl_policy is skipped and, if @bad is given,
 * reported to it. -EINVAL if the message is not a @cmd message at all.
 */
int tnl_parse(const struct nlmsghdr *nlh, uint8_t cmd,
	      const struct nlattr **tb,
	      void (*bad)(unsigned int type, int len, void *arg), void *arg);

/* tb[type] as a number, 0 when absent. */
uint8_t tnl_u8(const struct nlattr **tb, int type);
uint32_t tnl_u32(const struct nlattr **tb, int type);
uint64_t tnl_u64(const struct nlattr **tb, int type);

/*
 * What a MIGRATE, REPOPULATE or NODE_EVICT request got back: the kernel's
 * answer and the reply's counters.
 */
struct tnl_answer {
	int error;				/* 0 or -errno */
	char msg[160];				/* the kernel's extack message, cut */
	bool replied;				/* a reply with counters came */
	uint32_t moved, skipped, data;		/* MIGRATE */
	uint64_t holders;			/* MIGRATE: HOLDERS64, bit n - 1 = node n */
	uint32_t holders32;			/* MIGRATE: HOLDERS, bit n = node n */
	uint32_t fetched, mapped, sites;	/* REPOPULATE */
	uint32_t dropped, lost;			/* NODE_EVICT */
	uint64_t nsec;				/* MIGRATE, REPOPULATE */
};

/* A row callback (arg: struct tnl_answer) that reads those replies' counters. */
int tnl_answer_row(const struct nlmsghdr *nlh, void *arg);

/*
 * Send @msg (consumed) on @sk; the answer in @a. Returns 0 when the kernel
 * answered (a->error says how), else a libnl error.
 */
int tnl_answer_call(struct nl_sock *sk, struct nl_msg *msg, struct tnl_answer *a);

/*
 * MIGRATE or REPOPULATE of the range at @addr: NPAGES, FROM and FLAGS are
 * sent when >= 0. A message ready for tnl_xfer(), NULL: no memory.
 */
struct nl_msg *tnl_range_msg(int family, uint8_t cmd, uint64_t addr,
			     int64_t npages, int64_t from, int64_t flags);

#endif /* TDSM_NL_H */
