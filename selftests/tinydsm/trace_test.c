// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm-trace on one node (lab, module loaded): the tracer attaches to
 * the module's tracepoints in a guest and counts exactly the faults the
 * traced program takes (total, read/write, fetched, per page, per IP, the
 * latency histogram), the same number the module's own counters move by;
 * another process faulting meanwhile is not counted; -p follows a running
 * process and stops when it exits; the readable blocks, SIGINT, SIGTERM
 * and -d end it with the totals; bad usage exits 2, not root or a command
 * that cannot run exits 1. The cache's events (tinydsm_evict,
 * tinydsm_reclaim) are attached to and shown, and count nothing on one
 * node (cache_test checks the events themselves on two).
 *
 * The traced program is this binary run again as "--touch ADDR N M INFO_FD
 * GO_FD DONE_FD": it reads N pages at ADDR, writes the first M of them,
 * tells INFO_FD its pid and accessors, then (GO_FD >= 0) has the other
 * process fault while it is still traced and waits for it (DONE_FD).
 *
 * The tracer is $TDSM_TRACE, else build/tools/tinydsm-trace next to this
 * test's build/selftests/. The tests expect no other process to fault on
 * the region while they run (the lab runs the tests one by one).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdsm_util.h"

#define DEV_PATH	"/dev/tinydsm"
#define NOBODY		65534
#define OUT_MAX		(256 * 1024)
#define RUN_MS		40000	/* the longest a tracer run may take (TCG) */
#define HELPER_MS	20000	/* the longest a helper waits for its peer */

#define N_READ		12	/* pages the traced command reads */
#define M_WRITE		5	/* ...and writes, of those */
#define K_OTHER		7	/* pages another process reads meanwhile */

static long page_size;
static char tracer[PATH_MAX], self_exe[PATH_MAX];

static bool ip_in(uint64_t ip, void *fn)
{
	return ip >= (uintptr_t)fn && ip < (uintptr_t)fn + 64;
}

/* Map @npages of the region at @addr, as every helper does. */
static uint8_t *map_pages(int fd, uint64_t addr, unsigned int npages)
{
	void *p = mmap(NULL, npages * page_size, PROT_READ | PROT_WRITE,
		       MAP_SHARED, fd, addr - TINYDSM_REGION_BASE);

	return p == MAP_FAILED || p != (void *)(uintptr_t)addr ? NULL : p;
}

/* Wait up to HELPER_MS for one byte on @fd. */
static bool wait_byte(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char b;

	return poll(&pfd, 1, HELPER_MS) == 1 && read(fd, &b, 1) == 1;
}

/*
 * The other process: on a byte on @go, read @npages at @addr, then say so
 * on @done (if >= 0). Exit 0 if all went well.
 */
static void other_touch(int go, int done, uint64_t addr, unsigned int npages)
{
	int fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	uint8_t *p = fd < 0 ? NULL : map_pages(fd, addr, npages);
	unsigned int i;

	if (!p)
		_exit(10);
	if (!wait_byte(go))
		_exit(11);
	for (i = 0; i < npages; i++)
		tu_read_byte(p + i * page_size + 3);
	if (done >= 0 && write(done, "d", 1) != 1)
		_exit(12);
	_exit(0);
}

/* trace_test --touch ADDR N M INFO_FD GO_FD DONE_FD: the traced command. */
static int touch_main(char **argv)
{
	uint64_t addr = strtoull(argv[2], NULL, 0);
	unsigned int n = atoi(argv[3]), m = atoi(argv[4]), i;
	int info = atoi(argv[5]), go = atoi(argv[6]), done = atoi(argv[7]);
	int fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	uint8_t *p;

	page_size = sysconf(_SC_PAGESIZE);
	p = fd < 0 ? NULL : map_pages(fd, addr, n);
	if (!p)
		return 20;
	if (dprintf(info, "%d %#lx %#lx\n", getpid(), (unsigned long)tu_read_byte,
		    (unsigned long)tu_write_byte) <= 0)
		return 21;
	for (i = 0; i < n; i++)
		tu_read_byte(p + i * page_size + 1);
	for (i = 0; i < m; i++)
		tu_write_byte(p + i * page_size + 2, 0x5a);
	/* The other process faults while this one is still traced. */
	if (go >= 0 && (write(go, "g", 1) != 1 || !wait_byte(done)))
		return 22;
	return 0;
}

