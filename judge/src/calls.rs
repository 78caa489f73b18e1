//! The calls a case's checks name, spelt as the kernel spells them: `dma_buf_pin`,
//! `ops::map_dma_buf` (`dma_buf_ops.map_dma_buf`), `importer_ops::invalidate_mappings`.
//! Each is a [`CallName`], so a misspelt name is a compile error, not a check that never
//! matches:
//!
//! ```
//! use judge::prelude::*;
//! let s = StepRef(0);
//! let _ = not_called(s, ops::pin);
//! let _ = in_order(s, &[dma_resv_lock, importer_ops::invalidate_mappings, dma_resv_unlock]);
//! ```
//!
//! ```compile_fail
//! use judge::prelude::*;
//! let _ = not_called(StepRef(0), ops::pinn);
//! ```
//!
//! ```compile_fail
//! use judge::prelude::*;
//! let _ = not_called(StepRef(0), "ops.pin");
//! ```
#![allow(non_upper_case_globals)]

use reference_impl::CallName;

/// `dma_buf_export`.
pub const dma_buf_export: CallName = CallName::DmaBufExport;
/// `dma_buf_attach`.
pub const dma_buf_attach: CallName = CallName::DmaBufAttach;
/// `dma_buf_dynamic_attach`.
pub const dma_buf_dynamic_attach: CallName = CallName::DmaBufDynamicAttach;
/// `dma_buf_detach`.
pub const dma_buf_detach: CallName = CallName::DmaBufDetach;
/// `dma_buf_pin`.
pub const dma_buf_pin: CallName = CallName::DmaBufPin;
/// `dma_buf_unpin`.
pub const dma_buf_unpin: CallName = CallName::DmaBufUnpin;
/// `dma_buf_map_attachment`.
pub const dma_buf_map_attachment: CallName = CallName::DmaBufMapAttachment;
/// `dma_buf_unmap_attachment`.
pub const dma_buf_unmap_attachment: CallName = CallName::DmaBufUnmapAttachment;
/// `dma_buf_map_attachment_unlocked`.
pub const dma_buf_map_attachment_unlocked: CallName = CallName::DmaBufMapAttachmentUnlocked;
/// `dma_buf_unmap_attachment_unlocked`.
pub const dma_buf_unmap_attachment_unlocked: CallName = CallName::DmaBufUnmapAttachmentUnlocked;
/// `dma_buf_invalidate_mappings`.
pub const dma_buf_invalidate_mappings: CallName = CallName::DmaBufInvalidateMappings;
/// `dma_buf_attach_revocable`.
pub const dma_buf_attach_revocable: CallName = CallName::DmaBufAttachRevocable;
/// `dma_buf_vmap`.
pub const dma_buf_vmap: CallName = CallName::DmaBufVmap;
/// `dma_buf_vunmap`.
pub const dma_buf_vunmap: CallName = CallName::DmaBufVunmap;
/// `dma_buf_mmap`.
pub const dma_buf_mmap: CallName = CallName::DmaBufMmap;
/// `dma_buf_put`.
pub const dma_buf_put: CallName = CallName::DmaBufPut;
/// `dma_resv_lock`.
pub const dma_resv_lock: CallName = CallName::DmaResvLock;
/// `dma_resv_unlock`.
pub const dma_resv_unlock: CallName = CallName::DmaResvUnlock;
/// `dma_resv_add_fence`.
pub const dma_resv_add_fence: CallName = CallName::DmaResvAddFence;
/// `dma_resv_wait_timeout`.
pub const dma_resv_wait_timeout: CallName = CallName::DmaResvWaitTimeout;
/// `dma_fence_signal`.
pub const dma_fence_signal: CallName = CallName::DmaFenceSignal;
/// `wait_for_unmap`.
pub const wait_for_unmap: CallName = CallName::WaitForUnmap;
/// `vfio_pci_dma_buf_iommufd_map`: VFIO's private interconnect to iommufd.
pub const vfio_pci_dma_buf_iommufd_map: CallName = CallName::VfioPciDmaBufIommufdMap;
/// `iommu_unmap`: an importer removes its IOMMU mapping.
pub const iommu_unmap: CallName = CallName::IommuUnmap;
/// `worker`: a work item an importer queued runs.
pub const worker: CallName = CallName::Worker;
/// `submit`: the importer queues device work (named so as not to hide a step called `submit`).
pub const device_submit: CallName = CallName::DeviceSubmit;
/// `dma_read`.
pub const dma_read: CallName = CallName::DmaRead;
/// `dma_write`.
pub const dma_write: CallName = CallName::DmaWrite;
/// `reclaim_memory`.
pub const reclaim_memory: CallName = CallName::ReclaimMemory;
/// `WARN`.
pub const WARN: CallName = CallName::Warn;

