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
 *                                        HOLDERS (the bitmap the reply must
 *                                        give); exit 1 unless every page moved
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
 *   migrate_bench report [-c CSV] [-E ENV] FILE...   the table; -E appends
 *                                        the derived figures (medians,
 *                                        ratios, verdicts) as key=value
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
		"       %s stats | report [-c CSV] [-E ENV] FILE...\n"
		"(see the top of tools/bench/migrate_bench.c)\n", prog, prog, prog);
	exit(2);
}

static struct {
	const char *label, *csv, *env_out;
	uint64_t tag, holders;
	bool has_holders;
} opt = { .label = "mig" };

/* Set by the report only, which a tool of its own is to replace. */
static FILE *out;

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
	put("%s_holders=%#x", l, r.holders);
	put("%s_nsec=%llu", l, (unsigned long long)r.nsec);
	put("%s_wall_ns=%llu", l, (unsigned long long)wall);
	secs = (double)r.nsec / 1e9;
	printf("%s: node%u pulled %u of %lu pages from node%u (%u with data, holders %#x): "
	       "%.1f ms kernel, %.1f ms wall: %.0f pages/s, %.3f MB/s (2^20)\n",
	       l, region_info()->node_id, r.moved, npages, from, r.data, r.holders,
	       (double)r.nsec / 1e6, (double)wall / 1e6, r.moved / secs,
	       r.moved * (double)PAGE / secs / MIB);
	if (r.moved != npages || r.skipped || r.data != npages) {
		fprintf(stderr, "%s: %s: %u pages moved, %u skipped, %u with data; want %lu, 0, %lu\n",
			prog, l, r.moved, r.skipped, r.data, npages, npages);
		bad = 1;
	}
	if (opt.has_holders && r.holders != opt.holders) {
		fprintf(stderr, "%s: %s: holders %#x, want %#llx\n", prog, l,
			r.holders, (unsigned long long)opt.holders);
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
		struct tinydsm_page_info pi;
		bool ok;

		if (tdsm_page_info((void *)(uintptr_t)(app_addr + i * PAGE), &pi))
			die("%s", tdsm_strerror_detail());
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

/* ------------------------------------------------------------ the report */

#define MAX_KV 16384

static struct kv {
	char key[80];
	char val[160];
} kvs[MAX_KV];
static int nkv;

static void kv_load(const char *path)
{
	char line[512];
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "%s: %s: %s (skipped)\n", prog, path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char *eq = strchr(line, '='), *k = line, *v;
		int i;

		if (!eq || line[0] == '#')
			continue;
		*eq = '\0';
		v = eq + 1;
		v[strcspn(v, "\r\n")] = '\0';
		while (*k == ' ' || *k == '\t')
			k++;
		if (strchr(k, ' ') || strlen(k) >= sizeof(kvs[0].key) ||
		    strlen(v) >= sizeof(kvs[0].val))
			continue;
		for (i = 0; i < nkv; i++)	/* the last file wins */
			if (!strcmp(kvs[i].key, k))
				break;
		if (i == nkv) {
			if (nkv == MAX_KV)
				die("more than %d keys", MAX_KV);
			nkv++;
		}
		memcpy(kvs[i].key, k, strlen(k) + 1);
		memcpy(kvs[i].val, v, strlen(v) + 1);
	}
	fclose(f);
}

static const char *kv_str(const char *key)
{
	int i;

	for (i = 0; i < nkv; i++)
		if (!strcmp(kvs[i].key, key))
			return kvs[i].val;
	return NULL;
}

static const char *kv_or(const char *key)
{
	const char *v = kv_str(key);

	return v ? v : "?";
}