/* ---- running the tracer ---- */

struct run {
	pid_t pid;
	int fd[2];		/* its stdout, stderr (read ends; -1 at EOF) */
	char buf[2][OUT_MAX];	/* what they said, NUL-terminated */
	size_t len[2];
	int rc;			/* exit status; -1 killed or still running */
};

static bool run_start(struct run *r, char *const argv[], bool as_nobody)
{
	int out[2], err[2];

	memset(r, 0, sizeof(*r));
	r->rc = -1;
	r->fd[0] = -1;
	r->fd[1] = -1;
	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC))
		return false;
	fflush(stdout);
	fflush(stderr);
	r->pid = fork();
	if (r->pid < 0)
		return false;
	if (r->pid == 0) {
		dup2(out[1], 1);
		dup2(err[1], 2);
		if (as_nobody &&
		    (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)))
			_exit(120);
		execv(argv[0], argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	r->fd[0] = out[0];
	r->fd[1] = err[0];
	return true;
}

static long long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* Read what is there within @ms; false if both pipes are at EOF. */
static bool run_pump(struct run *r, int ms)
{
	struct pollfd pfd[2];
	ssize_t got;
	int i;

	if (r->fd[0] < 0 && r->fd[1] < 0)
		return false;
	/* A negative fd is skipped by poll(). */
	for (i = 0; i < 2; i++)
		pfd[i] = (struct pollfd){ .fd = r->fd[i], .events = POLLIN };
	if (poll(pfd, 2, ms) <= 0)
		return true;
	for (i = 0; i < 2; i++) {
		size_t room = OUT_MAX - 1 - r->len[i];
		char sink[4096];

		/* Only a stream that is ready: the other may say nothing for long. */
		if (r->fd[i] < 0 || !pfd[i].revents)
			continue;
		/* Past OUT_MAX the output is drained, not kept. */
		got = room ? read(r->fd[i], r->buf[i] + r->len[i], room) :
			     read(r->fd[i], sink, sizeof(sink));
		if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
			close(r->fd[i]);
			r->fd[i] = -1;
		} else if (got > 0 && room) {
			r->len[i] += got;
			r->buf[i][r->len[i]] = '\0';
		}
	}
	return true;
}

/* Until stream @which (0 stdout, 1 stderr) says @what; false on EOF/timeout. */
static bool run_wait_for(struct run *r, int which, const char *what)
{
	long long end = now_ms() + RUN_MS;

	while (!strstr(r->buf[which], what))
		if (now_ms() > end || !run_pump(r, 100))
			return false;
	return true;
}

/* Until the tracer exits (killed after RUN_MS): its exit status, or -1. */
static int run_finish(struct run *r)
{
	long long end = now_ms() + RUN_MS;
	int status;

	while (now_ms() < end && run_pump(r, 100))
		;
	if (r->fd[0] >= 0 || r->fd[1] >= 0)
		kill(r->pid, SIGKILL);
	while (run_pump(r, 100))
		;
	if (waitpid(r->pid, &status, 0) == r->pid && WIFEXITED(status))
		r->rc = WEXITSTATUS(status);
	return r->rc;
}

static int run_tracer(struct run *r, char **argv, bool as_nobody)
{
	if (!run_start(r, argv, as_nobody))
		return -1;
	return run_finish(r);
}

/* ---- JSON, enough of it to check the tracer's output strictly ---- */

struct jv {
	char type;		/* n(ull) b(ool) d(number) s(tring) a(rray) o(bject) */
	double num;
	char *str;
	size_t n;
	struct jv *kid;		/* array elements, object values */
	char **key;		/* object keys */
};

