// SPDX-License-Identifier: GPL-2.0
/*
 * tdd_ctl: tinydsmd's protocol lines and its control socket's client
 * (tdd_ctl.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "tdd_ctl.h"

int tdd_kv_parse(char *line, struct tdd_kv *kv)
{
	char *p = line, *word, *eq;

	memset(kv, 0, sizeof(*kv));
	while (*p == ' ')
		p++;
	if (!*p)
		return -1;
	kv->verb = p;
	p += strcspn(p, " ");
	while (*p) {
		*p++ = '\0';
		while (*p == ' ')
			p++;
		if (!*p)
			break;
		word = p;
		if (!strncmp(word, "msg=", 4)) {
			p += strlen(p);		/* the rest of the line */
		} else {
			p += strcspn(p, " ");
		}
		eq = memchr(word, '=', p - word);
		if (!eq || eq == word || kv->n == TDD_KV_MAX)
			return -1;
		*eq = '\0';
		kv->key[kv->n] = word;
		kv->val[kv->n] = eq + 1;
		kv->n++;
		if (!*p)
			break;
	}
	return 0;
}

const char *tdd_kv_get(const struct tdd_kv *kv, const char *key)
{
	int i;

	for (i = 0; i < kv->n; i++)
		if (!strcmp(kv->key[i], key))
			return kv->val[i];
	return NULL;
}

const char *tdd_kv_copy(const struct tdd_kv *kv, const char *key, char *buf,
			size_t size)
{
	const char *v = tdd_kv_get(kv, key);

	if (!v)
		return NULL;
	snprintf(buf, size, "%s", v);
	return buf;
}

int tdd_kv_u64(const struct tdd_kv *kv, const char *key, uint64_t *v)
{
	const char *s = tdd_kv_get(kv, key);
	unsigned long long n;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 0);
	if (errno || *end)
		return -1;
	*v = n;
	return 0;
}

int tdd_kv_u32(const struct tdd_kv *kv, const char *key, uint32_t *v)
{
	uint64_t n;

	if (tdd_kv_u64(kv, key, &n) || n > UINT32_MAX)
		return -1;
	*v = n;
	return 0;
}

bool tdd_ctl_verb(const char *line, const char *verb)
{
	size_t n = strlen(verb);

	return !strncmp(line, verb, n) && (!line[n] || line[n] == ' ');
}

int tdd_ctl_connect(const char *path, int timeout_s)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = timeout_s };
	int fd, e;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	if (timeout_s)
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

int tdd_ctl_send(int fd, const char *req)
{
	size_t len = strlen(req), off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, req + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += n;
	}
	return 0;
}

/*
 * The answer's last line has come: the @len bytes of @buf end with a whole
 * line that is "ok", or starts with "ok " or "error ". Only the line
 * itself says so: a line before it (a job's command line, say) may hold
 * either word anywhere, and a last line may arrive in pieces.
 */
static bool tdd_ctl_ended(const char *buf, size_t len)
{
	const char *last;

	if (!len || buf[len - 1] != '\n')
		return false;
	last = buf + len - 1;
	while (last > buf && last[-1] != '\n')
		last--;
	return !strncmp(last, "ok\n", 3) || !strncmp(last, "ok ", 3) ||
	       !strncmp(last, "error ", 6);
}

int tdd_ctl_request(const char *path, const char *req, char *buf, size_t size,
		    int timeout_s)
{
	int fd = tdd_ctl_connect(path, timeout_s);
	size_t len = 0;
	ssize_t n;

	buf[0] = '\0';
	if (fd < 0)
		return -1;
	if (tdd_ctl_send(fd, req)) {
		close(fd);
		return -1;
	}
	while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0) {
		len += n;
		buf[len] = '\0';
		if (tdd_ctl_ended(buf, len))
			break;
	}
	close(fd);
	return 0;
}
