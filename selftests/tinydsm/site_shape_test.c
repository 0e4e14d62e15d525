// SPDX-License-Identifier: GPL-2.0
/*
 * libtinydsm's access sites, on the host, without the module.
 *
 * The shape: every entry of this program's TINYDSM_SITES_SECTION, and the
 * bytes of every site decoded here, independently of the assembler that
 * made them, against what the entry says (the module checks the same
 * before it registers a table). Then both forms of every site, run on
 * ordinary memory: direct, and lookup, rewritten here the way the module
 * rewrites them (int3 first, then jmp rel32 to the thunk and int3 fill).
 * Nothing is attached, so the stubs do plain accesses; with a translation
 * state faked here they take the module's path, which fails (the fd is
 * not open) and must give SIGBUS, as a failed fault would.
 *
 * Each TEST runs in its own child (the harness forks), so the text it
 * rewrites is its own copy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "tinydsm.h"

#include "kselftest_harness.h"

#define NOINLINE	__attribute__((noinline, noclone))
#define BUF_LEN		64
#define STORE_VAL	0xf1e2d3c4b5a69788ULL	/* high bit set in every byte */

/*
 * The sites under test. The one-site wrappers return and take 64-bit
 * values, so that a load that did not zero-extend shows in the result.
 */
static NOINLINE uint64_t ld8(const void *p) { return TDSM_LOAD8(p); }
static NOINLINE uint64_t ld16(const void *p) { return TDSM_LOAD16(p); }
static NOINLINE uint64_t ld32(const void *p) { return TDSM_LOAD32(p); }
static NOINLINE uint64_t ld64(const void *p) { return TDSM_LOAD64(p); }
static NOINLINE void st8(void *p, uint64_t v) { TDSM_STORE8(p, v); }
static NOINLINE void st16(void *p, uint64_t v) { TDSM_STORE16(p, v); }
static NOINLINE void st32(void *p, uint64_t v) { TDSM_STORE32(p, v); }
static NOINLINE void st64(void *p, uint64_t v) { TDSM_STORE64(p, v); }

static NOINLINE uint64_t fa32(void *p, uint64_t v) { return TDSM_FETCH_ADD32(p, v); }
static NOINLINE uint64_t fa64(void *p, uint64_t v) { return TDSM_FETCH_ADD64(p, v); }
static NOINLINE uint64_t xc32(void *p, uint64_t v) { return TDSM_XCHG32(p, v); }
static NOINLINE uint64_t cas64(void *p, uint64_t e, uint64_t v) { return TDSM_CAS64(p, e, v); }
static NOINLINE uint64_t cas32(void *p, uint64_t e, uint64_t v) { return TDSM_CAS32(p, e, v); }
static NOINLINE uint64_t xc64(void *p, uint64_t v) { return TDSM_XCHG64(p, v); }

static uint64_t (*const loads[])(const void *) = { ld8, ld16, ld32, ld64 };
static void (*const stores[])(void *, uint64_t) = { st8, st16, st32, st64 };

/* A list walked through its own links: the load's V is its A. */
static NOINLINE const void *chase(const void *p, int n)
{
	while (n--)
		p = (const void *)(uintptr_t)TDSM_LOAD64(p);
	return p;
}

/* Pretend the compiler changed x: it has to have it, and right, here. */
#define KEEP4(a, b, c, d)	asm volatile("" : "+r" (a), "+r" (b), "+r" (c), "+r" (d))
#define KEEPX4(a, b, c, d)	asm volatile("" : "+x" (a), "+x" (b), "+x" (c), "+x" (d))

static uint64_t seed_of(unsigned int i)
{
	return 0x9e3779b97f4a7c15ULL * (i + 1) ^ (uint64_t)i << 59;
}

/*
 * Eight sites, one per macro, with 16 integers and 4 doubles live across
 * each: the allocator runs out of registers, uses r8..r15, rbx and rbp,
 * and spills the rest, in this leaf function into the red zone. A thunk
 * that restores a register wrongly, or writes the red zone, changes one
 * of them. Returns a mask of the values that changed.
 */
