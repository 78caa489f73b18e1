/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * dma-buf-shim.h - the kernel side of an out-of-process revoke-conformance shim.
 *
 * A driver's dma-buf code, compiled in user space against this header, runs under the
 * revoke-conformance harness: the library speaks the wire protocol of the book's chapter
 * "Shims in other processes" (newline-delimited JSON on stdin/stdout, version 1), calls the
 * driver's ops when the harness calls them, and turns every kernel function below into a
 * kernel call ("kcall") answered by the harness, which records it in the trace.
 *
 * The types and functions carry their kernel names and (simplified) kernel signatures, so that
 * driver code reads as it does in the kernel. Objects are *handles*: each carries the integer
 * id the harness uses for it (buffer 0 is buf0, attachment 1 is att1), and the library owns
 * them. Every object belongs to the current case: the library frees them all when the harness
 * starts the next case.
 *
 * Standard output belongs to the protocol. Write diagnostics to standard error (pr_info() and
 * friends below); the harness attaches them to the report of the case.
 */
#ifndef DMA_BUF_SHIM_H
#define DMA_BUF_SHIM_H

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* ---------------------------------------------------------------------------------------- */
/* Errors and small kernel helpers                                                           */
/* ---------------------------------------------------------------------------------------- */

/* errno values the kernel has and libc may lack. */
#ifndef ERESTARTSYS
#define ERESTARTSYS 512
#endif

#define MAX_ERRNO 4095

static inline void *ERR_PTR(long error)
{
	return (void *)(intptr_t)error;
}

static inline long PTR_ERR(const void *ptr)
{
	return (long)(intptr_t)ptr;
}

static inline bool IS_ERR(const void *ptr)
{
	return (uintptr_t)ptr >= (uintptr_t)-MAX_ERRNO;
}

static inline bool IS_ERR_OR_NULL(const void *ptr)
{
	return !ptr || IS_ERR(ptr);
}

typedef unsigned int gfp_t;
#define GFP_KERNEL 0u

static inline void *kzalloc(size_t size, gfp_t flags)
{
	(void)flags;
	return calloc(1, size);
}

static inline void kfree(const void *ptr)
{
	free((void *)ptr);
}

/* Diagnostics: to standard error, never to standard output (that is the protocol's). */
#define pr_err(...) fprintf(stderr, __VA_ARGS__)
#define pr_warn(...) fprintf(stderr, __VA_ARGS__)
#define pr_info(...) fprintf(stderr, __VA_ARGS__)
#define pr_debug(...) fprintf(stderr, __VA_ARGS__)

/*
 * WARN_ON(cond): when cond is true, reports a warning to the harness (the "warn" kernel call,
 * against the buffer of the call being served: the exporter's buffer, or the buffer an
 * importer attached to last; on standard error only when there is none), and returns cond.
 */
#define WARN_ON(cond) shim_warn_on(!!(cond), #cond)

/* The timeout that never expires (jiffies). On the wire: "MAX_SCHEDULE_TIMEOUT". */
#define MAX_SCHEDULE_TIMEOUT LONG_MAX

/* ---------------------------------------------------------------------------------------- */
/* Objects                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/*
 * A read-write semaphore the model knows: VFIO's device memory lock (vdev->memory_lock), one
 * per exported buffer in the model. Set buf to the buffer's id (dmabuf->id) before use.
 */
struct rw_semaphore {
	long buf;
};

/* The reservation object of one buffer (dmabuf->resv). */
struct dma_resv {
	long buf; /* id of the buffer it belongs to */
};

/* A scatter-gather table: a mapping handed out by the harness (new_sg_table()). */
struct sg_table {
	long id;
};

/* A fence handed out by the harness (dma_fence_create(), device_submit()). */
struct dma_fence {
	long id;
};

/* Not used by the model; present so that ops keep their kernel signatures. */
struct iosys_map {
	void *vaddr;
	bool is_iomem;
};
struct vm_area_struct;
struct ww_acquire_ctx;

enum dma_data_direction {
	DMA_BIDIRECTIONAL = 0,
	DMA_TO_DEVICE = 1,
	DMA_FROM_DEVICE = 2,
	DMA_NONE = 3,
};

enum dma_resv_usage {
	DMA_RESV_USAGE_KERNEL,
	DMA_RESV_USAGE_WRITE,
	DMA_RESV_USAGE_READ,
	DMA_RESV_USAGE_BOOKKEEP,
};

struct dma_buf;
struct dma_buf_attachment;

/*
 * struct dma_buf_ops: what the core calls on the exporter. Leave an op NULL if the driver
 * does not have it: the library reports the set ops to the harness in its reply to "new".
 */
