//! The harness's stand-ins for a shim process's exporter or importer: each op or action is a
//! `call` on the wire, and what comes back is checked against the op's return type.

use std::cell::OnceCell;
use std::rc::Rc;

use reference_impl::{
    AttId, BufId, DmaBufAttachOps, DmaBufOps, DmaResvUsage, Errno, Exporter, Importer, Kernel,
    OpsTable, SgtId,
};
use serde_json::Value;
use shim_protocol::api::{DecodeError, bool_of, int_of, sgt_of, void_of};
use shim_protocol::driver::table_of;
use shim_protocol::{ExporterCall, ImporterCall, ShimCall};

use super::session::Session;

fn checked<T, E: std::fmt::Display>(s: &Session, what: &str, r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| s.violation(format!("`{what}` returned a bad value: {e}")))
}

/// An exporter in a shim process.
pub(crate) struct RemoteExporter {
    s: Rc<Session>,
    buf: BufId,
    table: OnceCell<OpsTable>,
}

impl RemoteExporter {
    pub(crate) fn new(s: Rc<Session>, buf: BufId) -> Self {
        RemoteExporter {
            s,
            buf,
            table: OnceCell::new(),
        }
    }

    fn call(&self, k: &Kernel, c: ExporterCall) -> Value {
        self.ensure_new();
        self.s.call(Some(k), ShimCall::Exporter(c))
    }

    fn void(&self, k: &Kernel, what: &str, c: ExporterCall) {
        let v = self.call(k, c);
        checked(&self.s, what, void_of(&v))
    }

    fn int(&self, k: &Kernel, what: &str, c: ExporterCall) -> Result<(), Errno> {
        let v = self.call(k, c);
        checked(&self.s, what, int_of(&v))
    }

    /// `new` on first use: the shim creates its instance and reports its ops table.
    fn ensure_new(&self) -> OpsTable {
        *self.table.get_or_init(|| {
            let v = self.s.call(
                None,
                ShimCall::Exporter(ExporterCall::New { buf: self.buf }),
            );
            let names: Result<Vec<String>, String> = serde_json::from_value(v.clone())
                .map_err(|_| format!("expected a list of op names, got {v}"));
            let table = names.and_then(|n| table_of(&n));
            checked(&self.s, "new", table)
        })
    }
}

impl DmaBufOps for RemoteExporter {
    fn table(&self) -> OpsTable {
        self.ensure_new()
    }
    fn attach(&self, k: &Kernel, att: AttId) -> Result<(), Errno> {
        self.int(k, "attach", ExporterCall::Attach { buf: self.buf, att })
    }
    fn detach(&self, k: &Kernel, att: AttId) {
        self.void(k, "detach", ExporterCall::Detach { buf: self.buf, att })
    }
    fn pin(&self, k: &Kernel, att: AttId) -> Result<(), Errno> {
        self.int(k, "pin", ExporterCall::Pin { buf: self.buf, att })
    }
    fn unpin(&self, k: &Kernel, att: AttId) {
        self.void(k, "unpin", ExporterCall::Unpin { buf: self.buf, att })
    }
    fn map_dma_buf(&self, k: &Kernel, att: AttId) -> Result<SgtId, Errno> {
        let v = self.call(k, ExporterCall::MapDmaBuf { buf: self.buf, att });
        checked(
            &self.s,
            "map_dma_buf",
            sgt_of(&v, |s| k.harness().knows_sgt(s)),
        )
    }
    fn unmap_dma_buf(&self, k: &Kernel, att: AttId, sgt: SgtId) {
        self.void(
            k,
            "unmap_dma_buf",
            ExporterCall::UnmapDmaBuf {
                buf: self.buf,
                att,
                sgt,
            },
        )
    }
    fn vmap(&self, k: &Kernel) -> Result<(), Errno> {
        self.int(k, "vmap", ExporterCall::Vmap { buf: self.buf })
    }
    fn vunmap(&self, k: &Kernel) {
        self.void(k, "vunmap", ExporterCall::Vunmap { buf: self.buf })
    }
    fn mmap(&self, k: &Kernel) -> Result<(), Errno> {
        self.int(k, "mmap", ExporterCall::Mmap { buf: self.buf })
    }
    fn release(&self, k: &Kernel) {
        self.void(k, "release", ExporterCall::Release { buf: self.buf })
    }
}

