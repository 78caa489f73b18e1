//! Broken cores: the reference core with one bug each.

use std::rc::Rc;

use reference_impl::{
    AttId, BufId, DmaBufCore, DmaResvUsage, Errno, Kernel, ReferenceCore, SgtId, ShimRole, Timeout,
};

/// Which bug a [`BuggyCore`] has.
#[derive(Clone, Copy, Default)]
struct Bugs {
    callback_unlocked: bool,
    calls_null_callbacks: bool,
    no_pin_on_map: bool,
    no_kernel_wait: bool,
    links_before_ops_attach: bool,
    detach_keeps_link: bool,
    revocable_ignores_callback: bool,
    ops_attach_locked: bool,
    mmap_locked: bool,
    release_locked: bool,
    pins_dynamic_on_map: bool,
    skips_pinned: bool,
    caches_mappings: bool,
    no_peer2peer: bool,
    swallows_attach_error: bool,
    pin_without_op_fails: bool,
    no_unpin_on_map_error: bool,
    detach_unpins: bool,
    releases_twice: bool,
}

struct BuggyCore {
    bugs: Bugs,
    /// The last mapping handed out per attachment (for `caches_mappings`).
    cache: std::cell::RefCell<std::collections::BTreeMap<AttId, SgtId>>,
}

fn core(bugs: Bugs) -> Rc<dyn DmaBufCore> {
    Rc::new(BuggyCore {
        bugs,
        cache: Default::default(),
    })
}

const R: ReferenceCore = ReferenceCore;

impl DmaBufCore for BuggyCore {
    fn dma_buf_export(&self, k: &Kernel, buf: BufId) -> Result<(), Errno> {
        R.dma_buf_export(k, buf)
    }
    fn dma_buf_attach(&self, k: &Kernel, buf: BufId, att: AttId) -> Result<(), Errno> {
        self.attach(k, buf, att, false)
    }
    fn dma_buf_dynamic_attach(&self, k: &Kernel, buf: BufId, att: AttId) -> Result<(), Errno> {
        self.attach(k, buf, att, true)
    }
    fn dma_buf_detach(&self, k: &Kernel, buf: BufId, att: AttId) {
        if self.bugs.detach_unpins
            && k.attachment(att).dynamic
            && k.exporter_table(buf).is_some_and(|t| t.unpin)
        {
            // Linux 6.x's detach undid a pin it had taken for a cached mapping.
            k.dma_resv_lock(buf);
            k.ops_unpin(att);
            k.dma_resv_unlock(buf);
        }
        if self.bugs.detach_keeps_link {
            k.ops_detach(att);
            return;
        }
        R.dma_buf_detach(k, buf, att)
    }
    fn dma_buf_attach_revocable(&self, k: &Kernel, att: AttId) -> bool {
        if self.bugs.revocable_ignores_callback {
            return k.attachment(att).dynamic;
        }
        R.dma_buf_attach_revocable(k, att)
    }
    fn dma_buf_pin(&self, k: &Kernel, att: AttId) -> Result<(), Errno> {
        let buf = k.attachment(att).buf;
        if self.bugs.pin_without_op_fails && !k.exporter_table(buf).is_some_and(|t| t.pin) {
            return Err(Errno::EOPNOTSUPP);
        }
        R.dma_buf_pin(k, att)
    }
    fn dma_buf_unpin(&self, k: &Kernel, att: AttId) {
        R.dma_buf_unpin(k, att)
    }
    fn dma_buf_map_attachment(&self, k: &Kernel, att: AttId) -> Result<SgtId, Errno> {
        let a = k.attachment(att);
        if self.bugs.caches_mappings {
            if let Some(sgt) = self.cache.borrow().get(&att) {
                return Ok(*sgt);
            }
            let sgt = R.dma_buf_map_attachment(k, att)?;
            self.cache.borrow_mut().insert(att, sgt);
            return Ok(sgt);
        }
        if self.bugs.no_unpin_on_map_error && !a.dynamic && R.dma_buf_pin_on_map(k, att) {
            k.ops_pin(att)?;
            let sgt = k.ops_map_dma_buf(att)?; // The pin is left behind on error.
            k.dma_resv_wait_timeout(a.buf, DmaResvUsage::Kernel, true, Timeout::Max);
            return Ok(sgt);
        }
        if self.bugs.pins_dynamic_on_map
            && a.dynamic
            && k.exporter_table(a.buf).is_some_and(|t| t.pin)
        {
            // Linux 6.12 without CONFIG_DMABUF_MOVE_NOTIFY: every attachment is pinned on map.
            k.ops_pin(att)?;
            return k.ops_map_dma_buf(att);
        }
        if a.dynamic || !(self.bugs.no_pin_on_map || self.bugs.no_kernel_wait) {
            return R.dma_buf_map_attachment(k, att);
        }
        k.dma_resv_assert_held(a.buf);
        let pin = !self.bugs.no_pin_on_map && R.dma_buf_pin_on_map(k, att);
        if pin {
            k.ops_pin(att)?;
        }
        let sgt = k.ops_map_dma_buf(att)?;
        if !self.bugs.no_kernel_wait {
            k.dma_resv_wait_timeout(a.buf, DmaResvUsage::Kernel, true, Timeout::Max);
        }
        Ok(sgt)
    }
    fn dma_buf_unmap_attachment(&self, k: &Kernel, att: AttId, sgt: SgtId) {
        if self.bugs.no_pin_on_map && !k.attachment(att).dynamic {
            k.ops_unmap_dma_buf(att, sgt);
            return;
        }
        R.dma_buf_unmap_attachment(k, att, sgt)
    }
    fn dma_buf_map_attachment_unlocked(&self, k: &Kernel, att: AttId) -> Result<SgtId, Errno> {
        R.dma_buf_map_attachment_unlocked(k, att)
    }
    fn dma_buf_unmap_attachment_unlocked(&self, k: &Kernel, att: AttId, sgt: SgtId) {
        R.dma_buf_unmap_attachment_unlocked(k, att, sgt)
    }
    fn dma_buf_invalidate_mappings(&self, k: &Kernel, buf: BufId) {
        if self.bugs.skips_pinned {
            for att in k.attachments_of(buf) {
                let a = k.attachment(att);
                if a.dynamic && a.invalidate_mappings && k.held_by(att).0 == 0 {
                    k.importer_invalidate_mappings(att);
                }
            }
            return;
        }
        if !(self.bugs.callback_unlocked || self.bugs.calls_null_callbacks) {
            return R.dma_buf_invalidate_mappings(k, buf);
        }
        for att in k.attachments_of(buf) {
            let a = k.attachment(att);
            if !a.dynamic || !(a.invalidate_mappings || self.bugs.calls_null_callbacks) {
                continue;
            }
            if self.bugs.callback_unlocked {
                k.dma_resv_unlock(buf);
                k.importer_invalidate_mappings(att);
                k.dma_resv_lock(buf);
            } else {
                k.importer_invalidate_mappings(att);
            }
        }
    }
    fn dma_buf_vmap(&self, k: &Kernel, buf: BufId) -> Result<(), Errno> {
        R.dma_buf_vmap(k, buf)
    }
    fn dma_buf_vunmap(&self, k: &Kernel, buf: BufId) {
        R.dma_buf_vunmap(k, buf)
    }
    fn dma_buf_mmap(&self, k: &Kernel, buf: BufId) -> Result<(), Errno> {
        if !self.bugs.mmap_locked {
            return R.dma_buf_mmap(k, buf);
        }
        k.dma_resv_lock(buf);
        let r = k.ops_mmap(buf);
        k.dma_resv_unlock(buf);
        r
    }
    fn dma_buf_put(&self, k: &Kernel, buf: BufId) {
        if self.bugs.releases_twice {
            k.ops_release(buf);
        }
        if !self.bugs.release_locked {
            return R.dma_buf_put(k, buf);
        }
        k.dma_resv_lock(buf);
        k.ops_release(buf);
        k.dma_resv_unlock(buf);
        k.set_released(buf);
    }
}

