//! The kernel functions a shim may call ([`KernelApi`]), and their encoding on the wire.
//!
//! The harness implements the API with the model ([`reference_impl::Kernel`]); a shim in
//! another process implements it by sending `kcall`s ([`crate::serve`]). [`execute`] and
//! [`KernelApi::call`] are the two halves of one kernel call on the wire.

use reference_impl::{
    AccessOutcome, AttId, Attachment, BufId, DmaResvUsage, Errno, FenceId, Kernel, SgtId, Timeout,
};
use serde_json::{Value, json};

use crate::messages::KernelCall;

/// The kernel functions a shim may call, named as in the kernel.
#[allow(missing_docs)] // Each method is the kernel function of the same name.
pub trait KernelApi {
    fn dma_buf_export(&self, buf: BufId) -> Result<(), Errno>;
    fn dma_buf_attach(&self, buf: BufId, att: AttId) -> Result<(), Errno>;
    fn dma_buf_dynamic_attach(&self, buf: BufId, att: AttId) -> Result<(), Errno>;
    fn dma_buf_detach(&self, buf: BufId, att: AttId);
    fn dma_buf_attach_revocable(&self, att: AttId) -> bool;
    fn dma_buf_pin(&self, att: AttId) -> Result<(), Errno>;
    fn dma_buf_unpin(&self, att: AttId);
    fn dma_buf_map_attachment(&self, att: AttId) -> Result<SgtId, Errno>;
    fn dma_buf_map_attachment_unlocked(&self, att: AttId) -> Result<SgtId, Errno>;
    fn dma_buf_unmap_attachment(&self, att: AttId, sgt: SgtId);
    fn dma_buf_unmap_attachment_unlocked(&self, att: AttId, sgt: SgtId);
    fn dma_buf_invalidate_mappings(&self, buf: BufId);
    fn dma_buf_vmap(&self, buf: BufId) -> Result<(), Errno>;
    fn dma_buf_vunmap(&self, buf: BufId);
    fn dma_buf_mmap(&self, buf: BufId) -> Result<(), Errno>;
    fn dma_buf_put(&self, buf: BufId);
    fn dma_resv_lock(&self, buf: BufId);
    fn dma_resv_unlock(&self, buf: BufId);
    fn dma_resv_assert_held(&self, buf: BufId);
    fn dma_resv_is_locked(&self, buf: BufId) -> bool;
    fn dma_resv_add_fence(&self, buf: BufId, fence: FenceId, usage: DmaResvUsage);
    fn dma_resv_wait_timeout(
        &self,
        buf: BufId,
        usage: DmaResvUsage,
        intr: bool,
        timeout: Timeout,
    ) -> i64;
    fn dma_fence_create(&self, completes: bool) -> FenceId;
    fn attachment(&self, att: AttId) -> Attachment;
    fn new_sg_table(&self, att: AttId) -> SgtId;
    fn wait_for_unmap(&self, buf: BufId);
    fn reclaim_memory(&self, buf: BufId);
    fn vfio_pci_dma_buf_iommufd_map(&self, att: AttId) -> Result<SgtId, Errno>;
    fn iommu_unmap(&self, att: AttId, sgt: SgtId);
    fn device_access(&self, att: AttId, sgt: Option<SgtId>, write: bool) -> AccessOutcome;
    fn device_submit(&self, att: AttId, sgt: SgtId, write: bool) -> FenceId;
    fn warn(&self, buf: BufId, what: &str);
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl KernelApi for Kernel {
            $(fn $name(&self, $($arg: $ty),*) -> $ret { Kernel::$name(self, $($arg),*) })*
        }
    };
}