/// The exporter's `struct dma_buf_ops`.
pub mod ops {
    use reference_impl::CallName;

    /// `dma_buf_ops.attach`.
    pub const attach: CallName = CallName::OpsAttach;
    /// `dma_buf_ops.detach`.
    pub const detach: CallName = CallName::OpsDetach;
    /// `dma_buf_ops.pin`.
    pub const pin: CallName = CallName::OpsPin;
    /// `dma_buf_ops.unpin`.
    pub const unpin: CallName = CallName::OpsUnpin;
    /// `dma_buf_ops.map_dma_buf`.
    pub const map_dma_buf: CallName = CallName::OpsMapDmaBuf;
    /// `dma_buf_ops.unmap_dma_buf`.
    pub const unmap_dma_buf: CallName = CallName::OpsUnmapDmaBuf;
    /// `dma_buf_ops.vmap`.
    pub const vmap: CallName = CallName::OpsVmap;
    /// `dma_buf_ops.vunmap`.
    pub const vunmap: CallName = CallName::OpsVunmap;
    /// `dma_buf_ops.mmap`.
    pub const mmap: CallName = CallName::OpsMmap;
    /// `dma_buf_ops.release`.
    pub const release: CallName = CallName::OpsRelease;
}

/// The importer's `struct dma_buf_attach_ops`.
pub mod importer_ops {
    use reference_impl::CallName;

    /// `dma_buf_attach_ops.invalidate_mappings`.
    pub const invalidate_mappings: CallName = CallName::InvalidateMappings;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every call a trace can hold has its constant here, spelt as the trace spells it.
    #[test]
    fn one_constant_per_call_name() {
        let constants = [
            (dma_buf_export, "dma_buf_export"),
            (dma_buf_attach, "dma_buf_attach"),
            (dma_buf_dynamic_attach, "dma_buf_dynamic_attach"),
            (dma_buf_detach, "dma_buf_detach"),
            (dma_buf_pin, "dma_buf_pin"),
            (dma_buf_unpin, "dma_buf_unpin"),
            (dma_buf_map_attachment, "dma_buf_map_attachment"),
            (dma_buf_unmap_attachment, "dma_buf_unmap_attachment"),
            (
                dma_buf_map_attachment_unlocked,
                "dma_buf_map_attachment_unlocked",
            ),
            (
                dma_buf_unmap_attachment_unlocked,
                "dma_buf_unmap_attachment_unlocked",
            ),
            (dma_buf_invalidate_mappings, "dma_buf_invalidate_mappings"),
            (dma_buf_attach_revocable, "dma_buf_attach_revocable"),
            (dma_buf_vmap, "dma_buf_vmap"),
            (dma_buf_vunmap, "dma_buf_vunmap"),
            (dma_buf_mmap, "dma_buf_mmap"),
            (dma_buf_put, "dma_buf_put"),
            (dma_resv_lock, "dma_resv_lock"),
            (dma_resv_unlock, "dma_resv_unlock"),
            (dma_resv_add_fence, "dma_resv_add_fence"),
            (dma_resv_wait_timeout, "dma_resv_wait_timeout"),
            (dma_fence_signal, "dma_fence_signal"),
            (wait_for_unmap, "wait_for_unmap"),
            (vfio_pci_dma_buf_iommufd_map, "vfio_pci_dma_buf_iommufd_map"),
            (iommu_unmap, "iommu_unmap"),
            (worker, "worker"),
            (device_submit, "submit"),
            (dma_read, "dma_read"),
            (dma_write, "dma_write"),
            (reclaim_memory, "reclaim_memory"),
            (WARN, "WARN"),
            (ops::attach, "ops.attach"),
            (ops::detach, "ops.detach"),
            (ops::pin, "ops.pin"),
            (ops::unpin, "ops.unpin"),
            (ops::map_dma_buf, "ops.map_dma_buf"),
            (ops::unmap_dma_buf, "ops.unmap_dma_buf"),
            (ops::vmap, "ops.vmap"),
            (ops::vunmap, "ops.vunmap"),
            (ops::mmap, "ops.mmap"),
            (ops::release, "ops.release"),
            (
                importer_ops::invalidate_mappings,
                "importer_ops.invalidate_mappings",
            ),
        ];
        assert_eq!(constants.len(), CallName::ALL.len());
        for (name, spelt) in constants {
            assert_eq!(name.as_str(), spelt);
        }
    }
}