struct dma_buf_ops {
	int (*attach)(struct dma_buf *dmabuf, struct dma_buf_attachment *attach);
	void (*detach)(struct dma_buf *dmabuf, struct dma_buf_attachment *attach);
	int (*pin)(struct dma_buf_attachment *attach);
	void (*unpin)(struct dma_buf_attachment *attach);
	struct sg_table *(*map_dma_buf)(struct dma_buf_attachment *attach,
					enum dma_data_direction dir);
	void (*unmap_dma_buf)(struct dma_buf_attachment *attach, struct sg_table *sgt,
			      enum dma_data_direction dir);
	void (*release)(struct dma_buf *dmabuf);
	int (*vmap)(struct dma_buf *dmabuf, struct iosys_map *map);
	void (*vunmap)(struct dma_buf *dmabuf, struct iosys_map *map);
	int (*mmap)(struct dma_buf *dmabuf, struct vm_area_struct *vma);
};

/*
 * struct dma_buf_attach_ops: what the core calls on a dynamic importer. invalidate_mappings
 * may be NULL (an importer that cannot be revoked).
 */
struct dma_buf_attach_ops {
	bool allow_peer2peer;
	void (*invalidate_mappings)(struct dma_buf_attachment *attach);
};

/* A buffer. */
struct dma_buf {
	long id;			/* the harness's buffer id (buf0 is 0) */
	struct dma_resv *resv;		/* its reservation object */
	const struct dma_buf_ops *ops;	/* the exporter's ops (exporter role only) */
	void *priv;			/* the exporter's private data */
	struct dma_resv resv_obj;	/* library: what resv points to */
	bool exporter_instance;		/* library: created by "new" in this process */
};

/* An attachment of one importer to one buffer. */
struct dma_buf_attachment {
	long id;					/* the harness's attachment id */
	struct dma_buf *dmabuf;				/* the buffer attached to */
	bool peer2peer;					/* the importer can reach device memory */
	const struct dma_buf_attach_ops *importer_ops;	/* NULL for a static importer */
	void *importer_priv;				/* the importer's private data */
	void *priv;					/* the exporter's per-attachment data */
};

/* The importer's device; its id names the attachment the importer owns (importer role). */
struct device {
	long id;
};

