// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm wire protocol robustness: a misbehaving peer, from user space, over
 * real RDMA (librdmacm + libibverbs), against the module of another node.
 *
 * Two lab nodes (selftests/lab/lab.sh --nodes 2, run_wire_tests.sh). node2's
 * module is the one under test: it listens on rdma_cm port 7471 (module
 * parameter port) and is told, by this test, that node 1 lives at TDSM_IP_1.
 * node1's module is loaded but never configured: on node1 this binary is a
 * rogue "node 1" that connects to TDSM_IP_2 from user space and speaks the
 * private wire protocol (kmod/wire.h) by hand: bad hellos, malformed
 * messages, well-formed requests with bad content, the protocol done right
 * (so that the module's own requests and replies can be checked byte for
 * byte), and wrong answers to the module's requests.
 *
 * Every test asserts what comes back (reject reason, accept hello, reply
 * status and flags, page bytes, disconnects) and what node2 sees (counters
 * of `tinydsmctl -j node show`, page contents and faults through its own
 * mapping of /dev/tinydsm, page metadata). The lab fails the run on any
 * kernel WARN/BUG/oops and if `rmmod tinydsm` fails at the end.
 *
 * node1 drives every test; node2 serves it: node1 writes a command to
 * TDSM_SHARED (<tag>.cmd.<n>), node2 runs it and writes the answer
 * (<tag>.ans.<n>), see serve(). Every wait is bounded.
 *
 * Page buffers: the module answers a READ/WRITE/FETCH by RDMA-writing the
 * page into the buffer named in the request and then replying with
 * SEND_WITH_INV of its rkey. Soft-RoCE only invalidates rkeys of fast-reg
 * MRs and memory windows (an ibv_reg_mr rkey makes the receiver's QP fail),
 * so the rogue names a type 2 memory window bound over its buffer.
 *
 * Authentication: the rogue holds the run's cluster key (TDSM_KEY_FILE, the
 * lab's) and proves it as the module does (kmod/PROTOCOL.md,
 * "Authentication"), checking node2's proof in turn; the auth_* tests
 * play a peer without the key, with a wrong one, one that replays or
 * reflects a proof, and one that skips the exchange.
 *
 * The rogue itself (its connection, buffers and messages) is in rogue.h;
 * this file holds node2's server and the tests.
 *
 * Knobs: TDSM_CTL (tinydsmctl path, default $TDSM_TREE/build/tools/tinydsmctl),
 * TDSM_WIRE_PORT (default 7471), TDSM_KEY_FILE.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <infiniband/verbs.h>
#include <netlink/errno.h>
#include <netlink/socket.h>
#include <rdma/rdma_cma.h>
#include <sodium.h>

#include <linux/tinydsm.h>

#include "../../kmod/wire.h"
#include "keyfile.h"
#include "tdsm_nl.h"

#include "kselftest_harness.h"
#include "tdsm_cluster.h"
#include "rogue.h"

#define THIRD			3	/* a second rogue, that node2 connects to */
#define THIRD_PORT		7473
#define HIGH			40	/* a rogue above node 32 (max_nodes 64) */
#define HIGH_PORT		7474
#define DEFAULT_PORT		7471

#define IDLE_S			120	/* node2: longest wait for a command */
#define RPC_S			60	/* node1: longest wait for an answer */
#define QUIET_MS		400	/* "nothing comes back" */
#define REPLY_MS		8000	/* a reply the module owes us */
#define DISCONNECT_MS		15000	/* the module tears a connection down */

/* Pages of node2's slice each test uses, as offsets into the slice. */
#define PG_ROUND_TRIP		100	/* 2 pages */
#define PG_IGNORED_INVAL	110
#define PG_READV_BUSY		111	/* 2 pages */
#define PG_BAD_BUFFER		120
#define PG_FAILED_PUSH		121
#define PG_MIGRATE_LOST		122
#define PG_DOUBT_TAKEN		130
#define PG_DOUBT_NOT_TAKEN	131
#define PG_DOUBT_GONE		132
#define PG_UPGRADE_DOUBT	133
#define PG_UPGRADE_NOT_SENT	134
#define PG_HOME_READ_WINDOW	135
#define PG_LIVE_RETAINED	136
#define PG_DOUBT_SETTLE_LOST	137
#define PG_EVICTV		140	/* 2 pages */
#define PG_EVICTV_DEAD		142
#define PG_WRITEBACK		143
#define PG_WRITEBACK_DEAD	144
#define PG_WRITEBACK_LATE	145	/* 2 pages */
#define PG_EVICTV_UNTOUCHED	1600	/* its group of 64: nobody touches it */
#define PG_BATCH_EDGE		768	/* the group edge at or after it, +-64 pages */
/* Pages of node1's slice (the rogue is their home); PG_BATCH_EDGE too. */
#define PG_REMOTE_HOME		200
#define PG_STALE		201
#define PG_NOT_HELD		300
#define PG_RECONNECT		240
#define PG_LATE_WRITE		210	/* 2 pages */
#define PG_WRONG_INV		220
#define PG_WORD			225
#define PG_WAIT			226
#define PG_NOMEM		230
#define PG_OTHER_CONN		250
#define PG_FETCHV		260
#define PG_FETCHV_UNTOUCHED	1600	/* its group of 64: nobody touches it */
/* Of node2's slice with max_nodes 64 (node2 reloaded for it). */
#define PG_HIGH_NODE		3
#define PG_MIGRATE		512	/* 2 batches: 128 pages */
#define MIGRATE_MOVED		3	/* pages of the first batch the rogue hands over */
#define PG_SPLIT		1024	/* the group edge at or after it, +160 pages */

static const char *const reject_names[] = {
	[TDSM_REJ_MALFORMED] = "MALFORMED", [TDSM_REJ_VERSION] = "VERSION",
	[TDSM_REJ_UNKNOWN] = "UNKNOWN", [TDSM_REJ_MISMATCH] = "MISMATCH",
	[TDSM_REJ_DUPLICATE] = "DUPLICATE", [TDSM_REJ_NOKEY] = "NOKEY",
	[TDSM_REJ_AUTH] = "AUTH",
};

static const char *rej_name(int r)
{
	if (r > 0 && r <= TDSM_REJ_AUTH)
		return reject_names[r];
	return r == 0 ? "accepted" : "not a tinydsm reject";
}

/* The page pattern of round @seed: never all zero, differs per round. */
static uint8_t pat(unsigned int seed, size_t i)
{
	return (uint8_t)(seed * 0x9d + i * 7 + (i >> 8) * 3 + 1);
}

static void pat_fill(uint8_t *p, unsigned int seed)
{
	size_t i;

	for (i = 0; i < PG; i++)
		p[i] = pat(seed, i);
}

static uint64_t fnv(const volatile uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t pat_hash(unsigned int seed)
{
	uint8_t p[PG];

	pat_fill(p, seed);
	return fnv(p, PG);
}

/* ---------------------------------------------- node2: the test's server */

static sigjmp_buf bus_env;
static volatile sig_atomic_t bus_armed;

static void on_bus(int sig)
{
	if (bus_armed) {
		bus_armed = 0;
		siglongjmp(bus_env, 1);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static __attribute__((noinline)) void do_fill(volatile uint8_t *p,
					      unsigned int seed)
{
	size_t i;

	for (i = 0; i < PG; i++)
		p[i] = pat(seed, i);
}

static __attribute__((noinline)) void do_read(volatile uint8_t *p,
					      uint64_t *hash, unsigned int *nz)
{
	size_t i;

	*hash = fnv(p, PG);
	*nz = 0;
	for (i = 0; i < PG; i++)
		*nz += p[i] != 0;
}

/* Access page @addr of the region: 0, or -1 on SIGBUS; *ms: how long. */
static int guarded_access(uint64_t addr, bool write, unsigned int seed,
			  uint64_t *hash, unsigned int *nz, double *ms)
{
	volatile double t0 = now_ms();

	if (sigsetjmp(bus_env, 1)) {
		*ms = now_ms() - t0;
		return -1;
	}
	bus_armed = 1;
	if (write)
		do_fill((volatile uint8_t *)(uintptr_t)addr, seed);
	else
		do_read((volatile uint8_t *)(uintptr_t)addr, hash, nz);
	bus_armed = 0;
	*ms = now_ms() - t0;
	return 0;
}

static const char *ctl_path(char *buf, size_t len)
{
	const char *c = getenv("TDSM_CTL"), *tree = getenv("TDSM_TREE");

	if (c && *c)
		return c;
	snprintf(buf, len, "%s/build/tools/tinydsmctl", tree && *tree ? tree : ".");
	return buf;
}

/* Run tinydsmctl @args: its exit status, its output in @out. */
static int ctl(const char *args, char *out, size_t len)
{
	char path[512], cmd[1024];
	size_t n = 0;
	FILE *f;
	int st;

	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", ctl_path(path, sizeof(path)), args);
	out[0] = '\0';
	f = popen(cmd, "r");
	if (!f)
		return -1;
	while (n + 1 < len && fgets(out + n, (int)(len - n), f))
		n = strlen(out);
	while (fgetc(f) != EOF)
		;
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A number after "key": in the JSON object @obj (of @len bytes), or -1. */
static long long js_num(const char *obj, size_t len, const char *key)
{
	char k[64];
	const char *p;
	size_t kl;

	kl = (size_t)snprintf(k, sizeof(k), "\"%s\":", key);
	for (p = obj; p + kl <= obj + len; p++)
		if (!memcmp(p, k, kl))
			return strtoll(p + kl, NULL, 10);
	return -1;
}

static int js_str(const char *obj, size_t len, const char *key, char *out,
		  size_t outlen)
{
	char k[64];
	const char *p, *q;
	size_t kl;

	kl = (size_t)snprintf(k, sizeof(k), "\"%s\":\"", key);
	for (p = obj; p + kl <= obj + len; p++) {
		if (memcmp(p, k, kl))
			continue;
		p += kl;
		q = memchr(p, '"', (size_t)(obj + len - p));
		if (!q || (size_t)(q - p) >= outlen)
			return -1;
		memcpy(out, p, (size_t)(q - p));
		out[q - p] = '\0';
		return 0;
	}
	return -1;
}

/*
 * "STATE TX RX BAD AUTH AUTH_FAILS UNMATCHED" of node 1 as node2's module
 * reports it, or "none".
 */
static void peer_info(char *ans, size_t len)
{
	char out[8192], state[32], auth[32];
	const char *p, *start = NULL;
	int depth = 0, rc;
	bool in_str = false;

	rc = ctl("-j node show", out, sizeof(out));
	if (rc) {
		snprintf(ans, len, "err tinydsmctl exit %d: %.200s", rc, out);
		return;
	}
	for (p = out; *p; p++) {
		if (in_str) {
			if (*p == '\\' && p[1])
				p++;
			else if (*p == '"')
				in_str = false;
			continue;
		}
		if (*p == '"') {
			in_str = true;
		} else if (*p == '{') {
			if (depth++ == 0)
				start = p;
		} else if (*p == '}' && depth > 0 && --depth == 0 && start) {
			size_t l = (size_t)(p - start + 1);

			if (js_num(start, l, "id") != ROGUE)
				continue;
			if (js_str(start, l, "state", state, sizeof(state)))
				snprintf(state, sizeof(state), "?");
			if (js_str(start, l, "auth", auth, sizeof(auth)))
				snprintf(auth, sizeof(auth), "?");
			snprintf(ans, len, "%s %lld %lld %lld %s %lld %lld", state,
				 js_num(start, l, "tx_msgs"),
				 js_num(start, l, "rx_msgs"),
				 js_num(start, l, "rx_bad"), auth,
				 js_num(start, l, "auth_fails"),
				 js_num(start, l, "rx_unmatched"));
			return;
		}
	}
	snprintf(ans, len, "none");
}

/* node2's own check of its module: ALLOC, write, read back, FREE. */
static void health(struct tc_node *n, char *ans, size_t len)
{
	uint64_t addr, h;
	unsigned int nz, i;
	double ms;

	if (tc_alloc(n, 0, 2, &addr)) {
		snprintf(ans, len, "err ALLOC: %s", strerror(errno));
		return;
	}
	for (i = 0; i < 2; i++) {
		if (guarded_access(addr + i * PG, true, 0x40 + i, NULL, NULL, &ms)) {
			snprintf(ans, len, "err SIGBUS writing %#" PRIx64, addr + i * PG);
			return;
		}
		if (guarded_access(addr + i * PG, false, 0, &h, &nz, &ms) ||
		    h != pat_hash(0x40 + i)) {
			snprintf(ans, len, "err page %#" PRIx64 " reads back wrong",
				 addr + i * PG);
			return;
		}
	}
	if (tc_free(n, addr, 2)) {
		snprintf(ans, len, "err FREE: %s", strerror(errno));
		return;
	}
	if (guarded_access(addr, false, 0, &h, &nz, &ms) || nz) {
		snprintf(ans, len, "err freed page %#" PRIx64 " does not read as zero",
			 addr);
		return;
	}
	snprintf(ans, len, "ok");
}

/* node2: TINYDSM_CMD_MIGRATE of @npages at @addr from node @from. */
static void node2_migrate(uint64_t addr, uint32_t npages, uint32_t from,
			  char *ans, size_t len)
{
	struct nl_sock *sk = NULL;
	struct tnl_answer m;
	int family, err;

	if (tnl_sock_open(&sk)) {
		snprintf(ans, len, "err no generic netlink socket");
		return;
	}
	family = tnl_family(sk);
	if (family < 0) {
		snprintf(ans, len, "err no family %s: %s", TINYDSM_GENL_NAME,
			 nl_geterror(family));
		goto out;
	}
	err = tnl_answer_call(sk, tnl_range_msg(family, TINYDSM_CMD_MIGRATE, addr,
						npages, from, -1), &m);
	if (err)
		snprintf(ans, len, "err netlink: %s", nl_geterror(err));
	else
		snprintf(ans, len, "migrate %d %d %u %u %u %.100s", m.error,
			 m.replied, m.moved, m.skipped, m.data, m.msg);
out:
	nl_socket_free(sk);
}

/* Run node1's command @cmd on node2; the answer in @ans. */
/*
 * node2: unload the module (whatever its connections are doing) and load
 * it again as it was, with the run's key, and with max_nodes=@max_nodes
 * unless NULL; the region is closed for the unload and opened again.
 * "ok <ms the unload took>", or "err ...".
 */
static void reload(struct tc_node *n, bool *region, const char *max_nodes,
		   char *ans, size_t len)
{
	char params[512], kobuf[PATH_MAX], err[256];
	const char *ko = tc_ko_path(kobuf, sizeof(kobuf));
	size_t used;
	double t0, ms;
	int rc;

	if (!ko || tc_module_params(params, sizeof(params))) {
		snprintf(ans, len, "err no module path or parameters");
		return;
	}
	/* The last of two max_nodes= wins. */
	used = strlen(params);
	if (max_nodes && snprintf(params + used, sizeof(params) - used,
				  " max_nodes=%s", max_nodes) >=
			 (int)(sizeof(params) - used)) {
		snprintf(ans, len, "err module parameters too long");
		return;
	}
	tc_node_close(n);
	*region = false;
	t0 = now_ms();
	rc = syscall(SYS_delete_module, "tinydsm", O_NONBLOCK);
	ms = now_ms() - t0;
	if (rc) {
		snprintf(ans, len, "err delete_module: %s", strerror(errno));
		return;
	}
	if (tc_module_load(ko, params)) {
		snprintf(ans, len, "err finit_module(%.200s, %.200s): %s", ko,
			 params, strerror(errno));
		return;
	}
	rc = tc_key_set();
	if (rc) {
		snprintf(ans, len, "err tinydsmctl key set: exit status %d", rc);
		return;
	}
	*region = !tc_node_open(n, err, sizeof(err));
	if (!*region) {
		snprintf(ans, len, "err cannot open the region again: %s", err);
		return;
	}
	snprintf(ans, len, "ok %.0f", ms);
}

static void serve_one(struct tc_node *n, bool *region, char *cmd, char *ans,
		      size_t len)
{
	char out[2048], args[256], *save = NULL;
	const char *verb = strtok_r(cmd, " ", &save);
	const char *a1 = strtok_r(NULL, " ", &save);
	const char *a2 = strtok_r(NULL, " ", &save);
	struct tinydsm_page_info pi;
	struct tinydsm_stats st;
	uint64_t addr = a1 ? strtoull(a1, NULL, 0) : 0, h = 0;
	unsigned int nz = 0;
	double ms;
	int rc;

	if (!verb) {
		snprintf(ans, len, "err empty command");
	} else if (!strcmp(verb, "params")) {
		if (!*region) {
			snprintf(ans, len, "err the region is not open");
			return;
		}
		snprintf(ans, len, "%u %u %u %lu %lu %u", n->id, n->max_nodes,
			 n->home_nodes, n->npages, n->slice_pages,
			 tc_module_param("timeout_ms", TC_DEFAULT_PEER_TIMEOUT_MS));
	} else if (!strcmp(verb, "peer")) {
		peer_info(ans, len);
	} else if (!strcmp(verb, "add") || !strcmp(verb, "ensure")) {
		const char *ip = getenv("TDSM_IP_1");

		if (!strcmp(verb, "ensure")) {
			peer_info(out, sizeof(out));
			if (strcmp(out, "none")) {
				snprintf(ans, len, "rc 0");
				return;
			}
		}
		snprintf(args, sizeof(args), "node add %d %s", ROGUE,
			 ip && *ip ? ip : "10.77.0.1");
		rc = ctl(args, out, sizeof(out));
		snprintf(ans, len, "rc %d %.200s", rc, out);
	} else if (!strcmp(verb, "add3") && a1) {
		/* node 3 lives on node1 too, at port @a1: node2 connects to it. */
		const char *ip = getenv("TDSM_IP_1");

		snprintf(args, sizeof(args), "node add %d %s:%s", THIRD,
			 ip && *ip ? ip : "10.77.0.1", a1);
		rc = ctl(args, out, sizeof(out));
		snprintf(ans, len, "rc %d %.200s", rc, out);
	} else if (!strcmp(verb, "addn") && a1 && a2) {
		/* node @a1 lives on node1 too, at port @a2. */
		const char *ip = getenv("TDSM_IP_1");

		snprintf(args, sizeof(args), "node add %s %s:%s", a1,
			 ip && *ip ? ip : "10.77.0.1", a2);
		rc = ctl(args, out, sizeof(out));
		snprintf(ans, len, "rc %d %.200s", rc, out);
	} else if (!strcmp(verb, "del3")) {
		snprintf(args, sizeof(args), "node del %d", THIRD);
		rc = ctl(args, out, sizeof(out));
		snprintf(ans, len, "rc %d %.200s", rc, out);
	} else if (!strcmp(verb, "evict")) {
		snprintf(args, sizeof(args), "node evict %d", ROGUE);
		rc = ctl(args, out, sizeof(out));
		snprintf(ans, len, "rc %d %.200s", rc, out);
	} else if (!strcmp(verb, "del")) {
		snprintf(args, sizeof(args), "node del %d", ROGUE);
		rc = ctl(args, out, sizeof(out));
		snprintf(ans, len, "rc %d %.200s", rc, out);
	} else if (!strcmp(verb, "timeout") && a1) {
		if (param_write("timeout_ms", a1))
			snprintf(ans, len, "err timeout_ms=%s: %s", a1, strerror(errno));
		else
			snprintf(ans, len, "ok");
	} else if (!strcmp(verb, "reload")) {
		reload(n, region, a1, ans, len);
	} else if (!*region) {
		snprintf(ans, len, "err the region is not open");
	} else if (!strcmp(verb, "write") && a1 && a2) {
		rc = guarded_access(addr, true, (unsigned int)strtoul(a2, NULL, 0),
				    NULL, NULL, &ms);
		snprintf(ans, len, "%s %.0f", rc ? "sigbus" : "ok", ms);
	} else if (!strcmp(verb, "read") && a1) {
		rc = guarded_access(addr, false, 0, &h, &nz, &ms);
		snprintf(ans, len, "%s %.0f %#" PRIx64 " %u", rc ? "sigbus" : "ok",
			 ms, h, nz);
	} else if (!strcmp(verb, "info") && a1) {
		if (tc_page_info(n, (void *)(uintptr_t)addr, &pi))
			snprintf(ans, len, "err PAGE_INFO: %s", strerror(errno));
		else
			snprintf(ans, len, "%u %#x %u %#x %u %#" PRIx64, pi.owner,
				 pi.copyset, pi.state, pi.flags, pi.home,
				 (uint64_t)pi.holders);
	} else if (!strcmp(verb, "chunks")) {
		/* The chunks of page metadata node2 holds (STATS). */
		if (tc_stats(n, &st))
			snprintf(ans, len, "err STATS: %s", strerror(errno));
		else
			snprintf(ans, len, "%" PRIu64, (uint64_t)st.chunks);
	} else if (!strcmp(verb, "migrate") && a1 && a2) {
		const char *a3 = strtok_r(NULL, " ", &save);

		node2_migrate(addr, (uint32_t)strtoul(a2, NULL, 0),
			      a3 ? (uint32_t)strtoul(a3, NULL, 0) : ROGUE, ans, len);
	} else if (!strcmp(verb, "alloc") && a1) {
		/* A run of node2's own slice, by this (root) process: "0 ADDR". */
		struct tinydsm_alloc a = { .npages = (uint32_t)strtoul(a1, NULL, 0) };

		rc = ioctl(n->fd, TINYDSM_IOC_ALLOC, &a) ? errno : 0;
		snprintf(ans, len, "%d %#" PRIx64, rc, (uint64_t)a.addr);
	} else if (!strcmp(verb, "free") && a1 && a2) {
		struct tinydsm_alloc a = { .addr = addr,
					   .npages = (uint32_t)strtoul(a2, NULL, 0) };

		rc = ioctl(n->fd, TINYDSM_IOC_FREE, &a) ? errno : 0;
		snprintf(ans, len, "%d", rc);
	} else if (!strcmp(verb, "place") && a1 && a2) {
		/* PLACE of a run of ours: "place ERRNO MOVED MS". */
		const char *a3 = strtok_r(NULL, " ", &save);
		struct tinydsm_place p = {
			.addr = addr,
			.npages = (uint32_t)strtoul(a2, NULL, 0),
			.node = a3 ? (uint32_t)strtoul(a3, NULL, 0) : ROGUE,
		};
		double t0 = tc_now();

		rc = ioctl(n->fd, TINYDSM_IOC_PLACE, &p) ? errno : 0;
		snprintf(ans, len, "place %d %u %.0f", rc, p.moved,
			 (tc_now() - t0) * 1000);
	} else if (!strcmp(verb, "spray")) {
		/* Leave freed pages full of 0x5a for an unzeroed allocation. */
		size_t sz = 64ul << 20;
		void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			snprintf(ans, len, "err mmap: %s", strerror(errno));
			return;
		}
		memset(p, 0x5a, sz);
		munmap(p, sz);
		snprintf(ans, len, "ok");
	} else if (!strcmp(verb, "health")) {
		health(n, ans, len);
	} else if (!strcmp(verb, "qps")) {
		/* The RC queue pairs and their states, for the record. */
		FILE *f = popen("rdma resource show qp 2>&1 | grep -w RC | "
				"sed 's/.*lqpn \\([0-9]*\\).* state \\([A-Z]*\\).*comm "
				"\\(.*\\)/qp \\1 \\2 \\3;/' | tr '\\n' ' '", "r");
		size_t k = 0;

		out[0] = '\0';
		if (f) {
			while (k + 1 < sizeof(out) &&
			       fgets(out + k, (int)(sizeof(out) - k), f))
				k = strlen(out);
			pclose(f);
		}
		snprintf(ans, len, "%.400s", out);
	} else if (!strcmp(verb, "dmesg")) {
		FILE *f = popen("dmesg 2>/dev/null | grep -E "
				"'WARNING:|BUG:|Call Trace|Oops|general protection' "
				"| head -3", "r");
		size_t k = 0;

		out[0] = '\0';
		if (f) {
			while (k + 1 < sizeof(out) &&
			       fgets(out + k, (int)(sizeof(out) - k), f))
				k = strlen(out);
			pclose(f);
		}
		snprintf(ans, len, "%s %.300s", k ? "bad" : "clean", out);
	} else {
		snprintf(ans, len, "err unknown command '%s'", verb);
	}
}

/* ------------------------------------------------------------- fixture */

FIXTURE(wire) {
	struct tc_sync s;
	struct tc_node n;		/* node2 */
	struct rogue *r, *r2;		/* node1 */
	unsigned int seq;		/* commands sent (node1) */
	bool served;			/* node2: node1 said done */
	/* node2's module, as node1 learns it */
	unsigned int max_nodes, home_nodes, timeout_ms;
	uint64_t npages, slice_pages;
	char ip[64];
	unsigned int port;
	bool tc;			/* node1 added a tc clsact qdisc */
	bool timeout_set;		/* node1 changed node2's timeout_ms */
	bool third;			/* node1 made node2 add node 3 */
	unsigned int max_nodes_was;	/* node1 reloaded node2 with other max_nodes */
	uint8_t key[TINYDSM_KEY_LEN];	/* node1: the run's cluster key */
	/* node1: the last proof exchange of connect_as() */
	struct tdsm_wire_hello hello, hello2;	/* ours, node2's */
	uint8_t mac[TDSM_WIRE_MAC_LEN], mac2[TDSM_WIRE_MAC_LEN];
	char why[1024];
};

FIXTURE_SETUP(wire)
{
	const char *ip = getenv("TDSM_IP_2");

	tc_sync_init(&self->s, "wire", _metadata->name);
	self->n.fd = -1;
	self->n.map = MAP_FAILED;
	snprintf(self->ip, sizeof(self->ip), "%s", ip && *ip ? ip : "10.77.0.2");
	self->port = tc_env_uint("TDSM_WIRE_PORT", DEFAULT_PORT);
}

/* node1: send command @n's text, without waiting for the answer. */
static int rpc_send(FIXTURE_DATA(wire) *self, const char *fmt, ...)
{
	char key[32], cmd[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	snprintf(key, sizeof(key), "cmd.%u", ++self->seq);
	if (tc_put(&self->s, key, cmd)) {
		snprintf(self->why, sizeof(self->why), "cannot write %s: %s",
			 key, strerror(errno));
		return -1;
	}
	return 0;
}

/* node1: the answer to the last command, within @timeout_s: 0, or -1. */
static int rpc_wait(FIXTURE_DATA(wire) *self, char *ans, size_t len,
		    int timeout_s)
{
	char key[32], path[PATH_MAX];
	double end = tc_now() + timeout_s;

	snprintf(key, sizeof(key), "ans.%u", self->seq);
	while (tc_get(&self->s, key, ans, len)) {
		if (!tc_file(&self->s, path, sizeof(path), "fail.%u", TARGET) &&
		    tc_exists(path)) {
			snprintf(self->why, sizeof(self->why),
				 "node2 failed this test (see its output)");
			return -1;
		}
		if (tc_now() > end) {
			snprintf(self->why, sizeof(self->why),
				 "node2 did not answer command %u in %d s",
				 self->seq, timeout_s);
			return -1;
		}
		usleep(TC_POLL_US);
	}
	return 0;
}

static int rpc(FIXTURE_DATA(wire) *self, char *ans, size_t len,
	       const char *fmt, ...)
{
	char cmd[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	if (rpc_send(self, "%s", cmd))
		return -1;
	return rpc_wait(self, ans, len, RPC_S);
}

/* node2: run node1's commands until it says "done" or gives up. */
static void serve(struct __test_metadata *_metadata, FIXTURE_DATA(wire) *self)
{
	char key[32], cmd[256], ans[1024], path[PATH_MAX], err[256];
	struct sigaction sa = { .sa_handler = on_bus };
	bool region;
	unsigned int n;
	double end;
	int idle;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	/*
	 * One READ per page node2 reads from node 1, as the tests expect:
	 * no read-ahead, whose READV would come instead when the pages are
	 * in sequence (a reload keeps it: tc_module_params()).
	 */
	if (param_write("readahead_pages", "0"))
		TH_LOG("readahead_pages=0: %s", strerror(errno));
	region = !tc_node_open(&self->n, err, sizeof(err));
	if (!region)
		TH_LOG("cannot open the region: %s", err);
	/* Once node1 went silent, later tests wait for it only briefly. */
	idle = tc_run_degraded(&self->s) ? TC_SHORT_TIMEOUT_S : IDLE_S;
	for (n = 1;; n++) {
		snprintf(key, sizeof(key), "cmd.%u", n);
		end = tc_now() + idle;
		while (tc_get(&self->s, key, cmd, sizeof(cmd))) {
			if (!tc_file(&self->s, path, sizeof(path), "fail.%u", ROGUE) &&
			    tc_exists(path)) {
				TH_LOG("node1 failed this test (see its output)");
				return;
			}
			if (tc_now() > end) {
				if (!tc_prog_file(&self->s, path, sizeof(path),
						  "timedout", self->s.id))
					tc_touch(path);
				ASSERT_TRUE(0)
					TH_LOG("no command %u from node1 in %d s",
					       n, idle);
			}
			usleep(TC_POLL_US);
		}
		if (!strcmp(cmd, "done")) {
			self->served = true;
			snprintf(ans, sizeof(ans), "ok");
		} else {
			serve_one(&self->n, &region, cmd, ans, sizeof(ans));
		}
		snprintf(key, sizeof(key), "ans.%u", n);
		ASSERT_EQ(0, tc_put(&self->s, key, ans))
			TH_LOG("cannot answer command %u: %s", n, strerror(errno));
		if (self->served)
			return;
	}
}

FIXTURE_TEARDOWN(wire)
{
	char ans[64];

	rogue_close(self->r);
	rogue_close(self->r2);
	self->r = self->r2 = NULL;
	if (self->tc)
		tc_drop_roce(NULL, 0, NULL);
	/* node1 ends node2's part first: a failure mark would cut it short. */
	if (self->timeout_set)
		rpc(self, ans, sizeof(ans), "timeout %u", self->timeout_ms);
	if (self->third)
		rpc(self, ans, sizeof(ans), "del3");
	if (self->max_nodes_was)
		rpc(self, ans, sizeof(ans), "reload %u", self->max_nodes_was);
	rogue_src = ROGUE;
	if (self->s.id == ROGUE && self->s.nodes == 2 && self->seq &&
	    !rpc_send(self, "done"))
		rpc_wait(self, ans, sizeof(ans), 10);
	TC_MARK_FAILED();
	tc_node_close(&self->n);
}

/* node1: learn node2's parameters and make sure node 1 is its peer. */
static int prepare(FIXTURE_DATA(wire) *self)
{
	char ans[256];
	unsigned int id;

	if (rpc(self, ans, sizeof(ans), "params"))
		return -1;
	if (sscanf(ans, "%u %u %u %" SCNu64 " %" SCNu64 " %u", &id,
		   &self->max_nodes, &self->home_nodes, &self->npages,
		   &self->slice_pages, &self->timeout_ms) != 6 || id != TARGET) {
		snprintf(self->why, sizeof(self->why), "node2's params: '%s'", ans);
		return -1;
	}
	if (tdsm_key_read(getenv("TDSM_KEY_FILE") ?: "(TDSM_KEY_FILE unset)",
			  self->key, self->why, sizeof(self->why)))
		return -1;
	if (rpc(self, ans, sizeof(ans), "ensure"))
		return -1;
	if (strncmp(ans, "rc 0", 4)) {
		snprintf(self->why, sizeof(self->why),
			 "node2 cannot add node 1 as a peer: %s", ans);
		return -1;
	}
	return 0;
}

/*
 * Every test: node2 serves, node1 (the rogue) runs the body. Tests need
 * exactly two nodes.
 */
#define START() do {							\
	if (self->s.nodes != 2)						\
		SKIP(return, "needs 2 nodes, this run has %u (TDSM_NODES)", \
		     self->s.nodes);					\
	if (self->s.id == TARGET) {					\
		serve(_metadata, self);					\
		return;							\
	}								\
	if (self->s.id != ROGUE)					\
		SKIP(return, "node %u has no part in this test", self->s.id); \
	ASSERT_EQ(0, prepare(self)) TH_LOG("%s", self->why);		\
} while (0)

static uint64_t slice_addr(FIXTURE_DATA(wire) *self, unsigned int home,
			   uint64_t page)
{
	return TINYDSM_REGION_BASE + ((home - 1) * self->slice_pages + page) * PG;
}

/* A valid hello, as a node with the key sends it: a fresh nonce. */
static void hello_fill(FIXTURE_DATA(wire) *self, struct tdsm_wire_hello *h,
		       uint8_t node)
{
	memset(h, 0, sizeof(*h));
	h->magic = htobe16(TDSM_WIRE_MAGIC);
	h->version = TDSM_WIRE_VERSION;
	h->node_id = node;
	h->max_nodes = (uint8_t)self->max_nodes;
	h->home_nodes = (uint8_t)self->home_nodes;
	h->flags = TDSM_HELLO_F_KEY;
	h->region_pages = htobe64(self->npages);
	randombytes_buf(h->nonce, sizeof(h->nonce));
}

/*
 * The proof of @key by the end in @role ('I' initiator, 'R' responder) on
 * a connection whose hellos were @ini's and @resp's (kmod/auth.c).
 */
static void auth_mac(const uint8_t *key, uint8_t role,
		     const struct tdsm_wire_hello *ini,
		     const struct tdsm_wire_hello *resp,
		     uint8_t mac[TDSM_WIRE_MAC_LEN])
{
	static const char label[] = "tinydsm-rdma-auth-v1";
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, key, TINYDSM_KEY_LEN);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)label, sizeof(label));
	crypto_auth_hmacsha256_update(&st, &role, 1);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)ini, sizeof(*ini));
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)resp, sizeof(*resp));
	crypto_auth_hmacsha256_final(&st, mac);
}

