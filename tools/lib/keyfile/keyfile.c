// SPDX-License-Identifier: GPL-2.0
/*
 * The cluster key file (keyfile.h): read and generate, with libsodium.
 * Every copy of the key on our stack is wiped (sodium_memzero) before
 * returning, whatever the outcome.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "keyfile.h"

#define HEX_LEN		(2 * TINYDSM_KEY_LEN)

static int fail(char *err, size_t errlen, int e, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Put the message in @err and return -@e. */
static int fail(char *err, size_t errlen, int e, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -e;
}

static int init_sodium(char *err, size_t errlen)
{
	if (sodium_init() < 0)
		return fail(err, errlen, EIO, "libsodium cannot initialise (sodium_init failed)");
	return 0;
}

int tdsm_key_read(const char *path, uint8_t key[TINYDSM_KEY_LEN],
		  char *err, size_t errlen)
{
	/* One more byte than a valid file can have: to see "too long". */
	char buf[HEX_LEN + 3];
	uint8_t k[TINYDSM_KEY_LEN];
	size_t len = 0, bin_len = 0;
	struct stat st;
	ssize_t n;
	int fd, e;

	e = init_sodium(err, errlen);
	if (e)
		return e;
	/* O_NOFOLLOW is not wanted: a symlink to a good file is fine. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		e = errno;
		return fail(err, errlen, e, "%s: cannot open the key file: %s",
			    path, strerror(e));
	}
	if (fstat(fd, &st)) {
		e = errno;
		close(fd);
		return fail(err, errlen, e, "%s: %s", path, strerror(e));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, EINVAL, "%s: not a regular file", path);
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		return fail(err, errlen, EACCES,
			    "%s: mode %04o lets %s access the cluster key: run chmod 600 %s",
			    path, (unsigned int)(st.st_mode & 07777),
			    st.st_mode & S_IRWXO ? "others" : "the group", path);
	}
	while (len < sizeof(buf) &&
	       (n = read(fd, buf + len, sizeof(buf) - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			e = errno;
			close(fd);
			sodium_memzero(buf, sizeof(buf));
			return fail(err, errlen, e, "%s: read: %s", path, strerror(e));
		}
		len += n;
	}
	close(fd);
	e = 0;
	if (len == HEX_LEN + 1 && buf[HEX_LEN] == '\n')
		len = HEX_LEN;
	if (len != HEX_LEN) {
		e = fail(err, errlen, EINVAL,
			 "%s: not a key file: it must hold exactly %d hex digits (and a newline), as tinydsmctl key generate writes",
			 path, HEX_LEN);
	} else if (sodium_hex2bin(k, sizeof(k), buf, HEX_LEN, NULL, &bin_len, NULL) ||
		   bin_len != sizeof(k)) {
		e = fail(err, errlen, EINVAL,
			 "%s: not a key file: a character is not a hex digit (want %d hex digits)",
			 path, HEX_LEN);
	} else if (sodium_is_zero(k, sizeof(k))) {
		e = fail(err, errlen, EINVAL,
			 "%s: the key is all zero: generate one with tinydsmctl key generate --force %s",
			 path, path);
	} else {
		memcpy(key, k, sizeof(k));
	}
	sodium_memzero(k, sizeof(k));
	sodium_memzero(buf, sizeof(buf));
	return e;
}

/* Write all of @buf to @fd and fsync it; 0 or -errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= n;
	}
	return fsync(fd) ? -errno : 0;
}

/* fsync the directory of @path, so that a new name survives a crash. */
static void sync_dir(const char *path)
{
	char dir[PATH_MAX];
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int tdsm_key_generate(const char *path, bool force, char *err, size_t errlen)
{
	char hex[HEX_LEN + 2], tmp[PATH_MAX], dir[PATH_MAX];
	uint8_t k[TINYDSM_KEY_LEN];
	const char *target = path;
	int fd, e;

	e = init_sodium(err, errlen);
	if (e)
		return e;
	if (force) {
		/* A new file beside it, renamed over it: never half a key. */
		snprintf(dir, sizeof(dir), "%s", path);
		if (snprintf(tmp, sizeof(tmp), "%s/.tinydsm-key.XXXXXX",
			     dirname(dir)) >= (int)sizeof(tmp))
			return fail(err, errlen, ENAMETOOLONG, "%s: %s", path,
				    strerror(ENAMETOOLONG));
		fd = mkostemp(tmp, O_CLOEXEC);	/* mode 0600 */
		target = tmp;
	} else {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			  0600);
	}
	if (fd < 0) {
		e = errno;
		if (e == EEXIST)
			return fail(err, errlen, e,
				    "%s already exists: not overwritten (--force replaces it; every node needs the same key)",
				    path);
		return fail(err, errlen, e, "%s: cannot create: %s", target,
			    strerror(e));
	}
	/* The umask may have taken bits away, never added: make it exact. */
	if (fchmod(fd, 0600)) {
		e = -errno;
		goto out;
	}
	do {
		randombytes_buf(k, sizeof(k));
	} while (sodium_is_zero(k, sizeof(k)));
	sodium_bin2hex(hex, sizeof(hex), k, sizeof(k));
	hex[HEX_LEN] = '\n';
	e = write_all(fd, hex, HEX_LEN + 1);
out:
	sodium_memzero(k, sizeof(k));
	sodium_memzero(hex, sizeof(hex));
	if (close(fd) && !e)
		e = -errno;
	if (!e && force && rename(tmp, path))
		e = -errno;
	if (e) {
		unlink(target);
		return fail(err, errlen, -e, "%s: cannot write the key: %s", path,
			    strerror(-e));
	}
	sync_dir(path);
	return 0;
}