delegate! {
    dma_buf_export(buf: BufId) -> Result<(), Errno>;
    dma_buf_attach(buf: BufId, att: AttId) -> Result<(), Errno>;
    dma_buf_dynamic_attach(buf: BufId, att: AttId) -> Result<(), Errno>;
    dma_buf_detach(buf: BufId, att: AttId) -> ();
    dma_buf_attach_revocable(att: AttId) -> bool;
    dma_buf_pin(att: AttId) -> Result<(), Errno>;
    dma_buf_unpin(att: AttId) -> ();
    dma_buf_map_attachment(att: AttId) -> Result<SgtId, Errno>;
    dma_buf_map_attachment_unlocked(att: AttId) -> Result<SgtId, Errno>;
    dma_buf_unmap_attachment(att: AttId, sgt: SgtId) -> ();
    dma_buf_unmap_attachment_unlocked(att: AttId, sgt: SgtId) -> ();
    dma_buf_invalidate_mappings(buf: BufId) -> ();
    dma_buf_vmap(buf: BufId) -> Result<(), Errno>;
    dma_buf_vunmap(buf: BufId) -> ();
    dma_buf_mmap(buf: BufId) -> Result<(), Errno>;
    dma_buf_put(buf: BufId) -> ();
    dma_resv_lock(buf: BufId) -> ();
    dma_resv_unlock(buf: BufId) -> ();
    dma_resv_assert_held(buf: BufId) -> ();
    dma_resv_is_locked(buf: BufId) -> bool;
    dma_resv_add_fence(buf: BufId, fence: FenceId, usage: DmaResvUsage) -> ();
    dma_resv_wait_timeout(buf: BufId, usage: DmaResvUsage, intr: bool, timeout: Timeout) -> i64;
    dma_fence_create(completes: bool) -> FenceId;
    attachment(att: AttId) -> Attachment;
    new_sg_table(att: AttId) -> SgtId;
    wait_for_unmap(buf: BufId) -> ();
    reclaim_memory(buf: BufId) -> ();
    vfio_pci_dma_buf_iommufd_map(att: AttId) -> Result<SgtId, Errno>;
    iommu_unmap(att: AttId, sgt: SgtId) -> ();
    device_access(att: AttId, sgt: Option<SgtId>, write: bool) -> AccessOutcome;
    device_submit(att: AttId, sgt: SgtId, write: bool) -> FenceId;
    warn(buf: BufId, what: &str) -> ();
}

/// An `int` return: `0` or a negative errno.
pub fn int_value(r: Result<(), Errno>) -> Value {
    match r {
        Ok(()) => json!(0),
        Err(e) => json!(e.to_kernel()),
    }
}

/// A mapping return: the table's id or a negative errno.
pub fn sgt_value(r: Result<SgtId, Errno>) -> Value {
    match r {
        Ok(s) => json!(s.0),
        Err(e) => json!(e.to_kernel()),
    }
}

/// Decodes an `int` return.
pub fn int_of(v: &Value) -> Result<Result<(), Errno>, String> {
    match v.as_i64() {
        Some(0) => Ok(Ok(())),
        Some(n) if n < 0 => Errno::from_kernel(n)
            .map(Err)
            .ok_or_else(|| format!("{n} is not an errno the suite knows")),
        _ => Err(format!("expected 0 or a negative errno, got {v}")),
    }
}

/// Decodes a mapping return: a table id (checked with `known`) or a negative errno.
pub fn sgt_of(v: &Value, known: impl Fn(SgtId) -> bool) -> Result<Result<SgtId, Errno>, String> {
    match v.as_i64() {
        Some(n) if n < 0 => Errno::from_kernel(n)
            .map(Err)
            .ok_or_else(|| format!("{n} is not an errno the suite knows")),
        Some(n) => {
            let sgt = u32::try_from(n)
                .map(SgtId)
                .map_err(|_| format!("{n} is not a table id"))?;
            if known(sgt) {
                Ok(Ok(sgt))
            } else {
                Err(format!("{sgt} was never handed out by new_sg_table"))
            }
        }
        None => Err(format!("expected a table id or a negative errno, got {v}")),
    }
}

/// Decodes a `bool` return.
pub fn bool_of(v: &Value) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("expected true or false, got {v}"))
}

