// SPDX-License-Identifier: GPL-2.0
/*
 * libtinydsm's mutex, barrier and condition variable (sync.c) between the
 * nodes of a lab run (2 or 3; every node runs this binary, TDSM_NODE_ID
 * picks its part). The objects and the data they guard live on two pages
 * homed on node2 (HOME); the data is read and written with plain loads and
 * stores, so that the page moves between the nodes under the lock.
 *
 *   mutex_excludes       every node locks, checks that nobody else is
 *                        inside (an owner word), increments a counter and
 *                        unlocks, TDSM_SYNC_ITERS times; the counter ends
 *                        at nodes x iterations exactly; trylock of a held
 *                        mutex is -EBUSY, unlock of a free one -EPERM.
 *   barrier_rounds       TDSM_SYNC_ROUNDS rounds: each node writes the
 *                        round into its slot, meets the others, checks
 *                        every slot, meets them again; one task per
 *                        barrier is told it was the last (SERIAL).
 *   cond_producer        node1 puts 1 .. TDSM_SYNC_ITERS into a one-item
 *                        box, one at a time, under the mutex, waiting on
 *                        "not full"; the others take them, waiting on "not
 *                        empty"; every item is taken once (the takers'
 *                        sums and counts add up), then a poison item ends
 *                        the takers. A timed wait with nobody to signal
 *                        ends in -ETIMEDOUT with the mutex held.
 *
 * TDSM_SYNC_ITERS (default 40), TDSM_SYNC_ROUNDS (default 20).
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

#define HOME		2
#define POISON		UINT32_MAX

/* Page 0: the objects; page 1: what they guard. */
struct sync_page {
	tdsm_mutex_t lock;
	uint8_t pad0[60];
	tdsm_barrier_t barrier;
	uint8_t pad1[48];
	tdsm_cond_t not_empty;
	uint8_t pad2[60];
	tdsm_cond_t not_full;
	uint8_t pad3[60];
	tdsm_cond_t never;
};

struct data_page {
	uint64_t counter;
	uint64_t owner;
	uint64_t slot[8];
	uint32_t box;
};

FIXTURE(sync) {
	struct tc_sync s;
	int ready;
	char setup_err[256];
	struct sync_page *sp;
	struct data_page *dp;
};

FIXTURE_SETUP(sync)
{
	int err;

	tc_sync_init(&self->s, "sync_cluster", _metadata->name);
	err = tdsm_attach(TDSM_ATTACH_NO_SITES);
	if (err) {
		snprintf(self->setup_err, sizeof(self->setup_err),
			 "tdsm_attach: %s (%s)", strerror(-err),
			 tdsm_strerror_detail());
		return;
	}
	self->ready = 1;
}

FIXTURE_TEARDOWN(sync)
{
	TC_MARK_FAILED();
	if (self->ready)
		tdsm_detach();
}

#define BARRIER(step) TC_BARRIER(step, self->s.timeout_s)

/* Two fresh pages homed on HOME, zeroed, at the same address everywhere. */
static void shared_pages(struct __test_metadata *_metadata,
			 FIXTURE_DATA(sync) *self, const char *key)
{
	char val[64];
	void *p;

	if (self->s.id == HOME) {
		p = tdsm_alloc(2, HOME);
		ASSERT_NE(NULL, p) TH_LOG("tdsm_alloc: %s", strerror(errno));
		snprintf(val, sizeof(val), "%p", p);
		ASSERT_EQ(0, tc_put(&self->s, key, val));
	}
	BARRIER(key);
	ASSERT_EQ(0, tc_get(&self->s, key, val, sizeof(val)));
	p = (void *)(uintptr_t)strtoull(val, NULL, 0);
	self->sp = p;
	self->dp = (struct data_page *)((uint8_t *)p + tdsm_region_info()->page_size);
}

/*
 * The home FREEs the pages, which takes every copy back before it
 * answers; the others wait for that, so that no copy of this test's goes
 * while the next test counts its own.
 */
static void free_pages(struct __test_metadata *_metadata,
		       FIXTURE_DATA(sync) *self)
{
	int r;

	if (self->s.id == HOME) {
		r = tdsm_free(self->sp, 2);
		EXPECT_EQ(0, r) TH_LOG("tdsm_free: %s", strerror(-r));
	}
	BARRIER("freed");
}

/*
 * Every node's @name, published as "n-<name>.<id>" (a barrier named @name
 * writes "<name>.<id>" itself), summed.
 */
static unsigned long long sum_of(struct __test_metadata *_metadata,
				 FIXTURE_DATA(sync) *self, const char *name,
				 unsigned long long mine)
{
	unsigned long long sum = 0;
	char key[32], val[32];
	unsigned int j;

	snprintf(key, sizeof(key), "n-%s.%u", name, self->s.id);
	snprintf(val, sizeof(val), "%llu", mine);
	if (tc_put(&self->s, key, val))
		return ~0ull;
	TC_BARRIER(name, 3 * self->s.timeout_s);
	for (j = 1; j <= self->s.nodes; j++) {
		snprintf(key, sizeof(key), "n-%s.%u", name, j);
		if (tc_get(&self->s, key, val, sizeof(val)))
			return ~0ull;
		sum += strtoull(val, NULL, 10);
	}
	return sum;
}

