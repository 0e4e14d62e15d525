/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsm: decoding and emulating the x86-64 mov forms that compilers emit
 * for plain loads and stores, so that a uprobe at an access site of a
 * binary not built with tinydsm's macros can perform the access through the
 * module and step over the instruction.
 *
 * Pure C: x86_mov.c also builds on the host for its unit test
 * (selftests/tinydsm/x86_mov_test.c), which provides u8..s64, bool, the
 * errno values and a struct pt_regs with the kernel's field names.
 */
#ifndef _TDSM_X86_MOV_H
#define _TDSM_X86_MOV_H

#ifdef __KERNEL__
#include <linux/types.h>
#endif

struct pt_regs;

/* Longest x86 instruction. */
#define TDSM_MOV_MAX_LEN	15

/*
 * Longest site form tdsm_site_encode() and tdsm_site_encode_atomic() emit
 * (F0 REX 0F C1 ModRM SIB disp32: lock xadd or lock cmpxchg with RSP or
 * R12 as the base).
 */
#define TDSM_SITE_MAX_LEN	10

/**
 * enum tdsm_site_atomic - the read-modify-write of an atomic access site
 * @TDSM_SITE_XADD: lock xadd V, 0(A): the word += V, V = the word before
 * @TDSM_SITE_XCHG: xchg V, 0(A): the word = V, V = the word before
 *	(a memory operand makes xchg locked without a prefix)
 * @TDSM_SITE_CMPXCHG: lock cmpxchg V, 0(A): if the word = RAX, the word = V
 *	(ZF set), else RAX = the word (ZF clear)
 */
enum tdsm_site_atomic {
	TDSM_SITE_XADD = 1,
	TDSM_SITE_XCHG,
	TDSM_SITE_CMPXCHG,
};

/**
 * enum tdsm_mov_ext - how a load extends memory into its register
 * @TDSM_MOV_PLAIN: no extension: the memory is as wide as the register
 * @TDSM_MOV_ZX: zero extension (movzx)
 * @TDSM_MOV_SX: sign extension (movsx, movsxd)
 */
enum tdsm_mov_ext {
	TDSM_MOV_PLAIN,
	TDSM_MOV_ZX,
	TDSM_MOV_SX,
};

/**
 * struct tdsm_mov - a decoded mov between a register (or immediate) and memory
 * @len: length of the instruction in bytes, 1..15
 * @width: bytes of memory accessed: 1, 2, 4 or 8
 * @store: the memory is written (else read)
 * @has_imm: a store of an immediate (opcodes C6 and C7); @reg is unused
 * @imm: the immediate, sign-extended to 64 bits (only with @has_imm)
 * @reg: the register operand, 0..15 in x86-64 numbering (ax cx dx bx sp bp
 *	si di r8..r15): the destination of a load, the source of a store. With
 *	@high8 it is 0..3, the register whose bits 8..15 are the operand.
 * @high8: the register operand is AH, CH, DH or BH (an 8-bit operand with
 *	ModRM.reg 4..7 and no REX prefix); @reg is then 0..3 for AX..BX
 * @reg_width: bytes of the register operand: 1, 2, 4 or 8. For a load the
 *	width of the register written, which exceeds @width for movzx, movsx
 *	and movsxd; for a store it equals @width.
 * @ext: for a load, how the @width bytes of memory extend to @reg_width;
 *	TDSM_MOV_PLAIN for stores
 * @base: base register of the memory operand, 0..15, or -1 for none
 * @index: index register of the memory operand, 0..15, or -1 for none
 * @scale: multiplier of @index: 1, 2, 4 or 8 (1 when there is no index)
 * @disp: displacement, sign-extended from 8 bits for a disp8
 * @rip_rel: the address is @disp relative to the next instruction; @base and
 *	@index are then -1
 */
struct tdsm_mov {
	u8 len;
	u8 width;
	bool store;
	bool has_imm;
	s64 imm;
	u8 reg;
	bool high8;
	u8 reg_width;
	enum tdsm_mov_ext ext;
	s8 base;
	s8 index;
	u8 scale;
	s32 disp;
	bool rip_rel;
};

int tdsm_mov_decode(const u8 *code, unsigned int n, struct tdsm_mov *m);
u64 tdsm_mov_addr(const struct tdsm_mov *m, const struct pt_regs *regs);
u64 tdsm_mov_store_value(const struct tdsm_mov *m, const struct pt_regs *regs);
void tdsm_mov_load_result(const struct tdsm_mov *m, struct pt_regs *regs, u64 mem);
unsigned long *tdsm_mov_reg(struct pt_regs *regs, unsigned int reg);
int tdsm_site_encode(u8 width, bool store, u8 vreg, u8 areg, u8 *out);
int tdsm_site_encode_atomic(enum tdsm_site_atomic op, u8 width, u8 vreg,
			    u8 areg, u8 *out);

#endif /* _TDSM_X86_MOV_H */
