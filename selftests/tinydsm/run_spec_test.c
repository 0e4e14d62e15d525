// SPDX-License-Identifier: GPL-2.0
/*
 * A host test (make run-spec-test; no module, no lab): what a job of
 * tinydsmctl run is on the wire (tools/lib/ctl/tdd_spec.c). Every byte
 * survives the encoding; every bound and malformed input is refused with
 * its errno; a job sent line by line (as tinydsmctl and the coordinator
 * send it) comes back the same, in lines that fit the daemons' 512 bytes
 * with a MAC; the placement covers every rank once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"
#include "tdd_ctl.h"
#include "tdd_spec.h"

#define LINE_MAX_WIRE	512	/* TDD_LINE_MAX, newline included */
#define MAC_SUFFIX	69	/* " mac=" and 64 hex digits (auth.h) */

TEST(encoding_round_trip)
{
	unsigned char all[256], back[256];
	char enc[3 * 256 + 1];
	ssize_t n;
	int i;

	for (i = 0; i < 256; i++)
		all[i] = i;
	ASSERT_EQ(256, tdd_enc(enc, sizeof(enc), all, sizeof(all)));
	EXPECT_EQ(NULL, strchr(enc, ' '));
	for (i = 0; enc[i]; i++)
		EXPECT_TRUE(enc[i] > ' ' && enc[i] < 0x7f);
	n = tdd_dec(back, sizeof(back), enc);
	ASSERT_EQ(256, n);
	EXPECT_EQ(0, memcmp(all, back, sizeof(all)));
	/* Cut where it fits, never in the middle of a %XX. */
	EXPECT_EQ(2, tdd_enc(enc, 5, "a\tb", 3));
	EXPECT_STREQ("a%09", enc);
	EXPECT_EQ(0, tdd_enc(enc, 3, "\n", 1));
}

TEST(decoding_refuses_malformed)
{
	char out[16];

	EXPECT_EQ(-1, tdd_dec(out, sizeof(out), "%zz"));
	EXPECT_EQ(-1, tdd_dec(out, sizeof(out), "%4"));
	EXPECT_EQ(-1, tdd_dec(out, sizeof(out), "%"));
	EXPECT_EQ(-1, tdd_dec(out, sizeof(out), "a b"));
	EXPECT_EQ(-1, tdd_dec(out, sizeof(out), "a\tb"));
	EXPECT_EQ(-1, tdd_dec(out, 3, "abcd"));
	EXPECT_EQ(4, tdd_dec(out, 4, "abcd"));
	EXPECT_EQ(1, tdd_dec(out, sizeof(out), "%25"));
	EXPECT_EQ('%', out[0]);
}