TEST_F_TIMEOUT(sync, mutex_excludes, 600)
{
	unsigned int iters = tc_env_uint("TDSM_SYNC_ITERS", 40), i, overlap = 0;
	volatile struct data_page *d;
	double t0;
	int r;

	TC_START(0);
	if (self->s.nodes < 2)
		SKIP(return, "needs 2 or 3 nodes");
	shared_pages(_metadata, self, "mutex");
	d = self->dp;
	BARRIER("start");
	t0 = tc_now();
	for (i = 0; i < iters; i++) {
		r = tdsm_mutex_lock(&self->sp->lock);
		ASSERT_EQ(0, r) TH_LOG("lock: %s", strerror(-r));
		overlap += d->owner != 0;
		d->owner = self->s.id;
		d->counter++;
		usleep(1000);	/* hold it a little: the others queue */
		overlap += d->owner != self->s.id;
		d->owner = 0;
		r = tdsm_mutex_unlock(&self->sp->lock);
		ASSERT_EQ(0, r) TH_LOG("unlock: %s", strerror(-r));
	}
	TH_LOG("node%u: %u lock/unlock in %.1f s", self->s.id, iters,
	       tc_now() - t0);
	EXPECT_EQ(0, overlap) TH_LOG("another node was inside the lock");
	BARRIER("done");
	EXPECT_EQ((uint64_t)iters * self->s.nodes, d->counter);
	if (self->s.id == 1) {
		EXPECT_EQ(0, tdsm_mutex_trylock(&self->sp->lock));
		EXPECT_EQ(-EBUSY, tdsm_mutex_trylock(&self->sp->lock));
		EXPECT_EQ(0, tdsm_mutex_unlock(&self->sp->lock));
		EXPECT_EQ(-EPERM, tdsm_mutex_unlock(&self->sp->lock));
	}
	BARRIER("checked");
	free_pages(_metadata, self);
}

TEST_F_TIMEOUT(sync, barrier_rounds, 600)
{
	unsigned int rounds = tc_env_uint("TDSM_SYNC_ROUNDS", 20), k, j, wrong = 0;
	unsigned long long serial = 0;
	volatile struct data_page *d;
	int r;

	TC_START(0);
	if (self->s.nodes < 2)
		SKIP(return, "needs 2 or 3 nodes");
	shared_pages(_metadata, self, "barrier");
	d = self->dp;
	if (self->s.id == HOME) {
		EXPECT_EQ(-EINVAL, tdsm_barrier_init(&self->sp->barrier, 0));
		ASSERT_EQ(0, tdsm_barrier_init(&self->sp->barrier, self->s.nodes));
	}
	BARRIER("init");
	for (k = 1; k <= rounds; k++) {
		d->slot[self->s.id] = k;
		r = tdsm_barrier_wait(&self->sp->barrier);
		ASSERT_LE(0, r) TH_LOG("round %u: %s", k, strerror(-r));
		serial += r == TDSM_BARRIER_SERIAL;
		for (j = 1; j <= self->s.nodes; j++)
			wrong += d->slot[j] != k;
		r = tdsm_barrier_wait(&self->sp->barrier);
		ASSERT_LE(0, r) TH_LOG("round %u: %s", k, strerror(-r));
		serial += r == TDSM_BARRIER_SERIAL;
	}
	EXPECT_EQ(0, wrong) TH_LOG("a node passed the barrier before another arrived");
	EXPECT_EQ(2ull * rounds, sum_of(_metadata, self, "serial", serial));
	free_pages(_metadata, self);
}

TEST_F_TIMEOUT(sync, cond_producer, 600)
{
	unsigned int iters = tc_env_uint("TDSM_SYNC_ITERS", 40), i;
	unsigned long long sum = 0, taken = 0, total;
	struct sync_page *s;
	volatile struct data_page *d;
	int r;

	TC_START(0);
	if (self->s.nodes < 2)
		SKIP(return, "needs 2 or 3 nodes");
	shared_pages(_metadata, self, "cond");
	s = self->sp;
	d = self->dp;
	BARRIER("start");
	if (self->s.id == 1) {
		for (i = 1; i <= iters + 1; i++) {
			ASSERT_EQ(0, tdsm_mutex_lock(&s->lock));
			while (d->box) {
				r = tdsm_cond_wait(&s->not_full, &s->lock);
				ASSERT_EQ(0, r) TH_LOG("wait not_full: %s", strerror(-r));
			}
			d->box = i <= iters ? i : POISON;
			ASSERT_EQ(0, tdsm_cond_broadcast(&s->not_empty));
			ASSERT_EQ(0, tdsm_mutex_unlock(&s->lock));
		}
		/* Nobody signals "never": a timed wait times out, locked. */
		ASSERT_EQ(0, tdsm_mutex_lock(&s->lock));
		EXPECT_EQ(-ETIMEDOUT, tdsm_cond_timedwait(&s->never, &s->lock,
							  200 * 1000 * 1000));
		EXPECT_EQ(-EBUSY, tdsm_mutex_trylock(&s->lock));
		ASSERT_EQ(0, tdsm_mutex_unlock(&s->lock));
	} else {
		for (;;) {
			ASSERT_EQ(0, tdsm_mutex_lock(&s->lock));
			while (!d->box) {
				r = tdsm_cond_wait(&s->not_empty, &s->lock);
				ASSERT_EQ(0, r) TH_LOG("wait not_empty: %s", strerror(-r));
			}
			if (d->box == POISON) {	/* left for the others */
				ASSERT_EQ(0, tdsm_mutex_unlock(&s->lock));
				break;
			}
			sum += d->box;
			taken++;
			d->box = 0;
			ASSERT_EQ(0, tdsm_cond_broadcast(&s->not_full));
			ASSERT_EQ(0, tdsm_mutex_unlock(&s->lock));
		}
		TH_LOG("node%u took %llu items", self->s.id, taken);
	}
	total = iters;
	EXPECT_EQ(total, sum_of(_metadata, self, "taken", taken));
	EXPECT_EQ(total * (total + 1) / 2, sum_of(_metadata, self, "sum", sum));
	free_pages(_metadata, self);
}

TEST_HARNESS_MAIN
