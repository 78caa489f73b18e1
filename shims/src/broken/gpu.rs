//! Broken GPU drivers, importer and exporter side.

use std::cell::Cell;
use std::rc::Rc;

use reference_impl::book::invalidation::{GpuExporter, GpuImporter};

use crate::conforming::DeferredUnmap;
use reference_impl::{
    AttId, BufId, DmaBufAttachOps, DmaBufOps, DmaResvUsage, Errno, Exporter, ExporterKind,
    Importer, ImporterKind, Kernel, OpsTable, SgtId, ShimRole, Timeout, Work,
};

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
    forward_importer!(
        attach, map, access, submit, unmap, detach, vmap, vmap_hold, vunmap
    );
}

// The callback takes the lock it is called under.
broken!(
    RELOCKS_IN_CALLBACK,
    "broken-gpu-relocks-in-callback",
    ShimRole::Importer {
        plays: &[ImporterKind::Dynamic],
        make: |att| Rc::new(RelockingGpu {
            inner: GpuImporter::new(att),
            att
        }),
    },
    "its invalidate_mappings callback calls dma_resv_lock() on the lock it is called under",
    "invalidate.importer.no-relock"
);

/// Which bug a [`SloppyGpu`] importer has.
#[derive(Clone, Copy, Default)]
struct ImporterBugs {
    /// Keeps using the old mapping after an invalidation.
    no_remap: bool,
    /// Uses a new mapping without waiting for KERNEL fences.
    no_kernel_wait: bool,
    /// Waits for KERNEL fences before its CPU-side use, but queues device work on a new
    /// mapping without making the job depend on them.
    job_no_kernel_wait: bool,
    /// Queues work without adding its fence to the reservation object.
    no_fence: bool,
    /// Treats the positive return of `dma_resv_wait_timeout()` as an error.
    wait_positive_is_error: bool,
    /// Polls with a zero timeout and treats 0 (not signalled) as success.
    poll_zero_is_success: bool,
    /// Frees its state when it unmaps, before it detaches.
    frees_before_detach: bool,
    /// Initialises its state only after `dma_buf_dynamic_attach()` returns.
    init_after_attach: bool,
    /// Maps without holding the reservation lock.
    map_unlocked: bool,
    /// Calls `dma_buf_vmap()` and `dma_buf_vunmap()` without the reservation lock (where
    /// `dma_buf_vmap_unlocked()` takes it).
    vmap_unlocked: bool,
    /// Adds the fence of writing work as BOOKKEEP instead of WRITE.
    bookkeep_for_writes: bool,
    /// Never maps again once a map has failed, not even after an invalidation.
    never_retries: bool,
    /// Its jobs' completion handler takes the buffer's reservation lock before signalling.
    fence_locks_resv: bool,
    /// Adds its job's fence after dropping the reservation lock.
    fence_unlocked: bool,
    /// Keeps its invalidated mapping and never unmaps it (maps anew when it needs one).
    never_unmaps: bool,
    /// Maps again from inside its callback, before the exporter has moved the buffer.
    remaps_in_callback: bool,
    /// Takes its mapping under the lock, drops the lock, queues the job, and takes the lock
    /// again to add the job's fence.
    submits_after_unlock: bool,
    /// Frees its object in `detach`, between its unmap and `dma_buf_detach()`.
    frees_in_detach: bool,
    /// Returns from `submit` without dropping the reservation lock when it cannot map (an
    /// error path that forgets `dma_resv_unlock()`).
    keeps_lock_on_error: bool,
}

/// A GPU dynamic importer written without the reference's care.
struct SloppyGpu {
    att: AttId,
    buf: Cell<Option<BufId>>,
    sgt: Cell<Option<SgtId>>,
    invalidated: Cell<bool>,
    failed: Cell<bool>,
    freed: Cell<bool>,
    ready: Cell<bool>,
    /// vmaps it holds, as the reference importer counts them.
    vmaps: Cell<u32>,
    bugs: ImporterBugs,
}