TEST(bounds_and_refusals)
{
	static struct tdd_spec s;
	static char big[TDD_RUN_ENV_ITEM_MAX + 2];
	int i;

	tdd_spec_init(&s);
	EXPECT_EQ(EINVAL, tdd_spec_check(&s));	/* nothing at all */

	tdd_spec_init(&s);
	EXPECT_EQ(0, tdd_spec_add(&s, TDD_SPEC_CWD, false, "/", 1));
	EXPECT_EQ(EINVAL, tdd_spec_add(&s, TDD_SPEC_CWD, false, "/tmp", 4));
	EXPECT_NE(NULL, strstr(s.why, "two working"));
	/* After an error every add fails the same way. */
	EXPECT_EQ(EINVAL, tdd_spec_add(&s, TDD_SPEC_ARG, false, "true", 4));

	tdd_spec_init(&s);
	EXPECT_EQ(EINVAL, tdd_spec_add(&s, TDD_SPEC_ARG, true, "x", 1));

	tdd_spec_init(&s);
	EXPECT_EQ(EINVAL, tdd_spec_add(&s, TDD_SPEC_ARG, false, "a\0b", 3));

	tdd_spec_init(&s);
	for (i = 0; i < TDD_RUN_ARGC_MAX; i++)
		ASSERT_EQ(0, tdd_spec_add(&s, TDD_SPEC_ARG, false, "a", 1));
	EXPECT_EQ(E2BIG, tdd_spec_add(&s, TDD_SPEC_ARG, false, "a", 1));

	tdd_spec_init(&s);
	memset(big, 'x', sizeof(big));
	EXPECT_EQ(0, tdd_spec_add(&s, TDD_SPEC_ARG, false, big, TDD_RUN_ARG_MAX));
	EXPECT_EQ(E2BIG, tdd_spec_add(&s, TDD_SPEC_ARG, true, "x", 1));

	tdd_spec_init(&s);
	for (i = 0; i < TDD_RUN_ARGV_BYTES / TDD_RUN_ARG_MAX - 1; i++)
		ASSERT_EQ(0, tdd_spec_add(&s, TDD_SPEC_ARG, false, big, TDD_RUN_ARG_MAX));
	EXPECT_EQ(E2BIG, tdd_spec_add(&s, TDD_SPEC_ARG, false, big, TDD_RUN_ARG_MAX));

	tdd_spec_init(&s);
	EXPECT_EQ(E2BIG, tdd_spec_add(&s, TDD_SPEC_ENV, false, big,
				      TDD_RUN_ENV_ITEM_MAX + 1));

	tdd_spec_init(&s);
	EXPECT_EQ(E2BIG, tdd_spec_add(&s, TDD_SPEC_CWD, false, big, TDD_RUN_CWD_MAX));

	/* The whole job. */
	tdd_spec_init(&s);
	tdd_spec_add(&s, TDD_SPEC_CWD, false, "relative", 8);
	tdd_spec_add(&s, TDD_SPEC_ARG, false, "true", 4);
	EXPECT_EQ(EINVAL, tdd_spec_check(&s));
	EXPECT_NE(NULL, strstr(s.why, "absolute"));

	tdd_spec_init(&s);
	tdd_spec_add(&s, TDD_SPEC_CWD, false, "/", 1);
	tdd_spec_add(&s, TDD_SPEC_ARG, false, "", 0);
	EXPECT_EQ(EINVAL, tdd_spec_check(&s));

	tdd_spec_init(&s);
	tdd_spec_add(&s, TDD_SPEC_CWD, false, "/", 1);
	tdd_spec_add(&s, TDD_SPEC_ARG, false, "true", 4);
	tdd_spec_add(&s, TDD_SPEC_ENV, false, "=x", 2);
	EXPECT_EQ(EINVAL, tdd_spec_check(&s));

	tdd_spec_init(&s);
	tdd_spec_add(&s, TDD_SPEC_CWD, false, "/", 1);
	tdd_spec_add(&s, TDD_SPEC_ARG, false, "true", 4);
	tdd_spec_add(&s, TDD_SPEC_ENV, false, "A=", 2);
	EXPECT_EQ(0, tdd_spec_check(&s));

	/* Encoded: too long for a line, malformed, missing. */
	tdd_spec_init(&s);
	memset(big, 'x', TDD_RUN_ENC_MAX + 1);
	big[TDD_RUN_ENC_MAX + 1] = '\0';
	EXPECT_EQ(EINVAL, tdd_spec_add_enc(&s, TDD_SPEC_ARG, false, big));
	tdd_spec_init(&s);
	EXPECT_EQ(EINVAL, tdd_spec_add_enc(&s, TDD_SPEC_ARG, false, "%0"));
	tdd_spec_init(&s);
	EXPECT_EQ(EINVAL, tdd_spec_add_enc(&s, TDD_SPEC_ARG, false, NULL));
	tdd_spec_init(&s);
	EXPECT_EQ(EINVAL, tdd_spec_add_enc(&s, TDD_SPEC_ARG, false, "a%00b"));
}

/* Send @a line by line into @b, as the daemons do; every line checked. */
static void wire(struct __test_metadata *_metadata, const struct tdd_spec *a,
		 struct tdd_spec *b, int *nlines)
{
	const char *prefix = "job=18446744073709551615 ";
	struct tdd_spec_cursor c;
	char line[LINE_MAX_WIRE];
	struct tdd_kv kv;
	uint32_t cont;
	int part;

