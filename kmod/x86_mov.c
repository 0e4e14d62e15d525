// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: a decoder and emulator for the x86-64 mov forms that compilers
 * emit for plain loads and stores (see x86_mov.h), and the encoder of
 * tinydsm's own access sites.
 *
 * Decoded, with an optional 66 operand-size prefix, REX right before the
 * opcode and redundant CS/SS/DS/ES segment prefixes:
 *
 *   8B /r  mov r, r/m          89 /r  mov r/m, r          C7 /0  mov r/m, imm
 *   8A /r  mov r8, r/m8        88 /r  mov r/m8, r8        C6 /0  mov r/m8, imm8
 *   0F B6, 0F B7 /r  movzx     0F BE, 0F BF /r  movsx     REX.W 63 /r  movsxd
 *
 * Everything else is refused with -EOPNOTSUPP, in particular FS/GS
 * overrides, the 67 address-size prefix, LOCK, REP/REPNE, VEX, EVEX, the
 * moffs forms A0-A3 and register-only ModRM (mod 11).
 */
#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/stddef.h>
#include <asm/ptrace.h>
#endif

#include "x86_mov.h"

/* Where register 0..15 (x86-64 numbering) lives in struct pt_regs. */
static const unsigned short tdsm_mov_reg_offset[16] = {
	offsetof(struct pt_regs, ax),
	offsetof(struct pt_regs, cx),
	offsetof(struct pt_regs, dx),
	offsetof(struct pt_regs, bx),
	offsetof(struct pt_regs, sp),
	offsetof(struct pt_regs, bp),
	offsetof(struct pt_regs, si),
	offsetof(struct pt_regs, di),
	offsetof(struct pt_regs, r8),
	offsetof(struct pt_regs, r9),
	offsetof(struct pt_regs, r10),
	offsetof(struct pt_regs, r11),
	offsetof(struct pt_regs, r12),
	offsetof(struct pt_regs, r13),
	offsetof(struct pt_regs, r14),
	offsetof(struct pt_regs, r15),
};

/**
 * tdsm_mov_reg() - a general-purpose register of a user thread
 * @regs: the thread's registers
 * @reg: the register, 0..15 in x86-64 numbering (ax cx dx bx sp bp si di
 *	r8..r15)
 *
 * Return: the register's slot in @regs, or NULL if @reg is out of range.
 */
unsigned long *tdsm_mov_reg(struct pt_regs *regs, unsigned int reg)
{
	if (reg >= 16)
		return NULL;
	return (unsigned long *)((u8 *)regs + tdsm_mov_reg_offset[reg]);
}

/* The value of register @reg (0..15), read through a const @regs. */
static u64 tdsm_mov_reg_get(const struct pt_regs *regs, unsigned int reg)
{
	return *(const unsigned long *)((const u8 *)regs + tdsm_mov_reg_offset[reg & 15]);
}

/* All ones in the low @width bytes (1, 2, 4 or 8). */
static u64 tdsm_mov_mask(unsigned int width)
{
	return width >= 8 ? ~0ULL : (1ULL << (width * 8)) - 1;
}

/* Instruction bytes, read with the two ways of running out. */
struct tdsm_mov_cursor {
	const u8 *code;
	unsigned int n;
	unsigned int pos;
};

/*
 * The next byte into *@b. -EOPNOTSUPP past 15 bytes, which is no valid
 * instruction whatever follows; -EINVAL if the caller's bytes run out first.
 */
static int tdsm_mov_next(struct tdsm_mov_cursor *c, u8 *b)
{
	if (c->pos >= TDSM_MOV_MAX_LEN)
		return -EOPNOTSUPP;
	if (c->pos >= c->n)
		return -EINVAL;
	*b = c->code[c->pos++];
	return 0;
}

/* The next @size (1, 2 or 4) bytes as a little-endian value, sign-extended. */
static int tdsm_mov_next_signed(struct tdsm_mov_cursor *c, unsigned int size, s32 *val)
{
	u32 v = 0;
	unsigned int i;
	int err;
	u8 b;

	for (i = 0; i < size; i++) {
		err = tdsm_mov_next(c, &b);
		if (err)
			return err;
		v |= (u32)b << (i * 8);
	}
	if (size == 1)
		*val = (s8)v;
	else if (size == 2)
		*val = (s16)v;
	else
		*val = (s32)v;
	return 0;
}

/* REX prefix bits. */
#define TDSM_REX_W	0x8
#define TDSM_REX_R	0x4
#define TDSM_REX_X	0x2
#define TDSM_REX_B	0x1

/*
 * The ModRM byte, SIB byte and displacement of a memory operand: the
 * operand into @m, the 3-bit ModRM.reg field (without REX.R) into *@regf.
 */
