// SPDX-License-Identifier: GPL-2.0
/*
 * access_bench: what an access site costs. The lab script
 * tools/bench/access_bench.sh drives it on two nodes of one lab run (and
 * counts the loops' instructions with objdump and callgrind there);
 * tools/bench.sh (--only access) runs that lab, adds a native timing on the
 * host for scale and prints the table. tools/bench/README.md defines every
 * figure.
 *
 *   access_bench local [-H]            (a) ns per 8-byte load on a local page,
 *                                      sequential and random, for each working
 *                                      set (-s "1 4 16 64 256" MiB), in two
 *                                      phases: plain (anonymous memory), direct
 *                                      (the site on tinydsm memory) and plain on
 *                                      tinydsm memory, before any site was ever
 *                                      rewritten; then plain, lookup and direct
 *                                      again, after SET_FORM_ALL(LOOKUP).
 *                                      -r REPS (seq), -Q REPS (random): median;
 *                                      -m MIN loads per seq run (whole passes),
 *                                      -R N loads per random run; -e ENV,
 *                                      -k PREFIX of the keys ("acc_")
 *   access_bench count seq|rnd FORM MIB N1 N2 [-H] [-P]
 *                                      the loop of FORM (plain, direct, lookup,
 *                                      plaindsm) twice, N1 then N2 loads, for
 *                                      callgrind --toggle-collect=<pat>_<loop>
 *                                      --dump-after=<pat>_<loop>
 *   access_bench home NPAGES FILE      back NPAGES pages here (the home), write
 *                                      one word of each, and the address to FILE
 *   access_bench remote ADDR NPAGES    node1: (i) lookup-form word accesses to
 *                                      the first half of the pages, (ii) direct
 *                                      form (fault and fetch) to the second;
 *                                      -n N timed, -W WARMUP, -e ENV, -k PREFIX
 *   access_bench check ADDR NPAGES COPYSET   at the home: every page's copyset
 *
 * -P: the program puts its sites in the lookup form itself, with the bytes
 * the module would write (jmp rel32 to the site's thunk, int3 after it),
 * instead of TINYDSM_IOC_SITES_CTL: under valgrind the module's rewrite
 * fails (EFAULT). Attached as usual otherwise: the stub reads the real
 * translation table.
 * -H (host mode): no module. The "tinydsm memory" is anonymous memory, the
 * direct form is the sites as compiled (never attached: each is the mov),
 * the lookup form is made as with -P, and libtinydsm's state points at that
 * memory with a translation table that says EXCLUSIVE for every page: the
 * stub runs exactly the path it runs for a local page in a lab guest. For
 * a native timing, for scale, and for callgrind where the lab has none.
 *
 * The loops of every form are one macro with the access as its parameter;
 * the address is in a register before the access in every form (an empty
 * asm), so the compiler cannot fold an index into a plain load's
 * addressing mode, which a site cannot take (a site is `mov 0(%reg)`).
 * Random order is a full-period LCG over the word indexes of the working
 * set (a permutation of them per period; a run of fewer loads than the set
 * has words takes the first of them), the same sequence for every form,
 * computed inline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "tinydsm.h"
#include "common.h"

#define MIB		(1ul << 20)
#define MAX_SIZES	16
#define MAX_REPS	64
/* Knuth's MMIX LCG: a = 1 (mod 4), c odd, so full period modulo 2^k. */
#define LCG_A		6364136223846793005ull
#define LCG_C		1442695040888963407ull

const char *prog = "access_bench";

/* ------------------------------------------------------------ helpers */

