// SPDX-License-Identifier: GPL-2.0
/*
 * libtinydsm-preload.so: every malloc-family call of an unmodified program
 * served from the tinydsm region, homed on the node the user picks:
 *
 *   LD_PRELOAD=libtinydsm-preload.so TINYDSM_HOME=node2 sort big.txt
 *
 * The allocator is jemalloc (Debian's libjemalloc2), not one of ours: an
 * arena of its own (arenas.create) whose extent hooks take memory from
 * one run of the region, ALLOCed at the home on the first malloc and
 * mapped here, a run that belongs to the open device
 * (TINYDSM_ALLOC_F_FILE): the module FREEs it when the mapping goes, at
 * exit, exec or kill, so no heap outlives its program; jemalloc does the size classes, the thread caches, the
 * reuse and the fragmentation. The hooks hand out the run from the bottom
 * up and never give memory back to the module (dalloc declines, so
 * jemalloc keeps what it frees and reuses it) and never purge or decommit
 * (jemalloc's madvise() on region pages would not zero them, and its
 * mmap(MAP_FIXED) would replace the region's mapping): purge, commit and
 * decommit are left out, which jemalloc reads as "not supported".
 *
 * Only the blocks live in the region. jemalloc's own metadata of the
 * arena comes through the same hooks (base blocks), the rest of its state
 * (the radix tree that maps a block to its extent, thread data) is
 * process memory from mmap. Nothing of the heap is shared with another
 * process: a program's heap, somewhere else.
 *
 * The setup (the first malloc) allocates nothing: the environment, the
 * device and the configuration file are read with system calls into
 * static buffers. A malloc made while the setup runs (in the thread that
 * runs it) is served from a static buffer of BOOT_BYTES, never freed.
 * If the setup fails, the program is stopped with the reason (exit 127,
 * as the dynamic loader does for a missing library): a heap that quietly
 * stayed local would not be what was asked for.
 *
 * fork(): the heap's pages are a MAP_SHARED mapping, which a child would
 * share with its parent instead of getting a copy. The child (pthread_atfork)
 * replaces the run's mapping with private memory holding a copy of what
 * the heap used, and the rest of the run with fresh private memory, so it
 * has fork's semantics; its heap is then not in the region any more (a
 * child that execs at once pays only for the copy).
 *
 * Environment:
 *   TINYDSM_HOME      the home: a node id, or a name of the tinydsmd
 *                     configuration (TINYDSM_CONF, default
 *                     /etc/tinydsm.conf: "node ID name NAME ..."); unset:
 *                     this node
 *   TINYDSM_HEAP_MB   the run, MiB, 4 .. the home's slice (default: the
 *                     most the home gives of 4 GiB or its slice if
 *                     smaller, halving until an ALLOC succeeds, 4 MiB at
 *                     least); jemalloc's mallocs fail (ENOMEM) once it is
 *                     used up
 *   TINYDSM_PRELOAD_STATS=1  a line on stderr at exit: the home, the run,
 *                     what the hooks gave jemalloc, the calls
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jemalloc/jemalloc.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#define PUBLIC __attribute__((visibility("default")))
#define BOOT_BYTES	(64u << 10)
#define MIN_RUN_MB	4u
/* Address space only (backed where touched), but others' room at the home. */
#define DEFAULT_RUN_MB	4096u
#define CONF_BYTES	(64u << 10)

static struct {
	unsigned int arena;	/* jemalloc's arena index */
	uintptr_t base, end;	/* the run, mapped here */
	uintptr_t next;		/* the hooks' next free byte */
	pthread_mutex_t lock;	/* next */
	unsigned int home;
	bool stats, forked;
	int stats_fd;		/* stderr as it was at the setup */
	atomic_ulong mallocs, frees;
} pl = { .lock = PTHREAD_MUTEX_INITIALIZER };

static pthread_once_t pl_once = PTHREAD_ONCE_INIT;
/* 0: not set up, 1: set up (pl valid); set once, by pl_setup() */
static atomic_int pl_ready;
/* The thread running pl_setup(): its mallocs come from boot[]. */
static __thread bool pl_in_setup;
static _Alignas(64) unsigned char boot[BOOT_BYTES];
static size_t boot_used;

