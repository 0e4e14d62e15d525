// SPDX-License-Identifier: GPL-2.0
/*
 * Host unit test of kmod/x86_mov.c, the decoder and emulator of the x86-64
 * mov forms that the uprobe path of tinydsm steps over, and the encoder of
 * tinydsm's own access sites. Runs on the build host (make x86-mov-test),
 * not in the lab: it needs no module.
 *
 * The GNU assembler is the oracle. Each test writes the instructions it
 * wants as AT&T text, assembles them with `as` and `objcopy -O binary`, and
 * checks the encoder's bytes, or the decoder's reading of as's bytes,
 * against the operands it wrote:
 *
 *   site_encode     every site form x value register x address register:
 *                   tdsm_site_encode() == as, and decoding gives them back
 *   site_encode_atomic  the same for the atomic sites (lock xadd, xchg) and
 *                   tdsm_site_encode_atomic(); the mov decoder refuses them
 *   decode_matrix   every addressing form (no base, RIP, 16 bases x 15
 *                   indexes x 4 scales x disp 0/8/32) over every mov form and
 *                   register, decoded fields and tdsm_mov_addr()
 *   decode_picked   a hand-picked set of what gcc emits, field by field
 *   decode_refused  prefixes and opcodes that must be refused
 *   decode_truncated  every valid encoding cut short gives -EINVAL
 *   decode_fuzz     random bytes against a guard page (no over-read), and
 *                   the accepted ones checked against objdump's reading
 *   load_result, store_value, addr: the emulation on a fake pt_regs, each
 *                   a table of instruction bytes and what they must give
 *
 * AS and OBJCOPY, OBJDUMP in the environment override the tools.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* What kmod/x86_mov.c takes from the kernel's headers. */
typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;
typedef int8_t s8;
typedef int16_t s16;
typedef int32_t s32;
typedef int64_t s64;

/* The kernel's x86-64 struct pt_regs, field for field. */
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};

#include "../../kmod/x86_mov.c"

#include "kselftest_harness.h"

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI,
	R8, R9, R10, R11, R12, R13, R14, R15, NONE = -1, RIP = -2 };

static const char *const reg_q[16] = {
	"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

static const char *const reg_d[16] = {
	"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi",
	"r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d",
};

static const char *const reg_w[16] = {
	"ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
	"r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w",
};

static const char *const reg_b[16] = {
	"al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil",
	"r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b",
};

static const char *const *reg_names(unsigned int width)
{
	return width == 8 ? reg_q : width == 4 ? reg_d : width == 2 ? reg_w : reg_b;
}

/* ---- running the assembler ---------------------------------------------- */

struct lines {
	char **v;
	unsigned int n, cap;
};

static void __attribute__((format(printf, 2, 3)))
add_line(struct lines *l, const char *fmt, ...)
{
	va_list ap;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (!l->v)
			abort();
	}
	va_start(ap, fmt);
	if (vasprintf(&l->v[l->n], fmt, ap) < 0)
		abort();
	va_end(ap);
	l->n++;
}

static void free_lines(struct lines *l)
{
	while (l->n)
		free(l->v[--l->n]);
	free(l->v);
	l->v = NULL;
	l->cap = 0;
}

static const char *tool(const char *env, const char *def)
{
	const char *t = getenv(env);

	return t && *t ? t : def;
}

static char tmpdir[256];

static void cleanup_tmpdir(void)
{
	char cmd[300];

	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", tmpdir);
		tmpdir[0] = 0;
	}
}

static int make_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/x86_mov_test.XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(tmpdir)) {
		tmpdir[0] = 0;
		return -1;
	}
	return 0;
}

static int run(const char *cmd)
{
	int ret = system(cmd);

	if (ret)
		fprintf(stderr, "# failed (%d): %s\n", ret, cmd);
	return ret;
}

/* Reads a whole file; NULL on error. */
static u8 *read_file(const char *path, size_t *size)
{
	FILE *f = fopen(path, "rb");
	u8 *buf = NULL;
	size_t cap = 0, got;

	if (!f)
		return NULL;
	*size = 0;
	for (;;) {
		if (*size == cap) {
			cap = cap ? 2 * cap : 65536;
			buf = realloc(buf, cap);
			if (!buf)
				abort();
		}
		got = fread(buf + *size, 1, cap - *size, f);
		if (!got)
			break;
		*size += got;
	}
	fclose(f);
	return buf;
}

/* The bytes of each line of an assembled struct lines. */
struct code {
	u8 *buf;
	size_t size;
	unsigned int n;
	const u8 **insn;
	u8 *len;
};

/*
 * Assembles @l, one instruction (or a ;-separated group) per line, and
 * splits the result per line: each line is assembled after a .byte of its
 * own length. 0 or -1 (reported on stderr).
 */
static int assemble(const struct lines *l, struct code *c)
{
	char path[300], cmd[1200];
	unsigned int i;
	size_t off = 0;
	FILE *f;

	memset(c, 0, sizeof(*c));
	if (make_tmpdir())
		return -1;
	snprintf(path, sizeof(path), "%s/a.s", tmpdir);
	f = fopen(path, "w");
	if (!f)
		goto err;
	fprintf(f, "\t.text\n");
	for (i = 0; i < l->n; i++)
		fprintf(f, "\t.byte 2f-1f\n1:\t%s\n2:\n", l->v[i]);
	if (fclose(f))
		goto err;
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && %s --64 -o a.o a.s && %s -O binary -j .text a.o a.bin",
		 tmpdir, tool("AS", "as"), tool("OBJCOPY", "objcopy"));
	if (run(cmd))
		goto err;
	snprintf(path, sizeof(path), "%s/a.bin", tmpdir);
	c->buf = read_file(path, &c->size);
	if (!c->buf)
		goto err;
	cleanup_tmpdir();

	c->n = l->n;
	c->insn = calloc(l->n, sizeof(*c->insn));
	c->len = calloc(l->n, 1);
	if (!c->insn || !c->len)
		abort();
	for (i = 0; i < l->n; i++) {
		if (off >= c->size || off + 1 + c->buf[off] > c->size) {
			fprintf(stderr, "# assembled output too short at line %u\n", i);
			return -1;
		}
		c->len[i] = c->buf[off];
		c->insn[i] = c->buf + off + 1;
		off += 1 + c->len[i];
	}
	if (off != c->size) {
		fprintf(stderr, "# assembled output: %zu bytes left over\n", c->size - off);
		return -1;
	}
	return 0;
err:
	cleanup_tmpdir();
	return -1;
}

static void free_code(struct code *c)
{
	free(c->buf);
	free(c->insn);
	free(c->len);
}

static const char *hex(const u8 *p, unsigned int n)
{
	static char s[3 * 16 + 1];
	unsigned int i;

	s[0] = 0;
	for (i = 0; i < n && i < 16; i++)
		sprintf(s + 3 * i, "%02x ", p[i]);
	return s;
}

/* ---- expectations -------------------------------------------------------- */

/* What a line of assembly should decode to; len is as's. */
struct expect {
	u8 width;
	bool store;
	bool has_imm;
	s64 imm;
	s8 reg;
	bool high8;
	u8 reg_width;
	enum tdsm_mov_ext ext;
	s8 base;	/* RIP for RIP-relative */
	s8 index;
	u8 scale;
	s32 disp;
};

