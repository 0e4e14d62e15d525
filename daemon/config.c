// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmd: the cluster configuration file.
 *
 * Line based; '#' starts a comment; words are separated by blanks.
 *
 *   node ID name NAME addr ADDR [rdma-port PORT] [control-port PORT]
 *   self NAME
 *   heartbeat-ms MS
 *   dead-after-ms MS
 *   request-timeout-ms MS
 *   migrate-chunk-pages N
 *   socket PATH
 *   key-file PATH
 *   allow-unauthenticated yes|no
 *   run-allow-root yes|no
 *   run-kill-grace-ms MS
 *
 * A setting may also be written "key_file = PATH": '_' for '-' in its
 * keyword, and a "=" word after it.
 *
 * Every error names the file and the line: "tinydsmd: FILE:LINE: ...";
 * errors about the file as a whole name its last line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

#define TDD_MAX_WORDS	16

static void conf_err(const struct tdd_config *cfg, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void conf_err(const struct tdd_config *cfg, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "tinydsmd: %s:%d: ", cfg->file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A decimal number in [min, max]: digits only, no sign, no blanks. */
static int parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned long *v)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*v = strtoul(s, &end, 10);
	if (errno || *end || *v < min || *v > max)
		return -1;
	return 0;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= TDD_NAME_MAX)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static int parse_addr(const char *s, struct sockaddr_storage *ss,
		      socklen_t *len)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		*len = sizeof(*sin);
		return 0;
	}
	if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		*len = sizeof(*sin6);
		return 0;
	}
	return -1;
}

const char *tdd_addr_str(const struct sockaddr_storage *ss, char *buf,
			 size_t size)
{
	const void *a;

	if (ss->ss_family == AF_INET)
		a = &((const struct sockaddr_in *)ss)->sin_addr;
	else if (ss->ss_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	else
		a = NULL;
	if (!a || !inet_ntop(ss->ss_family, a, buf, size))
		snprintf(buf, size, "?");
	return buf;
}

bool tdd_same_addr(const struct sockaddr_storage *a,
		   const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr,
		       sizeof(struct in6_addr));
}

static int parse_port(const struct tdd_config *cfg, int line, const char *key,
		      const char *s, uint16_t *port)
{
	unsigned long v;

	if (!s) {
		conf_err(cfg, line, "%s needs a port number", key);
		return -1;
	}
	if (parse_uint(s, 1, 65535, &v)) {
		conf_err(cfg, line, "%s \"%s\" is not a port number (1..65535)",
			 key, s);
		return -1;
	}
	*port = v;
	return 0;
}

/* A node's port option @key (rdma-port, control-port): once, and valid. */
static int node_port(const struct tdd_config *cfg, int line, unsigned long id,
		     const char *key, const char *val, bool *seen, uint16_t *port)
{
	if (*seen) {
		conf_err(cfg, line, "node %lu: %s given twice", id, key);
		return -1;
	}
	*seen = true;
	return parse_port(cfg, line, key, val, port);
}

