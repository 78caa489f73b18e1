//! The model detects the failures that matter, and the checks name the rule broken: each
//! test runs a case of the book with one role replaced by a driver carrying one realistic
//! bug (from the seed thread and the fixes that followed it), and expects the case to fail
//! on that rule. The same cases pass with the reference drivers (see `tests/cases.rs`).

use std::collections::BTreeSet;
use std::rc::Rc;

use conformance::outcome::run_case;
use reference_impl::book::invalidation::GpuImporter;
use reference_impl::book::revocation::{IommufdImporter, VfioExporter};
use reference_impl::{
    AccessOutcome, AttId, BufId, DmaBufAttachOps, DmaBufOps, DmaResvUsage, Errno, Exporter,
    Importer, Kernel, OpsTable, Roles, SgtId, Timeout,
};

/// Runs `case[variant]` with `roles` and returns the rules whose checks failed.
fn failed_rules(case: &str, variant: &'static str, roles: Roles) -> BTreeSet<&'static str> {
    let case = conformance::case(case).expect("case exists");
    let outcome = run_case(case, variant, &|steps| {
        reference_impl::run_with(&roles, steps)
    });
    let failed: BTreeSet<&'static str> = outcome
        .checks
        .iter()
        .filter(|c| c.result.is_err())
        .map(|c| c.rule)
        .collect();
    assert!(
        !failed.is_empty(),
        "the bug went unnoticed:\n{}",
        outcome.snapshot()
    );
    failed
}

fn with_exporter(make: impl Fn(BufId) -> Rc<dyn Exporter> + 'static) -> Roles {
    let reference = Roles::reference();
    Roles {
        exporter: Box::new(move |_, buf| make(buf)),
        ..reference
    }
}

fn with_importer(make: impl Fn(AttId) -> Rc<dyn Importer> + 'static) -> Roles {
    let reference = Roles::reference();
    Roles {
        importer: Box::new(move |_, att| make(att)),
        ..reference
    }
}

/// A VFIO exporter with one bug.
#[derive(Clone, Copy, Default)]
struct VfioBugs {
    /// Revoke without waiting for fences or unmaps (VFIO before the fix the thread asked for).
    no_waits: bool,
    /// Map succeeds while revoked.
    map_while_revoked: bool,
    /// Revocability checked in `pin` instead of `attach` (the v2 proposal).
    check_in_pin: bool,
}

struct BuggyVfio {
    inner: VfioExporter,
    buf: BufId,
    bugs: VfioBugs,
}

impl DmaBufOps for BuggyVfio {
    fn table(&self) -> OpsTable {
        // v2's VFIO had `pin` and `unpin` ops, where it checked revocability.
        let pin = self.bugs.check_in_pin;
        OpsTable {
            pin,
            unpin: pin,
            ..self.inner.table()
        }
    }
    fn attach(&self, k: &Kernel, att: AttId) -> Result<(), Errno> {
        if self.bugs.check_in_pin {
            return if k.attachment(att).peer2peer {
                Ok(())
            } else {
                Err(Errno::EOPNOTSUPP)
            };
        }
        self.inner.attach(k, att)
    }
    fn pin(&self, k: &Kernel, att: AttId) -> Result<(), Errno> {
        if self.bugs.check_in_pin && !k.dma_buf_attach_revocable(att) {
            return Err(Errno::EOPNOTSUPP);
        }
        self.inner.pin(k, att)
    }
    fn unpin(&self, k: &Kernel, att: AttId) {
        self.inner.unpin(k, att)
    }
    fn map_dma_buf(&self, k: &Kernel, att: AttId) -> Result<SgtId, Errno> {
        if self.bugs.map_while_revoked {
            return Ok(k.new_sg_table(att));
        }
        self.inner.map_dma_buf(k, att)
    }
    fn unmap_dma_buf(&self, k: &Kernel, att: AttId, sgt: SgtId) {
        self.inner.unmap_dma_buf(k, att, sgt)
    }
}

impl Exporter for BuggyVfio {
    fn buf(&self) -> BufId {
        self.buf
    }
    fn export(&self, k: &Kernel) -> Result<(), Errno> {
        self.inner.export(k)
    }
    fn revoke(&self, k: &Kernel) {
        if !self.bugs.no_waits {
            return self.inner.revoke(k);
        }
        k.dma_resv_lock(self.buf);
        self.inner.priv_.borrow_mut().revoked = true;
        k.dma_buf_invalidate_mappings(self.buf);
        k.dma_resv_unlock(self.buf);
    }
    fn restore(&self, k: &Kernel) {
        self.inner.restore(k)
    }
}

fn vfio(bugs: VfioBugs) -> Roles {
    with_exporter(move |buf| {
        Rc::new(BuggyVfio {
            inner: VfioExporter::new(buf),
            buf,
            bugs,
        })
    })
}

#[test]
fn exporter_that_does_not_wait_after_invalidating_is_caught() {
    let bugs = VfioBugs {
        no_waits: true,
        ..VfioBugs::default()
    };
    let failed = failed_rules("revoke_waits_for_queued_work", "", vfio(bugs));
    assert!(
        failed.contains("revoke.exporter.wait-bookkeep"),
        "{failed:?}"
    );
    assert!(
        failed.contains("revoke.exporter.reuse-after-waits"),
        "{failed:?}"
    );
    let failed = failed_rules("revoke_around_reset", "iommufd", vfio(bugs));
    assert!(failed.contains("revoke.exporter.wait-unmap"), "{failed:?}");
}

#[test]
fn exporter_that_maps_while_revoked_is_caught() {
    let bugs = VfioBugs {
        map_while_revoked: true,
        ..VfioBugs::default()
    };
    let failed = failed_rules("map_after_revoke_fails", "", vfio(bugs));
    assert!(failed.contains("revoke.exporter.reject-map"), "{failed:?}");
}

#[test]
fn exporter_that_checks_revocability_in_pin_is_caught() {
    let bugs = VfioBugs {
        check_in_pin: true,
        ..VfioBugs::default()
    };
    // An importer without the callback is no longer refused at attach, so it is linked and
    // can be handed invalidations it cannot honour.
    let failed = failed_rules("vfio_attach_negotiates_revocability", "rdma", vfio(bugs));
    assert!(
        failed.contains("attach.revocable.check-in-attach"),
        "{failed:?}"
    );
}

/// An iommufd-style importer with one bug.
#[derive(Clone, Copy, Default)]
struct IommufdBugs {
    /// The release path unmaps but never unpins (raised on the seed's patch 3).
    never_unpins: bool,
    /// The device writes through the mapping inside the callback, before unmapping.
    writes_after_invalidate: bool,
    /// Has the callback (so claims revocability) but never unmaps.
    never_unmaps: bool,
}

struct BuggyIommufd {
    inner: IommufdImporter,
    att: AttId,
    bugs: IommufdBugs,
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
        self.inner.map(k)
    }
    fn access(&self, k: &Kernel, write: bool) {
        self.inner.access(k, write)
    }
    fn unmap(&self, k: &Kernel) {
        self.inner.unmap(k)
    }
    fn detach(&self, k: &Kernel) {
        if !self.bugs.never_unpins {
            return self.inner.detach(k);
        }
        let buf = k.attachment(self.att).buf;
        let sgt = self.inner.state.borrow_mut().sgt.take();
        k.dma_resv_lock(buf);
        if let Some(sgt) = sgt {
            k.dma_buf_unmap_attachment(self.att, sgt);
        }
        k.dma_resv_unlock(buf);
        k.dma_buf_detach(buf, self.att);
    }
}

