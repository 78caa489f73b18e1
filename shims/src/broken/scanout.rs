//! Broken legacy importers: a static scan-out importer and an RDMA-style pinned importer.

use std::cell::Cell;
use std::rc::Rc;

use reference_impl::{
    AttId, BufId, DmaBufAttachOps, Errno, Importer, ImporterKind, Kernel, SgtId, ShimRole,
};

use crate::scanout::ScanoutPlane;

/// A scan-out importer that calls the locked map and unmap without holding the lock.
struct UnlockedScanout {
    inner: ScanoutPlane,
    att: AttId,
    sgt: Cell<Option<SgtId>>,
}

impl DmaBufAttachOps for UnlockedScanout {
    fn allow_peer2peer(&self) -> bool {
        false
    }
    fn has_invalidate_mappings(&self) -> bool {
        false
    }
}

impl Importer for UnlockedScanout {
    fn att(&self) -> AttId {
        self.att
    }
    fn attach(&self, k: &Kernel, buf: BufId) -> Result<(), Errno> {
        self.inner.attach(k, buf)
    }
    fn map(&self, k: &Kernel) -> Result<(), Errno> {
        let sgt = k.dma_buf_map_attachment(self.att)?;
        self.sgt.set(Some(sgt));
        Ok(())
    }
    fn access(&self, k: &Kernel, write: bool) {
        k.device_access(self.att, self.sgt.get(), write);
    }
    fn unmap(&self, k: &Kernel) {
        if let Some(sgt) = self.sgt.take() {
            k.dma_buf_unmap_attachment(self.att, sgt);
        }
    }
    fn detach(&self, k: &Kernel) {
        self.unmap(k);
        self.inner.detach(k);
    }
}

broken!(
    MAPS_WITHOUT_LOCK,
    "broken-scanout-maps-without-lock",
    ShimRole::Importer {
        plays: &[ImporterKind::Static],
        make: |att| Rc::new(UnlockedScanout {
            inner: ScanoutPlane::new(att),
            att,
            sgt: Cell::new(None)
        }),
    },
    "calls dma_buf_map_attachment() and dma_buf_unmap_attachment() without holding the lock, instead of the _unlocked variants",
    "lock.importer.unlocked-helpers"
);

/// An RDMA-style pinned importer that keeps its pin when the map after it fails.
struct LeakyRdma {
    att: AttId,
    buf: Cell<Option<BufId>>,
    sgt: Cell<Option<SgtId>>,
}

impl DmaBufAttachOps for LeakyRdma {
    fn allow_peer2peer(&self) -> bool {
        true
    }
    fn has_invalidate_mappings(&self) -> bool {
        false
    }
}

impl Importer for LeakyRdma {
    fn att(&self) -> AttId {
        self.att
    }
    fn attach(&self, k: &Kernel, buf: BufId) -> Result<(), Errno> {
        k.dma_buf_dynamic_attach(buf, self.att)?;
        self.buf.set(Some(buf));
        Ok(())
    }
    fn map(&self, k: &Kernel) -> Result<(), Errno> {
        let buf = self.buf.get().ok_or(Errno::EINVAL)?;
        k.dma_resv_lock(buf);
        let r = k
            .dma_buf_pin(self.att)
            .and_then(|()| k.dma_buf_map_attachment(self.att));
        k.dma_resv_unlock(buf);
        self.sgt.set(Some(r?));
        Ok(())
    }
    fn access(&self, k: &Kernel, write: bool) {
        k.device_access(self.att, self.sgt.get(), write);
    }
    fn unmap(&self, k: &Kernel) {
        let (Some(buf), Some(sgt)) = (self.buf.get(), self.sgt.take()) else {
            return;
        };
        k.dma_resv_lock(buf);
        k.dma_buf_unmap_attachment(self.att, sgt);
        k.dma_buf_unpin(self.att);
        k.dma_resv_unlock(buf);
    }
    fn detach(&self, k: &Kernel) {
        self.unmap(k);
        if let Some(buf) = self.buf.take() {
            k.dma_buf_detach(buf, self.att);
        }
    }
}

broken!(
    RDMA_KEEPS_PIN_ON_ERROR,
    "broken-rdma-keeps-pin-on-error",
    ShimRole::Importer {
        plays: &[ImporterKind::Rdma],
        make: |att| Rc::new(LeakyRdma {
            att,
            buf: Cell::new(None),
            sgt: Cell::new(None)
        }),
    },
    "keeps its pin when the map after it fails, and detaches still holding it",
    "pin.importer.unpin-on-error"
);

/// An RDMA-style importer without `invalidate_mappings` that maps without pinning: since
/// Linux 7.1 the core pins on map only for static attachments, so nothing keeps a moving
/// exporter from moving the memory under its mapping, and nothing tells it.
struct UnpinnedRdma {
    att: AttId,
    buf: Cell<Option<BufId>>,
    sgt: Cell<Option<SgtId>>,
}

impl DmaBufAttachOps for UnpinnedRdma {
    fn allow_peer2peer(&self) -> bool {
        true
    }
    fn has_invalidate_mappings(&self) -> bool {
        false
    }
}

impl Importer for UnpinnedRdma {
    fn att(&self) -> AttId {
        self.att
    }
    fn attach(&self, k: &Kernel, buf: BufId) -> Result<(), Errno> {
        k.dma_buf_dynamic_attach(buf, self.att)?;
        self.buf.set(Some(buf));
        Ok(())
    }
    fn map(&self, k: &Kernel) -> Result<(), Errno> {
        let buf = self.buf.get().ok_or(Errno::EINVAL)?;
        k.dma_resv_lock(buf);
        let r = k.dma_buf_map_attachment(self.att);
        k.dma_resv_unlock(buf);
        self.sgt.set(Some(r?));
        Ok(())
    }
    fn access(&self, k: &Kernel, write: bool) {
        k.device_access(self.att, self.sgt.get(), write);
    }
    fn unmap(&self, k: &Kernel) {
        let (Some(buf), Some(sgt)) = (self.buf.get(), self.sgt.take()) else {
            return;
        };
        k.dma_resv_lock(buf);
        k.dma_buf_unmap_attachment(self.att, sgt);
        k.dma_resv_unlock(buf);
    }
    fn detach(&self, k: &Kernel) {
        self.unmap(k);
        if let Some(buf) = self.buf.take() {
            k.dma_buf_detach(buf, self.att);
        }
    }
}

broken!(
    RDMA_MAPS_WITHOUT_PIN,
    "broken-rdma-maps-without-pin",
    ShimRole::Importer {
        plays: &[ImporterKind::Rdma],
        make: |att| Rc::new(UnpinnedRdma {
            att,
            buf: Cell::new(None),
            sgt: Cell::new(None)
        }),
    },
    "has no invalidate_mappings and maps without dma_buf_pin(): a move takes the memory from under its mapping",
    "map.importer.pin-without-callback"
);
