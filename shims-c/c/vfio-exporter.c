// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * vfio-exporter.c - a VFIO-style PCI BAR exporter as an out-of-process conformance shim.
 *
 * This mirrors drivers/vfio/pci/vfio_pci_dmabuf.c as merged for Linux 7.1 (the book's
 * reference VfioExporter, chapter "Revocation of pinned attachments"): the memory is a BAR,
 * so it never moves and there is no .pin; importers must reach device memory (peer2peer) and
 * must be revocable; a revoke marks the buffer under the reservation lock, invalidates, and
 * waits twice before the memory may be reused.
 *
 * To start your own driver's shim, copy this file and dma-buf-shim.{c,h}, then replace the
 * bodies marked "YOUR DRIVER" with your driver's code (or calls into it, compiled in user
 * space with stubs). Everything the driver calls that is not in dma-buf-shim.h is yours to
 * stub.
 *
 * Build:
 *   cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -o vfio-exporter \
 *      vfio-exporter.c dma-buf-shim.c
 * The broken variant (no waits after the invalidation), caught by the suite:
 *   cc ... -DVFIO_EXPORTER_NO_WAIT -o vfio-exporter-no-wait vfio-exporter.c dma-buf-shim.c
 * The broken variant that sets the revoked mark only after dropping the lock, which passes
 * every case run in order and is caught by one preemption (explore --races):
 *   cc ... -DVFIO_EXPORTER_MARK_AFTER_UNLOCK -o vfio-exporter-mark-after-unlock ...
 */
#include "dma-buf-shim.h"

// ANCHOR: priv
/*
 * The exporter's private data, one per buffer (struct vfio_pci_dma_buf).
 * YOUR DRIVER: your exporter's per-buffer state goes here.
 */
struct vfio_pci_dma_buf {
	struct dma_buf *dmabuf;
	/* Written only with dmabuf->resv held; map_dma_buf reads it under the same lock. */
	bool revoked;
	/* vdev->memory_lock: one per buffer here (upstream: one per device). */
	struct rw_semaphore memory_lock;
};
// ANCHOR_END: priv

// ANCHOR: attach
/*
 * .attach: called without the reservation lock, so the revoked test here is advisory;
 * map_dma_buf's test, under the lock, is the authoritative one.
 */
static int vfio_pci_dma_buf_attach(struct dma_buf *dmabuf,
				   struct dma_buf_attachment *attachment)
{
	struct vfio_pci_dma_buf *priv = dmabuf->priv;

	/* A BAR is device memory: only importers that can do peer-to-peer DMA reach it. */
	if (!attachment->peer2peer)
		return -EOPNOTSUPP;

	if (priv->revoked)
		return -ENODEV;

	/* Refuse importers that could not give the memory back on a revoke. */
	if (!dma_buf_attach_revocable(attachment))
		return -EOPNOTSUPP;

	return 0;
}
// ANCHOR_END: attach

// ANCHOR: map
/* .map_dma_buf: called with the reservation lock held. */
static struct sg_table *vfio_pci_dma_buf_map(struct dma_buf_attachment *attachment,
					     enum dma_data_direction dir)
{
	struct vfio_pci_dma_buf *priv = attachment->dmabuf->priv;

	(void)dir;
	dma_resv_assert_held(priv->dmabuf->resv);

	if (priv->revoked)
		return ERR_PTR(-ENODEV);

	/*
	 * YOUR DRIVER: build the scatter-gather table of the memory here. The model hands out
	 * a table id that stands for the buffer's current memory.
	 */
	return new_sg_table(attachment);
}

/* .unmap_dma_buf: called with the reservation lock held. */
static void vfio_pci_dma_buf_unmap(struct dma_buf_attachment *attachment, struct sg_table *sgt,
				   enum dma_data_direction dir)
{
	(void)sgt;
	(void)dir;
	dma_resv_assert_held(attachment->dmabuf->resv);
	/* YOUR DRIVER: free the table; upstream also drops the kref that revoke waits for. */
}
// ANCHOR_END: map

// ANCHOR: release
/*
 * .release: the last reference is gone. The library frees the buffer's objects at the end
 * of each case and calls vfio_shim_destroy(), which frees priv; nothing is left to do here.
 */
static void vfio_pci_dma_buf_release(struct dma_buf *dmabuf)
{
	(void)dmabuf;
}
// ANCHOR_END: release

// ANCHOR: ops
/*
 * The ops table. NULL entries are reported as unset: no .pin, so dma_buf_pin() does nothing
 * for this exporter's importers (a BAR never moves).
 */
static const struct dma_buf_ops vfio_pci_dmabuf_ops = {
	.attach = vfio_pci_dma_buf_attach,
	.map_dma_buf = vfio_pci_dma_buf_map,
	.unmap_dma_buf = vfio_pci_dma_buf_unmap,
	.release = vfio_pci_dma_buf_release,
};
// ANCHOR_END: ops

// ANCHOR: move
/*
 * vfio_pci_dma_buf_move(): revoke (revoked == true) or restore one buffer.
 *
 * A revoke marks the buffer under the lock *before* invalidating, so that a map attempted
 * from an importer's invalidate_mappings callback, or after it, already fails; then it waits
 * for every fence (the invalidation only starts the importers' teardown) and, after dropping
 * the lock, for every importer to unmap. Only then may the memory be reused.
 */
