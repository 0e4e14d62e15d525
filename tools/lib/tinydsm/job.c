// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libtinydsm: the job a program belongs to.
 *
 * A job is N ranks, on any nodes, and a root run of the region that its
 * launcher made (tdsm_job_create()) and named to every rank in the
 * environment. The root is ROOT_PAGES pages homed on the launcher's node:
 *
 *   page 0    the header, written once before any rank starts and then
 *             only read (plain loads, a copy on every node), and the
 *             heap's table of arenas, each slot set once by a CAS
 *   page 1    the job's barrier and each node's count of ranks joined:
 *             words every rank changes with atomics, kept off page 0 so
 *             that the header's copies stay
 *   page 2..6 tdsm_share()'s buffer: rank 0 writes, the others read
 *   page 7    free, for objects of the library to come
 *
 * The process's view of its job (rank, root ...) is process-local and set
 * once, by tdsm_init().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tinydsm.h"

#define PAGE		4096u
#define ROOT_PAGES	8u
#define ROOT_MAGIC	0x746473616a6f6221ULL
#define ROOT_VERSION	2u
#define SHARE_FAILED	UINT64_MAX	/* rank 0 could not share */

struct root {
	uint64_t magic;		/* written last */
	uint32_t version;
	uint32_t nranks;
	uint64_t job;
	uint32_t npages;
	uint32_t creator;	/* the node that made it */
	uint64_t reserved[4];
	uint64_t arenas[TINYDSM_MAX_NODES];	/* heap.c */
};

struct root_sync {
	tdsm_barrier_t barrier;
	/* ranks joined and not finalized, per node: its last frees its heap */
	uint32_t node_ranks[TINYDSM_MAX_NODES];
};

struct root_share {
	uint64_t size;		/* rank 0's, or SHARE_FAILED */
	uint64_t reserved;
	uint8_t data[TDSM_SHARE_MAX];
};

_Static_assert(sizeof(struct root) <= PAGE, "root header");
_Static_assert(sizeof(struct root_sync) <= PAGE, "root sync page");
_Static_assert(sizeof(struct root_share) <= 5 * PAGE, "share buffer");

static struct {
	struct root *root;
	int rank;
	int nranks;
	uint64_t id;
	unsigned int placement;
	int joined;
} job TDSM__PRIVATE = { .rank = -1, .nranks = -1 };

static pthread_mutex_t job_lock TDSM__PRIVATE = PTHREAD_MUTEX_INITIALIZER;

static struct root_sync *sync_of(struct root *r)
{
	return (struct root_sync *)((uint8_t *)r + PAGE);
}

static struct root_share *share_of(struct root *r)
{
	return (struct root_share *)((uint8_t *)r + 2 * PAGE);
}

static int attach(void)
{
	return tdsm_attached() ? 0 : tdsm_attach(0);
}

/*
 * Environment variable @name as an unsigned number in @base, in [min,
 * max]: -ENOENT if unset, -EINVAL (naming it) for anything else.
 */
static int env_u64(const char *name, int base, uint64_t min, uint64_t max,
		   uint64_t *v)
{
	const char *s = getenv(name);
	char *end;

	if (!s)
		return -ENOENT;
	errno = 0;
	*v = strtoull(s, &end, base);
	if (!*s || *s == '-' || *s == '+' || *s == ' ' || *end || errno)
		return tdsm__fail(EINVAL, "%s=\"%s\": not a %s number", name,
				  s, base == 16 ? "hexadecimal" : "decimal");
	if (*v < min || *v > max)
		return tdsm__fail(EINVAL, "%s=%s: not in %llu .. %llu", name,
				  s, (unsigned long long)min,
				  (unsigned long long)max);
	return 0;
}

