// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm's control plane on 3 nodes: tinydsmd on every node, migrations
 * asked with `tinydsmctl migrate`, as an operator would.
 *
 *   trio_ctl_lazy, trio_ctl_eager   make demo's scenario b: node2 homes
 *       a run, node1 reads all of it, `tinydsmctl migrate --from node2 --to
 *       node3` (asked on node1, run by node3's daemon); then node1 reads
 *       every byte again: lazy takes one fault per page, eager none.
 *   trio_daemon_restart   node2's daemon is killed (SIGKILL) and started
 *       again: the directory (in the kernel) is intact, data and page
 *       states are unchanged, and a migration works afterwards.
 *   trio_target_dies_mid_migration   node3's daemon stops answering mid-way
 *       (SIGSTOP): the migration stops with a clear error, every byte still
 *       reads right; once it is back the same command resumes and completes.
 *   trio_mapper_dies_mid_migration   node1, which holds copies of every
 *       page, is cut off the network while node3 pulls the run: the daemons
 *       declare it dead and evict it, the migration completes, every byte
 *       is right; node1 has dropped its copies of the others' pages.
 *
 * run_cluster_tests.sh starts the daemons (daemon.sh) before this test.
 * Knobs: TDSM_CTL_PAGES (default 256), TDSM_KILL_PAGES (default 4096).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/tinydsm.h>

#include "kselftest_harness.h"
#include "tdd_ctl.h"
#include "tdsm_cluster.h"

#define TRIO		3
#define FAULT_SLACK	16
#define SOCK_PATH	"/run/tinydsm/tinydsmd.sock"

FIXTURE(dc) {
	struct tc_node n;
	struct tc_sync s;
	int ready;
	char setup_err[256];
	char ctl[PATH_MAX];
};

FIXTURE_SETUP(dc)
{
	const char *tree = getenv("TDSM_TREE");

	tc_sync_init(&self->s, "daemon_cluster", _metadata->name);
	snprintf(self->ctl, sizeof(self->ctl), "%s/build/tools/tinydsmctl",
		 tree ? tree : ".");
	TC_NODE_OPEN();
}

FIXTURE_TEARDOWN(dc)
{
	TC_MARK_FAILED();
	tc_node_close(&self->n);
}

#define START() do {							\
	TC_START(TRIO);							\
	ASSERT_EQ(0, access(SOCK_PATH, F_OK))				\
		TH_LOG("no tinydsmd socket %s: daemons not started", SOCK_PATH); \
} while (0)

#define BARRIER(step) TC_BARRIER(step, 3 * self->s.timeout_s)

static long minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/*
 * Run tinydsmctl with @args (a shell word list), its stdout in @out.
 * Returns its exit status, -1 if it could not run.
 */
static int ctl(FIXTURE_DATA(dc) *self, char *out, size_t len,
	       const char *fmt, ...)
{
	char cmd[PATH_MAX + 1024], args[768];
	size_t n = 0;
	va_list ap;
	FILE *f;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "%s %s 2>&1", self->ctl, args);
	f = popen(cmd, "r");
	if (!f)
		return -1;
	out[0] = '\0';
	while (n + 1 < len && fgets(out + n, len - n, f))
		n += strlen(out + n);
	st = pclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The number after "key": in @json, -1 if absent. */
static long long jnum(const char *json, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = strstr(json, k);
	return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}