/* node ID name NAME addr ADDR [rdma-port PORT] [control-port PORT] */
static int parse_node(struct tdd_config *cfg, int line, char **w, int nw)
{
	struct tdd_node *n, *o;
	bool have_rdma = false, have_ctl = false;
	unsigned long id;
	int i;

	if (nw < 2) {
		conf_err(cfg, line, "node needs an id: node ID name NAME addr ADDR");
		return -1;
	}
	if (parse_uint(w[1], 1, TINYDSM_MAX_NODES - 1, &id)) {
		conf_err(cfg, line, "bad node id \"%s\": must be 1..%d", w[1],
			 TINYDSM_MAX_NODES - 1);
		return -1;
	}
	for (i = 0; i < cfg->nnodes; i++) {
		if (cfg->nodes[i].id == id) {
			conf_err(cfg, line, "duplicate node id %lu (first on line %d)",
				 id, cfg->nodes[i].line);
			return -1;
		}
	}
	if (cfg->nnodes == (int)(sizeof(cfg->nodes) / sizeof(cfg->nodes[0]))) {
		conf_err(cfg, line, "too many nodes");
		return -1;
	}
	n = &cfg->nodes[cfg->nnodes];
	memset(n, 0, sizeof(*n));
	n->id = id;
	n->line = line;
	n->ctl_port = TDD_DEFAULT_CTL_PORT;

	for (i = 2; i < nw; i += 2) {
		const char *key = w[i], *val = i + 1 < nw ? w[i + 1] : NULL;

		if (!strcmp(key, "name")) {
			if (n->name[0]) {
				conf_err(cfg, line, "node %lu: name given twice", id);
				return -1;
			}
			if (!val || !valid_name(val)) {
				conf_err(cfg, line, "bad node name \"%s\": 1..%d characters of [a-z0-9_-]",
					 val ? val : "", TDD_NAME_MAX - 1);
				return -1;
			}
			snprintf(n->name, sizeof(n->name), "%s", val);
		} else if (!strcmp(key, "addr")) {
			if (n->addrlen) {
				conf_err(cfg, line, "node %lu: addr given twice", id);
				return -1;
			}
			if (!val || parse_addr(val, &n->addr, &n->addrlen)) {
				conf_err(cfg, line, "bad address \"%s\": not an IPv4 or IPv6 address",
					 val ? val : "");
				return -1;
			}
		} else if (!strcmp(key, "rdma-port")) {
			if (node_port(cfg, line, id, key, val, &have_rdma, &n->rdma_port))
				return -1;
		} else if (!strcmp(key, "control-port")) {
			if (node_port(cfg, line, id, key, val, &have_ctl, &n->ctl_port))
				return -1;
		} else {
			conf_err(cfg, line, "unknown node option \"%s\" (name, addr, rdma-port, control-port)",
				 key);
			return -1;
		}
	}
	if (!n->name[0]) {
		conf_err(cfg, line, "node %lu has no name (node ID name NAME addr ADDR)", id);
		return -1;
	}
	if (!n->addrlen) {
		conf_err(cfg, line, "node %lu has no addr (node ID name NAME addr ADDR)", id);
		return -1;
	}
	for (i = 0; i < cfg->nnodes; i++) {
		char buf[INET6_ADDRSTRLEN];

		o = &cfg->nodes[i];
		if (!strcmp(o->name, n->name)) {
			conf_err(cfg, line, "duplicate node name \"%s\" (first on line %d)",
				 n->name, o->line);
			return -1;
		}
		if (tdd_same_addr(&o->addr, &n->addr)) {
			conf_err(cfg, line, "address %s is already node %s's (line %d)",
				 tdd_addr_str(&n->addr, buf, sizeof(buf)),
				 o->name, o->line);
			return -1;
		}
	}
	cfg->nnodes++;
	return 0;
}

/* "KEY N": a number setting, given at most once. */
/*
 * A path setting (socket, key-file) into @buf: given once (*@seen: the
 * line it came from), one absolute path that fits. @hint ends the error.
 */
static int parse_path(const struct tdd_config *cfg, int line, char **w, int nw,
		      char *buf, size_t size, int *seen, const char *hint)
{
	if (*seen) {
		conf_err(cfg, line, "%s given twice (first on line %d)", w[0], *seen);
		return -1;
	}
	if (nw != 2 || w[1][0] != '/' || strlen(w[1]) >= size) {
		conf_err(cfg, line, "%s needs one absolute path of at most %zu characters%s",
			 w[0], size - 1, hint);
		return -1;
	}
	snprintf(buf, size, "%s", w[1]);
	*seen = line;
	return 0;
}

static int parse_setting(struct tdd_config *cfg, int line, char **w, int nw,
			 unsigned long min, unsigned long max,
			 unsigned int *v, int *seen)
{
	unsigned long n;

	if (*seen) {
		conf_err(cfg, line, "%s given twice (first on line %d)", w[0], *seen);
		return -1;
	}
	if (nw != 2 || parse_uint(w[1], min, max, &n)) {
		conf_err(cfg, line, "%s needs one number, %lu..%lu", w[0], min, max);
		return -1;
	}
	*v = n;
	*seen = line;
	return 0;
}

/* Split @s at blanks into at most TDD_MAX_WORDS words; -1 if more. */
static int split(char *s, char **w)
{
	int n = 0;
	char *save, *tok;

	for (tok = strtok_r(s, " \t\r", &save); tok;
	     tok = strtok_r(NULL, " \t\r", &save)) {
		if (n == TDD_MAX_WORDS)
			return -1;
		w[n++] = tok;
	}
	return n;
}

