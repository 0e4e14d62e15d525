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
 * The device is 0660: the module registers it root:root, and the udev rule
 * that make install puts in place gives it the system group tinydsm, whose
 * members may open it (EACCES for others). Every user of the device shares
 * every page of the region; what one user may do to another's use of it is
 * limited below (FREE, SITES_ADD, SITES_CTL).
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
 * The pages are mapped as a shared file's are: get_user_pages() reaches
 * them, so the kernel's shared futexes (keyed on the region's file and the
 * page's offset, within a node), /proc/PID/mem, ptrace() and O_DIRECT work.
 * Long-term pins are what the kernel allows for a file mapping that
 * tracks writes: io_uring_register(IORING_REGISTER_BUFFERS) fails
 * (EOPNOTSUPP on 6.1, EFAULT on 6.12), a writable ibv_reg_mr() fails with
 * EFAULT from Linux 6.5; a pin that is allowed does not keep the page on
 * this node: when another node takes it, the module waits for the pin at
 * most timeout_ms / 4, then logs it and lets the page go, and what the
 * device writes through the pin after that is seen by no node.
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
 *                          (TINYDSM_IOC_STATS_V1, _V2, _V3 and _V4, the
 *                          numbers of the struct's older sizes, copy out
 *                          its first 128, 208, 224 and 264 bytes.)
 * TINYDSM_IOC_ALLOC        struct tinydsm_alloc, in: home, npages; out: addr.
 *                          Asks node @home to back @npages contiguous pages
 *                          of its home slice ("local -> remote -> local
 *                          allocate -> local pointer"); addr is their global
 *                          address, the same on every node. The run is
 *                          address space only: the home backs each page
 *                          (a zeroed frame) when it is first touched.
 *                          ENOSPC if the home has no such run free, if
 *                          npages is more than a slice, or if the home
 *                          homes no slice (above home_nodes);
 *                          EHOSTUNREACH if the home is not connected,
 *                          ENOENT if no such node; EINVAL for 0 pages.
 *                          The node the call is made on records the run
 *                          with the caller's fsuid. With
 *                          TINYDSM_ALLOC_F_FILE (ABI 5) the run belongs to
 *                          the open file: FREEd when the file is released
 *                          (close and munmap, exit, kill), unless FREEd
 *                          before; ENOSPC past TINYDSM_ALLOC_FILE_MAX such
 *                          runs a file; EINVAL for an unknown flag.
 * TINYDSM_IOC_FREE         struct tinydsm_alloc, in: addr, npages (exactly
 *                          as allocated). Every copy is invalidated, the home
 *                          frees the frames; the pages read as zero again.
 *                          EPERM unless the caller's fsuid allocated the run
 *                          through this node or the caller has
 *                          CAP_SYS_ADMIN (a run allocated through another
 *                          node needs it too); EINVAL if the run is the
 *                          caller's but npages is not its length, or the
 *                          pages (of this node's slice) are not allocated.
 * TINYDSM_IOC_WORD         struct tinydsm_word, in: addr, width, flags,
 *                          value (store); out: value (load). One load or
 *                          store of 1, 2, 4 or 8 bytes, done where the page
 *                          is: here if this node holds the page in a state
 *                          good enough, else at the page's home, over RDMA,
 *                          without moving the page here and without a page
 *                          fault (the lookup form of an access site). EINVAL
 *                          for a width not 1/2/4/8 or an access that crosses
 *                          a page; ERANGE outside the region; EHOSTUNREACH,
 *                          ETIMEDOUT as a fault's SIGBUS would.
 * TINYDSM_IOC_ATOMIC       struct tinydsm_atomic (ABI 3): one atomic
 *                          read-modify-write of a 4- or 8-byte word
 *                          (compare-and-swap, fetch-add, exchange,
 *                          fetch-and, fetch-or), done where the page is held
 *                          exclusively: here if this node holds it so, else
 *                          at its home, which takes the page for itself as
 *                          for a store; the page never comes here for it.
 *                          Sequentially consistent with every other access
 *                          to the page, atomics of the processes mapping it
 *                          included. EINVAL for a bad op or width, a word
 *                          not aligned to its width, an operand wider than
 *                          the word, expected non-zero but for CAS; the rest
 *                          as TINYDSM_IOC_WORD.
 * TINYDSM_IOC_WAIT         struct tinydsm_wait (ABI 4): sleep while the
 *                          aligned 4- or 8-byte word holds @expected, until
 *                          a TINYDSM_IOC_WAKE on it from any node, the
 *                          timeout or a signal. The page's home checks the
 *                          word and queues the waiter under the lock that
 *                          orders the page's atomics, so a wake that
 *                          follows a change of the word is never lost.
 *                          0: woken, or the word was found changed when the
 *                          wait checked again (after a lost connection, or
 *                          its periodic check): as with a futex, the caller
 *                          checks the word again. EAGAIN: the word
 *                          did not hold @expected; ETIMEDOUT: the timeout,
 *                          or a home that stopped answering; EHOSTUNREACH:
 *                          no connection to the home; EINTR (or a restart,
 *                          with SA_RESTART): a signal; ENOSPC: the home's
 *                          queue is full; EINVAL, ERANGE as for
 *                          TINYDSM_IOC_ATOMIC.
 * TINYDSM_IOC_WAKE         struct tinydsm_wake (ABI 4): wake up to @count
 *                          waiters on the word, on any node; @woken says
 *                          how many were. Errors as TINYDSM_IOC_WAIT's,
 *                          EINVAL for a @count of 0 or above INT_MAX.
 * TINYDSM_IOC_PLACE        struct tinydsm_place (ABI 7): give the pages
 *                          [addr, addr + npages * 4 KiB) of a run another
 *                          home, @node, which pulls them with a migration
 *                          (their contents, pages never touched as zero
 *                          pages); @node this node brings them back. The
 *                          call is made on the run's home, the node it was
 *                          allocated through, by the fsuid that allocated
 *                          it (EPERM otherwise; EINVAL if the range is not
 *                          inside one run, ERANGE outside the region).
 *                          @moved: pages homed on @node when it returns.
 *                          A FREE there brings placed pages back first.
 *                          ENOENT: no such node; EHOSTUNREACH, ETIMEDOUT:
 *                          it cannot be reached; ENOSPC: its home budget
 *                          is full; EINVAL for a node that homes no slice.
 *                          An error leaves the pages before it placed.
 * TINYDSM_IOC_SITES_ADD    struct tinydsm_sites, in: the access sites of one
 *                          ELF object (its TINYDSM_SITES_SECTION) of the
 *                          calling process; out: added. See "Access sites".
 * TINYDSM_IOC_SITES_CTL    struct tinydsm_sites_ctl: read or set the policy
 *                          of this file's sites, or put one site in a form.
 *                          EPERM for the lookup form of a uprobe site of a
 *                          file whose opener lacked CAP_SYS_PTRACE (see
 *                          "Access sites"); ENOENT for no such site.
 * TINYDSM_IOC_SITE_INFO    struct tinydsm_site_info, in: addr (a site's
 *                          address); out: its form, kind, width and counters.
 * Unknown commands give ENOTTY, bad pointers EFAULT.
 *
 * The translation table
 * ---------------------
 *   mmap(NULL, pages, PROT_READ, MAP_SHARED, fd, TINYDSM_XLATE_OFFSET)
 *
 * maps one byte per page of the region, read-only: byte i is enum
 * tinydsm_page_state of page i on this node, kept up to date by the module.
 * The lookup form of an access site reads it to decide whether the access
 * can be done on the local copy (SHARED for a load, EXCLUSIVE for a store)
 * or must go to the page's home (TINYDSM_IOC_WORD). A stale byte is safe:
 * a local access to a page that just left faults and is served as usual.
 * The table's pages are made as they are first used by the module, and a
 * read where none was made maps the zero page, so mapping and reading the
 * table of a big region allocates nothing (its bytes for pages never
 * touched read 0, INVALID); it cannot be accessed through /proc/pid/mem
 * or ptrace.
 *
 * Access sites
 * ------------
 * libtinydsm's access macros (TDSM_LOAD64(p), TDSM_STORE32(p, v), ...) each
 * emit one access site: a single mov of 1, 2, 4 or 8 bytes between a
 * general-purpose register and memory addressed by one base register with a
 * 32-bit zero displacement, at least 5 bytes long (its direct form), and a
 * lookup thunk out of line. Since ABI 6 a site may also be an atomic
 * read-modify-write of 4 or 8 bytes (TDSM_FETCH_ADD64(p, v), TDSM_XCHG32(p,
 * v), ...: lock xadd or xchg, same operands; since ABI 8 TDSM_CAS64(p, e,
 * v), lock cmpxchg, the expected value in RAX), whose lookup form does the
 * operation where the page is held exclusively (TINYDSM_IOC_ATOMIC). A
 * struct tinydsm_site_entry in the ELF section TINYDSM_SITES_SECTION
 * records each site, with positions relative to the
 * entry's own fields (as the kernel's jump tables), so that a PIE needs no
 * relocation of the section.
 *
 * A site has two forms, and the module rewrites the process's own text (its
 * private copy, as ptrace does) between them:
 *   direct  the mov itself: a plain load or store;
 *   lookup  jmp rel32 to the site's thunk, then int3 up to the site's
 *           length. The thunk calls libtinydsm's translation stub, which
 *           reads the translation table and either accesses the local copy
 *           or calls TINYDSM_IOC_WORD, and jumps back after the site.
 * Rewriting is int3-first, as the kernel's text_poke_bp: int3 on the first
 * byte, every CPU serialised, the other bytes, every CPU serialised, the
 * first byte. A thread that meets the int3 meanwhile goes back to the start
 * of the site and meets it again until the site is whole.
 *
 * The module keeps, per page, the sites that touched it (a fault from a
 * direct site, a word access from a lookup site). Policy of a file's sites
 * (TINYDSM_SITES_POLICY_*):
 *   lazy   (default) an invalidated page leaves its sites direct: the next
 *          access faults, and the fault brings the page back (the repair);
 *   eager  when a page is invalidated (another node writes it, or it
 *          migrates away), its sites go lookup at once, and when it is here
 *          again (a fault, REPOPULATE, a migration to this node) they go
 *          direct again.
 * The policy is per open file (TINYDSM_IOC_SITES_CTL) and per migration
 * (TINYDSM_CMD_REPOPULATE with TINYDSM_REPOPULATE_F_LOOKUP).
 *
 * Uprobe sites (TINYDSM_SITE_UPROBE: a plain instruction that faulted on a
 * region page, made a site by the module) take their lookup form through
 * the kernel's uprobes, which rewrite the text of the process and visit
 * every process that maps the same file. They take it only if the file was
 * opened by a task with CAP_SYS_PTRACE (in the initial user namespace), or
 * the module parameter uprobe_sites_unprivileged is set. Otherwise they are
 * recorded (TINYDSM_IOC_SITE_INFO shows them) but stay direct: SET_FORM to
 * lookup gives EPERM, SET_FORM_ALL and the eager policy leave them direct
 * (not counted). Uprobe sites count against max_sites_per_mm; past it, a
 * fault makes no new one.
 *
 * TINYDSM_IOC_SITES_ADD checks every entry and adds all or none: EINVAL
 * for an entry whose width, length, registers or flags are not a site's, a
 * site whose bytes are not the direct form its entry describes (a forged or
 * stale table), a site outside an executable private file mapping of the
 * caller, a thunk outside an executable mapping or inside a site, two sites
 * that overlap, or a table not aligned to its entries; EEXIST if a site is
 * already registered; E2BIG above TINYDSM_SITES_MAX per file; EDQUOT if
 * the calling process would have more sites, over all its open files (its
 * uprobe sites counted), than the module parameter max_sites_per_mm
 * (default TINYDSM_SITES_MAX). The sites' memory is charged to the
 * caller's memory cgroup (ENOMEM at its limit). The sites belong to the
 * calling process and the open file: closing it (or exit, or exec) forgets
 * them. A child of fork keeps the forms its parent's sites
 * had; both are correct in either form.
 *
 * Homes
 * -----
 * The region is cut into home_nodes equal home slices (module parameter,
 * the same on every node, default max_nodes), each a multiple of 64 pages:
 * slice n - 1 is homed on node n; nodes above home_nodes home nothing and
 * only cache the pages of others. The home keeps
 * each page's directory entry (owner, copyset) and serialises its faults.
 * Any page may be touched without TINYDSM_IOC_ALLOC (it reads as zero at
 * first); the allocator hands out disjoint runs so that programs on
 * different nodes never pick the same pages.
 *
 * Generic netlink family TINYDSM_GENL_NAME, version TINYDSM_GENL_VERSION
 * ----------------------------------------------------------------------
 * While the module unloads, every command fails with ESHUTDOWN; the
 * events of the unload itself (NODE_DOWN) still reach the listeners.
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
 *     TINYDSM_A_NODE_RX_BAD (u64, messages refused as malformed),
 *     TINYDSM_A_NODE_AUTH (u8, enum tinydsm_node_auth; for this node:
 *     whether it has a key), TINYDSM_A_NODE_AUTH_FAILS (u64, connections
 *     from or to it refused because they did not prove the key),
 *     TINYDSM_A_NODE_RX_UNMATCHED (u64, replies that matched no request
 *     outstanding on the connection, dropped),
 *     TINYDSM_A_NODE_SETUP_US (u64, microseconds, rounded up: how long the
 *     last connection to or from it that went up took, from its start (the
 *     connect began, or its request came in) to up), TINYDSM_A_NODE_AUTH_US
 *     (u64, microseconds, rounded up: of which the exchange of proofs of
 *     the key, from the connection established to up: what authentication
 *     adds to a connection's setup; 0 if it went up without a key). Both
 *     absent for this node and for a peer no connection to which went up
 *     yet; they stay after a disconnect, until the next connection is up.
 * TINYDSM_CMD_KEY_SET (admin)
 *     TINYDSM_A_KEY     binary, exactly TINYDSM_KEY_LEN bytes
 *   Sets the cluster key: every connection made from now on must prove
 *   that both ends hold it (HMAC-SHA256 over both ends' nonces, before the
 *   connection is up); connections already up stay. The key can be
 *   replaced but never read back. Without a key the module connects to
 *   nobody and accepts nobody, unless the module parameter
 *   allow_unauthenticated is set (then peers are not authenticated at all,
 *   and dmesg and NODE_GET say so). EINVAL for a key of another length or
 *   of all zero bytes.
 * TINYDSM_CMD_MIGRATE (admin), sent to the node the pages move TO
 *     TINYDSM_A_ADDR    u64, global address of the first page (aligned)
 *     TINYDSM_A_NPAGES  u32, 1 .. pages in the region
 *     TINYDSM_A_FROM    u32, the node the pages are homed on now
 *   Moves the home and the ownership of every page of the range that is
 *   homed on FROM and was ever touched (pages homed elsewhere, or never
 *   touched, are skipped) to this node: this node pulls the contents over
 *   RDMA in batches of up to TINYDSM_MIGRATE_BATCH pages, every other copy
 *   is invalidated (those nodes get TINYDSM_PAGE_F_MOVED on the page and
 *   learn the new home), and FROM forwards later requests here. Each batch
 *   either moves entirely or not at all; a failed call leaves the batches
 *   done so far moved, so calling again with the same arguments resumes.
 *   Reply (TINYDSM_CMD_MIGRATE): TINYDSM_A_PAGES_MOVED, _PAGES_SKIPPED,
 *   _PAGES_DATA (contents that crossed the wire), _HOLDERS64 (u64 bitmap
 *   of the nodes whose copies were invalidated, bit n - 1 = node n),
 *   _HOLDERS (the same as ABI 1's u32 bitmap, bit n = node n, nodes 1..31
 *   only), _NSEC (u64). A call that
 *   stops after some batches moved or were skipped sends this reply too,
 *   with what they did, and then its error.
 *   Errors: EINVAL FROM is this node ("migrate to self") or a bad address;
 *   ERANGE range outside the region; ENOENT FROM is not a known node;
 *   EHOSTUNREACH FROM is not connected; ETIMEDOUT a node did not answer.
 * TINYDSM_CMD_REPOPULATE (admin)
 *     TINYDSM_A_ADDR, TINYDSM_A_NPAGES
 *     TINYDSM_A_FLAGS   u32, TINYDSM_REPOPULATE_F_* (optional)
 *   The eager side of a migration: every page of the range that this node
 *   lost to a migration (TINYDSM_PAGE_F_MOVED) is fetched again, read-only,
 *   from its new home in batches, and mapped again into every process of
 *   this node that maps it, so that no access faults; the access sites
 *   recorded for those pages go direct. With TINYDSM_REPOPULATE_F_LOOKUP
 *   the pages are not fetched: their sites go lookup instead (every access
 *   is then done at the new home, without a fault). Reply:
 *   TINYDSM_A_PAGES_FETCHED, TINYDSM_A_PAGES_MAPPED (page table entries
 *   established), TINYDSM_A_SITES (access sites rewritten), TINYDSM_A_NSEC.
 * TINYDSM_CMD_NODE_EVICT (admin)
 *     TINYDSM_A_NODE_ID
 *   The node is dead (tinydsmd's membership says so): drop it from the
 *   copyset of every page homed here, so that writes stop waiting for it,
 *   and disconnect it (the module reconnects when it comes back). Pages it
 *   owned stay owned by it and fail with EHOSTUNREACH until it returns.
 *   Reply: TINYDSM_A_NPAGES (copies dropped), TINYDSM_A_PAGES_LOST (pages
 *   it owns). ENOENT if unknown, EINVAL for this node.
 * TINYDSM_CMD_REGION_SET (admin)
 *     TINYDSM_A_CACHE_BUDGET  u64, bytes: 0 (unlimited) or at least 1 MiB
 *     TINYDSM_A_HOME_BUDGET   u64, bytes: 0 (unlimited) or at least 1 MiB
 *   (either or both). TINYDSM_A_HOME_BUDGET sets this node's home budget
 *   (the module parameter home_budget_mb, in bytes): how many pages it
 *   homes at most, counting each ALLOC run whole, each page first touched
 *   outside any run and each page migrated in (kmod/PROTOCOL.md, "Home
 *   budget"). Past it ALLOC and MIGRATE get ENOSPC and a first touch
 *   SIGBUS, each with a TINYDSM_EV_BUDGET event. TINYDSM_A_CACHE_BUDGET
 *   sets this node's cache budget (the module parameter cache_budget_mb,
 *   in bytes): how many frames of pages homed on other nodes it keeps. Above
 *   it a reclaim work item drops clean read copies (those not used since
 *   its clock last passed) and tells their homes, and writes the pages
 *   this node owns back to their homes. TINYDSM_IOC_STATS shows both
 *   budgets, the home's charge and refusals, the frames cached and the
 *   evictions. EINVAL for a budget under 1 MiB
 *   but 0 (nothing is set then), or for no attribute.
 * TINYDSM_CMD_EVENT: notifications in the multicast group
 *   TINYDSM_GENL_MCGRP_EVENTS (joining it needs CAP_NET_ADMIN: the events
 *   carry page addresses and faulting nodes), never a request. TINYDSM_A_EVENT (u32,
 *   enum tinydsm_event) says which; the other attributes are listed there.
 */
#ifndef _UAPI_LINUX_TINYDSM_H
#define _UAPI_LINUX_TINYDSM_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#define TINYDSM_ABI_VERSION	8
#define TINYDSM_DEVICE_NAME	"tinydsm"

/*
 * The fixed global base of the region on every node: 64 TiB, far from the
 * kernel's default mmap area (top-down from 128 TiB), from PIE text and heap
 * (around 85 TiB on x86-64 they stay above it) and from low mappings. The
 * region is at most 16 TiB (region_size_mb 16777216), so it ends at 80 TiB
 * at most.
 */
#define TINYDSM_REGION_BASE	0x400000000000ULL

/*
 * Node ids are 1 .. TINYDSM_MAX_NODES - 1 (1..64); 0 means "none". ABI 1
 * had 32 (ids 1..31): its u32 bitmaps with bit n for node n (the page
 * info's copyset, TINYDSM_A_HOLDERS) are still filled, for nodes 1..31
 * only; the u64 ones of ABI 2 (holders, TINYDSM_A_HOLDERS64) have bit
 * n - 1 for node n and name every node.
 */
#define TINYDSM_MAX_NODES	65

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
/* the copy here was invalidated by a migration; REPOPULATE fetches it back */
#define TINYDSM_PAGE_F_MOVED	_BITUL(2)
#define __TINYDSM_PAGE_F_ALL	(TINYDSM_PAGE_F_PRESENT | TINYDSM_PAGE_F_WRITTEN | \
				 TINYDSM_PAGE_F_MOVED)

/**
 * struct tinydsm_region_info - the region as this node sees it
 * @abi_version: TINYDSM_ABI_VERSION of the module.
 * @node_id: this node's id.
 * @base: global base address (TINYDSM_REGION_BASE).
 * @size: region size in bytes.
 * @page_size: granularity of ownership and transfer, in bytes.
 * @meta_bytes_per_page: bytes of metadata the module keeps per page.
 * @slice_pages: pages per home slice: slice n - 1 (the pages from base +
 *	(n - 1) * slice_pages * page_size on) is first homed on node n.
 * @max_nodes: the highest node id (module parameter max_nodes).
 * @home_nodes: nodes that home a slice, nodes 1 .. home_nodes (module
 *	parameter home_nodes, default max_nodes); a module older than this
 *	field reports 0, meaning max_nodes.
 * @reserved: zero.
 */
struct tinydsm_region_info {
	__u32 abi_version;
	__u32 node_id;
	__u64 base;
	__u64 size;
	__u32 page_size;
	__u32 meta_bytes_per_page;
	__u64 slice_pages;
	__u32 max_nodes;
	__u32 home_nodes;
	__u64 reserved[2];
};

/**
 * struct tinydsm_page_info - one page's metadata on this node
 * @addr: in: any address inside the page (must be inside the region).
 * @fault_ip: user instruction pointer of the last fault on this page here,
 *	0 if no user access has faulted on it.
 * @copyset: bitmap of the nodes 1..31 holding a valid copy (bit n = node
 *	n), as in ABI 1; @holders names every node.
 * @owner: owning node id, 0 if the page was never touched.
 * @state: enum tinydsm_page_state.
 * @flags: TINYDSM_PAGE_F_*.
 * @faults: faults taken on this page on this node (saturates at 255).
 * @home: the page's home as this node knows it (after a migration a node
 *	that was not told yet still names the old home, which forwards).
 * @reserved: must be zero.
 * @holders: out: the nodes holding a valid copy, bit n - 1 = node n
 *	(nodes 1..64). On the page's home, @owner and @copyset/@holders are
 *	its directory entry; elsewhere what this node last learnt.
 *
 * ABI 2 added @holders at the end, which changed the size and so the
 * number of TINYDSM_IOC_PAGE_INFO. The module still answers ABI 1's
 * number (the same ioctl with the 32-byte structure, up to @reserved):
 * a program built against ABI 1 keeps working, and gets every field it
 * knew.
 */
struct tinydsm_page_info {
	__u64 addr;
	__u64 fault_ip;
	__u32 copyset;
	__u16 owner;
	__u8 state;
	__u8 flags;
	__u32 faults;
	__u16 home;
	__u16 reserved;
	__u64 holders;
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
 * @migrated_in: pages whose home moved to this node (MIGRATE here).
 * @migrated_out: pages whose home moved away from this node.
 * @repopulated: pages fetched back by REPOPULATE after a migration.
 * @prefaults: mappings REPOPULATE re-established without a user fault.
 * @forwards: requests answered "not home, ask node N" and retried there.
 * @sites_direct: access sites rewritten to their direct form.
 * @sites_lookup: access sites rewritten to their lookup form.
 * @word_remote: TINYDSM_IOC_WORD and TINYDSM_IOC_ATOMIC operations done at
 *	another node.
 * @word_served: word accesses and atomics this node served as a home for
 *	others.
 * @cached_pages: frames here of pages homed on other nodes (read copies,
 *	pages this node owns, frames it retained after giving a page up).
 * @cache_budget_pages: the cache budget in pages (module parameter
 *	cache_budget_mb, or TINYDSM_CMD_REGION_SET); 0: unlimited.
 * @evicted_clean: read copies this node dropped to keep to the budget.
 * @evicted_written: pages this node owned that their home took back
 *	(written back) to keep to the budget.
 * @evict_released: frames freed on their home's release (a page written
 *	back, or a frame the home no longer counts as the page).
 * @evict_failed: pages of a write-back that their home neither took nor
 *	released: their frames stay.
 * @evict_batches: eviction messages sent (one per home per 64 pages).
 * @evict_batch_pages: pages those messages named: evict_batch_pages /
 *	evict_batches is the mean batch size.
 * @reclaim_runs: runs of the reclaim work.
 * @reclaim_ns: time the reclaim work ran, in nanoseconds.
 * @meta_bytes: bytes of page metadata this node holds now: the chunks
 *	below and the pages of the translation table made so far.
 * @chunks: chunks of page metadata (64 pages each) this node holds now:
 *	created when one of their pages is first used here, freed by a
 *	worker once none of them holds a copy, a directory entry or a
 *	forwarding home (kmod/PROTOCOL.md, "Metadata lifetime").
 * @home_frames: frames here of pages homed here (@frames less
 *	@cached_pages); never more than @home_charged.
 * @home_charged: pages charged to the home budget: the pages of the
 *	ALLOC runs of this node's slice, the pages first touched outside
 *	any run and the pages migrated in (kmod/PROTOCOL.md "Home budget").
 * @home_budget_pages: the home budget in pages (module parameter
 *	home_budget_mb, or TINYDSM_CMD_REGION_SET); 0: unlimited.
 * @home_refused: pages refused for the home budget (ALLOC, first
 *	touches, MIGRATE), each refusal also a TINYDSM_EV_BUDGET event.
 * @shrinker_freed: read copies the kernel's memory pressure freed (the
 *	shrinker "tinydsm-cache", with or without a cache budget).
 * @clock_young: pages the cache's clock found used through a mapping
 *	(their PTE's accessed bit set since it last looked, sampled once
 *	per 64 pages per pass): pages used by plain loads and stores,
 *	which do not fault, that it kept.
 * @readahead_batches: sequential read faults that asked the home for
 *	their page and the pages after it in one message (module parameter
 *	readahead_pages; kmod/PROTOCOL.md "Read-ahead").
 * @readahead_pages: pages those messages brought besides the faulting
 *	one: pages that need no remote fault of their own.
 *
 * The struct grows at the end. Its size is part of the TINYDSM_IOC_STATS
 * number, so the numbers of its older sizes are still answered, each with
 * the counters its size holds and nothing past them:
 * TINYDSM_IOC_STATS_V1 (128 bytes, up to @word_served),
 * TINYDSM_IOC_STATS_V2 (208 bytes, up to @reclaim_ns),
 * TINYDSM_IOC_STATS_V3 (224 bytes, up to @chunks),
 * TINYDSM_IOC_STATS_V4 (264 bytes, up to @shrinker_freed) and
 * TINYDSM_IOC_STATS_V5 (272 bytes, up to @clock_young).
 */
