/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: access sites, shared by the text-poke path (site.c) and the
 * uprobe path (uprobe.c).
 */
#ifndef _TDSM_SITE_H
#define _TDSM_SITE_H

#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/rcupdate.h>
#include <linux/uprobes.h>
#include <linux/xarray.h>

#include "tinydsm.h"
#include "x86_mov.h"

#define TDSM_SITE_LEN_MAX	15
#define TDSM_SITE_LEN_MIN	5	/* jmp rel32 */
#define TDSM_INT3		0xcc
#define TDSM_JMP32		0xe9

/**
 * struct tdsm_site - one access site of one process
 * @rcu: freed after a grace period (the fault path reads sites under RCU).
 * @owner: the file's site table.
 * @addr: user address of the site.
 * @lookup: user address of its lookup thunk.
 * @entry: user address of its struct tinydsm_site_entry.
 * @id: its id in tdsm_site_ids (struct tdsm_page.sites holds ids).
 * @kind: enum tinydsm_site_kind.
 * @len: bytes.
 * @width: bytes accessed.
 * @flags: TINYDSM_SITE_F_*.
 * @form: enum tinydsm_site_form, under @owner->lock.
 * @direct: the bytes of the direct form.
 * @patches: times the form changed.
 * @faults: faults taken at it on region pages.
 * @words: word accesses made from it.
 * @mov: TINYDSM_SITE_UPROBE: the instruction, decoded.
 * @uc: ...its uprobe consumer, registered while the site is in lookup form.
 * @inode: ...the file of its text (igrab), once first armed.
 * @offset: ...the site's offset in that file.
 * @uprobe: ...the kernel's handle (6.12), NULL before.
 * @armed: ...the uprobe is registered. Under @owner->lock.
 */
struct tdsm_site {
	struct rcu_head rcu;
	struct tdsm_sites *owner;
	unsigned long addr;
	unsigned long lookup;
	unsigned long entry;
	u32 id;
	u8 kind;
	u8 len;
	u8 width;
	u8 flags;
	u8 form;
	u8 direct[TDSM_SITE_LEN_MAX];
	atomic64_t patches;
	atomic64_t faults;
	atomic64_t words;
	/* TINYDSM_SITE_UPROBE only (uprobe.c) */
	struct tdsm_mov mov;
	struct uprobe_consumer uc;
	struct inode *inode;
	loff_t offset;
	struct uprobe *uprobe;
	bool armed;
};

/**
 * struct tdsm_sites_quota - the sites of one process, against max_sites_per_mm
 * @ref: held by each table (struct tdsm_sites) of the process.
 * @sites: sites of all those tables, text-poke and uprobe ones: reserved
 *	(atomic_add_return) before a site is allocated, given back when an
 *	add fails or the table is freed. Never above max_sites_per_mm by more
 *	than the reservations in flight, which are taken back at once.
 */
struct tdsm_sites_quota {
	struct kref ref;
	atomic_t sites;
};

/**
 * struct tdsm_sites - the access sites of one open file
 * @ref: held by the file and by page-event work using its sites.
 * @mm: the process that opened the file (mmgrab); only its sites.
 * @quota: the process's count of sites, shared by the tables of @mm
 *	(found at open under tdsm_sites_list_lock; fixed for the table's life).
 * @uprobe_priv: the opener had CAP_SYS_PTRACE (in the initial user
 *	namespace) at open: its uprobe sites may be armed (uprobe.c).
 * @lock: protects @count, @closed, adding sites and every site's form.
 * @by_addr: site address -> struct tdsm_site; read under RCU by the fault
 *	path, changed under @lock.
 * @count: sites in @by_addr.
 * @policy: enum tinydsm_sites_policy; READ_ONCE, set under @lock.
 * @closed: the file is being released: no more rewriting, no new sites.
 *	Set under @lock and the xa_lock of @by_addr (uprobe sites are added
 *	by the fault path, which may not take @lock).
 * @uprobe_sites: sites this file's faults created for the uprobe path.
 * @list: in tdsm_sites_list, under tdsm_sites_list_lock.
 * @rcu: freed after a grace period: page events reach a table through a
 *	site found under RCU.
 */
struct tdsm_sites {
	struct kref ref;
	struct mm_struct *mm;
	struct tdsm_sites_quota *quota;
	bool uprobe_priv;
	struct mutex lock;	/* see above */
	struct xarray by_addr;
	unsigned int count;
	u8 policy;
	bool closed;
	atomic_t uprobe_sites;
	struct list_head list;
	struct rcu_head rcu;
};

extern struct xarray tdsm_site_ids;
extern u32 tdsm_site_next_id;

void tdsm_page_add_site(struct tdsm_region *r, unsigned long idx, u32 id);
bool tdsm_sites_charge(struct tdsm_sites *t, unsigned int n);
void tdsm_sites_uncharge(struct tdsm_sites *t, unsigned int n);

/* the site code's API (site.c) */
int tdsm_patch_init(void);
void tdsm_patch_exit(void);
struct tdsm_sites *tdsm_sites_open(bool uprobe_priv);
void tdsm_sites_release(struct tdsm_sites *t);
long tdsm_sites_ioctl(struct tdsm_sites *t, unsigned int cmd, void __user *uarg);
/* A user fault on page @idx, @pg (chunk held), at user IP @ip: remember the site. */
void tdsm_sites_fault(struct tdsm_region *r, struct tdsm_sites *t, unsigned long idx,
		      struct tdsm_page *pg, unsigned long ip);
/* A word access on page @idx from the site at @site (0: none). */
void tdsm_sites_word(struct tdsm_region *r, struct tdsm_sites *t, unsigned long idx,
		     unsigned long site);
/* Page @pg came here (@here) or left; any context, page lock held. */
void tdsm_sites_page_note(struct tdsm_page *pg, bool here);
unsigned int tdsm_sites_page_event(struct tdsm_region *r, unsigned long first,
				   unsigned int n, u64 mask, u8 form);

#endif /* _TDSM_SITE_H */