impl BuggyCore {
    fn attach(&self, k: &Kernel, buf: BufId, att: AttId, dynamic: bool) -> Result<(), Errno> {
        if self.bugs.no_peer2peer || self.bugs.swallows_attach_error {
            k.new_attachment(buf, att, dynamic);
            if self.bugs.no_peer2peer {
                k.set_peer2peer(att, false);
            }
            let r = k.ops_attach(att);
            if r.is_err() && self.bugs.no_peer2peer {
                return r;
            }
            k.dma_resv_lock(buf);
            k.link_attachment(att);
            k.dma_resv_unlock(buf);
            return Ok(());
        }
        if self.bugs.ops_attach_locked {
            k.new_attachment(buf, att, dynamic);
            k.dma_resv_lock(buf);
            let r = k.ops_attach(att);
            if r.is_ok() {
                k.link_attachment(att);
            }
            k.dma_resv_unlock(buf);
            return r;
        }
        if !self.bugs.links_before_ops_attach {
            return if dynamic {
                R.dma_buf_dynamic_attach(k, buf, att)
            } else {
                R.dma_buf_attach(k, buf, att)
            };
        }
        k.new_attachment(buf, att, dynamic);
        k.dma_resv_lock(buf);
        k.link_attachment(att);
        k.dma_resv_unlock(buf);
        k.ops_attach(att)
    }
}

macro_rules! broken_core {
    ($const:ident, $name:literal, $field:ident, $bug:literal, $breaks:literal) => {
        broken!(
            $const,
            $name,
            ShimRole::Core {
                make: || core(Bugs {
                    $field: true,
                    ..Bugs::default()
                }),
            },
            $bug,
            $breaks
        );
    };
}