static NOINLINE uint32_t pressure(uint8_t *const volatile *ptr,
				  const volatile uint64_t *seed,
				  uint64_t *out)
{
	uint8_t *p0 = ptr[0], *p1 = ptr[1], *p2 = ptr[2], *p3 = ptr[3];
	uint64_t a0 = seed[0], a1 = seed[1], a2 = seed[2], a3 = seed[3];
	uint64_t a4 = seed[4], a5 = seed[5], a6 = seed[6], a7 = seed[7];
	uint64_t a8 = seed[8], a9 = seed[9], a10 = seed[10], a11 = seed[11];
	double d0 = seed[12] >> 11, d1 = seed[13] >> 11;
	double d2 = seed[14] >> 11, d3 = seed[15] >> 11;
	uint32_t bad = 0;

	KEEP4(a0, a1, a2, a3);
	KEEP4(a4, a5, a6, a7);
	KEEP4(a8, a9, a10, a11);
	KEEP4(p0, p1, p2, p3);
	KEEPX4(d0, d1, d2, d3);

	out[0] = TDSM_LOAD64(p0);
	TDSM_STORE32(p1, a3);
	out[1] = TDSM_LOAD16(p2);
	TDSM_STORE8(p3, a5);
	out[2] = TDSM_LOAD8(p1 + 5);
	TDSM_STORE64(p2 + 8, a7);
	out[3] = TDSM_LOAD32(p3 + 4);
	TDSM_STORE16(p0 + 10, a9);

	KEEP4(a0, a1, a2, a3);
	KEEP4(a4, a5, a6, a7);
	KEEP4(a8, a9, a10, a11);
	KEEP4(p0, p1, p2, p3);
	KEEPX4(d0, d1, d2, d3);

	bad |= (a0 != seed_of(0)) << 0 | (a1 != seed_of(1)) << 1;
	bad |= (a2 != seed_of(2)) << 2 | (a3 != seed_of(3)) << 3;
	bad |= (a4 != seed_of(4)) << 4 | (a5 != seed_of(5)) << 5;
	bad |= (a6 != seed_of(6)) << 6 | (a7 != seed_of(7)) << 7;
	bad |= (a8 != seed_of(8)) << 8 | (a9 != seed_of(9)) << 9;
	bad |= (a10 != seed_of(10)) << 10 | (a11 != seed_of(11)) << 11;
	bad |= (d0 != (double)(seed_of(12) >> 11)) << 12;
	bad |= (d1 != (double)(seed_of(13) >> 11)) << 13;
	bad |= (d2 != (double)(seed_of(14) >> 11)) << 14;
	bad |= (d3 != (double)(seed_of(15) >> 11)) << 15;
	bad |= (p0 != ptr[0]) << 16 | (p1 != ptr[1]) << 17;
	bad |= (p2 != ptr[2]) << 18 | (p3 != ptr[3]) << 19;
	return bad;
}

/* Bytes with the high bit set, so that a sign extension shows. */
static void fill(uint8_t *buf)
{
	unsigned int i;

	for (i = 0; i < BUF_LEN; i++)
		buf[i] = 0x80 | ((i * 29 + 7) & 0x7f);
}

static uint64_t le(const uint8_t *p, unsigned int width)
{
	uint64_t v = 0;

	memcpy(&v, p, width);
	return v;
}

/* Every width, aligned or not: the value, and only its bytes written. */
static void check_widths(struct __test_metadata *_metadata)
{
	static const unsigned int offs[] = { 0, 1, 3, 8, 13, 56 };
	uint8_t buf[BUF_LEN], ref[BUF_LEN];
	unsigned int i, w;

	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (w = 0; w < 4; w++) {
			unsigned int width = 1 << w, off = offs[i];

			fill(buf);
			EXPECT_EQ(le(buf + off, width), loads[w](buf + off))
				TH_LOG("load%u at +%u", width * 8, off);

			fill(ref);
			memcpy(ref + off, &(uint64_t){ STORE_VAL }, width);
			stores[w](buf + off, STORE_VAL);
			EXPECT_EQ(0, memcmp(ref, buf, BUF_LEN))
				TH_LOG("store%u at +%u", width * 8, off);
		}
	}
}

static void check_pressure(struct __test_metadata *_metadata)
{
	uint8_t buf[BUF_LEN], ref[BUF_LEN];
	uint8_t *ptr[4] = { buf, buf + 16, buf + 32, buf + 48 };
	uint64_t seed[16], out[4];
	unsigned int i;

	for (i = 0; i < 16; i++)
		seed[i] = seed_of(i);
	fill(buf);
	fill(ref);
	EXPECT_EQ(0, pressure(ptr, seed, out));

	EXPECT_EQ(le(ref + 0, 8), out[0]);
	memcpy(ref + 16, &seed[3], 4);
	EXPECT_EQ(le(ref + 32, 2), out[1]);
	memcpy(ref + 48, &seed[5], 1);
	EXPECT_EQ(le(ref + 21, 1), out[2]);
	memcpy(ref + 40, &seed[7], 8);
	EXPECT_EQ(le(ref + 52, 4), out[3]);
	memcpy(ref + 10, &seed[9], 2);
	EXPECT_EQ(0, memcmp(ref, buf, BUF_LEN));
}

static void check_chase(struct __test_metadata *_metadata)
{
	const void *ring[5];
	unsigned int i;

	for (i = 0; i < 5; i++)
		ring[i] = &ring[(i + 2) % 5];
	EXPECT_EQ((const void *)&ring[1], chase(&ring[0], 3));
}

/*
 * The atomic sites: the word before comes back, the word is the sum (32
 * bits wrap, the bytes around untouched) or the new value.
 */
