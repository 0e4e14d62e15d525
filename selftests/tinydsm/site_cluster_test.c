// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm access sites on two nodes: a site follows its page. node2 homes
 * a page; node1's load site reads it (direct form: a fault brings the page
 * here). node2 writes the page, invalidating node1's copy:
 *   lazy  (default) the site stays direct; node1's next load faults and
 *         brings the page back;
 *   eager the module rewrites the site to its lookup form at once; node1's
 *         next load takes no fault: the lookup stub reads the word at
 *         node2 (TINYDSM_IOC_WORD) and the page stays there. When the page
 *         is here again (another access faults it in), the site goes
 *         direct again.
 * A store site in lookup form on a page node1 holds read-only stores at
 * the home: node2 gets the value and node1's copy is invalidated. An
 * atomic site (lock xadd) in lookup form does each fetch-add at the home,
 * where the page stays. Every value is checked on both nodes, the faults
 * and word accesses counted.
 *
 * Every node of a 2-node lab run executes this binary (tdsm_cluster.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_cluster.h"
#include "tinydsm.h"
#include "tdsm_sites.h"

#define PAIR		2
#define APP		1	/* runs the sites */
#define HOME		2	/* homes the page */
#define FORM_WAIT_S	20

static __attribute__((noinline)) uint64_t ld64(void *p) { return TDSM_LOAD64(p); }
static __attribute__((noinline)) void st64(void *p, uint64_t v) { TDSM_STORE64(p, v); }
static __attribute__((noinline)) uint64_t fa64(void *p, uint64_t v) { return TDSM_FETCH_ADD64(p, v); }
static __attribute__((noinline)) uint64_t xc64(void *p, uint64_t v) { return TDSM_XCHG64(p, v); }
static __attribute__((noinline)) uint64_t cas64(void *p, uint64_t e, uint64_t v)
{
	return TDSM_CAS64(p, e, v);
}

/* A plain load, not built with the macros: the uprobe path. */
static __attribute__((noinline)) uint64_t plain_ld(const void *p)
{
	return *(const volatile uint64_t *)p;
}

/* Wait until the module has put @site in @form (page events are async). */
static int wait_form(uintptr_t site, unsigned int form)
{
	struct tinydsm_site_info si;
	double end = tc_now() + FORM_WAIT_S;

	do {
		memset(&si, 0, sizeof(si));
		if (tdsm_site_info(site, &si))
			return -1;
		if (si.form == form)
			return 0;
		usleep(10000);
	} while (tc_now() < end);
	return -1;
}

FIXTURE(sc) {
	struct tc_node n;	/* node2 */
	struct tc_sync s;
	int ready;
	char setup_err[256];
};

FIXTURE_SETUP(sc)
{
	int err;

	tc_sync_init(&self->s, "site_cluster", _metadata->name);
	if (self->s.nodes != PAIR)
		return;
	if (self->s.id == APP) {
		err = tdsm_attach(0);
		if (err) {
			snprintf(self->setup_err, sizeof(self->setup_err),
				 "tdsm_attach: %s (%s)", strerror(-err),
				 tdsm_strerror_detail());
			return;
		}
	} else if (tc_node_open_as(&self->n, self->s.id, self->setup_err,
				   sizeof(self->setup_err))) {
		return;
	}
	self->ready = 1;
}

FIXTURE_TEARDOWN(sc)
{
	TC_MARK_FAILED();
	if (self->s.id == APP)
		tdsm_detach();
	else if (self->ready)
		tc_node_close(&self->n);
}

#define START() TC_START(PAIR)
#define BARRIER(step) TC_BARRIER(step, self->s.timeout_s)

/*
 * node2 allocates a page it homes and writes @first to its word; both
 * nodes return its address (after the barrier "allocated").
 */
static uint64_t shared_page(struct __test_metadata *_metadata,
			    FIXTURE_DATA(sc) *self, uint64_t first)
{
	uint64_t addr = 0;
	char buf[64];

	if (self->s.id == HOME) {
		ASSERT_EQ(0, tc_alloc(&self->n, HOME, 1, &addr));
		*(volatile uint64_t *)(uintptr_t)addr = first;
		snprintf(buf, sizeof(buf), "%#llx", (unsigned long long)addr);
		ASSERT_EQ(0, tc_put(&self->s, "addr", buf));
	}
	BARRIER("allocated");
	if (self->s.id == APP) {
		ASSERT_EQ(0, tc_get(&self->s, "addr", buf, sizeof(buf)));
		addr = strtoull(buf, NULL, 0);
	}
	return addr;
}

TEST_F(sc, site_follows_its_page)
{
	struct tinydsm_stats s0, s1;
	struct tinydsm_page_info pi;
	struct tinydsm_site_info si;
	uintptr_t ld = site_of(ld64), st = site_of(st64);
	uint64_t addr = 0;
	uint64_t *p;

	START();
	addr = shared_page(_metadata, self, 0x1111);
	p = (uint64_t *)(uintptr_t)addr;

	/* Lazy: the site stays direct, the next access faults. */
	if (self->s.id == APP) {
		ASSERT_NE(0, ld);
		ASSERT_NE(0, st);
		EXPECT_EQ(0x1111, ld64(p));
	}
	BARRIER("read");
	if (self->s.id == HOME)
		*(volatile uint64_t *)p = 0x2222;
	BARRIER("written-lazy");
	if (self->s.id == APP) {
		ASSERT_EQ(0, tdsm_stats(&s0));
		EXPECT_EQ(0x2222, ld64(p));
		ASSERT_EQ(0, tdsm_stats(&s1));
		EXPECT_EQ(s0.read_faults + 1, s1.read_faults) TH_LOG("lazy: one fault");
		EXPECT_EQ(s0.word_remote, s1.word_remote);
		ASSERT_EQ(0, tdsm_site_info(ld, &si));
		EXPECT_EQ(TINYDSM_SITE_DIRECT, si.form);
		EXPECT_LE(2, si.faults);
		ASSERT_EQ(0, tdsm_set_policy(TINYDSM_SITES_POLICY_EAGER));
	}
	BARRIER("eager");

	/* Eager: node2's write puts the site in lookup form; no fault after. */
	if (self->s.id == HOME)
		*(volatile uint64_t *)p = 0x3333;
	BARRIER("written-eager");
	if (self->s.id == APP) {
		ASSERT_EQ(0, wait_form(ld, TINYDSM_SITE_LOOKUP))
			TH_LOG("the load site did not go lookup when its page left");
		ASSERT_EQ(0, tdsm_stats(&s0));
		EXPECT_EQ(0x3333, ld64(p));
		EXPECT_EQ(0x3333, ld64(p));
		ASSERT_EQ(0, tdsm_stats(&s1));
		EXPECT_EQ(s0.read_faults, s1.read_faults) TH_LOG("lookup form: no fault");
		EXPECT_EQ(s0.word_remote + 2, s1.word_remote);
		ASSERT_EQ(0, tdsm_page_info(p, &pi));
		EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state) TH_LOG("the page stayed at node2");

		/* The page comes back (a plain access faults it in): direct again. */
		EXPECT_EQ(0x3333, *(volatile uint64_t *)p);
		ASSERT_EQ(0, wait_form(ld, TINYDSM_SITE_DIRECT))
			TH_LOG("the load site did not go direct when its page came back");
		ASSERT_EQ(0, tdsm_stats(&s0));
		EXPECT_EQ(0x3333, ld64(p));
		ASSERT_EQ(0, tdsm_stats(&s1));
		EXPECT_EQ(s0.read_faults, s1.read_faults);
		EXPECT_EQ(s0.word_remote, s1.word_remote);

		/* A lookup store on a read-only copy stores at the home. */
		EXPECT_EQ(1, tdsm_site_set_form(st, TINYDSM_SITE_LOOKUP));
		st64(p, 0x4444);
		ASSERT_EQ(0, tdsm_stats(&s0));
		EXPECT_EQ(s1.word_remote + 1, s0.word_remote);
		ASSERT_EQ(0, tdsm_page_info(p, &pi));
		EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state) TH_LOG("node1's copy was invalidated");
		ASSERT_EQ(0, wait_form(ld, TINYDSM_SITE_LOOKUP));
		EXPECT_EQ(0x4444, ld64(p));
		ASSERT_EQ(0, tdsm_site_info(st, &si));
		EXPECT_EQ(1, si.words);
	}
	BARRIER("stored");
	if (self->s.id == HOME) {
		ASSERT_EQ(0, tc_stats(&self->n, &s0));
		EXPECT_EQ(0x4444, *(volatile uint64_t *)p);
		EXPECT_LE(4, s0.word_served);
		EXPECT_EQ(0, tc_free(&self->n, addr, 1));
	}
	BARRIER("done");
}

