// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm access sites on one node: libtinydsm registers this program's
 * sites, the module rewrites them between their direct form (the mov) and
 * their lookup form (jmp to the thunk), and the data read and written is
 * right in both forms, for every width; threads hammering the sites while
 * they are rewritten see neither a SIGTRAP nor a wrong value; processes
 * that exit or exec while their sites are being rewritten leave the module
 * usable; bad site tables and bad word accesses get clear errors;
 * libtinydsm's atomics are exact, through the module and on the mapping,
 * from several threads at once, and so are the atomic sites (lock xadd,
 * xchg) in both forms, while they are rewritten.
 *
 * The two-node half (a site follows its page's location) is
 * site_cluster_test.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tinydsm.h"
#include "tdsm_sites.h"

#define PG		4096
#define STRESS_THREADS	3
#define STRESS_FLIPS	300

/* One accessor per width and kind, each its own site. */
static __attribute__((noinline)) uint64_t ld8(void *p) { return TDSM_LOAD8(p); }
static __attribute__((noinline)) uint64_t ld16(void *p) { return TDSM_LOAD16(p); }
static __attribute__((noinline)) uint64_t ld32(void *p) { return TDSM_LOAD32(p); }
static __attribute__((noinline)) uint64_t ld64(void *p) { return TDSM_LOAD64(p); }
static __attribute__((noinline)) void st8(void *p, uint64_t v) { TDSM_STORE8(p, v); }
static __attribute__((noinline)) void st16(void *p, uint64_t v) { TDSM_STORE16(p, v); }
static __attribute__((noinline)) void st32(void *p, uint64_t v) { TDSM_STORE32(p, v); }
static __attribute__((noinline)) void st64(void *p, uint64_t v) { TDSM_STORE64(p, v); }

/* The atomic sites: lock xadd and xchg, 8 and 4 bytes. */
static __attribute__((noinline)) uint64_t fa64(void *p, uint64_t v) { return TDSM_FETCH_ADD64(p, v); }
static __attribute__((noinline)) uint64_t fa32(void *p, uint64_t v) { return TDSM_FETCH_ADD32(p, v); }
static __attribute__((noinline)) uint64_t xc64(void *p, uint64_t v) { return TDSM_XCHG64(p, v); }
static __attribute__((noinline)) uint64_t xc32(void *p, uint64_t v) { return TDSM_XCHG32(p, v); }
/* The compare-and-swap sites: lock cmpxchg, 8 and 4 bytes. */
static __attribute__((noinline)) uint64_t cas64(void *p, uint64_t e, uint64_t v)
{
	return TDSM_CAS64(p, e, v);
}

static __attribute__((noinline)) uint64_t cas32(void *p, uint64_t e, uint64_t v)
{
	return TDSM_CAS32(p, e, v);
}

/*
 * Plain accesses, not built with the macros: what any program has. A
 * fault from one of them makes it a site of the uprobe path.
 */
static __attribute__((noinline)) uint64_t plain_ld(const void *p)
{
	return *(const volatile uint64_t *)p;
}

static __attribute__((noinline)) void plain_st(void *p, uint64_t v)
{
	*(volatile uint64_t *)p = v;
}

/* The site's bytes are its direct form, or a jmp to its thunk then int3s. */
static int site_form_in_text(const struct tinydsm_site_entry *e)
{
	const uint8_t *p = (const uint8_t *)tdsm_site_addr(e);
	int32_t rel;
	int i;

	if (p[0] != 0xe9)
		return TINYDSM_SITE_DIRECT;
	memcpy(&rel, p + 1, 4);
	if ((uintptr_t)p + 5 + rel != tdsm_site_lookup_addr(e))
		return -1;
	for (i = 5; i < e->len; i++)
		if (p[i] != 0xcc)
			return -1;
	return TINYDSM_SITE_LOOKUP;
}

static void *fresh_pages(unsigned int n)
{
	return tdsm_alloc(n, 0);
}

FIXTURE(site) {
	int attached;
};

FIXTURE_SETUP(site)
{
	int err;

	if (access("/dev/tinydsm", R_OK | W_OK))
		SKIP(return, "/dev/tinydsm is not there (module not loaded)");
	err = tdsm_attach(0);
	ASSERT_EQ(0, err) TH_LOG("tdsm_attach: %s (%s)", strerror(-err),
				 tdsm_strerror_detail());
	self->attached = 1;
}

FIXTURE_TEARDOWN(site)
{
	if (self->attached)
		tdsm_detach();
}

TEST_F(site, registered)
{
	const struct tinydsm_site_entry *e;
	unsigned int policy = 9, count = 0;
	size_t n = tdsm_sites(&e);
	struct tinydsm_site_info si = { 0 };

	ASSERT_LE(8, n);
	ASSERT_EQ(0, tdsm_get_policy(&policy, &count));
	EXPECT_EQ(TINYDSM_SITES_POLICY_LAZY, policy);
	EXPECT_EQ(n, count);
	ASSERT_NE(0, site_of(ld64));
	ASSERT_EQ(0, tdsm_site_info(site_of(ld64), &si));
	EXPECT_EQ(TINYDSM_SITE_DIRECT, si.form);
	EXPECT_EQ(TINYDSM_SITE_POKE, si.kind);
	EXPECT_EQ(8, si.width);
	EXPECT_EQ(0, si.flags);
	ASSERT_EQ(0, tdsm_site_info(site_of(st16), &si));
	EXPECT_EQ(2, si.width);
	EXPECT_EQ(TINYDSM_SITE_F_STORE, si.flags);
	/* Not a site: ENOENT. */
	EXPECT_EQ(-ENOENT, tdsm_site_info(site_of(ld64) + 1, &si));
}

/* Every width, both kinds, in one form: values, extension, neighbours. */
static void check_widths(struct __test_metadata *_metadata, uint8_t *p,
			 const char *form)
{
	uint64_t v;

	memset(p, 0x5a, 64);
	st64(p + 8, 0xfedcba9876543210ull);
	EXPECT_EQ(0xfedcba9876543210ull, *(uint64_t *)(p + 8)) TH_LOG("%s", form);
	EXPECT_EQ(0xfedcba9876543210ull, ld64(p + 8)) TH_LOG("%s", form);
	st32(p + 20, 0x89abcdefu);
	EXPECT_EQ(0x89abcdefu, *(uint32_t *)(p + 20));
	v = ld32(p + 20);
	EXPECT_EQ(0x89abcdefull, v) TH_LOG("%s: 4-byte load must zero-extend", form);
	st16(p + 30, 0xbeef);
	EXPECT_EQ(0xbeef, *(uint16_t *)(p + 30));
	EXPECT_EQ(0xbeefull, ld16(p + 30));
	st8(p + 33, 0xa5);
	EXPECT_EQ(0xa5, p[33]);
	EXPECT_EQ(0xa5ull, ld8(p + 33));
	/* Stores write their width only. */
	EXPECT_EQ(0x5a, p[7]);
	EXPECT_EQ(0x5a, p[16]);
	EXPECT_EQ(0x5a, p[24]);
	EXPECT_EQ(0x5a, p[29]);
	EXPECT_EQ(0x5a, p[32]);
	EXPECT_EQ(0x5a, p[34]);
}

TEST_F(site, forms_and_data)
{
	const struct tinydsm_site_entry *e;
	size_t i, n = tdsm_sites(&e);
	struct tinydsm_stats st0, st1;
	uint8_t *p = fresh_pages(2);
	int got;

	ASSERT_NE(NULL, p);
	check_widths(_metadata, p, "direct");

	/* Every site: ours, and any uprobe site the faults above made. */
	got = tdsm_sites_set_form_all(TINYDSM_SITE_LOOKUP);
	ASSERT_LE((int)n, got) TH_LOG("%s", tdsm_strerror_detail());
	/* Setting the form it has rewrites nothing. */
	EXPECT_EQ(0, tdsm_sites_set_form_all(TINYDSM_SITE_LOOKUP));
	for (i = 0; i < n; i++)
		EXPECT_EQ(TINYDSM_SITE_LOOKUP, site_form_in_text(&e[i]));
	ASSERT_EQ(0, tdsm_stats(&st0));
	check_widths(_metadata, p, "lookup, page here");
	/* A page never touched: the lookup stub asks the module (WORD). */
	st64(p + PG + 64, 77);
	EXPECT_EQ(77, ld64(p + PG + 64));
	EXPECT_EQ(77, *(uint64_t *)(p + PG + 64));
	ASSERT_EQ(0, tdsm_stats(&st1));
	EXPECT_EQ(st0.word_remote, st1.word_remote) TH_LOG("one node: nothing is remote");

	got = tdsm_sites_set_form_all(TINYDSM_SITE_DIRECT);
	ASSERT_LE((int)n, got);
	for (i = 0; i < n; i++)
		EXPECT_EQ(TINYDSM_SITE_DIRECT, site_form_in_text(&e[i]));
	check_widths(_metadata, p, "direct again");

	/* One site alone. */
	EXPECT_EQ(1, tdsm_site_set_form(site_of(ld32), TINYDSM_SITE_LOOKUP));
	EXPECT_EQ(TINYDSM_SITE_LOOKUP,
		  site_form_in_text(tdsm_site_find(site_of(ld32))));
	EXPECT_EQ(TINYDSM_SITE_DIRECT,
		  site_form_in_text(tdsm_site_find(site_of(ld64))));
	check_widths(_metadata, p, "mixed");
	EXPECT_EQ(1, tdsm_site_set_form(site_of(ld32), TINYDSM_SITE_DIRECT));
	EXPECT_EQ(-ENOENT, tdsm_site_set_form(site_of(ld32) + 2, TINYDSM_SITE_LOOKUP));
	EXPECT_EQ(-EINVAL, tdsm_site_set_form(site_of(ld32), 7));
	EXPECT_EQ(0, tdsm_free(p, 2));
}

/* Threads run the sites while the main thread rewrites them, again and again. */
struct hammer {
	uint64_t *slot;
	atomic_int *stop;
	uint64_t done;
};

static void *hammer_fn(void *arg)
{
	struct hammer *h = arg;

	while (!atomic_load_explicit(h->stop, memory_order_relaxed)) {
		st64(h->slot, ld64(h->slot) + 1);
		__atomic_store_n(&h->done, h->done + 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

TEST_F(site, threads_during_rewrites)
{
	struct hammer h[STRESS_THREADS];
	pthread_t th[STRESS_THREADS];
	atomic_int stop = 0;
	uint64_t *p = fresh_pages(1);
	int i, flips = 0;

	ASSERT_NE(NULL, p);
	for (i = 0; i < STRESS_THREADS; i++) {
		h[i].slot = p + 8 * i;	/* a cache line each */
		h[i].stop = &stop;
		h[i].done = 0;
		*h[i].slot = 0;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, hammer_fn, &h[i]));
	}
	/*
	 * Every thread runs before the first rewrite, and the rewrites yield
	 * now and then: a lab guest has one vCPU, and the main thread could
	 * otherwise do all of them before a thread is scheduled.
	 */
	for (i = 0; i < STRESS_THREADS; i++)
		while (!__atomic_load_n(&h[i].done, __ATOMIC_RELAXED))
			sched_yield();
	for (i = 0; i < STRESS_FLIPS; i++) {
		int form = i & 1 ? TINYDSM_SITE_DIRECT : TINYDSM_SITE_LOOKUP;

		if (i % 16 == 0)
			sched_yield();
		if (tdsm_site_set_form(site_of(ld64), form) == 1)
			flips++;
		if (tdsm_site_set_form(site_of(st64), form) == 1)
			flips++;
	}
	atomic_store(&stop, 1);
	for (i = 0; i < STRESS_THREADS; i++) {
		pthread_join(th[i], NULL);
		EXPECT_EQ(h[i].done, *h[i].slot) TH_LOG("thread %d lost updates", i);
		EXPECT_LT(0, h[i].done);
	}
	EXPECT_EQ(2 * STRESS_FLIPS, flips);
	TH_LOG("%d rewrites while %d threads ran %llu accesses", flips,
	       STRESS_THREADS, (unsigned long long)(h[0].done + h[1].done + h[2].done));
	EXPECT_EQ(0, tdsm_free(p, 1));
}

/*
 * The atomic sites (lock xadd, xchg): the module registers them (their
 * flags in SITE_INFO), and in both forms they are atomic: threads
 * fetch-add one word through a site while the main thread flips that
 * site between its forms, and every old value the threads got is one of
 * 0 .. total - 1, each once, and the word is the total. A page never
 * touched, through a site in lookup form: the stub asks the module
 * (TINYDSM_IOC_ATOMIC), which gets the page here.
 */
#define SITE_ADD_THREADS	3
#define SITE_ADD_OPS	3000

struct adder {
	uint64_t *word;
	uint64_t olds[SITE_ADD_OPS];
	unsigned long failed;	/* CASes that lost a race */
};

/*
 * Flip @site between its forms until the word at @p reaches @total (the
 * threads are done): how many times it was rewritten.
 */
static int flip_until(uint64_t *p, uint64_t total, uintptr_t site)
{
	int flips = 0;

	while (__atomic_load_n(p, __ATOMIC_RELAXED) < total) {
		int form = flips & 1 ? TINYDSM_SITE_DIRECT : TINYDSM_SITE_LOOKUP;

		if (tdsm_site_set_form(site, form) != 1)
			break;
		flips++;
		sched_yield();
	}
	return flips;
}

/*
 * Every old value the threads of @ad got (one per increment of the word,
 * from 0) is one of 0 .. @total - 1, each once, and each thread's grow.
 */
static void check_olds_once(struct __test_metadata *_metadata,
			    const struct adder *ad, uint64_t total)
{
	uint8_t *seen = calloc(total, 1);
	unsigned int i, j;

	ASSERT_NE(NULL, seen);
	for (i = 0; i < SITE_ADD_THREADS; i++)
		for (j = 0; j < SITE_ADD_OPS; j++) {
			uint64_t o = ad[i].olds[j];

			ASSERT_LT(o, total) TH_LOG("thread %u, op %u: old %llu", i, j,
						   (unsigned long long)o);
			EXPECT_EQ(0, seen[o]) TH_LOG("old value %llu twice",
						     (unsigned long long)o);
			seen[o] = 1;
			if (j)
				EXPECT_LT(ad[i].olds[j - 1], o);
		}
	free(seen);
}

static void *adder_fn(void *arg)
{
	struct adder *a = arg;
	unsigned int i;

	for (i = 0; i < SITE_ADD_OPS; i++) {
		a->olds[i] = fa64(a->word, 1);
		if (i % 64 == 0)
			sched_yield();
	}
	return NULL;
}

TEST_F(site, atomic_sites)
{
	static struct adder ad[SITE_ADD_THREADS];
	pthread_t th[SITE_ADD_THREADS];
	struct tinydsm_site_info si = { 0 };
	uint64_t *p = fresh_pages(2), total = SITE_ADD_THREADS * SITE_ADD_OPS;
	int i, flips;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, tdsm_site_info(site_of(fa64), &si));
	EXPECT_EQ(TINYDSM_SITE_F_FETCH_ADD, si.flags);
	EXPECT_EQ(8, si.width);
	ASSERT_EQ(0, tdsm_site_info(site_of(xc32), &si));
	EXPECT_EQ(TINYDSM_SITE_F_XCHG, si.flags);
	EXPECT_EQ(4, si.width);

	/* Each form alone: the value before, the word after, 32 bits wrap. */
	p[1] = 0x77ffffffffULL;
	EXPECT_EQ(0xffffffffULL, fa32(&p[1], 2));
	EXPECT_EQ(0x7700000001ULL, p[1]);
	EXPECT_EQ(1, tdsm_site_set_form(site_of(fa32), TINYDSM_SITE_LOOKUP));
	EXPECT_EQ(1, fa32(&p[1], 2));
	EXPECT_EQ(0x7700000003ULL, p[1]);
	EXPECT_EQ(0x7700000003ULL, xc64(&p[1], 5));
	EXPECT_EQ(1, tdsm_site_set_form(site_of(xc64), TINYDSM_SITE_LOOKUP));
	EXPECT_EQ(5, xc64(&p[1], 6));
	EXPECT_EQ(6, xc32(&p[1], 7));
	EXPECT_EQ(7, p[1]);

	/* The second page, never touched, through the lookup form. */
	EXPECT_EQ(0, fa32((uint8_t *)p + PG + 8, 9));
	EXPECT_EQ(9, fa32((uint8_t *)p + PG + 8, 1));
	EXPECT_EQ(10, *(volatile uint32_t *)((uint8_t *)p + PG + 8));

	/* Threads through one site, flipped between its forms meanwhile. */
	p[0] = 0;
	for (i = 0; i < SITE_ADD_THREADS; i++) {
		ad[i].word = p;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, adder_fn, &ad[i]));
	}
	flips = flip_until(p, total, site_of(fa64));
	for (i = 0; i < SITE_ADD_THREADS; i++)
		pthread_join(th[i], NULL);
	EXPECT_EQ(total, p[0]);
	check_olds_once(_metadata, ad, total);
	EXPECT_LT(0, flips);
	TH_LOG("%llu fetch-adds by %d threads while the site was rewritten %d times",
	       (unsigned long long)total, SITE_ADD_THREADS, flips);
	tdsm_sites_set_form_all(TINYDSM_SITE_DIRECT);
	EXPECT_EQ(0, tdsm_free(p, 2));
}

