// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmd: the worker thread, which runs the module's long genl calls
 * (MIGRATE of a chunk, REPOPULATE of a chunk, NODE_EVICT) off the poll
 * loop, so that the loop keeps reading and sending heartbeats meanwhile: a
 * chunk can take seconds when a node does not answer (the module waits
 * timeout_ms per failed round trip), and a daemon that stops heartbeating
 * for that long is rightly declared dead by the others.
 *
 * The loop owns a FIFO of jobs (struct tdd_job, tinydsmd.h) and hands the
 * worker one at a time; the worker runs it on its own libnl socket, then
 * says so on an eventfd that the loop polls, and the loop takes the job
 * back and calls its done function. The handoff is the only shared state:
 *
 *   w.todo, w.done, w.running, w.stop   protected by w.lock
 *   *w.todo                             the worker's from the moment the
 *                                       loop sets w.todo until it sets
 *                                       w.done; the loop's otherwise
 *   fifo[], head, count, inflight       the loop's alone
 *
 * The worker blocks every signal (the loop reads them from its signalfd).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tinydsmd.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* w.todo set, or w.stop */
	struct tdd_job *todo;		/* the job handed over, NULL: none */
	bool done;			/* the worker finished *todo */
	bool running;			/* the worker is in a genl call */
	bool stop;
} w = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

static pthread_t thread;
static bool started;
static int efd = -1;			/* the worker -> loop: a job is done */

/* The loop's: a ring of queued jobs; fifo[head] runs when inflight. */
static struct tdd_job fifo[TDD_WORK_MAX];
static unsigned int head, count;
static bool inflight;

/* ---- the worker thread ---- */

static void run(struct nl_sock *s, struct tdd_job *j)
{
	switch (j->kind) {
	case TDD_JOB_MIGRATE:
		tdd_genl_migrate(s, j->addr, j->npages, j->node, &j->op);
		break;
	case TDD_JOB_REPOPULATE:
		tdd_genl_repopulate(s, j->addr, j->npages, j->flags, &j->op);
		break;
	case TDD_JOB_EVICT:
		tdd_genl_node_evict(s, j->node, &j->op);
		break;
	default:
		memset(&j->op, 0, sizeof(j->op));
		j->op.err = EINVAL;
		snprintf(j->op.msg, sizeof(j->op.msg), "unknown job %d", j->kind);
		break;
	}
}

static void *worker_main(void *arg)
{
	struct nl_sock *s = arg;
	const uint64_t one = 1;
	struct tdd_job *j;

	for (;;) {
		pthread_mutex_lock(&w.lock);
		while (!w.stop && (!w.todo || w.done))
			pthread_cond_wait(&w.cond, &w.lock);
		if (w.stop) {
			pthread_mutex_unlock(&w.lock);
			break;
		}
		j = w.todo;
		w.running = true;
		pthread_mutex_unlock(&w.lock);

		run(s, j);

		pthread_mutex_lock(&w.lock);
		w.running = false;
		w.done = true;
		pthread_mutex_unlock(&w.lock);
		/* Only fails if the counter overflows, which 1s cannot. */
		if (write(efd, &one, sizeof(one)) != sizeof(one))
			log_warn("worker: eventfd: %s", strerror(errno));
	}
	tdd_genl_sock_close(s);
	return NULL;
}

/* ---- the loop's side ---- */

/* If the worker is idle and a job waits, hand it over. */
static void kick(void)
{
	if (inflight || !count)
		return;
	pthread_mutex_lock(&w.lock);
	w.todo = &fifo[head];
	w.done = false;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	inflight = true;
}

static void on_done(void *arg, short revents)
{
	struct tdd_job job;
	uint64_t n;
	bool done;

	(void)arg;
	(void)revents;
	if (read(efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("worker: eventfd: %s", strerror(errno));
	pthread_mutex_lock(&w.lock);
	done = w.done;
	if (done) {
		w.todo = NULL;
		w.done = false;
	}
	pthread_mutex_unlock(&w.lock);
	if (!done || !inflight)
		return;
	/* Ours again: copy it out and start the next before handling it. */
	job = fifo[head];
	head = (head + 1) % TDD_WORK_MAX;
	count--;
	inflight = false;
	kick();
	if (job.done)
		job.done(&job);
}

int tdd_work_submit(const struct tdd_job *job)
{
	if (count == TDD_WORK_MAX)
		return -ENOBUFS;
	fifo[(head + count) % TDD_WORK_MAX] = *job;
	count++;
	kick();
	return 0;
}

int tdd_work_queued(void)
{
	return count;
}

void tdd_work_poll(void)
{
	tdd_poll_add(efd, POLLIN, on_done, NULL);
}

int tdd_work_init(void)
{
	sigset_t all, old;
	struct nl_sock *s;
	int e;

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (efd < 0) {
		log_err("eventfd: %s", strerror(errno));
		return -1;
	}
	s = tdd_genl_sock_open();
	if (!s) {
		log_err("cannot open the worker's generic netlink socket");
		goto err_efd;
	}
	/* The thread inherits the mask: it never takes a signal. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_create(&thread, NULL, worker_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		log_err("cannot start the worker thread: %s", strerror(e));
		tdd_genl_sock_close(s);
		goto err_efd;
	}
	started = true;
	return 0;

err_efd:
	close(efd);
	efd = -1;
	return -1;
}

/*
 * Stop the worker. An idle worker exits and is joined; one in the middle of
 * a genl call is left to it (it ends with the process): the module's call
 * may take seconds, and a stopping daemon should not wait for it.
 */
void tdd_work_fini(void)
{
	bool running;

	if (!started)
		return;
	pthread_mutex_lock(&w.lock);
	w.stop = true;
	running = w.running;
	pthread_cond_signal(&w.cond);
	pthread_mutex_unlock(&w.lock);
	if (running) {
		log_notice("not waiting for the module's call in progress (%u job(s) dropped)",
			   count);
		pthread_detach(thread);
	} else {
		pthread_join(thread, NULL);
		close(efd);
		efd = -1;
		if (count)
			log_info("%u queued job(s) dropped", count);
	}
	started = false;
}