static void usage(void)
{
	fprintf(stderr,
		"usage: %s local [-H] [-s SIZES] [-r REPS] [-Q REPS] [-m MIN] [-R N] [-e ENV] [-k PREFIX]\n"
		"       | count seq|rnd plain|direct|lookup|plaindsm MIB N1 N2 [-H] [-P]\n"
		"       | home NPAGES FILE | remote ADDR NPAGES [-n N] [-W WARMUP] [-e ENV] [-k PREFIX]\n"
		"       | check ADDR NPAGES COPYSET\n"
		"(see the top of tools/bench/access_bench.c)\n", prog);
	exit(2);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The value of word @i of a working set (the same in every buffer). */
static uint64_t word_value(uint64_t i)
{
	return (i * 0x9e3779b97f4a7c15ull) ^ 0x5444534d61636365ull;
}

/* The word the home writes at @addr for node1's remote accesses. */
static uint64_t remote_pattern(uint64_t addr)
{
	return (addr * 0xbf58476d1ce4e5b9ull) ^ 0x72656d6f7465ull;
}

static struct {
	bool host, self_poke;
	unsigned int reps, rnd_reps;
	unsigned long min_acc, rnd_acc, n, warmup;
	unsigned long sizes[MAX_SIZES];
	unsigned int nsizes;
} opt = { .reps = 5, .rnd_reps = 3, .min_acc = 1ul << 24,
	  .rnd_acc = 1ul << 22, .n = 500,
	  .warmup = 8 };

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
	struct timespec ts;
	va_list ap;

	clock_gettime(CLOCK_REALTIME, &ts);
	printf("[%02ld:%02ld:%02ld] ", ts.tv_sec / 3600 % 24, ts.tv_sec / 60 % 60,
	       ts.tv_sec % 60);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* ------------------------------------------------------------ the loops */

/* The address is in a register, whatever the form: no folded addressing. */
#define IN_REG(p)	asm("" : "+r" (p))

#define LOAD_PLAIN(p)	(*(const volatile uint64_t *)(p))
#define LOAD_SITE(p)	TDSM_LOAD64(p)

/*
 * seq_<form>: one pass over @n words from @base, in address order.
 * rnd_<form>: @n words at byte offsets off = (off * A + 8C) & @mask from
 * *@state on (mask = working set - 1, a power of two): for y = off / 8 that
 * is y = (A y + C) mod 2^k, a permutation of the set's words per period.
 * The loop body is the same in every form but for the LOAD.
 */
#define DEFINE_LOOPS(form, LOAD)					\
static __attribute__((noinline, noclone)) uint64_t			\
seq_##form(const uint64_t *base, uint64_t n)				\
{									\
	const uint64_t *p = base, *end = base + n;			\
	uint64_t sum = 0;						\
									\
	while (p != end) {						\
		IN_REG(p);						\
		sum += LOAD(p);						\
		p++;							\
	}								\
	return sum;							\
}									\
									\
static __attribute__((noinline, noclone)) uint64_t			\
rnd_##form(const char *base, uint64_t n, uint64_t mask, uint64_t *state) \
{									\
	uint64_t off = *state, sum = 0, i;				\
									\
	for (i = 0; i < n; i++) {					\
		const uint64_t *p;					\
									\
		off = (off * LCG_A + LCG_C * 8) & mask;			\
		p = (const uint64_t *)(base + off);			\
		IN_REG(p);						\
		sum += LOAD(p);						\
	}								\
	*state = off;							\
	return sum;							\
}

DEFINE_LOOPS(plain, LOAD_PLAIN)
DEFINE_LOOPS(site, LOAD_SITE)

/* The remote figures' one site. */
static __attribute__((noinline, noclone)) uint64_t remote_load(const uint64_t *p)
{
	return TDSM_LOAD64(p);
}

enum form { F_PLAIN, F_DIRECT, F_LOOKUP, F_PLAIN_DSM, NFORMS };
static const char *const form_name[NFORMS] = { "plain", "direct", "lookup", "plaindsm" };
enum pat { P_SEQ, P_RND, NPATS };
static const char *const pat_name[NPATS] = { "seq", "rnd" };

/* ------------------------------------------------------------ site forms */

static unsigned int cur_form = TINYDSM_SITE_DIRECT;

/*
 * -H, -P: the module's rewrite (tinydsm.h, "Access sites"), done here by
 * the program on its own text; no other thread runs.
 */
static uint8_t (*direct_bytes)[16];

static void self_poke(unsigned int form)
{
	const struct tinydsm_site_entry *e;
	size_t i, n = tdsm_sites(&e);
	long psz = sysconf(_SC_PAGESIZE);
	uintptr_t lo = UINTPTR_MAX, hi = 0;

	if (!n)
		die("no access sites in this program");
	if (!direct_bytes) {
		direct_bytes = calloc(n, sizeof(*direct_bytes));
		if (!direct_bytes)
			die("out of memory");
		for (i = 0; i < n; i++)
			memcpy(direct_bytes[i], (void *)tdsm_site_addr(&e[i]), e[i].len);
	}
	for (i = 0; i < n; i++) {
		uintptr_t a = tdsm_site_addr(&e[i]);

		lo = a < lo ? a : lo;
		hi = a + e[i].len > hi ? a + e[i].len : hi;
	}
	lo &= ~(uintptr_t)(psz - 1);
	if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE | PROT_EXEC))
		die("mprotect of the sites' text: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		uint8_t *s = (uint8_t *)tdsm_site_addr(&e[i]);

		if (form == TINYDSM_SITE_LOOKUP) {
			int32_t rel = (int32_t)(tdsm_site_lookup_addr(&e[i]) -
						(uintptr_t)(s + 5));

			s[0] = 0xe9;	/* jmp rel32 */
			memcpy(s + 1, &rel, 4);
			memset(s + 5, 0xcc, e[i].len - 5);
		} else {
			memcpy(s, direct_bytes[i], e[i].len);
		}
	}
	if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_EXEC))
		die("mprotect of the sites' text: %s", strerror(errno));
	__builtin___clear_cache((char *)lo, (char *)hi);
}