static int tdsm_mov_modrm(struct tdsm_mov_cursor *c, u8 rex, struct tdsm_mov *m, u8 *regf)
{
	u8 modrm, mod, rm, sib;
	int err;

	err = tdsm_mov_next(c, &modrm);
	if (err)
		return err;
	mod = modrm >> 6;
	rm = modrm & 7;
	*regf = (modrm >> 3) & 7;
	if (mod == 3)
		return -EOPNOTSUPP;	/* a register, not memory */

	m->base = -1;
	m->index = -1;
	m->scale = 1;
	m->disp = 0;
	m->rip_rel = false;
	if (rm == 4) {
		err = tdsm_mov_next(c, &sib);
		if (err)
			return err;
		/* Index 100 is "no index" unless REX.X makes it r12. */
		if (((sib >> 3) & 7) != 4 || (rex & TDSM_REX_X)) {
			m->index = ((sib >> 3) & 7) | (rex & TDSM_REX_X ? 8 : 0);
			m->scale = 1 << (sib >> 6);
		}
		/* Base 101 with mod 00 is "disp32, no base", REX.B or not. */
		if ((sib & 7) == 5 && mod == 0)
			mod = 2;
		else
			m->base = (sib & 7) | (rex & TDSM_REX_B ? 8 : 0);
	} else if (rm == 5 && mod == 0) {
		/* RIP-relative, REX.B or not. */
		m->rip_rel = true;
		mod = 2;
	} else {
		m->base = rm | (rex & TDSM_REX_B ? 8 : 0);
	}

	if (mod == 1)
		return tdsm_mov_next_signed(c, 1, &m->disp);
	if (mod == 2)
		return tdsm_mov_next_signed(c, 4, &m->disp);
	return 0;
}

/**
 * tdsm_mov_decode() - decode a mov between a register or immediate and memory
 * @code: the instruction's bytes
 * @n: how many bytes @code holds (more than the instruction is fine)
 * @m: the decoded instruction
 *
 * Only the forms listed at the top of x86_mov.c are decoded.
 *
 * Return: 0, -EOPNOTSUPP for any other instruction or prefix, or -EINVAL if
 * the @n bytes end before the instruction does. @m is meaningful only on 0.
 */
int tdsm_mov_decode(const u8 *code, unsigned int n, struct tdsm_mov *m)
{
	struct tdsm_mov_cursor c = { .code = code, .n = n };
	bool opsize = false;
	u8 rex = 0, op, regf;
	unsigned int wide;	/* width of 16/32/64-bit forms */
	s32 imm;
	int err;

	/* Legacy prefixes, up to the first byte that is not one. */
	for (;;) {
		err = tdsm_mov_next(&c, &op);
		if (err)
			return err;
		switch (op) {
		case 0x66:
			opsize = true;
			continue;
		case 0x26:	/* ES, CS, SS, DS: no-ops in 64-bit mode */
		case 0x2e:
		case 0x36:
		case 0x3e:
			continue;
		case 0x64:	/* FS, GS: another address space */
		case 0x65:
		case 0x67:	/* 32-bit addressing */
		case 0xf0:	/* LOCK, REPNE, REP */
		case 0xf2:
		case 0xf3:
			return -EOPNOTSUPP;
		}
		break;
	}
	/* REX, only right before the opcode: a prefix after it is refused below. */
	if ((op & 0xf0) == 0x40) {
		rex = op;
		err = tdsm_mov_next(&c, &op);
		if (err)
			return err;
	}

	m->has_imm = false;
	m->imm = 0;
	m->reg = 0;
	m->high8 = false;
	m->ext = TDSM_MOV_PLAIN;
	wide = rex & TDSM_REX_W ? 8 : opsize ? 2 : 4;

	switch (op) {
	case 0x88:	/* mov r/m8, r8 */
	case 0x8a:	/* mov r8, r/m8 */
		m->store = op == 0x88;
		m->width = 1;
		break;
	case 0x89:	/* mov r/m, r */
	case 0x8b:	/* mov r, r/m */
		m->store = op == 0x89;
		m->width = wide;
		break;
	case 0xc6:	/* mov r/m8, imm8 */
		m->store = true;
		m->has_imm = true;
		m->width = 1;
		break;
	case 0xc7:	/* mov r/m, imm16/imm32 */
		m->store = true;
		m->has_imm = true;
		m->width = wide;
		break;
	case 0x63:	/* movsxd r64, r/m32; without REX.W it is not a sign extension */
		if (!(rex & TDSM_REX_W))
			return -EOPNOTSUPP;
		m->store = false;
		m->width = 4;
		m->ext = TDSM_MOV_SX;
		break;
	case 0x0f:
		err = tdsm_mov_next(&c, &op);
		if (err)
			return err;
		if (op != 0xb6 && op != 0xb7 && op != 0xbe && op != 0xbf)
			return -EOPNOTSUPP;
		m->store = false;
		m->width = op & 1 ? 2 : 1;
		m->ext = op & 8 ? TDSM_MOV_SX : TDSM_MOV_ZX;
		break;
	default:
		return -EOPNOTSUPP;
	}
	m->reg_width = m->ext == TDSM_MOV_PLAIN ? m->width : wide;

	err = tdsm_mov_modrm(&c, rex, m, &regf);
	if (err)
		return err;

	if (m->has_imm) {
		if (regf != 0)
			return -EOPNOTSUPP;	/* C6/C7 /1../7: not mov */
		err = tdsm_mov_next_signed(&c, m->width > 4 ? 4 : m->width, &imm);
		if (err)
			return err;
		m->imm = imm;
	} else if (m->reg_width == 1 && !rex && regf >= 4) {
		m->reg = regf - 4;	/* AH, CH, DH, BH */
		m->high8 = true;
	} else {
		m->reg = regf | (rex & TDSM_REX_R ? 8 : 0);
	}
	m->len = c.pos;
	return 0;
}

