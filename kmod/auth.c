// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: the cluster key, and the MACs that prove it on a connection.
 *
 * The key comes from user space (TINYDSM_CMD_KEY_SET, CAP_NET_ADMIN) and is
 * never given back: it lives only inside a keyed "hmac(sha256)" transform.
 * Setting it again replaces the transform; connections already up stay,
 * new ones prove the new key.
 *
 * A connection's two ends each compute two MACs once the connect request
 * and its accept crossed (both hellos, with both nonces, are then known):
 * their own, sent in TDSM_W_AUTH, and the one they expect from the peer.
 * The roles differ in one byte, so a MAC one end sends is never what the
 * other end expects from anyone: it cannot be reflected. The nonces are
 * fresh per connection, so no MAC of an earlier connection is accepted
 * (a replay).
 *
 * Locking: tdsm_auth_mutex protects tdsm_auth_tfm. The MACs are computed
 * in process context (a CM event handler), never in the receive path: that
 * one only compares (crypto_memneq()).
 */
#include <crypto/algapi.h>
#include <crypto/hash.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/string.h>

#include "auth.h"
#include "wire.h"

bool tdsm_allow_unauth;
module_param_named(allow_unauthenticated, tdsm_allow_unauth, bool, 0444);
MODULE_PARM_DESC(allow_unauthenticated,
		 "without a cluster key, connect to peers that have none either, unauthenticated (default: refuse every connection until a key is set)");

static DEFINE_MUTEX(tdsm_auth_mutex);
static struct crypto_shash *tdsm_auth_tfm;	/* keyed; NULL: no key yet */

#define TDSM_AUTH_LABEL		"tinydsm-rdma-auth-v1"

int tdsm_auth_set_key(const u8 *key, unsigned int len,
		      struct netlink_ext_ack *extack)
{
	struct crypto_shash *tfm, *old;
	int err;

	if (len != TINYDSM_KEY_LEN) {
		NL_SET_ERR_MSG_MOD(extack, "the key must be TINYDSM_KEY_LEN (32) bytes");
		return -EINVAL;
	}
	if (!memchr_inv(key, 0, len)) {
		NL_SET_ERR_MSG_MOD(extack, "the key is all zero");
		return -EINVAL;
	}
	tfm = crypto_alloc_shash("hmac(sha256)", 0, 0);
	if (IS_ERR(tfm)) {
		NL_SET_ERR_MSG_MOD(extack, "no hmac(sha256) in this kernel");
		return PTR_ERR(tfm);
	}
	err = crypto_shash_setkey(tfm, key, len);
	if (err) {
		crypto_free_shash(tfm);
		NL_SET_ERR_MSG_MOD(extack, "hmac(sha256) refused the key");
		return err;
	}
	mutex_lock(&tdsm_auth_mutex);
	old = tdsm_auth_tfm;
	tdsm_auth_tfm = tfm;
	mutex_unlock(&tdsm_auth_mutex);
	crypto_free_shash(old);		/* NULL is fine; zeroes the old key */
	pr_info("%s the cluster key\n", old ? "replaced" : "set");
	return 0;
}

bool tdsm_auth_has_key(void)
{
	bool has;

	mutex_lock(&tdsm_auth_mutex);
	has = tdsm_auth_tfm;
	mutex_unlock(&tdsm_auth_mutex);
	return has;
}

/* The MAC of the end in @role ('I' or 'R') over both hellos. */
static int tdsm_auth_mac(u8 role, const struct tdsm_wire_hello *initiator,
			 const struct tdsm_wire_hello *responder,
			 u8 mac[TDSM_WIRE_MAC_LEN])
{
	SHASH_DESC_ON_STACK(desc, tdsm_auth_tfm);
	int err;

	lockdep_assert_held(&tdsm_auth_mutex);
	BUILD_BUG_ON(TDSM_WIRE_MAC_LEN != 32);	/* SHA-256 */
	desc->tfm = tdsm_auth_tfm;
	err = crypto_shash_init(desc) ?:
	      crypto_shash_update(desc, TDSM_AUTH_LABEL, sizeof(TDSM_AUTH_LABEL)) ?:
	      crypto_shash_update(desc, &role, 1) ?:
	      crypto_shash_update(desc, (const u8 *)initiator, sizeof(*initiator)) ?:
	      crypto_shash_update(desc, (const u8 *)responder, sizeof(*responder)) ?:
	      crypto_shash_final(desc, mac);
	shash_desc_zero(desc);
	return err;
}

/*
 * The MAC this end sends (@mine) and the one it expects from the peer
 * (@theirs) on a connection whose hellos were @initiator's and
 * @responder's. -ENOKEY if no key is set.
 */
int tdsm_auth_macs(const struct tdsm_wire_hello *initiator,
		   const struct tdsm_wire_hello *responder, bool we_initiate,
		   u8 mine[TDSM_WIRE_MAC_LEN], u8 theirs[TDSM_WIRE_MAC_LEN])
{
	int err = -ENOKEY;

	mutex_lock(&tdsm_auth_mutex);
	if (tdsm_auth_tfm)
		err = tdsm_auth_mac(we_initiate ? 'I' : 'R', initiator,
				    responder, mine) ?:
		      tdsm_auth_mac(we_initiate ? 'R' : 'I', initiator,
				    responder, theirs);
	mutex_unlock(&tdsm_auth_mutex);
	return err;
}

void tdsm_auth_exit(void)
{
	mutex_lock(&tdsm_auth_mutex);
	crypto_free_shash(tdsm_auth_tfm);
	tdsm_auth_tfm = NULL;
	mutex_unlock(&tdsm_auth_mutex);
}