#define CHECK(e, s, text, bytes, n) \
	ASSERT_EQ(e, s) TH_LOG("%s: %s [%s]", #s, text, hex(bytes, n))

static void check_decoded(struct __test_metadata *_metadata, const struct expect *e,
			  const char *text, const u8 *code, unsigned int len)
{
	struct tdsm_mov m;

	CHECK(0, tdsm_mov_decode(code, len, &m), text, code, len);
	CHECK(len, m.len, text, code, len);
	CHECK(e->width, m.width, text, code, len);
	CHECK(e->store, m.store, text, code, len);
	CHECK(e->has_imm, m.has_imm, text, code, len);
	if (e->has_imm) {
		CHECK(e->imm, m.imm, text, code, len);
	} else {
		CHECK(e->reg, m.reg, text, code, len);
	}
	CHECK(e->high8, m.high8, text, code, len);
	CHECK(e->reg_width, m.reg_width, text, code, len);
	CHECK(e->ext, m.ext, text, code, len);
	CHECK(e->base == RIP, m.rip_rel, text, code, len);
	CHECK(e->base == RIP ? NONE : e->base, m.base, text, code, len);
	CHECK(e->index, m.index, text, code, len);
	CHECK(e->index == NONE ? 1 : e->scale, m.scale, text, code, len);
	CHECK(e->disp, m.disp, text, code, len);

	/* Trailing bytes are not part of it. */
	{
		u8 more[TDSM_MOV_MAX_LEN + 8];
		struct tdsm_mov m2;

		memset(more, 0x90, sizeof(more));
		memcpy(more, code, len);
		CHECK(0, tdsm_mov_decode(more, sizeof(more), &m2), text, code, len);
		CHECK(len, m2.len, text, code, len);
	}
}

/* Register values for address checks: distinct, with high bits set. */
static void fake_regs(struct pt_regs *regs)
{
	unsigned int i;

	memset(regs, 0, sizeof(*regs));
	for (i = 0; i < 16; i++)
		*tdsm_mov_reg(regs, i) = 0x0123456789abcdefULL * (i + 1) + (i << 4);
	regs->ip = 0x00007f0012345000ULL;
	regs->orig_ax = -1;
}

static u64 expect_addr(const struct expect *e, const struct pt_regs *regs, unsigned int len)
{
	u64 a = (u64)(s64)e->disp;

	if (e->base == RIP)
		a += regs->ip + len;
	else if (e->base != NONE)
		a += *tdsm_mov_reg((struct pt_regs *)regs, e->base);
	if (e->index != NONE)
		a += *tdsm_mov_reg((struct pt_regs *)regs, e->index) * e->scale;
	return a;
}

/* ---- tdsm_site_encode ---------------------------------------------------- */

static const struct {
	const char *load, *store;	/* mnemonic */
	u8 reg_width;			/* of the register name */
} site_forms[9] = {
	[8] = { "movq", "movq", 8 },
	[4] = { "movl", "movl", 4 },
	[2] = { "movzwl", "movw", 2 },
	[1] = { "movzbl", "movb", 1 },
};

TEST(site_encode)
{
	static const u8 widths[] = { 8, 4, 2, 1 };
	struct lines l = { 0 };
	struct code c;
	unsigned int w, st, v, a, i = 0;
	u8 out[TDSM_SITE_MAX_LEN + 8];

	for (w = 0; w < 4; w++)
		for (st = 0; st < 2; st++)
			for (v = 0; v < 16; v++)
				for (a = 0; a < 16; a++) {
					u8 width = widths[w];

					if (st)
						add_line(&l, "{disp32} %s %%%s, 0(%%%s)",
							 site_forms[width].store,
							 reg_names(width)[v], reg_q[a]);
					else
						add_line(&l, "{disp32} %s 0(%%%s), %%%s",
							 site_forms[width].load, reg_q[a],
							 reg_names(width == 8 ? 8 : 4)[v]);
				}
	ASSERT_EQ(0, assemble(&l, &c));

	for (w = 0; w < 4; w++)
		for (st = 0; st < 2; st++)
			for (v = 0; v < 16; v++)
				for (a = 0; a < 16; a++, i++) {
					u8 width = widths[w];
					struct expect e = {
						.width = width, .store = st, .reg = v,
						.reg_width = st ? width : width == 8 ? 8 : 4,
						.ext = !st && width < 4 ? TDSM_MOV_ZX
								       : TDSM_MOV_PLAIN,
						.base = a, .index = NONE, .disp = 0,
					};
					int len;

					memset(out, 0xee, sizeof(out));
					len = tdsm_site_encode(width, st, v, a, out);
					CHECK((int)c.len[i], len, l.v[i], c.insn[i], c.len[i]);
					ASSERT_LE(len, TDSM_SITE_MAX_LEN);
					ASSERT_EQ(0xee, out[len]);
					ASSERT_EQ(0, memcmp(out, c.insn[i], len))
						TH_LOG("%s: as %s", l.v[i], hex(c.insn[i], len));
					check_decoded(_metadata, &e, l.v[i], out, len);
				}

	ASSERT_EQ(-EINVAL, tdsm_site_encode(3, false, 0, 0, out));
	ASSERT_EQ(-EINVAL, tdsm_site_encode(0, true, 0, 0, out));
	ASSERT_EQ(-EINVAL, tdsm_site_encode(16, false, 0, 0, out));
	ASSERT_EQ(-EINVAL, tdsm_site_encode(8, false, 16, 0, out));
	ASSERT_EQ(-EINVAL, tdsm_site_encode(8, true, 0, 16, out));
	free_code(&c);
	free_lines(&l);
}

/* ---- tdsm_site_encode_atomic --------------------------------------------- */

/*
 * Every atomic site form (lock xadd, xchg, lock cmpxchg) x value register x
 * address register:
 * tdsm_site_encode_atomic() == as (which the decoder, for movs only, does
 * not read), and every bad argument refused.
 */
TEST(site_encode_atomic)
{
	static const u8 widths[] = { 8, 4 };
	static const struct {
		enum tdsm_site_atomic op;
		const char *fmt;	/* width suffix, value, address */
	} ops[] = {
		{ TDSM_SITE_XADD, "lock {disp32} xadd%c %%%s, 0(%%%s)" },
		{ TDSM_SITE_XCHG, "{disp32} xchg%c %%%s, 0(%%%s)" },
		{ TDSM_SITE_CMPXCHG, "lock {disp32} cmpxchg%c %%%s, 0(%%%s)" },
	};
	const unsigned int nops = sizeof(ops) / sizeof(ops[0]);
	struct lines l = { 0 };
	struct code c;
	unsigned int o, w, v, a, i = 0;
	u8 out[TDSM_SITE_MAX_LEN + 8];

	for (o = 0; o < nops; o++)
		for (w = 0; w < 2; w++)
			for (v = 0; v < 16; v++)
				for (a = 0; a < 16; a++)
					add_line(&l, ops[o].fmt, widths[w] == 8 ? 'q' : 'l',
						 reg_names(widths[w])[v], reg_q[a]);
	ASSERT_EQ(0, assemble(&l, &c));

	for (o = 0; o < nops; o++)
		for (w = 0; w < 2; w++)
			for (v = 0; v < 16; v++)
				for (a = 0; a < 16; a++, i++) {
					int len;

					memset(out, 0xee, sizeof(out));
					len = tdsm_site_encode_atomic(ops[o].op, widths[w],
								      v, a, out);
					CHECK((int)c.len[i], len, l.v[i], c.insn[i], c.len[i]);
					ASSERT_LE(len, TDSM_SITE_MAX_LEN);
					ASSERT_LE(5, len);	/* room for a jmp rel32 */
					ASSERT_EQ(0xee, out[len]);
					ASSERT_EQ(0, memcmp(out, c.insn[i], len))
						TH_LOG("%s: as %s", l.v[i], hex(c.insn[i], len));
					/* Not a mov: the uprobe path's decoder refuses it. */
					{
						struct tdsm_mov m;

						ASSERT_EQ(-EOPNOTSUPP, tdsm_mov_decode(out, len, &m))
							TH_LOG("%s decoded as a mov", l.v[i]);
					}
				}

	ASSERT_EQ(-EINVAL, tdsm_site_encode_atomic(0, 8, 0, 0, out));
	ASSERT_EQ(-EINVAL, tdsm_site_encode_atomic(4, 8, 0, 0, out));
	ASSERT_EQ(-EINVAL, tdsm_site_encode_atomic(TDSM_SITE_CMPXCHG, 2, 0, 0, out));
	ASSERT_EQ(-EINVAL, tdsm_site_encode_atomic(TDSM_SITE_XADD, 2, 0, 0, out));
	ASSERT_EQ(-EINVAL, tdsm_site_encode_atomic(TDSM_SITE_XCHG, 1, 0, 0, out));
	ASSERT_EQ(-EINVAL, tdsm_site_encode_atomic(TDSM_SITE_XADD, 8, 16, 0, out));
	ASSERT_EQ(-EINVAL, tdsm_site_encode_atomic(TDSM_SITE_XCHG, 4, 0, 16, out));
	free_code(&c);
	free_lines(&l);
}

/* ---- the mov forms, over every addressing form --------------------------- */

struct form {
	const char *mnem;
	u8 width;
	bool store;
	bool imm;
	u8 reg_width;
	enum tdsm_mov_ext ext;
};

static const struct form forms[] = {
	{ "movq", 8, false, false, 8, TDSM_MOV_PLAIN },
	{ "movl", 4, false, false, 4, TDSM_MOV_PLAIN },
	{ "movw", 2, false, false, 2, TDSM_MOV_PLAIN },
	{ "movb", 1, false, false, 1, TDSM_MOV_PLAIN },
	{ "movq", 8, true, false, 8, TDSM_MOV_PLAIN },
	{ "movl", 4, true, false, 4, TDSM_MOV_PLAIN },
	{ "movw", 2, true, false, 2, TDSM_MOV_PLAIN },
	{ "movb", 1, true, false, 1, TDSM_MOV_PLAIN },
	{ "movq", 8, true, true, 8, TDSM_MOV_PLAIN },
	{ "movl", 4, true, true, 4, TDSM_MOV_PLAIN },
	{ "movw", 2, true, true, 2, TDSM_MOV_PLAIN },
	{ "movb", 1, true, true, 1, TDSM_MOV_PLAIN },
	{ "movzbw", 1, false, false, 2, TDSM_MOV_ZX },
	{ "movzbl", 1, false, false, 4, TDSM_MOV_ZX },
	{ "movzbq", 1, false, false, 8, TDSM_MOV_ZX },
	{ "movzwl", 2, false, false, 4, TDSM_MOV_ZX },
	{ "movzwq", 2, false, false, 8, TDSM_MOV_ZX },
	{ "movsbw", 1, false, false, 2, TDSM_MOV_SX },
	{ "movsbl", 1, false, false, 4, TDSM_MOV_SX },
	{ "movsbq", 1, false, false, 8, TDSM_MOV_SX },
	{ "movswl", 2, false, false, 4, TDSM_MOV_SX },
	{ "movswq", 2, false, false, 8, TDSM_MOV_SX },
	{ "movslq", 4, false, false, 8, TDSM_MOV_SX },
};

#define NFORMS	ARRAY_SIZE(forms)

static const s64 imms[] = {
	0, 1, -1, 0x7f, -0x80, 0x5a, 0x7fff, -0x8000, 0x1234,
	0x7fffffff, -0x7fffffff - 1, 0x12345678, -0x12345678,
};

/* The immediate number @k that fits in @width bytes. */
static s64 pick_imm(unsigned int width, unsigned int k)
{
	s64 lim = width >= 4 ? 0x7fffffff : width == 2 ? 0x7fff : 0x7f;
	unsigned int i, n = 0;

	for (i = 0; ; i = (i + 1) % ARRAY_SIZE(imms)) {
		if (imms[i] <= lim && imms[i] >= -lim - 1 && n++ == k % 9)
			return imms[i];
	}
}

/* AT&T text of a memory operand. */
static void mem_text(char *s, size_t size, int base, int index, int scale, s32 disp)
{
	char d[16] = "";

	if (disp || (base == NONE && index == NONE))
		snprintf(d, sizeof(d), "%d", disp);
	if (base == RIP)
		snprintf(s, size, "%s(%%rip)", d);
	else if (base == NONE && index == NONE)
		snprintf(s, size, "%s", d);
	else if (index == NONE)
		snprintf(s, size, "%s(%%%s)", d, reg_q[base]);
	else
		snprintf(s, size, "%s(%s%s,%%%s,%d)", d, base == NONE ? "" : "%",
			 base == NONE ? "" : reg_q[base], reg_q[index], scale);
}

/* One line of @f with register @reg (or immediate number @k) and the memory operand. */
static void add_form(struct lines *l, struct expect *e, const struct form *f,
		     unsigned int reg, unsigned int k,
		     int base, int index, int scale, s32 disp)
{
	char mem[64];

	mem_text(mem, sizeof(mem), base, index, scale, disp);
	memset(e, 0, sizeof(*e));
	e->width = f->width;
	e->store = f->store;
	e->has_imm = f->imm;
	e->reg = f->imm ? 0 : reg;
	e->reg_width = f->reg_width;
	e->ext = f->ext;
	e->base = base;
	e->index = index;
	e->scale = scale;
	e->disp = disp;
	if (f->imm) {
		e->imm = pick_imm(f->width, k);
		add_line(l, "%s $%lld, %s", f->mnem, (long long)e->imm, mem);
	} else if (f->store) {
		add_line(l, "%s %%%s, %s", f->mnem, reg_names(f->reg_width)[reg], mem);
	} else {
		add_line(l, "%s %s, %%%s", f->mnem, mem, reg_names(f->reg_width)[reg]);
	}
}

static const s32 disps[] = {
	0, 8, -8, 127, -128, 128, -129, 0x12345678, -0x7fffffff - 1, 0x7fffffff,
};

#define NDISPS	ARRAY_SIZE(disps)

TEST(decode_matrix)
{
	static const int scales[] = { 1, 2, 4, 8 };
	struct lines l = { 0 };
	struct expect *ex = calloc(40000, sizeof(*ex));
	struct pt_regs regs;
	struct code c;
	unsigned int k = 0, i, d, s, f, r;
	int base, index;

	ASSERT_NE(NULL, ex);
	/* Every addressing form, cycling through the mov forms and registers. */
	for (base = RIP; base < 16; base++)
		for (index = NONE; index < 16; index++) {
			if (index == RSP || (base == RIP && index != NONE))
				continue;
			for (s = 0; s < (index == NONE ? 1 : 4); s++)
				for (d = 0; d < NDISPS; d++, k++)
					add_form(&l, &ex[k], &forms[k % NFORMS], (k * 7) % 16,
						 k, base, index, scales[s], disps[d]);
		}
	/* Every mov form with every register, over a few addressing forms. */
	for (f = 0; f < NFORMS; f++)
		for (r = 0; r < 16; r++) {
			add_form(&l, &ex[k], &forms[f], r, k, r, NONE, 1, 0), k++;
			add_form(&l, &ex[k], &forms[f], r, k, 15 - r, r == RSP ? NONE : (int)r,
				 4, 0x40), k++;
			add_form(&l, &ex[k], &forms[f], r, k, RIP, NONE, 1, -0x100), k++;
			add_form(&l, &ex[k], &forms[f], r, k, NONE, NONE, 1, 0x1000), k++;
		}
	ASSERT_LT(k, 40000);
	ASSERT_EQ(0, assemble(&l, &c));

	fake_regs(&regs);
	for (i = 0; i < k; i++) {
		struct tdsm_mov m;

		check_decoded(_metadata, &ex[i], l.v[i], c.insn[i], c.len[i]);
		ASSERT_EQ(0, tdsm_mov_decode(c.insn[i], c.len[i], &m));
		ASSERT_EQ(expect_addr(&ex[i], &regs, c.len[i]), tdsm_mov_addr(&m, &regs))
			TH_LOG("%s", l.v[i]);
	}
	TH_LOG("%u instructions", k);
	free_code(&c);
	free_lines(&l);
	free(ex);
}

/* ---- hand-picked gcc output ---------------------------------------------- */

#define LOAD(w, rw, x)	.width = w, .reg_width = rw, .ext = TDSM_MOV_##x
#define STORE(w)	.width = w, .reg_width = w, .store = true
#define IMM(w, v)	.width = w, .reg_width = w, .store = true, .has_imm = true, .imm = v
#define MEM(b, i, s, d)	.base = b, .index = i, .scale = s, .disp = d

static const struct {
	const char *text;
	struct expect e;
} picked[] = {
	{ "movq 0x2f8a(%rip), %rax", { LOAD(8, 8, PLAIN), .reg = RAX, MEM(RIP, NONE, 1, 0x2f8a) } },
	{ "movl -0x14(%rip), %r9d", { LOAD(4, 4, PLAIN), .reg = R9, MEM(RIP, NONE, 1, -0x14) } },
	{ "movzbl 0x10(%rip), %edx", { LOAD(1, 4, ZX), .reg = RDX, MEM(RIP, NONE, 1, 0x10) } },
	{ "movl %eax, 0x200(%rip)", { STORE(4), .reg = RAX, MEM(RIP, NONE, 1, 0x200) } },
	{ "movq (%rdi,%rsi,8), %rax", { LOAD(8, 8, PLAIN), .reg = RAX, MEM(RDI, RSI, 8, 0) } },
	{ "movl 0x10(%rdx,%rcx,4), %eax",
	  { LOAD(4, 4, PLAIN), .reg = RAX, MEM(RDX, RCX, 4, 0x10) } },
	{ "movq -0x8(%rbp), %rax", { LOAD(8, 8, PLAIN), .reg = RAX, MEM(RBP, NONE, 1, -8) } },
	{ "movq (%rbp), %rax", { LOAD(8, 8, PLAIN), .reg = RAX, MEM(RBP, NONE, 1, 0) } },
	{ "movq (%r13), %r14", { LOAD(8, 8, PLAIN), .reg = R14, MEM(R13, NONE, 1, 0) } },
	{ "movl %ecx, 0x4(%r13,%r12,2)",
	  { STORE(4), .reg = RCX, MEM(R13, R12, 2, 4) } },
	{ "movq (%r12), %rdi", { LOAD(8, 8, PLAIN), .reg = RDI, MEM(R12, NONE, 1, 0) } },
	{ "movq 0x18(%rsp), %rbx", { LOAD(8, 8, PLAIN), .reg = RBX, MEM(RSP, NONE, 1, 0x18) } },
	{ "movq %r15, 0x100(%rsp)", { STORE(8), .reg = R15, MEM(RSP, NONE, 1, 0x100) } },
	{ "movw %ax, (%rdi)", { STORE(2), .reg = RAX, MEM(RDI, NONE, 1, 0) } },
	{ "movw %r10w, 0x2(%rbx,%rax,2)", { STORE(2), .reg = R10, MEM(RBX, RAX, 2, 2) } },
	{ "movb %sil, (%rdi)", { STORE(1), .reg = RSI, MEM(RDI, NONE, 1, 0) } },
	{ "movb %dl, -0x1(%rax)", { STORE(1), .reg = RDX, MEM(RAX, NONE, 1, -1) } },
	{ "movb %ah, (%rdi)", { STORE(1), .reg = RAX, .high8 = true, MEM(RDI, NONE, 1, 0) } },
	{ "movb %bh, 0x8(%rsp)", { STORE(1), .reg = RBX, .high8 = true, MEM(RSP, NONE, 1, 8) } },
	{ "movb (%rsi), %ch",
	  { LOAD(1, 1, PLAIN), .reg = RCX, .high8 = true, MEM(RSI, NONE, 1, 0) } },
	{ "movb (%rsi), %dh",
	  { LOAD(1, 1, PLAIN), .reg = RDX, .high8 = true, MEM(RSI, NONE, 1, 0) } },
	{ "movb (%rsi), %bpl", { LOAD(1, 1, PLAIN), .reg = RBP, MEM(RSI, NONE, 1, 0) } },
	{ "movsbl (%rdi), %eax", { LOAD(1, 4, SX), .reg = RAX, MEM(RDI, NONE, 1, 0) } },
	{ "movsbq 0x1(%rdi), %r8", { LOAD(1, 8, SX), .reg = R8, MEM(RDI, NONE, 1, 1) } },
	{ "movswl (%rdi,%rax,2), %eax", { LOAD(2, 4, SX), .reg = RAX, MEM(RDI, RAX, 2, 0) } },
	{ "movzwl 0x6(%rsp), %esi", { LOAD(2, 4, ZX), .reg = RSI, MEM(RSP, NONE, 1, 6) } },
	{ "movzbw (%rax), %ax", { LOAD(1, 2, ZX), .reg = RAX, MEM(RAX, NONE, 1, 0) } },
	{ "movslq 0x8(%rdi), %rax", { LOAD(4, 8, SX), .reg = RAX, MEM(RDI, NONE, 1, 8) } },
	{ "movslq (%rdx,%rax,4), %rax", { LOAD(4, 8, SX), .reg = RAX, MEM(RDX, RAX, 4, 0) } },
	{ "movb $0x0, (%rax)", { IMM(1, 0), MEM(RAX, NONE, 1, 0) } },
	{ "movb $0xff, 0x10(%rdi)", { IMM(1, -1), MEM(RDI, NONE, 1, 0x10) } },
	{ "movw $0x1234, (%rdi)", { IMM(2, 0x1234), MEM(RDI, NONE, 1, 0) } },
	{ "movw $-2, 0x20(%rip)", { IMM(2, -2), MEM(RIP, NONE, 1, 0x20) } },
	{ "movl $0x1, 0x14(%rsp)", { IMM(4, 1), MEM(RSP, NONE, 1, 0x14) } },
	{ "movl $0xffffffff, (%rax)", { IMM(4, -1), MEM(RAX, NONE, 1, 0) } },
	{ "movl $0x2a, 0x100(%rip)", { IMM(4, 0x2a), MEM(RIP, NONE, 1, 0x100) } },
	{ "movq $-1, 0x8(%rdi)", { IMM(8, -1), MEM(RDI, NONE, 1, 8) } },
	{ "movq $0x0, (%r12,%rbx,8)", { IMM(8, 0), MEM(R12, RBX, 8, 0) } },
	{ "movl 0x601040, %eax", { LOAD(4, 4, PLAIN), .reg = RAX, MEM(NONE, NONE, 1, 0x601040) } },
	{ "movq 0x601040(,%rax,8), %rdx",
	  { LOAD(8, 8, PLAIN), .reg = RDX, MEM(NONE, RAX, 8, 0x601040) } },
	{ "movq (%rax,%r12), %rcx", { LOAD(8, 8, PLAIN), .reg = RCX, MEM(RAX, R12, 1, 0) } },
	/* Redundant prefixes: CS/SS/DS/ES are ignored in 64-bit mode. */
	{ ".byte 0x3e; movq (%rax), %rcx",
	  { LOAD(8, 8, PLAIN), .reg = RCX, MEM(RAX, NONE, 1, 0) } },
	{ ".byte 0x2e, 0x26; movl %eax, 4(%rbx)", { STORE(4), .reg = RAX, MEM(RBX, NONE, 1, 4) } },
	{ ".byte 0x36; movw $7, (%rax)", { IMM(2, 7), MEM(RAX, NONE, 1, 0) } },
	/* 66 with REX.W: REX.W wins; an unused REX.X; an empty REX. */
	{ ".byte 0x66, 0x48, 0x8b, 0x00", { LOAD(8, 8, PLAIN), .reg = RAX, MEM(RAX, NONE, 1, 0) } },
	{ ".byte 0x4a, 0x8b, 0x00", { LOAD(8, 8, PLAIN), .reg = RAX, MEM(RAX, NONE, 1, 0) } },
	{ ".byte 0x40, 0x88, 0x27", { STORE(1), .reg = RSP, MEM(RDI, NONE, 1, 0) } },
	/* SIB without index (100) but with scale bits: the scale means nothing. */
	{ ".byte 0x8b, 0x44, 0xe0, 0x08", { LOAD(4, 4, PLAIN), .reg = RAX, MEM(RAX, NONE, 1, 8) } },
	/* mod 00 rm 101 with REX.B is still RIP-relative; SIB base 101 still no base. */
	{ ".byte 0x41, 0x8b, 0x05, 0x10, 0, 0, 0",
	  { LOAD(4, 4, PLAIN), .reg = RAX, MEM(RIP, NONE, 1, 0x10) } },
	{ ".byte 0x43, 0x8b, 0x04, 0x2d, 0x10, 0, 0, 0",
	  { LOAD(4, 4, PLAIN), .reg = RAX, MEM(NONE, R13, 1, 0x10) } },
	{ ".byte 0x66, 0x66, 0xc7, 0x00, 0x80, 0xff", { IMM(2, -128), MEM(RAX, NONE, 1, 0) } },
	/* movzww, movsww: 66 0F B7/BF, which as has no mnemonic for. */
	{ ".byte 0x66, 0x0f, 0xb7, 0x07", { LOAD(2, 2, ZX), .reg = RAX, MEM(RDI, NONE, 1, 0) } },
	{ ".byte 0x66, 0x41, 0x0f, 0xbf, 0x4d, 0xfe",
	  { LOAD(2, 2, SX), .reg = RCX, MEM(R13, NONE, 1, -2) } },
};

#define NPICKED	ARRAY_SIZE(picked)

TEST(decode_picked)
{
	struct lines l = { 0 };
	struct pt_regs regs;
	struct code c;
	unsigned int i;

	for (i = 0; i < NPICKED; i++)
		add_line(&l, "%s", picked[i].text);
	ASSERT_EQ(0, assemble(&l, &c));
	fake_regs(&regs);
	for (i = 0; i < NPICKED; i++) {
		struct tdsm_mov m;

		check_decoded(_metadata, &picked[i].e, l.v[i], c.insn[i], c.len[i]);
		ASSERT_EQ(0, tdsm_mov_decode(c.insn[i], c.len[i], &m));
		ASSERT_EQ(expect_addr(&picked[i].e, &regs, c.len[i]), tdsm_mov_addr(&m, &regs))
			TH_LOG("%s", l.v[i]);
	}
	/* The two the brief names by their bytes. */
	ASSERT_EQ(2, c.len[17]);
	ASSERT_EQ(0, memcmp(c.insn[17], "\x88\x27", 2));
	free_code(&c);
	free_lines(&l);
}

/* ---- refusals ------------------------------------------------------------ */

static const struct {
	const char *what;
	u8 len;
	u8 code[16];
} refused[] = {
	{ "fs: mov (%rax), %rax", 4, { 0x64, 0x48, 0x8b, 0x00 } },
	{ "gs: mov 0x28, %rax", 9, { 0x65, 0x48, 0x8b, 0x04, 0x25, 0x28, 0, 0, 0 } },
	{ "fs after ds", 4, { 0x3e, 0x64, 0x8b, 0x00 } },
	{ "lock mov", 3, { 0xf0, 0x89, 0x07 } },
	{ "rep mov", 3, { 0xf3, 0x89, 0x07 } },
	{ "repne mov", 3, { 0xf2, 0x8b, 0x07 } },
	{ "addr32 mov (%eax), %eax", 3, { 0x67, 0x8b, 0x00 } },
	{ "mov %rcx, %rax (mod 11)", 3, { 0x48, 0x89, 0xc8 } },
	{ "mov %cl, %al (mod 11)", 2, { 0x8a, 0xc1 } },
	{ "mov $1, %eax (C7 mod 11)", 6, { 0xc7, 0xc0, 1, 0, 0, 0 } },
	{ "xabort $0 (C6 F8)", 3, { 0xc6, 0xf8, 0x00 } },
	{ "xbegin (C7 F8)", 6, { 0xc7, 0xf8, 0, 0, 0, 0 } },
	{ "C7 /1 memory", 6, { 0xc7, 0x08, 1, 0, 0, 0 } },
	{ "C6 /7 memory", 3, { 0xc6, 0x38, 1 } },
	{ "movzbl %al, %eax (mod 11)", 3, { 0x0f, 0xb6, 0xc0 } },
	{ "movups (%rax), %xmm0", 3, { 0x0f, 0x10, 0x00 } },
	{ "movdqu (%rax), %xmm0", 4, { 0xf3, 0x0f, 0x6f, 0x00 } },
	{ "cmovne (%rax), %eax", 3, { 0x0f, 0x45, 0x00 } },
	{ "popcnt (%rax), %eax", 4, { 0xf3, 0x0f, 0xb8, 0x00 } },
	{ "movsxd without REX.W", 2, { 0x63, 0x00 } },
	{ "movabs 0x..., %eax (A1)", 9, { 0xa1, 1, 2, 3, 4, 5, 6, 7, 8 } },
	{ "movabs 0x..., %al (A0)", 9, { 0xa0, 1, 2, 3, 4, 5, 6, 7, 8 } },
	{ "movabs %eax, 0x... (A3)", 9, { 0xa3, 1, 2, 3, 4, 5, 6, 7, 8 } },
	{ "movabs %al, 0x... (A2)", 9, { 0xa2, 1, 2, 3, 4, 5, 6, 7, 8 } },
	{ "VEX vmovdqa (%rax), %xmm0", 4, { 0xc5, 0xf9, 0x6f, 0x00 } },
	{ "VEX3 vmovdqu (%rax), %ymm8", 5, { 0xc4, 0x61, 0x7e, 0x6f, 0x00 } },
	{ "EVEX vmovdqu64 (%rax), %zmm0", 6, { 0x62, 0xf1, 0xfe, 0x48, 0x6f, 0x00 } },
	{ "REX before 66", 4, { 0x48, 0x66, 0x8b, 0x00 } },
	{ "REX before ds", 4, { 0x48, 0x3e, 0x8b, 0x00 } },
	{ "two REX", 4, { 0x40, 0x48, 0x8b, 0x00 } },
	{ "lea (%rax), %rax", 3, { 0x48, 0x8d, 0x00 } },
	{ "incl (%rax)", 2, { 0xff, 0x00 } },
	{ "mov %es, (%rax)", 2, { 0x8c, 0x00 } },
	{ "add %eax, (%rax)", 2, { 0x01, 0x00 } },
	{ "xchg %eax, (%rax)", 2, { 0x87, 0x00 } },
	{ "movnti %eax, (%rax)", 3, { 0x0f, 0xc3, 0x00 } },
	{ "nop", 1, { 0x90 } },
	{ "int3", 1, { 0xcc } },
	{ "16 bytes (14 ds + mov)", 16,
	  { 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e,
	    0x3e, 0x3e, 0x8b, 0x00 } },
	{ "16 bytes (mov + disp32 + 9 prefixes)", 16,
	  { 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x48, 0x8b, 0x80,
	    0, 0, 0, 0 } },
};

TEST(decode_refused)
{
	static const u8 max_ok[15] = {
		0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x3e, 0x48, 0x8b, 0x80, 1, 2, 3, 4,
	};
	struct tdsm_mov m;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(refused); i++) {
		ASSERT_EQ(-EOPNOTSUPP, tdsm_mov_decode(refused[i].code, refused[i].len, &m))
			TH_LOG("%s", refused[i].what);
		ASSERT_EQ(-EOPNOTSUPP, tdsm_mov_decode(refused[i].code, 16, &m))
			TH_LOG("%s", refused[i].what);
	}
	/* 15 bytes is still an instruction, a byte fewer is not. */
	ASSERT_EQ(0, tdsm_mov_decode(max_ok, 15, &m));
	ASSERT_EQ(15, m.len);
	ASSERT_EQ(0x04030201, m.disp);
	ASSERT_EQ(-EINVAL, tdsm_mov_decode(max_ok, 14, &m));
	ASSERT_EQ(-EINVAL, tdsm_mov_decode(max_ok, 0, &m));
}

