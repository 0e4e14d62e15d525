// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm page migration, the kernel side (TINYDSM_CMD_MIGRATE and
 * TINYDSM_CMD_REPOPULATE over generic netlink), on 3 nodes: make demo's
 * scenario b. node2 homes and fills a run, node1 maps and reads all of
 * it, node3 pulls the run (MIGRATE from node2), then node1 repopulates
 * lazily (each access faults once and fetches from node3) or eagerly
 * (REPOPULATE: fetched back in batches and mapped, no fault). Every byte is
 * checked after the move, the directories and page states on all three
 * nodes, and the faults node1 takes (getrusage minor faults and the
 * module's counters). Also: word accesses of a node that never held the
 * pages are forwarded to their new home; the old home lets a batch go
 * before its reply can land; a writer on node1 during the migration loses
 * no update; running a migration again resumes it (moves
 * nothing twice); a range that starts inside a group of 64 pages and
 * spans three (batches never cross a group, kmod/wire.h) moves and
 * repopulates whole; bad requests get clear errors; unprivileged callers
 * get EPERM; a MIGRATE into a home whose home budget is full gets ENOSPC
 * and moves nothing; node1's write-backs under a cache budget, widened by
 * the homes' evict_delay_ms (debugfs), race node3's writes and migrations
 * of the same pages and lose no write; a write fault that meets a batch's
 * directory locks held at the old home (migrate_delay_ms) past half its
 * timeout hears BUSY and asks again, and does not fail.
 *
 * Every node of a 3-node lab run executes this binary (tdsm_cluster.h);
 * tests skip on other node counts. Knobs: TDSM_MIGRATE_PAGES (default 256),
 * TDSM_WRITER_PAGES (trio_writer_during_migration's pages, default 64).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>
#include <linux/tinydsm.h>
#include <netlink/errno.h>
#include <netlink/socket.h>

#include "kselftest_harness.h"
#include "tdsm_budget.h"
#include "tdsm_cluster.h"
#include "tdsm_nl.h"
#include "tdsm_params.h"

#define TRIO		3
#define SRC		2	/* homes the run */
#define APP		1	/* the application that maps it */
#define DST		3	/* the pages move here */
#define NOBODY		65534
/* Minor faults outside the region a checking loop may take (stack, libc). */
#define FAULT_SLACK	16
/* The module's fault-injection knobs (debugfs; PROTOCOL.md "Fault injection"). */
#define INJECT_DIR	"/sys/kernel/debug/tinydsm"

/*
 * One request @cmd with ADDR/NPAGES (and FROM, FLAGS when >= 0) to this
 * node's module, answer in @r. Returns 0 when the kernel answered
 * (r->error says how), else a libnl error.
 */
static int gen_call(uint8_t cmd, uint64_t addr, int64_t npages, int64_t from,
		    int64_t flags, struct tnl_answer *r)
{
	struct nl_sock *sk = NULL;
	int family, err;

	memset(r, 0, sizeof(*r));
	err = tnl_sock_open(&sk);
	if (err < 0)
		return err;
	family = tnl_family(sk);
	err = family < 0 ? family :
	      tnl_answer_call(sk, tnl_range_msg(family, cmd, addr, npages,
						from, flags), r);
	nl_socket_free(sk);
	return err;
}

static int gen_migrate(uint64_t addr, int64_t npages, int64_t from,
		       struct tnl_answer *r)
{
	return gen_call(TINYDSM_CMD_MIGRATE, addr, npages, from, -1, r);
}

static int gen_repopulate(uint64_t addr, int64_t npages, struct tnl_answer *r)
{
	return gen_call(TINYDSM_CMD_REPOPULATE, addr, npages, -1, -1, r);
}

static int gen_repopulate_flags(uint64_t addr, int64_t npages, int64_t flags,
				struct tnl_answer *r)
{
	return gen_call(TINYDSM_CMD_REPOPULATE, addr, npages, -1, flags, r);
}

#define ASSERT_GEN(want, call, r) do {					\
	ASSERT_EQ(0, (call)) TH_LOG("netlink: %s", nl_geterror(call)); \
	ASSERT_EQ((want), (r)->error)					\
		TH_LOG("kernel said %d (%s): %s", (r)->error,		\
		       strerror(-(r)->error), (r)->msg);		\
} while (0)

FIXTURE(mig) {
	struct tc_node n;
	struct tc_sync s;
	int ready;
	int delaying;		/* this node delays its packets (tc): undo */
	int budget_set;		/* this node set a cache budget: undo */
	int delay_set;		/* this node set evict_delay_ms: undo */
	int busy_set;		/* this node set migrate_delay_ms: undo */
	unsigned int timeout_was;	/* and its timeout_ms, to put back */
	char setup_err[256];
};

FIXTURE_SETUP(mig)
{
	tc_sync_init(&self->s, "migration", _metadata->name);
	TC_NODE_OPEN();
}

FIXTURE_TEARDOWN(mig)
{
	TC_MARK_FAILED();
	/* trio_migrate_into_full_home, failed half-way, leaves no budget. */
	if (getuid() == 0)
		hb_set(0, NULL, 0);
	if (self->delaying)
		tc_shell("tc qdisc del dev %s root >&2", tc_link_dev());
	if (self->budget_set && tc_cache_budget_set(0))
		TH_LOG("could not set the cache budget back to unlimited");
	if (self->delay_set && knob_write(INJECT_DIR, "evict_delay_ms", "0"))
		TH_LOG("could not set evict_delay_ms back to 0: %s",
		       strerror(errno));
	if (self->busy_set && knob_write(INJECT_DIR, "migrate_delay_ms", "0"))
		TH_LOG("could not set migrate_delay_ms back to 0: %s",
		       strerror(errno));
	if (self->timeout_was &&
	    tc_module_param_set("timeout_ms", self->timeout_was))
		TH_LOG("could not set timeout_ms back to %u", self->timeout_was);
	tc_node_close(&self->n);
}

#define START() TC_START(TRIO)
#define BARRIER(step) TC_BARRIER(step, 3 * self->s.timeout_s)

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Pages of the run whose PAGE_INFO differs; logs the first. */
static unsigned long check_info(struct __test_metadata *_metadata,
				const struct tc_node *n, uint64_t addr,
				unsigned long npages, int state, int home,
				int owner, int copyset, int flags_set,
				int flags_clear, const char *what)
{
	struct tinydsm_page_info pi;
	unsigned long i, bad = 0;

	for (i = 0; i < npages; i++) {
		uint64_t a = addr + i * n->psz;

		if (tc_page_info(n, (void *)(uintptr_t)a, &pi)) {
			bad++;
			continue;
		}
		if ((state < 0 || pi.state == state) &&
		    (home < 0 || pi.home == home) &&
		    (owner < 0 || pi.owner == owner) &&
		    (copyset < 0 || pi.copyset == (uint32_t)copyset) &&
		    (pi.flags & flags_set) == (uint32_t)flags_set &&
		    !(pi.flags & flags_clear))
			continue;
		if (!bad)
			TH_LOG("%s: node%u page %#llx: state %s home %u owner %u copyset %#x flags %#x; want state %d home %d owner %d copyset %#x flags +%#x -%#x",
			       what, n->id, (unsigned long long)a,
			       tc_state_name(pi.state), pi.home, pi.owner,
			       pi.copyset, pi.flags, state, home, owner,
			       copyset, flags_set, flags_clear);
		bad++;
	}
	return bad;
}

/*
 * Scenario (b) up to the move: node1 reads the whole run (a read copy of
 * every page), node3 migrates it from node2. Checks the MIGRATE answer and
 * every node's view right after.
 */
static void read_then_migrate(struct __test_metadata *_metadata,
			      FIXTURE_DATA(mig) *self, uint64_t addr,
			      unsigned int npages, unsigned int round)
{
	struct tc_node *n = &self->n;
	size_t len = (size_t)npages * n->psz;
	struct tnl_answer r;

	if (n->id == APP)
		ASSERT_EQ(0, tc_check_mem(_metadata, addr, len, round, "node1 first read"));
	BARRIER("mapped");

	if (n->id == DST) {
		ASSERT_GEN(0, gen_migrate(addr, npages, SRC, &r), &r);
		EXPECT_EQ(npages, r.moved);
		EXPECT_EQ(0, r.skipped);
		EXPECT_EQ(npages, r.data);
		EXPECT_EQ(TC_NSET(APP), r.holders);
		EXPECT_EQ(TC_NODE(APP), r.holders32);
		TH_LOG("migrated %u pages in %.1f ms: %.0f pages/s",
		       r.moved, r.nsec / 1e6, r.moved / (r.nsec / 1e9));
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages,
					TINYDSM_PAGE_EXCLUSIVE, DST, DST,
					TC_NODE(DST), TINYDSM_PAGE_F_PRESENT, 0,
					"node3 after pulling"));
	}
	BARRIER("migrated");
	if (n->id == SRC)
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages,
					TINYDSM_PAGE_INVALID, DST, -1, -1, 0,
					TINYDSM_PAGE_F_PRESENT, "node2 after the move"));
	if (n->id == APP)
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages,
					TINYDSM_PAGE_INVALID, DST, -1, -1,
					TINYDSM_PAGE_F_MOVED,
					TINYDSM_PAGE_F_PRESENT, "node1 after the move"));
}