/*
 * An atomic site follows its page too, and then stays remote: node1's
 * fetch-add site (lock xadd) faults the page here at first (direct form);
 * with the eager policy, node2's write puts it in lookup form, and from
 * then on each of node1's fetch-adds is done at node2 (TINYDSM_IOC_ATOMIC:
 * no fault, the page stays at node2) while node2 fetch-adds the same word
 * on its mapping. The total is exact, node1's old values increase, and an
 * xchg site and a CAS site (lock cmpxchg) in lookup form swap at node2 too:
 * a CAS that expects another value changes nothing, one that expects the
 * word swaps, each one WORD round trip and no fault.
 */
#define SITE_ADDS	200

TEST_F(sc, atomic_site_stays_remote)
{
	uintptr_t fa = site_of(fa64);
	struct tinydsm_stats s0, s1;
	struct tinydsm_page_info pi;
	uint64_t addr = 0, prev, o;
	uint64_t *p;
	int i;

	START();
	addr = shared_page(_metadata, self, 0);
	p = (uint64_t *)(uintptr_t)addr;

	/* Direct: the first fetch-add faults the page here. */
	if (self->s.id == APP) {
		ASSERT_EQ(0, tdsm_set_policy(TINYDSM_SITES_POLICY_EAGER));
		ASSERT_EQ(0, tdsm_stats(&s0));
		EXPECT_EQ(0, fa64(p, 1));
		ASSERT_EQ(0, tdsm_stats(&s1));
		EXPECT_EQ(s0.write_faults + 1, s1.write_faults) TH_LOG("direct: one fault");
		ASSERT_EQ(0, tdsm_page_info(p, &pi));
		EXPECT_EQ(TINYDSM_PAGE_EXCLUSIVE, pi.state);
	}
	BARRIER("direct");
	if (self->s.id == HOME)
		__atomic_fetch_add(p, 100, __ATOMIC_SEQ_CST);
	BARRIER("taken");

	/* Lookup: every fetch-add at node2, both nodes at once. */
	if (self->s.id == APP) {
		ASSERT_EQ(0, wait_form(fa, TINYDSM_SITE_LOOKUP))
			TH_LOG("the fetch-add site did not go lookup when its page left");
		ASSERT_EQ(0, tdsm_stats(&s0));
	}
	BARRIER("go");
	prev = 0;
	for (i = 0; i < SITE_ADDS; i++) {
		if (self->s.id == APP) {
			o = fa64(p, 1);
			if (i)
				EXPECT_LT(prev, o) TH_LOG("op %d", i);
			prev = o;
		} else {
			__atomic_fetch_add(p, 1, __ATOMIC_SEQ_CST);
		}
	}
	BARRIER("added");
	if (self->s.id == APP) {
		ASSERT_EQ(0, tdsm_stats(&s1));
		EXPECT_EQ(s0.write_faults, s1.write_faults) TH_LOG("lookup form: no fault");
		EXPECT_EQ(s0.read_faults, s1.read_faults);
		EXPECT_EQ(s0.word_remote + SITE_ADDS, s1.word_remote)
			TH_LOG("every fetch-add done at node2");
		ASSERT_EQ(0, tdsm_page_info(p, &pi));
		EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state) TH_LOG("the page stayed at node2");
	}
	BARRIER("checked");
	if (self->s.id == HOME) {
		EXPECT_EQ(1 + 100 + 2 * SITE_ADDS, *(volatile uint64_t *)p);
	}
	BARRIER("total");
	if (self->s.id == APP) {
		ASSERT_LE(0, tdsm_site_set_form(site_of(xc64), TINYDSM_SITE_LOOKUP));
		EXPECT_EQ(1 + 100 + 2 * SITE_ADDS, xc64(p, 0x5151));
	}
	BARRIER("swapped");
	if (self->s.id == HOME)
		EXPECT_EQ(0x5151, *(volatile uint64_t *)p);
	BARRIER("checked xchg");
	if (self->s.id == APP) {
		ASSERT_LE(0, tdsm_site_set_form(site_of(cas64), TINYDSM_SITE_LOOKUP));
		ASSERT_EQ(0, tdsm_stats(&s0));
		EXPECT_EQ(0x5151, cas64(p, 0x5150, 0x6262)) TH_LOG("a CAS that must fail");
		EXPECT_EQ(0x5151, cas64(p, 0x5151, 0x6262)) TH_LOG("a CAS that must swap");
		ASSERT_EQ(0, tdsm_stats(&s1));
		EXPECT_EQ(s0.word_remote + 2, s1.word_remote) TH_LOG("both CASes at node2");
		EXPECT_EQ(s0.write_faults, s1.write_faults);
		EXPECT_EQ(s0.read_faults, s1.read_faults);
	}
	BARRIER("cas");
	if (self->s.id == HOME) {
		EXPECT_EQ(0x6262, *(volatile uint64_t *)p);
		EXPECT_EQ(0, tc_free(&self->n, addr, 1));
	}
	BARRIER("done");
}

