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
 *                                        run and keeps it mapped, then runs
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
#include <netlink/genl/ctrl.h>
#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#define PAGE		4096ul
#define MIB		1048576.0	/* perftest's MB: 2^20 bytes */
#define MAX_SIZES	8
#define MAX_REPS	64

static const char *prog = "migrate_bench";

/* ------------------------------------------------------------ helpers */

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s migrate ADDR NPAGES FROM [-l LABEL] [-e ENV] [-x HOLDERS]\n"
		"       %s app ADDR NPAGES [-v TAG] [-e ENV]   (commands on stdin)\n"
		"       %s stats\n"
		"(see the top of tools/bench/migrate_bench.c)\n", prog, prog, prog);
	exit(2);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static unsigned long long parse_ull(const char *s, const char *what)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		die("bad %s '%s'", what, s);
	return v;
}

/* The word remote_bench's "touch ... w -t TAG" leaves at @addr. */
static uint64_t pattern(uint64_t addr, uint64_t tag)
{
	return (addr * 0x9e3779b97f4a7c15ull) ^ (tag << 48) ^ 0x5444534dull;
}

static struct {
	const char *label, *env;
	uint64_t tag, holders;
	bool has_holders;
} opt = { .label = "mig" };

static FILE *out;	/* where put() echoes: stdout, or stderr in app mode */

static FILE *env_file(void)
{
	static FILE *f;

	if (!opt.env)
		return NULL;
	if (!f) {
		f = fopen(opt.env, "a");
		if (!f)
			die("%s: %s", opt.env, strerror(errno));
		setvbuf(f, NULL, _IOLBF, 0);
	}
	return f;
}

/* One figure: "key=value" to the env file and to the log. */
static void put(const char *fmt, ...)
{
	char line[256];
	va_list ap;
	FILE *f = env_file();

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(out, "%s\n", line);
	if (f)
		fprintf(f, "%s\n", line);
}

/* ------------------------------------------------------------ netlink */

struct gen_reply {
	int error;		/* 0 or -errno */
	char msg[160];		/* extack message */
	uint32_t moved, skipped, data, holders, fetched, mapped, sites;
	uint64_t nsec;
	int done;
};

static int gen_valid(struct nl_msg *msg, void *arg)
{
	struct nlattr *tb[TINYDSM_A_MAX + 1];
	struct gen_reply *r = arg;

	if (genlmsg_parse(nlmsg_hdr(msg), 0, tb, TINYDSM_A_MAX, NULL))
		return NL_SKIP;
#define GET32(a, f) do { if (tb[a]) r->f = nla_get_u32(tb[a]); } while (0)
	GET32(TINYDSM_A_PAGES_MOVED, moved);
	GET32(TINYDSM_A_PAGES_SKIPPED, skipped);
	GET32(TINYDSM_A_PAGES_DATA, data);
	GET32(TINYDSM_A_HOLDERS, holders);
	GET32(TINYDSM_A_PAGES_FETCHED, fetched);
	GET32(TINYDSM_A_PAGES_MAPPED, mapped);
	GET32(TINYDSM_A_SITES, sites);
#undef GET32
	if (tb[TINYDSM_A_NSEC])
		r->nsec = nla_get_u64(tb[TINYDSM_A_NSEC]);
	return NL_OK;
}

static int gen_err(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	const struct nlmsghdr *nlh = (const struct nlmsghdr *)e - 1;
	struct gen_reply *r = arg;
	size_t off = sizeof(*e), payload = nlh->nlmsg_len - NLMSG_HDRLEN;
	struct nlattr *a;
	int rem;

	(void)who;
	r->done = 1;
	r->error = e->error;
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN;
	off = NLMSG_ALIGN(off);
	if ((nlh->nlmsg_flags & NLM_F_ACK_TLVS) && off < payload)
		nla_for_each_attr(a, (struct nlattr *)((char *)nlmsg_data(nlh) + off),
				  (int)(payload - off), rem)
			if (nla_type(a) == NLMSGERR_ATTR_MSG)
				snprintf(r->msg, sizeof(r->msg), "%.*s",
					 (int)strnlen(nla_data(a), nla_len(a)),
					 (char *)nla_data(a));
	return NL_STOP;
}

