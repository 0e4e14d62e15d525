/* SPDX-License-Identifier: GPL-2.0 */
/*
 * TDSM_HARNESS_MAIN: TEST_HARNESS_MAIN with the test filter that later
 * kernels' kselftest_harness.h has and 6.1's lacks. "-t NAME" runs only
 * the tests named, "-T NAME" every test but them; for each test the first
 * option that names it decides, and without any -t every test not
 * excluded runs (the later harness's rules, for test names only). The
 * tests left out are not run at all and not in the plan: the lab uses it
 * to run, on each node count, only the tests written for that count
 * (selftests/tinydsm/Makefile). Include it after kselftest_harness.h.
 */
#ifndef TDSM_HARNESS_H
#define TDSM_HARNESS_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline bool tdsm_test_wanted(int argc, char **argv, const char *name)
{
	bool has_positive = false;
	int opt;

	optind = 1;
	while ((opt = getopt(argc, argv, "t:T:")) != -1) {
		has_positive |= opt == 't';
		if (!strcmp(name, optarg))
			return opt == 't';
	}
	return !has_positive;
}

/* Unlink the tests not wanted from every fixture's list; -1 on bad usage. */
static inline int tdsm_filter_tests(int argc, char **argv)
{
	struct __test_metadata *t, *next, *last, **link;
	struct __fixture_metadata *f;
	int opt;

	while ((opt = getopt(argc, argv, "t:T:")) != -1) {
		if (opt != 't' && opt != 'T')
			goto usage;
	}
	if (optind < argc)
		goto usage;

	for (f = __fixture_list; f; f = f->next) {
		/* The harness's lists: next ends in NULL, head->prev is the tail. */
		link = &f->tests;
		last = NULL;
		for (t = f->tests; t; t = next) {
			next = t->next;
			if (!tdsm_test_wanted(argc, argv, t->name))
				continue;
			*link = t;
			t->prev = last;
			link = &t->next;
			last = t;
		}
		*link = NULL;
		if (f->tests)
			f->tests->prev = last;
	}
	return 0;
usage:
	fprintf(stderr, "usage: %s [-t TEST | -T TEST]...\n", argv[0]);
	return -1;
}

#define TDSM_HARNESS_MAIN						\
	int main(int argc, char **argv)					\
	{								\
		if (tdsm_filter_tests(argc, argv))			\
			return KSFT_FAIL;				\
		return test_harness_run(argc, argv);			\
	}

#endif /* TDSM_HARNESS_H */