/* Scenario (b) through tinydsmctl on node1, with @strategy. */
static void scenario_b(struct __test_metadata *_metadata,
		       FIXTURE_DATA(dc) *self, const char *strategy,
		       unsigned int round)
{
	unsigned int npages = tc_env_uint("TDSM_CTL_PAGES", 256);
	struct tc_node *n = &self->n;
	size_t len = (size_t)npages * n->psz;
	struct tinydsm_stats st0, st1;
	int eager = !strcmp(strategy, "eager");
	uint64_t addr;
	char out[4096];
	long f0, f1;
	int rc;

	addr = tc_shared_run(_metadata, &self->n, &self->s, 2, npages, round,
			     3 * self->s.timeout_s);
	if (n->id != 1) {
		BARRIER("migrated");
		return;
	}
	ASSERT_EQ(0, tc_check_mem(_metadata, addr, len, round, "node1 first read"));
	rc = ctl(self, out, sizeof(out),
		 "-j migrate --from node2 --to node3 --strategy %s --pages %#llx+%u",
		 strategy, (unsigned long long)addr, npages);
	TH_LOG("tinydsmctl migrate (%s): %s", strategy, out);
	ASSERT_EQ(0, rc);
	EXPECT_EQ(npages, jnum(out, "moved"));
	EXPECT_EQ((long long)len, jnum(out, "bytes"));
	EXPECT_NE(NULL, strstr(out, "\"node1\""));
	EXPECT_EQ(eager ? npages : 0, jnum(out, "repopulated"));
	EXPECT_EQ(eager ? npages : 0, jnum(out, "mapped"));

	ASSERT_EQ(0, tc_stats(n, &st0));
	f0 = minflt();
	EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, round, "node1 after the migration"));
	f1 = minflt();
	ASSERT_EQ(0, tc_stats(n, &st1));
	TH_LOG("%s: %ld minor faults, %llu remote faults reading %u pages",
	       strategy, f1 - f0,
	       (unsigned long long)(st1.remote_faults - st0.remote_faults), npages);
	if (eager) {
		EXPECT_LE(f1 - f0, FAULT_SLACK);
		EXPECT_EQ(0, st1.remote_faults - st0.remote_faults);
	} else {
		EXPECT_GE(f1 - f0, npages);
		EXPECT_LE(f1 - f0, npages + FAULT_SLACK);
		/* Each page fetched once: by its own fault, or read ahead. */
		EXPECT_EQ(npages, st1.remote_faults - st0.remote_faults +
				  st1.readahead_pages - st0.readahead_pages);
	}
	BARRIER("migrated");
}

TEST_F_TIMEOUT(dc, trio_ctl_lazy, 300)
{
	START();
	scenario_b(_metadata, self, "lazy", 1);
}

TEST_F_TIMEOUT(dc, trio_ctl_eager, 300)
{
	START();
	scenario_b(_metadata, self, "eager", 2);
}

/* Ask the daemon for its status: 0 when every member is alive. */
static int daemon_all_alive(char *buf, size_t len)
{
	if (tdd_ctl_request(SOCK_PATH, "status\n", buf, len, 0))
		return -1;
	return strstr(buf, "state=dead") || !strstr(buf, "ok ") ? -1 : 0;
}

/* Every peer's RDMA connection up, as `tinydsmctl -j node show` says. */
static int module_peers_up(FIXTURE_DATA(dc) *self)
{
	char out[4096];

	if (ctl(self, out, sizeof(out), "-j node show"))
		return -1;
	return strstr(out, "\"down\"") || strstr(out, "\"connecting\"") ? -1 : 0;
}

/* The daemons see everyone alive and the module is connected to everyone. */
static int wait_ready(FIXTURE_DATA(dc) *self, int secs)
{
	double deadline = tc_now() + secs;
	char buf[2048];

	char out[4096];

	while (tc_now() < deadline) {
		if (!daemon_all_alive(buf, sizeof(buf)) && !module_peers_up(self))
			return 0;
		usleep(200000);
	}
	/* Say what is missing. */
	ctl(self, out, sizeof(out), "node show");
	fprintf(stderr, "# not ready: daemon status:\n%s# module:\n%s", buf, out);
	return -1;
}

