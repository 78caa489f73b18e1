//! Broken GPU importers.

use std::rc::Rc;

use reference_impl::book::invalidation::GpuImporter;
use reference_impl::{
    AttId, BufId, DmaBufAttachOps, Errno, Importer, ImporterKind, Kernel, Shim, ShimRole,
};

use super::Broken;

/// A GPU importer whose callback takes the reservation lock again: a self-deadlock.
struct RelockingGpu {
    inner: GpuImporter,
    att: AttId,
}

impl DmaBufAttachOps for RelockingGpu {
    fn allow_peer2peer(&self) -> bool {
        true
    }
    fn has_invalidate_mappings(&self) -> bool {
        true
    }
    fn invalidate_mappings(&self, k: &Kernel, att: AttId) {
        k.dma_resv_lock(k.attachment(att).buf);
        self.inner.invalidate_mappings(k, att)
    }
}

impl Importer for RelockingGpu {
    fn att(&self) -> AttId {
        self.att
    }
    fn attach(&self, k: &Kernel, buf: BufId) -> Result<(), Errno> {
        self.inner.attach(k, buf)
    }
    fn map(&self, k: &Kernel) -> Result<(), Errno> {
        self.inner.map(k)
    }
    fn access(&self, k: &Kernel, write: bool) {
        self.inner.access(k, write)
    }
    fn submit(&self, k: &Kernel, write: bool) {
        self.inner.submit(k, write)
    }
    fn unmap(&self, k: &Kernel) {
        self.inner.unmap(k)
    }
    fn detach(&self, k: &Kernel) {
        self.inner.detach(k)
    }
}

/// The callback takes the lock it is called under.
pub(super) const RELOCKS_IN_CALLBACK: Broken = Broken {
    shim: Shim {
        name: "broken-gpu-relocks-in-callback",
        description: "GPU importer whose invalidate_mappings takes the reservation lock again",
        role: ShimRole::Importer {
            plays: &[ImporterKind::Dynamic],
            make: |att| {
                Rc::new(RelockingGpu {
                    inner: GpuImporter::new(att),
                    att,
                })
            },
        },
    },
    bug: "its invalidate_mappings callback calls dma_resv_lock() on the lock it is called under",
    breaks: "invalidate.importer.no-relock",
};