/* (b.1) lazy: node1's next access to each page faults once, fetching from node3. */
TEST_F_TIMEOUT(mig, trio_lazy, 300)
{
	unsigned int npages = tc_env_uint("TDSM_MIGRATE_PAGES", 256);
	struct tc_node *n = &self->n;
	size_t len = (size_t)npages * n->psz;
	struct tinydsm_stats st0, st1;
	uint64_t addr;
	long f0, f1;

	START();
	addr = tc_shared_run(_metadata, &self->n, &self->s, SRC, npages, 1,
			     3 * self->s.timeout_s);
	read_then_migrate(_metadata, self, addr, npages, 1);
	if (n->id == APP) {
		ASSERT_EQ(0, tc_stats(n, &st0));
		f0 = minflt();
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 1, "node1 lazy repopulation"));
		f1 = minflt();
		ASSERT_EQ(0, tc_stats(n, &st1));
		TH_LOG("lazy: %ld minor faults, %llu remote faults, %llu forwards for %u pages",
		       f1 - f0, (unsigned long long)(st1.remote_faults - st0.remote_faults),
		       (unsigned long long)(st1.forwards - st0.forwards), npages);
		/* Each page fetched once: by its own fault, or read ahead. */
		EXPECT_EQ(npages, st1.remote_faults - st0.remote_faults +
				  st1.readahead_pages - st0.readahead_pages);
		EXPECT_EQ(npages, st1.read_faults - st0.read_faults);
		EXPECT_GE(f1 - f0, npages);
		EXPECT_LE(f1 - f0, npages + FAULT_SLACK);
		/* It knew the new home from the invalidation: no forwarding. */
		EXPECT_EQ(0, st1.forwards - st0.forwards);
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages,
					TINYDSM_PAGE_SHARED, DST, -1, -1,
					TINYDSM_PAGE_F_PRESENT,
					TINYDSM_PAGE_F_MOVED, "node1 after reading"));
	}
	BARRIER("repopulated");
	if (n->id == DST)
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages,
					TINYDSM_PAGE_SHARED, DST, DST,
					TC_NODE(DST) | TC_NODE(APP), 0, 0,
					"node3, the new home, after node1 read"));
	BARRIER("checked");
	if (n->id == SRC) {
		/* node2 never heard of node1's reads: it asks, node3 answers. */
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 1, "node2 reading back"));
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages,
					TINYDSM_PAGE_SHARED, DST, -1, -1, 0, 0,
					"node2 after reading back"));
	}
	BARRIER("done");
}

/* (b.2) eager: REPOPULATE on node1 fetches and maps; no access faults. */
TEST_F_TIMEOUT(mig, trio_eager, 300)
{
	unsigned int npages = tc_env_uint("TDSM_MIGRATE_PAGES", 256);
	struct tc_node *n = &self->n;
	size_t len = (size_t)npages * n->psz;
	struct tinydsm_stats st0, st1;
	struct tnl_answer r;
	uint64_t addr;
	long f0, f1;

	START();
	addr = tc_shared_run(_metadata, &self->n, &self->s, SRC, npages, 2,
			     3 * self->s.timeout_s);
	read_then_migrate(_metadata, self, addr, npages, 2);
	if (n->id == APP) {
		ASSERT_GEN(0, gen_repopulate(addr, npages, &r), &r);
		TH_LOG("eager: %u pages fetched, %u mapped, %u sites in %.1f ms",
		       r.fetched, r.mapped, r.sites, r.nsec / 1e6);
		EXPECT_EQ(npages, r.fetched);
		EXPECT_EQ(npages, r.mapped);
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages,
					TINYDSM_PAGE_SHARED, DST, -1, -1,
					TINYDSM_PAGE_F_PRESENT,
					TINYDSM_PAGE_F_MOVED, "node1 after REPOPULATE"));
		ASSERT_EQ(0, tc_stats(n, &st0));
		f0 = minflt();
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 2, "node1 after eager repopulation"));
		f1 = minflt();
		ASSERT_EQ(0, tc_stats(n, &st1));
		TH_LOG("eager: %ld minor faults, %llu tinydsm faults while reading %u pages",
		       f1 - f0, (unsigned long long)(st1.read_faults - st0.read_faults),
		       npages);
		EXPECT_EQ(0, st1.read_faults - st0.read_faults);
		EXPECT_EQ(0, st1.remote_faults - st0.remote_faults);
		EXPECT_LE(f1 - f0, FAULT_SLACK);
		/* A second REPOPULATE has nothing left to do. */
		ASSERT_GEN(0, gen_repopulate(addr, npages, &r), &r);
		EXPECT_EQ(0, r.fetched);
	}
	BARRIER("repopulated");
	if (n->id == DST)
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages,
					TINYDSM_PAGE_SHARED, DST, DST,
					TC_NODE(DST) | TC_NODE(APP), 0, 0,
					"node3 after the eager repopulation"));
	BARRIER("done");
}

/* One plain load per page (no macro: its first fault makes it a uprobe site). */
static __attribute__((noinline)) unsigned long
read_first_words(uint64_t addr, unsigned int npages, long psz, unsigned int round)
{
	unsigned long i, bad = 0;

	for (i = 0; i < npages; i++) {
		uint64_t a = addr + i * psz;

		if (*(const volatile uint64_t *)(uintptr_t)a != tc_pat(a, round))
			bad++;
	}
	return bad;
}

static int site_info(const struct tc_node *n, uint64_t ip, struct tinydsm_site_info *si)
{
	memset(si, 0, sizeof(*si));
	si->addr = ip;
	return ioctl(n->fd, TINYDSM_IOC_SITE_INFO, si) ? -errno : 0;
}

static int wait_form(const struct tc_node *n, uint64_t ip, unsigned int form)
{
	struct tinydsm_site_info si;
	double end = tc_now() + 30;

	do {
		if (site_info(n, ip, &si))
			return -1;
		if (si.form == form)
			return 0;
		usleep(20000);
	} while (tc_now() < end);
	return -1;
}

/*
 * (b.2) with access sites, eager: node1's sites follow the pages. Its load
 * site (the uprobe path: a plain load) goes lookup when the migration takes
 * the pages away, so reading them takes no fault (word accesses at node3,
 * the new home); REPOPULATE brings them back and puts the site direct.
 */