/// Decodes a `void` return.
pub fn void_of(v: &Value) -> Result<(), String> {
    if v.is_null() {
        Ok(())
    } else {
        Err(format!("expected null (a void function), got {v}"))
    }
}

fn typed<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> Result<T, String> {
    serde_json::from_value(v.clone()).map_err(|e| format!("expected {what}, got {v} ({e})"))
}

/// The harness's half: runs `call` on `k` and encodes what it returned.
pub fn execute(k: &dyn KernelApi, call: &KernelCall) -> Value {
    use KernelCall as C;
    match call {
        C::DmaBufExport { buf } => int_value(k.dma_buf_export(*buf)),
        C::DmaBufAttach { buf, att } => int_value(k.dma_buf_attach(*buf, *att)),
        C::DmaBufDynamicAttach { buf, att } => int_value(k.dma_buf_dynamic_attach(*buf, *att)),
        C::DmaBufDetach { buf, att } => json!(k.dma_buf_detach(*buf, *att)),
        C::DmaBufAttachRevocable { att } => json!(k.dma_buf_attach_revocable(*att)),
        C::DmaBufPin { att } => int_value(k.dma_buf_pin(*att)),
        C::DmaBufUnpin { att } => json!(k.dma_buf_unpin(*att)),
        C::DmaBufMapAttachment { att } => sgt_value(k.dma_buf_map_attachment(*att)),
        C::DmaBufMapAttachmentUnlocked { att } => {
            sgt_value(k.dma_buf_map_attachment_unlocked(*att))
        }
        C::DmaBufUnmapAttachment { att, sgt } => json!(k.dma_buf_unmap_attachment(*att, *sgt)),
        C::DmaBufUnmapAttachmentUnlocked { att, sgt } => {
            json!(k.dma_buf_unmap_attachment_unlocked(*att, *sgt))
        }
        C::DmaBufInvalidateMappings { buf } => json!(k.dma_buf_invalidate_mappings(*buf)),
        C::DmaBufVmap { buf } => int_value(k.dma_buf_vmap(*buf)),
        C::DmaBufVunmap { buf } => json!(k.dma_buf_vunmap(*buf)),
        C::DmaBufMmap { buf } => int_value(k.dma_buf_mmap(*buf)),
        C::DmaBufPut { buf } => json!(k.dma_buf_put(*buf)),
        C::DmaResvLock { buf } => json!(k.dma_resv_lock(*buf)),
        C::DmaResvUnlock { buf } => json!(k.dma_resv_unlock(*buf)),
        C::DmaResvAssertHeld { buf } => json!(k.dma_resv_assert_held(*buf)),
        C::DmaResvIsLocked { buf } => json!(k.dma_resv_is_locked(*buf)),
        C::DmaResvAddFence { buf, fence, usage } => {
            json!(k.dma_resv_add_fence(*buf, *fence, *usage))
        }
        C::DmaResvWaitTimeout {
            buf,
            usage,
            intr,
            timeout,
        } => json!(k.dma_resv_wait_timeout(*buf, *usage, *intr, (*timeout).into())),
        C::DmaFenceCreate { completes } => json!(k.dma_fence_create(*completes)),
        C::DmaBufAttachment { att } => {
            let a = k.attachment(*att);
            json!({"buf": a.buf, "dynamic": a.dynamic, "peer2peer": a.peer2peer,
                   "invalidate_mappings": a.invalidate_mappings})
        }
        C::NewSgTable { att } => json!(k.new_sg_table(*att)),
        C::WaitForUnmap { buf } => json!(k.wait_for_unmap(*buf)),
        C::ReclaimMemory { buf } => json!(k.reclaim_memory(*buf)),
        C::VfioPciDmaBufIommufdMap { att } => sgt_value(k.vfio_pci_dma_buf_iommufd_map(*att)),
        C::IommuUnmap { att, sgt } => json!(k.iommu_unmap(*att, *sgt)),
        C::DeviceAccess { att, sgt, write } => json!(k.device_access(*att, *sgt, *write)),
        C::DeviceSubmit { att, sgt, write } => json!(k.device_submit(*att, *sgt, *write)),
        C::Warn { buf, what } => json!(k.warn(*buf, what)),
    }
}

