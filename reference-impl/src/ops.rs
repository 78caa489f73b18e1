//! The two ops tables of the contract, `struct dma_buf_ops` and `struct dma_buf_attach_ops`,
//! and the driver actions a scenario asks a role to perform.
//!
//! Optional ops are modelled as methods with a presence flag ([`OpsTable`],
//! [`DmaBufAttachOps::has_invalidate_mappings`]) so that a NULL pointer is representable.

use crate::{AttId, BufId, Errno, Kernel, SgtId};

/// Which entries of a `struct dma_buf_ops` are set (true) or NULL (false).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpsTable {
    /// `.attach`
    pub attach: bool,
    /// `.detach`
    pub detach: bool,
    /// `.pin`
    pub pin: bool,
    /// `.unpin`
    pub unpin: bool,
    /// `.map_dma_buf`
    pub map_dma_buf: bool,
    /// `.unmap_dma_buf`
    pub unmap_dma_buf: bool,
    /// `.vmap`
    pub vmap: bool,
    /// `.vunmap`
    pub vunmap: bool,
    /// `.mmap`
    pub mmap: bool,
    /// `.release`
    pub release: bool,
}

impl OpsTable {
    /// A table with the mandatory ops (map, unmap, release) and nothing else.
    pub const MINIMAL: OpsTable = OpsTable {
        attach: false,
        detach: false,
        pin: false,
        unpin: false,
        map_dma_buf: true,
        unmap_dma_buf: true,
        vmap: false,
        vunmap: false,
        mmap: false,
        release: true,
    };
}

/// `struct dma_buf_ops`: what the core calls on the exporter.
///
/// Every method receives the kernel so that it can call back into the core; the core calls
/// a method only if [`DmaBufOps::table`] says it is set.
pub trait DmaBufOps {
    /// Which ops are set.
    fn table(&self) -> OpsTable;
    /// `.attach`: called without the reservation lock; may refuse the importer.
    fn attach(&self, _k: &Kernel, _att: AttId) -> Result<(), Errno> {
        Ok(())
    }
    /// `.detach`: called without the reservation lock.
    fn detach(&self, _k: &Kernel, _att: AttId) {}
    /// `.pin`: called with the lock held; the memory must stay in place until `unpin`.
    fn pin(&self, _k: &Kernel, _att: AttId) -> Result<(), Errno> {
        Ok(())
    }
    /// `.unpin`: called with the lock held.
    fn unpin(&self, _k: &Kernel, _att: AttId) {}
    /// `.map_dma_buf`: called with the lock held; returns a fresh mapping.
    fn map_dma_buf(&self, k: &Kernel, att: AttId) -> Result<SgtId, Errno>;
    /// `.unmap_dma_buf`: called with the lock held.
    fn unmap_dma_buf(&self, k: &Kernel, att: AttId, sgt: SgtId);
    /// `.vmap`: called with the lock held.
    fn vmap(&self, _k: &Kernel) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    /// `.vunmap`: called with the lock held.
    fn vunmap(&self, _k: &Kernel) {}
    /// `.mmap`: called without the lock.
    fn mmap(&self, _k: &Kernel) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    /// `.release`: the last reference is gone.
    fn release(&self, _k: &Kernel) {}
    /// Not an op: VFIO's private interconnect to iommufd (`vfio_pci_dma_buf_iommufd_map()`),
    /// reached through [`Kernel::vfio_pci_dma_buf_iommufd_map`] with the lock held. VFIO
    /// refuses it exactly when its `map_dma_buf` refuses (both test `priv->revoked`), so by
    /// default the exporter answers as its `map_dma_buf` does.
    fn private_map(&self, k: &Kernel, att: AttId) -> Result<SgtId, Errno> {
        self.map_dma_buf(k, att)
    }
}