static int gen_ack(struct nl_msg *msg, void *arg)
{
	(void)msg;
	((struct gen_reply *)arg)->done = 1;
	return NL_STOP;
}

/*
 * One request @cmd (ADDR, NPAGES, and FROM if @from) to this node's
 * module; the answer in @r, and in @wall_ns the wall-clock time from just
 * before the request is sent to the kernel's answer (the socket is set up
 * and the family resolved before). Returns 0 when the kernel answered
 * (r->error says how), else a message.
 */
static const char *gen_call(uint8_t cmd, uint64_t addr, uint32_t npages,
			    int64_t from, struct gen_reply *r, uint64_t *wall_ns)
{
	static char err_msg[160];
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_msg *msg = NULL;
	struct nl_cb *cb = NULL;
	const char *what = "out of memory";
	int family, one = 1, err = 0;
	uint64_t t0;

	memset(r, 0, sizeof(*r));
	*wall_ns = 0;
	if (!sk)
		return what;
	err = genl_connect(sk);
	if (err < 0) {
		what = "genl_connect";
		goto out;
	}
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_EXT_ACK, &one,
		   sizeof(one));
	setsockopt(nl_socket_get_fd(sk), SOL_NETLINK, NETLINK_CAP_ACK, &one,
		   sizeof(one));
	family = genl_ctrl_resolve(sk, TINYDSM_GENL_NAME);
	if (family < 0) {
		err = family;
		what = "resolving the genl family " TINYDSM_GENL_NAME;
		goto out;
	}
	msg = nlmsg_alloc();
	cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!msg || !cb ||
	    !genlmsg_put(msg, NL_AUTO_PORT, NL_AUTO_SEQ, family, 0, NLM_F_ACK,
			 cmd, TINYDSM_GENL_VERSION) ||
	    nla_put_u64(msg, TINYDSM_A_ADDR, addr) ||
	    nla_put_u32(msg, TINYDSM_A_NPAGES, npages) ||
	    (from >= 0 && nla_put_u32(msg, TINYDSM_A_FROM, (uint32_t)from))) {
		err = -NLE_NOMEM;
		goto out;
	}
	nl_cb_err(cb, NL_CB_CUSTOM, gen_err, r);
	nl_cb_set(cb, NL_CB_ACK, NL_CB_CUSTOM, gen_ack, r);
	nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, gen_valid, r);
	t0 = now_ns();
	err = nl_send_auto(sk, msg);
	while (err >= 0 && !r->done)
		err = nl_recvmsgs(sk, cb);
	*wall_ns = now_ns() - t0;
	what = "netlink";
	if (r->done)
		err = 0;
out:
	nlmsg_free(msg);
	nl_cb_put(cb);
	nl_socket_free(sk);
	if (!err)
		return NULL;
	snprintf(err_msg, sizeof(err_msg), "%s: %s", what, nl_geterror(err));
	return err_msg;
}

/* ------------------------------------------------------------ the region */

static int dev_fd = -1;
static struct tinydsm_region_info info;

static void region_open(void)
{
	if (dev_fd >= 0)
		return;
	dev_fd = open("/dev/" TINYDSM_DEVICE_NAME, O_RDWR | O_CLOEXEC);
	if (dev_fd < 0)
		die("/dev/%s: %s", TINYDSM_DEVICE_NAME, strerror(errno));
	if (ioctl(dev_fd, TINYDSM_IOC_REGION_INFO, &info))
		die("REGION_INFO: %s", strerror(errno));
	if (info.page_size != PAGE)
		die("page size %u, expected %lu", info.page_size, PAGE);
}