static const char *jws(const char *s)
{
	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	return s;
}

static const char *jstr(const char *s, char **out)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	char *o = malloc(strlen(s) + 1), *p = o;
	const char *e;

	if (!o || *s++ != '"')
		goto bad;
	while (*s != '"') {
		if ((unsigned char)*s < 0x20)
			goto bad;
		if (*s != '\\') {
			*p++ = *s++;
			continue;
		}
		s++;
		if (*s == 'u') {
			if (strspn(s + 1, "0123456789abcdefABCDEF") < 4)
				goto bad;
			*p++ = '?';	/* not needed as text here */
			s += 5;
			continue;
		}
		e = *s ? strchr(from, *s) : NULL;
		if (!e)
			goto bad;
		*p++ = to[e - from];
		s++;
	}
	*p = '\0';
	*out = o;
	return s + 1;
bad:
	free(o);
	return NULL;
}

static const char *jval(const char *s, struct jv *v, int depth)
{
	char *end;

	memset(v, 0, sizeof(*v));
	s = jws(s);
	if (depth > 16)
		return NULL;
	if (*s == '{' || *s == '[') {
		bool obj = *s == '{';

		v->type = obj ? 'o' : 'a';
		s = jws(s + 1);
		if (*s == (obj ? '}' : ']'))
			return s + 1;
		for (;;) {
			v->kid = realloc(v->kid, (v->n + 1) * sizeof(*v->kid));
			v->key = realloc(v->key, (v->n + 1) * sizeof(*v->key));
			if (!v->kid || !v->key)
				return NULL;
			v->key[v->n] = NULL;
			if (obj) {
				s = jstr(jws(s), &v->key[v->n]);
				if (!s)
					return NULL;
				s = jws(s);
				if (*s != ':')
					return NULL;
				s++;
			}
			s = jval(s, &v->kid[v->n++], depth + 1);
			if (!s)
				return NULL;
			s = jws(s);
			if (*s == ',') {
				s++;
				continue;
			}
			return *s == (obj ? '}' : ']') ? s + 1 : NULL;
		}
	}
	if (*s == '"') {
		v->type = 's';
		return jstr(s, &v->str);
	}
	if (!strncmp(s, "null", 4)) {
		v->type = 'n';
		return s + 4;
	}
	if (!strncmp(s, "true", 4) || !strncmp(s, "false", 5)) {
		v->type = 'b';
		v->num = *s == 't';
		return s + (*s == 't' ? 4 : 5);
	}
	if (*s != '-' && (*s < '0' || *s > '9'))
		return NULL;
	v->type = 'd';
	v->num = strtod(s, &end);
	return end;
}

/* Exactly one JSON value (and a newline) in @s? */
static bool json_parse(const char *s, struct jv *v)
{
	s = jval(s, v, 0);
	return s && !*jws(s);
}

static const struct jv *jget(const struct jv *o, const char *key)
{
	size_t i;

	if (!o || o->type != 'o')
		return NULL;
	for (i = 0; i < o->n; i++)
		if (o->key[i] && !strcmp(o->key[i], key))
			return &o->kid[i];
	return NULL;
}

/* A number member (or -1: counts here are never negative). */
static long long jnum(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);

	return v && v->type == 'd' ? (long long)v->num : -1;
}

static const char *jtext(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);

	return v && v->type == 's' ? v->str : NULL;
}

static const struct jv *jarr(const struct jv *o, const char *key)
{
	const struct jv *v = jget(o, key);

	return v && v->type == 'a' ? v : NULL;
}

/* ---- the tests ---- */

FIXTURE(trace) {
	int fd;
	struct run run;		/* big: not on the stack */
	struct jv json;
};