int tdd_config_load(struct tdd_config *cfg, const char *file)
{
	int seen_hb = 0, seen_dead = 0, seen_sock = 0, seen_chunk = 0;
	int seen_req = 0, seen_grace = 0, line = 0, nw, ret = -1;
	char buf[TDD_CONF_LINE_MAX + 2], *w[TDD_MAX_WORDS], *hash;
	size_t len;
	FILE *f;

	memset(cfg, 0, sizeof(*cfg));
	cfg->file = file;
	cfg->heartbeat_ms = TDD_DEFAULT_HEARTBEAT;
	cfg->dead_after_ms = TDD_DEFAULT_DEAD_AFTER;
	cfg->chunk_pages = TDD_DEFAULT_CHUNK;
	cfg->request_timeout_ms = TDD_DEFAULT_REQ_TIMEOUT;
	cfg->run_grace_ms = TDD_DEFAULT_RUN_GRACE;
	snprintf(cfg->socket, sizeof(cfg->socket), "%s", TDD_DEFAULT_SOCKET);

	f = fopen(file, "r");
	if (!f) {
		fprintf(stderr, "tinydsmd: %s:0: cannot open: %s\n", file,
			strerror(errno));
		return -1;
	}
	while (fgets(buf, sizeof(buf), f)) {
		line++;
		len = strlen(buf);
		if (len && buf[len - 1] == '\n') {
			buf[--len] = '\0';
		} else if (len == sizeof(buf) - 1) {
			conf_err(cfg, line, "line too long (more than %d characters)",
				 TDD_CONF_LINE_MAX);
			goto out;
		}
		if (strlen(buf) != len) {
			conf_err(cfg, line, "NUL byte in the line");
			goto out;
		}
		hash = strchr(buf, '#');
		if (hash)
			*hash = '\0';
		for (char *p = buf; *p; p++) {
			if ((unsigned char)*p < 0x20 && *p != '\t' && *p != '\r') {
				conf_err(cfg, line, "control character 0x%02x in the line",
					 (unsigned char)*p);
				goto out;
			}
		}
		nw = split(buf, w);
		if (nw < 0) {
			conf_err(cfg, line, "too many words (at most %d)", TDD_MAX_WORDS);
			goto out;
		}
		if (nw == 0)
			continue;
		/* "key_file = PATH" is "key-file PATH" */
		for (char *p = w[0]; *p; p++)
			if (*p == '_')
				*p = '-';
		if (nw >= 2 && !strcmp(w[1], "=") && strcmp(w[0], "node")) {
			memmove(&w[1], &w[2], (nw - 2) * sizeof(w[0]));
			nw--;
		}
		if (!strcmp(w[0], "node")) {
			if (parse_node(cfg, line, w, nw))
				goto out;
		} else if (!strcmp(w[0], "self")) {
			if (cfg->self_line) {
				conf_err(cfg, line, "self given twice (first on line %d)",
					 cfg->self_line);
				goto out;
			}
			if (nw != 2 || !valid_name(w[1])) {
				conf_err(cfg, line, "self needs one node name");
				goto out;
			}
			snprintf(cfg->self_name, sizeof(cfg->self_name), "%s", w[1]);
			cfg->self_line = line;
		} else if (!strcmp(w[0], "heartbeat-ms")) {
			if (parse_setting(cfg, line, w, nw, 10, 60000,
					  &cfg->heartbeat_ms, &seen_hb))
				goto out;
		} else if (!strcmp(w[0], "dead-after-ms")) {
			if (parse_setting(cfg, line, w, nw, 20, 600000,
					  &cfg->dead_after_ms, &seen_dead))
				goto out;
		} else if (!strcmp(w[0], "request-timeout-ms")) {
			if (parse_setting(cfg, line, w, nw, 100, 3600000,
					  &cfg->request_timeout_ms, &seen_req))
				goto out;
		} else if (!strcmp(w[0], "migrate-chunk-pages")) {
			if (parse_setting(cfg, line, w, nw, 1, 65536,
					  &cfg->chunk_pages, &seen_chunk))
				goto out;
		} else if (!strcmp(w[0], "socket")) {
			if (parse_path(cfg, line, w, nw, cfg->socket,
				       sizeof(cfg->socket), &seen_sock, ""))
				goto out;
			cfg->socket_set = true;
		} else if (!strcmp(w[0], "key-file")) {
			if (parse_path(cfg, line, w, nw, cfg->key_file,
				       sizeof(cfg->key_file), &cfg->key_line,
				       " (the cluster key, from tinydsmctl key generate)"))
				goto out;
		} else if (!strcmp(w[0], "allow-unauthenticated")) {
			if (cfg->unauth_line) {
				conf_err(cfg, line, "allow-unauthenticated given twice (first on line %d)",
					 cfg->unauth_line);
				goto out;
			}
			if (nw != 2 || (strcmp(w[1], "yes") && strcmp(w[1], "no"))) {
				conf_err(cfg, line, "allow-unauthenticated needs yes or no");
				goto out;
			}
			cfg->allow_unauth = !strcmp(w[1], "yes");
			cfg->unauth_line = line;
		} else if (!strcmp(w[0], "run-allow-root")) {
			if (cfg->run_root_line) {
				conf_err(cfg, line, "run-allow-root given twice (first on line %d)",
					 cfg->run_root_line);
				goto out;
			}
			if (nw != 2 || (strcmp(w[1], "yes") && strcmp(w[1], "no"))) {
				conf_err(cfg, line, "run-allow-root needs yes or no");
				goto out;
			}
			cfg->run_allow_root = !strcmp(w[1], "yes");
			cfg->run_root_line = line;
		} else if (!strcmp(w[0], "run-kill-grace-ms")) {
			if (parse_setting(cfg, line, w, nw, 100, 60000,
					  &cfg->run_grace_ms, &seen_grace))
				goto out;
		} else {
			conf_err(cfg, line, "unknown keyword \"%s\"", w[0]);
			goto out;
		}
	}
	if (ferror(f)) {
		conf_err(cfg, line, "read error: %s", strerror(errno));
		goto out;
	}
	cfg->last_line = line ? line : 1;
	if (cfg->nnodes == 0) {
		conf_err(cfg, cfg->last_line, "no node line: the file must list every node of the cluster");
		goto out;
	}
	if (cfg->dead_after_ms < 2 * cfg->heartbeat_ms) {
		conf_err(cfg, seen_dead > seen_hb ? seen_dead : seen_hb,
			 "dead-after-ms (%u) must be at least twice heartbeat-ms (%u)",
			 cfg->dead_after_ms, cfg->heartbeat_ms);
		goto out;
	}
	if (cfg->key_line && cfg->allow_unauth) {
		conf_err(cfg, cfg->unauth_line,
			 "allow-unauthenticated yes contradicts key-file (line %d): the daemons authenticate when they have a key",
			 cfg->key_line);
		goto out;
	}
	if (cfg->self_line && !tdd_config_by_name(cfg, cfg->self_name)) {
		conf_err(cfg, cfg->self_line, "self \"%s\" is not a node of this file",
			 cfg->self_name);
		goto out;
	}
	ret = 0;
out:
	fclose(f);
	return ret;
}

