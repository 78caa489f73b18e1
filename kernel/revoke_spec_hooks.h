/* SPDX-License-Identifier: GPL-2.0 */
/*
 * revoke-spec kernel bridge: interposition on the reservation-object calls of the dma-buf
 * core.
 *
 * The bridge's Kbuild line compiles drivers/dma-buf/dma-buf.c (and only that file) with
 * "-include" of this header. The core's own calls to dma_resv_lock(), dma_resv_unlock() and
 * dma_resv_wait_timeout() then go through the hooks below, which record the call in the trace
 * of the running scenario and call the real function unchanged. Outside a scenario, and for
 * reservation objects that are not the scenario's, a hook only calls through. The logic of
 * dma-buf.c is not modified.
 */
#ifndef REVOKE_SPEC_HOOKS_H
#define REVOKE_SPEC_HOOKS_H

#include <linux/dma-resv.h>

int revoke_spec_hook_lock(struct dma_resv *obj, struct ww_acquire_ctx *ctx);
void revoke_spec_hook_unlock(struct dma_resv *obj);
long revoke_spec_hook_wait(struct dma_resv *obj, enum dma_resv_usage usage, bool intr,
			   unsigned long timeout);

#define dma_resv_lock(obj, ctx) revoke_spec_hook_lock(obj, ctx)
#define dma_resv_unlock(obj) revoke_spec_hook_unlock(obj)
#define dma_resv_wait_timeout(obj, usage, intr, timeout) \
	revoke_spec_hook_wait(obj, usage, intr, timeout)

#endif /* REVOKE_SPEC_HOOKS_H */