static inline bool dma_buf_attachment_is_dynamic(const struct dma_buf_attachment *attach)
{
	return attach->importer_ops != NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Kernel calls: each one is a "kcall" to the harness and returns what the harness answers.  */
/* A driver may call them only while it serves a call from the harness.                      */
/* ---------------------------------------------------------------------------------------- */

/* What a device access found (importer role). */
enum device_access_outcome {
	DEVICE_ACCESS_OK,
	DEVICE_ACCESS_AFTER_INVALIDATE,
	DEVICE_ACCESS_UNMAPPED,
	DEVICE_ACCESS_NO_MAPPING,
	DEVICE_ACCESS_RECLAIMED,
	DEVICE_ACCESS_NOT_READY,
};

/*
 * The BAR's range VFIO's private interconnect hands iommufd (struct phys_vec in the kernel); the
 * model stands for it with a table it handed out.
 */
struct phys_vec {
	struct sg_table *range;
};

/* BEGIN kernel calls: generated from reference_impl::kernel_api! (reference-impl/src/api.rs). */
/* Regenerate: UPDATE_KERNEL_API=1 cargo test -p shims-c --test session kernel_api */

/* The core (drivers/dma-buf/dma-buf.c). */

/* dma_buf_export(): the buffer exists already (the harness named it). */
int dma_buf_export(struct dma_buf *dmabuf);

/* dma_buf_attach(): a static attachment. */
struct dma_buf_attachment *dma_buf_attach(struct dma_buf *dmabuf, struct device *dev);

/* dma_buf_dynamic_attach() with the importer ops registered for att. */
struct dma_buf_attachment *dma_buf_dynamic_attach(struct dma_buf *dmabuf, struct device *dev,
						  const struct dma_buf_attach_ops *importer_ops,
						  void *importer_priv);

/* dma_buf_detach(). */
void dma_buf_detach(struct dma_buf *dmabuf, struct dma_buf_attachment *attach);

/* dma_buf_attach_revocable(). */
bool dma_buf_attach_revocable(struct dma_buf_attachment *attach);

/* dma_buf_pin(). */
int dma_buf_pin(struct dma_buf_attachment *attach);

/* dma_buf_unpin(). */
void dma_buf_unpin(struct dma_buf_attachment *attach);

/* dma_buf_map_attachment(). */
struct sg_table *dma_buf_map_attachment(struct dma_buf_attachment *attach,
					enum dma_data_direction dir);

/* dma_buf_map_attachment_unlocked(). */
struct sg_table *dma_buf_map_attachment_unlocked(struct dma_buf_attachment *attach,
						 enum dma_data_direction dir);

/* dma_buf_unmap_attachment(). */
void dma_buf_unmap_attachment(struct dma_buf_attachment *attach, struct sg_table *sgt,
			      enum dma_data_direction dir);

/* dma_buf_unmap_attachment_unlocked(). */
void dma_buf_unmap_attachment_unlocked(struct dma_buf_attachment *attach, struct sg_table *sgt,
				       enum dma_data_direction dir);

/* dma_buf_invalidate_mappings(). */
void dma_buf_invalidate_mappings(struct dma_buf *dmabuf);

/* dma_buf_vmap(). */
int dma_buf_vmap(struct dma_buf *dmabuf, struct iosys_map *map);

/* dma_buf_vunmap(). */
void dma_buf_vunmap(struct dma_buf *dmabuf, struct iosys_map *map);

/* dma_buf_mmap(). */
int dma_buf_mmap(struct dma_buf *dmabuf, struct vm_area_struct *vma, unsigned long pgoff);

/* dma_buf_put() of the last reference. */
void dma_buf_put(struct dma_buf *dmabuf);

/*
 * The reservation object (drivers/dma-buf/dma-resv.c), fences, and the model's stand-ins for
 * what a real driver does with its own primitives.
 */

/* dma_resv_lock() (in C, ctx must be NULL). */
int dma_resv_lock(struct dma_resv *obj, struct ww_acquire_ctx *ctx);

/* dma_resv_unlock(). */
void dma_resv_unlock(struct dma_resv *obj);

/* dma_resv_assert_held(): a warning if the lock is not held. */
void dma_resv_assert_held(struct dma_resv *obj);

/* dma_resv_is_locked(). */
bool dma_resv_is_locked(struct dma_resv *obj);

/* dma_resv_add_fence(). */
void dma_resv_add_fence(struct dma_resv *obj, struct dma_fence *fence, enum dma_resv_usage usage);

/* dma_resv_wait_timeout(): the time left, or MAX_SCHEDULE_TIMEOUT. */
long dma_resv_wait_timeout(struct dma_resv *obj, enum dma_resv_usage usage, bool intr,
			   unsigned long timeout);

/* A fence; if completes is false, nothing will ever signal it. */
struct dma_fence *dma_fence_create(bool completes);

/*
 * TTM's pipelined move (ttm_bo_move_accel_cleanup()): a copy fence that runs after every fence
 * the buffer holds now, added as KERNEL; the old placement is freed when it signals. No CPU
 * wait.
 */
struct dma_fence *ttm_bo_move_accel_cleanup(struct dma_buf *dmabuf);

/* A fresh mapping of the buffer's current memory for att (what map_dma_buf returns). */
struct sg_table *new_sg_table(struct dma_buf_attachment *attach);

/*
 * Wait until no importer holds a mapping of the buffer (VFIO:
 * wait_for_completion(&priv->comp)).
 */
void wait_for_unmap(struct dma_buf *dmabuf);

/*
 * down_write(&vdev->memory_lock): VFIO's device memory lock, taken for write around a reset, a
 * restore and the cleanup (one per exporter of buf in the model). Wanted by a step that runs
 * inside the step holding it, that schedule cannot run.
 */
void down_write(struct rw_semaphore *sem);

/* up_write(&vdev->memory_lock). */
void up_write(struct rw_semaphore *sem);

/* Reuse the buffer's old backing memory (reset the function behind a BAR, free a page...). */
void reclaim_memory(struct dma_buf *dmabuf);

/*
 * VFIO's private interconnect to iommufd (vfio_pci_dma_buf_iommufd_map()), with the
 * reservation lock held: the BAR's range (the model stands for it with a table it handed out),
 * or -ENODEV while revoked. The exporter's unmap wait does not count it.
 */
int vfio_pci_dma_buf_iommufd_map(struct dma_buf_attachment *attach, struct phys_vec *phys);

/*
 * The importer removes its IOMMU mapping of a private range and flushes the IOTLB
 * (iommu_unmap()).
 */
void iommu_unmap(struct dma_buf_attachment *attach, struct phys_vec *phys);

/* The importer's device reads or writes the buffer now, through sgt (or without a mapping). */
enum device_access_outcome device_access(struct dma_buf_attachment *attach, struct sg_table *sgt,
					 bool write);

/* The importer queues device work; returns the fence that signals its completion. */
struct dma_fence *device_submit(struct dma_buf_attachment *attach, struct sg_table *sgt,
				bool write);

/* A WARN_ON (in C, the WARN_ON() macro calls shim_warn_on()). */
bool shim_warn_on(bool cond, const char *what);

/* END kernel calls */

/* ---------------------------------------------------------------------------------------- */
/* The driver: what the harness asks it to do                                                */
/* ---------------------------------------------------------------------------------------- */

/*
 * An exporter's actions, beyond its ops table. Each receives the buffer the harness names.
 * A NULL action gets the library's default:
 *   create, destroy:      nothing
 *   export:               dma_buf_export(dmabuf)
 *   revoke, restore,
 *   move_buffer:          nothing
 *   reclaim:              reclaim_memory(dmabuf)
 *   add_own_fence:        dma_resv_lock(), dma_fence_create(completes),
 *                         dma_resv_add_fence(usage), dma_resv_unlock()
 *   put:                  dma_buf_put(dmabuf)
 */
struct dma_buf_exporter_actions {
	/* "new": set up the driver's state (dmabuf->priv); non-zero ends the shim. */
	int (*create)(struct dma_buf *dmabuf);
	/* End of the case: free what create allocated. Called for every created buffer. */
	void (*destroy)(struct dma_buf *dmabuf);
	int (*export)(struct dma_buf *dmabuf);
	void (*revoke)(struct dma_buf *dmabuf);
	void (*restore)(struct dma_buf *dmabuf);
	void (*move_buffer)(struct dma_buf *dmabuf);
	void (*reclaim)(struct dma_buf *dmabuf);
	void (*add_own_fence)(struct dma_buf *dmabuf, enum dma_resv_usage usage, bool completes);
	void (*put)(struct dma_buf *dmabuf);
};

/*
 * One importer instance: it owns one attachment, named by dev.id. attach is set by a
 * successful dma_buf_attach()/dma_buf_dynamic_attach() and cleared by dma_buf_detach().
 */
struct dma_buf_importer {
	struct device dev;
	struct dma_buf_attachment *attach;
	void *priv;
};

/*
 * An importer's actions. A NULL action does nothing (and returns 0).
 */
struct dma_buf_importer_actions {
	/* "new": set up the driver's state (imp->priv); non-zero ends the shim. */
	int (*create)(struct dma_buf_importer *imp);
	/* End of the case: free what create allocated. */
	void (*destroy)(struct dma_buf_importer *imp);
	int (*attach)(struct dma_buf_importer *imp, struct dma_buf *dmabuf);
	int (*map)(struct dma_buf_importer *imp);
	void (*access)(struct dma_buf_importer *imp, bool write);
	void (*submit)(struct dma_buf_importer *imp, bool write);
	void (*unmap)(struct dma_buf_importer *imp);
	void (*detach)(struct dma_buf_importer *imp);
	/* dma_buf_vmap() and dma_buf_vunmap() in one action. */
	void (*vmap)(struct dma_buf_importer *imp);
	/* dma_buf_vmap(), kept until vunmap (or detach, which gives it back first). */
	void (*vmap_hold)(struct dma_buf_importer *imp);
	/* dma_buf_vunmap() of a vmap kept by vmap_hold. */
	void (*vunmap)(struct dma_buf_importer *imp);
};

/* What an exporter shim says of itself in the hello. Lists end with NULL. */
struct shim_exporter {
	const char *name;
	const char *description;
	const char *const *plays;		/* reference profiles: "vfio", "gpu" */
	const char *const *capabilities;	/* capabilities of those profiles */
	const struct dma_buf_ops *ops;
	const struct dma_buf_exporter_actions *actions;
	/* Optional: the driver's release or revision, recorded in the results. */
	const char *version;
};

/* What an importer shim says of itself in the hello. Lists end with NULL. */
struct shim_importer {
	const char *name;
	const char *description;
	const char *const *plays;	/* "static", "dynamic", "iommufd", "rdma" */
	const char *const *capabilities;
	/* Reported in the reply to "new"; pass it to dma_buf_dynamic_attach(). */
	const struct dma_buf_attach_ops *attach_ops;
	const struct dma_buf_importer_actions *actions;
	/* Optional: the driver's release or revision, recorded in the results. */
	const char *version;
};

/*
 * Run the protocol on stdin/stdout until "bye" or end of input, then exit(0). A protocol
 * violation by the harness ends the process with a message on stderr and status 1.
 * Call it from main(); it does not return.
 */
_Noreturn void shim_run_exporter(const struct shim_exporter *shim);
_Noreturn void shim_run_importer(const struct shim_importer *shim);

/*
 * The newest protocol version this library speaks: 2, concurrent calls. Each scenario thread
 * the harness names gets a pthread of its own, and the driver's ops and actions for a call
 * run on the thread of that call (the harness lets one run at a time). The library also
 * speaks version 1 (one call in flight, everything on the main thread) with a harness that
 * offers only that.
 */
#define SHIM_PROTOCOL_VERSION 2

#endif /* DMA_BUF_SHIM_H */