impl SloppyGpu {
    fn make(att: AttId, bugs: ImporterBugs) -> Rc<dyn Importer> {
        Rc::new(SloppyGpu {
            att,
            buf: Cell::new(None),
            sgt: Cell::new(None),
            invalidated: Cell::new(false),
            failed: Cell::new(false),
            freed: Cell::new(false),
            ready: Cell::new(!bugs.init_after_attach),
            vmaps: Cell::new(0),
            bugs,
        })
    }

    /// With the lock held: the mapping to use (`job`: for device work queued on it).
    fn mapping(&self, k: &Kernel, buf: BufId, job: bool) -> Option<SgtId> {
        if let Some(sgt) = self.sgt.get()
            && (!self.invalidated.get() || self.bugs.no_remap)
        {
            return Some(sgt);
        }
        if self.failed.get() {
            return None;
        }
        let Ok(sgt) = k.dma_buf_map_attachment(self.att) else {
            // The reference caches the failure until the next invalidation; so does this one,
            // but with `never_retries` the invalidation does not clear it.
            self.failed.set(true);
            return None;
        };
        self.invalidated.set(false);
        if self.bugs.poll_zero_is_success {
            // `>= 0` accepts 0, which means the fences have not signalled.
            let ret =
                k.dma_resv_wait_timeout(buf, DmaResvUsage::Kernel, false, Timeout::Jiffies(0));
            if ret < 0 {
                k.dma_buf_unmap_attachment(self.att, sgt);
                return None;
            }
        } else if !(self.bugs.no_kernel_wait || (job && self.bugs.job_no_kernel_wait)) {
            let ret = k.dma_resv_wait_timeout(buf, DmaResvUsage::Kernel, false, Timeout::Max);
            let failed = if self.bugs.wait_positive_is_error {
                ret != 0
            } else {
                ret <= 0
            };
            if failed {
                k.dma_buf_unmap_attachment(self.att, sgt);
                return None;
            }
        }
        self.sgt.set(Some(sgt));
        Some(sgt)
    }
}

impl DmaBufAttachOps for SloppyGpu {
    fn allow_peer2peer(&self) -> bool {
        true
    }
    fn has_invalidate_mappings(&self) -> bool {
        true
    }
    fn invalidate_mappings(&self, k: &Kernel, att: AttId) {
        assert!(
            self.ready.get(),
            "BUG: invalidate_mappings on an importer object not yet initialised"
        );
        assert!(
            !self.freed.get(),
            "BUG: invalidate_mappings on an importer object already freed (use after free)"
        );
        self.invalidated.set(true);
        if !self.bugs.never_retries {
            self.failed.set(false);
        }
        if self.bugs.no_remap {
            return; // Keeps the old mapping and goes on using it.
        }
        if self.bugs.never_unmaps {
            self.sgt.take(); // Forgets the mapping without giving it back.
            return;
        }
        if let Some(sgt) = self.sgt.take() {
            k.dma_buf_unmap_attachment(att, sgt);
            if self.bugs.remaps_in_callback
                && let Ok(new) = k.dma_buf_map_attachment(att)
            {
                // Eager: the new mapping is the old placement, about to be reused.
                self.sgt.set(Some(new));
                self.invalidated.set(false);
            }
        }
    }
}