FIXTURE_SETUP(trace)
{
	const char *env = getenv("TDSM_TRACE");
	char *slash;
	ssize_t n;

	page_size = sysconf(_SC_PAGESIZE);
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	ASSERT_GT(n, 0);
	self_exe[n] = '\0';
	if (env) {
		snprintf(tracer, sizeof(tracer), "%s", env);
	} else {
		/* build/selftests/trace_test -> build/tools/tinydsm-trace */
		snprintf(tracer, sizeof(tracer), "%s", self_exe);
		slash = strrchr(tracer, '/');
		ASSERT_NE(NULL, slash);
		snprintf(slash, sizeof(tracer) - (slash - tracer), "/../tools/tinydsm-trace");
	}
	ASSERT_EQ(0, access(tracer, X_OK)) TH_LOG("%s: %s", tracer, strerror(errno));
	self->fd = open(DEV_PATH, O_RDWR | O_CLOEXEC);
	ASSERT_GE(self->fd, 0) TH_LOG("open %s: %s", DEV_PATH, strerror(errno));
}

FIXTURE_TEARDOWN(trace)
{
	close(self->fd);
}

static uint64_t alloc_pages(int fd, unsigned int npages)
{
	struct tinydsm_alloc a = { .npages = npages };

	return ioctl(fd, TINYDSM_IOC_ALLOC, &a) ? 0 : a.addr;
}

static int page_info(int fd, uint64_t addr, struct tinydsm_page_info *pi)
{
	memset(pi, 0, sizeof(*pi));
	pi->addr = addr;
	return ioctl(fd, TINYDSM_IOC_PAGE_INFO, pi);
}

/* The entry of "pages" for @addr, or NULL. */
static const struct jv *find_page(const struct jv *pages, uint64_t addr)
{
	size_t i;

	for (i = 0; pages && i < pages->n; i++)
		if (jnum(&pages->kid[i], "addr") == (long long)addr)
			return &pages->kid[i];
	return NULL;
}

/* Sum of the buckets of histogram @name in @unit, -1 if it is malformed. */
static long long hist_sum_of(const struct jv *json, const char *name,
			     const char *unit)
{
	const struct jv *h = jget(json, name), *b = jarr(h, "buckets");
	long long sum = 0, next_lo = 0;
	size_t i;

	if (!b || !jtext(h, "unit") || strcmp(jtext(h, "unit"), unit))
		return -1;
	for (i = 0; i < b->n; i++) {
		/* Contiguous log2 buckets from 0 up. */
		if (jnum(&b->kid[i], "lo") != next_lo || jnum(&b->kid[i], "hi") < next_lo ||
		    jnum(&b->kid[i], "count") < 0)
			return -1;
		next_lo = jnum(&b->kid[i], "hi") + 1;
		sum += jnum(&b->kid[i], "count");
	}
	return sum;
}

/* The fault latency histogram's sum. */
static long long hist_sum(const struct jv *json)
{
	return hist_sum_of(json, "histogram", "usecs");
}

/*
 * The command reads N pages and writes M of them while another process
 * reads K other pages: the tracer counts exactly the command's N + M,
 * which is what the module's counters moved by less the other's K.
 */