fn iommufd(bugs: IommufdBugs) -> Roles {
    with_importer(move |att| {
        Rc::new(BuggyIommufd {
            inner: IommufdImporter::new(att),
            att,
            bugs,
        })
    })
}

#[test]
fn importer_that_never_unpins_is_caught() {
    let bugs = IommufdBugs {
        never_unpins: true,
        ..IommufdBugs::default()
    };
    let failed = failed_rules("orderly_teardown", "iommufd", iommufd(bugs));
    assert!(
        failed.contains("teardown.importer.release-before-detach"),
        "{failed:?}"
    );
}

#[test]
fn importer_that_writes_between_invalidation_and_unmap_is_caught() {
    let bugs = IommufdBugs {
        writes_after_invalidate: true,
        ..IommufdBugs::default()
    };
    let failed = failed_rules("revoke_around_reset", "iommufd", iommufd(bugs));
    assert!(
        failed.contains("revoke.importer.no-write-after-invalidate"),
        "{failed:?}"
    );
}

#[test]
fn importer_that_never_unmaps_blocks_the_revoke_and_is_caught() {
    let bugs = IommufdBugs {
        never_unmaps: true,
        ..IommufdBugs::default()
    };
    let failed = failed_rules("revoke_around_reset", "iommufd", iommufd(bugs));
    assert!(
        failed.contains("revoke.importer.unmap-bounded"),
        "{failed:?}"
    );
    assert!(failed.contains("revoke.exporter.wait-unmap"), "{failed:?}");
}

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
    fn unmap(&self, k: &Kernel) {
        self.inner.unmap(k)
    }
    fn detach(&self, k: &Kernel) {
        self.inner.detach(k)
    }
}

#[test]
fn importer_that_relocks_in_its_callback_is_caught() {
    let roles = with_importer(|att| {
        Rc::new(RelockingGpu {
            inner: GpuImporter::new(att),
            att,
        })
    });
    let failed = failed_rules("repeated_moves", "", roles);
    assert!(
        failed.contains("invalidate.importer.repeated"),
        "{failed:?}"
    );
    let roles = with_importer(|att| {
        Rc::new(RelockingGpu {
            inner: GpuImporter::new(att),
            att,
        })
    });
    let failed = failed_rules("move_invalidates_and_importer_remaps", "", roles);
    assert!(
        failed.contains("invalidate.importer.no-relock"),
        "{failed:?}"
    );
}

/// The model itself: an access through memory reclaimed too early is a use-after-free in
/// the trace, whoever caused it.
#[test]
fn the_device_sees_reclaimed_memory_as_use_after_free() {
    let k = Kernel::new();
    let buf = BufId(0);
    let att = AttId(0);
    let exporter = Rc::new(VfioExporter::new(buf));
    k.register_exporter(buf, exporter.clone());
    let importer = Rc::new(GpuImporter::new(att));
    k.register_importer(att, importer.clone());
    assert!(k.run_step(0, reference_impl::Actor::Harness, || {
        exporter.export(&k).expect("export");
        importer.attach(&k, buf).expect("attach");
        importer.submit(&k, true);
        k.reclaim_memory(buf);
        k.dma_resv_lock(buf);
        k.dma_resv_wait_timeout(buf, DmaResvUsage::Bookkeep, false, Timeout::Max);
        k.dma_resv_unlock(buf);
    }));
    let trace = k.trace();
    let outcomes: Vec<_> = trace
        .events
        .iter()
        .filter_map(|e| match &e.ret {
            Some(reference_impl::Ret::Access(o)) => Some(*o),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes, [AccessOutcome::Reclaimed]);
}
