/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the access-site tests (site_test, site_cluster_test), which
 * link libtinydsm.
 */
#ifndef TDSM_SITES_H
#define TDSM_SITES_H

#include <stddef.h>
#include <stdint.h>

#include "tinydsm.h"

/*
 * The site inside accessor @fn, a small noinline function around one
 * macro: the first site at or after its start, within 64 bytes; 0 if none.
 */
static inline uintptr_t site_of(void *fn)
{
	const struct tinydsm_site_entry *e;
	uintptr_t best = 0, f = (uintptr_t)fn;
	size_t i, n = tdsm_sites(&e);

	for (i = 0; i < n; i++) {
		uintptr_t a = tdsm_site_addr(&e[i]);

		if (a >= f && a < f + 64 && (!best || a < best))
			best = a;
	}
	return best;
}

#endif /* TDSM_SITES_H */
