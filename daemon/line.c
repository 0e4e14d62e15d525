// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmd: non-blocking streams of text lines, with bounded buffers. The
 * "verb key=value ... msg=free text" lines both protocols use are parsed
 * by tools/lib/ctl (tdd_ctl.h).
 *
 * A line is printable ASCII (and tabs) ending in '\n', at most
 * TDD_LINE_MAX bytes with it. Anything else from a peer is garbage: the
 * reader reports why and the caller disconnects it.
 *
 * Once a connection between daemons is authenticated (l->auth.key set,
 * members.c), every line sent gets its MAC appended and every line read
 * must carry a good one, checked and stripped before the handler sees it
 * (auth.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tinydsmd.h"

void tdd_line_init(struct tdd_line *l, int fd)
{
	l->fd = fd;
	l->rlen = 0;
	l->wlen = 0;
	memset(&l->auth, 0, sizeof(l->auth));
}

void tdd_line_close(struct tdd_line *l)
{
	if (l->fd >= 0)
		close(l->fd);
	tdd_line_init(l, -1);
}

static bool printable(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = s[i];

		if ((c < 0x20 && c != '\t' && c != '\r') || c >= 0x7f)
			return false;
	}
	return true;
}

/* The complete lines already in the buffer. */
int tdd_line_parse(struct tdd_line *l, tdd_line_fn fn, void *arg,
		   const char **why)
{
	char *nl, *start = l->rbuf;
	size_t len;
	int r = 0;

	while ((nl = memchr(start, '\n', l->rlen - (start - l->rbuf)))) {
		len = nl - start;
		if (len + 1 > TDD_LINE_MAX) {
			*why = "line too long";
			return -1;
		}
		if (!printable(start, len)) {
			*why = "binary data (not a text line)";
			return -1;
		}
		*nl = '\0';
		if (len && start[len - 1] == '\r')
			start[len - 1] = '\0';
		if (l->auth.key && tdd_auth_open(&l->auth, start)) {
			l->auth.bad_mac = true;
			*why = "a line failed its MAC (altered, replayed, reordered, dropped or forged)";
			return -1;
		}
		r = fn(arg, start, why);
		if (r < 0)
			return -1;
		if (l->fd < 0)
			return 0;	/* @fn closed it */
		start = nl + 1;
		if (r > 0)
			break;		/* @fn wants the rest kept */
	}
	len = l->rlen - (start - l->rbuf);
	if (len >= TDD_LINE_MAX && !memchr(start, '\n', len)) {
		*why = "line too long";
		return -1;
	}
	memmove(l->rbuf, start, len);
	l->rlen = len;
	return r > 0 ? 1 : 0;
}

int tdd_line_read(struct tdd_line *l, tdd_line_fn fn, void *arg,
		  const char **why)
{
	ssize_t n;
	int r;

	for (;;) {
		if (l->fd < 0)
			return 0;
		if (l->rlen == sizeof(l->rbuf)) {
			*why = "line too long";
			return -1;
		}
		n = read(l->fd, l->rbuf + l->rlen, sizeof(l->rbuf) - l->rlen);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			*why = strerror(errno);
			return -1;
		}
		if (n == 0) {
			*why = "closed by the other side";
			return -1;
		}
		l->rlen += n;
		r = tdd_line_parse(l, fn, arg, why);
		if (r)
			return r;
	}
}

int tdd_line_printf(struct tdd_line *l, const char *fmt, ...)
{
	char buf[TDD_LINE_MAX];
	va_list ap;
	int n;

	if (l->fd < 0)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;	/* cut: a line is bounded */
	/* No room: fail before the MAC counts a line that is not sent. */
	if (l->wlen + n + 1 + (l->auth.key ? TDD_MAC_SUFFIX : 0) > sizeof(l->wbuf))
		return -1;
	if (l->auth.key)
		n = tdd_auth_seal(&l->auth, buf, n, sizeof(buf));
	buf[n++] = '\n';
	if (l->wlen + n > sizeof(l->wbuf))
		return -1;
	memcpy(l->wbuf + l->wlen, buf, n);
	l->wlen += n;
	return tdd_line_flush(l);
}

int tdd_line_flush(struct tdd_line *l)
{
	ssize_t n;

	while (l->fd >= 0 && l->wlen) {
		n = send(l->fd, l->wbuf, l->wlen, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return 0;
			return -1;
		}
		memmove(l->wbuf, l->wbuf + n, l->wlen - n);
		l->wlen -= n;
	}
	return 0;
}

short tdd_line_events(const struct tdd_line *l)
{
	return POLLIN | (l->wlen ? POLLOUT : 0);
}
