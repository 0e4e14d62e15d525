/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsmd: the cluster configuration file (tinydsmd(8), "CONFIGURATION").
 */
#ifndef TDD_CONFIG_H
#define TDD_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <linux/tinydsm.h>

#define TDD_NAME_MAX		32	/* with the NUL */
#define TDD_CONF_LINE_MAX	1024	/* longest line, without the newline */
#define TDD_DEFAULT_CTL_PORT	7472
#define TDD_DEFAULT_SOCKET	"/run/tinydsm/tinydsmd.sock"
#define TDD_DEFAULT_HEARTBEAT	500
#define TDD_DEFAULT_DEAD_AFTER	3000
#define TDD_DEFAULT_CHUNK	256
#define TDD_DEFAULT_REQ_TIMEOUT	30000
#define TDD_DEFAULT_RUN_GRACE	2000	/* SIGTERM to SIGKILL, ms */

/* One "node" line. */
struct tdd_node {
	uint32_t id;			/* 1 .. TINYDSM_MAX_NODES - 1 */
	char name[TDD_NAME_MAX];
	struct sockaddr_storage addr;	/* the node's address, port 0 */
	socklen_t addrlen;
	uint16_t rdma_port;		/* 0: the module's default */
	uint16_t ctl_port;
	int line;
};

struct tdd_config {
	const char *file;
	struct tdd_node nodes[TINYDSM_MAX_NODES - 1];
	int nnodes;
	char self_name[TDD_NAME_MAX];	/* "" if no "self" line */
	int self_line;
	int last_line;			/* for errors about the whole file */
	unsigned int heartbeat_ms;
	unsigned int dead_after_ms;
	unsigned int chunk_pages;
	unsigned int request_timeout_ms;
	char socket[108];		/* sizeof(sun_path) */
	bool socket_set;		/* from the file or -s */
	char key_file[256];		/* "": none */
	int key_line;			/* 0: no key-file line */
	bool allow_unauth;		/* allow-unauthenticated yes */
	int unauth_line;
	bool run_allow_root;		/* run-allow-root yes: ranks as root for others */
	int run_root_line;
	unsigned int run_grace_ms;	/* run-kill-grace-ms */
};

/*
 * Read and check @file into @cfg. On error, prints "tinydsmd: FILE:LINE:
 * what is wrong" on stderr and returns -1.
 */
int tdd_config_load(struct tdd_config *cfg, const char *file);

/*
 * Pick this node: the "self" line, else the node whose id is @module_id
 * (0: unknown, the module is not asked, e.g. --check). Checks that they
 * agree. Returns the node, or NULL after printing FILE:LINE: why.
 */
const struct tdd_node *tdd_config_self(const struct tdd_config *cfg,
				       uint32_t module_id);

const struct tdd_node *tdd_config_by_name(const struct tdd_config *cfg,
					  const char *name);
const struct tdd_node *tdd_config_by_id(const struct tdd_config *cfg,
					uint32_t id);
/* "node2", or "node#5" (in @buf) for an id @cfg does not have. */
const char *tdd_node_name(const struct tdd_config *cfg, uint32_t id,
			  char *buf, size_t size);

/* A hash of the node lines, to spot daemons with different files. */
uint32_t tdd_config_hash(const struct tdd_config *cfg);

/* "10.77.0.1" or "fd00::1", no port. */
const char *tdd_addr_str(const struct sockaddr_storage *ss, char *buf,
			 size_t size);
/* Same host address (family and address; ports not compared). */
bool tdd_same_addr(const struct sockaddr_storage *a,
		   const struct sockaddr_storage *b);

#endif /* TDD_CONFIG_H */