/**
 * tdsm_mov_addr() - the effective address of a decoded mov
 * @m: the instruction, from tdsm_mov_decode()
 * @regs: the registers of the thread executing it; regs->ip is the address
 *	of the instruction
 *
 * Return: base + index * scale + disp, or regs->ip + len + disp for a
 * RIP-relative operand, modulo 2^64.
 */
u64 tdsm_mov_addr(const struct tdsm_mov *m, const struct pt_regs *regs)
{
	u64 addr = (u64)(s64)m->disp;

	if (m->rip_rel)
		addr += regs->ip + m->len;
	if (m->base >= 0)
		addr += tdsm_mov_reg_get(regs, m->base);
	if (m->index >= 0)
		addr += tdsm_mov_reg_get(regs, m->index) * m->scale;
	return addr;
}

/**
 * tdsm_mov_store_value() - the value a decoded store writes
 * @m: the instruction, a store from tdsm_mov_decode()
 * @regs: the registers of the thread executing it
 *
 * Return: the immediate or the source register (bits 8..15 of it for AH..BH),
 * truncated to the low @m->width bytes.
 */
u64 tdsm_mov_store_value(const struct tdsm_mov *m, const struct pt_regs *regs)
{
	u64 v;

	if (m->has_imm)
		v = (u64)m->imm;
	else if (m->high8)
		v = tdsm_mov_reg_get(regs, m->reg) >> 8;
	else
		v = tdsm_mov_reg_get(regs, m->reg);
	return v & tdsm_mov_mask(m->width);
}

/**
 * tdsm_mov_load_result() - complete a decoded load into its register
 * @m: the instruction, a load from tdsm_mov_decode()
 * @regs: the registers of the thread executing it
 * @mem: what the memory holds, in its low @m->width bytes (the rest ignored)
 *
 * Extends @mem as movzx, movsx and movsxd do, then writes it as x86 does: a
 * 64-bit register whole; a 32-bit one zeroing bits 32..63; a 16- or 8-bit
 * one keeping the other bits; AH..BH into bits 8..15. Does not touch
 * regs->ip.
 */
void tdsm_mov_load_result(const struct tdsm_mov *m, struct pt_regs *regs, u64 mem)
{
	unsigned long *r = tdsm_mov_reg(regs, m->reg);
	unsigned int bits = m->width * 8;
	u64 v = mem & tdsm_mov_mask(m->width);

	if (m->ext == TDSM_MOV_SX && bits < 64 && (v >> (bits - 1)) & 1)
		v |= ~tdsm_mov_mask(m->width);

	switch (m->reg_width) {
	case 8:
		*r = v;
		break;
	case 4:
		*r = (u32)v;
		break;
	case 2:
		*r = (*r & ~0xffffUL) | (v & 0xffff);
		break;
	default:
		if (m->high8)
			*r = (*r & ~0xff00UL) | ((v & 0xff) << 8);
		else
			*r = (*r & ~0xffUL) | (v & 0xff);
		break;
	}
}

/*
 * The operand bytes every site form ends with: ModRM mod 10 (disp32), reg
 * V, rm A (rm 100, RSP or R12, needs a SIB: no index, base A), and a zero
 * disp32. Returns how many it wrote at @out.
 */
static unsigned int tdsm_site_modrm(u8 vreg, u8 areg, u8 *out)
{
	unsigned int len = 0, i;

	out[len++] = 0x80 | (vreg & 7) << 3 | (areg & 7);
	if ((areg & 7) == 4)
		out[len++] = 0x24;
	for (i = 0; i < 4; i++)
		out[len++] = 0;
	return len;
}