TEST_F_TIMEOUT(dc, trio_daemon_restart, 300)
{
	const unsigned int npages = 64;
	struct tc_node *n = &self->n;
	size_t len = (size_t)npages * n->psz;
	struct tinydsm_page_info before, after;
	uint64_t addr;
	char out[4096];

	START();
	addr = tc_shared_run(_metadata, &self->n, &self->s, 2, npages, 3,
			     3 * self->s.timeout_s);
	if (n->id == 1)
		ASSERT_EQ(0, tc_check_mem(_metadata, addr, len, 3, "node1 before"));
	BARRIER("read");
	if (n->id == 2) {
		const char *tree = getenv("TDSM_TREE");
		char cmd[1024];

		ASSERT_EQ(0, tc_page_info(n, (void *)(uintptr_t)addr, &before));
		/* Killed, not stopped: nothing of its own survives. */
		ASSERT_EQ(0, system("pkill -KILL -x tinydsmd; sleep 0.5; ! pgrep -x tinydsmd"));
		snprintf(cmd, sizeof(cmd),
			 "%s/build/daemon/tinydsmd -c /run/tinydsm/tinydsm.conf -v >>%s/tinydsmd.node2.restart.log 2>&1 &",
			 tree ? tree : ".", getenv("TDSM_OUT") ? getenv("TDSM_OUT") : "/tmp");
		ASSERT_EQ(0, system(cmd));
		ASSERT_EQ(0, wait_ready(self, 60)) TH_LOG("the restarted daemon is not ready");
		ASSERT_EQ(0, tc_page_info(n, (void *)(uintptr_t)addr, &after));
		/* The directory lives in the kernel: untouched. */
		EXPECT_EQ(before.owner, after.owner);
		EXPECT_EQ(before.copyset, after.copyset);
		EXPECT_EQ(TC_NODE(1) | TC_NODE(2), after.copyset);
		EXPECT_EQ(before.state, after.state);
	}
	BARRIER("restarted");
	if (n->id == 1) {
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 3, "node1 after the restart"));
		ASSERT_EQ(0, wait_ready(self, 60));
		EXPECT_EQ(0, ctl(self, out, sizeof(out),
				 "-j migrate --from node2 --to node3 --pages %#llx+%u",
				 (unsigned long long)addr, npages)) TH_LOG("%s", out);
		EXPECT_EQ(npages, jnum(out, "moved"));
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 3, "node1 after migrating"));
	}
	BARRIER("done");
}

/* Pages of the run whose home, as this node knows it, is not this node. */
static unsigned long not_homed_here(const struct tc_node *n, uint64_t addr,
				    unsigned int npages)
{
	struct tinydsm_page_info pi;
	unsigned long i, bad = 0;

	for (i = 0; i < npages; i++)
		if (tc_page_info(n, (void *)(uintptr_t)(addr + i * n->psz), &pi) ||
		    pi.home != n->id)
			bad++;
	return bad;
}

/*
 * Cut this node off the cluster network for @secs seconds, in the
 * background: every packet in and out of the link is dropped (tc clsact +
 * matchall drop), as if the node had died; the link itself stays up. (Not
 * `ip link set down`: rxe may then kill its device's GSI QP, and the node
 * could not connect again until the device is re-created; see
 * selftests/lab/rxe_revive.sh.)
 */
static int partition(unsigned int secs)
{
	const char *dev = getenv("TDSM_LINK_DEV");
	char cmd[512];

	if (!dev)
		dev = "eth0";
	/* The lab's guests do not autoload modules: load what tc needs. */
	snprintf(cmd, sizeof(cmd),
		 "modprobe -a sch_ingress cls_matchall act_gact && "
		 "tc qdisc add dev %s clsact && "
		 "tc filter add dev %s ingress matchall action drop && "
		 "tc filter add dev %s egress matchall action drop",
		 dev, dev, dev);
	if (system(cmd))
		return -1;
	snprintf(cmd, sizeof(cmd),
		 "(sleep %u; tc qdisc del dev %s clsact) >/dev/null 2>&1 &", secs, dev);
	return system(cmd);
}

/*
 * The target's daemon stops answering mid-way (SIGSTOP: to the others it is
 * dead): the coordinator stops the migration with a clear error; the batches
 * done stay moved, the rest stay at node2, every byte reads right; once the
 * daemon is back (SIGCONT) the same command resumes and completes it.
 */