static int rogue_send_auth(struct rogue *r, const uint8_t *mac)
{
	struct tdsm_wire_msg m;

	msg_init(&m, TDSM_W_AUTH);	/* id 0 */
	memcpy(m.auth.mac, mac, sizeof(m.auth.mac));
	return rogue_send(r, &m, sizeof(m));
}

/* node2's TDSM_W_AUTH, the first message it sends: 0 with it in @mac. */
static int rogue_recv_auth(FIXTURE_DATA(wire) *self, struct rogue *r,
			   uint8_t mac[TDSM_WIRE_MAC_LEN])
{
	struct rx_msg x;
	char d[400];
	int got = rogue_recv(r, &x, (int)self->timeout_ms + REPLY_MS);

	if (got <= 0) {
		snprintf(self->why, sizeof(self->why), "no proof from node2: %s",
			 got < 0 ? r->err : "nothing came");
		return -1;
	}
	if (x.byte_len != TDSM_WIRE_MSG_SIZE || x.m.hdr.type != TDSM_W_AUTH ||
	    x.m.hdr.id || x.m.hdr.src != TARGET) {
		fmt_msg(&x, d, sizeof(d));
		snprintf(self->why, sizeof(self->why),
			 "node2's first message is not its proof: %s", d);
		return -1;
	}
	memcpy(mac, x.m.auth.mac, TDSM_WIRE_MAC_LEN);
	return 0;
}

/*
 * The exchange of proofs on the established @r, whose hello was @h: ours
 * (made with @key), then node2's, which must be the one the run's key
 * gives. Keeps both hellos and both proofs in self. 0, or -1 (self->why).
 */
static int rogue_auth(FIXTURE_DATA(wire) *self, struct rogue *r,
		      const struct tdsm_wire_hello *h, const uint8_t *key)
{
	uint8_t want[TDSM_WIRE_MAC_LEN];

	if (r->pdata_len < sizeof(self->hello2)) {
		snprintf(self->why, sizeof(self->why),
			 "node2's accept carries %u bytes, not a hello",
			 r->pdata_len);
		return -1;
	}
	self->hello = *h;
	memcpy(&self->hello2, r->pdata, sizeof(self->hello2));
	auth_mac(key, 'I', &self->hello, &self->hello2, self->mac);
	if (rogue_send_auth(r, self->mac)) {
		snprintf(self->why, sizeof(self->why), "%s", r->err);
		return -1;
	}
	if (rogue_recv_auth(self, r, self->mac2))
		return -1;
	auth_mac(self->key, 'R', &self->hello, &self->hello2, want);
	if (sodium_memcmp(want, self->mac2, sizeof(want))) {
		snprintf(self->why, sizeof(self->why),
			 "node2's proof is not HMAC-SHA256 of the run's key over the hellos");
		return -1;
	}
	return 0;
}

/*
 * The exchange of proofs on @r, which accepted node2's connection: node2
 * is the initiator (hello @theirs), we the responder (hello @mine).
 */
static int rogue_auth_responder(FIXTURE_DATA(wire) *self, struct rogue *r,
				const struct tdsm_wire_hello *mine,
				const struct tdsm_wire_hello *theirs)
{
	uint8_t mac[TDSM_WIRE_MAC_LEN], want[TDSM_WIRE_MAC_LEN];

	auth_mac(self->key, 'R', theirs, mine, mac);
	if (rogue_send_auth(r, mac)) {
		snprintf(self->why, sizeof(self->why), "%s", r->err);
		return -1;
	}
	if (rogue_recv_auth(self, r, mac))
		return -1;
	auth_mac(self->key, 'I', theirs, mine, want);
	if (sodium_memcmp(want, mac, sizeof(want))) {
		snprintf(self->why, sizeof(self->why),
			 "node2's proof as initiator is not the run's key's");
		return -1;
	}
	return 0;
}

/* A fresh rogue connecting with @pdata: the CM event, or -1 (self->why). */
static int try_connect(FIXTURE_DATA(wire) *self, struct rogue **rp,
		       const void *pdata, uint8_t len)
{
	struct rogue *r = calloc(1, sizeof(*r));
	int ev;

	*rp = r;
	if (!r) {
		snprintf(self->why, sizeof(self->why), "out of memory");
		return -1;
	}
	ev = rogue_setup(r, self->ip, self->port);
	if (!ev)
		ev = rogue_connect(r, pdata, len);
	if (ev < 0)
		snprintf(self->why, sizeof(self->why), "%s", r->err);
	return ev;
}

/* node 1 as node2's module reports it (tinydsmctl node show). */
struct peer_st {
	char state[32];
	long long tx, rx, bad;
	char auth[32];			/* key, off, failed, none */
	long long auth_fails, unmatched;
};

static int peer_get(FIXTURE_DATA(wire) *self, struct peer_st *p);

/*
 * Connect as node 1 with a valid hello and prove the key: 0, or -1 with
 * self->why set. The module tears a previous connection down
 * asynchronously, so DUPLICATE is retried for a while. @wait_up: return
 * only once node2's module says the connection is up (it may still be
 * marking its own proof sent when ours matched; see
 * request_right_after_connect).
 */
static int connect_as(FIXTURE_DATA(wire) *self, struct rogue **rp,
		      bool wait_up)
{
	struct tdsm_wire_hello h;
	struct peer_st p;
	double t0 = now_ms(), end = t0 + 20000;
	int ev, reason, tries = 0;

	hello_fill(self, &h, ROGUE);
	for (;;) {
		tries++;
		ev = try_connect(self, rp, &h, sizeof(h));
		if (ev < 0)
			return -1;
		if (ev == RDMA_CM_EVENT_ESTABLISHED)
			break;
		reason = rogue_reject_reason(*rp);
		if (reason != TDSM_REJ_DUPLICATE || now_ms() > end) {
			snprintf(self->why, sizeof(self->why),
				 "a valid hello as node 1 got %s (status %d), reject: %s",
				 rdma_event_str(ev), (*rp)->cm_status, rej_name(reason));
			return -1;
		}
		rogue_close(*rp);
		*rp = NULL;
		usleep(250000);
	}
	if (tries > 1 || now_ms() - t0 > 2000)
		fprintf(stderr, "# connected as node 1 after %d attempts, %.0f ms\n",
			tries, now_ms() - t0);
	if (rogue_auth(self, *rp, &h, self->key))
		return -1;
	while (wait_up) {
		if (peer_get(self, &p))
			return -1;
		if (!strcmp(p.state, "up"))
			break;
		if (now_ms() > end) {
			snprintf(self->why, sizeof(self->why),
				 "established, but node2 says node 1 is %s", p.state);
			return -1;
		}
		usleep(50000);
	}
	return 0;
}

static int connect_ok(FIXTURE_DATA(wire) *self, struct rogue **rp)
{
	return connect_as(self, rp, true);
}

static int peer_get(FIXTURE_DATA(wire) *self, struct peer_st *p)
{
	char ans[256];

	if (rpc(self, ans, sizeof(ans), "peer"))
		return -1;
	if (sscanf(ans, "%31s %lld %lld %lld %31s %lld %lld", p->state, &p->tx,
		   &p->rx, &p->bad, p->auth, &p->auth_fails, &p->unmatched) != 7) {
		snprintf(self->why, sizeof(self->why), "node2's peer: '%s'", ans);
		return -1;
	}
	return 0;
}

/* Wait (bounded) until node2 no longer reports node 1 up. */
static int peer_wait_not_up(FIXTURE_DATA(wire) *self, struct peer_st *p)
{
	double end = now_ms() + DISCONNECT_MS;

	for (;;) {
		if (peer_get(self, p))
			return -1;
		if (strcmp(p->state, "up"))
			return 0;
		if (now_ms() > end) {
			snprintf(self->why, sizeof(self->why),
				 "node2 still shows node 1 up after %d ms",
				 DISCONNECT_MS);
			return -1;
		}
		usleep(200000);
	}
}

/* Nothing may arrive for a while: 0, or -1 with what came in self->why. */
static int expect_quiet(FIXTURE_DATA(wire) *self, struct rogue *r, int ms)
{
	struct rx_msg x;
	char d[400];
	int got = rogue_recv(r, &x, ms);

	if (!got)
		return 0;
	if (got < 0)
		snprintf(self->why, sizeof(self->why), "%s", r->err);
	else {
		fmt_msg(&x, d, sizeof(d));
		snprintf(self->why, sizeof(self->why), "unexpected message: %s", d);
	}
	return -1;
}

/* A request that must get a reply: its status, or -1 (self->why). */
static long call(FIXTURE_DATA(wire) *self, struct rogue *r,
		 struct tdsm_wire_msg *req, struct rx_msg *rep)
{
	struct rx_msg tmp;
	long st = rogue_call(r, req, rep ? rep : &tmp, REPLY_MS);

	if (st < 0)
		snprintf(self->why, sizeof(self->why), "%s", r->err);
	else
		snprintf(self->why, sizeof(self->why), "got %s (%ld)",
			 st_name(st), st);
	return st;
}

/* ------------------------------------------------------------ the hello */

struct hello_case {
	const char *name;
	int want;		/* reject reason */
	int alt;		/* also acceptable (0: none) */
};

/* Connect once with @pdata; EXPECT the tinydsm reject @c->want. */
static void expect_reject(struct __test_metadata *_metadata,
			  FIXTURE_DATA(wire) *self, const struct hello_case *c,
			  const void *pdata, uint8_t len)
{
	struct rogue *r = NULL;
	double end = now_ms() + 10000;
	int ev, reason;

	/*
	 * DUPLICATE: the hello passed every check, but the connection of an
	 * earlier attempt is still being torn down. Ask again.
	 */
	for (;;) {
		ev = try_connect(self, &r, pdata, len);
		if (ev < 0) {
			rogue_close(r);
			EXPECT_LE(0, ev) TH_LOG("%s: %s", c->name, self->why);
			return;
		}
		reason = rogue_reject_reason(r);
		if (reason != TDSM_REJ_DUPLICATE || c->want == TDSM_REJ_DUPLICATE ||
		    now_ms() > end)
			break;
		rogue_close(r);
		r = NULL;
		usleep(250000);
	}
	if (reason != c->want && !(c->alt && reason == c->alt)) {
		char h[80];

		hex(r->pdata, r->pdata_len < 8 ? r->pdata_len : 8, h, sizeof(h));
		EXPECT_EQ(c->want, reason)
			TH_LOG("%s: want reject %s, got %s (event %s, status %d, "
			       "private data %u bytes %s...)", c->name,
			       rej_name(c->want), rej_name(reason),
			       rdma_event_str(ev), r->cm_status, r->pdata_len, h);
	} else {
		TH_LOG("%s: rejected, %s", c->name, rej_name(reason));
	}
	rogue_close(r);
}

TEST_F_TIMEOUT(wire, hello_rejected, 180)
{
	struct tdsm_wire_hello h;
	struct peer_st before, after;
	uint8_t garbage[56];
	struct rogue *r = NULL;
	size_t i;
	static const struct {
		struct hello_case c;
		int field;	/* what to break, below */
		uint64_t v;
	} cases[] = {
		{ { "zeros", TDSM_REJ_MALFORMED, 0 }, 1, 0 },
		{ { "magic byte-swapped", TDSM_REJ_MALFORMED, 0 }, 2, 0 },
		{ { "magic 0xffff", TDSM_REJ_MALFORMED, 0 }, 3, 0xffff },
		{ { "bad magic and the next version", TDSM_REJ_MALFORMED, 0 }, 4, 0 },
		{ { "version 0", TDSM_REJ_VERSION, 0 }, 5, 0 },
		{ { "the previous version (no authentication)", TDSM_REJ_VERSION, 0 }, 5,
		  TDSM_WIRE_VERSION - 1 },
		{ { "the next version", TDSM_REJ_VERSION, 0 }, 5, TDSM_WIRE_VERSION + 1 },
		{ { "version 255", TDSM_REJ_VERSION, 0 }, 5, 255 },
		{ { "the next version and max_nodes differs", TDSM_REJ_VERSION, 0 }, 6,
		  TDSM_WIRE_VERSION + 1 },
		{ { "max_nodes 0", TDSM_REJ_MISMATCH, 0 }, 7, 0 },
		{ { "max_nodes - 1", TDSM_REJ_MISMATCH, 0 }, 8, (uint64_t)-1 },
		{ { "max_nodes + 1", TDSM_REJ_MISMATCH, 0 }, 8, 1 },
		/* home_nodes must match too: the default homes depend on it. */
		{ { "home_nodes 0", TDSM_REJ_MISMATCH, 0 }, 13, 0 },
		{ { "home_nodes - 1", TDSM_REJ_MISMATCH, 0 }, 14, (uint64_t)-1 },
		{ { "home_nodes + 1", TDSM_REJ_MISMATCH, 0 }, 14, 1 },
		{ { "region_pages 0", TDSM_REJ_MISMATCH, 0 }, 9, 0 },
		{ { "region_pages + 1", TDSM_REJ_MISMATCH, 0 }, 10, 1 },
		{ { "region_pages - 1", TDSM_REJ_MISMATCH, 0 }, 10, (uint64_t)-1 },
		{ { "region_pages ~0", TDSM_REJ_MISMATCH, 0 }, 9, ~0ull },
		{ { "node id 0", TDSM_REJ_UNKNOWN, 0 }, 11, 0 },
		{ { "node id 2 (node2's own)", TDSM_REJ_UNKNOWN, 0 }, 11, 2 },
		{ { "node id 3 (higher, not configured)", TDSM_REJ_UNKNOWN, 0 }, 11, 3 },
		{ { "node id 5 (> max_nodes)", TDSM_REJ_UNKNOWN, 0 }, 11, 5 },
		{ { "node id 31", TDSM_REJ_UNKNOWN, 0 }, 11, 31 },
		{ { "node id 32", TDSM_REJ_UNKNOWN, 0 }, 11, 32 },
		{ { "node id 64", TDSM_REJ_UNKNOWN, 0 }, 11, 64 },
		{ { "node id 65", TDSM_REJ_UNKNOWN, 0 }, 11, 65 },
		{ { "node id 255", TDSM_REJ_UNKNOWN, 0 }, 11, 255 },
		/*
		 * rdma_cm over IB/RoCE pads the private data with zeros to
		 * 56 bytes, so a short hello arrives whole with max_nodes 0.
		 */
		{ { "hello truncated to 4 bytes", TDSM_REJ_MISMATCH,
		    TDSM_REJ_MALFORMED }, 12, 4 },
	};
	static const struct hello_case none = { "no private data",
						TDSM_REJ_MALFORMED, 0 };
	static const struct hello_case junk = { "56 bytes of garbage",
						TDSM_REJ_MALFORMED, 0 };

	START();
	ASSERT_EQ(0, peer_get(self, &before)) TH_LOG("%s", self->why);

	expect_reject(_metadata, self, &none, NULL, 0);
	for (i = 0; i < sizeof(garbage); i++)
		garbage[i] = (uint8_t)(0xa5 ^ (i * 29));
	expect_reject(_metadata, self, &junk, garbage, sizeof(garbage));

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t len = sizeof(h);

		hello_fill(self, &h, ROGUE);
		switch (cases[i].field) {
		case 1: memset(&h, 0, sizeof(h)); break;
		case 2: h.magic = htole16(TDSM_WIRE_MAGIC); break;
		case 3: h.magic = htobe16((uint16_t)cases[i].v); break;
		case 4: h.magic = 0; h.version = TDSM_WIRE_VERSION + 1; break;
		case 5: h.version = (uint8_t)cases[i].v; break;
		case 6: h.version = (uint8_t)cases[i].v; h.max_nodes++; break;
		case 7: h.max_nodes = (uint8_t)cases[i].v; break;
		case 8: h.max_nodes = (uint8_t)(self->max_nodes + cases[i].v); break;
		case 9: h.region_pages = htobe64(cases[i].v); break;
		case 10: h.region_pages = htobe64(self->npages + cases[i].v); break;
		case 11: h.node_id = (uint8_t)cases[i].v; break;
		case 12: len = (uint8_t)cases[i].v; break;
		case 13: h.home_nodes = (uint8_t)cases[i].v; break;
		case 14: h.home_nodes = (uint8_t)(self->home_nodes + cases[i].v); break;
		}
		expect_reject(_metadata, self, &cases[i].c, &h, len);
	}

	/* Refused hellos leave no trace in node2's peer. */
	ASSERT_EQ(0, peer_get(self, &after)) TH_LOG("%s", self->why);
	EXPECT_STRNE("up", after.state);
	EXPECT_EQ(before.rx, after.rx);
	EXPECT_EQ(before.tx, after.tx);
	EXPECT_EQ(before.bad, after.bad);

	/* And the listener still takes a good one. */
	ASSERT_EQ(0, connect_ok(self, &r)) TH_LOG("%s", self->why);
	self->r = r;
}

/*
 * wire.h: the hello's reserved0/reserved "zero". The module enforces the
 * reserved fields of every message (flags, page.reserved, alloc.reserved)
 * but not of the hello.
 */
TEST_F_TIMEOUT(wire, hello_reserved_fields_set, 120)
{
	static const struct hello_case c0 = {
		"reserved0 = 1", TDSM_REJ_MALFORMED, 0 };
	static const struct hello_case c1 = {
		"reserved[7] = 0xff", TDSM_REJ_MALFORMED, 0 };
	struct tdsm_wire_hello h;

	START();
	hello_fill(self, &h, ROGUE);
	h.reserved0 = 1;
	expect_reject(_metadata, self, &c0, &h, sizeof(h));
	hello_fill(self, &h, ROGUE);
	h.reserved[7] = 0xff;
	expect_reject(_metadata, self, &c1, &h, sizeof(h));
}

TEST_F_TIMEOUT(wire, hello_accepted_and_duplicate, 120)
{
	const struct tdsm_wire_hello *mine;
	struct tdsm_wire_hello h, zero = { 0 };
	struct tdsm_wire_msg req;
	struct peer_st p;
	struct rogue *r2 = NULL;
	int ev;

	START();
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);

	/* The accept carries node2's hello. */
	mine = (const void *)self->r->pdata;
	ASSERT_LE(sizeof(*mine), self->r->pdata_len);
	EXPECT_EQ(TDSM_WIRE_MAGIC, be16toh(mine->magic));
	EXPECT_EQ(TDSM_WIRE_VERSION, mine->version);
	EXPECT_EQ(TARGET, mine->node_id);
	EXPECT_EQ(self->max_nodes, mine->max_nodes);
	EXPECT_EQ(self->home_nodes, mine->home_nodes);
	EXPECT_EQ(self->npages, be64toh(mine->region_pages));
	EXPECT_EQ(0, mine->reserved0);
	EXPECT_EQ(0, memcmp(mine->reserved, zero.reserved, sizeof(zero.reserved)));
	EXPECT_EQ(TDSM_HELLO_F_KEY, mine->flags);
	EXPECT_NE(0, memcmp(mine->nonce, zero.nonce, sizeof(zero.nonce)));

	ASSERT_EQ(0, peer_get(self, &p)) TH_LOG("%s", self->why);
	EXPECT_STREQ("up", p.state);

	/* A second connection as node 1 while the first is up. */
	hello_fill(self, &h, ROGUE);
	ev = try_connect(self, &r2, &h, sizeof(h));
	self->r2 = r2;
	ASSERT_LE(0, ev) TH_LOG("%s", self->why);
	EXPECT_EQ(TDSM_REJ_DUPLICATE, rogue_reject_reason(r2))
		TH_LOG("second connection as node 1: %s, %s",
		       rdma_event_str(ev), rej_name(rogue_reject_reason(r2)));

	/* The first one still works. */
	msg_alloc(&req, TDSM_W_ALLOC, 0, 0);
	EXPECT_EQ(TDSM_WS_INVAL, call(self, self->r, &req, NULL))
		TH_LOG("ALLOC of 0 pages on the first connection: %s", self->why);

	/* Closing it: node2 notices. */
	rogue_close(self->r);
	self->r = NULL;
	ASSERT_EQ(0, peer_wait_not_up(self, &p)) TH_LOG("%s", self->why);
	TH_LOG("node2 after the close: %s", p.state);
}

/*
 * The first request on a fresh connection, sent as soon as node2's proof
 * arrived (as a module as node 1 does). node2 posts its proof, and only
 * then marks it sent and goes up; our proof may already have matched, so
 * our request can arrive in between. It must still be answered: the
 * requester cannot tell.
 */
TEST_F_TIMEOUT(wire, request_right_after_connect, 300)
{
	enum { ROUNDS = 16 };
	struct tdsm_wire_msg m;
	struct rx_msg rep;
	struct peer_st before, after, p;
	int i, lost = 0;
	long st;

	START();
	ASSERT_EQ(0, peer_get(self, &before)) TH_LOG("%s", self->why);
	for (i = 0; i < ROUNDS; i++) {
		ASSERT_EQ(0, connect_as(self, &self->r, false)) TH_LOG("%s", self->why);
		msg_alloc(&m, TDSM_W_ALLOC, 0, 0);
		st = rogue_call(self->r, &m, &rep, 3000);
		if (st != TDSM_WS_INVAL) {
			lost++;
			TH_LOG("round %d: %s", i, st < 0 ? self->r->err : st_name(st));
		}
		rogue_close(self->r);
		self->r = NULL;
		ASSERT_EQ(0, peer_wait_not_up(self, &p)) TH_LOG("%s", self->why);
	}
	ASSERT_EQ(0, peer_get(self, &after)) TH_LOG("%s", self->why);
	TH_LOG("node2 counted %lld requests received, %lld messages sent",
	       after.rx - before.rx, after.tx - before.tx);
	EXPECT_EQ(0, lost)
		TH_LOG("%d of %d requests sent right after ESTABLISHED got no reply",
		       lost, ROUNDS);
	EXPECT_EQ(after.rx - before.rx, after.tx - before.tx)
		TH_LOG("node2 received requests it never answered");
}

TEST_F_TIMEOUT(wire, hello_unconfigured_peer, 150)
{
	static const struct hello_case c = {
		"node 1 not configured on node2", TDSM_REJ_UNKNOWN, 0 };
	struct tdsm_wire_hello h;
	struct tdsm_wire_msg req;
	struct peer_st p;
	char ans[256];

	START();
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "del")) TH_LOG("%s", self->why);
	ASSERT_EQ(0, strncmp(ans, "rc 0", 4)) TH_LOG("node del 1: %s", ans);
	hello_fill(self, &h, ROGUE);
	expect_reject(_metadata, self, &c, &h, sizeof(h));

	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "add")) TH_LOG("%s", self->why);
	ASSERT_EQ(0, strncmp(ans, "rc 0", 4)) TH_LOG("node add 1: %s", ans);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);

	/* Deleting the peer while it is connected disconnects it. */
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "del")) TH_LOG("%s", self->why);
	EXPECT_EQ(0, strncmp(ans, "rc 0", 4)) TH_LOG("node del 1: %s", ans);
	EXPECT_EQ(0, rogue_wait_disconnect(self->r, DISCONNECT_MS))
		TH_LOG("no DISCONNECTED within %d ms of node del", DISCONNECT_MS);
	msg_alloc(&req, TDSM_W_ALLOC, 0, 0);
	EXPECT_EQ(-1, rogue_call(self->r, &req, &(struct rx_msg){ 0 }, 1000))
		TH_LOG("a request after node del was answered");
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "add")) TH_LOG("%s", self->why);
	ASSERT_EQ(0, strncmp(ans, "rc 0", 4)) TH_LOG("node add 1: %s", ans);
	ASSERT_EQ(0, peer_get(self, &p)) TH_LOG("%s", self->why);
	EXPECT_STRNE("up", p.state);
}

/* ------------------------------------------------------ authentication */

/*
 * Connect with @h (a valid hello, F_KEY or not) until the CM answers
 * something else than DUPLICATE (an earlier connection still going away):
 * the event, or -1 (self->why).
 */
static int connect_hello(FIXTURE_DATA(wire) *self, struct rogue **rp,
			 const struct tdsm_wire_hello *h)
{
	double end = now_ms() + 20000;
	int ev;

	for (;;) {
		ev = try_connect(self, rp, h, sizeof(*h));
		if (ev != RDMA_CM_EVENT_REJECTED ||
		    rogue_reject_reason(*rp) != TDSM_REJ_DUPLICATE ||
		    now_ms() > end)
			return ev;
		rogue_close(*rp);
		*rp = NULL;
		usleep(250000);
	}
}

/*
 * After a failed proof on @r: node2 disconnects, answers nothing (a READ
 * sent after the proof gets no reply), counts one failure more than
 * @before and shows node 1 "failed".
 */
static void expect_refused(struct __test_metadata *_metadata,
			   FIXTURE_DATA(wire) *self, struct rogue *r,
			   const struct peer_st *before, const char *what)
{
	struct tdsm_wire_msg m;
	struct rx_msg x;
	struct peer_st after;
	char d[400];
	int got;

	EXPECT_EQ(0, rogue_wait_disconnect(r, (int)self->timeout_ms + DISCONNECT_MS))
		TH_LOG("%s: still connected", what);
	/* Whatever node2 sent before it hung up: its proof, never a reply. */
	while ((got = rogue_recv(r, &x, 0)) > 0) {
		fmt_msg(&x, d, sizeof(d));
		EXPECT_EQ(TDSM_W_AUTH, x.m.hdr.type) TH_LOG("%s: node2 sent %s", what, d);
	}
	msg_page(&m, TDSM_W_READ, slice_addr(self, TARGET, PG_ROUND_TRIP), 0, 0, 0, 0);
	EXPECT_EQ(-1, rogue_call(r, &m, &x, 1000)) TH_LOG("%s: a READ was answered", what);
	ASSERT_EQ(0, peer_wait_not_up(self, &after)) TH_LOG("%s", self->why);
	EXPECT_STREQ("failed", after.auth) TH_LOG("%s", what);
	EXPECT_EQ(before->auth_fails + 1, after.auth_fails)
		TH_LOG("%s: auth_fails %lld -> %lld", what, before->auth_fails,
		       after.auth_fails);
	TH_LOG("%s: refused, node2 says %s, auth %s", what, after.state, after.auth);
}

/*
 * The start of the tests of a bad or missing proof: node 1 as node2 sees
 * it in @before, then a connection with the hello @h, ESTABLISHED, that
 * has proved nothing yet (self->r). Node2's own proof is in: node2 is
 * past its ESTABLISHED, in AUTH. Otherwise what the test sends next could
 * beat that ESTABLISHED, and a connection killed before it is not one the
 * CM can disconnect: the rogue would never hear that it was refused.
 */
static void auth_connect(struct __test_metadata *_metadata,
			 FIXTURE_DATA(wire) *self,
			 const struct tdsm_wire_hello *h, struct peer_st *before)
{
	ASSERT_EQ(0, peer_get(self, before)) TH_LOG("%s", self->why);
	ASSERT_EQ(RDMA_CM_EVENT_ESTABLISHED, connect_hello(self, &self->r, h))
		TH_LOG("%s %s", self->why, rej_name(rogue_reject_reason(self->r)));
	ASSERT_EQ(0, rogue_recv_auth(self, self->r, self->mac2))
		TH_LOG("%s", self->why);
}

/* The module's own side: a connection that proved the key shows "key". */
TEST_F_TIMEOUT(wire, auth_proof_accepted, 120)
{
	struct peer_st p;

	START();
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, peer_get(self, &p)) TH_LOG("%s", self->why);
	EXPECT_STREQ("key", p.auth);
	/* node2's nonce is its own, fresh; so is its proof. */
	EXPECT_NE(0, memcmp(self->hello.nonce, self->hello2.nonce,
			    sizeof(self->hello.nonce)));
}

/* A peer that says it has no key is refused before any exchange. */
TEST_F_TIMEOUT(wire, auth_peer_without_key_refused, 120)
{
	static const struct hello_case c = {
		"a hello without TDSM_HELLO_F_KEY", TDSM_REJ_AUTH, 0 };
	struct tdsm_wire_hello h;
	struct peer_st before, after;

	START();
	ASSERT_EQ(0, peer_get(self, &before)) TH_LOG("%s", self->why);
	hello_fill(self, &h, ROGUE);
	h.flags = 0;
	expect_reject(_metadata, self, &c, &h, sizeof(h));
	ASSERT_EQ(0, peer_get(self, &after)) TH_LOG("%s", self->why);
	EXPECT_STRNE("up", after.state);
	EXPECT_STREQ("failed", after.auth);
	EXPECT_EQ(before.auth_fails + 1, after.auth_fails);
}

/* The hello says "key", but the proof is made with another key. */
TEST_F_TIMEOUT(wire, auth_wrong_key_refused, 150)
{
	uint8_t wrong[TINYDSM_KEY_LEN], mac[TDSM_WIRE_MAC_LEN];
	struct tdsm_wire_hello h;
	struct peer_st before;
	struct tdsm_wire_msg m;

	START();
	randombytes_buf(wrong, sizeof(wrong));
	hello_fill(self, &h, ROGUE);
	auth_connect(_metadata, self, &h, &before);
	ASSERT_LE(sizeof(self->hello2), self->r->pdata_len);
	auth_mac(wrong, 'I', &h, (const void *)self->r->pdata, mac);
	ASSERT_EQ(0, rogue_send_auth(self->r, mac)) TH_LOG("%s", self->r->err);
	/* A request right behind the bad proof: never served. */
	msg_alloc(&m, TDSM_W_ALLOC, 0, 0);
	m.hdr.id = htobe64(++self->r->next_id);
	rogue_send(self->r, &m, sizeof(m));
	expect_refused(_metadata, self, self->r, &before, "a proof made with another key");
}

/* Requests without any proof: the first one ends the connection. */
TEST_F_TIMEOUT(wire, auth_request_before_proof_refused, 120)
{
	struct tdsm_wire_hello h;
	struct peer_st before, after;
	struct tdsm_wire_msg m;
	struct rx_msg x;

	START();
	hello_fill(self, &h, ROGUE);
	auth_connect(_metadata, self, &h, &before);
	msg_page(&m, TDSM_W_READ, slice_addr(self, TARGET, PG_ROUND_TRIP), 0, 0, 0, 0);
	EXPECT_EQ(-1, rogue_call(self->r, &m, &x, 3000))
		TH_LOG("a READ before any proof was answered");
	EXPECT_EQ(0, rogue_wait_disconnect(self->r, DISCONNECT_MS))
		TH_LOG("still connected after a request without a proof");
	ASSERT_EQ(0, peer_wait_not_up(self, &after)) TH_LOG("%s", self->why);
	EXPECT_LT(before.bad, after.bad) TH_LOG("rx_bad %lld -> %lld", before.bad, after.bad);
	/* Skipping the exchange is failing it: counted, and shown. */
	EXPECT_STREQ("failed", after.auth);
	EXPECT_EQ(before.auth_fails + 1, after.auth_fails)
		TH_LOG("auth_fails %lld -> %lld", before.auth_fails, after.auth_fails);
}

/* A peer that never proves anything is dropped after timeout_ms. */
TEST_F_TIMEOUT(wire, auth_no_proof_times_out, 150)
{
	struct tdsm_wire_hello h;
	struct peer_st before;

	START();
	hello_fill(self, &h, ROGUE);
	auth_connect(_metadata, self, &h, &before);
	expect_refused(_metadata, self, self->r, &before, "no proof at all");
}

/*
 * A proof recorded from an earlier connection, sent again with the same
 * hello (the same nonce): node2's nonce is fresh, so it does not match.
 */
TEST_F_TIMEOUT(wire, auth_replayed_proof_refused, 180)
{
	struct tdsm_wire_hello h, old_hello2;
	uint8_t old_mac[TDSM_WIRE_MAC_LEN];
	struct peer_st before, p;

	START();
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	h = self->hello;
	old_hello2 = self->hello2;
	memcpy(old_mac, self->mac, sizeof(old_mac));
	rogue_close(self->r);
	self->r = NULL;
	ASSERT_EQ(0, peer_wait_not_up(self, &p)) TH_LOG("%s", self->why);

	auth_connect(_metadata, self, &h, &before);
	ASSERT_LE(sizeof(old_hello2), self->r->pdata_len);
	EXPECT_NE(0, memcmp(old_hello2.nonce,
			    ((const struct tdsm_wire_hello *)self->r->pdata)->nonce,
			    sizeof(old_hello2.nonce)))
		TH_LOG("node2 used the same nonce twice");
	ASSERT_EQ(0, rogue_send_auth(self->r, old_mac)) TH_LOG("%s", self->r->err);
	expect_refused(_metadata, self, self->r, &before, "a replayed proof");
}

/* node2's own proof sent back as ours: the roles differ, it does not match. */
TEST_F_TIMEOUT(wire, auth_reflected_proof_refused, 150)
{
	struct tdsm_wire_hello h;
	struct peer_st before;

	START();
	hello_fill(self, &h, ROGUE);
	auth_connect(_metadata, self, &h, &before);	/* node2's proof: mac2 */
	ASSERT_EQ(0, rogue_send_auth(self->r, self->mac2)) TH_LOG("%s", self->r->err);
	expect_refused(_metadata, self, self->r, &before, "node2's proof reflected");
}

/* A second proof on a connection that is up: out of place, dropped. */
TEST_F_TIMEOUT(wire, auth_second_proof_disconnects, 120)
{
	struct peer_st before, after;

	START();
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, peer_get(self, &before)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, rogue_send_auth(self->r, self->mac)) TH_LOG("%s", self->r->err);
	EXPECT_EQ(0, rogue_wait_disconnect(self->r, DISCONNECT_MS))
		TH_LOG("still connected after a second proof");
	ASSERT_EQ(0, peer_wait_not_up(self, &after)) TH_LOG("%s", self->why);
	EXPECT_EQ(before.bad + 1, after.bad);
}

