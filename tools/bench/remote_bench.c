// SPDX-License-Identifier: GPL-2.0
/*
 * remote_bench: tinydsm's remote-memory benchmark, the C side. The lab
 * script tools/bench/remote_bench.sh drives it on every node of one lab
 * run; tools/bench.sh runs that lab on the host and tools/report/report.py
 * prints the table.
 * tools/bench/README.md defines every figure.
 *
 *   remote_bench alloc HOME NPAGES       TINYDSM_IOC_ALLOC; prints the address
 *   remote_bench touch ADDR NPAGES r|w   untimed: read (-v TAG: check) or write
 *                                        (-t TAG) the first word of each page
 *   remote_bench fault ADDR NPAGES r|w   one timed first access per page, in a
 *                                        scattered order (no read-ahead):
 *                                        -l LABEL -e ENV, -W WARMUP (untimed
 *                                        pages first), -p (read every page
 *                                        first, untimed), -R FILE -G FILE (then
 *                                        create R, wait for G), -t/-v TAG
 *   remote_bench seq ADDR NPAGES         sequential first-touch reads, timed as
 *                                        a whole (throughput); -l -e -v
 *   remote_bench check ADDR NPAGES       every page's metadata here: -o OWNER
 *                                        -c COPYSET (hex) -s STATE; exit 1 if not
 *   remote_bench anon NPAGES             anonymous memory first-touch read and
 *                                        write faults (-e ENV, -W WARMUP)
 *   remote_bench blk-fill DEV NBLOCKS    O_DIRECT writes of a known pattern
 *   remote_bench blk-read DEV NBLOCKS    timed 4 KiB O_DIRECT preads, checked;
 *                                        -S NSEQ: then NSEQ sequential reads
 *                                        timed as a whole; -l -e -W
 *   remote_bench floor NODE NPAGES       the transport floor: NPAGES ECHOes
 *                                        to NODE (the module's debugfs file
 *                                        tinydsm/echo), each timed in the
 *                                        kernel; -l -e -W
 *   remote_bench stats                   this node's TINYDSM_IOC_STATS
 *   remote_bench waitfile SECS PATH...   wait until one PATH exists; prints it
 *
 * -D DIR (fault, anon, blk-read, floor): also every sample, in the order taken, to
 * DIR/LABEL.ns, in nanoseconds.
 *
 * Figures go to stdout and, as key=value lines, to the -e file (appended).
 * Latencies are in microseconds: p50 is the median, p99 the nearest-rank
 * 99th percentile. Exit status: 0, 1 failure (or check mismatch), 2 usage,
 * 3 SIGBUS on a region access.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "tinydsm.h"
#include "common.h"

#define BLK		4096ul
#define BLK_MAGIC	0x7464736d626c6b00ull	/* "tdsmblk\0" */

const char *prog = "remote_bench";

/* ------------------------------------------------------------ helpers */

static void usage(void)
{
	fprintf(stderr,
		"usage: %s alloc HOME NPAGES | touch ADDR NPAGES r|w | fault ADDR NPAGES r|w\n"
		"       | seq ADDR NPAGES | check ADDR NPAGES | anon NPAGES | floor NODE NPAGES\n"
		"       | stats | blk-fill DEV NBLOCKS | blk-read DEV NBLOCKS\n"
		"       | waitfile SECS PATH...\n"
		"options: -l LABEL -e ENV -D DIR -W WARMUP -p -R READY -G GO -t TAG -v TAG\n"
		"         -o OWNER -c COPYSET -s STATE -S NSEQ -T SECS\n"
		"(see the top of tools/bench/remote_bench.c)\n", prog);
	exit(2);
}

/* Options shared by the subcommands. */
static struct {
	const char *label, *ready, *go;
	unsigned long warmup, nseq;
	bool prime, verify, has_owner, has_copyset, has_state;
	uint64_t tag;
	unsigned int owner, copyset, state;
	unsigned int timeout_s;
} opt = { .label = "fault", .timeout_s = 300 };