/* ---- truncation ---------------------------------------------------------- */

TEST(decode_truncated)
{
	struct lines l = { 0 };
	struct code c;
	unsigned int i, n, f;
	struct expect e;

	/* Each form, with SIB and disp32 and with RIP, and the picked ones. */
	for (f = 0; f < NFORMS; f++) {
		add_form(&l, &e, &forms[f], R9, f, R12, R13, 8, 0x12345678);
		add_form(&l, &e, &forms[f], RSI, f, RIP, NONE, 1, -0x40);
		add_form(&l, &e, &forms[f], RDX, f, RBX, NONE, 1, 0x40);
	}
	for (i = 0; i < NPICKED; i++)
		add_line(&l, "%s", picked[i].text);
	ASSERT_EQ(0, assemble(&l, &c));

	for (i = 0; i < c.n; i++) {
		struct tdsm_mov m;

		for (n = 0; n < c.len[i]; n++)
			ASSERT_EQ(-EINVAL, tdsm_mov_decode(c.insn[i], n, &m))
				TH_LOG("%s cut to %u bytes", l.v[i], n);
		ASSERT_EQ(0, tdsm_mov_decode(c.insn[i], c.len[i], &m)) TH_LOG("%s", l.v[i]);
	}
	free_code(&c);
	free_lines(&l);
}