broken_core!(
    CALLBACK_UNLOCKED,
    "broken-core-callback-unlocked",
    callback_unlocked,
    "drops the reservation lock around each invalidate_mappings callback",
    "invalidate.core.lock-held"
);
broken_core!(
    CALLS_NULL_CALLBACKS,
    "broken-core-calls-null-callbacks",
    calls_null_callbacks,
    "invalidates attachments whose invalidate_mappings is NULL (importers that pinned and cannot be told)",
    "invalidate.core.skip-without-callback"
);
broken_core!(
    NO_PIN_ON_MAP,
    "broken-core-no-pin-on-map",
    no_pin_on_map,
    "forgets to pin static attachments around their mappings",
    "map.static.pin-on-map"
);
broken_core!(
    NO_KERNEL_WAIT,
    "broken-core-no-kernel-wait",
    no_kernel_wait,
    "hands a static importer its mapping without waiting for KERNEL fences",
    "map.static.kernel-wait"
);
broken_core!(
    LINKS_BEFORE_OPS_ATTACH,
    "broken-core-links-before-attach",
    links_before_ops_attach,
    "links the attachment before the exporter's attach op accepted it",
    "attach.dynamic.link-after-ops-attach"
);
broken_core!(
    DETACH_KEEPS_LINK,
    "broken-core-detach-keeps-link",
    detach_keeps_link,
    "dma_buf_detach() does not unlink the attachment, which keeps receiving invalidations",
    "teardown.core.detach-unlinks"
);
broken_core!(
    REVOCABLE_IGNORES_CALLBACK,
    "broken-core-revocable-ignores-callback",
    revocable_ignores_callback,
    "dma_buf_attach_revocable() answers true for any dynamic attachment, NULL callback or not",
    "attach.revocable.definition"
);
broken_core!(
    OPS_ATTACH_LOCKED,
    "broken-core-ops-attach-locked",
    ops_attach_locked,
    "calls the exporter's attach op with the reservation lock held",
    "attach.dynamic.ops-attach-unlocked"
);
broken_core!(
    MMAP_LOCKED,
    "broken-core-mmap-locked",
    mmap_locked,
    "calls the exporter's mmap op with the reservation lock held",
    "cpu.mmap.unlocked"
);
broken_core!(
    RELEASE_LOCKED,
    "broken-core-release-locked",
    release_locked,
    "calls the exporter's release op with the reservation lock held",
    "lock.core.release-unlocked"
);
broken_core!(
    PINS_DYNAMIC_ON_MAP,
    "broken-core-pins-dynamic-on-map",
    pins_dynamic_on_map,
    "pins dynamic attachments on map, as Linux 6.12 did without CONFIG_DMABUF_MOVE_NOTIFY",
    "map.dynamic.no-pin-no-wait"
);
broken_core!(
    SKIPS_PINNED,
    "broken-core-skips-pinned",
    skips_pinned,
    "invalidates only attachments that hold no pin, so pinned importers never learn of a revoke",
    "invalidate.core.pinned-too"
);
broken_core!(
    CACHES_MAPPINGS,
    "broken-core-caches-mappings",
    caches_mappings,
    "caches the first mapping of each attachment and hands it out again after invalidations",
    "map.core.no-cache"
);
broken_core!(
    NO_PEER2PEER,
    "broken-core-no-peer2peer",
    no_peer2peer,
    "never sets peer2peer from the importer's allow_peer2peer",
    "attach.core.peer2peer-from-importer"
);
broken_core!(
    SWALLOWS_ATTACH_ERROR,
    "broken-core-swallows-attach-error",
    swallows_attach_error,
    "links the attachment and returns 0 although the exporter's attach op refused it",
    "attach.core.error-passthrough"
);
broken_core!(
    PIN_WITHOUT_OP_FAILS,
    "broken-core-pin-without-op-fails",
    pin_without_op_fails,
    "fails dma_buf_pin() with -EOPNOTSUPP when the exporter has no pin op",
    "pin.core.no-op-without-op"
);
broken_core!(
    NO_UNPIN_ON_MAP_ERROR,
    "broken-core-no-unpin-on-map-error",
    no_unpin_on_map_error,
    "leaves the pin it took for a static attachment when map_dma_buf fails",
    "map.static.unpin-on-error"
);
broken_core!(
    DETACH_UNPINS,
    "broken-core-detach-unpins",
    detach_unpins,
    "unpins on the importer's behalf in dma_buf_detach()",
    "teardown.core.detach-no-cleanup"
);
broken_core!(
    RELEASES_TWICE,
    "broken-core-releases-twice",
    releases_twice,
    "calls the exporter's release op twice on the last put",
    "teardown.release.once"
);