/*
 * Host mode: libtinydsm's state (tinydsm.h, "Internal") as an attach to a
 * region of [mem, mem + len) would set it, every page EXCLUSIVE here, its
 * translation table in the thunks' window (window.c) as an attach maps it.
 */
static void host_simulate_attach(void *mem, size_t len)
{
	uint8_t *xlate = tdsm__window_map((uintptr_t)mem, len / PAGE, -1);

	if (!xlate)
		die("%s", tdsm_strerror_detail());
	memset(xlate, TINYDSM_PAGE_EXCLUSIVE, len / PAGE);
	tdsm__state.base = (uintptr_t)mem;
	tdsm__state.xlate = xlate;
	tdsm__state.page_shift = 12;
	tdsm__state.fd = -1;
	__atomic_store_n(&tdsm__state.size, len, __ATOMIC_RELEASE);
}

/* Every site in @form (the module's SET_FORM_ALL, or self_poke), checked. */
static void set_form(unsigned int form)
{
	const struct tinydsm_site_entry *e;
	size_t i, n;
	int r;

	if (form == cur_form)
		return;
	if (opt.host || opt.self_poke) {
		self_poke(form);
		cur_form = form;
		return;
	}
	r = tdsm_sites_set_form_all(form);
	if (r < 0)
		die("tdsm_sites_set_form_all(%u): %s", form, tdsm_strerror_detail());
	n = tdsm_sites(&e);
	for (i = 0; i < n; i++) {
		struct tinydsm_site_info si;

		if (tdsm_site_info(tdsm_site_addr(&e[i]), &si))
			die("tdsm_site_info: %s", tdsm_strerror_detail());
		if (si.form != form)
			die("site %#lx is in form %u after SET_FORM_ALL(%u)",
			    (unsigned long)tdsm_site_addr(&e[i]), si.form, form);
	}
	cur_form = form;
}

/* ------------------------------------------------------------ buffers */

static void *anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap of %zu bytes of anonymous memory: %s", len, strerror(errno));
	/* 4 KiB pages, as tinydsm's: the same page walks for every form */
	if (madvise(p, len, MADV_NOHUGEPAGE))
		die("madvise(MADV_NOHUGEPAGE): %s", strerror(errno));
	return p;
}

/*
 * Host mode's "region": at a multiple of its length rounded up to a power
 * of two, as the real region's base is, so that its pages are one run of
 * the thunks' window.
 */
static void *anon_aligned(size_t len)
{
	size_t align = PAGE;
	uint8_t *p, *at;

	while (align < len)
		align <<= 1;
	p = anon(len + align);
	at = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (at > p)
		munmap(p, at - p);
	munmap(at + len, p + align - at);
	return at;
}