struct tinydsm_stats {
	__u64 read_faults;
	__u64 write_faults;
	__u64 frames;
	__u64 frames_allocated;
	__u64 remote_faults;
	__u64 invalidations;
	__u64 fetches;
	__u64 migrated_in;
	__u64 migrated_out;
	__u64 repopulated;
	__u64 prefaults;
	__u64 forwards;
	__u64 sites_direct;
	__u64 sites_lookup;
	__u64 word_remote;
	__u64 word_served;
	__u64 cached_pages;
	__u64 cache_budget_pages;
	__u64 evicted_clean;
	__u64 evicted_written;
	__u64 evict_released;
	__u64 evict_failed;
	__u64 evict_batches;
	__u64 evict_batch_pages;
	__u64 reclaim_runs;
	__u64 reclaim_ns;
	__u64 meta_bytes;
	__u64 chunks;
	__u64 home_frames;
	__u64 home_charged;
	__u64 home_budget_pages;
	__u64 home_refused;
	__u64 shrinker_freed;
	__u64 clock_young;
	__u64 readahead_batches;
	__u64 readahead_pages;
};

/*
 * The older sizes of struct tinydsm_stats: its first 16 counters, then
 * 26, then 28, then 33, then 34.
 */
#define TINYDSM_STATS_V1_SIZE	128
#define TINYDSM_STATS_V2_SIZE	208
#define TINYDSM_STATS_V3_SIZE	224
#define TINYDSM_STATS_V4_SIZE	264
#define TINYDSM_STATS_V5_SIZE	272