/* ---- fuzz ---------------------------------------------------------------- */

static u64 rng = 0x9e3779b97f4a7c15ULL;

static u32 rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng >> 32;
}

/* Random bytes that often look like the start of a mov. */
static void random_insn(u8 *p)
{
	static const u8 prefixes[] = {
		0x66, 0x66, 0x2e, 0x3e, 0x26, 0x36, 0x64, 0x65, 0x67, 0xf0, 0xf2, 0xf3,
	};
	static const u8 opcodes[] = {
		0x88, 0x89, 0x8a, 0x8b, 0x88, 0x89, 0x8a, 0x8b, 0xc6, 0xc7, 0x63, 0x0f,
		0x0f, 0xa0, 0xa1, 0xa2, 0xa3, 0xc4, 0xc5, 0x62, 0x8d, 0x8c,
	};
	static const u8 ext[] = { 0xb6, 0xb7, 0xbe, 0xbf, 0xb6, 0xb7, 0xbe, 0xbf, 0x10, 0xb8 };
	unsigned int i = 0, k;

	for (k = 0; k < TDSM_MOV_MAX_LEN + 1; k++)
		p[k] = rnd();
	if (rnd() % 8 == 0)
		return;
	for (k = rnd() % 8; k > 4; k--)
		p[i++] = prefixes[rnd() % sizeof(prefixes)];
	if (rnd() % 3)
		p[i++] = 0x40 | (rnd() & 15);
	p[i] = opcodes[rnd() % sizeof(opcodes)];
	if (p[i++] == 0x0f)
		p[i++] = ext[rnd() % sizeof(ext)];
	if (rnd() % 4 == 0)
		p[i] |= 0xc0;	/* mod 11 */
	else if (rnd() % 2)
		p[i] &= 0x3f;	/* mod 00 */
	if (p[i] >> 6 != 3 && rnd() % 2)
		p[i] = (p[i] & 0xf8) | 4;	/* SIB */
}