/*
 * The peer hangs up while node2 waits for its proof: node2 tears the
 * connection down at once, the proof's timer with it, and counts no
 * failed proof (a hang-up proves nothing either way), not even once its
 * timeout_ms is over; a connection done right works after it.
 */
TEST_F_TIMEOUT(wire, auth_peer_hangs_up_while_proving, 150)
{
	struct tdsm_wire_hello h;
	struct peer_st before, after;

	START();
	hello_fill(self, &h, ROGUE);
	auth_connect(_metadata, self, &h, &before);
	rogue_close(self->r);
	self->r = NULL;
	/* A new connection as node 1 is refused as DUPLICATE until it is gone. */
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	/* Past the proof's timeout: a timer left behind would fire by now. */
	usleep((self->timeout_ms + 1000) * 1000);
	ASSERT_EQ(0, peer_get(self, &after)) TH_LOG("%s", self->why);
	EXPECT_STREQ("up", after.state);
	EXPECT_STREQ("key", after.auth);
	EXPECT_EQ(before.auth_fails, after.auth_fails)
		TH_LOG("auth_fails %lld -> %lld", before.auth_fails, after.auth_fails);
}

/*
 * The module is unloaded while a connection waits for the peer's proof:
 * the unload ends it (the proof's timer and its reference with it) and
 * completes, node2's kernel log stays clean, and the module, loaded again,
 * takes a new connection.
 */
TEST_F_TIMEOUT(wire, auth_unload_while_proving, 200)
{
	struct tdsm_wire_hello h;
	struct peer_st before;
	char ans[512];

	START();
	hello_fill(self, &h, ROGUE);
	auth_connect(_metadata, self, &h, &before);
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "reload")) TH_LOG("%s", self->why);
	ASSERT_EQ(0, strncmp(ans, "ok ", 3)) TH_LOG("node2: %s", ans);
	TH_LOG("node2 unloaded tinydsm in %s ms with a connection in AUTH", ans + 3);
	EXPECT_EQ(0, rogue_wait_disconnect(self->r, DISCONNECT_MS))
		TH_LOG("still connected after node2's unload");
	rogue_close(self->r);
	self->r = NULL;
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "dmesg")) TH_LOG("%s", self->why);
	EXPECT_EQ(0, strncmp(ans, "clean", 5)) TH_LOG("node2's kernel log: %s", ans);
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "ensure")) TH_LOG("%s", self->why);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
}

/* ------------------------------------------------ malformed messages */

struct bad_msg {
	const char *name;
	size_t len;
	int field;
	uint64_t v;
};

static void bad_msg_build(const struct bad_msg *b, struct tdsm_wire_msg *m,
			  uint64_t id)
{
	/* A READ that would otherwise be valid (it gets a RANGE reply). */
	msg_page(m, TDSM_W_READ, 0, 0, 0, 0, 0);
	m->hdr.id = htobe64(id);
	switch (b->field) {
	case 1: m->hdr.magic = htobe16((uint16_t)b->v); break;
	case 2: m->hdr.version = (uint8_t)b->v; break;
	case 3: m->hdr.len = htobe16((uint16_t)b->v); break;
	case 4: m->hdr.src = (uint8_t)b->v; break;
	case 5: m->hdr.type = (uint8_t)b->v; break;
	case 6: m->hdr.flags = (uint8_t)b->v; break;
	case 7: m->hdr.id = 0; break;
	case 8: m->hdr.magic = htole16(TDSM_WIRE_MAGIC); break;
	}
}

TEST_F_TIMEOUT(wire, malformed_messages_dropped, 150)
{
	static const struct bad_msg bad[] = {
		{ "empty SEND", 0, 0, 0 },
		{ "1 byte", 1, 0, 0 },
		{ "truncated to 10 bytes", 10, 0, 0 },
		{ "truncated to 16 bytes (header only)", 16, 0, 0 },
		{ "63 bytes", 63, 0, 0 },
		{ "bad magic 0", 64, 1, 0 },
		{ "bad magic 0xffff", 64, 1, 0xffff },
		{ "magic byte-swapped", 64, 8, 0 },
		{ "version 0", 64, 2, 0 },
		{ "the previous version", 64, 2, TDSM_WIRE_VERSION - 1 },
		{ "the next version", 64, 2, TDSM_WIRE_VERSION + 1 },
		{ "len field 0", 64, 3, 0 },
		{ "len field 63", 64, 3, 63 },
		{ "len field 128", 64, 3, 128 },
		{ "src 3 (not the connection's peer)", 64, 4, 3 },
		{ "src 2 (node2's own id)", 64, 4, 2 },
		{ "src 0", 64, 4, 0 },
		{ "type 0", 64, 5, 0 },
		{ "type 8 (__TDSM_W_MAX)", 64, 5, __TDSM_W_MAX },
		{ "type 99", 64, 5, 99 },
		{ "type 255", 64, 5, 255 },
		{ "reserved flags 0x01", 64, 6, 1 },
		{ "reserved flags 0x80", 64, 6, 0x80 },
		{ "id 0", 64, 7, 0 },
	};
	const size_t n = sizeof(bad) / sizeof(bad[0]);
	struct tdsm_wire_msg m;
	struct peer_st before, after;
	struct rx_msg rep;
	size_t i;

	START();
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, peer_get(self, &before)) TH_LOG("%s", self->why);

	for (i = 0; i < n; i++) {
		bad_msg_build(&bad[i], &m, 0x5000 + i);
		ASSERT_EQ(0, rogue_send(self->r, &m, bad[i].len))
			TH_LOG("%s: %s", bad[i].name, self->r->err);
		EXPECT_EQ(0, expect_quiet(self, self->r, QUIET_MS))
			TH_LOG("after '%s': %s", bad[i].name, self->why);
	}

	/*
	 * A valid request behind them: the module handles receives in order,
	 * so once its reply is here every message above was looked at.
	 */
	msg_page(&m, TDSM_W_READ, 0, 0, 0, 0, 0);
	ASSERT_EQ(TDSM_WS_RANGE, call(self, self->r, &m, &rep))
		TH_LOG("valid READ of address 0 after the bad ones: %s", self->why);
	EXPECT_EQ(0, expect_quiet(self, self->r, QUIET_MS)) TH_LOG("%s", self->why);

	ASSERT_EQ(0, peer_get(self, &after)) TH_LOG("%s", self->why);
	EXPECT_STREQ("up", after.state);
	EXPECT_EQ(before.bad + (long long)n, after.bad)
		TH_LOG("rx_bad went %lld -> %lld for %zu malformed messages",
		       before.bad, after.bad, n);
	EXPECT_EQ(before.rx + (long long)n + 1, after.rx)
		TH_LOG("rx_msgs went %lld -> %lld", before.rx, after.rx);
	EXPECT_EQ(before.tx + 1, after.tx)
		TH_LOG("tx_msgs went %lld -> %lld (one reply expected)",
		       before.tx, after.tx);
}

TEST_F_TIMEOUT(wire, reply_with_unknown_id_dropped, 120)
{
	static const uint64_t ids[] = { 1, 0x12345, 0xffffffffull,
					0x100000001ull, ~0ull };
	const size_t n = sizeof(ids) / sizeof(ids[0]);
	struct tdsm_wire_msg m;
	struct peer_st before, after;
	size_t i;

	START();
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, peer_get(self, &before)) TH_LOG("%s", self->why);
	for (i = 0; i < n; i++) {
		msg_init(&m, TDSM_W_REPLY);
		m.hdr.id = htobe64(ids[i]);
		m.reply.status = htobe32(TDSM_WS_OK);
		m.reply.flags = htobe32(TDSM_RF_DATA);
		ASSERT_EQ(0, rogue_send(self->r, &m, sizeof(m))) TH_LOG("%s", self->r->err);
	}
	EXPECT_EQ(0, expect_quiet(self, self->r, QUIET_MS)) TH_LOG("%s", self->why);
	msg_alloc(&m, TDSM_W_ALLOC, 0, 0);
	ASSERT_EQ(TDSM_WS_INVAL, call(self, self->r, &m, NULL)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, peer_get(self, &after)) TH_LOG("%s", self->why);
	EXPECT_STREQ("up", after.state);
	EXPECT_EQ(before.unmatched + (long long)n, after.unmatched)
		TH_LOG("rx_unmatched went %lld -> %lld for %zu stray replies",
		       before.unmatched, after.unmatched, n);
	EXPECT_EQ(before.bad, after.bad);
	EXPECT_EQ(before.rx + (long long)n + 1, after.rx);

	/*
	 * A peer guessing ids: past TDSM_UNMATCHED_MAX (8) on one
	 * connection, the module drops it; nothing is answered.
	 */
	for (i = n; i <= 8; i++) {
		msg_init(&m, TDSM_W_REPLY);
		m.hdr.id = htobe64(0x1000 + i);
		ASSERT_EQ(0, rogue_send(self->r, &m, sizeof(m))) TH_LOG("%s", self->r->err);
	}
	EXPECT_EQ(0, rogue_wait_disconnect(self->r, DISCONNECT_MS))
		TH_LOG("still connected after 9 replies that match nothing");
	ASSERT_EQ(0, peer_wait_not_up(self, &after)) TH_LOG("%s", self->why);
	EXPECT_EQ(before.unmatched + 9, after.unmatched);
}

TEST_F_TIMEOUT(wire, oversized_message_kills_connection, 120)
{
	uint8_t big[128];
	struct tdsm_wire_msg m;
	struct peer_st p;
	struct rx_msg x;
	int got;

	START();
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	/* A valid-looking READ header followed by 64 more bytes. */
	msg_page(&m, TDSM_W_READ, 0, 0, 0, 0, 0);
	m.hdr.id = htobe64(0x777);
	memset(big, 0xee, sizeof(big));
	memcpy(big, &m, sizeof(m));
	/* The module's receive buffers are 64 bytes: its QP must fail. */
	ASSERT_LE(0, rogue_post(self->r, big, sizeof(big), 0, NULL))
		TH_LOG("%s", self->r->err);
	got = rogue_recv(self->r, &x, 3000);
	EXPECT_GE(0, got) TH_LOG("a message came back for an oversized SEND");
	EXPECT_EQ(0, rogue_wait_disconnect(self->r, DISCONNECT_MS))
		TH_LOG("no DISCONNECTED within %d ms (send status: %s)",
		       DISCONNECT_MS, self->r->wc_error ?
		       ibv_wc_status_str(self->r->wc_error) : "none");
	TH_LOG("rogue side: %s",
	       self->r->wc_error ? ibv_wc_status_str(self->r->wc_error) : "no error");
	ASSERT_EQ(0, peer_wait_not_up(self, &p)) TH_LOG("%s", self->why);
	rogue_close(self->r);
	self->r = NULL;

	/* node2 takes node 1 back and answers it. */
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	msg_alloc(&m, TDSM_W_ALLOC, 0, 0);
	EXPECT_EQ(TDSM_WS_INVAL, call(self, self->r, &m, NULL)) TH_LOG("%s", self->why);
}

/* ----------------------------------------- requests with bad content */

struct bad_req {
	const char *name;
	uint8_t type;
	uint64_t addr;
	uint32_t npages;	/* ALLOC/FREE */
	uint8_t dst, mode;	/* page requests */
	int extra;		/* 1: page.reserved[0]; 2: alloc.reserved[0]; 3:
				 * alloc.reserved[2]; 4: alloc.flags 0x80;
				 * 5: alloc.flags TDSM_ALLOC_F_ADMIN;
				 * 6: page.grant_epoch 1 */
	int want;
};

static void run_bad_reqs(struct __test_metadata *_metadata,
			 FIXTURE_DATA(wire) *self, const struct bad_req *b,
			 size_t n)
{
	struct tdsm_wire_msg m;
	struct rx_msg rep;
	char d[400];
	long st;
	size_t i;

	for (i = 0; i < n; i++) {
		if (b[i].type == TDSM_W_ALLOC || b[i].type == TDSM_W_FREE) {
			msg_alloc(&m, b[i].type, b[i].addr, b[i].npages);
			if (b[i].extra == 2)
				m.alloc.reserved[0] = 1;
			else if (b[i].extra == 3)
				m.alloc.reserved[2] = 0xff;
			else if (b[i].extra == 4)
				m.alloc.flags = 0x80;
			else if (b[i].extra == 5)
				m.alloc.flags = TDSM_ALLOC_F_ADMIN;
		} else {
			/* rkey 0: the module then replies with a plain SEND. */
			msg_page(&m, b[i].type, b[i].addr, 0, 0, b[i].dst,
				 b[i].mode);
			if (b[i].extra == 1)
				m.page.reserved[0] = 1;
			else if (b[i].extra == 6)
				m.page.grant_epoch = htobe32(1);
		}
		st = call(self, self->r, &m, &rep);
		ASSERT_LE(0, st) TH_LOG("%s: %s", b[i].name, self->why);
		fmt_msg(&rep, d, sizeof(d));
		EXPECT_EQ(b[i].want, st)
			TH_LOG("%s: want %s, got %s: %s", b[i].name,
			       st_name(b[i].want), st_name(st), d);
		EXPECT_EQ(0u, be32toh(rep.m.reply.flags)) TH_LOG("%s: %s", b[i].name, d);
		EXPECT_EQ(0u, be64toh(rep.m.reply.addr)) TH_LOG("%s: %s", b[i].name, d);
	}
}

TEST_F_TIMEOUT(wire, access_bad_address, 150)
{
	const uint64_t base = TINYDSM_REGION_BASE;
	uint64_t end, mine, home1, home3;

	START();
	end = base + self->npages * PG;
	mine = slice_addr(self, TARGET, 7);
	home1 = slice_addr(self, ROGUE, 7);
	home3 = slice_addr(self, 3, 0);
	{
		const struct bad_req b[] = {
			{ "READ of address 0", TDSM_W_READ, 0, 0, 0, 0, 0, TDSM_WS_RANGE },
			{ "READ below the region", TDSM_W_READ, base - PG, 0, 0, 0, 0, TDSM_WS_RANGE },
			{ "READ at the region's end", TDSM_W_READ, end, 0, 0, 0, 0, TDSM_WS_RANGE },
			{ "READ of the last page + 2^63", TDSM_W_READ, (end - PG) + (1ull << 63), 0, 0, 0, 0, TDSM_WS_RANGE },
			{ "READ of 0xfffffffffffff000", TDSM_W_READ, ~0xfffull, 0, 0, 0, 0, TDSM_WS_RANGE },
			{ "WRITE at the region's end", TDSM_W_WRITE, end, 0, 0, 0, 0, TDSM_WS_RANGE },
			{ "WRITE below the region", TDSM_W_WRITE, base - PG, 0, 0, 0, 0, TDSM_WS_RANGE },
			{ "READ of a page homed on node 1", TDSM_W_READ, home1, 0, 0, 0, 0, TDSM_WS_NOTHOME },
			{ "WRITE of a page homed on node 1", TDSM_W_WRITE, home1, 0, 0, 0, 0, TDSM_WS_NOTHOME },
			{ "READ of a page homed on node 3", TDSM_W_READ, home3, 0, 0, 0, 0, TDSM_WS_NOTHOME },
			{ "READ of the region's last page (node 4)", TDSM_W_READ, end - PG, 0, 0, 0, 0, TDSM_WS_NOTHOME },
			{ "READ with page.dst 2", TDSM_W_READ, mine, 0, 2, 0, 0, TDSM_WS_INVAL },
			{ "READ with page.mode KEEP", TDSM_W_READ, mine, 0, 0, TDSM_FETCH_KEEP, 0, TDSM_WS_INVAL },
			{ "WRITE with page.mode DROP", TDSM_W_WRITE, mine, 0, 0, TDSM_FETCH_DROP, 0, TDSM_WS_INVAL },
			{ "READ with page.reserved set", TDSM_W_READ, mine, 0, 0, 0, 1, TDSM_WS_INVAL },
			{ "READ with page.grant_epoch set", TDSM_W_READ, mine, 0, 0, 0, 6, TDSM_WS_INVAL },
			{ "WRITE with page.grant_epoch set", TDSM_W_WRITE, mine, 0, 0, 0, 6, TDSM_WS_INVAL },
		};

		ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
		run_bad_reqs(_metadata, self, b, sizeof(b) / sizeof(b[0]));
	}
}

/*
 * wire.h: page addresses are page aligned; TDSM_WS_INVAL is "malformed or
 * meaningless request", TDSM_WS_RANGE "address outside the region". An
 * unaligned address inside the region is malformed, not out of range (FREE
 * already answers INVAL for it).
 */
TEST_F_TIMEOUT(wire, access_unaligned_address, 120)
{
	uint64_t mine, home1;

	START();
	mine = slice_addr(self, TARGET, 8);
	home1 = slice_addr(self, ROGUE, 8);
	{
		const struct bad_req b[] = {
			{ "READ of page + 1", TDSM_W_READ, mine + 1, 0, 0, 0, 0, TDSM_WS_INVAL },
			{ "WRITE of page + 2048", TDSM_W_WRITE, mine + 2048, 0, 0, 0, 0, TDSM_WS_INVAL },
			{ "INVAL of page + 8", TDSM_W_INVAL, home1 + 8, 0, 0, 0, 0, TDSM_WS_INVAL },
			{ "FETCH of page + 4095", TDSM_W_FETCH, home1 + 4095, 0, ROGUE, TDSM_FETCH_KEEP, 0, TDSM_WS_INVAL },
		};

		ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
		run_bad_reqs(_metadata, self, b, sizeof(b) / sizeof(b[0]));
	}
}

TEST_F_TIMEOUT(wire, fetch_inval_bad_requests, 150)
{
	uint64_t mine, home1, end;

	START();
	mine = slice_addr(self, TARGET, 9);
	home1 = slice_addr(self, ROGUE, PG_NOT_HELD);
	end = TINYDSM_REGION_BASE + self->npages * PG;
	{
		const struct bad_req b[] = {
			/* FETCH: only a page's home may ask, node2 must hold it. */
			{ "FETCH of a page homed on node 2", TDSM_W_FETCH, mine, 0, ROGUE, TDSM_FETCH_KEEP, 0, TDSM_WS_INVAL },
			{ "FETCH outside the region", TDSM_W_FETCH, end, 0, ROGUE, TDSM_FETCH_KEEP, 0, TDSM_WS_RANGE },
			{ "FETCH with mode 0", TDSM_W_FETCH, home1, 0, ROGUE, 0, 0, TDSM_WS_INVAL },
			{ "FETCH with mode 3", TDSM_W_FETCH, home1, 0, ROGUE, 3, 0, TDSM_WS_INVAL },
			{ "FETCH with dst 0", TDSM_W_FETCH, home1, 0, 0, TDSM_FETCH_KEEP, 0, TDSM_WS_INVAL },
			{ "FETCH with dst 2 (node2 itself)", TDSM_W_FETCH, home1, 0, TARGET, TDSM_FETCH_KEEP, 0, TDSM_WS_INVAL },
			{ "FETCH with dst 65", TDSM_W_FETCH, home1, 0, TINYDSM_MAX_NODES, TDSM_FETCH_DROP, 0, TDSM_WS_INVAL },
			{ "FETCH with dst 3 (not the home)", TDSM_W_FETCH, home1, 0, 3, TDSM_FETCH_KEEP, 0, TDSM_WS_INVAL },
			{ "FETCH of a page node2 does not hold", TDSM_W_FETCH, home1, 0, ROGUE, TDSM_FETCH_KEEP, 0, TDSM_WS_STALE },
			{ "FETCH DROP of a page node2 does not hold", TDSM_W_FETCH, home1, 0, ROGUE, TDSM_FETCH_DROP, 0, TDSM_WS_STALE },
			/* grant_epoch: with TDSM_FETCH_F_LIVE, and only there. */
			{ "FETCH with a grant_epoch, not live", TDSM_W_FETCH, home1, 0, ROGUE, TDSM_FETCH_KEEP, 6, TDSM_WS_INVAL },
			{ "FETCH live without a grant_epoch", TDSM_W_FETCH, home1, 0, ROGUE, TDSM_FETCH_KEEP | TDSM_FETCH_F_LIVE, 0, TDSM_WS_INVAL },
			{ "FETCH DROP live of a page node2 does not hold", TDSM_W_FETCH, home1, 0, ROGUE, TDSM_FETCH_DROP | TDSM_FETCH_F_LIVE, 6, TDSM_WS_STALE },
			/* INVAL: only from the page's home. */
			{ "INVAL of a page homed on node 2", TDSM_W_INVAL, mine, 0, 0, 0, 0, TDSM_WS_INVAL },
			{ "INVAL outside the region", TDSM_W_INVAL, end, 0, 0, 0, 0, TDSM_WS_RANGE },
			{ "INVAL of a page node2 does not hold", TDSM_W_INVAL, home1, 0, 0, 0, 0, TDSM_WS_OK },
			{ "INVAL with a grant_epoch", TDSM_W_INVAL, home1, 0, 0, 0, 6, TDSM_WS_INVAL },
		};

		ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
		run_bad_reqs(_metadata, self, b, sizeof(b) / sizeof(b[0]));
	}
}

TEST_F_TIMEOUT(wire, alloc_free_bad_requests, 150)
{
	struct tdsm_wire_msg m;
	struct rx_msg rep;
	uint64_t addr, s2, s2_end, home1, end;
	long st;

	START();
	s2 = slice_addr(self, TARGET, 0);
	s2_end = s2 + self->slice_pages * PG;
	home1 = slice_addr(self, ROGUE, 0);
	end = TINYDSM_REGION_BASE + self->npages * PG;
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	{
		const struct bad_req b[] = {
			{ "ALLOC of 0 pages", TDSM_W_ALLOC, 0, 0, 0, 0, 0, TDSM_WS_INVAL },
			/* More than a slice is well formed: no room (NOSPC). */
			{ "ALLOC of slice + 1 pages", TDSM_W_ALLOC, 0, (uint32_t)self->slice_pages + 1, 0, 0, 0, TDSM_WS_NOSPC },
			{ "ALLOC of 2^32 - 1 pages", TDSM_W_ALLOC, 0, 0xffffffffu, 0, 0, 0, TDSM_WS_NOSPC },
			{ "ALLOC with addr set", TDSM_W_ALLOC, s2, 1, 0, 0, 0, TDSM_WS_INVAL },
			{ "ALLOC with reserved set", TDSM_W_ALLOC, 0, 1, 0, 0, 2, TDSM_WS_INVAL },
			{ "ALLOC with reserved[2] set", TDSM_W_ALLOC, 0, 1, 0, 0, 3, TDSM_WS_INVAL },
			{ "ALLOC with an unknown flag", TDSM_W_ALLOC, 0, 1, 0, 0, 4, TDSM_WS_INVAL },
			{ "ALLOC with the admin flag", TDSM_W_ALLOC, 0, 1, 0, 0, 5, TDSM_WS_INVAL },
			{ "FREE of pages never allocated", TDSM_W_FREE, s2_end - 4 * PG, 1, 0, 0, 0, TDSM_WS_INVAL },
			{ "FREE of 0 pages", TDSM_W_FREE, s2, 0, 0, 0, 0, TDSM_WS_INVAL },
			{ "FREE outside the region", TDSM_W_FREE, end, 1, 0, 0, 0, TDSM_WS_RANGE },
			{ "FREE of a page homed on node 1", TDSM_W_FREE, home1, 1, 0, 0, 0, TDSM_WS_INVAL },
			{ "FREE past the slice's end", TDSM_W_FREE, s2_end - PG, 2, 0, 0, 0, TDSM_WS_INVAL },
			{ "FREE of 2^32 - 1 pages", TDSM_W_FREE, s2, 0xffffffffu, 0, 0, 0, TDSM_WS_INVAL },
			{ "FREE unaligned", TDSM_W_FREE, s2 + 1, 1, 0, 0, 0, TDSM_WS_INVAL },
			{ "FREE with reserved set", TDSM_W_FREE, s2, 1, 0, 0, 2, TDSM_WS_INVAL },
			{ "FREE with reserved[2] set", TDSM_W_FREE, s2, 1, 0, 0, 3, TDSM_WS_INVAL },
			{ "FREE with an unknown flag", TDSM_W_FREE, s2, 1, 0, 0, 4, TDSM_WS_INVAL },
		};

		run_bad_reqs(_metadata, self, b, sizeof(b) / sizeof(b[0]));
	}

	/* A good ALLOC, then NOSPC for the whole slice, then its FREE. */
	msg_alloc(&m, TDSM_W_ALLOC, 0, 1);
	st = call(self, self->r, &m, &rep);
	ASSERT_EQ(TDSM_WS_OK, st) TH_LOG("ALLOC of 1 page: %s", self->why);
	addr = be64toh(rep.m.reply.addr);
	EXPECT_EQ(0u, addr % PG) TH_LOG("ALLOC gave %#" PRIx64, addr);
	EXPECT_TRUE(addr >= s2 && addr < s2_end)
		TH_LOG("ALLOC gave %#" PRIx64 ", not in node2's slice", addr);
	msg_alloc(&m, TDSM_W_ALLOC, 0, (uint32_t)self->slice_pages);
	EXPECT_EQ(TDSM_WS_NOSPC, call(self, self->r, &m, NULL))
		TH_LOG("ALLOC of the whole slice with 1 page taken: %s", self->why);
	msg_alloc(&m, TDSM_W_FREE, addr, 2);
	EXPECT_EQ(TDSM_WS_INVAL, call(self, self->r, &m, NULL))
		TH_LOG("FREE of 2 pages of a 1-page run: %s", self->why);
	msg_alloc(&m, TDSM_W_FREE, addr, 1);
	EXPECT_EQ(TDSM_WS_OK, call(self, self->r, &m, NULL))
		TH_LOG("FREE of the run: %s", self->why);
	msg_alloc(&m, TDSM_W_FREE, addr, 1);
	EXPECT_EQ(TDSM_WS_INVAL, call(self, self->r, &m, NULL))
		TH_LOG("FREE of the run again: %s", self->why);
}

/*
 * PROTOCOL.md, "Who may free a run": node2, the home of its slice, records
 * each run with the node and the uid that allocated it, and frees only the
 * run recorded with exactly that start and length for the same (node,
 * uid), unless the FREE says TDSM_ALLOC_F_ADMIN: TDSM_WS_PERM otherwise
 * (TDSM_WS_INVAL for one's own run named with another length).
 */
static long alloc_as(FIXTURE_DATA(wire) *self, uint8_t type, uint64_t addr,
		     uint32_t npages, uint32_t uid, uint8_t flags,
		     uint64_t *got)
{
	struct tdsm_wire_msg m;
	struct rx_msg rep;
	long st;

	msg_alloc(&m, type, addr, npages);
	m.alloc.uid = htobe32(uid);
	m.alloc.flags = flags;
	st = call(self, self->r, &m, &rep);
	if (got)
		*got = st == TDSM_WS_OK ? be64toh(rep.m.reply.addr) : 0;
	return st;
}

#define UID_X	4242u
#define UID_Y	4243u

TEST_F_TIMEOUT(wire, free_checked_by_home, 150)
{
	struct tdsm_wire_msg m;
	uint64_t run, run2, s2, s2_end;
	char ans[256];
	int rc;

	START();
	s2 = slice_addr(self, TARGET, 0);
	s2_end = s2 + self->slice_pages * PG;
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);

	/* A 2-page run of node2's slice, allocated over the wire as uid X. */
	ASSERT_EQ(TDSM_WS_OK, alloc_as(self, TDSM_W_ALLOC, 0, 2, UID_X, 0, &run))
		TH_LOG("ALLOC of 2 pages as uid X: %s", self->why);
	ASSERT_TRUE(run >= s2 && run + 2 * PG <= s2_end)
		TH_LOG("ALLOC gave %#" PRIx64 ", not in node2's slice", run);

	/* (a) Another uid, no admin flag: refused, the run stays. */
	EXPECT_EQ(TDSM_WS_PERM, alloc_as(self, TDSM_W_FREE, run, 2, UID_Y, 0, NULL))
		TH_LOG("FREE of uid X's run as uid Y: %s", self->why);
	EXPECT_EQ(TDSM_WS_PERM, alloc_as(self, TDSM_W_FREE, run, 2, 0, 0, NULL))
		TH_LOG("FREE of uid X's run as uid 0 without the flag: %s", self->why);
	/* (c) The right uid, another length (INVAL) or start (PERM). */
	EXPECT_EQ(TDSM_WS_INVAL, alloc_as(self, TDSM_W_FREE, run, 1, UID_X, 0, NULL))
		TH_LOG("FREE of half of its own run: %s", self->why);
	EXPECT_EQ(TDSM_WS_PERM, alloc_as(self, TDSM_W_FREE, run + PG, 1, UID_X, 0, NULL))
		TH_LOG("FREE of the other half of its own run: %s", self->why);
	/* (d) Reserved bytes set, on a FREE that would otherwise succeed. */
	msg_alloc(&m, TDSM_W_FREE, run, 2);
	m.alloc.uid = htobe32(UID_X);
	m.alloc.reserved[1] = 1;
	EXPECT_EQ(TDSM_WS_INVAL, call(self, self->r, &m, NULL))
		TH_LOG("FREE of its own run with reserved[1] set: %s", self->why);
	msg_alloc(&m, TDSM_W_FREE, run, 2);
	m.alloc.uid = htobe32(UID_X);
	m.alloc.flags = 0x2;
	EXPECT_EQ(TDSM_WS_INVAL, call(self, self->r, &m, NULL))
		TH_LOG("FREE of its own run with flag 0x2: %s", self->why);
	/* Still allocated, still uid X's: its owner frees it, once. */
	EXPECT_EQ(TDSM_WS_OK, alloc_as(self, TDSM_W_FREE, run, 2, UID_X, 0, NULL))
		TH_LOG("FREE of its own run as uid X: %s", self->why);
	EXPECT_EQ(TDSM_WS_INVAL, alloc_as(self, TDSM_W_FREE, run, 2, UID_X, 0, NULL))
		TH_LOG("FREE of its own run again: %s", self->why);

	/* (b) Another uid with the admin flag frees it. */
	ASSERT_EQ(TDSM_WS_OK, alloc_as(self, TDSM_W_ALLOC, 0, 1, UID_X, 0, &run))
		TH_LOG("ALLOC of 1 page as uid X: %s", self->why);
	EXPECT_EQ(TDSM_WS_OK, alloc_as(self, TDSM_W_FREE, run, 1, UID_Y,
				       TDSM_ALLOC_F_ADMIN, NULL))
		TH_LOG("FREE of uid X's run as uid Y, admin: %s", self->why);
	EXPECT_EQ(TDSM_WS_INVAL, alloc_as(self, TDSM_W_FREE, run, 1, UID_X, 0, NULL))
		TH_LOG("FREE by its owner of the run the admin freed: %s", self->why);

	/*
	 * (node, uid): a run node2's root (this test on node2) allocated is
	 * not node 1's root's to free; node2's own FREE of it, as its owner,
	 * goes through the same check and succeeds.
	 */
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "alloc 1")) TH_LOG("%s", self->why);
	ASSERT_EQ(2, sscanf(ans, "%d %" SCNx64, &rc, &run2)) TH_LOG("node2: %s", ans);
	ASSERT_EQ(0, rc) TH_LOG("node2's ALLOC: %s", strerror(rc));
	EXPECT_EQ(TDSM_WS_PERM, alloc_as(self, TDSM_W_FREE, run2, 1, 0, 0, NULL))
		TH_LOG("FREE of node2's root's run by node 1's root: %s", self->why);
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "free %#" PRIx64 " 1", run2))
		TH_LOG("%s", self->why);
	EXPECT_STREQ("0", ans) TH_LOG("node2's FREE of its own run");
	/* A run node 1 allocated as uid 0, node2's root frees (CAP_SYS_ADMIN). */
	ASSERT_EQ(TDSM_WS_OK, alloc_as(self, TDSM_W_ALLOC, 0, 1, 0, 0, &run))
		TH_LOG("ALLOC of 1 page as uid 0: %s", self->why);
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "free %#" PRIx64 " 1", run))
		TH_LOG("%s", self->why);
	EXPECT_STREQ("0", ans) TH_LOG("node2's root's FREE of node 1's run");
}

/* -------------------------------------------- the protocol, done right */

#define NEED_MW() do {							\
	if (!self->r->mw)						\
		SKIP(return, "no type 2 memory window on this device: "	\
		     "cannot name a buffer the module may invalidate");	\
} while (0)

/*
 * ECHO, the transport floor (kmod/echo.c): node2 writes its page of zeros
 * into the buffer ahead of a reply that says DATA, carries no epoch and
 * invalidates the buffer's rkey, as a READ's does; no page is involved.
 */
/*
 * WORD from a peer: a store, a load and each atomic op on a page of the
 * target's slice are done there, each reply carrying the value loaded or
 * the word's value before the op; a malformed WORD is refused (INVAL)
 * and changes nothing: an op past the last, a width that is not 1, 2, 4
 * or 8, an access across a page, an atomic of 1 or 2 bytes or not aligned
 * to its width, an operand or expected value wider than the word, expected
 * set but for CAS, a value on a load, reserved set; outside the region:
 * RANGE.
 */
static void msg_word(struct tdsm_wire_msg *m, uint64_t addr, uint8_t op,
		     uint8_t width, uint64_t value, uint64_t expected)
{
	msg_init(m, TDSM_W_WORD);
	m->word.addr = htobe64(addr);
	m->word.op = op;
	m->word.width = width;
	m->word.value = htobe64(value);
	m->word.expected = htobe64(expected);
}