/*
 * The REX prefix of a site form: W for 8 bytes, R and B for registers 8..15
 * (0x40, an empty one, if none of them).
 */
static u8 tdsm_site_rex(u8 width, u8 vreg, u8 areg)
{
	return 0x40 | (width == 8 ? TDSM_REX_W : 0) |
	       (vreg & 8 ? TDSM_REX_R : 0) | (areg & 8 ? TDSM_REX_B : 0);
}

/**
 * tdsm_site_encode() - encode one of tinydsm's access-site instructions
 * @width: bytes accessed: 1, 2, 4 or 8
 * @store: a store of the value register (else a load into it)
 * @vreg: the value register, 0..15 in x86-64 numbering
 * @areg: the address register, 0..15
 * @out: at least TDSM_SITE_MAX_LEN bytes for the instruction
 *
 * Emits exactly what GNU as emits for the site forms, all with a zero
 * 32-bit displacement (so that the site can be rewritten in place):
 *
 *   load 8: {disp32} movq 0(%A), %V       store 8: {disp32} movq %V, 0(%A)
 *   load 4: {disp32} movl 0(%A), %Vd      store 4: {disp32} movl %Vd, 0(%A)
 *   load 2: {disp32} movzwl 0(%A), %Vd    store 2: {disp32} movw %Vw, 0(%A)
 *   load 1: {disp32} movzbl 0(%A), %Vd    store 1: {disp32} movb %Vb, 0(%A)
 *
 * Return: the length of the instruction, or -EINVAL for a bad argument.
 */
int tdsm_site_encode(u8 width, bool store, u8 vreg, u8 areg, u8 *out)
{
	unsigned int len = 0;
	u8 rex;

	if ((width != 1 && width != 2 && width != 4 && width != 8) ||
	    vreg >= 16 || areg >= 16)
		return -EINVAL;

	if (store && width == 2)
		out[len++] = 0x66;
	rex = tdsm_site_rex(width, vreg, areg);
	/* SPL, BPL, SIL, DIL need a REX, even an empty one. */
	if (rex != 0x40 || (store && width == 1 && vreg >= 4))
		out[len++] = rex;

	if (store) {
		out[len++] = width == 1 ? 0x88 : 0x89;
	} else if (width >= 4) {
		out[len++] = 0x8b;
	} else {
		out[len++] = 0x0f;
		out[len++] = width == 1 ? 0xb6 : 0xb7;
	}

	return len + tdsm_site_modrm(vreg, areg, out + len);
}

/**
 * tdsm_site_encode_atomic() - encode one of tinydsm's atomic access sites
 * @op: the read-modify-write (enum tdsm_site_atomic)
 * @width: bytes of the word: 4 or 8
 * @vreg: the value register (the operand in, the word before out), 0..15
 * @areg: the address register, 0..15
 * @out: at least TDSM_SITE_MAX_LEN bytes for the instruction
 *
 * Emits what GNU as emits for the atomic site forms, with a zero 32-bit
 * displacement like every site:
 *
 *   xadd 8: lock {disp32} xaddq %V, 0(%A)   xchg 8: {disp32} xchgq %V, 0(%A)
 *   xadd 4: lock {disp32} xaddl %Vd, 0(%A)  xchg 4: {disp32} xchgl %Vd, 0(%A)
 *   cmpxchg 8: lock {disp32} cmpxchgq %V, 0(%A)
 *   cmpxchg 4: lock {disp32} cmpxchgl %Vd, 0(%A)
 *
 * (cmpxchg compares with RAX, and loads the word into it if they differ.)
 *
 * Return: the length of the instruction, or -EINVAL for a bad argument.
 */
int tdsm_site_encode_atomic(enum tdsm_site_atomic op, u8 width, u8 vreg,
			    u8 areg, u8 *out)
{
	unsigned int len = 0;
	u8 rex;

	if ((op != TDSM_SITE_XADD && op != TDSM_SITE_XCHG &&
	     op != TDSM_SITE_CMPXCHG) ||
	    (width != 4 && width != 8) || vreg >= 16 || areg >= 16)
		return -EINVAL;
	if (op != TDSM_SITE_XCHG)
		out[len++] = 0xf0;	/* lock */
	rex = tdsm_site_rex(width, vreg, areg);
	if (rex != 0x40)
		out[len++] = rex;
	if (op == TDSM_SITE_XCHG) {
		out[len++] = 0x87;
	} else {
		out[len++] = 0x0f;
		out[len++] = op == TDSM_SITE_XADD ? 0xc1 : 0xb1;
	}
	return len + tdsm_site_modrm(vreg, areg, out + len);
}