/// Where the objects a kernel call names must already exist, the first one that does not.
pub fn unknown_object(k: &Kernel, call: &KernelCall) -> Option<String> {
    use KernelCall as C;
    let buf = |b: &BufId| (!k.knows_buf(*b)).then(|| b.to_string());
    let att = |a: &AttId| (!k.knows_att(*a)).then(|| a.to_string());
    let sgt = |s: &SgtId| (!k.knows_sgt(*s)).then(|| s.to_string());
    match call {
        C::DmaBufExport { buf: b }
        | C::DmaBufInvalidateMappings { buf: b }
        | C::DmaBufVmap { buf: b }
        | C::DmaBufVunmap { buf: b }
        | C::DmaBufMmap { buf: b }
        | C::DmaBufPut { buf: b }
        | C::DmaResvLock { buf: b }
        | C::DmaResvUnlock { buf: b }
        | C::DmaResvAssertHeld { buf: b }
        | C::DmaResvIsLocked { buf: b }
        | C::DmaResvWaitTimeout { buf: b, .. }
        | C::WaitForUnmap { buf: b }
        | C::ReclaimMemory { buf: b }
        | C::Warn { buf: b, .. } => buf(b),
        C::DmaBufAttach { buf: b, .. } | C::DmaBufDynamicAttach { buf: b, .. } => buf(b),
        C::DmaBufDetach { buf: b, att: a } => buf(b).or_else(|| att(a)),
        C::DmaBufAttachRevocable { att: a }
        | C::DmaBufPin { att: a }
        | C::DmaBufUnpin { att: a }
        | C::DmaBufMapAttachment { att: a }
        | C::DmaBufMapAttachmentUnlocked { att: a }
        | C::DmaBufAttachment { att: a }
        | C::VfioPciDmaBufIommufdMap { att: a }
        | C::NewSgTable { att: a } => att(a),
        C::DmaBufUnmapAttachment { att: a, sgt: s }
        | C::IommuUnmap { att: a, sgt: s }
        | C::DmaBufUnmapAttachmentUnlocked { att: a, sgt: s }
        | C::DeviceSubmit { att: a, sgt: s, .. } => att(a).or_else(|| sgt(s)),
        C::DeviceAccess { att: a, sgt: s, .. } => att(a).or_else(|| s.as_ref().and_then(sgt)),
        C::DmaResvAddFence { buf: b, fence, .. } => {
            buf(b).or_else(|| (!k.knows_fence(*fence)).then(|| fence.to_string()))
        }
        C::DmaFenceCreate { .. } => None,
    }
}

/// The shim's half: a kernel call whose reply is decoded into the function's return type.
/// `send` sends the call and returns the harness's `kret` value.
pub struct Typed<'a>(pub &'a dyn Fn(KernelCall) -> Value);

