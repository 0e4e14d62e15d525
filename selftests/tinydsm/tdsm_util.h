/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the single-node tests share (daemon_test.c, tinydsmctl_test.c,
 * region_test.c, trace_test.c): this node's id, a byte read and written
 * out of line, where a program is built next to this test, and running a
 * program with its exit status, stdout and stderr captured.
 *
 * Include it after _GNU_SOURCE; a test may set TU_OUT_MAX (how much of a
 * program's stdout and of its stderr is kept, default 65536) before.
 */
#ifndef TDSM_UTIL_H
#define TDSM_UTIL_H

#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef TU_OUT_MAX
#define TU_OUT_MAX	65536
#endif
#define TU_NOBODY	65534

/* TDSM_NODE_ID (set by the lab), 1 without it. */
static inline unsigned int tu_node_id(void)
{
	const char *id = getenv("TDSM_NODE_ID");

	return id ? (unsigned int)atoi(id) : 1;
}

/*
 * One read and one write of a byte, out of line (neither inlined nor
 * cloned), so that a test knows the IP of the access that faults.
 */
static __attribute__((noinline, noclone, unused))
uint8_t tu_read_byte(volatile uint8_t *p)
{
	return *p;
}

static __attribute__((noinline, noclone, unused))
void tu_write_byte(volatile uint8_t *p, uint8_t v)
{
	*p = v;
}

/*
 * "<this test's directory>/../@sub" in @buf (build/selftests/<test> ->
 * build/@sub); NULL if /proc/self/exe cannot say or @buf is too short.
 */
static inline const char *tu_beside(char *buf, size_t size, const char *sub)
{
	char exe[PATH_MAX], *slash;
	ssize_t n;

	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	if (snprintf(buf, size, "%.*s/../%s", (int)(size - 64), exe, sub) >=
	    (int)size)
		return NULL;
	return buf;
}

/* All of @fd from its start, as a string cut to @size; closes @fd. */
static inline void tu_slurp(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	lseek(fd, 0, SEEK_SET);
	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += n;
	buf[len] = '\0';
	close(fd);
}

struct tu_run {
	int rc;				/* exit status, -1 if killed */
	char out[TU_OUT_MAX];		/* stdout */
	char err[TU_OUT_MAX];		/* stderr */
};

/* How tu_run_prog() runs the program. */
enum tu_how {
	TU_AS_ROOT,
	TU_AS_NOBODY,
	TU_IN_NEW_NETNS,
	TU_NO_DEVICE,		/* TINYDSM_DEV names no device */
};

/*
 * Run @prog with @argv (NULL-terminated, argv[0] included), stdin from
 * @in (or nothing), as @how says; wait for it.
 */
static inline void tu_run_prog(struct tu_run *r, enum tu_how how,
			       const char *in, const char *prog,
			       char *const argv[])
{
	int ofd = memfd_create("out", 0), efd = memfd_create("err", 0);
	int ifd = memfd_create("in", 0), status;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->rc = -1;
	if (ofd < 0 || efd < 0 || ifd < 0)
		return;
	if (in && write(ifd, in, strlen(in)) != (ssize_t)strlen(in))
		return;
	lseek(ifd, 0, SEEK_SET);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		dup2(ifd, 0);
		dup2(ofd, 1);
		dup2(efd, 2);
		if (how == TU_AS_NOBODY &&
		    (setgroups(0, NULL) || setgid(TU_NOBODY) || setuid(TU_NOBODY)))
			_exit(120);
		if (how == TU_IN_NEW_NETNS && unshare(CLONE_NEWNET))
			_exit(121);
		if (how == TU_NO_DEVICE &&
		    setenv("TINYDSM_DEV", "/nonexistent/tinydsm", 1))
			_exit(122);
		execvp(prog, argv);
		_exit(127);
	}
	close(ifd);
	if (waitpid(pid, &status, 0) == pid && WIFEXITED(status))
		r->rc = WEXITSTATUS(status);
	tu_slurp(ofd, r->out, sizeof(r->out));
	tu_slurp(efd, r->err, sizeof(r->err));
}

/* @prog with the arguments in one string (printf-style), split at blanks. */
static inline void __attribute__((format(printf, 4, 5)))
tu_run_str(struct tu_run *r, enum tu_how how, const char *prog,
	   const char *fmt, ...)
{
	char line[1024], *argv[32], *tok, *save;
	va_list ap;
	int argc = 0;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	argv[argc++] = (char *)prog;
	for (tok = strtok_r(line, " ", &save); tok && argc < 31;
	     tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	argv[argc] = NULL;
	tu_run_prog(r, how, NULL, prog, argv);
}

#endif /* TDSM_UTIL_H */
