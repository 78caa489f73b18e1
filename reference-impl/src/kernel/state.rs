//! The core's state: buffers, attachments and the mappings and pins they hold, as
//! `struct dma_buf` and `struct dma_buf_attachment` keep them.

#[allow(unused_imports)]
use super::*;

impl Kernel {
    /// The exporter's ops table for `buf`.
    pub fn exporter_table(&self, buf: BufId) -> Option<OpsTable> {
        self.exporters.borrow().get(&buf).map(|e| e.table())
    }

    pub(super) fn exporter(&self, buf: BufId) -> Rc<dyn DmaBufOps> {
        self.exporters.borrow()[&buf].clone()
    }

    /// Whether `buf` names a buffer the model knows (exporter registered or state created).
    pub(crate) fn knows_buf(&self, buf: BufId) -> bool {
        self.exporters.borrow().contains_key(&buf) || self.st.borrow().bufs.contains_key(&buf)
    }

    /// Whether `att` names an attachment object the core created.
    pub(crate) fn knows_att(&self, att: AttId) -> bool {
        self.st.borrow().atts.contains_key(&att)
    }

    /// Whether `sgt` names a mapping the model handed out.
    pub(crate) fn knows_sgt(&self, sgt: SgtId) -> bool {
        self.st.borrow().sgts.contains_key(&sgt)
    }

    /// Whether `fence` names a fence the model created.
    pub(crate) fn knows_fence(&self, fence: FenceId) -> bool {
        self.st.borrow().fences.contains_key(&fence)
    }

    /// Marks `buf` exported (the `struct dma_buf` exists).
    pub fn set_exported(&self, buf: BufId) {
        self.st.borrow_mut().bufs.entry(buf).or_default().exported = true;
    }

    /// Whether `buf` was exported and not yet released.
    pub fn is_live(&self, buf: BufId) -> bool {
        self.st
            .borrow()
            .bufs
            .get(&buf)
            .is_some_and(|b| b.exported && !b.released)
    }

    /// Creates the attachment object (`kzalloc` + fields), not yet linked to the buffer.
    /// A dynamic attachment takes its importer ops from the registered importer.
    pub fn new_attachment(&self, buf: BufId, att: AttId, dynamic: bool) -> Attachment {
        let (peer2peer, invalidate_mappings) = match (dynamic, self.importers.borrow().get(&att)) {
            (true, Some(ops)) => (ops.allow_peer2peer(), ops.has_invalidate_mappings()),
            _ => (false, false),
        };
        let info = Attachment {
            buf,
            dynamic,
            peer2peer,
            invalidate_mappings,
        };
        self.st.borrow_mut().atts.insert(
            att,
            AttState {
                info,
                linked: false,
                pins: 0,
                mappings: 0,
            },
        );
        info
    }

    /// `importer_ops->allow_peer2peer` of the importer registered for `att`.
    pub(crate) fn importer_allows_peer2peer(&self, att: AttId) -> bool {
        self.importers
            .borrow()
            .get(&att)
            .is_some_and(|o| o.allow_peer2peer())
    }

    /// `importer_ops->invalidate_mappings != NULL` for the importer registered for `att`.
    pub(crate) fn importer_has_invalidate_mappings(&self, att: AttId) -> bool {
        self.importers
            .borrow()
            .get(&att)
            .is_some_and(|o| o.has_invalidate_mappings())
    }

    /// The attachment as the core sees it.
    pub fn attachment(&self, att: AttId) -> Attachment {
        self.st.borrow().atts[&att].info
    }

    /// `attach->peer2peer = value` (an exporter's attach op may clear it).
    pub fn set_peer2peer(&self, att: AttId, value: bool) {
        if let Some(a) = self.st.borrow_mut().atts.get_mut(&att) {
            a.info.peer2peer = value;
        }
    }

    /// `list_add(&attach->node, &dmabuf->attachments)`.
    pub fn link_attachment(&self, att: AttId) {
        let buf = self.st.borrow().atts[&att].info.buf;
        {
            let mut st = self.st.borrow_mut();
            st.atts.get_mut(&att).expect("attachment").linked = true;
            st.bufs.entry(buf).or_default().attachments.push(att);
        }
        self.sched_point(SchedPoint::Linked { buf, att });
    }

    /// `list_del(&attach->node)`.
    pub fn unlink_attachment(&self, att: AttId) {
        let mut st = self.st.borrow_mut();
        let buf = st.atts[&att].info.buf;
        if let Some(a) = st.atts.get_mut(&att) {
            a.linked = false;
        }
        if let Some(b) = st.bufs.get_mut(&buf) {
            b.attachments.retain(|x| *x != att);
        }
    }

    /// `dmabuf->attachments`, in the order they were linked.
    pub fn attachments_of(&self, buf: BufId) -> Vec<AttId> {
        self.st
            .borrow()
            .bufs
            .get(&buf)
            .map(|b| b.attachments.clone())
            .unwrap_or_default()
    }

    /// Pins and mappings the importer of `att` still holds (observed from its calls).
    pub fn held_by(&self, att: AttId) -> (u32, u32) {
        let st = self.st.borrow();
        let a = &st.atts[&att];
        (a.pins.max(0) as u32, a.mappings.max(0) as u32)
    }

    /// `dmabuf->vmapping_counter`.
    pub fn vmap_count(&self, buf: BufId) -> u32 {
        self.st
            .borrow()
            .bufs
            .get(&buf)
            .map(|b| b.vmaps)
            .unwrap_or(0)
    }

    /// Adjusts `dmabuf->vmapping_counter`.
    pub fn add_vmap_count(&self, buf: BufId, delta: i32) {
        let mut st = self.st.borrow_mut();
        let b = st.bufs.entry(buf).or_default();
        b.vmaps = b.vmaps.saturating_add_signed(delta);
    }

    /// Marks `buf` released: its memory may be freed.
    pub fn set_released(&self, buf: BufId) {
        self.st.borrow_mut().bufs.entry(buf).or_default().released = true;
    }
}
