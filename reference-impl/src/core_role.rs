//! The core role: `struct DmaBufCore` is what drivers call (`dma_buf_attach()`,
//! `dma_buf_map_attachment()`...). [`ReferenceCore`]'s methods are the book's code; the
//! [`Kernel`] dispatchers below record every call in the trace and forward it to whichever core
//! plays the role, so a core shim is traced exactly like the reference.

use std::rc::Rc;

use crate::{Actor, AttId, BufId, Call, Errno, Kernel, SgtId};

/// The dma-buf core's entry points, as a role a shim can play.
#[allow(missing_docs)] // Each method is the kernel function of the same name.
pub trait DmaBufCore {
    fn dma_buf_export(&self, k: &Kernel, buf: BufId) -> Result<(), Errno>;
    fn dma_buf_attach(&self, k: &Kernel, buf: BufId, att: AttId) -> Result<(), Errno>;
    fn dma_buf_dynamic_attach(&self, k: &Kernel, buf: BufId, att: AttId) -> Result<(), Errno>;
    fn dma_buf_detach(&self, k: &Kernel, buf: BufId, att: AttId);
    fn dma_buf_attach_revocable(&self, k: &Kernel, att: AttId) -> bool;
    fn dma_buf_pin(&self, k: &Kernel, att: AttId) -> Result<(), Errno>;
    fn dma_buf_unpin(&self, k: &Kernel, att: AttId);
    fn dma_buf_map_attachment(&self, k: &Kernel, att: AttId) -> Result<SgtId, Errno>;
    fn dma_buf_unmap_attachment(&self, k: &Kernel, att: AttId, sgt: SgtId);
    fn dma_buf_map_attachment_unlocked(&self, k: &Kernel, att: AttId) -> Result<SgtId, Errno>;
    fn dma_buf_unmap_attachment_unlocked(&self, k: &Kernel, att: AttId, sgt: SgtId);
    fn dma_buf_invalidate_mappings(&self, k: &Kernel, buf: BufId);
    fn dma_buf_vmap(&self, k: &Kernel, buf: BufId) -> Result<(), Errno>;
    fn dma_buf_vunmap(&self, k: &Kernel, buf: BufId);
    fn dma_buf_mmap(&self, k: &Kernel, buf: BufId) -> Result<(), Errno>;
    fn dma_buf_put(&self, k: &Kernel, buf: BufId);

    /// Whether this is the model's own core, so that a panic in it is a bug of the suite
    /// rather than a driver's oops. A core under test answers false (the default).
    fn is_model(&self) -> bool {
        false
    }
}

/// The reference core: `drivers/dma-buf/dma-buf.c` as merged for Linux 7.1. Its methods are
/// written in the book's chapters.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReferenceCore;

macro_rules! forward {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        impl DmaBufCore for ReferenceCore {
            $(fn $name(&self, k: &Kernel, $($arg: $ty),*) -> $ret {
                ReferenceCore::$name(self, k, $($arg),*)
            })*

            fn is_model(&self) -> bool {
                true
            }
        }
    };
}

forward! {
    dma_buf_export(buf: BufId) -> Result<(), Errno>;
    dma_buf_attach(buf: BufId, att: AttId) -> Result<(), Errno>;
    dma_buf_dynamic_attach(buf: BufId, att: AttId) -> Result<(), Errno>;
    dma_buf_detach(buf: BufId, att: AttId) -> ();
    dma_buf_attach_revocable(att: AttId) -> bool;
    dma_buf_pin(att: AttId) -> Result<(), Errno>;
    dma_buf_unpin(att: AttId) -> ();
    dma_buf_map_attachment(att: AttId) -> Result<SgtId, Errno>;
    dma_buf_unmap_attachment(att: AttId, sgt: SgtId) -> ();
    dma_buf_map_attachment_unlocked(att: AttId) -> Result<SgtId, Errno>;
    dma_buf_unmap_attachment_unlocked(att: AttId, sgt: SgtId) -> ();
    dma_buf_invalidate_mappings(buf: BufId) -> ();
    dma_buf_vmap(buf: BufId) -> Result<(), Errno>;
    dma_buf_vunmap(buf: BufId) -> ();
    dma_buf_mmap(buf: BufId) -> Result<(), Errno>;
    dma_buf_put(buf: BufId) -> ();
}

/// The traced entry points drivers call. Each records the call, with the lock state, then
/// runs it on the core that plays the role.
impl Kernel {
    fn core_call<R: crate::Traced>(
        &self,
        buf: BufId,
        call: Call,
        f: impl FnOnce(&dyn DmaBufCore) -> R,
    ) -> R {
        let core = self.core_role();
        self.traced(buf, Actor::Core, call, || f(core.as_ref()))
    }

    /// `dma_buf_export()`.
    pub fn dma_buf_export(&self, buf: BufId) -> Result<(), Errno> {
        self.core_call(buf, Call::DmaBufExport { buf }, |c| {
            c.dma_buf_export(self, buf)
        })
    }

    /// `dma_buf_attach()`: a static attachment.
    pub fn dma_buf_attach(&self, buf: BufId, att: AttId) -> Result<(), Errno> {
        self.core_call(buf, Call::DmaBufAttach { buf, att }, |c| {
            c.dma_buf_attach(self, buf, att)
        })
    }