static long word_call(FIXTURE_DATA(wire) *self, uint64_t addr, uint8_t op,
		      uint8_t width, uint64_t value, uint64_t expected,
		      uint64_t *got)
{
	struct tdsm_wire_msg m;
	struct rx_msg rep;
	long st;

	msg_word(&m, addr, op, width, value, expected);
	st = call(self, self->r, &m, &rep);
	if (st >= 0 && got)
		*got = be64toh(rep.m.reply.addr);
	return st;
}

TEST_F_TIMEOUT(wire, word_ops_and_malformed, 150)
{
	static const struct {
		const char *name;
		uint8_t op, width;
		unsigned int off;
		uint64_t value, expected;
		int reserved;
	} bad[] = {
		{ "op past the last", __TDSM_WORD_MAX, 8, 0, 1, 0, 0 },
		{ "op 0xff", 0xff, 8, 0, 1, 0, 0 },
		{ "width 3", TDSM_WORD_STORE, 3, 0, 1, 0, 0 },
		{ "width 16", TDSM_WORD_LOAD, 16, 0, 0, 0, 0 },
		{ "store across the page", TDSM_WORD_STORE, 8, PG - 4, 1, 0, 0 },
		{ "ADD of 2 bytes", TDSM_WORD_ADD, 2, 0, 1, 0, 0 },
		{ "CAS of 1 byte", TDSM_WORD_CAS, 1, 0, 1, 0, 0 },
		{ "ADD not aligned", TDSM_WORD_ADD, 8, 4, 1, 0, 0 },
		{ "XCHG of 4 bytes not aligned", TDSM_WORD_XCHG, 4, 2, 1, 0, 0 },
		{ "OR operand wider than 4 bytes", TDSM_WORD_OR, 4, 0, 1ull << 32, 0, 0 },
		{ "CAS expected wider than 4 bytes", TDSM_WORD_CAS, 4, 0, 1, 1ull << 32, 0 },
		{ "ADD with expected", TDSM_WORD_ADD, 8, 0, 1, 1, 0 },
		{ "STORE with expected", TDSM_WORD_STORE, 8, 0, 1, 1, 0 },
		{ "LOAD with a value", TDSM_WORD_LOAD, 8, 0, 1, 0, 0 },
		{ "AND with reserved set", TDSM_WORD_AND, 8, 0, 1, 0, 1 },
	};
	uint64_t addr, got = 0;
	struct tdsm_wire_msg m;
	size_t i;
	long st;

	START();
	addr = slice_addr(self, TARGET, PG_WORD);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);

	ASSERT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_STORE, 8, 40, 0, NULL))
		TH_LOG("STORE: %s", self->why);
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_ADD, 8, 2, 0, &got));
	EXPECT_EQ(40u, got);
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_CAS, 8, 7, 41, &got));
	EXPECT_EQ(42u, got) TH_LOG("a CAS that fails returns what is there");
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_CAS, 8, 7, 42, &got));
	EXPECT_EQ(42u, got);
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_XCHG, 8, 0xf0, 0, &got));
	EXPECT_EQ(7u, got);
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_OR, 8, 0x0f, 0, &got));
	EXPECT_EQ(0xf0u, got);
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_AND, 4, 0x3c, 0, &got));
	EXPECT_EQ(0xffu, got);
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr + 4, TDSM_WORD_ADD, 4, 0xffffffff, 0, &got));
	EXPECT_EQ(0u, got) TH_LOG("the upper half");
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_LOAD, 8, 0, 0, &got));
	EXPECT_EQ(0xffffffff0000003cull, got);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg_word(&m, addr + bad[i].off, bad[i].op, bad[i].width,
			 bad[i].value, bad[i].expected);
		m.word.reserved[5] = bad[i].reserved;
		st = call(self, self->r, &m, NULL);
		EXPECT_EQ(TDSM_WS_INVAL, st) TH_LOG("%s: %s", bad[i].name, self->why);
	}
	EXPECT_EQ(TDSM_WS_RANGE, word_call(self, TINYDSM_REGION_BASE + self->npages * PG,
					   TDSM_WORD_ADD, 8, 1, 0, NULL))
		TH_LOG("ADD past the region: %s", self->why);
	/* Nothing the refused ones asked for was done. */
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_LOAD, 8, 0, 0, &got));
	EXPECT_EQ(0xffffffff0000003cull, got);
	EXPECT_EQ(0, expect_quiet(self, self->r, 500)) TH_LOG("%s", self->why);
}

/*
 * WAIT and WAKE from a peer (kmod/wait.c): a WAIT whose word differs is
 * answered 0 and not queued, one whose word holds the value 1 (queued),
 * and again 1 (renewed, not queued twice); a WAKE makes the target send
 * a WAKEUP for the oldest waiter, naming its id, before it answers with
 * the count the waiters' answers gave (STALE: not counted); a WAKE with
 * nobody queued sends nothing and answers 0; a WAIT that finds the word
 * changed takes its waiter out. Malformed WAIT, WAKE and WAKEUP (an id of
 * 0 or over 32 bits, a width not 4 or 8 or a word not aligned to it, an
 * expected value wider than the word or on a WAKE, a count of 0 or over
 * INT_MAX, another op in a WAKEUP, reserved set) are refused (INVAL); a
 * WAKEUP for no waiter of the target's is STALE. A waiter of a node that
 * is evicted is dropped: once the peer is back, a WAKE finds nobody.
 */
static long wake_expect(struct __test_metadata *_metadata,
			FIXTURE_DATA(wire) *self, uint64_t addr, uint32_t count,
			uint64_t id, uint32_t answer)
{
	struct rogue *r = self->r;
	struct tdsm_wire_msg m;
	struct rx_msg x;
	uint64_t wid;
	char d[400];
	int got;

	msg_word(&m, addr, TDSM_WORD_WAKE, 8, count, 0);
	wid = r->next_id++;
	m.hdr.id = htobe64(wid);
	if (rogue_post(r, &m, sizeof(m), 0, NULL) < 0)
		return -1;
	got = rogue_recv(r, &x, REPLY_MS);
	if (got <= 0)
		return -1;
	fmt_msg(&x, d, sizeof(d));
	EXPECT_EQ(NULL, module_msg_error(&x, TDSM_W_WAKEUP)) TH_LOG("%s", d);
	EXPECT_EQ(addr, be64toh(x.m.word.addr)) TH_LOG("%s", d);
	EXPECT_EQ(id, be64toh(x.m.word.value)) TH_LOG("%s", d);
	EXPECT_EQ(TDSM_WORD_WAKE, x.m.word.op) TH_LOG("%s", d);
	EXPECT_EQ(8, x.m.word.width) TH_LOG("%s", d);
	if (rogue_reply(r, &x.m, answer, 0, -1, false) < 0)
		return -1;
	got = rogue_recv(r, &x, REPLY_MS);
	if (got <= 0)
		return -1;
	fmt_msg(&x, d, sizeof(d));
	EXPECT_EQ(NULL, module_msg_error(&x, TDSM_W_REPLY)) TH_LOG("%s", d);
	EXPECT_EQ(wid, be64toh(x.m.hdr.id)) TH_LOG("%s", d);
	EXPECT_EQ(TDSM_WS_OK, be32toh(x.m.reply.status)) TH_LOG("%s", d);
	return (long)be64toh(x.m.reply.addr);
}

TEST_F_TIMEOUT(wire, wait_wake_ops_and_malformed, 150)
{
	static const struct {
		const char *name;
		uint8_t type, op, width;
		unsigned int off;
		uint64_t value, expected;
		int reserved;
	} bad[] = {
		{ "WAIT id 0", TDSM_W_WORD, TDSM_WORD_WAIT, 8, 0, 0, 5, 0 },
		{ "WAIT id over 32 bits", TDSM_W_WORD, TDSM_WORD_WAIT, 8, 0, 1ull << 32, 5, 0 },
		{ "WAIT width 2", TDSM_W_WORD, TDSM_WORD_WAIT, 2, 0, 1, 5, 0 },
		{ "WAIT not aligned", TDSM_W_WORD, TDSM_WORD_WAIT, 4, 2, 1, 5, 0 },
		{ "WAIT expected wider than 4 bytes", TDSM_W_WORD, TDSM_WORD_WAIT, 4, 0, 1, 1ull << 32, 0 },
		{ "WAIT reserved set", TDSM_W_WORD, TDSM_WORD_WAIT, 8, 0, 1, 5, 1 },
		{ "WAKE count 0", TDSM_W_WORD, TDSM_WORD_WAKE, 8, 0, 0, 0, 0 },
		{ "WAKE count over INT_MAX", TDSM_W_WORD, TDSM_WORD_WAKE, 8, 0, 1ull << 31, 0, 0 },
		{ "WAKE with expected", TDSM_W_WORD, TDSM_WORD_WAKE, 8, 0, 1, 5, 0 },
		{ "WAKE width 1", TDSM_W_WORD, TDSM_WORD_WAKE, 1, 0, 1, 0, 0 },
		{ "WAKEUP op LOAD", TDSM_W_WAKEUP, TDSM_WORD_LOAD, 8, 0, 1, 0, 0 },
		{ "WAKEUP width 3", TDSM_W_WAKEUP, TDSM_WORD_WAKE, 3, 0, 1, 0, 0 },
		{ "WAKEUP id 0", TDSM_W_WAKEUP, TDSM_WORD_WAKE, 8, 0, 0, 0, 0 },
		{ "WAKEUP with expected", TDSM_W_WAKEUP, TDSM_WORD_WAKE, 8, 0, 1, 1, 0 },
		{ "WAKEUP reserved set", TDSM_W_WAKEUP, TDSM_WORD_WAKE, 8, 0, 1, 0, 1 },
	};
	struct tdsm_wire_msg m;
	uint64_t addr, got = 0;
	char ans[256];
	size_t i;
	long st;

	START();
	addr = slice_addr(self, TARGET, PG_WAIT);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	ASSERT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_STORE, 8, 5, 0, NULL))
		TH_LOG("STORE: %s", self->why);

	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_WAIT, 8, 7, 4, &got));
	EXPECT_EQ(0u, got) TH_LOG("a WAIT on a word that differs is not queued");
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_WAIT, 8, 7, 5, &got));
	EXPECT_EQ(1u, got);
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_WAIT, 8, 7, 5, &got));
	EXPECT_EQ(1u, got) TH_LOG("renewed");
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_WAIT, 8, 8, 5, &got));
	EXPECT_EQ(1u, got);
	/* the oldest first, once: 7 (woken), then 8 (gone, not counted) */
	EXPECT_EQ(1, wake_expect(_metadata, self, addr, 1, 7, TDSM_WS_OK))
		TH_LOG("%s", self->r->err);
	EXPECT_EQ(0, wake_expect(_metadata, self, addr, 5, 8, TDSM_WS_STALE))
		TH_LOG("%s", self->r->err);
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_WAKE, 8, 5, 0, &got))
		TH_LOG("WAKE with nobody queued: %s", self->why);
	EXPECT_EQ(0u, got);
	/* A WAIT that finds the word changed is not waiting any more. */
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_WAIT, 8, 9, 5, &got));
	EXPECT_EQ(1u, got);
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_STORE, 8, 6, 0, NULL));
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_WAIT, 8, 9, 5, &got));
	EXPECT_EQ(0u, got);
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_WAKE, 8, 1, 0, &got));
	EXPECT_EQ(0u, got) TH_LOG("a WAKEUP for a waiter taken out");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		msg_word(&m, addr + bad[i].off, bad[i].op, bad[i].width,
			 bad[i].value, bad[i].expected);
		m.hdr.type = bad[i].type;
		m.word.reserved[5] = bad[i].reserved;
		st = call(self, self->r, &m, NULL);
		EXPECT_EQ(TDSM_WS_INVAL, st) TH_LOG("%s: %s", bad[i].name, self->why);
	}
	msg_word(&m, addr, TDSM_WORD_WAKE, 8, 12345, 0);
	m.hdr.type = TDSM_W_WAKEUP;
	EXPECT_EQ(TDSM_WS_STALE, call(self, self->r, &m, NULL))
		TH_LOG("WAKEUP for no waiter: %s", self->why);
	msg_word(&m, TINYDSM_REGION_BASE + self->npages * PG, TDSM_WORD_WAKE, 8, 1, 0);
	m.hdr.type = TDSM_W_WAKEUP;
	EXPECT_EQ(TDSM_WS_RANGE, call(self, self->r, &m, NULL))
		TH_LOG("WAKEUP past the region: %s", self->why);
	EXPECT_EQ(TDSM_WS_RANGE, word_call(self, TINYDSM_REGION_BASE + self->npages * PG,
					   TDSM_WORD_WAIT, 8, 1, 0, NULL))
		TH_LOG("WAIT past the region: %s", self->why);
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_LOAD, 8, 0, 0, &got));
	EXPECT_EQ(6u, got);
	EXPECT_EQ(0, expect_quiet(self, self->r, 500)) TH_LOG("%s", self->why);

	/* Evicted: its waiter goes with its copies. */
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_WAIT, 8, 20, 6, &got));
	EXPECT_EQ(1u, got);
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "evict")) TH_LOG("%s", self->why);
	EXPECT_EQ(0, strncmp(ans, "rc 0", 4)) TH_LOG("node evict: %s", ans);
	rogue_close(self->r);
	self->r = NULL;
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	EXPECT_EQ(TDSM_WS_OK, word_call(self, addr, TDSM_WORD_WAKE, 8, 1, 0, &got))
		TH_LOG("WAKE after the eviction: %s", self->why);
	EXPECT_EQ(0u, got);
	EXPECT_EQ(0, expect_quiet(self, self->r, 500)) TH_LOG("%s", self->why);
}

TEST_F_TIMEOUT(wire, echo_answered, 120)
{
	struct tdsm_wire_msg m;
	uint8_t zero[PG] = { 0 };
	struct rx_msg rep;
	struct rogue *r;
	char d[400];
	int i;

	START();
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, rogue_bind(r, 0)) TH_LOG("%s", r->err);
		memset(r->data, 0xa5, PG);
		msg_page(&m, TDSM_W_ECHO, 0, (uintptr_t)r->data, r->mw_rkey, 0, 0);
		ASSERT_EQ(TDSM_WS_OK, call(self, r, &m, &rep))
			TH_LOG("ECHO %d: %s", i, self->why);
		fmt_msg(&rep, d, sizeof(d));
		EXPECT_EQ((uint32_t)TDSM_RF_DATA, be32toh(rep.m.reply.flags)) TH_LOG("%s", d);
		EXPECT_EQ(0u, be64toh(rep.m.reply.addr)) TH_LOG("%s", d);
		EXPECT_TRUE(rep.wc_flags & WC_INV_FLAGS)
			TH_LOG("the reply should invalidate our rkey: %s", d);
		EXPECT_EQ(be32toh(m.page.rkey), rep.inv_rkey) TH_LOG("%s", d);
		EXPECT_EQ(0, memcmp(r->data, zero, PG))
			TH_LOG("ECHO %d: the page of zeros did not arrive (first bytes %02x %02x)",
			       i, r->data[0], r->data[1]);
	}
	EXPECT_EQ(0, expect_quiet(self, r, 500)) TH_LOG("%s", self->why);
}

/*
 * An ECHO with any field it does not use set, or without a buffer, is
 * refused (INVAL) with no data; a refusal of a request that named a
 * buffer invalidates its rkey, as for any page request.
 */
TEST_F_TIMEOUT(wire, echo_malformed_refused, 150)
{
	static const struct {
		const char *name;
		int field;	/* 0 none (rkey 0), 1 addr, 2 dst, 3 mode,
				 * 4 reserved, 5 epoch, 6 grant_epoch */
	} b[] = {
		{ "ECHO without a buffer (rkey 0)", 0 },
		{ "ECHO with page.addr set", 1 },
		{ "ECHO with page.dst 2", 2 },
		{ "ECHO with page.mode KEEP", 3 },
		{ "ECHO with page.reserved set", 4 },
		{ "ECHO with page.epoch set", 5 },
		{ "ECHO with page.grant_epoch set", 6 },
	};
	struct tdsm_wire_msg m;
	struct rx_msg rep;
	struct rogue *r;
	char d[400];
	size_t i;

	START();
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();
	for (i = 0; i < sizeof(b) / sizeof(b[0]); i++) {
		ASSERT_EQ(0, rogue_bind(r, 0)) TH_LOG("%s", r->err);
		memset(r->data, 0xa5, PG);
		msg_page(&m, TDSM_W_ECHO, 0, (uintptr_t)r->data,
			 b[i].field ? r->mw_rkey : 0, 0, 0);
		switch (b[i].field) {
		case 1: m.page.addr = htobe64(slice_addr(self, TARGET, 9)); break;
		case 2: m.page.dst = TARGET; break;
		case 3: m.page.mode = TDSM_FETCH_KEEP; break;
		case 4: m.page.reserved[1] = 1; break;
		case 5: m.page.epoch = htobe32(7); break;
		case 6: m.page.grant_epoch = htobe32(7); break;
		}
		EXPECT_EQ(TDSM_WS_INVAL, call(self, r, &m, &rep))
			TH_LOG("%s: %s", b[i].name, self->why);
		fmt_msg(&rep, d, sizeof(d));
		EXPECT_EQ(0u, be32toh(rep.m.reply.flags)) TH_LOG("%s: %s", b[i].name, d);
		EXPECT_EQ(0xa5, r->data[0]) TH_LOG("%s: data came", b[i].name);
		if (b[i].field)
			EXPECT_EQ(be32toh(m.page.rkey), rep.inv_rkey)
				TH_LOG("%s: the refusal should invalidate our rkey: %s",
				       b[i].name, d);
	}
	/* The connection is fine: an ECHO done right is answered. */
	ASSERT_EQ(0, rogue_bind(r, 0)) TH_LOG("%s", r->err);
	msg_page(&m, TDSM_W_ECHO, 0, (uintptr_t)r->data, r->mw_rkey, 0, 0);
	EXPECT_EQ(TDSM_WS_OK, call(self, r, &m, &rep)) TH_LOG("ECHO: %s", self->why);
}

/* node2: "ok MS HASH NONZERO" / "sigbus MS" of a read; -1 on rpc failure. */
struct access_ans {
	char what[16];
	double ms;
	uint64_t hash;
	unsigned int nz;
};

static int parse_access(FIXTURE_DATA(wire) *self, const char *ans,
			struct access_ans *a)
{
	memset(a, 0, sizeof(*a));
	if (sscanf(ans, "%15s %lf %" SCNx64 " %u", a->what, &a->ms, &a->hash,
		   &a->nz) < 2) {
		snprintf(self->why, sizeof(self->why), "node2 answered '%s'", ans);
		return -1;
	}
	return 0;
}

/*
 * We READ page @addr (homed on node2) into our data page 0: the reply's
 * status (the reply in *@rep), or -1 with self->why.
 */
static long rogue_read(FIXTURE_DATA(wire) *self, struct rogue *r,
		       uint64_t addr, struct rx_msg *rep)
{
	struct tdsm_wire_msg m;

	if (rogue_bind(r, 0)) {
		snprintf(self->why, sizeof(self->why), "%s", r->err);
		return -1;
	}
	msg_page(&m, TDSM_W_READ, addr, (uintptr_t)r->data, r->mw_rkey, 0, 0);
	return call(self, r, &m, rep);
}

static int node2_access(FIXTURE_DATA(wire) *self, const char *what,
			uint64_t addr, unsigned int seed, struct access_ans *a)
{
	char ans[256];

	if (rpc(self, ans, sizeof(ans), "%s %#" PRIx64 " %u", what, addr, seed))
		return -1;
	return parse_access(self, ans, a);
}

struct pinfo {
	unsigned int owner, copyset, state, flags, home;
	uint64_t holders;	/* bit n - 1 = node n */
};

static int node2_info(FIXTURE_DATA(wire) *self, uint64_t addr, struct pinfo *p)
{
	char ans[256];

	if (rpc(self, ans, sizeof(ans), "info %#" PRIx64, addr))
		return -1;
	if (sscanf(ans, "%u %x %u %x %u %" SCNx64, &p->owner, &p->copyset,
		   &p->state, &p->flags, &p->home, &p->holders) != 6) {
		snprintf(self->why, sizeof(self->why), "node2's info: '%s'", ans);
		return -1;
	}
	return 0;
}

/* The chunks of page metadata node2 holds now, in *@chunks: 0, or -1. */
static int node2_chunks(FIXTURE_DATA(wire) *self, uint64_t *chunks)
{
	char ans[256];

	if (rpc(self, ans, sizeof(ans), "chunks"))
		return -1;
	if (sscanf(ans, "%" SCNu64, chunks) != 1) {
		snprintf(self->why, sizeof(self->why), "node2's chunks: '%s'", ans);
		return -1;
	}
	return 0;
}

/*
 * Wait for the module's next request of type @type on @r: 0 with it in
 * *x (checked well-formed), or -1.
 */
static int expect_request(FIXTURE_DATA(wire) *self, struct rogue *r,
			  uint8_t type, struct rx_msg *x, int ms)
{
	char d[400];
	const char *why;
	int got = rogue_recv(r, x, ms);

	if (got <= 0) {
		snprintf(self->why, sizeof(self->why), "no type %u request from "
			 "node2 within %d ms%s%s", type, ms, got < 0 ? ": " : "",
			 got < 0 ? r->err : "");
		return -1;
	}
	why = module_msg_error(x, type);
	if (why) {
		fmt_msg(x, d, sizeof(d));
		snprintf(self->why, sizeof(self->why), "%s: %s", why, d);
		return -1;
	}
	return 0;
}

/* node2 reads @q, a page we home: 0 once its module's READ is in @x. */
static int node2_read_request(FIXTURE_DATA(wire) *self, struct rogue *r,
			      uint64_t q, struct rx_msg *x)
{
	if (rpc_send(self, "read %#" PRIx64, q))
		return -1;
	return expect_request(self, r, TDSM_W_READ, x, REPLY_MS);
}

/* Serial-number order of epochs, as the module compares them. */
static bool epoch_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

TEST_F_TIMEOUT(wire, home_page_round_trip, 200)
{
	struct tdsm_wire_msg m;
	struct rx_msg rep, x;
	struct access_ans a;
	struct pinfo pi;
	uint32_t epoch;
	uint64_t pa, pb;
	uint8_t want[PG];
	struct rogue *r;
	char d[400];

	START();
	pa = slice_addr(self, TARGET, PG_ROUND_TRIP);
	pb = pa + PG;
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();

	/* node2 writes a pattern through its own mapping... */
	ASSERT_EQ(0, node2_access(self, "write", pa, 0x11, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what);
	ASSERT_EQ(0, node2_access(self, "write", pb, 0x12, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what);

	/* ...and the rogue READs it over the wire. */
	ASSERT_EQ(0, rogue_bind(r, 0)) TH_LOG("%s", r->err);
	memset(r->data, 0, PG);
	msg_page(&m, TDSM_W_READ, pa, (uintptr_t)r->data, r->mw_rkey, 0, 0);
	ASSERT_EQ(TDSM_WS_OK, call(self, r, &m, &rep)) TH_LOG("READ: %s", self->why);
	fmt_msg(&rep, d, sizeof(d));
	EXPECT_EQ((uint32_t)TDSM_RF_DATA, be32toh(rep.m.reply.flags)) TH_LOG("%s", d);
	/* Every grant carries its transaction's id, and ids only grow. */
	epoch = (uint32_t)be64toh(rep.m.reply.addr);
	EXPECT_NE(0u, epoch) TH_LOG("a READ grant without an epoch: %s", d);
	EXPECT_TRUE(rep.wc_flags & WC_INV_FLAGS)
		TH_LOG("the reply should invalidate our rkey: %s", d);
	EXPECT_EQ(be32toh(m.page.rkey), rep.inv_rkey) TH_LOG("%s", d);
	TH_LOG("READ reply: %s", d);
	pat_fill(want, 0x11);
	EXPECT_EQ(0, memcmp(r->data, want, PG))
		TH_LOG("the page node2 wrote did not arrive (first bytes %02x %02x)",
		       r->data[0], r->data[1]);
	ASSERT_EQ(0, node2_info(self, pa, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TARGET, pi.owner);
	EXPECT_EQ(TC_NODE(ROGUE) | TC_NODE(TARGET), pi.copyset);
	EXPECT_EQ(TINYDSM_PAGE_SHARED, pi.state);

	/* WRITE of a page we hold, and say so: ownership moves, no data needed. */
	ASSERT_EQ(0, rogue_bind(r, 0)) TH_LOG("%s", r->err);
	msg_page(&m, TDSM_W_WRITE, pa, (uintptr_t)r->data, r->mw_rkey, 0,
		 TDSM_ACCESS_F_COPY);
	ASSERT_EQ(TDSM_WS_OK, call(self, r, &m, &rep)) TH_LOG("WRITE: %s", self->why);
	fmt_msg(&rep, d, sizeof(d));
	EXPECT_EQ(0u, be32toh(rep.m.reply.flags)) TH_LOG("%s", d);
	EXPECT_TRUE(epoch_after((uint32_t)be64toh(rep.m.reply.addr), epoch))
		TH_LOG("WRITE grant's epoch not after the READ's %u: %s", epoch, d);
	epoch = (uint32_t)be64toh(rep.m.reply.addr);
	ASSERT_EQ(0, node2_info(self, pa, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(ROGUE, pi.owner);
	EXPECT_EQ(TC_NODE(ROGUE), pi.copyset);
	EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state);

	/* WRITE of a page we never read: the data comes, node2 drops it. */
	ASSERT_EQ(0, rogue_bind(r, 1)) TH_LOG("%s", r->err);
	memset(r->data + PG, 0, PG);
	msg_page(&m, TDSM_W_WRITE, pb, (uintptr_t)(r->data + PG), r->mw_rkey, 0, 0);
	ASSERT_EQ(TDSM_WS_OK, call(self, r, &m, &rep)) TH_LOG("WRITE: %s", self->why);
	fmt_msg(&rep, d, sizeof(d));
	EXPECT_EQ((uint32_t)TDSM_RF_DATA, be32toh(rep.m.reply.flags)) TH_LOG("%s", d);
	pat_fill(want, 0x12);
	EXPECT_EQ(0, memcmp(r->data + PG, want, PG)) TH_LOG("WRITE: page data wrong");
	ASSERT_EQ(0, node2_info(self, pb, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(ROGUE, pi.owner);
	EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state);

	/*
	 * node2 reads page A, which the rogue owns: its module FETCHes it
	 * from us. We write new contents into its buffer and reply.
	 */
	ASSERT_EQ(0, rpc_send(self, "read %#" PRIx64, pa)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_FETCH, &x, REPLY_MS))
		TH_LOG("node2 reading a page the rogue owns: %s", self->why);
	fmt_msg(&x, d, sizeof(d));
	EXPECT_EQ(pa, be64toh(x.m.page.addr)) TH_LOG("%s", d);
	EXPECT_TRUE(epoch_after(be32toh(x.m.page.epoch), epoch))
		TH_LOG("FETCH's epoch not after our WRITE grant's %u: %s", epoch, d);
	epoch = be32toh(x.m.page.epoch);
	EXPECT_EQ(TARGET, x.m.page.dst) TH_LOG("%s", d);
	EXPECT_EQ(TDSM_FETCH_KEEP, x.m.page.mode) TH_LOG("%s", d);
	EXPECT_NE(0u, be32toh(x.m.page.rkey)) TH_LOG("%s", d);
	EXPECT_EQ(0, x.m.page.reserved[0] | x.m.page.reserved[1]) TH_LOG("%s", d);
	pat_fill(r->data + 2 * PG, 0x13);
	ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_OK, TDSM_RF_DATA, 2, true))
		TH_LOG("%s", r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what) TH_LOG("node2's read of the fetched page: %s", d);
	EXPECT_EQ(pat_hash(0x13), a.hash) TH_LOG("node2 read the wrong bytes: %s", d);
	ASSERT_EQ(0, node2_info(self, pa, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(ROGUE, pi.owner);
	EXPECT_EQ(TC_NODE(ROGUE) | TC_NODE(TARGET), pi.copyset);
	EXPECT_EQ(TINYDSM_PAGE_SHARED, pi.state);

	/* node2 writes it: the module INVALidates our copy, we ack. */
	ASSERT_EQ(0, rpc_send(self, "write %#" PRIx64 " %u", pa, 0x14))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_INVAL, &x, REPLY_MS))
		TH_LOG("node2 writing a page the rogue holds: %s", self->why);
	fmt_msg(&x, d, sizeof(d));
	EXPECT_EQ(pa, be64toh(x.m.page.addr)) TH_LOG("%s", d);
	EXPECT_TRUE(epoch_after(be32toh(x.m.page.epoch), epoch))
		TH_LOG("INVAL's epoch not after the FETCH's %u: %s", epoch, d);
	ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_OK, 0, -1, false)) TH_LOG("%s", r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2's write after our ack: %s", d);
	ASSERT_EQ(0, node2_info(self, pa, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TARGET, pi.owner);
	EXPECT_EQ(TC_NODE(TARGET), pi.copyset);
	EXPECT_EQ(TINYDSM_PAGE_EXCLUSIVE, pi.state);

	/* Page B, which we own: node2 writes it, the module FETCHes with DROP. */
	ASSERT_EQ(0, rpc_send(self, "write %#" PRIx64 " %u", pb, 0x15))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_FETCH, &x, REPLY_MS))
		TH_LOG("node2 writing a page the rogue owns: %s", self->why);
	fmt_msg(&x, d, sizeof(d));
	EXPECT_EQ(pb, be64toh(x.m.page.addr)) TH_LOG("%s", d);
	EXPECT_EQ(TDSM_FETCH_DROP, x.m.page.mode) TH_LOG("%s", d);
	pat_fill(r->data + 2 * PG, 0x16);
	ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_OK, TDSM_RF_DATA, 2, true))
		TH_LOG("%s", r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2's write of the fetched page: %s", d);
	ASSERT_EQ(0, node2_access(self, "read", pb, 0, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what);
	EXPECT_EQ(pat_hash(0x15), a.hash) TH_LOG("node2 lost its own write");
	EXPECT_EQ(0, expect_quiet(self, r, QUIET_MS)) TH_LOG("%s", self->why);
}

/* node2 faults on a page homed on "node 1": the rogue is its home. */
TEST_F_TIMEOUT(wire, remote_home_requests, 200)
{
	struct tdsm_wire_msg m;
	struct rx_msg rep, x;
	struct access_ans a;
	struct pinfo pi;
	uint8_t want[PG];
	struct rogue *r;
	uint64_t q;
	char d[400], ans[64];
	int i;
	static const struct {
		const char *name;
		uint32_t status, flags;
	} wrong[] = {
		{ "OK without data for a page node2 does not have", TDSM_WS_OK, 0 },
		{ "status 99", 99, TDSM_RF_DATA },
		{ "status NOTHOME", TDSM_WS_NOTHOME, 0 },
		{ "status TIMEDOUT", TDSM_WS_TIMEDOUT, 0 },
	};

	START();
	q = slice_addr(self, ROGUE, PG_REMOTE_HOME);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();

	/* node2 reads: its module asks us, the home, with a READ. */
	ASSERT_EQ(0, node2_read_request(self, r, q, &x))
		TH_LOG("%s", self->why);
	fmt_msg(&x, d, sizeof(d));
	EXPECT_EQ(q, be64toh(x.m.page.addr)) TH_LOG("%s", d);
	EXPECT_NE(0u, be32toh(x.m.page.rkey)) TH_LOG("%s", d);
	EXPECT_EQ(0, x.m.page.dst) TH_LOG("%s", d);
	EXPECT_EQ(0, x.m.page.mode) TH_LOG("%s", d);
	EXPECT_EQ(0, x.m.page.reserved[0] | x.m.page.reserved[1]) TH_LOG("%s", d);
	pat_fill(r->data + 2 * PG, 0x31);
	ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_OK, TDSM_RF_DATA, 2, true))
		TH_LOG("%s", r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what) TH_LOG("node2's read: %s", d);
	EXPECT_EQ(pat_hash(0x31), a.hash) TH_LOG("node2 read the wrong bytes: %s", d);
	ASSERT_EQ(0, node2_info(self, q, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TINYDSM_PAGE_SHARED, pi.state);

	/* As its home we FETCH it back with DROP: node2 sends its copy. */
	ASSERT_EQ(0, rogue_bind(r, 0)) TH_LOG("%s", r->err);
	memset(r->data, 0, PG);
	msg_page(&m, TDSM_W_FETCH, q, (uintptr_t)r->data, r->mw_rkey, ROGUE,
		 TDSM_FETCH_DROP);
	ASSERT_EQ(TDSM_WS_OK, call(self, r, &m, &rep)) TH_LOG("FETCH: %s", self->why);
	fmt_msg(&rep, d, sizeof(d));
	EXPECT_EQ((uint32_t)TDSM_RF_DATA, be32toh(rep.m.reply.flags)) TH_LOG("%s", d);
	EXPECT_TRUE(rep.wc_flags & WC_INV_FLAGS) TH_LOG("%s", d);
	EXPECT_EQ(be32toh(m.page.rkey), rep.inv_rkey) TH_LOG("%s", d);
	pat_fill(want, 0x31);
	EXPECT_EQ(0, memcmp(r->data, want, PG)) TH_LOG("FETCH: wrong page data");
	ASSERT_EQ(0, node2_info(self, q, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state);
	EXPECT_EQ(0u, pi.flags & TINYDSM_PAGE_F_PRESENT);

	/* Wrong answers to node2's READ: its access fails, bounded. */
	for (i = 0; i < (int)(sizeof(wrong) / sizeof(wrong[0])); i++) {
		ASSERT_EQ(0, node2_read_request(self, r, q, &x))
			TH_LOG("%s: %s", wrong[i].name, self->why);
		ASSERT_EQ(0, rogue_reply(r, &x.m, wrong[i].status, wrong[i].flags,
					 -1, false)) TH_LOG("%s", r->err);
		ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
		ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
		EXPECT_STREQ("sigbus", a.what)
			TH_LOG("reply '%s' to node2's READ: node2's access gave %s",
			       wrong[i].name, d);
	}

	/*
	 * BUSY (the page's DIR held by another transaction at its home) is
	 * no failure: node2 asks again at once, the same READ, and reads what
	 * comes when we serve it.
	 */
	ASSERT_EQ(0, node2_read_request(self, r, q, &x)) TH_LOG("%s", self->why);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_BUSY, 0, -1, false))
			TH_LOG("%s", r->err);
		ASSERT_EQ(0, expect_request(self, r, TDSM_W_READ, &x, REPLY_MS))
			TH_LOG("node2 did not ask again after BUSY %d: %s", i + 1,
			       self->why);
		EXPECT_EQ(q, be64toh(x.m.page.addr));
	}
	pat_fill(r->data + 2 * PG, 0x37);
	ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_OK, TDSM_RF_DATA, 2, true))
		TH_LOG("%s", r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what) TH_LOG("node2's read after BUSY: %s", d);
	EXPECT_EQ(pat_hash(0x37), a.hash) TH_LOG("node2 read the wrong bytes: %s", d);
	msg_page(&m, TDSM_W_INVAL, q, 0, 0, 0, 0);
	EXPECT_EQ(TDSM_WS_OK, call(self, r, &m, &rep)) TH_LOG("INVAL: %s", self->why);

	/*
	 * OK with TDSM_RF_DATA but nothing written: node2 installs its fresh
	 * frame as is. It must not show what the frame held before (spray:
	 * freed pages full of 0x5a first).
	 */
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "spray")) TH_LOG("%s", self->why);
	ASSERT_EQ(0, node2_read_request(self, r, q, &x))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_OK, TDSM_RF_DATA, -1, false))
		TH_LOG("%s", r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	if (!strcmp(a.what, "ok"))
		EXPECT_EQ(0u, a.nz)
			TH_LOG("node2 sees %u non-zero bytes of a page nobody wrote "
			       "(uninitialised frame exposed to user space): %s",
			       a.nz, d);

	/* As its home we INVALidate node2's copy. */
	msg_page(&m, TDSM_W_INVAL, q, 0, 0, 0, 0);
	EXPECT_EQ(TDSM_WS_OK, call(self, r, &m, &rep)) TH_LOG("INVAL: %s", self->why);
	ASSERT_EQ(0, node2_info(self, q, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state);
	EXPECT_EQ(0, expect_quiet(self, r, QUIET_MS)) TH_LOG("%s", self->why);
}

/*
 * The connection goes down while node2's read fault waits for our reply
 * (we are its home), FAULT_RECONNECTS times in a row, as Soft-RoCE's
 * resets under load do: the fault asks again each time we are back, and
 * reads what we send in the end; no SIGBUS. node2's timeout_ms is raised
 * for the test, so that our reconnect is well inside its wait on a slow
 * kernel.
 */
#define FAULT_RECONNECTS	3	/* the module's TDSM_FAULT_RECONNECTS */

TEST_F_TIMEOUT(wire, fault_asks_again_after_connection_lost, 300)
{
	struct access_ans a;
	struct rx_msg x;
	uint64_t q;
	char d[400], ans[64];
	int i;

	START();
	q = slice_addr(self, ROGUE, PG_RECONNECT);
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "timeout 20000")) TH_LOG("%s", self->why);
	self->timeout_set = true;
	ASSERT_STREQ("ok", ans);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	NEED_MW();
	ASSERT_EQ(0, node2_read_request(self, self->r, q, &x)) TH_LOG("%s", self->why);
	for (i = 0; i < FAULT_RECONNECTS; i++) {
		/* Gone without an answer, and node2 heard it (our DREQ, its DREP). */
		ASSERT_EQ(0, rdma_disconnect(self->r->id));
		self->r->up = false;
		EXPECT_EQ(0, rogue_wait_disconnect(self->r, DISCONNECT_MS))
			TH_LOG("no DREP from node2 (loss %d)", i + 1);
		rogue_close(self->r);
		self->r = NULL;
		/*
		 * Back, without asking node2 how it sees us: it serves our
		 * commands one at a time, and is inside its read until we
		 * answer.
		 */
		ASSERT_EQ(0, connect_as(self, &self->r, false)) TH_LOG("%s", self->why);
		ASSERT_EQ(0, expect_request(self, self->r, TDSM_W_READ, &x, REPLY_MS))
			TH_LOG("node2's fault did not ask again after loss %d: %s",
			       i + 1, self->why);
		EXPECT_EQ(q, be64toh(x.m.page.addr));
	}
	pat_fill(self->r->data + 2 * PG, 0x47);
	ASSERT_EQ(0, rogue_reply(self->r, &x.m, TDSM_WS_OK, TDSM_RF_DATA, 2, true))
		TH_LOG("%s", self->r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2's read: %s", d);
	EXPECT_EQ(pat_hash(0x47), a.hash) TH_LOG("node2 read the wrong bytes: %s", d);
}