const struct tdd_node *tdd_config_by_name(const struct tdd_config *cfg,
					  const char *name)
{
	int i;

	for (i = 0; i < cfg->nnodes; i++)
		if (!strcmp(cfg->nodes[i].name, name))
			return &cfg->nodes[i];
	return NULL;
}

const struct tdd_node *tdd_config_by_id(const struct tdd_config *cfg,
					uint32_t id)
{
	int i;

	for (i = 0; i < cfg->nnodes; i++)
		if (cfg->nodes[i].id == id)
			return &cfg->nodes[i];
	return NULL;
}

const char *tdd_node_name(const struct tdd_config *cfg, uint32_t id,
			  char *buf, size_t size)
{
	const struct tdd_node *n = tdd_config_by_id(cfg, id);

	if (n)
		return n->name;
	snprintf(buf, size, "node#%u", id);
	return buf;
}

const struct tdd_node *tdd_config_self(const struct tdd_config *cfg,
				       uint32_t module_id)
{
	const struct tdd_node *n;

	if (cfg->self_line) {
		n = tdd_config_by_name(cfg, cfg->self_name);
		if (module_id && n->id != module_id) {
			conf_err(cfg, cfg->self_line,
				 "self is %s (id %u) but the module's node_id is %u",
				 n->name, n->id, module_id);
			return NULL;
		}
		return n;
	}
	if (!module_id) {
		conf_err(cfg, cfg->last_line,
			 "no self line, and the module's node_id is not known");
		return NULL;
	}
	n = tdd_config_by_id(cfg, module_id);
	if (!n)
		conf_err(cfg, cfg->last_line,
			 "no node line has the module's node_id %u (and no self line)",
			 module_id);
	return n;
}

/* FNV-1a over "id name addr rdma ctl;" of every node, in id order. */
uint32_t tdd_config_hash(const struct tdd_config *cfg)
{
	uint32_t h = 2166136261u, id;
	const struct tdd_node *n;
	char buf[160], a[INET6_ADDRSTRLEN];
	const char *p;

	for (id = 1; id < TINYDSM_MAX_NODES; id++) {
		n = tdd_config_by_id(cfg, id);
		if (!n)
			continue;
		snprintf(buf, sizeof(buf), "%u %s %s %u %u;", n->id, n->name,
			 tdd_addr_str(&n->addr, a, sizeof(a)), n->rdma_port,
			 n->ctl_port);
		for (p = buf; *p; p++) {
			h ^= (unsigned char)*p;
			h *= 16777619u;
		}
	}
	return h;
}