TEST_F_TIMEOUT(mig, trio_sites_eager, 300)
{
	unsigned int npages = tc_env_uint("TDSM_SITES_PAGES", 64);
	struct tinydsm_sites_ctl ctl = { .op = TINYDSM_SITES_SET_POLICY,
					 .policy = TINYDSM_SITES_POLICY_EAGER };
	struct tc_node *n = &self->n;
	struct tinydsm_stats st0, st1;
	struct tinydsm_page_info pi;
	struct tinydsm_site_info si;
	struct tnl_answer r;
	uint64_t addr, ip = 0;

	START();
	addr = tc_shared_run(_metadata, &self->n, &self->s, SRC, npages, 6,
			     3 * self->s.timeout_s);
	if (n->id == APP) {
		ASSERT_EQ(0, ioctl(n->fd, TINYDSM_IOC_SITES_CTL, &ctl));
		ASSERT_EQ(0, tc_stats(n, &st0));
		EXPECT_EQ(0, read_first_words(addr, npages, n->psz, 6));
		ASSERT_EQ(0, tc_stats(n, &st1));
		EXPECT_EQ(npages, st1.read_faults - st0.read_faults);
		ASSERT_EQ(0, tc_page_info(n, (void *)(uintptr_t)addr, &pi));
		ip = pi.fault_ip;
		ASSERT_EQ(0, site_info(n, ip, &si));
		EXPECT_EQ(TINYDSM_SITE_UPROBE, si.kind);
	}
	BARRIER("mapped");
	if (n->id == DST) {
		ASSERT_GEN(0, gen_migrate(addr, npages, SRC, &r), &r);
		EXPECT_EQ(npages, r.moved);
	}
	BARRIER("migrated");
	if (n->id == APP) {
		ASSERT_EQ(0, wait_form(n, ip, TINYDSM_SITE_LOOKUP))
			TH_LOG("the site did not go lookup when its pages migrated");
		ASSERT_EQ(0, tc_stats(n, &st0));
		EXPECT_EQ(0, read_first_words(addr, npages, n->psz, 6));
		ASSERT_EQ(0, tc_stats(n, &st1));
		TH_LOG("sites eager: %llu faults, %llu word accesses reading %u migrated pages",
		       (unsigned long long)(st1.read_faults - st0.read_faults),
		       (unsigned long long)(st1.word_remote - st0.word_remote), npages);
		EXPECT_EQ(0, st1.read_faults - st0.read_faults);
		EXPECT_EQ(npages, st1.word_remote - st0.word_remote);
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages,
					TINYDSM_PAGE_INVALID, DST, -1, -1,
					TINYDSM_PAGE_F_MOVED, TINYDSM_PAGE_F_PRESENT,
					"node1 reading through the site"));

		ASSERT_GEN(0, gen_repopulate(addr, npages, &r), &r);
		EXPECT_EQ(npages, r.fetched);
		EXPECT_EQ(1, r.sites) TH_LOG("REPOPULATE puts the site direct");
		ASSERT_EQ(0, site_info(n, ip, &si));
		EXPECT_EQ(TINYDSM_SITE_DIRECT, si.form);
		ASSERT_EQ(0, tc_stats(n, &st0));
		EXPECT_EQ(0, read_first_words(addr, npages, n->psz, 6));
		ASSERT_EQ(0, tc_stats(n, &st1));
		EXPECT_EQ(0, st1.read_faults - st0.read_faults);
		EXPECT_EQ(0, st1.word_remote - st0.word_remote);
	}
	BARRIER("done");
}

/*
 * Per migration, whatever the file's policy (lazy here): REPOPULATE with
 * TINYDSM_REPOPULATE_F_LOOKUP fetches nothing and puts the moved pages'
 * sites in lookup form, so node1 reads them at node3 without a fault.
 */
TEST_F_TIMEOUT(mig, trio_sites_lookup_per_migration, 300)
{
	unsigned int npages = tc_env_uint("TDSM_SITES_PAGES", 64);
	struct tc_node *n = &self->n;
	struct tinydsm_stats st0, st1;
	struct tinydsm_page_info pi;
	struct tinydsm_site_info si;
	struct tnl_answer r;
	uint64_t addr, ip = 0;

	START();
	addr = tc_shared_run(_metadata, &self->n, &self->s, SRC, npages, 7,
			     3 * self->s.timeout_s);
	if (n->id == APP) {
		EXPECT_EQ(0, read_first_words(addr, npages, n->psz, 7));
		ASSERT_EQ(0, tc_page_info(n, (void *)(uintptr_t)addr, &pi));
		ip = pi.fault_ip;
		ASSERT_EQ(0, site_info(n, ip, &si));
	}
	BARRIER("mapped");
	if (n->id == DST) {
		ASSERT_GEN(0, gen_migrate(addr, npages, SRC, &r), &r);
		EXPECT_EQ(npages, r.moved);
	}
	BARRIER("migrated");
	if (n->id == APP) {
		/* Lazy file: the migration alone leaves the site direct. */
		ASSERT_EQ(0, site_info(n, ip, &si));
		EXPECT_EQ(TINYDSM_SITE_DIRECT, si.form);
		ASSERT_GEN(-EINVAL, gen_repopulate_flags(addr, npages, 0x80, &r), &r);
		ASSERT_GEN(0, gen_repopulate_flags(addr, npages,
						   TINYDSM_REPOPULATE_F_LOOKUP, &r), &r);
		EXPECT_EQ(0, r.fetched);
		EXPECT_EQ(1, r.sites);
		ASSERT_EQ(0, site_info(n, ip, &si));
		EXPECT_EQ(TINYDSM_SITE_LOOKUP, si.form);
		ASSERT_EQ(0, tc_stats(n, &st0));
		EXPECT_EQ(0, read_first_words(addr, npages, n->psz, 7));
		ASSERT_EQ(0, tc_stats(n, &st1));
		EXPECT_EQ(0, st1.read_faults - st0.read_faults);
		EXPECT_EQ(npages, st1.word_remote - st0.word_remote);
	}
	BARRIER("done");
}

/*
 * A node that never held the pages still names their old home: its word
 * accesses (the lookup form of a site) are forwarded. node3 pulls a run
 * node1 never touched; node1 loads and stores words of it: node2 answers
 * NOTHOME with node3, node1 records node3 as the home (under the page
 * lock) and gets the right values there, one forward per page.
 */
TEST_F_TIMEOUT(mig, trio_word_forwarded_after_migration, 300)
{
	unsigned int npages = 4, i;
	struct tc_node *n = &self->n;
	struct tinydsm_stats st0, st1;
	struct tinydsm_page_info pi;
	struct tnl_answer r;
	uint64_t addr;

	START();
	addr = tc_shared_run(_metadata, &self->n, &self->s, SRC, npages, 8,
			     3 * self->s.timeout_s);
	if (n->id == DST) {
		ASSERT_GEN(0, gen_migrate(addr, npages, SRC, &r), &r);
		EXPECT_EQ(npages, r.moved);
	}
	BARRIER("migrated");
	if (n->id == APP) {
		ASSERT_EQ(0, tc_stats(n, &st0));
		for (i = 0; i < npages; i++) {
			uint64_t a = addr + (uint64_t)i * n->psz;
			struct tinydsm_word w = { .addr = a, .width = 8 };

			ASSERT_EQ(0, tc_page_info(n, (void *)(uintptr_t)a, &pi));
			EXPECT_EQ(SRC, pi.home) TH_LOG("page %u: node1 already knew", i);
			ASSERT_EQ(0, ioctl(n->fd, TINYDSM_IOC_WORD, &w))
				TH_LOG("page %u: WORD load: %s", i, strerror(errno));
			EXPECT_EQ(tc_pat(a, 8), w.value) TH_LOG("page %u", i);
			EXPECT_EQ(1, w.remote);
			ASSERT_EQ(0, tc_page_info(n, (void *)(uintptr_t)a, &pi));
			EXPECT_EQ(DST, pi.home) TH_LOG("page %u: the hint was not kept", i);
			EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state);

			w.value = ~tc_pat(a, 8);
			w.flags = TINYDSM_WORD_F_STORE;
			w.remote = 0;
			ASSERT_EQ(0, ioctl(n->fd, TINYDSM_IOC_WORD, &w))
				TH_LOG("page %u: WORD store: %s", i, strerror(errno));
			w.flags = 0;
			w.value = 0;
			w.remote = 0;
			ASSERT_EQ(0, ioctl(n->fd, TINYDSM_IOC_WORD, &w));
			EXPECT_EQ(~tc_pat(a, 8), w.value) TH_LOG("page %u", i);
		}
		ASSERT_EQ(0, tc_stats(n, &st1));
		EXPECT_EQ(npages, st1.forwards - st0.forwards);
		EXPECT_EQ(3 * npages, st1.word_remote - st0.word_remote);
		EXPECT_EQ(0, st1.read_faults - st0.read_faults);
	}
	BARRIER("stored");
	if (n->id == DST)
		for (i = 0; i < npages; i++) {
			uint64_t a = addr + (uint64_t)i * n->psz;

			EXPECT_EQ(~tc_pat(a, 8), *(volatile uint64_t *)(uintptr_t)a)
				TH_LOG("page %u at its new home", i);
		}
	BARRIER("done");
}