/*
 * Epochs: an INVAL or FETCH that is not newer than the grant of node2's
 * copy belongs to a transaction its home gave up on (sent before the
 * grant, handled after it): node2 answers STALE and keeps its copy, whose
 * bytes stay as granted. A newer INVAL drops it. (Without epochs, any
 * INVAL from the home dropped the copy it had just granted.)
 */
TEST_F_TIMEOUT(wire, stale_inval_and_fetch_ignored, 200)
{
	struct tdsm_wire_msg m;
	struct rx_msg rep, x;
	struct access_ans a;
	struct pinfo pi;
	struct rogue *r;
	uint32_t granted;
	uint64_t q;
	char d[400];
	int i;
	static const struct {
		const char *name;
		uint8_t type, mode;
		int32_t delta;		/* epoch, relative to the grant's */
	} stale[] = {
		{ "INVAL of the grant's own transaction", TDSM_W_INVAL, 0, 0 },
		{ "INVAL of an older transaction", TDSM_W_INVAL, 0, -1 },
		{ "INVAL from long before", TDSM_W_INVAL, 0, -100000 },
		{ "FETCH KEEP of the grant's own transaction", TDSM_W_FETCH,
		  TDSM_FETCH_KEEP, 0 },
		{ "FETCH DROP of an older transaction", TDSM_W_FETCH,
		  TDSM_FETCH_DROP, -1 },
	};

	START();
	q = slice_addr(self, ROGUE, PG_STALE);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();

	/* node2 reads a page we home: we grant it, with our next epoch. */
	ASSERT_EQ(0, node2_read_request(self, r, q, &x))
		TH_LOG("%s", self->why);
	pat_fill(r->data + 2 * PG, 0x41);
	ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_OK, TDSM_RF_DATA, 2, true))
		TH_LOG("%s", r->err);
	granted = rogue_txn;
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what) TH_LOG("node2's read: %s", d);

	for (i = 0; i < (int)(sizeof(stale) / sizeof(stale[0])); i++) {
		ASSERT_EQ(0, rogue_bind(r, 0)) TH_LOG("%s", r->err);
		msg_page(&m, stale[i].type, q,
			 stale[i].type == TDSM_W_FETCH ? (uintptr_t)r->data : 0,
			 stale[i].type == TDSM_W_FETCH ? r->mw_rkey : 0,
			 stale[i].type == TDSM_W_FETCH ? ROGUE : 0, stale[i].mode);
		m.page.epoch = htobe32(granted + (uint32_t)stale[i].delta);
		EXPECT_EQ(TDSM_WS_STALE, call(self, r, &m, &rep))
			TH_LOG("%s: %s", stale[i].name, self->why);
		ASSERT_EQ(0, node2_info(self, q, &pi)) TH_LOG("%s", self->why);
		EXPECT_EQ(TINYDSM_PAGE_SHARED, pi.state)
			TH_LOG("%s took node2's copy", stale[i].name);
		ASSERT_EQ(0, node2_access(self, "read", q, 0, &a)) TH_LOG("%s", self->why);
		EXPECT_STREQ("ok", a.what);
		EXPECT_EQ(pat_hash(0x41), a.hash)
			TH_LOG("after %s node2 reads other bytes", stale[i].name);
	}
	/* The read above was served from the copy: the home was not asked. */
	EXPECT_EQ(0, expect_quiet(self, r, QUIET_MS)) TH_LOG("%s", self->why);

	/* A newer INVAL does drop it. */
	msg_page(&m, TDSM_W_INVAL, q, 0, 0, 0, 0);
	m.page.epoch = htobe32(granted + 1);
	EXPECT_EQ(TDSM_WS_OK, call(self, r, &m, &rep)) TH_LOG("INVAL: %s", self->why);
	ASSERT_EQ(0, node2_info(self, q, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state);

	/*
	 * A READ or WRITE may carry an epoch (wire version 8: the claim of a
	 * retained frame), so it is well-formed, and answered as any request
	 * for a page we home: NOTHOME. A grant_epoch, or a WRITE claiming a
	 * read copy and a retained frame at once, is malformed.
	 */
	msg_page(&m, TDSM_W_READ, q, 0, 0, 0, 0);
	m.page.epoch = htobe32(1);
	EXPECT_EQ(TDSM_WS_NOTHOME, call(self, r, &m, &rep))
		TH_LOG("a READ claiming a retained frame: %s", self->why);
	msg_page(&m, TDSM_W_WRITE, q, 0, 0, 0, 0);
	m.page.epoch = htobe32(1);
	EXPECT_EQ(TDSM_WS_NOTHOME, call(self, r, &m, &rep))
		TH_LOG("a WRITE claiming a retained frame: %s", self->why);
	msg_page(&m, TDSM_W_READ, q, 0, 0, 0, 0);
	m.page.grant_epoch = htobe32(1);
	EXPECT_EQ(TDSM_WS_INVAL, call(self, r, &m, &rep))
		TH_LOG("a READ with a grant_epoch: %s", self->why);
	msg_page(&m, TDSM_W_WRITE, q, 0, 0, 0, TDSM_ACCESS_F_COPY);
	m.page.epoch = htobe32(1);
	EXPECT_EQ(TDSM_WS_INVAL, call(self, r, &m, &rep))
		TH_LOG("a WRITE claiming a copy and a retained frame: %s", self->why);
}

TEST_F_TIMEOUT(wire, ignored_inval_is_bounded, 200)
{
	struct rx_msg rep, x, first;
	struct access_ans a;
	struct peer_st before, after;
	struct pinfo pi;
	struct rogue *r;
	uint64_t pc;
	double bound;
	char d[400];

	START();
	pc = slice_addr(self, TARGET, PG_IGNORED_INVAL);
	bound = 3.0 * self->timeout_ms + 3000;
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();

	ASSERT_EQ(TDSM_WS_OK, rogue_read(self, r, pc, &rep))
		TH_LOG("READ: %s", self->why);

	/* node2 writes; we never answer its INVAL. */
	ASSERT_EQ(0, rpc_send(self, "write %#" PRIx64 " %u", pc, 0x21))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_INVAL, &first, REPLY_MS))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("sigbus", a.what)
		TH_LOG("node2's write went through without our ack: %s", d);
	EXPECT_GE(bound, a.ms) TH_LOG("node2's write took %.0f ms", a.ms);
	TH_LOG("node2's write failed after %.0f ms (timeout_ms %u)", a.ms,
	       self->timeout_ms);
	ASSERT_EQ(0, node2_info(self, pc, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TC_NODE(ROGUE) | TC_NODE(TARGET), pi.copyset)
		TH_LOG("the directory changed without the ack");

	/*
	 * A request given up on costs the connection: node2 cannot tell
	 * whether we acted on its INVAL, and a late ack must not be taken
	 * for the answer to anything else. It tears the connection down.
	 */
	ASSERT_EQ(0, peer_wait_not_up(self, &before)) TH_LOG("%s", self->why);
	TH_LOG("node2 after giving up on its INVAL: %s", before.state);
	(void)first;
	rogue_close(self->r);
	self->r = NULL;

	/* We come back: node2 writes again, a new INVAL, acked this time. */
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	ASSERT_EQ(0, rpc_send(self, "write %#" PRIx64 " %u", pc, 0x22))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_INVAL, &x, REPLY_MS))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_OK, 0, -1, false)) TH_LOG("%s", r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2's write after the ack: %s", d);
	ASSERT_EQ(0, peer_get(self, &after)) TH_LOG("%s", self->why);
	EXPECT_STREQ("up", after.state);
}

/*
 * A busy page for a test (readv_busy_page_not_waited_for,
 * migrate_and_free_of_busy_page_busy): we connect and READ page @run,
 * node2 writes it (@seed) and we never answer its INVAL, so that node2's
 * write holds the page's DIR until its call times out.
 */
static void busy_window(struct __test_metadata *_metadata,
			FIXTURE_DATA(wire) *self, uint64_t run, unsigned int seed)
{
	struct rx_msg rep, inval;

	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	ASSERT_EQ(TDSM_WS_OK, rogue_read(self, self->r, run, &rep))
		TH_LOG("READ: %s", self->why);
	/* node2 writes the page again; we never answer its INVAL. */
	ASSERT_EQ(0, rpc_send(self, "write %#" PRIx64 " %u", run, seed))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, self->r, TDSM_W_INVAL, &inval, REPLY_MS))
		TH_LOG("%s", self->why);
}

/* The write of busy_window() gives up on our ack; node2 drops us. */
static void busy_window_end(struct __test_metadata *_metadata,
			    FIXTURE_DATA(wire) *self, const char *what)
{
	struct access_ans a;
	struct peer_st ps;
	char d[400], key[32];

	/* Answered while node2's write still waited for our ack. */
	snprintf(key, sizeof(key), "ans.%u", self->seq);
	EXPECT_NE(0, tc_get(&self->s, key, d, sizeof(d)))
		TH_LOG("node2's write ended before the %s was answered: %s", what, d);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("sigbus", a.what) TH_LOG("node2's write: %s", d);
	ASSERT_EQ(0, peer_wait_not_up(self, &ps)) TH_LOG("%s", self->why);
	rogue_close(self->r);
	self->r = NULL;
}

/*
 * A READV waits for a busy page's directory lock only half its sender's
 * wait. We READ page B (homed on node2); node2 writes it, and we never
 * answer its INVAL, so node2's write holds B's DIR until that call times
 * out (timeout_ms), and then node2 tears our connection down. Meanwhile we
 * send a READV of A (which node2 wrote first) and B: it must be answered
 * while node2's write still waits, with A served (its contents in our
 * buffer) and B not (the requester faults on it later). A READV that
 * waited for B's DIR without bound answered only once the write gave up,
 * on a connection going down: we never got its reply.
 */
TEST_F_TIMEOUT(wire, readv_busy_page_not_waited_for, 200)
{
	struct tdsm_wire_msg m;
	struct access_ans a;
	struct rx_msg rep;
	uint64_t pa, pb;
	struct rogue *r;
	char d[400];
	long st;

	START();
	pa = slice_addr(self, TARGET, PG_READV_BUSY);
	pb = pa + PG;
	ASSERT_EQ(0, node2_access(self, "write", pa, 0x31, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	NEED_MW();
	rogue_close(self->r);
	self->r = NULL;
	busy_window(_metadata, self, pb, 0x32);
	r = self->r;

	/* A and B in one READV, into our data page 0 (A's slot). */
	ASSERT_EQ(0, rogue_bind(r, 0)) TH_LOG("%s", r->err);
	memset(r->data, 0, PG);
	msg_batch(&m, TDSM_W_READV, pa, 2, 0x3);
	m.batch.iova = htobe64((uintptr_t)r->data);
	m.batch.rkey = htobe32(r->mw_rkey);
	st = call(self, r, &m, &rep);
	ASSERT_LE(0, st) TH_LOG("the READV was not answered: %s", self->why);
	fmt_msg(&rep, d, sizeof(d));
	EXPECT_EQ(TDSM_WS_OK, st) TH_LOG("%s", d);
	EXPECT_EQ(0x1u, be64toh(rep.m.breply.done)) TH_LOG("A served, B not: %s", d);
	EXPECT_EQ(0x1u, be64toh(rep.m.breply.data)) TH_LOG("%s", d);
	EXPECT_EQ(pat_hash(0x31), fnv(r->data, PG)) TH_LOG("A's contents");
	busy_window_end(_metadata, self, "READV");

	/* Back: node2 reads A as it wrote it (B's write failed). */
	ASSERT_EQ(0, node2_access(self, "read", pa, 0, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what);
	EXPECT_EQ(pat_hash(0x31), a.hash);
}

/*
 * We pull page @addr with a MIGRATE of one page into data page 0 (a fresh
 * window over it): its status (-1 if unanswered: self->why), the reply in
 * @rep.
 */
static long rogue_migrate_page(FIXTURE_DATA(wire) *self, struct rogue *r,
			       uint64_t addr, struct rx_msg *rep)
{
	struct tdsm_wire_msg m;

	if (rogue_bind(r, 0)) {
		snprintf(self->why, sizeof(self->why), "%s", r->err);
		return -1;
	}
	msg_batch(&m, TDSM_W_MIGRATE, addr, 1, 0);
	m.batch.iova = htobe64((uintptr_t)r->data);
	m.batch.rkey = htobe32(r->mw_rkey);
	return call(self, r, &m, rep);
}

/*
 * A MIGRATE and a FREE of a busy page answer BUSY within half their
 * sender's wait and change nothing, as a READV does not serve it (above).
 * We allocate a page of node2's slice (as uid X), node2 writes it; then,
 * once for the MIGRATE and once for the FREE: we READ it, node2 writes it
 * again and we never answer its INVAL, so that write holds the page's DIR
 * until its call times out (and node2 tears the connection down). Meanwhile
 * our MIGRATE of the page (we would be its new home), or our FREE of the
 * run, gets BUSY before the write ends. Both used to wait for the DIR
 * without bound, and answered only once the write gave up, on the
 * connection going down: we never got their replies. Nothing moved, and
 * once no write is under way (we answer the next INVAL) the FREE goes.
 */
TEST_F_TIMEOUT(wire, migrate_and_free_of_busy_page_busy, 200)
{
	struct rx_msg rep, inval;
	struct access_ans a;
	struct pinfo pi;
	struct rogue *r;
	char d[400];
	uint64_t run;
	long st;

	START();
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	NEED_MW();
	ASSERT_EQ(TDSM_WS_OK, alloc_as(self, TDSM_W_ALLOC, 0, 1, UID_X, 0, &run))
		TH_LOG("ALLOC: %s", self->why);
	ASSERT_EQ(0, node2_access(self, "write", run, 0x41, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what);
	rogue_close(self->r);
	self->r = NULL;

	/* A MIGRATE of the busy page to us. */
	busy_window(_metadata, self, run, 0x42);
	r = self->r;
	st = rogue_migrate_page(self, r, run, &rep);
	ASSERT_LE(0, st) TH_LOG("the MIGRATE was not answered: %s", self->why);
	fmt_msg(&rep, d, sizeof(d));
	EXPECT_EQ(TDSM_WS_BUSY, st) TH_LOG("MIGRATE: %s", d);
	EXPECT_EQ(0u, be64toh(rep.m.breply.done)) TH_LOG("MIGRATE moved something: %s", d);
	EXPECT_EQ(0u, be64toh(rep.m.breply.data)) TH_LOG("%s", d);
	busy_window_end(_metadata, self, "MIGRATE");
	/* Nothing moved: node2 is still the page's home and owner. */
	ASSERT_EQ(0, node2_info(self, run, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TARGET, pi.home);
	EXPECT_EQ(TARGET, pi.owner);

	/* A FREE of the run while its page is busy. */
	busy_window(_metadata, self, run, 0x43);
	st = alloc_as(self, TDSM_W_FREE, run, 1, UID_X, 0, NULL);
	ASSERT_LE(0, st) TH_LOG("the FREE was not answered: %s", self->why);
	EXPECT_EQ(TDSM_WS_BUSY, st) TH_LOG("FREE: %s", self->why);
	busy_window_end(_metadata, self, "FREE");

	/* Back: node2 writes once more, we answer; then the FREE goes. */
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	ASSERT_EQ(0, rpc_send(self, "write %#" PRIx64 " %u", run, 0x44))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_INVAL, &inval, REPLY_MS))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, rogue_reply(r, &inval.m, TDSM_WS_OK, 0, -1, false)) TH_LOG("%s", r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2's write after the ack: %s", d);
	EXPECT_EQ(TDSM_WS_OK, alloc_as(self, TDSM_W_FREE, run, 1, UID_X, 0, NULL))
		TH_LOG("FREE once the page is not busy: %s", self->why);
}

/*
 * RDMA-write @seed's pattern to the buffer named in @req after the fact:
 * the completion status (0: it landed), or -1 (r->err).
 */
static int late_write_to(struct rogue *r, uint64_t iova, uint32_t rkey,
			 unsigned int seed)
{
	struct ibv_sge sge;
	struct ibv_send_wr wr = { 0 };

	pat_fill(r->data + 3 * PG, seed);
	rogue_write_wr(r, &wr, &sge, 3, WR_ID(WR_WRITE, 1), iova, rkey);
	if (rogue_op(r, &wr) == 0)
		return 0;
	return r->op_done ? r->op_status : -1;
}

static int late_write(struct rogue *r, const struct tdsm_wire_msg *req,
		      unsigned int seed)
{
	return late_write_to(r, be64toh(req->page.iova),
			     be32toh(req->page.rkey), seed);
}

/*
 * A late write's status @st (late_write_to()) must say it was refused:
 * the reply killed node2's rkey (@inv: by SEND_WITH_INV, else node2 did by
 * LOCAL_INV) before node2 used the @what it named.
 */
static void late_write_refused(struct __test_metadata *_metadata, int st,
			       bool inv, const char *what)
{
	EXPECT_NE(0, st)
		TH_LOG("%s: a write after the reply landed in node2's %s",
		       inv ? "SEND_WITH_INV" : "no invalidation in the reply",
		       what);
	TH_LOG("%s: the late write completed with %s",
	       inv ? "SEND_WITH_INV" : "plain SEND",
	       st > 0 ? ibv_wc_status_str(st) : st ? "nothing" : "success");
}

/*
 * node2 reads page @q, homed on the rogue: serve its READ with @seed's
 * pattern, replying with SEND_WITH_INV of its rkey if @inv (else node2
 * must invalidate the rkey itself). 0 with the request in *x, or -1.
 */
static int serve_node2_read(struct __test_metadata *_metadata,
			    FIXTURE_DATA(wire) *self, uint64_t q,
			    unsigned int seed, bool inv, struct rx_msg *x)
{
	struct access_ans a;
	char d[400];

	if (rpc_send(self, "read %#" PRIx64, q) ||
	    expect_request(self, self->r, TDSM_W_READ, x, REPLY_MS))
		return -1;
	pat_fill(self->r->data + 2 * PG, seed);
	if (rogue_reply(self->r, &x->m, TDSM_WS_OK, TDSM_RF_DATA, 2, inv)) {
		snprintf(self->why, sizeof(self->why), "%s", self->r->err);
		return -1;
	}
	if (rpc_wait(self, d, sizeof(d), RPC_S) || parse_access(self, d, &a))
		return -1;
	EXPECT_STREQ("ok", a.what) TH_LOG("node2's read of %#" PRIx64 ": %s", q, d);
	EXPECT_EQ(pat_hash(seed), a.hash) TH_LOG("node2 read the wrong bytes: %s", d);
	return 0;
}

/*
 * Once node2 has its page, the buffer it named is dead: a write that comes
 * after the reply must not land, whether the reply invalidated the rkey
 * (SEND_WITH_INV) or node2 had to (LOCAL_INV). The write breaks the
 * connection (node2's responder refuses it): node2 must notice and drop
 * it, even though the rogue does not disconnect.
 */
TEST_F_TIMEOUT(wire, late_write_into_dead_buffer, 200)
{
	struct access_ans a;
	struct peer_st p;
	struct rx_msg x;
	uint64_t q;
	int pass, st;
	char qps[512];

	START();
	for (pass = 0; pass < 2; pass++) {
		bool inv = pass == 0;

		q = slice_addr(self, ROGUE, PG_LATE_WRITE + pass);
		ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
		ASSERT_EQ(0, serve_node2_read(_metadata, self, q, 0x41 + pass, inv, &x))
			TH_LOG("%s", self->why);
		st = late_write(self->r, &x.m, 0x61);
		late_write_refused(_metadata, st, inv, "buffer");
		ASSERT_EQ(0, node2_access(self, "read", q, 0, &a)) TH_LOG("%s", self->why);
		/*
		 * Either the page is as served, or node2 no longer has it: the
		 * refused write broke the connection, and a node that loses its
		 * connection to a home drops its read copies of that home's
		 * pages (kmod/PROTOCOL.md), so the read faults and, the home
		 * being gone, gets SIGBUS. Never other data.
		 */
		if (strcmp(a.what, "sigbus")) {
			EXPECT_STREQ("ok", a.what);
			EXPECT_EQ(pat_hash(0x41 + pass), a.hash)
				TH_LOG("node2's page changed after its fault was served");
		} else {
			TH_LOG("node2 dropped its copy when the connection died");
		}
		if (!rpc(self, qps, sizeof(qps), "qps"))
			TH_LOG("node2's RC QPs after the late write: %s", qps);
		/* We keep our end open: node2 must drop its broken QP itself. */
		EXPECT_EQ(0, peer_wait_not_up(self, &p))
			TH_LOG("%s (its QP failed when it refused our write)", self->why);
		rogue_close(self->r);
		self->r = NULL;
		ASSERT_EQ(0, peer_wait_not_up(self, &p)) TH_LOG("%s", self->why);
	}
}

/*
 * Each connection has its own protection domain: the buffer node2
 * registers for its READ to node 1 takes writes from node 1 only. node2
 * has a second peer, node 3, also played by us (node2 connects to it);
 * an RDMA WRITE with node 1's rkey sent on node 3's connection must fail
 * (remote access error) and change nothing, and node 1's answer still
 * lands. With one protection domain per device, as before, it landed.
 */
TEST_F_TIMEOUT(wire, rkey_of_another_connection_refused, 200)
{
	struct tdsm_wire_hello mine, theirs;
	struct access_ans a;
	struct rogue *b;
	struct rx_msg x;
	char d[400];
	uint64_t q;
	int st;

	START();
	if (self->max_nodes < THIRD)
		SKIP(return, "node2 has max_nodes %u: no node %d", self->max_nodes,
		     THIRD);
	q = slice_addr(self, ROGUE, PG_OTHER_CONN);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, rpc(self, d, sizeof(d), "add3 %d", THIRD_PORT));
	ASSERT_EQ(0, strncmp(d, "rc 0", 4)) TH_LOG("node2: node add 3: %s", d);
	self->third = true;

	b = self->r2 = calloc(1, sizeof(*b));
	ASSERT_NE(NULL, b);
	hello_fill(self, &mine, THIRD);
	ASSERT_EQ(0, rogue_accept(b, THIRD_PORT, &mine, sizeof(mine), &theirs,
				  20000)) TH_LOG("as node 3: %s", b->err);
	EXPECT_EQ(TARGET, theirs.node_id);
	ASSERT_EQ(0, rogue_auth_responder(self, b, &mine, &theirs))
		TH_LOG("as node 3: %s", self->why);

	/* node2 reads a page of ours: its buffer is in PD(node2, node 1). */
	ASSERT_EQ(0, rpc_send(self, "read %#" PRIx64, q));
	ASSERT_EQ(0, expect_request(self, self->r, TDSM_W_READ, &x, REPLY_MS))
		TH_LOG("%s", self->why);
	st = late_write(b, &x.m, 0x77);
	EXPECT_NE(0, st)
		TH_LOG("a write with node 1's rkey, on node 3's connection, landed");
	TH_LOG("node 1's rkey %#x used on node 3's connection: %s",
	       be32toh(x.m.page.rkey),
	       st > 0 ? ibv_wc_status_str(st) : st ? "no completion" : "success");
	if (st > 0)
		EXPECT_EQ(IBV_WC_REM_ACCESS_ERR, st);

	/* node 1 answers as it should: that is what node2 reads. */
	pat_fill(self->r->data + 2 * PG, 0x44);
	ASSERT_EQ(0, rogue_reply(self->r, &x.m, TDSM_WS_OK, TDSM_RF_DATA, 2, true))
		TH_LOG("%s", self->r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S));
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2's read: %s", d);
	EXPECT_EQ(pat_hash(0x44), a.hash)
		TH_LOG("node2 read bytes other than node 1's: %s", d);
}

/*
 * Node ids above 32 (ABI 2, wire 7): node2 loads again with max_nodes 64,
 * and we play node 40 (node2 connects to it). Our READ of a page node2
 * wrote makes node 40 a holder: PAGE_INFO's holders has bit 39 (and node
 * 2's bit 1), while the u32 copyset, which ends at node 31, names node 2
 * only. The teardown loads node2 again with the max_nodes it had.
 */
TEST_F_TIMEOUT(wire, node_40_reads_holders64, 200)
{
	struct tdsm_wire_hello mine, theirs;
	struct tdsm_wire_msg m;
	struct access_ans a;
	struct rx_msg rep;
	struct pinfo pi;
	uint8_t want[PG];
	unsigned int was;
	struct rogue *b;
	uint64_t pa;
	char d[400];

	START();
	was = self->max_nodes;
	ASSERT_EQ(0, rpc(self, d, sizeof(d), "reload 64")) TH_LOG("%s", self->why);
	self->max_nodes_was = was;
	ASSERT_EQ(0, strncmp(d, "ok ", 3)) TH_LOG("node2: reload with max_nodes 64: %s", d);
	ASSERT_EQ(0, prepare(self)) TH_LOG("%s", self->why);
	ASSERT_EQ(64u, self->max_nodes);

	pa = slice_addr(self, TARGET, PG_HIGH_NODE);
	ASSERT_EQ(0, node2_access(self, "write", pa, 0x40, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what);
	ASSERT_EQ(0, rpc(self, d, sizeof(d), "addn %d %d", HIGH, HIGH_PORT));
	ASSERT_EQ(0, strncmp(d, "rc 0", 4)) TH_LOG("node2: node add %d: %s", HIGH, d);

	b = self->r2 = calloc(1, sizeof(*b));
	ASSERT_NE(NULL, b);
	hello_fill(self, &mine, HIGH);
	ASSERT_EQ(0, rogue_accept(b, HIGH_PORT, &mine, sizeof(mine), &theirs,
				  20000)) TH_LOG("as node %d: %s", HIGH, b->err);
	EXPECT_EQ(TARGET, theirs.node_id);
	EXPECT_EQ(64, theirs.max_nodes);
	/* Every message from here on, the proof too, comes from node 40. */
	rogue_src = HIGH;
	ASSERT_EQ(0, rogue_auth_responder(self, b, &mine, &theirs))
		TH_LOG("as node %d: %s", HIGH, self->why);
	if (!b->mw)
		SKIP(return, "no type 2 memory window on this device");

	ASSERT_EQ(0, rogue_bind(b, 0)) TH_LOG("%s", b->err);
	memset(b->data, 0, PG);
	msg_page(&m, TDSM_W_READ, pa, (uintptr_t)b->data, b->mw_rkey, 0, 0);
	ASSERT_EQ(TDSM_WS_OK, call(self, b, &m, &rep))
		TH_LOG("READ as node %d: %s", HIGH, self->why);
	pat_fill(want, 0x40);
	EXPECT_EQ(0, memcmp(b->data, want, PG))
		TH_LOG("node 40 did not get the page node2 wrote");
	ASSERT_EQ(0, node2_info(self, pa, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TARGET, pi.owner);
	EXPECT_EQ(TINYDSM_PAGE_SHARED, pi.state);
	EXPECT_EQ((1ull << (HIGH - 1)) | (1ull << (TARGET - 1)), pi.holders)
		TH_LOG("holders %#" PRIx64, pi.holders);
	EXPECT_EQ(TC_NODE(TARGET), pi.copyset);
	rogue_src = ROGUE;
}

/*
 * The home's reply to node2's READ invalidates an rkey that is not the
 * buffer's: node2's receive fails, its read fails (bounded), it drops the
 * connection, and it serves the page once the home behaves.
 */
TEST_F_TIMEOUT(wire, reply_invalidates_wrong_rkey, 200)
{
	struct tdsm_wire_msg m;
	struct access_ans a;
	struct peer_st p;
	struct rx_msg x;
	uint64_t q;
	char d[400];
	double bound;

	START();
	q = slice_addr(self, ROGUE, PG_WRONG_INV);
	bound = 3.0 * self->timeout_ms + 3000;
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, rpc_send(self, "read %#" PRIx64, q)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, self->r, TDSM_W_READ, &x, REPLY_MS))
		TH_LOG("%s", self->why);
	/* The same MR, another key: the rkey node2 named, plus one. */
	m = x.m;
	m.page.rkey = htobe32(be32toh(x.m.page.rkey) ^ 0x01);
	pat_fill(self->r->data + 2 * PG, 0x71);
	{
		struct tdsm_wire_msg rep;
		struct ibv_sge sge;
		struct ibv_send_wr write = { 0 };
		int slot;

		msg_init(&rep, TDSM_W_REPLY);
		rep.hdr.id = x.m.hdr.id;
		rep.reply.flags = htobe32(TDSM_RF_DATA);
		rogue_write_wr(self->r, &write, &sge, 2, WR_ID(WR_WRITE, 0),
			       be64toh(x.m.page.iova), be32toh(x.m.page.rkey));
		slot = rogue_post(self->r, &rep, sizeof(rep),
				  be32toh(m.page.rkey), &write);
		ASSERT_LE(0, slot) TH_LOG("%s", self->r->err);
		tx_wait(self->r, slot);
	}
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("sigbus", a.what)
		TH_LOG("node2 took a reply that failed to arrive: %s", d);
	EXPECT_GE(bound, a.ms) TH_LOG("node2's read took %.0f ms", a.ms);
	EXPECT_EQ(0, peer_wait_not_up(self, &p)) TH_LOG("%s", self->why);
	rogue_close(self->r);
	self->r = NULL;

	/* A well-behaved home again: node2 gets the page. */
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, serve_node2_read(_metadata, self, q, 0x72, true, &x))
		TH_LOG("%s", self->why);
}