static void fill(uint64_t *w, size_t len)
{
	size_t i;

	for (i = 0; i < len / 8; i++)
		w[i] = word_value(i);
}

struct bufs {
	uint64_t *plain, *dsm;
	size_t len;
};

/* The attach (or its host stand-in) and both buffers, filled. */
static void setup(struct bufs *b, size_t len)
{
	b->len = len;
	b->plain = anon(len);
	fill(b->plain, len);
	if (opt.host) {
		b->dsm = anon_aligned(len);
		fill(b->dsm, len);
		host_simulate_attach(b->dsm, len);
		return;
	}
	attach(0);
	if (tdsm_region_info()->page_size != PAGE)
		die("page size %u, expected %lu", tdsm_region_info()->page_size, PAGE);
	if (tdsm_set_policy(TINYDSM_SITES_POLICY_LAZY))
		die("tdsm_set_policy: %s", tdsm_strerror_detail());
	b->dsm = tdsm_alloc(len / PAGE, 0);	/* home 0: this node */
	if (!b->dsm)
		die("tdsm_alloc of %zu pages here: %s (region_size_mb and max_nodes: "
		    "one home slice must hold them)", len / PAGE, tdsm_strerror_detail());
	fill(b->dsm, len);	/* the first writes make every page EXCLUSIVE here */
}

/* Give the pages back (an allocation outlives its process). */
static void teardown(struct bufs *b)
{
	if (!opt.host && tdsm_free(b->dsm, b->len / PAGE))
		die("tdsm_free: %s", tdsm_strerror_detail());
	munmap(b->plain, b->len);
}

/* Every page of the tinydsm buffer EXCLUSIVE and owned here, or die. */
static void check_local(const struct bufs *b)
{
	const struct tinydsm_region_info *ri = tdsm_region_info();
	size_t i, npages = b->len / PAGE;

	for (i = 0; i < npages; i++) {
		struct tinydsm_page_info pi = page_info((uintptr_t)b->dsm + i * PAGE);

		if (pi.state != TINYDSM_PAGE_EXCLUSIVE || pi.owner != ri->node_id ||
		    pi.home != ri->node_id)
			die("page %p: state %u owner %u home %u, expected EXCLUSIVE, "
			    "owner and home %u", (char *)b->dsm + i * PAGE, pi.state,
			    pi.owner, pi.home, ri->node_id);
	}
}

/* ------------------------------------------------------------ (a) local */

/*
 * What @nacc loads from word 0 on (seq, wrapping at the set's end) or from
 * LCG state 0 on (rnd) read, computed without memory: the check of every
 * timed run.
 */
static uint64_t expected_sum(enum pat pt, size_t ws, uint64_t nacc)
{
	uint64_t nwords = ws / 8, i, s = 0, off = 0;

	for (i = 0; i < nacc; i++) {
		if (pt == P_SEQ) {
			s += word_value(i % nwords);
		} else {
			off = (off * LCG_A + LCG_C * 8) & (ws - 1);
			s += word_value(off / 8);
		}
	}
	return s;
}

/*
 * One run of one form over the first @ws bytes: @nacc loads (seq: passes
 * over the set, the last one partial if need be). Returns the sum read.
 */
static uint64_t run_loop(const struct bufs *b, enum form f, enum pat pt,
			 size_t ws, uint64_t nacc)
{
	const uint64_t *mem = f == F_PLAIN ? b->plain : b->dsm;
	uint64_t nwords = ws / 8, sum = 0, done, state = 0;
	bool site = f == F_DIRECT || f == F_LOOKUP;

	if (pt == P_RND)
		return site ? rnd_site((const char *)mem, nacc, ws - 1, &state)
			    : rnd_plain((const char *)mem, nacc, ws - 1, &state);
	for (done = 0; done < nacc; done += nwords) {
		uint64_t n = nacc - done < nwords ? nacc - done : nwords;

		sum += site ? seq_site(mem, n) : seq_plain(mem, n);
	}
	return sum;
}

