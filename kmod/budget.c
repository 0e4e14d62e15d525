// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: the home budget, how many pages this node homes at most
 * (module parameter home_budget_mb, or the genl command
 * TINYDSM_CMD_REGION_SET; 0, the default: unlimited). PROTOCOL.md, "Home
 * budget", rules H1-H7, which the charges below follow:
 *
 * H1 The charge (tdsm_region.home_charged) is the pages of the runs the
 *    slice's tree records (r->runs, orphans too) plus the pages marked
 *    TDSM_PG_CHARGED here. TDSM_PG_CHARGED changes only under the page's
 *    TDSM_PG_DIR, on the node that homes the page.
 * H2 ALLOC charges its run whole, before it looks for a gap (so that the
 *    first touch of an allocated page never fails); a refused or failed
 *    ALLOC gives it back, a FREE gives back the pages it freed.
 * H3 A claim (tdsm_home_claim(): the first touch of a page homed here)
 *    of a page outside any run charges 1 and marks it; a page of a run
 *    being freed counts as outside (over, never under).
 * H4 MIGRATE: the new home charges the batch before it asks, and gives
 *    back the pages that did not move; those that moved are marked. The
 *    old home gives back the marked pages that left; a run's page keeps
 *    its run's charge while away (its FREE brings it back first, or,
 *    from a peer, fails EXDEV).
 * H5 FREE gives back each marked page of the run it resets (touched
 *    before the run covered it, or migrated back in).
 * H6 A write-back in (EVICTV at the home) never charges: its pages were
 *    charged when claimed, allocated or migrated in.
 * H7 A budget set under the charge takes nothing back: charges are
 *    refused until the charge is under it. Without a budget a charge is
 *    one add, compared with nothing.
 * So home frames <= charged pages, and, but for H7, charged <= budget.
 * Each refusal (-ENOSPC) counts in home_refused and sends the
 * rate-limited event TINYDSM_EV_BUDGET.
 */
#include <linux/atomic.h>
#include <linux/moduleparam.h>
#include <linux/sizes.h>
#include <linux/sysfs.h>

#include "alloc.h"
#include "budget.h"
#include "lock.h"
#include "netlink.h"
#include "page.h"
#include "proto.h"
#include "tinydsm.h"

/* The budget in pages, 0: unlimited. Read without a lock. */
static unsigned long tdsm_home_budget;

int tdsm_budget_param_mb(const char *val, const struct kernel_param *kp,
			 u64 *bytes)
{
	unsigned int mb;

	if (kstrtouint(val, 0, &mb)) {
		pr_err("%s=%.*s: not a number of MiB\n", kp->name,
		       (int)strcspn(val, "\n"), val);
		return -EINVAL;
	}
	*bytes = (u64)mb << 20;
	return 0;
}

unsigned long tdsm_home_budget_pages(void)
{
	return READ_ONCE(tdsm_home_budget);
}

/**
 * tdsm_budget_check - may @bytes be budget @what?
 * @bytes: 0 (unlimited) or at least TDSM_BUDGET_MIN_BYTES: the cache's
 *	watermarks need room, and a smaller home budget is a mistake.
 * @what: which budget, for the message.
 * @extack: for the reason of a refusal (may be NULL).
 *
 * The one check of both budgets, for the module parameters and the genl
 * command alike. Return: 0, or -EINVAL.
 */
int tdsm_budget_check(u64 bytes, enum tdsm_budget_what what,
		      struct netlink_ext_ack *extack)
{
	if (!bytes || bytes >= TDSM_BUDGET_MIN_BYTES)
		return 0;
	/* The message must be a literal (NL_SET_ERR_MSG). */
	if (what == TDSM_BUDGET_HOME)
		NL_SET_ERR_MSG_MOD(extack, "a home budget is 0 (unlimited) or at least 1 MiB");
	else
		NL_SET_ERR_MSG_MOD(extack, "a cache budget is 0 (unlimited) or at least 1 MiB");
	return -EINVAL;
}

/* Set the budget, checked by tdsm_budget_check(); H7. */
void tdsm_home_set_budget(u64 bytes)
{
	WRITE_ONCE(tdsm_home_budget, min_t(u64, bytes >> PAGE_SHIFT, ULONG_MAX));
}