TEST_F_TIMEOUT(trace, counts_exactly_the_commands_faults, 90)
{
	struct tinydsm_page_info before[N_READ], pi;
	struct tinydsm_stats s0, s1;
	const struct jv *t, *pages, *ips, *ev, *e;
	char a_addr[32], a_n[16], a_m[16], a_info[16], a_go[16], a_done[16];
	char *argv[] = { tracer, "-j", "-n", "64", "--", self_exe, "--touch", a_addr,
			 a_n, a_m, a_info, a_go, a_done, NULL };
	char info[128] = "";
	unsigned long read_fn = 0, write_fn = 0;
	long long fetched = 0, want;
	int go[2], done[2], info_fd, status, child = 0, i;
	uint64_t addr, other;
	const char *where;
	pid_t opid;

	addr = alloc_pages(self->fd, N_READ);
	ASSERT_NE(0, addr) TH_LOG("ALLOC %d pages: %s", N_READ, strerror(errno));
	other = alloc_pages(self->fd, K_OTHER);
	ASSERT_NE(0, other) TH_LOG("ALLOC %d pages: %s", K_OTHER, strerror(errno));

	/* "Fetched": the page was not here in a state good enough. */
	for (i = 0; i < N_READ; i++) {
		ASSERT_EQ(0, page_info(self->fd, addr + i * page_size, &before[i]));
		fetched += before[i].state == TINYDSM_PAGE_INVALID;
		if (i < M_WRITE)
			fetched += before[i].state != TINYDSM_PAGE_EXCLUSIVE;
	}

	/* Inherited through the tracer by the command: no close-on-exec. */
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	info_fd = memfd_create("info", 0);
	ASSERT_GE(info_fd, 0);
	opid = fork();
	ASSERT_GE(opid, 0);
	if (opid == 0)
		other_touch(go[0], done[1], other, K_OTHER);

	snprintf(a_addr, sizeof(a_addr), "%#llx", (unsigned long long)addr);
	snprintf(a_n, sizeof(a_n), "%d", N_READ);
	snprintf(a_m, sizeof(a_m), "%d", M_WRITE);
	snprintf(a_info, sizeof(a_info), "%d", info_fd);
	snprintf(a_go, sizeof(a_go), "%d", go[1]);
	snprintf(a_done, sizeof(a_done), "%d", done[0]);

	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_STATS, &s0));
	EXPECT_EQ(0, run_tracer(&self->run, argv, false))
		TH_LOG("stderr: %s", self->run.buf[1]);
	ASSERT_EQ(0, ioctl(self->fd, TINYDSM_IOC_STATS, &s1));
	ASSERT_EQ(opid, waitpid(opid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the other process: status %#x", status);

	ASSERT_GT(pread(info_fd, info, sizeof(info) - 1, 0), 0)
		TH_LOG("the command said nothing; stderr: %s", self->run.buf[1]);
	ASSERT_EQ(3, sscanf(info, "%d %lx %lx", &child, &read_fn, &write_fn));

	ASSERT_TRUE(json_parse(self->run.buf[0], &self->json))
		TH_LOG("not one JSON object: '%s'", self->run.buf[0]);
	EXPECT_EQ(tu_node_id(), jnum(&self->json, "node_id"));
	EXPECT_EQ(child, jnum(&self->json, "tgid"));

	/* The command's faults, all of them, and only those. */
	t = jget(&self->json, "totals");
	EXPECT_EQ(N_READ + M_WRITE, jnum(t, "faults"));
	EXPECT_EQ(N_READ, jnum(t, "reads"));
	EXPECT_EQ(M_WRITE, jnum(t, "writes"));
	EXPECT_EQ(fetched, jnum(t, "fetched"));
	EXPECT_EQ(0, jnum(t, "failed"));
	EXPECT_EQ(0, jnum(t, "unmatched"));
	EXPECT_EQ(0, jnum(t, "dropped_pages"));
	EXPECT_EQ(0, jnum(t, "dropped_ips"));

	/* The module saw the other's K reads too: the tracer did not. */
	EXPECT_EQ(N_READ + K_OTHER, s1.read_faults - s0.read_faults);
	EXPECT_EQ(M_WRITE, s1.write_faults - s0.write_faults);
	EXPECT_EQ(jnum(t, "faults"),
		  (long long)(s1.read_faults + s1.write_faults -
			      s0.read_faults - s0.write_faults) - K_OTHER);

	EXPECT_EQ(jnum(t, "faults"), hist_sum(&self->json));

	/* Each page once per read, once more if written; as the module counts. */
	pages = jarr(&self->json, "pages");
	ASSERT_NE(NULL, pages);
	EXPECT_EQ(N_READ, pages->n);
	for (i = 0; i < N_READ; i++) {
		want = i < M_WRITE ? 2 : 1;
		e = find_page(pages, addr + i * page_size);
		EXPECT_NE(NULL, e) TH_LOG("page %d (%#llx) missing", i,
					  (unsigned long long)(addr + i * page_size));
		EXPECT_EQ(want, jnum(e, "count")) TH_LOG("page %d", i);
		ASSERT_EQ(0, page_info(self->fd, addr + i * page_size, &pi));
		EXPECT_EQ(want, pi.faults - before[i].faults) TH_LOG("page %d", i);
	}
	for (i = 0; i < K_OTHER; i++)
		EXPECT_EQ(NULL, find_page(pages, other + i * page_size))
			TH_LOG("the other process's page %d was counted", i);

	/* The top IPs: the command's read, then its write, in its own text. */
	ips = jarr(&self->json, "ips");
	ASSERT_NE(NULL, ips);
	ASSERT_EQ(2, ips->n) TH_LOG("%s", self->run.buf[0]);
	for (i = 0; i < 2; i++) {
		e = &ips->kid[i];
		EXPECT_TRUE(ip_in(jnum(e, "ip"), (void *)(i ? write_fn : read_fn)))
			TH_LOG("ip %#llx, accessor at %#lx", jnum(e, "ip"),
			       i ? write_fn : read_fn);
		EXPECT_EQ(i ? M_WRITE : N_READ, jnum(e, "count"));
		EXPECT_EQ(child, jnum(e, "tgid"));
		/* Resolved only if the command lived long enough to be read. */
		where = jtext(e, "where");
		EXPECT_TRUE(!jget(e, "where") || jget(e, "where")->type == 'n' ||
			    (where && !strncmp(where, self_exe, strlen(self_exe)) &&
			     !strncmp(where + strlen(self_exe), "+0x", 3)))
			TH_LOG("where: %s", where);
	}

	ev = jget(&self->json, "events");
	ASSERT_NE(NULL, ev);
	EXPECT_EQ(0, jnum(ev, "fetch_errors"));
	EXPECT_EQ(0, jnum(ev, "invalidate_errors"));
	EXPECT_EQ(0, jnum(ev, "migrate"));
	/*
	 * One node caches no page homed elsewhere: nothing to evict, and
	 * the reclaim work never runs; the eviction counts and histograms
	 * are there, empty.
	 */
	EXPECT_EQ(0, jnum(ev, "evict"));
	EXPECT_EQ(0, jnum(ev, "evict_errors"));
	EXPECT_EQ(0, jnum(ev, "evict_clean"));
	EXPECT_EQ(0, jnum(ev, "evict_dirty"));
	EXPECT_EQ(0, jnum(ev, "evict_released"));
	EXPECT_EQ(0, jnum(ev, "reclaim"));
	EXPECT_EQ(0, jnum(ev, "reclaim_pressure"));
	EXPECT_EQ(0, jnum(ev, "reclaim_freed"));
	EXPECT_EQ(0, hist_sum_of(&self->json, "batch_histogram", "pages"));
	EXPECT_EQ(0, hist_sum_of(&self->json, "reclaim_histogram", "usecs"));
	close(info_fd);
}

/* -p: a process already running, until it exits; its IPs resolved. */
TEST_F_TIMEOUT(trace, follows_a_running_process, 90)
{
	char a_pid[16], *argv[] = { tracer, "-j", "-p", a_pid, NULL };
	const struct jv *t, *ips, *pages;
	uint64_t addr = alloc_pages(self->fd, K_OTHER);
	const char *where;
	int go[2], status;
	pid_t pid;

	ASSERT_NE(0, addr) TH_LOG("ALLOC: %s", strerror(errno));
	ASSERT_EQ(0, pipe2(go, O_CLOEXEC));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		other_touch(go[0], -1, addr, K_OTHER);
	close(go[0]);
	snprintf(a_pid, sizeof(a_pid), "%d", pid);

	ASSERT_TRUE(run_start(&self->run, argv, false));
	ASSERT_TRUE(run_wait_for(&self->run, 1, "attached"))
		TH_LOG("stderr: %s", self->run.buf[1]);
	ASSERT_EQ(1, write(go[1], "g", 1));
	/* No signal, no -d: it ends because the process did. */
	EXPECT_EQ(0, run_finish(&self->run)) TH_LOG("stderr: %s", self->run.buf[1]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);

	ASSERT_TRUE(json_parse(self->run.buf[0], &self->json))
		TH_LOG("not one JSON object: '%s'", self->run.buf[0]);
	EXPECT_EQ(pid, jnum(&self->json, "tgid"));
	t = jget(&self->json, "totals");
	EXPECT_EQ(K_OTHER, jnum(t, "faults"));
	EXPECT_EQ(K_OTHER, jnum(t, "reads"));
	EXPECT_EQ(0, jnum(t, "writes"));
	EXPECT_EQ(K_OTHER, hist_sum(&self->json));
	pages = jarr(&self->json, "pages");
	ASSERT_NE(NULL, pages);
	EXPECT_EQ(K_OTHER, pages->n);
	EXPECT_NE(NULL, find_page(pages, addr));

	ips = jarr(&self->json, "ips");
	ASSERT_NE(NULL, ips);
	ASSERT_EQ(1, ips->n);
	EXPECT_TRUE(ip_in(jnum(&ips->kid[0], "ip"), tu_read_byte));
	/* Its mappings were read at the start: this binary, plus an offset. */
	where = jtext(&ips->kid[0], "where");
	ASSERT_NE(NULL, where) TH_LOG("%s", self->run.buf[0]);
	EXPECT_EQ(0, strncmp(where, self_exe, strlen(self_exe))) TH_LOG("%s", where);
	EXPECT_EQ(0, strncmp(where + strlen(self_exe), "+0x", 3)) TH_LOG("%s", where);
	close(go[1]);
}

/* The readable blocks: every -i, and the totals on SIGINT. */
TEST_F_TIMEOUT(trace, readable_blocks_and_sigint, 90)
{
	char *argv[] = { tracer, "-i", "0.3", "-n", "3", NULL };
	uint64_t addr = alloc_pages(self->fd, 1);
	char line[64];
	const char *totals;
	uint8_t *p;

	ASSERT_NE(0, addr) TH_LOG("ALLOC: %s", strerror(errno));
	p = map_pages(self->fd, addr, 1);
	ASSERT_NE(NULL, p);

	ASSERT_TRUE(run_start(&self->run, argv, false));
	ASSERT_TRUE(run_wait_for(&self->run, 1, "attached"))
		TH_LOG("stderr: %s", self->run.buf[1]);
	tu_read_byte(p);
	ASSERT_TRUE(run_wait_for(&self->run, 0, " last 0.3 s, node "))
		TH_LOG("no block: %s", self->run.buf[0]);
	kill(self->run.pid, SIGINT);
	EXPECT_EQ(0, run_finish(&self->run)) TH_LOG("stderr: %s", self->run.buf[1]);

	totals = strstr(self->run.buf[0], "totals after ");
	ASSERT_NE(NULL, totals) TH_LOG("%s", self->run.buf[0]);
	TH_LOG("the totals block:\n%s", totals);
	snprintf(line, sizeof(line), ", node %u\n", tu_node_id());
	EXPECT_NE(NULL, strstr(totals, line));
	EXPECT_NE(NULL, strstr(totals, "faults: 1 (read 1, write 0)"));
	EXPECT_NE(NULL, strstr(totals, "usecs"));
	EXPECT_NE(NULL, strstr(totals, "|****************************************|"));
	snprintf(line, sizeof(line), "%#llx          1\n", (unsigned long long)addr);
	EXPECT_NE(NULL, strstr(totals, line));
	EXPECT_NE(NULL, strstr(totals, "node events: "));
	EXPECT_NE(NULL, strstr(totals, "\n  evictions: 0 batches (0 clean, 0 to write back, 0 released), 0 failed; reclaim: 0 runs (0 for pressure), 0 frames freed\n"));
	EXPECT_EQ(NULL, strstr(totals, "eviction batch size")) TH_LOG("an empty histogram shown");
	munmap(p, page_size);
}

/* -d ends a run, and so does SIGTERM: both with the JSON totals. */
TEST_F_TIMEOUT(trace, duration_and_sigterm, 90)
{
	char *argv_d[] = { tracer, "-j", "-d", "1", NULL };
	char *argv[] = { tracer, "-j", NULL };
	long long t0 = now_ms();

	EXPECT_EQ(0, run_tracer(&self->run, argv_d, false))
		TH_LOG("stderr: %s", self->run.buf[1]);
	EXPECT_GE(now_ms() - t0, 1000);
	ASSERT_TRUE(json_parse(self->run.buf[0], &self->json))
		TH_LOG("not one JSON object: '%s'", self->run.buf[0]);
	EXPECT_EQ(0, jnum(&self->json, "tgid"));
	EXPECT_GE(jnum(&self->json, "seconds"), 1);
	EXPECT_EQ(0, jnum(jget(&self->json, "totals"), "faults"));

	ASSERT_TRUE(run_start(&self->run, argv, false));
	ASSERT_TRUE(run_wait_for(&self->run, 1, "attached"))
		TH_LOG("stderr: %s", self->run.buf[1]);
	kill(self->run.pid, SIGTERM);
	EXPECT_EQ(0, run_finish(&self->run)) TH_LOG("stderr: %s", self->run.buf[1]);
	ASSERT_TRUE(json_parse(self->run.buf[0], &self->json))
		TH_LOG("not one JSON object: '%s'", self->run.buf[0]);
	EXPECT_EQ(tu_node_id(), jnum(&self->json, "node_id"));
	EXPECT_EQ(0, jnum(jget(&self->json, "totals"), "faults"));
}

TEST_F(trace, bad_usage_exits_2)
{
	static const char *const bad[][4] = {
		{ "-x" }, { "-i" }, { "-i", "0" }, { "-i", "abc" }, { "-d", "-1" },
		{ "-n", "0" }, { "-n", "many" }, { "-p", "0" }, { "-p", "12x" },
		{ "-p", "1", "--", "true" },
	};
	char *argv[6];
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		argv[0] = tracer;
		for (j = 0; j < 4 && bad[i][j]; j++)
			argv[j + 1] = (char *)bad[i][j];
		argv[j + 1] = NULL;
		EXPECT_EQ(2, run_tracer(&self->run, argv, false))
			TH_LOG("%s %s: %s", bad[i][0], bad[i][1] ?: "", self->run.buf[1]);
		EXPECT_NE(NULL, strstr(self->run.buf[1], "usage: tinydsm-trace"));
		EXPECT_EQ(0, self->run.len[0]);
	}
}

