// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm-trace: faults on the tinydsm region, the node's protocol events
 * and its cache's evictions, from the module's tracepoints, with a BPF
 * program (libbpf skeleton of tinydsm_trace.bpf.c). See
 * tools/trace/README.md.
 *
 *   tinydsm-trace [-i SEC] [-d SEC] [-n TOP] [-p PID] [-j] [-- CMD ARGS...]
 *
 * Exit: 0 done (also after SIGINT/SIGTERM), 1 the tracer could not run
 * (not root, module not loaded, tracepoints missing or of another layout,
 * BPF load/attach failed, the command could not be run), 2 bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tinydsm_trace.h"
#include "tinydsm_trace.skel.h"

#define PROG		"tinydsm-trace"
#define TRACEFS		"/sys/kernel/tracing"
#define TRACEFS_MAGIC	0x74726163
#define EVENTS_DIR	TRACEFS "/events/tinydsm"
#define MODULE_DIR	"/sys/module/tinydsm"
#define NODE_ID_PARAM	MODULE_DIR "/parameters/node_id"
#define BAR_WIDTH	40
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* ---- options ---- */

static struct {
	long long interval;	/* ms between readable blocks */
	long long duration;	/* ms: stop after this long; 0: never */
	unsigned int top;
	pid_t pid;		/* -p */
	bool json;
	char **cmd;		/* -- CMD ARGS... */
} opt = { .interval = 1000, .top = 10 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " [-i SEC] [-d SEC] [-n TOP] [-p PID] [-j] [-- CMD ARGS...]\n"
		"Counts the faults on the tinydsm region (per page, per user IP, latency),\n"
		"the node's protocol events and its evictions (batch sizes, reclaim\n"
		"latency), from the module's tracepoints.\n"
		"  -i SEC   print a block every SEC seconds (default 1)\n"
		"  -d SEC   stop after SEC seconds\n"
		"  -n TOP   show the TOP pages and IPs (default 10)\n"
		"  -p PID   count only the faults of process PID; stop when it exits\n"
		"  -j       print one JSON object at the end instead of the blocks\n"
		"  -- CMD   run CMD, count only its faults, stop when it exits\n"
		"Stops on SIGINT/SIGTERM and prints the totals. Needs root.\n");
}

static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return 2;
}

/* Seconds (fractions allowed, down to 10 ms) to milliseconds. */
static bool parse_seconds(const char *s, long long *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	/* Written so that NaN fails too. */
	if (errno || end == s || *end || !(v >= 0.01 && v <= 1e7))
		return false;
	*ms = (long long)(v * 1000 + 0.5);
	return true;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > max)
		return false;
	*out = v;
	return true;
}

static int parse_args(int argc, char **argv)
{
	unsigned long v;
	int c;

	/* '+': the command's own options are not ours; ':': we say what is wrong. */
	opterr = 0;
	while ((c = getopt(argc, argv, "+:i:d:n:p:jh")) != -1) {
		switch (c) {
		case 'i':
			if (!parse_seconds(optarg, &opt.interval))
				return bad_usage("-i: '%s' is not a number of seconds >= 0.01",
						 optarg);
			break;
		case 'd':
			if (!parse_seconds(optarg, &opt.duration))
				return bad_usage("-d: '%s' is not a number of seconds >= 0.01",
						 optarg);
			break;
		case 'n':
			if (!parse_uint(optarg, 10000, &v))
				return bad_usage("-n: '%s' is not a count 1..10000", optarg);
			opt.top = v;
			break;
		case 'p':
			if (!parse_uint(optarg, INT_MAX, &v))
				return bad_usage("-p: '%s' is not a process id", optarg);
			opt.pid = v;
			break;
		case 'j':
			opt.json = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case ':':
			return bad_usage("option -%c needs an argument", optopt);
		default:
			return bad_usage("unknown option -%c", optopt);
		}
	}
	if (optind < argc)
		opt.cmd = argv + optind;
	if (opt.cmd && opt.pid)
		return bad_usage("-p and a command exclude each other");
	return 0;
}

/* ---- errors ---- */

static int fail(int err, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (err)
		fprintf(stderr, ": %s (%s)", strerror(err), strerrorname_np(err) ?: "?");
	fputc('\n', stderr);
	return 1;
}

/* libbpf's own messages: warnings and errors only, on stderr. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* ---- tracefs and the events' layout ---- */

/* Guests and minimal systems do not mount tracefs: mount it if needed. */
static int tracefs_mount(void)
{
	struct statfs sf;

	if (statfs(TRACEFS, &sf))
		return fail(errno, "cannot use %s", TRACEFS);
	if ((unsigned long)sf.f_type == TRACEFS_MAGIC)
		return 0;
	if (mount("nodev", TRACEFS, "tracefs", 0, NULL))
		return fail(errno, "cannot mount tracefs on %s", TRACEFS);
	return 0;
}

struct tp_field {
	const char *name;
	unsigned int offset, size;
};