/*
 * A writer on node1 keeps incrementing one word per page of the run while
 * node3 migrates it from node2; then every node reads the last values.
 */
/*
 * How many of the @npages pages at @addr do not hold @rounds in their first
 * word (node @writer's last round); the first such is logged.
 */
static unsigned long first_words_not(struct __test_metadata *_metadata,
				     const struct tc_node *n, uint64_t addr,
				     unsigned int npages, unsigned long rounds,
				     unsigned int writer)
{
	unsigned long bad = 0;
	unsigned int i;

	for (i = 0; i < npages; i++) {
		uint64_t got = *(volatile uint64_t *)(uintptr_t)(addr + (uint64_t)i * n->psz);

		if (got != rounds && !bad++)
			TH_LOG("node%u: page %u holds %llu, node%u last wrote %lu",
			       n->id, i, (unsigned long long)got, writer, rounds);
	}
	return bad;
}

/*
 * REPOPULATE while the new home writes the pages: copies it installs are
 * invalidated before it maps them, and mapping such a page faults again.
 * REPOPULATE used to hold the pages' FETCHING bits while it mapped them,
 * so that fault waited for REPOPULATE itself (and the access-site rewrite
 * for an mmap_lock held by a task waiting on such a bit): a hang. It must
 * end, and every node then reads node3's last round.
 */
TEST_F_TIMEOUT(mig, trio_repopulate_while_written, 300)
{
	unsigned int npages = tc_env_uint("TDSM_MIGRATE_PAGES", 256);
	struct tc_node *n = &self->n;
	unsigned long rounds = 0;
	char path[PATH_MAX], val[64];
	struct tnl_answer r;
	uint64_t addr, i;

	START();
	addr = tc_shared_run(_metadata, &self->n, &self->s, SRC, npages, 4,
			     3 * self->s.timeout_s);
	read_then_migrate(_metadata, self, addr, npages, 4);
	ASSERT_EQ(0, tc_file(&self->s, path, sizeof(path), "repopulated"));
	if (n->id == DST) {
		volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)addr;

		/* Whole rounds, until node1's REPOPULATE is over. */
		do {
			rounds++;
			for (i = 0; i < npages; i++)
				w[i * n->psz / 8] = rounds;
			ASSERT_LT(rounds, 1000000);
		} while (!tc_exists(path));
		snprintf(val, sizeof(val), "%lu", rounds);
		ASSERT_EQ(0, tc_put(&self->s, "rounds", val));
	}
	if (n->id == APP) {
		usleep(100000);	/* let the writer get going */
		ASSERT_GEN(0, gen_repopulate(addr, npages, &r), &r);
		TH_LOG("repopulated while node3 wrote: %u pages fetched, %u mapped",
		       r.fetched, r.mapped);
		ASSERT_EQ(0, tc_touch(path));
	}
	BARRIER("written");
	ASSERT_EQ(0, tc_get(&self->s, "rounds", val, sizeof(val)));
	rounds = strtoul(val, NULL, 0);
	TH_LOG("node%u: node3 wrote %lu rounds", n->id, rounds);
	EXPECT_EQ(0, first_words_not(_metadata, n, addr, npages, rounds, DST));
	BARRIER("done");
}

/*
 * The old home lets a batch go before its MIGRATE reply can land. node3
 * delays its packets to node2 by timeout_ms / 2: its MIGRATE reaches node2
 * late, node2's reply reaches node3 at once, and node2 hears that it
 * landed (node3's acknowledgement) only timeout_ms / 2 later. Meanwhile
 * node3, the pages' home and exclusive owner, writes them and tells node2
 * (a barrier on the shared directory, which is not delayed). node2, its
 * send still not completed, must already say node3 is their home, hold no
 * copy (none mapped: a load would fault), and its word loads must return
 * node3's data. A node2 that let the pages go only once its send
 * completed still called itself their home and owner, SHARED, and read
 * its old copy, mapped, while node3 wrote: two homes, a stale read.
 * trio_repopulate_while_written saw it now and then on its last batch,
 * the one nothing came after. Then, still in the window, node2 reads the
 * pages by faults: each fault registers a buffer while rxe retransmits
 * the unacknowledged reply, which once ran the buffer's REG_MR again
 * (chained on the same queue pair), failed it and killed the connection.
 * The connection must stay up.
 */
TEST_F_TIMEOUT(mig, trio_old_home_lets_go_first, 300)
{
	unsigned int tmo = tc_module_param("timeout_ms", TC_DEFAULT_PEER_TIMEOUT_MS);
	const char *src_ip = getenv("TDSM_IP_2");
	const unsigned int npages = 4;
	struct tc_node *n = &self->n;
	size_t len = (size_t)npages * n->psz;
	struct tinydsm_stats st0, st1;
	struct tnl_answer r;
	uint64_t addr, out = 0;
	double deadline;
	unsigned int i;
	int down0 = 0;

	START();
	ASSERT_NE(NULL, src_ip) TH_LOG("TDSM_IP_2 is not set (the lab sets it)");
	addr = tc_shared_run(_metadata, &self->n, &self->s, SRC, npages, 9,
			     3 * self->s.timeout_s);
	if (n->id == APP)
		ASSERT_EQ(0, tc_check_mem(_metadata, addr, len, 9, "node1 first read"));
	BARRIER("read");
	if (n->id == SRC) {
		/* Its own copies, read-only now that node1 has copies too. */
		ASSERT_EQ(0, tc_check_mem(_metadata, addr, len, 9, "node2 reading its own"));
		ASSERT_EQ(0, tc_stats(n, &st0));
	}
	if (n->id == DST) {
		self->delaying = 1;
		ASSERT_EQ(0, tc_delay_to(src_ip, tmo / 2))
			TH_LOG("tc: cannot delay node3's packets to node2");
	}
	BARRIER("delayed");

	if (n->id == DST) {
		ASSERT_GEN(0, gen_migrate(addr, npages, SRC, &r), &r);
		EXPECT_EQ(npages, r.moved);
		EXPECT_EQ(npages, r.data);
		/* Exclusive here: no fault, no message. */
		tc_fill(addr, len, 10);
	}
	BARRIER("written");
	if (n->id == SRC) {
		ASSERT_EQ(0, tc_stats(n, &st1));
		out = st1.migrated_out - st0.migrated_out;
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages,
					TINYDSM_PAGE_INVALID, DST, -1, -1, 0,
					TINYDSM_PAGE_F_PRESENT,
					"node2 before its reply's send completed"));
		/*
		 * No copy (the state above): its page table entries went with
		 * it (the module unmapped the frame before it gave it up).
		 */
		for (i = 0; i < npages; i++) {
			uint64_t a = addr + (uint64_t)i * n->psz;
			struct tinydsm_word w = { .addr = a, .width = 8 };

			ASSERT_EQ(0, ioctl(n->fd, TINYDSM_IOC_WORD, &w))
				TH_LOG("page %u: WORD load: %s", i, strerror(errno));
			EXPECT_EQ(tc_pat(a, 10), w.value)
				TH_LOG("page %u: node2 loads %#llx, node3 wrote %#llx", i,
				       (unsigned long long)w.value,
				       (unsigned long long)tc_pat(a, 10));
		}
		/* Else the delay missed the window, and the test proves nothing. */
		EXPECT_EQ(0, out)
			TH_LOG("node2 had committed %llu pages before node3's write was over",
			       (unsigned long long)out);
		down0 = klog_count("disconnected");
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 10,
					  "node2 faulting while its reply is resent"));
		EXPECT_EQ(down0, klog_count("disconnected"))
			TH_LOG("node2 lost a connection faulting in the window");
	}
	BARRIER("checked");
	if (n->id == DST) {
		EXPECT_EQ(0, tc_shell("tc qdisc del dev %s root >&2", tc_link_dev()));
		self->delaying = 0;
	}
	BARRIER("healed");
	if (n->id == SRC) {
		/* Its send completes: the move is counted. */
		deadline = tc_now() + 2 * tmo / 1000.0;
		for (;;) {
			ASSERT_EQ(0, tc_stats(n, &st1));
			out = st1.migrated_out - st0.migrated_out;
			if (out >= npages || tc_now() > deadline)
				break;
			usleep(20000);
		}
		EXPECT_EQ(npages, out);
	}
	EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 10, "reading node3's data"));
	if (n->id == SRC)
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages,
					TINYDSM_PAGE_SHARED, DST, -1, -1,
					TINYDSM_PAGE_F_PRESENT, 0,
					"node2 after reading node3's data"));
	BARRIER("done");
}