static void form_for(enum form f)
{
	if (f == F_DIRECT)
		set_form(TINYDSM_SITE_DIRECT);
	else if (f == F_LOOKUP)
		set_form(TINYDSM_SITE_LOOKUP);
}

/* Loads per timed run: seq whole passes, at least min_acc; rnd rnd_acc. */
static uint64_t loads_for(enum pat pt, size_t ws)
{
	uint64_t nwords = ws / 8;

	if (pt == P_RND)
		return opt.rnd_acc;
	return opt.min_acc > nwords ? (opt.min_acc + nwords - 1) / nwords * nwords : nwords;
}

/*
 * The two phases of (a), each a set of forms that take turns: phase 1
 * before any site was ever rewritten, phase 2 after SET_FORM_ALL(LOOKUP),
 * with the direct form measured again after each rewrite back. Every ratio
 * is to the plain runs of its own phase.
 */
#define PHASE_FORMS	3
static const struct {
	enum form form;
	const char *key;
} phases[2][PHASE_FORMS] = {
	{ { F_PLAIN, "plain" }, { F_DIRECT, "direct" }, { F_PLAIN_DSM, "plaindsm" } },
	{ { F_PLAIN, "plain2" }, { F_LOOKUP, "lookup" }, { F_DIRECT, "directrw" } },
};

/* One phase: every working set, both patterns, the forms taking turns. */
static unsigned long local_phase(const struct bufs *b, unsigned int ph)
{
	unsigned long bad = 0;
	unsigned int si, pt, r, k;

	for (si = 0; si < opt.nsizes; si++) {
		size_t ws = opt.sizes[si] * MIB;
		uint64_t warm = ws / 8 < (1u << 18) ? ws / 8 : (1u << 18);

		for (pt = 0; pt < NPATS; pt++) {
			uint64_t nacc = loads_for(pt, ws), expect = expected_sum(pt, ws, nacc);
			unsigned int reps = pt == P_RND ? opt.rnd_reps : opt.reps;
			double v[PHASE_FORMS][MAX_REPS];
			uint64_t ts = now_ns();

			/* untimed: the code translated, the page tables walked once */
			for (k = 0; k < PHASE_FORMS; k++) {
				form_for(phases[ph][k].form);
				(void)run_loop(b, phases[ph][k].form, pt, ws, warm);
			}
			/* the forms take turns, starting one further each round */
			for (r = 0; r < reps; r++) {
				for (k = 0; k < PHASE_FORMS; k++) {
					unsigned int j = (k + r) % PHASE_FORMS;
					enum form f = phases[ph][j].form;
					uint64_t t1, t2, sum;

					form_for(f);
					t1 = now_ns();
					sum = run_loop(b, f, pt, ws, nacc);
					t2 = now_ns();
					if (sum != expect) {
						bad++;
						fprintf(stderr, "%s: %s %s %lu MiB: read sum %#llx, expected %#llx\n",
							prog, phases[ph][j].key, pat_name[pt],
							opt.sizes[si], (unsigned long long)sum,
							(unsigned long long)expect);
					}
					v[j][r] = (double)(t2 - t1) / (double)nacc;
				}
			}
			for (k = 0; k < PHASE_FORMS; k++) {
				const char *key = phases[ph][k].key;
				double med;

				qsort(v[k], reps, sizeof(double), cmp_double);
				med = reps % 2 ? v[k][reps / 2] :
				      (v[k][reps / 2 - 1] + v[k][reps / 2]) / 2;
				put("%s_%luMiB_%s_ns=%.4f", pat_name[pt], opt.sizes[si], key, med);
				put("%s_%luMiB_%s_min_ns=%.4f", pat_name[pt], opt.sizes[si], key,
				    v[k][0]);
				put("%s_%luMiB_%s_max_ns=%.4f", pat_name[pt], opt.sizes[si], key,
				    v[k][reps - 1]);
			}
			put("%s_%luMiB_nacc=%llu", pat_name[pt], opt.sizes[si],
			    (unsigned long long)nacc);
			logmsg("local: phase %u, %s %lu MiB done in %.1f s", ph + 1, pat_name[pt],
			       opt.sizes[si], (double)(now_ns() - ts) / 1e9);
		}
	}
	return bad;
}

