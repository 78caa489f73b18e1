//! Op dispatch: the core calling into the exporter's `dma_buf_ops` and the importer's
//! `dma_buf_attach_ops`, each call traced to the driver that implements it.

#[allow(unused_imports)]
use super::*;

impl Kernel {
    /// Calls `ops.attach` if set.
    pub fn ops_attach(&self, att: AttId) -> Result<(), Errno> {
        let buf = self.attachment(att).buf;
        if !self.exporter(buf).table().attach {
            return Ok(());
        }
        let e = self.exporter(buf);
        self.traced(buf, Actor::Exporter(buf), Call::OpsAttach { att }, || {
            e.attach(self, att)
        })
    }

    /// Calls `ops.detach` if set.
    pub fn ops_detach(&self, att: AttId) {
        let buf = self.attachment(att).buf;
        let e = self.exporter(buf);
        if e.table().detach {
            self.traced(buf, Actor::Exporter(buf), Call::OpsDetach { att }, || {
                e.detach(self, att)
            });
        }
    }

    /// Calls `ops.pin` (the caller checked it is set).
    pub fn ops_pin(&self, att: AttId) -> Result<(), Errno> {
        let buf = self.attachment(att).buf;
        let e = self.exporter(buf);
        self.traced(buf, Actor::Exporter(buf), Call::OpsPin { att }, || {
            e.pin(self, att)
        })
    }

    /// Calls `ops.unpin` (the caller checked it is set).
    pub fn ops_unpin(&self, att: AttId) {
        let buf = self.attachment(att).buf;
        let e = self.exporter(buf);
        self.traced(buf, Actor::Exporter(buf), Call::OpsUnpin { att }, || {
            e.unpin(self, att)
        })
    }

    /// Calls `ops.map_dma_buf`.
    pub fn ops_map_dma_buf(&self, att: AttId) -> Result<SgtId, Errno> {
        let buf = self.attachment(att).buf;
        let e = self.exporter(buf);
        self.traced(
            buf,
            Actor::Exporter(buf),
            Call::OpsMapDmaBuf { att },
            || e.map_dma_buf(self, att),
        )
    }

    /// Calls `ops.unmap_dma_buf`; the mapping is gone afterwards.
    pub fn ops_unmap_dma_buf(&self, att: AttId, sgt: SgtId) {
        let buf = self.attachment(att).buf;
        let e = self.exporter(buf);
        self.traced(
            buf,
            Actor::Exporter(buf),
            Call::OpsUnmapDmaBuf { att, sgt },
            || e.unmap_dma_buf(self, att, sgt),
        );
        if let Some(s) = self.st.borrow_mut().sgts.get_mut(&sgt) {
            s.unmapped = true;
        }
    }

    /// Calls `ops.vmap` if set, else `-EINVAL`.
    pub fn ops_vmap(&self, buf: BufId) -> Result<(), Errno> {
        let e = self.exporter(buf);
        if !e.table().vmap {
            return Err(Errno::EINVAL);
        }
        self.traced(buf, Actor::Exporter(buf), Call::OpsVmap { buf }, || {
            e.vmap(self)
        })
    }

    /// Calls `ops.vunmap` if set.
    pub fn ops_vunmap(&self, buf: BufId) {
        let e = self.exporter(buf);
        if e.table().vunmap {
            self.traced(buf, Actor::Exporter(buf), Call::OpsVunmap { buf }, || {
                e.vunmap(self)
            });
        }
    }

    /// Calls `ops.mmap` if set, else `-EINVAL`.
    pub fn ops_mmap(&self, buf: BufId) -> Result<(), Errno> {
        let e = self.exporter(buf);
        if !e.table().mmap {
            return Err(Errno::EINVAL);
        }
        self.traced(buf, Actor::Exporter(buf), Call::OpsMmap { buf }, || {
            e.mmap(self)
        })
    }

    /// Calls `ops.release`.
    pub fn ops_release(&self, buf: BufId) {
        let e = self.exporter(buf);
        self.traced(buf, Actor::Exporter(buf), Call::OpsRelease { buf }, || {
            e.release(self)
        });
    }

    /// Calls the importer's `invalidate_mappings`; its current mappings become invalidated as
    /// the callback is called. Another thread that runs at the entry point, before the call,
    /// still uses a valid mapping: the importer has not been told yet.
    pub fn importer_invalidate_mappings(&self, att: AttId) {
        let buf = self.attachment(att).buf;
        let ops = self.importers.borrow()[&att].clone();
        self.sched_point(SchedPoint::CallbackEntry { buf, att });
        {
            let mut st = self.st.borrow_mut();
            for s in st.sgts.values_mut().filter(|s| s.att == att && !s.unmapped) {
                s.invalidated = true;
            }
        }
        self.traced(
            buf,
            Actor::Importer(att),
            Call::InvalidateMappings { att },
            || ops.invalidate_mappings(self, att),
        );
        self.sched_point(SchedPoint::CallbackExit { buf, att });
    }
}