TEST_F_TIMEOUT(mig, trio_writer_during_migration, 400)
{
	/*
	 * The old home holds a page's directory lock while the batch that
	 * moves it is on the wire: a write fault that waits longer than half
	 * of its timeout_ms for it hears BUSY and asks again (the debug
	 * kernel moves a batch of 64 pages that slowly).
	 */
	const unsigned int npages = tc_env_uint("TDSM_WRITER_PAGES", 64);
	struct tc_node *n = &self->n;
	struct tnl_answer r;
	uint64_t addr, i;
	char val[64];
	unsigned long rounds = 0, bad = 0;

	START();
	addr = tc_shared_run(_metadata, &self->n, &self->s, SRC, npages, 3,
			     3 * self->s.timeout_s);
	if (n->id == APP) {
		volatile uint64_t *w = (volatile uint64_t *)(uintptr_t)addr;
		char path[PATH_MAX];

		ASSERT_EQ(0, tc_file(&self->s, path, sizeof(path), "moved"));
		/* Write until node3 says the migration is over, then 2 more rounds. */
		for (rounds = 1; ; rounds++) {
			for (i = 0; i < npages; i++)
				w[i * n->psz / 8] = rounds;
			if (tc_exists(path) && ++bad >= 2)
				break;
			ASSERT_LT(rounds, 1000000);
		}
		snprintf(val, sizeof(val), "%lu", rounds);
		ASSERT_EQ(0, tc_put(&self->s, "rounds", val));
		bad = 0;
	}
	if (n->id == DST) {
		char path[PATH_MAX];

		usleep(200000);	/* let the writer get going */
		ASSERT_GEN(0, gen_migrate(addr, npages, SRC, &r), &r);
		TH_LOG("moved %u of %u pages while node1 wrote", r.moved, npages);
		EXPECT_EQ(npages, r.moved);
		ASSERT_EQ(0, tc_file(&self->s, path, sizeof(path), "moved"));
		ASSERT_EQ(0, tc_touch(path));
	}
	BARRIER("written");
	ASSERT_EQ(0, tc_get(&self->s, "rounds", val, sizeof(val)));
	rounds = strtoul(val, NULL, 0);
	EXPECT_EQ(0, first_words_not(_metadata, n, addr, npages, rounds, APP));
	BARRIER("done");
}

/*
 * A write fault that meets a page whose directory lock a migration holds
 * at the old home, longer than half the home's timeout_ms, hears BUSY and
 * asks again (PROTOCOL.md "Busy pages"); it used to hear TIMEDOUT and get
 * SIGBUS. node2 (timeout_ms BUSY_TMO_MS) holds each batch's DIRs for
 * migrate_delay_ms while node3 pulls the run (a timeout_ms that leaves
 * room for the debug kernel's 64 pages on the wire: at 1400 ms, node2's
 * reply of a batch there timed out and killed the connection); node1, which started just
 * before, writes one page after another, so that a write reaches node2
 * early in the first batch's hold. No write fails, one of them waited
 * out a BUSY (it took at least half of node2's timeout_ms), and every
 * node reads what node1 wrote.
 */
/*
 * 2 groups, 2 batches. node1's write that waits out the BUSY is in the
 * first batch's hold (page 5 to 13 in the lab's runs, node1 having
 * started 300 ms before the migration). The second batch is the fallback
 * should node1 ever get past the first group before its hold began, and
 * the migration goes on past a hold; on the stock kernel node1 reaches
 * it while it is held and waits less than half a timeout (no BUSY). It
 * was 4 groups: the third and fourth only did that again on the stock
 * kernel and met no hold at all on the debug one (node1, at about 145 ms
 * a write there, got to them after the migration ended), for 128 more
 * remote writes and their reads on every node (about 30 s on the debug
 * kernel, 4 on the stock one).
 */
#define BUSY_PAGES	128
#define BUSY_TMO_MS	3000	/* node2's timeout_ms: BUSY after 1500 ms */
#define BUSY_DELAY_MS	2000	/* node2's migrate_delay_ms, per batch */
#define BUSY_GAP_US	20000	/* between node1's writes */
#define BUSY_HEAD_US	300000	/* node1's head start */

TEST_F_TIMEOUT(mig, trio_fault_waits_out_busy_migration, 300)
{
	struct tc_node *n = &self->n;
	unsigned long bad = 0;
	struct tnl_answer r;
	char val[32];
	uint64_t addr;
	unsigned int i;

	START();
	if (access(INJECT_DIR "/migrate_delay_ms", W_OK))
		SKIP(return, "no %s/migrate_delay_ms (%s): a kernel without CONFIG_DEBUG_FS, or debugfs not mounted",
		     INJECT_DIR, strerror(errno));
	addr = tc_shared_run(_metadata, n, &self->s, SRC, BUSY_PAGES, 9,
			     3 * self->s.timeout_s);
	if (n->id == SRC) {
		self->timeout_was = tc_module_param("timeout_ms", 0);
		ASSERT_NE(0u, self->timeout_was);
		ASSERT_EQ(0, tc_module_param_set("timeout_ms", BUSY_TMO_MS));
		snprintf(val, sizeof(val), "%u", BUSY_DELAY_MS);
		ASSERT_EQ(0, knob_write(INJECT_DIR, "migrate_delay_ms", val))
			TH_LOG("migrate_delay_ms: %s", strerror(errno));
		self->busy_set = 1;
	}
	BARRIER("armed");

	if (n->id == APP) {
		volatile uint64_t *w;
		double t, took, slowest = 0;
		unsigned int at = 0;

		for (i = 0; i < BUSY_PAGES; i++) {
			w = (volatile uint64_t *)(uintptr_t)(addr + (uint64_t)i * n->psz);
			t = tc_now();
			*w = i + 1;	/* SIGBUS here is the failure */
			took = tc_now() - t;
			if (took > slowest) {
				slowest = took;
				at = i;
			}
			usleep(BUSY_GAP_US);
		}
		TH_LOG("node1 wrote %u pages during the migration; the slowest write, page %u, took %.0f ms",
		       BUSY_PAGES, at, slowest * 1000);
		EXPECT_GE(slowest * 1000, BUSY_TMO_MS / 2)
			TH_LOG("no write waited out a BUSY: the test missed node2's hold");
	}
	if (n->id == DST) {
		usleep(BUSY_HEAD_US);
		ASSERT_GEN(0, gen_migrate(addr, BUSY_PAGES, SRC, &r), &r);
		TH_LOG("moved %u of %u pages in %.0f ms, node2 holding each batch %u ms",
		       r.moved, BUSY_PAGES, r.nsec / 1e6, BUSY_DELAY_MS);
		EXPECT_EQ(BUSY_PAGES, r.moved);
		EXPECT_GE(r.nsec / 1e6, BUSY_DELAY_MS);
	}
	BARRIER("written");
	if (n->id == SRC) {
		ASSERT_EQ(0, knob_write(INJECT_DIR, "migrate_delay_ms", "0"));
		self->busy_set = 0;
		ASSERT_EQ(0, tc_module_param_set("timeout_ms", self->timeout_was));
		self->timeout_was = 0;
	}
	BARRIER("disarmed");
	for (i = 0; i < BUSY_PAGES; i++) {
		uint64_t got = *(volatile uint64_t *)(uintptr_t)(addr + (uint64_t)i * n->psz);

		if (got != i + 1 && !bad++)
			TH_LOG("node%u: page %u holds %#llx, node1 wrote %u",
			       n->id, i, (unsigned long long)got, i + 1);
	}
	EXPECT_EQ(0, bad);
	BARRIER("done");
}