/*
 * AT&T text as objdump prints it, made acceptable to as: prefixes that are
 * spelled out (rex*, data16, segment) dropped as they only restate what
 * the operands say or are no-ops, and the pseudo-index %riz removed.
 */
static void objdump_to_as(char *s)
{
	static const char *const drop[] = {
		"rex.", "rex ", "data16 ", "cs ", "ds ", "es ", "ss ",
	};
	char *p, *q;
	unsigned int i;

	p = strchr(s, '#');
	if (p)
		*p = 0;
	for (;;) {
		while (*s == ' ')
			memmove(s, s + 1, strlen(s));
		for (i = 0; i < ARRAY_SIZE(drop); i++)
			if (!strncmp(s, drop[i], strlen(drop[i])))
				break;
		if (i == ARRAY_SIZE(drop))
			break;
		p = strchr(s, ' ');
		if (!p)
			break;
		memmove(s, p, strlen(p) + 1);
	}
	p = strstr(s, ",%riz,");
	if (p) {
		memmove(p, p + 7, strlen(p + 7) + 1);	/* ",%riz,N" */
		q = strstr(s, "()");
		if (q)
			memmove(q, q + 2, strlen(q + 2) + 1);
	}
}

/* The same operation, whatever the length. */
static bool same_mov(const struct tdsm_mov *a, const struct tdsm_mov *b)
{
	return a->width == b->width && a->store == b->store &&
	       a->has_imm == b->has_imm && a->imm == b->imm && a->reg == b->reg &&
	       a->high8 == b->high8 && a->reg_width == b->reg_width &&
	       a->ext == b->ext && a->base == b->base && a->index == b->index &&
	       a->scale == b->scale && a->disp == b->disp && a->rip_rel == b->rip_rel;
}

