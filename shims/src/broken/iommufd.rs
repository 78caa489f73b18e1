//! Broken iommufd-style importers.

use std::rc::Rc;

use reference_impl::book::revocation::IommufdImporter;
use reference_impl::{
    AttId, BufId, DmaBufAttachOps, Errno, Importer, ImporterKind, Kernel, ShimRole,
};

/// Which bug a [`BuggyIommufd`] has.
#[derive(Clone, Copy, Default)]
struct Bugs {
    unpin_unlocked: bool,
    never_unpins: bool,
    writes_after_invalidate: bool,
    never_unmaps: bool,
    defers_iommu_unmap: bool,
    resv_inside_pages_mutex: bool,
}

/// The reference iommufd importer with one bug.
struct BuggyIommufd {
    inner: IommufdImporter,
    att: AttId,
    bugs: Bugs,
}

impl BuggyIommufd {
    fn make(att: AttId, bugs: Bugs) -> Rc<dyn Importer> {
        Rc::new(BuggyIommufd {
            inner: IommufdImporter::new(att),
            att,
            bugs,
        })
    }
}

impl DmaBufAttachOps for BuggyIommufd {
    fn allow_peer2peer(&self) -> bool {
        true
    }
    fn has_invalidate_mappings(&self) -> bool {
        true
    }
    fn invalidate_mappings(&self, k: &Kernel, att: AttId) {
        if self.bugs.never_unmaps {
            return;
        }
        if self.bugs.defers_iommu_unmap {
            // Marks the pages revoked; the IOMMU mapping is to go later, from a worker.
            self.inner.state.borrow_mut().revoked = true;
            return;
        }
        if self.bugs.writes_after_invalidate {
            let sgt = self.inner.state.borrow().sgt;
            k.device_access(att, sgt, true);
        }
        self.inner.invalidate_mappings(k, att)
    }
}

impl Importer for BuggyIommufd {
    fn att(&self) -> AttId {
        self.att
    }
    fn attach(&self, k: &Kernel, buf: BufId) -> Result<(), Errno> {
        self.inner.attach(k, buf)
    }
    fn map(&self, k: &Kernel) -> Result<(), Errno> {
        if !self.bugs.resv_inside_pages_mutex {
            return self.inner.map(k);
        }
        // Fills its domains under `pages->mutex` and pins and maps from there: the
        // reservation lock inside the mutex its callback takes under the reservation lock.
        if self.inner.state.borrow().revoked {
            return Err(Errno::ENODEV);
        }
        let buf = k.attachment(self.att).buf;
        k.pages_mutex_lock(self.att);
        k.dma_resv_lock(buf);
        let r = k.dma_buf_pin(self.att).and_then(|()| {
            k.vfio_pci_dma_buf_iommufd_map(self.att)
                .inspect_err(|_| k.dma_buf_unpin(self.att))
        });
        if let Ok(sgt) = r {
            let mut st = self.inner.state.borrow_mut();
            st.sgt = Some(sgt);
            st.pinned = true;
        }
        k.dma_resv_unlock(buf);
        k.pages_mutex_unlock(self.att);
        r.map(|_| ())
    }
    fn access(&self, k: &Kernel, write: bool) {
        self.inner.access(k, write)
    }
    fn unmap(&self, k: &Kernel) {
        if !self.bugs.unpin_unlocked {
            return self.inner.unmap(k);
        }
        // iopt_release_pages() as merged for 7.1: unpin without the lock.
        self.inner.unmap_domains(k);
        if std::mem::take(&mut self.inner.state.borrow_mut().pinned) {
            k.dma_buf_unpin(self.att);
        }
    }
    fn detach(&self, k: &Kernel) {
        if !self.bugs.never_unpins {
            return self.inner.detach(k);
        }
        let buf = k.attachment(self.att).buf;
        self.inner.unmap_domains(k);
        k.dma_buf_detach(buf, self.att);
    }
}

// The release path unmaps but never unpins (raised on the seed's iommufd patch).
broken!(
    NEVER_UNPINS,
    "broken-iommufd-never-unpins",
    ShimRole::Importer {
        plays: &[ImporterKind::Iommufd],
        make: |att| {
            BuggyIommufd::make(
                att,
                Bugs {
                    never_unpins: true,
                    ..Bugs::default()
                },
            )
        },
    },
    "its release path unmaps and detaches but never calls dma_buf_unpin()",
    "teardown.importer.release-before-detach"
);

// The device writes through the mapping after the invalidation, before the unmap.
broken!(
    WRITES_AFTER_INVALIDATE,
    "broken-iommufd-writes-after-invalidate",
    ShimRole::Importer {
        plays: &[ImporterKind::Iommufd],
        make: |att| {
            BuggyIommufd::make(
                att,
                Bugs {
                    writes_after_invalidate: true,
                    ..Bugs::default()
                },
            )
        },
    },
    "lets its device write through the mapping after invalidate_mappings, before unmapping",
    "revoke.importer.no-write-after-invalidate"
);

// Claims revocability (has the callback) but leaves its IOMMU mapping in place.
broken!(
    NEVER_UNMAPS,
    "broken-iommufd-never-unmaps",
    ShimRole::Importer {
        plays: &[ImporterKind::Iommufd],
        make: |att| {
            BuggyIommufd::make(
                att,
                Bugs {
                    never_unmaps: true,
                    ..Bugs::default()
                },
            )
        },
    },
    "has invalidate_mappings (so claims revocability) but its callback leaves the IOMMU mapping in place",
    "revoke.importer.private-path-sync"
);

// The review's C3 bug: the callback only marks the pages revoked and the IOMMU teardown is
// deferred; VFIO's unmap wait does not count the private mapping, so nothing waits for it.
broken!(
    DEFERS_IOMMU_UNMAP,
    "broken-iommufd-defers-iommu-unmap",
    ShimRole::Importer {
        plays: &[ImporterKind::Iommufd],
        make: |att| {
            BuggyIommufd::make(
                att,
                Bugs {
                    defers_iommu_unmap: true,
                    ..Bugs::default()
                },
            )
        },
    },
    "its callback marks the pages revoked and leaves the IOMMU unmap for later: the device can still write the BAR during the reset",
    "revoke.importer.private-path-sync"
);

// `iopt_release_pages()` as merged for Linux 7.1: `dma_buf_unpin()` without the lock.
broken!(
    UNPIN_UNLOCKED,
    "broken-iommufd-unpin-unlocked",
    ShimRole::Importer {
        plays: &[ImporterKind::Iommufd],
        make: |att| {
            BuggyIommufd::make(
                att,
                Bugs {
                    unpin_unlocked: true,
                    ..Bugs::default()
                },
            )
        },
    },
    "calls dma_buf_unpin() on its release path after dropping the reservation lock (fixed after 7.1)",
    "pin.lock.held"
);

// Takes the reservation lock inside its own `pages->mutex`, which its callback takes inside
// the reservation lock: no run deadlocks unless a revoke comes in between, but lockdep warns
// at the first map.
broken!(
    RESV_INSIDE_PAGES_MUTEX,
    "broken-iommufd-resv-inside-pages-mutex",
    ShimRole::Importer {
        plays: &[ImporterKind::Iommufd],
        make: |att| {
            BuggyIommufd::make(
                att,
                Bugs {
                    resv_inside_pages_mutex: true,
                    ..Bugs::default()
                },
            )
        },
    },
    "maps with the reservation lock taken inside its pages->mutex, the inverse of its callback's order",
    "lock.importer.own-lock-inside-resv"
);
