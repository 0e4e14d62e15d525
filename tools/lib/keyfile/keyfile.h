/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The cluster key file, shared by tinydsmctl (key generate, key set),
 * tinydsmd and the tests: one line of 2 * TINYDSM_KEY_LEN lowercase hex
 * digits. The file must be a regular file that neither its group nor
 * others may read or write (mode 0600 or 0400), since whoever reads it can
 * join the cluster.
 */
#ifndef TDSM_KEYFILE_H
#define TDSM_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/tinydsm.h>

/*
 * Read the key in @path into @key. 0, or -errno with a message for the
 * user in @err: -EACCES for a file group or others may access (the
 * message says which mode and how to fix it), -EINVAL for one that is not
 * exactly one line of 64 hex digits (or is all zero), -errno of open/read.
 */
int tdsm_key_read(const char *path, uint8_t key[TINYDSM_KEY_LEN],
		  char *err, size_t errlen);

/*
 * Write a fresh random key (libsodium randombytes_buf) to @path, created
 * with mode 0600. An existing file is kept (-EEXIST) unless @force. 0 or
 * -errno with a message in @err.
 */
int tdsm_key_generate(const char *path, bool force, char *err, size_t errlen);

#endif /* TDSM_KEYFILE_H */