#define TP_FIELD(st, member, fname)					\
	{ fname, offsetof(struct st, member), sizeof(((struct st *)0)->member) }
#define TP_COMMON(st)							\
	TP_FIELD(st, ent.type, "common_type"),				\
	TP_FIELD(st, ent.flags, "common_flags"),			\
	TP_FIELD(st, ent.preempt_count, "common_preempt_count"),	\
	TP_FIELD(st, ent.pid, "common_pid")
#define F(st, member) TP_FIELD(st, member, #member)

static const struct tp_field f_fault_start[] = {
	TP_COMMON(tdsm_tp_fault_start),
	F(tdsm_tp_fault_start, addr), F(tdsm_tp_fault_start, ip),
	F(tdsm_tp_fault_start, write),
};

static const struct tp_field f_fault_end[] = {
	TP_COMMON(tdsm_tp_fault_end),
	F(tdsm_tp_fault_end, addr), F(tdsm_tp_fault_end, ip),
	F(tdsm_tp_fault_end, write), F(tdsm_tp_fault_end, fetched),
	F(tdsm_tp_fault_end, err),
};

static const struct tp_field f_fetch[] = {
	TP_COMMON(tdsm_tp_fetch),
	F(tdsm_tp_fetch, addr), F(tdsm_tp_fetch, owner), F(tdsm_tp_fetch, to),
	F(tdsm_tp_fetch, keep), F(tdsm_tp_fetch, err),
};

static const struct tp_field f_invalidate[] = {
	TP_COMMON(tdsm_tp_invalidate),
	F(tdsm_tp_invalidate, addr), F(tdsm_tp_invalidate, node),
	F(tdsm_tp_invalidate, moved_to), F(tdsm_tp_invalidate, err),
};

static const struct tp_field f_owner[] = {
	TP_COMMON(tdsm_tp_owner),
	F(tdsm_tp_owner, addr), F(tdsm_tp_owner, old_owner), F(tdsm_tp_owner, owner),
};

static const struct tp_field f_patch[] = {
	TP_COMMON(tdsm_tp_patch),
	F(tdsm_tp_patch, site), F(tdsm_tp_patch, kind), F(tdsm_tp_patch, form),
	F(tdsm_tp_patch, err),
};

static const struct tp_field f_migrate[] = {
	TP_COMMON(tdsm_tp_migrate),
	F(tdsm_tp_migrate, addr), F(tdsm_tp_migrate, npages),
	F(tdsm_tp_migrate, moved), F(tdsm_tp_migrate, from),
	F(tdsm_tp_migrate, err),
};

static const struct tp_field f_evict[] = {
	TP_COMMON(tdsm_tp_evict),
	F(tdsm_tp_evict, first), F(tdsm_tp_evict, ns), F(tdsm_tp_evict, clean),
	F(tdsm_tp_evict, dirty), F(tdsm_tp_evict, done),
	F(tdsm_tp_evict, released), F(tdsm_tp_evict, home), F(tdsm_tp_evict, err),
};

static const struct tp_field f_reclaim[] = {
	TP_COMMON(tdsm_tp_reclaim),
	F(tdsm_tp_reclaim, scanned), F(tdsm_tp_reclaim, freed),
	F(tdsm_tp_reclaim, ns), F(tdsm_tp_reclaim, reason),
};

#define EVENT(name, f) { name, f, ARRAY_SIZE(f) }
static const struct tp_event {
	const char *name;
	const struct tp_field *fields;
	unsigned int nfields;
} events[] = {
	EVENT("tinydsm_fault_start", f_fault_start),
	EVENT("tinydsm_fault_end", f_fault_end),
	EVENT("tinydsm_fetch", f_fetch),
	EVENT("tinydsm_invalidate", f_invalidate),
	EVENT("tinydsm_owner", f_owner),
	EVENT("tinydsm_patch", f_patch),
	EVENT("tinydsm_migrate", f_migrate),
	EVENT("tinydsm_evict", f_evict),
	EVENT("tinydsm_reclaim", f_reclaim),
};

/*
 * One "field:TYPE NAME;	offset:N;	size:N;	signed:N;" line of a
 * format file: NAME (array brackets dropped), offset and size.
 */
static bool parse_field(char *line, char **name, unsigned int *off, unsigned int *size)
{
	char *decl = strstr(line, "field:"), *semi, *p, *o, *s;

	if (!decl)
		return false;
	decl += strlen("field:");
	semi = strchr(decl, ';');
	o = strstr(line, "offset:");
	s = strstr(line, "size:");
	if (!semi || !o || !s)
		return false;
	*semi = '\0';
	p = strchr(decl, '[');
	if (p)
		*p = '\0';
	p = strrchr(decl, ' ');
	*name = p ? p + 1 : decl;
	return sscanf(o, "offset:%u;", off) == 1 && sscanf(s, "size:%u;", size) == 1;
}

