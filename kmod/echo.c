// SPDX-License-Identifier: GPL-2.0
/*
 * tinydsm: the transport floor. ECHO is a page's round trip with nothing
 * of any page's state in it: the requester registers a 4 KiB buffer and
 * sends the request, the peer RDMA-WRITEs a page into that buffer and
 * replies (invalidating its rkey), as it answers a READ, but without a
 * page to look up, lock or change. What a remote fault costs beyond an
 * ECHO's round trip is tinydsm's own (tools/bench/README.md, "The
 * transport floor").
 *
 * The requester's side is a benchmark's, in debugfs: writing "NODE COUNT"
 * to tinydsm/echo (root only, 0600) sends COUNT echoes to NODE, one after
 * the other, in the writer's own context, and keeps the time of each, in
 * ns; reading the file gives those of the last run that completed, one
 * per line. Writes are serialised; a failed echo ends the run with its
 * error and keeps no figure of it. Without debugfs there is no file, and
 * the peer's side answers all the same.
 *
 * Lifetime: the page the peer sends is allocated at load and freed at
 * unload once no handler runs (tdsm_echo_exit(), after the transport is
 * gone); a reply in flight holds its own reference (rdma.c,
 * tdsm_tx_set_push()). An open file holds a reference to the module (its
 * fops' owner): the module cannot be unloaded while a run is under way,
 * and no run starts once its unload began (PROTOCOL.md, "ECHO, the
 * transport floor").
 */
#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "echo.h"
#include "inject.h"
#include "peer.h"
#include "proto.h"
#include "rdma.h"
#include "tinydsm.h"
#include "wire.h"

/* Echoes per run at most: the samples fit one kvmalloc'd array. */
#define TDSM_ECHO_MAX	10000

/* The page every ECHO reply writes: zeroed at load, never changed. */
static struct page *tdsm_echo_page;

/* Serialises the runs, and guards the samples of the last one. */
static DEFINE_MUTEX(tdsm_echo_mutex);
static u64 *tdsm_echo_ns;		/* under tdsm_echo_mutex */
static unsigned int tdsm_echo_n;	/* under tdsm_echo_mutex */

static struct dentry *tdsm_echo_file;

/*
 * The peer's side: answer an ECHO with the page, written into the
 * requester's buffer ahead of the reply, and nothing else. Any field of a
 * page message that an ECHO does not use must be zero.
 */
void tdsm_handle_echo(struct tdsm_conn *conn, const struct tdsm_wire_msg *msg)
{
	const struct tdsm_wire_page *p = &msg->page;
	u32 rkey = be32_to_cpu(p->rkey);

	if (p->addr || p->dst || p->mode || p->reserved[0] || p->reserved[1] ||
	    p->epoch || p->grant_epoch || !rkey) {
		tdsm_reply_refuse(conn, msg, TDSM_WS_INVAL, rkey);
		return;
	}
	tdsm_reply_page(conn, msg, TDSM_WS_OK, TDSM_RF_DATA, 0, tdsm_echo_page,
			be64_to_cpu(p->iova), rkey, false);
}

/* One echo to node @node: 0, or -errno (as a fault's call would fail). */
static int tdsm_echo_once(u8 node)
{
	struct tdsm_call call = {};
	struct tdsm_wire_msg msg;
	struct tdsm_conn *conn;
	struct tdsm_buf buf;
	int err;

	conn = tdsm_peer_conn_wait(node, tdsm_timeout_ms);
	if (!conn)
		return -EHOSTUNREACH;
	err = tdsm_buf_alloc(conn, &buf);
	if (err)
		goto out_conn;
	tdsm_msg_init(&msg, TDSM_W_ECHO);
	msg.page.iova = cpu_to_be64(buf.mr->iova);
	msg.page.rkey = cpu_to_be32(buf.mr->rkey);
	err = tdsm_call(conn, &msg, &buf, &call);
	tdsm_buf_put(conn, &buf, err ? NULL : &call);
	if (!err)
		err = tdsm_status_errno(be32_to_cpu(call.reply.reply.status));
	if (!err && !(be32_to_cpu(call.reply.reply.flags) & TDSM_RF_DATA))
		err = -EPROTO;
	put_page(buf.frame);
out_conn:
	tdsm_conn_put(conn);
	return err;
}