/* This node's counters moved by a phase: proof of what the phase was. */
static void put_stats_delta(const char *label, const struct tinydsm_stats *a,
			    const struct tinydsm_stats *b)
{
	PUT_DELTA(label, a, b, read_faults);
	PUT_DELTA(label, a, b, write_faults);
	PUT_DELTA(label, a, b, remote_faults);
	PUT_DELTA(label, a, b, invalidations);
	PUT_DELTA(label, a, b, fetches);
}

/* ------------------------------------------------------------ subcommands */

static int cmd_alloc(unsigned int home, unsigned long npages)
{
	void *p;

	attach(TDSM_ATTACH_NO_SITES);
	p = tdsm_alloc(npages, home);
	if (!p)
		die("%s", tdsm_strerror_detail());
	printf("%#llx\n", (unsigned long long)(uintptr_t)p);
	return 0;
}

/* Read each page's first word, checking it if opt.verify; count mismatches. */
static unsigned long read_pages(uint8_t *p, unsigned long npages)
{
	unsigned long i, bad = 0;

	for (i = 0; i < npages; i++) {
		volatile uint64_t *w = (volatile uint64_t *)(p + i * PAGE);
		uint64_t v = *w;

		if (opt.verify && v != tag_pattern((uintptr_t)w, opt.tag))
			bad++;
	}
	return bad;
}

static int cmd_touch(uint64_t addr, unsigned long npages, char mode)
{
	uint8_t *p = region_pages(addr, npages);
	unsigned long i, bad = 0;
	uint64_t t0 = now_ns();

	catch_sigbus();
	if (mode == 'w') {
		for (i = 0; i < npages; i++) {
			volatile uint64_t *w = (volatile uint64_t *)(p + i * PAGE);

			*w = tag_pattern((uintptr_t)w, opt.tag);
		}
	} else {
		bad = read_pages(p, npages);
	}
	printf("touch %c %lu pages at %#llx: %.3f s%s\n", mode, npages,
	       (unsigned long long)addr, (double)(now_ns() - t0) / 1e9,
	       opt.verify ? (bad ? ", DATA WRONG" : ", data checked") : "");
	if (bad)
		fprintf(stderr, "%s: %lu of %lu pages read back wrong\n", prog, bad, npages);
	tdsm_detach();
	return bad ? 1 : 0;
}

/*
 * The timed first access to each page: opt.warmup untimed pages first,
 * then one clock pair around one load or store per page, the pages taken
 * in a scattered order (scatter_step()).
 */
