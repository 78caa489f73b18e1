// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * example-importer.c - a pinned, revocable importer (iommufd-like, after the book's reference
 * IommufdImporter) on the library's importer API. It shows the importer side of
 * dma-buf-shim.h and lets the crate's tests exercise it; it is not one of the registered
 * shims.
 */
#include "dma-buf-shim.h"

struct example_importer {
	struct phys_vec phys;	/* the BAR range installed in the IOMMU, if any */
	bool pinned;		/* the importer holds a pin */
	bool revoked;		/* set by a revoke, never cleared */
	bool detached;		/* this importer detached: a later map is its caller's bug */
};

/* iopt_area_unmap_domain_range() for every domain: the device faults from now on. */
static void example_unmap_domains(struct dma_buf_attachment *attach,
				  struct example_importer *priv)
{
	if (priv->phys.range) {
		iommu_unmap(attach, &priv->phys);
		priv->phys.range = NULL;
	}
}

/*
 * .invalidate_mappings (iopt_revoke_notify()), called with the reservation lock held:
 * removing the mapping stops the device at once; the pin stays until the pages are released.
 */
static void example_invalidate_mappings(struct dma_buf_attachment *attach)
{
	struct dma_buf_importer *imp = attach->importer_priv;
	struct example_importer *priv = imp->priv;

	if (priv->revoked)
		return;	/* a restore: a revoke is permanent for this importer */
	example_unmap_domains(attach, priv);
	priv->revoked = true;
}

static const struct dma_buf_attach_ops example_attach_ops = {
	.allow_peer2peer = true,
	.invalidate_mappings = example_invalidate_mappings,
};

static int example_create(struct dma_buf_importer *imp)
{
	imp->priv = kzalloc(sizeof(struct example_importer), GFP_KERNEL);
	return imp->priv ? 0 : -ENOMEM;
}

static void example_destroy(struct dma_buf_importer *imp)
{
	kfree(imp->priv);
}

static int example_attach(struct dma_buf_importer *imp, struct dma_buf *dmabuf)
{
	struct dma_buf_attachment *attach;

	/* imp->priv is ready before the attach: an invalidation may race with it. */
	attach = dma_buf_dynamic_attach(dmabuf, &imp->dev, &example_attach_ops, imp);
	return IS_ERR(attach) ? (int)PTR_ERR(attach) : 0;
}

/*
 * iopt_map_dmabuf(): pin, then VFIO's private interconnect (never dma_buf_map_attachment()),
 * both under the lock; undo the pin on error.
 */
static int example_map(struct dma_buf_importer *imp)
{
	struct example_importer *priv = imp->priv;
	struct dma_resv *resv;
	int ret;

	/*
	 * No attachment: the attach was refused (nothing to map, as in the reference importer),
	 * or this importer detached already, which a caller must never follow with a map.
	 */
	if (!imp->attach) {
		WARN_ON(priv->detached);
		return -EINVAL;
	}
	if (priv->revoked)
		return -ENODEV;
	resv = imp->attach->dmabuf->resv;
	dma_resv_lock(resv, NULL);
	ret = dma_buf_pin(imp->attach);
	if (ret) {
		dma_resv_unlock(resv);
		return ret;
	}
	/* The pin may move the buffer: an invalidation meanwhile is a revoke for this importer. */
	if (priv->revoked) {
		dma_buf_unpin(imp->attach);
		dma_resv_unlock(resv);
		return -ENODEV;
	}
	ret = vfio_pci_dma_buf_iommufd_map(imp->attach, &priv->phys);
	if (ret) {
		dma_buf_unpin(imp->attach);
		dma_resv_unlock(resv);
		return ret;
	}
	priv->pinned = true;
	dma_resv_unlock(resv);
	return 0;
}

/* The device accesses the buffer; without a mapping it faults and touches nothing. */
static void example_access(struct dma_buf_importer *imp, bool write)
{
	struct example_importer *priv = imp->priv;

	if (!imp->attach)
		return;	/* the attach failed: the device was never given the buffer */
	device_access(imp->attach, priv->phys.range, write);
}

/* The IOMMU mappings go (under pages->mutex), then the pin, under the reservation lock. */
static void example_unmap(struct dma_buf_importer *imp)
{
	struct example_importer *priv = imp->priv;
	struct dma_resv *resv;

	if (!imp->attach)
		return;
	example_unmap_domains(imp->attach, priv);
	if (priv->pinned) {
		priv->pinned = false;
		resv = imp->attach->dmabuf->resv;
		dma_resv_lock(resv, NULL);
		dma_buf_unpin(imp->attach);
		dma_resv_unlock(resv);
	}
}

/* iopt_release_pages(): unpin under the lock, then detach. */
static void example_detach(struct dma_buf_importer *imp)
{
	struct example_importer *priv = imp->priv;

	example_unmap(imp);
	if (imp->attach) {
		dma_buf_detach(imp->attach->dmabuf, imp->attach);
		priv->detached = true;
	}
}

static const struct dma_buf_importer_actions example_actions = {
	.create = example_create,
	.destroy = example_destroy,
	.attach = example_attach,
	.map = example_map,
	.access = example_access,
	.unmap = example_unmap,
	.detach = example_detach,
};

static const char *const example_plays[] = { "iommufd", NULL };
static const char *const example_capabilities[] = {
	"pins", "invalidate-mappings", "permanent-revoke", NULL,
};

static const struct shim_importer example_shim = {
	.name = "c-example-importer",
	.description = "pinned, revocable importer in C (library example, iommufd-like)",
	.plays = example_plays,
	.capabilities = example_capabilities,
	.attach_ops = &example_attach_ops,
	.actions = &example_actions,
};

int main(void)
{
	shim_run_importer(&example_shim);
}