/*
 * TINYDSM_IOC_ALLOC flags (ABI 5).
 * TINYDSM_ALLOC_F_FILE: the run belongs to the open file the ALLOC was
 * made through: it is FREEd when the file is released (its last close and
 * its last mapping gone: the process exited, or was killed), unless it was
 * FREEd before. At most TINYDSM_ALLOC_FILE_MAX such runs a file (ENOSPC).
 */
#define TINYDSM_ALLOC_F_FILE	_BITUL(0)
#define TINYDSM_ALLOC_FILE_MAX	64

/**
 * struct tinydsm_alloc - a run of pages backed by a home node
 * @home: in (ALLOC): the node that backs the pages (0: this node).
 * @npages: in: number of pages.
 * @addr: out (ALLOC), in (FREE): global address of the first page.
 * @flags: in (ALLOC): TINYDSM_ALLOC_F_*; 0 for FREE.
 * @reserved32: must be zero.
 * @reserved: must be zero.
 */
struct tinydsm_alloc {
	__u32 home;
	__u32 npages;
	__u64 addr;
	__u32 flags;
	__u32 reserved32;
	__u64 reserved[1];
};

/* TINYDSM_IOC_WORD */
#define TINYDSM_WORD_F_STORE	_BITUL(0)
#define __TINYDSM_WORD_F_ALL	TINYDSM_WORD_F_STORE