static void check_atomics(struct __test_metadata *_metadata)
{
	uint64_t w[4] = { 0, 0x1111111111111111ULL, 0, 0x2222222222222222ULL };

	w[0] = 40;
	EXPECT_EQ(40, fa64(&w[0], 2));
	EXPECT_EQ(42, w[0]);
	EXPECT_EQ(42, fa64(&w[0], -43));
	EXPECT_EQ(~0ULL, w[0]);
	w[2] = 0xfffffffeULL | 0x7700000000ULL;	/* the high half is another word */
	EXPECT_EQ(0xfffffffeULL, fa32(&w[2], 3));
	EXPECT_EQ(0x7700000001ULL, w[2]);
	EXPECT_EQ(0x7700000001ULL, xc64(&w[2], STORE_VAL));
	EXPECT_EQ(STORE_VAL, w[2]);
	EXPECT_EQ(STORE_VAL & 0xffffffffULL, xc32(&w[2], 0x5a5a5a5a));
	EXPECT_EQ((STORE_VAL & ~0xffffffffULL) | 0x5a5a5a5aULL, w[2]);
	/* CAS: the word before, whether it swapped or not. */
	w[0] = 7;
	EXPECT_EQ(7, cas64(&w[0], 6, STORE_VAL));
	EXPECT_EQ(7, w[0]);
	EXPECT_EQ(7, cas64(&w[0], 7, STORE_VAL));
	EXPECT_EQ(STORE_VAL, w[0]);
	w[2] = 0x77000000a5ULL;
	EXPECT_EQ(0xa5, cas32(&w[2], 0x7700000005ULL, 1));
	EXPECT_EQ(0x77000000a5ULL, w[2]);
	EXPECT_EQ(0xa5, cas32(&w[2], 0xa5, 0xfffffff0ULL));
	EXPECT_EQ(0x77fffffff0ULL, w[2]);
	EXPECT_EQ(0x1111111111111111ULL, w[1]);
	EXPECT_EQ(0x2222222222222222ULL, w[3]);
}

/* Every site of this program, once each. */
static void run_all(struct __test_metadata *_metadata)
{
	check_widths(_metadata);
	check_pressure(_metadata);
	check_chase(_metadata);
	check_atomics(_metadata);
}

/* ---- an x86 decoder for exactly the instructions a site may be ---- */

struct site_insn {
	unsigned int len, width, store, vreg, areg;
	unsigned int atomic;	/* TINYDSM_SITE_F_FETCH_ADD, _XCHG or _CAS, else 0 */
};

/* NULL if @b starts with a site's direct form (filled in @in), else why not. */
static const char *decode_site(const uint8_t *b, struct site_insn *in)
{
	unsigned int i = 0, rex = 0, op16 = 0, lock = 0, modrm;
	uint32_t disp;

	if (b[i] == 0xf0) {
		lock = 1;
		i++;
	}
	if (b[i] == 0x66) {
		op16 = 1;
		i++;
	}
	if ((b[i] & 0xf0) == 0x40)
		rex = b[i++];
	in->store = 0;
	in->atomic = 0;
	if (lock && !(b[i] == 0x0f && (b[i + 1] == 0xc1 || b[i + 1] == 0xb1)))
		return "lock on other than xadd or cmpxchg";
	switch (b[i]) {
	case 0x87:		/* xchg r32/64, r/m: locked by its memory operand */
		if (op16)
			return "16-bit xchg";
		in->width = rex & 8 ? 8 : 4;
		in->atomic = TINYDSM_SITE_F_XCHG;
		break;
	case 0x8b:		/* mov r/m32/64 -> r32/64 */
		if (op16)
			return "16-bit mov load (66 8b)";
		in->width = rex & 8 ? 8 : 4;
		break;
	case 0x89:		/* mov r16/32/64 -> r/m */
		if (op16 && rex & 8)
			return "both 66 and REX.W";
		in->width = rex & 8 ? 8 : op16 ? 2 : 4;
		in->store = 1;
		break;
	case 0x88:		/* mov r8 -> r/m8 */
		if (op16 || rex & 8)
			return "prefix on a byte store";
		in->width = 1;
		in->store = 1;
		break;
	case 0x0f:		/* movzx r/m8, r/m16 -> r32; lock xadd, cmpxchg */
		i++;
		if (b[i] == 0xc1 || b[i] == 0xb1) {
			if (!lock || op16)
				return "xadd or cmpxchg without lock, or 16-bit";
			in->width = rex & 8 ? 8 : 4;
			in->atomic = b[i] == 0xc1 ? TINYDSM_SITE_F_FETCH_ADD :
						    TINYDSM_SITE_F_CAS;
			break;
		}
		if (b[i] != 0xb6 && b[i] != 0xb7)
			return "0f, but not movzbl/movzwl";
		if (op16 || rex & 8)
			return "movzx to other than a 32-bit register";
		in->width = b[i] == 0xb6 ? 1 : 2;
		break;
	default:
		return "not a mov opcode";
	}
	modrm = b[++i];
	i++;
	if (modrm >> 6 != 2)
		return "ModRM.mod is not 10 (base + disp32)";
	in->vreg = (modrm >> 3 & 7) | (rex & 4 ? 8 : 0);
	in->areg = (modrm & 7) | (rex & 1 ? 8 : 0);
	if ((modrm & 7) == 4) {
		if (b[i++] != 0x24 || rex & 2)
			return "SIB is not base only";
	} else if (rex & 2) {
		return "REX.X without a SIB";
	}
	memcpy(&disp, b + i, 4);
	if (disp)
		return "displacement is not 0";
	i += 4;
	/* Without REX, byte registers 4..7 are ah, ch, dh, bh. */
	if (in->width == 1 && in->store && !rex && in->vreg >= 4)
		return "store of ah/ch/dh/bh";
	in->len = i;
	return NULL;
}