static int env_placement(unsigned int *policy)
{
	static const char *const names[] = {
		[TDSM_PLACE_LOCAL] = "local",
		[TDSM_PLACE_INTERLEAVE] = "interleave",
		[TDSM_PLACE_FIRST_TOUCH] = "first-touch",
	};
	const char *s = getenv("TINYDSM_PLACEMENT");
	unsigned int i;

	*policy = TDSM_PLACE_LOCAL;
	if (!s)
		return 0;
	for (i = TDSM_PLACE_LOCAL; i <= TDSM_PLACE_FIRST_TOUCH; i++) {
		if (!strcmp(s, names[i])) {
			*policy = i;
			return 0;
		}
	}
	return tdsm__fail(EINVAL, "TINYDSM_PLACEMENT=\"%s\": not local, "
			  "interleave or first-touch", s);
}

/*
 * The root at @addr, checked: inside the region and page aligned
 * (-EINVAL), a job's root of our layout (-EPROTO). @what names the
 * address for the message.
 */
static int root_check(uint64_t addr, const char *what, struct root **rp)
{
	const struct tinydsm_region_info *ri = tdsm_region_info();
	struct root *r = (struct root *)(uintptr_t)addr;

	if (addr % PAGE || addr < ri->base ||
	    addr - ri->base > ri->size - ROOT_PAGES * PAGE)
		return tdsm__fail(EINVAL, "%s %#llx: not a page of the region "
				  "%#llx .. %#llx", what,
				  (unsigned long long)addr,
				  (unsigned long long)ri->base,
				  (unsigned long long)(ri->base + ri->size));
	if (__atomic_load_n(&r->magic, __ATOMIC_ACQUIRE) != ROOT_MAGIC)
		return tdsm__fail(EPROTO, "%s %#llx: no job's root there "
				  "(magic %#llx)", what,
				  (unsigned long long)addr,
				  (unsigned long long)r->magic);
	if (r->version != ROOT_VERSION || r->npages != ROOT_PAGES)
		return tdsm__fail(EPROTO, "%s %#llx: root of version %u (%u "
				  "pages), libtinydsm's is %u (%u)", what,
				  (unsigned long long)addr, r->version,
				  r->npages, ROOT_VERSION, ROOT_PAGES);
	*rp = r;
	return 0;
}

/*
 * Add @delta (1 or -1) to this node's count of ranks in the job @r: the
 * count before, or -errno.
 */
static int64_t node_ranks_add(struct root *r, int delta)
{
	unsigned int node = tdsm_region_info()->node_id;
	uint64_t old;
	int err;

	if (!node || node >= TINYDSM_MAX_NODES)
		return tdsm__fail(EPROTO, "this node's id %u", node);
	err = tdsm_atomic(TINYDSM_ATOMIC_FETCH_ADD,
			  &sync_of(r)->node_ranks[node], 4, (uint32_t)delta,
			  0, &old);
	return err ? err : (int64_t)old;
}