static int cmd_local(void)
{
	static const unsigned long dflt[] = { 1, 4, 16, 64, 256 };
	struct tinydsm_stats s0, s1;
	unsigned long maxmb = 0, bad = 0;
	char list[128] = "";
	unsigned int si;
	size_t off = 0;
	struct bufs b;
	uint64_t t0 = now_ns();

	if (!opt.nsizes) {
		memcpy(opt.sizes, dflt, sizeof(dflt));
		opt.nsizes = sizeof(dflt) / sizeof(dflt[0]);
	}
	for (si = 0; si < opt.nsizes; si++) {
		if (!opt.sizes[si] || opt.sizes[si] & (opt.sizes[si] - 1))
			die("working set %lu MiB: must be a power of two", opt.sizes[si]);
		maxmb = opt.sizes[si] > maxmb ? opt.sizes[si] : maxmb;
		off += snprintf(list + off, sizeof(list) - off, "%s%lu", si ? " " : "",
				opt.sizes[si]);
	}
	setup(&b, maxmb * MIB);
	if (!opt.host)
		check_local(&b);
	logmsg("local: %s, buffers of %lu MiB at %p (plain) and %p (%s), set up in %.1f s",
	       opt.host ? "host mode (no module)" : "attached", maxmb, (void *)b.plain,
	       (void *)b.dsm, opt.host ? "anonymous, simulated attach" : "tinydsm",
	       (double)(now_ns() - t0) / 1e9);
	put("local_mode=%s", opt.host ? "host" : "guest");
	put("local_reps=%u", opt.reps);
	put("local_rnd_reps=%u", opt.rnd_reps);
	put("local_min_acc=%lu", opt.min_acc);
	put("local_rnd_acc=%lu", opt.rnd_acc);
	put("local_sizes=%s", list);
	if (!opt.host)
		s0 = stats_now();

	if (cur_form != TINYDSM_SITE_DIRECT)
		die("a site is not direct before phase 1");
	bad += local_phase(&b, 0);
	set_form(TINYDSM_SITE_LOOKUP);
	bad += local_phase(&b, 1);
	set_form(TINYDSM_SITE_DIRECT);

	put("local_bad_sums=%lu", bad);
	if (!opt.host) {
		s1 = stats_now();
		/* local pages: not one fault, not one word access while timing */
		PUT_DELTA("local", &s0, &s1, read_faults);
		PUT_DELTA("local", &s0, &s1, write_faults);
		PUT_DELTA("local", &s0, &s1, word_remote);
		PUT_DELTA("local", &s0, &s1, sites_lookup);
		check_local(&b);
	}
	teardown(&b);
	put("local_secs=%.1f", (double)(now_ns() - t0) / 1e9);
	return bad ? 1 : 0;
}

/*
 * For callgrind: the loop of @pat in @form, called twice, @n1 then @n2
 * loads, and nothing else inside its function. With --toggle-collect and
 * --dump-after on that function, each call is one dump, and the
 * difference of the two is (n2 - n1) loads without the call's own cost.
 */
static int cmd_count(const char *pat, const char *form, unsigned long mb,
		     unsigned long n1, unsigned long n2)
{
	enum pat pt = !strcmp(pat, "seq") ? P_SEQ : !strcmp(pat, "rnd") ? P_RND : NPATS;
	uint64_t sum1, sum2;
	enum form f;
	struct bufs b;

	for (f = 0; f < NFORMS; f++)
		if (!strcmp(form, form_name[f]))
			break;
	if (pt == NPATS || f == NFORMS || !mb || mb & (mb - 1) || !n1 || !n2)
		usage();
	if (pt == P_SEQ && (n1 > mb * MIB / 8 || n2 > mb * MIB / 8))
		die("count seq: at most one pass (%lu words)", mb * MIB / 8);
	setup(&b, mb * MIB);
	form_for(f);
	sum1 = run_loop(&b, f, pt, mb * MIB, n1);
	sum2 = run_loop(&b, f, pt, mb * MIB, n2);
	if (sum1 != expected_sum(pt, mb * MIB, n1) || sum2 != expected_sum(pt, mb * MIB, n2))
		die("count %s %s: read the wrong values", pat, form);
	printf("count %s %s %lu MiB: %lu then %lu loads, %s form, values checked\n", pat,
	       form, mb, n1, n2, cur_form == TINYDSM_SITE_LOOKUP ? "lookup" : "direct");
	set_form(TINYDSM_SITE_DIRECT);
	teardown(&b);
	return 0;
}