/*
 * The compare-and-swap sites (lock cmpxchg): registered with their flag,
 * and in both forms a CAS: the word before comes back whether or not it
 * equalled the expected value, the word changes only if it did, a 32-bit
 * CAS leaves the other half of a 64-bit word alone, and on a page never
 * touched the lookup form's stub asks the module (TINYDSM_IOC_ATOMIC CAS).
 * Then threads count one word up with CAS loops through one site while
 * the main thread flips it between its forms: the word is the total, and
 * the old values of the successful CASes are 0 .. total - 1, each once.
 */
static void *caser_fn(void *arg)
{
	struct adder *c = arg;
	unsigned int i;

	for (i = 0; i < SITE_ADD_OPS; i++) {
		uint64_t e = __atomic_load_n(c->word, __ATOMIC_RELAXED), o;

		while ((o = cas64(c->word, e, e + 1)) != e) {
			c->failed++;
			e = o;
		}
		c->olds[i] = e;
		if (i % 64 == 0)
			sched_yield();
	}
	return NULL;
}

TEST_F(site, cas_sites)
{
	static struct adder cs[SITE_ADD_THREADS];
	pthread_t th[SITE_ADD_THREADS];
	struct tinydsm_site_info si = { 0 };
	uint64_t *p = fresh_pages(3), total = SITE_ADD_THREADS * SITE_ADD_OPS;
	unsigned long failed = 0;
	uint32_t *fresh;
	int i, flips;

	ASSERT_NE(NULL, p);
	ASSERT_EQ(0, tdsm_site_info(site_of(cas64), &si));
	EXPECT_EQ(TINYDSM_SITE_F_CAS, si.flags);
	EXPECT_EQ(8, si.width);
	ASSERT_EQ(0, tdsm_site_info(site_of(cas32), &si));
	EXPECT_EQ(TINYDSM_SITE_F_CAS, si.flags);
	EXPECT_EQ(4, si.width);

	/* Each form alone: a CAS that fails, one that swaps; 32 bits of 64. */
	p[1] = 0x7700000005ULL;
	EXPECT_EQ(5, cas32(&p[1], 4, 9));
	EXPECT_EQ(0x7700000005ULL, p[1]) TH_LOG("a failed CAS wrote");
	EXPECT_EQ(5, cas32(&p[1], 5, 9));
	EXPECT_EQ(0x7700000009ULL, p[1]);
	EXPECT_EQ(0x7700000009ULL, cas64(&p[1], 9, 1));
	EXPECT_EQ(0x7700000009ULL, p[1]) TH_LOG("a failed CAS wrote");
	EXPECT_EQ(0x7700000009ULL, cas64(&p[1], 0x7700000009ULL, 2));
	EXPECT_EQ(2, p[1]);
	EXPECT_EQ(1, tdsm_site_set_form(site_of(cas32), TINYDSM_SITE_LOOKUP));
	EXPECT_EQ(1, tdsm_site_set_form(site_of(cas64), TINYDSM_SITE_LOOKUP));
	p[1] = 0x7700000005ULL;
	EXPECT_EQ(5, cas32(&p[1], 4, 9));
	EXPECT_EQ(0x7700000005ULL, p[1]) TH_LOG("a failed CAS wrote (lookup form)");
	EXPECT_EQ(5, cas32(&p[1], 5, 9));
	EXPECT_EQ(0x7700000009ULL, p[1]);
	EXPECT_EQ(0x7700000009ULL, cas64(&p[1], 9, 1));
	EXPECT_EQ(0x7700000009ULL, cas64(&p[1], 0x7700000009ULL, 3));
	EXPECT_EQ(3, p[1]);

	/* Pages never touched, through the lookup form (its stub), each width. */
	EXPECT_EQ(0, cas64((uint8_t *)p + 2 * PG + 16, 0, 0x1122334455ULL));
	fresh = (uint32_t *)((uint8_t *)p + PG + 8);
	EXPECT_EQ(0, cas32(fresh, 1, 7)) TH_LOG("a page never touched is zero");
	EXPECT_EQ(0, cas32(fresh, 0, 7));
	EXPECT_EQ(7, cas32(fresh, 7, 8));
	EXPECT_EQ(8, *(volatile uint32_t *)fresh);
	EXPECT_EQ(0x1122334455ULL, *(volatile uint64_t *)((uint8_t *)p + 2 * PG + 16));
	EXPECT_EQ(1, tdsm_site_set_form(site_of(cas32), TINYDSM_SITE_DIRECT));
	EXPECT_EQ(1, tdsm_site_set_form(site_of(cas64), TINYDSM_SITE_DIRECT));

	/* Threads through one site, flipped between its forms meanwhile. */
	p[0] = 0;
	for (i = 0; i < SITE_ADD_THREADS; i++) {
		cs[i].word = p;
		cs[i].failed = 0;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, caser_fn, &cs[i]));
	}
	flips = flip_until(p, total, site_of(cas64));
	for (i = 0; i < SITE_ADD_THREADS; i++) {
		pthread_join(th[i], NULL);
		failed += cs[i].failed;
	}
	EXPECT_EQ(total, p[0]);
	check_olds_once(_metadata, cs, total);
	EXPECT_LT(0, flips);
	TH_LOG("%llu CAS increments (%lu CASes lost a race) by %d threads while "
	       "the site was rewritten %d times", (unsigned long long)total,
	       failed, SITE_ADD_THREADS, flips);
	tdsm_sites_set_form_all(TINYDSM_SITE_DIRECT);
	EXPECT_EQ(0, tdsm_free(p, 3));
}