/* Does the kernel's record of @ev have every field where the program reads it? */
static int check_event(const struct tp_event *ev)
{
	char path[256], line[512], *name;
	bool seen[16] = { false };
	unsigned int i, off, size;
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), EVENTS_DIR "/%s/format", ev->name);
	f = fopen(path, "re");
	if (!f)
		return fail(errno, "tracepoint tinydsm/%s missing (%s)", ev->name, path);
	while (fgets(line, sizeof(line), f)) {
		if (!parse_field(line, &name, &off, &size))
			continue;
		for (i = 0; i < ev->nfields; i++) {
			const struct tp_field *tf = &ev->fields[i];

			if (strcmp(name, tf->name))
				continue;
			seen[i] = true;
			if (off != tf->offset || size != tf->size)
				ret = fail(0, "tinydsm/%s: field %s is at offset %u size %u in the kernel, at %u size %u here: this tinydsm-trace does not match the loaded module",
					   ev->name, name, off, size, tf->offset, tf->size);
		}
	}
	fclose(f);
	for (i = 0; i < ev->nfields; i++)
		if (!seen[i])
			ret = fail(0, "tinydsm/%s: the kernel's record has no field %s (%s): this tinydsm-trace does not match the loaded module",
				   ev->name, ev->fields[i].name, path);
	return ret;
}

static int check_events(void)
{
	unsigned int i;
	int ret = 0;

	for (i = 0; i < ARRAY_SIZE(events); i++)
		ret |= check_event(&events[i]);
	return ret;
}

static int read_node_id(void)
{
	FILE *f = fopen(NODE_ID_PARAM, "re");
	int id = -1;

	if (f) {
		if (fscanf(f, "%d", &id) != 1)
			id = -1;
		fclose(f);
	}
	return id;
}

/* ---- where a user IP is: path+offset from /proc/PID/maps ---- */

struct vma {
	uint64_t start, end, off;
	char *path;
};

struct pmaps {
	pid_t pid;
	struct vma *v;
	size_t n;
};

static void pmaps_free(struct pmaps *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

/*
 * Read the executable mappings of @pid into @m. A process that exited
 * (or is exiting) shows none: then @m keeps what it had, so that the IPs
 * of a command that just ended still resolve. @want: a path that must be
 * mapped for the read to count (the command's binary right after exec).
 */
static bool pmaps_read(struct pmaps *m, pid_t pid, const char *want)
{
	char path[64], line[PATH_MAX + 128], perms[8], file[PATH_MAX];
	struct vma *v = NULL, *nv;
	unsigned long long start, end, off;
	size_t n = 0, i;
	bool found = !want;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		file[0] = '\0';
		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %4095[^\n]",
			   &start, &end, perms, &off, file) < 4)
			continue;
		if (!strchr(perms, 'x') || !file[0])
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[n] = (struct vma){ start, end, off, strdup(file) };
		if (!v[n].path)
			break;
		if (want && !strcmp(file, want))
			found = true;
		n++;
	}
	fclose(f);
	if (!n || !found) {
		for (i = 0; i < n; i++)
			free(v[i].path);
		free(v);
		return false;
	}
	pmaps_free(m);
	m->pid = pid;
	m->v = v;
	m->n = n;
	return true;
}

static const struct vma *pmaps_find(const struct pmaps *m, uint64_t ip)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (ip >= m->v[i].start && ip < m->v[i].end)
			return &m->v[i];
	return NULL;
}

/* ---- the program's counters, read and compared ---- */

struct ent {
	uint64_t key;		/* page address or IP */
	uint32_t tgid;		/* IPs only */
	uint64_t n;
};

struct state {
	uint64_t counts[TDSM_C_MAX];
	uint64_t hist[TDSM_HIST_SLOTS];
	uint64_t batch_hist[TDSM_BATCH_SLOTS];
	uint64_t reclaim_hist[TDSM_HIST_SLOTS];
	struct ent *pages, *ips;
	size_t npages, nips;
};

static void state_free(struct state *s)
{
	free(s->pages);
	free(s->ips);
	memset(s, 0, sizeof(*s));
}

static int cmp_key(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	if (x->tgid != y->tgid)
		return x->tgid < y->tgid ? -1 : 1;
	return x->key < y->key ? -1 : x->key > y->key;
}

static int cmp_count(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return cmp_key(a, b);
}

/* Every entry of a map keyed by page (@ip false) or by struct tdsm_ip_key. */
static int read_map(int fd, bool ip, struct ent **out, size_t *nout)
{
	struct tdsm_ip_key ik, next_ik;
	uint64_t pk, next_pk, val;
	void *key = ip ? (void *)&ik : (void *)&pk;
	void *next = ip ? (void *)&next_ik : (void *)&next_pk;
	size_t ksize = ip ? sizeof(ik) : sizeof(pk);
	struct ent *v = NULL, *nv;
	size_t n = 0, cap = 0;
	bool first = true;

	for (;;) {
		if (bpf_map_get_next_key(fd, first ? NULL : key, next)) {
			if (errno == ENOENT)
				break;
			free(v);
			return -errno;
		}
		first = false;
		memcpy(key, next, ksize);
		/* Never deleted: a key seen has a value. */
		if (bpf_map_lookup_elem(fd, key, &val))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n++] = ip ? (struct ent){ ik.ip, ik.tgid, val } :
			      (struct ent){ pk, 0, val };
	}
	qsort(v, n, sizeof(*v), cmp_key);
	*out = v;
	*nout = n;
	return 0;
}