static int cmd_fault(uint64_t addr, unsigned long npages, char mode)
{
	unsigned long i, n, step, bad = 0;
	struct tinydsm_stats s0, s1;
	struct summary s;
	uint64_t *ns, t0, t1;
	uint8_t *p;

	if (npages <= opt.warmup)
		die("%lu pages, %lu of them warm-up: nothing to time", npages, opt.warmup);
	n = npages - opt.warmup;
	ns = calloc(n, sizeof(*ns));
	if (!ns)
		die("out of memory");
	p = region_pages(addr, npages);
	catch_sigbus();
	if (opt.prime)
		bad += read_pages(p, npages);
	if (opt.ready) {
		create_file(opt.ready);
		if (opt.go && wait_paths(&opt.go, 1, opt.timeout_s) < 0)
			die("%s did not appear within %u s", opt.go, opt.timeout_s);
	}
	/* Downwards: no read-ahead, which would take timed pages too. */
	for (i = opt.warmup; i-- > 0;) {
		volatile uint64_t *w = (volatile uint64_t *)(p + i * PAGE);

		if (mode == 'w')
			*w = tag_pattern((uintptr_t)w, opt.tag);
		else
			(void)*w;
	}
	step = scatter_step(n);
	put("%s_scatter_step=%lu", opt.label, step);
	s0 = stats_now();
	for (i = 0; i < n; i++) {
		unsigned long j = opt.warmup + i * step % n;
		volatile uint64_t *w = (volatile uint64_t *)(p + j * PAGE);
		uint64_t v = 0;

		if (mode == 'w') {
			uint64_t x = tag_pattern((uintptr_t)w, opt.tag);

			t0 = now_ns();
			*w = x;
			t1 = now_ns();
		} else {
			t0 = now_ns();
			v = *w;
			t1 = now_ns();
			if (opt.verify && v != tag_pattern((uintptr_t)w, opt.tag))
				bad++;
		}
		ns[i] = t1 - t0;
	}
	s1 = stats_now();
	dump_samples(opt.label, ns, n);
	s = summarize(ns, n);
	put_summary(opt.label, &s);
	put("%s_warmup=%lu", opt.label, opt.warmup);
	put("%s_clock_pair_ns=%.0f", opt.label, (double)timer_overhead_ns(1001));
	put_stats_delta(opt.label, &s0, &s1);
	if (opt.verify || opt.prime)
		put("%s_bad_pages=%lu", opt.label, bad);
	printf("%s: %zu %s faults, p50 %.1f us, p99 %.1f us, min %.1f us, mean %.1f us%s\n",
	       opt.label, s.n, mode == 'w' ? "write" : "read", s.p50, s.p99,
	       s.min, s.mean, bad ? ", DATA WRONG" : "");
	tdsm_detach();
	free(ns);
	return bad ? 1 : 0;
}

/* Sequential first-touch reads of every page, timed as a whole. */
static int cmd_seq(uint64_t addr, unsigned long npages)
{
	struct tinydsm_stats s0, s1;
	unsigned long bad;
	uint8_t *p = region_pages(addr, npages);
	uint64_t t0, t1;
	double secs;

	catch_sigbus();
	s0 = stats_now();
	t0 = now_ns();
	bad = read_pages(p, npages);
	t1 = now_ns();
	s1 = stats_now();
	secs = (double)(t1 - t0) / 1e9;
	put("%s_pages=%lu", opt.label, npages);
	put("%s_secs=%.4f", opt.label, secs);
	put("%s_ops_per_s=%.1f", opt.label, (double)npages / secs);
	/* MB = 2^20 bytes, as perftest's MB/sec */
	put("%s_MBps=%.4f", opt.label, (double)npages * PAGE / secs / 1048576.0);
	put_stats_delta(opt.label, &s0, &s1);
	if (opt.verify)
		put("%s_bad_pages=%lu", opt.label, bad);
	printf("%s: %lu pages in %.3f s: %.1f pages/s, %.3f MB/s%s\n", opt.label,
	       npages, secs, (double)npages / secs,
	       (double)npages * PAGE / secs / 1048576.0, bad ? ", DATA WRONG" : "");
	tdsm_detach();
	return bad ? 1 : 0;
}

/* Each page's metadata on this node: owner, copyset (at the home), state. */
static int cmd_check(uint64_t addr, unsigned long npages)
{
	unsigned long i, bad = 0;

	attach(TDSM_ATTACH_NO_SITES);
	for (i = 0; i < npages; i++) {
		struct tinydsm_page_info pi = page_info(addr + i * PAGE);

		if ((opt.has_owner && pi.owner != opt.owner) ||
		    (opt.has_copyset && pi.copyset != opt.copyset) ||
		    (opt.has_state && pi.state != opt.state)) {
			if (bad++ < 3)
				fprintf(stderr, "%s: page %#llx: owner %u copyset %#x state %u\n",
					prog, (unsigned long long)pi.addr, pi.owner,
					pi.copyset, pi.state);
		}
	}
	printf("check %lu pages at %#llx:", npages, (unsigned long long)addr);
	if (opt.has_owner)
		printf(" owner %u", opt.owner);
	if (opt.has_copyset)
		printf(" copyset %#x", opt.copyset);
	if (opt.has_state)
		printf(" state %u", opt.state);
	printf(": %lu match, %lu do not\n", npages - bad, bad);
	return bad ? 1 : 0;
}