impl Importer for SloppyGpu {
    fn att(&self) -> AttId {
        self.att
    }
    fn attach(&self, k: &Kernel, buf: BufId) -> Result<(), Errno> {
        k.dma_buf_dynamic_attach(buf, self.att)?;
        self.buf.set(Some(buf));
        self.ready.set(true);
        Ok(())
    }
    fn map(&self, k: &Kernel) -> Result<(), Errno> {
        let buf = self.buf.get().ok_or(Errno::EINVAL)?;
        if self.bugs.map_unlocked {
            return self.mapping(k, buf, false).map(|_| ()).ok_or(Errno::ENODEV);
        }
        k.dma_resv_lock(buf);
        let r = self.mapping(k, buf, false);
        k.dma_resv_unlock(buf);
        r.map(|_| ()).ok_or(Errno::ENODEV)
    }
    fn access(&self, k: &Kernel, write: bool) {
        let Some(buf) = self.buf.get() else { return };
        k.dma_resv_lock(buf);
        let sgt = self.mapping(k, buf, false);
        if sgt.is_some() && self.bugs.job_no_kernel_wait {
            // Its synchronous path waits for the KERNEL fences before every access, even on
            // a mapping it already has; only its queued jobs skip them.
            k.dma_resv_wait_timeout(buf, DmaResvUsage::Kernel, false, Timeout::Max);
        }
        k.dma_resv_unlock(buf);
        if let Some(sgt) = sgt {
            k.device_access(self.att, Some(sgt), write);
        }
    }
    fn submit(&self, k: &Kernel, write: bool) {
        let Some(buf) = self.buf.get() else { return };
        if self.bugs.submits_after_unlock {
            k.dma_resv_lock(buf);
            let sgt = self.mapping(k, buf, true);
            k.dma_resv_unlock(buf);
            if let Some(sgt) = sgt {
                // An invalidation here is not seen: the job goes to the old mapping.
                let fence = k.device_submit(self.att, sgt, write);
                let usage = if write {
                    DmaResvUsage::Write
                } else {
                    DmaResvUsage::Read
                };
                k.dma_resv_lock(buf);
                k.dma_resv_add_fence(buf, fence, usage);
                k.dma_resv_unlock(buf);
            }
            return;
        }
        k.dma_resv_lock(buf);
        let mut late = None;
        let mapped = self.mapping(k, buf, true);
        if mapped.is_none() && self.bugs.keeps_lock_on_error {
            return;
        }
        if let Some(sgt) = mapped {
            let fence = if self.bugs.fence_locks_resv {
                k.device_submit_locking_resv(self.att, sgt, write)
            } else {
                k.device_submit(self.att, sgt, write)
            };
            if !self.bugs.no_fence {
                let usage = match (write, self.bugs.bookkeep_for_writes) {
                    (true, true) => DmaResvUsage::Bookkeep,
                    (true, false) => DmaResvUsage::Write,
                    (false, _) => DmaResvUsage::Read,
                };
                if self.bugs.fence_unlocked {
                    late = Some((fence, usage));
                } else {
                    k.dma_resv_add_fence(buf, fence, usage);
                }
            }
        }
        k.dma_resv_unlock(buf);
        if let Some((fence, usage)) = late {
            k.dma_resv_add_fence(buf, fence, usage);
        }
    }
    fn unmap(&self, k: &Kernel) {
        let Some(buf) = self.buf.get() else { return };
        k.dma_resv_lock(buf);
        if let Some(sgt) = self.sgt.take() {
            k.dma_buf_unmap_attachment(self.att, sgt);
        }
        k.dma_resv_unlock(buf);
        if self.bugs.frees_before_detach {
            self.freed.set(true); // The object goes; the attachment is still linked.
        }
    }
    fn detach(&self, k: &Kernel) {
        self.unmap(k);
        while self.vmaps.get() > 0 {
            self.vunmap(k);
        }
        if self.bugs.frees_in_detach {
            self.freed.set(true); // Freed before dma_buf_detach() unlinks the attachment.
        }
        if let Some(buf) = self.buf.take() {
            k.dma_buf_detach(buf, self.att);
        }
    }
    fn vmap(&self, k: &Kernel) {
        let Some(buf) = self.buf.get() else { return };
        self.vmap_lock(k, buf, true);
        if k.dma_buf_vmap(buf).is_ok() {
            k.dma_buf_vunmap(buf);
        }
        self.vmap_lock(k, buf, false);
    }
    fn vmap_hold(&self, k: &Kernel) {
        let Some(buf) = self.buf.get() else { return };
        self.vmap_lock(k, buf, true);
        if k.dma_buf_vmap(buf).is_ok() {
            self.vmaps.set(self.vmaps.get() + 1);
        }
        self.vmap_lock(k, buf, false);
    }
    fn vunmap(&self, k: &Kernel) {
        let Some(buf) = self.buf.get() else { return };
        if self.vmaps.get() == 0 {
            return;
        }
        self.vmap_lock(k, buf, true);
        k.dma_buf_vunmap(buf);
        self.vmaps.set(self.vmaps.get() - 1);
        self.vmap_lock(k, buf, false);
    }
}