TEST_F_TIMEOUT(wire, bad_buffer_kills_connection, 200)
{
	struct tdsm_wire_msg m;
	struct rx_msg x;
	struct access_ans a;
	struct peer_st p;
	uint64_t pe;
	int got, slot, st;
	char d[400];

	START();
	pe = slice_addr(self, TARGET, PG_BAD_BUFFER);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);

	/*
	 * An rkey we never registered: the module's RDMA WRITE must fail. It
	 * may kill the connection before our SEND's acknowledgment is back:
	 * then the SEND completes flushed, although node2 got it.
	 */
	msg_page(&m, TDSM_W_READ, pe, 0x10000, 0x00abcd01, 0, 0);
	m.hdr.id = htobe64(0x4242);
	slot = rogue_post(self->r, &m, sizeof(m), 0, NULL);
	ASSERT_LE(0, slot) TH_LOG("%s", self->r->err);
	st = tx_wait(self->r, slot);
	ASSERT_TRUE(st == 0 || st == IBV_WC_WR_FLUSH_ERR)
		TH_LOG("send completion: %s", st < 0 ? "none in 15 s" :
		       ibv_wc_status_str(st));
	got = rogue_recv(self->r, &x, 5000);
	if (got > 0) {
		fmt_msg(&x, d, sizeof(d));
		EXPECT_GE(0, got) TH_LOG("a reply came for a buffer that does not exist: %s", d);
	}
	EXPECT_EQ(0, rogue_wait_disconnect(self->r, DISCONNECT_MS))
		TH_LOG("still connected %d ms after a bad rkey", DISCONNECT_MS);
	ASSERT_EQ(0, peer_wait_not_up(self, &p)) TH_LOG("%s", self->why);
	rogue_close(self->r);
	self->r = NULL;

	/*
	 * Back again: node2 can still write its page (the home may still
	 * count us as a reader and INVALidate us first: we ack).
	 */
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, rpc_send(self, "write %#" PRIx64 " %u", pe, 0x51))
		TH_LOG("%s", self->why);
	got = rogue_recv(self->r, &x, 3000);
	if (got > 0) {
		ASSERT_TRUE(!module_msg_error(&x, TDSM_W_INVAL))
			TH_LOG("%s", module_msg_error(&x, TDSM_W_INVAL));
		TH_LOG("node2 INVALidates the rogue's copy that never arrived");
		ASSERT_EQ(0, rogue_reply(self->r, &x.m, TDSM_WS_OK, 0, -1, false))
			TH_LOG("%s", self->r->err);
	}
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2's write: %s", d);
}

/*
 * The start of a grant-in-doubt test: node2 writes page @pa (pattern
 * @seed), then node1 drops RoCE packets of BTH opcode @opcode on @dir.
 */
static int doubt_start(FIXTURE_DATA(wire) *self, uint64_t pa,
		       unsigned int seed, const char *dir, uint8_t opcode)
{
	struct access_ans a;

	if (node2_access(self, "write", pa, seed, &a))
		return -1;
	if (strcmp(a.what, "ok")) {
		snprintf(self->why, sizeof(self->why), "node2's write: %s", a.what);
		return -1;
	}
	if (tc_drop_roce(dir, 1, &opcode)) {
		snprintf(self->why, sizeof(self->why), "tc: cannot drop opcode %#x on %s",
			 opcode, dir);
		return -1;
	}
	self->tc = true;
	return 0;
}

/*
 * The module's reply never completes, so it gives the connection up: wait
 * for that, let every packet through again, and close our end.
 */
static int doubt_cut(FIXTURE_DATA(wire) *self)
{
	struct peer_st p;

	if (rogue_wait_disconnect(self->r, DISCONNECT_MS)) {
		snprintf(self->why, sizeof(self->why),
			 "still connected %d ms after a reply that did not complete",
			 DISCONNECT_MS);
		return -1;
	}
	tc_drop_roce(NULL, 0, NULL);
	self->tc = false;
	if (peer_wait_not_up(self, &p))
		return -1;
	rogue_close(self->r);
	self->r = NULL;
	return 0;
}

/* doubt_cut(), then connect anew. */
static int doubt_reconnect(FIXTURE_DATA(wire) *self)
{
	return doubt_cut(self) ?: connect_ok(self, &self->r);
}

/*
 * node2 reads page @pa, which we own: its module must FETCH it from us
 * with @mode; we answer with data pattern @seed. 0 if node2 read exactly
 * that, else -1 (self->why).
 */
static int node2_reads_ours(FIXTURE_DATA(wire) *self, uint64_t pa,
			    uint8_t mode, unsigned int seed)
{
	struct rogue *r = self->r;
	struct access_ans a;
	struct rx_msg x;
	char d[400];

	if (rpc_send(self, "read %#" PRIx64, pa) ||
	    expect_request(self, r, TDSM_W_FETCH, &x, REPLY_MS))
		return -1;
	fmt_msg(&x, d, sizeof(d));
	if (be64toh(x.m.page.addr) != pa || x.m.page.mode != mode) {
		snprintf(self->why, sizeof(self->why),
			 "node2's FETCH, not of %#" PRIx64 " with mode %#x: %s",
			 pa, mode, d);
		return -1;
	}
	pat_fill(r->data + 2 * PG, seed);
	if (rogue_reply(r, &x.m, TDSM_WS_OK, TDSM_RF_DATA, 2, true)) {
		snprintf(self->why, sizeof(self->why), "%s", r->err);
		return -1;
	}
	if (rpc_wait(self, d, sizeof(d), RPC_S) || parse_access(self, d, &a))
		return -1;
	if (strcmp(a.what, "ok") || a.hash != pat_hash(seed)) {
		snprintf(self->why, sizeof(self->why),
			 "node2 did not read the bytes we sent: %s", d);
		return -1;
	}
	return 0;
}

/*
 * node2 writes page @pa (pattern @seed), node1 drops every acknowledgement
 * it sends (0x11), and we WRITE the page: the module's reply and the page
 * land here, but its send does not complete. 0 and, if @grant, the
 * grant's epoch in *@grant; or -1 (self->why).
 */
static int grant_taken_start(FIXTURE_DATA(wire) *self, uint64_t pa,
			     unsigned int seed, uint32_t *grant)
{
	struct rogue *r = self->r;
	struct tdsm_wire_msg m;
	struct rx_msg rep;
	uint8_t want[PG];
	char d[400];

	if (doubt_start(self, pa, seed, "egress", 0x11))
		return -1;
	if (rogue_bind(r, 0)) {
		snprintf(self->why, sizeof(self->why), "%s", r->err);
		return -1;
	}
	memset(r->data, 0, PG);
	msg_page(&m, TDSM_W_WRITE, pa, (uintptr_t)r->data, r->mw_rkey, 0, 0);
	if (call(self, r, &m, &rep) != TDSM_WS_OK)
		return -1;
	fmt_msg(&rep, d, sizeof(d));
	if (be32toh(rep.m.reply.flags) != TDSM_RF_DATA) {
		snprintf(self->why, sizeof(self->why), "WRITE's reply without data: %s", d);
		return -1;
	}
	pat_fill(want, seed);
	if (memcmp(r->data, want, PG)) {
		snprintf(self->why, sizeof(self->why), "the page did not arrive");
		return -1;
	}
	if (grant)
		*grant = (uint32_t)be64toh(rep.m.reply.addr);
	return 0;
}

/*
 * A write grant in doubt that the requester took: the module's reply (and
 * the page) reach the rogue, but node1 drops every acknowledgement it
 * sends (tc: RoCE packets of BTH opcode ACKNOWLEDGE, 0x11), so the
 * module's send never completes and it kills the connection. The rogue
 * has the page and writes it. Rolling the grant back would leave node2
 * reading, and writing, its own old frame while the rogue writes its copy
 * (two writers). The module must keep the rogue as the owner and, when
 * node2 reads the page, FETCH it from the rogue, asking for a live copy.
 */
TEST_F_TIMEOUT(wire, write_grant_in_doubt_taken, 200)
{
	uint64_t pd;

	START();
	pd = slice_addr(self, TARGET, PG_DOUBT_TAKEN);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	NEED_MW();
	ASSERT_EQ(0, grant_taken_start(self, pd, 0x61, NULL)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, doubt_reconnect(self)) TH_LOG("%s", self->why);

	/* We took the page and wrote it (0x62, here only): node2 must ask us. */
	ASSERT_EQ(0, node2_reads_ours(self, pd, TDSM_FETCH_KEEP | TDSM_FETCH_F_LIVE,
				      0x62))
		TH_LOG("node2 reading a page it granted us in doubt: %s", self->why);
}

/*
 * A write grant in doubt that the requester took, then the next
 * transaction's FETCH DROP whose answer is lost: the requester gave its
 * frame up (retained at the grant's epoch, as a module does, before it
 * answers) and the answer died with the connection. The grant is still in
 * doubt, and that retained frame is the page. The rogue plays the
 * requester: it takes the grant (its acks dropped, as in
 * write_grant_in_doubt_taken) and writes 0x83. node2's write FETCHes it,
 * DROP for a frame the grant installed, naming the grant's epoch
 * (grant_epoch); we give the page up, never answer and hang up, so
 * node2's write fails (SIGBUS). Back, we READ the page claiming our frame
 * retained at the grant's epoch: node2 must count the grant taken, keep
 * us the owner and send no data; its own read then FETCHes our page
 * (0x83), a plain FETCH since nothing is in doubt any more. The module
 * used to take a request of the requester in doubt without a live copy
 * as "not taken" and serve its own frame from before the grant (0x81):
 * our write was lost, and node2 read 0x81 without asking us.
 */
TEST_F_TIMEOUT(wire, write_grant_in_doubt_settle_lost, 200)
{
	struct tdsm_wire_msg m;
	struct rx_msg rep, x;
	struct access_ans a;
	struct peer_st ps;
	struct pinfo pi;
	uint8_t old[PG];
	struct rogue *r;
	uint32_t grant;
	uint64_t pl;
	char d[400];

	START();
	pl = slice_addr(self, TARGET, PG_DOUBT_SETTLE_LOST);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	NEED_MW();
	ASSERT_EQ(0, grant_taken_start(self, pl, 0x81, &grant)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, doubt_reconnect(self)) TH_LOG("%s", self->why);
	r = self->r;

	/* node2 writes: it must ask us for the frame the grant installed. */
	ASSERT_EQ(0, rpc_send(self, "write %#" PRIx64 " %u", pl, 0x82))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_FETCH, &x, REPLY_MS))
		TH_LOG("node2 writing a page it granted us in doubt: %s", self->why);
	fmt_msg(&x, d, sizeof(d));
	EXPECT_EQ(pl, be64toh(x.m.page.addr)) TH_LOG("%s", d);
	EXPECT_EQ(TDSM_FETCH_DROP | TDSM_FETCH_F_LIVE, x.m.page.mode) TH_LOG("%s", d);
	EXPECT_EQ(grant, be32toh(x.m.page.grant_epoch))
		TH_LOG("the FETCH does not name the grant in doubt (epoch %u): %s",
		       grant, d);
	EXPECT_TRUE(epoch_after(be32toh(x.m.page.epoch), grant))
		TH_LOG("the FETCH is not newer than the grant %u: %s", grant, d);

	/* Given up (our 0x83 retained), the answer lost with the connection. */
	ASSERT_EQ(0, rdma_disconnect(r->id));
	r->up = false;
	EXPECT_EQ(0, rogue_wait_disconnect(r, DISCONNECT_MS))
		TH_LOG("no DREP from node2");
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("sigbus", a.what)
		TH_LOG("node2's write went through without the owner's answer: %s", d);
	ASSERT_EQ(0, peer_wait_not_up(self, &ps)) TH_LOG("%s", self->why);
	rogue_close(self->r);
	self->r = NULL;
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;

	/* We READ it, claiming our frame retained at the grant's epoch. */
	ASSERT_EQ(0, rogue_bind(r, 0)) TH_LOG("%s", r->err);
	memset(r->data, 0, PG);
	msg_page(&m, TDSM_W_READ, pl, (uintptr_t)r->data, r->mw_rkey, 0, 0);
	m.page.epoch = htobe32(grant);
	ASSERT_EQ(TDSM_WS_OK, call(self, r, &m, &rep))
		TH_LOG("a READ claiming the frame the grant installed: %s", self->why);
	fmt_msg(&rep, d, sizeof(d));
	EXPECT_EQ(0u, be32toh(rep.m.reply.flags))
		TH_LOG("node2 sent a page over the frame we claimed: %s", d);
	pat_fill(old, 0x81);
	EXPECT_NE(0, memcmp(r->data, old, PG))
		TH_LOG("node2 sent its page from before the grant");
	ASSERT_EQ(0, node2_info(self, pl, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(ROGUE, pi.owner) TH_LOG("node2 took the page back from us");

	/* node2 reads: a plain FETCH (nothing in doubt), and our write. */
	ASSERT_EQ(0, node2_reads_ours(self, pl, TDSM_FETCH_KEEP, 0x83))
		TH_LOG("node2 reading a page whose grant we took: %s", self->why);
}

/*
 * A read on the home between a write grant's arrival and its commit: the
 * module (home and owner, pattern 0x68) grants us its page for a write,
 * and the reply lands, but node1 drops every acknowledgement it sends
 * (0x11), so the module's send does not complete and its transaction
 * (and commit) waits for the transport's retries. We own the page from
 * the moment the reply arrived and may have written it. node2's read
 * meanwhile must not return its own frame, the page as it was before our
 * write: it waits for the transaction and then asks us (SIGBUS here: we
 * do not answer while node2 reads, and then the connection is gone). The
 * module used to keep its frame as a read copy until the commit, and a
 * local read took it without asking anyone (conn.word_storm: node2 read 0
 * after node1 wrote 7). Afterwards the page is ours, as in
 * write_grant_in_doubt_taken.
 */
TEST_F_TIMEOUT(wire, write_grant_home_reads_before_commit, 200)
{
	struct access_ans a;
	uint64_t pw;

	START();
	pw = slice_addr(self, TARGET, PG_HOME_READ_WINDOW);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	NEED_MW();
	ASSERT_EQ(0, grant_taken_start(self, pw, 0x68, NULL)) TH_LOG("%s", self->why);

	/* Our acks are still dropped: the module has not committed yet. */
	ASSERT_EQ(0, node2_access(self, "read", pw, 0, &a)) TH_LOG("%s", self->why);
	EXPECT_FALSE(!strcmp(a.what, "ok") && a.hash == pat_hash(0x68))
		TH_LOG("node2 read its own old page (%.0f ms) while we owned it",
		       a.ms);
	EXPECT_STREQ("sigbus", a.what)
		TH_LOG("node2's read of a page it granted us: %s after %.0f ms",
		       a.what, a.ms);
	ASSERT_EQ(0, doubt_reconnect(self)) TH_LOG("%s", self->why);

	/* The grant is in doubt, and we took it: node2 must ask us. */
	ASSERT_EQ(0, node2_reads_ours(self, pw, TDSM_FETCH_KEEP | TDSM_FETCH_F_LIVE,
				      0x69))
		TH_LOG("node2 reading a page it granted us: %s", self->why);
}

/*
 * A write grant in doubt that never arrived: node1 drops the module's
 * replies (tc on its ingress: SEND ONLY WITH INVALIDATE, 0x17), so the
 * module's send never completes and it kills the connection, while the
 * rogue has nothing. When the rogue asks for the page again, it must get
 * the home's own frame: the page is not lost.
 */
TEST_F_TIMEOUT(wire, write_grant_in_doubt_not_taken, 200)
{
	struct tdsm_wire_msg m;
	struct rx_msg rep, x;
	uint8_t want[PG];
	struct rogue *r;
	uint64_t pn;
	char d[400];
	int got;

	START();
	pn = slice_addr(self, TARGET, PG_DOUBT_NOT_TAKEN);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();
	ASSERT_EQ(0, doubt_start(self, pn, 0x63, "ingress", 0x17)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, rogue_bind(r, 0)) TH_LOG("%s", r->err);
	msg_page(&m, TDSM_W_WRITE, pn, (uintptr_t)r->data, r->mw_rkey, 0, 0);
	m.hdr.id = htobe64(0x4444);
	ASSERT_EQ(0, rogue_send(r, &m, sizeof(m))) TH_LOG("%s", r->err);
	got = rogue_recv(r, &x, 2000);
	if (got > 0) {
		fmt_msg(&x, d, sizeof(d));
		EXPECT_GE(0, got) TH_LOG("a reply got through the filter: %s", d);
	}
	ASSERT_EQ(0, doubt_reconnect(self)) TH_LOG("%s", self->why);

	/* We ask again, holding nothing: the home's own frame comes. */
	r = self->r;
	ASSERT_EQ(0, rogue_bind(r, 0)) TH_LOG("%s", r->err);
	memset(r->data, 0, PG);
	msg_page(&m, TDSM_W_WRITE, pn, (uintptr_t)r->data, r->mw_rkey, 0, 0);
	ASSERT_EQ(TDSM_WS_OK, call(self, r, &m, &rep)) TH_LOG("WRITE again: %s", self->why);
	fmt_msg(&rep, d, sizeof(d));
	EXPECT_EQ((uint32_t)TDSM_RF_DATA, be32toh(rep.m.reply.flags))
		TH_LOG("a page we never got must come with its data: %s", d);
	pat_fill(want, 0x63);
	EXPECT_EQ(0, memcmp(r->data, want, PG))
		TH_LOG("the page is not node2's last write (first bytes %02x %02x)",
		       r->data[0], r->data[1]);
	/* Nothing is in doubt any more: node2's FETCH is a plain one. */
	ASSERT_EQ(0, node2_reads_ours(self, pn, TDSM_FETCH_KEEP, 0x64))
		TH_LOG("%s", self->why);
}

/*
 * A write grant in doubt whose requester does not come back: the rogue
 * takes the grant (its acknowledgements dropped, as above) and stays away.
 * The page is fenced: node2's read fails with SIGBUS within its bound (the
 * owner cannot be reached), never with node2's old frame, and never hangs. The
 * doubt stays pending until the module unloads at the end of the run,
 * which frees the frame it kept (the lab checks kmemleak and the unload).
 */
TEST_F_TIMEOUT(wire, write_grant_in_doubt_requester_gone, 200)
{
	struct access_ans a;
	struct tdsm_wire_msg m;
	struct rx_msg rep;
	struct rogue *r;
	uint64_t pg;

	START();
	pg = slice_addr(self, TARGET, PG_DOUBT_GONE);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();
	ASSERT_EQ(0, doubt_start(self, pg, 0x66, "egress", 0x11)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, rogue_bind(r, 0)) TH_LOG("%s", r->err);
	msg_page(&m, TDSM_W_WRITE, pg, (uintptr_t)r->data, r->mw_rkey, 0, 0);
	ASSERT_EQ(TDSM_WS_OK, call(self, r, &m, &rep)) TH_LOG("WRITE: %s", self->why);
	ASSERT_EQ(0, doubt_cut(self)) TH_LOG("%s", self->why);

	ASSERT_EQ(0, node2_access(self, "read", pg, 0, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("sigbus", a.what)
		TH_LOG("node2 read a page whose grant to us is in doubt while we are away (%.0f ms)",
		       a.ms);
	EXPECT_LT(a.ms, 2.0 * self->timeout_ms + 1000)
		TH_LOG("the read took %.0f ms (timeout_ms %u): a fenced page fails within its bound",
		       a.ms, self->timeout_ms);
}

/*
 * node2 wrote page @pa (pattern @seed); we take a read copy of it, so that
 * a WRITE of ours claiming that copy is an upgrade: the module, owner and
 * home, sends no data, and its own frame is the only other copy.
 */
static int upgrade_start(FIXTURE_DATA(wire) *self, uint64_t pa,
			 unsigned int seed)
{
	struct tdsm_wire_msg m;
	struct access_ans a;
	struct rx_msg rep;
	struct rogue *r = self->r;
	uint8_t want[PG];

	if (node2_access(self, "write", pa, seed, &a))
		return -1;
	if (strcmp(a.what, "ok")) {
		snprintf(self->why, sizeof(self->why), "node2's write: %s", a.what);
		return -1;
	}
	if (rogue_bind(r, 0)) {
		snprintf(self->why, sizeof(self->why), "%s", r->err);
		return -1;
	}
	msg_page(&m, TDSM_W_READ, pa, (uintptr_t)r->data, r->mw_rkey, 0, 0);
	if (call(self, r, &m, &rep) != TDSM_WS_OK)
		return -1;
	pat_fill(want, seed);
	if (memcmp(r->data, want, PG)) {
		snprintf(self->why, sizeof(self->why), "our READ did not get node2's page");
		return -1;
	}
	return rogue_bind(r, 0) ? -1 : 0;
}

/* Our WRITE of @pa from the read copy we hold, sent without waiting. */
static int upgrade_send(struct rogue *r, uint64_t pa)
{
	struct tdsm_wire_msg m;

	msg_page(&m, TDSM_W_WRITE, pa, (uintptr_t)r->data, r->mw_rkey, 0,
		 TDSM_ACCESS_F_COPY);
	m.hdr.id = htobe64(0x4545);
	return rogue_send(r, &m, sizeof(m));
}

/*
 * A write upgrade in doubt that never arrived: we hold a read copy of a
 * page node2 owns and homes, and write it claiming that copy, so the
 * module's grant carries no data; node1 drops the module's replies (tc,
 * ingress, SEND ONLY WITH INVALIDATE and SEND ONLY), so its send never
 * completes. We did not take the grant: node2's read (after the module
 * asks us for a live copy, which we do not have) must get node2's own
 * page back. The module used to drop its frame as soon as it served the
 * upgrade, leaving a page nobody held: node2's read got SIGBUS (ESTALE).
 */
TEST_F_TIMEOUT(wire, write_upgrade_in_doubt_not_taken, 200)
{
	static const uint8_t replies[] = { 0x17, 0x04 };
	struct access_ans a;
	struct rx_msg x;
	struct rogue *r;
	uint64_t pu;
	char d[400];
	int got, fetches = 0;

	START();
	pu = slice_addr(self, TARGET, PG_UPGRADE_DOUBT);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();
	ASSERT_EQ(0, upgrade_start(self, pu, 0x67)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, tc_drop_roce("ingress", 2, replies)) TH_LOG("tc failed");
	self->tc = true;
	ASSERT_EQ(0, upgrade_send(r, pu)) TH_LOG("%s", r->err);
	got = rogue_recv(r, &x, 2000);
	if (got > 0) {
		fmt_msg(&x, d, sizeof(d));
		EXPECT_GE(0, got) TH_LOG("a reply got through the filter: %s", d);
	}
	ASSERT_EQ(0, doubt_reconnect(self)) TH_LOG("%s", self->why);
	r = self->r;

	/* The module asks us for a live copy: we have none. */
	ASSERT_EQ(0, rpc_send(self, "read %#" PRIx64, pu)) TH_LOG("%s", self->why);
	while (expect_request(self, r, TDSM_W_FETCH, &x,
			      fetches ? 2000 : REPLY_MS) == 0) {
		fmt_msg(&x, d, sizeof(d));
		TH_LOG("node2 asks us: %s", d);
		if (!fetches)
			EXPECT_EQ(TDSM_FETCH_KEEP | TDSM_FETCH_F_LIVE, x.m.page.mode)
				TH_LOG("the first FETCH must ask for a live copy: %s", d);
		ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_STALE, 0, -1, false))
			TH_LOG("%s", r->err);
		ASSERT_GT(3, ++fetches) TH_LOG("node2 keeps asking us for the page");
	}
	ASSERT_LT(0, fetches) TH_LOG("%s", self->why);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what)
		TH_LOG("node2 lost its page to an upgrade we never took: %s", d);
	EXPECT_EQ(pat_hash(0x67), a.hash) TH_LOG("node2 read other bytes: %s", d);
	EXPECT_EQ(1, fetches) TH_LOG("node2 asked us again after our STALE");
}

/*
 * A write upgrade whose grant never goes out: node2 writes its page while
 * we hold a read copy, and we never answer its INVAL, so the page stays
 * busy at its home; meanwhile we send a WRITE claiming our copy and then
 * close the connection. node2's write fails (its INVAL died with the
 * connection), and our WRITE is served on a connection that is gone: its
 * reply is not sent, and the home rolls it back. Our copy went with the
 * connection, so the home's own frame is the page: node2 must read its
 * first write back. The module used to drop that frame when it served
 * the upgrade, before the reply, and node2's read got SIGBUS (ESTALE).
 */
TEST_F_TIMEOUT(wire, write_upgrade_reply_not_sent, 200)
{
	struct access_ans a;
	struct rx_msg x;
	struct rogue *r;
	uint64_t pu;
	char d[400];

	START();
	pu = slice_addr(self, TARGET, PG_UPGRADE_NOT_SENT);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();
	ASSERT_EQ(0, upgrade_start(self, pu, 0x68)) TH_LOG("%s", self->why);

	ASSERT_EQ(0, rpc_send(self, "write %#" PRIx64 " %u", pu, 0x69))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_INVAL, &x, REPLY_MS))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, upgrade_send(r, pu)) TH_LOG("%s", r->err);
	usleep(300 * 1000);
	rogue_close(self->r);
	self->r = NULL;

	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("sigbus", a.what)
		TH_LOG("node2's write went through without our ack: %s", d);
	ASSERT_EQ(0, node2_access(self, "read", pu, 0, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what)
		TH_LOG("node2 lost its page to an upgrade whose reply was not sent (%.0f ms)",
		       a.ms);
	EXPECT_EQ(pat_hash(0x68), a.hash)
		TH_LOG("node2 read other bytes than its last completed write");
}

/*
 * Send @m, which names a buffer of ours that does not exist: the module's
 * RDMA WRITE to it fails and the connection dies. Close our end and wait
 * until node2 no longer has node 1 up.
 */
static void send_bad_rkey(struct __test_metadata *_metadata,
			  FIXTURE_DATA(wire) *self, const struct tdsm_wire_msg *m)
{
	struct peer_st p;

	ASSERT_EQ(0, rogue_send(self->r, m, sizeof(*m))) TH_LOG("%s", self->r->err);
	ASSERT_EQ(0, rogue_wait_disconnect(self->r, DISCONNECT_MS))
		TH_LOG("still connected %d ms after a bad rkey", DISCONNECT_MS);
	rogue_close(self->r);
	self->r = NULL;
	ASSERT_EQ(0, peer_wait_not_up(self, &p)) TH_LOG("%s", self->why);
}

/*
 * READ with a buffer that does not exist: the home's RDMA WRITE fails and
 * the connection dies, so the page never reached node 1. The home's
 * directory must not keep node 1 as a reader (PROTOCOL.md: for a write
 * served from the home's frame, a failed delivery restores the entry):
 * node2 then writes its own page without asking anyone.
 */