/* ---- rewriting the sites, as the module does ---- */

static const struct tinydsm_site_entry *sites;
static size_t nsites;
static uint8_t (*direct)[16];	/* each site's direct bytes */
static unsigned int *hits;	/* int3 hits per site */

/* Every site fits what the pokes below assume (the entries test says more). */
static int lengths_ok(void)
{
	size_t i, n = tdsm_sites(&sites);

	for (i = 0; i < n; i++)
		if (sites[i].len < 5 || sites[i].len > 15)
			return 0;
	return 1;
}

/* Make the sites' text writable and remember their bytes; 0 or errno. */
static int text_rw(void)
{
	uintptr_t lo = UINTPTR_MAX, hi = 0, a;
	long psz = sysconf(_SC_PAGESIZE);
	size_t i;

	nsites = tdsm_sites(&sites);
	direct = calloc(nsites, sizeof(*direct));
	hits = calloc(nsites, sizeof(*hits));
	for (i = 0; i < nsites; i++) {
		a = tdsm_site_addr(&sites[i]);
		memcpy(direct[i], (void *)a, sites[i].len);
		lo = a < lo ? a : lo;
		hi = a + sites[i].len > hi ? a + sites[i].len : hi;
	}
	lo &= ~(psz - 1);
	if (mprotect((void *)lo, hi - lo, PROT_READ | PROT_WRITE | PROT_EXEC))
		return errno;
	return 0;
}

static void poke_int3(size_t i)
{
	*(volatile uint8_t *)tdsm_site_addr(&sites[i]) = 0xcc;
}

/* jmp rel32 to the thunk, int3 up to the length; the first byte last. */
static void poke_lookup(size_t i)
{
	uint8_t *s = (uint8_t *)tdsm_site_addr(&sites[i]);
	int32_t rel = tdsm_site_lookup_addr(&sites[i]) - (uintptr_t)(s + 5);

	s[0] = 0xcc;
	memset(s + 5, 0xcc, sites[i].len - 5);
	memcpy(s + 1, &rel, 4);
	*(volatile uint8_t *)s = 0xe9;
}

static void poke_direct(size_t i)
{
	uint8_t *s = (uint8_t *)tdsm_site_addr(&sites[i]);

	s[0] = 0xcc;
	memcpy(s + 1, direct[i] + 1, sites[i].len - 1);
	*(volatile uint8_t *)s = direct[i][0];
}

/* What the module does when a thread meets the int3 of a site being rewritten. */
static void on_trap(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	uintptr_t ip = uc->uc_mcontext.gregs[REG_RIP] - 1;
	const struct tinydsm_site_entry *e = tdsm_site_find(ip);

	(void)sig;
	(void)si;
	if (!e)
		abort();	/* an int3 we did not put there */
	hits[e - sites]++;
	poke_lookup(e - sites);
	uc->uc_mcontext.gregs[REG_RIP] = ip;
}

static int same_bytes(size_t i)
{
	return !memcmp((void *)tdsm_site_addr(&sites[i]), direct[i],
		       sites[i].len);
}

/* ---- the tests ---- */

static int in_site(uintptr_t a)
{
	size_t i;

	for (i = 0; i < nsites; i++)
		if (a >= tdsm_site_addr(&sites[i]) &&
		    a < tdsm_site_addr(&sites[i]) + sites[i].len)
			return 1;
	return 0;
}

static int cmp_site(const void *a, const void *b)
{
	uintptr_t x = tdsm_site_addr(*(const struct tinydsm_site_entry *const *)a);
	uintptr_t y = tdsm_site_addr(*(const struct tinydsm_site_entry *const *)b);

	return x < y ? -1 : x > y;
}

/* Does the thunk at @t jump back to @to within its first 160 bytes? */
static int thunk_returns_to(uintptr_t t, uintptr_t to)
{
	const uint8_t *b = (const uint8_t *)t;
	unsigned int i;
	int32_t rel;

	for (i = 0; i < 160; i++) {
		if (b[i] != 0xe9)
			continue;
		memcpy(&rel, b + i + 1, 4);
		if (t + i + 5 + rel == to)
			return 1;
	}
	return 0;
}

/*
 * The thunk's fast path writes no memory; its slow path (after the first
 * conditional jump) starts with lea -136(%rsp), %rsp: find that lea within
 * the first 96 bytes (nothing before it touches the stack, by construction).
 */
static int thunk_skips_red_zone(uintptr_t t, const uint8_t *lea, size_t n)
{
	const uint8_t *b = (const uint8_t *)t;
	unsigned int i;

	for (i = 0; i < 96; i++)
		if (!memcmp(b + i, lea, n))
			return 1;
	return 0;
}