static int state_read(struct tinydsm_trace *skel, struct state *s)
{
	unsigned int i;
	int err;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < TDSM_C_MAX; i++)
		s->counts[i] = __atomic_load_n(&skel->bss->counts[i], __ATOMIC_RELAXED);
	for (i = 0; i < TDSM_HIST_SLOTS; i++) {
		s->hist[i] = __atomic_load_n(&skel->bss->hist[i], __ATOMIC_RELAXED);
		s->reclaim_hist[i] = __atomic_load_n(&skel->bss->reclaim_hist[i],
						     __ATOMIC_RELAXED);
	}
	for (i = 0; i < TDSM_BATCH_SLOTS; i++)
		s->batch_hist[i] = __atomic_load_n(&skel->bss->batch_hist[i],
						   __ATOMIC_RELAXED);
	err = read_map(bpf_map__fd(skel->maps.pages), false, &s->pages, &s->npages);
	if (!err)
		err = read_map(bpf_map__fd(skel->maps.ips), true, &s->ips, &s->nips);
	if (err) {
		state_free(s);
		return fail(-err, "cannot read the BPF maps");
	}
	return 0;
}

/* @cur - @prev of sorted entry lists, the entries that changed only. */
static struct ent *ents_delta(const struct ent *cur, size_t ncur,
			      const struct ent *prev, size_t nprev, size_t *nout)
{
	struct ent *d = malloc((ncur ? ncur : 1) * sizeof(*d));
	size_t i, j = 0, n = 0;

	if (!d) {
		*nout = 0;
		return NULL;
	}
	for (i = 0; i < ncur; i++) {
		uint64_t was = 0;

		while (j < nprev && cmp_key(&prev[j], &cur[i]) < 0)
			j++;
		if (j < nprev && !cmp_key(&prev[j], &cur[i]))
			was = prev[j].n;
		if (cur[i].n > was) {
			d[n] = cur[i];
			d[n++].n -= was;
		}
	}
	*nout = n;
	return d;
}

/* @cur - @prev, everything (@prev NULL: @cur itself, copied). */
static int state_delta(const struct state *cur, const struct state *prev,
		       struct state *d)
{
	static const struct state zero;
	unsigned int i;

	if (!prev)
		prev = &zero;
	memset(d, 0, sizeof(*d));
	for (i = 0; i < TDSM_C_MAX; i++)
		d->counts[i] = cur->counts[i] - prev->counts[i];
	for (i = 0; i < TDSM_HIST_SLOTS; i++) {
		d->hist[i] = cur->hist[i] - prev->hist[i];
		d->reclaim_hist[i] = cur->reclaim_hist[i] - prev->reclaim_hist[i];
	}
	for (i = 0; i < TDSM_BATCH_SLOTS; i++)
		d->batch_hist[i] = cur->batch_hist[i] - prev->batch_hist[i];
	d->pages = ents_delta(cur->pages, cur->npages, prev->pages, prev->npages,
			      &d->npages);
	d->ips = ents_delta(cur->ips, cur->nips, prev->ips, prev->nips, &d->nips);
	if (!d->pages || !d->ips) {
		state_free(d);
		return fail(ENOMEM, "out of memory");
	}
	qsort(d->pages, d->npages, sizeof(*d->pages), cmp_count);
	qsort(d->ips, d->nips, sizeof(*d->ips), cmp_count);
	return 0;
}

/* ---- output ---- */

static struct {
	int node_id;
	pid_t tgid;		/* the filter, 0: none */
	struct pmaps target;	/* the filtered process's mappings */
	struct timespec start;
} run;