/**
 * struct tinydsm_word - one word-sized access where the page lives
 * @addr: in: address of the access, inside the region; the access must not
 *	cross a page.
 * @value: in (store): the value, in its low @width bytes; out (load): the
 *	value read, zero-extended.
 * @site: in: the access site this access comes from, or 0: the module
 *	records it against the page, so that page events find it.
 * @width: in: 1, 2, 4 or 8.
 * @flags: in: TINYDSM_WORD_F_*.
 * @remote: out: 1 if the access went to another node.
 * @reserved: zero.
 */
struct tinydsm_word {
	__u64 addr;
	__u64 value;
	__u64 site;
	__u8 width;
	__u8 flags;
	__u8 remote;
	__u8 reserved[5];
};

/* TINYDSM_IOC_ATOMIC: struct tinydsm_atomic.op */
enum tinydsm_atomic_op {
	TINYDSM_ATOMIC_CAS = 1,
	TINYDSM_ATOMIC_FETCH_ADD,
	TINYDSM_ATOMIC_XCHG,
	TINYDSM_ATOMIC_FETCH_AND,
	TINYDSM_ATOMIC_FETCH_OR,
	__TINYDSM_ATOMIC_MAX
};

/**
 * struct tinydsm_atomic - one atomic read-modify-write where the page is
 *	held exclusively (ABI 3)
 * @addr: in: address of the word, inside the region, aligned to @width.
 * @operand: in: CAS and XCHG: the new value; FETCH_ADD: the addend (modulo
 *	2^(8 x @width)); FETCH_AND, FETCH_OR: the mask. At most @width bytes.
 * @expected: in: CAS: the value the word must hold for the new one to be
 *	stored; zero for every other op. At most @width bytes.
 * @old: out: the word before the operation (a CAS stored iff @old ==
 *	@expected).
 * @width: in: 4 or 8.
 * @op: in: enum tinydsm_atomic_op.
 * @remote: out: 1 if the operation was done at another node.
 * @reserved: zero.
 */