/* A second MIGRATE of the same run moves nothing: it resumes, never repeats. */
TEST_F_TIMEOUT(mig, trio_migrate_again_and_back, 300)
{
	const unsigned int npages = 100;	/* not a multiple of the batch */
	struct tc_node *n = &self->n;
	struct tnl_answer r;
	uint64_t addr;

	START();
	addr = tc_shared_run(_metadata, &self->n, &self->s, SRC, npages, 4,
			     3 * self->s.timeout_s);
	if (n->id == DST) {
		ASSERT_GEN(0, gen_migrate(addr, npages, SRC, &r), &r);
		EXPECT_EQ(npages, r.moved);
		ASSERT_GEN(0, gen_migrate(addr, npages, SRC, &r), &r);
		EXPECT_EQ(0, r.moved);
		EXPECT_EQ(npages, r.skipped);
	}
	BARRIER("moved");
	/* And back to node2, pulled by node2 from node3. */
	if (n->id == SRC) {
		ASSERT_GEN(0, gen_migrate(addr, npages, DST, &r), &r);
		EXPECT_EQ(npages, r.moved);
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, (size_t)npages * n->psz, 4,
				       "node2 after the round trip"));
	}
	BARRIER("back");
	if (n->id == APP)
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, (size_t)npages * n->psz, 4,
				       "node1 reading after the round trip"));
	BARRIER("done");
}

/*
 * A range that starts at page 60 of a group of 64 and spans three groups:
 * 100 pages go as batches of 4, 64 and 32 (MIGRATE, its INVALVs to node1,
 * and node1's READVs), none across a group's edge (PROTOCOL.md,
 * "Batches"). Every page of the range moves to node3 with every word, the
 * pages on either side stay node2's, and node1's REPOPULATE fetches all
 * 100 back.
 */
#define GROUP		64	/* pages in a group: TDSM_WIRE_BATCH */
#define UNALIGNED_AT	60	/* the range starts at this page of a group */
#define UNALIGNED_PAGES	100	/* 4 + 64 + 32 */

TEST_F_TIMEOUT(mig, trio_unaligned_range, 300)
{
	const unsigned int npages = UNALIGNED_PAGES;
	struct tc_node *n = &self->n;
	size_t len = (size_t)npages * n->psz;
	uint64_t run, group, addr, before, after;
	struct tnl_answer r;

	START();
	/* Room for the first group edge in the run plus 160 pages. */
	run = tc_shared_run(_metadata, &self->n, &self->s, SRC, 4 * GROUP, 5,
			    3 * self->s.timeout_s);
	group = (uint64_t)GROUP * n->psz;
	addr = TINYDSM_REGION_BASE +
	       (run - TINYDSM_REGION_BASE + group - 1) / group * group +
	       UNALIGNED_AT * n->psz;
	before = addr - n->psz;
	after = addr + len;
	ASSERT_LE(after + n->psz, run + 4 * group);
	/* Three groups: the range's first and last pages are two groups apart. */
	ASSERT_EQ(2, (after - n->psz - TINYDSM_REGION_BASE) / group -
		     (addr - TINYDSM_REGION_BASE) / group);

	read_then_migrate(_metadata, self, addr, npages, 5);
	/* Every word arrived; the pages around the range did not move. */
	if (n->id == DST) {
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 5,
					  "node3 after pulling"));
		EXPECT_EQ(0, check_info(_metadata, n, before, 1, -1, SRC, -1, -1,
					0, 0, "node3: the page before the range"));
		EXPECT_EQ(0, check_info(_metadata, n, after, 1, -1, SRC, -1, -1,
					0, 0, "node3: the page after the range"));
	}
	if (n->id == SRC) {
		EXPECT_EQ(0, check_info(_metadata, n, before, 1, -1, SRC, SRC, -1,
					0, 0, "node2: the page before the range"));
		EXPECT_EQ(0, check_info(_metadata, n, after, 1, -1, SRC, SRC, -1,
					0, 0, "node2: the page after the range"));
	}
	BARRIER("around");
	if (n->id == APP) {
		ASSERT_GEN(0, gen_repopulate(addr, npages, &r), &r);
		EXPECT_EQ(npages, r.fetched);
		EXPECT_EQ(npages, r.mapped);
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages,
					TINYDSM_PAGE_SHARED, DST, -1, -1,
					TINYDSM_PAGE_F_PRESENT,
					TINYDSM_PAGE_F_MOVED, "node1 after REPOPULATE"));
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 5,
					  "node1 after REPOPULATE"));
	}
	BARRIER("repopulated");
	if (n->id == DST)
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages,
					TINYDSM_PAGE_SHARED, DST, DST,
					TC_NODE(DST) | TC_NODE(APP), 0, 0,
					"node3 after node1's REPOPULATE"));
	BARRIER("checked");
	/* The old home reads it all back: the range from node3, the rest its own. */
	if (n->id == SRC)
		EXPECT_EQ(0, tc_check_mem(_metadata, run, 4 * group, 5,
					  "node2 reading the whole run back"));
	BARRIER("done");
}

/* Bad requests: each gets its errno and a message. Runs on node3 only. */
TEST_F(mig, trio_bad_requests)
{
	struct tc_node *n = &self->n;
	uint64_t base = TINYDSM_REGION_BASE;
	struct tnl_answer r;

	START();
	if (n->id != DST)
		SKIP(return, "node3 asks");
	ASSERT_GEN(-EINVAL, gen_migrate(base, 1, DST, &r), &r);
	EXPECT_NE(0, r.msg[0]);
	ASSERT_GEN(-ENOENT, gen_migrate(base, 1, 9, &r), &r);
	ASSERT_GEN(-ERANGE, gen_migrate(base + n->info.size, 1, SRC, &r), &r);
	ASSERT_GEN(-ERANGE, gen_migrate(base, n->info.size / n->psz + 1, SRC, &r), &r);
	ASSERT_GEN(-EINVAL, gen_migrate(base + 8, 1, SRC, &r), &r);
	ASSERT_GEN(-ERANGE, gen_migrate(base, 0, SRC, &r), &r);
	ASSERT_GEN(-EINVAL, gen_migrate(base, 1, -1, &r), &r);
	ASSERT_GEN(-ERANGE, gen_migrate(base, 1, TINYDSM_MAX_NODES, &r), &r);
	ASSERT_GEN(-ERANGE, gen_repopulate(base - 4096, 1, &r), &r);
	/* Pages never touched: nothing to move, nothing moved. */
	ASSERT_GEN(0, gen_migrate(tc_slice_end(n, SRC) - 64 * n->psz, 64, SRC, &r), &r);
	EXPECT_EQ(0, r.moved);
	EXPECT_EQ(64, r.skipped);
}

