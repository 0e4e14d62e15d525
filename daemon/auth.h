/* SPDX-License-Identifier: GPL-2.0 */
/*
 * tinydsmd: authentication between the daemons (daemon/README.md,
 * "Authentication"). libsodium's crypto_auth (HMAC-SHA512-256), keyed with
 * a subkey of the cluster key (crypto_kdf, context "tdsmdaem"), so that no
 * MAC of the daemons can pass for one of the module's (HMAC-SHA256 over its
 * own label) or the other way round.
 *
 * Both sides put a fresh nonce in their hello; the second line each way is
 * "auth mac=HEX", a MAC over both hellos, both nonces, both ids and the
 * sender's role; every later line ends in " mac=HEX", a MAC over the
 * direction, both nonces, the line's number in that direction (from 0)
 * and its text. A replayed, reordered, dropped, altered or forged line
 * fails its MAC.
 *
 * No daemon state here: the tests play a peer daemon with this file too.
 */
#ifndef TDD_AUTH_H
#define TDD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TDD_AUTH_KEY_LEN	32	/* the subkey: crypto_auth_KEYBYTES */
#define TDD_NONCE_LEN		16	/* bytes; 32 hex digits in the hello */
#define TDD_MAC_LEN		32	/* crypto_auth_BYTES */
#define TDD_MAC_HEX		(2 * TDD_MAC_LEN)
#define TDD_MAC_SUFFIX		(5 + TDD_MAC_HEX)	/* " mac=" HEX */
#define TDD_HELLO_MAX		256	/* a hello line, NUL included */

/* One connection's authentication: in its struct tdd_line. */
struct tdd_auth {
	const uint8_t *key;		/* the subkey; NULL: lines carry no MAC */
	bool connector;			/* we connected (the lower id) */
	uint8_t nonce_c[TDD_NONCE_LEN];	/* the connector's */
	uint8_t nonce_a[TDD_NONCE_LEN];	/* the acceptor's */
	char hello_c[TDD_HELLO_MAX];	/* the connector's hello, as sent */
	char hello_a[TDD_HELLO_MAX];	/* the acceptor's */
	uint64_t tx_seq, rx_seq;	/* lines MACed so far, each way */
	bool bad_mac;			/* a line failed its MAC: say so */
};

/* The daemons' subkey of the cluster key @key. 0, -1 if libsodium fails. */
int tdd_auth_subkey(uint8_t sub[TDD_AUTH_KEY_LEN], const uint8_t key[32]);
void tdd_auth_nonce(uint8_t nonce[TDD_NONCE_LEN]);
/* 2 * TDD_NONCE_LEN hex digits (+ NUL) <-> bytes; parse: 0 or -1. */
void tdd_auth_nonce_hex(char hex[2 * TDD_NONCE_LEN + 1],
			const uint8_t nonce[TDD_NONCE_LEN]);
int tdd_auth_nonce_parse(uint8_t nonce[TDD_NONCE_LEN], const char *hex);

/*
 * The "auth mac=" of the side whose role is @connector_role, over both
 * hellos (each as sent, without the newline) and the ids and nonces.
 */
void tdd_auth_hello_mac(char hex[TDD_MAC_HEX + 1], const uint8_t *key,
			bool connector_role, uint32_t id_c, uint32_t id_a,
			const uint8_t nonce_c[TDD_NONCE_LEN],
			const uint8_t nonce_a[TDD_NONCE_LEN],
			const char *hello_c, const char *hello_a);
/* Is @hex (from the peer) that MAC? Constant time. */
bool tdd_auth_hello_ok(const char *hex, const uint8_t *key,
		       bool connector_role, uint32_t id_c, uint32_t id_a,
		       const uint8_t nonce_c[TDD_NONCE_LEN],
		       const uint8_t nonce_a[TDD_NONCE_LEN],
		       const char *hello_c, const char *hello_a);

/*
 * A line we send: append " mac=HEX" to @text (of @len bytes, in a buffer
 * of @size, which must hold TDD_MAC_SUFFIX + 1 more); the new length.
 */
size_t tdd_auth_seal(struct tdd_auth *a, char *text, size_t len, size_t size);
/*
 * A line we received (NUL-terminated): check and strip its " mac=HEX".
 * 0, or -1 (a missing or wrong MAC: replayed, reordered, altered, forged).
 */
int tdd_auth_open(struct tdd_auth *a, char *line);

#endif /* TDD_AUTH_H */