struct tinydsm_atomic {
	__u64 addr;
	__u64 operand;
	__u64 expected;
	__u64 old;
	__u8 width;
	__u8 op;
	__u8 remote;
	__u8 reserved[5];
};

/**
 * struct tinydsm_wait - sleep while a word holds a value, woken from any
 *	node (ABI 4)
 * @addr: in: address of the word, inside the region, aligned to @width.
 * @expected: in: sleep only while the word holds this; at most @width
 *	bytes.
 * @timeout_ns: in: the longest sleep, or 0 for none of its own (a home
 *	that dies or cannot be reached still ends the wait, with an error,
 *	within a few of the module's timeout_ms).
 * @width: in: 4 or 8.
 * @remote: out: 1 if the waiter was queued at another node.
 * @reserved: zero.
 */
struct tinydsm_wait {
	__u64 addr;
	__u64 expected;
	__u64 timeout_ns;
	__u8 width;
	__u8 remote;
	__u8 reserved[6];
};

/**
 * struct tinydsm_wake - wake waiters on a word, on any node (ABI 4)
 * @addr: in: address of the word, as the waiters gave it.
 * @count: in: wake at most this many (1 .. INT_MAX), oldest first.
 * @woken: out: how many were woken.
 * @width: in: 4 or 8, as the waiters'.
 * @remote: out: 1 if the wake was done at another node (the home).
 * @reserved: zero.
 */