impl SloppyGpu {
    /// Takes (or drops) the reservation lock around a vmap, unless the bug leaves it out.
    fn vmap_lock(&self, k: &Kernel, buf: BufId, take: bool) {
        match (self.bugs.vmap_unlocked, take) {
            (true, _) => {}
            (false, true) => k.dma_resv_lock(buf),
            (false, false) => k.dma_resv_unlock(buf),
        }
    }
}

macro_rules! sloppy {
    ($const:ident, $name:literal, $field:ident, $bug:literal, $breaks:literal) => {
        broken!(
            $const,
            $name,
            ShimRole::Importer {
                plays: &[ImporterKind::Dynamic],
                make: |att| SloppyGpu::make(
                    att,
                    ImporterBugs {
                        $field: true,
                        ..ImporterBugs::default()
                    }
                ),
            },
            $bug,
            $breaks
        );
    };
}

sloppy!(
    VMAP_UNLOCKED,
    "broken-gpu-vmap-unlocked",
    vmap_unlocked,
    "calls dma_buf_vmap() and dma_buf_vunmap() without the reservation lock, where it meant dma_buf_vmap_unlocked()",
    "cpu.vmap.lock-held"
);
sloppy!(
    KEEPS_LOCK_ON_ERROR,
    "broken-gpu-keeps-lock-on-error",
    keeps_lock_on_error,
    "returns from a submission it cannot map (the buffer is revoked) without dropping the reservation lock, so the next lock of the buffer never returns",
    "lock.no-deadlock"
);
sloppy!(
    NO_REMAP,
    "broken-gpu-no-remap",
    no_remap,
    "keeps using its old mapping after invalidate_mappings instead of mapping again",
    "invalidate.importer.remap-before-access"
);
sloppy!(
    NO_KERNEL_WAIT,
    "broken-gpu-no-kernel-wait",
    no_kernel_wait,
    "lets its device use a new mapping without waiting for the KERNEL fences (the exporter's copy)",
    "invalidate.importer.wait-kernel"
);
sloppy!(
    JOB_NO_KERNEL_WAIT,
    "broken-gpu-job-ignores-kernel-fences",
    job_no_kernel_wait,
    "queues device work on a new mapping without making the job depend on the KERNEL fences (the exporter's copy), so the job runs before the copy ends",
    "invalidate.importer.wait-kernel"
);
sloppy!(
    NO_FENCE,
    "broken-gpu-no-fence",
    no_fence,
    "queues device work without adding its fence, so the work outlives the exporter's wait",
    "invalidate.importer.fence-inflight"
);
sloppy!(
    POLL_ZERO_IS_SUCCESS,
    "broken-gpu-poll-zero-is-success",
    poll_zero_is_success,
    "polls dma_resv_wait_timeout() with a zero timeout and takes its 0 (not signalled) for success",
    "invalidate.importer.wait-kernel"
);

sloppy!(
    FREES_BEFORE_DETACH,
    "broken-gpu-frees-before-detach",
    frees_before_detach,
    "tears its object down when it unmaps, before dma_buf_detach(), while invalidations can still arrive",
    "teardown.importer.state-until-detach"
);

sloppy!(
    FREES_IN_DETACH,
    "broken-gpu-frees-in-detach",
    frees_in_detach,
    "frees its object in detach after unmapping but before dma_buf_detach(), while a revoke can still reach it",
    "teardown.importer.state-until-detach"
);