/*
 * A child rewrites its sites in a loop from one thread, hammers them from
 * another, and exits or execs meanwhile. The module must stay usable (our
 * own rewrites still work) and the lab's dmesg check catches any oops.
 */
static void child_rewrites_then(int how)
{
	pthread_t th;
	atomic_int stop = 0;
	struct hammer h;
	uint64_t *p;
	int i;

	if (tdsm_attach(0))
		_exit(10);
	p = fresh_pages(1);
	if (!p)
		_exit(11);
	h.slot = p;
	h.stop = &stop;
	h.done = 0;
	if (pthread_create(&th, NULL, hammer_fn, &h))
		_exit(12);
	for (i = 0; ; i++) {
		tdsm_sites_set_form_all(i & 1 ? TINYDSM_SITE_DIRECT :
					TINYDSM_SITE_LOOKUP);
		if (i == 40) {
			if (how == 0)
				_exit(0);
			execl("/bin/true", "true", (char *)NULL);
			_exit(13);
		}
	}
}

TEST_F(site, exit_and_exec_mid_rewrite)
{
	int how, status;

	for (how = 0; how < 2; how++) {
		pid_t pid;

		tdsm_detach();	/* the child attaches on its own */
		self->attached = 0;
		pid = fork();
		ASSERT_LE(0, pid);
		if (!pid)
			child_rewrites_then(how);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
		EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("%s", how ? "exec" : "exit");
		ASSERT_EQ(0, tdsm_attach(0));
		self->attached = 1;
	}
	EXPECT_EQ(1, tdsm_site_set_form(site_of(ld16), TINYDSM_SITE_LOOKUP));
	EXPECT_EQ(1, tdsm_site_set_form(site_of(ld16), TINYDSM_SITE_DIRECT));
}