static void vfio_pci_dma_buf_move(struct vfio_pci_dma_buf *priv, bool revoked)
{
	struct dma_buf *dmabuf = priv->dmabuf;

	if (priv->revoked == revoked)
		return;

	dma_resv_lock(dmabuf->resv, NULL);
#ifndef VFIO_EXPORTER_MARK_AFTER_UNLOCK
	if (revoked)
		priv->revoked = true;
#endif
	dma_buf_invalidate_mappings(dmabuf);
#ifndef VFIO_EXPORTER_NO_WAIT
	/* The invalidation is asynchronous: wait for every fence, for as long as it takes. */
	dma_resv_wait_timeout(dmabuf->resv, DMA_RESV_USAGE_BOOKKEEP, false,
			      MAX_SCHEDULE_TIMEOUT);
#endif
	dma_resv_unlock(dmabuf->resv);
#ifdef VFIO_EXPORTER_MARK_AFTER_UNLOCK
	/* The bug: a map on another thread between the unlock and here still succeeds. */
	if (revoked)
		priv->revoked = true;
#endif

	if (revoked) {
#ifndef VFIO_EXPORTER_NO_WAIT
		/* ... and for every importer to give its mapping back (upstream: priv->comp). */
		wait_for_unmap(dmabuf);
#endif
	} else {
		/* A restore clears the mark only after the invalidation. */
		dma_resv_lock(dmabuf->resv, NULL);
		priv->revoked = false;
		dma_resv_unlock(dmabuf->resv);
	}
}
// ANCHOR_END: move

// ANCHOR: actions
/* "new": the harness created buffer dmabuf->id for this exporter. */
static int vfio_shim_create(struct dma_buf *dmabuf)
{
	struct vfio_pci_dma_buf *priv = kzalloc(sizeof(*priv), GFP_KERNEL);

	if (!priv)
		return -ENOMEM;
	priv->dmabuf = dmabuf;
	priv->memory_lock.buf = dmabuf->id;
	dmabuf->priv = priv;
	/* YOUR DRIVER: set up the rest of your per-buffer state. */
	return 0;
}

/* End of the case: free what create allocated. */
static void vfio_shim_destroy(struct dma_buf *dmabuf)
{
	kfree(dmabuf->priv);
	dmabuf->priv = NULL;
}

/* The driver exports the buffer (VFIO_DEVICE_FEATURE_DMA_BUF). */
static int vfio_shim_export(struct dma_buf *dmabuf)
{
	/* YOUR DRIVER: your export path, which ends in dma_buf_export(). */
	return dma_buf_export(dmabuf);
}

/* A function-level reset is coming: take the BAR away from every importer. */
static void vfio_shim_revoke(struct dma_buf *dmabuf)
{
	struct vfio_pci_dma_buf *priv = dmabuf->priv;

	/* vfio_pci_zap_and_down_write_memory_lock(): resets, restores and cleanup serialise. */
	down_write(&priv->memory_lock);
	vfio_pci_dma_buf_move(priv, true);
	up_write(&priv->memory_lock);
}

/* The reset is done: the buffer may be mapped again. */
static void vfio_shim_restore(struct dma_buf *dmabuf)
{
	struct vfio_pci_dma_buf *priv = dmabuf->priv;

	down_write(&priv->memory_lock);
	vfio_pci_dma_buf_move(priv, false);
	up_write(&priv->memory_lock);
}

/*
 * vfio_pci_dma_buf_cleanup() when the device is closed: revoke (nothing if the buffer is
 * revoked already, so the references and waits of the revoke are not repeated), then drop
 * the exporter's reference.
 */
static void vfio_shim_put(struct dma_buf *dmabuf)
{
	struct vfio_pci_dma_buf *priv = dmabuf->priv;

	down_write(&priv->memory_lock);
	vfio_pci_dma_buf_move(priv, true);
	up_write(&priv->memory_lock);
	dma_buf_put(dmabuf);
}

/*
 * NULL actions get the library's default: move_buffer does nothing (a BAR never moves),
 * reclaim calls reclaim_memory() (the reset itself), add_own_fence adds a fence under the lock.
 */
static const struct dma_buf_exporter_actions vfio_shim_actions = {
	.create = vfio_shim_create,
	.destroy = vfio_shim_destroy,
	.export = vfio_shim_export,
	.revoke = vfio_shim_revoke,
	.restore = vfio_shim_restore,
	.put = vfio_shim_put,
};
// ANCHOR_END: actions

// ANCHOR: main
/* What the shim tells the harness in its hello: a name, the role, the profiles it plays. */
static const char *const vfio_shim_plays[] = { "vfio", NULL };
static const char *const vfio_shim_capabilities[] = {
	"revokes-pinned", "restores", "requires-revocable-importers", "peer2peer-only", NULL,
};

static const struct shim_exporter vfio_shim = {
#if defined(VFIO_EXPORTER_NO_WAIT)
	.name = "c-vfio-exporter-no-wait",
	.description = "VFIO-style BAR exporter in C, broken: no waits after invalidation",
#elif defined(VFIO_EXPORTER_MARK_AFTER_UNLOCK)
	.name = "c-vfio-exporter-mark-after-unlock",
	.description = "VFIO-style BAR exporter in C, broken: marks the buffer revoked after the unlock",
#else
	.name = "c-vfio-exporter",
	.description = "VFIO-style BAR exporter in C",
#endif
	.plays = vfio_shim_plays,
	.capabilities = vfio_shim_capabilities,
	.ops = &vfio_pci_dmabuf_ops,
	.actions = &vfio_shim_actions,
};

int main(void)
{
	shim_run_exporter(&vfio_shim);
}
// ANCHOR_END: main