sloppy!(
    SUBMITS_AFTER_UNLOCK,
    "broken-gpu-submits-after-unlock",
    submits_after_unlock,
    "queues its job after dropping the lock it took its mapping under, so an invalidation in between leaves the job on the old mapping",
    "invalidate.importer.remap-before-access"
);

sloppy!(
    INIT_AFTER_ATTACH,
    "broken-gpu-init-after-attach",
    init_after_attach,
    "attaches before its object is initialised, so an invalidation right after linking finds it half-built",
    "attach.importer.initialised"
);

sloppy!(
    MAP_UNLOCKED,
    "broken-gpu-map-unlocked",
    map_unlocked,
    "calls dma_buf_map_attachment() without holding the reservation lock",
    "map.lock.held"
);

sloppy!(
    BOOKKEEP_FOR_WRITES,
    "broken-gpu-bookkeep-for-writes",
    bookkeep_for_writes,
    "adds the fence of writing work as BOOKKEEP, so implicit-sync readers do not wait for it",
    "fence.importer.implicit-usage"
);

sloppy!(
    NEVER_RETRIES,
    "broken-gpu-never-retries",
    never_retries,
    "remembers a failed map for ever, so a restored buffer stays unusable to it",
    "revoke.restore.dynamic-remaps"
);

sloppy!(
    WAIT_POSITIVE_IS_ERROR,
    "broken-gpu-wait-positive-is-error",
    wait_positive_is_error,
    "treats the positive return of dma_resv_wait_timeout() (success) as an error and drops the mapping",
    "invalidate.importer.wait-kernel"
);

sloppy!(
    FENCE_NEEDS_RESV_LOCK,
    "broken-gpu-fence-needs-resv-lock",
    fence_locks_resv,
    "its job-done handler takes the buffer's reservation lock before signalling the job's fence, so an exporter waiting under that lock waits for ever",
    "fence.importer.signal-independent"
);

sloppy!(
    FENCE_UNLOCKED,
    "broken-gpu-fence-unlocked",
    fence_unlocked,
    "adds its job's fence with dma_resv_add_fence() after dropping the reservation lock",
    "lock.importer.add-fence-locked"
);

sloppy!(
    NEVER_UNMAPS,
    "broken-gpu-never-unmaps",
    never_unmaps,
    "drops its invalidated mapping on the floor without dma_buf_unmap_attachment(), so a revoking exporter waits for ever",
    "revoke.importer.unmap-bounded"
);

sloppy!(
    REMAPS_IN_CALLBACK,
    "broken-gpu-remaps-in-callback",
    remaps_in_callback,
    "maps again from inside invalidate_mappings, so its new mapping is the placement the exporter is about to move away from",
    "invalidate.importer.no-map-in-callback"
);

/// Which bug a [`BuggyGpuExporter`] has.
#[derive(Clone, Copy, Default)]
struct ExporterBugs {
    moves_pinned: bool,
    no_wait_before_reuse: bool,
    cpu_access_after_unplug: bool,
    pin_before_copy: bool,
    moves_under_vmap: bool,
}

struct BuggyGpuExporter {
    inner: GpuExporter,
    buf: BufId,
    pins: Cell<u32>,
    bugs: ExporterBugs,
}

