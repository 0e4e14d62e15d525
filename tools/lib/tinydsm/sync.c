// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libtinydsm: a mutex, a barrier and a condition variable in the region,
 * shared by tasks on every node.
 *
 * Each is made of 4-byte words changed only with tdsm_atomic() (at the
 * word's home when the page is not here exclusively, so the page stays
 * put) and read with a fetch-or of 0, which is done where the page is
 * too; a task that must wait sleeps in tdsm_wait() (TINYDSM_IOC_WAIT),
 * and is woken by tdsm_wake(): nobody spins on a page across the network.
 * The algorithms are the futex ones (Drepper, "Futexes Are Tricky"): an
 * uncontended lock or unlock is one atomic.
 *
 * Errors are -errno, as everywhere in the library: the home of a word
 * that does not answer (ETIMEDOUT, EHOSTUNREACH) makes the call fail, and
 * the object is then in whatever state the last atomic that was done left
 * it. A signal does not: a wait is simply asked again.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>

#include "tinydsm.h"

/* The word's value, read where it is. */
static int load32(volatile uint32_t *w, uint32_t *v)
{
	uint64_t old;
	int err = tdsm_atomic(TINYDSM_ATOMIC_FETCH_OR, w, 4, 0, 0, &old);

	*v = (uint32_t)old;
	return err;
}

static int rmw32(unsigned int op, volatile uint32_t *w, uint32_t operand,
		 uint32_t expected, uint32_t *old)
{
	uint64_t o;
	int err = tdsm_atomic(op, w, 4, operand, expected, &o);

	*old = (uint32_t)o;
	return err;
}

/* tdsm_wait(), for which a changed word and a signal are a wake-up. */
static int sleep32(volatile uint32_t *w, uint32_t v, uint64_t timeout_ns)
{
	int err = tdsm_wait(w, 4, v, timeout_ns);

	return err == -EAGAIN || err == -EINTR ? 0 : err;
}

/* ---- mutex: 0 unlocked, 1 locked, 2 locked and maybe waited for ------ */

int tdsm_mutex_trylock(tdsm_mutex_t *m)
{
	uint32_t c;
	int err = rmw32(TINYDSM_ATOMIC_CAS, &m->word, 1, 0, &c);

	if (err)
		return err;
	return c ? -EBUSY : 0;
}

/* Take @m from a state @c (not 0), marking it waited for. */
static int mutex_lock_slow(tdsm_mutex_t *m, uint32_t c)
{
	int err = 0;

	if (c != 2)
		err = rmw32(TINYDSM_ATOMIC_XCHG, &m->word, 2, 0, &c);
	while (!err && c) {
		err = sleep32(&m->word, 2, 0);
		if (!err)
			err = rmw32(TINYDSM_ATOMIC_XCHG, &m->word, 2, 0, &c);
	}
	return err;
}

int tdsm_mutex_lock(tdsm_mutex_t *m)
{
	uint32_t c;
	int err = rmw32(TINYDSM_ATOMIC_CAS, &m->word, 1, 0, &c);

	if (err || !c)
		return err;
	return mutex_lock_slow(m, c);
}

int tdsm_mutex_unlock(tdsm_mutex_t *m)
{
	uint32_t c;
	int err = rmw32(TINYDSM_ATOMIC_XCHG, &m->word, 0, 0, &c);

	if (err)
		return err;
	if (!c)
		return -EPERM;	/* it was not locked */
	if (c == 2) {
		err = tdsm_wake(&m->word, 4, 1);
		return err < 0 ? err : 0;
	}
	return 0;
}

/* ---- barrier ---------------------------------------------------------- */

int tdsm_barrier_init(tdsm_barrier_t *b, unsigned int count)
{
	uint32_t old;
	int err;

	if (!count)
		return -EINVAL;
	err = rmw32(TINYDSM_ATOMIC_XCHG, &b->arrived, 0, 0, &old);
	if (!err)
		err = rmw32(TINYDSM_ATOMIC_XCHG, &b->count, count, 0, &old);
	return err;
}

/*
 * The last to arrive empties the barrier, then opens it (a new
 * generation) and wakes the others: a task that leaves and arrives again
 * at once counts in the next round, never in this one.
 */
int tdsm_barrier_wait(tdsm_barrier_t *b)
{
	uint32_t gen, arrived, count, now, old;
	int err;

	err = load32(&b->generation, &gen);
	if (!err)
		err = load32(&b->count, &count);
	if (!err && !count)
		err = -EINVAL;	/* not initialised */
	if (!err)
		err = rmw32(TINYDSM_ATOMIC_FETCH_ADD, &b->arrived, 1, 0, &arrived);
	if (err)
		return err;
	if (arrived + 1 == count) {
		err = rmw32(TINYDSM_ATOMIC_XCHG, &b->arrived, 0, 0, &old);
		if (!err)
			err = rmw32(TINYDSM_ATOMIC_FETCH_ADD, &b->generation, 1,
				    0, &old);
		if (!err)
			err = tdsm_wake(&b->generation, 4, INT_MAX);
		return err < 0 ? err : TDSM_BARRIER_SERIAL;
	}
	for (;;) {
		err = load32(&b->generation, &now);
		if (err || now != gen)
			return err;
		err = sleep32(&b->generation, gen, 0);
		if (err)
			return err;
	}
}

/* ---- condition variable: a sequence number -------------------------- */

int tdsm_cond_timedwait(tdsm_cond_t *c, tdsm_mutex_t *m, uint64_t timeout_ns)
{
	uint32_t seq;
	int err, lerr;

	err = load32(&c->seq, &seq);
	if (!err)
		err = tdsm_mutex_unlock(m);
	if (err)
		return err;
	err = sleep32(&c->seq, seq, timeout_ns);
	/* Back in, as a waiter would: others may wait for the mutex too. */
	lerr = mutex_lock_slow(m, 1);
	return lerr ? lerr : err;
}

int tdsm_cond_wait(tdsm_cond_t *c, tdsm_mutex_t *m)
{
	return tdsm_cond_timedwait(c, m, 0);
}

static int cond_wake(tdsm_cond_t *c, unsigned int n)
{
	uint32_t old;
	int err = rmw32(TINYDSM_ATOMIC_FETCH_ADD, &c->seq, 1, 0, &old);

	if (!err)
		err = tdsm_wake(&c->seq, 4, n);
	return err < 0 ? err : 0;
}

int tdsm_cond_signal(tdsm_cond_t *c)
{
	return cond_wake(c, 1);
}

int tdsm_cond_broadcast(tdsm_cond_t *c)
{
	return cond_wake(c, INT_MAX);
}