static int join(void)
{
	static const char *const vars[] = {
		"TINYDSM_RANK", "TINYDSM_NRANKS", "TINYDSM_JOB", "TINYDSM_ROOT",
	};
	uint64_t rank, nranks, id, addr;
	unsigned int i, placement;
	int have = -1, miss = -1;
	int64_t before;
	struct root *r;
	bool set;
	void *mine;
	int err;

	for (i = 0; i < 4; i++) {
		if (getenv(vars[i]))
			have = have < 0 ? (int)i : have;
		else
			miss = miss < 0 ? (int)i : miss;
	}
	if (have >= 0 && miss >= 0)
		return tdsm__fail(EINVAL, "%s is set but %s is not: a rank "
				  "needs TINYDSM_RANK, TINYDSM_NRANKS, "
				  "TINYDSM_JOB and TINYDSM_ROOT", vars[have],
				  vars[miss]);
	set = have >= 0;
	if (set) {
		err = env_u64("TINYDSM_NRANKS", 10, 1, TDSM_MAX_RANKS, &nranks);
		if (!err)
			err = env_u64("TINYDSM_RANK", 10, 0, nranks - 1, &rank);
		if (!err)
			err = env_u64("TINYDSM_JOB", 10, 1, UINT64_MAX, &id);
		if (!err)
			err = env_u64("TINYDSM_ROOT", 16, 1, UINT64_MAX, &addr);
		if (err)
			return err;
	}
	err = env_placement(&placement);
	if (!err)
		err = attach();
	if (err)
		return err;

	if (!set) {
		/* A job of its own: the pid and node make its id. */
		rank = 0;
		nranks = 1;
		id = (uint64_t)tdsm_region_info()->node_id << 32 | getpid();
		err = tdsm_job_create(1, id, &mine);
		if (err)
			return err;
		addr = (uintptr_t)mine;
	}
	err = root_check(addr, "TINYDSM_ROOT", &r);
	if (err)
		return err;
	if (r->job != id || r->nranks != nranks)
		return tdsm__fail(EPROTO, "TINYDSM_ROOT %#llx is job %llu of "
				  "%u ranks, not job %llu of %llu",
				  (unsigned long long)addr,
				  (unsigned long long)r->job, r->nranks,
				  (unsigned long long)id,
				  (unsigned long long)nranks);
	before = node_ranks_add(r, 1);
	if (before < 0)
		return (int)before;
	job.root = r;
	job.rank = rank;
	job.nranks = nranks;
	job.id = id;
	job.placement = placement;
	__atomic_store_n(&job.joined, 1, __ATOMIC_RELEASE);
	return 0;
}