/// `struct dma_buf_attach_ops`: what the core calls on a dynamic importer.
pub trait DmaBufAttachOps {
    /// `.allow_peer2peer`
    fn allow_peer2peer(&self) -> bool;
    /// Whether `.invalidate_mappings` is set (it may be NULL since Linux 7.1).
    fn has_invalidate_mappings(&self) -> bool;
    /// `.invalidate_mappings`: called with the reservation lock held.
    fn invalidate_mappings(&self, _k: &Kernel, _att: AttId) {}
    /// Not an op: stage `stage` (from 0) of the work item the importer queued with
    /// [`Kernel::queue_work`], run on the kernel's worker thread without any lock held.
    /// A work function is straight-line code; one that a race can stop half-way (after it
    /// dropped a lock, say) is written in stages, each returning [`Work::Continue`] while
    /// there is more: between two stages other threads may run (the explorer's `kworker`).
    fn work(&self, _k: &Kernel, _att: AttId, _stage: u32) -> Work {
        Work::Done
    }
}

/// What a stage of a work item returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// The work function returned.
    Done,
    /// The work function goes on with the next stage; the worker may be preempted first.
    Continue,
}

/// What a scenario can ask an exporter driver to do.
pub trait Exporter: DmaBufOps {
    /// The buffer this exporter instance exports.
    fn buf(&self) -> BufId;
    /// Export the buffer (`dma_buf_export()`).
    fn export(&self, k: &Kernel) -> Result<(), Errno>;
    /// Revoke: take access away from every importer, for good or until `restore`.
    fn revoke(&self, _k: &Kernel) {}
    /// Undo a revoke: the buffer may be mapped again.
    fn restore(&self, _k: &Kernel) {}
    /// Move the backing memory elsewhere (memory management).
    fn move_buffer(&self, _k: &Kernel) {}
    /// Reuse the backing memory (for example, reset the device behind a BAR).
    fn reclaim(&self, k: &Kernel) {
        k.reclaim_memory(self.buf());
    }
    /// Add a fence for work of the exporter's own (a clear or copy) to the reservation
    /// object; if `completes` is false, nothing will ever signal it.
    fn add_own_fence(&self, k: &Kernel, usage: crate::DmaResvUsage, completes: bool) {
        let buf = self.buf();
        k.dma_resv_lock(buf);
        let fence = k.dma_fence_create(completes);
        k.dma_resv_add_fence(buf, fence, usage);
        k.dma_resv_unlock(buf);
    }
    /// Drop the exporter's reference (`dma_buf_put()`).
    fn put(&self, k: &Kernel) {
        k.dma_buf_put(self.buf());
    }
}

/// What a scenario can ask an importer driver to do.
pub trait Importer: DmaBufAttachOps {
    /// The attachment this importer instance owns.
    fn att(&self) -> AttId;
    /// Attach to `buf` (static or dynamic, as the driver does).
    fn attach(&self, k: &Kernel, buf: BufId) -> Result<(), Errno>;
    /// Obtain a mapping the device can use (pinning first if the driver pins).
    fn map(&self, k: &Kernel) -> Result<(), Errno>;
    /// Let the device read or write the buffer now, through the current mapping.
    fn access(&self, k: &Kernel, write: bool);
    /// Queue device work on the buffer, fenced in the reservation object.
    fn submit(&self, _k: &Kernel, _write: bool) {}
    /// Give the mapping back (and the pin, if any).
    fn unmap(&self, k: &Kernel);
    /// Detach from the buffer, tearing down whatever is left.
    fn detach(&self, k: &Kernel);
    /// Map the buffer into kernel address space with `dma_buf_vmap()` and unmap it again.
    fn vmap(&self, _k: &Kernel) {}
    /// Map the buffer into kernel address space with `dma_buf_vmap()` and keep the vmap
    /// until [`Importer::vunmap`] (or the detach).
    fn vmap_hold(&self, _k: &Kernel) {}
    /// Give back a vmap kept by [`Importer::vmap_hold`] with `dma_buf_vunmap()`.
    fn vunmap(&self, _k: &Kernel) {}
}