static double since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) + (now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The slot's range (in us, or pages), both ends included. */
static void slot_range(unsigned int slot, uint64_t *lo, uint64_t *hi)
{
	*lo = slot ? 1ULL << (slot - 1) : 0;
	*hi = slot ? (1ULL << slot) - 1 : 0;
}

static int first_slot(const uint64_t *hist, int nslots)
{
	int i;

	for (i = 0; i < nslots; i++)
		if (hist[i])
			return i;
	return -1;
}

static int last_slot(const uint64_t *hist, int nslots)
{
	int i;

	for (i = nslots - 1; i >= 0; i--)
		if (hist[i])
			return i;
	return -1;
}

/*
 * A log2 histogram of @nslots slots under @title, its values in @unit;
 * nothing if it is empty. The empty slots below the first are left out
 * (the JSON has them).
 */
static void print_hist(const char *title, const char *unit,
		       const uint64_t *hist, int nslots)
{
	int last = last_slot(hist, nslots), s, stars;
	uint64_t lo, hi, max = 0;
	char range[48];

	if (last < 0)
		return;
	for (s = first_slot(hist, nslots); s <= last; s++)
		if (hist[s] > max)
			max = hist[s];
	printf("  %s:\n%24s : %-9s distribution\n", title, unit, "count");
	for (s = first_slot(hist, nslots); s <= last; s++) {
		slot_range(s, &lo, &hi);
		snprintf(range, sizeof(range), "%llu -> %llu",
			 (unsigned long long)lo, (unsigned long long)hi);
		stars = (int)((hist[s] * BAR_WIDTH + max - 1) / max);
		printf("%24s : %-9llu |%-*.*s|\n", range,
		       (unsigned long long)hist[s], BAR_WIDTH, stars,
		       "****************************************");
	}
}

/* The same as a JSON object: every slot from 0 to the highest one used. */
static void json_hist(const char *name, const char *unit,
		      const uint64_t *hist, int nslots)
{
	int s, last = last_slot(hist, nslots);
	uint64_t lo, hi;

	printf("\"%s\":{\"unit\":\"%s\",\"buckets\":[", name, unit);
	for (s = 0; s <= last; s++) {
		slot_range(s, &lo, &hi);
		printf("%s{\"lo\":%llu,\"hi\":%llu,\"count\":%llu}", s ? "," : "",
		       (unsigned long long)lo, (unsigned long long)hi,
		       (unsigned long long)hist[s]);
	}
	printf("]}");
}

/*
 * Where @ip of @tgid is: from the target's cached mappings, else from the
 * live /proc/@tgid/maps (@cache, read at most once per block).
 */
static bool ip_where(uint32_t tgid, uint64_t ip, struct pmaps *cache,
		     size_t *ncache, char *buf, size_t size)
{
	const struct pmaps *m = NULL;
	const struct vma *v;
	size_t i;

	if (!ip || !tgid)
		return false;
	if (run.tgid && (pid_t)tgid == run.tgid) {
		m = &run.target;
	} else {
		for (i = 0; i < *ncache; i++)
			if (cache[i].pid == (pid_t)tgid)
				m = &cache[i];
		if (!m && *ncache < opt.top) {
			struct pmaps *fresh = &cache[(*ncache)++];

			fresh->pid = tgid;
			pmaps_read(fresh, tgid, NULL);
			m = fresh;
		}
	}
	v = m ? pmaps_find(m, ip) : NULL;
	if (!v)
		return false;
	snprintf(buf, size, "%s+%#llx", v->path,
		 (unsigned long long)(ip - v->start + v->off));
	return true;
}

static void print_block(const struct state *d, const char *title)
{
	const uint64_t *c = d->counts;
	struct pmaps *cache = calloc(opt.top, sizeof(*cache));
	size_t i, ncache = 0;
	char where[PATH_MAX + 32];

	printf("%s, node %d", title, run.node_id);
	if (run.tgid)
		printf(", pid %d", run.tgid);
	printf("\n  faults: %llu (read %llu, write %llu), fetched %llu, failed %llu\n",
	       (unsigned long long)c[TDSM_C_FAULTS], (unsigned long long)c[TDSM_C_READS],
	       (unsigned long long)c[TDSM_C_WRITES], (unsigned long long)c[TDSM_C_FETCHED],
	       (unsigned long long)c[TDSM_C_FAILED]);

	print_hist("fault latency", "usecs", d->hist, TDSM_HIST_SLOTS);
	if (c[TDSM_C_UNMATCHED])
		printf("  (%llu faults without a start seen: not in the histogram)\n",
		       (unsigned long long)c[TDSM_C_UNMATCHED]);

	if (d->npages) {
		printf("  top pages:%14s %10s\n", "page", "faults");
		for (i = 0; i < d->npages && i < opt.top; i++)
			printf("    %#20llx %10llu\n", (unsigned long long)d->pages[i].key,
			       (unsigned long long)d->pages[i].n);
	}
	if (d->nips) {
		printf("  top IPs:%16s %8s %10s  where\n", "ip", "pid", "faults");
		for (i = 0; i < d->nips && i < opt.top; i++) {
			const struct ent *e = &d->ips[i];

			if (!e->key)
				snprintf(where, sizeof(where), "(not the task's own access)");
			else if (!cache || !ip_where(e->tgid, e->key, cache, &ncache,
						     where, sizeof(where)))
				snprintf(where, sizeof(where), "?");
			printf("    %#20llx %8u %10llu  %s\n", (unsigned long long)e->key,
			       e->tgid, (unsigned long long)e->n, where);
		}
	}
	if (c[TDSM_C_DROP_PAGES] || c[TDSM_C_DROP_IPS])
		printf("  maps full: %llu faults not counted per page, %llu per IP\n",
		       (unsigned long long)c[TDSM_C_DROP_PAGES],
		       (unsigned long long)c[TDSM_C_DROP_IPS]);
	printf("  node events: fetch %llu, invalidate %llu, owner %llu, patch %llu, migrate %llu (%llu pages); errors: fetch %llu, invalidate %llu, patch %llu, migrate %llu\n",
	       (unsigned long long)c[TDSM_C_FETCH], (unsigned long long)c[TDSM_C_INVAL],
	       (unsigned long long)c[TDSM_C_OWNER], (unsigned long long)c[TDSM_C_PATCH],
	       (unsigned long long)c[TDSM_C_MIGRATE],
	       (unsigned long long)c[TDSM_C_MIGRATED_PAGES],
	       (unsigned long long)c[TDSM_C_FETCH_ERR], (unsigned long long)c[TDSM_C_INVAL_ERR],
	       (unsigned long long)c[TDSM_C_PATCH_ERR],
	       (unsigned long long)c[TDSM_C_MIGRATE_ERR]);
	printf("  evictions: %llu batches (%llu clean, %llu to write back, %llu released), %llu failed; reclaim: %llu runs (%llu for pressure), %llu frames freed\n",
	       (unsigned long long)c[TDSM_C_EVICT],
	       (unsigned long long)c[TDSM_C_EVICT_CLEAN],
	       (unsigned long long)c[TDSM_C_EVICT_DIRTY],
	       (unsigned long long)c[TDSM_C_EVICT_RELEASED],
	       (unsigned long long)c[TDSM_C_EVICT_ERR],
	       (unsigned long long)c[TDSM_C_RECLAIM],
	       (unsigned long long)c[TDSM_C_RECLAIM_PRESSURE],
	       (unsigned long long)c[TDSM_C_RECLAIM_FREED]);
	print_hist("eviction batch size", "pages", d->batch_hist, TDSM_BATCH_SLOTS);
	print_hist("reclaim latency", "usecs", d->reclaim_hist, TDSM_HIST_SLOTS);
	fflush(stdout);

	for (i = 0; i < ncache; i++)
		pmaps_free(&cache[i]);
	free(cache);
}

static void json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = *s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void print_json(const struct state *d, double secs)
{
	static const struct {
		const char *name;
		enum tdsm_count c;
	} totals[] = {
		{ "faults", TDSM_C_FAULTS }, { "reads", TDSM_C_READS },
		{ "writes", TDSM_C_WRITES }, { "fetched", TDSM_C_FETCHED },
		{ "failed", TDSM_C_FAILED }, { "unmatched", TDSM_C_UNMATCHED },
		{ "dropped_pages", TDSM_C_DROP_PAGES }, { "dropped_ips", TDSM_C_DROP_IPS },
	}, evs[] = {
		{ "fetch", TDSM_C_FETCH }, { "fetch_errors", TDSM_C_FETCH_ERR },
		{ "invalidate", TDSM_C_INVAL }, { "invalidate_errors", TDSM_C_INVAL_ERR },
		{ "owner", TDSM_C_OWNER },
		{ "patch", TDSM_C_PATCH }, { "patch_errors", TDSM_C_PATCH_ERR },
		{ "migrate", TDSM_C_MIGRATE }, { "migrate_errors", TDSM_C_MIGRATE_ERR },
		{ "migrated_pages", TDSM_C_MIGRATED_PAGES },
		{ "evict", TDSM_C_EVICT }, { "evict_errors", TDSM_C_EVICT_ERR },
		{ "evict_clean", TDSM_C_EVICT_CLEAN },
		{ "evict_dirty", TDSM_C_EVICT_DIRTY },
		{ "evict_released", TDSM_C_EVICT_RELEASED },
		{ "reclaim", TDSM_C_RECLAIM },
		{ "reclaim_pressure", TDSM_C_RECLAIM_PRESSURE },
		{ "reclaim_freed", TDSM_C_RECLAIM_FREED },
	};
	struct pmaps *cache = calloc(opt.top, sizeof(*cache));
	char where[PATH_MAX + 32];
	size_t i, ncache = 0;

	printf("{\"node_id\":%d,\"tgid\":%d,\"seconds\":%.3f,\"totals\":{",
	       run.node_id, run.tgid, secs);
	for (i = 0; i < ARRAY_SIZE(totals); i++)
		printf("%s\"%s\":%llu", i ? "," : "", totals[i].name,
		       (unsigned long long)d->counts[totals[i].c]);
	printf("},");
	json_hist("histogram", "usecs", d->hist, TDSM_HIST_SLOTS);
	putchar(',');
	json_hist("batch_histogram", "pages", d->batch_hist, TDSM_BATCH_SLOTS);
	putchar(',');
	json_hist("reclaim_histogram", "usecs", d->reclaim_hist, TDSM_HIST_SLOTS);
	printf(",\"pages\":[");
	for (i = 0; i < d->npages && i < opt.top; i++)
		printf("%s{\"addr\":%llu,\"count\":%llu}", i ? "," : "",
		       (unsigned long long)d->pages[i].key,
		       (unsigned long long)d->pages[i].n);
	printf("],\"ips\":[");
	for (i = 0; i < d->nips && i < opt.top; i++) {
		const struct ent *e = &d->ips[i];

		printf("%s{\"ip\":%llu,\"tgid\":%u,\"count\":%llu,\"where\":", i ? "," : "",
		       (unsigned long long)e->key, e->tgid, (unsigned long long)e->n);
		if (cache && ip_where(e->tgid, e->key, cache, &ncache, where, sizeof(where)))
			json_string(where);
		else
			printf("null");
		putchar('}');
	}
	printf("],\"events\":{");
	for (i = 0; i < ARRAY_SIZE(evs); i++)
		printf("%s\"%s\":%llu", i ? "," : "", evs[i].name,
		       (unsigned long long)d->counts[evs[i].c]);
	printf("}}\n");
	fflush(stdout);

	for (i = 0; i < ncache; i++)
		pmaps_free(&cache[i]);
	free(cache);
}

/* ---- the command ---- */

struct child {
	pid_t pid;
	int go;		/* write end: one byte = attached, exec now */
	int status;	/* read end, close-on-exec: EOF = exec'd, else its errno */
};

/*
 * Fork the command, stopped before exec until the filter is set and the
 * program attached (child_go()), so that none of its faults is missed.
 */
static int child_fork(struct child *ch, const sigset_t *oldmask)
{
	int go[2], st[2], err;
	char b;

	if (pipe2(go, O_CLOEXEC) || pipe2(st, O_CLOEXEC))
		return fail(errno, "pipe");
	fflush(stdout);
	fflush(stderr);
	ch->pid = fork();
	if (ch->pid < 0)
		return fail(errno, "fork");
	if (ch->pid == 0) {
		close(go[1]);
		close(st[0]);
		if (read(go[0], &b, 1) != 1)
			_exit(1);	/* the tracer gave up */
		close(go[0]);
		sigprocmask(SIG_SETMASK, oldmask, NULL);
		execvp(opt.cmd[0], opt.cmd);
		err = errno;
		if (write(st[1], &err, sizeof(err)) != sizeof(err))
			_exit(127);
		_exit(127);
	}
	close(go[0]);
	close(st[1]);
	ch->go = go[1];
	ch->status = st[0];
	return 0;
}

/* Let the command exec; its mappings are read as soon as it has. */
static int child_go(struct child *ch)
{
	char exe[64], path[PATH_MAX];
	ssize_t n;
	int err, i;

	if (write(ch->go, "g", 1) != 1)
		return fail(errno, "cannot start the command");
	close(ch->go);
	ch->go = -1;
	n = read(ch->status, &err, sizeof(err));
	close(ch->status);
	ch->status = -1;
	if (n == sizeof(err))
		return fail(err, "cannot run %s", opt.cmd[0]);
	/*
	 * exec closed the pipe before it mapped the binary: give it a moment
	 * (a short command may be gone by the first tick).
	 */
	snprintf(exe, sizeof(exe), "/proc/%d/exe", ch->pid);
	n = readlink(exe, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	for (i = 0; i < 200; i++) {
		if (pmaps_read(&run.target, ch->pid, n > 0 ? path : NULL))
			break;
		usleep(1000);
	}
	return 0;
}

static void child_abort(struct child *ch)
{
	if (ch->go >= 0)
		close(ch->go);	/* the child exits without running the command */
	if (ch->status >= 0)
		close(ch->status);
	waitpid(ch->pid, NULL, 0);
}

/* ---- main ---- */

static void ts_add_ms(struct timespec *t, long long ms)
{
	long long ns = t->tv_nsec + ms % 1000 * 1000000;

	t->tv_sec += ms / 1000 + ns / 1000000000;
	t->tv_nsec = ns % 1000000000;
}

/* Milliseconds from now to @t, rounded up, at least 0. */
static int ms_until(const struct timespec *t)
{
	struct timespec now;
	long long ns;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (long long)(t->tv_sec - now.tv_sec) * 1000000000 + t->tv_nsec - now.tv_nsec;
	if (ns <= 0)
		return 0;
	ns = (ns + 999999) / 1000000;
	return ns > INT_MAX ? INT_MAX : (int)ns;
}

static int trace(struct tinydsm_trace *skel, int sfd, int pidfd, pid_t child)
{
	struct state prev = { 0 }, cur, d;
	struct timespec next_tick = run.start, deadline = run.start;
	struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN },
				 { .fd = pidfd, .events = POLLIN } };
	char title[96];
	int timeout, ret = 0;
	bool done = false;
	time_t now;

	ts_add_ms(&next_tick, opt.interval);
	if (opt.duration)
		ts_add_ms(&deadline, opt.duration);

	while (!done) {
		timeout = ms_until(&next_tick);
		if (opt.duration && ms_until(&deadline) < timeout)
			timeout = ms_until(&deadline);
		if (poll(pfd, pidfd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR) {
			ret = fail(errno, "poll");
			break;
		}
		if (pfd[0].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(sfd, &si, sizeof(si)) == sizeof(si))
				done = true;	/* SIGINT or SIGTERM: print the totals */
		}
		if (pidfd >= 0 && (pfd[1].revents & POLLIN)) {
			done = true;		/* the process exited */
			if (child > 0)
				waitpid(child, NULL, 0);
		}
		if (opt.duration && !ms_until(&deadline))
			done = true;
		if (done || ms_until(&next_tick))
			continue;

		/* A tick: the target may have mapped more since. */
		ts_add_ms(&next_tick, opt.interval);
		if (run.tgid)
			pmaps_read(&run.target, run.tgid, NULL);
		if (opt.json)
			continue;
		ret = state_read(skel, &cur);
		if (ret)
			break;
		ret = state_delta(&cur, &prev, &d);
		state_free(&prev);
		prev = cur;
		if (ret)
			break;
		now = time(NULL);
		strftime(title, sizeof(title), "%H:%M:%S", localtime(&now));
		snprintf(title + strlen(title), sizeof(title) - strlen(title),
			 " last %.1f s", opt.interval / 1000.0);
		print_block(&d, title);
		state_free(&d);
	}
	state_free(&prev);
	if (ret)
		return ret;

	/* The totals since the start. */
	if (state_read(skel, &cur))
		return 1;
	ret = state_delta(&cur, NULL, &d);
	state_free(&cur);
	if (ret)
		return ret;
	if (opt.json) {
		print_json(&d, since(&run.start));
	} else {
		snprintf(title, sizeof(title), "totals after %.1f s", since(&run.start));
		print_block(&d, title);
	}
	state_free(&d);
	return 0;
}