/* ---- the uprobe path ---- */

static uintptr_t fault_ip_of(const void *p)
{
	struct tinydsm_page_info pi;

	return tdsm_page_info(p, &pi) ? 0 : pi.fault_ip;
}

TEST_F(site, uprobe_path)
{
	struct tinydsm_site_info si;
	uint64_t *p = fresh_pages(1);
	uintptr_t ld_ip, st_ip;
	unsigned int i;

	ASSERT_NE(NULL, p);
	/* First touches fault: each faulting mov becomes a uprobe site. */
	EXPECT_EQ(0, plain_ld(p + 1));
	ld_ip = fault_ip_of(p);
	ASSERT_NE(0, ld_ip);
	plain_st(p + 2, 5);
	st_ip = fault_ip_of(p);
	ASSERT_NE(0, st_ip);
	ASSERT_NE(ld_ip, st_ip);
	ASSERT_EQ(0, tdsm_site_info(ld_ip, &si)) TH_LOG("no site at the faulting load");
	EXPECT_EQ(TINYDSM_SITE_UPROBE, si.kind);
	EXPECT_EQ(TINYDSM_SITE_DIRECT, si.form);
	EXPECT_EQ(8, si.width);
	EXPECT_EQ(0, si.flags);
	EXPECT_EQ(0, si.lookup);
	ASSERT_EQ(0, tdsm_site_info(st_ip, &si));
	EXPECT_EQ(TINYDSM_SITE_UPROBE, si.kind);
	EXPECT_EQ(TINYDSM_SITE_F_STORE, si.flags);

	/* Lookup form: the uprobe's handler does every access. */
	ASSERT_EQ(1, tdsm_site_set_form(ld_ip, TINYDSM_SITE_LOOKUP))
		TH_LOG("%s", tdsm_strerror_detail());
	ASSERT_EQ(1, tdsm_site_set_form(st_ip, TINYDSM_SITE_LOOKUP));
	for (i = 0; i < 200; i++) {
		plain_st(p + 2, 0xabcd0000ull + i);
		ASSERT_EQ(0xabcd0000ull + i, plain_ld(p + 2));
		ASSERT_EQ(0xabcd0000ull + i, p[2]);
	}
	ASSERT_EQ(0, tdsm_site_info(ld_ip, &si));
	EXPECT_EQ(TINYDSM_SITE_LOOKUP, si.form);
	EXPECT_EQ(200, si.words);
	ASSERT_EQ(0, tdsm_site_info(st_ip, &si));
	EXPECT_EQ(200, si.words);
	/* An address outside the region: the instruction itself runs. */
	{
		uint64_t local = 42;

		EXPECT_EQ(42, plain_ld(&local));
		plain_st(&local, 43);
		EXPECT_EQ(43, local);
	}

	/* Direct again: no handler any more. */
	ASSERT_EQ(1, tdsm_site_set_form(ld_ip, TINYDSM_SITE_DIRECT));
	ASSERT_EQ(1, tdsm_site_set_form(st_ip, TINYDSM_SITE_DIRECT));
	plain_st(p + 2, 7);
	EXPECT_EQ(7, plain_ld(p + 2));
	ASSERT_EQ(0, tdsm_site_info(ld_ip, &si));
	EXPECT_EQ(200, si.words);
	EXPECT_EQ(2, si.patches);
	EXPECT_EQ(0, tdsm_free(p, 1));
}