impl KernelApi for Typed<'_> {
    fn dma_buf_export(&self, buf: BufId) -> Result<(), Errno> {
        int_or_panic((self.0)(KernelCall::DmaBufExport { buf }))
    }
    fn dma_buf_attach(&self, buf: BufId, att: AttId) -> Result<(), Errno> {
        int_or_panic((self.0)(KernelCall::DmaBufAttach { buf, att }))
    }
    fn dma_buf_dynamic_attach(&self, buf: BufId, att: AttId) -> Result<(), Errno> {
        int_or_panic((self.0)(KernelCall::DmaBufDynamicAttach { buf, att }))
    }
    fn dma_buf_detach(&self, buf: BufId, att: AttId) {
        (self.0)(KernelCall::DmaBufDetach { buf, att });
    }
    fn dma_buf_attach_revocable(&self, att: AttId) -> bool {
        answer(
            &(self.0)(KernelCall::DmaBufAttachRevocable { att }),
            "a boolean",
        )
    }
    fn dma_buf_pin(&self, att: AttId) -> Result<(), Errno> {
        int_or_panic((self.0)(KernelCall::DmaBufPin { att }))
    }
    fn dma_buf_unpin(&self, att: AttId) {
        (self.0)(KernelCall::DmaBufUnpin { att });
    }
    fn dma_buf_map_attachment(&self, att: AttId) -> Result<SgtId, Errno> {
        sgt_or_panic((self.0)(KernelCall::DmaBufMapAttachment { att }))
    }
    fn dma_buf_map_attachment_unlocked(&self, att: AttId) -> Result<SgtId, Errno> {
        sgt_or_panic((self.0)(KernelCall::DmaBufMapAttachmentUnlocked { att }))
    }
    fn dma_buf_unmap_attachment(&self, att: AttId, sgt: SgtId) {
        (self.0)(KernelCall::DmaBufUnmapAttachment { att, sgt });
    }
    fn dma_buf_unmap_attachment_unlocked(&self, att: AttId, sgt: SgtId) {
        (self.0)(KernelCall::DmaBufUnmapAttachmentUnlocked { att, sgt });
    }
    fn dma_buf_invalidate_mappings(&self, buf: BufId) {
        (self.0)(KernelCall::DmaBufInvalidateMappings { buf });
    }
    fn dma_buf_vmap(&self, buf: BufId) -> Result<(), Errno> {
        int_or_panic((self.0)(KernelCall::DmaBufVmap { buf }))
    }
    fn dma_buf_vunmap(&self, buf: BufId) {
        (self.0)(KernelCall::DmaBufVunmap { buf });
    }
    fn dma_buf_mmap(&self, buf: BufId) -> Result<(), Errno> {
        int_or_panic((self.0)(KernelCall::DmaBufMmap { buf }))
    }
    fn dma_buf_put(&self, buf: BufId) {
        (self.0)(KernelCall::DmaBufPut { buf });
    }
    fn dma_resv_lock(&self, buf: BufId) {
        (self.0)(KernelCall::DmaResvLock { buf });
    }
    fn dma_resv_unlock(&self, buf: BufId) {
        (self.0)(KernelCall::DmaResvUnlock { buf });
    }
    fn dma_resv_assert_held(&self, buf: BufId) {
        (self.0)(KernelCall::DmaResvAssertHeld { buf });
    }
    fn dma_resv_is_locked(&self, buf: BufId) -> bool {
        answer(&(self.0)(KernelCall::DmaResvIsLocked { buf }), "a boolean")
    }
    fn dma_resv_add_fence(&self, buf: BufId, fence: FenceId, usage: DmaResvUsage) {
        (self.0)(KernelCall::DmaResvAddFence { buf, fence, usage });
    }
    fn dma_resv_wait_timeout(
        &self,
        buf: BufId,
        usage: DmaResvUsage,
        intr: bool,
        timeout: Timeout,
    ) -> i64 {
        answer(
            &(self.0)(KernelCall::DmaResvWaitTimeout {
                buf,
                usage,
                intr,
                timeout: timeout.into(),
            }),
            "a remaining timeout",
        )
    }
    fn dma_fence_create(&self, completes: bool) -> FenceId {
        answer(
            &(self.0)(KernelCall::DmaFenceCreate { completes }),
            "a fence",
        )
    }
    fn attachment(&self, att: AttId) -> Attachment {
        let v = (self.0)(KernelCall::DmaBufAttachment { att });
        let field = |k: &str| v.get(k).cloned().unwrap_or(Value::Null);
        Attachment {
            buf: answer(&field("buf"), "the attachment's buffer"),
            dynamic: answer(&field("dynamic"), "the attachment's `dynamic`"),
            peer2peer: answer(&field("peer2peer"), "the attachment's `peer2peer`"),
            invalidate_mappings: answer(
                &field("invalidate_mappings"),
                "the attachment's `invalidate_mappings`",
            ),
        }
    }
    fn new_sg_table(&self, att: AttId) -> SgtId {
        answer(&(self.0)(KernelCall::NewSgTable { att }), "a table")
    }
    fn wait_for_unmap(&self, buf: BufId) {
        (self.0)(KernelCall::WaitForUnmap { buf });
    }
    fn reclaim_memory(&self, buf: BufId) {
        (self.0)(KernelCall::ReclaimMemory { buf });
    }
    fn vfio_pci_dma_buf_iommufd_map(&self, att: AttId) -> Result<SgtId, Errno> {
        sgt_or_panic((self.0)(KernelCall::VfioPciDmaBufIommufdMap { att }))
    }
    fn iommu_unmap(&self, att: AttId, sgt: SgtId) {
        (self.0)(KernelCall::IommuUnmap { att, sgt });
    }
    fn device_access(&self, att: AttId, sgt: Option<SgtId>, write: bool) -> AccessOutcome {
        answer(
            &(self.0)(KernelCall::DeviceAccess { att, sgt, write }),
            "an access outcome",
        )
    }
    fn device_submit(&self, att: AttId, sgt: SgtId, write: bool) -> FenceId {
        answer(
            &(self.0)(KernelCall::DeviceSubmit { att, sgt, write }),
            "a fence",
        )
    }
    fn warn(&self, buf: BufId, what: &str) {
        (self.0)(KernelCall::Warn {
            buf,
            what: what.to_string(),
        });
    }
}