static void check_range(uint64_t addr, unsigned long npages)
{
	region_open();
	if (addr < info.base || addr % PAGE || !npages ||
	    addr - info.base + npages * PAGE > info.size)
		die("pages %#llx + %lu are not inside the region [%#llx, +%llu)",
		    (unsigned long long)addr, npages,
		    (unsigned long long)info.base, (unsigned long long)info.size);
}

static uint8_t *region_map(uint64_t addr, unsigned long npages)
{
	void *p;

	check_range(addr, npages);
	p = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 dev_fd, (off_t)(addr - info.base));
	if (p == MAP_FAILED)
		die("mmap of %#llx + %lu pages: %s", (unsigned long long)addr,
		    npages, strerror(errno));
	if ((uintptr_t)p != addr)
		die("mapped at %p, not at %#llx", p, (unsigned long long)addr);
	return p;
}

static struct tinydsm_stats stats_now(void)
{
	struct tinydsm_stats st;

	memset(&st, 0, sizeof(st));
	if (ioctl(dev_fd, TINYDSM_IOC_STATS, &st))
		die("STATS: %s", strerror(errno));
	return st;
}

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

#define D(f) (unsigned long long)(b.f - a->st.f)
	put("%s_ns=%llu", label, (unsigned long long)(ns - a->ns));
	put("%s_minflt=%ld", label, mf - a->minflt);
	put("%s_d_read_faults=%llu", label, D(read_faults));
	put("%s_d_remote_faults=%llu", label, D(remote_faults));
	put("%s_d_repopulated=%llu", label, D(repopulated));
	put("%s_d_prefaults=%llu", label, D(prefaults));
	put("%s_d_forwards=%llu", label, D(forwards));
#undef D
}

/* A SIGBUS on a region access is the module refusing a fault: say where. */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	char msg[96];
	int n;

	(void)sig;
	(void)uc;
	n = snprintf(msg, sizeof(msg), "%s: SIGBUS at %p (the fault failed; see dmesg)\n",
		     prog, si->si_addr);
	if (n > 0)
		(void)!write(STDERR_FILENO, msg, (size_t)n);
	_exit(3);
}

static void catch_sigbus(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, NULL);
}

/* ------------------------------------------------------------ migrate */

static int cmd_migrate(uint64_t addr, unsigned long npages, unsigned int from)
{
	const char *l = opt.label, *e;
	struct gen_reply r;
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
	put("%s_to=%u", l, info.node_id);
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
	       l, info.node_id, r.moved, npages, from, r.data, r.holders,
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
	struct tinydsm_stats st;

	region_open();
	st = stats_now();
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

		if (*w != pattern((uintptr_t)w, opt.tag))
			bad++;
	}
	probe_end(&pr, label);
	put("%s_bad_pages=%lu", label, bad);
	return bad;
}

static int app_repop(const char *label, char *why, size_t len)
{
	struct gen_reply r;
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

		memset(&pi, 0, sizeof(pi));
		pi.addr = app_addr + i * PAGE;
		if (ioctl(dev_fd, TINYDSM_IOC_PAGE_INFO, &pi))
			die("PAGE_INFO %#llx: %s", (unsigned long long)pi.addr,
			    strerror(errno));
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

	out = stderr;
	setvbuf(stdout, NULL, _IOLBF, 0);
	app_addr = addr;
	app_n = npages;
	app_p = region_map(addr, npages);
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
	munmap(app_p, npages * PAGE);
	return 0;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	const char *cmd;
	int c;

	out = stdout;
	if (argc < 2)
		usage();
	cmd = argv[1];
	argv++;
	argc--;
	while ((c = getopt(argc, argv, "l:e:x:v:h")) != -1) {
		switch (c) {
		case 'l': opt.label = optarg; break;
		case 'e': opt.env = optarg; break;
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