/* Plain anonymous memory: the kernel's own first-touch faults, for scale. */
static int cmd_anon(unsigned long npages)
{
	unsigned long total = npages + opt.warmup, i;
	uint64_t *ns = calloc(npages, sizeof(*ns)), t0, t1;
	struct summary s;
	int pass;

	if (!ns)
		die("out of memory");
	for (pass = 0; pass < 2; pass++) {
		const char *label = pass ? "anon_wr" : "anon_rd";
		uint8_t *p = mmap(NULL, total * PAGE, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			die("mmap: %s", strerror(errno));
		/* One fault per 4 KiB page, as on the region: no huge pages. */
		madvise(p, total * PAGE, MADV_NOHUGEPAGE);
		for (i = 0; i < total; i++) {
			volatile uint64_t *w = (volatile uint64_t *)(p + i * PAGE);

			if (pass) {
				t0 = now_ns();
				*w = i;
				t1 = now_ns();
			} else {
				t0 = now_ns();
				(void)*w;
				t1 = now_ns();
			}
			if (i >= opt.warmup)
				ns[i - opt.warmup] = t1 - t0;
		}
		dump_samples(label, ns, npages);
		s = summarize(ns, npages);
		put_summary(label, &s);
		printf("%s: %zu faults, p50 %.2f us, p99 %.2f us\n", label, s.n,
		       s.p50, s.p99);
		munmap(p, total * PAGE);
	}
	free(ns);
	return 0;
}

/*
 * The transport floor: the module sends NPAGES + WARMUP ECHOes to @node one
 * after the other and times each (kmod/echo.c); the first WARMUP are left
 * out, as the other figures' warm-up accesses.
 */
static int cmd_floor(unsigned long node, unsigned long npages)
{
	static const char path[] = "/sys/kernel/debug/tinydsm/echo";
	unsigned long total = npages + opt.warmup, n = 0;
	uint64_t *ns = calloc(total, sizeof(*ns));
	unsigned long long v;
	struct summary s;
	FILE *f;

	if (!ns)
		die("out of memory");
	f = fopen(path, "w");
	if (!f)
		die("%s: %s (debugfs mounted? the module loaded?)", path, strerror(errno));
	if (fprintf(f, "%lu %lu\n", node, total) < 0 || fclose(f))
		die("%s: %lu echoes to node %lu: %s", path, total, node, strerror(errno));
	f = fopen(path, "r");
	if (!f)
		die("%s: %s", path, strerror(errno));
	while (n < total && fscanf(f, "%llu", &v) == 1)
		ns[n++] = v;
	fclose(f);
	if (n != total)
		die("%s: %lu samples, expected %lu", path, n, total);
	dump_samples(opt.label, ns + opt.warmup, npages);
	s = summarize(ns + opt.warmup, npages);
	put_summary(opt.label, &s);
	printf("%s: %zu echoes to node %lu, p50 %.2f us, p99 %.2f us\n", opt.label,
	       s.n, node, s.p50, s.p99);
	free(ns);
	return 0;
}

static int cmd_stats(void)
{
	struct tinydsm_stats st = stats_now();

	printf("read_faults=%llu write_faults=%llu frames=%llu frames_allocated=%llu "
	       "remote_faults=%llu invalidations=%llu fetches=%llu\n",
	       (unsigned long long)st.read_faults,
	       (unsigned long long)st.write_faults,
	       (unsigned long long)st.frames,
	       (unsigned long long)st.frames_allocated,
	       (unsigned long long)st.remote_faults,
	       (unsigned long long)st.invalidations,
	       (unsigned long long)st.fetches);
	return 0;
}

/* ------------------------------------------------------------ block device */

static void *blk_buf(void)
{
	void *b;

	if (posix_memalign(&b, BLK, BLK))
		die("out of memory");
	return b;
}

static int blk_open(const char *dev, int flags, unsigned long nblocks)
{
	int fd = open(dev, flags | O_DIRECT | O_CLOEXEC);
	off_t size;

	if (fd < 0)
		die("%s: %s", dev, strerror(errno));
	size = lseek(fd, 0, SEEK_END);
	if (size < 0 || (unsigned long long)size < nblocks * BLK)
		die("%s: %lld bytes, need %lu blocks of %lu", dev,
		    (long long)size, nblocks, BLK);
	return fd;
}

static int cmd_blk_fill(const char *dev, unsigned long nblocks)
{
	uint64_t *b = blk_buf();
	int fd = blk_open(dev, O_WRONLY, nblocks);
	unsigned long i, j;

	for (i = 0; i < nblocks; i++) {
		for (j = 0; j < BLK / 8; j++)
			b[j] = (BLK_MAGIC ^ i) + j;
		if (pwrite(fd, b, BLK, (off_t)(i * BLK)) != (ssize_t)BLK)
			die("%s: write of block %lu: %s", dev, i, strerror(errno));
	}
	if (fsync(fd))
		die("%s: fsync: %s", dev, strerror(errno));
	close(fd);
	free(b);
	printf("blk-fill %s: %lu blocks of %lu bytes\n", dev, nblocks, BLK);
	return 0;
}

static int blk_read_one(int fd, uint64_t *b, unsigned long blk)
{
	if (pread(fd, b, BLK, (off_t)(blk * BLK)) != (ssize_t)BLK)
		die("read of block %lu: %s", blk, strerror(errno));
	return b[0] != (BLK_MAGIC ^ blk) ||
	       b[BLK / 8 - 1] != (BLK_MAGIC ^ blk) + BLK / 8 - 1;
}

/*
 * nblocks timed 4 KiB O_DIRECT reads (blocks 0, 1, ...; the first
 * opt.warmup untimed), each checked; then opt.nseq sequential reads timed
 * as a whole, one at a time (queue depth 1, like a fault).
 */
static int cmd_blk_read(const char *dev, unsigned long nblocks)
{
	unsigned long total = nblocks + opt.warmup, i, bad = 0;
	uint64_t *ns = calloc(nblocks, sizeof(*ns)), *b = blk_buf(), t0, t1;
	char key[128];
	struct summary s;
	int fd;

	if (!ns)
		die("out of memory");
	fd = blk_open(dev, O_RDONLY, total > opt.nseq ? total : opt.nseq);
	for (i = 0; i < total; i++) {
		t0 = now_ns();
		bad += blk_read_one(fd, b, i);
		t1 = now_ns();
		if (i >= opt.warmup)
			ns[i - opt.warmup] = t1 - t0;
	}
	dump_samples(opt.label, ns, nblocks);
	s = summarize(ns, nblocks);
	put_summary(opt.label, &s);
	put("%s_warmup=%lu", opt.label, opt.warmup);
	printf("%s: %zu reads, p50 %.1f us, p99 %.1f us, min %.1f us, mean %.1f us\n",
	       opt.label, s.n, s.p50, s.p99, s.min, s.mean);
	if (opt.nseq) {
		double secs;

		t0 = now_ns();
		for (i = 0; i < opt.nseq; i++)
			bad += blk_read_one(fd, b, i);
		t1 = now_ns();
		secs = (double)(t1 - t0) / 1e9;
		snprintf(key, sizeof(key), "%s_seq", opt.label);
		put("%s_pages=%lu", key, opt.nseq);
		put("%s_secs=%.4f", key, secs);
		put("%s_ops_per_s=%.1f", key, (double)opt.nseq / secs);
		put("%s_MBps=%.4f", key, (double)opt.nseq * BLK / secs / 1048576.0);
		printf("%s: %lu sequential reads in %.3f s: %.3f MB/s\n", key,
		       opt.nseq, secs, (double)opt.nseq * BLK / secs / 1048576.0);
	}
	put("%s_bad_blocks=%lu", opt.label, bad);
	if (bad)
		fprintf(stderr, "%s: %s: %lu blocks read back wrong\n", prog, dev, bad);
	close(fd);
	free(ns);
	free(b);
	return bad ? 1 : 0;
}

static int cmd_waitfile(int n, char **paths)
{
	int i = wait_paths((const char *const *)paths, n, opt.timeout_s);

	if (i < 0)
		return 1;
	printf("%s\n", paths[i]);
	return 0;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
	const char *cmd = subcommand(&argc, &argv, usage);
	int c;

	while ((c = getopt(argc, argv, "l:e:D:W:pR:G:t:v:o:c:s:S:T:h")) != -1) {
		switch (c) {
		case 'l': opt.label = optarg; break;
		case 'e': put_env = optarg; break;
		case 'D': dump_dir = optarg; break;
		case 'W': opt.warmup = parse_ull(optarg, "warm-up count"); break;
		case 'p': opt.prime = true; break;
		case 'R': opt.ready = optarg; break;
		case 'G': opt.go = optarg; break;
		case 't': opt.tag = parse_ull(optarg, "tag"); break;
		case 'v': opt.tag = parse_ull(optarg, "tag"); opt.verify = true; break;
		case 'o': opt.owner = parse_ull(optarg, "owner"); opt.has_owner = true; break;
		case 'c':
			opt.copyset = parse_ull(optarg, "copyset");
			opt.has_copyset = true;
			break;
		case 's': opt.state = parse_ull(optarg, "state"); opt.has_state = true; break;
		case 'S': opt.nseq = parse_ull(optarg, "sequential count"); break;
		case 'T': opt.timeout_s = parse_ull(optarg, "timeout"); break;
		default: usage();
		}
	}
	argv += optind;
	argc -= optind;

#define NEED(n) do { if (argc != (n)) usage(); } while (0)
	if (!strcmp(cmd, "alloc")) {
		NEED(2);
		return cmd_alloc(parse_ull(argv[0], "home"), parse_ull(argv[1], "npages"));
	}
	if (!strcmp(cmd, "touch") || !strcmp(cmd, "fault")) {
		NEED(3);
		if (strcmp(argv[2], "r") && strcmp(argv[2], "w"))
			usage();
		return (cmd[0] == 't' ? cmd_touch : cmd_fault)(
			parse_ull(argv[0], "address"), parse_ull(argv[1], "npages"),
			argv[2][0]);
	}
	if (!strcmp(cmd, "seq")) {
		NEED(2);
		return cmd_seq(parse_ull(argv[0], "address"), parse_ull(argv[1], "npages"));
	}
	if (!strcmp(cmd, "check")) {
		NEED(2);
		return cmd_check(parse_ull(argv[0], "address"), parse_ull(argv[1], "npages"));
	}
	if (!strcmp(cmd, "anon")) {
		NEED(1);
		return cmd_anon(parse_ull(argv[0], "npages"));
	}
	if (!strcmp(cmd, "floor")) {
		NEED(2);
		return cmd_floor(parse_ull(argv[0], "node"), parse_ull(argv[1], "npages"));
	}
	if (!strcmp(cmd, "stats")) {
		NEED(0);
		return cmd_stats();
	}
	if (!strcmp(cmd, "blk-fill")) {
		NEED(2);
		return cmd_blk_fill(argv[0], parse_ull(argv[1], "block count"));
	}
	if (!strcmp(cmd, "blk-read")) {
		NEED(2);
		return cmd_blk_read(argv[0], parse_ull(argv[1], "block count"));
	}
	if (!strcmp(cmd, "waitfile")) {
		if (argc < 2)
			usage();
		opt.timeout_s = parse_ull(argv[0], "timeout");
		return cmd_waitfile(argc - 1, argv + 1);
	}
	usage();
	return 2;
}