/* Not root, a command that cannot run: 1, and a message that says why. */
TEST_F(trace, cannot_run_exits_1)
{
	char *argv[] = { tracer, "-j", NULL };
	char *argv_cmd[] = { tracer, "-j", "--", "/nonexistent/command", NULL };

	EXPECT_EQ(1, run_tracer(&self->run, argv, true)) TH_LOG("%s", self->run.buf[1]);
	EXPECT_NE(NULL, strstr(self->run.buf[1], "must run as root"));
	EXPECT_NE(NULL, strstr(self->run.buf[1], "Operation not permitted"));

	EXPECT_EQ(1, run_tracer(&self->run, argv_cmd, false)) TH_LOG("%s", self->run.buf[1]);
	EXPECT_NE(NULL, strstr(self->run.buf[1], "cannot run /nonexistent/command"));
	EXPECT_NE(NULL, strstr(self->run.buf[1], "No such file or directory"));
	EXPECT_EQ(0, self->run.len[0]);
}

/* The harness's main(), renamed: this binary is also the traced command. */
#define main harness_main
TEST_HARNESS_MAIN
#undef main

int main(int argc, char **argv)
{
	if (argc == 8 && !strcmp(argv[1], "--touch"))
		return touch_main(argv);
	return harness_main(argc, argv);
}