#define FUZZ_ROUNDS	2000000
#define FUZZ_ORACLE	6000

TEST(decode_fuzz)
{
	long page = sysconf(_SC_PAGESIZE);
	unsigned int i, n, ok = 0, inval = 0, refused_n = 0, kept = 0, dis = 0;
	u8 (*keep)[TDSM_MOV_MAX_LEN] = calloc(FUZZ_ORACLE, TDSM_MOV_MAX_LEN);
	struct tdsm_mov *kept_m = calloc(FUZZ_ORACLE, sizeof(*kept_m));
	char path[300], cmd[1200], line[512];
	struct lines l = { 0 };
	u8 *map, *end, buf[TDSM_MOV_MAX_LEN + 1];
	struct code c;
	FILE *f;

	ASSERT_NE(NULL, keep);
	ASSERT_NE(NULL, kept_m);
	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, mprotect(map + page, page, PROT_NONE));
	end = map + page;

	for (i = 0; i < FUZZ_ROUNDS; i++) {
		struct tdsm_mov m, m2;
		int ret;

		random_insn(buf);
		n = rnd() % 4 ? TDSM_MOV_MAX_LEN : rnd() % (TDSM_MOV_MAX_LEN + 1);
		memcpy(end - n, buf, n);	/* a byte more would fault */
		ret = tdsm_mov_decode(end - n, n, &m);
		if (ret == -EINVAL) {
			ASSERT_LT(n, TDSM_MOV_MAX_LEN) TH_LOG("[%s]", hex(buf, n));
			inval++;
			continue;
		}
		if (ret == -EOPNOTSUPP) {
			refused_n++;
			continue;
		}
		ASSERT_EQ(0, ret);
		ok++;
		ASSERT_GE(m.len, 2);
		ASSERT_LE(m.len, n);
		ASSERT_TRUE(m.width == 1 || m.width == 2 || m.width == 4 || m.width == 8);
		ASSERT_TRUE(m.reg_width == 1 || m.reg_width == 2 ||
			    m.reg_width == 4 || m.reg_width == 8);
		ASSERT_LE(m.width, m.reg_width);
		ASSERT_TRUE(m.ext != TDSM_MOV_PLAIN || m.width == m.reg_width);
		ASSERT_LE(m.reg, m.high8 ? 3 : 15);
		ASSERT_TRUE(!m.high8 || (m.width == 1 && !m.has_imm));
		ASSERT_TRUE(!m.store || m.ext == TDSM_MOV_PLAIN);
		ASSERT_TRUE(!m.has_imm || m.store);
		ASSERT_GE(m.base, -1);
		ASSERT_LE(m.base, 15);
		ASSERT_GE(m.index, -1);
		ASSERT_LE(m.index, 15);
		ASSERT_NE(RSP, m.index);
		ASSERT_TRUE(m.scale == 1 || m.scale == 2 || m.scale == 4 || m.scale == 8);
		ASSERT_TRUE(m.index >= 0 || m.scale == 1);
		ASSERT_TRUE(!m.rip_rel || (m.base == -1 && m.index == -1));
		/* The same bytes, exactly as long, decode the same. */
		memcpy(end - m.len, buf, m.len);
		ASSERT_EQ(0, tdsm_mov_decode(end - m.len, m.len, &m2));
		ASSERT_EQ(m.len, m2.len);
		ASSERT_TRUE(same_mov(&m, &m2));
		/*
		 * Kept for objdump unless movzww/movsww (66 0F B7/BF, the
		 * extension to as wide): as has no mnemonic for them.
		 */
		if (kept < FUZZ_ORACLE && (m.ext == TDSM_MOV_PLAIN || m.width < m.reg_width)) {
			memcpy(keep[kept], buf, m.len);
			kept_m[kept++] = m;
		}
	}
	TH_LOG("%u rounds: %u decoded, %u refused, %u short", FUZZ_ROUNDS, ok,
	       refused_n, inval);
	ASSERT_GT(ok, FUZZ_ROUNDS / 20);

	/*
	 * objdump's reading of the first accepted ones: the same length, and
	 * its text, assembled again, decodes to the same operation.
	 */
	ASSERT_EQ(0, make_tmpdir());
	snprintf(path, sizeof(path), "%s/f.s", tmpdir);
	f = fopen(path, "w");
	ASSERT_NE(NULL, f);
	for (i = 0; i < kept; i++) {
		fprintf(f, "\t.byte 0x%02x", keep[i][0]);
		for (n = 1; n < kept_m[i].len; n++)
			fprintf(f, ", 0x%02x", keep[i][n]);
		fprintf(f, "\n");
	}
	ASSERT_EQ(0, fclose(f));
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && %s --64 -o f.o f.s && %s -d -w --insn-width=16 f.o > f.dis",
		 tmpdir, tool("AS", "as"), tool("OBJDUMP", "objdump"));
	ASSERT_EQ(0, run(cmd));
	snprintf(path, sizeof(path), "%s/f.dis", tmpdir);
	f = fopen(path, "r");
	ASSERT_NE(NULL, f);
	{
		unsigned long off = 0, addr;
		char *t;

		while (fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = 0;
			if (sscanf(line, " %lx:", &addr) != 1 || !strchr(line, '\t'))
				continue;
			ASSERT_LT(dis, kept);
			ASSERT_EQ(off, addr) TH_LOG("objdump: '%s', expected [%s]", line,
						    hex(keep[dis], kept_m[dis].len));
			t = strchr(line, '\t') + 1;
			n = 0;
			while (t[0] && t[0] != '\t') {
				if (t[0] != ' ')
					n++, t += 2;
				else
					t++;
			}
			ASSERT_EQ(kept_m[dis].len, n) TH_LOG("objdump: '%s'", line);
			ASSERT_EQ('\t', t[0]);
			t++;
			objdump_to_as(t);
			add_line(&l, "%s", t);
			off += n;
			dis++;
		}
		fclose(f);
	}
	cleanup_tmpdir();
	ASSERT_EQ(kept, dis);
	ASSERT_EQ(0, assemble(&l, &c));
	for (i = 0; i < kept; i++) {
		struct tdsm_mov b;

		ASSERT_EQ(0, tdsm_mov_decode(c.insn[i], c.len[i], &b))
			TH_LOG("%s [%s]", l.v[i], hex(keep[i], kept_m[i].len));
		/* as may pick another length (fewer prefixes, disp8). */
		ASSERT_TRUE(same_mov(&kept_m[i], &b))
			TH_LOG("%s: [%s] vs as [%s]", l.v[i], hex(keep[i], kept_m[i].len),
			       hex(c.insn[i], c.len[i]));
	}
	TH_LOG("%u cross-checked with objdump", kept);
	free_code(&c);
	free_lines(&l);
	munmap(map, 2 * page);
	free(keep);
	free(kept_m);
}