TEST_F_TIMEOUT(wire, failed_push_leaves_no_reader, 200)
{
	struct tdsm_wire_msg m;
	struct access_ans a;
	struct pinfo pi;
	struct rx_msg x;
	uint64_t pf;
	char d[400];
	int got;

	START();
	pf = slice_addr(self, TARGET, PG_FAILED_PUSH);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	msg_page(&m, TDSM_W_READ, pf, 0x10000, 0x00abcd01, 0, 0);
	m.hdr.id = htobe64(0x4343);
	send_bad_rkey(_metadata, self, &m);

	ASSERT_EQ(0, node2_info(self, pf, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TC_NODE(TARGET), pi.copyset)
		TH_LOG("node2's directory lists node 1 (copyset %#x) though the "
		       "page never reached it", pi.copyset);
	ASSERT_EQ(0, node2_access(self, "write", pf, 0x52, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what)
		TH_LOG("node2 cannot write its own page while node 1 is away "
		       "(%s after %.0f ms)", a.what, a.ms);

	/* Leave the page usable: node 1 comes back and acks any INVAL. */
	if (strcmp(a.what, "ok")) {
		ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
		ASSERT_EQ(0, rpc_send(self, "write %#" PRIx64 " %u", pf, 0x53))
			TH_LOG("%s", self->why);
		got = rogue_recv(self->r, &x, 3000);
		if (got > 0 && !module_msg_error(&x, TDSM_W_INVAL))
			rogue_reply(self->r, &x.m, TDSM_WS_OK, 0, -1, false);
		ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
		TH_LOG("once node 1 is back and acks: node2's write: %s", d);
	}
}

/*
 * A MIGRATE whose reply does not land: we, the target, pull a page node2
 * homes and has written, naming a buffer that does not exist, so the
 * module's RDMA WRITE of the page fails and the connection dies. The
 * module let the page go before it replied (a target may write the page
 * as soon as the reply lands, before the old home hears so); it must take
 * it back: node2 is its home and owner again, with its frame, and reads
 * and writes its page.
 */
TEST_F_TIMEOUT(wire, migrate_reply_not_landed_taken_back, 200)
{
	struct tdsm_wire_msg m;
	struct access_ans a;
	struct pinfo pi;
	uint64_t pm;
	double end;

	START();
	pm = slice_addr(self, TARGET, PG_MIGRATE_LOST);
	ASSERT_EQ(0, node2_access(self, "write", pm, 0x55, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	msg_init(&m, TDSM_W_MIGRATE);
	m.batch.addr = htobe64(pm);
	m.batch.iova = htobe64(0x10000);
	m.batch.rkey = htobe32(0x00abcd02);
	m.batch.npages = 1;
	m.hdr.id = htobe64(0x4444);
	send_bad_rkey(_metadata, self, &m);

	/* The send failed just now: the page comes back right after. */
	end = now_ms() + 2000;
	for (;;) {
		ASSERT_EQ(0, node2_info(self, pm, &pi)) TH_LOG("%s", self->why);
		if (pi.home == TARGET || now_ms() > end)
			break;
		usleep(20000);
	}
	EXPECT_EQ(TARGET, pi.home) TH_LOG("node2 names node %u the home of a page "
					  "whose MIGRATE reply never landed", pi.home);
	EXPECT_EQ(TARGET, pi.owner);
	EXPECT_EQ(TC_NODE(TARGET), pi.copyset);
	EXPECT_EQ(TINYDSM_PAGE_SHARED, pi.state);
	EXPECT_TRUE(pi.flags & TINYDSM_PAGE_F_PRESENT) TH_LOG("flags %#x", pi.flags);
	ASSERT_EQ(0, node2_access(self, "read", pm, 0, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2 reading its page back (%.0f ms)", a.ms);
	EXPECT_EQ(pat_hash(0x55), a.hash) TH_LOG("node2 read other bytes than its write");
	ASSERT_EQ(0, node2_access(self, "write", pm, 0x56, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2 writing its page again (%.0f ms)", a.ms);
}

/* A batch request with bad (or good) content, and the status it must get. */
struct batch_case {
	const char *name;
	uint8_t type;
	uint64_t addr;
	uint8_t npages;
	uint64_t mask;
	int want;
	bool buffer;		/* name a buffer (that does not exist) */
};

/*
 * Send each of the @n batches of @b and check its status; a MIGRATE or
 * READV refused or answered must have served and moved nothing.
 */
static void run_batch_cases(struct __test_metadata *_metadata,
			    FIXTURE_DATA(wire) *self, const struct batch_case *b,
			    size_t n)
{
	struct tdsm_wire_msg m;
	struct rx_msg rep;
	char d[400];
	size_t i;
	long st;

	for (i = 0; i < n; i++) {
		msg_batch(&m, b[i].type, b[i].addr, b[i].npages, b[i].mask);
		if (b[i].buffer) {
			m.batch.iova = htobe64(0x10000);
			m.batch.rkey = htobe32(0x1234);
		}
		st = call(self, self->r, &m, &rep);
		ASSERT_LE(0, st) TH_LOG("%s: %s", b[i].name, self->why);
		fmt_msg(&rep, d, sizeof(d));
		EXPECT_EQ(b[i].want, st)
			TH_LOG("%s: want %s, got %s: %s", b[i].name,
			       st_name(b[i].want), st_name(st), d);
		if (b[i].type != TDSM_W_MIGRATE && b[i].type != TDSM_W_READV)
			continue;
		EXPECT_EQ(0u, be64toh(rep.m.breply.done)) TH_LOG("%s: %s", b[i].name, d);
		EXPECT_EQ(0u, be64toh(rep.m.breply.data)) TH_LOG("%s: %s", b[i].name, d);
		EXPECT_EQ(0u, be32toh(rep.m.breply.holders)) TH_LOG("%s: %s", b[i].name, d);
	}
}

/*
 * PLACE (wire.h): only the node whose slice the batch is may ask, and the
 * batch carries nothing but its range. Asked right, node2 pulls the batch
 * from the asker with a MIGRATE of its own and answers once that ended:
 * here we hand nothing over, so the page stays ours and PLACE is OK.
 */
TEST_F_TIMEOUT(wire, place_checked_by_node, 150)
{
	struct tdsm_wire_msg m;
	struct rx_msg x, rep;
	uint64_t ours, group_end;
	struct pinfo pi;
	char d[400];

	START();	/* the slices' size is known from here on */
	ours = slice_addr(self, ROGUE, 9);
	group_end = slice_addr(self, ROGUE, 64);
	const struct batch_case b[] = {
		{ "PLACE of node2's own pages", TDSM_W_PLACE, slice_addr(self, TARGET, 9), 1, 0, TDSM_WS_PERM, false },
		{ "PLACE of node3's pages", TDSM_W_PLACE, slice_addr(self, 3, 0), 1, 0, TDSM_WS_PERM, false },
		{ "PLACE with a mask", TDSM_W_PLACE, ours, 1, 1, TDSM_WS_INVAL, false },
		{ "PLACE with a buffer", TDSM_W_PLACE, ours, 1, 0, TDSM_WS_INVAL, true },
		{ "PLACE of 0 pages", TDSM_W_PLACE, ours, 0, 0, TDSM_WS_INVAL, false },
		{ "PLACE across two groups", TDSM_W_PLACE, group_end - PG, 2, 0, TDSM_WS_INVAL, false },
		{ "PLACE below the region", TDSM_W_PLACE, TINYDSM_REGION_BASE - PG, 1, 0, TDSM_WS_RANGE, false },
	};

	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	run_batch_cases(_metadata, self, b, sizeof(b) / sizeof(b[0]));

	msg_batch(&m, TDSM_W_PLACE, ours, 1, 0);
	m.hdr.id = htobe64(0x5151);
	ASSERT_EQ(0, rogue_send(self->r, &m, sizeof(m))) TH_LOG("%s", self->r->err);
	ASSERT_EQ(0, expect_request(self, self->r, TDSM_W_MIGRATE, &x, REPLY_MS))
		TH_LOG("%s", self->why);
	EXPECT_EQ(ours, be64toh(x.m.batch.addr));
	EXPECT_EQ(1, x.m.batch.npages);
	ASSERT_EQ(0, rogue_breply(self->r, &x.m, TDSM_WS_OK, 0, 0, 0, false))
		TH_LOG("%s", self->r->err);
	ASSERT_LT(0, rogue_recv(self->r, &rep, REPLY_MS)) TH_LOG("%s", self->r->err);
	fmt_msg(&rep, d, sizeof(d));
	ASSERT_EQ(TDSM_W_REPLY, rep.m.hdr.type) TH_LOG("%s", d);
	EXPECT_EQ(0x5151u, be64toh(rep.m.hdr.id)) TH_LOG("%s", d);
	EXPECT_EQ(TDSM_WS_OK, be32toh(rep.m.reply.status)) TH_LOG("%s", d);
	ASSERT_EQ(0, node2_info(self, ours, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(ROGUE, pi.home) TH_LOG("node2 calls itself the home of a page "
					 "it was not handed");
}

/* node1: node2 allocates a run of @npages of its own slice: its address. */
static int node2_alloc(FIXTURE_DATA(wire) *self, unsigned int npages,
		       uint64_t *run)
{
	char ans[256];
	int rc;

	if (rpc(self, ans, sizeof(ans), "alloc %u", npages))
		return -1;
	if (sscanf(ans, "%d %" SCNx64, &rc, run) != 2 || rc) {
		snprintf(self->why, sizeof(self->why), "node2's ALLOC: '%s'", ans);
		return -1;
	}
	return 0;
}

/* node1: the answer to a "place" sent before: its errno, moved, ms. */
static int node2_place_wait(FIXTURE_DATA(wire) *self, int *err,
			    unsigned int *moved, double *ms)
{
	char d[256];

	if (rpc_wait(self, d, sizeof(d), RPC_S))
		return -1;
	if (sscanf(d, "place %d %u %lf", err, moved, ms) != 3) {
		snprintf(self->why, sizeof(self->why), "node2 answered '%s'", d);
		return -1;
	}
	return 0;
}

/* node1: node2 reads the @npages pages at @run: their first seeds @seed.. */
static void node2_check_pages(struct __test_metadata *_metadata,
			      FIXTURE_DATA(wire) *self, uint64_t run,
			      unsigned int npages, unsigned int seed)
{
	struct access_ans a;
	unsigned int i;

	for (i = 0; i < npages; i++) {
		ASSERT_EQ(0, node2_access(self, "read", run + i * PG, 0, &a))
			TH_LOG("%s", self->why);
		EXPECT_STREQ("ok", a.what) TH_LOG("page %u", i);
		EXPECT_EQ(pat_hash(seed + i), a.hash)
			TH_LOG("node2's page %u holds other bytes than it wrote", i);
	}
}

/*
 * PLACE that is never answered: node2 asks us to pull 2 pages of a run
 * of its own, and we say nothing. Its ioctl ends with ETIMEDOUT once
 * the call's bound (3 x timeout_ms) passed, having killed the
 * connection; nothing moved, node2 still homes and holds its pages with
 * its bytes, and its FREE of the run succeeds.
 */
TEST_F_TIMEOUT(wire, place_unanswered, 150)
{
	unsigned int moved, i;
	struct rx_msg x;
	struct pinfo pi;
	struct access_ans a;
	char ans[256];
	uint64_t run;
	double ms;
	int err;

	START();
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, node2_alloc(self, 2, &run)) TH_LOG("%s", self->why);
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, node2_access(self, "write", run + i * PG, 0x61 + i, &a))
			TH_LOG("%s", self->why);
		ASSERT_STREQ("ok", a.what);
	}
	ASSERT_EQ(0, rpc_send(self, "place %#" PRIx64 " 2 %u", run, ROGUE))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, self->r, TDSM_W_PLACE, &x, REPLY_MS))
		TH_LOG("%s", self->why);
	EXPECT_EQ(run, be64toh(x.m.batch.addr));
	EXPECT_EQ(2, x.m.batch.npages);
	ASSERT_EQ(0, node2_place_wait(self, &err, &moved, &ms)) TH_LOG("%s", self->why);
	TH_LOG("node2's PLACE: %s after %.0f ms, %u moved", strerror(err), ms, moved);
	EXPECT_EQ(ETIMEDOUT, err);
	EXPECT_EQ(0u, moved);
	/* Its bound, and the connection's drain after it (timeout_ms). */
	EXPECT_LE(3.0 * self->timeout_ms - 100, ms);
	EXPECT_GE(4.0 * self->timeout_ms + 2000, ms);
	ASSERT_EQ(0, rogue_wait_disconnect(self->r, DISCONNECT_MS))
		TH_LOG("node2 kept the connection of a PLACE never answered");
	rogue_close(self->r);
	self->r = NULL;

	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, node2_info(self, run + i * PG, &pi)) TH_LOG("%s", self->why);
		EXPECT_EQ(TARGET, pi.home) TH_LOG("page %u", i);
		EXPECT_EQ(TARGET, pi.owner) TH_LOG("page %u", i);
	}
	node2_check_pages(_metadata, self, run, 2, 0x61);
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "free %#" PRIx64 " 2", run))
		TH_LOG("%s", self->why);
	EXPECT_STREQ("0", ans) TH_LOG("node2's FREE of the run it failed to place");
}

/*
 * PLACE pulled, then never answered: we pull node2's batch with a MIGRATE
 * of our own, as a target does, then never answer its PLACE. Its ioctl
 * ends with ETIMEDOUT, and moved says the 2 pages are ours now. Its FREE
 * of the run must bring them back (rule P1: a PLACE marks what went
 * away whatever its outcome) with a MIGRATE we answer with their bytes,
 * and free the run; not answer EXDEV, as for pages an administrator moved.
 */
TEST_F_TIMEOUT(wire, place_pulled_unanswered, 150)
{
	static uint8_t saved[PG];
	struct rx_msg x, rep;
	struct access_ans a;
	unsigned int moved;
	struct pinfo pi;
	struct rogue *r;
	char d[400];
	uint64_t run;
	double ms;
	long st;
	int err;

	START();
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();
	ASSERT_EQ(0, node2_alloc(self, 1, &run)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, node2_access(self, "write", run, 0x71, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what);
	ASSERT_EQ(0, rpc_send(self, "place %#" PRIx64 " 1 %u", run, ROGUE))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_PLACE, &x, REPLY_MS))
		TH_LOG("%s", self->why);

	/* Pull the batch, as a target does; keep the PLACE unanswered. */
	st = rogue_migrate_page(self, r, run, &rep);
	ASSERT_LE(0, st) TH_LOG("our MIGRATE was not answered: %s", self->why);
	fmt_msg(&rep, d, sizeof(d));
	ASSERT_EQ(TDSM_WS_OK, st) TH_LOG("MIGRATE: %s", d);
	ASSERT_EQ(1u, be64toh(rep.m.breply.done)) TH_LOG("%s", d);
	ASSERT_EQ(1u, be64toh(rep.m.breply.data)) TH_LOG("%s", d);
	ASSERT_EQ(pat_hash(0x71), fnv(r->data, PG))
		TH_LOG("the page came with other bytes than node2's");
	memcpy(saved, r->data, sizeof(saved));

	ASSERT_EQ(0, node2_place_wait(self, &err, &moved, &ms)) TH_LOG("%s", self->why);
	TH_LOG("node2's PLACE: %s after %.0f ms, %u moved", strerror(err), ms, moved);
	EXPECT_EQ(ETIMEDOUT, err);
	EXPECT_EQ(1u, moved);
	ASSERT_EQ(0, rogue_wait_disconnect(r, DISCONNECT_MS))
		TH_LOG("node2 kept the connection of a PLACE never answered");
	rogue_close(r);
	self->r = NULL;
	ASSERT_EQ(0, node2_info(self, run, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(ROGUE, pi.home) TH_LOG("node2 forgot that we pulled its page");

	/* Back, with the bytes: node2's FREE pulls the page, then frees. */
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	memcpy(r->data, saved, sizeof(saved));
	ASSERT_EQ(0, rpc_send(self, "free %#" PRIx64 " 1", run)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_MIGRATE, &x, REPLY_MS))
		TH_LOG("node2's FREE did not ask for its placed pages back: %s",
		       self->why);
	fmt_msg(&x, d, sizeof(d));
	EXPECT_EQ(run, be64toh(x.m.batch.addr)) TH_LOG("%s", d);
	EXPECT_EQ(1, x.m.batch.npages) TH_LOG("%s", d);
	ASSERT_EQ(0, rogue_breply(r, &x.m, TDSM_WS_OK, 1, 1, 1, true))
		TH_LOG("%s", r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	EXPECT_STREQ("0", d) TH_LOG("node2's FREE of its placed run");
}

/*
 * An EVICTV of the rogue's pages from @addr, @mask dropped and @wmask to
 * write back (node2 answers a write-back with a FETCHV first, which this
 * does not serve): its status, *@done.
 */
static long evictv(FIXTURE_DATA(wire) *self, struct rogue *r, uint64_t addr,
		   uint8_t npages, uint64_t mask, uint64_t wmask, uint64_t *done)
{
	struct tdsm_wire_msg m;
	struct rx_msg rep;
	long st;

	msg_init(&m, TDSM_W_EVICTV);
	m.batch.addr = htobe64(addr);
	m.batch.npages = npages;
	m.batch.mask = htobe64(mask);
	m.batch.wmask = htobe64(wmask);
	st = call(self, r, &m, &rep);
	*done = st < 0 ? 0 : be64toh(rep.m.breply.done);
	return st;
}

/*
 * The rogue reads a page homed on node2 and tells it, with an EVICTV
 * notice, that it dropped the copy: node2 takes it out of the copyset
 * (PAGE_INFO), and its next write sends the rogue no INVAL. A notice for
 * a page the rogue owns changes nothing (rule E1: an owner's frame is the
 * page). Malformed notices are refused: a mask beyond npages, an empty
 * one, a page in both masks, a wmask beyond npages, a batch crossing an
 * aligned group of 64 pages, a buffer, outside the region. A notice for
 * a group node2 never touched (no metadata there: it knows of no copy
 * and no owner) is answered OK, nothing taken out, and makes no chunk
 * ("Metadata lifetime", M6); so is a write-back of it, every page
 * released (E3).
 */
TEST_F_TIMEOUT(wire, evictv_notice, 200)
{
	uint64_t pa, pb, pu, group, end, done, c0, c1;
	struct tdsm_wire_msg m;
	struct access_ans a;
	struct rx_msg rep, x;
	struct pinfo pi;
	struct rogue *r;
	char d[400];

	START();
	pa = slice_addr(self, TARGET, PG_EVICTV);
	pb = pa + PG;
	group = TINYDSM_REGION_BASE +
		((pa - TINYDSM_REGION_BASE) / PG / 64 * 64) * PG;
	end = TINYDSM_REGION_BASE + self->npages * PG;
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();
	ASSERT_EQ(0, node2_access(self, "write", pa, 0x21, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what);

	/* A whole untouched group: OK, none taken out, no chunk made. */
	pu = slice_addr(self, TARGET, PG_EVICTV_UNTOUCHED / 64 * 64);
	ASSERT_EQ(0, node2_chunks(self, &c0)) TH_LOG("%s", self->why);
	ASSERT_EQ(TDSM_WS_OK, evictv(self, r, pu, 64, ~0ull, 0, &done))
		TH_LOG("a notice for an untouched group: %s", self->why);
	EXPECT_EQ(0u, done);
	/*
	 * A write-back of it: no directory entry names the rogue owner, so
	 * nothing is taken (no FETCHV) and every page is released (E3).
	 */
	msg_init(&m, TDSM_W_EVICTV);
	m.batch.addr = htobe64(pu);
	m.batch.npages = 64;
	m.batch.wmask = htobe64(~0ull);
	ASSERT_EQ(TDSM_WS_OK, call(self, r, &m, &rep))
		TH_LOG("a write-back of an untouched group: %s", self->why);
	EXPECT_EQ(0u, be64toh(rep.m.breply.done));
	EXPECT_EQ(~0ull, be64toh(rep.m.breply.data))
		TH_LOG("the release of pages node2 names nobody owner of");
	ASSERT_EQ(0, node2_chunks(self, &c1)) TH_LOG("%s", self->why);
	/* The chunk worker may free others meanwhile, never add one. */
	EXPECT_GE(c0, c1) TH_LOG("node2 made metadata for an EVICTV: %" PRIu64
				 " chunks, then %" PRIu64, c0, c1);
	ASSERT_EQ(0, node2_info(self, pu, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TARGET, pi.home);
	EXPECT_EQ(0u, pi.owner);
	EXPECT_EQ(0u, pi.copyset);

	/* A read copy, then its notice: the copyset loses the rogue. */
	ASSERT_EQ(TDSM_WS_OK, rogue_read(self, r, pa, &rep))
		TH_LOG("READ: %s", self->why);
	ASSERT_EQ(0, node2_info(self, pa, &pi)) TH_LOG("%s", self->why);
	ASSERT_EQ(TC_NODE(ROGUE) | TC_NODE(TARGET), pi.copyset);
	ASSERT_EQ(TDSM_WS_OK, evictv(self, r, pa, 1, 1, 0, &done)) TH_LOG("%s", self->why);
	EXPECT_EQ(1u, done);
	ASSERT_EQ(0, node2_info(self, pa, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TC_NODE(TARGET), pi.copyset) TH_LOG("the notice was not applied");
	EXPECT_EQ(TARGET, pi.owner);
	/* node2 writes: nobody else is listed, so no INVAL comes to us. */
	ASSERT_EQ(0, node2_access(self, "write", pa, 0x22, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what);
	EXPECT_EQ(0, expect_quiet(self, r, QUIET_MS)) TH_LOG("%s", self->why);

	/* A page the rogue owns: the notice is ignored, the rogue stays owner. */
	ASSERT_EQ(0, rogue_bind(r, 1)) TH_LOG("%s", r->err);
	msg_page(&m, TDSM_W_WRITE, pb, (uintptr_t)(r->data + PG), r->mw_rkey, 0, 0);
	ASSERT_EQ(TDSM_WS_OK, call(self, r, &m, &rep)) TH_LOG("WRITE: %s", self->why);
	ASSERT_EQ(TDSM_WS_OK, evictv(self, r, pb, 1, 1, 0, &done)) TH_LOG("%s", self->why);
	EXPECT_EQ(0u, done);
	ASSERT_EQ(0, node2_info(self, pb, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(ROGUE, pi.owner);
	EXPECT_EQ(TC_NODE(ROGUE), pi.copyset);

	/* Malformed notices. */
	EXPECT_EQ(TDSM_WS_INVAL, evictv(self, r, pa, 1, 3, 0, &done))
		TH_LOG("a mask beyond npages: %s", self->why);
	EXPECT_EQ(TDSM_WS_INVAL, evictv(self, r, pa, 1, 0, 0, &done))
		TH_LOG("an empty mask: %s", self->why);
	EXPECT_EQ(TDSM_WS_INVAL, evictv(self, r, pa, 2, 2, 2, &done))
		TH_LOG("a page both dropped and written back: %s", self->why);
	EXPECT_EQ(TDSM_WS_INVAL, evictv(self, r, pa, 1, 1, 2, &done))
		TH_LOG("a wmask beyond npages: %s", self->why);
	EXPECT_EQ(TDSM_WS_INVAL, evictv(self, r, group + 60 * PG, 8, 0xff, 0, &done))
		TH_LOG("a batch crossing 64 pages: %s", self->why);
	EXPECT_EQ(TDSM_WS_RANGE, evictv(self, r, end, 1, 1, 0, &done))
		TH_LOG("a batch outside the region: %s", self->why);
	msg_init(&m, TDSM_W_EVICTV);
	m.batch.addr = htobe64(pa);
	m.batch.npages = 1;
	m.batch.mask = htobe64(1);
	m.batch.iova = htobe64(0x10000);
	EXPECT_EQ(TDSM_WS_INVAL, call(self, r, &m, &rep))
		TH_LOG("a notice naming a buffer: %s", self->why);
	ASSERT_EQ(0, node2_info(self, pb, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(ROGUE, pi.owner);
	EXPECT_EQ(0, expect_quiet(self, r, QUIET_MS)) TH_LOG("%s", self->why);

	/* node2 takes page B back from its owner, the rogue: FETCH DROP. */
	ASSERT_EQ(0, rpc_send(self, "write %#" PRIx64 " %u", pb, 0x23))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_FETCH, &x, REPLY_MS))
		TH_LOG("node2 writing a page the rogue owns: %s", self->why);
	pat_fill(r->data + 2 * PG, 0x24);
	ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_OK, TDSM_RF_DATA, 2, true))
		TH_LOG("%s", r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2's write of page B: %s", d);
}

/*
 * Rule E1, the connection check: a notice handled after its connection
 * died is ignored. The rogue holds a read copy and leaves node2's INVAL
 * unanswered, so node2's write holds the page's directory lock; the rogue
 * sends its notice (whose handler now waits for that lock) and hangs up.
 * node2's write fails at once (its INVAL's connection is gone) and lets
 * the lock go, and the handler finds the connection dead: the copyset
 * must still name the rogue, whose next copy (over a new connection) a
 * write must invalidate. If node2's write took longer than half
 * timeout_ms, the handler may have given up on the lock instead (or, if
 * node2 was slow, not have started before the hang-up), and the test
 * cannot tell (it says so, and passes).
 */
TEST_F_TIMEOUT(wire, evictv_notice_on_dead_connection_ignored, 200)
{
	struct tdsm_wire_msg m;
	struct rx_msg rep, x;
	struct access_ans a;
	struct peer_st ps;
	struct pinfo pi;
	struct rogue *r;
	uint64_t pe;
	char d[400];

	START();
	pe = slice_addr(self, TARGET, PG_EVICTV_DEAD);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();
	ASSERT_EQ(0, node2_access(self, "write", pe, 0x31, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what);
	ASSERT_EQ(TDSM_WS_OK, rogue_read(self, r, pe, &rep))
		TH_LOG("READ: %s", self->why);

	/* node2 writes; its INVAL waits for us, holding the page's DIR. */
	ASSERT_EQ(0, rpc_send(self, "write %#" PRIx64 " %u", pe, 0x32))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_INVAL, &x, REPLY_MS))
		TH_LOG("%s", self->why);
	msg_init(&m, TDSM_W_EVICTV);
	m.hdr.id = htobe64(0x5151);
	m.batch.addr = htobe64(pe);
	m.batch.npages = 1;
	m.batch.mask = htobe64(1);
	ASSERT_EQ(0, rogue_send(r, &m, sizeof(m))) TH_LOG("%s", r->err);
	usleep(200 * 1000);	/* the notice is in node2's handler, waiting */
	rogue_close(self->r);
	self->r = NULL;
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	TH_LOG("node2's write ended (%s) after %.0f ms, timeout_ms %u", a.what,
	       a.ms, self->timeout_ms);
	if (a.ms >= self->timeout_ms / 2.0 - 300)
		TH_LOG("the notice's handler may have timed out on the lock: not a proof");
	ASSERT_EQ(0, node2_info(self, pe, &pi)) TH_LOG("%s", self->why);
	EXPECT_TRUE(pi.copyset & TC_NODE(ROGUE))
		TH_LOG("a notice that came on a dead connection was applied (copyset %#x)",
		       pi.copyset);

	/* Back, with a copy again: node2's write must invalidate it. */
	ASSERT_EQ(0, peer_wait_not_up(self, &ps)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();
	ASSERT_EQ(TDSM_WS_OK, rogue_read(self, r, pe, &rep))
		TH_LOG("READ: %s", self->why);
	ASSERT_EQ(0, rpc_send(self, "write %#" PRIx64 " %u", pe, 0x33))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_INVAL, &x, REPLY_MS))
		TH_LOG("node2's write did not invalidate our copy: %s", self->why);
	ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_OK, 0, -1, false)) TH_LOG("%s", r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2's write after our ack: %s", d);
}

/*
 * node2 does @verb ("read", or "write" with @seed) at @addr, and its
 * module asks us with a request of @type, which we answer OK with our data
 * page @page: 0 and node2's access in *@a, or -1 (self->why says why).
 */
static int node2_served(FIXTURE_DATA(wire) *self, struct rogue *r,
			const char *verb, uint64_t addr, unsigned int seed,
			uint8_t type, int page, struct access_ans *a)
{
	struct rx_msg x;
	char d[400];

	if (rpc_send(self, "%s %#" PRIx64 " %u", verb, addr, seed) ||
	    expect_request(self, r, type, &x, REPLY_MS))
		return -1;
	if (rogue_reply(r, &x.m, TDSM_WS_OK, TDSM_RF_DATA, page, true)) {
		snprintf(self->why, sizeof(self->why), "%s", r->err);
		return -1;
	}
	if (rpc_wait(self, d, sizeof(d), RPC_S))
		return -1;
	return parse_access(self, d, a);
}

/*
 * The rogue writes page @addr, homed on node2 (it owns it now, with the
 * bytes of @seed in data page 0), and asks node2 to take it back: an
 * EVICTV with the page in its wmask, sent with id @id and not waited for.
 * node2's FETCHV for it is in *@x, checked: our page, a buffer, an epoch
 * newer than our grant's.
 */
static int writeback_start(FIXTURE_DATA(wire) *self, struct rogue *r,
			   uint64_t addr, unsigned int seed, uint64_t id,
			   struct rx_msg *x)
{
	struct tdsm_wire_msg m;
	struct rx_msg rep;
	uint32_t grant;
	char d[400];

	if (rogue_bind(r, 0)) {
		snprintf(self->why, sizeof(self->why), "%s", r->err);
		return -1;
	}
	msg_page(&m, TDSM_W_WRITE, addr, (uintptr_t)r->data, r->mw_rkey, 0, 0);
	if (call(self, r, &m, &rep) != TDSM_WS_OK)
		return -1;
	grant = (uint32_t)be64toh(rep.m.reply.addr);
	pat_fill(r->data, seed);	/* our write: data page 0 is the page */
	msg_init(&m, TDSM_W_EVICTV);
	m.hdr.id = htobe64(id);
	m.batch.addr = htobe64(addr);
	m.batch.npages = 1;
	m.batch.wmask = htobe64(1);
	if (rogue_send(r, &m, sizeof(m))) {
		snprintf(self->why, sizeof(self->why), "%s", r->err);
		return -1;
	}
	if (expect_request(self, r, TDSM_W_FETCHV, x, REPLY_MS))
		return -1;
	fmt_msg(x, d, sizeof(d));
	if (be64toh(x->m.batch.addr) != addr || x->m.batch.npages != 1 ||
	    be64toh(x->m.batch.mask) != 1 || x->m.batch.wmask ||
	    x->m.batch.dst || !x->m.batch.rkey ||
	    !epoch_after(be32toh(x->m.batch.epoch), grant)) {
		snprintf(self->why, sizeof(self->why),
			 "a FETCHV that is not of our page, or not newer than our grant (epoch %u): %s",
			 grant, d);
		return -1;
	}
	return 0;
}

/*
 * The write-back (rules E2-E4): the rogue owns a page homed on node2 and
 * evicts it with wmask. node2 fetches it with a FETCHV on the same
 * connection (a batch with a buffer, the page in its mask, an epoch newer
 * than the rogue's grant), which the rogue serves; then node2 answers the
 * EVICTV: done and released. node2 is now the page's owner, alone in the
 * copyset, with a read-only copy holding the rogue's data.
 */
TEST_F_TIMEOUT(wire, evictv_writeback, 200)
{
	struct access_ans a;
	struct rx_msg x, rep;
	struct pinfo pi;
	struct rogue *r;
	const char *why;
	char d[400];
	uint64_t pw;

	START();
	pw = slice_addr(self, TARGET, PG_WRITEBACK);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();
	ASSERT_EQ(0, node2_access(self, "write", pw, 0x40, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what);
	ASSERT_EQ(0, writeback_start(self, r, pw, 0x41, 0x6161, &x))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, node2_info(self, pw, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(ROGUE, pi.owner) TH_LOG("node2 changed the owner before the page came");
	ASSERT_EQ(0, rogue_breply(r, &x.m, TDSM_WS_OK, 1, 1, 1, true)) TH_LOG("%s", r->err);

	/* Then the EVICTV's reply: written back (done) and released (data). */
	ASSERT_EQ(1, rogue_recv(r, &rep, REPLY_MS)) TH_LOG("no EVICTV reply: %s", r->err);
	fmt_msg(&rep, d, sizeof(d));
	why = module_msg_error(&rep, TDSM_W_REPLY);
	ASSERT_EQ(NULL, why) TH_LOG("%s: %s", why, d);
	ASSERT_EQ(0x6161u, be64toh(rep.m.hdr.id)) TH_LOG("%s", d);
	EXPECT_EQ((uint32_t)TDSM_WS_OK, be32toh(rep.m.breply.status)) TH_LOG("%s", d);
	EXPECT_EQ(1u, be64toh(rep.m.breply.done)) TH_LOG("not written back: %s", d);
	EXPECT_EQ(1u, be64toh(rep.m.breply.data)) TH_LOG("not released: %s", d);

	ASSERT_EQ(0, node2_info(self, pw, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TARGET, pi.owner);
	EXPECT_EQ(TC_NODE(TARGET), pi.copyset);
	EXPECT_EQ(TINYDSM_PAGE_SHARED, pi.state);
	EXPECT_TRUE(pi.flags & TINYDSM_PAGE_F_PRESENT) TH_LOG("flags %#x", pi.flags);
	/* node2 reads the rogue's data, and asks nobody for it. */
	ASSERT_EQ(0, node2_access(self, "read", pw, 0, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what);
	EXPECT_EQ(pat_hash(0x41), a.hash) TH_LOG("node2 installed other bytes than the rogue's");
	EXPECT_EQ(0, expect_quiet(self, r, QUIET_MS)) TH_LOG("%s", self->why);
}

/*
 * A write-back whose FETCHV is not answered (rule E2): the rogue hangs up
 * instead. node2's FETCHV fails with the connection, and its directory
 * still names the rogue the owner: the rogue's frame is the page. Back
 * over a new connection, the rogue serves node2's read from it (FETCH),
 * and then acks the INVAL of node2's write (node2 has the data since).
 */
TEST_F_TIMEOUT(wire, evictv_writeback_fetchv_unanswered, 200)
{
	struct access_ans a;
	char d[400];
	struct peer_st ps;
	struct rx_msg x;
	struct pinfo pi;
	struct rogue *r;
	uint64_t pd;

	START();
	pd = slice_addr(self, TARGET, PG_WRITEBACK_DEAD);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();
	ASSERT_EQ(0, node2_access(self, "write", pd, 0x50, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what);
	ASSERT_EQ(0, writeback_start(self, r, pd, 0x51, 0x6262, &x))
		TH_LOG("%s", self->why);
	rogue_close(self->r);
	self->r = NULL;
	ASSERT_EQ(0, peer_wait_not_up(self, &ps)) TH_LOG("%s", self->why);
	usleep(200 * 1000);	/* the EVICTV's handler ends */
	ASSERT_EQ(0, node2_info(self, pd, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(ROGUE, pi.owner) TH_LOG("a write-back that never got the page changed the owner");
	EXPECT_EQ(TC_NODE(ROGUE), pi.copyset);

	/* Back: node2's read comes to us, the owner (FETCH). */
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();
	pat_fill(r->data + 2 * PG, 0x51);	/* our frame, as we kept it */
	ASSERT_EQ(0, node2_served(self, r, "read", pd, 0, TDSM_W_FETCH, 2, &a))
		TH_LOG("node2 reading a page the rogue still owns: %s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2's read");
	EXPECT_EQ(pat_hash(0x51), a.hash) TH_LOG("node2 read other bytes than the rogue's");

	/*
	 * node2 takes the page back: its read left it a current copy, so it
	 * only INVALidates ours (we ack), and no later test finds it ours.
	 */
	ASSERT_EQ(0, rpc_send(self, "write %#" PRIx64 " %u", pd, 0x52))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_INVAL, &x, REPLY_MS))
		TH_LOG("node2 writing a page the rogue owns and it has read: %s",
		       self->why);
	ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_OK, 0, -1, false)) TH_LOG("%s", r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2's write: %s", d);
	ASSERT_EQ(0, node2_info(self, pd, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TARGET, pi.owner);
}

/*
 * The write-back's buffer dies with the FETCHV's reply (kmod/PROTOCOL.md,
 * "Registered buffers"): node2 installs the frame we wrote as its own
 * copy, so a write into the batch buffer after our reply must not land,
 * whether the reply invalidated the rkey (SEND_WITH_INV) or node2 had to
 * (LOCAL_INV) before it used the frame. node2's EVICTV reply comes after
 * it put the buffer, so our late write follows it. The refused write
 * breaks the connection: node2 drops it; the page it took back keeps our
 * reply's bytes (it is node2's own now, so the read stays local).
 */
TEST_F_TIMEOUT(wire, evictv_writeback_late_write_into_dead_buffer, 200)
{
	struct access_ans a;
	struct rx_msg x, rep;
	struct peer_st ps;
	struct rogue *r;
	int pass, st;
	uint64_t pw;
	char d[400];

	START();
	for (pass = 0; pass < 2; pass++) {
		bool inv = pass == 0;
		unsigned int seed = 0x71 + 2 * pass;

		pw = slice_addr(self, TARGET, PG_WRITEBACK_LATE + pass);
		ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
		r = self->r;
		NEED_MW();
		ASSERT_EQ(0, node2_access(self, "write", pw, seed - 1, &a))
			TH_LOG("%s", self->why);
		ASSERT_STREQ("ok", a.what);
		ASSERT_EQ(0, writeback_start(self, r, pw, seed, 0x6363 + pass, &x))
			TH_LOG("%s", self->why);
		ASSERT_EQ(0, rogue_breply(r, &x.m, TDSM_WS_OK, 1, 1, 1, inv))
			TH_LOG("%s", r->err);
		ASSERT_EQ(1, rogue_recv(r, &rep, REPLY_MS))
			TH_LOG("no EVICTV reply: %s", r->err);
		fmt_msg(&rep, d, sizeof(d));
		ASSERT_EQ(0x6363u + pass, be64toh(rep.m.hdr.id)) TH_LOG("%s", d);
		EXPECT_EQ(1u, be64toh(rep.m.breply.done)) TH_LOG("not written back: %s", d);

		st = late_write_to(r, be64toh(x.m.batch.iova),
				   be32toh(x.m.batch.rkey), 0x7f);
		late_write_refused(_metadata, st, inv, "FETCHV batch buffer");
		ASSERT_EQ(0, node2_access(self, "read", pw, 0, &a)) TH_LOG("%s", self->why);
		EXPECT_STREQ("ok", a.what);
		EXPECT_EQ(pat_hash(seed), a.hash)
			TH_LOG("node2's page changed after it was written back");
		/* We keep our end open: node2 must drop its broken QP itself. */
		EXPECT_EQ(0, peer_wait_not_up(self, &ps))
			TH_LOG("%s (its QP failed when it refused our write)", self->why);
		rogue_close(self->r);
		self->r = NULL;
		ASSERT_EQ(0, peer_wait_not_up(self, &ps)) TH_LOG("%s", self->why);
	}
}

/* A FETCHV from us, node2's home of @addr: one page into data page 0. */
static long fetchv(FIXTURE_DATA(wire) *self, struct rogue *r, uint64_t addr,
		   uint64_t mask, uint8_t dst, uint32_t epoch, struct rx_msg *rep)
{
	struct tdsm_wire_msg m;

	if (rogue_bind(r, 0)) {
		snprintf(self->why, sizeof(self->why), "%s", r->err);
		return -1;
	}
	msg_batch(&m, TDSM_W_FETCHV, addr, 1, mask);
	m.batch.iova = htobe64((uintptr_t)r->data);
	m.batch.rkey = htobe32(r->mw_rkey);
	m.batch.dst = dst;
	m.batch.epoch = htobe32(epoch);
	return call(self, r, &m, rep);
}

/*
 * A FETCH from us, node2's home of @addr, into our data page 0 (zeroed
 * first), with @mode; @grant_epoch goes with it (TDSM_FETCH_F_LIVE is in
 * @mode then). Its status, the reply in *@rep; or -1 (self->why).
 */
static long rogue_fetch(FIXTURE_DATA(wire) *self, struct rogue *r,
			uint64_t addr, uint8_t mode, uint32_t grant_epoch,
			struct rx_msg *rep)
{
	struct tdsm_wire_msg m;

	if (rogue_bind(r, 0)) {
		snprintf(self->why, sizeof(self->why), "%s", r->err);
		return -1;
	}
	memset(r->data, 0, PG);
	msg_page(&m, TDSM_W_FETCH, addr, (uintptr_t)r->data, r->mw_rkey, ROGUE,
		 mode);
	m.page.grant_epoch = htobe32(grant_epoch);
	return call(self, r, &m, rep);
}

/*
 * The owner's side of a grant in doubt whose settlement was lost: node2
 * writes a page we home (0x91: our grant, epoch G), and we, with G in
 * doubt, FETCH it DROP for a frame G installed (TDSM_FETCH_F_LIVE,
 * grant_epoch G): node2 serves it and gives it up, retained. Say that
 * answer was lost (node2 does the same after a landed answer as after a
 * lost one, so no fault is needed): our next FETCH for a frame G
 * installed must get that retained frame, node2's write, since it is the
 * page; one naming another grant gets STALE. node2's next READ claims
 * the frame (page.epoch G), and our reply without data makes it readable
 * again. The module used to refuse every retained frame to a live FETCH:
 * the home concluded "not taken", went back to the owner before G and
 * lost node2's write.
 */
TEST_F_TIMEOUT(wire, live_fetch_serves_retained_grant, 200)
{
	static const struct {
		const char *name;
		int32_t delta;		/* grant_epoch, relative to G */
	} other[] = {
		{ "the grant before", -1 },
		{ "a later grant", 1 },
	};
	struct rx_msg rep, x;
	struct access_ans a;
	struct pinfo pi;
	uint8_t want[PG];
	struct rogue *r;
	uint32_t grant;
	uint64_t q;
	char d[400];
	int i;

	START();
	q = slice_addr(self, ROGUE, PG_LIVE_RETAINED);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();

	/*
	 * node2 writes the page: its WRITE comes to us, and we grant it, past
	 * our first transaction, so that the grant has one before it (0 is
	 * no epoch: a FETCH naming it is malformed, not STALE).
	 */
	rogue_txn++;
	ASSERT_EQ(0, node2_served(self, r, "write", q, 0x91, TDSM_W_WRITE, 2, &a))
		TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what) TH_LOG("node2's write");
	grant = rogue_txn;	/* the grant's epoch, rogue_reply()'s */
	pat_fill(want, 0x91);

	/* G in doubt, our next transaction: FETCH DROP, for a frame G installed. */
	ASSERT_EQ(TDSM_WS_OK, rogue_fetch(self, r, q, TDSM_FETCH_DROP |
					  TDSM_FETCH_F_LIVE, grant, &rep))
		TH_LOG("FETCH DROP, live: %s", self->why);
	EXPECT_EQ(0, memcmp(r->data, want, PG)) TH_LOG("FETCH DROP: not node2's bytes");
	ASSERT_EQ(0, node2_info(self, q, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state) TH_LOG("node2 did not give the page up");
	EXPECT_EQ(TARGET, pi.owner) TH_LOG("node2 dropped the frame it gave up");

	/* That answer lost: a FETCH for a frame of another grant is STALE. */
	for (i = 0; i < (int)(sizeof(other) / sizeof(other[0])); i++) {
		const char *name = other[i].name;
		long st = rogue_fetch(self, r, q,
				      TDSM_FETCH_KEEP | TDSM_FETCH_F_LIVE,
				      grant + (uint32_t)other[i].delta, &rep);

		EXPECT_EQ(TDSM_WS_STALE, st)
			TH_LOG("a FETCH for a frame of %s: %s", name, self->why);
	}

	/* For a frame G installed: the retained one, node2's write. */
	ASSERT_EQ(TDSM_WS_OK, rogue_fetch(self, r, q, TDSM_FETCH_KEEP |
					  TDSM_FETCH_F_LIVE, grant, &rep))
		TH_LOG("node2 refused the frame the grant in doubt installed: %s",
		       self->why);
	fmt_msg(&rep, d, sizeof(d));
	EXPECT_EQ((uint32_t)TDSM_RF_DATA, be32toh(rep.m.reply.flags)) TH_LOG("%s", d);
	EXPECT_EQ(0, memcmp(r->data, want, PG)) TH_LOG("FETCH: not the retained bytes");
	ASSERT_EQ(0, node2_info(self, q, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state) TH_LOG("serving it made it a copy again");

	/* node2 reads: its READ claims the frame, our reply revalidates it. */
	ASSERT_EQ(0, node2_read_request(self, r, q, &x)) TH_LOG("%s", self->why);
	fmt_msg(&x, d, sizeof(d));
	EXPECT_EQ(grant, be32toh(x.m.page.epoch))
		TH_LOG("node2's READ does not claim its frame retained at %u: %s",
		       grant, d);
	ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_OK, 0, -1, false)) TH_LOG("%s", r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2's read of its revalidated frame: %s", d);
	EXPECT_EQ(pat_hash(0x91), a.hash) TH_LOG("node2 read other bytes: %s", d);
	ASSERT_EQ(0, node2_info(self, q, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TINYDSM_PAGE_SHARED, pi.state);
	EXPECT_EQ(0, expect_quiet(self, r, QUIET_MS)) TH_LOG("%s", self->why);
}

/*
 * The owner's side of a write-back (rule E2): node2 owns a page we, the
 * rogue, are the home of (its write), and we ask for it with a FETCHV. A
 * FETCHV not newer than node2's grant is not served (done 0) and leaves
 * the page writable; malformed ones (an empty mask, a dst) are refused.
 * A newer one gets the page written into our buffer, done = data = 1, and
 * node2 gives the page up but keeps the frame, retained (INVALID, still
 * its owner): a FETCH from us then gets the same bytes from it. A
 * FETCHV of a group node2 never touched is answered OK with nothing sent
 * and makes no chunk ("Metadata lifetime", M6).
 */
TEST_F_TIMEOUT(wire, fetchv_served_by_owner, 200)
{
	struct tdsm_wire_msg m;
	struct rx_msg rep;
	struct access_ans a;
	struct pinfo pi;
	uint8_t want[PG];
	struct rogue *r;
	uint64_t q, u, c0, c1;
	uint32_t grant;
	char d[400];

	START();
	q = slice_addr(self, ROGUE, PG_FETCHV);
	u = slice_addr(self, ROGUE, PG_FETCHV_UNTOUCHED / 64 * 64);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();

	/* node2 writes the page: its WRITE comes to us, and we grant it. */
	ASSERT_EQ(0, node2_served(self, r, "write", q, 0x71, TDSM_W_WRITE, 2, &a))
		TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what) TH_LOG("node2's write");
	grant = rogue_txn;	/* the grant's epoch, rogue_reply()'s */
	ASSERT_EQ(0, node2_info(self, q, &pi)) TH_LOG("%s", self->why);
	ASSERT_EQ(TINYDSM_PAGE_EXCLUSIVE, pi.state);

	/* Malformed: an empty mask, a dst. */
	EXPECT_EQ(TDSM_WS_INVAL, fetchv(self, r, q, 0, 0, grant + 1, &rep))
		TH_LOG("an empty mask: %s", self->why);
	EXPECT_EQ(TDSM_WS_INVAL, fetchv(self, r, q, 1, ROGUE, grant + 1, &rep))
		TH_LOG("a dst: %s", self->why);
	/* Not newer than node2's copy: not served, the page stays. */
	ASSERT_EQ(TDSM_WS_OK, fetchv(self, r, q, 1, 0, grant, &rep))
		TH_LOG("%s", self->why);
	EXPECT_EQ(0u, be64toh(rep.m.breply.done)) TH_LOG("a stale FETCHV was served");
	EXPECT_EQ(0u, be64toh(rep.m.breply.data));
	ASSERT_EQ(0, node2_info(self, q, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TINYDSM_PAGE_EXCLUSIVE, pi.state);

	/* Newer: served, and given up, retained. */
	memset(r->data, 0, PG);
	rogue_txn = grant + 1;
	ASSERT_EQ(TDSM_WS_OK, fetchv(self, r, q, 1, 0, grant + 1, &rep))
		TH_LOG("%s", self->why);
	fmt_msg(&rep, d, sizeof(d));
	EXPECT_EQ(1u, be64toh(rep.m.breply.done)) TH_LOG("%s", d);
	EXPECT_EQ(1u, be64toh(rep.m.breply.data)) TH_LOG("%s", d);
	pat_fill(want, 0x71);
	EXPECT_EQ(0, memcmp(r->data, want, PG)) TH_LOG("FETCHV: not node2's bytes");
	ASSERT_EQ(0, node2_info(self, q, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TINYDSM_PAGE_INVALID, pi.state) TH_LOG("node2 still maps the page");
	EXPECT_EQ(TARGET, pi.owner) TH_LOG("node2 dropped the frame it gave up");

	/* The retained frame is the page until we say otherwise: FETCH it. */
	ASSERT_EQ(0, rogue_bind(r, 0)) TH_LOG("%s", r->err);
	memset(r->data, 0, PG);
	msg_page(&m, TDSM_W_FETCH, q, (uintptr_t)r->data, r->mw_rkey, ROGUE,
		 TDSM_FETCH_DROP);
	ASSERT_EQ(TDSM_WS_OK, call(self, r, &m, &rep)) TH_LOG("FETCH: %s", self->why);
	EXPECT_EQ(0, memcmp(r->data, want, PG)) TH_LOG("FETCH: not the retained bytes");

	/* A group node2 never touched: nothing to send, no chunk made (M6). */
	ASSERT_EQ(0, node2_chunks(self, &c0)) TH_LOG("%s", self->why);
	ASSERT_EQ(TDSM_WS_OK, fetchv(self, r, u, 1, 0, grant + 2, &rep))
		TH_LOG("a FETCHV of an untouched group: %s", self->why);
	EXPECT_EQ(0u, be64toh(rep.m.breply.done));
	EXPECT_EQ(0u, be64toh(rep.m.breply.data));
	ASSERT_EQ(0, node2_chunks(self, &c1)) TH_LOG("%s", self->why);
	/* The chunk worker may free others meanwhile, never add one. */
	EXPECT_GE(c0, c1) TH_LOG("node2 made metadata for a FETCHV: %" PRIu64
				 " chunks, then %" PRIu64, c0, c1);
	EXPECT_EQ(0, expect_quiet(self, r, QUIET_MS)) TH_LOG("%s", self->why);
}

/*
 * The home answers NOMEM to node2's READ. That is a shortage of memory, not
 * a lost page: node2's fault ends in VM_FAULT_OOM, which the core retries,
 * so the access asks again instead of raising SIGBUS. The home then has
 * memory, serves the page, and node2's read gets its bytes.
 */
TEST_F_TIMEOUT(wire, remote_nomem_is_retried, 200)
{
	struct tdsm_wire_msg m;
	struct access_ans a;
	struct rx_msg rep, x;
	struct rogue *r;
	uint64_t q;
	char d[400];

	START();
	q = slice_addr(self, ROGUE, PG_NOMEM);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	NEED_MW();

	ASSERT_EQ(0, node2_read_request(self, r, q, &x))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_NOMEM, 0, -1, false))
		TH_LOG("%s", r->err);
	if (expect_request(self, r, TDSM_W_READ, &x, REPLY_MS)) {
		/* Not asked again: see how node2's access ended. */
		TH_LOG("after NOMEM: %s", self->why);
		ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
		ASSERT_TRUE(false)
			TH_LOG("node2's read after a NOMEM reply was not retried: %s", d);
	}
	fmt_msg(&x, d, sizeof(d));
	EXPECT_EQ(q, be64toh(x.m.page.addr)) TH_LOG("%s", d);
	pat_fill(r->data + 2 * PG, 0x61);
	ASSERT_EQ(0, rogue_reply(r, &x.m, TDSM_WS_OK, TDSM_RF_DATA, 2, true))
		TH_LOG("%s", r->err);
	ASSERT_EQ(0, rpc_wait(self, d, sizeof(d), RPC_S)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, parse_access(self, d, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what) TH_LOG("node2's read after NOMEM, then the page: %s", d);
	EXPECT_EQ(pat_hash(0x61), a.hash) TH_LOG("node2 read the wrong bytes: %s", d);

	/* As its home we take node2's copy back: the page is as it was. */
	msg_page(&m, TDSM_W_INVAL, q, 0, 0, 0, 0);
	EXPECT_EQ(TDSM_WS_OK, call(self, r, &m, &rep)) TH_LOG("INVAL: %s", self->why);
	EXPECT_EQ(0, expect_quiet(self, r, QUIET_MS)) TH_LOG("%s", self->why);
}

/* node2's answer to a "migrate" command (node2_migrate()). */
struct migrate_ans {
	int error, replied;
	unsigned int moved, skipped, data;
};

/* Wait for node2's answer to the "migrate" sent: 0, or -1 (self->why). */
static int node2_migrate_wait(FIXTURE_DATA(wire) *self, struct migrate_ans *m)
{
	char d[512];

	if (rpc_wait(self, d, sizeof(d), RPC_S))
		return -1;
	if (sscanf(d, "migrate %d %d %u %u %u", &m->error, &m->replied,
		   &m->moved, &m->skipped, &m->data) != 5) {
		snprintf(self->why, sizeof(self->why), "node2 answered '%s'", d);
		return -1;
	}
	snprintf(self->why, sizeof(self->why), "node2's MIGRATE: %s", d);
	return 0;
}

/*
 * node2 pulls 2 batches homed on "node 1" (MIGRATE from the rogue). The
 * rogue hands over MIGRATE_MOVED pages of the first batch (the others, never
 * touched, are skipped), then fails the second with UNREACH. The migration
 * stops with EHOSTUNREACH, and its answer still says what moved: the pages
 * now homed on node2, with the rogue's bytes.
 */
TEST_F_TIMEOUT(wire, migrate_stopped_reports_moved, 200)
{
	uint64_t done = (1ull << MIGRATE_MOVED) - 1, base;
	struct migrate_ans ma;
	struct access_ans a;
	struct pinfo pi;
	struct rx_msg x;
	struct rogue *r;
	unsigned int i;
	char d[512];

	START();
	base = slice_addr(self, ROGUE, PG_MIGRATE);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;

	ASSERT_EQ(0, rpc_send(self, "migrate %#" PRIx64 " %u %u", base,
			      2 * TDSM_WIRE_BATCH, ROGUE)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, expect_request(self, r, TDSM_W_MIGRATE, &x, REPLY_MS))
		TH_LOG("%s", self->why);
	fmt_msg(&x, d, sizeof(d));
	ASSERT_EQ(base, be64toh(x.m.batch.addr)) TH_LOG("%s", d);
	ASSERT_EQ(TDSM_WIRE_BATCH, x.m.batch.npages) TH_LOG("%s", d);
	for (i = 0; i < MIGRATE_MOVED; i++)
		pat_fill(r->data + (size_t)i * PG, 0x70 + i);
	ASSERT_EQ(0, rogue_breply(r, &x.m, TDSM_WS_OK, done, done, MIGRATE_MOVED,
				  true)) TH_LOG("%s", r->err);

	ASSERT_EQ(0, expect_request(self, r, TDSM_W_MIGRATE, &x, REPLY_MS))
		TH_LOG("%s", self->why);
	fmt_msg(&x, d, sizeof(d));
	ASSERT_EQ(base + TDSM_WIRE_BATCH * PG, be64toh(x.m.batch.addr)) TH_LOG("%s", d);
	ASSERT_EQ(0, rogue_breply(r, &x.m, TDSM_WS_UNREACH, 0, 0, 0, false))
		TH_LOG("%s", r->err);

	ASSERT_EQ(0, node2_migrate_wait(self, &ma)) TH_LOG("%s", self->why);
	TH_LOG("%s", self->why);
	EXPECT_EQ(-EHOSTUNREACH, ma.error);
	EXPECT_TRUE(ma.replied) TH_LOG("no MIGRATE reply came with the error: "
				       "the caller cannot know what moved");
	EXPECT_EQ(MIGRATE_MOVED, ma.moved);
	EXPECT_EQ(TDSM_WIRE_BATCH - MIGRATE_MOVED, ma.skipped);
	EXPECT_EQ(MIGRATE_MOVED, ma.data);

	/* What moved is node2's now, with the rogue's bytes; the rest is not. */
	for (i = 0; i < MIGRATE_MOVED; i++) {
		ASSERT_EQ(0, node2_info(self, base + i * PG, &pi)) TH_LOG("%s", self->why);
		EXPECT_EQ(TARGET, pi.home) TH_LOG("page %u", i);
		EXPECT_EQ(TINYDSM_PAGE_EXCLUSIVE, pi.state) TH_LOG("page %u", i);
		ASSERT_EQ(0, node2_access(self, "read", base + i * PG, 0, &a))
			TH_LOG("%s", self->why);
		EXPECT_STREQ("ok", a.what);
		EXPECT_EQ(pat_hash(0x70 + i), a.hash) TH_LOG("page %u", i);
	}
	ASSERT_EQ(0, node2_info(self, base + MIGRATE_MOVED * PG, &pi))
		TH_LOG("%s", self->why);
	EXPECT_EQ(ROGUE, pi.home);
	ASSERT_EQ(0, node2_info(self, base + TDSM_WIRE_BATCH * PG, &pi))
		TH_LOG("%s", self->why);
	EXPECT_EQ(ROGUE, pi.home);
	EXPECT_EQ(0, expect_quiet(self, r, QUIET_MS)) TH_LOG("%s", self->why);
}

/* ------------------------------------------------ batches and groups */

/*
 * After @n batch requests that were each answered with one reply: nothing
 * else came (no INVAL, FETCH or request of node2's), the connection is up,
 * rx_bad did not move (a refused batch is a reply, not a dropped message)
 * and node2 counted @n received and @n sent since @before. 0, or -1 with
 * self->why.
 */
static int batches_answered(FIXTURE_DATA(wire) *self,
			    const struct peer_st *before, size_t n)
{
	struct peer_st after;

	if (expect_quiet(self, self->r, QUIET_MS) || peer_get(self, &after))
		return -1;
	if (strcmp(after.state, "up") || after.bad != before->bad ||
	    after.rx != before->rx + (long long)n ||
	    after.tx != before->tx + (long long)n) {
		snprintf(self->why, sizeof(self->why),
			 "after %zu batches: state %s, rx_bad %lld -> %lld, rx %lld -> %lld, tx %lld -> %lld",
			 n, after.state, before->bad, after.bad, before->rx,
			 after.rx, before->tx, after.tx);
		return -1;
	}
	return 0;
}

/*
 * wire.h, version 7: a batch (MIGRATE, READV, INVALV) lies inside one
 * group of TDSM_WIRE_BATCH pages; one across a group's edge is malformed
 * (INVAL) and does nothing, whatever its mask. node2 writes the last page
 * of a group of its own first: a MIGRATE across that edge must leave it
 * node2's, with node2's bytes. The same batches inside a group (of pages
 * homed on node 1, so nothing is served or moved) are answered OK. A
 * refusal is a reply, not a dropped message: the connection stays up,
 * rx_bad does not move, and node2's kernel logs no warning.
 */
TEST_F_TIMEOUT(wire, batch_across_groups_refused, 200)
{
	uint64_t edge1, edge2, pw;
	struct peer_st before;
	struct access_ans a;
	struct pinfo pi;
	char ans[512];
	size_t n;

	START();
	edge1 = batch_group_next(slice_addr(self, ROGUE, PG_BATCH_EDGE) - PG);
	edge2 = batch_group_next(slice_addr(self, TARGET, PG_BATCH_EDGE) - PG);
	pw = edge2 - PG;
	ASSERT_EQ(0, node2_access(self, "write", pw, 0x81, &a)) TH_LOG("%s", self->why);
	ASSERT_STREQ("ok", a.what);
	{
		const struct batch_case b[] = {
			{ "READV of 8 pages across an edge of node2's", TDSM_W_READV, edge2 - 4 * PG, 8, 0xff, TDSM_WS_INVAL, false },
			{ "READV of 2 pages across an edge, the first one asked for", TDSM_W_READV, pw, 2, 0x1, TDSM_WS_INVAL, false },
			{ "READV of 64 pages from page 1 of a group", TDSM_W_READV, edge2 + PG, 64, ~0ull, TDSM_WS_INVAL, false },
			{ "MIGRATE of 2 pages across an edge, the first written by node2", TDSM_W_MIGRATE, pw, 2, 0, TDSM_WS_INVAL, false },
			{ "MIGRATE of 64 pages from page 60 of a group", TDSM_W_MIGRATE, edge2 - 4 * PG, 64, 0, TDSM_WS_INVAL, false },
			{ "MIGRATE of 8 pages across an edge of node 1's", TDSM_W_MIGRATE, edge1 - 4 * PG, 8, 0, TDSM_WS_INVAL, false },
			{ "INVALV of 8 pages across an edge of node 1's", TDSM_W_INVALV, edge1 - 4 * PG, 8, 0xff, TDSM_WS_INVAL, false },
			{ "INVALV of 2 pages across an edge, the second one named", TDSM_W_INVALV, edge1 - PG, 2, 0x2, TDSM_WS_INVAL, false },
			/* Inside a group: answered (nothing of node 1's is node2's to serve or move). */
			{ "READV of the 4 pages up to an edge of node 1's", TDSM_W_READV, edge1 - 4 * PG, 4, 0xf, TDSM_WS_OK, false },
			{ "READV of a whole group of node 1's", TDSM_W_READV, edge1, 64, ~0ull, TDSM_WS_OK, false },
			{ "MIGRATE of a whole group of node 1's", TDSM_W_MIGRATE, edge1, 64, 0, TDSM_WS_OK, false },
			{ "MIGRATE of the 4 pages up to an edge of node 1's", TDSM_W_MIGRATE, edge1 - 4 * PG, 4, 0, TDSM_WS_OK, false },
			{ "INVALV of the 4 pages up to an edge of node 1's", TDSM_W_INVALV, edge1 - 4 * PG, 4, 0xf, TDSM_WS_OK, false },
		};

		n = sizeof(b) / sizeof(b[0]);
		ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
		ASSERT_EQ(0, peer_get(self, &before)) TH_LOG("%s", self->why);
		run_batch_cases(_metadata, self, b, n);
	}
	/* Nothing else came of them: no INVAL, FETCH or request of node2's. */
	EXPECT_EQ(0, batches_answered(self, &before, n)) TH_LOG("%s", self->why);

	/* The page the refused MIGRATEs named is node2's, as it was. */
	ASSERT_EQ(0, node2_info(self, pw, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TARGET, pi.home);
	EXPECT_EQ(TARGET, pi.owner);
	EXPECT_EQ(TC_NODE(TARGET), pi.copyset);
	EXPECT_TRUE(pi.flags & TINYDSM_PAGE_F_PRESENT) TH_LOG("flags %#x", pi.flags);
	ASSERT_EQ(0, node2_info(self, edge2, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(TARGET, pi.home) TH_LOG("the first page past the edge");
	ASSERT_EQ(0, node2_access(self, "read", pw, 0, &a)) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", a.what);
	EXPECT_EQ(pat_hash(0x81), a.hash) TH_LOG("node2 reads other bytes than it wrote");
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "dmesg")) TH_LOG("%s", self->why);
	EXPECT_EQ(0, strncmp(ans, "clean", 5)) TH_LOG("node2's kernel log: %s", ans);
}

/*
 * wire.h, struct tdsm_wire_batch: each batch type carries only its own
 * fields (a mask; EVICTV's wmask, disjoint from its mask; an epoch for
 * INVALV and FETCHV; INVALV's node; a buffer for MIGRATE, READV and
 * FETCHV), and a mask names pages of the batch and is not empty. A body
 * with a field its type does not carry, or a bad mask, is malformed:
 * answered INVAL, with nothing done. The pages are homed on "node 1" (the
 * rogue) and inside one group, so that the same batches without the bad
 * field would be answered (batch_across_groups_refused, evictv_notice,
 * fetchv_served_by_owner). Each refusal is a reply; the connection stays
 * up and node2's kernel logs nothing.
 */
TEST_F_TIMEOUT(wire, batch_fields_refused, 200)
{
	static const struct {
		const char *name;
		uint8_t type;
		uint64_t mask, wmask;
		uint32_t epoch, rkey;
		uint8_t dst;
	} b[] = {
		{ "READV with a wmask", TDSM_W_READV, 0x1, 0x2, 0, 0, 0 },
		{ "READV with an epoch", TDSM_W_READV, 0x1, 0, 7, 0, 0 },
		{ "READV with a node", TDSM_W_READV, 0x1, 0, 0, 0, 3 },
		{ "READV with no page", TDSM_W_READV, 0, 0, 0, 0, 0 },
		{ "READV of page 5 of a batch of 4", TDSM_W_READV, 0x20, 0, 0, 0, 0 },
		{ "MIGRATE with a mask", TDSM_W_MIGRATE, 0x1, 0, 0, 0, 0 },
		{ "MIGRATE with an epoch", TDSM_W_MIGRATE, 0, 0, 7, 0, 0 },
		{ "MIGRATE with a wmask", TDSM_W_MIGRATE, 0, 0x1, 0, 0, 0 },
		{ "INVALV with a buffer", TDSM_W_INVALV, 0x1, 0, 7, 0x1234, 0 },
		{ "INVALV naming its sender", TDSM_W_INVALV, 0x1, 0, 7, 0, ROGUE },
		{ "INVALV naming node2", TDSM_W_INVALV, 0x1, 0, 7, 0, TARGET },
		{ "INVALV naming node 65", TDSM_W_INVALV, 0x1, 0, 7, 0, TINYDSM_MAX_NODES },
		{ "FETCHV with a node", TDSM_W_FETCHV, 0x1, 0, 7, 0, 3 },
		{ "FETCHV with a wmask", TDSM_W_FETCHV, 0x1, 0x2, 7, 0, 0 },
		{ "EVICTV with a buffer", TDSM_W_EVICTV, 0x1, 0, 0, 0x1234, 0 },
		{ "EVICTV with an epoch", TDSM_W_EVICTV, 0x1, 0, 7, 0, 0 },
		{ "EVICTV with a node", TDSM_W_EVICTV, 0x1, 0, 0, 0, 3 },
		{ "EVICTV with a page in both masks", TDSM_W_EVICTV, 0x3, 0x2, 0, 0, 0 },
		{ "EVICTV with both masks empty", TDSM_W_EVICTV, 0, 0, 0, 0, 0 },
		{ "EVICTV writing back page 5 of a batch of 4", TDSM_W_EVICTV, 0, 0x20, 0, 0, 0 },
	};
	const size_t n = sizeof(b) / sizeof(b[0]);
	struct peer_st before;
	struct tdsm_wire_msg m;
	struct rx_msg rep;
	char d[400], ans[512];
	uint64_t base;
	size_t i;
	long st;

	START();
	base = batch_group_next(slice_addr(self, ROGUE, PG_BATCH_EDGE) - PG);
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, peer_get(self, &before)) TH_LOG("%s", self->why);
	for (i = 0; i < n; i++) {
		msg_batch(&m, b[i].type, base, 4, b[i].mask);
		m.batch.wmask = htobe64(b[i].wmask);
		m.batch.epoch = htobe32(b[i].epoch);
		m.batch.rkey = htobe32(b[i].rkey);
		m.batch.dst = b[i].dst;
		st = call(self, self->r, &m, &rep);
		ASSERT_LE(0, st) TH_LOG("%s: %s", b[i].name, self->why);
		fmt_msg(&rep, d, sizeof(d));
		EXPECT_EQ(TDSM_WS_INVAL, st)
			TH_LOG("%s: got %s: %s", b[i].name, st_name(st), d);
	}
	EXPECT_EQ(0, batches_answered(self, &before, n)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "dmesg")) TH_LOG("%s", self->why);
	EXPECT_EQ(0, strncmp(ans, "clean", 5)) TH_LOG("node2's kernel log: %s", ans);
}

/*
 * node2 migrates 100 pages homed on "node 1" (the rogue) from page 60 of a
 * group: its MIGRATEs split the range at the groups' edges, 4 + 64 + 32
 * pages, each inside one group (module_msg_error() checks every batch the
 * module sends). The rogue moves nothing; node2 says so.
 */
TEST_F_TIMEOUT(wire, migrate_split_at_groups, 200)
{
	static const unsigned int want[] = { 4, TDSM_WIRE_BATCH, 32 };
	unsigned int i, off = 0;
	struct migrate_ans ma;
	uint64_t start;
	struct pinfo pi;
	struct rx_msg x;
	struct rogue *r;
	char d[512];

	START();
	start = batch_group_next(slice_addr(self, ROGUE, PG_SPLIT) - PG) + 60 * PG;
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;

	ASSERT_EQ(0, rpc_send(self, "migrate %#" PRIx64 " %u %u", start, 100, ROGUE))
		TH_LOG("%s", self->why);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ASSERT_EQ(0, expect_request(self, r, TDSM_W_MIGRATE, &x, REPLY_MS))
			TH_LOG("batch %u: %s", i + 1, self->why);
		fmt_msg(&x, d, sizeof(d));
		EXPECT_EQ(start + off * PG, be64toh(x.m.batch.addr)) TH_LOG("batch %u: %s", i + 1, d);
		EXPECT_EQ(want[i], x.m.batch.npages) TH_LOG("batch %u: %s", i + 1, d);
		EXPECT_EQ(0u, be64toh(x.m.batch.mask)) TH_LOG("batch %u: %s", i + 1, d);
		off += x.m.batch.npages;
		ASSERT_EQ(0, rogue_breply(r, &x.m, TDSM_WS_OK, 0, 0, 0, true))
			TH_LOG("%s", r->err);
	}
	ASSERT_EQ(0, node2_migrate_wait(self, &ma)) TH_LOG("%s", self->why);
	TH_LOG("%s", self->why);
	EXPECT_EQ(0, ma.error);
	EXPECT_EQ(0, ma.moved);
	EXPECT_EQ(100, ma.skipped);
	EXPECT_EQ(0, ma.data);
	EXPECT_EQ(0, expect_quiet(self, r, QUIET_MS)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, node2_info(self, start, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(ROGUE, pi.home);
	ASSERT_EQ(0, node2_info(self, start + 99 * PG, &pi)) TH_LOG("%s", self->why);
	EXPECT_EQ(ROGUE, pi.home);
}

TEST_F_TIMEOUT(wire, burst_of_requests, 200)
{
	enum { N = 200 };
	static bool seen[N];
	struct tdsm_wire_msg m;
	struct rx_msg x;
	struct rogue *r;
	unsigned int sent = 0, got = 0, bad = 0;
	double end;
	uint64_t id;
	char d[400];
	int k;

	START();
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	r = self->r;
	end = now_ms() + 90000;
	while (got < N && now_ms() < end) {
		while (sent < N && !r->tx_busy[r->tx_next % TX_SLOTS]) {
			msg_alloc(&m, TDSM_W_ALLOC, 0, 0);
			m.hdr.id = htobe64(0x10000 + sent);
			ASSERT_LE(0, rogue_post(r, &m, sizeof(m), 0, NULL))
				TH_LOG("%s", r->err);
			sent++;
		}
		k = rogue_recv(r, &x, 2000);
		ASSERT_LE(0, k) TH_LOG("after %u sent, %u replies: %s", sent, got, r->err);
		if (!k) {
			if (sent == N)
				break;
			continue;
		}
		id = be64toh(x.m.hdr.id) - 0x10000;
		if (module_msg_error(&x, TDSM_W_REPLY) || id >= N || seen[id] ||
		    be32toh(x.m.reply.status) != TDSM_WS_INVAL) {
			fmt_msg(&x, d, sizeof(d));
			if (bad++ < 3)
				TH_LOG("bad reply: %s", d);
		} else {
			seen[id] = true;
		}
		got++;
	}
	EXPECT_EQ((unsigned int)N, got) TH_LOG("%u replies to %u requests", got, sent);
	EXPECT_EQ(0u, bad);
}

TEST_F_TIMEOUT(wire, target_still_healthy, 120)
{
	struct tdsm_wire_msg m;
	struct peer_st p;
	char ans[512];

	START();
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "health")) TH_LOG("%s", self->why);
	EXPECT_STREQ("ok", ans) TH_LOG("node2's own check of its module");
	ASSERT_EQ(0, connect_ok(self, &self->r)) TH_LOG("%s", self->why);
	msg_alloc(&m, TDSM_W_ALLOC, 0, 0);
	EXPECT_EQ(TDSM_WS_INVAL, call(self, self->r, &m, NULL)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, peer_get(self, &p)) TH_LOG("%s", self->why);
	EXPECT_STREQ("up", p.state);
	TH_LOG("node2's counters for node 1: tx %lld rx %lld rx_bad %lld",
	       p.tx, p.rx, p.bad);
	rogue_close(self->r);
	self->r = NULL;
	ASSERT_EQ(0, rpc(self, ans, sizeof(ans), "dmesg")) TH_LOG("%s", self->why);
	EXPECT_EQ(0, strncmp(ans, "clean", 5)) TH_LOG("node2's kernel log: %s", ans);
}

TEST_HARNESS_MAIN