TEST(entries)
{
	/* lea -136(%rsp), %rsp: past the red zone before anything else */
	static const uint8_t lea_m136[] = {
		0x48, 0x8d, 0xa4, 0x24, 0x78, 0xff, 0xff, 0xff,
	};
	extern const char __executable_start[], etext[];
	const struct tinydsm_site_entry **sorted;
	uintptr_t s, t;
	size_t i;

	nsites = tdsm_sites(&sites);
	/* 12 wrappers, a chase, 8 under pressure; unrolling may add some. */
	ASSERT_GE(nsites, 21);
	ASSERT_EQ(0, (uintptr_t)sites % 4);
	TH_LOG("%zu sites", nsites);

	sorted = calloc(nsites, sizeof(*sorted));
	for (i = 0; i < nsites; i++) {
		const struct tinydsm_site_entry *e = &sites[i];

		s = tdsm_site_addr(e);
		t = tdsm_site_lookup_addr(e);
		sorted[i] = e;
		EXPECT_TRUE(e->width == 1 || e->width == 2 || e->width == 4 ||
			    e->width == 8) TH_LOG("site %zu: width %u", i, e->width);
		EXPECT_EQ(0, e->flags & ~__TINYDSM_SITE_F_ALL);
		EXPECT_GE(e->len, 5);
		EXPECT_LE(e->len, 15);
		EXPECT_LT(e->value_reg, 16);
		EXPECT_LT(e->addr_reg, 16);
		EXPECT_NE(4, e->addr_reg);	/* "r" is never %rsp */
		EXPECT_NE(4, e->value_reg);
		EXPECT_EQ(0, e->reserved[0] | e->reserved[1] | e->reserved[2]);
		EXPECT_TRUE(s >= (uintptr_t)__executable_start && s < (uintptr_t)etext);
		EXPECT_TRUE(t >= (uintptr_t)__executable_start && t < (uintptr_t)etext);
		EXPECT_TRUE(thunk_skips_red_zone(t, lea_m136, sizeof(lea_m136)))
			TH_LOG("site %zu: thunk does not skip the red zone", i);
		EXPECT_TRUE(thunk_returns_to(t, s + e->len))
			TH_LOG("site %zu: thunk does not jump back to %#lx",
			       i, (unsigned long)(s + e->len));
		EXPECT_EQ(e, tdsm_site_find(s));
	}

	/* Sites do not overlap; no thunk starts inside a site. */
	qsort(sorted, nsites, sizeof(*sorted), cmp_site);
	for (i = 0; i + 1 < nsites; i++)
		EXPECT_LE(tdsm_site_addr(sorted[i]) + sorted[i]->len,
			  tdsm_site_addr(sorted[i + 1]));
	for (i = 0; i < nsites; i++)
		EXPECT_FALSE(in_site(tdsm_site_lookup_addr(&sites[i])));
	free(sorted);
}

static const char *const reg_name[16] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

TEST(decode)
{
	unsigned int vregs = 0, aregs = 0, ext = 0, legacy = 0, same = 0;
	struct site_insn in;
	const char *why;
	char used[128];
	size_t i, n;

	nsites = tdsm_sites(&sites);
	for (i = 0; i < nsites; i++) {
		const struct tinydsm_site_entry *e = &sites[i];
		const uint8_t *b = (const uint8_t *)tdsm_site_addr(e);

		why = decode_site(b, &in);
		EXPECT_EQ(NULL, why) TH_LOG("site %zu at %p: %s", i, b, why);
		if (why)
			continue;
		EXPECT_EQ(e->len, in.len) TH_LOG("site %zu", i);
		EXPECT_EQ(e->width, in.width) TH_LOG("site %zu", i);
		EXPECT_EQ(e->flags & TINYDSM_SITE_F_STORE, in.store)
			TH_LOG("site %zu", i);
		EXPECT_EQ(e->flags & (TINYDSM_SITE_F_FETCH_ADD | TINYDSM_SITE_F_XCHG |
				      TINYDSM_SITE_F_CAS),
			  in.atomic) TH_LOG("site %zu", i);
		EXPECT_EQ(e->value_reg, in.vreg) TH_LOG("site %zu", i);
		EXPECT_EQ(e->addr_reg, in.areg) TH_LOG("site %zu", i);
		vregs |= 1 << in.vreg;
		aregs |= 1 << in.areg;
		ext += in.vreg >= 8 || in.areg >= 8;
		legacy += in.vreg < 8 && in.areg < 8;
		same += !in.store && in.vreg == in.areg;
	}

	for (n = 0, i = 0; i < 16; i++)
		if (vregs & 1 << i)
			n += snprintf(used + n, sizeof(used) - n, " %s", reg_name[i]);
	TH_LOG("value registers:%s", used);
	for (n = 0, i = 0; i < 16; i++)
		if (aregs & 1 << i)
			n += snprintf(used + n, sizeof(used) - n, " %s", reg_name[i]);
	TH_LOG("address registers:%s", used);
	TH_LOG("%u sites with r8..r15, %u without, %u loads with V == A",
	       ext, legacy, same);
	EXPECT_GE(ext, 1);
	EXPECT_GE(legacy, 1);
	EXPECT_GE(same, 1);	/* chase() */
}