/* Threads run a uprobe site while it is armed and disarmed. */
static void *plain_hammer_fn(void *arg)
{
	struct hammer *h = arg;

	while (!atomic_load_explicit(h->stop, memory_order_relaxed)) {
		plain_st(h->slot, plain_ld(h->slot) + 1);
		h->done++;
	}
	return NULL;
}

TEST_F(site, uprobe_threads_during_rewrites)
{
	struct hammer h[2];
	pthread_t th[2];
	atomic_int stop = 0;
	uint64_t *p = fresh_pages(1);
	uintptr_t ld_ip, st_ip;
	int i;

	ASSERT_NE(NULL, p);
	(void)plain_ld(p);
	ld_ip = fault_ip_of(p);
	plain_st(p, 0);
	st_ip = fault_ip_of(p);
	for (i = 0; i < 2; i++) {
		h[i].slot = p + 8 * (i + 1);
		h[i].stop = &stop;
		h[i].done = 0;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, plain_hammer_fn, &h[i]));
	}
	for (i = 0; i < 20; i++) {
		int form = i & 1 ? TINYDSM_SITE_DIRECT : TINYDSM_SITE_LOOKUP;

		EXPECT_EQ(1, tdsm_site_set_form(ld_ip, form));
		EXPECT_EQ(1, tdsm_site_set_form(st_ip, form));
		usleep(20000);
	}
	atomic_store(&stop, 1);
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		EXPECT_EQ(h[i].done, *h[i].slot) TH_LOG("thread %d lost updates", i);
	}
	EXPECT_EQ(0, tdsm_free(p, 1));
}

/* ---- bad tables ---- */

/* An entry in @t describing a site at @site with thunk @thunk. */
static void entry_at(struct tinydsm_site_entry *t, uintptr_t site, uintptr_t thunk,
		     const struct tinydsm_site_entry *like)
{
	*t = *like;
	t->site = (int32_t)(site - (uintptr_t)&t->site);
	t->lookup = (int32_t)(thunk - (uintptr_t)&t->lookup);
}

static int add_err(const struct tinydsm_site_entry *t, size_t n, uint32_t *bad)
{
	struct tinydsm_sites req = { .table = (uintptr_t)t, .count = n };
	int rc = ioctl(tdsm_fd(), TINYDSM_IOC_SITES_ADD, &req);

	if (bad)
		*bad = req.bad_index;
	return rc ? -errno : 0;
}

TEST_F(site, bad_tables)
{
	const struct tinydsm_site_entry *real = tdsm_site_find(site_of(ld64));
	static struct tinydsm_site_entry t[4] __attribute__((aligned(16)));
	struct tinydsm_sites req = { 0 };
	uintptr_t s64, th64;
	uint32_t bad = 0;
	char *heap;

	ASSERT_NE(NULL, real);
	s64 = tdsm_site_addr(real);
	th64 = tdsm_site_lookup_addr(real);
	heap = malloc(64);
	ASSERT_NE(NULL, heap);

	/* Already registered (by tdsm_attach): EEXIST. */
	entry_at(&t[0], s64, th64, real);
	EXPECT_EQ(-EEXIST, add_err(t, 1, &bad));

	/* Forged: another register than the one in the text. */
	entry_at(&t[0], s64, th64, real);
	t[0].value_reg = (real->value_reg + 1) % 16;
	EXPECT_EQ(-EINVAL, add_err(t, 1, &bad));
	/* Forged: a width the bytes do not have; a width no site has. */
	entry_at(&t[0], s64, th64, real);
	t[0].width = 4;
	EXPECT_EQ(-EINVAL, add_err(t, 1, &bad));
	t[0].width = 3;
	EXPECT_EQ(-EINVAL, add_err(t, 1, &bad));
	/* Reserved bytes, unknown flags. */
	entry_at(&t[0], s64, th64, real);
	t[0].reserved[1] = 1;
	EXPECT_EQ(-EINVAL, add_err(t, 1, &bad));
	entry_at(&t[0], s64, th64, real);
	t[0].flags = 0x80;
	EXPECT_EQ(-EINVAL, add_err(t, 1, &bad));
	/* Outside text: a site on the heap (with the right bytes copied there). */
	memcpy(heap, (void *)s64, real->len);
	entry_at(&t[0], (uintptr_t)heap, th64, real);
	EXPECT_EQ(-EINVAL, add_err(t, 1, &bad));
	/* A thunk outside executable memory, or inside the site. */
	entry_at(&t[0], s64, (uintptr_t)heap, real);
	EXPECT_EQ(-EINVAL, add_err(t, 1, &bad));
	entry_at(&t[0], s64, s64 + 2, real);
	EXPECT_EQ(-EINVAL, add_err(t, 1, &bad));
	/* Misaligned: the table itself. */
	req.table = (uintptr_t)t + 1;
	req.count = 1;
	EXPECT_EQ(-1, ioctl(tdsm_fd(), TINYDSM_IOC_SITES_ADD, &req));
	EXPECT_EQ(EINVAL, errno);
	/* Sizes: none, too many. */
	EXPECT_EQ(-EINVAL, add_err(t, 0, NULL));
	EXPECT_EQ(-E2BIG, add_err(t, TINYDSM_SITES_MAX + 1, NULL));
	/* A pointer that is not one: EFAULT. */
	req.table = 16;
	req.count = 2;
	EXPECT_EQ(-1, ioctl(tdsm_fd(), TINYDSM_IOC_SITES_ADD, &req));
	EXPECT_EQ(EFAULT, errno);
	/* The second entry is the bad one: bad_index says so; none is added. */
	entry_at(&t[0], s64, th64, real);
	entry_at(&t[1], s64, th64, real);
	t[1].addr_reg = (real->addr_reg + 1) % 16;
	EXPECT_EQ(-EINVAL, add_err(t, 2, &bad));
	EXPECT_EQ(1, bad);
	free(heap);
}