/* MIGRATE and REPOPULATE need CAP_NET_ADMIN. */
TEST_F(mig, trio_unprivileged)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[2] = { 0 };
	struct tc_node *n = &self->n;
	int fds[2], res[2], status;
	struct tnl_answer r;
	pid_t pid;

	START();
	if (n->id != DST)
		SKIP(return, "node3 asks");
	ASSERT_EQ(0, pipe(fds));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY) ||
		    syscall(SYS_capset, &hdr, data))
			_exit(2);
		gen_migrate(TINYDSM_REGION_BASE, 1, SRC, &r);
		res[0] = r.error;
		gen_repopulate(TINYDSM_REGION_BASE, 1, &r);
		res[1] = r.error;
		_exit(write(fds[1], res, sizeof(res)) == sizeof(res) ? 0 : 1);
	}
	close(fds[1]);
	ASSERT_EQ(sizeof(res), read(fds[0], res, sizeof(res)));
	close(fds[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(-EPERM, res[0]);
	EXPECT_EQ(-EPERM, res[1]);
}

/*
 * The home budget (kmod/PROTOCOL.md, "Home budget", H4): node3 fills its
 * budget (a run of its own makes up what it had charged to exactly 1 MiB,
 * or its charge if more), then a MIGRATE of node2's run into it gets
 * ENOSPC and the event TINYDSM_EV_BUDGET (migrate), with nothing moved
 * and nothing charged: every page keeps its word, its home (node2) and
 * its owner (node2) on every node, and node1's read copies stay valid.
 * Then node1's first touch of a page of node3's slice outside any run
 * (its last page) gets SIGBUS: node3 answers NOSPC, not a retried
 * VM_FAULT_OOM, and sends the event (touch).
 */
TEST_F_TIMEOUT(mig, trio_migrate_into_full_home, 300)
{
	const unsigned int npages = 100;
	struct tc_node *n = &self->n;
	size_t len = (size_t)npages * n->psz;
	unsigned long budget = 0, fill = 0;
	struct tinydsm_stats st0, st;
	uint64_t addr, fill_addr = 0;
	const uint64_t far = n->info.base +
			     ((uint64_t)DST * n->slice_pages - 1) * n->psz;
	struct hb_listener l, lt;
	struct tnl_answer r;
	char msg[256];
	int status;
	pid_t pid;

	START();
	addr = tc_shared_run(_metadata, n, &self->s, SRC, npages, 6,
			     3 * self->s.timeout_s);
	if (n->id == APP)
		ASSERT_EQ(0, tc_check_mem(_metadata, addr, len, 6, "node1 before"));
	BARRIER("read");

	if (n->id == DST) {
		ASSERT_EQ(0, ioctl(n->fd, TINYDSM_IOC_STATS, &st0));
		budget = (1ul << 20) / n->psz;
		if (st0.home_charged > budget)
			budget = st0.home_charged;
		fill = budget - st0.home_charged;
		ASSERT_EQ(0, hb_listen(&l, TINYDSM_BUDGET_F_MIGRATE));
		ASSERT_EQ(0, hb_listen(&lt, TINYDSM_BUDGET_F_TOUCH));
		ASSERT_EQ(0, hb_set((uint64_t)budget * n->psz, msg, sizeof(msg)))
			TH_LOG("REGION_SET: %s", msg);
		if (fill)
			ASSERT_EQ(0, tc_alloc(n, DST, fill, &fill_addr))
				TH_LOG("ALLOC %lu pages: %s", fill, strerror(errno));
		ASSERT_EQ(0, ioctl(n->fd, TINYDSM_IOC_STATS, &st0));
		ASSERT_EQ(budget, st0.home_charged);

		ASSERT_GEN(-ENOSPC, gen_migrate(addr, npages, SRC, &r), &r);
		EXPECT_EQ(0, r.moved);
		EXPECT_NE(NULL, strstr(r.msg, "home budget")) TH_LOG("extack: %s", r.msg);
		EXPECT_TRUE(hb_heard(&l, 2000)) TH_LOG("no TINYDSM_EV_BUDGET for the MIGRATE");
		EXPECT_EQ(addr, l.ev.addr);
		EXPECT_EQ(-ENOSPC, l.ev.err);
		EXPECT_LT(0u, l.ev.npages);
		EXPECT_GE((uint32_t)TINYDSM_MIGRATE_BATCH, l.ev.npages);
		hb_unlisten(&l);
		ASSERT_EQ(0, ioctl(n->fd, TINYDSM_IOC_STATS, &st));
		EXPECT_EQ(budget, st.home_charged) TH_LOG("a refused MIGRATE kept a charge");
		EXPECT_EQ(st0.migrated_in, st.migrated_in);
		EXPECT_EQ(st0.home_refused + l.ev.npages, st.home_refused);
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages, -1, SRC, -1, -1,
					0, TINYDSM_PAGE_F_PRESENT, "node3 after the refusal"));
	}
	BARRIER("refused");

	if (n->id == SRC) {
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages, -1, SRC, SRC,
					-1, 0, 0, "node2 after the refusal"));
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 6, "node2 after the refusal"));
	}
	if (n->id == APP) {
		EXPECT_EQ(0, check_info(_metadata, n, addr, npages,
					TINYDSM_PAGE_SHARED, SRC, -1, -1,
					TINYDSM_PAGE_F_PRESENT, 0,
					"node1 after the refusal"));
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 6, "node1 after the refusal"));
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			prctl(PR_SET_DUMPABLE, 0);	/* no core for the SIGBUS */
			_exit(*(volatile uint8_t *)(uintptr_t)far == 0 ? 0 : 3);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS)
			TH_LOG("node1's touch of %#llx past node3's budget: status %#x",
			       (unsigned long long)far, status);
	}
	BARRIER("checked");
	if (n->id == DST) {
		EXPECT_TRUE(hb_heard(&lt, 2000)) TH_LOG("no TINYDSM_EV_BUDGET for node1's touch");
		EXPECT_EQ(far, lt.ev.addr);
		EXPECT_EQ(1u, lt.ev.npages);
		EXPECT_EQ(-ENOSPC, lt.ev.err);
		hb_unlisten(&lt);
		if (fill)
			EXPECT_EQ(0, tc_free(n, fill_addr, fill)) TH_LOG("%s", strerror(errno));
		EXPECT_EQ(0, hb_set(0, NULL, 0));
	}
	BARRIER("done");
}

/*
 * The write-back racing invalidations and migrations (PROTOCOL.md
 * "Eviction: the bounded cache", E2-E6). node1 has a 1 MiB cache budget
 * and, round after round, writes its word of each of 64 pages (one
 * group: one EVICTV per home) and then reads a run of other pages of
 * node2's, far past the budget, so that its reclaim work writes those 64
 * back to their home. Meanwhile node3 writes its own word of the same
 * pages, node2 its own, and the pages migrate node2 -> node3 in odd
 * rounds (node3 pulls) and back in even ones (node2 pulls). Both homes
 * sleep evict_delay_ms (debugfs, PROTOCOL.md "Fault injection") between
 * taking an EVICTV's DIRs and their FETCHV, so that the write faults and
 * the MIGRATEs meet write-backs in flight. Half of each round node3
 * writes while node1 evicts, the other half node1 writes and evicts
 * alone (so that it owns the pages it evicts). At the end every node
 * finds, in every page, each node's last value in its word and the run's
 * first data in every other word: no write lost, none misplaced; no
 * SIGBUS on the way, and node1 wrote pages back (evicted_written grew).
 */
#define RACE_PAGES		64	/* one group, TDSM_WIRE_BATCH */
#define RACE_FILL_PAGES		1024	/* node1 reads these past its budget */
#define RACE_FILL_PAGES_DEBUG	512	/* the same, on the debug kernel */
#define RACE_ROUNDS		4	/* even: the pages end on node2 */
#define RACE_ROUNDS_DEBUG	2
#define RACE_BUDGET_MB		1	/* node1's: 256 pages, low 192 */
#define RACE_DELAY_MS		100	/* evict_delay_ms on the homes */
#define RACE_N3_PASSES		4	/* node3's writes per round */
#define RACE_SEED		11	/* the run's first data (tc_fill round) */

/* The value node @id writes in its word (word @id of each page) in its @k-th pass. */
static uint64_t race_val(unsigned int id, unsigned int k)
{
	return (uint64_t)id << 56 | k;
}

static void race_write(const struct tc_node *n, uint64_t addr, uint64_t v)
{
	unsigned int i;

	for (i = 0; i < RACE_PAGES; i++)
		((volatile uint64_t *)(uintptr_t)(addr + (uint64_t)i * n->psz))[n->id] = v;
}

