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
 * TINYDSM_IOC_ALLOC        struct tinydsm_alloc, in: home, npages; out: addr.
 *                          Asks node @home to back @npages contiguous pages
 *                          of its home slice ("local -> remote -> local
 *                          allocate -> local pointer"); addr is their global
 *                          address, the same on every node. ENOSPC if the
 *                          home has no such run free, EHOSTUNREACH if the
 *                          home is not connected, ENOENT if no such node.
 * TINYDSM_IOC_FREE         struct tinydsm_alloc, in: addr, npages (exactly
 *                          as allocated). Every copy is invalidated, the home
 *                          frees the frames; the pages read as zero again.
 * Unknown commands give ENOTTY, bad pointers EFAULT.
 *
 * Homes
 * -----
 * The region is cut into max_nodes equal home slices (module parameter,
 * the same on every node): slice n - 1 is homed on node n. The home keeps
 * each page's directory entry (owner, copyset) and serialises its faults.
 * Any page may be touched without TINYDSM_IOC_ALLOC (it reads as zero at
 * first); the allocator hands out disjoint runs so that programs on
 * different nodes never pick the same pages.
 *
 * Generic netlink family TINYDSM_GENL_NAME, version TINYDSM_GENL_VERSION
 * ----------------------------------------------------------------------
 * TINYDSM_CMD_NODE_ADD (admin: CAP_NET_ADMIN)
 *     TINYDSM_A_NODE_ID    u32, 1 .. TINYDSM_MAX_NODES - 1, not this node
 *     TINYDSM_A_NODE_ADDR  struct sockaddr_in or sockaddr_in6 (port 0 =
 *                          the default, module parameter port)
 *   Adds a peer; the module connects to it (the node with the lower id
 *   initiates). EEXIST if the id is known; ERANGE for an id outside
 *   1..TINYDSM_MAX_NODES - 1; EINVAL for this node's own id, an id above
 *   max_nodes, or an address that is not a sockaddr_in/sockaddr_in6.
 * TINYDSM_CMD_NODE_DEL (admin)
 *     TINYDSM_A_NODE_ID
 *   Disconnects and forgets a peer. ENOENT if unknown.
 * TINYDSM_CMD_NODE_GET (dump; anyone)
 *   One message per node, this node first:
 *     TINYDSM_A_NODE_ID, TINYDSM_A_NODE_ADDR, TINYDSM_A_NODE_STATE (u8,
 *     enum tinydsm_node_state), TINYDSM_A_NODE_FLAGS (u32, TINYDSM_NODE_F_*),
 *     TINYDSM_A_NODE_ERROR (s32, last connection error, -errno or 0),
 *     TINYDSM_A_NODE_TX_MSGS, TINYDSM_A_NODE_RX_MSGS,
 *     TINYDSM_A_NODE_RX_BAD (u64, messages refused as malformed).
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
 * @faults: faults taken on this page on this node (saturates at 255).
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
 * @frames_allocated: frames allocated (or received) in total.
 * @remote_faults: faults that had the page sent from another node.
 * @invalidations: copies this node, as a home, had other nodes drop.
 * @fetches: pages this node, as a home, had an owner send on.
 * @reserved: zero.
 */
struct tinydsm_stats {
	__u64 read_faults;
	__u64 write_faults;
	__u64 frames;
	__u64 frames_allocated;
	__u64 remote_faults;
	__u64 invalidations;
	__u64 fetches;
	__u64 reserved[1];
};

/**
 * struct tinydsm_alloc - a run of pages backed by a home node
 * @home: in (ALLOC): the node that backs the pages (0: this node).
 * @npages: in: number of pages.
 * @addr: out (ALLOC), in (FREE): global address of the first page.
 * @reserved: must be zero.
 */
struct tinydsm_alloc {
	__u32 home;
	__u32 npages;
	__u64 addr;
	__u64 reserved[2];
};

#define TINYDSM_IOC_MAGIC	0xd5
#define TINYDSM_IOC_REGION_INFO	_IOR(TINYDSM_IOC_MAGIC, 0x01, struct tinydsm_region_info)
#define TINYDSM_IOC_PAGE_INFO	_IOWR(TINYDSM_IOC_MAGIC, 0x02, struct tinydsm_page_info)
#define TINYDSM_IOC_STATS	_IOR(TINYDSM_IOC_MAGIC, 0x03, struct tinydsm_stats)
#define TINYDSM_IOC_ALLOC	_IOWR(TINYDSM_IOC_MAGIC, 0x04, struct tinydsm_alloc)
#define TINYDSM_IOC_FREE	_IOW(TINYDSM_IOC_MAGIC, 0x05, struct tinydsm_alloc)

/* generic netlink */
#define TINYDSM_GENL_NAME	"tinydsm"
#define TINYDSM_GENL_VERSION	1

enum tinydsm_cmd {
	TINYDSM_CMD_UNSPEC,
	TINYDSM_CMD_NODE_ADD,
	TINYDSM_CMD_NODE_DEL,
	TINYDSM_CMD_NODE_GET,
	__TINYDSM_CMD_MAX
};

#define TINYDSM_CMD_MAX (__TINYDSM_CMD_MAX - 1)

enum tinydsm_attr {
	TINYDSM_A_UNSPEC,
	TINYDSM_A_NODE_ID,
	TINYDSM_A_NODE_ADDR,
	TINYDSM_A_NODE_STATE,
	TINYDSM_A_NODE_FLAGS,
	TINYDSM_A_NODE_ERROR,
	TINYDSM_A_NODE_TX_MSGS,
	TINYDSM_A_NODE_RX_MSGS,
	TINYDSM_A_NODE_RX_BAD,
	TINYDSM_A_PAD,
	__TINYDSM_A_LAST
};

#define TINYDSM_A_MAX (__TINYDSM_A_LAST - 1)

/**
 * enum tinydsm_node_state - this node's connection to a peer
 * @TINYDSM_NODE_DOWN: not connected (and not trying right now).
 * @TINYDSM_NODE_CONNECTING: connecting, or waiting for the peer to connect.
 * @TINYDSM_NODE_UP: connected; pages move.
 */
enum tinydsm_node_state {
	TINYDSM_NODE_DOWN,
	TINYDSM_NODE_CONNECTING,
	TINYDSM_NODE_UP,
};

#define TINYDSM_NODE_F_SELF	_BITUL(0)	/* the entry is this node */
#define __TINYDSM_NODE_F_ALL	TINYDSM_NODE_F_SELF

#endif /* _UAPI_LINUX_TINYDSM_H */