struct tinydsm_wake {
	__u64 addr;
	__u32 count;
	__u32 woken;
	__u8 width;
	__u8 remote;
	__u8 reserved[6];
};

/**
 * struct tinydsm_place - home pages of a run on another node (ABI 7)
 * @addr: in: the first page, page aligned, inside a run this node
 *	allocated (and homes) for the caller's fsuid.
 * @npages: in: how many pages, 1 or more, inside the same run.
 * @node: in: their new home: a node that homes a slice, or this node.
 * @moved: out: how many of them are homed on @node now.
 * @reserved: zero.
 */
struct tinydsm_place {
	__u64 addr;
	__u32 npages;
	__u32 node;
	__u32 moved;
	__u32 reserved;
};

/*
 * The ELF section of libtinydsm's access sites (a C identifier, so that the
 * linker defines __start_tinydsm_sites and __stop_tinydsm_sites).
 */
#define TINYDSM_SITES_SECTION	"tinydsm_sites"
/* Most sites one open file may register. */
#define TINYDSM_SITES_MAX	65536

/*
 * tinydsm_site_entry.flags: at most one. None: a load (mov); F_STORE: a
 * store (mov). The atomic sites (ABI 6), 4 or 8 bytes: F_FETCH_ADD, lock
 * xadd V, 0(A) (the word += V, V = the word before); F_XCHG, xchg V, 0(A)
 * (the word = V, V = the word before); F_CAS (ABI 8), lock cmpxchg V, 0(A)
 * (if the word = RAX, the word = V; else RAX = the word). Their lookup
 * form does the operation where the page is held exclusively, as
 * TINYDSM_IOC_ATOMIC does.
 */
#define TINYDSM_SITE_F_STORE		_BITUL(0)
#define TINYDSM_SITE_F_FETCH_ADD	_BITUL(1)
#define TINYDSM_SITE_F_XCHG		_BITUL(2)
#define TINYDSM_SITE_F_CAS		_BITUL(3)
#define __TINYDSM_SITE_F_ALL	(TINYDSM_SITE_F_STORE | TINYDSM_SITE_F_FETCH_ADD | \
				 TINYDSM_SITE_F_XCHG | TINYDSM_SITE_F_CAS)

/**
 * struct tinydsm_site_entry - one access site, as the ELF section holds it
 * @site: address of the site minus the address of this field.
 * @lookup: address of the site's lookup thunk minus the address of this field.
 * @len: length of the site in bytes, 5 .. 15 (its direct form is one
 *	instruction of exactly this length).
 * @width: bytes accessed: 1, 2, 4 or 8 (1 and 2 byte loads zero-extend).
 * @flags: TINYDSM_SITE_F_*.
 * @value_reg: the register loaded or stored, x86-64 numbering (0 rax,
 *	1 rcx, 2 rdx, 3 rbx, 4 rsp, 5 rbp, 6 rsi, 7 rdi, 8 .. 15 r8 .. r15).
 * @addr_reg: the base register holding the address, same numbering.
 * @reserved: zero.
 */
struct tinydsm_site_entry {
	__s32 site;
	__s32 lookup;
	__u8 len;
	__u8 width;
	__u8 flags;
	__u8 value_reg;
	__u8 addr_reg;
	__u8 reserved[3];
};

/**
 * struct tinydsm_sites - TINYDSM_IOC_SITES_ADD
 * @table: in: user address of the first struct tinydsm_site_entry (the
 *	section's start; aligned to 4).
 * @count: in: number of entries, 1 .. TINYDSM_SITES_MAX.
 * @added: out: sites added (all of them, or the call failed).
 * @bad_index: out: on EINVAL/EEXIST, the index of the entry refused.
 * @reserved: zero.
 */
struct tinydsm_sites {
	__u64 table;
	__u32 count;
	__u32 added;
	__u32 bad_index;
	__u32 reserved[3];
};

/* Policies of a file's sites (TINYDSM_IOC_SITES_CTL). */
enum tinydsm_sites_policy {
	TINYDSM_SITES_POLICY_LAZY = 0,
	TINYDSM_SITES_POLICY_EAGER = 1,
};

/* Forms of a site. */
enum tinydsm_site_form {
	TINYDSM_SITE_DIRECT = 0,
	TINYDSM_SITE_LOOKUP = 1,
};