    /// `dma_buf_dynamic_attach()` with the importer ops registered for `att`.
    pub fn dma_buf_dynamic_attach(&self, buf: BufId, att: AttId) -> Result<(), Errno> {
        let call = Call::DmaBufDynamicAttach {
            buf,
            att,
            allow_peer2peer: self.importer_allows_peer2peer(att),
            invalidate_mappings: self.importer_has_invalidate_mappings(att),
        };
        self.core_call(buf, call, |c| c.dma_buf_dynamic_attach(self, buf, att))
    }

    /// `dma_buf_detach()`; the event records the pins and mappings the importer still held.
    pub fn dma_buf_detach(&self, buf: BufId, att: AttId) {
        let (pins, mappings) = self.held_by(att);
        let call = Call::DmaBufDetach {
            buf,
            att,
            pins,
            mappings,
        };
        self.core_call(buf, call, |c| c.dma_buf_detach(self, buf, att))
    }

    /// `dma_buf_attach_revocable()`.
    pub fn dma_buf_attach_revocable(&self, att: AttId) -> bool {
        let buf = self.attachment(att).buf;
        self.core_call(buf, Call::DmaBufAttachRevocable { att }, |c| {
            c.dma_buf_attach_revocable(self, att)
        })
    }

    /// `dma_buf_pin()`.
    pub fn dma_buf_pin(&self, att: AttId) -> Result<(), Errno> {
        let buf = self.attachment(att).buf;
        self.core_call(buf, Call::DmaBufPin { att }, |c| c.dma_buf_pin(self, att))
    }

    /// `dma_buf_unpin()`.
    pub fn dma_buf_unpin(&self, att: AttId) {
        let buf = self.attachment(att).buf;
        self.core_call(buf, Call::DmaBufUnpin { att }, |c| {
            c.dma_buf_unpin(self, att)
        })
    }

    /// `dma_buf_map_attachment()`.
    pub fn dma_buf_map_attachment(&self, att: AttId) -> Result<SgtId, Errno> {
        let buf = self.attachment(att).buf;
        self.core_call(buf, Call::DmaBufMapAttachment { att }, |c| {
            c.dma_buf_map_attachment(self, att)
        })
    }

    /// `dma_buf_unmap_attachment()`.
    pub fn dma_buf_unmap_attachment(&self, att: AttId, sgt: SgtId) {
        let buf = self.attachment(att).buf;
        self.core_call(buf, Call::DmaBufUnmapAttachment { att, sgt }, |c| {
            c.dma_buf_unmap_attachment(self, att, sgt)
        })
    }

    /// `dma_buf_map_attachment_unlocked()`.
    pub fn dma_buf_map_attachment_unlocked(&self, att: AttId) -> Result<SgtId, Errno> {
        let buf = self.attachment(att).buf;
        self.core_call(buf, Call::DmaBufMapAttachmentUnlocked { att }, |c| {
            c.dma_buf_map_attachment_unlocked(self, att)
        })
    }

    /// `dma_buf_unmap_attachment_unlocked()`.
    pub fn dma_buf_unmap_attachment_unlocked(&self, att: AttId, sgt: SgtId) {
        let buf = self.attachment(att).buf;
        self.core_call(buf, Call::DmaBufUnmapAttachmentUnlocked { att, sgt }, |c| {
            c.dma_buf_unmap_attachment_unlocked(self, att, sgt)
        })
    }

    /// `dma_buf_invalidate_mappings()`.
    pub fn dma_buf_invalidate_mappings(&self, buf: BufId) {
        self.core_call(buf, Call::DmaBufInvalidateMappings { buf }, |c| {
            c.dma_buf_invalidate_mappings(self, buf)
        })
    }

    /// `dma_buf_vmap()`.
    pub fn dma_buf_vmap(&self, buf: BufId) -> Result<(), Errno> {
        self.core_call(buf, Call::DmaBufVmap { buf }, |c| c.dma_buf_vmap(self, buf))
    }

    /// `dma_buf_vunmap()`.
    pub fn dma_buf_vunmap(&self, buf: BufId) {
        self.core_call(buf, Call::DmaBufVunmap { buf }, |c| {
            c.dma_buf_vunmap(self, buf)
        })
    }

    /// `dma_buf_mmap()`.
    pub fn dma_buf_mmap(&self, buf: BufId) -> Result<(), Errno> {
        self.core_call(buf, Call::DmaBufMmap { buf }, |c| c.dma_buf_mmap(self, buf))
    }

    /// `dma_buf_put()` of the last reference.
    pub fn dma_buf_put(&self, buf: BufId) {
        let attachments = self.attachments_of(buf).len() as u32;
        let vmaps = self.vmap_count(buf);
        self.core_call(
            buf,
            Call::DmaBufPut {
                buf,
                attachments,
                vmaps,
            },
            |c| c.dma_buf_put(self, buf),
        )
    }
}

/// Which core plays the role: the reference unless a shim was installed.
pub(crate) fn default_core() -> Rc<dyn DmaBufCore> {
    Rc::new(ReferenceCore)
}
