// SPDX-License-Identifier: GPL-2.0
/*
 * migrate_bench: tinydsm's page-migration benchmark, the C side. The lab
 * script tools/bench/migrate_bench.sh drives it on the 3 nodes of one lab
 * run; tools/bench.sh runs that lab on the host and prints the table.
 * tools/bench/README.md defines every figure.
 *
 *   migrate_bench migrate ADDR NPAGES FROM   TINYDSM_CMD_MIGRATE on this node
 *                                        (the target), timed by the reply's
 *                                        NSEC and by the wall clock around
 *                                        the request; -l LABEL -e ENV, -x
 *                                        HOLDERS (the node set the reply must
 *                                        give, bit n - 1 = node n); exit 1 unless every page moved
 *   migrate_bench app ADDR NPAGES        the application on node1: maps the
 *                                        region (libtinydsm's attach, which
 *                                        holds the run) and keeps it mapped,
 *                                        then runs
 *                                        one command per line of stdin and
 *                                        answers each with one line on stdout
 *                                        ("ok ..." or "fail ..."); -v TAG -e
 *                                        ENV. Commands:
 *       pass LABEL       read the first word of every page (checked), timed
 *                        as a whole: LABEL_ns, _minflt, _d_* (STATS deltas)
 *       repop LABEL      TINYDSM_CMD_REPOPULATE of the run from this process
 *                        (which maps it): LABEL_wall_ns, _nsec, _fetched, ...
 *       moved HOME       every page is INVALID here, flagged MOVED, and
 *                        names HOME as its home (after a migration)
 *       shared HOME      every page is SHARED, PRESENT, not MOVED, home HOME
 *       quit
 *   migrate_bench stats                  this node's TINYDSM_IOC_STATS, every counter
 *
 * Figures go, as key=value lines, to the -e file (appended) and to stdout
 * (stderr in app mode, whose stdout is the answer channel). Exit status:
 * 0, 1 failure, 2 usage, 3 SIGBUS on a region access.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <linux/tinydsm.h>
#include <netlink/errno.h>
#include <netlink/socket.h>

#include "tdsm_nl.h"

#include "tinydsm.h"
#include "common.h"

#define MIB		1048576.0	/* perftest's MB: 2^20 bytes */
#define MAX_SIZES	8
#define MAX_REPS	64

const char *prog = "migrate_bench";

/* ------------------------------------------------------------ helpers */

static void usage(void)
{
	fprintf(stderr,
		"usage: %s migrate ADDR NPAGES FROM [-l LABEL] [-e ENV] [-x HOLDERS]\n"
		"       %s app ADDR NPAGES [-v TAG] [-e ENV]   (commands on stdin)\n"
		"       %s stats\n"
		"(see the top of tools/bench/migrate_bench.c)\n", prog, prog, prog);
	exit(2);
}

static struct {
	const char *label;
	uint64_t tag, holders;
	bool has_holders;
} opt = { .label = "mig" };

/* ------------------------------------------------------------ netlink */

/*
 * One request @cmd (ADDR, NPAGES, and FROM if @from) to this node's
 * module; the answer in @r, and in @wall_ns the wall-clock time from just
 * before the request is sent to the kernel's answer (the socket is set up
 * and the family resolved before). Returns 0 when the kernel answered
 * (r->error says how), else a message.
 */
static const char *gen_call(uint8_t cmd, uint64_t addr, uint32_t npages,
			    int64_t from, struct tnl_answer *r, uint64_t *wall_ns)
{
	static char err_msg[160];
	struct nl_sock *sk = NULL;
	struct nl_msg *msg;
	const char *what = "out of memory";
	int family, err;
	uint64_t t0;

	memset(r, 0, sizeof(*r));
	*wall_ns = 0;
	err = tnl_sock_open(&sk);
	if (err == -NLE_NOMEM && !sk)
		return what;
	if (err < 0) {
		what = "genl_connect";
		goto out;
	}
	family = tnl_family(sk);
	if (family < 0) {
		err = family;
		what = "resolving the genl family " TINYDSM_GENL_NAME;
		goto out;
	}
	msg = tnl_range_msg(family, cmd, addr, npages, from, -1);
	if (!msg) {
		err = -NLE_NOMEM;
		goto out;
	}
	t0 = now_ns();
	err = tnl_answer_call(sk, msg, r);
	*wall_ns = now_ns() - t0;
	what = "netlink";
out:
	if (sk)
		nl_socket_free(sk);
	if (!err)
		return NULL;
	snprintf(err_msg, sizeof(err_msg), "%s: %s", what, nl_geterror(err));
	return err_msg;
}

/* ------------------------------------------------------------ probes */