int main(int argc, char **argv)
{
	struct child ch = { .pid = -1, .go = -1, .status = -1 };
	struct tinydsm_trace *skel = NULL;
	sigset_t mask, oldmask;
	int err, sfd, pidfd = -1, ret = 1;

	err = parse_args(argc, argv);
	if (err)
		return err;

	if (geteuid() != 0)
		return fail(EPERM, "must run as root (loads BPF programs, reads tracefs)");
	if (access(MODULE_DIR, F_OK))
		return fail(errno, "tinydsm module not loaded (%s)", MODULE_DIR);
	if (tracefs_mount() || check_events())
		return 1;
	run.node_id = read_node_id();
	if (run.node_id < 0)
		return fail(errno, "cannot read the node id (%s)", NODE_ID_PARAM);

	if (opt.pid) {
		if (kill(opt.pid, 0) && errno == ESRCH)
			return fail(ESRCH, "no process %d", opt.pid);
		pidfd = syscall(SYS_pidfd_open, opt.pid, 0);
		if (pidfd < 0)
			return fail(errno, "pidfd_open(%d)", opt.pid);
		run.tgid = opt.pid;
		pmaps_read(&run.target, run.tgid, NULL);
	}

	/* SIGINT/SIGTERM end the trace through a signalfd; the command gets them back. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &mask, &oldmask))
		return fail(errno, "sigprocmask");
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		return fail(errno, "signalfd");

	if (opt.cmd) {
		if (child_fork(&ch, &oldmask))
			return 1;
		run.tgid = ch.pid;
		pidfd = syscall(SYS_pidfd_open, ch.pid, 0);
		if (pidfd < 0) {
			fail(errno, "pidfd_open(%d)", ch.pid);
			goto out;
		}
	}

	libbpf_set_print(libbpf_print);
	skel = tinydsm_trace__open();
	if (!skel) {
		fail(errno, "cannot open the BPF program");
		goto out;
	}
	skel->rodata->targ_tgid = run.tgid;
	skel->rodata->page_mask = ~((uint64_t)sysconf(_SC_PAGESIZE) - 1);
	err = tinydsm_trace__load(skel);
	if (err) {
		fail(-err, "cannot load the BPF program");
		goto out;
	}
	err = tinydsm_trace__attach(skel);
	if (err) {
		fail(-err, "cannot attach to the tinydsm tracepoints");
		goto out;
	}

	clock_gettime(CLOCK_MONOTONIC, &run.start);
	if (opt.cmd && child_go(&ch))
		goto out;
	if (run.tgid)
		fprintf(stderr, PROG ": attached on node %d, tracing pid %d%s\n",
			run.node_id, run.tgid,
			opt.cmd ? "" : "; Ctrl-C to stop");
	else
		fprintf(stderr, PROG ": attached on node %d, tracing every process; Ctrl-C to stop\n",
			run.node_id);

	ret = trace(skel, sfd, pidfd, opt.cmd ? ch.pid : 0);
	if (opt.cmd)
		ch.pid = -1;	/* reaped, or left running after -d/a signal */
out:
	if (ch.pid > 0 && ret)
		child_abort(&ch);
	tinydsm_trace__destroy(skel);
	pmaps_free(&run.target);
	return ret;
}