/* ------------------------------------------------------------ remote */

static uint64_t *remote_word(uint64_t addr, unsigned long i)
{
	/* one word per page, at a different offset in each */
	return (uint64_t *)(uintptr_t)(addr + i * PAGE + (i * 67 % 512) * 8);
}

static int cmd_home(unsigned long npages, const char *file)
{
	uint64_t *p;
	unsigned long i;

	attach(0);
	p = tdsm_alloc(npages, 0);
	if (!p)
		die("tdsm_alloc of %lu pages here: %s", npages, tdsm_strerror_detail());
	for (i = 0; i < npages; i++) {
		uint64_t *w = remote_word((uintptr_t)p, i);

		*(volatile uint64_t *)w = remote_pattern((uintptr_t)w);
	}
	write_addr_file(file, (uintptr_t)p);
	printf("home: %lu pages at %p, written\n", npages, (void *)p);
	return 0;
}

static int cmd_check(uint64_t addr, unsigned long npages, unsigned int copyset)
{
	unsigned long i, bad = 0;

	attach(TDSM_ATTACH_NO_SITES);
	for (i = 0; i < npages; i++) {
		struct tinydsm_page_info pi = page_info(addr + i * PAGE);

		if (pi.copyset != copyset) {
			if (!bad)
				fprintf(stderr, "%s: page %#llx: copyset %#x, expected %#x\n",
					prog, (unsigned long long)(addr + i * PAGE),
					pi.copyset, copyset);
			bad++;
		}
	}
	printf("check: %lu pages at %#llx, copyset %#x: %lu wrong\n", npages,
	       (unsigned long long)addr, copyset, bad);
	return bad ? 1 : 0;
}

/*
 * W untimed, then N timed loads through remote_load()'s site, one per
 * page, of pages [first, first + W + N), taken in a scattered order
 * (scatter_step(): no read-ahead, each load of the direct form is one
 * remote fault). Returns the wrong values read.
 */
static unsigned long remote_phase(const char *label, uint64_t addr,
				  unsigned long first, unsigned int form)
{
	unsigned long i, bad = 0, tot = opt.warmup + opt.n, step = scatter_step(tot);
	uint64_t *ns = calloc(opt.n, sizeof(*ns));
	struct tinydsm_stats s0, s1;
	struct tinydsm_page_info pi;
	struct summary s;

	if (!ns)
		die("out of memory");
	set_form(form);
	s0 = stats_now();
	for (i = 0; i < tot; i++) {
		uint64_t *w = remote_word(addr, first + i * step % tot);
		uint64_t t0, t1, v;

		t0 = now_ns();
		v = remote_load(w);
		t1 = now_ns();
		if (i >= opt.warmup)
			ns[i - opt.warmup] = t1 - t0;
		if (v != remote_pattern((uintptr_t)w))
			bad++;
	}
	s1 = stats_now();
	pi = page_info((uintptr_t)remote_word(addr, first + tot - 1));
	s = summarize(ns, opt.n);
	put_summary(label, &s);
	put("%s_bad_values=%lu", label, bad);
	PUT_DELTA(label, &s0, &s1, read_faults);
	PUT_DELTA(label, &s0, &s1, remote_faults);
	PUT_DELTA(label, &s0, &s1, word_remote);
	put("%s_last_state=%u", label, pi.state);
	free(ns);
	return bad;
}

