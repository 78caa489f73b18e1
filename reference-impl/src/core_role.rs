//! The core role: [`DmaBufCore`] (generated from the kernel API's list in `api.rs`) is what
//! drivers call (`dma_buf_attach()`, `dma_buf_map_attachment()`...). [`ReferenceCore`]'s
//! methods are the book's code; the [`Kernel`] dispatchers below record every call in the
//! trace and forward it to whichever core plays the role, so a core shim is traced exactly
//! like the reference.

use std::rc::Rc;

use crate::api::DmaBufCore;
use crate::{Actor, AttId, BufId, Call, Errno, Kernel, SgtId};

/// The reference core: `drivers/dma-buf/dma-buf.c` as merged for Linux 7.1. Its methods are
/// written in the book's chapters.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReferenceCore;

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
