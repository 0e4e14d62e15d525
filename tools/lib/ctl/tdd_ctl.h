/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tdd_ctl: tinydsmd's line protocol, for the daemon, tinydsmctl and the
 * tests. One parser of its "verb key=value ... msg=free text" lines (the
 * control socket's and the daemons' own), and one client of the control
 * socket (a unix stream socket: one request line, answered by zero or more
 * lines and then one "ok ..." or "error errno=NAME msg=..." line; the
 * protocol is in daemon/README.md).
 */
#ifndef TDD_CTL_H
#define TDD_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "key=value" words of a protocol line; msg= takes the rest of the line. */
#define TDD_KV_MAX	24
struct tdd_kv {
	int n;
	const char *verb;
	const char *key[TDD_KV_MAX];
	const char *val[TDD_KV_MAX];
};

/*
 * Split @line in place into its verb and key=value words: 0, or -1 if it
 * is empty, has a word without '=' or more than TDD_KV_MAX of them.
 */
int tdd_kv_parse(char *line, struct tdd_kv *kv);
const char *tdd_kv_get(const struct tdd_kv *kv, const char *key);
/* The value of @key copied into @buf (cut at @size); NULL if absent. */
const char *tdd_kv_copy(const struct tdd_kv *kv, const char *key, char *buf,
			size_t size);
/* A decimal or 0x number, all of the value: 0, or -1 (absent, not one). */
int tdd_kv_u64(const struct tdd_kv *kv, const char *key, uint64_t *v);
int tdd_kv_u32(const struct tdd_kv *kv, const char *key, uint32_t *v);

/* Whether @line is the verb @verb: "ok" or "ok ...", not "okay". */
bool tdd_ctl_verb(const char *line, const char *verb);

/*
 * Connect to the control socket at @path; replies time out after
 * @timeout_s seconds (0: never). The fd, or -1 with errno set.
 */
int tdd_ctl_connect(const char *path, int timeout_s);
/* Send all of @req (a line with its '\n'): 0, or -1 with errno set. */
int tdd_ctl_send(int fd, const char *req);
/*
 * One request on a connection of its own: the answer's lines, as they
 * came, into @buf (NUL-terminated, cut at @size) up to the "ok" or
 * "error" line. 0, or -1 if the daemon could not be reached.
 */
int tdd_ctl_request(const char *path, const char *req, char *buf, size_t size,
		    int timeout_s);

#endif /* TDD_CTL_H */
