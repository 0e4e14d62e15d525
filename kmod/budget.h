/* SPDX-License-Identifier: GPL-2.0 */
/* tinydsm: the home budget, how many pages this node homes (budget.c). */
#ifndef _TDSM_BUDGET_H
#define _TDSM_BUDGET_H

#include <linux/moduleparam.h>
#include <linux/netlink.h>
#include <linux/sizes.h>

#include "tinydsm.h"

/* The smallest budget but 0 (unlimited), for the cache and the home. */
#define TDSM_BUDGET_MIN_BYTES	SZ_1M

/* Which budget, for the refusal's message. */
enum tdsm_budget_what {
	TDSM_BUDGET_CACHE,	/* cache_budget_mb, TINYDSM_A_CACHE_BUDGET */
	TDSM_BUDGET_HOME,	/* home_budget_mb, TINYDSM_A_HOME_BUDGET */
};

int tdsm_budget_check(u64 bytes, enum tdsm_budget_what what,
		      struct netlink_ext_ack *extack);

/* A budget parameter's value, in MiB, as bytes in *@bytes (kp->name says which). */
int tdsm_budget_param_mb(const char *val, const struct kernel_param *kp,
			 u64 *bytes);

unsigned long tdsm_home_budget_pages(void);
void tdsm_home_set_budget(u64 bytes);
int tdsm_home_charge(struct tdsm_region *r, u64 addr, unsigned long n,
		     u32 why);
void tdsm_home_uncharge(struct tdsm_region *r, unsigned long n);
int tdsm_home_charge_touch(struct tdsm_region *r, struct tdsm_page *pg,
			   unsigned long idx);
bool tdsm_home_charge_page(struct tdsm_region *r, struct tdsm_page *pg);
void tdsm_home_uncharge_page(struct tdsm_region *r, struct tdsm_page *pg);
void tdsm_home_refused(struct tdsm_region *r, u64 addr, unsigned long n,
		       int err, u32 why);

#endif /* _TDSM_BUDGET_H */
