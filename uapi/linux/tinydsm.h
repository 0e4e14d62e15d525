/* SPDX-License-Identifier: (GPL-2.0 WITH Linux-syscall-note) OR MIT */
/*
 * tinydsm: distributed shared memory for Linux — the user-space ABI.
 *
 * This is the only header user space includes. Everything here is versioned
 * by TINYDSM_ABI_VERSION; structures only grow at the end, and every
 * reserved field must be zero on input (the module answers -EINVAL otherwise).
 *
 * The device
 * ----------
 * /dev/tinydsm is one region of TINYDSM_REGION_BASE .. base + size (size is
 * the module parameter region_size_mb, reported by TINYDSM_IOC_REGION_INFO).
 * The region lives at the same virtual address on every node, so a pointer
 * stored in shared memory means the same byte everywhere.
 *
 *   mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, off)
 *
 * maps [base + off, base + off + len): the device chooses the address. The
 * mapping must be MAP_SHARED, off page-aligned and the range inside the
 * region. Errors:
 *   EINVAL  MAP_PRIVATE, off/len outside the region, or MAP_FIXED at an
 *           address other than base + off;
 *   EEXIST  something else is already mapped at base + off (without
 *           MAP_FIXED the device never replaces an existing mapping).
 * mremap() of a tinydsm mapping fails with EINVAL: the address is the name.
 *
 * Pages are allocated on first touch. A read fault gives a zero-filled page
 * mapped read-only; the first write makes it writable. All processes of a
 * node that map the region share the same pages.
 *
 * ioctls (on an open /dev/tinydsm)
 * --------------------------------
 * TINYDSM_IOC_REGION_INFO  struct tinydsm_region_info, out.
 * TINYDSM_IOC_PAGE_INFO    struct tinydsm_page_info, in: addr (+ reserved
 *                          zero); out: the page's metadata on this node.
 *                          ERANGE if addr is not inside the region.
 * TINYDSM_IOC_STATS        struct tinydsm_stats, out: this node's counters.
 * Unknown commands give ENOTTY, bad pointers EFAULT.
 */
#ifndef _UAPI_LINUX_TINYDSM_H
#define _UAPI_LINUX_TINYDSM_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define TINYDSM_ABI_VERSION	1
#define TINYDSM_DEVICE_NAME	"tinydsm"

/*
 * The fixed global base of the region on every node: 64 TiB, far from the
 * kernel's default mmap area (top-down from 128 TiB), from PIE text and heap
 * (around 85 TiB on x86-64 they stay above it) and from low mappings.
 */
#define TINYDSM_REGION_BASE	0x400000000000ULL

/* Node ids are 1 .. TINYDSM_MAX_NODES - 1; 0 means "none". */
#define TINYDSM_MAX_NODES	32

/**
 * enum tinydsm_page_state - what this node holds of a page
 * @TINYDSM_PAGE_INVALID: no valid copy here; the next access faults.
 * @TINYDSM_PAGE_SHARED: a valid read-only copy; this node is in the copyset.
 * @TINYDSM_PAGE_EXCLUSIVE: this node owns the page and may write it; no
 *	other node holds a valid copy.
 */
enum tinydsm_page_state {
	TINYDSM_PAGE_INVALID = 0,
	TINYDSM_PAGE_SHARED = 1,
	TINYDSM_PAGE_EXCLUSIVE = 2,
};

/* tinydsm_page_info.flags */
#define TINYDSM_PAGE_F_PRESENT	_BITUL(0) /* a local frame backs the page */
#define TINYDSM_PAGE_F_WRITTEN	_BITUL(1) /* written on this node since it got the page */
#define __TINYDSM_PAGE_F_ALL	(TINYDSM_PAGE_F_PRESENT | TINYDSM_PAGE_F_WRITTEN)

/**
 * struct tinydsm_region_info - the region as this node sees it
 * @abi_version: TINYDSM_ABI_VERSION of the module.
 * @node_id: this node's id.
 * @base: global base address (TINYDSM_REGION_BASE).
 * @size: region size in bytes.
 * @page_size: granularity of ownership and transfer, in bytes.
 * @meta_bytes_per_page: bytes of metadata the module keeps per page.
 */
struct tinydsm_region_info {
	__u32 abi_version;
	__u32 node_id;
	__u64 base;
	__u64 size;
	__u32 page_size;
	__u32 meta_bytes_per_page;
	__u64 reserved[4];
};

/**
 * struct tinydsm_page_info - one page's metadata on this node
 * @addr: in: any address inside the page (must be inside the region).
 * @fault_ip: user instruction pointer of the last fault on this page here,
 *	0 if no user access has faulted on it.
 * @copyset: bitmap of the nodes holding a valid copy (bit n = node n).
 * @owner: owning node id, 0 if the page was never touched.
 * @state: enum tinydsm_page_state.
 * @flags: TINYDSM_PAGE_F_*.
 * @faults: faults taken on this page on this node (saturates at 65535).
 * @reserved: must be zero.
 */
struct tinydsm_page_info {
	__u64 addr;
	__u64 fault_ip;
	__u32 copyset;
	__u16 owner;
	__u8 state;
	__u8 flags;
	__u32 faults;
	__u32 reserved;
};

/**
 * struct tinydsm_stats - this node's counters since the module was loaded
 * @read_faults: faults that mapped a page for reading.
 * @write_faults: faults that made a page writable.
 * @frames: pages currently backed by a local frame.
 * @frames_allocated: frames allocated in total.
 */
struct tinydsm_stats {
	__u64 read_faults;
	__u64 write_faults;
	__u64 frames;
	__u64 frames_allocated;
	__u64 reserved[4];
};

#define TINYDSM_IOC_MAGIC	0xd5
#define TINYDSM_IOC_REGION_INFO	_IOR(TINYDSM_IOC_MAGIC, 0x01, struct tinydsm_region_info)
#define TINYDSM_IOC_PAGE_INFO	_IOWR(TINYDSM_IOC_MAGIC, 0x02, struct tinydsm_page_info)
#define TINYDSM_IOC_STATS	_IOR(TINYDSM_IOC_MAGIC, 0x03, struct tinydsm_stats)

#endif /* _UAPI_LINUX_TINYDSM_H */
