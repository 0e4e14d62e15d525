/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * libtinydsm: the user-space side of tinydsm.
 *
 *   tdsm_attach()     open /dev/tinydsm, map the region at its global base
 *                     and the translation table, register this program's
 *                     access sites;
 *   TDSM_LOAD64(p)    an access site: one mov while its page is here (the
 *   TDSM_STORE32(p,v) direct form), a jump to a lookup thunk when the module
 *                     has rewritten it (the lookup form);
 *   tdsm_alloc() ...  thin wrappers of the other ioctls.
 *
 * One process attaches once: the state is global, because the thunks that
 * the macros emit reach it without any argument. Link libtinydsm.a into the
 * executable (not into a shared object): the sites the library registers
 * are the executable's own TINYDSM_SITES_SECTION. x86-64, AT&T asm syntax
 * (GCC's default) only.
 *
 * Functions that return int give 0 (or a count) on success and -errno on
 * failure; tdsm_strerror_detail() then says what failed, in words.
 */
#ifndef TINYDSM_LIB_H
#define TINYDSM_LIB_H

#include <stddef.h>
#include <stdint.h>

#include <linux/tinydsm.h>

#if !defined(__x86_64__)
#error "libtinydsm: x86-64 only"
#endif

/* tdsm_attach() flags */
#define TDSM_ATTACH_NO_SITES	0x1u	/* do not register the sites */
#define __TDSM_ATTACH_ALL	TDSM_ATTACH_NO_SITES

int tdsm_attach(unsigned int flags);
void tdsm_detach(void);
int tdsm_attached(void);
/* The open /dev/tinydsm (-1 while detached), for ioctls of one's own. */
int tdsm_fd(void);
/* REGION_INFO as tdsm_attach() read it; NULL while detached. */
const struct tinydsm_region_info *tdsm_region_info(void);
/*
 * REGION_INFO without attaching: open, ask, close; nothing mapped, no
 * sites. For a program that only names pages (as a netlink request does).
 */
int tdsm_region_query(struct tinydsm_region_info *info);
/* Why the last failed call of this thread failed ("" if none did). */
const char *tdsm_strerror_detail(void);

/* NULL and errno set on failure (as malloc): the pages' global address. */
void *tdsm_alloc(unsigned int npages, unsigned int home);
int tdsm_free(void *addr, unsigned int npages);
/*
 * Home @npages pages from @addr, of a run this process's user allocated
 * through this node, on @node (this node brings them back): 0 or -errno;
 * *@moved (may be NULL) is how many are homed on @node after it.
 */
int tdsm_place(void *addr, unsigned int npages, unsigned int node,
	       unsigned int *moved);

int tdsm_page_info(const void *addr, struct tinydsm_page_info *pi);
int tdsm_stats(struct tinydsm_stats *st);

/*
 * Atomic read-modify-write of an aligned 4- or 8-byte word of the region
 * (atomic.c): @op an enum tinydsm_atomic_op, @operand the new value (CAS,
 * XCHG), the addend or the mask, @expected what a CAS compares with (0
 * otherwise); *@old gets the word before. Done where the page is held
 * exclusively: with the processor's own atomic on this mapping if this
 * node holds the page EXCLUSIVE, else by the module at the page's home
 * (TINYDSM_IOC_ATOMIC), without moving the page here, so a word that every
 * node updates stays put. 0, or -errno (EINVAL, ERANGE, ETIMEDOUT ...).
 */
int tdsm_atomic(unsigned int op, volatile void *addr, unsigned int width,
		uint64_t operand, uint64_t expected, uint64_t *old);
/* The same on 8-byte words, the word before returned; SIGBUS on failure. */
uint64_t tdsm_fetch_add64(volatile uint64_t *p, uint64_t v);
uint64_t tdsm_xchg64(volatile uint64_t *p, uint64_t v);
uint64_t tdsm_cas64(volatile uint64_t *p, uint64_t expected, uint64_t desired);

/*
 * Sleep while the aligned 4- or 8-byte word at @addr holds @expected
 * (wait.c): until a tdsm_wake() on it from any node, @timeout_ns (0: no
 * timeout of its own) or a signal. 0 when woken or the word was found
 * changed (as with a futex, check again), else -errno: EAGAIN (the word differs), ETIMEDOUT
 * (the timeout, or a home that stopped answering), EINTR, EHOSTUNREACH,
 * ENOSPC (the home's queue is full), EINVAL, ERANGE.
 */
int tdsm_wait(volatile void *addr, unsigned int width, uint64_t expected,
	      uint64_t timeout_ns);
/* Wake up to @count waiters on the word: how many woke, or -errno. */
int tdsm_wake(volatile void *addr, unsigned int width, unsigned int count);

/*
 * Synchronisation in the region, between tasks on any nodes (sync.c): the
 * objects live in region memory (tdsm_alloc()), made of 4-byte words that
 * only tdsm_atomic() changes, and a waiting task sleeps (tdsm_wait()),
 * never spins across the network. Errors are -errno: a home that does
 * not answer fails the call (ETIMEDOUT, EHOSTUNREACH); signals do not.
 *
 * tdsm_mutex_t: zeroed (TDSM_MUTEX_INIT) is unlocked; an uncontended lock
 * or unlock is one atomic. tdsm_mutex_unlock() of an unlocked mutex:
 * -EPERM; tdsm_mutex_trylock() of a locked one: -EBUSY.
 * tdsm_barrier_t: tdsm_barrier_init() by one task before any waits (-EINVAL
 * for 0 tasks, or a wait on one never initialised); tdsm_barrier_wait()
 * returns TDSM_BARRIER_SERIAL in the last task to arrive, 0 in the others.
 * tdsm_cond_t: zeroed (TDSM_COND_INIT); waits may wake spuriously, as a
 * pthread condition's: check the predicate again. A timeout is
 * -ETIMEDOUT, with the mutex held again, as after any wait.
 */
typedef struct {
	uint32_t word;
} tdsm_mutex_t;
#define TDSM_MUTEX_INIT		{ 0 }

typedef struct {
	uint32_t count;		/* tasks that meet */
	uint32_t arrived;	/* in this round */
	uint32_t generation;	/* rounds completed */
	uint32_t reserved;
} tdsm_barrier_t;
#define TDSM_BARRIER_SERIAL	1

typedef struct {
	uint32_t seq;
} tdsm_cond_t;
#define TDSM_COND_INIT		{ 0 }

int tdsm_mutex_lock(tdsm_mutex_t *m);
int tdsm_mutex_trylock(tdsm_mutex_t *m);
int tdsm_mutex_unlock(tdsm_mutex_t *m);
int tdsm_barrier_init(tdsm_barrier_t *b, unsigned int count);
int tdsm_barrier_wait(tdsm_barrier_t *b);
int tdsm_cond_wait(tdsm_cond_t *c, tdsm_mutex_t *m);
int tdsm_cond_timedwait(tdsm_cond_t *c, tdsm_mutex_t *m, uint64_t timeout_ns);
int tdsm_cond_signal(tdsm_cond_t *c);
int tdsm_cond_broadcast(tdsm_cond_t *c);

/*
 * The job (job.c): the ranks of one program, on any nodes, that share a
 * root run of the region. A launcher makes the root with tdsm_job_create()
 * on its node and starts N ranks with TINYDSM_RANK (0 .. N - 1),
 * TINYDSM_NRANKS (N), TINYDSM_JOB (the job id, decimal, not 0) and
 * TINYDSM_ROOT (the root's address, hex); tdsm_init() in each rank
 * attaches (unless attached) and joins it. Without those variables a
 * program is a job of one rank, whose root tdsm_init() makes itself.
 * TINYDSM_PLACEMENT (local, interleave or first-touch) is the heap's
 * default placement. A bad variable is -EINVAL, its name in
 * tdsm_strerror_detail(); a root that is not the job's is -EPROTO.
 *
 * tdsm_rank() and tdsm_nranks() are -1, tdsm_job() 0, before tdsm_init().
 * tdsm_job_barrier() and tdsm_share() are collective: every rank calls
 * them, in the same order, from one thread. tdsm_share() gives every rank
 * rank 0's @size bytes at @var (TreadMarks' Tmk_distribute), at most
 * TDSM_SHARE_MAX; a rank whose @size differs from rank 0's gets -EINVAL,
 * and nobody waits for ever for it. tdsm_finalize() is collective too:
 * every rank meets, then the last rank of each node frees that node's
 * part of the heap (its arena and chunks, and the large blocks other
 * nodes freed; a large block still in use stays), and the process is
 * in no job any more. tdsm_job_destroy() frees the root and the heap's
 * runs it may free (see README.md): no rank may run then, nor be inside
 * tdsm_finalize() (which returns once every rank arrived, before every
 * node gave its part back): a destroy that takes a node's arena first
 * leaves that node's runs allocated, since only their node may FREE
 * them. tinydsmctl destroys the root once every rank has exited.
 */
#define TDSM_SHARE_MAX		16384
#define TDSM_MAX_RANKS		65536

int tdsm_init(void);
int tdsm_rank(void);
int tdsm_nranks(void);
uint64_t tdsm_job(void);
int tdsm_job_barrier(void);
int tdsm_share(void *var, size_t size);
int tdsm_finalize(void);
int tdsm_job_create(unsigned int nranks, uint64_t job, void **root);
int tdsm_job_destroy(void *root);

/*
 * The shared heap (heap.c): blocks of the region that every rank on every
 * node may use and free, whoever allocated them. As malloc: NULL and
 * errno on failure (ENOMEM, or the errno of the module's ALLOC), 16-byte
 * alignment, a unique block for size 0, realloc(p, 0) frees p and gives
 * NULL. tdsm_free(addr, npages) is the page-run free of tdsm_alloc();
 * a heap block is freed with tdsm_mfree(): 0, or -EINVAL for a pointer
 * that is not a live block (a double free is caught, unless two frees of
 * one block race), or the error of the atomic that hands a block back to
 * another node. The heap joins the job (tdsm_init()) if needed.
 *
 * Placement of a large block (more than TDSM_SMALL_MAX bytes; small ones
 * always come from this node's arena): TDSM_PLACE_LOCAL homes its pages
 * on this node. TDSM_PLACE_INTERLEAVE homes its groups of 64 pages (256
 * KiB, aligned in the region) round robin on the job's nodes, this node's
 * first (the header's): the nodes with a rank that joined the job by
 * then (every rank, after tdsm_job_barrier() or MAIN_INITENV), and homing
 * a slice. It is best effort, as a NUMA interleave: a group whose
 * TINYDSM_IOC_PLACE fails stays here (tdsm_heap_stats() counts both).
 * _FIRST_TOUCH is -EOPNOTSUPP: the module has no first-touch homing.
 */
#define TDSM_SMALL_MAX		16368	/* largest small block, in bytes */

enum tdsm_placement {
	TDSM_PLACE_DEFAULT = 0,		/* TINYDSM_PLACEMENT, else LOCAL */
	TDSM_PLACE_LOCAL,
	TDSM_PLACE_INTERLEAVE,
	TDSM_PLACE_FIRST_TOUCH,
};

void *tdsm_malloc(size_t size);
void *tdsm_calloc(size_t n, size_t size);
void *tdsm_realloc(void *p, size_t size);
void *tdsm_aligned_alloc(size_t align, size_t size);
void *tdsm_malloc_placed(size_t size, unsigned int policy);
int tdsm_mfree(void *p);

/*
 * This node's arena, shared by the processes of the node: blocks handed
 * out and blocks given back (frees from other nodes counted once this node
 * took them back), the module's ALLOCs and FREEs it made (those that
 * succeeded; allocs + run_frees are the heap's allocation round trips),
 * bytes of blocks in use and of runs held (headers and rounding included),
 * and the most bytes of runs it ever held at once. All since the arena was
 * made (the node's first malloc of the job); tdsm_finalize()'s FREEs of
 * the chunks and of the arena are not counted.
 */
struct tdsm_heap_stats {
	uint64_t mallocs;
	uint64_t frees;
	uint64_t remote_frees;	/* of the frees: made on other nodes */
	uint64_t allocs;	/* TINYDSM_IOC_ALLOC calls */
	uint64_t chunks;	/* of which runs cut into small blocks */
	uint64_t large;		/* of which large blocks */
	uint64_t run_frees;	/* TINYDSM_IOC_FREE calls (large blocks) */
	uint64_t bytes_in_use;
	uint64_t bytes_mapped;
	uint64_t bytes_mapped_peak;	/* the most bytes_mapped has been */
	uint64_t runs_reused;	/* large mallocs served by a kept run */
	uint64_t runs_kept;	/* freed large runs kept for reuse, now */
	uint64_t bytes_kept;	/* their bytes (in bytes_mapped) */
	uint32_t node;
	uint32_t reserved;
	uint64_t pages_placed;	/* interleaved onto other nodes */
	uint64_t place_failures;	/* groups left here: PLACE failed */
};

int tdsm_heap_stats(struct tdsm_heap_stats *st);

/* TINYDSM_SITES_POLICY_LAZY or _EAGER, for this process's sites. */
int tdsm_set_policy(unsigned int policy);
/* Current policy and number of registered sites (either may be NULL). */
int tdsm_get_policy(unsigned int *policy, unsigned int *count);
/* TINYDSM_SITE_DIRECT or _LOOKUP; both return the sites rewritten. */
int tdsm_site_set_form(uintptr_t site, unsigned int form);
int tdsm_sites_set_form_all(unsigned int form);
int tdsm_site_info(uintptr_t site, struct tinydsm_site_info *si);

/*
 * This program's sites: tdsm_sites() points *first at the section's first
 * entry and returns the number of entries (0, and *first NULL, without
 * any). tdsm_sites_add() registers a table of one's own (tdsm_attach()
 * calls it on the program's section unless TDSM_ATTACH_NO_SITES).
 */
size_t tdsm_sites(const struct tinydsm_site_entry **first);
int tdsm_sites_add(const struct tinydsm_site_entry *table, size_t count);
/* The entry whose site starts at @site, or NULL. */
const struct tinydsm_site_entry *tdsm_site_find(uintptr_t site);

/* Absolute addresses: the entry holds them relative to its own fields. */
static inline uintptr_t tdsm_site_addr(const struct tinydsm_site_entry *e)
{
	return (uintptr_t)&e->site + (intptr_t)e->site;
}

static inline uintptr_t tdsm_site_lookup_addr(const struct tinydsm_site_entry *e)
{
	return (uintptr_t)&e->lookup + (intptr_t)e->lookup;
}

/*
 * The library's process-local state (the device's fd, the region's
 * mapping, the job, the heap's cache of its arena, parmacs.c's view of
 * its job) lives in this section, so that __start_tdsm_private and
 * __stop_tdsm_private bound it: a PARMACS worker copies rank 0's .data
 * and .bss into its own at CREATE and must skip it (parmacs.c). Thread-
 * locals are not in .data or .bss and need no mark.
 */
#define TDSM__PRIVATE	__attribute__((section("tdsm_private")))

/*
 * Internal, shared by tinydsm.c and the translation stubs (lookup.c).
 * size is 0 while detached, and is written last on attach: a stub that
 * sees it non-zero sees the rest.
 */
struct tdsm__state {
	uint64_t base;
	uint64_t size;
	const volatile uint8_t *xlate;	/* one enum tinydsm_page_state per page */
	unsigned int page_shift;
	int fd;
	uint64_t window_mask;		/* the thunks' pext mask (window.c) */
};

extern struct tdsm__state tdsm__state __attribute__((visibility("hidden")));

/* The thunks' fast path reads these fields at fixed offsets, pages of 4 KiB. */
_Static_assert(__builtin_offsetof(struct tdsm__state, base) == 0, "base");
_Static_assert(__builtin_offsetof(struct tdsm__state, size) == 8, "size");
_Static_assert(__builtin_offsetof(struct tdsm__state, xlate) == 16, "xlate");
_Static_assert(__builtin_offsetof(struct tdsm__state, window_mask) == 32,
	       "window_mask");
#define TDSM__PAGE_SHIFT	12

/*
 * The state of the page at @addr on this node (enum tinydsm_page_state,
 * from the translation table), or -1 if the access of @width bytes is not
 * one for the module: not attached, outside the region, or across a page.
 * For the stubs (lookup.c) and the atomics (atomic.c).
 */
static inline int tdsm__page_state(uint64_t addr, uint64_t width)
{
	const struct tdsm__state *s = &tdsm__state;
	uint64_t size = __atomic_load_n(&s->size, __ATOMIC_ACQUIRE);
	uint64_t off = addr - s->base;
	uint64_t in_page;

	if (off >= size)	/* also while detached: size is 0 */
		return -1;
	in_page = off & ((1ULL << s->page_shift) - 1);
	if (in_page + width > 1ULL << s->page_shift)
		return -1;
	return s->xlate[off >> s->page_shift];
}

/*
 * Set tdsm_strerror_detail() to "<what>: <strerror(err)>" and return -err
 * (tinydsm.c), for the library's other files.
 */
int tdsm__fail(int err, const char *fmt, ...)
	__attribute__((visibility("hidden"), format(printf, 2, 3)));

/*
 * Between the job and the heap: the root's table of each node's arena (0
 * until that node makes it), joining the job first if needed (NULL and
 * errno on failure); the default placement; the release of every arena's
 * runs for tdsm_job_destroy(), and of one node's for tdsm_finalize(); the
 * heap forgetting a job it left.
 */
uint64_t *tdsm__job_arenas(void) __attribute__((visibility("hidden")));
unsigned int tdsm__job_placement(void) __attribute__((visibility("hidden")));
uint64_t tdsm__job_nodes(void) __attribute__((visibility("hidden")));
int tdsm__heap_release(uint64_t *arenas) __attribute__((visibility("hidden")));
int tdsm__heap_release_node(uint64_t *arenas, unsigned int node)
	__attribute__((visibility("hidden")));
void tdsm__heap_forget(void) __attribute__((visibility("hidden")));
/* The home of the runs this node ALLOCs for the job and the heap (heap.c). */
unsigned int tdsm__run_home(void) __attribute__((visibility("hidden")));

/*
 * The thunks' window (window.c): a read-only table at the fixed address
 * TDSM__WINDOW in which the byte of region page p is at
 * ((addr >> 12) & (len - 1)), len a power of two of at least the region's
 * pages; every other byte of it reads as some page's state or 0. It maps
 * the module's translation table there (@fd >= 0) or, for the host tests
 * (@fd < 0), a writable table of zeros; @base must put the region's bytes
 * in one run of the window, which the real base (TINYDSM_REGION_BASE)
 * always does. Returns the region's table (@npages bytes), or NULL with
 * errno and tdsm_strerror_detail() set. tdsm__window_unmap() gives the
 * table back for zeros; the window itself stays for the process's life,
 * as a site may stay in its lookup form.
 */
#define TDSM__WINDOW		0x40000000
#define TDSM__WINDOW_MAX	0x40000000ULL	/* [1 GiB, 2 GiB): disp32 */
#define __TDSM_STR(x)		#x
#define __TDSM_XSTR(x)		__TDSM_STR(x)
uint8_t *tdsm__window_map(uint64_t base, uint64_t npages, int fd)
	__attribute__((visibility("hidden")));
void tdsm__window_unmap(const volatile uint8_t *table, uint64_t npages)
	__attribute__((visibility("hidden")));

/* The translation stubs, called by the thunks only (lookup.c). */
uint64_t tdsm__lookup_load(uint64_t addr, uint64_t site, uint64_t width)
	__attribute__((visibility("hidden")));
/* @how: the width (4 or 8) | TINYDSM_SITE_F_FETCH_ADD or _XCHG << 8. */
uint64_t tdsm__lookup_atomic(uint64_t addr, uint64_t value, uint64_t site,
			     uint64_t how) __attribute__((visibility("hidden")));
/* A CAS site's: @value the new word, @expected RAX's; the word before. */
uint64_t tdsm__lookup_cas(uint64_t addr, uint64_t value, uint64_t site,
			  uint64_t width, uint64_t expected)
	__attribute__((visibility("hidden")));
void tdsm__lookup_store(uint64_t addr, uint64_t value, uint64_t site,
			uint64_t width) __attribute__((visibility("hidden")));

/*
 * Access sites
 * ------------
 * Each inlined use of an accessor below is one site: the mov, label 2
 * right after it, a struct tinydsm_site_entry in TINYDSM_SITES_SECTION
 * and a thunk in .text.tinydsm_lookup. The direct form is exactly one
 * instruction, with no padding, so that it costs what a plain access
 * costs; {disp32} forces a zero 32-bit displacement, which makes every
 * site 6 to 9 bytes long, room for the jmp rel32 of the lookup form.
 *
 * The register numbers of the entry are computed by the assembler from
 * the operand text GCC substitutes (%rsi -> 6); anything else stops the
 * assembly.
 */
#define __TDSM_REGNUM(sym, op)						\
	".set .Ltdsm_n, 0\n\t"						\
	".set " sym ", -1\n\t"						\
	".irp tdsm_r, rax,rcx,rdx,rbx,rsp,rbp,rsi,rdi,"			\
		"r8,r9,r10,r11,r12,r13,r14,r15\n\t"			\
	".ifc " op ",%%\\tdsm_r\n\t"					\
	".set " sym ", .Ltdsm_n\n\t"					\
	".endif\n\t"							\
	".set .Ltdsm_n, .Ltdsm_n + 1\n\t"				\
	".endr\n\t"							\
	".if " sym " < 0\n\t"						\
	".error \"tinydsm: not a 64-bit general register: " op "\"\n\t"	\
	".endif\n\t"

#define __TDSM_SITE(insn, width, flags, need, jfail, thunk)		\
	"1:\t%{disp32%} " insn "\n"					\
	"2:\n\t"							\
	__TDSM_REGNUM(".Ltdsm_vreg", "%q[v]")				\
	__TDSM_REGNUM(".Ltdsm_areg", "%q[a]")				\
	".pushsection " TINYDSM_SITES_SECTION ", \"a\"\n\t"		\
	".balign 4\n\t"							\
	".long 1b - .\n\t"		/* site */			\
	".long 3f - .\n\t"		/* lookup */			\
	".byte 2b - 1b, " #width ", " #flags "\n\t"			\
	".byte .Ltdsm_vreg, .Ltdsm_areg, 0, 0, 0\n\t"			\
	".popsection\n\t"						\
	".pushsection .text.tinydsm_lookup, \"ax\"\n"			\
	"3:\t" __TDSM_FAST(insn, need, jfail)				\
	"4:\t" thunk							\
	"jmp 2b\n\t"							\
	".popsection"

/*
 * The fast path of a thunk, in the thunk itself: the page's byte of the
 * translation table, read through the window (window.c), says the access
 * can be done here (state >= @need: 1 SHARED for a load, 2 EXCLUSIVE for a
 * store), so do it and go back; else fall through to the call (label 4),
 * whose stub decides everything again from the table itself. T is a
 * scratch register the compiler gives us; the flags are clobbered ("cc").
 * Four instructions, no memory written:
 *
 *   T = pext(A, mask) (A's page number modulo the window's length);
 *   if (window[T] < need) slow; access; back
 *
 * No bounds check: the window is mapped whole, and where it says "here"
 * for an address that is not the region's (its byte belongs to another
 * page, or is 0), the plain access done is what the stub would do. A page
 * that leaves between the check and the access makes the access fault,
 * and the fault brings it back, as for any access. pext (BMI2, checked at
 * attach) shifts without a copy: one instruction where mov and shr were
 * two, and the window replaces the bounds check's three.
 */
#define __TDSM_FAST(insn, need, jfail)					\
	"pext tdsm__state+32(%%rip), %q[a], %q[t]\n\t"			\
	"cmpb $" #need ", " __TDSM_XSTR(TDSM__WINDOW) "(%q[t])\n\t"	\
	jfail " 4f\n\t"							\
	insn "\n\t"							\
	"jmp 2b\n"

/*
 * The thunks. R is %rsp at the site; the thunk never writes at or above
 * R - 128 (the interrupted code's red zone):
 *
 *   R - 136          S, the loaded value on its way to V
 *   R - 144 .. 208   rax rcx rdx rsi rdi r8 r9 r10 r11 (caller-saved)
 *   R - 216          rbp, which keeps that frame while %rsp is aligned
 *
 * Every register is restored, V last (a load); the flags are not ("cc").
 */
#define __TDSM_SAVE							\
	"lea -136(%%rsp), %%rsp\n\t"					\
	"push %%rax\n\tpush %%rcx\n\tpush %%rdx\n\t"			\
	"push %%rsi\n\tpush %%rdi\n\tpush %%r8\n\t"			\
	"push %%r9\n\tpush %%r10\n\tpush %%r11\n\t"			\
	"push %%rbp\n\t"

#define __TDSM_CALL(fn)							\
	"mov %%rsp, %%rbp\n\t"						\
	"and $-16, %%rsp\n\t"						\
	"call " fn "@PLT\n\t"						\
	"mov %%rbp, %%rsp\n\t"						\
	"pop %%rbp\n\t"

#define __TDSM_RESTORE							\
	"pop %%r11\n\tpop %%r10\n\tpop %%r9\n\t"			\
	"pop %%r8\n\tpop %%rdi\n\tpop %%rsi\n\t"			\
	"pop %%rdx\n\tpop %%rcx\n\tpop %%rax\n\t"

/* tdsm__lookup_load(A, site, width); V may be any register, even A. */
#define __TDSM_LOAD_THUNK(width)					\
	__TDSM_SAVE							\
	"mov %q[a], %%rdi\n\t"						\
	"lea 1b(%%rip), %%rsi\n\t"					\
	"mov $" #width ", %%edx\n\t"					\
	__TDSM_CALL("tdsm__lookup_load")				\
	"mov %%rax, 72(%%rsp)\n\t"					\
	__TDSM_RESTORE							\
	"mov (%%rsp), %q[v]\n\t"					\
	"lea 136(%%rsp), %%rsp\n\t"

/*
 * The arguments (A, V, site, @c) of a stub that takes the value: A and V go
 * through the stack, so that whichever argument registers they are,
 * neither overwrites the other.
 */
#define __TDSM_ARGS_AV(c)						\
	"push %q[v]\n\t"						\
	"push %q[a]\n\t"						\
	"pop %%rdi\n\t"							\
	"pop %%rsi\n\t"							\
	"lea 1b(%%rip), %%rdx\n\t"					\
	"mov $" #c ", %%ecx\n\t"

/* tdsm__lookup_store(A, V, site, width). */
#define __TDSM_STORE_THUNK(width)					\
	__TDSM_SAVE							\
	__TDSM_ARGS_AV(width)						\
	__TDSM_CALL("tdsm__lookup_store")				\
	__TDSM_RESTORE							\
	"lea 136(%%rsp), %%rsp\n\t"

/*
 * tdsm__lookup_cas(A, V, site, width, RAX): the word before out in RAX, as
 * cmpxchg leaves it (the expected value if they were equal); V unchanged.
 * RAX's slot is 64(%rsp) once %rbp is popped (the first push).
 */
#define __TDSM_CAS_THUNK(width)						\
	__TDSM_SAVE							\
	__TDSM_ARGS_AV(width)						\
	"mov %%rax, %%r8\n\t"						\
	__TDSM_CALL("tdsm__lookup_cas")					\
	"mov %%rax, 64(%%rsp)\n\t"					\
	__TDSM_RESTORE							\
	"lea 136(%%rsp), %%rsp\n\t"

/*
 * tdsm__lookup_atomic(A, V, site, HOW): V in, the word before out, as the
 * instruction does.
 */
#define __TDSM_ATOMIC_THUNK(how)					\
	__TDSM_SAVE							\
	__TDSM_ARGS_AV(how)						\
	__TDSM_CALL("tdsm__lookup_atomic")				\
	"mov %%rax, 72(%%rsp)\n\t"					\
	__TDSM_RESTORE							\
	"mov (%%rsp), %q[v]\n\t"						\
	"lea 136(%%rsp), %%rsp\n\t"

/*
 * asm inline: count the statement as one instruction (what its direct form
 * is) when deciding what to inline, not by the length of its template.
 */
#if !defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 9
#define __tdsm_asm	__asm__ __volatile__ __inline__
#else
#define __tdsm_asm	__asm__ __volatile__
#endif

/* may_alias: the site accesses whatever object lies at p, of any type. */
typedef uint8_t __attribute__((may_alias, aligned(1))) __tdsm_u8;
typedef uint16_t __attribute__((may_alias, aligned(1))) __tdsm_u16;
typedef uint32_t __attribute__((may_alias, aligned(1))) __tdsm_u32;
typedef uint64_t __attribute__((may_alias, aligned(1))) __tdsm_u64;

#define __TDSM_DEFINE_LOAD(bits, width, insn)				\
static inline __attribute__((always_inline)) uint##bits##_t		\
tdsm_load##bits(const volatile void *p)					\
{									\
	uint64_t v;							\
									\
	uint64_t t;							\
									\
	__tdsm_asm(__TDSM_SITE(insn, width, 0, 1, "jb",			\
			       __TDSM_LOAD_THUNK(width))		\
		   : [v] "=r" (v), [t] "=&r" (t)			\
		   : [a] "r" (p),					\
		     "m" (*(const volatile __tdsm_u##bits *)p)		\
		   : "cc");						\
	/* movl/movzbl/movzwl zero-extended: no second extension */	\
	if (v > (uint##bits##_t)~0ULL)					\
		__builtin_unreachable();				\
	return (uint##bits##_t)v;					\
}

#define __TDSM_DEFINE_STORE(bits, width, insn)				\
static inline __attribute__((always_inline)) void			\
tdsm_store##bits(volatile void *p, uint##bits##_t val)			\
{									\
	uint64_t t;							\
									\
	__tdsm_asm(__TDSM_SITE(insn, width, 1, 2, "jne",			\
			       __TDSM_STORE_THUNK(width))		\
		   : "=m" (*(volatile __tdsm_u##bits *)p), [t] "=&r" (t)	\
		   : [v] "r" (val), [a] "r" (p)				\
		   : "cc");						\
}

__TDSM_DEFINE_LOAD(64, 8, "movq 0(%q[a]), %q[v]")
__TDSM_DEFINE_LOAD(32, 4, "movl 0(%q[a]), %k[v]")
__TDSM_DEFINE_LOAD(16, 2, "movzwl 0(%q[a]), %k[v]")
__TDSM_DEFINE_LOAD(8, 1, "movzbl 0(%q[a]), %k[v]")
__TDSM_DEFINE_STORE(64, 8, "movq %q[v], 0(%q[a])")
__TDSM_DEFINE_STORE(32, 4, "movl %k[v], 0(%q[a])")
__TDSM_DEFINE_STORE(16, 2, "movw %w[v], 0(%q[a])")
__TDSM_DEFINE_STORE(8, 1, "movb %b[v], 0(%q[a])")

/*
 * An atomic site: its direct form is the locked instruction on the page,
 * done in the thunk too while the page is EXCLUSIVE here (need 2); else the
 * stub does the operation where the page is held. @how: the width | the
 * entry's flag << 8, a constant the thunk passes.
 */
#define __TDSM_DEFINE_ATOMIC(name, bits, width, flag, how, insn)	\
static inline __attribute__((always_inline)) uint##bits##_t		\
tdsm_##name##bits(volatile void *p, uint##bits##_t val)			\
{									\
	uint64_t v = val, t;						\
									\
	__tdsm_asm(__TDSM_SITE(insn, width, flag, 2, "jne",		\
			       __TDSM_ATOMIC_THUNK(how))		\
		   : "+m" (*(volatile __tdsm_u##bits *)p), [v] "+r" (v),	\
		     [t] "=&r" (t)					\
		   : [a] "r" (p)					\
		   : "cc", "memory");					\
	return (uint##bits##_t)v;					\
}

/*
 * A compare-and-swap site: lock cmpxchg, the expected value in and the
 * word before out in RAX (the constraint "+a"), the new one in V. flags 8
 * = TINYDSM_SITE_F_CAS.
 */
#define __TDSM_DEFINE_CAS(bits, width, insn)				\
static inline __attribute__((always_inline)) uint##bits##_t		\
tdsm_site_cas##bits(volatile void *p, uint##bits##_t expected,		\
		    uint##bits##_t val)					\
{									\
	uint64_t old = expected, v = val, t;				\
									\
	__tdsm_asm(__TDSM_SITE(insn, width, 8, 2, "jne",		\
			       __TDSM_CAS_THUNK(width))			\
		   : "+m" (*(volatile __tdsm_u##bits *)p), "+a" (old),	\
		     [t] "=&r" (t)					\
		   : [a] "r" (p), [v] "r" (v)				\
		   : "cc", "memory");					\
	return (uint##bits##_t)old;					\
}

__TDSM_DEFINE_CAS(64, 8, "lock cmpxchgq %q[v], 0(%q[a])")
__TDSM_DEFINE_CAS(32, 4, "lock cmpxchgl %k[v], 0(%q[a])")

/* flags 2 = TINYDSM_SITE_F_FETCH_ADD, 4 = TINYDSM_SITE_F_XCHG (uapi) */
__TDSM_DEFINE_ATOMIC(site_fetch_add, 64, 8, 2, 0x208, "lock xaddq %q[v], 0(%q[a])")
__TDSM_DEFINE_ATOMIC(site_fetch_add, 32, 4, 2, 0x204, "lock xaddl %k[v], 0(%q[a])")
__TDSM_DEFINE_ATOMIC(site_xchg, 64, 8, 4, 0x408, "xchgq %q[v], 0(%q[a])")
__TDSM_DEFINE_ATOMIC(site_xchg, 32, 4, 4, 0x404, "xchgl %k[v], 0(%q[a])")

/*
 * Atomic sites (aligned words; the value before is returned). Sequentially
 * consistent with every access to the word on every node, as
 * TINYDSM_IOC_ATOMIC is.
 */
#define TDSM_FETCH_ADD32(p, v)	tdsm_site_fetch_add32((p), (uint32_t)(v))
#define TDSM_FETCH_ADD64(p, v)	tdsm_site_fetch_add64((p), (uint64_t)(v))
#define TDSM_XCHG32(p, v)	tdsm_site_xchg32((p), (uint32_t)(v))
#define TDSM_XCHG64(p, v)	tdsm_site_xchg64((p), (uint64_t)(v))
/* The word before: the swap happened if it equals @e. */
#define TDSM_CAS32(p, e, v)	tdsm_site_cas32((p), (uint32_t)(e), (uint32_t)(v))
#define TDSM_CAS64(p, e, v)	tdsm_site_cas64((p), (uint64_t)(e), (uint64_t)(v))

/* Loads zero-extend; stores write the low bytes of v only. */
#define TDSM_LOAD8(p)		tdsm_load8(p)
#define TDSM_LOAD16(p)		tdsm_load16(p)
#define TDSM_LOAD32(p)		tdsm_load32(p)
#define TDSM_LOAD64(p)		tdsm_load64(p)
#define TDSM_STORE8(p, v)	tdsm_store8((p), (uint8_t)(v))
#define TDSM_STORE16(p, v)	tdsm_store16((p), (uint16_t)(v))
#define TDSM_STORE32(p, v)	tdsm_store32((p), (uint32_t)(v))
#define TDSM_STORE64(p, v)	tdsm_store64((p), (uint64_t)(v))

#endif /* TINYDSM_LIB_H */