impl DmaBufOps for BuggyGpuExporter {
    fn table(&self) -> OpsTable {
        self.inner.table()
    }
    fn pin(&self, k: &Kernel, att: AttId) -> Result<(), Errno> {
        self.pins.set(self.pins.get() + 1);
        if !self.bugs.pin_before_copy {
            return self.inner.pin(k, att);
        }
        // Migrates for the pin and returns with the copy only fenced.
        let all_p2p = k
            .attachments_of(self.buf)
            .iter()
            .all(|a| k.attachment(*a).peer2peer);
        let (pinned, in_system) = {
            let bo = self.inner.bo.borrow();
            (bo.pinned(), bo.in_system)
        };
        if !pinned && !all_p2p && !in_system {
            self.inner.migrate(k);
        }
        self.inner.bo.borrow_mut().pins += 1;
        Ok(())
    }
    fn unpin(&self, k: &Kernel, att: AttId) {
        self.pins.set(self.pins.get().saturating_sub(1));
        self.inner.unpin(k, att)
    }
    fn map_dma_buf(&self, k: &Kernel, att: AttId) -> Result<SgtId, Errno> {
        self.inner.map_dma_buf(k, att)
    }
    fn unmap_dma_buf(&self, k: &Kernel, att: AttId, sgt: SgtId) {
        self.inner.unmap_dma_buf(k, att, sgt)
    }
    fn vmap(&self, k: &Kernel) -> Result<(), Errno> {
        if self.bugs.cpu_access_after_unplug {
            return Ok(());
        }
        if self.bugs.moves_under_vmap {
            // amdgpu_dma_buf_vmap() without its amdgpu_bo_pin(): maps, keeps nothing in place.
            return match self.inner.bo.borrow().unplugged {
                true => Err(Errno::ENODEV),
                false => Ok(()),
            };
        }
        self.inner.vmap(k)
    }
    fn vunmap(&self, k: &Kernel) {
        self.inner.vunmap(k)
    }
    fn mmap(&self, k: &Kernel) -> Result<(), Errno> {
        if self.bugs.cpu_access_after_unplug {
            return Ok(());
        }
        self.inner.mmap(k)
    }
}

impl Exporter for BuggyGpuExporter {
    fn buf(&self) -> BufId {
        self.buf
    }
    fn export(&self, k: &Kernel) -> Result<(), Errno> {
        self.inner.export(k)
    }
    fn revoke(&self, k: &Kernel) {
        self.inner.revoke(k)
    }
    fn reclaim(&self, k: &Kernel) {
        self.inner.reclaim(k)
    }
    fn move_buffer(&self, k: &Kernel) {
        let vmapped = self.inner.bo.borrow().vmap_pins > 0;
        if (self.pins.get() > 0 && !self.bugs.moves_pinned) || vmapped {
            return self.inner.move_buffer(k);
        }
        k.dma_resv_lock(self.buf);
        k.dma_buf_invalidate_mappings(self.buf);
        if !self.bugs.no_wait_before_reuse {
            k.dma_resv_wait_timeout(self.buf, DmaResvUsage::Bookkeep, false, Timeout::Max);
        }
        k.reclaim_memory(self.buf);
        k.dma_resv_unlock(self.buf);
    }
}

macro_rules! buggy_exporter {
    ($const:ident, $name:literal, $field:ident, $bug:literal, $breaks:literal) => {
        broken!(
            $const,
            $name,
            ShimRole::Exporter {
                plays: &[ExporterKind::Gpu],
                make: |buf| {
                    Rc::new(BuggyGpuExporter {
                        inner: GpuExporter::new(buf),
                        buf,
                        pins: Cell::new(0),
                        bugs: ExporterBugs {
                            $field: true,
                            ..ExporterBugs::default()
                        },
                    })
                },
            },
            $bug,
            $breaks
        );
    };
}

buggy_exporter!(
    MOVES_PINNED,
    "broken-gpu-moves-pinned",
    moves_pinned,
    "evicts a buffer an importer has pinned",
    "invalidate.exporter.pinned-stays"
);
buggy_exporter!(
    NO_WAIT_BEFORE_REUSE,
    "broken-gpu-no-wait-before-reuse",
    no_wait_before_reuse,
    "moves a buffer and reuses the old memory without waiting for BOOKKEEP fences",
    "invalidate.exporter.wait-before-reuse"
);
buggy_exporter!(
    CPU_ACCESS_AFTER_UNPLUG,
    "broken-gpu-cpu-access-after-unplug",
    cpu_access_after_unplug,
    "lets vmap and mmap succeed after the device was unplugged (revoked)",
    "cpu.revoked.enodev"
);
buggy_exporter!(
    PIN_BEFORE_COPY,
    "broken-gpu-pin-returns-before-copy",
    pin_before_copy,
    "migrates a buffer for a pin and returns from pin with the copy only fenced, not finished",
    "pin.exporter.ready"
);
buggy_exporter!(
    MOVES_UNDER_VMAP,
    "broken-gpu-moves-under-vmap",
    moves_under_vmap,
    "its vmap does not pin (amdgpu_dma_buf_vmap() without amdgpu_bo_pin()), so an eviction moves the buffer and reuses its memory while a kernel vmap of it is held",
    "cpu.exporter.vmap-keeps-placement"
);