/* A wrapper is its site and a ret: no extension, no move, no padding. */
TEST(one_instruction)
{
	static const void *const fns[] = {
		ld8, ld16, ld32, ld64, st8, st16, st32, st64,
	};
	static const uint8_t endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };
	const struct tinydsm_site_entry *e;
	const uint8_t *f;
	size_t i;

	for (i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		f = fns[i];
		if (!memcmp(f, endbr64, sizeof(endbr64)))
			f += sizeof(endbr64);
		e = tdsm_site_find((uintptr_t)f);
		ASSERT_NE(NULL, e) TH_LOG("wrapper %zu does not start with its site", i);
		EXPECT_EQ(0xc3, f[e->len]) TH_LOG("wrapper %zu: not site + ret", i);
		EXPECT_EQ(1u << (i & 3), e->width);
		EXPECT_EQ(i >= 4, e->flags & TINYDSM_SITE_F_STORE);
	}
}

TEST(direct_form)
{
	run_all(_metadata);
}

/*
 * The lookup form reads the thunks' window (window.c), which an attach
 * maps; without one, a site in lookup form would fault. A window for a
 * one-page "region" whose byte stays 0.
 */
static uint8_t *window_of_zeros(void)
{
	return tdsm__window_map(0, 1, -1);
}

/*
 * Every site gets an int3 on its first byte; the first thread to meet it
 * (here, the only one) finishes the rewrite to the lookup form and goes
 * back to the site. So every site runs in its lookup form, and the hits
 * prove each ran. Then once more all in lookup form, then direct again.
 */
TEST(lookup_form)
{
	struct sigaction sa = { .sa_sigaction = on_trap, .sa_flags = SA_SIGINFO };
	size_t i;
	int err;

	ASSERT_TRUE(lengths_ok());
	err = text_rw();
	if (err)
		SKIP(return, "mprotect(PROT_WRITE | PROT_EXEC): %s", strerror(err));
	ASSERT_EQ(0, sigaction(SIGTRAP, &sa, NULL));
	/* A window of zeros: every thunk takes its stub, which is detached. */
	ASSERT_NE(NULL, window_of_zeros()) TH_LOG("%s", tdsm_strerror_detail());

	for (i = 0; i < nsites; i++)
		poke_int3(i);
	run_all(_metadata);
	for (i = 0; i < nsites; i++) {
		EXPECT_EQ(1, hits[i]) TH_LOG("site %zu at %#lx ran %u times",
					      i, (unsigned long)tdsm_site_addr(&sites[i]),
					      hits[i]);
		EXPECT_EQ(0xe9, *(uint8_t *)tdsm_site_addr(&sites[i]));
	}

	run_all(_metadata);
	for (i = 0; i < nsites; i++)
		EXPECT_EQ(1, hits[i]);

	for (i = 0; i < nsites; i++) {
		poke_direct(i);
		EXPECT_TRUE(same_bytes(i));
	}
	run_all(_metadata);
	for (i = 0; i < nsites; i++)
		EXPECT_EQ(1, hits[i]);
}

/* ---- the stubs' decisions, with a translation table faked here ---- */

static volatile sig_atomic_t sigbus_count;
static volatile int sigbus_code;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	sigbus_count++;
	sigbus_code = si->si_code;
}

/*
 * "Attached" to a fake region of two pages in a buffer, with an fd that
 * is not open: whatever the stub sends to the module fails, EBADF, and
 * must come back as SIGBUS; whatever it does locally must be right.
 */