/* A message on @fd without stdio (which may allocate). */
static void say_to(int fd, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

static _Noreturn void die(const char *fmt, ...)
{
	char buf[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	say_to(2, "libtinydsm-preload: %s\n", buf);
	_exit(127);
}

/* ------------------------------------------------------------ the hooks */

static void *hook_alloc(extent_hooks_t *h, void *new_addr, size_t size,
			size_t align, bool *zero, bool *commit, unsigned int ind)
{
	uintptr_t p;

	(void)h;
	(void)ind;
	/* Growing in place, at an address jemalloc names: not here. */
	if (new_addr)
		return NULL;
	if (!align)
		align = 1;
	pthread_mutex_lock(&pl.lock);
	p = (pl.next + align - 1) & ~(uintptr_t)(align - 1);
	if (p < pl.next || p > pl.end || size > pl.end - p) {
		pthread_mutex_unlock(&pl.lock);
		return NULL;	/* the run is used up: ENOMEM */
	}
	pl.next = p + size;
	pthread_mutex_unlock(&pl.lock);
	/* Never handed out before: the region's pages read zero. */
	*zero = true;
	*commit = true;
	return (void *)p;
}

/* Keep it: jemalloc retains the extent and gives it out again. */
static bool hook_dalloc(extent_hooks_t *h, void *addr, size_t size,
			bool committed, unsigned int ind)
{
	(void)h, (void)addr, (void)size, (void)committed, (void)ind;
	return true;
}

static void hook_destroy(extent_hooks_t *h, void *addr, size_t size,
			 bool committed, unsigned int ind)
{
	(void)h, (void)addr, (void)size, (void)committed, (void)ind;
}

/* Extents of one run: splitting and merging them is jemalloc's bookkeeping. */
static bool hook_split(extent_hooks_t *h, void *addr, size_t size,
		       size_t size_a, size_t size_b, bool committed,
		       unsigned int ind)
{
	(void)h, (void)addr, (void)size, (void)size_a, (void)size_b;
	(void)committed, (void)ind;
	return false;
}

static bool hook_merge(extent_hooks_t *h, void *addr_a, size_t size_a,
		       void *addr_b, size_t size_b, bool committed,
		       unsigned int ind)
{
	(void)h, (void)addr_a, (void)size_a, (void)addr_b, (void)size_b;
	(void)committed, (void)ind;
	return false;
}

static extent_hooks_t pl_hooks = {
	.alloc = hook_alloc,
	.dalloc = hook_dalloc,
	.destroy = hook_destroy,
	/* commit, decommit, purge_lazy, purge_forced: not supported */
	.split = hook_split,
	.merge = hook_merge,
};

/* ------------------------------------------------------------ the setup */

/*
 * The id of node @name in the configuration file @path ("node ID name
 * NAME ..." lines), read into a static buffer: 0 if it has none.
 */
static unsigned int conf_node(const char *path, const char *name)
{
	static char buf[CONF_BYTES + 1];
	ssize_t n, len = 0;
	char *line, *save;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("TINYDSM_HOME=%s: cannot read %s: %s", name, path, strerror(errno));
	while (len < (ssize_t)CONF_BYTES &&
	       (n = read(fd, buf + len, CONF_BYTES - len)) > 0)
		len += n;
	close(fd);
	buf[len] = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned int id;
		char word[64];

		if (sscanf(line, " node %u name %63s", &id, word) == 2 &&
		    !strcmp(word, name))
			return id;
	}
	return 0;
}

/* TINYDSM_HOME as a node id (0: this node). */
static unsigned int home_from_env(const struct tinydsm_region_info *ri)
{
	const char *v = getenv("TINYDSM_HOME"), *conf;
	unsigned long id;
	char *end;

	if (!v || !*v)
		return 0;
	errno = 0;
	id = strtoul(v, &end, 10);
	if (*end) {
		conf = getenv("TINYDSM_CONF");
		if (!conf || !*conf)
			conf = "/etc/tinydsm.conf";
		id = conf_node(conf, v);
		if (!id)
			die("TINYDSM_HOME=%s: no such node in %s", v, conf);
	}
	if (errno || !id || id > ri->max_nodes)
		die("TINYDSM_HOME=%s: not a node (1 .. %u)", v, ri->max_nodes);
	if (id > ri->home_nodes)
		die("TINYDSM_HOME=%s: node %lu homes no slice (home_nodes %u)", v, id,
		    ri->home_nodes);
	return id;
}

static void pl_child(void);

static void pl_setup(void)
{
	extent_hooks_t *hooks = &pl_hooks;
	struct tinydsm_region_info ri = { 0 };
	struct tinydsm_alloc a = { 0 };
	uint64_t want, slice_mb, mb;
	size_t sz = sizeof(pl.arena);
	const char *v;
	void *map;
	char *end;
	int fd, err;

	pl_in_setup = true;
	fd = open("/dev/" TINYDSM_DEVICE_NAME, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		die("/dev/%s: %s", TINYDSM_DEVICE_NAME, strerror(errno));
	if (ioctl(fd, TINYDSM_IOC_REGION_INFO, &ri))
		die("TINYDSM_IOC_REGION_INFO: %s", strerror(errno));
	if (ri.abi_version < 5)
		die("the module's ABI is %u: runs that belong to a file need 5", ri.abi_version);
	if (!ri.page_size)
		ri.page_size = 4096;
	pl.home = home_from_env(&ri);
	slice_mb = ri.slice_pages * ri.page_size >> 20;
	v = getenv("TINYDSM_HEAP_MB");
	if (v && *v) {
		errno = 0;
		want = strtoull(v, &end, 10);
		if (*end || errno || want < MIN_RUN_MB || want > slice_mb)
			die("TINYDSM_HEAP_MB=%s: want %u .. %llu (the home slice)", v,
			    MIN_RUN_MB, (unsigned long long)slice_mb);
		mb = want;
	} else {
		want = 0;
		mb = slice_mb < DEFAULT_RUN_MB ? slice_mb : DEFAULT_RUN_MB;
	}
	for (;;) {
		a.home = pl.home;
		a.flags = TINYDSM_ALLOC_F_FILE;	/* FREEd when the mapping goes */
		a.npages = (uint32_t)((mb << 20) / ri.page_size);
		if (!ioctl(fd, TINYDSM_IOC_ALLOC, &a))
			break;
		err = errno;
		if (err == ENOENT)
			die("no node %u among this node's peers", pl.home);
		if (err != ENOSPC || want || mb / 2 < MIN_RUN_MB)
			die("ALLOC of %llu MiB at node %u: %s", (unsigned long long)mb,
			    pl.home ? pl.home : ri.node_id, strerror(err));
		mb /= 2;
	}
	map = mmap(NULL, (size_t)mb << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   (off_t)(a.addr - ri.base));
	if (map == MAP_FAILED)
		die("mmap of the run %#llx: %s", (unsigned long long)a.addr, strerror(errno));
	close(fd);	/* the mapping keeps the device open */
	pl.base = pl.next = (uintptr_t)map;
	pl.end = pl.base + ((size_t)mb << 20);
	if (!pl.home)
		pl.home = ri.node_id;
	v = getenv("TINYDSM_PRELOAD_STATS");
	pl.stats = v && *v == '1';
	/* Programs close their stderr on the way out (coreutils, xz). */
	pl.stats_fd = pl.stats ? fcntl(2, F_DUPFD_CLOEXEC, 10) : -1;
	err = mallctl("arenas.create", &pl.arena, &sz, &hooks, sizeof(hooks));
	if (err)
		die("jemalloc arenas.create: %s", strerror(err));
	if (pthread_atfork(NULL, NULL, pl_child))
		die("pthread_atfork failed");
	pl_in_setup = false;
	atomic_store(&pl_ready, 1);
}

/* The flags of every call: our arena (the thread's cache stays on: it is
 * filled from and flushed to the arena of each block). */
static inline int pl_flags(void)
{
	return MALLOCX_ARENA(pl.arena);
}

static inline bool pl_boot_block(const void *p)
{
	return (const unsigned char *)p >= boot &&
	       (const unsigned char *)p < boot + sizeof(boot);
}

/* A block from boot[] for the setup's own thread: never freed. */
static void *boot_alloc(size_t size, size_t align)
{
	size_t at;

	if (align < 16)
		align = 16;
	at = (boot_used + align - 1) & ~(align - 1);
	if (at > sizeof(boot) || size > sizeof(boot) - at) {
		errno = ENOMEM;
		return NULL;
	}
	boot_used = at + size;
	return boot + at;
}

/* Set up; true if the caller is the setup itself (serve from boot[]). */
static inline bool pl_start(void)
{
	if (__builtin_expect(atomic_load_explicit(&pl_ready, memory_order_acquire), 1))
		return false;
	if (pl_in_setup)
		return true;
	pthread_once(&pl_once, pl_setup);
	return false;
}

/* Every block handed out must be in the run (or a forked child's copy). */
static inline void *pl_check(void *p)
{
	if (p && ((uintptr_t)p < pl.base || (uintptr_t)p >= pl.end))
		die("jemalloc gave %p, outside the run %#lx-%#lx", p,
		    (unsigned long)pl.base, (unsigned long)pl.end);
	if (p && pl.stats)
		atomic_fetch_add_explicit(&pl.mallocs, 1, memory_order_relaxed);
	return p;
}

static void *pl_alloc(size_t size, int flags)
{
	void *p;

	if (!size)
		size = 1;
	p = mallocx(size, pl_flags() | flags);
	if (!p)
		errno = ENOMEM;
	return pl_check(p);
}

/* ----------------------------------------------------- fork: the child */

/*
 * The child's heap: private memory at the run's addresses, a copy of what
 * the hooks handed out (jemalloc's blocks and metadata), fresh above.
 * Runs in the child only, single-threaded, before fork() returns.
 */
static void pl_child(void)
{
	size_t used = pl.next - pl.base, len = pl.end - pl.base;
	void *copy;

	if (used) {
		copy = mmap(NULL, used, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (copy == MAP_FAILED)
			die("fork: no memory for the child's copy of the heap (%zu bytes)", used);
		memcpy(copy, (void *)pl.base, used);
		if (mremap(copy, used, used, MREMAP_MAYMOVE | MREMAP_FIXED,
			   (void *)pl.base) == MAP_FAILED)
			die("fork: mremap of the child's heap: %s", strerror(errno));
	}
	if (len > used &&
	    mmap((void *)(pl.base + used), len - used, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		die("fork: the child's heap: %s", strerror(errno));
	pl.forked = true;
}

/* --------------------------------------------- the glibc replacement set */

PUBLIC void *malloc(size_t size)
{
	if (pl_start())
		return boot_alloc(size, 16);
	return pl_alloc(size, 0);
}

PUBLIC void free(void *p)
{
	if (!p || pl_boot_block(p))
		return;
	if (pl.stats)
		atomic_fetch_add_explicit(&pl.frees, 1, memory_order_relaxed);
	dallocx(p, 0);
}

PUBLIC void *calloc(size_t n, size_t size)
{
	size_t total;

	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	if (pl_start())
		return boot_alloc(total, 16);	/* static: zero */
	return pl_alloc(total, MALLOCX_ZERO);
}

PUBLIC void *realloc(void *p, size_t size)
{
	void *q;

	if (!p)
		return malloc(size);
	if (!size) {
		free(p);
		return NULL;
	}
	if (pl_start() || pl_boot_block(p)) {
		/* From boot[]: into a block of the heap (or of boot[] again). */
		size_t room = pl_boot_block(p) ?
			      (size_t)(boot + sizeof(boot) - (unsigned char *)p) : size;

		q = malloc(size);
		if (q)
			memcpy(q, p, room < size ? room : size);
		return q;
	}
	q = rallocx(p, size, pl_flags());
	if (!q)
		errno = ENOMEM;
	return pl_check(q);
}

static void *aligned(size_t align, size_t size)
{
	if (!align || (align & (align - 1))) {
		errno = EINVAL;
		return NULL;
	}
	if (pl_start())
		return boot_alloc(size, align);
	return pl_alloc(size, MALLOCX_ALIGN(align));
}

PUBLIC void *aligned_alloc(size_t align, size_t size)
{
	return aligned(align, size);
}

PUBLIC void *memalign(size_t align, size_t size)
{
	return aligned(align, size);
}

PUBLIC int posix_memalign(void **out, size_t align, size_t size)
{
	void *p;
	int saved = errno;

	if (align < sizeof(void *) || (align & (align - 1)))
		return EINVAL;
	p = aligned(align, size);
	if (!p) {
		int err = errno;

		errno = saved;
		return err;
	}
	*out = p;
	return 0;
}

PUBLIC void *valloc(size_t size)
{
	return aligned((size_t)sysconf(_SC_PAGESIZE), size);
}

PUBLIC void *pvalloc(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (size > SIZE_MAX - page) {
		errno = ENOMEM;
		return NULL;
	}
	return aligned(page, size ? (size + page - 1) & ~(page - 1) : page);
}

PUBLIC size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (pl_boot_block(p))
		return 0;	/* not known: never written past what was asked */
	return sallocx(p, 0);
}

/* ------------------------------------------------------------ the stats */

__attribute__((destructor)) static void pl_stats(void)
{
	if (!atomic_load(&pl_ready) || !pl.stats || pl.stats_fd < 0)
		return;
	say_to(pl.stats_fd, "libtinydsm-preload: pid %d%s: home node %u, run %#lx +%lu MiB, "
	    "%lu MiB given to jemalloc, %lu mallocs, %lu frees, %zu bytes of the "
	    "setup's own\n", (int)getpid(), pl.forked ? " (a forked child: its heap "
	    "is private)" : "", pl.home, (unsigned long)pl.base,
	    (unsigned long)((pl.end - pl.base) >> 20),
	    (unsigned long)((pl.next - pl.base) >> 20),
	    atomic_load(&pl.mallocs), atomic_load(&pl.frees), boot_used);
}
