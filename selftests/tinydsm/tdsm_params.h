/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one-value files of sysfs, debugfs and procfs that the single-node
 * selftests (module_test.c, priv_test.c, region_test.c) and
 * migration_test.c read and write: the module's parameters, the kernel's
 * and the module's fault-injection knobs; and the kernel log, where a
 * refused parameter says why.
 */
#ifndef TDSM_PARAMS_H
#define TDSM_PARAMS_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TDSM_PARAM_DIR	"/sys/module/tinydsm/parameters"

/* Open @dir/@knob with @flags: the fd, or -1 and errno. */
static inline int knob_open(const char *dir, const char *knob, int flags)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, knob);
	return open(path, flags | O_CLOEXEC);
}

/* Write @val to @dir/@knob: 0, or -1 (with errno unless the write was short). */
static inline int knob_write(const char *dir, const char *knob, const char *val)
{
	int fd = knob_open(dir, knob, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

/* @dir/@knob into @buf, at most @len - 1 bytes and a NUL: 0, or -1. */
static inline int knob_read(const char *dir, const char *knob, char *buf,
			    size_t len)
{
	int fd = knob_open(dir, knob, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* @dir/@knob as a number, strtol() in @base; -1 on error. */
static inline long knob_long(const char *dir, const char *knob, int base)
{
	char buf[32];

	if (knob_read(dir, knob, buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, base);
}

/* Write @val to the parameter @name of the loaded module: 0, or -1 and errno. */
static inline int param_write(const char *name, const char *val)
{
	return knob_write(TDSM_PARAM_DIR, name, val);
}

/* The parameter @name as a string, without its newline: 0, or -1. */
static inline int param_read(const char *name, char *buf, size_t len)
{
	if (knob_read(TDSM_PARAM_DIR, name, buf, len))
		return -1;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* The parameter @name as a number; -1 on error. */
static inline long param_long(const char *name)
{
	return knob_long(TDSM_PARAM_DIR, name, 10);
}

/* How many lines of the kernel log contain @what; -1 on error. */
static inline int klog_count(const char *what)
{
	char line[512];
	int n = 0;
	FILE *f;

	f = popen("dmesg 2>/dev/null", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, what) != NULL;
	pclose(f);
	return n;
}

#endif /* TDSM_PARAMS_H */