/* ---- emulation ----------------------------------------------------------- */

#define OLD	0x1122334455667788ULL
#define REG(r)	offsetof(struct pt_regs, r)

static unsigned long *reg_at(struct pt_regs *regs, size_t off)
{
	return (unsigned long *)((char *)regs + off);
}

/* Decodes @code (which must be accepted) into *@m. */
static void decode_ok(struct __test_metadata *_metadata, const char *text,
		      const u8 *code, unsigned int len, struct tdsm_mov *m)
{
	ASSERT_EQ(0, tdsm_mov_decode(code, len, m)) TH_LOG("%s", text);
	ASSERT_EQ(len, m->len) TH_LOG("%s", text);
}

/*
 * Loads: the register at offset @reg holds @before; after a load of @mem
 * it holds @after, and no other register changed (not ip, not the
 * neighbours).
 */
static const struct {
	const char *text;
	u8 len;
	u8 code[8];
	bool high8;
	size_t reg;
	u64 before, mem, after;
} loads[] = {
	{ "mov (%rdi), %al: the other 56 bits stay", 2, { 0x8a, 0x07 }, false,
	  REG(ax), OLD, 0xffffffffffffffabULL, 0x11223344556677abULL },
	{ "mov (%rdi), %ah: bits 8..15", 2, { 0x8a, 0x27 }, true,
	  REG(ax), OLD, 0xab, 0x112233445566ab88ULL },
	{ "mov (%rdi), %dh", 2, { 0x8a, 0x37 }, true,
	  REG(dx), OLD, 0x1cd, 0x112233445566cd88ULL },
	{ "mov (%rdi), %bh", 2, { 0x8a, 0x3f }, true,
	  REG(bx), 0, 0xff, 0xff00ULL },
	{ "mov (%rdi), %sil (REX): the low byte of RSI, not DH", 3, { 0x40, 0x8a, 0x37 }, false,
	  REG(si), OLD, 0x5a, 0x112233445566775aULL },
	{ "mov (%rdi), %r8b", 3, { 0x44, 0x8a, 0x07 }, false,
	  REG(r8), OLD, 0x00, 0x1122334455667700ULL },
	{ "mov (%rdi), %ax: the other 48 bits stay", 3, { 0x66, 0x8b, 0x07 }, false,
	  REG(ax), OLD, 0xffffffffffffbeefULL, 0x112233445566beefULL },
	{ "mov (%rdi), %eax: bits 32..63 cleared, of the register and of mem",
	  2, { 0x8b, 0x07 }, false,
	  REG(ax), OLD, 0xffffffffdeadbeefULL, 0xdeadbeefULL },
	{ "mov (%rdi), %r15d", 3, { 0x44, 0x8b, 0x3f }, false,
	  REG(r15), OLD, 0x80000000, 0x80000000ULL },
	{ "mov (%rdi), %rsp", 3, { 0x48, 0x8b, 0x27 }, false,
	  REG(sp), OLD, 0xfedcba9876543210ULL, 0xfedcba9876543210ULL },
	{ "movzbl (%rdi), %eax", 3, { 0x0f, 0xb6, 0x07 }, false,
	  REG(ax), OLD, 0xff80, 0x80ULL },
	{ "movzwq (%rdi), %rcx", 4, { 0x48, 0x0f, 0xb7, 0x0f }, false,
	  REG(cx), OLD, 0xffff8000, 0x8000ULL },
	{ "movzbw (%rdi), %ax: the upper 48 bits stay", 4, { 0x66, 0x0f, 0xb6, 0x07 }, false,
	  REG(ax), OLD, 0xf0, 0x11223344556600f0ULL },
	{ "movsbq (%rdi), %rax: negative", 4, { 0x48, 0x0f, 0xbe, 0x07 }, false,
	  REG(ax), OLD, 0x80, 0xffffffffffffff80ULL },
	{ "movsbq (%rdi), %rax: positive", 4, { 0x48, 0x0f, 0xbe, 0x07 }, false,
	  REG(ax), 0xffffffffffffff80ULL, 0xff7f, 0x7fULL },
	{ "movsbl (%rdi), %eax: 32-bit result, upper cleared", 3, { 0x0f, 0xbe, 0x07 }, false,
	  REG(ax), OLD, 0x80, 0xffffff80ULL },
	{ "movsbw (%rdi), %ax: 16-bit result, the rest stays", 4, { 0x66, 0x0f, 0xbe, 0x07 }, false,
	  REG(ax), OLD, 0x80, 0x112233445566ff80ULL },
	{ "movsww (%rdi), %ax: a plain 16-bit load", 4, { 0x66, 0x0f, 0xbf, 0x07 }, false,
	  REG(ax), OLD, 0x8001, 0x1122334455668001ULL },
	{ "movswl (%rdi), %r9d", 4, { 0x44, 0x0f, 0xbf, 0x0f }, false,
	  REG(r9), OLD, 0x8001, 0xffff8001ULL },
	{ "movswq (%rdi), %rdx", 4, { 0x48, 0x0f, 0xbf, 0x17 }, false,
	  REG(dx), OLD, 0x8001, 0xffffffffffff8001ULL },
	{ "movslq (%rdi), %rax: negative", 3, { 0x48, 0x63, 0x07 }, false,
	  REG(ax), OLD, 0x80000000, 0xffffffff80000000ULL },
	{ "movslq (%rdi), %rax: positive", 3, { 0x48, 0x63, 0x07 }, false,
	  REG(ax), 0xffffffff80000000ULL, 0xffffffff7fffffffULL, 0x7fffffffULL },
	{ "movq (%rdi), %r12", 3, { 0x4c, 0x8b, 0x27 }, false,
	  REG(r12), OLD, 0x8000000000000001ULL, 0x8000000000000001ULL },
};

