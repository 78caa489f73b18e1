//! `legacy-scanout`: a legacy static importer, written from scratch as a complete example of
//! a shim. It is shaped like a display driver importing a framebuffer: `dma_buf_attach()`
//! (no importer ops, so it is never notified), `dma_buf_map_attachment_unlocked()` when the
//! plane is enabled, scan-out reads through the mapping, unmap and detach when disabled.
//!
//! A shim is the driver's code behind two small traits: [`DmaBufAttachOps`] (what the core
//! may call on the importer; a static importer has none, so it answers "no callback") and
//! [`Importer`] (what a scenario asks the driver to do). Every call into the core goes
//! through the `Kernel` handle, which records it in the trace.

use std::cell::Cell;
use std::rc::Rc;

use reference_impl::{
    AttId, BufId, DmaBufAttachOps, Errno, Importer, ImporterKind, Kernel, SgtId, Shim, ShimRole,
};

/// One display plane scanning out of an imported buffer.
pub struct ScanoutPlane {
    att: AttId,
    dmabuf: Cell<Option<BufId>>,
    sgt: Cell<Option<SgtId>>,
}

impl ScanoutPlane {
    /// A plane that will own attachment `att`.
    pub fn new(att: AttId) -> Self {
        ScanoutPlane {
            att,
            dmabuf: Cell::new(None),
            sgt: Cell::new(None),
        }
    }
}

impl DmaBufAttachOps for ScanoutPlane {
    /// A static attachment has no importer ops: no peer-to-peer...
    fn allow_peer2peer(&self) -> bool {
        false
    }
    /// ... and no invalidation callback.
    fn has_invalidate_mappings(&self) -> bool {
        false
    }
}

impl Importer for ScanoutPlane {
    fn att(&self) -> AttId {
        self.att
    }

    /// `drm_gem_prime_import()`: a static attachment.
    fn attach(&self, k: &Kernel, buf: BufId) -> Result<(), Errno> {
        k.dma_buf_attach(buf, self.att)?;
        self.dmabuf.set(Some(buf));
        Ok(())
    }

    /// Plane enable: map without holding the reservation lock; the core pins the buffer and
    /// waits for its KERNEL fences on our behalf. Not through an attach the exporter refused:
    /// there is no attachment (nothing would ever tell us to give such a mapping back).
    fn map(&self, k: &Kernel) -> Result<(), Errno> {
        self.dmabuf.get().ok_or(Errno::EINVAL)?;
        let sgt = k.dma_buf_map_attachment_unlocked(self.att)?;
        self.sgt.set(Some(sgt));
        Ok(())
    }

    /// Scan-out: the display engine reads through the mapping.
    fn access(&self, k: &Kernel, write: bool) {
        k.device_access(self.att, self.sgt.get(), write);
    }

    /// Plane disable.
    fn unmap(&self, k: &Kernel) {
        if let Some(sgt) = self.sgt.take() {
            k.dma_buf_unmap_attachment_unlocked(self.att, sgt);
        }
    }

    /// Framebuffer destroy: unmap if still mapped, then detach.
    fn detach(&self, k: &Kernel) {
        self.unmap(k);
        if let Some(buf) = self.dmabuf.take() {
            k.dma_buf_detach(buf, self.att);
        }
    }
}

/// The shim: a legacy static importer.
pub const SHIM: Shim = Shim {
    name: "legacy-scanout",
    description: "legacy static importer (display scan-out), written from scratch as the example shim",
    role: ShimRole::Importer {
        plays: &[ImporterKind::Static],
        make: |att| Rc::new(ScanoutPlane::new(att)),
    },
};