int tdsm_init(void)
{
	int err = 0;

	if (__atomic_load_n(&job.joined, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&job_lock);
	if (!job.joined)
		err = join();
	pthread_mutex_unlock(&job_lock);
	return err;
}

int tdsm_rank(void)
{
	return __atomic_load_n(&job.joined, __ATOMIC_ACQUIRE) ? job.rank : -1;
}

int tdsm_nranks(void)
{
	return __atomic_load_n(&job.joined, __ATOMIC_ACQUIRE) ? job.nranks : -1;
}

uint64_t tdsm_job(void)
{
	return __atomic_load_n(&job.joined, __ATOMIC_ACQUIRE) ? job.id : 0;
}

uint64_t *tdsm__job_arenas(void)
{
	int err = tdsm_init();

	if (err) {
		errno = -err;
		return NULL;
	}
	return job.root->arenas;
}

unsigned int tdsm__job_placement(void)
{
	return job.placement;
}

/*
 * The nodes with ranks of the job joined and not finalized, bit n - 1 for
 * node n: every rank's once all passed a job barrier. Plain loads of the
 * root's counts: its page comes here as a read copy once, and the atomics
 * that change a count take it back.
 */
uint64_t tdsm__job_nodes(void)
{
	struct root_sync *s = sync_of(job.root);
	uint64_t set = 0;
	unsigned int n;

	for (n = 1; n < TINYDSM_MAX_NODES && n <= 64; n++)
		if (__atomic_load_n(&s->node_ranks[n], __ATOMIC_ACQUIRE))
			set |= 1ULL << (n - 1);
	return set;
}

int tdsm_job_barrier(void)
{
	int err = tdsm_init();

	return err ? err : tdsm_barrier_wait(&sync_of(job.root)->barrier);
}

/*
 * Rank 0 fills the buffer, everybody meets, the others copy it out, and
 * everybody meets again before rank 0 may fill it for the next call.
 * Every rank meets twice whatever went wrong, so that a rank with bad
 * arguments fails alone instead of leaving the others waiting.
 */
int tdsm_share(void *var, size_t size)
{
	struct root_share *sh;
	int err, berr;

	err = tdsm_init();
	if (err)
		return err;
	sh = share_of(job.root);
	if (!var || !size)
		err = tdsm__fail(EINVAL, "tdsm_share of %zu bytes at %p",
				 size, var);
	else if (size > TDSM_SHARE_MAX)
		err = tdsm__fail(E2BIG, "tdsm_share of %zu bytes: at most %u",
				 size, TDSM_SHARE_MAX);
	if (job.rank == 0) {
		if (!err)
			memcpy(sh->data, var, size);
		sh->size = err ? SHARE_FAILED : size;
	}
	berr = tdsm_job_barrier();
	if (berr < 0)
		return berr;
	if (job.rank != 0 && !err) {
		if (sh->size == SHARE_FAILED)
			err = tdsm__fail(EINVAL, "tdsm_share of %zu bytes: "
					 "rank 0's call failed", size);
		else if (sh->size != size)
			err = tdsm__fail(EINVAL, "tdsm_share of %zu bytes: "
					 "rank 0 shared %llu", size,
					 (unsigned long long)sh->size);
		else
			memcpy(var, sh->data, size);
	}
	berr = tdsm_job_barrier();
	return err ? err : berr < 0 ? berr : 0;
}

/*
 * Every rank meets (nobody uses the heap any more), then the last rank of
 * each node releases that node's arena: the module lets only the node
 * that ALLOCed a run free it, so no one node can free the whole heap.
 */
int tdsm_finalize(void)
{
	struct root *r;
	int64_t before;
	int err, berr;

	err = tdsm_init();
	if (err)
		return err;
	r = job.root;
	berr = tdsm_job_barrier();
	before = node_ranks_add(r, -1);
	err = before < 0 ? (int)before : 0;
	if (before == 1)
		err = tdsm__heap_release_node(r->arenas,
					      tdsm_region_info()->node_id);
	pthread_mutex_lock(&job_lock);
	__atomic_store_n(&job.joined, 0, __ATOMIC_RELEASE);
	job.root = NULL;
	job.rank = -1;
	job.nranks = -1;
	job.id = 0;
	pthread_mutex_unlock(&job_lock);
	tdsm__heap_forget();
	return berr < 0 ? berr : err;
}

int tdsm_job_create(unsigned int nranks, uint64_t id, void **rootp)
{
	struct root *r;
	int err;

	if (!nranks || nranks > TDSM_MAX_RANKS || !id || !rootp)
		return tdsm__fail(EINVAL, "tdsm_job_create of job %llu of %u "
				  "ranks (1 .. %u ranks, a job id not 0)",
				  (unsigned long long)id, nranks,
				  TDSM_MAX_RANKS);
	err = attach();
	if (err)
		return err;
	r = tdsm_alloc(ROOT_PAGES, tdsm__run_home());
	if (!r)
		return -errno;
	r->version = ROOT_VERSION;
	r->nranks = nranks;
	r->job = id;
	r->npages = ROOT_PAGES;
	r->creator = tdsm_region_info()->node_id;
	err = tdsm_barrier_init(&sync_of(r)->barrier, nranks);
	if (err) {
		tdsm_free(r, ROOT_PAGES);
		return tdsm__fail(-err, "tdsm_job_create: the job's barrier");
	}
	__atomic_store_n(&r->magic, ROOT_MAGIC, __ATOMIC_RELEASE);
	*rootp = r;
	return 0;
}

int tdsm_job_destroy(void *root)
{
	struct root *r;
	int err, ferr;

	if (!tdsm_attached())
		return tdsm__fail(ENODEV, "tdsm_job_destroy: not attached");
	err = root_check((uintptr_t)root, "tdsm_job_destroy of", &r);
	if (err)
		return err;
	pthread_mutex_lock(&job_lock);
	if (job.root == r) {
		__atomic_store_n(&job.joined, 0, __ATOMIC_RELEASE);
		job.root = NULL;
		job.rank = -1;
		job.nranks = -1;
		job.id = 0;
	}
	pthread_mutex_unlock(&job_lock);
	err = tdsm__heap_release(r->arenas);
	r->magic = 0;
	ferr = tdsm_free(r, ROOT_PAGES);
	return ferr ? ferr : err;
}
