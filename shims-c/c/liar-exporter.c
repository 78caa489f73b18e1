// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * A lying exporter, for the mutation oracle (judge/tests/verdicts.rs) and not registered:
 * a GPU-style exporter whose map_dma_buf names an object the harness never handed out, one
 * kind per build: -DLIE_BUF (a reservation object of no buffer), -DLIE_ATT (an attachment
 * nobody created), -DLIE_FENCE (a fence nobody created), -DLIE_SGT (a table nobody handed
 * out, as its answer). The harness must refuse the call with a protocol error naming the
 * object, whatever the shim's other calls were.
 */
#include "dma-buf-shim.h"

/* The name no harness object has. */
#define LIE_ID 99

static struct sg_table *liar_map(struct dma_buf_attachment *attachment,
				 enum dma_data_direction dir)
{
	(void)dir;
#if defined(LIE_BUF)
	static struct dma_resv resv = { .buf = LIE_ID };

	dma_resv_assert_held(&resv);
#elif defined(LIE_ATT)
	static struct dma_buf_attachment attach = { .id = LIE_ID };

	attach.dmabuf = attachment->dmabuf;
	dma_buf_attach_revocable(&attach);
#elif defined(LIE_FENCE)
	static struct dma_fence fence = { .id = LIE_ID };

	dma_resv_add_fence(attachment->dmabuf->resv, &fence, DMA_RESV_USAGE_KERNEL);
#elif defined(LIE_SGT)
	static struct sg_table sgt = { .id = LIE_ID };

	return &sgt;
#endif
	return new_sg_table(attachment);
}

static void liar_unmap(struct dma_buf_attachment *attachment, struct sg_table *sgt,
		       enum dma_data_direction dir)
{
	(void)attachment;
	(void)sgt;
	(void)dir;
}

static void liar_release(struct dma_buf *dmabuf)
{
	(void)dmabuf;
}

static const struct dma_buf_ops liar_ops = {
	.map_dma_buf = liar_map,
	.unmap_dma_buf = liar_unmap,
	.release = liar_release,
};

static int liar_export(struct dma_buf *dmabuf)
{
	return dma_buf_export(dmabuf);
}

static const struct dma_buf_exporter_actions liar_actions = {
	.export = liar_export,
};

static const char *const liar_plays[] = { "gpu", NULL };
static const char *const liar_capabilities[] = { NULL };

static const struct shim_exporter liar_shim = {
	.name = "c-liar-exporter",
	.description = "exporter in C that names an object the harness never handed out",
	.plays = liar_plays,
	.capabilities = liar_capabilities,
	.ops = &liar_ops,
	.actions = &liar_actions,
};

int main(void)
{
	shim_run_exporter(&liar_shim);
}