static long minflt_now(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* What a step cost: wall time, minor faults, this node's counters. */
struct probe {
	uint64_t ns;
	long minflt;
	struct tinydsm_stats st;
};

static void probe_start(struct probe *p)
{
	p->st = stats_now();
	p->minflt = minflt_now();
	p->ns = now_ns();
}

static void probe_end(const struct probe *a, const char *label)
{
	uint64_t ns = now_ns();
	long mf = minflt_now();
	struct tinydsm_stats b = stats_now();

	put("%s_ns=%llu", label, (unsigned long long)(ns - a->ns));
	put("%s_minflt=%ld", label, mf - a->minflt);
	PUT_DELTA(label, &a->st, &b, read_faults);
	PUT_DELTA(label, &a->st, &b, remote_faults);
	PUT_DELTA(label, &a->st, &b, repopulated);
	PUT_DELTA(label, &a->st, &b, prefaults);
	PUT_DELTA(label, &a->st, &b, forwards);
}

/* ------------------------------------------------------------ migrate */

static int cmd_migrate(uint64_t addr, unsigned long npages, unsigned int from)
{
	const char *l = opt.label, *e;
	struct tnl_answer r;
	uint64_t wall;
	double secs;
	int bad = 0;

	check_range(addr, npages);
	e = gen_call(TINYDSM_CMD_MIGRATE, addr, (uint32_t)npages, from, &r, &wall);
	if (e)
		die("MIGRATE %#llx +%lu from node%u: %s", (unsigned long long)addr,
		    npages, from, e);
	if (r.error)
		die("MIGRATE %#llx +%lu from node%u: kernel said %s%s%s",
		    (unsigned long long)addr, npages, from, strerror(-r.error),
		    r.msg[0] ? ": " : "", r.msg);
	put("%s_from=%u", l, from);
	put("%s_to=%u", l, region_info()->node_id);
	put("%s_npages=%lu", l, npages);
	put("%s_moved=%u", l, r.moved);
	put("%s_skipped=%u", l, r.skipped);
	put("%s_data=%u", l, r.data);
	put("%s_holders=%#llx", l, (unsigned long long)r.holders);
	put("%s_nsec=%llu", l, (unsigned long long)r.nsec);
	put("%s_wall_ns=%llu", l, (unsigned long long)wall);
	secs = (double)r.nsec / 1e9;
	printf("%s: node%u pulled %u of %lu pages from node%u (%u with data, holders %#llx): "
	       "%.1f ms kernel, %.1f ms wall: %.0f pages/s, %.3f MB/s (2^20)\n",
	       l, region_info()->node_id, r.moved, npages, from, r.data,
	       (unsigned long long)r.holders,
	       (double)r.nsec / 1e6, (double)wall / 1e6, r.moved / secs,
	       r.moved * (double)PAGE / secs / MIB);
	if (r.moved != npages || r.skipped || r.data != npages) {
		fprintf(stderr, "%s: %s: %u pages moved, %u skipped, %u with data; want %lu, 0, %lu\n",
			prog, l, r.moved, r.skipped, r.data, npages, npages);
		bad = 1;
	}
	if (opt.has_holders && r.holders != opt.holders) {
		fprintf(stderr, "%s: %s: holders %#llx, want %#llx\n", prog, l,
			(unsigned long long)r.holders,
			(unsigned long long)opt.holders);
		bad = 1;
	}
	return bad;
}

static int cmd_stats(void)
{
	struct tinydsm_stats st = stats_now();

#define P(f) printf("%s=%llu ", #f, (unsigned long long)st.f)
	P(read_faults); P(write_faults); P(frames); P(frames_allocated);
	P(remote_faults); P(invalidations); P(fetches); P(migrated_in);
	P(migrated_out); P(repopulated); P(prefaults); P(forwards);
#undef P
	printf("\n");
	return 0;
}

/* ------------------------------------------------------------ app */

static uint8_t *app_p;
static uint64_t app_addr;
static unsigned long app_n;

/* Read the first word of every page, checking it; the pages read wrong. */
static unsigned long app_pass(const char *label)
{
	unsigned long i, bad = 0;
	struct probe pr;

	probe_start(&pr);
	for (i = 0; i < app_n; i++) {
		volatile uint64_t *w = (volatile uint64_t *)(app_p + i * PAGE);

		if (*w != tag_pattern((uintptr_t)w, opt.tag))
			bad++;
	}
	probe_end(&pr, label);
	put("%s_bad_pages=%lu", label, bad);
	return bad;
}

static int app_repop(const char *label, char *why, size_t len)
{
	struct tnl_answer r;
	struct probe pr;
	const char *e;
	uint64_t wall;
	char key[128];

	probe_start(&pr);
	e = gen_call(TINYDSM_CMD_REPOPULATE, app_addr, (uint32_t)app_n, -1, &r, &wall);
	snprintf(key, sizeof(key), "%s_call", label);
	probe_end(&pr, key);
	if (e) {
		snprintf(why, len, "REPOPULATE: %s", e);
		return -1;
	}
	if (r.error) {
		snprintf(why, len, "REPOPULATE: kernel said %s%s%s",
			 strerror(-r.error), r.msg[0] ? ": " : "", r.msg);
		return -1;
	}
	put("%s_wall_ns=%llu", label, (unsigned long long)wall);
	put("%s_nsec=%llu", label, (unsigned long long)r.nsec);
	put("%s_fetched=%u", label, r.fetched);
	put("%s_mapped=%u", label, r.mapped);
	put("%s_sites=%u", label, r.sites);
	if (r.fetched != app_n || r.mapped < app_n) {
		snprintf(why, len, "REPOPULATE fetched %u, mapped %u; want %lu, >= %lu",
			 r.fetched, r.mapped, app_n, app_n);
		return -1;
	}
	snprintf(why, len, "%u fetched, %u mapped in %.1f ms (kernel %.1f ms)",
		 r.fetched, r.mapped, (double)wall / 1e6, (double)r.nsec / 1e6);
	return 0;
}

/* Every page's state here; the pages that differ (the first logged). */
static unsigned long app_state(unsigned int home, bool moved)
{
	unsigned long i, bad = 0;

	for (i = 0; i < app_n; i++) {
		struct tinydsm_page_info pi = page_info(app_addr + i * PAGE);
		bool ok;

		if (moved)
			ok = pi.state == TINYDSM_PAGE_INVALID &&
			     (pi.flags & TINYDSM_PAGE_F_MOVED) && pi.home == home;
		else
			ok = pi.state == TINYDSM_PAGE_SHARED &&
			     (pi.flags & TINYDSM_PAGE_F_PRESENT) &&
			     !(pi.flags & TINYDSM_PAGE_F_MOVED) && pi.home == home;
		if (!ok && !bad++)
			fprintf(stderr, "%s: page %#llx: state %u flags %#x home %u owner %u\n",
				prog, (unsigned long long)pi.addr, pi.state,
				pi.flags, pi.home, pi.owner);
	}
	return bad;
}

static int cmd_app(uint64_t addr, unsigned long npages)
{
	char line[256], arg[128], why[200];
	unsigned long bad;

	put_log = stderr;
	setvbuf(stdout, NULL, _IOLBF, 0);
	app_addr = addr;
	app_n = npages;
	app_p = region_pages(addr, npages);
	catch_sigbus();
	printf("ok mapped %lu pages at %#llx\n", npages, (unsigned long long)addr);
	while (fgets(line, sizeof(line), stdin)) {
		char cmd[32];

		arg[0] = '\0';
		if (sscanf(line, "%31s %127s", cmd, arg) < 1)
			continue;
		if (!strcmp(cmd, "quit")) {
			printf("ok bye\n");
			break;
		}
		if (!strcmp(cmd, "pass") && arg[0]) {
			bad = app_pass(arg);
			if (bad)
				printf("fail %s: %lu of %lu pages read back wrong\n",
				       arg, bad, npages);
			else
				printf("ok %s: %lu pages read and checked\n", arg, npages);
		} else if (!strcmp(cmd, "repop") && arg[0]) {
			printf("%s %s: %s\n", app_repop(arg, why, sizeof(why)) ? "fail" : "ok",
			       arg, why);
		} else if ((!strcmp(cmd, "moved") || !strcmp(cmd, "shared")) && arg[0]) {
			bad = app_state(parse_ull(arg, "home"), cmd[0] == 'm');
			if (bad)
				printf("fail %s: %lu of %lu pages are not %s with home %s\n",
				       cmd, bad, npages, cmd[0] == 'm' ?
				       "INVALID+MOVED" : "SHARED+PRESENT", arg);
			else
				printf("ok %s: %lu pages, home %s\n", cmd, npages, arg);
		} else {
			printf("fail unknown command: %s", line);
		}
	}
	tdsm_detach();
	return 0;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	const char *cmd = subcommand(&argc, &argv, usage);
	int c;

	while ((c = getopt(argc, argv, "l:e:x:v:h")) != -1) {
		switch (c) {
		case 'l': opt.label = optarg; break;
		case 'e': put_env = optarg; break;
		case 'x':
			opt.holders = parse_ull(optarg, "holders");
			opt.has_holders = true;
			break;
		case 'v': opt.tag = parse_ull(optarg, "tag"); break;
		default: usage();
		}
	}
	argv += optind;
	argc -= optind;

	if (!strcmp(cmd, "migrate")) {
		if (argc != 3)
			usage();
		return cmd_migrate(parse_ull(argv[0], "address"),
				   parse_ull(argv[1], "npages"),
				   parse_ull(argv[2], "node"));
	}
	if (!strcmp(cmd, "app")) {
		if (argc != 2)
			usage();
		return cmd_app(parse_ull(argv[0], "address"), parse_ull(argv[1], "npages"));
	}
	if (!strcmp(cmd, "stats")) {
		if (argc)
			usage();
		return cmd_stats();
	}
	usage();
	return 2;
}