static int cmd_remote(uint64_t addr, unsigned long npages)
{
	unsigned long tot = opt.warmup + opt.n, bad;
	const struct tinydsm_region_info *ri;
	int fails = 0;

	if (npages < 2 * tot)
		die("remote: %lu pages, need 2 x (N + WARMUP) = %lu", npages, 2 * tot);
	attach(0);
	ri = tdsm_region_info();
	if (tdsm_set_policy(TINYDSM_SITES_POLICY_LAZY))
		die("tdsm_set_policy: %s", tdsm_strerror_detail());
	put("remote_clock_pair_ns=%llu", (unsigned long long)timer_overhead_ns(201));
	put("remote_node=%u", ri->node_id);

	/* (i) lookup: each load is one TINYDSM_IOC_WORD at the home */
	bad = remote_phase("rem_lookup", addr, 0, TINYDSM_SITE_LOOKUP);
	/* (ii) direct: each load faults and fetches its page from the home */
	bad += remote_phase("rem_fault", addr, tot, TINYDSM_SITE_DIRECT);
	if (bad) {
		fprintf(stderr, "%s: remote: %lu loads read a wrong value\n", prog, bad);
		fails++;
	}
	return fails ? 1 : 0;
}

/* ------------------------------------------------------------ main */

static void parse_sizes(const char *s)
{
	char *end;

	opt.nsizes = 0;
	while (*s) {
		if (*s == ' ' || *s == ',') {
			s++;
			continue;
		}
		if (opt.nsizes == MAX_SIZES)
			die("at most %d working sets", MAX_SIZES);
		errno = 0;
		opt.sizes[opt.nsizes++] = strtoul(s, &end, 10);
		if (errno || end == s)
			die("bad working set list '%s'", s);
		s = end;
	}
}

int main(int argc, char **argv)
{
	const char *cmd = subcommand(&argc, &argv, usage);
	int c;

	put_prefix = "acc_";
	while ((c = getopt(argc, argv, "HPs:r:Q:m:R:e:k:n:W:h")) != -1) {
		switch (c) {
		case 'H': opt.host = true; break;
		case 'P': opt.self_poke = true; break;
		case 's': parse_sizes(optarg); break;
		case 'r':
			opt.reps = parse_ull(optarg, "repetitions");
			if (!opt.reps || opt.reps > MAX_REPS)
				die("-r: 1..%d", MAX_REPS);
			break;
		case 'Q':
			opt.rnd_reps = parse_ull(optarg, "repetitions");
			if (!opt.rnd_reps || opt.rnd_reps > MAX_REPS)
				die("-Q: 1..%d", MAX_REPS);
			break;
		case 'm': opt.min_acc = parse_ull(optarg, "access count"); break;
		case 'R':
			opt.rnd_acc = parse_ull(optarg, "access count");
			if (!opt.rnd_acc)
				die("-R: at least 1");
			break;
		case 'e': put_env = optarg; break;
		case 'k': put_prefix = optarg; break;
		case 'n':
			opt.n = parse_ull(optarg, "access count");
			if (!opt.n)
				die("-n: at least 1");
			break;
		case 'W': opt.warmup = parse_ull(optarg, "warm-up count"); break;
		default: usage();
		}
	}
	argv += optind;
	argc -= optind;
	setvbuf(stdout, NULL, _IOLBF, 0);

#define NEED(n) do { if (argc != (n)) usage(); } while (0)
	if (!strcmp(cmd, "local")) {
		NEED(0);
		return cmd_local();
	}
	if (!strcmp(cmd, "count")) {
		NEED(5);
		put_prefix = "";
		return cmd_count(argv[0], argv[1], parse_ull(argv[2], "MiB"),
				 parse_ull(argv[3], "access count"),
				 parse_ull(argv[4], "access count"));
	}
	if (!strcmp(cmd, "home")) {
		NEED(2);
		return cmd_home(parse_ull(argv[0], "page count"), argv[1]);
	}
	if (!strcmp(cmd, "remote")) {
		NEED(2);
		put("rem_warmup=%lu", opt.warmup);
		return cmd_remote(parse_ull(argv[0], "address"), parse_ull(argv[1], "page count"));
	}
	if (!strcmp(cmd, "check")) {
		NEED(3);
		return cmd_check(parse_ull(argv[0], "address"), parse_ull(argv[1], "page count"),
				 parse_ull(argv[2], "copyset"));
	}
	usage();
	return 2;
}