/*
 * A fresh file (its own table): the same site twice in one table overlaps;
 * then a valid table goes in, and a second file may not add it again.
 */
TEST_F(site, overlap_and_second_file)
{
	const struct tinydsm_site_entry *real = tdsm_site_find(site_of(ld8));
	static struct tinydsm_site_entry t[2] __attribute__((aligned(16)));
	uintptr_t s, th;
	uint32_t bad = 0;
	int fd2, saved = tdsm_fd();

	ASSERT_NE(NULL, real);
	s = tdsm_site_addr(real);
	th = tdsm_site_lookup_addr(real);
	/* Re-attach without sites: the program's table is free again. */
	tdsm_detach();
	self->attached = 0;
	ASSERT_EQ(0, tdsm_attach(TDSM_ATTACH_NO_SITES));
	self->attached = 1;
	entry_at(&t[0], s, th, real);
	entry_at(&t[1], s, th, real);
	EXPECT_EQ(-EINVAL, add_err(t, 2, &bad)) TH_LOG("the same site twice");
	EXPECT_EQ(0, add_err(t, 1, &bad));
	fd2 = open("/dev/tinydsm", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, fd2);
	{
		struct tinydsm_sites req = { .table = (uintptr_t)t, .count = 1 };

		EXPECT_EQ(-1, ioctl(fd2, TINYDSM_IOC_SITES_ADD, &req));
		EXPECT_EQ(EEXIST, errno);
	}
	close(fd2);
	(void)saved;
}

/* Only the process that opened the file adds sites to it. */
TEST_F(site, other_process_eperm)
{
	static struct tinydsm_site_entry t[1] __attribute__((aligned(16)));
	const struct tinydsm_site_entry *real = tdsm_site_find(site_of(st8));
	int status;
	pid_t pid;

	ASSERT_NE(NULL, real);
	entry_at(&t[0], tdsm_site_addr(real), tdsm_site_lookup_addr(real), real);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid)
		_exit(add_err(t, 1, NULL) == -EPERM ? 0 : 1);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* ---- word accesses and the translation table ---- */

static int word(uint64_t addr, unsigned int width, unsigned int flags, uint64_t *v)
{
	struct tinydsm_word w = { .addr = addr, .width = width, .flags = flags };
	int rc;

	if (v)
		w.value = *v;
	rc = ioctl(tdsm_fd(), TINYDSM_IOC_WORD, &w);
	if (!rc && v)
		*v = w.value;
	return rc ? -errno : 0;
}

TEST_F(site, word_errors)
{
	uint8_t *p = fresh_pages(1);
	uint64_t base = tdsm_region_info()->base, v = 0x1122334455667788ull;
	struct tinydsm_word w = { 0 };

	ASSERT_NE(NULL, p);
	EXPECT_EQ(0, word((uintptr_t)p + 8, 8, TINYDSM_WORD_F_STORE, &v));
	v = 0;
	EXPECT_EQ(0, word((uintptr_t)p + 8, 8, 0, &v));
	EXPECT_EQ(0x1122334455667788ull, v);
	EXPECT_EQ(0x1122334455667788ull, *(uint64_t *)(p + 8));
	v = 0;
	EXPECT_EQ(0, word((uintptr_t)p + 9, 2, 0, &v));
	EXPECT_EQ(0x6677, v);
	EXPECT_EQ(-EINVAL, word((uintptr_t)p, 3, 0, &v));
	EXPECT_EQ(-EINVAL, word((uintptr_t)p + PG - 4, 8, 0, &v)) TH_LOG("crosses a page");
	EXPECT_EQ(-EINVAL, word((uintptr_t)p, 8, 0x10, &v));
	EXPECT_EQ(-ERANGE, word(base - 8, 8, 0, &v));
	EXPECT_EQ(-ERANGE, word(base + tdsm_region_info()->size, 8, 0, &v));
	w.addr = (uintptr_t)p;
	w.width = 8;
	w.reserved[2] = 1;
	EXPECT_EQ(-1, ioctl(tdsm_fd(), TINYDSM_IOC_WORD, &w));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(0, tdsm_free(p, 1));
}

TEST_F(site, translation_table)
{
	const struct tinydsm_region_info *ri = tdsm_region_info();
	size_t len = (ri->size / ri->page_size + PG - 1) & ~(size_t)(PG - 1);
	uint8_t *p = fresh_pages(2), *x;
	size_t idx;

	ASSERT_NE(NULL, p);
	idx = ((uintptr_t)p - ri->base) / ri->page_size;
	x = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, tdsm_fd(),
		 TINYDSM_XLATE_OFFSET);
	EXPECT_EQ(MAP_FAILED, x);
	EXPECT_EQ(EPERM, errno);
	x = mmap(NULL, len + PG, PROT_READ, MAP_SHARED, tdsm_fd(), TINYDSM_XLATE_OFFSET);
	EXPECT_EQ(MAP_FAILED, x) TH_LOG("larger than one byte per page");
	x = mmap(NULL, len, PROT_READ, MAP_SHARED, tdsm_fd(), TINYDSM_XLATE_OFFSET);
	ASSERT_NE(MAP_FAILED, x);
	/* ALLOC backs nothing: no copy here until the first touch. */
	EXPECT_EQ(TINYDSM_PAGE_INVALID, x[idx]);
	EXPECT_EQ(TINYDSM_PAGE_INVALID, x[idx + 1]);
	(void)*(volatile uint8_t *)p;
	EXPECT_EQ(TINYDSM_PAGE_SHARED, x[idx]);
	*(volatile uint8_t *)p = 1;
	EXPECT_EQ(TINYDSM_PAGE_EXCLUSIVE, x[idx]);
	EXPECT_EQ(TINYDSM_PAGE_INVALID, x[idx + 1]) TH_LOG("never touched");
	EXPECT_EQ(-1, mprotect(x, len, PROT_READ | PROT_WRITE));
	EXPECT_EQ(0, tdsm_free(p, 2));
	EXPECT_EQ(TINYDSM_PAGE_INVALID, x[idx]) TH_LOG("freed: no copy here");
	EXPECT_EQ(TINYDSM_PAGE_INVALID, x[idx + 1]);
	munmap(x, len);
}