/// The work function of a GPU importer that leaves the unmap to a worker (as
/// `gpu-importer-deferred-unmap` does), which goes on after it gave the invalidated mapping
/// back and dropped the lock: it takes the lock again and unmaps whatever mapping the
/// importer holds now, as if it were one the invalidation reached (as
/// `ib_umem_dmabuf_unmap_pages()` unmaps whatever `umem_dmabuf->sgt` holds). Run promptly,
/// the importer holds none then; stopped half-way while the exporter's wait returns, the
/// buffer is restored and the importer maps again, it unmaps the new mapping under the
/// importer's device.
fn worker_unmaps_current(me: &DeferredUnmap, k: &Kernel, att: AttId, stage: u32) -> Work {
    if stage == 0 {
        me.unmap_stale(k);
        return Work::Continue;
    }
    // The bug: the mapping held now may have been made after the invalidation.
    let buf = k.attachment(att).buf;
    k.dma_resv_lock(buf);
    let sgt = me.inner.state.borrow_mut().sgt.take();
    if let Some(sgt) = sgt {
        k.dma_buf_unmap_attachment(att, sgt);
    }
    k.dma_resv_unlock(buf);
    Work::Done
}

// The detach flushes the worker before it gives back its current mapping.
broken!(
    FLUSHES_BEFORE_UNMAP,
    "broken-gpu-flushes-before-unmap",
    ShimRole::Importer {
        plays: &[ImporterKind::Dynamic],
        make: |att| {
            let mut me = DeferredUnmap::with_work(att, crate::conforming::staged_unmap);
            me.flush_first = true;
            Rc::new(me)
        },
    },
    "unmaps from a work item of three stages and detaches with flush_work() first, then gives back its current mapping: a move between the two invalidates that mapping and queues an item still running at dma_buf_detach()",
    "teardown.importer.release-before-detach"
);

/// The work function of a GPU importer that leaves the unmap to a worker and, before it
/// unmaps, waits for "any earlier run" of its own work item with `flush_work()` on that very
/// item: a work item flushing itself waits for its own end, which never comes (Linux's
/// lockdep reports the recursion on the work's lockdep map; the worker and every thread
/// that waits for it hang).
fn worker_flushes_itself(me: &DeferredUnmap, k: &Kernel, att: AttId, _stage: u32) -> Work {
    // The bug: the item being run is the one flushed.
    k.flush_work(att);
    me.unmap_stale(k);
    Work::Done
}

// The worker flushes its own work item.
broken!(
    WORKER_FLUSHES_ITSELF,
    "broken-gpu-worker-flushes-itself",
    ShimRole::Importer {
        plays: &[ImporterKind::Dynamic],
        make: |att| Rc::new(DeferredUnmap::with_work(att, worker_flushes_itself)),
    },
    "unmaps from a worker, which first calls flush_work() on its own work item and so waits for its own end",
    "lock.no-deadlock"
);

// The worker, half-way, unmaps the mapping made after the restore.
broken!(
    WORKER_UNMAPS_CURRENT,
    "broken-gpu-worker-unmaps-current",
    ShimRole::Importer {
        plays: &[ImporterKind::Dynamic],
        make: |att| Rc::new(DeferredUnmap::with_work(att, worker_unmaps_current)),
    },
    "unmaps from a worker; after giving the invalidated mapping back and dropping the lock, the worker unmaps whatever mapping the importer holds now, which a remap after a restore made",
    "revoke.importer.deferred-unmap-scope"
);