/* TINYDSM_IOC_SITES_CTL ops */
enum tinydsm_sites_op {
	TINYDSM_SITES_GET = 0,		/* out: policy, count */
	TINYDSM_SITES_SET_POLICY = 1,	/* in: policy */
	TINYDSM_SITES_SET_FORM = 2,	/* in: addr (a site), form; waits for it */
	TINYDSM_SITES_SET_FORM_ALL = 3,	/* in: form: every site of this file */
};

/**
 * struct tinydsm_sites_ctl - TINYDSM_IOC_SITES_CTL
 * @op: in: enum tinydsm_sites_op.
 * @policy: in (SET_POLICY) / out (GET): enum tinydsm_sites_policy.
 * @form: in (SET_FORM*): enum tinydsm_site_form.
 * @count: out (GET): sites registered on this file; (SET_FORM*): sites
 *	rewritten by this call.
 * @addr: in (SET_FORM): the site's address.
 * @reserved: zero.
 */
struct tinydsm_sites_ctl {
	__u32 op;
	__u32 policy;
	__u32 form;
	__u32 count;
	__u64 addr;
	__u64 reserved[2];
};

/**
 * struct tinydsm_site_info - TINYDSM_IOC_SITE_INFO
 * @addr: in: the site's address.
 * @lookup: out: its thunk (0 for a uprobe site).
 * @form: out: enum tinydsm_site_form.
 * @kind: out: enum tinydsm_site_kind.
 * @width: out: bytes accessed.
 * @flags: out: TINYDSM_SITE_F_*.
 * @len: out: length in bytes.
 * @reserved0: zero.
 * @patches: out: times its form changed.
 * @faults: out: faults taken at it on region pages.
 * @words: out: word accesses it made through the module.
 * @reserved: zero.
 */
struct tinydsm_site_info {
	__u64 addr;
	__u64 lookup;
	__u8 form;
	__u8 kind;
	__u8 width;
	__u8 flags;
	__u8 len;
	__u8 reserved0[3];
	__u64 patches;
	__u64 faults;
	__u64 words;
	__u64 reserved[2];
};

/* How a site is rewritten. */
enum tinydsm_site_kind {
	TINYDSM_SITE_POKE = 0,		/* a libtinydsm site: text poke */
	TINYDSM_SITE_UPROBE = 1,	/* any faulting instruction: a uprobe */
};

/* mmap offset of the translation table (beyond any region). */
#define TINYDSM_XLATE_OFFSET	0x800000000000ULL

#define TINYDSM_IOC_MAGIC	0xd5
#define TINYDSM_IOC_REGION_INFO	_IOR(TINYDSM_IOC_MAGIC, 0x01, struct tinydsm_region_info)
#define TINYDSM_IOC_PAGE_INFO	_IOWR(TINYDSM_IOC_MAGIC, 0x02, struct tinydsm_page_info)
#define TINYDSM_IOC_STATS	_IOR(TINYDSM_IOC_MAGIC, 0x03, struct tinydsm_stats)
#define TINYDSM_IOC_STATS_V1	_IOC(_IOC_READ, TINYDSM_IOC_MAGIC, 0x03, \
				     TINYDSM_STATS_V1_SIZE)
#define TINYDSM_IOC_STATS_V2	_IOC(_IOC_READ, TINYDSM_IOC_MAGIC, 0x03, \
				     TINYDSM_STATS_V2_SIZE)
#define TINYDSM_IOC_STATS_V3	_IOC(_IOC_READ, TINYDSM_IOC_MAGIC, 0x03, \
				     TINYDSM_STATS_V3_SIZE)
#define TINYDSM_IOC_STATS_V4	_IOC(_IOC_READ, TINYDSM_IOC_MAGIC, 0x03, \
				     TINYDSM_STATS_V4_SIZE)
#define TINYDSM_IOC_STATS_V5	_IOC(_IOC_READ, TINYDSM_IOC_MAGIC, 0x03, \
				     TINYDSM_STATS_V5_SIZE)
#define TINYDSM_IOC_ALLOC	_IOWR(TINYDSM_IOC_MAGIC, 0x04, struct tinydsm_alloc)
#define TINYDSM_IOC_FREE	_IOW(TINYDSM_IOC_MAGIC, 0x05, struct tinydsm_alloc)
#define TINYDSM_IOC_WORD	_IOWR(TINYDSM_IOC_MAGIC, 0x06, struct tinydsm_word)
#define TINYDSM_IOC_SITES_ADD	_IOWR(TINYDSM_IOC_MAGIC, 0x07, struct tinydsm_sites)
#define TINYDSM_IOC_SITES_CTL	_IOWR(TINYDSM_IOC_MAGIC, 0x08, struct tinydsm_sites_ctl)
#define TINYDSM_IOC_SITE_INFO	_IOWR(TINYDSM_IOC_MAGIC, 0x09, struct tinydsm_site_info)
#define TINYDSM_IOC_ATOMIC	_IOWR(TINYDSM_IOC_MAGIC, 0x0a, struct tinydsm_atomic)
#define TINYDSM_IOC_WAIT	_IOWR(TINYDSM_IOC_MAGIC, 0x0b, struct tinydsm_wait)
#define TINYDSM_IOC_WAKE	_IOWR(TINYDSM_IOC_MAGIC, 0x0c, struct tinydsm_wake)
#define TINYDSM_IOC_PLACE	_IOWR(TINYDSM_IOC_MAGIC, 0x0d, struct tinydsm_place)

/* generic netlink */
#define TINYDSM_GENL_NAME	"tinydsm"
#define TINYDSM_GENL_VERSION	1