/*
 * The table is mapped page by page as it is read: every byte of it reads
 * what PAGE_INFO says of its page, where no page was ever touched too
 * (0, INVALID), up to the region's last page, without a SIGBUS.
 */
TEST_F(site, translation_table_far_pages)
{
	const struct tinydsm_region_info *ri = tdsm_region_info();
	size_t npages = ri->size / ri->page_size;
	size_t len = (npages + PG - 1) & ~(size_t)(PG - 1);
	struct tinydsm_page_info pi;
	size_t i, checked = 0;
	uint8_t *x;

	x = mmap(NULL, len, PROT_READ, MAP_SHARED, tdsm_fd(), TINYDSM_XLATE_OFFSET);
	ASSERT_NE(MAP_FAILED, x);
	/* The first and last byte of every table page, and the very last. */
	for (i = 0; i < npages; i += (i % PG) ? 1 : PG - 1) {
		memset(&pi, 0, sizeof(pi));
		pi.addr = ri->base + (uint64_t)i * ri->page_size;
		ASSERT_EQ(0, ioctl(tdsm_fd(), TINYDSM_IOC_PAGE_INFO, &pi));
		EXPECT_EQ(pi.state, x[i]) TH_LOG("page %zu of %zu", i, npages);
		checked++;
	}
	memset(&pi, 0, sizeof(pi));
	pi.addr = ri->base + (uint64_t)(npages - 1) * ri->page_size;
	ASSERT_EQ(0, ioctl(tdsm_fd(), TINYDSM_IOC_PAGE_INFO, &pi));
	EXPECT_EQ(pi.state, x[npages - 1]);
	if (pi.state == TINYDSM_PAGE_INVALID)
		EXPECT_EQ(0, x[npages - 1]);
	EXPECT_LE(2 * (npages / PG), checked);
	munmap(x, len);
}

#define ATOMIC_THREADS	4
#define ATOMIC_ITERS	2000

static void *atomic_adder(void *arg)
{
	volatile uint64_t *ctr = arg;
	unsigned int i;

	for (i = 0; i < ATOMIC_ITERS; i++)
		tdsm_fetch_add64(ctr, 1);
	return NULL;
}

/*
 * libtinydsm's atomics on a page of this node: the first goes to the
 * module (the page is not here yet: ALLOC backs nothing), which takes it
 * EXCLUSIVE; the rest run on the mapping. Threads adding with
 * tdsm_fetch_add64() and the processor's own atomic at once lose nothing;
 * each op returns the word before; bad arguments are EINVAL, outside the
 * region ERANGE.
 */
TEST_F(site, lib_atomics)
{
	volatile uint64_t *ctr, *w;
	pthread_t t[ATOMIC_THREADS];
	uint64_t old = 0, base = tdsm_region_info()->base;
	uint8_t *p = fresh_pages(1);
	struct tinydsm_page_info pi;
	unsigned int i;

	ASSERT_NE(NULL, p);
	ctr = (volatile uint64_t *)p;
	w = (volatile uint64_t *)(p + 64);
	ASSERT_EQ(0, tdsm_page_info(p, &pi));
	EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state);
	EXPECT_EQ(0u, tdsm_fetch_add64(ctr, 5));
	ASSERT_EQ(0, tdsm_page_info(p, &pi));
	EXPECT_EQ(TINYDSM_PAGE_EXCLUSIVE, pi.state) TH_LOG("the module took the page");
	EXPECT_EQ(5u, *ctr);

	for (i = 0; i < ATOMIC_THREADS; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, atomic_adder, (void *)ctr));
	for (i = 0; i < ATOMIC_ITERS; i++)
		__atomic_fetch_add(ctr, 1, __ATOMIC_SEQ_CST);
	for (i = 0; i < ATOMIC_THREADS; i++)
		pthread_join(t[i], NULL);
	EXPECT_EQ(5u + (ATOMIC_THREADS + 1) * ATOMIC_ITERS, *ctr);

	EXPECT_EQ(0u, tdsm_xchg64(w, 0x1234));
	EXPECT_EQ(0x1234u, tdsm_cas64(w, 1, 7)) TH_LOG("fails: not 1");
	EXPECT_EQ(0x1234u, *w);
	EXPECT_EQ(0x1234u, tdsm_cas64(w, 0x1234, 7));
	EXPECT_EQ(7u, *w);
	EXPECT_EQ(0, tdsm_atomic(TINYDSM_ATOMIC_FETCH_OR, w, 8, 0xf0, 0, &old));
	EXPECT_EQ(7u, old);
	EXPECT_EQ(0, tdsm_atomic(TINYDSM_ATOMIC_FETCH_AND, (uint32_t *)w, 4, 0x3c, 0, &old));
	EXPECT_EQ(0xf7u, old);
	EXPECT_EQ(0x34u, *w);
	/* The same on the module's path, as another node's would be. */
	{
		struct tinydsm_atomic a = {
			.addr = (uintptr_t)w, .operand = 1, .width = 8,
			.op = TINYDSM_ATOMIC_FETCH_ADD,
		};

		ASSERT_EQ(0, ioctl(tdsm_fd(), TINYDSM_IOC_ATOMIC, &a));
		EXPECT_EQ(0x34u, a.old);
		EXPECT_EQ(0, a.remote);
		EXPECT_EQ(0x35u, *w);
	}

	EXPECT_EQ(-EINVAL, tdsm_atomic(0, w, 8, 1, 0, &old));
	EXPECT_EQ(-EINVAL, tdsm_atomic(TINYDSM_ATOMIC_FETCH_ADD, w, 2, 1, 0, &old));
	EXPECT_EQ(-EINVAL, tdsm_atomic(TINYDSM_ATOMIC_FETCH_ADD, p + 4, 8, 1, 0, &old));
	EXPECT_EQ(-EINVAL, tdsm_atomic(TINYDSM_ATOMIC_FETCH_ADD, w, 8, 1, 1, &old));
	EXPECT_EQ(-EINVAL, tdsm_atomic(TINYDSM_ATOMIC_XCHG, w, 4, 1ull << 32, 0, &old));
	EXPECT_EQ(-ERANGE, tdsm_atomic(TINYDSM_ATOMIC_XCHG, (void *)(uintptr_t)(base - 8),
				       8, 1, 0, &old));
	EXPECT_EQ(0x35u, *w);
	EXPECT_EQ(0, tdsm_free(p, 1));
}