/// The harness's answer to a kernel call, decoded as `what`. A harness that answers with
/// something else has a bug: the shim stops with the reason rather than go on with a made-up
/// value (a fence 0, `false`, a timeout of 0).
fn answer<T: serde::de::DeserializeOwned>(v: &Value, what: &str) -> T {
    typed(v, what).unwrap_or_else(|e| panic!("the harness answered a kernel call badly: {e}"))
}

fn int_or_panic(v: Value) -> Result<(), Errno> {
    int_of(&v).unwrap_or_else(|e| panic!("the harness answered a kernel call badly: {e}"))
}

fn sgt_or_panic(v: Value) -> Result<SgtId, Errno> {
    sgt_of(&v, |_| true).unwrap_or_else(|e| panic!("the harness answered a kernel call badly: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panic_of(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
        let payload = std::panic::catch_unwind(f).expect_err("a panic");
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    }

    /// A typed answer decodes; a wrong one stops the shim with the reason instead of a made-up
    /// default (these used to decode as fence 0, `false` and a timeout of 0).
    #[test]
    fn wrong_answers_are_not_silently_defaulted() {
        let good = |call: KernelCall| match call {
            KernelCall::DmaFenceCreate { .. } => json!(7),
            KernelCall::DmaResvIsLocked { .. } => json!(true),
            KernelCall::DmaResvWaitTimeout { .. } => json!(5),
            _ => Value::Null,
        };
        let k = Typed(&good);
        assert_eq!(k.dma_fence_create(true), FenceId(7));
        assert!(k.dma_resv_is_locked(BufId(0)));
        assert_eq!(
            k.dma_resv_wait_timeout(BufId(0), DmaResvUsage::Bookkeep, false, Timeout::Max),
            5
        );
        let garbage = |_: KernelCall| json!("garbage");
        let m = panic_of(|| {
            Typed(&garbage).dma_fence_create(true);
        });
        assert!(m.contains("expected a fence, got \"garbage\""), "{m}");
        let m = panic_of(|| {
            Typed(&garbage).dma_resv_is_locked(BufId(0));
        });
        assert!(m.contains("expected a boolean"), "{m}");
        let m = panic_of(|| {
            Typed(&garbage).dma_resv_wait_timeout(
                BufId(0),
                DmaResvUsage::Bookkeep,
                false,
                Timeout::Max,
            );
        });
        assert!(m.contains("expected a remaining timeout"), "{m}");
        let m = panic_of(|| {
            Typed(&garbage).attachment(AttId(0));
        });
        assert!(m.contains("expected the attachment's buffer"), "{m}");
    }
}