static int tdsm_home_budget_mb_set(const char *val,
				   const struct kernel_param *kp)
{
	u64 bytes;
	int err;

	err = tdsm_budget_param_mb(val, kp, &bytes);
	if (!err)
		err = tdsm_budget_check(bytes, TDSM_BUDGET_HOME, NULL);
	if (!err)
		tdsm_home_set_budget(bytes);
	return err;
}

static int tdsm_home_budget_mb_get(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%lu\n",
			  tdsm_home_budget_pages() >> (20 - PAGE_SHIFT));
}

static const struct kernel_param_ops tdsm_home_budget_mb_ops = {
	.set = tdsm_home_budget_mb_set,
	.get = tdsm_home_budget_mb_get,
};

module_param_cb(home_budget_mb, &tdsm_home_budget_mb_ops, NULL, 0644);
__MODULE_PARM_TYPE(home_budget_mb, "uint");
MODULE_PARM_DESC(home_budget_mb, "pages this node homes at most, MiB; 0: unlimited (default 0)");

/* Refused: count it, and tell the listeners (rate-limited). */
void tdsm_home_refused(struct tdsm_region *r, u64 addr, unsigned long n,
		       int err, u32 why)
{
	if (err == -ENOSPC)
		atomic64_add(n, &r->home_refused);
	tdsm_event_budget(addr, min_t(unsigned long, n, U32_MAX), err, why);
}

/**
 * tdsm_home_charge - charge @n pages to the home budget
 * @r: the region.
 * @addr: the first page's address, for the event (0: none yet).
 * @n: how many.
 * @why: TINYDSM_BUDGET_F_*, for the event.
 *
 * Return: 0, or -ENOSPC if they do not fit (nothing charged, the refusal
 * counted and told).
 */
int tdsm_home_charge(struct tdsm_region *r, u64 addr, unsigned long n,
		     u32 why)
{
	u64 budget = tdsm_home_budget_pages();
	s64 old;
	u64 want;

	/*
	 * No budget: nothing to compare, one add (a budget set meanwhile
	 * finds this charge made before it, H7).
	 */
	if (!budget) {
		atomic64_add(n, &r->home_charged);
		return 0;
	}
	/* All or nothing, and never past the budget, however many charge. */
	old = atomic64_read(&r->home_charged);
	do {
		want = (u64)old + n;
		if (want > budget) {
			tdsm_home_refused(r, addr, n, -ENOSPC, why);
			return -ENOSPC;
		}
	} while (!atomic64_try_cmpxchg(&r->home_charged, &old, want));
	return 0;
}

void tdsm_home_uncharge(struct tdsm_region *r, unsigned long n)
{
	WARN_ON_ONCE(atomic64_sub_return(n, &r->home_charged) < 0);
}

/* Page @pg is charged by itself (H3, H4): mark it. False: it was. DIR held. */
bool tdsm_home_charge_page(struct tdsm_region *r, struct tdsm_page *pg)
{
	tdsm_dir_assert_locked(pg);
	return !test_and_set_bit(TDSM_PG_CHARGED, &pg->flags);
}

/* Page @pg leaves (H4) or is freed (H5): its own charge goes. DIR held. */
void tdsm_home_uncharge_page(struct tdsm_region *r, struct tdsm_page *pg)
{
	tdsm_dir_assert_locked(pg);
	if (test_and_clear_bit(TDSM_PG_CHARGED, &pg->flags))
		tdsm_home_uncharge(r, 1);
}

/**
 * tdsm_home_charge_touch - charge the first touch of page @idx here (H3)
 * @r: the region.
 * @pg: its metadata, its chunk held by the caller (page.h, M1).
 * @idx: a page homed here, never touched (no owner). DIR held.
 *
 * Return: 1 (charged now: tdsm_home_uncharge_page() undoes it), 0 (in a
 * run, or charged already), or -ENOSPC.
 */
int tdsm_home_charge_touch(struct tdsm_region *r, struct tdsm_page *pg,
			   unsigned long idx)
{
	int err;

	tdsm_dir_assert_locked(pg);
	if (test_bit(TDSM_PG_CHARGED, &pg->flags) || tdsm_runs_cover(r, pg, idx))
		return 0;
	err = tdsm_home_charge(r, tdsm_page_addr(idx), 1,
			       TINYDSM_BUDGET_F_TOUCH);
	if (err)
		return err;
	tdsm_home_charge_page(r, pg);
	return 1;
}