static void *lib_waiter(void *arg)
{
	volatile uint32_t *w = arg;

	return (void *)(intptr_t)tdsm_wait(w, 4, 3, 0);
}

/*
 * libtinydsm's wait and wake on a word of this node's page: a thread
 * asleep in tdsm_wait() is woken by tdsm_wake(), which counts it once
 * (woken without a change of the word, as a futex may be); a wake with
 * nobody asleep counts 0; the word differs: -EAGAIN; the timeout:
 * -ETIMEDOUT; bad arguments -EINVAL, outside the region -ERANGE.
 */
TEST_F(site, lib_wait_wake)
{
	uint64_t base = tdsm_region_info()->base;
	uint8_t *p = fresh_pages(1);
	volatile uint32_t *w;
	void *ret = (void *)1;
	unsigned int tries;
	pthread_t t;
	int woken = 0;

	ASSERT_NE(NULL, p);
	w = (volatile uint32_t *)(p + 128);
	*w = 3;
	EXPECT_EQ(0, tdsm_wake(w, 4, 1));
	EXPECT_EQ(-EAGAIN, tdsm_wait(w, 4, 2, 0));
	EXPECT_EQ(-ETIMEDOUT, tdsm_wait(w, 4, 3, 50 * 1000 * 1000));
	ASSERT_EQ(0, pthread_create(&t, NULL, lib_waiter, (void *)w));
	/* until it is asleep (30 s at most): each wake before counts nobody */
	for (tries = 0; !woken && tries < 3000; tries++) {
		woken = tdsm_wake(w, 4, INT32_MAX);
		ASSERT_LE(0, woken) TH_LOG("tdsm_wake: %s", strerror(-woken));
		if (!woken)
			usleep(10000);
	}
	pthread_join(t, &ret);
	EXPECT_EQ(1, woken);
	EXPECT_EQ(0, (int)(intptr_t)ret) TH_LOG("tdsm_wait: %s", strerror(-(int)(intptr_t)ret));
	EXPECT_EQ(0, tdsm_wake(w, 4, 1)) TH_LOG("counted once");
	EXPECT_EQ(-EINVAL, tdsm_wait(w, 2, 3, 0));
	EXPECT_EQ(-EINVAL, tdsm_wait(p + 130, 4, 3, 0));
	EXPECT_EQ(-EINVAL, tdsm_wait(w, 4, 1ull << 32, 0));
	EXPECT_EQ(-EINVAL, tdsm_wake(w, 4, 0));
	EXPECT_EQ(-ERANGE, tdsm_wait((void *)(uintptr_t)(base - 8), 8, 0, 0));
	EXPECT_EQ(-ERANGE, tdsm_wake((void *)(uintptr_t)(base - 8), 8, 1));
	EXPECT_EQ(3u, *w);
	EXPECT_EQ(0, tdsm_free(p, 1));
}

/*
 * The lookup thunks read the translation table through a window at a
 * fixed address (tools/lib/tinydsm/window.c): with the module, the
 * window's byte of a page is the module's table's, and after a detach it
 * reads 0 (the window stays).
 */
TEST_F(site, lookup_window)
{
	const struct tinydsm_region_info *ri = tdsm_region_info();
	const volatile uint8_t *w = (const volatile uint8_t *)TDSM__WINDOW;
	uint8_t *p = fresh_pages(1);
	struct tinydsm_page_info pi;
	size_t idx;

	ASSERT_NE(NULL, p);
	idx = ((uintptr_t)p - ri->base) / ri->page_size;
	EXPECT_EQ(TINYDSM_PAGE_INVALID, w[idx]);
	(void)*(volatile uint8_t *)p;
	EXPECT_EQ(TINYDSM_PAGE_SHARED, w[idx]);
	*(volatile uint8_t *)p = 1;
	EXPECT_EQ(TINYDSM_PAGE_EXCLUSIVE, w[idx]);
	tdsm_detach();
	self->attached = 0;
	EXPECT_EQ(0, w[idx]) TH_LOG("detached: the window's table reads 0");
	ASSERT_EQ(0, tdsm_attach(0));
	self->attached = 1;
	ASSERT_EQ(0, tdsm_page_info(p, &pi));
	EXPECT_EQ(pi.state, w[idx]) TH_LOG("attached again: the module's table");
	EXPECT_EQ(0, tdsm_free(p, 1));
}

/*
 * Something already mapped where the window goes: an attach with sites
 * fails (EEXIST, naming the range); one without sites needs no window and
 * attaches, its table mapped elsewhere. A process of its own (no fixture:
 * nothing attached before).
 */
TEST(lookup_window_taken)
{
	void *at = (void *)(uintptr_t)(TDSM__WINDOW + 8192);
	struct tinydsm_page_info pi;
	uint8_t *p;
	void *m;
	int err;

	if (access("/dev/tinydsm", R_OK | W_OK))
		SKIP(return, "/dev/tinydsm is not there (module not loaded)");
	m = mmap(at, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_FIXED_NOREPLACE, -1, 0);
	if (m != at)
		SKIP(return, "cannot map %p: %s", at, strerror(errno));
	err = tdsm_attach(0);
	EXPECT_EQ(-EEXIST, err);
	EXPECT_NE(NULL, strstr(tdsm_strerror_detail(), "lookup window"))
		TH_LOG("%s", tdsm_strerror_detail());
	EXPECT_FALSE(tdsm_attached());
	ASSERT_EQ(0, tdsm_attach(TDSM_ATTACH_NO_SITES))
		TH_LOG("%s", tdsm_strerror_detail());
	p = fresh_pages(1);
	ASSERT_NE(NULL, p);
	*(volatile uint8_t *)p = 7;
	ASSERT_EQ(0, tdsm_page_info(p, &pi));
	EXPECT_EQ(7, *(volatile uint8_t *)p);
	EXPECT_EQ(0, tdsm_free(p, 1));
	tdsm_detach();
	munmap(m, 4096);
}

TEST_HARNESS_MAIN