/*
 * Pages of the group at @addr where a word differs from what it must
 * hold: word j of nodes 1..3 their last values @last[j], every other
 * word the run's first data; the first is logged.
 */
static unsigned long race_check(struct __test_metadata *_metadata,
				const struct tc_node *n, uint64_t addr,
				const uint64_t last[TRIO + 1])
{
	unsigned long bad = 0;
	unsigned int i, j;

	for (i = 0; i < RACE_PAGES; i++) {
		uint64_t page = addr + (uint64_t)i * n->psz;
		const volatile uint64_t *w = (const volatile uint64_t *)(uintptr_t)page;

		for (j = 0; j < n->psz / 8; j++) {
			uint64_t want = j >= 1 && j <= TRIO ? last[j] :
					tc_pat(page + 8 * j, RACE_SEED);
			uint64_t got = w[j];

			if (got == want)
				continue;
			if (!bad)
				TH_LOG("node%u: page %u word %u holds %#llx, want %#llx",
				       n->id, i, j, (unsigned long long)got,
				       (unsigned long long)want);
			bad++;
			break;
		}
	}
	return bad;
}

/* node1: wait, bounded, until its reclaim work got the cache under @budget. */
static void race_wait_reclaim(const struct tc_node *n, uint64_t budget,
			      double secs)
{
	double deadline = tc_now() + secs;
	struct tinydsm_stats st;

	while (!tc_stats(n, &st) && st.cached_pages > budget &&
	       tc_now() < deadline)
		usleep(20000);
}

TEST_F_TIMEOUT(mig, trio_writeback_races, 600)
{
	unsigned int tmo = tc_module_param("timeout_ms", TC_DEFAULT_PEER_TIMEOUT_MS);
	const unsigned int rounds = tc_debug_kernel() ? RACE_ROUNDS_DEBUG : RACE_ROUNDS;
	const unsigned int fill = tc_debug_kernel() ? RACE_FILL_PAGES_DEBUG :
						      RACE_FILL_PAGES;
	struct tc_node *n = &self->n;
	uint64_t run, addr, filler, budget = 0, last[TRIO + 1];
	size_t fill_len = (size_t)fill * n->psz;
	struct tinydsm_stats s0 = {}, s1;
	char step[32], path[PATH_MAX], val[16];
	unsigned int round, k = 0, pass;
	struct tnl_answer r;
	double deadline;

	START();
	if (access(INJECT_DIR "/evict_delay_ms", W_OK))
		SKIP(return, "no %s/evict_delay_ms (%s): a kernel without CONFIG_DEBUG_FS, or debugfs not mounted",
		     INJECT_DIR, strerror(errno));
	/* An aligned group, then the filler: all homed on node2. */
	run = tc_shared_run(_metadata, n, &self->s, SRC,
			    2 * RACE_PAGES + fill, RACE_SEED,
			    3 * self->s.timeout_s);
	addr = TINYDSM_REGION_BASE +
	       (run - TINYDSM_REGION_BASE + (uint64_t)RACE_PAGES * n->psz - 1) /
	       ((uint64_t)RACE_PAGES * n->psz) * RACE_PAGES * n->psz;
	filler = addr + (uint64_t)RACE_PAGES * n->psz;
	ASSERT_LE(filler + fill_len, run + (2 * RACE_PAGES + fill) * (uint64_t)n->psz);

	if (n->id == APP) {
		ASSERT_EQ(0, tc_cache_budget_set(RACE_BUDGET_MB));
		self->budget_set = 1;
		ASSERT_EQ(0, tc_stats(n, &s0));
		budget = s0.cache_budget_pages;
		ASSERT_EQ((uint64_t)(RACE_BUDGET_MB << 20) / n->psz, budget);
		/*
		 * Pages node1 owns from earlier tests go back now, through
		 * the filler's clean pages, so that evicted_written counts
		 * this test's write-backs.
		 */
		EXPECT_EQ(0, tc_check_mem(_metadata, filler, fill_len,
					  RACE_SEED, "node1's filler, first"));
		race_wait_reclaim(n, budget, 2.0 * tmo / 1000);
		ASSERT_EQ(0, tc_stats(n, &s0));
	} else {
		snprintf(val, sizeof(val), "%u", RACE_DELAY_MS);
		ASSERT_EQ(0, knob_write(INJECT_DIR, "evict_delay_ms", val))
			TH_LOG("evict_delay_ms: %s", strerror(errno));
		self->delay_set = 1;
	}
	BARRIER("armed");

	for (round = 1; round <= rounds; round++) {
		bool to_dst = round % 2;	/* node3 pulls, else node2 */

		snprintf(step, sizeof(step), "round-%u", round);
		/*
		 * node1's round (two writes, its filler read twice past its
		 * budget, the reclaim waited for) took 146 to 160 s on the
		 * debug kernel of a busy host: wait for it twice the usual.
		 */
		TC_BARRIER(step, 6 * self->s.timeout_s);
		ASSERT_EQ(0, tc_file(&self->s, path, sizeof(path),
				     "node3-wrote-%u", round));
		if (n->id == APP) {
			/* Written, then pushed out while node3 writes too. */
			race_write(n, addr, race_val(APP, ++k));
			EXPECT_EQ(0, tc_check_mem(_metadata, filler, fill_len,
						  RACE_SEED, "node1's filler"));
			deadline = tc_now() + 3 * self->s.timeout_s;
			while (!tc_exists(path) && tc_now() < deadline)
				usleep(20000);
			ASSERT_TRUE(tc_exists(path)) TH_LOG("node3 did not finish its writes");
			/* Written again and pushed out: node1 owns what it evicts. */
			race_write(n, addr, race_val(APP, ++k));
			EXPECT_EQ(0, tc_check_mem(_metadata, filler, fill_len,
						  RACE_SEED, "node1's filler again"));
			race_wait_reclaim(n, budget, 2.0 * tmo / 1000);
		}
		if ((n->id == DST && to_dst) || (n->id == SRC && !to_dst)) {
			usleep(100000);	/* node1 is reading its filler */
			ASSERT_GEN(0, gen_migrate(addr, RACE_PAGES,
						  to_dst ? SRC : DST, &r), &r);
			EXPECT_EQ(RACE_PAGES, r.moved) TH_LOG("round %u", round);
		}
		if (n->id == DST) {
			for (pass = 0; pass < RACE_N3_PASSES; pass++) {
				race_write(n, addr, race_val(DST, ++k));
				usleep(50000);
			}
			ASSERT_EQ(0, tc_touch(path));
		}
		if (n->id == SRC)
			race_write(n, addr, race_val(SRC, ++k));
	}
	snprintf(step, sizeof(step), "round-%u", round);
	BARRIER(step);

	last[0] = 0;
	last[APP] = race_val(APP, 2 * rounds);
	last[SRC] = race_val(SRC, rounds);
	last[DST] = race_val(DST, RACE_N3_PASSES * rounds);
	EXPECT_EQ(0, race_check(_metadata, n, addr, last));
	if (n->id == APP) {
		ASSERT_EQ(0, tc_stats(n, &s1));
		TH_LOG("written back %llu, released %llu, failed %llu, clean %llu; %llu batches",
		       (unsigned long long)(s1.evicted_written - s0.evicted_written),
		       (unsigned long long)(s1.evict_released - s0.evict_released),
		       (unsigned long long)(s1.evict_failed - s0.evict_failed),
		       (unsigned long long)(s1.evicted_clean - s0.evicted_clean),
		       (unsigned long long)(s1.evict_batches - s0.evict_batches));
		EXPECT_LT(s0.evicted_written, s1.evicted_written)
			TH_LOG("no page written back: the race did not happen");
	}
	/* The homes agree the pages are back on node2 (an even number of moves). */
	if (n->id != APP)
		EXPECT_EQ(0, check_info(_metadata, n, addr, RACE_PAGES, -1, SRC,
					-1, -1, 0, 0, "after the rounds"));
	BARRIER("checked");
}

TEST_HARNESS_MAIN