TEST(load_result)
{
	struct pt_regs regs, want;
	struct tdsm_mov m;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(loads); i++) {
		decode_ok(_metadata, loads[i].text, loads[i].code, loads[i].len, &m);
		ASSERT_EQ(loads[i].high8, m.high8) TH_LOG("%s", loads[i].text);
		/* Every other register holds a pattern that must stay. */
		memset(&regs, 0x5a, sizeof(regs));
		*reg_at(&regs, loads[i].reg) = loads[i].before;
		want = regs;
		*reg_at(&want, loads[i].reg) = loads[i].after;
		tdsm_mov_load_result(&m, &regs, loads[i].mem);
		ASSERT_EQ(loads[i].after, *reg_at(&regs, loads[i].reg))
			TH_LOG("%s", loads[i].text);
		ASSERT_EQ(0, memcmp(&want, &regs, sizeof(regs))) TH_LOG("%s", loads[i].text);
	}
}

/* Stores: the value stored, from the registers store_value() sets up. */
static const struct {
	const char *text;
	u8 len;
	u8 code[8];
	u64 value;
} stores[] = {
	{ "mov %ah, (%rdi)", 2, { 0x88, 0x27 }, 0x77 },
	{ "mov %al, (%rdi)", 2, { 0x88, 0x07 }, 0x88 },
	{ "mov %sil, (%rdi)", 3, { 0x40, 0x88, 0x37 }, 0xa5 },
	{ "mov %cx, (%rdi)", 3, { 0x66, 0x89, 0x0f }, 0x3210 },
	{ "mov %ecx, (%rdi)", 2, { 0x89, 0x0f }, 0x76543210 },
	{ "mov %rcx, (%rdi)", 3, { 0x48, 0x89, 0x0f }, 0xfedcba9876543210ULL },
	{ "mov %r9, (%rdi)", 3, { 0x4c, 0x89, 0x0f }, 0x0102030405060708ULL },
	{ "movb $0xff, (%rdi)", 3, { 0xc6, 0x07, 0xff }, 0xff },
	{ "movw $0x8000, (%rdi)", 5, { 0x66, 0xc7, 0x07, 0x00, 0x80 }, 0x8000 },
	{ "movl $-2, (%rdi)", 6, { 0xc7, 0x07, 0xfe, 0xff, 0xff, 0xff }, 0xfffffffe },
	{ "movq $-2, (%rdi)", 7, { 0x48, 0xc7, 0x07, 0xfe, 0xff, 0xff, 0xff },
	  0xfffffffffffffffeULL },
	{ "movq $-2^31, (%rdi)", 7, { 0x48, 0xc7, 0x07, 0x00, 0x00, 0x00, 0x80 },
	  0xffffffff80000000ULL },
	{ "movq $2^31-1, (%rdi)", 7, { 0x48, 0xc7, 0x07, 0xff, 0xff, 0xff, 0x7f },
	  0x7fffffffULL },
};

TEST(store_value)
{
	struct pt_regs regs;
	struct tdsm_mov m;
	unsigned int i;

	memset(&regs, 0, sizeof(regs));
	regs.ax = 0x1122334455667788ULL;
	regs.cx = 0xfedcba9876543210ULL;
	regs.si = 0x00000000000000a5ULL;
	regs.r9 = 0x0102030405060708ULL;

	for (i = 0; i < ARRAY_SIZE(stores); i++) {
		decode_ok(_metadata, stores[i].text, stores[i].code, stores[i].len, &m);
		ASSERT_TRUE(m.store) TH_LOG("%s", stores[i].text);
		ASSERT_EQ(stores[i].value, tdsm_mov_store_value(&m, &regs))
			TH_LOG("%s", stores[i].text);
	}
}

/* Addresses, from the registers addr() sets up; ip is the instruction's. */
static const struct {
	const char *text;
	u8 len;
	u8 code[10];
	u64 addr;
} addrs[] = {
	{ "movq 0x10(%rax,%rbx,8), %rcx", 5, { 0x48, 0x8b, 0x4c, 0xd8, 0x10 },
	  0x1000 + 3 * 8 + 0x10 },
	{ "movq -0x10(%rip), %rax", 7, { 0x48, 0x8b, 0x05, 0xf0, 0xff, 0xff, 0xff },
	  0x400000 + 7 - 0x10 },
	{ "movq -8(%rsp), %rax", 5, { 0x48, 0x8b, 0x44, 0x24, 0xf8 }, 0x7ffc0000 - 8 },
	{ "movl 0(%rbp), %eax", 3, { 0x8b, 0x45, 0x00 }, 0x7ffd0000 },
	{ "movl (%r12), %eax", 4, { 0x41, 0x8b, 0x04, 0x24 }, 0x5000 },
	{ "movl 4(%r13,%r12), %eax", 5, { 0x43, 0x8b, 0x44, 0x25, 0x04 },
	  0x6000 + 0x5000 + 4 },
	{ "movl 0x100(,%rsi,4), %eax", 7, { 0x8b, 0x04, 0xb5, 0x00, 0x01, 0x00, 0x00 },
	  0x100 - 4 },
	{ "movl -0x10, %eax", 7, { 0x8b, 0x04, 0x25, 0xf0, 0xff, 0xff, 0xff },
	  0xfffffffffffffff0ULL },
	{ "movl $1, 8(%rip)", 10, { 0xc7, 0x05, 0x08, 0x00, 0x00, 0x00, 1, 0, 0, 0 },
	  0x400000 + 10 + 8 },
};

TEST(addr)
{
	struct pt_regs regs;
	struct tdsm_mov m;
	unsigned int i;

	memset(&regs, 0, sizeof(regs));
	regs.ax = 0x1000;
	regs.bx = 3;
	regs.sp = 0x7ffc0000;
	regs.bp = 0x7ffd0000;
	regs.r12 = 0x5000;
	regs.r13 = 0x6000;
	regs.si = 0xffffffffffffffffULL;
	regs.ip = 0x400000;

	for (i = 0; i < ARRAY_SIZE(addrs); i++) {
		decode_ok(_metadata, addrs[i].text, addrs[i].code, addrs[i].len, &m);
		ASSERT_EQ(addrs[i].addr, tdsm_mov_addr(&m, &regs)) TH_LOG("%s", addrs[i].text);
	}
	/* The last one's immediate came through too. */
	ASSERT_EQ(1, m.imm);
}

TEST_HARNESS_MAIN