/*
 * The same for an instruction that is no registered site: its first fault
 * makes it a uprobe site; with the eager policy, node2's write arms its
 * uprobe and the load is done at node2 by the handler, without a fault.
 */
TEST_F(sc, uprobe_site_follows_its_page)
{
	struct tinydsm_stats s0, s1;
	struct tinydsm_page_info pi;
	struct tinydsm_site_info si;
	uint64_t addr = 0;
	uintptr_t ip = 0;
	uint64_t *p;

	START();
	addr = shared_page(_metadata, self, 0x5151);
	p = (uint64_t *)(uintptr_t)addr;
	if (self->s.id == APP) {
		ASSERT_EQ(0, tdsm_set_policy(TINYDSM_SITES_POLICY_EAGER));
		EXPECT_EQ(0x5151, plain_ld(p));
		ASSERT_EQ(0, tdsm_page_info(p, &pi));
		ip = pi.fault_ip;
		ASSERT_EQ(0, tdsm_site_info(ip, &si)) TH_LOG("the faulting load is no site");
		EXPECT_EQ(TINYDSM_SITE_UPROBE, si.kind);
		EXPECT_EQ(TINYDSM_SITE_DIRECT, si.form);
	}
	BARRIER("read");
	if (self->s.id == HOME)
		*(volatile uint64_t *)p = 0x6161;
	BARRIER("written");
	if (self->s.id == APP) {
		ASSERT_EQ(0, wait_form(ip, TINYDSM_SITE_LOOKUP))
			TH_LOG("the uprobe was not armed when the page left");
		ASSERT_EQ(0, tdsm_stats(&s0));
		EXPECT_EQ(0x6161, plain_ld(p));
		EXPECT_EQ(0x6161, plain_ld(p));
		ASSERT_EQ(0, tdsm_stats(&s1));
		EXPECT_EQ(s0.read_faults, s1.read_faults) TH_LOG("uprobe lookup: no fault");
		EXPECT_EQ(s0.word_remote + 2, s1.word_remote);
		ASSERT_EQ(0, tdsm_site_info(ip, &si));
		EXPECT_EQ(2, si.words);
		ASSERT_EQ(0, tdsm_page_info(p, &pi));
		EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state);
		/* The page comes back (a site's own fault): the uprobe goes. */
		EXPECT_EQ(0x6161, *(volatile uint64_t *)p);
		ASSERT_EQ(0, wait_form(ip, TINYDSM_SITE_DIRECT));
		EXPECT_EQ(0x6161, plain_ld(p));
		ASSERT_EQ(0, tdsm_site_info(ip, &si));
		EXPECT_EQ(2, si.words);
	}
	BARRIER("done");
	if (self->s.id == HOME)
		EXPECT_EQ(0, tc_free(&self->n, addr, 1));
}

TEST_HARNESS_MAIN
