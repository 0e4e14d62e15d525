/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tdd_spec: what a job of `tinydsmctl run` is (its argv, environment and
 * working directory), its bounds, and how it travels on tinydsmd's text
 * lines: tinydsmctl to its daemon, and that daemon to the others
 * (daemon/README.md, "Jobs"). Shared by tinydsmctl, tinydsmd and the host
 * test selftests/tinydsm/run_spec_test.c; no daemon state here.
 *
 * Lines are printable ASCII without blanks in a value: a byte string is
 * sent percent-encoded (every byte outside '!'..'~', and '%' itself, as
 * %XX), in pieces that fit a line: the first piece of an item starts it,
 * the others carry cont=1 and are appended to it.
 */
#ifndef TDD_SPEC_H
#define TDD_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Bounds of one job: checked by tinydsmctl, its daemon and every target. */
#define TDD_RUN_ARGC_MAX	256	/* arguments, the program included */
#define TDD_RUN_ARG_MAX		4096	/* bytes of one argument */
#define TDD_RUN_ARGV_BYTES	16384	/* all arguments, NULs included */
#define TDD_RUN_ENVC_MAX	512	/* environment entries */
#define TDD_RUN_ENV_ITEM_MAX	8192	/* bytes of one entry */
#define TDD_RUN_ENV_BYTES	32768	/* all entries, NULs included */
#define TDD_RUN_CWD_MAX		4096	/* the working directory, NUL included */
#define TDD_RUN_RANKS_MAX	1024	/* ranks of one job */
#define TDD_RUN_PER_NODE_MAX	64	/* ranks of one job on one node */
#define TDD_RUN_ENC_MAX		360	/* encoded bytes of a value on one line */

enum tdd_spec_part {
	TDD_SPEC_CWD,
	TDD_SPEC_ARG,
	TDD_SPEC_ENV,
	TDD_SPEC_NPARTS,
};

/* The line verbs of the parts: "run-cwd", "run-arg", "run-env". */
extern const char *const tdd_spec_verbs[TDD_SPEC_NPARTS];

struct tdd_spec {
	char cwd[TDD_RUN_CWD_MAX];
	size_t cwd_len;			/* 0: none yet */
	bool cwd_set;
	char argv[TDD_RUN_ARGV_BYTES];	/* argc NUL-terminated strings */
	size_t argv_len;
	int argc;
	char env[TDD_RUN_ENV_BYTES];	/* envc NUL-terminated strings */
	size_t env_len;
	int envc;
	int last;			/* the part the last item went to, -1 none */
	int err;			/* the first error: a positive errno, 0 */
	char why[160];			/* and what it was */
};

void tdd_spec_init(struct tdd_spec *s);
/*
 * Add @len bytes of @data to @part: a new item, or (@cont) the end of the
 * last item, which must be of @part. 0, or the error (also kept in
 * s->err/s->why; after one, every add fails the same way): E2BIG past a
 * bound, EINVAL for a NUL byte, a cont without its item, a second cwd.
 */
int tdd_spec_add(struct tdd_spec *s, enum tdd_spec_part part, bool cont,
		 const void *data, size_t len);
/* The same for an encoded value (a line's v=): EINVAL if malformed. */
int tdd_spec_add_enc(struct tdd_spec *s, enum tdd_spec_part part, bool cont,
		     const char *enc);
/*
 * The whole job, once every line came: 0, or the error with s->why
 * (any earlier error; no program or an empty one; a cwd that is missing
 * or not absolute; an environment entry without "NAME=").
 */
int tdd_spec_check(struct tdd_spec *s);
/* The @i-th item of a list (argv or env), NULL past the end. */
const char *tdd_spec_item(const struct tdd_spec *s, enum tdd_spec_part part,
			  int i);

/* Where tdd_spec_next() is in a spec being sent. */
struct tdd_spec_cursor {
	int part;
	int item;
	size_t off;			/* bytes of the item already sent */
	const char *p;			/* the item */
};

void tdd_spec_cursor_init(struct tdd_spec_cursor *c);
/*
 * The next line of @s to send: "VERB [cont=1] v=ENC" into @line (at most
 * @maxenc encoded bytes, and @size), with @prefix (e.g. "job=7 ") after
 * the verb. 1 when a line was made, 0 when everything was sent.
 */
int tdd_spec_next(const struct tdd_spec *s, struct tdd_spec_cursor *c,
		  const char *prefix, char *line, size_t size, size_t maxenc);

/*
 * Percent-encode bytes of @src (@len) into @dst (NUL-terminated, at most
 * @size - 1 characters): how many bytes of @src fit.
 */
size_t tdd_enc(char *dst, size_t size, const void *src, size_t len);
/* Decode @enc into @dst (at most @size bytes): the length, -1 malformed. */
ssize_t tdd_dec(void *dst, size_t size, const char *enc);

/*
 * The ranks of node @k of @nnodes: @first, @first + @step, ... (@count of
 * them), for @nranks ranks round-robin (@per_node 0) or @per_node to a
 * node in node order.
 */
void tdd_run_place(uint32_t nranks, uint32_t nnodes, uint32_t per_node,
		   uint32_t k, uint32_t *first, uint32_t *step, uint32_t *count);

#endif /* TDD_SPEC_H */