TEST(stub_decisions)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };
	long psz = sysconf(_SC_PAGESIZE);
	volatile uint8_t *xlate;
	uint8_t *buf, *alias;
	size_t i;
	int err;

	ASSERT_TRUE(lengths_ok());
	err = text_rw();
	if (err)
		SKIP(return, "mprotect(PROT_WRITE | PROT_EXEC): %s", strerror(err));
	for (i = 0; i < nsites; i++)
		poke_lookup(i);
	ASSERT_EQ(0, sigaction(SIGBUS, &sa, NULL));
	/* Two pages of "region" and one outside, at an even page: one run. */
	buf = aligned_alloc(2 * psz, 4 * psz);
	ASSERT_NE(NULL, buf);
	memset(buf, 0x5a, 3 * psz);

	xlate = tdsm__window_map((uintptr_t)buf, 2, -1);
	ASSERT_NE(NULL, xlate) TH_LOG("%s", tdsm_strerror_detail());
	tdsm__state.base = (uintptr_t)buf;
	tdsm__state.xlate = xlate;
	tdsm__state.page_shift = __builtin_ctzl(psz);
	tdsm__state.fd = -1;
	tdsm__state.size = 2 * psz;

	/* Shared: loads are local, stores go to the module. */
	xlate[0] = TINYDSM_PAGE_SHARED;
	xlate[1] = TINYDSM_PAGE_SHARED;
	EXPECT_EQ(0x5a5a5a5a5a5a5a5aULL, ld64(buf + 8));
	EXPECT_EQ(0, sigbus_count);
	errno = 4242;
	st32(buf + 8, 0x12345678);
	EXPECT_EQ(4242, errno);		/* the stub never goes through libc */
	EXPECT_EQ(1, sigbus_count);
	EXPECT_EQ(SI_TKILL, sigbus_code);
	EXPECT_EQ(0x5a5a5a5aU, le(buf + 8, 4));	/* not written */

	/* Exclusive: both local. */
	xlate[1] = TINYDSM_PAGE_EXCLUSIVE;
	st16(buf + psz + 6, 0xbeef);
	EXPECT_EQ(0xbeef, ld16(buf + psz + 6));
	EXPECT_EQ(1, sigbus_count);

	/* Invalid: a load goes to the module too, and reads 0 after SIGBUS. */
	xlate[0] = TINYDSM_PAGE_INVALID;
	EXPECT_EQ(0, ld8(buf + 100));
	EXPECT_EQ(2, sigbus_count);

	/* Across a page, or outside the region: plain, faulting as it may. */
	buf[psz - 1] = 0x11;
	EXPECT_EQ(0x5a11, ld16(buf + psz - 1));
	EXPECT_EQ(2, sigbus_count);
	st64(buf + 2 * psz + 8, STORE_VAL);
	EXPECT_EQ(STORE_VAL, ld64(buf + 2 * psz + 8));
	EXPECT_EQ(2, sigbus_count);

	/*
	 * Outside the region, where the window gives the byte of a region
	 * page (one window's length away): INVALID sends the thunk to its
	 * stub, EXCLUSIVE lets it access; both are the plain access.
	 */
	alias = mmap(buf + (tdsm__state.window_mask + psz), psz,
		     PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (alias == buf + (tdsm__state.window_mask + psz)) {
		st64(alias + 16, STORE_VAL);	/* page 0's byte: INVALID */
		EXPECT_EQ(STORE_VAL, ld64(alias + 16));
		st32(alias + psz - 4, 0x7a7b7c7d);	/* page 0's too */
		EXPECT_EQ(0x7a7b7c7dU, le(alias + psz - 4, 4));
		EXPECT_EQ(2, sigbus_count);
		xlate[0] = TINYDSM_PAGE_EXCLUSIVE;
		st8(alias + 3, 0x42);
		EXPECT_EQ(0x42, ld8(alias + 3));
		EXPECT_EQ(2, sigbus_count);
		xlate[0] = TINYDSM_PAGE_INVALID;
		munmap(alias, psz);
	} else {
		TH_LOG("no page one window away (%p): the aliasing case not run",
		       buf + (tdsm__state.window_mask + psz));
		if (alias != MAP_FAILED)
			munmap(alias, psz);
	}

	/*
	 * Atomic sites: local only while EXCLUSIVE; SHARED (a read copy) and
	 * INVALID go to the module (TINYDSM_IOC_ATOMIC), here SIGBUS, and the
	 * word stays as it was.
	 */
	memcpy(buf + psz + 16, &(uint64_t){ 5 }, 8);
	xlate[1] = TINYDSM_PAGE_EXCLUSIVE;
	EXPECT_EQ(5, fa64(buf + psz + 16, 3));
	EXPECT_EQ(8, le(buf + psz + 16, 8));
	EXPECT_EQ(8, xc32(buf + psz + 16, 11));
	EXPECT_EQ(11, le(buf + psz + 16, 8));
	EXPECT_EQ(2, sigbus_count);
	xlate[1] = TINYDSM_PAGE_SHARED;
	errno = 4243;
	EXPECT_EQ(0, fa32(buf + psz + 16, 1));
	EXPECT_EQ(4243, errno);
	EXPECT_EQ(3, sigbus_count);
	xlate[1] = TINYDSM_PAGE_INVALID;
	EXPECT_EQ(0, xc64(buf + psz + 16, STORE_VAL));
	EXPECT_EQ(4, sigbus_count);
	EXPECT_EQ(11, le(buf + psz + 16, 8));
	/* A CAS site alike: EXCLUSIVE here, else the module (SIGBUS). */
	xlate[1] = TINYDSM_PAGE_EXCLUSIVE;
	EXPECT_EQ(11, cas64(buf + psz + 16, 11, 13));
	EXPECT_EQ(13, cas32(buf + psz + 16, 12, 14));
	EXPECT_EQ(13, le(buf + psz + 16, 8));
	EXPECT_EQ(4, sigbus_count);
	xlate[1] = TINYDSM_PAGE_SHARED;
	EXPECT_EQ(0, cas64(buf + psz + 16, 13, 15));
	EXPECT_EQ(5, sigbus_count);
	EXPECT_EQ(13, le(buf + psz + 16, 8));
	xlate[1] = TINYDSM_PAGE_INVALID;
	EXPECT_EQ(0, cas32(buf + psz + 16, 13, 15));
	EXPECT_EQ(6, sigbus_count);
	EXPECT_EQ(13, le(buf + psz + 16, 8));

	/* Detached: everything plain. */
	tdsm__state.size = 0;
	st8(buf + 1, 0x99);
	EXPECT_EQ(0x99, ld8(buf + 1));
	EXPECT_EQ(xc64(buf + psz + 16, 12), 13);
	EXPECT_EQ(12, cas64(buf + psz + 16, 12, 16));
	EXPECT_EQ(16, le(buf + psz + 16, 8));
	EXPECT_EQ(6, sigbus_count);
	tdsm__window_unmap(xlate, 2);
	EXPECT_EQ(0, xlate[1]);
	free(buf);
}