/* A run: @count echoes to @node, their times kept if all succeeded. */
static int tdsm_echo_run(u8 node, unsigned int count)
{
	unsigned int i;
	u64 *ns, t0;
	int err = 0;

	lockdep_assert_held(&tdsm_echo_mutex);
	ns = kvmalloc_array(count, sizeof(*ns), GFP_KERNEL);
	if (!ns)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		if (fatal_signal_pending(current)) {
			err = -EINTR;
			break;
		}
		t0 = ktime_get_ns();
		err = tdsm_echo_once(node);
		if (err)
			break;
		ns[i] = ktime_get_ns() - t0;
	}
	if (err) {
		kvfree(ns);
		return err;
	}
	kvfree(tdsm_echo_ns);
	tdsm_echo_ns = ns;
	tdsm_echo_n = count;
	return 0;
}

static ssize_t tdsm_echo_write(struct file *file, const char __user *ubuf,
			       size_t len, loff_t *ppos)
{
	unsigned int node, count;
	char kbuf[32];
	int err;

	if (len >= sizeof(kbuf))
		return -EINVAL;
	if (copy_from_user(kbuf, ubuf, len))
		return -EFAULT;
	kbuf[len] = '\0';
	if (sscanf(kbuf, "%u %u", &node, &count) != 2 || !node ||
	    node > TDSM_NODES_MAX || node == tdsm_region.node_id ||
	    !count || count > TDSM_ECHO_MAX)
		return -EINVAL;
	err = mutex_lock_killable(&tdsm_echo_mutex);
	if (err)
		return err;
	err = tdsm_echo_run(node, count);
	mutex_unlock(&tdsm_echo_mutex);
	return err ? err : len;
}

static int tdsm_echo_show(struct seq_file *m, void *v)
{
	unsigned int i;
	int err;

	err = mutex_lock_killable(&tdsm_echo_mutex);
	if (err)
		return err;
	for (i = 0; i < tdsm_echo_n; i++)
		seq_printf(m, "%llu\n", tdsm_echo_ns[i]);
	mutex_unlock(&tdsm_echo_mutex);
	return 0;
}

static int tdsm_echo_open(struct inode *inode, struct file *file)
{
	/* One line of up to 20 digits per sample. */
	return single_open_size(file, tdsm_echo_show, NULL,
				max_t(size_t, PAGE_SIZE, 21 * TDSM_ECHO_MAX));
}

static const struct file_operations tdsm_echo_fops = {
	.owner = THIS_MODULE,
	.open = tdsm_echo_open,
	.read = seq_read,
	.write = tdsm_echo_write,
	.llseek = seq_lseek,
	.release = single_release,
};

/* Module load: the page, and the file (none without debugfs). */
int tdsm_echo_init(void)
{
	tdsm_echo_page = alloc_page(GFP_KERNEL | __GFP_ZERO);
	if (!tdsm_echo_page)
		return -ENOMEM;
	tdsm_echo_file = debugfs_create_file("echo", 0600, tdsm_debugfs_dir(),
					     NULL, &tdsm_echo_fops);
	return 0;
}

/*
 * Module unload, once no handler can run (no run is under way: an open
 * file pins the module): the file, the page and the samples.
 */
void tdsm_echo_exit(void)
{
	debugfs_remove(tdsm_echo_file);
	tdsm_echo_file = NULL;
	kvfree(tdsm_echo_ns);
	tdsm_echo_ns = NULL;
	tdsm_echo_n = 0;
	__free_page(tdsm_echo_page);
	tdsm_echo_page = NULL;
}
