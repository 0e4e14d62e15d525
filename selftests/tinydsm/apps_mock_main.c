// SPDX-License-Identifier: GPL-2.0
/*
 * A launcher for one PARMACS program of tools/apps/ (or another program
 * on libtinydsm's job and heap: tools/bench/alloc_bench.c) on the host,
 * over the module's stand-in (tdsm_mock.h), as parmacs_test.c runs its
 * programs:
 * the job's ranks are fork()ed processes of this executable, rank r on
 * mock node r % 3 + 1 (nodes 1, 2, 3), each with the environment
 * `tinydsmctl run` would give it (TINYDSM_RANK ...) and running the
 * program's main() from its start.
 *
 *   build/lib/apps/<app>_mock [-n RANKS] [-- APP-ARGS...]
 *
 * The program is linked in with its main() renamed tdsm_app_main
 * (-Dmain=tdsm_app_main; the Makefile's rule), against the mock,
 * heap.c, job.c, sync.c and parmacs.c instead of libtinydsm.a. Its output
 * goes to this process's stdout and stderr unchanged. Exit status: rank
 * 0's if it is not 0, else 1 if another rank failed (killed: 128 + the
 * signal; each rank has an alarm of 60 s) or if the job left runs of
 * the region allocated (a G_MALLOC'ed large block not freed), else 0;
 * 2 for a usage error of this launcher.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "tdsm_mock.h"

#define JOB_ID		4747
#define MAXRANKS	16

int tdsm_app_main(int argc, char **argv);

/*
 * What tools/bench/common.c names and the mock has not: the module's
 * counters and page states, and REGION_INFO without attaching. There is
 * no module: each fails with ENOTTY, as an ioctl the device does not
 * know (alloc_bench prints n/a for the counters).
 */
int tdsm_stats(struct tinydsm_stats *st)
{
	(void)st;
	return tdsm__fail(ENOTTY, "mock: no module, no TINYDSM_IOC_STATS");
}

int tdsm_page_info(const void *addr, struct tinydsm_page_info *pi)
{
	(void)pi;
	return tdsm__fail(ENOTTY, "mock: no module, no PAGE_INFO of %p", addr);
}

int tdsm_region_query(struct tinydsm_region_info *info)
{
	(void)info;
	return tdsm__fail(ENOTTY, "mock: no module to query");
}

static void usage(void)
{
	fprintf(stderr, "usage: apps_mock [-n RANKS (1..%d)] [-- APP-ARGS...]\n",
		MAXRANKS);
	exit(2);
}

int main(int argc, char **argv)
{
	int nranks = 1, i, r, st, status[MAXRANKS], ret = 0;
	char *app_argv[256], *end;
	pid_t pid[MAXRANKS];
	unsigned int left;
	void *root = NULL;
	int app_argc = 0;

	app_argv[app_argc++] = argv[0];
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			for (i++; i < argc && app_argc < 255; i++)
				app_argv[app_argc++] = argv[i];
			if (i < argc)
				usage();
			break;
		}
		if (strcmp(argv[i], "-n") || i + 1 == argc)
			usage();
		nranks = strtol(argv[++i], &end, 10);
		if (*end || nranks < 1 || nranks > MAXRANKS)
			usage();
	}
	app_argv[app_argc] = NULL;

	if (mock_setup() || tdsm_attach(0) ||
	    tdsm_job_create(nranks, JOB_ID, &root)) {
		fprintf(stderr, "apps_mock: no mock region or job: %s\n",
			tdsm_strerror_detail());
		return 1;
	}
	fflush(NULL);
	for (r = 0; r < nranks; r++) {
		pid[r] = fork();
		if (pid[r] < 0) {
			perror("apps_mock: fork");
			return 1;
		}
		if (!pid[r]) {
			alarm(60);
			mock_node = r % 3 + 1;
			set_env(r, nranks, JOB_ID, root);
			exit(tdsm_app_main(app_argc, app_argv));
		}
	}
	for (r = 0; r < nranks; r++) {
		if (waitpid(pid[r], &st, 0) != pid[r]) {
			perror("apps_mock: waitpid");
			return 1;
		}
		status[r] = WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
	}
	for (r = 1; r < nranks; r++) {
		if (status[r]) {
			fprintf(stderr, "apps_mock: rank %d exited %d\n", r,
				status[r]);
			ret = 1;
		}
	}
	if (status[0]) {
		fprintf(stderr, "apps_mock: rank 0 exited %d\n", status[0]);
		return status[0];
	}
	/* As tinydsmctl run: the root goes; nothing else may be left. */
	if (tdsm_job_destroy(root)) {
		fprintf(stderr, "apps_mock: tdsm_job_destroy: %s\n",
			tdsm_strerror_detail());
		return 1;
	}
	left = mock_runs(0);
	if (left) {
		fprintf(stderr, "apps_mock: %u runs of the region left "
			"allocated after the job (a G_MALLOC or a run not "
			"freed?)\n",
			left);
		ret = 1;
	}
	return ret;
}