impl Exporter for RemoteExporter {
    fn buf(&self) -> BufId {
        self.buf
    }
    fn export(&self, k: &Kernel) -> Result<(), Errno> {
        self.int(k, "export", ExporterCall::Export { buf: self.buf })
    }
    fn revoke(&self, k: &Kernel) {
        self.void(k, "revoke", ExporterCall::Revoke { buf: self.buf })
    }
    fn restore(&self, k: &Kernel) {
        self.void(k, "restore", ExporterCall::Restore { buf: self.buf })
    }
    fn move_buffer(&self, k: &Kernel) {
        self.void(k, "move_buffer", ExporterCall::MoveBuffer { buf: self.buf })
    }
    fn reclaim(&self, k: &Kernel) {
        self.void(k, "reclaim", ExporterCall::Reclaim { buf: self.buf })
    }
    fn add_own_fence(&self, k: &Kernel, usage: DmaResvUsage, completes: bool) {
        self.void(
            k,
            "add_own_fence",
            ExporterCall::AddOwnFence {
                buf: self.buf,
                usage,
                completes,
            },
        )
    }
    fn put(&self, k: &Kernel) {
        self.void(k, "put", ExporterCall::Put { buf: self.buf })
    }
}

/// An importer in a shim process.
pub(crate) struct RemoteImporter {
    s: Rc<Session>,
    att: AttId,
    /// `(allow_peer2peer, invalidate_mappings set)`, from the `new` reply.
    ops: OnceCell<(bool, bool)>,
}

impl RemoteImporter {
    pub(crate) fn new(s: Rc<Session>, att: AttId) -> Self {
        RemoteImporter {
            s,
            att,
            ops: OnceCell::new(),
        }
    }

    fn ensure_new(&self) -> (bool, bool) {
        *self.ops.get_or_init(|| {
            let v = self.s.call(
                None,
                ShimCall::Importer(ImporterCall::New { att: self.att }),
            );
            let field = |name: &str| {
                v.get(name)
                    .ok_or_else(|| DecodeError::MissingField {
                        field: name.to_string(),
                        got: v.clone(),
                    })
                    .and_then(bool_of)
            };
            let ops = field("allow_peer2peer").and_then(|p| Ok((p, field("invalidate_mappings")?)));
            checked(&self.s, "new", ops)
        })
    }

    fn void(&self, k: &Kernel, what: &str, c: ImporterCall) {
        self.ensure_new();
        let v = self.s.call(Some(k), ShimCall::Importer(c));
        checked(&self.s, what, void_of(&v))
    }

    fn int(&self, k: &Kernel, what: &str, c: ImporterCall) -> Result<(), Errno> {
        self.ensure_new();
        let v = self.s.call(Some(k), ShimCall::Importer(c));
        checked(&self.s, what, int_of(&v))
    }
}

impl DmaBufAttachOps for RemoteImporter {
    fn allow_peer2peer(&self) -> bool {
        self.ensure_new().0
    }
    fn has_invalidate_mappings(&self) -> bool {
        self.ensure_new().1
    }
    fn invalidate_mappings(&self, k: &Kernel, _att: AttId) {
        self.void(
            k,
            "invalidate_mappings",
            ImporterCall::InvalidateMappings { att: self.att },
        )
    }
}

impl Importer for RemoteImporter {
    fn att(&self) -> AttId {
        self.att
    }
    fn attach(&self, k: &Kernel, buf: BufId) -> Result<(), Errno> {
        self.int(k, "attach", ImporterCall::Attach { att: self.att, buf })
    }
    fn map(&self, k: &Kernel) -> Result<(), Errno> {
        self.int(k, "map", ImporterCall::Map { att: self.att })
    }
    fn access(&self, k: &Kernel, write: bool) {
        self.void(
            k,
            "access",
            ImporterCall::Access {
                att: self.att,
                write,
            },
        )
    }
    fn submit(&self, k: &Kernel, write: bool) {
        self.void(
            k,
            "submit",
            ImporterCall::Submit {
                att: self.att,
                write,
            },
        )
    }
    fn unmap(&self, k: &Kernel) {
        self.void(k, "unmap", ImporterCall::Unmap { att: self.att })
    }
    fn detach(&self, k: &Kernel) {
        self.void(k, "detach", ImporterCall::Detach { att: self.att })
    }
    fn vmap(&self, k: &Kernel) {
        self.void(k, "vmap", ImporterCall::Vmap { att: self.att })
    }
    fn vmap_hold(&self, k: &Kernel) {
        self.void(k, "vmap_hold", ImporterCall::VmapHold { att: self.att })
    }
    fn vunmap(&self, k: &Kernel) {
        self.void(k, "vunmap", ImporterCall::Vunmap { att: self.att })
    }
}