/*
 * The window itself: the bytes a thunk may read are all mapped, it grows
 * and never shrinks, its table reads 0 once given back, and what it
 * refuses it says.
 */
TEST(window)
{
	const volatile uint8_t *w = (const volatile uint8_t *)TDSM__WINDOW;
	uint64_t big = 1ULL << 20;	/* pages: a 4 GiB "region" */
	uint8_t *t;

	t = tdsm__window_map(TINYDSM_REGION_BASE, 3, -1);
	ASSERT_NE(NULL, t) TH_LOG("%s", tdsm_strerror_detail());
	EXPECT_EQ((uintptr_t)TDSM__WINDOW, (uintptr_t)t);
	EXPECT_EQ(4095ULL << 12, tdsm__state.window_mask);
	t[2] = TINYDSM_PAGE_EXCLUSIVE;
	EXPECT_EQ(0, w[4095]);

	t = tdsm__window_map(TINYDSM_REGION_BASE, big, -1);
	ASSERT_NE(NULL, t) TH_LOG("%s", tdsm_strerror_detail());
	EXPECT_EQ((big - 1) << 12, tdsm__state.window_mask);
	EXPECT_EQ(0, w[big - 1]);
	tdsm__window_unmap(t, big);
	EXPECT_EQ(0, w[2]);

	/* Smaller again: the mask stays what the window's length is. */
	t = tdsm__window_map(TINYDSM_REGION_BASE, 1, -1);
	ASSERT_NE(NULL, t);
	EXPECT_EQ((big - 1) << 12, tdsm__state.window_mask);

	/* A module's table must start a window page; a region must fit. */
	EXPECT_EQ(NULL, tdsm__window_map(TINYDSM_REGION_BASE + 4096, 1, 0));
	EXPECT_EQ(EINVAL, errno);
	TH_LOG("%s", tdsm_strerror_detail());
	EXPECT_EQ(NULL, tdsm__window_map(TINYDSM_REGION_BASE,
					 TDSM__WINDOW_MAX + 1, -1));
	EXPECT_EQ(EFBIG, errno);
	TH_LOG("%s", tdsm_strerror_detail());
}

/* Something else where the window goes: the attach's error says so. */
TEST(window_taken)
{
	void *at = (void *)(uintptr_t)(TDSM__WINDOW + 8192);
	void *p;

	p = mmap(at, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
		 MAP_FIXED_NOREPLACE, -1, 0);
	if (p != at)
		SKIP(return, "cannot map %p here: %s", at, strerror(errno));
	EXPECT_EQ(NULL, tdsm__window_map(TINYDSM_REGION_BASE, 1 << 16, -1));
	EXPECT_EQ(EEXIST, errno);
	EXPECT_NE(NULL, strstr(tdsm_strerror_detail(), "lookup window"));
	TH_LOG("%s", tdsm_strerror_detail());
	/* A smaller window, below what is there, is fine. */
	EXPECT_NE(NULL, tdsm__window_map(TINYDSM_REGION_BASE, 8192, -1));
	munmap(p, 4096);
}

/* What a program sees on a machine without the module. */
TEST(not_attached)
{
	struct tinydsm_page_info pi;
	struct tinydsm_stats st;
	int ret;

	EXPECT_FALSE(tdsm_attached());
	EXPECT_EQ(-1, tdsm_fd());
	EXPECT_EQ(NULL, tdsm_region_info());
	EXPECT_EQ(-ENODEV, tdsm_stats(&st));
	EXPECT_EQ(-ENODEV, tdsm_page_info((void *)TINYDSM_REGION_BASE, &pi));
	EXPECT_EQ(-ENODEV, tdsm_set_policy(TINYDSM_SITES_POLICY_EAGER));
	EXPECT_EQ(-ENODEV, tdsm_sites_set_form_all(TINYDSM_SITE_LOOKUP));
	EXPECT_EQ(NULL, tdsm_alloc(1, 0));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-EINVAL, tdsm_attach(0x80));
	TH_LOG("%s", tdsm_strerror_detail());

	if (!access("/dev/" TINYDSM_DEVICE_NAME, F_OK))
		SKIP(return, "/dev/tinydsm exists here");
	ret = tdsm_attach(0);
	EXPECT_EQ(-ENOENT, ret);
	EXPECT_NE(NULL, strstr(tdsm_strerror_detail(), "/dev/tinydsm"));
	TH_LOG("%s", tdsm_strerror_detail());
	EXPECT_FALSE(tdsm_attached());
}

TEST_HARNESS_MAIN