enum tinydsm_cmd {
	TINYDSM_CMD_UNSPEC,
	TINYDSM_CMD_NODE_ADD,
	TINYDSM_CMD_NODE_DEL,
	TINYDSM_CMD_NODE_GET,
	TINYDSM_CMD_MIGRATE,
	TINYDSM_CMD_REPOPULATE,
	TINYDSM_CMD_NODE_EVICT,
	TINYDSM_CMD_EVENT,
	TINYDSM_CMD_KEY_SET,
	TINYDSM_CMD_REGION_SET,
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
	TINYDSM_A_ADDR,			/* u64 */
	TINYDSM_A_NPAGES,		/* u32 */
	TINYDSM_A_FROM,			/* u32 node id */
	TINYDSM_A_TO,			/* u32 node id */
	TINYDSM_A_PAGES_MOVED,		/* u32 */
	TINYDSM_A_PAGES_SKIPPED,	/* u32 */
	TINYDSM_A_PAGES_DATA,		/* u32 */
	TINYDSM_A_HOLDERS,		/* u32 bitmap, bit n = node n (1..31) */
	TINYDSM_A_NSEC,			/* u64 */
	TINYDSM_A_PAGES_FETCHED,	/* u32 */
	TINYDSM_A_PAGES_MAPPED,		/* u32 */
	TINYDSM_A_SITES,		/* u32 */
	TINYDSM_A_EVENT,		/* u32, enum tinydsm_event */
	TINYDSM_A_ERRNO,		/* s32, -errno */
	TINYDSM_A_RATE,			/* u32, per second */
	TINYDSM_A_PAGES_LOST,		/* u32 */
	TINYDSM_A_FLAGS,		/* u32 */
	TINYDSM_A_KEY,			/* binary, TINYDSM_KEY_LEN */
	TINYDSM_A_NODE_AUTH,		/* u8, enum tinydsm_node_auth */
	TINYDSM_A_NODE_AUTH_FAILS,	/* u64 */
	TINYDSM_A_NODE_RX_UNMATCHED,	/* u64 */
	TINYDSM_A_NODE_SETUP_US,	/* u64, microseconds */
	TINYDSM_A_NODE_AUTH_US,		/* u64, microseconds */
	TINYDSM_A_HOLDERS64,		/* u64 bitmap, bit n - 1 = node n */
	TINYDSM_A_CACHE_BUDGET,		/* u64, bytes; 0: unlimited */
	TINYDSM_A_HOME_BUDGET,		/* u64, bytes; 0: unlimited */
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

/* The cluster key (TINYDSM_CMD_KEY_SET), in bytes. */
#define TINYDSM_KEY_LEN		32

/**
 * enum tinydsm_node_auth - TINYDSM_A_NODE_AUTH of a NODE_GET entry
 * @TINYDSM_AUTH_NONE: a peer: no connection has been up yet. This node:
 *	no key, and the module refuses every connection.
 * @TINYDSM_AUTH_KEY: a peer: the connection was authenticated with the
 *	cluster key. This node: it has a key.
 * @TINYDSM_AUTH_OFF: a peer: connected without authentication (no key,
 *	module parameter allow_unauthenticated). This node: no key, and
 *	allow_unauthenticated is set.
 * @TINYDSM_AUTH_FAILED: a peer: the last connection failed to prove the
 *	key (or the peer has none); it is refused.
 */
enum tinydsm_node_auth {
	TINYDSM_AUTH_NONE,
	TINYDSM_AUTH_KEY,
	TINYDSM_AUTH_OFF,
	TINYDSM_AUTH_FAILED,
};

/* TINYDSM_A_FLAGS of TINYDSM_CMD_REPOPULATE */
#define TINYDSM_REPOPULATE_F_LOOKUP	_BITUL(0) /* sites go lookup; nothing fetched */
#define __TINYDSM_REPOPULATE_F_ALL	TINYDSM_REPOPULATE_F_LOOKUP

/* Largest number of pages one migration round trip carries. */
#define TINYDSM_MIGRATE_BATCH	64

#define TINYDSM_GENL_MCGRP_EVENTS	"events"

/**
 * enum tinydsm_event - TINYDSM_A_EVENT of a TINYDSM_CMD_EVENT notification
 * @TINYDSM_EV_NODE_UP: connected to TINYDSM_A_NODE_ID.
 * @TINYDSM_EV_NODE_DOWN: lost TINYDSM_A_NODE_ID; TINYDSM_A_ERRNO says why.
 * @TINYDSM_EV_MIGRATED: a batch changed home: TINYDSM_A_ADDR,
 *	TINYDSM_A_NPAGES, TINYDSM_A_FROM, TINYDSM_A_TO (sent by both ends).
 * @TINYDSM_EV_OWNER: this node, as home, made TINYDSM_A_NODE_ID the owner of
 *	the page at TINYDSM_A_ADDR (a write); rate-limited like printk.
 * @TINYDSM_EV_FAULT_STORM: faults on this node exceeded the module
 *	parameter storm_faults per second: TINYDSM_A_RATE, and TINYDSM_A_ADDR
 *	the page that faulted last.
 * @TINYDSM_EV_FAULT_ERROR: a fault failed (the access got SIGBUS, or, for
 *	ENOMEM, is retried): TINYDSM_A_ADDR, TINYDSM_A_ERRNO,
 *	TINYDSM_A_NODE_ID (the home asked).
 * @TINYDSM_EV_EVICTED: TINYDSM_A_NODE_ID was evicted (NODE_EVICT):
 *	TINYDSM_A_NPAGES copies dropped, TINYDSM_A_PAGES_LOST pages it owns.
 * @TINYDSM_EV_BUDGET: this node, as home, refused TINYDSM_A_NPAGES pages
 *	from TINYDSM_A_ADDR (0 for an ALLOC: no address yet) for its home
 *	budget, or could not take a write-back for want of memory:
 *	TINYDSM_A_ERRNO (-ENOSPC, -ENOMEM), TINYDSM_A_FLAGS
 *	(TINYDSM_BUDGET_F_*: what was refused); rate-limited like
 *	TINYDSM_EV_OWNER.
 */
enum tinydsm_event {
	TINYDSM_EV_NODE_UP = 1,
	TINYDSM_EV_NODE_DOWN,
	TINYDSM_EV_MIGRATED,
	TINYDSM_EV_OWNER,
	TINYDSM_EV_FAULT_STORM,
	TINYDSM_EV_FAULT_ERROR,
	TINYDSM_EV_EVICTED,
	TINYDSM_EV_BUDGET,
};

/* TINYDSM_A_FLAGS of TINYDSM_EV_BUDGET: what the home refused. */
#define TINYDSM_BUDGET_F_ALLOC		_BITUL(0) /* an ALLOC run */
#define TINYDSM_BUDGET_F_TOUCH		_BITUL(1) /* a first touch outside runs */
#define TINYDSM_BUDGET_F_MIGRATE	_BITUL(2) /* a MIGRATE batch in */
#define TINYDSM_BUDGET_F_WRITEBACK	_BITUL(3) /* a write-back in (no memory) */

#define TINYDSM_NODE_F_SELF	_BITUL(0)	/* the entry is this node */
#define __TINYDSM_NODE_F_ALL	TINYDSM_NODE_F_SELF

#endif /* _UAPI_LINUX_TINYDSM_H */
