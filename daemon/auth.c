// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsmd: the MACs between the daemons (auth.h). What is MACed is text
 * with its parts on lines of their own: no part can hold a newline (the
 * protocol's lines cannot), so no two different inputs read the same.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "auth.h"

#define AUTH_LABEL	"tinydsm-daemon-auth-v1"
#define LINE_LABEL	"tinydsm-daemon-line-v1"
#define KDF_CONTEXT	"tdsmdaem"	/* crypto_kdf_CONTEXTBYTES: 8 */
#define KDF_ID		1

_Static_assert(TDD_AUTH_KEY_LEN == crypto_auth_KEYBYTES, "subkey size");
_Static_assert(TDD_MAC_LEN == crypto_auth_BYTES, "MAC size");
_Static_assert(crypto_kdf_KEYBYTES == 32, "the cluster key is the KDF's key");

int tdd_auth_subkey(uint8_t sub[TDD_AUTH_KEY_LEN], const uint8_t key[32])
{
	if (sodium_init() < 0)
		return -1;
	return crypto_kdf_derive_from_key(sub, TDD_AUTH_KEY_LEN, KDF_ID,
					  KDF_CONTEXT, key) ? -1 : 0;
}

void tdd_auth_nonce(uint8_t nonce[TDD_NONCE_LEN])
{
	randombytes_buf(nonce, TDD_NONCE_LEN);
}

void tdd_auth_nonce_hex(char hex[2 * TDD_NONCE_LEN + 1],
			const uint8_t nonce[TDD_NONCE_LEN])
{
	sodium_bin2hex(hex, 2 * TDD_NONCE_LEN + 1, nonce, TDD_NONCE_LEN);
}

static int hex_exact(uint8_t *bin, size_t len, const char *hex)
{
	size_t got = 0;

	if (strlen(hex) != 2 * len)
		return -1;
	if (sodium_hex2bin(bin, len, hex, 2 * len, NULL, &got, NULL) || got != len)
		return -1;
	return 0;
}

int tdd_auth_nonce_parse(uint8_t nonce[TDD_NONCE_LEN], const char *hex)
{
	return hex_exact(nonce, TDD_NONCE_LEN, hex);
}

/* The MAC of the handshake; -1 if the hellos do not fit (never sent). */
static int hello_mac(uint8_t mac[TDD_MAC_LEN], const uint8_t *key,
		     bool connector_role, uint32_t id_c, uint32_t id_a,
		     const uint8_t nonce_c[TDD_NONCE_LEN],
		     const uint8_t nonce_a[TDD_NONCE_LEN],
		     const char *hello_c, const char *hello_a)
{
	char buf[2 * TDD_HELLO_MAX + 256];
	char nc[2 * TDD_NONCE_LEN + 1], na[2 * TDD_NONCE_LEN + 1];
	int n;

	tdd_auth_nonce_hex(nc, nonce_c);
	tdd_auth_nonce_hex(na, nonce_a);
	n = snprintf(buf, sizeof(buf), AUTH_LABEL "\n%s\n%" PRIu32 "\n%" PRIu32 "\n%s\n%s\n%s\n%s",
		     connector_role ? "connector" : "acceptor", id_c, id_a,
		     nc, na, hello_c, hello_a);
	if (n < 0 || n >= (int)sizeof(buf))
		return -1;
	crypto_auth(mac, (const unsigned char *)buf, n, key);
	return 0;
}

void tdd_auth_hello_mac(char hex[TDD_MAC_HEX + 1], const uint8_t *key,
			bool connector_role, uint32_t id_c, uint32_t id_a,
			const uint8_t nonce_c[TDD_NONCE_LEN],
			const uint8_t nonce_a[TDD_NONCE_LEN],
			const char *hello_c, const char *hello_a)
{
	uint8_t mac[TDD_MAC_LEN];

	if (hello_mac(mac, key, connector_role, id_c, id_a, nonce_c, nonce_a,
		      hello_c, hello_a))
		memset(mac, 0, sizeof(mac));
	sodium_bin2hex(hex, TDD_MAC_HEX + 1, mac, sizeof(mac));
}

bool tdd_auth_hello_ok(const char *hex, const uint8_t *key,
		       bool connector_role, uint32_t id_c, uint32_t id_a,
		       const uint8_t nonce_c[TDD_NONCE_LEN],
		       const uint8_t nonce_a[TDD_NONCE_LEN],
		       const char *hello_c, const char *hello_a)
{
	uint8_t want[TDD_MAC_LEN], got[TDD_MAC_LEN];

	if (!hex || hex_exact(got, sizeof(got), hex) ||
	    hello_mac(want, key, connector_role, id_c, id_a, nonce_c, nonce_a,
		      hello_c, hello_a))
		return false;
	return crypto_verify_32(want, got) == 0;
}

/* The MAC of line number @seq of the direction @from_connector. */
static int line_mac(uint8_t mac[TDD_MAC_LEN], const struct tdd_auth *a,
		    bool from_connector, uint64_t seq, const char *text,
		    size_t len)
{
	char buf[1024];
	char nc[2 * TDD_NONCE_LEN + 1], na[2 * TDD_NONCE_LEN + 1];
	int n;

	tdd_auth_nonce_hex(nc, a->nonce_c);
	tdd_auth_nonce_hex(na, a->nonce_a);
	n = snprintf(buf, sizeof(buf), LINE_LABEL "\n%s\n%s\n%s\n%" PRIu64 "\n%.*s",
		     from_connector ? "connector-to-acceptor" : "acceptor-to-connector",
		     nc, na, seq, (int)len, text);
	if (n < 0 || n >= (int)sizeof(buf))
		return -1;
	crypto_auth(mac, (const unsigned char *)buf, n, a->key);
	return 0;
}

size_t tdd_auth_seal(struct tdd_auth *a, char *text, size_t len, size_t size)
{
	uint8_t mac[TDD_MAC_LEN];

	if (len + TDD_MAC_SUFFIX + 1 > size)
		len = size - TDD_MAC_SUFFIX - 1;	/* cut: a line is bounded */
	if (line_mac(mac, a, a->connector, a->tx_seq, text, len))
		memset(mac, 0, sizeof(mac));	/* too long to MAC: refused there */
	a->tx_seq++;
	memcpy(text + len, " mac=", 5);
	sodium_bin2hex(text + len + 5, TDD_MAC_HEX + 1, mac, sizeof(mac));
	return len + TDD_MAC_SUFFIX;
}

int tdd_auth_open(struct tdd_auth *a, char *line)
{
	uint8_t want[TDD_MAC_LEN], got[TDD_MAC_LEN];
	size_t len = strlen(line);
	char *suffix;

	if (len < TDD_MAC_SUFFIX)
		return -1;
	suffix = line + len - TDD_MAC_SUFFIX;
	if (strncmp(suffix, " mac=", 5) || hex_exact(got, sizeof(got), suffix + 5))
		return -1;
	if (line_mac(want, a, !a->connector, a->rx_seq, line, suffix - line) ||
	    crypto_verify_32(want, got))
		return -1;
	a->rx_seq++;
	*suffix = '\0';
	return 0;
}