TEST_F_TIMEOUT(dc, trio_target_dies_mid_migration, 400)
{
	unsigned int npages = tc_env_uint("TDSM_KILL_PAGES", 4096);
	struct tc_node *n = &self->n;
	size_t len = (size_t)npages * n->psz;
	uint64_t addr;
	char out[4096];
	int rc;

	START();
	addr = tc_shared_run(_metadata, &self->n, &self->s, 2, npages, 5,
			     3 * self->s.timeout_s);
	BARRIER("filled");
	if (n->id == 3) {
		usleep(200000);	/* early: leave most of the run to resume */
		ASSERT_EQ(0, system("pkill -STOP -x tinydsmd"));
		sleep(6);
		ASSERT_EQ(0, system("pkill -CONT -x tinydsmd"));
	}
	if (n->id == 1) {
		rc = ctl(self, out, sizeof(out),
			 "-j migrate --from node2 --to node3 --pages %#llx+%u",
			 (unsigned long long)addr, npages);
		TH_LOG("migration whose target stops answering: exit %d: %s", rc, out);
		/* Stopped with a clear error, or (a fast run) done before. */
		if (rc) {
			EXPECT_EQ(1, rc);
			EXPECT_NE(NULL, strstr(out, "run the same command again"));
		}
		/* Moved or not, every page reads right meanwhile. */
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 5, "node1 after the stop"));
		ASSERT_EQ(0, wait_ready(self, 90));
		rc = ctl(self, out, sizeof(out),
			 "-j migrate --from node2 --to node3 --pages %#llx+%u",
			 (unsigned long long)addr, npages);
		TH_LOG("the same command again: exit %d: %s", rc, out);
		/* Resumed: moves what was left (ENOENT if nothing was). */
		EXPECT_TRUE(rc == 0 || strstr(out, "ENOENT")) TH_LOG("%s", out);
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 5, "node1 after resuming"));
	}
	TC_BARRIER("resumed", 6 * self->s.timeout_s);
	if (n->id == 3) {
		EXPECT_EQ(0, not_homed_here(n, addr, npages))
			TH_LOG("pages not homed on node3 after resuming");
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 5, "node3 after resuming"));
	}
	BARRIER("done");
}

/*
 * node1, which holds copies of every page, is cut off the network while
 * node3 pulls the run: the daemons declare it dead and evict it, and the
 * migration completes with every byte right. node1, cut off, evicts the
 * others in turn and drops its read copies of their pages (it can no longer
 * be told when they change). Runs last: node1's RDMA connections do not
 * come back after this in the lab.
 */
TEST_F_TIMEOUT(dc, trio_mapper_dies_mid_migration, 400)
{
	unsigned int npages = tc_env_uint("TDSM_KILL_PAGES", 4096);
	struct tc_node *n = &self->n;
	size_t len = (size_t)npages * n->psz;
	struct tinydsm_page_info pi;
	unsigned long i, present = 0;
	uint64_t addr;
	char out[4096];
	double t0;
	int rc;

	START();
	addr = tc_shared_run(_metadata, &self->n, &self->s, 2, npages, 4,
			     3 * self->s.timeout_s);
	if (n->id == 1)
		ASSERT_EQ(0, tc_check_mem(_metadata, addr, len, 4, "node1 first read"));
	BARRIER("mapped");
	if (n->id == 1) {
		usleep(300000);
		ASSERT_EQ(0, partition(8));
	}
	if (n->id == 3) {
		t0 = tc_now();
		rc = ctl(self, out, sizeof(out),
			 "-j migrate --from node2 --to node3 --pages %#llx+%u",
			 (unsigned long long)addr, npages);
		TH_LOG("migration with node1 gone: exit %d after %.1f s: %s", rc,
		       tc_now() - t0, out);
		EXPECT_EQ(0, rc);
		/* A chunk retried after a batch of it moved counts that batch skipped. */
		EXPECT_EQ(npages, jnum(out, "moved") + jnum(out, "skipped"));
		EXPECT_EQ(0, not_homed_here(n, addr, npages));
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 4, "node3 after the migration"));
	}
	if (n->id == 2)
		EXPECT_EQ(0, tc_check_mem(_metadata, addr, len, 4, "node2 after the migration"));
	/* Barrier files travel over 9p (virtio), not over the cut link. */
	TC_BARRIER("migrated", 6 * self->s.timeout_s);
	if (n->id == 1) {
		char buf[2048];
		double deadline = tc_now() + 60;

		while (daemon_all_alive(buf, sizeof(buf)) && tc_now() < deadline)
			usleep(200000);
		for (i = 0; i < npages; i++)
			if (!tc_page_info(n, (void *)(uintptr_t)(addr + i * n->psz), &pi) &&
			    (pi.flags & TINYDSM_PAGE_F_PRESENT))
				present++;
		EXPECT_EQ(0, present) TH_LOG("node1 kept %lu copies of pages it can no longer hear about",
					     present);
	}
	BARRIER("done");
}

TEST_HARNESS_MAIN
