// SPDX-License-Identifier: GPL-2.0
/*
 * tdd_spec: a job's argv, environment and working directory, bounded, and
 * their encoding on tinydsmd's lines (tdd_spec.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tdd_spec.h"

const char *const tdd_spec_verbs[TDD_SPEC_NPARTS] = {
	[TDD_SPEC_CWD] = "run-cwd",
	[TDD_SPEC_ARG] = "run-arg",
	[TDD_SPEC_ENV] = "run-env",
};

static const char hexdig[] = "0123456789ABCDEF";

static bool enc_plain(unsigned char c)
{
	return c > ' ' && c < 0x7f && c != '%';
}

size_t tdd_enc(char *dst, size_t size, const void *src, size_t len)
{
	const unsigned char *s = src;
	size_t i, o = 0;

	if (!size)
		return 0;
	for (i = 0; i < len; i++) {
		if (enc_plain(s[i])) {
			if (o + 1 >= size)
				break;
			dst[o++] = s[i];
		} else {
			if (o + 3 >= size)
				break;
			dst[o++] = '%';
			dst[o++] = hexdig[s[i] >> 4];
			dst[o++] = hexdig[s[i] & 15];
		}
	}
	dst[o] = '\0';
	return i;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

ssize_t tdd_dec(void *dst, size_t size, const char *enc)
{
	unsigned char *d = dst;
	size_t o = 0;
	int hi, lo;

	while (*enc) {
		if (o == size)
			return -1;
		if (*enc == '%') {
			hi = hexval(enc[1]);
			lo = hi < 0 ? -1 : hexval(enc[2]);
			if (lo < 0)
				return -1;
			d[o++] = hi << 4 | lo;
			enc += 3;
		} else if (enc_plain(*enc)) {
			d[o++] = *enc++;
		} else {
			return -1;
		}
	}
	return o;
}

void tdd_spec_init(struct tdd_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->last = -1;
}

static int spec_fail(struct tdd_spec *s, int e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int spec_fail(struct tdd_spec *s, int e, const char *fmt, ...)
{
	va_list ap;

	if (s->err)
		return s->err;
	s->err = e;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	return e;
}

/* The length of the last item of a list buffer (without its NUL). */
static size_t last_len(const char *buf, size_t len)
{
	size_t i = len - 1;	/* its NUL */

	while (i && buf[i - 1])
		i--;
	return len - 1 - i;
}

int tdd_spec_add(struct tdd_spec *s, enum tdd_spec_part part, bool cont,
		 const void *data, size_t len)
{
	static const char *const names[] = { "working directory", "argument",
					     "environment entry" };
	size_t *blen, bmax, imax, cur = 0;
	int *count, cmax;
	char *buf;

	if (s->err)
		return s->err;
	if ((int)part < 0 || part >= TDD_SPEC_NPARTS)
		return spec_fail(s, EINVAL, "unknown part of a job");
	if (memchr(data, '\0', len))
		return spec_fail(s, EINVAL, "a NUL byte in an %s", names[part]);
	if (cont && s->last != (int)part)
		return spec_fail(s, EINVAL, "a continued %s that was never begun",
				 names[part]);
	if (part == TDD_SPEC_CWD) {
		if (!cont && s->cwd_set)
			return spec_fail(s, EINVAL, "two working directories");
		if (s->cwd_len + len >= TDD_RUN_CWD_MAX)
			return spec_fail(s, E2BIG, "the working directory is longer than %d bytes",
					 TDD_RUN_CWD_MAX - 1);
		memcpy(s->cwd + s->cwd_len, data, len);
		s->cwd_len += len;
		s->cwd[s->cwd_len] = '\0';
		s->cwd_set = true;
		s->last = part;
		return 0;
	}
	if (part == TDD_SPEC_ARG) {
		buf = s->argv, blen = &s->argv_len, bmax = TDD_RUN_ARGV_BYTES;
		count = &s->argc, cmax = TDD_RUN_ARGC_MAX, imax = TDD_RUN_ARG_MAX;
	} else {
		buf = s->env, blen = &s->env_len, bmax = TDD_RUN_ENV_BYTES;
		count = &s->envc, cmax = TDD_RUN_ENVC_MAX, imax = TDD_RUN_ENV_ITEM_MAX;
	}
	if (cont) {
		cur = last_len(buf, *blen);
		(*blen)--;		/* over its NUL */
	} else if (*count == cmax) {
		return spec_fail(s, E2BIG, "more than %d %ss", cmax,
				 part == TDD_SPEC_ARG ? "argument" : "environment entrie");
	}
	if (cur + len > imax)
		return spec_fail(s, E2BIG, "an %s longer than %zu bytes", names[part], imax);
	if (*blen + len + 1 > bmax)
		return spec_fail(s, E2BIG, "%s larger than %zu bytes",
				 part == TDD_SPEC_ARG ? "the arguments are" : "the environment is",
				 bmax);
	memcpy(buf + *blen, data, len);
	*blen += len;
	buf[(*blen)++] = '\0';
	if (!cont)
		(*count)++;
	s->last = part;
	return 0;
}