/* A number, or NAN if the key is missing or not a number. */
static double kv_num(const char *fmt, ...)
{
	char key[128], *end;
	const char *v;
	va_list ap;
	double x;

	va_start(ap, fmt);
	vsnprintf(key, sizeof(key), fmt, ap);
	va_end(ap);
	v = kv_str(key);
	if (!v || !*v)
		return NAN;
	x = strtod(v, &end);
	return *end ? NAN : x;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median, min, max of the measured values (NANs left out). */
struct mm {
	int n, missing;
	double med, min, max;
};

static struct mm mm_of(const double *v, int n)
{
	double s[MAX_REPS * 2];
	struct mm r = { .med = NAN, .min = NAN, .max = NAN };
	int i;

	for (i = 0; i < n; i++) {
		if (isnan(v[i]))
			r.missing++;
		else
			s[r.n++] = v[i];
	}
	if (!r.n)
		return r;
	qsort(s, r.n, sizeof(s[0]), cmp_double);
	r.med = r.n % 2 ? s[r.n / 2] : (s[r.n / 2 - 1] + s[r.n / 2]) / 2;
	r.min = s[0];
	r.max = s[r.n - 1];
	return r;
}

static FILE *csv, *env_out;
static const char *csv_kver = "";
static int missing;

static void csv_row(const char *section, const char *figure, const char *stat,
		    double value, const char *unit, double ratio,
		    const char *ratio_to, const char *limit, const char *verdict)
{
	if (!csv)
		return;
	fprintf(csv, "%s,%s,%s,%s,", csv_kver, section, figure, stat);
	if (!isnan(value))
		fprintf(csv, "%.4f", value);
	fprintf(csv, ",%s,", unit);
	if (!isnan(ratio))
		fprintf(csv, "%.4f", ratio);
	fprintf(csv, ",%s,%s,%s\n", ratio_to, limit, verdict);
}

/* A derived figure for bench.env (-E). */
static void derived(const char *fmt, ...)
{
	va_list ap;

	if (!env_out)
		return;
	va_start(ap, fmt);
	vfprintf(env_out, fmt, ap);
	va_end(ap);
	fputc('\n', env_out);
}

static void pnum(double x, int w, int prec)
{
	if (isnan(x))
		printf(" %*s", w, "n/a");
	else
		printf(" %*.*f", w, prec, x);
}

/* One key of every repetition: lazy_1024_%d_p1_ns ... */
static struct mm rep_mm(int reps, const char *fmt, unsigned long n, const char *suffix)
{
	double v[MAX_REPS * 2] = { 0 };
	char key[128];
	int r;

	for (r = 0; r < reps; r++) {
		snprintf(key, sizeof(key), fmt, n, r + 1);
		v[r] = kv_num("%s%s", key, suffix);
	}
	return mm_of(v, reps);
}

/* Migration throughput of size @n: kernel (nsec) or wall clock. */
static struct mm mig_pps(unsigned long n, int migs, const char *clock)
{
	double v[MAX_REPS * 2] = { 0 };
	int i;

	for (i = 0; i < migs; i++)
		v[i] = kv_num("mig_%lu_%d_moved", n, i + 1) /
		       (kv_num("mig_%lu_%d_%s", n, i + 1, clock) / 1e9);
	return mm_of(v, migs);
}

static const char *verdict_ge(double x, double limit)
{
	if (isnan(x))
		return "NOT MEASURED";
	return x >= limit ? "MET" : "MISSED";
}

static const char *winner(double eager, double lazy)
{
	if (isnan(eager) || isnan(lazy))
		return "NOT MEASURED";
	return eager < lazy ? "eager wins" : "lazy wins";
}

static void pass_row(const char *what, int reps, const char *fmt,
		     unsigned long n, const char *pass, double *med_ms)
{
	char sfx[64];
	struct mm t, mf, rf;

	snprintf(sfx, sizeof(sfx), "_%s_ns", pass);
	t = rep_mm(reps, fmt, n, sfx);
	snprintf(sfx, sizeof(sfx), "_%s_minflt", pass);
	mf = rep_mm(reps, fmt, n, sfx);
	snprintf(sfx, sizeof(sfx), "_%s_d_remote_faults", pass);
	rf = rep_mm(reps, fmt, n, sfx);
	printf("  %-44s", what);
	pnum(t.med / 1e6, 9, 2);
	pnum(t.min / 1e6, 9, 2);
	pnum(t.max / 1e6, 9, 2);
	pnum(t.med / 1e3 / n, 8, 2);
	pnum(mf.med, 7, 0);
	pnum(rf.med, 7, 0);
	printf("\n");
	*med_ms = t.med / 1e6;
	if (t.missing || !t.n)
		missing++;
}

static void report_size(unsigned long n, int reps, double bw_MBps, double bw_mpps)
{
	int migs = 2 * reps;
	struct mm kp, wp, rw, rk, rfe, rma;
	double l1, l2, e1, e2, repop, fstar, x;
	char fig[64], key[64];
	int i, ok_moved = 0;

	/* ---- migration throughput */
	kp = mig_pps(n, migs, "nsec");
	wp = mig_pps(n, migs, "wall_ns");
	for (i = 0; i < migs; i++)
		ok_moved += kv_num("mig_%lu_%d_moved", n, i + 1) == (double)n;
	printf("\nmigration of %lu pages (%.1f MiB), %d MIGRATEs alternating node2 -> node3 and back,\n"
	       "node1's read copies invalidated each time (%d of %d moved every page)\n",
	       n, n * (double)PAGE / MIB, migs, ok_moved, migs);
	printf("  %-26s %9s %9s %9s %9s %7s %7s %7s %-6s %s\n", "", "pages/s", "min", "max",
	       "MB/s", "x bw", "x min", "x max", "target", "verdict");
	for (i = 0; i < 2; i++) {
		struct mm *m = i ? &wp : &kp;
		const char *clk = i ? "wall" : "kernel";
		double mb = m->med * PAGE / MIB;

		printf("  %-26s", i ? "wall clock around MIGRATE" : "kernel time (reply NSEC)");
		pnum(m->med, 9, 1);
		pnum(m->min, 9, 1);
		pnum(m->max, 9, 1);
		pnum(mb, 9, 3);
		pnum(mb / bw_MBps, 7, 3);
		pnum(m->min * PAGE / MIB / bw_MBps, 7, 3);
		pnum(m->max * PAGE / MIB / bw_MBps, 7, 3);
		printf(" %-6s %s\n", ">= 0.7", verdict_ge(mb / bw_MBps, 0.7));
		snprintf(fig, sizeof(fig), "migrate_%lu_%s", n, clk);
		csv_row("migration", fig, "pages_per_s_p50", m->med, "1/s",
			m->med / 1e6 / bw_mpps, "ib_read_bw_msgrate", "", "");
		csv_row("migration", fig, "pages_per_s_min", m->min, "1/s", NAN, "", "", "");
		csv_row("migration", fig, "pages_per_s_max", m->max, "1/s", NAN, "", "", "");
		csv_row("migration", fig, "MBps_p50", mb, "MB/s", mb / bw_MBps,
			"ib_read_bw", ">=0.7", verdict_ge(mb / bw_MBps, 0.7));
		snprintf(key, sizeof(key), "mig_%lu_%s", n, clk);
		derived("%s_n=%d", key, m->n);
		derived("%s_pps_p50=%.1f", key, m->med);
		derived("%s_pps_min=%.1f", key, m->min);
		derived("%s_pps_max=%.1f", key, m->max);
		derived("%s_MBps_p50=%.4f", key, mb);
		derived("%s_x_bw=%.4f", key, mb / bw_MBps);
		derived("%s_verdict=%s", key, verdict_ge(mb / bw_MBps, 0.7));
		if (m->missing || m->n != migs)
			missing++;
	}
	if (ok_moved != migs)
		missing++;

	/* ---- repopulation */
	rw = rep_mm(reps, "eager_%lu_%d", n, "_repop_wall_ns");
	rk = rep_mm(reps, "eager_%lu_%d", n, "_repop_nsec");
	rfe = rep_mm(reps, "eager_%lu_%d", n, "_repop_fetched");
	rma = rep_mm(reps, "eager_%lu_%d", n, "_repop_mapped");
	printf("\nrepopulation of the %lu pages on node1 after a migration (%d runs each; times in ms)\n",
	       n, reps);
	printf("  %-44s %9s %9s %9s %8s %7s %7s\n", "", "p50", "min", "max",
	       "us/page", "minflt", "remote");
	pass_row("lazy: pass 1 (each page faults, from home)", reps, "lazy_%lu_%d", n, "p1", &l1);
	pass_row("lazy: pass 2", reps, "lazy_%lu_%d", n, "p2", &l2);
	printf("  %-44s", "eager: REPOPULATE, wall clock");
	pnum(rw.med / 1e6, 9, 2);
	pnum(rw.min / 1e6, 9, 2);
	pnum(rw.max / 1e6, 9, 2);
	pnum(rw.med / 1e3 / n, 8, 2);
	printf("  fetched %.0f, mapped %.0f\n", rfe.med, rma.med);
	printf("  %-44s", "eager: REPOPULATE, kernel time (NSEC)");
	pnum(rk.med / 1e6, 9, 2);
	pnum(rk.min / 1e6, 9, 2);
	pnum(rk.max / 1e6, 9, 2);
	pnum(rk.med / 1e3 / n, 8, 2);
	printf("\n");
	pass_row("eager: pass 1 (no fault expected)", reps, "eager_%lu_%d", n, "p1", &e1);
	pass_row("eager: pass 2", reps, "eager_%lu_%d", n, "p2", &e2);
	if (rw.missing || !rw.n)
		missing++;
	repop = rw.med / 1e6;

	/* totals and break-even, from the medians */
	fstar = repop / (l1 - e1);
	printf("  %-44s %9s %9s %9s\n", "totals (p50s)", "lazy", "eager", "e/l");
	printf("  %-44s", "after 1 touch of every page");
	pnum(l1, 9, 2);
	pnum(repop + e1, 9, 2);
	pnum((repop + e1) / l1, 9, 3);
	printf("  %s\n", winner(repop + e1, l1));
	printf("  %-44s", "after 2 touches of every page");
	pnum(l1 + l2, 9, 2);
	pnum(repop + e1 + e2, 9, 2);
	pnum((repop + e1 + e2) / (l1 + l2), 9, 3);
	printf("  %s\n", winner(repop + e1 + e2, l1 + l2));
	x = (l1 - e1) / n * 1e3;
	printf("  break-even f* = REPOPULATE / (N x lazy fault) = %.2f ms / (%lu x %.1f us) = %.3f:\n"
	       "  %s %.1f %% of the pages\n",
	       repop, n, x, fstar, fstar <= 1 ?
	       "eager wins when the application touches more than" :
	       "eager loses even when the application touches every page: f* >",
	       fstar * 100);
	snprintf(fig, sizeof(fig), "repop_%lu", n);
	csv_row("repopulation", fig, "lazy_pass1_ms", l1, "ms", NAN, "", "", "");
	csv_row("repopulation", fig, "lazy_pass2_ms", l2, "ms", NAN, "", "", "");
	csv_row("repopulation", fig, "eager_repopulate_ms", repop, "ms", repop / l1,
		"lazy_pass1", "", "");
	csv_row("repopulation", fig, "eager_repopulate_kernel_ms", rk.med / 1e6, "ms",
		NAN, "", "", "");
	csv_row("repopulation", fig, "eager_pass1_ms", e1, "ms", NAN, "", "", "");
	csv_row("repopulation", fig, "eager_pass2_ms", e2, "ms", NAN, "", "", "");
	csv_row("repopulation", fig, "lazy_fault_us", x, "us", NAN, "", "", "");
	csv_row("repopulation", fig, "total_1_touch_ms", repop + e1, "ms",
		(repop + e1) / l1, "lazy_total_1_touch", "<1", winner(repop + e1, l1));
	csv_row("repopulation", fig, "total_2_touches_ms", repop + e1 + e2, "ms",
		(repop + e1 + e2) / (l1 + l2), "lazy_total_2_touches", "<1",
		winner(repop + e1 + e2, l1 + l2));
	csv_row("repopulation", fig, "break_even_fraction", fstar, "", NAN, "", "", "");
	snprintf(key, sizeof(key), "repop_%lu", n);
	derived("%s_lazy_p1_ms=%.3f", key, l1);
	derived("%s_lazy_p2_ms=%.3f", key, l2);
	derived("%s_lazy_fault_us=%.2f", key, x);
	derived("%s_eager_repop_ms=%.3f", key, repop);
	derived("%s_eager_repop_kernel_ms=%.3f", key, rk.med / 1e6);
	derived("%s_eager_p1_ms=%.3f", key, e1);
	derived("%s_eager_p2_ms=%.3f", key, e2);
	derived("%s_total1_lazy_ms=%.3f", key, l1);
	derived("%s_total1_eager_ms=%.3f", key, repop + e1);
	derived("%s_total2_lazy_ms=%.3f", key, l1 + l2);
	derived("%s_total2_eager_ms=%.3f", key, repop + e1 + e2);
	derived("%s_verdict_1_touch=%s", key, winner(repop + e1, l1));
	derived("%s_verdict_2_touches=%s", key, winner(repop + e1 + e2, l1 + l2));
	derived("%s_break_even_fraction=%.4f", key, fstar);
}

static int cmd_report(int nfiles, char **files)
{
	double bw, bw_mpps, lat, pre_bw, post_bw, unit, x;
	bool use_post;
	unsigned long sizes[MAX_SIZES];
	int nsizes = 0, reps, j;
	const char *kver, *s;
	char buf[160], *tok, *save = NULL;

	out = stdout;
	for (j = 0; j < nfiles; j++)
		kv_load(files[j]);
	kver = kv_str("kver");
	csv_kver = kver ? kver : "";
	if (opt.csv) {
		csv = fopen(opt.csv, "w");
		if (!csv)
			die("%s: %s", opt.csv, strerror(errno));
		fprintf(csv, "kernel,section,figure,stat,value,unit,ratio,ratio_to,target,verdict\n");
	}
	if (opt.env_out) {
		env_out = fopen(opt.env_out, "a");
		if (!env_out)
			die("%s: %s", opt.env_out, strerror(errno));
	}
	snprintf(buf, sizeof(buf), "%s", kv_or("mig_sizes"));
	for (tok = strtok_r(buf, " ,", &save); tok && nsizes < MAX_SIZES;
	     tok = strtok_r(NULL, " ,", &save))
		sizes[nsizes++] = strtoul(tok, NULL, 0);
	reps = (int)kv_num("mig_reps");
	if (!nsizes || reps < 1 || reps > MAX_REPS) {
		printf("migrate bench WARNING: no sizes or repetitions in the results (mig_sizes, mig_reps)\n");
		missing++;
		reps = 0;
	}

	/*
	 * The base is the better of the two perftest runs (before, after): a
	 * busy host only slows perftest down, and the target is a lower bound
	 * on migration / raw, so the higher base is the strict reading.
	 */
	pre_bw = kv_num("ib_read_bw_4k_MBps");
	post_bw = kv_num("post_ib_read_bw_4k_MBps");
	use_post = !isnan(post_bw) && (isnan(pre_bw) || post_bw > pre_bw);
	bw = use_post ? post_bw : pre_bw;
	bw_mpps = kv_num(use_post ? "post_ib_read_bw_4k_Mpps" : "ib_read_bw_4k_Mpps");
	lat = kv_num("ib_read_lat_4k_typical_us");
	/* perftest's MB: MsgRate x 4 KiB / BW average = 2^20 if MB = MiB */
	unit = bw_mpps * 1e6 * PAGE / bw;
	printf("tinydsm page-migration benchmark: kernel %s, %s nodes, %s\n",
	       kver ? kver : "?", kv_or("nodes"), kv_or("date"));
	printf("QEMU TCG guests, Soft-RoCE (rxe): only ratios within one run mean anything.\n");
	printf("base = raw RDMA READ 4 KiB, perftest ib_read_bw (default queue depth), %s, this run:\n",
	       kv_or("baseline_pair"));
	printf("  before %.3f MB/s, after %.3f MB/s: base = the higher, %s (%.3f MB/s = %.1f pages/s)\n",
	       pre_bw, post_bw, use_post ? "after" : "before", bw, bw * MIB / PAGE);
	printf("  unit: MsgRate %.6f Mpps x 4096 B / BW = %.0f B per MB", bw_mpps, unit);
	printf(" (%s)\n", isnan(unit) ? "unit not checked" :
	       (unit / MIB > 0.98 && unit / MIB < 1.02) ? "MB = 2^20 B, as used here" :
	       "WARNING: not 2^20: ratios below assume 2^20");
	printf("  ib_read_lat typical %.1f us (1 READ at a time: %.1f pages/s)\n", lat, 1e6 / lat);
	printf("MB/s below = 2^20 bytes/s, 4 KiB pages; x bw = MB/s / ib_read_bw MB/s.\n");
	csv_row("migration", "ib_read_bw", "MBps", bw, "MB/s", 1.0, "ib_read_bw", "", "");
	csv_row("migration", "ib_read_bw", "pages_per_s", bw_mpps * 1e6, "1/s", NAN, "", "", "");
	csv_row("migration", "ib_read_lat", "typical", lat, "us", NAN, "", "", "");
	derived("mig_ib_read_bw_MBps=%.4f", bw);
	derived("mig_ib_read_bw_base=%s", use_post ? "post" : "pre");
	derived("mig_pre_ib_read_bw_MBps=%.4f", pre_bw);
	derived("mig_ib_read_bw_pps=%.1f", bw_mpps * 1e6);
	derived("mig_ib_read_lat_typical_us=%.2f", lat);
	derived("mig_post_ib_read_bw_MBps=%.4f", post_bw);
	if (isnan(bw))
		missing++;
	for (j = 0; j < nsizes && reps; j++)
		report_size(sizes[j], reps, bw, bw_mpps);

	if (!isnan(post_bw))
		printf("\ndrift check, perftest after everything else vs before: ib_read_bw %.3f MB/s (%.2fx),"
		       " ib_read_lat typical %.1f us (%.2fx)\n", post_bw, post_bw / pre_bw,
		       kv_num("post_ib_read_lat_4k_typical_us"),
		       kv_num("post_ib_read_lat_4k_typical_us") / lat);
	csv_row("drift", "mig_post_ib_read_bw", "MBps", post_bw, "MB/s", post_bw / pre_bw,
		"ib_read_bw_before", "", "");
	x = kv_num("host_foreign_qemu_max");
	if (!isnan(x))
		printf("host during the run: %s cores, load average up to %s, other QEMU guests: %.0f%s\n",
		       kv_or("host_cores"), kv_or("host_loadavg_max"), x,
		       x > 0 ? " (WARNING: another lab shared the cores: figures are noisier)" : "");

	printf("\n");
	if ((s = kv_str("checks_failed")) && strcmp(s, "0"))
		printf("migrate bench WARNING: %s precondition/state checks failed: %s\n", s,
		       kv_or("checks_failed_list"));
	if ((s = kv_str("phases_failed")) && strcmp(s, "0"))
		printf("migrate bench WARNING: %s phases failed: %s\n", s,
		       kv_or("phases_failed_list"));
	if (!kv_str("phases_failed"))
		printf("migrate bench WARNING: the run did not finish (no phases_failed line)\n");
	printf("migrate bench figures_missing=%d\n", missing);
	derived("mig_figures_missing=%d", missing);
	if (csv)
		fclose(csv);
	if (env_out)
		fclose(env_out);
	return 0;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	const char *cmd;
	int c;

	if (argc < 2)
		usage();
	cmd = argv[1];
	argv++;
	argc--;
	while ((c = getopt(argc, argv, "l:e:x:v:c:E:h")) != -1) {
		switch (c) {
		case 'l': opt.label = optarg; break;
		case 'e': put_env = optarg; break;
		case 'x':
			opt.holders = parse_ull(optarg, "holders");
			opt.has_holders = true;
			break;
		case 'v': opt.tag = parse_ull(optarg, "tag"); break;
		case 'c': opt.csv = optarg; break;
		case 'E': opt.env_out = optarg; break;
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
	if (!strcmp(cmd, "report")) {
		if (argc < 1)
			usage();
		return cmd_report(argc, argv);
	}
	usage();
	return 2;
}