	*nlines = 0;
	tdd_spec_init(b);
	tdd_spec_cursor_init(&c);
	while (tdd_spec_next(a, &c, prefix, line, sizeof(line), TDD_RUN_ENC_MAX)) {
		(*nlines)++;
		/* With the newline and a MAC, within the daemons' bound. */
		ASSERT_GE(LINE_MAX_WIRE, (int)strlen(line) + MAC_SUFFIX + 1) TH_LOG("%s", line);
		for (const char *p = line; *p; p++)
			ASSERT_TRUE(*p >= ' ' && *p < 0x7f);
		ASSERT_EQ(0, tdd_kv_parse(line, &kv));
		for (part = 0; part < TDD_SPEC_NPARTS; part++)
			if (!strcmp(kv.verb, tdd_spec_verbs[part]))
				break;
		ASSERT_LT(part, TDD_SPEC_NPARTS) TH_LOG("verb %s", kv.verb);
		ASSERT_STREQ("18446744073709551615", tdd_kv_get(&kv, "job"));
		cont = 0;
		tdd_kv_u32(&kv, "cont", &cont);
		ASSERT_EQ(0, tdd_spec_add_enc(b, part, cont, tdd_kv_get(&kv, "v")))
			TH_LOG("%s", b->why);
	}
	ASSERT_EQ(0, tdd_spec_check(b)) TH_LOG("%s", b->why);
}

TEST(a_job_on_the_wire)
{
	static struct tdd_spec a, b;
	static char big[TDD_RUN_ENV_ITEM_MAX];
	int i, n;

	tdd_spec_init(&a);
	tdd_spec_add(&a, TDD_SPEC_CWD, false, "/home/a user/dir %20", 20);
	tdd_spec_add(&a, TDD_SPEC_ARG, false, "./prog", 6);
	tdd_spec_add(&a, TDD_SPEC_ARG, false, "", 0);		/* an empty argument */
	tdd_spec_add(&a, TDD_SPEC_ARG, false, "two words\ttab\nnewline", 21);
	tdd_spec_add(&a, TDD_SPEC_ARG, false, "caf\xc3\xa9 = %41 mac=x", 17);
	for (i = 0; i < (int)sizeof(big) - 1; i++)
		big[i] = 1 + (i * 37) % 255;		/* every byte but NUL */
	memcpy(big, "BIG=", 4);
	tdd_spec_add(&a, TDD_SPEC_ENV, false, big, sizeof(big) - 1);
	tdd_spec_add(&a, TDD_SPEC_ENV, false, "PATH=/usr/bin:/bin", 18);
	tdd_spec_add(&a, TDD_SPEC_ENV, false, "EMPTY=", 6);
	ASSERT_EQ(0, tdd_spec_check(&a)) TH_LOG("%s", a.why);

	wire(_metadata, &a, &b, &n);
	EXPECT_LT(20, n);		/* BIG= went in pieces */
	EXPECT_EQ(a.argc, b.argc);
	EXPECT_EQ(a.envc, b.envc);
	EXPECT_EQ(a.argv_len, b.argv_len);
	EXPECT_EQ(0, memcmp(a.argv, b.argv, a.argv_len));
	EXPECT_EQ(a.env_len, b.env_len);
	EXPECT_EQ(0, memcmp(a.env, b.env, a.env_len));
	EXPECT_STREQ(a.cwd, b.cwd);
	EXPECT_STREQ("", tdd_spec_item(&b, TDD_SPEC_ARG, 1));
	EXPECT_STREQ("EMPTY=", tdd_spec_item(&b, TDD_SPEC_ENV, 2));
	EXPECT_EQ(NULL, tdd_spec_item(&b, TDD_SPEC_ENV, 3));
}

TEST(placement_covers_every_rank_once)
{
	uint32_t nranks, nnodes, per, k, i, first, step, count, r;
	static unsigned char seen[TDD_RUN_RANKS_MAX];

	for (nnodes = 1; nnodes <= 5; nnodes++) {
		for (per = 0; per <= 3; per++) {
			for (nranks = 1; nranks <= (per ? per * nnodes : 12); nranks++) {
				memset(seen, 0, sizeof(seen));
				for (k = 0; k < nnodes; k++) {
					tdd_run_place(nranks, nnodes, per, k, &first, &step, &count);
					if (per)
						ASSERT_GE(per, count);
					for (i = 0; i < count; i++) {
						r = first + i * step;
						ASSERT_GT(nranks, r);
						seen[r]++;
					}
					/* Round robin: rank r on node r % nnodes. */
					if (!per && count)
						ASSERT_EQ(k, first);
				}
				for (r = 0; r < nranks; r++)
					ASSERT_EQ(1, seen[r])
						TH_LOG("nranks %u nodes %u per %u rank %u", nranks,
						       nnodes, per, r);
			}
		}
	}
}

TEST_HARNESS_MAIN