int tdd_spec_add_enc(struct tdd_spec *s, enum tdd_spec_part part, bool cont,
		     const char *enc)
{
	char buf[TDD_RUN_ENC_MAX + 1];
	ssize_t n;

	if (s->err)
		return s->err;
	if (!enc)
		return spec_fail(s, EINVAL, "a job line without its value (v=)");
	if (strlen(enc) > TDD_RUN_ENC_MAX)
		return spec_fail(s, EINVAL, "a value of more than %d encoded bytes on one line",
				 TDD_RUN_ENC_MAX);
	n = tdd_dec(buf, sizeof(buf), enc);
	if (n < 0)
		return spec_fail(s, EINVAL, "a malformed encoded value");
	return tdd_spec_add(s, part, cont, buf, n);
}

const char *tdd_spec_item(const struct tdd_spec *s, enum tdd_spec_part part,
			  int i)
{
	const char *p, *end;
	int n;

	if (part == TDD_SPEC_ARG) {
		p = s->argv, end = s->argv + s->argv_len, n = s->argc;
	} else if (part == TDD_SPEC_ENV) {
		p = s->env, end = s->env + s->env_len, n = s->envc;
	} else {
		return i == 0 && s->cwd_set ? s->cwd : NULL;
	}
	if (i < 0 || i >= n)
		return NULL;
	while (i-- && p < end)
		p += strlen(p) + 1;
	return p < end ? p : NULL;
}

int tdd_spec_check(struct tdd_spec *s)
{
	const char *e;
	int i;

	if (s->err)
		return s->err;
	if (!s->argc || !s->argv[0])
		return spec_fail(s, EINVAL, "no program to run");
	if (!s->cwd_set || s->cwd[0] != '/')
		return spec_fail(s, EINVAL, "the working directory must be an absolute path");
	for (i = 0; i < s->envc; i++) {
		e = tdd_spec_item(s, TDD_SPEC_ENV, i);
		if (!e || !strchr(e, '=') || e[0] == '=')
			return spec_fail(s, EINVAL, "environment entry %d is not NAME=VALUE", i);
	}
	return 0;
}

void tdd_spec_cursor_init(struct tdd_spec_cursor *c)
{
	memset(c, 0, sizeof(*c));
	c->part = TDD_SPEC_CWD;
}

int tdd_spec_next(const struct tdd_spec *s, struct tdd_spec_cursor *c,
		  const char *prefix, char *line, size_t size, size_t maxenc)
{
	char enc[TDD_RUN_ENC_MAX + 1];
	size_t len, used;

	if (maxenc > TDD_RUN_ENC_MAX)
		maxenc = TDD_RUN_ENC_MAX;
	for (;;) {
		if (c->part >= TDD_SPEC_NPARTS)
			return 0;
		if (!c->p)
			c->p = tdd_spec_item(s, c->part, c->item);
		if (!c->p) {
			c->part++;
			c->item = 0;
			c->off = 0;
			continue;
		}
		len = strlen(c->p);
		if (c->off && c->off >= len) {
			c->item++;
			c->off = 0;
			c->p = NULL;
			continue;
		}
		used = tdd_enc(enc, maxenc + 1, c->p + c->off, len - c->off);
		if (!used && len)
			return 0;	/* @maxenc holds not even one byte */
		snprintf(line, size, "%s %s%sv=%s", tdd_spec_verbs[c->part], prefix,
			 c->off ? "cont=1 " : "", enc);
		c->off += used;
		if (!len) {		/* an empty item: one line, then the next */
			c->item++;
			c->off = 0;
			c->p = NULL;
		}
		return 1;
	}
}

void tdd_run_place(uint32_t nranks, uint32_t nnodes, uint32_t per_node,
		   uint32_t k, uint32_t *first, uint32_t *step, uint32_t *count)
{
	*first = *step = *count = 0;
	if (!nnodes || k >= nnodes)
		return;
	if (per_node) {
		*first = k * per_node;
		*step = 1;
		*count = *first < nranks ? nranks - *first : 0;
		if (*count > per_node)
			*count = per_node;
		return;
	}
	*first = k;
	*step = nnodes;
	*count = k < nranks ? (nranks - k + nnodes - 1) / nnodes : 0;
}
